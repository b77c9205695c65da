/* tcp.h: TCP sockets for the daemon and its clients.
 *
 * A host is a name, an IPv4 or an IPv6 address.  With an interface
 * (-n IFACE) names resolve to IPv6 only and link-local addresses get that
 * interface as their scope, as FLoM does. */
#ifndef LATCH_NET_TCP_H
#define LATCH_NET_TCP_H

#include <glib.h>
#include <limits.h>
#include <sys/socket.h>

G_BEGIN_DECLS

typedef struct
{
  int time_s;   /* TCP_KEEPIDLE */
  int intvl_s;  /* TCP_KEEPINTVL */
  int probes;   /* TCP_KEEPCNT */
} LatchKeepalive;

typedef enum
{
  LATCH_TCP_OK,
  LATCH_TCP_REFUSED,      /* connect: every address refused; listen: address in use */
  LATCH_TCP_NOT_LOCAL,    /* listen: the address is not on this host */
  LATCH_TCP_FAILED,       /* error says why */
} LatchTcpResult;

/* Tries every address of host:port in order, each for at most
 * timeout_ms (-1: as long as the kernel tries); sets TCP_NODELAY and,
 * when keepalive is not NULL, keepalive.  *fd_out (blocking) on
 * LATCH_TCP_OK. */
LatchTcpResult latch_tcp_connect (const char *host, int port, const char *iface,
                                  const LatchKeepalive *keepalive, int timeout_ms,
                                  int *fd_out, GError **error);

/* The listen(2) backlog of every daemon socket: the system's maximum.
 * Linux caps a larger one at net.core.somaxconn silently, so a burst of
 * commands never waits for a SYN retransmission (1 s) behind a backlog
 * of our own choosing. */
#define LATCH_LISTEN_BACKLOG INT_MAX

/* Listens on the first address of host:port that binds (port 0: an
 * ephemeral one, reported in *port_out).  Non-blocking, close-on-exec,
 * SO_REUSEADDR; IPv6 sockets are IPv6-only, except on an IPv4-mapped
 * address (::ffff:127.0.0.1), which then takes the IPv4 connections to
 * its IPv4 address (127.0.0.1), as FLoM's listener does. */
LatchTcpResult latch_tcp_listen (const char *host, int port, const char *iface,
                                 int *fd_out, int *port_out, GError **error);

/* SO_KEEPALIVE with these parameters, on any TCP socket of either family. */
void latch_tcp_set_keepalive (int fd, const LatchKeepalive *keepalive);

/* "192.0.2.12:40000", "[2001:db8::12]:40000", "[fe80::1%eth0]:28015". */
char *latch_sockaddr_to_string (const struct sockaddr *sa, socklen_t len);

G_END_DECLS

#endif
