#include "config.h"

#include "net/conn.h"

#include "common/error.h"
#include "common/log.h"
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
 * message, and each such change wakes the main loop once more. */
#define SWEEP_INTERVAL_MS 250
#define READ_CHUNK 4096

typedef enum
{
  CONN_OPEN,
  CONN_CLOSING,
  CONN_CLOSED,
  CONN_HANDSHAKE,
} ConnState;

static const char *const state_names[] = { "OPEN", "CLOSING", "CLOSED", "HANDSHAKE" };

/* The first byte of a TLS handshake record. */
#define TLS_HANDSHAKE_RECORD 0x16

struct _LatchConn
{
  int fd;
  ConnState state;
  char *label;
  LatchFramer *framer;
  GByteArray *out;
  guint watch_id;
  GIOCondition watching;
  gint64 deadline_at;     /* monotonic ms; 0: none */
  char *deadline_what;
  gboolean wr_shut;       /* shutdown (SHUT_WR) done */
  gboolean dispatching;   /* inside message_cb: defer the free */
  gboolean free_pending;
  GError *close_reason;
  GError *io_error;       /* a send failed: io_cb ends the connection */
  const LatchConnCallbacks *cb;
  gpointer user_data;
  gpointer data;
  /* TLS */
  const LatchTlsModule *tls;
  LatchTlsSession *session;  /* NULL: clear */
  gboolean secured;          /* handshake done */
  LatchTlsStatus tls_want;   /* what the last TLS call waits for */
  gsize tls_send_len;        /* length of a TLS send to repeat; 0: none */
  gboolean sniffed;          /* the first byte was looked at */
};

static gboolean io_cb (int fd, GIOCondition cond, gpointer user_data);

/* Connections with a deadline armed, and the sweeper that checks them. */
static GHashTable *deadlined;
static guint sweep_id;

static gint64
now_ms (void)
{
  return g_get_monotonic_time () / 1000;
}

static void
disarm_deadline (LatchConn *conn)
{
  conn->deadline_at = 0;
  g_clear_pointer (&conn->deadline_what, g_free);
  if (deadlined != NULL)
    g_hash_table_remove (deadlined, conn);
}

