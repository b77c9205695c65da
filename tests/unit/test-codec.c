/* test-codec.c: messages, the libxml2 decoder, the lite decoder, and the
 * daemon's decoder made of both. */
#include "config.h"

#include "proto/msg.h"
#include "proto/msg-private.h"

#include "common/error.h"

#include <string.h>

#define PEERID "3d1219c7c4c5404aaa1f6d2a48adfda4"
#define XML_DECL "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>"

/* Captured from a running FLoM 1.7.2 daemon (doc/protocol.md §4). */
static const char flom_answer_16[]
    = XML_DECL "<msg level=\"3\" verb=\"1\" step=\"16\"><session "
               "peerid=\"3d1219c7c4c5404aaa1f6d2a48adfda4\"/><answer rc=\"0\" "
               "element=\"red\"/></msg>";
static const char flom_answer_24[]
    = XML_DECL "<msg level=\"3\" verb=\"1\" step=\"24\"><answer rc=\"0\"/></msg>";
static const char flom_discover_answer[]
    = XML_DECL "<msg level=\"3\" verb=\"4\" step=\"16\"><network "
               "address=\"127.0.0.1\" port=\"38125\"/></msg>";

typedef gboolean (*DecodeFunc) (const char *buf, gsize len, LatchMsg **msg_out,
                                GError **error);

static void check_daemon_decoder (const char *buf, gsize len,
                                  const LatchMsg *xml,
                                  const GError *xml_error);

/* ---- helpers ---------------------------------------------------------- */

/* A TAP comment showing s on one line. */
static void
note (const char *prefix, const char *s)
{
  g_autofree char *escaped = g_strescape (s, NULL);

  g_test_message ("%s%s", prefix, escaped);
}

static GBytes *
load_data (const char *name)
{
  g_autofree char *path
      = g_test_build_filename (G_TEST_DIST, "..", "data", "proto", name, NULL);
  g_autoptr (GError) error = NULL;
  char *contents = NULL;
  gsize len = 0;

  if (!g_file_get_contents (path, &contents, &len, &error))
    g_error ("%s", error->message);
  return g_bytes_new_take (contents, len);
}

static LatchMsg *
decode_ok (DecodeFunc decode, const char *buf, gsize len)
{
  g_autoptr (GError) error = NULL;
  LatchMsg *msg = NULL;

  if (!decode (buf, len, &msg, &error))
    g_error ("decoding failed: %s\n%.*s", error->message, (int) len, buf);
  g_assert_no_error (error);
  g_assert_nonnull (msg);
  if (decode == latch_codec_xml_decode)
    check_daemon_decoder (buf, len, msg, NULL);
  return msg;
}

static void
decode_fails (DecodeFunc decode, const char *buf, gsize len, int code)
{
  g_autoptr (GError) error = NULL;
  LatchMsg *msg = NULL;

  g_assert_false (decode (buf, len, &msg, &error));
  g_assert_null (msg);
  g_assert_nonnull (error);
  g_assert_true (error->domain == LATCH_PROTO_ERROR);
  if (code >= 0)
    g_assert_cmpint (error->code, ==, code);
  /* One line. */
  g_assert_null (strchr (error->message, '\n'));
  if (decode == latch_codec_xml_decode)
    check_daemon_decoder (buf, len, NULL, error);
}

static char *
encode (const LatchMsg *msg)
{
  GString *out = g_string_new (NULL);

  latch_msg_encode (msg, out);
  return g_string_free (out, FALSE);
}

static void
assert_msg_equal (const LatchMsg *a, const LatchMsg *b)
{
  if (!latch_msg_equal (a, b))
    {
      g_autofree char *ea = encode (a);
      g_autofree char *eb = encode (b);

      g_error ("messages differ:\n%s\n%s", ea, eb);
    }
}

/* ---- the expected contents of the golden files -------------------------- */

static LatchMsg *
build_lock_request (void)
{
  LatchMsg *msg = latch_msg_new (LATCH_MSG_LOCK_REQUEST, 8);

  msg->peerid = g_strdup (PEERID);
  msg->name = g_strdup ("_RESOURCE");
  msg->has_mode = TRUE;
  msg->mode = LATCH_LOCK_MODE_EX;
  msg->wait = TRUE;
  msg->create = TRUE;
  msg->lifespan = 0;
  return msg;
}

static LatchMsg *
build_lock_request_numeric (void)
{
  LatchMsg *msg = latch_msg_new (LATCH_MSG_LOCK_REQUEST, 8);

  msg->peerid = g_strdup (PEERID);
  msg->name = g_strdup ("tickets[3]");
  msg->wait = FALSE;
  msg->has_quantity = TRUE;
  msg->quantity = 2;
  msg->create = TRUE;
  msg->lifespan = 5000;
  return msg;
}

static LatchMsg *
build_lock_request_set (void)
{
  LatchMsg *msg = latch_msg_new (LATCH_MSG_LOCK_REQUEST, 8);

  msg->peerid = g_strdup ("");
  msg->name = g_strdup ("red.blue.green");
  msg->wait = TRUE;
  return msg;
}

static LatchMsg *
build_lock_answer_16 (void)
{
  LatchMsg *msg = latch_msg_new (LATCH_MSG_LOCK_ANSWER, 16);

  msg->peerid = g_strdup (PEERID);
  msg->rc = 0;
  msg->element = g_strdup ("red");
  return msg;
}

static LatchMsg *
build_lock_answer_16_fence (void)
{
  LatchMsg *msg = latch_msg_new (LATCH_MSG_LOCK_ANSWER, 16);

  msg->peerid = g_strdup (PEERID);
  msg->has_fence = TRUE;
  msg->fence = G_MAXUINT64;
  return msg;
}

static LatchMsg *
build_lock_answer_24 (void)
{
  return latch_msg_new (LATCH_MSG_LOCK_ANSWER, 24);
}

static LatchMsg *
build_lock_answer_32 (void)
{
  LatchMsg *msg = latch_msg_new (LATCH_MSG_LOCK_ANSWER, 32);

  msg->rc = LATCH_RC_INVALID_RESOURCE_NAME;
  msg->element = g_strdup ("a&b<c>d\"e'f");
  msg->has_fence = TRUE;
  msg->fence = 7;
  return msg;
}

static LatchMsg *
build_unlock (void)
{
  LatchMsg *msg = latch_msg_new (LATCH_MSG_UNLOCK, 8);

  msg->name = g_strdup ("_RESOURCE");
  return msg;
}

static LatchMsg *
build_ping_8 (void)
{
  return latch_msg_new (LATCH_MSG_PING, 8);
}

static LatchMsg *
build_ping_16 (void)
{
  return latch_msg_new (LATCH_MSG_PING, 16);
}

static LatchMsg *
build_discover (void)
{
  return latch_msg_new (LATCH_MSG_DISCOVER, 8);
}

static LatchMsg *
build_discover_answer (void)
{
  LatchMsg *msg = latch_msg_new (LATCH_MSG_DISCOVER_ANSWER, 16);

  msg->address = g_strdup ("127.0.0.1");
  msg->port = 38125;
  return msg;
}

static LatchMsg *
build_shutdown (void)
{
  LatchMsg *msg = latch_msg_new (LATCH_MSG_SHUTDOWN, 8);

  msg->peerid = g_strdup (PEERID);
  msg->immediate = TRUE;
  return msg;
}

static LatchMsg *
build_shutdown_answer (void)
{
  return latch_msg_new (LATCH_MSG_SHUTDOWN_ANSWER, 16);
}

/* The session extension (doc/protocol.md): the first request of a
 * session offers ext and a keepalive timeout, the first answer accepts,
 * every request, unlock and answer carries the client's lock id, and
 * refusals and losses say why. */
static LatchMsg *
build_session_lock_request (void)
{
  LatchMsg *msg = build_lock_request ();

  msg->ext = 1;
  msg->timeout = 2000;
  msg->id = 1;
  return msg;
}

static LatchMsg *
build_session_lock_request_numeric (void)
{
  LatchMsg *msg = build_lock_request_numeric ();

  msg->id = G_MAXINT64;
  return msg;
}

static LatchMsg *
build_session_answer_16 (void)
{
  LatchMsg *msg = build_lock_answer_16 ();

  msg->ext = 1;
  msg->has_fence = TRUE;
  msg->fence = 42;
  msg->id = 1;
  return msg;
}

static LatchMsg *
build_session_answer_16_reason (void)
{
  LatchMsg *msg = latch_msg_new (LATCH_MSG_LOCK_ANSWER, 16);

  msg->peerid = g_strdup (PEERID);
  msg->rc = LATCH_RC_CONNECTION_REFUSED;
  msg->id = 3;
  msg->reason = g_strdup ("the daemon at 192.0.2.11 port 28015: TLS: its "
                          "certificate expired on 2026-01-01");
  return msg;
}

static LatchMsg *
build_session_answer_24_loss (void)
{
  LatchMsg *msg = latch_msg_new (LATCH_MSG_LOCK_ANSWER, 24);

  msg->rc = LATCH_RC_CONNECTION_CLOSED;
  msg->id = 12;
  msg->reason = g_strdup ("lost: \"a&b\" <x> 'y'");
  return msg;
}

static LatchMsg *
build_session_answer_32 (void)
{
  LatchMsg *msg = latch_msg_new (LATCH_MSG_LOCK_ANSWER, 32);

  msg->id = 5;
  return msg;
}

static LatchMsg *
build_session_unlock (void)
{
  LatchMsg *msg = build_unlock ();

  msg->rollback = TRUE;
  msg->id = 77;
  return msg;
}

/* Status (verb 6, latch only): a request with every attribute, the
 * smallest one, lines that need escaping and UTF-8, and final answers. */
static LatchMsg *
build_status_request (void)
{
  LatchMsg *msg = latch_msg_new (LATCH_MSG_STATUS_REQUEST, 8);

  msg->status_what = g_strdup ("wait");
  msg->name = g_strdup ("backup");
  msg->port = 40122;
  msg->id = 9;
  return msg;
}

static LatchMsg *
build_status_request_text (void)
{
  LatchMsg *msg = latch_msg_new (LATCH_MSG_STATUS_REQUEST, 8);

  msg->status_what = g_strdup ("text");
  return msg;
}

static LatchMsg *
build_status_lines (void)
{
  LatchMsg *msg = latch_msg_new (LATCH_MSG_STATUS_LINES, 24);

  latch_msg_add_line (msg, "backup  simple  exists");
  latch_msg_add_line (msg, "");
  latch_msg_add_line (msg, "  1 held EX pid 4121 (alice: ./backup.sh \"x\" "
                           "<y> &z) fence 7 \u2014 \u00e9");
  return msg;
}

static LatchMsg *
build_status_end (void)
{
  LatchMsg *msg = latch_msg_new (LATCH_MSG_STATUS_END, 32);

  msg->rc = LATCH_STATUS_RC_REFUSED;
  msg->reason = g_strdup ("unknown what 'foo'");
  return msg;
}

static LatchMsg *
build_status_end_ok (void)
{
  return latch_msg_new (LATCH_MSG_STATUS_END, 32);
}

typedef struct
{
  const char *file;
  LatchMsg *(*build) (void);
} Golden;

static const Golden goldens[] = {
  { "lock-request.xml", build_lock_request },
  { "lock-request-numeric.xml", build_lock_request_numeric },
  { "lock-request-set.xml", build_lock_request_set },
  { "lock-answer-16.xml", build_lock_answer_16 },
  { "lock-answer-16-fence.xml", build_lock_answer_16_fence },
  { "lock-answer-24.xml", build_lock_answer_24 },
  { "lock-answer-32.xml", build_lock_answer_32 },
  { "unlock.xml", build_unlock },
  { "ping-8.xml", build_ping_8 },
  { "ping-16.xml", build_ping_16 },
  { "discover.xml", build_discover },
  { "discover-answer.xml", build_discover_answer },
  { "shutdown.xml", build_shutdown },
  { "shutdown-answer.xml", build_shutdown_answer },
  { "session-lock-request.xml", build_session_lock_request },
  { "session-lock-request-numeric.xml", build_session_lock_request_numeric },
  { "session-answer-16.xml", build_session_answer_16 },
  { "session-answer-16-reason.xml", build_session_answer_16_reason },
  { "session-answer-24-loss.xml", build_session_answer_24_loss },
  { "session-answer-32.xml", build_session_answer_32 },
  { "session-unlock.xml", build_session_unlock },
  { "status-request.xml", build_status_request },
  { "status-request-text.xml", build_status_request_text },
  { "status-lines.xml", build_status_lines },
  { "status-end.xml", build_status_end },
  { "status-end-ok.xml", build_status_end_ok },
};

