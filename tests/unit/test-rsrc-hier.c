/* test-rsrc-hier.c: hierarchical resources ("/a/b/c"), through the
 * locker's public API. */
#include "config.h"

#include "locker/locker.h"

#include "locker-fixture.h"

#include <string.h>

/* The locker's clock is in microseconds; the tests think in ms. */
#define MS(ms) ((gint64) (ms) * 1000)

static const LatchLockMode NL = LATCH_LOCK_MODE_NL;
static const LatchLockMode CR = LATCH_LOCK_MODE_CR;
static const LatchLockMode CW = LATCH_LOCK_MODE_CW;
static const LatchLockMode PR = LATCH_LOCK_MODE_PR;
static const LatchLockMode PW = LATCH_LOCK_MODE_PW;
static const LatchLockMode EX = LATCH_LOCK_MODE_EX;

/* Lock name, create it if needed, lifespan 0, time 0. */
static LatchLockStatus
lock (LatchTestFixture *fx, int owner, const char *name, LatchLockMode mode,
      gboolean wait)
{
  return latch_test_lock_full (fx, owner, name, mode, wait, TRUE, 0, 0, NULL);
}

/* ---- FLoM's examples (tests "Use case 14/15") ---- */

static void
test_ancestor_blocks_descendant (LatchTestFixture *fx,
                                 gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (lock (fx, 1, "/apple", EX, TRUE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 2, "/apple/pear", EX, FALSE), ==,
                   LATCH_LOCK_BUSY);
  g_assert_cmpint (lock (fx, 2, "/apple/pear", PR, FALSE), ==,
                   LATCH_LOCK_BUSY);
  g_assert_cmpint (lock (fx, 2, "/apple/pear/stone", CR, FALSE), ==,
                   LATCH_LOCK_BUSY);
  /* NL goes with anything, also below an EX. */
  g_assert_cmpint (lock (fx, 3, "/apple/pear", NL, FALSE), ==,
                   LATCH_LOCK_GRANTED);
  latch_test_assert_counts (fx, 1, 2);

  g_assert_cmpint (lock (fx, 2, "/apple/pear", EX, TRUE), ==,
                   LATCH_LOCK_QUEUED);
  g_assert_true (latch_test_unlock (fx, 1, "/apple"));
  g_assert_cmpuint (fx->events->len, ==, 1);
  latch_test_assert_event (fx, 0, 2, LATCH_LOCK_GRANTED);
  latch_test_assert_counts (fx, 1, 2);
}

static void
test_descendant_blocks_ancestor (LatchTestFixture *fx,
                                 gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (lock (fx, 1, "/foo/bar/apple", EX, TRUE), ==,
                   LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 2, "/foo/bar", PR, FALSE), ==, LATCH_LOCK_BUSY);
  g_assert_cmpint (lock (fx, 2, "/foo", PR, FALSE), ==, LATCH_LOCK_BUSY);
  g_assert_cmpint (lock (fx, 2, "/foo/bar/apple/seed", PR, FALSE), ==,
                   LATCH_LOCK_BUSY);
  g_assert_cmpint (lock (fx, 3, "/foo/blue", PR, FALSE), ==,
                   LATCH_LOCK_GRANTED);
  latch_test_assert_counts (fx, 1, 2);

  g_assert_cmpint (lock (fx, 2, "/foo/bar", PR, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_true (latch_test_unlock (fx, 1, "/foo/bar/apple"));
  g_assert_cmpuint (fx->events->len, ==, 1);
  latch_test_assert_event (fx, 0, 2, LATCH_LOCK_GRANTED);
  latch_test_assert_counts (fx, 1, 2);
}

static void
test_siblings_independent (LatchTestFixture *fx,
                           gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (lock (fx, 1, "/foo/bar", PR, FALSE), ==,
                   LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 2, "/foo/blue/apple", EX, FALSE), ==,
                   LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 3, "/foo/bar", EX, FALSE), ==, LATCH_LOCK_BUSY);
  g_assert_cmpint (lock (fx, 3, "/foo/blue", PR, FALSE), ==, LATCH_LOCK_BUSY);
  g_assert_cmpint (lock (fx, 3, "/foo", CR, FALSE), ==, LATCH_LOCK_BUSY);
  /* Siblings and cousins. */
  g_assert_cmpint (lock (fx, 4, "/foo/blue/pear", EX, FALSE), ==,
                   LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 5, "/foo/bar2/apple", EX, FALSE), ==,
                   LATCH_LOCK_GRANTED);
  /* A path that extends another as a string is not below it. */
  g_assert_cmpint (lock (fx, 6, "/foo/barn", EX, FALSE), ==,
                   LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 7, "/foo/ba", EX, FALSE), ==,
                   LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 8, "/foo/blue/apples", EX, FALSE), ==,
                   LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 9, "/foo", NL, FALSE), ==, LATCH_LOCK_GRANTED);
  latch_test_assert_counts (fx, 1, 8);
}

/* ---- modes along the chain ---- */

