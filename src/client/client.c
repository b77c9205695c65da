/* client.c: liblatch's handle: its life, its settings (setters and
 * getters) and its error text.
 *
 * liblatch is blocking, poll-based code: a library call waits, with the
 * handle's timeout, for what it needs.  The parts:
 *   client.c          the handle, setters, getters, latch_strerror ()
 *   client-connect.c  finding, starting and connecting to the daemon;
 *                     sending and receiving messages
 *   client-tls.c      the TLS glue: credentials, handshake, identities
 *   client-lock.c     the protocol exchanges: lock, unlock, shutdown
 * Answers are decoded with the lite codec so that the `latch` command
 * does not load libxml2 (doc/ARCHITECTURE.md). */
#include "config.h"

#include "latch.h"

#include "client/client.h"
#include "client/client-private.h"
#include "common/error.h"
#include "locker/rsrc-name.h"
#include "net/sockdir.h"
#include "settings/settings.h"
#include "tls/tls.h"

#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

LatchHandle *
latch_handle_new (void)
{
  LatchHandle *h = g_new0 (LatchHandle, 1);

  /* The defaults are the table's (settings/config.c), written once. */
  h->config = latch_config_new ();
  h->resource_type = latch_rsrc_name_classify (h->config->resource_name,
                                               strlen (h->config->resource_name));
  h->fd = -1;
  h->error = g_strdup ("");
  latch_client_session_attach (latch_client_session_new (), h);
  return h;
}

LatchHandle *
latch_handle_new_shared (LatchHandle *handle)
{
  LatchHandle *h;

  if (handle == NULL)
    return NULL;
  h = g_new0 (LatchHandle, 1);
  h->config = latch_config_copy (handle->config);
  h->resource_type = handle->resource_type;
  h->wait_func = handle->wait_func;
  h->wait_data = handle->wait_data;
  h->fd = -1;
  h->error = g_strdup ("");
  latch_client_session_attach (handle->shared, h);
  return h;
}

void
latch_handle_free (LatchHandle *h)
{
  if (h == NULL)
    return;
  /* In a forked child the lock is the parent's: the child only closes
   * its copies of the descriptors (latch.h, "fork"). */
  if (h->locked && latch_client_is_own_process (h))
    latch_unlock (h, 0);
  latch_client_disconnect (h);
  latch_client_session_detach (h);
  latch_sockpath_clear (&h->path);
  latch_config_free (h->config);
  if (h->creds != NULL)
    h->tls->creds_free (h->creds);
  g_free (h->element);
  g_free (h->error);
  g_clear_pointer (&h->warnings, g_ptr_array_unref);
  g_free (h->warning_text);
  g_free (h);
}

/* ---- options ------------------------------------------------------- */

#define CHECK_MUTABLE(h)                                                  \
  G_STMT_START                                                            \
  {                                                                       \
    if ((h) == NULL)                                                      \
      return LATCH_RC_NULL_OBJECT;                                        \
    if ((h)->locked)                                                      \
      return fail ((h), LATCH_RC_API_IMMUTABLE_HANDLE,                    \
                   "options cannot change while the handle holds a lock"); \
  }                                                                       \
  G_STMT_END

int
latch_set_resource_name (LatchHandle *h, const char *name)
{
  g_autoptr (GError) error = NULL;
  LatchRsrcType type;

  CHECK_MUTABLE (h);
  if (name == NULL || !latch_rsrc_name_check (name, &type, &error))
    return name == NULL ? fail (h, LATCH_RC_INVALID_RESOURCE_NAME, "resource name is NULL")
                        : fail_gerror (h, LATCH_RC_INVALID_RESOURCE_NAME, error);
  g_free (h->config->resource_name);
  h->config->resource_name = g_strdup (name);
  h->resource_type = type;
  return succeed (h);
}

