/* daemon-private.h: what the daemon's parts share (for src/daemon/ and
 * its unit test, tests/unit/test-table.c, only).
 *
 * The daemon is cut along its seams:
 *   daemon.c           latch_daemon_run: start-up (TLS, listening, the lock
 *                      table, signals) and teardown
 *   daemon-listen.c    the lock file, the UNIX or TCP listener, accept,
 *                      running out of descriptors, CRL reloads
 *   daemon-session.c   one client connection (Client): messages, admission,
 *                      refusals, answers, and the lock table's
 *                      notifications
 *   daemon-lifetime.c  idle exit, quiesce, signals
 *   daemon-status.c    status requests: the lock table's snapshot as
 *                      text, JSON, names, metrics, or one wait/holder line
 * Everything about locks goes through the lock-table seam
 * (table/lock-table.h); no part of the daemon calls the locker (it uses
 * only its request and status types, which the seam shares). */
#ifndef LATCH_DAEMON_DAEMON_PRIVATE_H
#define LATCH_DAEMON_DAEMON_PRIVATE_H

#include <glib.h>
#include <sys/types.h>

#include "common/error.h"
#include "daemon/daemon.h"
#include "net/conn.h"
#include "net/discovery.h"
#include "net/sockdir.h"
#include "proto/msg.h"
#include "table/lock-table.h"

G_BEGIN_DECLS

typedef struct _Daemon Daemon;

typedef struct _Client Client;

typedef struct _LatchDaemonMetrics LatchDaemonMetrics;

/* One lock-table owner of a connection (owner->user_data is its slot).
 * A legacy (FLoM-style) connection has exactly one, for its whole life,
 * which may hold several locks in turn, as FLoM allows.  A session
 * (doc/protocol.md, the session extension) has one per live lock id: made
 * by that id's lock request, freed once the id is finished (refused,
 * unlocked, cancelled or lost), so that two ids exclude each other
 * exactly as two connections do. */
typedef struct
{
  Client *client;
  LatchTableOwner *owner;
  guint64 id;           /* the client's lock id; 0 on a legacy connection */
  gboolean has_pending; /* a request is pending, queued or waits for creation */
  guint n_holds;        /* locks granted and not released */
  LatchLockReq req;     /* the request in flight (for its answer's log lines) */
  char *req_name;       /* req.name, owned */
} Slot;

/* Who is at the other end of a connection, as the daemon saw it at
 * accept().  A local (UNIX socket) peer's credentials are the kernel's
 * (SO_PEERCRED); a network peer has its address, and at the mutual level
 * the machine ID it announced and its certificate proved. */
typedef struct
{
  gboolean is_local;    /* UNIX socket: uid, gid and pid are set */
  uid_t uid;
  gid_t gid;
  pid_t pid;
  char *address;        /* TCP: "ADDR:PORT" (owned); NULL when local */
  char *machine_id;     /* mutual TLS: the peer's checked ID (owned); else NULL */
  gint64 since_us;      /* when it was accepted (g_get_real_time ()) */
} LatchPeer;

/* A connected client. */
struct _Client
{
  LatchPeer peer;
  /* A legacy connection's one slot (its client is this Client, its id
   * 0); unused in a session (owner NULL). */
  Slot legacy;
  Daemon *daemon;
  LatchConn *conn;
  GHashTable *slots;  /* a session's live ids, guint64 id -> Slot*; NULL: legacy */
  gboolean ext_sent;  /* a session: its first answer (with ext) went out */
  int timeout;        /* a session's negotiated timeout, ms; 0: none */
};

struct _Daemon
{
  const LatchDaemonConfig *config;
  LatchTlsSettings tls_settings; /* its [TLS] group (strings borrowed) */
  GMainLoop *loop;
  LatchTable *table;
  LatchSockPath path;
  gid_t system_gid;      /* the host's daemon (--system): its group's */
  int lock_fd;
  int listen_fd;
  guint listen_id;
  gboolean socket_bound; /* we own path.socket_path and must unlink it */
  gboolean is_tcp;       /* the listener is TCP (else the UNIX socket) */
  gboolean not_local;    /* start-up failed: the unicast address is not ours */
  char *where;           /* what it listens on, for logs */
  LatchDiscoveryServer *discovery;
  GHashTable *clients;   /* Client* set */
  guint n_accepted;
  /* Out of file descriptors: the listener is not polled (it would be
   * readable at once, for ever) until a connection closes. */
  gint64 fd_exhausted_since; /* monotonic ms; -1: not exhausted */
  guint resume_id;           /* idle source that polls the listener again */
  gboolean quiescing;
  gboolean exiting;      /* tearing down: grant nothing more */
  guint idle_id;
  gint64 idle_since;     /* monotonic ms when it last became idle; -1: busy */
  guint sigterm_id;
  guint sigint_id;
  const char *peerid;
  LatchSecurityLevel level;    /* resolved: CLEAR, CHANNEL or MUTUAL */
  const LatchTlsModule *tls;   /* NULL at CLEAR */
  LatchTlsCreds *creds;
  char *crl_stamp;             /* of the CRL file the credentials hold */
  LatchDaemonMetrics *metrics; /* counters, and the HTTP endpoint (daemon-metrics.c) */
};

