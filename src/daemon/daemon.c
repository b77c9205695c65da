#include "config.h"

#include "daemon/daemon.h"

#include "common/autocleanup.h"
#include "common/error.h"
#include "common/log.h"
#include "common/wallclock.h"
#include "locker/locker.h"
#include "net/conn.h"
#include "net/discovery.h"
#include "net/sockdir.h"
#include "net/tcp.h"
#include "proto/msg.h"
#include "sys/machine-id.h"
#include "tls/tls-loader.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

typedef struct _Daemon Daemon;

/* A connected client: the locker's owner. */
typedef struct
{
  Daemon *daemon;
  LatchConn *conn;
  gboolean got_first;   /* a valid first message was received */
  gboolean has_pending; /* a request is queued or waits for creation */
  guint n_holds;        /* locks granted and not released */
} Client;

struct _Daemon
{
  const LatchDaemonConfig *config;
  GMainLoop *loop;
  LatchLocker *locker;
  LatchSockPath path;
  int lock_fd;
  int listen_fd;
  guint listen_id;
  gboolean socket_bound; /* we own path.socket_path and must unlink it */
  gboolean is_tcp;       /* the listener is TCP (else the UNIX socket) */
  gboolean not_local;    /* start-up failed: the unicast address is not ours */
  char *where;           /* what it listens on, for logs */
  LatchDiscoveryServer *discovery;
  GHashTable *clients;   /* Client* set */
  guint n_accepted;
  /* Out of file descriptors: the listener is not polled (it would be
   * readable at once, for ever) until a connection closes. */
  gint64 fd_exhausted_since; /* monotonic ms; -1: not exhausted */
  guint resume_id;           /* idle source that polls the listener again */
  gboolean quiescing;
  gboolean exiting;      /* tearing down: grant nothing more */
  guint idle_id;
  gint64 idle_since;     /* monotonic ms when it last became idle; -1: busy */
  guint tick_id;
  gint64 tick_at;        /* when tick_id fires, locker time */
  LatchWallclock clock;  /* locker_now () */
  const char *peerid;
  LatchSecurityLevel level;    /* resolved: CLEAR, CHANNEL or MUTUAL */
  const LatchTlsModule *tls;   /* NULL at CLEAR */
  LatchTlsCreds *creds;
  char *crl_stamp;             /* of the CRL file the credentials hold */
};

static gint64
now_ms (void)
{
  return g_get_monotonic_time () / 1000;
}

/* The locker's clock: wall-clock microseconds that never go backwards
 * (common/wallclock.h). */
static gint64
locker_now (Daemon *d)
{
  return latch_wallclock_now (&d->clock, g_get_real_time (), g_get_monotonic_time ());
}

static void
stop_listening (Daemon *d)
{
  g_clear_handle_id (&d->listen_id, g_source_remove);
  g_clear_handle_id (&d->resume_id, g_source_remove);
  if (d->listen_fd >= 0)
    {
      close (d->listen_fd);
      d->listen_fd = -1;
    }
  if (d->socket_bound)
    {
      unlink (d->path.socket_path);
      d->socket_bound = FALSE;
    }
}

static gboolean
client_has_state (const Client *c)
{
  return c->has_pending || c->n_holds > 0;
}

static gboolean
idle_exit_cb (gpointer user_data)
{
  Daemon *d = user_data;
  gint64 idle_for;

  d->idle_id = 0;
  if (d->idle_since < 0)
    return G_SOURCE_REMOVE; /* busy again: re-armed when it is idle */
  idle_for = now_ms () - d->idle_since;
  if (idle_for < d->config->lifespan)
    {
      d->idle_id = g_timeout_add ((guint)(d->config->lifespan - idle_for), idle_exit_cb, d);
      return G_SOURCE_REMOVE;
    }
  latch_log_info ("idle for %d ms: exiting", d->config->lifespan);
  g_main_loop_quit (d->loop);
  return G_SOURCE_REMOVE;
}

