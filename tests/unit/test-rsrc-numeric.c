/* test-rsrc-numeric.c: numeric resources "X[N]", through the locker and
 * through the type's class. */
#include "config.h"

#include "locker/locker.h"

#include "locker/rsrc.h"

#include "common/error.h"

#include "locker-fixture.h"

#include <limits.h>

/* The locker's clock is in microseconds; the tests think in ms. */
#define MS(ms) ((gint64) (ms) * 1000)

static LatchLockStatus
take_full (LatchTestFixture *fx, int owner, const char *name, int quantity,
           gboolean wait, gboolean create, int lifespan, gint64 now_ms)
{
  LatchLockReq req = latch_test_req (name, LATCH_LOCK_MODE_EX, quantity, wait,
                                     create, lifespan);

  /* Numeric resources have no elements. */
  return latch_test_request (fx, owner, &req, MS (now_ms),
                             LATCH_TEST_CHECK_NO_ELEMENT
                             | LATCH_TEST_CHECK_FENCE_UNWRITTEN
                             | LATCH_TEST_CHECK_FENCE_RISES,
                             NULL, NULL);
}

/* Asks for quantity units of name, creating it with lifespan 0, time 0. */
static LatchLockStatus
take (LatchTestFixture *fx, int owner, const char *name, int quantity,
      gboolean wait)
{
  return take_full (fx, owner, name, quantity, wait, TRUE, 0, 0);
}

/* Asserts that exactly free units of name (capacity n) are free: owner 99
 * gets them in one request and not one more.  Leaves everything as it
 * was. */
static void
assert_free_units (LatchTestFixture *fx, const char *name, int free)
{
  guint n_active = latch_locker_n_active (fx->locker);

  if (free > 0)
    {
      g_assert_cmpint (take (fx, 99, name, free, FALSE), ==,
                       LATCH_LOCK_GRANTED);
      g_assert_cmpint (take (fx, 98, name, 1, FALSE), ==, LATCH_LOCK_BUSY);
      g_assert_true (latch_test_unlock (fx, 99, name));
    }
  else
    g_assert_cmpint (take (fx, 98, name, 1, FALSE), ==, LATCH_LOCK_BUSY);
  g_assert_cmpuint (fx->events->len, ==, 0);
  g_assert_cmpuint (latch_locker_n_active (fx->locker), ==, n_active);
}

/* ---- quantities that can never be granted ---- */

static const int bad_quantities[] = {
  0, -1, -5, -4, INT_MIN, 5, 6, 1000, INT_MAX,
};

/* Against a fresh resource: refused, and the resource (created for the
 * request, lifespan 0) is gone again. */
static void
test_impossible_fresh (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  for (guint i = 0; i < G_N_ELEMENTS (bad_quantities); i++)
    for (int wait = 0; wait <= 1; wait++)
      {
        g_assert_cmpint (take (fx, 1, "gpu[4]", bad_quantities[i], wait), ==,
                         LATCH_LOCK_IMPOSSIBLE);
        g_assert_cmpuint (fx->events->len, ==, 0);
        latch_test_assert_counts (fx, 0, 0);
      }
  /* All four units are still there. */
  g_assert_cmpint (take (fx, 1, "gpu[4]", 4, FALSE), ==, LATCH_LOCK_GRANTED);
  assert_free_units (fx, "gpu[4]", 0);
}

/* Against a resource in use: refused, and neither capacity nor the queue
 * changes.  In FLoM a negative quantity is granted and raises the free
 * capacity; here it must not. */