typedef struct
{
  const char *file;
  int code; /* libxml2 decoder's error code */
} Invalid;

static const Invalid invalids[] = {
  { "invalid-doctype.xml", LATCH_PROTO_ERROR_MALFORMED },
  { "invalid-entity.xml", LATCH_PROTO_ERROR_MALFORMED },
  { "invalid-undefined-entity.xml", LATCH_PROTO_ERROR_MALFORMED },
  { "invalid-level.xml", LATCH_PROTO_ERROR_LEVEL },
  { "invalid-unknown-attr.xml", LATCH_PROTO_ERROR_UNEXPECTED },
  { "invalid-unknown-element.xml", LATCH_PROTO_ERROR_UNEXPECTED },
  { "invalid-missing-attr.xml", LATCH_PROTO_ERROR_UNEXPECTED },
  { "invalid-missing-element.xml", LATCH_PROTO_ERROR_UNEXPECTED },
  { "invalid-extra-element.xml", LATCH_PROTO_ERROR_UNEXPECTED },
  { "invalid-duplicate-element.xml", LATCH_PROTO_ERROR_UNEXPECTED },
  { "invalid-verb.xml", LATCH_PROTO_ERROR_UNEXPECTED },
  { "invalid-step.xml", LATCH_PROTO_ERROR_UNEXPECTED },
  { "invalid-base64.xml", LATCH_PROTO_ERROR_VALUE },
  { "invalid-nul-name.xml", LATCH_PROTO_ERROR_VALUE },
  { "invalid-mode.xml", LATCH_PROTO_ERROR_VALUE },
  { "invalid-bool.xml", LATCH_PROTO_ERROR_VALUE },
  { "invalid-number.xml", LATCH_PROTO_ERROR_VALUE },
  { "invalid-port.xml", LATCH_PROTO_ERROR_VALUE },
  { "invalid-text.xml", LATCH_PROTO_ERROR_UNEXPECTED },
  { "invalid-comment.xml", LATCH_PROTO_ERROR_MALFORMED },
  { "invalid-namespace.xml", LATCH_PROTO_ERROR_UNEXPECTED },
  { "invalid-root.xml", LATCH_PROTO_ERROR_UNEXPECTED },
  { "invalid-truncated.xml", LATCH_PROTO_ERROR_MALFORMED },
  { "invalid-encoding.xml", LATCH_PROTO_ERROR_MALFORMED },
  { "invalid-bom.xml", LATCH_PROTO_ERROR_MALFORMED },
  { "invalid-session-ext-shutdown.xml", LATCH_PROTO_ERROR_UNEXPECTED },
  { "invalid-session-id-zero.xml", LATCH_PROTO_ERROR_VALUE },
  { "invalid-status-line-no-text.xml", LATCH_PROTO_ERROR_UNEXPECTED },
  { "invalid-status-port.xml", LATCH_PROTO_ERROR_VALUE },
};

/* ---- encoding ---------------------------------------------------------- */

static void
test_encode_golden (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (goldens); i++)
    {
      g_autoptr (GBytes) want = load_data (goldens[i].file);
      g_autoptr (LatchMsg) msg = goldens[i].build ();
      g_autoptr (GError) error = NULL;
      g_autofree char *got = NULL;
      g_autofree char *want_str = NULL;
      gsize len;
      const char *data = g_bytes_get_data (want, &len);

      g_test_message ("%s", goldens[i].file);
      g_assert_true (latch_msg_check (msg, &error));
      g_assert_no_error (error);
      got = encode (msg);
      want_str = g_strndup (data, len);
      g_assert_cmpstr (got, ==, want_str);
    }
}

static void
test_encode_flom (void)
{
  g_autoptr (LatchMsg) a16 = build_lock_answer_16 ();
  g_autoptr (LatchMsg) a24 = build_lock_answer_24 ();
  g_autoptr (LatchMsg) da = build_discover_answer ();
  g_autoptr (LatchMsg) req = build_lock_request ();
  g_autofree char *e16 = encode (a16);
  g_autofree char *e24 = encode (a24);
  g_autofree char *eda = encode (da);
  g_autofree char *ereq = encode (req);

  g_assert_cmpstr (e16, ==, flom_answer_16);
  g_assert_cmpstr (e24, ==, flom_answer_24);
  g_assert_cmpstr (eda, ==, flom_discover_answer);
  g_assert_nonnull (strstr (ereq, "name=\"X1JFU09VUkNF\""));
}

static void
test_encode_appends (void)
{
  g_autoptr (LatchMsg) msg = build_ping_8 ();
  g_autoptr (GString) out = g_string_new ("x");

  latch_msg_encode (msg, out);
  g_assert_cmpstr (out->str, ==,
                   "x" XML_DECL "<msg level=\"3\" verb=\"3\" step=\"8\"></msg>");
}

static void
test_check_constructed (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LatchMsg) req = latch_msg_new (LATCH_MSG_LOCK_REQUEST, 8);
  g_autoptr (LatchMsg) a24 = latch_msg_new (LATCH_MSG_LOCK_ANSWER, 24);
  g_autoptr (LatchMsg) sa = latch_msg_new (LATCH_MSG_SHUTDOWN_ANSWER, 16);
  g_autoptr (LatchMsg) bad = latch_msg_new (LATCH_MSG_LOCK_ANSWER, 40);

  /* No peerid, no name. */
  g_assert_false (latch_msg_check (req, &error));
  g_assert_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED);
  g_clear_error (&error);
  req->peerid = g_strdup ("");
  req->name = g_strdup ("x");
  g_assert_true (latch_msg_check (req, &error));
  req->mode = 6;
  g_assert_true (latch_msg_check (req, &error));
  req->has_mode = TRUE;
  g_assert_false (latch_msg_check (req, &error));
  g_assert_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_VALUE);
  g_clear_error (&error);
  req->mode = 0;
  req->has_fence = TRUE;
  g_assert_false (latch_msg_check (req, &error));
  g_assert_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED);
  g_clear_error (&error);

  /* A session does not belong in a later answer. */
  g_assert_true (latch_msg_check (a24, &error));
  a24->peerid = g_strdup ("x");
  g_assert_false (latch_msg_check (a24, &error));
  g_clear_error (&error);

  sa->element = g_strdup ("x");
  g_assert_false (latch_msg_check (sa, &error));
  g_clear_error (&error);

  g_assert_false (latch_msg_check (bad, &error));
  g_assert_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED);
}

/* ---- decoding ---------------------------------------------------------- */

static void
test_decode_golden (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (goldens); i++)
    {
      g_autoptr (GBytes) bytes = load_data (goldens[i].file);
      g_autoptr (LatchMsg) want = goldens[i].build ();
      g_autoptr (LatchMsg) xml = NULL;
      g_autoptr (LatchMsg) lite = NULL;
      gsize len;
      const char *data = g_bytes_get_data (bytes, &len);

      g_test_message ("%s", goldens[i].file);
      g_assert_true (latch_msg_check (want, NULL));
      xml = decode_ok (latch_codec_xml_decode, data, len);
      lite = decode_ok (latch_codec_lite_decode, data, len);
      assert_msg_equal (xml, want);
      assert_msg_equal (lite, want);
    }
}

static void
test_decode_flom (void)
{
  const char *const captured[]
      = { flom_answer_16, flom_answer_24, flom_discover_answer };

  for (gsize i = 0; i < G_N_ELEMENTS (captured); i++)
    {
      g_autoptr (LatchMsg) xml
          = decode_ok (latch_codec_xml_decode, captured[i], strlen (captured[i]));
      g_autoptr (LatchMsg) lite = decode_ok (
          latch_codec_lite_decode, captured[i], strlen (captured[i]));

      assert_msg_equal (xml, lite);
    }

  g_autoptr (LatchMsg) msg = decode_ok (latch_codec_xml_decode, flom_answer_16,
                                        strlen (flom_answer_16));
  g_assert_cmpint (msg->kind, ==, LATCH_MSG_LOCK_ANSWER);
  g_assert_cmpint (msg->step, ==, 16);
  g_assert_cmpstr (msg->peerid, ==, PEERID);
  g_assert_cmpstr (msg->element, ==, "red");
  g_assert_false (msg->has_fence);
}

static void
test_decode_invalid (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (invalids); i++)
    {
      g_autoptr (GBytes) bytes = load_data (invalids[i].file);
      gsize len;
      const char *data = g_bytes_get_data (bytes, &len);

      g_test_message ("%s", invalids[i].file);
      decode_fails (latch_codec_xml_decode, data, len, invalids[i].code);
      decode_fails (latch_codec_lite_decode, data, len, -1);
    }
}

static void
test_decode_billion_laughs (void)
{
  g_autoptr (GBytes) bytes = load_data ("invalid-entity.xml");
  gint64 t0 = g_get_monotonic_time ();
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);

  for (int i = 0; i < 100; i++)
    decode_fails (latch_codec_xml_decode, data, len, LATCH_PROTO_ERROR_MALFORMED);
  /* Refused before any expansion: far below a millisecond each. */
  g_assert_cmpint (g_get_monotonic_time () - t0, <, G_USEC_PER_SEC);
}

/* Whatever else is wrong, a peer of another level hears about the level. */
static void
test_decode_level_first (void)
{
  const char *text = XML_DECL "<msg verb=\"x\" foo=\"1\" level=\"2\" "
                              "step=\"24\"><answer rc=\"0\"/></msg>";

  decode_fails (latch_codec_xml_decode, text, strlen (text),
                LATCH_PROTO_ERROR_LEVEL);
}

static void
test_decode_noncanonical (void)
{
  g_autoptr (GBytes) bytes = load_data ("noncanonical-lock-request.xml");
  g_autoptr (LatchMsg) want = build_lock_request ();
  g_autoptr (LatchMsg) msg = NULL;
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);

  g_assert_true (latch_msg_check (want, NULL));
  msg = decode_ok (latch_codec_xml_decode, data, len);
  assert_msg_equal (msg, want);
  decode_fails (latch_codec_lite_decode, data, len,
                LATCH_PROTO_ERROR_MALFORMED);
}

typedef struct
{
  const char *body;    /* after the XML declaration */
  const char *message; /* the error both decoders give, word for word */
} ErrorCase;

static void
assert_error_messages (const ErrorCase *cases, gsize n)
{
  for (gsize i = 0; i < n; i++)
    {
      g_autofree char *text = g_strconcat (XML_DECL, cases[i].body, NULL);
      DecodeFunc decoders[] = { latch_codec_xml_decode, latch_codec_lite_decode };

      for (gsize d = 0; d < G_N_ELEMENTS (decoders); d++)
        {
          g_autoptr (GError) error = NULL;
          LatchMsg *msg = NULL;

          g_assert_false (decoders[d] (text, strlen (text), &msg, &error));
          g_assert_nonnull (error);
          g_assert_cmpstr (error->message, ==, cases[i].message);
        }
    }
}

