/* upstream.c: the agent's session with one upstream daemon (upstream.h).
 *
 * Links.  Every connection to the upstream is a Link: the session link
 * (up->link: connecting, ready, the offer in flight, then a session), or,
 * with a FLoM upstream, one link per lock (Req.link).  A link outlives
 * neither its LatchConn nor its owner: when the owner lets go of it
 * (link->up = NULL) its closed_cb only frees it.
 *
 * Requests.  Every live id is a Req in up->reqs, from latch_upstream_lock()
 * until its final answer, its unlock or the link's loss.  Session requests
 * wait in up->queue until the session is up; the first of them is the
 * offer.  An offer unlocked before its answer stays (cancelled) until the
 * answer says what the link is, since nothing but that request may be
 * said before it: then it is released or cancelled without a word to the
 * owner. */
#include "config.h"

#include "agent/upstream.h"

#include "common/error.h"
#include "common/log.h"
#include "locker/rsrc-name.h"
#include "net/conn.h"
#include "net/tcp.h"
#include "proto/msg.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Reconnect backoff after a failure: from BACKOFF_MIN_MS, doubling while
 * the attempts fail, up to BACKOFF_MAX_MS. */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
/* The connect, the handshake and the first answer each get this long. */
#define STEP_MS LATCH_TLS_HANDSHAKE_MS

typedef enum
{
  LINK_CONNECTING, /* TLS: connect or handshake not done */
  LINK_READY,      /* transport up (clear: maybe still connecting), nothing said */
  LINK_OFFERED,    /* the offer sent, its answer not yet in */
  LINK_SESSION,    /* the upstream said ext="1" */
  LINK_LEGACY,     /* one FLoM connection, for one lock */
} LinkState;

typedef enum
{
  REQ_QUEUED,  /* waits for the session */
  REQ_SENT,    /* sent, no answer yet */
  REQ_PENDING, /* queued upstream or waiting for the resource's creation */
  REQ_HELD,
} ReqState;

typedef struct _Link Link;

typedef struct
{
  guint64 id;
  char *name;
  LatchLockReq req; /* req.name points to name */
  ReqState state;
  gboolean cancelled; /* the offer, unlocked before its answer */
  gboolean retried;   /* sent again after a session ended before its answer */
  gboolean rollback;
  Link *link;         /* legacy: its own connection */
} Req;

struct _Link
{
  LatchUpstream *up; /* NULL: let go of, freed when its conn closes */
  LatchConn *conn;
  LinkState state;
  Req *req;          /* legacy link: its lock (NULL once unlocked) */
};

struct _LatchUpstream
{
  char *address;
  char *own_id;
  LatchUpstreamConfig config; /* its strings point to the copies above */
  char *label;
  const LatchUpstreamCallbacks *cb;
  gpointer user_data;

  Link *link;          /* the session link, or NULL */
  guint64 offer_id;    /* the offer on link (LINK_OFFERED) */
  gboolean legacy;     /* the upstream answered as FLoM does */
  GHashTable *reqs;    /* guint64 id -> Req (owned) */
  GQueue queue;        /* Req: session requests not sent yet */

  gint64 last_rx, last_tx; /* monotonic ms, in a session */
  guint keepalive_id;
  guint retry_id;
  int backoff_ms;
};

static const LatchConnCallbacks link_callbacks;

static gint64
now_ms (void)
{
  return g_get_monotonic_time () / 1000;
}

static void
req_free (Req *r)
{
  g_free (r->name);
  g_free (r);
}

/* ---- sending ------------------------------------------------------------- */

static void
send_msg (LatchUpstream *up, Link *link, const LatchMsg *msg)
{
  g_autoptr (GString) out = g_string_sized_new (256);

  latch_msg_encode (msg, out);
  latch_conn_send (link->conn, out->str, out->len);
  if (up != NULL && link == up->link)
    up->last_tx = now_ms ();
}

/* A lock request for r: with its id on a session link (and the offer on
 * the first), as FLoM knows it on a legacy one. */
