/* tls-verify.c: the peer's certificate verified inside the handshake
 * (verify_cb ()), and the announced ID checked against its identity
 * (last CN or a DNS name) once the session runs.  A refusal is recorded
 * with the alert that names it, so that both sides can explain it. */

#include "config.h"

#include "tls/tls-private.h"

#include "common/autocleanup.h"
#include "common/error.h"
#include "common/file.h"
#include "common/text.h"
#include "x509/x509-util.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

gboolean
tls_identity_matches (const char *cn, GPtrArray *dns, const char *id)
{
  if (id == NULL)
    return FALSE;
  if (cn != NULL && strcmp (cn, id) == 0)
    return TRUE;
  for (guint i = 0; dns != NULL && i < dns->len; i++)
    if (strcmp (g_ptr_array_index (dns, i), id) == 0)
      return TRUE;
  return FALSE;
}

/* " and DNS names 'a', 'b'", or "" (transfer full). */
static char *
describe_dns (GPtrArray *dns)
{
  GString *out = g_string_new (NULL);

  for (guint i = 0; dns != NULL && i < dns->len; i++)
    {
      g_autofree char *q
          = latch_text_quote (g_ptr_array_index (dns, i), -1, MAX_QUOTE, QUOTE_FLAGS);

      g_string_append_printf (out, "%s'%s'", i == 0 ? " and DNS names " : ", ", q);
    }
  return g_string_free (out, FALSE);
}

int
tls_refuse_peer (LatchTlsSession *s, gnutls_alert_description_t alert, const char *format, ...)
{
  va_list ap;

  g_free (s->refusal);
  va_start (ap, format);
  s->refusal = g_strdup_vprintf (format, ap);
  va_end (ap);
  s->refusal_alert = alert;
  return -1;
}

/* "the certificate of the daemon at H port N (CN x)" (transfer full). */
static char *
peer_cert_name (LatchTlsSession *s)
{
  g_autofree char *q
      = latch_text_quote (s->peer_cn != NULL ? s->peer_cn : "none", -1, MAX_QUOTE, QUOTE_FLAGS);

  return g_strdup_printf ("the certificate of %s (CN %s)", s->peer_label, q);
}

/* The peer chain certificate whose dates are wrong, and which of them. */
static gboolean
find_bad_date (const LatchX509CrtList *chain, gboolean expired, time_t *when,
               unsigned int *which)
{
  time_t now = time (NULL);

  for (unsigned int i = 0; i < chain->n; i++)
    {
      time_t t = expired ? gnutls_x509_crt_get_expiration_time (chain->items[i])
                         : gnutls_x509_crt_get_activation_time (chain->items[i]);

      if (t != (time_t)-1 && (expired ? t < now : t > now))
        {
          *when = t;
          *which = i;
          return TRUE;
        }
    }
  return FALSE;
}

/* Turns GnuTLS's verification status into a refusal in words; c: the
 * credentials the chain was verified against (the session's own, or newer
 * ones for reverify). */
