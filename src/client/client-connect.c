/* client-connect.c: liblatch reaches its daemon: through this host's
 * agent, over TCP, by multicast discovery or through the local socket;
 * starts one when none answers
 * (autostart.c); sends and receives the messages of a connection, in
 * clear text or through the TLS session (client-tls.c). */
#include "config.h"

#include "client/autostart.h"
#include "client/client-private.h"
#include "common/autocleanup.h"
#include "common/error.h"
#include "common/log.h"
#include "net/discovery.h"
#include "net/sockdir.h"
#include "net/tcp.h"
#include "proto/framer.h"
#include "proto/msg.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* A daemon on another host may be between two lives (one quiesced, the
 * next one starting): refusals are retried this long before the command
 * gives up. */
#define REMOTE_GRACE_MS 2000
/* How long a daemon being started may take to answer (a start reports
 * within the starter's ready timeout, 10 s). */
#define READY_GRACE_MS 10000
/* Pause between two attempts, growing up to the maximum. */
#define RETRY_MIN_MS 2
#define RETRY_MAX_MS 100
/* How long to wait for the daemon's end after an unlock or shutdown, and
 * for a message to go out. */
#define CLOSE_WAIT_MS 5000

gint64
latch_client_now_ms (void)
{
  return g_get_monotonic_time () / 1000;
}

/* Milliseconds left until deadline (-1: none) for poll(). */
int
latch_client_ms_left (gint64 deadline)
{
  gint64 left;

  if (deadline < 0)
    return -1;
  left = deadline - latch_client_now_ms ();
  return (int)CLAMP (left, 0, G_MAXINT);
}

typedef enum
{
  CONNECT_OK,
  CONNECT_ABSENT, /* nobody listens: a daemon may be started */
  CONNECT_FAILED,
} ConnectResult;

/* The host's daemon runs as root (or as the owner of its directory): a
 * member of its group can write to that directory, and could have put a
 * socket of its own in the daemon's place. */
static gboolean
check_system_daemon (int fd, const LatchSockPath *path, GError **error)
{
  uid_t uid;
  uid_t owner;

  if (!latch_socket_peer_uid (fd, &uid, error))
    return FALSE;
  if (!latch_sockpath_system_daemon_is_trusted (path->socket_path, uid, &owner))
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_CONNECT,
                   "the daemon at %s runs as uid %u, neither root nor the owner of its "
                   "directory (uid %u): refusing it", path->socket_path, (unsigned)uid,
                   (unsigned)owner);
      return FALSE;
    }
  return TRUE;
}

