#include "config.h"

/* bench-etcd: the lock table on etcd, timed from the client's side, for
 * bench-etcd.sh.
 *
 * --socket PATH names a latchd whose lock table is on etcd, already
 * running (none is started: lifespan 0).  Two uses:
 *
 * Latency (default): --rounds rounds, each of --cycles lock+unlock
 * cycles through liblatch (one handle reused, as bench-lock does:
 * latch_lock () then latch_unlock (), each cycle timed as a whole), then,
 * with --endpoint URL, --cycles raw etcd txns timed one by one.  A raw txn
 * goes through latch-etcd.so itself, loaded as latchd loads it
 * (etcd/etcd-loader.c): same JSON gateway, same libsoup client, same
 * HTTP/1.1 keep-alive connection, one request and one answer each.  It is
 * "compare the key's mod_revision to what the last txn left; put the key",
 * the shape of the table's grant: one write, committed through raft, that
 * the lock path cannot do with fewer.  Alternating in rounds puts both
 * under the same load (the machine is shared).  Prints two lines,
 *   bench-etcd: what=lock_unlock n=N p50_us=.. p90_us=.. p99_us=.. mean_us=.. max_us=..
 *   bench-etcd: what=raw_txn ...
 * and the ratio of the p50s.
 *
 * Loop (--loop SECONDS): lock+unlock back to back for that long, and the
 * longest time between two grants (latch_lock () returning success), with
 * when it began (wall clock, µs since the epoch, for the script to compare
 * with when it killed an etcd member).  A failed lock or unlock is
 * counted, the handle dropped and a new one opened 10 ms later: the loop
 * goes on until the time is up.  One line:
 *   bench-etcd: what=loop grants=.. errors=.. max_gap_ms=.. gap_start_us=.. first_error=".."
 */

#include "bench-util.h"
#include "etcd/etcd-loader.h"
#include "latch.h"

#include <glib.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One raw txn may take this long before the bench gives up. */
#define TXN_TIMEOUT_MS 10000
#define MAX_CYCLES 1000000
/* --loop: the pause after a failed lock before the next try. */
#define ERROR_PAUSE_US (10 * G_TIME_SPAN_MILLISECOND)

static int
compare_i64 (const void *a, const void *b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return (x > y) - (x < y);
}

/* Sorts v and prints one summary line for it. */
static double
report (const char *what, GArray *v)
{
  gint64 *d = (gint64 *) v->data;
  double sum = 0.0, p50;
  guint i, n = v->len;

  if (n == 0)
    {
      printf ("bench-etcd: what=%s n=0\n", what);
      return 0.0;
    }
  qsort (d, n, sizeof *d, compare_i64);
  for (i = 0; i < n; i++)
    sum += (double) d[i];
  p50 = (double) d[n / 2];
  printf ("bench-etcd: what=%s n=%u p50_us=%.0f p90_us=%" G_GINT64_FORMAT
          " p99_us=%" G_GINT64_FORMAT " mean_us=%.0f min_us=%" G_GINT64_FORMAT
          " max_us=%" G_GINT64_FORMAT "\n",
          what, n, p50, d[(n * 9) / 10], d[(n * 99) / 100], sum / n, d[0], d[n - 1]);
  return p50;
}

/* ---- raw txns through latch-etcd.so ------------------------------------- */

typedef struct
{
  gboolean done;
  gboolean succeeded;
  gint64 revision; /* the txn's, or the key's mod_revision when the compare failed */
  char *error;
} TxnOut;

static void
txn_cb (LatchEtcd *etcd, const LatchEtcdTxnResult *result, const GError *error,
        gpointer user_data)
{
  TxnOut *out = user_data;

  (void) etcd;
  out->done = TRUE;
  if (error != NULL)
    out->error = g_strdup (error->message);
  else
    {
      out->succeeded = result->succeeded;
      out->revision = result->revision;
      /* The failure branch is one range of the key: its mod_revision. */
      if (!result->succeeded && result->ranges != NULL && result->ranges->len > 0)
        {
          GPtrArray *kvs = g_ptr_array_index (result->ranges, 0);

          if (kvs != NULL && kvs->len > 0)
            out->revision = ((LatchEtcdKv *) g_ptr_array_index (kvs, 0))->mod_revision;
        }
    }
}

static gboolean
expire_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

typedef struct
{
  const LatchEtcdModule *mod;
  LatchEtcd *etcd;
  GBytes *key;
  GBytes *value;
  gint64 mod_rev; /* the key's mod_revision after our last txn; 0: absent */
} Raw;

/* One txn, timed into v; FALSE with the message printed on a failure.  A
 * compare that fails (somebody else wrote the key) is not a failure: it
 * cost the same round trip; the next compares with the revision read
 * back. */
