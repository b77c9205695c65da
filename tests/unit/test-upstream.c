/* test-upstream.c: the agent's upstream session (agent/upstream.c).
 *
 * Each test runs a LatchUpstream against a fake daemon in the same main
 * loop: a listening socket on 127.0.0.1 whose connections are server
 * LatchConns (TLS with certificates from tests/tls-certs.sh where the test
 * says so), speaking the session extension as a latch daemon does, or the
 * plain protocol as a FLoM daemon does.  What is asserted is what the
 * owner sees (answers by id, down_cb and its reason, up_cb) and what the
 * fake daemon received (each message decoded, per connection, in order;
 * connections accepted and when).  Nothing sleeps: each wait runs the loop
 * until a condition holds and fails after a bound.
 *
 *   session        offer on the first request only, the other requests
 *                  held back until its answer, then pipelined with ids on
 *                  the one connection; queued then granted (1/24), loss
 *                  (1/24 rc 8), unlock of a held id, cancel of a pending
 *                  id (a grant crossing it is not reported), a refusal
 *                  finishing its id only
 *   offer-cancelled  the offer unlocked before its answer: released once
 *                  the answer came, silently, and nothing said before
 *   tls/mutual     the same over TLS at the mutual level
 *   tls/peer-id    the daemon announces another ID than its
 *                  certificate's: down_cb naming both, no answer
 *   tls/refused    the daemon's certificate is not trusted: down_cb with
 *                  the TLS module's explanation
 *   keepalive      pings when idle, none when traffic flows; a daemon that
 *                  stops answering is declared dead after the timeout
 *   retry          a session ends before a request's answer: the request
 *                  goes again on the next session, once; the answered ids
 *                  are lost by their own answers (TLS: the next handshake's
 *                  refusal is the owner's reason)
 *   backoff        after a loss: attempts 100, 200, 400 ms apart; a
 *                  request meanwhile connects at once
 *   legacy         a FLoM daemon: one connection per lock, unlock = 2/8 +
 *                  close, cancel = close, EOF while held = rc 8, no pings,
 *                  a refused connect = rc 7
 *   refused        nobody listens: down_cb with the connect's error */

#include "config.h"

#include "agent/upstream.h"

#include "common/error.h"
#include "common/log.h"
#include "net/conn.h"
#include "proto/msg.h"
#include "tls/tls.h"
#include "scratch.h"
#include "loop-wait.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MID "0123456789abcdef0123456789abcdef"
#define OTHER_ID "00112233445566778899aabbccddeeff"
#define DAEMON_ID "fedcba9876543210fedcba9876543210"
#define WAIT_MS 3000

static const LatchTlsModule *tls;
static char *certs_dir;
static LatchTlsCreds *server_creds;
static LatchTlsCreds *client_creds;
static LatchTlsCreds *other_ca_creds; /* a server certificate from CA2 */

/* ---- waiting ------------------------------------------------------------ */

/* bound_cb, WAIT_FOR_MS, WAIT_FOR: loop-wait.h */

/* Runs the loop for ms, whatever happens. */
static void
run_for (int ms)
{
  gboolean over = FALSE;

  g_timeout_add (ms, bound_cb, &over);
  while (!over)
    g_main_context_iteration (NULL, TRUE);
}

static gint64
now_ms (void)
{
  return g_get_monotonic_time () / 1000;
}

/* ---- the fake daemon ------------------------------------------------------ */

typedef struct _Fake Fake;

typedef struct
{
  Fake *fake;
  LatchConn *conn;    /* NULL once closed */
  GPtrArray *msgs;    /* LatchMsg, as received */
  gboolean session;   /* it answered ext="1" */
} FakeConn;

struct _Fake
{
  int lfd;
  int port;
  guint watch;
  gboolean use_tls;
  gboolean legacy;    /* answer as FLoM: no ext, no id */
  gboolean silent;    /* answer nothing any more */
  gboolean reset;     /* accept and reset at once */
  gboolean hold_first; /* the first request waits for fake_release_first() */
  int close_c;        /* so many requests named 'c...' end their connection unanswered */
  LatchTlsCreds *creds_after; /* set: the next connections use these */
  const char *peerid; /* announced */
  LatchTlsCreds *creds; /* NULL: server_creds */
  guint64 fence;
  GPtrArray *conns;   /* FakeConn */
  GArray *accepted_at; /* gint64 ms */
  gint64 last_sent_at; /* ms: the last answer or pong */
};

static void
fake_send (FakeConn *fc, LatchMsg *msg)
{
  g_autoptr (GString) out = g_string_new (NULL);

  latch_msg_encode (msg, out);
  latch_conn_send (fc->conn, out->str, out->len);
  fc->fake->last_sent_at = now_ms ();
}

