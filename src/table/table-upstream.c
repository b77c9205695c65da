/* table-upstream.c: the lock table of the local agent (latchd --agent):
 * another latchd, reached over one session (agent/upstream.h) that
 * carries the requests of every local owner.
 *
 * Each local request becomes an upstream request under its own id: the
 * table's request id, unique for the table's life, as the session
 * extension wants (an id is never reused on a session).  The upstream
 * decides everything; this file only remembers, per id, whose request it
 * is and whether it is held, so that answers and losses go back to the
 * right owner, and an owner's release, cancel or end goes upstream under
 * the right id.  Nothing here points at an owner: entries name it by id,
 * and a late answer about an owner that is gone finds nothing in the
 * generic layer (a grant that arrives for nobody is given back at once).
 *
 * When the session is lost (down_cb), every owner holding a lock loses
 * it (lost_cb, with the upstream's reason), and every request in flight
 * is refused: rc 7 (LATCH_RC_CONNECTION_REFUSED) when it had no answer
 * yet (the upstream could not be reached, or not in time), rc 8
 * (LATCH_RC_CONNECTION_CLOSED) when it was queued there.  Neither is a
 * LatchLockStatus of the locker's: the values are the wire rc, which is
 * what the session code sends. */
#include "config.h"

#include "table/lock-table.h"

#include "common/error.h"
#include "common/log.h"
#include "table/table-backend.h"

#include <string.h>

typedef struct
{
  guint64 id;             /* the upstream id: the table's request id */
  guint64 owner_id;
  char *name;
  LatchLockMode mode;
  int quantity;
  LatchLockStatus status; /* GRANTED (held), QUEUED, WAIT_RESOURCE; or
                             -1: no answer yet */
  /* For status snapshots: when asked, then when granted (this host's
   * clock); the grant's token and element as the upstream gave them. */
  gint64 since_us;
  guint64 fence;
  char *element;
} Entry;

typedef struct
{
  LatchTable parent;
  LatchUpstream *up;
  GHashTable *entries;  /* guint64 id -> Entry (owned) */
  GHashTable *by_owner; /* guint64 owner id -> GPtrArray of Entry (not owned) */
  gboolean freeing;
} UpstreamTable;

#define NO_ANSWER ((LatchLockStatus)-1)

static void
entry_free (gpointer data)
{
  Entry *e = data;

  g_free (e->name);
  g_free (e->element);
  g_free (e);
}

static GPtrArray *
owner_entries (UpstreamTable *u, guint64 owner_id)
{
  return g_hash_table_lookup (u->by_owner, &owner_id);
}

/* Forgets an entry (and frees it). */
static void
entry_remove (UpstreamTable *u, Entry *e)
{
  GPtrArray *list = owner_entries (u, e->owner_id);

  if (list != NULL)
    {
      g_ptr_array_remove_fast (list, e);
      if (list->len == 0)
        g_hash_table_remove (u->by_owner, &e->owner_id);
    }
  g_hash_table_remove (u->entries, &e->id);
}

static gboolean
is_held (const Entry *e)
{
  return e->status == LATCH_LOCK_GRANTED;
}

static void
answer_cb (LatchUpstream *up, guint64 id, gboolean first G_GNUC_UNUSED, int rc,
           const char *element, gboolean has_fence, guint64 fence, const char *reason,
           gpointer user_data)
{
  UpstreamTable *u = user_data;
  Entry *e = g_hash_table_lookup (u->entries, &id);
  LatchTableAnswer answer = { 0 };
  guint64 owner_id;
  guint64 req_id;

  if (u->freeing)
    return;
  if (e == NULL)
    {
      /* Withdrawn or released here: the unlock that said so is on its
       * way, or was sent; nothing is owed to anyone. */
      latch_log_debug ("lock table (upstream): rc %d for id %" G_GUINT64_FORMAT
                       " that is no longer ours: ignored", rc, id);
      return;
    }
  owner_id = e->owner_id;
  if (is_held (e))
    {
      g_autoptr (GError) why = NULL;
      g_autofree char *name = NULL;

      if (rc != LATCH_RC_CONNECTION_CLOSED)
        {
          latch_log_debug ("lock table (upstream): rc %d for held id %" G_GUINT64_FORMAT
                           ": ignored", rc, id);
          return;
        }
      /* The upstream lost the lock (its own backend did). */
      why = g_error_new (LATCH_ERROR, LATCH_ERROR_CONNECTION_CLOSED, "%s: %s",
                         latch_upstream_label (up),
                         reason != NULL ? reason : "the lock was lost");
      name = g_strdup (e->name);
      entry_remove (u, e);
      latch_table_emit_lost (&u->parent, owner_id, name, why);
      return;
    }
  req_id = e->id;
  e->status = (LatchLockStatus)rc;
  if (rc == LATCH_RC_OK)
    {
      e->since_us = g_get_real_time ();
      e->fence = has_fence ? fence : 0;
      g_free (e->element);
      e->element = g_strdup (element);
    }
  if (rc != LATCH_RC_OK && rc != LATCH_RC_LOCK_ENQUEUED && rc != LATCH_RC_LOCK_WAIT_RESOURCE)
    {
      if (reason != NULL)
        latch_log_info ("lock table (upstream): '%s' refused (rc %d): %s", e->name, rc,
                        reason);
      entry_remove (u, e);
      e = NULL;
    }
  answer.status = (LatchLockStatus)rc;
  if (reason != NULL)
    answer.reason = g_strdup (reason);
  if (rc == LATCH_RC_OK)
    {
      answer.fence = has_fence ? fence : 0;
      answer.element = g_strdup (element);
    }
  if (!latch_table_emit_answer (&u->parent, owner_id, req_id, &answer) && rc == LATCH_RC_OK)
    {
      /* A grant for an owner that is gone, or a request it withdrew
       * while the grant was on its way: give it back. */
      e = g_hash_table_lookup (u->entries, &id);
      if (e != NULL)
        {
          latch_upstream_unlock (u->up, id, e->name, TRUE);
          entry_remove (u, e);
        }
    }
}

