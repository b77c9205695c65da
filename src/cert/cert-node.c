/* cert-node.c: latch-cert node: a node's key and certificate, issued by
 * the local CA with the machine ID as its last CN. */

#include "config.h"

#include "cert/cert-private.h"

#include "x509/x509-describe.h"
#include "common/autocleanup.h"
#include "common/error.h"
#include "common/file.h"
#include "sys/machine-id.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- certificates ----------------------------------------------------- */

/* Validity of a node certificate: days > 0 from now (back-dated an hour);
 * days < 0: a day-long validity that ended -days days ago. */
static void
node_dates (int days, time_t now, time_t *not_before, time_t *not_after)
{
  if (days > 0)
    {
      *not_before = (time_t)(now - BACKDATE_SECONDS);
      *not_after = (time_t)(now + days * SECONDS_PER_DAY);
    }
  else
    {
      *not_after = (time_t)(now + days * SECONDS_PER_DAY);
      *not_before = (time_t)(*not_after - SECONDS_PER_DAY);
    }
}

/* A node certificate for id and pub, signed by ca. */
gnutls_x509_crt_t
cert_issue_node (const Ca *ca, gnutls_pubkey_t pub, const char *id, int days, time_t now,
                 GError **error)
{
  g_auto (gnutls_x509_crt_t) crt = NULL;
  unsigned char serial[SERIAL_LEN];
  unsigned char key_id[64];
  size_t key_id_size = sizeof key_id;
  unsigned int usage = GNUTLS_KEY_DIGITAL_SIGNATURE;
  time_t not_before, not_after;
  int ret;

  if (!cert_random_serial (serial, error))
    return NULL;
  /* RSA key exchange (TLS 1.2 "RSA" suites) encrypts with the key; latch
   * only uses ECDHE, but other TLS stacks check the bit. */
  if (gnutls_pubkey_get_pk_algorithm (pub, NULL) == GNUTLS_PK_RSA)
    usage |= GNUTLS_KEY_KEY_ENCIPHERMENT;
  node_dates (days, now, &not_before, &not_after);

  ret = gnutls_x509_crt_init (&crt);
  if (ret >= 0)
    ret = gnutls_x509_crt_set_version (crt, 3);
  if (ret >= 0)
    ret = gnutls_x509_crt_set_serial (crt, serial, sizeof serial);
  if (ret >= 0)
    ret = gnutls_x509_crt_set_dn_by_oid (crt, GNUTLS_OID_X520_COMMON_NAME, 0, id,
                                         strlen (id));
  if (ret >= 0)
    ret = gnutls_x509_crt_set_subject_alt_name (crt, GNUTLS_SAN_DNSNAME, id, strlen (id),
                                                GNUTLS_FSAN_SET);
  if (ret >= 0)
    ret = gnutls_x509_crt_set_pubkey (crt, pub);
  if (ret >= 0)
    ret = gnutls_x509_crt_set_activation_time (crt, not_before);
  if (ret >= 0)
    ret = gnutls_x509_crt_set_expiration_time (crt, not_after);
  if (ret >= 0)
    ret = gnutls_x509_crt_set_basic_constraints (crt, 0, -1);
  if (ret >= 0)
    ret = gnutls_x509_crt_set_key_usage (crt, usage);
  if (ret >= 0)
    ret = gnutls_x509_crt_set_key_purpose_oid (crt, GNUTLS_KP_TLS_WWW_SERVER, 0);
  if (ret >= 0)
    ret = gnutls_x509_crt_set_key_purpose_oid (crt, GNUTLS_KP_TLS_WWW_CLIENT, 0);
  if (ret >= 0)
    ret = gnutls_pubkey_get_key_id (pub, GNUTLS_KEYID_USE_SHA1, key_id, &key_id_size);
  if (ret >= 0)
    ret = gnutls_x509_crt_set_subject_key_id (crt, key_id, key_id_size);
  if (ret >= 0)
    {
      key_id_size = sizeof key_id;
      if (cert_ca_key_id (ca->crt, key_id, &key_id_size))
        ret = gnutls_x509_crt_set_authority_key_id (crt, key_id, key_id_size);
    }
  if (ret >= 0)
    ret = gnutls_x509_crt_privkey_sign (crt, ca->crt, ca->key, cert_sign_digest (ca->key), 0);
  if (ret < 0)
    {
      cert_gnutls_error (error, ret, "make the certificate for %s", id);
      return NULL;
    }
  return cert_reparse_crt (crt, error);
}

