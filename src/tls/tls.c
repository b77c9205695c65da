/* tls.c: credentials, sessions, in-handshake verification, peer identity
 * and failure explanations, with GnuTLS.
 *
 * Built into latchd and as the module latch-tls.so, which has no logger:
 * everything is reported through GError or the warnings array.
 *
 * Verification runs inside the handshake, in verify_cb(): when it refuses
 * the peer, the handshake fails and we send the alert that names the
 * reason, so that the other side can explain it too (explain_alert()).
 * Every message names the peer, the file involved and, where there is
 * one, the fix. */
#include "config.h"

#include "tls/tls.h"

#include "common/autocleanup.h"
#include "common/error.h"
#include "common/file.h"
#include "common/text.h"
#include "x509/x509-util.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Longest text quoted from a file or a peer in a message. */
#define MAX_QUOTE 80
/* Callers add the quotes; escapes are spelt as C does (a newline as \n). */
#define QUOTE_FLAGS (LATCH_QUOTE_BARE | LATCH_QUOTE_C_ESCAPES)

/* A whole file read into memory. */
typedef struct
{
  char *data;
  gsize len;
  mode_t mode;
} FileData;

static void
file_data_clear (FileData *file)
{
  g_clear_pointer (&file->data, g_free);
  file->len = 0;
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (FileData, file_data_clear)

static gnutls_datum_t
file_datum (const FileData *file)
{
  gnutls_datum_t d = { (unsigned char *)file->data, (unsigned int)file->len };

  return d;
}

/* ---- the objects ------------------------------------------------------ */

struct _LatchTlsCreds
{
  gatomicrefcount ref; /* the owner's, plus one per session */
  LatchTlsRole role;
  LatchSecurityLevel level;
  gnutls_certificate_credentials_t cred;
  gnutls_priority_t priority;
  gnutls_certificate_request_t request; /* server only */
  gboolean has_own_cert;
  char *ca_file;
  char *crl_file;         /* NULL: no CRL */
  time_t crl_next_update; /* earliest next update of the CRLs; -1: none */
  char *allowed_file;     /* NULL: no allow-list */
  GHashTable *allowed;    /* machine IDs (server, mutual) */
};

struct _LatchTlsSession
{
  LatchTlsCreds *creds; /* a reference */
  gnutls_session_t session;
  int fd;
  char *peer_label;

  int saved_errno;    /* of the last failed send() or recv() */
  gboolean got_data;  /* the peer sent at least one byte */
  gboolean got_eof;   /* recv() returned 0 */
  gboolean clear_peer;/* its first byte was '<': latch/FLoM XML */

  gboolean handshake_done;
  gboolean failed;      /* the handshake failed: nothing more to do */
  gboolean alert_sent;
  gboolean bye_sent;

  /* Set by verify_cb(). */
  gboolean peer_verified;   /* its certificate passed every check */
  gboolean has_peer_cert;
  char *peer_cn;            /* last CN of the peer's certificate, or NULL */
  GPtrArray *peer_dns;      /* its DNS SANs (char *) */
  char *refusal;            /* why verify_cb() refused the peer, or NULL */
  gnutls_alert_description_t refusal_alert;
};

/* ---- small helpers ---------------------------------------------------- */

static gboolean
is_again (int e)
{
#if EWOULDBLOCK != EAGAIN
  if (e == EWOULDBLOCK)
    return TRUE;
#endif
  return e == EAGAIN;
}

static void add_warning (GPtrArray *warnings, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
add_warning (GPtrArray *warnings, const char *format, ...)
{
  va_list ap;

  if (warnings == NULL)
    return;
  va_start (ap, format);
  g_ptr_array_add (warnings, g_strdup_vprintf (format, ap));
  va_end (ap);
}

/* Reads path whole (latch_file_read ()).  what and setting name it in
 * messages ("certificate", "TlsCertificate"). */
static gboolean
read_file (const char *path, const char *what, const char *setting, FileData *out,
           GError **error)
{
  g_autofree char *name = g_strdup_printf ("%s %s (%s)", what, path, setting);
  g_autofree char *data = NULL;
  gsize len = 0;
  unsigned int mode = 0;

  if (!latch_file_read (path, name, LATCH_X509_MAX_FILE, LATCH_FILE_MAY_BE_MISSING, LATCH_ERROR_TLS,
                        &data, &len, &mode, error))
    return FALSE;
  /* The usual mistake, in the words users and tests know. */
  if (data == NULL)
    return latch_error_set (error, LATCH_ERROR_TLS, "cannot read %s: %s", name,
                            g_strerror (ENOENT));
  out->data = g_steal_pointer (&data);
  out->len = len;
  out->mode = (mode_t)mode;
  return TRUE;
}

/* ---- certificate facts ------------------------------------------------ */

static gboolean
identity_matches (const char *cn, GPtrArray *dns, const char *id)
{
  if (id == NULL)
    return FALSE;
  if (cn != NULL && strcmp (cn, id) == 0)
    return TRUE;
  for (guint i = 0; dns != NULL && i < dns->len; i++)
    if (strcmp (g_ptr_array_index (dns, i), id) == 0)
      return TRUE;
  return FALSE;
}

/* " and DNS names 'a', 'b'", or "" (transfer full). */
static char *
describe_dns (GPtrArray *dns)
{
  GString *out = g_string_new (NULL);

  for (guint i = 0; dns != NULL && i < dns->len; i++)
    {
      g_autofree char *q
          = latch_text_quote (g_ptr_array_index (dns, i), -1, MAX_QUOTE, QUOTE_FLAGS);

      g_string_append_printf (out, "%s'%s'", i == 0 ? " and DNS names " : ", ", q);
    }
  return g_string_free (out, FALSE);
}

/* ---- credentials ------------------------------------------------------ */

static LatchTlsCreds *
creds_ref (LatchTlsCreds *creds)
{
  g_atomic_ref_count_inc (&creds->ref);
  return creds;
}

static void
creds_unref (LatchTlsCreds *creds)
{
  if (creds == NULL || !g_atomic_ref_count_dec (&creds->ref))
    return;
  if (creds->cred != NULL)
    gnutls_certificate_free_credentials (creds->cred);
  if (creds->priority != NULL)
    gnutls_priority_deinit (creds->priority);
  g_free (creds->ca_file);
  g_free (creds->crl_file);
  g_free (creds->allowed_file);
  g_clear_pointer (&creds->allowed, g_hash_table_unref);
  g_free (creds);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LatchTlsCreds, creds_unref)

static void
creds_free (LatchTlsCreds *creds)
{
  creds_unref (creds);
}

static LatchSecurityLevel
creds_get_level (const LatchTlsCreds *creds)
{
  return creds->level;
}

/* Imports every PEM certificate of file; at least one. */
static gboolean
import_certs (const FileData *file, const char *what, const char *path,
              const char *setting, LatchX509CrtList *out, GError **error)
{
  int ret;

  if (!latch_x509_crt_list_import (file->data, file->len, FALSE, out, &ret))
    {
      if (ret == GNUTLS_E_NO_CERTIFICATE_FOUND || ret == GNUTLS_E_BASE64_DECODING_ERROR
          || ret >= 0)
        return latch_error_set (error, LATCH_ERROR_TLS,
                                "%s %s (%s) holds no PEM certificate (a '-----BEGIN "
                                "CERTIFICATE-----' block)", what, path, setting);
      return latch_error_set (error, LATCH_ERROR_TLS, "%s %s (%s) holds a certificate GnuTLS "
                              "cannot parse: %s", what, path, setting, gnutls_strerror (ret));
    }
  return TRUE;
}

/* The own certificate chain: key type and size, validity dates. */
static gboolean
check_own_chain (const LatchX509CrtList *chain, const char *path, GError **error)
{
  time_t now = time (NULL);

  for (unsigned int i = 0; i < chain->n; i++)
    {
      gnutls_x509_crt_t crt = chain->items[i];
      time_t not_before = gnutls_x509_crt_get_activation_time (crt);
      time_t not_after = gnutls_x509_crt_get_expiration_time (crt);
      unsigned int bits = 0;
      LatchX509KeyVerdict verdict = latch_x509_crt_key_verdict (crt, &bits);
      g_autofree char *cn = latch_x509_crt_last_cn (crt);
      g_autofree char *qcn = latch_text_quote (cn != NULL ? cn : "?", -1, MAX_QUOTE, QUOTE_FLAGS);
      /* "certificate F" for the leaf, "certificate F: its chain
       * certificate CN 'x'" for the others. */
      g_autofree char *subject
          = i == 0 ? g_strdup_printf ("certificate %s (TlsCertificate)", path)
                   : g_strdup_printf ("certificate %s (TlsCertificate): its chain "
                                      "certificate (CN '%s')", path, qcn);

      if (verdict == LATCH_X509_KEY_RSA_TOO_SMALL)
        return latch_error_set (error, LATCH_ERROR_TLS,
                                "%s has a %u-bit RSA key: latch requires RSA keys of %d bits or "
                                "more (or ECDSA/Ed25519); issue a new certificate", subject,
                                bits, LATCH_X509_MIN_RSA_BITS);
      if (i == 0 && verdict == LATCH_X509_KEY_DSA)
        return latch_error_set (error, LATCH_ERROR_TLS,
                                "%s has a DSA key, which TLS 1.3 cannot use: latch requires RSA "
                                "keys of %d bits or more, ECDSA or Ed25519; issue a new "
                                "certificate", subject, LATCH_X509_MIN_RSA_BITS);
      if (not_after != (time_t)-1 && not_after < now)
        {
          g_autofree char *when = latch_x509_format_time_minutes (not_after);

          return latch_error_set (error, LATCH_ERROR_TLS,
                                  "%s expired on %s: issue a new certificate", subject, when);
        }
      if (not_before != (time_t)-1 && not_before > now)
        {
          g_autofree char *when = latch_x509_format_time_minutes (not_before);

          return latch_error_set (error, LATCH_ERROR_TLS,
                                  "%s is not valid before %s: check this machine's clock, or "
                                  "issue a certificate valid now", subject, when);
        }
    }
  return TRUE;
}

/* The leaf's extended key usage, if it has one, must allow the role: a
 * daemon with a client-only certificate would be refused by every client
 * (and a client with a server-only one by every daemon). */
static gboolean
check_own_purpose (gnutls_x509_crt_t leaf, LatchTlsRole role, const char *path,
                   GError **error)
{
  const char *want = role == LATCH_TLS_SERVER ? GNUTLS_KP_TLS_WWW_SERVER
                                              : GNUTLS_KP_TLS_WWW_CLIENT;
  gboolean any = FALSE;

  for (unsigned int i = 0;; i++)
    {
      char oid[128];
      size_t size = sizeof oid;
      int ret = gnutls_x509_crt_get_key_purpose_oid (leaf, i, oid, &size, NULL);

      if (ret < 0)
        break; /* GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE: the end */
      any = TRUE;
      if (strcmp (oid, want) == 0 || strcmp (oid, GNUTLS_KP_ANY) == 0)
        return TRUE;
    }
  if (!any)
    return TRUE; /* no extended key usage: any purpose */
  return latch_error_set (error, LATCH_ERROR_TLS,
                          "certificate %s (TlsCertificate) is not meant for TLS %s use (key "
                          "purpose): a latch node certificate needs both tls_www_server and "
                          "tls_www_client; issue a new one", path,
                          role == LATCH_TLS_SERVER ? "server" : "client");
}

/* The private key: readable, parseable, matching the certificate, and not
 * readable by others. */
static gboolean
load_key (const LatchTlsSettings *settings, gnutls_x509_crt_t leaf, FileData *key_file,
          GPtrArray *warnings, GError **error)
{
  const char *path = settings->private_key;
  g_auto (gnutls_x509_privkey_t) key = NULL;
  gnutls_datum_t d;
  unsigned char key_id[64], crt_id[64];
  size_t key_id_size = sizeof key_id, crt_id_size = sizeof crt_id;
  int ret;

  if (!read_file (path, "private key", "TlsPrivateKey", key_file, error))
    return FALSE;
  if ((key_file->mode & 077) != 0)
    {
      if (settings->level != LATCH_SECURITY_DEFAULT)
        return latch_error_set (error, LATCH_ERROR_TLS,
                                "private key %s is readable by others (mode %04o): chmod 600 %s",
                                path, (unsigned int)(key_file->mode & 07777), path);
      add_warning (warnings, "private key %s is readable by others (mode %04o): chmod 600 %s",
                   path, (unsigned int)(key_file->mode & 07777), path);
    }

  d = file_datum (key_file);
  gnutls_x509_privkey_init (&key);
  ret = gnutls_x509_privkey_import2 (key, &d, GNUTLS_X509_FMT_PEM, NULL, 0);
  if (ret == GNUTLS_E_DECRYPTION_FAILED)
    return latch_error_set (error, LATCH_ERROR_TLS,
                            "private key %s (TlsPrivateKey) is encrypted: latch needs an "
                            "unencrypted key (protect it with chmod 600 instead)", path);
  if (ret < 0)
    return latch_error_set (error, LATCH_ERROR_TLS,
                            "private key %s (TlsPrivateKey) holds no usable PEM private key (a "
                            "'-----BEGIN ... PRIVATE KEY-----' block): %s", path,
                            gnutls_strerror (ret));

  if (gnutls_x509_privkey_get_key_id (key, GNUTLS_KEYID_USE_SHA256, key_id, &key_id_size) < 0
      || gnutls_x509_crt_get_key_id (leaf, GNUTLS_KEYID_USE_SHA256, crt_id, &crt_id_size) < 0
      || key_id_size != crt_id_size || memcmp (key_id, crt_id, key_id_size) != 0)
    return latch_error_set (error, LATCH_ERROR_TLS,
                            "private key %s (TlsPrivateKey) does not match certificate %s "
                            "(TlsCertificate): give the key that certificate was issued for",
                            path, settings->certificate);
  return TRUE;
}

/* The CRL file: PEM CRLs, each signed by a CA of the CA file. */
static gboolean
load_crl (LatchTlsCreds *creds, const FileData *crl_file, const LatchX509CrtList *cas,
          const LatchX509CrtList *own, GPtrArray *warnings, GError **error)
{
  g_auto (LatchX509CrlList) crls = { NULL, 0 };
  time_t now = time (NULL);
  int ret;

  if (!latch_x509_crl_list_import (crl_file->data, crl_file->len, FALSE, &crls, &ret))
    return latch_error_set (error, LATCH_ERROR_TLS,
                            "CRL %s (TlsCrl) holds no PEM CRL (a '-----BEGIN X509 CRL-----' "
                            "block)%s%s", creds->crl_file, ret < 0 ? ": " : "",
                            ret < 0 ? gnutls_strerror (ret) : "");
  creds->crl_next_update = -1;
  for (unsigned int i = 0; i < crls.n; i++)
    {
      unsigned int verify = 0;
      time_t next;

      ret = gnutls_x509_crl_verify (crls.items[i], cas->items, cas->n, 0, &verify);
      /* A CRL past its next update is flagged too: that is not a bad
       * signature, and it is refused below with its own words. */
      if (verify & (GNUTLS_CERT_REVOCATION_DATA_SUPERSEDED
                    | GNUTLS_CERT_REVOCATION_DATA_ISSUED_IN_FUTURE))
        verify &= ~(unsigned int)(GNUTLS_CERT_INVALID | GNUTLS_CERT_REVOCATION_DATA_SUPERSEDED
                                  | GNUTLS_CERT_REVOCATION_DATA_ISSUED_IN_FUTURE);
      if (ret < 0 || verify != 0)
        return latch_error_set (error, LATCH_ERROR_TLS,
                                "CRL %s (TlsCrl) is not signed by a CA in %s (TlsCaCertificate): "
                                "give the CRL that CA issued", creds->crl_file, creds->ca_file);
      next = gnutls_x509_crl_get_next_update (crls.items[i]);
      if (next != (time_t)-1
          && (creds->crl_next_update == (time_t)-1 || next < creds->crl_next_update))
        creds->crl_next_update = next;
    }
  if (creds->crl_next_update != (time_t)-1 && creds->crl_next_update < now)
    {
      g_autofree char *when = latch_x509_format_time_minutes (creds->crl_next_update);

      /* GnuTLS would refuse every peer with it: say so now. */
      return latch_error_set (error, LATCH_ERROR_TLS,
                              "CRL %s (TlsCrl) is out of date (its next update was due on %s), "
                              "so every certificate would be refused: get a current CRL from "
                              "the CA", creds->crl_file, when);
    }
  if (own != NULL && own->n > 0
      && gnutls_x509_crt_check_revocation (own->items[0], crls.items, crls.n) == 1)
    add_warning (warnings, "this node's own certificate is revoked by CRL %s (TlsCrl): "
                 "peers using that CRL will refuse it", creds->crl_file);
  return TRUE;
}

/* TlsAllowedPeers: one machine ID a line, blank lines, '#' comments. */
static gboolean
load_allowed_peers (LatchTlsCreds *creds, const char *path, GPtrArray *warnings,
                    GError **error)
{
  g_auto (FileData) file = { NULL, 0, 0 };
  g_auto (GStrv) lines = NULL;
  g_autoptr (GHashTable) allowed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                          NULL);

  if (!read_file (path, "allow-list", "TlsAllowedPeers", &file, error))
    return FALSE;
  if (memchr (file.data, '\0', file.len) != NULL)
    return latch_error_set (error, LATCH_ERROR_TLS, "allow-list %s (TlsAllowedPeers) is not a "
                            "text file", path);
  lines = g_strsplit (file.data, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *line = lines[i];
      char *hash = strchr (line, '#');

      if (hash != NULL)
        *hash = '\0';
      g_strstrip (line);
      if (*line == '\0')
        continue;
      if (!latch_x509_is_machine_id (line))
        {
          g_autofree char *q = latch_text_quote (line, -1, MAX_QUOTE, QUOTE_FLAGS);

          return latch_error_set (error, LATCH_ERROR_TLS,
                                  "%s:%u: '%s' is not a machine ID (32 hex digits)", path, i + 1,
                                  q);
        }
      g_hash_table_add (allowed, g_strdup (line));
    }
  if (g_hash_table_size (allowed) == 0)
    add_warning (warnings, "allow-list %s (TlsAllowedPeers) lists no machine ID: every "
                 "client will be refused", path);
  creds->allowed_file = g_strdup (path);
  creds->allowed = g_steal_pointer (&allowed);
  return TRUE;
}

/* The priority string, and latch's floor under it. */
static gboolean
load_priority (LatchTlsCreds *creds, const char *text, GError **error)
{
  const char *err_pos = NULL;
  const unsigned int *list = NULL;
  g_autoptr (GString) weak = g_string_new (NULL);
  g_autoptr (GString) fix = g_string_new (NULL);
  gboolean modern = FALSE;
  g_autofree char *qtext = latch_text_quote (text, -1, MAX_QUOTE, QUOTE_FLAGS);
  int n, ret;

  ret = gnutls_priority_init2 (&creds->priority, text, &err_pos, 0);
  if (ret < 0)
    {
      creds->priority = NULL;
      if (ret == GNUTLS_E_INVALID_REQUEST && err_pos != NULL && err_pos >= text
          && err_pos < text + strlen (text))
        {
          const char *end = strchr (err_pos, ':');
          g_autofree char *token
              = end != NULL ? g_strndup (err_pos, end - err_pos) : g_strdup (err_pos);
          g_autofree char *qtoken = latch_text_quote (token, -1, MAX_QUOTE, QUOTE_FLAGS);

          return latch_error_set (error, LATCH_ERROR_TLS,
                                  "TlsPriority: GnuTLS does not accept '%s' in '%s'", qtoken,
                                  qtext);
        }
      return latch_error_set (error, LATCH_ERROR_TLS,
                              "TlsPriority: GnuTLS does not accept '%s': %s", qtext,
                              gnutls_strerror (ret));
    }

  n = gnutls_priority_protocol_list (creds->priority, &list);
  for (int i = 0; i < n; i++)
    {
      const char *name = NULL;

      switch (list[i])
        {
        case GNUTLS_SSL3: name = "SSL3.0"; break;
        case GNUTLS_TLS1_0: name = "TLS1.0"; break;
        case GNUTLS_TLS1_1: name = "TLS1.1"; break;
        case GNUTLS_TLS1_2:
        case GNUTLS_TLS1_3: modern = TRUE; break;
        default: break; /* DTLS: not used on streams */
        }
      if (name != NULL)
        {
          if (weak->len > 0)
            g_string_append (weak, ", ");
          g_string_append (weak, name);
          g_string_append_printf (fix, ":-VERS-%s", name);
        }
    }
  if (weak->len > 0)
    return latch_error_set (error, LATCH_ERROR_TLS,
                            "TlsPriority '%s' enables %s, which latch refuses (TLS 1.2 or later "
                            "only): append '%s' to it", qtext, weak->str, fix->str);
  if (!modern)
    return latch_error_set (error, LATCH_ERROR_TLS,
                            "TlsPriority '%s' enables neither TLS1.2 nor TLS1.3: latch needs one "
                            "of them (e.g. append ':+VERS-TLS1.3:+VERS-TLS1.2')", qtext);

  n = gnutls_priority_cipher_list (creds->priority, &list);
  for (int i = 0; i < n; i++)
    {
      const char *why = NULL;
      const char *name = gnutls_cipher_get_name ((gnutls_cipher_algorithm_t)list[i]);

      switch (list[i])
        {
        case GNUTLS_CIPHER_3DES_CBC:
          why = "its 64-bit blocks let Sweet32 attacks recover data from long connections";
          break;
        case GNUTLS_CIPHER_ARCFOUR_128:
        case GNUTLS_CIPHER_ARCFOUR_40:
          why = "RC4 is broken and forbidden in TLS by RFC 7465";
          break;
        case GNUTLS_CIPHER_NULL:
          why = "it does not encrypt";
          break;
        case GNUTLS_CIPHER_DES_CBC:
        case GNUTLS_CIPHER_RC2_40_CBC:
          why = "it is an export-grade cipher";
          break;
        default:
          break;
        }
      if (why != NULL)
        return latch_error_set (error, LATCH_ERROR_TLS,
                                "TlsPriority '%s' enables %s, which latch refuses (%s): append "
                                "':-%s' to it", qtext, name != NULL ? name : "a weak cipher", why,
                                name != NULL ? name : "CIPHER-ALL");
    }
  return TRUE;
}

static LatchTlsCreds *
creds_new (const LatchTlsSettings *settings, LatchTlsRole role, LatchSecurityLevel level,
           const char *own_id, GPtrArray *warnings, GError **error)
{
  g_autoptr (LatchTlsCreds) creds = NULL;
  g_auto (FileData) ca_file = { NULL, 0, 0 };
  g_auto (FileData) cert_file = { NULL, 0, 0 };
  g_auto (FileData) key_file = { NULL, 0, 0 };
  g_auto (FileData) crl_file = { NULL, 0, 0 };
  g_auto (LatchX509CrtList) cas = { NULL, 0 };
  g_auto (LatchX509CrtList) own = { NULL, 0 };
  gboolean has_cert = settings->certificate != NULL || settings->private_key != NULL;
  gnutls_datum_t d;
  int ret;

  if (level != LATCH_SECURITY_CHANNEL && level != LATCH_SECURITY_MUTUAL)
    {
      latch_error_set (error, LATCH_ERROR_TLS, "TLS credentials make no sense at security level %s",
                       latch_security_level_name (level));
      return NULL;
    }
  if (settings->ca_certificate == NULL)
    {
      latch_error_set (error, LATCH_ERROR_TLS,
                       "TLS needs TlsCaCertificate (--tls-ca-certificate): the CA that signs "
                       "the peers' certificates");
      return NULL;
    }
  if ((settings->certificate == NULL) != (settings->private_key == NULL)
      || (!has_cert && (role == LATCH_TLS_SERVER || level == LATCH_SECURITY_MUTUAL)))
    {
      latch_error_set (error, LATCH_ERROR_TLS,
                       "TLS here needs both TlsCertificate (--tls-certificate) and TlsPrivateKey "
                       "(--tls-private-key)");
      return NULL;
    }
  if (level == LATCH_SECURITY_MUTUAL && own_id == NULL)
    {
      latch_error_set (error, LATCH_ERROR_TLS,
                       "SecurityLevel mutual needs this node's machine ID, and none is known");
      return NULL;
    }

  creds = g_new0 (LatchTlsCreds, 1);
  g_atomic_ref_count_init (&creds->ref);
  creds->role = role;
  creds->level = level;
  creds->has_own_cert = has_cert;
  creds->ca_file = g_strdup (settings->ca_certificate);
  creds->crl_file = g_strdup (settings->crl);
  creds->crl_next_update = -1;
  creds->request = role == LATCH_TLS_SERVER && level == LATCH_SECURITY_CHANNEL
                           && !settings->require_client_cert
                       ? GNUTLS_CERT_REQUEST
                       : GNUTLS_CERT_REQUIRE;

  /* Inspect every file first, for messages that name file and fix. */
  if (!read_file (settings->ca_certificate, "CA certificate", "TlsCaCertificate", &ca_file,
                  error)
      || !import_certs (&ca_file, "CA certificate", settings->ca_certificate,
                        "TlsCaCertificate", &cas, error))
    return NULL;

  if (has_cert)
    {
      if (!read_file (settings->certificate, "certificate", "TlsCertificate", &cert_file,
                      error)
          || !import_certs (&cert_file, "certificate", settings->certificate,
                            "TlsCertificate", &own, error)
          || !check_own_chain (&own, settings->certificate, error)
          || !check_own_purpose (own.items[0], role, settings->certificate, error)
          || !load_key (settings, own.items[0], &key_file, warnings, error))
        return NULL;

      if (level == LATCH_SECURITY_MUTUAL)
        {
          g_autofree char *cn = latch_x509_crt_last_cn (own.items[0]);
          g_autoptr (GPtrArray) dns = latch_x509_crt_dns_names (own.items[0]);

          if (!identity_matches (cn, dns, own_id))
            {
              g_autofree char *qcn
                  = latch_text_quote (cn != NULL ? cn : "", -1, MAX_QUOTE, QUOTE_FLAGS);
              g_autofree char *qid = latch_text_quote (own_id, -1, MAX_QUOTE, QUOTE_FLAGS);

              latch_error_set (error, LATCH_ERROR_TLS,
                               "certificate %s names CN '%s', not this node's machine ID '%s': "
                               "issue this node a certificate with CN %s", settings->certificate,
                               qcn, qid, qid);
              return NULL;
            }
        }

      /* Not fatal: a peer may trust another CA; usually a mistake. */
      {
        gnutls_x509_trust_list_t tl = NULL;
        unsigned int status = 0;

        if (gnutls_x509_trust_list_init (&tl, 0) >= 0)
          {
            d = file_datum (&ca_file);
            if (gnutls_x509_trust_list_add_trust_mem (tl, &d, NULL, GNUTLS_X509_FMT_PEM, 0, 0)
                    > 0
                && gnutls_x509_trust_list_verify_crt (tl, own.items, own.n, 0, &status, NULL)
                       >= 0
                && (status & GNUTLS_CERT_SIGNER_NOT_FOUND) != 0)
              add_warning (warnings, "certificate %s (TlsCertificate) is not signed by a CA "
                           "in %s (TlsCaCertificate): peers that trust only that file will "
                           "refuse it", settings->certificate, settings->ca_certificate);
            gnutls_x509_trust_list_deinit (tl, 1);
          }
      }
    }

  if (settings->crl != NULL
      && (!read_file (settings->crl, "CRL", "TlsCrl", &crl_file, error)
          || !load_crl (creds, &crl_file, &cas, has_cert ? &own : NULL, warnings, error)))
    return NULL;

  if (role == LATCH_TLS_SERVER && level == LATCH_SECURITY_MUTUAL
      && settings->allowed_peers != NULL
      && !load_allowed_peers (creds, settings->allowed_peers, warnings, error))
    return NULL;

  if (!load_priority (creds,
                      settings->priority != NULL ? settings->priority
                                                 : LATCH_TLS_DEFAULT_PRIORITY,
                      error))
    return NULL;

  /* Now hand GnuTLS the very bytes checked above. */
  ret = gnutls_certificate_allocate_credentials (&creds->cred);
  if (ret < 0)
    {
      creds->cred = NULL;
      latch_error_set (error, LATCH_ERROR_TLS, "cannot allocate TLS credentials: %s",
                       gnutls_strerror (ret));
      return NULL;
    }
  /* CRLs that do not verify against the CAs are dropped (then refused).
   * load_key () already matched the key to the certificate by key ID;
   * GnuTLS's own check signs and verifies once, which costs every command
   * 0.3 ms with ECDSA and 4 ms with RSA 3072 (doc/performance.md). */
  gnutls_certificate_set_flags (creds->cred, GNUTLS_CERTIFICATE_VERIFY_CRLS
                                                 | GNUTLS_CERTIFICATE_SKIP_KEY_CERT_MATCH);

  if (has_cert)
    {
      gnutls_datum_t k = file_datum (&key_file);

      d = file_datum (&cert_file);
      ret = gnutls_certificate_set_x509_key_mem2 (creds->cred, &d, &k, GNUTLS_X509_FMT_PEM,
                                                  NULL, 0);
      if (ret < 0)
        {
          latch_error_set (error, LATCH_ERROR_TLS,
                           "GnuTLS refuses certificate %s (TlsCertificate) with private key %s "
                           "(TlsPrivateKey): %s", settings->certificate, settings->private_key,
                           gnutls_strerror (ret));
          return NULL;
        }
    }

  d = file_datum (&ca_file);
  ret = gnutls_certificate_set_x509_trust_mem (creds->cred, &d, GNUTLS_X509_FMT_PEM);
  if (ret <= 0)
    {
      latch_error_set (error, LATCH_ERROR_TLS,
                       "CA certificate %s (TlsCaCertificate) gave GnuTLS no trusted certificate%s%s",
                       settings->ca_certificate, ret < 0 ? ": " : "",
                       ret < 0 ? gnutls_strerror (ret) : "");
      return NULL;
    }

  if (settings->crl != NULL)
    {
      d = file_datum (&crl_file);
      ret = gnutls_certificate_set_x509_crl_mem (creds->cred, &d, GNUTLS_X509_FMT_PEM);
      if (ret <= 0)
        {
          latch_error_set (error, LATCH_ERROR_TLS,
                           "CRL %s (TlsCrl) is not signed by a CA in %s (TlsCaCertificate)%s%s",
                           settings->crl, settings->ca_certificate, ret < 0 ? ": " : "",
                           ret < 0 ? gnutls_strerror (ret) : "");
          return NULL;
        }
    }

  return g_steal_pointer (&creds);
}

/* ---- transport -------------------------------------------------------- */

static ssize_t
push_cb (gnutls_transport_ptr_t ptr, const void *data, size_t len)
{
  LatchTlsSession *s = ptr;
  ssize_t n;

  do
    n = send (s->fd, data, len, MSG_NOSIGNAL); /* never SIGPIPE */
  while (n < 0 && errno == EINTR);
  if (n < 0)
    {
      s->saved_errno = errno;
      gnutls_transport_set_errno (s->session, is_again (errno) ? EAGAIN : errno);
    }
  return n;
}

static ssize_t
pull_cb (gnutls_transport_ptr_t ptr, void *data, size_t len)
{
  LatchTlsSession *s = ptr;
  ssize_t n;

  do
    n = recv (s->fd, data, len, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    {
      s->saved_errno = errno;
      gnutls_transport_set_errno (s->session, is_again (errno) ? EAGAIN : errno);
      return n;
    }
  if (n == 0)
    s->got_eof = TRUE;
  else if (!s->got_data)
    {
      /* A TLS record starts with its type (20..24); latch and FLoM
       * messages start with "<msg". */
      s->got_data = TRUE;
      s->clear_peer = ((const char *)data)[0] == '<';
    }
  return n;
}

/* GnuTLS asks this only to wait for data; we never wait (the caller
 * polls): "ready" makes it call pull_cb(), which says EAGAIN. */
static int
pull_timeout_cb (gnutls_transport_ptr_t ptr, unsigned int ms)
{
  LatchTlsSession *s = ptr;
  struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
  int ret = poll (&pfd, 1, 0);

  if (ret != 0)
    return ret;
  return ms == 0 ? 0 : 1;
}

/* ---- verification (inside the handshake) ------------------------------ */

/* Records why we refuse the peer: the handshake fails with this message
 * and alert. */
static int
refuse_peer (LatchTlsSession *s, gnutls_alert_description_t alert, const char *format, ...)
    G_GNUC_PRINTF (3, 4);

static int
refuse_peer (LatchTlsSession *s, gnutls_alert_description_t alert, const char *format, ...)
{
  va_list ap;

  g_free (s->refusal);
  va_start (ap, format);
  s->refusal = g_strdup_vprintf (format, ap);
  va_end (ap);
  s->refusal_alert = alert;
  return -1;
}

/* "the certificate of the daemon at H port N (CN x)" (transfer full). */
static char *
peer_cert_name (LatchTlsSession *s)
{
  g_autofree char *q
      = latch_text_quote (s->peer_cn != NULL ? s->peer_cn : "none", -1, MAX_QUOTE, QUOTE_FLAGS);

  return g_strdup_printf ("the certificate of %s (CN %s)", s->peer_label, q);
}

/* The peer chain certificate whose dates are wrong, and which of them. */
static gboolean
find_bad_date (const LatchX509CrtList *chain, gboolean expired, time_t *when,
               unsigned int *which)
{
  time_t now = time (NULL);

  for (unsigned int i = 0; i < chain->n; i++)
    {
      time_t t = expired ? gnutls_x509_crt_get_expiration_time (chain->items[i])
                         : gnutls_x509_crt_get_activation_time (chain->items[i]);

      if (t != (time_t)-1 && (expired ? t < now : t > now))
        {
          *when = t;
          *which = i;
          return TRUE;
        }
    }
  return FALSE;
}

/* Turns GnuTLS's verification status into a refusal in words. */
static int
refuse_status (LatchTlsSession *s, const LatchX509CrtList *chain, unsigned int status)
{
  LatchTlsCreds *c = s->creds;
  g_autofree char *who = peer_cert_name (s);
  const char *purpose = c->role == LATCH_TLS_CLIENT ? "server" : "client";
  time_t when = -1;
  unsigned int which = 0;

  if (status & GNUTLS_CERT_SIGNER_NOT_FOUND)
    return refuse_peer (s, GNUTLS_A_UNKNOWN_CA, "%s is not signed by a CA in %s", who,
                        c->ca_file);
  if (status & GNUTLS_CERT_REVOKED)
    return refuse_peer (s, GNUTLS_A_CERTIFICATE_REVOKED, "%s was revoked (CRL %s)", who,
                        c->crl_file != NULL ? c->crl_file : "?");
  if (status & (GNUTLS_CERT_EXPIRED | GNUTLS_CERT_NOT_ACTIVATED))
    {
      gboolean expired = (status & GNUTLS_CERT_EXPIRED) != 0;
      g_autofree char *date = NULL;

      if (find_bad_date (chain, expired, &when, &which))
        {
          date = latch_x509_format_time_minutes (when);
          if (which == 0)
            return refuse_peer (s, GNUTLS_A_CERTIFICATE_EXPIRED, "%s %s %s", who,
                                expired ? "expired on" : "is not valid before", date);
          else
            {
              g_autofree char *cn = latch_x509_crt_last_cn (chain->items[which]);
              g_autofree char *qcn
                  = latch_text_quote (cn != NULL ? cn : "?", -1, MAX_QUOTE, QUOTE_FLAGS);

              return refuse_peer (s, GNUTLS_A_CERTIFICATE_EXPIRED,
                                  "%s comes with chain certificate CN '%s', which %s %s",
                                  who, qcn, expired ? "expired on" : "is not valid before",
                                  date);
            }
        }
      return refuse_peer (s, GNUTLS_A_CERTIFICATE_EXPIRED,
                          "%s chains to a CA certificate in %s that %s", who, c->ca_file,
                          expired ? "has expired" : "is not valid yet");
    }
  if (status & GNUTLS_CERT_PURPOSE_MISMATCH)
    return refuse_peer (s, GNUTLS_A_UNSUPPORTED_CERTIFICATE,
                        "%s is not meant for TLS %s use (key purpose): issue it with "
                        "tls_www_server and tls_www_client", who, purpose);
  if (status & GNUTLS_CERT_REVOCATION_DATA_SUPERSEDED)
    {
      g_autofree char *date = latch_x509_format_time_minutes (c->crl_next_update);

      return refuse_peer (s, GNUTLS_A_CERTIFICATE_UNKNOWN,
                          "%s cannot be checked: CRL %s is out of date (its next update "
                          "was due on %s); get a new one from the CA", who,
                          c->crl_file != NULL ? c->crl_file : "?", date);
    }
  if (status & GNUTLS_CERT_REVOCATION_DATA_ISSUED_IN_FUTURE)
    return refuse_peer (s, GNUTLS_A_CERTIFICATE_UNKNOWN,
                        "%s cannot be checked: CRL %s is issued in the future (check this "
                        "machine's clock)", who, c->crl_file != NULL ? c->crl_file : "?");
  if (status & GNUTLS_CERT_SIGNER_NOT_CA)
    return refuse_peer (s, GNUTLS_A_BAD_CERTIFICATE,
                        "%s is signed by a certificate that is not a CA", who);
  if (status & GNUTLS_CERT_INSECURE_ALGORITHM)
    return refuse_peer (s, GNUTLS_A_BAD_CERTIFICATE,
                        "%s uses an insecure algorithm (e.g. a SHA-1 signature or a weak key)",
                        who);
  if (status & GNUTLS_CERT_SIGNATURE_FAILURE)
    return refuse_peer (s, GNUTLS_A_BAD_CERTIFICATE, "%s has an invalid signature", who);
  if (status & GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE)
    return refuse_peer (s, GNUTLS_A_BAD_CERTIFICATE,
                        "%s breaks a constraint of the CA that signed it", who);
  if (status & GNUTLS_CERT_UNKNOWN_CRIT_EXTENSIONS)
    return refuse_peer (s, GNUTLS_A_UNSUPPORTED_CERTIFICATE,
                        "%s has a critical extension GnuTLS does not know", who);
  {
    gnutls_datum_t text = { NULL, 0 };
    g_autofree char *words = NULL;

    if (gnutls_certificate_verification_status_print (status, GNUTLS_CRT_X509, &text, 0) >= 0)
      {
        words = g_strndup ((const char *)text.data, text.size);
        gnutls_free (text.data);
      }
    return refuse_peer (s, GNUTLS_A_BAD_CERTIFICATE, "%s failed verification: %s", who,
                        words != NULL ? words : "unknown reason");
  }
}

static int
verify_cb (gnutls_session_t session)
{
  LatchTlsSession *s = gnutls_session_get_ptr (session);
  LatchTlsCreds *c = s->creds;
  const gnutls_datum_t *peers;
  unsigned int n_peers = 0, status = 0;
  g_auto (LatchX509CrtList) chain = { NULL, 0 };
  gnutls_typed_vdata_st purpose = { 0 };
  int ret;

  s->peer_verified = FALSE;
  peers = gnutls_certificate_get_peers (session, &n_peers);
  if (peers == NULL || n_peers == 0)
    {
      if (c->role == LATCH_TLS_SERVER && c->request == GNUTLS_CERT_REQUEST)
        return 0;
      return refuse_peer (s,
                          gnutls_protocol_get_version (session) == GNUTLS_TLS1_3
                              ? GNUTLS_A_CERTIFICATE_REQUIRED
                              : GNUTLS_A_HANDSHAKE_FAILURE,
                          "%s sent no certificate (this side requires one)", s->peer_label);
    }
  s->has_peer_cert = TRUE;

  /* Allocated as gnutls_x509_crt_list_import2() does: latch_x509_crt_list_clear(). */
  chain.items = gnutls_calloc (n_peers, sizeof *chain.items);
  if (chain.items == NULL)
    return refuse_peer (s, GNUTLS_A_INTERNAL_ERROR, "out of memory verifying %s",
                        s->peer_label);
  for (unsigned int i = 0; i < n_peers; i++)
    {
      if (gnutls_x509_crt_init (&chain.items[i]) < 0)
        return refuse_peer (s, GNUTLS_A_INTERNAL_ERROR, "out of memory verifying %s",
                            s->peer_label);
      chain.n++;
      ret = gnutls_x509_crt_import (chain.items[i], &peers[i], GNUTLS_X509_FMT_DER);
      if (ret < 0)
        return refuse_peer (s, GNUTLS_A_BAD_CERTIFICATE,
                            "%s sent a certificate GnuTLS cannot parse: %s", s->peer_label,
                            gnutls_strerror (ret));
    }
  g_clear_pointer (&s->peer_cn, g_free);
  g_clear_pointer (&s->peer_dns, g_ptr_array_unref);
  if (chain.n > 0)
    {
      s->peer_cn = latch_x509_crt_last_cn (chain.items[0]);
      s->peer_dns = latch_x509_crt_dns_names (chain.items[0]);
    }

  for (unsigned int i = 0; i < chain.n; i++)
    {
      unsigned int bits = 0;

      if (latch_x509_crt_key_verdict (chain.items[i], &bits) == LATCH_X509_KEY_RSA_TOO_SMALL)
        {
          g_autofree char *who = peer_cert_name (s);

          if (i == 0)
            return refuse_peer (s, GNUTLS_A_BAD_CERTIFICATE,
                                "%s has a %u-bit RSA key (latch requires %d or more)", who,
                                bits, LATCH_X509_MIN_RSA_BITS);
          return refuse_peer (s, GNUTLS_A_BAD_CERTIFICATE,
                              "%s comes with a chain certificate that has a %u-bit RSA key "
                              "(latch requires %d or more)", who, bits, LATCH_X509_MIN_RSA_BITS);
        }
    }

  /* Our own check of chain, dates, CRL and key purpose; no host name:
   * a node is identified by its machine ID (check_peer_id). */
  purpose.type = GNUTLS_DT_KEY_PURPOSE_OID;
  purpose.data = (unsigned char *)(c->role == LATCH_TLS_CLIENT ? GNUTLS_KP_TLS_WWW_SERVER
                                                               : GNUTLS_KP_TLS_WWW_CLIENT);
  ret = gnutls_certificate_verify_peers (session, &purpose, 1, &status);
  if (ret < 0)
    {
      g_autofree char *who = peer_cert_name (s);

      return refuse_peer (s, GNUTLS_A_BAD_CERTIFICATE, "%s cannot be verified: %s", who,
                          gnutls_strerror (ret));
    }
  if (status != 0)
    return refuse_status (s, &chain, status);
  s->peer_verified = TRUE;
  return 0;
}

/* ---- sessions --------------------------------------------------------- */

static void
session_free (LatchTlsSession *s)
{
  if (s == NULL)
    return;
  if (s->session != NULL)
    gnutls_deinit (s->session);
  creds_unref (s->creds);
  g_free (s->peer_label);
  g_free (s->peer_cn);
  g_clear_pointer (&s->peer_dns, g_ptr_array_unref);
  g_free (s->refusal);
  g_free (s);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LatchTlsSession, session_free)

static LatchTlsSession *
session_new (LatchTlsCreds *creds, int fd, const char *peer_label, GError **error)
{
  g_autoptr (LatchTlsSession) s = g_new0 (LatchTlsSession, 1);
  unsigned int flags = GNUTLS_NO_TICKETS; /* full, verified handshake every time */
  int ret;

  s->creds = creds_ref (creds);
  s->fd = fd;
  s->peer_label = g_strdup (peer_label != NULL ? peer_label : "the peer");
  flags |= creds->role == LATCH_TLS_CLIENT ? GNUTLS_CLIENT : GNUTLS_SERVER;
  ret = gnutls_init (&s->session, flags);
  if (ret < 0)
    {
      s->session = NULL;
      latch_error_set (error, LATCH_ERROR_TLS, "cannot start a TLS session with %s: %s",
                       s->peer_label, gnutls_strerror (ret));
      return NULL;
    }
  ret = gnutls_credentials_set (s->session, GNUTLS_CRD_CERTIFICATE, creds->cred);
  if (ret >= 0)
    ret = gnutls_priority_set (s->session, creds->priority);
  if (ret < 0)
    {
      latch_error_set (error, LATCH_ERROR_TLS, "cannot set up the TLS session with %s: %s",
                       s->peer_label, gnutls_strerror (ret));
      return NULL;
    }
  if (creds->role == LATCH_TLS_SERVER)
    {
      gnutls_certificate_server_set_request (s->session, creds->request);
      /* Do not name our CAs in the certificate request: a GnuTLS client
       * then sends no certificate unless it is issued by one of them, and
       * "sent no certificate" would hide "signed by a CA we do not
       * trust". */
      gnutls_certificate_send_x509_rdn_sequence (s->session, 1);
    }
  gnutls_session_set_ptr (s->session, s);
  gnutls_session_set_verify_function (s->session, verify_cb);
  gnutls_transport_set_ptr (s->session, s);
  gnutls_transport_set_push_function (s->session, push_cb);
  gnutls_transport_set_pull_function (s->session, pull_cb);
  gnutls_transport_set_pull_timeout_function (s->session, pull_timeout_cb);
  gnutls_handshake_set_timeout (s->session, 0); /* the caller keeps the deadline */
  return g_steal_pointer (&s);
}

static LatchTlsStatus
want (LatchTlsSession *s)
{
  return gnutls_record_get_direction (s->session) == 0 ? LATCH_TLS_WANT_READ
                                                       : LATCH_TLS_WANT_WRITE;
}

/* Best effort, once: the socket is non-blocking and the session over. */
static void
send_alert (LatchTlsSession *s, gnutls_alert_description_t alert)
{
  if (s->alert_sent)
    return;
  s->alert_sent = TRUE;
  (void)gnutls_alert_send (s->session, GNUTLS_AL_FATAL, alert);
}

static gboolean
is_version_or_cipher_alert (gnutls_alert_description_t alert)
{
  return alert == GNUTLS_A_PROTOCOL_VERSION || alert == GNUTLS_A_HANDSHAKE_FAILURE
         || alert == GNUTLS_A_INSUFFICIENT_SECURITY;
}

/* The peer's fatal alert, in words.  in_handshake: received before our
 * handshake completed. */
static void
explain_alert (LatchTlsSession *s, gboolean in_handshake, GError **error)
{
  gnutls_alert_description_t alert = gnutls_alert_get (s->session);
  const char *name = gnutls_alert_get_name (alert);
  const char *label = s->peer_label;
  const char *our_use = s->creds->role == LATCH_TLS_CLIENT ? "client" : "server";
  g_autofree char *alert_name
      = name != NULL ? g_strdup (name) : g_strdup_printf ("alert %d", (int)alert);

  switch ((int)alert)
    {
    case GNUTLS_A_UNKNOWN_CA:
      latch_error_set (error, LATCH_ERROR_TLS_REFUSED,
                       "%s refused our certificate: it does not trust the CA that signed it",
                       label);
      return;
    case GNUTLS_A_CERTIFICATE_EXPIRED:
      latch_error_set (error, LATCH_ERROR_TLS_REFUSED,
                       "%s refused our certificate: our certificate has expired or is not yet "
                       "valid", label);
      return;
    case GNUTLS_A_CERTIFICATE_REVOKED:
      latch_error_set (error, LATCH_ERROR_TLS_REFUSED,
                       "%s refused our certificate: our certificate was revoked", label);
      return;
    case GNUTLS_A_UNSUPPORTED_CERTIFICATE:
      latch_error_set (error, LATCH_ERROR_TLS_REFUSED,
                       "%s refused our certificate: it is not meant for TLS %s use (key "
                       "purpose), or its type is not accepted", label, our_use);
      return;
    case GNUTLS_A_BAD_CERTIFICATE:
      latch_error_set (error, LATCH_ERROR_TLS_REFUSED,
                       "%s refused our certificate as bad (e.g. an RSA key under %d bits, or a "
                       "bad signature)", label, LATCH_X509_MIN_RSA_BITS);
      return;
    case GNUTLS_A_CERTIFICATE_UNKNOWN:
      latch_error_set (error, LATCH_ERROR_TLS_REFUSED,
                       "%s refused our certificate: it could not verify it (certificate unknown; "
                       "is its CRL out of date?)", label);
      return;
    case GNUTLS_A_CERTIFICATE_REQUIRED:
      latch_error_set (error, LATCH_ERROR_TLS_REFUSED,
                       "%s requires a client certificate: give --tls-certificate and "
                       "--tls-private-key", label);
      return;
    default:
      break;
    }
  if (s->creds->role == LATCH_TLS_CLIENT && !s->creds->has_own_cert
      && alert == GNUTLS_A_HANDSHAKE_FAILURE)
    {
      latch_error_set (error, LATCH_ERROR_TLS_REFUSED,
                       "%s requires a client certificate: give --tls-certificate and "
                       "--tls-private-key", label);
      return;
    }
  if (is_version_or_cipher_alert (alert))
    {
      latch_error_set (error, LATCH_ERROR_TLS,
                       "%s ended the TLS handshake (%s): no TLS version or cipher in common: "
                       "check TlsPriority on both sides", label, alert_name);
      return;
    }
  if (in_handshake)
    latch_error_set (error, LATCH_ERROR_TLS_REFUSED, "%s ended the TLS handshake: %s", label,
                     alert_name);
  else
    latch_error_set (error, LATCH_ERROR_TLS_REFUSED, "%s ended the TLS connection: %s", label,
                     alert_name);
}

static gboolean
is_no_common_error (int ret)
{
  switch (ret)
    {
    case GNUTLS_E_UNSUPPORTED_VERSION_PACKET:
    case GNUTLS_E_NO_CIPHER_SUITES:
    case GNUTLS_E_UNKNOWN_CIPHER_SUITE:
    case GNUTLS_E_NO_PRIORITIES_WERE_SET:
    case GNUTLS_E_NO_COMMON_KEY_SHARE:
    case GNUTLS_E_INSUFFICIENT_CREDENTIALS:
    case GNUTLS_E_UNKNOWN_PK_ALGORITHM:
    case GNUTLS_E_UNWANTED_ALGORITHM:
    case GNUTLS_E_INSUFFICIENT_SECURITY:
      return TRUE;
    default:
      return FALSE;
    }
}

static gboolean
is_closed_errno (int e)
{
  return e == EPIPE || e == ECONNRESET || e == ECONNABORTED;
}

static LatchTlsStatus
handshake_failed (LatchTlsSession *s, int ret, GError **error)
{
  int alert_level = GNUTLS_AL_FATAL;
  int alert;

  s->failed = TRUE;
  if (s->clear_peer)
    {
      if (s->creds->role == LATCH_TLS_CLIENT)
        latch_error_set (error, LATCH_ERROR_TLS_CLEAR_PEER,
                         "%s answered in clear text: it does not speak TLS (configure it with the "
                         "same TLS settings, or remove TLS here)", s->peer_label);
      else
        latch_error_set (error, LATCH_ERROR_TLS_CLEAR_PEER,
                         "%s sent clear text: it does not speak TLS (configure it with the same "
                         "TLS settings, or remove TLS here)", s->peer_label);
      return LATCH_TLS_FAILED;
    }
  if (s->refusal != NULL)
    {
      latch_error_set (error, LATCH_ERROR_TLS_VERIFY, "%s", s->refusal);
      send_alert (s, s->refusal_alert);
      return LATCH_TLS_FAILED;
    }
  if (ret == GNUTLS_E_FATAL_ALERT_RECEIVED)
    {
      explain_alert (s, TRUE, error);
      return LATCH_TLS_FAILED;
    }
  /* TLS 1.2: a fatal alert where the client's certificate was due. */
  if ((ret == GNUTLS_E_NO_CERTIFICATE_FOUND || ret == GNUTLS_E_CERTIFICATE_REQUIRED)
      && gnutls_alert_get (s->session) != GNUTLS_A_CLOSE_NOTIFY)
    {
      explain_alert (s, TRUE, error);
      return LATCH_TLS_FAILED;
    }
  if (s->creds->role == LATCH_TLS_SERVER
      && (ret == GNUTLS_E_NO_CERTIFICATE_FOUND || ret == GNUTLS_E_CERTIFICATE_REQUIRED))
    {
      latch_error_set (error, LATCH_ERROR_TLS_VERIFY,
                       "%s sent no certificate (this side requires one)", s->peer_label);
      send_alert (s, gnutls_protocol_get_version (s->session) == GNUTLS_TLS1_3
                         ? GNUTLS_A_CERTIFICATE_REQUIRED
                         : GNUTLS_A_HANDSHAKE_FAILURE);
      return LATCH_TLS_FAILED;
    }
  if (s->got_eof || ret == GNUTLS_E_PREMATURE_TERMINATION
      || ((ret == GNUTLS_E_PUSH_ERROR || ret == GNUTLS_E_PULL_ERROR)
          && is_closed_errno (s->saved_errno)))
    {
      /* Closed without an alert (every refusal sends one): the peer is
       * going away, e.g. a daemon exiting at the end of a quiesce while
       * this handshake ran, and the caller may retry. */
      latch_error_set (error, LATCH_ERROR_CONNECTION_CLOSED,
                       "%s closed the connection during the TLS handshake%s",
                       s->peer_label,
                       s->got_data ? ""
                                   : " without answering (does it use TLS, and does it accept "
                                     "this connection?)");
      return LATCH_TLS_FAILED;
    }
  if (ret == GNUTLS_E_PUSH_ERROR || ret == GNUTLS_E_PULL_ERROR)
    {
      latch_error_set (error, LATCH_ERROR_TLS, "TLS handshake with %s: %s", s->peer_label,
                       g_strerror (s->saved_errno));
      return LATCH_TLS_FAILED;
    }
  alert = gnutls_error_to_alert (ret, &alert_level);
  if (is_no_common_error (ret))
    latch_error_set (error, LATCH_ERROR_TLS,
                     "no TLS version or cipher in common with %s: check TlsPriority on both "
                     "sides (%s)", s->peer_label, gnutls_strerror (ret));
  else
    latch_error_set (error, LATCH_ERROR_TLS, "TLS handshake with %s failed: %s", s->peer_label,
                     gnutls_strerror (ret));
  if (alert >= 0 && alert_level == GNUTLS_AL_FATAL)
    send_alert (s, (gnutls_alert_description_t)alert);
  return LATCH_TLS_FAILED;
}

static LatchTlsStatus
session_handshake (LatchTlsSession *s, GError **error)
{
  int ret;

  if (s->handshake_done)
    return LATCH_TLS_OK;
  if (s->failed)
    {
      latch_error_set (error, LATCH_ERROR_TLS, "the TLS handshake with %s has already failed",
                       s->peer_label);
      return LATCH_TLS_FAILED;
    }
  /* A warning alert interrupts the handshake without ending it. */
  for (int tries = 0;; tries++)
    {
      ret = gnutls_handshake (s->session);
      if (ret != GNUTLS_E_WARNING_ALERT_RECEIVED || tries >= 8)
        break;
    }
  if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED)
    return want (s);
  if (ret < 0)
    return handshake_failed (s, ret, error);

  /* Not expected: GnuTLS always asks verify_cb() about a certificate it
   * got, and a server always sends one.  Never trust a peer unchecked. */
  if ((s->creds->role == LATCH_TLS_CLIENT || s->creds->request == GNUTLS_CERT_REQUIRE)
      && !s->peer_verified)
    {
      s->failed = TRUE;
      if (s->refusal == NULL)
        refuse_peer (s, GNUTLS_A_CERTIFICATE_REQUIRED,
                     "%s sent no certificate (this side requires one)", s->peer_label);
      latch_error_set (error, LATCH_ERROR_TLS_VERIFY, "%s", s->refusal);
      send_alert (s, s->refusal_alert);
      return LATCH_TLS_FAILED;
    }
  s->handshake_done = TRUE;
  return LATCH_TLS_OK;
}

static gboolean
require_handshake (LatchTlsSession *s, GError **error)
{
  if (s->handshake_done)
    return TRUE;
  return latch_error_set (error, LATCH_ERROR_TLS, "no TLS session with %s yet (handshake %s)",
                          s->peer_label, s->failed ? "failed" : "not done");
}

static LatchTlsStatus
session_recv (LatchTlsSession *s, char *buf, gsize len, gsize *got, GError **error)
{
  ssize_t ret;

  if (!require_handshake (s, error))
    return LATCH_TLS_FAILED;
  for (int tries = 0;; tries++)
    {
      ret = gnutls_record_recv (s->session, buf, len);
      if (ret == GNUTLS_E_REHANDSHAKE)
        {
          /* latch peers never renegotiate: say no and read on. */
          (void)gnutls_alert_send (s->session, GNUTLS_AL_WARNING, GNUTLS_A_NO_RENEGOTIATION);
          ret = GNUTLS_E_WARNING_ALERT_RECEIVED;
        }
      if (ret != GNUTLS_E_WARNING_ALERT_RECEIVED || tries >= 8)
        break;
    }
  if (ret >= 0)
    {
      *got = (gsize)ret;
      return LATCH_TLS_OK;
    }
  switch (ret)
    {
    case GNUTLS_E_AGAIN:
    case GNUTLS_E_INTERRUPTED:
      return want (s);
    case GNUTLS_E_PREMATURE_TERMINATION:
      *got = 0; /* EOF without close_notify: a peer that just closed */
      return LATCH_TLS_OK;
    case GNUTLS_E_FATAL_ALERT_RECEIVED:
      explain_alert (s, FALSE, error);
      return LATCH_TLS_FAILED;
    case GNUTLS_E_PULL_ERROR:
      /* A reset is the end of the stream, as on a clear socket: e.g. a
       * quiescing daemon closing a newcomer (who then retries). */
      if (is_closed_errno (s->saved_errno))
        {
          *got = 0;
          return LATCH_TLS_OK;
        }
      latch_error_set (error, LATCH_ERROR_IO, "TLS read from %s: %s", s->peer_label,
                       g_strerror (s->saved_errno));
      return LATCH_TLS_FAILED;
    case GNUTLS_E_PUSH_ERROR:
      latch_error_set (error, LATCH_ERROR_IO, "TLS read from %s: %s", s->peer_label,
                       g_strerror (s->saved_errno));
      return LATCH_TLS_FAILED;
    default:
      latch_error_set (error, LATCH_ERROR_IO, "TLS read from %s: %s", s->peer_label,
                       gnutls_strerror ((int)ret));
      return LATCH_TLS_FAILED;
    }
}

/* After a write failed because the peer closed: is its alert (TLS 1.3:
 * it refused our certificate after our handshake completed) waiting? */
static gboolean
find_peer_alert (LatchTlsSession *s, GError **error)
{
  char scratch[512];

  for (int i = 0; i < 16; i++)
    {
      ssize_t ret = gnutls_record_recv (s->session, scratch, sizeof scratch);

      if (ret == GNUTLS_E_FATAL_ALERT_RECEIVED)
        {
          explain_alert (s, FALSE, error);
          return TRUE;
        }
      if (ret <= 0 && ret != GNUTLS_E_WARNING_ALERT_RECEIVED && ret != GNUTLS_E_INTERRUPTED)
        return FALSE;
    }
  return FALSE;
}

static LatchTlsStatus
session_send (LatchTlsSession *s, const char *data, gsize len, gsize *sent, GError **error)
{
  ssize_t ret;

  if (!require_handshake (s, error))
    return LATCH_TLS_FAILED;
  ret = gnutls_record_send (s->session, data, len);
  if (ret >= 0)
    {
      *sent = (gsize)ret;
      return LATCH_TLS_OK;
    }
  if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED)
    return want (s);
  if (ret == GNUTLS_E_PUSH_ERROR)
    {
      int e = s->saved_errno;

      if (is_closed_errno (e) && find_peer_alert (s, error))
        return LATCH_TLS_FAILED;
      latch_error_set (error, LATCH_ERROR_IO, "TLS write to %s: %s", s->peer_label, g_strerror (e));
      return LATCH_TLS_FAILED;
    }
  latch_error_set (error, LATCH_ERROR_IO, "TLS write to %s: %s", s->peer_label,
                   gnutls_strerror ((int)ret));
  return LATCH_TLS_FAILED;
}

