/* test-tls.c: settings resolution, credentials, and real handshakes
 * between a client and a server session over a socketpair in one thread.
 *
 * Certificates come from tests/tls-certs.sh (certtool), made once per run
 * in a temporary directory for the fixed machine ID MID, so that nothing
 * depends on the host.  Without certtool the TLS tests are skipped.
 * Some peers are raw GnuTLS sessions: latch itself refuses to load an
 * expired or weak certificate, so only a raw peer can present one. */

#include "config.h"

#include "tls/tls.h"

#include "common/error.h"
#include "scratch.h"

#include <gnutls/gnutls.h>

#include <errno.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define MID "0123456789abcdef0123456789abcdef"
#define OTHER_ID "00112233445566778899aabbccddeeff" /* peer3_ca1's CN */

static const LatchTlsModule *tls;
static char *certs_dir; /* NULL: no certificates (no certtool) */

/* ---- fixture ----------------------------------------------------------- */

enum
{
  C, /* the client side */
  S, /* the server side */
};

typedef struct
{
  LatchTlsSession *tls;  /* a latch session, or */
  gnutls_session_t raw;  /* a raw GnuTLS one */
  int fd;
  gboolean done;         /* OK or FAILED */
  LatchTlsStatus status;
  GError *error;
  int raw_ret;
} Side;

typedef struct
{
  GPtrArray *garbage;  /* strings freed at tear-down */
  char *dir;           /* scratch files */
  LatchTlsCreds *creds[2];
  gnutls_certificate_credentials_t raw_cred;
  Side side[2];
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (GError) error = NULL;

  f->garbage = g_ptr_array_new_with_free_func (g_free);
  f->dir = g_dir_make_tmp ("test-tls-scratch-XXXXXX", &error);
  g_assert_no_error (error);
  f->side[C].fd = f->side[S].fd = -1;
}

static void
fixture_tear_down (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  for (int i = 0; i < 2; i++)
    {
      Side *side = &f->side[i];

      g_clear_pointer (&side->tls, tls->session_free);
      if (side->raw != NULL)
        gnutls_deinit (side->raw);
      if (side->fd >= 0)
        close (side->fd);
      g_clear_error (&side->error);
      g_clear_pointer (&f->creds[i], tls->creds_free);
    }
  if (f->raw_cred != NULL)
    gnutls_certificate_free_credentials (f->raw_cred);
  g_assert_true (latch_test_rm_rf (f->dir));
  g_free (f->dir);
  g_ptr_array_unref (f->garbage);
}

#define REQUIRE_CERTS() LATCH_TEST_REQUIRE_CERTS (certs_dir)

/* certs_dir/NAME.EXT, freed with the fixture. */
static const char *
cert (Fixture *f, const char *name, const char *ext)
{
  char *path = g_strdup_printf ("%s/%s.%s", certs_dir, name, ext);

  g_ptr_array_add (f->garbage, path);
  return path;
}

/* A scratch file with text and mode (transfer none). */
static const char *
scratch (Fixture *f, const char *name, const char *text, int mode)
{
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (f->dir, name, NULL);

  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (path, mode), ==, 0);
  g_ptr_array_add (f->garbage, path);
  return path;
}

/* Settings for a node NAME (NULL: no certificate) trusting CA. */
static LatchTlsSettings
node_settings (Fixture *f, const char *name, const char *ca)
{
  LatchTlsSettings s = { 0 };

  s.level = LATCH_SECURITY_DEFAULT;
  if (name != NULL)
    {
      s.certificate = cert (f, name, "pem");
      s.private_key = cert (f, name, "key");
    }
  s.ca_certificate = cert (f, ca, "pem");
  s.require_client_cert = TRUE;
  return s;
}

static LatchTlsCreds *
creds_ok (const LatchTlsSettings *s, LatchTlsRole role, LatchSecurityLevel level,
          const char *own_id)
{
  g_autoptr (GError) error = NULL;
  LatchTlsCreds *creds = tls->creds_new (s, role, level, own_id, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (creds);
  g_assert_cmpint (tls->creds_get_level (creds), ==, level);
  return creds;
}

static void
assert_message (const GError *error, const char *part)
{
  g_test_message ("message: %s", error->message);
  if (strstr (error->message, part) == NULL)
    g_error ("message '%s' lacks '%s'", error->message, part);
}

/* creds_new must fail with code, the message containing part. */
static void
creds_refused (const LatchTlsSettings *s, LatchTlsRole role, LatchSecurityLevel level,
               const char *own_id, int code, const char *part)
{
  g_autoptr (GError) error = NULL;
  LatchTlsCreds *creds = tls->creds_new (s, role, level, own_id, NULL, &error);

  g_assert_null (creds);
  g_assert_error (error, LATCH_ERROR, code);
  assert_message (error, part);
}

/* A socketpair, and a latch session on each side that has credentials
 * (the fixture takes them). */
static void
pair (Fixture *f, LatchTlsCreds *client, LatchTlsCreds *server)
{
  g_autoptr (GError) error = NULL;
  int fds[2];

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds),
                   ==, 0);
  f->side[C].fd = fds[0];
  f->side[S].fd = fds[1];
  f->creds[C] = client;
  f->creds[S] = server;
  if (client != NULL)
    {
      f->side[C].tls = tls->session_new (client, fds[0], "the daemon", &error);
      g_assert_no_error (error);
    }
  if (server != NULL)
    {
      f->side[S].tls = tls->session_new (server, fds[1], "the client", &error);
      g_assert_no_error (error);
    }
}

/* A latch client presenting NAME (NULL: none); the server's end of the
 * socket is the test's. */
static void
pair_client_only (Fixture *f, const char *name)
{
  LatchTlsSettings cs = node_settings (f, name, "ca1");

  pair (f, creds_ok (&cs, LATCH_TLS_CLIENT, LATCH_SECURITY_CHANNEL, MID), NULL);
}

/* The usual case: both sides latch, settings from names. */
static void
pair_nodes (Fixture *f, const char *client, const char *client_ca, const char *server,
            const char *server_ca, LatchSecurityLevel level)
{
  LatchTlsSettings cs = node_settings (f, client, client_ca);
  LatchTlsSettings ss = node_settings (f, server, server_ca);

  pair (f, creds_ok (&cs, LATCH_TLS_CLIENT, level, MID),
        creds_ok (&ss, LATCH_TLS_SERVER, level, MID));
}

static ssize_t
raw_push (gnutls_transport_ptr_t ptr, const void *data, size_t len)
{
  return send (GPOINTER_TO_INT (ptr), data, len, MSG_NOSIGNAL);
}

/* The client side as a raw GnuTLS session presenting node NAME, verifying
 * nothing. */
static void
raw_client (Fixture *f, const char *name)
{
  gnutls_session_t raw;

  g_assert_cmpint (gnutls_certificate_allocate_credentials (&f->raw_cred), ==, 0);
  g_assert_cmpint (gnutls_certificate_set_x509_key_file2 (f->raw_cred, cert (f, name, "pem"),
                                                          cert (f, name, "key"),
                                                          GNUTLS_X509_FMT_PEM, NULL, 0),
                   >=, 0);
  g_assert_cmpint (gnutls_init (&raw, GNUTLS_CLIENT | GNUTLS_NO_TICKETS), ==, 0);
  g_assert_cmpint (gnutls_set_default_priority (raw), ==, 0);
  g_assert_cmpint (gnutls_credentials_set (raw, GNUTLS_CRD_CERTIFICATE, f->raw_cred), ==, 0);
  gnutls_transport_set_int (raw, f->side[C].fd);
  gnutls_transport_set_push_function (raw, raw_push);
  f->side[C].raw = raw;
}

