#include "config.h"

#include "client/autostart.h"

#include "common/companion.h"
#include "common/error.h"
#include "net/tcp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef LATCH_DAEMON_PATH
#define LATCH_DAEMON_PATH "/usr/local/libexec/latch/latchd"
#endif

/* How long a new daemon may take to say whether it listens. */
#define READY_TIMEOUT_MS 10000
#define READY_FD 3

static const LatchCompanion daemon_program = { "LATCH_DAEMON", "latchd",
                                                LATCH_DAEMON_PATH };

/* The daemon's command line, generated from the settings table: a new
 * daemon setting needs no code here.  Settings at their default are left
 * out: the daemon's defaults are the same table's.  The daemon takes its
 * starter's TLS settings too (FLoM: the same), paths absolute. */
static GPtrArray *
build_argv (const char *path, const LatchConfig *config, gboolean agent)
{
  GPtrArray *argv = g_ptr_array_new_with_free_func (g_free);
  g_auto (GStrv) settings = latch_config_daemon_args (config);

  g_ptr_array_add (argv, g_strdup (path));
  g_ptr_array_add (argv, g_strdup_printf ("--ready-fd=%d", READY_FD));
  if (agent)
    g_ptr_array_add (argv, g_strdup ("--agent"));
  for (char **arg = settings; *arg != NULL; arg++)
    g_ptr_array_add (argv, g_steal_pointer (arg));
  g_ptr_array_add (argv, NULL);
  return argv;
}

/* In the grandchild: only async-signal-safe calls from here on. */
static void G_GNUC_NORETURN
exec_daemon (char **argv, int ready_w, const char *exec_failed, int fd_limit)
{
  int null_fd = open ("/dev/null", O_RDWR);

  if (null_fd >= 0)
    {
      dup2 (null_fd, 0);
      dup2 (null_fd, 1);
      dup2 (null_fd, 2);
    }
  if (ready_w != READY_FD)
    {
      dup2 (ready_w, READY_FD); /* dup2 clears FD_CLOEXEC on the copy */
    }
  else
    fcntl (READY_FD, F_SETFD, 0);
  /* Every other descriptor goes, however high (a program using liblatch
   * may hold thousands): one close_range() call; a loop up to the
   * descriptor limit on a kernel without it (before Linux 5.9). */
  if (close_range (READY_FD + 1, ~0U, 0) != 0)
    for (int fd = READY_FD + 1; fd < fd_limit; fd++)
      close (fd);
  if (chdir ("/") != 0)
    _exit (127);
  umask (077);
  execv (argv[0], argv);
  {
    const char *reason = strerror (errno);
    ssize_t ignored = write (READY_FD, exec_failed, strlen (exec_failed));
    ignored = write (READY_FD, reason, strlen (reason));
    ignored = write (READY_FD, "\n", 1);
    (void)ignored;
  }
  _exit (127);
}

