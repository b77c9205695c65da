/* test-rsrc-timestamp.c: timestamp resources ("_t_FORMAT[N]"), through
 * the locker with fake times (the locker never reads a clock).  main()
 * sets TZ=UTC so that the expected strings do not depend on the machine. */
#include "config.h"

#include "locker/locker.h"
#include "locker/rsrc.h"

#include "common/error.h"

#include "locker-fixture.h"

#include <string.h>
#include <time.h>

#define USEC_PER_SEC G_GINT64_CONSTANT (1000000)
#define SEC(s) ((gint64) (s) * USEC_PER_SEC)

/* Idle lifespan (ms) that keeps a resource, and with it its last slot,
 * between grants. */
#define KEEP 3600000

/* 2024-03-05 h:mi:s.usec UTC, in microseconds since the epoch. */
static gint64
at (int h, int mi, int s, int usec)
{
  g_autoptr (GDateTime) dt = g_date_time_new_utc (2024, 3, 5, h, mi, s);

  return SEC (g_date_time_to_unix (dt)) + usec;
}

/* 14:00:00.000000: on a slot boundary for every resolution. */
#define T0 (at (14, 0, 0, 0))

static void
set_tz (const char *tz)
{
  g_setenv ("TZ", tz, TRUE);
  tzset ();
}

static LatchLockStatus
lock_at (LatchTestFixture *fx, int owner, const char *name, gboolean wait,
         int lifespan, gint64 now_us, char **element_out)
{
  LatchLockReq req = latch_test_req (name, LATCH_LOCK_MODE_EX, 1, wait, TRUE,
                                     lifespan);
  g_autofree char *element = NULL;
  LatchLockStatus status;

  status = latch_test_request (fx, owner, &req, now_us, LATCH_TEST_CHECK_NONE,
                               NULL, &element);
  if (status == LATCH_LOCK_GRANTED)
    g_assert_cmpuint (strlen (element), <=, 999);
  if (element_out != NULL)
    *element_out = g_steal_pointer (&element);
  return status;
}

/* Locks name (a new resource, lifespan 0) at now_us, checks the element,
 * unlocks, and lets its slot pass (which destroys the resource: renderings
 * at earlier times follow). */
static void
assert_render (LatchTestFixture *fx, const char *name, gint64 now_us,
               const char *expected)
{
  g_autofree char *element = NULL;

  g_assert_cmpint (lock_at (fx, 1, name, FALSE, 0, now_us, &element), ==,
                   LATCH_LOCK_GRANTED);
  g_assert_cmpstr (element, ==, expected);
  g_assert_true (latch_locker_unlock (fx->locker, LATCH_TEST_OWNER (1), name,
                                      FALSE, now_us, fx->events));
  latch_locker_tick (fx->locker, G_MAXINT64 / 2, fx->events);
  g_assert_cmpuint (latch_locker_n_resources (fx->locker), ==, 0);
}

static void
unlock_at (LatchTestFixture *fx, int owner, const char *name, gint64 now_us)
{
  g_assert_true (latch_test_unlock_full (fx, owner, name, FALSE, now_us));
}

/* Asserts that the only event is a grant to owner; returns its element
 * (transfer full). */
static char *
take_granted_event (LatchTestFixture *fx, int owner)
{
  char *element = latch_test_take_granted_event (fx, owner);

  g_assert_nonnull (element);
  return element;
}

/* ---- rendering ---- */

typedef struct
{
  const char *name;
  int usec;
  const char *expected;
} RenderCase;