static void
step (Side *side)
{
  if (side->done)
    return;
  if (side->tls != NULL)
    side->status = tls->handshake (side->tls, &side->error);
  else
    {
      int ret = gnutls_handshake (side->raw);

      if (ret == 0)
        side->status = LATCH_TLS_OK;
      else if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED)
        side->status = gnutls_record_get_direction (side->raw) ? LATCH_TLS_WANT_WRITE
                                                               : LATCH_TLS_WANT_READ;
      else
        {
          side->status = LATCH_TLS_FAILED;
          side->raw_ret = ret;
        }
    }
  if (side->status == LATCH_TLS_OK || side->status == LATCH_TLS_FAILED)
    side->done = TRUE;
  /* A failed side is gone: its peer reads its alert, then EOF. */
  if (side->status == LATCH_TLS_FAILED)
    shutdown (side->fd, SHUT_RDWR);
}

static void
wait_for (Side *sides, int n)
{
  struct pollfd pfd[2];
  int k = 0;

  for (int i = 0; i < n; i++)
    if (!sides[i].done && sides[i].fd >= 0)
      {
        pfd[k].fd = sides[i].fd;
        pfd[k].events = sides[i].status == LATCH_TLS_WANT_WRITE ? POLLOUT : POLLIN;
        k++;
      }
  if (k == 0)
    return;
  if (poll (pfd, k, 5000) <= 0)
    g_error ("handshake stalled");
}

/* Steps both sides, in turn, until each has succeeded or failed. */
static void
run_handshake (Fixture *f)
{
  for (int round = 0; round < 100; round++)
    {
      step (&f->side[C]);
      step (&f->side[S]);
      if (f->side[C].done && f->side[S].done)
        return;
      if (f->side[C].status == LATCH_TLS_WANT_READ || f->side[C].done)
        if (f->side[S].status == LATCH_TLS_WANT_READ || f->side[S].done)
          wait_for (f->side, 2);
    }
  g_error ("handshake did not finish");
}

static void
assert_ok (Side *side)
{
  g_assert_no_error (side->error);
  g_assert_cmpint (side->raw_ret, ==, 0);
  g_assert_cmpint (side->status, ==, LATCH_TLS_OK);
}

static void
assert_failed (Side *side, int code, const char *part)
{
  g_assert_cmpint (side->status, ==, LATCH_TLS_FAILED);
  g_assert_error (side->error, LATCH_ERROR, code);
  assert_message (side->error, part);
}

static void
send_all (Side *side, const char *text)
{
  gsize len = strlen (text), off = 0;

  while (off < len)
    {
      g_autoptr (GError) error = NULL;
      gsize sent = 0;
      LatchTlsStatus st = tls->send (side->tls, text + off, len - off, &sent, &error);

      g_assert_no_error (error);
      if (st == LATCH_TLS_OK)
        off += sent;
      else
        {
          side->status = st;
          wait_for (side, 1);
        }
    }
}

/* Reads into buf until len bytes or EOF; returns the count. */
static gsize
recv_upto (Side *side, char *buf, gsize len)
{
  gsize off = 0;

  while (off < len)
    {
      g_autoptr (GError) error = NULL;
      gsize got = 0;
      LatchTlsStatus st = tls->recv (side->tls, buf + off, len - off, &got, &error);

      g_assert_no_error (error);
      if (st == LATCH_TLS_OK && got == 0)
        break;
      if (st == LATCH_TLS_OK)
        off += got;
      else
        {
          side->status = st;
          wait_for (side, 1);
        }
    }
  return off;
}

/* Data both ways. */
static void
exchange (Fixture *f)
{
  char buf[16] = { 0 };

  send_all (&f->side[C], "hello, daemon");
  g_assert_cmpuint (recv_upto (&f->side[S], buf, 13), ==, 13);
  g_assert_cmpstr (buf, ==, "hello, daemon");
  g_assert_cmpuint (tls->pending (f->side[S].tls), ==, 0);
  memset (buf, 0, sizeof buf);
  send_all (&f->side[S], "hello, client");
  g_assert_cmpuint (recv_upto (&f->side[C], buf, 13), ==, 13);
  g_assert_cmpstr (buf, ==, "hello, client");
}

/* The first read after a handshake the peer refused late (TLS 1.3: the
 * server's verdict on the client's certificate arrives after the client's
 * handshake completed). */
static void
recv_fails (Side *side, int code, const char *part)
{
  g_autoptr (GError) error = NULL;
  char buf[64];

  for (int i = 0; i < 100; i++)
    {
      gsize got = 0;
      LatchTlsStatus st = tls->recv (side->tls, buf, sizeof buf, &got, &error);

      if (st == LATCH_TLS_FAILED)
        {
          g_assert_error (error, LATCH_ERROR, code);
          assert_message (error, part);
          return;
        }
      g_assert_no_error (error);
      g_assert_true (st != LATCH_TLS_OK);
      side->status = st;
      wait_for (side, 1);
    }
  g_error ("no error on read");
}

/* The alert a raw client gets (during or after its handshake). */
static int
raw_alert (Side *side)
{
  char buf[64];

  if (side->status == LATCH_TLS_FAILED)
    {
      g_assert_cmpint (side->raw_ret, ==, GNUTLS_E_FATAL_ALERT_RECEIVED);
      return gnutls_alert_get (side->raw);
    }
  for (int i = 0; i < 100; i++)
    {
      ssize_t ret = gnutls_record_recv (side->raw, buf, sizeof buf);

      if (ret == GNUTLS_E_AGAIN)
        {
          side->status = LATCH_TLS_WANT_READ;
          side->done = FALSE;
          wait_for (side, 1);
          continue;
        }
      g_assert_cmpint (ret, ==, GNUTLS_E_FATAL_ALERT_RECEIVED);
      return gnutls_alert_get (side->raw);
    }
  g_error ("no alert");
  return -1;
}

static void
assert_describe (LatchTlsSession *session, const char *expected)
{
  g_autofree char *text = tls->describe (session);

  g_test_message ("describe: %s", text);
  g_assert_cmpstr (text, ==, expected);
}

/* ---- settings (tls-settings.c) ------------------------------------------ */

static void
test_settings_levels (void)
{
  LatchTlsSettings s = { .require_client_cert = TRUE };
  LatchSecurityLevel level = LATCH_SECURITY_DEFAULT;
  g_autoptr (GError) error = NULL;

  g_assert_true (latch_tls_settings_resolve (&s, LATCH_TLS_CLIENT, &level, &error));
  g_assert_no_error (error);
  g_assert_cmpint (level, ==, LATCH_SECURITY_CLEAR);

  s.certificate = "/c.pem";
  s.private_key = "/c.key";
  s.ca_certificate = "/ca.pem";
  g_assert_true (latch_tls_settings_resolve (&s, LATCH_TLS_SERVER, &level, &error));
  g_assert_cmpint (level, ==, LATCH_SECURITY_CHANNEL);
  s.check_peer_id = TRUE;
  g_assert_true (latch_tls_settings_resolve (&s, LATCH_TLS_SERVER, &level, &error));
  g_assert_cmpint (level, ==, LATCH_SECURITY_MUTUAL);
  g_assert_no_error (error);
  g_assert_cmpstr (latch_security_level_name (LATCH_SECURITY_MUTUAL), ==, "mutual");
}

