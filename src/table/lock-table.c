/* lock-table.c: the part of the lock-table seam every backend shares.
 *
 * It keeps the owners (id -> owner) and each owner's request
 * in flight, and filters what backends report so that the guarantees of
 * lock-table.h hold whatever the backend does: nothing for an owner that
 * was dropped, nothing for a request that is not the owner's current one,
 * nothing once the table is shut down.
 *
 * Callbacks may re-enter the table (an answer makes the session close a
 * connection, whose owner is then dropped).  An owner dropped while a
 * public call is in progress is unlinked at once but freed only when the
 * outermost call returns, so that no frame above still holding its
 * pointer reads freed memory. */
#include "config.h"

#include "table/lock-table.h"

#include "common/log.h"
#include "table/table-backend.h"

#include <string.h>

static void
owner_free (gpointer data)
{
  LatchTableOwner *owner = data;

  g_free (owner->key);
  g_free (owner->label);
  g_free (owner);
}

static void
enter (LatchTable *table)
{
  table->depth++;
}

static void
leave (LatchTable *table)
{
  g_assert (table->depth > 0);
  if (--table->depth == 0)
    g_ptr_array_set_size (table->graveyard, 0);
}

void
latch_table_init (LatchTable *table, const LatchTableBackend *backend,
                  const char *instance)
{
  table->backend = backend;
  table->instance = g_strdup (instance != NULL ? instance : "");
  table->owners = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, owner_free);
  table->graveyard = g_ptr_array_new_with_free_func (owner_free);
  table->ready = TRUE;
}

void
latch_table_answer_clear (LatchTableAnswer *answer)
{
  g_clear_pointer (&answer->element, g_free);
  g_clear_pointer (&answer->reason, g_free);
}

void
latch_table_set_callbacks (LatchTable *table, const LatchTableCallbacks *callbacks,
                           gpointer user_data)
{
  table->callbacks = callbacks;
  table->user_data = user_data;
}

const char *
latch_table_backend_name (const LatchTable *table)
{
  return table->backend->name;
}

gboolean
latch_table_is_ready (const LatchTable *table)
{
  return table->ready;
}

void
latch_table_set_ready (LatchTable *table, gboolean ready)
{
  if (table->ready != ready)
    latch_log_info ("lock table (%s): %s", table->backend->name,
                    ready ? "ready" : "not ready");
  table->ready = ready;
}

LatchTableOwner *
latch_table_owner_new (LatchTable *table, const char *label, gpointer user_data)
{
  LatchTableOwner *owner = g_new0 (LatchTableOwner, 1);

  owner->id = ++table->next_owner_id;
  owner->label = g_strdup (label);
  owner->user_data = user_data;
  /* The id is the first member of a guint64-keyed table. */
  g_hash_table_insert (table->owners, &owner->id, owner);
  return owner;
}

const char *
latch_table_owner_key (LatchTable *table, LatchTableOwner *owner)
{
  if (owner->key == NULL)
    owner->key = g_strdup_printf ("%s.%" G_GUINT64_FORMAT, table->instance, owner->id);
  return owner->key;
}

/* The owner of ours a key names, or NULL (another daemon's, or gone). */
static LatchTableOwner *
owner_by_key (LatchTable *table, const char *key)
{
  gsize len = strlen (table->instance);
  const char *digits;
  char *end;
  guint64 id;

  if (key == NULL || strncmp (key, table->instance, len) != 0 || key[len] != '.')
    return NULL;
  digits = key + len + 1;
  if (!g_ascii_isdigit (*digits))
    return NULL;
  id = g_ascii_strtoull (digits, &end, 10);
  if (*end != '\0')
    return NULL;
  return g_hash_table_lookup (table->owners, &id);
}

void
latch_table_drop_owner (LatchTable *table, LatchTableOwner *owner)
{
  g_return_if_fail (owner != NULL);

  enter (table);
  /* Unknown first: whatever the backend reports from here on about this
   * owner (grants that its release causes for it cannot exist, but a
   * remote reply may be on its way) is dropped. */
  g_hash_table_steal (table->owners, &owner->id);
  g_ptr_array_add (table->graveyard, owner);
  table->backend->drop_owner (table, owner);
  leave (table);
}

LatchTableOutcome
latch_table_request (LatchTable *table, LatchTableOwner *owner, const LatchLockReq *req)
{
  LatchTableOutcome outcome;

  g_return_val_if_fail (owner != NULL && req != NULL, LATCH_TABLE_PENDING);
  g_return_val_if_fail (owner->req_id == 0, LATCH_TABLE_PENDING);

  enter (table);
  owner->req_id = ++table->next_req_id;
  owner->req_answered = FALSE;
  outcome = table->backend->request (table, owner, owner->req_id, req);
  leave (table);
  return outcome;
}

gboolean
latch_table_cancel (LatchTable *table, LatchTableOwner *owner)
{
  g_return_val_if_fail (owner != NULL, FALSE);

  if (owner->req_id == 0)
    return FALSE;
  enter (table);
  /* Forgotten before the backend hears of it: a grant the cancel causes
   * or crosses is not delivered. */
  owner->req_id = 0;
  owner->req_answered = FALSE;
  table->backend->cancel (table, owner);
  leave (table);
  return TRUE;
}

gboolean
latch_table_release (LatchTable *table, LatchTableOwner *owner, const char *name,
                     gboolean rollback)
{
  gboolean released;

  g_return_val_if_fail (owner != NULL && name != NULL, FALSE);

  enter (table);
  released = table->backend->release (table, owner, name, rollback);
  leave (table);
  return released;
}

guint
latch_table_n_resources (const LatchTable *table)
{
  return table->backend->n_resources (table);
}

