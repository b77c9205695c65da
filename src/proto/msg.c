/* msg.c: protocol messages: construction, checks, canonical encoding, and
 * the element/attribute handling both decoders share. */
#include "config.h"

#include "proto/msg.h"
#include "proto/msg-private.h"

#include "common/error.h"

#include <limits.h>
#include <string.h>

#define SEEN_HEADER (LATCH_SEEN_LEVEL | LATCH_SEEN_VERB | LATCH_SEEN_STEP)

/* Seen bits that a field of LatchMsg shows by itself (a non-NULL string,
 * a has_ flag); the other ones only LatchMsg.seen records. */
#define SEEN_SHOWN_BY_FIELDS \
  (LATCH_SEEN_SESSION | LATCH_SEEN_PEERID | LATCH_SEEN_NAME \
   | LATCH_SEEN_MODE | LATCH_SEEN_QUANTITY | LATCH_SEEN_ELEMENT \
   | LATCH_SEEN_FENCE | LATCH_SEEN_ADDRESS | LATCH_SEEN_EXT \
   | LATCH_SEEN_RESOURCE_ID | LATCH_SEEN_ANSWER_ID | LATCH_SEEN_REASON \
   | LATCH_SEEN_LINE | LATCH_SEEN_LINE_TEXT | LATCH_SEEN_STATUS_WHAT \
   | LATCH_SEEN_STATUS_RESOURCE | LATCH_SEEN_STATUS_PORT \
   | LATCH_SEEN_STATUS_ID)

/* timeout="0" means what no timeout attribute means (no keepalive): the
 * encoder writes neither, so messages are compared by the field alone.
 * Its bit still makes the attribute an error where it does not belong. */
#define SEEN_ZERO_MEANS_ABSENT LATCH_SEEN_TIMEOUT

typedef enum
{
  VALUE_STRING,  /* peerid, element, address, reason, what, text */
  VALUE_NAME,    /* base64 resource name */
  VALUE_INT,     /* any int */
  VALUE_BOOL,    /* "0" or "1" */
  VALUE_NONZERO, /* any int, non-zero = TRUE (FLoM's `immediate`) */
  VALUE_UINT64,
} ValueType;

typedef struct
{
  LatchElem elem;
  const char *name;
  ValueType type;
  guint64 bit;
} AttrDesc;

static const char *const elem_names[LATCH_ELEM_COUNT] = {
  [LATCH_ELEM_SESSION] = "session",
  [LATCH_ELEM_RESOURCE] = "resource",
  [LATCH_ELEM_ANSWER] = "answer",
  [LATCH_ELEM_SHUTDOWN] = "shutdown",
  [LATCH_ELEM_NETWORK] = "network",
  [LATCH_ELEM_STATUS] = "status",
  [LATCH_ELEM_LINE] = "line",
};

/* The allow-list, each element's attributes in canonical order. */
static const AttrDesc attr_descs[] = {
  { LATCH_ELEM_SESSION, "peerid", VALUE_STRING, LATCH_SEEN_PEERID },
  { LATCH_ELEM_SESSION, "ext", VALUE_INT, LATCH_SEEN_EXT },
  { LATCH_ELEM_SESSION, "timeout", VALUE_INT, LATCH_SEEN_TIMEOUT },
  { LATCH_ELEM_RESOURCE, "name", VALUE_NAME, LATCH_SEEN_NAME },
  { LATCH_ELEM_RESOURCE, "mode", VALUE_INT, LATCH_SEEN_MODE },
  { LATCH_ELEM_RESOURCE, "wait", VALUE_BOOL, LATCH_SEEN_WAIT },
  { LATCH_ELEM_RESOURCE, "quantity", VALUE_INT, LATCH_SEEN_QUANTITY },
  { LATCH_ELEM_RESOURCE, "create", VALUE_BOOL, LATCH_SEEN_CREATE },
  { LATCH_ELEM_RESOURCE, "lifespan", VALUE_INT, LATCH_SEEN_LIFESPAN },
  { LATCH_ELEM_RESOURCE, "rollback", VALUE_BOOL, LATCH_SEEN_ROLLBACK },
  /* After both lifespan (lock request) and rollback (unlock). */
  { LATCH_ELEM_RESOURCE, "id", VALUE_UINT64, LATCH_SEEN_RESOURCE_ID },
  { LATCH_ELEM_ANSWER, "rc", VALUE_INT, LATCH_SEEN_RC },
  { LATCH_ELEM_ANSWER, "element", VALUE_STRING, LATCH_SEEN_ELEMENT },
  { LATCH_ELEM_ANSWER, "fence", VALUE_UINT64, LATCH_SEEN_FENCE },
  { LATCH_ELEM_ANSWER, "id", VALUE_UINT64, LATCH_SEEN_ANSWER_ID },
  { LATCH_ELEM_ANSWER, "reason", VALUE_STRING, LATCH_SEEN_REASON },
  { LATCH_ELEM_SHUTDOWN, "immediate", VALUE_NONZERO, LATCH_SEEN_IMMEDIATE },
  { LATCH_ELEM_NETWORK, "address", VALUE_STRING, LATCH_SEEN_ADDRESS },
  { LATCH_ELEM_NETWORK, "port", VALUE_INT, LATCH_SEEN_PORT },
  { LATCH_ELEM_STATUS, "what", VALUE_STRING, LATCH_SEEN_STATUS_WHAT },
  { LATCH_ELEM_STATUS, "resource", VALUE_NAME, LATCH_SEEN_STATUS_RESOURCE },
  { LATCH_ELEM_STATUS, "port", VALUE_INT, LATCH_SEEN_STATUS_PORT },
  { LATCH_ELEM_STATUS, "id", VALUE_UINT64, LATCH_SEEN_STATUS_ID },
  { LATCH_ELEM_LINE, "text", VALUE_STRING, LATCH_SEEN_LINE_TEXT },
};