/* Warnings about a certificate just issued: not valid now, or valid
 * longer than the CA. */
void
cert_warn_about_issued (gnutls_x509_crt_t crt, const Ca *ca, const char *path, time_t now,
                        LatchCertReport *report)
{
  g_autofree char *q = cert_qpath (path);
  time_t not_before = gnutls_x509_crt_get_activation_time (crt);
  time_t not_after = gnutls_x509_crt_get_expiration_time (crt);
  time_t ca_after = gnutls_x509_crt_get_expiration_time (ca->crt);
  gboolean valid = FALSE;
  g_autofree char *validity = latch_x509_describe_validity (not_before, not_after, now,
                                                            &valid);

  if (!valid)
    cert_report_warning (report, "%s is not valid now (%s): latch will refuse it", q, validity);
  else if (ca_after != (time_t)-1 && not_after > ca_after)
    {
      g_autofree char *when = latch_x509_format_time (ca_after);

      cert_report_warning (report, "%s outlives the CA certificate, which expires on %s: from "
                           "then on latch refuses it; renew the CA before", q, when);
    }
}

/* pub may be used for a node: a type and size latch accepts. */
gboolean
cert_check_node_key (gnutls_pubkey_t pub, const char *what, GError **error)
{
  unsigned int bits = 0;
  gnutls_pk_algorithm_t alg = GNUTLS_PK_UNKNOWN;
  g_autofree char *name = latch_x509_pubkey_name (pub, &alg, &bits);

  switch (alg)
    {
    case GNUTLS_PK_RSA:
    case GNUTLS_PK_RSA_PSS:
      if (latch_x509_key_verdict (alg, bits) == LATCH_X509_KEY_RSA_TOO_SMALL)
        return latch_error_set (error, LATCH_ERROR_FAILED,
                                "%s has a %u-bit RSA key: latch refuses RSA keys under %d bits; "
                                "make a new request with an ECDSA key (latch-cert request)", what,
                                bits, LATCH_X509_MIN_RSA_BITS);
      return TRUE;
    case GNUTLS_PK_ECDSA:
    case GNUTLS_PK_EDDSA_ED25519:
    case GNUTLS_PK_EDDSA_ED448:
      return TRUE;
    default:
      return latch_error_set (error, LATCH_ERROR_FAILED,
                              "%s has a key latch cannot use (%s): make a new request with an "
                              "ECDSA, Ed25519 or RSA key (latch-cert request)", what, name);
    }
}

/* ---- node ------------------------------------------------------------- */

/* KEY=VALUE as latch's configuration file reads it (GKeyFile escapes). */
static char *
conf_line (const char *key, const char *path)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autofree char *value = NULL;

  g_key_file_set_string (kf, "TLS", key, path);
  value = g_key_file_get_value (kf, "TLS", key, NULL);
  return g_strdup_printf ("%s=%s", key, value != NULL ? value : path);
}

/* The public key of a new private key. */
static gnutls_pubkey_t
public_key (gnutls_privkey_t key, GError **error)
{
  g_auto (gnutls_pubkey_t) pub = NULL;
  int ret = gnutls_pubkey_init (&pub);

  if (ret >= 0)
    ret = gnutls_pubkey_import_privkey (pub, key, 0, 0);
  if (ret < 0)
    {
      cert_gnutls_error (error, ret, "get the public key");
      return NULL;
    }
  return g_steal_pointer (&pub);
}

