/* cert-crl.c: the CA's revocation index and CRL: latch-cert revoke and
 * crl. */

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

/* ---- the index and CRLs ----------------------------------------------- */

static void
revocation_clear (gpointer p)
{
  g_free (((Revocation *)p)->hex);
}

/* Hex text to bytes; 0 when it is not an even number of hex digits or
 * does not fit. */
static gsize
hex_to_bytes (const char *hex, unsigned char *out, gsize cap)
{
  gsize len = strlen (hex);

  if (len == 0 || len % 2 != 0 || len / 2 > cap)
    return 0;
  for (gsize i = 0; i < len; i += 2)
    {
      int hi = g_ascii_xdigit_value (hex[i]);
      int lo = g_ascii_xdigit_value (hex[i + 1]);

      if (hi < 0 || lo < 0)
        return 0;
      out[i / 2] = (unsigned char)(hi << 4 | lo);
    }
  return len / 2;
}

/* The index of dir: its text (to append to) and its entries.  A missing
 * index is an empty one. */
static gboolean
read_index (const char *dir, char **text_out, GArray **entries_out, GError **error)
{
  g_autofree char *path = g_build_filename (dir, CA_INDEX, NULL);
  g_autofree char *q = cert_qpath (path);
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (GArray) entries = g_array_new (FALSE, TRUE, sizeof (Revocation));
  gsize len = 0;

  g_array_set_clear_func (entries, revocation_clear);
  if (access (path, F_OK) < 0 && errno == ENOENT)
    text = g_strdup ("");
  else if (!latch_cert_read_file (path, "revocation index", &text, &len, NULL, error))
    return FALSE;
  if (memchr (text, '\0', len) != NULL)
    return latch_error_set (error, LATCH_ERROR_FAILED, "%s is not a text file: restore the "
                            "revocation index (lines 'SERIALHEX UNIXTIME')", q);

  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto (GStrv) fields = NULL;
      Revocation entry = { NULL, 0 };
      unsigned char serial[MAX_SERIAL_BYTES];
      char *line = g_strstrip (lines[i]);
      char *end = NULL;
      guint n = 0;

      if (*line == '\0' || *line == '#')
        continue;
      fields = g_strsplit_set (line, " \t", -1);
      for (guint j = 0; fields[j] != NULL; j++)
        if (*fields[j] != '\0')
          fields[n++] = fields[j];
        else
          g_free (fields[j]);
      fields[n] = NULL;
      if (n == 2 && hex_to_bytes (fields[0], serial, sizeof serial) > 0)
        {
          errno = 0;
          entry.when = g_ascii_strtoll (fields[1], &end, 10);
          if (errno == 0 && end != fields[1] && *end == '\0' && entry.when >= 0)
            {
              entry.hex = g_ascii_strdown (fields[0], -1);
              g_array_append_val (entries, entry);
              continue;
            }
        }
      {
        g_autofree char *qline = latch_x509_escape (line, strlen (line));

        return latch_error_set (error, LATCH_ERROR_FAILED,
                                "%s:%u: '%s' is not 'SERIALHEX UNIXTIME': correct or remove that "
                                "line", q, i + 1, qline);
      }
    }
  *text_out = g_steal_pointer (&text);
  *entries_out = g_steal_pointer (&entries);
  return TRUE;
}

/* The number of the last CRL issued (0: none yet). */
static gboolean
read_crl_number (const char *dir, guint64 *number, GError **error)
{
  g_autofree char *path = g_build_filename (dir, CA_CRLNUMBER, NULL);
  g_autofree char *q = cert_qpath (path);
  g_autofree char *text = NULL;
  gsize len = 0;

  *number = 0;
  if (access (path, F_OK) < 0 && errno == ENOENT)
    return TRUE;
  if (!latch_cert_read_file (path, "CRL number file", &text, &len, NULL, error))
    return FALSE;
  g_strstrip (text);
  if (!g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT64 - 1, number, NULL))
    {
      g_autofree char *qtext = latch_x509_escape (text, strlen (text));

      return latch_error_set (error, LATCH_ERROR_FAILED,
                              "%s holds '%s', not a number: write the number of the last CRL "
                              "issued there (0 if unsure)", q, qtext);
    }
  return TRUE;
}

/* Stages crl.pem, made from entries and signed by ca, with CRL number
 * last + 1, and crlnumber. */
