#include "config.h"

#include "common/log.h"

#include "common/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>
#include <unistd.h>

static LatchLogTarget log_target = LATCH_LOG_TO_STDERR;
static FILE *log_file;
static char *log_ident;
static gboolean log_debug;
static LatchLogJournalSend journal_send;

static const char *const level_names[] = { "ERROR", "WARNING", "INFO", "DEBUG" };
static const int syslog_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

gboolean
latch_log_init (const char *ident, LatchLogTarget target, const char *path,
                gboolean append, gboolean debug, GError **error)
{
  FILE *f = NULL;

  if (target == LATCH_LOG_TO_JOURNAL && journal_send == NULL)
    {
      g_set_error_literal (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                           "this program cannot log to the journal");
      return FALSE;
    }
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
latch_log_set_journal_send (LatchLogJournalSend send)
{
  journal_send = send;
}

gboolean
latch_log_stderr_is_journal (void)
{
  const char *stream = g_getenv ("JOURNAL_STREAM");
  unsigned long long dev, ino;
  struct stat st;
  char end;

  if (stream == NULL || sscanf (stream, "%llu:%llu%c", &dev, &ino, &end) != 2)
    return FALSE;
  return fstat (STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev
         && (unsigned long long)st.st_ino == ino;
}

/* One native journal entry: the message, its priority and origin, the
 * program's identifier (journald adds the pid, uid and the rest itself),
 * and the caller's fields.  FALSE when the journal did not take it. */
static gboolean
write_journal (LatchLogLevel level, const char *file, int line, const char *func,
               const char *resource, const char *peer, const char *reason,
               const char *text)
{
  g_autofree char *message = g_strconcat ("MESSAGE=", text, NULL);
  g_autofree char *priority = g_strdup_printf ("PRIORITY=%d", syslog_prio[level]);
  g_autofree char *code_file = g_strconcat ("CODE_FILE=", file, NULL);
  g_autofree char *code_line = g_strdup_printf ("CODE_LINE=%d", line);
  g_autofree char *code_func = g_strconcat ("CODE_FUNC=", func, NULL);
  g_autofree char *ident = g_strconcat ("SYSLOG_IDENTIFIER=",
                                        log_ident ? log_ident : g_get_prgname () ? g_get_prgname () : "latch",
                                        NULL);
  g_autofree char *f_resource = resource ? g_strconcat ("LATCH_RESOURCE=", resource, NULL) : NULL;
  g_autofree char *f_peer = peer ? g_strconcat ("LATCH_PEER=", peer, NULL) : NULL;
  g_autofree char *f_reason = reason ? g_strconcat ("LATCH_REASON=", reason, NULL) : NULL;
  char *fields[] = { message, priority, code_file, code_line, code_func, ident,
                     f_resource, f_peer, f_reason };
  struct iovec iov[G_N_ELEMENTS (fields)];
  int n = 0;

  for (gsize i = 0; i < G_N_ELEMENTS (fields); i++)
    if (fields[i] != NULL)
      {
        iov[n].iov_base = fields[i];
        iov[n].iov_len = strlen (fields[i]);
        n++;
      }
  return journal_send (iov, n) >= 0;
}

static void
write_text (LatchLogLevel level, const char *file, int line, const char *func,
            const char *text)
{
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
}

static void
write_entry (LatchLogLevel level, const char *file, int line, const char *func,
             const char *resource, const char *peer, const char *reason,
             const char *text)
{
  /* A journal that does not answer (journald restarting, or gone) must
   * not swallow the line: stderr is the service's stream to it. */
  if (log_target == LATCH_LOG_TO_JOURNAL
      && write_journal (level, file, line, func, resource, peer, reason, text))
    return;
  write_text (level, file, line, func, text);
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
  write_entry (level, file, line, func, NULL, NULL, NULL, text);
  errno = saved_errno;
}

void
latch_log_write_fields (LatchLogLevel level, const char *file, int line,
                        const char *func, const char *resource, const char *peer,
                        const char *reason, const char *format, ...)
{
  int saved_errno = errno;
  va_list ap;
  g_autofree char *text = NULL;

  if (level == LATCH_LOG_DEBUG && !log_debug)
    return;
  va_start (ap, format);
  text = g_strdup_vprintf (format, ap);
  va_end (ap);
  write_entry (level, file, line, func, resource, peer, reason, text);
  errno = saved_errno;
}
