/* autostart.h: starting a daemon in the background.
 *
 * The daemon is the latchd program: $LATCH_DAEMON if set, else the
 * installed one (LATCH_DAEMON_PATH).  It is double-forked into its own
 * session, with /dev/null as stdin/stdout/stderr and "/" as its directory,
 * and reports through a pipe whether it is listening. */
#ifndef LATCH_CLIENT_AUTOSTART_H
#define LATCH_CLIENT_AUTOSTART_H

#include <glib.h>

#include "latch.h"
#include "net/tcp.h"
#include "tls/tls.h"

G_BEGIN_DECLS

typedef struct
{
  const char *socket_name;       /* -s, or NULL for the private default */
  int lifespan;                  /* -d */
  int idle_lifespan_min;         /* --idle-lifespan-min */
  const char *trace_file;        /* -t, or NULL */
  gboolean append_trace_file;
  gboolean verbose;
  const char *unicast_address;   /* -a, or NULL */
  int unicast_port;
  const char *multicast_address; /* -A, or NULL */
  int multicast_port;
  const char *network_interface; /* -n, or NULL */
  int discovery_ttl;
  LatchKeepalive keepalive;
  LatchTlsSettings tls;          /* passed on as they are (transfer none) */
  char **extra_args;             /* appended as they are; may be NULL (transfer none) */
} LatchSpawnArgs;

/* Internal to latch (not exported by liblatch): arguments a daemon that
 * h starts gets after those its settings make (latch passes every daemon
 * setting it has that differs from the default).  args is copied. */
void latch_client_set_daemon_args (LatchHandle *h, char *const *args);

typedef enum
{
  LATCH_SPAWN_STARTED, /* listening now */
  LATCH_SPAWN_BUSY,    /* another daemon holds the lock file (starting or quiescing) */
  LATCH_SPAWN_NOT_LOCAL, /* the unicast address is not on this host (error says so) */
  LATCH_SPAWN_FAILED,  /* error says why */
} LatchSpawnResult;

LatchSpawnResult latch_autostart_spawn (const LatchSpawnArgs *args, GError **error);

G_END_DECLS

#endif
