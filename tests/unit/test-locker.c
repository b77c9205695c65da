/* test-locker.c: the locker core with simple resources. */
#include "config.h"

#include "locker/locker.h"

#include "locker-fixture.h"

/* The locker's clock is in microseconds; the tests think in ms. */
#define MS(ms) ((gint64) (ms) * 1000)

#include <string.h>

static const LatchLockMode NL = LATCH_LOCK_MODE_NL;
static const LatchLockMode CR = LATCH_LOCK_MODE_CR;
static const LatchLockMode PR = LATCH_LOCK_MODE_PR;
static const LatchLockMode PW = LATCH_LOCK_MODE_PW;
static const LatchLockMode EX = LATCH_LOCK_MODE_EX;

/* Lock "r", create it if needed, lifespan 0, time 0. */
static LatchLockStatus
lock (LatchTestFixture *fx, int owner, LatchLockMode mode, gboolean wait)
{
  return latch_test_lock_full (fx, owner, "r", mode, wait, TRUE, 0, 0, NULL);
}

/* ---- the compatibility matrix ---- */

static void
test_matrix_grant_now (void)
{
  for (int held = 0; held < 6; held++)
    for (int asked = 0; asked < 6; asked++)
      {
        LatchTestFixture fx;
        LatchLockStatus want = latch_test_modes_compatible (held, asked)
                                   ? LATCH_LOCK_GRANTED : LATCH_LOCK_BUSY;

        latch_test_fixture_setup (&fx, NULL);
        g_assert_cmpint (lock (&fx, 1, held, FALSE), ==, LATCH_LOCK_GRANTED);
        g_assert_cmpint (lock (&fx, 2, asked, FALSE), ==, want);
        g_assert_cmpuint (fx.events->len, ==, 0);
        latch_test_assert_counts (&fx, 1, want == LATCH_LOCK_GRANTED ? 2 : 1);
        latch_test_fixture_teardown (&fx, NULL);
      }
}

static void
test_matrix_queue (void)
{
  for (int held = 0; held < 6; held++)
    for (int asked = 0; asked < 6; asked++)
      {
        LatchTestFixture fx;
        gboolean ok = latch_test_modes_compatible (held, asked);
        guint64 fence1;
        guint64 fence2 = 0;

        latch_test_fixture_setup (&fx, NULL);
        g_assert_cmpint (latch_test_lock_full (&fx, 1, "r", held, TRUE, TRUE,
                                               0, 0, &fence1),
                         ==, LATCH_LOCK_GRANTED);
        g_assert_cmpint (latch_test_lock_full (&fx, 2, "r", asked, TRUE, TRUE,
                                               0, 0, &fence2),
                         ==, ok ? LATCH_LOCK_GRANTED : LATCH_LOCK_QUEUED);
        latch_test_assert_counts (&fx, 1, 2);
        g_assert_true (latch_test_unlock (&fx, 1, "r"));
        if (ok)
          g_assert_cmpuint (fx.events->len, ==, 0);
        else
          {
            g_assert_cmpuint (fx.events->len, ==, 1);
            fence2 = latch_test_assert_event (&fx, 0, 2, LATCH_LOCK_GRANTED);
          }
        g_assert_cmpuint (fence2, >, fence1);
        latch_test_assert_counts (&fx, 1, 1);
        g_assert_true (latch_test_unlock (&fx, 2, "r"));
        latch_test_assert_counts (&fx, 0, 0);
        latch_test_fixture_teardown (&fx, NULL);
      }
}

/* ---- FIFO ---- */

/* PR held, EX queued: a new PR queues behind the EX (FLoM grants it at
 * once, which can starve writers). */
