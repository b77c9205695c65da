/* test-rsrc-sequence.c: sequence resources ("_s_X[N]", "_S_X[N]"),
 * through the locker and, for the counter's wrap, through the class. */
#include "config.h"

#include "locker/locker.h"
#include "locker/rsrc-sequence.h"
#include "locker/rsrc.h"

#include "locker-fixture.h"

#include <string.h>

/* The locker's clock is in microseconds; the tests think in ms. */
#define MS(ms) ((gint64) (ms) * 1000)

/* Idle lifespan (ms) of most resources here: long enough to keep the
 * counter between grants (a resource dies when idle for that long). */
#define KEEP 60000

/* Requests name for owner (EX, quantity 1, create) with the given idle
 * lifespan (ms) at now_ms.  When granted, *element_out gets the element
 * (which a sequence always has). */
static LatchLockStatus
lock_at (LatchTestFixture *fx, int owner, const char *name, gboolean wait,
         int lifespan, gint64 now_ms, char **element_out)
{
  LatchLockReq req = latch_test_req (name, LATCH_LOCK_MODE_EX, 1, wait, TRUE,
                                     lifespan);

  return latch_test_request (fx, owner, &req, MS (now_ms),
                             LATCH_TEST_CHECK_NONE, NULL, element_out);
}

/* Locks (lifespan KEEP) and expects a grant of value. */
static void
assert_lock_value (LatchTestFixture *fx, int owner, const char *name,
                   gint64 now_ms, const char *value)
{
  g_autofree char *element = NULL;

  g_assert_cmpint (lock_at (fx, owner, name, TRUE, KEEP, now_ms, &element),
                   ==,
                   LATCH_LOCK_GRANTED);
  g_assert_cmpstr (element, ==, value);
}

static void
unlock_at (LatchTestFixture *fx, int owner, const char *name,
           gboolean rollback, gint64 now_ms)
{
  g_assert_true (latch_test_unlock_full (fx, owner, name, rollback,
                                         MS (now_ms)));
}

/* Asserts that the only event is a grant of value to owner. */
static void
assert_granted_event (LatchTestFixture *fx, int owner, const char *value)
{
  g_autofree char *element = latch_test_take_granted_event (fx, owner);

  g_assert_cmpstr (element, ==, value);
}

/* ---- FLoM's "Use case 18 (3/6)" ---- */

/* flom -i 1000 -r NAME -- CMD, once per command, 100 ms apart: each run
 * locks (getting a value), runs CMD, and unlocks with rollback = CMD
 * failed; "echo" prints the value it got.  Returns what the echos print. */
static char *
run_use_case_18 (LatchTestFixture *fx, const char *name)
{
  static const char *const commands[] = {
    "true", "true", "true", "echo", "true", "true", "echo",
    "false", "echo", "false", "echo", "true", "echo",
  };
  GString *printed = g_string_new (NULL);
  gint64 now_ms = 0;

  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      g_autofree char *element = NULL;
      int owner = (int) i + 1; /* a new flom process each time */

      now_ms += 100;
      g_assert_cmpint (lock_at (fx, owner, name, TRUE, 1000, now_ms,
                                &element), ==, LATCH_LOCK_GRANTED);
      if (strcmp (commands[i], "echo") == 0)
        g_string_append_printf (printed, "%s%s", printed->len > 0 ? " " : "",
                                element);
      now_ms += 10;
      unlock_at (fx, owner, name, strcmp (commands[i], "false") == 0,
                 now_ms);
      g_assert_cmpuint (fx->events->len, ==, 0);
      /* Kept by its idle lifespan between the commands. */
      g_assert_cmpint (latch_locker_tick (fx->locker, MS (now_ms + 90),
                                          fx->events), ==,
                       MS (now_ms + 1000));
      g_assert_cmpuint (latch_locker_n_resources (fx->locker), ==, 1);
    }
  return g_string_free (printed, FALSE);
}

static void
test_use_case_18_transactional (LatchTestFixture *fx,
                                gconstpointer data G_GNUC_UNUSED)
{
  g_autofree char *printed = run_use_case_18 (fx, "_S_a[1]");

  g_assert_cmpstr (printed, ==, "4 7 8 9 11");
}

static void
test_use_case_18_non_transactional (LatchTestFixture *fx,
                                    gconstpointer data G_GNUC_UNUSED)
{
  g_autofree char *printed = run_use_case_18 (fx, "_s_a[1]");

  g_assert_cmpstr (printed, ==, "4 7 9 11 13");
}

/* The counter and the reuse queue die with the resource: once its idle
 * lifespan is over, the same name starts again at 1. */
