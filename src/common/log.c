#include "config.h"

#include "common/log.h"

#include "common/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

static LatchLogTarget log_target = LATCH_LOG_TO_STDERR;
static FILE *log_file;
static char *log_ident;
static gboolean log_debug;

static const char *const level_names[] = { "ERROR", "WARNING", "INFO", "DEBUG" };
static const int syslog_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

gboolean
latch_log_init (const char *ident, LatchLogTarget target, const char *path,
                gboolean append, gboolean debug, GError **error)
{
  FILE *f = NULL;

  if (target == LATCH_LOG_TO_FILE)
    {
      f = fopen (path, append ? "ae" : "we");
      if (f == NULL)
        {
          int saved = errno;
          g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                       "cannot open trace file %s: %s", path, g_strerror (saved));
          return FALSE;
        }
      setvbuf (f, NULL, _IOLBF, 0);
    }
  latch_log_shutdown ();
  log_target = target;
  log_file = f;
  log_ident = g_strdup (ident);
  log_debug = debug || g_strcmp0 (secure_getenv ("LATCH_TRACE"), "1") == 0;
  if (target == LATCH_LOG_TO_SYSLOG)
    openlog (log_ident, LOG_PID, LOG_DAEMON);
  return TRUE;
}

void
latch_log_shutdown (void)
{
  if (log_target == LATCH_LOG_TO_SYSLOG)
    closelog ();
  if (log_file != NULL)
    fclose (log_file);
  log_file = NULL;
  log_target = LATCH_LOG_TO_STDERR;
  g_clear_pointer (&log_ident, g_free);
}

gboolean
latch_log_is_debug (void)
{
  return log_debug;
}

void
latch_log_set_debug (gboolean debug)
{
  log_debug = debug;
}

void
latch_log_write (LatchLogLevel level, const char *file, int line,
                 const char *func, const char *format, ...)
{
  int saved_errno = errno;
  va_list ap;
  g_autofree char *text = NULL;

  va_start (ap, format);
  text = g_strdup_vprintf (format, ap);
  va_end (ap);

  if (log_target == LATCH_LOG_TO_SYSLOG)
    {
      if (level == LATCH_LOG_DEBUG)
        syslog (syslog_prio[level], "%s: %s", func, text);
      else
        syslog (syslog_prio[level], "%s", text);
    }
  else if (log_file == NULL && level <= LATCH_LOG_WARNING && !log_debug
           && (log_ident == NULL || strcmp (log_ident, "latch") == 0))
    /* The command (or a program using liblatch) on a terminal: one
     * plain line, like its other messages. */
    fprintf (stderr, "latch: %s: %s\n", level == LATCH_LOG_ERROR ? "error" : "warning", text);
  else
    {
      FILE *out = log_file != NULL ? log_file : stderr;
      g_autoptr (GDateTime) now = g_date_time_new_now_local ();
      g_autofree char *stamp = g_date_time_format (now, "%Y-%m-%d %H:%M:%S.%f");
      const char *base = strrchr (file, '/');

      /* %f gives microseconds: keep milliseconds. */
      if (stamp != NULL && strlen (stamp) > 23)
        stamp[23] = '\0';
      fprintf (out, "%s %s[%ld] %s %s:%d %s: %s\n", stamp ? stamp : "-",
               log_ident ? log_ident : g_get_prgname () ? g_get_prgname () : "latch",
               (long)getpid (), level_names[level], base ? base + 1 : file, line,
               func, text);
      fflush (out);
    }
  errno = saved_errno;
}
