#include "config.h"

#include "cli/exec.h"

#include "common/error.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define N_SIGNALS 32

static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT };
static int signal_pipe_w = -1;

static void
on_signal (int signo)
{
  int saved = errno;
  unsigned char b = (unsigned char)signo;
  ssize_t ignored = write (signal_pipe_w, &b, 1);

  (void)ignored;
  errno = saved;
}

typedef struct
{
  struct sigaction old[N_SIGNALS];
  gboolean changed[N_SIGNALS];
  sigset_t old_mask;
} SignalState;

static void
set_action (SignalState *st, int signo, void (*handler) (int))
{
  struct sigaction sa = { 0 };

  sa.sa_handler = handler;
  sigemptyset (&sa.sa_mask);
  if (!st->changed[signo])
    sigaction (signo, &sa, &st->old[signo]);
  else
    sigaction (signo, &sa, NULL);
  st->changed[signo] = TRUE;
}

static void
restore_actions (SignalState *st)
{
  for (int i = 1; i < N_SIGNALS; i++)
    if (st->changed[i])
      sigaction (i, &st->old[i], NULL);
}

/* A signal ignored when latch started (nohup, a background job of a
 * script) stays ignored for the command too: latch does not forward it. */
static gboolean
ignored_on_entry (int signo)
{
  struct sigaction cur;

  return sigaction (signo, NULL, &cur) == 0 && cur.sa_handler == SIG_IGN;
}

static gboolean
is_forwarded (int signo, guint32 ignored)
{
  if (ignored & (1u << signo))
    return FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS (forwarded); i++)
    if (forwarded[i] == signo)
      return !ignored_on_entry (signo);
  return FALSE;
}

static void
send_to_group (pid_t pid, int signo)
{
  if (kill (-pid, signo) != 0)
    kill (pid, signo);
}

static int
decode_status (int status)
{
  if (WIFEXITED (status))
    return WEXITSTATUS (status);
  if (WIFSIGNALED (status))
    return 128 + WTERMSIG (status);
  return 1;
}

/* In the child, between fork and exec. */
static void G_GNUC_NORETURN
run_child (const LatchRunSpec *spec, SignalState *st, gboolean give_tty,
           pid_t parent, int exec_err_w)
{
  int err;

  setpgid (0, 0);
  /* If latch itself is killed (SIGKILL cannot be forwarded), its lock is
   * released at once: the command must not go on without it. */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
  if (getppid () != parent)
    _exit (128 + SIGKILL);
  if (give_tty)
    tcsetpgrp (STDIN_FILENO, getpid ()); /* SIGTTOU is ignored here */
  restore_actions (st);
  sigprocmask (SIG_SETMASK, &st->old_mask, NULL);
  execvpe (spec->argv[0], spec->argv, spec->envp);
  err = errno;
  if (write (exec_err_w, &err, sizeof err) < 0)
    _exit (127);
  _exit (127);
}

