#include "config.h"

#include "net/sockdir.h"

#include "common/error.h"
#include "common/util.h"

#include <errno.h>
#include <grp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define SOCKET_BASENAME "daemon.sock"
#define LOCK_BASENAME "daemon.lock"

static gboolean
check_private_dir (const char *dir, GError **error)
{
  struct stat st;

  if (lstat (dir, &st) != 0)
    {
      int saved = errno;
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_SOCKET_DIR,
                   "cannot use socket directory %s: %s", dir, g_strerror (saved));
      return FALSE;
    }
  if (!S_ISDIR (st.st_mode))
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_SOCKET_DIR,
                   "socket directory %s is not a directory (a link or file is in "
                   "the way: remove it, or choose a socket with -s)", dir);
      return FALSE;
    }
  if (st.st_uid != geteuid ())
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_SOCKET_DIR,
                   "socket directory %s belongs to uid %u, not to you (uid %u): "
                   "someone else created it; remove it, or choose a socket with -s",
                   dir, (unsigned)st.st_uid, (unsigned)geteuid ());
      return FALSE;
    }
  if ((st.st_mode & 077) != 0)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_SOCKET_DIR,
                   "socket directory %s has mode %04o: other users could reach "
                   "your daemon; run 'chmod 700 %s'", dir,
                   (unsigned)(st.st_mode & 07777), dir);
      return FALSE;
    }
  return TRUE;
}

static char *
default_dir (void)
{
  const char *runtime = g_getenv ("XDG_RUNTIME_DIR");

  /* Only our own: `sudo -E` keeps the caller's XDG_RUNTIME_DIR, and a
   * daemon directory of root's in there would lock the caller out. */
  if (runtime != NULL && g_path_is_absolute (runtime) && latch_dir_is_own (runtime))
    return g_build_filename (runtime, "latch", NULL);
  return g_strdup_printf ("/tmp/latch-%u", (unsigned)geteuid ());
}

/* The private directory, created (create) and checked. */
static char *
private_dir (gboolean create, GError **error)
{
  g_autofree char *dir = default_dir ();

  if (create && mkdir (dir, 0700) != 0 && errno != EEXIST)
    {
      int saved = errno;
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_SOCKET_DIR,
                   "cannot create socket directory %s: %s", dir, g_strerror (saved));
      return NULL;
    }
  if (!check_private_dir (dir, error))
    return NULL;
  return g_steal_pointer (&dir);
}

static gboolean
check_length (const char *path, GError **error)
{
  struct sockaddr_un sun;

  if (strlen (path) >= sizeof (sun.sun_path))
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                   "socket path %s is %zu bytes long; the limit is %zu: choose a "
                   "shorter one with -s", path, strlen (path), sizeof (sun.sun_path) - 1);
      return FALSE;
    }
  return TRUE;
}

gboolean
latch_sockpath_resolve (const char *configured, gboolean create,
                        LatchSockPath *out, GError **error)
{
  g_autofree char *dir = NULL;
  g_autofree char *sock = NULL;

  if (configured != NULL)
    {
      if (!check_length (configured, error))
        return FALSE;
      out->socket_path = g_strdup (configured);
      out->lock_path = g_strconcat (configured, ".lock", NULL);
      out->is_private = FALSE;
      out->is_system = FALSE;
      return TRUE;
    }

  dir = private_dir (create, error);
  if (dir == NULL)
    return FALSE;
  sock = g_build_filename (dir, SOCKET_BASENAME, NULL);
  if (!check_length (sock, error))
    return FALSE;
  out->socket_path = g_steal_pointer (&sock);
  out->lock_path = g_build_filename (dir, LOCK_BASENAME, NULL);
  out->is_private = TRUE;
  out->is_system = FALSE;
  return TRUE;
}

gboolean
latch_sockpath_for_network (const char *kind, const char *host, int port,
                            gboolean create, LatchSockPath *out, GError **error)
{
  g_autofree char *dir = private_dir (create, error);
  g_autofree char *base = NULL;

  if (dir == NULL)
    return FALSE;
  /* Addresses may hold ':' and '%': keep file names plain. */
  base = g_strdup_printf ("%s-%s-%d.lock", kind, host, port);
  g_strcanon (base, G_CSET_A_2_Z G_CSET_a_2_z G_CSET_DIGITS ".-", '_');
  out->socket_path = NULL;
  out->lock_path = g_build_filename (dir, base, NULL);
  out->is_private = TRUE;
  out->is_system = FALSE;
  return TRUE;
}

