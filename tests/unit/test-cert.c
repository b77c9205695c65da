/* test-cert.c: the x509 library's describer (x509-describe), and the parts of cert.c
 * that need no CA: option parsing, machine IDs, CRL numbers.
 *
 * Certificates are made here with GnuTLS, with fixed dates, so that the
 * descriptions can be compared line by line. */
#include "config.h"

#include "cert/cert.h"
#include "x509/x509-describe.h"

#include "common/error.h"
#include "scratch.h"

#include <glib/gstdio.h>

#include <string.h>
#include <sys/stat.h>

#define ID "0123456789abcdef0123456789abcdef"
#define DAY 86400

/* ---- fixtures --------------------------------------------------------- */

static gnutls_x509_privkey_t
make_key (void)
{
  gnutls_x509_privkey_t key = NULL;

  g_assert_cmpint (gnutls_x509_privkey_init (&key), >=, 0);
  g_assert_cmpint (gnutls_x509_privkey_generate2 (
                       key, GNUTLS_PK_ECDSA,
                       GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP256R1), 0, NULL, 0),
                   >=, 0);
  return key;
}

/* crt parsed again, as a certificate read from a file (GnuTLS caches some
 * fields when it parses); crt is freed. */
static gnutls_x509_crt_t
reparse (gnutls_x509_crt_t crt)
{
  gnutls_datum_t der = { NULL, 0 };
  gnutls_x509_crt_t parsed = NULL;

  g_assert_cmpint (gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_DER, &der), >=, 0);
  g_assert_cmpint (gnutls_x509_crt_init (&parsed), >=, 0);
  g_assert_cmpint (gnutls_x509_crt_import (parsed, &der, GNUTLS_X509_FMT_DER), >=, 0);
  gnutls_free (der.data);
  gnutls_x509_crt_deinit (crt);
  return parsed;
}

/* A certificate for key with CN cn, signed by issuer (NULL: itself). */
static gnutls_x509_crt_t
make_crt (gnutls_x509_privkey_t key, const char *cn, gsize cn_len, gboolean ca,
          time_t not_before, time_t not_after, gnutls_x509_crt_t issuer,
          gnutls_x509_privkey_t issuer_key)
{
  gnutls_x509_crt_t crt = NULL;
  static const unsigned char serial[] = { 0x01, 0x02, 0xab };

  g_assert_cmpint (gnutls_x509_crt_init (&crt), >=, 0);
  g_assert_cmpint (gnutls_x509_crt_set_version (crt, 3), >=, 0);
  g_assert_cmpint (gnutls_x509_crt_set_serial (crt, serial, sizeof serial), >=, 0);
  g_assert_cmpint (gnutls_x509_crt_set_dn_by_oid (crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                                                  cn_len),
                   >=, 0);
  g_assert_cmpint (gnutls_x509_crt_set_key (crt, key), >=, 0);
  g_assert_cmpint (gnutls_x509_crt_set_activation_time (crt, not_before), >=, 0);
  g_assert_cmpint (gnutls_x509_crt_set_expiration_time (crt, not_after), >=, 0);
  g_assert_cmpint (gnutls_x509_crt_set_basic_constraints (crt, ca, -1), >=, 0);
  if (ca)
    g_assert_cmpint (gnutls_x509_crt_set_key_usage (crt, GNUTLS_KEY_KEY_CERT_SIGN
                                                             | GNUTLS_KEY_CRL_SIGN),
                     >=, 0);
  else
    {
      g_assert_cmpint (gnutls_x509_crt_set_subject_alt_name (crt, GNUTLS_SAN_DNSNAME, ID,
                                                             strlen (ID), GNUTLS_FSAN_SET),
                       >=, 0);
      g_assert_cmpint (gnutls_x509_crt_set_key_purpose_oid (crt, GNUTLS_KP_TLS_WWW_SERVER, 0),
                       >=, 0);
    }
  g_assert_cmpint (gnutls_x509_crt_sign2 (crt, issuer != NULL ? issuer : crt,
                                          issuer_key != NULL ? issuer_key : key,
                                          GNUTLS_DIG_SHA256, 0),
                   >=, 0);
  return reparse (crt);
}

static char *
pem_of (gnutls_x509_crt_t crt)
{
  gnutls_datum_t d = { NULL, 0 };
  char *text;

  g_assert_cmpint (gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_PEM, &d), >=, 0);
  text = g_strndup ((const char *)d.data, d.size);
  gnutls_free (d.data);
  return text;
}