static gsize
session_pending (LatchTlsSession *s)
{
  if (!s->handshake_done)
    return 0;
  return gnutls_record_check_pending (s->session);
}

static void
session_bye (LatchTlsSession *s)
{
  if (!s->handshake_done || s->bye_sent)
    return;
  s->bye_sent = TRUE;
  (void)gnutls_bye (s->session, GNUTLS_SHUT_WR); /* AGAIN: the peer gets EOF instead */
}

/* ---- identity --------------------------------------------------------- */

static gboolean
check_peer_id (LatchTlsSession *s, const char *announced, GError **error)
{
  LatchTlsCreds *c = s->creds;
  g_autofree char *qannounced = latch_text_quote (announced, -1, MAX_QUOTE, QUOTE_FLAGS);

  if (c->level != LATCH_SECURITY_MUTUAL)
    return TRUE;
  if (!require_handshake (s, error))
    return FALSE;
  if (!s->peer_verified)
    return latch_error_set (error, LATCH_ERROR_TLS_PEER_ID,
                            "%s sent no verified certificate, so its machine ID '%s' cannot be "
                            "checked", s->peer_label, qannounced);
  if (announced == NULL || *announced == '\0')
    {
      g_autofree char *qcn
          = latch_text_quote (s->peer_cn != NULL ? s->peer_cn : "", -1, MAX_QUOTE, QUOTE_FLAGS);
      g_autofree char *dns = describe_dns (s->peer_dns);

      return latch_error_set (error, LATCH_ERROR_TLS_PEER_ID,
                              "%s announced no machine ID; its certificate names '%s'%s",
                              s->peer_label, qcn, dns);
    }
  if (!identity_matches (s->peer_cn, s->peer_dns, announced))
    {
      g_autofree char *qcn
          = latch_text_quote (s->peer_cn != NULL ? s->peer_cn : "", -1, MAX_QUOTE, QUOTE_FLAGS);
      g_autofree char *dns = describe_dns (s->peer_dns);

      return latch_error_set (error, LATCH_ERROR_TLS_PEER_ID,
                              "%s announced ID '%s' but its certificate names '%s'%s (a node's "
                              "machine ID must be its certificate's CN, or a DNS name in it: check "
                              "that node's machine ID and certificate)", s->peer_label, qannounced,
                              qcn, dns);
    }
  if (c->role == LATCH_TLS_SERVER && c->allowed != NULL
      && !g_hash_table_contains (c->allowed, announced))
    return latch_error_set (error, LATCH_ERROR_TLS_NOT_ALLOWED,
                            "%s (machine ID %s) is not allowed by TlsAllowedPeers %s",
                            s->peer_label, qannounced, c->allowed_file);
  return TRUE;
}

