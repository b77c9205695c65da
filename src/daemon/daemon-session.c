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
#include "common/text.h"
#include "proto/msg.h"

#include <string.h>
#include <unistd.h>

static gboolean
is_session (const Client *c)
{
  return c->slots != NULL;
}

static gboolean
slot_is_live (const Slot *s)
{
  return s->has_pending || s->n_holds > 0;
}

/* Whether the connection holds or waits for anything: a legacy one's
 * slot, or any live id of a session (a session keeps only live ids). */
static gboolean
client_has_state (const Client *c)
{
  if (is_session (c))
    return g_hash_table_size (c->slots) > 0;
  return slot_is_live (&c->legacy);
}

static void
slot_init (Slot *s, Client *c, guint64 id, const char *label)
{
  s->client = c;
  s->id = id;
  s->owner = latch_table_owner_new (c->daemon->table, label, s);
}

/* Drops the slot's owner: what it still holds is released as a
 * rollback, what it waits for withdrawn. */
static void
slot_clear (Slot *s)
{
  latch_daemon_metrics_slot_gone (s->client->daemon, s);
  if (s->owner != NULL)
    latch_table_drop_owner (s->client->daemon->table, g_steal_pointer (&s->owner));
  g_clear_pointer (&s->req_name, g_free);
}

static void
slot_free (Slot *s)
{
  slot_clear (s);
  g_free (s);
}

static void
send_msg (Client *c, const LatchMsg *msg)
{
  g_autoptr (GString) out = g_string_sized_new (256);

  latch_msg_encode (msg, out);
  latch_conn_send (c->conn, out->str, out->len);
}

/* reason as an answer may carry it: one line of valid UTF-8, at most
 * LATCH_STRING_MAX bytes (it may quote a resource name, which can hold
 * anything but NUL; an escaped byte takes four). */
static char *
wire_reason (const char *reason)
{
  char *text = latch_text_quote (reason, -1, LATCH_STRING_MAX - 8, LATCH_QUOTE_BARE);

  if (strlen (text) <= LATCH_STRING_MAX)
    return text;
  g_free (text);
  return latch_text_quote (reason, -1, LATCH_STRING_MAX / 4 - 8, LATCH_QUOTE_BARE);
}

/* An answer to a lock request: to a legacy connection's request in
 * flight (id 0), or to a session's id (then with the id, the extension
 * level on the session's first answer, and reason when not NULL). */
static void
send_lock_answer (Client *c, guint64 id, int step, int rc, guint64 fence,
                  const char *element, const char *reason)
{
  g_autoptr (LatchMsg) msg = latch_msg_new (LATCH_MSG_LOCK_ANSWER, step);

  if (step == LATCH_STEP_FIRST_ANSWER)
    {
      msg->peerid = g_strdup (c->daemon->peerid);
      if (is_session (c) && !c->ext_sent)
        {
          msg->ext = LATCH_EXT_LEVEL;
          c->ext_sent = TRUE;
        }
    }
  msg->rc = rc;
  if (rc == LATCH_LOCK_GRANTED)
    {
      msg->has_fence = TRUE;
      msg->fence = fence;
      msg->element = g_strdup (element);
    }
  if (is_session (c))
    {
      msg->id = id;
      if (reason != NULL)
        msg->reason = wire_reason (reason);
    }
  send_msg (c, msg);
}

static void
update_conn_deadline (Client *c)
{
  if (!latch_conn_is_open (c->conn))
    return;
  /* A session with a timeout has one deadline only, re-armed by each
   * message it sends (client_message_cb): what it holds does not matter,
   * and neither does what the daemon sends it. */
  if (is_session (c) && c->timeout > 0)
    return;
  if (client_has_state (c))
    latch_conn_set_deadline (c->conn, 0, NULL);
  else
    latch_conn_set_deadline (c->conn, LATCH_DAEMON_IDLE_CONN_MS,
                             "idle without a lock");
}

/* After a change in a session: it is never closed because it holds
 * nothing, except by a quiescing daemon, which serves what it holds or
 * waits for and then lets it go. */
static void
session_settle (Client *c)
{
  if (c->daemon->quiescing && !client_has_state (c))
    latch_conn_close_after_flush (c->conn);
  else
    update_conn_deadline (c);
}

