/* tls-private.h: what the files of the TLS module share: the objects
 * behind LatchTlsCreds and LatchTlsSession, and the functions one file
 * calls in another.  Nothing here is exported: latch-tls.so exports
 * latch_tls_module () only. */
#ifndef LATCH_TLS_TLS_PRIVATE_H
#define LATCH_TLS_TLS_PRIVATE_H

#include "tls/tls.h"

#include "x509/x509-util.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <time.h>

G_BEGIN_DECLS

/* Longest text quoted from a file or a peer in a message. */
#define MAX_QUOTE 80
/* Callers add the quotes; escapes are spelt as C does (a newline as \n). */
#define QUOTE_FLAGS (LATCH_QUOTE_BARE | LATCH_QUOTE_C_ESCAPES)

/* ---- the objects ------------------------------------------------------ */

struct _LatchTlsCreds
{
  gatomicrefcount ref; /* the owner's, plus one per session */
  LatchTlsRole role;
  LatchSecurityLevel level;
  gnutls_certificate_credentials_t cred;
  gnutls_priority_t priority;
  gnutls_certificate_request_t request; /* server only */
  gboolean has_own_cert;
  char *ca_file;
  char *crl_file;         /* NULL: no CRL */
  time_t crl_next_update; /* earliest next update of the CRLs; -1: none */
  char *allowed_file;     /* NULL: no allow-list */
  GHashTable *allowed;    /* machine IDs (server, mutual) */
};

/* Bytes read ahead at most (a message and its TLS overhead several times
 * over; a bigger record, in the handshake, takes a few reads). */
#define LATCH_TLS_READ_AHEAD 8192

struct _LatchTlsSession
{
  LatchTlsCreds *creds; /* a reference */
  gnutls_session_t session;
  int fd;
  char *peer_label;

  /* Read-ahead: GnuTLS asks for a record's 5-byte header, then its
   * body; one recv() of up to this much serves both, and usually the
   * next record too (a lock answer and a grant arrive together), which
   * halves the system calls per message.  Only the raw bytes: GnuTLS
   * decrypts them when it asks.  Empty whenever GnuTLS reported
   * EAGAIN (it drains this first).  Allocated while it holds bytes
   * only, so that an idle session costs nothing more. */
  char *rbuf;             /* LATCH_TLS_READ_AHEAD bytes, or NULL */
  gsize rbuf_off, rbuf_len;
  gboolean short_read;    /* the last recv() took less than it asked for */

  int saved_errno;    /* of the last failed send() or recv() */
  gboolean got_data;  /* the peer sent at least one byte */
  gboolean got_eof;   /* recv() returned 0 */
  gboolean clear_peer;/* its first byte was '<': latch/FLoM XML */

  gboolean handshake_done;
  gboolean failed;      /* the handshake failed: nothing more to do */
  gboolean alert_sent;
  gboolean bye_sent;

  /* Set by verify_cb(). */
  gboolean peer_verified;   /* its certificate passed every check */
  gboolean has_peer_cert;
  char *peer_cn;            /* last CN of the peer's certificate, or NULL */
  GPtrArray *peer_dns;      /* its DNS SANs (char *) */
  char *refusal;            /* why verify_cb() refused the peer, or NULL */
  gnutls_alert_description_t refusal_alert;
};

/* ---- shared between the files --------------------------------------- */

/* The module table's check_peer_id and reverify (tls-verify.c). */
gboolean tls_check_peer_id (LatchTlsSession *s, const char *announced, GError **error);
gboolean tls_reverify (LatchTlsSession *s, LatchTlsCreds *creds, GError **error);

void tls_creds_free (LatchTlsCreds *creds);

LatchSecurityLevel tls_creds_get_level (const LatchTlsCreds *creds);

/* The module table's creds_new, creds_free and creds_get_level
 * (tls-creds.c); a session holds a reference. */
LatchTlsCreds *tls_creds_new (const LatchTlsSettings *settings, LatchTlsRole role,
                              LatchSecurityLevel level, const char *own_id, GPtrArray *warnings,
                              GError **error);

LatchTlsCreds *tls_creds_ref (LatchTlsCreds *creds);

void tls_creds_unref (LatchTlsCreds *creds);

/* The peer's fatal alert, in words.  in_handshake: received before our
 * handshake completed. */
void tls_explain_alert (LatchTlsSession *s, gboolean in_handshake, GError **error);

/* After a write failed because the peer closed: is its alert (TLS 1.3:
 * it refused our certificate after our handshake completed) waiting? */
gboolean tls_find_peer_alert (LatchTlsSession *s, GError **error);

/* A failed gnutls_handshake () (ret) in words, and the status for it
 * (tls-explain.c). */
LatchTlsStatus tls_handshake_failed (LatchTlsSession *s, int ret, GError **error);

/* Is id the certificate's last CN or one of its DNS names? */
gboolean tls_identity_matches (const char *cn, GPtrArray *dns, const char *id);

/* Did send () or recv () fail because the peer closed or reset? */
gboolean tls_is_closed_errno (int e);

/* Records why we refuse the peer: the handshake fails with this message
 * and alert (tls-verify.c). */
int tls_refuse_peer (LatchTlsSession *s, gnutls_alert_description_t alert, const char *format, ...)
    G_GNUC_PRINTF (3, 4);

/* FALSE, with an error, until the handshake has completed (tls.c). */
gboolean tls_require_handshake (LatchTlsSession *s, GError **error);

/* Best effort, once: the socket is non-blocking and the session over. */
void tls_send_alert (LatchTlsSession *s, gnutls_alert_description_t alert);

/* GnuTLS's verify function for every session (tls-verify.c). */
int tls_verify_cb (gnutls_session_t session);

/* WANT_READ or WANT_WRITE: which way GnuTLS waits (tls.c). */
LatchTlsStatus tls_want (LatchTlsSession *s);

G_END_DECLS

#endif