/* A socket in the private directory named KIND-DIGEST.sock, the digest
 * over strings (each with its length, so that no two different lists
 * make the same text) and tail; its lock file beside it, as for a
 * socket named with -s (the daemon is started with it). */
static gboolean
private_hashed_path (const char *kind, const char *const *strings, gsize n, const char *tail,
                     gboolean create, LatchSockPath *out, GError **error)
{
  g_autofree char *dir = NULL;
  g_autofree char *sock = NULL;
  g_autofree char *digest = NULL;
  g_autoptr (GString) identity = g_string_new (NULL);

  for (gsize i = 0; i < n; i++)
    g_string_append_printf (identity, "%zu:%s;", strings[i] != NULL ? strlen (strings[i]) : 0,
                            strings[i] != NULL ? strings[i] : "");
  g_string_append (identity, tail);
  digest = g_compute_checksum_for_string (G_CHECKSUM_SHA256, identity->str, identity->len);
  dir = private_dir (create, error);
  if (dir == NULL)
    return FALSE;
  digest[16] = '\0';
  sock = g_strdup_printf ("%s/%s-%s.sock", dir, kind, digest);
  if (!check_length (sock, error))
    return FALSE;
  out->lock_path = g_strconcat (sock, ".lock", NULL);
  out->socket_path = g_steal_pointer (&sock);
  out->is_private = TRUE;
  out->is_system = FALSE;
  return TRUE;
}

gboolean
latch_sockpath_for_agent (const LatchConfig *config, const char *host, int port,
                          LatchSecurityLevel level, gboolean create, LatchSockPath *out,
                          GError **error)
{
  g_autofree char *tail = NULL;
  const char *const strings[] = {
    host, config->network_interface, config->tls_certificate, config->tls_private_key,
    config->tls_ca_certificate, config->tls_crl, config->tls_priority,
  };

  tail = g_strdup_printf ("%d;%d;%d;%d;%d;%d;%d", port, (int)level,
                          config->tls_check_peer_id ? 1 : 0, config->tcp_keepalive_time,
                          config->tcp_keepalive_intvl, config->tcp_keepalive_probes,
                          config->session_timeout);
  return private_hashed_path ("agent", strings, G_N_ELEMENTS (strings), tail, create, out,
                              error);
}

gboolean
latch_sockpath_for_local (const LatchConfig *config, gboolean create, LatchSockPath *out,
                          GError **error)
{
  g_autofree char *tail = NULL;
  const char *const strings[] = {
    config->etcd_endpoints, config->etcd_prefix, config->tls_certificate,
    config->tls_private_key, config->tls_ca_certificate, config->tls_crl, config->tls_priority,
  };

  if (config->socket_name != NULL || config->etcd_endpoints == NULL)
    return latch_sockpath_resolve (config->socket_name, create, out, error);
  tail = g_strdup_printf ("%d", config->lease_ttl);
  return private_hashed_path ("etcd", strings, G_N_ELEMENTS (strings), tail, create, out,
                              error);
}

gboolean
latch_sockpath_for_system (const char *configured, LatchSockPath *out, GError **error)
{
  const char *sock = configured != NULL ? configured : LATCH_SYSTEM_SOCKET;

  if (!check_length (sock, error))
    return FALSE;
  out->socket_path = g_strdup (sock);
  out->lock_path = g_strconcat (sock, ".lock", NULL);
  out->is_private = FALSE;
  out->is_system = TRUE;
  return TRUE;
}

static char *
group_name (gid_t gid)
{
  struct group *gr = getgrgid (gid);

  return gr != NULL ? g_strdup (gr->gr_name) : g_strdup_printf ("%u", (unsigned)gid);
}

