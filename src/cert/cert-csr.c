/* cert-csr.c: latch-cert request (a node's key and CSR for an external
 * or remote CA) and sign (a CSR signed by the local CA). */

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

/* ---- request ---------------------------------------------------------- */

gboolean
latch_cert_request (const LatchCertRequestOptions *opts, LatchCertReport *report,
                    GError **error)
{
  const char *name = opts->name != NULL ? opts->name : LATCH_CERT_DEFAULT_NODE_NAME;
  g_autofree char *key_file = g_strconcat (name, ".key", NULL);
  g_autofree char *csr_file = g_strconcat (name, ".csr", NULL);
  g_autofree char *key_path = g_build_filename (opts->out_dir, key_file, NULL);
  g_autofree char *csr_path = g_build_filename (opts->out_dir, csr_file, NULL);
  g_auto (gnutls_x509_privkey_t) x509_key = NULL;
  g_auto (gnutls_privkey_t) key = NULL;
  g_auto (gnutls_x509_crq_t) crq = NULL;
  g_auto (GnutlsData) key_pem = { NULL, 0 };
  g_auto (GnutlsData) csr_pem = { NULL, 0 };
  g_auto (Writes) writes = { NULL };
  unsigned int usage = GNUTLS_KEY_DIGITAL_SIGNATURE;
  int ret;

  cert_writes_init (&writes);
  if (!latch_cert_check_name (name, error))
    return FALSE;
  if (!cert_ensure_dir (opts->out_dir, 0755, error)
      || !cert_check_writable (key_path, opts->force, error)
      || !cert_check_writable (csr_path, opts->force, error))
    return FALSE;

  x509_key = cert_generate_key (&opts->key, error);
  if (x509_key == NULL)
    return FALSE;
  key = cert_signing_key (x509_key, error);
  if (key == NULL)
    return FALSE;
  if (opts->key.type == LATCH_CERT_KEY_RSA)
    usage |= GNUTLS_KEY_KEY_ENCIPHERMENT;

  ret = gnutls_x509_crq_init (&crq);
  if (ret >= 0)
    ret = gnutls_x509_crq_set_version (crq, 1);
  if (ret >= 0)
    ret = gnutls_x509_crq_set_dn_by_oid (crq, GNUTLS_OID_X520_COMMON_NAME, 0, opts->id,
                                         strlen (opts->id));
  if (ret >= 0)
    ret = gnutls_x509_crq_set_subject_alt_name (crq, GNUTLS_SAN_DNSNAME, opts->id,
                                                strlen (opts->id), GNUTLS_FSAN_SET);
  if (ret >= 0)
    ret = gnutls_x509_crq_set_key (crq, x509_key);
  if (ret >= 0)
    ret = gnutls_x509_crq_set_basic_constraints (crq, 0, -1);
  if (ret >= 0)
    ret = gnutls_x509_crq_set_key_usage (crq, usage);
  if (ret >= 0)
    ret = gnutls_x509_crq_set_key_purpose_oid (crq, GNUTLS_KP_TLS_WWW_SERVER, 0);
  if (ret >= 0)
    ret = gnutls_x509_crq_set_key_purpose_oid (crq, GNUTLS_KP_TLS_WWW_CLIENT, 0);
  if (ret >= 0)
    ret = gnutls_x509_crq_privkey_sign (crq, key, cert_sign_digest (key), 0);
  if (ret >= 0)
    ret = gnutls_x509_crq_export2 (crq, GNUTLS_X509_FMT_PEM, &csr_pem);
  if (ret < 0)
    return cert_gnutls_error (error, ret, "make the certificate request");
  if (!cert_export_key (x509_key, &key_pem, error))
    return FALSE;

  if (!cert_writes_add (&writes, key_path, (const char *)key_pem.data, key_pem.size, 0600,
                        opts->force, error)
      || !cert_writes_add (&writes, csr_path, (const char *)csr_pem.data, csr_pem.size, 0644,
                           opts->force, error)
      || !cert_writes_commit (&writes, error))
    return FALSE;
  {
    g_autofree char *abs_key = g_canonicalize_filename (key_path, NULL);
    g_autofree char *abs_csr = g_canonicalize_filename (csr_path, NULL);
    g_autofree char *qkey = cert_qpath (abs_key);
    g_autofree char *qcsr = cert_qpath (abs_csr);

    cert_report_info (report, "wrote %s (the private key: it stays on this node)", qkey);
    cert_report_info (report, "wrote %s (the request for machine ID %s)", qcsr, opts->id);
    cert_report_info (report, "next: have the CA sign %s ('latch-cert sign --ca DIR --csr %s "
                      "--out %s.pem'), then put %s.pem and the CA's ca.pem beside %s", csr_file,
                      csr_file, name, name, key_file);
  }
  return TRUE;
}

/* ---- sign ------------------------------------------------------------- */

