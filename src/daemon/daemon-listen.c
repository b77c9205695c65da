/* daemon-listen.c: where clients come in: the lock file, the UNIX or TCP
 * listener (and discovery) or the one the service manager passes (socket
 * activation), accept, and what happens when descriptors run out.  Each
 * accepted connection becomes a session (daemon-session.c). */
#include "config.h"

#include "daemon/daemon-private.h"
#include "daemon/daemon-sd.h"

#include "common/autocleanup.h"
#include "common/log.h"
#include "net/tcp.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

/* Stops accepting and removes the socket file (we own it). */
void
latch_daemon_stop_listening (Daemon *d)
{
  g_clear_handle_id (&d->listen_id, g_source_remove);
  g_clear_handle_id (&d->resume_id, g_source_remove);
  if (d->listen_fd >= 0)
    {
      close (d->listen_fd);
      d->listen_fd = -1;
    }
  if (d->socket_bound)
    {
      unlink (d->path.socket_path);
      d->socket_bound = FALSE;
    }
}

char *
latch_daemon_crl_stamp (const char *path)
{
  struct stat st;

  if (path == NULL || stat (path, &st) != 0)
    return NULL;
  return g_strdup_printf ("%ju.%ju.%jd.%ld.%jd", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino,
                          (intmax_t)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                          (intmax_t)st.st_size);
}

/* A session lasts as long as its client wants, so a CRL that only new
 * handshakes saw would never reach a peer that keeps its session (an
 * agent, a liblatch handle).  So when new credentials come, every
 * established TLS session is verified again against them and those now
 * refused are closed.  Closing one releases what it held, which may grant
 * others: sends only, no close (and the clients are collected first). */
static void
close_revoked (Daemon *d)
{
  g_autoptr (GPtrArray) revoked = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, d->clients);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      Client *c = key;
      g_autoptr (GError) error = NULL;

      /* A handshake still running verifies with the credentials it
       * started with (a session holds its own reference). */
      if (!latch_conn_is_tls (c->conn)
          || d->tls->reverify (latch_conn_get_tls (c->conn), d->creds, &error))
        continue;
      latch_log_info ("%s: %s: closing", latch_conn_get_label (c->conn), error->message);
      latch_daemon_metrics_revoked (d);
      g_ptr_array_add (revoked, c);
    }
  for (guint i = 0; i < revoked->len; i++)
    {
      Client *c = revoked->pdata[i];

      if (g_hash_table_contains (d->clients, c))
        latch_conn_abort (c->conn, NULL);
    }
}

/* Credentials are loaded once, but a CRL is meant to change: when its file
 * did, they are loaded again (before a handshake, and before a lock
 * request on a TLS connection), so a revocation takes effect at the next
 * connection, and at once for the established sessions it revokes.  A
 * new CRL that does not load leaves the old credentials in place. */
static void
refresh_crl (Daemon *d)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) warnings = NULL;
  g_autofree char *stamp = latch_daemon_crl_stamp (d->tls_settings.crl);
  LatchTlsCreds *creds;

  if (d->tls_settings.crl == NULL || g_strcmp0 (stamp, d->crl_stamp) == 0)
    return;
  warnings = g_ptr_array_new_with_free_func (g_free);
  creds = d->tls->creds_new (&d->tls_settings, LATCH_TLS_SERVER, d->level, d->peerid,
                             warnings, &error);
  for (guint i = 0; i < warnings->len; i++)
    latch_log_warning ("%s", (const char *)warnings->pdata[i]);
  g_free (d->crl_stamp);
  d->crl_stamp = g_steal_pointer (&stamp);
  if (creds == NULL)
    {
      latch_log_warning ("%s changed but cannot be used, keeping the previous one: %s",
                         d->tls_settings.crl, error->message);
      return;
    }
  latch_log_info ("%s changed: loaded again", d->tls_settings.crl);
  d->tls->creds_free (d->creds); /* sessions hold their own reference */
  d->creds = creds;
  close_revoked (d);
}

/* The check costs a stat, so it is done before every lock request on a
 * TLS connection: the request is served only if its session survives (no
 * Client is made meanwhile, so current's address names it alone). */