/* Every fraction length, at 14:07:18.usec UTC. */
static void
test_render_fractions (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  static const RenderCase cases[] = {
    { "_t_%S#f[1]", 123456, "18.1" },
    { "_t_%S#ff[1]", 123456, "18.12" },
    { "_t_%S#fff[1]", 123456, "18.123" },
    { "_t_%S#ffff[1]", 123456, "18.1234" },
    { "_t_%S#fffff[1]", 123456, "18.12345" },
    { "_t_%S#ffffff[1]", 123456, "18.123456" },
    /* At most six digits: the seventh "f" is literal. */
    { "_t_%S#fffffff[1]", 123456, "18.123456f" },
    /* Zero-padded, cut (not rounded). */
    { "_t_%S#f[1]", 7, "18.0" },
    { "_t_%S#fff[1]", 7, "18.000" },
    { "_t_%S#ffffff[1]", 7, "18.000007" },
    { "_t_%S#ff[1]", 999999, "18.99" },
    { "_t_%S#ffffff[1]", 0, "18.000000" },
    /* Several specifiers, in any order; a "#" without "f" is literal. */
    { "_t_%S#f#ff#fff[1]", 123456, "18.1.12.123" },
    { "_t_#ffffff#f%S[1]", 654321, ".654321.618" },
    { "_t_%S##ff[1]", 123456, "18#.12" },
    { "_t_%S#[1]", 123456, "18#" },
    { "_t_f#f%S[1]", 123456, "f.118" },
    /* Only a fraction (resolution 1 ms, repeats every second). */
    { "_t_#fff[1]", 123456, ".123" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_test_message ("%s at .%06d", cases[i].name, cases[i].usec);
      assert_render (fx, cases[i].name, at (14, 7, 18, cases[i].usec),
                     cases[i].expected);
    }
}

static void
test_render_examples (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  static const RenderCase cases[] = {
    { "_t_tmstmp%S#f[1]", 123456, "tmstmp18.1" },
    { "_t_foo.%D.%T[4]", 123456, "foo.03/05/24.14:07:18" },
    { "_t_bar:%S#fff[1]", 123456, "bar:18.123" },
    { "_t_stamp.%Y%m%d.%H%M%S#fff[1]", 123456, "stamp.20240305.140718.123" },
    { "_t_%Y%m%dT%H%M%S#ffffff[1]", 5, "20240305T140718.000005" },
    { "_t_%s[1]", 999999, "1709647638" },
    { "_t_%H:%M[1]", 0, "14:07" },
    { "_t_%I%p[1]", 0, "02PM" },
    { "_t_%c[1]", 0, "Tue Mar  5 14:07:18 2024" },
    /* "%%" is a literal "%" (and "%%S" no seconds field). */
    { "_t_%%S%S[1]", 0, "%S18" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_test_message ("%s at .%06d", cases[i].name, cases[i].usec);
      assert_render (fx, cases[i].name, at (14, 7, 18, cases[i].usec),
                     cases[i].expected);
    }
}

/* The backslash is literal (FLoM: "_t_a\%S[1]" gives "a\18"). */
static void
test_render_backslash (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  assert_render (fx, "_t_a\\%S[1]", at (14, 7, 18, 0), "a\\18");
  assert_render (fx, "_t_a\\\\%S\\#ff[1]", at (14, 7, 18, 250000),
                 "a\\\\18\\.25");
}

/* localtime: the daemon's time zone. */
static void
test_render_time_zone (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  set_tz ("XST-2");
  assert_render (fx, "_t_%H:%M:%S[1]", at (14, 7, 18, 0), "16:07:18");
  set_tz ("UTC");
  assert_render (fx, "_t_%H:%M:%S[1]", at (14, 7, 18, 0), "14:07:18");
}

/* ---- resolution ---- */

typedef struct
{
  const char *format;
  gint64 resolution_us;  /* 0: the resource cannot be created */
} ResolutionCase;

static const ResolutionCase resolution_cases[] = {
  /* "#" and k "f", largest k present */
  { "%S#f", 100000 },
  { "%S#ff", 10000 },
  { "%S#fff", 1000 },
  { "%S#ffff", 100 },
  { "%S#fffff", 10 },
  { "%S#ffffff", 1 },
  { "#fffffff", 1 },
  { "#f.#fff.#ff", 1000 },
  { "%H#ff", 10000 },
  { "#f", 100000 },
  /* %c %r %s %S %T %X */
  { "%c", SEC (1) },
  { "%r", SEC (1) },
  { "%s", SEC (1) },
  { "%S", SEC (1) },
  { "%T", SEC (1) },
  { "%X", SEC (1) },
  { "%H%M%S", SEC (1) },
  { "%D.%T", SEC (1) },
  { "%OS", SEC (1) },
  { "%EX", SEC (1) },
  { "%10S", SEC (1) },
  /* %M %R */
  { "%M", SEC (60) },
  { "%R", SEC (60) },
  { "%H%M", SEC (60) },
  { "%D.%R", SEC (60) },
  /* %H %I */
  { "%H", SEC (3600) },
  { "%I", SEC (3600) },
  { "%Y%m%d%H", SEC (3600) },
  /* none: no time field */
  { "%D", 0 },
  { "%Y%m%d", 0 },
  { "abc", 0 },
  { "#", 0 },
  { "%%S", 0 },  /* the literal text "%S" */
  { "%ES", 0 },  /* glibc prints it literally */
  { "%Oc", 0 },
  { "%k%l", 0 }, /* hours, but not in FLoM's table */
};

/* A grant at T0, then another (capacity 2) just before and at the next
 * slot. */
static void
test_resolution (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  for (gsize i = 0; i < G_N_ELEMENTS (resolution_cases); i++)
    {
      const ResolutionCase *rc = &resolution_cases[i];
      g_autofree char *name = g_strdup_printf ("_t_%s[2]", rc->format);

      g_test_message ("%s: %" G_GINT64_FORMAT " us", name, rc->resolution_us);
      if (rc->resolution_us == 0)
        {
          g_assert_cmpint (lock_at (fx, 1, name, TRUE, 0, T0, NULL), ==,
                           LATCH_LOCK_INIT_ERROR);
          g_assert_cmpuint (latch_locker_n_resources (fx->locker), ==, 0);
          g_assert_cmpuint (latch_locker_n_active (fx->locker), ==, 0);
          continue;
        }
      g_assert_cmpint (lock_at (fx, 1, name, FALSE, 0, T0, NULL), ==,
                       LATCH_LOCK_GRANTED);
      g_assert_cmpint (lock_at (fx, 2, name, FALSE, 0,
                                T0 + rc->resolution_us - 1, NULL), ==,
                       LATCH_LOCK_BUSY);
      g_assert_cmpint (lock_at (fx, 2, name, FALSE, 0,
                                T0 + rc->resolution_us, NULL), ==,
                       LATCH_LOCK_GRANTED);
      unlock_at (fx, 1, name, T0 + rc->resolution_us);
      unlock_at (fx, 2, name, T0 + rc->resolution_us);
      /* Idle, it lives until the end of its last slot. */
      g_assert_cmpuint (latch_locker_n_resources (fx->locker), ==, 1);
      latch_locker_tick (fx->locker, T0 + 2 * rc->resolution_us, fx->events);
      g_assert_cmpuint (latch_locker_n_resources (fx->locker), ==, 0);
    }
}

/* The class says why: the format, and that it needs a time field. */
static void
test_resolution_error (void)
{
  LatchLockReq req = {
    .name = "_t_day.%D[1]",
    .mode = LATCH_LOCK_MODE_EX,
    .quantity = 1,
    .create = TRUE,
  };
  g_autoptr (GError) error = NULL;
  gpointer state;

  state = latch_rsrc_timestamp_class.create (req.name, &req, T0, &error);
  g_assert_null (state);
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_NAME);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "'day.%D'"));
  g_assert_nonnull (strstr (error->message, "needs a time field"));
}

