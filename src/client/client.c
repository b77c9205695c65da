/* client.c: liblatch, the client side of the protocol.
 *
 * Blocking, poll-based code: a library call waits, with the handle's
 * timeout, for what it needs.  Answers are decoded with the lite codec so
 * that the `latch` command does not load libxml2 (doc/ARCHITECTURE.md). */
#include "config.h"

#include "latch.h"

#include "client/autostart.h"
#include "tls/tls-loader.h"
#include "common/autocleanup.h"
#include "common/error.h"
#include "common/log.h"
#include "locker/rsrc-name.h"
#include "net/discovery.h"
#include "net/sockdir.h"
#include "net/tcp.h"
#include "proto/framer.h"
#include "proto/msg.h"
#include "sys/machine-id.h"
#include "tls/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* While no daemon answers: how long to keep trying when the resource
 * timeout does not say (a daemon is starting, or quiescing). */
#define CONNECT_GRACE_MS 2000
/* A daemon on another host may be between two lives (one quiesced, the
 * next one starting): refusals are retried this long before the command
 * gives up. */
#define REMOTE_GRACE_MS 2000
/* Pause between two attempts, growing up to the maximum. */
#define RETRY_MIN_MS 2
#define RETRY_MAX_MS 100
/* The daemon answers a request at once (queued or not): how long its first
 * answer may take even when the timeout is shorter (e.g. -o 0). */
#define FIRST_ANSWER_MS 5000
/* How long to wait for the daemon's end after an unlock or shutdown. */
#define CLOSE_WAIT_MS 5000
/* How long to wait for the answer to a shutdown request: a latch daemon
 * answers at once, a FLoM daemon never (its client waits 1000 ms). */
#define SHUTDOWN_ANSWER_MS 1000

struct LatchHandle
{
  /* options */
  char *resource_name;
  int resource_timeout;
  int resource_quantity;
  LatchRsrcType resource_type;
  int resource_create;
  int resource_idle_lifespan;
  LatchLockMode lock_mode;
  char *socket_name;
  int daemon_lifespan;
  int idle_lifespan_min;
  char *daemon_trace_file;
  char **daemon_args;     /* latch_client_set_daemon_args() */
  LatchWaitFunc wait_func;
  void *wait_data;
  int append_trace_file;
  int verbose;
  char *unicast_address;
  int unicast_port;
  char *multicast_address;
  int multicast_port;
  char *network_interface;
  int discovery_attempts;
  int discovery_timeout;
  int discovery_ttl;
  LatchKeepalive keepalive;
  gint64 connect_deadline;  /* of the connect_daemon () under way; -1: none */
  /* TLS settings (paths absolute) */
  char *tls_certificate;
  char *tls_private_key;
  char *tls_ca_certificate;
  char *tls_crl;
  char *tls_priority;
  char *tls_allowed_peers;
  int tls_check_peer_id;
  int tls_require_client_cert;
  LatchSecurityLevel security_level;

  /* state */
  LatchSockPath path;
  LatchSecurityLevel level;   /* resolved by prepare_security () */
  const LatchTlsModule *tls;  /* loaded when a TLS level is first used */
  LatchTlsCreds *creds;       /* loaded once; dropped when a TLS setting changes */
  LatchTlsSession *session;   /* of the connection, at TLS levels */
  const char *own_id;         /* the machine ID announced at TLS levels; NULL: none */
  GPtrArray *warnings;        /* from loading the credentials, not yet reported */
  char *warning_text;         /* latch_get_warnings (): of the last lock or shutdown */
  guint n_bare_closes;        /* closes before any answer, without a word, in a row */
  gsize request_len;          /* bytes of the last lock request */
  int fd;
  gboolean locked;
  char *element;
  guint64 fence;
  char *error;
};

LatchHandle *
latch_handle_new (void)
{
  LatchHandle *h = g_new0 (LatchHandle, 1);

  h->resource_name = g_strdup (LATCH_DEFAULT_RESOURCE_NAME);
  h->resource_type = LATCH_RSRC_SIMPLE;
  h->resource_timeout = -1;
  h->resource_quantity = 1;
  h->resource_create = 1;
  h->lock_mode = LATCH_LOCK_MODE_EX;
  h->daemon_lifespan = LATCH_DEFAULT_DAEMON_LIFESPAN;
  h->idle_lifespan_min = LATCH_DEFAULT_IDLE_LIFESPAN_MIN;
  h->unicast_port = LATCH_DEFAULT_PORT;
  h->multicast_port = LATCH_DEFAULT_PORT;
  h->discovery_attempts = 2;
  h->discovery_timeout = 500;
  h->discovery_ttl = 1;
  h->keepalive = (LatchKeepalive){ 60, 10, 6 };
  h->tls_require_client_cert = 1;
  h->fd = -1;
  h->error = g_strdup ("");
  return h;
}

static void
disconnect (LatchHandle *h)
{
  if (h->session != NULL)
    h->tls->session_free (h->session);
  h->session = NULL;
  if (h->fd >= 0)
    close (h->fd);
  h->fd = -1;
  h->locked = FALSE;
}

void
latch_handle_free (LatchHandle *h)
{
  if (h == NULL)
    return;
  if (h->locked)
    latch_unlock (h, 0);
  disconnect (h);
  latch_sockpath_clear (&h->path);
  g_free (h->resource_name);
  g_free (h->socket_name);
  g_free (h->daemon_trace_file);
  g_strfreev (h->daemon_args);
  g_free (h->unicast_address);
  g_free (h->multicast_address);
  g_free (h->network_interface);
  g_free (h->tls_certificate);
  g_free (h->tls_private_key);
  g_free (h->tls_ca_certificate);
  g_free (h->tls_crl);
  g_free (h->tls_priority);
  g_free (h->tls_allowed_peers);
  if (h->creds != NULL)
    h->tls->creds_free (h->creds);
  g_free (h->element);
  g_free (h->error);
  g_clear_pointer (&h->warnings, g_ptr_array_unref);
  g_free (h->warning_text);
  g_free (h);
}

static int G_GNUC_PRINTF (3, 4)
fail (LatchHandle *h, int rc, const char *format, ...)
{
  va_list ap;

  g_free (h->error);
  va_start (ap, format);
  h->error = g_strdup_vprintf (format, ap);
  va_end (ap);
  return rc;
}

