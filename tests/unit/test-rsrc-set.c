/* test-rsrc-set.c: set resources "A.B.C", through the locker and through
 * the type's class. */
#include "config.h"

#include "locker/locker.h"

#include "locker/rsrc.h"

#include "common/error.h"

#include "locker-fixture.h"

#include <string.h>

/* The locker's clock is in microseconds; the tests think in ms. */
#define MS(ms) ((gint64) (ms) * 1000)

/* A lifespan long enough that a resource outlives its last holder in every
 * test that does not call latch_locker_tick (the clock stays at 0). */
#define KEEP 60000

#define RGB "red.green.blue"

/* Requests name for owner at now_ms.  When granted, *element_out (if not
 * NULL) gets the element (transfer full), which must be there. */
static LatchLockStatus
take_full (LatchTestFixture *fx, int owner, const char *name, gboolean wait,
           gboolean create, int lifespan, gint64 now_ms, char **element_out)
{
  LatchLockReq req = latch_test_req (name, LATCH_LOCK_MODE_EX, 1, wait, create,
                                     lifespan);

  return latch_test_request (fx, owner, &req, MS (now_ms),
                             LATCH_TEST_CHECK_FENCE_UNWRITTEN
                             | LATCH_TEST_CHECK_FENCE_RISES,
                             NULL, element_out);
}

/* Requests name (created with lifespan KEEP, time 0) and expects a grant
 * of element want. */
