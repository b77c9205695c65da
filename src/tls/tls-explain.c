/* tls-explain.c: failed handshakes and alerts in words: what the peer
 * refused or what went wrong, which file is involved and, where there is
 * one, the fix. */

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

/* Best effort, once: the socket is non-blocking and the session over. */
void
tls_send_alert (LatchTlsSession *s, gnutls_alert_description_t alert)
{
  if (s->alert_sent)
    return;
  s->alert_sent = TRUE;
  (void)gnutls_alert_send (s->session, GNUTLS_AL_FATAL, alert);
}

static gboolean
is_version_or_cipher_alert (gnutls_alert_description_t alert)
{
  return alert == GNUTLS_A_PROTOCOL_VERSION || alert == GNUTLS_A_HANDSHAKE_FAILURE
         || alert == GNUTLS_A_INSUFFICIENT_SECURITY;
}

/* The peer's fatal alert, in words.  in_handshake: received before our
 * handshake completed. */
void
tls_explain_alert (LatchTlsSession *s, gboolean in_handshake, GError **error)
{
  gnutls_alert_description_t alert = gnutls_alert_get (s->session);
  const char *name = gnutls_alert_get_name (alert);
  const char *label = s->peer_label;
  const char *our_use = s->creds->role == LATCH_TLS_CLIENT ? "client" : "server";
  g_autofree char *alert_name
      = name != NULL ? g_strdup (name) : g_strdup_printf ("alert %d", (int)alert);

  switch ((int)alert)
    {
    case GNUTLS_A_UNKNOWN_CA:
      latch_error_set (error, LATCH_ERROR_TLS_REFUSED,
                       "%s refused our certificate: it does not trust the CA that signed it",
                       label);
      return;
    case GNUTLS_A_CERTIFICATE_EXPIRED:
      latch_error_set (error, LATCH_ERROR_TLS_REFUSED,
                       "%s refused our certificate: our certificate has expired or is not yet "
                       "valid", label);
      return;
    case GNUTLS_A_CERTIFICATE_REVOKED:
      latch_error_set (error, LATCH_ERROR_TLS_REFUSED,
                       "%s refused our certificate: our certificate was revoked", label);
      return;
    case GNUTLS_A_UNSUPPORTED_CERTIFICATE:
      latch_error_set (error, LATCH_ERROR_TLS_REFUSED,
                       "%s refused our certificate: it is not meant for TLS %s use (key "
                       "purpose), or its type is not accepted", label, our_use);
      return;
    case GNUTLS_A_BAD_CERTIFICATE:
      latch_error_set (error, LATCH_ERROR_TLS_REFUSED,
                       "%s refused our certificate as bad (e.g. an RSA key under %d bits, or a "
                       "bad signature)", label, LATCH_X509_MIN_RSA_BITS);
      return;
    case GNUTLS_A_CERTIFICATE_UNKNOWN:
      latch_error_set (error, LATCH_ERROR_TLS_REFUSED,
                       "%s refused our certificate: it could not verify it (certificate unknown; "
                       "is its CRL out of date?)", label);
      return;
    case GNUTLS_A_CERTIFICATE_REQUIRED:
      latch_error_set (error, LATCH_ERROR_TLS_REFUSED,
                       "%s requires a client certificate: give --tls-certificate and "
                       "--tls-private-key", label);
      return;
    default:
      break;
    }
  if (s->creds->role == LATCH_TLS_CLIENT && !s->creds->has_own_cert
      && alert == GNUTLS_A_HANDSHAKE_FAILURE)
    {
      latch_error_set (error, LATCH_ERROR_TLS_REFUSED,
                       "%s requires a client certificate: give --tls-certificate and "
                       "--tls-private-key", label);
      return;
    }
  if (is_version_or_cipher_alert (alert))
    {
      latch_error_set (error, LATCH_ERROR_TLS,
                       "%s ended the TLS handshake (%s): no TLS version or cipher in common: "
                       "check TlsPriority on both sides", label, alert_name);
      return;
    }
  if (in_handshake)
    latch_error_set (error, LATCH_ERROR_TLS_REFUSED, "%s ended the TLS handshake: %s", label,
                     alert_name);
  else
    latch_error_set (error, LATCH_ERROR_TLS_REFUSED, "%s ended the TLS connection: %s", label,
                     alert_name);
}

static gboolean
is_no_common_error (int ret)
{
  switch (ret)
    {
    case GNUTLS_E_UNSUPPORTED_VERSION_PACKET:
    case GNUTLS_E_NO_CIPHER_SUITES:
    case GNUTLS_E_UNKNOWN_CIPHER_SUITE:
    case GNUTLS_E_NO_PRIORITIES_WERE_SET:
    case GNUTLS_E_NO_COMMON_KEY_SHARE:
    case GNUTLS_E_INSUFFICIENT_CREDENTIALS:
    case GNUTLS_E_UNKNOWN_PK_ALGORITHM:
    case GNUTLS_E_UNWANTED_ALGORITHM:
    case GNUTLS_E_INSUFFICIENT_SECURITY:
      return TRUE;
    default:
      return FALSE;
    }
}