static void
send_request (LatchUpstream *up, Link *link, Req *r, gboolean offer)
{
  g_autoptr (LatchMsg) msg = latch_msg_new (LATCH_MSG_LOCK_REQUEST, LATCH_STEP_REQUEST);
  LatchRsrcType type = latch_rsrc_name_classify (r->name, strlen (r->name));

  msg->peerid = g_strdup (up->own_id);
  msg->name = g_strdup (r->name);
  /* As the client does (FLoM's rule): modes only for simple and
   * hierarchical resources, quantities only for numeric ones. */
  msg->has_mode = type == LATCH_RSRC_SIMPLE || type == LATCH_RSRC_HIER;
  msg->mode = msg->has_mode ? (int)r->req.mode : LATCH_LOCK_MODE_EX;
  msg->has_quantity = type == LATCH_RSRC_NUMERIC;
  msg->quantity = msg->has_quantity ? r->req.quantity : 1;
  msg->wait = r->req.wait;
  msg->create = r->req.create;
  msg->lifespan = r->req.lifespan;
  if (link->state != LINK_LEGACY)
    msg->id = r->id;
  if (offer)
    {
      msg->ext = LATCH_EXT_LEVEL;
      msg->timeout = up->config.session_timeout;
    }
  r->state = REQ_SENT;
  send_msg (up, link, msg);
}

static void
send_unlock (LatchUpstream *up, Link *link, Req *r, gboolean rollback)
{
  g_autoptr (LatchMsg) msg = latch_msg_new (LATCH_MSG_UNLOCK, LATCH_STEP_REQUEST);

  msg->name = g_strdup (r->name);
  msg->rollback = rollback;
  if (link->state != LINK_LEGACY)
    msg->id = r->id;
  send_msg (up, link, msg);
}

static void
send_ping (LatchUpstream *up, int step)
{
  g_autoptr (LatchMsg) msg = latch_msg_new (LATCH_MSG_PING, step);

  send_msg (up, up->link, msg);
}

/* ---- links ----------------------------------------------------------------- */

/* Lets go of link: its conn is aborted (closed_cb then frees the link). */
static void
link_drop (Link *link)
{
  link->up = NULL;
  link->req = NULL;
  if (link->conn != NULL)
    latch_conn_abort (link->conn, NULL);
}

/* Lets go of link after what is queued on it is sent. */
static void
link_close (Link *link)
{
  link->up = NULL;
  link->req = NULL;
  if (link->conn != NULL)
    latch_conn_close_after_flush (link->conn);
}

/* "the daemon at H port P: what", unless what names it already (the
 * TLS module's explanations do: the session has the label). */
static GError *
labelled (LatchUpstream *up, int code, const char *what)
{
  if (strstr (what, up->label) != NULL)
    return g_error_new_literal (LATCH_ERROR, code, what);
  return g_error_new (LATCH_ERROR, code, "%s: %s", up->label, what);
}

/* A new connection to the upstream (the first address of its name that
 * takes a socket and does not refuse the connect at once), or NULL and
 * error. */
static Link *
link_open (LatchUpstream *up, GError **error)
{
  g_autoptr (GError) local = NULL;
  struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
  struct addrinfo *res = NULL;
  g_autofree char *port = g_strdup_printf ("%d", up->config.port);
  int fd = -1;
  int saved = 0;
  int rc = getaddrinfo (up->address, port, &hints, &res);
  Link *link;

  if (rc != 0)
    {
      g_autofree char *what = g_strdup_printf ("resolving %s: %s", up->address,
                                               rc == EAI_SYSTEM ? g_strerror (errno)
                                                                : gai_strerror (rc));
      g_propagate_error (error, labelled (up, LATCH_ERROR_CONNECT, what));
      return NULL;
    }
  for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next)
    {
      int one = 1;

      fd = socket (ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                   ai->ai_protocol);
      if (fd < 0)
        {
          saved = errno;
          continue;
        }
      (void)setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (connect (fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS)
        break;
      saved = errno;
      close (fd);
      fd = -1;
    }
  freeaddrinfo (res);
  if (fd < 0)
    {
      g_autofree char *what = g_strdup_printf ("connect: %s", g_strerror (saved));
      g_propagate_error (error, labelled (up, LATCH_ERROR_CONNECT, what));
      return NULL;
    }
  if (up->config.tcp_keepalive_time > 0)
    {
      LatchKeepalive ka = { up->config.tcp_keepalive_time, up->config.tcp_keepalive_intvl,
                            up->config.tcp_keepalive_probes };
      latch_tcp_set_keepalive (fd, &ka);
    }

  link = g_new0 (Link, 1);
  link->up = up;
  link->conn = latch_conn_new_client (fd, up->label, &link_callbacks, link);
  link->state = LINK_READY;
  if (up->config.level != LATCH_SECURITY_CLEAR)
    {
      LatchTlsSession *session = up->config.tls->session_new (up->config.creds, fd, up->label,
                                                              &local);

      if (session == NULL)
        {
          link_drop (link);
          g_propagate_error (error, labelled (up, LATCH_ERROR_TLS, local->message));
          return NULL;
        }
      latch_conn_start_tls_client (link->conn, up->config.tls, session);
      link->state = LINK_CONNECTING;
    }
  latch_conn_set_deadline (link->conn, STEP_MS,
                           link->state == LINK_READY
                               ? "connecting"
                               : "connecting and in the TLS handshake (a FLoM daemon without "
                                 "TLS never answers one: check that it has TLS configured)");
  return link;
}