gboolean
latch_daemon_check_crl (Daemon *d, Client *current)
{
  if (d->tls == NULL)
    return TRUE;
  refresh_crl (d);
  return g_hash_table_contains (d->clients, current);
}

static gboolean accept_cb (int fd, GIOCondition cond, gpointer user_data);
static gboolean resume_accepting_cb (gpointer user_data);

void
latch_daemon_resume_accepting (Daemon *d)
{
  if (d->fd_exhausted_since >= 0 && d->resume_id == 0)
    d->resume_id = g_idle_add (resume_accepting_cb, d);
}

/* A connection has closed since the descriptors ran out: poll the
 * listener again (from an idle source: the connection's descriptor is
 * closed by then). */
static gboolean
resume_accepting_cb (gpointer user_data)
{
  Daemon *d = user_data;

  d->resume_id = 0;
  if (d->listen_fd < 0 || d->listen_id != 0)
    return G_SOURCE_REMOVE;
  latch_log_warning ("a descriptor is free again after %" G_GINT64_FORMAT " ms: accepting "
                     "connections again (%u connected)",
                     latch_daemon_now_ms () - d->fd_exhausted_since,
                     g_hash_table_size (d->clients));
  d->fd_exhausted_since = -1;
  d->listen_id = latch_fd_watch_add (d->listen_fd, G_IO_IN, accept_cb, d);
  return G_SOURCE_REMOVE;
}

/* accept() failed: out of descriptors stops polling the listener (the
 * pending connection would make it readable again at once: a busy loop
 * and a log line each time); anything else is that connection's
 * problem. */
static void
accept_failed (Daemon *d, int err)
{
  if (err == EMFILE || err == ENFILE)
    {
      struct rlimit lim = { 0, 0 };

      getrlimit (RLIMIT_NOFILE, &lim);
      g_clear_handle_id (&d->listen_id, g_source_remove);
      d->fd_exhausted_since = latch_daemon_now_ms ();
      latch_log_warning ("accept: %s (%u connections, descriptor limit %llu): new "
                         "connections wait in the backlog until one closes; raise the "
                         "limit (ulimit -n, LimitNOFILE=) to serve more",
                         g_strerror (err), g_hash_table_size (d->clients),
                         (unsigned long long)lim.rlim_cur);
      return;
    }
  if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR && err != ECONNABORTED)
    latch_log_warning ("accept: %s", g_strerror (err));
}

