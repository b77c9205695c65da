/* status.c: `latch status`, the waiting notice and the holder of a busy
 * resource (status.h). */
#include "config.h"

#include "cli/status.h"

#include "client/autostart.h"
#include "client/client.h"
#include "common/error.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>

/* A notice's query: a daemon that does not answer within this long gets
 * a notice without details (the command goes on waiting regardless). */
#define NOTICE_QUERY_MS 2000

/* What --json prints when no daemon runs: the document of a daemon that
 * holds nothing (doc/status.md), so that a script parses it as any other. */
#define EMPTY_JSON "{\"version\":1,\"taken_us\":%" G_GINT64_FORMAT ",\"resources\":[]}"

static const char *
what_for (LatchStatusFormat format)
{
  switch (format)
    {
    case LATCH_CLI_STATUS_JSON:
      return "json";
    case LATCH_CLI_STATUS_NAMES:
      return "names";
    case LATCH_CLI_STATUS_METRICS:
      return "metrics";
    case LATCH_CLI_STATUS_TEXT:
    default:
      return "text";
    }
}

/* A handle for one query: the command's settings, its own connection. */
static LatchHandle *
query_handle (const LatchConfig *config, GError **error)
{
  LatchHandle *q = latch_handle_new ();

  if (latch_client_set_config (q, config) != LATCH_RC_OK)
    {
      g_set_error_literal (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION, latch_get_error (q));
      latch_handle_free (q);
      return NULL;
    }
  return q;
}

int
latch_cli_status (const LatchConfig *config, LatchStatusFormat format, const char *resource)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) lines = NULL;
  g_autofree char *reason = NULL;
  LatchHandle *q = query_handle (config, &error);
  gboolean answered;
  int rc = 0;

  if (q == NULL)
    {
      fprintf (stderr, "latch: %s\n", error->message);
      return 99;
    }
  answered = latch_client_status (q, what_for (format), resource, 0, 0, &lines, &rc, &reason,
                                  &error);
  latch_handle_free (q);
  if (!answered && g_error_matches (error, LATCH_ERROR, LATCH_ERROR_NO_DAEMON))
    {
      /* Nobody can hold anything there: an answer, not a failure.  The
       * machine-readable forms stay parseable (and completion quiet). */
      if (format == LATCH_CLI_STATUS_TEXT)
        printf ("latch: %s: nothing is locked\n", error->message);
      else if (format == LATCH_CLI_STATUS_JSON)
        printf (EMPTY_JSON "\n", g_get_real_time ());
      return 0;
    }
  if (!answered)
    {
      fprintf (stderr, "latch: %s\n", error->message);
      return 99;
    }
  if (rc >= 2)
    {
      fprintf (stderr, "latch: the daemon refused the status request: %s\n",
               reason != NULL && *reason != '\0' ? reason : "no reason given");
      return 99;
    }
  /* The JSON document comes in pieces to be joined (doc/status.md); the
   * other renderings line by line. */
  for (guint i = 0; i < lines->len; i++)
    printf (format == LATCH_CLI_STATUS_JSON ? "%s" : "%s\n",
            (const char *)g_ptr_array_index (lines, i));
  if (format == LATCH_CLI_STATUS_JSON)
    putchar ('\n');
  if (fflush (stdout) != 0)
    {
      fprintf (stderr, "latch: writing the status: %s\n", g_strerror (errno));
      return 99;
    }
  return 0;
}

/* The first line of an answer with rc 0 (transfer full), else NULL. */
static char *
first_line (gboolean answered, int rc, GPtrArray *lines)
{
  if (!answered || rc != 0 || lines == NULL || lines->len == 0)
    return NULL;
  return g_strdup (g_ptr_array_index (lines, 0));
}

char *
latch_cli_status_holder (const LatchConfig *config, const char *resource, int timeout_ms)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) lines = NULL;
  g_autofree char *reason = NULL;
  LatchHandle *q = query_handle (config, &error);
  gboolean answered;
  int rc = 0;

  if (q == NULL)
    return NULL;
  latch_set_resource_timeout (q, timeout_ms);
  answered = latch_client_status (q, "holder", resource, 0, 0, &lines, &rc, &reason, &error);
  latch_handle_free (q);
  return first_line (answered, rc, lines);
}

