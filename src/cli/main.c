/* main.c: the latch command.  Options -> configuration -> liblatch handle
 * -> run the command.  Exit statuses are decided here and only here:
 *   the command's status; when signal N killed the command, latch ends
 *     by signal N too once the lock is released (a shell shows 128 + N),
 *   96 cannot wait (resource absent, create=no, no waiting),
 *   97 cannot execute the command (or none given),
 *   98 busy (timeout 0, or the timeout expired),
 *   99 anything else (options, configuration, daemon, lock lost). */
#include "config.h"

#include "latch.h"

#include "settings/settings.h"
#include "cli/exec.h"
#include "cli/status.h"
#include "client/autostart.h"
#include "client/client.h"
#include "common/companion.h"
#include "common/error.h"
#include "common/log.h"
#include "locker/rsrc-name.h"
#include "sys/machine-id.h"

#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum
{
  EXIT_CANT_WAIT = 96,
  EXIT_CANT_EXECUTE = 97,
  EXIT_BUSY = 98,
  EXIT_ERROR = 99,
};

static int
exit_status_for_rc (int rc)
{
  switch (rc)
    {
    case LATCH_RC_LOCK_BUSY:
    case LATCH_RC_NETWORK_TIMEOUT:
      return EXIT_BUSY;
    case LATCH_RC_LOCK_CANT_WAIT:
      return EXIT_CANT_WAIT;
    default:
      return EXIT_ERROR;
    }
}

static int
report_error (const GError *error)
{
  fprintf (stderr, "latch: %s\n", error->message);
  return EXIT_ERROR;
}

static int
report_rc (const LatchHandle *h, int rc)
{
  /* FLoM's exact words for an expired timeout (scripts compare them). */
  if (rc == LATCH_RC_NETWORK_TIMEOUT)
    fprintf (stderr, "%s\n", latch_get_error (h));
  else
    fprintf (stderr, "latch: %s\n", latch_get_error (h));
  return exit_status_for_rc (rc);
}

static void
print_version (void)
{
  printf ("latch: a secure distributed lock manager, FLoM-compatible\n"
          "Package name: %s; package version: %s\n"
          "Protocol: FLoM level 3\n"
          "Licence: GPL-2.0-or-later\n",
          PACKAGE_NAME, PACKAGE_VERSION);
}

/* As FLoM: a lock mode only matters to simple and hierarchical resources
 * (the others are exclusive), a quantity only to numeric ones.  -V says
 * when a setting is ignored. */
static void
warn_ignored_settings (const LatchConfig *config)
{
  LatchRsrcType type = latch_rsrc_name_classify (config->resource_name,
                                                 strlen (config->resource_name));

  if (config->lock_mode != LATCH_LOCK_MODE_EX && type != LATCH_RSRC_SIMPLE
      && type != LATCH_RSRC_HIER)
    fprintf (stderr, "latch: lock mode %s ignored: %s resources are always exclusive\n",
             latch_lock_mode_name (config->lock_mode), latch_rsrc_type_to_string (type));
  if (config->resource_quantity != 1 && type != LATCH_RSRC_NUMERIC)
    fprintf (stderr, "latch: quantity %d ignored: only numeric resources (NAME[N]) "
             "have units\n", config->resource_quantity);
}

/* What the command does while latch_lock () waits. */
typedef struct
{
  const LatchConfig *config;
  LatchNotice *notice; /* the waiting notice, once the request is queued */
} WaitState;

/* Called when the daemon queues the request (or waits for the
 * resource's creation).  -V says so at once; the waiting notice says,
 * after WaitNotice ms, what the request waits for (--quiet or
 * --wait-notice=0: never). */
static void
on_wait (LatchHandle *h, int rc, void *user_data)
{
  WaitState *wait = user_data;

  if (wait->config->verbose)
    {
      if (rc == LATCH_RC_LOCK_WAIT_RESOURCE)
        fprintf (stderr, "latch: waiting for resource '%s' to be created\n",
                 latch_get_resource_name (h));
      else
        fprintf (stderr, "latch: waiting for '%s': the daemon queued the request\n",
                 latch_get_resource_name (h));
    }
  if (wait->notice == NULL && !wait->config->quiet && wait->config->wait_notice > 0)
    wait->notice = latch_notice_start (h, wait->config, wait->config->wait_notice);
}

/* A handle with the effective configuration: every setting, daemon
 * settings included, in one call (the command is a thin layer over
 * liblatch). */