int
latch_set_resource_quantity (LatchHandle *h, int quantity)
{
  CHECK_MUTABLE (h);
  if (quantity < 1)
    return fail (h, LATCH_RC_INVALID_OPTION,
                 "resource quantity %d: give 1 or more units", quantity);
  h->config->resource_quantity = quantity;
  return succeed (h);
}

int
latch_set_resource_timeout (LatchHandle *h, int timeout_ms)
{
  CHECK_MUTABLE (h);
  h->config->resource_timeout = timeout_ms;
  return succeed (h);
}

int
latch_set_resource_create (LatchHandle *h, int create)
{
  CHECK_MUTABLE (h);
  h->config->resource_create = create != 0;
  return succeed (h);
}

int
latch_set_resource_idle_lifespan (LatchHandle *h, int lifespan_ms)
{
  CHECK_MUTABLE (h);
  if (lifespan_ms < 0)
    return fail (h, LATCH_RC_INVALID_OPTION,
                 "resource idle lifespan %d is negative: give milliseconds, 0 or more",
                 lifespan_ms);
  h->config->resource_idle_lifespan = lifespan_ms;
  return succeed (h);
}

int
latch_set_lock_mode (LatchHandle *h, LatchLockMode mode)
{
  CHECK_MUTABLE (h);
  if ((int)mode < LATCH_LOCK_MODE_NL || mode > LATCH_LOCK_MODE_EX)
    return fail (h, LATCH_RC_INVALID_OPTION, "lock mode %d is not one of 0 (NL) to 5 (EX)",
                 (int)mode);
  h->config->lock_mode = mode;
  return succeed (h);
}

int
latch_set_socket_name (LatchHandle *h, const char *path)
{
  struct sockaddr_un sun;

  CHECK_MUTABLE (h);
  if (path != NULL && (path[0] == '\0' || strlen (path) >= sizeof sun.sun_path))
    return fail (h, LATCH_RC_INVALID_OPTION,
                 "socket name '%s' must be 1 to %zu bytes long", path,
                 sizeof sun.sun_path - 1);
  g_free (h->config->socket_name);
  h->config->socket_name = g_strdup (path);
  latch_sockpath_clear (&h->path);
  return succeed (h);
}

int
latch_set_daemon_lifespan (LatchHandle *h, int lifespan_ms)
{
  CHECK_MUTABLE (h);
  h->config->daemon_lifespan = lifespan_ms;
  return succeed (h);
}

int
latch_set_idle_lifespan_min (LatchHandle *h, int min_ms)
{
  CHECK_MUTABLE (h);
  if (min_ms < 0)
    return fail (h, LATCH_RC_INVALID_OPTION,
                 "minimum idle lifespan %d is negative: give milliseconds, 0 or more",
                 min_ms);
  h->config->idle_lifespan_min = min_ms;
  return succeed (h);
}

int
latch_set_daemon_trace_file (LatchHandle *h, const char *path)
{
  CHECK_MUTABLE (h);
  g_free (h->config->daemon_trace_file);
  h->config->daemon_trace_file = g_strdup (path);
  return succeed (h);
}

/* ---- TLS options: any change drops the loaded credentials. --------- */

static void
drop_creds (LatchHandle *h)
{
  if (h->creds != NULL)
    h->tls->creds_free (h->creds);
  h->creds = NULL;
}

static int
set_tls_path (LatchHandle *h, char **field, const char *path)
{
  CHECK_MUTABLE (h);
  drop_creds (h);
  g_free (*field);
  *field = path != NULL && *path != '\0' ? g_canonicalize_filename (path, NULL) : NULL;
  return succeed (h);
}

int
latch_set_tls_certificate (LatchHandle *h, const char *path)
{
  return set_tls_path (h, &h->config->tls_certificate, path);
}

int
latch_set_tls_private_key (LatchHandle *h, const char *path)
{
  return set_tls_path (h, &h->config->tls_private_key, path);
}

int
latch_set_tls_ca_certificate (LatchHandle *h, const char *path)
{
  return set_tls_path (h, &h->config->tls_ca_certificate, path);
}

