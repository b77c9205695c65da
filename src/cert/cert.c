/* cert.c: what latch-cert's operations share: reports, option checks,
 * files written all or nothing, GnuTLS helpers, the CA loaded.  The
 * operations are in cert-ca.c (ca init), cert-node.c (node),
 * cert-csr.c (request, sign), cert-crl.c (revoke, crl) and cert-check.c
 * (check); all use GnuTLS's x509 API.
 *
 * Each operation checks everything it can before it writes anything (the
 * CA loads and matches its key, the output files are absent or --force is
 * given), makes everything in memory, then writes its files together
 * (Writes: all temporary files first, then one commit), so that a failed
 * command leaves no half-made CA or node behind. */

#include "config.h"

#include "cert/cert-private.h"

#include "x509/x509-describe.h"
#include "common/autocleanup.h"
#include "common/error.h"
#include "common/file.h"
#include "common/text.h"
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

/* ---- reports ---------------------------------------------------------- */

LatchCertReport *
latch_cert_report_new (void)
{
  LatchCertReport *report = g_new0 (LatchCertReport, 1);

  report->info = g_ptr_array_new_with_free_func (g_free);
  report->warnings = g_ptr_array_new_with_free_func (g_free);
  return report;
}

void
latch_cert_report_free (LatchCertReport *report)
{
  if (report == NULL)
    return;
  g_ptr_array_unref (report->info);
  g_ptr_array_unref (report->warnings);
  g_free (report);
}

void
cert_report_info (LatchCertReport *report, const char *format, ...)
{
  va_list ap;

  if (report == NULL)
    return;
  va_start (ap, format);
  latch_text_lines_add_valist (report->info, format, ap);
  va_end (ap);
}

void
cert_report_warning (LatchCertReport *report, const char *format, ...)
{
  va_list ap;

  if (report == NULL)
    return;
  va_start (ap, format);
  latch_text_lines_add_valist (report->warnings, format, ap);
  va_end (ap);
}

/* Path text for messages: escaped (a file name may hold anything). */
char *
cert_qpath (const char *path)
{
  return latch_x509_escape (path, strlen (path));
}

/* ---- options ---------------------------------------------------------- */

static gboolean
parse_uint (const char *text, unsigned int *out)
{
  guint64 value = 0;

  if (text == NULL
      || !g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT, &value, NULL))
    return FALSE;
  *out = (unsigned int)value;
  return TRUE;
}

gboolean
latch_cert_key_spec_parse (const char *type, const char *bits, LatchCertKeySpec *out,
                           GError **error)
{
  LatchCertKeySpec spec = { LATCH_CERT_KEY_ECDSA, 0 };
  unsigned int n = 0;

  if (type == NULL || g_ascii_strcasecmp (type, "ecdsa") == 0)
    spec.type = LATCH_CERT_KEY_ECDSA;
  else if (g_ascii_strcasecmp (type, "ed25519") == 0)
    spec.type = LATCH_CERT_KEY_ED25519;
  else if (g_ascii_strcasecmp (type, "rsa") == 0)
    spec.type = LATCH_CERT_KEY_RSA;
  else
    {
      g_autofree char *q = latch_x509_escape (type, strlen (type));

      return latch_error_set (error, LATCH_ERROR_INVALID_OPTION,
                              "--key-type '%s' is not a key type: give ecdsa, ed25519 or rsa", q);
    }

  if (bits != NULL && !parse_uint (bits, &n))
    {
      g_autofree char *q = latch_x509_escape (bits, strlen (bits));

      return latch_error_set (error, LATCH_ERROR_INVALID_OPTION,
                              "--bits '%s' is not a number: give a key size in bits", q);
    }
  switch (spec.type)
    {
    case LATCH_CERT_KEY_ECDSA:
      if (bits == NULL)
        n = 256;
      if (n != 256 && n != 384 && n != 521)
        return latch_error_set (error, LATCH_ERROR_INVALID_OPTION,
                                "--bits %u is not an ECDSA curve size: give 256 (P-256, the "
                                "default), 384 or 521", n);
      break;
    case LATCH_CERT_KEY_ED25519:
      if (bits != NULL)
        return latch_error_set (error, LATCH_ERROR_INVALID_OPTION,
                                "--bits does not apply to Ed25519 keys (they have one size): "
                                "leave it out");
      n = 0;
      break;
    case LATCH_CERT_KEY_RSA:
      if (bits == NULL)
        n = LATCH_CERT_DEFAULT_RSA_BITS;
      if (n < LATCH_X509_MIN_RSA_BITS)
        return latch_error_set (error, LATCH_ERROR_INVALID_OPTION,
                                "--bits %u is too small: latch refuses RSA keys under %d bits; "
                                "give --bits %d or more (default %d)", n, LATCH_X509_MIN_RSA_BITS,
                                LATCH_X509_MIN_RSA_BITS, LATCH_CERT_DEFAULT_RSA_BITS);
      if (n > LATCH_CERT_MAX_RSA_BITS)
        return latch_error_set (error, LATCH_ERROR_INVALID_OPTION,
                                "--bits %u is too large: give at most %d (default %d)", n,
                                LATCH_CERT_MAX_RSA_BITS, LATCH_CERT_DEFAULT_RSA_BITS);
      break;
    default:
      g_assert_not_reached ();
    }
  spec.bits = n;
  *out = spec;
  return TRUE;
}