/* Called after every change: decides whether the daemon should end.  The
 * idle timer is not removed when work arrives (that would cost a main
 * loop wake-up per connection): when it fires it looks at idle_since.
 * A resource kept for its idle lifespan (or the minimum) counts as work,
 * as in FLoM: its state (a sequence's counter, a set's rotation) is what
 * the user asked to keep, so the daemon's own idle time starts only once
 * the locker has destroyed it (tick_cb calls here then). */
static void
check_lifetime (Daemon *d)
{
  gboolean idle;

  if (d->exiting)
    return;
  if (d->quiescing)
    {
      if (latch_locker_n_active (d->locker) == 0)
        {
          latch_log_info ("quiesced: no holder or waiter left; exiting");
          g_main_loop_quit (d->loop);
        }
      return;
    }
  idle = g_hash_table_size (d->clients) == 0
         && latch_locker_n_resources (d->locker) == 0;
  if (!idle)
    {
      d->idle_since = -1;
      return;
    }
  if (d->idle_since < 0)
    d->idle_since = now_ms ();
  if (d->config->lifespan > 0 && d->idle_id == 0)
    d->idle_id = g_timeout_add ((guint)d->config->lifespan, idle_exit_cb, d);
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

static void arm_tick (Daemon *d);

/* Sends the late outcomes (step 24) the locker reported. */
static void
deliver_events (Daemon *d, GArray *events)
{
  if (d->exiting)
    {
      /* Never hand out a grant on a connection about to be closed. */
      g_array_set_size (events, 0);
      return;
    }
  for (guint i = 0; i < events->len; i++)
    {
      LatchLockEvent *ev = &g_array_index (events, LatchLockEvent, i);
      Client *c = ev->owner;

      if (!g_hash_table_contains (d->clients, c))
        continue; /* cannot happen: the locker forgets dropped owners */
      if (ev->status == LATCH_LOCK_GRANTED)
        {
          c->has_pending = FALSE;
          c->n_holds++;
          latch_log_debug ("%s: granted from the queue, fence %" G_GUINT64_FORMAT,
                           latch_conn_get_label (c->conn), ev->fence);
        }
      else if (ev->status != LATCH_LOCK_QUEUED)
        c->has_pending = FALSE;
      send_lock_answer (c, LATCH_STEP_LATER_ANSWER, ev->status, ev->fence,
                        ev->element);
      /* A refusal (e.g. an impossible numeric request handed over from
       * the incubator) is final: nothing more will come on it. */
      if (ev->status != LATCH_LOCK_GRANTED && ev->status != LATCH_LOCK_QUEUED
          && !client_has_state (c))
        latch_conn_close_after_flush (c->conn);
      else
        update_conn_deadline (c);
    }
  g_array_set_size (events, 0);
}

static gboolean
tick_cb (gpointer user_data)
{
  Daemon *d = user_data;

  d->tick_id = 0;
  d->tick_at = -1;
  arm_tick (d);
  check_lifetime (d);
  return G_SOURCE_REMOVE;
}

/* Lets time pass in the locker and arms a timer for its next event. */
static void
arm_tick (Daemon *d)
{
  g_autoptr (GArray) events = latch_lock_events_new ();
  gint64 now = locker_now (d);
  gint64 next;

  if (d->exiting)
    return;
  next = latch_locker_tick (d->locker, now, events);
  deliver_events (d, events);
  if (next == d->tick_at && (d->tick_id != 0 || next < 0))
    return; /* unchanged: no timer churn */
  g_clear_handle_id (&d->tick_id, g_source_remove);
  d->tick_at = next;
  if (next >= 0)
    d->tick_id = g_timeout_add ((guint)CLAMP ((next - now + 999) / 1000, 0, G_MAXINT),
                                tick_cb, d);
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

static void
handle_lock (Client *c, const LatchMsg *msg)
{
  Daemon *d = c->daemon;
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) events = latch_lock_events_new ();
  g_autofree char *element = NULL;
  LatchRsrcType type;
  LatchLockReq req;
  LatchLockStatus status;
  guint64 fence = 0;

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

  req.name = msg->name;
  req.mode = msg->has_mode ? (LatchLockMode)msg->mode : LATCH_LOCK_MODE_EX;
  req.quantity = msg->has_quantity ? msg->quantity : 1;
  req.wait = msg->wait;
  req.create = msg->create;
  req.lifespan = msg->lifespan;
  status = latch_locker_request (d->locker, c, &req, locker_now (d), &fence, &element,
                                 events);
  latch_log_debug ("%s: lock '%s' mode %d wait %d create %d: rc %d",
                   latch_conn_get_label (c->conn), msg->name, req.mode, req.wait,
                   req.create, (int)status);

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
  send_lock_answer (c, LATCH_STEP_FIRST_ANSWER, status, fence, element);
  if (status == LATCH_LOCK_CANT_WAIT || status == LATCH_LOCK_INVALID_NAME
      || status == LATCH_LOCK_INIT_ERROR)
    latch_conn_close_after_flush (c->conn);
  else if (limit_name (status) != NULL)
    {
      /* Past a limit: this request only.  Locks the connection holds
       * stay held (and it may release them); one holding nothing ends. */
      latch_log_info ("%s: lock '%s' refused: %s", latch_conn_get_label (c->conn),
                      msg->name, limit_name (status));
      if (!client_has_state (c))
        latch_conn_close_after_flush (c->conn);
      else
        update_conn_deadline (c);
    }
  else
    update_conn_deadline (c);
  deliver_events (d, events);
  arm_tick (d);
}

static void
handle_unlock (Client *c, const LatchMsg *msg)
{
  Daemon *d = c->daemon;
  g_autoptr (GArray) events = latch_lock_events_new ();

  if (!latch_locker_unlock (d->locker, c, msg->name, msg->rollback, locker_now (d),
                            events))
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
  deliver_events (d, events);
  arm_tick (d);
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
  latch_log_info ("%s: quiesce requested: serving %u holders and waiters, "
                  "refusing new requests", latch_conn_get_label (c->conn),
                  latch_locker_n_active (d->locker));
  d->quiescing = TRUE;
  g_clear_handle_id (&d->idle_id, g_source_remove);
  /* The local socket goes at once so that new commands wait for the next
   * daemon.  A TCP listener stays: remote clients it closes before any
   * answer retry until this daemon is gone (they cannot start one). */
  if (!d->is_tcp)
    stop_listening (d);
  check_lifetime (d);
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

  if (!latch_codec_decode (data, len, &msg, &error))
    {
      latch_conn_abort (conn, error);
      return;
    }
  if (!c->got_first && (msg->kind == LATCH_MSG_LOCK_REQUEST || msg->kind == LATCH_MSG_SHUTDOWN)
      && !admit (c, msg))
    return;
  switch (msg->kind)
    {
    case LATCH_MSG_LOCK_REQUEST:
      c->got_first = TRUE;
      handle_lock (c, msg);
      break;
    case LATCH_MSG_UNLOCK:
      if (!c->got_first)
        protocol_error (c, "the first message is an unlock");
      else
        handle_unlock (c, msg);
      break;
    case LATCH_MSG_SHUTDOWN:
      if (c->got_first)
        protocol_error (c, "a shutdown request on a lock connection");
      else
        {
          c->got_first = TRUE;
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

static gboolean resume_accepting_cb (gpointer user_data);

static void
client_closed_cb (LatchConn *conn, const GError *reason, gpointer user_data)
{
  Client *c = user_data;
  Daemon *d = c->daemon;
  g_autoptr (GArray) events = latch_lock_events_new ();

  if (client_has_state (c))
    latch_log_debug ("%s: gone with %u locks held%s: releasing",
                     latch_conn_get_label (conn), c->n_holds,
                     c->has_pending ? " and a request waiting" : "");
  g_hash_table_remove (d->clients, c);
  latch_locker_drop_owner (d->locker, c, locker_now (d), events);
  g_free (c);
  if (d->fd_exhausted_since >= 0 && d->resume_id == 0)
    d->resume_id = g_idle_add (resume_accepting_cb, d);
  deliver_events (d, events);
  arm_tick (d);
  check_lifetime (d);
}

static void
client_secured_cb (LatchConn *conn, gpointer user_data)
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

/* The CRL file's identity, to notice a new one. */
static char *
crl_stamp (const char *path)
{
  struct stat st;

  if (path == NULL || stat (path, &st) != 0)
    return NULL;
  return g_strdup_printf ("%ju.%ju.%jd.%ld.%jd", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino,
                          (intmax_t)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                          (intmax_t)st.st_size);
}

/* Credentials are loaded once, but a CRL is meant to change: when its file
 * did, they are loaded again (before a handshake), so a revocation takes
 * effect at the next connection.  A new CRL that does not load leaves the
 * old credentials in place. */
static void
refresh_crl (Daemon *d)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) warnings = NULL;
  g_autofree char *stamp = crl_stamp (d->config->tls.crl);
  LatchTlsCreds *creds;

  if (d->config->tls.crl == NULL || g_strcmp0 (stamp, d->crl_stamp) == 0)
    return;
  warnings = g_ptr_array_new_with_free_func (g_free);
  creds = d->tls->creds_new (&d->config->tls, LATCH_TLS_SERVER, d->level, d->peerid,
                             warnings, &error);
  for (guint i = 0; i < warnings->len; i++)
    latch_log_warning ("%s", (const char *)warnings->pdata[i]);
  g_free (d->crl_stamp);
  d->crl_stamp = g_steal_pointer (&stamp);
  if (creds == NULL)
    {
      latch_log_warning ("%s changed but cannot be used, keeping the previous one: %s",
                         d->config->tls.crl, error->message);
      return;
    }
  latch_log_info ("%s changed: loaded again", d->config->tls.crl);
  d->tls->creds_free (d->creds); /* sessions hold their own reference */
  d->creds = creds;
}

static gboolean accept_cb (int fd, GIOCondition cond, gpointer user_data);

/* A connection has closed since the descriptors ran out: poll the
 * listener again (from an idle source: the connection's descriptor is
 * closed by then). */
static gboolean
resume_accepting_cb (gpointer user_data)
{
  Daemon *d = user_data;

  d->resume_id = 0;
  if (d->listen_fd < 0 || d->listen_id != 0)
    return G_SOURCE_REMOVE;
  latch_log_warning ("a descriptor is free again after %" G_GINT64_FORMAT " ms: accepting "
                     "connections again (%u connected)",
                     now_ms () - d->fd_exhausted_since, g_hash_table_size (d->clients));
  d->fd_exhausted_since = -1;
  d->listen_id = latch_fd_watch_add (d->listen_fd, G_IO_IN, accept_cb, d);
  return G_SOURCE_REMOVE;
}

/* accept() failed: out of descriptors stops polling the listener (the
 * pending connection would make it readable again at once: a busy loop
 * and a log line each time); anything else is that connection's
 * problem. */
static void
accept_failed (Daemon *d, int err)
{
  if (err == EMFILE || err == ENFILE)
    {
      struct rlimit lim = { 0, 0 };

      getrlimit (RLIMIT_NOFILE, &lim);
      g_clear_handle_id (&d->listen_id, g_source_remove);
      d->fd_exhausted_since = now_ms ();
      latch_log_warning ("accept: %s (%u connections, descriptor limit %llu): new "
                         "connections wait in the backlog until one closes; raise the "
                         "limit (ulimit -n, LimitNOFILE=) to serve more",
                         g_strerror (err), g_hash_table_size (d->clients),
                         (unsigned long long)lim.rlim_cur);
      return;
    }
  if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR && err != ECONNABORTED)
    latch_log_warning ("accept: %s", g_strerror (err));
}

static gboolean
accept_cb (int fd, GIOCondition cond, gpointer user_data)
{
  Daemon *d = user_data;

  for (;;)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *label = NULL;
      Client *c;
      uid_t uid;
      int cfd = accept4 (fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

      if (cfd < 0)
        {
          if (errno == ECONNABORTED || errno == EINTR)
            continue;
          accept_failed (d, errno);
          break;
        }
      d->n_accepted++;
      if (d->is_tcp)
        {
          struct sockaddr_storage peer;
          socklen_t peer_len = sizeof peer;
          g_autofree char *addr = NULL;
          LatchKeepalive ka = { d->config->keepalive_time, d->config->keepalive_intvl,
                                d->config->keepalive_probes };
          int on = 1;

          /* A holder whose host vanishes loses its lock after the
           * keepalive time: IPv4 and IPv6 alike (FLoM: IPv4 only). */
          latch_tcp_set_keepalive (cfd, &ka);
          setsockopt (cfd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
          if (getpeername (cfd, (struct sockaddr *)&peer, &peer_len) == 0)
            addr = latch_sockaddr_to_string ((struct sockaddr *)&peer, peer_len);
          label = g_strdup_printf ("conn %u (%s)", d->n_accepted, addr ? addr : "?");
        }
      else
        {
          if (!latch_socket_peer_uid (cfd, &uid, &error))
            {
              latch_log_warning ("connection %u: %s", d->n_accepted, error->message);
              close (cfd);
              continue;
            }
          if (d->path.is_private && uid != geteuid ())
            {
              latch_log_warning ("connection %u from uid %u refused: this daemon "
                                 "serves uid %u only", d->n_accepted, (unsigned)uid,
                                 (unsigned)geteuid ());
              close (cfd);
              continue;
            }
          label = g_strdup_printf ("conn %u (uid %u)", d->n_accepted, (unsigned)uid);
        }
      c = g_new0 (Client, 1);
      c->daemon = d;
      g_hash_table_add (d->clients, c);
      c->conn = latch_conn_new (cfd, label, &client_callbacks, c);
      if (d->level != LATCH_SECURITY_CLEAR)
        {
          LatchTlsSession *session;

          refresh_crl (d);
          /* Log lines start with the label: the session says "the client". */
          session = d->tls->session_new (d->creds, cfd, "the client", &error);

          if (session == NULL)
            {
              latch_log_warning ("%s: %s", label, error->message);
              latch_conn_abort (c->conn, NULL);
              continue;
            }
          latch_conn_start_tls (c->conn, d->tls, session);
          latch_conn_set_deadline (c->conn, LATCH_TLS_HANDSHAKE_MS,
                                   "in the TLS handshake");
        }
      else
        latch_conn_set_deadline (c->conn, LATCH_DAEMON_FIRST_MESSAGE_MS,
                                 "waiting for the first message");
      latch_log_debug ("%s: connected", label);
    }
  check_lifetime (d);
  return G_SOURCE_CONTINUE;
}

static void
report_ready (const Daemon *d, const char *line)
{
  if (d->config->ready_fd < 0)
    return;
  if (write (d->config->ready_fd, line, strlen (line)) < 0)
    latch_log_warning ("cannot report start-up status: %s", g_strerror (errno));
  close (d->config->ready_fd);
}

/* Takes the lock file (held for the daemon's life; it holds our pid).
 * FALSE with *busy set when another daemon holds it. */
static gboolean
take_lock_file (Daemon *d, gboolean *busy, GError **error)
{
  g_auto (LatchFd) lock_fd = -1;

  lock_fd = open (d->path.lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
                  d->path.is_private ? 0600 : 0666);
  if (lock_fd < 0)
    {
      int saved = errno;
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                   "cannot open lock file %s: %s", d->path.lock_path, g_strerror (saved));
      return FALSE;
    }
  /* A latch lock file is empty or holds a pid; anything else is someone's
   * file that -s happened to name: not ours to truncate. */
  {
    char head[32];
    ssize_t n = pread (lock_fd, head, sizeof head, 0);

    for (ssize_t i = 0; i < n; i++)
      if (!g_ascii_isdigit (head[i]) && head[i] != '\n')
        {
          g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                       "%s exists and is not a latch lock file: refusing to use it "
                       "(choose another path with -s)", d->path.lock_path);
          return FALSE;
        }
  }
  /* Shared on purpose: every user of the socket may start its daemon.
   * (The daemon runs with umask 077.) */
  if (!d->path.is_private && fchmod (lock_fd, 0666) != 0)
    latch_log_warning ("chmod %s: %s", d->path.lock_path, g_strerror (errno));
  if (flock (lock_fd, LOCK_EX | LOCK_NB) != 0)
    {
      int saved = errno;
      if (saved == EWOULDBLOCK)
        {
          *busy = TRUE;
          g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                       "another daemon holds %s", d->path.lock_path);
        }
      else
        g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                     "cannot lock %s: %s", d->path.lock_path, g_strerror (saved));
      return FALSE;
    }

  /* The lock file names the daemon that holds it, for operators and tests. */
  if (ftruncate (lock_fd, 0) == 0)
    {
      char pid[32];
      int len = g_snprintf (pid, sizeof pid, "%ld\n", (long)getpid ());
      if (pwrite (lock_fd, pid, (size_t)len, 0) != len)
        latch_log_warning ("cannot write the pid to %s", d->path.lock_path);
    }

  d->lock_fd = latch_steal_fd (&lock_fd);
  return TRUE;
}

