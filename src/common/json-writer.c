/* json-writer.c: a small compact JSON writer (see json-writer.h). */
#include "config.h"

#include "common/json-writer.h"

struct _LatchJsonWriter
{
  GString *out;
  /* Containers open; only checked, so that a caller's unbalanced call
   * shows up in the tests rather than as a document jq refuses. */
  guint depth;
  /* A value written at this level already: the next one needs a comma. */
  gboolean need_comma;
  /* A member name was just written: its value follows the colon, with
   * no comma. */
  gboolean after_name;
};

LatchJsonWriter *
latch_json_writer_new (void)
{
  LatchJsonWriter *w = g_new0 (LatchJsonWriter, 1);

  w->out = g_string_new (NULL);
  return w;
}

void
latch_json_writer_free (LatchJsonWriter *w)
{
  if (w == NULL)
    return;
  g_string_free (w->out, TRUE);
  g_free (w);
}

/* Called before anything that takes a place in the open container: a
 * value, or a member name. */
static void
separate (LatchJsonWriter *w)
{
  if (w->after_name)
    w->after_name = FALSE;
  else if (w->need_comma)
    g_string_append_c (w->out, ',');
}

static void
begin (LatchJsonWriter *w, char open)
{
  separate (w);
  g_string_append_c (w->out, open);
  w->depth++;
  w->need_comma = FALSE;
}

static void
end (LatchJsonWriter *w, char close)
{
  g_return_if_fail (w->depth > 0 && !w->after_name);
  g_string_append_c (w->out, close);
  w->depth--;
  w->need_comma = TRUE;
}

void
latch_json_writer_begin_object (LatchJsonWriter *w)
{
  begin (w, '{');
}

void
latch_json_writer_end_object (LatchJsonWriter *w)
{
  end (w, '}');
}

void
latch_json_writer_begin_array (LatchJsonWriter *w)
{
  begin (w, '[');
}

void
latch_json_writer_end_array (LatchJsonWriter *w)
{
  end (w, ']');
}

void
latch_json_writer_member (LatchJsonWriter *w, const char *name)
{
  g_return_if_fail (name != NULL && !w->after_name);
  separate (w);
  latch_json_append_string (w->out, name);
  g_string_append_c (w->out, ':');
  w->after_name = TRUE;
}

void
latch_json_writer_string (LatchJsonWriter *w, const char *s)
{
  g_return_if_fail (s != NULL);
  separate (w);
  latch_json_append_string (w->out, s);
  w->need_comma = TRUE;
}

void
latch_json_writer_int (LatchJsonWriter *w, gint64 v)
{
  separate (w);
  g_string_append_printf (w->out, "%" G_GINT64_FORMAT, v);
  w->need_comma = TRUE;
}

void
latch_json_writer_boolean (LatchJsonWriter *w, gboolean v)
{
  separate (w);
  g_string_append (w->out, v ? "true" : "false");
  w->need_comma = TRUE;
}

void
latch_json_writer_null (LatchJsonWriter *w)
{
  separate (w);
  g_string_append (w->out, "null");
  w->need_comma = TRUE;
}

const char *
latch_json_writer_get_text (const LatchJsonWriter *w)
{
  return w->out->str;
}

void
latch_json_append_string (GString *out, const char *s)
{
  /* RFC 8259 requires valid Unicode in a document; a resource name or a
   * command line is whatever bytes the client sent, so the invalid
   * sequences become U+FFFD rather than a document that does not parse. */
  g_autofree char *valid = g_utf8_make_valid (s, -1);

  g_string_append_c (out, '"');
  for (const guchar *p = (const guchar *)valid; *p != '\0'; p++)
    {
      switch (*p)
        {
        case '"':
          g_string_append (out, "\\\"");
          break;
        case '\\':
          g_string_append (out, "\\\\");
          break;
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
        default:
          /* Every other control character as \u00XX, which RFC 8259
           * requires.  DEL need not be escaped, but json-glib did, and
           * the status document stays byte-for-byte what it was. */
          if (*p < 0x20 || *p == 0x7f)
            g_string_append_printf (out, "\\u%04x", *p);
          else
            g_string_append_c (out, (char)*p);
          break;
        }
    }
  g_string_append_c (out, '"');
}