static int
fail_gerror (LatchHandle *h, int rc, const GError *error)
{
  return fail (h, rc, "%s", error->message);
}

static int
succeed (LatchHandle *h)
{
  h->error[0] = '\0';
  return LATCH_RC_OK;
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
  g_free (h->resource_name);
  h->resource_name = g_strdup (name);
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
  h->resource_quantity = quantity;
  return succeed (h);
}

int
latch_set_resource_timeout (LatchHandle *h, int timeout_ms)
{
  CHECK_MUTABLE (h);
  h->resource_timeout = timeout_ms;
  return succeed (h);
}

int
latch_set_resource_create (LatchHandle *h, int create)
{
  CHECK_MUTABLE (h);
  h->resource_create = create != 0;
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
  h->resource_idle_lifespan = lifespan_ms;
  return succeed (h);
}

int
latch_set_lock_mode (LatchHandle *h, LatchLockMode mode)
{
  CHECK_MUTABLE (h);
  if ((int)mode < LATCH_LOCK_MODE_NL || mode > LATCH_LOCK_MODE_EX)
    return fail (h, LATCH_RC_INVALID_OPTION, "lock mode %d is not one of 0 (NL) to 5 (EX)",
                 (int)mode);
  h->lock_mode = mode;
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
  g_free (h->socket_name);
  h->socket_name = g_strdup (path);
  latch_sockpath_clear (&h->path);
  return succeed (h);
}

int
latch_set_daemon_lifespan (LatchHandle *h, int lifespan_ms)
{
  CHECK_MUTABLE (h);
  h->daemon_lifespan = lifespan_ms;
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
  h->idle_lifespan_min = min_ms;
  return succeed (h);
}

int
latch_set_daemon_trace_file (LatchHandle *h, const char *path)
{
  CHECK_MUTABLE (h);
  g_free (h->daemon_trace_file);
  h->daemon_trace_file = g_strdup (path);
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
  return set_tls_path (h, &h->tls_certificate, path);
}

int
latch_set_tls_private_key (LatchHandle *h, const char *path)
{
  return set_tls_path (h, &h->tls_private_key, path);
}

int
latch_set_tls_ca_certificate (LatchHandle *h, const char *path)
{
  return set_tls_path (h, &h->tls_ca_certificate, path);
}

int
latch_set_tls_crl (LatchHandle *h, const char *path)
{
  return set_tls_path (h, &h->tls_crl, path);
}

int
latch_set_tls_allowed_peers (LatchHandle *h, const char *path)
{
  return set_tls_path (h, &h->tls_allowed_peers, path);
}

int
latch_set_tls_priority (LatchHandle *h, const char *priority)
{
  CHECK_MUTABLE (h);
  drop_creds (h);
  g_free (h->tls_priority);
  h->tls_priority = priority != NULL && *priority != '\0' ? g_strdup (priority) : NULL;
  return succeed (h);
}

int
latch_set_tls_check_peer_id (LatchHandle *h, int check)
{
  CHECK_MUTABLE (h);
  drop_creds (h);
  h->tls_check_peer_id = check != 0;
  return succeed (h);
}

int
latch_set_tls_require_client_cert (LatchHandle *h, int require)
{
  CHECK_MUTABLE (h);
  h->tls_require_client_cert = require != 0;
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
  h->security_level = level;
  return succeed (h);
}

static LatchTlsSettings
tls_settings (const LatchHandle *h)
{
  LatchTlsSettings s = {
    .level = h->security_level,
    .certificate = h->tls_certificate,
    .private_key = h->tls_private_key,
    .ca_certificate = h->tls_ca_certificate,
    .crl = h->tls_crl,
    .priority = h->tls_priority,
    .check_peer_id = h->tls_check_peer_id,
    .allowed_peers = h->tls_allowed_peers,
    .require_client_cert = h->tls_require_client_cert,
  };
  return s;
}

/* Decides the level; at a TLS level, loads the module and the
 * credentials (once).  A clear level loads nothing. */
static int
prepare_security (LatchHandle *h)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) warnings = NULL;
  LatchTlsSettings s = tls_settings (h);
  LatchSecurityLevel level;

  if (!latch_tls_settings_resolve (&s, LATCH_TLS_CLIENT, &level, &error))
    return fail_gerror (h, LATCH_RC_INVALID_OPTION, error);
  h->level = level;
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
  /* Reported with the outcome (report_warnings ()): with a refusal they
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
static int
report_warnings (LatchHandle *h, int rc)
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

int
latch_set_append_trace_file (LatchHandle *h, int append)
{
  CHECK_MUTABLE (h);
  h->append_trace_file = append != 0;
  return succeed (h);
}

int
latch_set_verbose (LatchHandle *h, int verbose)
{
  CHECK_MUTABLE (h);
  h->verbose = verbose != 0;
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
  return set_string (h, &h->unicast_address, address);
}

int
latch_set_unicast_port (LatchHandle *h, int port)
{
  CHECK_MUTABLE (h);
  if (check_port (h, port) != LATCH_RC_OK)
    return LATCH_RC_INVALID_OPTION;
  h->unicast_port = port;
  latch_sockpath_clear (&h->path);
  return succeed (h);
}

int
latch_set_multicast_address (LatchHandle *h, const char *address)
{
  CHECK_MUTABLE (h);
  return set_string (h, &h->multicast_address, address);
}

int
latch_set_multicast_port (LatchHandle *h, int port)
{
  CHECK_MUTABLE (h);
  if (check_port (h, port) != LATCH_RC_OK)
    return LATCH_RC_INVALID_OPTION;
  h->multicast_port = port;
  latch_sockpath_clear (&h->path);
  return succeed (h);
}

int
latch_set_network_interface (LatchHandle *h, const char *iface)
{
  CHECK_MUTABLE (h);
  return set_string (h, &h->network_interface, iface);
}

int
latch_set_discovery_attempts (LatchHandle *h, int attempts)
{
  CHECK_MUTABLE (h);
  if (attempts < 1)
    return fail (h, LATCH_RC_INVALID_OPTION, "discovery attempts %d: give 1 or more", attempts);
  h->discovery_attempts = attempts;
  return succeed (h);
}

int
latch_set_discovery_timeout (LatchHandle *h, int timeout_ms)
{
  CHECK_MUTABLE (h);
  if (timeout_ms < 0)
    return fail (h, LATCH_RC_INVALID_OPTION, "discovery timeout %d ms is negative", timeout_ms);
  h->discovery_timeout = timeout_ms;
  return succeed (h);
}

int
latch_set_discovery_ttl (LatchHandle *h, int ttl)
{
  CHECK_MUTABLE (h);
  if (ttl < 1 || ttl > 255)
    return fail (h, LATCH_RC_INVALID_OPTION, "discovery TTL %d is not 1 to 255", ttl);
  h->discovery_ttl = ttl;
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
  h->keepalive = (LatchKeepalive){ time_s, intvl_s, probes };
  return succeed (h);
}

const char *
latch_get_resource_name (const LatchHandle *h)
{
  return h->resource_name;
}

int
latch_get_resource_timeout (const LatchHandle *h)
{
  return h->resource_timeout;
}

int
latch_get_resource_quantity (const LatchHandle *h)
{
  return h->resource_quantity;
}

int
latch_get_resource_create (const LatchHandle *h)
{
  return h->resource_create;
}

int
latch_get_resource_idle_lifespan (const LatchHandle *h)
{
  return h->resource_idle_lifespan;
}

LatchLockMode
latch_get_lock_mode (const LatchHandle *h)
{
  return h->lock_mode;
}

const char *
latch_get_socket_name (const LatchHandle *h)
{
  if (h->path.socket_path != NULL)
    return h->path.socket_path;
  return h->socket_name;
}

int
latch_get_daemon_lifespan (const LatchHandle *h)
{
  return h->daemon_lifespan;
}

int
latch_get_idle_lifespan_min (const LatchHandle *h)
{
  return h->idle_lifespan_min;
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

void
latch_client_set_daemon_args (LatchHandle *h, char *const *args)
{
  g_return_if_fail (h != NULL);
  g_strfreev (h->daemon_args);
  h->daemon_args = g_strdupv ((char **)args);
}

int
latch_get_fd (const LatchHandle *h)
{
  return h->locked ? h->fd : -1;
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

/* ---- connection ---------------------------------------------------- */