gboolean
latch_cert_check_id (const char *id, const char *option, const char *source, int code,
                     GError **error)
{
  g_autofree char *lower = NULL;

  if (latch_x509_is_machine_id (id))
    return TRUE;
  lower = g_ascii_strdown (id, -1);
  if (latch_x509_is_machine_id (lower))
    {
      if (option != NULL)
        return latch_error_set (error, code,
                                "%s has upper-case hex digits: machine IDs are lowercase; give "
                                "%s %s", source, option, lower);
      return latch_error_set (error, code,
                              "%s has upper-case hex digits: machine IDs are lowercase; write it "
                              "as %s", source, lower);
    }
  return latch_error_set (error, code,
                          "%s is not a machine ID (32 lowercase hex digits): give the node's "
                          "ID, from its /etc/machine-id or 'latch --unique-id' run on it",
                          source);
}

gboolean
latch_cert_read_file (const char *path, const char *what, char **contents, gsize *len,
                      unsigned int *mode, GError **error)
{
  g_autofree char *q = cert_qpath (path);
  g_autofree char *name = g_strdup_printf ("%s %s", what, q);
  g_autofree char *data = NULL;
  gsize data_len = 0;
  unsigned int data_mode = 0;

  if (!latch_file_read (path, name, MAX_FILE_SIZE, LATCH_FILE_MAY_BE_MISSING,
                        LATCH_ERROR_FAILED, &data, &data_len, &data_mode, error))
    {
      /* The shared reader names the problem; the fix depends on it. */
      struct stat st;
      const char *hint = "check the file";

      if (stat (path, &st) == 0)
        {
          if (!S_ISREG (st.st_mode))
            hint = "give the file itself";
          else if (st.st_size > MAX_FILE_SIZE)
            hint = "give a PEM or DER file";
          else if (access (path, R_OK) != 0)
            hint = "run latch-cert as a user who may read it";
        }
      if (error != NULL && *error != NULL)
        {
          char *message = g_strdup_printf ("%s: %s", (*error)->message, hint);

          g_free ((*error)->message);
          (*error)->message = message;
        }
      return FALSE;
    }
  /* The usual mistake gets its own advice. */
  if (data == NULL)
    return latch_error_set (error, LATCH_ERROR_FAILED, "%s %s does not exist: check the path",
                            what, q);
  if (mode != NULL)
    *mode = data_mode;
  *len = data_len;
  *contents = g_steal_pointer (&data);
  return TRUE;
}

