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
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define N_SIGNALS 32

/* Forwarded to the command's group while it runs: the signals someone
 * sends to stop, reload, poke, resize or resume a job.  Not the ones about
 * latch's own faults and limits (SIGSEGV, SIGPIPE, SIGXCPU...), nor job
 * control stops (the terminal sends those to the command's group). */
static const int forwarded[] = {
  SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGALRM, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT,
};

/* While latch waits for the lock: these end latch (by the same signal)... */
static const int ending[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGALRM };
/* ...these are dropped (their default action would kill latch). */
static const int dropped[] = { SIGUSR1, SIGUSR2 };

/* Signal dispositions are per process: so is this. */
static struct
{
  gboolean ready;
  struct sigaction entry[N_SIGNALS]; /* what latch started with */
  gboolean changed[N_SIGNALS];       /* by latch_exec_init() */
} sigs;

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

static void
end_latch_cb (int signo)
{
  latch_exec_die_by_signal (signo);
}

static void
drop_cb (int signo)
{
  (void)signo;
}

/* A signal ignored when latch started (nohup, a background job of a
 * script) stays ignored for the command too: latch does not forward it,
 * nor does it end latch. */
static gboolean
ignored_on_entry (int signo)
{
  return sigs.entry[signo].sa_handler == SIG_IGN;
}

static gboolean
is_in (int signo, const int *list, gsize n)
{
  for (gsize i = 0; i < n; i++)
    if (list[i] == signo)
      return TRUE;
  return FALSE;
}

void
latch_exec_init (void)
{
  struct sigaction sa = { 0 };

  if (sigs.ready)
    return;
  for (int signo = 1; signo < N_SIGNALS; signo++)
    if (signo != SIGKILL && signo != SIGSTOP)
      sigaction (signo, NULL, &sigs.entry[signo]);
  sigs.ready = TRUE;

  sigemptyset (&sa.sa_mask);
  for (int signo = 1; signo < N_SIGNALS; signo++)
    {
      if (ignored_on_entry (signo))
        continue;
      if (is_in (signo, ending, G_N_ELEMENTS (ending)))
        {
          sa.sa_handler = end_latch_cb;
          sa.sa_flags = 0;
        }
      else if (is_in (signo, dropped, G_N_ELEMENTS (dropped)))
        {
          /* A handler, not SIG_IGN: SIG_IGN would outlive exec() in a
           * daemon that latch starts meanwhile.  liblatch retries a wait
           * that it interrupts. */
          sa.sa_handler = drop_cb;
          sa.sa_flags = SA_RESTART;
        }
      else
        continue;
      sigaction (signo, &sa, NULL);
      sigs.changed[signo] = TRUE;
    }
}

void
latch_exec_shutdown (void)
{
  if (!sigs.ready)
    return;
  for (int signo = 1; signo < N_SIGNALS; signo++)
    if (sigs.changed[signo])
      sigaction (signo, &sigs.entry[signo], NULL);
  memset (&sigs, 0, sizeof sigs);
}

void
latch_exec_die_by_signal (int signo)
{
  struct sigaction sa = { 0 };
  struct rlimit no_core = { 0, 0 };
  sigset_t set;

  /* Only async-signal-safe calls (setrlimit and prctl are plain system
   * calls): end_latch_cb() calls this from a handler. */
  setrlimit (RLIMIT_CORE, &no_core);
  prctl (PR_SET_DUMPABLE, 0);
  sa.sa_handler = SIG_DFL;
  sigemptyset (&sa.sa_mask);
  sigaction (signo, &sa, NULL);
  sigemptyset (&set);
  sigaddset (&set, signo);
  sigprocmask (SIG_UNBLOCK, &set, NULL);
  raise (signo);
  _exit (128 + signo);
}

typedef struct
{
  struct sigaction old[N_SIGNALS];
  gboolean changed[N_SIGNALS];
  sigset_t old_mask;
} SignalState;

struct _LatchRun
{
  int lock_fd;
  int kill_grace_ms;
  pid_t pid;
  int sig_pipe[2];
  gboolean give_tty;
  gboolean lock_lost;
  gboolean reaped;
  gint64 kill_deadline; /* monotonic us; -1: none */
  int wait_status;
  GError *error; /* the wait failed */
  SignalState st;
};

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

static gboolean
is_forwarded (int signo, guint32 ignored)
{
  if (ignored & (1u << signo))
    return FALSE;
  return is_in (signo, forwarded, G_N_ELEMENTS (forwarded)) && !ignored_on_entry (signo);
}

static void
send_to_group (pid_t pid, int signo)
{
  if (kill (-pid, signo) != 0)
    kill (pid, signo);
}

