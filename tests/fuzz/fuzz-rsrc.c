/* fuzz-rsrc.c: the resource-name grammar and the locker on arbitrary bytes.
 *
 * The whole input is first a resource name: latch_rsrc_name_classify()
 * (on all bytes) and latch_rsrc_name_check() (up to the first NUL) must
 * agree, and so must latch_rsrc_name_get_number().  Then the input is a
 * list of records separated by '\n' (a byte no valid name holds), at most
 * MAX_RECORDS of them, each one request to one in-memory locker:
 *
 *   byte 0  what: bits 0-1 the action (0, 1: lock; 2: unlock; 3: drop the
 *           owner), bits 2-4 the owner (0..7), bit 5 wait, bit 6 create,
 *           bit 7 rollback (unlock)
 *   byte 1  bits 0-2 the mode (6 and 7 are invalid modes), bits 3-7 the
 *           quantity (-4..27)
 *   byte 2  the lifespan (an index into lifespans[]); for an unlock with
 *           no name, which of the owner's holds to release
 *   byte 3  how far the clock moves before the request (0: not at all)
 *   rest    the resource name (may be empty, invalid, a timestamp format)
 *
 * The first record's byte 0 also picks the locker's idle_lifespan_min.
 * Time starts at a fixed date and only moves forward; TZ is UTC, so
 * timestamp elements do not depend on the host.
 *
 * A model of the owners follows along: what each holds, and its one
 * request that may be queued or waiting for creation (the daemon allows
 * one in flight, so a request from an owner that has one is skipped).
 * Checked (abort on violation):
 *  - every status is one the locker documents; a grant's fence rises
 *    across all grants, direct or as events; a grant carries an element
 *    exactly for set, sequence and timestamp names, one that the answer
 *    can carry (LATCH_STRING_MAX bytes; a timestamp at most 999);
 *  - events go only to owners with a request pending;
 *  - an unlock succeeds exactly when the owner holds that name;
 *  - latch_locker_n_active() is what the model holds and waits for;
 *  - once every owner is dropped and time has passed every lifespan,
 *    no resource is left. */
#include "config.h"

#include "locker/locker.h"
#include "locker/rsrc-name.h"

#include "common/error.h"
#include "proto/msg.h"
#include "fuzz.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define MAX_RECORDS 48
#define N_OWNERS 8
#define HEADER_LEN 4
/* The longest element a timestamp may hand out (rsrc-timestamp.c); any
 * element must fit in an answer (LATCH_STRING_MAX), or no client can
 * read the grant. */
#define TIMESTAMP_MAX 999
/* 2023-11-14 22:13:20 UTC */
#define START_US (G_GINT64_CONSTANT (1700000000) * G_USEC_PER_SEC)

typedef struct
{
  GPtrArray *holds; /* names (char *), one per lock held */
  char *pending;    /* the name queued or waiting for creation, or NULL */
} Owner;

typedef struct
{
  LatchLocker *locker;
  GArray *events;
  Owner owners[N_OWNERS];
  guint64 last_fence;
  gint64 now_us;
} Run;

/* Idle lifespans (ms) a request may ask for. */
static const int lifespans[] = { 0, 0, 1, 50, 1000, 60000, 3600000, G_MAXINT };

/* Once per process: a fixed zone, and GLib's criticals are crashes (a
 * g_return_if_fail() tripped by input is a bug too). */
static void
init_once (void)
{
  static gboolean done;

  if (done)
    return;
  done = TRUE;
  g_setenv ("TZ", "UTC", TRUE);
  tzset ();
  fuzz_make_warnings_fatal ();
}

/* classify(), check() and get_number() agree about name (len bytes). */
static void
check_name (const char *name, gsize len)
{
  g_autofree char *cstr = g_strndup (name, len);
  gsize clen = strlen (cstr);
  g_autoptr (GError) error = NULL;
  LatchRsrcType type = LATCH_RSRC_INVALID;
  LatchRsrcType whole = latch_rsrc_name_classify (name, len);
  LatchRsrcType prefix = latch_rsrc_name_classify (cstr, clen);
  gboolean ok = latch_rsrc_name_check (cstr, &type, &error);
  int number = -1;
  gboolean has_number;

  /* A NUL is a control character: a name holding one is invalid. */
  if (clen < len)
    require (whole == LATCH_RSRC_INVALID);
  else
    require (whole == prefix);
  require (ok == (prefix != LATCH_RSRC_INVALID));
  require (ok == (error == NULL));
  if (ok)
    require (type == prefix);
  else
    require (g_error_matches (error, LATCH_ERROR, LATCH_ERROR_INVALID_NAME)
             && error->message[0] != '\0');
  require (latch_rsrc_type_to_string (prefix) != NULL);

  has_number = latch_rsrc_name_get_number (cstr, &number);
  require (has_number == (prefix == LATCH_RSRC_NUMERIC
                          || prefix == LATCH_RSRC_SEQUENCE
                          || prefix == LATCH_RSRC_TIMESTAMP));
  if (has_number)
    require (number >= 0);
}