char *
latch_cert_read_id_file (const char *path, GError **error)
{
  g_autofree char *data = NULL;
  g_autofree char *q = cert_qpath (path);
  g_autofree char *source = NULL;
  gsize len = 0;
  char *nl;

  if (!latch_cert_read_file (path, "machine-id file", &data, &len, NULL, error))
    return NULL;
  if (memchr (data, '\0', len) != NULL)
    {
      latch_error_set (error, LATCH_ERROR_FAILED,
                       "%s is not a text file: give a copy of the node's /etc/machine-id", q);
      return NULL;
    }
  nl = strchr (data, '\n');
  if (nl != NULL)
    *nl = '\0';
  g_strstrip (data);
  if (*data == '\0')
    {
      latch_error_set (error, LATCH_ERROR_FAILED,
                       "%s has an empty first line: give a copy of the node's /etc/machine-id", q);
      return NULL;
    }
  {
    g_autofree char *qid = latch_x509_escape (data, strlen (data));

    source = g_strdup_printf ("the ID '%s' in %s", qid, q);
  }
  if (!latch_cert_check_id (data, NULL, source, LATCH_ERROR_FAILED, error))
    return NULL;
  return g_steal_pointer (&data);
}

gboolean
latch_cert_check_name (const char *name, GError **error)
{
  g_autofree char *q = latch_x509_escape (name, strlen (name));

  if (*name == '\0' || *name == '.' || strlen (name) > 200)
    return latch_error_set (error, LATCH_ERROR_INVALID_OPTION,
                            "--name '%s' cannot be a file name stem: give a short name such as "
                            "'node' or 'db1'", q);
  for (const char *p = name; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '.' && *p != '_' && *p != '-')
      return latch_error_set (error, LATCH_ERROR_INVALID_OPTION,
                              "--name '%s' has a character other than letters, digits, '.', '_' "
                              "and '-': give a short name such as 'node' or 'db1'", q);
  return TRUE;
}

/* ---- writing files ---------------------------------------------------- */

static void
staged_clear (gpointer p)
{
  Staged *staged = p;

  if (staged->tmp != NULL)
    (void)unlink (staged->tmp);
  g_free (staged->tmp);
  g_free (staged->path);
}

void
cert_writes_init (Writes *writes)
{
  writes->files = g_array_new (FALSE, TRUE, sizeof (Staged));
  g_array_set_clear_func (writes->files, staged_clear);
}

void
cert_writes_clear (Writes *writes)
{
  g_clear_pointer (&writes->files, g_array_unref);
}

static void
fsync_dir (const char *dir)
{
  g_auto (LatchFd) fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (fd >= 0)
    (void)fsync (fd); /* best effort: some file systems refuse it */
}

static gboolean
exists_error (const char *path, GError **error)
{
  g_autofree char *q = cert_qpath (path);

  return latch_error_set (error, LATCH_ERROR_FAILED, "%s exists: pass --force to replace it", q);
}

/* path may be written: absent, or force and not a directory. */
gboolean
cert_check_writable (const char *path, gboolean force, GError **error)
{
  g_autofree char *q = cert_qpath (path);
  struct stat st;

  if (lstat (path, &st) == 0)
    {
      if (!force)
        return exists_error (path, error);
      if (S_ISDIR (st.st_mode))
        return latch_error_set (error, LATCH_ERROR_FAILED,
                                "%s is a directory: remove it, or give another --name", q);
      return TRUE;
    }
  if (errno != ENOENT)
    {
      int e = errno;

      return latch_error_set (error, LATCH_ERROR_FAILED, "cannot check %s: %s: check the "
                              "directory's permissions", q, g_strerror (e));
    }
  return TRUE;
}

static gboolean
write_all (int fd, const char *data, gsize len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return FALSE;
      if (n == 0)
        {
          errno = ENOSPC;
          return FALSE;
        }
      data += n;
      len -= (gsize)n;
    }
  return TRUE;
}

/* Writes data to a temporary file beside path, to become path at the
 * commit.  Without replace, path must not exist. */
