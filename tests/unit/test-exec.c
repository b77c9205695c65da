/* test-exec.c: running the command (src/cli/exec.c): how it ended, what
 * happens when latch can no longer watch it, and ending by a signal. */
#include "config.h"

#include "cli/exec.h"

#include "common/error.h"

#include <glib/gstdio.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* Waits (bounded) until pid has gone or is a zombie of someone else. */
static gboolean
pid_ended (pid_t pid)
{
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  while (g_get_monotonic_time () < deadline)
    {
      g_autofree char *path = g_strdup_printf ("/proc/%ld/stat", (long)pid);
      g_autofree char *stat = NULL;
      const char *paren;

      if (kill (pid, 0) != 0 && errno == ESRCH)
        return TRUE;
      if (g_file_get_contents (path, &stat, NULL, NULL)
          && (paren = strrchr (stat, ')')) != NULL && paren[1] == ' '
          && paren[2] == 'Z')
        return TRUE;
      g_usleep (10 * 1000);
    }
  return FALSE;
}

static void
test_exit_status (void)
{
  g_auto (GStrv) envp = g_get_environ ();
  char *argv[] = { "sh", "-c", "exit 3", NULL };
  LatchRunSpec spec = { argv, envp, 0, -1, 1000 };
  LatchRunStatus status = { -1, -1 };
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (latch_exec_run (&spec, &status, &error), ==, LATCH_RUN_EXITED);
  g_assert_no_error (error);
  g_assert_cmpint (status.exit_status, ==, 3);
  g_assert_cmpint (status.term_signal, ==, 0);
}

static void
test_signal_status (void)
{
  g_auto (GStrv) envp = g_get_environ ();
  char *argv[] = { "sh", "-c", "kill -USR1 $$", NULL };
  LatchRunSpec spec = { argv, envp, 0, -1, 1000 };
  LatchRunStatus status = { -1, -1 };
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (latch_exec_run (&spec, &status, &error), ==, LATCH_RUN_EXITED);
  g_assert_no_error (error);
  g_assert_cmpint (status.term_signal, ==, SIGUSR1);
  g_assert_cmpint (status.exit_status, ==, 128 + SIGUSR1);
}

static void
test_cannot_execute (void)
{
  g_auto (GStrv) envp = g_get_environ ();
  char *argv[] = { "/nonexistent/latch-test-command", NULL };
  LatchRunSpec spec = { argv, envp, 0, -1, 1000 };
  LatchRunStatus status = { -1, -1 };
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (latch_exec_run (&spec, &status, &error), ==, LATCH_RUN_FAILED);
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_EXEC);
  g_assert_cmpint (status.exit_status, ==, -1);
}

/* An interrupted poll() is not a failure: the wait goes on. */
static void
test_poll_interrupted (void)
{
  g_auto (GStrv) envp = g_get_environ ();
  char *argv[] = { "sleep", "30", NULL };
  LatchRunSpec spec = { argv, envp, 0, -1, 1000 };
  LatchRunStatus status = { -1, -1 };
  g_autoptr (GError) error = NULL;
  LatchRun *run = latch_exec_start (&spec, &error);
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  pid_t pid;

  g_assert_no_error (error);
  g_assert_nonnull (run);
  pid = latch_exec_get_pid (run);
  g_assert_true (latch_exec_handle_poll (run, -1, EINTR, 0));
  g_assert_cmpint (kill (pid, 0), ==, 0);

  kill (pid, SIGTERM);
  while (latch_exec_handle_poll (run, 0, 0, 0))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (10 * 1000);
    }
  g_assert_cmpint (latch_exec_finish (run, &status, &error), ==, LATCH_RUN_EXITED);
  g_assert_no_error (error);
  g_assert_cmpint (status.term_signal, ==, SIGTERM);
}

/* poll() fails for good (ENOMEM) while the command runs: latch must not
 * report a status it does not know (it said 0) nor let the command run on
 * while the caller releases the lock.  The whole group is killed, the
 * command reaped, and the caller gets an error. */
