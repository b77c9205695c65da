/* locker-fixture.c: the locker fixture shared by the locker's unit tests. */
#include "config.h"

#include "locker-fixture.h"

void
latch_test_fixture_setup (LatchTestFixture *fx, gconstpointer data)
{
  const LatchLockerConfig config = {
    .first_fence = LATCH_TEST_FIRST_FENCE,
    .idle_lifespan_min = GPOINTER_TO_INT (data),
  };

  fx->locker = latch_locker_new_full (&config);
  fx->events = latch_lock_events_new ();
  fx->last_fence = 0;
}

void
latch_test_fixture_teardown (LatchTestFixture *fx,
                             gconstpointer data G_GNUC_UNUSED)
{
  g_clear_pointer (&fx->locker, latch_locker_free);
  g_clear_pointer (&fx->events, g_array_unref);
}

void
latch_test_check_fence (LatchTestFixture *fx, guint64 fence)
{
  g_assert_cmpuint (fence, >=, LATCH_TEST_FIRST_FENCE);
  g_assert_cmpuint (fence, >, fx->last_fence);
  fx->last_fence = fence;
}

LatchLockReq
latch_test_req (const char *name, LatchLockMode mode, int quantity,
                gboolean wait, gboolean create, int lifespan)
{
  LatchLockReq req = {
    .name = name,
    .mode = mode,
    .quantity = quantity,
    .wait = wait,
    .create = create,
    .lifespan = lifespan,
  };

  return req;
}

LatchLockStatus
latch_test_request (LatchTestFixture *fx, int owner, const LatchLockReq *req,
                    gint64 now_us, LatchTestCheck checks, guint64 *fence_out,
                    char **element_out)
{
  char *element = NULL;
  guint64 fence = 0;
  LatchLockStatus status;

  status = latch_locker_request (fx->locker, LATCH_TEST_OWNER (owner), req,
                                 now_us, &fence, &element, fx->events);
  if (status == LATCH_LOCK_GRANTED
      && (checks & LATCH_TEST_CHECK_NO_ELEMENT) == 0)
    g_assert_nonnull (element);
  else
    g_assert_null (element);

  if (status == LATCH_LOCK_GRANTED)
    {
      if ((checks & LATCH_TEST_CHECK_FENCE_RISES) != 0)
        latch_test_check_fence (fx, fence);
      else
        g_assert_cmpuint (fence, >=, LATCH_TEST_FIRST_FENCE);
    }
  else if ((checks & LATCH_TEST_CHECK_FENCE_UNWRITTEN) != 0)
    g_assert_cmpuint (fence, ==, 0);  /* not written */

  if (fence_out != NULL)
    *fence_out = fence;
  if (element_out != NULL)
    *element_out = element;
  else
    g_free (element);
  return status;
}

LatchLockStatus
latch_test_lock_full (LatchTestFixture *fx, int owner, const char *name,
                      LatchLockMode mode, gboolean wait, gboolean create,
                      int lifespan, gint64 now_ms, guint64 *fence_out)
{
  LatchLockReq req = latch_test_req (name, mode, 1, wait, create, lifespan);

  return latch_test_request (fx, owner, &req,
                             now_ms * G_TIME_SPAN_MILLISECOND,
                             LATCH_TEST_CHECK_NO_ELEMENT
                             | LATCH_TEST_CHECK_FENCE_UNWRITTEN,
                             fence_out, NULL);
}

gboolean
latch_test_unlock (LatchTestFixture *fx, int owner, const char *name)
{
  return latch_test_unlock_full (fx, owner, name, FALSE, 0);
}

gboolean
latch_test_unlock_full (LatchTestFixture *fx, int owner, const char *name,
                        gboolean rollback, gint64 now_us)
{
  return latch_locker_unlock (fx->locker, LATCH_TEST_OWNER (owner), name,
                              rollback, now_us, fx->events);
}

void
latch_test_drop (LatchTestFixture *fx, int owner)
{
  latch_locker_drop_owner (fx->locker, LATCH_TEST_OWNER (owner), 0,
                           fx->events);
}

void
latch_test_clear_events (LatchTestFixture *fx)
{
  if (fx->events->len > 0)
    g_array_remove_range (fx->events, 0, fx->events->len);
}

/* Asserts that event i is there and is status for owner. */
static LatchLockEvent *
event_for (LatchTestFixture *fx, guint i, int owner, LatchLockStatus status)
{
  LatchLockEvent *ev;

  g_assert_cmpuint (i, <, fx->events->len);
  ev = &g_array_index (fx->events, LatchLockEvent, i);
  g_assert_true (ev->owner == LATCH_TEST_OWNER (owner));
  g_assert_cmpint (ev->status, ==, status);
  return ev;
}

guint64
latch_test_assert_event (LatchTestFixture *fx, guint i, int owner,
                         LatchLockStatus status)
{
  const LatchLockEvent *ev = event_for (fx, i, owner, status);

  g_assert_null (ev->element);
  if (status != LATCH_LOCK_GRANTED)
    g_assert_cmpuint (ev->fence, ==, 0);
  return ev->fence;
}

void
latch_test_assert_granted_event (LatchTestFixture *fx, guint i, int owner,
                                 const char *element)
{
  const LatchLockEvent *ev = event_for (fx, i, owner, LATCH_LOCK_GRANTED);

  g_assert_cmpstr (ev->element, ==, element);
  latch_test_check_fence (fx, ev->fence);
}

char *
latch_test_take_granted_event (LatchTestFixture *fx, int owner)
{
  LatchLockEvent *ev;
  char *element;

  g_assert_cmpuint (fx->events->len, ==, 1);
  ev = event_for (fx, 0, owner, LATCH_LOCK_GRANTED);
  g_assert_cmpuint (ev->fence, >=, LATCH_TEST_FIRST_FENCE);
  element = g_steal_pointer (&ev->element);
  latch_test_clear_events (fx);
  return element;
}

void
latch_test_assert_counts (LatchTestFixture *fx, guint n_resources,
                          guint n_active)
{
  g_assert_cmpuint (latch_locker_n_resources (fx->locker), ==, n_resources);
  g_assert_cmpuint (latch_locker_n_active (fx->locker), ==, n_active);
}

gboolean
latch_test_modes_compatible (int held, int requested)
{
  /* compat[held][requested]; columns NL CR CW PR PW EX */
  static const char *const compat[6] = {
    "YYYYYY", /* NL */
    "YYYYY-", /* CR */
    "YYY---", /* CW */
    "YY-Y--", /* PR */
    "YY----", /* PW */
    "Y-----", /* EX */
  };

  return compat[held][requested] == 'Y';
}