/* s repeated n times. */
static char *
repeat (const char *s, guint n)
{
  GString *out = g_string_new (NULL);

  for (guint i = 0; i < n; i++)
    g_string_append (out, s);
  return g_string_free (out, FALSE);
}

/* "_t_" + n bytes "a" + tail + "[1]". */
static char *
padded_name (guint n, const char *tail)
{
  g_autofree char *pad = g_strnfill (n, 'a');

  return g_strdup_printf ("_t_%s%s[1]", pad, tail);
}

/* Locks name at now_us and expects an element of want_len bytes. */
static void
assert_length (LatchTestFixture *fx, const char *name, gint64 now_us,
               gsize want_len)
{
  g_autofree char *element = NULL;

  g_assert_cmpint (lock_at (fx, 1, name, FALSE, 0, now_us, &element), ==,
                   LATCH_LOCK_GRANTED);
  g_assert_cmpuint (strlen (element), ==, want_len);
  unlock_at (fx, 1, name, now_us);
  latch_locker_tick (fx->locker, G_MAXINT64 / 2, fx->events);
}

static void
assert_too_long (LatchTestFixture *fx, const char *name, gint64 now_us)
{
  g_assert_cmpint (lock_at (fx, 1, name, FALSE, 0, now_us, NULL), ==,
                   LATCH_LOCK_INIT_ERROR);
  g_assert_cmpuint (latch_locker_n_resources (fx->locker), ==, 0);
}