/* ---- the session ------------------------------------------------------------- */

static void keepalive_arm (LatchUpstream *up);
static void session_connect (LatchUpstream *up);

static void
retry_stop (LatchUpstream *up)
{
  g_clear_handle_id (&up->retry_id, g_source_remove);
}

static gboolean
retry_cb (gpointer user_data)
{
  LatchUpstream *up = user_data;

  up->retry_id = 0;
  if (up->link == NULL)
    session_connect (up);
  return G_SOURCE_REMOVE;
}

/* Tries again in the background after backoff_ms, doubled for next time. */
static void
retry_schedule (LatchUpstream *up)
{
  if (up->retry_id != 0)
    return;
  latch_log_debug ("%s: trying again in %d ms", up->label, up->backoff_ms);
  up->retry_id = g_timeout_add (up->backoff_ms, retry_cb, up);
  up->backoff_ms = MIN (up->backoff_ms * 2, BACKOFF_MAX_MS);
}

/* The text of why without "LABEL: " in front (transfer none): for a
 * loss's reason, which the owner prefixes with the label itself. */
static const char *
unlabelled (LatchUpstream *up, const GError *why)
{
  gsize n = strlen (up->label);

  if (strncmp (why->message, up->label, n) == 0 && strncmp (why->message + n, ": ", 2) == 0)
    return why->message + n + 2;
  return why->message;
}

static int
req_id_cmp (gconstpointer a, gconstpointer b, gpointer user_data G_GNUC_UNUSED)
{
  guint64 x = ((const Req *)a)->id, y = ((const Req *)b)->id;

  return x < y ? -1 : x > y;
}

/* The session ended while requests sent on it had no answer yet.  The
 * end released everything the session had upstream, so each of them is
 * sent again, once, on the next session (in the order they were made):
 * when the session ended because the upstream now refuses us (e.g. our
 * certificate was revoked: the daemon closes the session at the next
 * request), the next connection says why in words, which the owner
 * then gets instead of a bare "connection closed".  What was answered
 * already (held, queued upstream) is lost, each id told by its own
 * answer (rc 8), and so is a request that was retried already (rc 7):
 * down_cb would take the retried ones too.  FALSE, having done nothing,
 * when there is nothing to retry. */
static gboolean
session_retry (LatchUpstream *up, const GError *why)
{
  g_autoptr (GPtrArray) lost = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;
  gboolean any = FALSE;

  g_hash_table_iter_init (&iter, up->reqs);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Req *r = value;

      if (r->link == NULL && r->state == REQ_SENT && !r->retried && !r->cancelled)
        any = TRUE;
    }
  if (!any)
    return FALSE;
  g_hash_table_iter_init (&iter, up->reqs);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Req *r = value;

      if (r->link != NULL)
        continue; /* a legacy lock: its own connection */
      if (r->state == REQ_SENT && !r->retried && !r->cancelled)
        {
          r->retried = TRUE;
          r->state = REQ_QUEUED;
          g_queue_insert_sorted (&up->queue, r, req_id_cmp, NULL);
          latch_log_debug ("%s: id %" G_GUINT64_FORMAT " had no answer: sent again on the "
                           "next session", up->label, r->id);
        }
      else
        {
          g_ptr_array_add (lost, r);
          g_hash_table_iter_steal (&iter);
        }
    }
  for (guint i = 0; i < lost->len; i++)
    {
      Req *r = lost->pdata[i];
      gboolean first = r->state == REQ_SENT || r->state == REQ_QUEUED;
      int rc = first ? LATCH_RC_CONNECTION_REFUSED : LATCH_RC_CONNECTION_CLOSED;

      if (!r->cancelled)
        up->cb->answer_cb (up, r->id, first, rc, NULL, FALSE, 0,
                           r->state == REQ_HELD ? unlabelled (up, why) : why->message,
                           up->user_data);
      req_free (r);
    }
  return TRUE;
}