/* A session's id is over: it holds and waits for nothing any more. */
static void
session_finish (Slot *s)
{
  g_hash_table_remove (s->client->slots, &s->id);
  slot_free (s);
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

/* What a session's answer says about itself: the backend's words (an
 * agent's upstream refused or could not be reached), else the limit it
 * reports, else nothing. */
static const char *
answer_reason (const LatchTableAnswer *answer)
{
  return answer->reason != NULL ? answer->reason : limit_name (answer->status);
}

/* The first answer to a session id's request (step 16).  A refusal
 * finishes that id only; the session goes on. */
static void
session_first_answer (Slot *s, const LatchTableAnswer *answer)
{
  Client *c = s->client;
  LatchLockStatus status = answer->status;

  latch_log_debug ("%s: id %" G_GUINT64_FORMAT ": lock '%s' mode %d wait %d create %d: rc %d",
                   latch_conn_get_label (c->conn), s->id, s->req_name, s->req.mode,
                   s->req.wait, s->req.create, (int)status);
  s->has_pending = status == LATCH_LOCK_QUEUED || status == LATCH_LOCK_WAIT_RESOURCE;
  if (status == LATCH_LOCK_GRANTED)
    s->n_holds++;
  send_lock_answer (c, s->id, LATCH_STEP_FIRST_ANSWER, (int)status, answer->fence,
                    answer->element, answer_reason (answer));
  if (!slot_is_live (s))
    {
      if (limit_name (status) != NULL)
        latch_log_fields (LATCH_LOG_INFO, s->req_name, latch_conn_get_label (c->conn),
                          limit_name (status), "%s: id %" G_GUINT64_FORMAT ": lock '%s' refused: %s",
                          latch_conn_get_label (c->conn), s->id, s->req_name,
                          limit_name (status));
      session_finish (s);
    }
  session_settle (c);
}

/* A later answer to a session id (step 24). */
static void
session_later_answer (Slot *s, const LatchTableAnswer *answer)
{
  Client *c = s->client;

  if (answer->status == LATCH_LOCK_GRANTED)
    {
      s->has_pending = FALSE;
      s->n_holds++;
      latch_log_fields (LATCH_LOG_DEBUG, s->req_name, latch_conn_get_label (c->conn), NULL,
                        "%s: id %" G_GUINT64_FORMAT ": granted from the queue, fence %"
                        G_GUINT64_FORMAT, latch_conn_get_label (c->conn), s->id,
                        answer->fence);
    }
  else if (answer->status != LATCH_LOCK_QUEUED)
    s->has_pending = FALSE;
  send_lock_answer (c, s->id, LATCH_STEP_LATER_ANSWER, (int)answer->status, answer->fence,
                    answer->element, answer_reason (answer));
  if (!slot_is_live (s))
    session_finish (s);
  session_settle (c);
}

/* The first answer to the request in flight (step 16). */
static void
first_answer (Slot *s, const LatchTableAnswer *answer)
{
  Client *c = s->client;
  LatchLockStatus status = answer->status;

  if (is_session (c))
    {
      session_first_answer (s, answer);
      return;
    }
  latch_log_debug ("%s: lock '%s' mode %d wait %d create %d: rc %d",
                   latch_conn_get_label (c->conn), s->req_name, s->req.mode, s->req.wait,
                   s->req.create, (int)status);
  s->has_pending = FALSE;
  switch (status)
    {
    case LATCH_LOCK_GRANTED:
      s->n_holds++;
      break;
    case LATCH_LOCK_QUEUED:
    case LATCH_LOCK_WAIT_RESOURCE:
      s->has_pending = TRUE;
      break;
    default:
      break;
    }
  send_lock_answer (c, 0, LATCH_STEP_FIRST_ANSWER, (int)status, answer->fence,
                    answer->element, NULL);
  if (status == LATCH_LOCK_CANT_WAIT || status == LATCH_LOCK_INVALID_NAME
      || status == LATCH_LOCK_INIT_ERROR)
    latch_conn_close_after_flush (c->conn);
  else if (limit_name (status) != NULL)
    {
      /* Past a limit: this request only.  Locks the connection holds
       * stay held (and it may release them); one holding nothing ends. */
      latch_log_fields (LATCH_LOG_INFO, s->req_name, latch_conn_get_label (c->conn),
                        limit_name (status), "%s: lock '%s' refused: %s",
                        latch_conn_get_label (c->conn), s->req_name, limit_name (status));
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
later_answer (Slot *s, const LatchTableAnswer *answer)
{
  Client *c = s->client;

  if (is_session (c))
    {
      session_later_answer (s, answer);
      return;
    }
  if (answer->status == LATCH_LOCK_GRANTED)
    {
      s->has_pending = FALSE;
      s->n_holds++;
      latch_log_fields (LATCH_LOG_DEBUG, s->req_name, latch_conn_get_label (c->conn), NULL,
                        "%s: granted from the queue, fence %" G_GUINT64_FORMAT,
                        latch_conn_get_label (c->conn), answer->fence);
    }
  else if (answer->status != LATCH_LOCK_QUEUED)
    s->has_pending = FALSE;
  send_lock_answer (c, 0, LATCH_STEP_LATER_ANSWER, (int)answer->status, answer->fence,
                    answer->element, NULL);
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
  Slot *s = owner->user_data;

  if (!g_hash_table_contains (d->clients, s->client))
    return; /* cannot happen: the table forgets dropped owners */
  latch_daemon_metrics_answered (d, s, first, answer->status);
  if (first)
    first_answer (s, answer);
  else
    later_answer (s, answer);
}

/* The table lost a lock this client held (a remote backend's lease or
 * session ended).  A session is told so by the id's loss answer (1/24,
 * rc 8, with the reason), and that id is over.  FLoM's protocol has no
 * message for it: a legacy client learns it only when its connection
 * ends, so the connection is closed now, and with it every other lock
 * and wait it had: the command holding it must not go on believing it
 * holds the lock. */
static void
table_lost_cb (LatchTable *table G_GNUC_UNUSED, LatchTableOwner *owner, const char *name,
               const GError *reason, gpointer user_data)
{
  Daemon *d = user_data;
  Slot *s = owner->user_data;
  Client *c = s->client;
  g_autoptr (GError) why = NULL;

  if (!g_hash_table_contains (d->clients, c))
    return;
  latch_daemon_metrics_lost (d);
  if (s->n_holds > 0)
    s->n_holds--;
  why = g_error_new (LATCH_ERROR, LATCH_ERROR_IO, "lock '%s' lost: %s", name,
                     reason != NULL ? reason->message : "by the lock table");
  if (is_session (c))
    {
      latch_log_fields (LATCH_LOG_INFO, name, latch_conn_get_label (c->conn),
                        reason != NULL ? reason->message : NULL,
                        "%s: id %" G_GUINT64_FORMAT ": %s", latch_conn_get_label (c->conn),
                        s->id, why->message);
      /* The id names the lock: the reason is the cause alone. */
      send_lock_answer (c, s->id, LATCH_STEP_LATER_ANSWER, LATCH_RC_CONNECTION_CLOSED, 0,
                        NULL, reason != NULL ? reason->message : "lost by the lock table");
      if (!slot_is_live (s))
        session_finish (s);
      session_settle (c);
      return;
    }
  latch_log_fields (LATCH_LOG_INFO, name, latch_conn_get_label (c->conn),
                    reason != NULL ? reason->message : NULL,
                    "%s: %s: closing the connection", latch_conn_get_label (c->conn),
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

/* Copies what a lock request asks for into the slot and hands it to the
 * lock table.  The slot may be gone when this returns (a session's id
 * refused at once is finished from inside the call). */
static LatchTableOutcome
slot_request (Slot *s, const LatchMsg *msg)
{
  g_free (s->req_name);
  s->req_name = g_strdup (msg->name);
  s->req.name = s->req_name;
  s->req.mode = msg->has_mode ? (LatchLockMode)msg->mode : LATCH_LOCK_MODE_EX;
  s->req.quantity = msg->has_quantity ? msg->quantity : 1;
  s->req.wait = msg->wait;
  s->req.create = msg->create;
  s->req.lifespan = msg->lifespan;
  /* In flight until its first answer, which may come from inside this
   * call (the memory backend) or later (a remote one). */
  s->has_pending = TRUE;
  return latch_table_request (s->client->daemon->table, s->owner, &s->req);
}

/* A session's lock request: a new id, its own lock-table owner.
 * Refusals answer that id only. */
static void
session_lock (Client *c, const LatchMsg *msg)
{
  Daemon *d = c->daemon;
  const char *label = latch_conn_get_label (c->conn);
  int max_locks = d->config->settings->max_locks_per_connection;
  g_autoptr (GError) error = NULL;
  g_autofree char *slot_label = NULL;
  LatchRsrcType type;
  Slot *s;

  if (msg->id == 0)
    {
      protocol_error (c, "a lock request without an id in a session");
      return;
    }
  if (g_hash_table_contains (c->slots, &msg->id))
    {
      g_autofree char *what = g_strdup_printf ("a lock request with id %" G_GUINT64_FORMAT
                                               ", which is still in use", msg->id);
      protocol_error (c, what);
      return;
    }
  if (d->quiescing)
    {
      latch_log_info ("%s: id %" G_GUINT64_FORMAT ": quiescing: refusing a new request",
                      label, msg->id);
      latch_daemon_metrics_refused (d, c, LATCH_RC_DAEMON_QUIESCING);
      send_lock_answer (c, msg->id, LATCH_STEP_FIRST_ANSWER, LATCH_RC_DAEMON_QUIESCING, 0,
                        NULL, "the daemon is shutting down");
      session_settle (c);
      return;
    }
  /* The locker counts an owner's locks; in a session every id is an
   * owner, so the session counts its live ids itself. */
  if (max_locks > 0 && g_hash_table_size (c->slots) >= (guint)max_locks)
    {
      const char *why = limit_name (LATCH_LOCK_LIMIT_LOCKS);

      latch_log_fields (LATCH_LOG_INFO, msg->name, label, why,
                        "%s: id %" G_GUINT64_FORMAT ": lock '%s' refused: %s", label,
                        msg->id, msg->name, why);
      latch_daemon_metrics_refused (d, c, LATCH_LOCK_LIMIT_LOCKS);
      send_lock_answer (c, msg->id, LATCH_STEP_FIRST_ANSWER, LATCH_LOCK_LIMIT_LOCKS, 0,
                        NULL, why);
      session_settle (c);
      return;
    }
  if (!latch_rsrc_name_check (msg->name, &type, &error))
    {
      latch_log_info ("%s: id %" G_GUINT64_FORMAT ": %s", label, msg->id, error->message);
      latch_daemon_metrics_refused (d, c, LATCH_LOCK_INVALID_NAME);
      send_lock_answer (c, msg->id, LATCH_STEP_FIRST_ANSWER, LATCH_LOCK_INVALID_NAME, 0,
                        NULL, error->message);
      session_settle (c);
      return;
    }
  slot_label = g_strdup_printf ("%s id %" G_GUINT64_FORMAT, label, msg->id);
  s = g_new0 (Slot, 1);
  slot_init (s, c, msg->id, slot_label);
  g_hash_table_insert (c->slots, &s->id, s);
  if (slot_request (s, msg) == LATCH_TABLE_PENDING)
    update_conn_deadline (c);
}

/* The first lock request offers the session extension: the connection
 * becomes a session.  FALSE: refused (closing). */
static gboolean
session_begin (Client *c, const LatchMsg *msg)
{
  if (msg->id == 0)
    {
      protocol_error (c, "a session offer without a lock id");
      return FALSE;
    }
  /* The implicit slot made for a legacy connection holds nothing yet:
   * each id gets its own from here on. */
  slot_clear (&c->legacy);
  c->slots = g_hash_table_new (g_int64_hash, g_int64_equal);
  c->timeout = msg->timeout;
  latch_log_debug ("%s: session (extension level %d offered, %d spoken), timeout %d ms",
                   latch_conn_get_label (c->conn), msg->ext, LATCH_EXT_LEVEL, c->timeout);
  if (c->timeout > 0)
    latch_conn_set_deadline (c->conn, c->timeout, "waiting for a message (session timeout)");
  return TRUE;
}

static void
handle_lock (Client *c, const LatchMsg *msg)
{
  Daemon *d = c->daemon;
  g_autoptr (GError) error = NULL;
  LatchRsrcType type;
  Slot *s = &c->legacy;

  if (is_session (c))
    {
      session_lock (c, msg);
      return;
    }
  if (d->quiescing && !client_has_state (c))
    {
      /* New requests go to the next daemon.  The answer says so: a latch
       * client tries again, and takes a close without any answer as a
       * refusal (a FLoM client fails on either). */
      latch_log_info ("%s: quiescing: refusing a new request", latch_conn_get_label (c->conn));
      refuse (c, msg, LATCH_RC_DAEMON_QUIESCING);
      return;
    }
  if (s->has_pending)
    {
      protocol_error (c, "a second lock request while one is still waiting");
      return;
    }
  if (!latch_rsrc_name_check (msg->name, &type, &error))
    {
      latch_log_fields (LATCH_LOG_INFO, msg->name, latch_conn_get_label (c->conn),
                        error->message, "%s: %s", latch_conn_get_label (c->conn),
                        error->message);
      latch_daemon_metrics_refused (d, c, LATCH_LOCK_INVALID_NAME);
      send_lock_answer (c, 0, LATCH_STEP_FIRST_ANSWER, LATCH_LOCK_INVALID_NAME, 0, NULL, NULL);
      latch_conn_close_after_flush (c->conn);
      return;
    }
  if (slot_request (s, msg) == LATCH_TABLE_PENDING)
    update_conn_deadline (c);
}

/* A session's unlock: releases the id's lock, or cancels its request. */
static void
session_unlock (Client *c, const LatchMsg *msg)
{
  Daemon *d = c->daemon;
  const char *label = latch_conn_get_label (c->conn);
  Slot *s;

  if (msg->id == 0)
    {
      protocol_error (c, "an unlock without an id in a session");
      return;
    }
  s = g_hash_table_lookup (c->slots, &msg->id);
  if (s == NULL)
    {
      /* Never used, or already over: a cancel may cross a refusal or a
       * loss, so this is no error. */
      latch_log_debug ("%s: id %" G_GUINT64_FORMAT ": unlock of an id not live: ignored",
                       label, msg->id);
      return;
    }
  if (strcmp (msg->name, s->req_name) != 0)
    {
      g_autofree char *what
          = g_strdup_printf ("unlock of '%s' with id %" G_GUINT64_FORMAT ", which asked for '%s'",
                             msg->name, msg->id, s->req_name);
      protocol_error (c, what);
      return;
    }
  if (s->n_holds > 0)
    {
      latch_table_release (d->table, s->owner, s->req_name, msg->rollback);
      s->n_holds = 0;
      latch_log_debug ("%s: id %" G_GUINT64_FORMAT ": unlocked '%s'", label, s->id,
                       s->req_name);
    }
  else
    {
      latch_table_cancel (d->table, s->owner);
      latch_log_debug ("%s: id %" G_GUINT64_FORMAT ": request for '%s' cancelled", label,
                       s->id, s->req_name);
    }
  s->has_pending = FALSE;
  session_finish (s);
  session_settle (c);
}

static void
handle_unlock (Client *c, const LatchMsg *msg)
{
  Daemon *d = c->daemon;
  Slot *s = &c->legacy;

  if (is_session (c))
    {
      session_unlock (c, msg);
      return;
    }
  if (!latch_table_release (d->table, s->owner, msg->name, msg->rollback))
    {
      g_autofree char *what = g_strdup_printf ("unlock of '%s', which it does not hold",
                                               msg->name);
      protocol_error (c, what);
      return;
    }
  s->n_holds--;
  latch_log_debug ("%s: unlocked '%s'", latch_conn_get_label (c->conn), msg->name);
  /* Nothing left on this connection: close it first, so that TCP's
   * TIME_WAIT stays here rather than on every client host (latch clients
   * wait for it; FLoM clients half-close and drain, which works too). */
  if (!client_has_state (c))
    latch_conn_close_after_flush (c->conn);
  else
    update_conn_deadline (c);
}

/* A ping in a session (3/8) is answered at once (3/16); an answer to a
 * ping (3/16) is only a sign of life. */
static void
handle_ping (Client *c, const LatchMsg *msg)
{
  g_autoptr (LatchMsg) answer = NULL;

  if (msg->step != LATCH_STEP_REQUEST)
    return;
  answer = latch_msg_new (LATCH_MSG_PING, LATCH_STEP_FIRST_ANSWER);
  send_msg (c, answer);
}

static void refuse (Client *c, const LatchMsg *msg, int rc);

/* Who may quiesce or stop the daemon.  On a UNIX socket the kernel says
 * who asks: root, or the user the daemon runs as; a shared socket (-s)
 * or the host's daemon's lets others lock, not end everyone's locks.  A
 * network peer cannot prove who it is: the host's daemon refuses them
 * all, a user's network daemon keeps FLoM's rule (whoever reaches it). */
static gboolean
shutdown_is_allowed (Client *c)
{
  Daemon *d = c->daemon;
  const char *label = latch_conn_get_label (c->conn);

  if (c->peer.is_local)
    {
      if (c->peer.uid == 0 || c->peer.uid == geteuid ())
        return TRUE;
      latch_log_warning ("%s: shutdown refused: uid %u (pid %ld) is neither root nor "
                         "the daemon's owner (uid %u)", label, (unsigned)c->peer.uid,
                         (long)c->peer.pid, (unsigned)geteuid ());
      return FALSE;
    }
  if (!d->config->settings->system)
    return TRUE;
  latch_log_warning ("%s: shutdown refused: the host's daemon is stopped only through "
                     "its local socket", label);
  return FALSE;
}

static void
handle_shutdown (Client *c, const LatchMsg *msg)
{
  Daemon *d = c->daemon;
  g_autoptr (LatchMsg) answer = latch_msg_new (LATCH_MSG_SHUTDOWN_ANSWER,
                                               LATCH_STEP_FIRST_ANSWER);

  if (!shutdown_is_allowed (c))
    {
      refuse (c, msg, LATCH_RC_SHUTDOWN_NOT_ALLOWED);
      return;
    }

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

  if (msg != NULL && msg->kind == LATCH_MSG_STATUS_REQUEST)
    {
      latch_daemon_status_refuse (c, rc == LATCH_RC_NO_TLS_CONNECTION
                                         ? "this daemon requires TLS"
                                         : "refused: the machine ID announced does not match "
                                           "the certificate, or is not allowed");
      return;
    }

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
  latch_daemon_metrics_refused (c->daemon, c, rc);
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
      latch_log_fields (LATCH_LOG_INFO, NULL, label, "a clear-text client, and this daemon requires TLS",
                        "%s: refused: a clear-text client, and this daemon requires TLS",
                        label);
      refuse (c, msg, LATCH_RC_NO_TLS_CONNECTION);
      return FALSE;
    }
  if (!d->tls->check_peer_id (latch_conn_get_tls (c->conn),
                              msg->peerid != NULL ? msg->peerid : "", &error))
    {
      latch_log_fields (LATCH_LOG_INFO, NULL, label, error->message, "%s: refused: %s",
                        label, error->message);
      refuse (c, msg, g_error_matches (error, LATCH_ERROR, LATCH_ERROR_TLS_NOT_ALLOWED)
                          ? LATCH_RC_CONNECTION_REFUSED
                          : LATCH_RC_UNIQUE_ID_DOES_NOT_MATCH);
      return FALSE;
    }
  /* Checked against its certificate: who this peer is, for status. */
  if (d->level == LATCH_SECURITY_MUTUAL && c->peer.machine_id == NULL && msg->peerid != NULL)
    c->peer.machine_id = g_strdup (msg->peerid);
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
  /* A revoked peer's session must not be served: the CRL file is looked
   * at before each lock request on a TLS connection. */
  if (msg->kind == LATCH_MSG_LOCK_REQUEST && latch_conn_is_tls (conn)
      && !latch_daemon_check_crl (c->daemon, c))
    return;
  /* The connection's state says whether this is its first message
   * (net/conn.h): the first lock request or shutdown passes admission and
   * decides what the connection is for. */
  first = latch_conn_get_state (conn) == LATCH_CONN_AWAIT_FIRST;
  if (first
      && (msg->kind == LATCH_MSG_LOCK_REQUEST || msg->kind == LATCH_MSG_SHUTDOWN
          || msg->kind == LATCH_MSG_STATUS_REQUEST)
      && !admit (c, msg))
    return;
  /* Any message is a session's sign of life: its timeout starts again
   * (or, without one, the idle deadline of a session holding nothing). */
  if (is_session (c))
    {
      if (c->timeout > 0)
        latch_conn_set_deadline (conn, c->timeout, "waiting for a message (session timeout)");
      else
        update_conn_deadline (c);
    }
  switch (msg->kind)
    {
    case LATCH_MSG_LOCK_REQUEST:
      if (first)
        {
          latch_conn_begin (conn, LATCH_CONN_LOCKING);
          if (msg->ext >= LATCH_EXT_LEVEL && !session_begin (c, msg))
            return;
        }
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
    case LATCH_MSG_STATUS_REQUEST:
      latch_daemon_status_serve (c, msg, first);
      break;
    case LATCH_MSG_PING:
      if (is_session (c))
        {
          handle_ping (c, msg);
          break;
        }
      /* A legacy connection (FLoM's protocol) has no pings. */
      G_GNUC_FALLTHROUGH;
    default:
      {
        g_autofree char *what = g_strdup_printf ("unexpected message verb %d step %d",
                                                 msg->verb, msg->step);
        protocol_error (c, what);
      }
      break;
    }
}

/* Sessions: every id goes at once.  Waiting ids first, so that what the
 * held ones release is not handed to another id of this same session on
 * its way out. */
static void
drop_session_slots (Client *c)
{
  g_autoptr (GPtrArray) all = g_ptr_array_sized_new (g_hash_table_size (c->slots));
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, c->slots);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (all, value);
  g_hash_table_remove_all (c->slots);
  for (guint pass = 0; pass < 2; pass++)
    for (guint i = 0; i < all->len; i++)
      {
        Slot *s = all->pdata[i];

        if (s != NULL && (s->n_holds > 0) == (pass == 1))
          {
            slot_free (s);
            all->pdata[i] = NULL;
          }
      }
}

static void
client_closed_cb (LatchConn *conn, const GError *reason, gpointer user_data)
{
  Client *c = user_data;
  Daemon *d = c->daemon;

  if (is_session (c))
    {
      if (client_has_state (c))
        {
          guint n_holds = 0;
          GHashTableIter iter;
          gpointer value;

          g_hash_table_iter_init (&iter, c->slots);
          while (g_hash_table_iter_next (&iter, NULL, &value))
            n_holds += ((Slot *)value)->n_holds;
          latch_log_debug ("%s: session gone with %u locks held and %u requests waiting: "
                           "releasing", latch_conn_get_label (conn), n_holds,
                           g_hash_table_size (c->slots) - n_holds);
        }
    }
  else if (client_has_state (c))
    latch_log_debug ("%s: gone with %u locks held%s: releasing",
                     latch_conn_get_label (conn), c->legacy.n_holds,
                     c->legacy.has_pending ? " and a request waiting" : "");
  g_hash_table_remove (d->clients, c);
  /* Grants that follow go to others from inside these calls; none comes
   * for c any more. */
  if (is_session (c))
    {
      drop_session_slots (c);
      g_hash_table_destroy (c->slots);
    }
  else
    slot_clear (&c->legacy);
  latch_daemon_metrics_closed (d, c, reason);
  g_free (c->peer.address);
  g_free (c->peer.machine_id);
  g_free (c);
  latch_daemon_resume_accepting (d);
  latch_daemon_check_lifetime (d);
}

static void
client_secured_cb (LatchConn *conn, gpointer user_data)
{
  latch_daemon_metrics_tls_done (((Client *)user_data)->daemon, user_data);
  latch_conn_set_deadline (conn, LATCH_DAEMON_FIRST_MESSAGE_MS,
                           "waiting for the first message");
}

/* A TLS client reached this clear daemon: an answer in clear text tells
 * it so (a latch client explains; FLoM's fails its handshake). */
static void
client_tls_hello_cb (LatchConn *conn, gpointer user_data)
{
  Client *c = user_data;

  latch_log_fields (LATCH_LOG_INFO, NULL, latch_conn_get_label (conn),
                    "a TLS client, and this daemon runs without TLS",
                    "%s: refused: a TLS client, and this daemon runs without TLS",
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
latch_daemon_session_new (Daemon *d, int fd, const char *label,
                          LatchPeer *peer)
{
  Client *c = g_new0 (Client, 1);

  c->peer = *peer;
  memset (peer, 0, sizeof *peer);
  c->daemon = d;
  g_hash_table_add (d->clients, c);
  slot_init (&c->legacy, c, 0, label);
  c->conn = latch_conn_new (fd, label, &client_callbacks, c);
  return c;
}