/* Every pair of modes, for each relation between the two paths. */
static void
test_matrix_chain (void)
{
  static const struct
  {
    const char *held;
    const char *asked;
    gboolean related;
  } cases[] = {
    { "/a/b", "/a/b", TRUE },     /* same path */
    { "/a", "/a/b", TRUE },       /* held on the parent */
    { "/a", "/a/b/c", TRUE },     /* held on a farther ancestor */
    { "/a/b", "/a/b/c", TRUE },
    { "/a/b", "/a", TRUE },       /* held on a child */
    { "/a/b/c", "/a", TRUE },     /* held farther below */
    { "/a/b/c", "/a/b", TRUE },
    { "/a/b", "/a/c", FALSE },    /* siblings */
    { "/a/b/c", "/a/d/c", FALSE }, /* cousins */
    { "/a/b", "/b/a", FALSE },    /* another first segment */
  };

  for (gsize c = 0; c < G_N_ELEMENTS (cases); c++)
    for (int held = 0; held < 6; held++)
      for (int asked = 0; asked < 6; asked++)
        {
          LatchTestFixture fx;
          gboolean ok = !cases[c].related || latch_test_modes_compatible (held, asked);

          latch_test_fixture_setup (&fx, NULL);
          g_assert_cmpint (lock (&fx, 1, cases[c].held, held, FALSE), ==,
                           LATCH_LOCK_GRANTED);
          g_assert_cmpint (lock (&fx, 2, cases[c].asked, asked, FALSE), ==,
                           ok ? LATCH_LOCK_GRANTED : LATCH_LOCK_BUSY);
          if (!ok)
            {
              /* Queued, and granted when the holder goes. */
              g_assert_cmpint (lock (&fx, 2, cases[c].asked, asked, TRUE), ==,
                               LATCH_LOCK_QUEUED);
              g_assert_true (latch_test_unlock (&fx, 1, cases[c].held));
              g_assert_cmpuint (fx.events->len, ==, 1);
              latch_test_assert_event (&fx, 0, 2, LATCH_LOCK_GRANTED);
            }
          /* One resource unless the first segments differ. */
          latch_test_assert_counts (&fx,
                                    cases[c].held[1] == cases[c].asked[1]
                                        ? 1 : 2,
                                    ok ? 2 : 1);
          latch_test_fixture_teardown (&fx, NULL);
        }
}

static void
test_mode_chain (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  /* PR on /a and PR on /a/b coexist; EX below them does not fit. */
  g_assert_cmpint (lock (fx, 1, "/a", PR, FALSE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 2, "/a/b", PR, FALSE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 3, "/a/b", EX, FALSE), ==, LATCH_LOCK_BUSY);
  g_assert_cmpint (lock (fx, 3, "/a/b/c", EX, FALSE), ==, LATCH_LOCK_BUSY);
  g_assert_cmpint (lock (fx, 3, "/a/c", EX, FALSE), ==, LATCH_LOCK_BUSY);
  g_assert_true (latch_test_unlock (fx, 1, "/a"));
  /* With the PR on /a gone, the sibling /a/c is free. */
  g_assert_cmpint (lock (fx, 3, "/a/c", EX, FALSE), ==, LATCH_LOCK_GRANTED);
  g_assert_true (latch_test_unlock (fx, 2, "/a/b"));
  g_assert_true (latch_test_unlock (fx, 3, "/a/c"));
  latch_test_assert_counts (fx, 0, 0);

  /* CR, CW, CW down a chain fit; PR further down fits CR but not CW. */
  g_assert_cmpint (lock (fx, 1, "/a", CR, FALSE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 2, "/a/b", CW, FALSE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 3, "/a/b/c", CW, FALSE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 4, "/a/b/c/d", PR, TRUE), ==, LATCH_LOCK_QUEUED);
  /* Still a CW on an ancestor: nothing happens. */
  g_assert_true (latch_test_unlock (fx, 2, "/a/b"));
  g_assert_cmpuint (fx->events->len, ==, 0);
  g_assert_true (latch_test_unlock (fx, 3, "/a/b/c"));
  g_assert_cmpuint (fx->events->len, ==, 1);
  latch_test_assert_event (fx, 0, 4, LATCH_LOCK_GRANTED);
  latch_test_assert_counts (fx, 1, 2);
}

/* Different first segments are different resources. */
static void
test_roots_independent (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (lock (fx, 1, "/a", EX, FALSE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 2, "/b", EX, FALSE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 3, "/ab/a", EX, FALSE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 4, "a", EX, FALSE), ==, LATCH_LOCK_GRANTED);
  latch_test_assert_counts (fx, 4, 4);
  g_assert_cmpint (lock (fx, 5, "/a/b", EX, TRUE), ==, LATCH_LOCK_QUEUED);
  /* A queue on /a does not hold up /b. */
  g_assert_cmpint (lock (fx, 6, "/b/x", EX, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_true (latch_test_unlock (fx, 2, "/b"));
  g_assert_cmpuint (fx->events->len, ==, 1);
  latch_test_assert_event (fx, 0, 6, LATCH_LOCK_GRANTED);
  latch_test_clear_events (fx);
  g_assert_true (latch_test_unlock (fx, 1, "/a"));
  g_assert_cmpuint (fx->events->len, ==, 1);
  latch_test_assert_event (fx, 0, 5, LATCH_LOCK_GRANTED);
  latch_test_assert_counts (fx, 4, 4);
}

/* Segments may hold spaces, dots, UTF-8... */
static void
test_odd_segments (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (lock (fx, 1, "/a b/c.d", EX, FALSE), ==,
                   LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 2, "/a b/c.d/\xc3\xa9t\xc3\xa9", PR, FALSE), ==,
                   LATCH_LOCK_BUSY);
  g_assert_cmpint (lock (fx, 2, "/a b", PR, FALSE), ==, LATCH_LOCK_BUSY);
  g_assert_cmpint (lock (fx, 2, "/a b/c", EX, FALSE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 3, "/a b/c.d.e", EX, FALSE), ==,
                   LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 4, "/a", EX, FALSE), ==, LATCH_LOCK_GRANTED);
  latch_test_assert_counts (fx, 2, 4);
}

