/* cert-check.c: latch-cert check: a node's certificate, key, CA and CRL
 * judged as the daemon will judge them, each finding in words. */

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

/* ---- check ------------------------------------------------------------ */

typedef struct
{
  LatchCertReport *report;
  gboolean ok;
} Checks;

static void check_ok (Checks *c, const char *format, ...) G_GNUC_PRINTF (2, 3);
static void check_fail (Checks *c, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
check_ok (Checks *c, const char *format, ...)
{
  va_list ap;
  g_autofree char *text = NULL;

  va_start (ap, format);
  text = g_strdup_vprintf (format, ap);
  va_end (ap);
  cert_report_info (c->report, "ok: %s", text);
}

static void
check_fail (Checks *c, const char *format, ...)
{
  va_list ap;
  g_autofree char *text = NULL;

  va_start (ap, format);
  text = g_strdup_vprintf (format, ap);
  va_end (ap);
  cert_report_info (c->report, "FAIL: %s", text);
  c->ok = FALSE;
}

/* GnuTLS's verification status, in words with a fix. */
static char *
chain_status_text (unsigned int status, const char *ca_path)
{
  g_autofree char *qca = cert_qpath (ca_path);

  if (status & GNUTLS_CERT_SIGNER_NOT_FOUND)
    return g_strdup_printf ("is not signed by a CA in %s: give the CA file of the CA that "
                            "issued it (TlsCaCertificate), or issue it again with this CA",
                            qca);
  if (status & GNUTLS_CERT_SIGNATURE_FAILURE)
    return g_strdup ("has an invalid signature (altered or damaged): issue it again");
  if (status & GNUTLS_CERT_SIGNER_NOT_CA)
    return g_strdup ("is signed by a certificate that is not a CA: issue it again with a "
                     "CA ('latch-cert node')");
  if (status & GNUTLS_CERT_INSECURE_ALGORITHM)
    return g_strdup ("uses an insecure algorithm (e.g. a SHA-1 signature or a weak key): "
                     "issue it again ('latch-cert node')");
  if (status & GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE)
    return g_strdup ("breaks a constraint of the CA that signed it: issue it again within "
                     "the CA's constraints");
  if (status & GNUTLS_CERT_UNKNOWN_CRIT_EXTENSIONS)
    return g_strdup ("has a critical extension GnuTLS does not know: issue it again "
                     "('latch-cert node')");
  {
    gnutls_datum_t text = { NULL, 0 };
    g_autofree char *words = NULL;

    if (gnutls_certificate_verification_status_print (status, GNUTLS_CRT_X509, &text, 0)
        >= 0)
      {
        words = latch_x509_escape ((const char *)text.data, text.size);
        gnutls_free (text.data);
      }
    return g_strdup_printf ("fails verification (%s): issue it again ('latch-cert node')",
                            words != NULL ? words : "unknown reason");
  }
}

/* The CA certificate of cas that issued crt, or NULL. */
static gnutls_x509_crt_t
find_issuer (const LatchX509CrtList *cas, gnutls_x509_crt_t crt)
{
  for (unsigned int i = 0; i < cas->n; i++)
    if (gnutls_x509_crt_check_issuer (crt, cas->items[i]))
      return cas->items[i];
  return NULL;
}

static void
check_chain (Checks *c, const LatchCertCheckOptions *o, const LatchX509CrtList *chain,
             const char *ca_data, gsize ca_len, const LatchX509CrtList *cas)
{
  g_autofree char *qcert = cert_qpath (o->cert);
  g_autofree char *qca = cert_qpath (o->ca);
  gnutls_x509_trust_list_t tl = NULL;
  gnutls_datum_t d = { (unsigned char *)ca_data, (unsigned int)ca_len };
  unsigned int status = 0;
  int ret;

  ret = gnutls_x509_trust_list_init (&tl, 0);
  if (ret >= 0)
    ret = gnutls_x509_trust_list_add_trust_mem (tl, &d, NULL, GNUTLS_X509_FMT_PEM, 0, 0);
  if (ret >= 0)
    ret = gnutls_x509_trust_list_verify_crt (
        tl, chain->items, chain->n,
        GNUTLS_VERIFY_DISABLE_TIME_CHECKS | GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS,
        &status, NULL);
  if (tl != NULL)
    gnutls_x509_trust_list_deinit (tl, 1);
  if (ret < 0)
    check_fail (c, "certificate %s cannot be verified against %s: GnuTLS: %s: give a PEM "
                "CA file", qcert, qca, gnutls_strerror (ret));
  else if (status != 0)
    {
      g_autofree char *why = chain_status_text (status, o->ca);

      check_fail (c, "certificate %s %s", qcert, why);
    }
  else
    {
      gnutls_x509_crt_t anchor = find_issuer (cas, chain->items[chain->n - 1]);
      g_autofree char *subject = anchor != NULL ? latch_x509_crt_subject (anchor)
                                                : latch_x509_crt_issuer (chain->items[0]);

      check_ok (c, "certificate %s is signed by CA '%s' of %s%s", qcert, subject, qca,
                chain->n > 1 ? " (through the chain in the certificate file)" : "");
    }
}

/* Dates of the certificate, its chain and the CA that issued the chain. */
static void
check_dates (Checks *c, const LatchCertCheckOptions *o, const LatchX509CrtList *chain,
             const LatchX509CrtList *cas)
{
  g_autofree char *qcert = cert_qpath (o->cert);
  g_autofree char *qca = cert_qpath (o->ca);
  g_autoptr (GPtrArray) all = g_ptr_array_new ();
  time_t now = time (NULL);
  gboolean bad = FALSE;

  for (unsigned int i = 0; i < chain->n; i++)
    g_ptr_array_add (all, chain->items[i]);
  if (cas != NULL && cas->n > 0)
    {
      gnutls_x509_crt_t anchor = find_issuer (cas, chain->items[chain->n - 1]);

      if (anchor != NULL && !gnutls_x509_crt_equals (anchor, chain->items[chain->n - 1]))
        g_ptr_array_add (all, anchor);
    }
  for (guint i = 0; i < all->len; i++)
    {
      gnutls_x509_crt_t crt = g_ptr_array_index (all, i);
      time_t not_before = gnutls_x509_crt_get_activation_time (crt);
      time_t not_after = gnutls_x509_crt_get_expiration_time (crt);
      gboolean valid = FALSE;
      g_autofree char *validity = latch_x509_describe_validity (not_before, not_after, now,
                                                                &valid);
      g_autofree char *subject = latch_x509_crt_subject (crt);
      g_autofree char *when = NULL;

      if (valid)
        continue;
      bad = TRUE;
      when = latch_x509_format_time (not_after);
      /* validity reads "expired N days ago" or "not yet valid (valid from
       * DATE, in N days)". */
      if (now < not_before)
        {
          const char *fix = "check this machine's clock, or issue a certificate valid now";

          if (i == 0)
            check_fail (c, "certificate %s is %s: %s", qcert, validity, fix);
          else
            check_fail (c, "%s certificate '%s' in %s is %s: %s",
                        i < chain->n ? "chain" : "CA", subject,
                        i < chain->n ? qcert : qca, validity, fix);
        }
      else if (i == 0)
        check_fail (c, "certificate %s %s (on %s): issue a new one ('latch-cert node')",
                    qcert, validity, when);
      else if (i < chain->n)
        check_fail (c, "chain certificate '%s' in %s %s (on %s): get a current chain from "
                    "the CA", subject, qcert, validity, when);
      else
        check_fail (c, "CA certificate '%s' in %s %s (on %s): make a new CA and issue every "
                    "node again", subject, qca, validity, when);
    }
  if (!bad)
    {
      time_t not_after = gnutls_x509_crt_get_expiration_time (chain->items[0]);
      g_autofree char *validity = latch_x509_describe_validity (
          gnutls_x509_crt_get_activation_time (chain->items[0]), not_after, now, NULL);
      g_autofree char *until = latch_x509_format_time (not_after);

      check_ok (c, "certificate %s is %s (until %s)", qcert, validity, until);
    }
}

static void
check_crl (Checks *c, const LatchCertCheckOptions *o, const LatchX509CrtList *chain,
           const LatchX509CrtList *cas)
{
  g_autofree char *qcrl = cert_qpath (o->crl);
  g_autofree char *qca = cert_qpath (o->ca);
  g_autofree char *qcert = cert_qpath (o->cert);
  g_autofree char *data = NULL;
  g_autoptr (GError) local = NULL;
  g_auto (LatchX509CrlList) crls = { NULL, 0 };
  gsize len = 0;
  time_t now = time (NULL);
  gboolean revoked = FALSE;
  int ret;

  if (!latch_cert_read_file (o->crl, "CRL", &data, &len, NULL, &local))
    {
      check_fail (c, "%s", local->message);
      return;
    }
  if (!latch_x509_crl_list_import (data, len, TRUE, &crls, NULL))
    {
      check_fail (c, "CRL %s holds no CRL GnuTLS can read: give the crl.pem of the CA "
                  "directory", qcrl);
      return;
    }

  if (cas != NULL)
    {
      gboolean signed_ok = TRUE;

      for (unsigned int i = 0; i < crls.n; i++)
        {
          unsigned int verify = 0;

          ret = gnutls_x509_crl_verify (crls.items[i], cas->items, cas->n, 0, &verify);
          /* Dates are the next check's business. */
          verify &= ~(unsigned int)(GNUTLS_CERT_REVOCATION_DATA_SUPERSEDED
                                    | GNUTLS_CERT_REVOCATION_DATA_ISSUED_IN_FUTURE);
          if (verify == GNUTLS_CERT_INVALID)
            verify = 0; /* only the flags masked above were set */
          if (ret < 0 || verify != 0)
            signed_ok = FALSE;
        }
      if (signed_ok)
        check_ok (c, "CRL %s is signed by the CA of %s", qcrl, qca);
      else
        check_fail (c, "CRL %s is not signed by a CA in %s: give the CRL that CA issued "
                    "(crl.pem in its directory)", qcrl, qca);
    }

  {
    time_t next = (time_t)-1;
    time_t this_update = (time_t)-1;

    for (unsigned int i = 0; i < crls.n; i++)
      {
        time_t t = gnutls_x509_crl_get_next_update (crls.items[i]);
        time_t u = gnutls_x509_crl_get_this_update (crls.items[i]);

        if (t != (time_t)-1 && (next == (time_t)-1 || t < next))
          next = t;
        if (u != (time_t)-1 && (this_update == (time_t)-1 || u > this_update))
          this_update = u;
      }
    if (next != (time_t)-1 && next < now)
      {
        g_autofree char *when = latch_x509_format_time (next);

        check_fail (c, "CRL %s is out of date (its next update was due on %s), so latch "
                    "refuses every certificate with it: make a new one on the CA host "
                    "('latch-cert crl') and give it to every node", qcrl, when);
      }
    else if (this_update != (time_t)-1 && this_update > now)
      {
        g_autofree char *when = latch_x509_format_time (this_update);

        check_fail (c, "CRL %s is issued in the future (%s), so latch refuses every "
                    "certificate with it: check this machine's clock", qcrl, when);
      }
    else if (next != (time_t)-1)
      {
        g_autofree char *when = latch_x509_format_time (next);

        check_ok (c, "CRL %s is current (next update %s)", qcrl, when);
      }
    else
      check_ok (c, "CRL %s is current (it states no next update)", qcrl);
  }

  for (unsigned int i = 0; i < chain->n; i++)
    if (gnutls_x509_crt_check_revocation (chain->items[i], crls.items, crls.n) == 1)
      {
        g_autofree char *serial = cert_crt_serial_hex (chain->items[i]);
        g_autofree char *subject = latch_x509_crt_subject (chain->items[i]);

        revoked = TRUE;
        if (i == 0)
          check_fail (c, "certificate %s (serial %s) is revoked by CRL %s: issue this node "
                      "a new certificate ('latch-cert node')", qcert,
                      serial != NULL ? serial : "?", qcrl);
        else
          check_fail (c, "chain certificate '%s' in %s is revoked by CRL %s: get a current "
                      "chain from the CA", subject, qcert, qcrl);
      }
  if (!revoked)
    check_ok (c, "certificate %s is not revoked by CRL %s", qcert, qcrl);
}

static void
check_purposes (Checks *c, const LatchCertCheckOptions *o, gnutls_x509_crt_t leaf)
{
  g_autofree char *qcert = cert_qpath (o->cert);
  gboolean any = FALSE, server = FALSE, client = FALSE;
  unsigned int usage = 0, critical = 0;
  int ret;

  for (unsigned int i = 0; i < 1024; i++)
    {
      char oid[256];
      size_t size = sizeof oid;

      ret = gnutls_x509_crt_get_key_purpose_oid (leaf, i, oid, &size, NULL);
      if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
        break;
      if (ret < 0)
        continue;
      any = TRUE;
      if (strcmp (oid, GNUTLS_KP_TLS_WWW_SERVER) == 0 || strcmp (oid, GNUTLS_KP_ANY) == 0)
        server = TRUE;
      if (strcmp (oid, GNUTLS_KP_TLS_WWW_CLIENT) == 0 || strcmp (oid, GNUTLS_KP_ANY) == 0)
        client = TRUE;
    }
  if (!any)
    check_ok (c, "key purposes: none stated, so TLS server and TLS client are allowed");
  else if (server && client)
    check_ok (c, "key purposes allow TLS server and TLS client");
  else
    check_fail (c, "certificate %s is not meant for TLS %s use (key purpose): a latch node "
                "is server and client; issue a certificate with tls_www_server and "
                "tls_www_client ('latch-cert node')", qcert,
                !server && !client ? "server or client" : !server ? "server" : "client");

  ret = gnutls_x509_crt_get_key_usage (leaf, &usage, &critical);
  if (ret >= 0 && (usage & GNUTLS_KEY_DIGITAL_SIGNATURE) == 0)
    check_fail (c, "certificate %s does not allow digital signatures (key usage), which "
                "every TLS handshake needs: issue it again ('latch-cert node')", qcert);
}

static void
check_strength (Checks *c, const LatchCertCheckOptions *o, const LatchX509CrtList *chain,
                const LatchX509CrtList *cas)
{
  g_autofree char *qcert = cert_qpath (o->cert);
  g_autofree char *leaf_name = NULL;
  gboolean bad = FALSE;

  for (unsigned int i = 0; i < chain->n + 1; i++)
    {
      gnutls_x509_crt_t crt = i < chain->n ? chain->items[i]
                              : cas != NULL ? find_issuer (cas, chain->items[chain->n - 1])
                                            : NULL;
      g_auto (gnutls_pubkey_t) pub = NULL;
      g_autofree char *name = NULL;
      gnutls_pk_algorithm_t alg = GNUTLS_PK_UNKNOWN;
      unsigned int bits = 0;

      if (crt == NULL || gnutls_pubkey_init (&pub) < 0
          || gnutls_pubkey_import_x509 (pub, crt, 0) < 0)
        continue;
      name = latch_x509_pubkey_name (pub, &alg, &bits);
      if (i == 0)
        leaf_name = g_strdup (name);
      if (latch_x509_key_verdict (alg, bits) == LATCH_X509_KEY_RSA_TOO_SMALL)
        {
          g_autofree char *subject = latch_x509_crt_subject (crt);

          bad = TRUE;
          if (i == 0)
            check_fail (c, "certificate %s has a %u-bit RSA key: latch refuses RSA keys "
                        "under %d bits; issue a new one ('latch-cert node', ECDSA by "
                        "default)", qcert, bits, LATCH_X509_MIN_RSA_BITS);
          else
            check_fail (c, "%s certificate '%s' has a %u-bit RSA key: latch refuses RSA "
                        "keys under %d bits; make a new CA", i < chain->n ? "chain" : "CA",
                        subject, bits, LATCH_X509_MIN_RSA_BITS);
        }
      else if (i == 0 && latch_x509_key_verdict (alg, bits) == LATCH_X509_KEY_DSA)
        {
          bad = TRUE;
          check_fail (c, "certificate %s has a DSA key, which TLS 1.3 cannot use: issue a "
                      "new one ('latch-cert node', ECDSA by default)", qcert);
        }
    }
  if (!bad)
    check_ok (c, "key strength: %s", leaf_name != NULL ? leaf_name : "unknown");
}

static void
check_identity (Checks *c, const LatchCertCheckOptions *o, gnutls_x509_crt_t leaf)
{
  g_autofree char *qcert = cert_qpath (o->cert);
  g_autofree char *cn = latch_x509_crt_last_cn (leaf);
  g_autoptr (GPtrArray) dns = latch_x509_crt_dns_names (leaf);
  g_autoptr (GError) local = NULL;
  const char *id = o->id;
  const char *whose = "machine ID";
  const char *where = NULL;

  if (id == NULL)
    {
      id = latch_machine_id_get (&local);
      whose = "this host's machine ID";
      if (id == NULL)
        {
          check_fail (c, "%s; or give the node's ID with --id", local->message);
          return;
        }
    }
  if (cn != NULL && strcmp (cn, id) == 0)
    where = "its CN";
  for (guint i = 0; where == NULL && i < dns->len; i++)
    if (strcmp (g_ptr_array_index (dns, i), id) == 0)
      where = "a DNS name";
  if (where != NULL)
    check_ok (c, "certificate names %s %s (%s)", whose, id, where);
  else
    {
      g_autofree char *qcn = cn != NULL ? latch_x509_escape (cn, strlen (cn))
                                        : g_strdup ("none");

      check_fail (c, "certificate %s names CN '%s', not %s %s: issue this node a "
                  "certificate for its ID ('latch-cert node --id %s')", qcert, qcn, whose,
                  id, id);
    }
}

gboolean
latch_cert_check (const LatchCertCheckOptions *o, LatchCertReport *report)
{
  Checks c = { report, TRUE };
  g_autofree char *qcert = cert_qpath (o->cert);
  g_autofree char *qkey = cert_qpath (o->key);
  g_autofree char *cert_data = NULL;
  g_autofree char *key_data = NULL;
  g_autofree char *ca_data = NULL;
  g_auto (LatchX509CrtList) chain = { NULL, 0 };
  g_auto (LatchX509CrtList) cas = { NULL, 0 };
  g_auto (gnutls_x509_privkey_t) key = NULL;
  gsize cert_len = 0, key_len = 0, ca_len = 0;
  unsigned int key_mode = 0;
  gboolean have_cert = FALSE, have_key_file = FALSE, have_key = FALSE, have_ca = FALSE;

  /* Load the three files; each failure is a FAIL and skips what needs it. */
  {
    g_autoptr (GError) local = NULL;

    if (latch_cert_read_file (o->cert, "certificate", &cert_data, &cert_len, NULL, &local)
        && cert_import_crt_list (cert_data, cert_len, "certificate", o->cert, &chain, &local))
      have_cert = TRUE;
    else
      check_fail (&c, "%s", local->message);
  }
  {
    g_autoptr (GError) local = NULL;

    if (latch_cert_read_file (o->key, "private key", &key_data, &key_len, &key_mode, &local))
      {
        gnutls_datum_t d = { (unsigned char *)key_data, (unsigned int)key_len };
        int ret = gnutls_x509_privkey_init (&key);

        have_key_file = TRUE;
        if (ret >= 0)
          ret = gnutls_x509_privkey_import2 (key, &d, GNUTLS_X509_FMT_PEM, NULL, 0);
        if (ret < 0)
          ret = gnutls_x509_privkey_import2 (key, &d, GNUTLS_X509_FMT_DER, NULL, 0);
        if (ret == GNUTLS_E_DECRYPTION_FAILED)
          check_fail (&c, "private key %s is encrypted: latch needs an unencrypted key "
                      "(protect it with chmod 600 instead)", qkey);
        else if (ret < 0)
          check_fail (&c, "private key %s holds no private key GnuTLS can read (%s): give "
                      "the key made with the certificate", qkey, gnutls_strerror (ret));
        else
          have_key = TRUE;
      }
    else
      check_fail (&c, "%s", local->message);
  }
  {
    g_autoptr (GError) local = NULL;

    if (latch_cert_read_file (o->ca, "CA certificate", &ca_data, &ca_len, NULL, &local)
        && cert_import_crt_list (ca_data, ca_len, "CA certificate", o->ca, &cas, &local))
      have_ca = TRUE;
    else
      check_fail (&c, "%s", local->message);
  }

  if (have_cert && have_key)
    {
      if (cert_key_matches_crt (key, chain.items[0]))
        check_ok (&c, "private key %s matches certificate %s", qkey, qcert);
      else
        check_fail (&c, "private key %s does not match certificate %s: give the key that "
                    "certificate was issued for", qkey, qcert);
    }
  if (have_cert && have_ca)
    check_chain (&c, o, &chain, ca_data, ca_len, &cas);
  if (have_cert)
    check_dates (&c, o, &chain, have_ca ? &cas : NULL);
  if (have_cert && o->crl != NULL)
    check_crl (&c, o, &chain, have_ca ? &cas : NULL);
  if (have_cert)
    {
      check_purposes (&c, o, chain.items[0]);
      check_strength (&c, o, &chain, have_ca ? &cas : NULL);
    }
  if (have_key_file)
    {
      if ((key_mode & 077) == 0)
        check_ok (&c, "private key %s is not readable by group or others (mode %04o)", qkey,
                  key_mode & 07777);
      else
        check_fail (&c, "private key %s is readable by others (mode %04o): chmod 600 %s",
                    qkey, key_mode & 07777, qkey);
    }
  if (have_cert)
    check_identity (&c, o, chain.items[0]);
  return c.ok;
}
