/* lock-table.h: the seam between the daemon's sessions and wherever the
 * lock table lives.
 *
 * The session code (daemon/daemon-session.c) calls this interface for
 * everything about locks; it never sees the locker or a backend.  A
 * backend is one implementation behind it:
 *   memory    (table-memory.c) the pure locker (locker/locker.h) in this
 *             process, with the timer for idle expiry and timed queues;
 *   upstream  (table-upstream.c) another latchd, reached over one
 *             persistent session that carries the requests of many local
 *             owners (the local agent's backend);
 *   etcd      (table-etcd.c) an etcd cluster shared by many daemons:
 *             leases, create revisions as FIFO order, revisions as fences.
 * Every backend applies the same grant rules (the pure locker's), so all
 * agree on who holds what.
 *
 * Asynchrony.  Every answer comes through the answer callback, the first
 * one with first = TRUE: from inside latch_table_request() when it returns
 * ANSWERED (the memory backend always does), later when it returns
 * PENDING.  A queued request
 * (QUEUED, WAIT_RESOURCE) is answered again when it is granted or refused,
 * through the same callback with first = FALSE.  A backend that is not
 * ready yet (its upstream session or cluster still connecting) answers
 * PENDING and answers once it is, or refuses when it gives up; so
 * the session code has one path whatever the backend.
 *
 * Loss.  A backend may lose a lock an owner holds (an etcd lease expired,
 * the upstream session broke for longer than it can be resumed): the lost
 * callback says so.  The owner no longer holds it when the callback runs.
 *
 * Guarantees the seam keeps for every backend (lock-table.c enforces them
 * on what backends report, so a backend bug cannot break them):
 *  - no notification for an owner after latch_table_drop_owner() returned
 *    (its connection is closing or gone), and none at all once
 *    latch_table_shutdown() ran (the daemon is exiting);
 *  - an answer carries the id of the request it answers; one for a request
 *    that is no longer the owner's current one (cancelled, or answered
 *    with a final status already) is not delivered;
 *  - notifications are delivered from the main loop, or from inside a call
 *    into the table (the memory backend reports queue grants from inside
 *    the release that caused them, as the daemon always did); callbacks
 *    may call back into the table, including latch_table_drop_owner().
 *
 * Owners.  One owner is one holder identity: today, one client connection.
 * It has a numeric id, unique for the table's life, and a key
 * "<instance>.<id>" where the instance names this table (the daemon's
 * machine ID and start time): a remote backend names the owner with the
 * key, so that its locks stay apart from every other daemon's and a
 * reconnect of the backend's own session can claim them again.
 *
 * Single-threaded: everything runs in the daemon's main loop thread.
 */
#ifndef LATCH_TABLE_LOCK_TABLE_H
#define LATCH_TABLE_LOCK_TABLE_H

#include <glib.h>

#include "agent/upstream.h"
#include "locker/locker.h"

G_BEGIN_DECLS

typedef struct _LatchTable LatchTable;

/* An owner (transfer none everywhere: the table owns it from
 * latch_table_owner_new() to latch_table_drop_owner()).  The session
 * reads the public fields; the rest is the table's. */
typedef struct
{
  guint64 id;          /* > 0, never reused in this table's life */
  char *label;         /* names it in log lines (the connection's label) */
  gpointer user_data;  /* the session's, handed back in notifications */
  /* private */
  char *key;           /* latch_table_owner_key(), made when first asked for */
  guint64 req_id;      /* the request in flight (pending or waiting); 0: none */
  gboolean req_answered; /* it has had its first answer */
} LatchTableOwner;

/* What latch_table_request() did. */
typedef enum
{
  LATCH_TABLE_ANSWERED, /* the first answer was notified during the call */
  LATCH_TABLE_PENDING,  /* it comes later, by the answer callback */
} LatchTableOutcome;

/* An answer to a request: the first one, or a later one. */
typedef struct
{
  LatchLockStatus status; /* GRANTED, QUEUED, WAIT_RESOURCE, or a refusal */
  guint64 fence;          /* when GRANTED */
  char *element;          /* when GRANTED and the type has elements; owned */
  char *reason;           /* a refusal's cause in words (a remote backend's), or NULL; owned */
} LatchTableAnswer;

void latch_table_answer_clear (LatchTableAnswer *answer);

/* Notifications to the session code. */
typedef struct
{
  /* An answer: the first one to a request (first TRUE), or a later one
   * (a grant from the queue, a creation wait handed over).  answer is
   * valid during the call; the session may steal answer->element.  The
   * callback may call into the table, drop this owner included. */
  void (*answer_cb) (LatchTable *table, LatchTableOwner *owner, gboolean first,
                     LatchTableAnswer *answer, gpointer user_data);
  /* The backend lost owner's lock on name (not a release the owner asked
   * for); reason says why.  The owner does not hold it any more. */
  void (*lost_cb) (LatchTable *table, LatchTableOwner *owner, const char *name,
                   const GError *reason, gpointer user_data);
  /* Time passed in the table and changed it without any request (an idle
   * resource expired): the daemon looks at its lifetime again.  May be
   * NULL. */
  void (*changed_cb) (LatchTable *table, gpointer user_data);
} LatchTableCallbacks;

/* Sets where notifications go (callbacks must outlive the table). */
void latch_table_set_callbacks (LatchTable *table,
                                const LatchTableCallbacks *callbacks,
                                gpointer user_data);

/* The backend's name ("memory", ...), for logs. */
const char *latch_table_backend_name (const LatchTable *table);
/* FALSE while the backend cannot answer yet (requests then say PENDING). */
gboolean latch_table_is_ready (const LatchTable *table);

