/* daemon-session.c: one client connection of the daemon (a Client).
 *
 * It reads messages, admits or refuses the first one, and turns lock,
 * unlock and shutdown requests into calls on the lock table
 * (table/lock-table.h); the table's answers and losses come back through
 * latch_daemon_table_callbacks, and become answers on the connection, or
 * its end.  A Client is the table's owner for as long as its connection
 * lives: closed_cb drops it, so no answer ever reaches a connection that
 * is gone (the table guarantees it). */
#include "config.h"

#include "daemon/daemon-private.h"

#include "common/log.h"
#include "proto/msg.h"

static gboolean
client_has_state (const Client *c)
{
  return c->has_pending || c->n_holds > 0;
}

static void
send_msg (Client *c, const LatchMsg *msg)
{
  g_autoptr (GString) out = g_string_sized_new (256);

  latch_msg_encode (msg, out);
  latch_conn_send (c->conn, out->str, out->len);
}

static void
send_lock_answer (Client *c, int step, LatchLockStatus status, guint64 fence,
                  const char *element)
{
  g_autoptr (LatchMsg) msg = latch_msg_new (LATCH_MSG_LOCK_ANSWER, step);

  if (step == LATCH_STEP_FIRST_ANSWER)
    msg->peerid = g_strdup (c->daemon->peerid);
  msg->rc = (int)status;
  if (status == LATCH_LOCK_GRANTED)
    {
      msg->has_fence = TRUE;
      msg->fence = fence;
      msg->element = g_strdup (element);
    }
  send_msg (c, msg);
}

static void
update_conn_deadline (Client *c)
{
  if (!latch_conn_is_open (c->conn))
    return;
  if (client_has_state (c))
    latch_conn_set_deadline (c->conn, 0, NULL);
  else
    latch_conn_set_deadline (c->conn, LATCH_DAEMON_IDLE_CONN_MS,
                             "idle without a lock");
}

static void
protocol_error (Client *c, const char *what)
{
  g_autoptr (GError) error
      = g_error_new (LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED, "%s", what);

  latch_conn_abort (c->conn, error);
}

static void refuse (Client *c, const LatchMsg *msg, int rc);

/* The limit a status reports, NULL when it is not a limit's refusal. */
static const char *
limit_name (LatchLockStatus status)
{
  switch (status)
    {
    case LATCH_LOCK_LIMIT_LOCKS: return "MaxLocksPerConnection reached";
    case LATCH_LOCK_LIMIT_RESOURCES: return "MaxResources reached";
    case LATCH_LOCK_LIMIT_WAITERS: return "MaxWaitersPerResource reached";
    case LATCH_LOCK_LIMIT_IDLE_LIFESPAN: return "idle lifespan above IdleLifespanMax";
    default: return NULL;
    }
}

/* The first answer to the request in flight (step 16). */
static void
first_answer (Client *c, const LatchTableAnswer *answer)
{
  LatchLockStatus status = answer->status;

  latch_log_debug ("%s: lock '%s' mode %d wait %d create %d: rc %d",
                   latch_conn_get_label (c->conn), c->req_name, c->req.mode, c->req.wait,
                   c->req.create, (int)status);
  c->has_pending = FALSE;
  switch (status)
    {
    case LATCH_LOCK_GRANTED:
      c->n_holds++;
      break;
    case LATCH_LOCK_QUEUED:
    case LATCH_LOCK_WAIT_RESOURCE:
      c->has_pending = TRUE;
      break;
    default:
      break;
    }
  send_lock_answer (c, LATCH_STEP_FIRST_ANSWER, status, answer->fence, answer->element);
  if (status == LATCH_LOCK_CANT_WAIT || status == LATCH_LOCK_INVALID_NAME
      || status == LATCH_LOCK_INIT_ERROR)
    latch_conn_close_after_flush (c->conn);
  else if (limit_name (status) != NULL)
    {
      /* Past a limit: this request only.  Locks the connection holds
       * stay held (and it may release them); one holding nothing ends. */
      latch_log_info ("%s: lock '%s' refused: %s", latch_conn_get_label (c->conn),
                      c->req_name, limit_name (status));
      if (!client_has_state (c))
        latch_conn_close_after_flush (c->conn);
      else
        update_conn_deadline (c);
    }
  else
    update_conn_deadline (c);
}