static LatchHandle *
handle_from_config (const LatchConfig *config, WaitState *wait)
{
  LatchHandle *h = latch_handle_new ();

  if (latch_client_set_config (h, config) != LATCH_RC_OK)
    {
      fprintf (stderr, "latch: %s\n", latch_get_error (h));
      latch_handle_free (h);
      return NULL;
    }
  latch_set_wait_callback (h, on_wait, wait);
  return h;
}

/* liblatch prints nothing: its warnings are said here, one line each. */
static void
print_warnings (const LatchHandle *h)
{
  g_auto (GStrv) lines = NULL;

  if (latch_get_warnings (h) == NULL)
    return;
  lines = g_strsplit (latch_get_warnings (h), "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    fprintf (stderr, "latch: warning: %s\n", lines[i]);
}

static int
shutdown_daemon (LatchHandle *h, const LatchConfig *config, gboolean immediate)
{
  int rc = latch_shutdown_daemon (h, immediate);
  g_autofree char *where = NULL;

  print_warnings (h);
  if (rc != LATCH_RC_OK)
    return report_rc (h, rc);
  if (config->unicast_address != NULL)
    where = g_strdup_printf ("%s port %d", config->unicast_address, config->unicast_port);
  else if (config->multicast_address != NULL)
    where = g_strdup_printf ("found on %s port %d", config->multicast_address,
                             config->multicast_port);
  else
    where = g_strdup (latch_get_socket_name (h));
  if (immediate)
    printf ("latch: the daemon at %s has been told to exit immediately\n", where);
  else
    printf ("latch: the daemon at %s is quiescing: it serves its current holders "
            "and waiters, refuses new requests, then exits\n", where);
  return 0;
}

static char **
command_environment (const LatchHandle *h)
{
  char **envp = g_get_environ ();
  g_autofree char *fence = g_strdup_printf ("%" G_GUINT64_FORMAT, latch_get_fence (h));

  envp = g_environ_setenv (envp, "LATCH_RESOURCE", latch_get_resource_name (h), TRUE);
  envp = g_environ_setenv (envp, "LATCH_FENCE", fence, TRUE);
  if (latch_get_element (h) != NULL)
    envp = g_environ_setenv (envp, "LATCH_ELEMENT", latch_get_element (h), TRUE);
  else
    envp = g_environ_unsetenv (envp, "LATCH_ELEMENT");
  return envp;
}

/* A dot makes a set (FLoM's grammar), which changes the command line:
 * say so, unless the user said that this is meant (--quiet). */
static void
announce_set (const LatchConfig *config)
{
  const char *name = config->resource_name;
  g_auto (GStrv) members = NULL;
  g_autofree char *list = NULL;

  if (config->quiet
      || latch_rsrc_name_classify (name, strlen (name)) != LATCH_RSRC_SET)
    return;
  members = g_strsplit (name, ".", -1);
  list = g_strjoinv (", ", members);
  fprintf (stderr, "latch: '%s' is a set of %u members (%s): the command gets the "
           "member as its last argument and in LATCH_ELEMENT (--quiet silences this)\n",
           name, g_strv_length (members), list);
}

/* How long a busy message waits for the daemon to name the holder. */
#define BUSY_HOLDER_MS 500

/* A failed lock, in one line.  A busy refusal (-o 0) names the holder
 * when the daemon says who it is in time.  An expired timeout keeps
 * FLoM's exact line (scripts compare it): a command that waited long
 * enough has named the holder in its waiting notice. */
static int
report_lock_failure (const LatchHandle *h, const LatchConfig *config, int rc)
{
  g_autofree char *busy = g_strdup_printf ("resource '%s' is busy", latch_get_resource_name (h));
  g_autofree char *holder = NULL;

  /* An expired timeout: FLoM's line as it is (scripts compare it), then
   * who holds the resource on a line of its own. */
  if (rc == LATCH_RC_NETWORK_TIMEOUT
      && g_str_has_prefix (latch_get_error (h), "The lock was not obtained because timeout"))
    {
      report_rc (h, rc);
      holder = latch_cli_status_holder (config, latch_get_resource_name (h), BUSY_HOLDER_MS);
      if (holder != NULL)
        fprintf (stderr, "latch: resource '%s' is %s\n", latch_get_resource_name (h), holder);
      return exit_status_for_rc (rc);
    }
  /* Only the daemon's plain refusal: a busy status also says that a
   * daemon is shutting down, where a holder is beside the point. */
  if (rc != LATCH_RC_LOCK_BUSY || strcmp (latch_get_error (h), busy) != 0)
    return report_rc (h, rc);
  holder = latch_cli_status_holder (config, latch_get_resource_name (h), BUSY_HOLDER_MS);
  if (holder == NULL)
    return report_rc (h, rc);
  fprintf (stderr, "latch: %s: %s\n", busy, holder);
  return exit_status_for_rc (rc);
}

/* *die_signal: set when the command was killed by a signal, which latch
 * must then end by (the lock is released by then). */
static int
run_locked (LatchHandle *h, const LatchConfig *config, WaitState *wait, char **command,
            int *die_signal)
{
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) envp = NULL;
  g_autoptr (GPtrArray) argv = NULL;
  LatchRunSpec spec;
  LatchRunResult result;
  LatchRunStatus status = { 0, 0 };
  int rc;

  announce_set (config);
  /* From here on a signal either ends latch cleanly or is meant for the
   * command (exec.h). */
  latch_exec_init ();
  rc = latch_lock (h);
  /* Granted or failed: the notice has nothing more to say. */
  latch_notice_stop (wait->notice);
  print_warnings (h);
  if (rc != LATCH_RC_OK)
    return report_lock_failure (h, config, rc);
  if (config->verbose && latch_get_element (h) != NULL)
    printf ("Locked element is '%s'\n", latch_get_element (h));
  latch_log_debug ("locked '%s', fence %" G_GUINT64_FORMAT, latch_get_resource_name (h),
                   (guint64)latch_get_fence (h));

  envp = command_environment (h);
  /* As FLoM: the element is also the command's last argument. */
  argv = g_ptr_array_new ();
  for (char **arg = command; *arg != NULL; arg++)
    g_ptr_array_add (argv, *arg);
  if (latch_get_element (h) != NULL)
    g_ptr_array_add (argv, (char *)latch_get_element (h));
  g_ptr_array_add (argv, NULL);
  spec.argv = (char **)argv->pdata;
  spec.envp = envp;
  spec.ignored_signals = config->ignored_signals;
  spec.lock_fd = latch_get_fd (h);
  spec.kill_grace_ms = config->kill_grace;
  result = latch_exec_run (&spec, &status, &error);
  switch (result)
    {
    case LATCH_RUN_FAILED:
      latch_unlock (h, TRUE);
      fprintf (stderr, "latch: %s\n", error->message);
      return EXIT_CANT_EXECUTE;
    case LATCH_RUN_ERROR:
      /* The command is gone (killed): the lock can go too. */
      latch_unlock (h, TRUE);
      fprintf (stderr, "latch: %s\n", error->message);
      return EXIT_ERROR;
    case LATCH_RUN_LOCK_LOST:
      {
        /* Which daemon, when it is not this host's own: through the
         * agent, the upstream (or the agent) is what went away. */
        g_autofree char *where
            = config->unicast_address == NULL
                  ? g_strdup ("")
                  : g_strdup_printf (" at %s port %d%s", config->unicast_address,
                                     config->unicast_port,
                                     latch_autostart_uses_agent (config)
                                         ? " (through this host's agent)" : "");

        /* What the daemon or the agent said, when it said anything. */
        if (latch_check (h) == LATCH_RC_CONNECTION_CLOSED && latch_get_error (h)[0] != '\0')
          fprintf (stderr, "latch: while '%s' was running, %s%s; the command was stopped\n",
                   command[0], latch_get_error (h),
                   latch_autostart_uses_agent (config) ? " (through this host's agent)" : "");
        else
          fprintf (stderr, "latch: lost the connection to the daemon%s while '%s' was "
                   "running: the lock on '%s' is gone, so the command was stopped\n",
                   where, command[0], latch_get_resource_name (h));
      }
      return EXIT_ERROR;
    case LATCH_RUN_EXITED:
      break;
    }
  /* latch_unlock() and the latch_handle_free() that follows return once
   * the daemon has acted on the unlock: a shell that sees latch end may
   * start the next holder at once. */
  rc = latch_unlock (h, status.exit_status != 0);
  if (rc != LATCH_RC_OK)
    {
      /* The command finished, but the lock was lost before the unlock:
       * its work may have overlapped another holder's. */
      fprintf (stderr, "latch: %s\n", latch_get_error (h));
      return EXIT_ERROR;
    }
  *die_signal = status.term_signal;
  return status.exit_status;
}