static void
test_settings_partial (void)
{
  LatchTlsSettings s = { .require_client_cert = TRUE, .certificate = "/c.pem" };
  LatchSecurityLevel level = LATCH_SECURITY_DEFAULT;
  g_autoptr (GError) error = NULL;

  g_assert_false (latch_tls_settings_resolve (&s, LATCH_TLS_CLIENT, &level, &error));
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION);
  assert_message (error, "TlsPrivateKey (--tls-private-key) and TlsCaCertificate "
                         "(--tls-ca-certificate) are missing");
  assert_message (error, "never falls back to clear text");
  g_assert_cmpint (level, ==, LATCH_SECURITY_DEFAULT); /* untouched */
  g_clear_error (&error);

  /* The CRL alone is not a TLS configuration either. */
  s.certificate = NULL;
  s.crl = "/ca.crl";
  g_assert_false (latch_tls_settings_resolve (&s, LATCH_TLS_SERVER, &level, &error));
  assert_message (error, "TlsCrl (--tls-crl) given without TLS certificates");
}

static void
test_settings_clear_with_files (void)
{
  LatchTlsSettings s = { .level = LATCH_SECURITY_CLEAR, .require_client_cert = TRUE,
                         .ca_certificate = "/ca.pem" };
  LatchSecurityLevel level = LATCH_SECURITY_DEFAULT;
  g_autoptr (GError) error = NULL;

  g_assert_false (latch_tls_settings_resolve (&s, LATCH_TLS_CLIENT, &level, &error));
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION);
  assert_message (error, "SecurityLevel is clear but TlsCaCertificate");
}

static void
test_settings_channel_client_ca_only (void)
{
  LatchTlsSettings s = { .level = LATCH_SECURITY_CHANNEL, .require_client_cert = TRUE,
                         .ca_certificate = "/ca.pem" };
  LatchSecurityLevel level = LATCH_SECURITY_DEFAULT;
  g_autoptr (GError) error = NULL;

  g_assert_true (latch_tls_settings_resolve (&s, LATCH_TLS_CLIENT, &level, &error));
  g_assert_no_error (error);
  g_assert_cmpint (level, ==, LATCH_SECURITY_CHANNEL);

  /* ... but not a server: it needs its own certificate. */
  g_assert_false (latch_tls_settings_resolve (&s, LATCH_TLS_SERVER, &level, &error));
  assert_message (error, "TlsCertificate (--tls-certificate) and TlsPrivateKey "
                         "(--tls-private-key) are missing");
  g_clear_error (&error);

  /* Allow-lists need the mutual level. */
  s.allowed_peers = "/allowed";
  g_assert_false (latch_tls_settings_resolve (&s, LATCH_TLS_CLIENT, &level, &error));
  assert_message (error, "TlsAllowedPeers needs --security-level=mutual");
}

/* ---- handshakes ---------------------------------------------------------- */

static void
test_channel (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  REQUIRE_CERTS ();
  pair_nodes (f, "peer2_ca1", "ca1", "peer1_ca1", "ca1", LATCH_SECURITY_CHANNEL);
  run_handshake (f);
  assert_ok (&f->side[C]);
  assert_ok (&f->side[S]);
  exchange (f);
  /* The default priority: TLS 1.3, AES-256-GCM first. */
  assert_describe (f->side[C].tls, "TLS1.3 AES-256-GCM, peer CN " MID);
  assert_describe (f->side[S].tls, "TLS1.3 AES-256-GCM, peer CN " MID);
  /* Identity is not checked below the mutual level. */
  g_assert_true (tls->check_peer_id (f->side[S].tls, "anything", NULL));
}

static void
test_mutual (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (GError) error = NULL;

  REQUIRE_CERTS ();
  pair_nodes (f, "peer2_ca1", "ca1", "peer1_ca1", "ca1", LATCH_SECURITY_MUTUAL);
  run_handshake (f);
  assert_ok (&f->side[C]);
  assert_ok (&f->side[S]);
  exchange (f);
  g_assert_true (tls->check_peer_id (f->side[S].tls, MID, &error));
  g_assert_true (tls->check_peer_id (f->side[C].tls, MID, &error));
  g_assert_no_error (error);
  /* Case matters. */
  g_assert_false (tls->check_peer_id (f->side[C].tls, "0123456789ABCDEF0123456789ABCDEF",
                                      &error));
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_TLS_PEER_ID);
}

static void
test_bye (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  char buf[8];

  REQUIRE_CERTS ();
  pair_nodes (f, "peer2_ca1", "ca1", "peer1_ca1", "ca1", LATCH_SECURITY_CHANNEL);
  run_handshake (f);
  assert_ok (&f->side[C]);
  assert_ok (&f->side[S]);
  tls->bye (f->side[C].tls);
  tls->bye (f->side[C].tls); /* once */
  g_assert_cmpuint (recv_upto (&f->side[S], buf, sizeof buf), ==, 0);

  /* EOF without close_notify is an end of stream too. */
  shutdown (f->side[S].fd, SHUT_WR);
  g_assert_cmpuint (recv_upto (&f->side[C], buf, sizeof buf), ==, 0);
}

static void
test_tls12 (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  LatchTlsSettings cs, ss;

  REQUIRE_CERTS ();
  cs = node_settings (f, "peer2_ca1", "ca1");
  ss = node_settings (f, "peer1_ca1", "ca1");
  cs.priority = "NORMAL:-VERS-ALL:+VERS-TLS1.2";
  pair (f, creds_ok (&cs, LATCH_TLS_CLIENT, LATCH_SECURITY_CHANNEL, MID),
        creds_ok (&ss, LATCH_TLS_SERVER, LATCH_SECURITY_CHANNEL, MID));
  run_handshake (f);
  assert_ok (&f->side[C]);
  assert_ok (&f->side[S]);
  exchange (f);
  assert_describe (f->side[C].tls, "TLS1.2 AES-256-GCM, peer CN " MID);
}

/* Key types other than P-256, each as server and as client. */
static void
test_key_types (Fixture *f, gconstpointer data)
{
  const char *name = data;
  g_autofree char *expected = g_strdup_printf ("TLS1.3 AES-256-GCM, peer CN %s", MID);

  REQUIRE_CERTS ();
  pair_nodes (f, name, "ca1", name, "ca1", LATCH_SECURITY_MUTUAL);
  run_handshake (f);
  assert_ok (&f->side[C]);
  assert_ok (&f->side[S]);
  exchange (f);
  assert_describe (f->side[C].tls, expected);
  g_assert_true (tls->check_peer_id (f->side[S].tls, MID, NULL));
}

/* The server sends leaf + intermediate; the client trusts only CA1. */
static void
test_chain (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  REQUIRE_CERTS ();
  pair_nodes (f, "chained_ca1", "ca1", "chained_ca1", "ca1", LATCH_SECURITY_MUTUAL);
  run_handshake (f);
  assert_ok (&f->side[C]);
  assert_ok (&f->side[S]);
  g_assert_true (tls->check_peer_id (f->side[C].tls, MID, NULL));
}

/* ---- refusals -------------------------------------------------------------- */

