/* table-etcd.c: the lock table on an etcd cluster (EtcdEndpoints).
 *
 * Every latchd configured with the same endpoints and prefix shares one
 * table kept in etcd; each keeps a mirror of it, fed by one watch over the
 * prefix, and decides about its own owners' requests only.  What is in
 * etcd (P is the prefix, HEX the resource identity in hexadecimal, so that
 * no identity's keys nest in another's):
 *
 *   P r/HEX                 the resource exists (a request that may create
 *                           it made it): "1 LIFESPAN\nIDENTITY\nSTATE",
 *                           STATE the type's own (latch_locker_save_state():
 *                           a set's rotation, a sequence's counter, a
 *                           timestamp's last slot; empty for the others).
 *                           No lease: it outlives its users by its idle
 *                           lifespan.  Every write that changes the
 *                           resource's queue or holders writes it again, so
 *                           its mod_revision is the resource's version: the
 *                           compare of every such txn.
 *   P q/HEX/OWNER/REQ       one request of owner OWNER (the lock-table
 *                           owner key, "<instance>.<id>"), attached to the
 *                           daemon's lease:
 *                           "1 STATE MODE QUANTITY CREATE LIFESPAN TIME
 *                            ELEMENT\nLABEL\nNAME", STATE H (held) or W
 *                           (waiting), ELEMENT what a grant handed out, in
 *                           hexadecimal ("-": none).
 *
 * Order: a request's place is its key's create_revision.  Grant rules: the
 * pure locker's, always: to decide about a request, the mirror's view of
 * its resource is replayed into a scratch locker (the stored state, the
 * holders adopted with their elements, then the waiters ahead in
 * create_revision order, then the request), and the locker's answer is the
 * answer.  The decision is then written with a txn whose compare is the
 * resource key's mod_revision as the view had it: if anybody queued,
 * granted or created on that resource since, the txn fails, the mirror
 * catches up and the decision is taken again.  A deletion (release,
 * cancel, a lease that expired) is not in the compare: it can only make a
 * grant that was safe more so.  So a lock is granted only by a txn that
 * saw every holder, and two daemons never grant what the locker would not
 * grant to both.
 *
 * Fencing: a grant's token is the revision of the txn that wrote it: etcd's
 * revision is cluster-wide and never goes back (restarts, leader changes).
 *
 * Liveness: one lease per daemon, renewed every TTL/3.  A holder's key is
 * deleted when its connection ends; a daemon's keys go with its lease.  A
 * daemon that cannot renew its lease treats its locks as lost at
 * safe_until = (when the last successful renewal was sent) + TTL - margin,
 * margin = max (500 ms, TTL/4), before etcd can expire the lease and grant
 * them elsewhere: etcd starts the TTL no earlier than it receives the
 * renewal, which is after we sent it, so as long as the clocks drift apart
 * by less than the margin (minus the time a command takes to be stopped)
 * over one TTL, no command runs on after another daemon could be granted
 * its lock (doc/ARCHITECTURE.md, "The lock table on etcd"). */
#include "config.h"

#include "table/lock-table.h"

#include "common/error.h"
#include "common/log.h"
#include "etcd/etcd-client.h"
#include "etcd/etcd-loader.h"
#include "locker/rsrc-name.h"
#include "table/table-backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VALUE_VERSION "1"
/* How long the daemon's start waits for etcd (lease, first read, watch). */
#define START_TIMEOUT_MS 8000 /* the command waits 10 s for the daemon's word */

typedef struct _EtcdTable EtcdTable;
typedef struct _Rsrc Rsrc;

/* One request key, ours or another daemon's, as the mirror has it. */
typedef struct
{
  char *key;             /* full etcd key */
  Rsrc *rsrc;
  gint64 create_rev;
  gint64 mod_rev;
  gboolean held;
  LatchLockReq req;      /* req.name owned */
  gint64 time_us;        /* when asked (the asking daemon's clock) */
  char *element;         /* held: what the grant handed out, or NULL */
  char *label;
  char *owner_key;
  gboolean deleting;     /* ours, and its deletion is on its way */
  /* Ours: */
  guint64 owner_id;      /* 0: another daemon's */
  guint64 req_id;
} Req;

struct _Rsrc
{
  char *hex;
  char *identity;
  gint64 rkey_mod;       /* the resource key's mod_revision; 0: absent */
  int lifespan;          /* its idle lifespan (ms) */
  char *state;           /* the type's own state (locker text), or NULL */
  GPtrArray *reqs;       /* Req (owned), by create_rev */
  guint cleanup_id;      /* idle expiry timer */
  guint wake_id;         /* time alone may grant a waiter (timestamps) */
};

/* A request of ours not settled yet (being written, or waiting). */
typedef struct
{
  guint64 owner_id;
  guint64 req_id;
  char *key;
  char *hex;
  char *identity;
  LatchLockReq req;      /* name owned */
  char *label;
  gint64 time_us;
  gboolean writing;      /* a txn for it is in flight */
  gboolean queued_told;  /* QUEUED / WAIT_RESOURCE answered */
  gboolean gone;         /* withdrawn while a txn was in flight */
  gint64 retry_rev;      /* a txn failed its compare at this revision: decide
                            again once the mirror has it; 0: none */
} Pending;

/* What an owner of ours holds: name -> key. */
typedef struct
{
  guint64 id;
  GHashTable *held;      /* name (owned) -> key (owned) */
  Pending *pending;      /* its request in flight, or NULL */
} Owner;

struct _EtcdTable
{
  LatchTable parent;
  const LatchEtcdModule *mod;
  LatchEtcd *etcd;
  LatchEtcd *renewer;    /* lease keepalives only (a shorter timeout) */
  LatchEtcdWatch *watch;
  char *prefix;
  gint64 ttl;            /* s */
  gint64 margin_us;
  gint64 lease;          /* 0: none */
  gint64 safe_until;     /* monotonic us */
  gint64 keepalive_sent; /* monotonic us of the renewal in flight; 0: none */
  gint64 grant_sent;     /* monotonic us of the lease grant in flight */
  GHashTable *writes;    /* WriteCtx in flight (owned: freed at the end) */
  GPtrArray *releases;   /* Release in flight or to retry (owned) */
  GHashTable *deleting;  /* keys of ours deleted before the watch brought them */
  GHashTable *deletions; /* Deletion in flight or to send again (owned) */
  GPtrArray *queued_deletes; /* keys to delete at the end of this turn */
  guint flush_id;
  guint keepalive_id;
  guint guard_id;
  guint retry_id;         /* one step of the start or recovery, to retry */
  void (*retry_step) (EtcdTable *m);
  gboolean keep_lease;   /* at exit: left to expire (holders were stopped) */
  gint64 rev;            /* the mirror's revision */
  GHashTable *resources; /* hex -> Rsrc */
  GHashTable *reqs;      /* key -> Req (transfer none: the Rsrc owns it) */
  GHashTable *owners;    /* owner id -> Owner */
  int max_locks;         /* the local limits (0: none) */
  int max_waiters;
  int max_idle_lifespan;
  int idle_lifespan_min;
  /* start and recovery */
  gboolean starting;
  guint start_failures;  /* members found unreachable during the start */
  guint n_endpoints;
  GError *start_error;
  gboolean synced;       /* the mirror follows the watch */
  gboolean freeing;
  char *last_problem;    /* the last etcd error, for "not ready" answers */
};

typedef struct
{
  EtcdTable *m;
  char *key;
  gboolean rollback;
  gint64 retry_rev;  /* failed its compare at this revision; 0: in flight */
  gint64 compared_mod; /* the resource key's mod_revision in the compare */
} Release;

static void release_write (EtcdTable *m, Release *rel);
static void resync (EtcdTable *m);
static void evaluate_waiters (EtcdTable *m, Rsrc *r);
static void lease_lost (EtcdTable *m, const char *why);

/* ---- keys and values ------------------------------------------------- */

static char *
hex_of (const char *identity)
{
  GString *s = g_string_new (NULL);

  for (const guchar *p = (const guchar *)identity; *p != '\0'; p++)
    g_string_append_printf (s, "%02x", *p);
  return g_string_free (s, FALSE);
}

static char *
unhex (const char *hex, gsize len)
{
  GString *s;

  if (len % 2 != 0)
    return NULL;
  s = g_string_sized_new (len / 2);
  for (gsize i = 0; i < len; i += 2)
    {
      int hi = g_ascii_xdigit_value (hex[i]);
      int lo = g_ascii_xdigit_value (hex[i + 1]);

      if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
        {
          g_string_free (s, TRUE);
          return NULL;
        }
      g_string_append_c (s, (char)(hi * 16 + lo));
    }
  return g_string_free (s, FALSE);
}

static GBytes *
bytes_str (const char *s)
{
  return g_bytes_new (s, strlen (s));
}

static char *
rkey_of (EtcdTable *m, const char *hex)
{
  return g_strconcat (m->prefix, "r/", hex, NULL);
}

/* The end of the range of keys starting with s (etcd's "prefix end"). */
static GBytes *
range_end_of (const char *s)
{
  gsize len = strlen (s);
  char *end = g_strndup (s, len);

  while (len > 0 && (guchar)end[len - 1] == 0xff)
    len--;
  g_return_val_if_fail (len > 0, bytes_str ("\0"));
  end[len - 1]++;
  return g_bytes_new_take (end, len);
}

/* "1 H|W MODE QUANTITY CREATE LIFESPAN TIME ELEMENT\nLABEL\nNAME", the
 * element in hexadecimal ("-": none): a timestamp may hold any byte. */