static gboolean
accept_cb (int fd, GIOCondition cond, gpointer user_data)
{
  Daemon *d = user_data;

  for (;;)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *label = NULL;
      Client *c;
      LatchPeer peer = { 0 };
      LatchPeerCred cred;
      int cfd = accept4 (fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

      if (cfd < 0)
        {
          if (errno == ECONNABORTED || errno == EINTR)
            continue;
          accept_failed (d, errno);
          break;
        }
      d->n_accepted++;
      if (d->is_tcp)
        {
          struct sockaddr_storage sa;
          socklen_t sa_len = sizeof sa;
          g_autofree char *addr = NULL;
          LatchKeepalive ka = { d->config->settings->tcp_keepalive_time,
                                d->config->settings->tcp_keepalive_intvl,
                                d->config->settings->tcp_keepalive_probes };
          int on = 1;

          /* A holder whose host vanishes loses its lock after the
           * keepalive time: IPv4 and IPv6 alike (FLoM: IPv4 only). */
          latch_tcp_set_keepalive (cfd, &ka);
          setsockopt (cfd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
          if (getpeername (cfd, (struct sockaddr *)&sa, &sa_len) == 0)
            addr = latch_sockaddr_to_string ((struct sockaddr *)&sa, sa_len);
          label = g_strdup_printf ("conn %u (%s)", d->n_accepted, addr ? addr : "?");
          peer.address = g_steal_pointer (&addr);
        }
      else
        {
          if (!latch_socket_peer_cred (cfd, &cred, &error))
            {
              latch_log_warning ("connection %u: %s", d->n_accepted, error->message);
              close (cfd);
              continue;
            }
          if (d->path.is_private && cred.uid != geteuid ())
            {
              latch_log_warning ("connection %u from uid %u refused: this daemon "
                                 "serves uid %u only", d->n_accepted, (unsigned)cred.uid,
                                 (unsigned)geteuid ());
              close (cfd);
              continue;
            }
          /* Every line about the connection (each lock request too)
           * names who is at the other end. */
          label = g_strdup_printf ("conn %u (uid %u pid %ld)", d->n_accepted,
                                   (unsigned)cred.uid, (long)cred.pid);
          peer.is_local = TRUE;
          peer.uid = cred.uid;
          peer.gid = cred.gid;
          peer.pid = cred.pid;
        }
      peer.since_us = g_get_real_time ();
      c = latch_daemon_session_new (d, cfd, label, &peer);
      latch_daemon_metrics_accepted (d, c);
      if (d->level != LATCH_SECURITY_CLEAR)
        {
          LatchTlsSession *session;

          refresh_crl (d);
          /* Log lines start with the label: the session says "the client". */
          session = d->tls->session_new (d->creds, cfd, "the client", &error);

          if (session == NULL)
            {
              latch_log_warning ("%s: %s", label, error->message);
              latch_conn_abort (c->conn, NULL);
              continue;
            }
          latch_conn_start_tls (c->conn, d->tls, session);
          latch_daemon_metrics_tls_begin (d, c);
          latch_conn_set_deadline (c->conn, LATCH_TLS_HANDSHAKE_MS,
                                   "in the TLS handshake");
        }
      else
        latch_conn_set_deadline (c->conn, LATCH_DAEMON_FIRST_MESSAGE_MS,
                                 "waiting for the first message");
      latch_log_debug ("%s: connected", label);
    }
  latch_daemon_check_lifetime (d);
  return G_SOURCE_CONTINUE;
}

/* The host's daemon's lock file must be its own: in a directory its
 * group may write to, a member could have put one there (and hold a lock
 * on it). */
static gboolean
check_system_lock_file (const Daemon *d, int lock_fd, GError **error)
{
  struct stat st;

  if (fstat (lock_fd, &st) != 0 || st.st_uid != geteuid () || !S_ISREG (st.st_mode))
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                   "%s is not a file of the daemon's uid %u: remove it", d->path.lock_path,
                   (unsigned)geteuid ());
      return FALSE;
    }
  return TRUE;
}

/* Who may open the lock file.  Commands look at it to learn whether a
 * daemon is starting or quiescing, and on a shared -s socket every user
 * may start the daemon; the host's daemon's is root's alone: nobody else
 * starts it, and a member of its group holding a lock on the file would
 * keep it from starting. */
static mode_t
lock_file_mode (const Daemon *d)
{
  return d->path.is_private || d->path.is_system ? 0600 : 0666;
}

/* The lock file is busy: who holds it, in the line a supervised daemon
 * prints (the pid, when the holder has written it yet). */
static void
set_busy_error (const Daemon *d, int lock_fd, GError **error)
{
  char head[32] = "";
  ssize_t n = pread (lock_fd, head, sizeof head - 1, 0);
  long pid = n > 0 ? strtol (head, NULL, 10) : 0;
  g_autofree char *who
      = pid > 0 ? g_strdup_printf ("another daemon (pid %ld)", pid) : g_strdup ("another daemon");

  if (d->path.socket_path == NULL)
    g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START, "%s holds %s", who,
                 d->path.lock_path);
  else
    g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                 "%s already listens on %s; stop it with 'latch -s %s -X'", who,
                 d->path.socket_path, d->path.socket_path);
}

/* Takes the lock file (held for the daemon's life; it holds our pid).
 * FALSE with *busy set when another daemon holds it. */