static void
test_decode_error_messages (void)
{
  static const ErrorCase cases[] = {
    { "<msg level=\"2\" verb=\"1\" step=\"24\"><answer rc=\"0\"/></msg>",
      "message has level 2; latch speaks level 3" },
    { "<msg level=\"3\" verb=\"1\" step=\"24\"><answer rc=\"0\" "
      "foo=\"1\"/></msg>",
      "unknown attribute 'foo' on <answer>" },
    { "<msg level=\"3\" verb=\"1\" step=\"24\"><bar/></msg>",
      "unknown element <bar>" },
    { "<msg level=\"3\" verb=\"9\" step=\"8\"></msg>",
      "unknown message verb=9 step=8" },
    { "<msg level=\"3\" verb=\"1\" step=\"24\"><answer rc=\"x\"/></msg>",
      "attribute rc='x' on <answer> is not a decimal int" },
  };

  assert_error_messages (cases, G_N_ELEMENTS (cases));
}

/* Decodes XML_DECL + <msg ...> + body + </msg> with both decoders;
 * returns the libxml2 result and checks that lite agrees, if it accepts. */
static LatchMsg *
decode_body (const char *verb_step, const char *body, gboolean lite_too)
{
  g_autofree char *text
      = g_strdup_printf (XML_DECL "<msg level=\"3\" %s>%s</msg>", verb_step,
                         body);
  g_autoptr (LatchMsg) lite = NULL;
  LatchMsg *xml = NULL;

  if (!latch_codec_xml_decode (text, strlen (text), &xml, NULL))
    xml = NULL;
  if (latch_codec_lite_decode (text, strlen (text), &lite, NULL))
    {
      g_assert_nonnull (xml);
      assert_msg_equal (xml, lite);
    }
  else if (lite_too)
    g_assert_null (xml);
  return xml;
}

static void
test_decode_values (void)
{
  static const struct
  {
    const char *value;
    gboolean ok;
    int rc;
  } rcs[] = {
    { "0", TRUE, 0 },
    { "-14", TRUE, -14 },
    { "007", TRUE, 7 },
    { "-0", TRUE, 0 },
    { "2147483647", TRUE, G_MAXINT },
    { "-2147483648", TRUE, G_MININT },
    { "2147483648", FALSE, 0 },
    { "-2147483649", FALSE, 0 },
    { "99999999999999999999999", FALSE, 0 },
    { "", FALSE, 0 },
    { "-", FALSE, 0 },
    { "+1", FALSE, 0 },
    { " 1", FALSE, 0 },
    { "1 ", FALSE, 0 },
    { "0x1", FALSE, 0 },
    { "1e3", FALSE, 0 },
    { "--1", FALSE, 0 },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (rcs); i++)
    {
      g_autofree char *body
          = g_strdup_printf ("<answer rc=\"%s\"/>", rcs[i].value);
      g_autoptr (LatchMsg) msg
          = decode_body ("verb=\"1\" step=\"24\"", body, TRUE);

      g_test_message ("rc=\"%s\"", rcs[i].value);
      g_assert_cmpint (msg != NULL, ==, rcs[i].ok);
      if (msg != NULL)
        g_assert_cmpint (msg->rc, ==, rcs[i].rc);
    }
}

static void
test_decode_fence (void)
{
  g_autoptr (LatchMsg) max = decode_body (
      "verb=\"1\" step=\"24\"",
      "<answer rc=\"0\" fence=\"18446744073709551615\"/>", TRUE);
  g_autoptr (LatchMsg) over = decode_body (
      "verb=\"1\" step=\"24\"",
      "<answer rc=\"0\" fence=\"18446744073709551616\"/>", TRUE);
  g_autoptr (LatchMsg) neg = decode_body (
      "verb=\"1\" step=\"24\"", "<answer rc=\"0\" fence=\"-1\"/>", TRUE);
  g_autoptr (LatchMsg) shut = decode_body (
      "verb=\"5\" step=\"16\"", "<answer rc=\"0\" fence=\"1\"/>", TRUE);

  g_assert_nonnull (max);
  g_assert_true (max->has_fence);
  g_assert_cmpuint (max->fence, ==, G_MAXUINT64);
  g_assert_null (over);
  g_assert_null (neg);
  g_assert_null (shut);
}

static void
test_decode_booleans (void)
{
  static const struct
  {
    const char *value;
    gboolean ok;
    gboolean immediate;
  } cases[] = {
    { "0", TRUE, FALSE }, { "1", TRUE, TRUE },  { "7", TRUE, TRUE },
    { "-1", TRUE, TRUE }, { "00", TRUE, FALSE }, { "yes", FALSE, FALSE },
    { "", FALSE, FALSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *body = g_strdup_printf (
          "<session peerid=\"\"/><shutdown immediate=\"%s\"/>",
          cases[i].value);
      g_autoptr (LatchMsg) msg
          = decode_body ("verb=\"5\" step=\"8\"", body, TRUE);

      g_assert_cmpint (msg != NULL, ==, cases[i].ok);
      if (msg != NULL)
        {
          g_assert_cmpint (msg->immediate, ==, cases[i].immediate);
          g_assert_cmpstr (msg->peerid, ==, "");
        }
    }

  /* wait, create and rollback take "0" or "1" only. */
  const char *const bad[] = { "2", "-1", "00", "true", "" };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *body = g_strdup_printf (
          "<resource name=\"X1JFU09VUkNF\" rollback=\"%s\" />", bad[i]);
      g_autoptr (LatchMsg) msg
          = decode_body ("verb=\"2\" step=\"8\"", body, TRUE);

      g_assert_null (msg);
    }
}

static void
test_decode_base64 (void)
{
  static const struct
  {
    const char *b64;
    const char *name; /* NULL: refused */
  } cases[] = {
    { "X1JFU09VUkNF", "_RESOURCE" },
    { "YQ==", "a" },
    { "YWI=", "ab" },
    { "YWJj", "abc" },
    { "+/+/", "\xfb\xff\xbf" },
    { "X1JFU09VUkNF=", NULL },
    { "X1JFU09VUkN", NULL },
    { "", NULL },
    { "YR==", NULL },   /* unused bits set */
    { "YWJ=", NULL },   /* unused bits set */
    { "Y===", NULL },
    { "=QQQ", NULL },
    { "YQ==YQ==", NULL },
    { "Y Q==", NULL },
    { "YQ=a", NULL },
    { "-_-_", NULL },   /* base64url alphabet */
    { "AA==", NULL },   /* NUL byte */
    { "YQBi", NULL },   /* NUL byte inside */
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *body = g_strdup_printf (
          "<resource name=\"%s\" rollback=\"1\" />", cases[i].b64);
      g_autoptr (LatchMsg) msg
          = decode_body ("verb=\"2\" step=\"8\"", body, TRUE);

      g_test_message ("name=\"%s\"", cases[i].b64);
      if (cases[i].name == NULL)
        g_assert_null (msg);
      else
        {
          g_assert_nonnull (msg);
          g_assert_cmpstr (msg->name, ==, cases[i].name);
          g_assert_true (msg->rollback);
        }
    }
}

static void
test_decode_name_length (void)
{
  g_autofree char *max = g_malloc (LATCH_NAME_MAX + 2);
  g_autofree char *b64 = NULL;
  g_autofree char *body = NULL;
  g_autoptr (LatchMsg) ok = NULL;
  g_autoptr (LatchMsg) too_long = NULL;

  memset (max, 'n', LATCH_NAME_MAX + 1);
  max[LATCH_NAME_MAX] = '\0';
  b64 = g_base64_encode ((const guchar *) max, LATCH_NAME_MAX);
  body = g_strdup_printf ("<resource name=\"%s\" rollback=\"0\" />", b64);
  ok = decode_body ("verb=\"2\" step=\"8\"", body, TRUE);
  g_assert_nonnull (ok);
  g_assert_cmpuint (strlen (ok->name), ==, LATCH_NAME_MAX);

  g_free (b64);
  g_free (body);
  b64 = g_base64_encode ((const guchar *) max, LATCH_NAME_MAX + 1);
  body = g_strdup_printf ("<resource name=\"%s\" rollback=\"0\" />", b64);
  too_long = decode_body ("verb=\"2\" step=\"8\"", body, TRUE);
  g_assert_null (too_long);
}

static void
test_decode_strings (void)
{
  g_autofree char *max = g_strnfill (LATCH_STRING_MAX, 'p');
  g_autofree char *over = g_strnfill (LATCH_STRING_MAX + 1, 'p');
  static const struct
  {
    const char *value;
    const char *want; /* NULL: refused */
  } cases[] = {
    { "", "" },
    { "a&amp;b", "a&b" },
    { "&lt;&gt;&quot;&apos;", "<>\"'" },
    { "caf\xc3\xa9 \xe2\x82\xac", "caf\xc3\xa9 \xe2\x82\xac" },
    { "it's > 1", "it's > 1" },
    { "\xff", NULL },          /* not UTF-8 */
    { "a&#9;b", NULL },        /* control character */
    { "a&#10;b", NULL },
    { "\xef\xbf\xbe", NULL },  /* U+FFFE */
    { "a&bogus;b", NULL },
    { "a&b", NULL },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *body = g_strdup_printf (
          "<network address=\"%s\" port=\"1\"/>", cases[i].value);
      g_autoptr (LatchMsg) msg
          = decode_body ("verb=\"4\" step=\"16\"", body, TRUE);

      note ("address=", cases[i].value);
      if (cases[i].want == NULL)
        g_assert_null (msg);
      else
        {
          g_assert_nonnull (msg);
          g_assert_cmpstr (msg->address, ==, cases[i].want);
        }
    }

  g_autofree char *body_max
      = g_strdup_printf ("<answer rc=\"0\" element=\"%s\"/>", max);
  g_autofree char *body_over
      = g_strdup_printf ("<answer rc=\"0\" element=\"%s\"/>", over);
  g_autoptr (LatchMsg) m1 = decode_body ("verb=\"1\" step=\"24\"", body_max,
                                         TRUE);
  g_autoptr (LatchMsg) m2 = decode_body ("verb=\"1\" step=\"24\"", body_over,
                                         TRUE);
  g_assert_nonnull (m1);
  g_assert_null (m2);
}