static char *
req_value (const LatchLockReq *req, gboolean held, gint64 time_us, const char *element,
           const char *label)
{
  g_autofree char *clean = g_strdup (label != NULL ? label : "");
  g_autofree char *hex = element != NULL && element[0] != '\0' ? hex_of (element) : NULL;

  g_strdelimit (clean, "\n\r", ' ');
  return g_strdup_printf (VALUE_VERSION " %c %d %d %d %d %" G_GINT64_FORMAT " %s\n%s\n%s",
                          held ? 'H' : 'W', (int)req->mode, req->quantity, req->create ? 1 : 0,
                          req->lifespan, time_us, hex != NULL ? hex : (element != NULL ? "+" : "-"),
                          clean, req->name);
}

/* The resource key: "1 LIFESPAN\nIDENTITY\nSTATE" (STATE empty: none). */
static char *
rsrc_value (int lifespan, const char *identity, const char *state)
{
  return g_strdup_printf (VALUE_VERSION " %d\n%s\n%s", MAX (lifespan, 0), identity,
                          state != NULL ? state : "");
}

static gboolean
parse_req_value (const char *value, gsize len, Req *out)
{
  g_autofree char *text = g_strndup (value, len);
  char state;
  int mode, quantity, create, lifespan;
  gint64 time_us;
  char element[2050];
  char *nl1, *nl2;

  nl1 = strchr (text, '\n');
  if (nl1 == NULL)
    return FALSE;
  *nl1 = '\0';
  nl2 = strchr (nl1 + 1, '\n');
  if (nl2 == NULL)
    return FALSE;
  *nl2 = '\0';
  if (strlen (text) > 2000
      || sscanf (text, VALUE_VERSION " %c %d %d %d %d %" G_GINT64_FORMAT " %2049s", &state,
                 &mode, &quantity, &create, &lifespan, &time_us, element) != 7
      || (state != 'H' && state != 'W') || nl2[1] == '\0')
    return FALSE;
  if (strcmp (element, "+") == 0)
    out->element = g_strdup ("");
  else if (strcmp (element, "-") != 0)
    {
      out->element = unhex (element, strlen (element));
      if (out->element == NULL)
        return FALSE;
    }
  out->held = state == 'H';
  out->req.mode = (LatchLockMode)mode;
  out->req.quantity = quantity;
  out->req.create = create != 0;
  out->req.wait = TRUE;
  out->req.lifespan = lifespan;
  out->time_us = time_us;
  out->label = g_strdup (nl1 + 1);
  out->req.name = g_strdup (nl2 + 1);
  return TRUE;
}

/* ---- the mirror ------------------------------------------------------ */

static void
req_free (Req *q)
{
  g_free (q->key);
  g_free (q->element);
  g_free ((char *)q->req.name);
  g_free (q->label);
  g_free (q->owner_key);
  g_free (q);
}

static void
rsrc_free (Rsrc *r)
{
  g_clear_handle_id (&r->cleanup_id, g_source_remove);
  g_clear_handle_id (&r->wake_id, g_source_remove);
  g_ptr_array_unref (r->reqs);
  g_free (r->hex);
  g_free (r->identity);
  g_free (r->state);
  g_free (r);
}

static Rsrc *
rsrc_get (EtcdTable *m, const char *hex, gboolean create)
{
  Rsrc *r = g_hash_table_lookup (m->resources, hex);

  if (r == NULL && create)
    {
      r = g_new0 (Rsrc, 1);
      r->hex = g_strdup (hex);
      r->identity = unhex (hex, strlen (hex));
      r->reqs = g_ptr_array_new_with_free_func ((GDestroyNotify)req_free);
      g_hash_table_insert (m->resources, r->hex, r);
    }
  return r;
}

static void
rsrc_forget_if_empty (EtcdTable *m, Rsrc *r)
{
  if (r->rkey_mod == 0 && r->reqs->len == 0)
    g_hash_table_remove (m->resources, r->hex);
}

static gint
by_create_rev (gconstpointer a, gconstpointer b)
{
  const Req *x = *(Req *const *)a;
  const Req *y = *(Req *const *)b;

  return x->create_rev < y->create_rev ? -1 : x->create_rev > y->create_rev;
}

static Owner *
owner_get (EtcdTable *m, guint64 id, gboolean create)
{
  Owner *o = g_hash_table_lookup (m->owners, &id);

  if (o == NULL && create)
    {
      o = g_new0 (Owner, 1);
      o->id = id;
      o->held = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
      g_hash_table_insert (m->owners, &o->id, o);
    }
  return o;
}

/* The owner of ours a key's owner part names (0: another daemon's). */
static guint64
local_owner_id (EtcdTable *m, const char *owner_key, gsize len)
{
  gsize ilen = strlen (m->parent.instance);
  char *end;
  guint64 id;

  if (len <= ilen + 1 || strncmp (owner_key, m->parent.instance, ilen) != 0
      || owner_key[ilen] != '.' || !g_ascii_isdigit (owner_key[ilen + 1]))
    return 0;
  id = g_ascii_strtoull (owner_key + ilen + 1, &end, 10);
  return end == owner_key + len ? id : 0;
}

static void schedule_cleanup (EtcdTable *m, Rsrc *r);

/* A key changed (value NULL: deleted). */
static void
mirror_apply (EtcdTable *m, const LatchEtcdKv *kv, gboolean deleted, GHashTable *touched)
{
  gsize plen = strlen (m->prefix);
  gsize klen;
  const char *key = g_bytes_get_data (kv->key, &klen);
  g_autofree char *k = g_strndup (key, klen);
  const char *rest;
  Rsrc *r;

  if (klen < plen + 2 || strncmp (k, m->prefix, plen) != 0)
    return;
  rest = k + plen;
  if (g_str_has_prefix (rest, "r/"))
    {
      const char *hex = rest + 2;

      g_autofree char *identity = unhex (hex, strlen (hex));

      if (identity == NULL)
        return;
      r = rsrc_get (m, hex, !deleted);
      if (r == NULL)
        return;
      if (deleted)
        r->rkey_mod = 0;
      else
        {
          gsize vlen;
          const char *v = kv->value != NULL ? g_bytes_get_data (kv->value, &vlen) : NULL;
          g_autofree char *text = v != NULL ? g_strndup (v, vlen) : g_strdup ("");
          char *nl1 = strchr (text, '\n');
          char *nl2 = nl1 != NULL ? strchr (nl1 + 1, '\n') : NULL;
          int lifespan = 0;

          if (kv->mod_revision < r->rkey_mod)
            return; /* ours, in the mirror already */
          r->rkey_mod = kv->mod_revision;
          if (sscanf (text, VALUE_VERSION " %d", &lifespan) != 1)
            lifespan = 0;
          r->lifespan = MAX (lifespan, 0);
          g_clear_pointer (&r->state, g_free);
          if (nl2 != NULL && nl2[1] != '\0')
            r->state = g_strdup (nl2 + 1);
        }
      g_hash_table_add (touched, r->hex);
      return;
    }
  if (g_str_has_prefix (rest, "q/"))
    {
      const char *hex = rest + 2;
      const char *slash = strchr (hex, '/');
      const char *owner_key = slash != NULL ? slash + 1 : NULL;
      const char *slash2 = owner_key != NULL ? strchr (owner_key, '/') : NULL;
      g_autofree char *hexs = slash != NULL ? g_strndup (hex, slash - hex) : NULL;
      Req *q = g_hash_table_lookup (m->reqs, k);

      if (slash2 == NULL)
        return;
      if (deleted)
        {
          g_hash_table_remove (m->deleting, k);
          if (q == NULL)
            return;
          r = q->rsrc;
          g_hash_table_remove (m->reqs, k);
          g_ptr_array_remove (r->reqs, q);
          g_hash_table_add (touched, r->hex);
          return;
        }
      if (q != NULL)
        {
          /* A waiting request granted (its daemon wrote H).  Ours may be
           * in the mirror at a later revision already (mirror_own_write). */
          Req parsed = { 0 };

          if (kv->mod_revision < q->mod_rev)
            return;
          gsize vlen;
          const char *v = g_bytes_get_data (kv->value, &vlen);

          if (parse_req_value (v, vlen, &parsed))
            {
              q->held = parsed.held;
              g_free (q->element);
              q->element = g_steal_pointer (&parsed.element);
            }
          g_free ((char *)parsed.req.name);
          g_free (parsed.label);
          g_free (parsed.element);
          q->mod_rev = kv->mod_revision;
          g_hash_table_add (touched, q->rsrc->hex);
          return;
        }
      {
        gsize vlen;
        const char *v = kv->value != NULL ? g_bytes_get_data (kv->value, &vlen) : NULL;

        q = g_new0 (Req, 1);
        if (v == NULL || !parse_req_value (v, vlen, q))
          {
            latch_log_warning ("lock table (etcd): ignoring key %s: not a latch request", k);
            req_free (q);
            return;
          }
      }
      q->key = g_strdup (k);
      q->deleting = g_hash_table_remove (m->deleting, k);
      q->create_rev = kv->create_revision;
      q->mod_rev = kv->mod_revision;
      q->owner_key = g_strndup (owner_key, slash2 - owner_key);
      q->owner_id = local_owner_id (m, owner_key, slash2 - owner_key);
      q->req_id = g_ascii_strtoull (slash2 + 1, NULL, 10);
      r = rsrc_get (m, hexs, TRUE);
      q->rsrc = r;
      g_ptr_array_add (r->reqs, q);
      /* Events come in revision order, so appending keeps the order;
       * a resync's range does not. */
      if (r->reqs->len > 1
          && ((Req *)r->reqs->pdata[r->reqs->len - 2])->create_rev > q->create_rev)
        g_ptr_array_sort (r->reqs, by_create_rev);
      g_hash_table_insert (m->reqs, q->key, q);
      g_hash_table_add (touched, r->hex);
    }
}

