/* conn.h: one daemon-side stream connection.
 *
 * A non-blocking socket driven by the main loop: bytes read go through the
 * framer, each complete message is handed to the owner's callback; sends
 * are buffered and flushed when the socket is writable, so nothing ever
 * blocks the loop.  States:
 *   OPEN     reading and writing
 *   CLOSING  output flushed, write side shut; reading until EOF (bounded)
 *   CLOSED   gone: the closed callback has run, the object is freed
 *   HANDSHAKE  (TLS) the handshake runs; OPEN once it succeeds
 * Only conn_set_state() in conn.c changes the state, and it logs it.
 *
 * TLS: latch_conn_start_tls() right after latch_conn_new() puts the
 * connection in HANDSHAKE.  If the peer's first byte is not a TLS record
 * (a clear-text client), the connection goes OPEN without TLS and
 * latch_conn_is_tls() says so: the owner refuses it with an answer.  A
 * failed handshake is logged with its explanation and closed gracefully
 * (the alert reaches the peer; its data is drained, never reset).  A
 * clear connection whose first bytes are a TLS ClientHello calls
 * tls_hello_cb instead of delivering them. */
#ifndef LATCH_NET_CONN_H
#define LATCH_NET_CONN_H

#include <glib.h>
#include <glib-unix.h>

#include "tls/tls.h"

G_BEGIN_DECLS

typedef struct _LatchConn LatchConn;

typedef struct
{
  /* A complete message (transfer none; valid during the call).  The
   * callback may send, close or abort the connection. */
  void (*message_cb) (LatchConn *conn, GBytes *msg, gpointer user_data);
  /* The connection is over: EOF, error, abort, or the end of a graceful
   * close.  reason is NULL for an orderly end.  The conn is freed right
   * after this returns. */
  void (*closed_cb) (LatchConn *conn, const GError *reason, gpointer user_data);
  /* TLS handshake done (may be NULL).  The callback may close or abort
   * the connection, like message_cb. */
  void (*secured_cb) (LatchConn *conn, gpointer user_data);
  /* A clear connection received a TLS ClientHello (may be NULL: then the
   * bytes go to the framer, which refuses them in time). */
  void (*tls_hello_cb) (LatchConn *conn, gpointer user_data);
} LatchConnCallbacks;

/* Takes ownership of fd, which must be non-blocking (accept4 with
 * SOCK_NONBLOCK).  label names the peer in log lines. */
LatchConn *latch_conn_new (int fd, const char *label,
                           const LatchConnCallbacks *callbacks,
                           gpointer user_data);

/* Runs TLS over the connection (server side); takes session. */
void latch_conn_start_tls (LatchConn *conn, const LatchTlsModule *tls,
                           LatchTlsSession *session);
/* TRUE once the TLS handshake succeeded. */
gboolean latch_conn_is_tls (const LatchConn *conn);
/* The TLS session (transfer none), NULL without TLS. */
LatchTlsSession *latch_conn_get_tls (const LatchConn *conn);

/* Queues data; dropped before the TLS handshake is done (nothing may be
 * said before it). */
void latch_conn_send (LatchConn *conn, const char *data, gsize len);

/* Flush what is queued, shut the write side, wait (at most a few seconds)
 * for the peer's EOF, then close.  No more messages are delivered.
 * During a TLS handshake: closes as a failed handshake does. */
void latch_conn_close_after_flush (LatchConn *conn);

/* Close now, dropping unsent output.  why (may be NULL) is logged and
 * handed to closed_cb. */
void latch_conn_abort (LatchConn *conn, const GError *why);

/* Arms (ms > 0) or disarms (ms <= 0) a deadline: when it passes the
 * connection is aborted with "timed out: what".  Checked four times a
 * second, so it may pass up to 250 ms late. */
void latch_conn_set_deadline (LatchConn *conn, int ms, const char *what);

/* Watches fd like g_unix_fd_add(), but with a source that may recurse:
 * GLib then does not block it around each dispatch, which would remove and
 * re-add its poll fd and wake the loop twice per event.  The callbacks
 * never iterate the main context, so recursion cannot happen. */
guint latch_fd_watch_add (int fd, GIOCondition cond, GUnixFDSourceFunc func,
                          gpointer user_data);

const char *latch_conn_get_label (const LatchConn *conn);
void latch_conn_set_data (LatchConn *conn, gpointer data);
gpointer latch_conn_get_data (const LatchConn *conn);
gboolean latch_conn_is_open (const LatchConn *conn);

G_END_DECLS

#endif