static int
refuse_status (LatchTlsSession *s, LatchTlsCreds *c, const LatchX509CrtList *chain,
               unsigned int status)
{
  g_autofree char *who = peer_cert_name (s);
  const char *purpose = c->role == LATCH_TLS_CLIENT ? "server" : "client";
  time_t when = -1;
  unsigned int which = 0;

  if (status & GNUTLS_CERT_SIGNER_NOT_FOUND)
    return tls_refuse_peer (s, GNUTLS_A_UNKNOWN_CA, "%s is not signed by a CA in %s", who,
                            c->ca_file);
  if (status & GNUTLS_CERT_REVOKED)
    return tls_refuse_peer (s, GNUTLS_A_CERTIFICATE_REVOKED, "%s was revoked (CRL %s)", who,
                            c->crl_file != NULL ? c->crl_file : "?");
  if (status & (GNUTLS_CERT_EXPIRED | GNUTLS_CERT_NOT_ACTIVATED))
    {
      gboolean expired = (status & GNUTLS_CERT_EXPIRED) != 0;
      g_autofree char *date = NULL;

      if (find_bad_date (chain, expired, &when, &which))
        {
          date = latch_x509_format_time_minutes (when);
          if (which == 0)
            return tls_refuse_peer (s, GNUTLS_A_CERTIFICATE_EXPIRED, "%s %s %s", who,
                                    expired ? "expired on" : "is not valid before", date);
          else
            {
              g_autofree char *cn = latch_x509_crt_last_cn (chain->items[which]);
              g_autofree char *qcn
                  = latch_text_quote (cn != NULL ? cn : "?", -1, MAX_QUOTE, QUOTE_FLAGS);

              return tls_refuse_peer (s, GNUTLS_A_CERTIFICATE_EXPIRED,
                                      "%s comes with chain certificate CN '%s', which %s %s",
                                      who, qcn, expired ? "expired on" : "is not valid before",
                                      date);
            }
        }
      return tls_refuse_peer (s, GNUTLS_A_CERTIFICATE_EXPIRED,
                              "%s chains to a CA certificate in %s that %s", who, c->ca_file,
                              expired ? "has expired" : "is not valid yet");
    }
  if (status & GNUTLS_CERT_PURPOSE_MISMATCH)
    return tls_refuse_peer (s, GNUTLS_A_UNSUPPORTED_CERTIFICATE,
                            "%s is not meant for TLS %s use (key purpose): issue it with "
                            "tls_www_server and tls_www_client", who, purpose);
  if (status & GNUTLS_CERT_REVOCATION_DATA_SUPERSEDED)
    {
      g_autofree char *date = latch_x509_format_time_minutes (c->crl_next_update);

      return tls_refuse_peer (s, GNUTLS_A_CERTIFICATE_UNKNOWN,
                              "%s cannot be checked: CRL %s is out of date (its next update "
                              "was due on %s); get a new one from the CA", who,
                              c->crl_file != NULL ? c->crl_file : "?", date);
    }
  if (status & GNUTLS_CERT_REVOCATION_DATA_ISSUED_IN_FUTURE)
    return tls_refuse_peer (s, GNUTLS_A_CERTIFICATE_UNKNOWN,
                            "%s cannot be checked: CRL %s is issued in the future (check this "
                            "machine's clock)", who, c->crl_file != NULL ? c->crl_file : "?");
  if (status & GNUTLS_CERT_SIGNER_NOT_CA)
    return tls_refuse_peer (s, GNUTLS_A_BAD_CERTIFICATE,
                            "%s is signed by a certificate that is not a CA", who);
  if (status & GNUTLS_CERT_INSECURE_ALGORITHM)
    return tls_refuse_peer (s, GNUTLS_A_BAD_CERTIFICATE,
                            "%s uses an insecure algorithm (e.g. a SHA-1 signature or a weak key)",
                            who);
  if (status & GNUTLS_CERT_SIGNATURE_FAILURE)
    return tls_refuse_peer (s, GNUTLS_A_BAD_CERTIFICATE, "%s has an invalid signature", who);
  if (status & GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE)
    return tls_refuse_peer (s, GNUTLS_A_BAD_CERTIFICATE,
                            "%s breaks a constraint of the CA that signed it", who);
  if (status & GNUTLS_CERT_UNKNOWN_CRIT_EXTENSIONS)
    return tls_refuse_peer (s, GNUTLS_A_UNSUPPORTED_CERTIFICATE,
                            "%s has a critical extension GnuTLS does not know", who);
  {
    gnutls_datum_t text = { NULL, 0 };
    g_autofree char *words = NULL;

    if (gnutls_certificate_verification_status_print (status, GNUTLS_CRT_X509, &text, 0) >= 0)
      {
        words = g_strndup ((const char *)text.data, text.size);
        gnutls_free (text.data);
      }
    return tls_refuse_peer (s, GNUTLS_A_BAD_CERTIFICATE, "%s failed verification: %s", who,
                            words != NULL ? words : "unknown reason");
  }
}

