/* test-table.c: the lock-table seam (table/lock-table.h).
 *
 * /table/memory/...  the memory backend (the pure locker behind the seam)
 *   in this thread's GMainLoop: every answer arrives by notification
 *   (the first one from inside the request), queue grants arrive when a
 *   release, a cancel or a dropped owner lets them, idle expiry happens by
 *   the backend's own timer, a snapshot shows holders and waiters, and the
 *   guarantees hold: nothing for a dropped owner, a withdrawn request, or
 *   after shutdown, and a callback may drop owners.
 * /table/fake/...  a small fake backend (no real remote backend exists
 *   yet) that answers later, or loses a lock: the generic layer's
 *   filtering of late answers and losses.
 * /daemon/session/...  the session side over a real socketpair: a client
 *   sends a lock request as bytes, the fake backend answers it late (the
 *   client reads the grant), then loses it: the daemon closes that
 *   connection (the client reads EOF) and drops the owner.
 * Waits run the main loop until a condition holds, bounded; nothing
 * sleeps. */

#include "config.h"

#include "table/lock-table.h"

#include "daemon/daemon-private.h"
#include "proto/framer.h"
#include "proto/msg.h"
#include "table/table-backend.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 3000

/* ---- what the callbacks saw ---- */

typedef struct
{
  guint64 owner_id;
  gboolean first;
  LatchLockStatus status;
  guint64 fence;
  char *element;
} Seen;

typedef struct
{
  GArray *answers;      /* Seen */
  GPtrArray *lost;      /* "<owner id>:<name>" */
  guint n_changed;
  /* When set: the answer callback drops this owner once it has seen an
   * answer for it (a session closing its connection on an answer). */
  LatchTableOwner *drop_on_answer;
  LatchTable *table;
} Recorder;

static void
seen_clear (gpointer data)
{
  g_free (((Seen *)data)->element);
}

static void
answer_cb (LatchTable *table, LatchTableOwner *owner, gboolean first,
           LatchTableAnswer *answer, gpointer user_data)
{
  Recorder *r = user_data;
  Seen seen = { owner->id, first, answer->status, answer->fence,
                g_strdup (answer->element) };

  g_array_append_val (r->answers, seen);
  if (r->drop_on_answer == owner)
    {
      r->drop_on_answer = NULL;
      latch_table_drop_owner (table, owner);
    }
}

static void
lost_cb (LatchTable *table G_GNUC_UNUSED, LatchTableOwner *owner, const char *name,
         const GError *reason G_GNUC_UNUSED, gpointer user_data)
{
  Recorder *r = user_data;

  g_ptr_array_add (r->lost, g_strdup_printf ("%" G_GUINT64_FORMAT ":%s", owner->id, name));
}

static void
changed_cb (LatchTable *table G_GNUC_UNUSED, gpointer user_data)
{
  ((Recorder *)user_data)->n_changed++;
}

static const LatchTableCallbacks recorder_callbacks = { answer_cb, lost_cb, changed_cb };

static void
recorder_init (Recorder *r, LatchTable *table)
{
  r->answers = g_array_new (FALSE, TRUE, sizeof (Seen));
  g_array_set_clear_func (r->answers, seen_clear);
  r->lost = g_ptr_array_new_with_free_func (g_free);
  r->n_changed = 0;
  r->drop_on_answer = NULL;
  r->table = table;
  latch_table_set_callbacks (table, &recorder_callbacks, r);
}

static void
recorder_clear (Recorder *r)
{
  g_array_unref (r->answers);
  g_ptr_array_unref (r->lost);
}

static const Seen *
seen_at (Recorder *r, guint i)
{
  g_assert_cmpuint (i, <, r->answers->len);
  return &g_array_index (r->answers, Seen, i);
}

/* ---- bounded waits ---- */