/* ---- deciding -------------------------------------------------------- */

/* The pure locker's view of r as the mirror has it: the type's state,
 * the holders adopted with what they were handed, then the waiters asked
 * again in their order, up to skip (the one being decided about, when it
 * is in the view: left out, and those behind it too).  NULL when r's stored
 * state does not fit its type (logged: another version wrote it). */
/* A release of ours still computing its state (a transactional
 * sequence's rollback) is in m->releases until its txn is sent. */
static gboolean
is_releasing (EtcdTable *m, const char *key)
{
  for (guint i = 0; i < m->releases->len; i++)
    if (strcmp (((Release *)m->releases->pdata[i])->key, key) == 0)
      return TRUE;
  return FALSE;
}

static LatchLocker *
replay (EtcdTable *m, Rsrc *r, const char *skip, gboolean releasing_gone, gint64 now_us)
{
  g_autoptr (LatchLocker) scratch = latch_locker_new (1);
  g_autoptr (GArray) events = latch_lock_events_new ();

  if (r == NULL || r->rkey_mod == 0)
    return g_steal_pointer (&scratch);
  if (r->identity == NULL || !latch_locker_restore (scratch, r->identity, r->lifespan, r->state,
                                                    now_us))
    {
      latch_log_warning ("lock table (etcd): the stored state of resource '%s' does not "
                         "fit its type", r->identity != NULL ? r->identity : r->hex);
      return NULL;
    }
  for (int pass = 0; pass < 2; pass++)
    for (guint i = 0; i < r->reqs->len; i++)
      {
        Req *q = r->reqs->pdata[i];
        LatchLockReq req = q->req;
        guint64 fence;
        g_autofree char *el = NULL;

        if (q->held != (pass == 0))
          continue;
        /* A hold of ours whose release is on its way to etcd is gone for
         * our decisions (a deletion only makes a grant safer), so that a
         * command locking again right after its unlock is not queued
         * behind itself until the deletion comes back. */
        if (releasing_gone && pass == 0 && (q->deleting || is_releasing (m, q->key)))
          continue;
        /* Strict FIFO: only the waiters ahead of the one decided about
         * can matter to it. */
        if (g_strcmp0 (q->key, skip) == 0)
          {
            if (pass == 1)
              break;
            continue;
          }
        req.create = TRUE;
        req.wait = TRUE;
        if (pass == 0)
          {
            if (!latch_locker_adopt (scratch, q, &req, q->element, (guint64)q->mod_rev,
                                     q->time_us))
              latch_log_debug ("lock table (etcd): holder %s does not fit a replay", q->key);
          }
        else
          latch_locker_request (scratch, q, &req, now_us, &fence, &el, events);
      }
  return g_steal_pointer (&scratch);
}

/* What the pure locker answers to cand on r as the mirror sees it (cand
 * is left out of the view when it is in it: a waiting request of ours).
 * On a grant, *element_out is what it hands out and *state_out the
 * type's state after it (both transfer full, NULL for types without);
 * *wakeup_out is when time alone may change the answer (timestamps), or
 * -1. */
static LatchLockStatus
decide (EtcdTable *m, Rsrc *r, const char *cand_key, const LatchLockReq *cand, char **element_out,
        char **state_out, gint64 *wakeup_out)
{
  gint64 now_us = g_get_real_time ();
  g_autoptr (LatchLocker) scratch = replay (m, r, cand_key, TRUE, now_us);
  g_autoptr (GArray) events = latch_lock_events_new ();
  LatchLockStatus status;
  guint64 fence;
  LatchLockReq req = *cand;
  gint64 next;

  *element_out = NULL;
  *state_out = NULL;
  *wakeup_out = -1;
  if (scratch == NULL)
    return LATCH_LOCK_INIT_ERROR;
  if (r != NULL && r->rkey_mod != 0)
    req.create = TRUE;
  status = latch_locker_request (scratch, (gpointer)cand, &req, now_us, &fence, element_out,
                                 events);
  if (status == LATCH_LOCK_GRANTED && r != NULL && r->identity != NULL)
    *state_out = latch_locker_save_state (scratch, r->identity);
  else if (status == LATCH_LOCK_GRANTED)
    {
      /* Created by this request: its identity is the locker's. */
      LatchRsrcType type = latch_rsrc_name_classify (cand->name, strlen (cand->name));
      g_autofree char *identity = NULL;

      if (type == LATCH_RSRC_HIER && strchr (cand->name + 1, '/') != NULL)
        identity = g_strndup (cand->name, strchr (cand->name + 1, '/') - cand->name);
      else
        identity = g_strdup (cand->name);
      *state_out = latch_locker_save_state (scratch, identity);
    }
  next = latch_locker_tick (scratch, now_us, events);
  if (status == LATCH_LOCK_QUEUED && next >= 0)
    *wakeup_out = next;
  return status;
}

/* ---- answering ------------------------------------------------------- */

static void
pending_free (Pending *p)
{
  g_free (p->key);
  g_free (p->hex);
  g_free (p->identity);
  g_free ((char *)p->req.name);
  g_free (p->label);
  g_free (p);
}

/* The request is settled (granted or refused): forget it. */
static void
pending_done (EtcdTable *m, Pending *p)
{
  Owner *o = owner_get (m, p->owner_id, FALSE);

  if (o != NULL && o->pending == p)
    o->pending = NULL;
  pending_free (p);
}

static void
answer (EtcdTable *m, guint64 owner_id, guint64 req_id, LatchLockStatus status, guint64 fence,
        const char *reason)
{
  LatchTableAnswer a = { status, fence, NULL, g_strdup (reason) };

  latch_table_emit_answer (&m->parent, owner_id, req_id, &a);
}

static void delete_keys (EtcdTable *m, const char *const *keys, guint n);
static void delete_keys_now (EtcdTable *m, const char *const *keys, guint n);

typedef struct
{
  EtcdTable *m;
  Pending *p;
  gboolean held;         /* what the txn wrote */
  LatchLockStatus status;
  char *element;         /* a grant's */
  gint64 compared_mod;   /* the resource key's mod_revision in the compare (0: absent) */
  GPtrArray *deletes;    /* queued deletions it carries (char *) */
  gboolean put_rkey;     /* the txn wrote the resource key, with: */
  int lifespan;
  char *state;
} WriteCtx;

static void write_decision (EtcdTable *m, Pending *p);

static void
write_ctx_done (WriteCtx *w)
{
  g_clear_pointer (&w->deletes, g_ptr_array_unref);
  g_free (w->element);
  g_free (w->state);
  g_free (w);
}

/* Our txn for p succeeded at revision rev: its writes go into the mirror
 * now, not when the watch brings them, so that the next decision on this
 * resource (the same command locking again) compares with what is there.
 * The compare held, so nothing but deletions happened on the resource
 * between the view and rev: the view with our writes is etcd's at rev,
 * a deletion or two behind at most, which only makes it more cautious.
 * The watch's copies of these events find them applied already. */
static void
mirror_own_write (EtcdTable *m, Pending *p, const WriteCtx *w, gint64 rev)
{
  Rsrc *r = rsrc_get (m, p->hex, TRUE);
  Req *q = g_hash_table_lookup (m->reqs, p->key);

  if (w->put_rkey)
    {
      r->rkey_mod = MAX (r->rkey_mod, rev);
      r->lifespan = MAX (w->lifespan, 0);
      g_free (r->state);
      r->state = g_strdup (w->state);
      g_clear_handle_id (&r->cleanup_id, g_source_remove);
    }
  if (q == NULL)
    {
      q = g_new0 (Req, 1);
      q->key = g_strdup (p->key);
      q->rsrc = r;
      q->create_rev = rev;
      q->req = p->req;
      q->req.name = g_strdup (p->req.name);
      q->req.wait = TRUE;
      q->time_us = p->time_us;
      q->label = g_strdup (p->label);
      q->owner_key = g_strndup (p->key + strlen (m->prefix) + 2 + strlen (p->hex) + 1,
                                strrchr (p->key, '/') - (p->key + strlen (m->prefix) + 2
                                                         + strlen (p->hex) + 1));
      q->owner_id = p->owner_id;
      q->req_id = p->req_id;
      g_ptr_array_add (r->reqs, q);
      if (r->reqs->len > 1
          && ((Req *)r->reqs->pdata[r->reqs->len - 2])->create_rev > q->create_rev)
        g_ptr_array_sort (r->reqs, by_create_rev);
      g_hash_table_insert (m->reqs, q->key, q);
    }
  if (rev >= q->mod_rev)
    {
      q->mod_rev = rev;
      q->held = w->held;
      g_free (q->element);
      q->element = g_strdup (w->element);
    }
}

/* At the end, a write whose answer will never come: it owns its request. */
static void
write_ctx_free (gpointer data)
{
  WriteCtx *w = data;

  pending_free (w->p);
  write_ctx_done (w);
}