static void
assert_take (LatchTestFixture *fx, int owner, const char *name,
             const char *want)
{
  g_autofree char *element = NULL;

  g_assert_cmpint (take_full (fx, owner, name, FALSE, TRUE, KEEP, 0,
                              &element), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpstr (element, ==, want);
}

static LatchLockStatus
take (LatchTestFixture *fx, int owner, const char *name, gboolean wait)
{
  return take_full (fx, owner, name, wait, TRUE, KEEP, 0, NULL);
}

/* ---- FLoM's allocation order ---- */

/* Use case 12: a fresh set hands out its elements in order; once all are
 * back, the next grant starts again at the first. */
static void
test_flom_fresh_order (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  assert_take (fx, 1, RGB, "red");
  assert_take (fx, 2, RGB, "green");
  assert_take (fx, 3, RGB, "blue");
  g_assert_cmpint (take (fx, 4, RGB, FALSE), ==, LATCH_LOCK_BUSY);
  latch_test_assert_counts (fx, 1, 3);

  g_assert_true (latch_test_unlock (fx, 2, RGB));
  g_assert_true (latch_test_unlock (fx, 3, RGB));
  g_assert_true (latch_test_unlock (fx, 1, RGB));
  g_assert_cmpuint (fx->events->len, ==, 0);
  latch_test_assert_counts (fx, 1, 0);  /* kept by its lifespan, index at 0 */

  assert_take (fx, 4, RGB, "red");
  assert_take (fx, 5, RGB, "green");
}

/* Use case 13: red held, green free, the index back at 0: the search
 * skips red and takes green. */
static void
test_flom_skip_held (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  assert_take (fx, 1, RGB, "red");
  assert_take (fx, 2, RGB, "green");
  assert_take (fx, 3, RGB, "blue");
  g_assert_true (latch_test_unlock (fx, 2, RGB));
  g_assert_true (latch_test_unlock (fx, 3, RGB));

  assert_take (fx, 4, RGB, "green");  /* index 0 -> 1 */
  assert_take (fx, 5, RGB, "blue");   /* index 1 -> 2 */
  g_assert_true (latch_test_unlock (fx, 1, RGB));
  assert_take (fx, 6, RGB, "red");    /* from 2: blue held, wraps to red */
  g_assert_cmpint (take (fx, 7, RGB, FALSE), ==, LATCH_LOCK_BUSY);
}

/* The index moves on by exactly one per grant, not to the slot after the
 * one taken. */
static void
test_index_one_step (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  const char *abcd = "a.b.c.d";

  assert_take (fx, 1, abcd, "a");  /* index 1 */
  assert_take (fx, 2, abcd, "b");  /* index 2 */
  assert_take (fx, 3, abcd, "c");  /* index 3 */
  g_assert_true (latch_test_unlock (fx, 1, abcd));
  g_assert_true (latch_test_unlock (fx, 2, abcd));
  /* From 3: d is free. */
  assert_take (fx, 4, abcd, "d");  /* index 0 */
  g_assert_true (latch_test_unlock (fx, 4, abcd));
  /* From 0: a. */
  assert_take (fx, 5, abcd, "a");  /* index 1 */
  g_assert_true (latch_test_unlock (fx, 3, abcd));
  /* From 1: b (a is held, b is free). */
  assert_take (fx, 6, abcd, "b");  /* index 2 */
  g_assert_true (latch_test_unlock (fx, 5, abcd));
  g_assert_true (latch_test_unlock (fx, 6, abcd));
  /* All free, index 2: c, then d, a, b; index 2 again. */
  assert_take (fx, 7, abcd, "c");
  assert_take (fx, 8, abcd, "d");
  assert_take (fx, 9, abcd, "a");
  assert_take (fx, 10, abcd, "b");

  /* A slot taken far from the index moves it on by one only, not to the
   * slot after the one taken: from 3 the search finds d before b. */
  g_assert_true (latch_test_unlock (fx, 9, abcd));   /* a free */
  assert_take (fx, 11, abcd, "a");        /* from 2: c, d held; index 3 */
  g_assert_true (latch_test_unlock (fx, 10, abcd));  /* b free */
  g_assert_true (latch_test_unlock (fx, 8, abcd));   /* d free */
  assert_take (fx, 12, abcd, "d");        /* from 3, not from 1; index 0 */
  assert_take (fx, 13, abcd, "b");        /* from 0: a held, b; index 1 */
  g_assert_cmpint (take (fx, 14, abcd, FALSE), ==, LATCH_LOCK_BUSY);
}

/* ---- slots ---- */

/* Duplicate names are separate slots. */
static void
test_duplicates (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  assert_take (fx, 1, "a.a.b", "a");
  assert_take (fx, 2, "a.a.b", "a");
  assert_take (fx, 3, "a.a.b", "b");
  g_assert_cmpint (take (fx, 4, "a.a.b", FALSE), ==, LATCH_LOCK_BUSY);
  latch_test_assert_counts (fx, 1, 3);

  /* Index at 0, slot 1 free: an "a" again. */
  g_assert_true (latch_test_unlock (fx, 2, "a.a.b"));
  assert_take (fx, 4, "a.a.b", "a");
  g_assert_cmpint (take (fx, 5, "a.a.b", FALSE), ==, LATCH_LOCK_BUSY);

  /* Same elements, different name, different resource. */
  assert_take (fx, 5, "b.a.a", "b");
  latch_test_assert_counts (fx, 2, 4);
}

/* Full set: wait=FALSE is busy, wait=TRUE queues, and the element comes
 * with the late grant. */
static void
test_events_carry_element (LatchTestFixture *fx,
                           gconstpointer data G_GNUC_UNUSED)
{
  assert_take (fx, 1, RGB, "red");
  assert_take (fx, 2, RGB, "green");
  assert_take (fx, 3, RGB, "blue");
  g_assert_cmpint (take (fx, 4, RGB, FALSE), ==, LATCH_LOCK_BUSY);
  g_assert_cmpint (take (fx, 4, RGB, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (take (fx, 5, RGB, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (take (fx, 6, RGB, TRUE), ==, LATCH_LOCK_QUEUED);
  latch_test_assert_counts (fx, 1, 6);

  g_assert_true (latch_test_unlock (fx, 3, RGB));
  g_assert_cmpuint (fx->events->len, ==, 1);
  latch_test_assert_granted_event (fx, 0, 4, "blue");
  latch_test_clear_events (fx);

  g_assert_true (latch_test_unlock (fx, 1, RGB));
  g_assert_cmpuint (fx->events->len, ==, 1);
  latch_test_assert_granted_event (fx, 0, 5, "red");
  latch_test_clear_events (fx);

  g_assert_true (latch_test_unlock (fx, 2, RGB));
  g_assert_cmpuint (fx->events->len, ==, 1);
  latch_test_assert_granted_event (fx, 0, 6, "green");
  latch_test_clear_events (fx);
  latch_test_assert_counts (fx, 1, 3);
}

/* drop_owner frees the owner's slots (both of them), and the queued
 * requests get them, each with its element. */
static void
test_drop_owner (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  assert_take (fx, 1, RGB, "red");
  assert_take (fx, 2, RGB, "green");
  assert_take (fx, 1, RGB, "blue");
  g_assert_cmpint (take (fx, 3, RGB, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (take (fx, 4, RGB, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (take (fx, 5, RGB, TRUE), ==, LATCH_LOCK_QUEUED);

  /* A queued owner that goes away takes nothing with it. */
  latch_test_drop (fx, 4);
  g_assert_cmpuint (fx->events->len, ==, 0);
  latch_test_assert_counts (fx, 1, 5);

  /* Index at 0: red, then (index 1) blue. */
  latch_test_drop (fx, 1);
  g_assert_cmpuint (fx->events->len, ==, 2);
  latch_test_assert_granted_event (fx, 0, 3, "red");
  latch_test_assert_granted_event (fx, 1, 5, "blue");
  latch_test_clear_events (fx);
  latch_test_assert_counts (fx, 1, 3);
  g_assert_false (latch_test_unlock (fx, 1, RGB));

  latch_test_drop (fx, 2);
  g_assert_cmpuint (fx->events->len, ==, 0);
  assert_take (fx, 6, RGB, "green");
}

/* Unlocking releases exactly the slot of the hold: with two holds, the
 * older one's. */
static void
test_unlock_exact_slot (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  assert_take (fx, 1, RGB, "red");
  assert_take (fx, 1, RGB, "green");
  g_assert_true (latch_test_unlock (fx, 1, RGB));  /* red */
  assert_take (fx, 2, RGB, "blue");     /* index 2 */
  assert_take (fx, 3, RGB, "red");      /* index 0: red is free */
  g_assert_cmpint (take (fx, 4, RGB, FALSE), ==, LATCH_LOCK_BUSY);
  g_assert_true (latch_test_unlock (fx, 1, RGB));  /* green */
  assert_take (fx, 4, RGB, "green");
  g_assert_false (latch_test_unlock (fx, 1, RGB));
}

/* A request waiting for the creation of a set gets its element in the
 * event when the creator makes it. */
static void
test_incubator (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (take_full (fx, 1, "x.y", TRUE, FALSE, 0, 0, NULL), ==,
                   LATCH_LOCK_WAIT_RESOURCE);
  g_assert_cmpint (take_full (fx, 2, "x.y", TRUE, FALSE, 0, 0, NULL), ==,
                   LATCH_LOCK_WAIT_RESOURCE);
  g_assert_cmpint (take_full (fx, 3, "x.y", FALSE, FALSE, 0, 0, NULL), ==,
                   LATCH_LOCK_CANT_WAIT);
  latch_test_assert_counts (fx, 0, 2);

  assert_take (fx, 4, "x.y", "x");
  g_assert_cmpuint (fx->events->len, ==, 2);
  latch_test_assert_granted_event (fx, 0, 1, "y");
  g_assert_true (g_array_index (fx->events, LatchLockEvent, 1).owner
                 == LATCH_TEST_OWNER (2));
  g_assert_cmpint (g_array_index (fx->events, LatchLockEvent, 1).status, ==,
                   LATCH_LOCK_QUEUED);
  g_assert_null (g_array_index (fx->events, LatchLockEvent, 1).element);
  latch_test_clear_events (fx);

  g_assert_true (latch_test_unlock (fx, 4, "x.y"));
  g_assert_cmpuint (fx->events->len, ==, 1);
  latch_test_assert_granted_event (fx, 0, 2, "x");
}

/* ---- lifetime ---- */

/* Lifespan 0: the resource is destroyed as soon as it is idle, and the
 * next one starts fresh, its index at 0.  With a lifespan it keeps its
 * index until it expires. */
static void
test_lifetime_fresh_index (LatchTestFixture *fx,
                           gconstpointer data G_GNUC_UNUSED)
{
  g_autofree char *e1 = NULL;
  g_autofree char *e2 = NULL;
  g_autofree char *e3 = NULL;
  g_autofree char *e4 = NULL;
  g_autofree char *e5 = NULL;

  g_assert_cmpint (take_full (fx, 1, RGB, FALSE, TRUE, 0, 0, &e1), ==,
                   LATCH_LOCK_GRANTED);
  g_assert_cmpstr (e1, ==, "red");
  latch_test_assert_counts (fx, 1, 1);
  g_assert_true (latch_test_unlock (fx, 1, RGB));
  latch_test_assert_counts (fx, 0, 0);
  g_assert_cmpint (take_full (fx, 2, RGB, FALSE, TRUE, 0, 0, &e2), ==,
                   LATCH_LOCK_GRANTED);
  g_assert_cmpstr (e2, ==, "red");  /* fresh: index 0 again */
  g_assert_true (latch_test_unlock (fx, 2, RGB));
  latch_test_assert_counts (fx, 0, 0);

  /* Lifespan 100 ms: created at 1000 ms, idle from 1000 ms. */
  g_assert_cmpint (take_full (fx, 3, RGB, FALSE, TRUE, 100, 1000, &e3), ==,
                   LATCH_LOCK_GRANTED);
  g_assert_cmpstr (e3, ==, "red");
  g_assert_true (latch_locker_unlock (fx->locker, LATCH_TEST_OWNER (3), RGB,
                                      FALSE, MS (1000), fx->events));
  latch_test_assert_counts (fx, 1, 0);
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (1050), fx->events), ==,
                   MS (1100));
  /* Still there: the index has moved on.  A later request's lifespan
   * (0 here) does not change the resource's. */
  g_assert_cmpint (take_full (fx, 4, RGB, FALSE, TRUE, 0, 1050, &e4), ==,
                   LATCH_LOCK_GRANTED);
  g_assert_cmpstr (e4, ==, "green");
  g_assert_true (latch_locker_unlock (fx->locker, LATCH_TEST_OWNER (4), RGB,
                                      FALSE, MS (1060), fx->events));
  latch_test_assert_counts (fx, 1, 0);
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (1159), fx->events), ==,
                   MS (1160));
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (1160), fx->events), ==,
                   -1);
  latch_test_assert_counts (fx, 0, 0);
  g_assert_cmpuint (fx->events->len, ==, 0);

  /* Destroyed: a new one starts at red. */
  g_assert_cmpint (take_full (fx, 5, RGB, FALSE, TRUE, 0, 2000, &e5), ==,
                   LATCH_LOCK_GRANTED);
  g_assert_cmpstr (e5, ==, "red");
}

/* With the daemon's minimum idle lifespan (2 s here), commands one after
 * the other with lifespan 0 see the rotation, as with FLoM: red, green,
 * blue, red; once idle for the minimum the set is gone and starts again
 * at red. */
static void
test_lifetime_idle_min (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  static const char *const want[] = { "red", "green", "blue", "red" };
  gint64 now_ms = 0;
  g_autofree char *fresh = NULL;

  for (gsize i = 0; i < G_N_ELEMENTS (want); i++)
    {
      g_autofree char *element = NULL;

      g_assert_cmpint (take_full (fx, 1, RGB, FALSE, TRUE, 0, now_ms,
                                  &element), ==, LATCH_LOCK_GRANTED);
      g_assert_cmpstr (element, ==, want[i]);
      g_assert_true (latch_locker_unlock (fx->locker, LATCH_TEST_OWNER (1),
                                          RGB, FALSE, MS (now_ms),
                                          fx->events));
      g_assert_cmpint (latch_locker_tick (fx->locker, MS (now_ms + 1999),
                                          fx->events), ==, MS (now_ms + 2000));
      latch_test_assert_counts (fx, 1, 0);
      now_ms += 1999;
    }
  now_ms += 1;
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (now_ms), fx->events),
                   ==, -1);
  latch_test_assert_counts (fx, 0, 0);
  g_assert_cmpint (take_full (fx, 1, RGB, FALSE, TRUE, 0, now_ms, &fresh), ==,
                   LATCH_LOCK_GRANTED);
  g_assert_cmpstr (fresh, ==, "red");
}

/* ---- the class on its own ---- */

static LatchLockReq
req_for (const char *name)
{
  return latch_test_req (name, LATCH_LOCK_MODE_EX, 1, TRUE, TRUE, 0);
}

static void
test_class (void)
{
  const LatchRsrcClass *klass = &latch_rsrc_set_class;
  LatchLockReq req = req_for ("a.a.b");
  LatchRsrcHold holds[3] = {
    { .req = req_for ("a.a.b") },
    { .req = req_for ("a.a.b") },
    { .req = req_for ("a.a.b") },
  };
  LatchRsrcHold again = { .req = req_for ("a.a.b") };
  const char *want[3] = { "a", "a", "b" };
  const char *bad[] = { "abc", "a..b", ".a.b", "a.b.", "." };
  g_autoptr (GError) error = NULL;
  gpointer state;
  char *element;

  g_assert_cmpint (klass->type, ==, LATCH_RSRC_SET);
  g_assert_null (klass->next_wakeup);

  state = klass->create ("a.a.b", &req, 0, &error);
  g_assert_no_error (error);
  g_assert_nonnull (state);
  g_assert_true (klass->is_idle (state));
  if (klass->is_possible != NULL)
    g_assert_true (klass->is_possible (state, &req));

  for (guint i = 0; i < 3; i++)
    {
      g_assert_true (klass->is_grantable (state, &req, 0));
      element = klass->grant (state, &holds[i], 0);
      g_assert_cmpstr (element, ==, want[i]);
      g_assert_cmpuint (holds[i].value, ==, i);  /* the slot */
      g_free (element);
      g_assert_false (klass->is_idle (state));
    }
  g_assert_false (klass->is_grantable (state, &req, 0));

  /* Releasing the second "a" frees slot 1, which the next grant (index
   * back at 0, slot 0 held) takes. */
  klass->release (state, &holds[1], TRUE);
  g_assert_true (klass->is_grantable (state, &req, 0));
  element = klass->grant (state, &again, 0);
  g_assert_cmpstr (element, ==, "a");
  g_assert_cmpuint (again.value, ==, 1);
  g_free (element);

  klass->release (state, &holds[0], FALSE);
  klass->release (state, &holds[2], FALSE);
  g_assert_false (klass->is_idle (state));
  klass->release (state, &again, FALSE);
  g_assert_true (klass->is_idle (state));
  klass->free (state);

  /* Names the locker would never classify as sets. */
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      req = req_for (bad[i]);
      g_assert_null (klass->create (bad[i], &req, 0, &error));
      g_assert_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_NAME);
      g_clear_error (&error);
    }
}

