/* fuzz-sniff.c: a daemon connection's first bytes (src/net/conn.c): the
 * look at the first byte (TLS_HANDSHAKE_RECORD, 0x16) that tells a TLS
 * client from a clear one, then the framer and the callbacks.
 *
 * A real LatchConn runs over a socketpair on the default main context;
 * the other end plays the peer and writes the input to it.
 *   byte 0  bits 0-1 the connection: 0 clear, with tls_hello_cb (what a
 *           clear daemon does); 1 clear, without it; 2, 3 TLS required
 *           (latch_conn_start_tls(), server credentials made at start-up);
 *           bits 2-3 what message_cb does: nothing, send an answer, close
 *           after flushing, abort; bits 4-5 what tls_hello_cb does: answer
 *           and close after flushing (the daemon's refusal), abort,
 *           nothing, answer; bit 6 the peer shuts its write side after its
 *           last byte (EOF); bit 7 debug logging
 *   byte 1  how the peer writes: bit 7 all at once, else in chunks of
 *           1 + (byte & 0x7f) bytes (more if that makes over MAX_CHUNKS),
 *           the main loop running in between
 *   rest    what the peer writes
 * Time is bounded: at most MAX_CHUNKS writes and ITERATIONS_PER_STEP
 * main-loop iterations (never blocking) after each, then the connection
 * is aborted if it is still there.
 *
 * Checked (abort on violation):
 *  - a clear connection calls tls_hello_cb exactly when the first byte
 *    is 0x16, and then delivers nothing of that first read;
 *  - a TLS connection never calls tls_hello_cb, never completes a
 *    handshake with the peer (which cannot do one), and so never delivers
 *    a message unless the first byte was not 0x16 (it then runs in clear
 *    text, and latch_conn_is_tls() says so);
 *  - every message is at most LATCH_MSG_MAX_SIZE bytes and ends with
 *    "</msg>";
 *  - closed_cb runs exactly once (the connection is freed after it). */
#include "config.h"

#include "net/conn.h"

#include "cert/cert.h"
#include "common/error.h"
#include "common/log.h"
#include "proto/msg.h"
#include "tls/tls.h"
#include "../unit/scratch.h"
#include "fuzz.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define HEADER_LEN 2
#define MAX_CHUNKS 64
#define ITERATIONS_PER_STEP 8
#define FINAL_ITERATIONS 64
#define MID "0123456789abcdef0123456789abcdef"
#define ANSWER "<msg level=\"3\" verb=\"1\" step=\"16\"><answer rc=\"0\"/></msg>"

typedef enum
{
  MODE_CLEAR_HELLO_CB,
  MODE_CLEAR,
  MODE_TLS,
} Mode;

typedef enum
{
  ACT_NOTHING,
  ACT_SEND,
  ACT_CLOSE,
  ACT_ABORT,
} Action;

typedef struct
{
  LatchConn *conn;   /* NULL once closed_cb ran */
  Mode mode;
  Action on_message;
  Action on_hello;
  guint n_closed;
  guint n_messages;
  guint n_hellos;
  guint n_secured;
  gboolean hello_first; /* tls_hello_cb came before any message */
} Peer;

static const LatchTlsModule *tls;
static LatchTlsCreds *creds; /* NULL: TLS inputs run clear */

/* A CA and a node certificate (ECDSA: quick to make) in a scratch
 * directory, loaded as channel-level server credentials, then the
 * directory is removed: the credentials live in memory. */