/* The session link failed or was lost (reason, transfer full): every
 * session request is gone, but for those retried (session_retry); the
 * owner is told if anything was at stake. */
static void
session_down (LatchUpstream *up, GError *reason, gboolean retry)
{
  g_autoptr (GError) why = reason;
  gboolean was_session = up->link != NULL && up->link->state == LINK_SESSION;
  gboolean at_stake = was_session;
  GHashTableIter iter;
  gpointer value;

  if (up->link != NULL)
    link_drop (g_steal_pointer (&up->link));
  g_clear_handle_id (&up->keepalive_id, g_source_remove);
  up->offer_id = 0;
  g_queue_clear (&up->queue);
  latch_log_info ("%s", why->message);
  if (was_session && retry && session_retry (up, why))
    {
      /* At once: what is retried waits for it (unless an answer's
       * callback asked again and connected already). */
      if (up->link == NULL)
        session_connect (up);
      return;
    }
  g_hash_table_iter_init (&iter, up->reqs);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Req *r = value;

      if (r->link != NULL)
        continue; /* a legacy lock: its own connection */
      at_stake = TRUE;
      g_hash_table_iter_remove (&iter);
    }
  if (retry)
    retry_schedule (up);
  if (at_stake)
    up->cb->down_cb (up, why, up->user_data);
}

/* Sends the offer (the first queued request) on a link that is ready. */
static void
send_offer (LatchUpstream *up)
{
  Req *r = g_queue_pop_head (&up->queue);

  if (r == NULL)
    return;
  up->offer_id = r->id;
  send_request (up, up->link, r, TRUE);
  up->link->state = LINK_OFFERED;
  latch_conn_set_deadline (up->link->conn, STEP_MS, "waiting for the first answer");
}

static void
session_connect (LatchUpstream *up)
{
  g_autoptr (GError) error = NULL;

  retry_stop (up);
  up->link = link_open (up, &error);
  if (up->link == NULL)
    {
      session_down (up, g_steal_pointer (&error), TRUE);
      return;
    }
  if (up->link->state != LINK_READY)
    return;
  /* Clear: the offer is queued until the connect is done.  Without one,
   * a transport made in the background waits idle, with no deadline (a
   * connect that fails still ends it). */
  if (g_queue_is_empty (&up->queue))
    latch_conn_set_deadline (up->link->conn, 0, NULL);
  else
    send_offer (up);
}

/* A legacy lock's own connection. */
static void
legacy_connect (LatchUpstream *up, Req *r)
{
  g_autoptr (GError) error = NULL;
  Link *link = link_open (up, &error);

  if (link == NULL)
    {
      guint64 id = r->id;

      up->legacy = FALSE;
      g_hash_table_remove (up->reqs, &id);
      up->cb->answer_cb (up, id, TRUE, LATCH_RC_CONNECTION_REFUSED, NULL, FALSE, 0,
                         error->message, up->user_data);
      return;
    }
  link->req = r;
  r->link = link;
  if (link->state == LINK_READY)
    {
      link->state = LINK_LEGACY;
      send_request (up, link, r, FALSE);
      latch_conn_set_deadline (link->conn, STEP_MS, "waiting for the first answer");
    }
}

static void
ping_or_check (LatchUpstream *up)
{
  int t = up->config.session_timeout;
  gint64 now = now_ms ();

  if (now - up->last_rx >= t)
    {
      g_autofree char *what = g_strdup_printf ("no answer for %d ms", (int)(now - up->last_rx));
      session_down (up, labelled (up, LATCH_ERROR_TIMEOUT, what), TRUE);
      return;
    }
  if (now - up->last_tx >= t / 4)
    send_ping (up, LATCH_STEP_REQUEST);
  keepalive_arm (up);
}