gboolean
cert_writes_add (Writes *writes, const char *path, const char *data, gsize len, mode_t mode,
                 gboolean replace, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *qdir = cert_qpath (dir);
  g_autofree char *q = cert_qpath (path);
  Staged staged = { NULL, NULL, replace };
  g_auto (LatchFd) fd = -1;
  int e;

  if (!cert_check_writable (path, replace, error))
    return FALSE;
  staged.tmp = g_strdup_printf ("%s/.%s.XXXXXX", dir, base);
  fd = g_mkstemp_full (staged.tmp, O_RDWR | O_CLOEXEC, (int)mode);
  if (fd < 0)
    {
      e = errno;
      g_free (staged.tmp);
      return latch_error_set (error, LATCH_ERROR_FAILED, "cannot create a file in %s: %s: check "
                              "that directory's permissions and free space", qdir, g_strerror (e));
    }
  staged.path = g_strdup (path);
  g_array_append_val (writes->files, staged); /* from now on, removed on failure */
  if (fchmod (fd, mode) < 0 || !write_all (fd, data, len) || fsync (fd) < 0
      || close (latch_steal_fd (&fd)) < 0)
    {
      e = errno;
      return latch_error_set (error, LATCH_ERROR_FAILED, "cannot write %s: %s: check free space",
                              q, g_strerror (e));
    }
  return TRUE;
}

/* Moves every staged file into place.  If one cannot be, the files this
 * commit created are removed again (files it replaced stay replaced). */
gboolean
cert_writes_commit (Writes *writes, GError **error)
{
  g_autoptr (GPtrArray) created = g_ptr_array_new ();
  g_autoptr (GHashTable) dirs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  GHashTableIter iter;
  gpointer dir;

  for (guint i = 0; i < writes->files->len; i++)
    {
      Staged *staged = &g_array_index (writes->files, Staged, i);
      g_autofree char *q = cert_qpath (staged->path);
      struct stat st;
      gboolean existed = lstat (staged->path, &st) == 0;
      int ret, e = 0;

      if (staged->replace)
        {
          ret = rename (staged->tmp, staged->path);
          e = errno;
        }
      else
        {
          ret = link (staged->tmp, staged->path);
          e = errno;
          /* A file system without hard links: check, then rename. */
          if (ret < 0 && e != EEXIST && !existed)
            {
              ret = rename (staged->tmp, staged->path);
              e = errno;
            }
          else if (ret == 0)
            (void)unlink (staged->tmp);
        }
      if (ret < 0)
        {
          for (guint j = 0; j < created->len; j++)
            (void)unlink (g_ptr_array_index (created, j));
          if (e == EEXIST || (!staged->replace && existed))
            return exists_error (staged->path, error);
          return latch_error_set (error, LATCH_ERROR_FAILED, "cannot create %s: %s: check the "
                                  "directory's permissions", q, g_strerror (e));
        }
      g_clear_pointer (&staged->tmp, g_free);
      if (!existed)
        g_ptr_array_add (created, staged->path);
      g_hash_table_add (dirs, g_path_get_dirname (staged->path));
    }
  g_hash_table_iter_init (&iter, dirs);
  while (g_hash_table_iter_next (&iter, &dir, NULL))
    fsync_dir (dir);
  return TRUE;
}

/* Makes dir (and its parents) with mode if it is missing. */
gboolean
cert_ensure_dir (const char *dir, int mode, GError **error)
{
  g_autofree char *q = cert_qpath (dir);
  struct stat st;

  if (stat (dir, &st) == 0)
    {
      if (!S_ISDIR (st.st_mode))
        return latch_error_set (error, LATCH_ERROR_FAILED,
                                "%s is not a directory: give a directory path", q);
      return TRUE;
    }
  if (g_mkdir_with_parents (dir, mode) < 0)
    {
      int e = errno;

      return latch_error_set (error, LATCH_ERROR_FAILED, "cannot create directory %s: %s: check "
                              "the path and its permissions", q, g_strerror (e));
    }
  return TRUE;
}

/* An exclusive flock(2) on dir, held while the descriptor is open. */
int
cert_lock_dir (const char *dir, GError **error)
{
  g_autofree char *q = cert_qpath (dir);
  g_auto (LatchFd) fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (fd < 0)
    {
      int e = errno;

      latch_error_set (error, LATCH_ERROR_FAILED, "cannot open CA directory %s: %s: check its "
                       "permissions", q, g_strerror (e));
      return -1;
    }
  while (flock (fd, LOCK_EX) < 0)
    {
      int e = errno;

      if (e == EINTR)
        continue;
      if (e == ENOLCK || e == EOPNOTSUPP)
        break; /* a file system without locks: go on unprotected */
      latch_error_set (error, LATCH_ERROR_FAILED, "cannot lock CA directory %s: %s: check its "
                       "file system", q, g_strerror (e));
      return -1;
    }
  return latch_steal_fd (&fd);
}