/* An answer to a lock request: first (with <session>) or later. */
static void
fake_answer (FakeConn *fc, int step, int rc, guint64 id)
{
  g_autoptr (LatchMsg) a = latch_msg_new (LATCH_MSG_LOCK_ANSWER, step);

  if (step == LATCH_STEP_FIRST_ANSWER)
    a->peerid = g_strdup (fc->fake->peerid);
  if (step == LATCH_STEP_FIRST_ANSWER && !fc->fake->legacy && !fc->session)
    {
      a->ext = 1;
      fc->session = TRUE;
    }
  a->rc = rc;
  if (rc == LATCH_RC_OK)
    {
      a->has_fence = TRUE;
      a->fence = ++fc->fake->fence;
    }
  if (!fc->fake->legacy)
    a->id = id;
  fake_send (fc, a);
}

static void
fake_message_cb (LatchConn *conn G_GNUC_UNUSED, GBytes *bytes, gpointer user_data)
{
  FakeConn *fc = user_data;
  g_autoptr (GError) error = NULL;
  LatchMsg *msg = NULL;
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);

  if (!latch_codec_decode (data, len, &msg, &error))
    g_error ("the fake daemon got a bad message: %s", error->message);
  g_ptr_array_add (fc->msgs, msg);
  if (fc->fake->silent)
    return;
  if (msg->kind == LATCH_MSG_PING && msg->step == LATCH_STEP_REQUEST)
    {
      g_autoptr (LatchMsg) pong = latch_msg_new (LATCH_MSG_PING, LATCH_STEP_FIRST_ANSWER);
      fake_send (fc, pong);
    }
  if (msg->kind == LATCH_MSG_LOCK_REQUEST && fc->fake->hold_first && fc->msgs->len == 1)
    return;
  if (msg->kind == LATCH_MSG_LOCK_REQUEST && msg->name[0] == 'c' && fc->fake->close_c > 0)
    {
      /* As a daemon ends a session whose certificate it revoked. */
      fc->fake->close_c--;
      if (fc->fake->creds_after != NULL)
        fc->fake->creds = fc->fake->creds_after;
      latch_conn_abort (fc->conn, NULL);
      return;
    }
  /* Names starting with 'q' are busy: queued; with 'x', over a limit:
   * refused. */
  if (msg->kind == LATCH_MSG_LOCK_REQUEST)
    fake_answer (fc, LATCH_STEP_FIRST_ANSWER,
                 msg->name[0] == 'q'   ? LATCH_RC_LOCK_ENQUEUED
                 : msg->name[0] == 'x' ? LATCH_RC_LIMIT_LOCKS_PER_CONNECTION
                                       : LATCH_RC_OK,
                 msg->id);
}

static void
fake_closed_cb (LatchConn *conn G_GNUC_UNUSED, const GError *reason G_GNUC_UNUSED,
                gpointer user_data)
{
  FakeConn *fc = user_data;

  fc->conn = NULL;
}

static const LatchConnCallbacks fake_callbacks = { fake_message_cb, fake_closed_cb, NULL, NULL };