static void
test_state_dies_with_resource (LatchTestFixture *fx,
                               gconstpointer data G_GNUC_UNUSED)
{
  g_autofree char *element = NULL;

  g_assert_cmpint (lock_at (fx, 1, "_S_d[1]", TRUE, 1000, 0, NULL), ==,
                   LATCH_LOCK_GRANTED);
  unlock_at (fx, 1, "_S_d[1]", FALSE, 0);
  g_assert_cmpint (lock_at (fx, 1, "_S_d[1]", TRUE, 1000, 0, NULL), ==,
                   LATCH_LOCK_GRANTED);
  unlock_at (fx, 1, "_S_d[1]", TRUE, 10); /* 2 waits for reuse */
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (1009), fx->events), ==,
                   MS (1010));
  g_assert_cmpuint (latch_locker_n_resources (fx->locker), ==, 1);
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (1010), fx->events), ==,
                   -1);
  g_assert_cmpuint (latch_locker_n_resources (fx->locker), ==, 0);

  g_assert_cmpint (lock_at (fx, 2, "_S_d[1]", TRUE, 0, 2000, &element), ==,
                   LATCH_LOCK_GRANTED);
  g_assert_cmpstr (element, ==, "1");
}

/* "_s_x[1]" and "_S_x[1]" are two resources with two counters. */
/* With the daemon's minimum idle lifespan (2 s here), commands one after
 * the other with lifespan 0 share the counter, as FLoM's do (it keeps an
 * idle resource about 1-2 s): 1 2 3; once the resource has been idle for
 * the minimum it is gone and a new one starts at 1 again. */
static void
test_idle_min_keeps_counter (LatchTestFixture *fx,
                             gconstpointer data G_GNUC_UNUSED)
{
  const char *name = "_s_seq[1]";
  gint64 now_ms = 0;

  for (int i = 1; i <= 3; i++)
    {
      g_autofree char *element = NULL;
      g_autofree char *want = g_strdup_printf ("%d", i);

      g_assert_cmpint (lock_at (fx, i, name, FALSE, 0, now_ms, &element), ==,
                       LATCH_LOCK_GRANTED);
      g_assert_cmpstr (element, ==, want);
      unlock_at (fx, i, name, FALSE, now_ms + 10);
      /* Just before the end of the minimum: still there. */
      now_ms += 10 + 1999;
      latch_locker_tick (fx->locker, MS (now_ms), fx->events);
      g_assert_cmpuint (latch_locker_n_resources (fx->locker), ==, 1);
    }
  g_assert_cmpint (latch_locker_tick (fx->locker, MS (now_ms), fx->events),
                   ==, MS (now_ms + 1));
  latch_locker_tick (fx->locker, MS (now_ms + 1), fx->events);
  g_assert_cmpuint (latch_locker_n_resources (fx->locker), ==, 0);
  {
    g_autofree char *element = NULL;

    g_assert_cmpint (lock_at (fx, 9, name, FALSE, 0, now_ms + 1, &element),
                     ==, LATCH_LOCK_GRANTED);
    g_assert_cmpstr (element, ==, "1");
  }
}

static void
test_kinds_are_distinct (LatchTestFixture *fx,
                         gconstpointer data G_GNUC_UNUSED)
{
  assert_lock_value (fx, 1, "_s_x[1]", 0, "1");
  assert_lock_value (fx, 2, "_S_x[1]", 0, "1");
  g_assert_cmpuint (latch_locker_n_resources (fx->locker), ==, 2);
  unlock_at (fx, 1, "_s_x[1]", FALSE, 0);
  unlock_at (fx, 2, "_S_x[1]", FALSE, 0);
}

/* ---- the counter's wrap, through the class ---- */

typedef struct
{
  const char *name;
  gpointer state;
} ClassRsrc;

static void
class_create (ClassRsrc *cr, const char *name)
{
  LatchLockReq req = latch_test_req (name, LATCH_LOCK_MODE_EX, 1, TRUE, TRUE,
                                     0);
  g_autoptr (GError) error = NULL;

  cr->name = name;
  cr->state = latch_rsrc_sequence_class.create (name, &req, 0, &error);
  g_assert_no_error (error);
  g_assert_nonnull (cr->state);
}

/* One grant and release through the class; returns the value. */
static guint64
class_cycle (ClassRsrc *cr, gboolean rollback, const char *expected)
{
  LatchRsrcHold hold = { 0 };
  g_autofree char *element = NULL;

  hold.req.name = cr->name;
  hold.req.mode = LATCH_LOCK_MODE_EX;
  hold.req.quantity = 1;
  g_assert_true (latch_rsrc_sequence_class.is_possible (cr->state, &hold.req));
  g_assert_true (latch_rsrc_sequence_class.is_grantable (cr->state, &hold.req,
                                                         0));
  element = latch_rsrc_sequence_class.grant (cr->state, &hold, 0);
  g_assert_cmpstr (element, ==, expected);
  latch_rsrc_sequence_class.release (cr->state, &hold, rollback);
  return hold.value;
}

