/* rsrc-timestamp.c: timestamp resources ("_t_FORMAT[N]").
 *
 * spec/resources.md §4, §7.  Up to N holders at a time; each grant hands
 * out the grant time formatted with FORMAT (the text between "_t_" and
 * "[").  Rendering, as FLoM's:
 *  1. fraction specifiers "#f" ... "#ffffff": the longest first, each "#"
 *     followed by k "f" becomes "." and the first k digits of the
 *     zero-padded six-digit microseconds ("#fffffff" is "#ffffff" and a
 *     literal "f");
 *  2. the result goes through strftime() with localtime_r(), i.e. the
 *     daemon's time zone; everything else ("\", ".", ":") is literal.
 *
 * Uniqueness.  The format's resolution is the smallest time step it shows
 * (first rule that applies):
 *     "#" and k "f" (largest k present)    10^(6-k) us
 *     %c %r %s %S %T %X                    1 s
 *     %M %R                                60 s
 *     %H %I                                3600 s
 * A format with none of them has no resolution and the resource cannot be
 * created.  Time is cut into slots of that length (slot = floor (now_us /
 * resolution_us)); a grant needs a free holder place and a slot strictly
 * later than the one of the last timestamp issued, so the timestamps of one
 * resource are unique and increasing in time for its whole life (the
 * strings themselves may repeat: "%S" repeats every minute).  A request
 * that waits only for the next slot is served by the locker's tick at
 * next_wakeup().  The resource outlives its idle lifespan until its last
 * slot is over (busy_until), so a resource of the same name created later
 * starts in a later slot: with the daemon's clock never going backwards,
 * timestamps of a name are unique for the daemon's whole life (in FLoM
 * the last slot dies with the resource).
 *
 * Slots are aligned on the epoch, not on local time: with an "%H" format in
 * a zone whose offset is not whole hours (+05:30), one local hour spans two
 * slots, so two grants in the same local hour can show the same "%H".
 * FLoM does the same.
 *
 * Conversions are recognised the way glibc's strftime() reads them: "%",
 * flags "_-0^#", a width, an "E" or "O" modifier, the conversion.  So "%%S"
 * is the literal text "%S", not a seconds field (FLoM's substring test
 * would take it for one), and "%OS" is a seconds field.  A modifier counts
 * only where glibc accepts it (%Ec %EX %OS %OM %OH %OI); elsewhere glibc
 * prints the conversion literally.
 *
 * Length.  FLoM formats into a 1000-byte buffer, so its elements are at
 * most ELEMENT_MAX (999) bytes; a longer result does not fit and FLoM
 * hands out whatever the buffer holds.  latch bounds the result, not the
 * format: create() renders the format and refuses it when a result could
 * be longer than ELEMENT_MAX, so that no grant fails later.  The length of
 * a result changes with time only through names (month, weekday, AM/PM,
 * the zone's abbreviation, which daylight saving time may change; the
 * numbers have fixed widths, as the grammar allows no "-" or "_" flag,
 * short of a locale's alternative digits with "%O"):
 * create() renders the format with every month, weekday and half-day (and
 * the numbers at their widest all the same), in the zone's state at
 * creation and half a year later, and takes the longest result.  Each
 * name depends on one field only, so varying one field at a time finds
 * the longest combination.  Should a grant still render longer (a time
 * beyond year 9999, a zone whose rules change), the element is cut at
 * ELEMENT_MAX bytes (at a UTF-8 boundary when it is UTF-8). */
#include "config.h"

#include "locker/rsrc.h"

#include "common/error.h"
#include "proto/msg.h"

#include <string.h>
#include <time.h>

/* Longest element handed out: FLoM's (flom_resource_timestamp.c formats
 * into "gchar element[1000]" with strftime()).  The codec must carry it. */
#define ELEMENT_MAX 999
G_STATIC_ASSERT (ELEMENT_MAX <= LATCH_STRING_MAX);

/* Longest result an error message reports exactly. */
#define MEASURE_MAX 65535

#define FRACTION_DIGITS_MAX 6
#define USEC_PER_SEC G_GINT64_CONSTANT (1000000)