static gboolean
fake_accept_cb (int lfd, GIOCondition cond G_GNUC_UNUSED, gpointer user_data)
{
  Fake *fake = user_data;
  int fd = accept4 (lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  gint64 now = now_ms ();
  FakeConn *fc;

  if (fd < 0)
    return G_SOURCE_CONTINUE;
  g_array_append_val (fake->accepted_at, now);
  if (fake->reset)
    {
      struct linger lin = { .l_onoff = 1, .l_linger = 0 };

      setsockopt (fd, SOL_SOCKET, SO_LINGER, &lin, sizeof lin);
      close (fd);
      return G_SOURCE_CONTINUE;
    }
  fc = g_new0 (FakeConn, 1);
  fc->fake = fake;
  fc->msgs = g_ptr_array_new_with_free_func ((GDestroyNotify)latch_msg_free);
  fc->conn = latch_conn_new (fd, "fake daemon conn", &fake_callbacks, fc);
  if (fake->use_tls)
    {
      g_autoptr (GError) error = NULL;
      LatchTlsSession *session = tls->session_new (fake->creds != NULL ? fake->creds
                                                                        : server_creds,
                                                   fd, "the agent", &error);

      g_assert_no_error (error);
      latch_conn_start_tls (fc->conn, tls, session);
    }
  g_ptr_array_add (fake->conns, fc);
  return G_SOURCE_CONTINUE;
}

static void
fake_conn_free (FakeConn *fc)
{
  if (fc->conn != NULL)
    latch_conn_abort (fc->conn, NULL);
  g_ptr_array_unref (fc->msgs);
  g_free (fc);
}

static void
fake_listen (Fake *fake)
{
  struct sockaddr_in addr = { .sin_family = AF_INET };
  socklen_t len = sizeof addr;

  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  addr.sin_port = htons ((guint16)fake->port);
  fake->lfd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  g_assert_cmpint (fake->lfd, >=, 0);
  g_assert_cmpint (setsockopt (fake->lfd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof (int)),
                   ==, 0);
  g_assert_cmpint (bind (fake->lfd, (struct sockaddr *)&addr, sizeof addr), ==, 0);
  g_assert_cmpint (listen (fake->lfd, 16), ==, 0);
  g_assert_cmpint (getsockname (fake->lfd, (struct sockaddr *)&addr, &len), ==, 0);
  fake->port = ntohs (addr.sin_port);
  fake->watch = g_unix_fd_add (fake->lfd, G_IO_IN, fake_accept_cb, fake);
}

static void
fake_stop_listening (Fake *fake)
{
  g_clear_handle_id (&fake->watch, g_source_remove);
  if (fake->lfd >= 0)
    close (fake->lfd);
  fake->lfd = -1;
}

static FakeConn *
fake_conn (Fake *fake, guint i)
{
  g_assert_cmpuint (i, <, fake->conns->len);
  return g_ptr_array_index (fake->conns, i);
}

static LatchMsg *
fake_msg (FakeConn *fc, guint i)
{
  g_assert_cmpuint (i, <, fc->msgs->len);
  return g_ptr_array_index (fc->msgs, i);
}

static guint
count_kind (FakeConn *fc, LatchMsgKind kind, int step)
{
  guint n = 0;

  for (guint i = 0; i < fc->msgs->len; i++)
    {
      LatchMsg *m = g_ptr_array_index (fc->msgs, i);

      if (m->kind == kind && m->step == step)
        n++;
    }
  return n;
}

/* ---- the owner ------------------------------------------------------------- */

typedef struct
{
  guint64 id;
  gboolean first;
  int rc;
  gboolean has_fence;
  char *reason;
} Answer;

typedef struct
{
  Fake fake;
  LatchUpstream *up;
  GArray *answers; /* Answer */
  int n_down;
  GError *down_reason;
  gint64 down_at;
  int n_up;
} Fixture;

static void
answer_clear (gpointer p)
{
  g_free (((Answer *)p)->reason);
}

static void
answer_cb (LatchUpstream *up G_GNUC_UNUSED, guint64 id, gboolean first, int rc,
           const char *element G_GNUC_UNUSED, gboolean has_fence, guint64 fence G_GNUC_UNUSED,
           const char *reason, gpointer user_data)
{
  Fixture *f = user_data;
  Answer a = { id, first, rc, has_fence, g_strdup (reason) };

  g_array_append_val (f->answers, a);
}

static void
down_cb (LatchUpstream *up G_GNUC_UNUSED, const GError *reason, gpointer user_data)
{
  Fixture *f = user_data;

  f->n_down++;
  f->down_at = now_ms ();
  g_clear_error (&f->down_reason);
  f->down_reason = g_error_copy (reason);
}

static void
up_cb (LatchUpstream *up G_GNUC_UNUSED, gpointer user_data)
{
  Fixture *f = user_data;

  f->n_up++;
}

static const LatchUpstreamCallbacks owner_callbacks = { answer_cb, down_cb, up_cb };

static Answer *
answer_at (Fixture *f, guint i)
{
  g_assert_cmpuint (i, <, f->answers->len);
  return &g_array_index (f->answers, Answer, i);
}

static void
assert_answer (Fixture *f, guint i, guint64 id, gboolean first, int rc)
{
  Answer *a = answer_at (f, i);

  g_assert_cmpuint (a->id, ==, id);
  g_assert_cmpint (a->first, ==, first);
  g_assert_cmpint (a->rc, ==, rc);
}

static void
fixture_set_up (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  f->fake.lfd = -1;
  f->fake.peerid = DAEMON_ID;
  f->fake.conns = g_ptr_array_new_with_free_func ((GDestroyNotify)fake_conn_free);
  f->fake.accepted_at = g_array_new (FALSE, FALSE, sizeof (gint64));
  f->answers = g_array_new (FALSE, TRUE, sizeof (Answer));
  g_array_set_clear_func (f->answers, answer_clear);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_clear_pointer (&f->up, latch_upstream_free);
  fake_stop_listening (&f->fake);
  g_ptr_array_unref (f->fake.conns);
  g_array_unref (f->fake.accepted_at);
  g_array_unref (f->answers);
  g_clear_error (&f->down_reason);
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

/* The upstream, toward the fake daemon (made to listen unless a port is
 * set already). */
static void
start (Fixture *f, LatchSecurityLevel level, int session_timeout)
{
  LatchUpstreamConfig config = {
    .address = "127.0.0.1",
    .level = level,
    .session_timeout = session_timeout,
    .own_id = level == LATCH_SECURITY_CLEAR ? "" : MID,
  };

  if (level != LATCH_SECURITY_CLEAR)
    {
      config.tls = tls;
      config.creds = client_creds;
      f->fake.use_tls = TRUE;
    }
  if (f->fake.port == 0)
    fake_listen (&f->fake);
  config.port = f->fake.port;
  f->up = latch_upstream_new (&config, &owner_callbacks, f);
  g_assert_false (latch_upstream_is_up (f->up));
  g_assert_false (latch_upstream_is_legacy (f->up));
}

static void
lock (Fixture *f, guint64 id, const char *name)
{
  LatchLockReq req = { .name = name, .mode = LATCH_LOCK_MODE_EX, .quantity = 1, .wait = TRUE,
                       .create = TRUE };

  latch_upstream_lock (f->up, id, &req);
}

/* ---- session ----------------------------------------------------------------- */

static void
check_session (Fixture *f)
{
  FakeConn *fc;
  LatchMsg *m;

  /* Three requests at once: only the first goes before its answer. */
  f->fake.hold_first = TRUE;
  lock (f, 1, "one");
  lock (f, 2, "two");
  lock (f, 3, "three");
  WAIT_FOR (f->fake.conns->len == 1 && fake_conn (&f->fake, 0)->msgs->len >= 1);
  fc = fake_conn (&f->fake, 0);
  /* Whatever the agent sent with it is in the socket already. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpuint (fc->msgs->len, ==, 1);
  g_assert_cmpuint (f->answers->len, ==, 0);
  g_assert_false (latch_upstream_is_up (f->up));
  f->fake.hold_first = FALSE;
  fake_answer (fc, LATCH_STEP_FIRST_ANSWER, LATCH_RC_OK, 1);
  WAIT_FOR (f->answers->len == 3);
  g_assert_cmpuint (f->fake.conns->len, ==, 1);
  g_assert_cmpuint (fc->msgs->len, ==, 3);
  m = fake_msg (fc, 0);
  g_assert_cmpint (m->kind, ==, LATCH_MSG_LOCK_REQUEST);
  g_assert_cmpstr (m->name, ==, "one");
  g_assert_cmpint (m->ext, ==, 1);
  g_assert_cmpint (m->timeout, ==, 2000);
  g_assert_cmpuint (m->id, ==, 1);
  for (guint i = 1; i < 3; i++)
    {
      m = fake_msg (fc, i);
      g_assert_cmpint (m->ext, ==, 0);
      g_assert_cmpint (m->timeout, ==, 0);
      g_assert_cmpuint (m->id, ==, i + 1);
    }
  for (guint i = 0; i < 3; i++)
    {
      assert_answer (f, i, i + 1, TRUE, LATCH_RC_OK);
      g_assert_true (answer_at (f, i)->has_fence);
    }
  g_assert_true (latch_upstream_is_up (f->up));
  g_assert_false (latch_upstream_is_legacy (f->up));
  g_assert_cmpint (f->n_up, ==, 1);

  /* Queued, then granted by a later answer. */
  lock (f, 4, "q4");
  WAIT_FOR (f->answers->len == 4);
  assert_answer (f, 3, 4, TRUE, LATCH_RC_LOCK_ENQUEUED);
  fake_answer (fc, LATCH_STEP_LATER_ANSWER, LATCH_RC_OK, 4);
  WAIT_FOR (f->answers->len == 5);
  assert_answer (f, 4, 4, FALSE, LATCH_RC_OK);

  /* Loss of a held lock: passed through, and the id is finished. */
  fake_answer (fc, LATCH_STEP_LATER_ANSWER, LATCH_RC_CONNECTION_CLOSED, 1);
  WAIT_FOR (f->answers->len == 6);
  assert_answer (f, 5, 1, FALSE, LATCH_RC_CONNECTION_CLOSED);

  /* Unlock of a held id: 2/8 with its id and name. */
  latch_upstream_unlock (f->up, 2, "two", TRUE);
  WAIT_FOR (fc->msgs->len == 5);
  m = fake_msg (fc, 4);
  g_assert_cmpint (m->kind, ==, LATCH_MSG_UNLOCK);
  g_assert_cmpstr (m->name, ==, "two");
  g_assert_true (m->rollback);
  g_assert_cmpuint (m->id, ==, 2);

  /* Cancel of a pending id; a grant crossing it is not reported; nor is
   * anything for an id already finished. */
  lock (f, 5, "q5");
  WAIT_FOR (f->answers->len == 7);
  assert_answer (f, 6, 5, TRUE, LATCH_RC_LOCK_ENQUEUED);
  latch_upstream_unlock (f->up, 5, "q5", FALSE);
  WAIT_FOR (fc->msgs->len == 7);
  m = fake_msg (fc, 6);
  g_assert_cmpint (m->kind, ==, LATCH_MSG_UNLOCK);
  g_assert_cmpuint (m->id, ==, 5);
  fake_answer (fc, LATCH_STEP_LATER_ANSWER, LATCH_RC_OK, 5);
  fake_answer (fc, LATCH_STEP_LATER_ANSWER, LATCH_RC_OK, 1);
  fake_answer (fc, LATCH_STEP_LATER_ANSWER, LATCH_RC_OK, 99);
  /* A ping after them: once it is answered, they were all read. */
  {
    g_autoptr (LatchMsg) ping = latch_msg_new (LATCH_MSG_PING, LATCH_STEP_REQUEST);
    guint pings = count_kind (fc, LATCH_MSG_PING, LATCH_STEP_FIRST_ANSWER);

    fake_send (fc, ping);
    WAIT_FOR (count_kind (fc, LATCH_MSG_PING, LATCH_STEP_FIRST_ANSWER) == pings + 1);
  }
  g_assert_cmpuint (f->answers->len, ==, 7);

  /* A refusal finishes its id only: the session goes on. */
  lock (f, 6, "x6");
  lock (f, 7, "seven");
  WAIT_FOR (f->answers->len == 9);
  assert_answer (f, 7, 6, TRUE, LATCH_RC_LIMIT_LOCKS_PER_CONNECTION);
  assert_answer (f, 8, 7, TRUE, LATCH_RC_OK);
  latch_upstream_unlock (f->up, 6, "x6", FALSE); /* not live: nothing sent */
  latch_upstream_unlock (f->up, 7, "seven", FALSE);
  WAIT_FOR (fc->msgs->len == 11);
  g_assert_cmpuint (fake_msg (fc, 10)->id, ==, 7);
  g_assert_cmpint (f->n_down, ==, 0);
  g_assert_cmpuint (f->fake.conns->len, ==, 1);
}

/* The offer unlocked before its answer: nothing else may be said before
 * that answer; then it is released (2/8 with its id) without a word to
 * the owner, and the next request goes. */
static void
test_offer_cancelled (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  FakeConn *fc;
  LatchMsg *m;

  start (f, LATCH_SECURITY_CLEAR, 2000);
  f->fake.hold_first = TRUE;
  lock (f, 1, "one");
  WAIT_FOR (f->fake.conns->len == 1 && fake_conn (&f->fake, 0)->msgs->len >= 1);
  fc = fake_conn (&f->fake, 0);
  latch_upstream_unlock (f->up, 1, "one", TRUE);
  lock (f, 2, "two");
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpuint (fc->msgs->len, ==, 1);
  fake_answer (fc, LATCH_STEP_FIRST_ANSWER, LATCH_RC_OK, 1);
  WAIT_FOR (f->answers->len == 1);
  assert_answer (f, 0, 2, TRUE, LATCH_RC_OK);
  g_assert_cmpuint (fc->msgs->len, ==, 3);
  m = fake_msg (fc, 1);
  g_assert_cmpint (m->kind, ==, LATCH_MSG_UNLOCK);
  g_assert_cmpuint (m->id, ==, 1);
  g_assert_true (m->rollback);
  m = fake_msg (fc, 2);
  g_assert_cmpint (m->kind, ==, LATCH_MSG_LOCK_REQUEST);
  g_assert_cmpuint (m->id, ==, 2);
  g_assert_cmpint (m->ext, ==, 0);
}

static void
test_session (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  start (f, LATCH_SECURITY_CLEAR, 2000);
  check_session (f);
}

static void
test_tls_mutual (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  LATCH_TEST_REQUIRE_CERTS (certs_dir);
  /* The fake daemon's certificate (peer1_ca1) names MID. */
  f->fake.peerid = MID;
  start (f, LATCH_SECURITY_MUTUAL, 2000);
  check_session (f);
}

/* The daemon announces an ID that is not its certificate's: refused,
 * nothing granted reported, down_cb names both IDs. */
static void
test_tls_peer_id (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  LATCH_TEST_REQUIRE_CERTS (certs_dir);
  f->fake.peerid = OTHER_ID;
  start (f, LATCH_SECURITY_MUTUAL, 2000);
  lock (f, 1, "one");
  lock (f, 2, "two");
  WAIT_FOR (f->n_down == 1);
  g_assert_cmpuint (f->answers->len, ==, 0);
  g_assert_false (latch_upstream_is_up (f->up));
  g_assert_nonnull (strstr (f->down_reason->message, OTHER_ID));
  g_assert_nonnull (strstr (f->down_reason->message, MID));
  g_assert_nonnull (strstr (f->down_reason->message, latch_upstream_label (f->up)));
  /* The second request never went. */
  g_assert_cmpuint (fake_conn (&f->fake, 0)->msgs->len, ==, 1);
  WAIT_FOR (fake_conn (&f->fake, 0)->conn == NULL);
}

/* The daemon's certificate is from a CA the agent does not trust: the
 * handshake fails, down_cb explains it (the TLS module's words). */
static void
test_tls_refused (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  LATCH_TEST_REQUIRE_CERTS (certs_dir);
  f->fake.creds = other_ca_creds;
  start (f, LATCH_SECURITY_MUTUAL, 2000);
  lock (f, 1, "one");
  WAIT_FOR (f->n_down == 1);
  g_assert_cmpuint (f->answers->len, ==, 0);
  g_assert_error (f->down_reason, LATCH_ERROR, LATCH_ERROR_TLS_VERIFY);
  /* Named once, with what is wrong. */
  g_assert_nonnull (strstr (f->down_reason->message, latch_upstream_label (f->up)));
  g_assert_null (strstr (strstr (f->down_reason->message, latch_upstream_label (f->up)) + 1,
                         latch_upstream_label (f->up)));
  g_assert_nonnull (strstr (f->down_reason->message, "is not signed by a CA"));
  /* Nothing was said in clear or otherwise. */
  g_assert_cmpuint (fake_conn (&f->fake, 0)->msgs->len, ==, 0);
}

/* ---- keepalive ------------------------------------------------------------------ */

static void
test_keepalive (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  FakeConn *fc;
  gint64 silent_at;
  guint pings;

  start (f, LATCH_SECURITY_CLEAR, 400);
  lock (f, 1, "one");
  WAIT_FOR (f->answers->len == 1);
  fc = fake_conn (&f->fake, 0);
  /* Idle: a ping every 100 ms or so, answered: the session lives. */
  run_for (700);
  pings = count_kind (fc, LATCH_MSG_PING, LATCH_STEP_REQUEST);
  g_assert_cmpuint (pings, >=, 3);
  g_assert_cmpuint (pings, <=, 8);
  g_assert_cmpint (f->n_down, ==, 0);
  /* The daemon stops answering: dead 400 ms after its last message,
   * never earlier. */
  f->fake.silent = TRUE;
  silent_at = now_ms ();
  WAIT_FOR_MS (f->n_down == 1, 1500);
  g_assert_cmpint (f->down_at - f->fake.last_sent_at, >=, 400);
  g_assert_cmpint (f->down_at - silent_at, <=, 1000);
  g_assert_error (f->down_reason, LATCH_ERROR, LATCH_ERROR_TIMEOUT);
  g_assert_nonnull (strstr (f->down_reason->message, "no answer for"));
  g_assert_nonnull (strstr (f->down_reason->message, latch_upstream_label (f->up)));
  g_assert_false (latch_upstream_is_up (f->up));
  /* Its lock is gone with it: nothing more for id 1. */
  g_assert_cmpuint (f->answers->len, ==, 1);
  WAIT_FOR (fc->conn == NULL);
}

/* Traffic counts: requests sent often enough leave no room for pings. */
static void
test_keepalive_busy (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  FakeConn *fc;

  start (f, LATCH_SECURITY_CLEAR, 800);
  lock (f, 1, "one");
  WAIT_FOR (f->answers->len == 1);
  fc = fake_conn (&f->fake, 0);
  for (guint64 id = 2; id < 12; id++)
    {
      guint n = f->answers->len;

      run_for (50);
      lock (f, id, "one-more");
      WAIT_FOR (f->answers->len == n + 1);
    }
  g_assert_cmpuint (count_kind (fc, LATCH_MSG_PING, LATCH_STEP_REQUEST), ==, 0);
}

/* ---- retry ---------------------------------------------------------------------------- */

/* The session ends while a request sent on it has no answer: that request
 * goes again, once, on the next session (its offer); the ids answered
 * already (held, queued) are lost, each by its own answer, and no
 * down_cb comes.  A request whose second session ends too before its
 * answer is not sent a third time. */
static void
test_retry (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  FakeConn *c0, *c1, *c2;

  start (f, LATCH_SECURITY_CLEAR, 2000);
  lock (f, 1, "one");
  lock (f, 2, "q2");
  WAIT_FOR (f->answers->len == 2);
  assert_answer (f, 0, 1, TRUE, LATCH_RC_OK);
  assert_answer (f, 1, 2, TRUE, LATCH_RC_LOCK_ENQUEUED);
  c0 = fake_conn (&f->fake, 0);

  f->fake.close_c = 1;
  lock (f, 3, "c3");
  WAIT_FOR (f->answers->len == 5);
  /* The answered ones lost (in either order), then c3 granted on the
   * next session, where it is the offer. */
  for (guint i = 2; i < 4; i++)
    {
      Answer *a = answer_at (f, i);

      g_assert_true (a->id == 1 || a->id == 2);
      g_assert_false (a->first);
      g_assert_cmpint (a->rc, ==, LATCH_RC_CONNECTION_CLOSED);
      g_assert_nonnull (a->reason);
    }
  g_assert_cmpuint (answer_at (f, 2)->id, !=, answer_at (f, 3)->id);
  assert_answer (f, 4, 3, TRUE, LATCH_RC_OK);
  g_assert_cmpint (f->n_down, ==, 0);
  g_assert_null (c0->conn);
  g_assert_cmpuint (f->fake.conns->len, ==, 2);
  c1 = fake_conn (&f->fake, 1);
  g_assert_cmpuint (c1->msgs->len, ==, 1);
  g_assert_cmpuint (fake_msg (c1, 0)->id, ==, 3);
  g_assert_cmpint (fake_msg (c1, 0)->ext, ==, 1);
  g_assert_true (latch_upstream_is_up (f->up));

  /* Twice unanswered: the second end is the owner's (down_cb), and no
   * third attempt carries the request. */
  f->fake.close_c = 2;
  lock (f, 4, "c4");
  WAIT_FOR (f->n_down == 1);
  g_assert_cmpuint (f->fake.conns->len, >=, 3);
  c2 = fake_conn (&f->fake, 2);
  g_assert_cmpuint (c2->msgs->len, ==, 1);
  g_assert_cmpuint (fake_msg (c2, 0)->id, ==, 4);
  /* c3, held on the session that ended, was lost by its own answer. */
  g_assert_cmpuint (f->answers->len, ==, 6);
  assert_answer (f, 5, 3, FALSE, LATCH_RC_CONNECTION_CLOSED);
  run_for (300);
  for (guint i = 3; i < f->fake.conns->len; i++)
    g_assert_cmpuint (fake_conn (&f->fake, i)->msgs->len, ==, 0);
  g_assert_cmpuint (f->answers->len, ==, 6);
}

/* The retry is what explains: the daemon ends the session at a request
 * (it revoked our certificate), and the next handshake says why. */
static void
test_retry_tls (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  LATCH_TEST_REQUIRE_CERTS (certs_dir);
  f->fake.peerid = MID;
  start (f, LATCH_SECURITY_MUTUAL, 2000);
  lock (f, 1, "one");
  WAIT_FOR (f->answers->len == 1);
  assert_answer (f, 0, 1, TRUE, LATCH_RC_OK);
  f->fake.close_c = 1;
  f->fake.creds_after = other_ca_creds;
  lock (f, 2, "c2");
  WAIT_FOR (f->n_down == 1);
  g_assert_cmpuint (f->fake.conns->len, ==, 2);
  g_assert_error (f->down_reason, LATCH_ERROR, LATCH_ERROR_TLS_VERIFY);
  g_assert_nonnull (strstr (f->down_reason->message, "is not signed by a CA"));
  /* id 1 lost by its answer; id 2 by down_cb alone. */
  g_assert_cmpuint (f->answers->len, ==, 2);
  assert_answer (f, 1, 1, FALSE, LATCH_RC_CONNECTION_CLOSED);
}

/* ---- backoff ------------------------------------------------------------------------ */

static void
test_backoff (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  GArray *at = f->fake.accepted_at;
  gint64 asked;

  start (f, LATCH_SECURITY_CLEAR, 2000);
  lock (f, 1, "one");
  WAIT_FOR (f->answers->len == 1);
  /* The daemon goes away (its connections reset from now on). */
  f->fake.reset = TRUE;
  latch_conn_abort (fake_conn (&f->fake, 0)->conn, NULL);
  WAIT_FOR (f->n_down == 1);
  g_assert_error (f->down_reason, LATCH_ERROR, LATCH_ERROR_CONNECTION_CLOSED);
  WAIT_FOR (at->len == 4);
  /* 100, 200, 400 ms apart (timers may be late, never early). */
  g_assert_cmpint (g_array_index (at, gint64, 2) - g_array_index (at, gint64, 1), >=, 190);
  g_assert_cmpint (g_array_index (at, gint64, 3) - g_array_index (at, gint64, 2), >=, 390);
  g_assert_cmpint (g_array_index (at, gint64, 2) - g_array_index (at, gint64, 1), <, 390);
  /* Nothing was at stake in those: no more down_cb. */
  g_assert_cmpint (f->n_down, ==, 1);
  /* The next attempt is 800 ms away; a request connects at once.  (The
   * reset of the last attempt is in the client's socket already, over
   * loopback: the loop sees it without waiting.) */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  f->fake.reset = FALSE;
  asked = now_ms ();
  lock (f, 2, "two");
  WAIT_FOR (f->answers->len == 2);
  g_assert_cmpint (now_ms () - asked, <, 400);
  assert_answer (f, 1, 2, TRUE, LATCH_RC_OK);
  g_assert_cmpuint (at->len, ==, 5);
  g_assert_cmpint (f->n_up, ==, 2);
}

/* ---- legacy (FLoM) --------------------------------------------------------------- */

static void
test_legacy (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  FakeConn *c1, *c2, *c3;

  f->fake.legacy = TRUE;
  start (f, LATCH_SECURITY_CLEAR, 200);
  lock (f, 1, "one");
  lock (f, 2, "two");
  WAIT_FOR (f->answers->len == 2);
  g_assert_true (latch_upstream_is_legacy (f->up));
  assert_answer (f, 0, 1, TRUE, LATCH_RC_OK);
  assert_answer (f, 1, 2, TRUE, LATCH_RC_OK);
  /* One connection per lock, one request on each. */
  g_assert_cmpuint (f->fake.conns->len, ==, 2);
  c1 = fake_conn (&f->fake, 0);
  c2 = fake_conn (&f->fake, 1);
  g_assert_cmpuint (c1->msgs->len, ==, 1);
  g_assert_cmpuint (c2->msgs->len, ==, 1);
  g_assert_cmpstr (fake_msg (c1, 0)->name, ==, "one");
  g_assert_cmpstr (fake_msg (c2, 0)->name, ==, "two");
  /* Only the offer carried the extension; no ids for FLoM after it. */
  g_assert_cmpint (fake_msg (c1, 0)->ext, ==, 1);
  g_assert_cmpint (fake_msg (c2, 0)->ext, ==, 0);
  g_assert_cmpuint (fake_msg (c2, 0)->id, ==, 0);

  /* No pings to a FLoM daemon (its session timeout would be 200 ms). */
  run_for (300);
  g_assert_cmpuint (c1->msgs->len, ==, 1);
  g_assert_cmpuint (c2->msgs->len, ==, 1);

  /* Unlock: 2/8, then the connection closes. */
  latch_upstream_unlock (f->up, 1, "one", FALSE);
  WAIT_FOR (c1->conn == NULL);
  g_assert_cmpuint (c1->msgs->len, ==, 2);
  g_assert_cmpint (fake_msg (c1, 1)->kind, ==, LATCH_MSG_UNLOCK);
  g_assert_cmpstr (fake_msg (c1, 1)->name, ==, "one");

  /* The daemon closes a held lock's connection: that lock is lost. */
  latch_conn_abort (c2->conn, NULL);
  WAIT_FOR (f->answers->len == 3);
  assert_answer (f, 2, 2, FALSE, LATCH_RC_CONNECTION_CLOSED);
  g_assert_nonnull (strstr (answer_at (f, 2)->reason, latch_upstream_label (f->up)));

  /* A pending lock withdrawn: its connection closes, nothing said. */
  lock (f, 3, "q3");
  WAIT_FOR (f->answers->len == 4);
  assert_answer (f, 3, 3, TRUE, LATCH_RC_LOCK_ENQUEUED);
  c3 = fake_conn (&f->fake, 2);
  latch_upstream_unlock (f->up, 3, "q3", FALSE);
  WAIT_FOR (c3->conn == NULL);
  g_assert_cmpuint (c3->msgs->len, ==, 1);

  /* The daemon is gone: a lock is refused with rc 7 and the reason. */
  fake_stop_listening (&f->fake);
  lock (f, 4, "four");
  WAIT_FOR (f->answers->len == 5);
  assert_answer (f, 4, 4, TRUE, LATCH_RC_CONNECTION_REFUSED);
  g_assert_nonnull (strstr (answer_at (f, 4)->reason, "connect: "));
  g_assert_cmpint (f->n_down, ==, 0);
  g_assert_cmpuint (f->answers->len, ==, 5);
}

/* ---- refused --------------------------------------------------------------------------- */

static void
test_refused (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autofree char *expect = NULL;

  /* A port just listened on and closed: nobody there. */
  fake_listen (&f->fake);
  fake_stop_listening (&f->fake);
  start (f, LATCH_SECURITY_CLEAR, 2000);
  lock (f, 1, "one");
  WAIT_FOR (f->n_down == 1);
  g_assert_cmpuint (f->answers->len, ==, 0);
  expect = g_strdup_printf ("the daemon at 127.0.0.1 port %d: connect: %s", f->fake.port,
                            g_strerror (ECONNREFUSED));
  g_assert_cmpstr (f->down_reason->message, ==, expect);
  g_assert_false (latch_upstream_is_up (f->up));
}

/* ---- main ---------------------------------------------------------------------------- */

static LatchTlsCreds *
load_creds (LatchTlsRole role, const char *name, const char *ca_name, LatchSecurityLevel level)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *pem = g_strdup_printf ("%s/%s.pem", certs_dir, name);
  g_autofree char *key = g_strdup_printf ("%s/%s.key", certs_dir, name);
  g_autofree char *ca = g_strdup_printf ("%s/%s.pem", certs_dir, ca_name);
  LatchTlsSettings s = {
    .level = level,
    .certificate = pem,
    .private_key = key,
    .ca_certificate = ca,
    .check_peer_id = level == LATCH_SECURITY_MUTUAL,
    .require_client_cert = TRUE,
  };
  LatchTlsCreds *creds = tls->creds_new (&s, role, level, MID, NULL, &error);

  g_assert_no_error (error);
  return creds;
}

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

int
main (int argc, char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  latch_log_set_debug (TRUE);
  tls = latch_tls_module ();
  certs_dir = latch_test_make_certs ("test-upstream", MID);
  if (certs_dir != NULL)
    {
      server_creds = load_creds (LATCH_TLS_SERVER, "peer1_ca1", "ca1", LATCH_SECURITY_CHANNEL);
      other_ca_creds = load_creds (LATCH_TLS_SERVER, "peer1_ca2", "ca1",
                                   LATCH_SECURITY_CHANNEL);
      client_creds = load_creds (LATCH_TLS_CLIENT, "peer2_ca1", "ca1", LATCH_SECURITY_MUTUAL);
    }

  ADD ("/upstream/session", test_session);
  ADD ("/upstream/offer-cancelled", test_offer_cancelled);
  ADD ("/upstream/tls/mutual", test_tls_mutual);
  ADD ("/upstream/tls/peer-id", test_tls_peer_id);
  ADD ("/upstream/tls/refused", test_tls_refused);
  ADD ("/upstream/keepalive/dead", test_keepalive);
  ADD ("/upstream/keepalive/busy", test_keepalive_busy);
  ADD ("/upstream/retry", test_retry);
  ADD ("/upstream/retry-tls", test_retry_tls);
  ADD ("/upstream/backoff", test_backoff);
  ADD ("/upstream/legacy", test_legacy);
  ADD ("/upstream/refused", test_refused);

  ret = g_test_run ();
  g_clear_pointer (&server_creds, tls->creds_free);
  g_clear_pointer (&client_creds, tls->creds_free);
  g_clear_pointer (&other_ca_creds, tls->creds_free);
  if (certs_dir != NULL)
    g_assert_true (latch_test_rm_rf (certs_dir));
  g_free (certs_dir);
  return ret;
}