int
latch_set_tls_crl (LatchHandle *h, const char *path)
{
  return set_tls_path (h, &h->config->tls_crl, path);
}

int
latch_set_tls_allowed_peers (LatchHandle *h, const char *path)
{
  return set_tls_path (h, &h->config->tls_allowed_peers, path);
}

int
latch_set_tls_priority (LatchHandle *h, const char *priority)
{
  CHECK_MUTABLE (h);
  drop_creds (h);
  g_free (h->config->tls_priority);
  h->config->tls_priority = priority != NULL && *priority != '\0' ? g_strdup (priority) : NULL;
  return succeed (h);
}

int
latch_set_tls_check_peer_id (LatchHandle *h, int check)
{
  CHECK_MUTABLE (h);
  drop_creds (h);
  h->config->tls_check_peer_id = check != 0;
  return succeed (h);
}

int
latch_set_tls_require_client_cert (LatchHandle *h, int require)
{
  CHECK_MUTABLE (h);
  h->config->tls_require_client_cert = require != 0;
  return succeed (h);
}

int
latch_set_security_level (LatchHandle *h, LatchSecurityLevel level)
{
  CHECK_MUTABLE (h);
  if (level < LATCH_SECURITY_DEFAULT || level > LATCH_SECURITY_MUTUAL)
    return fail (h, LATCH_RC_INVALID_OPTION,
                 "security level %d: give LATCH_SECURITY_DEFAULT, _CLEAR, _CHANNEL or "
                 "_MUTUAL", (int)level);
  drop_creds (h);
  g_free (h->config->security_level);
  h->config->security_level
      = level == LATCH_SECURITY_DEFAULT ? NULL : g_strdup (latch_security_level_name (level));
  return succeed (h);
}

int
latch_set_agent (LatchHandle *h, int agent)
{
  CHECK_MUTABLE (h);
  h->config->agent = agent != 0;
  return succeed (h);
}

int
latch_set_system (LatchHandle *h, int system)
{
  CHECK_MUTABLE (h);
  h->config->system = system != 0;
  latch_sockpath_clear (&h->path);
  return succeed (h);
}

int
latch_set_session_timeout (LatchHandle *h, int timeout_ms)
{
  CHECK_MUTABLE (h);
  if (timeout_ms < 0 || timeout_ms > 600000)
    return fail (h, LATCH_RC_INVALID_OPTION,
                 "session timeout %d ms: give 0 (none) to 600000", timeout_ms);
  h->config->session_timeout = timeout_ms;
  return succeed (h);
}

int
latch_set_append_trace_file (LatchHandle *h, int append)
{
  CHECK_MUTABLE (h);
  h->config->append_trace_file = append != 0;
  return succeed (h);
}

int
latch_set_verbose (LatchHandle *h, int verbose)
{
  CHECK_MUTABLE (h);
  h->config->verbose = verbose != 0;
  return succeed (h);
}

static int
set_string (LatchHandle *h, char **field, const char *value)
{
  g_free (*field);
  *field = value != NULL && value[0] != '\0' ? g_strdup (value) : NULL;
  latch_sockpath_clear (&h->path);
  return succeed (h);
}

static int
check_port (LatchHandle *h, int port)
{
  if (port < 1 || port > 65535)
    return fail (h, LATCH_RC_INVALID_OPTION, "port %d is not 1 to 65535", port);
  return LATCH_RC_OK;
}

int
latch_set_unicast_address (LatchHandle *h, const char *address)
{
  CHECK_MUTABLE (h);
  return set_string (h, &h->config->unicast_address, address);
}

int
latch_set_unicast_port (LatchHandle *h, int port)
{
  CHECK_MUTABLE (h);
  if (check_port (h, port) != LATCH_RC_OK)
    return LATCH_RC_INVALID_OPTION;
  h->config->unicast_port = port;
  latch_sockpath_clear (&h->path);
  return succeed (h);
}