/* The client does not trust the server's CA. */
static void
test_wrong_ca_client (Fixture *f, gconstpointer data)
{
  const char *priority = data;
  LatchTlsSettings cs, ss;
  g_autofree char *part = NULL;

  REQUIRE_CERTS ();
  cs = node_settings (f, "peer2_ca2", "ca2");
  ss = node_settings (f, "peer1_ca1", "ca1");
  cs.priority = priority;
  pair (f, creds_ok (&cs, LATCH_TLS_CLIENT, LATCH_SECURITY_CHANNEL, MID),
        creds_ok (&ss, LATCH_TLS_SERVER, LATCH_SECURITY_CHANNEL, MID));
  run_handshake (f);
  part = g_strdup_printf ("the certificate of the daemon (CN %s) is not signed by a CA in %s", MID,
                          cs.ca_certificate);
  assert_failed (&f->side[C], LATCH_ERROR_TLS_VERIFY, part);
  assert_failed (&f->side[S], LATCH_ERROR_TLS_REFUSED,
                 "the client refused our certificate: it does not trust the CA that signed "
                 "it");
}

/* The server does not trust the client's CA: with TLS 1.3 the client's
 * handshake completes, and its first read says why. */
static void
test_wrong_ca_server (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autofree char *part = NULL;

  REQUIRE_CERTS ();
  pair_nodes (f, "peer2_ca1", "ca1", "peer1_ca1", "ca2", LATCH_SECURITY_CHANNEL);
  run_handshake (f);
  part = g_strdup_printf ("the certificate of the client (CN %s) is not signed by a CA in %s/ca2.pem",
                          MID, certs_dir);
  assert_failed (&f->side[S], LATCH_ERROR_TLS_VERIFY, part);
  assert_ok (&f->side[C]);
  recv_fails (&f->side[C], LATCH_ERROR_TLS_REFUSED,
              "the daemon refused our certificate: it does not trust the CA that signed it");
}

typedef struct
{
  const char *name;
  const char *words;
  int alert;
} RawCase;

/* A raw client presents a certificate latch would not load. */
static void
test_raw_client_refused (Fixture *f, gconstpointer data)
{
  const RawCase *rc = data;
  LatchTlsSettings ss;

  REQUIRE_CERTS ();
  ss = node_settings (f, "peer1_ca1", "ca1");
  pair (f, NULL, creds_ok (&ss, LATCH_TLS_SERVER, LATCH_SECURITY_CHANNEL, MID));
  raw_client (f, rc->name);
  run_handshake (f);
  assert_failed (&f->side[S], LATCH_ERROR_TLS_VERIFY, rc->words);
  g_assert_cmpint (raw_alert (&f->side[C]), ==, rc->alert);
}

static const RawCase raw_expired = {
  "expired_ca1", "the certificate of the client (CN " MID ") expired on 2021-01-01 00:00 UTC",
  GNUTLS_A_CERTIFICATE_EXPIRED
};
static const RawCase raw_notyet = {
  "notyet_ca1", "the certificate of the client (CN " MID ") is not valid before 2099-01-01 00:00 UTC",
  GNUTLS_A_CERTIFICATE_EXPIRED
};
static const RawCase raw_rsa1024 = {
  "rsa1024_ca1",
  "the certificate of the client (CN " MID ") has a 1024-bit RSA key (latch requires 2048 or more)",
  GNUTLS_A_BAD_CERTIFICATE
};

static void
test_revoked (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  LatchTlsSettings cs, ss;
  g_autofree char *part = NULL;

  REQUIRE_CERTS ();
  cs = node_settings (f, "revoked_ca1", "ca1");
  ss = node_settings (f, "peer1_ca1", "ca1");
  ss.crl = cert (f, "ca1", "crl");
  pair (f, creds_ok (&cs, LATCH_TLS_CLIENT, LATCH_SECURITY_CHANNEL, MID),
        creds_ok (&ss, LATCH_TLS_SERVER, LATCH_SECURITY_CHANNEL, MID));
  run_handshake (f);
  part = g_strdup_printf ("the certificate of the client (CN %s) was revoked (CRL %s)", MID, ss.crl);
  assert_failed (&f->side[S], LATCH_ERROR_TLS_VERIFY, part);
  assert_ok (&f->side[C]);
  recv_fails (&f->side[C], LATCH_ERROR_TLS_REFUSED,
              "the daemon refused our certificate: our certificate was revoked");
}

/* A CRL that revokes nothing changes nothing; a revoked node is warned
 * about its own certificate. */
static void
test_crl_empty (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  LatchTlsSettings cs, ss;
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  LatchTlsCreds *creds;

  REQUIRE_CERTS ();
  cs = node_settings (f, "peer2_ca1", "ca1");
  ss = node_settings (f, "peer1_ca1", "ca1");
  cs.crl = ss.crl = cert (f, "ca1-empty", "crl");
  pair (f, creds_ok (&cs, LATCH_TLS_CLIENT, LATCH_SECURITY_CHANNEL, MID),
        creds_ok (&ss, LATCH_TLS_SERVER, LATCH_SECURITY_CHANNEL, MID));
  run_handshake (f);
  assert_ok (&f->side[C]);
  assert_ok (&f->side[S]);

  cs = node_settings (f, "revoked_ca1", "ca1");
  cs.crl = cert (f, "ca1", "crl");
  creds = tls->creds_new (&cs, LATCH_TLS_CLIENT, LATCH_SECURITY_CHANNEL, MID, warnings, &error);
  g_assert_no_error (error);
  tls->creds_free (creds);
  g_assert_cmpuint (warnings->len, ==, 1);
  g_assert_nonnull (strstr (g_ptr_array_index (warnings, 0),
                            "this node's own certificate is revoked by CRL"));
}

/* data: the client's priority.  TLS 1.3: the client's handshake
 * completes and its first read says why; TLS 1.2: its handshake fails. */
static void
test_client_cert_required (Fixture *f, gconstpointer data)
{
  const char *priority = data;
  const char *words = "the daemon requires a client certificate: give --tls-certificate "
                      "and --tls-private-key";
  LatchTlsSettings cs, ss;

  REQUIRE_CERTS ();
  cs = node_settings (f, NULL, "ca1");
  ss = node_settings (f, "peer1_ca1", "ca1");
  cs.priority = priority;
  pair (f, creds_ok (&cs, LATCH_TLS_CLIENT, LATCH_SECURITY_CHANNEL, MID),
        creds_ok (&ss, LATCH_TLS_SERVER, LATCH_SECURITY_CHANNEL, MID));
  run_handshake (f);
  assert_failed (&f->side[S], LATCH_ERROR_TLS_VERIFY,
                 "the client sent no certificate (this side requires one)");
  if (priority == NULL)
    {
      assert_ok (&f->side[C]);
      recv_fails (&f->side[C], LATCH_ERROR_TLS_REFUSED, words);
    }
  else
    assert_failed (&f->side[C], LATCH_ERROR_TLS_REFUSED, words);
}

/* The same, but the client writes first and finds the socket closed: the
 * alert waiting in it still explains. */
static void
test_client_cert_required_send (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (GError) error = NULL;
  gsize sent = 0;
  LatchTlsStatus st;

  REQUIRE_CERTS ();
  pair_nodes (f, NULL, "ca1", "peer1_ca1", "ca1", LATCH_SECURITY_CHANNEL);
  run_handshake (f);
  assert_ok (&f->side[C]);
  st = tls->send (f->side[C].tls, "<msg/>", 6, &sent, &error);
  g_assert_cmpint (st, ==, LATCH_TLS_FAILED);
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_TLS_REFUSED);
  assert_message (error, "the daemon requires a client certificate");
}