static void
test_decode_ranges (void)
{
  static const struct
  {
    const char *verb_step;
    const char *body;
    gboolean ok;
  } cases[] = {
    { "verb=\"4\" step=\"16\"", "<network address=\"\" port=\"0\"/>", TRUE },
    { "verb=\"4\" step=\"16\"", "<network address=\"\" port=\"65535\"/>",
      TRUE },
    { "verb=\"4\" step=\"16\"", "<network address=\"\" port=\"-1\"/>",
      FALSE },
    { "verb=\"1\" step=\"8\"",
      "<session peerid=\"\"/><resource name=\"YQ==\" mode=\"0\" wait=\"0\" "
      "create=\"0\" lifespan=\"0\"/>",
      TRUE },
    { "verb=\"1\" step=\"8\"",
      "<session peerid=\"\"/><resource name=\"YQ==\" mode=\"-1\" wait=\"0\" "
      "create=\"0\" lifespan=\"0\"/>",
      FALSE },
    { "verb=\"1\" step=\"8\"",
      "<session peerid=\"\"/><resource name=\"YQ==\" wait=\"0\" "
      "create=\"0\" lifespan=\"-1\"/>",
      FALSE },
    { "verb=\"1\" step=\"8\"",
      "<session peerid=\"\"/><resource name=\"YQ==\" wait=\"0\" "
      "quantity=\"-5\" create=\"0\" lifespan=\"2147483647\"/>",
      TRUE },
    { "verb=\"1\" step=\"8\"",
      "<session peerid=\"\"/><resource name=\"YQ==\" wait=\"0\" "
      "create=\"0\" lifespan=\"0\" rollback=\"0\"/>",
      FALSE },
    { "verb=\"2\" step=\"8\"",
      "<resource name=\"YQ==\" wait=\"0\" rollback=\"0\" />", FALSE },
    { "verb=\"1\" step=\"8\"",
      "<resource name=\"YQ==\" wait=\"0\" create=\"0\" lifespan=\"0\"/>",
      FALSE },
    { "verb=\"1\" step=\"8\"",
      "<session/><resource name=\"YQ==\" wait=\"0\" create=\"0\" "
      "lifespan=\"0\"/>",
      FALSE },
    { "verb=\"1\" step=\"16\"",
      "<session peerid=\"\"/><answer rc=\"0\" element=\"\"/>", TRUE },
    { "verb=\"3\" step=\"8\"", "<answer rc=\"0\"/>", FALSE },
    { "verb=\"3\" step=\"24\"", "", FALSE },
    { "verb=\"4\" step=\"8\"", "<session peerid=\"\"/>", FALSE },
    { "verb=\"5\" step=\"8\"", "<shutdown immediate=\"0\"/>", FALSE },
    { "verb=\"0\" step=\"0\"", "", FALSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (LatchMsg) msg
          = decode_body (cases[i].verb_step, cases[i].body, TRUE);

      g_test_message ("%s %s", cases[i].verb_step, cases[i].body);
      g_assert_cmpint (msg != NULL, ==, cases[i].ok);
    }
}

/* Forms that are well-formed XML but not canonical: libxml2 only. */
static void
test_decode_xml_only (void)
{
  static const char *const texts[] = {
    "<msg level=\"3\" verb=\"1\" step=\"24\"><answer rc=\"0\"></answer></msg>",
    "<?xml version=\"1.0\"?><msg level=\"3\" verb=\"1\" step=\"24\">"
    "<answer rc=\"0\"/></msg>",
    XML_DECL "<msg level='3' verb='1' step='24'><answer rc='0'/></msg>",
    XML_DECL "<msg  level=\"3\" verb=\"1\" step=\"24\"><answer rc=\"0\"/></msg>",
    XML_DECL "<msg verb=\"1\" level=\"3\" step=\"24\"><answer rc=\"0\"/></msg>",
    XML_DECL "<msg level=\"3\" verb=\"1\" step=\"24\">\n <answer rc=\"0\"/>\n</msg>",
    XML_DECL "<msg level=\"3\" verb=\"1\" step=\"24\"><answer rc=\"0\"/></msg>\n",
    XML_DECL "<msg level=\"3\" verb=\"1\" step=\"24\"><answer rc=\"&#48;\"/></msg>",
    XML_DECL "<msg level=\"3\" verb=\"1\" step=\"24\"><answer  rc=\"0\"/></msg>",
    XML_DECL "<msg level=\"3\" verb=\"1\" step=\"24\"><answer rc = \"0\" /></msg>",
    XML_DECL "<msg level=\"3\" verb=\"1\" step=\"24\"><answer element=\"e\" "
             "rc=\"0\"/></msg>",
    XML_DECL "<msg level=\"3\" verb=\"1\" step=\"16\"><answer rc=\"0\"/>"
             "<session peerid=\"\"/></msg>",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (texts); i++)
    {
      g_autoptr (LatchMsg) msg = NULL;

      note ("", texts[i]);
      msg = decode_ok (latch_codec_xml_decode, texts[i], strlen (texts[i]));
      g_assert_cmpint (msg->kind, ==, LATCH_MSG_LOCK_ANSWER);
      decode_fails (latch_codec_lite_decode, texts[i], strlen (texts[i]),
                    LATCH_PROTO_ERROR_MALFORMED);
    }
}

static void
test_decode_xml_refused (void)
{
  static const char *const texts[] = {
    XML_DECL "<msg level=\"3\" verb=\"1\" step=\"24\"><answer rc=\"0\"/>"
             "</msg><msg/>",
    XML_DECL "<msg level=\"3\" verb=\"1\" step=\"24\"><answer rc=\"0\"/>"
             "</msg><?pi?>",
    XML_DECL "<?pi?><msg level=\"3\" verb=\"1\" step=\"24\"><answer rc=\"0\"/>"
             "</msg>",
    XML_DECL "<msg level=\"3\" verb=\"1\" step=\"24\"><?pi?><answer rc=\"0\"/>"
             "</msg>",
    XML_DECL "<msg level=\"3\" verb=\"1\" step=\"24\"><answer rc=\"0\">x"
             "</answer></msg>",
    XML_DECL "<msg level=\"3\" verb=\"1\" step=\"24\"><answer rc=\"0\"><b/>"
             "</answer></msg>",
    XML_DECL "<msg level=\"3\" verb=\"1\" step=\"24\"><![CDATA[ ]]>"
             "<answer rc=\"0\"/></msg>",
    XML_DECL "<msg level=\"3\" verb=\"1\" step=\"24\">&amp;<answer rc=\"0\"/>"
             "</msg>",
    XML_DECL "<msg level=\"3\" verb=\"1\" step=\"24\" xmlns:a=\"urn:a\">"
             "<answer rc=\"0\"/></msg>",
    XML_DECL "<msg level=\"3\" verb=\"1\" step=\"24\" xmlns:a=\"urn:a\">"
             "<answer rc=\"0\" a:rc=\"0\"/></msg>",
    XML_DECL "<msg level=\"3\" verb=\"1\" step=\"24\"><a:answer rc=\"0\"/>"
             "</msg>",
    XML_DECL "<msg level=\"3\" verb=\"1\" step=\"24\" xml:lang=\"en\">"
             "<answer rc=\"0\"/></msg>",
    XML_DECL "<msg level=\"3\" verb=\"1\" step=\"24\" level=\"3\">"
             "<answer rc=\"0\"/></msg>",
    XML_DECL "<msg level=\"3\" verb=\"1\" step=\"24\"><answer rc=\"0\" "
             "rc=\"0\"/></msg>",
    XML_DECL "<msg level=\"3\" verb=\"1\"><answer rc=\"0\"/></msg>",
    XML_DECL "<msg level=\"3\" step=\"24\"><answer rc=\"0\"/></msg>",
    XML_DECL "<msg verb=\"1\" step=\"24\"><answer rc=\"0\"/></msg>",
    XML_DECL "<msg level=\"3\" verb=\"1\" step=\"24\" id=\"1\">"
             "<answer rc=\"0\"/></msg>",
    XML_DECL "<msg level=\"3\" verb=\"1\" step=\"24\"><answer/></msg>",
    XML_DECL "<msg level=\"3\" verb=\"1\" step=\"24\"><answer rc=\"0\"/>"
             "</msg>trailing",
    "",
    " ",
    "\xef\xbb\xbf",
    /* Whitespace first (the daemon's messages start with '<'). */
    " " XML_DECL "<msg level=\"3\" verb=\"3\" step=\"8\"></msg>",
    /* An unterminated declaration naming another encoding: libxml2
     * switched to it (through iconv, which complained on stderr). */
    "<?xml encoding=\"UTF7\"+1<msg level=\"3\" verb=\"3\" step=\"8\"></msg>",
    /* A ping in EBCDIC (IBM037), declared so: libxml2 guessed the
     * encoding from the first bytes (4C 6F A7 94, "<?xm") and decoded it
     * (tests/fuzz/fuzz-codec.repro/ebcdic-message). */
    "\x4c\x6f\xa7\x94\x93\x40\xa5\x85\x99\xa2\x89\x96\x95\x7e\x7f\xf1\x4b\xf0"
    "\x7f\x40\x85\x95\x83\x96\x84\x89\x95\x87\x7e\x7f\xc9\xc2\xd4\xf0\xf3\xf7"
    "\x7f\x6f\x6e\x4c\x94\xa2\x87\x40\x93\x85\xa5\x85\x93\x7e\x7f\xf3\x7f\x40"
    "\xa5\x85\x99\x82\x7e\x7f\xf3\x7f\x40\xa2\xa3\x85\x97\x7e\x7f\xf8\x7f\x6e"
    "\x4c\x61\x94\xa2\x87\x6e",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (texts); i++)
    {
      gsize len = strlen (texts[i]);

      note ("", texts[i]);
      decode_fails (latch_codec_xml_decode, texts[i], len, -1);
      decode_fails (latch_codec_lite_decode, texts[i], len, -1);
    }

  /* With the NUL byte itself. */
  const char nul[] = XML_DECL "<msg level=\"3\" verb=\"1\" step=\"24\">"
                              "<answer rc=\"0\"/></msg>";
  decode_fails (latch_codec_xml_decode, nul, sizeof nul, -1);
  decode_fails (latch_codec_lite_decode, nul, sizeof nul, -1);
}

static void
test_decode_oversize (void)
{
  const char *head = XML_DECL "<msg level=\"3\" verb=\"1\" step=\"24\">";
  const char *tail = "<answer rc=\"0\"/></msg>";
  g_autoptr (GString) text = g_string_new (head);
  g_autoptr (LatchMsg) msg = NULL;

  /* Exactly the limit: whitespace padding, which only libxml2 takes. */
  while (text->len < LATCH_MSG_MAX_SIZE - strlen (tail))
    g_string_append_c (text, ' ');
  g_string_append (text, tail);
  g_assert_cmpuint (text->len, ==, LATCH_MSG_MAX_SIZE);
  msg = decode_ok (latch_codec_xml_decode, text->str, text->len);
  g_assert_cmpint (msg->kind, ==, LATCH_MSG_LOCK_ANSWER);

  g_string_insert_c (text, strlen (head), ' ');
  decode_fails (latch_codec_xml_decode, text->str, text->len,
                LATCH_PROTO_ERROR_TOO_LONG);
  decode_fails (latch_codec_lite_decode, text->str, text->len,
                LATCH_PROTO_ERROR_TOO_LONG);
}

/* ---- round trips ------------------------------------------------------- */

static char *
random_string (gsize max_len)
{
  static const char *const pieces[]
      = { "a", "Z", "0", "-", ".", " ", "&", "<", ">", "\"", "'", ";", "=",
          "/", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x94\x92", "\x7f" };
  GString *s = g_string_new (NULL);
  gsize len = (gsize) g_test_rand_int_range (0, (gint32) max_len + 1);

  while (s->len < len)
    {
      const char *piece
          = pieces[g_test_rand_int_range (0, G_N_ELEMENTS (pieces))];

      if (s->len + strlen (piece) > max_len)
        break;
      g_string_append (s, piece);
    }
  return g_string_free (s, FALSE);
}

static char *
random_name (void)
{
  gsize len = g_test_rand_bit () ? (gsize) g_test_rand_int_range (1, 40)
                                 : (gsize) g_test_rand_int_range (
                                     1, LATCH_NAME_MAX + 1);
  char *name = g_malloc (len + 1);

  for (gsize i = 0; i < len; i++)
    name[i] = (char) g_test_rand_int_range (1, 256);
  name[len] = '\0';
  return name;
}

static int
random_int (void)
{
  switch (g_test_rand_int_range (0, 4))
    {
    case 0:
      return G_MININT;
    case 1:
      return G_MAXINT;
    case 2:
      return g_test_rand_int_range (-100, 100);
    default:
      return (int) g_test_rand_int ();
    }
}

/* A lock id, or 0 (none) half of the time. */
static guint64
random_id (void)
{
  switch (g_test_rand_int_range (0, 8))
    {
    case 0:
      return 1;
    case 1:
      return LATCH_ID_MAX;
    case 2:
    case 3:
      return MAX (1, (((guint64) g_test_rand_int () << 32)
                      | g_test_rand_int ()) & LATCH_ID_MAX);
    default:
      return 0;
    }
}

static LatchMsg *
random_msg (LatchMsgKind kind)
{
  static const int answer_steps[] = { 16, 24, 32 };
  LatchMsg *msg;

  switch (kind)
    {
    case LATCH_MSG_LOCK_REQUEST:
      msg = latch_msg_new (kind, 8);
      msg->peerid = random_string (64);
      msg->name = random_name ();
      msg->has_mode = g_test_rand_bit ();
      msg->mode = msg->has_mode ? g_test_rand_int_range (0, 6) : 0;
      msg->wait = g_test_rand_bit ();
      msg->has_quantity = g_test_rand_bit ();
      msg->quantity = msg->has_quantity ? random_int () : 0;
      msg->create = g_test_rand_bit ();
      msg->lifespan = random_int () & G_MAXINT;
      if (g_test_rand_bit ())
        msg->ext = g_test_rand_int_range (1, LATCH_EXT_MAX + 1);
      if (g_test_rand_bit ())
        msg->timeout = g_test_rand_int_range (0, LATCH_TIMEOUT_MAX + 1);
      msg->id = random_id ();
      break;
    case LATCH_MSG_LOCK_ANSWER:
      msg = latch_msg_new (kind, answer_steps[g_test_rand_int_range (0, 3)]);
      if (msg->step == 16)
        msg->peerid = random_string (LATCH_STRING_MAX);
      msg->rc = random_int ();
      if (g_test_rand_bit ())
        msg->element = random_string (LATCH_STRING_MAX);
      msg->has_fence = g_test_rand_bit ();
      if (msg->has_fence)
        msg->fence = ((guint64) g_test_rand_int () << 32) | g_test_rand_int ();
      msg->id = random_id ();
      if (msg->step == 16 && g_test_rand_bit ())
        msg->ext = g_test_rand_int_range (1, LATCH_EXT_MAX + 1);
      if (msg->step != 32 && g_test_rand_bit ())
        msg->reason = random_string (LATCH_STRING_MAX);
      break;
    case LATCH_MSG_UNLOCK:
      msg = latch_msg_new (kind, 8);
      msg->name = random_name ();
      msg->rollback = g_test_rand_bit ();
      msg->id = random_id ();
      break;
    case LATCH_MSG_PING:
      msg = latch_msg_new (kind, g_test_rand_bit () ? 8 : 16);
      break;
    case LATCH_MSG_DISCOVER:
      msg = latch_msg_new (kind, 8);
      break;
    case LATCH_MSG_DISCOVER_ANSWER:
      msg = latch_msg_new (kind, 16);
      msg->address = random_string (64);
      msg->port = g_test_rand_int_range (0, 65536);
      break;
    case LATCH_MSG_SHUTDOWN:
      msg = latch_msg_new (kind, 8);
      msg->peerid = random_string (64);
      msg->immediate = g_test_rand_bit ();
      break;
    case LATCH_MSG_SHUTDOWN_ANSWER:
      msg = latch_msg_new (kind, 16);
      msg->rc = random_int ();
      break;
    case LATCH_MSG_STATUS_REQUEST:
      msg = latch_msg_new (kind, 8);
      if (g_test_rand_bit ())
        msg->peerid = random_string (64);
      msg->status_what = random_string (64);
      if (g_test_rand_bit ())
        msg->name = random_name ();
      if (g_test_rand_bit ())
        msg->port = g_test_rand_int_range (1, 65536);
      msg->id = random_id ();
      break;
    case LATCH_MSG_STATUS_LINES:
      msg = latch_msg_new (kind, 24);
      /* At most 4 x 256 bytes, 6 x that escaped: always fits. */
      for (int n = g_test_rand_int_range (1, 5); n > 0; n--)
        {
          g_autofree char *text = random_string (256);

          latch_msg_add_line (msg, text);
        }
      break;
    case LATCH_MSG_STATUS_END:
      msg = latch_msg_new (kind, 32);
      msg->rc = random_int ();
      if (g_test_rand_bit ())
        msg->reason = random_string (LATCH_STRING_MAX);
      break;
    case LATCH_MSG_INVALID:
    default:
      g_assert_not_reached ();
    }
  return msg;
}

static void
test_round_trip (void)
{
  for (int kind = LATCH_MSG_LOCK_REQUEST; kind <= LATCH_MSG_STATUS_END;
       kind++)
    for (int i = 0; i < 200; i++)
      {
        g_autoptr (LatchMsg) msg = random_msg (kind);
        g_autoptr (LatchMsg) xml = NULL;
        g_autoptr (LatchMsg) lite = NULL;
        g_autoptr (GError) error = NULL;
        g_autofree char *text = NULL;
        g_autofree char *again = NULL;

        if (!latch_msg_check (msg, &error))
          g_error ("%s", error->message);
        text = encode (msg);
        xml = decode_ok (latch_codec_xml_decode, text, strlen (text));
        lite = decode_ok (latch_codec_lite_decode, text, strlen (text));
        assert_msg_equal (xml, msg);
        assert_msg_equal (lite, msg);
        again = encode (xml);
        g_assert_cmpstr (again, ==, text);
      }
}

/* Every name byte 1..255 survives. */
static void
test_round_trip_all_bytes (void)
{
  g_autoptr (LatchMsg) msg = latch_msg_new (LATCH_MSG_UNLOCK, 8);
  g_autoptr (LatchMsg) xml = NULL;
  g_autoptr (LatchMsg) lite = NULL;
  g_autofree char *text = NULL;

  msg->name = g_malloc (256);
  for (int i = 1; i < 256; i++)
    msg->name[i - 1] = (char) i;
  msg->name[255] = '\0';
  g_assert_true (latch_msg_check (msg, NULL));
  text = encode (msg);
  xml = decode_ok (latch_codec_xml_decode, text, strlen (text));
  lite = decode_ok (latch_codec_lite_decode, text, strlen (text));
  assert_msg_equal (xml, msg);
  assert_msg_equal (lite, msg);
}


/* ---- the session extension ---------------------------------------------- */

/* latch_msg_check() on messages built in code: each attribute only where
 * the contract allows it, in its range. */
static void
test_check_session (void)
{
  g_autoptr (GError) error = NULL;

  {
    g_autoptr (LatchMsg) req = build_session_lock_request ();

    g_assert_true (latch_msg_check (req, &error));
    g_assert_no_error (error);
    req->ext = LATCH_EXT_MAX;
    req->timeout = LATCH_TIMEOUT_MAX;
    req->id = LATCH_ID_MAX;
    g_assert_true (latch_msg_check (req, NULL));
    req->ext = LATCH_EXT_MAX + 1;
    g_assert_false (latch_msg_check (req, &error));
    g_assert_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_VALUE);
    g_clear_error (&error);
    req->ext = -1;
    g_assert_false (latch_msg_check (req, &error));
    g_assert_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_VALUE);
    g_clear_error (&error);
    req->ext = 1;
    req->timeout = LATCH_TIMEOUT_MAX + 1;
    g_assert_false (latch_msg_check (req, &error));
    g_assert_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_VALUE);
    g_clear_error (&error);
    req->timeout = -1;
    g_assert_false (latch_msg_check (req, &error));
    g_assert_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_VALUE);
    g_clear_error (&error);
    req->timeout = 0;
    req->id = LATCH_ID_MAX + 1;
    g_assert_false (latch_msg_check (req, &error));
    g_assert_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_VALUE);
    g_assert_cmpstr (error->message, ==,
                     "attribute id=9223372036854775808 on <resource> is out "
                     "of range 1..9223372036854775807");
    g_clear_error (&error);
    req->id = G_MAXUINT64;
    g_assert_false (latch_msg_check (req, &error));
    g_clear_error (&error);
    /* A reason belongs on answers only. */
    req->id = 0;
    req->reason = g_strdup ("x");
    g_assert_false (latch_msg_check (req, &error));
    g_assert_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED);
    g_clear_error (&error);
  }

  {
    g_autoptr (LatchMsg) a16 = build_session_answer_16 ();

    g_assert_true (latch_msg_check (a16, NULL));
    a16->timeout = 1;
    g_assert_false (latch_msg_check (a16, &error));
    g_assert_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED);
    g_assert_cmpstr (error->message, ==,
                     "<session> has attribute 'timeout', which does not "
                     "belong in a lock answer");
    g_clear_error (&error);
    a16->timeout = 0;
    a16->reason = g_strnfill (LATCH_STRING_MAX, 'r');
    g_assert_true (latch_msg_check (a16, NULL));
    g_free (a16->reason);
    a16->reason = g_strnfill (LATCH_STRING_MAX + 1, 'r');
    g_assert_false (latch_msg_check (a16, &error));
    g_assert_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_VALUE);
    g_clear_error (&error);
    g_free (a16->reason);
    /* One line. */
    a16->reason = g_strdup ("two\nlines");
    g_assert_false (latch_msg_check (a16, &error));
    g_assert_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_VALUE);
    g_clear_error (&error);
  }

  {
    g_autoptr (LatchMsg) a24 = build_session_answer_24_loss ();
    g_autoptr (LatchMsg) a32 = build_session_answer_32 ();

    g_assert_true (latch_msg_check (a24, NULL));
    g_assert_true (latch_msg_check (a32, NULL));
    a32->reason = g_strdup ("x");
    g_assert_false (latch_msg_check (a32, &error));
    g_assert_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED);
    g_clear_error (&error);
    /* ext rides on a <session>, which a later answer has not. */
    a24->ext = 1;
    g_assert_false (latch_msg_check (a24, &error));
    g_assert_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED);
    g_clear_error (&error);
  }

  {
    g_autoptr (LatchMsg) unlock = build_session_unlock ();
    g_autoptr (LatchMsg) shut = build_shutdown ();
    g_autoptr (LatchMsg) sa = build_shutdown_answer ();
    g_autoptr (LatchMsg) ping = build_ping_8 ();
    g_autoptr (LatchMsg) da = build_discover_answer ();

    g_assert_true (latch_msg_check (unlock, NULL));
    unlock->ext = 1;
    g_assert_false (latch_msg_check (unlock, &error));
    g_assert_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED);
    g_clear_error (&error);

    shut->id = 1;
    g_assert_false (latch_msg_check (shut, &error));
    g_assert_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED);
    g_clear_error (&error);
    shut->id = 0;
    shut->ext = 1;
    g_assert_false (latch_msg_check (shut, &error));
    g_assert_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED);
    g_assert_cmpstr (error->message, ==,
                     "<session> has attribute 'ext', which does not belong "
                     "in a shutdown request");
    g_clear_error (&error);
    shut->ext = 0;
    shut->timeout = 2000;
    g_assert_false (latch_msg_check (shut, &error));
    g_clear_error (&error);

    sa->id = 1;
    g_assert_false (latch_msg_check (sa, &error));
    g_assert_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED);
    g_assert_cmpstr (error->message, ==,
                     "<answer> has attribute 'id', which does not belong "
                     "in a shutdown answer");
    g_clear_error (&error);
    sa->id = 0;
    sa->reason = g_strdup ("x");
    g_assert_false (latch_msg_check (sa, &error));
    g_clear_error (&error);

    ping->id = 1;
    g_assert_false (latch_msg_check (ping, &error));
    g_clear_error (&error);
    da->timeout = 1;
    g_assert_false (latch_msg_check (da, &error));
    g_clear_error (&error);
  }
}