/* In the child, between fork and exec. */
static void G_GNUC_NORETURN
run_child (const LatchRunSpec *spec, const SignalState *st, gboolean give_tty,
           pid_t parent, int exec_err_w)
{
  int err;

  setpgid (0, 0);
  /* If latch itself is killed (SIGKILL cannot be forwarded), the command
   * goes too; latch may have died before this line (then getppid() is
   * no longer latch). */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
  if (getppid () != parent)
    _exit (128 + SIGKILL);
  /* The lock's connection goes down to the command's whole tree (exec.h):
   * a process it left behind keeps the lock until it ends. */
  if (spec->lock_fd >= 0)
    {
      int fd = spec->lock_fd;
      int flags;

      if (fd <= STDERR_FILENO)
        fd = fcntl (fd, F_DUPFD, STDERR_FILENO + 1); /* a copy without FD_CLOEXEC */
      else if ((flags = fcntl (fd, F_GETFD)) < 0 || fcntl (fd, F_SETFD, flags & ~FD_CLOEXEC) < 0)
        fd = -1;
      if (fd < 0)
        {
          /* Never run the command unprotected: report it as an exec error. */
          err = errno;
          if (write (exec_err_w, &err, sizeof err) < 0)
            _exit (127);
          _exit (127);
        }
    }
  if (give_tty)
    tcsetpgrp (STDIN_FILENO, getpid ()); /* SIGTTOU is ignored here */
  /* The command starts with the dispositions latch started with. */
  for (int signo = 1; signo < N_SIGNALS; signo++)
    if (sigs.changed[signo] || st->changed[signo])
      sigaction (signo, &sigs.entry[signo], NULL);
  sigprocmask (SIG_SETMASK, &st->old_mask, NULL);
  execvpe (spec->argv[0], spec->argv, spec->envp);
  err = errno;
  if (write (exec_err_w, &err, sizeof err) < 0)
    _exit (127);
  _exit (127);
}

static void
reap (LatchRun *run)
{
  while (waitpid (run->pid, &run->wait_status, 0) < 0 && errno == EINTR)
    ;
  run->reaped = TRUE;
}

/* Undoes what latch_exec_start() set up around the command. */
static void
release_run (LatchRun *run)
{
  if (run->give_tty)
    tcsetpgrp (STDIN_FILENO, getpgrp ());
  restore_actions (&run->st);
  sigprocmask (SIG_SETMASK, &run->st.old_mask, NULL);
  signal_pipe_w = -1;
  close (run->sig_pipe[0]);
  close (run->sig_pipe[1]);
  g_clear_error (&run->error);
  g_free (run);
}

LatchRun *
latch_exec_start (const LatchRunSpec *spec, GError **error)
{
  g_autofree LatchRun *run = g_new0 (LatchRun, 1);
  sigset_t block;
  int err_pipe[2];
  int exec_errno = 0;
  pid_t parent;
  ssize_t n;

  latch_exec_init ();
  run->lock_fd = spec->lock_fd;
  run->kill_grace_ms = MAX (spec->kill_grace_ms, 0);
  run->kill_deadline = -1;
  if (pipe2 (run->sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
    {
      int saved = errno;
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_EXEC, "pipe: %s", g_strerror (saved));
      return NULL;
    }
  if (pipe2 (err_pipe, O_CLOEXEC) != 0)
    {
      int saved = errno;
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_EXEC, "pipe: %s", g_strerror (saved));
      close (run->sig_pipe[0]);
      close (run->sig_pipe[1]);
      return NULL;
    }
  signal_pipe_w = run->sig_pipe[1];

  /* Handlers first, with the signals blocked until the child exists, so
   * that none is lost and none reaches a half-made child. */
  sigemptyset (&block);
  sigaddset (&block, SIGCHLD);
  for (gsize i = 0; i < G_N_ELEMENTS (forwarded); i++)
    sigaddset (&block, forwarded[i]);
  sigprocmask (SIG_BLOCK, &block, &run->st.old_mask);
  set_action (&run->st, SIGCHLD, on_signal);
  for (int signo = 1; signo < N_SIGNALS; signo++)
    {
      if (spec->ignored_signals & (1u << signo))
        set_action (&run->st, signo, SIG_IGN);
      else if (is_forwarded (signo, spec->ignored_signals))
        set_action (&run->st, signo, on_signal);
    }
  run->give_tty = isatty (STDIN_FILENO) && tcgetpgrp (STDIN_FILENO) == getpgrp ();
  set_action (&run->st, SIGTTOU, SIG_IGN);

  parent = getpid ();
  run->pid = fork ();
  if (run->pid < 0)
    {
      int saved = errno;
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_EXEC, "fork: %s", g_strerror (saved));
      close (err_pipe[0]);
      close (err_pipe[1]);
      run->give_tty = FALSE;
      release_run (g_steal_pointer (&run));
      return NULL;
    }
  if (run->pid == 0)
    run_child (spec, &run->st, run->give_tty, parent, err_pipe[1]);

  setpgid (run->pid, run->pid); /* also here: no race with the first kill (-pid) */
  if (run->give_tty)
    tcsetpgrp (STDIN_FILENO, run->pid);
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
      reap (run);
      release_run (g_steal_pointer (&run));
      return NULL;
    }
  return g_steal_pointer (&run);
}