/* ---- randomized: never two holders of one slot ---- */

#define R_OWNERS 8
#define R_MAX_SLOTS 6
#define R_MAX_HOLDS 4

/* Slots are told apart by distinct element names, duplicates by a model
 * of FLoM's rule; both runs check every element against the model. */
static const char *const r_names[] = {
  "s0.s1",
  "s0.s1.s2",
  "s0.s1.s2.s3.s4.s5",
  "d.d.d",
  "a.b.a.b.c",
};

typedef struct
{
  LatchTestFixture fx;
  const char *name;
  char **elements;
  guint n_slots;
  int holder[R_MAX_SLOTS];       /* owner holding the slot, -1 when free */
  guint next;                    /* the rotating index */
  GArray *held[R_OWNERS];        /* guint slots, oldest first */
  gboolean queued[R_OWNERS];
  GQueue queue;                  /* owner indexes, FIFO */
  guint n_grants;
  guint n_releases;
} Model;

/* FLoM's rule, written out again: the first free slot from the index. */
static guint
model_pick (Model *m)
{
  for (guint i = 0; i < m->n_slots; i++)
    {
      guint slot = (m->next + i) % m->n_slots;

      if (m->holder[slot] < 0)
        return slot;
    }
  g_assert_not_reached ();
}

static guint
model_n_held (const Model *m)
{
  guint n = 0;

  for (guint s = 0; s < m->n_slots; s++)
    if (m->holder[s] >= 0)
      n++;
  return n;
}

