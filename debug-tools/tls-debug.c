/* tls-debug.c: --debug-feature=tls.server and tls.client.
 *
 * Both run the code the daemon and the latch command run: the settings are
 * resolved by latch_tls_settings_resolve(), the credentials loaded and
 * checked by the TLS module's creds_new(), the handshake, verification and
 * peer-ID check done by its sessions.  What this file adds is words: it
 * reads the same files again only to describe them (subject, dates, key,
 * fingerprint, CRL), and turns each failure into a verdict and a fix.
 *
 * The exchange after the handshake is FLoM's (spec/tls.md §6): the client
 * sends its unique ID followed by "</msg>", the server answers its own the
 * same way.  latch's server then sends one more such message, its verdict
 * ("OK: ..." or "FAIL: ...|FIX: ..."), so that the client can print the
 * server's reason too; a FLoM server sends none, which is not an error.
 *
 * Output, on stdout: the local configuration, the connection, then the
 * verdict, always last:
 *   OK: a daemon|client with this configuration accepts the peer at level L
 * or
 *   FAIL: REASON
 *   FIX: HINT
 * Every wait is bounded: the server's accept (LATCH_DEBUG_ACCEPT_MS), the
 * client's connect and each exchange (LATCH_DEBUG_EXCHANGE_MS), the
 * handshake (LATCH_TLS_HANDSHAKE_MS). */
#include "config.h"

#include "debug-tools.h"

#include "x509/x509-describe.h"
#include "common/error.h"
#include "common/file.h"
#include "common/text.h"
#include "net/tcp.h"
#include "sys/machine-id.h"
#include "tls/tls.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* End of each message of the exchange, as in FLoM. */
#define MSG_END "</msg>"
/* Longest message of the exchange we accept (an ID, a verdict). */
#define MAX_MSG 4096
/* Longest text of a peer's quoted. */
#define MAX_QUOTE 200

typedef struct
{
  const LatchConfig *config;
  gboolean server;
  LatchTlsRole role;
  LatchTlsSettings settings;
  LatchSecurityLevel level;
  const char *own_id;          /* machine ID, or NULL */
  const LatchTlsModule *tls;
  LatchTlsCreds *creds;
  char *peer_label;
} Debug;

/* ---- output ----------------------------------------------------------- */

static void say (int depth, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
say (int depth, const char *format, ...)
{
  va_list ap;

  for (int i = 0; i < depth; i++)
    fputs ("  ", stdout);
  va_start (ap, format);
  vprintf (format, ap);
  va_end (ap);
  putchar ('\n');
}

static void
section (const char *title)
{
  printf ("== %s ==\n", title);
}

/* The indent say () gives depth, for x509-describe's lines (transfer full). */
static char *
depth_indent (int depth)
{
  return g_strnfill ((gsize)depth * 2, ' ');
}

/* ---- certificates in words ---------------------------------------------- */

/* crt described by x509-describe, then what latch makes of it here: dates
 * against this machine's clock, a key latch refuses. */
static void
show_crt (gnutls_x509_crt_t crt, int depth)
{
  g_autofree char *indent = depth_indent (depth);
  g_autofree char *lines = latch_x509_describe_crt (crt, indent);
  time_t now = time (NULL);
  time_t not_before = gnutls_x509_crt_get_activation_time (crt);
  time_t not_after = gnutls_x509_crt_get_expiration_time (crt);
  LatchX509KeyVerdict verdict = latch_x509_crt_key_verdict (crt, NULL);

  fputs (lines, stdout);
  if (not_after != (time_t)-1 && not_after < now)
    say (depth, "EXPIRED by this machine's clock: latch refuses it");
  else if (not_before != (time_t)-1 && not_before > now)
    say (depth, "NOT YET VALID by this machine's clock: latch refuses it");
  if (verdict == LATCH_X509_KEY_RSA_TOO_SMALL)
    say (depth, "key too small: latch requires RSA keys of %d bits or more",
         LATCH_X509_MIN_RSA_BITS);
  else if (verdict == LATCH_X509_KEY_DSA)
    say (depth, "DSA key: refused by latch");
}

/* ---- the local files ---------------------------------------------------- */

static void
describe_file_mode (const char *path, const char *what, const char *setting, int depth,
                    gboolean secret)
{
  struct stat st;
  struct passwd *pw;

  if (stat (path, &st) < 0)
    {
      int e = errno;

      say (depth, "%s %s (%s): cannot stat: %s", what, path, setting, g_strerror (e));
      return;
    }
  pw = getpwuid (st.st_uid);
  say (depth, "%s %s (%s): mode %04o, owner %s%s", what, path, setting,
       (unsigned int)(st.st_mode & 07777), pw != NULL ? pw->pw_name : "?",
       secret && (st.st_mode & 077) != 0
           ? ": readable by others, chmod 600 it"
           : secret ? " (readable by its owner only: good)" : "");
}

/* The file at path, or NULL after a line saying why (transfer full).
 * Read with the TLS module's limit and checks: a FIFO or an endless
 * device named by a setting is refused here as it is there. */
static char *
read_file (const char *path, gsize *len)
{
  g_autoptr (GError) error = NULL;
  char *data = NULL;

  if (!latch_file_read (path, NULL, LATCH_X509_MAX_FILE, LATCH_FILE_DEFAULT, LATCH_ERROR_TLS, &data,
                        len, NULL, &error))
    say (1, "cannot read it: %s", error->message);
  return data;
}

/* The PEM certificates of a file, each described, in an array that owns
 * them; NULL after a line saying why (transfer full). */
static GPtrArray *
show_crt_file (const char *path, const char *what, const char *setting, const char *each)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  g_auto (LatchX509CrtList) list = { NULL, 0 };
  GPtrArray *crts;
  int ret;

  describe_file_mode (path, what, setting, 0, FALSE);
  data = read_file (path, &len);
  if (data == NULL)
    return NULL;
  if (!latch_x509_crt_list_import (data, len, FALSE, &list, &ret))
    {
      say (1, "holds no PEM certificate GnuTLS can read%s%s", ret < 0 ? ": " : "",
           ret < 0 ? gnutls_strerror (ret) : "");
      return NULL;
    }
  crts = g_ptr_array_new_full (list.n, (GDestroyNotify)gnutls_x509_crt_deinit);
  for (unsigned int i = 0; i < list.n; i++)
    {
      g_ptr_array_add (crts, list.items[i]);
      say (1, "%s %u of %u:", each, i + 1, list.n);
      show_crt (list.items[i], 2);
    }
  /* The array owns the certificates now. */
  gnutls_free (list.items);
  list.items = NULL;
  list.n = 0;
  return crts;
}

