/* etcd-probe.c: drives latch-etcd.so against real etcd members for
 * tests/integration/etcd-client.sh.
 *
 *   etcd-probe [--ca F] [--crl F] [--cert F --key F] [--timeout MS] SCENARIO [ARG]
 *
 * The endpoints come from $ETCD_ENDPOINTS (comma-separated).  The module
 * is loaded as latchd loads it (etcd/etcd-loader.c).  Each scenario checks
 * what the client answers and exits 0 when all is as expected; otherwise
 * it prints what differed ("FAIL: ...") and exits 1.  "request" prints
 * the error line of one range request instead, and exits 2 on an error.
 * Every wait is a bounded run of the main loop. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "etcd/etcd-loader.h"

static const LatchEtcdModule *M;
static int failures;

#define CHECK(cond, ...)                                                       \
  G_STMT_START                                                                 \
  {                                                                            \
    if (!(cond))                                                               \
      {                                                                        \
        failures++;                                                            \
        printf ("FAIL: %s:%d: %s: ", __FILE__, __LINE__, #cond);               \
        printf (__VA_ARGS__);                                                  \
        printf ("\n");                                                         \
      }                                                                        \
  }                                                                            \
  G_STMT_END

static gboolean
expire_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the loop until *flag or ms pass; FALSE when the time ran out. */
static gboolean
wait_for (const gboolean *flag, int ms)
{
  gboolean expired = FALSE;
  guint id = g_timeout_add (ms, expire_cb, &expired);

  while (!*flag && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (id);
  return *flag;
}

#define WAIT(flag, ms)                                                          \
  G_STMT_START                                                                 \
  {                                                                            \
    if (!wait_for (&(flag), (ms)))                                             \
      {                                                                        \
        printf ("FAIL: %s:%d: no answer in %d ms\n", __FILE__, __LINE__, (ms)); \
        exit (1);                                                              \
      }                                                                        \
  }                                                                            \
  G_STMT_END

/* Runs the loop until COND holds (checked at each wake-up; a 10 ms timer
 * wakes it) or ms pass: then a failure. */
#define WAIT_COND(cond, ms)                                                     \
  G_STMT_START                                                                 \
  {                                                                            \
    gint64 deadline_ = g_get_monotonic_time () + (ms) * (gint64) 1000;         \
    guint tick_ = g_timeout_add (10, tick_cb, NULL);                           \
                                                                               \
    while (!(cond) && g_get_monotonic_time () < deadline_)                     \
      g_main_context_iteration (NULL, TRUE);                                   \
    g_source_remove (tick_);                                                   \
    if (!(cond))                                                               \
      {                                                                        \
        printf ("FAIL: %s:%d: still not (%s) after %d ms\n", __FILE__, __LINE__, \
                #cond, (ms));                                                  \
        exit (1);                                                              \
      }                                                                        \
  }                                                                            \
  G_STMT_END

static gboolean
tick_cb (gpointer data)
{
  (void) data;
  return G_SOURCE_CONTINUE;
}

static GBytes *
b (const char *s)
{
  return g_bytes_new (s, strlen (s));
}

static gboolean
bytes_is (GBytes *bytes, const char *s)
{
  g_autoptr(GBytes) want = b (s);

  return bytes != NULL && g_bytes_equal (bytes, want);
}

static char *
show (GBytes *bytes)
{
  gsize len;
  const char *d;

  if (bytes == NULL)
    return g_strdup ("(null)");
  d = g_bytes_get_data (bytes, &len);
  return g_strndup (d != NULL ? d : "", len);
}

/* --------------------------------------------------------------------- */

typedef struct
{
  gboolean done;
  gboolean ok;
  gboolean succeeded;
  gint64 revision;
  guint n_ranges;
  GPtrArray *kvs;       /* the first range's, copied */
  gboolean first_is_range;
  gint64 deleted[4];
  GError *error;
} TxnOut;

static void
txn_out_clear (TxnOut *o)
{
  g_clear_pointer (&o->kvs, g_ptr_array_unref);
  g_clear_error (&o->error);
  memset (o, 0, sizeof *o);
}

typedef struct
{
  GBytes *key;
  GBytes *value;
  gint64 mod_revision;
  gint64 lease;
} KvCopy;

static void
kv_copy_free (gpointer data)
{
  KvCopy *k = data;

  g_bytes_unref (k->key);
  g_clear_pointer (&k->value, g_bytes_unref);
  g_free (k);
}

static void
txn_cb (LatchEtcd *etcd, const LatchEtcdTxnResult *result, const GError *error,
        gpointer user_data)
{
  TxnOut *o = user_data;

  (void) etcd;
  o->done = TRUE;
  if (error != NULL)
    {
      o->error = g_error_copy (error);
      return;
    }
  o->ok = TRUE;
  o->succeeded = result->succeeded;
  o->revision = result->revision;
  o->n_ranges = result->ranges->len;
  for (guint i = 0; i < result->ranges->len && i < G_N_ELEMENTS (o->deleted); i++)
    o->deleted[i] = result->deleted[i];
  if (result->ranges->len > 0 && result->ranges->pdata[0] != NULL)
    {
      GPtrArray *kvs = result->ranges->pdata[0];

      o->first_is_range = TRUE;
      o->kvs = g_ptr_array_new_with_free_func (kv_copy_free);
      for (guint i = 0; i < kvs->len; i++)
        {
          const LatchEtcdKv *kv = kvs->pdata[i];
          KvCopy *k = g_new0 (KvCopy, 1);

          k->key = g_bytes_ref (kv->key);
          k->value = kv->value != NULL ? g_bytes_ref (kv->value) : NULL;
          k->mod_revision = kv->mod_revision;
          k->lease = kv->lease;
          g_ptr_array_add (o->kvs, k);
        }
    }
}

static void
run_txn (LatchEtcd *etcd, const LatchEtcdCompare *c, guint nc, const LatchEtcdOp *s, guint ns,
         const LatchEtcdOp *f, guint nf, TxnOut *o)
{
  txn_out_clear (o);
  M->txn (etcd, c, nc, s, ns, f, nf, txn_cb, o);
  WAIT (o->done, 15000);
}

static void
range_one (LatchEtcd *etcd, GBytes *key, TxnOut *o)
{
  LatchEtcdOp op = { .type = LATCH_ETCD_OP_RANGE, .key = key };

  run_txn (etcd, NULL, 0, &op, 1, NULL, 0, o);
}

/* --------------------------------------------------------------------- */

static int
scenario_txn (LatchEtcd *etcd)
{
  g_autoptr(GBytes) k1 = b ("t/k1");
  g_autoptr(GBytes) k2 = b ("t/k2");
  g_autoptr(GBytes) v1 = b ("v1");
  g_autoptr(GBytes) v2 = b ("v2");
  g_autoptr(GBytes) pfx = b ("t/");
  g_autoptr(GBytes) pfx_end = b ("t0"); /* '/' + 1 */
  TxnOut o = { 0 };
  gint64 r1;

  /* Create k1 only if it does not exist: succeeds the first time. */
  {
    LatchEtcdCompare c = { .target = LATCH_ETCD_TARGET_CREATE, .result = LATCH_ETCD_EQUAL,
                           .key = k1, .number = 0 };
    LatchEtcdOp put = { .type = LATCH_ETCD_OP_PUT, .key = k1, .value = v1 };
    LatchEtcdOp get = { .type = LATCH_ETCD_OP_RANGE, .key = k1 };

    run_txn (etcd, &c, 1, &put, 1, &get, 1, &o);
    CHECK (o.ok, "%s", o.error ? o.error->message : "");
    CHECK (o.succeeded, "first create");
    CHECK (o.n_ranges == 1 && !o.first_is_range, "put: one response, not a range (%u)",
           o.n_ranges);
    CHECK (o.revision > 1, "revision %" G_GINT64_FORMAT, o.revision);
    r1 = o.revision;

    /* The same again: the compare fails, the failure's range runs. */
    run_txn (etcd, &c, 1, &put, 1, &get, 1, &o);
    CHECK (o.ok && !o.succeeded, "second create must fail");
    CHECK (o.first_is_range && o.kvs->len == 1, "failure range: %u kvs",
           o.kvs ? o.kvs->len : 0);
    if (o.kvs != NULL && o.kvs->len == 1)
      {
        KvCopy *k = o.kvs->pdata[0];
        g_autofree char *sv = show (k->value);

        CHECK (bytes_is (k->key, "t/k1") && bytes_is (k->value, "v1"), "kv value %s", sv);
        CHECK (k->mod_revision == r1, "mod_revision %" G_GINT64_FORMAT " want %" G_GINT64_FORMAT,
               k->mod_revision, r1);
      }
    CHECK (o.revision == r1, "a failed txn does not change the revision");
  }
  /* Compare on the value and on the mod revision. */
  {
    LatchEtcdCompare c[2] = {
      { .target = LATCH_ETCD_TARGET_VALUE, .result = LATCH_ETCD_EQUAL, .key = k1, .value = v1 },
      { .target = LATCH_ETCD_TARGET_MOD, .result = LATCH_ETCD_EQUAL, .key = k1, .number = r1 },
    };
    LatchEtcdOp put = { .type = LATCH_ETCD_OP_PUT, .key = k2, .value = v2 };

    run_txn (etcd, c, 2, &put, 1, NULL, 0, &o);
    CHECK (o.ok && o.succeeded, "value and mod compares hold");
    c[0].result = LATCH_ETCD_NOT_EQUAL;
    run_txn (etcd, c, 2, &put, 1, NULL, 0, &o);
    CHECK (o.ok && !o.succeeded && o.n_ranges == 0, "value != v1 does not hold");
    c[0].result = LATCH_ETCD_EQUAL;
    c[1].result = LATCH_ETCD_GREATER;
    run_txn (etcd, c, 2, &put, 1, NULL, 0, &o);
    CHECK (o.ok && !o.succeeded, "mod > r1 does not hold");
  }
  /* A prefix range, sorted by key; keys_only; then delete the prefix. */
  {
    LatchEtcdOp ops[3] = {
      { .type = LATCH_ETCD_OP_RANGE, .key = pfx, .range_end = pfx_end },
      { .type = LATCH_ETCD_OP_RANGE, .key = pfx, .range_end = pfx_end, .keys_only = TRUE },
      { .type = LATCH_ETCD_OP_DELETE, .key = pfx, .range_end = pfx_end },
    };

    run_txn (etcd, NULL, 0, ops, 3, NULL, 0, &o);
    CHECK (o.ok && o.succeeded && o.n_ranges == 3, "three responses (%u)", o.n_ranges);
    CHECK (o.kvs != NULL && o.kvs->len == 2, "two keys under t/");
    if (o.kvs != NULL && o.kvs->len == 2)
      CHECK (bytes_is (((KvCopy *) o.kvs->pdata[0])->key, "t/k1")
             && bytes_is (((KvCopy *) o.kvs->pdata[1])->key, "t/k2")
             && bytes_is (((KvCopy *) o.kvs->pdata[1])->value, "v2"), "sorted by key");
    CHECK (o.deleted[2] == 2 && o.deleted[0] == 0, "deleted %" G_GINT64_FORMAT,
           o.deleted[2]);
    range_one (etcd, k1, &o);
    CHECK (o.ok && o.first_is_range && o.kvs->len == 0, "t/k1 is gone");
  }
  txn_out_clear (&o);
  return failures ? 1 : 0;
}

typedef struct
{
  gboolean done;
  gint64 lease;
  gint64 ttl;
  GError *error;
} LeaseOut;

static void
lease_cb (LatchEtcd *etcd, gint64 lease, gint64 ttl, const GError *error, gpointer user_data)
{
  LeaseOut *o = user_data;

  (void) etcd;
  o->done = TRUE;
  o->lease = lease;
  o->ttl = ttl;
  o->error = error != NULL ? g_error_copy (error) : NULL;
}

static void
lease_out_clear (LeaseOut *o)
{
  g_clear_error (&o->error);
  memset (o, 0, sizeof *o);
}

static int
scenario_lease (LatchEtcd *etcd)
{
  g_autoptr(GBytes) k = b ("l/k");
  g_autoptr(GBytes) v = b ("held");
  LeaseOut o = { 0 };
  TxnOut t = { 0 };
  gint64 id;

  M->lease_grant (etcd, 30, lease_cb, &o);
  WAIT (o.done, 15000);
  CHECK (o.error == NULL && o.lease != 0 && o.ttl == 30, "grant: %s id %" G_GINT64_FORMAT
         " ttl %" G_GINT64_FORMAT, o.error ? o.error->message : "ok", o.lease, o.ttl);
  id = o.lease;
  {
    LatchEtcdOp put = { .type = LATCH_ETCD_OP_PUT, .key = k, .value = v, .lease = id };

    run_txn (etcd, NULL, 0, &put, 1, NULL, 0, &t);
    CHECK (t.ok, "put with the lease");
    range_one (etcd, k, &t);
    CHECK (t.kvs != NULL && t.kvs->len == 1 && ((KvCopy *) t.kvs->pdata[0])->lease == id,
           "the key carries the lease");
  }
  lease_out_clear (&o);
  M->lease_keepalive (etcd, id, lease_cb, &o);
  WAIT (o.done, 15000);
  CHECK (o.error == NULL && o.lease == id && o.ttl > 0 && o.ttl <= 30,
         "keepalive: %s ttl %" G_GINT64_FORMAT, o.error ? o.error->message : "ok", o.ttl);
  lease_out_clear (&o);
  M->lease_revoke (etcd, id, lease_cb, &o);
  WAIT (o.done, 15000);
  CHECK (o.error == NULL && o.lease == id, "revoke: %s", o.error ? o.error->message : "ok");
  range_one (etcd, k, &t);
  CHECK (t.ok && t.kvs != NULL && t.kvs->len == 0, "the revoked lease's key is gone");
  lease_out_clear (&o);
  M->lease_keepalive (etcd, id, lease_cb, &o);
  WAIT (o.done, 15000);
  CHECK (g_error_matches (o.error, LATCH_ETCD_ERROR, LATCH_ETCD_ERROR_LEASE_GONE),
         "keepalive after revoke: %s (code %d)", o.error ? o.error->message : "no error",
         o.error ? o.error->code : -1);
  if (o.error != NULL)
    printf ("keepalive after revoke: %s\n", o.error->message);
  /* Revoking it again: the lease is gone. */
  lease_out_clear (&o);
  M->lease_revoke (etcd, id, lease_cb, &o);
  WAIT (o.done, 15000);
  CHECK (g_error_matches (o.error, LATCH_ETCD_ERROR, LATCH_ETCD_ERROR_LEASE_GONE),
         "revoke again: %s", o.error ? o.error->message : "no error");
  /* A fire-and-forget revoke (NULL callback) of a fresh lease. */
  lease_out_clear (&o);
  M->lease_grant (etcd, 30, lease_cb, &o);
  WAIT (o.done, 15000);
  id = o.lease;
  M->lease_revoke (etcd, id, NULL, NULL);
  /* The revoke and a keepalive sent after it travel on two connections:
   * the keepalive may get there first.  Ask until the lease is gone. */
  for (int i = 0; i < 100; i++)
    {
      gboolean never = FALSE;

      lease_out_clear (&o);
      M->lease_keepalive (etcd, id, lease_cb, &o);
      WAIT (o.done, 15000);
      if (o.error != NULL)
        break;
      wait_for (&never, 20);
    }
  CHECK (g_error_matches (o.error, LATCH_ETCD_ERROR, LATCH_ETCD_ERROR_LEASE_GONE),
         "keepalive after a revoke without callback: %s",
         o.error ? o.error->message : "still alive after 2 s");
  lease_out_clear (&o);
  txn_out_clear (&t);
  return failures ? 1 : 0;
}

typedef struct
{
  gboolean created;
  gint64 created_revision;
  gboolean ended;
  GError *error;
  GPtrArray *log;   /* one line per event */
  guint calls;
  gint64 last_revision;
  gboolean order_ok;
} WatchOut;

static void
w_created_cb (LatchEtcdWatch *w, gint64 revision, gpointer user_data)
{
  WatchOut *o = user_data;

  (void) w;
  o->created = TRUE;
  o->created_revision = revision;
}

static void
w_events_cb (LatchEtcdWatch *w, const LatchEtcdEvent *events, guint n, gint64 revision,
             gpointer user_data)
{
  WatchOut *o = user_data;

  (void) w;
  o->calls++;
  if (revision <= o->last_revision)
    o->order_ok = FALSE;
  o->last_revision = revision;
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *k = show (events[i].kv.key);
      g_autofree char *v = show (events[i].kv.value);
      g_autofree char *pk = show (events[i].prev_kv.key);
      g_autofree char *pv = show (events[i].prev_kv.value);

      g_ptr_array_add (o->log, g_strdup_printf ("%s %s=%s prev %s=%s mod %" G_GINT64_FORMAT,
                                                events[i].type == LATCH_ETCD_EVENT_PUT
                                                  ? "PUT" : "DELETE",
                                                k, v, pk, pv, events[i].kv.mod_revision));
    }
}

static void
w_ended_cb (LatchEtcdWatch *w, const GError *error, gpointer user_data)
{
  WatchOut *o = user_data;

  (void) w;
  o->ended = TRUE;
  o->error = error != NULL ? g_error_copy (error) : NULL;
}

static const LatchEtcdWatchCallbacks watch_callbacks = { w_created_cb, w_events_cb, w_ended_cb };

static void
watch_out_init (WatchOut *o)
{
  memset (o, 0, sizeof *o);
  o->log = g_ptr_array_new_with_free_func (g_free);
  o->order_ok = TRUE;
}

static void
watch_out_clear (WatchOut *o)
{
  g_clear_pointer (&o->log, g_ptr_array_unref);
  g_clear_error (&o->error);
}

static int
scenario_watch (LatchEtcd *etcd)
{
  g_autoptr(GBytes) k = b ("w/a");
  g_autoptr(GBytes) other = b ("x/a");
  g_autoptr(GBytes) v1 = b ("one");
  g_autoptr(GBytes) v2 = b ("two");
  g_autoptr(GBytes) pfx = b ("w/");
  g_autoptr(GBytes) pfx_end = b ("w0");
  WatchOut o;
  TxnOut t = { 0 };
  LatchEtcdWatch *w;
  gint64 r0, r_put, r_del;
  LatchEtcdOp put1 = { .type = LATCH_ETCD_OP_PUT, .key = k, .value = v1 };
  LatchEtcdOp put2 = { .type = LATCH_ETCD_OP_PUT, .key = k, .value = v2 };
  LatchEtcdOp put_other = { .type = LATCH_ETCD_OP_PUT, .key = other, .value = v1 };
  LatchEtcdOp del = { .type = LATCH_ETCD_OP_DELETE, .key = k };

  run_txn (etcd, NULL, 0, &put1, 1, NULL, 0, &t);
  CHECK (t.ok, "put one");
  r0 = t.revision;
  watch_out_init (&o);
  w = M->watch (etcd, pfx, pfx_end, r0 + 1, &watch_callbacks, &o);
  WAIT (o.created, 15000);
  CHECK (o.created_revision >= r0, "created at %" G_GINT64_FORMAT, o.created_revision);
  run_txn (etcd, NULL, 0, &put_other, 1, NULL, 0, &t); /* outside the range */
  run_txn (etcd, NULL, 0, &put2, 1, NULL, 0, &t);
  r_put = t.revision;
  run_txn (etcd, NULL, 0, &del, 1, NULL, 0, &t);
  r_del = t.revision;
  CHECK (t.deleted[0] == 1, "deleted one");
  WAIT_COND (o.log->len >= 2 || o.ended, 15000);
  CHECK (!o.ended, "the watch is still running");
  CHECK (o.log->len == 2, "two events, got %u", o.log->len);
  if (o.log->len == 2)
    {
      g_autofree char *want_put = g_strdup_printf ("PUT w/a=two prev w/a=one mod %" G_GINT64_FORMAT,
                                                   r_put);
      g_autofree char *want_del = g_strdup_printf ("DELETE w/a=(null) prev w/a=two mod %"
                                                   G_GINT64_FORMAT, r_del);

      CHECK (strcmp (o.log->pdata[0], want_put) == 0, "first: %s; want %s",
             (char *) o.log->pdata[0], want_put);
      CHECK (strcmp (o.log->pdata[1], want_del) == 0, "second: %s; want %s",
             (char *) o.log->pdata[1], want_del);
    }
  for (guint i = 0; i < o.log->len; i++)
    printf ("event: %s\n", (char *) o.log->pdata[i]);
  CHECK (o.order_ok && o.calls == 2, "one call per revision, in order (%u calls)", o.calls);
  M->watch_stop (w);
  /* Stopped: no callback after this, even for what etcd sends next. */
  run_txn (etcd, NULL, 0, &put1, 1, NULL, 0, &t);
  {
    gboolean never = FALSE;

    wait_for (&never, 300);
  }
  CHECK (o.log->len == 2 && !o.ended, "nothing after watch_stop");
  watch_out_clear (&o);
  txn_out_clear (&t);
  return failures ? 1 : 0;
}

static int
scenario_compacted (LatchEtcd *etcd, gint64 from)
{
  g_autoptr(GBytes) k = b ("c/");
  g_autoptr(GBytes) k_end = b ("c0");
  WatchOut o;
  LatchEtcdWatch *w;

  watch_out_init (&o);
  w = M->watch (etcd, k, k_end, from, &watch_callbacks, &o);
  (void) w;
  WAIT (o.ended, 15000);
  CHECK (g_error_matches (o.error, LATCH_ETCD_ERROR, LATCH_ETCD_ERROR_COMPACTED),
         "ended with %s (code %d)", o.error ? o.error->message : "no error",
         o.error ? o.error->code : -1);
  if (o.error != NULL)
    printf ("%s\n", o.error->message);
  CHECK (o.log->len == 0, "no events from a compacted start");
  watch_out_clear (&o);
  return failures ? 1 : 0;
}

/* n range requests, one after the other on the same client: prints the
 * error line and its code, or "ok" and the endpoint, for each. */
static int
scenario_request (LatchEtcd *etcd, int n)
{
  g_autoptr(GBytes) k = b ("probe");
  TxnOut t = { 0 };
  int rc = 0;

  for (int i = 0; i < n; i++)
    {
      range_one (etcd, k, &t);
      if (t.ok)
        printf ("ok %s\n", M->endpoint (etcd));
      else
        printf ("%s [code %d]\n", t.error->message, t.error->code);
      if (!t.ok)
        rc = 2;
    }
  txn_out_clear (&t);
  return rc;
}

/* etcd refuses a txn that puts one key twice: its error, one line. */
static int
scenario_server_error (LatchEtcd *etcd)
{
  g_autoptr(GBytes) k = b ("dup");
  LatchEtcdOp put[2] = {
    { .type = LATCH_ETCD_OP_PUT, .key = k, .value = k },
    { .type = LATCH_ETCD_OP_PUT, .key = k, .value = k },
  };
  TxnOut t = { 0 };
  int rc;

  run_txn (etcd, NULL, 0, put, 2, NULL, 0, &t);
  if (t.ok)
    printf ("ok\n");
  else
    printf ("%s [code %d]\n", t.error->message, t.error->code);
  rc = t.ok ? 0 : 2;
  txn_out_clear (&t);
  return rc;
}

static gboolean
port_refuses (const char *endpoint)
{
  const char *colon = strrchr (endpoint, ':');
  struct sockaddr_in sa = { .sin_family = AF_INET };
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  gboolean refused;

  sa.sin_port = htons (atoi (colon + 1));
  inet_pton (AF_INET, "127.0.0.1", &sa.sin_addr);
  refused = connect (fd, (struct sockaddr *) &sa, sizeof sa) < 0 && errno == ECONNREFUSED;
  close (fd);
  return refused;
}

/* The endpoint in use dies: the next request fails naming it, the one
 * after succeeds on another member. */
static int
scenario_failover (LatchEtcd *etcd, pid_t pid)
{
  g_autofree char *first = NULL;
  TxnOut t = { 0 };
  g_autoptr(GBytes) k = b ("f/k");
  g_autoptr(GBytes) v = b ("v");
  LatchEtcdOp put = { .type = LATCH_ETCD_OP_PUT, .key = k, .value = v };
  gint64 deadline;

  run_txn (etcd, NULL, 0, &put, 1, NULL, 0, &t);
  CHECK (t.ok, "first request: %s", t.error ? t.error->message : "ok");
  first = g_strdup (M->endpoint (etcd));
  kill (pid, SIGKILL);
  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (!port_refuses (first) && g_get_monotonic_time () < deadline)
    g_usleep (10000);
  CHECK (port_refuses (first), "%s still accepts connections", first);
  run_txn (etcd, NULL, 0, &put, 1, NULL, 0, &t);
  CHECK (!t.ok && g_error_matches (t.error, LATCH_ETCD_ERROR, LATCH_ETCD_ERROR_UNREACHABLE)
         && strstr (t.error->message, first) != NULL,
         "the request after the kill: %s", t.error ? t.error->message : "ok");
  if (t.error != NULL)
    printf ("after the kill: %s\n", t.error->message);
  CHECK (strcmp (M->endpoint (etcd), first) != 0, "still on %s", first);
  run_txn (etcd, NULL, 0, &put, 1, NULL, 0, &t);
  CHECK (t.ok, "the request after that: %s", t.error ? t.error->message : "ok");
  printf ("then ok on %s\n", M->endpoint (etcd));
  txn_out_clear (&t);
  return failures ? 1 : 0;
}

/* A watch whose member dies ends with ended_cb naming it. */
static int
scenario_watch_break (LatchEtcd *etcd, pid_t pid)
{
  g_autoptr(GBytes) k = b ("wb/");
  g_autoptr(GBytes) k_end = b ("wb0");
  g_autofree char *ep = g_strdup (M->endpoint (etcd));
  WatchOut o;

  watch_out_init (&o);
  M->watch (etcd, k, k_end, 1, &watch_callbacks, &o);
  WAIT (o.created, 15000);
  kill (pid, SIGKILL);
  WAIT (o.ended, 15000);
  CHECK (g_error_matches (o.error, LATCH_ETCD_ERROR, LATCH_ETCD_ERROR_UNREACHABLE)
         && strstr (o.error->message, ep) != NULL,
         "ended: %s", o.error ? o.error->message : "no error");
  if (o.error != NULL)
    printf ("%s\n", o.error->message);
  watch_out_clear (&o);
  return failures ? 1 : 0;
}

/* free(): every callback that runs while the client is alive frees it
 * (the first one does); one that runs after that is a failure. */
typedef struct
{
  LatchEtcd *etcd;
  int calls;
  int after_free;
} FreeState;

static void
free_now (FreeState *st)
{
  st->calls++;
  if (st->etcd == NULL)
    {
      st->after_free++;
      return;
    }
  M->free (g_steal_pointer (&st->etcd));
}

static void
free_txn_cb (LatchEtcd *etcd, const LatchEtcdTxnResult *r, const GError *e, gpointer d)
{
  (void) etcd;
  (void) r;
  (void) e;
  free_now (d);
}

static void
free_lease_cb (LatchEtcd *etcd, gint64 l, gint64 t, const GError *e, gpointer d)
{
  (void) etcd;
  (void) l;
  (void) t;
  (void) e;
  free_now (d);
}

static void
free_created_cb (LatchEtcdWatch *w, gint64 revision, gpointer d)
{
  (void) w;
  (void) revision;
  free_now (d);
}

static void
free_events_cb (LatchEtcdWatch *w, const LatchEtcdEvent *ev, guint n, gint64 rev, gpointer d)
{
  (void) w;
  (void) ev;
  (void) n;
  (void) rev;
  free_now (d);
}

static void
free_ended_cb (LatchEtcdWatch *w, const GError *error, gpointer d)
{
  (void) w;
  (void) error;
  free_now (d);
}

static void
start_everything (FreeState *st, GBytes *k)
{
  static const LatchEtcdWatchCallbacks cbs = { free_created_cb, free_events_cb, free_ended_cb };
  LatchEtcdOp get = { .type = LATCH_ETCD_OP_RANGE, .key = k };

  M->txn (st->etcd, NULL, 0, &get, 1, NULL, 0, free_txn_cb, st);
  M->lease_grant (st->etcd, 10, free_lease_cb, st);
  M->lease_keepalive (st->etcd, 1, free_lease_cb, st);
  M->lease_revoke (st->etcd, 1, free_lease_cb, st);
  M->watch (st->etcd, k, NULL, 1, &cbs, st);
  M->watch (st->etcd, k, NULL, 1, &cbs, st);
}

/* free() with everything in flight: no callback runs after it. */
static int
scenario_free (const LatchEtcdConfig *config)
{
  g_autoptr(GBytes) k = b ("z");
  g_autoptr(GError) error = NULL;
  FreeState st = { 0 };
  gboolean never = FALSE;

  st.etcd = M->new (config, &error);
  start_everything (&st, k);
  M->free (g_steal_pointer (&st.etcd));
  wait_for (&never, 500);
  CHECK (st.calls == 0, "%d callbacks after free", st.calls);

  /* Freed from inside the first callback, with the others pending. */
  st.etcd = M->new (config, &error);
  start_everything (&st, k);
  WAIT_COND (st.calls > 0, 15000);
  wait_for (&never, 500);
  CHECK (st.calls == 1 && st.after_free == 0, "%d callbacks after a free in a callback",
         st.after_free);
  return failures ? 1 : 0;
}

int
main (int argc, char **argv)
{
  g_autofree char *ca = NULL, *crl = NULL, *cert = NULL, *key = NULL;
  int timeout_ms = 5000;
  GOptionEntry entries[] = {
    { "ca", 0, 0, G_OPTION_ARG_FILENAME, &ca, "CA file", "F" },
    { "crl", 0, 0, G_OPTION_ARG_FILENAME, &crl, "CRL file", "F" },
    { "cert", 0, 0, G_OPTION_ARG_FILENAME, &cert, "client certificate", "F" },
    { "key", 0, 0, G_OPTION_ARG_FILENAME, &key, "its key", "F" },
    { "timeout", 0, 0, G_OPTION_ARG_INT, &timeout_ms, "per request", "MS" },
    { NULL, 0, 0, 0, NULL, NULL, NULL }
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new ("SCENARIO [ARG]");
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) endpoints = NULL;
  LatchEtcdConfig config = { 0 };
  LatchEtcd *etcd;
  const char *scenario;
  int rc;

  setvbuf (stdout, NULL, _IOLBF, 0);
  /* Every wait here is bounded; this bounds the rest (a free() or a
   * watch_stop() that never returns). */
  alarm (90);
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc < 2)
    {
      fprintf (stderr, "usage: etcd-probe [options] SCENARIO [ARG]\n");
      return 64;
    }
  scenario = argv[1];
  if ((M = latch_etcd_module_load (&error)) == NULL)
    {
      printf ("FAIL: %s\n", error->message);
      return 1;
    }
  endpoints = g_strsplit (g_getenv ("ETCD_ENDPOINTS") ? g_getenv ("ETCD_ENDPOINTS") : "", ",", -1);
  config.endpoints = (const char *const *) endpoints;
  config.ca_file = ca;
  config.crl_file = crl;
  config.cert_file = cert;
  config.key_file = key;
  config.timeout_ms = timeout_ms;
  if (strcmp (scenario, "free") == 0)
    return scenario_free (&config);
  etcd = M->new (&config, &error);
  if (etcd == NULL)
    {
      printf ("%s [code %d]\n", error->message, error->code);
      return strcmp (scenario, "new") == 0 ? 3 : 1;
    }
  if (strcmp (scenario, "new") == 0)
    rc = 0;
  else if (strcmp (scenario, "txn") == 0)
    rc = scenario_txn (etcd);
  else if (strcmp (scenario, "lease") == 0)
    rc = scenario_lease (etcd);
  else if (strcmp (scenario, "watch") == 0)
    rc = scenario_watch (etcd);
  else if (strcmp (scenario, "compacted") == 0 && argc > 2)
    rc = scenario_compacted (etcd, g_ascii_strtoll (argv[2], NULL, 10));
  else if (strcmp (scenario, "request") == 0)
    rc = scenario_request (etcd, argc > 2 ? atoi (argv[2]) : 1);
  else if (strcmp (scenario, "server-error") == 0)
    rc = scenario_server_error (etcd);
  else if (strcmp (scenario, "failover") == 0 && argc > 2)
    rc = scenario_failover (etcd, atoi (argv[2]));
  else if (strcmp (scenario, "watch-break") == 0 && argc > 2)
    rc = scenario_watch_break (etcd, atoi (argv[2]));
  else
    {
      fprintf (stderr, "etcd-probe: unknown scenario %s\n", scenario);
      rc = 64;
    }
  M->free (etcd);
  /* Let the cancelled exchanges finish, so valgrind sees them freed. */
  {
    gboolean never = FALSE;

    wait_for (&never, 100);
  }
  return rc;
}