static const char *const header_names[] = { "level", "verb", "step" };
static const guint64 header_bits[] = { LATCH_SEEN_LEVEL, LATCH_SEEN_VERB,
                                       LATCH_SEEN_STEP };

static const char *
kind_description (LatchMsgKind kind)
{
  switch (kind)
    {
    case LATCH_MSG_LOCK_REQUEST:
      return "lock request";
    case LATCH_MSG_LOCK_ANSWER:
      return "lock answer";
    case LATCH_MSG_UNLOCK:
      return "unlock message";
    case LATCH_MSG_PING:
      return "ping";
    case LATCH_MSG_DISCOVER:
      return "discovery query";
    case LATCH_MSG_DISCOVER_ANSWER:
      return "discovery answer";
    case LATCH_MSG_SHUTDOWN:
      return "shutdown request";
    case LATCH_MSG_SHUTDOWN_ANSWER:
      return "shutdown answer";
    case LATCH_MSG_STATUS_REQUEST:
      return "status request";
    case LATCH_MSG_STATUS_LINES:
      return "status lines";
    case LATCH_MSG_STATUS_END:
      return "status end";
    case LATCH_MSG_INVALID:
    default:
      return "invalid message";
    }
}

static int
kind_verb (LatchMsgKind kind)
{
  switch (kind)
    {
    case LATCH_MSG_LOCK_REQUEST:
    case LATCH_MSG_LOCK_ANSWER:
      return LATCH_VERB_LOCK;
    case LATCH_MSG_UNLOCK:
      return LATCH_VERB_UNLOCK;
    case LATCH_MSG_PING:
      return LATCH_VERB_PING;
    case LATCH_MSG_DISCOVER:
    case LATCH_MSG_DISCOVER_ANSWER:
      return LATCH_VERB_DISCOVER;
    case LATCH_MSG_SHUTDOWN:
    case LATCH_MSG_SHUTDOWN_ANSWER:
      return LATCH_VERB_MNGMNT;
    case LATCH_MSG_STATUS_REQUEST:
    case LATCH_MSG_STATUS_LINES:
    case LATCH_MSG_STATUS_END:
      return LATCH_VERB_STATUS;
    case LATCH_MSG_INVALID:
    default:
      return 0;
    }
}

static LatchMsgKind
kind_from_verb_step (int verb, int step)
{
  switch (verb)
    {
    case LATCH_VERB_LOCK:
      if (step == LATCH_STEP_REQUEST)
        return LATCH_MSG_LOCK_REQUEST;
      if (step == LATCH_STEP_FIRST_ANSWER || step == LATCH_STEP_LATER_ANSWER
          || step == LATCH_STEP_FINAL_ANSWER)
        return LATCH_MSG_LOCK_ANSWER;
      break;
    case LATCH_VERB_UNLOCK:
      if (step == LATCH_STEP_REQUEST)
        return LATCH_MSG_UNLOCK;
      break;
    case LATCH_VERB_PING:
      if (step == LATCH_STEP_REQUEST || step == LATCH_STEP_FIRST_ANSWER)
        return LATCH_MSG_PING;
      break;
    case LATCH_VERB_DISCOVER:
      if (step == LATCH_STEP_REQUEST)
        return LATCH_MSG_DISCOVER;
      if (step == LATCH_STEP_FIRST_ANSWER)
        return LATCH_MSG_DISCOVER_ANSWER;
      break;
    case LATCH_VERB_MNGMNT:
      if (step == LATCH_STEP_REQUEST)
        return LATCH_MSG_SHUTDOWN;
      if (step == LATCH_STEP_FIRST_ANSWER)
        return LATCH_MSG_SHUTDOWN_ANSWER;
      break;
    case LATCH_VERB_STATUS:
      if (step == LATCH_STEP_REQUEST)
        return LATCH_MSG_STATUS_REQUEST;
      if (step == LATCH_STEP_LATER_ANSWER)
        return LATCH_MSG_STATUS_LINES;
      if (step == LATCH_STEP_FINAL_ANSWER)
        return LATCH_MSG_STATUS_END;
      break;
    default:
      break;
    }
  return LATCH_MSG_INVALID;
}