/* ---- GnuTLS helpers --------------------------------------------------- */

/* "cannot WHAT: GnuTLS's reason: what to do" for failures of GnuTLS
 * itself (out of memory, an algorithm disabled by the system policy). */
gboolean
cert_gnutls_error (GError **error, int ret, const char *format, ...)
{
  va_list ap;
  g_autofree char *what = NULL;

  va_start (ap, format);
  what = g_strdup_vprintf (format, ap);
  va_end (ap);
  return latch_error_set (error, LATCH_ERROR_FAILED,
                          "cannot %s: GnuTLS: %s: try another --key-type, or check the "
                          "system's crypto policy", what, gnutls_strerror (ret));
}

gboolean
cert_random_serial (unsigned char serial[SERIAL_LEN], GError **error)
{
  int ret = gnutls_rnd (GNUTLS_RND_RANDOM, serial, SERIAL_LEN);

  if (ret < 0)
    return cert_gnutls_error (error, ret, "get random bytes for a serial number");
  /* Positive, and no leading zero byte: a minimal DER INTEGER. */
  serial[0] &= 0x7f;
  if (serial[0] == 0)
    serial[0] = 0x01;
  return TRUE;
}

gnutls_x509_privkey_t
cert_generate_key (const LatchCertKeySpec *spec, GError **error)
{
  g_auto (gnutls_x509_privkey_t) key = NULL;
  gnutls_pk_algorithm_t alg;
  unsigned int bits;
  int ret;

  switch (spec->type)
    {
    case LATCH_CERT_KEY_RSA:
      alg = GNUTLS_PK_RSA;
      bits = spec->bits;
      break;
    case LATCH_CERT_KEY_ED25519:
      alg = GNUTLS_PK_EDDSA_ED25519;
      bits = GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_ED25519);
      break;
    case LATCH_CERT_KEY_ECDSA:
    default:
      alg = GNUTLS_PK_ECDSA;
      bits = GNUTLS_CURVE_TO_BITS (spec->bits == 384   ? GNUTLS_ECC_CURVE_SECP384R1
                                   : spec->bits == 521 ? GNUTLS_ECC_CURVE_SECP521R1
                                                       : GNUTLS_ECC_CURVE_SECP256R1);
      break;
    }
  ret = gnutls_x509_privkey_init (&key);
  if (ret >= 0)
    ret = gnutls_x509_privkey_generate2 (key, alg, bits, 0, NULL, 0);
  if (ret < 0)
    {
      cert_gnutls_error (error, ret, "generate a %s key", gnutls_pk_get_name (alg));
      return NULL;
    }
  return g_steal_pointer (&key);
}

/* Unencrypted PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"). */
gboolean
cert_export_key (gnutls_x509_privkey_t key, gnutls_datum_t *out, GError **error)
{
  int ret = gnutls_x509_privkey_export2_pkcs8 (key, GNUTLS_X509_FMT_PEM, NULL,
                                               GNUTLS_PKCS_PLAIN, out);

  if (ret < 0)
    return cert_gnutls_error (error, ret, "export the private key");
  return TRUE;
}

/* An abstract key for signing, sharing x509 (not owned). */
gnutls_privkey_t
cert_signing_key (gnutls_x509_privkey_t x509, GError **error)
{
  g_auto (gnutls_privkey_t) key = NULL;
  int ret = gnutls_privkey_init (&key);

  if (ret >= 0)
    ret = gnutls_privkey_import_x509 (key, x509, 0);
  if (ret < 0)
    {
      cert_gnutls_error (error, ret, "use the private key");
      return NULL;
    }
  return g_steal_pointer (&key);
}

/* The digest GnuTLS prefers for signing with key: SHA-256 for P-256 and
 * RSA, SHA-384 for P-384, SHA-512 for P-521 and Ed25519. */
