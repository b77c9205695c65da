#include "config.h"

#include "net/conn.h"

#include "common/error.h"
#include "common/log.h"
#include "net/evsource.h"
#include "proto/framer.h"
#include "proto/msg.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <sys/socket.h>
#include <unistd.h>

/* How long a closing connection may take to send its EOF. */
#define CLOSING_LINGER_MS 5000
/* Deadlines are checked by one sweeper for all connections, this often:
 * a GLib timer per connection would be added and removed at every
 * message, and each such change wakes the main loop once more.  It looks
 * only at connections with a deadline armed. */
#define SWEEP_INTERVAL_MS 250
#define READ_CHUNK 4096

/* The first byte of a TLS handshake record. */
#define TLS_HANDSHAKE_RECORD 0x16

static const char *const state_names[] = {
  [LATCH_CONN_CONNECTING] = "CONNECTING",
  [LATCH_CONN_SNIFFING] = "SNIFFING",
  [LATCH_CONN_HANDSHAKING] = "HANDSHAKING",
  [LATCH_CONN_AWAIT_FIRST] = "AWAIT_FIRST",
  [LATCH_CONN_LOCKING] = "LOCKING",
  [LATCH_CONN_MANAGEMENT] = "MANAGEMENT",
  [LATCH_CONN_FLUSHING] = "FLUSHING",
  [LATCH_CONN_CLOSING] = "CLOSING",
  [LATCH_CONN_CLOSED] = "CLOSED",
};

#define S(x) (1u << LATCH_CONN_##x)
/* The diagram of conn.h: the states each state may go to. */
static const guint legal_next[] = {
  [LATCH_CONN_CONNECTING] = S (HANDSHAKING) | S (AWAIT_FIRST) | S (FLUSHING) | S (CLOSED),
  [LATCH_CONN_SNIFFING] = S (HANDSHAKING) | S (AWAIT_FIRST) | S (FLUSHING) | S (CLOSING)
                          | S (CLOSED),
  [LATCH_CONN_HANDSHAKING] = S (AWAIT_FIRST) | S (CLOSING) | S (CLOSED),
  [LATCH_CONN_AWAIT_FIRST] = S (LOCKING) | S (MANAGEMENT) | S (FLUSHING) | S (CLOSING)
                             | S (CLOSED),
  [LATCH_CONN_LOCKING] = S (FLUSHING) | S (CLOSING) | S (CLOSED),
  [LATCH_CONN_MANAGEMENT] = S (FLUSHING) | S (CLOSING) | S (CLOSED),
  [LATCH_CONN_FLUSHING] = S (CLOSING) | S (CLOSED),
  [LATCH_CONN_CLOSING] = S (CLOSED),
  [LATCH_CONN_CLOSED] = 0,
};
#undef S

struct _LatchConn
{
  int fd;
  LatchConnState state;
  gboolean in_handler;    /* io_cb runs for it: the free waits for its end */
  LatchTlsStatus tls_want; /* what the last TLS call waits for */
  char *label;
  LatchFramer *framer;    /* NULL while no partial message is buffered */
  GByteArray *out;        /* NULL while nothing is queued */
  LatchEvWatch *watch;
  gint64 deadline_at;     /* monotonic ms; 0: none */
  char *deadline_what;
  GError *io_error;       /* a send failed: io_cb ends the connection */
  const LatchConnCallbacks *cb;
  gpointer user_data;
  gpointer data;
  /* TLS.  session is set while TLS is expected (SNIFFING, HANDSHAKING) and
   * once it runs; it is dropped when the peer turns out to be clear or the
   * handshake does not complete. */
  const LatchTlsModule *tls;
  LatchTlsSession *session;
  gsize tls_send_len;     /* length of a TLS send to repeat; 0: none */
  /* Client mode (latch_conn_new_client): we connected, the peer is a
   * daemon.  A failed handshake is kept in handshake_error and handed to
   * closed_cb when the graceful close ends, so that the owner can say why
   * the daemon could not be reached. */
  gboolean is_client;
  GError *handshake_error;
};

static void io_cb (LatchEvWatch *watch, int fd, GIOCondition cond, gpointer user_data);

/* Connections with a deadline armed, and the sweeper that checks them. */
static GHashTable *deadlined;
static guint sweep_id;