static char *
session_describe (LatchTlsSession *s)
{
  const char *proto, *cipher;

  if (!s->handshake_done)
    return g_strdup_printf ("TLS with %s (handshake %s)", s->peer_label,
                            s->failed ? "failed" : "not done");
  proto = gnutls_protocol_get_name (gnutls_protocol_get_version (s->session));
  cipher = gnutls_cipher_get_name (gnutls_cipher_get (s->session));
  if (!s->has_peer_cert)
    return g_strdup_printf ("%s %s, peer sent no certificate", proto != NULL ? proto : "TLS",
                            cipher != NULL ? cipher : "?");
  {
    g_autofree char *q
        = latch_text_quote (s->peer_cn != NULL ? s->peer_cn : "none", -1, MAX_QUOTE, QUOTE_FLAGS);

    return g_strdup_printf ("%s %s, peer CN %s", proto != NULL ? proto : "TLS",
                            cipher != NULL ? cipher : "?", q);
  }
}

/* ---- the table -------------------------------------------------------- */

static const LatchTlsModule module = {
  .abi = LATCH_TLS_MODULE_ABI,
  .creds_new = creds_new,
  .creds_free = creds_free,
  .creds_get_level = creds_get_level,
  .session_new = session_new,
  .session_free = session_free,
  .handshake = session_handshake,
  .recv = session_recv,
  .send = session_send,
  .pending = session_pending,
  .bye = session_bye,
  .check_peer_id = check_peer_id,
  .describe = session_describe,
};

const LatchTlsModule *
latch_tls_module (void)
{
  return &module;
}

/* ---- for the debug tools --------------------------------------------- */

void *
latch_tls_session_get_gnutls (LatchTlsSession *session)
{
  g_return_val_if_fail (session != NULL, NULL);
  return session->session;
}

const char *
latch_tls_session_get_refusal (LatchTlsSession *session)
{
  g_return_val_if_fail (session != NULL, NULL);
  return session->refusal;
}
