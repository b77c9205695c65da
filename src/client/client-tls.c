/* client-tls.c: liblatch's TLS glue.  The TLS module (GnuTLS) is loaded
 * only when a TLS level is first used, so that the clear-text `latch`
 * command never loads GnuTLS; the credentials are loaded once per handle
 * and dropped when a TLS setting changes (client.c). */
#include "config.h"

#include "client/client-private.h"
#include "tls/tls-loader.h"
#include "common/error.h"
#include "common/log.h"
#include "settings/settings.h"
#include "sys/machine-id.h"

#include <errno.h>
#include <fcntl.h>

/* Decides the level; at a TLS level, loads the module and the
 * credentials (once).  A clear level loads nothing. */
int
latch_client_prepare_security (LatchHandle *h, gboolean via_agent)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) warnings = NULL;
  LatchTlsSettings s = latch_config_tls_settings (h->config);
  LatchSecurityLevel level;

  if (!latch_tls_settings_resolve (&s, LATCH_TLS_CLIENT, &level, &error))
    return fail_gerror (h, LATCH_RC_INVALID_OPTION, error);
  h->level = level;
  /* Through the agent the connection is the private local socket, in
   * clear text: the agent holds the TLS session upstream, with these
   * settings (it checks them when it starts).  So the command loads
   * neither GnuTLS nor the credentials, and announces no ID. */
  if (via_agent && level != LATCH_SECURITY_CLEAR)
    {
      h->own_id = NULL;
      return LATCH_RC_OK;
    }
  if (level == LATCH_SECURITY_CLEAR)
    {
      /* Nothing can check an ID in clear text: the request carries an
       * empty one, and the command reads no file for it. */
      h->own_id = NULL;
      return LATCH_RC_OK;
    }
  if (h->creds != NULL)
    return LATCH_RC_OK;
  if (h->tls == NULL && (h->tls = latch_tls_module_load (&error)) == NULL)
    return fail_gerror (h, LATCH_RC_INVALID_OPTION, error);
  if (level == LATCH_SECURITY_MUTUAL)
    {
      h->own_id = latch_machine_id_get (&error);
      if (h->own_id == NULL)
        return fail (h, LATCH_RC_INVALID_OPTION, "mutual authentication needs this "
                     "node's machine ID: %s", error->message);
    }
  else
    {
      /* Channel level: we check no ID, but the daemon may (a FLoM daemon
       * with TlsCheckPeerId=yes closes on an empty one), so announce it,
       * as FLoM's client does.  Read from the files: no libdbus. */
      h->own_id = latch_machine_id_read (&error);
      if (h->own_id == NULL)
        {
          latch_log_debug ("%s: announcing an empty peer id", error->message);
          g_clear_error (&error);
        }
    }
  /* Reported with the outcome (latch_client_report_warnings ()): with a refusal they
   * belong to its one line. */
  warnings = g_ptr_array_new_with_free_func (g_free);
  h->creds = h->tls->creds_new (&s, LATCH_TLS_CLIENT, level, h->own_id, warnings, &error);
  g_clear_pointer (&h->warnings, g_ptr_array_unref);
  if (warnings->len > 0)
    h->warnings = g_steal_pointer (&warnings);
  if (h->creds == NULL)
    return fail_gerror (h, LATCH_RC_INVALID_OPTION, error);
  return LATCH_RC_OK;
}

/* The credentials' warnings, once, with the outcome rc of an operation:
 * folded into the error of a failure, so that it stays one line; after a
 * success (or an outcome that is not a failure of the setup: busy, a
 * timeout, whose words scripts compare), kept for latch_get_warnings ().
 * The library itself prints nothing. */