static gboolean
take_lock_file (Daemon *d, gboolean *busy, GError **error)
{
  g_auto (LatchFd) lock_fd = -1;

  lock_fd = open (d->path.lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
                  lock_file_mode (d));
  if (lock_fd < 0)
    {
      int saved = errno;
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                   "cannot open lock file %s: %s", d->path.lock_path, g_strerror (saved));
      return FALSE;
    }
  /* A latch lock file is empty or holds a pid; anything else is someone's
   * file that -s happened to name: not ours to truncate. */
  {
    char head[32];
    ssize_t n = pread (lock_fd, head, sizeof head, 0);

    for (ssize_t i = 0; i < n; i++)
      if (!g_ascii_isdigit (head[i]) && head[i] != '\n')
        {
          g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                       "%s exists and is not a latch lock file: refusing to use it "
                       "(choose another path with -s)", d->path.lock_path);
          return FALSE;
        }
  }
  if (d->path.is_system && !check_system_lock_file (d, lock_fd, error))
    return FALSE;
  /* Shared on purpose: every user of the socket may start its daemon.
   * (The daemon runs with umask 077.) */
  if (!d->path.is_private && fchmod (lock_fd, lock_file_mode (d)) != 0)
    latch_log_warning ("chmod %s: %s", d->path.lock_path, g_strerror (errno));
  if (flock (lock_fd, LOCK_EX | LOCK_NB) != 0)
    {
      int saved = errno;
      if (saved == EWOULDBLOCK)
        {
          *busy = TRUE;
          set_busy_error (d, lock_fd, error);
        }
      else
        g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                     "cannot lock %s: %s", d->path.lock_path, g_strerror (saved));
      return FALSE;
    }

  /* The lock file names the daemon that holds it, for operators and tests. */
  if (ftruncate (lock_fd, 0) == 0)
    {
      char pid[32];
      int len = g_snprintf (pid, sizeof pid, "%ld\n", (long)getpid ());
      if (pwrite (lock_fd, pid, (size_t)len, 0) != len)
        latch_log_warning ("cannot write the pid to %s", d->path.lock_path);
    }

  d->lock_fd = latch_steal_fd (&lock_fd);
  return TRUE;
}

/* Who may connect, before anyone can (the socket is not listening yet).
 * A socket named with -s is shared on purpose: the directory decides who
 * can reach it.  The private one is ours alone.  The host's daemon's is
 * its group's: connecting takes write permission on the socket. */
static gboolean
set_socket_access (Daemon *d, GError **error)
{
  if (d->path.is_system)
    {
      if (chown (d->path.socket_path, (uid_t)-1, d->system_gid) != 0
          || chmod (d->path.socket_path, 0660) != 0)
        {
          int saved = errno;
          g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                       "cannot give %s to its group: %s", d->path.socket_path,
                       g_strerror (saved));
          return FALSE;
        }
      return TRUE;
    }
  if (chmod (d->path.socket_path, d->path.is_private ? 0600 : 0666) != 0)
    latch_log_warning ("chmod %s: %s", d->path.socket_path, g_strerror (errno));
  return TRUE;
}

static gboolean
listen_unix (Daemon *d, GError **error)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  g_auto (LatchFd) fd = -1;

  /* We hold the lock file, so a socket file left there is stale.  Only a
   * socket is removed: -s may name a path by mistake, and a file there is
   * not ours to delete. */
  {
    struct stat st;

    if (lstat (d->path.socket_path, &st) == 0 && !S_ISSOCK (st.st_mode))
      {
        g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                     "%s exists and is not a socket: refusing to replace it "
                     "(choose another path with -s)", d->path.socket_path);
        return FALSE;
      }
  }
  if (unlink (d->path.socket_path) != 0 && errno != ENOENT)
    {
      int saved = errno;
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                   "cannot remove stale socket %s: %s", d->path.socket_path,
                   g_strerror (saved));
      return FALSE;
    }
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START, "socket: %s",
                   g_strerror (saved));
      return FALSE;
    }
  g_strlcpy (sun.sun_path, d->path.socket_path, sizeof sun.sun_path);
  if (bind (fd, (struct sockaddr *)&sun, sizeof sun) != 0)
    {
      int saved = errno;
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                   "cannot bind %s: %s", d->path.socket_path, g_strerror (saved));
      return FALSE;
    }
  d->socket_bound = TRUE;
  if (!set_socket_access (d, error))
    return FALSE;
  if (listen (fd, LATCH_LISTEN_BACKLOG) != 0)
    {
      int saved = errno;
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START, "listen on %s: %s",
                   d->path.socket_path, g_strerror (saved));
      return FALSE;
    }
  d->listen_fd = latch_steal_fd (&fd);
  d->where = g_strdup (d->path.socket_path);
  return TRUE;
}