/* The one machine ID a request names, in its CN or its DNS names. */
static char *
crq_machine_id (gnutls_x509_crq_t crq, const char *path, GError **error)
{
  g_autofree char *q = cert_qpath (path);
  g_autofree char *cn = latch_x509_crq_last_cn (crq);
  g_autoptr (GPtrArray) dns = latch_x509_crq_dns_names (crq);
  g_autoptr (GPtrArray) names = g_ptr_array_new ();
  const char *id = NULL;

  if (cn != NULL)
    g_ptr_array_add (names, cn);
  for (guint i = 0; i < dns->len; i++)
    g_ptr_array_add (names, g_ptr_array_index (dns, i));

  for (guint i = 0; i < names->len; i++)
    {
      const char *name = g_ptr_array_index (names, i);

      if (!latch_x509_is_machine_id (name))
        continue;
      if (id != NULL && strcmp (id, name) != 0)
        {
          latch_error_set (error, LATCH_ERROR_FAILED,
                           "CSR %s names two machine IDs (%s and %s): make one request per "
                           "node", q, id, name);
          return NULL;
        }
      id = name;
    }
  if (id != NULL)
    return g_strdup (id);

  for (guint i = 0; i < names->len; i++)
    {
      g_autofree char *lower = g_ascii_strdown (g_ptr_array_index (names, i), -1);

      if (latch_x509_is_machine_id (lower))
        {
          latch_error_set (error, LATCH_ERROR_FAILED,
                           "CSR %s names machine ID %s in upper case: machine IDs are lowercase; "
                           "make a new request with --id %s", q,
                           (const char *)g_ptr_array_index (names, i), lower);
          return NULL;
        }
    }
  {
    g_autofree char *qcn = cn != NULL ? latch_x509_escape (cn, strlen (cn)) : NULL;

    latch_error_set (error, LATCH_ERROR_FAILED,
                     "CSR %s names no machine ID (its CN is %s%s%s): a latch node certificate "
                     "needs CN = the node's machine ID; make the request with 'latch-cert "
                     "request --id ID'", q, qcn != NULL ? "'" : "", qcn != NULL ? qcn : "missing",
                     qcn != NULL ? "'" : "");
  }
  return NULL;
}

gboolean
latch_cert_sign (const LatchCertSignOptions *opts, LatchCertReport *report, GError **error)
{
  g_autofree char *q = cert_qpath (opts->csr);
  g_autofree char *data = NULL;
  g_autofree char *id = NULL;
  g_auto (gnutls_x509_crq_t) crq = NULL;
  g_auto (gnutls_pubkey_t) pub = NULL;
  g_auto (gnutls_x509_crt_t) crt = NULL;
  g_auto (GnutlsData) crt_pem = { NULL, 0 };
  g_auto (Ca) ca = { 0 };
  g_auto (Writes) writes = { NULL };
  gnutls_datum_t d;
  gsize len = 0;
  unsigned int critical = 0, is_ca = 0;
  time_t now = time (NULL);
  int ret;

  cert_writes_init (&writes);
  if (!latch_cert_read_file (opts->csr, "CSR", &data, &len, NULL, error))
    return FALSE;
  d.data = (unsigned char *)data;
  d.size = (unsigned int)len;
  ret = gnutls_x509_crq_init (&crq);
  if (ret < 0)
    return cert_gnutls_error (error, ret, "read CSR %s", q);
  ret = gnutls_x509_crq_import (crq, &d, GNUTLS_X509_FMT_PEM);
  if (ret < 0)
    ret = gnutls_x509_crq_import (crq, &d, GNUTLS_X509_FMT_DER);
  if (ret < 0)
    return latch_error_set (error, LATCH_ERROR_FAILED,
                            "CSR %s holds no certificate request GnuTLS can read (%s): give the "
                            ".csr file made by 'latch-cert request' (PEM or DER PKCS#10)", q,
                            gnutls_strerror (ret));
  ret = gnutls_x509_crq_verify (crq, 0);
  if (ret == GNUTLS_E_PK_SIG_VERIFY_FAILED)
    return latch_error_set (error, LATCH_ERROR_FAILED,
                            "CSR %s has an invalid signature: it was altered or damaged; ask for "
                            "a new request ('latch-cert request')", q);
  if (ret < 0)
    return latch_error_set (error, LATCH_ERROR_FAILED,
                            "CSR %s has a signature GnuTLS cannot verify (%s): ask for a new "
                            "request ('latch-cert request')", q, gnutls_strerror (ret));

  id = crq_machine_id (crq, opts->csr, error);
  if (id == NULL)
    return FALSE;
  ret = gnutls_pubkey_init (&pub);
  if (ret >= 0)
    ret = gnutls_pubkey_import_x509_crq (pub, crq, 0);
  if (ret < 0)
    return latch_error_set (error, LATCH_ERROR_FAILED,
                            "CSR %s has a public key GnuTLS cannot read (%s): ask for a new "
                            "request ('latch-cert request')", q, gnutls_strerror (ret));
  {
    g_autofree char *what = g_strdup_printf ("CSR %s", q);

    if (!cert_check_node_key (pub, what, error))
      return FALSE;
  }
  if (gnutls_x509_crq_get_basic_constraints (crq, &critical, &is_ca, NULL) > 0)
    cert_report_warning (report, "CSR %s asks for a CA certificate: issued as a node certificate "
                         "(CA:FALSE) all the same", q);

  if (!cert_load_ca (opts->ca_dir, TRUE, report, &ca, error)
      || !cert_check_writable (opts->out, opts->force, error))
    return FALSE;
  crt = cert_issue_node (&ca, pub, id, opts->days, now, error);
  if (crt == NULL || !cert_export_crt (crt, &crt_pem, error))
    return FALSE;
  if (!cert_writes_add (&writes, opts->out, (const char *)crt_pem.data, crt_pem.size, 0644,
                        opts->force, error)
      || !cert_writes_commit (&writes, error))
    return FALSE;

  cert_warn_about_issued (crt, &ca, opts->out, now, report);
  {
    g_autofree char *abs = g_canonicalize_filename (opts->out, NULL);
    g_autofree char *qout = cert_qpath (abs);
    g_autofree char *serial = cert_crt_serial_hex (crt);
    g_autofree char *until = latch_x509_format_time (
        gnutls_x509_crt_get_expiration_time (crt));

    cert_report_info (report, "wrote %s: certificate for machine ID %s, serial %s, valid until "
                      "%s", qout, id, serial != NULL ? serial : "?", until);
    cert_report_info (report, "send it back with %s/%s (the CA certificate)", ca.dir, CA_PEM);
  }
  return TRUE;
}
