/* debug-tools.h: the diagnostics behind latch --debug-feature.
 *
 * latch-debug is run by `latch --debug-feature=NAME ...` with the same
 * arguments.  Each feature reads the effective configuration exactly as
 * the latch command and the daemon do (settings/settings.h), uses the real TLS
 * code (tls/tls.h, the module table latchd uses) and prints, step by step,
 * what it found.  Exit status, FLoM's convention: 0 success, 1 any
 * failure. */
#ifndef LATCH_DEBUG_TOOLS_H
#define LATCH_DEBUG_TOOLS_H

#include <glib.h>

#include "settings/settings.h"

G_BEGIN_DECLS

/* How long tls.server waits for its one client. */
#define LATCH_DEBUG_ACCEPT_MS 30000
/* How long either side waits for the other's messages after the
 * handshake, and ipv6.multicast.* for a datagram. */
#define LATCH_DEBUG_EXCHANGE_MS 5000
#define LATCH_DEBUG_DATAGRAM_MS 10000

/* tls.server (server TRUE) and tls.client: see tls-debug.c.  Returns the
 * exit status. */
int latch_debug_tls_run (const LatchConfig *config, gboolean server);

/* ipv6.multicast.server / .client: one datagram each way on
 * MulticastAddress:MulticastPort.  Returns the exit status. */
int latch_debug_mcast_run (const LatchConfig *config, gboolean server);

G_END_DECLS

#endif