/* An element is at most 999 bytes, FLoM's limit (it formats into a
 * 1000-byte buffer).  The result counts, not the format: many short fields
 * are fine as long as what they give fits. */
static void
test_length (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  g_autofree char *seconds46 = repeat ("%S", 46);
  g_autofree char *name92 = g_strdup_printf ("_t_%s[1]", seconds46);
  g_autofree char *want92 = repeat ("00", 46);
  g_autofree char *c41 = repeat ("%c", 41);
  g_autofree char *c42 = repeat ("%c", 42);
  g_autofree char *name_c41 = g_strdup_printf ("_t_%s[1]", c41);
  g_autofree char *name_c42 = g_strdup_printf ("_t_%s[1]", c42);
  g_autofree char *name999 = padded_name (997, "%S");
  g_autofree char *name1000 = padded_name (998, "%S");

  /* 92 bytes from 46 fields (refused when each field counted 24). */
  assert_render (fx, name92, T0, want92);
  assert_render (fx, "_t_%c%c%c%c%c%c%c%c[1]", T0,
                 "Tue Mar  5 14:00:00 2024Tue Mar  5 14:00:00 2024"
                 "Tue Mar  5 14:00:00 2024Tue Mar  5 14:00:00 2024"
                 "Tue Mar  5 14:00:00 2024Tue Mar  5 14:00:00 2024"
                 "Tue Mar  5 14:00:00 2024Tue Mar  5 14:00:00 2024");
  assert_length (fx, name_c41, T0, 41 * 24);
  assert_too_long (fx, name_c42, T0);

  /* 999 bytes fit; 1000 do not. */
  assert_length (fx, "_t_%999S[1]", T0, 999);
  assert_length (fx, name999, T0, 999);
  assert_too_long (fx, "_t_a%999S[1]", T0);
  assert_too_long (fx, name1000, T0);
  assert_too_long (fx, "_t_%99999999999999999999S[1]", T0);
  g_assert_cmpuint (latch_locker_n_active (fx->locker), ==, 0);
}

/* The length of a name changes over the year: the longest month, weekday
 * and zone abbreviation count, whenever the resource is created (T0 is a
 * Tuesday in March: "Tuesday", "March"). */
static void
test_length_names (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  struct
  {
    const char *tail;
    guint pad_fits;   /* with this many "a", the longest result is 999 */
    gsize now_len;    /* the element at T0 with pad_fits "a" */
  } cases[] = {
    { "%B%S", 988, 988 + 5 + 2 },         /* September */
    { "%A%S", 988, 988 + 7 + 2 },         /* Wednesday */
    { "%A%B%S", 979, 979 + 7 + 5 + 2 },   /* a Wednesday in September */
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *fits = padded_name (cases[i].pad_fits, cases[i].tail);
      g_autofree char *longer = padded_name (cases[i].pad_fits + 1,
                                             cases[i].tail);

      g_test_message ("%s", cases[i].tail);
      assert_length (fx, fits, T0, cases[i].now_len);
      assert_too_long (fx, longer, T0);
    }

  /* Standard time "AAA" at T0, summer time "BBBB" from March 10th. */
  set_tz ("AAA3BBBB,M3.2.0,M11.1.0");
  {
    g_autofree char *fits = padded_name (993, "%Z%S");
    g_autofree char *longer = padded_name (994, "%Z%S");

    assert_length (fx, fits, T0, 993 + 3 + 2);
    assert_too_long (fx, longer, T0);
    /* ...and the same in summer. */
    assert_length (fx, fits, T0 + SEC (200 * 24 * 3600), 993 + 4 + 2);
    assert_too_long (fx, longer, T0 + SEC (200 * 24 * 3600));
  }
  set_tz ("UTC");
}