gnutls_digest_algorithm_t
cert_sign_digest (gnutls_privkey_t key)
{
  g_auto (gnutls_pubkey_t) pub = NULL;
  gnutls_digest_algorithm_t dig = GNUTLS_DIG_SHA256;

  if (gnutls_pubkey_init (&pub) >= 0 && gnutls_pubkey_import_privkey (pub, key, 0, 0) >= 0
      && gnutls_pubkey_get_preferred_hash_algorithm (pub, &dig, NULL) >= 0)
    return dig;
  return GNUTLS_DIG_SHA256;
}

gboolean
cert_export_crt (gnutls_x509_crt_t crt, gnutls_datum_t *out, GError **error)
{
  int ret = gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_PEM, out);

  if (ret < 0)
    return cert_gnutls_error (error, ret, "export the certificate");
  return TRUE;
}

void
cert_gnutls_data_clear (GnutlsData *d)
{
  gnutls_free (d->data);
  d->data = NULL;
  d->size = 0;
}

/* The first certificate of a PEM file, or a DER certificate. */
gnutls_x509_crt_t
cert_import_crt (const char *data, gsize len, const char *what, const char *path, GError **error)
{
  g_auto (gnutls_x509_crt_t) crt = NULL;
  gnutls_datum_t d = { (unsigned char *)data, (unsigned int)len };
  g_autofree char *q = cert_qpath (path);
  int ret;

  ret = gnutls_x509_crt_init (&crt);
  if (ret < 0)
    {
      cert_gnutls_error (error, ret, "read %s %s", what, q);
      return NULL;
    }
  ret = gnutls_x509_crt_import (crt, &d, GNUTLS_X509_FMT_PEM);
  if (ret < 0)
    ret = gnutls_x509_crt_import (crt, &d, GNUTLS_X509_FMT_DER);
  if (ret < 0)
    {
      latch_error_set (error, LATCH_ERROR_FAILED,
                       "%s %s holds no certificate GnuTLS can read (%s): give a PEM or DER "
                       "certificate", what, q, gnutls_strerror (ret));
      return NULL;
    }
  return g_steal_pointer (&crt);
}

/* Every certificate of a PEM file (or one DER certificate). */
gboolean
cert_import_crt_list (const char *data, gsize len, const char *what, const char *path,
                      LatchX509CrtList *out, GError **error)
{
  g_autofree char *q = cert_qpath (path);

  if (!latch_x509_crt_list_import (data, len, TRUE, out, NULL))
    return latch_error_set (error, LATCH_ERROR_FAILED,
                            "%s %s holds no certificate GnuTLS can read: give a PEM file (a "
                            "'-----BEGIN CERTIFICATE-----' block)", what, q);
  return TRUE;
}

/* Do the SHA-256 key IDs of key and crt agree? */
gboolean
cert_key_matches_crt (gnutls_x509_privkey_t key, gnutls_x509_crt_t crt)
{
  unsigned char key_id[64], crt_id[64];
  size_t key_size = sizeof key_id, crt_size = sizeof crt_id;

  return gnutls_x509_privkey_get_key_id (key, GNUTLS_KEYID_USE_SHA256, key_id, &key_size) >= 0
         && gnutls_x509_crt_get_key_id (crt, GNUTLS_KEYID_USE_SHA256, crt_id, &crt_size) >= 0
         && key_size == crt_size && memcmp (key_id, crt_id, key_size) == 0;
}

char *
cert_crt_serial_hex (gnutls_x509_crt_t crt)
{
  unsigned char serial[MAX_SERIAL_BYTES];
  size_t size = sizeof serial;

  if (gnutls_x509_crt_get_serial (crt, serial, &size) < 0)
    return NULL;
  return latch_x509_serial_hex (serial, size);
}

/* The key ID a certificate signed by ca names as its authority. */
gboolean
cert_ca_key_id (gnutls_x509_crt_t ca, unsigned char *buf, size_t *size)
{
  size_t cap = *size;

  if (gnutls_x509_crt_get_subject_key_id (ca, buf, size, NULL) >= 0)
    return TRUE;
  *size = cap;
  return gnutls_x509_crt_get_key_id (ca, GNUTLS_KEYID_USE_SHA1, buf, size) >= 0;
}

/* ---- certificates ----------------------------------------------------- */

/* A certificate made in memory, exported and parsed again: GnuTLS caches
 * some fields (DNs, alternative names) when it parses, and a certificate
 * it did not parse reads back stale values. */
