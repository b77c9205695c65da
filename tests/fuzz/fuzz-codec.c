/* fuzz-codec.c: the decoders on arbitrary bytes.
 *
 * Invariants (abort on violation):
 *  - whatever the lite decoder accepts, the libxml2 decoder accepts with
 *    an equal message;
 *  - the daemon's decoder (latch_codec_decode: lite first, then libxml2)
 *    gives the libxml2 decoder's result: an equal message, or an error
 *    with the same code and text;
 *  - whatever the libxml2 decoder accepts re-encodes to bytes that both
 *    decoders accept, giving the same message again;
 *  - a failure sets an error and leaves no message;
 *  - what the libxml2 decoder accepts is UTF-8 (the only encoding of the
 *    protocol: libxml2 must never decode another one);
 *  - libxml2 writes nothing through its generic error handler, which
 *    would be the daemon's stderr. */
#include "config.h"

#include "proto/msg.h"
#include "proto/msg-private.h"

#include "common/error.h"
#include "fuzz.h"

#include <libxml/xmlerror.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* libxml2's generic error handler: what reaches it would otherwise be
 * written to the daemon's stderr. */
static void
generic_error_cb (void *ctx, const char *msg, ...)
{
  abort ();
}

static LatchMsg *
decode (gboolean lite, const char *buf, gsize len)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GError) daemon_error = NULL;
  g_autoptr (LatchMsg) daemon_msg = NULL;
  LatchMsg *msg = NULL;
  gboolean ok = lite ? latch_codec_lite_decode (buf, len, &msg, &error)
                     : latch_codec_xml_decode (buf, len, &msg, &error);

  require (ok == (msg != NULL));
  require (ok == (error == NULL));
  if (!ok)
    require (error->domain == LATCH_PROTO_ERROR);
  if (lite)
    return msg;

  /* The daemon's decoder, against libxml2's verdict. */
  if (latch_codec_decode (buf, len, &daemon_msg, &daemon_error))
    require (ok && daemon_error == NULL && latch_msg_equal (daemon_msg, msg));
  else
    require (!ok && daemon_msg == NULL && daemon_error != NULL
             && daemon_error->domain == error->domain
             && daemon_error->code == error->code
             && strcmp (daemon_error->message, error->message) == 0);
  return msg;
}

/* The daemon's decoder dlopen()s latch-xml.so: make check names it in
 * $LATCH_XML_MODULE; a fuzzer run by hand from the build tree
 * (tests/fuzz/fuzz-codec) finds the tree's module without being told. */
static void
find_xml_module (void)
{
  g_autofree char *exe = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;

  if (g_getenv ("LATCH_XML_MODULE") != NULL)
    return;
  exe = g_file_read_link ("/proc/self/exe", NULL);
  if (exe == NULL)
    return;
  dir = g_path_get_dirname (exe);
  path = g_build_filename (dir, "..", "..", ".libs", "latch-xml.so", NULL);
  g_setenv ("LATCH_XML_MODULE", path, FALSE);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static gboolean initialized;
  const char *buf = (const char *) data;
  g_autoptr (LatchMsg) xml = NULL;
  g_autoptr (LatchMsg) lite = NULL;

  if (!initialized)
    {
      find_xml_module ();
      initialized = TRUE;
    }
  xmlSetGenericErrorFunc (NULL, generic_error_cb);
  xml = decode (FALSE, buf, size);
  lite = decode (TRUE, buf, size);
  if (xml != NULL)
    require (g_utf8_validate (buf, (gssize) size, NULL));

  if (lite != NULL)
    {
      require (xml != NULL);
      require (latch_msg_equal (xml, lite));
    }
  if (xml != NULL)
    {
      g_autoptr (GString) text = g_string_new (NULL);
      g_autoptr (LatchMsg) xml2 = NULL;
      g_autoptr (LatchMsg) lite2 = NULL;

      latch_msg_encode (xml, text);
      xml2 = decode (FALSE, text->str, text->len);
      lite2 = decode (TRUE, text->str, text->len);
      require (xml2 != NULL && latch_msg_equal (xml2, xml));
      require (lite2 != NULL && latch_msg_equal (lite2, xml));
    }
  return 0;
}