static LatchTlsCreds *
make_creds (GError **error)
{
  g_autofree char *dir = g_dir_make_tmp ("fuzz-sniff-XXXXXX", error);
  g_autofree char *ca_dir = NULL;
  g_autofree char *cert = NULL;
  g_autofree char *key = NULL;
  g_autofree char *ca = NULL;
  g_autoptr (LatchCertReport) report = latch_cert_report_new ();
  LatchCertCaOptions ca_opts = { 0 };
  LatchCertNodeOptions node_opts = { 0 };
  LatchTlsSettings settings = { 0 };
  LatchTlsCreds *made = NULL;

  if (dir == NULL)
    return NULL;
  ca_dir = g_build_filename (dir, "ca", NULL);
  ca_opts.dir = ca_dir;
  ca_opts.days = 30;
  ca_opts.crl_days = 30;
  ca_opts.key.type = LATCH_CERT_KEY_ECDSA;
  ca_opts.key.bits = 256;
  node_opts.ca_dir = ca_dir;
  node_opts.id = MID;
  node_opts.out_dir = dir;
  node_opts.days = 30;
  node_opts.key = ca_opts.key;
  cert = g_build_filename (dir, "node.pem", NULL);
  key = g_build_filename (dir, "node.key", NULL);
  ca = g_build_filename (dir, "ca.pem", NULL);
  settings.level = LATCH_SECURITY_CHANNEL;
  settings.certificate = cert;
  settings.private_key = key;
  settings.ca_certificate = ca;
  settings.require_client_cert = FALSE;
  if (latch_cert_ca_init (&ca_opts, report, error)
      && latch_cert_node (&node_opts, report, error))
    made = tls->creds_new (&settings, LATCH_TLS_SERVER, LATCH_SECURITY_CHANNEL,
                           NULL, NULL, error);
  latch_test_rm_rf (dir);
  return made;
}

/* Once per process: no SIGPIPE (as in latchd), the log goes nowhere,
 * GLib's criticals and warnings are crashes, and the credentials. */
static void
init_once (void)
{
  static gboolean done;
  g_autoptr (GError) error = NULL;

  if (done)
    return;
  done = TRUE;
  signal (SIGPIPE, SIG_IGN);
  if (!latch_log_init ("fuzz-sniff", LATCH_LOG_TO_FILE, "/dev/null", TRUE,
                       FALSE, NULL))
    abort ();
  fuzz_make_warnings_fatal ();
  tls = latch_tls_module ();
  creds = make_creds (&error);
  if (creds == NULL)
    fprintf (stderr, "fuzz-sniff: no TLS credentials, TLS inputs run clear: "
                     "%s\n", error != NULL ? error->message : "?");
}

static void
act (LatchConn *conn, Action action)
{
  switch (action)
    {
    case ACT_SEND:
      latch_conn_send (conn, ANSWER, strlen (ANSWER));
      break;
    case ACT_CLOSE:
      latch_conn_send (conn, ANSWER, strlen (ANSWER));
      latch_conn_close_after_flush (conn);
      break;
    case ACT_ABORT:
      {
        g_autoptr (GError) why = g_error_new_literal (LATCH_ERROR,
                                                      LATCH_ERROR_FAILED,
                                                      "fuzz: aborted");
        latch_conn_abort (conn, why);
      }
      break;
    case ACT_NOTHING:
    default:
      break;
    }
}

static void
message_cb (LatchConn *conn, GBytes *msg, gpointer user_data)
{
  Peer *peer = user_data;
  gsize len;
  const char *m = g_bytes_get_data (msg, &len);

  require (conn == peer->conn);
  require (len >= 6 && len <= LATCH_MSG_MAX_SIZE);
  require (memcmp (m + len - 6, "</msg>", 6) == 0);
  /* No TLS client gets a message through a TLS connection: only a clear
   * one, which the daemon refuses. */
  if (peer->mode == MODE_TLS)
    require (!latch_conn_is_tls (conn) && latch_conn_get_tls (conn) == NULL);
  peer->n_messages++;
  act (conn, peer->on_message);
}

static void
closed_cb (LatchConn *conn, const GError *reason, gpointer user_data)
{
  Peer *peer = user_data;

  require (conn == peer->conn);
  require (peer->n_closed == 0);
  peer->n_closed++;
  peer->conn = NULL;
}

static void
secured_cb (LatchConn *conn, gpointer user_data)
{
  Peer *peer = user_data;

  peer->n_secured++;
}

