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

#include "common/companion.h"
#include "common/error.h"

#include <dlfcn.h>

#ifndef LATCH_XML_MODULE_PATH
#define LATCH_XML_MODULE_PATH "latch-xml.so"
#endif

typedef const LatchXmlModule *(*ModuleFunc) (void);

static const LatchXmlModule *module;

/* The module, loaded on first use.  A failure is not remembered: the next
 * message that needs it tries again (the module may have been installed
 * meanwhile), and each caller gets its own error. */
static const LatchXmlModule *
xml_module (GError **error)
{
  static const LatchCompanion companion = { "LATCH_XML_MODULE", ".libs/latch-xml.so",
                                            LATCH_XML_MODULE_PATH };
  LatchCompanionSource source;
  g_autofree char *path = NULL;
  const LatchXmlModule *table;
  void *lib;
  ModuleFunc get;

  if (module != NULL)
    return module;
  path = latch_companion_path (&companion, &source);
  lib = dlopen (path, RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL)
    {
      g_autofree char *fix = latch_companion_fix (&companion, source);

      g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_MALFORMED,
                   "message not in canonical form, and latch's XML module "
                   "cannot be loaded to read it: %s (%s)", dlerror (), fix);
      return NULL;
    }
  get = (ModuleFunc)dlsym (lib, "latch_xml_module");
  table = get != NULL ? get () : NULL;
  if (table == NULL || table->abi != LATCH_XML_MODULE_ABI
      || table->msg_size != sizeof (LatchMsg))
    {
      g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_MALFORMED,
                   "message not in canonical form, and %s is not the XML "
                   "module of this latch version (reinstall latch)", path);
      dlclose (lib);
      return NULL;
    }
  module = table;
  return module;
}

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
  if ((xml = xml_module (error)) == NULL)
    return FALSE;
  return xml->decode (buf, len, msg_out, error);
}
