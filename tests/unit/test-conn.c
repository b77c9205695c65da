/* test-conn.c: the daemon's connection state machine (net/conn.c).
 *
 * Each test drives real LatchConns in this thread's main loop, over a
 * UNIX socketpair and over loopback TCP; the test holds the other end of
 * the socket (the "peer"), watched by the same loop.  What is asserted is
 * what an owner and a peer can see: callbacks run (and how often, in what
 * order), the messages delivered byte for byte, latch_conn_is_open() /
 * is_tls() / get_tls(), the reason handed to closed_cb, and what the peer
 * reads (data, close_notify, EOF, a TLS alert).  Nothing waits by
 * sleeping: each wait runs the loop until a condition holds, and fails
 * the test after a bound.
 *
 * conn.c's states (conn.h's diagram), and where each is covered:
 *   state/AT/EV  every state (CONNECTING clear and as a TLS client,
 *              SNIFFING clear and with TLS expected, HANDSHAKING as server
 *              and as client, AWAIT_FIRST, LOCKING, MANAGEMENT, FLUSHING,
 *              CLOSING) meets every event: EOF, reset (TCP), deadline,
 *              abort, input, a ClientHello, begin, send, close; the state
 *              after it and what the owner and the peer saw are asserted,
 *              and closed_cb always sees CLOSED.
 *   CONNECTING client/... (a connect refused, one in progress that times
 *              out, clear output queued before the connect is done), and
 *              the matrix, where the connect is done in the kernel but the
 *              conn has not looked yet when the event comes
 *   HANDSHAKING as a client: client/tls-... (done, refused by us or by
 *              the server: closed_cb gets the explanation)
 *   SNIFFING   clear/... and hello/... (the first byte), tls/clear-first-byte,
 *              tls/eof-first, tls/reset-first
 *   HANDSHAKING  tls/... left by: AWAIT_FIRST secured (handshake, bulk-*),
 *              CLOSING on failure (garbage, eof-mid-handshake, client-refuses,
 *              server-refuses) or close_after_flush (close-in-handshake),
 *              CLOSED (deadline, abort-in-handshake)
 *   FLUSHING / CLOSING  close_after_flush with output queued (flushed
 *              first: clear/close-flush-large, tls/bulk-out) or none (shut
 *              at once); input dropped; left on the peer's EOF, on a send
 *              error (clear/flush-to-gone-peer) or when the linger passes
 *              (deadline/closing-linger)
 *   CLOSED     closed_cb once, then freed; calls made on it from inside a
 *              callback are ignored (clear/abort-in-message,
 *              state/begin-when-closed)
 *   not states: the deferred free while a callback runs (abort from
 *              message_cb, tls_hello_cb, secured_cb), a send error acted
 *              on later (send-to-gone-peer), tls_send_len (bulk-out with
 *              small buffers), deadlines (deadline/..., state/deadline-set);
 *              net/shutdown: the layer's shutdown under an open conn.
 * Not reachable from here: a handshake waiting to write (its flights fit
 * any socket buffer), and GnuTLS holding decrypted bytes between two
 * events (it reads records exactly), which io_cb's pending() check and the
 * read right after the handshake guard against.
 *
 * TLS peers are raw GnuTLS clients, so that the test sees what goes over
 * the wire (close_notify or a bare EOF, which alert).  Certificates come
 * from tests/tls-certs.sh, as in test-tls.c; without certtool the TLS
 * tests are skipped.  A deadline is asserted never to pass early; how
 * late it may pass (250 ms) is not, a loaded machine being slower. */

#include "config.h"

#include "net/conn.h"
#include "net/evsource.h"

#include "common/error.h"
#include "common/log.h"
#include "proto/msg.h"
#include "tls/tls.h"
#include "scratch.h"
#include "loop-wait.h"

#include <gnutls/gnutls.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MID "0123456789abcdef0123456789abcdef"

/* conn.c's CLOSING_LINGER_MS. */
#define LINGER_MS 5000
/* How long any wait may take before the test fails: less than the
 * linger, so that a CLOSING conn ended by it is not taken for one that
 * saw the peer's EOF. */
#define WAIT_MS 4000

static const LatchTlsModule *tls;
static char *certs_dir;          /* NULL: no certificates (no certtool) */
static LatchTlsCreds *server_creds;
static LatchTlsCreds *client_creds;

typedef enum
{
  VIA_UNIX,
  VIA_TCP,
} Via;

typedef struct
{
  Via via;
  const char *arg; /* test-specific: a priority string */
  int at, ev;      /* state/...: where the conn is driven, what happens there */
} Case;

/* What an owner callback does besides recording. */
typedef enum
{
  ACT_NONE,
  ACT_REPLY,  /* send REPLY */
  ACT_ABORT,  /* abort with an error, then poke the closed conn */
  ACT_CLOSE,  /* send REPLY, close_after_flush, then try to send more */
} Action;

#define REPLY "<msg>reply</msg>"
#define LATE "<msg>late</msg>"
#define REFUSAL "<msg>no TLS here</msg>"
#define ABORT_WHY "the owner says no"

/* One connection: the LatchConn, what its owner saw, and the peer. */
typedef struct
{
  /* --- the conn side (the owner) --- */
  LatchConn *conn;        /* NULL once closed_cb ran */
  int conn_fd;            /* for the server's TLS session */
  LatchTlsSession *session; /* the one handed to the conn (transfer none) */
  GPtrArray *messages;    /* GBytes, in delivery order */
  int n_closed;
  guint messages_at_close;
  GError *reason;         /* a copy of closed_cb's */
  gint64 closed_at;       /* monotonic us */
  int n_secured;
  gboolean secured_saw_tls;
  gboolean secured_saw_session;
  gboolean secured_saw_open;
  int n_hello;
  LatchConnState state_at_close;    /* what closed_cb saw */
  LatchConnState state_in_message;  /* what the last message_cb saw */
  Action on_message;
  Action on_secured;
  Action on_hello;
  /* --- the peer --- */
  int peer;               /* -1: closed */
  guint watch;
  GIOCondition watching;
  gboolean reading;       /* the watch reads what arrives */
  gboolean plain;         /* read with recv() even with a TLS session */
  GString *in;            /* what the peer read */
  gboolean eof;           /* EOF (or, TLS, the end of the stream) */
  gboolean eof_clean;     /* TLS: the end was a close_notify */
  int rd_error;           /* a GnuTLS error, or -errno */
  gnutls_session_t tls;   /* a client session, or NULL */
  gnutls_certificate_credentials_t cred;
  gboolean hs_done;
  int hs_ret;
  int alert;              /* a fatal alert the peer received; -1: none */
} Link;

typedef struct
{
  Via via;
  const char *arg;
  int at, ev;
  Link link[3];
} Fixture;

/* ---- waiting ------------------------------------------------------------ */

/* bound_cb, WAIT_FOR_MS, WAIT_FOR: loop-wait.h */

static gint64
ms_since (gint64 start_us, gint64 end_us)
{
  return (end_us - start_us) / 1000;
}

/* ---- the owner's callbacks ------------------------------------------------ */

/* Everything a callback can still call on a conn it has just aborted:
 * all must be ignored (the conn is CLOSED, its free deferred). */
static void
abort_and_poke (LatchConn *conn)
{
  g_autoptr (GError) why = g_error_new_literal (LATCH_ERROR, LATCH_ERROR_FAILED, ABORT_WHY);

  latch_conn_abort (conn, why);
  g_assert_false (latch_conn_is_open (conn));
  latch_conn_abort (conn, NULL);
  latch_conn_close_after_flush (conn);
  latch_conn_send (conn, LATE, strlen (LATE));
  latch_conn_set_deadline (conn, 10, "after the end");
}

static void
close_and_poke (LatchConn *conn)
{
  latch_conn_send (conn, REPLY, strlen (REPLY));
  latch_conn_close_after_flush (conn);
  g_assert_false (latch_conn_is_open (conn));
  /* Write after close: dropped. */
  latch_conn_send (conn, LATE, strlen (LATE));
  latch_conn_close_after_flush (conn);
}

static void
act (LatchConn *conn, Action action)
{
  switch (action)
    {
    case ACT_NONE:
      break;
    case ACT_REPLY:
      latch_conn_send (conn, REPLY, strlen (REPLY));
      break;
    case ACT_ABORT:
      abort_and_poke (conn);
      break;
    case ACT_CLOSE:
      close_and_poke (conn);
      break;
    }
}

static void
message_cb (LatchConn *conn, GBytes *msg, gpointer user_data)
{
  Link *l = user_data;
  gsize len;
  const void *data = g_bytes_get_data (msg, &len);

  g_assert_true (conn == l->conn);
  g_assert_cmpint (l->n_closed, ==, 0);
  g_assert_true (latch_conn_is_open (conn));
  l->state_in_message = latch_conn_get_state (conn);
  g_ptr_array_add (l->messages, g_bytes_new (data, len));
  act (conn, l->on_message);
}

static void
closed_cb (LatchConn *conn, const GError *reason, gpointer user_data)
{
  Link *l = user_data;

  /* Counted, not asserted here: a second call must show in the test. */
  if (l->n_closed++ == 0)
    {
      g_assert_true (conn == l->conn);
      g_assert_false (latch_conn_is_open (conn));
      l->state_at_close = latch_conn_get_state (conn);
      l->closed_at = g_get_monotonic_time ();
      l->messages_at_close = l->messages->len;
      if (reason != NULL)
        l->reason = g_error_copy (reason);
    }
  l->conn = NULL;
}

static void
secured_cb (LatchConn *conn, gpointer user_data)
{
  Link *l = user_data;

  g_assert_true (conn == l->conn);
  l->n_secured++;
  l->secured_saw_tls = latch_conn_is_tls (conn);
  l->secured_saw_session = latch_conn_get_tls (conn) != NULL;
  l->secured_saw_open = latch_conn_is_open (conn);
  act (conn, l->on_secured);
}

static void
hello_cb (LatchConn *conn, gpointer user_data)
{
  Link *l = user_data;

  g_assert_true (conn == l->conn);
  g_assert_false (latch_conn_is_tls (conn));
  l->n_hello++;
  if (l->on_hello == ACT_CLOSE)
    {
      /* What the daemon does: a clear answer, then a graceful close. */
      latch_conn_send (conn, REFUSAL, strlen (REFUSAL));
      latch_conn_close_after_flush (conn);
    }
  else
    act (conn, l->on_hello);
}

static const LatchConnCallbacks all_callbacks = { message_cb, closed_cb, secured_cb, hello_cb };
static const LatchConnCallbacks no_hello_callbacks = { message_cb, closed_cb, secured_cb, NULL };

/* ---- sockets ---------------------------------------------------------------- */

static void
set_nonblocking (int fd)
{
  int flags = fcntl (fd, F_GETFL);

  g_assert_cmpint (flags, >=, 0);
  g_assert_cmpint (fcntl (fd, F_SETFL, flags | O_NONBLOCK), ==, 0);
}

/* Two connected non-blocking stream sockets: *conn_fd as accept4() would
 * give the daemon, *peer_fd the other end. */
static void
make_pair (Via via, int *conn_fd, int *peer_fd)
{
  if (via == VIA_UNIX)
    {
      int fds[2];

      g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds),
                       ==, 0);
      *conn_fd = fds[0];
      *peer_fd = fds[1];
    }
  else
    {
      struct sockaddr_in addr = { .sin_family = AF_INET };
      socklen_t len = sizeof addr;
      int lfd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      int pfd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      int cfd;

      g_assert_cmpint (lfd, >=, 0);
      g_assert_cmpint (pfd, >=, 0);
      addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
      g_assert_cmpint (bind (lfd, (struct sockaddr *)&addr, sizeof addr), ==, 0);
      g_assert_cmpint (listen (lfd, 1), ==, 0);
      g_assert_cmpint (getsockname (lfd, (struct sockaddr *)&addr, &len), ==, 0);
      /* Loopback: connect completes against the backlog. */
      g_assert_cmpint (connect (pfd, (struct sockaddr *)&addr, sizeof addr), ==, 0);
      cfd = accept4 (lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
      g_assert_cmpint (cfd, >=, 0);
      close (lfd);
      set_nonblocking (pfd);
      *conn_fd = cfd;
      *peer_fd = pfd;
    }
}

/* Shrinks the socket buffers between conn and peer, so that a megabyte
 * cannot be written at once. */
