/* client-lock.c: liblatch's protocol exchanges with the daemon: a lock
 * request and its answers (queued, granted, refused: each refusal in
 * words), the unlock, the shutdown request; the session that handles keep
 * and share between locks (doc/protocol.md, "Sessions").
 *
 * The first lock request on a new connection offers the session
 * extension (ext="1", no timeout: a blocking library cannot promise
 * pings).  A latch daemon accepts it in its first answer: the connection
 * then moves into the handle's LatchClientSession and stays open after
 * the unlock; later requests of any sharing handle reuse it, each with a
 * new id from the connection's counter, and the unlock is one message
 * that needs no answer.  A FLoM daemon ignores the offer: that connection
 * stays the handle's own and is closed at the unlock, as before. */
#include "config.h"

#include "client/autostart.h"
#include "client/client-private.h"
#include "common/error.h"
#include "common/log.h"
#include "locker/rsrc-name.h"
#include "proto/framer.h"
#include "proto/msg.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* While no daemon answers: how long to keep trying when the resource
 * timeout does not say (a daemon is starting, or quiescing). */
#define CONNECT_GRACE_MS 2000
/* The daemon answers a request at once (queued or not): how long its first
 * answer may take even when the timeout is shorter (e.g. -o 0). */
#define FIRST_ANSWER_MS 5000
/* How long to wait for the answer to a shutdown request: a latch daemon
 * answers at once, a FLoM daemon never (its client waits 1000 ms). */
#define SHUTDOWN_ANSWER_MS 1000
/* A FLoM daemon closes on a message longer than this (also
 * client-connect.c): a request that fits only without the session offer
 * goes without it. */
#define FLOM_REQUEST_MAX 511

typedef enum
{
  ATTEMPT_DONE,      /* *rc is the outcome */
  ATTEMPT_QUIESCING, /* the daemon is quiescing: try again (the next daemon) */
  ATTEMPT_CLOSED,    /* closed (or reset) before any answer, without a word */
  ATTEMPT_STALE,     /* the kept session was gone before any answer: open a new one */
  ATTEMPT_UNREACHED, /* the agent could not reach its daemon (rc 7): *rc, error set */
} AttemptResult;

/* The daemon refused to serve this connection: why, in words. */
static int
refusal_failure (LatchHandle *h, int rc)
{
  g_autofree char *label = latch_client_endpoint_label (h);

  switch (rc)
    {
    case LATCH_RC_NO_TLS_CONNECTION:
      return fail (h, rc, "the daemon at %s requires TLS: give --tls-certificate, "
                   "--tls-private-key and --tls-ca-certificate (or the [TLS] group of "
                   "the configuration) as its nodes have", label);
    case LATCH_RC_UNIQUE_ID_DOES_NOT_MATCH:
      if (h->level != LATCH_SECURITY_MUTUAL && h->own_id != NULL)
        return fail (h, rc, "the daemon at %s requires mutual authentication and refused "
                     "us: the machine ID we announced (%s) is not our certificate's "
                     "identity (give this node a certificate with CN %s)", label,
                     h->own_id, h->own_id);
      if (h->level != LATCH_SECURITY_MUTUAL)
        return fail (h, rc, "the daemon at %s requires mutual authentication: add "
                     "--tls-check-peer-id=yes (this node's certificate must then name its "
                     "machine ID)", label);
      return fail (h, rc, "the daemon at %s refused us: the machine ID we announced "
                   "does not match our certificate's CN", label);
    case LATCH_RC_CONNECTION_REFUSED:
      return fail (h, rc, "the daemon at %s refused us: this node (machine ID %s) is "
                   "not allowed by its TlsAllowedPeers list", label,
                   h->own_id != NULL ? h->own_id : "?");
    default:
      return rc;
    }
}

