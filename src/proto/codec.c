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
 * against latch_codec_xml_decode().
 *
 * libxml2 itself is in the module latch-xml.so (codec-module.h), loaded
 * here the first time a message needs it.  The module's table is this
 * file's one piece of state: set once, never unloaded.  Only the daemon
 * decodes with this function, from its one thread. */
#include "config.h"

#include "proto/codec-module.h"
#include "proto/msg.h"

#include "common/error.h"
#include "common/module.h"

#ifndef LATCH_XML_MODULE_PATH
#define LATCH_XML_MODULE_PATH "latch-xml.so"
#endif

/* A module built against another LatchMsg is not this version's. */
static gboolean
xml_module_check (const void *table)
{
  return ((const LatchXmlModule *)table)->msg_size == sizeof (LatchMsg);
}

/* The module, loaded on first use (common/module.c).  A failure is not
 * remembered: the next message that needs it tries again (the module may
 * have been installed meanwhile), and each caller gets its own error. */
static LatchModule xml_module = {
  .companion = { "LATCH_XML_MODULE", ".libs/latch-xml.so", LATCH_XML_MODULE_PATH },
  .symbol = "latch_xml_module",
  .abi = LATCH_XML_MODULE_ABI,
  .check = xml_module_check,
  .domain = latch_proto_error_quark,
  .code = LATCH_PROTO_ERROR_MALFORMED,
  .unloadable = "message not in canonical form, and latch's XML module "
                "cannot be loaded to read it",
  .foreign_lead = "message not in canonical form, and ",
  .foreign = " is not the XML module of this latch version (reinstall latch)",
};

gboolean
latch_codec_decode (const char *buf, gsize len, LatchMsg **msg_out,
                    GError **error)
{
  const LatchXmlModule *xml;

  g_return_val_if_fail (buf != NULL || len == 0, FALSE);
  g_return_val_if_fail (msg_out != NULL, FALSE);

  /* The lite decoder's error is dropped: libxml2 says what is wrong in
   * its own words, which are the ones peers and logs have always seen. */
  if (latch_codec_lite_decode (buf, len, msg_out, NULL))
    return TRUE;
  if ((xml = latch_module_load (&xml_module, error)) == NULL)
    return FALSE;
  return xml->decode (buf, len, msg_out, error);
}
