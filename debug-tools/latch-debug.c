/* latch-debug.c: `latch --debug-feature=NAME`, run as a program of its own
 * (it links GnuTLS; the latch command does not).  It takes latch's whole
 * command line, builds the configuration the same way latch does, and
 * runs the feature. */
#include "config.h"

#include "debug-tools.h"

#include "settings/settings.h"
#include "common/log.h"

#include <stdio.h>
#include <string.h>

#define FEATURE_LIST "tls.server, tls.client, ipv6.multicast.server, ipv6.multicast.client"

typedef enum
{
  FEATURE_TLS_SERVER,
  FEATURE_TLS_CLIENT,
  FEATURE_MCAST_SERVER,
  FEATURE_MCAST_CLIENT,
  FEATURE_UNKNOWN,
} Feature;

static Feature
feature_from_name (const char *name)
{
  if (strcmp (name, "tls.server") == 0)
    return FEATURE_TLS_SERVER;
  if (strcmp (name, "tls.client") == 0)
    return FEATURE_TLS_CLIENT;
  if (strcmp (name, "ipv6.multicast.server") == 0)
    return FEATURE_MCAST_SERVER;
  if (strcmp (name, "ipv6.multicast.client") == 0)
    return FEATURE_MCAST_CLIENT;
  return FEATURE_UNKNOWN;
}

/* A configuration that cannot be built is a failure like any other: said
 * in the verdict's form, exit 1. */
static int
config_failed (const GError *error)
{
  printf ("FAIL: %s\n", error->message);
  printf ("FIX: correct the option or the configuration file named above\n");
  return 1;
}

static int
run (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LatchConfig) config = latch_config_new ();
  LatchOptions opts = { 0 };
  Feature feature;
  int status;
  const LatchOptionsSpec spec = { .program = LATCH_PROGRAM_COMMAND,
                                  .parameter_string = "[-- COMMAND [ARG…]]" };

  if (!latch_options_parse (&opts, &argc, &argv, &spec, &error))
    {
      fprintf (stderr, "latch: %s (see latch --help)\n", error->message);
      latch_options_clear (&opts);
      return 1;
    }
  if (opts.debug_feature == NULL)
    {
      fprintf (stderr, "latch: latch-debug needs --debug-feature=NAME, one of: %s\n",
               FEATURE_LIST);
      latch_options_clear (&opts);
      return 1;
    }
  feature = feature_from_name (opts.debug_feature);
  if (feature == FEATURE_UNKNOWN)
    {
      g_autofree char *q = g_strescape (opts.debug_feature, NULL);

      fprintf (stderr, "latch: unknown debug feature '%s': use one of %s\n", q,
               FEATURE_LIST);
      latch_options_clear (&opts);
      return 1;
    }

  if (!latch_config_load_files (config, NULL, NULL, opts.config_file, &error)
      || !latch_options_apply (&opts, config, &error))
    {
      latch_options_clear (&opts);
      return config_failed (error);
    }
  latch_options_clear (&opts);
  if (!latch_log_init ("latch",
                       config->command_trace_file != NULL ? LATCH_LOG_TO_FILE
                                                          : LATCH_LOG_TO_STDERR,
                       config->command_trace_file, config->append_trace_file, FALSE,
                       &error))
    return config_failed (error);
  if (!latch_config_validate (config, &error))
    status = config_failed (error);
  else
    switch (feature)
      {
      case FEATURE_TLS_SERVER:
      case FEATURE_TLS_CLIENT:
        status = latch_debug_tls_run (config, feature == FEATURE_TLS_SERVER);
        break;
      case FEATURE_MCAST_SERVER:
      case FEATURE_MCAST_CLIENT:
        status = latch_debug_mcast_run (config, feature == FEATURE_MCAST_SERVER);
        break;
      case FEATURE_UNKNOWN:
      default:
        g_assert_not_reached ();
      }
  fflush (stdout);
  latch_log_shutdown ();
  return status;
}

int
main (int argc, char **argv)
{
  g_set_prgname ("latch");
  return run (argc, argv);
}
