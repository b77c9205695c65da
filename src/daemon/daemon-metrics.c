/* daemon-metrics.c: the daemon's counters and gauges, in the Prometheus
 * text exposition format (0.0.4), and the optional HTTP endpoint that
 * serves them ([Daemon] MetricsAddress).
 *
 * Counters are kept by hooks (latch_daemon_metrics_*) that the daemon's
 * files call at the point where the event happens, one line each; gauges
 * are read from the daemon's state when the text is rendered, so they
 * cost nothing in the lock path.  Everything runs in the daemon's one
 * thread.
 *
 * The HTTP endpoint is a minimal responder on the daemon's own main loop
 * (fd watches, as the listener), not an HTTP library: latchd links GLib
 * alone and loads GnuTLS and libxml2 as modules only when they are used,
 * and a library server would bring GIO, GObject and a dozen more
 * libraries into every daemon's start-up, metrics on or off.  It answers
 * one GET per connection and closes; a request must fit in
 * HTTP_REQUEST_MAX bytes and arrive within HTTP_DEADLINE_MS, and at most
 * HTTP_MAX_CONNS connections are served at once, so a slow or hostile
 * scraper costs a few descriptors for a few seconds, never the loop.  It
 * has no authentication: whoever reaches the address reads the counts
 * (never a resource name, a peer or an identity). */
#include "config.h"

#include "daemon/daemon-private.h"

#include "common/autocleanup.h"
#include "common/log.h"
#include "net/tcp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Wait-time buckets, seconds (a lock may be awaited for milliseconds or
 * for a whole backup). */
static const double wait_buckets[] = { 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60 };
#define N_WAIT_BUCKETS G_N_ELEMENTS (wait_buckets)

/* Refusal reasons: a bounded set of labels, whatever rc a backend
 * passes on. */
typedef enum
{
  REFUSED_BUSY,
  REFUSED_CANT_WAIT,
  REFUSED_CANT_LOCK,
  REFUSED_IMPOSSIBLE,
  REFUSED_INVALID_NAME,
  REFUSED_INIT_ERROR,
  REFUSED_LIMIT_LOCKS,
  REFUSED_LIMIT_RESOURCES,
  REFUSED_LIMIT_WAITERS,
  REFUSED_LIMIT_IDLE_LIFESPAN,
  REFUSED_QUIESCING,
  REFUSED_TLS_MISMATCH,
  REFUSED_NOT_ALLOWED,
  REFUSED_PEER_ID,
  REFUSED_UNREACHABLE,
  REFUSED_TIMEOUT,
  REFUSED_OTHER,
  N_REFUSED
} RefusalReason;

static const char *const refusal_labels[N_REFUSED] = {
  "busy", "cant_wait", "cant_lock", "impossible", "invalid_name", "init_error",
  "limit_locks", "limit_resources", "limit_waiters", "limit_idle_lifespan",
  "quiescing", "tls_mismatch", "not_allowed", "peer_id", "unreachable", "timeout",
  "other",
};

/* TLS handshake failures, by what the daemon can tell of them. */
typedef enum
{
  TLS_FAIL_CLEAR,       /* the peer spoke clear text */
  TLS_FAIL_TIMEOUT,     /* no handshake within LATCH_TLS_HANDSHAKE_MS */
  TLS_FAIL_CERTIFICATE, /* we refused the peer's certificate (or its lack of one) */
  TLS_FAIL_ALERT,       /* the peer refused ours */
  TLS_FAIL_FAILED,      /* refused by the TLS layer, or the peer left: the log says which */
  N_TLS_FAIL
} TlsFailure;

static const char *const tls_failure_labels[N_TLS_FAIL] = {
  "clear", "timeout", "certificate", "alert", "failed",
};

#define N_MODES 6 /* LatchLockMode NL..EX */
static const char *const mode_labels[N_MODES + 1] = { "NL", "CR", "CW", "PR", "PW", "EX", "none" };

