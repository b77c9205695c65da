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
 * Length.  An element is at most ELEMENT_MAX bytes.  Rather than fail a
 * grant, create() refuses a format whose rendering could be longer: it
 * adds up a generous bound for every conversion (24 bytes for a number, 64
 * for a name or zone, 128 for a locale's date/time layout or any modified
 * conversion, at least the width when one is given) and one byte for
 * every literal byte.  Should a locale still exceed its bound, the element
 * is cut at ELEMENT_MAX bytes (at a UTF-8 boundary when it is UTF-8). */
#include "config.h"

#include "locker/rsrc.h"

#include "common/error.h"
#include "proto/msg.h"

#include <string.h>
#include <time.h>

/* Longest element handed out (FLoM's limit), which the codec must carry. */
#define ELEMENT_MAX 999
G_STATIC_ASSERT (ELEMENT_MAX <= LATCH_STRING_MAX);

#define FRACTION_DIGITS_MAX 6
#define USEC_PER_SEC G_GINT64_CONSTANT (1000000)

/* Bounds of one conversion's output (see the header comment). */
#define BOUND_NUMBER 24
#define BOUND_NAME 64
#define BOUND_LAYOUT 128

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

/* An upper bound of the bytes strftime() writes for a conversion. */
static gsize
conversion_bound (const Conversion *c)
{
  gsize bound;

  if (c->modifier != 0)
    bound = BOUND_LAYOUT;
  else if (c->conv != '\0' && strchr ("%nt", c->conv) != NULL)
    bound = 1;
  else if (c->conv != '\0' && strchr ("CdeGgHIjklmMsSuUVwWyYz", c->conv) != NULL)
    bound = BOUND_NUMBER;
  else if (c->conv != '\0' && strchr ("aAbBhpPZ", c->conv) != NULL)
    bound = BOUND_NAME;
  else if (c->conv != '\0' && strchr ("cDFrRTxX", c->conv) != NULL)
    bound = BOUND_LAYOUT;
  else
    bound = 0; /* unknown: glibc copies it as it is (c->len bytes) */
  return MAX (MAX (bound, c->len), c->width);
}

/* Reads the resolution and the length bound of a format, once its
 * fraction specifiers are replaced (tmpl), max_digits being the most
 * digits of one of them. */
static void
analyse (const char *tmpl, gsize max_digits, gint64 *resolution_out,
         gsize *bound_out)
{
  gint64 resolution = 0;
  gsize bound = 0;

  for (const char *p = tmpl; *p != '\0';)
    {
      Conversion c;
      gint64 r;

      if (*p != '%')
        {
          bound++;
          p++;
          continue;
        }
      c = parse_conversion (p);
      r = conversion_resolution (&c);
      if (r > 0 && (resolution == 0 || r < resolution))
        resolution = r;
      bound = MIN (bound + conversion_bound (&c), G_MAXSIZE / 2);
      p += c.len;
    }
  if (max_digits > 0)
    {
      resolution = 1;
      for (gsize i = max_digits; i < FRACTION_DIGITS_MAX; i++)
        resolution *= 10;
    }
  *resolution_out = resolution;
  *bound_out = bound;
}

static gpointer
timestamp_create (const char *name, const LatchLockReq *req G_GNUC_UNUSED,
                  GError **error)
{
  TimestampState *ts;
  const char *bracket = strrchr (name, '[');
  g_autofree char *format = NULL;
  g_autofree char *tmpl = NULL;
  gsize max_digits;
  gint64 resolution;
  gsize bound;
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
  tmpl = substitute_fractions (format, 0, &max_digits);
  analyse (tmpl, max_digits, &resolution, &bound);
  if (resolution == 0)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_NAME,
                   "'%s': timestamp format '%s' needs a time field: "
                   "#f...#ffffff, %%c, %%r, %%s, %%S, %%T, %%X, %%M, %%R, "
                   "%%H or %%I",
                   name, format);
      return NULL;
    }
  if (bound > ELEMENT_MAX)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_NAME,
                   "'%s': timestamp format '%s' could give more than %d "
                   "bytes",
                   name, format, ELEMENT_MAX);
      return NULL;
    }

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

/* The element for now_us. */
static char *
render (const char *format, gint64 now_us)
{
  gint64 secs = floor_div (now_us, USEC_PER_SEC);
  int usec = (int) (now_us - secs * USEC_PER_SEC);
  time_t t = (time_t) secs;
  struct tm tm;
  g_autofree char *tmpl = substitute_fractions (format, usec, NULL);
  g_autofree char *buf = NULL;
  gsize size = ELEMENT_MAX + 1;
  gsize len;
  const char *end;

  /* Only a year beyond int fails; the epoch is as good an answer. */
  if (localtime_r (&t, &tm) == NULL)
    memset (&tm, 0, sizeof tm);

  buf = g_malloc (size);
  while ((len = format_time (buf, size, tmpl, &tm)) == 0 && size < 65536)
    {
      size *= 4;
      buf = g_realloc (buf, size);
    }
  /* Past the bound create() checked (an odd locale): cut, rather than
   * hand out more than the protocol carries. */
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
  .free = timestamp_free,
};
