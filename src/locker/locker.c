/* locker.c: every resource of a daemon, and who holds or waits for what.
 *
 * Data structures
 *  - resources: identity -> Resource.  Each Resource has its holders and
 *    its FIFO queue, as GQueues whose links are embedded in the entries.
 *  - incubator: identity -> GQueue of entries waiting for that resource to
 *    be created (create=FALSE, wait=TRUE), in arrival order.
 *  - owners: owner -> GQueue of all its entries (holds, queued request,
 *    creation waits), so that dropping an owner costs O(what it has), not
 *    O(all resources).
 *  - expiries: the idle resources, sorted by the time they are destroyed.
 * An Entry is one request of one owner: it is incubating, queued or held,
 * and sits in exactly one "place" queue and in its owner's queue.
 *
 * Same owner twice: the daemon lets an owner have at most one request in
 * flight, but it may ask for a resource it already holds.  The locker
 * does not refuse that: the new request is handled like anybody else's,
 * so it is granted when compatible with the holders (the owner then holds
 * two locks on the resource, and each unlock releases the older one) and
 * otherwise queues behind the owner's own hold, until that is released.
 *
 * Types: one LatchRsrcClass each (rsrc-*.c), chosen by class_for_type(). */
#include "config.h"

#include "locker/locker.h"

#include "locker/rsrc.h"

#include <string.h>

typedef struct _Resource Resource;

typedef enum
{
  ENTRY_NEW,         /* placed nowhere yet */
  ENTRY_INCUBATING,  /* in an incubator queue */
  ENTRY_QUEUED,      /* in its resource's queue */
  ENTRY_HELD,        /* in its resource's holders */
} EntryState;

typedef struct
{
  gpointer owner;
  EntryState state;
  char *name;          /* the request's name; hold.req.name points here */
  char *identity;      /* of the resource it is for */
  Resource *rsrc;      /* QUEUED and HELD */
  LatchRsrcHold hold;  /* the request, and the type's data once held */
  gint64 since_us;     /* when granted (HELD); else when requested */
  guint64 fence;       /* HELD: the grant's token */
  char *element;       /* HELD: what the grant handed out, or NULL */
  gboolean indexed;    /* linked into its owner's queue */
  GList owner_link;    /* in the owner's queue */
  GList place_link;    /* in an incubator queue, rsrc->queue or rsrc->holds */
} Entry;

struct _Resource
{
  char *identity;
  const LatchRsrcClass *klass;
  gpointer state;
  int lifespan;                /* idle lifespan, ms */
  GQueue holds;                /* Entry, in grant order */
  GQueue queue;                /* Entry, FIFO */
  gint64 expiry;               /* while idle: when it goes; else -1 */
  GSequenceIter *expiry_iter;  /* in locker->expiries while idle */
  guint64 serial;              /* orders equal expiries */
  gboolean touched;            /* scratch flag for drop_owner */
};

struct _LatchLocker
{
  GHashTable *resources;  /* identity (the Resource's) -> Resource, owned */
  GHashTable *incubator;  /* identity (owned) -> GQueue of Entry */
  GHashTable *owners;     /* owner -> GQueue of Entry */
  GSequence *expiries;    /* idle Resources, soonest first */
  GHashTable *timed;      /* set of Resources with a queue and next_wakeup */
  guint64 next_fence;
  guint64 next_serial;
  int idle_lifespan_min;  /* ms, >= 0 */
  guint max_locks;        /* the limits of LatchLockerConfig; 0: none */
  guint max_resources;
  guint max_waiters;
  int max_idle_lifespan;
  guint n_active;         /* entries linked to an owner */
};

/* The class for a type, NULL when this daemon does not handle it. */
static const LatchRsrcClass *
class_for_type (LatchRsrcType type)
{
  switch (type)
    {
    case LATCH_RSRC_SIMPLE:
      return &latch_rsrc_simple_class;
    case LATCH_RSRC_NUMERIC:
      return &latch_rsrc_numeric_class;
    case LATCH_RSRC_SET:
      return &latch_rsrc_set_class;
    case LATCH_RSRC_HIER:
      return &latch_rsrc_hier_class;
    case LATCH_RSRC_SEQUENCE:
      return &latch_rsrc_sequence_class;
    case LATCH_RSRC_TIMESTAMP:
      return &latch_rsrc_timestamp_class;
    case LATCH_RSRC_INVALID:
    default:
      return NULL;
    }
}