static void
test_client_cert_requested (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  LatchTlsSettings cs, ss;

  REQUIRE_CERTS ();
  cs = node_settings (f, NULL, "ca1");
  ss = node_settings (f, "peer1_ca1", "ca1");
  ss.require_client_cert = FALSE;
  pair (f, creds_ok (&cs, LATCH_TLS_CLIENT, LATCH_SECURITY_CHANNEL, MID),
        creds_ok (&ss, LATCH_TLS_SERVER, LATCH_SECURITY_CHANNEL, MID));
  run_handshake (f);
  assert_ok (&f->side[C]);
  assert_ok (&f->side[S]);
  exchange (f);
  assert_describe (f->side[S].tls, "TLS1.3 AES-256-GCM, peer sent no certificate");
  assert_describe (f->side[C].tls, "TLS1.3 AES-256-GCM, peer CN " MID);
}

/* A client may still send one, and it is verified. */
static void
test_client_cert_requested_wrong_ca (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  LatchTlsSettings cs, ss;

  REQUIRE_CERTS ();
  cs = node_settings (f, "peer2_ca2", "ca1");
  ss = node_settings (f, "peer1_ca1", "ca1");
  ss.require_client_cert = FALSE;
  pair (f, creds_ok (&cs, LATCH_TLS_CLIENT, LATCH_SECURITY_CHANNEL, MID),
        creds_ok (&ss, LATCH_TLS_SERVER, LATCH_SECURITY_CHANNEL, MID));
  run_handshake (f);
  assert_failed (&f->side[S], LATCH_ERROR_TLS_VERIFY, "is not signed by a CA in");
}

/* A daemon with a client-only certificate would be refused by every
 * client: refused when loaded.  (A peer's certificate is checked for its
 * purpose in the handshake as well: the raw-peer cases cover refusals
 * of certificates latch would not load.) */
static void
test_purpose (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  LatchTlsSettings s;
  g_autofree char *part = NULL;

  REQUIRE_CERTS ();
  s = node_settings (f, "clientonly_ca1", "ca1");
  part = g_strdup_printf ("certificate %s (TlsCertificate) is not meant for TLS server use "
                          "(key purpose)", s.certificate);
  creds_refused (&s, LATCH_TLS_SERVER, LATCH_SECURITY_CHANNEL, MID, LATCH_ERROR_TLS, part);
}

/* The same certificate is fine as a client's. */
static void
test_purpose_client_ok (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  REQUIRE_CERTS ();
  pair_nodes (f, "clientonly_ca1", "ca1", "peer1_ca1", "ca1", LATCH_SECURITY_CHANNEL);
  run_handshake (f);
  assert_ok (&f->side[C]);
  assert_ok (&f->side[S]);
}

static void
test_no_common_version (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  LatchTlsSettings cs, ss;

  REQUIRE_CERTS ();
  cs = node_settings (f, "peer2_ca1", "ca1");
  ss = node_settings (f, "peer1_ca1", "ca1");
  cs.priority = "NORMAL:-VERS-ALL:+VERS-TLS1.3";
  ss.priority = "NORMAL:-VERS-ALL:+VERS-TLS1.2";
  pair (f, creds_ok (&cs, LATCH_TLS_CLIENT, LATCH_SECURITY_CHANNEL, MID),
        creds_ok (&ss, LATCH_TLS_SERVER, LATCH_SECURITY_CHANNEL, MID));
  run_handshake (f);
  assert_failed (&f->side[S], LATCH_ERROR_TLS, "no TLS version or cipher in common");
  assert_failed (&f->side[C], LATCH_ERROR_TLS, "no TLS version or cipher in common");
  assert_message (f->side[C].error, "check TlsPriority on both sides");
}

/* ---- what a client sees of a server that is not latch+TLS -------------- */

static void
test_clear_peer_client (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  const char *answer = "<msg level=\"0\" verb=\"1\" step=\"16\" rc=\"0\"/>";

  REQUIRE_CERTS ();
  pair_client_only (f, "peer2_ca1");
  step (&f->side[C]);
  g_assert_cmpint (f->side[C].status, ==, LATCH_TLS_WANT_READ);
  g_assert_cmpint (write (f->side[S].fd, answer, strlen (answer)), ==, strlen (answer));
  step (&f->side[C]);
  assert_failed (&f->side[C], LATCH_ERROR_TLS_CLEAR_PEER,
                 "the daemon answered in clear text: it does not speak TLS (configure it "
                 "with the same TLS settings, or remove TLS here)");
}

static void
test_clear_peer_server (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  const char *request = "<msg level=\"0\" verb=\"1\" step=\"8\"/>";

  REQUIRE_CERTS ();
  pair_nodes (f, NULL, "ca1", "peer1_ca1", "ca1", LATCH_SECURITY_CHANNEL);
  g_assert_cmpint (write (f->side[C].fd, request, strlen (request)), ==, strlen (request));
  run_handshake (f);
  assert_failed (&f->side[S], LATCH_ERROR_TLS_CLEAR_PEER,
                 "the client sent clear text: it does not speak TLS");
}

static void
test_eof_in_handshake (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  REQUIRE_CERTS ();
  pair_client_only (f, "peer2_ca1");
  step (&f->side[C]);
  g_assert_cmpint (f->side[C].status, ==, LATCH_TLS_WANT_READ);
  close (f->side[S].fd);
  f->side[S].fd = -1;
  step (&f->side[C]);
  /* Nothing came back: the daemon may be going away, worth a retry. */
  assert_failed (&f->side[C], LATCH_ERROR_CONNECTION_CLOSED,
                 "the daemon closed the connection during the TLS handshake");
}

typedef struct
{
  int alert;
  gboolean with_cert;
  int code;
  const char *words;
} AlertCase;

/* A server that answers the ClientHello with a fatal alert. */
static void
test_alert_explained (Fixture *f, gconstpointer data)
{
  const AlertCase *ac = data;
  unsigned char record[] = { 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, (unsigned char)ac->alert };

  REQUIRE_CERTS ();
  pair_client_only (f, ac->with_cert ? "peer2_ca1" : NULL);
  step (&f->side[C]);
  g_assert_cmpint (f->side[C].status, ==, LATCH_TLS_WANT_READ);
  g_assert_cmpint (write (f->side[S].fd, record, sizeof record), ==, sizeof record);
  step (&f->side[C]);
  assert_failed (&f->side[C], ac->code, ac->words);
}