int
tls_verify_cb (gnutls_session_t session)
{
  LatchTlsSession *s = gnutls_session_get_ptr (session);
  LatchTlsCreds *c = s->creds;
  const gnutls_datum_t *peers;
  unsigned int n_peers = 0, status = 0;
  g_auto (LatchX509CrtList) chain = { NULL, 0 };
  gnutls_typed_vdata_st purpose = { 0 };
  int ret;

  s->peer_verified = FALSE;
  peers = gnutls_certificate_get_peers (session, &n_peers);
  if (peers == NULL || n_peers == 0)
    {
      if (c->role == LATCH_TLS_SERVER && c->request == GNUTLS_CERT_REQUEST)
        return 0;
      return tls_refuse_peer (s,
                              gnutls_protocol_get_version (session) == GNUTLS_TLS1_3
                              ? GNUTLS_A_CERTIFICATE_REQUIRED
                              : GNUTLS_A_HANDSHAKE_FAILURE,
                              "%s sent no certificate (this side requires one)", s->peer_label);
    }
  s->has_peer_cert = TRUE;

  /* Allocated as gnutls_x509_crt_list_import2() does: latch_x509_crt_list_clear(). */
  chain.items = gnutls_calloc (n_peers, sizeof *chain.items);
  if (chain.items == NULL)
    return tls_refuse_peer (s, GNUTLS_A_INTERNAL_ERROR, "out of memory verifying %s",
                            s->peer_label);
  for (unsigned int i = 0; i < n_peers; i++)
    {
      if (gnutls_x509_crt_init (&chain.items[i]) < 0)
        return tls_refuse_peer (s, GNUTLS_A_INTERNAL_ERROR, "out of memory verifying %s",
                                s->peer_label);
      chain.n++;
      ret = gnutls_x509_crt_import (chain.items[i], &peers[i], GNUTLS_X509_FMT_DER);
      if (ret < 0)
        return tls_refuse_peer (s, GNUTLS_A_BAD_CERTIFICATE,
                                "%s sent a certificate GnuTLS cannot parse: %s", s->peer_label,
                                gnutls_strerror (ret));
    }
  g_clear_pointer (&s->peer_cn, g_free);
  g_clear_pointer (&s->peer_dns, g_ptr_array_unref);
  if (chain.n > 0)
    {
      s->peer_cn = latch_x509_crt_last_cn (chain.items[0]);
      s->peer_dns = latch_x509_crt_dns_names (chain.items[0]);
    }

  for (unsigned int i = 0; i < chain.n; i++)
    {
      unsigned int bits = 0;

      if (latch_x509_crt_key_verdict (chain.items[i], &bits) == LATCH_X509_KEY_RSA_TOO_SMALL)
        {
          g_autofree char *who = peer_cert_name (s);

          if (i == 0)
            return tls_refuse_peer (s, GNUTLS_A_BAD_CERTIFICATE,
                                    "%s has a %u-bit RSA key (latch requires %d or more)", who,
                                    bits, LATCH_X509_MIN_RSA_BITS);
          return tls_refuse_peer (s, GNUTLS_A_BAD_CERTIFICATE,
                                  "%s comes with a chain certificate that has a %u-bit RSA key "
                                  "(latch requires %d or more)", who, bits,
                                  LATCH_X509_MIN_RSA_BITS);
        }
    }

  /* Our own check of chain, dates, CRL and key purpose; no host name:
   * a node is identified by its machine ID (check_peer_id). */
  purpose.type = GNUTLS_DT_KEY_PURPOSE_OID;
  purpose.data = (unsigned char *)(c->role == LATCH_TLS_CLIENT ? GNUTLS_KP_TLS_WWW_SERVER
                                                               : GNUTLS_KP_TLS_WWW_CLIENT);
  ret = gnutls_certificate_verify_peers (session, &purpose, 1, &status);
  if (ret < 0)
    {
      g_autofree char *who = peer_cert_name (s);

      return tls_refuse_peer (s, GNUTLS_A_BAD_CERTIFICATE, "%s cannot be verified: %s", who,
                              gnutls_strerror (ret));
    }
  if (status != 0)
    return refuse_status (s, c, &chain, status);
  s->peer_verified = TRUE;
  return 0;
}

gboolean
tls_check_peer_id (LatchTlsSession *s, const char *announced, GError **error)
{
  LatchTlsCreds *c = s->creds;
  g_autofree char *qannounced = latch_text_quote (announced, -1, MAX_QUOTE, QUOTE_FLAGS);

  if (c->level != LATCH_SECURITY_MUTUAL)
    return TRUE;
  if (!tls_require_handshake (s, error))
    return FALSE;
  if (!s->peer_verified)
    return latch_error_set (error, LATCH_ERROR_TLS_PEER_ID,
                            "%s sent no verified certificate, so its machine ID '%s' cannot be "
                            "checked", s->peer_label, qannounced);
  if (announced == NULL || *announced == '\0')
    {
      g_autofree char *qcn
          = latch_text_quote (s->peer_cn != NULL ? s->peer_cn : "", -1, MAX_QUOTE, QUOTE_FLAGS);
      g_autofree char *dns = describe_dns (s->peer_dns);

      return latch_error_set (error, LATCH_ERROR_TLS_PEER_ID,
                              "%s announced no machine ID; its certificate names '%s'%s",
                              s->peer_label, qcn, dns);
    }
  if (!tls_identity_matches (s->peer_cn, s->peer_dns, announced))
    {
      g_autofree char *qcn
          = latch_text_quote (s->peer_cn != NULL ? s->peer_cn : "", -1, MAX_QUOTE, QUOTE_FLAGS);
      g_autofree char *dns = describe_dns (s->peer_dns);

      return latch_error_set (error, LATCH_ERROR_TLS_PEER_ID,
                              "%s announced ID '%s' but its certificate names '%s'%s (a node's "
                              "machine ID must be its certificate's CN, or a DNS name in it: check "
                              "that node's machine ID and certificate)", s->peer_label, qannounced,
                              qcn, dns);
    }
  if (c->role == LATCH_TLS_SERVER && c->allowed != NULL
      && !g_hash_table_contains (c->allowed, announced))
    return latch_error_set (error, LATCH_ERROR_TLS_NOT_ALLOWED,
                            "%s (machine ID %s) is not allowed by TlsAllowedPeers %s",
                            s->peer_label, qannounced, c->allowed_file);
  return TRUE;
}