static void
test_wrap (void)
{
  const char *const names[] = { "_s_w[1]", "_S_w[1]" };

  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      ClassRsrc cr;

      class_create (&cr, names[i]);
      latch_rsrc_sequence_set_next (cr.state, 4294967294u);
      g_assert_cmpuint (class_cycle (&cr, FALSE, "4294967294"), ==,
                        4294967294u);
      g_assert_cmpuint (class_cycle (&cr, FALSE, "4294967295"), ==,
                        4294967295u);
      g_assert_cmpuint (class_cycle (&cr, FALSE, "1"), ==, 1);
      g_assert_cmpuint (class_cycle (&cr, FALSE, "2"), ==, 2);
      latch_rsrc_sequence_class.free (cr.state);
    }
}

/* A rolled-back value across the wrap is reused (transactional) or lost
 * (not); and 0 is never handed out, even when asked for. */
static void
test_wrap_rollback (void)
{
  ClassRsrc tr;
  ClassRsrc nt;

  class_create (&tr, "_S_w[1]");
  latch_rsrc_sequence_set_next (tr.state, 4294967295u);
  class_cycle (&tr, TRUE, "4294967295");
  class_cycle (&tr, FALSE, "4294967295");
  class_cycle (&tr, FALSE, "1");
  latch_rsrc_sequence_set_next (tr.state, 0);
  class_cycle (&tr, FALSE, "1");
  latch_rsrc_sequence_class.free (tr.state);

  class_create (&nt, "_s_w[1]");
  latch_rsrc_sequence_set_next (nt.state, 4294967295u);
  class_cycle (&nt, TRUE, "4294967295");
  class_cycle (&nt, FALSE, "1");
  latch_rsrc_sequence_class.free (nt.state);
}

/* ---- reuse ---- */

/* Several rolled-back values come back oldest first, before the counter
 * moves on. */
static void
test_reuse_fifo (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  const char *name = "_S_r[3]";

  assert_lock_value (fx, 1, name, 0, "1");
  assert_lock_value (fx, 2, name, 0, "2");
  assert_lock_value (fx, 3, name, 0, "3");
  unlock_at (fx, 2, name, TRUE, 1);
  unlock_at (fx, 3, name, TRUE, 2);
  unlock_at (fx, 1, name, TRUE, 3);
  assert_lock_value (fx, 4, name, 4, "2");
  assert_lock_value (fx, 5, name, 4, "3");
  unlock_at (fx, 4, name, TRUE, 5); /* 2 again, behind 1 */
  assert_lock_value (fx, 6, name, 6, "1");
  assert_lock_value (fx, 7, name, 6, "2");
  unlock_at (fx, 5, name, FALSE, 7); /* 3 consumed */
  assert_lock_value (fx, 8, name, 8, "4");
  g_assert_cmpuint (fx->events->len, ==, 0);
}

/* A holder that goes away without unlocking rolls back: on a
 * transactional sequence its value goes to the next grant, here the
 * request queued behind it. */
static void
test_drop_owner_transactional (LatchTestFixture *fx,
                               gconstpointer data G_GNUC_UNUSED)
{
  const char *name = "_S_q[1]";

  assert_lock_value (fx, 1, name, 0, "1");
  unlock_at (fx, 1, name, FALSE, 1);
  assert_lock_value (fx, 2, name, 2, "2");
  g_assert_cmpint (lock_at (fx, 3, name, TRUE, 0, 3, NULL), ==,
                   LATCH_LOCK_QUEUED);
  latch_locker_drop_owner (fx->locker, LATCH_TEST_OWNER (2), MS (4),
                           fx->events);
  assert_granted_event (fx, 3, "2");
  unlock_at (fx, 3, name, FALSE, 5);
  assert_lock_value (fx, 4, name, 6, "3");
}

static void
test_drop_owner_non_transactional (LatchTestFixture *fx,
                                   gconstpointer data G_GNUC_UNUSED)
{
  const char *name = "_s_q[1]";

  assert_lock_value (fx, 1, name, 0, "1");
  g_assert_cmpint (lock_at (fx, 2, name, TRUE, 0, 1, NULL), ==,
                   LATCH_LOCK_QUEUED);
  latch_locker_drop_owner (fx->locker, LATCH_TEST_OWNER (1), MS (2),
                           fx->events);
  assert_granted_event (fx, 2, "2");
}