static void
show_key_file (const Debug *dbg, GPtrArray *own)
{
  const char *path = dbg->settings.private_key;
  g_autofree char *data = NULL;
  g_autofree char *lines = NULL;
  g_auto (gnutls_x509_privkey_t) key = NULL;
  gsize len = 0;
  int ret;

  describe_file_mode (path, "private key file", "TlsPrivateKey", 0, TRUE);
  data = read_file (path, &len);
  if (data == NULL)
    return;
  ret = gnutls_x509_privkey_init (&key);
  if (ret >= 0)
    ret = gnutls_x509_privkey_import2 (
        key, &(gnutls_datum_t){ (unsigned char *)data, (unsigned int)len },
        GNUTLS_X509_FMT_PEM, NULL, 0);
  memset (data, 0, len);
  if (ret < 0)
    {
      say (1, "holds no usable unencrypted PEM private key: %s", gnutls_strerror (ret));
      return;
    }
  lines = latch_x509_describe_privkey (key, "  ");
  fputs (lines, stdout);
  if (own != NULL)
    {
      unsigned char key_id[64], crt_id[64];
      size_t key_id_size = sizeof key_id, crt_id_size = sizeof crt_id;
      gboolean match
          = gnutls_x509_privkey_get_key_id (key, GNUTLS_KEYID_USE_SHA256, key_id,
                                            &key_id_size) >= 0
            && gnutls_x509_crt_get_key_id (own->pdata[0], GNUTLS_KEYID_USE_SHA256, crt_id,
                                           &crt_id_size) >= 0
            && key_id_size == crt_id_size && memcmp (key_id, crt_id, key_id_size) == 0;

      say (1, "matches the certificate: %s",
           match ? "yes" : "NO: this key does not match the certificate");
    }
}

/* The CRLs, each described by x509-describe, then checked against the CA
 * file (cas, may be NULL) and this node's certificate (own, may be NULL). */
static void
show_crl_file (const Debug *dbg, GPtrArray *cas, GPtrArray *own)
{
  const char *path = dbg->settings.crl;
  g_autofree char *data = NULL;
  g_auto (LatchX509CrlList) list = { NULL, 0 };
  gnutls_x509_crl_t *crls;
  unsigned int n;
  gsize len = 0;
  int ret;

  describe_file_mode (path, "CRL file", "TlsCrl", 0, FALSE);
  data = read_file (path, &len);
  if (data == NULL)
    return;
  if (!latch_x509_crl_list_import (data, len, FALSE, &list, &ret))
    {
      say (1, "holds no PEM CRL GnuTLS can read%s%s", ret < 0 ? ": " : "",
           ret < 0 ? gnutls_strerror (ret) : "");
      return;
    }
  crls = list.items;
  n = list.n;
  for (unsigned int i = 0; i < n; i++)
    {
      g_autofree char *lines = latch_x509_describe_crl (crls[i], "    ");
      unsigned int verify = 0;

      say (1, "CRL %u of %u:", i + 1, n);
      fputs (lines, stdout);
      ret = cas != NULL ? gnutls_x509_crl_verify (crls[i], (gnutls_x509_crt_t *)cas->pdata,
                                                  cas->len, 0, &verify)
                        : -1;
      say (2, "signed by a CA of the CA file: %s",
           ret >= 0 && (verify & GNUTLS_CERT_SIGNER_NOT_FOUND) == 0
                   && (verify & GNUTLS_CERT_SIGNATURE_FAILURE) == 0
               ? "yes"
               : "NO");
    }
  if (own != NULL)
    say (1, "this node's own certificate: %s",
         gnutls_x509_crt_check_revocation (own->pdata[0], crls, n) == 1
             ? "REVOKED by this CRL: peers using it will refuse this node"
             : "not revoked");
}

static void
show_priority (const Debug *dbg)
{
  const char *text = dbg->settings.priority != NULL ? dbg->settings.priority
                                                    : LATCH_TLS_DEFAULT_PRIORITY;
  gnutls_priority_t prio = NULL;
  const char *err_pos = NULL;
  const unsigned int *list = NULL;
  g_autoptr (GString) words = g_string_new (NULL);
  int n;

  say (0, "priority string (%s): %s",
       dbg->settings.priority != NULL ? "TlsPriority" : "latch's default", text);
  if (gnutls_priority_init2 (&prio, text, &err_pos, 0) < 0)
    {
      say (1, "GnuTLS does not accept it%s%s", err_pos != NULL ? " at: " : "",
           err_pos != NULL ? err_pos : "");
      return;
    }
  n = gnutls_priority_protocol_list (prio, &list);
  for (int i = 0; i < n; i++)
    g_string_append_printf (words, "%s%s", i > 0 ? ", " : "",
                            gnutls_protocol_get_name ((gnutls_protocol_t)list[i]));
  say (1, "versions allowed: %s", words->len > 0 ? words->str : "none");
  g_string_truncate (words, 0);
  n = gnutls_priority_cipher_list (prio, &list);
  for (int i = 0; i < n; i++)
    g_string_append_printf (words, "%s%s", i > 0 ? ", " : "",
                            gnutls_cipher_get_name ((gnutls_cipher_algorithm_t)list[i]));
  say (1, "ciphers allowed: %s", words->len > 0 ? words->str : "none");
  g_string_truncate (words, 0);
  n = gnutls_priority_kx_list (prio, &list);
  for (int i = 0; i < n; i++)
    g_string_append_printf (words, "%s%s", i > 0 ? ", " : "",
                            gnutls_kx_get_name ((gnutls_kx_algorithm_t)list[i]));
  say (1, "key exchanges allowed (TLS 1.2): %s", words->len > 0 ? words->str : "none");
  gnutls_priority_deinit (prio);
}