static gint64
now_ms (void)
{
  return g_get_monotonic_time () / 1000;
}

static gboolean
is_serving (LatchConnState state)
{
  return state == LATCH_CONN_AWAIT_FIRST || state == LATCH_CONN_LOCKING
         || state == LATCH_CONN_MANAGEMENT;
}

/* TLS runs over the connection (the handshake is done). */
static gboolean
is_secured (const LatchConn *conn)
{
  return conn->session != NULL && conn->state != LATCH_CONN_SNIFFING
         && conn->state != LATCH_CONN_HANDSHAKING && conn->state != LATCH_CONN_CONNECTING;
}

static gsize
out_len (const LatchConn *conn)
{
  return conn->out != NULL ? conn->out->len : 0;
}

const char *
latch_conn_state_name (LatchConnState state)
{
  if ((guint)state >= G_N_ELEMENTS (state_names))
    return "?";
  return state_names[state];
}

static void
disarm_deadline (LatchConn *conn)
{
  conn->deadline_at = 0;
  g_clear_pointer (&conn->deadline_what, g_free);
  if (deadlined != NULL)
    g_hash_table_remove (deadlined, conn);
}

/* The only place the state changes.  FALSE (and a warning: a bug of ours
 * or of the owner) for a change the diagram does not have. */
static gboolean
conn_set_state (LatchConn *conn, LatchConnState state)
{
  if ((guint)state >= G_N_ELEMENTS (legal_next) || !(legal_next[conn->state] & (1u << state)))
    {
      latch_log_warning ("%s: illegal state change %s -> %s refused (a bug)", conn->label,
                         latch_conn_state_name (conn->state), latch_conn_state_name (state));
      return FALSE;
    }
  latch_log_debug ("%s: %s -> %s", conn->label, state_names[conn->state], state_names[state]);
  conn->state = state;
  return TRUE;
}

guint
latch_fd_watch_add (int fd, GIOCondition cond, GUnixFDSourceFunc func,
                    gpointer user_data)
{
  GSource *source = g_unix_fd_source_new (fd, cond);
  guint id;

  g_source_set_can_recurse (source, TRUE);
  g_source_set_callback (source, (GSourceFunc)(void (*) (void))func, user_data, NULL);
  id = g_source_attach (source, NULL);
  g_source_unref (source);
  return id;
}

static GIOCondition
wanted (const LatchConn *conn)
{
  GIOCondition want = 0;

  switch (conn->state)
    {
    case LATCH_CONN_CONNECTING:
      /* Writable: the connect is over, one way or the other. */
      return G_IO_OUT;
    case LATCH_CONN_HANDSHAKING:
      return conn->tls_want == LATCH_TLS_WANT_WRITE ? G_IO_OUT : G_IO_IN;
    case LATCH_CONN_SNIFFING:
    case LATCH_CONN_AWAIT_FIRST:
    case LATCH_CONN_LOCKING:
    case LATCH_CONN_MANAGEMENT:
    case LATCH_CONN_FLUSHING:
      want = G_IO_IN;
      if (out_len (conn) > 0 || conn->io_error != NULL)
        want |= G_IO_OUT;
      return want;
    case LATCH_CONN_CLOSING:
      return G_IO_IN;
    case LATCH_CONN_CLOSED:
    default:
      return 0;
    }
}

/* What the connection waits for changed (or not): one epoll_ctl at most,
 * no wake-up of the loop. */
static void
update_watch (LatchConn *conn)
{
  if (conn->watch != NULL)
    latch_ev_watch_modify (conn->watch, wanted (conn));
}

static void
drop_session (LatchConn *conn)
{
  if (conn->session != NULL)
    conn->tls->session_free (conn->session);
  conn->session = NULL;
}

static void
conn_free (LatchConn *conn)
{
  latch_ev_watch_remove (g_steal_pointer (&conn->watch));
  disarm_deadline (conn);
  g_clear_pointer (&conn->framer, latch_framer_free);
  g_clear_pointer (&conn->out, g_byte_array_unref);
  g_clear_error (&conn->io_error);
  g_clear_error (&conn->handshake_error);
  drop_session (conn);
  g_free (conn->label);
  g_free (conn);
}

/* Ends the connection: runs closed_cb once, frees the object (later, if
 * io_cb is running for it). */