gboolean
latch_cert_node (const LatchCertNodeOptions *opts, LatchCertReport *report, GError **error)
{
  const char *name = opts->name != NULL ? opts->name : LATCH_CERT_DEFAULT_NODE_NAME;
  g_autofree char *key_file = g_strconcat (name, ".key", NULL);
  g_autofree char *crt_file = g_strconcat (name, ".pem", NULL);
  g_autofree char *key_path = g_build_filename (opts->out_dir, key_file, NULL);
  g_autofree char *crt_path = g_build_filename (opts->out_dir, crt_file, NULL);
  g_autofree char *ca_path = g_build_filename (opts->out_dir, CA_PEM, NULL);
  g_autofree char *old_ca = NULL;
  g_auto (Ca) ca = { 0 };
  g_auto (gnutls_x509_privkey_t) x509_key = NULL;
  g_auto (gnutls_privkey_t) key = NULL;
  g_auto (gnutls_pubkey_t) pub = NULL;
  g_auto (gnutls_x509_crt_t) crt = NULL;
  g_auto (GnutlsData) key_pem = { NULL, 0 };
  g_auto (GnutlsData) crt_pem = { NULL, 0 };
  g_auto (Writes) writes = { NULL };
  gboolean copy_ca = TRUE;
  gsize old_len = 0;
  time_t now = time (NULL);

  cert_writes_init (&writes);
  if (!latch_cert_check_name (name, error))
    return FALSE;
  if (strcmp (name, "ca") == 0)
    return latch_error_set (error, LATCH_ERROR_INVALID_OPTION,
                            "--name ca would clash with the CA certificate copied to ca.pem: give "
                            "another name");
  if (!cert_load_ca (opts->ca_dir, TRUE, report, &ca, error))
    return FALSE;
  if (!cert_ensure_dir (opts->out_dir, 0755, error)
      || !cert_check_writable (key_path, opts->force, error)
      || !cert_check_writable (crt_path, opts->force, error))
    return FALSE;

  /* OUTDIR/ca.pem: left alone when it already holds this CA (several
   * nodes' files in one directory), replaced only with --force. */
  if (access (ca_path, F_OK) == 0)
    {
      g_autoptr (GError) local = NULL;

      if (latch_cert_read_file (ca_path, "CA certificate", &old_ca, &old_len, NULL, &local)
          && old_len == ca.pem_len && memcmp (old_ca, ca.pem, old_len) == 0)
        copy_ca = FALSE;
      else if (!opts->force)
        {
          g_autofree char *q = cert_qpath (ca_path);

          return latch_error_set (error, LATCH_ERROR_FAILED,
                                  "%s exists and is not this CA's certificate: pass --force to "
                                  "replace it, or give another --out", q);
        }
    }

  x509_key = cert_generate_key (&opts->key, error);
  if (x509_key == NULL)
    return FALSE;
  key = cert_signing_key (x509_key, error);
  if (key == NULL)
    return FALSE;
  pub = public_key (key, error);
  if (pub == NULL)
    return FALSE;
  crt = cert_issue_node (&ca, pub, opts->id, opts->days, now, error);
  if (crt == NULL)
    return FALSE;
  if (!cert_export_key (x509_key, &key_pem, error) || !cert_export_crt (crt, &crt_pem, error))
    return FALSE;

  if (!cert_writes_add (&writes, key_path, (const char *)key_pem.data, key_pem.size, 0600,
                        opts->force, error)
      || !cert_writes_add (&writes, crt_path, (const char *)crt_pem.data, crt_pem.size, 0644,
                           opts->force, error)
      || (copy_ca
          && !cert_writes_add (&writes, ca_path, ca.pem, ca.pem_len, 0644, opts->force, error))
      || !cert_writes_commit (&writes, error))
    return FALSE;

  cert_warn_about_issued (crt, &ca, crt_path, now, report);
  {
    g_autofree char *abs_crt = g_canonicalize_filename (crt_path, NULL);
    g_autofree char *abs_key = g_canonicalize_filename (key_path, NULL);
    g_autofree char *abs_ca = g_canonicalize_filename (ca_path, NULL);

    cert_report_info (report, "[TLS]");
    g_ptr_array_add (report->info, conf_line ("TlsCertificate", abs_crt));
    g_ptr_array_add (report->info, conf_line ("TlsPrivateKey", abs_key));
    g_ptr_array_add (report->info, conf_line ("TlsCaCertificate", abs_ca));
  }
  return TRUE;
}
