/* latch.h: the liblatch client API.
 *
 * A LatchHandle describes one lock: set the options, call latch_lock(),
 * do the work, call latch_unlock().  The lock lives as long as the
 * handle's connection to the daemon: if the daemon goes away the lock is
 * gone, and latch_get_fd() becomes readable so that the caller can notice
 * (latch_check() then says so).
 *
 * Sessions.  A handle keeps its connection between locks when the daemon
 * speaks latch's session extension (a latch daemon does; doc/protocol.md):
 * a loop of latch_lock()/latch_unlock() on one handle costs one connection
 * and one TLS handshake, not one per lock.  latch_unlock() then sends the
 * release and returns without waiting for the daemon: the release takes
 * effect before anything the handle sends next.  latch_handle_free()
 * closes the connection and returns once the daemon has released
 * everything.  A session the daemon closed while it held nothing (its
 * idle deadline, a restart) is reopened by the next latch_lock() without
 * a word.  A FLoM daemon does not speak sessions: then each lock has its
 * connection, closed by latch_unlock() once the daemon has acted, as
 * before.
 *
 * Shared handles.  latch_handle_new_shared() makes a handle that shares
 * another's connection: N handles hold N locks (on one resource or on
 * several) over one connection, and exclude each other exactly as
 * handles with connections of their own do.  The connection lives until
 * the last of them is freed.  A connection setting (address, socket,
 * TLS) of a sharing handle takes effect when it opens a connection, i.e.
 * when none is open.
 *
 * Threads.  Handles are not thread-safe.  A handle, and all the handles
 * sharing a connection with it, must be used from one thread at a time
 * (one lock of the group waits at a time: latch_lock() blocks).  Handles
 * that share nothing may be used in different threads at once.
 *
 * fork().  After fork() the child must not use the parent's handles: the
 * locks and the connection are the parent's.  latch_handle_free() in the
 * child only closes the child's copies of the descriptors (it neither
 * unlocks nor says goodbye to the daemon), so the parent keeps its locks;
 * a child that means to lock makes handles of its own.
 *
 * Every function that can fail returns a LatchRc; LATCH_RC_OK (0) is
 * success.  latch_get_error() describes the last failure in words.
 */
#ifndef LATCH_H
#define LATCH_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* VMS lock modes, FLoM's numbering (also the wire value). */
typedef enum
{
  LATCH_LOCK_MODE_NL = 0, /* null lock */
  LATCH_LOCK_MODE_CR = 1, /* concurrent read */
  LATCH_LOCK_MODE_CW = 2, /* concurrent write */
  LATCH_LOCK_MODE_PR = 3, /* protected read */
  LATCH_LOCK_MODE_PW = 4, /* protected write */
  LATCH_LOCK_MODE_EX = 5, /* exclusive */
} LatchLockMode;

/* Security levels (SecurityLevel, --security-level). */
typedef enum
{
  LATCH_SECURITY_DEFAULT = 0, /* decided by the TLS files: none clear, all three TLS */
  LATCH_SECURITY_CLEAR = 1,   /* plain socket */
  LATCH_SECURITY_CHANNEL = 2, /* TLS, certificates from one CA */
  LATCH_SECURITY_MUTUAL = 3,  /* TLS, and each side's announced machine ID = its certificate's */
} LatchSecurityLevel;

/* Reason codes.  The numbers are FLoM 1.7's, so that the `rc` attribute
 * on the wire and the values returned here mean the same thing (latch's
 * additions, 1000 and up, are marked). */