/* A resource is identified by its full name, except a hierarchical one,
 * which is identified by its first segment: "/a/b" and "/a/c" share the
 * resource "/a" (the leading slash keeps it apart from a simple "a"). */
static char *
identity_of (const char *name, LatchRsrcType type)
{
  if (type == LATCH_RSRC_HIER)
    {
      const char *end = strchr (name + 1, '/');

      if (end != NULL)
        return g_strndup (name, end - name);
    }
  return g_strdup (name);
}

static Entry *
entry_new (gpointer owner, const LatchLockReq *req, const char *identity,
           gint64 now_us)
{
  Entry *entry = g_new0 (Entry, 1);

  entry->since_us = now_us;
  entry->owner = owner;
  entry->state = ENTRY_NEW;
  entry->name = g_strdup (req->name);
  entry->identity = g_strdup (identity);
  entry->hold.req = *req;
  entry->hold.req.name = entry->name;
  entry->owner_link.data = entry;
  entry->place_link.data = entry;
  return entry;
}

static void
entry_free (Entry *entry)
{
  g_free (entry->name);
  g_free (entry->identity);
  g_free (entry->element);
  g_free (entry);
}

/* Empties a GQueue whose links are embedded in entries, then frees it. */
static void
embedded_queue_free (gpointer data)
{
  GQueue *queue = data;

  while (g_queue_pop_head_link (queue) != NULL)
    ;
  g_queue_free (queue);
}

static void
owner_index_add (LatchLocker *locker, Entry *entry)
{
  GQueue *queue = g_hash_table_lookup (locker->owners, entry->owner);

  g_assert (!entry->indexed);
  if (queue == NULL)
    {
      queue = g_queue_new ();
      g_hash_table_insert (locker->owners, entry->owner, queue);
    }
  g_queue_push_tail_link (queue, &entry->owner_link);
  entry->indexed = TRUE;
  locker->n_active++;
}

static void
owner_index_remove (LatchLocker *locker, Entry *entry)
{
  GQueue *queue = g_hash_table_lookup (locker->owners, entry->owner);

  g_assert (entry->indexed && queue != NULL);
  g_queue_unlink (queue, &entry->owner_link);
  if (g_queue_is_empty (queue))
    {
      g_hash_table_remove (locker->owners, entry->owner);
      g_queue_free (queue);
    }
  entry->indexed = FALSE;
  locker->n_active--;
}

static void
resource_free (gpointer data)
{
  Resource *rsrc = data;

  rsrc->klass->free (rsrc->state);
  g_free (rsrc->identity);
  g_free (rsrc);
}

static int
compare_expiry (gconstpointer a, gconstpointer b,
                gpointer user_data G_GNUC_UNUSED)
{
  const Resource *ra = a;
  const Resource *rb = b;

  if (ra->expiry != rb->expiry)
    return ra->expiry < rb->expiry ? -1 : 1;
  if (ra->serial != rb->serial)
    return ra->serial < rb->serial ? -1 : 1;
  return 0;
}

/* Destroys an idle resource (no holders, no queue). */
static void
resource_destroy (LatchLocker *locker, Resource *rsrc)
{
  g_assert (g_queue_is_empty (&rsrc->holds));
  g_assert (g_queue_is_empty (&rsrc->queue));

  g_clear_pointer (&rsrc->expiry_iter, g_sequence_remove);
  g_hash_table_remove (locker->timed, rsrc);
  g_hash_table_steal (locker->resources, rsrc->identity);
  resource_free (rsrc);
}

/* Keeps locker->timed up to date after rsrc's queue changed. */
static void
update_timed (LatchLocker *locker, Resource *rsrc)
{
  if (rsrc->klass->next_wakeup != NULL && !g_queue_is_empty (&rsrc->queue))
    g_hash_table_add (locker->timed, rsrc);
  else
    g_hash_table_remove (locker->timed, rsrc);
}

/* Starts or stops rsrc's idle countdown, which lasts its lifespan or the
 * locker's minimum, whichever is longer; when both are 0 an idle resource
 * is destroyed here, so rsrc must not be used after this call. */
