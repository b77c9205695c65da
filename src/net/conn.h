/* conn.h: one stream connection: a daemon's (accepted) or a client's
 * (connected by us: the agent's upstream session).
 *
 * A non-blocking socket driven by the main loop: bytes read go through the
 * framer, each complete message is handed to the owner's callback; sends
 * are buffered and flushed when the socket is writable, so nothing ever
 * blocks the loop.  Connections are watched through one epoll instance
 * (net/evsource.h), not one GSource each, so that an event costs the same
 * however many connections sit idle.
 *
 * One state machine (LatchConnState).  Only conn_set_state() in conn.c
 * changes the state: it logs each change ("LABEL: A -> B") and refuses,
 * with a warning, a change the diagram below does not have.  One handler
 * (io_cb) switches on it.
 *
 *   latch_conn_new_client   latch_conn_start_tls_client (TLS client)
 *        |                      |
 *        v                      v
 *   +------------+  connected, TLS client            +-------------+
 *   | CONNECTING |---------------------------------->| HANDSHAKING |
 *   +------------+                                   +-------------+
 *        | connected, clear (queued output goes)         ^  |
 *        |                                                |  |
 *        |   latch_conn_new     latch_conn_start_tls      |  |
 *        |        |             (TLS expected)            |  |
 *        |        v                                       |  |
 *        |   +----------+  first byte 0x16, TLS expected  |  |
 *        |   | SNIFFING |---------------------------------+  |
 *        |   +----------+                                    | done:
 *        |        | any other first byte (TLS expected:      | secured_cb
 *        |        | clear text, the owner refuses it; clear: |
 *        |        | a ClientHello calls tls_hello_cb)        |
 *        v        v                                          v
 *   +-------------+ <----------------------------------------+
 *   | AWAIT_FIRST |  transport ready; messages delivered
 *   +-------------+
 *        | latch_conn_begin (LOCKING or MANAGEMENT), by the owner on
 *        | the first message it accepts
 *        v
 *   +---------+  +------------+
 *   | LOCKING |  | MANAGEMENT |   messages delivered
 *   +---------+  +------------+
 *        | latch_conn_close_after_flush (from AWAIT_FIRST, a clear
 *        | SNIFFING and a CONNECTING with clear output queued too)
 *        v
 *   +----------+  output still queued: flushed first (after the
 *   | FLUSHING |  connect, from CONNECTING)
 *   +----------+
 *        | flushed (or nothing was queued, or a TLS handshake failed,
 *        | or close during SNIFFING / HANDSHAKING)
 *        v
 *   +---------+  write side shut (TLS: close_notify), input dropped,
 *   | CLOSING |  waiting for the peer's EOF, CLOSING_LINGER_MS at most
 *   +---------+
 *        | EOF, error, linger over
 *        v
 *   +--------+  closed_cb has run; the object is freed after it (after
 *   | CLOSED |  the callback it was closed from, if any)
 *   +--------+
 * Any state but CLOSED goes to CLOSED directly on EOF, a reset or another
 * I/O error, bad input, a deadline, or latch_conn_abort().  FLUSHING and
 * CLOSING end quietly (no reason) when their deadline passes.  CONNECTING
 * also goes to CLOSED when the connect fails (LATCH_ERROR_CONNECT,
 * "connect: Connection refused") and on latch_conn_close_after_flush()
 * with nothing queued (no reason, closed_cb before it returns).
 *
 * Client mode: latch_conn_new_client() takes a socket whose non-blocking
 * connect() is in progress or done; CONNECTING waits until it is
 * writable and asks SO_ERROR how the connect ended.  Clear: sends are
 * queued from the start and go once connected.  TLS:
 * latch_conn_start_tls_client() in CONNECTING; the handshake starts once
 * connected (the credentials' role makes it a client one), sends are
 * dropped until secured_cb.  A failed client handshake closes gracefully
 * like a server's, and its explanation (the TLS module's words: which
 * certificate, what is wrong with it) is the reason closed_cb gets,
 * however the close then ends, unless the owner aborts with its own.
 *
 * TLS: latch_conn_start_tls() right after latch_conn_new() says TLS is
 * expected.  If the peer's first byte is not a TLS record (a clear-text
 * client), the connection goes AWAIT_FIRST without TLS and
 * latch_conn_is_tls() says so: the owner refuses it with an answer.  A
 * failed handshake is logged with its explanation and closed gracefully
 * (the alert reaches the peer; its data is drained, never reset).  A
 * clear connection whose first bytes are a TLS ClientHello calls
 * tls_hello_cb instead of delivering them.
 *
 * Not states, but kept beside it: whether a callback of this connection
 * is running (the free waits for it to return), what the last TLS call
 * waits for, a send error not yet acted on (the handler ends the
 * connection with it, so that a send never runs a closed_cb under its
 * caller).  The framer and the output buffer exist only while they hold
 * bytes: an idle connection costs its struct, its label and its epoll
 * registration. */