gboolean
cert_stage_crl (const Ca *ca, GArray *entries, guint64 last, int crl_days, time_t now,
                Writes *writes, guint64 *number_out, time_t *next_out, GError **error)
{
  g_autofree char *crl_path = g_build_filename (ca->dir, CA_CRL, NULL);
  g_autofree char *number_path = g_build_filename (ca->dir, CA_CRLNUMBER, NULL);
  g_autofree char *number_text = NULL;
  g_auto (gnutls_x509_crl_t) crl = NULL;
  g_auto (GnutlsData) pem = { NULL, 0 };
  unsigned char key_id[64];
  size_t key_id_size = sizeof key_id;
  unsigned char number_der[9];
  gsize number_len = 0;
  guint64 number = last + 1;
  time_t next = (time_t)(now + crl_days * SECONDS_PER_DAY);
  int ret;

  /* A positive DER INTEGER: big-endian, a zero byte before a high bit. */
  for (int shift = 56; shift >= 0; shift -= 8)
    {
      unsigned char byte = (unsigned char)(number >> shift);

      if (number_len == 0 && byte == 0 && shift > 0)
        continue;
      if (number_len == 0 && (byte & 0x80) != 0)
        number_der[number_len++] = 0;
      number_der[number_len++] = byte;
    }

  ret = gnutls_x509_crl_init (&crl);
  if (ret >= 0)
    ret = gnutls_x509_crl_set_version (crl, 2);
  /* Back-dated like certificates: a node whose clock is behind must not
   * find the CRL "issued in the future" (latch would refuse every peer). */
  if (ret >= 0)
    ret = gnutls_x509_crl_set_this_update (crl, (time_t)(now - BACKDATE_SECONDS));
  if (ret >= 0)
    ret = gnutls_x509_crl_set_next_update (crl, next);
  for (guint i = 0; ret >= 0 && i < entries->len; i++)
    {
      const Revocation *entry = &g_array_index (entries, Revocation, i);
      unsigned char serial[MAX_SERIAL_BYTES];
      gsize size = hex_to_bytes (entry->hex, serial, sizeof serial);

      ret = gnutls_x509_crl_set_crt_serial (crl, serial, size, (time_t)entry->when);
    }
  if (ret >= 0 && cert_ca_key_id (ca->crt, key_id, &key_id_size))
    ret = gnutls_x509_crl_set_authority_key_id (crl, key_id, key_id_size);
  if (ret >= 0)
    ret = gnutls_x509_crl_set_number (crl, number_der, number_len);
  if (ret >= 0)
    ret = gnutls_x509_crl_privkey_sign (crl, ca->crt, ca->key, cert_sign_digest (ca->key), 0);
  if (ret >= 0)
    ret = gnutls_x509_crl_export2 (crl, GNUTLS_X509_FMT_PEM, &pem);
  if (ret < 0)
    return cert_gnutls_error (error, ret, "make the CRL");

  number_text = g_strdup_printf ("%" G_GUINT64_FORMAT "\n", number);
  if (!cert_writes_add (writes, number_path, number_text, strlen (number_text), 0644, TRUE, error)
      || !cert_writes_add (writes, crl_path, (const char *)pem.data, pem.size, 0644, TRUE, error))
    return FALSE;
  *number_out = number;
  *next_out = next;
  return TRUE;
}

static void
report_crl (LatchCertReport *report, const Ca *ca, GArray *entries, guint64 number,
            time_t next)
{
  g_autofree char *crl_path = g_build_filename (ca->dir, CA_CRL, NULL);
  g_autofree char *abs = g_canonicalize_filename (crl_path, NULL);
  g_autofree char *q = cert_qpath (abs);
  g_autofree char *when = latch_x509_format_time (next);
  time_t ca_after = gnutls_x509_crt_get_expiration_time (ca->crt);

  cert_report_info (report, "wrote %s: CRL number %" G_GUINT64_FORMAT ", %u revoked "
                    "certificate%s, next update %s", q, number, entries->len,
                    entries->len == 1 ? "" : "s", when);
  cert_report_info (report, "give it to every node (TlsCrl= or --tls-crl=) and make it again "
                    "before then ('latch-cert crl')");
  if (ca_after != (time_t)-1 && next > ca_after)
    {
      g_autofree char *ca_when = latch_x509_format_time (ca_after);

      cert_report_warning (report, "the CA certificate expires on %s, before this CRL's next "
                           "update: renew the CA before then", ca_when);
    }
}

/* ---- revoke and crl --------------------------------------------------- */

/* Was crt signed by ca?  (Dates do not matter: an expired certificate
 * may be revoked too.) */
static gboolean
is_issued_by (gnutls_x509_crt_t crt, gnutls_x509_crt_t ca)
{
  unsigned int status = 0;

  if (!gnutls_x509_crt_check_issuer (crt, ca))
    return FALSE;
  if (gnutls_x509_crt_verify (crt, &ca, 1,
                              GNUTLS_VERIFY_DISABLE_TIME_CHECKS
                                  | GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS,
                              &status) < 0)
    return FALSE;
  return (status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNATURE_FAILURE)) == 0;
}

