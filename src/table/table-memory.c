/* table-memory.c: the lock table in this process, the first backend.
 *
 * The pure locker (locker/locker.h) decides everything; this file adds
 * what it has not: a clock, the timer for its timed events (idle expiry,
 * queues that time alone unblocks), and the delivery of the late outcomes
 * it reports.  It answers every request at once.
 *
 * The locker's owner is the LatchTableOwner pointer: the locker forgets
 * an owner in latch_locker_drop_owner(), before the generic layer frees
 * it, so no event ever names a freed owner.
 *
 * After every operation the locker is ticked (time passes in it) and the
 * timer re-armed for its next event, as the daemon always did: the
 * outcomes of the operation are delivered first, then those of the tick. */
#include "config.h"

#include "table/lock-table.h"

#include "common/wallclock.h"
#include "table/table-backend.h"

typedef struct
{
  LatchTable parent;
  LatchLocker *locker;
  LatchWallclock clock;
  guint tick_id;
  gint64 tick_at;     /* when tick_id fires, locker time; -1: none */
} MemoryTable;

/* The locker's clock: wall-clock microseconds that never go backwards
 * (common/wallclock.h). */
static gint64
locker_now (MemoryTable *m)
{
  return latch_wallclock_now (&m->clock, g_get_real_time (), g_get_monotonic_time ());
}

/* Delivers the late outcomes the locker reported (step 24 answers).  The
 * owners are named by id, read before any is delivered: a callback may
 * drop an owner that a later event names, and the generic layer then
 * finds nothing and drops that event. */
static void
deliver_events (MemoryTable *m, GArray *events)
{
  guint n = events->len;
  g_autofree guint64 *ids = NULL;

  if (n == 0)
    return; /* the usual case: no allocation */
  ids = g_new (guint64, 2 * (gsize)n);
  for (guint i = 0; i < n; i++)
    {
      LatchTableOwner *owner = g_array_index (events, LatchLockEvent, i).owner;

      ids[2 * i] = owner->id;
      ids[2 * i + 1] = owner->req_id;
    }
  for (guint i = 0; i < n; i++)
    {
      LatchLockEvent *ev = &g_array_index (events, LatchLockEvent, i);
      LatchTableAnswer answer = { ev->status, ev->fence, g_steal_pointer (&ev->element), NULL };

      latch_table_emit_answer (&m->parent, ids[2 * i], ids[2 * i + 1], &answer);
    }
  g_array_set_size (events, 0);
}

static void arm_tick (MemoryTable *m);

static gboolean
tick_cb (gpointer user_data)
{
  MemoryTable *m = user_data;

  m->tick_id = 0;
  m->tick_at = -1;
  arm_tick (m);
  latch_table_emit_changed (&m->parent);
  return G_SOURCE_REMOVE;
}

/* Lets time pass in the locker and arms a timer for its next event. */
static void
arm_tick (MemoryTable *m)
{
  g_autoptr (GArray) events = NULL;
  gint64 now;
  gint64 next;

  if (m->parent.shut_down)
    return;
  events = latch_lock_events_new ();
  now = locker_now (m);
  next = latch_locker_tick (m->locker, now, events);
  deliver_events (m, events);
  if (m->parent.shut_down)
    return; /* a callback ended the daemon */
  if (next == m->tick_at && (m->tick_id != 0 || next < 0))
    return; /* unchanged: no timer churn */
  g_clear_handle_id (&m->tick_id, g_source_remove);
  m->tick_at = next;
  if (next >= 0)
    m->tick_id = g_timeout_add ((guint)CLAMP ((next - now + 999) / 1000, 0, G_MAXINT),
                                tick_cb, m);
}

static LatchTableOutcome
memory_request (LatchTable *table, LatchTableOwner *owner, guint64 req_id,
                const LatchLockReq *req)
{
  MemoryTable *m = (MemoryTable *)table;
  g_autoptr (GArray) events = latch_lock_events_new ();
  LatchTableAnswer answer = { 0 };
  guint64 owner_id = owner->id;

  answer.status = latch_locker_request (m->locker, owner, req, locker_now (m),
                                        &answer.fence, &answer.element, events);
  /* The requester's answer first, then the hand-over to the creation
   * waiters this request may have caused. */
  latch_table_emit_answer (table, owner_id, req_id, &answer);
  deliver_events (m, events);
  arm_tick (m);
  return LATCH_TABLE_ANSWERED;
}