/* Own identity: the machine ID against the certificate's CN and DNS
 * names, as the module checks it at the mutual level. */
static void
show_identity (const Debug *dbg, GPtrArray *own)
{
  g_autofree char *cn = NULL;
  g_autofree char *qcn = NULL;
  g_autoptr (GPtrArray) dns = NULL;
  gboolean match;

  if (dbg->own_id == NULL)
    {
      say (0, "this node's machine ID: unknown (latch --unique-id fails)%s",
           dbg->level == LATCH_SECURITY_MUTUAL ? ": the mutual level needs it" : "");
      return;
    }
  say (0, "this node's machine ID: %s", dbg->own_id);
  if (own == NULL)
    return;
  cn = latch_x509_crt_last_cn (own->pdata[0]);
  dns = latch_x509_crt_dns_names (own->pdata[0]);
  match = (cn != NULL && strcmp (cn, dbg->own_id) == 0)
          || g_ptr_array_find_with_equal_func (dns, dbg->own_id, g_str_equal, NULL);
  qcn = cn != NULL ? latch_text_quote (cn, -1, MAX_QUOTE, LATCH_QUOTE_BARE) : g_strdup ("(none)");
  say (1, "certificate CN %s: %s", qcn,
       match ? "matches the machine ID"
       : dbg->level == LATCH_SECURITY_MUTUAL
           ? "DOES NOT MATCH the machine ID (the mutual level requires it)"
           : "differs from the machine ID (checked at the mutual level only)");
}

/* Whether own's first certificate is signed by a CA of cas, as a peer
 * trusting only that file would check it. */
static void
show_own_against_cas (GPtrArray *own, GPtrArray *cas)
{
  gnutls_x509_trust_list_t tl = NULL;
  unsigned int status = 0;

  if (gnutls_x509_trust_list_init (&tl, 0) < 0)
    return;
  /* Flags 0 and deinit (tl, 0): the list borrows the CAs, cas keeps them. */
  if (gnutls_x509_trust_list_add_cas (tl, (gnutls_x509_crt_t *)cas->pdata, cas->len, 0) >= 0
      && gnutls_x509_trust_list_verify_crt (tl, (gnutls_x509_crt_t *)own->pdata, own->len, 0,
                                            &status, NULL)
             >= 0)
    say (0, "this node's certificate against its own CA file: %s",
         (status & GNUTLS_CERT_SIGNER_NOT_FOUND) != 0
             ? "NOT signed by a CA in it (peers trusting only that file will refuse it)"
             : "signed by a CA in it");
  gnutls_x509_trust_list_deinit (tl, 0);
}

static void
show_local (const Debug *dbg)
{
  g_autoptr (GPtrArray) own = NULL;
  g_autoptr (GPtrArray) cas = NULL;

  if (dbg->settings.certificate != NULL)
    own = show_crt_file (dbg->settings.certificate, "certificate file", "TlsCertificate",
                         "certificate (the first is this node's)");
  else
    say (0, "certificate: none (TlsCertificate not set)%s",
         dbg->server ? "" : ": only a daemon that does not require client "
                            "certificates accepts this client");
  if (dbg->settings.private_key != NULL)
    show_key_file (dbg, own);
  if (dbg->settings.ca_certificate != NULL)
    cas = show_crt_file (dbg->settings.ca_certificate, "CA file", "TlsCaCertificate",
                         "trusted CA certificate");
  if (own != NULL && cas != NULL)
    show_own_against_cas (own, cas);
  if (dbg->settings.crl != NULL)
    show_crl_file (dbg, cas, own);
  else
    say (0, "CRL: none (TlsCrl not set): revoked certificates are not detected");
  show_identity (dbg, own);
  if (dbg->settings.allowed_peers != NULL && dbg->server)
    say (0, "allow-list %s (TlsAllowedPeers): only the machine IDs listed may connect",
         dbg->settings.allowed_peers);
  show_priority (dbg);
}

/* ---- verdicts ----------------------------------------------------------- */