static gint64
now_ms (void)
{
  return g_get_monotonic_time () / 1000;
}

/* Milliseconds left until deadline (-1: none) for poll(). */
static int
ms_left (gint64 deadline)
{
  gint64 left;

  if (deadline < 0)
    return -1;
  left = deadline - now_ms ();
  return (int)CLAMP (left, 0, G_MAXINT);
}

typedef enum
{
  CONNECT_OK,
  CONNECT_ABSENT, /* nobody listens: a daemon may be started */
  CONNECT_FAILED,
} ConnectResult;

static ConnectResult
try_connect_unix (LatchHandle *h, GError **error)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  g_auto (LatchFd) fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int rc;

  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_CONNECT, "socket: %s", g_strerror (saved));
      return CONNECT_FAILED;
    }
  g_strlcpy (sun.sun_path, h->path.socket_path, sizeof sun.sun_path);
  do
    rc = connect (fd, (struct sockaddr *)&sun, sizeof sun);
  while (rc != 0 && errno == EINTR);
  if (rc != 0)
    {
      int saved = errno;
      if (saved == ENOENT || saved == ECONNREFUSED)
        return CONNECT_ABSENT;
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_CONNECT, "cannot connect to %s: %s",
                   h->path.socket_path, g_strerror (saved));
      return CONNECT_FAILED;
    }
  if (h->path.is_private)
    {
      uid_t uid;

      if (!latch_socket_peer_uid (fd, &uid, error))
        return CONNECT_FAILED;
      if (uid != geteuid ())
        {
          g_set_error (error, LATCH_ERROR, LATCH_ERROR_CONNECT,
                       "the daemon at %s runs as uid %u, not as you (uid %u): "
                       "refusing it", h->path.socket_path, (unsigned)uid,
                       (unsigned)geteuid ());
          return CONNECT_FAILED;
        }
    }
  h->fd = latch_steal_fd (&fd);
  return CONNECT_OK;
}

static ConnectResult
try_connect_tcp (LatchHandle *h, const char *host, int port, GError **error)
{
  switch (latch_tcp_connect (host, port, h->network_interface, &h->keepalive,
                             ms_left (h->connect_deadline), &h->fd, error))
    {
    case LATCH_TCP_OK:
      return CONNECT_OK;
    case LATCH_TCP_REFUSED:
      return CONNECT_ABSENT;
    default:
      return CONNECT_FAILED;
    }
}

/* Finds the daemon: over TCP at the unicast address; by discovery on the
 * multicast group, then over TCP where it answered from; else through
 * the local socket (FLoM's order). */
static ConnectResult
try_connect (LatchHandle *h, GError **error)
{
  if (h->unicast_address != NULL)
    return try_connect_tcp (h, h->unicast_address, h->unicast_port, error);
  if (h->multicast_address != NULL)
    {
      LatchDiscoveryGroup group = { h->multicast_address, h->multicast_port,
                                    h->network_interface, h->discovery_ttl };
      g_autofree char *address = NULL;
      int port;

      if (!latch_discovery_find (&group, h->discovery_attempts, h->discovery_timeout,
                                 &address, &port, error))
        {
          if (!g_error_matches (*error, LATCH_ERROR, LATCH_ERROR_NO_DAEMON))
            return CONNECT_FAILED;
          g_clear_error (error);
          return CONNECT_ABSENT;
        }
      return try_connect_tcp (h, address, port, error);
    }
  return try_connect_unix (h, error);
}

/* Where the daemon is, in words. */
static char *
endpoint_label (const LatchHandle *h)
{
  if (h->unicast_address != NULL)
    return g_strdup_printf ("%s port %d", h->unicast_address, h->unicast_port);
  if (h->multicast_address != NULL)
    return g_strdup_printf ("multicast group %s port %d", h->multicast_address,
                            h->multicast_port);
  return g_strdup (h->path.socket_path);
}

/* A FLoM daemon reads at most this many bytes of a message, and closes
 * the connection on a longer one (spec protocol.md §2). */
#define FLOM_MSG_MAX 511

/* The daemon closed the connection twice in a row before any answer,
 * without a word.  A latch daemon always says why it refuses (or that it
 * quiesces), and one that was exiting is not there at the next attempt:
 * this is a refusal, most likely a FLoM daemon's.  Its likely reasons for
 * this request, in one line. */
