/* test-table-upstream.c: the agent's lock table (table/table-upstream.c)
 * over a scripted upstream.
 *
 * The LatchUpstream here is a fake (this file defines agent/upstream.h's
 * functions): it records what the backend sends upstream (locks, unlocks
 * by id) and lets each test play the upstream's part (answers, a loss,
 * the session going down).  What is checked is the backend's side of the
 * contract: one fresh upstream id per request, answers and losses back to
 * the right owner by id, release / cancel / a dropped owner as unlocks
 * under the right id, a grant for nobody given back, and a lost session
 * turned into losses for holders and refusals (rc 7 unanswered, rc 8
 * queued) for waiters. */

#include "config.h"

#include "table/lock-table.h"

#include "common/error.h"
#include "table/table-backend.h"

#include <string.h>

/* ---- the fake upstream ---- */

struct _LatchUpstream
{
  LatchUpstreamCallbacks callbacks;
  gpointer user_data;
  char *address;
  int port;
  GArray *locks;     /* guint64 ids, in order */
  GPtrArray *unlocks; /* "<id>:<name>:<rollback>" */
};

static LatchUpstream *the_upstream;

LatchUpstream *
latch_upstream_new (const LatchUpstreamConfig *config, const LatchUpstreamCallbacks *callbacks,
                    gpointer user_data)
{
  LatchUpstream *up = g_new0 (LatchUpstream, 1);

  up->callbacks = *callbacks;
  up->user_data = user_data;
  up->address = g_strdup (config->address);
  up->port = config->port;
  up->locks = g_array_new (FALSE, FALSE, sizeof (guint64));
  up->unlocks = g_ptr_array_new_with_free_func (g_free);
  the_upstream = up;
  return up;
}

void
latch_upstream_free (LatchUpstream *up)
{
  if (up == NULL)
    return;
  g_array_unref (up->locks);
  g_ptr_array_unref (up->unlocks);
  g_free (up->address);
  g_free (up);
  the_upstream = NULL;
}

void
latch_upstream_lock (LatchUpstream *up, guint64 id, const LatchLockReq *req G_GNUC_UNUSED)
{
  g_array_append_val (up->locks, id);
}

void
latch_upstream_unlock (LatchUpstream *up, guint64 id, const char *name, gboolean rollback)
{
  g_ptr_array_add (up->unlocks, g_strdup_printf ("%" G_GUINT64_FORMAT ":%s:%d", id, name,
                                                 rollback ? 1 : 0));
}

gboolean
latch_upstream_is_up (const LatchUpstream *up G_GNUC_UNUSED)
{
  return TRUE;
}

gboolean
latch_upstream_is_legacy (const LatchUpstream *up G_GNUC_UNUSED)
{
  return FALSE;
}

const char *
latch_upstream_label (const LatchUpstream *up G_GNUC_UNUSED)
{
  return "the daemon at 192.0.2.1 port 28015";
}

static guint64
last_lock_id (void)
{
  g_assert_cmpuint (the_upstream->locks->len, >, 0);
  return g_array_index (the_upstream->locks, guint64, the_upstream->locks->len - 1);
}

static void
upstream_answers (guint64 id, gboolean first, int rc, const char *element, guint64 fence)
{
  the_upstream->callbacks.answer_cb (the_upstream, id, first, rc, element, fence != 0, fence,
                                     NULL, the_upstream->user_data);
}

static void
upstream_goes_down (const char *why)
{
  g_autoptr (GError) reason = g_error_new (LATCH_ERROR, LATCH_ERROR_CONNECTION_CLOSED, "%s",
                                           why);

  the_upstream->callbacks.down_cb (the_upstream, reason, the_upstream->user_data);
}

static void
assert_unlocked (guint i, guint64 id, const char *name, gboolean rollback)
{
  g_autofree char *want = g_strdup_printf ("%" G_GUINT64_FORMAT ":%s:%d", id, name,
                                           rollback ? 1 : 0);

  g_assert_cmpuint (the_upstream->unlocks->len, >, i);
  g_assert_cmpstr (the_upstream->unlocks->pdata[i], ==, want);
}

/* ---- what the session side saw ---- */

typedef struct
{
  GString *log; /* "answer <owner> <first> <rc> [<element> <fence>];" and "lost <owner> <name> <why>;" */
  LatchTableOwner *drop_on_lost;
} Recorder;