static const char *
fix_for (const GError *error, const Debug *dbg)
{
  const char *m = error->message;

  if (error->domain != LATCH_ERROR)
    return "see the message above";
  switch (error->code)
    {
    case LATCH_ERROR_TLS_CLEAR_PEER:
      return "give the peer the same TLS settings (TlsCertificate, TlsPrivateKey, "
             "TlsCaCertificate; TlsCheckPeerId or SecurityLevel), or remove TLS here";
    case LATCH_ERROR_TLS_VERIFY:
      if (strstr (m, "not signed by") != NULL)
        return "install the CA file that signed the peer's certificate (TlsCaCertificate), "
               "or re-issue the peer's certificate from this CA with latch-cert node";
      if (strstr (m, "revoked") != NULL)
        return "the peer's certificate is revoked by the CRL (TlsCrl): issue that node a "
               "new certificate with latch-cert node";
      if (strstr (m, "expired") != NULL || strstr (m, "not valid before") != NULL)
        return "issue the peer a certificate valid now (latch-cert node), and check both "
               "machines' clocks";
      if (strstr (m, "sent no certificate") != NULL)
        return "give the peer TlsCertificate and TlsPrivateKey (--tls-certificate, "
               "--tls-private-key)";
      if (strstr (m, "key purpose") != NULL)
        return "re-issue the peer's certificate for both TLS server and TLS client use "
               "(latch-cert node does)";
      if (strstr (m, "CRL") != NULL)
        return "get a current CRL from the CA (TlsCrl) and check this machine's clock";
      if (strstr (m, "RSA key") != NULL)
        return "re-issue the peer's certificate with an RSA key of "
               G_STRINGIFY (LATCH_X509_MIN_RSA_BITS) " bits or more, or "
               "ECDSA/Ed25519 (latch-cert node)";
      return "re-issue the peer's certificate from the CA in TlsCaCertificate "
             "(latch-cert node)";
    case LATCH_ERROR_TLS_REFUSED:
      if (strstr (m, "does not trust") != NULL)
        return "give this node a certificate from the CA the peer trusts (latch-cert node), "
               "or add this node's CA to the peer's TlsCaCertificate; run the debug tool "
               "on the peer for its side";
      if (strstr (m, "expired") != NULL)
        return "issue this node a certificate valid now (latch-cert node), and check both "
               "machines' clocks";
      if (strstr (m, "revoked") != NULL)
        return "the peer's CRL revokes this node's certificate: issue this node a new one "
               "(latch-cert node)";
      if (strstr (m, "requires a client certificate") != NULL)
        return "give this node TlsCertificate and TlsPrivateKey";
      return "run the debug tool on the peer's side too: it names its reason";
    case LATCH_ERROR_TLS_PEER_ID:
      return "a node's certificate must name its machine ID (latch --unique-id on that "
             "node) as CN: issue it a new one with latch-cert node, or use the channel "
             "level (no TlsCheckPeerId)";
    case LATCH_ERROR_TLS_NOT_ALLOWED:
      return "add the peer's machine ID to the TlsAllowedPeers file, if it may lock here";
    case LATCH_ERROR_TLS:
      if (strstr (m, "does not match") != NULL)
        return "give the private key the certificate was issued for (TlsPrivateKey), or "
               "the certificate of that key (TlsCertificate)";
      if (strstr (m, "machine ID") != NULL)
        return "issue this node a certificate whose CN is its machine ID (latch-cert node), "
               "or use the channel level (no TlsCheckPeerId)";
      if (strstr (m, "expired") != NULL || strstr (m, "not valid before") != NULL)
        return "issue this node a certificate valid now (latch-cert node), and check this "
               "machine's clock";
      if (strstr (m, "readable by others") != NULL)
        return "chmod 600 the private key file";
      if (strstr (m, "in common") != NULL || strstr (m, "TlsPriority") != NULL)
        return "make TlsPriority on both sides allow a common TLS version and cipher (or "
               "remove it: latch's default is safe)";
      if (strstr (m, "closed the connection") != NULL)
        return "the peer gave up during the handshake: run the debug tool on its side for "
               "its reason";
      return "correct the file or setting named above";
    case LATCH_ERROR_CONNECT:
      return dbg->server ? "free the address and port (-a, -p), or choose others"
                         : "start latch --debug-feature=tls.server (or the daemon) there "
                           "first, and check -a, -p and firewalls";
    case LATCH_ERROR_CONNECTION_CLOSED:
      return "the peer closed the connection without a word: check that it uses TLS, and "
             "run the debug tool on its side for its reason";
    case LATCH_ERROR_TIMEOUT:
      return dbg->server
                 ? "run latch --debug-feature=tls.client -a THIS_HOST -p PORT on the client"
                 : "check that the peer runs with TLS and that nothing between drops the "
                   "connection";
    case LATCH_ERROR_MACHINE_ID:
      return "create /etc/machine-id (systemd-machine-id-setup or dbus-uuidgen "
             "--ensure=/etc/machine-id)";
    default:
      return "see the message above";
    }
}

static int
fail (const char *reason, const char *fix)
{
  printf ("FAIL: %s\n", reason);
  printf ("FIX: %s\n", fix);
  fflush (stdout);
  return 1;
}

static int
fail_error (const Debug *dbg, const GError *error)
{
  if (error->domain == LATCH_ERROR && error->code == LATCH_ERROR_TLS_CLEAR_PEER)
    {
      g_autofree char *reason
          = g_strdup_printf ("the peer speaks clear text: it has no TLS configured (%s)",
                             error->message);

      return fail (reason, fix_for (error, dbg));
    }
  return fail (error->message, fix_for (error, dbg));
}

static char *
ok_line (const Debug *dbg)
{
  return g_strdup_printf ("OK: a %s with this configuration accepts the peer at level %s",
                          dbg->server ? "daemon" : "client",
                          latch_security_level_name (dbg->level));
}

/* ---- I/O, bounded --------------------------------------------------------- */

static gboolean
wait_fd (int fd, short events, gint64 deadline, const char *what, GError **error)
{
  for (;;)
    {
      struct pollfd pfd = { .fd = fd, .events = events };
      gint64 left = (deadline - g_get_monotonic_time ()) / 1000;
      int ret;

      if (left <= 0)
        {
          g_set_error (error, LATCH_ERROR, LATCH_ERROR_TIMEOUT, "%s timed out", what);
          return FALSE;
        }
      ret = poll (&pfd, 1, (int)MIN (left + 1, G_MAXINT));
      if (ret > 0)
        return TRUE;
      if (ret < 0 && errno != EINTR)
        {
          int e = errno;

          g_set_error (error, LATCH_ERROR, LATCH_ERROR_IO, "%s: poll: %s", what,
                       g_strerror (e));
          return FALSE;
        }
    }
}