/* The elements and attributes a kind must have, and those it may have. */
static void
kind_masks (LatchMsgKind kind, int step, guint64 *required,
            guint64 *allowed)
{
  guint64 req = 0;
  guint64 opt = 0;

  switch (kind)
    {
    case LATCH_MSG_LOCK_REQUEST:
      req = LATCH_SEEN_SESSION | LATCH_SEEN_PEERID | LATCH_SEEN_RESOURCE
            | LATCH_SEEN_NAME | LATCH_SEEN_WAIT | LATCH_SEEN_CREATE
            | LATCH_SEEN_LIFESPAN;
      opt = LATCH_SEEN_MODE | LATCH_SEEN_QUANTITY | LATCH_SEEN_EXT
            | LATCH_SEEN_TIMEOUT | LATCH_SEEN_RESOURCE_ID;
      break;
    case LATCH_MSG_LOCK_ANSWER:
      req = LATCH_SEEN_ANSWER | LATCH_SEEN_RC;
      opt = LATCH_SEEN_ELEMENT | LATCH_SEEN_FENCE | LATCH_SEEN_ANSWER_ID;
      if (step == LATCH_STEP_FIRST_ANSWER)
        {
          req |= LATCH_SEEN_SESSION | LATCH_SEEN_PEERID;
          opt |= LATCH_SEEN_EXT;
        }
      /* A final answer 1/32 is FLoM's and never comes from a latch peer,
       * which is the only one that gives reasons. */
      if (step != LATCH_STEP_FINAL_ANSWER)
        opt |= LATCH_SEEN_REASON;
      break;
    case LATCH_MSG_UNLOCK:
      req = LATCH_SEEN_RESOURCE | LATCH_SEEN_NAME | LATCH_SEEN_ROLLBACK;
      opt = LATCH_SEEN_RESOURCE_ID;
      break;
    case LATCH_MSG_DISCOVER_ANSWER:
      req = LATCH_SEEN_NETWORK | LATCH_SEEN_ADDRESS | LATCH_SEEN_PORT;
      break;
    case LATCH_MSG_SHUTDOWN:
      req = LATCH_SEEN_SESSION | LATCH_SEEN_PEERID | LATCH_SEEN_SHUTDOWN
            | LATCH_SEEN_IMMEDIATE;
      break;
    case LATCH_MSG_SHUTDOWN_ANSWER:
      req = LATCH_SEEN_ANSWER | LATCH_SEEN_RC;
      /* latch: the daemon's ID, for mutual authentication */
      opt = LATCH_SEEN_SESSION | LATCH_SEEN_PEERID;
      break;
    case LATCH_MSG_STATUS_REQUEST:
      req = LATCH_SEEN_STATUS | LATCH_SEEN_STATUS_WHAT;
      /* <session peerid/>: the asker's machine ID, which the mutual
       * level checks against its certificate as for any request. */
      opt = LATCH_SEEN_STATUS_RESOURCE | LATCH_SEEN_STATUS_PORT
            | LATCH_SEEN_STATUS_ID | LATCH_SEEN_SESSION | LATCH_SEEN_PEERID;
      break;
    case LATCH_MSG_STATUS_LINES:
      req = LATCH_SEEN_LINE | LATCH_SEEN_LINE_TEXT;
      break;
    case LATCH_MSG_STATUS_END:
      req = LATCH_SEEN_ANSWER | LATCH_SEEN_RC;
      opt = LATCH_SEEN_REASON;
      break;
    case LATCH_MSG_PING:
    case LATCH_MSG_DISCOVER:
    case LATCH_MSG_INVALID:
    default:
      break;
    }
  *required = req | SEEN_HEADER;
  *allowed = req | opt | SEEN_HEADER;
}

/* The allow-list entry of an attribute bit; NULL for other bits. */
static const AttrDesc *
attr_desc_for_bit (guint64 bit)
{
  for (gsize i = 0; i < G_N_ELEMENTS (attr_descs); i++)
    if (attr_descs[i].bit == bit)
      return &attr_descs[i];
  return NULL;
}

static guint64
elem_bit (LatchElem elem)
{
  return 1u << elem;
}

/* What the fields show.  kind says where a non-zero id is: on <resource>
 * in a lock request or an unlock, on <answer> in any other kind (where
 * it is an error unless the kind is a lock answer). */
static guint64
seen_in_fields (const LatchMsg *msg, LatchMsgKind kind)
{
  guint64 seen = 0;

  if (msg->peerid != NULL)
    seen |= LATCH_SEEN_SESSION | LATCH_SEEN_PEERID;
  if (msg->ext != 0)
    seen |= LATCH_SEEN_SESSION | LATCH_SEEN_EXT;
  if (msg->timeout != 0)
    seen |= LATCH_SEEN_SESSION | LATCH_SEEN_TIMEOUT;
  if (msg->id != 0)
    {
      if (kind == LATCH_MSG_LOCK_REQUEST || kind == LATCH_MSG_UNLOCK)
        seen |= LATCH_SEEN_RESOURCE | LATCH_SEEN_RESOURCE_ID;
      else if (kind == LATCH_MSG_STATUS_REQUEST)
        seen |= LATCH_SEEN_STATUS | LATCH_SEEN_STATUS_ID;
      else
        seen |= LATCH_SEEN_ANSWER | LATCH_SEEN_ANSWER_ID;
    }
  if (msg->reason != NULL)
    seen |= LATCH_SEEN_ANSWER | LATCH_SEEN_REASON;
  if (msg->name != NULL)
    seen |= kind == LATCH_MSG_STATUS_REQUEST
                ? LATCH_SEEN_STATUS | LATCH_SEEN_STATUS_RESOURCE
                : LATCH_SEEN_RESOURCE | LATCH_SEEN_NAME;
  if (msg->status_what != NULL)
    seen |= LATCH_SEEN_STATUS | LATCH_SEEN_STATUS_WHAT;
  /* The status port is never 0 (port="0" is refused), so the field shows
   * it; the discovery answer's port may be 0 and has its bit in seen. */
  if (kind == LATCH_MSG_STATUS_REQUEST && msg->port != 0)
    seen |= LATCH_SEEN_STATUS | LATCH_SEEN_STATUS_PORT;
  if (msg->lines != NULL && msg->lines->len > 0)
    {
      seen |= LATCH_SEEN_LINE;
      for (guint i = 0; i < msg->lines->len; i++)
        if (g_ptr_array_index (msg->lines, i) != NULL)
          seen |= LATCH_SEEN_LINE_TEXT;
    }
  if (msg->has_mode)
    seen |= LATCH_SEEN_RESOURCE | LATCH_SEEN_MODE;
  if (msg->has_quantity)
    seen |= LATCH_SEEN_RESOURCE | LATCH_SEEN_QUANTITY;
  if (msg->element != NULL)
    seen |= LATCH_SEEN_ANSWER | LATCH_SEEN_ELEMENT;
  if (msg->has_fence)
    seen |= LATCH_SEEN_ANSWER | LATCH_SEEN_FENCE;
  if (msg->address != NULL)
    seen |= LATCH_SEEN_NETWORK | LATCH_SEEN_ADDRESS;
  return seen;
}

LatchMsg *
latch_msg_new (LatchMsgKind kind, int step)
{
  LatchMsg *msg = g_new0 (LatchMsg, 1);
  guint64 required;
  guint64 allowed;

  msg->kind = kind;
  msg->verb = kind_verb (kind);
  msg->step = step;
  kind_masks (kind, step, &required, &allowed);
  msg->seen = required & ~SEEN_SHOWN_BY_FIELDS;
  return msg;
}

LatchMsg *
latch_msg_new_decoding (void)
{
  return g_new0 (LatchMsg, 1);
}

