/* test-json-writer.c: the status document's JSON writer: commas, nesting,
 * escaping, and valid output for any input bytes. */
#include "config.h"

#include "common/json-writer.h"

#include <string.h>

/* s as one JSON string value. */
static char *
string_json (const char *s)
{
  g_autoptr (GString) out = g_string_new (NULL);

  latch_json_append_string (out, s);
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static void
test_empty_containers (void)
{
  g_autoptr (LatchJsonWriter) w = latch_json_writer_new ();

  latch_json_writer_begin_object (w);
  latch_json_writer_member (w, "o");
  latch_json_writer_begin_object (w);
  latch_json_writer_end_object (w);
  latch_json_writer_member (w, "a");
  latch_json_writer_begin_array (w);
  latch_json_writer_end_array (w);
  latch_json_writer_end_object (w);
  g_assert_cmpstr (latch_json_writer_get_text (w), ==, "{\"o\":{},\"a\":[]}");
}

static void
test_nesting_and_commas (void)
{
  g_autoptr (LatchJsonWriter) w = latch_json_writer_new ();

  latch_json_writer_begin_object (w);
  latch_json_writer_member (w, "version");
  latch_json_writer_int (w, 1);
  latch_json_writer_member (w, "list");
  latch_json_writer_begin_array (w);
  latch_json_writer_int (w, 1);
  latch_json_writer_null (w);
  latch_json_writer_boolean (w, TRUE);
  latch_json_writer_boolean (w, FALSE);
  latch_json_writer_string (w, "x");
  latch_json_writer_begin_object (w);
  latch_json_writer_member (w, "k");
  latch_json_writer_begin_array (w);
  latch_json_writer_begin_array (w);
  latch_json_writer_end_array (w);
  latch_json_writer_begin_array (w);
  latch_json_writer_int (w, 2);
  latch_json_writer_end_array (w);
  latch_json_writer_end_array (w);
  latch_json_writer_member (w, "e");
  latch_json_writer_null (w);
  latch_json_writer_end_object (w);
  latch_json_writer_begin_object (w);
  latch_json_writer_end_object (w);
  latch_json_writer_end_array (w);
  latch_json_writer_member (w, "last");
  latch_json_writer_string (w, "");
  latch_json_writer_end_object (w);
  g_assert_cmpstr (latch_json_writer_get_text (w), ==,
                   "{\"version\":1,\"list\":[1,null,true,false,\"x\","
                   "{\"k\":[[],[2]],\"e\":null},{}],\"last\":\"\"}");
}

static void
test_int64_extremes (void)
{
  g_autoptr (LatchJsonWriter) w = latch_json_writer_new ();

  latch_json_writer_begin_array (w);
  latch_json_writer_int (w, G_MININT64);
  latch_json_writer_int (w, G_MAXINT64);
  latch_json_writer_int (w, 0);
  latch_json_writer_int (w, -1);
  latch_json_writer_end_array (w);
  g_assert_cmpstr (latch_json_writer_get_text (w), ==,
                   "[-9223372036854775808,9223372036854775807,0,-1]");
}

/* Every byte below 0x20 (and DEL, as json-glib wrote it) is escaped, with
 * the short escapes where JSON has them; nothing else printable is. */
static void
test_control_characters (void)
{
  static const char *const expected[0x20] = {
    NULL,      "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006",
    "\\u0007", "\\b",     "\\t",     "\\n",     "\\u000b", "\\f",     "\\r",
    "\\u000e", "\\u000f", "\\u0010", "\\u0011", "\\u0012", "\\u0013", "\\u0014",
    "\\u0015", "\\u0016", "\\u0017", "\\u0018", "\\u0019", "\\u001a", "\\u001b",
    "\\u001c", "\\u001d", "\\u001e", "\\u001f",
  };

  for (int c = 1; c < 0x20; c++)
    {
      char in[] = { 'a', (char)c, 'b', '\0' };
      g_autofree char *want = g_strdup_printf ("\"a%sb\"", expected[c]);
      g_autofree char *got = string_json (in);

      g_assert_cmpstr (got, ==, want);
    }
  {
    g_autofree char *got = string_json ("\x7f");

    g_assert_cmpstr (got, ==, "\"\\u007f\"");
  }
  for (int c = 0x20; c < 0x7f; c++)
    {
      char in[] = { (char)c, '\0' };
      g_autofree char *got = string_json (in);

      if (c == '"' || c == '\\')
        continue;
      g_assert_cmpint (strlen (got), ==, 3);
      g_assert_cmpint (got[1], ==, c);
    }
}

static void
test_quote_backslash (void)
{
  g_autofree char *got = string_json ("say \"hi\" \\o/ C:\\\\");

  g_assert_cmpstr (got, ==, "\"say \\\"hi\\\" \\\\o/ C:\\\\\\\\\"");
}

static void
test_member_names_escaped (void)
{
  g_autoptr (LatchJsonWriter) w = latch_json_writer_new ();

  latch_json_writer_begin_object (w);
  latch_json_writer_member (w, "a\"b\n");
  latch_json_writer_int (w, 1);
  latch_json_writer_end_object (w);
  g_assert_cmpstr (latch_json_writer_get_text (w), ==, "{\"a\\\"b\\n\":1}");
}

static void
test_utf8_kept (void)
{
  /* 2-, 3- and 4-byte sequences, U+2028 (valid in JSON strings) and a
   * C1 control (not a JSON control character) pass unchanged. */
  const char *in = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xe2\x80\xa8\xc2\x85";
  g_autofree char *want = g_strdup_printf ("\"%s\"", in);
  g_autofree char *got = string_json (in);

  g_assert_cmpstr (got, ==, want);
}

static void
test_invalid_utf8_replaced (void)
{
  static const struct
  {
    const char *in;
    const char *want;
  } cases[] = {
    /* A lone continuation byte, a truncated sequence, a byte never valid,
     * an overlong '/', a UTF-16 surrogate. */
    { "a\x80z", "\"a\xef\xbf\xbdz\"" },
    { "a\xe2\x82", "\"a\xef\xbf\xbd\xef\xbf\xbd\"" },
    { "\xff", "\"\xef\xbf\xbd\"" },
    { "\xc0\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\"" },
    { "\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *got = string_json (cases[i].in);

      g_assert_true (g_utf8_validate (got, -1, NULL));
      g_assert_cmpstr (got, ==, cases[i].want);
    }
}

/* Random bytes always give a valid string token: valid UTF-8, quotes at
 * both ends only, no raw control character. */
static void
test_random_bytes (void)
{
  for (int round = 0; round < 2000; round++)
    {
      char in[64];
      int len = g_test_rand_int_range (0, sizeof in);
      g_autofree char *got = NULL;
      gsize n;

      for (int i = 0; i < len; i++)
        in[i] = (char)g_test_rand_int_range (1, 256);
      in[len] = '\0';
      got = string_json (in);
      n = strlen (got);
      g_assert_true (g_utf8_validate (got, -1, NULL));
      g_assert_cmpint (n, >=, 2);
      g_assert_cmpint (got[0], ==, '"');
      g_assert_cmpint (got[n - 1], ==, '"');
      for (gsize i = 1; i + 1 < n; i++)
        {
          g_assert_cmpint ((guchar)got[i], >=, 0x20);
          if (got[i] == '\\')
            i++; /* the escaped character */
          else
            g_assert_cmpint (got[i], !=, '"');
        }
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/json-writer/empty-containers", test_empty_containers);
  g_test_add_func ("/json-writer/nesting-and-commas", test_nesting_and_commas);
  g_test_add_func ("/json-writer/int64-extremes", test_int64_extremes);
  g_test_add_func ("/json-writer/control-characters", test_control_characters);
  g_test_add_func ("/json-writer/quote-backslash", test_quote_backslash);
  g_test_add_func ("/json-writer/member-names-escaped", test_member_names_escaped);
  g_test_add_func ("/json-writer/utf8-kept", test_utf8_kept);
  g_test_add_func ("/json-writer/invalid-utf8-replaced", test_invalid_utf8_replaced);
  g_test_add_func ("/json-writer/random-bytes", test_random_bytes);
  return g_test_run ();
}
