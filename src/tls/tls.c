/* tls.c: TLS sessions and their I/O, and the module table.  The rest of
 * the TLS module: credentials (tls-creds.c), in-handshake verification
 * and the peer-ID check (tls-verify.c), failure explanations
 * (tls-explain.c); what they share is in tls-private.h.
 *
 * Built into latchd and as the module latch-tls.so, which has no logger:
 * everything is reported through GError or the warnings array.
 *
 * Verification runs inside the handshake, in verify_cb(): when it refuses
 * the peer, the handshake fails and we send the alert that names the
 * reason, so that the other side can explain it too (explain_alert()).
 * Every message names the peer, the file involved and, where there is
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

static gboolean
is_again (int e)
{
#if EWOULDBLOCK != EAGAIN
  if (e == EWOULDBLOCK)
    return TRUE;
#endif
  return e == EAGAIN;
}

static ssize_t
push_cb (gnutls_transport_ptr_t ptr, const void *data, size_t len)
{
  LatchTlsSession *s = ptr;
  ssize_t n;

  do
    n = send (s->fd, data, len, MSG_NOSIGNAL); /* never SIGPIPE */
  while (n < 0 && errno == EINTR);
  if (n < 0)
    {
      s->saved_errno = errno;
      gnutls_transport_set_errno (s->session, is_again (errno) ? EAGAIN : errno);
    }
  return n;
}

static ssize_t
pull_cb (gnutls_transport_ptr_t ptr, void *data, size_t len)
{
  LatchTlsSession *s = ptr;
  gsize avail = s->rbuf_len - s->rbuf_off;
  ssize_t n;

  if (avail == 0)
    {
      if (s->rbuf == NULL)
        s->rbuf = g_malloc (LATCH_TLS_READ_AHEAD);
      do
        n = recv (s->fd, s->rbuf, LATCH_TLS_READ_AHEAD, 0);
      while (n < 0 && errno == EINTR);
      if (n <= 0)
        g_clear_pointer (&s->rbuf, g_free);
      if (n < 0)
        {
          s->saved_errno = errno;
          gnutls_transport_set_errno (s->session, is_again (errno) ? EAGAIN : errno);
          return n;
        }
      if (n == 0)
        {
          s->got_eof = TRUE;
          return 0;
        }
      if (!s->got_data)
        {
          /* A TLS record starts with its type (20..24); latch and FLoM
           * messages start with "<msg". */
          s->got_data = TRUE;
          s->clear_peer = s->rbuf[0] == '<';
        }
      s->short_read = (gsize)n < LATCH_TLS_READ_AHEAD;
      s->rbuf_off = 0;
      s->rbuf_len = (gsize)n;
      avail = (gsize)n;
    }
  if (len > avail)
    len = avail;
  memcpy (data, s->rbuf + s->rbuf_off, len);
  s->rbuf_off += len;
  if (s->rbuf_off == s->rbuf_len)
    {
      g_clear_pointer (&s->rbuf, g_free);
      s->rbuf_off = s->rbuf_len = 0;
    }
  return (ssize_t)len;
}

/* GnuTLS asks this only to wait for data; we never wait (the caller
 * polls): "ready" makes it call pull_cb(), which says EAGAIN. */
static int
pull_timeout_cb (gnutls_transport_ptr_t ptr, unsigned int ms)
{
  LatchTlsSession *s = ptr;
  struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
  int ret;

  if (s->rbuf_len > s->rbuf_off)
    return 1;
  ret = poll (&pfd, 1, 0);

  if (ret != 0)
    return ret;
  return ms == 0 ? 0 : 1;
}

static gboolean
session_drained (LatchTlsSession *s)
{
  return s->handshake_done && s->short_read && s->rbuf_len == s->rbuf_off
         && gnutls_record_check_pending (s->session) == 0;
}

static void
session_free (LatchTlsSession *s)
{
  if (s == NULL)
    return;
  if (s->session != NULL)
    gnutls_deinit (s->session);
  tls_creds_unref (s->creds);
  g_free (s->peer_label);
  g_free (s->peer_cn);
  g_clear_pointer (&s->peer_dns, g_ptr_array_unref);
  g_free (s->refusal);
  g_free (s->rbuf);
  g_free (s);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LatchTlsSession, session_free)