static gboolean
has_line (const char *text, const char *line)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    if (strcmp (lines[i], line) == 0)
      return TRUE;
  return FALSE;
}

/* ---- facts ------------------------------------------------------------ */

static void
test_machine_id (void)
{
  g_assert_true (latch_x509_is_machine_id (ID));
  g_assert_false (latch_x509_is_machine_id ("0123456789ABCDEF0123456789abcdef"));
  g_assert_false (latch_x509_is_machine_id (ID "0"));
  g_assert_false (latch_x509_is_machine_id ("0123456789abcdef0123456789abcde"));
  g_assert_false (latch_x509_is_machine_id ("g123456789abcdef0123456789abcdef"));
  g_assert_false (latch_x509_is_machine_id (""));
  g_assert_false (latch_x509_is_machine_id (NULL));
}

static void
test_escape (void)
{
  g_autofree char *plain = latch_x509_escape ("CN=caf\xc3\xa9", 8);
  g_autofree char *ctrl = latch_x509_escape ("a\nb\x1b[0m", 7);
  g_autofree char *nul = latch_x509_escape ("a\0b", 3);
  g_autofree char *latin1 = latch_x509_escape ("caf\xe9", 4);

  g_assert_cmpstr (plain, ==, "CN=caf\xc3\xa9");
  g_assert_cmpstr (ctrl, ==, "a\\x0ab\\x1b[0m");
  g_assert_cmpstr (nul, ==, "a\\x00b");
  g_assert_cmpstr (latin1, ==, "caf\\xe9");

  /* The rule is latch_text_quote ()'s: byte by byte, so a valid
   * character next to an invalid byte stays readable, and characters a
   * terminal acts on (C1 CSI, bidi override) are escaped too. */
  {
    g_autofree char *mixed = latch_x509_escape ("\xc3\xa9\xff", 3);
    g_autofree char *csi = latch_x509_escape ("a\xc2\x9b" "2J", 5);
    g_autofree char *bidi = latch_x509_escape ("x\xe2\x80\xaey", 5);
    g_autofree char *none = latch_x509_escape (NULL, 3);

    g_assert_cmpstr (mixed, ==, "\xc3\xa9\\xff");
    g_assert_cmpstr (csi, ==, "a\\xc2\\x9b" "2J");
    g_assert_cmpstr (bidi, ==, "x\\xe2\\x80\\xaey");
    g_assert_cmpstr (none, ==, "");
  }
}

static void
test_validity (void)
{
  time_t now = 1700000000;
  gboolean valid = FALSE;
  g_autofree char *ok = latch_x509_describe_validity (now - DAY, now + 365 * DAY, now, &valid);
  g_autofree char *one = NULL;
  g_autofree char *soon = NULL;
  g_autofree char *expired = NULL;
  g_autofree char *just = NULL;
  g_autofree char *future = NULL;

  g_assert_cmpstr (ok, ==, "valid for 365 more days");
  g_assert_true (valid);
  one = latch_x509_describe_validity (now - DAY, now + DAY + 5, now, &valid);
  g_assert_cmpstr (one, ==, "valid for 1 more day");
  soon = latch_x509_describe_validity (now - DAY, now + 60, now, &valid);
  g_assert_cmpstr (soon, ==, "valid for less than one more day");
  expired = latch_x509_describe_validity (now - 10 * DAY, now - 3 * DAY - 5, now, &valid);
  g_assert_cmpstr (expired, ==, "expired 3 days ago");
  g_assert_false (valid);
  just = latch_x509_describe_validity (now - 10 * DAY, now - 5, now, &valid);
  g_assert_cmpstr (just, ==, "expired less than a day ago");
  future = latch_x509_describe_validity (now + 2 * DAY + 5, now + 9 * DAY, now, &valid);
  g_assert_true (g_str_has_prefix (future, "not yet valid (valid from "));
  g_assert_true (g_str_has_suffix (future, ", in 2 days)"));
  g_assert_false (valid);
}

static void
test_serial_hex (void)
{
  static const unsigned char serial[] = { 0x00, 0x8f, 0x0a };
  g_autofree char *hex = latch_x509_serial_hex (serial, sizeof serial);

  g_assert_cmpstr (hex, ==, "008f0a");
}

/* ---- describing ------------------------------------------------------- */

