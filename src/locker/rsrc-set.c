/* rsrc-set.c: set resources ("A.B.C", two or more elements).
 *
 * One slot per element, duplicates included ("a.a.b" has three slots), and
 * one holder per slot.  A grant hands out the name of the slot it takes
 * (spec/resources.md §4).
 *
 * Allocation is FLoM's, so that the same sequence of requests gets the
 * same elements: the search for a free slot starts at a rotating index and
 * wraps around; after each grant the index moves on by exactly one
 * position, whichever slot was taken.  From a fresh "red.green.blue" the
 * grants are red, green, blue; with all released the next is red again;
 * with red held, green free and the index at 0, the next is green. */
#include "config.h"

#include "locker/rsrc.h"

#include "common/error.h"

#include <string.h>

#define SEPARATOR "."

typedef struct
{
  char **elements;  /* slot names, NULL-terminated */
  guint n_slots;    /* >= 2 */
  gboolean *taken;  /* n_slots flags */
  guint n_taken;
  guint next;       /* where the next search starts, < n_slots */
} SetState;

static void
set_state_free (SetState *set)
{
  if (set == NULL)
    return;
  g_strfreev (set->elements);
  g_free (set->taken);
  g_free (set);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SetState, set_state_free)

static gpointer
set_create (const char *name, const LatchLockReq *req G_GNUC_UNUSED,
            gint64 now_us G_GNUC_UNUSED, GError **error)
{
  g_autoptr (SetState) set = g_new0 (SetState, 1);
  gboolean has_empty = FALSE;

  set->elements = g_strsplit (name, SEPARATOR, -1);
  set->n_slots = g_strv_length (set->elements);
  for (guint i = 0; i < set->n_slots; i++)
    if (set->elements[i][0] == '\0')
      has_empty = TRUE;
  /* The locker classified the name as a set, so this only fails on a
   * bug; an empty slot name would hand out "" as an element. */
  if (set->n_slots < 2 || has_empty)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_NAME,
                   "'%s': a set resource needs two or more non-empty "
                   "elements separated by '" SEPARATOR "'", name);
      return NULL;
    }
  set->taken = g_new0 (gboolean, set->n_slots);
  set->n_taken = 0;
  set->next = 0;
  return g_steal_pointer (&set);
}

static gboolean
set_is_grantable (gpointer state, const LatchLockReq *req G_GNUC_UNUSED,
                  gint64 now_us G_GNUC_UNUSED)
{
  SetState *set = state;

  return set->n_taken < set->n_slots;
}

static char *
set_grant (gpointer state, LatchRsrcHold *hold, gint64 now_us G_GNUC_UNUSED)
{
  SetState *set = state;
  guint slot = set->n_slots;

  for (guint i = 0; i < set->n_slots; i++)
    {
      guint candidate = (set->next + i) % set->n_slots;

      if (!set->taken[candidate])
        {
          slot = candidate;
          break;
        }
    }
  g_return_val_if_fail (slot < set->n_slots, NULL);

  set->taken[slot] = TRUE;
  set->n_taken++;
  /* One step on, not "after the slot taken": FLoM's rule. */
  set->next = (set->next + 1) % set->n_slots;
  hold->value = slot;
  return g_strdup (set->elements[slot]);
}

static void
set_release (gpointer state, LatchRsrcHold *hold,
             gboolean rollback G_GNUC_UNUSED)
{
  SetState *set = state;
  guint64 slot = hold->value;

  g_return_if_fail (slot < set->n_slots);
  g_return_if_fail (set->taken[slot]);
  set->taken[slot] = FALSE;
  set->n_taken--;
}

/* The rotating index is no reason to stay: like FLoM's, it dies with the
 * resource. */
static gboolean
set_is_idle (gpointer state)
{
  SetState *set = state;

  return set->n_taken == 0;
}

static void
set_free (gpointer state)
{
  set_state_free (state);
}

/* The rotation: where the next search starts. */
static char *
set_save (gpointer state)
{
  SetState *set = state;

  return g_strdup_printf ("%u", set->next);
}

static gboolean
set_load (gpointer state, const char *text)
{
  SetState *set = state;
  char *end;
  guint64 next;

  if (text == NULL)
    return TRUE;
  next = g_ascii_strtoull (text, &end, 10);
  if (end == text || *end != '\0' || next >= set->n_slots)
    return FALSE;
  set->next = (guint)next;
  return TRUE;
}

/* The first free slot with that member's name (a name may appear twice
 * in a set: "a.a.b" has two slots called "a"). */
static gboolean
set_adopt (gpointer state, LatchRsrcHold *hold, const char *element)
{
  SetState *set = state;

  for (guint i = 0; element != NULL && i < set->n_slots; i++)
    if (!set->taken[i] && strcmp (set->elements[i], element) == 0)
      {
        set->taken[i] = TRUE;
        set->n_taken++;
        hold->value = i;
        return TRUE;
      }
  return FALSE;
}

const LatchRsrcClass latch_rsrc_set_class = {
  .type = LATCH_RSRC_SET,
  .create = set_create,
  .is_possible = NULL,
  .is_grantable = set_is_grantable,
  .grant = set_grant,
  .release = set_release,
  .is_idle = set_is_idle,
  .next_wakeup = NULL,
  .save = set_save,
  .load = set_load,
  .adopt = set_adopt,
  .free = set_free,
};