static gboolean
raw_txn (Raw *raw, GArray *v)
{
  LatchEtcdCompare cmp = { LATCH_ETCD_TARGET_MOD, LATCH_ETCD_EQUAL, raw->key, NULL,
                           raw->mod_rev, NULL };
  LatchEtcdOp put = { LATCH_ETCD_OP_PUT, raw->key, NULL, raw->value, 0, FALSE };
  LatchEtcdOp get = { LATCH_ETCD_OP_RANGE, raw->key, NULL, NULL, 0, TRUE };
  TxnOut out = { 0 };
  gboolean expired = FALSE;
  guint timer;
  gint64 t0, t1;

  timer = g_timeout_add (TXN_TIMEOUT_MS, expire_cb, &expired);
  t0 = bench_monotonic_ns ();
  raw->mod->txn (raw->etcd, &cmp, 1, &put, 1, &get, 1, txn_cb, &out);
  while (!out.done && !expired)
    g_main_context_iteration (NULL, TRUE);
  t1 = bench_monotonic_ns ();
  if (!expired)
    g_source_remove (timer);
  if (!out.done)
    {
      fprintf (stderr, "bench-etcd: raw txn: no answer in %d ms\n", TXN_TIMEOUT_MS);
      return FALSE;
    }
  if (out.error != NULL)
    {
      fprintf (stderr, "bench-etcd: raw txn: %s\n", out.error);
      g_free (out.error);
      return FALSE;
    }
  /* After a successful put the key's mod_revision is the txn's revision;
   * after a failed compare, the one the range read. */
  raw->mod_rev = out.revision;
  g_array_append_val (v, (gint64) { (t1 - t0) / 1000 });
  return TRUE;
}

/* ---- liblatch ------------------------------------------------------------ */

static LatchHandle *
open_handle (const BenchTarget *t)
{
  char message[256];
  LatchHandle *h = bench_open_handle (t, message, sizeof message);

  if (h == NULL)
    fprintf (stderr, "bench-etcd: %s\n", message);
  return h;
}

static gboolean
lock_cycle (LatchHandle *h, GArray *v)
{
  gint64 t0 = bench_monotonic_ns ();

  if (latch_lock (h) != LATCH_RC_OK || latch_unlock (h, 0) != LATCH_RC_OK)
    {
      fprintf (stderr, "bench-etcd: lock+unlock: %s\n", latch_get_error (h));
      return FALSE;
    }
  g_array_append_val (v, (gint64) { (bench_monotonic_ns () - t0) / 1000 });
  return TRUE;
}

/* --loop: see the header comment. */
static int
run_loop (const BenchTarget *t, double seconds)
{
  LatchHandle *h = NULL;
  gint64 deadline = bench_monotonic_ns () + (gint64) (seconds * 1e9);
  gint64 last = bench_monotonic_ns (), last_real = g_get_real_time ();
  gint64 max_gap = 0, gap_start_real = 0, grants = 0, errors = 0;
  g_autofree char *first_error = NULL;

  while (bench_monotonic_ns () < deadline)
    {
      int rc = LATCH_RC_OK;

      if (h == NULL && (h = open_handle (t)) == NULL)
        return 1;
      if ((rc = latch_lock (h)) == LATCH_RC_OK)
        {
          gint64 now = bench_monotonic_ns ();

          grants++;
          if (now - last > max_gap)
            {
              max_gap = now - last;
              gap_start_real = last_real;
            }
          last = now;
          last_real = g_get_real_time ();
          rc = latch_unlock (h, 0);
        }
      if (rc != LATCH_RC_OK)
        {
          errors++;
          if (first_error == NULL)
            first_error = g_strdup (latch_get_error (h));
          g_clear_pointer (&h, latch_handle_free);
          /* A daemon that is gone fails at once: do not spin on it. */
          g_usleep (ERROR_PAUSE_US);
        }
    }
  /* The time since the last grant counts too: a loop that stopped being
   * granted must not report a short gap. */
  if (bench_monotonic_ns () - last > max_gap)
    {
      max_gap = bench_monotonic_ns () - last;
      gap_start_real = last_real;
    }
  g_clear_pointer (&h, latch_handle_free);
  if (first_error != NULL)
    g_strdelimit (first_error, "\"\n", '\'');
  printf ("bench-etcd: what=loop seconds=%.1f grants=%" G_GINT64_FORMAT " errors=%" G_GINT64_FORMAT
          " max_gap_ms=%.1f gap_start_us=%" G_GINT64_FORMAT " first_error=\"%s\"\n",
          seconds, grants, errors, max_gap / 1e6, gap_start_real,
          first_error != NULL ? first_error : "");
  return grants > 0 ? 0 : 1;
}