void
latch_msg_free (LatchMsg *msg)
{
  if (msg == NULL)
    return;
  g_free (msg->peerid);
  g_free (msg->name);
  g_free (msg->element);
  g_free (msg->reason);
  g_free (msg->address);
  g_free (msg->status_what);
  g_clear_pointer (&msg->lines, g_ptr_array_unref);
  g_free (msg);
}

char *
latch_msg_printable (const char *s, gssize len)
{
  gsize n = len < 0 ? strlen (s) : (gsize) len;
  g_autofree char *cut = g_strndup (s, MIN (n, 40));
  char *escaped = g_strescape (cut, NULL);

  if (n > 40)
    {
      char *longer = g_strconcat (escaped, "...", NULL);
      g_free (escaped);
      escaped = longer;
    }
  return escaped;
}

/* Strict decimal: optional '-', then one or more digits, nothing else
 * (no '+', no spaces).  The value must lie in min..max, which must lie
 * within int64 and not be wider than about 2^62. */
static gboolean
parse_int64 (const char *s, gint64 min, gint64 max, gint64 *out)
{
  gboolean negative = FALSE;
  const guint64 cap = G_MAXINT64 / 4;
  guint64 v = 0;
  gint64 result;

  if (*s == '-')
    {
      negative = TRUE;
      s++;
    }
  if (*s == '\0')
    return FALSE;
  for (; *s != '\0'; s++)
    {
      if (*s < '0' || *s > '9')
        return FALSE;
      v = v * 10 + (guint64) (*s - '0');
      if (v > cap)
        return FALSE;
    }
  result = negative ? -(gint64) v : (gint64) v;
  if (result < min || result > max)
    return FALSE;
  *out = result;
  return TRUE;
}

static gboolean
parse_uint64 (const char *s, guint64 *out)
{
  guint64 v = 0;

  if (*s == '\0')
    return FALSE;
  for (; *s != '\0'; s++)
    {
      if (*s < '0' || *s > '9')
        return FALSE;
      if (v > (G_MAXUINT64 - (guint64) (*s - '0')) / 10)
        return FALSE;
      v = v * 10 + (guint64) (*s - '0');
    }
  *out = v;
  return TRUE;
}

static int
base64_value (char c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

/* Strict base64 (RFC 4648 §4): standard alphabet, length a multiple of 4,
 * '=' padding only at the end, unused bits zero, so that each byte string
 * has exactly one encoding.  Returns the bytes NUL-terminated, or NULL. */
static char *
decode_base64_strict (const char *s, gsize *len_out)
{
  gsize n = strlen (s);
  g_autofree char *out = NULL;
  gsize o = 0;

  if (n == 0 || n % 4 != 0)
    return NULL;
  out = g_malloc (n / 4 * 3 + 1);
  for (gsize i = 0; i < n; i += 4)
    {
      gboolean last = i + 4 == n;
      int v[4];
      int pad = 0;

      for (int k = 0; k < 4; k++)
        {
          if (last && k >= 2 && s[i + k] == '=')
            {
              /* "x=" as the last pair is invalid: "xx=y" is. */
              if (k == 2 && s[i + 3] != '=')
                return NULL;
              v[k] = 0;
              pad++;
              continue;
            }
          v[k] = base64_value (s[i + k]);
          if (v[k] < 0)
            return NULL;
        }
      out[o++] = (char) ((v[0] << 2) | (v[1] >> 4));
      if (pad == 2)
        {
          if ((v[1] & 0x0f) != 0)
            return NULL;
          break;
        }
      out[o++] = (char) (((v[1] & 0x0f) << 4) | (v[2] >> 2));
      if (pad == 1)
        {
          if ((v[2] & 0x03) != 0)
            return NULL;
          break;
        }
      out[o++] = (char) (((v[2] & 0x03) << 6) | v[3]);
    }
  out[o] = '\0';
  *len_out = o;
  return g_steal_pointer (&out);
}

/* A string attribute must be text XML can carry as it is: UTF-8, XML 1.0
 * characters, and no control characters (an XML parser would turn tabs
 * and newlines in an attribute into spaces, so they would not survive a
 * round trip). */
static gboolean
string_is_valid (const char *s)
{
  if (!g_utf8_validate (s, -1, NULL))
    return FALSE;
  for (const char *p = s; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (c < 0x20 || c == 0xfffe || c == 0xffff)
        return FALSE;
    }
  return TRUE;
}

gboolean
latch_msg_set_header (LatchMsg *msg, const char *attr, const char *value,
                      GError **error)
{
  gint64 v;

  for (gsize i = 0; i < G_N_ELEMENTS (header_names); i++)
    {
      if (strcmp (attr, header_names[i]) != 0)
        continue;
      if (msg->seen & header_bits[i])
        {
          g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED,
                       "duplicate attribute '%s' on <msg>", attr);
          return FALSE;
        }
      if (!parse_int64 (value, G_MININT, G_MAXINT, &v))
        {
          g_autofree char *shown = latch_msg_printable (value, -1);

          if (header_bits[i] == LATCH_SEEN_LEVEL)
            g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_LEVEL,
                         "message has level '%s'; latch speaks level %d",
                         shown, LATCH_PROTO_LEVEL);
          else
            g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_VALUE,
                         "attribute %s='%s' on <msg> is not a number", attr,
                         shown);
          return FALSE;
        }
      if (header_bits[i] == LATCH_SEEN_LEVEL && v != LATCH_PROTO_LEVEL)
        {
          g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_LEVEL,
                       "message has level %d; latch speaks level %d", (int) v,
                       LATCH_PROTO_LEVEL);
          return FALSE;
        }
      if (header_bits[i] == LATCH_SEEN_VERB)
        msg->verb = (int) v;
      else if (header_bits[i] == LATCH_SEEN_STEP)
        msg->step = (int) v;
      msg->seen |= header_bits[i];
      return TRUE;
    }

  g_autofree char *shown = latch_msg_printable (attr, -1);
  g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED,
               "unknown attribute '%s' on <msg>", shown);
  return FALSE;
}