static void
answer_cb (LatchTable *table G_GNUC_UNUSED, LatchTableOwner *owner, gboolean first,
           LatchTableAnswer *answer, gpointer user_data)
{
  Recorder *r = user_data;

  g_string_append_printf (r->log, "answer %" G_GUINT64_FORMAT " %d %d", owner->id, first ? 1 : 0,
                          (int)answer->status);
  if (answer->element != NULL || answer->fence != 0)
    g_string_append_printf (r->log, " %s %" G_GUINT64_FORMAT,
                            answer->element != NULL ? answer->element : "-", answer->fence);
  g_string_append (r->log, ";");
}

static void
lost_cb (LatchTable *table, LatchTableOwner *owner, const char *name, const GError *reason,
         gpointer user_data)
{
  Recorder *r = user_data;

  g_string_append_printf (r->log, "lost %" G_GUINT64_FORMAT " %s %s;", owner->id, name,
                          reason != NULL ? reason->message : "-");
  if (r->drop_on_lost == owner)
    {
      r->drop_on_lost = NULL;
      latch_table_drop_owner (table, owner);
    }
}

static const LatchTableCallbacks callbacks = { answer_cb, lost_cb, NULL };

typedef struct
{
  LatchTable *table;
  Recorder rec;
} Fixture;

static void
setup (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  const LatchUpstreamConfig config = { .address = "192.0.2.1", .port = 28015,
                                       .level = LATCH_SECURITY_CLEAR, .own_id = "" };

  f->rec.log = g_string_new (NULL);
  f->table = latch_table_upstream_new (&config, "agent.1");
  latch_table_set_callbacks (f->table, &callbacks, &f->rec);
  g_assert_nonnull (the_upstream);
  g_assert_cmpstr (the_upstream->address, ==, "192.0.2.1");
  g_assert_cmpstr (latch_table_backend_name (f->table), ==, "upstream");
}

static void
teardown (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  latch_table_free (f->table);
  g_assert_null (the_upstream); /* the session is closed with the table */
  g_string_free (f->rec.log, TRUE);
}

/* Consumes and returns what was seen so far. */
static char *
seen (Fixture *f)
{
  char *text = g_strdup (f->rec.log->str);

  g_string_truncate (f->rec.log, 0);
  return text;
}

#define ASSERT_SEEN(f, want)                                                   \
  do                                                                           \
    {                                                                          \
      g_autofree char *got_ = seen (f);                                        \
      g_assert_cmpstr (got_, ==, want);                                        \
    }                                                                          \
  while (0)

static LatchLockReq
req (const char *name)
{
  LatchLockReq r = { name, LATCH_LOCK_MODE_EX, 1, TRUE, TRUE, 0 };

  return r;
}

static void
test_grant_release (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  LatchTableOwner *a = latch_table_owner_new (f->table, "a", NULL);
  LatchLockReq r = req ("R");
  guint64 id;
  g_autoptr (LatchTableSnapshot) snap = NULL;

  g_assert_cmpint (latch_table_request (f->table, a, &r), ==, LATCH_TABLE_PENDING);
  ASSERT_SEEN (f, "");
  id = last_lock_id ();
  g_assert_cmpuint (id, >, 0);
  g_assert_cmpuint (latch_table_n_active (f->table), ==, 1);
  upstream_answers (id, TRUE, LATCH_RC_OK, "elem", 77);
  ASSERT_SEEN (f, "answer 1 1 0 elem 77;");
  snap = latch_table_snapshot (f->table);
  g_assert_cmpuint (snap->resources->len, ==, 1);
  {
    LatchTableRsrcStatus *rs = snap->resources->pdata[0];
    LatchTableLockStatus *ls = &g_array_index (rs->locks, LatchTableLockStatus, 0);

    g_assert_cmpstr (rs->name, ==, "R");
    g_assert_cmpuint (rs->locks->len, ==, 1);
    g_assert_cmpint (ls->place, ==, LATCH_TABLE_HOLDING);
    g_assert_cmpuint (ls->owner_id, ==, a->id);
    g_assert_cmpstr (ls->owner_label, ==, "a");
  }
  g_assert_false (latch_table_release (f->table, a, "other", FALSE));
  g_assert_cmpuint (the_upstream->unlocks->len, ==, 0);
  g_assert_true (latch_table_release (f->table, a, "R", FALSE));
  assert_unlocked (0, id, "R", FALSE);
  g_assert_cmpuint (latch_table_n_active (f->table), ==, 0);
  g_assert_cmpuint (latch_table_n_resources (f->table), ==, 0);
  /* A late word about the released id reaches nobody. */
  upstream_answers (id, FALSE, LATCH_RC_CONNECTION_CLOSED, NULL, 0);
  ASSERT_SEEN (f, "");
  latch_table_drop_owner (f->table, a);
  g_assert_cmpuint (the_upstream->unlocks->len, ==, 1);
}