static int
first_answer_failure (LatchHandle *h, int rc)
{
  switch (rc)
    {
    case LATCH_RC_NO_TLS_CONNECTION:
    case LATCH_RC_UNIQUE_ID_DOES_NOT_MATCH:
    case LATCH_RC_CONNECTION_REFUSED:
      return refusal_failure (h, rc);
    case LATCH_RC_CONNECTION_CLOSED:
      return fail (h, rc, "the daemon lost the request for '%s'", h->config->resource_name);
    case LATCH_RC_LOCK_BUSY:
      return fail (h, rc, "resource '%s' is busy", h->config->resource_name);
    case LATCH_RC_LOCK_CANT_WAIT:
      return fail (h, rc, "resource '%s' does not exist and may not be created "
                   "(create is off), and the timeout does not allow waiting for it",
                   h->config->resource_name);
    case LATCH_RC_LOCK_IMPOSSIBLE:
      if (h->resource_type == LATCH_RSRC_NUMERIC)
        return fail (h, rc, "the request for %d units of '%s' can never be granted "
                     "(it needs 1 to the capacity in brackets)",
                     h->config->resource_quantity, h->config->resource_name);
      return fail (h, rc, "the request for '%s' can never be granted (its capacity "
                   "in brackets is 0)", h->config->resource_name);
    case LATCH_RC_RESOURCE_INIT_ERROR:
      return fail (h, rc, "the daemon could not create resource '%s'%s", h->config->resource_name,
                   h->resource_type == LATCH_RSRC_TIMESTAMP
                       ? ": a timestamp format needs a time field (%S, %M, %H, %T, "
                         "#f... and the like) and must give at most 999 bytes"
                       : "");
    case LATCH_RC_INVALID_RESOURCE_NAME:
      return fail (h, rc, "the daemon refused the resource name '%s'", h->config->resource_name);
    case LATCH_RC_LIMIT_LOCKS_PER_CONNECTION:
      return fail (h, rc, "the daemon refused the lock on '%s': the connection already holds "
                   "or asks for as many locks as the daemon allows "
                   "([Daemon] MaxLocksPerConnection)", h->config->resource_name);
    case LATCH_RC_LIMIT_RESOURCES:
      return fail (h, rc, "the daemon refused to create resource '%s': it already keeps as "
                   "many resources as it allows ([Daemon] MaxResources); retry once "
                   "idle ones expire, or raise the daemon's limit", h->config->resource_name);
    case LATCH_RC_LIMIT_WAITERS:
      return fail (h, rc, "the daemon refused to queue for '%s': as many requests as it "
                   "allows already wait for it ([Daemon] MaxWaitersPerResource)",
                   h->config->resource_name);
    case LATCH_RC_LIMIT_IDLE_LIFESPAN:
      return fail (h, rc, "the daemon refused the idle lifespan of %d ms for '%s': it is "
                   "above the daemon's ceiling ([Daemon] IdleLifespanMax); ask for less "
                   "with -i", h->config->resource_idle_lifespan, h->config->resource_name);
    default:
      return fail (h, LATCH_RC_PROTOCOL_ERROR,
                   "the daemon answered with reason code %d (%s)", rc, latch_strerror (rc));
    }
}

/* ---- the shared session ---------------------------------------------- */

LatchClientSession *
latch_client_session_new (void)
{
  LatchClientSession *s = g_new0 (LatchClientSession, 1);

  s->handles = g_ptr_array_new ();
  s->fd = -1;
  s->framer = latch_framer_new (LATCH_MSG_MAX_SIZE);
  return s;
}

void
latch_client_session_attach (LatchClientSession *s, LatchHandle *h)
{
  h->shared = s;
  g_ptr_array_add (s->handles, h);
}

static gboolean
session_is_open (const LatchClientSession *s)
{
  return s->fd >= 0;
}

/* The session is gone (end of file, an error, a protocol violation, or
 * the last handle leaving): closes it without a word (the daemon then
 * releases everything at once) and tells every handle that held a lock
 * on it why it is lost. */
static void
session_close (LatchClientSession *s, const char *why)
{
  if (s->tls_session != NULL)
    s->tls->session_free (s->tls_session);
  s->tls_session = NULL;
  if (s->fd >= 0)
    close (s->fd);
  s->fd = -1;
  latch_framer_free (s->framer);
  s->framer = latch_framer_new (LATCH_MSG_MAX_SIZE);
  s->last_id = 0;
  for (guint i = 0; i < s->handles->len; i++)
    {
      LatchHandle *g = g_ptr_array_index (s->handles, i);

      if (!g->on_session)
        continue;
      if (g->locked && !g->lost && why != NULL)
        {
          g->lost = TRUE;
          fail (g, LATCH_RC_CONNECTION_CLOSED, "the lock on '%s' is lost: %s",
                g->config->resource_name, why);
        }
      g->id = 0;
      g_queue_clear_full (&g->inbox, (GDestroyNotify)latch_msg_free);
    }
}

gboolean
latch_client_is_own_process (const LatchHandle *h)
{
  if (h->on_session)
    return h->shared->fd < 0 || h->shared->pid == getpid ();
  return h->fd < 0 || h->conn_pid == getpid ();
}

static gboolean
is_tcp (int fd)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;

  return getsockname (fd, (struct sockaddr *)&ss, &len) == 0
         && (ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
}

/* Ends a TCP session without leaving TIME_WAIT behind on this host: the
 * side that closes first keeps it for a minute, and the daemon does not
 * close a session first (doc/protocol.md), so a host running many short
 * `latch -a` commands would pile them up and run out of ports.  A ping
 * answered means the daemon has acted on everything sent before it (it
 * reads a connection in order); then the connection is reset rather than
 * closed, which the daemon takes as an end of file, and nobody keeps a
 * TIME_WAIT. */
