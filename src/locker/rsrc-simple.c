/* rsrc-simple.c: simple resources ("_RESOURCE" or IDENT).
 *
 * The six VMS lock modes.  A request is grantable when its mode is
 * compatible with the mode of every current holder
 * (spec/resources.md §3, §4).  The state is the number of holders in each
 * mode, which is all the compatibility test needs. */
#include "config.h"

#include "locker/rsrc.h"

#define N_MODES 6

typedef struct
{
  guint n_held[N_MODES];  /* holders by mode */
} SimpleState;

/* compatible[held][requested]: may the two coexist? */
static const gboolean compatible[N_MODES][N_MODES] = {
  /*               NL     CR     CW     PR     PW     EX */
  /* NL */ { TRUE, TRUE, TRUE, TRUE, TRUE, TRUE },
  /* CR */ { TRUE, TRUE, TRUE, TRUE, TRUE, FALSE },
  /* CW */ { TRUE, TRUE, TRUE, FALSE, FALSE, FALSE },
  /* PR */ { TRUE, TRUE, FALSE, TRUE, FALSE, FALSE },
  /* PW */ { TRUE, TRUE, FALSE, FALSE, FALSE, FALSE },
  /* EX */ { TRUE, FALSE, FALSE, FALSE, FALSE, FALSE },
};

gboolean
latch_lock_mode_compatible (LatchLockMode held, LatchLockMode requested)
{
  return compatible[held][requested];
}

static gboolean
is_valid_mode (LatchLockMode mode)
{
  return (int) mode >= 0 && (int) mode < N_MODES;
}

static gpointer
simple_create (const char *name G_GNUC_UNUSED,
               const LatchLockReq *req G_GNUC_UNUSED,
               gint64 now_us G_GNUC_UNUSED, GError **error G_GNUC_UNUSED)
{
  return g_new0 (SimpleState, 1);
}

/* The codec checks the mode; this keeps a bad one from indexing out of
 * the table should one get through. */
static gboolean
simple_is_possible (gpointer state G_GNUC_UNUSED, const LatchLockReq *req)
{
  return is_valid_mode (req->mode);
}

static gboolean
simple_is_grantable (gpointer state, const LatchLockReq *req,
                     gint64 now_us G_GNUC_UNUSED)
{
  SimpleState *simple = state;

  if (!is_valid_mode (req->mode))
    return FALSE;
  for (int held = 0; held < N_MODES; held++)
    if (simple->n_held[held] > 0 && !compatible[held][req->mode])
      return FALSE;
  return TRUE;
}

static char *
simple_grant (gpointer state, LatchRsrcHold *hold, gint64 now_us G_GNUC_UNUSED)
{
  SimpleState *simple = state;

  g_return_val_if_fail (is_valid_mode (hold->req.mode), NULL);
  simple->n_held[hold->req.mode]++;
  return NULL;
}

static void
simple_release (gpointer state, LatchRsrcHold *hold,
                gboolean rollback G_GNUC_UNUSED)
{
  SimpleState *simple = state;

  g_return_if_fail (is_valid_mode (hold->req.mode));
  g_return_if_fail (simple->n_held[hold->req.mode] > 0);
  simple->n_held[hold->req.mode]--;
}

static gboolean
simple_is_idle (gpointer state)
{
  SimpleState *simple = state;

  for (int mode = 0; mode < N_MODES; mode++)
    if (simple->n_held[mode] > 0)
      return FALSE;
  return TRUE;
}

static void
simple_free (gpointer state)
{
  g_free (state);
}

const LatchRsrcClass latch_rsrc_simple_class = {
  .type = LATCH_RSRC_SIMPLE,
  .create = simple_create,
  .is_possible = simple_is_possible,
  .is_grantable = simple_is_grantable,
  .grant = simple_grant,
  .release = simple_release,
  .is_idle = simple_is_idle,
  .next_wakeup = NULL,
  .free = simple_free,
};