static void
finish (LatchConn *conn, GError *reason /* transfer full, may be NULL */)
{
  if (conn->state == LATCH_CONN_CLOSED)
    {
      g_clear_error (&reason);
      return;
    }
  /* A client's failed handshake says more than how the close ended. */
  if (conn->handshake_error != NULL)
    {
      g_clear_error (&reason);
      reason = g_steal_pointer (&conn->handshake_error);
    }
  /* A handshake that did not complete leaves no TLS behind it. */
  if (!is_secured (conn))
    drop_session (conn);
  conn_set_state (conn, LATCH_CONN_CLOSED);
  latch_ev_watch_remove (g_steal_pointer (&conn->watch));
  disarm_deadline (conn);
  close (conn->fd);
  conn->fd = -1;
  conn->cb->closed_cb (conn, reason, conn->user_data);
  g_clear_error (&reason);
  if (!conn->in_handler)
    conn_free (conn);
}

static LatchConn *
conn_new (int fd, LatchConnState initial, const char *label,
          const LatchConnCallbacks *callbacks, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  LatchConn *conn = g_new0 (LatchConn, 1);

  conn->fd = fd;
  conn->state = initial; /* the start of the diagram, not a change */
  conn->is_client = initial == LATCH_CONN_CONNECTING;
  conn->label = g_strdup (label);
  conn->cb = callbacks;
  conn->user_data = user_data;
  conn->watch = latch_ev_watch_add (fd, wanted (conn), io_cb, conn, &error);
  if (conn->watch == NULL)
    {
      /* No event will come: the sweeper ends it, with this error, from
       * the loop (closed_cb cannot run before the owner has the conn). */
      latch_log_warning ("%s: %s", label, error->message);
      conn->io_error = g_steal_pointer (&error);
      latch_conn_set_deadline (conn, 1, "registering the connection");
    }
  return conn;
}

LatchConn *
latch_conn_new (int fd, const char *label, const LatchConnCallbacks *callbacks,
                gpointer user_data)
{
  return conn_new (fd, LATCH_CONN_SNIFFING, label, callbacks, user_data);
}

LatchConn *
latch_conn_new_client (int fd, const char *label, const LatchConnCallbacks *callbacks,
                       gpointer user_data)
{
  LatchConn *conn = conn_new (fd, LATCH_CONN_CONNECTING, label, callbacks, user_data);

  latch_log_debug ("%s: CONNECTING", conn->label);
  return conn;
}

/* Writes what it can.  A failure is kept in io_error for io_cb to act
 * on: a send never ends the connection by itself, so that sending to one
 * connection cannot run another's closed_cb in the middle of the caller.
 * The buffer goes once empty. */
static void
flush_out (LatchConn *conn)
{
  gboolean secured = is_secured (conn);

  while (secured && out_len (conn) > 0 && conn->io_error == NULL)
    {
      gsize sent = 0;
      gsize len = conn->tls_send_len != 0 ? conn->tls_send_len : conn->out->len;
      LatchTlsStatus status = conn->tls->send (conn->session, (const char *)conn->out->data,
                                               len, &sent, &conn->io_error);

      if (status == LATCH_TLS_WANT_READ || status == LATCH_TLS_WANT_WRITE)
        {
          conn->tls_send_len = len;
          return;
        }
      conn->tls_send_len = 0;
      if (status == LATCH_TLS_OK)
        g_byte_array_remove_range (conn->out, 0, (guint)sent);
    }
  while (!secured && out_len (conn) > 0 && conn->io_error == NULL)
    {
      ssize_t n = send (conn->fd, conn->out->data, conn->out->len, MSG_NOSIGNAL);
      if (n < 0)
        {
          int saved = errno;
          if (saved == EINTR)
            continue;
          if (saved == EAGAIN || saved == EWOULDBLOCK)
            break;
          conn->io_error = g_error_new (LATCH_ERROR, LATCH_ERROR_IO, "send: %s",
                                        g_strerror (saved));
          break;
        }
      g_byte_array_remove_range (conn->out, 0, (guint)n);
    }
  if (out_len (conn) == 0)
    g_clear_pointer (&conn->out, g_byte_array_unref);
}

/* -> CLOSING: shut the write side (TLS: close_notify first) and wait a
 * while for the peer's EOF. */