static gboolean
listen_unix (Daemon *d, GError **error)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  g_auto (LatchFd) fd = -1;

  /* We hold the lock file, so a socket file left there is stale.  Only a
   * socket is removed: -s may name a path by mistake, and a file there is
   * not ours to delete. */
  {
    struct stat st;

    if (lstat (d->path.socket_path, &st) == 0 && !S_ISSOCK (st.st_mode))
      {
        g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                     "%s exists and is not a socket: refusing to replace it "
                     "(choose another path with -s)", d->path.socket_path);
        return FALSE;
      }
  }
  if (unlink (d->path.socket_path) != 0 && errno != ENOENT)
    {
      int saved = errno;
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                   "cannot remove stale socket %s: %s", d->path.socket_path,
                   g_strerror (saved));
      return FALSE;
    }
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START, "socket: %s",
                   g_strerror (saved));
      return FALSE;
    }
  g_strlcpy (sun.sun_path, d->path.socket_path, sizeof sun.sun_path);
  if (bind (fd, (struct sockaddr *)&sun, sizeof sun) != 0)
    {
      int saved = errno;
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                   "cannot bind %s: %s", d->path.socket_path, g_strerror (saved));
      return FALSE;
    }
  d->socket_bound = TRUE;
  /* A socket named with -s is shared on purpose: the directory decides
   * who can reach it.  The private one is ours alone. */
  if (chmod (d->path.socket_path, d->path.is_private ? 0600 : 0666) != 0)
    latch_log_warning ("chmod %s: %s", d->path.socket_path, g_strerror (errno));
  if (listen (fd, LATCH_LISTEN_BACKLOG) != 0)
    {
      int saved = errno;
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START, "listen on %s: %s",
                   d->path.socket_path, g_strerror (saved));
      return FALSE;
    }
  d->listen_fd = latch_steal_fd (&fd);
  d->where = g_strdup (d->path.socket_path);
  return TRUE;
}