/* The class says why: how long the result gets, and the limit. */
static void
test_length_error (void)
{
  g_autofree char *name = padded_name (998, "%S");
  LatchLockReq req = latch_test_req (name, LATCH_LOCK_MODE_EX, 1, FALSE, TRUE,
                                     0);
  g_autoptr (GError) error = NULL;
  g_autoptr (GError) error2 = NULL;

  g_assert_null (latch_rsrc_timestamp_class.create (name, &req, T0, &error));
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_NAME);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "can give 1000 bytes"));
  g_assert_nonnull (strstr (error->message, "at most 999 bytes"));

  req.name = "_t_%99999999999999999999S[1]";
  g_assert_null (latch_rsrc_timestamp_class.create (req.name, &req, T0,
                                                    &error2));
  g_test_message ("%s", error2->message);
  g_assert_nonnull (strstr (error2->message, "can give more than 65535 bytes"));
}

/* ---- one timestamp per slot ---- */

/* Capacity 2, so only time holds the second request back: it queues, and
 * the tick at the start of the next slot grants it a later timestamp. */
static void
test_same_slot_queues (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  const char *name = "_t_%T#fff[2]";
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;
  gint64 t = at (14, 7, 18, 123456);

  g_assert_cmpint (lock_at (fx, 1, name, TRUE, 0, t, &first), ==,
                   LATCH_LOCK_GRANTED);
  g_assert_cmpstr (first, ==, "14:07:18.123");
  g_assert_cmpint (lock_at (fx, 2, name, TRUE, 0, t + 500, NULL), ==,
                   LATCH_LOCK_QUEUED);
  g_assert_cmpint (lock_at (fx, 3, name, FALSE, 0, t + 520, NULL), ==,
                   LATCH_LOCK_BUSY);

  /* The next slot starts at .124000. */
  g_assert_cmpint (latch_locker_tick (fx->locker, t + 520, fx->events), ==,
                   t + 544);
  g_assert_cmpint (latch_locker_tick (fx->locker, t + 543, fx->events), ==,
                   t + 544);
  g_assert_cmpuint (fx->events->len, ==, 0);
  g_assert_cmpint (latch_locker_tick (fx->locker, t + 544, fx->events), ==,
                   -1);
  second = take_granted_event (fx, 2);
  g_assert_cmpstr (second, ==, "14:07:18.124");
  g_assert_cmpstr (second, >, first);

  unlock_at (fx, 1, name, t + 1000);
  unlock_at (fx, 2, name, t + 1000);
  latch_locker_tick (fx->locker, G_MAXINT64 / 2, fx->events); /* its last slot ends */
  g_assert_cmpuint (latch_locker_n_resources (fx->locker), ==, 0);
}

/* Capacity 1: while the place is taken, only a release helps (no
 * wakeup); a release in the same slot is not enough either. */
static void
test_same_slot_after_release (LatchTestFixture *fx,
                              gconstpointer data G_GNUC_UNUSED)
{
  const char *name = "_t_%H:%M:%S[1]";
  g_autofree char *second = NULL;
  gint64 t = at (14, 7, 18, 100000);

  g_assert_cmpint (lock_at (fx, 1, name, TRUE, 0, t, NULL), ==,
                   LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock_at (fx, 2, name, TRUE, 0, t + 1, NULL), ==,
                   LATCH_LOCK_QUEUED);
  g_assert_cmpint (latch_locker_tick (fx->locker, t + SEC (5), fx->events),
                   ==, -1);
  g_assert_cmpuint (fx->events->len, ==, 0);
  /* Whatever the time, the place is taken. */
  unlock_at (fx, 1, name, t + 200000);
  g_assert_cmpuint (fx->events->len, ==, 0);
  g_assert_cmpint (latch_locker_tick (fx->locker, t + 300000, fx->events), ==,
                   at (14, 7, 19, 0));
  g_assert_cmpint (latch_locker_tick (fx->locker, at (14, 7, 19, 2),
                                      fx->events), ==, -1);
  second = take_granted_event (fx, 2);
  g_assert_cmpstr (second, ==, "14:07:19");
  unlock_at (fx, 2, name, at (14, 7, 19, 3));

  /* A holder that goes away frees its place, and its timestamp stays
   * used. */
  g_assert_cmpint (lock_at (fx, 3, name, TRUE, KEEP, at (14, 8, 0, 0), NULL),
                   ==, LATCH_LOCK_GRANTED);
  g_assert_cmpint (lock_at (fx, 4, name, TRUE, KEEP, at (14, 8, 0, 1), NULL),
                   ==, LATCH_LOCK_QUEUED);
  latch_locker_drop_owner (fx->locker, LATCH_TEST_OWNER (3), at (14, 8, 0, 2),
                           fx->events);
  g_assert_cmpuint (fx->events->len, ==, 0);
  g_assert_cmpint (latch_locker_tick (fx->locker, at (14, 8, 1, 0),
                                      fx->events), ==, -1);
  g_free (second);
  second = take_granted_event (fx, 4);
  g_assert_cmpstr (second, ==, "14:08:01");
}