#ifndef LATCH_NET_CONN_H
#define LATCH_NET_CONN_H

#include <glib.h>
#include <glib-unix.h>

#include "tls/tls.h"

G_BEGIN_DECLS

typedef struct _LatchConn LatchConn;

typedef enum
{
  LATCH_CONN_CONNECTING,  /* client: the connect is not known to be done */
  LATCH_CONN_SNIFFING,    /* no byte seen yet */
  LATCH_CONN_HANDSHAKING, /* TLS handshake */
  LATCH_CONN_AWAIT_FIRST, /* transport ready, the owner has not begun */
  LATCH_CONN_LOCKING,     /* a lock connection */
  LATCH_CONN_MANAGEMENT,  /* a shutdown / status connection */
  LATCH_CONN_FLUSHING,    /* closing: output queued */
  LATCH_CONN_CLOSING,     /* closing: write side shut, waiting for EOF */
  LATCH_CONN_CLOSED,
} LatchConnState;

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

/* Client mode: fd is a non-blocking stream socket whose connect() is in
 * progress (EINPROGRESS) or done; taken over as by latch_conn_new().
 * label names the peer ("the daemon at HOST port P"). */
LatchConn *latch_conn_new_client (int fd, const char *label,
                                  const LatchConnCallbacks *callbacks,
                                  gpointer user_data);

/* Runs TLS over the connection (server side); takes session. */
void latch_conn_start_tls (LatchConn *conn, const LatchTlsModule *tls,
                           LatchTlsSession *session);
/* Client mode: runs a TLS handshake once connected (session from client
 * credentials); takes session.  Only in CONNECTING, before any send:
 * refused otherwise (a warning; the session is freed). */
void latch_conn_start_tls_client (LatchConn *conn, const LatchTlsModule *tls,
                                  LatchTlsSession *session);
/* TRUE once the TLS handshake succeeded. */
gboolean latch_conn_is_tls (const LatchConn *conn);
/* The TLS session (transfer none), NULL without TLS. */
LatchTlsSession *latch_conn_get_tls (const LatchConn *conn);

/* Queues data in SNIFFING and CONNECTING (clear), AWAIT_FIRST, LOCKING
 * and MANAGEMENT; dropped otherwise: before the TLS handshake is done
 * (nothing may be said before it) and once closing. */
void latch_conn_send (LatchConn *conn, const char *data, gsize len);

/* Flush what is queued, shut the write side, wait (at most a few seconds)
 * for the peer's EOF, then close.  No more messages are delivered.
 * During a TLS handshake: closes as a failed handshake does.  While
 * CONNECTING: clear output queued is flushed once connected; with none,
 * the connection ends at once (closed_cb runs before this returns). */
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

/* The state, and its name in log lines ("AWAIT_FIRST"). */
LatchConnState latch_conn_get_state (const LatchConn *conn);
const char *latch_conn_state_name (LatchConnState state);

/* The owner says what the connection is, on the first message it
 * accepts: AWAIT_FIRST -> LOCKING or MANAGEMENT.  Anything else (another
 * target, a second call, before the transport is ready, while closing)
 * is refused: FALSE, a warning in the log, the state unchanged. */
gboolean latch_conn_begin (LatchConn *conn, LatchConnState state);

/* The net layer's init/shutdown pair: the epoll instance with its source
 * in the default main context (net/evsource.h) and the deadline sweeper.
 * latch_conn_new() initialises on first use; latch_net_init() only
 * reports a failure early.  latch_net_shutdown() removes both and closes
 * no connection: those still open become inert (no more events or
 * deadlines) and are still the owner's to abort.  Shut down after the
 * owner has ended its connections, before the main context goes. */
gboolean latch_net_init (GError **error);
void latch_net_shutdown (void);
/* Connections with a deadline armed (what the sweeper looks at). */
guint latch_conn_count_deadlines (void);

const char *latch_conn_get_label (const LatchConn *conn);
void latch_conn_set_data (LatchConn *conn, gpointer data);
gpointer latch_conn_get_data (const LatchConn *conn);
/* TRUE when messages are delivered and sends queued: AWAIT_FIRST,
 * LOCKING, MANAGEMENT, and SNIFFING or CONNECTING without TLS expected. */
gboolean latch_conn_is_open (const LatchConn *conn);

G_END_DECLS

#endif