typedef enum
{
  LATCH_RC_OK = 0,
  LATCH_RC_LOCK_ENQUEUED = 1,       /* wire only: request queued */
  LATCH_RC_LOCK_WAIT_RESOURCE = 2,  /* wire only: waiting for creation */
  LATCH_RC_LOCK_CANT_LOCK = 3,      /* an answer after the first was not a grant */
  LATCH_RC_LOCK_BUSY = 4,           /* busy and the timeout was 0, or it expired */
  LATCH_RC_LOCK_CANT_WAIT = 5,      /* resource absent, create=no, timeout 0 */
  LATCH_RC_LOCK_IMPOSSIBLE = 6,     /* request can never be granted */
  LATCH_RC_CONNECTION_REFUSED = 7,
  LATCH_RC_CONNECTION_CLOSED = 8,   /* daemon went away: lock lost or never got */
  LATCH_RC_NETWORK_TIMEOUT = 9,     /* resource timeout expired */
  LATCH_RC_API_IMMUTABLE_HANDLE = 11, /* option changed while locked */
  /* latch's own, outside every range FLoM uses.  Wire only: a quiescing
   * daemon turns a new request away; the client tries again (the next
   * daemon).  A FLoM client takes it as a failure. */
  LATCH_RC_DAEMON_QUIESCING = 1000,
  /* Also latch's own: the daemon's limits (latch(1), "Limits").  The
   * request is refused and its connection closed; the daemon goes on. */
  LATCH_RC_LIMIT_LOCKS_PER_CONNECTION = 1001, /* [Daemon] MaxLocksPerConnection */
  LATCH_RC_LIMIT_RESOURCES = 1002,            /* [Daemon] MaxResources */
  LATCH_RC_LIMIT_WAITERS = 1003,              /* [Daemon] MaxWaitersPerResource */
  LATCH_RC_LIMIT_IDLE_LIFESPAN = 1004,        /* [Daemon] IdleLifespanMax */
  /* Also latch's own, in the shutdown answer (5/16): only root or the
   * user the daemon runs as may quiesce or stop it (asked over its UNIX
   * socket); the host's daemon refuses every request over the network.
   * The daemon goes on.  (A FLoM client sees an answer and goes on.) */
  LATCH_RC_SHUTDOWN_NOT_ALLOWED = 1005,
  LATCH_RC_INTERNAL_ERROR = -1,
  LATCH_RC_DAEMON_NOT_STARTED = -2, /* none running and not allowed or able to start */
  LATCH_RC_NULL_OBJECT = -4,
  LATCH_RC_INVALID_OPTION = -5,
  LATCH_RC_PROTOCOL_ERROR = -13,
  LATCH_RC_INVALID_RESOURCE_NAME = -14,
  LATCH_RC_PROTOCOL_LEVEL_MISMATCH = -15,
  LATCH_RC_API_INVALID_SEQUENCE = -17, /* lock twice, unlock without lock */
  LATCH_RC_UNIQUE_ID_DOES_NOT_MATCH = -23,
  LATCH_RC_NO_TLS_CONNECTION = -24,
  LATCH_RC_RESOURCE_INIT_ERROR = -26,
  LATCH_RC_CONNECTION_CLOSED_BY_SERVER = -27,
  LATCH_RC_SYSTEM_ERROR = -100,     /* a system call failed; see latch_get_error() */
} LatchRc;

/* Defaults, FLoM's. */
#define LATCH_DEFAULT_RESOURCE_NAME "_RESOURCE"
#define LATCH_DEFAULT_DAEMON_LIFESPAN 5000
#define LATCH_DEFAULT_IDLE_LIFESPAN_MIN 2000 /* latch's own: ms an idle resource is kept at least */
#define LATCH_DEFAULT_PORT 28015 /* TCP and UDP discovery */

typedef struct LatchHandle LatchHandle;

LatchHandle *latch_handle_new (void);
/* A new handle with handle's settings (copied: later changes to either
 * stay its own) that shares handle's connection (see "Shared handles"
 * above).  NULL when handle is NULL. */
LatchHandle *latch_handle_new_shared (LatchHandle *handle);
/* Unlocks if locked; the last handle of a connection closes it.  NULL ok. */
void latch_handle_free (LatchHandle *handle);

/* Options.  They may be changed only while the handle holds no lock
 * (else LATCH_RC_API_IMMUTABLE_HANDLE).  Invalid values are refused with
 * LATCH_RC_INVALID_OPTION or LATCH_RC_INVALID_RESOURCE_NAME and leave the
 * previous value in place. */
int latch_set_resource_name (LatchHandle *handle, const char *name);
int latch_set_resource_timeout (LatchHandle *handle, int timeout_ms); /* <0 forever, 0 no wait */
int latch_set_resource_quantity (LatchHandle *handle, int quantity); /* numeric: 1..capacity */
int latch_set_resource_create (LatchHandle *handle, int create);
int latch_set_resource_idle_lifespan (LatchHandle *handle, int lifespan_ms);
int latch_set_lock_mode (LatchHandle *handle, LatchLockMode mode);
int latch_set_socket_name (LatchHandle *handle, const char *path); /* NULL: per-user default */
int latch_set_daemon_lifespan (LatchHandle *handle, int lifespan_ms); /* 0: never start one */
int latch_set_daemon_trace_file (LatchHandle *handle, const char *path);
/* For a daemon this handle starts: every idle resource is kept at least
 * this long (ms, >= 0; LATCH_DEFAULT_IDLE_LIFESPAN_MIN), whatever the
 * idle lifespan of the request that created it. */