/* Lifespan 0: the resource is idle once released, but it lives until its
 * slot is over, so a new request in the same second cannot get the same
 * stamp from a new resource (FLoM: it can). */
static void
test_unique_across_recreation (LatchTestFixture *fx,
                               gconstpointer data G_GNUC_UNUSED)
{
  const char *name = "_t_%H:%M:%S[1]";
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;
  gint64 t = at (9, 0, 0, 500000);

  g_assert_cmpint (lock_at (fx, 1, name, TRUE, 0, t, &first), ==,
                   LATCH_LOCK_GRANTED);
  unlock_at (fx, 1, name, t + 1);
  g_assert_cmpuint (latch_locker_n_resources (fx->locker), ==, 1);
  g_assert_cmpint (lock_at (fx, 2, name, FALSE, 0, t + 2, NULL), ==,
                   LATCH_LOCK_BUSY);
  g_assert_cmpint (lock_at (fx, 2, name, TRUE, 0, t + 3, NULL), ==,
                   LATCH_LOCK_QUEUED);
  g_assert_cmpint (latch_locker_tick (fx->locker, at (9, 0, 1, 0), fx->events),
                   ==, -1);
  second = take_granted_event (fx, 2);
  g_assert_cmpstr (first, ==, "09:00:00");
  g_assert_cmpstr (second, ==, "09:00:01");
  unlock_at (fx, 2, name, at (9, 0, 1, 1));
  /* Once its slot is over, the idle resource is gone. */
  g_assert_cmpint (latch_locker_tick (fx->locker, at (9, 0, 2, 0), fx->events),
                   ==, -1);
  g_assert_cmpuint (latch_locker_n_resources (fx->locker), ==, 0);
}

/* Random steps: a grant only in a strictly later slot, a refusal only in
 * the same slot; for formats with the full date and time the elements
 * strictly increase, for the others consecutive ones differ (each step is
 * shorter than the period of the string) and slots never repeat.  A
 * request that has to wait is served by the tick at the slot start. */
typedef struct
{
  const char *name;
  gint64 resolution_us;
  gint64 max_step_us;
  gboolean is_full;  /* full date and time: strings increase */
} IncreasingCase;