static void
start_closing (LatchConn *conn)
{
  if (!is_secured (conn))
    drop_session (conn); /* the handshake is not finished: no close_notify */
  if (!conn_set_state (conn, LATCH_CONN_CLOSING))
    return;
  if (conn->session != NULL)
    conn->tls->bye (conn->session);
  shutdown (conn->fd, SHUT_WR);
  latch_conn_set_deadline (conn, CLOSING_LINGER_MS, "waiting for the peer to close");
}

void
latch_conn_send (LatchConn *conn, const char *data, gsize len)
{
  if (!latch_conn_is_open (conn))
    return;
  if (conn->out == NULL)
    conn->out = g_byte_array_sized_new ((guint)len);
  g_byte_array_append (conn->out, (const guint8 *)data, (guint)len);
  /* While connecting a send could only fail with the connect's error,
   * which io_cb reports as such: the output waits for the connect. */
  if (conn->state != LATCH_CONN_CONNECTING)
    flush_out (conn);
  update_watch (conn);
}

void
latch_conn_close_after_flush (LatchConn *conn)
{
  switch (conn->state)
    {
    case LATCH_CONN_CONNECTING:
      /* Nothing said yet (sends are dropped while TLS is expected): ends
       * at once.  Clear output queued waits for the connect, in
       * FLUSHING. */
      if (out_len (conn) == 0)
        {
          finish (conn, NULL);
          return;
        }
      conn_set_state (conn, LATCH_CONN_FLUSHING);
      latch_conn_set_deadline (conn, CLOSING_LINGER_MS, "flushing output");
      break;
    case LATCH_CONN_SNIFFING:
    case LATCH_CONN_HANDSHAKING:
      /* With TLS expected nothing is queued (latch_conn_send drops data
       * before the handshake): closed as after a failed handshake; no
       * message is delivered.  A clear connection may have output. */
    case LATCH_CONN_AWAIT_FIRST:
    case LATCH_CONN_LOCKING:
    case LATCH_CONN_MANAGEMENT:
      flush_out (conn);
      if (out_len (conn) == 0 && conn->io_error == NULL)
        start_closing (conn);
      else
        {
          /* io_cb shuts the write side once flushed, or ends it with the
           * send's error. */
          conn_set_state (conn, LATCH_CONN_FLUSHING);
          latch_conn_set_deadline (conn, CLOSING_LINGER_MS, "flushing output");
        }
      break;
    case LATCH_CONN_FLUSHING:
    case LATCH_CONN_CLOSING:
    case LATCH_CONN_CLOSED:
    default:
      return; /* already on its way */
    }
  update_watch (conn);
}

void
latch_conn_abort (LatchConn *conn, const GError *why)
{
  if (conn->state == LATCH_CONN_CLOSED)
    return;
  if (why != NULL)
    {
      latch_log_info ("%s: closing: %s", conn->label, why->message);
      g_clear_error (&conn->handshake_error); /* the owner's reason wins */
    }
  finish (conn, why != NULL ? g_error_copy (why) : NULL);
}

gboolean
latch_conn_begin (LatchConn *conn, LatchConnState state)
{
  if (state != LATCH_CONN_LOCKING && state != LATCH_CONN_MANAGEMENT)
    {
      latch_log_warning ("%s: latch_conn_begin (%s) refused: not LOCKING or MANAGEMENT "
                         "(a bug)", conn->label, latch_conn_state_name (state));
      return FALSE;
    }
  return conn_set_state (conn, state);
}

static void
deadline_passed (LatchConn *conn)
{
  g_autofree char *what = g_strdup (conn->deadline_what);

  disarm_deadline (conn);
  if (conn->io_error != NULL)
    {
      finish (conn, g_steal_pointer (&conn->io_error));
      return;
    }
  if (conn->state == LATCH_CONN_FLUSHING || conn->state == LATCH_CONN_CLOSING)
    {
      finish (conn, NULL);
      return;
    }
  latch_log_info ("%s: timed out %s; closing", conn->label, what);
  finish (conn, g_error_new (LATCH_ERROR, LATCH_ERROR_TIMEOUT, "timed out %s", what));
}

