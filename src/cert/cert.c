/* cert.c: latch-cert's operations, with GnuTLS's x509 API.
 *
 * Each operation checks everything it can before it writes anything (the
 * CA loads and matches its key, the output files are absent or --force is
 * given), makes everything in memory, then writes its files together
 * (Writes: all temporary files first, then one commit), so that a failed
 * command leaves no half-made CA or node behind. */
#include "config.h"

#include "cert/cert.h"

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

#define SECONDS_PER_DAY ((gint64)86400)
/* Certificates start this long before they are made: a node whose clock
 * is a little behind the CA host's must not find them "not yet valid". */
#define BACKDATE_SECONDS ((gint64)3600)
/* Serial numbers: 20 random bytes, positive (RFC 5280 4.1.2.2). */
#define SERIAL_LEN 20
/* No certificate, key, CSR or CRL we read is bigger than this. */
#define MAX_FILE_SIZE (16 * 1024 * 1024)
/* The longest CN a certificate may have (RFC 5280, ub-common-name). */
#define MAX_CN_LEN 64
#define MAX_SERIAL_BYTES 64

#define CA_KEY "ca.key"
#define CA_PEM "ca.pem"
#define CA_INDEX "index"
#define CA_CRLNUMBER "crlnumber"
#define CA_CRL "crl.pem"

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

static void report_info (LatchCertReport *report, const char *format, ...)
    G_GNUC_PRINTF (2, 3);
static void report_warning (LatchCertReport *report, const char *format, ...)
    G_GNUC_PRINTF (2, 3);

static void
report_info (LatchCertReport *report, const char *format, ...)
{
  va_list ap;

  if (report == NULL)
    return;
  va_start (ap, format);
  g_ptr_array_add (report->info, g_strdup_vprintf (format, ap));
  va_end (ap);
}

static void
report_warning (LatchCertReport *report, const char *format, ...)
{
  va_list ap;

  if (report == NULL)
    return;
  va_start (ap, format);
  g_ptr_array_add (report->warnings, g_strdup_vprintf (format, ap));
  va_end (ap);
}

/* Path text for messages: escaped (a file name may hold anything). */
static char *
qpath (const char *path)
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
  g_autofree char *q = qpath (path);
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
  g_autofree char *q = qpath (path);
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

/* Files written together, all or nothing: writes_add () writes each to a
 * temporary file in its directory, created O_EXCL with its final mode (a
 * key is never readable by others, not even for a moment) and fsynced;
 * writes_commit () then moves them all into place, with rename(2) where a
 * file may be replaced, else with link(2), which fails if the file has
 * appeared meanwhile.  Anything left uncommitted is removed, so a command
 * that fails before the commit changes nothing; the commit itself only
 * renames within directories, which does not run out of space. */
typedef struct
{
  char *tmp; /* NULL once moved into place */
  char *path;
  gboolean replace;
} Staged;

typedef struct
{
  GArray *files; /* Staged */
} Writes;

static void
staged_clear (gpointer p)
{
  Staged *staged = p;

  if (staged->tmp != NULL)
    (void)unlink (staged->tmp);
  g_free (staged->tmp);
  g_free (staged->path);
}

static void
writes_init (Writes *writes)
{
  writes->files = g_array_new (FALSE, TRUE, sizeof (Staged));
  g_array_set_clear_func (writes->files, staged_clear);
}

static void
writes_clear (Writes *writes)
{
  g_clear_pointer (&writes->files, g_array_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Writes, writes_clear)

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
  g_autofree char *q = qpath (path);

  return latch_error_set (error, LATCH_ERROR_FAILED, "%s exists: pass --force to replace it", q);
}

