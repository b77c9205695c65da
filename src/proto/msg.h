/* msg.h: protocol messages (FLoM level 3, see doc/protocol.md).
 *
 * Pure code: no file descriptors, no main loop, no globals.
 *
 * A message on the wire is one XML document
 *   <?xml version="1.0" encoding="UTF-8" ?><msg level="3" verb="V" step="S">BODY</msg>
 * with no whitespace between tags.  Its end is the first "</msg>".
 *
 * Two decoders fill a LatchMsg and then apply the same latch_msg_check():
 *  - latch_codec_xml_decode() (codec-xml.c, libxml2): any well-formed
 *    document of the allowed elements and attributes.
 *  - latch_codec_lite_decode() (codec-lite.c, no libxml2): only the
 *    canonical form that latch_msg_encode() and FLoM write.  The client
 *    uses it, because loading libxml2 would cost the `latch` command
 *    1.3 ms at every start (doc/ARCHITECTURE.md).
 * Whatever the lite decoder accepts, the libxml2 decoder accepts with the
 * same result (tests/unit/test-codec.c checks it; so does the fuzz target).
 * The daemon decodes what peers send with latch_codec_decode() (codec.c):
 * the lite decoder first, libxml2 for what it refuses, so that its result
 * is always the libxml2 decoder's, at a fraction of the cost for the
 * canonical form every latch and FLoM peer sends.
 */
#ifndef LATCH_PROTO_MSG_H
#define LATCH_PROTO_MSG_H

#include <glib.h>

#include "latch.h"

G_BEGIN_DECLS

/* Protocol level: 3 = FLoM 1.7's.  History:
 *   3  FLoM 1.7 messages; latch adds the optional `fence` attribute on
 *      <answer> and the management answer 5/16, both ignored by FLoM.
 *   3  The session extension, level 1 (issue 14): `ext` and `timeout` on
 *      the <session> of a lock request (`ext` also on that of a first
 *      answer), `id` on <resource> and <answer>, `reason` on <answer>.
 *      FLoM ignores them; a latch peer sends them only on a connection
 *      whose first answer said ext="1" (the first request's offer aside),
 *      so the wire level stays 3.  Pings 3/8 and 3/16 are used there.
 *   3  Status (issue 16): verb 6, request 6/8 <status what [resource]
 *      [port] [id]/>, answers 6/24 (one or more <line text/>) and a
 *      final 6/32 <answer rc [reason]/>.  The request carries
 *      <session peerid/> first where the mutual level needs the asker's
 *      machine ID (as a lock request does).  A latch client sends it only
 *      on a connection of its own, as the first request; FLoM does not
 *      know verb 6 and closes the connection, so the level stays 3. */
#define LATCH_PROTO_LEVEL 3

/* Largest message accepted, XML declaration included.  FLoM's daemon
 * takes 511 bytes; latch takes this much on both sides. */
#define LATCH_MSG_MAX_SIZE 8192

/* Longest resource name, in bytes (before base64). */
#define LATCH_NAME_MAX 2048

/* Longest peerid, element or address string. */
#define LATCH_STRING_MAX 1024

/* The session extension: the highest level a <session ext=""> may name,
 * the longest keepalive timeout a lock request may offer (ms), and the
 * largest lock id (ids are positive int64 values). */
#define LATCH_EXT_MAX 1000
/* The extension level this latch speaks and offers. */
#define LATCH_EXT_LEVEL 1
#define LATCH_TIMEOUT_MAX 600000
#define LATCH_ID_MAX ((guint64) G_MAXINT64)

#define LATCH_MSG_END "</msg>"

typedef enum
{
  LATCH_VERB_LOCK = 1,
  LATCH_VERB_UNLOCK = 2,
  LATCH_VERB_PING = 3,
  LATCH_VERB_DISCOVER = 4,
  LATCH_VERB_MNGMNT = 5,
  LATCH_VERB_STATUS = 6,      /* latch only: who holds what */
} LatchVerb;

/* Steps are multiples of 8: 8 request, 16 first answer, 24 later answers,
 * 32 final answer (accepted, never sent). */
#define LATCH_STEP_REQUEST 8
#define LATCH_STEP_FIRST_ANSWER 16
#define LATCH_STEP_LATER_ANSWER 24
#define LATCH_STEP_FINAL_ANSWER 32

/* What a message is, derived from verb and step by latch_msg_check(). */
typedef enum
{
  LATCH_MSG_INVALID = 0,
  LATCH_MSG_LOCK_REQUEST,     /* 1/8:  <session/><resource/> */
  LATCH_MSG_LOCK_ANSWER,      /* 1/16: <session/><answer/>;  1/24, 1/32: <answer/> */
  LATCH_MSG_UNLOCK,           /* 2/8:  <resource name rollback [id]/> */
  LATCH_MSG_PING,             /* 3/8, 3/16: empty body (sessions only) */
  LATCH_MSG_DISCOVER,         /* 4/8:  empty body */
  LATCH_MSG_DISCOVER_ANSWER,  /* 4/16: <network address port/> */
  LATCH_MSG_SHUTDOWN,         /* 5/8:  <session/><shutdown immediate/> */
  LATCH_MSG_SHUTDOWN_ANSWER,  /* 5/16: <answer rc/> (latch only) */
  LATCH_MSG_STATUS_REQUEST,   /* 6/8:  [<session peerid/>]<status what [resource] [port] [id]/> */
  LATCH_MSG_STATUS_LINES,     /* 6/24: <line text/>, one or more */
  LATCH_MSG_STATUS_END,       /* 6/32: <answer rc [reason]/> */
} LatchMsgKind;

