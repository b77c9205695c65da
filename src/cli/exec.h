/* exec.h: running the command while the lock is held.
 *
 * The command runs in its own process group (given the terminal when
 * latch has it).  SIGTERM, SIGINT, SIGHUP and SIGQUIT received by latch
 * are forwarded to that group, so the lock is released only after the
 * command has gone; signals in ignored_signals are ignored instead (FLoM's
 * --ignore-signal), and so are those that were ignored when latch started
 * (the command inherits that).  If lock_fd becomes readable, the daemon is gone and
 * so is the lock: the command gets SIGTERM, then SIGKILL after
 * LATCH_EXEC_KILL_GRACE_MS. */
#ifndef LATCH_CLI_EXEC_H
#define LATCH_CLI_EXEC_H

#include <glib.h>

G_BEGIN_DECLS

#define LATCH_EXEC_KILL_GRACE_MS 3000

typedef struct
{
  char **argv;              /* argv[0] is looked up in PATH */
  char **envp;              /* the command's whole environment */
  guint32 ignored_signals;  /* bit N: signal N */
  int lock_fd;              /* -1: no lock to watch */
} LatchRunSpec;

typedef enum
{
  LATCH_RUN_EXITED,    /* *status_out: exit status, or 128 + signal */
  LATCH_RUN_LOCK_LOST, /* the command was stopped because the lock was lost */
  LATCH_RUN_FAILED,    /* could not execute: error says why */
} LatchRunResult;

LatchRunResult latch_exec_run (const LatchRunSpec *spec, int *status_out,
                               GError **error);

G_END_DECLS

#endif