static const AlertCase alert_cases[] = {
  { GNUTLS_A_UNKNOWN_CA, TRUE, LATCH_ERROR_TLS_REFUSED,
    "the daemon refused our certificate: it does not trust the CA that signed it" },
  { GNUTLS_A_CERTIFICATE_EXPIRED, TRUE, LATCH_ERROR_TLS_REFUSED,
    "the daemon refused our certificate: our certificate has expired or is not yet valid" },
  { GNUTLS_A_CERTIFICATE_REVOKED, TRUE, LATCH_ERROR_TLS_REFUSED,
    "the daemon refused our certificate: our certificate was revoked" },
  { GNUTLS_A_BAD_CERTIFICATE, TRUE, LATCH_ERROR_TLS_REFUSED,
    "the daemon refused our certificate as bad" },
  { GNUTLS_A_CERTIFICATE_REQUIRED, FALSE, LATCH_ERROR_TLS_REFUSED,
    "the daemon requires a client certificate: give --tls-certificate and --tls-private-key" },
  { GNUTLS_A_HANDSHAKE_FAILURE, FALSE, LATCH_ERROR_TLS_REFUSED,
    "the daemon requires a client certificate" },
  { GNUTLS_A_HANDSHAKE_FAILURE, TRUE, LATCH_ERROR_TLS,
    "no TLS version or cipher in common: check TlsPriority on both sides" },
  { GNUTLS_A_PROTOCOL_VERSION, TRUE, LATCH_ERROR_TLS, "no TLS version or cipher in common" },
  { GNUTLS_A_ACCESS_DENIED, TRUE, LATCH_ERROR_TLS_REFUSED,
    "the daemon ended the TLS handshake: " },
};

/* ---- peer identity --------------------------------------------------------- */

/* peer3's certificate names OTHER_ID; it announces MID. */
static void
test_peer_id_mismatch (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  LatchTlsSettings cs, ss;
  g_autoptr (GError) error = NULL;

  REQUIRE_CERTS ();
  cs = node_settings (f, "peer3_ca1", "ca1");
  ss = node_settings (f, "peer1_ca1", "ca1");
  pair (f, creds_ok (&cs, LATCH_TLS_CLIENT, LATCH_SECURITY_MUTUAL, OTHER_ID),
        creds_ok (&ss, LATCH_TLS_SERVER, LATCH_SECURITY_MUTUAL, MID));
  run_handshake (f);
  assert_ok (&f->side[C]);
  assert_ok (&f->side[S]);
  g_assert_false (tls->check_peer_id (f->side[S].tls, MID, &error));
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_TLS_PEER_ID);
  assert_message (error, "the client announced ID '" MID "' but its certificate names '"
                         OTHER_ID "'");
  g_clear_error (&error);
  g_assert_true (tls->check_peer_id (f->side[S].tls, OTHER_ID, &error));
  g_assert_false (tls->check_peer_id (f->side[S].tls, NULL, &error));
  assert_message (error, "the client announced no machine ID");
  g_clear_error (&error);
  /* A hostile ID is quoted harmlessly. */
  g_assert_false (tls->check_peer_id (f->side[S].tls, "a\nb", &error));
  assert_message (error, "announced ID 'a\\nb'");
}

static void
test_peer_id_san (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (GError) error = NULL;

  REQUIRE_CERTS ();
  pair_nodes (f, "san_ca1", "ca1", "san_ca1", "ca1", LATCH_SECURITY_MUTUAL);
  run_handshake (f);
  assert_ok (&f->side[C]);
  assert_ok (&f->side[S]);
  g_assert_true (tls->check_peer_id (f->side[S].tls, MID, &error));
  g_assert_true (tls->check_peer_id (f->side[C].tls, "node-with-san", &error));
  g_assert_no_error (error);
  g_assert_false (tls->check_peer_id (f->side[C].tls, OTHER_ID, &error));
  assert_message (error, "its certificate names 'node-with-san' and DNS names '" MID "'");
  assert_describe (f->side[C].tls, "TLS1.3 AES-256-GCM, peer CN node-with-san");
}

static void
allow_list_case (Fixture *f, const char *list, gboolean allowed)
{
  LatchTlsSettings cs, ss;
  g_autoptr (GError) error = NULL;

  cs = node_settings (f, "peer2_ca1", "ca1");
  ss = node_settings (f, "peer1_ca1", "ca1");
  ss.allowed_peers = scratch (f, "allowed", list, 0644);
  pair (f, creds_ok (&cs, LATCH_TLS_CLIENT, LATCH_SECURITY_MUTUAL, MID),
        creds_ok (&ss, LATCH_TLS_SERVER, LATCH_SECURITY_MUTUAL, MID));
  run_handshake (f);
  assert_ok (&f->side[C]);
  assert_ok (&f->side[S]);
  /* The client's side has no allow-list. */
  g_assert_true (tls->check_peer_id (f->side[C].tls, MID, &error));
  if (allowed)
    {
      g_assert_true (tls->check_peer_id (f->side[S].tls, MID, &error));
      g_assert_no_error (error);
    }
  else
    {
      g_autofree char *part = g_strdup_printf ("the client (machine ID " MID ") is not allowed "
                                               "by TlsAllowedPeers %s", ss.allowed_peers);

      g_assert_false (tls->check_peer_id (f->side[S].tls, MID, &error));
      g_assert_error (error, LATCH_ERROR, LATCH_ERROR_TLS_NOT_ALLOWED);
      assert_message (error, part);
    }
}

static void
test_allow_list_accept (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  REQUIRE_CERTS ();
  allow_list_case (f, "# the nodes\n\n" OTHER_ID "\n  " MID "  # this one\r\n", TRUE);
}

static void
test_allow_list_refuse (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  REQUIRE_CERTS ();
  allow_list_case (f, OTHER_ID "\n", FALSE);
}

static void
test_allow_list_bad_line (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  LatchTlsSettings ss;
  g_autofree char *part = NULL;

  REQUIRE_CERTS ();
  ss = node_settings (f, "peer1_ca1", "ca1");
  ss.allowed_peers = scratch (f, "allowed", "# ok\n" MID "\nnode7.example.com\n", 0644);
  part = g_strdup_printf ("%s:3: 'node7.example.com' is not a machine ID (32 hex digits)",
                          ss.allowed_peers);
  creds_refused (&ss, LATCH_TLS_SERVER, LATCH_SECURITY_MUTUAL, MID, LATCH_ERROR_TLS, part);

  /* Upper case is not how machine IDs are written. */
  ss.allowed_peers = scratch (f, "allowed2", "0123456789ABCDEF0123456789ABCDEF\n", 0644);
  creds_refused (&ss, LATCH_TLS_SERVER, LATCH_SECURITY_MUTUAL, MID, LATCH_ERROR_TLS,
                 ":1: '0123456789ABCDEF0123456789ABCDEF' is not a machine ID");
}

/* ---- credentials ------------------------------------------------------------ */

static void
test_creds_rsa1024 (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  LatchTlsSettings s;
  g_autofree char *part = NULL;

  REQUIRE_CERTS ();
  s = node_settings (f, "rsa1024_ca1", "ca1");
  part = g_strdup_printf ("certificate %s (TlsCertificate) has a 1024-bit RSA key: latch "
                          "requires RSA keys of 2048 bits or more (or ECDSA/Ed25519); issue "
                          "a new certificate", s.certificate);
  creds_refused (&s, LATCH_TLS_SERVER, LATCH_SECURITY_CHANNEL, MID, LATCH_ERROR_TLS, part);
}

static void
test_creds_dates (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  LatchTlsSettings s;
  g_autofree char *part = NULL;

  REQUIRE_CERTS ();
  s = node_settings (f, "expired_ca1", "ca1");
  part = g_strdup_printf ("certificate %s (TlsCertificate) expired on 2021-01-01 00:00 UTC",
                          s.certificate);
  creds_refused (&s, LATCH_TLS_CLIENT, LATCH_SECURITY_CHANNEL, MID, LATCH_ERROR_TLS, part);
  s = node_settings (f, "notyet_ca1", "ca1");
  creds_refused (&s, LATCH_TLS_CLIENT, LATCH_SECURITY_CHANNEL, MID, LATCH_ERROR_TLS,
                 "is not valid before 2099-01-01 00:00 UTC");
}

