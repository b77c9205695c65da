/* rsrc-numeric.c: numeric resources ("IDENT[N]").
 *
 * N units of capacity; a request asks for req->quantity of them and is
 * grantable when that many are free (spec/resources.md §4).  The state is
 * the capacity and the number of units in use.
 *
 * Unlike FLoM, which takes any quantity, a quantity outside 1..N is never
 * possible: the locker answers LATCH_LOCK_IMPOSSIBLE even when the request
 * may wait.  So a negative quantity cannot raise the free capacity (in
 * FLoM it does, after which more than N units can be handed out), a zero
 * quantity holds nothing, and "X[0]" refuses everything. */
#include "config.h"

#include "locker/rsrc.h"

#include "common/error.h"

typedef struct
{
  int capacity;  /* N, >= 0 */
  int used;      /* units held, 0..capacity */
} NumericState;

static gboolean
is_valid_quantity (const NumericState *numeric, int quantity)
{
  return quantity >= 1 && quantity <= numeric->capacity;
}

static gpointer
numeric_create (const char *name, const LatchLockReq *req G_GNUC_UNUSED,
                gint64 now_us G_GNUC_UNUSED, GError **error)
{
  NumericState *numeric;
  int capacity;

  /* The locker classified the name as numeric, so this only fails on a
   * bug; refuse rather than guess a capacity. */
  if (!latch_rsrc_name_get_number (name, &capacity) || capacity < 0)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_NAME,
                   "'%s': no usable capacity in a numeric resource name",
                   name);
      return NULL;
    }
  numeric = g_new0 (NumericState, 1);
  numeric->capacity = capacity;
  numeric->used = 0;
  return numeric;
}

static gboolean
numeric_is_possible (gpointer state, const LatchLockReq *req)
{
  return is_valid_quantity (state, req->quantity);
}

static gboolean
numeric_is_grantable (gpointer state, const LatchLockReq *req,
                      gint64 now_us G_GNUC_UNUSED)
{
  NumericState *numeric = state;

  /* used <= capacity, so the subtraction cannot overflow. */
  return is_valid_quantity (numeric, req->quantity)
         && req->quantity <= numeric->capacity - numeric->used;
}

static char *
numeric_grant (gpointer state, LatchRsrcHold *hold,
               gint64 now_us G_GNUC_UNUSED)
{
  NumericState *numeric = state;
  int quantity = hold->req.quantity;

  g_return_val_if_fail (is_valid_quantity (numeric, quantity), NULL);
  g_return_val_if_fail (quantity <= numeric->capacity - numeric->used, NULL);
  numeric->used += quantity;
  /* What release() gives back, whatever happens to req later. */
  hold->value = (guint64) quantity;
  return NULL;
}

static void
numeric_release (gpointer state, LatchRsrcHold *hold,
                 gboolean rollback G_GNUC_UNUSED)
{
  NumericState *numeric = state;

  g_return_if_fail (hold->value <= (guint64) numeric->used);
  numeric->used -= (int) hold->value;
  hold->value = 0;
}

static gboolean
numeric_is_idle (gpointer state)
{
  NumericState *numeric = state;

  return numeric->used == 0;
}

static void
numeric_free (gpointer state)
{
  g_free (state);
}

const LatchRsrcClass latch_rsrc_numeric_class = {
  .type = LATCH_RSRC_NUMERIC,
  .create = numeric_create,
  .is_possible = numeric_is_possible,
  .is_grantable = numeric_is_grantable,
  .grant = numeric_grant,
  .release = numeric_release,
  .is_idle = numeric_is_idle,
  .next_wakeup = NULL,
  .free = numeric_free,
};