#define HTTP_REQUEST_MAX 8192
#define HTTP_DEADLINE_MS 5000
#define HTTP_MAX_CONNS 16

typedef struct _HttpServer HttpServer;

struct _LatchDaemonMetrics
{
  gint64 start_us;                  /* wall clock, at start-up */
  guint64 accepted[2];              /* [0] unix, [1] tcp */
  guint64 grants[N_MODES + 1];      /* by mode; [N_MODES]: a type without modes */
  guint64 waits;                    /* requests queued (or waiting for creation) */
  guint64 wait_counts[N_WAIT_BUCKETS + 1]; /* per bucket, not cumulative; last: +Inf */
  double wait_sum;                  /* seconds */
  guint64 refusals[N_REFUSED];
  guint64 cancellations;            /* a queued request withdrawn before its answer */
  guint64 lost;
  guint64 tls_ok;
  guint64 tls_failed[N_TLS_FAIL];
  guint64 revoked;
  guint64 http_requests;
  /* Requests queued now: LatchTableOwner* -> gint64* (monotonic µs when
   * queued), to time the wait and to tell a withdrawal from a release. */
  GHashTable *waiting;
  /* Clients whose TLS handshake has begun and not ended yet. */
  GHashTable *handshaking;
  HttpServer *http;
};

static void http_server_free (HttpServer *server);

LatchDaemonMetrics *
latch_daemon_metrics_new (void)
{
  LatchDaemonMetrics *m = g_new0 (LatchDaemonMetrics, 1);

  m->start_us = g_get_real_time ();
  m->waiting = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  m->handshaking = g_hash_table_new (NULL, NULL);
  return m;
}

void
latch_daemon_metrics_free (LatchDaemonMetrics *m)
{
  if (m == NULL)
    return;
  g_clear_pointer (&m->http, http_server_free);
  g_hash_table_destroy (m->waiting);
  g_hash_table_destroy (m->handshaking);
  g_free (m);
}

/* ------------------------------------------------------------------ */
/* Hooks */

void
latch_daemon_metrics_accepted (Daemon *d, Client *c)
{
  if (d->metrics == NULL)
    return;
  d->metrics->accepted[c->peer.is_local ? 0 : 1]++;
}

void
latch_daemon_metrics_tls_begin (Daemon *d, Client *c)
{
  if (d->metrics != NULL)
    g_hash_table_add (d->metrics->handshaking, c);
}

void
latch_daemon_metrics_tls_done (Daemon *d, Client *c)
{
  if (d->metrics != NULL && g_hash_table_remove (d->metrics->handshaking, c))
    d->metrics->tls_ok++;
}

static TlsFailure
tls_failure_of (const GError *reason)
{
  if (reason == NULL || reason->domain != LATCH_ERROR)
    return TLS_FAIL_FAILED;
  switch (reason->code)
    {
    case LATCH_ERROR_TIMEOUT: return TLS_FAIL_TIMEOUT;
    case LATCH_ERROR_TLS_CLEAR_PEER: return TLS_FAIL_CLEAR;
    case LATCH_ERROR_TLS_VERIFY: return TLS_FAIL_CERTIFICATE;
    case LATCH_ERROR_TLS_REFUSED: return TLS_FAIL_ALERT;
    default: return TLS_FAIL_FAILED;
    }
}

void
latch_daemon_metrics_closed (Daemon *d, Client *c, const GError *reason)
{
  LatchDaemonMetrics *m = d->metrics;

  if (m == NULL)
    return;
  /* Closed before its handshake ended: a failure, unless the daemon is
   * closing everything on its way out. */
  if (g_hash_table_remove (m->handshaking, c) && !d->exiting)
    m->tls_failed[tls_failure_of (reason)]++;
}

void
latch_daemon_metrics_revoked (Daemon *d)
{
  if (d->metrics != NULL)
    d->metrics->revoked++;
}