static gboolean
has_elements (LatchRsrcType type)
{
  return type == LATCH_RSRC_SET || type == LATCH_RSRC_SEQUENCE
         || type == LATCH_RSRC_TIMESTAMP;
}

static void
check_grant (Run *run, LatchRsrcType type, guint64 fence, const char *element)
{
  require (fence > run->last_fence);
  run->last_fence = fence;
  if (has_elements (type))
    require (element != NULL && strlen (element) <= LATCH_STRING_MAX
             && (type != LATCH_RSRC_TIMESTAMP
                 || strlen (element) <= TIMESTAMP_MAX));
  else
    require (element == NULL);
}

/* Applies the locker's events to the model, and empties them. */
static void
take_events (Run *run)
{
  for (guint i = 0; i < run->events->len; i++)
    {
      const LatchLockEvent *ev = &g_array_index (run->events, LatchLockEvent, i);
      int n = GPOINTER_TO_INT (ev->owner) - 1;
      Owner *owner;
      LatchRsrcType type;

      require (n >= 0 && n < N_OWNERS);
      owner = &run->owners[n];
      require (owner->pending != NULL);
      type = latch_rsrc_name_classify (owner->pending, strlen (owner->pending));
      switch (ev->status)
        {
        case LATCH_LOCK_GRANTED:
          check_grant (run, type, ev->fence, ev->element);
          g_ptr_array_add (owner->holds, g_steal_pointer (&owner->pending));
          break;
        case LATCH_LOCK_QUEUED:
          /* Hatched into the queue: still pending. */
          require (ev->fence == 0 && ev->element == NULL);
          break;
        case LATCH_LOCK_BUSY:
        case LATCH_LOCK_IMPOSSIBLE:
        case LATCH_LOCK_CANT_WAIT:
        case LATCH_LOCK_INIT_ERROR:
        case LATCH_LOCK_INVALID_NAME:
        case LATCH_LOCK_WAIT_RESOURCE:
        default:
          require (ev->fence == 0 && ev->element == NULL);
          g_clear_pointer (&owner->pending, g_free);
          break;
        }
    }
  if (run->events->len > 0)
    g_array_remove_range (run->events, 0, run->events->len);
}

static void
check_counts (Run *run)
{
  guint n = 0;

  for (int i = 0; i < N_OWNERS; i++)
    n += run->owners[i].holds->len + (run->owners[i].pending != NULL ? 1 : 0);
  require (latch_locker_n_active (run->locker) == n);
}

static void
do_lock (Run *run, int n, const char *name, guint8 what, guint8 param,
         guint8 extra)
{
  Owner *owner = &run->owners[n];
  LatchLockReq req = {
    .name = name,
    .mode = (LatchLockMode) (param & 7),
    .quantity = (int) (param >> 3) - 4,
    .wait = (what & 0x20) != 0,
    .create = (what & 0x40) != 0,
    .lifespan = lifespans[extra % G_N_ELEMENTS (lifespans)],
  };
  LatchRsrcType type = latch_rsrc_name_classify (name, strlen (name));
  guint64 fence = 0;
  char *element = NULL;
  LatchLockStatus status;

  if (owner->pending != NULL)
    return; /* one request in flight per owner, as the daemon allows */
  status = latch_locker_request (run->locker, GINT_TO_POINTER (n + 1), &req,
                                 run->now_us, &fence, &element, run->events);
  switch (status)
    {
    case LATCH_LOCK_GRANTED:
      check_grant (run, type, fence, element);
      g_ptr_array_add (owner->holds, g_strdup (name));
      break;
    case LATCH_LOCK_QUEUED:
    case LATCH_LOCK_WAIT_RESOURCE:
      require (req.wait);
      require (element == NULL && fence == 0);
      owner->pending = g_strdup (name);
      break;
    case LATCH_LOCK_INVALID_NAME:
      require (type == LATCH_RSRC_INVALID);
      require (element == NULL && fence == 0);
      break;
    case LATCH_LOCK_BUSY:
    case LATCH_LOCK_CANT_WAIT:
      require (!req.wait);
      require (element == NULL && fence == 0);
      break;
    case LATCH_LOCK_IMPOSSIBLE:
    case LATCH_LOCK_INIT_ERROR:
      require (element == NULL && fence == 0);
      break;
    default:
      /* A status this harness does not know (a new limit): nothing may
       * have changed for the owner. */
      require (element == NULL && fence == 0);
      break;
    }
  require ((type == LATCH_RSRC_INVALID) == (status == LATCH_LOCK_INVALID_NAME));
  g_free (element);
  take_events (run);
}