static void
update_idle (LatchLocker *locker, Resource *rsrc, gint64 now_us)
{
  gboolean idle = g_queue_is_empty (&rsrc->holds)
                  && g_queue_is_empty (&rsrc->queue)
                  && (rsrc->klass->is_idle == NULL
                      || rsrc->klass->is_idle (rsrc->state));

  if (!idle)
    {
      g_clear_pointer (&rsrc->expiry_iter, g_sequence_remove);
      rsrc->expiry = -1;
      return;
    }
  if (rsrc->expiry_iter != NULL)
    return; /* already counting down since it became idle */
  rsrc->expiry = now_us
                 + (gint64) MAX (rsrc->lifespan, locker->idle_lifespan_min)
                       * 1000;
  /* A type may need its state kept a while longer (a timestamp resource
   * until its current time slot is over, so that a new resource of the
   * same name cannot issue the same stamp again). */
  if (rsrc->klass->busy_until != NULL)
    rsrc->expiry = MAX (rsrc->expiry, rsrc->klass->busy_until (rsrc->state));
  if (rsrc->expiry <= now_us)
    {
      resource_destroy (locker, rsrc);
      return;
    }
  rsrc->expiry_iter = g_sequence_insert_sorted (locker->expiries, rsrc,
                                                compare_expiry, NULL);
}

static void
push_event (GArray *events, gpointer owner, LatchLockStatus status,
            guint64 fence, char *element)
{
  LatchLockEvent event = {
    .owner = owner,
    .status = status,
    .fence = fence,
    .element = element,
  };

  g_array_append_val (events, event);
}

/* Grants entry (in no place queue) on rsrc. */
static void
grant (LatchLocker *locker, Resource *rsrc, Entry *entry, gint64 now_us,
       guint64 *fence_out, char **element_out)
{
  *element_out = rsrc->klass->grant (rsrc->state, &entry->hold, now_us);
  entry->state = ENTRY_HELD;
  entry->rsrc = rsrc;
  g_queue_push_tail_link (&rsrc->holds, &entry->place_link);
  *fence_out = locker->next_fence++;
  /* Kept for status snapshots: who holds since when, with what. */
  entry->since_us = now_us;
  entry->fence = *fence_out;
  entry->element = g_strdup (*element_out);
}

/* Handles entry (ENTRY_NEW) as a request that has just arrived at rsrc:
 * grants it if nobody is queued and the type admits it, else queues it if
 * it may wait.  On GRANTED and QUEUED the entry has its place on rsrc;
 * otherwise it is untouched and the caller disposes of it. */
static LatchLockStatus
admit (LatchLocker *locker, Resource *rsrc, Entry *entry, gint64 now_us,
       guint64 *fence_out, char **element_out)
{
  const LatchRsrcClass *klass = rsrc->klass;
  const LatchLockReq *req = &entry->hold.req;

  if (klass->is_possible != NULL && !klass->is_possible (rsrc->state, req))
    return LATCH_LOCK_IMPOSSIBLE;
  /* Strict FIFO: never overtake a queued request, even a compatible
   * newcomer (FLoM would grant it and can starve writers). */
  if (g_queue_is_empty (&rsrc->queue)
      && klass->is_grantable (rsrc->state, req, now_us))
    {
      grant (locker, rsrc, entry, now_us, fence_out, element_out);
      return LATCH_LOCK_GRANTED;
    }
  if (!req->wait)
    return LATCH_LOCK_BUSY;
  if (locker->max_waiters > 0 && rsrc->queue.length >= locker->max_waiters)
    return LATCH_LOCK_LIMIT_WAITERS;
  entry->state = ENTRY_QUEUED;
  entry->rsrc = rsrc;
  g_queue_push_tail_link (&rsrc->queue, &entry->place_link);
  update_timed (locker, rsrc);
  return LATCH_LOCK_QUEUED;
}

/* Grants from the head of rsrc's queue for as long as the head is
 * grantable. */
