/* codec-xml-module.c: the table latch-xml.so exports (codec-module.h). */
#include "config.h"

#include "proto/codec-module.h"

const LatchXmlModule *
latch_xml_module (void)
{
  static const LatchXmlModule module = {
    .abi = LATCH_XML_MODULE_ABI,
    .msg_size = sizeof (LatchMsg),
    .decode = latch_codec_xml_decode,
  };

  return &module;
}
