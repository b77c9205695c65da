/* locker.h: every resource of a daemon, and who holds or waits for what.
 *
 * Pure code (DESIGN.md): no I/O, no main loop, no clock of its own.  The
 * daemon calls in with events (request, unlock, disconnect, time passing)
 * and sends the answers the locker returns.  An owner is an opaque pointer
 * (the daemon's connection).
 *
 * Rules (doc/protocol.md, spec/resources.md):
 *  - A resource is created by a request with create=TRUE when absent; it
 *    keeps the idle lifespan of the request that created it, and is
 *    destroyed once it has had no holder and no waiter for that long, or
 *    for the locker's idle_lifespan_min if that is longer (both 0: as
 *    soon as it becomes idle).  Its state (sequence counter, set
 *    rotation, last timestamp) goes with it.
 *  - A request is granted at once only if nobody is queued for the
 *    resource and the type's rule admits it (simple: the mode is compatible
 *    with every holder's).  Queues are strictly FIFO: a request never
 *    overtakes an earlier queued one, so a writer is never starved.
 *  - After a release the queue is served from its head for as long as the
 *    head is grantable.
 *  - A request with create=FALSE for an absent resource: wait=FALSE gives
 *    LATCH_LOCK_CANT_WAIT; wait=TRUE gives LATCH_LOCK_WAIT_RESOURCE and the
 *    request waits until another request creates a resource of that
 *    identity; then it is handled as if it had just arrived (its outcome
 *    is reported as an event).
 *  - Every grant carries a fencing token from one counter for the whole
 *    locker: strictly increasing with every grant, never reused.
 *
 * Time (now_us) is wall-clock time in microseconds since the epoch that
 * never goes backwards: the daemon guards it (doc/ARCHITECTURE.md).
 * Timestamp resources format it; idle lifespans are measured with it.
 */
#ifndef LATCH_LOCKER_LOCKER_H
#define LATCH_LOCKER_LOCKER_H

#include <glib.h>

#include "latch.h"
#include "locker/rsrc-name.h"

G_BEGIN_DECLS

typedef struct _LatchLocker LatchLocker;

typedef struct
{
  const char *name;      /* NUL-terminated resource name */
  LatchLockMode mode;    /* used by simple and hierarchical resources */
  int quantity;          /* used by numeric resources */
  gboolean wait;         /* may the request be queued? */
  gboolean create;       /* may it create the resource? */
  int lifespan;          /* idle lifespan in ms for a resource it creates (>= 0) */
} LatchLockReq;

/* The immediate outcome of a request.  The values are the wire rc. */
typedef enum
{
  LATCH_LOCK_GRANTED = LATCH_RC_OK,
  LATCH_LOCK_QUEUED = LATCH_RC_LOCK_ENQUEUED,
  LATCH_LOCK_WAIT_RESOURCE = LATCH_RC_LOCK_WAIT_RESOURCE,
  LATCH_LOCK_BUSY = LATCH_RC_LOCK_BUSY,
  LATCH_LOCK_CANT_WAIT = LATCH_RC_LOCK_CANT_WAIT,
  LATCH_LOCK_IMPOSSIBLE = LATCH_RC_LOCK_IMPOSSIBLE,
  LATCH_LOCK_INVALID_NAME = LATCH_RC_INVALID_RESOURCE_NAME,
  LATCH_LOCK_INIT_ERROR = LATCH_RC_RESOURCE_INIT_ERROR, /* the name's parameters are unusable */
  /* Refused by a limit of LatchLockerConfig; nothing changed. */
  LATCH_LOCK_LIMIT_LOCKS = LATCH_RC_LIMIT_LOCKS_PER_CONNECTION,
  LATCH_LOCK_LIMIT_RESOURCES = LATCH_RC_LIMIT_RESOURCES,
  LATCH_LOCK_LIMIT_WAITERS = LATCH_RC_LIMIT_WAITERS,
  LATCH_LOCK_LIMIT_IDLE_LIFESPAN = LATCH_RC_LIMIT_IDLE_LIFESPAN,
} LatchLockStatus;