static int
bare_close_failure (LatchHandle *h, gboolean in_handshake)
{
  g_autofree char *label = endpoint_label (h);
  const char *id = h->own_id != NULL ? h->own_id : "";

  if (in_handshake)
    return fail (h, LATCH_RC_CONNECTION_CLOSED_BY_SERVER,
                 "the daemon at %s closed the connection during the TLS handshake, "
                 "without an alert: a FLoM daemon does that when it cannot load its own "
                 "certificate, key or CA file", label);
  if (h->request_len > FLOM_MSG_MAX)
    {
      gsize name_b64 = 4 * ((strlen (h->resource_name) + 2) / 3);
      gsize overhead = h->request_len - name_b64;
      gsize max_name = overhead < FLOM_MSG_MAX ? 3 * ((FLOM_MSG_MAX - overhead) / 4) : 0;

      return fail (h, LATCH_RC_CONNECTION_CLOSED_BY_SERVER,
                   "the daemon at %s closed the connection without answering: the request "
                   "is %" G_GSIZE_FORMAT " bytes, and a FLoM daemon closes on a message "
                   "over its %d-byte limit (resource names of at most %" G_GSIZE_FORMAT
                   " bytes fit)", label, h->request_len, FLOM_MSG_MAX, max_name);
    }
  if (h->level == LATCH_SECURITY_CLEAR)
    return fail (h, LATCH_RC_CONNECTION_CLOSED_BY_SERVER,
                 "the daemon at %s closed the connection without answering: a FLoM daemon "
                 "does that when it requires TLS (give --tls-certificate, "
                 "--tls-private-key and --tls-ca-certificate as its nodes have)", label);
  if (*id == '\0')
    return fail (h, LATCH_RC_CONNECTION_CLOSED_BY_SERVER,
                 "the daemon at %s closed the connection without answering: a FLoM daemon "
                 "does that when it refuses our certificate, or when it checks peer IDs "
                 "(TlsCheckPeerId=yes): this node has no readable machine ID "
                 "(/etc/machine-id), so we announced none", label);
  return fail (h, LATCH_RC_CONNECTION_CLOSED_BY_SERVER,
               "the daemon at %s closed the connection without answering: a FLoM daemon "
               "does that when it refuses our certificate, or when it checks peer IDs "
               "(TlsCheckPeerId=yes) and the machine ID we announced (%s) is not our "
               "certificate's CN", label, id);
}

/* Is a daemon alive on this socket (holding its lock file), even if it
 * does not listen (quiescing, or about to listen)? */