static gboolean
sweep_cb (gpointer user_data G_GNUC_UNUSED)
{
  g_autoptr (GPtrArray) due = g_ptr_array_new ();
  gint64 now = now_ms ();
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, deadlined);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (((LatchConn *)key)->deadline_at <= now)
      g_ptr_array_add (due, key);
  /* A closed_cb may end or re-arm other due connections: each is looked
   * up again before it is acted on. */
  for (guint i = 0; i < due->len; i++)
    {
      LatchConn *conn = due->pdata[i];

      if (deadlined != NULL && g_hash_table_contains (deadlined, conn)
          && conn->deadline_at <= now)
        deadline_passed (conn);
    }
  if (deadlined == NULL || g_hash_table_size (deadlined) == 0)
    {
      sweep_id = 0;
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

void
latch_conn_set_deadline (LatchConn *conn, int ms, const char *what)
{
  disarm_deadline (conn);
  if (ms <= 0 || conn->state == LATCH_CONN_CLOSED)
    return;
  if (deadlined == NULL)
    deadlined = g_hash_table_new (NULL, NULL);
  conn->deadline_at = now_ms () + ms;
  conn->deadline_what = g_strdup (what);
  g_hash_table_add (deadlined, conn);
  if (sweep_id == 0)
    sweep_id = g_timeout_add (SWEEP_INTERVAL_MS, sweep_cb, NULL);
}

guint
latch_conn_count_deadlines (void)
{
  return deadlined != NULL ? g_hash_table_size (deadlined) : 0;
}

/* Delivers every complete message while the owner is listening. */
static void
dispatch (LatchConn *conn)
{
  while (is_serving (conn->state) && conn->framer != NULL)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GBytes) msg = NULL;

      if (!latch_framer_pop (conn->framer, &msg, &error))
        {
          latch_log_info ("%s: bad input: %s; closing", conn->label, error->message);
          finish (conn, g_steal_pointer (&error));
          return;
        }
      if (msg == NULL)
        break;
      conn->cb->message_cb (conn, msg, conn->user_data);
    }
  /* Between messages an idle connection keeps no buffer. */
  if (conn->framer != NULL && latch_framer_pending (conn->framer) == 0)
    g_clear_pointer (&conn->framer, latch_framer_free);
}

/* Reads what the socket has (TLS: decrypts): delivered while serving,
 * dropped while closing; EOF or an error ends the connection. */
static void
read_input (LatchConn *conn)
{
  char buf[READ_CHUNK];

  while (conn->state != LATCH_CONN_CLOSED)
    {
      gsize got = 0;
      gboolean secured = is_secured (conn) && is_serving (conn->state);

      if (secured)
        {
          GError *error = NULL;
          LatchTlsStatus status = conn->tls->recv (conn->session, buf, sizeof buf, &got,
                                                   &error);

          if (status == LATCH_TLS_WANT_READ || status == LATCH_TLS_WANT_WRITE)
            {
              conn->tls_want = status;
              return;
            }
          if (status == LATCH_TLS_FAILED)
            {
              latch_log_info ("%s: %s; closing", conn->label, error->message);
              finish (conn, error);
              return;
            }
        }
      else
        {
          ssize_t n = recv (conn->fd, buf, sizeof buf, 0);

          if (n < 0 && errno == EINTR)
            continue;
          if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
          if (n < 0)
            {
              int saved = errno;
              finish (conn, g_error_new (LATCH_ERROR, LATCH_ERROR_IO, "recv: %s",
                                         g_strerror (saved)));
              return;
            }
          got = (gsize)n;
        }
      if (got == 0)
        {
          finish (conn, NULL);
          return;
        }
      if (!is_serving (conn->state))
        continue; /* FLUSHING, CLOSING: read and dropped until EOF. */
      if (conn->framer == NULL)
        conn->framer = latch_framer_new (LATCH_MSG_MAX_SIZE);
      latch_framer_push (conn->framer, buf, got);
      dispatch (conn);
      if (!is_serving (conn->state))
        continue;
      /* A clear socket read less than asked for is drained. */
      if (!secured && got < sizeof buf)
        return;
    }
}