/* The locker granted element to owner o: it must be the model's choice,
 * and the slot must be free. */
static void
model_record_grant (Model *m, int o, const char *element)
{
  guint slot = model_pick (m);

  g_assert_cmpstr (element, ==, m->elements[slot]);
  g_assert_cmpint (m->holder[slot], ==, -1);  /* never two holders */
  m->holder[slot] = o;
  g_array_append_val (m->held[o], slot);
  m->next = (m->next + 1) % m->n_slots;
  m->n_grants++;
}

static void
model_serve_and_check (Model *m)
{
  guint i = 0;

  while (!g_queue_is_empty (&m->queue) && model_n_held (m) < m->n_slots)
    {
      int o = GPOINTER_TO_INT (g_queue_pop_head (&m->queue));
      const LatchLockEvent *ev;

      g_assert_cmpuint (i, <, m->fx.events->len);
      ev = &g_array_index (m->fx.events, LatchLockEvent, i++);
      g_assert_true (ev->owner == LATCH_TEST_OWNER (o + 1));
      g_assert_cmpint (ev->status, ==, LATCH_LOCK_GRANTED);
      latch_test_check_fence (&m->fx, ev->fence);
      m->queued[o] = FALSE;
      model_record_grant (m, o, ev->element);
    }
  g_assert_cmpuint (m->fx.events->len, ==, i);
  latch_test_clear_events (&m->fx);
}