static RefusalReason
refusal_of (int rc)
{
  switch (rc)
    {
    case LATCH_RC_LOCK_BUSY: return REFUSED_BUSY;
    case LATCH_RC_LOCK_CANT_WAIT: return REFUSED_CANT_WAIT;
    case LATCH_RC_LOCK_CANT_LOCK: return REFUSED_CANT_LOCK;
    case LATCH_RC_LOCK_IMPOSSIBLE: return REFUSED_IMPOSSIBLE;
    case LATCH_RC_INVALID_RESOURCE_NAME: return REFUSED_INVALID_NAME;
    case LATCH_RC_RESOURCE_INIT_ERROR: return REFUSED_INIT_ERROR;
    case LATCH_RC_LIMIT_LOCKS_PER_CONNECTION: return REFUSED_LIMIT_LOCKS;
    case LATCH_RC_LIMIT_RESOURCES: return REFUSED_LIMIT_RESOURCES;
    case LATCH_RC_LIMIT_WAITERS: return REFUSED_LIMIT_WAITERS;
    case LATCH_RC_LIMIT_IDLE_LIFESPAN: return REFUSED_LIMIT_IDLE_LIFESPAN;
    case LATCH_RC_DAEMON_QUIESCING: return REFUSED_QUIESCING;
    case LATCH_RC_NO_TLS_CONNECTION: return REFUSED_TLS_MISMATCH;
    case LATCH_RC_CONNECTION_REFUSED: return REFUSED_NOT_ALLOWED;
    case LATCH_RC_UNIQUE_ID_DOES_NOT_MATCH: return REFUSED_PEER_ID;
    case LATCH_RC_CONNECTION_CLOSED: return REFUSED_UNREACHABLE;
    case LATCH_RC_NETWORK_TIMEOUT: return REFUSED_TIMEOUT;
    default: return REFUSED_OTHER;
    }
}

void
latch_daemon_metrics_refused (Daemon *d, Client *c, int rc)
{
  LatchDaemonMetrics *m = d->metrics;

  if (m == NULL)
    return;
  m->refusals[refusal_of (rc)]++;
  /* A clear-text client of a TLS daemon is refused here, before any
   * handshake: that is its handshake's failure too. */
  if (rc == LATCH_RC_NO_TLS_CONNECTION && g_hash_table_remove (m->handshaking, c))
    m->tls_failed[TLS_FAIL_CLEAR]++;
}

static void
count_grant (LatchDaemonMetrics *m, const Slot *s)
{
  LatchRsrcType type = latch_rsrc_name_classify (s->req.name, strlen (s->req.name));
  guint mode = N_MODES;

  /* Only simple and hierarchical resources have modes; the others
   * (numeric, set, sequence, timestamp) ignore the one requested. */
  if ((type == LATCH_RSRC_SIMPLE || type == LATCH_RSRC_HIER)
      && (guint)s->req.mode < N_MODES)
    mode = (guint)s->req.mode;
  m->grants[mode]++;
}

static void
observe_wait (LatchDaemonMetrics *m, gint64 queued_us)
{
  double seconds = (double)(g_get_monotonic_time () - queued_us) / G_USEC_PER_SEC;
  guint i = 0;

  while (i < N_WAIT_BUCKETS && seconds > wait_buckets[i])
    i++;
  m->wait_counts[i]++;
  m->wait_sum += seconds;
}

void
latch_daemon_metrics_answered (Daemon *d, const Slot *s, gboolean first,
                               LatchLockStatus status)
{
  LatchDaemonMetrics *m = d->metrics;
  gint64 *queued_us;

  if (m == NULL || s->owner == NULL)
    return;
  queued_us = g_hash_table_lookup (m->waiting, s->owner);
  switch (status)
    {
    case LATCH_LOCK_GRANTED:
      count_grant (m, s);
      if (queued_us != NULL)
        {
          observe_wait (m, *queued_us);
          g_hash_table_remove (m->waiting, s->owner);
        }
      break;
    case LATCH_LOCK_QUEUED:
    case LATCH_LOCK_WAIT_RESOURCE:
      /* A wait for creation handed over to the queue is the same wait. */
      if (first || queued_us == NULL)
        {
          gint64 *now = g_new (gint64, 1);

          *now = g_get_monotonic_time ();
          g_hash_table_replace (m->waiting, s->owner, now);
          m->waits++;
        }
      break;
    default:
      m->refusals[refusal_of ((int)status)]++;
      g_hash_table_remove (m->waiting, s->owner);
      break;
    }
}