/* As the daemon does: shut the write side and drain what the peer still
 * sends (bounded), so that closing never resets the connection and drops
 * an alert or a verdict the peer has not read yet. */
static void
close_gracefully (int fd)
{
  gint64 deadline = g_get_monotonic_time () + 2 * G_TIME_SPAN_SECOND;
  char sink[512];

  shutdown (fd, SHUT_WR);
  for (;;)
    {
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      gint64 left = (deadline - g_get_monotonic_time ()) / 1000;

      if (left <= 0 || poll (&pfd, 1, (int)left) <= 0 || recv (fd, sink, sizeof sink, 0) <= 0)
        break;
    }
  close (fd);
}

static gboolean
handshake (const Debug *dbg, LatchTlsSession *s, int fd, GError **error)
{
  gint64 deadline = g_get_monotonic_time () + (gint64)LATCH_TLS_HANDSHAKE_MS * 1000;
  g_autofree char *what = g_strdup_printf ("the TLS handshake with %s (%d s)",
                                           dbg->peer_label, LATCH_TLS_HANDSHAKE_MS / 1000);

  for (;;)
    {
      LatchTlsStatus st = dbg->tls->handshake (s, error);

      if (st == LATCH_TLS_OK)
        return TRUE;
      if (st == LATCH_TLS_FAILED)
        return FALSE;
      if (!wait_fd (fd, st == LATCH_TLS_WANT_READ ? POLLIN : POLLOUT, deadline, what, error))
        return FALSE;
    }
}

static gboolean
send_all (const Debug *dbg, LatchTlsSession *s, int fd, const char *data, GError **error)
{
  gint64 deadline = g_get_monotonic_time () + (gint64)LATCH_DEBUG_EXCHANGE_MS * 1000;
  gsize len = strlen (data), done = 0;

  while (done < len)
    {
      gsize sent = 0;
      LatchTlsStatus st = dbg->tls->send (s, data + done, len - done, &sent, error);

      if (st == LATCH_TLS_OK)
        done += sent;
      else if (st == LATCH_TLS_FAILED)
        return FALSE;
      else if (!wait_fd (fd, st == LATCH_TLS_WANT_READ ? POLLIN : POLLOUT, deadline,
                         "sending to the peer", error))
        return FALSE;
    }
  return TRUE;
}

/* One message of the exchange: the text before "</msg>" (transfer full),
 * or NULL with an error; *eof set when the peer closed cleanly before
 * sending anything. */
static char *
recv_msg (const Debug *dbg, LatchTlsSession *s, int fd, GString *buf, gboolean *eof,
          GError **error)
{
  gint64 deadline = g_get_monotonic_time () + (gint64)LATCH_DEBUG_EXCHANGE_MS * 1000;

  *eof = FALSE;
  for (;;)
    {
      char chunk[512];
      gsize got = 0;
      LatchTlsStatus st;
      char *end = strstr (buf->str, MSG_END);

      if (end != NULL)
        {
          char *text = g_strndup (buf->str, end - buf->str);

          g_string_erase (buf, 0, (end - buf->str) + strlen (MSG_END));
          return text;
        }
      if (buf->len > MAX_MSG)
        {
          g_set_error (error, LATCH_ERROR, LATCH_ERROR_IO,
                       "%s sent over %d bytes without '%s'", dbg->peer_label, MAX_MSG,
                       MSG_END);
          return NULL;
        }
      st = dbg->tls->recv (s, chunk, sizeof chunk - 1, &got, error);
      if (st == LATCH_TLS_FAILED)
        return NULL;
      if (st == LATCH_TLS_OK && got == 0)
        {
          *eof = buf->len == 0;
          g_set_error (error, LATCH_ERROR, LATCH_ERROR_CONNECTION_CLOSED,
                       "%s closed the connection before the end of its message",
                       dbg->peer_label);
          return NULL;
        }
      if (st == LATCH_TLS_OK)
        {
          /* A NUL would hide the end marker from strstr(). */
          for (gsize i = 0; i < got; i++)
            if (chunk[i] == '\0')
              chunk[i] = '?';
          g_string_append_len (buf, chunk, got);
          continue;
        }
      if (!wait_fd (fd, st == LATCH_TLS_WANT_READ ? POLLIN : POLLOUT, deadline,
                    "waiting for the peer's message", error))
        return NULL;
    }
}

/* ---- the connection ----------------------------------------------------- */

static void
show_session (const Debug *dbg, LatchTlsSession *s, gboolean completed)
{
  gnutls_session_t gs = latch_tls_session_get_gnutls (s);
  const gnutls_datum_t *peers;
  unsigned int n = 0;

  if (completed)
    {
      const char *version = gnutls_protocol_get_name (gnutls_protocol_get_version (gs));
      const char *cipher = gnutls_cipher_get_name (gnutls_cipher_get (gs));
      char *desc = gnutls_session_get_desc (gs);

      say (0, "TLS handshake: completed");
      say (1, "version: %s", version != NULL ? version : "?");
      say (1, "cipher: %s", cipher != NULL ? cipher : "?");
      if (desc != NULL)
        say (1, "session: %s", desc);
      gnutls_free (desc);
    }
  peers = gnutls_certificate_get_peers (gs, &n);
  if (peers == NULL || n == 0)
    {
      say (0, "certificate chain of %s: none received", dbg->peer_label);
      return;
    }
  say (0, "certificate chain of %s (%u certificate%s):", dbg->peer_label, n,
       n > 1 ? "s" : "");
  for (unsigned int i = 0; i < n; i++)
    {
      g_auto (gnutls_x509_crt_t) crt = NULL;

      say (1, "certificate %u%s:", i + 1, i == 0 ? " (the peer's own)" : " (chain)");
      if (gnutls_x509_crt_init (&crt) < 0
          || gnutls_x509_crt_import (crt, &peers[i], GNUTLS_X509_FMT_DER) < 0)
        {
          say (2, "cannot be parsed");
          continue;
        }
      if (i == 0)
        {
          /* The name the peer-ID check compares with the announced ID. */
          g_autofree char *cn = latch_x509_crt_last_cn (crt);
          g_autofree char *qcn
              = cn != NULL ? latch_text_quote (cn, -1, MAX_QUOTE, LATCH_QUOTE_BARE) : NULL;

          say (2, "CN: %s", qcn != NULL ? qcn : "(none)");
        }
      show_crt (crt, 2);
    }
}