/* --debug-feature: the diagnostics are a program of their own (it links
 * GnuTLS, which this command does not load), given the same arguments.
 * Returns only on failure: 1, as every failed debug feature (FLoM's
 * convention). */
static int
run_debug_tool (char **args)
{
  static const LatchCompanion debug_tool = { "LATCH_DEBUG_TOOL", "latch-debug",
                                             LATCH_DEBUG_PATH };
  LatchCompanionSource source;
  g_autofree char *fix = NULL;
  int saved;

  g_free (args[0]);
  args[0] = latch_companion_path (&debug_tool, &source);
  execv (args[0], args);
  saved = errno;
  fix = latch_companion_fix (&debug_tool, source);
  fprintf (stderr, "latch: cannot run the debug tool %s: %s (%s)\n", args[0],
           g_strerror (saved), fix);
  return 1;
}

/* The options of `latch status`, refused elsewhere. */
static struct
{
  gboolean json;
  gboolean names;
  gboolean metrics;
} status_opts;

static const GOptionEntry status_entries[] = {
  { "json", 0, 0, G_OPTION_ARG_NONE, &status_opts.json,
    "With status: one JSON document (schema in doc/status.md)", NULL },
  { "names", 0, 0, G_OPTION_ARG_NONE, &status_opts.names,
    "With status: the names of the resources, one per line", NULL },
  { "metrics", 0, 0, G_OPTION_ARG_NONE, &status_opts.metrics,
    "With status: the daemon's metrics (Prometheus text format)", NULL },
  { NULL, 0, 0, 0, NULL, NULL, NULL },
};

