/* options.c: the command line, driven by the settings table.
 *
 * Every valued setting option is read as a plain string by GOptionContext
 * (through a callback) and checked by latch_options_apply(), so that an
 * error names the option, the value and what is expected.  What was given
 * is kept per setting, which is how a command-line value beats the files
 * even when it equals the default. */

#include "config.h"

#include "settings/settings.h"
#include "settings/settings-table.h"

#include "common/error.h"

#include <string.h>

typedef struct
{
  /* Per row of latch_settings: the values given, in order (NULL: the
   * option was not given).  A FLAG's values are NULL pointers. */
  GPtrArray **given;
} OptionsPriv;

static void
options_priv_free (OptionsPriv *priv)
{
  gsize i;

  if (priv == NULL)
    return;
  for (i = 0; i < latch_n_settings; i++)
    g_clear_pointer (&priv->given[i], g_ptr_array_unref);
  g_free (priv->given);
  g_free (priv);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (OptionsPriv, options_priv_free)

char *
latch_setting_option_label (const LatchSetting *setting)
{
  if (setting->short_name != 0)
    return g_strdup_printf ("-%c/--%s", setting->short_name,
                            setting->long_name);
  return g_strdup_printf ("--%s", setting->long_name);
}

/* The row of an option as GOptionContext names it ("-o", "--lock-mode"). */
static gssize
find_option_row (const char *option_name)
{
  gsize i;

  for (i = 0; i < latch_n_settings; i++)
    {
      const LatchSetting *setting = &latch_settings[i];

      if (option_name[0] == '-' && option_name[1] == '-')
        {
          if (strcmp (option_name + 2, setting->long_name) == 0)
            return (gssize) i;
        }
      else if (option_name[0] == '-' && option_name[1] != '\0'
               && option_name[2] == '\0' && setting->short_name != 0
               && option_name[1] == setting->short_name)
        return (gssize) i;
    }
  return -1;
}

static gboolean
setting_option_cb (const char *option_name, const char *value, gpointer data,
                   GError **error)
{
  OptionsPriv *priv = data;
  g_autofree char *label = NULL;
  const LatchSetting *setting;
  gssize row = find_option_row (option_name);

  if (row < 0)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                   "Unknown option %s", option_name);
      return FALSE;
    }
  setting = &latch_settings[row];
  if (setting->kind == LATCH_SETTING_UNSUPPORTED)
    {
      label = latch_setting_option_label (setting);
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                   "%s is not supported by this latch version yet", label);
      return FALSE;
    }
  if (priv->given[row] == NULL)
    priv->given[row] = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (priv->given[row], g_strdup (value));
  return TRUE;
}

static void
add_entry (GArray *entries, const char *long_name, char short_name,
           int flags, GOptionArg arg, gpointer arg_data,
           const char *description, const char *arg_description)
{
  GOptionEntry entry = { long_name, short_name,      flags,
                         arg,       arg_data,        description,
                         arg_description };

  g_array_append_val (entries, entry);
}

static void
add_setting_entries (GArray *entries, GPtrArray *strings, LatchProgram program)
{
  gsize i;

  for (i = 0; i < latch_n_settings; i++)
    {
      const LatchSetting *setting = &latch_settings[i];
      int flags = 0;
      char *description = NULL;

      if (program == LATCH_PROGRAM_DAEMON && !setting->daemon)
        continue;

      /* Values are taken as bytes (G_OPTION_FLAG_FILENAME): resource names
       * and paths need no charset conversion, and skipping it spares every
       * run the loading of iconv's tables (about 0.2 ms). */
      switch (setting->kind)
        {
        case LATCH_SETTING_FLAG:
          flags = G_OPTION_FLAG_NO_ARG;
          break;
        case LATCH_SETTING_UNSUPPORTED:
          /* Known, so that it is refused as unsupported, not unknown. */
          flags = G_OPTION_FLAG_HIDDEN | G_OPTION_FLAG_FILENAME;
          break;
        default:
          flags = G_OPTION_FLAG_FILENAME;
          break;
        }
      if (setting->help != NULL)
        {
          if (setting->def != NULL && setting->kind != LATCH_SETTING_FLAG)
            description = g_strdup_printf ("%s (default: %s)", setting->help,
                                           setting->def);
          else
            description = g_strdup (setting->help);
          g_ptr_array_add (strings, description);
        }
      add_entry (entries, setting->long_name, setting->short_name, flags,
                 G_OPTION_ARG_CALLBACK, (gpointer) setting_option_cb,
                 description, setting->arg);
    }
}

static void add_command_entries (GArray *entries, LatchOptions *parsed);

