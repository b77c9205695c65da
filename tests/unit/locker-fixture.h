/* locker-fixture.h: a locker and its event array for the unit tests of the
 * locker and of each resource type, and the helpers that drive it.
 *
 * Owners are small ints (LATCH_TEST_OWNER turns one into the locker's
 * opaque pointer).  What the request helpers check about an answer beyond
 * its status depends on the resource type: see LatchTestCheck. */
#ifndef LATCH_TESTS_UNIT_LOCKER_FIXTURE_H
#define LATCH_TESTS_UNIT_LOCKER_FIXTURE_H

#include <glib.h>

#include "locker/locker.h"

G_BEGIN_DECLS

#define LATCH_TEST_OWNER(n) GINT_TO_POINTER (n)
#define LATCH_TEST_FIRST_FENCE 1000

typedef struct
{
  LatchLocker *locker;
  GArray *events;      /* LatchLockEvent */
  guint64 last_fence;  /* see latch_test_check_fence */
} LatchTestFixture;

/* What latch_test_request checks about the locker's answer besides its
 * status (which the caller compares).  A grant's fence is always checked
 * to be at least LATCH_TEST_FIRST_FENCE. */
typedef enum
{
  LATCH_TEST_CHECK_NONE = 0,
  /* The type has no elements: the element is NULL whatever the status.
   * Without this flag a grant carries an element and nothing else does. */
  LATCH_TEST_CHECK_NO_ELEMENT = 1 << 0,
  /* An answer other than a grant leaves the fence unwritten (0). */
  LATCH_TEST_CHECK_FENCE_UNWRITTEN = 1 << 1,
  /* A grant's fence passes latch_test_check_fence. */
  LATCH_TEST_CHECK_FENCE_RISES = 1 << 2,
} LatchTestCheck;

/* g_test_add() setup and teardown; data is the locker's
 * idle_lifespan_min in ms (GINT_TO_POINTER; NULL: 0). */
void latch_test_fixture_setup (LatchTestFixture *fx, gconstpointer data);
void latch_test_fixture_teardown (LatchTestFixture *fx, gconstpointer data);

/* Adds func (LatchTestFixture *fx, gconstpointer data) at path. */
#define LATCH_TEST_ADD(path, func) \
  g_test_add ((path), LatchTestFixture, NULL, latch_test_fixture_setup, \
              (func), latch_test_fixture_teardown)

/* The same with a locker that keeps idle resources min_ms at least. */
#define LATCH_TEST_ADD_IDLE_MIN(path, func, min_ms) \
  g_test_add ((path), LatchTestFixture, GINT_TO_POINTER (min_ms), \
              latch_test_fixture_setup, (func), latch_test_fixture_teardown)

/* Asserts that fence is at least LATCH_TEST_FIRST_FENCE and above every
 * fence checked before in this fixture. */
void latch_test_check_fence (LatchTestFixture *fx, guint64 fence);

LatchLockReq latch_test_req (const char *name, LatchLockMode mode,
                             int quantity, gboolean wait, gboolean create,
                             int lifespan);

/* Requests req for owner at now_us and asserts what checks asks for.
 * *fence_out (if not NULL) gets the fence, 0 when none was written;
 * *element_out (if not NULL) gets the element (transfer full), or NULL. */
LatchLockStatus latch_test_request (LatchTestFixture *fx, int owner,
                                    const LatchLockReq *req, gint64 now_us,
                                    LatchTestCheck checks, guint64 *fence_out,
                                    char **element_out);

/* For the types without elements that use modes (simple, hierarchical):
 * requests one unit of name at now_ms, checking NO_ELEMENT and
 * FENCE_UNWRITTEN. */
LatchLockStatus latch_test_lock_full (LatchTestFixture *fx, int owner,
                                      const char *name, LatchLockMode mode,
                                      gboolean wait, gboolean create,
                                      int lifespan, gint64 now_ms,
                                      guint64 *fence_out);

/* Releases owner's hold on name (rollback FALSE, at time 0). */
gboolean latch_test_unlock (LatchTestFixture *fx, int owner,
                            const char *name);
gboolean latch_test_unlock_full (LatchTestFixture *fx, int owner,
                                 const char *name, gboolean rollback,
                                 gint64 now_us);

/* Drops owner at time 0. */
void latch_test_drop (LatchTestFixture *fx, int owner);

void latch_test_clear_events (LatchTestFixture *fx);

/* Asserts that event i is status for owner, without an element (and
 * without a fence unless GRANTED); returns its fence. */
guint64 latch_test_assert_event (LatchTestFixture *fx, guint i, int owner,
                                 LatchLockStatus status);

/* Asserts that event i grants element (NULL: none) to owner, with a fence
 * that passes latch_test_check_fence. */
void latch_test_assert_granted_event (LatchTestFixture *fx, guint i,
                                      int owner, const char *element);

/* Asserts that the only event is a grant to owner, with a fence of at
 * least LATCH_TEST_FIRST_FENCE, and clears the events.  Returns its
 * element (transfer full). */
char *latch_test_take_granted_event (LatchTestFixture *fx, int owner);

void latch_test_assert_counts (LatchTestFixture *fx, guint n_resources,
                               guint n_active);

/* The VMS compatibility matrix of spec/resources.md §3, written out here
 * again so that the tests trust neither rsrc-simple.c nor rsrc-hier.c:
 * may a holder in mode held and one in mode requested coexist? */
gboolean latch_test_modes_compatible (int held, int requested);

G_END_DECLS

#endif
