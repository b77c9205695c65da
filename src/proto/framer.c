/* framer.c: cuts a byte stream into messages at each "</msg>".
 *
 * Bytes live in one GByteArray; data[start, len) are pending.  Popping a
 * message copies it out once and moves start; the consumed head is
 * dropped on a later push, only once it is at least as long as what is
 * pending, so each byte is moved O(1) times on average.  The search for
 * "</msg>" resumes at scan, so bytes are not searched again on every push;
 * scan stays 5 bytes short of the end, for an end tag split across
 * pushes. */
#include "config.h"

#include "proto/framer.h"

#include "common/error.h"

#include <string.h>

#define END_TAG "</msg>"
#define END_TAG_LEN (sizeof END_TAG - 1)

struct _LatchFramer
{
  GByteArray *buf;
  gsize start; /* first pending byte */
  gsize scan;  /* no "</msg>" starts in [start, scan) */
  gsize max_size;
};

LatchFramer *
latch_framer_new (gsize max_size)
{
  LatchFramer *framer;

  g_return_val_if_fail (max_size > 0, NULL);

  framer = g_new0 (LatchFramer, 1);
  framer->buf = g_byte_array_new ();
  framer->max_size = max_size;
  return framer;
}

void
latch_framer_free (LatchFramer *framer)
{
  if (framer == NULL)
    return;
  g_byte_array_unref (framer->buf);
  g_free (framer);
}

void
latch_framer_push (LatchFramer *framer, const void *data, gsize len)
{
  g_return_if_fail (framer != NULL);
  g_return_if_fail (data != NULL || len == 0);

  if (len == 0)
    return;
  if (framer->start > 0 && framer->start >= framer->buf->len - framer->start)
    {
      g_byte_array_remove_range (framer->buf, 0, (guint) framer->start);
      framer->scan -= framer->start;
      framer->start = 0;
    }
  /* GByteArray lengths are guint; GLib aborts beyond that. */
  while (len > 0)
    {
      guint chunk = (guint) MIN (len, G_MAXUINT / 2);

      g_byte_array_append (framer->buf, data, chunk);
      data = (const guint8 *) data + chunk;
      len -= chunk;
    }
}

gboolean
latch_framer_pop (LatchFramer *framer, GBytes **msg_out, GError **error)
{
  const guint8 *data;
  gsize pending;
  gsize window_end;
  const guint8 *found = NULL;

  g_return_val_if_fail (framer != NULL, FALSE);
  g_return_val_if_fail (msg_out != NULL, FALSE);

  data = framer->buf->data;
  pending = framer->buf->len - framer->start;
  /* A message of at most max_size bytes has its end tag in here. */
  window_end = framer->start + MIN (pending, framer->max_size);
  if (framer->scan < window_end)
    found = memmem (data + framer->scan, window_end - framer->scan, END_TAG,
                    END_TAG_LEN);

  if (found != NULL)
    {
      gsize msg_len = (gsize) (found - data) + END_TAG_LEN - framer->start;

      *msg_out = g_bytes_new (data + framer->start, msg_len);
      framer->start += msg_len;
      if (framer->start == framer->buf->len)
        {
          g_byte_array_set_size (framer->buf, 0);
          framer->start = 0;
        }
      framer->scan = framer->start;
      return TRUE;
    }

  if (window_end - framer->start >= END_TAG_LEN)
    framer->scan = MAX (framer->scan, window_end - (END_TAG_LEN - 1));
  if (pending > framer->max_size)
    {
      g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_TOO_LONG,
                   "no end of message within %" G_GSIZE_FORMAT " bytes",
                   framer->max_size);
      return FALSE;
    }
  *msg_out = NULL;
  return TRUE;
}

gsize
latch_framer_pending (const LatchFramer *framer)
{
  g_return_val_if_fail (framer != NULL, 0);

  return framer->buf->len - framer->start;
}
