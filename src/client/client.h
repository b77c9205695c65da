/* client.h: what the latch command uses of liblatch beyond latch.h.
 *
 * Internal to latch: not exported by liblatch (its symbols match no
 * pattern of liblatch's export list). */
#ifndef LATCH_CLIENT_CLIENT_H
#define LATCH_CLIENT_CLIENT_H

#include <glib.h>

#include "latch.h"
#include "settings/settings.h"

G_BEGIN_DECLS

/* The handle takes every setting of config (copied), as the setters
 * would one by one, also those liblatch has no setter for (the daemon's
 * limits): a daemon h starts gets every daemon setting that differs from
 * its default.  config has passed latch_config_validate ().  Fails like
 * the setters (LATCH_RC_API_IMMUTABLE_HANDLE while locked,
 * LATCH_RC_INVALID_RESOURCE_NAME), and then h is unchanged. */
int latch_client_set_config (LatchHandle *h, const LatchConfig *config);

/* client-status.c: asks the daemon h's settings name about its lock
 * table (doc/protocol.md, "Status"): sends <status what resource port
 * id/> (resource NULL, port 0, id 0: not sent) on a connection of its
 * own, straight to that daemon at the configured security level (never
 * through the agent: latch_set_agent () does not apply), and collects the
 * lines of its answers until the final one, within h's resource timeout
 * when it is positive, else 5 s.  Never starts a daemon: none running
 * is LATCH_ERROR_NO_DAEMON, its message "no daemon is running at
 * WHERE".  On success *lines_out (transfer full, of strings) holds the
 * lines, *rc_out the final answer's rc (0 ok, 1 nothing to say, 2
 * refused) and *reason_out its reason (transfer full, NULL when none).
 * A daemon that closes without an answer (a FLoM daemon) is an error
 * that says so.  h holds no lock and has no connection open; h's error
 * text may change. */
gboolean latch_client_status (LatchHandle *h, const char *what, const char *resource, int port,
                              guint64 id, GPtrArray **lines_out, int *rc_out, char **reason_out,
                              GError **error);

/* What identifies h's queued request to its daemon in a status "wait"
 * query, read in latch_lock ()'s wait callback: the local port of the
 * request's connection when it is TCP (0 otherwise: a local daemon knows
 * us by our pid) and its session lock id (0 on a connection without
 * sessions). */
void latch_client_wait_target (const LatchHandle *h, int *port_out, guint64 *id_out);

G_END_DECLS

#endif