/* TCP on the unicast address, or on this host's address toward the
 * multicast group; discovery answers on the group.  *busy when the
 * address is in use (another daemon, maybe another user's, won). */
static gboolean
listen_network (Daemon *d, gboolean *busy, GError **error)
{
  const LatchConfig *cfg = d->config->settings;
  g_autofree char *local = NULL;
  const char *host = cfg->unicast_address;
  int port = cfg->unicast_port;
  int bound_port = 0;

  if (host == NULL)
    {
      LatchDiscoveryGroup group = { cfg->multicast_address, cfg->multicast_port,
                                    cfg->network_interface, cfg->discovery_ttl };

      local = latch_discovery_local_address (&group, error);
      if (local == NULL)
        {
          g_prefix_error (error, "cannot choose an address to listen on: ");
          return FALSE;
        }
      host = local;
      port = 0;
    }
  switch (latch_tcp_listen (host, port, cfg->network_interface, &d->listen_fd,
                            &bound_port, error))
    {
    case LATCH_TCP_OK:
      break;
    case LATCH_TCP_REFUSED:
      *busy = TRUE;
      return FALSE;
    case LATCH_TCP_NOT_LOCAL:
      d->not_local = TRUE;
      return FALSE;
    default:
      return FALSE;
    }
  d->is_tcp = TRUE;
  d->where = g_strdup_printf ("%s port %d", host, bound_port);
  if (cfg->multicast_address != NULL)
    {
      LatchDiscoveryGroup group = { cfg->multicast_address, cfg->multicast_port,
                                    cfg->network_interface, cfg->discovery_ttl };

      /* A link-local address is announced without its "%iface": that is
       * our interface's name, meaningless on the client's host, which adds
       * its own. */
      g_autofree char *announced = g_strndup (host, strcspn (host, "%"));

      d->discovery = latch_discovery_server_new (&group, announced, bound_port, error);
      if (d->discovery == NULL)
        return FALSE;
    }
  return TRUE;
}

/* Socket activation.  The service manager (latchd.socket, or
 * systemd-socket-activate) made the listening socket and passes it as
 * descriptor SD_LISTEN_FDS_START; LISTEN_PID names us.  It is used only
 * if it is what the configuration describes: a listening UNIX stream
 * socket at the configured path, or a listening TCP socket on the
 * configured port; anything else is a mistake in the unit, said in one
 * line, and the daemon does not start. */
typedef enum
{
  ACTIVATION_NONE,  /* not activated: bind as usual */
  ACTIVATION_TAKEN, /* listening on the manager's socket */
  ACTIVATION_FAILED,
} Activation;

static gboolean
check_activated_socket (Daemon *d, const LatchSd *sd, int fd, GError **error)
{
  const LatchConfig *cfg = d->config->settings;

  if (cfg->multicast_address != NULL)
    {
      g_set_error_literal (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                           "started with a socket from the service manager, but "
                           "configured for discovery (multicast): a socket-activated "
                           "daemon listens on a UNIX socket or a TCP address only");
      return FALSE;
    }
  if (cfg->unicast_address != NULL)
    {
      if (sd->is_socket_inet (fd, AF_UNSPEC, SOCK_STREAM, 1, (uint16_t)cfg->unicast_port) <= 0)
        {
          g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                       "the socket from the service manager is not a listening TCP "
                       "socket on port %d (-p): fix ListenStream=", cfg->unicast_port);
          return FALSE;
        }
      return TRUE;
    }
  if (sd->is_socket_unix (fd, SOCK_STREAM, 1, NULL, 0) <= 0)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                   "the socket from the service manager is not a listening UNIX "
                   "stream socket (ListenStream=%s)", d->path.socket_path);
      return FALSE;
    }
  /* Clients look for the daemon at the configured path: one that listens
   * elsewhere would never be found (and would hold another's lock file). */
  if (sd->is_socket_unix (fd, SOCK_STREAM, 1, d->path.socket_path, 0) <= 0)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                   "the UNIX socket from the service manager is not %s, the "
                   "configured socket (-s): make ListenStream= and -s name the same path",
                   d->path.socket_path);
      return FALSE;
    }
  return TRUE;
}

