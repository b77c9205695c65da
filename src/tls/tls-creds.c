/* tls-creds.c: credentials: the own certificate, key, CA, CRL,
 * allow-list and priority read, checked and turned into GnuTLS
 * credentials, with every problem put in words (see tls.h). */

#include "config.h"

#include "tls/tls-private.h"

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

LatchTlsCreds *
tls_creds_ref (LatchTlsCreds *creds)
{
  g_atomic_ref_count_inc (&creds->ref);
  return creds;
}

void
tls_creds_unref (LatchTlsCreds *creds)
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
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LatchTlsCreds, tls_creds_unref)

void
tls_creds_free (LatchTlsCreds *creds)
{
  tls_creds_unref (creds);
}

LatchSecurityLevel
tls_creds_get_level (const LatchTlsCreds *creds)
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
      latch_text_lines_add (warnings,
                            "private key %s is readable by others (mode %04o): chmod 600 %s",
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
    latch_text_lines_add (warnings, "this node's own certificate is revoked by CRL %s (TlsCrl): "
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
    latch_text_lines_add (warnings, "allow-list %s (TlsAllowedPeers) lists no machine ID: every "
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

LatchTlsCreds *
tls_creds_new (const LatchTlsSettings *settings, LatchTlsRole role, LatchSecurityLevel level,
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

          if (!tls_identity_matches (cn, dns, own_id))
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
              latch_text_lines_add (warnings,
                                    "certificate %s (TlsCertificate) is not signed by a CA in "
                                    "%s (TlsCaCertificate): peers that trust only that file "
                                    "will refuse it",
                                    settings->certificate, settings->ca_certificate);
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