static void
end_tcp_session (LatchHandle *h, LatchFramer *framer)
{
  g_autoptr (LatchMsg) ping = latch_msg_new (LATCH_MSG_PING, LATCH_STEP_REQUEST);
  g_autoptr (GError) error = NULL;
  gint64 deadline = latch_client_now_ms () + FIRST_ANSWER_MS;
  struct linger reset = { .l_onoff = 1, .l_linger = 0 };

  if (latch_client_send_msg (h, ping, &error))
    for (;;)
      {
        g_autoptr (LatchMsg) msg = latch_client_read_msg (h, framer, deadline, &error);

        if (msg == NULL || (msg->kind == LATCH_MSG_PING && msg->step != LATCH_STEP_REQUEST))
          break;
      }
  if (h->session != NULL)
    h->tls->bye (h->session);
  (void)setsockopt (h->fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  latch_client_disconnect (h);
}

void
latch_client_session_detach (LatchHandle *h)
{
  LatchClientSession *s = h->shared;

  if (s == NULL)
    return;
  g_ptr_array_remove (s->handles, h);
  g_queue_clear_full (&h->inbox, (GDestroyNotify)latch_msg_free);
  h->shared = NULL;
  h->on_session = FALSE;
  if (s->handles->len > 0)
    return;
  if (session_is_open (s) && s->pid == getpid ())
    {
      /* The handle lends its connection fields for the end. */
      h->fd = s->fd;
      h->session = s->tls_session;
      if (s->tls != NULL)
        h->tls = s->tls;
      s->fd = -1;
      s->tls_session = NULL;
      if (is_tcp (h->fd))
        end_tcp_session (h, s->framer);
      else
        /* As after a legacy unlock: half-close, and wait (bounded) for
         * the daemon's end, so that it has released everything when
         * latch_handle_free () returns (a shell may start the next
         * holder at once). */
        latch_client_close_and_drain (h, FALSE);
    }
  /* In a forked child: close only.  The descriptor is the parent's
   * connection too; a shutdown () or a TLS close would end it for the
   * parent. */
  session_close (s, NULL);
  latch_framer_free (s->framer);
  g_ptr_array_unref (s->handles);
  g_free (s->key);
  g_free (s);
}

static const char *
or_empty (const char *s)
{
  return s != NULL ? s : "";
}

/* Everything that decides where h's connection goes and how (transfer
 * full): a handle whose settings differ from its session's must not use
 * it (latch.h: a connection setting takes effect at the next connection). */
static char *
connection_key (const LatchHandle *h)
{
  const LatchConfig *c = h->config;

  return g_strdup_printf ("%d|%s|%s|%d|%s|%d|%s|%d %d %d|%s|%s|%s|%s|%s|%s|%d|%d|%d",
                          c->system, or_empty (c->socket_name), or_empty (c->unicast_address),
                          c->unicast_port, or_empty (c->multicast_address), c->multicast_port,
                          or_empty (c->network_interface), c->tcp_keepalive_time,
                          c->tcp_keepalive_intvl, c->tcp_keepalive_probes,
                          or_empty (c->security_level), or_empty (c->tls_certificate),
                          or_empty (c->tls_private_key), or_empty (c->tls_ca_certificate),
                          or_empty (c->tls_crl), or_empty (c->tls_priority),
                          c->tls_check_peer_id, c->agent, c->session_timeout);
}

/* The session's connection is h's for the duration of one call: the
 * transport functions (client-connect.c) work on h->fd and h->session.
 * h has no connection of its own then (a handle with a legacy lock does
 * not talk over the session). */
static void
bind_session (LatchHandle *h)
{
  g_assert (h->fd < 0);
  h->fd = h->shared->fd;
  h->session = h->shared->tls_session;
  if (h->session != NULL)
    h->tls = h->shared->tls;
}

static void
unbind_session (LatchHandle *h)
{
  h->fd = -1;
  h->session = NULL;
}

/* h's new connection carries a session: it becomes the shared one. */
static void
adopt_session (LatchHandle *h, LatchFramer **framer, guint64 first_id)
{
  LatchClientSession *s = h->shared;

  g_assert (!session_is_open (s));
  s->fd = h->fd;
  s->tls_session = h->session;
  s->tls = h->tls;
  s->pid = getpid ();
  latch_framer_free (s->framer);
  s->framer = g_steal_pointer (framer);
  s->last_id = first_id;
  g_free (s->key);
  s->key = connection_key (h);
  unbind_session (h);
}

static gboolean
session_send (LatchHandle *h, const LatchMsg *msg, GError **error)
{
  gboolean sent;

  bind_session (h);
  sent = latch_client_send_msg (h, msg, error);
  unbind_session (h);
  return sent;
}

/* An unlock (held) or cancel (pending) of id: no answer comes. */
static gboolean
session_send_unlock (LatchHandle *h, guint64 id, gboolean rollback, GError **error)
{
  g_autoptr (LatchMsg) msg = latch_msg_new (LATCH_MSG_UNLOCK, LATCH_STEP_REQUEST);

  msg->name = g_strdup (h->config->resource_name);
  msg->rollback = rollback;
  msg->id = id;
  return session_send (h, msg, error);
}

/* A message that is not for the handle reading: a ping is answered at
 * once; an answer goes to the handle whose id it names.  A loss ends
 * that handle's lock, with the daemon's words; what a waiting handle
 * needs is kept for it; anything else for an id no longer live (a grant
 * crossing our cancel, say) is dropped: the daemon ignores or releases
 * it on our unlock. */
static void
dispatch (LatchHandle *h, LatchMsg *msg)
{
  LatchClientSession *s = h->shared;
  LatchHandle *to = NULL;

  if (msg->kind == LATCH_MSG_PING && msg->step == LATCH_STEP_REQUEST)
    {
      g_autoptr (LatchMsg) pong = latch_msg_new (LATCH_MSG_PING, LATCH_STEP_FIRST_ANSWER);
      g_autoptr (GError) error = NULL;

      /* A failure shows at the next read as the end of the session. */
      if (!latch_client_send_msg (h, pong, &error))
        latch_log_debug ("answering the daemon's ping: %s", error->message);
      latch_msg_free (msg);
      return;
    }
  if (msg->kind == LATCH_MSG_LOCK_ANSWER && msg->id != 0)
    for (guint i = 0; i < s->handles->len && to == NULL; i++)
      {
        LatchHandle *g = g_ptr_array_index (s->handles, i);

        if (g->on_session && g->id == msg->id)
          to = g;
      }
  if (to != NULL && to->locked && !to->lost && msg->step != LATCH_STEP_FIRST_ANSWER
      && msg->rc != LATCH_RC_OK && msg->rc != LATCH_RC_LOCK_ENQUEUED
      && msg->rc != LATCH_RC_LOCK_WAIT_RESOURCE)
    {
      to->lost = TRUE;
      to->id = 0;
      if (msg->reason != NULL)
        fail (to, LATCH_RC_CONNECTION_CLOSED, "the lock on '%s' is lost: %s",
              to->config->resource_name, msg->reason);
      else
        fail (to, LATCH_RC_CONNECTION_CLOSED,
              "the lock on '%s' is lost: the daemon said so (reason code %d)",
              to->config->resource_name, msg->rc);
    }
  else if (to != NULL && !to->locked)
    {
      g_queue_push_tail (&to->inbox, msg);
      return;
    }
  else if (msg->kind != LATCH_MSG_PING)
    latch_log_debug ("message verb %d step %d for id %" G_GUINT64_FORMAT
                     " (no request of ours waits for it): ignored",
                     msg->verb, msg->step, msg->id);
  latch_msg_free (msg);
}

/* The next message for h's request (h->id), waiting until deadline (-1:
 * forever); what arrives for others on the way is dispatched. */
static LatchMsg *
session_next (LatchHandle *h, gint64 deadline, GError **error)
{
  if (!g_queue_is_empty (&h->inbox))
    return g_queue_pop_head (&h->inbox);
  bind_session (h);
  for (;;)
    {
      LatchMsg *msg = latch_client_read_msg (h, h->shared->framer, deadline, error);

      if (msg == NULL || (msg->kind == LATCH_MSG_LOCK_ANSWER && msg->id == h->id))
        {
          unbind_session (h);
          return msg;
        }
      dispatch (h, msg);
    }
}

/* Takes in what has arrived on the session, without waiting. */
static void
session_poll (LatchHandle *h)
{
  LatchClientSession *s = h->shared;
  g_autoptr (GError) error = NULL;

  if (!session_is_open (s))
    return;
  if (s->pid != getpid ())
    {
      /* A forked child: the session is the parent's, and what arrives
       * on it is for the parent.  Closing the child's copy of the
       * descriptor leaves the parent's connection alone. */
      session_close (s, "the session belongs to the parent process (fork)");
      return;
    }
  bind_session (h);
  for (;;)
    {
      LatchMsg *msg = latch_client_read_msg (h, s->framer, latch_client_now_ms (), &error);

      if (msg == NULL)
        break;
      dispatch (h, msg);
    }
  unbind_session (h);
  if (!g_error_matches (error, LATCH_ERROR, LATCH_ERROR_TIMEOUT))
    {
      g_autofree char *label = latch_client_endpoint_label (h);
      g_autofree char *why
          = g_error_matches (error, LATCH_ERROR, LATCH_ERROR_CONNECTION_CLOSED)
                ? g_strdup_printf ("the daemon at %s closed the session", label)
                : g_strdup_printf ("the session with the daemon at %s failed: %s", label,
                                   error->message);

      session_close (s, why);
    }
}

/* ---- lock ----------------------------------------------------------- */

static LatchMsg *
build_request (LatchHandle *h)
{
  LatchMsg *req = latch_msg_new (LATCH_MSG_LOCK_REQUEST, LATCH_STEP_REQUEST);

  /* The machine ID at the TLS levels, where a daemon may check it; empty
   * in clear text, where nothing can (latch_client_prepare_security ()). */
  req->peerid = g_strdup (h->own_id != NULL ? h->own_id : "");
  req->name = g_strdup (h->config->resource_name);
  /* As FLoM: only simple and hierarchical resources have lock modes (the
   * others are exclusive), only numeric ones have quantities. */
  req->has_mode = h->resource_type == LATCH_RSRC_SIMPLE
                  || h->resource_type == LATCH_RSRC_HIER;
  req->mode = req->has_mode ? h->config->lock_mode : LATCH_LOCK_MODE_EX;
  req->has_quantity = h->resource_type == LATCH_RSRC_NUMERIC;
  req->quantity = req->has_quantity ? h->config->resource_quantity : 1;
  req->wait = h->config->resource_timeout != 0;
  req->create = h->config->resource_create;
  req->lifespan = h->config->resource_idle_lifespan;
  return req;
}

/* Ends h's request or connection after a failure: a session stays (other
 * ids live on it) unless broken is set; an own connection is closed. */
static void
drop_request (LatchHandle *h, gboolean on_session, gboolean broken, const char *why)
{
  if (on_session)
    {
      h->id = 0;
      h->on_session = FALSE;
      if (broken)
        session_close (h->shared, why);
    }
  else
    latch_client_disconnect (h);
}

/* The words for a failed read of the answer. */
static int
read_failure (LatchHandle *h, const GError *error)
{
  if (g_error_matches (error, LATCH_ERROR, LATCH_ERROR_CONNECTION_CLOSED))
    return fail (h, LATCH_RC_CONNECTION_CLOSED,
                 "the daemon went away while '%s' was waiting for the lock",
                 h->config->resource_name);
  if (g_error_matches (error, LATCH_ERROR, LATCH_ERROR_TIMEOUT))
    return fail (h, LATCH_RC_NETWORK_TIMEOUT,
                 "The lock was not obtained because timeout (%d milliseconds) expired",
                 h->config->resource_timeout);
  if (latch_client_is_tls_refusal (error))
    return fail (h, LATCH_RC_CONNECTION_REFUSED, "%s", error->message);
  if (g_error_matches (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_LEVEL))
    return fail (h, LATCH_RC_PROTOCOL_LEVEL_MISMATCH, "the daemon speaks another protocol: %s",
                 error->message);
  return fail (h, error->domain == LATCH_PROTO_ERROR ? LATCH_RC_PROTOCOL_ERROR
                                                      : LATCH_RC_SYSTEM_ERROR,
               "reading the daemon's answer: %s", error->message);
}

/* One lock request and its answers.  reuse: over the open session (else
 * over the connection h has just opened, offering the session). */
static AttemptResult
lock_attempt (LatchHandle *h, gint64 deadline, gboolean reuse, int *rc_out)
{
  LatchClientSession *s = h->shared;
  g_autoptr (GError) error = NULL;
  g_autoptr (LatchFramer) own_framer = reuse ? NULL : latch_framer_new (LATCH_MSG_MAX_SIZE);
  g_autoptr (LatchMsg) req = build_request (h);
  g_autoptr (GString) out = g_string_sized_new (256);
  gboolean answered = FALSE;
  gboolean on_session = reuse;
  gboolean sent;

  req->id = reuse ? ++s->last_id : 1;
  if (!reuse)
    {
      req->ext = LATCH_EXT_LEVEL;
      latch_msg_encode (req, out);
      /* A name that fits FLoM's limit only without the offer: no offer
       * (a latch daemon then serves it on a legacy connection). */
      if (out->len > FLOM_REQUEST_MAX)
        {
          g_autoptr (GString) plain = g_string_sized_new (256);

          req->ext = 0;
          req->id = 0;
          latch_msg_encode (req, plain);
          if (plain->len <= FLOM_REQUEST_MAX)
            g_string_assign (out, plain->str);
          else
            {
              req->ext = LATCH_EXT_LEVEL;
              req->id = 1;
            }
        }
      h->conn_pid = getpid ();
    }
  else
    latch_msg_encode (req, out);
  h->request_len = out->len;
  h->id = req->id;
  h->on_session = reuse;
  if (reuse)
    {
      bind_session (h);
      sent = latch_client_send_all (h, out->str, out->len, &error);
      unbind_session (h);
    }
  else
    sent = latch_client_send_all (h, out->str, out->len, &error);
  if (!sent)
    {
      /* The daemon closed the kept session while it was idle (its
       * deadline), or is gone: a new connection, once. */
      drop_request (h, reuse, TRUE, error->message);
      if (reuse)
        return ATTEMPT_STALE;
      /* With TLS 1.3 the daemon's alert refusing our certificate may be
       * what the write meets. */
      if (latch_client_is_tls_refusal (error))
        {
          *rc_out = fail (h, LATCH_RC_CONNECTION_REFUSED, "%s", error->message);
          return ATTEMPT_DONE;
        }
      return ATTEMPT_CLOSED;
    }

  for (;;)
    {
      gint64 wait_until = answered || deadline < 0
                              ? deadline
                              : MAX (deadline, latch_client_now_ms () + FIRST_ANSWER_MS);
      g_autoptr (LatchMsg) answer
          = on_session ? session_next (h, wait_until, &error)
                       : latch_client_read_msg (h, own_framer, wait_until, &error);

      if (answer == NULL)
        {
          gboolean closed = g_error_matches (error, LATCH_ERROR, LATCH_ERROR_CONNECTION_CLOSED);
          gboolean timeout = g_error_matches (error, LATCH_ERROR, LATCH_ERROR_TIMEOUT);

          if (on_session && answered && timeout)
            {
              g_autoptr (GError) cancel_error = NULL;

              /* Still queued: the session goes on without this request.
               * A grant crossing the cancel is released by it. */
              if (!session_send_unlock (h, h->id, FALSE, &cancel_error))
                drop_request (h, TRUE, TRUE, cancel_error->message);
              else
                drop_request (h, TRUE, FALSE, NULL);
              *rc_out = read_failure (h, error);
              return ATTEMPT_DONE;
            }
          drop_request (h, on_session, TRUE, error->message);
          if (closed && !answered)
            return reuse ? ATTEMPT_STALE : ATTEMPT_CLOSED;
          *rc_out = read_failure (h, error);
          return ATTEMPT_DONE;
        }
      if (answer->kind != LATCH_MSG_LOCK_ANSWER
          || (!answered && answer->step != LATCH_STEP_FIRST_ANSWER)
          || (answered && answer->step == LATCH_STEP_FIRST_ANSWER))
        {
          drop_request (h, on_session, TRUE, "the daemon broke the protocol");
          *rc_out = fail (h, LATCH_RC_PROTOCOL_ERROR,
                          "the daemon sent an unexpected message (verb %d step %d)",
                          answer->verb, answer->step);
          return ATTEMPT_DONE;
        }
      if (!answered && !reuse)
        {
          /* Mutual authentication: the daemon is who its certificate
           * says before anything it granted is used. */
          if (!latch_client_daemon_id_matches (h, answer, &error))
            {
              latch_client_disconnect (h);
              *rc_out = fail_gerror (h, LATCH_RC_UNIQUE_ID_DOES_NOT_MATCH, error);
              return ATTEMPT_DONE;
            }
          if (answer->ext >= LATCH_EXT_LEVEL && req->ext != 0)
            {
              adopt_session (h, &own_framer, req->id);
              on_session = TRUE;
              h->on_session = TRUE;
            }
          else
            h->id = 0; /* a legacy connection: no ids */
        }
      if (!answered && answer->rc == LATCH_RC_DAEMON_QUIESCING)
        {
          gboolean others = FALSE;

          for (guint i = 0; on_session && i < s->handles->len; i++)
            {
              LatchHandle *g = g_ptr_array_index (s->handles, i);

              others |= g != h && g->on_session && g->locked;
            }
          /* Its successor serves new requests: our session with it ends
           * here, unless sharing handles still hold locks on it. */
          if (others)
            {
              g_autofree char *label = latch_client_endpoint_label (h);

              drop_request (h, TRUE, FALSE, NULL);
              *rc_out = fail (h, LATCH_RC_LOCK_BUSY,
                              "the daemon at %s is shutting down (quiescing) and the handles "
                              "sharing this one's session still hold locks there",
                              label);
              return ATTEMPT_DONE;
            }
          drop_request (h, on_session, TRUE, NULL);
          return ATTEMPT_QUIESCING;
        }
      answered = TRUE;
      if (answer->rc == LATCH_RC_OK)
        {
          h->locked = TRUE;
          h->lost = FALSE;
          g_free (h->element);
          h->element = g_strdup (answer->element);
          h->fence = answer->has_fence ? answer->fence : 0;
          *rc_out = succeed (h);
          return ATTEMPT_DONE;
        }
      if (answer->rc == LATCH_RC_LOCK_ENQUEUED || answer->rc == LATCH_RC_LOCK_WAIT_RESOURCE)
        {
          if (h->wait_func != NULL)
            h->wait_func (h, answer->rc, h->wait_data);
          continue;
        }
      /* Any other code is a refusal, at any step: FLoM treats a
       * non-queued code at step 24 as a grant and runs the command
       * unlocked; latch never does.  In a session, a refusal ends this
       * request only. */
      drop_request (h, on_session, FALSE, NULL);
      *rc_out = first_answer_failure (h, answer->rc);
      /* The daemon's (or the agent's) own words win: it knows the cause
       * (e.g. its upstream refused our certificate), where the code alone
       * would be guessed at here.  The status stays the code's. */
      if (answer->reason != NULL)
        fail (h, *rc_out, "%s", answer->reason);
      /* The agent found nobody at its daemon's address: a daemon between
       * two lives (it quiesced, it crashed), which the next attempt may
       * start again (latch_client_connect_daemon ()). */
      if (answer->rc == LATCH_RC_CONNECTION_REFUSED && latch_autostart_uses_agent (h->config))
        {
          gboolean others = FALSE;

          for (guint i = 0; on_session && i < s->handles->len; i++)
            {
              LatchHandle *g = g_ptr_array_index (s->handles, i);

              others |= g != h && g->on_session && g->locked;
            }
          if (others)
            return ATTEMPT_DONE;
          /* The next attempt connects to the agent again, which is where
           * a daemon of ours that is gone is started again. */
          if (on_session)
            session_close (s, "its daemon could not be reached");
          return ATTEMPT_UNREACHED;
        }
      return ATTEMPT_DONE;
    }
}

static int
lock_run (LatchHandle *h)
{
  gint64 start = latch_client_now_ms ();
  gint64 deadline, connect_deadline;

  deadline = h->config->resource_timeout < 0 ? -1 : start + h->config->resource_timeout;
  /* Reaching a daemon may take a moment even when the lock must not be
   * waited for: it may be starting right now. */
  connect_deadline = deadline < 0 ? -1 : MAX (deadline, start + CONNECT_GRACE_MS);
  if (h->locked)
    return fail (h, LATCH_RC_API_INVALID_SEQUENCE, "the handle already holds a lock");
  {
    int rc = latch_client_prepare_security (h, latch_autostart_uses_agent (h->config));

    if (rc != LATCH_RC_OK)
      return rc;
  }
  g_clear_pointer (&h->element, g_free);
  h->fence = 0;
  if (h->resource_type == LATCH_RSRC_NUMERIC)
    {
      int capacity = 0;

      if (latch_rsrc_name_get_number (h->config->resource_name, &capacity)
          && h->config->resource_quantity > capacity)
        return fail (h, LATCH_RC_LOCK_IMPOSSIBLE,
                     "%d units of '%s' can never be granted: its capacity is %d",
                     h->config->resource_quantity, h->config->resource_name, capacity);
    }

  h->n_bare_closes = 0;
  g_queue_clear_full (&h->inbox, (GDestroyNotify)latch_msg_free);
  if (session_is_open (h->shared))
    {
      g_autofree char *key = connection_key (h);

      /* Its connection settings changed since the session was opened
       * (or differ from the sharing handle's that opened it): the handle
       * leaves that session for one of its own; the last one out closes
       * it. */
      if (strcmp (key, h->shared->key) != 0)
        {
          latch_client_session_detach (h);
          latch_client_session_attach (latch_client_session_new (), h);
        }
    }
  gint64 unreached_until = -1;

  for (guint attempt = 0;; attempt++)
    {
      gboolean reuse;
      int rc;

      /* A session the daemon closed while idle is not looked for here
       * (a poll () per lock): the request meets its end, and the attempt
       * is STALE.  A forked child leaves its parent's session alone. */
      if (session_is_open (h->shared) && h->shared->pid != getpid ())
        session_close (h->shared, "the session belongs to the parent process (fork)");
      reuse = session_is_open (h->shared);
      if (!reuse)
        {
          rc = latch_client_connect_daemon (h, connect_deadline, TRUE);
          if (rc != LATCH_RC_OK)
            return rc;
        }
      switch (lock_attempt (h, deadline, reuse, &rc))
        {
        case ATTEMPT_DONE:
          return rc;
        case ATTEMPT_STALE:
          /* It is closed now: the next attempt opens a new one at once. */
          continue;
        case ATTEMPT_QUIESCING:
          /* Said so: the next attempt reaches its successor, once it is
           * gone (a TCP daemon keeps listening while it quiesces). */
          h->n_bare_closes = 0;
          if (connect_deadline >= 0 && latch_client_now_ms () >= connect_deadline)
            {
              g_autofree char *label = latch_client_endpoint_label (h);

              return fail (h, LATCH_RC_LOCK_BUSY,
                           "the daemon at %s is shutting down (quiescing) and was still "
                           "there when the timeout ran out", label);
            }
          break;
        case ATTEMPT_UNREACHED:
          /* Tried again for a moment (CONNECT_GRACE_MS from the first
           * such answer): the daemon may be starting, or ours may be
           * started again by the next connect; then the agent's words. */
          if (unreached_until < 0)
            unreached_until = latch_client_now_ms () + CONNECT_GRACE_MS;
          if (latch_client_now_ms () >= unreached_until
              || (connect_deadline >= 0 && latch_client_now_ms () >= connect_deadline))
            return rc;
          break;
        case ATTEMPT_CLOSED:
          /* Without a word: the daemon may have been exiting (idle, -X),
           * and then the next attempt finds none or a new one.  Twice in
           * a row, it refuses us. */
          if (++h->n_bare_closes >= 2
              || (connect_deadline >= 0 && latch_client_now_ms () >= connect_deadline))
            return latch_client_bare_close_failure (h, FALSE);
          break;
        }
      latch_client_pause_before_retry (attempt, connect_deadline);
    }
}

int
latch_lock (LatchHandle *h)
{
  if (h == NULL)
    return LATCH_RC_NULL_OBJECT;
  return latch_client_report_warnings (h, lock_run (h));
}

/* The lock is over (unlocked, or lost and now acknowledged). */
static void
lock_done (LatchHandle *h)
{
  h->locked = FALSE;
  h->lost = FALSE;
  h->id = 0;
  h->on_session = FALSE;
}

int
latch_unlock (LatchHandle *h, int rollback)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LatchMsg) msg = NULL;

  if (h == NULL)
    return LATCH_RC_NULL_OBJECT;
  if (!h->locked)
    return fail (h, LATCH_RC_API_INVALID_SEQUENCE, "the handle holds no lock");
  if (h->on_session)
    {
      /* A loss or the session's end may be waiting to be read: the
       * caller must hear that its work may have overlapped another
       * holder's. */
      session_poll (h);
      if (h->lost)
        {
          lock_done (h);
          return LATCH_RC_CONNECTION_CLOSED; /* the error text says why */
        }
      if (!session_send_unlock (h, h->id, rollback != 0, &error))
        {
          session_close (h->shared, error->message);
          lock_done (h);
          return fail (h, LATCH_RC_CONNECTION_CLOSED,
                       "the lock on '%s' was already lost: %s", h->config->resource_name,
                       error->message);
        }
      /* No answer comes: the session goes on, the daemon releases the
       * lock when it reads this (before anything we send later). */
      lock_done (h);
      return succeed (h);
    }
  msg = latch_msg_new (LATCH_MSG_UNLOCK, LATCH_STEP_REQUEST);
  msg->name = g_strdup (h->config->resource_name);
  msg->rollback = rollback != 0;
  if (!latch_client_send_msg (h, msg, &error))
    {
      latch_client_disconnect (h);
      lock_done (h);
      return fail (h, LATCH_RC_CONNECTION_CLOSED,
                   "the lock on '%s' was already lost: %s", h->config->resource_name,
                   error->message);
    }
  latch_client_close_and_drain (h, h->fence != 0);
  lock_done (h);
  return succeed (h);
}