static void
memory_cancel (LatchTable *table, LatchTableOwner *owner)
{
  MemoryTable *m = (MemoryTable *)table;
  g_autoptr (GArray) events = latch_lock_events_new ();

  latch_locker_cancel (m->locker, owner, locker_now (m), events);
  deliver_events (m, events);
  arm_tick (m);
}

static gboolean
memory_release (LatchTable *table, LatchTableOwner *owner, const char *name,
                gboolean rollback)
{
  MemoryTable *m = (MemoryTable *)table;
  g_autoptr (GArray) events = latch_lock_events_new ();

  if (!latch_locker_unlock (m->locker, owner, name, rollback, locker_now (m), events))
    return FALSE;
  deliver_events (m, events);
  arm_tick (m);
  return TRUE;
}

static void
memory_drop_owner (LatchTable *table, LatchTableOwner *owner)
{
  MemoryTable *m = (MemoryTable *)table;
  g_autoptr (GArray) events = latch_lock_events_new ();

  latch_locker_drop_owner (m->locker, owner, locker_now (m), events);
  deliver_events (m, events);
  arm_tick (m);
}

static guint
memory_n_resources (const LatchTable *table)
{
  return latch_locker_n_resources (((const MemoryTable *)table)->locker);
}

static guint
memory_n_active (const LatchTable *table)
{
  return latch_locker_n_active (((const MemoryTable *)table)->locker);
}

typedef struct
{
  LatchTable *table;
  LatchTableSnapshot *snapshot;
  LatchTableRsrcStatus *current;
} Visit;

static void
visit_resource (const char *identity, gboolean exists, int lifespan, gint64 expiry_us,
                gpointer user_data)
{
  Visit *v = user_data;

  v->current = latch_table_rsrc_status_new (identity);
  v->current->exists = exists;
  v->current->lifespan = lifespan;
  v->current->expiry_us = expiry_us;
  g_ptr_array_add (v->snapshot->resources, v->current);
}

static void
visit_entry (const char *identity G_GNUC_UNUSED, gpointer owner, const LatchLockReq *req,
             LatchLockerPlace place, const LatchLockerEntryInfo *info,
             gpointer user_data)
{
  Visit *v = user_data;
  LatchTableLockStatus lock = {
    .owner_key = g_strdup (latch_table_owner_key (v->table, owner)),
    .name = g_strdup (req->name),
    .mode = req->mode,
    .quantity = req->quantity,
    .since_us = info->since_us,
    .fence = info->fence,
    .element = g_strdup (info->element),
  };

  switch (place)
    {
    case LATCH_LOCKER_HELD: lock.place = LATCH_TABLE_HOLDING; break;
    case LATCH_LOCKER_QUEUED: lock.place = LATCH_TABLE_QUEUED; break;
    case LATCH_LOCKER_WAITING_CREATION:
    default: lock.place = LATCH_TABLE_WAITING_CREATION; break;
    }
  g_array_append_val (v->current->locks, lock);
}

static const LatchLockerVisitor visitor = { visit_resource, visit_entry };

static void
memory_snapshot (LatchTable *table, LatchTableSnapshot *snapshot)
{
  MemoryTable *m = (MemoryTable *)table;
  Visit v = { table, snapshot, NULL };

  snapshot->taken_us = locker_now (m);
  latch_locker_visit (m->locker, &visitor, &v);
}

static void
memory_shutdown (LatchTable *table)
{
  MemoryTable *m = (MemoryTable *)table;

  g_clear_handle_id (&m->tick_id, g_source_remove);
}

static void
memory_free (LatchTable *table)
{
  MemoryTable *m = (MemoryTable *)table;

  g_clear_handle_id (&m->tick_id, g_source_remove);
  g_clear_pointer (&m->locker, latch_locker_free);
}

static const LatchTableBackend memory_backend = {
  .name = "memory",
  .request = memory_request,
  .cancel = memory_cancel,
  .release = memory_release,
  .drop_owner = memory_drop_owner,
  .n_resources = memory_n_resources,
  .n_active = memory_n_active,
  .snapshot = memory_snapshot,
  .shutdown = memory_shutdown,
  .free = memory_free,
};

LatchTable *
latch_table_memory_new (const LatchLockerConfig *config, const char *instance)
{
  MemoryTable *m = g_new0 (MemoryTable, 1);

  latch_table_init (&m->parent, &memory_backend, instance);
  m->locker = latch_locker_new_full (config);
  m->clock = (LatchWallclock)LATCH_WALLCLOCK_INIT;
  m->tick_at = -1;
  return &m->parent;
}