static void
test_impossible_in_use (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (take (fx, 1, "gpu[4]", 3, FALSE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (take (fx, 2, "gpu[4]", 2, TRUE), ==, LATCH_LOCK_QUEUED);
  latch_test_assert_counts (fx, 1, 2);

  for (guint i = 0; i < G_N_ELEMENTS (bad_quantities); i++)
    for (int wait = 0; wait <= 1; wait++)
      {
        g_assert_cmpint (take (fx, 3, "gpu[4]", bad_quantities[i], wait), ==,
                         LATCH_LOCK_IMPOSSIBLE);
        g_assert_cmpuint (fx->events->len, ==, 0);
        latch_test_assert_counts (fx, 1, 2);
      }
  /* Nothing for owner 3 to unlock. */
  g_assert_false (latch_test_unlock (fx, 3, "gpu[4]"));

  /* Still one unit free (but the queue comes first): with owner 2's
   * request withdrawn, exactly one unit is free. */
  g_assert_cmpint (take (fx, 4, "gpu[4]", 1, FALSE), ==, LATCH_LOCK_BUSY);
  latch_test_drop (fx, 2);
  g_assert_cmpuint (fx->events->len, ==, 0);
  latch_test_assert_counts (fx, 1, 1);
  assert_free_units (fx, "gpu[4]", 1);

  /* The holder gives back 3, no more and no less. */
  g_assert_true (latch_test_unlock (fx, 1, "gpu[4]"));
  latch_test_assert_counts (fx, 0, 0);
}

/* A full resource: a negative quantity does not make room for anybody. */
static void
test_negative_never_inflates (LatchTestFixture *fx,
                              gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (take (fx, 1, "gpu[4]", 4, FALSE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (take (fx, 2, "gpu[4]", -5, FALSE), ==,
                   LATCH_LOCK_IMPOSSIBLE);
  g_assert_cmpint (take (fx, 2, "gpu[4]", -5, TRUE), ==,
                   LATCH_LOCK_IMPOSSIBLE);
  g_assert_cmpint (take (fx, 3, "gpu[4]", 1, FALSE), ==, LATCH_LOCK_BUSY);
  g_assert_true (latch_test_unlock (fx, 1, "gpu[4]"));
  /* And afterwards more than N is still impossible. */
  g_assert_cmpint (take (fx, 3, "gpu[4]", 5, TRUE), ==,
                   LATCH_LOCK_IMPOSSIBLE);
  latch_test_assert_counts (fx, 0, 0);
}

/* X[0] has nothing to give. */
static void
test_capacity_zero (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  const int quantities[] = { 1, 0, -1, 2 };

  for (guint i = 0; i < G_N_ELEMENTS (quantities); i++)
    for (int wait = 0; wait <= 1; wait++)
      {
        g_assert_cmpint (take (fx, 1, "none[0]", quantities[i], wait), ==,
                         LATCH_LOCK_IMPOSSIBLE);
        g_assert_cmpint (take (fx, 1, "none[000]", quantities[i], wait), ==,
                         LATCH_LOCK_IMPOSSIBLE);
      }
  latch_test_assert_counts (fx, 0, 0);
}

/* ---- units add up ---- */

/* gpu[4]: 2 + 2 granted, a third request of 1 queues, releasing one 2
 * grants the queued 1, and exactly one unit is then left. */
static void
test_units_add_up (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (take (fx, 1, "gpu[4]", 2, TRUE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (take (fx, 2, "gpu[4]", 2, TRUE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (take (fx, 3, "gpu[4]", 1, FALSE), ==, LATCH_LOCK_BUSY);
  g_assert_cmpint (take (fx, 3, "gpu[4]", 1, TRUE), ==, LATCH_LOCK_QUEUED);
  latch_test_assert_counts (fx, 1, 3);

  g_assert_true (latch_test_unlock (fx, 1, "gpu[4]"));
  g_assert_cmpuint (fx->events->len, ==, 1);
  latch_test_assert_granted_event (fx, 0, 3, NULL);
  latch_test_clear_events (fx);
  latch_test_assert_counts (fx, 1, 2);

  assert_free_units (fx, "gpu[4]", 1);
  g_assert_cmpint (take (fx, 4, "gpu[4]", 1, FALSE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (take (fx, 5, "gpu[4]", 1, FALSE), ==, LATCH_LOCK_BUSY);

  g_assert_true (latch_test_unlock (fx, 2, "gpu[4]"));
  g_assert_true (latch_test_unlock (fx, 3, "gpu[4]"));
  g_assert_true (latch_test_unlock (fx, 4, "gpu[4]"));
  g_assert_false (latch_test_unlock (fx, 4, "gpu[4]"));
  g_assert_cmpuint (fx->events->len, ==, 0);
  latch_test_assert_counts (fx, 0, 0);
}

/* Every split of N into grants fills it exactly. */
static void
test_exact_fill (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  for (int a = 1; a < 6; a++)
    {
      g_assert_cmpint (take (fx, 1, "u[6]", a, FALSE), ==, LATCH_LOCK_GRANTED);
      g_assert_cmpint (take (fx, 2, "u[6]", 6 - a + 1, FALSE), ==,
                       LATCH_LOCK_BUSY);
      g_assert_cmpint (take (fx, 2, "u[6]", 6 - a, FALSE), ==,
                       LATCH_LOCK_GRANTED);
      assert_free_units (fx, "u[6]", 0);
      g_assert_true (latch_test_unlock (fx, 1, "u[6]"));
      assert_free_units (fx, "u[6]", a);
      g_assert_true (latch_test_unlock (fx, 2, "u[6]"));
      latch_test_assert_counts (fx, 0, 0);
    }
  /* A capacity as large as NUMBER allows. */
  g_assert_cmpint (take (fx, 1, "big[2147483647]", INT_MAX, FALSE), ==,
                   LATCH_LOCK_GRANTED);
  g_assert_cmpint (take (fx, 2, "big[2147483647]", 1, FALSE), ==,
                   LATCH_LOCK_BUSY);
  g_assert_true (latch_test_unlock (fx, 1, "big[2147483647]"));
  g_assert_cmpint (take (fx, 1, "big[2147483647]", INT_MAX - 1, FALSE), ==,
                   LATCH_LOCK_GRANTED);
  g_assert_cmpint (take (fx, 2, "big[2147483647]", 1, FALSE), ==,
                   LATCH_LOCK_GRANTED);
  g_assert_cmpint (take (fx, 3, "big[2147483647]", 1, FALSE), ==,
                   LATCH_LOCK_BUSY);
}

/* One owner holding two grants: each unlock gives back the older one's
 * units, not the sum and not the newer one's. */
static void
test_two_holds_one_owner (LatchTestFixture *fx,
                          gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (take (fx, 1, "gpu[4]", 1, FALSE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (take (fx, 1, "gpu[4]", 3, FALSE), ==, LATCH_LOCK_GRANTED);
  assert_free_units (fx, "gpu[4]", 0);
  g_assert_true (latch_test_unlock (fx, 1, "gpu[4]"));
  assert_free_units (fx, "gpu[4]", 1);
  g_assert_true (latch_test_unlock (fx, 1, "gpu[4]"));
  assert_free_units (fx, "gpu[4]", 4);
  g_assert_false (latch_test_unlock (fx, 1, "gpu[4]"));
}

/* foo[2] and foo[3] are different resources (spec/resources.md §2). */
static void
test_identity (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (take (fx, 1, "foo[2]", 2, FALSE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (take (fx, 2, "foo[3]", 3, FALSE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (take (fx, 3, "foo[02]", 2, FALSE), ==, LATCH_LOCK_GRANTED);
  latch_test_assert_counts (fx, 3, 3);
  g_assert_false (latch_test_unlock (fx, 1, "foo[3]"));
  g_assert_true (latch_test_unlock (fx, 1, "foo[2]"));
  latch_test_assert_counts (fx, 2, 2);
}

/* ---- the queue is the locker's: strictly FIFO ---- */

/* A big request at the head is not overtaken by a small one behind it,
 * even when the small one would fit. */
static void
test_fifo_big_head (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (take (fx, 1, "gpu[4]", 2, FALSE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (take (fx, 2, "gpu[4]", 1, FALSE), ==, LATCH_LOCK_GRANTED);
  /* One unit free; owner 3 wants all four. */
  g_assert_cmpint (take (fx, 3, "gpu[4]", 4, TRUE), ==, LATCH_LOCK_QUEUED);
  /* A single unit would fit, but the queue is not empty. */
  g_assert_cmpint (take (fx, 4, "gpu[4]", 1, FALSE), ==, LATCH_LOCK_BUSY);
  g_assert_cmpint (take (fx, 4, "gpu[4]", 1, TRUE), ==, LATCH_LOCK_QUEUED);
  latch_test_assert_counts (fx, 1, 4);

  /* Three units free: still not enough for the head, and owner 4 waits
   * behind it. */
  g_assert_true (latch_test_unlock (fx, 1, "gpu[4]"));
  g_assert_cmpuint (fx->events->len, ==, 0);
  latch_test_assert_counts (fx, 1, 3);

  /* Four free: the head gets them all; owner 4 still waits. */
  g_assert_true (latch_test_unlock (fx, 2, "gpu[4]"));
  g_assert_cmpuint (fx->events->len, ==, 1);
  latch_test_assert_granted_event (fx, 0, 3, NULL);
  latch_test_clear_events (fx);

  g_assert_true (latch_test_unlock (fx, 3, "gpu[4]"));
  g_assert_cmpuint (fx->events->len, ==, 1);
  latch_test_assert_granted_event (fx, 0, 4, NULL);
  latch_test_clear_events (fx);
  g_assert_true (latch_test_unlock (fx, 4, "gpu[4]"));
  latch_test_assert_counts (fx, 0, 0);
}

/* After a release the queue is served from the head for as long as the
 * head fits: several grants from one release, in queue order, stopping at
 * the first that does not fit even if a later one would. */
static void
test_fifo_serve_several (LatchTestFixture *fx,
                         gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (take (fx, 1, "gpu[5]", 5, FALSE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (take (fx, 2, "gpu[5]", 2, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (take (fx, 3, "gpu[5]", 2, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (take (fx, 4, "gpu[5]", 3, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (take (fx, 5, "gpu[5]", 1, TRUE), ==, LATCH_LOCK_QUEUED);

  g_assert_true (latch_test_unlock (fx, 1, "gpu[5]"));
  /* 2 + 2 fit; 3 does not (1 left); the 1 behind it must wait. */
  g_assert_cmpuint (fx->events->len, ==, 2);
  latch_test_assert_granted_event (fx, 0, 2, NULL);
  latch_test_assert_granted_event (fx, 1, 3, NULL);
  latch_test_clear_events (fx);
  latch_test_assert_counts (fx, 1, 4);

  g_assert_true (latch_test_unlock (fx, 2, "gpu[5]"));
  /* 3 free: owner 4's 3, then nothing left for owner 5. */
  g_assert_cmpuint (fx->events->len, ==, 1);
  latch_test_assert_granted_event (fx, 0, 4, NULL);
  latch_test_clear_events (fx);

  g_assert_true (latch_test_unlock (fx, 3, "gpu[5]"));
  g_assert_cmpuint (fx->events->len, ==, 1);
  latch_test_assert_granted_event (fx, 0, 5, NULL);
  latch_test_clear_events (fx);
  g_assert_true (latch_test_unlock (fx, 4, "gpu[5]"));
  g_assert_true (latch_test_unlock (fx, 5, "gpu[5]"));
  g_assert_cmpuint (fx->events->len, ==, 0);
  latch_test_assert_counts (fx, 0, 0);
}

/* ---- owners that go away ---- */

/* drop_owner gives back every unit the owner held, on every resource. */
static void
test_drop_owner_gives_back (LatchTestFixture *fx,
                            gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (take (fx, 1, "gpu[4]", 1, FALSE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (take (fx, 1, "gpu[4]", 2, FALSE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (take (fx, 1, "cpu[8]", 8, FALSE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (take (fx, 2, "gpu[4]", 1, FALSE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (take (fx, 3, "gpu[4]", 3, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (take (fx, 4, "cpu[8]", 8, TRUE), ==, LATCH_LOCK_QUEUED);
  latch_test_assert_counts (fx, 2, 6);

  latch_test_drop (fx, 1);
  g_assert_cmpuint (fx->events->len, ==, 2);
  for (guint i = 0; i < 2; i++)
    {
      const LatchLockEvent *ev = &g_array_index (fx->events, LatchLockEvent,
                                                 i);

      g_assert_true (ev->owner == LATCH_TEST_OWNER (3)
                     || ev->owner == LATCH_TEST_OWNER (4));
      g_assert_cmpint (ev->status, ==, LATCH_LOCK_GRANTED);
      g_assert_null (ev->element);
    }
  g_assert_true (g_array_index (fx->events, LatchLockEvent, 0).owner
                 != g_array_index (fx->events, LatchLockEvent, 1).owner);
  latch_test_clear_events (fx);
  latch_test_assert_counts (fx, 2, 3);
  assert_free_units (fx, "gpu[4]", 0);
  assert_free_units (fx, "cpu[8]", 0);

  latch_test_drop (fx, 2);
  assert_free_units (fx, "gpu[4]", 1);
  latch_test_drop (fx, 3);
  latch_test_drop (fx, 4);
  g_assert_cmpuint (fx->events->len, ==, 0);
  latch_test_assert_counts (fx, 0, 0);
}

/* A queued head that goes away lets the smaller requests behind it in. */
static void
test_drop_queued_head (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (take (fx, 1, "gpu[4]", 3, FALSE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (take (fx, 2, "gpu[4]", 4, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (take (fx, 3, "gpu[4]", 1, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (take (fx, 4, "gpu[4]", 1, TRUE), ==, LATCH_LOCK_QUEUED);

  latch_test_drop (fx, 2);
  g_assert_cmpuint (fx->events->len, ==, 1);
  latch_test_assert_granted_event (fx, 0, 3, NULL);
  latch_test_clear_events (fx);
  latch_test_assert_counts (fx, 1, 3);

  g_assert_true (latch_test_unlock (fx, 3, "gpu[4]"));
  g_assert_cmpuint (fx->events->len, ==, 1);
  latch_test_assert_granted_event (fx, 0, 4, NULL);
  latch_test_clear_events (fx);
  latch_test_drop (fx, 4);
  latch_test_drop (fx, 1);
  latch_test_assert_counts (fx, 0, 0);
}

/* ---- lifetime ---- */

/* A request waiting for the creation of a numeric resource is handled
 * with the others when it is created; the creator comes first. */
static void
test_incubator (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (take_full (fx, 1, "gpu[4]", 3, TRUE, FALSE, 0, 0), ==,
                   LATCH_LOCK_WAIT_RESOURCE);
  g_assert_cmpint (take_full (fx, 2, "gpu[4]", 9, TRUE, FALSE, 0, 0), ==,
                   LATCH_LOCK_WAIT_RESOURCE);
  g_assert_cmpint (take_full (fx, 3, "gpu[4]", 1, TRUE, FALSE, 0, 0), ==,
                   LATCH_LOCK_WAIT_RESOURCE);
  latch_test_assert_counts (fx, 0, 3);

  g_assert_cmpint (take (fx, 4, "gpu[4]", 2, FALSE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpuint (fx->events->len, ==, 3);
  g_assert_true (g_array_index (fx->events, LatchLockEvent, 0).owner
                 == LATCH_TEST_OWNER (1));
  g_assert_cmpint (g_array_index (fx->events, LatchLockEvent, 0).status, ==,
                   LATCH_LOCK_QUEUED);
  g_assert_true (g_array_index (fx->events, LatchLockEvent, 1).owner
                 == LATCH_TEST_OWNER (2));
  g_assert_cmpint (g_array_index (fx->events, LatchLockEvent, 1).status, ==,
                   LATCH_LOCK_IMPOSSIBLE);
  g_assert_true (g_array_index (fx->events, LatchLockEvent, 2).owner
                 == LATCH_TEST_OWNER (3));
  g_assert_cmpint (g_array_index (fx->events, LatchLockEvent, 2).status, ==,
                   LATCH_LOCK_QUEUED);
  latch_test_clear_events (fx);
  latch_test_assert_counts (fx, 1, 3);

  g_assert_true (latch_test_unlock (fx, 4, "gpu[4]"));
  g_assert_cmpuint (fx->events->len, ==, 2);
  latch_test_assert_granted_event (fx, 0, 1, NULL);
  latch_test_assert_granted_event (fx, 1, 3, NULL);
}

/* Held units keep a resource alive; with a lifespan it outlives its last
 * holder for that long. */
static void
test_lifespan (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (take_full (fx, 1, "gpu[4]", 4, FALSE, TRUE, 100, 0), ==,
                   LATCH_LOCK_GRANTED);
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (1000), fx->events), ==,
                   -1);
  latch_test_assert_counts (fx, 1, 1);
  g_assert_true (latch_locker_unlock (fx->locker, LATCH_TEST_OWNER (1),
                                      "gpu[4]", FALSE, MS (2000), fx->events));
  latch_test_assert_counts (fx, 1, 0);
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (2099), fx->events), ==,
                   MS (2100));
  latch_test_assert_counts (fx, 1, 0);
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (2100), fx->events), ==,
                   -1);
  latch_test_assert_counts (fx, 0, 0);
  g_assert_cmpuint (fx->events->len, ==, 0);
}

/* ---- the class on its own ---- */

static LatchLockReq
req_for (const char *name, int quantity)
{
  return latch_test_req (name, LATCH_LOCK_MODE_EX, quantity, TRUE, TRUE, 0);
}

static void
test_class (void)
{
  const LatchRsrcClass *klass = &latch_rsrc_numeric_class;
  LatchLockReq req = req_for ("gpu[3]", 1);
  LatchRsrcHold a = { .req = req_for ("gpu[3]", 2) };
  LatchRsrcHold b = { .req = req_for ("gpu[3]", 1) };
  g_autoptr (GError) error = NULL;
  gpointer state;

  g_assert_cmpint (klass->type, ==, LATCH_RSRC_NUMERIC);
  g_assert_null (klass->next_wakeup);

  state = klass->create ("gpu[3]", &req, 0, &error);
  g_assert_no_error (error);
  g_assert_nonnull (state);
  g_assert_true (klass->is_idle (state));

  for (int q = -3; q <= 5; q++)
    {
      LatchLockReq r = req_for ("gpu[3]", q);
      gboolean ok = q >= 1 && q <= 3;

      g_assert_cmpint (klass->is_possible (state, &r), ==, ok);
      g_assert_cmpint (klass->is_grantable (state, &r, 0), ==, ok);
    }

  g_assert_null (klass->grant (state, &a, 0));
  g_assert_cmpuint (a.value, ==, 2);
  g_assert_false (klass->is_idle (state));
  req.quantity = 2;
  g_assert_true (klass->is_possible (state, &req));
  g_assert_false (klass->is_grantable (state, &req, 0));
  req.quantity = 1;
  g_assert_true (klass->is_grantable (state, &req, 0));
  g_assert_null (klass->grant (state, &b, 0));
  g_assert_cmpuint (b.value, ==, 1);
  g_assert_false (klass->is_grantable (state, &req, 0));

  /* Release gives back what was recorded, whatever req says by then;
   * rollback makes no difference. */
  a.req.quantity = 1;
  klass->release (state, &a, TRUE);
  req.quantity = 2;
  g_assert_true (klass->is_grantable (state, &req, 0));
  req.quantity = 3;
  g_assert_false (klass->is_grantable (state, &req, 0));
  g_assert_false (klass->is_idle (state));
  klass->release (state, &b, FALSE);
  g_assert_true (klass->is_grantable (state, &req, 0));
  g_assert_true (klass->is_idle (state));
  klass->free (state);

  /* Capacity 0 */
  req = req_for ("z[0]", 1);
  state = klass->create ("z[0]", &req, 0, &error);
  g_assert_no_error (error);
  g_assert_false (klass->is_possible (state, &req));
  g_assert_false (klass->is_grantable (state, &req, 0));
  klass->free (state);

  /* Not a numeric name: only a bug in the locker could pass one. */
  req = req_for ("gpu", 1);
  g_assert_null (klass->create ("gpu", &req, 0, &error));
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_NAME);
}

/* ---- randomized: a model of the locker's rules ---- */

#define R_OWNERS 7
#define R_NAME_MAX 16

typedef struct
{
  GArray *held;  /* int: the quantities the locker granted, oldest first */
  int queued;    /* the quantity of the queued request, 0 when none */
} ModelOwner;

typedef struct
{
  LatchTestFixture fx;
  char name[R_NAME_MAX];
  int capacity;
  ModelOwner owners[R_OWNERS];
  GQueue queue;       /* owner indexes, FIFO */
  guint64 n_grants;   /* what the locker granted */
  guint64 n_releases; /* what was given back */
} Model;

static int
model_used (const Model *m)
{
  int used = 0;

  for (int o = 0; o < R_OWNERS; o++)
    for (guint i = 0; i < m->owners[o].held->len; i++)
      used += g_array_index (m->owners[o].held, int, i);
  return used;
}

static guint
model_n_active (const Model *m)
{
  guint n = m->queue.length;

  for (int o = 0; o < R_OWNERS; o++)
    n += m->owners[o].held->len;
  return n;
}

/* Records a grant the locker reported, and checks the one invariant that
 * matters most: never more than N units out. */
static void
model_record_grant (Model *m, int o, int quantity)
{
  g_array_append_val (m->owners[o].held, quantity);
  m->n_grants++;
  g_assert_cmpint (model_used (m), <=, m->capacity);
}

/* The locker just released something: the events must be exactly the
 * grants the model expects, head first, while the head fits. */
static void
model_serve_and_check (Model *m)
{
  guint i = 0;

  while (!g_queue_is_empty (&m->queue))
    {
      int o = GPOINTER_TO_INT (g_queue_peek_head (&m->queue));
      int q = m->owners[o].queued;

      if (q > m->capacity - model_used (m))
        break;
      g_queue_pop_head (&m->queue);
      m->owners[o].queued = 0;
      latch_test_assert_granted_event (&m->fx, i++, o + 1, NULL);
      model_record_grant (m, o, q);
    }
  g_assert_cmpuint (m->fx.events->len, ==, i);
  latch_test_clear_events (&m->fx);
}

static void
model_check_counts (Model *m)
{
  guint n_active = model_n_active (m);

  latch_test_assert_counts (&m->fx, n_active > 0 ? 1 : 0, n_active);
}

static void
model_request (Model *m, int o)
{
  int q = g_test_rand_int_range (-2, m->capacity + 3);
  gboolean wait = g_test_rand_bit ();
  LatchLockStatus want;
  LatchLockStatus got;

  if (q < 1 || q > m->capacity)
    want = LATCH_LOCK_IMPOSSIBLE;
  else if (g_queue_is_empty (&m->queue) && q <= m->capacity - model_used (m))
    want = LATCH_LOCK_GRANTED;
  else
    want = wait ? LATCH_LOCK_QUEUED : LATCH_LOCK_BUSY;

  got = take (&m->fx, o + 1, m->name, q, wait);
  g_assert_cmpint (got, ==, want);
  g_assert_cmpuint (m->fx.events->len, ==, 0);
  if (got == LATCH_LOCK_GRANTED)
    model_record_grant (m, o, q);
  else if (got == LATCH_LOCK_QUEUED)
    {
      m->owners[o].queued = q;
      g_queue_push_tail (&m->queue, GINT_TO_POINTER (o));
    }
}

static void
model_unlock (Model *m, int o)
{
  GArray *held = m->owners[o].held;
  gboolean want = held->len > 0;

  g_assert_cmpint (latch_test_unlock (&m->fx, o + 1, m->name), ==, want);
  if (want)
    {
      g_array_remove_index (held, 0);  /* the oldest */
      m->n_releases++;
    }
  model_serve_and_check (m);
}

static void
model_drop (Model *m, int o)
{
  ModelOwner *owner = &m->owners[o];

  latch_test_drop (&m->fx, o + 1);
  m->n_releases += owner->held->len;
  g_array_set_size (owner->held, 0);
  if (owner->queued != 0)
    {
      g_queue_remove (&m->queue, GINT_TO_POINTER (o));
      owner->queued = 0;
    }
  model_serve_and_check (m);
}

static void
run_model_once (int capacity, int n_steps)
{
  Model m = { 0 };

  latch_test_fixture_setup (&m.fx, NULL);
  g_snprintf (m.name, sizeof m.name, "gpu[%d]", capacity);
  m.capacity = capacity;
  g_queue_init (&m.queue);
  for (int o = 0; o < R_OWNERS; o++)
    m.owners[o].held = g_array_new (FALSE, FALSE, sizeof (int));

  for (int step = 0; step < n_steps; step++)
    {
      int o = g_test_rand_int_range (0, R_OWNERS);
      int kind = g_test_rand_int_range (0, 100);

      if (kind < 55)
        {
          /* An owner has at most one request in flight. */
          if (m.owners[o].queued == 0)
            model_request (&m, o);
        }
      else if (kind < 92)
        model_unlock (&m, o);
      else
        model_drop (&m, o);
      model_check_counts (&m);
    }

  /* Let every holder unlock, in random order: every queued request must
   * be granted on the way, and every grant matched by a release. */
  for (;;)
    {
      int with_holds[R_OWNERS];
      int n = 0;

      for (int o = 0; o < R_OWNERS; o++)
        if (m.owners[o].held->len > 0)
          with_holds[n++] = o;
      if (n == 0)
        break;
      model_unlock (&m, with_holds[g_test_rand_int_range (0, n)]);
      model_check_counts (&m);
    }
  g_assert_true (g_queue_is_empty (&m.queue));
  g_assert_cmpuint (m.n_grants, ==, m.n_releases);
  g_assert_cmpint (model_used (&m), ==, 0);
  latch_test_assert_counts (&m.fx, 0, 0);

  for (int o = 0; o < R_OWNERS; o++)
    g_array_unref (m.owners[o].held);
  latch_test_fixture_teardown (&m.fx, NULL);
}

static void
test_random (void)
{
  int n_runs = g_test_slow () ? 2000 : 200;

  for (int run = 0; run < n_runs; run++)
    run_model_once (g_test_rand_int_range (1, 9),
                    g_test_rand_int_range (1, 300));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  LATCH_TEST_ADD ("/rsrc/numeric/impossible/fresh", test_impossible_fresh);
  LATCH_TEST_ADD ("/rsrc/numeric/impossible/in-use", test_impossible_in_use);
  LATCH_TEST_ADD ("/rsrc/numeric/impossible/negative-never-inflates",
                  test_negative_never_inflates);
  LATCH_TEST_ADD ("/rsrc/numeric/impossible/capacity-zero",
                  test_capacity_zero);
  LATCH_TEST_ADD ("/rsrc/numeric/units/add-up", test_units_add_up);
  LATCH_TEST_ADD ("/rsrc/numeric/units/exact-fill", test_exact_fill);
  LATCH_TEST_ADD ("/rsrc/numeric/units/two-holds-one-owner",
                  test_two_holds_one_owner);
  LATCH_TEST_ADD ("/rsrc/numeric/identity", test_identity);
  LATCH_TEST_ADD ("/rsrc/numeric/fifo/big-head-not-overtaken",
                  test_fifo_big_head);
  LATCH_TEST_ADD ("/rsrc/numeric/fifo/serve-several", test_fifo_serve_several);
  LATCH_TEST_ADD ("/rsrc/numeric/drop-owner/gives-back",
                  test_drop_owner_gives_back);
  LATCH_TEST_ADD ("/rsrc/numeric/drop-owner/queued-head",
                  test_drop_queued_head);
  LATCH_TEST_ADD ("/rsrc/numeric/lifetime/incubator", test_incubator);
  LATCH_TEST_ADD ("/rsrc/numeric/lifetime/lifespan", test_lifespan);
  g_test_add_func ("/rsrc/numeric/class", test_class);
  g_test_add_func ("/rsrc/numeric/random/never-over-capacity", test_random);

  return g_test_run ();
}