static void
do_unlock (Run *run, int n, const char *name, guint8 what, guint8 extra)
{
  Owner *owner = &run->owners[n];
  g_autofree char *target = NULL;
  gboolean expected = FALSE;
  gboolean ok;
  guint i;

  if (name[0] == '\0' && owner->holds->len > 0)
    target = g_strdup (g_ptr_array_index (owner->holds,
                                          extra % owner->holds->len));
  else
    target = g_strdup (name);
  for (i = 0; i < owner->holds->len; i++)
    if (strcmp (g_ptr_array_index (owner->holds, i), target) == 0)
      {
        expected = TRUE;
        break;
      }
  ok = latch_locker_unlock (run->locker, GINT_TO_POINTER (n + 1), target,
                            (what & 0x80) != 0, run->now_us, run->events);
  require (ok == expected);
  if (ok)
    g_ptr_array_remove_index (owner->holds, i);
  take_events (run);
}

static void
do_drop (Run *run, int n)
{
  Owner *owner = &run->owners[n];

  latch_locker_drop_owner (run->locker, GINT_TO_POINTER (n + 1), run->now_us,
                           run->events);
  g_ptr_array_set_size (owner->holds, 0);
  g_clear_pointer (&owner->pending, g_free);
  take_events (run);
}

/* Moves the clock by an amount that grows exponentially with step, from
 * microseconds to about 12 days, then lets the locker act on the time. */
static void
advance (Run *run, guint8 step)
{
  gint64 tick_next;

  if (step == 0)
    return;
  run->now_us += (G_GINT64_CONSTANT (1) << (step % 41)) + step;
  tick_next = latch_locker_tick (run->locker, run->now_us, run->events);
  /* The next timed event is in the future: the daemon arms a timer
   * for it, and one in the past would spin. */
  require (tick_next < 0 || tick_next > run->now_us);
  take_events (run);
}

static void
run_record (Run *run, const guint8 *rec, gsize len)
{
  guint8 hdr[HEADER_LEN] = { 0 };
  g_autofree char *name = NULL;
  int n;

  memcpy (hdr, rec, MIN (len, (gsize) HEADER_LEN));
  if (len > HEADER_LEN)
    name = g_strndup ((const char *) rec + HEADER_LEN, len - HEADER_LEN);
  else
    name = g_strdup ("");
  n = (hdr[0] >> 2) & 7;

  advance (run, hdr[3]);
  switch (hdr[0] & 3)
    {
    case 0:
    case 1:
      do_lock (run, n, name, hdr[0], hdr[1], hdr[2]);
      break;
    case 2:
      do_unlock (run, n, name, hdr[0], hdr[2]);
      break;
    case 3:
    default:
      do_drop (run, n);
      break;
    }
  check_counts (run);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const int idle_min[] = { 0, 0, 0, 1000, 2000, 60000 };
  LatchLockerConfig config = { .first_fence = 1000 };
  Run run = { 0 };
  gsize pos = 0;
  int n_records = 0;

  init_once ();
  check_name ((const char *) data, size);

  if (size > 0)
    config.idle_lifespan_min = idle_min[data[0] % G_N_ELEMENTS (idle_min)];
  run.locker = latch_locker_new_full (&config);
  run.events = latch_lock_events_new ();
  run.now_us = START_US;
  run.last_fence = config.first_fence - 1;
  for (int i = 0; i < N_OWNERS; i++)
    run.owners[i].holds = g_ptr_array_new_with_free_func (g_free);

  while (pos < size && n_records < MAX_RECORDS)
    {
      const guint8 *nl = memchr (data + pos, '\n', size - pos);
      gsize end = nl != NULL ? (gsize) (nl - data) : size;

      run_record (&run, data + pos, end - pos);
      n_records++;
      pos = end + 1;
    }

  /* Everybody leaves; every idle lifespan (at most G_MAXINT ms) and
   * every timestamp slot (at most an hour) ends: nothing may be left. */
  for (int i = 0; i < N_OWNERS; i++)
    do_drop (&run, i);
  require (latch_locker_n_active (run.locker) == 0);
  run.now_us += (gint64) G_MAXINT * 1000 + G_GINT64_CONSTANT (3600) * G_USEC_PER_SEC;
  require (latch_locker_tick (run.locker, run.now_us, run.events) == -1);
  require (run.events->len == 0);
  require (latch_locker_n_resources (run.locker) == 0);

  for (int i = 0; i < N_OWNERS; i++)
    {
      g_ptr_array_unref (run.owners[i].holds);
      g_free (run.owners[i].pending);
    }
  g_array_unref (run.events);
  latch_locker_free (run.locker);
  return 0;
}
