/* codec-module.h: the libxml2 decoder as a module, latch-xml.so.
 *
 * libxml2 brings ICU and libstdc++ with it: ten shared objects that a
 * daemon start would load, for the few messages that are not in the
 * canonical form every latch and FLoM peer writes.  So latchd does not
 * link it: latch_codec_decode() (codec.c) dlopen()s latch-xml.so on the
 * first message the lite decoder refuses.  The module is self-contained
 * (its own copy of msg.c and error.c, as latch-tls.so has of the common
 * files it needs) and exports one symbol, latch_xml_module().
 *
 * Found as the other companions are (common/companion.h): $LATCH_XML_MODULE,
 * then .libs/latch-xml.so in a build tree, then LATCH_XML_MODULE_PATH. */
#ifndef LATCH_PROTO_CODEC_MODULE_H
#define LATCH_PROTO_CODEC_MODULE_H

#include <glib.h>

#include "proto/msg.h"

G_BEGIN_DECLS

/* Changes whenever the table does. */
#define LATCH_XML_MODULE_ABI 1

typedef struct
{
  int abi;               /* LATCH_XML_MODULE_ABI */
  gsize msg_size;        /* sizeof (LatchMsg) where the module was built */
  gboolean (*decode) (const char *buf, gsize len, LatchMsg **msg_out,
                      GError **error); /* latch_codec_xml_decode() */
} LatchXmlModule;

/* The module's one export (transfer none). */
const LatchXmlModule *latch_xml_module (void);

G_END_DECLS

#endif