/* Each new attribute on each element and kind: accepted where the
 * contract allows it, refused anywhere else, by both decoders alike. */
static void
test_decode_session_placement (void)
{
  static const struct
  {
    const char *verb_step;
    const char *body;
    gboolean ok;
  } cases[] = {
    /* lock request 1/8 */
    { "verb=\"1\" step=\"8\"",
      "<session peerid=\"\" ext=\"1\" timeout=\"2000\"/><resource "
      "name=\"YQ==\" wait=\"1\" create=\"1\" lifespan=\"0\" id=\"1\"/>",
      TRUE },
    { "verb=\"1\" step=\"8\"",
      "<session peerid=\"\"/><resource name=\"YQ==\" wait=\"1\" "
      "create=\"1\" lifespan=\"0\" id=\"2\"/>",
      TRUE },
    { "verb=\"1\" step=\"8\"",
      "<session peerid=\"\" id=\"1\"/><resource name=\"YQ==\" wait=\"1\" "
      "create=\"1\" lifespan=\"0\"/>",
      FALSE },
    { "verb=\"1\" step=\"8\"",
      "<session peerid=\"\"/><resource name=\"YQ==\" wait=\"1\" "
      "create=\"1\" lifespan=\"0\" ext=\"1\"/>",
      FALSE },
    { "verb=\"1\" step=\"8\"",
      "<session peerid=\"\"/><resource name=\"YQ==\" wait=\"1\" "
      "create=\"1\" lifespan=\"0\" reason=\"x\"/>",
      FALSE },
    /* first answer 1/16 */
    { "verb=\"1\" step=\"16\"",
      "<session peerid=\"\" ext=\"1\"/><answer rc=\"0\" id=\"1\" "
      "reason=\"x\"/>",
      TRUE },
    { "verb=\"1\" step=\"16\"",
      "<session peerid=\"\" timeout=\"2000\"/><answer rc=\"0\"/>", FALSE },
    { "verb=\"1\" step=\"16\"",
      "<session peerid=\"\" timeout=\"0\"/><answer rc=\"0\"/>", FALSE },
    { "verb=\"1\" step=\"16\"",
      "<session peerid=\"\"/><answer rc=\"0\" ext=\"1\"/>", FALSE },
    /* later and final answers */
    { "verb=\"1\" step=\"24\"", "<answer rc=\"8\" id=\"1\" reason=\"\"/>",
      TRUE },
    { "verb=\"1\" step=\"24\"",
      "<session peerid=\"\" ext=\"1\"/><answer rc=\"0\"/>", FALSE },
    { "verb=\"1\" step=\"32\"", "<answer rc=\"0\" id=\"1\"/>", TRUE },
    { "verb=\"1\" step=\"32\"", "<answer rc=\"0\" reason=\"x\"/>", FALSE },
    /* unlock 2/8 */
    { "verb=\"2\" step=\"8\"",
      "<resource name=\"YQ==\" rollback=\"0\" id=\"1\" />", TRUE },
    { "verb=\"2\" step=\"8\"",
      "<session peerid=\"\" ext=\"1\"/><resource name=\"YQ==\" "
      "rollback=\"0\" />",
      FALSE },
    { "verb=\"2\" step=\"8\"",
      "<resource name=\"YQ==\" rollback=\"0\" timeout=\"1\" />", FALSE },
    /* ping: an empty body, as always */
    { "verb=\"3\" step=\"8\"", "", TRUE },
    { "verb=\"3\" step=\"16\"", "", TRUE },
    { "verb=\"3\" step=\"8\"", "<answer rc=\"0\" id=\"1\"/>", FALSE },
    { "verb=\"3\" step=\"16\"", "<session peerid=\"\" ext=\"1\"/>", FALSE },
    /* discovery and management: none of them */
    { "verb=\"4\" step=\"16\"",
      "<network address=\"\" port=\"1\" id=\"1\"/>", FALSE },
    { "verb=\"5\" step=\"8\"",
      "<session peerid=\"\" ext=\"1\"/><shutdown immediate=\"0\"/>", FALSE },
    { "verb=\"5\" step=\"8\"",
      "<session peerid=\"\" timeout=\"1\"/><shutdown immediate=\"0\"/>",
      FALSE },
    { "verb=\"5\" step=\"8\"",
      "<session peerid=\"\"/><shutdown immediate=\"0\" id=\"1\"/>", FALSE },
    { "verb=\"5\" step=\"16\"",
      "<session peerid=\"\" ext=\"1\"/><answer rc=\"0\"/>", FALSE },
    { "verb=\"5\" step=\"16\"", "<answer rc=\"0\" id=\"1\"/>", FALSE },
    { "verb=\"5\" step=\"16\"", "<answer rc=\"0\" reason=\"x\"/>", FALSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *text
          = g_strdup_printf (XML_DECL "<msg level=\"3\" %s>%s</msg>",
                             cases[i].verb_step, cases[i].body);
      gsize len = strlen (text);

      note ("", text);
      if (cases[i].ok)
        {
          g_autoptr (LatchMsg) xml
              = decode_ok (latch_codec_xml_decode, text, len);
          g_autoptr (LatchMsg) lite
              = decode_ok (latch_codec_lite_decode, text, len);
          g_autofree char *again = encode (xml);

          assert_msg_equal (xml, lite);
          g_assert_cmpstr (again, ==, text);
        }
      else
        {
          decode_fails (latch_codec_xml_decode, text, len,
                        LATCH_PROTO_ERROR_UNEXPECTED);
          decode_fails (latch_codec_lite_decode, text, len,
                        LATCH_PROTO_ERROR_UNEXPECTED);
        }
    }
}

typedef struct
{
  const char *value;
  gboolean ok;
  gint64 parsed;
} RangeCase;

/* Decodes one message per case, the body being before + value + after,
 * by both decoders; checks the verdict and what field() reads. */
static void
check_ranges (const char *verb_step, const char *before, const char *after,
              const RangeCase *cases, gsize n,
              gint64 (*field) (const LatchMsg *msg))
{
  for (gsize i = 0; i < n; i++)
    {
      g_autofree char *body = g_strconcat (before, cases[i].value, after,
                                           NULL);
      g_autofree char *text = g_strdup_printf (
          XML_DECL "<msg level=\"3\" %s>%s</msg>", verb_step, body);
      gsize len = strlen (text);

      note ("", text);
      if (cases[i].ok)
        {
          g_autoptr (LatchMsg) xml
              = decode_ok (latch_codec_xml_decode, text, len);
          g_autoptr (LatchMsg) lite
              = decode_ok (latch_codec_lite_decode, text, len);

          assert_msg_equal (xml, lite);
          g_assert_cmpint (field (xml), ==, cases[i].parsed);
        }
      else
        {
          decode_fails (latch_codec_xml_decode, text, len,
                        LATCH_PROTO_ERROR_VALUE);
          decode_fails (latch_codec_lite_decode, text, len,
                        LATCH_PROTO_ERROR_VALUE);
        }
    }
}

static gint64
field_ext (const LatchMsg *msg)
{
  return msg->ext;
}

static gint64
field_timeout (const LatchMsg *msg)
{
  return msg->timeout;
}

static gint64
field_id (const LatchMsg *msg)
{
  return (gint64) msg->id;
}

static void
test_decode_session_ranges (void)
{
  static const RangeCase exts[] = {
    { "1", TRUE, 1 },     { "1000", TRUE, 1000 }, { "01", TRUE, 1 },
    { "0", FALSE, 0 },    { "-0", FALSE, 0 },     { "-1", FALSE, 0 },
    { "1001", FALSE, 0 }, { "+1", FALSE, 0 },     { " 1", FALSE, 0 },
    { "1 ", FALSE, 0 },   { "", FALSE, 0 },       { "0x1", FALSE, 0 },
    { "2147483648", FALSE, 0 },
    { "9223372036854775808", FALSE, 0 },
  };
  static const RangeCase timeouts[] = {
    { "0", TRUE, 0 },          { "-0", TRUE, 0 },
    { "1", TRUE, 1 },          { "2000", TRUE, 2000 },
    { "600000", TRUE, 600000 }, { "600001", FALSE, 0 },
    { "-1", FALSE, 0 },        { "+2000", FALSE, 0 },
    { " 2000", FALSE, 0 },     { "2000 ", FALSE, 0 },
    { "", FALSE, 0 },          { "2e3", FALSE, 0 },
    { "9223372036854775808", FALSE, 0 },
  };
  static const RangeCase ids[] = {
    { "1", TRUE, 1 },
    { "007", TRUE, 7 },
    { "9223372036854775807", TRUE, G_MAXINT64 },
    { "0", FALSE, 0 },
    { "-0", FALSE, 0 },
    { "-1", FALSE, 0 },
    { "9223372036854775808", FALSE, 0 },  /* 2^63 */
    { "18446744073709551615", FALSE, 0 }, /* 2^64 - 1 */
    { "18446744073709551616", FALSE, 0 }, /* 2^64 */
    { "99999999999999999999999", FALSE, 0 },
    { "+1", FALSE, 0 },
    { " 1", FALSE, 0 },
    { "1 ", FALSE, 0 },
    { "", FALSE, 0 },
    { "0x1", FALSE, 0 },
  };

  check_ranges ("verb=\"1\" step=\"8\"",
                "<session peerid=\"\" ext=\"", "\"/><resource name=\"YQ==\" "
                "wait=\"1\" create=\"1\" lifespan=\"0\"/>",
                exts, G_N_ELEMENTS (exts), field_ext);
  check_ranges ("verb=\"1\" step=\"16\"",
                "<session peerid=\"\" ext=\"", "\"/><answer rc=\"0\"/>", exts,
                G_N_ELEMENTS (exts), field_ext);
  check_ranges ("verb=\"1\" step=\"8\"",
                "<session peerid=\"\" ext=\"1\" timeout=\"", "\"/><resource "
                "name=\"YQ==\" wait=\"1\" create=\"1\" lifespan=\"0\"/>",
                timeouts, G_N_ELEMENTS (timeouts), field_timeout);
  check_ranges ("verb=\"1\" step=\"8\"",
                "<session peerid=\"\"/><resource name=\"YQ==\" wait=\"1\" "
                "create=\"1\" lifespan=\"0\" id=\"", "\"/>",
                ids, G_N_ELEMENTS (ids), field_id);
  check_ranges ("verb=\"2\" step=\"8\"",
                "<resource name=\"YQ==\" rollback=\"0\" id=\"", "\" />", ids,
                G_N_ELEMENTS (ids), field_id);
  check_ranges ("verb=\"1\" step=\"16\"",
                "<session peerid=\"\"/><answer rc=\"0\" id=\"", "\"/>", ids,
                G_N_ELEMENTS (ids), field_id);
  check_ranges ("verb=\"1\" step=\"24\"", "<answer rc=\"1\" id=\"", "\"/>", ids,
                G_N_ELEMENTS (ids), field_id);
  check_ranges ("verb=\"1\" step=\"32\"", "<answer rc=\"0\" id=\"", "\"/>", ids,
                G_N_ELEMENTS (ids), field_id);
}

/* The messages of a refused value name the attribute, its value and the
 * range, the same in both decoders. */
static void
test_decode_session_errors (void)
{
  static const ErrorCase cases[] = {
    { "<msg level=\"3\" verb=\"1\" step=\"16\"><session peerid=\"\" "
      "ext=\"0\"/><answer rc=\"0\"/></msg>",
      "attribute ext=0 on <session> is out of range 1..1000" },
    { "<msg level=\"3\" verb=\"1\" step=\"8\"><session peerid=\"\" "
      "timeout=\"600001\"/><resource name=\"YQ==\" wait=\"1\" create=\"1\" "
      "lifespan=\"0\"/></msg>",
      "attribute timeout=600001 on <session> is out of range 0..600000" },
    { "<msg level=\"3\" verb=\"1\" step=\"24\"><answer rc=\"0\" "
      "id=\"0\"/></msg>",
      "attribute id=0 on <answer> is out of range 1..9223372036854775807" },
    { "<msg level=\"3\" verb=\"2\" step=\"8\"><resource name=\"YQ==\" "
      "rollback=\"0\" id=\"-1\" /></msg>",
      "attribute id='-1' on <resource> is not an unsigned 64-bit number" },
    { "<msg level=\"3\" verb=\"5\" step=\"8\"><session peerid=\"\" "
      "ext=\"1\"/><shutdown immediate=\"0\"/></msg>",
      "<session> has attribute 'ext', which does not belong in a shutdown "
      "request" },
    { "<msg level=\"3\" verb=\"1\" step=\"32\"><answer rc=\"0\" "
      "reason=\"x\"/></msg>",
      "<answer> has attribute 'reason', which does not belong in a lock "
      "answer" },
  };

  assert_error_messages (cases, G_N_ELEMENTS (cases));
}

/* reason: a string attribute like element, one line, escaped. */
static void
test_decode_session_reason (void)
{
  g_autofree char *max = g_strnfill (LATCH_STRING_MAX, 'r');
  g_autofree char *over = g_strnfill (LATCH_STRING_MAX + 1, 'r');
  g_autofree char *body_max
      = g_strdup_printf ("<answer rc=\"7\" id=\"1\" reason=\"%s\"/>", max);
  g_autofree char *body_over
      = g_strdup_printf ("<answer rc=\"7\" id=\"1\" reason=\"%s\"/>", over);
  g_autoptr (LatchMsg) ok = decode_body ("verb=\"1\" step=\"24\"", body_max,
                                         TRUE);
  g_autoptr (LatchMsg) too_long = decode_body ("verb=\"1\" step=\"24\"",
                                               body_over, TRUE);
  g_autoptr (LatchMsg) escaped = decode_body (
      "verb=\"1\" step=\"24\"",
      "<answer rc=\"8\" reason=\"&lt;&amp;&gt; \xc3\xa9\"/>", TRUE);
  g_autoptr (LatchMsg) empty
      = decode_body ("verb=\"1\" step=\"24\"", "<answer rc=\"8\" reason=\"\"/>",
                     TRUE);
  /* A newline or a tab, only libxml2 reads character references. */
  g_autoptr (LatchMsg) newline = decode_body (
      "verb=\"1\" step=\"24\"", "<answer rc=\"8\" reason=\"a&#10;b\"/>", FALSE);
  g_autoptr (LatchMsg) tab = decode_body (
      "verb=\"1\" step=\"24\"", "<answer rc=\"8\" reason=\"a&#9;b\"/>", FALSE);

  g_assert_nonnull (ok);
  g_assert_cmpstr (ok->reason, ==, max);
  g_assert_null (too_long);
  g_assert_nonnull (escaped);
  g_assert_cmpstr (escaped->reason, ==, "<&> \xc3\xa9");
  g_assert_nonnull (empty);
  g_assert_cmpstr (empty->reason, ==, "");
  g_assert_null (newline);
  g_assert_null (tab);
}

/* timeout="0" offers no keepalive, which is what no timeout attribute
 * says: the same message, re-encoded without it (FLoM's bytes). */
static void
test_decode_session_timeout_zero (void)
{
  const char *with_zero
      = XML_DECL "<msg level=\"3\" verb=\"1\" step=\"8\"><session "
                 "peerid=\"3d1219c7c4c5404aaa1f6d2a48adfda4\" timeout=\"0\"/>"
                 "<resource name=\"X1JFU09VUkNF\" mode=\"5\" wait=\"1\" "
                 "create=\"1\" lifespan=\"0\"/></msg>";
  g_autoptr (GBytes) plain = load_data ("lock-request.xml");
  g_autoptr (LatchMsg) want = build_lock_request ();
  g_autoptr (LatchMsg) xml
      = decode_ok (latch_codec_xml_decode, with_zero, strlen (with_zero));
  g_autoptr (LatchMsg) lite
      = decode_ok (latch_codec_lite_decode, with_zero, strlen (with_zero));
  g_autofree char *again = encode (xml);
  g_autofree char *plain_str = NULL;
  gsize len;
  const char *data = g_bytes_get_data (plain, &len);

  g_assert_cmpint (xml->timeout, ==, 0);
  assert_msg_equal (xml, want);
  assert_msg_equal (lite, want);
  plain_str = g_strndup (data, len);
  g_assert_cmpstr (again, ==, plain_str);
}

/* The extension's fields at zero leave every message as FLoM writes it;
 * each one set adds exactly its attribute, in its place. */
static void
test_encode_session (void)
{
  g_autoptr (LatchMsg) req = build_lock_request ();
  g_autoptr (LatchMsg) unlock = build_unlock ();
  g_autoptr (LatchMsg) a24 = build_lock_answer_24 ();
  g_autoptr (LatchMsg) ping = build_ping_16 ();
  g_autofree char *e_req = NULL;
  g_autofree char *e_unlock = NULL;
  g_autofree char *e_a24 = NULL;
  g_autofree char *e_ping = NULL;

  req->timeout = 2000;
  req->id = 3;
  e_req = encode (req);
  g_assert_cmpstr (e_req, ==,
                   XML_DECL "<msg level=\"3\" verb=\"1\" step=\"8\"><session "
                   "peerid=\"" PEERID "\" timeout=\"2000\"/><resource "
                   "name=\"X1JFU09VUkNF\" mode=\"5\" wait=\"1\" create=\"1\" "
                   "lifespan=\"0\" id=\"3\"/></msg>");
  unlock->id = LATCH_ID_MAX;
  e_unlock = encode (unlock);
  g_assert_cmpstr (e_unlock, ==,
                   XML_DECL "<msg level=\"3\" verb=\"2\" step=\"8\"><resource "
                   "name=\"X1JFU09VUkNF\" rollback=\"0\" "
                   "id=\"9223372036854775807\" /></msg>");
  a24->reason = g_strdup ("a\"b");
  e_a24 = encode (a24);
  g_assert_cmpstr (e_a24, ==,
                   XML_DECL "<msg level=\"3\" verb=\"1\" step=\"24\"><answer "
                   "rc=\"0\" reason=\"a&quot;b\"/></msg>");
  e_ping = encode (ping);
  g_assert_cmpstr (e_ping, ==,
                   XML_DECL "<msg level=\"3\" verb=\"3\" step=\"16\"></msg>");
}

/* ---- robustness -------------------------------------------------------- */

/* The daemon's decoder gives what libxml2 gave (xml, or xml_error):
 * the same message, or the same error code and text. */
static void
check_daemon_decoder (const char *buf, gsize len, const LatchMsg *xml,
                      const GError *xml_error)
{
  g_autoptr (LatchMsg) msg = NULL;
  g_autoptr (GError) error = NULL;
  gboolean ok = latch_codec_decode (buf, len, &msg, &error);

  g_assert_true (ok == (msg != NULL));
  g_assert_true (ok == (error == NULL));
  if (xml != NULL)
    {
      if (!ok)
        g_error ("libxml2 accepts, the daemon's decoder refuses (%s):\n%.*s",
                 error->message, (int) len, buf);
      assert_msg_equal (msg, xml);
    }
  else
    {
      if (ok)
        g_error ("libxml2 refuses (%s), the daemon's decoder accepts:\n%.*s",
                 xml_error->message, (int) len, buf);
      g_assert_error (error, xml_error->domain, xml_error->code);
      g_assert_cmpstr (error->message, ==, xml_error->message);
    }
}

/* The invariants that the fuzz target checks too: lite accepts ⇒ libxml2
 * accepts the same; anything libxml2 accepts re-encodes to bytes both
 * decoders take back unchanged. */
static void
check_invariants (const char *buf, gsize len)
{
  g_autoptr (LatchMsg) xml = NULL;
  g_autoptr (LatchMsg) lite = NULL;
  g_autoptr (GError) xml_error = NULL;
  g_autoptr (GError) lite_error = NULL;
  gboolean xml_ok = latch_codec_xml_decode (buf, len, &xml, &xml_error);
  gboolean lite_ok = latch_codec_lite_decode (buf, len, &lite, &lite_error);

  g_assert_true (xml_ok == (xml != NULL));
  g_assert_true (xml_ok == (xml_error == NULL));
  g_assert_true (lite_ok == (lite != NULL));
  g_assert_true (lite_ok == (lite_error == NULL));
  check_daemon_decoder (buf, len, xml, xml_error);
  if (lite_ok)
    {
      if (!xml_ok)
        g_error ("lite accepts, libxml2 refuses (%s):\n%.*s",
                 xml_error->message, (int) len, buf);
      assert_msg_equal (xml, lite);
    }
  if (xml_ok)
    {
      g_autofree char *text = encode (xml);
      g_autoptr (LatchMsg) xml2
          = decode_ok (latch_codec_xml_decode, text, strlen (text));
      g_autoptr (LatchMsg) lite2
          = decode_ok (latch_codec_lite_decode, text, strlen (text));

      assert_msg_equal (xml2, xml);
      assert_msg_equal (lite2, xml);
    }
}

static void
test_decode_truncated (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (goldens); i++)
    {
      g_autoptr (GBytes) bytes = load_data (goldens[i].file);
      gsize len;
      const char *data = g_bytes_get_data (bytes, &len);

      for (gsize n = 0; n < len; n++)
        {
          /* A copy of exactly n bytes, so that ASan sees overreads. */
          g_autofree char *prefix = g_memdup2 (data, n);

          decode_fails (latch_codec_xml_decode, prefix, n, -1);
          decode_fails (latch_codec_lite_decode, prefix, n, -1);
        }
    }
}