/* Reads the daemon's one-line report, at most READY_TIMEOUT_MS. */
static char *
read_report (int fd)
{
  GString *line = g_string_new (NULL);
  gint64 deadline = g_get_monotonic_time () + (gint64)READY_TIMEOUT_MS * 1000;

  for (;;)
    {
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      gint64 left = (deadline - g_get_monotonic_time ()) / 1000;
      char buf[256];
      ssize_t n;

      if (left <= 0)
        break;
      if (poll (&pfd, 1, (int)left) < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      n = read (fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      g_string_append_len (line, buf, n);
      if (line->len > 4096)
        break;
    }
  return g_string_free (line, FALSE);
}

static LatchSpawnResult
spawn (const LatchConfig *config, gboolean agent, GError **error)
{
  LatchCompanionSource source;
  g_autofree char *path = latch_companion_path (&daemon_program, &source);
  g_autoptr (GPtrArray) argv = NULL;
  g_autofree char *exec_failed = NULL;
  g_autofree char *report = NULL;
  int pipefd[2];
  pid_t pid;
  int status;
  int fd_limit = 1024;
  struct rlimit lim;

  if (access (path, X_OK) != 0)
    {
      int saved = errno;
      g_autofree char *fix = latch_companion_fix (&daemon_program, source);

      g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                   "cannot start the daemon: %s: %s (%s)", path, g_strerror (saved), fix);
      return LATCH_SPAWN_FAILED;
    }
  argv = build_argv (path, config, agent);
  /* For the child's fallback loop, found here: getrlimit () is not on
   * the list of async-signal-safe calls. */
  if (getrlimit (RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY)
    fd_limit = (int)MIN (lim.rlim_cur, (rlim_t)G_MAXINT);
  exec_failed = g_strdup_printf ("error: cannot execute %s: ", path);
  if (pipe2 (pipefd, O_CLOEXEC) != 0)
    {
      int saved = errno;
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START, "pipe: %s",
                   g_strerror (saved));
      return LATCH_SPAWN_FAILED;
    }
  pid = fork ();
  if (pid < 0)
    {
      int saved = errno;
      close (pipefd[0]);
      close (pipefd[1]);
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START, "fork: %s",
                   g_strerror (saved));
      return LATCH_SPAWN_FAILED;
    }
  if (pid == 0)
    {
      /* The intermediate child: a new session, then the daemon is
       * orphaned so that it is nobody's child and has no terminal. */
      setsid ();
      signal (SIGHUP, SIG_IGN);
      if (fork () == 0)
        exec_daemon ((char **)argv->pdata, pipefd[1], exec_failed, fd_limit);
      _exit (0);
    }
  close (pipefd[1]);
  while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
    ;
  report = read_report (pipefd[0]);
  close (pipefd[0]);

  if (g_str_has_prefix (report, "ok"))
    return LATCH_SPAWN_STARTED;
  if (g_str_has_prefix (report, "busy"))
    return LATCH_SPAWN_BUSY;
  g_strchomp (report);
  if (g_str_has_prefix (report, "notlocal: "))
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START, "%s",
                   report + strlen ("notlocal: "));
      return LATCH_SPAWN_NOT_LOCAL;
    }
  if (g_str_has_prefix (report, "error: "))
    g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                 "the daemon could not start: %s", report + strlen ("error: "));
  else
    g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                 "the daemon %s exited during start-up without saying why "
                 "(run it by hand in the foreground to see)", path);
  return LATCH_SPAWN_FAILED;
}

LatchSpawnResult
latch_autostart_spawn (const LatchConfig *config, GError **error)
{
  return spawn (config, FALSE, error);
}

gboolean
latch_autostart_uses_agent (const LatchConfig *config)
{
  return config->agent && config->daemon_lifespan != 0 && config->socket_name == NULL
         && (config->unicast_address != NULL || config->multicast_address != NULL);
}

LatchSpawnResult
latch_autostart_spawn_agent (const LatchConfig *config, const char *host, int port,
                             const char *socket_path, GError **error)
{
  g_autoptr (LatchConfig) agent = latch_config_copy (config);

  /* The agent's upstream is where the command would have connected: a
   * multicast group is replaced by the daemon its discovery found (the
   * agent does no discovery, and answers none). */
  g_free (agent->unicast_address);
  agent->unicast_address = g_strdup (host);
  agent->unicast_port = port;
  g_clear_pointer (&agent->multicast_address, g_free);
  g_free (agent->socket_name);
  agent->socket_name = g_strdup (socket_path);
  /* -d -1 keeps a daemon for good; an agent kept so would hold its
   * upstream session (and the upstream daemon) for good too: it goes
   * after the default idle lifespan instead. */
  if (agent->daemon_lifespan < 0)
    agent->daemon_lifespan = LATCH_DEFAULT_DAEMON_LIFESPAN;
  /* Its own trace file beside the daemon's (-t): the TCP daemon this
   * command may start writes that one. */
  if (agent->daemon_trace_file != NULL)
    {
      char *trace = g_strconcat (agent->daemon_trace_file, ".agent", NULL);

      g_free (agent->daemon_trace_file);
      agent->daemon_trace_file = trace;
    }
  return spawn (agent, TRUE, error);
}

LatchSpawnResult
latch_autostart_network_fallback (const LatchConfig *config, const char *host, int port,
                                  GError **error)
{
  g_autoptr (GError) probe_error = NULL;
  g_autoptr (LatchConfig) direct = NULL;
  int fd = -1;
  int bound = 0;

  /* Binding tells, without a connection the daemon would see, whether
   * the address is ours and free: only then would today's command start
   * the TCP daemon there. */
  switch (latch_tcp_listen (host, port, config->network_interface, &fd, &bound, &probe_error))
    {
    case LATCH_TCP_OK:
      close (fd);
      break;
    case LATCH_TCP_FAILED:
    case LATCH_TCP_REFUSED:
    case LATCH_TCP_NOT_LOCAL:
    default:
      return LATCH_SPAWN_BUSY;
    }
  direct = latch_config_copy (config);
  g_free (direct->unicast_address);
  direct->unicast_address = g_strdup (host);
  direct->unicast_port = port;
  g_clear_pointer (&direct->multicast_address, g_free);
  return spawn (direct, FALSE, error);
}