static gboolean
daemon_holds_lock_file (const LatchHandle *h)
{
  g_auto (LatchFd) fd = open (h->path.lock_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

  if (fd < 0)
    return FALSE;
  if (flock (fd, LOCK_SH | LOCK_NB) != 0)
    return errno == EWOULDBLOCK;
  flock (fd, LOCK_UN);
  return FALSE;
}

/* Waits until fd is ready the way the TLS layer wants (or for input).
 * LATCH_ERROR_TIMEOUT when the deadline passes first. */
static gboolean
wait_ready (int fd, LatchTlsStatus want, gint64 deadline, GError **error)
{
  struct pollfd pfd = { .fd = fd, .events = want == LATCH_TLS_WANT_WRITE ? POLLOUT : POLLIN };

  for (;;)
    {
      int rc = poll (&pfd, 1, ms_left (deadline));

      if (rc < 0 && errno == EINTR)
        continue;
      if (rc < 0)
        {
          int saved = errno;
          g_set_error (error, LATCH_ERROR, LATCH_ERROR_IO, "poll: %s", g_strerror (saved));
          return FALSE;
        }
      if (rc == 0)
        {
          g_set_error_literal (error, LATCH_ERROR, LATCH_ERROR_TIMEOUT, "timed out");
          return FALSE;
        }
      return TRUE;
    }
}

/* The TLS handshake on the connected h->fd, bounded by
 * LATCH_TLS_HANDSHAKE_MS.  *retry: the daemon closed the connection
 * before the handshake ended (it is going away), try again. */
static int
start_tls (LatchHandle *h, const char *label, gboolean *retry)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *peer = g_strdup_printf ("the daemon at %s", label);
  gint64 deadline = now_ms () + LATCH_TLS_HANDSHAKE_MS;
  int flags = fcntl (h->fd, F_GETFL);

  if (flags < 0 || fcntl (h->fd, F_SETFL, flags | O_NONBLOCK) < 0)
    {
      int saved = errno;
      disconnect (h);
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
      if (!wait_ready (h->fd, status, deadline, &error))
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
  disconnect (h);
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

static void
pause_before_retry (guint attempt, gint64 deadline)
{
  int ms = MIN (RETRY_MIN_MS << MIN (attempt, 6u), RETRY_MAX_MS);
  int left = ms_left (deadline);

  if (left >= 0)
    ms = MIN (ms, left);
  g_usleep ((gulong)ms * 1000);
}

/* Connects to the daemon, starting one when none answers and the daemon
 * lifespan allows it.  Keeps trying until deadline (-1: forever) while a
 * daemon is starting or quiescing. */
static int
connect_daemon (LatchHandle *h, gint64 deadline, gboolean may_start)
{
  g_autoptr (GError) error = NULL;
  guint attempt = 0;

  g_autofree char *label = NULL;
  gboolean resolved;
  gint64 remote_until = -1;

  if (h->path.lock_path == NULL)
    {
      /* A network daemon's lock file lives in our private directory:
       * create it even when only shutting a remote daemon down. */
      if (h->unicast_address != NULL)
        resolved = latch_sockpath_for_network ("tcp", h->unicast_address, h->unicast_port,
                                               TRUE, &h->path, &error);
      else if (h->multicast_address != NULL)
        resolved = latch_sockpath_for_network ("mcast", h->multicast_address,
                                               h->multicast_port, TRUE, &h->path, &error);
      else
        resolved = latch_sockpath_resolve (h->socket_name, may_start, &h->path, &error);
      if (!resolved)
        return fail_gerror (h, LATCH_RC_DAEMON_NOT_STARTED, error);
    }
  label = endpoint_label (h);
  h->connect_deadline = deadline;

  for (;; attempt++)
    {
      LatchSpawnArgs args = { h->socket_name, h->daemon_lifespan, h->idle_lifespan_min,
                              h->daemon_trace_file,
                              h->append_trace_file, h->verbose,
                              h->unicast_address, h->unicast_port,
                              h->multicast_address, h->multicast_port,
                              h->network_interface, h->discovery_ttl, h->keepalive,
                              tls_settings (h), h->daemon_args };

      switch (try_connect (h, &error))
        {
        case CONNECT_OK:
          {
            gboolean retry = FALSE;
            int rc = h->level == LATCH_SECURITY_CLEAR ? LATCH_RC_OK
                                                      : start_tls (h, label, &retry);

            if (!retry)
              return rc;
            /* Closed during the handshake without an alert: a daemon
             * exiting (the next attempt finds none, or a new one), or,
             * twice in a row, one that refuses us without a word. */
            if (++h->n_bare_closes >= 2 || (deadline >= 0 && now_ms () >= deadline))
              return bare_close_failure (h, TRUE);
            pause_before_retry (attempt, deadline);
            continue;
          }
        case CONNECT_FAILED:
          return fail_gerror (h, LATCH_RC_CONNECTION_REFUSED, error);
        case CONNECT_ABSENT:
          /* Whatever answers next is another daemon. */
          h->n_bare_closes = 0;
          break;
        }
      if (!may_start || h->daemon_lifespan == 0)
        return fail (h, LATCH_RC_DAEMON_NOT_STARTED,
                     "no daemon is running at %s%s", label,
                     may_start ? " and -d 0 (daemon lifespan 0) forbids starting one" : "");
      if (!daemon_holds_lock_file (h))
        switch (latch_autostart_spawn (&args, &error))
          {
          case LATCH_SPAWN_STARTED:
            continue;
          case LATCH_SPAWN_FAILED:
            return fail_gerror (h, LATCH_RC_DAEMON_NOT_STARTED, error);
          case LATCH_SPAWN_NOT_LOCAL:
            if (remote_until < 0)
              remote_until = now_ms () + REMOTE_GRACE_MS;
            if (now_ms () >= remote_until)
              return fail (h, LATCH_RC_DAEMON_NOT_STARTED, "no daemon answers at %s, and %s",
                           label, error->message);
            latch_log_debug ("no daemon answers at %s and it is not local: retrying", label);
            g_clear_error (&error);
            pause_before_retry (attempt, remote_until);
            continue;
          case LATCH_SPAWN_BUSY:
            break;
          }
      /* Another daemon holds the lock file: it is starting (it will
       * listen in a moment) or quiescing (it will exit once its holders
       * are done).  Either way, wait and try again. */
      if (deadline >= 0 && now_ms () >= deadline)
        return fail (h, LATCH_RC_LOCK_BUSY,
                     "the daemon at %s is shutting down and a new one cannot start "
                     "before it is gone", label);
      pause_before_retry (attempt, deadline);
    }
}

static gboolean
send_all (LatchHandle *h, const char *data, gsize len, GError **error)
{
  gint64 deadline = now_ms () + CLOSE_WAIT_MS;

  while (len > 0)
    {
      ssize_t n;

      if (h->session != NULL)
        {
          gsize sent = 0;
          LatchTlsStatus status = h->tls->send (h->session, data, len, &sent, error);

          if (status == LATCH_TLS_FAILED)
            return FALSE;
          if (status != LATCH_TLS_OK)
            {
              if (!wait_ready (h->fd, status, deadline, error))
                return FALSE;
              continue;
            }
          data += sent;
          len -= sent;
          continue;
        }
      n = send (h->fd, data, len, MSG_NOSIGNAL);
      if (n < 0)
        {
          int saved = errno;
          if (saved == EINTR)
            continue;
          g_set_error (error, LATCH_ERROR,
                       saved == EPIPE || saved == ECONNRESET ? LATCH_ERROR_CONNECTION_CLOSED
                                                             : LATCH_ERROR_IO,
                       "send to the daemon: %s", g_strerror (saved));
          return FALSE;
        }
      data += n;
      len -= (gsize)n;
    }
  return TRUE;
}

static gboolean
send_msg (LatchHandle *h, const LatchMsg *msg, GError **error)
{
  g_autoptr (GString) out = g_string_sized_new (256);

  latch_msg_encode (msg, out);
  return send_all (h, out->str, out->len, error);
}

/* Reads what is there (*got 0: end of stream), waiting until deadline
 * (-1: forever; LATCH_ERROR_TIMEOUT when it passes). */
static gboolean
recv_some (LatchHandle *h, char *buf, gsize size, gint64 deadline, gsize *got,
           GError **error)
{
  LatchTlsStatus want = LATCH_TLS_WANT_READ;

  for (;;)
    {
      ssize_t n;

      if ((h->session == NULL || h->tls->pending (h->session) == 0)
          && !wait_ready (h->fd, want, deadline, error))
        return FALSE;
      if (h->session != NULL)
        {
          want = h->tls->recv (h->session, buf, size, got, error);
          if (want == LATCH_TLS_OK)
            return TRUE;
          if (want == LATCH_TLS_FAILED)
            return FALSE;
          continue;
        }
      n = recv (h->fd, buf, size, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno != ECONNRESET)
        {
          int saved = errno;
          g_set_error (error, LATCH_ERROR, LATCH_ERROR_IO, "recv from the daemon: %s",
                       g_strerror (saved));
          return FALSE;
        }
      *got = n < 0 ? 0 : (gsize)n;
      return TRUE;
    }
}

/* Reads the next message, waiting until deadline (-1: forever).
 * LATCH_ERROR_CONNECTION_CLOSED on EOF, LATCH_ERROR_TIMEOUT when the
 * deadline passes. */
static LatchMsg *
read_msg (LatchHandle *h, LatchFramer *framer, gint64 deadline, GError **error)
{
  for (;;)
    {
      g_autoptr (GBytes) bytes = NULL;
      char buf[1024];
      gsize n;

      if (!latch_framer_pop (framer, &bytes, error))
        return NULL;
      if (bytes != NULL)
        {
          LatchMsg *msg = NULL;
          gsize len;
          const char *data = g_bytes_get_data (bytes, &len);

          if (!latch_codec_lite_decode (data, len, &msg, error))
            return NULL;
          return msg;
        }
      if (!recv_some (h, buf, sizeof buf, deadline, &n, error))
        return NULL;
      if (n == 0)
        {
          g_set_error (error, LATCH_ERROR, LATCH_ERROR_CONNECTION_CLOSED,
                       "the daemon closed the connection");
          return NULL;
        }
      latch_framer_push (framer, buf, n);
    }
}

/* ---- lock ---------------------------------------------------------- */

typedef enum
{
  ATTEMPT_DONE,      /* *rc is the outcome */
  ATTEMPT_QUIESCING, /* the daemon is quiescing: try again (the next daemon) */
  ATTEMPT_CLOSED,    /* closed (or reset) before any answer, without a word */
} AttemptResult;

static int refusal_failure (LatchHandle *h, int rc);

static int
first_answer_failure (LatchHandle *h, int rc)
{
  switch (rc)
    {
    case LATCH_RC_NO_TLS_CONNECTION:
    case LATCH_RC_UNIQUE_ID_DOES_NOT_MATCH:
    case LATCH_RC_CONNECTION_REFUSED:
      return refusal_failure (h, rc);
    case LATCH_RC_LOCK_BUSY:
      return fail (h, rc, "resource '%s' is busy", h->resource_name);
    case LATCH_RC_LOCK_CANT_WAIT:
      return fail (h, rc, "resource '%s' does not exist and may not be created "
                   "(create is off), and the timeout does not allow waiting for it",
                   h->resource_name);
    case LATCH_RC_LOCK_IMPOSSIBLE:
      if (h->resource_type == LATCH_RSRC_NUMERIC)
        return fail (h, rc, "the request for %d units of '%s' can never be granted "
                     "(it needs 1 to the capacity in brackets)",
                     h->resource_quantity, h->resource_name);
      return fail (h, rc, "the request for '%s' can never be granted (its capacity "
                   "in brackets is 0)", h->resource_name);
    case LATCH_RC_RESOURCE_INIT_ERROR:
      return fail (h, rc, "the daemon could not create resource '%s'%s", h->resource_name,
                   h->resource_type == LATCH_RSRC_TIMESTAMP
                       ? ": a timestamp format needs a time field (%S, %M, %H, %T, "
                         "#f... and the like) and must give at most 999 bytes"
                       : "");
    case LATCH_RC_INVALID_RESOURCE_NAME:
      return fail (h, rc, "the daemon refused the resource name '%s'", h->resource_name);
    case LATCH_RC_LIMIT_LOCKS_PER_CONNECTION:
      return fail (h, rc, "the daemon refused the lock on '%s': the connection already holds "
                   "or asks for as many locks as the daemon allows "
                   "([Daemon] MaxLocksPerConnection)", h->resource_name);
    case LATCH_RC_LIMIT_RESOURCES:
      return fail (h, rc, "the daemon refused to create resource '%s': it already keeps as "
                   "many resources as it allows ([Daemon] MaxResources); retry once "
                   "idle ones expire, or raise the daemon's limit", h->resource_name);
    case LATCH_RC_LIMIT_WAITERS:
      return fail (h, rc, "the daemon refused to queue for '%s': as many requests as it "
                   "allows already wait for it ([Daemon] MaxWaitersPerResource)",
                   h->resource_name);
    case LATCH_RC_LIMIT_IDLE_LIFESPAN:
      return fail (h, rc, "the daemon refused the idle lifespan of %d ms for '%s': it is "
                   "above the daemon's ceiling ([Daemon] IdleLifespanMax); ask for less "
                   "with -i", h->resource_idle_lifespan, h->resource_name);
    default:
      return fail (h, LATCH_RC_PROTOCOL_ERROR,
                   "the daemon answered with reason code %d (%s)", rc, latch_strerror (rc));
    }
}

static gboolean
is_tls_refusal (const GError *error)
{
  return error->domain == LATCH_ERROR
         && (error->code == LATCH_ERROR_TLS || error->code == LATCH_ERROR_TLS_REFUSED
             || error->code == LATCH_ERROR_TLS_VERIFY);
}

/* At the mutual level: does the daemon's announced ID match its
 * certificate? */
static gboolean
daemon_id_matches (LatchHandle *h, const LatchMsg *answer, GError **error)
{
  if (h->level != LATCH_SECURITY_MUTUAL || h->session == NULL)
    return TRUE;
  return h->tls->check_peer_id (h->session, answer->peerid != NULL ? answer->peerid : "",
                                error);
}

/* The daemon refused to serve this connection: why, in words. */
static int
refusal_failure (LatchHandle *h, int rc)
{
  g_autofree char *label = endpoint_label (h);

  switch (rc)
    {
    case LATCH_RC_NO_TLS_CONNECTION:
      return fail (h, rc, "the daemon at %s requires TLS: give --tls-certificate, "
                   "--tls-private-key and --tls-ca-certificate (or the [TLS] group of "
                   "the configuration) as its nodes have", label);
    case LATCH_RC_UNIQUE_ID_DOES_NOT_MATCH:
      if (h->level != LATCH_SECURITY_MUTUAL && h->own_id != NULL)
        return fail (h, rc, "the daemon at %s requires mutual authentication and refused "
                     "us: the machine ID we announced (%s) is not our certificate's "
                     "identity (give this node a certificate with CN %s)", label,
                     h->own_id, h->own_id);
      if (h->level != LATCH_SECURITY_MUTUAL)
        return fail (h, rc, "the daemon at %s requires mutual authentication: add "
                     "--tls-check-peer-id=yes (this node's certificate must then name its "
                     "machine ID)", label);
      return fail (h, rc, "the daemon at %s refused us: the machine ID we announced "
                   "does not match our certificate's CN", label);
    case LATCH_RC_CONNECTION_REFUSED:
      return fail (h, rc, "the daemon at %s refused us: this node (machine ID %s) is "
                   "not allowed by its TlsAllowedPeers list", label,
                   h->own_id != NULL ? h->own_id : "?");
    default:
      return rc;
    }
}

static AttemptResult
lock_attempt (LatchHandle *h, gint64 deadline, int *rc_out)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LatchFramer) framer = latch_framer_new (LATCH_MSG_MAX_SIZE);
  g_autoptr (LatchMsg) req = latch_msg_new (LATCH_MSG_LOCK_REQUEST, LATCH_STEP_REQUEST);
  g_autoptr (GString) out = g_string_sized_new (256);
  gboolean answered = FALSE;

  /* The machine ID at the TLS levels, where a daemon may check it; empty
   * in clear text, where nothing can (prepare_security ()). */
  req->peerid = g_strdup (h->own_id != NULL ? h->own_id : "");
  req->name = g_strdup (h->resource_name);
  /* As FLoM: only simple and hierarchical resources have lock modes (the
   * others are exclusive), only numeric ones have quantities. */
  req->has_mode = h->resource_type == LATCH_RSRC_SIMPLE
                  || h->resource_type == LATCH_RSRC_HIER;
  req->mode = req->has_mode ? h->lock_mode : LATCH_LOCK_MODE_EX;
  req->has_quantity = h->resource_type == LATCH_RSRC_NUMERIC;
  req->quantity = req->has_quantity ? h->resource_quantity : 1;
  req->wait = h->resource_timeout != 0;
  req->create = h->resource_create;
  req->lifespan = h->resource_idle_lifespan;
  latch_msg_encode (req, out);
  h->request_len = out->len;
  if (!send_all (h, out->str, out->len, &error))
    {
      disconnect (h);
      /* With TLS 1.3 the daemon's alert refusing our certificate may be
       * what the write meets. */
      if (is_tls_refusal (error))
        {
          *rc_out = fail (h, LATCH_RC_CONNECTION_REFUSED, "%s", error->message);
          return ATTEMPT_DONE;
        }
      return ATTEMPT_CLOSED;
    }

  for (;;)
    {
      gint64 wait_until = answered || deadline < 0
                              ? deadline
                              : MAX (deadline, now_ms () + FIRST_ANSWER_MS);
      g_autoptr (LatchMsg) answer = read_msg (h, framer, wait_until, &error);

      if (answer == NULL)
        {
          gboolean closed = g_error_matches (error, LATCH_ERROR, LATCH_ERROR_CONNECTION_CLOSED);

          disconnect (h);
          if (closed && !answered)
            return ATTEMPT_CLOSED;
          if (closed)
            *rc_out = fail (h, LATCH_RC_CONNECTION_CLOSED,
                            "the daemon went away while '%s' was waiting for the lock",
                            h->resource_name);
          else if (g_error_matches (error, LATCH_ERROR, LATCH_ERROR_TIMEOUT))
            *rc_out = fail (h, LATCH_RC_NETWORK_TIMEOUT,
                            "The lock was not obtained because timeout (%d milliseconds) expired",
                            h->resource_timeout);
          else if (is_tls_refusal (error))
            *rc_out = fail (h, LATCH_RC_CONNECTION_REFUSED, "%s", error->message);
          else if (g_error_matches (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_LEVEL))
            *rc_out = fail (h, LATCH_RC_PROTOCOL_LEVEL_MISMATCH,
                            "the daemon speaks another protocol: %s", error->message);
          else
            *rc_out = fail (h, error->domain == LATCH_PROTO_ERROR ? LATCH_RC_PROTOCOL_ERROR
                                                                   : LATCH_RC_SYSTEM_ERROR,
                            "reading the daemon's answer: %s", error->message);
          return ATTEMPT_DONE;
        }
      if (answer->kind != LATCH_MSG_LOCK_ANSWER
          || (!answered && answer->step != LATCH_STEP_FIRST_ANSWER)
          || (answered && answer->step == LATCH_STEP_FIRST_ANSWER))
        {
          disconnect (h);
          *rc_out = fail (h, LATCH_RC_PROTOCOL_ERROR,
                          "the daemon sent an unexpected message (verb %d step %d)",
                          answer->verb, answer->step);
          return ATTEMPT_DONE;
        }
      /* Mutual authentication: the daemon is who its certificate says
       * before anything it granted is used. */
      if (!answered && !daemon_id_matches (h, answer, &error))
        {
          disconnect (h);
          *rc_out = fail_gerror (h, LATCH_RC_UNIQUE_ID_DOES_NOT_MATCH, error);
          return ATTEMPT_DONE;
        }
      if (!answered && answer->rc == LATCH_RC_DAEMON_QUIESCING)
        {
          disconnect (h);
          return ATTEMPT_QUIESCING;
        }
      answered = TRUE;
      if (answer->rc == LATCH_RC_OK)
        {
          h->locked = TRUE;
          g_free (h->element);
          h->element = g_strdup (answer->element);
          h->fence = answer->has_fence ? answer->fence : 0;
          *rc_out = succeed (h);
          return ATTEMPT_DONE;
        }
      if (answer->rc == LATCH_RC_LOCK_ENQUEUED || answer->rc == LATCH_RC_LOCK_WAIT_RESOURCE)
        {
          if (h->wait_func != NULL)
            h->wait_func (h, answer->rc, h->wait_data);
          continue;
        }
      /* Any other code is a refusal, at any step: FLoM treats a
       * non-queued code at step 24 as a grant and runs the command
       * unlocked; latch never does. */
      disconnect (h);
      *rc_out = first_answer_failure (h, answer->rc);
      return ATTEMPT_DONE;
    }
}