static void
write_done (LatchEtcd *etcd G_GNUC_UNUSED, const LatchEtcdTxnResult *result,
            const GError *error, gpointer user_data)
{
  WriteCtx *w = user_data;
  EtcdTable *m = w->m;
  Pending *p = w->p;

  g_hash_table_steal (m->writes, w);
  p->writing = FALSE;
  if (error != NULL && w->deletes != NULL && w->deletes->len > 0)
    delete_keys_now (m, (const char *const *)w->deletes->pdata, w->deletes->len);
  if (p->gone)
    {
      /* Withdrawn meanwhile: whatever was written goes. */
      if (error == NULL && result->succeeded)
        {
          const char *keys[] = { p->key };

          delete_keys (m, keys, 1);
        }
      pending_free (p);
      write_ctx_done (w);
      return;
    }
  if (error != NULL)
    {
      g_autofree char *why = g_strdup_printf ("the lock table on etcd: %s", error->message);

      latch_log_info ("lock table (etcd): request %s: %s", p->key, error->message);
      g_free (m->last_problem);
      m->last_problem = g_strdup (error->message);
      /* The put may have been applied before the answer was lost. */
      {
        const char *keys[] = { p->key };

        delete_keys (m, keys, 1);
      }
      {
        /* Settled before the answer: its callback may drop the owner,
         * which must not find the request any more. */
        guint64 owner_id = p->owner_id, req_id = p->req_id;

        pending_done (m, p);
        write_ctx_done (w);
        answer (m, owner_id, req_id, (LatchLockStatus)LATCH_RC_CONNECTION_REFUSED, 0, why);
      }
      return;
    }
  if (!result->succeeded)
    {
      /* The resource changed since our view: decide again once the mirror
       * has the change (the watch brings it; it may have already), or
       * the txn's revision. */
      Rsrc *r = rsrc_get (m, p->hex, FALSE);
      gint64 now_mod = r != NULL ? r->rkey_mod : 0;
      gint64 compared = w->compared_mod;

      write_ctx_done (w);
      if (m->rev >= result->revision || now_mod != compared)
        write_decision (m, p);
      else
        p->retry_rev = result->revision;
      return;
    }
  mirror_own_write (m, p, w, result->revision);
  if (w->held)
    {
      Owner *o = owner_get (m, p->owner_id, TRUE);
      guint64 owner_id = p->owner_id, req_id = p->req_id;

      LatchTableAnswer a = { LATCH_LOCK_GRANTED, (guint64)result->revision,
                             g_steal_pointer (&w->element), NULL };

      g_hash_table_replace (o->held, g_strdup (p->req.name), g_strdup (p->key));
      pending_done (m, p);
      write_ctx_done (w);
      latch_table_emit_answer (&m->parent, owner_id, req_id, &a);
      return;
    }
  /* Written as waiting. */
  {
    guint64 owner_id = p->owner_id, req_id = p->req_id;
    LatchLockStatus status = w->status;
    g_autofree char *hex = g_strdup (p->hex);
    Rsrc *r;

    write_ctx_done (w);
    if (!p->queued_told)
      {
        Owner *o;

        p->queued_told = TRUE;
        /* The answer's callback may drop the owner, and the request with
         * it: nothing of p is touched after it unless it is still the
         * owner's. */
        answer (m, owner_id, req_id, status, 0, NULL);
        o = owner_get (m, owner_id, FALSE);
        if (o == NULL || o->pending == NULL || o->pending->req_id != req_id)
          return;
      }
    /* A change may have come while the txn was in flight. */
    if (m->rev >= result->revision && (r = rsrc_get (m, hex, FALSE)) != NULL)
      evaluate_waiters (m, r);
  }
}

typedef struct
{
  EtcdTable *m;
  char *hex;
} RsrcTimer;

static void
rsrc_timer_free (gpointer data)
{
  RsrcTimer *t = data;

  g_free (t->hex);
  g_free (t);
}

static gboolean
wakeup_cb (gpointer user_data)
{
  RsrcTimer *t = user_data;
  Rsrc *r = rsrc_get (t->m, t->hex, FALSE);

  if (r != NULL)
    {
      r->wake_id = 0;
      evaluate_waiters (t->m, r);
    }
  return G_SOURCE_REMOVE;
}

/* Decides again about r's waiters of ours at at_us (wall clock). */
static void
arm_wakeup (EtcdTable *m, Rsrc *r, gint64 at_us)
{
  RsrcTimer *t = g_new0 (RsrcTimer, 1);
  gint64 left = at_us - g_get_real_time ();

  t->m = m;
  t->hex = g_strdup (r->hex);
  g_clear_handle_id (&r->wake_id, g_source_remove);
  r->wake_id = g_timeout_add_full (G_PRIORITY_DEFAULT, (guint)CLAMP ((left + 999) / 1000, 1, G_MAXINT),
                                   wakeup_cb, t, rsrc_timer_free);
}

/* Decides about p on the mirror's view and writes the decision. */
static void
write_decision (EtcdTable *m, Pending *p)
{
  Rsrc *r = rsrc_get (m, p->hex, FALSE);
  gboolean exists = r != NULL && r->rkey_mod != 0;
  gboolean in_view = r != NULL && g_hash_table_contains (m->reqs, p->key);
  g_autofree char *element = NULL;
  g_autofree char *state = NULL;
  gint64 wakeup;
  LatchLockStatus status = decide (m, r, p->key, &p->req, &element, &state, &wakeup);
  g_autofree char *rkey = rkey_of (m, p->hex);
  g_autofree char *value = NULL;
  g_autofree char *rvalue = NULL;
  LatchEtcdCompare cmp = { 0 };
  g_autofree LatchEtcdOp *ops = NULL;
  g_autofree LatchEtcdOp *fail_ops = NULL;
  guint n_ops = 0;
  guint n_deletes = 0;
  WriteCtx *w;

  switch (status)
    {
    case LATCH_LOCK_GRANTED:
    case LATCH_LOCK_QUEUED:
    case LATCH_LOCK_WAIT_RESOURCE:
      break;
    default:
      /* A refusal: nothing to write; a waiting key of ours goes. */
      if (in_view)
        {
          const char *keys[] = { p->key };

          delete_keys (m, keys, 1);
        }
      {
        guint64 owner_id = p->owner_id, req_id = p->req_id;

        pending_done (m, p);
        answer (m, owner_id, req_id, status, 0, NULL);
      }
      return;
    }
  if (wakeup >= 0 && r != NULL)
    arm_wakeup (m, r, wakeup);
  if (in_view && status != LATCH_LOCK_GRANTED)
    return; /* still waiting, already written so */
  if (m->max_waiters > 0 && status != LATCH_LOCK_GRANTED && !in_view && r != NULL)
    {
      guint waiting = 0;

      for (guint i = 0; i < r->reqs->len; i++)
        if (!((Req *)r->reqs->pdata[i])->held)
          waiting++;
      if (waiting >= (guint)m->max_waiters)
        {
          guint64 owner_id = p->owner_id, req_id = p->req_id;

          pending_done (m, p);
          answer (m, owner_id, req_id, LATCH_LOCK_LIMIT_WAITERS, 0, NULL);
          return;
        }
    }

  n_deletes = m->queued_deletes->len;
  ops = g_new0 (LatchEtcdOp, 2 + n_deletes);
  fail_ops = g_new0 (LatchEtcdOp, MAX (n_deletes, 1));
  cmp.key = bytes_str (rkey);
  if (exists)
    {
      cmp.target = LATCH_ETCD_TARGET_MOD;
      cmp.result = LATCH_ETCD_EQUAL;
      cmp.number = r->rkey_mod;
    }
  else
    {
      cmp.target = LATCH_ETCD_TARGET_CREATE;
      cmp.result = LATCH_ETCD_EQUAL;
      cmp.number = 0;
    }
  /* The resource key: created by a request that may create it, written
   * again (same value) by every change to its queue, so that its
   * mod_revision moves. */
  if (status != LATCH_LOCK_WAIT_RESOURCE)
    {
      int lifespan = exists ? r->lifespan : p->req.lifespan;

      /* A grant may change the type's state (a set's rotation, a
       * sequence's counter, the last timestamp's slot); a waiter does
       * not. */
      rvalue = rsrc_value (lifespan, p->identity,
                           status == LATCH_LOCK_GRANTED ? state : exists ? r->state : NULL);
      ops[n_ops].type = LATCH_ETCD_OP_PUT;
      ops[n_ops].key = bytes_str (rkey);
      ops[n_ops].value = bytes_str (rvalue);
      n_ops++;
    }
  value = req_value (&p->req, status == LATCH_LOCK_GRANTED, p->time_us, element, p->label);
  ops[n_ops].type = LATCH_ETCD_OP_PUT;
  ops[n_ops].key = bytes_str (p->key);
  ops[n_ops].value = bytes_str (value);
  ops[n_ops].lease = m->lease;
  n_ops++;

  w = g_new0 (WriteCtx, 1);
  w->m = m;
  w->p = p;
  w->held = status == LATCH_LOCK_GRANTED;
  w->status = status;
  w->compared_mod = exists ? r->rkey_mod : 0;
  w->put_rkey = status != LATCH_LOCK_WAIT_RESOURCE;
  w->lifespan = exists ? r->lifespan : p->req.lifespan;
  w->state = g_strdup (status == LATCH_LOCK_GRANTED ? state : exists ? r->state : NULL);
  w->element = g_steal_pointer (&element);
  /* Deletions queued this turn go with it, whichever way the compare
   * goes; the write's end sends them again if it fails at the transport. */
  w->deletes = g_steal_pointer (&m->queued_deletes);
  m->queued_deletes = g_ptr_array_new_with_free_func (g_free);
  g_clear_handle_id (&m->flush_id, g_source_remove);
  for (guint i = 0; i < n_deletes; i++)
    {
      ops[n_ops].type = LATCH_ETCD_OP_DELETE;
      ops[n_ops].key = bytes_str (w->deletes->pdata[i]);
      fail_ops[i] = ops[n_ops];
      n_ops++;
    }
  p->writing = TRUE;
  p->retry_rev = 0;
  g_hash_table_add (m->writes, w);
  m->mod->txn (m->etcd, &cmp, 1, ops, n_ops, fail_ops, n_deletes, write_done, w);
  g_bytes_unref (cmp.key);
  for (guint i = 0; i < n_ops; i++)
    {
      g_bytes_unref (ops[i].key);
      if (ops[i].value != NULL)
        g_bytes_unref (ops[i].value);
    }
}