static void
test_fifo_writer_not_starved (LatchTestFixture *fx,
                              gconstpointer data G_GNUC_UNUSED)
{
  guint64 f_b;
  guint64 f_c;
  guint64 f_d;

  g_assert_cmpint (lock (fx, 1, PR, TRUE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 2, EX, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (lock (fx, 3, PR, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (lock (fx, 4, PR, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpuint (fx->events->len, ==, 0);
  latch_test_assert_counts (fx, 1, 4);

  g_assert_true (latch_test_unlock (fx, 1, "r"));
  g_assert_cmpuint (fx->events->len, ==, 1);
  f_b = latch_test_assert_event (fx, 0, 2, LATCH_LOCK_GRANTED);
  latch_test_clear_events (fx);

  g_assert_true (latch_test_unlock (fx, 2, "r"));
  g_assert_cmpuint (fx->events->len, ==, 2);
  f_c = latch_test_assert_event (fx, 0, 3, LATCH_LOCK_GRANTED);
  f_d = latch_test_assert_event (fx, 1, 4, LATCH_LOCK_GRANTED);
  g_assert_cmpuint (f_b, <, f_c);
  g_assert_cmpuint (f_c, <, f_d);
  latch_test_assert_counts (fx, 1, 2);
}

/* wait=FALSE: busy while anybody is queued, even if compatible. */
static void
test_fifo_busy_behind_queue (LatchTestFixture *fx,
                             gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (lock (fx, 1, PR, TRUE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 2, EX, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (lock (fx, 3, NL, FALSE), ==, LATCH_LOCK_BUSY);
  g_assert_cmpint (lock (fx, 4, PR, FALSE), ==, LATCH_LOCK_BUSY);
  latch_test_assert_counts (fx, 1, 2);
  g_assert_cmpuint (fx->events->len, ==, 0);
}

/* The queue is served from the head and stops at the first request that
 * does not fit, even if later ones would. */
static void
test_fifo_head_blocks (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (lock (fx, 1, EX, TRUE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 2, PR, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (lock (fx, 3, PW, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (lock (fx, 4, PR, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (lock (fx, 5, NL, TRUE), ==, LATCH_LOCK_QUEUED);

  g_assert_true (latch_test_unlock (fx, 1, "r"));
  g_assert_cmpuint (fx->events->len, ==, 1);
  latch_test_assert_event (fx, 0, 2, LATCH_LOCK_GRANTED);
  latch_test_clear_events (fx);

  g_assert_true (latch_test_unlock (fx, 2, "r"));
  g_assert_cmpuint (fx->events->len, ==, 1);
  latch_test_assert_event (fx, 0, 3, LATCH_LOCK_GRANTED);
  latch_test_clear_events (fx);

  /* PW held: PR does not fit; NL behind it waits too. */
  g_assert_cmpuint (fx->events->len, ==, 0);
  g_assert_true (latch_test_unlock (fx, 3, "r"));
  g_assert_cmpuint (fx->events->len, ==, 2);
  latch_test_assert_event (fx, 0, 4, LATCH_LOCK_GRANTED);
  latch_test_assert_event (fx, 1, 5, LATCH_LOCK_GRANTED);
  latch_test_assert_counts (fx, 1, 2);
}

/* Documented: the locker does not stop an owner from asking again for a
 * resource it holds (the daemon does); it is treated like anybody. */
static void
test_same_owner_twice (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (lock (fx, 1, PR, TRUE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 1, PR, TRUE), ==, LATCH_LOCK_GRANTED);
  latch_test_assert_counts (fx, 1, 2);
  g_assert_true (latch_test_unlock (fx, 1, "r"));
  g_assert_true (latch_test_unlock (fx, 1, "r"));
  g_assert_false (latch_test_unlock (fx, 1, "r"));
  latch_test_assert_counts (fx, 0, 0);

  g_assert_cmpint (lock (fx, 1, EX, TRUE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 1, EX, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_true (latch_test_unlock (fx, 1, "r"));
  g_assert_cmpuint (fx->events->len, ==, 1);
  latch_test_assert_event (fx, 0, 1, LATCH_LOCK_GRANTED);
  latch_test_assert_counts (fx, 1, 1);
}

/* ---- fencing ---- */

static void
test_fence_increasing (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  guint64 f[6];

  g_assert_cmpint (latch_test_lock_full (fx, 1, "r", EX, TRUE, TRUE, 0, 0,
                                         &f[0]),
                   ==, LATCH_LOCK_GRANTED);
  g_assert_cmpuint (f[0], ==, LATCH_TEST_FIRST_FENCE);
  g_assert_cmpint (lock (fx, 2, EX, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (latch_test_lock_full (fx, 3, "s", PR, TRUE, TRUE, 0, 0,
                                         &f[1]),
                   ==, LATCH_LOCK_GRANTED);
  g_assert_true (latch_test_unlock (fx, 1, "r"));
  f[2] = latch_test_assert_event (fx, 0, 2, LATCH_LOCK_GRANTED);
  latch_test_clear_events (fx);
  g_assert_true (latch_test_unlock (fx, 2, "r"));
  latch_test_assert_counts (fx, 1, 1);  /* "r" is gone (lifespan 0) */

  /* A new "r": the counter goes on. */
  g_assert_cmpint (latch_test_lock_full (fx, 1, "r", PR, TRUE, TRUE, 0, 0,
                                         &f[3]),
                   ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (latch_test_lock_full (fx, 4, "s", PR, TRUE, TRUE, 0, 0,
                                         &f[4]),
                   ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (latch_test_lock_full (fx, 5, "r", PR, TRUE, TRUE, 0, 0,
                                         &f[5]),
                   ==, LATCH_LOCK_GRANTED);
  for (int i = 1; i < 6; i++)
    g_assert_cmpuint (f[i - 1], <, f[i]);
}

/* ---- drop_owner ---- */

static void
test_drop_holder (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (lock (fx, 1, EX, TRUE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 2, PR, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (lock (fx, 3, CR, TRUE), ==, LATCH_LOCK_QUEUED);
  latch_locker_drop_owner (fx->locker, LATCH_TEST_OWNER (1), MS (0),
                           fx->events);
  g_assert_cmpuint (fx->events->len, ==, 2);
  latch_test_assert_event (fx, 0, 2, LATCH_LOCK_GRANTED);
  latch_test_assert_event (fx, 1, 3, LATCH_LOCK_GRANTED);
  latch_test_assert_counts (fx, 1, 2);
  /* Dropping an unknown owner, or twice, is harmless. */
  latch_test_clear_events (fx);
  latch_locker_drop_owner (fx->locker, LATCH_TEST_OWNER (1), MS (0),
                           fx->events);
  latch_locker_drop_owner (fx->locker, LATCH_TEST_OWNER (99), MS (0),
                           fx->events);
  g_assert_cmpuint (fx->events->len, ==, 0);
  latch_test_assert_counts (fx, 1, 2);
}

static void
test_drop_queued (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (lock (fx, 1, PR, TRUE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 2, EX, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (lock (fx, 3, PR, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (lock (fx, 4, EX, TRUE), ==, LATCH_LOCK_QUEUED);
  latch_test_assert_counts (fx, 1, 4);

  /* The EX at the head goes: the PR behind it fits, the EX after not. */
  latch_locker_drop_owner (fx->locker, LATCH_TEST_OWNER (2), MS (0),
                           fx->events);
  g_assert_cmpuint (fx->events->len, ==, 1);
  latch_test_assert_event (fx, 0, 3, LATCH_LOCK_GRANTED);
  latch_test_assert_counts (fx, 1, 3);
  g_assert_false (latch_test_unlock (fx, 2, "r"));

  /* A queued request at the tail goes: nothing else happens. */
  latch_test_clear_events (fx);
  latch_locker_drop_owner (fx->locker, LATCH_TEST_OWNER (4), MS (0),
                           fx->events);
  g_assert_cmpuint (fx->events->len, ==, 0);
  latch_test_assert_counts (fx, 1, 2);
}

/* An owner with holds on several resources and a queued request. */
static void
test_drop_everything (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (latch_test_lock_full (fx, 1, "a", EX, TRUE, TRUE, 0, 0,
                                         NULL),
                   ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (latch_test_lock_full (fx, 1, "b", PW, TRUE, TRUE, 0, 0,
                                         NULL),
                   ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (latch_test_lock_full (fx, 2, "a", EX, TRUE, TRUE, 0, 0,
                                         NULL),
                   ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (latch_test_lock_full (fx, 2, "c", EX, TRUE, TRUE, 0, 0,
                                         NULL),
                   ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (latch_test_lock_full (fx, 1, "c", PR, TRUE, TRUE, 0, 0,
                                         NULL),
                   ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (latch_test_lock_full (fx, 3, "c", NL, TRUE, TRUE, 0, 0,
                                         NULL),
                   ==, LATCH_LOCK_QUEUED);
  latch_test_assert_counts (fx, 3, 6);

  latch_locker_drop_owner (fx->locker, LATCH_TEST_OWNER (1), MS (0),
                           fx->events);
  /* a: 2 granted; b: gone; c: 3's NL no longer behind 1's PR. */
  g_assert_cmpuint (fx->events->len, ==, 2);
  latch_test_assert_event (fx, 0, 2, LATCH_LOCK_GRANTED);
  latch_test_assert_event (fx, 1, 3, LATCH_LOCK_GRANTED);
  latch_test_assert_counts (fx, 2, 3);

  latch_test_clear_events (fx);
  latch_locker_drop_owner (fx->locker, LATCH_TEST_OWNER (2), MS (0),
                           fx->events);
  latch_locker_drop_owner (fx->locker, LATCH_TEST_OWNER (3), MS (0),
                           fx->events);
  g_assert_cmpuint (fx->events->len, ==, 0);
  latch_test_assert_counts (fx, 0, 0);
}

/* ---- unlock ---- */

static void
test_unlock_not_held (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  g_assert_false (latch_test_unlock (fx, 1, "r"));
  g_assert_false (latch_test_unlock (fx, 1, "not a name"));
  g_assert_cmpint (lock (fx, 1, EX, TRUE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 2, EX, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (latch_test_lock_full (fx, 3, "x", EX, TRUE, FALSE, 0, 0,
                                         NULL),
                   ==, LATCH_LOCK_WAIT_RESOURCE);
  g_assert_false (latch_test_unlock (fx, 1, "s"));  /* holds something else */
  g_assert_false (latch_test_unlock (fx, 2, "r"));  /* only queued */
  g_assert_false (latch_test_unlock (fx, 3, "x"));  /* waiting for creation */
  g_assert_false (latch_test_unlock (fx, 4, "r"));  /* nothing at all */
  g_assert_cmpuint (fx->events->len, ==, 0);
  latch_test_assert_counts (fx, 1, 3);
  g_assert_true (latch_test_unlock (fx, 1, "r"));
  g_assert_false (latch_test_unlock (fx, 1, "r"));
}

/* ---- idle lifespan ---- */

static void
test_lifespan_zero (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (lock (fx, 1, EX, TRUE), ==, LATCH_LOCK_GRANTED);
  latch_test_assert_counts (fx, 1, 1);
  g_assert_true (latch_test_unlock (fx, 1, "r"));
  latch_test_assert_counts (fx, 0, 0);
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (0), fx->events), ==, -1);

  /* A busy request against a resource created with no wait at all. */
  g_assert_cmpint (lock (fx, 1, EX, FALSE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 2, EX, FALSE), ==, LATCH_LOCK_BUSY);
  latch_locker_drop_owner (fx->locker, LATCH_TEST_OWNER (1), MS (0),
                           fx->events);
  latch_test_assert_counts (fx, 0, 0);
}

static void
test_lifespan_delayed (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (latch_test_lock_full (fx, 1, "r", EX, TRUE, TRUE, 100, 0,
                                         NULL),
                   ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (5), fx->events), ==, -1);
  g_assert_true (latch_locker_unlock (fx->locker, LATCH_TEST_OWNER (1), "r",
                                      FALSE, MS (10), fx->events));
  latch_test_assert_counts (fx, 1, 0);
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (50), fx->events), ==, MS (110));
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (109), fx->events), ==, MS (110));
  latch_test_assert_counts (fx, 1, 0);
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (110), fx->events), ==, -1);
  latch_test_assert_counts (fx, 0, 0);
  g_assert_cmpuint (fx->events->len, ==, 0);
}

/* Use restarts the countdown; a later request's lifespan is ignored. */
static void
test_lifespan_restart (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (latch_test_lock_full (fx, 1, "r", EX, TRUE, TRUE, 100, 10,
                                         NULL),
                   ==, LATCH_LOCK_GRANTED);
  g_assert_true (latch_locker_unlock (fx->locker, LATCH_TEST_OWNER (1), "r",
                                      FALSE, MS (20), fx->events));
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (20), fx->events), ==, MS (120));
  g_assert_cmpint (latch_test_lock_full (fx, 2, "r", PR, TRUE, TRUE, 5, 60,
                                         NULL),
                   ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (120), fx->events), ==, -1);
  latch_test_assert_counts (fx, 1, 1);
  g_assert_true (latch_locker_unlock (fx->locker, LATCH_TEST_OWNER (2), "r",
                                      FALSE, MS (70), fx->events));
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (120), fx->events), ==, MS (170));
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (169), fx->events), ==, MS (170));
  latch_test_assert_counts (fx, 1, 0);
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (170), fx->events), ==, -1);
  latch_test_assert_counts (fx, 0, 0);

  /* A busy request does not make an idle resource busy. */
  g_assert_cmpint (latch_test_lock_full (fx, 1, "r", EX, FALSE, TRUE, 100, 200,
                                         NULL),
                   ==, LATCH_LOCK_GRANTED);
  g_assert_true (latch_locker_unlock (fx->locker, LATCH_TEST_OWNER (1), "r",
                                      FALSE, MS (200), fx->events));
  g_assert_cmpint (latch_locker_request (
                       fx->locker, LATCH_TEST_OWNER (2),
                       &(LatchLockReq){ .name = "r", .mode = 99 }, MS (250), NULL,
                       NULL, fx->events),
                   ==, LATCH_LOCK_IMPOSSIBLE);
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (250), fx->events), ==, MS (300));
}

/* Several idle resources expire in order of their own deadlines. */
static void
test_lifespan_order (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  latch_test_lock_full (fx, 1, "a", EX, TRUE, TRUE, 300, 0, NULL);
  latch_test_lock_full (fx, 1, "b", EX, TRUE, TRUE, 100, 0, NULL);
  latch_test_lock_full (fx, 1, "c", EX, TRUE, TRUE, 0, 0, NULL);
  latch_test_lock_full (fx, 1, "d", EX, TRUE, TRUE, 100, 0, NULL);
  latch_test_assert_counts (fx, 4, 4);
  latch_locker_drop_owner (fx->locker, LATCH_TEST_OWNER (1), MS (0),
                           fx->events);
  latch_test_assert_counts (fx, 3, 0);  /* "c" went at once */
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (0), fx->events), ==, MS (100));
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (100), fx->events), ==, MS (300));
  latch_test_assert_counts (fx, 1, 0);
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (1000), fx->events), ==, -1);
  latch_test_assert_counts (fx, 0, 0);
}

/* The locker's minimum idle lifespan (2 s here) keeps an idle resource
 * whose own lifespan is 0 (FLoM keeps it about 1-2 s), so a request that
 * may not create it (create=FALSE, wait=FALSE) still finds it; after the
 * minimum it is gone. */
static void
test_idle_min_keeps (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (lock (fx, 1, EX, FALSE), ==, LATCH_LOCK_GRANTED);
  g_assert_true (latch_locker_unlock (fx->locker, LATCH_TEST_OWNER (1), "r",
                                      FALSE, MS (10), fx->events));
  latch_test_assert_counts (fx, 1, 0);
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (10), fx->events), ==,
                   MS (2010));
  g_assert_cmpint (latch_test_lock_full (fx, 2, "r", EX, FALSE, FALSE, 0,
                                         1000, NULL),
                   ==, LATCH_LOCK_GRANTED);
  /* Use restarts the countdown. */
  g_assert_true (latch_locker_unlock (fx->locker, LATCH_TEST_OWNER (2), "r",
                                      FALSE, MS (1000), fx->events));
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (2999), fx->events), ==,
                   MS (3000));
  latch_test_assert_counts (fx, 1, 0);
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (3000), fx->events), ==,
                   -1);
  latch_test_assert_counts (fx, 0, 0);
  g_assert_cmpint (latch_test_lock_full (fx, 3, "r", EX, FALSE, FALSE, 0,
                                         3000, NULL),
                   ==, LATCH_LOCK_CANT_WAIT);
  g_assert_cmpuint (fx->events->len, ==, 0);
}

/* The longer of the resource's lifespan and the minimum counts. */
static void
test_idle_min_longer_lifespan (LatchTestFixture *fx,
                               gconstpointer data G_GNUC_UNUSED)
{
  latch_test_lock_full (fx, 1, "short", EX, TRUE, TRUE, 100, 0, NULL);
  latch_test_lock_full (fx, 1, "long", EX, TRUE, TRUE, 5000, 0, NULL);
  latch_locker_drop_owner (fx->locker, LATCH_TEST_OWNER (1), MS (0),
                           fx->events);
  latch_test_assert_counts (fx, 2, 0);
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (0), fx->events), ==,
                   MS (2000));
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (2000), fx->events), ==,
                   MS (5000));
  latch_test_assert_counts (fx, 1, 0);
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (5000), fx->events), ==,
                   -1);
  latch_test_assert_counts (fx, 0, 0);
}