static void
small_buffers (Link *l)
{
  int size = 32768; /* TCP: small enough, and no slower than a megabyte a second */

  g_assert_cmpint (setsockopt (l->conn_fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size), ==, 0);
  g_assert_cmpint (setsockopt (l->peer, SOL_SOCKET, SO_RCVBUF, &size, sizeof size), ==, 0);
}

/* Closes the peer's end with a TCP reset. */
static void
reset_peer (Link *l)
{
  struct linger lin = { .l_onoff = 1, .l_linger = 0 };

  g_assert_cmpint (setsockopt (l->peer, SOL_SOCKET, SO_LINGER, &lin, sizeof lin), ==, 0);
  g_clear_handle_id (&l->watch, g_source_remove);
  close (l->peer);
  l->peer = -1;
}

static void
close_peer (Link *l)
{
  g_clear_handle_id (&l->watch, g_source_remove);
  close (l->peer);
  l->peer = -1;
}

/* Has the conn read all that the peer sent? */
static gboolean
conn_drained (Link *l)
{
  struct pollfd pfd = { .fd = l->conn_fd, .events = POLLIN };

  return poll (&pfd, 1, 0) == 0;
}

static gboolean
peer_is (Link *l, short events)
{
  struct pollfd pfd = { .fd = l->peer, .events = events };

  return poll (&pfd, 1, 0) == 1 && (pfd.revents & events) != 0;
}

/* ---- the peer ---------------------------------------------------------------- */

static void peer_watch (Link *l);

/* Handshake (TLS), then read what there is. */
static void
peer_pump (Link *l)
{
  char buf[16384];

  if (l->tls != NULL && !l->hs_done)
    {
      int ret = gnutls_handshake (l->tls);

      if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED)
        return;
      l->hs_done = TRUE;
      l->hs_ret = ret;
      if (ret == GNUTLS_E_FATAL_ALERT_RECEIVED)
        l->alert = gnutls_alert_get (l->tls);
      else if (ret < 0)
        (void)gnutls_alert_send_appropriate (l->tls, ret);
      if (ret < 0)
        l->plain = TRUE; /* only EOF matters now */
    }
  while (l->reading && !l->eof && l->rd_error == 0)
    {
      ssize_t n;

      if (l->tls != NULL && !l->plain)
        {
          n = gnutls_record_recv (l->tls, buf, sizeof buf);
          if (n == 0)
            l->eof_clean = TRUE;
          else if (n == GNUTLS_E_PREMATURE_TERMINATION)
            n = 0;
          else if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            return;
          else if (n < 0)
            {
              if (n == GNUTLS_E_FATAL_ALERT_RECEIVED)
                l->alert = gnutls_alert_get (l->tls);
              l->rd_error = (int)n;
              return;
            }
        }
      else
        {
          n = recv (l->peer, buf, sizeof buf, 0);
          if (n < 0 && errno == EINTR)
            continue;
          if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
          if (n < 0)
            {
              l->rd_error = -errno;
              return;
            }
        }
      if (n == 0)
        l->eof = TRUE;
      else
        g_string_append_len (l->in, buf, n);
    }
}

static GIOCondition
peer_wants (Link *l)
{
  if (l->peer < 0)
    return 0;
  if (l->tls != NULL && !l->hs_done)
    return gnutls_record_get_direction (l->tls) ? G_IO_OUT : G_IO_IN;
  if (l->reading && !l->eof && l->rd_error == 0)
    return G_IO_IN;
  return 0;
}

static gboolean
peer_cb (int fd G_GNUC_UNUSED, GIOCondition cond G_GNUC_UNUSED, gpointer user_data)
{
  Link *l = user_data;

  peer_pump (l);
  if (peer_wants (l) == l->watching)
    return G_SOURCE_CONTINUE;
  l->watch = 0; /* this source goes: returns REMOVE */
  peer_watch (l);
  return G_SOURCE_REMOVE;
}

static void
peer_watch (Link *l)
{
  GIOCondition want = peer_wants (l);

  if (l->watch != 0 && want == l->watching)
    return;
  g_clear_handle_id (&l->watch, g_source_remove);
  l->watching = want;
  if (want != 0)
    l->watch = g_unix_fd_add (l->peer, want, peer_cb, l);
}

/* The peer reads from now on (in the loop). */
static void
peer_read (Link *l)
{
  l->reading = TRUE;
  peer_pump (l);
  peer_watch (l);
}

/* Reads with recv() from now on: after a TLS failure, only EOF matters. */
static void
peer_read_plain (Link *l)
{
  l->plain = TRUE;
  l->rd_error = 0;
  peer_read (l);
}

static void
peer_send (Link *l, const void *data, gsize len)
{
  gsize off = 0;

  while (off < len)
    {
      ssize_t n = send (l->peer, (const char *)data + off, len - off, MSG_NOSIGNAL);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        {
          WAIT_FOR (peer_is (l, POLLOUT));
          continue;
        }
      if (n < 0)
        g_error ("peer send: %s", g_strerror (errno));
      off += (gsize)n;
    }
}

static void
peer_send_str (Link *l, const char *text)
{
  peer_send (l, text, strlen (text));
}

static void
peer_tls_send (Link *l, const void *data, gsize len)
{
  gsize off = 0;

  g_assert_true (l->hs_done);
  g_assert_cmpint (l->hs_ret, ==, 0);
  while (off < len)
    {
      ssize_t n = gnutls_record_send (l->tls, (const char *)data + off, len - off);

      if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
        {
          WAIT_FOR (peer_is (l, gnutls_record_get_direction (l->tls) ? POLLOUT : POLLIN));
          continue;
        }
      if (n < 0)
        g_error ("peer TLS send: %s", gnutls_strerror ((int)n));
      off += (gsize)n;
    }
}

static ssize_t
push_cb (gnutls_transport_ptr_t ptr, const void *data, size_t len)
{
  return send (GPOINTER_TO_INT (ptr), data, len, MSG_NOSIGNAL);
}

/* The peer becomes a TLS client presenting NAME, trusting CA, with
 * priority (NULL: GnuTLS's default); it verifies the server's chain. */
static void
peer_tls_as (Link *l, gboolean server, const char *name, const char *ca,
             const char *priority)
{
  g_autofree char *pem = g_strdup_printf ("%s/%s.pem", certs_dir, name);
  g_autofree char *key = g_strdup_printf ("%s/%s.key", certs_dir, name);
  g_autofree char *ca_pem = g_strdup_printf ("%s/%s.pem", certs_dir, ca);

  g_assert_cmpint (gnutls_certificate_allocate_credentials (&l->cred), ==, 0);
  g_assert_cmpint (gnutls_certificate_set_x509_key_file2 (l->cred, pem, key,
                                                          GNUTLS_X509_FMT_PEM, NULL, 0),
                   >=, 0);
  g_assert_cmpint (gnutls_certificate_set_x509_trust_file (l->cred, ca_pem,
                                                           GNUTLS_X509_FMT_PEM),
                   >, 0);
  g_assert_cmpint (gnutls_init (&l->tls, (server ? GNUTLS_SERVER : GNUTLS_CLIENT)
                                             | GNUTLS_NO_TICKETS),
                   ==, 0);
  if (server)
    gnutls_certificate_server_set_request (l->tls, GNUTLS_CERT_REQUIRE);
  if (priority != NULL)
    g_assert_cmpint (gnutls_priority_set_direct (l->tls, priority, NULL), ==, 0);
  else
    g_assert_cmpint (gnutls_set_default_priority (l->tls), ==, 0);
  g_assert_cmpint (gnutls_credentials_set (l->tls, GNUTLS_CRD_CERTIFICATE, l->cred), ==, 0);
  gnutls_session_set_verify_cert (l->tls, NULL, 0);
  gnutls_transport_set_int (l->tls, l->peer);
  gnutls_transport_set_push_function (l->tls, push_cb);
}

static void
peer_tls (Link *l, const char *name, const char *ca, const char *priority)
{
  peer_tls_as (l, FALSE, name, ca, priority);
}

/* Starts the handshake (the ClientHello goes out now); the loop runs the
 * rest. */
static void
peer_tls_start (Link *l)
{
  peer_pump (l);
  g_assert_false (l->hs_done);
  peer_watch (l);
}

/* The usual client: presents peer2_ca1, trusts CA1, reads. */
static void
peer_tls_client (Link *l, const char *priority)
{
  peer_tls (l, "peer2_ca1", "ca1", priority);
  l->reading = TRUE;
  peer_tls_start (l);
}

/* ---- fixture ------------------------------------------------------------------ */

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  const Case *c = data;

  f->via = c->via;
  f->arg = c->arg;
  f->at = c->at;
  f->ev = c->ev;
  for (gsize i = 0; i < G_N_ELEMENTS (f->link); i++)
    {
      f->link[i].peer = -1;
      f->link[i].conn_fd = -1;
      f->link[i].alert = -1;
    }
}