/* ---- the waiting notice --------------------------------------------- */

struct LatchNotice
{
  GMutex mutex;
  GCond cond;
  gboolean stopped;   /* under mutex: print nothing more */
  GThread *thread;
  LatchHandle *query; /* the thread's alone */
  char *resource;
  int port;           /* of the lock's TCP connection; 0: none (UNIX socket) */
  guint64 id;         /* the session lock id; 0: none */
  gboolean holder_only; /* through the agent: the daemon cannot tell which request is ours */
  gint64 first_at;    /* monotonic µs */
};

static char *
notice_query (LatchNotice *n)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) lines = NULL;
  g_autofree char *reason = NULL;
  int rc = 0;
  gboolean answered;

  answered = latch_client_status (n->query, n->holder_only ? "holder" : "wait", n->resource,
                                  n->port, n->id, &lines, &rc, &reason, &error);
  return first_line (answered, rc, lines);
}

static gpointer
notice_thread (gpointer data)
{
  LatchNotice *n = data;
  gint64 at = n->first_at;

  g_mutex_lock (&n->mutex);
  for (;;)
    {
      g_autofree char *detail = NULL;

      while (!n->stopped && g_cond_wait_until (&n->cond, &n->mutex, at))
        ;
      if (n->stopped)
        break;
      /* The query may take a while (a TLS handshake): the lock's grant
       * must not wait for it, so the mutex is not held meanwhile. */
      g_mutex_unlock (&n->mutex);
      detail = notice_query (n);
      g_mutex_lock (&n->mutex);
      if (n->stopped)
        break;
      /* A failed query is no error of the command's: the notice then
       * says only that it waits. */
      if (detail != NULL)
        fprintf (stderr, "latch: waiting for '%s': %s\n", n->resource, detail);
      else
        fprintf (stderr, "latch: waiting for '%s'\n", n->resource);
      at = g_get_monotonic_time () + (gint64)LATCH_NOTICE_REPEAT_MS * 1000;
    }
  g_mutex_unlock (&n->mutex);
  return NULL;
}

LatchNotice *
latch_notice_start (LatchHandle *lock_handle, const LatchConfig *config, int first_ms)
{
  g_autoptr (GError) error = NULL;
  LatchNotice *n;
  sigset_t all, old;

  if (first_ms <= 0)
    return NULL;
  n = g_new0 (LatchNotice, 1);
  n->query = query_handle (config, &error);
  if (n->query == NULL)
    {
      g_free (n);
      return NULL;
    }
  latch_set_resource_timeout (n->query, NOTICE_QUERY_MS);
  n->resource = g_strdup (latch_get_resource_name (lock_handle));
  n->holder_only = latch_autostart_uses_agent (config);
  if (!n->holder_only)
    latch_client_wait_target (lock_handle, &n->port, &n->id);
  n->first_at = g_get_monotonic_time () + (gint64)first_ms * 1000;
  g_mutex_init (&n->mutex);
  g_cond_init (&n->cond);
  /* Every signal stays the main thread's: the handlers of exec.c end
   * latch or forward the signal from there, and the thread must not
   * take one that a wait of the main thread is meant to see. */
  sigfillset (&all);
  pthread_sigmask (SIG_SETMASK, &all, &old);
  n->thread = g_thread_new ("latch-notice", notice_thread, n);
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  return n;
}

void
latch_notice_stop (LatchNotice *n)
{
  if (n == NULL)
    return;
  g_mutex_lock (&n->mutex);
  n->stopped = TRUE;
  g_cond_signal (&n->cond);
  g_mutex_unlock (&n->mutex);
}

void
latch_notice_free (LatchNotice *n)
{
  if (n == NULL)
    return;
  latch_notice_stop (n);
  g_thread_join (n->thread);
  latch_handle_free (n->query);
  g_free (n->resource);
  g_mutex_clear (&n->mutex);
  g_cond_clear (&n->cond);
  g_free (n);
}