static void
test_decode_flips (void)
{
  static const guint8 replacements[]
      = { 0x00, ' ', '<', '>', '"', '\'', '&', '/', '=', '0', '9', '-',
          'A', '=', '!', '?', '\n', 0x80, 0xff };

  for (gsize i = 0; i < G_N_ELEMENTS (goldens); i++)
    {
      g_autoptr (GBytes) bytes = load_data (goldens[i].file);
      gsize len;
      const char *data = g_bytes_get_data (bytes, &len);
      g_autofree char *copy = g_memdup2 (data, len);

      for (gsize pos = 0; pos < len; pos++)
        {
          for (int bit = 0; bit < 8; bit++)
            {
              copy[pos] = (char) (data[pos] ^ (1 << bit));
              check_invariants (copy, len);
            }
          for (gsize r = 0; r < G_N_ELEMENTS (replacements); r++)
            {
              copy[pos] = (char) replacements[r];
              check_invariants (copy, len);
            }
          copy[pos] = data[pos];
          /* Deleting the byte. */
          {
            g_autofree char *cut = g_malloc (len - 1 + 1);

            memcpy (cut, data, pos);
            memcpy (cut + pos, data + pos + 1, len - pos - 1);
            check_invariants (cut, len - 1);
          }
        }
    }
}