/* Where an activated socket listens, for the logs. */
static char *
activated_where (Daemon *d, int fd)
{
  struct sockaddr_storage sa;
  socklen_t len = sizeof sa;
  g_autofree char *addr = NULL;

  if (!d->is_tcp)
    return g_strdup (d->path.socket_path);
  if (getsockname (fd, (struct sockaddr *)&sa, &len) == 0)
    addr = latch_sockaddr_to_string ((struct sockaddr *)&sa, len);
  return g_strdup_printf ("%s (from the service manager)", addr != NULL ? addr : "?");
}

static Activation
take_activated_socket (Daemon *d, gboolean *busy, GError **error)
{
  g_autoptr (GError) lock_error = NULL;
  g_autoptr (GError) load_error = NULL;
  /* libsystemd is loaded only when the manager passed sockets: a daemon
   * that a command started never maps it. */
  int n = latch_sd_listen_fds (1, &load_error);
  int fd = SD_LISTEN_FDS_START;
  int flags;

  if (n == 0)
    return ACTIVATION_NONE;
  if (load_error != NULL)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                   "started with a socket from the service manager, but %s",
                   load_error->message);
      return ACTIVATION_FAILED;
    }
  if (n < 0)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                   "cannot take the sockets from the service manager: %s", g_strerror (-n));
      return ACTIVATION_FAILED;
    }
  if (n > 1)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                   "the service manager passed %d sockets: latchd takes one (a "
                   "single ListenStream=)", n);
      return ACTIVATION_FAILED;
    }
  if (!check_activated_socket (d, latch_sd_load (NULL), fd, error))
    return ACTIVATION_FAILED;
  /* Accepting drains the backlog until EAGAIN: a blocking listener
   * would stop the loop at the last connection. */
  flags = fcntl (fd, F_GETFL);
  if (flags < 0 || fcntl (fd, F_SETFL, flags | O_NONBLOCK) != 0)
    {
      int saved = errno;
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                   "the socket from the service manager: %s", g_strerror (saved));
      return ACTIVATION_FAILED;
    }
  /* The manager guarantees one listener, but the lock file is also how
   * commands tell a live daemon from a stale socket, and how a latchd
   * started by hand on the same path learns that this one serves it: it
   * is taken when possible.  Another daemon holding it serves this path
   * already.  Where it cannot be made (a read-only directory), the
   * socket is still served: the manager owns the path. */
  if (!take_lock_file (d, busy, &lock_error))
    {
      if (*busy)
        {
          g_propagate_error (error, g_steal_pointer (&lock_error));
          return ACTIVATION_FAILED;
        }
      latch_log_warning ("%s; serving the socket from the service manager without it",
                         lock_error->message);
    }
  d->listen_fd = fd;
  d->is_tcp = d->config->settings->unicast_address != NULL;
  /* socket_bound stays FALSE: the socket file is the manager's, which
   * listens on it again once we are gone; we never remove it. */
  d->where = activated_where (d, fd);
  latch_log_info ("socket activation: using the listening socket from the service manager");
  return ACTIVATION_TAKEN;
}

/* take_activated_socket, and accepting on it when taken. */
static Activation
serve_activated_socket (Daemon *d, gboolean *busy, GError **error)
{
  Activation a = take_activated_socket (d, busy, error);

  if (a == ACTIVATION_TAKEN)
    d->listen_id = latch_fd_watch_add (d->listen_fd, G_IO_IN, accept_cb, d);
  return a;
}

/* The host's daemon (--system): its group, its directory, the lock file
 * beside its socket, the socket.  Only a local socket: the host's daemon
 * serves this host's users (a network daemon is an ordinary latchd -a). */
