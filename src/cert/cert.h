/* cert.h: latch-cert's operations: a CA, node certificates, requests,
 * signing, revocation and CRLs, and checking a node's three TLS files.
 *
 * Everything is done with GnuTLS's x509 API, never by running certtool or
 * openssl.  What is issued is what latch's TLS layer (tls/tls.h) accepts
 * at every level:
 *   - the CA: self-signed, basicConstraints CA:TRUE (critical), key usage
 *     keyCertSign + cRLSign, a subject key ID;
 *   - a node: CN = its machine ID and a dNSName SAN with the same ID, key
 *     usage digitalSignature (+ keyEncipherment for RSA), extended key
 *     usage tls_www_server + tls_www_client, basicConstraints CA:FALSE,
 *     subject and authority key IDs, a random positive 20-byte serial;
 *   - CRLs: version 2, signed by the CA, with a CRL number and the CA's
 *     key ID.
 * Keys: ECDSA P-256 (default), P-384 or P-521 with bits, Ed25519, or RSA
 * of 2048 bits or more (default 3072); written as unencrypted PKCS#8 PEM.
 *
 * The CA directory:
 *   ca.key      the CA's private key (0600)
 *   ca.pem      the CA certificate (0644)
 *   index       revocations: "SERIALHEX UNIXTIME" per line, '#' comments
 *   crlnumber   the number of the last CRL issued (decimal)
 *   crl.pem     the current CRL (0644)
 * Commands that change the directory (ca init, revoke, crl) hold an
 * flock(2) on it, so that two of them cannot interleave.
 *
 * Files are written atomically: a temporary file in the same directory
 * (created O_EXCL with its final mode), fsync, then rename(2), or link(2)
 * when an existing file must not be replaced.  A private key is never
 * readable by anyone else at any moment.
 *
 * Errors are in LATCH_ERROR; their messages read "what is wrong: what to
 * do".  LATCH_ERROR_INVALID_OPTION marks a bad command line (latch-cert
 * exits 2); everything else is an operational failure (exit 1). */
#ifndef LATCH_CERT_CERT_H
#define LATCH_CERT_CERT_H

#include <glib.h>

G_BEGIN_DECLS

#define LATCH_CERT_DEFAULT_CA_NAME "latch CA"
#define LATCH_CERT_DEFAULT_NODE_NAME "node"
#define LATCH_CERT_DEFAULT_CA_DAYS 3650
#define LATCH_CERT_DEFAULT_NODE_DAYS 365
#define LATCH_CERT_DEFAULT_CRL_DAYS 30
#define LATCH_CERT_DEFAULT_RSA_BITS 3072
#define LATCH_CERT_MAX_RSA_BITS 16384
/* The longest validity accepted, either way (about 100 years). */
#define LATCH_CERT_MAX_DAYS 36500

/* What the commands print: lines for stdout, and warnings for stderr
 * (without the "latch-cert: warning: " prefix). */
typedef struct
{
  GPtrArray *info;     /* char * */
  GPtrArray *warnings; /* char * */
} LatchCertReport;

LatchCertReport *latch_cert_report_new (void);
void latch_cert_report_free (LatchCertReport *report);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LatchCertReport, latch_cert_report_free)

typedef enum
{
  LATCH_CERT_KEY_ECDSA,
  LATCH_CERT_KEY_ED25519,
  LATCH_CERT_KEY_RSA,
} LatchCertKeyType;

typedef struct
{
  LatchCertKeyType type;
  unsigned int bits; /* RSA: modulus; ECDSA: 256, 384 or 521; Ed25519: 0 */
} LatchCertKeySpec;

/* --key-type and --bits (either may be NULL: the defaults). */
gboolean latch_cert_key_spec_parse (const char *type, const char *bits,
                                    LatchCertKeySpec *out, GError **error);

/* Is id a machine ID?  source names it in the message ("--id 'X'", "the
 * ID 'X' in FILE"); option, if not NULL, is the option that gave it (for
 * the fix); code is the error code to use (INVALID_OPTION for the command
 * line).  Upper-case hex is refused with the lowercase form as the fix. */