void
latch_daemon_metrics_slot_gone (Daemon *d, const Slot *s)
{
  LatchDaemonMetrics *m = d->metrics;

  /* Still queued when its owner goes: cancelled by the client, or by
   * its timeout, or its connection ended. */
  if (m != NULL && s->owner != NULL && g_hash_table_remove (m->waiting, s->owner)
      && !d->exiting)
    m->cancellations++;
}

void
latch_daemon_metrics_lost (Daemon *d)
{
  if (d->metrics != NULL)
    d->metrics->lost++;
}

/* ------------------------------------------------------------------ */
/* Rendering */

/* A label value as the exposition format wants it: backslash, double
 * quote and newline escaped. */
static void
append_label_value (GString *out, const char *value)
{
  for (const char *p = value; *p != '\0'; p++)
    switch (*p)
      {
      case '\\': g_string_append (out, "\\\\"); break;
      case '"': g_string_append (out, "\\\""); break;
      case '\n': g_string_append (out, "\\n"); break;
      default: g_string_append_c (out, *p); break;
      }
}

static void
family (GString *out, const char *name, const char *type, const char *help)
{
  g_string_append_printf (out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{label="value"} n, or name n when label is NULL. */
static void
sample (GString *out, const char *name, const char *label, const char *value, guint64 n)
{
  g_string_append (out, name);
  if (label != NULL)
    {
      g_string_append_printf (out, "{%s=\"", label);
      append_label_value (out, value);
      g_string_append (out, "\"}");
    }
  g_string_append_printf (out, " %" G_GUINT64_FORMAT "\n", n);
}

static void
append_double (GString *out, double v)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  /* Locale-independent: a comma would break the format. */
  g_string_append (out, g_ascii_dtostr (buf, sizeof buf, v));
}

char *
latch_daemon_metrics_text (Daemon *d)
{
  LatchDaemonMetrics *m = d->metrics;
  GString *out = g_string_sized_new (4096);
  guint n_sessions = 0, n_ids = 0;
  guint64 cumulative = 0;
  GHashTableIter iter;
  gpointer key;

  if (m == NULL)
    return g_string_free (out, FALSE);

  family (out, "latch_build_info", "gauge",
          "Always 1; the labels say which latchd this is, at what security level, "
          "with which lock-table backend.");
  g_string_append (out, "latch_build_info{version=\"");
  append_label_value (out, PACKAGE_VERSION);
  g_string_append (out, "\",security_level=\"");
  append_label_value (out, latch_security_level_name (d->level));
  g_string_append (out, "\",backend=\"");
  append_label_value (out, d->table != NULL ? latch_table_backend_name (d->table) : "none");
  g_string_append (out, "\"} 1\n");

  family (out, "latch_daemon_start_time_seconds", "gauge",
          "When the daemon started, in seconds since the Unix epoch.");
  g_string_append (out, "latch_daemon_start_time_seconds ");
  append_double (out, (double)m->start_us / G_USEC_PER_SEC);
  g_string_append_c (out, '\n');

  family (out, "latch_grants_total", "counter",
          "Locks granted, by lock mode (none: a resource type without modes).");
  for (guint i = 0; i <= N_MODES; i++)
    sample (out, "latch_grants_total", "mode", mode_labels[i], m->grants[i]);

  family (out, "latch_waits_total", "counter",
          "Lock requests that had to wait (queued, or waiting for the resource's creation).");
  sample (out, "latch_waits_total", NULL, NULL, m->waits);

  family (out, "latch_wait_seconds", "histogram",
          "Time from a request's queueing to its grant (granted waits only).");
  for (guint i = 0; i <= N_WAIT_BUCKETS; i++)
    {
      cumulative += m->wait_counts[i];
      g_string_append (out, "latch_wait_seconds_bucket{le=\"");
      if (i < N_WAIT_BUCKETS)
        append_double (out, wait_buckets[i]);
      else
        g_string_append (out, "+Inf");
      g_string_append_printf (out, "\"} %" G_GUINT64_FORMAT "\n", cumulative);
    }
  g_string_append (out, "latch_wait_seconds_sum ");
  append_double (out, m->wait_sum);
  g_string_append_printf (out, "\nlatch_wait_seconds_count %" G_GUINT64_FORMAT "\n", cumulative);

  family (out, "latch_refusals_total", "counter",
          "Lock and first requests refused, by reason.");
  for (guint i = 0; i < N_REFUSED; i++)
    sample (out, "latch_refusals_total", "reason", refusal_labels[i], m->refusals[i]);

  family (out, "latch_cancellations_total", "counter",
          "Waiting requests withdrawn before an answer: cancelled, timed out by the "
          "client, or their connection ended.");
  sample (out, "latch_cancellations_total", NULL, NULL, m->cancellations);

  family (out, "latch_locks_lost_total", "counter",
          "Locks the lock table lost while held (a remote backend's session or lease ended).");
  sample (out, "latch_locks_lost_total", NULL, NULL, m->lost);

  family (out, "latch_connections_accepted_total", "counter",
          "Client connections accepted, by kind of socket.");
  sample (out, "latch_connections_accepted_total", "kind", "unix", m->accepted[0]);
  sample (out, "latch_connections_accepted_total", "kind", "tcp", m->accepted[1]);

  family (out, "latch_connections_open", "gauge", "Client connections open now.");
  sample (out, "latch_connections_open", NULL, NULL,
          d->clients != NULL ? g_hash_table_size (d->clients) : 0);

  if (d->clients != NULL)
    {
      g_hash_table_iter_init (&iter, d->clients);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        {
          const Client *c = key;

          if (c->slots != NULL)
            {
              n_sessions++;
              n_ids += g_hash_table_size (c->slots);
            }
        }
    }
  family (out, "latch_sessions_open", "gauge",
          "Connections that speak the session extension, now.");
  sample (out, "latch_sessions_open", NULL, NULL, n_sessions);
  family (out, "latch_session_lock_ids", "gauge",
          "Lock ids live in sessions now (held, queued or pending).");
  sample (out, "latch_session_lock_ids", NULL, NULL, n_ids);

  family (out, "latch_tls_handshakes_total", "counter", "TLS handshakes completed.");
  sample (out, "latch_tls_handshakes_total", NULL, NULL, m->tls_ok);
  family (out, "latch_tls_handshake_failures_total", "counter",
          "TLS connections that never completed a handshake, by reason.");
  for (guint i = 0; i < N_TLS_FAIL; i++)
    sample (out, "latch_tls_handshake_failures_total", "reason", tls_failure_labels[i],
            m->tls_failed[i]);
  family (out, "latch_tls_sessions_revoked_total", "counter",
          "Established TLS sessions closed because a new CRL revokes their peer.");
  sample (out, "latch_tls_sessions_revoked_total", NULL, NULL, m->revoked);

  family (out, "latch_resources", "gauge",
          "Resources that exist now (idle ones kept included).");
  sample (out, "latch_resources", NULL, NULL,
          d->table != NULL ? latch_table_n_resources (d->table) : 0);
  family (out, "latch_locks_active", "gauge", "Holders and waiters over all resources, now.");
  sample (out, "latch_locks_active", NULL, NULL,
          d->table != NULL ? latch_table_n_active (d->table) : 0);
  family (out, "latch_requests_waiting", "gauge",
          "This daemon's clients' requests waiting now.");
  sample (out, "latch_requests_waiting", NULL, NULL, g_hash_table_size (m->waiting));

  family (out, "latch_daemon_quiescing", "gauge",
          "1 while the daemon serves what it holds before exiting (-x).");
  sample (out, "latch_daemon_quiescing", NULL, NULL, d->quiescing ? 1 : 0);

  family (out, "latch_metrics_http_requests_total", "counter",
          "Requests to the metrics HTTP endpoint.");
  sample (out, "latch_metrics_http_requests_total", NULL, NULL, m->http_requests);

  return g_string_free (out, FALSE);
}

/* ------------------------------------------------------------------ */
/* The HTTP endpoint */

typedef struct
{
  HttpServer *server;
  int fd;
  guint watch_id;
  guint deadline_id;
  GString *in;     /* the request so far */
  GString *out;    /* the response; NULL while reading */
  gsize out_off;
  gboolean draining; /* answered and shut: reading until the peer's EOF */
} HttpConn;

struct _HttpServer
{
  Daemon *daemon;
  int fd;
  guint listen_id;
  guint resume_id;   /* out of descriptors: when to poll the listener again */
  GHashTable *conns; /* HttpConn* set */
};

static void
http_conn_free (HttpConn *hc)
{
  g_clear_handle_id (&hc->watch_id, g_source_remove);
  g_clear_handle_id (&hc->deadline_id, g_source_remove);
  close (hc->fd);
  g_string_free (hc->in, TRUE);
  if (hc->out != NULL)
    g_string_free (hc->out, TRUE);
  g_free (hc);
}

static void
http_conn_end (HttpConn *hc)
{
  g_hash_table_remove (hc->server->conns, hc); /* frees it */
}

static gboolean http_conn_cb (int fd, GIOCondition cond, gpointer user_data);

static void
http_conn_watch (HttpConn *hc, GIOCondition cond)
{
  g_clear_handle_id (&hc->watch_id, g_source_remove);
  hc->watch_id = latch_fd_watch_add (hc->fd, cond, http_conn_cb, hc);
}

static gboolean
http_deadline_cb (gpointer user_data)
{
  HttpConn *hc = user_data;

  hc->deadline_id = 0;
  http_conn_end (hc);
  return G_SOURCE_REMOVE;
}

/* Sends what it can; once all is sent, shuts the write side and drains
 * the input until the peer closes: closing with unread input would reset
 * the connection and could cut the response short at the peer. */
static void
http_conn_flush (HttpConn *hc)
{
  while (hc->out_off < hc->out->len)
    {
      ssize_t n = send (hc->fd, hc->out->str + hc->out_off, hc->out->len - hc->out_off,
                        MSG_NOSIGNAL);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        {
          http_conn_watch (hc, G_IO_OUT);
          return;
        }
      if (n < 0)
        {
          http_conn_end (hc);
          return;
        }
      hc->out_off += (gsize)n;
    }
  shutdown (hc->fd, SHUT_WR);
  hc->draining = TRUE;
  http_conn_watch (hc, G_IO_IN);
}

static void
http_respond (HttpConn *hc, const char *status, const char *type, const char *body,
              gboolean head)
{
  hc->out = g_string_sized_new (strlen (body) + 200);
  g_string_append_printf (hc->out,
                          "HTTP/1.1 %s\r\n"
                          "Content-Type: %s\r\n"
                          "Content-Length: %zu\r\n"
                          "Cache-Control: no-store\r\n"
                          "Connection: close\r\n"
                          "\r\n",
                          status, type, strlen (body));
  if (!head)
    g_string_append (hc->out, body);
  http_conn_flush (hc);
}

/* A whole request head is in: answers it.  Only the request line
 * matters ("GET /metrics HTTP/1.1"); headers are ignored, a query
 * string too. */
static void
http_handle (HttpConn *hc)
{
  Daemon *d = hc->server->daemon;
  const char *line_end = strstr (hc->in->str, "\r\n");
  g_autofree char *line = g_strndup (hc->in->str, (gsize)(line_end - hc->in->str));
  g_auto (GStrv) parts = g_strsplit (line, " ", 0);
  gboolean head;

  if (d->metrics != NULL)
    d->metrics->http_requests++;
  if (g_strv_length (parts) != 3 || !g_str_has_prefix (parts[2], "HTTP/1."))
    {
      http_respond (hc, "400 Bad Request", "text/plain; charset=utf-8", "bad request\n", FALSE);
      return;
    }
  head = strcmp (parts[0], "HEAD") == 0;
  if (!head && strcmp (parts[0], "GET") != 0)
    {
      http_respond (hc, "405 Method Not Allowed", "text/plain; charset=utf-8",
                    "only GET is served\n", FALSE);
      return;
    }
  parts[1][strcspn (parts[1], "?")] = '\0';
  if (strcmp (parts[1], "/metrics") != 0)
    {
      http_respond (hc, "404 Not Found", "text/plain; charset=utf-8",
                    "not found: the metrics are at /metrics\n", head);
      return;
    }
  {
    g_autofree char *text = latch_daemon_metrics_text (d);

    http_respond (hc, "200 OK", "text/plain; version=0.0.4; charset=utf-8", text, head);
  }
}

static gboolean
http_conn_cb (int fd, GIOCondition cond, gpointer user_data)
{
  HttpConn *hc = user_data;

  if (hc->out != NULL && !hc->draining)
    {
      hc->watch_id = 0;
      http_conn_flush (hc);
      return G_SOURCE_REMOVE;
    }
  for (;;)
    {
      char buf[1024];
      ssize_t n = recv (fd, buf, sizeof buf, 0);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return G_SOURCE_CONTINUE;
      if (n <= 0)
        {
          /* The peer's EOF after the answer, or it went away before. */
          hc->watch_id = 0;
          http_conn_end (hc);
          return G_SOURCE_REMOVE;
        }
      if (hc->draining)
        continue;
      g_string_append_len (hc->in, buf, n);
      if (memchr (hc->in->str, '\0', hc->in->len) != NULL
          || (strstr (hc->in->str, "\r\n\r\n") == NULL && hc->in->len >= HTTP_REQUEST_MAX))
        {
          hc->watch_id = 0;
          http_respond (hc, "400 Bad Request", "text/plain; charset=utf-8",
                        "bad request\n", FALSE);
          return G_SOURCE_REMOVE;
        }
      if (strstr (hc->in->str, "\r\n\r\n") != NULL)
        {
          /* http_respond sets the watch it needs: this one goes. */
          hc->watch_id = 0;
          http_handle (hc);
          return G_SOURCE_REMOVE;
        }
    }
}

static gboolean http_accept_cb (int fd, GIOCondition cond, gpointer user_data);

static gboolean
http_resume_cb (gpointer user_data)
{
  HttpServer *server = user_data;

  server->resume_id = 0;
  server->listen_id = latch_fd_watch_add (server->fd, G_IO_IN, http_accept_cb, server);
  return G_SOURCE_REMOVE;
}

static gboolean
http_accept_cb (int fd, GIOCondition cond, gpointer user_data)
{
  HttpServer *server = user_data;

  for (;;)
    {
      int cfd = accept4 (fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
      HttpConn *hc;

      if (cfd < 0)
        {
          if (errno == EINTR || errno == ECONNABORTED)
            continue;
          /* Out of descriptors, the pending connection keeps the
           * listener readable: polled again in a second, not at once
           * for ever. */
          if (errno == EMFILE || errno == ENFILE)
            {
              server->listen_id = 0;
              server->resume_id = g_timeout_add_seconds (1, http_resume_cb, server);
              return G_SOURCE_REMOVE;
            }
          break;
        }
      if (g_hash_table_size (server->conns) >= HTTP_MAX_CONNS)
        {
          close (cfd);
          continue;
        }
      hc = g_new0 (HttpConn, 1);
      hc->server = server;
      hc->fd = cfd;
      hc->in = g_string_sized_new (512);
      g_hash_table_add (server->conns, hc);
      hc->deadline_id = g_timeout_add (HTTP_DEADLINE_MS, http_deadline_cb, hc);
      http_conn_watch (hc, G_IO_IN);
    }
  return G_SOURCE_CONTINUE;
}

static void
http_server_free (HttpServer *server)
{
  g_clear_handle_id (&server->listen_id, g_source_remove);
  g_clear_handle_id (&server->resume_id, g_source_remove);
  g_hash_table_destroy (server->conns);
  if (server->fd >= 0)
    close (server->fd);
  g_free (server);
}

/* "127.0.0.1:9109" or "[::1]:9109": an IP address (no name: what a
 * listener binds should not depend on a resolver) and a port. */
static gboolean
parse_address (const char *text, char **host_out, int *port_out, GError **error)
{
  g_autofree char *host = NULL;
  const char *port_text = NULL;
  char *end = NULL;
  long port;

  if (text[0] == '[')
    {
      const char *close_bracket = strchr (text, ']');

      if (close_bracket != NULL && close_bracket[1] == ':')
        {
          host = g_strndup (text + 1, (gsize)(close_bracket - text - 1));
          port_text = close_bracket + 2;
        }
    }
  else if ((port_text = strrchr (text, ':')) != NULL)
    {
      host = g_strndup (text, (gsize)(port_text - text));
      port_text++;
      if (strchr (host, ':') != NULL)
        g_clear_pointer (&host, g_free); /* IPv6 without brackets */
    }
  if (host != NULL && port_text != NULL && g_hostname_is_ip_address (host)
      && g_ascii_isdigit (port_text[0]))
    {
      errno = 0;
      port = strtol (port_text, &end, 10);
      if (errno == 0 && *end == '\0' && port >= 1 && port <= 65535)
        {
          *host_out = g_steal_pointer (&host);
          *port_out = (int)port;
          return TRUE;
        }
    }
  g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
               "--metrics-address '%s' (MetricsAddress) is not ADDR:PORT with an IP "
               "address and a port 1..65535: write it as 127.0.0.1:9109 or [::1]:9109",
               text);
  return FALSE;
}

gboolean
latch_daemon_metrics_start (Daemon *d, GError **error)
{
  const char *address = d->config->settings->metrics_address;
  g_autofree char *host = NULL;
  g_autoptr (GError) local = NULL;
  HttpServer *server;
  int port = 0;
  int bound_port = 0;
  int fd = -1;

  /* Off by default; the agent never serves it (it would take the port
   * the host's daemon, started with the same settings, serves on). */
  if (address == NULL || d->config->agent || d->metrics == NULL)
    return TRUE;
  if (!parse_address (address, &host, &port, error))
    return FALSE;
  switch (latch_tcp_listen (host, port, NULL, &fd, &bound_port, &local))
    {
    case LATCH_TCP_OK:
      break;
    case LATCH_TCP_REFUSED:
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                   "cannot serve metrics on %s: the address is in use (choose another "
                   "port with --metrics-address)", address);
      return FALSE;
    case LATCH_TCP_NOT_LOCAL:
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                   "cannot serve metrics on %s: no interface of this host has that "
                   "address (fix --metrics-address)", address);
      return FALSE;
    default:
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                   "cannot serve metrics on %s: %s (fix --metrics-address)", address,
                   local != NULL ? local->message : "failed");
      return FALSE;
    }
  server = g_new0 (HttpServer, 1);
  server->daemon = d;
  server->fd = fd;
  server->conns = g_hash_table_new_full (NULL, NULL, (GDestroyNotify)http_conn_free, NULL);
  server->listen_id = latch_fd_watch_add (fd, G_IO_IN, http_accept_cb, server);
  d->metrics->http = server;
  latch_log_info ("serving metrics at http://%s/metrics (no authentication: anyone who "
                  "reaches the address can read them)", address);
  return TRUE;
}