static void
serve_queue (LatchLocker *locker, Resource *rsrc, gint64 now_us,
             GArray *events)
{
  const LatchRsrcClass *klass = rsrc->klass;
  GList *link;

  while ((link = rsrc->queue.head) != NULL)
    {
      Entry *entry = link->data;
      const LatchLockReq *req = &entry->hold.req;
      guint64 fence;
      char *element;

      if (klass->is_possible != NULL && !klass->is_possible (rsrc->state, req))
        {
          /* Cannot happen with today's types (possibility does not
           * change), but never leave a request queued for ever. */
          g_queue_unlink (&rsrc->queue, link);
          push_event (events, entry->owner, LATCH_LOCK_IMPOSSIBLE, 0, NULL);
          owner_index_remove (locker, entry);
          entry_free (entry);
          continue;
        }
      if (!klass->is_grantable (rsrc->state, req, now_us))
        break;
      g_queue_unlink (&rsrc->queue, link);
      grant (locker, rsrc, entry, now_us, &fence, &element);
      push_event (events, entry->owner, LATCH_LOCK_GRANTED, fence, element);
    }
  update_timed (locker, rsrc);
}

/* rsrc has just been created: the requests waiting for it are handled in
 * arrival order as if they had just arrived; their outcomes are events. */
static void
hatch (LatchLocker *locker, Resource *rsrc, gint64 now_us, GArray *events)
{
  gpointer key;
  gpointer value;
  GQueue *waiting;
  GList *link;

  if (!g_hash_table_steal_extended (locker->incubator, rsrc->identity, &key,
                                    &value))
    return;
  g_free (key);
  waiting = value;
  while ((link = g_queue_pop_head_link (waiting)) != NULL)
    {
      Entry *entry = link->data;
      LatchLockStatus status;
      guint64 fence = 0;
      char *element = NULL;

      entry->state = ENTRY_NEW;
      status = admit (locker, rsrc, entry, now_us, &fence, &element);
      push_event (events, entry->owner, status,
                  status == LATCH_LOCK_GRANTED ? fence : 0, element);
      if (status != LATCH_LOCK_GRANTED && status != LATCH_LOCK_QUEUED)
        {
          owner_index_remove (locker, entry);
          entry_free (entry);
        }
    }
  g_queue_free (waiting);
}

static void
incubate (LatchLocker *locker, Entry *entry)
{
  GQueue *waiting = g_hash_table_lookup (locker->incubator, entry->identity);

  if (waiting == NULL)
    {
      waiting = g_queue_new ();
      g_hash_table_insert (locker->incubator, g_strdup (entry->identity),
                           waiting);
    }
  entry->state = ENTRY_INCUBATING;
  g_queue_push_tail_link (waiting, &entry->place_link);
  owner_index_add (locker, entry);
}

static void
unincubate (LatchLocker *locker, Entry *entry)
{
  GQueue *waiting = g_hash_table_lookup (locker->incubator, entry->identity);

  g_assert (waiting != NULL);
  g_queue_unlink (waiting, &entry->place_link);
  if (g_queue_is_empty (waiting))
    g_hash_table_remove (locker->incubator, entry->identity);
}

LatchLocker *
latch_locker_new_full (const LatchLockerConfig *config)
{
  LatchLocker *locker;

  g_return_val_if_fail (config != NULL, NULL);

  locker = g_new0 (LatchLocker, 1);

  locker->resources = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                             resource_free);
  locker->incubator = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                             embedded_queue_free);
  locker->owners = g_hash_table_new (g_direct_hash, g_direct_equal);
  locker->expiries = g_sequence_new (NULL);
  locker->timed = g_hash_table_new (g_direct_hash, g_direct_equal);
  locker->next_fence = config->first_fence;
  locker->idle_lifespan_min = MAX (config->idle_lifespan_min, 0);
  locker->max_locks = (guint)MAX (config->max_locks, 0);
  locker->max_resources = (guint)MAX (config->max_resources, 0);
  locker->max_waiters = (guint)MAX (config->max_waiters, 0);
  locker->max_idle_lifespan = MAX (config->max_idle_lifespan, 0);
  return locker;
}

LatchLocker *
latch_locker_new (guint64 first_fence)
{
  const LatchLockerConfig config = { .first_fence = first_fence };

  return latch_locker_new_full (&config);
}