gnutls_x509_crt_t
cert_reparse_crt (gnutls_x509_crt_t made, GError **error)
{
  g_auto (gnutls_x509_crt_t) crt = NULL;
  g_auto (GnutlsData) der = { NULL, 0 };
  int ret = gnutls_x509_crt_export2 (made, GNUTLS_X509_FMT_DER, &der);

  if (ret >= 0)
    ret = gnutls_x509_crt_init (&crt);
  if (ret >= 0)
    ret = gnutls_x509_crt_import (crt, &der, GNUTLS_X509_FMT_DER);
  if (ret < 0)
    {
      cert_gnutls_error (error, ret, "read back the certificate just made");
      return NULL;
    }
  return g_steal_pointer (&crt);
}

/* ---- the CA ----------------------------------------------------------- */

void
cert_ca_clear (Ca *ca)
{
  g_clear_pointer (&ca->dir, g_free);
  g_clear_pointer (&ca->crt_path, g_free);
  g_clear_pointer (&ca->key_path, g_free);
  g_clear_pointer (&ca->pem, g_free);
  g_clear_pointer (&ca->crt, gnutls_x509_crt_deinit);
  g_clear_pointer (&ca->key, gnutls_privkey_deinit);
  g_clear_pointer (&ca->x509_key, gnutls_x509_privkey_deinit);
}

/* Loads the CA of dir: ca.pem, ca.key, and checks they belong together
 * and make a CA.  An expired CA is an error when it is to sign
 * certificates (for_issuing), else a warning. */