/* Something changed on r: our waiting requests there may be grantable. */
static void
evaluate_waiters (EtcdTable *m, Rsrc *r)
{
  g_autoptr (GPtrArray) mine = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;

  if (!m->synced || m->lease == 0 || m->parent.shut_down)
    return;
  g_hash_table_iter_init (&iter, m->owners);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Owner *o = value;

      if (o->pending != NULL && !o->pending->writing && strcmp (o->pending->hex, r->hex) == 0)
        g_ptr_array_add (mine, o->pending);
    }
  for (guint i = 0; i < mine->len; i++)
    {
      Pending *p = mine->pdata[i];
      Owner *o = owner_get (m, p->owner_id, FALSE);

      /* An earlier decision's callback may have settled or dropped it. */
      if (o == NULL || o->pending != p || p->writing)
        continue;
      /* A waiting one only once its own key is in the view: a decision
       * needs it. */
      if (p->queued_told && !g_hash_table_contains (m->reqs, p->key))
        continue;
      write_decision (m, p);
    }
}

/* ---- writes that need no answer ------------------------------------- */

/* An idle resource's removal: not sent again (whoever sees it idle next
 * tries). */
static void
cleaned_cb (LatchEtcd *etcd G_GNUC_UNUSED, const LatchEtcdTxnResult *result G_GNUC_UNUSED,
            const GError *error, gpointer user_data)
{
  EtcdTable *m = user_data;

  if (error != NULL && !m->freeing)
    latch_log_info ("lock table (etcd): removing an idle resource: %s", error->message);
}

/* Deletions of our keys (releases, cancels, a connection's end) are sent
 * again until etcd has them: one lost with a member that died would leave
 * a holder that nobody holds, alive as long as our lease. */
typedef struct
{
  EtcdTable *m;
  GPtrArray *keys;   /* char * (owned) */
  gint64 lease;      /* the lease they were on */
  guint retry_id;
} Deletion;

static void
deletion_free (gpointer data)
{
  Deletion *del = data;

  g_clear_handle_id (&del->retry_id, g_source_remove);
  g_ptr_array_unref (del->keys);
  g_free (del);
}

static void deletion_send (Deletion *del);

static gboolean
deletion_retry_cb (gpointer user_data)
{
  Deletion *del = user_data;

  del->retry_id = 0;
  /* The lease is gone (or another one is ours now): its keys went with
   * it. */
  if (del->m->lease != del->lease || del->m->lease == 0)
    g_hash_table_remove (del->m->deletions, del);
  else
    deletion_send (del);
  return G_SOURCE_REMOVE;
}

static void
deletion_done (LatchEtcd *etcd G_GNUC_UNUSED, const LatchEtcdTxnResult *result G_GNUC_UNUSED,
               const GError *error, gpointer user_data)
{
  Deletion *del = user_data;
  EtcdTable *m = del->m;

  if (error == NULL || m->freeing)
    {
      g_hash_table_remove (m->deletions, del);
      return;
    }
  latch_log_info ("lock table (etcd): a release did not reach etcd: %s (sent again)",
                  error->message);
  del->retry_id = g_timeout_add (200, deletion_retry_cb, del);
}

static void
deletion_send (Deletion *del)
{
  EtcdTable *m = del->m;
  guint n = del->keys->len;
  g_autofree LatchEtcdOp *ops = g_new0 (LatchEtcdOp, n);

  for (guint i = 0; i < n; i++)
    {
      ops[i].type = LATCH_ETCD_OP_DELETE;
      ops[i].key = bytes_str (del->keys->pdata[i]);
    }
  m->mod->txn (m->etcd, NULL, 0, ops, n, NULL, 0, deletion_done, del);
  for (guint i = 0; i < n; i++)
    g_bytes_unref (ops[i].key);
}

static void
delete_keys_now (EtcdTable *m, const char *const *keys, guint n)
{
  Deletion *del;

  if (n == 0 || m->etcd == NULL)
    return;
  del = g_new0 (Deletion, 1);
  del->m = m;
  del->lease = m->lease;
  del->keys = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < n; i++)
    {
      Req *q = g_hash_table_lookup (m->reqs, keys[i]);

      g_ptr_array_add (del->keys, g_strdup (keys[i]));
      /* Marked for our decisions; one the watch has not brought yet is
       * marked when it comes. */
      if (q != NULL)
        q->deleting = TRUE;
      else
        g_hash_table_add (m->deleting, g_strdup (keys[i]));
    }
  g_hash_table_add (m->deletions, del);
  deletion_send (del);
}

static gboolean
flush_deletes_cb (gpointer user_data)
{
  EtcdTable *m = user_data;
  g_autoptr (GPtrArray) keys = g_steal_pointer (&m->queued_deletes);

  m->flush_id = 0;
  m->queued_deletes = g_ptr_array_new_with_free_func (g_free);
  delete_keys_now (m, (const char *const *)keys->pdata, keys->len);
  return G_SOURCE_REMOVE;
}

/* Deletions wait for the end of the main loop's turn: a txn written
 * meanwhile (a command that unlocks and locks again, both messages read
 * in one turn) carries them, so that the two are one write to etcd. */
static void
delete_keys (EtcdTable *m, const char *const *keys, guint n)
{
  if (n == 0 || m->etcd == NULL)
    return;
  for (guint i = 0; i < n; i++)
    {
      Req *q = g_hash_table_lookup (m->reqs, keys[i]);

      g_ptr_array_add (m->queued_deletes, g_strdup (keys[i]));
      if (q != NULL)
        q->deleting = TRUE;
      else
        g_hash_table_add (m->deleting, g_strdup (keys[i]));
    }
  if (m->flush_id == 0)
    m->flush_id = g_idle_add (flush_deletes_cb, m);
}

static gboolean
cleanup_cb (gpointer user_data)
{
  RsrcTimer *c = user_data;
  EtcdTable *m = c->m;
  Rsrc *r = rsrc_get (m, c->hex, FALSE);

  if (r != NULL)
    {
      r->cleanup_id = 0;
      /* Nobody has queued since our view (the compare), and our view has
       * nobody: the resource has been idle for its lifespan. */
      if (r->reqs->len == 0 && r->rkey_mod != 0 && m->lease != 0)
        {
          g_autofree char *rkey = rkey_of (m, r->hex);
          LatchEtcdCompare cmp = { LATCH_ETCD_TARGET_MOD, LATCH_ETCD_EQUAL, NULL, NULL,
                                   r->rkey_mod, NULL };
          LatchEtcdOp op = { LATCH_ETCD_OP_DELETE, NULL, NULL, NULL, 0, FALSE };

          cmp.key = bytes_str (rkey);
          op.key = bytes_str (rkey);
          m->mod->txn (m->etcd, &cmp, 1, &op, 1, NULL, 0, cleaned_cb, m);
          g_bytes_unref (cmp.key);
          g_bytes_unref (op.key);
        }
    }
  return G_SOURCE_REMOVE;
}

/* An idle resource key goes after its idle lifespan (at least the local
 * IdleLifespanMin); every daemon that sees it idle tries, the compare lets
 * one succeed and only if nothing happened meanwhile.  A small spread
 * keeps them from all writing at once. */
static void
schedule_cleanup (EtcdTable *m, Rsrc *r)
{
  RsrcTimer *c;
  int delay;

  if (r->reqs->len != 0 || r->rkey_mod == 0)
    {
      g_clear_handle_id (&r->cleanup_id, g_source_remove);
      return;
    }
  if (r->cleanup_id != 0)
    return;
  c = g_new0 (RsrcTimer, 1);
  c->m = m;
  c->hex = g_strdup (r->hex);
  delay = MAX (r->lifespan, MAX (m->idle_lifespan_min, 0)) + g_random_int_range (0, 200);
  r->cleanup_id = g_timeout_add_full (G_PRIORITY_DEFAULT, (guint)delay, cleanup_cb, c,
                                      rsrc_timer_free);
}

/* ---- the watch ------------------------------------------------------- */

static void start_watch (EtcdTable *m);
static void grant_lease (EtcdTable *m);

static gboolean
retry_cb (gpointer user_data)
{
  EtcdTable *m = user_data;

  m->retry_id = 0;
  m->retry_step (m);
  return G_SOURCE_REMOVE;
}

/* Runs step (the lease, the table read, the watch) again in ms, unless a
 * retry is armed already: each leads to the next (a lease to the read,
 * the read to the watch). */
static void
retry_after (EtcdTable *m, guint ms, void (*step) (EtcdTable *m))
{
  if (m->retry_id != 0)
    return;
  m->retry_step = step;
  m->retry_id = g_timeout_add (ms, retry_cb, m);
}

/* A step of the start failed: an unreachable member is passed over (the
 * client has moved on to the next endpoint) until each was tried; any
 * other failure (TLS, an error from etcd) ends the start, with its
 * explanation. */
static gboolean
start_may_retry (EtcdTable *m, const GError *error)
{
  if (g_error_matches (error, LATCH_ETCD_ERROR, LATCH_ETCD_ERROR_UNREACHABLE)
      && ++m->start_failures < m->n_endpoints)
    {
      latch_log_info ("lock table (etcd): %s; trying %s", error->message,
                      m->mod->endpoint (m->etcd));
      return TRUE;
    }
  if (m->start_error == NULL)
    m->start_error = g_error_copy (error);
  return FALSE;
}

/* Requests whose txn failed its compare, once the mirror has the revision
 * it failed at. */