static void
test_describe_crt (void)
{
  time_t now = time (NULL);
  g_auto (gnutls_x509_privkey_t) ca_key = make_key ();
  g_auto (gnutls_x509_privkey_t) key = make_key ();
  g_auto (gnutls_x509_crt_t) ca = make_crt (ca_key, "test CA", 7, TRUE, now - DAY,
                                            now + 100 * DAY, NULL, NULL);
  g_auto (gnutls_x509_crt_t) crt = make_crt (key, ID, strlen (ID), FALSE, now - DAY,
                                             now + 30 * DAY + 60, ca, ca_key);
  g_autofree char *text = latch_x509_describe_crt (crt, "> ");
  g_autofree char *ca_text = latch_x509_describe_crt (ca, "");
  g_autofree char *key_text = latch_x509_describe_privkey (key, "");
  g_auto (GStrv) key_lines = g_strsplit (key_text, "\n", -1);

  g_assert_true (has_line (text, "> subject: CN=" ID));
  g_assert_true (has_line (text, "> common name: " ID));
  g_assert_true (has_line (text, "> alternative names: DNS:" ID));
  g_assert_true (has_line (text, "> machine ID: " ID " (the common name and a DNS name)"));
  g_assert_true (has_line (text, "> issuer: CN=test CA"));
  g_assert_true (has_line (text, "> serial: 0102ab"));
  g_assert_true (has_line (text, "> validity: valid for 30 more days"));
  g_assert_true (has_line (text, "> key: ECDSA P-256"));
  g_assert_true (has_line (text, "> signature: ECDSA-SHA256"));
  g_assert_true (has_line (text, "> key purposes: TLS server (tls_www_server)"));
  g_assert_true (has_line (text, "> CA: no"));
  g_assert_nonnull (strstr (text, "> SHA-256 fingerprint: "));
  /* Every line has the indent. */
  {
    g_auto (GStrv) lines = g_strsplit (text, "\n", -1);

    for (guint i = 0; lines[i] != NULL && lines[i + 1] != NULL; i++)
      g_assert_true (g_str_has_prefix (lines[i], "> "));
  }

  g_assert_true (has_line (ca_text, "issuer: CN=test CA (self-signed)"));
  g_assert_true (has_line (ca_text, "CA: yes (may sign certificates and CRLs)"));
  g_assert_true (has_line (ca_text, "key usage: certificate signing, CRL signing"));
  g_assert_true (has_line (ca_text, "key purposes: not stated (any purpose)"));
  g_assert_null (strstr (ca_text, "machine ID"));

  /* The key's ID line is the certificate's: a key is matched by it. */
  g_assert_cmpstr (key_lines[0], ==, "key: ECDSA P-256");
  g_assert_true (g_str_has_prefix (key_lines[1], "public key ID: sha256:"));
  {
    g_autofree char *want = g_strconcat ("> ", key_lines[1], NULL);

    g_assert_true (has_line (text, want));
  }
}

static void
test_describe_escapes (void)
{
  time_t now = time (NULL);
  g_auto (gnutls_x509_privkey_t) key = make_key ();
  g_auto (gnutls_x509_crt_t) crt = make_crt (key, "evil\n\x1b[2Jname", 13, TRUE, now - DAY,
                                             now + DAY * 2, NULL, NULL);
  g_autofree char *text = latch_x509_describe_crt (crt, "");

  g_assert_null (strchr (text, '\x1b'));
  g_assert_true (has_line (text, "common name: evil\\x0a\\x1b[2Jname"));
}

