/* settings-table.h: the table of settings behind settings/settings.h (private).
 *
 * Each row describes one setting once: its options, its key in the
 * configuration files, its kind (which selects the value grammar), where
 * it lives in LatchConfig, its default, its help and whether latchd takes
 * it as well.  config.c (files,
 * defaults, dump) and options.c (command line) are driven by the rows.
 *
 * FLoM settings that latch does not implement yet have rows of kind
 * LATCH_SETTING_UNSUPPORTED: their key or option is refused with "not
 * supported by this latch version yet" instead of "unknown", and never
 * silently ignored.  Implementing one means filling in its row (and adding
 * the LatchConfig field).
 */
#ifndef LATCH_SETTINGS_SETTINGS_TABLE_H
#define LATCH_SETTINGS_SETTINGS_TABLE_H

#include <glib.h>

#include "settings/settings.h"

G_BEGIN_DECLS

typedef enum
{
  LATCH_SETTING_STRING,      /* char *, taken as written */
  LATCH_SETTING_PATH,        /* char *, taken as written; "" means none (NULL);
                                also addresses and interface names */
  LATCH_SETTING_INT,         /* int, latch_parse_int */
  LATCH_SETTING_BOOL,        /* gboolean, latch_parse_bool; option takes a value */
  LATCH_SETTING_FLAG,        /* gboolean; bool in files, option without value sets it */
  LATCH_SETTING_LOCK_MODE,   /* LatchLockMode, latch_parse_lock_mode */
  LATCH_SETTING_SIGNALS,     /* guint32 bit set; a ';' list in files, option repeatable */
  LATCH_SETTING_UNSUPPORTED, /* known to FLoM, not implemented by latch yet */
} LatchSettingKind;

/* A parsed value: str for STRING and PATH (owned), num for INT, BOOL, FLAG
 * and LOCK_MODE, sigs for SIGNALS. */
typedef union
{
  char *str;
  int num;
  guint32 sigs;
} LatchSettingValue;

/* Checks (and may normalise) a parsed value; the error message says what
 * is wrong without naming the source (the caller prefixes it). */
typedef gboolean (*LatchSettingCheck) (LatchSettingValue *value,
                                       GError **error);

typedef struct
{
  char short_name;         /* option letter, 0 when none */
  const char *long_name;   /* option name without "--" (FLoM's) */
  const char *group;       /* configuration file group */
  const char *key;         /* configuration file key */
  LatchSettingKind kind;
  gssize offset;           /* into LatchConfig; -1 when unsupported */
  const char *def;         /* default in the setting's own grammar, NULL: none */
  LatchSettingCheck check; /* NULL: every value of the grammar is good */
  const char *arg;         /* option argument in --help */
  const char *help;        /* option description in --help */
  const char *expect;      /* INT: what the number means, for error messages */
  gboolean daemon;         /* latchd takes it too (a daemon setting) */
} LatchSetting;

extern const LatchSetting latch_settings[];
extern const gsize latch_n_settings;

/* "-o/--resource-timeout", or "--ignore-signal" without a letter. */
char *latch_setting_option_label (const LatchSetting *setting);

/* Parses one value (for SIGNALS: one signal) and applies the row's check.
 * text is NULL only for a FLAG given on the command line.  On error *out
 * is untouched and the message does not name the source. */
gboolean latch_setting_parse (const LatchSetting *setting, const char *text,
                              LatchSettingValue *out, GError **error);

/* Pending assignments, so that a source is applied whole or not at all:
 * collect with latch_assignments_add, then commit (which cannot fail). */
GArray *latch_assignments_new (void);
void latch_assignments_add (GArray *assignments, const LatchSetting *setting,
                            LatchSettingValue *value); /* steals value->str */
void latch_assignments_commit (GArray *assignments, LatchConfig *config);

G_END_DECLS

#endif
