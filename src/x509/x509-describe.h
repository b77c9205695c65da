/* x509-describe.h: certificates, requests, CRLs and keys described in words,
 * and the few X.509 facts latch cares about.
 *
 * Used by latch-cert (show, check), the TLS debug tools and the tests: any
 * tool that prints a local or a peer certificate.  Only GLib and GnuTLS's
 * x509 API: no latch state, no I/O except what the caller hands over.
 *
 * Every describe function returns lines, each starting with indent and
 * ending with '\n' (transfer full).  Text taken from a certificate (names,
 * SANs) is escaped: control characters and invalid UTF-8 never reach the
 * terminal.  Dates are compared with the local clock, once per call.
 *
 * The g_auto cleanups for GnuTLS's x509 types, the certificate and CRL
 * lists, latch_x509_format_time () and latch_x509_is_machine_id () come
 * from x509/x509-util.h, which this header includes. */
#ifndef LATCH_X509_DESCRIBE_H
#define LATCH_X509_DESCRIBE_H

#include "x509/x509-util.h"

#include <glib.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <time.h>

G_BEGIN_DECLS

/* ---- describing ------------------------------------------------------- */

/* subject, common name, alternative names, machine ID (when the CN or a
 * DNS name is one), issuer (or "self-signed"), serial, not before / not
 * after, validity ("valid for N more days", "expired N days ago", "not
 * yet valid"), key type and size, signature algorithm, SHA-256
 * fingerprint, key ID, key usage, key purposes, CA flag. */
char *latch_x509_describe_crt (gnutls_x509_crt_t crt, const char *indent);

/* A certificate request: subject, names, key, the extensions it asks
 * for, and whether its self-signature verifies. */
char *latch_x509_describe_crq (gnutls_x509_crq_t crq, const char *indent);

/* A CRL: issuer, CRL number, this / next update (with "out of date"),
 * signature algorithm, and every revoked serial with its date. */
char *latch_x509_describe_crl (gnutls_x509_crl_t crl, const char *indent);

/* A private key: its type and size and its key ID (SHA-256), which
 * latch_x509_describe_crt () prints too, so that a key can be matched
 * with its certificate.  Nothing secret is printed. */
char *latch_x509_describe_privkey (gnutls_x509_privkey_t key, const char *indent);

/* Everything in data (a file's contents): each PEM block, or one DER
 * certificate, CRL, request or private key.  Each item starts with a
 * heading line at indent ("certificate 1 of 2:", "CRL:") and its lines
 * are indented two more spaces.  An item GnuTLS cannot parse gets an
 * "unreadable: WHY" line and is counted in *n_unreadable (may be NULL).
 * NULL (with an error) when data holds no such item at all. */
char *latch_x509_describe_data (const char *data, gsize len, const char *indent,
                                unsigned int *n_unreadable, GError **error);

/* ---- facts ------------------------------------------------------------ */

/* latch_x509_is_machine_id () and LATCH_X509_MACHINE_ID_LEN: see
 * x509/x509-util.h. */

/* latch_x509_crt_last_cn (), latch_x509_crq_last_cn (): see
 * x509/x509-util.h. */

/* latch_x509_crt_dns_names (), latch_x509_crq_dns_names (): see
 * x509/x509-util.h. */

/* "ECDSA P-256", "RSA 3072 bits", "Ed25519" (transfer full).  *bits, if
 * not NULL, receives the size GnuTLS reports. */
char *latch_x509_pubkey_name (gnutls_pubkey_t key, gnutls_pk_algorithm_t *alg,
                              unsigned int *bits);

/* The serial in lowercase hex, no separators (transfer full). */
char *latch_x509_serial_hex (const unsigned char *serial, gsize size);

/* latch_x509_format_time (): see x509/x509-util.h. */

/* "valid for 364 more days", "expired 3 days ago", "not yet valid (from
 * DATE)" for a certificate, at now (transfer full).  *is_valid, if not
 * NULL, says whether now is within the dates. */
char *latch_x509_describe_validity (time_t not_before, time_t not_after, time_t now,
                                    gboolean *is_valid);

/* latch_x509_escape (): see x509/x509-util.h. */

/* The subject DN as RFC 4514 text, escaped (transfer full). */
char *latch_x509_crt_subject (gnutls_x509_crt_t crt);
char *latch_x509_crt_issuer (gnutls_x509_crt_t crt);

G_END_DECLS

#endif