/* The peer's chain as it came in the handshake, parsed into chain (which
 * the caller clears).  A GnuTLS error code, or 0 (chain may be empty). */
static int
peer_chain (LatchTlsSession *s, LatchX509CrtList *chain)
{
  const gnutls_datum_t *peers;
  unsigned int n_peers = 0;
  int ret;

  peers = gnutls_certificate_get_peers (s->session, &n_peers);
  if (peers == NULL || n_peers == 0)
    return 0;
  /* Allocated as gnutls_x509_crt_list_import2() does: latch_x509_crt_list_clear(). */
  chain->items = gnutls_calloc (n_peers, sizeof *chain->items);
  if (chain->items == NULL)
    return GNUTLS_E_MEMORY_ERROR;
  for (unsigned int i = 0; i < n_peers; i++)
    {
      ret = gnutls_x509_crt_init (&chain->items[i]);
      if (ret < 0)
        return ret;
      chain->n++;
      ret = gnutls_x509_crt_import (chain->items[i], &peers[i], GNUTLS_X509_FMT_DER);
      if (ret < 0)
        return ret;
    }
  return 0;
}

gboolean
tls_reverify (LatchTlsSession *s, LatchTlsCreds *creds, GError **error)
{
  g_auto (LatchX509CrtList) chain = { NULL, 0 };
  gnutls_x509_trust_list_t trust = NULL;
  gnutls_typed_vdata_st purpose = { 0 };
  unsigned int status = 0;
  int ret;

  if (!tls_require_handshake (s, error))
    return FALSE;
  /* A client without a certificate (a channel-level daemon that does not
   * require one) has nothing that could be revoked. */
  if (!s->peer_verified)
    return TRUE;
  ret = peer_chain (s, &chain);
  if (ret >= 0 && chain.n == 0)
    ret = GNUTLS_E_NO_CERTIFICATE_FOUND;
  if (ret >= 0)
    {
      gnutls_certificate_get_trust_list (creds->cred, &trust);
      /* The same purpose as in the handshake.  The certificates' own dates
       * are not looked at again: what changed is the CRL, and a session is
       * not ended by its certificate's expiry either. */
      purpose.type = GNUTLS_DT_KEY_PURPOSE_OID;
      purpose.data = (unsigned char *)(creds->role == LATCH_TLS_CLIENT
                                       ? GNUTLS_KP_TLS_WWW_SERVER
                                       : GNUTLS_KP_TLS_WWW_CLIENT);
      ret = gnutls_x509_trust_list_verify_crt2 (trust, chain.items, chain.n, &purpose, 1,
                                                GNUTLS_VERIFY_DISABLE_TIME_CHECKS, &status,
                                                NULL);
    }
  if (ret < 0)
    {
      g_autofree char *who = peer_cert_name (s);

      return latch_error_set (error, LATCH_ERROR_TLS, "%s cannot be verified again: %s", who,
                              gnutls_strerror (ret));
    }
  if (status == 0)
    return TRUE;
  /* Refused as a new handshake would be, with the alert that names it,
   * so that the peer can say why its session ended. */
  refuse_status (s, creds, &chain, status);
  s->peer_verified = FALSE;
  latch_error_set (error, LATCH_ERROR_TLS_VERIFY, "%s", s->refusal);
  tls_send_alert (s, s->refusal_alert);
  return FALSE;
}
