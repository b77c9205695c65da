/* discovery.h: finding a daemon by UDP multicast (FLoM's discovery).
 *
 * A client sends the discover message (4/8) to GROUP:PORT up to
 * `attempts` times, waiting `timeout_ms` for an answer each time; the
 * first answer (4/16 <network address="A" port="P"/>) wins: the daemon is
 * at A:P, or, when A is empty, at the datagram's source address and P.
 *
 * A daemon answers discover messages on GROUP:PORT.  Anything else that
 * arrives there (junk, another level, another verb) is ignored with a log
 * line: it never stops discovery nor the daemon (FLoM: one junk datagram
 * does).  Answers are rate-limited so the daemon cannot be used to flood.
 *
 * IPv4 and IPv6 alike.  Without an interface (-n IFACE) the group is
 * sent to and joined on the interface the kernel routes it by (its
 * default multicast interface), as in FLoM, for IPv6 interface-local
 * (ff01::/16) and link-local (ff02::/16) groups too; where the kernel
 * has none, or it has no address, the error says so and asks for -n.
 * TTL / hop limit from --discovery-ttl. */
#ifndef LATCH_NET_DISCOVERY_H
#define LATCH_NET_DISCOVERY_H

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  const char *group;     /* multicast address, IPv4 or IPv6 (numeric or name) */
  int port;              /* UDP port */
  const char *iface;     /* -n: interface name, NULL for the default */
  int ttl;               /* multicast TTL / hop limit, >= 1 */
} LatchDiscoveryGroup;

/* ---- client ---- */

/* Blocking.  On success *address_out (transfer full; numeric, with
 * "%iface" scope for link-local IPv6) and *port_out say where the daemon
 * listens.  LATCH_ERROR_NO_DAEMON when nobody answered. */
gboolean latch_discovery_find (const LatchDiscoveryGroup *group, int attempts,
                               int timeout_ms, char **address_out,
                               int *port_out, GError **error);

/* ---- daemon ---- */

typedef struct _LatchDiscoveryServer LatchDiscoveryServer;

/* Binds GROUP's port on the wildcard address of the group's family, joins
 * the group (on iface, or the default interface) and answers on the
 * default GMainContext.  answer_address may be "" (clients then use the
 * datagram's source address).  Errors name the group and what failed. */
LatchDiscoveryServer *latch_discovery_server_new (const LatchDiscoveryGroup *group,
                                                  const char *answer_address,
                                                  int answer_port,
                                                  GError **error);
void latch_discovery_server_free (LatchDiscoveryServer *server);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LatchDiscoveryServer, latch_discovery_server_free)

/* Counters, for logs and tests. */
guint latch_discovery_server_n_answered (const LatchDiscoveryServer *server);
guint latch_discovery_server_n_ignored (const LatchDiscoveryServer *server);

/* The address of this host that traffic to the group leaves from (the
 * interface iface, or the route to the group), numeric (transfer full),
 * so that a daemon started for discovery listens there and not on every
 * interface.  An error explains why none could be found (no route to the
 * group, interface without an address of that family). */
char *latch_discovery_local_address (const LatchDiscoveryGroup *group,
                                     GError **error);

G_END_DECLS

#endif