gboolean
latch_exec_handle_poll (LatchRun *run, int poll_rc, int poll_errno, short lock_revents)
{
  unsigned char sigs_read[64];
  ssize_t n;

  g_return_val_if_fail (run != NULL && !run->reaped, FALSE);

  if (poll_rc < 0 && poll_errno != EINTR)
    {
      /* Without poll() latch can watch neither the command nor the lock:
       * it must not release the lock while the command may still run, nor
       * make up an exit status. */
      g_set_error (&run->error, LATCH_ERROR, LATCH_ERROR_EXEC,
                   "cannot watch the command any more (poll: %s): killed it",
                   g_strerror (poll_errno));
      send_to_group (run->pid, SIGKILL);
      reap (run);
      return FALSE;
    }
  if (poll_rc <= 0)
    lock_revents = 0;

  while ((n = read (run->sig_pipe[0], sigs_read, sizeof sigs_read)) > 0)
    for (ssize_t i = 0; i < n; i++)
      {
        if (sigs_read[i] == SIGCHLD)
          continue;
        latch_log_debug ("forwarding signal %d to process group %ld", sigs_read[i],
                         (long)run->pid);
        send_to_group (run->pid, sigs_read[i]);
      }
  if (waitpid (run->pid, &run->wait_status, WNOHANG) == run->pid)
    {
      run->reaped = TRUE;
      return FALSE;
    }

  if (!run->lock_lost && run->lock_fd >= 0
      && (lock_revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)))
    {
      run->lock_lost = TRUE;
      if (run->kill_grace_ms == 0)
        send_to_group (run->pid, SIGKILL);
      else
        {
          run->kill_deadline = g_get_monotonic_time () + (gint64)run->kill_grace_ms * 1000;
          send_to_group (run->pid, SIGTERM);
        }
    }
  else if (run->kill_deadline >= 0 && g_get_monotonic_time () >= run->kill_deadline)
    {
      send_to_group (run->pid, SIGKILL);
      run->kill_deadline = -1;
    }
  return TRUE;
}

LatchRunResult
latch_exec_finish (LatchRun *run, LatchRunStatus *status_out, GError **error)
{
  LatchRunResult result;

  g_return_val_if_fail (run != NULL && run->reaped, LATCH_RUN_FAILED);

  if (run->error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&run->error));
      result = LATCH_RUN_ERROR;
    }
  else
    {
      LatchRunStatus st = { 1, 0 };

      if (WIFEXITED (run->wait_status))
        st.exit_status = WEXITSTATUS (run->wait_status);
      else if (WIFSIGNALED (run->wait_status))
        {
          st.term_signal = WTERMSIG (run->wait_status);
          st.exit_status = 128 + st.term_signal;
        }
      *status_out = st;
      result = run->lock_lost ? LATCH_RUN_LOCK_LOST : LATCH_RUN_EXITED;
    }
  release_run (run);
  return result;
}

pid_t
latch_exec_get_pid (const LatchRun *run)
{
  g_return_val_if_fail (run != NULL, -1);
  return run->pid;
}

LatchRunResult
latch_exec_run (const LatchRunSpec *spec, LatchRunStatus *status_out, GError **error)
{
  LatchRun *run = latch_exec_start (spec, error);
  gboolean waiting = TRUE;

  if (run == NULL)
    return LATCH_RUN_FAILED;
  while (waiting)
    {
      struct pollfd pfd[2] = {
        { .fd = run->sig_pipe[0], .events = POLLIN },
        { .fd = run->lock_lost ? -1 : run->lock_fd, .events = POLLIN | POLLRDHUP },
      };
      int timeout = -1;
      int rc;

      if (run->kill_deadline >= 0)
        timeout = (int)MAX (0, (run->kill_deadline - g_get_monotonic_time ()) / 1000);
      rc = poll (pfd, 2, timeout);
      waiting = latch_exec_handle_poll (run, rc, rc < 0 ? errno : 0, pfd[1].revents);
    }
  return latch_exec_finish (run, status_out, error);
}