/* Random mutations of the golden messages, several bytes at a time. */
static void
test_decode_random (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (goldens); i++)
    {
      g_autoptr (GBytes) bytes = load_data (goldens[i].file);
      gsize len;
      const char *data = g_bytes_get_data (bytes, &len);

      for (int n = 0; n < 500; n++)
        {
          g_autofree char *copy = g_memdup2 (data, len);
          int changes = g_test_rand_int_range (1, 4);

          for (int c = 0; c < changes; c++)
            copy[g_test_rand_int_range (0, (gint32) len)]
                = (char) g_test_rand_int_range (0, 256);
          check_invariants (copy, len);
        }
    }
}

/* Without latch-xml.so, the daemon's decoder still reads the canonical
 * form (the lite decoder needs no module), and refuses anything else with
 * an error naming the module.  In a child, so that the module is not
 * already loaded. */
static void
test_decode_without_module (void)
{
  if (g_test_subprocess ())
    {
      static const char noncanonical[]
          = "<?xml version=\"1.0\"?><msg level=\"3\" verb=\"3\" step=\"8\"></msg>";
      static const char canonical[]
          = XML_DECL "<msg level=\"3\" verb=\"3\" step=\"8\"></msg>";
      g_autoptr (LatchMsg) msg = NULL;
      g_autoptr (GError) error = NULL;

      g_setenv ("LATCH_XML_MODULE", "/nonexistent/latch-xml.so", TRUE);
      g_assert_true (latch_codec_decode (flom_answer_16, strlen (flom_answer_16),
                                         &msg, &error));
      g_assert_no_error (error);
      g_clear_pointer (&msg, latch_msg_free);
      g_assert_true (latch_codec_decode (canonical, strlen (canonical), &msg,
                                         &error));
      g_assert_cmpint (msg->kind, ==, LATCH_MSG_PING);
      g_clear_pointer (&msg, latch_msg_free);
      g_assert_false (latch_codec_decode (noncanonical, strlen (noncanonical),
                                          &msg, &error));
      g_assert_null (msg);
      g_assert_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_MALFORMED);
      g_assert_nonnull (strstr (error->message, "/nonexistent/latch-xml.so"));
      g_assert_nonnull (strstr (error->message, "$LATCH_XML_MODULE"));
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

/* ---- status (verb 6) ------------------------------------------------------ */

static void
assert_line (const char *text, const char *want)
{
  g_autoptr (LatchMsg) msg = latch_msg_new (LATCH_MSG_STATUS_LINES, 24);

  latch_msg_add_line (msg, text);
  g_assert_cmpuint (msg->lines->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (msg->lines, 0), ==, want);
  g_assert_true (latch_msg_check (msg, NULL));
}

/* latch_msg_add_line() makes any text fit to travel: control characters
 * and invalid UTF-8 become '?', a long line is cut on a character
 * boundary with "...", and the longest line, escaped, still fits in one
 * message that both decoders read back. */
static void
test_status_add_line (void)
{
  g_autofree char *exact = g_strnfill (LATCH_STRING_MAX, 'x');
  g_autofree char *over = g_strnfill (LATCH_STRING_MAX + 1, 'x');
  g_autofree char *kept = g_strnfill (LATCH_STRING_MAX - 3, 'x');
  g_autofree char *cut = g_strconcat (kept, "...", NULL);
  g_autoptr (GString) accents = g_string_new (NULL);
  g_autofree char *quotes = g_strnfill (LATCH_STRING_MAX, '"');
  g_autoptr (LatchMsg) msg = latch_msg_new (LATCH_MSG_STATUS_LINES, 24);
  g_autofree char *text = NULL;
  g_autoptr (LatchMsg) xml = NULL;
  g_autoptr (LatchMsg) lite = NULL;
  const char *accented;

  assert_line ("plain", "plain");
  assert_line ("", "");
  assert_line ("a\tb\nc\x01\x7f" "d", "a?b?c??d");
  assert_line ("\xff" "a\xc3", "?a?");
  assert_line ("\xc3\xa9\xe2\x82\xac", "\xc3\xa9\xe2\x82\xac");
  assert_line (exact, exact);
  assert_line (over, cut);

  for (int i = 0; i < 600; i++)
    g_string_append (accents, "\xc3\xa9");
  g_assert_true (latch_msg_check (msg, NULL) == FALSE);
  latch_msg_add_line (msg, accents->str);
  accented = g_ptr_array_index (msg->lines, 0);
  g_assert_cmpuint (strlen (accented), <=, LATCH_STRING_MAX);
  g_assert_true (g_utf8_validate (accented, -1, NULL));
  g_assert_true (g_str_has_suffix (accented, "\xc3\xa9..."));

  latch_msg_add_line (msg, quotes);
  g_assert_true (latch_msg_check (msg, NULL));
  text = encode (msg);
  g_assert_cmpuint (strlen (text), <=, LATCH_MSG_MAX_SIZE);
  xml = decode_ok (latch_codec_xml_decode, text, strlen (text));
  lite = decode_ok (latch_codec_lite_decode, text, strlen (text));
  assert_msg_equal (xml, msg);
  assert_msg_equal (lite, msg);
}

/* What each status kind may carry, built in code and decoded. */
static void
test_status_check (void)
{
  g_autoptr (GError) error = NULL;

  {
    /* Only `what` is required; port="0" is no port. */
    g_autoptr (LatchMsg) req = latch_msg_new (LATCH_MSG_STATUS_REQUEST, 8);
    g_autofree char *text = NULL;

    g_assert_false (latch_msg_check (req, &error));
    g_assert_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED);
    g_assert_nonnull (strstr (error->message, "'what'"));
    g_clear_error (&error);
    req->status_what = g_strdup ("names");
    g_assert_true (latch_msg_check (req, &error));
    g_assert_no_error (error);
    text = encode (req);
    g_assert_nonnull (strstr (text, "<status what=\"names\"/>"));
    req->port = 65536;
    g_assert_false (latch_msg_check (req, &error));
    g_assert_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_VALUE);
    g_clear_error (&error);
    req->port = 1;
    req->status_what[0] = '\t';
    g_assert_false (latch_msg_check (req, &error));
    g_assert_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_VALUE);
    g_clear_error (&error);
  }
  {
    /* Lines: at least one. */
    g_autoptr (LatchMsg) lines = latch_msg_new (LATCH_MSG_STATUS_LINES, 24);

    g_assert_false (latch_msg_check (lines, &error));
    g_assert_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED);
    g_assert_nonnull (strstr (error->message, "<line>"));
    g_clear_error (&error);
    lines->lines = g_ptr_array_new_with_free_func (g_free);
    g_assert_false (latch_msg_check (lines, &error));
    g_clear_error (&error);
  }
  {
    /* The final answer: rc and a reason, nothing else. */
    g_autoptr (LatchMsg) end = build_status_end ();

    g_assert_true (latch_msg_check (end, &error));
    end->element = g_strdup ("x");
    g_assert_false (latch_msg_check (end, &error));
    g_assert_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_UNEXPECTED);
    g_clear_error (&error);
    g_clear_pointer (&end->element, g_free);
    end->has_fence = TRUE;
    g_assert_false (latch_msg_check (end, &error));
    g_clear_error (&error);
    end->has_fence = FALSE;
    end->id = 3;
    g_assert_false (latch_msg_check (end, &error));
    g_clear_error (&error);
  }
}

