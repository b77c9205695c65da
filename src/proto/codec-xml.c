/* codec-xml.c: the libxml2 decoder, for any well-formed message.
 *
 * Safety: the size limit is checked before parsing, and so is the absence
 * of NUL bytes (libxml2 would stop reading there); the network is never
 * used (XML_PARSE_NONET); entities are never substituted (no
 * XML_PARSE_NOENT) and no DTD is loaded.  Any "<!" (DOCTYPE, comment,
 * CDATA) is refused before libxml2 sees the bytes: none of these may
 * appear in a valid message, and refusing a DOCTYPE up front means that
 * entity expansion ("billion laughs") never starts.  libxml2 reports
 * nothing on stderr (XML_PARSE_NOERROR, XML_PARSE_NOWARNING on a private
 * parser context); its last error becomes the GError message.
 *
 * Everything is checked against the allow-list in msg.c: unknown elements
 * or attributes, namespaces, text other than whitespace, comments and
 * processing instructions are errors. */
#include "config.h"

#include "proto/msg.h"
#include "proto/msg-private.h"

#include "common/error.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <string.h>

static const int parse_options = XML_PARSE_NONET | XML_PARSE_NOERROR
                                 | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA
                                 | XML_PARSE_IGNORE_ENC /* UTF-8 only: checked first */
#if LIBXML_VERSION >= 21300
                                 | XML_PARSE_NO_XXE
#endif
    ;

static gboolean
is_whitespace (const xmlChar *s)
{
  if (s == NULL)
    return TRUE;
  for (; *s != '\0'; s++)
    if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
      return FALSE;
  return TRUE;
}

static const char *
node_type_description (xmlElementType type)
{
  switch (type)
    {
    case XML_TEXT_NODE:
      return "text";
    case XML_CDATA_SECTION_NODE:
      return "a cdata section";
    case XML_ENTITY_REF_NODE:
      return "an entity reference";
    case XML_PI_NODE:
      return "a processing instruction";
    case XML_COMMENT_NODE:
      return "a comment";
    case XML_DTD_NODE:
      return "a document type declaration";
    default:
      return "an unexpected node";
    }
}

/* The attribute's value as one string, "" when empty.  (transfer full) */
static char *
attr_value (xmlAttr *attr)
{
  xmlChar *raw = xmlNodeListGetString (attr->doc, attr->children, 1);
  char *value = g_strdup (raw != NULL ? (const char *) raw : "");

  xmlFree (raw);
  return value;
}

static gboolean
unknown_attr (const xmlAttr *attr, const char *elem, GError **error)
{
  g_autofree char *shown = NULL;

  if (attr->ns != NULL && attr->ns->prefix != NULL)
    {
      g_autofree char *full = g_strconcat ((const char *) attr->ns->prefix,
                                           ":", (const char *) attr->name,
                                           NULL);
      shown = latch_msg_printable (full, -1);
    }
  else
    shown = latch_msg_printable ((const char *) attr->name, -1);
  g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED,
               "unknown attribute '%s' on <%s>", shown, elem);
  return FALSE;
}

static gboolean
check_no_namespace (const xmlNode *node, GError **error)
{
  if (node->ns != NULL || node->nsDef != NULL)
    {
      g_autofree char *shown
          = latch_msg_printable ((const char *) node->name, -1);

      g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED,
                   "namespace on <%s>; messages use none", shown);
      return FALSE;
    }
  return TRUE;
}

/* A body element has no content, or whitespace only. */
static gboolean
check_empty (const xmlNode *node, GError **error)
{
  for (const xmlNode *child = node->children; child != NULL;
       child = child->next)
    if (child->type != XML_TEXT_NODE || !is_whitespace (child->content))
      {
        g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED,
                     "<%s> contains %s; it must be empty",
                     (const char *) node->name,
                     node_type_description (child->type));
        return FALSE;
      }
  return TRUE;
}

static gboolean
decode_element (LatchMsg *msg, xmlNode *node, GError **error)
{
  LatchElem elem;

  if (!check_no_namespace (node, error)
      || !latch_msg_begin_element (msg, (const char *) node->name, &elem,
                                   error))
    return FALSE;
  for (xmlAttr *attr = node->properties; attr != NULL; attr = attr->next)
    {
      g_autofree char *value = NULL;

      if (attr->ns != NULL)
        return unknown_attr (attr, (const char *) node->name, error);
      value = attr_value (attr);
      if (!latch_msg_set_attr (msg, elem, (const char *) attr->name, value,
                               NULL, error))
        return FALSE;
    }
  return check_empty (node, error);
}

static LatchMsg *
decode_doc (xmlDoc *doc, GError **error)
{
  g_autoptr (LatchMsg) msg = NULL;
  xmlNode *root = xmlDocGetRootElement (doc);

  if (doc->intSubset != NULL || doc->extSubset != NULL)
    {
      g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_MALFORMED,
                   "document type declarations are not allowed");
      return NULL;
    }
  if (root == NULL)
    {
      g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_MALFORMED,
                   "message has no root element");
      return NULL;
    }
  for (xmlNode *node = doc->children; node != NULL; node = node->next)
    if (node != root)
      {
        g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED,
                     "%s outside <msg>", node_type_description (node->type));
        return NULL;
      }
  if (!check_no_namespace (root, error))
    return NULL;
  if (strcmp ((const char *) root->name, "msg") != 0)
    {
      g_autofree char *shown
          = latch_msg_printable ((const char *) root->name, -1);

      g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED,
                   "root element is <%s>, not <msg>", shown);
      return NULL;
    }

  msg = latch_msg_new_decoding ();
  /* The level first, wherever it is: a peer of another level gets
   * LATCH_PROTO_ERROR_LEVEL, whatever else is wrong. */
  for (int pass = 0; pass < 2; pass++)
    for (xmlAttr *attr = root->properties; attr != NULL; attr = attr->next)
      {
        gboolean is_level = attr->ns == NULL
                            && strcmp ((const char *) attr->name, "level") == 0;
        g_autofree char *value = NULL;

        if (is_level != (pass == 0))
          continue;
        if (attr->ns != NULL)
          {
            unknown_attr (attr, "msg", error);
            return NULL;
          }
        value = attr_value (attr);
        if (!latch_msg_set_header (msg, (const char *) attr->name, value,
                                   error))
          return NULL;
      }

  for (xmlNode *node = root->children; node != NULL; node = node->next)
    {
      if (node->type == XML_ELEMENT_NODE)
        {
          if (!decode_element (msg, node, error))
            return NULL;
        }
      else if (node->type != XML_TEXT_NODE || !is_whitespace (node->content))
        {
          g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED,
                       "<msg> contains %s",
                       node_type_description (node->type));
          return NULL;
        }
    }

  if (!latch_msg_check (msg, error))
    return NULL;
  return g_steal_pointer (&msg);
}

