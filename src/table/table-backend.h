/* table-backend.h: what a lock-table backend implements (lock-table.h is
 * what the session code calls).
 *
 * A backend's table struct starts with a LatchTable (GLib-style
 * inheritance) and fills in a LatchTableBackend.  lock-table.c does the
 * bookkeeping every backend needs: owners and their ids and keys, request
 * ids, the guarantees of lock-table.h.  The backend reports what happens
 * with latch_table_emit_answer() and latch_table_emit_lost(), naming the
 * owner and the request by id: a remote backend keeps ids (never
 * pointers) in its in-flight state, so a late reply about an owner that is
 * gone finds nothing and is dropped here. */
#ifndef LATCH_TABLE_TABLE_BACKEND_H
#define LATCH_TABLE_TABLE_BACKEND_H

#include "table/lock-table.h"

G_BEGIN_DECLS

typedef struct
{
  const char *name;
  /* req_id is owner->req_id, already set: every answer names it.
   * ANSWERED: the first answer was emitted during the call (the memory
   * backend emits it first, then what the request caused for others,
   * such as the hand-over of creation waiters); PENDING: it comes
   * later. */
  LatchTableOutcome (*request) (LatchTable *table, LatchTableOwner *owner,
                                guint64 req_id, const LatchLockReq *req);
  /* Withdraw owner's request in flight.  A remote backend that cannot
   * stop a grant already on its way releases it when it arrives (the
   * generic layer will not deliver it). */
  void (*cancel) (LatchTable *table, LatchTableOwner *owner);
  gboolean (*release) (LatchTable *table, LatchTableOwner *owner,
                       const char *name, gboolean rollback);
  /* Release and withdraw everything of owner; it is already unknown to
   * the generic layer (emits for it are dropped) and freed after. */
  void (*drop_owner) (LatchTable *table, LatchTableOwner *owner);
  guint (*n_resources) (const LatchTable *table);
  guint (*n_active) (const LatchTable *table);
  /* Fill snapshot->resources (unsorted; owner_key set, the rest of the
   * owner fields are completed from the key by the generic layer). */
  void (*snapshot) (LatchTable *table, LatchTableSnapshot *snapshot);
  /* Stop timers and I/O; may be NULL. */
  void (*shutdown) (LatchTable *table);
  /* Free the backend's part (not the LatchTable members). */
  void (*free) (LatchTable *table);
} LatchTableBackend;

struct _LatchTable
{
  const LatchTableBackend *backend;
  const LatchTableCallbacks *callbacks;
  gpointer user_data;
  char *instance;
  GHashTable *owners;   /* guint64 id -> LatchTableOwner (owned) */
  guint64 next_owner_id;
  guint64 next_req_id;
  gboolean ready;
  gboolean shut_down;
  guint depth;          /* public calls in progress (they may nest) */
  GPtrArray *graveyard; /* owners dropped during a call, freed after it */
};

/* Sets up the generic part; ready TRUE. */
void latch_table_init (LatchTable *table, const LatchTableBackend *backend,
                       const char *instance);

/* The backend answers request req_id of owner owner_id.  The answer's
 * element is taken (transfer full).  Dropped (with a debug line) when the
 * table is shut down, the owner is gone, or req_id is not its current
 * request.  Returns TRUE when delivered. */
gboolean latch_table_emit_answer (LatchTable *table, guint64 owner_id,
                                  guint64 req_id, LatchTableAnswer *answer);

/* The backend lost owner owner_id's lock on name.  Dropped like an answer
 * when the table is shut down or the owner gone. */
gboolean latch_table_emit_lost (LatchTable *table, guint64 owner_id,
                                const char *name, const GError *reason);

/* Time changed the table (an idle resource expired). */
void latch_table_emit_changed (LatchTable *table);

/* A new resource entry for a snapshot (transfer full: append it to
 * snapshot->resources); its locks array frees its members' strings. */
LatchTableRsrcStatus *latch_table_rsrc_status_new (const char *name);

/* The backend became ready or stopped being. */
void latch_table_set_ready (LatchTable *table, gboolean ready);

G_END_DECLS

#endif