static void
test_describe_data (void)
{
  time_t now = time (NULL);
  g_auto (gnutls_x509_privkey_t) ca_key = make_key ();
  g_auto (gnutls_x509_privkey_t) key = make_key ();
  g_auto (gnutls_x509_crt_t) ca = make_crt (ca_key, "test CA", 7, TRUE, now - DAY,
                                            now + 100 * DAY, NULL, NULL);
  g_auto (gnutls_x509_crt_t) crt = make_crt (key, ID, strlen (ID), FALSE, now - 10 * DAY,
                                             now - 2 * DAY - 60, ca, ca_key);
  g_autofree char *leaf_pem = pem_of (crt);
  g_autofree char *ca_pem = pem_of (ca);
  g_autofree char *chain = g_strconcat ("junk before\n", leaf_pem, ca_pem,
                                        "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n"
                                        "-----END EC PARAMETERS-----\n",
                                        "-----BEGIN CERTIFICATE-----\nAAAA\n"
                                        "-----END CERTIFICATE-----\n", NULL);
  g_autoptr (GError) error = NULL;
  unsigned int bad = 99;
  g_autofree char *text = latch_x509_describe_data (chain, strlen (chain), "", &bad, &error);
  gnutls_datum_t der = { NULL, 0 };
  g_autofree char *der_text = NULL;
  g_autofree char *none = NULL;

  g_assert_no_error (error);
  g_assert_nonnull (text);
  g_assert_cmpuint (bad, ==, 1);
  g_assert_true (has_line (text, "certificate 1 of 3:"));
  g_assert_true (has_line (text, "  validity: expired 2 days ago"));
  g_assert_true (has_line (text, "certificate 2 of 3:"));
  g_assert_true (has_line (text, "  issuer: CN=test CA (self-signed)"));
  g_assert_true (has_line (text, "PEM block:"));
  g_assert_true (has_line (text, "certificate 3 of 3:"));
  g_assert_nonnull (strstr (text, "  unreadable: "));

  g_assert_cmpint (gnutls_x509_crt_export2 (ca, GNUTLS_X509_FMT_DER, &der), >=, 0);
  der_text = latch_x509_describe_data ((const char *)der.data, der.size, "  ", &bad, &error);
  gnutls_free (der.data);
  g_assert_no_error (error);
  g_assert_cmpuint (bad, ==, 0);
  g_assert_true (g_str_has_prefix (der_text, "  certificate:\n    subject: CN=test CA\n"));

  none = latch_x509_describe_data ("hello\n", 6, "", NULL, &error);
  g_assert_null (none);
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_FAILED);
}

static void
test_describe_crl (void)
{
  time_t now = time (NULL);
  g_auto (gnutls_x509_privkey_t) ca_key = make_key ();
  g_auto (gnutls_x509_crt_t) ca = make_crt (ca_key, "test CA", 7, TRUE, now - DAY,
                                            now + 100 * DAY, NULL, NULL);
  g_auto (gnutls_x509_crl_t) crl = NULL;
  static const unsigned char s1[] = { 0x12, 0x34 }, s2[] = { 0x00, 0xff };
  static const unsigned char number[] = { 0x00, 0x80 };
  g_autofree char *text = NULL;

  g_assert_cmpint (gnutls_x509_crl_init (&crl), >=, 0);
  g_assert_cmpint (gnutls_x509_crl_set_version (crl, 2), >=, 0);
  g_assert_cmpint (gnutls_x509_crl_set_this_update (crl, now - 60), >=, 0);
  g_assert_cmpint (gnutls_x509_crl_set_next_update (crl, now - 30), >=, 0);
  g_assert_cmpint (gnutls_x509_crl_set_crt_serial (crl, s1, sizeof s1, now - 100), >=, 0);
  g_assert_cmpint (gnutls_x509_crl_set_crt_serial (crl, s2, sizeof s2, now - 100), >=, 0);
  g_assert_cmpint (gnutls_x509_crl_set_number (crl, number, sizeof number), >=, 0);
  g_assert_cmpint (gnutls_x509_crl_sign2 (crl, ca, ca_key, GNUTLS_DIG_SHA256, 0), >=, 0);
  text = latch_x509_describe_crl (crl, "");
  g_assert_true (has_line (text, "issuer: CN=test CA"));
  g_assert_true (has_line (text, "CRL number: 128"));
  g_assert_true (has_line (text, "revoked certificates: 2"));
  g_assert_nonnull (strstr (text, "\n  serial 1234, revoked on "));
  g_assert_nonnull (strstr (text, "\n  serial 00ff, revoked on "));
  g_assert_nonnull (strstr (text, "(out of date: latch refuses every certificate"));
}

/* ---- cert.c ----------------------------------------------------------- */