gboolean
tls_is_closed_errno (int e)
{
  return e == EPIPE || e == ECONNRESET || e == ECONNABORTED;
}

LatchTlsStatus
tls_handshake_failed (LatchTlsSession *s, int ret, GError **error)
{
  int alert_level = GNUTLS_AL_FATAL;
  int alert;

  s->failed = TRUE;
  if (s->clear_peer)
    {
      if (s->creds->role == LATCH_TLS_CLIENT)
        latch_error_set (error, LATCH_ERROR_TLS_CLEAR_PEER,
                         "%s answered in clear text: it does not speak TLS (configure it with the "
                         "same TLS settings, or remove TLS here)", s->peer_label);
      else
        latch_error_set (error, LATCH_ERROR_TLS_CLEAR_PEER,
                         "%s sent clear text: it does not speak TLS (configure it with the same "
                         "TLS settings, or remove TLS here)", s->peer_label);
      return LATCH_TLS_FAILED;
    }
  if (s->refusal != NULL)
    {
      latch_error_set (error, LATCH_ERROR_TLS_VERIFY, "%s", s->refusal);
      tls_send_alert (s, s->refusal_alert);
      return LATCH_TLS_FAILED;
    }
  if (ret == GNUTLS_E_FATAL_ALERT_RECEIVED)
    {
      tls_explain_alert (s, TRUE, error);
      return LATCH_TLS_FAILED;
    }
  /* TLS 1.2: a fatal alert where the client's certificate was due. */
  if ((ret == GNUTLS_E_NO_CERTIFICATE_FOUND || ret == GNUTLS_E_CERTIFICATE_REQUIRED)
      && gnutls_alert_get (s->session) != GNUTLS_A_CLOSE_NOTIFY)
    {
      tls_explain_alert (s, TRUE, error);
      return LATCH_TLS_FAILED;
    }
  if (s->creds->role == LATCH_TLS_SERVER
      && (ret == GNUTLS_E_NO_CERTIFICATE_FOUND || ret == GNUTLS_E_CERTIFICATE_REQUIRED))
    {
      latch_error_set (error, LATCH_ERROR_TLS_VERIFY,
                       "%s sent no certificate (this side requires one)", s->peer_label);
      tls_send_alert (s, gnutls_protocol_get_version (s->session) == GNUTLS_TLS1_3
                         ? GNUTLS_A_CERTIFICATE_REQUIRED
                         : GNUTLS_A_HANDSHAKE_FAILURE);
      return LATCH_TLS_FAILED;
    }
  if (s->got_eof || ret == GNUTLS_E_PREMATURE_TERMINATION
      || ((ret == GNUTLS_E_PUSH_ERROR || ret == GNUTLS_E_PULL_ERROR)
          && tls_is_closed_errno (s->saved_errno)))
    {
      /* Closed without an alert (every refusal sends one): the peer is
       * going away, e.g. a daemon exiting at the end of a quiesce while
       * this handshake ran, and the caller may retry. */
      latch_error_set (error, LATCH_ERROR_CONNECTION_CLOSED,
                       "%s closed the connection during the TLS handshake%s",
                       s->peer_label,
                       s->got_data ? ""
                                   : " without answering (does it use TLS, and does it accept "
                                     "this connection?)");
      return LATCH_TLS_FAILED;
    }
  if (ret == GNUTLS_E_PUSH_ERROR || ret == GNUTLS_E_PULL_ERROR)
    {
      latch_error_set (error, LATCH_ERROR_TLS, "TLS handshake with %s: %s", s->peer_label,
                       g_strerror (s->saved_errno));
      return LATCH_TLS_FAILED;
    }
  alert = gnutls_error_to_alert (ret, &alert_level);
  if (is_no_common_error (ret))
    latch_error_set (error, LATCH_ERROR_TLS,
                     "no TLS version or cipher in common with %s: check TlsPriority on both "
                     "sides (%s)", s->peer_label, gnutls_strerror (ret));
  else
    latch_error_set (error, LATCH_ERROR_TLS, "TLS handshake with %s failed: %s", s->peer_label,
                     gnutls_strerror (ret));
  if (alert >= 0 && alert_level == GNUTLS_AL_FATAL)
    tls_send_alert (s, (gnutls_alert_description_t)alert);
  return LATCH_TLS_FAILED;
}

/* After a write failed because the peer closed: is its alert (TLS 1.3:
 * it refused our certificate after our handshake completed) waiting? */
gboolean
tls_find_peer_alert (LatchTlsSession *s, GError **error)
{
  char scratch[512];

  for (int i = 0; i < 16; i++)
    {
      ssize_t ret = gnutls_record_recv (s->session, scratch, sizeof scratch);

      if (ret == GNUTLS_E_FATAL_ALERT_RECEIVED)
        {
          tls_explain_alert (s, FALSE, error);
          return TRUE;
        }
      if (ret <= 0 && ret != GNUTLS_E_WARNING_ALERT_RECEIVED && ret != GNUTLS_E_INTERRUPTED)
        return FALSE;
    }
  return FALSE;
}