/* A long path (names have at most 2048 bytes: 1000 segments here), pruned
 * to nothing. */
static void
test_deep_path (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (GString) deep = g_string_new (NULL);
  g_autofree char *mid = NULL;

  for (int i = 0; i < 1000; i++)
    g_string_append (deep, "/x");
  mid = g_strndup (deep->str, deep->len / 2);

  g_assert_cmpint (lock (fx, 1, deep->str, PR, FALSE), ==,
                   LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 2, mid, PR, FALSE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 3, "/x", EX, FALSE), ==, LATCH_LOCK_BUSY);
  g_assert_cmpint (lock (fx, 3, mid, EX, FALSE), ==, LATCH_LOCK_BUSY);
  g_assert_cmpint (lock (fx, 3, "/x/y", EX, FALSE), ==, LATCH_LOCK_GRANTED);
  g_string_append (deep, "/y");
  g_assert_cmpint (lock (fx, 4, deep->str, EX, FALSE), ==, LATCH_LOCK_BUSY);
  g_assert_true (latch_test_unlock (fx, 2, mid));
  g_assert_true (latch_test_unlock (fx, 3, "/x/y"));
  latch_test_drop (fx, 1);
  latch_test_assert_counts (fx, 0, 0);

  /* The locker is freed with a deep path held (teardown). */
  g_assert_cmpint (lock (fx, 1, deep->str, PR, FALSE), ==,
                   LATCH_LOCK_GRANTED);
}

/* ---- owners, unlock, drop ---- */

/* FLoM cleans up a dead client only on the node of the resource's
 * "current name" (its creator's path or the last unlocked one): B holding
 * /a/c dies while A holds /a/b, and /a/c stays locked (spec §5, "lock
 * leak").  Here the dead owner's holds go, whichever paths they are on. */
static void
test_no_leak_on_drop (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (lock (fx, 1, "/a/b", EX, TRUE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 2, "/a/c", EX, TRUE), ==, LATCH_LOCK_GRANTED);
  latch_test_drop (fx, 2);
  g_assert_cmpuint (fx->events->len, ==, 0);
  latch_test_assert_counts (fx, 1, 1);
  g_assert_cmpint (lock (fx, 3, "/a/c", EX, FALSE), ==, LATCH_LOCK_GRANTED);

  /* The creator dies: its path is free, the others stay held. */
  latch_test_drop (fx, 1);
  g_assert_cmpint (lock (fx, 4, "/a/b", EX, FALSE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 5, "/a/c", EX, FALSE), ==, LATCH_LOCK_BUSY);
  latch_test_assert_counts (fx, 1, 2);
  latch_test_drop (fx, 3);
  latch_test_drop (fx, 4);
  latch_test_assert_counts (fx, 0, 0);

  /* One owner on several paths and resources; a waiter on the ancestor
   * of them all gets it when the owner dies. */
  g_assert_cmpint (lock (fx, 1, "/a/b", PR, TRUE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 1, "/a/c/d", EX, TRUE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 1, "/b", EX, TRUE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 3, "/a/b/x", CR, TRUE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 2, "/a", PW, TRUE), ==, LATCH_LOCK_QUEUED);
  latch_test_assert_counts (fx, 2, 5);
  latch_test_drop (fx, 1);
  g_assert_cmpuint (fx->events->len, ==, 1);
  latch_test_assert_event (fx, 0, 2, LATCH_LOCK_GRANTED);
  latch_test_assert_counts (fx, 1, 2);
  latch_test_clear_events (fx);
  latch_test_drop (fx, 2);
  latch_test_drop (fx, 3);
  /* Every node pruned: the resource is idle and goes (lifespan 0). */
  latch_test_assert_counts (fx, 0, 0);
}

/* Unlock releases the owner's hold on exactly the path named (FLoM makes
 * the unlock name the resource's current name, which feeds the leak). */