/* Every request has its own upstream id, across owners and over time. */
static void
test_fresh_ids (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  LatchTableOwner *a = latch_table_owner_new (f->table, "a", NULL);
  LatchTableOwner *b = latch_table_owner_new (f->table, "b", NULL);
  LatchLockReq r = req ("R");
  guint64 ida, idb, ida2;

  latch_table_request (f->table, a, &r);
  ida = last_lock_id ();
  latch_table_request (f->table, b, &r);
  idb = last_lock_id ();
  g_assert_cmpuint (ida, !=, idb);
  upstream_answers (idb, TRUE, LATCH_RC_LOCK_ENQUEUED, NULL, 0);
  upstream_answers (ida, TRUE, LATCH_RC_OK, NULL, 5);
  ASSERT_SEEN (f, "answer 2 1 1;answer 1 1 0 - 5;");
  g_assert_true (latch_table_release (f->table, a, "R", TRUE));
  upstream_answers (idb, FALSE, LATCH_RC_OK, NULL, 6);
  ASSERT_SEEN (f, "answer 2 0 0 - 6;");
  latch_table_request (f->table, a, &r);
  ida2 = last_lock_id ();
  g_assert_cmpuint (ida2, !=, ida);
  g_assert_cmpuint (ida2, !=, idb);
  upstream_answers (ida2, TRUE, LATCH_RC_LOCK_BUSY, NULL, 0);
  G_STATIC_ASSERT (LATCH_RC_LOCK_BUSY == 4);
  ASSERT_SEEN (f, "answer 1 1 4;");
  g_assert_cmpuint (latch_table_n_active (f->table), ==, 1);
}

/* A cancel unlocks the pending id upstream; a grant that crosses it is
 * not delivered. */
static void
test_cancel (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  LatchTableOwner *a = latch_table_owner_new (f->table, "a", NULL);
  LatchLockReq r = req ("R");
  guint64 id;

  latch_table_request (f->table, a, &r);
  id = last_lock_id ();
  upstream_answers (id, TRUE, LATCH_RC_LOCK_ENQUEUED, NULL, 0);
  ASSERT_SEEN (f, "answer 1 1 1;");
  g_assert_true (latch_table_cancel (f->table, a));
  assert_unlocked (0, id, "R", TRUE);
  upstream_answers (id, FALSE, LATCH_RC_OK, NULL, 9);
  ASSERT_SEEN (f, "");
  g_assert_cmpuint (the_upstream->unlocks->len, ==, 1);
  g_assert_cmpuint (latch_table_n_active (f->table), ==, 0);
}

/* A dropped owner's holds and its wait are all unlocked upstream. */
static void
test_drop_owner (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  LatchTableOwner *a = latch_table_owner_new (f->table, "a", NULL);
  LatchTableOwner *b = latch_table_owner_new (f->table, "b", NULL);
  LatchLockReq r1 = req ("R1");
  LatchLockReq r2 = req ("R2");
  guint64 id1, id2, idb;

  latch_table_request (f->table, a, &r1);
  id1 = last_lock_id ();
  upstream_answers (id1, TRUE, LATCH_RC_OK, NULL, 1);
  latch_table_request (f->table, a, &r2);
  id2 = last_lock_id ();
  latch_table_request (f->table, b, &r1);
  idb = last_lock_id ();
  ASSERT_SEEN (f, "answer 1 1 0 - 1;");
  latch_table_drop_owner (f->table, a);
  g_assert_cmpuint (the_upstream->unlocks->len, ==, 2);
  {
    g_autofree char *u1 = g_strdup_printf ("%" G_GUINT64_FORMAT ":R1:1", id1);
    g_autofree char *u2 = g_strdup_printf ("%" G_GUINT64_FORMAT ":R2:1", id2);
    gboolean both = (g_strcmp0 (the_upstream->unlocks->pdata[0], u1) == 0
                     && g_strcmp0 (the_upstream->unlocks->pdata[1], u2) == 0)
                    || (g_strcmp0 (the_upstream->unlocks->pdata[0], u2) == 0
                        && g_strcmp0 (the_upstream->unlocks->pdata[1], u1) == 0);

    g_assert_true (both);
  }
  /* The dropped owner's late grant is given back at once. */
  upstream_answers (id2, TRUE, LATCH_RC_OK, NULL, 2);
  ASSERT_SEEN (f, "");
  g_assert_cmpuint (the_upstream->unlocks->len, ==, 2);
  g_assert_cmpuint (latch_table_n_active (f->table), ==, 1);
  upstream_answers (idb, TRUE, LATCH_RC_OK, NULL, 3);
  ASSERT_SEEN (f, "answer 2 1 0 - 3;");
}