/* Where status elements may and may not stand, on the wire. */
static void
test_status_decode (void)
{
  static const struct
  {
    const char *verb_step;
    const char *body;
    gboolean ok;
  } cases[] = {
    { "verb=\"6\" step=\"8\"", "<status what=\"text\"/>", TRUE },
    { "verb=\"6\" step=\"8\"", "<status what=\"\"/>", TRUE },
    { "verb=\"6\" step=\"8\"", "", FALSE },
    { "verb=\"6\" step=\"8\"", "<status/>", FALSE },
    { "verb=\"6\" step=\"8\"", "<status what=\"a\"/><status what=\"b\"/>",
      FALSE },
    { "verb=\"6\" step=\"8\"", "<status what=\"a\" resource=\"backup\"/>",
      FALSE },
    { "verb=\"6\" step=\"8\"", "<status what=\"a\" resource=\"\"/>", FALSE },
    { "verb=\"6\" step=\"8\"", "<status what=\"a\" port=\"0\"/>", FALSE },
    { "verb=\"6\" step=\"8\"", "<status what=\"a\" port=\"65535\"/>", TRUE },
    { "verb=\"6\" step=\"8\"", "<status what=\"a\" id=\"0\"/>", FALSE },
    { "verb=\"6\" step=\"8\"", "<status what=\"a\" name=\"YQ==\"/>", FALSE },
    { "verb=\"6\" step=\"8\"", "<status what=\"a\"/><line text=\"x\"/>",
      FALSE },
    { "verb=\"6\" step=\"8\"", "<session peerid=\"p\"/><status what=\"a\"/>",
      TRUE },
    { "verb=\"6\" step=\"8\"",
      "<session peerid=\"p\" ext=\"1\"/><status what=\"a\"/>", FALSE },
    { "verb=\"6\" step=\"8\"", "<session peerid=\"p\"/>", FALSE },
    { "verb=\"6\" step=\"16\"", "<answer rc=\"0\"/>", FALSE },
    { "verb=\"6\" step=\"24\"", "<line text=\"x\"/>", TRUE },
    { "verb=\"6\" step=\"24\"", "", FALSE },
    { "verb=\"6\" step=\"24\"", "<line text=\"x\"/><line/>", FALSE },
    { "verb=\"6\" step=\"24\"", "<line/><line text=\"x\"/>", FALSE },
    { "verb=\"6\" step=\"24\"", "<line text=\"x\" what=\"y\"/>", FALSE },
    { "verb=\"6\" step=\"24\"", "<line text=\"a&#9;b\"/>", FALSE },
    { "verb=\"6\" step=\"24\"", "<line text=\"x\"/><answer rc=\"0\"/>",
      FALSE },
    { "verb=\"6\" step=\"32\"", "<answer rc=\"1\"/>", TRUE },
    { "verb=\"6\" step=\"32\"", "<answer rc=\"2\" reason=\"r\"/>", TRUE },
    { "verb=\"6\" step=\"32\"", "<answer rc=\"2\" element=\"r\"/>", FALSE },
    { "verb=\"6\" step=\"32\"", "<line text=\"x\"/>", FALSE },
    { "verb=\"1\" step=\"24\"", "<answer rc=\"0\"/><line text=\"x\"/>", FALSE },
    { "verb=\"1\" step=\"8\"", "<status what=\"text\"/>", FALSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (LatchMsg) msg = NULL;

      note ("body: ", cases[i].body);
      msg = decode_body (cases[i].verb_step, cases[i].body, TRUE);
      g_assert_true ((msg != NULL) == cases[i].ok);
    }

  /* Many lines, in order, with what needs escaping; the libxml2 decoder
   * also reads them in another spelling (single quotes, spaces). */
  {
    g_autoptr (LatchMsg) lite = decode_body (
        "verb=\"6\" step=\"24\"",
        "<line text=\"1 &lt;a&gt;\"/><line text=\"2 &quot;&amp;&apos;\"/>"
        "<line text=\"3 \xc3\xa9\"/>",
        TRUE);
    g_autoptr (LatchMsg) xml_only = decode_body (
        "verb=\"6\" step=\"24\"",
        "<line  text='1 &lt;a>' /> <line text=\"2 &quot;&amp;'\"/>"
        "<line text=\"3 &#xe9;\"/>",
        FALSE);

    g_assert_nonnull (lite);
    g_assert_cmpuint (lite->lines->len, ==, 3);
    g_assert_cmpstr (g_ptr_array_index (lite->lines, 0), ==, "1 <a>");
    g_assert_cmpstr (g_ptr_array_index (lite->lines, 1), ==, "2 \"&'");
    g_assert_cmpstr (g_ptr_array_index (lite->lines, 2), ==, "3 \xc3\xa9");
    g_assert_nonnull (xml_only);
    assert_msg_equal (xml_only, lite);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/proto/encode/golden", test_encode_golden);
  g_test_add_func ("/proto/encode/flom", test_encode_flom);
  g_test_add_func ("/proto/encode/appends", test_encode_appends);
  g_test_add_func ("/proto/check/constructed", test_check_constructed);
  g_test_add_func ("/proto/decode/golden", test_decode_golden);
  g_test_add_func ("/proto/decode/flom", test_decode_flom);
  g_test_add_func ("/proto/decode/invalid", test_decode_invalid);
  g_test_add_func ("/proto/decode/billion-laughs", test_decode_billion_laughs);
  g_test_add_func ("/proto/decode/level-first", test_decode_level_first);
  g_test_add_func ("/proto/decode/noncanonical", test_decode_noncanonical);
  g_test_add_func ("/proto/decode/error-messages", test_decode_error_messages);
  g_test_add_func ("/proto/decode/values", test_decode_values);
  g_test_add_func ("/proto/decode/fence", test_decode_fence);
  g_test_add_func ("/proto/decode/booleans", test_decode_booleans);
  g_test_add_func ("/proto/decode/base64", test_decode_base64);
  g_test_add_func ("/proto/decode/name-length", test_decode_name_length);
  g_test_add_func ("/proto/decode/strings", test_decode_strings);
  g_test_add_func ("/proto/decode/ranges", test_decode_ranges);
  g_test_add_func ("/proto/decode/xml-only", test_decode_xml_only);
  g_test_add_func ("/proto/decode/xml-refused", test_decode_xml_refused);
  g_test_add_func ("/proto/decode/oversize", test_decode_oversize);
  g_test_add_func ("/proto/decode/truncated", test_decode_truncated);
  g_test_add_func ("/proto/decode/flips", test_decode_flips);
  g_test_add_func ("/proto/decode/random", test_decode_random);
  g_test_add_func ("/proto/round-trip/random", test_round_trip);
  g_test_add_func ("/proto/round-trip/all-bytes", test_round_trip_all_bytes);
  g_test_add_func ("/proto/decode/without-module", test_decode_without_module);
  g_test_add_func ("/proto/session/check", test_check_session);
  g_test_add_func ("/proto/session/encode", test_encode_session);
  g_test_add_func ("/proto/session/placement", test_decode_session_placement);
  g_test_add_func ("/proto/session/ranges", test_decode_session_ranges);
  g_test_add_func ("/proto/session/errors", test_decode_session_errors);
  g_test_add_func ("/proto/session/reason", test_decode_session_reason);
  g_test_add_func ("/proto/session/timeout-zero",
                   test_decode_session_timeout_zero);
  g_test_add_func ("/proto/status/add-line", test_status_add_line);
  g_test_add_func ("/proto/status/check", test_status_check);
  g_test_add_func ("/proto/status/decode", test_status_decode);

  return g_test_run ();
}