/* A later answer (step 24): a grant from the queue, or the outcome of a
 * wait for the resource's creation. */
static void
later_answer (Client *c, const LatchTableAnswer *answer)
{
  if (answer->status == LATCH_LOCK_GRANTED)
    {
      c->has_pending = FALSE;
      c->n_holds++;
      latch_log_debug ("%s: granted from the queue, fence %" G_GUINT64_FORMAT,
                       latch_conn_get_label (c->conn), answer->fence);
    }
  else if (answer->status != LATCH_LOCK_QUEUED)
    c->has_pending = FALSE;
  send_lock_answer (c, LATCH_STEP_LATER_ANSWER, answer->status, answer->fence,
                    answer->element);
  /* A refusal (e.g. an impossible numeric request handed over from
   * the incubator) is final: nothing more will come on it. */
  if (answer->status != LATCH_LOCK_GRANTED && answer->status != LATCH_LOCK_QUEUED
      && !client_has_state (c))
    latch_conn_close_after_flush (c->conn);
  else
    update_conn_deadline (c);
}

static void
table_answer_cb (LatchTable *table G_GNUC_UNUSED, LatchTableOwner *owner, gboolean first,
                 LatchTableAnswer *answer, gpointer user_data)
{
  Daemon *d = user_data;
  Client *c = owner->user_data;

  if (!g_hash_table_contains (d->clients, c))
    return; /* cannot happen: the table forgets dropped owners */
  if (first)
    first_answer (c, answer);
  else
    later_answer (c, answer);
}

/* The table lost a lock this client held (a remote backend's lease or
 * session ended).  The protocol has no message for that: a FLoM or latch
 * client learns it only when its connection ends, so the connection is
 * closed now, and with it every other lock and wait it had: the command
 * holding it must not go on believing it holds the lock. */
static void
table_lost_cb (LatchTable *table G_GNUC_UNUSED, LatchTableOwner *owner, const char *name,
               const GError *reason, gpointer user_data)
{
  Daemon *d = user_data;
  Client *c = owner->user_data;
  g_autoptr (GError) why = NULL;

  if (!g_hash_table_contains (d->clients, c))
    return;
  if (c->n_holds > 0)
    c->n_holds--;
  why = g_error_new (LATCH_ERROR, LATCH_ERROR_IO, "lock '%s' lost: %s", name,
                     reason != NULL ? reason->message : "by the lock table");
  latch_log_info ("%s: %s: closing the connection", latch_conn_get_label (c->conn),
                  why->message);
  latch_conn_abort (c->conn, why);
}

static void
table_changed_cb (LatchTable *table G_GNUC_UNUSED, gpointer user_data)
{
  latch_daemon_check_lifetime (user_data);
}

const LatchTableCallbacks latch_daemon_table_callbacks = {
  table_answer_cb,
  table_lost_cb,
  table_changed_cb,
};

static void
handle_lock (Client *c, const LatchMsg *msg)
{
  Daemon *d = c->daemon;
  g_autoptr (GError) error = NULL;
  LatchRsrcType type;

  if (d->quiescing && !client_has_state (c))
    {
      /* New requests go to the next daemon.  The answer says so: a latch
       * client tries again, and takes a close without any answer as a
       * refusal (a FLoM client fails on either). */
      latch_log_info ("%s: quiescing: refusing a new request", latch_conn_get_label (c->conn));
      refuse (c, msg, LATCH_RC_DAEMON_QUIESCING);
      return;
    }
  if (c->has_pending)
    {
      protocol_error (c, "a second lock request while one is still waiting");
      return;
    }
  if (!latch_rsrc_name_check (msg->name, &type, &error))
    {
      latch_log_info ("%s: %s", latch_conn_get_label (c->conn), error->message);
      send_lock_answer (c, LATCH_STEP_FIRST_ANSWER, LATCH_LOCK_INVALID_NAME, 0, NULL);
      latch_conn_close_after_flush (c->conn);
      return;
    }

  g_free (c->req_name);
  c->req_name = g_strdup (msg->name);
  c->req.name = c->req_name;
  c->req.mode = msg->has_mode ? (LatchLockMode)msg->mode : LATCH_LOCK_MODE_EX;
  c->req.quantity = msg->has_quantity ? msg->quantity : 1;
  c->req.wait = msg->wait;
  c->req.create = msg->create;
  c->req.lifespan = msg->lifespan;
  /* In flight until its first answer, which may come from inside this
   * call (the memory backend) or later (a remote one). */
  c->has_pending = TRUE;
  if (latch_table_request (d->table, c->owner, &c->req) == LATCH_TABLE_PENDING)
    update_conn_deadline (c);
}