gboolean
latch_msg_begin_element (LatchMsg *msg, const char *name,
                         LatchElem *elem_out, GError **error)
{
  for (int i = 0; i < LATCH_ELEM_COUNT; i++)
    {
      if (strcmp (name, elem_names[i]) != 0)
        continue;
      if (i == LATCH_ELEM_LINE)
        {
          /* A line to fill: latch_msg_set_attr() sets its text, and
           * latch_msg_check() refuses a line left without one. */
          if (msg->lines == NULL)
            msg->lines = g_ptr_array_new_with_free_func (g_free);
          g_ptr_array_add (msg->lines, NULL);
        }
      else if (msg->seen & elem_bit (i))
        {
          g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED,
                       "duplicate element <%s>", name);
          return FALSE;
        }
      msg->seen |= elem_bit (i);
      *elem_out = i;
      return TRUE;
    }

  g_autofree char *shown = latch_msg_printable (name, -1);
  g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED,
               "unknown element <%s>", shown);
  return FALSE;
}

static gboolean
bad_value (const AttrDesc *d, const char *value, const char *what,
           GError **error)
{
  g_autofree char *shown = latch_msg_printable (value, -1);

  g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_VALUE,
               "attribute %s='%s' on <%s> is not %s", d->name, shown,
               elem_names[d->elem], what);
  return FALSE;
}

gboolean
latch_msg_set_attr (LatchMsg *msg, LatchElem elem, const char *attr,
                    const char *value, int *index_out, GError **error)
{
  const AttrDesc *d = NULL;
  int index = 0;
  gint64 v = 0;
  guint64 u = 0;
  char *str = NULL;

  g_return_val_if_fail (elem < LATCH_ELEM_COUNT, FALSE);

  for (gsize i = 0; i < G_N_ELEMENTS (attr_descs); i++)
    {
      if (attr_descs[i].elem != elem)
        continue;
      if (strcmp (attr, attr_descs[i].name) == 0)
        {
          d = &attr_descs[i];
          break;
        }
      index++;
    }
  if (d == NULL)
    {
      g_autofree char *shown = latch_msg_printable (attr, -1);

      g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED,
                   "unknown attribute '%s' on <%s>", shown, elem_names[elem]);
      return FALSE;
    }
  /* <line> repeats: its text is a duplicate only on the same line. */
  if (d->bit == LATCH_SEEN_LINE_TEXT
          ? msg->lines == NULL || msg->lines->len == 0
                || g_ptr_array_index (msg->lines, msg->lines->len - 1) != NULL
          : (msg->seen & d->bit) != 0)
    {
      g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED,
                   "duplicate attribute '%s' on <%s>", attr, elem_names[elem]);
      return FALSE;
    }

  switch (d->type)
    {
    case VALUE_STRING:
      str = g_strdup (value);
      break;
    case VALUE_NAME:
      {
        gsize len = 0;

        str = decode_base64_strict (value, &len);
        if (str == NULL)
          return bad_value (d, value, "strict base64", error);
        if (memchr (str, '\0', len) != NULL)
          {
            g_free (str);
            return bad_value (d, value, "a name without NUL bytes", error);
          }
      }
      break;
    case VALUE_INT:
    case VALUE_NONZERO:
      if (!parse_int64 (value, G_MININT, G_MAXINT, &v))
        return bad_value (d, value, "a decimal int", error);
      break;
    case VALUE_BOOL:
      if (strcmp (value, "0") == 0)
        v = FALSE;
      else if (strcmp (value, "1") == 0)
        v = TRUE;
      else
        return bad_value (d, value, "0 or 1", error);
      break;
    case VALUE_UINT64:
      if (!parse_uint64 (value, &u))
        return bad_value (d, value, "an unsigned 64-bit number", error);
      break;
    default:
      g_assert_not_reached ();
    }

  switch (d->bit)
    {
    case LATCH_SEEN_PEERID:
      msg->peerid = str;
      break;
    case LATCH_SEEN_EXT:
      msg->ext = (int) v;
      break;
    case LATCH_SEEN_TIMEOUT:
      msg->timeout = (int) v;
      break;
    case LATCH_SEEN_RESOURCE_ID:
    case LATCH_SEEN_ANSWER_ID:
      msg->id = u;
      break;
    case LATCH_SEEN_REASON:
      msg->reason = str;
      break;
    case LATCH_SEEN_NAME:
      msg->name = str;
      break;
    case LATCH_SEEN_MODE:
      msg->has_mode = TRUE;
      msg->mode = (int) v;
      break;
    case LATCH_SEEN_WAIT:
      msg->wait = (gboolean) v;
      break;
    case LATCH_SEEN_QUANTITY:
      msg->has_quantity = TRUE;
      msg->quantity = (int) v;
      break;
    case LATCH_SEEN_CREATE:
      msg->create = (gboolean) v;
      break;
    case LATCH_SEEN_LIFESPAN:
      msg->lifespan = (int) v;
      break;
    case LATCH_SEEN_ROLLBACK:
      msg->rollback = (gboolean) v;
      break;
    case LATCH_SEEN_RC:
      msg->rc = (int) v;
      break;
    case LATCH_SEEN_ELEMENT:
      msg->element = str;
      break;
    case LATCH_SEEN_FENCE:
      msg->has_fence = TRUE;
      msg->fence = u;
      break;
    case LATCH_SEEN_IMMEDIATE:
      msg->immediate = v != 0;
      break;
    case LATCH_SEEN_ADDRESS:
      msg->address = str;
      break;
    case LATCH_SEEN_PORT:
    case LATCH_SEEN_STATUS_PORT:
      msg->port = (int) v;
      break;
    case LATCH_SEEN_STATUS_WHAT:
      msg->status_what = str;
      break;
    case LATCH_SEEN_STATUS_RESOURCE:
      msg->name = str;
      break;
    case LATCH_SEEN_STATUS_ID:
      msg->id = u;
      break;
    case LATCH_SEEN_LINE_TEXT:
      g_ptr_array_index (msg->lines, msg->lines->len - 1) = str;
      break;
    default:
      g_assert_not_reached ();
    }
  msg->seen |= d->bit;
  if (index_out != NULL)
    *index_out = index;
  return TRUE;
}