void
latch_locker_free (LatchLocker *locker)
{
  GHashTableIter iter;
  gpointer value;

  if (locker == NULL)
    return;

  /* Unlink the incubator queues while their entries still exist. */
  g_clear_pointer (&locker->incubator, g_hash_table_destroy);

  /* Every entry is in its owner's queue: release the holds, so that the
   * types free their per-hold data, and free the entries. */
  g_hash_table_iter_init (&iter, locker->owners);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      GQueue *queue = value;
      GList *link;

      while ((link = g_queue_pop_head_link (queue)) != NULL)
        {
          Entry *entry = link->data;

          if (entry->state == ENTRY_HELD)
            entry->rsrc->klass->release (entry->rsrc->state, &entry->hold,
                                         TRUE);
          entry_free (entry);
        }
      g_queue_free (queue);
    }
  g_clear_pointer (&locker->owners, g_hash_table_destroy);

  g_clear_pointer (&locker->timed, g_hash_table_destroy);
  g_clear_pointer (&locker->expiries, g_sequence_free);
  g_clear_pointer (&locker->resources, g_hash_table_destroy);
  g_free (locker);
}

static void
clear_event (gpointer data)
{
  LatchLockEvent *event = data;

  g_clear_pointer (&event->element, g_free);
}

GArray *
latch_lock_events_new (void)
{
  GArray *events = g_array_new (FALSE, TRUE, sizeof (LatchLockEvent));

  g_array_set_clear_func (events, clear_event);
  return events;
}

/* A new resource for req (its name classified as klass's type), taking
 * identity; NULL when the name's parameters are unusable. */
static Resource *
resource_new (LatchLocker *locker, const LatchRsrcClass *klass, char *identity,
              const LatchLockReq *req, gint64 now_us)
{
  g_autoptr (GError) error = NULL;
  gpointer state = klass->create (req->name, req, now_us, &error);
  Resource *rsrc;

  if (state == NULL)
    {
      g_free (identity);
      return NULL;
    }
  rsrc = g_new0 (Resource, 1);
  rsrc->identity = identity;
  rsrc->klass = klass;
  rsrc->state = state;
  /* The codec refuses a negative lifespan; should one get here, it means
   * "as short as possible". */
  rsrc->lifespan = MAX (req->lifespan, 0);
  rsrc->expiry = -1;
  rsrc->serial = locker->next_serial++;
  g_hash_table_insert (locker->resources, rsrc->identity, rsrc);
  return rsrc;
}

LatchLockStatus
latch_locker_request (LatchLocker *locker, gpointer owner,
                      const LatchLockReq *req, gint64 now_us,
                      guint64 *fence_out, char **element_out,
                      GArray *events)
{
  LatchRsrcType type;
  const LatchRsrcClass *klass;
  g_autofree char *identity = NULL;
  Resource *rsrc;
  Entry *entry;
  gboolean created = FALSE;
  LatchLockStatus status;
  guint64 fence = 0;
  char *element = NULL;

  g_return_val_if_fail (locker != NULL, LATCH_LOCK_INVALID_NAME);
  g_return_val_if_fail (req != NULL && req->name != NULL,
                        LATCH_LOCK_INVALID_NAME);
  g_return_val_if_fail (events != NULL, LATCH_LOCK_INVALID_NAME);

  type = latch_rsrc_name_classify (req->name, strlen (req->name));
  klass = class_for_type (type);
  if (klass == NULL)
    return LATCH_LOCK_INVALID_NAME; /* invalid; other types: later */

  if (locker->max_idle_lifespan > 0 && req->lifespan > locker->max_idle_lifespan)
    return LATCH_LOCK_LIMIT_IDLE_LIFESPAN;
  if (locker->max_locks > 0)
    {
      GQueue *mine = g_hash_table_lookup (locker->owners, owner);

      if (mine != NULL && mine->length >= locker->max_locks)
        return LATCH_LOCK_LIMIT_LOCKS;
    }

  identity = identity_of (req->name, type);
  rsrc = g_hash_table_lookup (locker->resources, identity);
  if (rsrc == NULL)
    {
      if (!req->create)
        {
          GQueue *waiting;

          if (!req->wait)
            return LATCH_LOCK_CANT_WAIT;
          waiting = g_hash_table_lookup (locker->incubator, identity);
          if (locker->max_waiters > 0 && waiting != NULL
              && waiting->length >= locker->max_waiters)
            return LATCH_LOCK_LIMIT_WAITERS;
          incubate (locker, entry_new (owner, req, identity, now_us));
          return LATCH_LOCK_WAIT_RESOURCE;
        }
      if (locker->max_resources > 0
          && g_hash_table_size (locker->resources) >= locker->max_resources)
        return LATCH_LOCK_LIMIT_RESOURCES;
      /* The name's parameters may be unusable (a timestamp format without
       * a time field, or whose result can be longer than FLoM's limit):
       * FLoM's resource initialisation error. */
      rsrc = resource_new (locker, klass, g_steal_pointer (&identity), req, now_us);
      if (rsrc == NULL)
        return LATCH_LOCK_INIT_ERROR;
      created = TRUE;
    }

  entry = entry_new (owner, req, rsrc->identity, now_us);
  status = admit (locker, rsrc, entry, now_us, &fence, &element);
  if (status == LATCH_LOCK_GRANTED || status == LATCH_LOCK_QUEUED)
    owner_index_add (locker, entry);
  else
    entry_free (entry);

  /* The creator comes first, then those who waited for the creation. */
  if (created)
    hatch (locker, rsrc, now_us, events);
  update_idle (locker, rsrc, now_us);

  if (status == LATCH_LOCK_GRANTED)
    {
      if (fence_out != NULL)
        *fence_out = fence;
      if (element_out != NULL)
        *element_out = g_steal_pointer (&element);
      g_free (element);
    }
  return status;
}