int
latch_client_report_warnings (LatchHandle *h, int rc)
{
  g_autoptr (GPtrArray) warnings = g_steal_pointer (&h->warnings);
  gboolean fold = rc != LATCH_RC_OK && rc != LATCH_RC_LOCK_BUSY
                  && rc != LATCH_RC_NETWORK_TIMEOUT && rc != LATCH_RC_LOCK_CANT_WAIT;

  g_clear_pointer (&h->warning_text, g_free);
  if (warnings == NULL)
    return rc;
  if (!fold)
    {
      g_ptr_array_add (warnings, NULL);
      h->warning_text = g_strjoinv ("\n", (char **)warnings->pdata);
      return rc;
    }
  for (guint i = 0; i < warnings->len; i++)
    {
      char *longer = g_strdup_printf ("%s (warning: %s)", h->error,
                                      (const char *)warnings->pdata[i]);

      g_free (h->error);
      h->error = longer;
    }
  return rc;
}

/* The TLS handshake on the connected h->fd, bounded by
 * LATCH_TLS_HANDSHAKE_MS.  *retry: the daemon closed the connection
 * before the handshake ended (it is going away), try again. */
int
latch_client_start_tls (LatchHandle *h, const char *label, gboolean *retry)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *peer = g_strdup_printf ("the daemon at %s", label);
  gint64 deadline = latch_client_now_ms () + LATCH_TLS_HANDSHAKE_MS;
  int flags = fcntl (h->fd, F_GETFL);

  if (flags < 0 || fcntl (h->fd, F_SETFL, flags | O_NONBLOCK) < 0)
    {
      int saved = errno;
      latch_client_disconnect (h);
      return fail (h, LATCH_RC_SYSTEM_ERROR, "fcntl: %s", g_strerror (saved));
    }
  h->session = h->tls->session_new (h->creds, h->fd, peer, &error);
  while (h->session != NULL)
    {
      LatchTlsStatus status = h->tls->handshake (h->session, &error);

      if (status == LATCH_TLS_OK)
        {
          if (latch_log_is_debug ())
            {
              g_autofree char *what = h->tls->describe (h->session);
              latch_log_debug ("%s: %s", peer, what);
            }
          return LATCH_RC_OK;
        }
      if (status == LATCH_TLS_FAILED)
        break;
      if (!latch_client_wait_ready (h->fd, status, deadline, &error))
        {
          if (g_error_matches (error, LATCH_ERROR, LATCH_ERROR_TIMEOUT))
            {
              g_clear_error (&error);
              g_set_error (&error, LATCH_ERROR, LATCH_ERROR_TLS,
                           "the TLS handshake with %s did not finish within %d s "
                           "(a FLoM daemon without TLS never answers one: check that "
                           "it has TLS configured)", peer, LATCH_TLS_HANDSHAKE_MS / 1000);
            }
          break;
        }
    }
  latch_client_disconnect (h);
  if (g_error_matches (error, LATCH_ERROR, LATCH_ERROR_CONNECTION_CLOSED))
    {
      latch_log_debug ("%s", error->message);
      *retry = TRUE;
      return LATCH_RC_CONNECTION_CLOSED;
    }
  return fail_gerror (h, g_error_matches (error, LATCH_ERROR, LATCH_ERROR_TLS_CLEAR_PEER)
                             ? LATCH_RC_NO_TLS_CONNECTION
                             : LATCH_RC_CONNECTION_REFUSED,
                      error);
}

gboolean
latch_client_is_tls_refusal (const GError *error)
{
  return error->domain == LATCH_ERROR
         && (error->code == LATCH_ERROR_TLS || error->code == LATCH_ERROR_TLS_REFUSED
             || error->code == LATCH_ERROR_TLS_VERIFY);
}

/* At the mutual level: does the daemon's announced ID match its
 * certificate? */
gboolean
latch_client_daemon_id_matches (LatchHandle *h, const LatchMsg *answer, GError **error)
{
  if (h->level != LATCH_SECURITY_MUTUAL || h->session == NULL)
    return TRUE;
  return h->tls->check_peer_id (h->session, answer->peerid != NULL ? answer->peerid : "",
                                error);
}
