/* cert-ca.c: latch-cert ca init: a new CA's key, certificate, index and
 * first CRL, written together (see cert.c). */

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

static gnutls_x509_crt_t
make_ca_crt (gnutls_x509_privkey_t x509_key, gnutls_privkey_t key, const char *name,
             int days, time_t now, GError **error)
{
  g_auto (gnutls_x509_crt_t) crt = NULL;
  unsigned char serial[SERIAL_LEN];
  unsigned char key_id[64];
  size_t key_id_size = sizeof key_id;
  int ret;

  if (!cert_random_serial (serial, error))
    return NULL;
  ret = gnutls_x509_crt_init (&crt);
  if (ret >= 0)
    ret = gnutls_x509_crt_set_version (crt, 3);
  if (ret >= 0)
    ret = gnutls_x509_crt_set_serial (crt, serial, sizeof serial);
  if (ret >= 0)
    ret = gnutls_x509_crt_set_dn_by_oid (crt, GNUTLS_OID_X520_COMMON_NAME, 0, name,
                                         strlen (name));
  if (ret >= 0)
    ret = gnutls_x509_crt_set_key (crt, x509_key);
  if (ret >= 0)
    ret = gnutls_x509_crt_set_activation_time (crt, (time_t)(now - BACKDATE_SECONDS));
  if (ret >= 0)
    ret = gnutls_x509_crt_set_expiration_time (crt, (time_t)(now + days * SECONDS_PER_DAY));
  if (ret >= 0)
    ret = gnutls_x509_crt_set_basic_constraints (crt, 1, -1); /* critical */
  if (ret >= 0)
    ret = gnutls_x509_crt_set_key_usage (crt, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN);
  if (ret >= 0)
    ret = gnutls_x509_crt_get_key_id (crt, GNUTLS_KEYID_USE_SHA1, key_id, &key_id_size);
  if (ret >= 0)
    ret = gnutls_x509_crt_set_subject_key_id (crt, key_id, key_id_size);
  if (ret >= 0)
    ret = gnutls_x509_crt_privkey_sign (crt, crt, key, cert_sign_digest (key), 0);
  if (ret < 0)
    {
      cert_gnutls_error (error, ret, "make the CA certificate");
      return NULL;
    }
  return cert_reparse_crt (crt, error);
}

/* ---- ca init ---------------------------------------------------------- */

gboolean
latch_cert_ca_init (const LatchCertCaOptions *opts, LatchCertReport *report, GError **error)
{
  const char *name = opts->name != NULL ? opts->name : LATCH_CERT_DEFAULT_CA_NAME;
  g_autofree char *key_path = g_build_filename (opts->dir, CA_KEY, NULL);
  g_autofree char *crt_path = g_build_filename (opts->dir, CA_PEM, NULL);
  g_autofree char *index_path = g_build_filename (opts->dir, CA_INDEX, NULL);
  g_autofree char *abs_dir = NULL;
  g_autofree char *qdir = NULL;
  g_autofree char *key_desc = NULL;
  g_auto (gnutls_pubkey_t) pub = NULL;
  g_auto (GnutlsData) key_pem = { NULL, 0 };
  g_auto (GnutlsData) crt_pem = { NULL, 0 };
  g_auto (LatchFd) lock = -1;
  g_auto (Writes) writes = { NULL };
  g_auto (Ca) ca = { 0 };
  g_autoptr (GArray) entries = g_array_new (FALSE, TRUE, sizeof (Revocation));
  guint64 number = 0;
  time_t next = 0;
  time_t now = time (NULL);

  cert_writes_init (&writes);
  if (*name == '\0' || !g_utf8_validate (name, -1, NULL)
      || g_utf8_strlen (name, -1) > MAX_CN_LEN)
    return latch_error_set (error, LATCH_ERROR_INVALID_OPTION,
                            "--name must be 1 to %d characters of UTF-8: give a shorter CA name",
                            MAX_CN_LEN);
  if (!cert_ensure_dir (opts->dir, 0700, error))
    return FALSE;
  lock = cert_lock_dir (opts->dir, error);
  if (lock < 0)
    return FALSE;
  if (!cert_check_writable (key_path, opts->force, error)
      || !cert_check_writable (crt_path, opts->force, error))
    return FALSE;

  /* The CA, in memory: what cert_load_ca () would read back. */
  ca.dir = g_strdup (opts->dir);
  ca.x509_key = cert_generate_key (&opts->key, error);
  if (ca.x509_key == NULL)
    return FALSE;
  ca.key = cert_signing_key (ca.x509_key, error);
  if (ca.key == NULL)
    return FALSE;
  ca.crt = make_ca_crt (ca.x509_key, ca.key, name, opts->days, now, error);
  if (ca.crt == NULL)
    return FALSE;
  if (!cert_export_key (ca.x509_key, &key_pem, error) || !cert_export_crt (ca.crt, &crt_pem, error))
    return FALSE;

  /* A new CA starts with no revocations and CRL number 1: the old CA's
   * serials mean nothing to it. */
  if (!cert_writes_add (&writes, key_path, (const char *)key_pem.data, key_pem.size, 0600,
                        opts->force, error)
      || !cert_writes_add (&writes, crt_path, (const char *)crt_pem.data, crt_pem.size, 0644,
                           opts->force, error)
      || !cert_writes_add (&writes, index_path, "", 0, 0644, TRUE, error)
      || !cert_stage_crl (&ca, entries, 0, opts->crl_days, now, &writes, &number, &next, error)
      || !cert_writes_commit (&writes, error))
    return FALSE;

  abs_dir = g_canonicalize_filename (opts->dir, NULL);
  qdir = cert_qpath (abs_dir);
  if (gnutls_pubkey_init (&pub) >= 0 && gnutls_pubkey_import_x509 (pub, ca.crt, 0) >= 0)
    key_desc = latch_x509_pubkey_name (pub, NULL, NULL);
  {
    g_autofree char *until = latch_x509_format_time (
        gnutls_x509_crt_get_expiration_time (ca.crt));
    g_autofree char *next_text = latch_x509_format_time (next);
    g_autofree char *qname = latch_x509_escape (name, strlen (name));

    cert_report_info (report, "created CA '%s' in %s: %s key, valid until %s", qname, qdir,
                      key_desc != NULL ? key_desc : "an unknown", until);
    cert_report_info (report, "  %s   the CA certificate: every node gets a copy", CA_PEM);
    cert_report_info (report, "  %s   the CA's private key: it stays here, secret", CA_KEY);
    cert_report_info (report, "  %s  its CRL (next update %s): for every node, with --tls-crl",
                      CA_CRL, next_text);
    cert_report_info (report, "  %s    revocations, %s  the last CRL number", CA_INDEX,
                      CA_CRLNUMBER);
    cert_report_info (report, "next, for each node: latch-cert node --ca %s --id ID --out DIR",
                      qdir);
  }
  return TRUE;
}