static void
retry_failed (EtcdTable *m)
{
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (guint64));
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, m->owners);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Owner *o = value;

      if (o->pending != NULL && !o->pending->writing && o->pending->retry_rev != 0
          && o->pending->retry_rev <= m->rev)
        g_array_append_val (ids, o->id);
    }
  for (guint i = 0; i < ids->len; i++)
    {
      Owner *o = owner_get (m, g_array_index (ids, guint64, i), FALSE);

      if (o != NULL && o->pending != NULL && !o->pending->writing && m->lease != 0)
        write_decision (m, o->pending);
    }
  for (guint i = 0; i < m->releases->len; i++)
    {
      Release *rel = m->releases->pdata[i];

      if (rel->retry_rev != 0 && rel->retry_rev <= m->rev)
        {
          release_write (m, rel);
          i = (guint)-1; /* the array may have changed: from the start */
        }
    }
}

static void
apply_events (EtcdTable *m, const LatchEtcdEvent *events, guint n, gint64 revision)
{
  g_autoptr (GHashTable) touched = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GPtrArray) hexes = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer key;

  for (guint i = 0; i < n; i++)
    mirror_apply (m, &events[i].kv, events[i].type == LATCH_ETCD_EVENT_DELETE, touched);
  if (revision > m->rev)
    m->rev = revision;
  /* Copied: evaluating may free resources. */
  g_hash_table_iter_init (&iter, touched);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (hexes, g_strdup (key));
  retry_failed (m);
  for (guint i = 0; i < hexes->len; i++)
    {
      Rsrc *r = rsrc_get (m, hexes->pdata[i], FALSE);

      if (r == NULL)
        continue;
      evaluate_waiters (m, r);
      r = rsrc_get (m, hexes->pdata[i], FALSE);
      if (r == NULL)
        continue;
      schedule_cleanup (m, r);
      rsrc_forget_if_empty (m, r);
    }
}

static void
watch_created (LatchEtcdWatch *watch G_GNUC_UNUSED, gint64 revision G_GNUC_UNUSED,
               gpointer user_data)
{
  EtcdTable *m = user_data;

  m->synced = TRUE;
  if (!m->starting && m->lease != 0)
    latch_table_set_ready (&m->parent, TRUE);
}

static void
watch_events (LatchEtcdWatch *watch G_GNUC_UNUSED, const LatchEtcdEvent *events, guint n,
              gint64 revision, gpointer user_data)
{
  apply_events (user_data, events, n, revision);
}

static void
watch_ended (LatchEtcdWatch *watch G_GNUC_UNUSED, const GError *error, gpointer user_data)
{
  EtcdTable *m = user_data;

  m->watch = NULL;
  m->synced = FALSE;
  if (m->freeing || m->parent.shut_down)
    return;
  if (m->starting)
    {
      if (start_may_retry (m, error))
        start_watch (m);
      return;
    }
  latch_log_info ("lock table (etcd): the watch ended: %s",
                  error != NULL ? error->message : "without a reason");
  if (error != NULL && g_error_matches (error, LATCH_ETCD_ERROR, LATCH_ETCD_ERROR_COMPACTED))
    {
      resync (m);
      return;
    }
  /* From the next revision, after a pause (on the next endpoint). */
  retry_after (m, 200, start_watch);
}

static const LatchEtcdWatchCallbacks watch_callbacks = {
  watch_created,
  watch_events,
  watch_ended,
};

static void
start_watch (EtcdTable *m)
{
  g_autoptr (GBytes) key = bytes_str (m->prefix);
  g_autoptr (GBytes) end = range_end_of (m->prefix);

  if (m->watch != NULL)
    m->mod->watch_stop (m->watch);
  m->watch = m->mod->watch (m->etcd, key, end, m->rev + 1, &watch_callbacks, m);
}

/* Reads the whole table at one revision and follows it from there. */
static void
range_done (LatchEtcd *etcd G_GNUC_UNUSED, const LatchEtcdTxnResult *result,
            const GError *error, gpointer user_data)
{
  EtcdTable *m = user_data;
  g_autoptr (GHashTable) touched = g_hash_table_new (g_str_hash, g_str_equal);
  GPtrArray *kvs;

  if (m->freeing)
    return;
  if (error != NULL)
    {
      if (m->starting)
        {
          if (start_may_retry (m, error))
            resync (m);
          return;
        }
      latch_log_info ("lock table (etcd): reading the table: %s", error->message);
      retry_after (m, 500, resync);
      return;
    }
  g_hash_table_remove_all (m->reqs);
  g_hash_table_remove_all (m->resources);
  kvs = result->ranges->pdata[0];
  for (guint i = 0; kvs != NULL && i < kvs->len; i++)
    mirror_apply (m, kvs->pdata[i], FALSE, touched);
  m->rev = result->revision;
  start_watch (m);
}

static void
resync (EtcdTable *m)
{
  g_autoptr (GBytes) key = bytes_str (m->prefix);
  g_autoptr (GBytes) end = range_end_of (m->prefix);
  LatchEtcdOp op = { LATCH_ETCD_OP_RANGE, key, end, NULL, 0, FALSE };

  g_clear_handle_id (&m->retry_id, g_source_remove);
  m->synced = FALSE;
  if (m->watch != NULL)
    {
      m->mod->watch_stop (m->watch);
      m->watch = NULL;
    }
  m->mod->txn (m->etcd, NULL, 0, &op, 1, NULL, 0, range_done, m);
}

/* ---- the lease ------------------------------------------------------- */

static void arm_guard (EtcdTable *m);
static void lease_granted (LatchEtcd *etcd, gint64 lease, gint64 ttl, const GError *error,
                           gpointer user_data);

static gboolean
guard_cb (gpointer user_data)
{
  EtcdTable *m = user_data;

  m->guard_id = 0;
  if (m->lease != 0 && g_get_monotonic_time () >= m->safe_until)
    {
      g_autofree char *why = g_strdup_printf (
          "the lease on etcd was not renewed in time (%s)",
          m->last_problem != NULL ? m->last_problem : "etcd did not answer");

      lease_lost (m, why);
    }
  else
    arm_guard (m);
  return G_SOURCE_REMOVE;
}

static void
arm_guard (EtcdTable *m)
{
  gint64 left;

  g_clear_handle_id (&m->guard_id, g_source_remove);
  if (m->lease == 0)
    return;
  left = m->safe_until - g_get_monotonic_time ();
  m->guard_id = g_timeout_add ((guint)CLAMP ((left + 999) / 1000, 0, G_MAXINT), guard_cb, m);
}

static void
keepalive_done (LatchEtcd *etcd G_GNUC_UNUSED, gint64 lease, gint64 ttl, const GError *error,
                gpointer user_data)
{
  EtcdTable *m = user_data;
  gint64 sent = m->keepalive_sent;

  m->keepalive_sent = 0;
  if (m->freeing || lease != m->lease || m->lease == 0)
    return;
  if (error != NULL)
    {
      g_free (m->last_problem);
      m->last_problem = g_strdup (error->message);
      if (g_error_matches (error, LATCH_ETCD_ERROR, LATCH_ETCD_ERROR_LEASE_GONE))
        {
          lease_lost (m, "etcd says the daemon's lease has expired");
          return;
        }
      latch_log_info ("lock table (etcd): renewing the lease: %s", error->message);
      return;
    }
  if (ttl <= 0)
    {
      lease_lost (m, "etcd says the daemon's lease has expired");
      return;
    }
  g_clear_pointer (&m->last_problem, g_free);
  m->safe_until = sent + ttl * G_USEC_PER_SEC - m->margin_us;
  arm_guard (m);
}

static gboolean
keepalive_cb (gpointer user_data)
{
  EtcdTable *m = user_data;

  if (m->lease != 0 && m->keepalive_sent == 0)
    {
      m->keepalive_sent = g_get_monotonic_time ();
      m->mod->lease_keepalive (m->renewer, m->lease, keepalive_done, m);
    }
  return G_SOURCE_CONTINUE;
}

static void
grant_lease (EtcdTable *m)
{
  m->grant_sent = g_get_monotonic_time ();
  m->mod->lease_grant (m->etcd, m->ttl, lease_granted, m);
}

static void
lease_granted (LatchEtcd *etcd G_GNUC_UNUSED, gint64 lease, gint64 ttl, const GError *error,
               gpointer user_data)
{
  EtcdTable *m = user_data;
  gint64 sent = m->grant_sent;

  if (m->freeing)
    return;
  if (error != NULL)
    {
      if (m->starting)
        {
          if (start_may_retry (m, error))
            grant_lease (m);
          return;
        }
      g_free (m->last_problem);
      m->last_problem = g_strdup (error->message);
      retry_after (m, 1000, grant_lease);
      return;
    }
  m->lease = lease;
  m->safe_until = sent + ttl * G_USEC_PER_SEC - m->margin_us;
  latch_log_info ("lock table (etcd): lease %" G_GINT64_FORMAT " granted by %s (TTL %" G_GINT64_FORMAT
                  " s)", lease, m->mod->endpoint (m->etcd), ttl);
  arm_guard (m);
  if (m->keepalive_id == 0)
    m->keepalive_id = g_timeout_add ((guint)MAX (m->ttl * 1000 / 3, 200), keepalive_cb, m);
  resync (m);
}

/* The lease cannot be counted on any more: every lock of ours is lost
 * (the commands are stopped), every wait refused; a new lease is asked
 * for, and the mirror read again once it is granted. */