/* The upstream lost one lock (rc 8 after the grant): that owner hears it
 * with the reason. */
static void
test_loss (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  LatchTableOwner *a = latch_table_owner_new (f->table, "a", NULL);
  LatchLockReq r = req ("R");
  guint64 id;

  latch_table_request (f->table, a, &r);
  id = last_lock_id ();
  upstream_answers (id, TRUE, LATCH_RC_OK, NULL, 1);
  the_upstream->callbacks.answer_cb (the_upstream, id, FALSE, LATCH_RC_CONNECTION_CLOSED,
                                     NULL, FALSE, 0, "its lease expired",
                                     the_upstream->user_data);
  ASSERT_SEEN (f, "answer 1 1 0 - 1;lost 1 R the daemon at 192.0.2.1 port 28015: its "
                  "lease expired;");
  g_assert_false (latch_table_release (f->table, a, "R", FALSE));
  g_assert_cmpuint (the_upstream->unlocks->len, ==, 0);
  g_assert_cmpuint (latch_table_n_active (f->table), ==, 0);
}

/* The session went down: holders lose their locks (with the reason),
 * unanswered requests are refused rc 7, queued ones rc 8; a callback may
 * drop its owner; the table works again afterwards. */
static void
test_down (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  LatchTableOwner *a = latch_table_owner_new (f->table, "a", NULL);
  LatchTableOwner *b = latch_table_owner_new (f->table, "b", NULL);
  LatchTableOwner *c = latch_table_owner_new (f->table, "c", NULL);
  LatchLockReq r = req ("R");
  LatchLockReq s = req ("S");
  guint64 ida, idb;
  g_autofree char *got = NULL;

  latch_table_request (f->table, a, &r);
  ida = last_lock_id ();
  upstream_answers (ida, TRUE, LATCH_RC_OK, NULL, 1);
  latch_table_request (f->table, b, &r);
  idb = last_lock_id ();
  upstream_answers (idb, TRUE, LATCH_RC_LOCK_ENQUEUED, NULL, 0);
  latch_table_request (f->table, c, &s);
  ASSERT_SEEN (f, "answer 1 1 0 - 1;answer 2 1 1;");
  f->rec.drop_on_lost = a;
  upstream_goes_down ("the daemon at 192.0.2.1 port 28015: no message for 2000 ms");
  got = seen (f);
  /* Order over owners is the hash table's: check each part. */
  g_assert_nonnull (strstr (got, "lost 1 R the daemon at 192.0.2.1 port 28015: no message "
                                 "for 2000 ms;"));
  g_assert_nonnull (strstr (got, "answer 2 0 8;"));
  g_assert_nonnull (strstr (got, "answer 3 1 7;"));
  g_assert_cmpuint (latch_table_n_active (f->table), ==, 0);
  /* Nothing was unlocked: the upstream released it all with the session. */
  g_assert_cmpuint (the_upstream->unlocks->len, ==, 0);
  /* Later answers for the old ids reach nobody; new requests work. */
  upstream_answers (idb, FALSE, LATCH_RC_OK, NULL, 4);
  ASSERT_SEEN (f, "");
  latch_table_request (f->table, b, &r);
  upstream_answers (last_lock_id (), TRUE, LATCH_RC_OK, NULL, 5);
  ASSERT_SEEN (f, "answer 2 1 0 - 5;");
}

/* After shutdown (the daemon exiting) nothing is delivered, and owners
 * dropped then still unlock upstream. */
static void
test_shutdown (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  LatchTableOwner *a = latch_table_owner_new (f->table, "a", NULL);
  LatchLockReq r = req ("R");
  guint64 id;

  latch_table_request (f->table, a, &r);
  id = last_lock_id ();
  latch_table_shutdown (f->table);
  upstream_answers (id, TRUE, LATCH_RC_OK, NULL, 1);
  upstream_goes_down ("gone");
  ASSERT_SEEN (f, "");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, setup, fn, teardown)
  ADD ("/table/upstream/grant-release", test_grant_release);
  ADD ("/table/upstream/fresh-ids", test_fresh_ids);
  ADD ("/table/upstream/cancel", test_cancel);
  ADD ("/table/upstream/drop-owner", test_drop_owner);
  ADD ("/table/upstream/loss", test_loss);
  ADD ("/table/upstream/down", test_down);
  ADD ("/table/upstream/shutdown", test_shutdown);
  return g_test_run ();
}