static void
fixture_tear_down (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  for (gsize i = 0; i < G_N_ELEMENTS (f->link); i++)
    {
      Link *l = &f->link[i];

      if (l->conn != NULL)
        latch_conn_abort (l->conn, NULL);
      g_clear_handle_id (&l->watch, g_source_remove);
      if (l->tls != NULL)
        gnutls_deinit (l->tls);
      if (l->cred != NULL)
        gnutls_certificate_free_credentials (l->cred);
      if (l->peer >= 0)
        close (l->peer);
      g_clear_pointer (&l->messages, g_ptr_array_unref);
      if (l->in != NULL)
        g_string_free (l->in, TRUE);
      g_clear_error (&l->reason);
    }
  /* Nothing of this test may stay in the loop (conn.c's deadline sweeper
   * goes once no deadline is armed). */
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

/* Link i: a new conn (OPEN, clear) and its peer. */
static Link *
link_open (Fixture *f, int i, const LatchConnCallbacks *callbacks)
{
  Link *l = &f->link[i];
  g_autofree char *label = g_strdup_printf ("test conn %d", i);

  make_pair (f->via, &l->conn_fd, &l->peer);
  l->messages = g_ptr_array_new_with_free_func ((GDestroyNotify)g_bytes_unref);
  l->in = g_string_new (NULL);
  l->conn = latch_conn_new (l->conn_fd, label, callbacks, l);
  g_assert_true (latch_conn_is_open (l->conn));
  g_assert_false (latch_conn_is_tls (l->conn));
  return l;
}

/* Link i in client mode: the conn on the connecting end (its connect
 * done in the kernel: a socketpair, or loopback TCP accepted by the
 * peer), the peer on the accepted one.  The conn has not looked yet:
 * CONNECTING. */
static Link *
link_open_client (Fixture *f, int i, const LatchConnCallbacks *callbacks)
{
  Link *l = &f->link[i];
  g_autofree char *label = g_strdup_printf ("test client %d", i);

  if (f->via == VIA_UNIX)
    make_pair (VIA_UNIX, &l->conn_fd, &l->peer);
  else
    {
      struct sockaddr_in addr = { .sin_family = AF_INET };
      socklen_t len = sizeof addr;
      int lfd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      int cfd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      int r;

      addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
      g_assert_cmpint (bind (lfd, (struct sockaddr *)&addr, sizeof addr), ==, 0);
      g_assert_cmpint (listen (lfd, 1), ==, 0);
      g_assert_cmpint (getsockname (lfd, (struct sockaddr *)&addr, &len), ==, 0);
      r = connect (cfd, (struct sockaddr *)&addr, sizeof addr);
      g_assert_true (r == 0 || errno == EINPROGRESS);
      l->peer = accept4 (lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
      g_assert_cmpint (l->peer, >=, 0);
      close (lfd);
      l->conn_fd = cfd;
    }
  l->messages = g_ptr_array_new_with_free_func ((GDestroyNotify)g_bytes_unref);
  l->in = g_string_new (NULL);
  l->conn = latch_conn_new_client (l->conn_fd, label, callbacks, l);
  g_assert_cmpstr (latch_conn_state_name (latch_conn_get_state (l->conn)), ==, "CONNECTING");
  g_assert_true (latch_conn_is_open (l->conn));
  g_assert_false (latch_conn_is_tls (l->conn));
  return l;
}

/* The client conn will run a TLS handshake once connected. */
static void
link_start_tls_client (Link *l)
{
  g_autoptr (GError) error = NULL;
  LatchTlsSession *session = tls->session_new (client_creds, l->conn_fd, "the daemon",
                                               &error);

  g_assert_no_error (error);
  l->session = session;
  latch_conn_start_tls_client (l->conn, tls, session);
  g_assert_false (latch_conn_is_open (l->conn));
  g_assert_false (latch_conn_is_tls (l->conn));
  g_assert_null (latch_conn_get_tls (l->conn));
}

/* The conn goes HANDSHAKE, as the daemon does it with TLS configured. */
static void
link_start_tls (Link *l)
{
  g_autoptr (GError) error = NULL;
  LatchTlsSession *session = tls->session_new (server_creds, l->conn_fd, "the client", &error);

  g_assert_no_error (error);
  l->session = session;
  latch_conn_start_tls (l->conn, tls, session);
  g_assert_false (latch_conn_is_open (l->conn));
  g_assert_false (latch_conn_is_tls (l->conn));
  g_assert_null (latch_conn_get_tls (l->conn));
}

#define REQUIRE_CERTS() LATCH_TEST_REQUIRE_CERTS (certs_dir)

static void
assert_message (Link *l, guint i, const void *data, gsize len)
{
  GBytes *msg;

  g_assert_cmpuint (i, <, l->messages->len);
  msg = g_ptr_array_index (l->messages, i);
  g_assert_cmpmem (g_bytes_get_data (msg, NULL), g_bytes_get_size (msg), data, len);
}

static void
assert_message_str (Link *l, guint i, const char *text)
{
  assert_message (l, i, text, strlen (text));
}

/* closed_cb ran once, with no reason (an orderly end). */
static void
assert_closed_orderly (Link *l)
{
  g_assert_cmpint (l->n_closed, ==, 1);
  g_assert_null (l->conn);
  g_assert_no_error (l->reason);
}

static void
assert_closed_with (Link *l, GQuark domain, int code)
{
  g_assert_cmpint (l->n_closed, ==, 1);
  g_assert_null (l->conn);
  g_assert_error (l->reason, domain, code);
}

/* "<msg>xxxx...</msg>", len bytes in all. */
static char *
make_message (gsize len)
{
  GString *s = g_string_new ("<msg>");

  g_assert_cmpuint (len, >=, 11);
  while (s->len < len - 6)
    g_string_append_c (s, 'x');
  g_string_append (s, "</msg>");
  return g_string_free (s, FALSE);
}

/* len bytes of a pattern that never holds "</msg>". */
static char *
make_bulk (gsize len)
{
  char *data = g_malloc (len);

  for (gsize i = 0; i < len; i++)
    data[i] = (char)('a' + (i * 7 + i / 251) % 26);
  return data;
}

/* ---- clear connections ---------------------------------------------------------- */

static void
test_clear_messages (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l = link_open (f, 0, &all_callbacks);
  g_autoptr (GString) many = g_string_new (NULL);
  int marker;

  g_assert_cmpstr (latch_conn_get_label (l->conn), ==, "test conn 0");
  g_assert_null (latch_conn_get_data (l->conn));
  latch_conn_set_data (l->conn, &marker);
  g_assert_true (latch_conn_get_data (l->conn) == &marker);
  g_assert_null (latch_conn_get_tls (l->conn));

  /* Two in one write. */
  peer_send_str (l, "<msg>one</msg><msg>two</msg>");
  WAIT_FOR (l->messages->len == 2);
  assert_message_str (l, 0, "<msg>one</msg>");
  assert_message_str (l, 1, "<msg>two</msg>");

  /* One in three writes, the end tag split. */
  peer_send_str (l, "<msg>th");
  peer_send_str (l, "ree</m");
  WAIT_FOR (conn_drained (l));
  peer_send_str (l, "sg>");
  WAIT_FOR (l->messages->len == 3);
  assert_message_str (l, 2, "<msg>three</msg>");

  /* Many in one write: more than one read of the socket. */
  for (int i = 0; i < 1000; i++)
    g_string_append_printf (many, "<msg>number %03d</msg>", i);
  g_assert_cmpuint (many->len, >, 3 * 4096);
  peer_send (l, many->str, many->len);
  WAIT_FOR (l->messages->len == 1003);
  for (int i = 0; i < 1000; i++)
    {
      g_autofree char *expected = g_strdup_printf ("<msg>number %03d</msg>", i);

      assert_message_str (l, 3 + i, expected);
    }
  g_assert_true (latch_conn_is_open (l->conn));
  g_assert_cmpint (l->n_closed, ==, 0);
}

/* Bytes that are no XML at all, NULs included: the conn frames, it does
 * not parse. */
static void
test_clear_garbage (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  static const char junk[] = "\x00\xff\x01garbage\x00<<>>\x80\x16</msg>";
  Link *l = link_open (f, 0, &all_callbacks);

  peer_send (l, junk, sizeof junk - 1);
  WAIT_FOR (l->messages->len == 1);
  assert_message (l, 0, junk, sizeof junk - 1);
  /* Garbage without an end tag: the conn waits for more. */
  peer_send_str (l, "\x01\x02 no end");
  peer_send_str (l, " yet</msg>");
  WAIT_FOR (l->messages->len == 2);
  assert_message_str (l, 1, "\x01\x02 no end yet</msg>");
  g_assert_cmpint (l->n_hello, ==, 0);
  g_assert_cmpint (l->n_closed, ==, 0);
}

static void
test_clear_reply (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l = link_open (f, 0, &all_callbacks);

  l->on_message = ACT_REPLY;
  peer_read (l);
  peer_send_str (l, "<msg>ping</msg><msg>ping</msg>");
  WAIT_FOR (l->in->len == 2 * strlen (REPLY));
  g_assert_cmpstr (l->in->str, ==, REPLY REPLY);
  g_assert_cmpuint (l->messages->len, ==, 2);
}

/* Peer EOF with nothing sent, with half a message, after a message. */
static void
test_clear_eof (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *idle = link_open (f, 0, &all_callbacks);
  Link *partial = link_open (f, 1, &all_callbacks);
  Link *after = link_open (f, 2, &all_callbacks);

  shutdown (idle->peer, SHUT_WR);
  peer_send_str (partial, "<msg>incompl");
  shutdown (partial->peer, SHUT_WR);
  peer_send_str (after, "<msg>last</msg>");
  shutdown (after->peer, SHUT_WR);
  WAIT_FOR (idle->n_closed && partial->n_closed && after->n_closed);
  assert_closed_orderly (idle);
  assert_closed_orderly (partial);
  assert_closed_orderly (after);
  g_assert_cmpuint (idle->messages->len, ==, 0);
  g_assert_cmpuint (partial->messages->len, ==, 0);
  /* The message came before the end. */
  g_assert_cmpuint (after->messages_at_close, ==, 1);
  assert_message_str (after, 0, "<msg>last</msg>");
  /* The peers see the conns' ends. */
  peer_read (idle);
  WAIT_FOR (idle->eof);
}

/* A message of exactly LATCH_MSG_MAX_SIZE bytes is delivered. */
static void
test_clear_max_size (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l = link_open (f, 0, &all_callbacks);
  g_autofree char *big = make_message (LATCH_MSG_MAX_SIZE);

  peer_send_str (l, big);
  peer_send_str (l, "<msg>next</msg>");
  WAIT_FOR (l->messages->len == 2);
  assert_message_str (l, 0, big);
  assert_message_str (l, 1, "<msg>next</msg>");
  g_assert_true (latch_conn_is_open (l->conn));
}

/* One byte more without an end tag, or a complete message one byte too
 * long: the conn closes with TOO_LONG, delivering nothing. */
static void
test_clear_oversize (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *endless = link_open (f, 0, &all_callbacks);
  Link *longer = link_open (f, 1, &all_callbacks);
  g_autofree char *bulk = make_bulk (LATCH_MSG_MAX_SIZE + 1);
  g_autofree char *big = make_message (LATCH_MSG_MAX_SIZE + 1);

  peer_send (endless, bulk, LATCH_MSG_MAX_SIZE + 1);
  peer_send_str (longer, big);
  WAIT_FOR (endless->n_closed && longer->n_closed);
  assert_closed_with (endless, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_TOO_LONG);
  assert_closed_with (longer, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_TOO_LONG);
  g_assert_cmpuint (endless->messages->len, ==, 0);
  g_assert_cmpuint (longer->messages->len, ==, 0);
  peer_read (endless);
  WAIT_FOR (endless->eof || endless->rd_error != 0);
}

/* message_cb aborts: closed_cb runs once with the error, the next message
 * (already read) is not delivered, and what the callback does to the
 * closed conn is ignored. */
static void
test_clear_abort_in_message (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l = link_open (f, 0, &all_callbacks);
  Link *other = link_open (f, 1, &all_callbacks);
  gint64 start;

  l->on_message = ACT_ABORT;
  peer_read (l);
  peer_send_str (l, "<msg>one</msg><msg>two</msg>");
  WAIT_FOR (l->n_closed);
  assert_closed_with (l, LATCH_ERROR, LATCH_ERROR_FAILED);
  g_assert_cmpstr (l->reason->message, ==, ABORT_WHY);
  g_assert_cmpuint (l->messages->len, ==, 1);
  WAIT_FOR (l->eof || l->rd_error != 0);
  g_assert_cmpstr (l->in->str, ==, "");

  /* The deadline the callback tried to arm on the closed conn never
   * fires (it would be a use after free): let the sweeper run. */
  start = g_get_monotonic_time ();
  latch_conn_set_deadline (other->conn, 300, "for the sweeper to run");
  WAIT_FOR (other->n_closed);
  g_assert_cmpint (ms_since (start, other->closed_at), >=, 299);
  g_assert_cmpint (l->n_closed, ==, 1);
}

/* The owner aborts without a reason (not from a callback). */
static void
test_clear_abort (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l = link_open (f, 0, &all_callbacks);

  peer_read (l);
  latch_conn_abort (l->conn, NULL);
  assert_closed_orderly (l);
  WAIT_FOR (l->eof || l->rd_error != 0);
}

/* message_cb replies and closes: the reply goes out, later messages are
 * not delivered, a send after the close is dropped, the peer gets EOF, and
 * the conn waits for the peer's EOF (reading and dropping its input). */
static void
test_clear_close_in_message (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l = link_open (f, 0, &all_callbacks);

  l->on_message = ACT_CLOSE;
  peer_read (l);
  peer_send_str (l, "<msg>one</msg><msg>two</msg><msg>thr");
  WAIT_FOR (l->eof);
  g_assert_cmpstr (l->in->str, ==, REPLY);
  g_assert_cmpint (l->n_closed, ==, 0);
  g_assert_nonnull (l->conn);
  g_assert_false (latch_conn_is_open (l->conn));
  /* Dropped, not delivered. */
  peer_send_str (l, "ee</msg><msg>four</msg>");
  shutdown (l->peer, SHUT_WR);
  WAIT_FOR (l->n_closed);
  assert_closed_orderly (l);
  g_assert_cmpuint (l->messages->len, ==, 1);
  assert_message_str (l, 0, "<msg>one</msg>");
}

/* A megabyte queued, then close_after_flush: CLOSING with output queued;
 * all of it arrives, then EOF; then the conn waits for the peer. */
static void
test_clear_close_flush_large (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  const gsize size = 1 << 20;
  Link *l = link_open (f, 0, &all_callbacks);
  g_autofree char *bulk = make_bulk (size);

  small_buffers (l);
  latch_conn_send (l->conn, bulk, size);
  latch_conn_close_after_flush (l->conn);
  g_assert_false (latch_conn_is_open (l->conn));
  latch_conn_send (l->conn, LATE, strlen (LATE));
  /* The socket could not take it all: the rest waits in the conn. */
  l->reading = TRUE;
  peer_pump (l);
  g_assert_cmpuint (l->in->len, <, size / 2);
  g_assert_false (l->eof);
  peer_read (l);
  WAIT_FOR (l->eof);
  g_assert_cmpuint (l->in->len, ==, size);
  g_assert_true (memcmp (l->in->str, bulk, size) == 0);
  g_assert_cmpint (l->n_closed, ==, 0);
  shutdown (l->peer, SHUT_WR);
  WAIT_FOR (l->n_closed);
  assert_closed_orderly (l);
}

/* UNIX: a send to a peer that is gone fails at once (EPIPE); the conn
 * ends with that error, not as an orderly EOF. */
static void
test_clear_send_to_gone_peer (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l = link_open (f, 0, &all_callbacks);

  close_peer (l);
  latch_conn_send (l->conn, REPLY, strlen (REPLY));
  /* A send never ends the conn by itself: the loop does. */
  g_assert_cmpint (l->n_closed, ==, 0);
  WAIT_FOR (l->n_closed);
  assert_closed_with (l, LATCH_ERROR, LATCH_ERROR_IO);
}

/* UNIX: CLOSING with output queued, and the peer goes: a send error. */
static void
test_clear_flush_to_gone_peer (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  const gsize size = 1 << 20;
  Link *l = link_open (f, 0, &all_callbacks);
  g_autofree char *bulk = make_bulk (size);

  small_buffers (l);
  latch_conn_send (l->conn, bulk, size);
  latch_conn_close_after_flush (l->conn);
  close_peer (l);
  WAIT_FOR (l->n_closed);
  assert_closed_with (l, LATCH_ERROR, LATCH_ERROR_IO);
}

/* TCP: a reset while OPEN is an I/O error. */
static void
test_clear_reset (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l = link_open (f, 0, &all_callbacks);

  peer_send_str (l, "<msg>one</msg>");
  WAIT_FOR (l->messages->len == 1);
  reset_peer (l);
  WAIT_FOR (l->n_closed);
  assert_closed_with (l, LATCH_ERROR, LATCH_ERROR_IO);
}

/* ---- a TLS record on a clear connection (TLS not allowed) ------------------------ */

/* The first bytes of a ClientHello record: type 22, version 3.1. */
static const char hello_record[] = "\x16\x03\x01\x01\x05hello";

/* tls_hello_cb answers in clear text and closes, as the daemon does. */
static void
test_hello_refused (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l = link_open (f, 0, &all_callbacks);

  l->on_hello = ACT_CLOSE;
  peer_read (l);
  peer_send (l, hello_record, sizeof hello_record - 1);
  WAIT_FOR (l->eof);
  g_assert_cmpint (l->n_hello, ==, 1);
  g_assert_cmpstr (l->in->str, ==, REFUSAL);
  g_assert_cmpint (l->n_closed, ==, 0);
  shutdown (l->peer, SHUT_WR);
  WAIT_FOR (l->n_closed);
  assert_closed_orderly (l);
  g_assert_cmpuint (l->messages->len, ==, 0);
}

/* A real TLS client at a clear conn: tls_hello_cb, no message, and the
 * client's handshake fails on the clear answer. */
static void
test_hello_real_client (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l;

  REQUIRE_CERTS ();
  l = link_open (f, 0, &all_callbacks);
  l->on_hello = ACT_CLOSE;
  peer_tls_client (l, NULL);
  WAIT_FOR (l->hs_done);
  g_assert_cmpint (l->hs_ret, <, 0);
  g_assert_cmpint (l->n_hello, ==, 1);
  g_assert_cmpint (l->n_secured, ==, 0);
  close_peer (l);
  WAIT_FOR (l->n_closed);
  g_assert_cmpint (l->n_closed, ==, 1);
  g_assert_cmpuint (l->messages->len, ==, 0);
}

/* tls_hello_cb does nothing: the hello's bytes are still not delivered;
 * what follows is. */
static void
test_hello_ignored (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l = link_open (f, 0, &all_callbacks);

  peer_send (l, hello_record, sizeof hello_record - 1);
  WAIT_FOR (l->n_hello == 1);
  peer_send_str (l, "<msg>after</msg>");
  WAIT_FOR (l->messages->len == 1);
  assert_message_str (l, 0, "<msg>after</msg>");
  g_assert_cmpint (l->n_hello, ==, 1);
}

/* Without tls_hello_cb the bytes go to the framer like any others. */
static void
test_hello_no_callback (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l = link_open (f, 0, &no_hello_callbacks);
  g_autofree char *expected = g_strconcat (hello_record, "<msg/></msg>", NULL);

  peer_send_str (l, expected);
  WAIT_FOR (l->messages->len == 1);
  assert_message_str (l, 0, expected);
}

/* Only the first byte of the connection is looked at. */
static void
test_hello_not_first (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l = link_open (f, 0, &all_callbacks);
  g_autofree char *second = g_strconcat (hello_record, "</msg>", NULL);

  peer_send_str (l, "<msg>first</msg>");
  WAIT_FOR (l->messages->len == 1);
  peer_send_str (l, second);
  WAIT_FOR (l->messages->len == 2);
  assert_message_str (l, 1, second);
  g_assert_cmpint (l->n_hello, ==, 0);
}

/* tls_hello_cb aborts: closed once, nothing delivered (the free waits
 * for the callback to return). */
static void
test_hello_abort (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l = link_open (f, 0, &all_callbacks);
  g_autofree char *both = g_strconcat (hello_record, "<msg>x</msg>", NULL);

  l->on_hello = ACT_ABORT;
  peer_send_str (l, both);
  WAIT_FOR (l->n_closed);
  assert_closed_with (l, LATCH_ERROR, LATCH_ERROR_FAILED);
  g_assert_cmpint (l->n_hello, ==, 1);
  g_assert_cmpuint (l->messages->len, ==, 0);
}

/* ---- deadlines ------------------------------------------------------------------- */

static void
test_deadline_open (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l = link_open (f, 0, &all_callbacks);
  gint64 start = g_get_monotonic_time ();

  latch_conn_set_deadline (l->conn, 300, "waiting for the test");
  WAIT_FOR (l->n_closed);
  assert_closed_with (l, LATCH_ERROR, LATCH_ERROR_TIMEOUT);
  g_assert_cmpstr (l->reason->message, ==, "timed out waiting for the test");
  g_assert_cmpint (ms_since (start, l->closed_at), >=, 299);
  peer_read (l);
  WAIT_FOR (l->eof);
}

/* Arming again replaces a deadline; ms <= 0 disarms it. */
static void
test_deadline_rearm (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *disarmed = link_open (f, 0, &all_callbacks);
  Link *rearmed = link_open (f, 1, &all_callbacks);
  Link *plain = link_open (f, 2, &all_callbacks);
  gint64 start = g_get_monotonic_time ();

  latch_conn_set_deadline (disarmed->conn, 100, "disarmed");
  latch_conn_set_deadline (disarmed->conn, 0, NULL);
  latch_conn_set_deadline (rearmed->conn, 100, "first");
  latch_conn_set_deadline (rearmed->conn, 1500, "second");
  latch_conn_set_deadline (plain->conn, 300, "plain");
  WAIT_FOR (plain->n_closed);
  assert_closed_with (plain, LATCH_ERROR, LATCH_ERROR_TIMEOUT);
  g_assert_cmpint (rearmed->n_closed, ==, 0);
  g_assert_cmpint (disarmed->n_closed, ==, 0);
  WAIT_FOR (rearmed->n_closed);
  assert_closed_with (rearmed, LATCH_ERROR, LATCH_ERROR_TIMEOUT);
  g_assert_cmpstr (rearmed->reason->message, ==, "timed out second");
  g_assert_cmpint (ms_since (start, rearmed->closed_at), >=, 1499);
  g_assert_cmpint (disarmed->n_closed, ==, 0);
  g_assert_true (latch_conn_is_open (disarmed->conn));
}

/* CLOSING ends when the peer never sends its EOF: after the linger time,
 * as an orderly end; whether the output was flushed (the peer got EOF) or
 * not (the peer reads nothing). */
static void
test_deadline_closing_linger (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  const gsize size = 1 << 20;
  Link *shut = link_open (f, 0, &all_callbacks);
  Link *stuck = link_open (f, 1, &all_callbacks);
  g_autofree char *bulk = make_bulk (size);
  gint64 start = g_get_monotonic_time ();

  latch_conn_close_after_flush (shut->conn);
  small_buffers (stuck);
  latch_conn_send (stuck->conn, bulk, size);
  latch_conn_close_after_flush (stuck->conn);
  peer_read (shut);
  WAIT_FOR (shut->eof);
  g_assert_cmpint (shut->n_closed, ==, 0);
  WAIT_FOR_MS (shut->n_closed && stuck->n_closed, LINGER_MS + 3000);
  assert_closed_orderly (shut);
  assert_closed_orderly (stuck);
  g_assert_cmpint (ms_since (start, shut->closed_at), >=, LINGER_MS - 1);
  g_assert_cmpint (ms_since (start, stuck->closed_at), >=, LINGER_MS - 1);
}

/* A silent client in the handshake. */
static void
test_deadline_handshake (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l;

  REQUIRE_CERTS ();
  l = link_open (f, 0, &all_callbacks);
  link_start_tls (l);
  latch_conn_set_deadline (l->conn, 300, "in the TLS handshake");
  WAIT_FOR (l->n_closed);
  assert_closed_with (l, LATCH_ERROR, LATCH_ERROR_TIMEOUT);
  g_assert_cmpstr (l->reason->message, ==, "timed out in the TLS handshake");
  g_assert_cmpint (l->n_secured, ==, 0);
}

/* ---- TLS required ------------------------------------------------------------------ */

/* A full handshake (arg: the client's priority), messages both ways, the
 * client's close_notify. */
static void
test_tls_handshake (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l;

  REQUIRE_CERTS ();
  l = link_open (f, 0, &all_callbacks);
  l->on_message = ACT_REPLY;
  link_start_tls (l);
  peer_tls_client (l, f->arg);
  WAIT_FOR (l->hs_done && l->n_secured == 1);
  g_assert_cmpint (l->hs_ret, ==, 0);
  g_assert_true (l->secured_saw_tls);
  g_assert_true (l->secured_saw_session);
  g_assert_true (l->secured_saw_open);
  g_assert_true (latch_conn_is_open (l->conn));
  g_assert_true (latch_conn_is_tls (l->conn));
  g_assert_true (latch_conn_get_tls (l->conn) == l->session);

  peer_tls_send (l, "<msg>one</msg><msg>two</msg>", 28);
  WAIT_FOR (l->messages->len == 2);
  assert_message_str (l, 0, "<msg>one</msg>");
  assert_message_str (l, 1, "<msg>two</msg>");
  WAIT_FOR (l->in->len == 2 * strlen (REPLY));
  g_assert_cmpstr (l->in->str, ==, REPLY REPLY);

  g_assert_cmpint (gnutls_bye (l->tls, GNUTLS_SHUT_WR), ==, 0);
  WAIT_FOR (l->n_closed);
  assert_closed_orderly (l);
  g_assert_cmpint (l->n_secured, ==, 1);
  WAIT_FOR (l->eof || l->rd_error != 0);
}

/* The first message right behind the client's last handshake flight. */
static void
test_tls_first_flight (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l;

  REQUIRE_CERTS ();
  l = link_open (f, 0, &all_callbacks);
  link_start_tls (l);
  peer_tls (l, "peer2_ca1", "ca1", f->arg);
  /* Drive the client by hand and send as soon as it is done: with TLS
   * 1.3, the message then follows the client's Finished before the conn
   * has read either. */
  peer_tls_start (l);
  g_clear_handle_id (&l->watch, g_source_remove);
  for (int i = 0; i < 100 && !l->hs_done; i++)
    {
      WAIT_FOR (peer_is (l, gnutls_record_get_direction (l->tls) ? POLLOUT : POLLIN));
      peer_pump (l);
    }
  g_assert_true (l->hs_done);
  g_assert_cmpint (l->hs_ret, ==, 0);
  peer_tls_send (l, "<msg>early</msg>", 16);
  WAIT_FOR (l->messages->len == 1);
  assert_message_str (l, 0, "<msg>early</msg>");
  g_assert_cmpint (l->n_secured, ==, 1);
}

/* Messages bigger than a read, several TLS records in one go. */
static void
test_tls_bulk_in (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l;
  g_autoptr (GString) many = g_string_new (NULL);

  REQUIRE_CERTS ();
  l = link_open (f, 0, &all_callbacks);
  link_start_tls (l);
  peer_tls_client (l, NULL);
  WAIT_FOR (l->n_secured == 1 && l->hs_done);
  for (int i = 0; i < 40; i++)
    {
      g_autofree char *one = make_message (1000 + i);

      g_string_append (many, one);
    }
  g_assert_cmpuint (many->len, >, 2 * 16384);
  peer_tls_send (l, many->str, many->len);
  WAIT_FOR (l->messages->len == 40);
  for (int i = 0; i < 40; i++)
    {
      g_autofree char *one = make_message (1000 + i);

      assert_message_str (l, i, one);
    }
}

/* A megabyte out through TLS with small socket buffers (sends repeated
 * after WANT_WRITE), then close_after_flush: all of it, then the end. */
static void
test_tls_bulk_out (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  const gsize size = 1 << 20;
  Link *l;
  g_autofree char *bulk = make_bulk (size);

  REQUIRE_CERTS ();
  l = link_open (f, 0, &all_callbacks);
  link_start_tls (l);
  peer_tls_client (l, NULL);
  WAIT_FOR (l->n_secured == 1 && l->hs_done);
  g_clear_handle_id (&l->watch, g_source_remove);
  l->reading = FALSE;
  small_buffers (l);
  latch_conn_send (l->conn, bulk, size);
  latch_conn_close_after_flush (l->conn);
  g_assert_false (latch_conn_is_open (l->conn));
  latch_conn_send (l->conn, LATE, strlen (LATE));
  peer_read (l);
  WAIT_FOR (l->eof || l->rd_error != 0);
  g_assert_cmpint (l->rd_error, ==, 0);
  /* Not asserted: eof_clean.  The close_notify goes only if the socket
   * takes it when the last byte is out (tls.h, bye); a full one, EOF. */
  g_assert_cmpuint (l->in->len, ==, size);
  g_assert_true (memcmp (l->in->str, bulk, size) == 0);
  g_assert_cmpint (l->n_closed, ==, 0);
  shutdown (l->peer, SHUT_WR);
  WAIT_FOR (l->n_closed);
  assert_closed_orderly (l);
}

/* The client ends the stream without close_notify: an orderly end too. */
static void
test_tls_peer_eof (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l;

  REQUIRE_CERTS ();
  l = link_open (f, 0, &all_callbacks);
  link_start_tls (l);
  peer_tls_client (l, NULL);
  WAIT_FOR (l->n_secured == 1 && l->hs_done);
  peer_tls_send (l, "<msg>bye</msg>", 14);
  shutdown (l->peer, SHUT_WR);
  WAIT_FOR (l->n_closed);
  assert_closed_orderly (l);
  g_assert_cmpuint (l->messages_at_close, ==, 1);
}

/* TLS required, the first byte is '<': OPEN without TLS, the bytes
 * delivered whole (the owner refuses the client in clear text). */
static void
test_tls_clear_first_byte (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l;

  REQUIRE_CERTS ();
  l = link_open (f, 0, &all_callbacks);
  l->on_message = ACT_REPLY;
  link_start_tls (l);
  peer_read (l);
  peer_send_str (l, "<msg>hello</msg>");
  WAIT_FOR (l->messages->len == 1);
  assert_message_str (l, 0, "<msg>hello</msg>");
  g_assert_true (latch_conn_is_open (l->conn));
  g_assert_false (latch_conn_is_tls (l->conn));
  g_assert_null (latch_conn_get_tls (l->conn));
  g_assert_cmpint (l->n_secured, ==, 0);
  g_assert_cmpint (l->n_hello, ==, 0);
  WAIT_FOR (l->in->len == strlen (REPLY));
  g_assert_cmpstr (l->in->str, ==, REPLY);
}

/* EOF before the first byte: an orderly end. */
static void
test_tls_eof_first (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l;

  REQUIRE_CERTS ();
  l = link_open (f, 0, &all_callbacks);
  link_start_tls (l);
  shutdown (l->peer, SHUT_WR);
  WAIT_FOR (l->n_closed);
  assert_closed_orderly (l);
  g_assert_cmpint (l->n_secured, ==, 0);
}

/* TCP: a reset before the first byte is an I/O error. */
static void
test_tls_reset_first (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l;

  REQUIRE_CERTS ();
  l = link_open (f, 0, &all_callbacks);
  link_start_tls (l);
  reset_peer (l);
  WAIT_FOR (l->n_closed);
  assert_closed_with (l, LATCH_ERROR, LATCH_ERROR_IO);
}

/* The client sends its ClientHello, then EOF: the handshake fails, the
 * conn shuts its side and ends at the (already seen) EOF. */
static void
test_tls_eof_mid_handshake (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l;

  REQUIRE_CERTS ();
  l = link_open (f, 0, &all_callbacks);
  link_start_tls (l);
  peer_tls (l, "peer2_ca1", "ca1", NULL);
  peer_tls_start (l);
  shutdown (l->peer, SHUT_WR);
  peer_read_plain (l);
  WAIT_FOR (l->n_closed && l->eof);
  assert_closed_orderly (l);
  g_assert_cmpint (l->n_secured, ==, 0);
  g_assert_cmpuint (l->messages->len, ==, 0);
  /* The server's first flight came before the EOF. */
  g_assert_cmpuint (l->in->len, >, 0);
}

/* A TLS record header, then junk: the handshake fails; the conn shuts its
 * write side (the peer reads EOF) and waits for the peer's EOF. */
static void
test_tls_garbage (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l;
  char junk[200];

  REQUIRE_CERTS ();
  l = link_open (f, 0, &all_callbacks);
  link_start_tls (l);
  memset (junk, 'A', sizeof junk);
  junk[0] = 0x16;
  peer_read (l);
  peer_send (l, junk, sizeof junk);
  WAIT_FOR (l->eof);
  g_assert_cmpint (l->n_closed, ==, 0);
  g_assert_false (latch_conn_is_open (l->conn));
  g_assert_false (latch_conn_is_tls (l->conn));
  shutdown (l->peer, SHUT_WR);
  WAIT_FOR (l->n_closed);
  assert_closed_orderly (l);
  g_assert_cmpint (l->n_secured, ==, 0);
  g_assert_cmpuint (l->messages->len, ==, 0);
}

/* The client does not trust the server's CA: its alert ends the conn's
 * handshake; the conn closes gracefully. */
static void
test_tls_client_refuses (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l;

  REQUIRE_CERTS ();
  l = link_open (f, 0, &all_callbacks);
  link_start_tls (l);
  peer_tls (l, "peer2_ca2", "ca2", f->arg);
  l->reading = TRUE;
  peer_tls_start (l);
  WAIT_FOR (l->hs_done);
  g_assert_cmpint (l->hs_ret, ==, GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR);
  WAIT_FOR (l->eof);
  g_assert_cmpint (l->n_closed, ==, 0);
  shutdown (l->peer, SHUT_WR);
  WAIT_FOR (l->n_closed);
  assert_closed_orderly (l);
  g_assert_cmpint (l->n_secured, ==, 0);
}

/* The server does not trust the client's certificate: the alert reaches
 * the client (during its handshake with TLS 1.2, at its first read with
 * 1.3), never a reset; the conn waits for the client's EOF. */
static void
test_tls_server_refuses (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l;

  REQUIRE_CERTS ();
  l = link_open (f, 0, &all_callbacks);
  link_start_tls (l);
  peer_tls (l, "peer2_ca2", "ca1", f->arg);
  l->reading = TRUE;
  peer_tls_start (l);
  WAIT_FOR (l->alert >= 0 || l->eof || (l->hs_done && l->hs_ret < 0) || l->rd_error != 0);
  g_test_message ("alert %d (%s)", l->alert, gnutls_alert_get_name (l->alert));
  g_assert_cmpint (l->alert, >=, 0);
  g_assert_cmpint (l->n_closed, ==, 0);
  peer_read_plain (l);
  WAIT_FOR (l->eof);
  g_assert_cmpint (l->n_closed, ==, 0);
  shutdown (l->peer, SHUT_WR);
  WAIT_FOR (l->n_closed);
  assert_closed_orderly (l);
  g_assert_cmpint (l->n_secured, ==, 0);
}

/* Junk instead of a TLS record after the handshake: an error. */
static void
test_tls_garbage_after_handshake (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l;

  REQUIRE_CERTS ();
  l = link_open (f, 0, &all_callbacks);
  link_start_tls (l);
  peer_tls_client (l, NULL);
  WAIT_FOR (l->n_secured == 1 && l->hs_done);
  peer_send_str (l, "this is no TLS record</msg>");
  WAIT_FOR (l->n_closed);
  g_assert_cmpint (l->n_closed, ==, 1);
  g_assert_nonnull (l->reason);
  g_assert_true (l->reason->domain == LATCH_ERROR);
  g_assert_cmpuint (l->messages->len, ==, 0);
}

/* Waits until the conn has answered the client's ClientHello: it is in
 * the middle of its handshake. */
static void
start_handshake_and_wait (Link *l)
{
  link_start_tls (l);
  peer_tls (l, "peer2_ca1", "ca1", NULL);
  peer_tls_start (l);
  g_clear_handle_id (&l->watch, g_source_remove);
  WAIT_FOR (peer_is (l, POLLIN));
  g_assert_cmpint (l->n_secured, ==, 0);
}

/* The owner aborts in the middle of the handshake. */
static void
test_tls_abort_in_handshake (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l;
  g_autoptr (GError) why = g_error_new_literal (LATCH_ERROR, LATCH_ERROR_FAILED, ABORT_WHY);

  REQUIRE_CERTS ();
  l = link_open (f, 0, &all_callbacks);
  start_handshake_and_wait (l);
  latch_conn_abort (l->conn, why);
  assert_closed_with (l, LATCH_ERROR, LATCH_ERROR_FAILED);
  g_assert_cmpstr (l->reason->message, ==, ABORT_WHY);
  /* TLS 1.3: the client may complete its side from the flight it has;
   * either way it then finds the connection gone. */
  peer_read (l);
  WAIT_FOR (l->hs_done && (l->eof || l->rd_error != 0));
  g_assert_false (l->eof_clean);
  g_assert_cmpint (l->n_secured, ==, 0);
}

/* The owner closes in the middle of the handshake: gracefully (as after
 * a failed handshake), no message is ever delivered. */
static void
test_tls_close_in_handshake (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l;

  REQUIRE_CERTS ();
  l = link_open (f, 0, &all_callbacks);
  start_handshake_and_wait (l);
  latch_conn_close_after_flush (l->conn);
  g_assert_false (latch_conn_is_open (l->conn));
  g_assert_cmpint (l->n_closed, ==, 0);
  /* TLS 1.3: the client may complete its side from the flight it has;
   * either way it then reads the end (no close_notify: no session). */
  peer_read (l);
  WAIT_FOR (l->hs_done && (l->eof || l->rd_error != 0));
  g_assert_true (l->eof);
  g_assert_false (l->eof_clean);
  g_assert_cmpint (l->n_closed, ==, 0);
  /* Read and dropped (the session is gone: the bytes go raw). */
  peer_send_str (l, "<msg>too late</msg>");
  shutdown (l->peer, SHUT_WR);
  WAIT_FOR (l->n_closed);
  assert_closed_orderly (l);
  g_assert_cmpint (l->n_secured, ==, 0);
  g_assert_cmpuint (l->messages->len, ==, 0);
}

/* secured_cb aborts (e.g. an owner checking the peer at once): closed
 * once, nothing read after (the free waits for the callback). */
static void
test_tls_abort_in_secured (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l;

  REQUIRE_CERTS ();
  l = link_open (f, 0, &all_callbacks);
  l->on_secured = ACT_ABORT;
  link_start_tls (l);
  peer_tls_client (l, NULL);
  WAIT_FOR (l->n_closed);
  assert_closed_with (l, LATCH_ERROR, LATCH_ERROR_FAILED);
  g_assert_cmpint (l->n_secured, ==, 1);
  g_assert_cmpuint (l->messages->len, ==, 0);
}

/* secured_cb closes: close_notify, and the client's message is dropped. */
static void
test_tls_close_in_secured (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l;

  REQUIRE_CERTS ();
  l = link_open (f, 0, &all_callbacks);
  l->on_secured = ACT_CLOSE;
  link_start_tls (l);
  peer_tls_client (l, NULL);
  WAIT_FOR (l->hs_done);
  g_assert_cmpint (l->hs_ret, ==, 0);
  peer_tls_send (l, "<msg>dropped</msg>", 18);
  WAIT_FOR (l->eof || l->rd_error != 0);
  g_assert_true (l->eof_clean);
  g_assert_cmpstr (l->in->str, ==, REPLY);
  g_assert_cmpint (l->n_closed, ==, 0);
  shutdown (l->peer, SHUT_WR);
  WAIT_FOR (l->n_closed);
  assert_closed_orderly (l);
  g_assert_cmpuint (l->messages->len, ==, 0);
}

/* ---- the state machine: every state, every event -------------------------------- */

/* Where a conn is driven before the event (f->at). */
typedef enum
{
  AT_CONNECTING,   /* client, clear: connected in the kernel, not seen yet */
  AT_CONNECTING_TLS, /* the same, TLS client */
  AT_CLIENT_HANDSHAKING, /* TLS client: its ClientHello sent, no answer */
  AT_SNIFFING,     /* clear, no byte yet */
  AT_SNIFFING_TLS, /* TLS expected, no byte yet */
  AT_HANDSHAKING,  /* a TLS record header came, the rest does not */
  AT_AWAIT_FIRST,  /* a message was delivered, the owner did not begin */
  AT_LOCKING,
  AT_MANAGEMENT,
  AT_FLUSHING,     /* closing with a megabyte queued, the peer not reading */
  AT_CLOSING,      /* closing, write side shut */
  N_AT
} At;

static const char *const at_names[] = { "connecting", "connecting-tls",
                                        "client-handshaking", "sniffing", "sniffing-tls", "handshaking",
                                        "await-first", "locking", "management",
                                        "flushing", "closing" };
static const LatchConnState at_states[] = {
  LATCH_CONN_CONNECTING,  LATCH_CONN_CONNECTING, LATCH_CONN_HANDSHAKING,
  LATCH_CONN_SNIFFING,    LATCH_CONN_SNIFFING, LATCH_CONN_HANDSHAKING,
  LATCH_CONN_AWAIT_FIRST, LATCH_CONN_LOCKING,  LATCH_CONN_MANAGEMENT,
  LATCH_CONN_FLUSHING,    LATCH_CONN_CLOSING,
};

/* What happens there (f->ev). */
typedef enum
{
  EV_EOF,      /* the peer shuts its write side */
  EV_RESET,    /* TCP reset */
  EV_DEADLINE, /* a deadline passes */
  EV_ABORT,    /* the owner aborts */
  EV_INPUT,    /* the peer sends a clear message */
  EV_HELLO,    /* the peer sends a TLS ClientHello record */
  EV_BEGIN,    /* the owner begins LOCKING */
  EV_SEND,     /* the owner sends, then closes */
  EV_CLOSE,    /* the owner closes after flush */
  N_EV
} Ev;

static const char *const ev_names[] = { "eof",  "reset", "deadline", "abort", "input",
                                        "hello", "begin", "send",    "close" };

#define STATE_BULK (1 << 20)
#define ANY_REASON (-1)
#define NO_REASON (-2)
#define SOME_REASON (-3)

static gboolean
is_client_tls_at (At at)
{
  return at == AT_CONNECTING_TLS || at == AT_CLIENT_HANDSHAKING;
}

static void
assert_state (Link *l, LatchConnState state)
{
  g_assert_nonnull (l->conn);
  g_assert_cmpstr (latch_conn_state_name (latch_conn_get_state (l->conn)), ==,
                   latch_conn_state_name (state));
}

/* Link 0 in state at (its conn still there). */
static Link *
drive (Fixture *f, At at)
{
  Link *l;

  if (at == AT_CONNECTING || is_client_tls_at (at))
    {
      l = link_open_client (f, 0, &all_callbacks);
      if (is_client_tls_at (at))
        link_start_tls_client (l);
      if (at == AT_CLIENT_HANDSHAKING)
        {
          /* The peer reads the ClientHello and says nothing. */
          l->plain = TRUE;
          peer_read (l);
          WAIT_FOR (l->in->len > 0 && latch_conn_get_state (l->conn) == LATCH_CONN_HANDSHAKING);
          l->reading = FALSE;
          peer_watch (l);
        }
      assert_state (l, at_states[at]);
      return l;
    }
  l = link_open (f, 0, &all_callbacks);
  assert_state (l, LATCH_CONN_SNIFFING);
  switch (at)
    {
    case AT_CONNECTING:
    case AT_CONNECTING_TLS:
    case AT_CLIENT_HANDSHAKING:
      g_assert_not_reached ();
    case AT_SNIFFING:
      break;
    case AT_SNIFFING_TLS:
      link_start_tls (l);
      break;
    case AT_HANDSHAKING:
      link_start_tls (l);
      /* A handshake record announcing 64 bytes that never come. */
      peer_send (l, "\x16\x03\x01\x00\x40", 5);
      WAIT_FOR (latch_conn_get_state (l->conn) == LATCH_CONN_HANDSHAKING
                && conn_drained (l));
      break;
    case AT_AWAIT_FIRST:
    case AT_LOCKING:
    case AT_MANAGEMENT:
    case AT_FLUSHING:
    case AT_CLOSING:
      peer_send_str (l, "<msg>one</msg>");
      WAIT_FOR (l->messages->len == 1);
      g_assert_cmpstr (latch_conn_state_name (l->state_in_message), ==, "AWAIT_FIRST");
      assert_state (l, LATCH_CONN_AWAIT_FIRST);
      if (at == AT_LOCKING || at == AT_MANAGEMENT)
        g_assert_true (latch_conn_begin (l->conn, at_states[at]));
      if (at == AT_FLUSHING)
        {
          g_autofree char *bulk = make_bulk (STATE_BULK);

          small_buffers (l);
          latch_conn_send (l->conn, bulk, STATE_BULK);
          latch_conn_close_after_flush (l->conn);
        }
      if (at == AT_CLOSING)
        latch_conn_close_after_flush (l->conn);
      break;
    case N_AT:
    default:
      g_assert_not_reached ();
    }
  assert_state (l, at_states[at]);
  return l;
}

/* The conn ended: closed_cb once, in CLOSED, with code (NO_REASON: an
 * orderly end; ANY_REASON: whichever). */
static void
assert_ended (Link *l, int code)
{
  g_assert_cmpint (l->n_closed, ==, 1);
  g_assert_null (l->conn);
  g_assert_cmpstr (latch_conn_state_name (l->state_at_close), ==, "CLOSED");
  if (code == NO_REASON)
    g_assert_no_error (l->reason);
  else if (code == SOME_REASON)
    g_assert_nonnull (l->reason);
  else if (code != ANY_REASON)
    g_assert_error (l->reason, LATCH_ERROR, code);
}

/* The peer reads (plainly) until the conn's EOF. */
static void
peer_read_to_eof (Link *l)
{
  l->reading = TRUE;
  l->plain = TRUE;
  peer_pump (l);
  peer_watch (l);
  WAIT_FOR (l->eof || l->rd_error != 0);
}

static void
test_state (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  At at = (At)f->at;
  Ev ev = (Ev)f->ev;
  gboolean serving = at == AT_AWAIT_FIRST || at == AT_LOCKING || at == AT_MANAGEMENT;
  gboolean closing = at == AT_FLUSHING || at == AT_CLOSING;
  gboolean client_tls = is_client_tls_at (at);
  gboolean connecting = at == AT_CONNECTING || at == AT_CONNECTING_TLS;
  Link *l;
  guint n_messages;

  if (at == AT_SNIFFING_TLS || at == AT_HANDSHAKING || client_tls)
    REQUIRE_CERTS ();
  l = drive (f, at);
  n_messages = l->messages->len;
  switch (ev)
    {
    case EV_EOF:
      shutdown (l->peer, SHUT_WR);
      WAIT_FOR (l->n_closed);
      /* A handshake cut short is a failed one: CLOSING, then the EOF.
       * A client's owner is told why. */
      assert_ended (l, client_tls ? SOME_REASON : NO_REASON);
      break;
    case EV_RESET:
      reset_peer (l);
      WAIT_FOR (l->n_closed);
      /* In the handshake GnuTLS sees the reset (a failed handshake:
       * CLOSING), the next read only EOF. */
      assert_ended (l, at == AT_HANDSHAKING || at == AT_CLIENT_HANDSHAKING ? ANY_REASON
                       : connecting ? LATCH_ERROR_CONNECT
                                    : LATCH_ERROR_IO);
      break;
    case EV_DEADLINE:
      latch_conn_set_deadline (l->conn, 200, "in the state test");
      WAIT_FOR (l->n_closed);
      /* A closing conn's deadline is its linger: an orderly end. */
      assert_ended (l, closing ? NO_REASON : LATCH_ERROR_TIMEOUT);
      break;
    case EV_ABORT:
      {
        g_autoptr (GError) why = g_error_new_literal (LATCH_ERROR, LATCH_ERROR_FAILED,
                                                      ABORT_WHY);

        latch_conn_abort (l->conn, why);
        assert_ended (l, LATCH_ERROR_FAILED);
        peer_read_to_eof (l);
      }
      break;
    case EV_INPUT:
      if (client_tls)
        {
          /* Clear text where the daemon's ServerHello should be: the
           * handshake fails, gracefully, and the owner is told why once
           * the peer has closed too. */
          peer_send_str (l, "<msg>two</msg>");
          WAIT_FOR (l->conn == NULL || latch_conn_get_state (l->conn) == LATCH_CONN_CLOSING);
          g_assert_cmpuint (l->messages->len, ==, 0);
          g_assert_cmpint (l->n_closed, ==, 0);
          shutdown (l->peer, SHUT_WR);
          WAIT_FOR (l->n_closed);
          assert_ended (l, LATCH_ERROR_TLS_CLEAR_PEER);
          break;
        }
      if (at == AT_HANDSHAKING)
        {
          g_autofree char *junk = make_bulk (64);

          /* The announced record holds a whole handshake message, and
           * not a ClientHello (a ServerHello, type 2, of 60 bytes): the
           * handshake fails, gracefully. */
          memcpy (junk, "\x02\x00\x00\x3c", 4);
          peer_send (l, junk, 64);
          WAIT_FOR (l->conn == NULL || latch_conn_get_state (l->conn) == LATCH_CONN_CLOSING);
          g_assert_cmpuint (l->messages->len, ==, 0);
          break;
        }
      peer_send_str (l, "<msg>two</msg>");
      WAIT_FOR (conn_drained (l) && (closing || l->messages->len == n_messages + 1));
      if (closing)
        {
          /* Read and dropped. */
          g_assert_cmpuint (l->messages->len, ==, n_messages);
          assert_state (l, at_states[at]);
          break;
        }
      assert_message_str (l, n_messages, "<msg>two</msg>");
      /* A clear first byte: AWAIT_FIRST, without TLS (TLS expected or
       * not); a clear client is there once connected. */
      assert_state (l, serving ? at_states[at] : LATCH_CONN_AWAIT_FIRST);
      g_assert_false (latch_conn_is_tls (l->conn));
      g_assert_null (latch_conn_get_tls (l->conn));
      break;
    case EV_HELLO:
      peer_send (l, hello_record, sizeof hello_record - 1);
      WAIT_FOR (conn_drained (l) && (at != AT_SNIFFING || l->n_hello == 1));
      /* Only a clear conn's first bytes are a hello; anywhere else they
       * are input (a bad message, refused when it is complete). */
      g_assert_cmpint (l->n_hello, ==, at == AT_SNIFFING ? 1 : 0);
      if (at == AT_SNIFFING)
        assert_state (l, LATCH_CONN_AWAIT_FIRST);
      else if (at == AT_HANDSHAKING || at == AT_SNIFFING_TLS || client_tls)
        /* TLS expected: the handshake starts, or goes on, waiting for
         * the rest of the record. */
        assert_state (l, LATCH_CONN_HANDSHAKING);
      else if (at == AT_CONNECTING)
        /* A client never sniffs: input for the framer. */
        assert_state (l, LATCH_CONN_AWAIT_FIRST);
      else
        assert_state (l, at_states[at]);
      g_assert_cmpuint (l->messages->len, ==, n_messages);
      break;
    case EV_BEGIN:
      if (at == AT_AWAIT_FIRST)
        {
          g_assert_true (latch_conn_begin (l->conn, LATCH_CONN_LOCKING));
          assert_state (l, LATCH_CONN_LOCKING);
          /* Twice: refused. */
          g_assert_false (latch_conn_begin (l->conn, LATCH_CONN_LOCKING));
          g_assert_false (latch_conn_begin (l->conn, LATCH_CONN_MANAGEMENT));
          assert_state (l, LATCH_CONN_LOCKING);
          break;
        }
      /* From a wrong state: refused, nothing changes. */
      g_assert_false (latch_conn_begin (l->conn, LATCH_CONN_LOCKING));
      g_assert_false (latch_conn_begin (l->conn, LATCH_CONN_MANAGEMENT));
      assert_state (l, at_states[at]);
      break;
    case EV_SEND:
      {
        gboolean said = at == AT_SNIFFING || at == AT_CONNECTING || serving;

        g_assert_cmpint (latch_conn_is_open (l->conn), ==, said);
        latch_conn_send (l->conn, REPLY, strlen (REPLY));
        latch_conn_close_after_flush (l->conn);
        peer_read_to_eof (l);
        if (at == AT_FLUSHING)
          {
            /* Only what was queued before the close. */
            g_assert_cmpuint (l->in->len, ==, STATE_BULK);
            break;
          }
        /* Before the handshake nothing may be said, nor once closing. */
        g_assert_cmpint (strstr (l->in->str, REPLY) != NULL, ==, said);
      }
      break;
    case EV_CLOSE:
      latch_conn_close_after_flush (l->conn);
      if (connecting)
        {
          /* Nothing said: ended at once, quietly. */
          assert_ended (l, NO_REASON);
          peer_read_to_eof (l);
          g_assert_cmpuint (l->in->len, ==, 0);
          break;
        }
      /* FLUSHING stays so (the peer reads nothing); all else shuts now. */
      assert_state (l, at == AT_FLUSHING ? LATCH_CONN_FLUSHING : LATCH_CONN_CLOSING);
      g_assert_false (latch_conn_is_open (l->conn));
      peer_read_to_eof (l);
      if (at == AT_FLUSHING)
        g_assert_cmpuint (l->in->len, ==, STATE_BULK);
      g_assert_cmpint (l->n_closed, ==, 0);
      shutdown (l->peer, SHUT_WR);
      WAIT_FOR (l->n_closed);
      assert_ended (l, NO_REASON);
      g_assert_cmpuint (l->messages->len, ==, n_messages);
      break;
    case N_EV:
    default:
      g_assert_not_reached ();
    }
}

/* begin() with a target that is not LOCKING or MANAGEMENT is refused,
 * even from AWAIT_FIRST; and the names of all states. */
static void
test_state_begin_bad_target (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l = drive (f, AT_AWAIT_FIRST);
  static const char *const names[] = { "CONNECTING", "SNIFFING", "HANDSHAKING", "AWAIT_FIRST",
                                       "LOCKING", "MANAGEMENT", "FLUSHING", "CLOSING",
                                       "CLOSED" };

  for (LatchConnState s = LATCH_CONN_CONNECTING; s <= LATCH_CONN_CLOSED; s++)
    {
      g_assert_cmpstr (latch_conn_state_name (s), ==, names[s]);
      if (s != LATCH_CONN_LOCKING && s != LATCH_CONN_MANAGEMENT)
        g_assert_false (latch_conn_begin (l->conn, s));
    }
  g_assert_cmpstr (latch_conn_state_name ((LatchConnState)99), ==, "?");
  assert_state (l, LATCH_CONN_AWAIT_FIRST);
  g_assert_true (latch_conn_begin (l->conn, LATCH_CONN_MANAGEMENT));
  assert_state (l, LATCH_CONN_MANAGEMENT);
}

/* begin() and start_tls() from a callback of a conn just aborted
 * (CLOSED): refused, and the free still waits for the handler. */
static void
begin_after_abort_cb (LatchConn *conn, GBytes *msg G_GNUC_UNUSED, gpointer user_data)
{
  Link *l = user_data;

  l->n_secured = -1; /* marks that the callback ran */
  latch_conn_abort (conn, NULL);
  g_assert_cmpint (latch_conn_get_state (conn), ==, LATCH_CONN_CLOSED);
  g_assert_false (latch_conn_begin (conn, LATCH_CONN_LOCKING));
  g_assert_cmpint (latch_conn_get_state (conn), ==, LATCH_CONN_CLOSED);
}

static const LatchConnCallbacks begin_after_abort_callbacks = { begin_after_abort_cb,
                                                                closed_cb, NULL, NULL };

static void
test_state_begin_when_closed (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l = link_open (f, 0, &begin_after_abort_callbacks);

  peer_send_str (l, "<msg>one</msg>");
  WAIT_FOR (l->n_closed);
  g_assert_cmpint (l->n_secured, ==, -1);
  assert_ended (l, NO_REASON);
}

/* A deadline armed on many conns is swept without touching the idle
 * ones: the sweeper's set holds only the armed conns. */
static void
test_state_deadline_set (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *a = link_open (f, 0, &all_callbacks);
  Link *b = link_open (f, 1, &all_callbacks);
  guint before = latch_conn_count_deadlines ();

  link_open (f, 2, &all_callbacks);
  latch_conn_set_deadline (a->conn, 200, "a");
  g_assert_cmpuint (latch_conn_count_deadlines (), ==, before + 1);
  latch_conn_set_deadline (b->conn, 60000, "b");
  g_assert_cmpuint (latch_conn_count_deadlines (), ==, before + 2);
  latch_conn_set_deadline (b->conn, 0, NULL);
  g_assert_cmpuint (latch_conn_count_deadlines (), ==, before + 1);
  WAIT_FOR (a->n_closed);
  g_assert_cmpuint (latch_conn_count_deadlines (), ==, before);
}

/* latch_net_shutdown with a conn still open: its deadline goes, no event
 * reaches it, its descriptor stays open; the owner still ends it
 * (closed_cb once); the next conn makes the layer again. */
static void
test_net_shutdown (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l = link_open (f, 0, &all_callbacks);
  Link *m;
  gboolean quiet = FALSE;

  g_assert_true (latch_net_init (NULL));
  g_assert_true (latch_ev_is_initialised ());
  latch_conn_set_deadline (l->conn, 100, "never");
  g_assert_cmpuint (latch_conn_count_deadlines (), >=, 1);
  latch_net_shutdown ();
  g_assert_cmpuint (latch_conn_count_deadlines (), ==, 0);
  g_assert_false (latch_ev_is_initialised ());
  peer_send_str (l, "<msg>one</msg>");
  /* Past the deadline and the sweeper's period: nothing happens. */
  g_timeout_add (600, bound_cb, &quiet);
  while (!quiet)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (l->messages->len, ==, 0);
  g_assert_cmpint (l->n_closed, ==, 0);
  g_assert_cmpint (fcntl (l->conn_fd, F_GETFD), >=, 0);
  latch_conn_abort (l->conn, NULL);
  assert_closed_orderly (l);
  m = link_open (f, 1, &all_callbacks);
  g_assert_true (latch_ev_is_initialised ());
  peer_send_str (m, "<msg>two</msg>");
  WAIT_FOR (m->messages->len == 1);
  assert_message_str (m, 0, "<msg>two</msg>");
}

/* ---- client mode ------------------------------------------------------------------ */

/* Clear: what is sent while CONNECTING goes once connected; answers are
 * delivered; is_open throughout. */
static void
test_client_clear (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l = link_open_client (f, 0, &all_callbacks);

  latch_conn_send (l->conn, REPLY, strlen (REPLY));
  assert_state (l, LATCH_CONN_CONNECTING);
  peer_read (l);
  WAIT_FOR (l->in->len == strlen (REPLY));
  g_assert_cmpstr (l->in->str, ==, REPLY);
  assert_state (l, LATCH_CONN_AWAIT_FIRST);
  peer_send_str (l, "<msg>one</msg>");
  WAIT_FOR (l->messages->len == 1);
  assert_message_str (l, 0, "<msg>one</msg>");
  g_assert_cmpint (l->n_secured, ==, 0);
  g_assert_true (latch_conn_begin (l->conn, LATCH_CONN_LOCKING));
  latch_conn_close_after_flush (l->conn);
  WAIT_FOR (l->eof);
  close_peer (l);
  WAIT_FOR (l->n_closed);
  assert_closed_orderly (l);
}

/* A port nobody listens on: closed_cb with the connect's error. */
static void
test_client_refused (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l = &f->link[0];
  struct sockaddr_in addr = { .sin_family = AF_INET };
  socklen_t len = sizeof addr;
  int lfd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int cfd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int r;

  /* A port just bound and closed: nobody listens there. */
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  g_assert_cmpint (bind (lfd, (struct sockaddr *)&addr, sizeof addr), ==, 0);
  g_assert_cmpint (getsockname (lfd, (struct sockaddr *)&addr, &len), ==, 0);
  close (lfd);
  r = connect (cfd, (struct sockaddr *)&addr, sizeof addr);
  g_assert_true (r < 0 && (errno == EINPROGRESS || errno == ECONNREFUSED));
  l->conn_fd = cfd;
  l->messages = g_ptr_array_new_with_free_func ((GDestroyNotify)g_bytes_unref);
  l->in = g_string_new (NULL);
  l->conn = latch_conn_new_client (cfd, "test client 0", &all_callbacks, l);
  latch_conn_send (l->conn, REPLY, strlen (REPLY));
  WAIT_FOR (l->n_closed);
  assert_ended (l, LATCH_ERROR_CONNECT);
  g_assert_nonnull (strstr (l->reason->message, "connect: "));
  g_assert_nonnull (strstr (l->reason->message, g_strerror (ECONNREFUSED)));
}

/* A connect that stays in progress (the listener's backlog is full, its
 * SYN dropped): CONNECTING until the owner's deadline ends it. */
static void
test_client_connect_timeout (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l = &f->link[0];
  struct sockaddr_in addr = { .sin_family = AF_INET };
  socklen_t len = sizeof addr;
  int lfd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int filler = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int cfd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  gint64 start;

  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  g_assert_cmpint (bind (lfd, (struct sockaddr *)&addr, sizeof addr), ==, 0);
  g_assert_cmpint (listen (lfd, 0), ==, 0);
  g_assert_cmpint (getsockname (lfd, (struct sockaddr *)&addr, &len), ==, 0);
  g_assert_cmpint (connect (filler, (struct sockaddr *)&addr, sizeof addr), ==, 0);
  g_assert_cmpint (connect (cfd, (struct sockaddr *)&addr, sizeof addr), <, 0);
  g_assert_cmpint (errno, ==, EINPROGRESS);
  l->conn_fd = cfd;
  l->messages = g_ptr_array_new_with_free_func ((GDestroyNotify)g_bytes_unref);
  l->in = g_string_new (NULL);
  l->conn = latch_conn_new_client (cfd, "test client 0", &all_callbacks, l);
  start = g_get_monotonic_time ();
  latch_conn_set_deadline (l->conn, 300, "connecting");
  WAIT_FOR (l->n_closed);
  g_assert_cmpint (ms_since (start, l->closed_at), >=, 300);
  assert_ended (l, LATCH_ERROR_TIMEOUT);
  g_assert_cmpuint (l->messages->len, ==, 0);
  close (filler);
  close (lfd);
}

/* A full client handshake with a GnuTLS server that requires our
 * certificate; messages both ways; sends before secured_cb dropped. */
static void
test_client_tls_handshake (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l;

  REQUIRE_CERTS ();
  l = link_open_client (f, 0, &all_callbacks);
  link_start_tls_client (l);
  latch_conn_send (l->conn, LATE, strlen (LATE)); /* dropped: not secured */
  peer_tls_as (l, TRUE, "peer1_ca1", "ca1", f->arg);
  l->reading = TRUE;
  peer_watch (l);
  WAIT_FOR (l->n_secured == 1 && l->hs_done);
  g_assert_cmpint (l->hs_ret, ==, 0);
  g_assert_true (l->secured_saw_tls);
  g_assert_true (l->secured_saw_open);
  assert_state (l, LATCH_CONN_AWAIT_FIRST);
  latch_conn_send (l->conn, REPLY, strlen (REPLY));
  WAIT_FOR (l->in->len == strlen (REPLY));
  g_assert_cmpstr (l->in->str, ==, REPLY);
  peer_tls_send (l, "<msg>one</msg>", 14);
  WAIT_FOR (l->messages->len == 1);
  assert_message_str (l, 0, "<msg>one</msg>");
  latch_conn_close_after_flush (l->conn);
  WAIT_FOR (l->eof);
  g_assert_true (l->eof_clean);
  close_peer (l);
  WAIT_FOR (l->n_closed);
  assert_closed_orderly (l);
}

/* The server's certificate is from a CA we do not trust: we refuse it
 * (an alert goes), and closed_cb says why in words. */
static void
test_client_tls_we_refuse (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l;

  REQUIRE_CERTS ();
  l = link_open_client (f, 0, &all_callbacks);
  link_start_tls_client (l);
  peer_tls_as (l, TRUE, "peer1_ca2", "ca1", f->arg);
  l->reading = TRUE;
  peer_watch (l);
  WAIT_FOR (l->hs_done);
  /* TLS 1.3: our alert; TLS 1.2: the handshake cut short. */
  g_assert_cmpint (l->hs_ret, <, 0);
  g_assert_cmpint (l->n_secured, ==, 0);
  /* The peer closes on the alert, as a daemon does. */
  close_peer (l);
  WAIT_FOR (l->n_closed);
  assert_ended (l, LATCH_ERROR_TLS_VERIFY);
  g_assert_nonnull (strstr (l->reason->message, "the daemon"));
}

/* The server does not trust our certificate: its alert, explained, is
 * closed_cb's reason (TLS 1.3: after our handshake was done). */
static void
test_client_tls_server_refuses (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  Link *l;

  REQUIRE_CERTS ();
  l = link_open_client (f, 0, &all_callbacks);
  link_start_tls_client (l);
  peer_tls_as (l, TRUE, "peer1_ca1", "ca2", f->arg);
  l->reading = TRUE;
  peer_watch (l);
  WAIT_FOR (l->hs_done);
  g_assert_cmpint (l->hs_ret, <, 0);
  close_peer (l);
  WAIT_FOR (l->n_closed);
  assert_ended (l, LATCH_ERROR_TLS_REFUSED);
  /* Its alert in words, naming it (the session's peer label). */
  g_assert_nonnull (strstr (l->reason->message, "the daemon"));
}

/* start_tls_client anywhere but CONNECTING, or after a clear send, is a
 * bug: refused, the session freed, the conn unchanged. */
static void
test_client_tls_late (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (GError) error = NULL;
  Link *l;
  Link *m;

  REQUIRE_CERTS ();
  l = link_open_client (f, 0, &all_callbacks);
  latch_conn_send (l->conn, REPLY, strlen (REPLY));
  latch_conn_start_tls_client (l->conn, tls,
                               tls->session_new (client_creds, l->conn_fd, "x", &error));
  g_assert_no_error (error);
  g_assert_true (latch_conn_is_open (l->conn));
  peer_read (l);
  WAIT_FOR (l->in->len == strlen (REPLY));
  assert_state (l, LATCH_CONN_AWAIT_FIRST);
  latch_conn_start_tls_client (l->conn, tls,
                               tls->session_new (client_creds, l->conn_fd, "x", &error));
  assert_state (l, LATCH_CONN_AWAIT_FIRST);
  g_assert_false (latch_conn_is_tls (l->conn));
  /* And a server conn is never a client. */
  m = link_open (f, 1, &all_callbacks);
  latch_conn_start_tls_client (m->conn, tls,
                               tls->session_new (client_creds, m->conn_fd, "x", &error));
  assert_state (m, LATCH_CONN_SNIFFING);
  g_assert_true (latch_conn_is_open (m->conn));
}

/* ---- main ------------------------------------------------------------------------- */

static void
load_server_creds (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *pem = g_build_filename (certs_dir, "peer1_ca1.pem", NULL);
  g_autofree char *key = g_build_filename (certs_dir, "peer1_ca1.key", NULL);
  g_autofree char *ca = g_build_filename (certs_dir, "ca1.pem", NULL);
  LatchTlsSettings s = {
    .level = LATCH_SECURITY_DEFAULT,
    .certificate = pem,
    .private_key = key,
    .ca_certificate = ca,
    .require_client_cert = TRUE,
  };

  server_creds = tls->creds_new (&s, LATCH_TLS_SERVER, LATCH_SECURITY_CHANNEL, MID, NULL,
                                 &error);
  g_assert_no_error (error);
}

/* The client conns' credentials: peer2_ca1, trusting CA1. */
static void
load_client_creds (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *pem = g_build_filename (certs_dir, "peer2_ca1.pem", NULL);
  g_autofree char *key = g_build_filename (certs_dir, "peer2_ca1.key", NULL);
  g_autofree char *ca = g_build_filename (certs_dir, "ca1.pem", NULL);
  LatchTlsSettings s = {
    .level = LATCH_SECURITY_DEFAULT,
    .certificate = pem,
    .private_key = key,
    .ca_certificate = ca,
  };

  client_creds = tls->creds_new (&s, LATCH_TLS_CLIENT, LATCH_SECURITY_CHANNEL, MID, NULL,
                                 &error);
  g_assert_no_error (error);
}

static GPtrArray *cases;

/* Registers func under /conn/VIA/path for each transport in vias. */
static void
add (const char *path, void (*func) (Fixture *, gconstpointer), gboolean on_unix,
     gboolean on_tcp, const char *arg)
{
  for (Via via = VIA_UNIX; via <= VIA_TCP; via++)
    {
      Case *c;
      g_autofree char *full = NULL;

      if ((via == VIA_UNIX && !on_unix) || (via == VIA_TCP && !on_tcp))
        continue;
      c = g_new0 (Case, 1);
      c->via = via;
      c->arg = arg;
      g_ptr_array_add (cases, c);
      full = g_strdup_printf ("/conn/%s/%s", via == VIA_UNIX ? "unix" : "tcp", path);
      g_test_add (full, Fixture, c, fixture_set_up, func, fixture_tear_down);
    }
}

#define TLS12 "NORMAL:-VERS-ALL:+VERS-TLS1.2"

int
main (int argc, char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  /* The state changes go to stderr (the test's log), for diagnosis. */
  latch_log_set_debug (TRUE);
  tls = latch_tls_module ();
  g_assert_cmpint (tls->abi, ==, LATCH_TLS_MODULE_ABI);
  certs_dir = latch_test_make_certs ("test-conn", MID);
  if (certs_dir != NULL)
    {
      load_server_creds ();
      load_client_creds ();
    }
  cases = g_ptr_array_new_with_free_func (g_free);

  add ("clear/messages", test_clear_messages, TRUE, TRUE, NULL);
  add ("clear/garbage", test_clear_garbage, TRUE, TRUE, NULL);
  add ("clear/reply", test_clear_reply, TRUE, TRUE, NULL);
  add ("clear/eof", test_clear_eof, TRUE, TRUE, NULL);
  add ("clear/max-size", test_clear_max_size, TRUE, TRUE, NULL);
  add ("clear/oversize", test_clear_oversize, TRUE, TRUE, NULL);
  add ("clear/abort", test_clear_abort, TRUE, TRUE, NULL);
  add ("clear/abort-in-message", test_clear_abort_in_message, TRUE, TRUE, NULL);
  add ("clear/close-in-message", test_clear_close_in_message, TRUE, TRUE, NULL);
  add ("clear/close-flush-large", test_clear_close_flush_large, TRUE, TRUE, NULL);
  /* Only a UNIX socket fails the first send to a closed peer. */
  add ("clear/send-to-gone-peer", test_clear_send_to_gone_peer, TRUE, FALSE, NULL);
  add ("clear/flush-to-gone-peer", test_clear_flush_to_gone_peer, TRUE, FALSE, NULL);
  add ("clear/reset", test_clear_reset, FALSE, TRUE, NULL);

  add ("hello/refused", test_hello_refused, TRUE, TRUE, NULL);
  add ("hello/real-client", test_hello_real_client, TRUE, TRUE, NULL);
  add ("hello/ignored", test_hello_ignored, TRUE, TRUE, NULL);
  add ("hello/no-callback", test_hello_no_callback, TRUE, TRUE, NULL);
  add ("hello/not-first", test_hello_not_first, TRUE, TRUE, NULL);
  add ("hello/abort", test_hello_abort, TRUE, TRUE, NULL);

  add ("deadline/open", test_deadline_open, TRUE, FALSE, NULL);
  add ("deadline/rearm", test_deadline_rearm, TRUE, FALSE, NULL);
  add ("deadline/closing-linger", test_deadline_closing_linger, TRUE, FALSE, NULL);
  add ("deadline/handshake", test_deadline_handshake, FALSE, TRUE, NULL);

  add ("tls/handshake", test_tls_handshake, TRUE, TRUE, NULL);
  add ("tls/handshake-tls12", test_tls_handshake, TRUE, TRUE, TLS12);
  add ("tls/first-flight", test_tls_first_flight, TRUE, TRUE, NULL);
  add ("tls/first-flight-tls12", test_tls_first_flight, TRUE, TRUE, TLS12);
  add ("tls/bulk-in", test_tls_bulk_in, TRUE, TRUE, NULL);
  add ("tls/bulk-out", test_tls_bulk_out, TRUE, TRUE, NULL);
  add ("tls/peer-eof", test_tls_peer_eof, TRUE, TRUE, NULL);
  add ("tls/clear-first-byte", test_tls_clear_first_byte, TRUE, TRUE, NULL);
  add ("tls/eof-first", test_tls_eof_first, TRUE, TRUE, NULL);
  add ("tls/reset-first", test_tls_reset_first, FALSE, TRUE, NULL);
  add ("tls/eof-mid-handshake", test_tls_eof_mid_handshake, TRUE, TRUE, NULL);
  add ("tls/garbage", test_tls_garbage, TRUE, TRUE, NULL);
  add ("tls/client-refuses", test_tls_client_refuses, TRUE, TRUE, NULL);
  add ("tls/client-refuses-tls12", test_tls_client_refuses, TRUE, TRUE, TLS12);
  add ("tls/server-refuses", test_tls_server_refuses, TRUE, TRUE, NULL);
  add ("tls/server-refuses-tls12", test_tls_server_refuses, TRUE, TRUE, TLS12);
  add ("tls/garbage-after-handshake", test_tls_garbage_after_handshake, TRUE, TRUE, NULL);
  add ("tls/abort-in-handshake", test_tls_abort_in_handshake, TRUE, TRUE, NULL);
  add ("tls/close-in-handshake", test_tls_close_in_handshake, TRUE, TRUE, NULL);
  add ("tls/abort-in-secured", test_tls_abort_in_secured, TRUE, TRUE, NULL);
  add ("tls/close-in-secured", test_tls_close_in_secured, TRUE, TRUE, NULL);

  /* Every state x every event: /conn/VIA/state/AT/EV. */
  for (int at = 0; at < N_AT; at++)
    for (int ev = 0; ev < N_EV; ev++)
      for (Via via = VIA_UNIX; via <= VIA_TCP; via++)
        {
          Case *c;
          g_autofree char *full = NULL;

          /* A reset needs TCP; the rest runs over the socketpair. */
          if ((ev == EV_RESET) != (via == VIA_TCP))
            continue;
          c = g_new0 (Case, 1);
          c->via = via;
          c->at = at;
          c->ev = ev;
          g_ptr_array_add (cases, c);
          full = g_strdup_printf ("/conn/%s/state/%s/%s", via == VIA_UNIX ? "unix" : "tcp",
                                  at_names[at], ev_names[ev]);
          g_test_add (full, Fixture, c, fixture_set_up, test_state, fixture_tear_down);
        }
  add ("state/begin-bad-target", test_state_begin_bad_target, TRUE, FALSE, NULL);
  add ("state/begin-when-closed", test_state_begin_when_closed, TRUE, FALSE, NULL);
  add ("state/deadline-set", test_state_deadline_set, TRUE, FALSE, NULL);
  add ("net/shutdown", test_net_shutdown, TRUE, FALSE, NULL);

  add ("client/clear", test_client_clear, TRUE, TRUE, NULL);
  add ("client/refused", test_client_refused, FALSE, TRUE, NULL);
  add ("client/connect-timeout", test_client_connect_timeout, FALSE, TRUE, NULL);
  add ("client/tls-handshake", test_client_tls_handshake, TRUE, TRUE, NULL);
  add ("client/tls-handshake-tls12", test_client_tls_handshake, TRUE, TRUE, TLS12);
  add ("client/tls-we-refuse", test_client_tls_we_refuse, TRUE, TRUE, NULL);
  add ("client/tls-we-refuse-tls12", test_client_tls_we_refuse, TRUE, TRUE, TLS12);
  add ("client/tls-server-refuses", test_client_tls_server_refuses, TRUE, TRUE, NULL);
  add ("client/tls-server-refuses-tls12", test_client_tls_server_refuses, TRUE, TRUE, TLS12);
  add ("client/tls-late", test_client_tls_late, TRUE, FALSE, NULL);

  ret = g_test_run ();
  g_ptr_array_unref (cases);
  g_clear_pointer (&server_creds, tls->creds_free);
  g_clear_pointer (&client_creds, tls->creds_free);
  if (certs_dir != NULL)
    g_assert_true (latch_test_rm_rf (certs_dir));
  g_free (certs_dir);
  return ret;
}