static void
conn_set_state (LatchConn *conn, ConnState state)
{
  latch_log_debug ("%s: %s -> %s", conn->label, state_names[conn->state],
                   state_names[state]);
  conn->state = state;
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

static void
update_watch (LatchConn *conn)
{
  GIOCondition want = 0;

  if (conn->state == CONN_HANDSHAKE)
    want = conn->tls_want == LATCH_TLS_WANT_WRITE ? G_IO_OUT : G_IO_IN;
  else
    {
      if (conn->state != CONN_CLOSED)
        want = G_IO_IN;
      if (conn->out->len > 0 || conn->io_error != NULL)
        want |= G_IO_OUT;
    }
  if (want == conn->watching && conn->watch_id != 0)
    return;
  g_clear_handle_id (&conn->watch_id, g_source_remove);
  conn->watching = want;
  if (want != 0)
    conn->watch_id = latch_fd_watch_add (conn->fd, want, io_cb, conn);
}

static void
conn_free (LatchConn *conn)
{
  g_clear_handle_id (&conn->watch_id, g_source_remove);
  disarm_deadline (conn);
  g_clear_pointer (&conn->framer, latch_framer_free);
  g_clear_pointer (&conn->out, g_byte_array_unref);
  g_clear_error (&conn->close_reason);
  g_clear_error (&conn->io_error);
  if (conn->session != NULL)
    conn->tls->session_free (conn->session);
  g_free (conn->label);
  g_free (conn);
}

/* Ends the connection: runs closed_cb once, frees the object (later, if
 * inside message_cb). */
static void
finish (LatchConn *conn, GError *reason /* transfer full, may be NULL */)
{
  if (conn->state == CONN_CLOSED)
    {
      g_clear_error (&reason);
      return;
    }
  conn_set_state (conn, CONN_CLOSED);
  g_clear_handle_id (&conn->watch_id, g_source_remove);
  disarm_deadline (conn);
  close (conn->fd);
  conn->fd = -1;
  conn->close_reason = reason;
  conn->cb->closed_cb (conn, reason, conn->user_data);
  if (conn->dispatching)
    conn->free_pending = TRUE;
  else
    conn_free (conn);
}

LatchConn *
latch_conn_new (int fd, const char *label, const LatchConnCallbacks *callbacks,
                gpointer user_data)
{
  LatchConn *conn = g_new0 (LatchConn, 1);

  conn->fd = fd;
  conn->state = CONN_OPEN;
  conn->label = g_strdup (label);
  conn->framer = latch_framer_new (LATCH_MSG_MAX_SIZE);
  conn->out = g_byte_array_new ();
  conn->cb = callbacks;
  conn->user_data = user_data;
  update_watch (conn);
  return conn;
}

/* Writes what it can.  A failure is kept in io_error for io_cb to act
 * on: a send never ends the connection by itself, so that sending to one
 * connection cannot run another's closed_cb in the middle of the caller. */
static void
flush_out (LatchConn *conn)
{
  while (conn->secured && conn->out->len > 0 && conn->io_error == NULL)
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
  while (!conn->secured && conn->out->len > 0 && conn->io_error == NULL)
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
}

static void
start_closing (LatchConn *conn)
{
  conn_set_state (conn, CONN_CLOSING);
  conn->wr_shut = TRUE;
  if (conn->secured)
    conn->tls->bye (conn->session);
  shutdown (conn->fd, SHUT_WR);
  latch_conn_set_deadline (conn, CLOSING_LINGER_MS, "waiting for the peer to close");
}

void
latch_conn_send (LatchConn *conn, const char *data, gsize len)
{
  if (conn->state != CONN_OPEN)
    return;
  g_byte_array_append (conn->out, (const guint8 *)data, (guint)len);
  flush_out (conn);
  update_watch (conn);
}

void
latch_conn_close_after_flush (LatchConn *conn)
{
  /* In HANDSHAKE nothing is queued (latch_conn_send drops data before
   * OPEN): closed as after a failed handshake; no message is delivered. */
  if (conn->state != CONN_OPEN && conn->state != CONN_HANDSHAKE)
    return;
  flush_out (conn);
  if (conn->out->len == 0 && conn->io_error == NULL)
    start_closing (conn);
  else
    {
      /* io_cb shuts the write side once flushed */
      conn_set_state (conn, CONN_CLOSING);
      latch_conn_set_deadline (conn, CLOSING_LINGER_MS, "flushing output");
    }
  update_watch (conn);
}

void
latch_conn_abort (LatchConn *conn, const GError *why)
{
  if (why != NULL)
    latch_log_info ("%s: closing: %s", conn->label, why->message);
  finish (conn, why != NULL ? g_error_copy (why) : NULL);
}

static void
deadline_passed (LatchConn *conn)
{
  g_autofree char *what = g_strdup (conn->deadline_what);

  disarm_deadline (conn);
  if (conn->state == CONN_CLOSING)
    {
      finish (conn, NULL);
      return;
    }
  latch_log_info ("%s: timed out %s; closing", conn->label, what);
  finish (conn, g_error_new (LATCH_ERROR, LATCH_ERROR_TIMEOUT, "timed out %s", what));
}

static gboolean
sweep_cb (gpointer user_data)
{
  g_autoptr (GPtrArray) due = g_ptr_array_new ();
  gint64 now = now_ms ();
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, deadlined);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (((LatchConn *)key)->deadline_at <= now)
      g_ptr_array_add (due, key);
  for (guint i = 0; i < due->len; i++)
    deadline_passed (due->pdata[i]);
  if (g_hash_table_size (deadlined) == 0)
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
  if (ms <= 0 || conn->state == CONN_CLOSED)
    return;
  if (deadlined == NULL)
    deadlined = g_hash_table_new (NULL, NULL);
  conn->deadline_at = now_ms () + ms;
  conn->deadline_what = g_strdup (what);
  g_hash_table_add (deadlined, conn);
  if (sweep_id == 0)
    sweep_id = g_timeout_add (SWEEP_INTERVAL_MS, sweep_cb, NULL);
}

/* Delivers every complete message.  FALSE if the connection ended. */
static gboolean
dispatch (LatchConn *conn)
{
  while (conn->state == CONN_OPEN)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GBytes) msg = NULL;

      if (!latch_framer_pop (conn->framer, &msg, &error))
        {
          latch_log_info ("%s: bad input: %s; closing", conn->label, error->message);
          finish (conn, g_steal_pointer (&error));
          return FALSE;
        }
      if (msg == NULL)
        break;
      conn->dispatching = TRUE;
      conn->cb->message_cb (conn, msg, conn->user_data);
      conn->dispatching = FALSE;
      if (conn->free_pending)
        {
          conn_free (conn);
          return FALSE;
        }
    }
  return TRUE;
}

/* Reads what the socket has (TLS: decrypts).  FALSE if the connection
 * ended. */
static gboolean
read_input (LatchConn *conn)
{
  char buf[READ_CHUNK];

  for (;;)
    {
      gsize got = 0;

      if (conn->secured && conn->state == CONN_OPEN)
        {
          GError *error = NULL;
          LatchTlsStatus status = conn->tls->recv (conn->session, buf, sizeof buf, &got,
                                                   &error);

          if (status == LATCH_TLS_WANT_READ || status == LATCH_TLS_WANT_WRITE)
            {
              conn->tls_want = status;
              return TRUE;
            }
          if (status == LATCH_TLS_FAILED)
            {
              latch_log_info ("%s: %s; closing", conn->label, error->message);
              finish (conn, error);
              return FALSE;
            }
        }
      else
        {
          ssize_t n = recv (conn->fd, buf, sizeof buf, 0);

          if (n < 0 && errno == EINTR)
            continue;
          if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return TRUE;
          if (n < 0)
            {
              int saved = errno;
              finish (conn, g_error_new (LATCH_ERROR, LATCH_ERROR_IO, "recv: %s",
                                         g_strerror (saved)));
              return FALSE;
            }
          got = (gsize)n;
        }
      if (got == 0)
        {
          finish (conn, NULL);
          return FALSE;
        }
      if (conn->state != CONN_OPEN)
        continue; /* CLOSING: input is read and dropped until EOF. */
      if (!conn->sniffed)
        {
          conn->sniffed = TRUE;
          if (!conn->secured && (guchar)buf[0] == TLS_HANDSHAKE_RECORD
              && conn->cb->tls_hello_cb != NULL)
            {
              conn->dispatching = TRUE;
              conn->cb->tls_hello_cb (conn, conn->user_data);
              conn->dispatching = FALSE;
              if (conn->free_pending)
                {
                  conn_free (conn);
                  return FALSE;
                }
              continue;
            }
        }
      latch_framer_push (conn->framer, buf, got);
      if (!dispatch (conn))
        return FALSE;
      if (conn->state != CONN_OPEN)
        continue;
      /* A clear socket read less than asked for is drained. */
      if (!conn->secured && got < sizeof buf)
        return TRUE;
    }
}