static int
lock_run (LatchHandle *h)
{
  gint64 start = now_ms ();
  gint64 deadline, connect_deadline;

  deadline = h->resource_timeout < 0 ? -1 : start + h->resource_timeout;
  /* Reaching a daemon may take a moment even when the lock must not be
   * waited for: it may be starting right now. */
  connect_deadline = deadline < 0 ? -1 : MAX (deadline, start + CONNECT_GRACE_MS);
  if (h->locked)
    return fail (h, LATCH_RC_API_INVALID_SEQUENCE, "the handle already holds a lock");
  {
    int rc = prepare_security (h);

    if (rc != LATCH_RC_OK)
      return rc;
  }
  g_clear_pointer (&h->element, g_free);
  h->fence = 0;
  if (h->resource_type == LATCH_RSRC_NUMERIC)
    {
      int capacity = 0;

      if (latch_rsrc_name_get_number (h->resource_name, &capacity)
          && h->resource_quantity > capacity)
        return fail (h, LATCH_RC_LOCK_IMPOSSIBLE,
                     "%d units of '%s' can never be granted: its capacity is %d",
                     h->resource_quantity, h->resource_name, capacity);
    }

  h->n_bare_closes = 0;
  for (guint attempt = 0;; attempt++)
    {
      int rc = connect_daemon (h, connect_deadline, TRUE);

      if (rc != LATCH_RC_OK)
        return rc;
      switch (lock_attempt (h, deadline, &rc))
        {
        case ATTEMPT_DONE:
          return rc;
        case ATTEMPT_QUIESCING:
          /* Said so: the next attempt reaches its successor, once it is
           * gone (a TCP daemon keeps listening while it quiesces). */
          h->n_bare_closes = 0;
          if (connect_deadline >= 0 && now_ms () >= connect_deadline)
            {
              g_autofree char *label = endpoint_label (h);

              return fail (h, LATCH_RC_LOCK_BUSY,
                           "the daemon at %s is shutting down (quiescing) and was still "
                           "there when the timeout ran out", label);
            }
          break;
        case ATTEMPT_CLOSED:
          /* Without a word: the daemon may have been exiting (idle, -X),
           * and then the next attempt finds none or a new one.  Twice in
           * a row, it refuses us. */
          if (++h->n_bare_closes >= 2
              || (connect_deadline >= 0 && now_ms () >= connect_deadline))
            return bare_close_failure (h, FALSE);
          break;
        }
      pause_before_retry (attempt, connect_deadline);
    }
}

