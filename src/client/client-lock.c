/* client-lock.c: liblatch's protocol exchanges with the daemon: a lock
 * request and its answers (queued, granted, refused: each refusal in
 * words), the unlock, the shutdown request. */
#include "config.h"

#include "client/client-private.h"
#include "common/error.h"
#include "common/log.h"
#include "locker/rsrc-name.h"
#include "proto/framer.h"
#include "proto/msg.h"

#include <string.h>

/* While no daemon answers: how long to keep trying when the resource
 * timeout does not say (a daemon is starting, or quiescing). */
#define CONNECT_GRACE_MS 2000
/* The daemon answers a request at once (queued or not): how long its first
 * answer may take even when the timeout is shorter (e.g. -o 0). */
#define FIRST_ANSWER_MS 5000
/* How long to wait for the answer to a shutdown request: a latch daemon
 * answers at once, a FLoM daemon never (its client waits 1000 ms). */
#define SHUTDOWN_ANSWER_MS 1000

typedef enum
{
  ATTEMPT_DONE,      /* *rc is the outcome */
  ATTEMPT_QUIESCING, /* the daemon is quiescing: try again (the next daemon) */
  ATTEMPT_CLOSED,    /* closed (or reset) before any answer, without a word */
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

static AttemptResult
lock_attempt (LatchHandle *h, gint64 deadline, int *rc_out)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LatchFramer) framer = latch_framer_new (LATCH_MSG_MAX_SIZE);
  g_autoptr (LatchMsg) req = latch_msg_new (LATCH_MSG_LOCK_REQUEST, LATCH_STEP_REQUEST);
  g_autoptr (GString) out = g_string_sized_new (256);
  gboolean answered = FALSE;

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
  latch_msg_encode (req, out);
  h->request_len = out->len;
  if (!latch_client_send_all (h, out->str, out->len, &error))
    {
      latch_client_disconnect (h);
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
      g_autoptr (LatchMsg) answer = latch_client_read_msg (h, framer, wait_until, &error);

      if (answer == NULL)
        {
          gboolean closed = g_error_matches (error, LATCH_ERROR, LATCH_ERROR_CONNECTION_CLOSED);

          latch_client_disconnect (h);
          if (closed && !answered)
            return ATTEMPT_CLOSED;
          if (closed)
            *rc_out = fail (h, LATCH_RC_CONNECTION_CLOSED,
                            "the daemon went away while '%s' was waiting for the lock",
                            h->config->resource_name);
          else if (g_error_matches (error, LATCH_ERROR, LATCH_ERROR_TIMEOUT))
            *rc_out = fail (h, LATCH_RC_NETWORK_TIMEOUT,
                            "The lock was not obtained because timeout (%d milliseconds) expired",
                            h->config->resource_timeout);
          else if (latch_client_is_tls_refusal (error))
            *rc_out = fail (h, LATCH_RC_CONNECTION_REFUSED, "%s", error->message);
          else if (g_error_matches (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_LEVEL))
            *rc_out = fail (h, LATCH_RC_PROTOCOL_LEVEL_MISMATCH,
                            "the daemon speaks another protocol: %s", error->message);
          else
            *rc_out = fail (h, error->domain == LATCH_PROTO_ERROR ? LATCH_RC_PROTOCOL_ERROR
                                                                   : LATCH_RC_SYSTEM_ERROR,
                            "reading the daemon's answer: %s", error->message);
          return ATTEMPT_DONE;
        }
      if (answer->kind != LATCH_MSG_LOCK_ANSWER
          || (!answered && answer->step != LATCH_STEP_FIRST_ANSWER)
          || (answered && answer->step == LATCH_STEP_FIRST_ANSWER))
        {
          latch_client_disconnect (h);
          *rc_out = fail (h, LATCH_RC_PROTOCOL_ERROR,
                          "the daemon sent an unexpected message (verb %d step %d)",
                          answer->verb, answer->step);
          return ATTEMPT_DONE;
        }
      /* Mutual authentication: the daemon is who its certificate says
       * before anything it granted is used. */
      if (!answered && !latch_client_daemon_id_matches (h, answer, &error))
        {
          latch_client_disconnect (h);
          *rc_out = fail_gerror (h, LATCH_RC_UNIQUE_ID_DOES_NOT_MATCH, error);
          return ATTEMPT_DONE;
        }
      if (!answered && answer->rc == LATCH_RC_DAEMON_QUIESCING)
        {
          latch_client_disconnect (h);
          return ATTEMPT_QUIESCING;
        }
      answered = TRUE;
      if (answer->rc == LATCH_RC_OK)
        {
          h->locked = TRUE;
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
       * unlocked; latch never does. */
      latch_client_disconnect (h);
      *rc_out = first_answer_failure (h, answer->rc);
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
    int rc = latch_client_prepare_security (h);

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
  for (guint attempt = 0;; attempt++)
    {
      int rc = latch_client_connect_daemon (h, connect_deadline, TRUE);

      if (rc != LATCH_RC_OK)
        return rc;
      switch (lock_attempt (h, deadline, &rc))
        {
        case ATTEMPT_DONE:
          return rc;
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

int
latch_unlock (LatchHandle *h, int rollback)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LatchMsg) msg = NULL;

  if (h == NULL)
    return LATCH_RC_NULL_OBJECT;
  if (!h->locked)
    return fail (h, LATCH_RC_API_INVALID_SEQUENCE, "the handle holds no lock");
  msg = latch_msg_new (LATCH_MSG_UNLOCK, LATCH_STEP_REQUEST);
  msg->name = g_strdup (h->config->resource_name);
  msg->rollback = rollback != 0;
  if (!latch_client_send_msg (h, msg, &error))
    {
      latch_client_disconnect (h);
      return fail (h, LATCH_RC_CONNECTION_CLOSED,
                   "the lock on '%s' was already lost: %s", h->config->resource_name,
                   error->message);
    }
  latch_client_close_and_drain (h, h->fence != 0);
  return succeed (h);
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
  rc = latch_client_prepare_security (h);
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