gboolean
latch_locker_unlock (LatchLocker *locker, gpointer owner, const char *name,
                     gboolean rollback, gint64 now_us, GArray *events)
{
  GQueue *queue;
  Entry *entry = NULL;
  Resource *rsrc;

  g_return_val_if_fail (locker != NULL, FALSE);
  g_return_val_if_fail (name != NULL, FALSE);
  g_return_val_if_fail (events != NULL, FALSE);

  queue = g_hash_table_lookup (locker->owners, owner);
  if (queue == NULL)
    return FALSE;
  /* The exact name: for every type but hierarchical it is the identity;
   * for hierarchical it is the node the owner holds (unlike FLoM, which
   * releases whatever the owner holds on the node it last unlocked). */
  for (GList *l = queue->head; l != NULL; l = l->next)
    {
      Entry *candidate = l->data;

      if (candidate->state == ENTRY_HELD
          && strcmp (candidate->name, name) == 0)
        {
          entry = candidate;
          break;
        }
    }
  if (entry == NULL)
    return FALSE;

  rsrc = entry->rsrc;
  rsrc->klass->release (rsrc->state, &entry->hold, rollback);
  g_queue_unlink (&rsrc->holds, &entry->place_link);
  owner_index_remove (locker, entry);
  entry_free (entry);

  serve_queue (locker, rsrc, now_us, events);
  update_idle (locker, rsrc, now_us);
  return TRUE;
}

void
latch_locker_drop_owner (LatchLocker *locker, gpointer owner, gint64 now_us,
                         GArray *events)
{
  GQueue *queue;
  GList *link;
  g_autoptr (GPtrArray) touched = NULL;

  g_return_if_fail (locker != NULL);
  g_return_if_fail (events != NULL);

  queue = g_hash_table_lookup (locker->owners, owner);
  if (queue == NULL)
    return;
  g_hash_table_remove (locker->owners, owner);

  /* First take everything away, then serve the queues: a queue is served
   * once, with all of the owner's holds on it already gone. */
  touched = g_ptr_array_new ();
  while ((link = g_queue_pop_head_link (queue)) != NULL)
    {
      Entry *entry = link->data;
      Resource *rsrc = entry->rsrc;

      entry->indexed = FALSE;
      locker->n_active--;
      switch (entry->state)
        {
        case ENTRY_INCUBATING:
          unincubate (locker, entry);
          break;
        case ENTRY_QUEUED:
          g_queue_unlink (&rsrc->queue, &entry->place_link);
          break;
        case ENTRY_HELD:
          rsrc->klass->release (rsrc->state, &entry->hold, TRUE);
          g_queue_unlink (&rsrc->holds, &entry->place_link);
          break;
        case ENTRY_NEW:
        default:
          g_assert_not_reached ();
        }
      if (rsrc != NULL && !rsrc->touched)
        {
          rsrc->touched = TRUE;
          g_ptr_array_add (touched, rsrc);
        }
      entry_free (entry);
    }
  g_queue_free (queue);

  for (guint i = 0; i < touched->len; i++)
    {
      Resource *rsrc = touched->pdata[i];

      rsrc->touched = FALSE;
      serve_queue (locker, rsrc, now_us, events);
      update_idle (locker, rsrc, now_us);
    }
}