typedef struct
{
  char *format;           /* FORMAT, as written in the name */
  gint64 resolution_us;
  guint capacity;         /* N: concurrent holders */
  guint n_held;
  gboolean has_issued;    /* last_slot is meaningful */
  gint64 last_slot;       /* of the last timestamp issued */
} TimestampState;

/* One strftime() conversion, as glibc parses it. */
typedef struct
{
  gsize len;      /* bytes from the '%' to the conversion character */
  gsize width;    /* 0: none; saturates at G_MAXSIZE / 16 */
  char modifier;  /* 'E', 'O' or 0 */
  char conv;      /* the conversion character, 0 for a '%' at the end */
} Conversion;

static gint64
floor_div (gint64 a, gint64 b)
{
  gint64 q = a / b;

  if ((a % b != 0) && ((a < 0) != (b < 0)))
    q--;
  return q;
}

/* When p is at a fraction specifier: its number of digits (1..6), else 0. */
static gsize
fraction_digits_at (const char *p)
{
  gsize k = 0;

  if (*p != '#')
    return 0;
  while (k < FRACTION_DIGITS_MAX && p[1 + k] == 'f')
    k++;
  return k;
}

/* format with its fraction specifiers replaced (step 1 of the rendering),
 * for the microseconds usec (0..999999).  Scanning left to right and taking
 * at most six "f" gives the same result as FLoM's longest-first
 * replacement: a replacement holds neither "#" nor "f", so it never makes
 * or breaks another specifier. */
static char *
substitute_fractions (const char *format, int usec, gsize *max_digits_out)
{
  GString *out = g_string_sized_new (strlen (format) + 8);
  char digits[FRACTION_DIGITS_MAX + 1];
  gsize max_digits = 0;

  g_snprintf (digits, sizeof digits, "%06d", usec);
  for (const char *p = format; *p != '\0';)
    {
      gsize k = fraction_digits_at (p);

      if (k == 0)
        {
          g_string_append_c (out, *p++);
          continue;
        }
      g_string_append_c (out, '.');
      g_string_append_len (out, digits, k);
      max_digits = MAX (max_digits, k);
      p += 1 + k;
    }
  if (max_digits_out != NULL)
    *max_digits_out = max_digits;
  return g_string_free (out, FALSE);
}

/* Parses the conversion whose '%' is at p. */
static Conversion
parse_conversion (const char *p)
{
  Conversion c = { 0 };
  const char *q = p + 1;

  while (*q != '\0' && strchr ("_-0^#", *q) != NULL)
    q++;
  while (g_ascii_isdigit (*q))
    {
      if (c.width < G_MAXSIZE / 16)
        c.width = c.width * 10 + (gsize) (*q - '0');
      q++;
    }
  if (*q == 'E' || *q == 'O')
    c.modifier = *q++;
  c.conv = *q;
  c.len = (gsize) (q - p) + (*q != '\0' ? 1 : 0);
  return c;
}

/* The time step a conversion shows, in us, or 0 when it shows none that
 * counts (spec/resources.md §7). */
static gint64
conversion_resolution (const Conversion *c)
{
  switch (c->conv)
    {
    case 'c':
    case 'X':
      return c->modifier != 'O' ? USEC_PER_SEC : 0;
    case 'r':
    case 's':
    case 'T':
      return c->modifier == 0 ? USEC_PER_SEC : 0;
    case 'S':
      return c->modifier != 'E' ? USEC_PER_SEC : 0;
    case 'M':
      return c->modifier != 'E' ? 60 * USEC_PER_SEC : 0;
    case 'R':
      return c->modifier == 0 ? 60 * USEC_PER_SEC : 0;
    case 'H':
    case 'I':
      return c->modifier != 'E' ? 3600 * USEC_PER_SEC : 0;
    default:
      return 0;
    }
}

/* The resolution of a format, once its fraction specifiers are replaced
 * (tmpl), max_digits being the most digits of one of them; 0: none. */