gboolean latch_cert_check_id (const char *id, const char *option, const char *source,
                              int code, GError **error);

/* The machine ID in a machine-id file: its first line, trimmed, checked
 * (transfer full). */
char *latch_cert_read_id_file (const char *path, GError **error);

/* Is name usable as a file name stem in OUTDIR ("node", "db1")? */
gboolean latch_cert_check_name (const char *name, GError **error);

/* Reads a whole regular file of at most 16 MiB (certificates, keys,
 * CSRs, CRLs) with latch_file_read ().  *mode, if not NULL, gets its
 * st_mode.  what names it in the error ("certificate", "CSR"); a missing
 * file gets "WHAT PATH does not exist: check the path". */
gboolean latch_cert_read_file (const char *path, const char *what, char **contents,
                               gsize *len, unsigned int *mode, GError **error);

typedef struct
{
  const char *dir;
  const char *name;     /* the CA's CN; NULL: LATCH_CERT_DEFAULT_CA_NAME */
  int days;             /* > 0 */
  int crl_days;         /* > 0: the first CRL's next update */
  LatchCertKeySpec key;
  gboolean force;       /* replace ca.key and ca.pem */
} LatchCertCaOptions;

/* ca init: creates dir (0700) if missing, then ca.key, ca.pem, an empty
 * index and crl.pem.  Refuses to replace ca.key or ca.pem without
 * force; with it, the index is emptied too (the old CA's revocations
 * mean nothing to the new one). */
gboolean latch_cert_ca_init (const LatchCertCaOptions *opts, LatchCertReport *report,
                             GError **error);

typedef struct
{
  const char *ca_dir;
  const char *id;       /* a checked machine ID */
  const char *out_dir;  /* created (0755) if missing */
  const char *name;     /* NULL: "node" */
  int days;             /* != 0; < 0: an already expired certificate (tests) */
  LatchCertKeySpec key;
  gboolean force;
} LatchCertNodeOptions;

/* node: OUT/NAME.key, OUT/NAME.pem and OUT/ca.pem (left alone when it
 * already holds this CA's certificate).  report->info gets the [TLS]
 * group of latch.conf naming the three files by absolute path. */
gboolean latch_cert_node (const LatchCertNodeOptions *opts, LatchCertReport *report,
                          GError **error);

typedef struct
{
  const char *id;
  const char *out_dir;
  const char *name;     /* NULL: "node" */
  LatchCertKeySpec key;
  gboolean force;
} LatchCertRequestOptions;

/* request: OUT/NAME.key and OUT/NAME.csr (PKCS#10, asking for what a
 * node certificate has). */
gboolean latch_cert_request (const LatchCertRequestOptions *opts, LatchCertReport *report,
                             GError **error);

typedef struct
{
  const char *ca_dir;
  const char *csr;
  const char *out;
  int days;             /* != 0 */
  gboolean force;
} LatchCertSignOptions;

/* sign: checks the CSR's signature, its key, and that it names exactly
 * one machine ID (CN or dNSName), then issues a node certificate for it
 * as node does: only the ID and the public key come from the CSR. */
gboolean latch_cert_sign (const LatchCertSignOptions *opts, LatchCertReport *report,
                          GError **error);

/* revoke: cert must have been issued by the CA in ca_dir; its serial goes
 * into the index (once: revoking again is reported, not an error), and
 * crl.pem is made again. */
gboolean latch_cert_revoke (const char *ca_dir, const char *cert, int crl_days,
                            LatchCertReport *report, GError **error);

/* crl: makes crl.pem again from the index, with the next CRL number. */
gboolean latch_cert_crl (const char *ca_dir, int crl_days, LatchCertReport *report,
                         GError **error);

typedef struct
{
  const char *cert;
  const char *key;
  const char *ca;
  const char *crl; /* may be NULL */
  const char *id;  /* a checked machine ID, or NULL: this host's */
} LatchCertCheckOptions;

/* check: one "ok: ..." or "FAIL: ...: FIX" line per check in
 * report->info.  TRUE when every check passed. */
gboolean latch_cert_check (const LatchCertCheckOptions *opts, LatchCertReport *report);

G_END_DECLS

#endif