/* A minimum of 0 (the default, and a negative value) keeps nothing. */
static void
test_idle_min_none (void)
{
  static const int mins[] = { 0, -5 };

  for (gsize i = 0; i < G_N_ELEMENTS (mins); i++)
    {
      const LatchLockerConfig config = { .first_fence = 1,
                                         .idle_lifespan_min = mins[i] };
      g_autoptr (LatchLocker) locker = latch_locker_new_full (&config);
      g_autoptr (GArray) events = latch_lock_events_new ();
      LatchLockReq req = latch_test_req ("r", EX, 1, FALSE, TRUE, 0);

      g_assert_cmpint (latch_locker_request (locker, LATCH_TEST_OWNER (1),
                                             &req, 0, NULL, NULL, events),
                       ==, LATCH_LOCK_GRANTED);
      g_assert_true (latch_locker_unlock (locker, LATCH_TEST_OWNER (1), "r",
                                          FALSE, 0, events));
      g_assert_cmpuint (latch_locker_n_resources (locker), ==, 0);
    }
}

/* ---- limits ---- */

/* A locker with the given limits, and a request helper for it. */
typedef struct
{
  LatchLocker *locker;
  GArray *events;
} Limited;

static void
limited_init (Limited *l, int max_locks, int max_resources, int max_waiters,
              int max_idle_lifespan)
{
  const LatchLockerConfig config = { .first_fence = 1,
                                     .max_locks = max_locks,
                                     .max_resources = max_resources,
                                     .max_waiters = max_waiters,
                                     .max_idle_lifespan = max_idle_lifespan };

  l->locker = latch_locker_new_full (&config);
  l->events = latch_lock_events_new ();
}