/* What latch --help says around the options. */
static const LatchOptionsSpec command_options = {
  .program = LATCH_PROGRAM_COMMAND,
  .parameter_string = "[-- COMMAND [ARG…] | status [--json|--names|--metrics]]",
  .summary = "Runs COMMAND only while it holds a lock on a resource (-r), "
             "serialized through a daemon that the first command starts.\n"
             "status: who holds and who waits for each resource (or -r's only), "
             "as the daemon sees it;\nit never starts a daemon (a command named "
             "status runs as latch -- status).",
  .extra = status_entries,
  .description =
      "Exit status: COMMAND's own (128+N if signal N killed it: latch then "
      "ends by that signal too),\n"
      "96 the resource does not exist and -e no forbids creating it, 97 "
      "COMMAND cannot be run,\n"
      "98 busy (-o 0) or timeout (-o MS), 99 any other error.\n"
      "latch status: 0, or 99 when the daemon cannot be reached or refuses.\n"
      "\n"
      "See latch(1) for resource types, lock modes, the network and the "
      "security levels.",
};

/* Is the command line `latch [OPTIONS] status ...`?  GLib hands back the
 * words that are not options before "--" and all the words after it
 * together, as the command: only a first word before "--" names the
 * subcommand, so that a command named status runs as latch -- status.
 * FALSE with an error when status is given anything else. */
static gboolean
is_status_request (char **original, char **command, gboolean *is_status, GError **error)
{
  guint n = command != NULL ? g_strv_length (command) : 0;
  guint after = 0; /* words after the first "--" */
  guint before;

  *is_status = FALSE;
  for (guint i = 1; original[i] != NULL; i++)
    if (strcmp (original[i], "--") == 0)
      {
        after = g_strv_length (original + i + 1);
        break;
      }
  before = n > after ? n - after : 0;
  if (before == 0 || strcmp (command[0], "status") != 0)
    return TRUE;
  if (n > 1)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                   "status takes no argument ('%s'); a command named status runs "
                   "as latch -- status", command[1]);
      return FALSE;
    }
  *is_status = TRUE;
  return TRUE;
}

/* Was -r given on the command line?  Only there does it narrow `latch
 * status` (a configuration file's resource name is every command's
 * default, not a question). */
static gboolean
resource_on_command_line (const LatchOptions *opts)
{
  g_autoptr (LatchConfig) only_options = latch_config_new ();

  return latch_options_apply (opts, only_options, NULL)
         && strcmp (only_options->resource_name, LATCH_DEFAULT_RESOURCE_NAME) != 0;
}