guint
latch_table_n_active (const LatchTable *table)
{
  return table->backend->n_active (table);
}

static gboolean
is_final (LatchLockStatus status)
{
  return status != LATCH_LOCK_QUEUED && status != LATCH_LOCK_WAIT_RESOURCE;
}

gboolean
latch_table_emit_answer (LatchTable *table, guint64 owner_id, guint64 req_id,
                         LatchTableAnswer *answer)
{
  LatchTableOwner *owner;
  gboolean first;

  if (table->shut_down)
    {
      /* The daemon is exiting: never hand out a grant on a connection
       * about to be closed. */
      latch_table_answer_clear (answer);
      return FALSE;
    }
  owner = g_hash_table_lookup (table->owners, &owner_id);
  if (owner == NULL || req_id == 0 || owner->req_id != req_id)
    {
      latch_log_debug ("lock table (%s): answer rc %d to %s request %" G_GUINT64_FORMAT
                       " dropped", table->backend->name, (int)answer->status,
                       owner == NULL ? "a gone owner's" : "a withdrawn", req_id);
      latch_table_answer_clear (answer);
      return FALSE;
    }
  first = !owner->req_answered;
  if (is_final (answer->status))
    {
      owner->req_id = 0;
      owner->req_answered = FALSE;
    }
  else
    owner->req_answered = TRUE;
  enter (table);
  if (table->callbacks != NULL && table->callbacks->answer_cb != NULL)
    table->callbacks->answer_cb (table, owner, first, answer, table->user_data);
  leave (table);
  latch_table_answer_clear (answer);
  return TRUE;
}

gboolean
latch_table_emit_lost (LatchTable *table, guint64 owner_id, const char *name,
                       const GError *reason)
{
  LatchTableOwner *owner;

  if (table->shut_down)
    return FALSE;
  owner = g_hash_table_lookup (table->owners, &owner_id);
  if (owner == NULL)
    return FALSE;
  enter (table);
  if (table->callbacks != NULL && table->callbacks->lost_cb != NULL)
    table->callbacks->lost_cb (table, owner, name, reason, table->user_data);
  leave (table);
  return TRUE;
}

void
latch_table_emit_changed (LatchTable *table)
{
  if (table->shut_down)
    return;
  enter (table);
  if (table->callbacks != NULL && table->callbacks->changed_cb != NULL)
    table->callbacks->changed_cb (table, table->user_data);
  leave (table);
}

static void
rsrc_status_free (gpointer data)
{
  LatchTableRsrcStatus *rsrc = data;

  g_free (rsrc->name);
  g_array_unref (rsrc->locks);
  g_free (rsrc);
}

static void
lock_status_clear (gpointer data)
{
  LatchTableLockStatus *lock = data;

  g_free (lock->owner_key);
  g_free (lock->owner_label);
  g_free (lock->name);
  g_free (lock->element);
}

static int
compare_rsrc (gconstpointer a, gconstpointer b)
{
  const LatchTableRsrcStatus *ra = *(const LatchTableRsrcStatus *const *)a;
  const LatchTableRsrcStatus *rb = *(const LatchTableRsrcStatus *const *)b;
  int cmp = strcmp (ra->name, rb->name);

  /* A name both exists and is waited for only transiently; keep the
   * order total anyway. */
  return cmp != 0 ? cmp : (int)rb->exists - (int)ra->exists;
}

LatchTableRsrcStatus *
latch_table_rsrc_status_new (const char *name)
{
  LatchTableRsrcStatus *rsrc = g_new0 (LatchTableRsrcStatus, 1);

  rsrc->name = g_strdup (name);
  rsrc->expiry_us = -1;
  rsrc->locks = g_array_new (FALSE, TRUE, sizeof (LatchTableLockStatus));
  g_array_set_clear_func (rsrc->locks, lock_status_clear);
  return rsrc;
}

LatchTableSnapshot *
latch_table_snapshot (LatchTable *table)
{
  LatchTableSnapshot *snapshot = g_new0 (LatchTableSnapshot, 1);

  snapshot->resources = g_ptr_array_new_with_free_func (rsrc_status_free);
  table->backend->snapshot (table, snapshot);
  for (guint i = 0; i < snapshot->resources->len; i++)
    {
      LatchTableRsrcStatus *rsrc = snapshot->resources->pdata[i];

      for (guint j = 0; j < rsrc->locks->len; j++)
        {
          LatchTableLockStatus *lock = &g_array_index (rsrc->locks, LatchTableLockStatus, j);
          LatchTableOwner *owner = owner_by_key (table, lock->owner_key);

          if (owner != NULL)
            {
              lock->owner_id = owner->id;
              g_free (lock->owner_label);
              lock->owner_label = g_strdup (owner->label);
              lock->owner_data = owner->user_data;
            }
        }
    }
  g_ptr_array_sort (snapshot->resources, compare_rsrc);
  return snapshot;
}

void
latch_table_snapshot_free (LatchTableSnapshot *snapshot)
{
  if (snapshot == NULL)
    return;
  g_ptr_array_unref (snapshot->resources);
  g_free (snapshot);
}

void
latch_table_shutdown (LatchTable *table)
{
  if (table->shut_down)
    return;
  table->shut_down = TRUE;
  if (table->backend->shutdown != NULL)
    table->backend->shutdown (table);
}

void
latch_table_free (LatchTable *table)
{
  if (table == NULL)
    return;
  g_return_if_fail (table->depth == 0);
  latch_table_shutdown (table);
  table->backend->free (table);
  g_hash_table_destroy (table->owners);
  g_ptr_array_unref (table->graveyard);
  g_free (table->instance);
  g_free (table);
}