static void
handle_unlock (Client *c, const LatchMsg *msg)
{
  Daemon *d = c->daemon;

  if (!latch_table_release (d->table, c->owner, msg->name, msg->rollback))
    {
      g_autofree char *what = g_strdup_printf ("unlock of '%s', which it does not hold",
                                               msg->name);
      protocol_error (c, what);
      return;
    }
  c->n_holds--;
  latch_log_debug ("%s: unlocked '%s'", latch_conn_get_label (c->conn), msg->name);
  /* Nothing left on this connection: close it first, so that TCP's
   * TIME_WAIT stays here rather than on every client host (latch clients
   * wait for it; FLoM clients half-close and drain, which works too). */
  if (!client_has_state (c))
    latch_conn_close_after_flush (c->conn);
  else
    update_conn_deadline (c);
}

static void
handle_shutdown (Client *c, const LatchMsg *msg)
{
  Daemon *d = c->daemon;
  g_autoptr (LatchMsg) answer = latch_msg_new (LATCH_MSG_SHUTDOWN_ANSWER,
                                               LATCH_STEP_FIRST_ANSWER);

  answer->rc = LATCH_RC_OK;
  /* Only to a client that announced itself (a mutual-level latch
   * client): earlier latch clients refuse the element in 5/16. */
  if (msg->peerid != NULL && msg->peerid[0] != '\0')
    answer->peerid = g_strdup (d->peerid);
  send_msg (c, answer);
  latch_conn_close_after_flush (c->conn);
  if (msg->immediate)
    {
      latch_log_info ("%s: immediate shutdown requested: exiting now",
                      latch_conn_get_label (c->conn));
      g_main_loop_quit (d->loop);
      return;
    }
  latch_daemon_quiesce (d, latch_conn_get_label (c->conn));
}

/* Answers a first message with a refusal (reason code rc), then closes:
 * the client prints why instead of seeing the connection drop. */
static void
refuse (Client *c, const LatchMsg *msg, int rc)
{
  g_autoptr (LatchMsg) answer = NULL;

  gboolean shutdown = msg != NULL && msg->kind == LATCH_MSG_SHUTDOWN;

  answer = latch_msg_new (shutdown ? LATCH_MSG_SHUTDOWN_ANSWER : LATCH_MSG_LOCK_ANSWER,
                          LATCH_STEP_FIRST_ANSWER);
  /* A clear-text client of a TLS daemon learns nothing about it; a
   * shutdown answer carries the ID only for a client that announced its
   * own (as in handle_shutdown). */
  if (rc == LATCH_RC_NO_TLS_CONNECTION)
    answer->peerid = shutdown ? NULL : g_strdup ("");
  else if (!shutdown || (msg->peerid != NULL && msg->peerid[0] != '\0'))
    answer->peerid = g_strdup (c->daemon->peerid);
  answer->rc = rc;
  send_msg (c, answer);
  latch_conn_close_after_flush (c->conn);
}

/* The security checks on a connection's first message.  FALSE: refused
 * (answered and closing). */