/* Non-transactional: whatever happens, every grant gets a new value. */
static void
test_non_transactional_never_reused (LatchTestFixture *fx,
                                     gconstpointer data G_GNUC_UNUSED)
{
  const char *name = "_s_n[2]";
  guint64 expected = 1;

  for (int round = 0; round < 50; round++)
    {
      g_autofree char *v1 = NULL;
      g_autofree char *v2 = NULL;

      g_assert_cmpint (lock_at (fx, 1, name, TRUE, KEEP, round, &v1), ==,
                       LATCH_LOCK_GRANTED);
      g_assert_cmpint (lock_at (fx, 2, name, TRUE, KEEP, round, &v2), ==,
                       LATCH_LOCK_GRANTED);
      g_assert_cmpuint (g_ascii_strtoull (v1, NULL, 10), ==, expected);
      g_assert_cmpuint (g_ascii_strtoull (v2, NULL, 10), ==, expected + 1);
      expected += 2;
      unlock_at (fx, 1, name, round % 2 == 0, round);
      if (round % 3 == 0)
        latch_locker_drop_owner (fx->locker, LATCH_TEST_OWNER (2), MS (round),
                                 fx->events);
      else
        unlock_at (fx, 2, name, round % 3 == 1, round);
    }
  g_assert_cmpuint (fx->events->len, ==, 0);
}

/* ---- capacity ---- */

static void
test_capacity (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  const char *const names[] = { "_s_c[3]", "_S_c[3]" };

  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      const char *name = names[i];
      gint64 next;

      assert_lock_value (fx, 1, name, 0, "1");
      assert_lock_value (fx, 2, name, 0, "2");
      assert_lock_value (fx, 3, name, 0, "3");
      g_assert_cmpint (lock_at (fx, 5, name, FALSE, 0, 0, NULL), ==,
                       LATCH_LOCK_BUSY);
      g_assert_cmpint (lock_at (fx, 4, name, TRUE, 0, 0, NULL), ==,
                       LATCH_LOCK_QUEUED);
      g_assert_cmpuint (latch_locker_n_active (fx->locker), ==, 4);
      /* Time alone changes nothing (the tick's next time is at most the
       * expiry of the resource of the previous round). */
      next = latch_locker_tick (fx->locker, MS (1000), fx->events);
      g_assert_true (next == -1 || next > MS (1000));
      g_assert_cmpuint (fx->events->len, ==, 0);

      unlock_at (fx, 2, name, FALSE, 1);
      assert_granted_event (fx, 4, "4");
      unlock_at (fx, 1, name, FALSE, 2);
      unlock_at (fx, 3, name, FALSE, 2);
      unlock_at (fx, 4, name, FALSE, 2);
      g_assert_cmpuint (latch_locker_n_active (fx->locker), ==, 0);
    }
}

static void
test_capacity_zero (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  const char *const names[] = { "_s_z[0]", "_S_z[0]", "_s_z[000]" };

  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_assert_cmpint (lock_at (fx, 1, names[i], TRUE, 0, 0, NULL), ==,
                       LATCH_LOCK_IMPOSSIBLE);
      g_assert_cmpint (lock_at (fx, 1, names[i], FALSE, 0, 0, NULL), ==,
                       LATCH_LOCK_IMPOSSIBLE);
    }
  g_assert_cmpuint (latch_locker_n_active (fx->locker), ==, 0);
  g_assert_cmpuint (latch_locker_n_resources (fx->locker), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  LATCH_TEST_ADD ("/rsrc/sequence/use-case-18-transactional",
                  test_use_case_18_transactional);
  LATCH_TEST_ADD ("/rsrc/sequence/use-case-18-non-transactional",
                  test_use_case_18_non_transactional);
  LATCH_TEST_ADD ("/rsrc/sequence/state-dies-with-resource",
                  test_state_dies_with_resource);
  LATCH_TEST_ADD_IDLE_MIN ("/rsrc/sequence/idle-min-keeps-counter",
                           test_idle_min_keeps_counter, 2000);
  LATCH_TEST_ADD ("/rsrc/sequence/kinds-are-distinct",
                  test_kinds_are_distinct);
  g_test_add_func ("/rsrc/sequence/wrap", test_wrap);
  g_test_add_func ("/rsrc/sequence/wrap-rollback", test_wrap_rollback);
  LATCH_TEST_ADD ("/rsrc/sequence/reuse-fifo", test_reuse_fifo);
  LATCH_TEST_ADD ("/rsrc/sequence/drop-owner/transactional",
                  test_drop_owner_transactional);
  LATCH_TEST_ADD ("/rsrc/sequence/drop-owner/non-transactional",
                  test_drop_owner_non_transactional);
  LATCH_TEST_ADD ("/rsrc/sequence/non-transactional-never-reused",
                  test_non_transactional_never_reused);
  LATCH_TEST_ADD ("/rsrc/sequence/capacity", test_capacity);
  LATCH_TEST_ADD ("/rsrc/sequence/capacity-zero", test_capacity_zero);

  return g_test_run ();
}