static gint64
resolution_of (const char *tmpl, gsize max_digits)
{
  gint64 resolution = 0;

  if (max_digits > 0)
    {
      resolution = 1;
      for (gsize i = max_digits; i < FRACTION_DIGITS_MAX; i++)
        resolution *= 10;
      return resolution;
    }
  for (const char *p = tmpl; *p != '\0';)
    {
      Conversion c;
      gint64 r;

      if (*p != '%')
        {
          p++;
          continue;
        }
      c = parse_conversion (p);
      r = conversion_resolution (&c);
      if (r > 0 && (resolution == 0 || r < resolution))
        resolution = r;
      p += c.len;
    }
  return resolution;
}

/* strftime() into a buffer of size bytes: the length, or 0 when it does
 * not fit (no time field can render as nothing, so 0 is never a fit). */
static gsize
format_time (char *buf, gsize size, const char *tmpl, const struct tm *tm)
{
  /* tmpl comes from the resource name, so it cannot be a literal; a bad
   * conversion in it only prints itself (glibc), it reads no argument. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
  return strftime (buf, size, tmpl, tm);
#pragma GCC diagnostic pop
}

/* The local time of now_us. */
static void
local_time (gint64 now_us, struct tm *tm)
{
  time_t t = (time_t) floor_div (now_us, USEC_PER_SEC);

  /* Only a year beyond int fails; the epoch is as good an answer. */
  if (localtime_r (&t, tm) == NULL)
    memset (tm, 0, sizeof *tm);
}

/* The length of tmpl rendered at tm when it fits FLoM's buffer, else
 * ELEMENT_MAX + 1. */
static gsize
fitting_length (const char *tmpl, const struct tm *tm)
{
  char buf[ELEMENT_MAX + 1];
  gsize len = format_time (buf, sizeof buf, tmpl, tm);

  return len > 0 ? len : ELEMENT_MAX + 1;
}

/* The length of tmpl rendered at tm, for an error message: at most
 * MEASURE_MAX + 1 (which means longer). */
static gsize
full_length (const char *tmpl, const struct tm *tm)
{
  g_autofree char *buf = g_malloc (MEASURE_MAX + 1);
  gsize len = format_time (buf, MEASURE_MAX + 1, tmpl, tm);

  return len > 0 ? len : MEASURE_MAX + 1;
}

/* Sets *field to each of values in turn and keeps the one that gives the
 * longest rendering of tmpl at *tm (the first of equals); returns that
 * length. */
static gsize
widest_field (const char *tmpl, struct tm *tm, int *field,
              const int *values, gsize n_values)
{
  int best_value = values[0];
  gsize best = 0;

  for (gsize i = 0; i < n_values; i++)
    {
      gsize len;

      *field = values[i];
      len = fitting_length (tmpl, tm);
      if (len > best)
        {
          best = len;
          best_value = values[i];
        }
    }
  *field = best_value;
  return best;
}

/* The time, in the zone's state at base, at which tmpl renders longest
 * (see the header comment): every number at its widest, then the month,
 * the weekday and the half-day that give the longest result.  Returns
 * that length (ELEMENT_MAX + 1: longer than an element). */
static gsize
longest_at (const char *tmpl, const struct tm *base, struct tm *tm_out)
{
  static const int months[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 };
  static const int weekdays[] = { 0, 1, 2, 3, 4, 5, 6 };
  static const int hours[] = { 11, 23 }; /* AM, PM; two digits either way */
  struct tm tm = *base;
  gsize len;

  tm.tm_mday = 28;  /* two digits, in every month */
  tm.tm_yday = 300; /* three digits; two-digit week numbers */
  tm.tm_min = 59;
  tm.tm_sec = 59;
  tm.tm_hour = hours[0];
  widest_field (tmpl, &tm, &tm.tm_mon, months, G_N_ELEMENTS (months));
  widest_field (tmpl, &tm, &tm.tm_wday, weekdays, G_N_ELEMENTS (weekdays));
  len = widest_field (tmpl, &tm, &tm.tm_hour, hours, G_N_ELEMENTS (hours));
  *tm_out = tm;
  return len;
}

/* Can tmpl render longer than an element, now or later?  Then sets an
 * error that says how long it gets. */
static gboolean
check_length (const char *name, const char *format, const char *tmpl,
              gint64 now_us, GError **error)
{
  /* Daylight saving time or not: the other state is in force half a year
   * later, if the zone has one. */
  const gint64 half_year_us = G_GINT64_CONSTANT (182) * 24 * 3600 * USEC_PER_SEC;
  const gint64 times[] = { now_us, now_us + half_year_us };

  for (gsize i = 0; i < G_N_ELEMENTS (times); i++)
    {
      struct tm base;
      struct tm widest;
      gsize len;

      local_time (times[i], &base);
      if (fitting_length (tmpl, &base) > ELEMENT_MAX)
        widest = base;
      else if (longest_at (tmpl, &base, &widest) <= ELEMENT_MAX)
        continue;
      len = full_length (tmpl, &widest);
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_NAME,
                   "'%s': timestamp format '%s' can give %s%" G_GSIZE_FORMAT
                   " bytes; a timestamp holds at most %d bytes (FLoM's "
                   "limit)",
                   name, format, len > MEASURE_MAX ? "more than " : "",
                   MIN (len, (gsize) MEASURE_MAX), ELEMENT_MAX);
      return FALSE;
    }
  return TRUE;
}