/* TCP on the unicast address, or on this host's address toward the
 * multicast group; discovery answers on the group.  *busy when the
 * address is in use (another daemon, maybe another user's, won). */
static gboolean
listen_network (Daemon *d, gboolean *busy, GError **error)
{
  const LatchDaemonConfig *cfg = d->config;
  g_autofree char *local = NULL;
  const char *host = cfg->unicast_address;
  int port = cfg->unicast_port;
  int bound_port = 0;

  if (host == NULL)
    {
      LatchDiscoveryGroup group = { cfg->multicast_address, cfg->multicast_port,
                                    cfg->network_interface, cfg->discovery_ttl };

      local = latch_discovery_local_address (&group, error);
      if (local == NULL)
        {
          g_prefix_error (error, "cannot choose an address to listen on: ");
          return FALSE;
        }
      host = local;
      port = 0;
    }
  switch (latch_tcp_listen (host, port, cfg->network_interface, &d->listen_fd,
                            &bound_port, error))
    {
    case LATCH_TCP_OK:
      break;
    case LATCH_TCP_REFUSED:
      *busy = TRUE;
      return FALSE;
    case LATCH_TCP_NOT_LOCAL:
      d->not_local = TRUE;
      return FALSE;
    default:
      return FALSE;
    }
  d->is_tcp = TRUE;
  d->where = g_strdup_printf ("%s port %d", host, bound_port);
  if (cfg->multicast_address != NULL)
    {
      LatchDiscoveryGroup group = { cfg->multicast_address, cfg->multicast_port,
                                    cfg->network_interface, cfg->discovery_ttl };

      /* A link-local address is announced without its "%iface": that is
       * our interface's name, meaningless on the client's host, which adds
       * its own. */
      g_autofree char *announced = g_strndup (host, strcspn (host, "%"));

      d->discovery = latch_discovery_server_new (&group, announced, bound_port, error);
      if (d->discovery == NULL)
        return FALSE;
    }
  return TRUE;
}

