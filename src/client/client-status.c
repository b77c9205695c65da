/* client-status.c: liblatch asks the daemon about its lock table
 * (doc/protocol.md, "Status"): who holds and who waits, the names, the
 * metrics, what one waiting request waits for.
 *
 * A status request is the first and only request of a connection of its
 * own, opened straight to the daemon the handle's settings name, at
 * their security level: never through the agent (the agent holds no
 * table; the daemon upstream does), never the lock's connection, and
 * never by starting a daemon (none running: nothing is locked).  The
 * answers are decoded with the lite codec, as every answer of the
 * client's, so that the command's clear path loads no libxml2. */
#include "config.h"

#include "client/client.h"
#include "client/client-private.h"
#include "common/error.h"
#include "common/log.h"
#include "proto/framer.h"
#include "proto/msg.h"

#include <sys/socket.h>
#include <netinet/in.h>

/* The bound of a status exchange when the handle's timeout gives none
 * (the timeout is meant for the lock, and may be forever). */
#define STATUS_DEFAULT_MS 5000

/* Where the daemon is for a status request: as for a lock, except that
 * no daemon is started and the agent is not asked.  A private socket
 * directory that does not exist yet is made (as by any command), so that
 * its absence reads as what it means: no daemon.  (The host's daemon,
 * --system, has a path of its own: client-connect.c resolves it.) */
static gboolean
status_connect (LatchHandle *h, gint64 deadline, GError **error)
{
  int rc = latch_client_prepare_security (h, FALSE);

  if (rc != LATCH_RC_OK)
    {
      g_set_error_literal (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION, latch_get_error (h));
      return FALSE;
    }
  if (h->path.lock_path == NULL && !h->config->system && h->config->unicast_address == NULL
      && h->config->multicast_address == NULL && h->config->socket_name == NULL)
    {
      g_autoptr (GError) local = NULL;

      if (!latch_sockpath_for_local (h->config, TRUE, &h->path, &local))
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
    }
  h->n_bare_closes = 0;
  rc = latch_client_connect_daemon (h, deadline, FALSE);
  if (rc != LATCH_RC_OK)
    {
      g_set_error_literal (error, LATCH_ERROR,
                           rc == LATCH_RC_DAEMON_NOT_STARTED ? LATCH_ERROR_NO_DAEMON
                                                             : LATCH_ERROR_CONNECT,
                           latch_get_error (h));
      return FALSE;
    }
  return TRUE;
}

/* A latch daemon that refuses the connection itself (TLS required, an
 * identity it does not accept) answers as it would a lock request. */
static void
set_refusal (LatchHandle *h, const LatchMsg *answer, GError **error)
{
  g_autofree char *label = latch_client_endpoint_label (h);

  if (answer->reason != NULL)
    g_set_error (error, LATCH_ERROR, LATCH_ERROR_CONNECT, "the daemon at %s refused the status "
                 "request: %s", label, answer->reason);
  else if (answer->rc == LATCH_RC_NO_TLS_CONNECTION)
    g_set_error (error, LATCH_ERROR, LATCH_ERROR_TLS_CLEAR_PEER, "the daemon at %s requires "
                 "TLS: give --tls-certificate, --tls-private-key and --tls-ca-certificate "
                 "(or the [TLS] group of the configuration) as its nodes have", label);
  else
    g_set_error (error, LATCH_ERROR, LATCH_ERROR_CONNECT, "the daemon at %s refused the status "
                 "request: %s (reason code %d)", label, latch_strerror (answer->rc), answer->rc);
}

/* The request sent, collects the answers: lines (step 24) until the
 * final answer (step 32). */