static void
test_poll_failure (void)
{
  g_autofree char *dir = g_dir_make_tmp ("latch-test-exec.XXXXXX", NULL);
  g_autofree char *pidfile = g_build_filename (dir, "grandchild", NULL);
  g_autofree char *script = g_strdup_printf (
      "trap '' TERM; sleep 30 & echo $! > '%s'; wait", pidfile);
  g_auto (GStrv) envp = g_get_environ ();
  char *argv[] = { "sh", "-c", script, NULL };
  LatchRunSpec spec = { argv, envp, 0, -1, 1000 };
  LatchRunStatus status = { -1, -1 };
  g_autoptr (GError) error = NULL;
  g_autofree char *text = NULL;
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  LatchRun *run = latch_exec_start (&spec, &error);
  pid_t pid, grandchild;

  g_assert_no_error (error);
  g_assert_nonnull (run);
  pid = latch_exec_get_pid (run);
  while (!g_file_get_contents (pidfile, &text, NULL, NULL) || strchr (text, '\n') == NULL)
    {
      g_clear_pointer (&text, g_free);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (10 * 1000);
    }
  grandchild = (pid_t)g_ascii_strtoll (text, NULL, 10);
  g_assert_cmpint (grandchild, >, 0);

  g_assert_false (latch_exec_handle_poll (run, -1, ENOMEM, 0));
  g_assert_cmpint (latch_exec_finish (run, &status, &error), ==, LATCH_RUN_ERROR);
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_EXEC);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "poll"));
  g_assert_nonnull (strstr (error->message, g_strerror (ENOMEM)));
  g_assert_cmpint (status.exit_status, ==, -1); /* not made up */
  /* Reaped, not merely signalled: no zombie left behind. */
  g_assert_cmpint (kill (pid, 0), ==, -1);
  g_assert_cmpint (errno, ==, ESRCH);
  /* The rest of the group went too. */
  g_assert_true (pid_ended (grandchild));

  g_unlink (pidfile);
  g_rmdir (dir);
}

/* In a child: raise the core limit, block or ignore signo as asked, then
 * latch_exec_die_by_signal(); the parent checks how the child ended. */
static void
check_die_by_signal (int signo, gboolean blocked, gboolean ignored)
{
  g_autofree char *dir = g_dir_make_tmp ("latch-test-exec.XXXXXX", NULL);
  int status = 0;
  pid_t pid = fork ();

  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      struct rlimit core = { RLIM_INFINITY, RLIM_INFINITY };
      struct sigaction sa = { 0 };
      sigset_t set;

      /* A core file, if any, lands in dir (core_pattern "core"). */
      if (chdir (dir) != 0)
        _exit (90);
      if (setrlimit (RLIMIT_CORE, &core) != 0)
        {
          getrlimit (RLIMIT_CORE, &core);
          core.rlim_cur = core.rlim_max;
          setrlimit (RLIMIT_CORE, &core);
        }
      if (blocked)
        {
          sigemptyset (&set);
          sigaddset (&set, signo);
          sigprocmask (SIG_BLOCK, &set, NULL);
        }
      if (ignored)
        {
          sa.sa_handler = SIG_IGN;
          sigaction (signo, &sa, NULL);
        }
      latch_exec_die_by_signal (signo);
    }
  while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
    ;
  g_assert_true (WIFSIGNALED (status));
  g_assert_cmpint (WTERMSIG (status), ==, signo);
  g_assert_false (WCOREDUMP (status));
  g_assert_cmpint (g_rmdir (dir), ==, 0); /* empty: no core file */
}

static void
test_die_by_signal (void)
{
  check_die_by_signal (SIGINT, FALSE, FALSE);
  check_die_by_signal (SIGTERM, TRUE, FALSE);
  check_die_by_signal (SIGPIPE, FALSE, TRUE);
  /* Signals whose default action dumps core: no core file of latch (the
   * command's own, if any, is the one that matters). */
  check_die_by_signal (SIGQUIT, FALSE, FALSE);
  check_die_by_signal (SIGSEGV, TRUE, FALSE);
  check_die_by_signal (SIGABRT, FALSE, FALSE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/exec/status/exited", test_exit_status);
  g_test_add_func ("/exec/status/signaled", test_signal_status);
  g_test_add_func ("/exec/cannot-execute", test_cannot_execute);
  g_test_add_func ("/exec/poll/interrupted", test_poll_interrupted);
  g_test_add_func ("/exec/poll/failure", test_poll_failure);
  g_test_add_func ("/exec/die-by-signal", test_die_by_signal);
  return g_test_run ();
}