int latch_set_idle_lifespan_min (LatchHandle *handle, int min_ms);

/* Network (FLoM's options -a -p -A -P -n -D -I --discovery-ttl
 * --tcp-keepalive-*).  With a unicast address the daemon is reached over
 * TCP there; with only a multicast address it is found by UDP discovery
 * first; with neither, through the local socket.  A local socket name
 * excludes both.  NULL clears an address. */
int latch_set_unicast_address (LatchHandle *handle, const char *address);
int latch_set_unicast_port (LatchHandle *handle, int port);          /* 1..65535, 28015 */
int latch_set_multicast_address (LatchHandle *handle, const char *address);
int latch_set_multicast_port (LatchHandle *handle, int port);        /* 1..65535, 28015 */
int latch_set_network_interface (LatchHandle *handle, const char *iface);
int latch_set_discovery_attempts (LatchHandle *handle, int attempts); /* >= 1, 2 */
int latch_set_discovery_timeout (LatchHandle *handle, int timeout_ms); /* >= 0, 500 */
int latch_set_discovery_ttl (LatchHandle *handle, int ttl);           /* 1..255, 1 */
int latch_set_tcp_keepalive (LatchHandle *handle, int time_s, int intvl_s,
                             int probes);                             /* 60, 10, 6 */
/* The local agent (Agent, --agent): with an address (-a, or -A once
 * discovered), talk to it through this host's latchd, which keeps one
 * session per upstream daemon, instead of connecting there directly.
 * Non-zero (the default): through the agent; 0: directly. */
int latch_set_agent (LatchHandle *handle, int agent);
/* The keepalive the agent offers its upstream daemon (SessionTimeout,
 * --session-timeout): ms, 0 (none) to 600000, 2000 by default.  The
 * handle's own connection offers none: a blocking library cannot ping. */
int latch_set_session_timeout (LatchHandle *handle, int timeout_ms);
/* The host's daemon (System, --system): non-zero to use the daemon that
 * the service manager runs for the whole host (latchd --system), on
 * /run/latch/latchd.sock unless a socket name is set, instead of this
 * user's own.  It is never started (whatever the daemon lifespan says):
 * when it is not running, latch_lock () and latch_shutdown_daemon () fail
 * with LATCH_RC_DAEMON_NOT_STARTED, and when this user is not a member of
 * its group with LATCH_RC_CONNECTION_REFUSED, the error text naming the
 * fix.  It excludes a unicast or multicast address (LATCH_RC_INVALID_OPTION
 * from those calls).  Only root or the daemon's own user may shut it down
 * (LATCH_RC_SHUTDOWN_NOT_ALLOWED).  0 (the default): this user's daemon. */
int latch_set_system (LatchHandle *handle, int system);
int latch_set_append_trace_file (LatchHandle *handle, int append);
int latch_set_verbose (LatchHandle *handle, int verbose);

/* TLS (FLoM's --tls-certificate, --tls-private-key, --tls-ca-certificate,
 * --tls-check-peer-id, and latch's --tls-crl, --tls-priority,
 * --security-level, --tls-allowed-peers, --tls-require-client-cert).
 * Paths are made absolute when set; NULL clears.  Which level the
 * settings mean, and whether they are complete, is checked by
 * latch_lock() and latch_shutdown_daemon(): an incomplete set is an
 * error (LATCH_RC_INVALID_OPTION) naming what is missing, never clear
 * text.  The allow-list and require-client-cert settings are handed to a
 * daemon this handle starts. */
int latch_set_tls_certificate (LatchHandle *handle, const char *path);
int latch_set_tls_private_key (LatchHandle *handle, const char *path);
int latch_set_tls_ca_certificate (LatchHandle *handle, const char *path);
int latch_set_tls_crl (LatchHandle *handle, const char *path);
int latch_set_tls_priority (LatchHandle *handle, const char *priority);
int latch_set_tls_check_peer_id (LatchHandle *handle, int check);
int latch_set_tls_allowed_peers (LatchHandle *handle, const char *path);
int latch_set_tls_require_client_cert (LatchHandle *handle, int require);
int latch_set_security_level (LatchHandle *handle, LatchSecurityLevel level);