gboolean
latch_options_parse (LatchOptions *opts, int *argc, char ***argv,
                     const LatchOptionsSpec *spec, GError **error)
{
  gboolean is_command = spec->program == LATCH_PROGRAM_COMMAND;
  LatchOptions parsed = { 0 };
  g_autoptr (OptionsPriv) priv = g_new0 (OptionsPriv, 1);
  /* Strings the context points to: they must outlive it. */
  g_autoptr (GPtrArray) strings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GArray) entries = g_array_new (TRUE, TRUE, sizeof (GOptionEntry));
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) local_error = NULL;
  GOptionGroup *group;

  g_return_val_if_fail (opts != NULL, FALSE);
  g_return_val_if_fail (argc != NULL && argv != NULL, FALSE);
  g_return_val_if_fail (spec != NULL, FALSE);

  priv->given = g_new0 (GPtrArray *, latch_n_settings);

  add_entry (entries, "version", 'v', 0, G_OPTION_ARG_NONE, &parsed.version,
             "Print the version and exit", NULL);
  add_entry (entries, "config-file", 'c', 0, G_OPTION_ARG_FILENAME,
             &parsed.config_file,
             is_command ? "Configuration file read after the system and user ones"
                        : "Configuration file (the daemon reads no other; its "
                          "starter passes every daemon setting as an option)",
             "FILE");
  add_setting_entries (entries, strings, spec->program);
  if (is_command)
    add_command_entries (entries, &parsed);

  context = g_option_context_new (spec->parameter_string);
  g_option_context_set_summary (context, spec->summary);
  g_option_context_set_description (context, spec->description);
  group = g_option_group_new (NULL, NULL, NULL, priv, NULL);
  g_option_group_add_entries (group, (const GOptionEntry *) entries->data);
  if (spec->extra != NULL)
    g_option_group_add_entries (group, spec->extra);
  g_option_context_set_main_group (context, group);

  if (!g_option_context_parse (context, argc, argv, &local_error))
    {
      /* GLib has reverted what it stored. */
      g_clear_pointer (&parsed.config_file, g_free);
      g_clear_pointer (&parsed.debug_feature, g_free);
      g_clear_pointer (&parsed.command, g_strfreev);
      g_set_error_literal (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                           local_error->message);
      return FALSE;
    }
  if (!is_command && *argc > 1)
    {
      /* GLib leaves what is not an option, "--" included, in argv. */
      const char *arg = strcmp ((*argv)[1], "--") == 0 && *argc > 2 ? (*argv)[2]
                                                                   : (*argv)[1];

      g_clear_pointer (&parsed.config_file, g_free);
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                   "unexpected argument '%s': latchd takes options only (a "
                   "command runs under a lock with latch -- COMMAND)", arg);
      return FALSE;
    }
  if (parsed.command != NULL && parsed.command[0] == NULL)
    g_clear_pointer (&parsed.command, g_strfreev);
  parsed.priv = g_steal_pointer (&priv);
  *opts = parsed;
  return TRUE;
}

/* The command's own entries: what it does instead of running a command,
 * and the command itself. */
static void
add_command_entries (GArray *entries, LatchOptions *parsed)
{
  add_entry (entries, "signal-list", 0, 0, G_OPTION_ARG_NONE,
             &parsed->signal_list,
             "Print the signals --ignore-signal accepts and exit", NULL);
  add_entry (entries, "unique-id", 0, 0, G_OPTION_ARG_NONE,
             &parsed->unique_id, "Print the unique id of this host and exit",
             NULL);
  add_entry (entries, "debug-feature", 0, 0, G_OPTION_ARG_STRING,
             &parsed->debug_feature,
             "Run a diagnostic instead of a command: tls.server, tls.client, "
             "ipv6.multicast.server, ipv6.multicast.client (see latch(1))",
             "NAME");
  add_entry (entries, "quiesce-exit", 'x', 0, G_OPTION_ARG_NONE,
             &parsed->quiesce_exit,
             "Ask the daemon to exit once it has no more work, then exit",
             NULL);
  add_entry (entries, "immediate-exit", 'X', 0, G_OPTION_ARG_NONE,
             &parsed->immediate_exit,
             "Ask the daemon to exit at once, then exit", NULL);
  add_entry (entries, G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY,
             &parsed->command, NULL, NULL);
}

void
latch_options_clear (LatchOptions *opts)
{
  if (opts == NULL)
    return;
  g_free (opts->config_file);
  g_free (opts->debug_feature);
  g_strfreev (opts->command);
  options_priv_free (opts->priv);
  memset (opts, 0, sizeof *opts);
}

gboolean
latch_options_apply (const LatchOptions *opts, LatchConfig *config,
                     GError **error)
{
  const OptionsPriv *priv;
  g_autoptr (GArray) assignments = NULL;
  gsize i;
  guint j;

  g_return_val_if_fail (opts != NULL, FALSE);
  g_return_val_if_fail (config != NULL, FALSE);

  priv = opts->priv;
  if (priv == NULL)
    return TRUE;
  assignments = latch_assignments_new ();
  for (i = 0; i < latch_n_settings; i++)
    {
      const LatchSetting *setting = &latch_settings[i];
      GPtrArray *values = priv->given[i];
      LatchSettingValue value;
      guint32 signals = 0;

      if (values == NULL)
        continue;
      /* Every value is checked; the last one given wins, except for
       * --ignore-signal, whose values together replace the set. */
      for (j = 0; j < values->len; j++)
        {
          if (!latch_setting_parse (setting, values->pdata[j], &value, error))
            {
              g_autofree char *label = latch_setting_option_label (setting);

              g_prefix_error (error, "%s: ", label);
              return FALSE;
            }
          if (setting->kind == LATCH_SETTING_SIGNALS)
            signals |= value.sigs;
          else
            latch_assignments_add (assignments, setting, &value);
        }
      if (setting->kind == LATCH_SETTING_SIGNALS)
        {
          value.sigs = signals;
          latch_assignments_add (assignments, setting, &value);
        }
    }
  latch_assignments_commit (assignments, config);
  return TRUE;
}