/* Takes the lock file and listens.  FALSE with *busy set when another
 * daemon holds the lock file or the address. */
static gboolean
start_listening (Daemon *d, gboolean *busy, GError **error)
{
  const LatchDaemonConfig *cfg = d->config;
  gboolean network = cfg->unicast_address != NULL || cfg->multicast_address != NULL;
  gboolean resolved;

  *busy = FALSE;
  if (cfg->unicast_address != NULL)
    resolved = latch_sockpath_for_network ("tcp", cfg->unicast_address, cfg->unicast_port,
                                           TRUE, &d->path, error);
  else if (cfg->multicast_address != NULL)
    resolved = latch_sockpath_for_network ("mcast", cfg->multicast_address,
                                           cfg->multicast_port, TRUE, &d->path, error);
  else
    resolved = latch_sockpath_resolve (cfg->socket_name, TRUE, &d->path, error);
  if (!resolved || !take_lock_file (d, busy, error))
    return FALSE;
  if (!(network ? listen_network (d, busy, error) : listen_unix (d, error)))
    return FALSE;
  d->listen_id = latch_fd_watch_add (d->listen_fd, G_IO_IN, accept_cb, d);
  return TRUE;
}

/* Resolves the security level and loads the credentials, once. */
static gboolean
setup_tls (Daemon *d, GError **error)
{
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);

  if (!latch_tls_settings_resolve (&d->config->tls, LATCH_TLS_SERVER, &d->level, error))
    return FALSE;
  if (d->level == LATCH_SECURITY_CLEAR)
    return TRUE;
  if (d->level == LATCH_SECURITY_MUTUAL && d->peerid == NULL)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_MACHINE_ID,
                   "mutual authentication needs this node's machine ID, and there is "
                   "none: create /etc/machine-id (systemd-machine-id-setup or "
                   "dbus-uuidgen --ensure=/etc/machine-id)");
      return FALSE;
    }
  if ((d->tls = latch_tls_module_load (error)) == NULL)
    return FALSE;
  d->crl_stamp = crl_stamp (d->config->tls.crl);
  d->creds = d->tls->creds_new (&d->config->tls, LATCH_TLS_SERVER, d->level, d->peerid,
                                warnings, error);
  for (guint i = 0; i < warnings->len; i++)
    latch_log_warning ("%s", (const char *)warnings->pdata[i]);
  return d->creds != NULL;
}

