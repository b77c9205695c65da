/* sockdir.h: where the local daemon's socket lives, and who may use it.
 *
 * Default: a private per-user directory, $XDG_RUNTIME_DIR/latch when
 * XDG_RUNTIME_DIR is set, else /tmp/latch-<uid>, holding daemon.sock and
 * daemon.lock.  The directory must be a real directory (not a link) owned
 * by us with no access for group or others; it is created so when absent.
 * Both ends check the other's uid (SO_PEERCRED) on this socket.
 *
 * With -s PATH the user names a socket on purpose (possibly shared by
 * several users): PATH and PATH.lock are used as they are, the socket is
 * made connectable by everyone who can reach the directory, and no uid is
 * checked. */
#ifndef LATCH_NET_SOCKDIR_H
#define LATCH_NET_SOCKDIR_H

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

typedef struct
{
  char *socket_path;
  char *lock_path;
  gboolean is_private;
} LatchSockPath;

/* configured: the -s value or NULL for the default.  Creates the private
 * directory if needed (create=TRUE) and checks it. */
gboolean latch_sockpath_resolve (const char *configured, gboolean create,
                                 LatchSockPath *out, GError **error);
/* For a network daemon (TCP at host:port, or found by discovery on a
 * group:port): no socket file, and a lock file in the private directory
 * named after kind, host and port, which the daemon holds for its life so
 * that the commands of this user on this host start at most one. */
gboolean latch_sockpath_for_network (const char *kind, const char *host, int port,
                                     gboolean create, LatchSockPath *out,
                                     GError **error);

void latch_sockpath_clear (LatchSockPath *path);

/* The uid of the process at the other end of a connected UNIX socket. */
gboolean latch_socket_peer_uid (int fd, uid_t *uid_out, GError **error);

G_END_DECLS

#endif
