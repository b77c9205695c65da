/* daemon-sd.h: libsystemd, loaded by latchd when it is needed.
 *
 * A daemon that a command starts serves that user's locks and never
 * talks to a service manager; linking libsystemd would map it and its
 * dependencies (libcap, libgcrypt, liblzma, libzstd, liblz4, ...) into
 * every such daemon, and every command that starts one waits for them.
 * So latchd opens libsystemd.so.0 on first use only: when the manager
 * passed a socket (LISTEN_PID, LISTEN_FDS), when NOTIFY_SOCKET is set,
 * or when the logs go to the journal.  The headers still give the
 * prototypes and constants (libsystemd-dev builds latch). */
#pragma once

#include <glib.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

/* The functions latchd uses, resolved from libsystemd.so.0. */
typedef struct
{
  __typeof__ (sd_notify) *notify;
  __typeof__ (sd_listen_fds) *listen_fds;
  __typeof__ (sd_is_socket_unix) *is_socket_unix;
  __typeof__ (sd_is_socket_inet) *is_socket_inet;
  __typeof__ (sd_journal_sendv) *journal_sendv;
} LatchSd;

/* Loads libsystemd once (transfer none; the library stays loaded for
 * the process's life).  NULL with an error naming libsystemd.so.0 and
 * the package to install when it cannot be loaded; every later call
 * says the same without trying again. */
const LatchSd *latch_sd_load (GError **error);

/* Whether the service manager passed this process sockets: LISTEN_PID
 * is our pid and LISTEN_FDS is set.  Reads the environment only. */
gboolean latch_sd_is_activated (void);

/* sd_listen_fds (unset_environment) when latch_sd_is_activated (),
 * else 0 without loading anything.  -1 with error when libsystemd is
 * needed and cannot be loaded; otherwise what sd_listen_fds returns. */
int latch_sd_listen_fds (gboolean unset_environment, GError **error);