/* The daemon's default limits ([Daemon] MaxLocksPerConnection,
 * MaxResources, MaxWaitersPerResource, IdleLifespanMax).  They bound what
 * one client can make the daemon keep: a resource with a 2,048-byte name
 * costs a few KiB, an idle one is kept for its idle lifespan. */
#define LATCH_LOCKER_DEFAULT_MAX_LOCKS 100
#define LATCH_LOCKER_DEFAULT_MAX_RESOURCES 65536
#define LATCH_LOCKER_DEFAULT_MAX_WAITERS 4096
#define LATCH_LOCKER_DEFAULT_MAX_IDLE_LIFESPAN 86400000 /* ms: one day */

/* A grant or other late outcome for an owner whose request was queued or
 * waiting for creation: the daemon sends it as a 1/24 answer. */
typedef struct
{
  gpointer owner;
  LatchLockStatus status;  /* GRANTED, or (incubator hand-over) QUEUED, IMPOSSIBLE... */
  guint64 fence;           /* when GRANTED */
  char *element;           /* when GRANTED and the type has elements; owned */
} LatchLockEvent;

/* The settings of a whole locker (the daemon's). */
typedef struct
{
  /* The first token handed out (the daemon passes the start time in
   * microseconds, so tokens also grow across daemon restarts). */
  guint64 first_fence;
  /* ms: an idle resource is kept at least this long, whatever the idle
   * lifespan of its creating request (which counts when longer), so that
   * back-to-back commands find its state: FLoM keeps one about 1-2 s.
   * 0: no minimum; a negative value counts as 0. */
  int idle_lifespan_min;
  /* Limits; 0 (or less): none.  A request past one is refused with the
   * matching LATCH_LOCK_LIMIT_* status and changes nothing:
   *  max_locks: an owner's holds, queued requests and creation waits
   *    together (the daemon's owner is a connection);
   *  max_resources: resources that exist (idle ones included) when a
   *    request would create one;
   *  max_waiters: requests queued for one resource, or waiting for one
   *    to be created, when a request would join them;
   *  max_idle_lifespan: the idle lifespan a request may ask for, in ms
   *    (checked on every request, created or not, so that the answer does
   *    not depend on whether somebody else created the resource first). */
  int max_locks;
  int max_resources;
  int max_waiters;
  int max_idle_lifespan;
} LatchLockerConfig;

LatchLocker *latch_locker_new_full (const LatchLockerConfig *config);
/* latch_locker_new_full() with idle_lifespan_min 0 and no limits. */
LatchLocker *latch_locker_new (guint64 first_fence);
void latch_locker_free (LatchLocker *locker);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LatchLocker, latch_locker_free)

/* A GArray of LatchLockEvent whose clear function frees the elements. */
GArray *latch_lock_events_new (void);

/* Handles a lock request from owner at time now_us.  Returns the status
 * for the first answer; when GRANTED, *fence_out and *element_out
 * (transfer full, NULL for types without elements) are set.  Requests
 * that were waiting for this resource's creation may be granted or queued
 * as a consequence: their outcomes are appended to events.
 * An owner may hold several resources but may have at most one request
 * queued or waiting at a time (the daemon enforces that). */
LatchLockStatus latch_locker_request (LatchLocker *locker, gpointer owner,
                                      const LatchLockReq *req, gint64 now_us,
                                      guint64 *fence_out, char **element_out,
                                      GArray *events);

/* Releases owner's hold on the resource called name.  FALSE (and nothing
 * changes) if owner holds no such lock.  Grants to queued requests that
 * follow are appended to events. */
gboolean latch_locker_unlock (LatchLocker *locker, gpointer owner,
                              const char *name, gboolean rollback,
                              gint64 now_us, GArray *events);

/* The owner is gone (EOF, reset, protocol error): releases all it holds
 * (as a rollback) and withdraws anything it waits for.  Grants that
 * follow are appended to events. */
