/* log.h: one log for each process.
 *
 * Lines go to a trace file (-t / -T), to syslog (a daemon started in the
 * background), to the systemd journal as native entries (a daemon under
 * systemd, --log-target), or to stderr.  Debug lines are written only when debug logging is
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
  LATCH_LOG_TO_JOURNAL,
} LatchLogTarget;

struct iovec;

/* How the journal target hands over an entry: sd_journal_sendv ()'s
 * signature (0, or a negative errno).  latchd passes it when the journal
 * is its target, having loaded libsystemd then (daemon/daemon-sd.h); the
 * command that shares this file never loads it. */
typedef int (*LatchLogJournalSend) (const struct iovec *iov, int n);
void latch_log_set_journal_send (LatchLogJournalSend send);

/* Whether stderr is a stream to the journal: systemd sets JOURNAL_STREAM
 * to that stream's "DEVICE:INODE" for a service whose output goes there,
 * and stderr is that stream while the two match (a redirection made
 * since does not). */
gboolean latch_log_stderr_is_journal (void);

/* path is used with LATCH_LOG_TO_FILE; a file that cannot be opened is an
 * error (nothing changes), and so is LATCH_LOG_TO_JOURNAL without a
 * sender (latch_log_set_journal_send).  ident names the program in each
 * line (the journal's SYSLOG_IDENTIFIER). */
gboolean latch_log_init (const char *ident, LatchLogTarget target,
                         const char *path, gboolean append, gboolean debug,
                         GError **error);
void latch_log_shutdown (void);
gboolean latch_log_is_debug (void);
void latch_log_set_debug (gboolean debug);

void latch_log_write (LatchLogLevel level, const char *file, int line,
                      const char *func, const char *format, ...)
    G_GNUC_PRINTF (5, 6);

/* The same, about a resource, a peer or a refusal: each of resource,
 * peer (the connection's label) and reason that is not NULL becomes a
 * field of the journal entry (LATCH_RESOURCE, LATCH_PEER, LATCH_REASON)
 * that journalctl can select on.  The text is written as given: the
 * other targets get the same line as latch_log_write would, so it should
 * name them itself. */
void latch_log_write_fields (LatchLogLevel level, const char *file, int line,
                             const char *func, const char *resource,
                             const char *peer, const char *reason,
                             const char *format, ...) G_GNUC_PRINTF (8, 9);

#define LATCH_LOG(level, ...) \
  latch_log_write ((level), __FILE__, __LINE__, G_STRFUNC, __VA_ARGS__)
#define latch_log_fields(level, resource, peer, reason, ...)                  \
  latch_log_write_fields ((level), __FILE__, __LINE__, G_STRFUNC, (resource), \
                          (peer), (reason), __VA_ARGS__)
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