static gboolean
keepalive_cb (gpointer user_data)
{
  LatchUpstream *up = user_data;

  up->keepalive_id = 0;
  ping_or_check (up);
  return G_SOURCE_REMOVE;
}

/* The next look: when a ping is due or the upstream would be dead. */
static void
keepalive_arm (LatchUpstream *up)
{
  int t = up->config.session_timeout;
  gint64 now = now_ms ();
  gint64 at;

  g_clear_handle_id (&up->keepalive_id, g_source_remove);
  if (t <= 0 || up->link == NULL || up->link->state != LINK_SESSION)
    return;
  at = MIN (up->last_tx + t / 4, up->last_rx + t);
  up->keepalive_id = g_timeout_add ((guint)MAX (at - now, 1), keepalive_cb, up);
}

/* At the mutual level (or when asked): is the upstream who its
 * certificate says? */
static gboolean
peer_id_ok (LatchUpstream *up, Link *link, const LatchMsg *msg, GError **error)
{
  g_autoptr (GError) local = NULL;
  LatchTlsSession *session;

  if (up->config.level != LATCH_SECURITY_MUTUAL && !up->config.check_peer_id)
    return TRUE;
  session = latch_conn_get_tls (link->conn);
  if (session == NULL)
    return TRUE; /* clear: nothing to check against */
  if (up->config.tls->check_peer_id (session, msg->peerid != NULL ? msg->peerid : "", &local))
    return TRUE;
  g_propagate_error (error, labelled (up, LATCH_ERROR_TLS_PEER_ID, local->message));
  return FALSE;
}

static gboolean
is_refusal (int rc)
{
  return rc != LATCH_RC_OK && rc != LATCH_RC_LOCK_ENQUEUED && rc != LATCH_RC_LOCK_WAIT_RESOURCE;
}

/* An answer for r (a session's or a legacy link's): its state follows,
 * the owner hears it.  FALSE when r is finished (removed and freed). */
static gboolean
req_answer (LatchUpstream *up, Req *r, const LatchMsg *msg)
{
  gboolean first = msg->step == LATCH_STEP_FIRST_ANSWER;
  guint64 id = r->id;
  gboolean done = is_refusal (msg->rc);

  if (!done)
    r->state = msg->rc == LATCH_RC_OK ? REQ_HELD : REQ_PENDING;
  else
    {
      if (r->link != NULL)
        link_close (g_steal_pointer (&r->link));
      g_hash_table_remove (up->reqs, &id);
    }
  up->cb->answer_cb (up, id, first, msg->rc, msg->element, msg->has_fence, msg->fence,
                     msg->reason, up->user_data);
  return !done;
}

/* The answer to the offer says what the link is. */
static void
offer_answered (LatchUpstream *up, Link *link, const LatchMsg *msg)
{
  g_autoptr (GError) error = NULL;
  guint64 id = up->offer_id;
  Req *r = g_hash_table_lookup (up->reqs, &id);

  if (!peer_id_ok (up, link, msg, &error))
    {
      session_down (up, g_steal_pointer (&error), TRUE);
      return;
    }
  up->offer_id = 0;
  up->backoff_ms = BACKOFF_MIN_MS;
  latch_conn_set_deadline (link->conn, 0, NULL);
  if (msg->ext >= 1)
    {
      link->state = LINK_SESSION;
      up->legacy = FALSE;
      up->last_rx = now_ms ();
      latch_log_debug ("%s: session up", up->label);
      if (r != NULL && r->cancelled)
        {
          if (!is_refusal (msg->rc))
            send_unlock (up, link, r, r->rollback);
          g_hash_table_remove (up->reqs, &id);
        }
      else if (r != NULL)
        req_answer (up, r, msg);
      /* The answer's callback may have ended everything. */
      if (up->link != link)
        return;
      while (!g_queue_is_empty (&up->queue))
        send_request (up, link, g_queue_pop_head (&up->queue), FALSE);
      keepalive_arm (up);
      if (up->cb->up_cb != NULL)
        up->cb->up_cb (up, up->user_data);
      return;
    }

  /* A FLoM daemon: this connection is the offer's lock's; every other
   * request gets its own. */
  latch_log_info ("%s: a FLoM daemon (no session extension): one connection per lock",
                  up->label);
  up->legacy = TRUE;
  up->link = NULL;
  link->state = LINK_LEGACY;
  if (r == NULL || r->cancelled)
    {
      if (r != NULL && msg->rc == LATCH_RC_OK)
        send_unlock (up, link, r, r->rollback);
      if (r != NULL)
        g_hash_table_remove (up->reqs, &id);
      link_close (link);
    }
  else
    {
      r->link = link;
      link->req = r;
      req_answer (up, r, msg);
    }
  while (!g_queue_is_empty (&up->queue))
    legacy_connect (up, g_queue_pop_head (&up->queue));
  if (up->cb->up_cb != NULL)
    up->cb->up_cb (up, up->user_data);
}