gboolean
cert_load_ca (const char *dir, gboolean for_issuing, LatchCertReport *report, Ca *ca,
              GError **error)
{
  g_autofree char *qdir = cert_qpath (dir);
  g_autofree char *key_data = NULL;
  g_autofree char *qcrt = NULL;
  g_autofree char *qkey = NULL;
  gsize key_len = 0;
  unsigned int key_mode = 0;
  unsigned int critical = 0, is_ca = 0, usage = 0;
  gnutls_datum_t d;
  time_t now = time (NULL);
  time_t not_after;
  struct stat st;
  int ret;

  if (stat (dir, &st) < 0)
    {
      int e = errno;

      if (e == ENOENT)
        return latch_error_set (error, LATCH_ERROR_FAILED,
                                "CA directory %s does not exist: create the CA with 'latch-cert "
                                "ca init --dir %s', or give its directory with --ca", qdir, qdir);
      return latch_error_set (error, LATCH_ERROR_FAILED, "cannot use CA directory %s: %s: check "
                              "its permissions", qdir, g_strerror (e));
    }
  if (!S_ISDIR (st.st_mode))
    return latch_error_set (error, LATCH_ERROR_FAILED,
                            "%s is not a directory: give --ca the directory made by 'latch-cert "
                            "ca init'", qdir);

  ca->dir = g_strdup (dir);
  ca->crt_path = g_build_filename (dir, CA_PEM, NULL);
  ca->key_path = g_build_filename (dir, CA_KEY, NULL);
  qcrt = cert_qpath (ca->crt_path);
  qkey = cert_qpath (ca->key_path);

  if (access (ca->crt_path, F_OK) < 0 && errno == ENOENT)
    return latch_error_set (error, LATCH_ERROR_FAILED,
                            "%s has no %s: give --ca the directory made by 'latch-cert ca init'",
                            qdir, CA_PEM);
  if (!latch_cert_read_file (ca->crt_path, "CA certificate", &ca->pem, &ca->pem_len, NULL,
                             error))
    return FALSE;
  ca->crt = cert_import_crt (ca->pem, ca->pem_len, "CA certificate", ca->crt_path, error);
  if (ca->crt == NULL)
    return FALSE;

  if (access (ca->key_path, F_OK) < 0 && errno == ENOENT)
    return latch_error_set (error, LATCH_ERROR_FAILED,
                            "%s has no %s: run latch-cert on the host that keeps the CA key, or "
                            "restore %s", qdir, CA_KEY, qkey);
  if (!latch_cert_read_file (ca->key_path, "CA private key", &key_data, &key_len, &key_mode,
                             error))
    return FALSE;
  if ((key_mode & 077) != 0)
    cert_report_warning (report, "%s is readable by others (mode %04o): chmod 600 %s", qkey,
                         key_mode & 07777, qkey);

  ret = gnutls_x509_privkey_init (&ca->x509_key);
  if (ret < 0)
    {
      ca->x509_key = NULL;
      return cert_gnutls_error (error, ret, "read %s", qkey);
    }
  d.data = (unsigned char *)key_data;
  d.size = (unsigned int)key_len;
  ret = gnutls_x509_privkey_import2 (ca->x509_key, &d, GNUTLS_X509_FMT_PEM, NULL, 0);
  if (ret < 0)
    ret = gnutls_x509_privkey_import2 (ca->x509_key, &d, GNUTLS_X509_FMT_DER, NULL, 0);
  if (ret == GNUTLS_E_DECRYPTION_FAILED)
    return latch_error_set (error, LATCH_ERROR_FAILED,
                            "%s is encrypted: latch-cert needs the CA key unencrypted (keep it "
                            "mode 0600 on a safe host)", qkey);
  if (ret < 0)
    return latch_error_set (error, LATCH_ERROR_FAILED,
                            "%s holds no private key GnuTLS can read (%s): restore the CA's key",
                            qkey, gnutls_strerror (ret));
  if (!cert_key_matches_crt (ca->x509_key, ca->crt))
    return latch_error_set (error, LATCH_ERROR_FAILED,
                            "%s does not match %s: restore the key that goes with this CA "
                            "certificate (or make a new CA with 'latch-cert ca init --force')",
                            qkey, qcrt);
  ca->key = cert_signing_key (ca->x509_key, error);
  if (ca->key == NULL)
    return FALSE;

  ret = gnutls_x509_crt_get_basic_constraints (ca->crt, &critical, &is_ca, NULL);
  if (ret <= 0)
    return latch_error_set (error, LATCH_ERROR_FAILED,
                            "%s is not a CA certificate (no basicConstraints CA:TRUE): give --ca "
                            "the directory made by 'latch-cert ca init'", qcrt);
  ret = gnutls_x509_crt_get_key_usage (ca->crt, &usage, &critical);
  if (ret >= 0 && (usage & GNUTLS_KEY_KEY_CERT_SIGN) == 0)
    return latch_error_set (error, LATCH_ERROR_FAILED,
                            "%s may not sign certificates (its key usage lacks keyCertSign): make "
                            "a CA with 'latch-cert ca init'", qcrt);
  if (ret >= 0 && (usage & GNUTLS_KEY_CRL_SIGN) == 0 && !for_issuing)
    return latch_error_set (error, LATCH_ERROR_FAILED,
                            "%s may not sign CRLs (its key usage lacks cRLSign): make a CA with "
                            "'latch-cert ca init'", qcrt);

  not_after = gnutls_x509_crt_get_expiration_time (ca->crt);
  if (not_after != (time_t)-1 && not_after < now)
    {
      g_autofree char *when = latch_x509_format_time (not_after);

      if (for_issuing)
        return latch_error_set (error, LATCH_ERROR_FAILED,
                                "the CA certificate %s expired on %s, so nothing it signs is "
                                "trusted: make a new CA ('latch-cert ca init --force') and issue "
                                "every node again", qcrt, when);
      cert_report_warning (report, "the CA certificate %s expired on %s: make a new CA and issue "
                           "every node again", qcrt, when);
    }
  return TRUE;
}

/* dir exists and is a directory (for a message better than lock_dir's). */
gboolean
cert_check_ca_dir (const char *dir, GError **error)
{
  g_autofree char *q = cert_qpath (dir);
  struct stat st;

  if (stat (dir, &st) == 0 && S_ISDIR (st.st_mode))
    return TRUE;
  if (errno == ENOENT)
    return latch_error_set (error, LATCH_ERROR_FAILED,
                            "CA directory %s does not exist: create the CA with 'latch-cert ca "
                            "init --dir %s', or give its directory with --ca", q, q);
  return latch_error_set (error, LATCH_ERROR_FAILED,
                          "%s is not a directory: give --ca the directory made by 'latch-cert ca "
                          "init'", q);
}
