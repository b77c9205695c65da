/* codec.c: the daemon's decoder (see msg.h).
 *
 * Every latch client and FLoM writes the canonical form, which the lite
 * decoder reads in a single pass with no allocation but the message's;
 * libxml2 costs about ten times as much per message (a parser context, a
 * document tree).  So the lite decoder goes first, and only a message it
 * refuses goes to libxml2, whose verdict and error message are then the
 * answer.  That the result is the libxml2 decoder's for every input rests
 * on the lite decoder's contract (codec-lite.c): what it accepts, libxml2
 * accepts as the same message.  tests/unit/test-codec.c and
 * tests/fuzz/fuzz-codec.c check both that contract and this function
 * against latch_codec_xml_decode(). */
#include "config.h"

#include "proto/msg.h"

gboolean
latch_codec_decode (const char *buf, gsize len, LatchMsg **msg_out,
                    GError **error)
{
  g_return_val_if_fail (buf != NULL || len == 0, FALSE);
  g_return_val_if_fail (msg_out != NULL, FALSE);

  /* The lite decoder's error is dropped: libxml2 says what is wrong in
   * its own words, which are the ones peers and logs have always seen. */
  if (latch_codec_lite_decode (buf, len, msg_out, NULL))
    return TRUE;
  return latch_codec_xml_decode (buf, len, msg_out, error);
}