static gpointer
timestamp_create (const char *name, const LatchLockReq *req G_GNUC_UNUSED,
                  gint64 now_us, GError **error)
{
  TimestampState *ts;
  const char *bracket = strrchr (name, '[');
  g_autofree char *format = NULL;
  g_autofree char *tmpl = NULL;
  gsize max_digits;
  gint64 resolution;
  int capacity;

  /* The locker classified the name as a timestamp, so this holds; a name
   * that does not parse is a bug of ours, but is refused all the same. */
  if (!g_str_has_prefix (name, "_t_") || bracket == NULL
      || bracket <= name + 3
      || !latch_rsrc_name_get_number (name, &capacity) || capacity < 0)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_NAME,
                   "'%s' is not a timestamp name (_t_FORMAT[N])", name);
      return NULL;
    }
  format = g_strndup (name + 3, (gsize) (bracket - (name + 3)));
  /* The digits of the fractions have the same length at any time. */
  tmpl = substitute_fractions (format, 0, &max_digits);
  resolution = resolution_of (tmpl, max_digits);
  if (resolution == 0)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_NAME,
                   "'%s': timestamp format '%s' needs a time field: "
                   "#f...#ffffff, %%c, %%r, %%s, %%S, %%T, %%X, %%M, %%R, "
                   "%%H or %%I",
                   name, format);
      return NULL;
    }
  if (!check_length (name, format, tmpl, now_us, error))
    return NULL;

  ts = g_new0 (TimestampState, 1);
  ts->format = g_steal_pointer (&format);
  ts->resolution_us = resolution;
  ts->capacity = (guint) capacity;
  return ts;
}

/* Capacity 0 never grants: refuse at once rather than queue for ever. */
static gboolean
timestamp_is_possible (gpointer state, const LatchLockReq *req G_GNUC_UNUSED)
{
  TimestampState *ts = state;

  return ts->capacity > 0;
}

static gint64
slot_of (const TimestampState *ts, gint64 now_us)
{
  return floor_div (now_us, ts->resolution_us);
}

static gboolean
timestamp_is_grantable (gpointer state, const LatchLockReq *req G_GNUC_UNUSED,
                        gint64 now_us)
{
  TimestampState *ts = state;

  if (ts->n_held >= ts->capacity)
    return FALSE;
  return !ts->has_issued || slot_of (ts, now_us) > ts->last_slot;
}

