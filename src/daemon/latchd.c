/* latchd: the lock daemon program.
 *
 * Started by `latch` (or liblatch) when no daemon answers, with
 * --ready-fd so that the starter learns whether it is listening; or run in
 * the foreground by hand or by systemd (logs then go to stderr, or to
 * the journal: --log-target, choose_log_target ()).  Under systemd it
 * says when it is ready (sd_notify) and may take its listening socket
 * from the manager (socket activation: daemon-listen.c).  It takes
 * the daemon settings of latch's table (the rows marked for it), -c and
 * -v, and refuses anything else.  It reads no system or user
 * configuration file, only -c FILE: its starter passes every daemon
 * setting that differs from its default on the command line
 * (latch_config_daemon_args ()), and the defaults are the same table's,
 * so both see the same.
 *
 * With --agent it is this host's agent for one upstream daemon (-a, -p):
 * latch starts one per upstream and session settings, on a socket of its
 * private directory (net/sockdir.h), and talks to it as to the local
 * daemon. */
#include "config.h"

#include "settings/settings.h"
#include "common/error.h"
#include "common/log.h"
#include "daemon/daemon.h"
#include "daemon/daemon-sd.h"

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Start-up failed: say why on stderr and to the starter. */
static int
fail_start (int ready_fd, const GError *error)
{
  g_autofree char *line = g_strdup_printf ("error: %s\n", error->message);

  fprintf (stderr, "latchd: %s\n", error->message);
  if (ready_fd >= 0 && write (ready_fd, line, strlen (line)) < 0)
    perror ("latchd: ready fd");
  return LATCH_DAEMON_EXIT_ERROR;
}

/* Where the daemon logs without a trace file.  auto follows systemd's
 * rule: the journal when stderr is the service's stream to it, so that
 * each line keeps its priority and fields; else stderr in the
 * foreground; syslog when a command started it in the background
 * (--ready-fd), whose stderr nobody reads. */
static LatchLogTarget
choose_log_target (const LatchConfig *config, int ready_fd)
{
  if (config->daemon_trace_file != NULL)
    return LATCH_LOG_TO_FILE;
  if (g_strcmp0 (config->log_target, "stderr") == 0)
    return LATCH_LOG_TO_STDERR;
  if (g_strcmp0 (config->log_target, "journal") == 0)
    return LATCH_LOG_TO_JOURNAL;
  if (g_strcmp0 (config->log_target, "syslog") == 0)
    return LATCH_LOG_TO_SYSLOG;
  if (latch_log_stderr_is_journal ())
    return LATCH_LOG_TO_JOURNAL;
  return ready_fd >= 0 ? LATCH_LOG_TO_SYSLOG : LATCH_LOG_TO_STDERR;
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LatchConfig) config = latch_config_new ();
  LatchOptions opts = { 0 };
  LatchDaemonConfig dconfig = { 0 };
  LatchLogTarget target;
  int ready_fd = -1;
  gboolean agent = FALSE;
  int status;
  const GOptionEntry extra[] = {
    { "ready-fd", 0, 0, G_OPTION_ARG_INT, &ready_fd,
      "Report the start-up outcome on this file descriptor, then close it", "FD" },
    /* latchd's own switch (latch's --agent=yes|no is the command's
     * choice to use one): how latch starts this host's agent. */
    { "agent", 0, 0, G_OPTION_ARG_NONE, &agent,
      "Be this host's agent for the daemon at -a/-p: listen on the -s socket only "
      "(this user's, clear text) and forward every lock over one session to that "
      "daemon, at the [TLS] settings' level", NULL },
    G_OPTION_ENTRY_NULL
  };
  const LatchOptionsSpec spec = {
    .program = LATCH_PROGRAM_DAEMON,
    .summary = "The latch daemon: serves the locks of latch commands and "
               "liblatch programs.  latch starts it when none answers; run "
               "it by hand or from a service manager to keep one (-d -1).",
    .description = "With --system it is the host's daemon, run by a service "
                   "manager: it listens on " LATCH_SYSTEM_SOCKET " (or -s) "
                   "in a directory of its own and of --system-group's (mode "
                   "0750), serves every member of that group, never exits "
                   "when idle (-d is ignored), and only root or its own user "
                   "may stop it (-x/-X over its socket).\n"
                   "\n"
                   "Exit status: 0 after -x/-X or its idle lifespan, 2 when "
                   "another daemon already serves the socket, 1 any other "
                   "error.  See latch(1).",
    .extra = extra,
  };

  setlocale (LC_ALL, "");
  g_set_prgname ("latchd");
  if (!latch_options_parse (&opts, &argc, &argv, &spec, &error)
      || (opts.config_file != NULL
          && !latch_config_load_file (config, opts.config_file, TRUE, &error))
      || !latch_options_apply (&opts, config, &error))
    {
      latch_options_clear (&opts);
      return fail_start (ready_fd, error);
    }
  if (opts.version)
    {
      printf ("latchd (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
      latch_options_clear (&opts);
      return 0;
    }

  target = choose_log_target (config, ready_fd);
  if (target == LATCH_LOG_TO_JOURNAL)
    {
      /* libsystemd is loaded for the journal only when the logs go
       * there.  Asked for by name, its absence stops the start; chosen
       * by auto (JOURNAL_STREAM), stderr still reaches the journal, as
       * plain lines. */
      const LatchSd *sd = latch_sd_load (&error);

      if (sd != NULL)
        latch_log_set_journal_send (sd->journal_sendv);
      else if (g_strcmp0 (config->log_target, "journal") == 0)
        {
          g_prefix_error (&error, "--log-target=journal: ");
          latch_options_clear (&opts);
          return fail_start (ready_fd, error);
        }
      else
        {
          g_clear_error (&error);
          target = LATCH_LOG_TO_STDERR;
        }
    }
  if (!latch_log_init ("latchd", target, config->daemon_trace_file,
                       config->append_trace_file, config->verbose, &error))
    {
      latch_options_clear (&opts);
      return fail_start (ready_fd, error);
    }

  /* The host's daemon, started by its socket: the manager starts it again
   * at the next connection, but the resources' state (a sequence's
   * counter, an idle lifespan) would be lost, and the host's locks are
   * meant to stay put.  A user's daemon may still end when idle. */
  if (config->system && latch_sd_listen_fds (0, NULL) > 0 && config->daemon_lifespan >= 0)
    {
      latch_log_debug ("started by its socket: the host's daemon does not end when idle");
      config->daemon_lifespan = -1;
    }

  dconfig.settings = config;
  dconfig.ready_fd = ready_fd;
  dconfig.agent = agent;
  status = latch_daemon_run (&dconfig, &error);
  /* Run by hand or by a service manager: a start-up failure is an error,
   * said in one line (a command that started us has it on the ready fd). */
  if (error != NULL && ready_fd < 0)
    {
      fprintf (stderr, "latchd: %s\n", error->message);
      if (target != LATCH_LOG_TO_STDERR)
        latch_log_error ("not starting: %s", error->message);
    }
  latch_log_shutdown ();
  latch_options_clear (&opts);
  return status;
}