static gboolean
deadline_cb (gpointer user_data)
{
  *(gboolean *)user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the default context until cond (data) holds; FALSE after WAIT_MS. */
static gboolean
wait_for (gboolean (*cond) (gpointer), gpointer data)
{
  gboolean expired = FALSE;
  guint id = g_timeout_add (WAIT_MS, deadline_cb, &expired);

  while (!cond (data) && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (id);
  return cond (data);
}

/* ---- the memory backend ---- */

static LatchTable *
memory_table (int idle_lifespan_min)
{
  LatchLockerConfig config = { .first_fence = 1000, .idle_lifespan_min = idle_lifespan_min };

  return latch_table_memory_new (&config, "test-instance");
}

static LatchLockReq
req_of (const char *name, LatchLockMode mode, gboolean wait, gboolean create, int lifespan)
{
  LatchLockReq req = { name, mode, 1, wait, create, lifespan };

  return req;
}

static void
test_memory_grant_now (void)
{
  g_autoptr (LatchTable) table = memory_table (0);
  Recorder r;
  LatchTableOwner *a;
  LatchLockReq req = req_of ("r", LATCH_LOCK_MODE_EX, FALSE, TRUE, 0);

  recorder_init (&r, table);
  g_assert_cmpstr (latch_table_backend_name (table), ==, "memory");
  g_assert_true (latch_table_is_ready (table));
  a = latch_table_owner_new (table, "conn A", NULL);
  g_assert_cmpuint (a->id, >, 0);
  g_assert_cmpstr (latch_table_owner_key (table, a), ==, "test-instance.1");

  /* The first answer is notified from inside the request. */
  g_assert_cmpint (latch_table_request (table, a, &req), ==, LATCH_TABLE_ANSWERED);
  g_assert_cmpuint (r.answers->len, ==, 1);
  g_assert_cmpuint (seen_at (&r, 0)->owner_id, ==, a->id);
  g_assert_true (seen_at (&r, 0)->first);
  g_assert_cmpint (seen_at (&r, 0)->status, ==, LATCH_LOCK_GRANTED);
  g_assert_cmpuint (seen_at (&r, 0)->fence, ==, 1000);
  g_assert_cmpuint (latch_table_n_active (table), ==, 1);
  g_assert_cmpuint (latch_table_n_resources (table), ==, 1);

  /* A busy answer for a second owner that may not wait. */
  {
    LatchTableOwner *b = latch_table_owner_new (table, "conn B", NULL);

    g_assert_cmpint (latch_table_request (table, b, &req), ==, LATCH_TABLE_ANSWERED);
    g_assert_cmpuint (r.answers->len, ==, 2);
    g_assert_cmpint (seen_at (&r, 1)->status, ==, LATCH_LOCK_BUSY);
    g_assert_true (seen_at (&r, 1)->first);
    /* A release of what it does not hold changes nothing. */
    g_assert_false (latch_table_release (table, b, "r", FALSE));
    latch_table_drop_owner (table, b);
  }
  g_assert_true (latch_table_release (table, a, "r", FALSE));
  g_assert_cmpuint (latch_table_n_active (table), ==, 0);
  /* Lifespan 0: destroyed as soon as idle. */
  g_assert_cmpuint (latch_table_n_resources (table), ==, 0);
  latch_table_drop_owner (table, a);
  recorder_clear (&r);
}

static void
test_memory_queue (void)
{
  g_autoptr (LatchTable) table = memory_table (0);
  Recorder r;
  LatchTableOwner *a, *b;
  LatchLockReq req = req_of ("r", LATCH_LOCK_MODE_EX, TRUE, TRUE, 0);

  recorder_init (&r, table);
  a = latch_table_owner_new (table, "conn A", NULL);
  b = latch_table_owner_new (table, "conn B", NULL);
  latch_table_request (table, a, &req);
  latch_table_request (table, b, &req);
  g_assert_cmpuint (r.answers->len, ==, 2);
  g_assert_cmpint (seen_at (&r, 1)->status, ==, LATCH_LOCK_QUEUED);
  g_assert_true (seen_at (&r, 1)->first);

  /* The grant comes by notification, a later answer, from the release. */
  g_assert_true (latch_table_release (table, a, "r", FALSE));
  g_assert_cmpuint (r.answers->len, ==, 3);
  g_assert_cmpuint (seen_at (&r, 2)->owner_id, ==, b->id);
  g_assert_false (seen_at (&r, 2)->first);
  g_assert_cmpint (seen_at (&r, 2)->status, ==, LATCH_LOCK_GRANTED);
  g_assert_cmpuint (seen_at (&r, 2)->fence, ==, 1001);
  latch_table_drop_owner (table, a);
  latch_table_drop_owner (table, b);
  g_assert_cmpuint (latch_table_n_active (table), ==, 0);
  recorder_clear (&r);
}

static void
test_memory_drop_owner (void)
{
  g_autoptr (LatchTable) table = memory_table (0);
  Recorder r;
  LatchTableOwner *a, *b, *c;
  LatchLockReq req = req_of ("r", LATCH_LOCK_MODE_EX, TRUE, TRUE, 0);
  LatchLockReq other = req_of ("s", LATCH_LOCK_MODE_EX, TRUE, TRUE, 0);

  recorder_init (&r, table);
  a = latch_table_owner_new (table, "conn A", NULL);
  b = latch_table_owner_new (table, "conn B", NULL);
  c = latch_table_owner_new (table, "conn C", NULL);
  latch_table_request (table, a, &req);
  latch_table_request (table, a, &other);    /* A holds r and s */
  latch_table_request (table, b, &req);                           /* B queued on r */
  latch_table_request (table, c, &other);                         /* C queued on s */
  g_assert_cmpuint (r.answers->len, ==, 4);
  g_assert_cmpuint (latch_table_n_active (table), ==, 4);

  /* The connection is gone: both holds released, both queues served. */
  latch_table_drop_owner (table, a);
  g_assert_cmpuint (r.answers->len, ==, 6);
  g_assert_cmpint (seen_at (&r, 4)->status, ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (seen_at (&r, 5)->status, ==, LATCH_LOCK_GRANTED);
  g_assert_cmpuint (seen_at (&r, 4)->owner_id + seen_at (&r, 5)->owner_id, ==,
                    b->id + c->id);
  g_assert_cmpuint (latch_table_n_active (table), ==, 2);

  /* A queued owner dropped: it gets nothing when its turn would come. */
  {
    LatchTableOwner *d = latch_table_owner_new (table, "conn D", NULL);

    latch_table_request (table, d, &req);
    g_assert_cmpint (seen_at (&r, 6)->status, ==, LATCH_LOCK_QUEUED);
    latch_table_drop_owner (table, d);
    g_assert_true (latch_table_release (table, b, "r", FALSE));
    g_assert_cmpuint (r.answers->len, ==, 7);
    g_assert_cmpuint (latch_table_n_resources (table), ==, 1);
  }
  latch_table_drop_owner (table, b);
  latch_table_drop_owner (table, c);
  g_assert_cmpuint (latch_table_n_active (table), ==, 0);
  recorder_clear (&r);
}

static void
test_memory_cancel (void)
{
  g_autoptr (LatchTable) table = memory_table (0);
  Recorder r;
  LatchTableOwner *a, *b, *c, *w;
  LatchLockReq shared = req_of ("r", LATCH_LOCK_MODE_PR, TRUE, TRUE, 0);
  LatchLockReq excl = req_of ("r", LATCH_LOCK_MODE_EX, TRUE, TRUE, 0);
  LatchLockReq absent = req_of ("nothere", LATCH_LOCK_MODE_EX, TRUE, FALSE, 0);

  recorder_init (&r, table);
  a = latch_table_owner_new (table, "conn A", NULL);
  b = latch_table_owner_new (table, "conn B", NULL);
  c = latch_table_owner_new (table, "conn C", NULL);
  latch_table_request (table, a, &shared); /* held */
  latch_table_request (table, b, &excl);   /* queued */
  latch_table_request (table, c, &shared); /* queued behind B: strict FIFO */
  g_assert_cmpint (seen_at (&r, 1)->status, ==, LATCH_LOCK_QUEUED);
  g_assert_cmpint (seen_at (&r, 2)->status, ==, LATCH_LOCK_QUEUED);

  /* Withdrawing B unblocks C (a reader beside the reader A); B hears
   * nothing more. */
  g_assert_true (latch_table_cancel (table, b));
  g_assert_false (latch_table_cancel (table, b));
  g_assert_cmpuint (r.answers->len, ==, 4);
  g_assert_cmpuint (seen_at (&r, 3)->owner_id, ==, c->id);
  g_assert_cmpint (seen_at (&r, 3)->status, ==, LATCH_LOCK_GRANTED);
  g_assert_cmpuint (latch_table_n_active (table), ==, 2);

  /* A creation wait is withdrawn too. */
  w = latch_table_owner_new (table, "conn W", NULL);
  latch_table_request (table, w, &absent);
  g_assert_cmpint (seen_at (&r, 4)->status, ==, LATCH_LOCK_WAIT_RESOURCE);
  g_assert_cmpuint (latch_table_n_active (table), ==, 3);
  g_assert_true (latch_table_cancel (table, w));
  g_assert_cmpuint (latch_table_n_active (table), ==, 2);
  {
    LatchLockReq create = req_of ("nothere", LATCH_LOCK_MODE_EX, FALSE, TRUE, 0);

    latch_table_request (table, b, &create);
    /* Granted to B; W, withdrawn, was not handed the resource. */
    g_assert_cmpuint (r.answers->len, ==, 6);
    g_assert_cmpuint (seen_at (&r, 5)->owner_id, ==, b->id);
    g_assert_cmpint (seen_at (&r, 5)->status, ==, LATCH_LOCK_GRANTED);
  }
  latch_table_drop_owner (table, a);
  latch_table_drop_owner (table, b);
  latch_table_drop_owner (table, c);
  latch_table_drop_owner (table, w);
  g_assert_cmpuint (r.answers->len, ==, 6);
  recorder_clear (&r);
}

static gboolean
no_resources (gpointer data)
{
  return latch_table_n_resources (data) == 0;
}

static void
test_memory_idle_expiry (void)
{
  g_autoptr (LatchTable) table = memory_table (0);
  Recorder r;
  LatchTableOwner *a;
  LatchLockReq req = req_of ("kept", LATCH_LOCK_MODE_EX, FALSE, TRUE, 100);
  gint64 released_at;

  recorder_init (&r, table);
  a = latch_table_owner_new (table, "conn A", NULL);
  latch_table_request (table, a, &req);
  latch_table_release (table, a, "kept", FALSE);
  released_at = g_get_monotonic_time ();
  /* Kept for its idle lifespan... */
  g_assert_cmpuint (latch_table_n_resources (table), ==, 1);
  g_assert_cmpuint (r.n_changed, ==, 0);
  /* ...then destroyed by the backend's timer, which says so. */
  g_assert_true (wait_for (no_resources, table));
  g_assert_cmpint (g_get_monotonic_time () - released_at, >=, 100 * 1000);
  g_assert_cmpuint (r.n_changed, >=, 1);
  latch_table_drop_owner (table, a);
  recorder_clear (&r);
}

static void
test_memory_snapshot (void)
{
  g_autoptr (LatchTable) table = memory_table (0);
  g_autoptr (LatchTableSnapshot) snap = NULL;
  Recorder r;
  LatchTableOwner *a, *b, *c;
  LatchLockReq held = req_of ("r", LATCH_LOCK_MODE_EX, TRUE, TRUE, 0);
  LatchLockReq absent = req_of ("absent", LATCH_LOCK_MODE_PR, TRUE, FALSE, 0);
  LatchLockReq kept = req_of ("kept", LATCH_LOCK_MODE_EX, FALSE, TRUE, 60000);
  const LatchTableRsrcStatus *rs;
  const LatchTableLockStatus *ls;

  recorder_init (&r, table);
  a = latch_table_owner_new (table, "conn A", NULL);
  b = latch_table_owner_new (table, "conn B", NULL);
  c = latch_table_owner_new (table, "conn C", NULL);
  latch_table_request (table, a, &held);
  latch_table_request (table, b, &held);
  latch_table_request (table, c, &absent);
  latch_table_request (table, a, &kept);
  latch_table_release (table, a, "kept", FALSE);

  snap = latch_table_snapshot (table);
  g_assert_cmpint (snap->taken_us, >, 0);
  g_assert_cmpuint (snap->resources->len, ==, 3);
  /* Sorted by name: absent, kept, r. */
  rs = snap->resources->pdata[0];
  g_assert_cmpstr (rs->name, ==, "absent");
  g_assert_false (rs->exists);
  g_assert_cmpuint (rs->locks->len, ==, 1);
  ls = &g_array_index (rs->locks, LatchTableLockStatus, 0);
  g_assert_cmpint (ls->place, ==, LATCH_TABLE_WAITING_CREATION);
  g_assert_cmpuint (ls->owner_id, ==, c->id);
  g_assert_cmpstr (ls->owner_key, ==, latch_table_owner_key (table, c));
  g_assert_cmpstr (ls->owner_label, ==, "conn C");
  g_assert_cmpint (ls->mode, ==, LATCH_LOCK_MODE_PR);

  rs = snap->resources->pdata[1];
  g_assert_cmpstr (rs->name, ==, "kept");
  g_assert_true (rs->exists);
  g_assert_cmpint (rs->lifespan, ==, 60000);
  g_assert_cmpint (rs->expiry_us, >, snap->taken_us);
  g_assert_cmpuint (rs->locks->len, ==, 0);

  rs = snap->resources->pdata[2];
  g_assert_cmpstr (rs->name, ==, "r");
  g_assert_cmpint (rs->expiry_us, ==, -1);
  g_assert_cmpuint (rs->locks->len, ==, 2);
  ls = &g_array_index (rs->locks, LatchTableLockStatus, 0);
  g_assert_cmpint (ls->place, ==, LATCH_TABLE_HOLDING);
  g_assert_cmpuint (ls->owner_id, ==, a->id);
  g_assert_cmpstr (ls->name, ==, "r");
  g_assert_cmpint (ls->mode, ==, LATCH_LOCK_MODE_EX);
  ls = &g_array_index (rs->locks, LatchTableLockStatus, 1);
  g_assert_cmpint (ls->place, ==, LATCH_TABLE_QUEUED);
  g_assert_cmpuint (ls->owner_id, ==, b->id);
  g_assert_cmpstr (ls->owner_label, ==, "conn B");

  latch_table_drop_owner (table, a);
  latch_table_drop_owner (table, b);
  latch_table_drop_owner (table, c);
  recorder_clear (&r);
}

/* What status shows of each entry: since when (the grant for a holder,
 * the request for a waiter), the holder's fence and element, and the
 * owner's user_data that leads back to its connection. */
static void
test_memory_snapshot_details (void)
{
  g_autoptr (LatchTable) table = memory_table (0);
  g_autoptr (LatchTableSnapshot) snap = NULL;
  Recorder r;
  LatchTableOwner *a, *b, *c;
  int data_a, data_b, data_c;
  LatchLockReq ex = req_of ("r", LATCH_LOCK_MODE_EX, TRUE, TRUE, 0);
  LatchLockReq set = req_of ("red.green", LATCH_LOCK_MODE_EX, TRUE, TRUE, 0);
  const LatchTableRsrcStatus *rs;
  const LatchTableLockStatus *ls;
  gint64 before, granted_b;

  recorder_init (&r, table);
  a = latch_table_owner_new (table, "conn A", &data_a);
  b = latch_table_owner_new (table, "conn B", &data_b);
  c = latch_table_owner_new (table, "conn C", &data_c);
  before = g_get_real_time ();
  latch_table_request (table, a, &ex);
  latch_table_request (table, b, &ex);
  latch_table_request (table, c, &set);
  g_assert_cmpuint (r.answers->len, ==, 3);

  snap = latch_table_snapshot (table);
  g_assert_cmpuint (snap->resources->len, ==, 2);
  rs = snap->resources->pdata[0];
  g_assert_cmpstr (rs->name, ==, "r");
  g_assert_cmpuint (rs->locks->len, ==, 2);
  ls = &g_array_index (rs->locks, LatchTableLockStatus, 0);
  g_assert_cmpint (ls->place, ==, LATCH_TABLE_HOLDING);
  g_assert_true (ls->owner_data == &data_a);
  g_assert_cmpuint (ls->fence, ==, seen_at (&r, 0)->fence);
  g_assert_cmpuint (ls->fence, >=, 1000);
  g_assert_null (ls->element);
  g_assert_cmpint (ls->since_us, >=, before - 1000000);
  g_assert_cmpint (ls->since_us, <=, snap->taken_us);
  ls = &g_array_index (rs->locks, LatchTableLockStatus, 1);
  g_assert_cmpint (ls->place, ==, LATCH_TABLE_QUEUED);
  g_assert_true (ls->owner_data == &data_b);
  g_assert_cmpuint (ls->fence, ==, 0);
  g_assert_cmpint (ls->since_us, >=, before - 1000000);
  g_assert_cmpint (ls->since_us, <=, snap->taken_us);

  rs = snap->resources->pdata[1];
  g_assert_cmpstr (rs->name, ==, "red.green");
  ls = &g_array_index (rs->locks, LatchTableLockStatus, 0);
  g_assert_true (ls->owner_data == &data_c);
  g_assert_cmpstr (ls->element, ==, seen_at (&r, 2)->element);
  g_assert_nonnull (ls->element);
  g_assert_cmpuint (ls->fence, ==, seen_at (&r, 2)->fence);
  g_clear_pointer (&snap, latch_table_snapshot_free);

  /* b is granted when a goes: its since is the grant's time now, after
   * the clock moved on from its request. */
  g_usleep (20000);
  granted_b = g_get_real_time ();
  latch_table_drop_owner (table, a);
  g_assert_cmpuint (r.answers->len, ==, 4);
  snap = latch_table_snapshot (table);
  rs = snap->resources->pdata[0];
  g_assert_cmpuint (rs->locks->len, ==, 1);
  ls = &g_array_index (rs->locks, LatchTableLockStatus, 0);
  g_assert_cmpint (ls->place, ==, LATCH_TABLE_HOLDING);
  g_assert_true (ls->owner_data == &data_b);
  g_assert_cmpuint (ls->fence, ==, seen_at (&r, 3)->fence);
  g_assert_cmpuint (ls->fence, >, seen_at (&r, 0)->fence);
  g_assert_cmpint (ls->since_us, <=, snap->taken_us);
  g_assert_cmpint (ls->since_us, >=, granted_b);

  latch_table_drop_owner (table, b);
  latch_table_drop_owner (table, c);
  recorder_clear (&r);
}

static void
test_memory_shutdown (void)
{
  g_autoptr (LatchTable) table = memory_table (0);
  Recorder r;
  LatchTableOwner *a, *b;
  LatchLockReq req = req_of ("r", LATCH_LOCK_MODE_EX, TRUE, TRUE, 0);

  recorder_init (&r, table);
  a = latch_table_owner_new (table, "conn A", NULL);
  b = latch_table_owner_new (table, "conn B", NULL);
  latch_table_request (table, a, &req);
  latch_table_request (table, b, &req);
  g_assert_cmpuint (r.answers->len, ==, 2);
  /* The daemon is exiting: a grant B would get is never handed out. */
  latch_table_shutdown (table);
  latch_table_drop_owner (table, a);
  g_assert_cmpuint (r.answers->len, ==, 2);
  /* Owners left are freed with the table. */
  recorder_clear (&r);
}

/* A callback that drops an owner while the table is delivering: a grant
 * to B makes B's session close; C, queued behind B, is then served. */
static void
test_memory_reentrant_drop (void)
{
  g_autoptr (LatchTable) table = memory_table (0);
  Recorder r;
  LatchTableOwner *a, *b, *c;
  LatchLockReq req = req_of ("r", LATCH_LOCK_MODE_EX, TRUE, TRUE, 0);

  recorder_init (&r, table);
  a = latch_table_owner_new (table, "conn A", NULL);
  b = latch_table_owner_new (table, "conn B", NULL);
  c = latch_table_owner_new (table, "conn C", NULL);
  latch_table_request (table, a, &req);
  latch_table_request (table, b, &req);
  latch_table_request (table, c, &req);
  r.drop_on_answer = b;
  latch_table_release (table, a, "r", FALSE);
  g_assert_cmpuint (r.answers->len, ==, 5);
  g_assert_cmpint (seen_at (&r, 3)->status, ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (seen_at (&r, 4)->status, ==, LATCH_LOCK_GRANTED);
  g_assert_cmpuint (seen_at (&r, 4)->owner_id, ==, c->id);
  g_assert_cmpuint (latch_table_n_active (table), ==, 1);
  latch_table_drop_owner (table, a);
  latch_table_drop_owner (table, c);
  recorder_clear (&r);
}

/* ---- a fake backend: answers later, loses locks ---- */

typedef struct
{
  LatchTable parent;
  gboolean pending;         /* answer requests later (else grant at once) */
  guint64 last_owner;       /* of the last request */
  guint64 last_req;
  GPtrArray *dropped;       /* owner keys */
  guint n_cancelled;
  guint n_active;
} FakeTable;

static LatchTableOutcome
fake_request (LatchTable *table, LatchTableOwner *owner, guint64 req_id,
              const LatchLockReq *req G_GNUC_UNUSED)
{
  FakeTable *f = (FakeTable *)table;

  f->last_owner = owner->id;
  f->last_req = req_id;
  f->n_active++;
  if (f->pending)
    return LATCH_TABLE_PENDING;
  {
    LatchTableAnswer answer = { LATCH_LOCK_GRANTED, 7, NULL, NULL };

    latch_table_emit_answer (table, owner->id, req_id, &answer);
  }
  return LATCH_TABLE_ANSWERED;
}

static void
fake_cancel (LatchTable *table, LatchTableOwner *owner G_GNUC_UNUSED)
{
  ((FakeTable *)table)->n_cancelled++;
}

static gboolean
fake_release (LatchTable *table, LatchTableOwner *owner G_GNUC_UNUSED,
              const char *name G_GNUC_UNUSED, gboolean rollback G_GNUC_UNUSED)
{
  ((FakeTable *)table)->n_active--;
  return TRUE;
}

static void
fake_drop_owner (LatchTable *table, LatchTableOwner *owner)
{
  FakeTable *f = (FakeTable *)table;

  g_ptr_array_add (f->dropped, g_strdup (latch_table_owner_key (table, owner)));
  f->n_active = 0;
}

static guint
fake_n_resources (const LatchTable *table)
{
  return ((const FakeTable *)table)->n_active;
}

static guint
fake_n_active (const LatchTable *table)
{
  return ((const FakeTable *)table)->n_active;
}

static void
fake_snapshot (LatchTable *table G_GNUC_UNUSED, LatchTableSnapshot *snapshot)
{
  /* A remote backend also lists other daemons' owners: not ours. */
  LatchTableRsrcStatus *rs = latch_table_rsrc_status_new ("remote");
  LatchTableLockStatus ls = { .place = LATCH_TABLE_HOLDING,
                              .owner_key = g_strdup ("elsewhere.1"),
                              .name = g_strdup ("remote"),
                              .mode = LATCH_LOCK_MODE_EX, .quantity = 1,
                              .since_us = 5, .fence = 9 };

  rs->exists = TRUE;
  g_array_append_val (rs->locks, ls);
  g_ptr_array_add (snapshot->resources, rs);
}

static void
fake_free (LatchTable *table)
{
  g_ptr_array_unref (((FakeTable *)table)->dropped);
}

static const LatchTableBackend fake_backend = {
  .name = "fake",
  .request = fake_request,
  .cancel = fake_cancel,
  .release = fake_release,
  .drop_owner = fake_drop_owner,
  .n_resources = fake_n_resources,
  .n_active = fake_n_active,
  .snapshot = fake_snapshot,
  .free = fake_free,
};

static FakeTable *
fake_table_new (gboolean pending)
{
  FakeTable *f = g_new0 (FakeTable, 1);

  latch_table_init (&f->parent, &fake_backend, "fake-instance");
  f->pending = pending;
  f->dropped = g_ptr_array_new_with_free_func (g_free);
  return f;
}

typedef struct
{
  FakeTable *fake;
  LatchLockStatus status;
} LateAnswer;

static gboolean
late_answer_cb (gpointer user_data)
{
  LateAnswer *late = user_data;
  LatchTableAnswer answer = { late->status, 42, g_strdup ("elem"), NULL };

  latch_table_emit_answer (&late->fake->parent, late->fake->last_owner,
                           late->fake->last_req, &answer);
  return G_SOURCE_REMOVE;
}

static gboolean
has_answers (gpointer data)
{
  Recorder *r = data;

  return r->answers->len >= 2;
}

static void
test_fake_late_answer (void)
{
  FakeTable *f = fake_table_new (TRUE);
  LatchTable *table = &f->parent;
  Recorder r;
  LatchTableOwner *a, *b;
  LatchLockReq req = req_of ("r", LATCH_LOCK_MODE_EX, TRUE, TRUE, 0);
  LateAnswer queued = { f, LATCH_LOCK_QUEUED };
  LateAnswer granted = { f, LATCH_LOCK_GRANTED };
  guint64 old_owner, old_req;

  recorder_init (&r, table);
  latch_table_set_ready (table, FALSE);
  g_assert_false (latch_table_is_ready (table));
  latch_table_set_ready (table, TRUE);
  a = latch_table_owner_new (table, "conn A", NULL);
  g_assert_cmpstr (latch_table_owner_key (table, a), ==, "fake-instance.1");

  /* PENDING: nothing yet; the first answer (queued) and then the grant
   * arrive later, from the main loop. */
  g_assert_cmpint (latch_table_request (table, a, &req), ==, LATCH_TABLE_PENDING);
  g_assert_cmpuint (r.answers->len, ==, 0);
  g_idle_add (late_answer_cb, &queued);
  g_timeout_add (10, late_answer_cb, &granted);
  g_assert_true (wait_for (has_answers, &r));
  g_assert_true (seen_at (&r, 0)->first);
  g_assert_cmpint (seen_at (&r, 0)->status, ==, LATCH_LOCK_QUEUED);
  g_assert_false (seen_at (&r, 1)->first);
  g_assert_cmpint (seen_at (&r, 1)->status, ==, LATCH_LOCK_GRANTED);
  g_assert_cmpuint (seen_at (&r, 1)->fence, ==, 42);
  g_assert_cmpstr (seen_at (&r, 1)->element, ==, "elem");

  /* The request is answered for good: a repeated grant is dropped. */
  late_answer_cb (&granted);
  g_assert_cmpuint (r.answers->len, ==, 2);

  /* A cancelled request's answer is dropped; so is an answer naming an
   * old request id, and one for an owner that is gone. */
  b = latch_table_owner_new (table, "conn B", NULL);
  latch_table_request (table, b, &req);
  old_owner = f->last_owner;
  old_req = f->last_req;
  g_assert_true (latch_table_cancel (table, b));
  g_assert_cmpuint (f->n_cancelled, ==, 1);
  late_answer_cb (&granted);
  g_assert_cmpuint (r.answers->len, ==, 2);
  latch_table_request (table, b, &req);
  {
    LatchTableAnswer stale = { LATCH_LOCK_GRANTED, 1, NULL, NULL };

    g_assert_false (latch_table_emit_answer (table, old_owner, old_req, &stale));
  }
  g_assert_cmpuint (r.answers->len, ==, 2);
  latch_table_drop_owner (table, b);
  late_answer_cb (&granted);
  g_assert_cmpuint (r.answers->len, ==, 2);
  g_assert_cmpuint (f->dropped->len, ==, 1);
  g_assert_cmpstr (f->dropped->pdata[0], ==, "fake-instance.2");

  /* The snapshot lists another daemon's owner as not ours. */
  {
    g_autoptr (LatchTableSnapshot) snap = latch_table_snapshot (table);
    const LatchTableRsrcStatus *rs = snap->resources->pdata[0];
    const LatchTableLockStatus *ls = &g_array_index (rs->locks, LatchTableLockStatus, 0);

    g_assert_cmpstr (ls->owner_key, ==, "elsewhere.1");
    g_assert_cmpuint (ls->owner_id, ==, 0);
    g_assert_null (ls->owner_label);
  }
  latch_table_drop_owner (table, a);
  recorder_clear (&r);
  latch_table_free (table);
}

static void
test_fake_lost (void)
{
  FakeTable *f = fake_table_new (FALSE);
  LatchTable *table = &f->parent;
  Recorder r;
  LatchTableOwner *a;
  LatchLockReq req = req_of ("r", LATCH_LOCK_MODE_EX, TRUE, TRUE, 0);
  g_autoptr (GError) reason = g_error_new_literal (LATCH_ERROR, LATCH_ERROR_IO, "lease expired");
  guint64 id;

  recorder_init (&r, table);
  a = latch_table_owner_new (table, "conn A", NULL);
  id = a->id;
  latch_table_request (table, a, &req);
  g_assert_cmpint (seen_at (&r, 0)->status, ==, LATCH_LOCK_GRANTED);
  g_assert_true (latch_table_emit_lost (table, id, "r", reason));
  g_assert_cmpuint (r.lost->len, ==, 1);
  g_assert_cmpstr (r.lost->pdata[0], ==, "1:r");
  latch_table_drop_owner (table, a);
  /* Gone: a loss reported after is not delivered. */
  g_assert_false (latch_table_emit_lost (table, id, "r", reason));
  g_assert_cmpuint (r.lost->len, ==, 1);
  /* Nor anything once the table is shut down. */
  a = latch_table_owner_new (table, "conn A2", NULL);
  latch_table_shutdown (table);
  g_assert_false (latch_table_emit_lost (table, a->id, "r", reason));
  g_assert_cmpuint (r.lost->len, ==, 1);
  recorder_clear (&r);
  latch_table_free (table);
}

/* ---- the session side, over a socketpair ---- */

typedef struct
{
  int fd;
  GString *in;      /* bytes read */
  gboolean eof;
} Peer;

/* Reads what is there without blocking. */
static void
peer_pump (Peer *p)
{
  char buf[4096];

  for (;;)
    {
      ssize_t n = recv (p->fd, buf, sizeof buf, MSG_DONTWAIT);

      if (n > 0)
        g_string_append_len (p->in, buf, n);
      else if (n == 0)
        {
          p->eof = TRUE;
          return;
        }
      else if (errno == EINTR)
        continue;
      else
        {
          if (errno != EAGAIN && errno != EWOULDBLOCK)
            p->eof = TRUE; /* reset counts as the end */
          return;
        }
    }
}

static gboolean
peer_has_answer (gpointer data)
{
  Peer *p = data;

  peer_pump (p);
  return strstr (p->in->str, LATCH_MSG_END) != NULL;
}

static gboolean
peer_has_eof (gpointer data)
{
  Peer *p = data;

  peer_pump (p);
  return p->eof;
}

static gboolean
fake_has_request (gpointer data)
{
  return ((FakeTable *)data)->last_req != 0;
}

static void
test_session_lost (void)
{
  FakeTable *f = fake_table_new (TRUE);
  g_autoptr (LatchConfig) settings = latch_config_new ();
  LatchDaemonConfig config = { 0 };
  Daemon d = { 0 };
  int sv[2];
  Peer peer = { -1, NULL, FALSE };
  Client *c;
  g_autoptr (LatchMsg) req = latch_msg_new (LATCH_MSG_LOCK_REQUEST, LATCH_STEP_REQUEST);
  g_autoptr (GString) out = g_string_new (NULL);
  g_autoptr (LatchMsg) answer = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GError) reason = g_error_new_literal (LATCH_ERROR, LATCH_ERROR_IO, "lease expired");
  LatchTableAnswer grant = { LATCH_LOCK_GRANTED, 99, NULL, NULL };
  guint64 owner_id;

  settings->daemon_lifespan = 0;
  config.settings = settings;
  config.ready_fd = -1;
  d.config = &config;
  d.loop = g_main_loop_new (NULL, FALSE);
  d.table = &f->parent;
  d.clients = g_hash_table_new (NULL, NULL);
  d.peerid = "0123456789abcdef0123456789abcdef";
  d.level = LATCH_SECURITY_CLEAR;
  d.lock_fd = d.listen_fd = -1;
  d.idle_since = -1;
  d.fd_exhausted_since = -1;
  latch_table_set_callbacks (d.table, &latch_daemon_table_callbacks, &d);

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv),
                   ==, 0);
  peer.fd = sv[1];
  peer.in = g_string_new (NULL);
  {
    LatchPeer who = { .is_local = TRUE, .uid = geteuid (), .gid = getegid (), .pid = getpid () };

    c = latch_daemon_session_new (&d, sv[0], "conn test", &who);
  }
  owner_id = c->legacy.owner->id;
  g_assert_cmpuint (g_hash_table_size (d.clients), ==, 1);

  /* The client asks; the backend says PENDING: no answer yet. */
  req->peerid = g_strdup ("");
  req->name = g_strdup ("r");
  req->wait = TRUE;
  req->create = TRUE;
  latch_msg_encode (req, out);
  g_assert_cmpint (write (peer.fd, out->str, out->len), ==, (gssize)out->len);
  g_assert_true (wait_for (fake_has_request, f));
  g_assert_false (peer_has_answer (&peer));
  g_assert_true (c->legacy.has_pending);

  /* The grant arrives late: the client reads it as its first answer. */
  g_assert_true (latch_table_emit_answer (d.table, f->last_owner, f->last_req, &grant));
  g_assert_true (wait_for (peer_has_answer, &peer));
  g_assert_true (latch_codec_decode (peer.in->str, peer.in->len, &answer, &error));
  g_assert_no_error (error);
  g_assert_cmpint (answer->step, ==, LATCH_STEP_FIRST_ANSWER);
  g_assert_cmpint (answer->rc, ==, LATCH_RC_OK);
  g_assert_cmpuint (answer->fence, ==, 99);
  g_assert_cmpuint (c->legacy.n_holds, ==, 1);
  g_assert_false (c->legacy.has_pending);

  /* The backend loses it: no message can say so, the connection ends,
   * and the owner is dropped (the rest of what it had goes with it). */
  g_assert_true (latch_table_emit_lost (d.table, owner_id, "r", reason));
  g_assert_cmpuint (g_hash_table_size (d.clients), ==, 0);
  g_assert_cmpuint (f->dropped->len, ==, 1);
  g_assert_true (wait_for (peer_has_eof, &peer));
  /* Nothing more for it. */
  g_assert_false (latch_table_emit_lost (d.table, owner_id, "r", reason));

  close (peer.fd);
  g_string_free (peer.in, TRUE);
  latch_table_free (d.table);
  g_hash_table_destroy (d.clients);
  g_main_loop_unref (d.loop);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/table/memory/grant-now", test_memory_grant_now);
  g_test_add_func ("/table/memory/queue", test_memory_queue);
  g_test_add_func ("/table/memory/drop-owner", test_memory_drop_owner);
  g_test_add_func ("/table/memory/cancel", test_memory_cancel);
  g_test_add_func ("/table/memory/idle-expiry", test_memory_idle_expiry);
  g_test_add_func ("/table/memory/snapshot", test_memory_snapshot);
  g_test_add_func ("/table/memory/snapshot-details", test_memory_snapshot_details);
  g_test_add_func ("/table/memory/shutdown", test_memory_shutdown);
  g_test_add_func ("/table/memory/reentrant-drop", test_memory_reentrant_drop);
  g_test_add_func ("/table/fake/late-answer", test_fake_late_answer);
  g_test_add_func ("/table/fake/lost", test_fake_lost);
  g_test_add_func ("/daemon/session/lost", test_session_lost);
  return g_test_run ();
}