static int
run (int argc, char **argv, int *die_signal)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LatchConfig) config = latch_config_new ();
  g_auto (GStrv) original = g_strdupv (argv);
  LatchOptions opts = { 0 };
  WaitState wait = { config, NULL };
  LatchStatusFormat format = LATCH_CLI_STATUS_TEXT;
  gboolean want_status = FALSE;
  LatchHandle *h;
  int status;

  if (!latch_options_parse (&opts, &argc, &argv, &command_options, &error)
      || !is_status_request (original, opts.command, &want_status, &error))
    {
      fprintf (stderr, "latch: %s (see latch --help)\n", error->message);
      latch_options_clear (&opts);
      return EXIT_ERROR;
    }
  if (status_opts.json + status_opts.names + status_opts.metrics > 1
      || ((status_opts.json || status_opts.names || status_opts.metrics)
          && (!want_status || opts.debug_feature != NULL)))
    {
      fprintf (stderr, "latch: %s (see latch --help)\n",
               want_status ? "--json, --names and --metrics exclude each other"
                           : "--json, --names and --metrics go with status only: "
                             "latch status --json");
      latch_options_clear (&opts);
      return EXIT_ERROR;
    }
  if (want_status && (opts.quiesce_exit || opts.immediate_exit))
    {
      fprintf (stderr, "latch: status and -x/-X exclude each other (see latch --help)\n");
      latch_options_clear (&opts);
      return EXIT_ERROR;
    }
  format = status_opts.json      ? LATCH_CLI_STATUS_JSON
           : status_opts.names   ? LATCH_CLI_STATUS_NAMES
           : status_opts.metrics ? LATCH_CLI_STATUS_METRICS
                                 : LATCH_CLI_STATUS_TEXT;
  if (opts.debug_feature != NULL)
    {
      latch_options_clear (&opts);
      return run_debug_tool (original);
    }
  if (opts.version || opts.signal_list)
    {
      g_autoptr (GString) list = g_string_new (NULL);

      if (opts.version)
        print_version ();
      if (opts.signal_list)
        {
          latch_signal_list (list);
          fputs (list->str, stdout);
        }
      latch_options_clear (&opts);
      return 0;
    }
  if (opts.unique_id)
    {
      const char *id = latch_machine_id_get (&error);

      latch_options_clear (&opts);
      if (id == NULL)
        return report_error (error);
      printf ("%s\n", id);
      return 0;
    }

  if (!latch_config_load_files (config, NULL, NULL, opts.config_file, &error)
      || !latch_options_apply (&opts, config, &error))
    {
      latch_options_clear (&opts);
      return report_error (error);
    }
  if (!latch_log_init ("latch",
                       config->command_trace_file != NULL ? LATCH_LOG_TO_FILE
                                                          : LATCH_LOG_TO_STDERR,
                       config->command_trace_file, config->append_trace_file,
                       FALSE, &error))
    {
      latch_options_clear (&opts);
      return report_error (error);
    }
  if (config->verbose)
    {
      g_autoptr (GString) dump = g_string_new (NULL);

      latch_config_dump (config, dump);
      fputs (dump->str, stdout);
      fflush (stdout);
    }
  if (!latch_config_validate (config, &error))
    {
      latch_options_clear (&opts);
      return report_error (error);
    }

  if (want_status)
    {
      status = latch_cli_status (config, format,
                                 resource_on_command_line (&opts) ? config->resource_name
                                                                  : NULL);
      latch_options_clear (&opts);
      latch_log_shutdown ();
      return status;
    }
  if (config->verbose)
    warn_ignored_settings (config);
  h = handle_from_config (config, &wait);
  if (h == NULL)
    status = EXIT_ERROR;
  else if (opts.quiesce_exit || opts.immediate_exit)
    status = shutdown_daemon (h, config, opts.immediate_exit);
  else if (opts.command == NULL || opts.command[0] == NULL)
    {
      fprintf (stderr, "latch: no command to run: give one after '--', "
               "e.g. latch -r %s -- ./job.sh\n", config->resource_name);
      status = EXIT_CANT_EXECUTE;
    }
  else
    status = run_locked (h, config, &wait, opts.command, die_signal);

  latch_notice_free (wait.notice);
  latch_handle_free (h);
  latch_options_clear (&opts);
  latch_log_shutdown ();
  latch_exec_shutdown ();
  return status;
}

int
main (int argc, char **argv)
{
  int die_signal = 0;
  int status;

  /* GLib's --help and messages in the user's language and charset
   * ("[OPTION…]", not "[OPTION?]"). */
  setlocale (LC_ALL, "");
  g_set_prgname ("latch");
  status = run (argc, argv, &die_signal);
  if (die_signal != 0)
    {
      /* The command was killed by a signal and the lock is released: end
       * by the same signal, as shells expect of a wrapper (a loop stops
       * on Ctrl-C, `wait` reports the signal), not with 128 + N. */
      fflush (NULL);
      latch_exec_die_by_signal (die_signal);
    }
  return status;
}
