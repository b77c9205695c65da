/* autostart.h: starting a daemon in the background.
 *
 * The daemon is the latchd program: $LATCH_DAEMON if set, else the
 * installed one (LATCH_DAEMON_PATH).  It is double-forked into its own
 * session, with /dev/null as stdin/stdout/stderr and "/" as its directory,
 * and reports through a pipe whether it is listening. */
#ifndef LATCH_CLIENT_AUTOSTART_H
#define LATCH_CLIENT_AUTOSTART_H

#include <glib.h>

#include "settings/settings.h"

G_BEGIN_DECLS

typedef enum
{
  LATCH_SPAWN_STARTED, /* listening now */
  LATCH_SPAWN_BUSY,    /* another daemon holds the lock file (starting or quiescing) */
  LATCH_SPAWN_NOT_LOCAL, /* the unicast address is not on this host (error says so) */
  LATCH_SPAWN_FAILED,  /* error says why */
} LatchSpawnResult;

/* The daemon's command line is --ready-fd and the daemon settings of
 * config that differ from their defaults (latch_config_daemon_args ()):
 * the daemon reads them back into the same settings. */
LatchSpawnResult latch_autostart_spawn (const LatchConfig *config, GError **error);

/* Does a lock request with config go through this host's agent (latchd
 * --agent)?  Agent on, a unicast or multicast address, and a daemon
 * lifespan that allows starting one (-d 0 connects directly). */
gboolean latch_autostart_uses_agent (const LatchConfig *config);

/* Starts the agent for the upstream daemon at host:port (given by -a, or
 * found by discovery): latchd --agent, with config's daemon settings,
 * listening on socket_path; its lifespan is config's unless that is
 * "forever" (then the default), its trace file (-t) config's + ".agent". */
LatchSpawnResult latch_autostart_spawn_agent (const LatchConfig *config, const char *host,
                                              int port, const char *socket_path,
                                              GError **error);

/* Today's network autostart, for the agent's upstream: when host is an
 * address of this host and nothing listens on port there, starts the TCP
 * daemon with config (as a command without the agent does).  Otherwise
 * (remote, or a daemon listens) nothing: LATCH_SPAWN_BUSY. */
LatchSpawnResult latch_autostart_network_fallback (const LatchConfig *config,
                                                   const char *host, int port,
                                                   GError **error);

G_END_DECLS

#endif
