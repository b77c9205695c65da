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
 * checked.
 *
 * The local agent (latchd --agent) listens in the private directory too,
 * on a socket per upstream daemon (latch_sockpath_for_agent).
 *
 * The host's daemon (latchd --system, latch --system) listens on
 * LATCH_SYSTEM_SOCKET or the -s PATH, in a directory of the daemon's euid
 * (root) and its group (SystemGroup), mode 0750: the directory's group is
 * the gate (connecting needs search permission on it), so every member
 * may lock, and nobody else reaches the socket (latch_sockdir_prepare_system).
 * A command checks that the daemon answering there runs as root or as the
 * directory's owner (a member could put a socket of its own in its place). */
#ifndef LATCH_NET_SOCKDIR_H
#define LATCH_NET_SOCKDIR_H

#include <glib.h>
#include <sys/types.h>

#include "settings/settings.h"

G_BEGIN_DECLS

typedef struct
{
  char *socket_path;
  char *lock_path;
  gboolean is_private;
  gboolean is_system; /* the host's daemon's (latch_sockpath_for_system) */
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

/* The local agent's socket for one upstream daemon (host:port, given by
 * -a or found by discovery): <private dir>/agent-<16 hex>.sock and
 * .sock.lock, the hex a hash of everything that defines the agent's upstream
 * session (address, port, the resolved security level, the TLS files,
 * priority, CRL and peer-id check, the interface, the keepalive and
 * session-timeout settings): commands that agree on all of it share one
 * agent, and one that differs in any gets its own, never a session set
 * up for another. */
gboolean latch_sockpath_for_agent (const LatchConfig *config, const char *host, int port,
                                   LatchSecurityLevel level, gboolean create,
                                   LatchSockPath *out, GError **error);

/* The host's daemon's socket: configured (-s) or LATCH_SYSTEM_SOCKET,
 * with its lock file beside it (PATH.lock).  Nothing is created or
 * checked here: the daemon prepares the directory, a command only
 * connects. */
/* The local daemon's socket for config: -s when given; else, with a
 * lock table on etcd (EtcdEndpoints), one per cluster setting in the
 * private directory (etcd-DIGEST.sock, the digest over the endpoints,
 * prefix, lease TTL and TLS files): a command for that cluster never
 * talks to the daemon that keeps its table in memory, nor to one set up
 * for another cluster; else the default one. */
gboolean latch_sockpath_for_local (const LatchConfig *config, gboolean create,
                                   LatchSockPath *out, GError **error);

gboolean latch_sockpath_for_system (const char *configured, LatchSockPath *out,
                                    GError **error);

/* For the host's daemon, before it takes its lock file: the directory of
 * socket_path is created when missing (owner our euid, group gid, mode
 * 0750); an existing one must be a real directory owned by our euid and
 * writable by nobody else (not even the group).  One whose group cannot reach it (not gid, or
 * no group search permission) is used, with a line in *warning_out
 * (transfer full) saying who cannot connect. */
gboolean latch_sockdir_prepare_system (const char *socket_path, gid_t gid,
                                       char **warning_out, GError **error);

/* What a command may say when it cannot connect to the host's daemon at
 * path (connect() failed with err): not running, or not allowed, in one
 * line that names the fix (transfer full).  group_hint names the group when
 * the directory's cannot be read. */
char *latch_sockpath_system_connect_error (const char *path, int err,
                                           const char *group_hint);

/* Is uid the one the host's daemon at path should run as: root, or the
 * owner of the socket's directory?  (Anyone else answering there put a
 * socket in the daemon's place.)  *owner_out: the directory's owner. */
gboolean latch_sockpath_system_daemon_is_trusted (const char *path, uid_t uid,
                                                  uid_t *owner_out);

void latch_sockpath_clear (LatchSockPath *path);

/* The uid of the process at the other end of a connected UNIX socket. */
gboolean latch_socket_peer_uid (int fd, uid_t *uid_out, GError **error);

/* The kernel's credentials of the process at the other end of a
 * connected UNIX socket (SO_PEERCRED: as they were at connect()). */
typedef struct
{
  uid_t uid;
  gid_t gid;
  pid_t pid;
} LatchPeerCred;

gboolean latch_socket_peer_cred (int fd, LatchPeerCred *cred_out, GError **error);

G_END_DECLS

#endif