/* The element for now_us. */
static char *
render (const char *format, gint64 now_us)
{
  gint64 secs = floor_div (now_us, USEC_PER_SEC);
  int usec = (int) (now_us - secs * USEC_PER_SEC);
  struct tm tm;
  g_autofree char *tmpl = substitute_fractions (format, usec, NULL);
  g_autofree char *buf = NULL;
  gsize size = ELEMENT_MAX + 1;
  gsize len;
  const char *end;

  local_time (now_us, &tm);
  buf = g_malloc (size);
  while ((len = format_time (buf, size, tmpl, &tm)) == 0 && size < 65536)
    {
      size *= 4;
      buf = g_realloc (buf, size);
    }
  /* Longer than create() found possible (see the header comment): cut,
   * rather than hand out more than FLoM's limit. */
  if (len > ELEMENT_MAX)
    {
      gboolean is_utf8 = g_utf8_validate (buf, (gssize) len, NULL);

      len = ELEMENT_MAX;
      if (is_utf8 && !g_utf8_validate (buf, (gssize) len, &end))
        len = (gsize) (end - buf);
    }
  return g_strndup (buf, len);
}

static char *
timestamp_grant (gpointer state, LatchRsrcHold *hold, gint64 now_us)
{
  TimestampState *ts = state;

  g_return_val_if_fail (ts->n_held < ts->capacity, NULL);

  ts->n_held++;
  ts->last_slot = slot_of (ts, now_us);
  ts->has_issued = TRUE;
  hold->value = 0;
  hold->data = NULL;
  return render (ts->format, now_us);
}

/* The timestamp stays issued: a rollback changes nothing but the holder
 * count. */
static void
timestamp_release (gpointer state, LatchRsrcHold *hold G_GNUC_UNUSED,
                   gboolean rollback G_GNUC_UNUSED)
{
  TimestampState *ts = state;

  g_return_if_fail (ts->n_held > 0);
  ts->n_held--;
}

/* The locker asks only while requests are queued.  If every holder place
 * is taken, only a release helps: -1.  Otherwise the head waits for the
 * next slot. */
static gint64
timestamp_next_wakeup (gpointer state, gint64 now_us)
{
  TimestampState *ts = state;

  if (ts->n_held >= ts->capacity)
    return -1;
  if (!ts->has_issued)
    return now_us;
  return (ts->last_slot + 1) * ts->resolution_us;
}

static gint64
timestamp_busy_until (gpointer state)
{
  const TimestampState *ts = state;

  return ts->has_issued ? (ts->last_slot + 1) * ts->resolution_us : G_MININT64;
}

static void
timestamp_free (gpointer state)
{
  TimestampState *ts = state;

  if (ts == NULL)
    return;
  g_free (ts->format);
  g_free (ts);
}

/* The slot of the last timestamp issued, or "-" when none was. */
static char *
timestamp_save (gpointer state)
{
  TimestampState *ts = state;

  return ts->has_issued ? g_strdup_printf ("%" G_GINT64_FORMAT, ts->last_slot) : g_strdup ("-");
}

static gboolean
timestamp_load (gpointer state, const char *text)
{
  TimestampState *ts = state;
  char *end;
  gint64 slot;

  if (text == NULL || strcmp (text, "-") == 0)
    return TRUE;
  slot = g_ascii_strtoll (text, &end, 10);
  if (end == text || *end != '\0')
    return FALSE;
  ts->has_issued = TRUE;
  ts->last_slot = slot;
  return TRUE;
}

/* The stamp was issued in a slot the saved state already counts. */
static gboolean
timestamp_adopt (gpointer state, LatchRsrcHold *hold, const char *element G_GNUC_UNUSED)
{
  TimestampState *ts = state;

  ts->n_held++;
  hold->value = 0;
  hold->data = NULL;
  return TRUE;
}

const LatchRsrcClass latch_rsrc_timestamp_class = {
  .type = LATCH_RSRC_TIMESTAMP,
  .create = timestamp_create,
  .is_possible = timestamp_is_possible,
  .is_grantable = timestamp_is_grantable,
  .grant = timestamp_grant,
  .release = timestamp_release,
  .is_idle = NULL,
  .next_wakeup = timestamp_next_wakeup,
  .busy_until = timestamp_busy_until,
  .save = timestamp_save,
  .load = timestamp_load,
  .adopt = timestamp_adopt,
  .free = timestamp_free,
};