static void
test_key_spec (void)
{
  LatchCertKeySpec spec = { LATCH_CERT_KEY_RSA, 1 };
  g_autoptr (GError) error = NULL;

  g_assert_true (latch_cert_key_spec_parse (NULL, NULL, &spec, &error));
  g_assert_cmpint (spec.type, ==, LATCH_CERT_KEY_ECDSA);
  g_assert_cmpuint (spec.bits, ==, 256);
  g_assert_true (latch_cert_key_spec_parse ("rsa", NULL, &spec, &error));
  g_assert_cmpuint (spec.bits, ==, LATCH_CERT_DEFAULT_RSA_BITS);
  g_assert_true (latch_cert_key_spec_parse ("RSA", "2048", &spec, &error));
  g_assert_cmpuint (spec.bits, ==, 2048);
  g_assert_true (latch_cert_key_spec_parse ("ecdsa", "384", &spec, &error));
  g_assert_cmpuint (spec.bits, ==, 384);
  g_assert_true (latch_cert_key_spec_parse ("ed25519", NULL, &spec, &error));
  g_assert_cmpint (spec.type, ==, LATCH_CERT_KEY_ED25519);

  spec.bits = 7;
  g_assert_false (latch_cert_key_spec_parse ("rsa", "1024", &spec, &error));
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION);
  g_assert_nonnull (strstr (error->message, "2048"));
  g_assert_cmpuint (spec.bits, ==, 7); /* untouched on failure */
  g_clear_error (&error);
  g_assert_false (latch_cert_key_spec_parse ("ecdsa", "255", &spec, &error));
  g_clear_error (&error);
  g_assert_false (latch_cert_key_spec_parse ("ed25519", "256", &spec, &error));
  g_clear_error (&error);
  g_assert_false (latch_cert_key_spec_parse ("dsa", NULL, &spec, &error));
  g_clear_error (&error);
  g_assert_false (latch_cert_key_spec_parse ("rsa", "2048x", &spec, &error));
  g_clear_error (&error);
}

static void
test_check_id (void)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (latch_cert_check_id (ID, "--id", "--id '" ID "'",
                                      LATCH_ERROR_INVALID_OPTION, &error));
  g_assert_false (latch_cert_check_id ("0123456789ABCDEF0123456789ABCDEF", "--id", "--id 'X'",
                                       LATCH_ERROR_INVALID_OPTION, &error));
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION);
  g_assert_nonnull (strstr (error->message, "give --id " ID));
  g_clear_error (&error);
  g_assert_false (latch_cert_check_id ("abc", NULL, "the ID 'abc' in F", LATCH_ERROR_FAILED,
                                       &error));
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_FAILED);
  g_assert_true (g_str_has_prefix (error->message, "the ID 'abc' in F is not a machine ID"));
}

static void
test_check_name (void)
{
  g_autoptr (GError) error = NULL;
  const char *bad[] = { "", ".hidden", "a/b", "../x", "a b", "n\n" };

  g_assert_true (latch_cert_check_name ("node", &error));
  g_assert_true (latch_cert_check_name ("db-1_a.b", &error));
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_assert_false (latch_cert_check_name (bad[i], &error));
      g_assert_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION);
      g_clear_error (&error);
    }
}