static gboolean
check_string (const char *attr, const char *elem,
              const char *s, GError **error)
{
  if (strlen (s) > LATCH_STRING_MAX)
    {
      g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_VALUE,
                   "attribute '%s' on <%s> is longer than %d bytes", attr,
                   elem, LATCH_STRING_MAX);
      return FALSE;
    }
  if (!string_is_valid (s))
    {
      g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_VALUE,
                   "attribute '%s' on <%s> has control characters or "
                   "invalid utf-8",
                   attr, elem);
      return FALSE;
    }
  return TRUE;
}

static gboolean
out_of_range (const char *attr, const char *elem, gint64 v, const char *range,
              GError **error)
{
  g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_VALUE,
               "attribute %s=%" G_GINT64_FORMAT " on <%s> is out of range %s",
               attr, v, elem, range);
  return FALSE;
}

static gboolean
is_bool (gboolean b)
{
  return b == FALSE || b == TRUE;
}

gboolean
latch_msg_check (LatchMsg *msg, GError **error)
{
  LatchMsgKind kind;
  const char *what;
  guint64 seen;
  guint64 required;
  guint64 allowed;
  guint64 missing;
  guint64 extra;

  g_return_val_if_fail (msg != NULL, FALSE);

  for (gsize i = 0; i < G_N_ELEMENTS (header_bits); i++)
    if (!(msg->seen & header_bits[i]))
      {
        g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED,
                     "<msg> lacks attribute '%s'", header_names[i]);
        return FALSE;
      }

  kind = kind_from_verb_step (msg->verb, msg->step);
  if (kind == LATCH_MSG_INVALID)
    {
      g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED,
                   "unknown message verb=%d step=%d", msg->verb, msg->step);
      return FALSE;
    }
  what = kind_description (kind);

  seen = msg->seen | seen_in_fields (msg, kind);
  kind_masks (kind, msg->step, &required, &allowed);

  /* Elements first: a missing element is reported as such, not as its
   * missing attributes. */
  missing = required & ~seen;
  for (int e = 0; e < LATCH_ELEM_COUNT; e++)
    if (missing & elem_bit (e))
      {
        g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED,
                     "%s %d/%d lacks <%s>", what, msg->verb, msg->step,
                     elem_names[e]);
        return FALSE;
      }
  extra = seen & ~allowed;
  for (int e = 0; e < LATCH_ELEM_COUNT; e++)
    if (extra & elem_bit (e))
      {
        g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED,
                     "<%s> does not belong in a %s %d/%d", elem_names[e],
                     what, msg->verb, msg->step);
        return FALSE;
      }
  for (guint64 bit = 1; bit != 0; bit <<= 1)
    {
      const AttrDesc *d;

      if (!((missing | extra) & bit))
        continue;
      d = attr_desc_for_bit (bit);
      g_assert (d != NULL);
      g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED,
                   (missing & bit) ? "<%s> lacks attribute '%s' in a %s"
                                   : "<%s> has attribute '%s', which does "
                                     "not belong in a %s",
                   elem_names[d->elem], d->name, what);
      return FALSE;
    }

  /* Values. */
  if (msg->peerid != NULL
      && !check_string ("peerid", "session", msg->peerid, error))
    return FALSE;
  if (msg->element != NULL
      && !check_string ("element", "answer", msg->element, error))
    return FALSE;
  if (msg->address != NULL
      && !check_string ("address", "network", msg->address, error))
    return FALSE;
  if (msg->reason != NULL
      && !check_string ("reason", "answer", msg->reason, error))
    return FALSE;
  if (msg->status_what != NULL
      && !check_string ("what", "status", msg->status_what, error))
    return FALSE;
  if (kind == LATCH_MSG_STATUS_LINES)
    for (guint i = 0; i < msg->lines->len; i++)
      {
        const char *text = g_ptr_array_index (msg->lines, i);

        /* The masks saw a text on some line, not on each. */
        if (text == NULL)
          {
            g_set_error (error, LATCH_PROTO_ERROR,
                         LATCH_PROTO_ERROR_UNEXPECTED,
                         "<line> lacks attribute 'text' in a %s", what);
            return FALSE;
          }
        if (!check_string ("text", "line", text, error))
          return FALSE;
      }
  /* ext="0" is refused: a sender that speaks no extension says nothing.
   * timeout="0" is taken: it offers no keepalive, as FLoM's lifespan="0"
   * asks for none. */
  if ((seen & LATCH_SEEN_EXT) && (msg->ext < 1 || msg->ext > LATCH_EXT_MAX))
    return out_of_range ("ext", "session", msg->ext,
                         "1.." G_STRINGIFY (LATCH_EXT_MAX), error);
  if ((seen & LATCH_SEEN_TIMEOUT)
      && (msg->timeout < 0 || msg->timeout > LATCH_TIMEOUT_MAX))
    return out_of_range ("timeout", "session", msg->timeout,
                         "0.." G_STRINGIFY (LATCH_TIMEOUT_MAX), error);
  if ((seen & (LATCH_SEEN_RESOURCE_ID | LATCH_SEEN_ANSWER_ID
               | LATCH_SEEN_STATUS_ID))
      && (msg->id < 1 || msg->id > LATCH_ID_MAX))
    {
      g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_VALUE,
                   "attribute id=%" G_GUINT64_FORMAT " on <%s> is out of "
                   "range 1..%" G_GUINT64_FORMAT,
                   msg->id,
                   (seen & LATCH_SEEN_RESOURCE_ID) ? "resource"
                   : (seen & LATCH_SEEN_STATUS_ID) ? "status"
                                                   : "answer",
                   LATCH_ID_MAX);
      return FALSE;
    }
  if (msg->name != NULL)
    {
      gsize len = strlen (msg->name);

      if (len < 1 || len > LATCH_NAME_MAX)
        {
          g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_VALUE,
                       "resource name has %" G_GSIZE_FORMAT
                       " bytes, not 1 to %d",
                       len, LATCH_NAME_MAX);
          return FALSE;
        }
    }
  if (kind == LATCH_MSG_LOCK_REQUEST)
    {
      if (msg->has_mode
          && (msg->mode < LATCH_LOCK_MODE_NL || msg->mode > LATCH_LOCK_MODE_EX))
        return out_of_range ("mode", "resource", msg->mode, "0..5", error);
      if (msg->lifespan < 0)
        return out_of_range ("lifespan", "resource", msg->lifespan, ">= 0",
                             error);
      if (!is_bool (msg->wait))
        return out_of_range ("wait", "resource", msg->wait, "0..1", error);
      if (!is_bool (msg->create))
        return out_of_range ("create", "resource", msg->create, "0..1",
                             error);
    }
  if (kind == LATCH_MSG_UNLOCK && !is_bool (msg->rollback))
    return out_of_range ("rollback", "resource", msg->rollback, "0..1",
                         error);
  if (kind == LATCH_MSG_SHUTDOWN && !is_bool (msg->immediate))
    return out_of_range ("immediate", "shutdown", msg->immediate, "0..1",
                         error);
  if (kind == LATCH_MSG_DISCOVER_ANSWER && (msg->port < 0 || msg->port > 65535))
    return out_of_range ("port", "network", msg->port, "0..65535", error);
  /* The asker's port: a connection's local port, never 0, which stands
   * for "no port" in the field. */
  if ((seen & LATCH_SEEN_STATUS_PORT) && (msg->port < 1 || msg->port > 65535))
    return out_of_range ("port", "status", msg->port, "1..65535", error);

  msg->kind = kind;
  return TRUE;
}

