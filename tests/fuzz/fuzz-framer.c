/* fuzz-framer.c: the framer on arbitrary bytes in arbitrary chunks.
 *
 * The first input byte picks the chunk sizes and max_size.  Checked:
 * every message popped ends with its first "</msg>" and is at most
 * max_size bytes; popped plus pending bytes are all bytes pushed, in
 * order; an error happens only with more than max_size bytes pending. */
#include "config.h"

#include "proto/framer.h"
#include "fuzz.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (LatchFramer) framer = NULL;
  g_autoptr (GByteArray) popped = g_byte_array_new ();
  gsize max_size;
  gsize chunk_max;
  gsize pos = 0;
  unsigned seed;

  if (size < 1)
    return 0;
  seed = data[0];
  data++;
  size--;
  /* Small limits too, so that overflow is reached. */
  max_size = (seed & 0x80) ? 8192 : 6 + (seed & 0x3f);
  chunk_max = 1 + (seed & 0x0f) * 7;
  framer = latch_framer_new (max_size);

  while (pos < size)
    {
      gsize chunk = 1 + (pos * 31 + seed) % chunk_max;

      chunk = MIN (chunk, size - pos);
      latch_framer_push (framer, data + pos, chunk);
      pos += chunk;
      for (;;)
        {
          g_autoptr (GError) error = NULL;
          g_autoptr (GBytes) msg = NULL;
          gsize len;
          const char *m;
          const char *end;

          if (!latch_framer_pop (framer, &msg, &error))
            {
              require (error != NULL && msg == NULL);
              require (latch_framer_pending (framer) > max_size);
              return 0;
            }
          require (error == NULL);
          if (msg == NULL)
            break;
          m = g_bytes_get_data (msg, &len);
          require (len >= 6 && len <= max_size);
          end = memmem (m, len, "</msg>", 6);
          require (end == m + len - 6);
          g_byte_array_append (popped, (const guint8 *) m, (guint) len);
        }
      require (popped->len + latch_framer_pending (framer) == pos);
      require (popped->len == 0
               || memcmp (popped->data, data, popped->len) == 0);
      require (latch_framer_pending (framer) <= max_size);
    }
  return 0;
}
