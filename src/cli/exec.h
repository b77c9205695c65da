/* exec.h: running the command while the lock is held, and latch's signals.
 *
 * latch_exec_init() runs before latch asks for the lock.  It records the
 * signal dispositions latch started with (the command gets them back) and,
 * while latch waits for the lock, makes
 *   SIGHUP SIGINT SIGQUIT SIGTERM SIGALRM  end latch by that signal, with
 *       no core file: nothing is held yet, and the daemon drops the request
 *       when the connection closes;
 *   SIGUSR1 SIGUSR2  do nothing: they are meant for a command that does
 *       not run yet (by default they would kill latch);
 * SIGWINCH and SIGCONT keep their harmless default actions.
 *
 * The command runs in its own process group (given the terminal when
 * latch has it).  SIGHUP SIGINT SIGQUIT SIGTERM SIGALRM SIGUSR1 SIGUSR2
 * SIGWINCH SIGCONT received by latch are forwarded to that group, so the
 * lock is released only after the command has gone.  Signals in
 * ignored_signals are ignored instead (FLoM's --ignore-signal, which
 * applies while the command runs), and so are those that were ignored when
 * latch started (the command inherits that).  If lock_fd becomes readable,
 * the daemon is gone and so is the lock: the command's group gets SIGTERM,
 * then SIGKILL after kill_grace_ms.
 *
 * The command inherits lock_fd (the lock's connection), as a descriptor
 * above 2, like the open file flock(1) hands down: if latch itself is
 * killed (SIGKILL cannot be caught), the daemon sees the connection end,
 * and so releases the lock, only when the last process of the command's
 * tree that kept it open has gone.  latch's own unlock shuts the
 * connection down for every holder of the descriptor.
 *
 * When the command was killed by signal N, the caller releases the lock
 * and then calls latch_exec_die_by_signal (N): a shell must see latch die
 * of that signal, not exit 128 + N, or a loop goes on after Ctrl-C. */
#ifndef LATCH_CLI_EXEC_H
#define LATCH_CLI_EXEC_H

#include <glib.h>

#include <sys/types.h>

G_BEGIN_DECLS

typedef struct
{
  char **argv;              /* argv[0] is looked up in PATH */
  char **envp;              /* the command's whole environment */
  guint32 ignored_signals;  /* bit N: signal N */
  int lock_fd;              /* -1: no lock to watch (nor to hand down) */
  int kill_grace_ms;        /* SIGTERM to SIGKILL once the lock is lost; <= 0: at once */
} LatchRunSpec;

typedef enum
{
  LATCH_RUN_EXITED,    /* *status_out says how the command ended */
  LATCH_RUN_LOCK_LOST, /* the command was stopped because the lock was lost */
  LATCH_RUN_FAILED,    /* could not execute: error says why */
  LATCH_RUN_ERROR,     /* latch could no longer watch the command (poll()
                        * failed): the command's group was killed with
                        * SIGKILL and the command reaped; error says why */
} LatchRunResult;

typedef struct
{
  int exit_status; /* the command's exit status, or 128 + term_signal */
  int term_signal; /* N when signal N killed the command, else 0 */
} LatchRunStatus;

/* Idempotent; latch_exec_shutdown() restores what latch started with. */
void latch_exec_init (void);
void latch_exec_shutdown (void);

LatchRunResult latch_exec_run (const LatchRunSpec *spec,
                               LatchRunStatus *status_out, GError **error);

/* Ends the process by signo as if latch had not caught it: default action,
 * unblocked, no core file (latch did not crash; with PR_SET_DUMPABLE off
 * not even a core_pattern pipe gets one).  Exits 128 + signo if that
 * signal does not end a process.  Async-signal-safe. */
void latch_exec_die_by_signal (int signo) G_GNUC_NORETURN;

/* latch_exec_run() in steps, so that a test can hand the wait loop a
 * poll() failure that cannot be provoked from outside:
 *   run = latch_exec_start (spec, error);        NULL: LATCH_RUN_FAILED
 *   while (latch_exec_handle_poll (run, rc, errno, revents)) poll again;
 *   result = latch_exec_finish (run, status_out, error);
 * poll_rc and poll_errno are what poll() returned and left in errno,
 * lock_revents its revents for lock_fd.  handle_poll returns FALSE once
 * the command is gone.  finish frees run. */
typedef struct _LatchRun LatchRun;

LatchRun *latch_exec_start (const LatchRunSpec *spec, GError **error);
gboolean latch_exec_handle_poll (LatchRun *run, int poll_rc, int poll_errno,
                                 short lock_revents);
LatchRunResult latch_exec_finish (LatchRun *run, LatchRunStatus *status_out,
                                  GError **error);
pid_t latch_exec_get_pid (const LatchRun *run); /* the command's, = its group */

G_END_DECLS

#endif