static void
test_creds_files (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  LatchTlsSettings s;
  g_autofree char *part = NULL;

  REQUIRE_CERTS ();
  /* Missing CA file. */
  s = node_settings (f, "peer1_ca1", "ca1");
  s.ca_certificate = cert (f, "nonexistent", "pem");
  part = g_strdup_printf ("cannot read CA certificate %s (TlsCaCertificate): %s",
                          s.ca_certificate, g_strerror (ENOENT));
  creds_refused (&s, LATCH_TLS_SERVER, LATCH_SECURITY_CHANNEL, MID, LATCH_ERROR_TLS, part);

  /* A CA file with no certificate in it. */
  s.ca_certificate = cert (f, "ca1", "key");
  g_clear_pointer (&part, g_free);
  part = g_strdup_printf ("CA certificate %s (TlsCaCertificate) holds no PEM certificate",
                          s.ca_certificate);
  creds_refused (&s, LATCH_TLS_SERVER, LATCH_SECURITY_CHANNEL, MID, LATCH_ERROR_TLS, part);
  s.ca_certificate = scratch (f, "empty.pem", "", 0644);
  creds_refused (&s, LATCH_TLS_SERVER, LATCH_SECURITY_CHANNEL, MID, LATCH_ERROR_TLS,
                 "holds no PEM certificate");

  /* A key that is not the certificate's. */
  s = node_settings (f, "peer1_ca1", "ca1");
  s.private_key = cert (f, "peer2_ca1", "key");
  g_clear_pointer (&part, g_free);
  part = g_strdup_printf ("private key %s (TlsPrivateKey) does not match certificate %s "
                          "(TlsCertificate)", s.private_key, s.certificate);
  creds_refused (&s, LATCH_TLS_SERVER, LATCH_SECURITY_CHANNEL, MID, LATCH_ERROR_TLS, part);

  /* Not a key at all. */
  s.private_key = scratch (f, "garbage.key", "hello\n", 0600);
  creds_refused (&s, LATCH_TLS_SERVER, LATCH_SECURITY_CHANNEL, MID, LATCH_ERROR_TLS,
                 "holds no usable PEM private key");

  /* A CRL from another CA. */
  s = node_settings (f, "peer1_ca2", "ca2");
  s.crl = cert (f, "ca1", "crl");
  g_clear_pointer (&part, g_free);
  part = g_strdup_printf ("CRL %s (TlsCrl) is not signed by a CA in %s (TlsCaCertificate)",
                          s.crl, s.ca_certificate);
  creds_refused (&s, LATCH_TLS_SERVER, LATCH_SECURITY_CHANNEL, MID, LATCH_ERROR_TLS, part);

  /* Not a CRL. */
  s.crl = cert (f, "ca2", "pem");
  creds_refused (&s, LATCH_TLS_SERVER, LATCH_SECURITY_CHANNEL, MID, LATCH_ERROR_TLS,
                 "holds no PEM CRL");

  /* A server needs its own certificate. */
  s = node_settings (f, NULL, "ca1");
  creds_refused (&s, LATCH_TLS_SERVER, LATCH_SECURITY_CHANNEL, MID, LATCH_ERROR_TLS,
                 "TlsCertificate");
}

static void
test_creds_key_mode (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  LatchTlsSettings s;
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  g_autofree char *key = NULL;
  g_autofree char *expected = NULL;
  LatchTlsCreds *creds;

  REQUIRE_CERTS ();
  s = node_settings (f, "peer1_ca1", "ca1");
  g_file_get_contents (s.private_key, &key, NULL, &error);
  g_assert_no_error (error);
  s.private_key = scratch (f, "open.key", key, 0644);
  expected = g_strdup_printf ("private key %s is readable by others (mode 0644): chmod 600 %s",
                              s.private_key, s.private_key);

  /* Level from the files: a warning. */
  creds = tls->creds_new (&s, LATCH_TLS_SERVER, LATCH_SECURITY_CHANNEL, MID, warnings,
                          &error);
  g_assert_no_error (error);
  g_assert_nonnull (creds);
  tls->creds_free (creds);
  g_assert_cmpuint (warnings->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (warnings, 0), ==, expected);

  /* ... not reported without an array. */
  creds = tls->creds_new (&s, LATCH_TLS_SERVER, LATCH_SECURITY_CHANNEL, MID, NULL, &error);
  g_assert_no_error (error);
  tls->creds_free (creds);

  /* Level given explicitly: an error. */
  s.level = LATCH_SECURITY_CHANNEL;
  creds_refused (&s, LATCH_TLS_SERVER, LATCH_SECURITY_CHANNEL, MID, LATCH_ERROR_TLS, expected);

  /* 0640 too. */
  g_assert_cmpint (g_chmod (s.private_key, 0640), ==, 0);
  creds_refused (&s, LATCH_TLS_SERVER, LATCH_SECURITY_CHANNEL, MID, LATCH_ERROR_TLS,
                 "(mode 0640)");
}

/* Own certificate from another CA than the trusted one: allowed (a peer
 * may trust it), but said. */
static void
test_creds_foreign_ca (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  LatchTlsSettings s;
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  g_autofree char *expected = NULL;
  LatchTlsCreds *creds;

  REQUIRE_CERTS ();
  s = node_settings (f, "peer1_ca1", "ca2");
  expected = g_strdup_printf ("certificate %s (TlsCertificate) is not signed by a CA in %s "
                              "(TlsCaCertificate): peers that trust only that file will "
                              "refuse it", s.certificate, s.ca_certificate);
  creds = tls->creds_new (&s, LATCH_TLS_SERVER, LATCH_SECURITY_CHANNEL, MID, warnings, &error);
  g_assert_no_error (error);
  tls->creds_free (creds);
  g_assert_cmpuint (warnings->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (warnings, 0), ==, expected);

  /* The chain in the file links the leaf to CA1. */
  g_ptr_array_set_size (warnings, 0);
  s = node_settings (f, "chained_ca1", "ca1");
  creds = tls->creds_new (&s, LATCH_TLS_SERVER, LATCH_SECURITY_CHANNEL, MID, warnings, &error);
  g_assert_no_error (error);
  tls->creds_free (creds);
  g_assert_cmpuint (warnings->len, ==, 0);
}

static void
test_creds_own_id (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  LatchTlsSettings s;
  g_autofree char *part = NULL;

  REQUIRE_CERTS ();
  s = node_settings (f, "peer3_ca1", "ca1");
  part = g_strdup_printf ("certificate %s names CN '" OTHER_ID "', not this node's machine ID '"
                          MID "': issue this node a certificate with CN " MID, s.certificate);
  creds_refused (&s, LATCH_TLS_SERVER, LATCH_SECURITY_MUTUAL, MID, LATCH_ERROR_TLS, part);
  creds_refused (&s, LATCH_TLS_CLIENT, LATCH_SECURITY_MUTUAL, NULL, LATCH_ERROR_TLS,
                 "machine ID");
  /* Below mutual the CN does not matter. */
  tls->creds_free (creds_ok (&s, LATCH_TLS_SERVER, LATCH_SECURITY_CHANNEL, MID));
  /* A DNS SAN is as good as the CN. */
  s = node_settings (f, "san_ca1", "ca1");
  tls->creds_free (creds_ok (&s, LATCH_TLS_SERVER, LATCH_SECURITY_MUTUAL, MID));
}