int
latch_set_multicast_address (LatchHandle *h, const char *address)
{
  CHECK_MUTABLE (h);
  return set_string (h, &h->config->multicast_address, address);
}

int
latch_set_multicast_port (LatchHandle *h, int port)
{
  CHECK_MUTABLE (h);
  if (check_port (h, port) != LATCH_RC_OK)
    return LATCH_RC_INVALID_OPTION;
  h->config->multicast_port = port;
  latch_sockpath_clear (&h->path);
  return succeed (h);
}

int
latch_set_network_interface (LatchHandle *h, const char *iface)
{
  CHECK_MUTABLE (h);
  return set_string (h, &h->config->network_interface, iface);
}

int
latch_set_discovery_attempts (LatchHandle *h, int attempts)
{
  CHECK_MUTABLE (h);
  if (attempts < 1)
    return fail (h, LATCH_RC_INVALID_OPTION, "discovery attempts %d: give 1 or more", attempts);
  h->config->discovery_attempts = attempts;
  return succeed (h);
}

int
latch_set_discovery_timeout (LatchHandle *h, int timeout_ms)
{
  CHECK_MUTABLE (h);
  if (timeout_ms < 0)
    return fail (h, LATCH_RC_INVALID_OPTION, "discovery timeout %d ms is negative", timeout_ms);
  h->config->discovery_timeout = timeout_ms;
  return succeed (h);
}

int
latch_set_discovery_ttl (LatchHandle *h, int ttl)
{
  CHECK_MUTABLE (h);
  if (ttl < 1 || ttl > 255)
    return fail (h, LATCH_RC_INVALID_OPTION, "discovery TTL %d is not 1 to 255", ttl);
  h->config->discovery_ttl = ttl;
  return succeed (h);
}

int
latch_set_tcp_keepalive (LatchHandle *h, int time_s, int intvl_s, int probes)
{
  CHECK_MUTABLE (h);
  if (time_s < 1 || intvl_s < 1 || probes < 1)
    return fail (h, LATCH_RC_INVALID_OPTION,
                 "TCP keepalive %d s / %d s / %d probes: each must be 1 or more",
                 time_s, intvl_s, probes);
  h->config->tcp_keepalive_time = time_s;
  h->config->tcp_keepalive_intvl = intvl_s;
  h->config->tcp_keepalive_probes = probes;
  return succeed (h);
}

const char *
latch_get_resource_name (const LatchHandle *h)
{
  return h->config->resource_name;
}

int
latch_get_resource_timeout (const LatchHandle *h)
{
  return h->config->resource_timeout;
}

int
latch_get_resource_quantity (const LatchHandle *h)
{
  return h->config->resource_quantity;
}

int
latch_get_resource_create (const LatchHandle *h)
{
  return h->config->resource_create;
}

int
latch_get_resource_idle_lifespan (const LatchHandle *h)
{
  return h->config->resource_idle_lifespan;
}

LatchLockMode
latch_get_lock_mode (const LatchHandle *h)
{
  return h->config->lock_mode;
}

const char *
latch_get_socket_name (const LatchHandle *h)
{
  if (h->path.socket_path != NULL)
    return h->path.socket_path;
  return h->config->socket_name;
}

int
latch_get_daemon_lifespan (const LatchHandle *h)
{
  return h->config->daemon_lifespan;
}

int
latch_get_idle_lifespan_min (const LatchHandle *h)
{
  return h->config->idle_lifespan_min;
}

int
latch_get_system (const LatchHandle *h)
{
  return h->config->system;
}

const char *
latch_get_warnings (const LatchHandle *h)
{
  return h->warning_text;
}

const char *
latch_get_element (const LatchHandle *h)
{
  return h->element;
}

uint64_t
latch_get_fence (const LatchHandle *h)
{
  return h->fence;
}