/* path may be written: absent, or force and not a directory. */
static gboolean
check_writable (const char *path, gboolean force, GError **error)
{
  g_autofree char *q = qpath (path);
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
static gboolean
writes_add (Writes *writes, const char *path, const char *data, gsize len, mode_t mode,
            gboolean replace, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *qdir = qpath (dir);
  g_autofree char *q = qpath (path);
  Staged staged = { NULL, NULL, replace };
  g_auto (LatchFd) fd = -1;
  int e;

  if (!check_writable (path, replace, error))
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
static gboolean
writes_commit (Writes *writes, GError **error)
{
  g_autoptr (GPtrArray) created = g_ptr_array_new ();
  g_autoptr (GHashTable) dirs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  GHashTableIter iter;
  gpointer dir;

  for (guint i = 0; i < writes->files->len; i++)
    {
      Staged *staged = &g_array_index (writes->files, Staged, i);
      g_autofree char *q = qpath (staged->path);
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
static gboolean
ensure_dir (const char *dir, int mode, GError **error)
{
  g_autofree char *q = qpath (dir);
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
static int
lock_dir (const char *dir, GError **error)
{
  g_autofree char *q = qpath (dir);
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

static gboolean gnutls_error (GError **error, int ret, const char *format, ...)
    G_GNUC_PRINTF (3, 4);

/* "cannot WHAT: GnuTLS's reason: what to do" for failures of GnuTLS
 * itself (out of memory, an algorithm disabled by the system policy). */
static gboolean
gnutls_error (GError **error, int ret, const char *format, ...)
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

static gboolean
random_serial (unsigned char serial[SERIAL_LEN], GError **error)
{
  int ret = gnutls_rnd (GNUTLS_RND_RANDOM, serial, SERIAL_LEN);

  if (ret < 0)
    return gnutls_error (error, ret, "get random bytes for a serial number");
  /* Positive, and no leading zero byte: a minimal DER INTEGER. */
  serial[0] &= 0x7f;
  if (serial[0] == 0)
    serial[0] = 0x01;
  return TRUE;
}

static gnutls_x509_privkey_t
generate_key (const LatchCertKeySpec *spec, GError **error)
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
      gnutls_error (error, ret, "generate a %s key", gnutls_pk_get_name (alg));
      return NULL;
    }
  return g_steal_pointer (&key);
}

/* Unencrypted PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"). */
static gboolean
export_key (gnutls_x509_privkey_t key, gnutls_datum_t *out, GError **error)
{
  int ret = gnutls_x509_privkey_export2_pkcs8 (key, GNUTLS_X509_FMT_PEM, NULL,
                                               GNUTLS_PKCS_PLAIN, out);

  if (ret < 0)
    return gnutls_error (error, ret, "export the private key");
  return TRUE;
}

/* An abstract key for signing, sharing x509 (not owned). */
static gnutls_privkey_t
signing_key (gnutls_x509_privkey_t x509, GError **error)
{
  g_auto (gnutls_privkey_t) key = NULL;
  int ret = gnutls_privkey_init (&key);

  if (ret >= 0)
    ret = gnutls_privkey_import_x509 (key, x509, 0);
  if (ret < 0)
    {
      gnutls_error (error, ret, "use the private key");
      return NULL;
    }
  return g_steal_pointer (&key);
}

/* The digest GnuTLS prefers for signing with key: SHA-256 for P-256 and
 * RSA, SHA-384 for P-384, SHA-512 for P-521 and Ed25519. */
static gnutls_digest_algorithm_t
sign_digest (gnutls_privkey_t key)
{
  g_auto (gnutls_pubkey_t) pub = NULL;
  gnutls_digest_algorithm_t dig = GNUTLS_DIG_SHA256;

  if (gnutls_pubkey_init (&pub) >= 0 && gnutls_pubkey_import_privkey (pub, key, 0, 0) >= 0
      && gnutls_pubkey_get_preferred_hash_algorithm (pub, &dig, NULL) >= 0)
    return dig;
  return GNUTLS_DIG_SHA256;
}

static gboolean
export_crt (gnutls_x509_crt_t crt, gnutls_datum_t *out, GError **error)
{
  int ret = gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_PEM, out);

  if (ret < 0)
    return gnutls_error (error, ret, "export the certificate");
  return TRUE;
}

/* A datum from GnuTLS, freed with gnutls_free. */
typedef gnutls_datum_t GnutlsData;

static void
gnutls_data_clear (GnutlsData *d)
{
  gnutls_free (d->data);
  d->data = NULL;
  d->size = 0;
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (GnutlsData, gnutls_data_clear)

/* The first certificate of a PEM file, or a DER certificate. */
static gnutls_x509_crt_t
import_crt (const char *data, gsize len, const char *what, const char *path, GError **error)
{
  g_auto (gnutls_x509_crt_t) crt = NULL;
  gnutls_datum_t d = { (unsigned char *)data, (unsigned int)len };
  g_autofree char *q = qpath (path);
  int ret;

  ret = gnutls_x509_crt_init (&crt);
  if (ret < 0)
    {
      gnutls_error (error, ret, "read %s %s", what, q);
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
static gboolean
import_crt_list (const char *data, gsize len, const char *what, const char *path,
                 LatchX509CrtList *out, GError **error)
{
  g_autofree char *q = qpath (path);

  if (!latch_x509_crt_list_import (data, len, TRUE, out, NULL))
    return latch_error_set (error, LATCH_ERROR_FAILED,
                            "%s %s holds no certificate GnuTLS can read: give a PEM file (a "
                            "'-----BEGIN CERTIFICATE-----' block)", what, q);
  return TRUE;
}

/* Do the SHA-256 key IDs of key and crt agree? */
static gboolean
key_matches_crt (gnutls_x509_privkey_t key, gnutls_x509_crt_t crt)
{
  unsigned char key_id[64], crt_id[64];
  size_t key_size = sizeof key_id, crt_size = sizeof crt_id;

  return gnutls_x509_privkey_get_key_id (key, GNUTLS_KEYID_USE_SHA256, key_id, &key_size) >= 0
         && gnutls_x509_crt_get_key_id (crt, GNUTLS_KEYID_USE_SHA256, crt_id, &crt_size) >= 0
         && key_size == crt_size && memcmp (key_id, crt_id, key_size) == 0;
}

static char *
crt_serial_hex (gnutls_x509_crt_t crt)
{
  unsigned char serial[MAX_SERIAL_BYTES];
  size_t size = sizeof serial;

  if (gnutls_x509_crt_get_serial (crt, serial, &size) < 0)
    return NULL;
  return latch_x509_serial_hex (serial, size);
}

/* The key ID a certificate signed by ca names as its authority. */
static gboolean
ca_key_id (gnutls_x509_crt_t ca, unsigned char *buf, size_t *size)
{
  size_t cap = *size;

  if (gnutls_x509_crt_get_subject_key_id (ca, buf, size, NULL) >= 0)
    return TRUE;
  *size = cap;
  return gnutls_x509_crt_get_key_id (ca, GNUTLS_KEYID_USE_SHA1, buf, size) >= 0;
}

/* ---- the CA ----------------------------------------------------------- */

typedef struct
{
  char *dir;
  char *crt_path;
  char *key_path;
  char *pem; /* ca.pem as read */
  gsize pem_len;
  gnutls_x509_crt_t crt;
  gnutls_x509_privkey_t x509_key;
  gnutls_privkey_t key; /* uses x509_key */
} Ca;

static void
ca_clear (Ca *ca)
{
  g_clear_pointer (&ca->dir, g_free);
  g_clear_pointer (&ca->crt_path, g_free);
  g_clear_pointer (&ca->key_path, g_free);
  g_clear_pointer (&ca->pem, g_free);
  g_clear_pointer (&ca->crt, gnutls_x509_crt_deinit);
  g_clear_pointer (&ca->key, gnutls_privkey_deinit);
  g_clear_pointer (&ca->x509_key, gnutls_x509_privkey_deinit);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Ca, ca_clear)

/* Loads the CA of dir: ca.pem, ca.key, and checks they belong together
 * and make a CA.  An expired CA is an error when it is to sign
 * certificates (for_issuing), else a warning. */
static gboolean
load_ca (const char *dir, gboolean for_issuing, LatchCertReport *report, Ca *ca,
         GError **error)
{
  g_autofree char *qdir = qpath (dir);
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
  qcrt = qpath (ca->crt_path);
  qkey = qpath (ca->key_path);

  if (access (ca->crt_path, F_OK) < 0 && errno == ENOENT)
    return latch_error_set (error, LATCH_ERROR_FAILED,
                            "%s has no %s: give --ca the directory made by 'latch-cert ca init'",
                            qdir, CA_PEM);
  if (!latch_cert_read_file (ca->crt_path, "CA certificate", &ca->pem, &ca->pem_len, NULL,
                             error))
    return FALSE;
  ca->crt = import_crt (ca->pem, ca->pem_len, "CA certificate", ca->crt_path, error);
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
    report_warning (report, "%s is readable by others (mode %04o): chmod 600 %s", qkey,
                    key_mode & 07777, qkey);

  ret = gnutls_x509_privkey_init (&ca->x509_key);
  if (ret < 0)
    {
      ca->x509_key = NULL;
      return gnutls_error (error, ret, "read %s", qkey);
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
  if (!key_matches_crt (ca->x509_key, ca->crt))
    return latch_error_set (error, LATCH_ERROR_FAILED,
                            "%s does not match %s: restore the key that goes with this CA "
                            "certificate (or make a new CA with 'latch-cert ca init --force')",
                            qkey, qcrt);
  ca->key = signing_key (ca->x509_key, error);
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
      report_warning (report, "the CA certificate %s expired on %s: make a new CA and issue "
                      "every node again", qcrt, when);
    }
  return TRUE;
}

/* ---- certificates ----------------------------------------------------- */

/* A certificate made in memory, exported and parsed again: GnuTLS caches
 * some fields (DNs, alternative names) when it parses, and a certificate
 * it did not parse reads back stale values. */
static gnutls_x509_crt_t
reparse_crt (gnutls_x509_crt_t made, GError **error)
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
      gnutls_error (error, ret, "read back the certificate just made");
      return NULL;
    }
  return g_steal_pointer (&crt);
}

static gnutls_x509_crt_t
make_ca_crt (gnutls_x509_privkey_t x509_key, gnutls_privkey_t key, const char *name,
             int days, time_t now, GError **error)
{
  g_auto (gnutls_x509_crt_t) crt = NULL;
  unsigned char serial[SERIAL_LEN];
  unsigned char key_id[64];
  size_t key_id_size = sizeof key_id;
  int ret;

  if (!random_serial (serial, error))
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
    ret = gnutls_x509_crt_privkey_sign (crt, crt, key, sign_digest (key), 0);
  if (ret < 0)
    {
      gnutls_error (error, ret, "make the CA certificate");
      return NULL;
    }
  return reparse_crt (crt, error);
}

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
static gnutls_x509_crt_t
issue_node (const Ca *ca, gnutls_pubkey_t pub, const char *id, int days, time_t now,
            GError **error)
{
  g_auto (gnutls_x509_crt_t) crt = NULL;
  unsigned char serial[SERIAL_LEN];
  unsigned char key_id[64];
  size_t key_id_size = sizeof key_id;
  unsigned int usage = GNUTLS_KEY_DIGITAL_SIGNATURE;
  time_t not_before, not_after;
  int ret;

  if (!random_serial (serial, error))
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
      if (ca_key_id (ca->crt, key_id, &key_id_size))
        ret = gnutls_x509_crt_set_authority_key_id (crt, key_id, key_id_size);
    }
  if (ret >= 0)
    ret = gnutls_x509_crt_privkey_sign (crt, ca->crt, ca->key, sign_digest (ca->key), 0);
  if (ret < 0)
    {
      gnutls_error (error, ret, "make the certificate for %s", id);
      return NULL;
    }
  return reparse_crt (crt, error);
}

/* Warnings about a certificate just issued: not valid now, or valid
 * longer than the CA. */
static void
warn_about_issued (gnutls_x509_crt_t crt, const Ca *ca, const char *path, time_t now,
                   LatchCertReport *report)
{
  g_autofree char *q = qpath (path);
  time_t not_before = gnutls_x509_crt_get_activation_time (crt);
  time_t not_after = gnutls_x509_crt_get_expiration_time (crt);
  time_t ca_after = gnutls_x509_crt_get_expiration_time (ca->crt);
  gboolean valid = FALSE;
  g_autofree char *validity = latch_x509_describe_validity (not_before, not_after, now,
                                                            &valid);

  if (!valid)
    report_warning (report, "%s is not valid now (%s): latch will refuse it", q, validity);
  else if (ca_after != (time_t)-1 && not_after > ca_after)
    {
      g_autofree char *when = latch_x509_format_time (ca_after);

      report_warning (report, "%s outlives the CA certificate, which expires on %s: from "
                      "then on latch refuses it; renew the CA before", q, when);
    }
}

/* pub may be used for a node: a type and size latch accepts. */
static gboolean
check_node_key (gnutls_pubkey_t pub, const char *what, GError **error)
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


/* ---- the index and CRLs ----------------------------------------------- */

typedef struct
{
  char *hex;    /* the serial, lowercase hex */
  gint64 when;  /* revocation time, Unix seconds */
} Revocation;

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
  g_autofree char *q = qpath (path);
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
  g_autofree char *q = qpath (path);
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
static gboolean
stage_crl (const Ca *ca, GArray *entries, guint64 last, int crl_days, time_t now,
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
  if (ret >= 0 && ca_key_id (ca->crt, key_id, &key_id_size))
    ret = gnutls_x509_crl_set_authority_key_id (crl, key_id, key_id_size);
  if (ret >= 0)
    ret = gnutls_x509_crl_set_number (crl, number_der, number_len);
  if (ret >= 0)
    ret = gnutls_x509_crl_privkey_sign (crl, ca->crt, ca->key, sign_digest (ca->key), 0);
  if (ret >= 0)
    ret = gnutls_x509_crl_export2 (crl, GNUTLS_X509_FMT_PEM, &pem);
  if (ret < 0)
    return gnutls_error (error, ret, "make the CRL");

  number_text = g_strdup_printf ("%" G_GUINT64_FORMAT "\n", number);
  if (!writes_add (writes, number_path, number_text, strlen (number_text), 0644, TRUE, error)
      || !writes_add (writes, crl_path, (const char *)pem.data, pem.size, 0644, TRUE, error))
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
  g_autofree char *q = qpath (abs);
  g_autofree char *when = latch_x509_format_time (next);
  time_t ca_after = gnutls_x509_crt_get_expiration_time (ca->crt);

  report_info (report, "wrote %s: CRL number %" G_GUINT64_FORMAT ", %u revoked "
               "certificate%s, next update %s", q, number, entries->len,
               entries->len == 1 ? "" : "s", when);
  report_info (report, "give it to every node (TlsCrl= or --tls-crl=) and make it again "
               "before then ('latch-cert crl')");
  if (ca_after != (time_t)-1 && next > ca_after)
    {
      g_autofree char *ca_when = latch_x509_format_time (ca_after);

      report_warning (report, "the CA certificate expires on %s, before this CRL's next "
                      "update: renew the CA before then", ca_when);
    }
}

/* dir exists and is a directory (for a message better than lock_dir's). */
static gboolean
check_ca_dir (const char *dir, GError **error)
{
  g_autofree char *q = qpath (dir);
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

  writes_init (&writes);
  if (*name == '\0' || !g_utf8_validate (name, -1, NULL)
      || g_utf8_strlen (name, -1) > MAX_CN_LEN)
    return latch_error_set (error, LATCH_ERROR_INVALID_OPTION,
                            "--name must be 1 to %d characters of UTF-8: give a shorter CA name",
                            MAX_CN_LEN);
  if (!ensure_dir (opts->dir, 0700, error))
    return FALSE;
  lock = lock_dir (opts->dir, error);
  if (lock < 0)
    return FALSE;
  if (!check_writable (key_path, opts->force, error)
      || !check_writable (crt_path, opts->force, error))
    return FALSE;

  /* The CA, in memory: what load_ca () would read back. */
  ca.dir = g_strdup (opts->dir);
  ca.x509_key = generate_key (&opts->key, error);
  if (ca.x509_key == NULL)
    return FALSE;
  ca.key = signing_key (ca.x509_key, error);
  if (ca.key == NULL)
    return FALSE;
  ca.crt = make_ca_crt (ca.x509_key, ca.key, name, opts->days, now, error);
  if (ca.crt == NULL)
    return FALSE;
  if (!export_key (ca.x509_key, &key_pem, error) || !export_crt (ca.crt, &crt_pem, error))
    return FALSE;

  /* A new CA starts with no revocations and CRL number 1: the old CA's
   * serials mean nothing to it. */
  if (!writes_add (&writes, key_path, (const char *)key_pem.data, key_pem.size, 0600,
                   opts->force, error)
      || !writes_add (&writes, crt_path, (const char *)crt_pem.data, crt_pem.size, 0644,
                      opts->force, error)
      || !writes_add (&writes, index_path, "", 0, 0644, TRUE, error)
      || !stage_crl (&ca, entries, 0, opts->crl_days, now, &writes, &number, &next, error)
      || !writes_commit (&writes, error))
    return FALSE;

  abs_dir = g_canonicalize_filename (opts->dir, NULL);
  qdir = qpath (abs_dir);
  if (gnutls_pubkey_init (&pub) >= 0 && gnutls_pubkey_import_x509 (pub, ca.crt, 0) >= 0)
    key_desc = latch_x509_pubkey_name (pub, NULL, NULL);
  {
    g_autofree char *until = latch_x509_format_time (
        gnutls_x509_crt_get_expiration_time (ca.crt));
    g_autofree char *next_text = latch_x509_format_time (next);
    g_autofree char *qname = latch_x509_escape (name, strlen (name));

    report_info (report, "created CA '%s' in %s: %s key, valid until %s", qname, qdir,
                 key_desc != NULL ? key_desc : "an unknown", until);
    report_info (report, "  %s   the CA certificate: every node gets a copy", CA_PEM);
    report_info (report, "  %s   the CA's private key: it stays here, secret", CA_KEY);
    report_info (report, "  %s  its CRL (next update %s): for every node, with --tls-crl",
                 CA_CRL, next_text);
    report_info (report, "  %s    revocations, %s  the last CRL number", CA_INDEX,
                 CA_CRLNUMBER);
    report_info (report, "next, for each node: latch-cert node --ca %s --id ID --out DIR",
                 qdir);
  }
  return TRUE;
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
      gnutls_error (error, ret, "get the public key");
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

  writes_init (&writes);
  if (!latch_cert_check_name (name, error))
    return FALSE;
  if (strcmp (name, "ca") == 0)
    return latch_error_set (error, LATCH_ERROR_INVALID_OPTION,
                            "--name ca would clash with the CA certificate copied to ca.pem: give "
                            "another name");
  if (!load_ca (opts->ca_dir, TRUE, report, &ca, error))
    return FALSE;
  if (!ensure_dir (opts->out_dir, 0755, error)
      || !check_writable (key_path, opts->force, error)
      || !check_writable (crt_path, opts->force, error))
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
          g_autofree char *q = qpath (ca_path);

          return latch_error_set (error, LATCH_ERROR_FAILED,
                                  "%s exists and is not this CA's certificate: pass --force to "
                                  "replace it, or give another --out", q);
        }
    }

  x509_key = generate_key (&opts->key, error);
  if (x509_key == NULL)
    return FALSE;
  key = signing_key (x509_key, error);
  if (key == NULL)
    return FALSE;
  pub = public_key (key, error);
  if (pub == NULL)
    return FALSE;
  crt = issue_node (&ca, pub, opts->id, opts->days, now, error);
  if (crt == NULL)
    return FALSE;
  if (!export_key (x509_key, &key_pem, error) || !export_crt (crt, &crt_pem, error))
    return FALSE;

  if (!writes_add (&writes, key_path, (const char *)key_pem.data, key_pem.size, 0600,
                   opts->force, error)
      || !writes_add (&writes, crt_path, (const char *)crt_pem.data, crt_pem.size, 0644,
                      opts->force, error)
      || (copy_ca
          && !writes_add (&writes, ca_path, ca.pem, ca.pem_len, 0644, opts->force, error))
      || !writes_commit (&writes, error))
    return FALSE;

  warn_about_issued (crt, &ca, crt_path, now, report);
  {
    g_autofree char *abs_crt = g_canonicalize_filename (crt_path, NULL);
    g_autofree char *abs_key = g_canonicalize_filename (key_path, NULL);
    g_autofree char *abs_ca = g_canonicalize_filename (ca_path, NULL);

    report_info (report, "[TLS]");
    g_ptr_array_add (report->info, conf_line ("TlsCertificate", abs_crt));
    g_ptr_array_add (report->info, conf_line ("TlsPrivateKey", abs_key));
    g_ptr_array_add (report->info, conf_line ("TlsCaCertificate", abs_ca));
  }
  return TRUE;
}

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

  writes_init (&writes);
  if (!latch_cert_check_name (name, error))
    return FALSE;
  if (!ensure_dir (opts->out_dir, 0755, error)
      || !check_writable (key_path, opts->force, error)
      || !check_writable (csr_path, opts->force, error))
    return FALSE;

  x509_key = generate_key (&opts->key, error);
  if (x509_key == NULL)
    return FALSE;
  key = signing_key (x509_key, error);
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
    ret = gnutls_x509_crq_privkey_sign (crq, key, sign_digest (key), 0);
  if (ret >= 0)
    ret = gnutls_x509_crq_export2 (crq, GNUTLS_X509_FMT_PEM, &csr_pem);
  if (ret < 0)
    return gnutls_error (error, ret, "make the certificate request");
  if (!export_key (x509_key, &key_pem, error))
    return FALSE;

  if (!writes_add (&writes, key_path, (const char *)key_pem.data, key_pem.size, 0600,
                   opts->force, error)
      || !writes_add (&writes, csr_path, (const char *)csr_pem.data, csr_pem.size, 0644,
                      opts->force, error)
      || !writes_commit (&writes, error))
    return FALSE;
  {
    g_autofree char *abs_key = g_canonicalize_filename (key_path, NULL);
    g_autofree char *abs_csr = g_canonicalize_filename (csr_path, NULL);
    g_autofree char *qkey = qpath (abs_key);
    g_autofree char *qcsr = qpath (abs_csr);

    report_info (report, "wrote %s (the private key: it stays on this node)", qkey);
    report_info (report, "wrote %s (the request for machine ID %s)", qcsr, opts->id);
    report_info (report, "next: have the CA sign %s ('latch-cert sign --ca DIR --csr %s "
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
  g_autofree char *q = qpath (path);
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
  g_autofree char *q = qpath (opts->csr);
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

  writes_init (&writes);
  if (!latch_cert_read_file (opts->csr, "CSR", &data, &len, NULL, error))
    return FALSE;
  d.data = (unsigned char *)data;
  d.size = (unsigned int)len;
  ret = gnutls_x509_crq_init (&crq);
  if (ret < 0)
    return gnutls_error (error, ret, "read CSR %s", q);
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

    if (!check_node_key (pub, what, error))
      return FALSE;
  }
  if (gnutls_x509_crq_get_basic_constraints (crq, &critical, &is_ca, NULL) > 0)
    report_warning (report, "CSR %s asks for a CA certificate: issued as a node certificate "
                    "(CA:FALSE) all the same", q);

  if (!load_ca (opts->ca_dir, TRUE, report, &ca, error)
      || !check_writable (opts->out, opts->force, error))
    return FALSE;
  crt = issue_node (&ca, pub, id, opts->days, now, error);
  if (crt == NULL || !export_crt (crt, &crt_pem, error))
    return FALSE;
  if (!writes_add (&writes, opts->out, (const char *)crt_pem.data, crt_pem.size, 0644,
                   opts->force, error)
      || !writes_commit (&writes, error))
    return FALSE;

  warn_about_issued (crt, &ca, opts->out, now, report);
  {
    g_autofree char *abs = g_canonicalize_filename (opts->out, NULL);
    g_autofree char *qout = qpath (abs);
    g_autofree char *serial = crt_serial_hex (crt);
    g_autofree char *until = latch_x509_format_time (
        gnutls_x509_crt_get_expiration_time (crt));

    report_info (report, "wrote %s: certificate for machine ID %s, serial %s, valid until "
                 "%s", qout, id, serial != NULL ? serial : "?", until);
    report_info (report, "send it back with %s/%s (the CA certificate)", ca.dir, CA_PEM);
  }
  return TRUE;
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
  g_autofree char *q = qpath (cert);
  g_autofree char *qdir = qpath (ca_dir);
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

  writes_init (&writes);
  if (!check_ca_dir (ca_dir, error))
    return FALSE;
  lock = lock_dir (ca_dir, error);
  if (lock < 0 || !load_ca (ca_dir, FALSE, report, &ca, error))
    return FALSE;
  if (!latch_cert_read_file (cert, "certificate", &data, &len, NULL, error))
    return FALSE;
  crt = import_crt (data, len, "certificate", cert, error);
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
  serial = crt_serial_hex (crt);
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

      report_info (report, "%s (CN %s, serial %s) was already revoked on %s: nothing to "
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
      if (!writes_add (&writes, index_path, text->str, text->len, 0644, TRUE, error))
        return FALSE;
      report_info (report, "revoked %s (CN %s, serial %s)", q, qcn, serial);
    }
  if (!read_crl_number (ca_dir, &last, error)
      || !stage_crl (&ca, entries, last, crl_days, now, &writes, &number, &next, error)
      || !writes_commit (&writes, error))
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

  writes_init (&writes);
  if (!check_ca_dir (ca_dir, error))
    return FALSE;
  lock = lock_dir (ca_dir, error);
  if (lock < 0 || !load_ca (ca_dir, FALSE, report, &ca, error)
      || !read_index (ca_dir, &index_text, &entries, error)
      || !read_crl_number (ca_dir, &last, error)
      || !stage_crl (&ca, entries, last, crl_days, time (NULL), &writes, &number, &next,
                     error)
      || !writes_commit (&writes, error))
    return FALSE;
  report_crl (report, &ca, entries, number, next);
  return TRUE;
}

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
  report_info (c->report, "ok: %s", text);
}