/* The verification, in words: latch's own reason when it refused, else
 * GnuTLS's summary of the same check. */
static void
show_verification (const Debug *dbg, LatchTlsSession *s, const GError *hs_error)
{
  gnutls_session_t gs = latch_tls_session_get_gnutls (s);
  const char *refusal = latch_tls_session_get_refusal (s);
  unsigned int n = 0;

  if (refusal != NULL)
    {
      say (0, "verification of the peer's certificate: REFUSED: %s", refusal);
      return;
    }
  if (hs_error != NULL)
    {
      say (0, "verification of the peer's certificate: not reached (%s)",
           hs_error->message);
      return;
    }
  if (gnutls_certificate_get_peers (gs, &n) == NULL || n == 0)
    {
      say (0, "verification of the peer's certificate: none sent (this daemon does not "
              "require client certificates)");
      return;
    }
  {
    gnutls_typed_vdata_st purpose = { 0 };
    unsigned int status = 0;
    gnutls_datum_t words = { NULL, 0 };

    purpose.type = GNUTLS_DT_KEY_PURPOSE_OID;
    purpose.data = (unsigned char *)(dbg->server ? GNUTLS_KP_TLS_WWW_CLIENT
                                                 : GNUTLS_KP_TLS_WWW_SERVER);
    if (gnutls_certificate_verify_peers (gs, &purpose, 1, &status) >= 0
        && gnutls_certificate_verification_status_print (status, GNUTLS_CRT_X509, &words, 0)
               >= 0)
      {
        g_autofree char *w = g_strstrip (latch_x509_escape ((const char *)words.data,
                                                            words.size));

        gnutls_free (words.data);
        say (0, "verification of the peer's certificate: accepted: signed by a CA in %s, "
                "within its dates, meant for TLS %s use%s",
             dbg->settings.ca_certificate, dbg->server ? "client" : "server",
             dbg->settings.crl != NULL ? ", not revoked by the CRL" : "");
        say (1, "GnuTLS: %s", w);
      }
  }
}

/* The peer-ID exchange's check: words, then the module's verdict. */
static gboolean
check_id (const Debug *dbg, LatchTlsSession *s, const char *announced, GError **error)
{
  g_autofree char *q = latch_text_quote (announced, -1, MAX_QUOTE, LATCH_QUOTE_BARE);

  say (0, "%s announced machine ID '%s'", dbg->peer_label, q);
  if (dbg->level != LATCH_SECURITY_MUTUAL)
    {
      say (1, "not checked against its certificate: the channel level does not check IDs");
      return TRUE;
    }
  if (!dbg->tls->check_peer_id (s, announced, error))
    {
      say (1, "DOES NOT MATCH its certificate, or is not allowed");
      return FALSE;
    }
  say (1, "matches its certificate%s",
       dbg->server && dbg->settings.allowed_peers != NULL ? ", and is in TlsAllowedPeers"
                                                          : "");
  return TRUE;
}

static int
set_nonblocking (int fd)
{
  int flags = fcntl (fd, F_GETFL);

  if (flags < 0)
    return -1;
  return fcntl (fd, F_SETFL, flags | O_NONBLOCK);
}

static char *
numeric_host (const struct sockaddr *sa, socklen_t len)
{
  char host[NI_MAXHOST];

  if (getnameinfo (sa, len, host, sizeof host, NULL, 0, NI_NUMERICHOST) != 0)
    return g_strdup ("?");
  return g_strdup (host);
}

/* TLS on fd: a session, its handshake, both described.  On failure,
 * prints the verdict and returns FALSE with *status set; *s is NULL (and
 * fd closed) when no session could be made, else still the caller's. */
static gboolean
start_session (const Debug *dbg, int fd, LatchTlsSession **s, int *status)
{
  g_autoptr (GError) error = NULL;

  *s = dbg->tls->session_new (dbg->creds, fd, dbg->peer_label, &error);
  if (*s == NULL)
    {
      close (fd);
      *status = fail_error (dbg, error);
      return FALSE;
    }
  if (!handshake (dbg, *s, fd, &error))
    {
      say (0, "TLS handshake: FAILED");
      show_session (dbg, *s, FALSE);
      show_verification (dbg, *s, error);
      *status = fail_error (dbg, error);
      return FALSE;
    }
  show_session (dbg, *s, TRUE);
  show_verification (dbg, *s, NULL);
  return TRUE;
}