/* Advances the TLS handshake.  FALSE if the connection ended. */
static gboolean
advance_handshake (LatchConn *conn)
{
  GError *error = NULL;
  LatchTlsStatus status;

  if (!conn->sniffed)
    {
      guchar first;
      ssize_t n = recv (conn->fd, &first, 1, MSG_PEEK);

      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return TRUE;
      if (n <= 0)
        {
          finish (conn, n < 0 ? g_error_new (LATCH_ERROR, LATCH_ERROR_IO, "recv: %s",
                                             g_strerror (errno))
                              : NULL);
          return FALSE;
        }
      if (first != TLS_HANDSHAKE_RECORD)
        {
          /* Clear text: delivered as such, for the owner to refuse. */
          latch_log_debug ("%s: clear text where TLS is required", conn->label);
          conn->tls->session_free (conn->session);
          conn->session = NULL;
          conn_set_state (conn, CONN_OPEN);
          return TRUE;
        }
    }
  conn->sniffed = TRUE;
  status = conn->tls->handshake (conn->session, &error);
  switch (status)
    {
    case LATCH_TLS_OK:
      conn->secured = TRUE;
      conn_set_state (conn, CONN_OPEN);
      if (latch_log_is_debug ())
        {
          g_autofree char *what = conn->tls->describe (conn->session);
          latch_log_debug ("%s: %s", conn->label, what);
        }
      if (conn->cb->secured_cb != NULL)
        {
          /* It may close or abort the connection, like message_cb. */
          conn->dispatching = TRUE;
          conn->cb->secured_cb (conn, conn->user_data);
          conn->dispatching = FALSE;
          if (conn->free_pending)
            {
              conn_free (conn);
              return FALSE;
            }
        }
      /* Records that came with the handshake's last flight. */
      return read_input (conn);
    case LATCH_TLS_WANT_READ:
    case LATCH_TLS_WANT_WRITE:
      conn->tls_want = status;
      return TRUE;
    case LATCH_TLS_FAILED:
    default:
      latch_log_info ("%s: TLS handshake failed: %s", conn->label, error->message);
      g_clear_error (&error);
      /* Gracefully: the alert reaches the peer, which is not reset. */
      start_closing (conn);
      return TRUE;
    }
}

static gboolean
io_cb (int fd, GIOCondition cond, gpointer user_data)
{
  LatchConn *conn = user_data;

  if (conn->state == CONN_HANDSHAKE)
    {
      if (!advance_handshake (conn))
        return G_SOURCE_REMOVE;
    }
  else
    {
      if (cond & G_IO_OUT)
        flush_out (conn);
      if (conn->io_error != NULL)
        {
          finish (conn, g_steal_pointer (&conn->io_error));
          return G_SOURCE_REMOVE;
        }
      if (cond & G_IO_OUT)
        {
          if (conn->out->len == 0 && conn->state == CONN_CLOSING && !conn->wr_shut)
            start_closing (conn);
        }
      if ((cond & (G_IO_IN | G_IO_HUP | G_IO_ERR))
          || (conn->secured && conn->state == CONN_OPEN
              && conn->tls->pending (conn->session) > 0))
        if (!read_input (conn))
          return G_SOURCE_REMOVE;
    }
  if (conn->state == CONN_CLOSED)
    return G_SOURCE_REMOVE;
  /* update_watch may replace this source: report removal in that case. */
  {
    guint before = conn->watch_id;
    update_watch (conn);
    return conn->watch_id == before ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
  }
}

void
latch_conn_start_tls (LatchConn *conn, const LatchTlsModule *tls, LatchTlsSession *session)
{
  conn->tls = tls;
  conn->session = session;
  conn->tls_want = LATCH_TLS_WANT_READ;
  conn_set_state (conn, CONN_HANDSHAKE);
  update_watch (conn);
}

gboolean
latch_conn_is_tls (const LatchConn *conn)
{
  return conn->secured;
}

LatchTlsSession *
latch_conn_get_tls (const LatchConn *conn)
{
  return conn->secured ? conn->session : NULL;
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
  return conn->state == CONN_OPEN;
}