int
latch_check (LatchHandle *h)
{
  if (h == NULL)
    return LATCH_RC_NULL_OBJECT;
  if (!h->locked)
    return fail (h, LATCH_RC_API_INVALID_SEQUENCE, "the handle holds no lock");
  if (h->lost)
    return LATCH_RC_CONNECTION_CLOSED;
  if (h->on_session)
    session_poll (h);
  else
    {
      /* A legacy connection carries nothing after the grant: anything
       * readable is its end. */
      struct pollfd pfd = { .fd = h->fd, .events = POLLIN };
      int n;

      do
        n = poll (&pfd, 1, 0);
      while (n < 0 && errno == EINTR);
      if (n != 0)
        {
          g_autofree char *label = latch_client_endpoint_label (h);

          h->lost = TRUE;
          return fail (h, LATCH_RC_CONNECTION_CLOSED,
                       "the lock on '%s' is lost: the daemon at %s closed the connection",
                       h->config->resource_name, label);
        }
    }
  return h->lost ? LATCH_RC_CONNECTION_CLOSED : succeed (h);
}

/* The daemon refused to shut down for us: who may.  Over a UNIX socket
 * the kernel tells who the daemon runs as; a network daemon that refuses
 * is the host's daemon, which is stopped on its host only. */
static int
shutdown_refused (LatchHandle *h)
{
  g_autofree char *label = latch_client_endpoint_label (h);
  uid_t uid;
  gboolean local = h->config->unicast_address == NULL && h->config->multicast_address == NULL
                   && latch_socket_peer_uid (h->fd, &uid, NULL);

  latch_client_close_and_drain (h, TRUE);
  if (local)
    return fail (h, LATCH_RC_SHUTDOWN_NOT_ALLOWED,
                 "only root or the daemon's owner (uid %u) may stop the daemon at %s",
                 (unsigned)uid, label);
  return fail (h, LATCH_RC_SHUTDOWN_NOT_ALLOWED,
               "the daemon at %s refuses to be stopped over the network: stop it on its "
               "host, as root or as its owner", label);
}