void latch_locker_drop_owner (LatchLocker *locker, gpointer owner,
                              gint64 now_us, GArray *events);

/* Destroys the resources whose idle lifespan ended at or before now_us.
 * Returns the time of the next expiry or other timed event, or -1 when
 * there is none. */
gint64 latch_locker_tick (LatchLocker *locker, gint64 now_us, GArray *events);

/* Counts, for the daemon's lifetime decisions and for tests. */
guint latch_locker_n_resources (const LatchLocker *locker);
/* holders + queued + waiting for creation, over all resources */
guint latch_locker_n_active (const LatchLocker *locker);

/* Withdraws owner's request that is queued or waits for its resource's
 * creation (an owner has at most one).  FALSE (and nothing changes) when
 * it has none.  Requests behind it that become grantable are granted:
 * their outcomes are appended to events.  Its holds are untouched. */
gboolean latch_locker_cancel (LatchLocker *locker, gpointer owner,
                              gint64 now_us, GArray *events);

/* Where an entry is, for latch_locker_visit(). */
typedef enum
{
  LATCH_LOCKER_HELD,
  LATCH_LOCKER_QUEUED,
  LATCH_LOCKER_WAITING_CREATION,
} LatchLockerPlace;

/* What latch_locker_visit() tells of an entry besides its request. */
typedef struct
{
  gint64 since_us;      /* held: when granted; else when requested (the
                           now_us of the call that granted or took it) */
  guint64 fence;        /* held: the grant's token; else 0 */
  const char *element;  /* held, types with elements: what the grant
                           handed out (set member, sequence value,
                           timestamp); else NULL */
} LatchLockerEntryInfo;

/* What latch_locker_visit() calls; the strings, the request and info are
 * valid during the call only. */
typedef struct
{
  /* A resource (exists TRUE; expiry_us is when it goes while idle, else
   * -1), or the identity of one that requests wait to be created (exists
   * FALSE, lifespan 0, expiry_us -1). */
  void (*resource) (const char *identity, gboolean exists, int lifespan,
                    gint64 expiry_us, gpointer user_data);
  /* Then each entry for it: holders in grant order, then the queue (or
   * the creation waiters) in FIFO order. */
  void (*entry) (const char *identity, gpointer owner, const LatchLockReq *req,
                 LatchLockerPlace place, const LatchLockerEntryInfo *info,
                 gpointer user_data);
} LatchLockerVisitor;

/* Reports every resource and every entry, for a status snapshot.  Changes
 * nothing; resources come in no particular order. */
void latch_locker_visit (const LatchLocker *locker,
                         const LatchLockerVisitor *visitor, gpointer user_data);

/* A table kept elsewhere (table/table-etcd.c) rebuilds one resource in
 * a scratch locker from what it stored, then asks it as usual:
 *
 * latch_locker_restore() makes the resource of name exist (as a request
 * with create and lifespan would) and loads state_text, the type's own
 * state as latch_locker_save_state() gave it (NULL: a new resource's).
 * FALSE when name is invalid or the text is not that type's state.
 *
 * latch_locker_adopt() records owner as a holder of req with element as
 * its grant handed out (NULL for types without elements), granted with
 * fence at since_us: no grant rule is applied, it was granted.  FALSE
 * when the type's state cannot have that grant (a set member not free).
 *
 * latch_locker_save_state() is the type's own state of the resource
 * called identity, as text (transfer full): the set's rotation, the
 * sequence's counter and values for reuse, the timestamp's last slot;
 * NULL for types without (simple, numeric, hierarchical) or no such
 * resource. */
gboolean latch_locker_restore (LatchLocker *locker, const char *name, int lifespan,
                               const char *state_text, gint64 now_us);
gboolean latch_locker_adopt (LatchLocker *locker, gpointer owner, const LatchLockReq *req,
                             const char *element, guint64 fence, gint64 since_us);
char *latch_locker_save_state (const LatchLocker *locker, const char *identity);

G_END_DECLS

#endif