/* A new owner.  label is copied. */
LatchTableOwner *latch_table_owner_new (LatchTable *table, const char *label,
                                        gpointer user_data);

/* The owner's key, "<instance>.<id>" (transfer none; lives as long as the
 * owner).  Made on first use: only remote backends and snapshots need it,
 * and a connection should not pay a printf for it. */
const char *latch_table_owner_key (LatchTable *table, LatchTableOwner *owner);

/* The owner is gone (its connection is closing or closed): releases all
 * it holds as a rollback, withdraws what it waits for, frees it.  Nothing
 * is notified for it afterwards.  Grants to others that follow are
 * notified (from inside this call with the memory backend). */
void latch_table_drop_owner (LatchTable *table, LatchTableOwner *owner);

/* Asks for a lock.  req is copied as needed.  An owner may have at most
 * one request in flight (pending, queued or waiting for creation): the
 * session refuses a second one before calling.  The first answer always
 * comes through answer_cb (first TRUE): from inside this call when the
 * result is ANSWERED (the memory backend), later when it is PENDING. */
LatchTableOutcome latch_table_request (LatchTable *table, LatchTableOwner *owner,
                                       const LatchLockReq *req);

/* Withdraws owner's request in flight, if any (TRUE then): nothing will
 * be notified for it, even a grant already on its way. */
gboolean latch_table_cancel (LatchTable *table, LatchTableOwner *owner);

/* Releases owner's lock on name (rollback: the numeric/set/sequence
 * types undo what the hold did).  FALSE, and nothing changes, when owner
 * holds no lock of that name. */
gboolean latch_table_release (LatchTable *table, LatchTableOwner *owner,
                              const char *name, gboolean rollback);

/* Counts, for the daemon's lifetime decisions: resources that exist (kept
 * idle ones included), and holders + waiters over all of them. */
guint latch_table_n_resources (const LatchTable *table);
guint latch_table_n_active (const LatchTable *table);

/* The status snapshot (for `latch status`). */
typedef enum
{
  LATCH_TABLE_HOLDING,
  LATCH_TABLE_QUEUED,
  LATCH_TABLE_WAITING_CREATION,
} LatchTablePlace;

typedef struct
{
  LatchTablePlace place;
  char *owner_key;       /* the owner's key (another daemon's, for a shared backend) */
  guint64 owner_id;      /* this table's owner id; 0: not one of ours */
  char *owner_label;     /* NULL when not one of ours */
  char *name;            /* the name asked for (a hierarchical node, ...) */
  LatchLockMode mode;
  int quantity;
  /* Holding: when granted; queued or waiting: when requested (wall
   * clock, us; 0 when the backend does not know). */
  gint64 since_us;
  guint64 fence;         /* holding: the grant's token; 0 when unknown */
  char *element;         /* holding, types with elements: what was handed
                            out (set member, sequence value, timestamp) */
  /* The owner's user_data when it is one of ours (transfer none: valid
   * until control returns to the main loop, which may drop the owner). */
  gpointer owner_data;
} LatchTableLockStatus;

typedef struct
{
  char *name;            /* the resource's identity */
  gboolean exists;       /* FALSE: only waited for (create=FALSE requests) */
  int lifespan;          /* idle lifespan, ms */
  gint64 expiry_us;      /* while idle: when it goes (wall clock); else -1 */
  GArray *locks;         /* LatchTableLockStatus: holders in grant order, then waiters in FIFO order */
} LatchTableRsrcStatus;

typedef struct
{
  gint64 taken_us;       /* the table's clock when it was taken */
  GPtrArray *resources;  /* LatchTableRsrcStatus, sorted by name */
} LatchTableSnapshot;

/* Takes a snapshot (transfer full).  A remote backend gives its last
 * known state (taken_us says when). */
LatchTableSnapshot *latch_table_snapshot (LatchTable *table);
void latch_table_snapshot_free (LatchTableSnapshot *snapshot);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LatchTableSnapshot, latch_table_snapshot_free)

/* The daemon is exiting: no notification from now on, timers stopped.
 * Owners may still be dropped (they are, as connections are aborted). */
void latch_table_shutdown (LatchTable *table);

/* Frees the table and any owner left (transfer full). */
void latch_table_free (LatchTable *table);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LatchTable, latch_table_free)

/* The memory backend (table-memory.c): the pure locker with its settings,
 * and the daemon's clock (wall-clock microseconds that never go back).
 * instance names this table in owner keys. */
LatchTable *latch_table_memory_new (const LatchLockerConfig *config,
                                    const char *instance);

/* The upstream backend (table-upstream.c), the local agent's: every
 * request goes to another latchd over one session (agent/upstream.h),
 * connected on demand with config (copied). */
LatchTable *latch_table_upstream_new (const LatchUpstreamConfig *config,
                                      const char *instance);

/* The etcd backend (table-etcd.c): the table in an etcd cluster shared
 * with other daemons, reached through latch-etcd.so.  Blocks until the
 * lease is granted and the table read (10 s at most): NULL and an error
 * naming the endpoint and the fix when etcd cannot be used. */
typedef struct
{
  const char *endpoints;  /* "http(s)://HOST:PORT,..." */
  const char *prefix;     /* ends with '/' */
  int lease_ttl;          /* s */
  const char *cert_file;  /* the node's TLS files (NULL: none) */
  const char *key_file;
  const char *ca_file;
  const char *crl_file;
  const char *priority;
  /* The daemon's limits, applied to its own owners (0: none). */
  int max_locks;
  int max_waiters;
  int max_idle_lifespan;
  int idle_lifespan_min;
} LatchTableEtcdConfig;

LatchTable *latch_table_etcd_new (const LatchTableEtcdConfig *config, const char *instance,
                                  GError **error);

G_END_DECLS

#endif