static void
tls_hello_cb (LatchConn *conn, gpointer user_data)
{
  Peer *peer = user_data;

  require (conn == peer->conn);
  require (peer->mode == MODE_CLEAR_HELLO_CB);
  if (peer->n_messages == 0)
    peer->hello_first = TRUE;
  peer->n_hellos++;
  act (conn, peer->on_hello);
}

static const LatchConnCallbacks with_hello = {
  message_cb, closed_cb, secured_cb, tls_hello_cb,
};
static const LatchConnCallbacks without_hello = {
  message_cb, closed_cb, secured_cb, NULL,
};

/* Runs the main loop a little, never blocking, and reads (and drops)
 * what the connection sent, so that its writes never stall. */
static void
spin (int peer_fd, int iterations)
{
  char buf[4096];

  for (int i = 0; i < iterations; i++)
    {
      gboolean dispatched = g_main_context_iteration (NULL, FALSE);

      while (recv (peer_fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
        ;
      if (!dispatched)
        break;
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  Peer peer = { 0 };
  const char *input;
  gsize len;
  gsize chunk;
  gsize pos = 0;
  int sv[2];
  int n_writes = 0;
  guint8 flags;
  guint8 how;

  init_once ();
  if (size < HEADER_LEN)
    return 0;
  flags = data[0];
  how = data[1];
  input = (const char *) data + HEADER_LEN;
  len = size - HEADER_LEN;

  peer.mode = (flags & 3) >= MODE_TLS ? MODE_TLS : (Mode) (flags & 3);
  if (peer.mode == MODE_TLS && creds == NULL)
    peer.mode = MODE_CLEAR_HELLO_CB;
  peer.on_message = (Action) ((flags >> 2) & 3);
  peer.on_hello = (Action[]){ ACT_CLOSE, ACT_ABORT, ACT_NOTHING,
                              ACT_SEND }[(flags >> 4) & 3];
  latch_log_set_debug ((flags & 0x80) != 0);
  chunk = (how & 0x80) ? MAX (len, (gsize) 1) : (gsize) (1 + (how & 0x7f));
  chunk = MAX (chunk, len / MAX_CHUNKS + 1);

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
    return 0;
  peer.conn = latch_conn_new (sv[0], "fuzz peer",
                              peer.mode == MODE_CLEAR_HELLO_CB ? &with_hello
                                                               : &without_hello,
                              &peer);
  if (peer.mode == MODE_TLS)
    {
      g_autoptr (GError) error = NULL;
      LatchTlsSession *session
          = tls->session_new (creds, sv[0], "the client", &error);

      require (session != NULL);
      latch_conn_start_tls (peer.conn, tls, session);
    }

  /* The peer writes, the loop runs. */
  while (pos < len && peer.conn != NULL && n_writes < MAX_CHUNKS * 2)
    {
      gsize want = MIN (chunk, len - pos);
      ssize_t n = send (sv[1], input + pos, want, MSG_NOSIGNAL);

      n_writes++;
      if (n < 0 && errno != EAGAIN && errno != EINTR)
        break;
      if (n > 0)
        pos += (gsize) n;
      spin (sv[1], ITERATIONS_PER_STEP);
    }
  if (flags & 0x40)
    shutdown (sv[1], SHUT_WR);
  spin (sv[1], FINAL_ITERATIONS);

  /* What the first byte decided. */
  if (peer.mode == MODE_CLEAR_HELLO_CB && pos > 0)
    {
      require ((peer.n_hellos > 0) == ((guchar) input[0] == 0x16));
      require (peer.n_hellos <= 1);
      if (peer.n_hellos > 0)
        require (peer.hello_first);
    }
  else
    require (peer.n_hellos == 0);
  if (peer.mode == MODE_TLS)
    {
      require (peer.n_secured == 0);
      if (pos > 0 && (guchar) input[0] == 0x16)
        require (peer.n_messages == 0);
    }

  if (peer.conn != NULL)
    latch_conn_abort (peer.conn, NULL);
  require (peer.n_closed == 1 && peer.conn == NULL);
  close (sv[1]);
  return 0;
}