LatchRunResult
latch_exec_run (const LatchRunSpec *spec, int *status_out, GError **error)
{
  SignalState st = { 0 };
  sigset_t block;
  int sig_pipe[2], err_pipe[2];
  gboolean give_tty;
  gboolean lock_lost = FALSE;
  gint64 kill_deadline = -1;
  int status = 0;
  int exec_errno = 0;
  gboolean exec_failed = FALSE;
  pid_t parent, pid;
  ssize_t n;

  if (pipe2 (sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0 || pipe2 (err_pipe, O_CLOEXEC) != 0)
    {
      int saved = errno;
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_EXEC, "pipe: %s", g_strerror (saved));
      return LATCH_RUN_FAILED;
    }
  signal_pipe_w = sig_pipe[1];

  /* Handlers first, with the signals blocked until the child exists, so
   * that none is lost and none reaches a half-made child. */
  sigemptyset (&block);
  sigaddset (&block, SIGCHLD);
  for (gsize i = 0; i < G_N_ELEMENTS (forwarded); i++)
    sigaddset (&block, forwarded[i]);
  sigprocmask (SIG_BLOCK, &block, &st.old_mask);
  set_action (&st, SIGCHLD, on_signal);
  for (int signo = 1; signo < N_SIGNALS; signo++)
    {
      if (spec->ignored_signals & (1u << signo))
        set_action (&st, signo, SIG_IGN);
      else if (is_forwarded (signo, spec->ignored_signals))
        set_action (&st, signo, on_signal);
    }
  give_tty = isatty (STDIN_FILENO) && tcgetpgrp (STDIN_FILENO) == getpgrp ();
  set_action (&st, SIGTTOU, SIG_IGN);

  parent = getpid ();
  pid = fork ();
  if (pid < 0)
    {
      int saved = errno;
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_EXEC, "fork: %s", g_strerror (saved));
      restore_actions (&st);
      sigprocmask (SIG_SETMASK, &st.old_mask, NULL);
      close (sig_pipe[0]);
      close (sig_pipe[1]);
      close (err_pipe[0]);
      close (err_pipe[1]);
      return LATCH_RUN_FAILED;
    }
  if (pid == 0)
    run_child (spec, &st, give_tty, parent, err_pipe[1]);

  setpgid (pid, pid); /* also here: no race with the first kill (-pid) */
  if (give_tty)
    tcsetpgrp (STDIN_FILENO, pid);
  sigprocmask (SIG_UNBLOCK, &block, NULL);
  close (err_pipe[1]);
  do
    n = read (err_pipe[0], &exec_errno, sizeof exec_errno);
  while (n < 0 && errno == EINTR);
  close (err_pipe[0]);
  if (n == (ssize_t)sizeof exec_errno)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_EXEC, "cannot execute '%s': %s",
                   spec->argv[0], g_strerror (exec_errno));
      while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
        ;
      exec_failed = TRUE;
    }

  while (!exec_failed)
    {
      struct pollfd pfd[2] = {
        { .fd = sig_pipe[0], .events = POLLIN },
        { .fd = lock_lost ? -1 : spec->lock_fd, .events = POLLIN | POLLRDHUP },
      };
      int timeout = -1;
      unsigned char sigs[64];
      gboolean reaped = FALSE;

      if (kill_deadline >= 0)
        timeout = (int)MAX (0, (kill_deadline - g_get_monotonic_time ()) / 1000);
      if (poll (pfd, 2, timeout) < 0 && errno != EINTR)
        break;

      while ((n = read (sig_pipe[0], sigs, sizeof sigs)) > 0)
        for (ssize_t i = 0; i < n; i++)
          {
            if (sigs[i] == SIGCHLD)
              continue;
            latch_log_debug ("forwarding signal %d to process group %ld", sigs[i], (long)pid);
            send_to_group (pid, sigs[i]);
          }
      if (waitpid (pid, &status, WNOHANG) == pid)
        reaped = TRUE;
      if (reaped)
        break;

      if (!lock_lost && spec->lock_fd >= 0 && (pfd[1].revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)))
        {
          lock_lost = TRUE;
          kill_deadline = g_get_monotonic_time () + (gint64)LATCH_EXEC_KILL_GRACE_MS * 1000;
          send_to_group (pid, SIGTERM);
        }
      else if (kill_deadline >= 0 && g_get_monotonic_time () >= kill_deadline)
        {
          send_to_group (pid, SIGKILL);
          kill_deadline = -1;
        }
    }

  if (give_tty)
    tcsetpgrp (STDIN_FILENO, getpgrp ());
  restore_actions (&st);
  sigprocmask (SIG_SETMASK, &st.old_mask, NULL);
  signal_pipe_w = -1;
  close (sig_pipe[0]);
  close (sig_pipe[1]);

  if (exec_failed)
    return LATCH_RUN_FAILED;
  *status_out = decode_status (status);
  return lock_lost ? LATCH_RUN_LOCK_LOST : LATCH_RUN_EXITED;
}