static gboolean
admit (Client *c, const LatchMsg *msg)
{
  Daemon *d = c->daemon;
  g_autoptr (GError) error = NULL;
  const char *label = latch_conn_get_label (c->conn);

  if (d->level == LATCH_SECURITY_CLEAR)
    return TRUE;
  if (!latch_conn_is_tls (c->conn))
    {
      latch_log_info ("%s: refused: a clear-text client, and this daemon requires TLS",
                      label);
      refuse (c, msg, LATCH_RC_NO_TLS_CONNECTION);
      return FALSE;
    }
  if (!d->tls->check_peer_id (latch_conn_get_tls (c->conn),
                              msg->peerid != NULL ? msg->peerid : "", &error))
    {
      latch_log_info ("%s: refused: %s", label, error->message);
      refuse (c, msg, g_error_matches (error, LATCH_ERROR, LATCH_ERROR_TLS_NOT_ALLOWED)
                          ? LATCH_RC_CONNECTION_REFUSED
                          : LATCH_RC_UNIQUE_ID_DOES_NOT_MATCH);
      return FALSE;
    }
  return TRUE;
}

static void
client_message_cb (LatchConn *conn, GBytes *bytes, gpointer user_data)
{
  Client *c = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (LatchMsg) msg = NULL;
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);
  gboolean first;

  if (!latch_codec_decode (data, len, &msg, &error))
    {
      latch_conn_abort (conn, error);
      return;
    }
  /* The connection's state says whether this is its first message
   * (net/conn.h): the first lock request or shutdown passes admission and
   * decides what the connection is for. */
  first = latch_conn_get_state (conn) == LATCH_CONN_AWAIT_FIRST;
  if (first && (msg->kind == LATCH_MSG_LOCK_REQUEST || msg->kind == LATCH_MSG_SHUTDOWN)
      && !admit (c, msg))
    return;
  switch (msg->kind)
    {
    case LATCH_MSG_LOCK_REQUEST:
      if (first)
        latch_conn_begin (conn, LATCH_CONN_LOCKING);
      handle_lock (c, msg);
      break;
    case LATCH_MSG_UNLOCK:
      if (first)
        protocol_error (c, "the first message is an unlock");
      else
        handle_unlock (c, msg);
      break;
    case LATCH_MSG_SHUTDOWN:
      if (!first)
        protocol_error (c, "a shutdown request on a lock connection");
      else
        {
          latch_conn_begin (conn, LATCH_CONN_MANAGEMENT);
          handle_shutdown (c, msg);
        }
      break;
    default:
      {
        g_autofree char *what = g_strdup_printf ("unexpected message verb %d step %d",
                                                 msg->verb, msg->step);
        protocol_error (c, what);
      }
      break;
    }
}

static void
client_closed_cb (LatchConn *conn, const GError *reason G_GNUC_UNUSED, gpointer user_data)
{
  Client *c = user_data;
  Daemon *d = c->daemon;

  if (client_has_state (c))
    latch_log_debug ("%s: gone with %u locks held%s: releasing",
                     latch_conn_get_label (conn), c->n_holds,
                     c->has_pending ? " and a request waiting" : "");
  g_hash_table_remove (d->clients, c);
  /* Grants that follow go to others from inside this call; none comes
   * for c any more. */
  latch_table_drop_owner (d->table, c->owner);
  g_free (c->req_name);
  g_free (c);
  latch_daemon_resume_accepting (d);
  latch_daemon_check_lifetime (d);
}

static void
client_secured_cb (LatchConn *conn, gpointer user_data G_GNUC_UNUSED)
{
  latch_conn_set_deadline (conn, LATCH_DAEMON_FIRST_MESSAGE_MS,
                           "waiting for the first message");
}

/* A TLS client reached this clear daemon: an answer in clear text tells
 * it so (a latch client explains; FLoM's fails its handshake). */
static void
client_tls_hello_cb (LatchConn *conn, gpointer user_data)
{
  Client *c = user_data;

  latch_log_info ("%s: refused: a TLS client, and this daemon runs without TLS",
                  latch_conn_get_label (conn));
  refuse (c, NULL, LATCH_RC_NO_TLS_CONNECTION);
}

static const LatchConnCallbacks client_callbacks = {
  client_message_cb,
  client_closed_cb,
  client_secured_cb,
  client_tls_hello_cb,
};

Client *
latch_daemon_session_new (Daemon *d, int fd, const char *label)
{
  Client *c = g_new0 (Client, 1);

  c->daemon = d;
  g_hash_table_add (d->clients, c);
  c->owner = latch_table_owner_new (d->table, label, c);
  c->conn = latch_conn_new (fd, label, &client_callbacks, c);
  return c;
}