/* Escapes the five characters XML predefines; everything else is written
 * as it is (FLoM's values never contain any of them). */
static void
append_escaped (GString *out, const char *s)
{
  if (s == NULL)
    return;
  for (; *s != '\0'; s++)
    {
      switch (*s)
        {
        case '&':
          g_string_append (out, "&amp;");
          break;
        case '<':
          g_string_append (out, "&lt;");
          break;
        case '>':
          g_string_append (out, "&gt;");
          break;
        case '"':
          g_string_append (out, "&quot;");
          break;
        case '\'':
          g_string_append (out, "&apos;");
          break;
        default:
          g_string_append_c (out, *s);
          break;
        }
    }
}

static void
append_session (GString *out, const LatchMsg *msg)
{
  g_string_append (out, "<session peerid=\"");
  append_escaped (out, msg->peerid);
  g_string_append_c (out, '"');
  if (msg->ext != 0)
    g_string_append_printf (out, " ext=\"%d\"", msg->ext);
  if (msg->timeout != 0)
    g_string_append_printf (out, " timeout=\"%d\"", msg->timeout);
  g_string_append (out, "/>");
}

static void
append_id (GString *out, const LatchMsg *msg)
{
  if (msg->id != 0)
    g_string_append_printf (out, " id=\"%" G_GUINT64_FORMAT "\"", msg->id);
}

static void
append_name (GString *out, const char *name)
{
  g_autofree char *b64 = NULL;

  if (name == NULL)
    name = "";
  b64 = g_base64_encode ((const guchar *) name, strlen (name));
  g_string_append (out, b64);
}

static void
append_answer (GString *out, const LatchMsg *msg)
{
  g_string_append_printf (out, "<answer rc=\"%d\"", msg->rc);
  if (msg->element != NULL)
    {
      g_string_append (out, " element=\"");
      append_escaped (out, msg->element);
      g_string_append_c (out, '"');
    }
  if (msg->has_fence)
    g_string_append_printf (out, " fence=\"%" G_GUINT64_FORMAT "\"",
                            msg->fence);
  append_id (out, msg);
  if (msg->reason != NULL)
    {
      g_string_append (out, " reason=\"");
      append_escaped (out, msg->reason);
      g_string_append_c (out, '"');
    }
  g_string_append (out, "/>");
}