static LatchTlsSession *
session_new (LatchTlsCreds *creds, int fd, const char *peer_label, GError **error)
{
  g_autoptr (LatchTlsSession) s = g_new0 (LatchTlsSession, 1);
  unsigned int flags = GNUTLS_NO_TICKETS; /* full, verified handshake every time */
  int ret;

  s->creds = tls_creds_ref (creds);
  s->fd = fd;
  s->peer_label = g_strdup (peer_label != NULL ? peer_label : "the peer");
  flags |= creds->role == LATCH_TLS_CLIENT ? GNUTLS_CLIENT : GNUTLS_SERVER;
  ret = gnutls_init (&s->session, flags);
  if (ret < 0)
    {
      s->session = NULL;
      latch_error_set (error, LATCH_ERROR_TLS, "cannot start a TLS session with %s: %s",
                       s->peer_label, gnutls_strerror (ret));
      return NULL;
    }
  ret = gnutls_credentials_set (s->session, GNUTLS_CRD_CERTIFICATE, creds->cred);
  if (ret >= 0)
    ret = gnutls_priority_set (s->session, creds->priority);
  if (ret < 0)
    {
      latch_error_set (error, LATCH_ERROR_TLS, "cannot set up the TLS session with %s: %s",
                       s->peer_label, gnutls_strerror (ret));
      return NULL;
    }
  if (creds->role == LATCH_TLS_SERVER)
    {
      gnutls_certificate_server_set_request (s->session, creds->request);
      /* Do not name our CAs in the certificate request: a GnuTLS client
       * then sends no certificate unless it is issued by one of them, and
       * "sent no certificate" would hide "signed by a CA we do not
       * trust". */
      gnutls_certificate_send_x509_rdn_sequence (s->session, 1);
    }
  gnutls_session_set_ptr (s->session, s);
  gnutls_session_set_verify_function (s->session, tls_verify_cb);
  gnutls_transport_set_ptr (s->session, s);
  gnutls_transport_set_push_function (s->session, push_cb);
  gnutls_transport_set_pull_function (s->session, pull_cb);
  gnutls_transport_set_pull_timeout_function (s->session, pull_timeout_cb);
  gnutls_handshake_set_timeout (s->session, 0); /* the caller keeps the deadline */
  return g_steal_pointer (&s);
}

LatchTlsStatus
tls_want (LatchTlsSession *s)
{
  return gnutls_record_get_direction (s->session) == 0 ? LATCH_TLS_WANT_READ
                                                       : LATCH_TLS_WANT_WRITE;
}

static LatchTlsStatus
session_handshake (LatchTlsSession *s, GError **error)
{
  int ret;

  if (s->handshake_done)
    return LATCH_TLS_OK;
  if (s->failed)
    {
      latch_error_set (error, LATCH_ERROR_TLS, "the TLS handshake with %s has already failed",
                       s->peer_label);
      return LATCH_TLS_FAILED;
    }
  /* A warning alert interrupts the handshake without ending it. */
  for (int tries = 0;; tries++)
    {
      ret = gnutls_handshake (s->session);
      if (ret != GNUTLS_E_WARNING_ALERT_RECEIVED || tries >= 8)
        break;
    }
  if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED)
    return tls_want (s);
  if (ret < 0)
    return tls_handshake_failed (s, ret, error);

  /* Not expected: GnuTLS always asks tls_verify_cb() about a certificate it
   * got, and a server always sends one.  Never trust a peer unchecked. */
  if ((s->creds->role == LATCH_TLS_CLIENT || s->creds->request == GNUTLS_CERT_REQUIRE)
      && !s->peer_verified)
    {
      s->failed = TRUE;
      if (s->refusal == NULL)
        tls_refuse_peer (s, GNUTLS_A_CERTIFICATE_REQUIRED,
                         "%s sent no certificate (this side requires one)", s->peer_label);
      latch_error_set (error, LATCH_ERROR_TLS_VERIFY, "%s", s->refusal);
      tls_send_alert (s, s->refusal_alert);
      return LATCH_TLS_FAILED;
    }
  s->handshake_done = TRUE;
  return LATCH_TLS_OK;
}

gboolean
tls_require_handshake (LatchTlsSession *s, GError **error)
{
  if (s->handshake_done)
    return TRUE;
  return latch_error_set (error, LATCH_ERROR_TLS, "no TLS session with %s yet (handshake %s)",
                          s->peer_label, s->failed ? "failed" : "not done");
}