/* Advances the TLS handshake. */
static void
advance_handshake (LatchConn *conn)
{
  GError *error = NULL;
  LatchTlsStatus status = conn->tls->handshake (conn->session, &error);

  switch (status)
    {
    case LATCH_TLS_OK:
      conn_set_state (conn, LATCH_CONN_AWAIT_FIRST);
      if (latch_log_is_debug ())
        {
          g_autofree char *what = conn->tls->describe (conn->session);
          latch_log_debug ("%s: %s", conn->label, what);
        }
      /* It may close or abort the connection, like message_cb. */
      if (conn->cb->secured_cb != NULL)
        conn->cb->secured_cb (conn, conn->user_data);
      /* Records that came with the handshake's last flight. */
      if (is_serving (conn->state))
        read_input (conn);
      return;
    case LATCH_TLS_WANT_READ:
    case LATCH_TLS_WANT_WRITE:
      conn->tls_want = status;
      return;
    case LATCH_TLS_FAILED:
    default:
      latch_log_info ("%s: TLS handshake failed: %s", conn->label, error->message);
      /* A client's owner is told why (a server's peer is told by the
       * alert, its owner needs no more than the log line). */
      if (conn->is_client)
        conn->handshake_error = g_steal_pointer (&error);
      g_clear_error (&error);
      /* Gracefully: the alert reaches the peer, which is not reset. */
      start_closing (conn);
      return;
    }
}

/* SNIFFING: the first byte says what the peer speaks. */
static void
sniff (LatchConn *conn)
{
  guchar first;
  ssize_t n = recv (conn->fd, &first, 1, MSG_PEEK);

  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return;
  if (n <= 0)
    {
      int saved = errno;
      finish (conn, n < 0 ? g_error_new (LATCH_ERROR, LATCH_ERROR_IO, "recv: %s",
                                         g_strerror (saved))
                          : NULL);
      return;
    }
  if (conn->session != NULL)
    {
      if (first == TLS_HANDSHAKE_RECORD)
        {
          conn_set_state (conn, LATCH_CONN_HANDSHAKING);
          advance_handshake (conn);
          return;
        }
      /* Clear text: delivered as such, for the owner to refuse. */
      latch_log_debug ("%s: clear text where TLS is required", conn->label);
      drop_session (conn);
      conn_set_state (conn, LATCH_CONN_AWAIT_FIRST);
      read_input (conn);
      return;
    }
  conn_set_state (conn, LATCH_CONN_AWAIT_FIRST);
  if (first == TLS_HANDSHAKE_RECORD && conn->cb->tls_hello_cb != NULL)
    {
      char buf[READ_CHUNK];

      /* The hello is not for the framer: read and dropped (what follows
       * in later reads is delivered, if the owner lets it). */
      n = recv (conn->fd, buf, sizeof buf, 0);
      (void)n;
      conn->cb->tls_hello_cb (conn, conn->user_data);
    }
  if (is_serving (conn->state))
    read_input (conn);
}

/* CONNECTING: the socket is writable (or failed): the connect is over.
 * A client with TLS starts its handshake; a clear one is ready and sends
 * what was queued. */