int
main (int argc, char **argv)
{
  g_autofree char *socket_arg = NULL;
  g_autofree char *endpoint = NULL;
  g_autofree char *resource = NULL;
  int cycles = 200, rounds = 5, i, r;
  double loop_seconds = 0.0;
  GOptionEntry entries[] = {
    { "socket", 0, 0, G_OPTION_ARG_FILENAME, &socket_arg,
      "The socket of a running latchd on etcd", "PATH" },
    { "endpoint", 0, 0, G_OPTION_ARG_STRING, &endpoint,
      "Time raw txns against this etcd endpoint too", "URL" },
    { "cycles", 0, 0, G_OPTION_ARG_INT, &cycles, "Per round and kind (default 200)", "N" },
    { "rounds", 0, 0, G_OPTION_ARG_INT, &rounds, "Alternating rounds (default 5)", "N" },
    { "resource", 0, 0, G_OPTION_ARG_STRING, &resource, "Resource (default benchetcd)",
      "NAME" },
    { "loop", 0, 0, G_OPTION_ARG_DOUBLE, &loop_seconds,
      "Lock+unlock for S seconds; report the longest gap between grants", "S" },
    { NULL, 0, 0, 0, NULL, NULL, NULL }
  };
  BenchTarget target = { 0 };
  g_autofree char *socket_path = NULL;
  g_autoptr (GArray) locks = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr (GArray) txns = g_array_new (FALSE, FALSE, sizeof (gint64));
  Raw raw = { 0 };
  LatchHandle *h;
  double lock_p50, txn_p50;
  int status = 0;

  if (!bench_parse_options ("bench-etcd", "- lock+unlock through a latchd on etcd", entries,
                            &argc, &argv))
    return 2;
  if (socket_arg == NULL || socket_arg[0] == '\0')
    {
      fprintf (stderr, "bench-etcd: give --socket PATH (a running latchd on etcd)\n");
      return 2;
    }
  if (cycles < 1 || cycles > MAX_CYCLES || rounds < 1 || rounds > 1000)
    {
      fprintf (stderr, "bench-etcd: --cycles must be 1 to %d, --rounds 1 to 1000\n",
               MAX_CYCLES);
      return 2;
    }
  if (loop_seconds < 0.0 || loop_seconds > 3600.0)
    {
      fprintf (stderr, "bench-etcd: --loop must be at most 3600\n");
      return 2;
    }
  socket_path = g_canonicalize_filename (socket_arg, NULL);
  target.socket = socket_path;
  target.resource = resource != NULL ? resource : "benchetcd";
  target.mode = LATCH_LOCK_MODE_EX;
  target.lifespan = 0; /* the script's daemon: never start one */
  target.level = LATCH_SECURITY_CLEAR;

  if (loop_seconds > 0.0)
    return run_loop (&target, loop_seconds);

  if (endpoint != NULL)
    {
      const char *endpoints[] = { endpoint, NULL };
      LatchEtcdConfig config = { endpoints, NULL, NULL, NULL, NULL, NULL, TXN_TIMEOUT_MS };
      g_autoptr (GError) error = NULL;

      raw.mod = latch_etcd_module_load (&error);
      if (raw.mod == NULL || (raw.etcd = raw.mod->new (&config, &error)) == NULL)
        {
          fprintf (stderr, "bench-etcd: %s\n", error->message);
          return 1;
        }
      static const char key[] = "/bench-etcd/raw";
      /* About the size of a request key's value. */
      static const char value[] = "1 H 5 1 1 -1 1700000000000000\nlabel\nbench-etcd";

      raw.key = g_bytes_new_static (key, strlen (key));
      raw.value = g_bytes_new_static (value, strlen (value));
    }

  if ((h = open_handle (&target)) == NULL)
    return 1;
  /* Warm-up: one of each, not counted (connections, the resource key). */
  {
    g_autoptr (GArray) scratch = g_array_new (FALSE, FALSE, sizeof (gint64));

    if (!lock_cycle (h, scratch))
      {
        latch_handle_free (h);
        return 1;
      }
    /* The raw key's first txn may find it left by an earlier run (its
     * compare fails and reads the revision): two before counting. */
    if (raw.etcd != NULL && (!raw_txn (&raw, scratch) || !raw_txn (&raw, scratch)))
      status = 1;
  }
  for (r = 0; r < rounds && status == 0; r++)
    {
      for (i = 0; i < cycles && status == 0; i++)
        if (!lock_cycle (h, locks))
          status = 1;
      for (i = 0; raw.etcd != NULL && i < cycles && status == 0; i++)
        if (!raw_txn (&raw, txns))
          status = 1;
    }
  latch_handle_free (h);
  lock_p50 = report ("lock_unlock", locks);
  if (raw.etcd != NULL)
    {
      txn_p50 = report ("raw_txn", txns);
      if (txn_p50 > 0)
        printf ("bench-etcd: p50 lock+unlock / p50 raw txn = %.2fx (goal <= 1.5x)\n",
                lock_p50 / txn_p50);
      raw.mod->free (raw.etcd);
      g_bytes_unref (raw.key);
      g_bytes_unref (raw.value);
    }
  return status;
}