static LatchTlsStatus
session_recv (LatchTlsSession *s, char *buf, gsize len, gsize *got, GError **error)
{
  ssize_t ret;

  if (!tls_require_handshake (s, error))
    return LATCH_TLS_FAILED;
  for (int tries = 0;; tries++)
    {
      ret = gnutls_record_recv (s->session, buf, len);
      if (ret == GNUTLS_E_REHANDSHAKE)
        {
          /* latch peers never renegotiate: say no and read on. */
          (void)gnutls_alert_send (s->session, GNUTLS_AL_WARNING, GNUTLS_A_NO_RENEGOTIATION);
          ret = GNUTLS_E_WARNING_ALERT_RECEIVED;
        }
      if (ret != GNUTLS_E_WARNING_ALERT_RECEIVED || tries >= 8)
        break;
    }
  if (ret >= 0)
    {
      *got = (gsize)ret;
      return LATCH_TLS_OK;
    }
  switch (ret)
    {
    case GNUTLS_E_AGAIN:
    case GNUTLS_E_INTERRUPTED:
      return tls_want (s);
    case GNUTLS_E_PREMATURE_TERMINATION:
      *got = 0; /* EOF without close_notify: a peer that just closed */
      return LATCH_TLS_OK;
    case GNUTLS_E_FATAL_ALERT_RECEIVED:
      tls_explain_alert (s, FALSE, error);
      return LATCH_TLS_FAILED;
    case GNUTLS_E_PULL_ERROR:
      /* A reset is the end of the stream, as on a clear socket: e.g. a
       * quiescing daemon closing a newcomer (who then retries). */
      if (tls_is_closed_errno (s->saved_errno))
        {
          *got = 0;
          return LATCH_TLS_OK;
        }
      latch_error_set (error, LATCH_ERROR_IO, "TLS read from %s: %s", s->peer_label,
                       g_strerror (s->saved_errno));
      return LATCH_TLS_FAILED;
    case GNUTLS_E_PUSH_ERROR:
      latch_error_set (error, LATCH_ERROR_IO, "TLS read from %s: %s", s->peer_label,
                       g_strerror (s->saved_errno));
      return LATCH_TLS_FAILED;
    default:
      latch_error_set (error, LATCH_ERROR_IO, "TLS read from %s: %s", s->peer_label,
                       gnutls_strerror ((int)ret));
      return LATCH_TLS_FAILED;
    }
}

static LatchTlsStatus
session_send (LatchTlsSession *s, const char *data, gsize len, gsize *sent, GError **error)
{
  ssize_t ret;

  if (!tls_require_handshake (s, error))
    return LATCH_TLS_FAILED;
  ret = gnutls_record_send (s->session, data, len);
  if (ret >= 0)
    {
      *sent = (gsize)ret;
      return LATCH_TLS_OK;
    }
  if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED)
    return tls_want (s);
  if (ret == GNUTLS_E_PUSH_ERROR)
    {
      int e = s->saved_errno;

      if (tls_is_closed_errno (e) && tls_find_peer_alert (s, error))
        return LATCH_TLS_FAILED;
      latch_error_set (error, LATCH_ERROR_IO, "TLS write to %s: %s", s->peer_label, g_strerror (e));
      return LATCH_TLS_FAILED;
    }
  latch_error_set (error, LATCH_ERROR_IO, "TLS write to %s: %s", s->peer_label,
                   gnutls_strerror ((int)ret));
  return LATCH_TLS_FAILED;
}

static gsize
session_pending (LatchTlsSession *s)
{
  if (!s->handshake_done)
    return 0;
  /* Raw bytes read ahead count too: no socket event announces them. */
  return gnutls_record_check_pending (s->session) + (s->rbuf_len - s->rbuf_off);
}

static void
session_bye (LatchTlsSession *s)
{
  if (!s->handshake_done || s->bye_sent)
    return;
  s->bye_sent = TRUE;
  (void)gnutls_bye (s->session, GNUTLS_SHUT_WR); /* AGAIN: the peer gets EOF instead */
}

static char *
session_describe (LatchTlsSession *s)
{
  const char *proto, *cipher;

  if (!s->handshake_done)
    return g_strdup_printf ("TLS with %s (handshake %s)", s->peer_label,
                            s->failed ? "failed" : "not done");
  proto = gnutls_protocol_get_name (gnutls_protocol_get_version (s->session));
  cipher = gnutls_cipher_get_name (gnutls_cipher_get (s->session));
  if (!s->has_peer_cert)
    return g_strdup_printf ("%s %s, peer sent no certificate", proto != NULL ? proto : "TLS",
                            cipher != NULL ? cipher : "?");
  {
    g_autofree char *q
        = latch_text_quote (s->peer_cn != NULL ? s->peer_cn : "none", -1, MAX_QUOTE, QUOTE_FLAGS);

    return g_strdup_printf ("%s %s, peer CN %s", proto != NULL ? proto : "TLS",
                            cipher != NULL ? cipher : "?", q);
  }
}

/* ---- the table -------------------------------------------------------- */

static const LatchTlsModule module = {
  .abi = LATCH_TLS_MODULE_ABI,
  .creds_new = tls_creds_new,
  .creds_free = tls_creds_free,
  .creds_get_level = tls_creds_get_level,
  .session_new = session_new,
  .session_free = session_free,
  .handshake = session_handshake,
  .recv = session_recv,
  .send = session_send,
  .pending = session_pending,
  .drained = session_drained,
  .bye = session_bye,
  .check_peer_id = tls_check_peer_id,
  .reverify = tls_reverify,
  .describe = session_describe,
};

const LatchTlsModule *
latch_tls_module (void)
{
  return &module;
}

/* ---- for the debug tools --------------------------------------------- */

void *
latch_tls_session_get_gnutls (LatchTlsSession *session)
{
  g_return_val_if_fail (session != NULL, NULL);
  return session->session;
}

const char *
latch_tls_session_get_refusal (LatchTlsSession *session)
{
  g_return_val_if_fail (session != NULL, NULL);
  return session->refusal;
}
