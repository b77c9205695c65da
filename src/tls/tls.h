/* tls.h: TLS credentials, sessions, verification and peer identity.
 *
 * The code that runs TLS sessions.  It is built as the module latch-tls.so
 * (and into libtls for latch-debug and the tests), which liblatch and latchd
 * load with dlopen() only when a TLS level is configured, so that the
 * clear-text `latch` command and a clear daemon never load
 * GnuTLS (1 ms at every start, doc/ARCHITECTURE.md).  Both the daemon and
 * the clients reach it through the table LatchTlsModule, from
 * latch_tls_module_load() (tls/tls-loader.c), only at a TLS level.
 *
 * What is enforced, whatever the priority string says:
 *   - TLS 1.2 or later; no 3DES, RC4 or export ciphers; RSA keys of 2048
 *     bits or more (own and peer certificates);
 *   - the peer's chain is verified *inside* the handshake (the handshake
 *     fails, with an alert the peer can explain): chain to the CA file,
 *     validity dates, key purpose (TLS server / TLS client), CRL;
 *   - the server requires a client certificate unless the settings say
 *     otherwise (channel level only); a client always requires the
 *     server's.
 * Default priority (LATCH_TLS_DEFAULT_PRIORITY): TLS 1.3 preferred, 1.2
 * allowed, AEAD ciphers only with AES-256-GCM first, ECDHE key exchange.
 *
 * Sessions run on non-blocking sockets: every I/O call returns a status,
 * WANT_READ / WANT_WRITE meaning "call again with the same arguments once
 * the socket is ready that way".  Session tickets are off: a connection is
 * a full handshake, verified each time.  Credentials hold the CRL as it
 * was when they were loaded: the daemon loads them again when the CRL file
 * changes (daemon-listen.c), so a revocation takes effect at the next
 * connection, and re-verifies its established sessions (reverify), so it
 * also ends those of a revoked peer.  Each warnings entry is allocated (free with g_free);
 * credentials may be freed while sessions still use them. */
#ifndef LATCH_TLS_TLS_H
#define LATCH_TLS_TLS_H

#include <glib.h>

#include "latch.h"

G_BEGIN_DECLS

#define LATCH_TLS_DEFAULT_PRIORITY                                              \
  "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:"        \
  "+CHACHA20-POLY1305:+AES-128-GCM:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:"        \
  "+ECDHE-RSA"

/* How long a handshake may take, either side. */
#define LATCH_TLS_HANDSHAKE_MS 5000

typedef enum
{
  LATCH_TLS_CLIENT,
  LATCH_TLS_SERVER,
} LatchTlsRole;

/* What the user configured (paths absolute; NULL: not set).  Which level
 * these settings mean is decided by latch_tls_settings_resolve(). */
typedef struct
{
  LatchSecurityLevel level;    /* SecurityLevel; LATCH_SECURITY_DEFAULT: from the files */
  const char *certificate;     /* TlsCertificate: PEM, own certificate first, then its chain */
  const char *private_key;     /* TlsPrivateKey: PEM, unencrypted */
  const char *ca_certificate;  /* TlsCaCertificate: PEM, one or more trust anchors */
  const char *crl;             /* TlsCrl: PEM CRL(s) issued by the CA */
  const char *priority;        /* TlsPriority: GnuTLS priority string; NULL: the default */
  gboolean check_peer_id;      /* TlsCheckPeerId */
  const char *allowed_peers;   /* TlsAllowedPeers: file of machine IDs (server) */
  gboolean require_client_cert;/* TlsRequireClientCertificate (server); default TRUE */
} LatchTlsSettings;

/* ---- without GnuTLS (tls-settings.c, linked by every program) ------- */

/* The effective level, from the settings alone (no file is opened):
 *   DEFAULT: no file set -> CLEAR; certificate, key and CA -> CHANNEL, or
 *            MUTUAL with check_peer_id; any other combination is an error
 *            naming the missing settings;
 *   CLEAR:   no TLS setting may be given;
 *   CHANNEL: the CA is required; the server needs certificate and key, a
 *            client may have both or neither (a daemon that does not
 *            require client certificates); check_peer_id is refused;
 *   MUTUAL:  all three files on both sides.
 * Also refused: TlsCrl, TlsPriority or TlsAllowedPeers at the clear
 * level; TlsAllowedPeers below MUTUAL; require_client_cert FALSE at
 * MUTUAL.  The error names the settings by key and option. */
gboolean latch_tls_settings_resolve (const LatchTlsSettings *settings,
                                     LatchTlsRole role,
                                     LatchSecurityLevel *level,
                                     GError **error);

const char *latch_security_level_name (LatchSecurityLevel level); /* "clear" ... */

/* ---- the GnuTLS part (tls.c) ---------------------------------------- */

typedef struct _LatchTlsCreds LatchTlsCreds;
typedef struct _LatchTlsSession LatchTlsSession;

typedef enum
{
  LATCH_TLS_OK,
  LATCH_TLS_WANT_READ,
  LATCH_TLS_WANT_WRITE,
  LATCH_TLS_FAILED, /* the GError says what and what to do */
} LatchTlsStatus;