/* The rc of a final status answer 6/32. */
typedef enum
{
  LATCH_STATUS_RC_OK = 0,      /* the lines sent are the answer */
  LATCH_STATUS_RC_NOTHING = 1, /* wait/holder: nothing to say */
  LATCH_STATUS_RC_REFUSED = 2, /* refused or failed; reason says why */
} LatchStatusRc;

typedef struct
{
  LatchMsgKind kind;
  int verb;
  int step;

  /* <session peerid=""/>: NULL when the message has no <session>. */
  char *peerid;
  /* <session ext="" timeout="">, the session extension (lock request 1/8;
   * ext also first answer 1/16): the highest extension level the sender
   * speaks, 1..LATCH_EXT_MAX, 0 when absent; the keepalive timeout the
   * client offers in ms, 0..LATCH_TIMEOUT_MAX, 0 when absent or none. */
  int ext;
  int timeout;

  /* <resource>: lock request and unlock (and <status resource=""> of a
   * status request, base64 as here). name is the base64-decoded
   * resource name: 1..LATCH_NAME_MAX bytes, no NUL byte.  Its grammar is
   * checked by the locker, not here. */
  char *name;
  gboolean has_mode;
  int mode;              /* 0..5, LatchLockMode */
  gboolean wait;
  gboolean has_quantity;
  int quantity;
  gboolean create;
  int lifespan;          /* ms, >= 0 */
  gboolean rollback;     /* unlock only */

  /* <resource id=""> (lock request 1/8, unlock 2/8) or <answer id="">
   * (lock answers 1/16, 1/24, 1/32): the client's lock id in a session,
   * 1..LATCH_ID_MAX, 0 when absent.  Also <status id=""> (6/8). */
  guint64 id;

  /* <answer>: lock answers and the shutdown answer. */
  int rc;                /* LatchRc */
  char *element;         /* NULL when absent */
  gboolean has_fence;
  guint64 fence;
  /* <answer reason="">, lock answers 1/16 and 1/24 and the final status
   * answer 6/32 only: why a request was refused or a lock lost, one line
   * of text; NULL when absent. */
  char *reason;

  /* <shutdown> */
  gboolean immediate;

  /* <network> */
  char *address;         /* may be "" */
  int port;              /* 0..65535; <status port="">: 1..65535, 0 absent */

  /* <status what="" resource="" port="" id=""> (status request 6/8):
   * what is required ("text", "json", "names", "metrics", "wait",
   * "holder": the codec takes any string, the daemon refuses what it does
   * not know); resource is `name`, port and id are the fields above. */
  char *status_what;
  /* <line text=""/>, one per element, in order (status lines 6/24): the
   * lines of the answer, each without newline or control character, at
   * most LATCH_STRING_MAX bytes; NULL when the message has none.
   * (element-type utf8, each non-NULL once checked) */
  GPtrArray *lines;

  /* Private to proto/: which elements and attributes the message has
   * (LATCH_SEEN_* bits, msg-private.h).  The decoders record them;
   * latch_msg_new() sets those its kind needs that no field shows. */
  guint64 seen;
} LatchMsg;

LatchMsg *latch_msg_new (LatchMsgKind kind, int step);
void latch_msg_free (LatchMsg *msg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LatchMsg, latch_msg_free)

/* Sets msg->kind from verb and step, and checks that the elements and
 * values the kind needs are present and in range (see the table in
 * doc/protocol.md).  Used by both decoders. */
gboolean latch_msg_check (LatchMsg *msg, GError **error);

/* Appends the canonical encoding of msg to out.  The attribute order is
 * FLoM's, the session extension's after it: <session peerid [ext]
 * [timeout]/>; lock request <resource name [mode] wait [quantity] create
 * lifespan [id]/>; unlock <resource name rollback [id] /> (FLoM writes a
 * space before "/>" there); answer rc [element] [fence] [id] [reason].
 * The extension's attributes are written only when non-zero (non-NULL),
 * so that a message without them is byte for byte FLoM's.  Attribute
 * values are XML-escaped (& < > " '), which leaves FLoM's values as FLoM
 * writes them.  msg must be valid for its kind (a programming error
 * otherwise). */
void latch_msg_encode (const LatchMsg *msg, GString *out);

/* Adds a line to a status lines message (6/24), made fit to travel:
 * invalid UTF-8 and control characters become '?', and a line over
 * LATCH_STRING_MAX bytes is cut, "..." marking the cut. */
void latch_msg_add_line (LatchMsg *msg, const char *text);

/* Decoders: buf holds exactly one message (as cut by the framer), len
 * bytes, not NUL-terminated.  On success *msg_out is set (transfer full);
 * on failure it is untouched and error says what is wrong in one line. */
gboolean latch_codec_xml_decode (const char *buf, gsize len,
                                 LatchMsg **msg_out, GError **error);
gboolean latch_codec_lite_decode (const char *buf, gsize len,
                                  LatchMsg **msg_out, GError **error);

/* The daemon's decoder: the same result as latch_codec_xml_decode(), the
 * same message or the same error, for any input. */
gboolean latch_codec_decode (const char *buf, gsize len, LatchMsg **msg_out,
                             GError **error);

G_END_DECLS

#endif