static gboolean
terminate_cb (gpointer user_data)
{
  Daemon *d = user_data;

  latch_log_info ("terminated by a signal: exiting");
  g_main_loop_quit (d->loop);
  return G_SOURCE_CONTINUE;
}

/* Every waiter and holder is a descriptor: the soft limit (often 1024)
 * goes up to the hard one, which only the administrator sets. */
static void
raise_fd_limit (void)
{
  struct rlimit lim;

  if (getrlimit (RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= lim.rlim_max)
    return;
  lim.rlim_cur = lim.rlim_max;
  if (setrlimit (RLIMIT_NOFILE, &lim) != 0)
    latch_log_warning ("cannot raise the descriptor limit to %llu: %s",
                       (unsigned long long)lim.rlim_max, g_strerror (errno));
}

LatchDaemonExit
latch_daemon_run (const LatchDaemonConfig *config)
{
  Daemon d = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (GError) id_error = NULL;
  gboolean busy = FALSE;
  guint sigterm_id, sigint_id;

  d.config = config;
  d.lock_fd = -1;
  d.listen_fd = -1;
  d.idle_since = -1;
  d.tick_at = -1;
  d.fd_exhausted_since = -1;
  signal (SIGPIPE, SIG_IGN);
  signal (SIGHUP, SIG_IGN);
  raise_fd_limit ();

  d.peerid = latch_machine_id_get (&id_error);
  if (!setup_tls (&d, &error) || !start_listening (&d, &busy, &error))
    {
      g_autofree char *line = NULL;

      if (busy)
        line = g_strdup ("busy\n");
      else if (d.not_local)
        line = g_strdup_printf ("notlocal: %s\n", error->message);
      else
        line = g_strdup_printf ("error: %s\n", error->message);
      latch_log_info ("not starting: %s", error->message);
      report_ready (&d, line);
      if (d.creds != NULL)
        d.tls->creds_free (d.creds);
      g_free (d.crl_stamp);
      stop_listening (&d);
      g_clear_pointer (&d.discovery, latch_discovery_server_free);
      g_free (d.where);
      if (d.lock_fd >= 0)
        close (d.lock_fd);
      latch_sockpath_clear (&d.path);
      return busy ? LATCH_DAEMON_EXIT_BUSY : LATCH_DAEMON_EXIT_ERROR;
    }

  if (d.peerid == NULL)
    {
      latch_log_warning ("%s; answers carry an empty peer id", id_error->message);
      d.peerid = "";
    }
  d.loop = g_main_loop_new (NULL, FALSE);
  d.locker = latch_locker_new_full (&(LatchLockerConfig){
      .first_fence = (guint64)g_get_real_time (),
      .idle_lifespan_min = config->idle_lifespan_min,
      .max_locks = config->max_locks,
      .max_resources = config->max_resources,
      .max_waiters = config->max_waiters,
      .max_idle_lifespan = config->max_idle_lifespan,
  });
  d.clients = g_hash_table_new (NULL, NULL);
  sigterm_id = g_unix_signal_add (SIGTERM, terminate_cb, &d);
  sigint_id = g_unix_signal_add (SIGINT, terminate_cb, &d);

  latch_log_info ("listening on %s (lifespan %d ms, idle resources kept %d ms at least, "
                  "security level %s; limits: %d locks per connection, %d resources, "
                  "%d waiters per resource, idle lifespan %d ms; 0: none)",
                  d.where, config->lifespan, MAX (config->idle_lifespan_min, 0),
                  latch_security_level_name (d.level), MAX (config->max_locks, 0),
                  MAX (config->max_resources, 0), MAX (config->max_waiters, 0),
                  MAX (config->max_idle_lifespan, 0));
  report_ready (&d, "ok\n");
  check_lifetime (&d);
  g_main_loop_run (d.loop);

  /* Unlink first, then release the lock file by exiting: a new daemon
   * cannot bind until we are gone, so two never serve at once. */
  d.exiting = TRUE;
  stop_listening (&d);
  g_source_remove (sigterm_id);
  g_source_remove (sigint_id);
  g_clear_handle_id (&d.idle_id, g_source_remove);
  g_clear_handle_id (&d.tick_id, g_source_remove);
  {
    GHashTableIter iter;
    gpointer key;
    GPtrArray *all = g_ptr_array_new ();

    g_hash_table_iter_init (&iter, d.clients);
    while (g_hash_table_iter_next (&iter, &key, NULL))
      g_ptr_array_add (all, key);
    for (guint i = 0; i < all->len; i++)
      {
        Client *c = all->pdata[i];
        if (g_hash_table_contains (d.clients, c))
          latch_conn_abort (c->conn, NULL);
      }
    g_ptr_array_free (all, TRUE);
  }
  g_hash_table_destroy (d.clients);
  latch_locker_free (d.locker);
  if (d.creds != NULL)
    d.tls->creds_free (d.creds);
  g_free (d.crl_stamp);
  g_main_loop_unref (d.loop);
  g_clear_pointer (&d.discovery, latch_discovery_server_free);
  g_free (d.where);
  latch_sockpath_clear (&d.path);
  if (d.lock_fd >= 0)
    close (d.lock_fd);
  return LATCH_DAEMON_EXIT_OK;
}