static void
model_check_counts (Model *m)
{
  guint n_active = model_n_held (m) + m->queue.length;

  /* The resource lives for ever (KEEP, clock at 0) once created. */
  g_assert_cmpuint (latch_locker_n_active (m->fx.locker), ==, n_active);
}

static void
model_request (Model *m, int o)
{
  gboolean wait = g_test_rand_bit ();
  g_autofree char *element = NULL;
  LatchLockStatus want;
  LatchLockStatus got;

  if (g_queue_is_empty (&m->queue) && model_n_held (m) < m->n_slots)
    want = LATCH_LOCK_GRANTED;
  else
    want = wait ? LATCH_LOCK_QUEUED : LATCH_LOCK_BUSY;
  got = take_full (&m->fx, o + 1, m->name, wait, TRUE, KEEP, 0, &element);
  g_assert_cmpint (got, ==, want);
  g_assert_cmpuint (m->fx.events->len, ==, 0);
  if (got == LATCH_LOCK_GRANTED)
    model_record_grant (m, o, element);
  else if (got == LATCH_LOCK_QUEUED)
    {
      m->queued[o] = TRUE;
      g_queue_push_tail (&m->queue, GINT_TO_POINTER (o));
    }
}

static void
model_release_slot (Model *m, int o, guint slot)
{
  g_assert_cmpint (m->holder[slot], ==, o);
  m->holder[slot] = -1;
  m->n_releases++;
}