const char *latch_get_resource_name (const LatchHandle *handle);
int latch_get_resource_timeout (const LatchHandle *handle);
int latch_get_resource_quantity (const LatchHandle *handle);
int latch_get_resource_create (const LatchHandle *handle);
int latch_get_resource_idle_lifespan (const LatchHandle *handle);
LatchLockMode latch_get_lock_mode (const LatchHandle *handle);
/* The socket path in use (the per-user default when none was set). */
const char *latch_get_socket_name (const LatchHandle *handle);
int latch_get_daemon_lifespan (const LatchHandle *handle);
int latch_get_idle_lifespan_min (const LatchHandle *handle);
int latch_get_system (const LatchHandle *handle);

/* Connects (starting a daemon when none answers and the daemon lifespan
 * allows it) and waits for the lock as the timeout says. */
int latch_lock (LatchHandle *handle);

/* Called by latch_lock () when it starts to wait: rc is
 * LATCH_RC_LOCK_ENQUEUED (the daemon queued the request behind others) or
 * LATCH_RC_LOCK_WAIT_RESOURCE (it waits for the resource to be created).
 * Once per such answer, in the thread that called latch_lock (); the
 * callback must not use the handle except through latch_get_*.  NULL
 * (the default): none. */
typedef void (*LatchWaitFunc) (LatchHandle *handle, int rc, void *user_data);
int latch_set_wait_callback (LatchHandle *handle, LatchWaitFunc func, void *user_data);

/* Releases the lock.  rollback is passed on to the daemon: a
 * transactional sequence (_S_NAME[N]) then hands the value out again; the
 * other types ignore it.  In a session the connection stays open and the
 * call does not wait for the daemon; on a legacy connection it
 * disconnects once the daemon has acted.  A lock that was lost meanwhile
 * gives LATCH_RC_CONNECTION_CLOSED (the error text says why): the work
 * done under it may have overlapped another holder's.  Either way the
 * handle holds no lock afterwards. */
int latch_unlock (LatchHandle *handle, int rollback);

/* Does the handle still hold its lock?  Does not block: takes in what the
 * daemon sent on the connection.  LATCH_RC_OK while the lock is held;
 * LATCH_RC_CONNECTION_CLOSED once it is lost (the daemon went away, or
 * told us that it lost the lock: the error text says why), after which
 * latch_unlock() ends it; LATCH_RC_API_INVALID_SEQUENCE without a lock.
 * Call it when latch_get_fd() is readable. */
int latch_check (LatchHandle *handle);

int latch_is_locked (const LatchHandle *handle);

/* After a grant: the element (set: the member granted; sequence: the
 * value, in decimal; timestamp: the formatted time; NULL for the other
 * types) and the fencing token, which strictly increases with every
 * grant of a resource for as long as the daemon lives (0 when the daemon
 * does not send one, e.g. a FLoM daemon). */
const char *latch_get_element (const LatchHandle *handle);
uint64_t latch_get_fence (const LatchHandle *handle);

/* The file descriptor of the lock's connection while locked, else -1 (a
 * session's is shared by the sharing handles and the same from one lock to
 * the next).  Readable means: call latch_check(), which says whether the
 * lock is gone (in a session something may have arrived for another
 * handle, or a ping).  Do not read from or write to it. */
int latch_get_fd (const LatchHandle *handle);

/* Asks the running daemon to shut down: immediate=0 quiesce (serve the
 * current holders and waiters, refuse new requests, then exit), else exit
 * at once.  Never starts a daemon. */
int latch_shutdown_daemon (LatchHandle *handle, int immediate);

/* The last failure in words, "" when none. */
const char *latch_get_error (const LatchHandle *handle);
/* Warnings of the last latch_lock () or latch_shutdown_daemon () that did
 * not fail because of them (e.g. a private key readable by others), one
 * per line; NULL when there were none.  A failure's warnings are part of
 * latch_get_error ().  liblatch prints nothing itself. */
const char *latch_get_warnings (const LatchHandle *handle);

/* A short fixed description of a reason code. */
const char *latch_strerror (int rc);

#ifdef __cplusplus
}
#endif

#endif /* LATCH_H */