/* libxml2's last error as one line. */
static void
set_parse_error (xmlParserCtxt *ctxt, GError **error)
{
  const xmlError *xerr = xmlCtxtGetLastError (ctxt);
  g_autofree char *text = NULL;

  if (xerr == NULL || xerr->message == NULL)
    {
      g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_MALFORMED,
                   "message is not well-formed xml");
      return;
    }
  text = g_strstrip (g_strdup (xerr->message));
  for (char *p = text; *p != '\0'; p++)
    if ((unsigned char) *p < 0x20)
      *p = ' ';
  g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_MALFORMED,
               "message is not well-formed xml (column %d): %s", xerr->int2,
               text);
}

/* Messages are UTF-8: refuse a byte-order mark (UTF-16/32) and an XML
 * declaration that names another encoding, before libxml2 could switch. */
static gboolean
encoding_is_utf8 (const char *buf, gsize len, GError **error)
{
  const char *decl_end, *enc;

  if (len >= 2 && ((guchar)buf[0] == 0xFE || (guchar)buf[0] == 0xFF || buf[0] == '\0'
                   || buf[1] == '\0'))
    {
      g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_MALFORMED,
                   "message is not UTF-8");
      return FALSE;
    }
  /* Every message starts with '<' as ASCII writes it: libxml2 would
   * otherwise guess an encoding from the first bytes (EBCDIC from
   * 4C 6F A7 94) and decode the message in it. */
  if (len == 0 || buf[0] != '<')
    {
      g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_MALFORMED,
                   "message does not start with '<'");
      return FALSE;
    }
  if (len < 5 || memcmp (buf, "<?xml", 5) != 0)
    return TRUE;
  decl_end = memmem (buf, len, "?>", 2);
  if (decl_end == NULL)
    {
      /* libxml2 would act on the encoding it names before finding the
       * declaration malformed (and print iconv's complaint). */
      g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_MALFORMED,
                   "message has an unterminated xml declaration");
      return FALSE;
    }
  enc = memmem (buf, (gsize)(decl_end - buf), "encoding", 8);
  if (enc == NULL)
    return TRUE;
  for (enc += 8; enc < decl_end && (*enc == ' ' || *enc == '=' || *enc == '"' || *enc == '\''); enc++)
    ;
  if (decl_end - enc >= 5 && g_ascii_strncasecmp (enc, "UTF-8", 5) == 0
      && (enc[5] == '"' || enc[5] == '\''))
    return TRUE;
  g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_MALFORMED,
               "message declares an encoding other than UTF-8");
  return FALSE;
}

gboolean
latch_codec_xml_decode (const char *buf, gsize len, LatchMsg **msg_out,
                        GError **error)
{
  xmlParserCtxt *ctxt;
  xmlDoc *doc;
  LatchMsg *msg = NULL;

  g_return_val_if_fail (buf != NULL || len == 0, FALSE);
  g_return_val_if_fail (msg_out != NULL, FALSE);

  if (!latch_msg_check_length (len, error))
    return FALSE;
  /* libxml2 takes a NUL byte for the end of the input and would ignore
   * what follows; XML allows none anywhere. */
  if (memchr (buf, '\0', len) != NULL)
    {
      g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_MALFORMED,
                   "message contains a nul byte");
      return FALSE;
    }
  if (memmem (buf, len, "<!", 2) != NULL)
    {
      g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_MALFORMED,
                   "document type declarations, comments and cdata "
                   "sections are not allowed");
      return FALSE;
    }

  if (!encoding_is_utf8 (buf, len, error))
    return FALSE;

  xmlInitParser ();
  /* The push parser, fed the whole message at once: for messages of this
   * size it does about 30% less work than xmlCtxtReadMemory (no input
   * buffer growing).  UTF-8 is libxml2's own encoding: with no encoding
   * forced it parses the bytes as they are. */
  ctxt = xmlCreatePushParserCtxt (NULL, NULL, NULL, 0, NULL);
  if (ctxt == NULL)
    {
      g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_MALFORMED,
                   "cannot create an xml parser");
      return FALSE;
    }
  xmlCtxtUseOptions (ctxt, parse_options);
  xmlParseChunk (ctxt, buf, (int) len, 1);
  doc = ctxt->myDoc;
  ctxt->myDoc = NULL;
  if (doc == NULL || !ctxt->wellFormed || !ctxt->nsWellFormed)
    set_parse_error (ctxt, error);
  else
    msg = decode_doc (doc, error);
  xmlFreeDoc (doc);
  xmlFreeParserCtxt (ctxt);

  if (msg == NULL)
    return FALSE;
  *msg_out = msg;
  return TRUE;
}