static void
session_message (LatchUpstream *up, Link *link, const LatchMsg *msg)
{
  Req *r;
  guint64 id = msg->id;

  up->last_rx = now_ms ();
  if (msg->kind == LATCH_MSG_PING)
    {
      if (msg->step == LATCH_STEP_REQUEST)
        send_ping (up, LATCH_STEP_FIRST_ANSWER);
      return;
    }
  if (msg->kind != LATCH_MSG_LOCK_ANSWER || id == 0)
    {
      g_autofree char *what = g_strdup_printf ("an unexpected message in the session (verb %d "
                                               "step %d)", msg->verb, msg->step);
      session_down (up, labelled (up, LATCH_ERROR_FAILED, what), TRUE);
      return;
    }
  r = g_hash_table_lookup (up->reqs, &id);
  if (r == NULL || r->link != NULL || r->state == REQ_QUEUED
      || (msg->step == LATCH_STEP_FIRST_ANSWER) != (r->state == REQ_SENT))
    {
      /* An unlock crossed it, or the upstream is confused: nothing is
       * reported that does not fit what the id is waiting for. */
      latch_log_debug ("%s: answer rc=%d step %d for id %" G_GUINT64_FORMAT " ignored",
                       up->label, msg->rc, msg->step, id);
      return;
    }
  req_answer (up, r, msg);
}

static void
legacy_message (LatchUpstream *up, Link *link, const LatchMsg *msg)
{
  g_autoptr (GError) error = NULL;
  Req *r = link->req;
  gboolean first = r->state == REQ_SENT;

  if (msg->kind != LATCH_MSG_LOCK_ANSWER
      || (msg->step == LATCH_STEP_FIRST_ANSWER) != first
      || (first && !peer_id_ok (up, link, msg, &error)))
    {
      guint64 id = r->id;
      g_autofree char *what = error != NULL ? g_strdup (error->message)
                                            : g_strdup_printf ("%s: an unexpected message "
                                                               "(verb %d step %d)", up->label,
                                                               msg->verb, msg->step);

      link_drop (g_steal_pointer (&r->link));
      g_hash_table_remove (up->reqs, &id);
      up->cb->answer_cb (up, id, first, first ? LATCH_RC_CONNECTION_REFUSED
                                              : LATCH_RC_CONNECTION_CLOSED,
                         NULL, FALSE, 0, what, up->user_data);
      return;
    }
  if (first)
    latch_conn_set_deadline (link->conn, 0, NULL);
  req_answer (up, r, msg);
}

/* ---- the links' callbacks ------------------------------------------------------- */