void
latch_msg_encode (const LatchMsg *msg, GString *out)
{
  g_return_if_fail (msg != NULL);
  g_return_if_fail (out != NULL);
  g_return_if_fail (msg->kind != LATCH_MSG_INVALID);

  g_string_append_printf (out,
                          "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>"
                          "<msg level=\"%d\" verb=\"%d\" step=\"%d\">",
                          LATCH_PROTO_LEVEL, msg->verb, msg->step);
  switch (msg->kind)
    {
    case LATCH_MSG_LOCK_REQUEST:
      append_session (out, msg);
      g_string_append (out, "<resource name=\"");
      append_name (out, msg->name);
      g_string_append_c (out, '"');
      if (msg->has_mode)
        g_string_append_printf (out, " mode=\"%d\"", msg->mode);
      g_string_append_printf (out, " wait=\"%d\"", msg->wait ? 1 : 0);
      if (msg->has_quantity)
        g_string_append_printf (out, " quantity=\"%d\"", msg->quantity);
      g_string_append_printf (out, " create=\"%d\" lifespan=\"%d\"",
                              msg->create ? 1 : 0, msg->lifespan);
      append_id (out, msg);
      g_string_append (out, "/>");
      break;
    case LATCH_MSG_LOCK_ANSWER:
      if (msg->step == LATCH_STEP_FIRST_ANSWER)
        append_session (out, msg);
      append_answer (out, msg);
      break;
    case LATCH_MSG_UNLOCK:
      g_string_append (out, "<resource name=\"");
      append_name (out, msg->name);
      g_string_append_printf (out, "\" rollback=\"%d\"",
                              msg->rollback ? 1 : 0);
      append_id (out, msg);
      g_string_append (out, " />");
      break;
    case LATCH_MSG_DISCOVER_ANSWER:
      g_string_append (out, "<network address=\"");
      append_escaped (out, msg->address);
      g_string_append_printf (out, "\" port=\"%d\"/>", msg->port);
      break;
    case LATCH_MSG_SHUTDOWN:
      append_session (out, msg);
      g_string_append_printf (out, "<shutdown immediate=\"%d\"/>",
                              msg->immediate ? 1 : 0);
      break;
    case LATCH_MSG_SHUTDOWN_ANSWER:
      if (msg->peerid != NULL)
        append_session (out, msg);
      g_string_append_printf (out, "<answer rc=\"%d\"/>", msg->rc);
      break;
    case LATCH_MSG_STATUS_REQUEST:
      if (msg->peerid != NULL)
        append_session (out, msg);
      g_string_append (out, "<status what=\"");
      append_escaped (out, msg->status_what);
      g_string_append_c (out, '"');
      if (msg->name != NULL)
        {
          g_string_append (out, " resource=\"");
          append_name (out, msg->name);
          g_string_append_c (out, '"');
        }
      if (msg->port != 0)
        g_string_append_printf (out, " port=\"%d\"", msg->port);
      append_id (out, msg);
      g_string_append (out, "/>");
      break;
    case LATCH_MSG_STATUS_LINES:
      for (guint i = 0; msg->lines != NULL && i < msg->lines->len; i++)
        {
          g_string_append (out, "<line text=\"");
          append_escaped (out, g_ptr_array_index (msg->lines, i));
          g_string_append (out, "\"/>");
        }
      break;
    case LATCH_MSG_STATUS_END:
      append_answer (out, msg);
      break;
    case LATCH_MSG_PING:
    case LATCH_MSG_DISCOVER:
    case LATCH_MSG_INVALID:
    default:
      break;
    }
  g_string_append (out, LATCH_MSG_END);
}

static gboolean
str_equal0 (const char *a, const char *b)
{
  return g_strcmp0 (a, b) == 0;
}

/* NULL and an empty array are the same: no line. */
static gboolean
lines_equal (const GPtrArray *a, const GPtrArray *b)
{
  guint na = a != NULL ? a->len : 0;
  guint nb = b != NULL ? b->len : 0;

  if (na != nb)
    return FALSE;
  for (guint i = 0; i < na; i++)
    if (!str_equal0 (g_ptr_array_index (a, i), g_ptr_array_index (b, i)))
      return FALSE;
  return TRUE;
}

void
latch_msg_add_line (LatchMsg *msg, const char *text)
{
  static const char cut_mark[] = "...";
  GString *line = g_string_sized_new (strlen (text));
  const char *p = text;
  const char *end = text + strlen (text);

  g_return_if_fail (msg != NULL && text != NULL);

  /* Character by character, so that a cut never splits one. */
  while (p < end)
    {
      gunichar c = g_utf8_get_char_validated (p, end - p);
      gsize n;

      if (c == (gunichar) -1 || c == (gunichar) -2)
        {
          c = '?';
          n = 1;
        }
      else
        {
          n = (gsize) (g_utf8_next_char (p) - p);
          if (c < 0x20 || c == 0x7f || c == 0xfffe || c == 0xffff)
            c = '?';
        }
      if (line->len + (c == '?' ? 1 : n) > LATCH_STRING_MAX - strlen (cut_mark)
          && (gsize) (end - p) + line->len > LATCH_STRING_MAX)
        {
          g_string_append (line, cut_mark);
          break;
        }
      if (c == '?')
        g_string_append_c (line, '?');
      else
        g_string_append_len (line, p, (gssize) n);
      p += n;
    }
  if (msg->lines == NULL)
    msg->lines = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (msg->lines, g_string_free (line, FALSE));
}

/* seen is compared as latch_msg_check() sees it, so that a message built
 * with latch_msg_new() equals the same message decoded. */
gboolean
latch_msg_equal (const LatchMsg *a, const LatchMsg *b)
{
  return a->kind == b->kind && a->verb == b->verb && a->step == b->step
         && str_equal0 (a->peerid, b->peerid) && str_equal0 (a->name, b->name)
         && a->has_mode == b->has_mode && a->mode == b->mode
         && a->wait == b->wait && a->has_quantity == b->has_quantity
         && a->quantity == b->quantity && a->create == b->create
         && a->lifespan == b->lifespan && a->rollback == b->rollback
         && a->rc == b->rc && str_equal0 (a->element, b->element)
         && a->has_fence == b->has_fence && a->fence == b->fence
         && a->immediate == b->immediate && str_equal0 (a->address, b->address)
         && a->port == b->port && a->ext == b->ext
         && a->timeout == b->timeout && a->id == b->id
         && str_equal0 (a->reason, b->reason)
         && str_equal0 (a->status_what, b->status_what)
         && lines_equal (a->lines, b->lines)
         && ((a->seen | seen_in_fields (a, a->kind)) & ~SEEN_ZERO_MEANS_ABSENT)
                == ((b->seen | seen_in_fields (b, b->kind))
                    & ~SEEN_ZERO_MEANS_ABSENT);
}

gboolean
latch_msg_check_length (gsize len, GError **error)
{
  if (len > LATCH_MSG_MAX_SIZE)
    {
      g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_TOO_LONG,
                   "message of %" G_GSIZE_FORMAT " bytes exceeds %d bytes",
                   len, LATCH_MSG_MAX_SIZE);
      return FALSE;
    }
  if (len == 0)
    {
      g_set_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_MALFORMED,
                   "empty message");
      return FALSE;
    }
  return TRUE;
}