static void
test_unlock_exact_path (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (lock (fx, 1, "/a/b", EX, TRUE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 1, "/a/c", EX, TRUE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 2, "/a/b", EX, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_false (latch_test_unlock (fx, 1, "/a"));
  g_assert_false (latch_test_unlock (fx, 1, "/a/b/c"));
  g_assert_false (latch_test_unlock (fx, 1, "/a/d"));
  g_assert_false (latch_test_unlock (fx, 1, "/a/b/"));
  g_assert_false (latch_test_unlock (fx, 2, "/a/b")); /* only queued */
  g_assert_false (latch_test_unlock (fx, 3, "/a/c")); /* holds nothing */
  g_assert_true (latch_test_unlock (fx, 1, "/a/c"));
  g_assert_false (latch_test_unlock (fx, 1, "/a/c"));
  g_assert_cmpuint (fx->events->len, ==, 0);
  latch_test_assert_counts (fx, 1, 2);

  /* Having "unlocked" /a/c, dropping 1 still releases /a/b. */
  latch_test_drop (fx, 1);
  g_assert_cmpuint (fx->events->len, ==, 1);
  latch_test_assert_event (fx, 0, 2, LATCH_LOCK_GRANTED);
  latch_test_assert_counts (fx, 1, 1);
}

/* The locker lets an owner ask again on a resource it holds; on a
 * related path it is handled like anybody else's request. */
static void
test_same_owner_twice (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (lock (fx, 1, "/a/b", PR, TRUE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 1, "/a", PR, TRUE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 1, "/a/b", PR, TRUE), ==, LATCH_LOCK_GRANTED);
  g_assert_true (latch_test_unlock (fx, 1, "/a/b"));
  g_assert_cmpint (lock (fx, 2, "/a/c", EX, FALSE), ==, LATCH_LOCK_BUSY);
  /* Its own PR on /a stands in the way of its EX below. */
  g_assert_cmpint (lock (fx, 1, "/a/c", EX, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_true (latch_test_unlock (fx, 1, "/a"));
  g_assert_cmpuint (fx->events->len, ==, 1);
  latch_test_assert_event (fx, 0, 1, LATCH_LOCK_GRANTED);
  latch_test_assert_counts (fx, 1, 2);
  g_assert_true (latch_test_unlock (fx, 1, "/a/b"));
  g_assert_false (latch_test_unlock (fx, 1, "/a/b"));
  g_assert_true (latch_test_unlock (fx, 1, "/a/c"));
  latch_test_assert_counts (fx, 0, 0);
}

/* ---- the queue ---- */

/* The locker keeps one strictly FIFO queue per resource, that is per
 * first segment, and a request is granted at once only when that queue is
 * empty.  So a request for a sibling path that fits all the holders still
 * waits behind an earlier queued request it need not care about now: here
 * 3's /a/c does not conflict with 1's /a/b, but it queues behind 2's /a,
 * with which it does conflict (letting it pass could starve 2).  Even a
 * request that would conflict with nobody, holder or queued, waits. */
static void
test_fifo_per_root (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  guint64 f1;
  guint64 f2;
  guint64 f3;
  guint64 f4;

  g_assert_cmpint (latch_test_lock_full (fx, 1, "/a/b", EX, TRUE, TRUE, 0, 0,
                                         &f1),
                   ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 2, "/a", EX, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (lock (fx, 3, "/a/c", EX, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (lock (fx, 4, "/a/c/d", PR, FALSE), ==, LATCH_LOCK_BUSY);
  g_assert_cmpint (lock (fx, 4, "/a/b", NL, FALSE), ==, LATCH_LOCK_BUSY);
  /* Another first segment has its own queue. */
  g_assert_cmpint (lock (fx, 5, "/b/c", EX, FALSE), ==, LATCH_LOCK_GRANTED);
  latch_test_assert_counts (fx, 2, 4);

  g_assert_true (latch_test_unlock (fx, 1, "/a/b"));
  g_assert_cmpuint (fx->events->len, ==, 1);
  f2 = latch_test_assert_event (fx, 0, 2, LATCH_LOCK_GRANTED);
  latch_test_clear_events (fx);
  g_assert_true (latch_test_unlock (fx, 2, "/a"));
  g_assert_cmpuint (fx->events->len, ==, 1);
  f3 = latch_test_assert_event (fx, 0, 3, LATCH_LOCK_GRANTED);
  latch_test_clear_events (fx);
  g_assert_cmpint (latch_test_lock_full (fx, 4, "/a/b", EX, FALSE, TRUE, 0, 0,
                                         &f4),
                   ==, LATCH_LOCK_GRANTED);
  g_assert_cmpuint (f1, <, f2);
  g_assert_cmpuint (f2, <, f3);
  g_assert_cmpuint (f3, <, f4);
}

/* One release may grant several queued requests on different paths, in
 * queue order, until the head does not fit. */
static void
test_fifo_batch (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  guint64 f[3];

  g_assert_cmpint (lock (fx, 1, "/a", EX, TRUE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 2, "/a/b", PR, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (lock (fx, 3, "/a/c", EX, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (lock (fx, 4, "/a/b/x", PR, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (lock (fx, 5, "/a/c", CR, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (lock (fx, 6, "/a/d", NL, TRUE), ==, LATCH_LOCK_QUEUED);
  latch_test_assert_counts (fx, 1, 6);

  g_assert_true (latch_test_unlock (fx, 1, "/a"));
  g_assert_cmpuint (fx->events->len, ==, 3);
  f[0] = latch_test_assert_event (fx, 0, 2, LATCH_LOCK_GRANTED);
  f[1] = latch_test_assert_event (fx, 1, 3, LATCH_LOCK_GRANTED);
  f[2] = latch_test_assert_event (fx, 2, 4, LATCH_LOCK_GRANTED);
  g_assert_cmpuint (f[0], <, f[1]);
  g_assert_cmpuint (f[1], <, f[2]);
  latch_test_clear_events (fx);

  /* 5's CR on /a/c waits for 3's EX there, and 6 behind it. */
  g_assert_true (latch_test_unlock (fx, 2, "/a/b"));
  g_assert_cmpuint (fx->events->len, ==, 0);
  latch_test_drop (fx, 3);
  g_assert_cmpuint (fx->events->len, ==, 2);
  latch_test_assert_event (fx, 0, 5, LATCH_LOCK_GRANTED);
  latch_test_assert_event (fx, 1, 6, LATCH_LOCK_GRANTED);
  latch_test_assert_counts (fx, 1, 3);
}

/* A queued request that goes away leaves the tree alone. */
static void
test_drop_queued (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (lock (fx, 1, "/a/b", PR, TRUE), ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock (fx, 2, "/a", EX, TRUE), ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (lock (fx, 3, "/a/b/c", CR, TRUE), ==, LATCH_LOCK_QUEUED);
  latch_test_drop (fx, 2);
  g_assert_cmpuint (fx->events->len, ==, 1);
  latch_test_assert_event (fx, 0, 3, LATCH_LOCK_GRANTED);
  latch_test_clear_events (fx);
  g_assert_cmpint (lock (fx, 2, "/a/b", EX, FALSE), ==, LATCH_LOCK_BUSY);
  g_assert_true (latch_test_unlock (fx, 1, "/a/b"));
  g_assert_cmpint (lock (fx, 2, "/a/b", EX, FALSE), ==, LATCH_LOCK_BUSY);
  g_assert_true (latch_test_unlock (fx, 3, "/a/b/c"));
  latch_test_assert_counts (fx, 0, 0);
}

/* ---- creation and lifespan: per first segment ---- */

/* Test "Use case 17": once /bar exists, a create=FALSE request for
 * /bar/foo is served. */
static void
test_create_root (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (latch_test_lock_full (fx, 1, "/bar/foo", EX, FALSE, FALSE,
                                         0, 0, NULL),
                   ==, LATCH_LOCK_CANT_WAIT);
  latch_test_assert_counts (fx, 0, 0);
  g_assert_cmpint (latch_test_lock_full (fx, 1, "/bar", EX, TRUE, TRUE, 1000,
                                         0, NULL),
                   ==, LATCH_LOCK_GRANTED);
  g_assert_true (latch_locker_unlock (fx->locker, LATCH_TEST_OWNER (1), "/bar",
                                      FALSE, MS (10), fx->events));
  latch_test_assert_counts (fx, 1, 0);
  g_assert_cmpint (latch_test_lock_full (fx, 2, "/bar/foo", EX, FALSE, FALSE,
                                         0, 20, NULL),
                   ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (latch_test_lock_full (fx, 3, "/bar/foo/x", EX, FALSE, FALSE,
                                         0, 20, NULL),
                   ==, LATCH_LOCK_BUSY);
  g_assert_cmpint (latch_test_lock_full (fx, 3, "/barn", EX, FALSE, FALSE, 0,
                                         20, NULL),
                   ==, LATCH_LOCK_CANT_WAIT);
  latch_test_assert_counts (fx, 1, 1);
}

/* Requests waiting for creation wait for the first segment, whatever
 * their paths; they are handed over in arrival order. */
static void
test_create_incubator (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (latch_test_lock_full (fx, 1, "/baz/a", PR, TRUE, FALSE, 0,
                                         0, NULL),
                   ==, LATCH_LOCK_WAIT_RESOURCE);
  g_assert_cmpint (latch_test_lock_full (fx, 2, "/baz/b/c", EX, TRUE, FALSE, 0,
                                         0, NULL),
                   ==, LATCH_LOCK_WAIT_RESOURCE);
  g_assert_cmpint (latch_test_lock_full (fx, 3, "/baz/d", EX, TRUE, FALSE, 0,
                                         0, NULL),
                   ==, LATCH_LOCK_WAIT_RESOURCE);
  g_assert_cmpint (latch_test_lock_full (fx, 4, "/other", EX, TRUE, FALSE, 0,
                                         0, NULL),
                   ==, LATCH_LOCK_WAIT_RESOURCE);
  latch_test_assert_counts (fx, 0, 4);

  g_assert_cmpint (lock (fx, 5, "/baz/b", EX, TRUE), ==, LATCH_LOCK_GRANTED);
  /* 1: a sibling, granted; 2: below the EX, queued; 3 behind 2. */
  g_assert_cmpuint (fx->events->len, ==, 3);
  latch_test_assert_event (fx, 0, 1, LATCH_LOCK_GRANTED);
  latch_test_assert_event (fx, 1, 2, LATCH_LOCK_QUEUED);
  latch_test_assert_event (fx, 2, 3, LATCH_LOCK_QUEUED);
  latch_test_assert_counts (fx, 1, 5);
  latch_test_clear_events (fx);

  g_assert_true (latch_test_unlock (fx, 5, "/baz/b"));
  g_assert_cmpuint (fx->events->len, ==, 2);
  latch_test_assert_event (fx, 0, 2, LATCH_LOCK_GRANTED);
  latch_test_assert_event (fx, 1, 3, LATCH_LOCK_GRANTED);
}

/* The idle lifespan is the creating request's, and counts from when the
 * last path of the resource is released. */
static void
test_lifespan_root (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (latch_test_lock_full (fx, 1, "/r/a/b", EX, TRUE, TRUE, 100,
                                         0, NULL),
                   ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (latch_test_lock_full (fx, 2, "/r/c", EX, TRUE, TRUE, 5, 0,
                                         NULL),
                   ==, LATCH_LOCK_GRANTED);
  g_assert_true (latch_locker_unlock (fx->locker, LATCH_TEST_OWNER (1),
                                      "/r/a/b", FALSE, MS (10), fx->events));
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (10), fx->events), ==,
                   -1);
  g_assert_true (latch_locker_unlock (fx->locker, LATCH_TEST_OWNER (2), "/r/c",
                                      FALSE, MS (20), fx->events));
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (20), fx->events), ==,
                   MS (120));
  latch_test_assert_counts (fx, 1, 0);

  g_assert_cmpint (latch_test_lock_full (fx, 3, "/r/z", EX, FALSE, FALSE, 0,
                                         50, NULL),
                   ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (120), fx->events), ==,
                   -1);
  latch_locker_drop_owner (fx->locker, LATCH_TEST_OWNER (3), MS (60),
                           fx->events);
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (159), fx->events), ==,
                   MS (160));
  latch_test_assert_counts (fx, 1, 0);
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (160), fx->events), ==,
                   -1);
  latch_test_assert_counts (fx, 0, 0);
  g_assert_cmpint (latch_test_lock_full (fx, 3, "/r/z", EX, FALSE, FALSE, 0,
                                         170, NULL),
                   ==, LATCH_LOCK_CANT_WAIT);
  g_assert_cmpuint (fx->events->len, ==, 0);
}

/* Freeing a locker with holds, queues and waiters leaks nothing. */
static void
test_free_busy (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  latch_test_lock_full (fx, 1, "/a/b/c", PR, TRUE, TRUE, 100, 0, NULL);
  latch_test_lock_full (fx, 2, "/a/b", PR, TRUE, TRUE, 0, 0, NULL);
  latch_test_lock_full (fx, 3, "/a", EX, TRUE, TRUE, 0, 0, NULL);
  latch_test_lock_full (fx, 4, "/a/d/e", EX, TRUE, TRUE, 0, 0, NULL);
  latch_test_lock_full (fx, 5, "/b/x", EX, TRUE, FALSE, 0, 0, NULL);
  latch_test_lock_full (fx, 6, "/c/x/y", EX, TRUE, TRUE, 100, 0, NULL);
  latch_test_lock_full (fx, 6, "/c/x/z", EX, TRUE, TRUE, 100, 0, NULL);
  latch_test_unlock (fx, 6, "/c/x/y");
  latch_test_assert_counts (fx, 2, 6);
}

/* ---- randomized test against a brute-force model ---- */

#define M_OWNERS 6
#define M_ROOTS 2 /* first segments */
#define M_SEGS 3  /* names for the segments below */
#define M_PATH 16

static const char *const m_roots[M_ROOTS] = { "a", "b" };
static const char *const m_segs[M_SEGS] = { "a", "b", "c" };

typedef struct
{
  int owner;
  int root;
  char path[M_PATH];
  int mode;
} MReq;

typedef struct
{
  int owner;
  LatchLockStatus status;
  int root;
} MEvent;

/* An independent model of the rules: the locker's (locker.h: FIFO per
 * resource, incubator, lifespan 0) and spec §5's, by brute force over all
 * holders instead of a tree. */
typedef struct
{
  GArray *holds;           /* MReq, in grant order, every resource */
  GArray *queue[M_ROOTS];  /* MReq, FIFO */
  GArray *incub[M_ROOTS];  /* MReq, waiting for creation */
  int pending[M_OWNERS];   /* root of the queued/waiting request, -1 */
  GArray *expected;        /* MEvent of the current operation */
} Model;

static guint n_status[5];  /* granted, queued, wait-resource, busy, cant-wait */
static guint n_late[2];    /* events: granted, queued */
static guint n_unrelated;  /* grants beside a holder in an incompatible mode */

static void
model_init (Model *m)
{
  m->holds = g_array_new (FALSE, FALSE, sizeof (MReq));
  for (int r = 0; r < M_ROOTS; r++)
    {
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
  g_array_unref (m->holds);
  for (int r = 0; r < M_ROOTS; r++)
    {
      g_array_unref (m->queue[r]);
      g_array_unref (m->incub[r]);
    }
  g_array_unref (m->expected);
}

/* Is one path the other or below it ("/a/b" and "/a/b/c", not "/a/bc")? */
static gboolean
paths_related (const char *p, const char *q)
{
  size_t lp = strlen (p);
  size_t lq = strlen (q);

  if (lp > lq)
    return paths_related (q, p);
  return strncmp (p, q, lp) == 0 && (q[lp] == '\0' || q[lp] == '/');
}

static gboolean
model_exists (const Model *m, int r)
{
  /* lifespan 0: a resource lives exactly while someone holds or queues. */
  if (m->queue[r]->len > 0)
    return TRUE;
  for (guint i = 0; i < m->holds->len; i++)
    if (g_array_index (m->holds, MReq, i).root == r)
      return TRUE;
  return FALSE;
}

static gboolean
model_fits (const Model *m, const MReq *req)
{
  for (guint i = 0; i < m->holds->len; i++)
    {
      const MReq *h = &g_array_index (m->holds, MReq, i);

      if (paths_related (h->path, req->path)
          && !latch_test_modes_compatible (h->mode, req->mode))
        return FALSE;
    }
  return TRUE;
}

static void
model_grant (Model *m, const MReq *req)
{
  for (guint i = 0; i < m->holds->len; i++)
    {
      const MReq *h = &g_array_index (m->holds, MReq, i);

      if (h->root == req->root && !latch_test_modes_compatible (h->mode, req->mode))
        n_unrelated++;
    }
  g_array_append_val (m->holds, *req);
  m->pending[req->owner] = -1;
}

static LatchLockStatus
model_admit (Model *m, const MReq *req, gboolean wait)
{
  if (m->queue[req->root]->len == 0 && model_fits (m, req))
    {
      model_grant (m, req);
      return LATCH_LOCK_GRANTED;
    }
  if (!wait)
    return LATCH_LOCK_BUSY;
  g_array_append_val (m->queue[req->root], *req);
  m->pending[req->owner] = req->root;
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

      if (!model_fits (m, &head))
        break;
      g_array_remove_index (m->queue[r], 0);
      model_grant (m, &head);
      model_expect (m, head.owner, LATCH_LOCK_GRANTED, r);
    }
}

static LatchLockStatus
model_request (Model *m, const MReq *req, gboolean wait, gboolean create)
{
  GArray *incub = m->incub[req->root];
  LatchLockStatus status;

  if (model_exists (m, req->root))
    return model_admit (m, req, wait);
  if (!create)
    {
      if (!wait)
        return LATCH_LOCK_CANT_WAIT;
      g_array_append_val (incub, *req);
      m->pending[req->owner] = req->root;
      return LATCH_LOCK_WAIT_RESOURCE;
    }
  status = model_admit (m, req, wait);
  for (guint i = 0; i < incub->len; i++)
    {
      const MReq *waiter = &g_array_index (incub, MReq, i);

      model_expect (m, waiter->owner, model_admit (m, waiter, TRUE),
                    req->root);
    }
  g_array_set_size (incub, 0);
  return status;
}

/* The owner's oldest hold on exactly that path. */
static gboolean
model_unlock (Model *m, int owner, const char *path)
{
  for (guint i = 0; i < m->holds->len; i++)
    {
      const MReq *h = &g_array_index (m->holds, MReq, i);

      if (h->owner == owner && strcmp (h->path, path) == 0)
        {
          int r = h->root;

          g_array_remove_index (m->holds, i);
          model_serve (m, r);
          return TRUE;
        }
    }
  return FALSE;
}

/* Removes owner's entries from reqs; TRUE if there were any. */
static gboolean
remove_owner (GArray *reqs, int owner, gboolean *touched)
{
  gboolean found = FALSE;

  for (guint i = reqs->len; i-- > 0;)
    {
      const MReq *req = &g_array_index (reqs, MReq, i);

      if (req->owner == owner)
        {
          if (touched != NULL)
            touched[req->root] = TRUE;
          g_array_remove_index (reqs, i);
          found = TRUE;
        }
    }
  return found;
}

static void
model_drop (Model *m, int owner)
{
  gboolean touched[M_ROOTS] = { FALSE };

  remove_owner (m->holds, owner, touched);
  for (int r = 0; r < M_ROOTS; r++)
    {
      remove_owner (m->incub[r], owner, NULL);
      remove_owner (m->queue[r], owner, touched);
    }
  m->pending[owner] = -1;
  for (int r = 0; r < M_ROOTS; r++)
    if (touched[r])
      model_serve (m, r);
}

/* The events of one operation: as many as the model expects, the same
 * status for each owner, and for each resource the grants in the same
 * (FIFO) order; fences always increasing. */
static void
compare_events (Model *m, GArray *events, guint64 *last_fence)
{
  int root_of[M_OWNERS];

  for (int o = 0; o < M_OWNERS; o++)
    root_of[o] = -1;
  g_assert_cmpuint (events->len, ==, m->expected->len);
  for (guint i = 0; i < events->len; i++)
    {
      const LatchLockEvent *ev = &g_array_index (events, LatchLockEvent, i);
      int owner = GPOINTER_TO_INT (ev->owner);
      gboolean found = FALSE;

      g_assert_cmpint (owner, >=, 0);
      g_assert_cmpint (owner, <, M_OWNERS);
      g_assert_null (ev->element);
      for (guint k = 0; k < m->expected->len; k++)
        {
          const MEvent *want = &g_array_index (m->expected, MEvent, k);

          if (want->owner == owner)
            {
              g_assert_false (found); /* one event per owner */
              g_assert_cmpint (ev->status, ==, want->status);
              root_of[owner] = want->root;
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
  for (int r = 0; r < M_ROOTS; r++)
    {
      guint k = 0;

      for (guint i = 0; i < events->len; i++)
        {
          const LatchLockEvent *ev
              = &g_array_index (events, LatchLockEvent, i);
          int owner = GPOINTER_TO_INT (ev->owner);

          if (root_of[owner] != r)
            continue;
          while (g_array_index (m->expected, MEvent, k).root != r)
            k++;
          g_assert_cmpint (g_array_index (m->expected, MEvent, k).owner, ==,
                           owner);
          k++;
        }
    }
}

/* The model's holds are what the locker granted (every status and event
 * was checked against it): no two incompatible holders on related paths,
 * and the counts agree. */
static void
model_check (const Model *m, LatchLocker *locker)
{
  guint n_active = m->holds->len;
  guint n_resources = 0;

  for (guint i = 0; i < m->holds->len; i++)
    for (guint j = i + 1; j < m->holds->len; j++)
      {
        const MReq *a = &g_array_index (m->holds, MReq, i);
        const MReq *b = &g_array_index (m->holds, MReq, j);

        if (paths_related (a->path, b->path))
          g_assert_true (latch_test_modes_compatible (a->mode, b->mode));
      }
  for (int r = 0; r < M_ROOTS; r++)
    {
      n_active += m->queue[r]->len + m->incub[r]->len;
      if (model_exists (m, r))
        n_resources++;
      /* The head of a queue never fits: it would have been served. */
      if (m->queue[r]->len > 0)
        g_assert_false (model_fits (m, &g_array_index (m->queue[r], MReq, 0)));
    }
  g_assert_cmpuint (latch_locker_n_active (locker), ==, n_active);
  g_assert_cmpuint (latch_locker_n_resources (locker), ==, n_resources);
}

static void
random_path (int root, char path[M_PATH])
{
  int depth = g_test_rand_int_range (1, 4);

  g_snprintf (path, M_PATH, "/%s", m_roots[root]);
  for (int d = 1; d < depth; d++)
    {
      char *end = path + strlen (path);

      g_snprintf (end, M_PATH - (end - path), "/%s",
                  m_segs[g_test_rand_int_range (0, M_SEGS)]);
    }
}

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
    default:
      g_assert_not_reached ();
    }
}

static void
run_model_once (int n_ops)
{
  g_autoptr (LatchLocker) locker = latch_locker_new (LATCH_TEST_FIRST_FENCE);
  g_autoptr (GArray) events = latch_lock_events_new ();
  guint64 last_fence = 0;
  Model m;

  model_init (&m);
  for (int op = 0; op < n_ops; op++)
    {
      int owner = g_test_rand_int_range (0, M_OWNERS);
      int what = g_test_rand_int_range (0, 100);

      g_array_set_size (m.expected, 0);
      if (what < 55 && m.pending[owner] < 0)
        {
          MReq req = {
            .owner = owner,
            .root = g_test_rand_int_range (0, M_ROOTS),
            .mode = g_test_rand_int_range (0, 6),
          };
          gboolean wait = g_test_rand_int_range (0, 4) != 0;
          gboolean create = g_test_rand_int_range (0, 6) != 0;
          LatchLockReq lreq = {
            .name = req.path,
            .mode = req.mode,
            .quantity = 1,
            .wait = wait,
            .create = create,
            .lifespan = 0,
          };
          LatchLockStatus want;
          LatchLockStatus got;
          guint64 fence = 0;
          char *element = NULL;

          random_path (req.root, req.path);
          want = model_request (&m, &req, wait, create);
          got = latch_locker_request (locker, LATCH_TEST_OWNER (owner), &lreq,
                                      op, &fence, &element, events);
          g_assert_cmpint (got, ==, want);
          g_assert_null (element);
          n_status[status_slot (got)]++;
          if (got == LATCH_LOCK_GRANTED)
            {
              g_assert_cmpuint (fence, >, last_fence);
              last_fence = fence;
            }
        }
      else if (what < 90)
        {
          char path[M_PATH];
          gboolean want;

          /* Mostly a path the owner holds, sometimes any. */
          random_path (g_test_rand_int_range (0, M_ROOTS), path);
          for (guint i = 0; i < m.holds->len; i++)
            {
              const MReq *h = &g_array_index (m.holds, MReq, i);

              if (h->owner == owner && g_test_rand_int_range (0, 3) != 0)
                {
                  g_strlcpy (path, h->path, sizeof path);
                  break;
                }
            }
          want = model_unlock (&m, owner, path);
          g_assert_cmpint (latch_locker_unlock (locker,
                                                LATCH_TEST_OWNER (owner), path,
                                                g_test_rand_bit (), op,
                                                events),
                           ==, want);
        }
      else
        {
          model_drop (&m, owner);
          latch_locker_drop_owner (locker, LATCH_TEST_OWNER (owner), op,
                                   events);
        }
      compare_events (&m, events, &last_fence);
      for (guint i = 0; i < events->len; i++)
        {
          const LatchLockEvent *ev
              = &g_array_index (events, LatchLockEvent, i);

          n_late[status_slot (ev->status)]++;
        }
      g_array_set_size (events, 0);
      model_check (&m, locker);
      /* Lifespan 0: nothing idle lingers. */
      g_assert_cmpint (latch_locker_tick (locker, op, events), ==, -1);
      g_assert_cmpuint (events->len, ==, 0);
    }

  for (int owner = 0; owner < M_OWNERS; owner++)
    {
      g_array_set_size (m.expected, 0);
      model_drop (&m, owner);
      latch_locker_drop_owner (locker, LATCH_TEST_OWNER (owner), n_ops,
                               events);
      compare_events (&m, events, &last_fence);
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
                  "cant-wait %u; late: granted %u, queued %u; "
                  "granted beside an incompatible unrelated holder %u",
                  n_status[0], n_status[1], n_status[2], n_status[3],
                  n_status[4], n_late[0], n_late[1], n_unrelated);
  for (int i = 0; i <= 4; i++)
    g_assert_cmpuint (n_status[i], >, 0);
  g_assert_cmpuint (n_late[0], >, 0);
  g_assert_cmpuint (n_late[1], >, 0);
  /* Siblings and cousins really were ignored, not just never tried. */
  g_assert_cmpuint (n_unrelated, >, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  LATCH_TEST_ADD ("/rsrc/hier/ancestor-blocks-descendant",
                  test_ancestor_blocks_descendant);
  LATCH_TEST_ADD ("/rsrc/hier/descendant-blocks-ancestor",
                  test_descendant_blocks_ancestor);
  LATCH_TEST_ADD ("/rsrc/hier/siblings-independent",
                  test_siblings_independent);
  g_test_add_func ("/rsrc/hier/matrix-chain", test_matrix_chain);
  LATCH_TEST_ADD ("/rsrc/hier/mode-chain", test_mode_chain);
  LATCH_TEST_ADD ("/rsrc/hier/roots-independent", test_roots_independent);
  LATCH_TEST_ADD ("/rsrc/hier/odd-segments", test_odd_segments);
  LATCH_TEST_ADD ("/rsrc/hier/deep-path", test_deep_path);
  LATCH_TEST_ADD ("/rsrc/hier/no-leak-on-drop", test_no_leak_on_drop);
  LATCH_TEST_ADD ("/rsrc/hier/unlock-exact-path", test_unlock_exact_path);
  LATCH_TEST_ADD ("/rsrc/hier/same-owner-twice", test_same_owner_twice);
  LATCH_TEST_ADD ("/rsrc/hier/fifo-per-root", test_fifo_per_root);
  LATCH_TEST_ADD ("/rsrc/hier/fifo-batch", test_fifo_batch);
  LATCH_TEST_ADD ("/rsrc/hier/drop-queued", test_drop_queued);
  LATCH_TEST_ADD ("/rsrc/hier/create-root", test_create_root);
  LATCH_TEST_ADD ("/rsrc/hier/create-incubator", test_create_incubator);
  LATCH_TEST_ADD ("/rsrc/hier/lifespan-root", test_lifespan_root);
  LATCH_TEST_ADD ("/rsrc/hier/free-busy", test_free_busy);
  g_test_add_func ("/rsrc/hier/model/random", test_model_random);

  return g_test_run ();
}