static void
lease_lost (EtcdTable *m, const char *why)
{
  g_autoptr (GError) reason = g_error_new_literal (LATCH_ERROR, LATCH_ERROR_IO, why);
  g_autoptr (GPtrArray) owners = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;
  gint64 old = m->lease;

  latch_log_warning ("lock table (etcd): %s: every lock of this daemon is lost", why);
  m->lease = 0;
  m->synced = FALSE;
  g_clear_handle_id (&m->guard_id, g_source_remove);
  latch_table_set_ready (&m->parent, FALSE);
  if (m->watch != NULL)
    {
      m->mod->watch_stop (m->watch);
      m->watch = NULL;
    }
  /* The old lease is left to expire, not revoked: revoking it would
   * release our locks at once, while the commands holding them are still
   * being stopped; its expiry comes after they are (the margin). */
  (void)old;
  g_hash_table_iter_init (&iter, m->owners);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (owners, GSIZE_TO_POINTER (((Owner *)value)->id));
  for (guint i = 0; i < owners->len && !m->parent.shut_down; i++)
    {
      guint64 id = GPOINTER_TO_SIZE (owners->pdata[i]);
      Owner *o = owner_get (m, id, FALSE);
      g_autoptr (GPtrArray) names = NULL;

      if (o == NULL)
        continue;
      if (o->pending != NULL)
        {
          Pending *p = o->pending;
          guint64 req_id = p->req_id;

          o->pending = NULL;
          if (p->writing)
            p->gone = TRUE;
          else
            pending_free (p);
          answer (m, id, req_id, (LatchLockStatus)LATCH_RC_CONNECTION_CLOSED, 0, why);
        }
      o = owner_get (m, id, FALSE);
      if (o == NULL)
        continue;
      names = g_ptr_array_new_with_free_func (g_free);
      {
        GHashTableIter hi;
        gpointer name;

        g_hash_table_iter_init (&hi, o->held);
        while (g_hash_table_iter_next (&hi, &name, NULL))
          g_ptr_array_add (names, g_strdup (name));
      }
      g_hash_table_remove_all (o->held);
      for (guint j = 0; j < names->len && !m->parent.shut_down; j++)
        latch_table_emit_lost (&m->parent, id, names->pdata[j], reason);
    }
  if (!m->parent.shut_down)
    retry_after (m, 200, grant_lease);
}

/* ---- the backend ----------------------------------------------------- */

static LatchTableOutcome
etcd_request (LatchTable *table, LatchTableOwner *owner, guint64 req_id, const LatchLockReq *req)
{
  EtcdTable *m = (EtcdTable *)table;
  LatchRsrcType type = latch_rsrc_name_classify (req->name, strlen (req->name));
  Owner *o;
  Pending *p;
  g_autofree char *identity = NULL;

  if (type == LATCH_RSRC_INVALID)
    {
      answer (m, owner->id, req_id, LATCH_LOCK_INVALID_NAME, 0, NULL);
      return LATCH_TABLE_ANSWERED;
    }
  if (m->max_idle_lifespan > 0 && req->lifespan > m->max_idle_lifespan)
    {
      answer (m, owner->id, req_id, LATCH_LOCK_LIMIT_IDLE_LIFESPAN, 0, NULL);
      return LATCH_TABLE_ANSWERED;
    }
  o = owner_get (m, owner->id, TRUE);
  if (m->max_locks > 0 && g_hash_table_size (o->held) >= (guint)m->max_locks)
    {
      answer (m, owner->id, req_id, LATCH_LOCK_LIMIT_LOCKS, 0, NULL);
      return LATCH_TABLE_ANSWERED;
    }
  if (m->lease == 0 || !m->synced)
    {
      g_autofree char *why = g_strdup_printf (
          "the lock table on etcd is not reachable now%s%s", m->last_problem != NULL ? ": " : "",
          m->last_problem != NULL ? m->last_problem : "");

      answer (m, owner->id, req_id, (LatchLockStatus)LATCH_RC_CONNECTION_REFUSED, 0, why);
      return LATCH_TABLE_ANSWERED;
    }
  if (type == LATCH_RSRC_HIER)
    {
      const char *end = strchr (req->name + 1, '/');

      identity = end != NULL ? g_strndup (req->name, end - req->name) : g_strdup (req->name);
    }
  else
    identity = g_strdup (req->name);

  p = g_new0 (Pending, 1);
  p->owner_id = owner->id;
  p->req_id = req_id;
  p->hex = hex_of (identity);
  p->identity = g_strdup (identity);
  p->key = g_strdup_printf ("%sq/%s/%s/%" G_GUINT64_FORMAT, m->prefix, p->hex,
                            latch_table_owner_key (table, owner), req_id);
  p->req = *req;
  p->req.name = g_strdup (req->name);
  p->label = g_strdup (owner->label);
  p->time_us = g_get_real_time ();
  o->pending = p;
  write_decision (m, p);
  /* A refusal decided at once was answered inside. */
  return owner->req_id == req_id && !owner->req_answered ? LATCH_TABLE_PENDING
                                                         : LATCH_TABLE_ANSWERED;
}

static void
etcd_cancel (LatchTable *table, LatchTableOwner *owner)
{
  EtcdTable *m = (EtcdTable *)table;
  Owner *o = owner_get (m, owner->id, FALSE);
  Pending *p;

  if (o == NULL || o->pending == NULL)
    return;
  p = o->pending;
  o->pending = NULL;
  if (p->writing)
    {
      p->gone = TRUE; /* its txn's callback deletes what it wrote */
      return;
    }
  {
    const char *keys[] = { p->key };

    if (p->queued_told)
      delete_keys (m, keys, 1);
  }
  pending_free (p);
}

/* A release that gives something back to the type's state (a value of a
 * transactional sequence, rolled back, is handed out again): the state
 * is written with the deletion, under the resource's compare, and tried
 * again when somebody changed the resource meanwhile. */
static void
release_free (Release *rel)
{
  g_free (rel->key);
  g_free (rel);
}

static void
release_done (LatchEtcd *etcd G_GNUC_UNUSED, const LatchEtcdTxnResult *result,
              const GError *error, gpointer user_data)
{
  Release *rel = user_data;
  EtcdTable *m = rel->m;

  if (error != NULL)
    {
      const char *keys[] = { rel->key };

      /* The value is not given back; the lock is released all the same. */
      latch_log_info ("lock table (etcd): giving back %s: %s", rel->key, error->message);
      delete_keys (m, keys, 1);
      g_ptr_array_remove (m->releases, rel);
      return;
    }
  if (!result->succeeded)
    {
      Req *q = g_hash_table_lookup (m->reqs, rel->key);

      if (m->rev >= result->revision || q == NULL || q->rsrc->rkey_mod != rel->compared_mod)
        release_write (m, rel);
      else
        rel->retry_rev = result->revision;
      return;
    }
  g_ptr_array_remove (m->releases, rel);
}

static void
release_write (EtcdTable *m, Release *rel)
{
  Req *q = g_hash_table_lookup (m->reqs, rel->key);
  Rsrc *r = q != NULL ? q->rsrc : NULL;
  g_autoptr (LatchLocker) scratch = NULL;
  g_autoptr (GArray) events = latch_lock_events_new ();
  g_autofree char *state = NULL;
  g_autofree char *rkey = NULL;
  g_autofree char *rvalue = NULL;
  LatchEtcdCompare cmp = { 0 };
  LatchEtcdOp ops[2] = { { 0 } };
  gint64 now_us = g_get_real_time ();

  rel->retry_rev = 0;
  if (r != NULL && r->rkey_mod != 0 && (scratch = replay (m, r, NULL, FALSE, now_us)) != NULL
      && latch_locker_unlock (scratch, q, q->req.name, rel->rollback, now_us, events))
    state = latch_locker_save_state (scratch, r->identity);
  if (state == NULL || g_strcmp0 (state, r->state) == 0)
    {
      const char *keys[] = { rel->key };

      delete_keys (m, keys, 1);
      g_ptr_array_remove (m->releases, rel);
      return;
    }
  rkey = rkey_of (m, r->hex);
  rvalue = rsrc_value (r->lifespan, r->identity, state);
  cmp.target = LATCH_ETCD_TARGET_MOD;
  cmp.result = LATCH_ETCD_EQUAL;
  cmp.key = bytes_str (rkey);
  cmp.number = r->rkey_mod;
  rel->compared_mod = r->rkey_mod;
  ops[0].type = LATCH_ETCD_OP_PUT;
  ops[0].key = bytes_str (rkey);
  ops[0].value = bytes_str (rvalue);
  ops[1].type = LATCH_ETCD_OP_DELETE;
  ops[1].key = bytes_str (rel->key);
  m->mod->txn (m->etcd, &cmp, 1, ops, 2, NULL, 0, release_done, rel);
  g_bytes_unref (cmp.key);
  g_bytes_unref (ops[0].key);
  g_bytes_unref (ops[0].value);
  g_bytes_unref (ops[1].key);
}

static gboolean
etcd_release (LatchTable *table, LatchTableOwner *owner, const char *name, gboolean rollback)
{
  EtcdTable *m = (EtcdTable *)table;
  Owner *o = owner_get (m, owner->id, FALSE);
  g_autofree char *key = NULL;
  Release *rel;

  g_autofree char *held_name = NULL;

  if (o == NULL
      || !g_hash_table_steal_extended (o->held, name, (gpointer *)&held_name, (gpointer *)&key))
    return FALSE;
  rel = g_new0 (Release, 1);
  rel->m = m;
  rel->key = g_steal_pointer (&key);
  rel->rollback = rollback;
  g_ptr_array_add (m->releases, rel);
  release_write (m, rel);
  return TRUE;
}

