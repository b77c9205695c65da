/* codec-lite.c: decoder for the canonical form only, without libxml2.
 *
 * It accepts exactly what latch_msg_encode() and FLoM write:
 *   <?xml version="1.0" encoding="UTF-8" ?><msg level="L" verb="V" step="S">
 *   then elements <name attr="value" .../> or <name attr="value" ... />,
 *   elements and attributes in canonical order, single spaces,
 *   then </msg> and the end of the buffer.
 * Attribute values contain no '<', no '"', no control character, and '&'
 * only as one of the five predefined entities.  Everything else is
 * LATCH_PROTO_ERROR_MALFORMED, even when it is well-formed XML: the
 * libxml2 decoder is the one that takes any well-formed document.  Since
 * every form accepted here is also well-formed XML meaning the same thing,
 * the libxml2 decoder accepts it with the same result. */
#include "config.h"

#include "proto/msg.h"
#include "proto/msg-private.h"

#include "common/error.h"

#include <string.h>

#define XML_DECL "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>"

/* Longest element or attribute name in the allow-list, plus room to tell
 * a longer one apart. */
#define NAME_BUF 16

typedef struct
{
  const char *p;
  const char *end;
} Cursor;

static gboolean
malformed (const Cursor *c, const char *start, const char *what,
           GError **error)
{
  g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_MALFORMED,
               "not a canonical message at byte %d: %s",
               (int) (c->p - start), what);
  return FALSE;
}

/* Consumes lit if the input continues with it. */
static gboolean
skip (Cursor *c, const char *lit)
{
  gsize n = strlen (lit);

  if ((gsize) (c->end - c->p) < n || memcmp (c->p, lit, n) != 0)
    return FALSE;
  c->p += n;
  return TRUE;
}

/* An element or attribute name: [a-z]+.  Longer than NAME_BUF - 1 is
 * kept truncated, which no allowed name matches. */
static gboolean
read_name (Cursor *c, char buf[NAME_BUF])
{
  gsize n = 0;

  while (c->p < c->end && *c->p >= 'a' && *c->p <= 'z')
    {
      if (n < NAME_BUF - 1)
        buf[n] = *c->p;
      n++;
      c->p++;
    }
  if (n == 0)
    return FALSE;
  buf[MIN (n, NAME_BUF - 1)] = '\0';
  return TRUE;
}

static const struct
{
  const char *ref;
  char c;
} entities[] = {
  { "&amp;", '&' }, { "&lt;", '<' },    { "&gt;", '>' },
  { "&quot;", '"' }, { "&apos;", '\'' },
};

/* After an opening quote: the value up to the closing quote, which is
 * consumed.  Entities are decoded into value. */
static gboolean
read_value (Cursor *c, const char *start, GString *value, GError **error)
{
  g_string_truncate (value, 0);
  while (c->p < c->end)
    {
      unsigned char ch = (unsigned char) *c->p;

      if (ch == '"')
        {
          c->p++;
          return TRUE;
        }
      if (ch == '<' || ch < 0x20)
        return malformed (c, start, "forbidden character in attribute value",
                          error);
      if (ch == '&')
        {
          gsize i;

          for (i = 0; i < G_N_ELEMENTS (entities); i++)
            if (skip (c, entities[i].ref))
              break;
          if (i == G_N_ELEMENTS (entities))
            return malformed (c, start, "unsupported entity reference",
                              error);
          g_string_append_c (value, entities[i].c);
          continue;
        }
      g_string_append_c (value, (char) ch);
      c->p++;
    }
  return malformed (c, start, "unterminated attribute value", error);
}

static gboolean
read_header_attr (Cursor *c, const char *start, const char *lead,
                  const char *attr, LatchMsg *msg, GString *value,
                  GError **error)
{
  if (!skip (c, lead))
    return malformed (c, start, "bad <msg> start tag", error);
  if (!read_value (c, start, value, error))
    return FALSE;
  return latch_msg_set_header (msg, attr, value->str, error);
}

static gboolean
read_element (Cursor *c, const char *start, LatchMsg *msg, int *last_elem,
              GString *value, GError **error)
{
  char name[NAME_BUF];
  LatchElem elem;
  int last_attr = -1;

  if (!skip (c, "<"))
    return malformed (c, start, "expected an element or </msg>", error);
  if (!read_name (c, name))
    return malformed (c, start, "bad element name", error);
  if (!latch_msg_begin_element (msg, name, &elem, error))
    return FALSE;
  /* <line> is the one element that repeats, one after the other. */
  if ((int) elem < *last_elem
      || ((int) elem == *last_elem && elem != LATCH_ELEM_LINE))
    return malformed (c, start, "elements out of canonical order", error);
  *last_elem = elem;

  for (;;)
    {
      int index;

      if (skip (c, "/>"))
        return TRUE;
      if (!skip (c, " "))
        return malformed (c, start, "expected ' ' or '/>'", error);
      if (skip (c, "/>"))
        return TRUE;
      if (!read_name (c, name))
        return malformed (c, start, "bad attribute name", error);
      if (!skip (c, "=\""))
        return malformed (c, start, "expected '=\"'", error);
      if (!read_value (c, start, value, error))
        return FALSE;
      if (!latch_msg_set_attr (msg, elem, name, value->str, &index, error))
        return FALSE;
      if (index <= last_attr)
        return malformed (c, start, "attributes out of canonical order",
                          error);
      last_attr = index;
    }
}

gboolean
latch_codec_lite_decode (const char *buf, gsize len, LatchMsg **msg_out,
                         GError **error)
{
  g_autoptr (LatchMsg) msg = NULL;
  g_autoptr (GString) value = NULL;
  Cursor c;
  int last_elem = -1;

  g_return_val_if_fail (buf != NULL || len == 0, FALSE);
  g_return_val_if_fail (msg_out != NULL, FALSE);

  if (!latch_msg_check_length (len, error))
    return FALSE;
  /* Only now: buf may be NULL when len is 0, and NULL + 0 is undefined. */
  c = (Cursor){ buf, buf + len };
  if (!skip (&c, XML_DECL))
    return malformed (&c, buf, "bad xml declaration", error);

  msg = latch_msg_new_decoding ();
  value = g_string_sized_new (64);
  if (!read_header_attr (&c, buf, "<msg level=\"", "level", msg, value, error)
      || !read_header_attr (&c, buf, " verb=\"", "verb", msg, value, error)
      || !read_header_attr (&c, buf, " step=\"", "step", msg, value, error))
    return FALSE;
  if (!skip (&c, ">"))
    return malformed (&c, buf, "bad <msg> start tag", error);

  while (!skip (&c, LATCH_MSG_END))
    if (!read_element (&c, buf, msg, &last_elem, value, error))
      return FALSE;
  if (c.p != c.end)
    return malformed (&c, buf, "bytes after </msg>", error);

  if (!latch_msg_check (msg, error))
    return FALSE;
  *msg_out = g_steal_pointer (&msg);
  return TRUE;
}
