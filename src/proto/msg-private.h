/* msg-private.h: what msg.c shares with the two decoders (codec-xml.c,
 * codec-lite.c) and with the codec tests.  Not for other modules.
 *
 * Both decoders walk the message and hand every element and attribute to
 * the functions below, so that names are checked against one allow-list
 * and values are parsed by one piece of code.  They record what they saw
 * in LatchMsg.seen; latch_msg_check() then checks presence by kind. */
#ifndef LATCH_PROTO_MSG_PRIVATE_H
#define LATCH_PROTO_MSG_PRIVATE_H

#include <glib.h>

#include "proto/msg.h"

G_BEGIN_DECLS

/* Body elements, in canonical order. */
typedef enum
{
  LATCH_ELEM_SESSION,
  LATCH_ELEM_RESOURCE,
  LATCH_ELEM_ANSWER,
  LATCH_ELEM_SHUTDOWN,
  LATCH_ELEM_NETWORK,
  LATCH_ELEM_STATUS,
  LATCH_ELEM_LINE,   /* the only element that may repeat */
  LATCH_ELEM_COUNT,
} LatchElem;

/* Bits of LatchMsg.seen. */
#define LATCH_SEEN_SESSION   (1u << 0)
#define LATCH_SEEN_RESOURCE  (1u << 1)
#define LATCH_SEEN_ANSWER    (1u << 2)
#define LATCH_SEEN_SHUTDOWN  (1u << 3)
#define LATCH_SEEN_NETWORK   (1u << 4)
#define LATCH_SEEN_STATUS    (1u << 5)
#define LATCH_SEEN_LINE      (1u << 6)
#define LATCH_SEEN_PEERID    (1u << 8)
#define LATCH_SEEN_NAME      (1u << 9)
#define LATCH_SEEN_MODE      (1u << 10)
#define LATCH_SEEN_WAIT      (1u << 11)
#define LATCH_SEEN_QUANTITY  (1u << 12)
#define LATCH_SEEN_CREATE    (1u << 13)
#define LATCH_SEEN_LIFESPAN  (1u << 14)
#define LATCH_SEEN_ROLLBACK  (1u << 15)
#define LATCH_SEEN_RC        (1u << 16)
#define LATCH_SEEN_ELEMENT   (1u << 17)
#define LATCH_SEEN_FENCE     (1u << 18)
#define LATCH_SEEN_IMMEDIATE (1u << 19)
#define LATCH_SEEN_ADDRESS   (1u << 20)
#define LATCH_SEEN_PORT      (1u << 21)
/* The session extension (latch only, doc/protocol.md).  `id` has a bit
 * per element, so that an error names the element it is on. */
#define LATCH_SEEN_EXT         (1u << 22)
#define LATCH_SEEN_TIMEOUT     (1u << 23)
#define LATCH_SEEN_RESOURCE_ID (1u << 24)
#define LATCH_SEEN_ANSWER_ID   (1u << 25)
#define LATCH_SEEN_REASON      (1u << 26)
#define LATCH_SEEN_LEVEL     (1u << 28)
#define LATCH_SEEN_VERB      (1u << 29)
#define LATCH_SEEN_STEP      (1u << 30)
/* Status (latch only, verb 6). */
#define LATCH_SEEN_STATUS_WHAT     (G_GUINT64_CONSTANT (1) << 32)
#define LATCH_SEEN_STATUS_RESOURCE (G_GUINT64_CONSTANT (1) << 33)
#define LATCH_SEEN_STATUS_PORT     (G_GUINT64_CONSTANT (1) << 34)
#define LATCH_SEEN_STATUS_ID       (G_GUINT64_CONSTANT (1) << 35)
#define LATCH_SEEN_LINE_TEXT       (G_GUINT64_CONSTANT (1) << 36)

/* An empty message for a decoder to fill: nothing seen yet. */
LatchMsg *latch_msg_new_decoding (void);

/* An attribute of <msg>: level, verb or step.  A level other than
 * LATCH_PROTO_LEVEL is LATCH_PROTO_ERROR_LEVEL. */
gboolean latch_msg_set_header (LatchMsg *msg, const char *attr,
                               const char *value, GError **error);

/* A body element starts: name must be an allowed element not seen before
 * in this message (<line> may repeat: each one adds a line to fill). */
gboolean latch_msg_begin_element (LatchMsg *msg, const char *name,
                                  LatchElem *elem_out, GError **error);

/* An attribute of a body element: parses value into msg.  On success
 * *index_out (may be NULL) is the attribute's rank in the canonical
 * order of its element. */
gboolean latch_msg_set_attr (LatchMsg *msg, LatchElem elem, const char *attr,
                             const char *value, int *index_out,
                             GError **error);

/* At most 40 bytes of s (len bytes, or NUL-terminated when len < 0),
 * escaped so that it prints on one line in an error message.
 * (transfer full) */
char *latch_msg_printable (const char *s, gssize len);

/* The checks both decoders start with: not empty, not over
 * LATCH_MSG_MAX_SIZE. */
gboolean latch_msg_check_length (gsize len, GError **error);

/* Whether a and b have the same contents, field by field (tests). */
gboolean latch_msg_equal (const LatchMsg *a, const LatchMsg *b);

G_END_DECLS

#endif