static void
down_cb (LatchUpstream *up G_GNUC_UNUSED, const GError *reason, gpointer user_data)
{
  UpstreamTable *u = user_data;
  g_autoptr (GPtrArray) gone = g_ptr_array_new_with_free_func (entry_free);
  GHashTableIter iter;
  gpointer value;

  if (u->freeing)
    return;
  latch_log_info ("lock table (upstream): %s (%u locks and requests lost)",
                  reason != NULL ? reason->message : "the session ended",
                  g_hash_table_size (u->entries));
  /* Everything is forgotten first: the callbacks below may call back
   * into the table (drop an owner, even ask again), and must find a table
   * that no longer has these ids. */
  g_hash_table_iter_init (&iter, u->entries);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      g_ptr_array_add (gone, value);
      g_hash_table_iter_steal (&iter);
    }
  g_hash_table_remove_all (u->by_owner);
  for (guint i = 0; i < gone->len; i++)
    {
      Entry *e = gone->pdata[i];

      if (is_held (e))
        latch_table_emit_lost (&u->parent, e->owner_id, e->name, reason);
      else
        {
          LatchTableAnswer answer = { 0 };

          answer.status = (LatchLockStatus)(e->status == NO_ANSWER
                                                ? LATCH_RC_CONNECTION_REFUSED
                                                : LATCH_RC_CONNECTION_CLOSED);
          if (reason != NULL)
            answer.reason = g_strdup (reason->message);
          latch_table_emit_answer (&u->parent, e->owner_id, e->id, &answer);
        }
      if (u->parent.shut_down)
        break;
    }
}

static const LatchUpstreamCallbacks upstream_callbacks = {
  .answer_cb = answer_cb,
  .down_cb = down_cb,
  .up_cb = NULL,
};

static LatchTableOutcome
upstream_request (LatchTable *table, LatchTableOwner *owner, guint64 req_id,
                  const LatchLockReq *req)
{
  UpstreamTable *u = (UpstreamTable *)table;
  Entry *e = g_new0 (Entry, 1);
  GPtrArray *list = owner_entries (u, owner->id);

  e->id = req_id;
  e->owner_id = owner->id;
  e->name = g_strdup (req->name);
  e->mode = req->mode;
  e->quantity = req->quantity;
  e->status = NO_ANSWER;
  e->since_us = g_get_real_time ();
  if (list == NULL)
    {
      guint64 *key = g_new (guint64, 1);

      *key = owner->id;
      list = g_ptr_array_new ();
      g_hash_table_insert (u->by_owner, key, list);
    }
  g_ptr_array_add (list, e);
  g_hash_table_insert (u->entries, &e->id, e);
  /* May answer from inside (a connect that fails at once): the entry is
   * in place for it. */
  latch_upstream_lock (u->up, req_id, req);
  return LATCH_TABLE_PENDING;
}

/* The owner's entry that is not held: its request in flight, if any. */
static Entry *
pending_entry (UpstreamTable *u, guint64 owner_id)
{
  GPtrArray *list = owner_entries (u, owner_id);

  for (guint i = 0; list != NULL && i < list->len; i++)
    if (!is_held (list->pdata[i]))
      return list->pdata[i];
  return NULL;
}

static void
upstream_cancel (LatchTable *table, LatchTableOwner *owner)
{
  UpstreamTable *u = (UpstreamTable *)table;
  Entry *e = pending_entry (u, owner->id);

  if (e == NULL)
    return;
  /* A grant that crosses the cancel is given back by the upstream: the
   * id is unlocked whatever it has become there. */
  latch_upstream_unlock (u->up, e->id, e->name, TRUE);
  entry_remove (u, e);
}

