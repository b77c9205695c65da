/* text.c: untrusted text made safe for a one-line message (see text.h). */
#include "config.h"

#include "common/text.h"

#include <string.h>

/* Appends byte c escaped, in the spelling flags choose. */
static void
append_escaped (GString *out, guchar c, LatchQuoteFlags flags)
{
  if ((flags & LATCH_QUOTE_C_ESCAPES) == 0)
    {
      g_string_append_printf (out, "\\x%02x", c);
      return;
    }
  switch (c)
    {
    case '\b':
      g_string_append (out, "\\b");
      break;
    case '\f':
      g_string_append (out, "\\f");
      break;
    case '\n':
      g_string_append (out, "\\n");
      break;
    case '\r':
      g_string_append (out, "\\r");
      break;
    case '\t':
      g_string_append (out, "\\t");
      break;
    case '\v':
      g_string_append (out, "\\v");
      break;
    default:
      /* Always three digits: "\0001" is NUL then '1', never ambiguous. */
      g_string_append_printf (out, "\\%03o", c);
      break;
    }
}

/* Is u one of Unicode's Bidi_Control characters?  They reorder the text
 * around them on screen, so that a name can display as another
 * ("Trojan Source", CVE-2021-42574). */
static gboolean
is_bidi_control (gunichar u)
{
  return u == 0x061c || u == 0x200e || u == 0x200f || (u >= 0x202a && u <= 0x202e)
         || (u >= 0x2066 && u <= 0x2069);
}

/* May the valid character u (not ASCII) be shown as it is?  Not a C1
 * control (a terminal may act on it), a line or paragraph separator (it
 * breaks the line) or a bidi control.  Other invisible characters (zero
 * width space, U+FEFF) and unassigned code points are harmless, and are
 * shown: whether GLib knows a code point must not change messages. */
static gboolean
is_shown_as_is (gunichar u)
{
  GUnicodeType type = g_unichar_type (u);

  return type != G_UNICODE_CONTROL && type != G_UNICODE_LINE_SEPARATOR
         && type != G_UNICODE_PARAGRAPH_SEPARATOR && !is_bidi_control (u);
}

char *
latch_text_quote (const char *text, gssize len, gsize max, LatchQuoteFlags flags)
{
  gboolean bare = (flags & LATCH_QUOTE_BARE) != 0;
  const char *p;
  const char *end;
  gsize shown = 0;
  GString *out;

  if (text == NULL)
    text = "";
  if (len < 0)
    len = (gssize)strlen (text);
  p = text;
  end = text + len;
  out = g_string_sized_new (MIN ((gsize)len, max) + 8);
  if (!bare)
    g_string_append_c (out, '\'');
  while (p < end)
    {
      guchar c = (guchar)*p;
      gsize clen = 1;
      gboolean as_is;

      if (c < 0x80)
        as_is = c >= 0x20 && c != 0x7f;
      else
        {
          gunichar u = g_utf8_get_char_validated (p, end - p);

          /* (gunichar)-1: invalid; -2: cut short by end.  Either way this
           * byte alone is escaped and the next one looked at afresh. */
          as_is = FALSE;
          if (u != (gunichar)-1 && u != (gunichar)-2)
            {
              clen = (gsize)(g_utf8_next_char (p) - p);
              as_is = is_shown_as_is (u);
            }
        }
      if (shown + clen > max)
        {
          g_string_append (out, "...");
          break;
        }
      if (as_is)
        g_string_append_len (out, p, (gssize)clen);
      else
        for (gsize i = 0; i < clen; i++)
          append_escaped (out, (guchar)p[i], flags);
      shown += clen;
      p += clen;
    }
  if (!bare)
    g_string_append_c (out, '\'');
  return g_string_free (out, FALSE);
}

void
latch_text_lines_add_valist (GPtrArray *lines, const char *format, va_list ap)
{
  if (lines != NULL)
    g_ptr_array_add (lines, g_strdup_vprintf (format, ap));
}

void
latch_text_lines_add (GPtrArray *lines, const char *format, ...)
{
  va_list ap;

  va_start (ap, format);
  latch_text_lines_add_valist (lines, format, ap);
  va_end (ap);
}