int
latch_set_wait_callback (LatchHandle *h, LatchWaitFunc func, void *user_data)
{
  CHECK_MUTABLE (h);
  h->wait_func = func;
  h->wait_data = user_data;
  return succeed (h);
}

int
latch_client_set_config (LatchHandle *h, const LatchConfig *config)
{
  g_autoptr (GError) error = NULL;
  LatchRsrcType type;

  CHECK_MUTABLE (h);
  if (!latch_rsrc_name_check (config->resource_name, &type, &error))
    return fail_gerror (h, LATCH_RC_INVALID_RESOURCE_NAME, error);
  drop_creds (h);
  latch_config_free (h->config);
  h->config = latch_config_copy (config);
  h->resource_type = type;
  latch_sockpath_clear (&h->path);
  return succeed (h);
}

int
latch_get_fd (const LatchHandle *h)
{
  if (!h->locked)
    return -1;
  return h->on_session ? h->shared->fd : h->fd;
}

int
latch_is_locked (const LatchHandle *h)
{
  return h != NULL && h->locked;
}

const char *
latch_get_error (const LatchHandle *h)
{
  return h != NULL ? h->error : "handle is NULL";
}

const char *
latch_strerror (int rc)
{
  switch (rc)
    {
    case LATCH_RC_OK: return "success";
    case LATCH_RC_LOCK_ENQUEUED: return "request queued";
    case LATCH_RC_LOCK_WAIT_RESOURCE: return "waiting for the resource to be created";
    case LATCH_RC_LOCK_CANT_LOCK: return "lock not granted";
    case LATCH_RC_LOCK_BUSY: return "resource busy";
    case LATCH_RC_LOCK_CANT_WAIT: return "resource does not exist and cannot be waited for";
    case LATCH_RC_LOCK_IMPOSSIBLE: return "request can never be granted";
    case LATCH_RC_CONNECTION_REFUSED: return "connection refused";
    case LATCH_RC_CONNECTION_CLOSED: return "connection closed";
    case LATCH_RC_NETWORK_TIMEOUT: return "timeout expired";
    case LATCH_RC_API_IMMUTABLE_HANDLE: return "handle holds a lock: options are fixed";
    case LATCH_RC_DAEMON_QUIESCING: return "the daemon is quiescing: try the next one";
    case LATCH_RC_LIMIT_LOCKS_PER_CONNECTION: return "too many locks on one connection";
    case LATCH_RC_LIMIT_RESOURCES: return "the daemon keeps its maximum of resources";
    case LATCH_RC_LIMIT_WAITERS: return "too many requests wait for the resource";
    case LATCH_RC_LIMIT_IDLE_LIFESPAN: return "idle lifespan above the daemon's ceiling";
    case LATCH_RC_SHUTDOWN_NOT_ALLOWED: return "only root or the daemon's owner may stop it";
    case LATCH_RC_INTERNAL_ERROR: return "internal error";
    case LATCH_RC_DAEMON_NOT_STARTED: return "no daemon running and none could be started";
    case LATCH_RC_NULL_OBJECT: return "NULL handle";
    case LATCH_RC_INVALID_OPTION: return "invalid option";
    case LATCH_RC_PROTOCOL_ERROR: return "protocol error";
    case LATCH_RC_INVALID_RESOURCE_NAME: return "invalid resource name";
    case LATCH_RC_PROTOCOL_LEVEL_MISMATCH: return "protocol level mismatch";
    case LATCH_RC_API_INVALID_SEQUENCE: return "invalid call sequence";
    case LATCH_RC_UNIQUE_ID_DOES_NOT_MATCH: return "unique id does not match the certificate";
    case LATCH_RC_NO_TLS_CONNECTION: return "TLS required";
    case LATCH_RC_RESOURCE_INIT_ERROR: return "resource could not be initialised";
    case LATCH_RC_CONNECTION_CLOSED_BY_SERVER: return "connection closed by the daemon";
    case LATCH_RC_SYSTEM_ERROR: return "system call failed";
    default: return "unknown reason code";
    }
}
