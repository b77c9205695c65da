/* cert-private.h: what the files of latch-cert's operations share (see
 * cert.c): file names in a CA directory, files written all or nothing,
 * the CA loaded, and the helpers one file calls in another. */
#ifndef LATCH_CERT_CERT_PRIVATE_H
#define LATCH_CERT_CERT_PRIVATE_H

#include "cert/cert.h"

#include "x509/x509-describe.h"

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <sys/types.h>

G_BEGIN_DECLS

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

/* A datum from GnuTLS, freed with gnutls_free. */
typedef gnutls_datum_t GnutlsData;

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

/* One line of the revocation index (cert-crl.c). */
typedef struct
{
  char *hex;    /* the serial, lowercase hex */
  gint64 when;  /* revocation time, Unix seconds */
} Revocation;

/* ---- shared between the files --------------------------------------- */

/* Frees what ca holds (the g_auto cleanup of Ca). */
void cert_ca_clear (Ca *ca);

/* The key ID a certificate signed by ca names as its authority. */
gboolean cert_ca_key_id (gnutls_x509_crt_t ca, unsigned char *buf, size_t *size);

/* dir exists and is a directory (for a message better than lock_dir's). */
gboolean cert_check_ca_dir (const char *dir, GError **error);

/* pub may be used for a node: a type and size latch accepts. */
gboolean cert_check_node_key (gnutls_pubkey_t pub, const char *what, GError **error);

/* path may be written: absent, or force and not a directory. */
gboolean cert_check_writable (const char *path, gboolean force, GError **error);

/* crt's serial in lowercase hex (transfer full). */
char *cert_crt_serial_hex (gnutls_x509_crt_t crt);

/* Makes dir (and its parents) with mode if it is missing. */
gboolean cert_ensure_dir (const char *dir, int mode, GError **error);

/* crt as PEM in out (free with gnutls_free ()). */
gboolean cert_export_crt (gnutls_x509_crt_t crt, gnutls_datum_t *out, GError **error);

/* Unencrypted PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"). */
gboolean cert_export_key (gnutls_x509_privkey_t key, gnutls_datum_t *out, GError **error);

/* A new private key of the type and size spec says. */
gnutls_x509_privkey_t cert_generate_key (const LatchCertKeySpec *spec, GError **error);

/* The g_auto cleanup of GnutlsData. */
void cert_gnutls_data_clear (GnutlsData *d);

/* "cannot WHAT: GnuTLS's reason: what to do" for failures of GnuTLS
 * itself (out of memory, an algorithm disabled by the system policy). */
gboolean cert_gnutls_error (GError **error, int ret, const char *format, ...)
    G_GNUC_PRINTF (3, 4);

/* The first certificate of a PEM file, or a DER certificate. */
gnutls_x509_crt_t cert_import_crt (const char *data, gsize len, const char *what, const char *path,
                                   GError **error);

/* Every certificate of a PEM file (or one DER certificate). */
gboolean cert_import_crt_list (const char *data, gsize len, const char *what, const char *path,
                               LatchX509CrtList *out, GError **error);

/* A node certificate for id and pub, signed by ca. */
gnutls_x509_crt_t cert_issue_node (const Ca *ca, gnutls_pubkey_t pub, const char *id, int days,
                                   time_t now, GError **error);

/* Do the SHA-256 key IDs of key and crt agree? */
gboolean cert_key_matches_crt (gnutls_x509_privkey_t key, gnutls_x509_crt_t crt);

/* Loads the CA of dir: ca.pem, ca.key, and checks they belong together
 * and make a CA.  An expired CA is an error when it is to sign
 * certificates (for_issuing), else a warning. */
gboolean cert_load_ca (const char *dir, gboolean for_issuing, LatchCertReport *report, Ca *ca,
                       GError **error);

/* An exclusive flock(2) on dir, held while the descriptor is open. */
int cert_lock_dir (const char *dir, GError **error);

/* Path text for messages: escaped (a file name may hold anything). */
char *cert_qpath (const char *path);

/* A random positive serial number (SERIAL_LEN bytes). */
gboolean cert_random_serial (unsigned char serial[SERIAL_LEN], GError **error);

/* A certificate made in memory, exported and parsed again: GnuTLS caches
 * some fields (DNs, alternative names) when it parses, and a certificate
 * it did not parse reads back stale values. */
gnutls_x509_crt_t cert_reparse_crt (gnutls_x509_crt_t made, GError **error);

/* A line for stdout, a warning for stderr (see LatchCertReport). */
void cert_report_info (LatchCertReport *report, const char *format, ...)
    G_GNUC_PRINTF (2, 3);

void cert_report_warning (LatchCertReport *report, const char *format, ...)
    G_GNUC_PRINTF (2, 3);

/* The digest GnuTLS prefers for signing with key: SHA-256 for P-256 and
 * RSA, SHA-384 for P-384, SHA-512 for P-521 and Ed25519. */
gnutls_digest_algorithm_t cert_sign_digest (gnutls_privkey_t key);

/* An abstract key for signing, sharing x509 (not owned). */
gnutls_privkey_t cert_signing_key (gnutls_x509_privkey_t x509, GError **error);

/* Stages crl.pem, made from entries and signed by ca, with CRL number
 * last + 1, and crlnumber. */
gboolean cert_stage_crl (const Ca *ca, GArray *entries, guint64 last, int crl_days, time_t now,
                         Writes *writes, guint64 *number_out, time_t *next_out, GError **error);

/* Warnings about a certificate just issued: not valid now, or valid
 * longer than the CA. */
void cert_warn_about_issued (gnutls_x509_crt_t crt, const Ca *ca, const char *path, time_t now,
                             LatchCertReport *report);

/* Writes data to a temporary file beside path, to become path at the
 * commit.  Without replace, path must not exist. */
gboolean cert_writes_add (Writes *writes, const char *path, const char *data, gsize len, mode_t mode,
                          gboolean replace, GError **error);

/* Start and end of a Writes: anything left uncommitted is removed. */
void cert_writes_clear (Writes *writes);

/* Moves every staged file into place.  If one cannot be, the files this
 * commit created are removed again (files it replaced stay replaced). */
gboolean cert_writes_commit (Writes *writes, GError **error);

void cert_writes_init (Writes *writes);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Writes, cert_writes_clear)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (GnutlsData, cert_gnutls_data_clear)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Ca, cert_ca_clear)

G_END_DECLS

#endif