static gboolean
status_exchange (LatchHandle *h, const LatchMsg *request, gint64 deadline, int timeout_ms,
                 GPtrArray *lines, int *rc_out, char **reason_out, GError **error)
{
  g_autoptr (LatchFramer) framer = latch_framer_new (LATCH_MSG_MAX_SIZE);
  g_autofree char *label = latch_client_endpoint_label (h);
  g_autoptr (GError) local = NULL;
  gboolean any = FALSE;

  if (!latch_client_send_msg (h, request, &local))
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_CONNECTION_CLOSED,
                   "the daemon at %s does not answer status requests (a FLoM daemon?): %s",
                   label, local->message);
      return FALSE;
    }
  for (;;)
    {
      g_autoptr (LatchMsg) msg = latch_client_read_msg (h, framer, deadline, &local);

      if (msg == NULL)
        {
          if (g_error_matches (local, LATCH_ERROR, LATCH_ERROR_CONNECTION_CLOSED) && !any)
            /* A FLoM daemon does not know the verb: it closes. */
            g_set_error (error, LATCH_ERROR, LATCH_ERROR_CONNECTION_CLOSED,
                         "the daemon at %s does not answer status requests (a FLoM "
                         "daemon?)", label);
          else if (g_error_matches (local, LATCH_ERROR, LATCH_ERROR_TIMEOUT))
            g_set_error (error, LATCH_ERROR, LATCH_ERROR_TIMEOUT,
                         "the daemon at %s did not finish its status answer within %d ms",
                         label, timeout_ms);
          else if (latch_client_is_tls_refusal (local))
            g_propagate_error (error, g_steal_pointer (&local));
          else
            g_set_error (error, local->domain, local->code,
                         "reading the status answer of the daemon at %s: %s", label,
                         local->message);
          return FALSE;
        }
      any = TRUE;
      if (msg->kind == LATCH_MSG_STATUS_LINES)
        {
          for (guint i = 0; i < msg->lines->len; i++)
            g_ptr_array_add (lines, g_strdup (g_ptr_array_index (msg->lines, i)));
          continue;
        }
      if (msg->kind == LATCH_MSG_STATUS_END)
        {
          *rc_out = msg->rc;
          *reason_out = g_steal_pointer (&msg->reason);
          return TRUE;
        }
      if ((msg->kind == LATCH_MSG_LOCK_ANSWER || msg->kind == LATCH_MSG_SHUTDOWN_ANSWER)
          && msg->rc != LATCH_RC_OK)
        {
          set_refusal (h, msg, error);
          return FALSE;
        }
      g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED,
                   "the daemon at %s answered the status request with verb %d step %d",
                   label, msg->verb, msg->step);
      return FALSE;
    }
}

gboolean
latch_client_status (LatchHandle *h, const char *what, const char *resource, int port,
                     guint64 id, GPtrArray **lines_out, int *rc_out, char **reason_out,
                     GError **error)
{
  int timeout_ms = h->config->resource_timeout > 0 ? h->config->resource_timeout
                                                   : STATUS_DEFAULT_MS;
  gint64 deadline = latch_client_now_ms () + timeout_ms;
  g_autoptr (LatchMsg) request = latch_msg_new (LATCH_MSG_STATUS_REQUEST, LATCH_STEP_REQUEST);
  g_autoptr (GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *reason = NULL;
  int rc = 0;
  gboolean ok;

  g_return_val_if_fail (what != NULL, FALSE);
  g_return_val_if_fail (!h->locked && h->fd < 0, FALSE);

  if (!status_connect (h, deadline, error))
    return FALSE;
  /* At the TLS levels the asker announces its machine ID, which a daemon
   * at the mutual level checks against our certificate, as for a lock. */
  if (h->own_id != NULL)
    request->peerid = g_strdup (h->own_id);
  request->status_what = g_strdup (what);
  request->name = g_strdup (resource);
  request->port = port;
  request->id = id;
  ok = status_exchange (h, request, deadline, timeout_ms, lines, &rc, &reason, error);
  if (ok)
    /* The daemon closes after its final answer: its end first, so that
     * a TCP TIME_WAIT stays on its host. */
    latch_client_close_and_drain (h, TRUE);
  else
    latch_client_disconnect (h);
  if (!ok)
    return FALSE;
  *lines_out = g_steal_pointer (&lines);
  *rc_out = rc;
  *reason_out = g_steal_pointer (&reason);
  return TRUE;
}

void
latch_client_wait_target (const LatchHandle *h, int *port_out, guint64 *id_out)
{
  int fd = h->on_session ? h->shared->fd : h->fd;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int port = 0;

  if (fd >= 0 && getsockname (fd, (struct sockaddr *)&ss, &len) == 0)
    {
      if (ss.ss_family == AF_INET)
        port = ntohs (((struct sockaddr_in *)&ss)->sin_port);
      else if (ss.ss_family == AF_INET6)
        port = ntohs (((struct sockaddr_in6 *)&ss)->sin6_port);
    }
  *port_out = port;
  *id_out = h->on_session ? h->id : 0;
}