static gboolean
listen_system (Daemon *d, gboolean *busy, GError **error)
{
  Activation activation;
  const LatchConfig *cfg = d->config->settings;
  g_autofree char *warning = NULL;
  struct group *gr;

  if (d->config->agent || cfg->unicast_address != NULL || cfg->multicast_address != NULL)
    {
      g_set_error_literal (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                           "--system serves this host's local socket: it excludes "
                           "--agent, -a and -A");
      return FALSE;
    }
  errno = 0;
  gr = getgrnam (cfg->system_group);
  if (gr == NULL)
    {
      int saved = errno;

      if (saved != 0 && saved != ENOENT && saved != ESRCH && saved != EBADF
          && saved != EPERM)
        g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                     "cannot look up group '%s': %s", cfg->system_group,
                     g_strerror (saved));
      else
        g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                     "group '%s' does not exist: create it (groupadd --system %s) or "
                     "name another with --system-group", cfg->system_group,
                     cfg->system_group);
      return FALSE;
    }
  d->system_gid = gr->gr_gid;
  if (!latch_sockpath_for_system (cfg->socket_name, &d->path, error))
    return FALSE;
  /* latchd.socket made the socket (its mode and group are the unit's
   * SocketMode= and SocketGroup=, its directory systemd's). */
  activation = serve_activated_socket (d, busy, error);
  if (activation != ACTIVATION_NONE)
    return activation == ACTIVATION_TAKEN;
  if (!latch_sockdir_prepare_system (d->path.socket_path, d->system_gid, &warning, error))
    return FALSE;
  if (warning != NULL)
    latch_log_warning ("%s", warning);
  if (!take_lock_file (d, busy, error) || !listen_unix (d, error))
    return FALSE;
  d->listen_id = latch_fd_watch_add (d->listen_fd, G_IO_IN, accept_cb, d);
  return TRUE;
}

/* Takes the lock file and listens.  FALSE with *busy set when another
 * daemon holds the lock file or the address. */
gboolean
latch_daemon_start_listening (Daemon *d, gboolean *busy, GError **error)
{
  const LatchConfig *cfg = d->config->settings;
  gboolean network = cfg->unicast_address != NULL || cfg->multicast_address != NULL;
  gboolean resolved;
  Activation activation;

  *busy = FALSE;
  if (cfg->system)
    return listen_system (d, busy, error);
  if (d->config->agent)
    {
      /* The agent's socket is named by its starter, in the starter's
       * private directory: this user's alone, like the default one. */
      if (cfg->socket_name == NULL || cfg->unicast_address == NULL)
        {
          g_set_error_literal (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                               "--agent needs the socket to listen on (-s) and the "
                               "upstream daemon's address (-a)");
          return FALSE;
        }
      if (!latch_sockpath_resolve (cfg->socket_name, TRUE, &d->path, error))
        return FALSE;
      d->path.is_private = TRUE;
      if (!take_lock_file (d, busy, error) || !listen_unix (d, error))
        return FALSE;
      d->listen_id = latch_fd_watch_add (d->listen_fd, G_IO_IN, accept_cb, d);
      return TRUE;
    }
  if (cfg->unicast_address != NULL)
    resolved = latch_sockpath_for_network ("tcp", cfg->unicast_address, cfg->unicast_port,
                                           TRUE, &d->path, error);
  else if (cfg->multicast_address != NULL)
    resolved = latch_sockpath_for_network ("mcast", cfg->multicast_address,
                                           cfg->multicast_port, TRUE, &d->path, error);
  else
    resolved = latch_sockpath_for_local (cfg, TRUE, &d->path, error);
  if (!resolved)
    return FALSE;
  activation = serve_activated_socket (d, busy, error);
  if (activation != ACTIVATION_NONE)
    return activation == ACTIVATION_TAKEN;
  if (!take_lock_file (d, busy, error))
    return FALSE;
  if (!(network ? listen_network (d, busy, error) : listen_unix (d, error)))
    return FALSE;
  d->listen_id = latch_fd_watch_add (d->listen_fd, G_IO_IN, accept_cb, d);
  return TRUE;
}