static void
link_message_cb (LatchConn *conn G_GNUC_UNUSED, GBytes *bytes, gpointer user_data)
{
  Link *link = user_data;
  LatchUpstream *up = link->up;
  g_autoptr (GError) error = NULL;
  g_autoptr (LatchMsg) msg = NULL;
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);

  if (up == NULL)
    return;
  if (!latch_codec_decode (data, len, &msg, &error))
    {
      g_autoptr (GError) why = labelled (up, LATCH_ERROR_FAILED, error->message);

      if (link->state == LINK_LEGACY && link->req != NULL)
        {
          guint64 id = link->req->id;
          gboolean first = link->req->state == REQ_SENT;

          link_drop (g_steal_pointer (&link->req->link));
          g_hash_table_remove (up->reqs, &id);
          up->cb->answer_cb (up, id, first, first ? LATCH_RC_CONNECTION_REFUSED
                                                  : LATCH_RC_CONNECTION_CLOSED,
                             NULL, FALSE, 0, why->message, up->user_data);
        }
      else if (link == up->link)
        session_down (up, g_steal_pointer (&why), TRUE);
      return;
    }
  switch (link->state)
    {
    case LINK_OFFERED:
      if (msg->kind != LATCH_MSG_LOCK_ANSWER || msg->step != LATCH_STEP_FIRST_ANSWER
          || (msg->id != 0 && msg->id != up->offer_id))
        {
          g_autofree char *what = g_strdup_printf ("an unexpected first answer (verb %d step %d "
                                                   "id %" G_GUINT64_FORMAT ")", msg->verb,
                                                   msg->step, msg->id);
          session_down (up, labelled (up, LATCH_ERROR_FAILED, what), TRUE);
          return;
        }
      offer_answered (up, link, msg);
      return;
    case LINK_SESSION:
      session_message (up, link, msg);
      return;
    case LINK_LEGACY:
      if (link->req != NULL)
        legacy_message (up, link, msg);
      return;
    case LINK_CONNECTING:
    case LINK_READY:
    default:
      {
        g_autofree char *what = g_strdup_printf ("a message before any request (verb %d "
                                                 "step %d)", msg->verb, msg->step);
        session_down (up, labelled (up, LATCH_ERROR_FAILED, what), TRUE);
      }
      return;
    }
}

static void
link_secured_cb (LatchConn *conn, gpointer user_data)
{
  Link *link = user_data;
  LatchUpstream *up = link->up;

  if (up == NULL)
    return;
  latch_conn_set_deadline (conn, 0, NULL);
  if (link->req != NULL)
    {
      /* A legacy lock's connection. */
      link->state = LINK_LEGACY;
      send_request (up, link, link->req, FALSE);
      latch_conn_set_deadline (conn, STEP_MS, "waiting for the first answer");
      return;
    }
  link->state = LINK_READY;
  /* A transport made in the background succeeded: it waits for a
   * request. */
  up->backoff_ms = BACKOFF_MIN_MS;
  send_offer (up);
}

static void
link_closed_cb (LatchConn *conn G_GNUC_UNUSED, const GError *reason, gpointer user_data)
{
  Link *link = user_data;
  LatchUpstream *up = link->up;
  Req *r = link->req;

  link->conn = NULL;
  if (up == NULL)
    {
      g_free (link);
      return;
    }
  if (r != NULL)
    {
      /* A legacy lock's connection. */
      guint64 id = r->id;
      gboolean first = r->state == REQ_SENT;
      g_autoptr (GError) why = labelled (up, reason != NULL ? reason->code : LATCH_ERROR_CONNECTION_CLOSED,
                                         reason != NULL ? reason->message
                                                        : "closed the connection");

      g_autofree char *lost = first ? NULL
                                    : g_strdup_printf ("the lock was lost: %s", why->message);

      r->link = NULL;
      g_free (link);
      g_hash_table_remove (up->reqs, &id);
      /* A FLoM daemon that cannot be reached may have become a latch
       * one: the next request offers a session again. */
      if (first && reason != NULL)
        up->legacy = FALSE;
      up->cb->answer_cb (up, id, first, first ? LATCH_RC_CONNECTION_REFUSED
                                              : LATCH_RC_CONNECTION_CLOSED,
                         NULL, FALSE, 0, first ? why->message : lost, up->user_data);
      return;
    }
  if (link == up->link)
    {
      gboolean idle = link->state == LINK_READY && g_queue_is_empty (&up->queue);
      GError *why = labelled (up, reason != NULL ? reason->code : LATCH_ERROR_CONNECTION_CLOSED,
                              reason != NULL ? reason->message : "closed the connection");

      /* A transport that was made, then closed while nothing was said
       * (a daemon ending an idle connection) is no failure: the next
       * request connects again.  Anything else is tried again.  (The
       * link, its conn gone, is let go of there and freed here.) */
      session_down (up, why, !(idle && reason == NULL));
    }
  g_free (link);
}

static const LatchConnCallbacks link_callbacks = {
  link_message_cb, link_closed_cb, link_secured_cb, NULL,
};

/* ---- the API ------------------------------------------------------------------- */

