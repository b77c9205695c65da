/* x509-util.h: the x509 library's core, shared by the daemon's TLS code
 * (src/tls/), latch-cert (src/cert/), the debug tools and the tests:
 * g_auto cleanups for GnuTLS's x509 types, lists of certificates and
 * CRLs, the identity rule (last CN), subject alternative names, the
 * key-strength floor, dates in words, machine IDs, and the size limit of
 * the files they are read from.  Its describer is x509-describe.h.
 *
 * Only GLib and GnuTLS: this file is built into the standalone module
 * latch-tls.so too.  Messages stay with the callers: the import functions
 * hand back GnuTLS's result for them to put in words. */
#ifndef LATCH_X509_UTIL_H
#define LATCH_X509_UTIL_H

#include <glib.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <time.h>

G_BEGIN_DECLS

/* ---- g_auto cleanups for GnuTLS's pointer types ------------------------ */

G_DEFINE_AUTO_CLEANUP_FREE_FUNC (gnutls_x509_crt_t, gnutls_x509_crt_deinit, NULL)
G_DEFINE_AUTO_CLEANUP_FREE_FUNC (gnutls_x509_crq_t, gnutls_x509_crq_deinit, NULL)
G_DEFINE_AUTO_CLEANUP_FREE_FUNC (gnutls_x509_crl_t, gnutls_x509_crl_deinit, NULL)
G_DEFINE_AUTO_CLEANUP_FREE_FUNC (gnutls_x509_privkey_t, gnutls_x509_privkey_deinit, NULL)
G_DEFINE_AUTO_CLEANUP_FREE_FUNC (gnutls_privkey_t, gnutls_privkey_deinit, NULL)
G_DEFINE_AUTO_CLEANUP_FREE_FUNC (gnutls_pubkey_t, gnutls_pubkey_deinit, NULL)

/* ---- lists of certificates and CRLs ------------------------------------ */

/* A list as gnutls_x509_crt_list_import2() allocates it: the items and the
 * array are freed by latch_x509_crt_list_clear ().  Start it as
 * g_auto (LatchX509CrtList) list = { NULL, 0 }; */
typedef struct
{
  gnutls_x509_crt_t *items;
  unsigned int n;
} LatchX509CrtList;

/* The same for gnutls_x509_crl_list_import2(). */
typedef struct
{
  gnutls_x509_crl_t *items;
  unsigned int n;
} LatchX509CrlList;

/* Frees every item and the array, and leaves list empty. */
void latch_x509_crt_list_clear (LatchX509CrtList *list);
void latch_x509_crl_list_clear (LatchX509CrlList *list);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (LatchX509CrtList, latch_x509_crt_list_clear)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (LatchX509CrlList, latch_x509_crl_list_clear)

/* Imports every PEM certificate (CRL) of data into the empty list out;
 * with der_too, when that finds none, data as DER.  TRUE when out holds at
 * least one; otherwise out stays empty.  *result, if not NULL, receives
 * GnuTLS's result of the last attempt, on failure too (a negative GnuTLS
 * error, or >= 0 when the data parsed but held none). */
gboolean latch_x509_crt_list_import (const char *data, gsize len, gboolean der_too,
                                     LatchX509CrtList *out, int *result);
gboolean latch_x509_crl_list_import (const char *data, gsize len, gboolean der_too,
                                     LatchX509CrlList *out, int *result);

/* ---- facts and words --------------------------------------------------- */

/* The smallest RSA key latch accepts, anywhere: its own, a peer's, one
 * latch-cert makes or signs. */
#define LATCH_X509_MIN_RSA_BITS 2048

/* How latch judges a certificate's key, wherever it meets one: when it
 * loads its own, verifies a peer's, makes, signs or checks one. */
typedef enum
{
  LATCH_X509_KEY_OK = 0,
  /* RSA (or RSA-PSS) under LATCH_X509_MIN_RSA_BITS. */
  LATCH_X509_KEY_RSA_TOO_SMALL,
  /* DSA: TLS 1.3 cannot use it.  Callers refuse it for a leaf only (a CA
   * key never signs a handshake). */
  LATCH_X509_KEY_DSA,
} LatchX509KeyVerdict;

/* The verdict on a key of type alg and size bits. */
LatchX509KeyVerdict latch_x509_key_verdict (gnutls_pk_algorithm_t alg, unsigned int bits);

/* The same for crt's key; *bits, if not NULL, receives its size. */
LatchX509KeyVerdict latch_x509_crt_key_verdict (gnutls_x509_crt_t crt, unsigned int *bits);

/* The longest commonName read as an identity: a machine ID is 32 bytes.
 * Also the longest subject alternative name read. */
#define LATCH_X509_MAX_CN 4096

/* The last commonName of a certificate's (request's) subject: the identity
 * that FLoM's and latch's peer-ID check compares, and that latch-cert
 * shows and checks, all through this one function.  NULL when there is
 * none, or when the last one is unreadable, longer than
 * LATCH_X509_MAX_CN or holds a NUL (transfer full). */
char *latch_x509_crt_last_cn (gnutls_x509_crt_t crt);
char *latch_x509_crq_last_cn (gnutls_x509_crq_t crq);

/* Calls fn for each subject alternative name of crt (or, crt NULL, of
 * the request crq): its GnuTLS type (GNUTLS_SAN_*) and raw value, which
 * has a NUL after its size bytes.  Names longer than LATCH_X509_MAX_CN
 * and unreadable ones are skipped. */
typedef void (*LatchX509SanFunc) (int type, const unsigned char *value, size_t size,
                                  void *data);
void latch_x509_each_san (gnutls_x509_crt_t crt, gnutls_x509_crq_t crq, LatchX509SanFunc fn,
                          void *data);

/* The DNS names among the subject alternative names; one holding a NUL
 * is left out (transfer full, never NULL). */
GPtrArray *latch_x509_crt_dns_names (gnutls_x509_crt_t crt);
GPtrArray *latch_x509_crq_dns_names (gnutls_x509_crq_t crq);

/* Text from a certificate made safe to print: latch_text_quote () without
 * quotes or a length limit, escapes as \xNN (transfer full).  NULL reads
 * as "". */
char *latch_x509_escape (const char *text, gsize len);

/* The largest certificate, key, CRL, request or list file latch reads
 * (with latch_file_read ()): anything bigger is not one. */
#define LATCH_X509_MAX_FILE (4 * 1024 * 1024)

/* The length of a machine ID: 32 lowercase hex digits. */
#define LATCH_X509_MACHINE_ID_LEN 32

/* Is s exactly 32 lowercase hex digits?  FALSE for NULL. */
gboolean latch_x509_is_machine_id (const char *s);

/* "2030-01-01 12:00:00 UTC", or "an unknown date" for -1 or a date GLib
 * cannot represent (transfer full). */
char *latch_x509_format_time (time_t t);

/* The same without the seconds: "2030-01-01 12:00 UTC" (transfer full). */
char *latch_x509_format_time_minutes (time_t t);

G_END_DECLS

#endif