static void
check_fail (Checks *c, const char *format, ...)
{
  va_list ap;
  g_autofree char *text = NULL;

  va_start (ap, format);
  text = g_strdup_vprintf (format, ap);
  va_end (ap);
  report_info (c->report, "FAIL: %s", text);
  c->ok = FALSE;
}

/* GnuTLS's verification status, in words with a fix. */
static char *
chain_status_text (unsigned int status, const char *ca_path)
{
  g_autofree char *qca = qpath (ca_path);

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
  g_autofree char *qcert = qpath (o->cert);
  g_autofree char *qca = qpath (o->ca);
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
  g_autofree char *qcert = qpath (o->cert);
  g_autofree char *qca = qpath (o->ca);
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
  g_autofree char *qcrl = qpath (o->crl);
  g_autofree char *qca = qpath (o->ca);
  g_autofree char *qcert = qpath (o->cert);
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
        g_autofree char *serial = crt_serial_hex (chain->items[i]);
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
  g_autofree char *qcert = qpath (o->cert);
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
  g_autofree char *qcert = qpath (o->cert);
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
  g_autofree char *qcert = qpath (o->cert);
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
  g_autofree char *qcert = qpath (o->cert);
  g_autofree char *qkey = qpath (o->key);
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
        && import_crt_list (cert_data, cert_len, "certificate", o->cert, &chain, &local))
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
        && import_crt_list (ca_data, ca_len, "CA certificate", o->ca, &cas, &local))
      have_ca = TRUE;
    else
      check_fail (&c, "%s", local->message);
  }

  if (have_cert && have_key)
    {
      if (key_matches_crt (key, chain.items[0]))
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