static void
connect_done (LatchConn *conn, GIOCondition cond)
{
  int err = 0;
  socklen_t len = sizeof err;

  if (getsockopt (conn->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
    err = errno;
  if (err == 0 && (cond & G_IO_OUT) == 0)
    err = ENOTCONN; /* a hang-up without an error: no connection */
  if (err != 0)
    {
      latch_log_debug ("%s: connect: %s", conn->label, g_strerror (err));
      finish (conn, g_error_new (LATCH_ERROR, LATCH_ERROR_CONNECT, "connect: %s",
                                 g_strerror (err)));
      return;
    }
  if (conn->session != NULL)
    {
      conn_set_state (conn, LATCH_CONN_HANDSHAKING);
      advance_handshake (conn);
      return;
    }
  conn_set_state (conn, LATCH_CONN_AWAIT_FIRST);
  flush_out (conn);
  if (conn->io_error != NULL)
    finish (conn, g_steal_pointer (&conn->io_error));
  else if (cond & (G_IO_IN | G_IO_HUP))
    read_input (conn);
}

/* The one handler: whatever the socket says, acted on by state. */
static void
io_cb (LatchEvWatch *watch G_GNUC_UNUSED, int fd G_GNUC_UNUSED, GIOCondition cond,
       gpointer user_data)
{
  LatchConn *conn = user_data;
  gboolean input = (cond & (G_IO_IN | G_IO_HUP | G_IO_ERR)) != 0;

  conn->in_handler = TRUE;
  if ((cond & G_IO_OUT) && conn->state != LATCH_CONN_HANDSHAKING
      && conn->state != LATCH_CONN_CONNECTING)
    flush_out (conn);
  if (conn->io_error != NULL)
    finish (conn, g_steal_pointer (&conn->io_error));
  switch (conn->state)
    {
    case LATCH_CONN_CONNECTING:
      connect_done (conn, cond);
      break;
    case LATCH_CONN_SNIFFING:
      if (input)
        sniff (conn);
      break;
    case LATCH_CONN_HANDSHAKING:
      advance_handshake (conn);
      break;
    case LATCH_CONN_AWAIT_FIRST:
    case LATCH_CONN_LOCKING:
    case LATCH_CONN_MANAGEMENT:
      /* GnuTLS may hold decrypted bytes that no socket event announces. */
      if (input || (is_secured (conn) && conn->tls->pending (conn->session) > 0))
        read_input (conn);
      break;
    case LATCH_CONN_FLUSHING:
      if (out_len (conn) == 0)
        start_closing (conn);
      if (input)
        read_input (conn);
      break;
    case LATCH_CONN_CLOSING:
      if (input)
        read_input (conn);
      break;
    case LATCH_CONN_CLOSED:
    default:
      break;
    }
  conn->in_handler = FALSE;
  if (conn->state == LATCH_CONN_CLOSED)
    conn_free (conn);
  else
    update_watch (conn);
}

void
latch_conn_start_tls (LatchConn *conn, const LatchTlsModule *tls, LatchTlsSession *session)
{
  if (conn->state != LATCH_CONN_SNIFFING || conn->session != NULL)
    {
      latch_log_warning ("%s: TLS started in state %s refused (a bug)", conn->label,
                         latch_conn_state_name (conn->state));
      tls->session_free (session);
      return;
    }
  conn->tls = tls;
  conn->session = session;
  conn->tls_want = LATCH_TLS_WANT_READ;
  latch_log_debug ("%s: SNIFFING, TLS expected", conn->label);
  update_watch (conn);
}

void
latch_conn_start_tls_client (LatchConn *conn, const LatchTlsModule *tls,
                             LatchTlsSession *session)
{
  if (conn->state != LATCH_CONN_CONNECTING || conn->session != NULL || out_len (conn) > 0)
    {
      latch_log_warning ("%s: TLS client started in state %s%s refused (a bug)", conn->label,
                         latch_conn_state_name (conn->state),
                         out_len (conn) > 0 ? " with clear output queued" : "");
      tls->session_free (session);
      return;
    }
  conn->tls = tls;
  conn->session = session;
  conn->tls_want = LATCH_TLS_WANT_WRITE;
  latch_log_debug ("%s: CONNECTING, TLS client", conn->label);
}

gboolean
latch_conn_is_tls (const LatchConn *conn)
{
  return is_secured (conn);
}

LatchTlsSession *
latch_conn_get_tls (const LatchConn *conn)
{
  return is_secured (conn) ? conn->session : NULL;
}

LatchConnState
latch_conn_get_state (const LatchConn *conn)
{
  return conn->state;
}

const char *
latch_conn_get_label (const LatchConn *conn)
{
  return conn->label;
}

void
latch_conn_set_data (LatchConn *conn, gpointer data)
{
  conn->data = data;
}

gpointer
latch_conn_get_data (const LatchConn *conn)
{
  return conn->data;
}

gboolean
latch_conn_is_open (const LatchConn *conn)
{
  return is_serving (conn->state)
         || ((conn->state == LATCH_CONN_SNIFFING || conn->state == LATCH_CONN_CONNECTING)
             && conn->session == NULL);
}

gboolean
latch_net_init (GError **error)
{
  return latch_ev_init (error);
}

void
latch_net_shutdown (void)
{
  if (deadlined != NULL)
    {
      GHashTableIter iter;
      gpointer key;

      /* The owner's connections stay open; their deadlines just go. */
      g_hash_table_iter_init (&iter, deadlined);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        {
          LatchConn *conn = key;

          conn->deadline_at = 0;
          g_clear_pointer (&conn->deadline_what, g_free);
        }
      g_clear_pointer (&deadlined, g_hash_table_unref);
    }
  g_clear_handle_id (&sweep_id, g_source_remove);
  latch_ev_shutdown ();
}