static void
owner_free (Owner *o)
{
  /* One being written belongs to its write (the write's end frees it). */
  if (o->pending != NULL)
    {
      if (o->pending->writing)
        o->pending->gone = TRUE;
      else
        pending_free (o->pending);
    }
  g_hash_table_unref (o->held);
  g_free (o);
}

static void
etcd_drop_owner (LatchTable *table, LatchTableOwner *owner)
{
  EtcdTable *m = (EtcdTable *)table;
  Owner *o = owner_get (m, owner->id, FALSE);
  g_autoptr (GPtrArray) keys = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;

  if (o == NULL)
    return;
  etcd_cancel (table, owner);
  g_hash_table_iter_init (&iter, o->held);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (keys, value);
  delete_keys (m, (const char *const *)keys->pdata, keys->len);
  g_hash_table_remove (m->owners, &o->id);
}

static guint
etcd_n_resources (const LatchTable *table)
{
  const EtcdTable *m = (const EtcdTable *)table;
  GHashTableIter iter;
  gpointer value;
  guint n = 0;

  g_hash_table_iter_init (&iter, m->owners);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    n += g_hash_table_size (((Owner *)value)->held);
  return n;
}

static guint
etcd_n_active (const LatchTable *table)
{
  const EtcdTable *m = (const EtcdTable *)table;
  GHashTableIter iter;
  gpointer value;
  guint n = 0;

  g_hash_table_iter_init (&iter, m->owners);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Owner *o = value;

      n += g_hash_table_size (o->held) + (o->pending != NULL ? 1 : 0);
    }
  return n;
}

static void
etcd_snapshot (LatchTable *table, LatchTableSnapshot *snapshot)
{
  EtcdTable *m = (EtcdTable *)table;
  GHashTableIter iter;
  gpointer value;

  snapshot->taken_us = g_get_real_time ();
  g_hash_table_iter_init (&iter, m->resources);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Rsrc *r = value;
      LatchTableRsrcStatus *rs;

      if (r->identity == NULL)
        continue;
      rs = latch_table_rsrc_status_new (r->identity);
      rs->exists = r->rkey_mod != 0;
      rs->lifespan = r->lifespan;
      rs->expiry_us = -1;
      for (int pass = 0; pass < 2; pass++)
        for (guint i = 0; i < r->reqs->len; i++)
          {
            Req *q = r->reqs->pdata[i];
            LatchTableLockStatus lock = { 0 };

            if (q->held != (pass == 0))
              continue;
            lock.place = q->held ? LATCH_TABLE_HOLDING
                                 : rs->exists ? LATCH_TABLE_QUEUED : LATCH_TABLE_WAITING_CREATION;
            lock.owner_key = g_strdup (q->owner_key);
            lock.name = g_strdup (q->req.name);
            lock.mode = q->req.mode;
            lock.quantity = q->req.quantity;
            lock.since_us = q->time_us;
            lock.fence = q->held ? (guint64)q->mod_rev : 0;
            g_array_append_val (rs->locks, lock);
          }
      g_ptr_array_add (snapshot->resources, rs);
    }
}

static void
etcd_shutdown (LatchTable *table)
{
  EtcdTable *m = (EtcdTable *)table;

  /* Exiting with holders (a shutdown while commands ran): their
   * commands are stopped as the connections close, so the lease is left
   * to expire rather than revoked under them. */
  if (etcd_n_active (table) > 0)
    m->keep_lease = TRUE;
  g_clear_handle_id (&m->keepalive_id, g_source_remove);
  g_clear_handle_id (&m->guard_id, g_source_remove);
  g_clear_handle_id (&m->retry_id, g_source_remove);
  if (m->watch != NULL)
    {
      m->mod->watch_stop (m->watch);
      m->watch = NULL;
    }
}

/* Runs the context until the revoke has gone out, a short while at most:
 * an exiting daemon's keys should not wait for the lease's TTL. */
static void
revoke_done (LatchEtcd *etcd G_GNUC_UNUSED, gint64 lease G_GNUC_UNUSED, gint64 ttl G_GNUC_UNUSED,
             const GError *error G_GNUC_UNUSED, gpointer user_data)
{
  *(gboolean *)user_data = TRUE;
}

static void
etcd_free (LatchTable *table)
{
  EtcdTable *m = (EtcdTable *)table;

  etcd_shutdown (table);
  if (m->etcd != NULL && m->lease != 0 && !m->keep_lease)
    {
      gboolean done = FALSE;
      gint64 until = g_get_monotonic_time () + 1000 * G_TIME_SPAN_MILLISECOND;

      m->mod->lease_revoke (m->etcd, m->lease, revoke_done, &done);
      while (!done && g_get_monotonic_time () < until)
        if (!g_main_context_iteration (NULL, FALSE))
          g_usleep (1000);
    }
  m->freeing = TRUE;
  if (m->etcd != NULL)
    m->mod->free (m->etcd);
  if (m->renewer != NULL)
    m->mod->free (m->renewer);
  m->etcd = NULL;
  m->renewer = NULL;
  /* Owners first: one whose request is being written marks it gone,
   * then the writes free what they own. */
  g_hash_table_destroy (m->owners);
  g_hash_table_destroy (m->writes);
  g_ptr_array_unref (m->releases);
  g_hash_table_destroy (m->deleting);
  g_hash_table_destroy (m->deletions);
  g_clear_handle_id (&m->flush_id, g_source_remove);
  g_ptr_array_unref (m->queued_deletes);
  g_hash_table_destroy (m->reqs);
  g_hash_table_destroy (m->resources);
  g_clear_error (&m->start_error);
  g_free (m->last_problem);
  g_free (m->prefix);
}

static const LatchTableBackend etcd_backend = {
  .name = "etcd",
  .request = etcd_request,
  .cancel = etcd_cancel,
  .release = etcd_release,
  .drop_owner = etcd_drop_owner,
  .n_resources = etcd_n_resources,
  .n_active = etcd_n_active,
  .snapshot = etcd_snapshot,
  .shutdown = etcd_shutdown,
  .free = etcd_free,
};

static gboolean
start_timeout_cb (gpointer user_data)
{
  gboolean *expired = user_data;

  *expired = TRUE;
  return G_SOURCE_REMOVE;
}

LatchTable *
latch_table_etcd_new (const LatchTableEtcdConfig *config, const char *instance, GError **error)
{
  const LatchEtcdModule *mod = latch_etcd_module_load (error);
  g_auto (GStrv) endpoints = NULL;
  EtcdTable *m;
  gboolean expired = FALSE;
  guint timeout_id;
  LatchEtcdConfig ec = { 0 };

  if (mod == NULL)
    return NULL;
  endpoints = g_strsplit (config->endpoints, ",", -1);
  for (char **e = endpoints; *e != NULL; e++)
    g_strstrip (*e);
  ec.endpoints = (const char *const *)endpoints;
  ec.cert_file = config->cert_file;
  ec.key_file = config->key_file;
  ec.ca_file = config->ca_file;
  ec.crl_file = config->crl_file;
  ec.priority = config->priority;
  ec.timeout_ms = 5000;

  m = g_new0 (EtcdTable, 1);
  latch_table_init (&m->parent, &etcd_backend, instance);
  m->mod = mod;
  m->n_endpoints = g_strv_length (endpoints);
  m->prefix = g_strdup (config->prefix);
  m->ttl = config->lease_ttl;
  m->margin_us = MAX (500 * G_TIME_SPAN_MILLISECOND, m->ttl * G_USEC_PER_SEC / 4);
  m->max_locks = config->max_locks;
  m->max_waiters = config->max_waiters;
  m->max_idle_lifespan = config->max_idle_lifespan;
  m->idle_lifespan_min = config->idle_lifespan_min;
  m->resources = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify)rsrc_free);
  m->reqs = g_hash_table_new (g_str_hash, g_str_equal);
  m->owners = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, (GDestroyNotify)owner_free);
  m->writes = g_hash_table_new_full (NULL, NULL, write_ctx_free, NULL);
  m->releases = g_ptr_array_new_with_free_func ((GDestroyNotify)release_free);
  m->deleting = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  m->deletions = g_hash_table_new_full (NULL, NULL, deletion_free, NULL);
  m->queued_deletes = g_ptr_array_new_with_free_func (g_free);
  m->etcd = mod->new (&ec, error);
  /* Renewals have a client of their own: one that is not answered in a
   * third of the TTL is given up, and its member with it, so that the
   * next renewal goes to another member well within the lease's safe
   * window, whatever a slow txn or the start take on the other. */
  ec.timeout_ms = CLAMP (config->lease_ttl * 1000 / 3, 1000, 5000);
  if (m->etcd != NULL)
    m->renewer = mod->new (&ec, error);
  if (m->etcd == NULL || m->renewer == NULL)
    {
      latch_table_free (&m->parent);
      return NULL;
    }
  /* The start: a lease, the table read, the watch running, before the
   * daemon says it is ready; so a command learns at once, in one line,
   * that etcd cannot be reached, never later by a lock that fails. */
  m->starting = TRUE;
  timeout_id = g_timeout_add (START_TIMEOUT_MS, start_timeout_cb, &expired);
  grant_lease (m);
  while (!m->synced && m->start_error == NULL && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (timeout_id);
  m->starting = FALSE;
  if (!m->synced)
    {
      if (m->start_error != NULL)
        g_propagate_error (error, g_steal_pointer (&m->start_error));
      else
        g_set_error (error, LATCH_ERROR, LATCH_ERROR_CONNECT,
                     "etcd at %s did not answer within %d s (check EtcdEndpoints)",
                     mod->endpoint (m->etcd), START_TIMEOUT_MS / 1000);
      latch_table_free (&m->parent);
      return NULL;
    }
  latch_table_set_ready (&m->parent, TRUE);
  return &m->parent;
}