static gboolean
upstream_release (LatchTable *table, LatchTableOwner *owner, const char *name,
                  gboolean rollback)
{
  UpstreamTable *u = (UpstreamTable *)table;
  GPtrArray *list = owner_entries (u, owner->id);

  for (guint i = 0; list != NULL && i < list->len; i++)
    {
      Entry *e = list->pdata[i];

      if (is_held (e) && strcmp (e->name, name) == 0)
        {
          latch_upstream_unlock (u->up, e->id, e->name, rollback);
          entry_remove (u, e);
          return TRUE;
        }
    }
  return FALSE;
}

static void
upstream_drop_owner (LatchTable *table, LatchTableOwner *owner)
{
  UpstreamTable *u = (UpstreamTable *)table;
  GPtrArray *list;

  while ((list = owner_entries (u, owner->id)) != NULL && list->len > 0)
    {
      Entry *e = list->pdata[list->len - 1];

      latch_upstream_unlock (u->up, e->id, e->name, TRUE);
      entry_remove (u, e);
    }
}

/* What the agent's own lifetime counts: the local holds and waits (the
 * upstream keeps its idle resources, not the agent). */
static guint
upstream_n_resources (const LatchTable *table)
{
  return g_hash_table_size (((const UpstreamTable *)table)->entries);
}

static guint
upstream_n_active (const LatchTable *table)
{
  return g_hash_table_size (((const UpstreamTable *)table)->entries);
}

static int
compare_entries (gconstpointer a, gconstpointer b)
{
  const Entry *ea = *(const Entry *const *)a;
  const Entry *eb = *(const Entry *const *)b;
  int cmp = strcmp (ea->name, eb->name);

  if (cmp != 0)
    return cmp;
  /* Holders first, then waiters; each in request order. */
  if (is_held (ea) != is_held (eb))
    return is_held (ea) ? -1 : 1;
  return ea->id < eb->id ? -1 : ea->id > eb->id;
}

/* What the agent knows: its local owners' holds and waits, by the name
 * they asked for (other hosts' locks are the upstream's to show). */
static void
upstream_snapshot (LatchTable *table, LatchTableSnapshot *snapshot)
{
  UpstreamTable *u = (UpstreamTable *)table;
  g_autoptr (GPtrArray) all = g_ptr_array_new ();
  LatchTableRsrcStatus *current = NULL;
  GHashTableIter iter;
  gpointer value;

  snapshot->taken_us = g_get_real_time ();
  g_hash_table_iter_init (&iter, u->entries);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (all, value);
  g_ptr_array_sort (all, compare_entries);
  for (guint i = 0; i < all->len; i++)
    {
      Entry *e = all->pdata[i];
      LatchTableOwner *owner = g_hash_table_lookup (table->owners, &e->owner_id);
      LatchTableLockStatus lock = { 0 };

      if (owner == NULL)
        continue;
      if (current == NULL || strcmp (current->name, e->name) != 0)
        {
          current = latch_table_rsrc_status_new (e->name);
          current->exists = TRUE;
          g_ptr_array_add (snapshot->resources, current);
        }
      lock.owner_key = g_strdup (latch_table_owner_key (table, owner));
      lock.name = g_strdup (e->name);
      lock.mode = e->mode;
      lock.quantity = e->quantity;
      lock.since_us = e->since_us;
      if (is_held (e))
        {
          lock.fence = e->fence;
          lock.element = g_strdup (e->element);
        }
      lock.place = is_held (e)                           ? LATCH_TABLE_HOLDING
                   : e->status == LATCH_LOCK_WAIT_RESOURCE ? LATCH_TABLE_WAITING_CREATION
                                                           : LATCH_TABLE_QUEUED;
      g_array_append_val (current->locks, lock);
    }
}

static void
upstream_free (LatchTable *table)
{
  UpstreamTable *u = (UpstreamTable *)table;

  /* Closing the session releases everything upstream at once. */
  u->freeing = TRUE;
  g_clear_pointer (&u->up, latch_upstream_free);
  g_clear_pointer (&u->by_owner, g_hash_table_destroy);
  g_clear_pointer (&u->entries, g_hash_table_destroy);
}

static const LatchTableBackend upstream_backend = {
  .name = "upstream",
  .request = upstream_request,
  .cancel = upstream_cancel,
  .release = upstream_release,
  .drop_owner = upstream_drop_owner,
  .n_resources = upstream_n_resources,
  .n_active = upstream_n_active,
  .snapshot = upstream_snapshot,
  .shutdown = NULL,
  .free = upstream_free,
};

static void
owner_list_free (gpointer data)
{
  g_ptr_array_unref (data);
}

LatchTable *
latch_table_upstream_new (const LatchUpstreamConfig *config, const char *instance)
{
  UpstreamTable *u = g_new0 (UpstreamTable, 1);

  latch_table_init (&u->parent, &upstream_backend, instance);
  u->entries = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, entry_free);
  u->by_owner = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, owner_list_free);
  u->up = latch_upstream_new (config, &upstream_callbacks, u);
  return &u->parent;
}