/* The server: one client, then the exchange and the verdict. */
static int
run_server (Debug *dbg)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) buf = g_string_new (NULL);
  g_autofree char *client_id = NULL;
  g_autofree char *reply = NULL;
  g_autofree char *verdict = NULL;
  g_autofree char *addr = NULL;
  g_autofree char *peer = NULL;
  LatchTlsSession *s = NULL;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int lfd = -1, fd = -1, port = 0;
  gboolean eof = FALSE;
  int status;

  switch (latch_tcp_listen (dbg->config->unicast_address, dbg->config->unicast_port,
                            dbg->config->network_interface, &lfd, &port, &error))
    {
    case LATCH_TCP_OK:
      break;
    case LATCH_TCP_REFUSED:
      {
        g_autofree char *reason = g_strdup_printf (
            "cannot listen on %s port %d: %s",
            dbg->config->unicast_address != NULL ? dbg->config->unicast_address : "*",
            dbg->config->unicast_port, error != NULL ? error->message : "address in use");

        return fail (reason, "stop what listens there (a daemon?), or choose another -p");
      }
    case LATCH_TCP_NOT_LOCAL:
    case LATCH_TCP_FAILED:
    default:
      return fail (error != NULL ? error->message : "cannot listen",
                   "give -a an address of this host (or none: every address), and a free "
                   "port with -p");
    }
  if (getsockname (lfd, (struct sockaddr *)&ss, &len) == 0)
    addr = numeric_host ((struct sockaddr *)&ss, len);
  else
    addr = g_strdup ("?");
  say (0, "listening on %s port %d", addr, port);
  fflush (stdout);

  if (!wait_fd (lfd, POLLIN, g_get_monotonic_time () + (gint64)LATCH_DEBUG_ACCEPT_MS * 1000,
                "waiting for a client", &error))
    {
      g_autofree char *reason = g_strdup_printf ("no client connected within %d s",
                                                 LATCH_DEBUG_ACCEPT_MS / 1000);
      g_autofree char *fix = g_strdup_printf (
          "run latch --debug-feature=tls.client -a %s -p %d with the client's "
          "configuration on the client host, within %d s of starting this server",
          dbg->config->unicast_address != NULL ? dbg->config->unicast_address : "THIS_HOST",
          port, LATCH_DEBUG_ACCEPT_MS / 1000);

      close (lfd);
      return fail (reason, fix);
    }
  len = sizeof ss;
  fd = accept4 (lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
  close (lfd);
  if (fd < 0)
    {
      int e = errno;
      g_autofree char *reason = g_strdup_printf ("accept: %s", g_strerror (e));

      return fail (reason, "try again");
    }
  peer = latch_sockaddr_to_string ((struct sockaddr *)&ss, len);
  dbg->peer_label = g_strdup_printf ("the client at %s", peer);
  say (0, "connection from %s", peer);

  if (!start_session (dbg, fd, &s, &status))
    {
      if (s == NULL)
        return status; /* fd is closed */
      goto out;
    }

  /* FLoM's exchange: the client's ID, then ours. */
  client_id = recv_msg (dbg, s, fd, buf, &eof, &error);
  if (client_id == NULL)
    {
      status = fail_error (dbg, error);
      goto out;
    }
  reply = g_strconcat (dbg->own_id != NULL ? dbg->own_id : "", MSG_END, NULL);
  if (!send_all (dbg, s, fd, reply, &error))
    {
      status = fail_error (dbg, error);
      goto out;
    }
  say (0, "sent this node's machine ID '%s'", dbg->own_id != NULL ? dbg->own_id : "");
  if (check_id (dbg, s, client_id, &error))
    {
      verdict = ok_line (dbg);
      printf ("%s\n", verdict);
      status = 0;
    }
  else
    {
      verdict = g_strdup_printf ("FAIL: %s|FIX: %s", error->message, fix_for (error, dbg));
      status = fail_error (dbg, error);
    }
  /* One more message: our verdict, for the client to print. */
  {
    g_autoptr (GError) send_error = NULL;
    g_autofree char *msg = g_strconcat (verdict, MSG_END, NULL);

    if (!send_all (dbg, s, fd, msg, &send_error))
      fprintf (stderr, "latch: could not send the verdict to the client: %s\n",
               send_error->message);
  }
  dbg->tls->bye (s);
out:
  dbg->tls->session_free (s);
  close_gracefully (fd);
  return status;
}

/* Prints the server's verdict line ("OK: ..." or "FAIL: ...|FIX: ...");
 * TRUE when it says OK.  *reason, *fix: its parts (transfer full). */
static gboolean
show_server_verdict (const char *line, char **reason, char **fix)
{
  g_autofree char *q = latch_text_quote (line, -1, MAX_QUOTE, LATCH_QUOTE_BARE);
  const char *bar = strstr (line, "|FIX: ");

  if (g_str_has_prefix (line, "OK: "))
    {
      say (0, "server verdict: %s", q);
      return TRUE;
    }
  if (bar != NULL)
    {
      g_autofree char *head = g_strndup (line, bar - line);
      g_autofree char *qh = latch_text_quote (head, -1, MAX_QUOTE, LATCH_QUOTE_BARE);
      g_autofree char *qf = latch_text_quote (bar + 1, -1, MAX_QUOTE, LATCH_QUOTE_BARE);

      say (0, "server verdict: %s", qh);
      say (0, "server verdict: %s", qf);
      *reason = g_strdup (g_str_has_prefix (qh, "FAIL: ") ? qh + 6 : qh);
      *fix = g_strdup (qf + 5);
      return FALSE;
    }
  say (0, "server verdict: %s", q);
  *reason = g_strdup (g_str_has_prefix (q, "FAIL: ") ? q + 6 : q);
  *fix = g_strdup ("see the server's output");
  return FALSE;
}