LatchUpstream *
latch_upstream_new (const LatchUpstreamConfig *config, const LatchUpstreamCallbacks *callbacks,
                    gpointer user_data)
{
  LatchUpstream *up = g_new0 (LatchUpstream, 1);

  up->address = g_strdup (config->address);
  up->own_id = g_strdup (config->own_id != NULL ? config->own_id : "");
  up->config = *config;
  up->config.address = up->address;
  up->config.own_id = up->own_id;
  up->label = g_strdup_printf ("the daemon at %s port %d", up->address, config->port);
  up->cb = callbacks;
  up->user_data = user_data;
  up->reqs = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, (GDestroyNotify)req_free);
  g_queue_init (&up->queue);
  up->backoff_ms = BACKOFF_MIN_MS;
  return up;
}

void
latch_upstream_free (LatchUpstream *up)
{
  GHashTableIter iter;
  gpointer value;

  if (up == NULL)
    return;
  retry_stop (up);
  g_clear_handle_id (&up->keepalive_id, g_source_remove);
  if (up->link != NULL)
    link_drop (g_steal_pointer (&up->link));
  g_hash_table_iter_init (&iter, up->reqs);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Req *r = value;

      if (r->link != NULL)
        link_drop (g_steal_pointer (&r->link));
    }
  g_queue_clear (&up->queue);
  g_hash_table_unref (up->reqs);
  g_free (up->label);
  g_free (up->address);
  g_free (up->own_id);
  g_free (up);
}

void
latch_upstream_lock (LatchUpstream *up, guint64 id, const LatchLockReq *req)
{
  Req *r;

  g_return_if_fail (id > 0 && req != NULL && req->name != NULL);
  if (g_hash_table_contains (up->reqs, &id))
    {
      latch_log_warning ("%s: lock id %" G_GUINT64_FORMAT " reused (a bug): ignored", up->label,
                         id);
      return;
    }
  r = g_new0 (Req, 1);
  r->id = id;
  r->name = g_strdup (req->name);
  r->req = *req;
  r->req.name = r->name;
  r->state = REQ_QUEUED;
  g_hash_table_insert (up->reqs, &r->id, r);

  if (up->legacy && (up->link == NULL || up->link->state != LINK_OFFERED))
    {
      legacy_connect (up, r);
      return;
    }
  if (up->link != NULL && up->link->state == LINK_SESSION)
    {
      send_request (up, up->link, r, FALSE);
      return;
    }
  g_queue_push_tail (&up->queue, r);
  if (up->link == NULL)
    session_connect (up); /* at once, even while a retry waits */
  else if (up->link->state == LINK_READY)
    send_offer (up);
}

void
latch_upstream_unlock (LatchUpstream *up, guint64 id, const char *name G_GNUC_UNUSED,
                       gboolean rollback)
{
  Req *r = g_hash_table_lookup (up->reqs, &id);

  if (r == NULL)
    {
      latch_log_debug ("%s: unlock of id %" G_GUINT64_FORMAT ", not live: ignored", up->label,
                       id);
      return;
    }
  if (r->link != NULL)
    {
      /* Legacy: a held lock is released, then its connection closed;
       * a pending one is withdrawn by the close itself. */
      Link *link = g_steal_pointer (&r->link);

      if (r->state == REQ_HELD)
        send_unlock (up, link, r, rollback);
      link_close (link);
      g_hash_table_remove (up->reqs, &id);
      return;
    }
  if (r->state == REQ_QUEUED)
    {
      g_queue_remove (&up->queue, r);
      g_hash_table_remove (up->reqs, &id);
      return;
    }
  if (up->link != NULL && up->link->state == LINK_OFFERED && id == up->offer_id)
    {
      /* Nothing else may be said before its answer. */
      r->cancelled = TRUE;
      r->rollback = rollback;
      return;
    }
  if (up->link != NULL && up->link->state == LINK_SESSION)
    send_unlock (up, up->link, r, rollback);
  g_hash_table_remove (up->reqs, &id);
}

gboolean
latch_upstream_is_up (const LatchUpstream *up)
{
  return up->link != NULL ? up->link->state == LINK_SESSION : up->legacy;
}

gboolean
latch_upstream_is_legacy (const LatchUpstream *up)
{
  return up->legacy;
}

const char *
latch_upstream_label (const LatchUpstream *up)
{
  return up->label;
}