static void
test_id_file (void)
{
  g_autofree char *dir = g_dir_make_tmp ("test-cert-XXXXXX", NULL);
  g_autofree char *good = g_build_filename (dir, "good", NULL);
  g_autofree char *bad = g_build_filename (dir, "bad", NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *id = NULL;
  g_autofree char *none = NULL;

  g_assert_true (g_file_set_contents (good, "  " ID "  \nsecond line\n", -1, NULL));
  g_assert_true (g_file_set_contents (bad, "hello\n", -1, NULL));
  id = latch_cert_read_id_file (good, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (id, ==, ID);
  none = latch_cert_read_id_file (bad, &error);
  g_assert_null (none);
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_FAILED);
  latch_test_rm_rf (dir);
}

/* CRL numbers are DER INTEGERs: 127 -> 128 needs a leading zero byte. */
static void
test_crl_number (void)
{
  g_autofree char *dir = g_dir_make_tmp ("test-cert-XXXXXX", NULL);
  g_autofree char *ca_dir = g_build_filename (dir, "ca", NULL);
  g_autofree char *number_path = g_build_filename (ca_dir, "crlnumber", NULL);
  g_autofree char *crl_path = g_build_filename (ca_dir, "crl.pem", NULL);
  g_autofree char *key_path = g_build_filename (ca_dir, "ca.key", NULL);
  static const struct
  {
    const char *before;
    const char *after;
    unsigned char der[9];
    gsize der_len;
  } cases[] = {
    { "127", "128\n", { 0x00, 0x80 }, 2 },
    { "255", "256\n", { 0x01, 0x00 }, 2 },
    { "9223372036854775807\n", "9223372036854775808\n",
      { 0x00, 0x80, 0, 0, 0, 0, 0, 0, 0 }, 9 },
  };
  LatchCertCaOptions opts = { ca_dir, "test CA", 30, 30, { LATCH_CERT_KEY_ECDSA, 256 }, FALSE };
  g_autoptr (GError) error = NULL;
  struct stat st;

  g_assert_true (latch_cert_ca_init (&opts, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (stat (ca_dir, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0700);
  g_assert_cmpint (stat (key_path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *text = NULL;
      g_autofree char *pem = NULL;
      gsize len = 0;
      g_auto (gnutls_x509_crl_t) crl = NULL;
      gnutls_datum_t d;
      unsigned char buf[16];
      size_t size = sizeof buf;

      g_assert_true (g_file_set_contents (number_path, cases[i].before, -1, NULL));
      g_assert_true (latch_cert_crl (ca_dir, 7, NULL, &error));
      g_assert_no_error (error);
      g_assert_true (g_file_get_contents (number_path, &text, NULL, NULL));
      g_assert_cmpstr (text, ==, cases[i].after);
      g_assert_true (g_file_get_contents (crl_path, &pem, &len, NULL));
      d.data = (unsigned char *)pem;
      d.size = (unsigned int)len;
      g_assert_cmpint (gnutls_x509_crl_init (&crl), >=, 0);
      g_assert_cmpint (gnutls_x509_crl_import (crl, &d, GNUTLS_X509_FMT_PEM), >=, 0);
      g_assert_cmpint (gnutls_x509_crl_get_number (crl, buf, &size, NULL), >=, 0);
      g_assert_cmpmem (buf, size, cases[i].der, cases[i].der_len);
    }

  g_assert_true (g_file_set_contents (number_path, "many\n", -1, NULL));
  g_assert_false (latch_cert_crl (ca_dir, 7, NULL, &error));
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "not a number"));
  latch_test_rm_rf (dir);
}

/* The identity rule, one copy for the TLS code, latch-cert and the debug
 * tools: the last CN, however many come before it (the TLS code's own copy
 * stopped at 64 and then took the 64th); none when the last one is not
 * usable (too long), never an earlier one instead. */
static gnutls_x509_crt_t
crt_with_cns (const char *const *cns, const gsize *lens, guint n)
{
  gnutls_x509_crt_t crt = NULL;
  g_auto (gnutls_x509_privkey_t) key = make_key ();

  g_assert_cmpint (gnutls_x509_crt_init (&crt), >=, 0);
  g_assert_cmpint (gnutls_x509_crt_set_version (crt, 3), >=, 0);
  g_assert_cmpint (gnutls_x509_crt_set_serial (crt, "\x01", 1), >=, 0);
  for (guint i = 0; i < n; i++)
    g_assert_cmpint (gnutls_x509_crt_set_dn_by_oid (crt, GNUTLS_OID_X520_COMMON_NAME, 0,
                                                    cns[i], lens[i]),
                     >=, 0);
  g_assert_cmpint (gnutls_x509_crt_set_key (crt, key), >=, 0);
  g_assert_cmpint (gnutls_x509_crt_set_activation_time (crt, time (NULL)), >=, 0);
  g_assert_cmpint (gnutls_x509_crt_set_expiration_time (crt, time (NULL) + 3600), >=, 0);
  g_assert_cmpint (gnutls_x509_crt_sign2 (crt, crt, key, GNUTLS_DIG_SHA256, 0), >=, 0);
  return reparse (crt);
}

static void
test_last_cn (void)
{
  const char *cns[70];
  gsize lens[70];
  g_autofree char *big = g_strnfill (LATCH_X509_MAX_CN + 1, 'a');

  for (guint i = 0; i < 69; i++)
    {
      cns[i] = "decoy";
      lens[i] = 5;
    }
  cns[69] = ID;
  lens[69] = strlen (ID);
  {
    g_auto (gnutls_x509_crt_t) crt = crt_with_cns (cns, lens, 70);
    g_autofree char *cn = latch_x509_crt_last_cn (crt);

    g_assert_cmpstr (cn, ==, ID);
  }
  cns[0] = ID;
  lens[0] = strlen (ID);
  cns[1] = big;
  lens[1] = strlen (big);
  {
    /* The last one is too long to be an identity: none, not the first. */
    g_auto (gnutls_x509_crt_t) crt = crt_with_cns (cns, lens, 2);
    g_autofree char *cn = latch_x509_crt_last_cn (crt);

    g_assert_null (cn);
  }
}

static void
test_key_verdict (void)
{
  g_auto (gnutls_x509_privkey_t) key = make_key ();
  g_auto (gnutls_x509_crt_t) crt = make_crt (key, "k", 1, TRUE, time (NULL) - DAY,
                                             time (NULL) + DAY, NULL, NULL);
  unsigned int bits = 0;

  g_assert_cmpint (latch_x509_key_verdict (GNUTLS_PK_RSA, LATCH_X509_MIN_RSA_BITS - 1), ==,
                   LATCH_X509_KEY_RSA_TOO_SMALL);
  g_assert_cmpint (latch_x509_key_verdict (GNUTLS_PK_RSA_PSS, 1024), ==,
                   LATCH_X509_KEY_RSA_TOO_SMALL);
  g_assert_cmpint (latch_x509_key_verdict (GNUTLS_PK_RSA, LATCH_X509_MIN_RSA_BITS), ==,
                   LATCH_X509_KEY_OK);
  g_assert_cmpint (latch_x509_key_verdict (GNUTLS_PK_DSA, 3072), ==, LATCH_X509_KEY_DSA);
  g_assert_cmpint (latch_x509_key_verdict (GNUTLS_PK_ECDSA, 256), ==, LATCH_X509_KEY_OK);
  g_assert_cmpint (latch_x509_key_verdict (GNUTLS_PK_EDDSA_ED25519, 256), ==,
                   LATCH_X509_KEY_OK);
  g_assert_cmpint (latch_x509_crt_key_verdict (crt, &bits), ==, LATCH_X509_KEY_OK);
  g_assert_cmpuint (bits, ==, 256);
}

static void
test_dns_names (void)
{
  g_auto (gnutls_x509_privkey_t) key = make_key ();
  g_auto (gnutls_x509_crt_t) crt = NULL;
  g_auto (gnutls_x509_crq_t) crq = NULL;
  g_autoptr (GPtrArray) names = NULL;
  g_autoptr (GPtrArray) crq_names = NULL;
  static const char *sans[] = { "a.example", "b@example.org", ID };
  static const gnutls_x509_subject_alt_name_t types[]
      = { GNUTLS_SAN_DNSNAME, GNUTLS_SAN_RFC822NAME, GNUTLS_SAN_DNSNAME };

  /* make_crt () gives a node certificate one DNS name: the ID. */
  crt = make_crt (key, "n", 1, FALSE, time (NULL) - DAY, time (NULL) + DAY, NULL, NULL);
  names = latch_x509_crt_dns_names (crt);
  g_assert_cmpuint (names->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (names, 0), ==, ID);

  g_assert_cmpint (gnutls_x509_crq_init (&crq), >=, 0);
  g_assert_cmpint (gnutls_x509_crq_set_key (crq, key), >=, 0);
  for (guint i = 0; i < G_N_ELEMENTS (sans); i++)
    g_assert_cmpint (gnutls_x509_crq_set_subject_alt_name (crq, types[i], sans[i],
                                                           (unsigned int)strlen (sans[i]),
                                                           GNUTLS_FSAN_APPEND),
                     >=, 0);
  crq_names = latch_x509_crq_dns_names (crq);
  g_assert_cmpuint (crq_names->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (crq_names, 0), ==, "a.example");
  g_assert_cmpstr (g_ptr_array_index (crq_names, 1), ==, ID);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/x509-describe/machine-id", test_machine_id);
  g_test_add_func ("/x509-util/last-cn", test_last_cn);
  g_test_add_func ("/x509-util/escape", test_escape);
  g_test_add_func ("/x509-util/key-verdict", test_key_verdict);
  g_test_add_func ("/x509-util/dns-names", test_dns_names);
  g_test_add_func ("/x509-describe/validity", test_validity);
  g_test_add_func ("/x509-describe/serial-hex", test_serial_hex);
  g_test_add_func ("/x509-describe/crt", test_describe_crt);
  g_test_add_func ("/x509-describe/crt-escapes", test_describe_escapes);
  g_test_add_func ("/x509-describe/data", test_describe_data);
  g_test_add_func ("/x509-describe/crl", test_describe_crl);
  g_test_add_func ("/cert/key-spec", test_key_spec);
  g_test_add_func ("/cert/check-id", test_check_id);
  g_test_add_func ("/cert/check-name", test_check_name);
  g_test_add_func ("/cert/id-file", test_id_file);
  g_test_add_func ("/cert/crl-number", test_crl_number);
  return g_test_run ();
}