/* daemon-lifetime.c */
gint64 latch_daemon_now_ms (void);
void latch_daemon_check_lifetime (Daemon *d);
void latch_daemon_quiesce (Daemon *d, const char *label);
void latch_daemon_signals_add (Daemon *d);
void latch_daemon_signals_remove (Daemon *d);

/* daemon-listen.c */
gboolean latch_daemon_start_listening (Daemon *d, gboolean *busy, GError **error);
void latch_daemon_stop_listening (Daemon *d);
/* A connection closed: if descriptors had run out, accept again. */
void latch_daemon_resume_accepting (Daemon *d);
/* The CRL file's identity, to notice a new one (transfer full). */
char *latch_daemon_crl_stamp (const char *path);
/* Before a lock request on a TLS connection: a changed CRL is loaded and
 * the sessions it revokes are closed.  FALSE when current is one of them
 * (it is gone: serve nothing). */
gboolean latch_daemon_check_crl (Daemon *d, Client *current);

/* daemon-metrics.c */
/* The daemon's counters and gauges in the Prometheus text exposition
 * format (transfer full). */
char *latch_daemon_metrics_text (Daemon *d);
LatchDaemonMetrics *latch_daemon_metrics_new (void);
/* Stops the HTTP endpoint too.  NULL is fine. */
void latch_daemon_metrics_free (LatchDaemonMetrics *metrics);
/* Serves GET /metrics on [Daemon] MetricsAddress when it is set (not
 * in the agent).  FALSE: a bad address, or it cannot be bound. */
gboolean latch_daemon_metrics_start (Daemon *d, GError **error);
/* The hooks, one call where each event happens.  Each does nothing
 * while d->metrics is NULL. */
void latch_daemon_metrics_accepted (Daemon *d, Client *c);
void latch_daemon_metrics_closed (Daemon *d, Client *c, const GError *reason);
/* c's TLS handshake began (at accept) / completed. */
void latch_daemon_metrics_tls_begin (Daemon *d, Client *c);
void latch_daemon_metrics_tls_done (Daemon *d, Client *c);
/* A TLS session closed because a new CRL revokes its peer. */
void latch_daemon_metrics_revoked (Daemon *d);
/* The lock table answered s's request (before the session acts on it). */
void latch_daemon_metrics_answered (Daemon *d, const Slot *s, gboolean first,
                                    LatchLockStatus status);
/* A refusal the session makes itself (not the table's): rc as sent. */
void latch_daemon_metrics_refused (Daemon *d, Client *c, int rc);
/* s's owner goes (before it is dropped): a request still queued is a
 * cancellation. */
void latch_daemon_metrics_slot_gone (Daemon *d, const Slot *s);
/* The table lost a lock a client held. */
void latch_daemon_metrics_lost (Daemon *d);

/* daemon-status.c */
/* Serves a status request (msg, LATCH_MSG_STATUS_REQUEST, admitted) on
 * c: its first message (first), answered and then closed; on a lock
 * connection refused with rc 2, the connection left as it is. */
void latch_daemon_status_serve (Client *c, const LatchMsg *msg, gboolean first);
/* Refuses c's status request with rc 2 and reason, then closes. */
void latch_daemon_status_refuse (Client *c, const char *reason);

/* daemon-session.c */
/* A new client on fd (taken); label names it in logs; peer is taken
 * (its strings are the client's from now on). */
Client *latch_daemon_session_new (Daemon *d, int fd, const char *label,
                                  LatchPeer *peer);
/* Where the lock table's notifications go. */
extern const LatchTableCallbacks latch_daemon_table_callbacks;

G_END_DECLS

#endif