typedef struct
{
  /* Bump when the table changes: the module and its loader must agree. */
  int abi;

  /* Loads and checks everything once (level as resolved, not DEFAULT or
   * CLEAR).  Checks: each file readable and parseable; the key matches
   * the certificate; RSA >= 2048 bits; own certificate within its
   * validity dates; the CA file holds at least one certificate; the CRL
   * is signed by the CA; the priority string (an error names the token
   * GnuTLS refused) and its floor (TLS >= 1.2, no 3DES/RC4); at MUTUAL,
   * own_id (the machine ID) equals the certificate's identity (CN or a
   * DNS SAN); the allow-list file (one 32-hex-digit ID per line, '#'
   * comments).  A private key readable by group or others is an error
   * when settings->level was given explicitly, else a warning appended
   * to warnings (may be NULL: then not reported). */
  LatchTlsCreds *(*creds_new) (const LatchTlsSettings *settings,
                               LatchTlsRole role, LatchSecurityLevel level,
                               const char *own_id, GPtrArray *warnings,
                               GError **error);
  void (*creds_free) (LatchTlsCreds *creds);
  LatchSecurityLevel (*creds_get_level) (const LatchTlsCreds *creds);

  /* A session over fd (not owned, non-blocking).  peer_label names the
   * other side in messages ("the daemon at HOST port N", "conn 7
   * (1.2.3.4:5)"). */
  LatchTlsSession *(*session_new) (LatchTlsCreds *creds, int fd,
                                   const char *peer_label, GError **error);
  void (*session_free) (LatchTlsSession *session);

  /* Advances the handshake.  FAILED errors (LATCH_ERROR domain):
   *   LATCH_ERROR_TLS_CLEAR_PEER: the peer answered in clear text (a
   *     client talking to a daemon without TLS);
   *   LATCH_ERROR_TLS_VERIFY: we refused the peer's certificate; the
   *     message says why (not signed by our CA, expired on DATE, not
   *     valid before DATE, revoked, wrong key purpose, weak key...);
   *   LATCH_ERROR_TLS_REFUSED: the peer refused us (its alert, in words,
   *     e.g. our certificate is expired / not trusted / missing);
   *   LATCH_ERROR_TLS: anything else (no common cipher or version...).
   * On failure an alert is sent to the peer when one applies. */
  LatchTlsStatus (*handshake) (LatchTlsSession *session, GError **error);

  /* Reads up to len bytes: OK with *got > 0, or OK with *got == 0 at the
   * end of the stream (close_notify or EOF).  An alert from the peer
   * after the handshake (TLS 1.3: the server refusing our certificate)
   * is LATCH_ERROR_TLS_REFUSED, explained as in handshake. */
  LatchTlsStatus (*recv) (LatchTlsSession *session, char *buf, gsize len,
                          gsize *got, GError **error);
  /* Sends up to len bytes: OK with *sent > 0.  After WANT_*, call again
   * with the same data and len. */
  LatchTlsStatus (*send) (LatchTlsSession *session, const char *data,
                          gsize len, gsize *sent, GError **error);
  /* Bytes already decrypted and waiting: read them before polling. */
  gsize (*pending) (LatchTlsSession *session);
  /* Nothing is pending and the last read from the socket took less than
   * it could: the socket had nothing more then.  A reader driven by
   * level-triggered readiness may stop there instead of reading once
   * more only to be told EAGAIN (as it does for a clear socket). */
  gboolean (*drained) (LatchTlsSession *session);
  /* Sends close_notify if the socket takes it now; never blocks. */
  void (*bye) (LatchTlsSession *session);

  /* After the handshake, at MUTUAL: does announced equal the identity of
   * the peer's verified certificate (its last CN, or a DNS SAN)?  The
   * error says both.  At the server, with an allow-list: is the identity
   * in it?  (LATCH_ERROR_TLS_PEER_ID / LATCH_ERROR_TLS_NOT_ALLOWED) */
  gboolean (*check_peer_id) (LatchTlsSession *session, const char *announced,
                             GError **error);
  /* After the handshake: would the peer's certificate chain still pass
   * verification against creds (e.g. the same files loaded again after
   * the CRL file changed)?  Chain to creds' CA, CRLs, key purpose; not
   * the certificates' own dates.  A peer that sent no certificate passes.
   * FALSE: LATCH_ERROR_TLS_VERIFY, explained as the handshake would
   * ("the certificate of PEER (CN x) was revoked (CRL FILE)"), and the
   * alert that names it is sent to the peer (best effort); the caller
   * then ends the session. */
  gboolean (*reverify) (LatchTlsSession *session, LatchTlsCreds *creds, GError **error);
  /* "TLS1.3 AES-256-GCM, peer CN 0123..." for logs (transfer full). */
  char *(*describe) (LatchTlsSession *session);
} LatchTlsModule;

#define LATCH_TLS_MODULE_ABI 2 /* 2: reverify, drained */

/* In tls.c: the table (latchd, tests, and the module's entry point). */
const LatchTlsModule *latch_tls_module (void);

/* For the debug tools (debug-tools/), which link this code directly; not
 * in the table, not exported by latch-tls.so.
 * The session's gnutls_session_t, to list the peer's certificates and the
 * negotiated parameters (transfer none; valid until session_free). */
void *latch_tls_session_get_gnutls (LatchTlsSession *session);
/* Why verify_cb() refused the peer's certificate, or NULL (transfer
 * none). */
const char *latch_tls_session_get_refusal (LatchTlsSession *session);

G_END_DECLS

#endif