static void
test_creds_level (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  LatchTlsSettings s;

  REQUIRE_CERTS ();
  s = node_settings (f, "peer1_ca1", "ca1");
  creds_refused (&s, LATCH_TLS_SERVER, LATCH_SECURITY_CLEAR, MID, LATCH_ERROR_TLS, "clear");
  /* Levels are checked by creds_ok. */
  tls->creds_free (creds_ok (&s, LATCH_TLS_SERVER, LATCH_SECURITY_MUTUAL, MID));
  tls->creds_free (creds_ok (&s, LATCH_TLS_CLIENT, LATCH_SECURITY_CHANNEL, MID));
}

/* A session keeps its credentials alive. */
static void
test_creds_outlived (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  LatchTlsSettings s;
  LatchTlsCreds *creds;

  REQUIRE_CERTS ();
  pair_nodes (f, "peer2_ca1", "ca1", "peer1_ca1", "ca1", LATCH_SECURITY_CHANNEL);
  g_clear_pointer (&f->creds[C], tls->creds_free);
  g_clear_pointer (&f->creds[S], tls->creds_free);
  run_handshake (f);
  assert_ok (&f->side[C]);
  assert_ok (&f->side[S]);
  exchange (f);
  s = node_settings (f, "peer1_ca1", "ca1");
  creds = creds_ok (&s, LATCH_TLS_SERVER, LATCH_SECURITY_CHANNEL, MID);
  tls->creds_free (creds);
}

/* ---- priority ------------------------------------------------------------------- */

static void
priority_refused (Fixture *f, const char *priority, const char *part)
{
  LatchTlsSettings s = node_settings (f, "peer1_ca1", "ca1");

  s.priority = priority;
  creds_refused (&s, LATCH_TLS_SERVER, LATCH_SECURITY_CHANNEL, MID, LATCH_ERROR_TLS, part);
}

static void
test_priority (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  REQUIRE_CERTS ();
  priority_refused (f, "NORMAL:FOO", "TlsPriority: GnuTLS does not accept 'FOO' in 'NORMAL:FOO'");
  priority_refused (f, "NORMAL:+VERS-TLS1.2:%BOGUS:-RSA", "does not accept '%BOGUS' in");
  priority_refused (f, "NORMAL",
                    "TlsPriority 'NORMAL' enables TLS1.1, TLS1.0, which latch refuses (TLS "
                    "1.2 or later only): append ':-VERS-TLS1.1:-VERS-TLS1.0' to it");
  priority_refused (f, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:+3DES-CBC",
                    "enables 3DES-CBC, which latch refuses (its 64-bit blocks let Sweet32");
  priority_refused (f, "NORMAL:-VERS-ALL:+VERS-DTLS1.2", "enables neither TLS1.2 nor TLS1.3");
}

/* ---- main ------------------------------------------------------------------------- */

int
main (int argc, char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  tls = latch_tls_module ();
  g_assert_cmpint (tls->abi, ==, LATCH_TLS_MODULE_ABI);
  certs_dir = latch_test_make_certs ("test-tls", MID);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
#define ADD_DATA(path, data, func)                                                   \
  g_test_add (path, Fixture, data, fixture_set_up, func, fixture_tear_down)

  g_test_add_func ("/tls/settings/levels", test_settings_levels);
  g_test_add_func ("/tls/settings/partial", test_settings_partial);
  g_test_add_func ("/tls/settings/clear-with-files", test_settings_clear_with_files);
  g_test_add_func ("/tls/settings/channel-client-ca-only", test_settings_channel_client_ca_only);

  ADD ("/tls/handshake/channel", test_channel);
  ADD ("/tls/handshake/mutual", test_mutual);
  ADD ("/tls/handshake/bye", test_bye);
  ADD ("/tls/handshake/tls12", test_tls12);
  ADD_DATA ("/tls/handshake/rsa3072", "rsa3072_ca1", test_key_types);
  ADD_DATA ("/tls/handshake/ed25519", "ed25519_ca1", test_key_types);
  ADD ("/tls/handshake/chain", test_chain);
  ADD ("/tls/handshake/creds-outlived", test_creds_outlived);
  ADD ("/tls/handshake/client-cert-requested", test_client_cert_requested);

  ADD_DATA ("/tls/verify/wrong-ca-client", NULL, test_wrong_ca_client);
  ADD_DATA ("/tls/verify/wrong-ca-client-tls12", "NORMAL:-VERS-ALL:+VERS-TLS1.2",
            test_wrong_ca_client);
  ADD ("/tls/verify/wrong-ca-server", test_wrong_ca_server);
  ADD_DATA ("/tls/verify/expired", &raw_expired, test_raw_client_refused);
  ADD_DATA ("/tls/verify/notyet", &raw_notyet, test_raw_client_refused);
  ADD_DATA ("/tls/verify/rsa1024", &raw_rsa1024, test_raw_client_refused);
  ADD ("/tls/verify/revoked", test_revoked);
  ADD ("/tls/verify/crl-empty", test_crl_empty);
  ADD_DATA ("/tls/verify/client-cert-required", NULL, test_client_cert_required);
  ADD_DATA ("/tls/verify/client-cert-required-tls12", "NORMAL:-VERS-ALL:+VERS-TLS1.2",
            test_client_cert_required);
  ADD ("/tls/verify/client-cert-required-send", test_client_cert_required_send);
  ADD ("/tls/verify/client-cert-requested-wrong-ca", test_client_cert_requested_wrong_ca);
  ADD ("/tls/verify/purpose", test_purpose);
  ADD ("/tls/verify/purpose-client-ok", test_purpose_client_ok);
  ADD ("/tls/verify/no-common-version", test_no_common_version);

  ADD ("/tls/peer/clear-text-server", test_clear_peer_client);
  ADD ("/tls/peer/clear-text-client", test_clear_peer_server);
  ADD ("/tls/peer/eof-in-handshake", test_eof_in_handshake);
  for (gsize i = 0; i < G_N_ELEMENTS (alert_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/tls/peer/alert/%d%s", alert_cases[i].alert,
                                               alert_cases[i].with_cert ? "" : "-no-cert");

      ADD_DATA (path, &alert_cases[i], test_alert_explained);
    }

  ADD ("/tls/peer-id/mismatch", test_peer_id_mismatch);
  ADD ("/tls/peer-id/san", test_peer_id_san);
  ADD ("/tls/allow-list/accept", test_allow_list_accept);
  ADD ("/tls/allow-list/refuse", test_allow_list_refuse);
  ADD ("/tls/allow-list/bad-line", test_allow_list_bad_line);

  ADD ("/tls/creds/rsa1024", test_creds_rsa1024);
  ADD ("/tls/creds/dates", test_creds_dates);
  ADD ("/tls/creds/files", test_creds_files);
  ADD ("/tls/creds/key-mode", test_creds_key_mode);
  ADD ("/tls/creds/own-id", test_creds_own_id);
  ADD ("/tls/creds/foreign-ca", test_creds_foreign_ca);
  ADD ("/tls/creds/level", test_creds_level);
  ADD ("/tls/creds/priority", test_priority);

  ret = g_test_run ();
  if (certs_dir != NULL)
    g_assert_true (latch_test_rm_rf (certs_dir));
  g_free (certs_dir);
  return ret;
}