static ConnectResult
try_connect_unix (LatchHandle *h, const LatchSockPath *path, GError **error)
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
  g_strlcpy (sun.sun_path, path->socket_path, sizeof sun.sun_path);
  do
    rc = connect (fd, (struct sockaddr *)&sun, sizeof sun);
  while (rc != 0 && errno == EINTR);
  if (rc != 0)
    {
      int saved = errno;
      if (saved == ENOENT || saved == ECONNREFUSED)
        return CONNECT_ABSENT;
      if (path->is_system)
        {
          g_autofree char *text = latch_sockpath_system_connect_error (path->socket_path, saved,
                                                                       h->config->system_group);

          g_set_error_literal (error, LATCH_ERROR, LATCH_ERROR_CONNECT, text);
          return CONNECT_FAILED;
        }
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_CONNECT, "cannot connect to %s: %s",
                   path->socket_path, g_strerror (saved));
      return CONNECT_FAILED;
    }
  if (path->is_system && !check_system_daemon (fd, path, error))
    return CONNECT_FAILED;
  if (path->is_private)
    {
      uid_t uid;

      if (!latch_socket_peer_uid (fd, &uid, error))
        return CONNECT_FAILED;
      if (uid != geteuid ())
        {
          g_set_error (error, LATCH_ERROR, LATCH_ERROR_CONNECT,
                       "the daemon at %s runs as uid %u, not as you (uid %u): "
                       "refusing it", path->socket_path, (unsigned)uid,
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
  LatchKeepalive keepalive = { h->config->tcp_keepalive_time, h->config->tcp_keepalive_intvl,
                               h->config->tcp_keepalive_probes };

  switch (latch_tcp_connect (host, port, h->config->network_interface, &keepalive,
                             latch_client_ms_left (h->connect_deadline), &h->fd, error))
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
  if (h->config->unicast_address != NULL)
    return try_connect_tcp (h, h->config->unicast_address, h->config->unicast_port, error);
  if (h->config->multicast_address != NULL)
    {
      LatchDiscoveryGroup group = { h->config->multicast_address, h->config->multicast_port,
                                    h->config->network_interface, h->config->discovery_ttl };
      g_autofree char *address = NULL;
      int port;

      if (!latch_discovery_find (&group, h->config->discovery_attempts,
                                 h->config->discovery_timeout, &address, &port, error))
        {
          if (!g_error_matches (*error, LATCH_ERROR, LATCH_ERROR_NO_DAEMON))
            return CONNECT_FAILED;
          g_clear_error (error);
          return CONNECT_ABSENT;
        }
      return try_connect_tcp (h, address, port, error);
    }
  return try_connect_unix (h, &h->path, error);
}

/* Where the daemon is, in words. */
char *
latch_client_endpoint_label (const LatchHandle *h)
{
  if (h->config->unicast_address != NULL)
    return g_strdup_printf ("%s port %d", h->config->unicast_address, h->config->unicast_port);
  if (h->config->multicast_address != NULL)
    return g_strdup_printf ("multicast group %s port %d", h->config->multicast_address,
                            h->config->multicast_port);
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
int
latch_client_bare_close_failure (LatchHandle *h, gboolean in_handshake)
{
  g_autofree char *label = latch_client_endpoint_label (h);
  const char *id = h->own_id != NULL ? h->own_id : "";

  if (in_handshake)
    return fail (h, LATCH_RC_CONNECTION_CLOSED_BY_SERVER,
                 "the daemon at %s closed the connection during the TLS handshake, "
                 "without an alert: a FLoM daemon does that when it cannot load its own "
                 "certificate, key or CA file", label);
  if (h->request_len > FLOM_MSG_MAX)
    {
      gsize name_b64 = 4 * ((strlen (h->config->resource_name) + 2) / 3);
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
daemon_holds_lock_file (const char *lock_path)
{
  g_auto (LatchFd) fd = open (lock_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

  if (fd < 0)
    return FALSE;
  if (flock (fd, LOCK_SH | LOCK_NB) != 0)
    return errno == EWOULDBLOCK;
  flock (fd, LOCK_UN);
  return FALSE;
}

/* Waits until fd is ready the way the TLS layer wants (or for input).
 * LATCH_ERROR_TIMEOUT when the deadline passes first. */
gboolean
latch_client_wait_ready (int fd, LatchTlsStatus want, gint64 deadline, GError **error)
{
  struct pollfd pfd = { .fd = fd, .events = want == LATCH_TLS_WANT_WRITE ? POLLOUT : POLLIN };

  for (;;)
    {
      int rc = poll (&pfd, 1, latch_client_ms_left (deadline));

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

void
latch_client_pause_before_retry (guint attempt, gint64 deadline)
{
  int ms = MIN (RETRY_MIN_MS << MIN (attempt, 6u), RETRY_MAX_MS);
  int left = latch_client_ms_left (deadline);

  if (left >= 0)
    ms = MIN (ms, left);
  g_usleep ((gulong)ms * 1000);
}

/* Where the agent's upstream daemon is: -a's address, or the one the
 * multicast discovery finds (when none answers, today's network daemon is
 * started for the group, as without the agent, and asked again).
 * LATCH_RC_OK with *host_out and *port_out set. */
static int
find_upstream (LatchHandle *h, gint64 deadline, char **host_out, int *port_out)
{
  LatchDiscoveryGroup group = { h->config->multicast_address, h->config->multicast_port,
                                h->config->network_interface, h->config->discovery_ttl };

  if (h->config->unicast_address != NULL)
    {
      *host_out = g_strdup (h->config->unicast_address);
      *port_out = h->config->unicast_port;
      return LATCH_RC_OK;
    }
  for (guint attempt = 0;; attempt++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *label = NULL;

      if (latch_discovery_find (&group, h->config->discovery_attempts,
                                h->config->discovery_timeout, host_out, port_out, &error))
        return LATCH_RC_OK;
      if (!g_error_matches (error, LATCH_ERROR, LATCH_ERROR_NO_DAEMON))
        return fail_gerror (h, LATCH_RC_CONNECTION_REFUSED, error);
      g_clear_error (&error);
      label = latch_client_endpoint_label (h);
      switch (latch_autostart_spawn (h->config, &error))
        {
        case LATCH_SPAWN_STARTED:
        case LATCH_SPAWN_BUSY:
          break;
        case LATCH_SPAWN_NOT_LOCAL:
        case LATCH_SPAWN_FAILED:
        default:
          return fail (h, LATCH_RC_DAEMON_NOT_STARTED, "no daemon answers at %s, and %s",
                       label, error->message);
        }
      if (deadline >= 0 && latch_client_now_ms () >= deadline)
        return fail (h, LATCH_RC_DAEMON_NOT_STARTED, "no daemon answers at %s", label);
      latch_client_pause_before_retry (attempt, deadline);
    }
}

/* Through this host's agent (latchd --agent, one per upstream daemon and
 * its session settings): a clear connection on a private UNIX socket,
 * whatever the upstream's security level: the agent holds the TLS
 * session, so the command loads no TLS at all.  Starts the agent when
 * none answers; before the first start, today's network autostart when
 * the address is this host's and nobody listens there, so that the agent
 * finds its upstream. */
static int
connect_agent (LatchHandle *h, gint64 deadline)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *host = NULL;
  g_autofree char *label = NULL;
  g_autofree char *not_local = NULL;
  LatchSockPath path = { 0 };
  gboolean fallback_tried = FALSE;
  gboolean local_start = FALSE; /* a daemon of ours is starting at that address */
  gint64 remote_until = -1;
  int port = 0;
  int rc;

  rc = find_upstream (h, deadline, &host, &port);
  if (rc != LATCH_RC_OK)
    return rc;
  if (!latch_sockpath_for_agent (h->config, host, port, h->level, TRUE, &path, &error))
    return fail_gerror (h, LATCH_RC_DAEMON_NOT_STARTED, error);
  label = g_strdup_printf ("%s port %d", host, port);
  /* A TCP daemon of ours served this address and is gone (-x, a crash):
   * the agent would answer rc 7 (refused) for it.  Start it again first,
   * as a command without the agent would.  (Its lock file stays; held
   * means alive.  A remote address has none: one failed open.) */
  {
    LatchSockPath net = { 0 };

    if (latch_sockpath_for_network ("tcp", host, port, FALSE, &net, NULL)
        && access (net.lock_path, F_OK) == 0 && !daemon_holds_lock_file (net.lock_path))
      {
        fallback_tried = TRUE;
        if (latch_autostart_network_fallback (h->config, host, port, &error)
            == LATCH_SPAWN_FAILED)
          latch_log_debug ("restarting the daemon at %s: %s", label, error->message);
        g_clear_error (&error);
      }
    latch_sockpath_clear (&net);
  }
  for (guint attempt = 0;; attempt++)
    {
      switch (try_connect_unix (h, &path, &error))
        {
        case CONNECT_OK:
          latch_log_debug ("connected to the agent for %s at %s", label, path.socket_path);
          rc = LATCH_RC_OK;
          goto out;
        case CONNECT_FAILED:
          rc = fail_gerror (h, LATCH_RC_CONNECTION_REFUSED, error);
          goto out;
        case CONNECT_ABSENT:
        default:
          break;
        }
      if (!daemon_holds_lock_file (path.lock_path))
        {
          if (!fallback_tried)
            {
              fallback_tried = TRUE;
              switch (latch_autostart_network_fallback (h->config, host, port, &error))
                {
                case LATCH_SPAWN_FAILED:
                  rc = fail_gerror (h, LATCH_RC_DAEMON_NOT_STARTED, error);
                  goto out;
                case LATCH_SPAWN_NOT_LOCAL:
                  not_local = g_strdup (error->message);
                  break;
                case LATCH_SPAWN_STARTED:
                case LATCH_SPAWN_BUSY:
                  local_start = TRUE;
                  break;
                default:
                  break;
                }
              g_clear_error (&error);
            }
          switch (latch_autostart_spawn_agent (h->config, host, port, path.socket_path,
                                               &error))
            {
            case LATCH_SPAWN_STARTED:
              continue;
            case LATCH_SPAWN_BUSY:
              break;
            case LATCH_SPAWN_NOT_LOCAL:
              /* Nobody answers upstream: a daemon may be between two
               * lives; retried a moment, as without the agent. */
              /* A daemon of ours that another command is starting there
               * right now may take as long as any start (READY_GRACE_MS). */
              if (remote_until < 0)
                remote_until = latch_client_now_ms ()
                               + (local_start ? READY_GRACE_MS : REMOTE_GRACE_MS);
              if (latch_client_now_ms () >= remote_until)
                {
                  if (not_local != NULL)
                    rc = fail (h, LATCH_RC_DAEMON_NOT_STARTED, "no daemon answers at %s, and %s",
                               label, not_local);
                  else
                    rc = fail_gerror (h, LATCH_RC_DAEMON_NOT_STARTED, error);
                  goto out;
                }
              latch_log_debug ("no daemon answers at %s and it is not local: retrying", label);
              /* A local address: its daemon was quiescing when we looked
               * and is gone now; start the next one, as without the
               * agent. */
              if (not_local == NULL)
                fallback_tried = FALSE;
              g_clear_error (&error);
              latch_client_pause_before_retry (attempt, remote_until);
              continue;
            case LATCH_SPAWN_FAILED:
            default:
              /* The agent checks the upstream settings (certificates...)
               * as it starts: its words name what is wrong. */
              rc = fail (h, LATCH_RC_DAEMON_NOT_STARTED, "cannot reach the daemon at %s: %s",
                         label, error->message);
              goto out;
            }
        }
      /* An agent holds the lock file: starting, or quiescing. */
      if (deadline >= 0 && latch_client_now_ms () >= deadline)
        {
          rc = fail (h, LATCH_RC_LOCK_BUSY, "the agent for the daemon at %s (%s) does not "
                     "answer, and a new one cannot start before it is gone", label,
                     path.socket_path);
          goto out;
        }
      latch_client_pause_before_retry (attempt, deadline);
    }
out:
  latch_sockpath_clear (&path);
  return rc;
}

/* The host's daemon (--system): its socket only, never started (the
 * service manager runs it), never through the agent.  A quiescing one has
 * removed its socket already, and its lock file is root's: nothing to
 * wait for, the next one is the service manager's to start. */
static int
connect_system (LatchHandle *h)
{
  g_autoptr (GError) error = NULL;

  if (h->config->unicast_address != NULL || h->config->multicast_address != NULL)
    return fail (h, LATCH_RC_INVALID_OPTION,
                 "--system and -a/-A exclude each other: the host's daemon is reached "
                 "through its local socket only");
  if (h->path.socket_path == NULL
      && !latch_sockpath_for_system (h->config->socket_name, &h->path, &error))
    return fail_gerror (h, LATCH_RC_INVALID_OPTION, error);
  switch (try_connect_unix (h, &h->path, &error))
    {
    case CONNECT_OK:
      {
        gboolean retry = FALSE;
        int rc = h->level == LATCH_SECURITY_CLEAR
                     ? LATCH_RC_OK
                     : latch_client_start_tls (h, h->path.socket_path, &retry);

        /* Closed in the handshake without an alert: not started again
         * here, so said at once. */
        return retry ? latch_client_bare_close_failure (h, TRUE) : rc;
      }
    case CONNECT_ABSENT:
      {
        g_autofree char *text
            = latch_sockpath_system_connect_error (h->path.socket_path, ENOENT, NULL);
        struct stat st;

        /* A socket file nobody listens on is a daemon gone (or one not
         * yet listening): say which. */
        if (lstat (h->path.socket_path, &st) == 0)
          {
            g_free (text);
            text = latch_sockpath_system_connect_error (h->path.socket_path, ECONNREFUSED,
                                                        NULL);
          }
        return fail (h, LATCH_RC_DAEMON_NOT_STARTED, "%s", text);
      }
    case CONNECT_FAILED:
    default:
      return fail_gerror (h, LATCH_RC_CONNECTION_REFUSED, error);
    }
}

/* Connects to the daemon, starting one when none answers and the daemon
 * lifespan allows it.  Keeps trying until deadline (-1: forever) while a
 * daemon is starting or quiescing. */
int
latch_client_connect_daemon (LatchHandle *h, gint64 deadline, gboolean may_start)
{
  g_autoptr (GError) error = NULL;
  guint attempt = 0;

  g_autofree char *label = NULL;
  gboolean resolved;
  gint64 remote_until = -1;

  if (h->config->system)
    {
      h->connect_deadline = deadline;
      return connect_system (h);
    }

  /* A lock request goes through the agent; a shutdown request (may_start
   * FALSE) is for the daemon named, never for the agent in between. */
  if (may_start && latch_autostart_uses_agent (h->config))
    {
      h->connect_deadline = deadline;
      return connect_agent (h, deadline);
    }
  if (h->path.lock_path == NULL)
    {
      /* A network daemon's lock file lives in our private directory:
       * create it even when only shutting a remote daemon down. */
      if (h->config->unicast_address != NULL)
        resolved = latch_sockpath_for_network ("tcp", h->config->unicast_address,
                                               h->config->unicast_port, TRUE, &h->path, &error);
      else if (h->config->multicast_address != NULL)
        resolved = latch_sockpath_for_network ("mcast", h->config->multicast_address,
                                               h->config->multicast_port, TRUE, &h->path, &error);
      else
        resolved = latch_sockpath_for_local (h->config, may_start, &h->path, &error);
      if (!resolved)
        return fail_gerror (h, LATCH_RC_DAEMON_NOT_STARTED, error);
    }
  label = latch_client_endpoint_label (h);
  h->connect_deadline = deadline;

  for (;; attempt++)
    {
      switch (try_connect (h, &error))
        {
        case CONNECT_OK:
          {
            gboolean retry = FALSE;
            int rc = h->level == LATCH_SECURITY_CLEAR ? LATCH_RC_OK
                                                      : latch_client_start_tls (h, label, &retry);

            if (!retry)
              return rc;
            /* Closed during the handshake without an alert: a daemon
             * exiting (the next attempt finds none, or a new one), or,
             * twice in a row, one that refuses us without a word. */
            if (++h->n_bare_closes >= 2 || (deadline >= 0 && latch_client_now_ms () >= deadline))
              return latch_client_bare_close_failure (h, TRUE);
            latch_client_pause_before_retry (attempt, deadline);
            continue;
          }
        case CONNECT_FAILED:
          return fail_gerror (h, LATCH_RC_CONNECTION_REFUSED, error);
        case CONNECT_ABSENT:
          /* Whatever answers next is another daemon. */
          h->n_bare_closes = 0;
          break;
        }
      if (!may_start || h->config->daemon_lifespan == 0)
        return fail (h, LATCH_RC_DAEMON_NOT_STARTED,
                     "no daemon is running at %s%s", label,
                     may_start ? " and -d 0 (daemon lifespan 0) forbids starting one" : "");
      if (!daemon_holds_lock_file (h->path.lock_path))
        switch (latch_autostart_spawn (h->config, &error))
          {
          case LATCH_SPAWN_STARTED:
            continue;
          case LATCH_SPAWN_FAILED:
            return fail_gerror (h, LATCH_RC_DAEMON_NOT_STARTED, error);
          case LATCH_SPAWN_NOT_LOCAL:
            if (remote_until < 0)
              remote_until = latch_client_now_ms () + REMOTE_GRACE_MS;
            if (latch_client_now_ms () >= remote_until)
              return fail (h, LATCH_RC_DAEMON_NOT_STARTED, "no daemon answers at %s, and %s",
                           label, error->message);
            latch_log_debug ("no daemon answers at %s and it is not local: retrying", label);
            g_clear_error (&error);
            latch_client_pause_before_retry (attempt, remote_until);
            continue;
          case LATCH_SPAWN_BUSY:
            break;
          }
      /* Another daemon holds the lock file: it is starting (it will
       * listen in a moment) or quiescing (it will exit once its holders
       * are done).  Either way, wait and try again. */
      if (deadline >= 0 && latch_client_now_ms () >= deadline)
        return fail (h, LATCH_RC_LOCK_BUSY,
                     "the daemon at %s is shutting down and a new one cannot start "
                     "before it is gone", label);
      latch_client_pause_before_retry (attempt, deadline);
    }
}

void
latch_client_disconnect (LatchHandle *h)
{
  if (h->session != NULL)
    h->tls->session_free (h->session);
  h->session = NULL;
  if (h->fd >= 0)
    close (h->fd);
  h->fd = -1;
  h->locked = FALSE;
}

gboolean
latch_client_send_all (LatchHandle *h, const char *data, gsize len, GError **error)
{
  gint64 deadline = latch_client_now_ms () + CLOSE_WAIT_MS;

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
              if (!latch_client_wait_ready (h->fd, status, deadline, error))
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

gboolean
latch_client_send_msg (LatchHandle *h, const LatchMsg *msg, GError **error)
{
  g_autoptr (GString) out = g_string_sized_new (256);

  latch_msg_encode (msg, out);
  return latch_client_send_all (h, out->str, out->len, error);
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
          && !latch_client_wait_ready (h->fd, want, deadline, error))
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
LatchMsg *
latch_client_read_msg (LatchHandle *h, LatchFramer *framer, gint64 deadline, GError **error)
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

/* Waits (bounded) for the daemon to close its side, so that the daemon
 * has acted on everything sent when this returns.  A latch daemon (it
 * sent a fencing token) closes first after an unlock, so the TCP
 * TIME_WAIT state stays on the daemon's host instead of piling up on the
 * client's; a FLoM daemon waits for the client's end of file, so then the
 * client half-closes first. */
void
latch_client_close_and_drain (LatchHandle *h, gboolean daemon_closes_first)
{
  gint64 deadline = latch_client_now_ms () + CLOSE_WAIT_MS;
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
      int rc = poll (&pfd, 1, latch_client_ms_left (deadline));

      if (rc < 0 && errno == EINTR)
        continue;
      if (rc <= 0)
        break;
      if (recv (h->fd, buf, sizeof buf, 0) <= 0)
        break;
    }
  latch_client_disconnect (h);
}