int
latch_lock (LatchHandle *h)
{
  if (h == NULL)
    return LATCH_RC_NULL_OBJECT;
  return report_warnings (h, lock_run (h));
}

/* Waits (bounded) for the daemon to close its side, so that the daemon
 * has acted on everything sent when this returns.  A latch daemon (it
 * sent a fencing token) closes first after an unlock, so the TCP
 * TIME_WAIT state stays on the daemon's host instead of piling up on the
 * client's; a FLoM daemon waits for the client's end of file, so then the
 * client half-closes first. */
static void
close_and_drain (LatchHandle *h, gboolean daemon_closes_first)
{
  gint64 deadline = now_ms () + CLOSE_WAIT_MS;
  char buf[256];

  if (!daemon_closes_first)
    {
      if (h->session != NULL)
        h->tls->bye (h->session);
      shutdown (h->fd, SHUT_WR);
    }
  for (;;)
    {
      struct pollfd pfd = { .fd = h->fd, .events = POLLIN };
      int rc = poll (&pfd, 1, ms_left (deadline));

      if (rc < 0 && errno == EINTR)
        continue;
      if (rc <= 0)
        break;
      if (recv (h->fd, buf, sizeof buf, 0) <= 0)
        break;
    }
  disconnect (h);
}

int
latch_unlock (LatchHandle *h, int rollback)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LatchMsg) msg = NULL;

  if (h == NULL)
    return LATCH_RC_NULL_OBJECT;
  if (!h->locked)
    return fail (h, LATCH_RC_API_INVALID_SEQUENCE, "the handle holds no lock");
  msg = latch_msg_new (LATCH_MSG_UNLOCK, LATCH_STEP_REQUEST);
  msg->name = g_strdup (h->resource_name);
  msg->rollback = rollback != 0;
  if (!send_msg (h, msg, &error))
    {
      disconnect (h);
      return fail (h, LATCH_RC_CONNECTION_CLOSED,
                   "the lock on '%s' was already lost: %s", h->resource_name, error->message);
    }
  close_and_drain (h, h->fence != 0);
  return succeed (h);
}