static int
run_client (Debug *dbg)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GError) id_error = NULL;
  g_autoptr (GString) buf = g_string_new (NULL);
  g_autofree char *hello = NULL;
  g_autofree char *server_id = NULL;
  g_autofree char *server_verdict = NULL;
  g_autofree char *addr = NULL;
  LatchTlsSession *s = NULL;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  const char *host = dbg->config->unicast_address;
  int port = dbg->config->unicast_port;
  int fd = -1;
  gboolean eof = FALSE;
  gboolean id_ok;
  int status;

  if (host == NULL)
    return fail ("no daemon address: tls.client connects to UnicastAddress:UnicastPort",
                 "give -a HOST (and -p PORT) of the daemon or of latch "
                 "--debug-feature=tls.server");
  dbg->peer_label = g_strdup_printf ("the daemon at %s port %d", host, port);
  switch (latch_tcp_connect (host, port, dbg->config->network_interface, NULL,
                             LATCH_DEBUG_EXCHANGE_MS, &fd, &error))
    {
    case LATCH_TCP_OK:
      break;
    case LATCH_TCP_REFUSED:
      {
        g_autofree char *reason
            = g_strdup_printf ("nobody listens at %s port %d (connection refused)", host, port);

        return fail (reason, "start latch --debug-feature=tls.server (or the daemon) there "
                             "first, and check -a and -p");
      }
    default:
      return fail_error (dbg, error);
    }
  if (getpeername (fd, (struct sockaddr *)&ss, &len) == 0)
    addr = latch_sockaddr_to_string ((struct sockaddr *)&ss, len);
  say (0, "connected to %s port %d (%s)", host, port, addr != NULL ? addr : "?");
  set_nonblocking (fd);

  if (!start_session (dbg, fd, &s, &status))
    {
      if (s == NULL)
        return status; /* fd is closed */
      goto out;
    }

  hello = g_strconcat (dbg->own_id != NULL ? dbg->own_id : "", MSG_END, NULL);
  if (!send_all (dbg, s, fd, hello, &error))
    {
      status = fail_error (dbg, error);
      goto out;
    }
  say (0, "sent this node's machine ID '%s'", dbg->own_id != NULL ? dbg->own_id : "");
  /* TLS 1.3: a server refusing our certificate says so here, as an alert
   * the module explains. */
  server_id = recv_msg (dbg, s, fd, buf, &eof, &error);
  if (server_id == NULL)
    {
      status = fail_error (dbg, error);
      goto out;
    }
  id_ok = check_id (dbg, s, server_id, &id_error);

  server_verdict = recv_msg (dbg, s, fd, buf, &eof, &error);
  if (server_verdict == NULL)
    {
      if (eof)
        say (0, "server verdict: none sent (a FLoM server, or an older latch)");
      else
        say (0, "server verdict: not received (%s)", error->message);
      g_clear_error (&error);
    }
  if (!id_ok)
    {
      status = fail_error (dbg, id_error);
      goto out;
    }
  if (server_verdict != NULL)
    {
      g_autofree char *reason = NULL;
      g_autofree char *fix = NULL;

      if (!show_server_verdict (server_verdict, &reason, &fix))
        {
          g_autofree char *why = g_strdup_printf ("the daemon refuses this client: %s",
                                                  reason);

          status = fail (why, fix);
          goto out;
        }
    }
  {
    g_autofree char *ok = ok_line (dbg);

    printf ("%s\n", ok);
    status = 0;
  }
  dbg->tls->bye (s);
out:
  dbg->tls->session_free (s);
  close (fd);
  return status;
}

int
latch_debug_tls_run (const LatchConfig *config, gboolean server)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GError) id_error = NULL;
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  Debug dbg = { 0 };
  int status;

  dbg.config = config;
  dbg.server = server;
  dbg.role = server ? LATCH_TLS_SERVER : LATCH_TLS_CLIENT;
  dbg.settings = latch_config_tls_settings (config);
  signal (SIGPIPE, SIG_IGN);

  if (!latch_tls_settings_resolve (&dbg.settings, dbg.role, &dbg.level, &error))
    {
      section (server ? "local configuration (tls.server)" : "local configuration (tls.client)");
      return fail (error->message,
                   "give TlsCertificate, TlsPrivateKey and TlsCaCertificate together "
                   "(--tls-certificate, --tls-private-key, --tls-ca-certificate), or none "
                   "of them for clear text; see SECURITY LEVELS in latch(1)");
    }
  if (dbg.level == LATCH_SECURITY_CLEAR)
    {
      section (server ? "local configuration (tls.server)" : "local configuration (tls.client)");
      return fail ("this configuration does not use TLS (clear level)",
                   "set TlsCertificate, TlsPrivateKey and TlsCaCertificate in the [TLS] group "
                   "(or --tls-certificate, --tls-private-key, --tls-ca-certificate), and "
                   "TlsCheckPeerId=yes for the mutual level");
    }
  dbg.own_id = latch_machine_id_get (&id_error);

  {
    g_autofree char *title = g_strdup_printf ("local configuration (%s, security level %s)",
                                              server ? "tls.server" : "tls.client",
                                              latch_security_level_name (dbg.level));

    section (title);
  }
  show_local (&dbg);

  if (dbg.level == LATCH_SECURITY_MUTUAL && dbg.own_id == NULL)
    return fail_error (&dbg, id_error);
  dbg.tls = latch_tls_module ();
  dbg.creds = dbg.tls->creds_new (&dbg.settings, dbg.role, dbg.level, dbg.own_id, warnings,
                                  &error);
  for (guint i = 0; i < warnings->len; i++)
    say (0, "warning: %s", (const char *)warnings->pdata[i]);
  if (dbg.creds == NULL)
    {
      say (0, "credentials: REFUSED by latch's TLS module");
      return fail_error (&dbg, error);
    }
  say (0, "credentials: loaded and checked by latch's TLS module");

  section ("connection");
  fflush (stdout);
  status = server ? run_server (&dbg) : run_client (&dbg);
  dbg.tls->creds_free (dbg.creds);
  g_free (dbg.peer_label);
  return status;
}