static void
limited_clear (Limited *l)
{
  g_clear_pointer (&l->locker, latch_locker_free);
  g_clear_pointer (&l->events, g_array_unref);
}

static LatchLockStatus
limited_lock (Limited *l, int owner, const char *name, gboolean wait,
              gboolean create, int lifespan)
{
  LatchLockReq req = latch_test_req (name, EX, 1, wait, create, lifespan);
  g_autofree char *element = NULL;

  return latch_locker_request (l->locker, LATCH_TEST_OWNER (owner), &req, 0,
                               NULL, &element, l->events);
}

/* An owner's holds, queued requests and creation waits count together;
 * a refusal changes nothing, and room comes back with a release. */
static void
test_limit_locks (void)
{
  Limited l;

  limited_init (&l, 3, 0, 0, 0);
  g_assert_cmpint (limited_lock (&l, 1, "a", TRUE, TRUE, 0), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (limited_lock (&l, 2, "b", TRUE, TRUE, 0), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (limited_lock (&l, 1, "b", TRUE, TRUE, 0), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (limited_lock (&l, 1, "x", TRUE, FALSE, 0), ==, LATCH_LOCK_WAIT_RESOURCE);
  g_assert_cmpint (limited_lock (&l, 1, "c", TRUE, TRUE, 0), ==, LATCH_LOCK_LIMIT_LOCKS);
  g_assert_cmpint (limited_lock (&l, 1, "c", FALSE, TRUE, 0), ==, LATCH_LOCK_LIMIT_LOCKS);
  g_assert_cmpuint (latch_locker_n_resources (l.locker), ==, 2);
  g_assert_cmpuint (latch_locker_n_active (l.locker), ==, 4);
  /* Another owner is not concerned. */
  g_assert_cmpint (limited_lock (&l, 2, "c", TRUE, TRUE, 0), ==, LATCH_LOCK_GRANTED);
  g_assert_true (latch_locker_unlock (l.locker, LATCH_TEST_OWNER (1), "a", FALSE, 0,
                                      l.events));
  g_assert_cmpint (limited_lock (&l, 1, "d", TRUE, TRUE, 0), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (limited_lock (&l, 1, "e", TRUE, TRUE, 0), ==, LATCH_LOCK_LIMIT_LOCKS);
  limited_clear (&l);
}

/* Creating past max_resources is refused; existing resources still serve;
 * a destroyed one makes room. */
static void
test_limit_resources (void)
{
  Limited l;

  limited_init (&l, 0, 2, 0, 0);
  g_assert_cmpint (limited_lock (&l, 1, "a", TRUE, TRUE, 0), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (limited_lock (&l, 2, "b", TRUE, TRUE, 0), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (limited_lock (&l, 3, "c", TRUE, TRUE, 0), ==, LATCH_LOCK_LIMIT_RESOURCES);
  g_assert_cmpuint (latch_locker_n_resources (l.locker), ==, 2);
  g_assert_cmpuint (latch_locker_n_active (l.locker), ==, 2);
  g_assert_cmpint (limited_lock (&l, 3, "a", TRUE, TRUE, 0), ==, LATCH_LOCK_QUEUED);
  /* Waiting for a creation creates nothing: not refused. */
  g_assert_cmpint (limited_lock (&l, 4, "c", TRUE, FALSE, 0), ==, LATCH_LOCK_WAIT_RESOURCE);
  g_assert_true (latch_locker_unlock (l.locker, LATCH_TEST_OWNER (2), "b", FALSE, 0,
                                      l.events));
  g_assert_cmpuint (latch_locker_n_resources (l.locker), ==, 1); /* b, idle, is gone */
  g_assert_cmpint (limited_lock (&l, 5, "c", TRUE, TRUE, 0), ==, LATCH_LOCK_GRANTED);
  limited_clear (&l);
}

/* A request that would queue behind max_waiters others is refused; one
 * that is granted at once, or busy without waiting, is not concerned;
 * creation waits count per resource too. */
static void
test_limit_waiters (void)
{
  Limited l;

  limited_init (&l, 0, 0, 2, 0);
  g_assert_cmpint (limited_lock (&l, 1, "r", TRUE, TRUE, 0), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (limited_lock (&l, 2, "r", TRUE, TRUE, 0), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (limited_lock (&l, 3, "r", TRUE, TRUE, 0), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (limited_lock (&l, 4, "r", TRUE, TRUE, 0), ==, LATCH_LOCK_LIMIT_WAITERS);
  g_assert_cmpint (limited_lock (&l, 4, "r", FALSE, TRUE, 0), ==, LATCH_LOCK_BUSY);
  g_assert_cmpuint (latch_locker_n_active (l.locker), ==, 3);
  g_assert_true (latch_locker_unlock (l.locker, LATCH_TEST_OWNER (1), "r", FALSE, 0,
                                      l.events));
  g_assert_cmpuint (l.events->len, ==, 1); /* owner 2 granted: one waiter left */
  g_assert_cmpint (limited_lock (&l, 4, "r", TRUE, TRUE, 0), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (limited_lock (&l, 5, "r", TRUE, TRUE, 0), ==, LATCH_LOCK_LIMIT_WAITERS);

  g_assert_cmpint (limited_lock (&l, 6, "x", TRUE, FALSE, 0), ==, LATCH_LOCK_WAIT_RESOURCE);
  g_assert_cmpint (limited_lock (&l, 7, "x", TRUE, FALSE, 0), ==, LATCH_LOCK_WAIT_RESOURCE);
  g_assert_cmpint (limited_lock (&l, 8, "x", TRUE, FALSE, 0), ==, LATCH_LOCK_LIMIT_WAITERS);
  g_assert_cmpint (limited_lock (&l, 8, "y", TRUE, FALSE, 0), ==, LATCH_LOCK_WAIT_RESOURCE);
  limited_clear (&l);
}

/* An idle lifespan above the ceiling is refused, created or not. */
static void
test_limit_idle_lifespan (void)
{
  Limited l;

  limited_init (&l, 0, 0, 0, 1000);
  g_assert_cmpint (limited_lock (&l, 1, "r", TRUE, TRUE, 1001), ==,
                   LATCH_LOCK_LIMIT_IDLE_LIFESPAN);
  g_assert_cmpuint (latch_locker_n_resources (l.locker), ==, 0);
  g_assert_cmpint (limited_lock (&l, 1, "r", TRUE, TRUE, 1000), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (limited_lock (&l, 2, "r", TRUE, TRUE, G_MAXINT), ==,
                   LATCH_LOCK_LIMIT_IDLE_LIFESPAN);
  g_assert_cmpuint (latch_locker_n_active (l.locker), ==, 1);
  limited_clear (&l);
}

/* 0 (and a negative value) means no limit. */
static void
test_limit_none (void)
{
  Limited l;

  limited_init (&l, 0, -1, 0, 0);
  for (int i = 0; i < 300; i++)
    {
      g_autofree char *name = g_strdup_printf ("r%d", i);

      g_assert_cmpint (limited_lock (&l, 1, name, TRUE, TRUE, G_MAXINT), ==,
                       LATCH_LOCK_GRANTED);
      g_assert_cmpint (limited_lock (&l, 2 + i, "r0", TRUE, TRUE, 0), ==, LATCH_LOCK_QUEUED);
    }
  g_assert_cmpuint (latch_locker_n_resources (l.locker), ==, 300);
  limited_clear (&l);
}

/* ---- incubator ---- */

static void
test_incubator_granted (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  guint64 f_creator;
  guint64 f_waiter;

  g_assert_cmpint (latch_test_lock_full (fx, 1, "r", PR, TRUE, FALSE, 0, 0,
                                         NULL),
                   ==, LATCH_LOCK_WAIT_RESOURCE);
  latch_test_assert_counts (fx, 0, 1);
  g_assert_cmpint (latch_test_lock_full (fx, 2, "r", PR, TRUE, TRUE, 0, 0,
                                         &f_creator),
                   ==, LATCH_LOCK_GRANTED);
  g_assert_cmpuint (fx->events->len, ==, 1);
  f_waiter = latch_test_assert_event (fx, 0, 1, LATCH_LOCK_GRANTED);
  g_assert_cmpuint (f_creator, <, f_waiter);
  latch_test_assert_counts (fx, 1, 2);
  g_assert_true (latch_test_unlock (fx, 1, "r"));
}

static void
test_incubator_queued (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (latch_test_lock_full (fx, 1, "r", PR, TRUE, FALSE, 0, 0,
                                         NULL),
                   ==, LATCH_LOCK_WAIT_RESOURCE);
  g_assert_cmpint (lock (fx, 2, EX, TRUE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpuint (fx->events->len, ==, 1);
  latch_test_assert_event (fx, 0, 1, LATCH_LOCK_QUEUED);
  latch_test_clear_events (fx);
  g_assert_true (latch_test_unlock (fx, 2, "r"));
  g_assert_cmpuint (fx->events->len, ==, 1);
  latch_test_assert_event (fx, 0, 1, LATCH_LOCK_GRANTED);
  latch_test_assert_counts (fx, 1, 1);
}

/* Waiters are handed over in arrival order, each as if new. */
static void
test_incubator_order (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (latch_test_lock_full (fx, 1, "r", EX, TRUE, FALSE, 0, 0,
                                         NULL),
                   ==, LATCH_LOCK_WAIT_RESOURCE);
  g_assert_cmpint (latch_test_lock_full (fx, 2, "r", NL, TRUE, FALSE, 0, 0,
                                         NULL),
                   ==, LATCH_LOCK_WAIT_RESOURCE);
  g_assert_cmpint (latch_test_lock_full (fx, 3, "r", NL, TRUE, FALSE, 0, 0,
                                         NULL),
                   ==, LATCH_LOCK_WAIT_RESOURCE);
  g_assert_cmpint (latch_test_lock_full (fx, 4, "other", NL, TRUE, FALSE, 0, 0,
                                         NULL),
                   ==, LATCH_LOCK_WAIT_RESOURCE);
  latch_locker_drop_owner (fx->locker, LATCH_TEST_OWNER (3), MS (0),
                           fx->events);
  latch_test_assert_counts (fx, 0, 3);

  g_assert_cmpint (lock (fx, 5, CR, TRUE), ==, LATCH_LOCK_GRANTED);
  /* EX does not fit with CR: queued; NL would fit but is behind it. */
  g_assert_cmpuint (fx->events->len, ==, 2);
  latch_test_assert_event (fx, 0, 1, LATCH_LOCK_QUEUED);
  latch_test_assert_event (fx, 1, 2, LATCH_LOCK_QUEUED);
  latch_test_assert_counts (fx, 1, 4);
  latch_test_clear_events (fx);

  /* A create=FALSE request on an existing resource is an ordinary one. */
  g_assert_cmpint (latch_test_lock_full (fx, 6, "r", NL, FALSE, FALSE, 0, 0,
                                         NULL),
                   ==, LATCH_LOCK_BUSY);
  g_assert_true (latch_test_unlock (fx, 5, "r"));
  g_assert_cmpuint (fx->events->len, ==, 2);
  latch_test_assert_event (fx, 0, 1, LATCH_LOCK_GRANTED);
  latch_test_assert_event (fx, 1, 2, LATCH_LOCK_GRANTED);
  latch_test_clear_events (fx);

  latch_locker_drop_owner (fx->locker, LATCH_TEST_OWNER (1), MS (0),
                           fx->events);
  latch_locker_drop_owner (fx->locker, LATCH_TEST_OWNER (2), MS (0),
                           fx->events);
  latch_locker_drop_owner (fx->locker, LATCH_TEST_OWNER (4), MS (0),
                           fx->events);
  latch_test_assert_counts (fx, 0, 0);
  /* "other" was never created; its waiter is gone: nothing to hand over. */
  g_assert_cmpint (latch_test_lock_full (fx, 7, "other", NL, TRUE, TRUE, 0, 0,
                                         NULL),
                   ==, LATCH_LOCK_GRANTED);
  g_assert_cmpuint (fx->events->len, ==, 0);
}

static void
test_incubator_cant_wait (LatchTestFixture *fx,
                          gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (latch_test_lock_full (fx, 1, "r", EX, FALSE, FALSE, 0, 0,
                                         NULL),
                   ==, LATCH_LOCK_CANT_WAIT);
  latch_test_assert_counts (fx, 0, 0);
  g_assert_cmpint (lock (fx, 2, EX, TRUE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpuint (fx->events->len, ==, 0);
}

/* A waiter handed over to a resource with an idle lifespan. */
static void
test_incubator_lifespan (LatchTestFixture *fx,
                         gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (latch_test_lock_full (fx, 1, "r", EX, TRUE, FALSE, 7, 0,
                                         NULL),
                   ==, LATCH_LOCK_WAIT_RESOURCE);
  g_assert_cmpint (latch_test_lock_full (fx, 2, "r", NL, FALSE, TRUE, 50, 10,
                                         NULL),
                   ==, LATCH_LOCK_GRANTED);
  latch_test_assert_event (fx, 0, 1, LATCH_LOCK_GRANTED);
  latch_locker_drop_owner (fx->locker, LATCH_TEST_OWNER (2), MS (20),
                           fx->events);
  latch_locker_drop_owner (fx->locker, LATCH_TEST_OWNER (1), MS (30),
                           fx->events);
  /* The creator's lifespan (50), not the waiter's (7). */
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (30), fx->events), ==, MS (80));
}

/* ---- names ---- */

static void
test_name_invalid (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  static const char *const names[] = {
    "", "a b", "1abc", "abc\n!!", "big[99999999999]", "/a\\b", "_x_a[1]",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_assert_cmpint (latch_test_lock_full (fx, 1, names[i], EX, TRUE, TRUE,
                                             0, 0, NULL),
                       ==, LATCH_LOCK_INVALID_NAME);
      g_assert_cmpint (latch_test_lock_full (fx, 1, names[i], EX, TRUE, FALSE,
                                             0, 0, NULL),
                       ==, LATCH_LOCK_INVALID_NAME);
      g_assert_false (latch_test_unlock (fx, 1, names[i]));
    }
  latch_test_assert_counts (fx, 0, 0);
  g_assert_cmpint (latch_test_lock_full (fx, 1, "_RESOURCE", EX, TRUE, TRUE, 0,
                                         0, NULL),
                   ==, LATCH_LOCK_GRANTED);
}

/* Freeing a locker with holds, queues and waiters leaks nothing. */
static void
test_free_busy (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  latch_test_lock_full (fx, 1, "a", EX, TRUE, TRUE, 100, 0, NULL);
  latch_test_lock_full (fx, 2, "a", EX, TRUE, TRUE, 0, 0, NULL);
  latch_test_lock_full (fx, 3, "b", EX, TRUE, FALSE, 0, 0, NULL);
  latch_test_lock_full (fx, 4, "c", EX, TRUE, TRUE, 100, 0, NULL);
  latch_test_unlock (fx, 4, "c");
  latch_test_assert_counts (fx, 2, 3);
}

/* ---- randomized model test ---- */

#define M_RSRC 3
#define M_OWNERS 6

static const char *const m_names[M_RSRC] = { "r0", "r1", "r2" };

typedef struct
{
  int owner;
  int mode;
} MReq;

typedef struct
{
  int owner;
  LatchLockStatus status;
  int rsrc;
} MEvent;

/* An independent, brute-force model of the rules in locker.h. */
typedef struct
{
  GArray *holds[M_RSRC];   /* MReq, in grant order */
  GArray *queue[M_RSRC];   /* MReq, FIFO */
  GArray *incub[M_RSRC];   /* MReq, waiting for creation */
  int pending[M_OWNERS];   /* resource of the queued/waiting request, -1 */
  GArray *expected;        /* MEvent of the current operation */
} Model;

static void
model_init (Model *m)
{
  for (int r = 0; r < M_RSRC; r++)
    {
      m->holds[r] = g_array_new (FALSE, FALSE, sizeof (MReq));
      m->queue[r] = g_array_new (FALSE, FALSE, sizeof (MReq));
      m->incub[r] = g_array_new (FALSE, FALSE, sizeof (MReq));
    }
  for (int o = 0; o < M_OWNERS; o++)
    m->pending[o] = -1;
  m->expected = g_array_new (FALSE, FALSE, sizeof (MEvent));
}

static void
model_clear (Model *m)
{
  for (int r = 0; r < M_RSRC; r++)
    {
      g_array_unref (m->holds[r]);
      g_array_unref (m->queue[r]);
      g_array_unref (m->incub[r]);
    }
  g_array_unref (m->expected);
}

static gboolean
model_exists (const Model *m, int r)
{
  /* lifespan 0: a resource lives exactly while someone holds or queues. */
  return m->holds[r]->len > 0 || m->queue[r]->len > 0;
}

static gboolean
model_holds (const Model *m, int r, int owner)
{
  for (guint i = 0; i < m->holds[r]->len; i++)
    if (g_array_index (m->holds[r], MReq, i).owner == owner)
      return TRUE;
  return FALSE;
}

static gboolean
model_fits (const Model *m, int r, int mode)
{
  for (guint i = 0; i < m->holds[r]->len; i++)
    if (!latch_test_modes_compatible (g_array_index (m->holds[r], MReq, i).mode, mode))
      return FALSE;
  return TRUE;
}

static LatchLockStatus
model_admit (Model *m, int r, MReq req, gboolean wait)
{
  if (m->queue[r]->len == 0 && model_fits (m, r, req.mode))
    {
      g_array_append_val (m->holds[r], req);
      m->pending[req.owner] = -1;
      return LATCH_LOCK_GRANTED;
    }
  if (!wait)
    return LATCH_LOCK_BUSY;
  g_array_append_val (m->queue[r], req);
  m->pending[req.owner] = r;
  return LATCH_LOCK_QUEUED;
}

static void
model_expect (Model *m, int owner, LatchLockStatus status, int r)
{
  MEvent ev = { owner, status, r };

  g_array_append_val (m->expected, ev);
}

static void
model_serve (Model *m, int r)
{
  while (m->queue[r]->len > 0)
    {
      MReq head = g_array_index (m->queue[r], MReq, 0);

      if (!model_fits (m, r, head.mode))
        break;
      g_array_remove_index (m->queue[r], 0);
      g_array_append_val (m->holds[r], head);
      m->pending[head.owner] = -1;
      model_expect (m, head.owner, LATCH_LOCK_GRANTED, r);
    }
}

static LatchLockStatus
model_request (Model *m, int owner, int r, int mode, gboolean wait,
               gboolean create)
{
  MReq req = { owner, mode };
  LatchLockStatus status;

  if (model_exists (m, r))
    return model_admit (m, r, req, wait);
  if (!create)
    {
      if (!wait)
        return LATCH_LOCK_CANT_WAIT;
      g_array_append_val (m->incub[r], req);
      m->pending[owner] = r;
      return LATCH_LOCK_WAIT_RESOURCE;
    }
  status = model_admit (m, r, req, wait);
  for (guint i = 0; i < m->incub[r]->len; i++)
    {
      MReq waiter = g_array_index (m->incub[r], MReq, i);

      model_expect (m, waiter.owner, model_admit (m, r, waiter, TRUE), r);
    }
  g_array_set_size (m->incub[r], 0);
  return status;
}

static gboolean
model_unlock (Model *m, int owner, int r)
{
  for (guint i = 0; i < m->holds[r]->len; i++)
    if (g_array_index (m->holds[r], MReq, i).owner == owner)
      {
        g_array_remove_index (m->holds[r], i);
        model_serve (m, r);
        return TRUE;
      }
  return FALSE;
}

static void
remove_owner (GArray *reqs, int owner)
{
  for (guint i = reqs->len; i-- > 0;)
    if (g_array_index (reqs, MReq, i).owner == owner)
      g_array_remove_index (reqs, i);
}

static void
model_drop (Model *m, int owner)
{
  for (int r = 0; r < M_RSRC; r++)
    {
      remove_owner (m->holds[r], owner);
      remove_owner (m->queue[r], owner);
      remove_owner (m->incub[r], owner);
    }
  m->pending[owner] = -1;
  /* Serving an untouched queue grants nothing: its head did not fit
   * before and still does not. */
  for (int r = 0; r < M_RSRC; r++)
    model_serve (m, r);
}

/* The locker's events must be the model's: the same outcome for each
 * owner, and for each resource the grants in the same (FIFO) order.
 * pending_before: each owner's pending resource before the operation. */
static void
compare_events (Model *m, GArray *events, const int *pending_before,
                guint64 *last_fence)
{
  g_assert_cmpuint (events->len, ==, m->expected->len);
  for (guint i = 0; i < events->len; i++)
    {
      const LatchLockEvent *ev = &g_array_index (events, LatchLockEvent, i);
      int owner = GPOINTER_TO_INT (ev->owner);
      gboolean found = FALSE;

      g_assert_cmpint (owner, >=, 0);
      g_assert_cmpint (owner, <, M_OWNERS);
      /* Nothing is granted to an owner that was not waiting for it. */
      g_assert_cmpint (pending_before[owner], >=, 0);
      for (guint k = 0; k < m->expected->len; k++)
        {
          const MEvent *want = &g_array_index (m->expected, MEvent, k);

          if (want->owner == owner)
            {
              g_assert_cmpint (ev->status, ==, want->status);
              found = TRUE;
            }
        }
      g_assert_true (found);
      if (ev->status == LATCH_LOCK_GRANTED)
        {
          g_assert_cmpuint (ev->fence, >, *last_fence);
          *last_fence = ev->fence;
        }
    }
  for (int r = 0; r < M_RSRC; r++)
    {
      guint k = 0;

      for (guint i = 0; i < events->len; i++)
        {
          const LatchLockEvent *ev
              = &g_array_index (events, LatchLockEvent, i);
          int owner = GPOINTER_TO_INT (ev->owner);

          if (pending_before[owner] != r)
            continue;
          while (k < m->expected->len
                 && g_array_index (m->expected, MEvent, k).rsrc != r)
            k++;
          g_assert_cmpuint (k, <, m->expected->len);
          g_assert_cmpint (g_array_index (m->expected, MEvent, k).owner, ==,
                           owner);
          k++;
        }
    }
}

static void
model_check (const Model *m, const LatchLocker *locker)
{
  guint n_active = 0;
  guint n_resources = 0;

  for (int r = 0; r < M_RSRC; r++)
    {
      GArray *holds = m->holds[r];

      /* Holders pairwise compatible. */
      for (guint i = 0; i < holds->len; i++)
        for (guint j = i + 1; j < holds->len; j++)
          {
            int a = g_array_index (holds, MReq, i).mode;
            int b = g_array_index (holds, MReq, j).mode;

            g_assert_true (latch_test_modes_compatible (a, b) && latch_test_modes_compatible (b, a));
          }
      /* The head of a queue never fits (else it would have been served). */
      if (m->queue[r]->len > 0)
        g_assert_false (
            model_fits (m, r, g_array_index (m->queue[r], MReq, 0).mode));
      n_active += holds->len + m->queue[r]->len + m->incub[r]->len;
      if (model_exists (m, r))
        {
          n_resources++;
          g_assert_cmpuint (m->incub[r]->len, ==, 0);
        }
    }
  g_assert_cmpuint (latch_locker_n_active (locker), ==, n_active);
  g_assert_cmpuint (latch_locker_n_resources (locker), ==, n_resources);
}

/* How often each outcome came up over all runs, so that the test proves
 * it exercised them: immediate statuses, then late events. */
static guint n_status[8];
static guint n_late[8];

static int
status_slot (LatchLockStatus status)
{
  switch (status)
    {
    case LATCH_LOCK_GRANTED:
      return 0;
    case LATCH_LOCK_QUEUED:
      return 1;
    case LATCH_LOCK_WAIT_RESOURCE:
      return 2;
    case LATCH_LOCK_BUSY:
      return 3;
    case LATCH_LOCK_CANT_WAIT:
      return 4;
    case LATCH_LOCK_IMPOSSIBLE:
    case LATCH_LOCK_INVALID_NAME:
    default:
      return 5;
    }
}

static void
run_model_once (int n_ops)
{
  g_autoptr (LatchLocker) locker = latch_locker_new (1);
  g_autoptr (GArray) events = latch_lock_events_new ();
  Model m;
  guint64 last_fence = 0;
  int pending_before[M_OWNERS];

  model_init (&m);
  for (int op = 0; op < n_ops; op++)
    {
      int owner = g_test_rand_int_range (0, M_OWNERS);
      int r = g_test_rand_int_range (0, M_RSRC);
      int kind = g_test_rand_int_range (0, 100);

      memcpy (pending_before, m.pending, sizeof pending_before);
      g_array_set_size (m.expected, 0);
      if (kind < 55 && m.pending[owner] < 0 && !model_holds (&m, r, owner))
        {
          /* The daemon allows one request in flight per owner and none
           * for a resource the owner holds. */
          LatchLockReq req = {
            .name = m_names[r],
            .mode = g_test_rand_int_range (0, 6),
            .quantity = 1,
            .wait = g_test_rand_int_range (0, 10) < 7,
            .create = g_test_rand_int_range (0, 10) < 8,
            .lifespan = 0,
          };
          guint64 fence = 0;
          LatchLockStatus want;
          LatchLockStatus got;

          want = model_request (&m, owner, r, req.mode, req.wait, req.create);
          got = latch_locker_request (locker, LATCH_TEST_OWNER (owner), &req,
                                      op, &fence, NULL, events);
          g_assert_cmpint (got, ==, want);
          n_status[status_slot (got)]++;
          if (got == LATCH_LOCK_GRANTED)
            {
              g_assert_cmpuint (fence, >, last_fence);
              last_fence = fence;
            }
        }
      else if (kind < 90)
        {
          gboolean want = model_unlock (&m, owner, r);

          g_assert_cmpint (latch_locker_unlock (locker,
                                                LATCH_TEST_OWNER (owner),
                                                m_names[r], g_test_rand_bit (),
                                                op, events),
                           ==, want);
        }
      else
        {
          model_drop (&m, owner);
          latch_locker_drop_owner (locker, LATCH_TEST_OWNER (owner), op,
                                   events);
        }
      compare_events (&m, events, pending_before, &last_fence);
      for (guint i = 0; i < events->len; i++)
        {
          const LatchLockEvent *ev
              = &g_array_index (events, LatchLockEvent, i);

          n_late[status_slot (ev->status)]++;
        }
      g_array_set_size (events, 0);
      model_check (&m, locker);
      g_assert_cmpint (latch_locker_tick (locker, op, events), ==, -1);
      g_assert_cmpuint (events->len, ==, 0);
    }

  for (int owner = 0; owner < M_OWNERS; owner++)
    {
      memcpy (pending_before, m.pending, sizeof pending_before);
      g_array_set_size (m.expected, 0);
      model_drop (&m, owner);
      latch_locker_drop_owner (locker, LATCH_TEST_OWNER (owner), n_ops,
                               events);
      compare_events (&m, events, pending_before, &last_fence);
      g_array_set_size (events, 0);
      model_check (&m, locker);
    }
  g_assert_cmpuint (latch_locker_n_active (locker), ==, 0);
  g_assert_cmpuint (latch_locker_n_resources (locker), ==, 0);
  model_clear (&m);
}

static void
test_model_random (void)
{
  int n_runs = g_test_slow () ? 2000 : 200;

  for (int run = 0; run < n_runs; run++)
    run_model_once (g_test_rand_int_range (1, 400));
  g_test_message ("granted %u, queued %u, wait-resource %u, busy %u, "
                  "cant-wait %u; late: granted %u, queued %u",
                  n_status[0], n_status[1], n_status[2], n_status[3],
                  n_status[4], n_late[0], n_late[1]);
  for (int i = 0; i <= 4; i++)
    g_assert_cmpuint (n_status[i], >, 0);
  g_assert_cmpuint (n_late[0], >, 0);
  g_assert_cmpuint (n_late[1], >, 0);
}

/* ---- rebuilding from stored state (a table kept in etcd) ---- */

static LatchLockStatus
ask (LatchLocker *l, gpointer owner, const char *name, char **element)
{
  g_autoptr (GArray) events = latch_lock_events_new ();
  LatchLockReq req = { name, EX, 1, TRUE, TRUE, 0 };
  guint64 fence;

  *element = NULL;
  return latch_locker_request (l, owner, &req, 0, &fence, element, events);
}

/* A set's rotation and its taken members survive a save and a rebuild:
 * the rebuilt locker hands out what the first one would have. */
static void
test_restore_set (void)
{
  g_autoptr (LatchLocker) a = latch_locker_new (1);
  g_autoptr (LatchLocker) b = latch_locker_new (1);
  g_autofree char *e1 = NULL, *e2 = NULL, *e3 = NULL, *state = NULL;
  LatchLockReq req = { "s1.s2.s3", EX, 1, TRUE, TRUE, 0 };
  int o1, o2, o3;

  g_assert_cmpint (ask (a, &o1, "s1.s2.s3", &e1), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (ask (a, &o2, "s1.s2.s3", &e2), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpstr (e1, ==, "s1");
  g_assert_cmpstr (e2, ==, "s2");
  state = latch_locker_save_state (a, "s1.s2.s3");
  g_assert_nonnull (state);
  g_assert_true (latch_locker_restore (b, "s1.s2.s3", 0, state, 0));
  /* s2's holder only: s1 is free again, but the rotation goes on. */
  g_assert_true (latch_locker_adopt (b, &o2, &req, "s2", 7, 0));
  g_assert_false (latch_locker_adopt (b, &o1, &req, "s2", 8, 0)); /* taken */
  g_assert_false (latch_locker_adopt (b, &o1, &req, "nope", 8, 0));
  g_assert_cmpint (ask (b, &o3, "s1.s2.s3", &e3), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpstr (e3, ==, "s3");
  g_assert_false (latch_locker_restore (b, "s1.s2.s3", 0, "9", 0)); /* no slot 9 */
}

/* A transactional sequence: the counter and a rolled-back value. */
static void
test_restore_sequence (void)
{
  g_autoptr (LatchLocker) a = latch_locker_new (1);
  g_autoptr (LatchLocker) b = latch_locker_new (1);
  g_autoptr (GArray) events = latch_lock_events_new ();
  g_autofree char *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL, *state = NULL;
  LatchLockReq req = { "_S_q[2]", EX, 1, TRUE, TRUE, 0 };
  int o1, o2, o3;

  g_assert_cmpint (ask (a, &o1, "_S_q[2]", &e1), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (ask (a, &o2, "_S_q[2]", &e2), ==, LATCH_LOCK_GRANTED);
  g_assert_true (latch_locker_unlock (a, &o1, "_S_q[2]", TRUE, 0, events));
  state = latch_locker_save_state (a, "_S_q[2]");
  g_assert_cmpstr (state, ==, "3 1");
  g_assert_true (latch_locker_restore (b, "_S_q[2]", 0, state, 0));
  g_assert_true (latch_locker_adopt (b, &o2, &req, e2, 5, 0));
  g_assert_cmpint (ask (b, &o3, "_S_q[2]", &e3), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpstr (e3, ==, "1"); /* the rolled-back value first */
  g_assert_cmpint (ask (b, &o1, "_S_q[2]", &e4), ==, LATCH_LOCK_QUEUED); /* two held */
  g_assert_false (latch_locker_restore (b, "_S_q[2]", 0, "0", 0));
  g_assert_false (latch_locker_restore (b, "_S_q[2]", 0, "3 x", 0));
}

/* A timestamp's last slot: a rebuilt resource never issues it again. */
static void
test_restore_timestamp (void)
{
  g_autoptr (LatchLocker) b = latch_locker_new (1);
  g_autoptr (GArray) events = latch_lock_events_new ();
  LatchLockReq req = { "_t_%s[1]", EX, 1, TRUE, TRUE, 0 };
  g_autofree char *element = NULL;
  g_autofree char *state = NULL;
  guint64 fence;
  int o1;

  /* Issued in second 100 (slot 100); at 100.5 s the same slot is refused. */
  g_assert_true (latch_locker_restore (b, "_t_%s[1]", 0, "100", 0));
  g_assert_cmpint (latch_locker_request (b, &o1, &(LatchLockReq){ "_t_%s[1]", EX, 1, FALSE,
                                                                  TRUE, 0 },
                                         100500000, &fence, &element, events),
                   ==, LATCH_LOCK_BUSY);
  g_assert_cmpint (latch_locker_request (b, &o1, &req, 101000000, &fence, &element, events),
                   ==, LATCH_LOCK_GRANTED);
  g_assert_cmpstr (element, ==, "101");
  state = latch_locker_save_state (b, "_t_%s[1]");
  g_assert_cmpstr (state, ==, "101");
}

/* Types without a state of their own: save gives NULL, adopt holds. */
static void
test_restore_simple (void)
{
  g_autoptr (LatchLocker) b = latch_locker_new (1);
  g_autofree char *element = NULL;
  LatchLockReq req = { "plain", PR, 1, TRUE, TRUE, 0 };
  int o1, o2;

  g_assert_true (latch_locker_restore (b, "plain", 0, NULL, 0));
  g_assert_false (latch_locker_restore (b, "plain", 0, "x", 0));
  g_assert_null (latch_locker_save_state (b, "plain"));
  g_assert_true (latch_locker_adopt (b, &o1, &req, NULL, 3, 0));
  g_assert_cmpint (ask (b, &o2, "plain", &element), ==, LATCH_LOCK_QUEUED); /* EX vs PR */
  g_assert_cmpuint (latch_locker_n_active (b), ==, 2); /* holder + waiter */
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/locker/simple/matrix/grant-now", test_matrix_grant_now);
  g_test_add_func ("/locker/simple/matrix/queue", test_matrix_queue);
  LATCH_TEST_ADD ("/locker/simple/fifo-writer-not-starved",
                  test_fifo_writer_not_starved);
  LATCH_TEST_ADD ("/locker/simple/busy-behind-queue",
                  test_fifo_busy_behind_queue);
  LATCH_TEST_ADD ("/locker/simple/head-blocks", test_fifo_head_blocks);
  LATCH_TEST_ADD ("/locker/simple/same-owner-twice", test_same_owner_twice);
  LATCH_TEST_ADD ("/locker/fence/increasing", test_fence_increasing);
  LATCH_TEST_ADD ("/locker/drop-owner/holder", test_drop_holder);
  LATCH_TEST_ADD ("/locker/drop-owner/queued", test_drop_queued);
  LATCH_TEST_ADD ("/locker/drop-owner/everything", test_drop_everything);
  LATCH_TEST_ADD ("/locker/unlock/not-held", test_unlock_not_held);
  LATCH_TEST_ADD ("/locker/lifespan/zero", test_lifespan_zero);
  LATCH_TEST_ADD ("/locker/lifespan/delayed", test_lifespan_delayed);
  LATCH_TEST_ADD ("/locker/lifespan/restart", test_lifespan_restart);
  LATCH_TEST_ADD ("/locker/lifespan/order", test_lifespan_order);
  LATCH_TEST_ADD_IDLE_MIN ("/locker/lifespan/min/keeps", test_idle_min_keeps,
                           2000);
  LATCH_TEST_ADD_IDLE_MIN ("/locker/lifespan/min/longer-lifespan",
                           test_idle_min_longer_lifespan, 2000);
  g_test_add_func ("/locker/lifespan/min/none", test_idle_min_none);
  g_test_add_func ("/locker/limits/locks", test_limit_locks);
  g_test_add_func ("/locker/limits/resources", test_limit_resources);
  g_test_add_func ("/locker/limits/waiters", test_limit_waiters);
  g_test_add_func ("/locker/limits/idle-lifespan", test_limit_idle_lifespan);
  g_test_add_func ("/locker/limits/none", test_limit_none);
  LATCH_TEST_ADD ("/locker/incubator/granted", test_incubator_granted);
  LATCH_TEST_ADD ("/locker/incubator/queued", test_incubator_queued);
  LATCH_TEST_ADD ("/locker/incubator/order", test_incubator_order);
  LATCH_TEST_ADD ("/locker/incubator/cant-wait", test_incubator_cant_wait);
  LATCH_TEST_ADD ("/locker/incubator/lifespan", test_incubator_lifespan);
  LATCH_TEST_ADD ("/locker/name/invalid", test_name_invalid);
  LATCH_TEST_ADD ("/locker/free-busy", test_free_busy);
  g_test_add_func ("/locker/model/random", test_model_random);
  g_test_add_func ("/locker/restore/set", test_restore_set);
  g_test_add_func ("/locker/restore/sequence", test_restore_sequence);
  g_test_add_func ("/locker/restore/timestamp", test_restore_timestamp);
  g_test_add_func ("/locker/restore/simple", test_restore_simple);

  return g_test_run ();
}