static void
model_unlock (Model *m, int o)
{
  GArray *held = m->held[o];
  gboolean want = held->len > 0;

  g_assert_cmpint (latch_test_unlock (&m->fx, o + 1, m->name), ==, want);
  if (want)
    {
      model_release_slot (m, o, g_array_index (held, guint, 0));
      g_array_remove_index (held, 0);
    }
  model_serve_and_check (m);
}

static void
model_drop (Model *m, int o)
{
  GArray *held = m->held[o];

  latch_test_drop (&m->fx, o + 1);
  for (guint i = 0; i < held->len; i++)
    model_release_slot (m, o, g_array_index (held, guint, i));
  g_array_set_size (held, 0);
  if (m->queued[o])
    {
      g_queue_remove (&m->queue, GINT_TO_POINTER (o));
      m->queued[o] = FALSE;
    }
  model_serve_and_check (m);
}

static void
run_model_once (const char *name, int n_steps)
{
  Model m = { 0 };

  latch_test_fixture_setup (&m.fx, NULL);
  m.name = name;
  m.elements = g_strsplit (name, ".", -1);
  m.n_slots = g_strv_length (m.elements);
  g_assert_cmpuint (m.n_slots, <=, R_MAX_SLOTS);
  for (guint s = 0; s < R_MAX_SLOTS; s++)
    m.holder[s] = -1;
  g_queue_init (&m.queue);
  for (int o = 0; o < R_OWNERS; o++)
    m.held[o] = g_array_new (FALSE, FALSE, sizeof (guint));

  for (int step = 0; step < n_steps; step++)
    {
      int o = g_test_rand_int_range (0, R_OWNERS);
      int kind = g_test_rand_int_range (0, 100);

      if (kind < 55)
        {
          if (!m.queued[o] && m.held[o]->len < R_MAX_HOLDS)
            model_request (&m, o);
        }
      else if (kind < 92)
        model_unlock (&m, o);
      else
        model_drop (&m, o);
      model_check_counts (&m);
    }

  /* Every holder unlocks, in random order: every queued request must be
   * granted on the way, and every grant matched by a release. */
  for (;;)
    {
      int with_holds[R_OWNERS];
      int n = 0;

      for (int o = 0; o < R_OWNERS; o++)
        if (m.held[o]->len > 0)
          with_holds[n++] = o;
      if (n == 0)
        break;
      model_unlock (&m, with_holds[g_test_rand_int_range (0, n)]);
      model_check_counts (&m);
    }
  g_assert_true (g_queue_is_empty (&m.queue));
  g_assert_cmpuint (m.n_grants, ==, m.n_releases);
  g_assert_cmpuint (latch_locker_n_active (m.fx.locker), ==, 0);

  for (int o = 0; o < R_OWNERS; o++)
    g_array_unref (m.held[o]);
  g_strfreev (m.elements);
  latch_test_fixture_teardown (&m.fx, NULL);
}