gint64
latch_locker_tick (LatchLocker *locker, gint64 now_us, GArray *events)
{
  GHashTableIter iter;
  gpointer key;
  gint64 next = -1;

  g_return_val_if_fail (locker != NULL, -1);
  g_return_val_if_fail (events != NULL, -1);

  /* Queues that time alone may unblock. */
  if (g_hash_table_size (locker->timed) > 0)
    {
      g_autoptr (GPtrArray) due = g_ptr_array_new ();

      g_hash_table_iter_init (&iter, locker->timed);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        {
          Resource *rsrc = key;
          gint64 when = rsrc->klass->next_wakeup (rsrc->state, now_us);

          if (when >= 0 && when <= now_us)
            g_ptr_array_add (due, rsrc);
        }
      for (guint i = 0; i < due->len; i++)
        {
          Resource *rsrc = due->pdata[i];

          serve_queue (locker, rsrc, now_us, events);
          update_idle (locker, rsrc, now_us);
        }
    }

  for (;;)
    {
      GSequenceIter *first = g_sequence_get_begin_iter (locker->expiries);
      Resource *rsrc;

      if (g_sequence_iter_is_end (first))
        break;
      rsrc = g_sequence_get (first);
      if (rsrc->expiry > now_us)
        {
          next = rsrc->expiry;
          break;
        }
      resource_destroy (locker, rsrc);
    }

  g_hash_table_iter_init (&iter, locker->timed);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      Resource *rsrc = key;
      gint64 when = rsrc->klass->next_wakeup (rsrc->state, now_us);

      if (when >= 0 && (next < 0 || when < next))
        next = when;
    }
  return next;
}

guint
latch_locker_n_resources (const LatchLocker *locker)
{
  g_return_val_if_fail (locker != NULL, 0);

  return g_hash_table_size (locker->resources);
}

guint
latch_locker_n_active (const LatchLocker *locker)
{
  g_return_val_if_fail (locker != NULL, 0);

  return locker->n_active;
}

gboolean
latch_locker_cancel (LatchLocker *locker, gpointer owner, gint64 now_us,
                     GArray *events)
{
  GQueue *queue;
  Entry *entry = NULL;
  Resource *rsrc;

  g_return_val_if_fail (locker != NULL, FALSE);
  g_return_val_if_fail (events != NULL, FALSE);

  queue = g_hash_table_lookup (locker->owners, owner);
  if (queue == NULL)
    return FALSE;
  for (GList *l = queue->head; l != NULL; l = l->next)
    {
      Entry *candidate = l->data;

      if (candidate->state == ENTRY_QUEUED || candidate->state == ENTRY_INCUBATING)
        {
          entry = candidate;
          break;
        }
    }
  if (entry == NULL)
    return FALSE;

  rsrc = entry->rsrc;
  owner_index_remove (locker, entry);
  if (entry->state == ENTRY_INCUBATING)
    {
      unincubate (locker, entry);
      entry_free (entry);
      return TRUE;
    }
  g_queue_unlink (&rsrc->queue, &entry->place_link);
  entry_free (entry);
  /* The withdrawn request may have been the head that blocked the ones
   * behind it (a writer before readers): serve the queue as a release
   * would. */
  serve_queue (locker, rsrc, now_us, events);
  update_idle (locker, rsrc, now_us);
  return TRUE;
}