gboolean
latch_cert_revoke (const char *ca_dir, const char *cert, int crl_days,
                   LatchCertReport *report, GError **error)
{
  g_autofree char *q = cert_qpath (cert);
  g_autofree char *qdir = cert_qpath (ca_dir);
  g_autofree char *data = NULL;
  g_autofree char *index_text = NULL;
  g_autofree char *index_path = g_build_filename (ca_dir, CA_INDEX, NULL);
  g_autofree char *serial = NULL;
  g_autofree char *cn = NULL;
  g_autofree char *qcn = NULL;
  g_autoptr (GArray) entries = NULL;
  g_auto (gnutls_x509_crt_t) crt = NULL;
  g_auto (Ca) ca = { 0 };
  g_auto (LatchFd) lock = -1;
  g_auto (Writes) writes = { NULL };
  const Revocation *found = NULL;
  gsize len = 0;
  guint64 last = 0, number = 0;
  time_t next = 0;
  time_t now = time (NULL);

  cert_writes_init (&writes);
  if (!cert_check_ca_dir (ca_dir, error))
    return FALSE;
  lock = cert_lock_dir (ca_dir, error);
  if (lock < 0 || !cert_load_ca (ca_dir, FALSE, report, &ca, error))
    return FALSE;
  if (!latch_cert_read_file (cert, "certificate", &data, &len, NULL, error))
    return FALSE;
  crt = cert_import_crt (data, len, "certificate", cert, error);
  if (crt == NULL)
    return FALSE;
  if (gnutls_x509_crt_equals (crt, ca.crt))
    return latch_error_set (error, LATCH_ERROR_FAILED,
                            "%s is the CA certificate itself: a CA cannot revoke itself; to "
                            "retire it, make a new CA ('latch-cert ca init --force') and issue "
                            "every node again", q);
  if (!is_issued_by (crt, ca.crt))
    {
      g_autofree char *issuer = latch_x509_crt_issuer (crt);
      g_autofree char *subject = latch_x509_crt_subject (ca.crt);

      return latch_error_set (error, LATCH_ERROR_FAILED,
                              "%s was not issued by the CA in %s (its issuer is '%s', this CA is "
                              "'%s'): revoke it with the CA that issued it", q, qdir, issuer,
                              subject);
    }
  serial = cert_crt_serial_hex (crt);
  if (serial == NULL)
    return latch_error_set (error, LATCH_ERROR_FAILED, "%s has no readable serial number: give "
                            "the certificate file as the CA issued it", q);
  cn = latch_x509_crt_last_cn (crt);
  qcn = cn != NULL ? latch_x509_escape (cn, strlen (cn)) : g_strdup ("none");

  if (!read_index (ca_dir, &index_text, &entries, error))
    return FALSE;
  for (guint i = 0; i < entries->len; i++)
    if (strcmp (g_array_index (entries, Revocation, i).hex, serial) == 0)
      found = &g_array_index (entries, Revocation, i);

  if (found != NULL)
    {
      g_autofree char *when = latch_x509_format_time ((time_t)found->when);

      cert_report_info (report, "%s (CN %s, serial %s) was already revoked on %s: nothing to "
                        "add; the CRL is made again", q, qcn, serial, when);
    }
  else
    {
      Revocation entry = { g_strdup (serial), (gint64)now };
      g_autoptr (GString) text = g_string_new (index_text);

      if (text->len > 0 && text->str[text->len - 1] != '\n')
        g_string_append_c (text, '\n');
      g_string_append_printf (text, "%s %" G_GINT64_FORMAT "\n", serial, (gint64)now);
      g_array_append_val (entries, entry);
      if (!cert_writes_add (&writes, index_path, text->str, text->len, 0644, TRUE, error))
        return FALSE;
      cert_report_info (report, "revoked %s (CN %s, serial %s)", q, qcn, serial);
    }
  if (!read_crl_number (ca_dir, &last, error)
      || !cert_stage_crl (&ca, entries, last, crl_days, now, &writes, &number, &next, error)
      || !cert_writes_commit (&writes, error))
    return FALSE;
  report_crl (report, &ca, entries, number, next);
  return TRUE;
}

gboolean
latch_cert_crl (const char *ca_dir, int crl_days, LatchCertReport *report, GError **error)
{
  g_autofree char *index_text = NULL;
  g_autoptr (GArray) entries = NULL;
  g_auto (Ca) ca = { 0 };
  g_auto (LatchFd) lock = -1;
  g_auto (Writes) writes = { NULL };
  guint64 last = 0, number = 0;
  time_t next = 0;

  cert_writes_init (&writes);
  if (!cert_check_ca_dir (ca_dir, error))
    return FALSE;
  lock = cert_lock_dir (ca_dir, error);
  if (lock < 0 || !cert_load_ca (ca_dir, FALSE, report, &ca, error)
      || !read_index (ca_dir, &index_text, &entries, error)
      || !read_crl_number (ca_dir, &last, error)
      || !cert_stage_crl (&ca, entries, last, crl_days, time (NULL), &writes, &number, &next,
                          error)
      || !cert_writes_commit (&writes, error))
    return FALSE;
  report_crl (report, &ca, entries, number, next);
  return TRUE;
}