static void
test_random (void)
{
  int n_runs = g_test_slow () ? 2000 : 200;

  for (int run = 0; run < n_runs; run++)
    run_model_once (r_names[g_test_rand_int_range (0, G_N_ELEMENTS (r_names))],
                    g_test_rand_int_range (1, 300));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  LATCH_TEST_ADD ("/rsrc/set/flom/use-case-12-fresh-order",
                  test_flom_fresh_order);
  LATCH_TEST_ADD ("/rsrc/set/flom/use-case-13-skip-held", test_flom_skip_held);
  LATCH_TEST_ADD ("/rsrc/set/index/one-step-per-grant", test_index_one_step);
  LATCH_TEST_ADD ("/rsrc/set/slots/duplicates", test_duplicates);
  LATCH_TEST_ADD ("/rsrc/set/slots/unlock-exact-slot", test_unlock_exact_slot);
  LATCH_TEST_ADD ("/rsrc/set/events/carry-element", test_events_carry_element);
  LATCH_TEST_ADD ("/rsrc/set/events/incubator", test_incubator);
  LATCH_TEST_ADD ("/rsrc/set/drop-owner", test_drop_owner);
  LATCH_TEST_ADD ("/rsrc/set/lifetime/fresh-index", test_lifetime_fresh_index);
  LATCH_TEST_ADD_IDLE_MIN ("/rsrc/set/lifetime/idle-min", test_lifetime_idle_min,
                           2000);
  g_test_add_func ("/rsrc/set/class", test_class);
  g_test_add_func ("/rsrc/set/random/never-two-holders", test_random);

  return g_test_run ();
}
