/* discovery-private.h: what the discovery client (discovery.c) and
 * server (discovery-server.c) share.  The split keeps the server, which
 * decodes with libxml2, out of the `latch` command. */
#ifndef LATCH_NET_DISCOVERY_PRIVATE_H
#define LATCH_NET_DISCOVERY_PRIVATE_H

#include "net/discovery.h"

#include <net/if.h>
#include <sys/socket.h>

G_BEGIN_DECLS

/* The group, resolved and checked. */
typedef struct
{
  struct sockaddr_storage addr; /* group:port; an interface- or link-local
                                 * group has ifindex as its scope */
  socklen_t len;
  int family;
  unsigned ifindex;         /* 0: the kernel's choice */
  char ifname[IF_NAMESIZE]; /* "" when ifindex is 0 */
  gboolean is_scoped;       /* IPv6 interface-local (ff01::/16) or
                             * link-local (ff02::/16) group */
} GroupAddr;

char * latch_discovery_group_label (const LatchDiscoveryGroup *group);
gboolean latch_discovery_is_multicast (const struct sockaddr *sa);
gboolean latch_discovery_resolve_group (const LatchDiscoveryGroup *group, GroupAddr *out, GError **error);
gboolean latch_discovery_set_opt (int fd, int level, int name, const void *value, socklen_t len, const char *what, GError **error);
int latch_discovery_open_udp_socket (int family, GError **error);
char * latch_discovery_numeric_host (const struct sockaddr *sa, socklen_t len);
char * latch_discovery_sockaddr_label (const struct sockaddr *sa, socklen_t len);
gboolean latch_discovery_is_unspecified (const struct sockaddr *sa);
/* Why sending to, joining or routing to g failed with errno err, and what
 * to do, as text to append to the error: ": ..." or "" (transfer full). */
char * latch_discovery_explain_errno (const GroupAddr *g, int err);

/* The fuzz target's way into the server (tests/fuzz/fuzz-discovery.c);
 * the daemon uses latch_discovery_server_new().
 * A server answering on fd (transfer full: bound, and joined to its
 * group or not), watched on the default GMainContext; label names it in
 * log lines (transfer none). */
LatchDiscoveryServer * latch_discovery_server_new_for_fd (int fd, const char *label, const char *answer_address, int answer_port);
/* Handles one datagram of len bytes from src (srclen bytes) exactly as
 * one read from the socket is handled: ignored, or answered on the
 * server's socket. */
void latch_discovery_server_handle_datagram (LatchDiscoveryServer *server, const char *buf, gsize len, const struct sockaddr_storage *src, socklen_t srclen);

G_END_DECLS

#endif
