/* daemon.h: the lock daemon.
 *
 * One GMainLoop thread owns everything: the listening socket, every
 * connection, the locker.  A lock lives as long as its connection. */
#ifndef LATCH_DAEMON_DAEMON_H
#define LATCH_DAEMON_DAEMON_H

#include <glib.h>

#include "settings/settings.h"
#include "tls/tls.h"

G_BEGIN_DECLS

/* How long a new connection may take to send its first message, and an
 * idle connection (no lock held, none asked for) may stay. */
#define LATCH_DAEMON_FIRST_MESSAGE_MS 10000
#define LATCH_DAEMON_IDLE_CONN_MS 30000

typedef struct
{
  /* Every setting the daemon uses, in the one representation
   * (settings/settings.h): [Daemon] (socket, lifespan, idle lifespans,
   * limits), [Network] (addresses, ports, interface, TTL, keepalive) and
   * [TLS].  Borrowed: it must outlive latch_daemon_run ().
   * Network: with a unicast address the daemon listens on TCP there
   * only; with a multicast group it also answers discovery, and without
   * a unicast address listens on this host's address toward the group
   * (an ephemeral port), never on every interface. */
  const LatchConfig *settings;
  int ready_fd;            /* -1, or where to report "ok" / "busy" / "error: ..." */
  /* The local agent (latchd --agent): listens on settings->socket_name
   * only (private: this user's commands), in clear text, and treats the
   * unicast address and port as its upstream daemon, reached over one
   * session at the [TLS] group's level as a client would (the upstream
   * lock-table backend); no TCP listener, no discovery. */
  gboolean agent;
} LatchDaemonConfig;

/* Exit statuses of latchd, also reported on the ready fd. */
typedef enum
{
  LATCH_DAEMON_EXIT_OK = 0,
  LATCH_DAEMON_EXIT_ERROR = 1,  /* could not start: see the message */
  LATCH_DAEMON_EXIT_BUSY = 2,   /* another daemon holds the lock file */
} LatchDaemonExit;

/* Sets up the listener and runs until shutdown or idle exit.  A start-up
 * failure (LATCH_DAEMON_EXIT_BUSY or _ERROR) sets start_error, whose
 * message is one line naming the fix; it is also reported on the ready
 * fd, if any. */
LatchDaemonExit latch_daemon_run (const LatchDaemonConfig *config, GError **start_error);

G_END_DECLS

#endif
