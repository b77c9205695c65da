/* rsrc-sequence.c: sequence resources ("_s_X[N]", "_S_X[N]").
 *
 * spec/resources.md §4, §6.  Up to N holders at a time; each grant hands
 * out a value of an unsigned 32-bit counter that starts at 1 and skips 0
 * when it wraps (..., 4294967295, 1, 2, ...).  The second character of the
 * name decides the kind:
 *  - "_S_" transactional: a value given back with a rollback (asked for,
 *    or the holder went away without unlocking) is handed out again before
 *    the counter moves on, oldest first;
 *  - "_s_" non-transactional: a rolled-back value is lost.
 * An unlock without rollback consumes the value.
 *
 * The counter and the values waiting for reuse are the resource's state:
 * like FLoM's, they die with it when the locker destroys it after its
 * idle lifespan, and a new resource of the same name starts again at 1.
 * That is why there is no is_idle(): the locker's idle rule (no holders,
 * no queue) is the whole of it. */
#include "config.h"

#include "locker/rsrc-sequence.h"

#include "locker/rsrc.h"

#include "common/error.h"

typedef struct
{
  gboolean transactional;  /* "_S_" */
  guint capacity;          /* N: concurrent holders */
  guint n_held;
  guint32 next;            /* the counter's next value, never 0 */
  GQueue reuse;            /* rolled-back values (GUINT_TO_POINTER), oldest first */
} SequenceState;

static gpointer
sequence_create (const char *name, const LatchLockReq *req G_GNUC_UNUSED,
                 gint64 now_us G_GNUC_UNUSED, GError **error)
{
  SequenceState *seq;
  int capacity;

  /* The locker classified the name as a sequence, so both hold; a name
   * that does not parse is a bug of ours, but is refused all the same. */
  if (name[0] != '_' || (name[1] != 's' && name[1] != 'S')
      || !latch_rsrc_name_get_number (name, &capacity) || capacity < 0)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_NAME,
                   "'%s' is not a sequence name (_s_NAME[N] or _S_NAME[N])",
                   name);
      return NULL;
    }

  seq = g_new0 (SequenceState, 1);
  seq->transactional = name[1] == 'S';
  seq->capacity = (guint) capacity;
  seq->next = 1;
  g_queue_init (&seq->reuse);
  return seq;
}

/* Capacity 0 never grants (FLoM: "_s_X[0]" never grants): refuse at once
 * rather than queue for ever. */
static gboolean
sequence_is_possible (gpointer state, const LatchLockReq *req G_GNUC_UNUSED)
{
  SequenceState *seq = state;

  return seq->capacity > 0;
}

static gboolean
sequence_is_grantable (gpointer state, const LatchLockReq *req G_GNUC_UNUSED,
                       gint64 now_us G_GNUC_UNUSED)
{
  SequenceState *seq = state;

  return seq->n_held < seq->capacity;
}

/* The counter's value, advanced past it (skipping 0). */
static guint32
take_next (SequenceState *seq)
{
  guint32 value = seq->next;

  seq->next++;
  if (seq->next == 0)
    seq->next = 1;
  return value;
}

static char *
sequence_grant (gpointer state, LatchRsrcHold *hold,
                gint64 now_us G_GNUC_UNUSED)
{
  SequenceState *seq = state;
  guint32 value;

  g_return_val_if_fail (seq->n_held < seq->capacity, NULL);

  if (seq->transactional && !g_queue_is_empty (&seq->reuse))
    value = GPOINTER_TO_UINT (g_queue_pop_head (&seq->reuse));
  else
    value = take_next (seq);
  seq->n_held++;
  hold->value = value;
  hold->data = NULL;
  return g_strdup_printf ("%" G_GUINT32_FORMAT, value);
}

static void
sequence_release (gpointer state, LatchRsrcHold *hold, gboolean rollback)
{
  SequenceState *seq = state;

  g_return_if_fail (seq->n_held > 0);
  seq->n_held--;
  if (rollback && seq->transactional)
    g_queue_push_tail (&seq->reuse, GUINT_TO_POINTER ((guint32) hold->value));
}

static void
sequence_free (gpointer state)
{
  SequenceState *seq = state;

  if (seq == NULL)
    return;
  g_queue_clear (&seq->reuse);
  g_free (seq);
}

/* "NEXT R1 R2 ...": the counter, then the values given back for reuse,
 * oldest first. */
static char *
sequence_save (gpointer state)
{
  SequenceState *seq = state;
  GString *s = g_string_new (NULL);

  g_string_append_printf (s, "%" G_GUINT32_FORMAT, seq->next);
  for (GList *l = seq->reuse.head; l != NULL; l = l->next)
    g_string_append_printf (s, " %u", GPOINTER_TO_UINT (l->data));
  return g_string_free (s, FALSE);
}

static gboolean
parse_u32 (const char *text, char **end, guint32 *out)
{
  guint64 v = g_ascii_strtoull (text, end, 10);

  if (*end == text || v == 0 || v > G_MAXUINT32)
    return FALSE;
  *out = (guint32)v;
  return TRUE;
}

static gboolean
sequence_load (gpointer state, const char *text)
{
  SequenceState *seq = state;
  const char *p = text;
  char *end;
  guint32 v;

  if (text == NULL)
    return TRUE;
  if (!parse_u32 (p, &end, &v))
    return FALSE;
  seq->next = v;
  g_queue_clear (&seq->reuse);
  for (p = end; *p == ' '; p = end)
    {
      if (!parse_u32 (p + 1, &end, &v))
        return FALSE;
      g_queue_push_tail (&seq->reuse, GUINT_TO_POINTER (v));
    }
  return *p == '\0';
}

static gboolean
sequence_adopt (gpointer state, LatchRsrcHold *hold, const char *element)
{
  SequenceState *seq = state;
  char *end;
  guint32 v;

  if (element == NULL || !parse_u32 (element, &end, &v) || *end != '\0')
    return FALSE;
  seq->n_held++;
  hold->value = v;
  hold->data = NULL;
  return TRUE;
}

void
latch_rsrc_sequence_set_next (gpointer state, guint32 next)
{
  SequenceState *seq = state;

  g_return_if_fail (seq != NULL);
  seq->next = next != 0 ? next : 1;
}

const LatchRsrcClass latch_rsrc_sequence_class = {
  .type = LATCH_RSRC_SEQUENCE,
  .create = sequence_create,
  .is_possible = sequence_is_possible,
  .is_grantable = sequence_is_grantable,
  .grant = sequence_grant,
  .release = sequence_release,
  .is_idle = NULL,
  .next_wakeup = NULL,
  .save = sequence_save,
  .load = sequence_load,
  .adopt = sequence_adopt,
  .free = sequence_free,
};
