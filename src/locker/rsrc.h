/* rsrc.h: the interface between the locker and a resource type (private
 * to src/locker/).
 *
 * The locker (locker.c) owns everything that is the same for every type:
 * names and identity, creation and the incubator, holders and the FIFO
 * queue of each resource, owners, fencing tokens, idle lifespans.  A type
 * (rsrc-simple.c, rsrc-numeric.c, rsrc-set.c, ...) keeps only its
 * own state and decides whether a request can be granted now, what a grant
 * hands out and what a release gives back.  Adding a type means writing
 * one LatchRsrcClass and naming it in class_for_type() in locker.c.
 *
 * Pure code: a type never looks at a clock; the locker passes now_us.
 */
#ifndef LATCH_LOCKER_RSRC_H
#define LATCH_LOCKER_RSRC_H

#include <glib.h>

#include "locker/locker.h"
#include "locker/rsrc-name.h"

G_BEGIN_DECLS

/* One grant, as the type sees it.  The locker fills in req before calling
 * grant() and keeps the hold until it calls release(). */
typedef struct
{
  LatchLockReq req;  /* the granted request (req.name owned by the locker) */
  guint64 value;     /* the type's own: set slot, sequence value, ... */
  gpointer data;     /* the type's own; release() frees it */
} LatchRsrcHold;

typedef struct
{
  LatchRsrcType type;

  /* The state of a new resource, from its name (which classified as this
   * type) and the request that creates it at now_us.  NULL and an error
   * when the name's parameters are unusable (e.g. a timestamp format
   * without a resolution, or whose result can be too long); the locker
   * then refuses the request. */
  gpointer (*create) (const char *name, const LatchLockReq *req,
                      gint64 now_us, GError **error);

  /* Could req ever be granted on this resource (e.g. numeric: quantity <=
   * capacity; simple: a known mode)?  A request that never could is
   * refused with LATCH_LOCK_IMPOSSIBLE even when it may wait.  NULL:
   * always possible. */
  gboolean (*is_possible) (gpointer state, const LatchLockReq *req);

  /* May req be granted now, given the current holders?  Queued requests
   * are the locker's business, not the type's. */
  gboolean (*is_grantable) (gpointer state, const LatchLockReq *req,
                            gint64 now_us);

  /* Records the grant of hold->req (is_grantable() said yes) and fills the
   * type's fields of hold.  Returns the element handed to the client
   * (transfer full), or NULL for types without elements. */
  char *(*grant) (gpointer state, LatchRsrcHold *hold, gint64 now_us);

  /* Gives back what grant() recorded.  rollback: the client asked for it,
   * or went away without unlocking. */
  void (*release) (gpointer state, LatchRsrcHold *hold, gboolean rollback);

  /* Has the type nothing of its own going on (the locker already knows
   * that there are no holders and no queue)?  NULL: always idle then. */
  gboolean (*is_idle) (gpointer state);

  /* For types where time alone can make the head of the queue grantable
   * (timestamps): when that next happens, or -1.  The locker's tick serves
   * the queue then.  NULL: never. */
  gint64 (*next_wakeup) (gpointer state, gint64 now_us);

  /* Until when (locker time) the state must outlive the resource's idle
   * lifespan: an idle resource is destroyed at the later of the two.
   * Timestamps return the end of the current time slot.  NULL: never. */
  gint64 (*busy_until) (gpointer state);

  /* A table kept elsewhere (etcd, table/table-etcd.c) rebuilds a
   * resource from what it stored: the type's own state as text (save,
   * load), and the grants made from it (adopt).  NULL: the type has no
   * state of its own beyond its holders (simple, numeric,
   * hierarchical): save gives NULL, load accepts only NULL, and adopt
   * records the hold as grant() would. */
  char *(*save) (gpointer state);
  gboolean (*load) (gpointer state, const char *text);
  /* Records a grant made elsewhere that handed out element (no
   * is_grantable() check: it was granted).  FALSE when the state cannot
   * have it (a set member that is not one, or is taken). */
  gboolean (*adopt) (gpointer state, LatchRsrcHold *hold, const char *element);

  void (*free) (gpointer state);
} LatchRsrcClass;

/* The VMS compatibility matrix (spec/resources.md §3): may a holder in
 * mode held and one in mode requested coexist?  Both must be valid modes.
 * Simple and hierarchical resources use it. */
gboolean latch_lock_mode_compatible (LatchLockMode held, LatchLockMode requested);

extern const LatchRsrcClass latch_rsrc_simple_class;
extern const LatchRsrcClass latch_rsrc_numeric_class;
extern const LatchRsrcClass latch_rsrc_set_class;
extern const LatchRsrcClass latch_rsrc_hier_class;
extern const LatchRsrcClass latch_rsrc_sequence_class;
extern const LatchRsrcClass latch_rsrc_timestamp_class;

G_END_DECLS

#endif