void
latch_locker_visit (const LatchLocker *locker, const LatchLockerVisitor *visitor,
                    gpointer user_data)
{
  GHashTableIter iter;
  gpointer key, value;
  LatchLockerEntryInfo info;

  g_return_if_fail (locker != NULL);
  g_return_if_fail (visitor != NULL);

  g_hash_table_iter_init (&iter, locker->resources);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      const Resource *rsrc = value;

      if (visitor->resource != NULL)
        visitor->resource (rsrc->identity, TRUE, rsrc->lifespan, rsrc->expiry, user_data);
      if (visitor->entry == NULL)
        continue;
      for (GList *l = rsrc->holds.head; l != NULL; l = l->next)
        {
          const Entry *entry = l->data;

          info = (LatchLockerEntryInfo){ entry->since_us, entry->fence,
                                         entry->element };
          visitor->entry (rsrc->identity, entry->owner, &entry->hold.req,
                          LATCH_LOCKER_HELD, &info, user_data);
        }
      for (GList *l = rsrc->queue.head; l != NULL; l = l->next)
        {
          const Entry *entry = l->data;

          info = (LatchLockerEntryInfo){ entry->since_us, 0, NULL };
          visitor->entry (rsrc->identity, entry->owner, &entry->hold.req,
                          LATCH_LOCKER_QUEUED, &info, user_data);
        }
    }
  g_hash_table_iter_init (&iter, locker->incubator);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      const GQueue *waiting = value;

      if (visitor->resource != NULL)
        visitor->resource (key, FALSE, 0, -1, user_data);
      if (visitor->entry == NULL)
        continue;
      for (GList *l = waiting->head; l != NULL; l = l->next)
        {
          const Entry *entry = l->data;

          info = (LatchLockerEntryInfo){ entry->since_us, 0, NULL };
          visitor->entry (key, entry->owner, &entry->hold.req,
                          LATCH_LOCKER_WAITING_CREATION, &info, user_data);
        }
    }
}

gboolean
latch_locker_restore (LatchLocker *locker, const char *name, int lifespan,
                      const char *state_text, gint64 now_us)
{
  LatchRsrcType type;
  const LatchRsrcClass *klass;
  g_autofree char *identity = NULL;
  Resource *rsrc;
  LatchLockReq req = { name, LATCH_LOCK_MODE_EX, 1, TRUE, TRUE, lifespan };

  g_return_val_if_fail (locker != NULL && name != NULL, FALSE);
  type = latch_rsrc_name_classify (name, strlen (name));
  klass = class_for_type (type);
  if (klass == NULL)
    return FALSE;
  identity = identity_of (name, type);
  rsrc = g_hash_table_lookup (locker->resources, identity);
  if (rsrc == NULL)
    {
      /* Not counted down as idle: it is there for what is adopted and
       * asked next, which starts the count when it is idle again. */
      rsrc = resource_new (locker, klass, g_steal_pointer (&identity), &req, now_us);
      if (rsrc == NULL)
        return FALSE;
    }
  if (klass->load != NULL)
    return klass->load (rsrc->state, state_text);
  return state_text == NULL;
}

gboolean
latch_locker_adopt (LatchLocker *locker, gpointer owner, const LatchLockReq *req,
                    const char *element, guint64 fence, gint64 since_us)
{
  LatchRsrcType type;
  const LatchRsrcClass *klass;
  g_autofree char *identity = NULL;
  Resource *rsrc;
  Entry *entry;

  g_return_val_if_fail (locker != NULL && req != NULL && req->name != NULL, FALSE);
  type = latch_rsrc_name_classify (req->name, strlen (req->name));
  klass = class_for_type (type);
  if (klass == NULL)
    return FALSE;
  identity = identity_of (req->name, type);
  rsrc = g_hash_table_lookup (locker->resources, identity);
  if (rsrc == NULL)
    {
      rsrc = resource_new (locker, klass, g_strdup (identity), req, since_us);
      if (rsrc == NULL)
        return FALSE;
    }
  entry = entry_new (owner, req, rsrc->identity, since_us);
  if (klass->adopt != NULL)
    {
      if (!klass->adopt (rsrc->state, &entry->hold, element))
        {
          entry_free (entry);
          update_idle (locker, rsrc, since_us);
          return FALSE;
        }
    }
  else
    g_free (klass->grant (rsrc->state, &entry->hold, since_us));
  entry->state = ENTRY_HELD;
  entry->rsrc = rsrc;
  g_queue_push_tail_link (&rsrc->holds, &entry->place_link);
  entry->since_us = since_us;
  entry->fence = fence;
  entry->element = g_strdup (element);
  if (fence >= locker->next_fence)
    locker->next_fence = fence + 1;
  owner_index_add (locker, entry);
  update_idle (locker, rsrc, since_us);
  return TRUE;
}

char *
latch_locker_save_state (const LatchLocker *locker, const char *identity)
{
  Resource *rsrc;

  g_return_val_if_fail (locker != NULL && identity != NULL, NULL);
  rsrc = g_hash_table_lookup (locker->resources, identity);
  if (rsrc == NULL || rsrc->klass->save == NULL)
    return NULL;
  return rsrc->klass->save (rsrc->state);
}
