/* log.h: one log for each process.
 *
 * Lines go to a trace file (-t / -T), to syslog (a daemon without a trace
 * file), or to stderr.  Debug lines are written only when debug logging is
 * on (latch_log_init's debug, which latchd sets with -V, or LATCH_TRACE=1
 * in the environment).  Messages about a
 * connection start with the peer label. */
#ifndef LATCH_COMMON_LOG_H
#define LATCH_COMMON_LOG_H

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  LATCH_LOG_ERROR,
  LATCH_LOG_WARNING,
  LATCH_LOG_INFO,
  LATCH_LOG_DEBUG,
} LatchLogLevel;

typedef enum
{
  LATCH_LOG_TO_STDERR,
  LATCH_LOG_TO_FILE,
  LATCH_LOG_TO_SYSLOG,
} LatchLogTarget;

/* path is used with LATCH_LOG_TO_FILE; a file that cannot be opened is an
 * error (nothing changes).  ident names the program in each line. */
gboolean latch_log_init (const char *ident, LatchLogTarget target,
                         const char *path, gboolean append, gboolean debug,
                         GError **error);
void latch_log_shutdown (void);
gboolean latch_log_is_debug (void);
void latch_log_set_debug (gboolean debug);

void latch_log_write (LatchLogLevel level, const char *file, int line,
                      const char *func, const char *format, ...)
    G_GNUC_PRINTF (5, 6);

#define LATCH_LOG(level, ...) \
  latch_log_write ((level), __FILE__, __LINE__, G_STRFUNC, __VA_ARGS__)
#define latch_log_error(...) LATCH_LOG (LATCH_LOG_ERROR, __VA_ARGS__)
#define latch_log_warning(...) LATCH_LOG (LATCH_LOG_WARNING, __VA_ARGS__)
#define latch_log_info(...) LATCH_LOG (LATCH_LOG_INFO, __VA_ARGS__)
#define latch_log_debug(...)                         \
  G_STMT_START                                       \
  {                                                  \
    if (latch_log_is_debug ())                       \
      LATCH_LOG (LATCH_LOG_DEBUG, __VA_ARGS__);      \
  }                                                  \
  G_STMT_END

G_END_DECLS

#endif