static int
shutdown_run (LatchHandle *h, int immediate)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LatchMsg) msg = NULL;
  g_autoptr (LatchMsg) answer = NULL;
  g_autoptr (LatchFramer) framer = latch_framer_new (LATCH_MSG_MAX_SIZE);
  int rc;

  if (h->locked)
    return fail (h, LATCH_RC_API_INVALID_SEQUENCE, "the handle holds a lock");
  rc = latch_client_prepare_security (h, FALSE);
  if (rc != LATCH_RC_OK)
    return rc;
  h->n_bare_closes = 0;
  rc = latch_client_connect_daemon (h, -1, FALSE);
  if (rc != LATCH_RC_OK)
    return rc;
  msg = latch_msg_new (LATCH_MSG_SHUTDOWN, LATCH_STEP_REQUEST);
  msg->peerid = g_strdup (h->own_id != NULL ? h->own_id : "");
  msg->immediate = immediate != 0;
  if (!latch_client_send_msg (h, msg, &error))
    {
      latch_client_disconnect (h);
      return fail (h, LATCH_RC_CONNECTION_CLOSED, "%s", error->message);
    }
  answer = latch_client_read_msg (h, framer, latch_client_now_ms () + SHUTDOWN_ANSWER_MS, &error);
  if (answer == NULL)
    {
      /* A FLoM daemon never answers: it acts, and closes when it exits
       * (-X) or when we do.  Its own client waits at most 1000 ms for
       * anything, then disconnects: silence, or the end of the
       * connection, means delivered. */
      if (g_error_matches (error, LATCH_ERROR, LATCH_ERROR_TIMEOUT)
          || g_error_matches (error, LATCH_ERROR, LATCH_ERROR_CONNECTION_CLOSED))
        {
          latch_log_debug ("no answer to the shutdown request (%s): taken as delivered, "
                           "as a FLoM daemon sends none", error->message);
          latch_client_disconnect (h);
          return succeed (h);
        }
      latch_client_disconnect (h);
      if (latch_client_is_tls_refusal (error))
        return fail_gerror (h, LATCH_RC_CONNECTION_REFUSED, error);
      {
        g_autofree char *label = latch_client_endpoint_label (h);

        return fail (h, LATCH_RC_CONNECTION_CLOSED,
                     "the daemon at %s did not acknowledge the shutdown request: %s",
                     label, error->message);
      }
    }
  if (!latch_client_daemon_id_matches (h, answer, &error))
    {
      latch_client_disconnect (h);
      return fail (h, LATCH_RC_UNIQUE_ID_DOES_NOT_MATCH, "%s (the shutdown request "
                   "was sent: it may have been carried out)", error->message);
    }
  if (answer->kind == LATCH_MSG_SHUTDOWN_ANSWER && answer->rc == LATCH_RC_SHUTDOWN_NOT_ALLOWED)
    return shutdown_refused (h);
  /* A latch daemon closes after its answer. */
  latch_client_close_and_drain (h, TRUE);
  if (answer->kind == LATCH_MSG_SHUTDOWN_ANSWER
      && (answer->rc == LATCH_RC_NO_TLS_CONNECTION
          || answer->rc == LATCH_RC_UNIQUE_ID_DOES_NOT_MATCH
          || answer->rc == LATCH_RC_CONNECTION_REFUSED))
    return refusal_failure (h, answer->rc);
  if (answer->kind != LATCH_MSG_SHUTDOWN_ANSWER || answer->rc != LATCH_RC_OK)
    return fail (h, answer->kind == LATCH_MSG_SHUTDOWN_ANSWER ? answer->rc
                                                              : LATCH_RC_PROTOCOL_ERROR,
                 "the daemon refused to shut down (reason code %d)", answer->rc);
  return succeed (h);
}

int
latch_shutdown_daemon (LatchHandle *h, int immediate)
{
  if (h == NULL)
    return LATCH_RC_NULL_OBJECT;
  return latch_client_report_warnings (h, shutdown_run (h, immediate));
}