static int
shutdown_run (LatchHandle *h, int immediate)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LatchMsg) msg = NULL;
  g_autoptr (LatchMsg) answer = NULL;
  g_autoptr (LatchFramer) framer = latch_framer_new (LATCH_MSG_MAX_SIZE);
  int rc;

  if (h->locked)
    return fail (h, LATCH_RC_API_INVALID_SEQUENCE, "the handle holds a lock");
  rc = prepare_security (h);
  if (rc != LATCH_RC_OK)
    return rc;
  h->n_bare_closes = 0;
  rc = connect_daemon (h, -1, FALSE);
  if (rc != LATCH_RC_OK)
    return rc;
  msg = latch_msg_new (LATCH_MSG_SHUTDOWN, LATCH_STEP_REQUEST);
  msg->peerid = g_strdup (h->own_id != NULL ? h->own_id : "");
  msg->immediate = immediate != 0;
  if (!send_msg (h, msg, &error))
    {
      disconnect (h);
      return fail (h, LATCH_RC_CONNECTION_CLOSED, "%s", error->message);
    }
  answer = read_msg (h, framer, now_ms () + SHUTDOWN_ANSWER_MS, &error);
  if (answer == NULL)
    {
      /* A FLoM daemon never answers: it acts, and closes when it exits
       * (-X) or when we do.  Its own client waits at most 1000 ms for
       * anything, then disconnects: silence, or the end of the
       * connection, means delivered. */
      if (g_error_matches (error, LATCH_ERROR, LATCH_ERROR_TIMEOUT)
          || g_error_matches (error, LATCH_ERROR, LATCH_ERROR_CONNECTION_CLOSED))
        {
          latch_log_debug ("no answer to the shutdown request (%s): taken as delivered, "
                           "as a FLoM daemon sends none", error->message);
          disconnect (h);
          return succeed (h);
        }
      disconnect (h);
      if (is_tls_refusal (error))
        return fail_gerror (h, LATCH_RC_CONNECTION_REFUSED, error);
      {
        g_autofree char *label = endpoint_label (h);

        return fail (h, LATCH_RC_CONNECTION_CLOSED,
                     "the daemon at %s did not acknowledge the shutdown request: %s",
                     label, error->message);
      }
    }
  if (!daemon_id_matches (h, answer, &error))
    {
      disconnect (h);
      return fail (h, LATCH_RC_UNIQUE_ID_DOES_NOT_MATCH, "%s (the shutdown request "
                   "was sent: it may have been carried out)", error->message);
    }
  /* A latch daemon closes after its answer. */
  close_and_drain (h, TRUE);
  if (answer->kind == LATCH_MSG_SHUTDOWN_ANSWER
      && (answer->rc == LATCH_RC_NO_TLS_CONNECTION
          || answer->rc == LATCH_RC_UNIQUE_ID_DOES_NOT_MATCH
          || answer->rc == LATCH_RC_CONNECTION_REFUSED))
    return refusal_failure (h, answer->rc);
  if (answer->kind != LATCH_MSG_SHUTDOWN_ANSWER || answer->rc != LATCH_RC_OK)
    return fail (h, answer->kind == LATCH_MSG_SHUTDOWN_ANSWER ? answer->rc
                                                              : LATCH_RC_PROTOCOL_ERROR,
                 "the daemon refused to shut down (reason code %d)", answer->rc);
  return succeed (h);
}

int
latch_shutdown_daemon (LatchHandle *h, int immediate)
{
  if (h == NULL)
    return LATCH_RC_NULL_OBJECT;
  return report_warnings (h, shutdown_run (h, immediate));
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