gboolean
latch_sockdir_prepare_system (const char *socket_path, gid_t gid, char **warning_out,
                              GError **error)
{
  g_autofree char *dir = g_path_get_dirname (socket_path);
  struct stat st;

  *warning_out = NULL;
  if (mkdir (dir, 0700) == 0)
    {
      /* Made root's alone first (the daemon's umask), then handed to the
       * group: nobody outside it can reach the socket at any moment.
       * The group may search it, not write to it: connecting needs no
       * more, and a member who could write there could remove or replace
       * the daemon's socket and lock file. */
      if (chown (dir, geteuid (), gid) != 0 || chmod (dir, 0750) != 0)
        {
          int saved = errno;
          g_set_error (error, LATCH_ERROR, LATCH_ERROR_SOCKET_DIR,
                       "cannot give socket directory %s to its group: %s", dir,
                       g_strerror (saved));
          return FALSE;
        }
      return TRUE;
    }
  if (errno != EEXIST)
    {
      int saved = errno;
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_SOCKET_DIR,
                   "cannot create socket directory %s: %s", dir, g_strerror (saved));
      return FALSE;
    }
  /* One made by the administrator or the service manager
   * (RuntimeDirectory=): its owner and mode are theirs, but one that
   * another user owns, or anyone may write to, would let them replace
   * the socket with their own. */
  if (lstat (dir, &st) != 0 || !S_ISDIR (st.st_mode))
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_SOCKET_DIR,
                   "socket directory %s is not a directory (a link or file is in "
                   "the way): remove it, or choose a socket with -s", dir);
      return FALSE;
    }
  if (st.st_uid != geteuid ())
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_SOCKET_DIR,
                   "socket directory %s belongs to uid %u, not to the daemon's uid %u: "
                   "run 'chown %u %s', or choose a socket with -s", dir,
                   (unsigned)st.st_uid, (unsigned)geteuid (), (unsigned)geteuid (), dir);
      return FALSE;
    }
  if ((st.st_mode & (S_IWOTH | S_IWGRP)) != 0)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_SOCKET_DIR,
                   "socket directory %s has mode %04o: %s could replace the "
                   "daemon's socket; run 'chmod 0750 %s'", dir,
                   (unsigned)(st.st_mode & 07777),
                   (st.st_mode & S_IWOTH) != 0 ? "any user" : "the members of its group",
                   dir);
      return FALSE;
    }
  if (st.st_gid != gid || (st.st_mode & S_IXGRP) == 0)
    {
      g_autofree char *want = group_name (gid);
      g_autofree char *has = group_name (st.st_gid);

      *warning_out = g_strdup_printf ("socket directory %s is group %s's, mode %04o: the "
                                      "members of %s cannot reach the daemon unless "
                                      "other permissions let them (chgrp %s %s; "
                                      "chmod 0750 %s)", dir, has,
                                      (unsigned)(st.st_mode & 07777), want, want, dir, dir);
    }
  return TRUE;
}

char *
latch_sockpath_system_connect_error (const char *path, int err, const char *group_hint)
{
  if (err == ENOENT || err == ENOTDIR)
    return g_strdup_printf ("the host's daemon is not running (no socket at %s): start it "
                            "(systemctl start latchd.socket), or run without --system",
                            path);
  if (err == ECONNREFUSED)
    return g_strdup_printf ("the host's daemon is not running (nothing listens on %s): "
                            "start it (systemctl start latchd.socket), or run without "
                            "--system", path);
  if (err == EACCES || err == EPERM)
    {
      g_autofree char *dir = g_path_get_dirname (path);
      g_autofree char *group = NULL;
      struct stat st;

      /* The directory's group is the gate: name it, as it is. */
      if (stat (dir, &st) == 0 && st.st_gid != 0)
        group = group_name (st.st_gid);
      else
        group = g_strdup (group_hint != NULL ? group_hint : "latch");
      return g_strdup_printf ("permission denied on %s: the host's daemon serves the "
                              "members of its group (ask an admin: usermod -aG %s %s, "
                              "then log in again)", path, group, g_get_user_name ());
    }
  return g_strdup_printf ("cannot connect to %s: %s", path, g_strerror (err));
}

gboolean
latch_sockpath_system_daemon_is_trusted (const char *path, uid_t uid, uid_t *owner_out)
{
  g_autofree char *dir = g_path_get_dirname (path);
  struct stat st;

  *owner_out = 0;
  if (stat (dir, &st) == 0)
    *owner_out = st.st_uid;
  return uid == 0 || uid == *owner_out;
}

void
latch_sockpath_clear (LatchSockPath *path)
{
  g_clear_pointer (&path->socket_path, g_free);
  g_clear_pointer (&path->lock_path, g_free);
  path->is_private = FALSE;
  path->is_system = FALSE;
}

gboolean
latch_socket_peer_cred (int fd, LatchPeerCred *cred_out, GError **error)
{
  struct ucred cred;
  socklen_t len = sizeof cred;

  if (getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    {
      int saved = errno;
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_CONNECT,
                   "cannot read the peer's credentials: %s", g_strerror (saved));
      return FALSE;
    }
  cred_out->uid = cred.uid;
  cred_out->gid = cred.gid;
  cred_out->pid = cred.pid;
  return TRUE;
}

gboolean
latch_socket_peer_uid (int fd, uid_t *uid_out, GError **error)
{
  LatchPeerCred cred;

  if (!latch_socket_peer_cred (fd, &cred, error))
    return FALSE;
  *uid_out = cred.uid;
  return TRUE;
}