static void
test_strictly_increasing (LatchTestFixture *fx,
                          gconstpointer data G_GNUC_UNUSED)
{
  static const IncreasingCase cases[] = {
    { "_t_%Y%m%d%H%M%S#ffffff[1]", 1, 3, TRUE },
    { "_t_%Y%m%d.%H%M%S#fff[1]", 1000, 2500, TRUE },
    { "_t_%Y%m%d.%H%M%S[1]", SEC (1), SEC (2), TRUE },
    { "_t_%s#ff[1]", 10000, 30000, TRUE },
    { "_t_%S#ff[1]", 10000, 100000, FALSE },
    { "_t_%S[1]", SEC (1), SEC (3), FALSE },
    { "_t_%M[1]", SEC (60), SEC (150), FALSE },
    { "_t_%I[1]", SEC (3600), SEC (7000), FALSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const IncreasingCase *ic = &cases[i];
      g_autoptr (GHashTable) slots = g_hash_table_new_full (g_int64_hash,
                                                            g_int64_equal,
                                                            g_free, NULL);
      g_autofree char *last = NULL;
      gint64 last_slot = -1;
      gint64 t = T0 + g_test_rand_int_range (0, 1000000);
      guint n_granted = 0;
      guint n_waited = 0;

      /* A locker of its own: another resource's idle expiry would come
       * first in the tick's answer. */
      latch_test_fixture_teardown (fx, NULL);
      latch_test_fixture_setup (fx, NULL);
      g_test_message ("%s", ic->name);
      for (int round = 0; round < 2000; round++)
        {
          g_autofree char *element = NULL;
          gboolean wait = round % 2 == 1;
          LatchLockStatus status;
          gint64 slot;

          t += (gint64) g_test_rand_double_range (0, ic->max_step_us + 1);
          status = lock_at (fx, 1, ic->name, wait, KEEP, t, &element);
          if (status == LATCH_LOCK_QUEUED)
            {
              /* Served when the next slot starts. */
              gint64 next = latch_locker_tick (fx->locker, t, fx->events);

              g_assert_cmpuint (fx->events->len, ==, 0);
              g_assert_cmpint (next, ==, (last_slot + 1) * ic->resolution_us);
              t = next + g_test_rand_int_range (0, 2);
              latch_locker_tick (fx->locker, t, fx->events);
              element = take_granted_event (fx, 1);
              status = LATCH_LOCK_GRANTED;
              n_waited++;
            }
          slot = t / ic->resolution_us;
          if (status != LATCH_LOCK_GRANTED)
            {
              g_assert_cmpint (status, ==, LATCH_LOCK_BUSY);
              g_assert_cmpint (slot, ==, last_slot);
              continue;
            }
          g_assert_cmpint (slot, >, last_slot);
          g_assert_true (g_hash_table_add (slots, g_memdup2 (&slot,
                                                             sizeof slot)));
          if (last != NULL && ic->is_full)
            g_assert_cmpstr (element, >, last);
          else if (last != NULL)
            g_assert_cmpstr (element, !=, last);
          last_slot = slot;
          g_free (last);
          last = g_steal_pointer (&element);
          n_granted++;
          unlock_at (fx, 1, ic->name, t);
        }
      g_test_message ("%u granted, %u after waiting", n_granted, n_waited);
      g_assert_cmpuint (n_granted, >, 500);
      g_assert_cmpuint (n_waited, >, 0);
      g_assert_cmpuint (g_hash_table_size (slots), ==, n_granted);
    }
}

/* ---- capacity ---- */

static void
test_capacity (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  const char *name = "_t_foo.%D.%T[4]";
  g_autofree char *element = NULL;

  /* Four holders, one second apart. */
  for (int i = 0; i < 4; i++)
    {
      g_autofree char *expected = g_strdup_printf ("foo.03/05/24.14:00:0%d",
                                                   i);

      g_clear_pointer (&element, g_free);
      g_assert_cmpint (lock_at (fx, i + 1, name, TRUE, 0, T0 + SEC (i),
                                &element), ==, LATCH_LOCK_GRANTED);
      g_assert_cmpstr (element, ==, expected);
    }
  g_assert_cmpint (lock_at (fx, 6, name, FALSE, 0, T0 + SEC (4), NULL), ==,
                   LATCH_LOCK_BUSY);
  g_assert_cmpint (lock_at (fx, 5, name, TRUE, 0, T0 + SEC (4), NULL), ==,
                   LATCH_LOCK_QUEUED);
  g_assert_cmpint (latch_locker_tick (fx->locker, T0 + SEC (5), fx->events),
                   ==, -1);
  g_assert_cmpuint (fx->events->len, ==, 0);

  unlock_at (fx, 3, name, T0 + SEC (6) + 500000);
  g_free (element);
  element = take_granted_event (fx, 5);
  g_assert_cmpstr (element, ==, "foo.03/05/24.14:00:06");
  for (int owner = 1; owner <= 5; owner++)
    if (owner != 3)
      unlock_at (fx, owner, name, T0 + SEC (7));
  latch_locker_tick (fx->locker, G_MAXINT64 / 2, fx->events); /* its last slot ends */
  g_assert_cmpuint (latch_locker_n_resources (fx->locker), ==, 0);
}

/* Four requests at the same time on four places: one now, the others one
 * per second, each at the tick that starts its slot. */
static void
test_capacity_same_time (LatchTestFixture *fx,
                         gconstpointer data G_GNUC_UNUSED)
{
  const char *name = "_t_%T[4]";
  g_autofree char *element = NULL;

  g_assert_cmpint (lock_at (fx, 1, name, TRUE, 0, T0 + 10, &element), ==,
                   LATCH_LOCK_GRANTED);
  g_assert_cmpstr (element, ==, "14:00:00");
  for (int owner = 2; owner <= 4; owner++)
    g_assert_cmpint (lock_at (fx, owner, name, TRUE, 0, T0 + 10, NULL), ==,
                     LATCH_LOCK_QUEUED);
  for (int owner = 2; owner <= 4; owner++)
    {
      g_autofree char *expected = g_strdup_printf ("14:00:0%d", owner - 1);
      gint64 slot_start = T0 + SEC (owner - 1);

      g_assert_cmpint (latch_locker_tick (fx->locker, slot_start - 1,
                                          fx->events), ==, slot_start);
      g_assert_cmpuint (fx->events->len, ==, 0);
      latch_locker_tick (fx->locker, slot_start, fx->events);
      g_free (element);
      element = take_granted_event (fx, owner);
      g_assert_cmpstr (element, ==, expected);
    }
  g_assert_cmpuint (latch_locker_n_active (fx->locker), ==, 4);
}

static void
test_capacity_zero (LatchTestFixture *fx, gconstpointer data G_GNUC_UNUSED)
{
  g_assert_cmpint (lock_at (fx, 1, "_t_%S[0]", TRUE, 0, T0, NULL), ==,
                   LATCH_LOCK_IMPOSSIBLE);
  g_assert_cmpint (lock_at (fx, 1, "_t_%S[0]", FALSE, 0, T0, NULL), ==,
                   LATCH_LOCK_IMPOSSIBLE);
  g_assert_cmpuint (latch_locker_n_active (fx->locker), ==, 0);
  g_assert_cmpuint (latch_locker_n_resources (fx->locker), ==, 0);
}

int
main (int argc, char **argv)
{
  /* localtime_r() follows TZ: make the expected strings UTC. */
  set_tz ("UTC");
  g_test_init (&argc, &argv, NULL);

  LATCH_TEST_ADD ("/rsrc/timestamp/render/fractions", test_render_fractions);
  LATCH_TEST_ADD ("/rsrc/timestamp/render/examples", test_render_examples);
  LATCH_TEST_ADD ("/rsrc/timestamp/render/backslash", test_render_backslash);
  LATCH_TEST_ADD ("/rsrc/timestamp/render/time-zone", test_render_time_zone);
  LATCH_TEST_ADD ("/rsrc/timestamp/resolution/table", test_resolution);
  g_test_add_func ("/rsrc/timestamp/resolution/error",
                   test_resolution_error);
  LATCH_TEST_ADD ("/rsrc/timestamp/length/result", test_length);
  LATCH_TEST_ADD ("/rsrc/timestamp/length/names", test_length_names);
  g_test_add_func ("/rsrc/timestamp/length/error", test_length_error);
  LATCH_TEST_ADD ("/rsrc/timestamp/slot/same-slot-queues",
                  test_same_slot_queues);
  LATCH_TEST_ADD ("/rsrc/timestamp/slot/same-slot-after-release",
                  test_same_slot_after_release);
  LATCH_TEST_ADD ("/rsrc/timestamp/slot/strictly-increasing",
                  test_strictly_increasing);
  LATCH_TEST_ADD ("/rsrc/timestamp/slot/unique-across-recreation",
                  test_unique_across_recreation);
  LATCH_TEST_ADD ("/rsrc/timestamp/capacity/holders", test_capacity);
  LATCH_TEST_ADD ("/rsrc/timestamp/capacity/same-time",
                  test_capacity_same_time);
  LATCH_TEST_ADD ("/rsrc/timestamp/capacity/zero", test_capacity_zero);

  return g_test_run ();
}
