/* test-rsrc-name.c: resource name grammar and type detection. */
#include "config.h"

#include "locker/rsrc-name.h"

#include "common/error.h"

#include <string.h>

typedef struct
{
  const char *name;
  LatchRsrcType type;
} NameCase;

/* The examples of spec/resources.md, plus the edges of each rule. */
static const NameCase name_cases[] = {
  /* simple */
  { "abc", LATCH_RSRC_SIMPLE },
  { "_RESOURCE", LATCH_RSRC_SIMPLE },
  { "A", LATCH_RSRC_SIMPLE },
  { "a1B2c3", LATCH_RSRC_SIMPLE },
  { "Z9", LATCH_RSRC_SIMPLE },
  /* numeric */
  { "foo[2]", LATCH_RSRC_NUMERIC },
  { "foo[0]", LATCH_RSRC_NUMERIC },
  { "a[007]", LATCH_RSRC_NUMERIC },
  { "x1[2147483647]", LATCH_RSRC_NUMERIC },
  { "x[00000000000002147483647]", LATCH_RSRC_NUMERIC },
  /* set */
  { "red.green.blue", LATCH_RSRC_SET },
  { "a.b", LATCH_RSRC_SET },
  { "red.red", LATCH_RSRC_SET },
  /* hierarchical */
  { "/a b/c.d", LATCH_RSRC_HIER },
  { "/a", LATCH_RSRC_HIER },
  { "/a/b/c", LATCH_RSRC_HIER },
  { "/_x.y/-z/[1]", LATCH_RSRC_HIER },
  { "/\xc3\xa9t\xc3\xa9/\xe2\x82\xac", LATCH_RSRC_HIER },
  { "/ ", LATCH_RSRC_HIER },
  /* sequence */
  { "_s_x[1]", LATCH_RSRC_SEQUENCE },
  { "_S_x[1]", LATCH_RSRC_SEQUENCE },
  { "_s_abc9[0]", LATCH_RSRC_SEQUENCE },
  /* timestamp */
  { "_t_a\\%S[1]", LATCH_RSRC_TIMESTAMP },
  { "_t_tmstmp%S#f[1]", LATCH_RSRC_TIMESTAMP },
  { "_t_foo.%D.%T[4]", LATCH_RSRC_TIMESTAMP },
  { "_t_bar:%S#fff[1]", LATCH_RSRC_TIMESTAMP },
  { "_t_%S[1]", LATCH_RSRC_TIMESTAMP },
  { "_t_#f[1]", LATCH_RSRC_TIMESTAMP },
  { "_t_a[1]", LATCH_RSRC_TIMESTAMP },
  /* invalid */
  { "", LATCH_RSRC_INVALID },
  { "abc\n!!", LATCH_RSRC_INVALID },  /* FLoM: simple (REG_NEWLINE) */
  { "big[99999999999]", LATCH_RSRC_INVALID }, /* FLoM: wraps */
  { "x[2147483648]", LATCH_RSRC_INVALID },
  { "_s_x[2147483648]", LATCH_RSRC_INVALID },
  { "_t_%S[99999999999]", LATCH_RSRC_INVALID },
  { "/a\\b", LATCH_RSRC_INVALID },
  { "1abc", LATCH_RSRC_INVALID },
  { "a-b", LATCH_RSRC_INVALID },
  { "a b", LATCH_RSRC_INVALID },
  { "a.", LATCH_RSRC_INVALID },
  { ".a", LATCH_RSRC_INVALID },
  { "a..b", LATCH_RSRC_INVALID },
  { "a.b.", LATCH_RSRC_INVALID },
  { "a.1", LATCH_RSRC_INVALID },
  { "a.b[1]", LATCH_RSRC_INVALID },
  { "/", LATCH_RSRC_INVALID },
  { "//a", LATCH_RSRC_INVALID },
  { "/a/", LATCH_RSRC_INVALID },
  { "/a//b", LATCH_RSRC_INVALID },
  { "/a\nb", LATCH_RSRC_INVALID },
  { "/a\tb", LATCH_RSRC_INVALID },
  { "/a\x7f", LATCH_RSRC_INVALID },
  { "a/b", LATCH_RSRC_INVALID },
  { "_x_a[1]", LATCH_RSRC_INVALID },
  { "_s_x", LATCH_RSRC_INVALID },
  { "_s_x[]", LATCH_RSRC_INVALID },
  { "_s_1x[1]", LATCH_RSRC_INVALID },
  { "_s_[1]", LATCH_RSRC_INVALID },
  { "_T_a[1]", LATCH_RSRC_INVALID },
  { "_t_[1]", LATCH_RSRC_INVALID },
  { "_t_1a[1]", LATCH_RSRC_INVALID },
  { "_t_.a[1]", LATCH_RSRC_INVALID },
  { "_t_a b[1]", LATCH_RSRC_INVALID },
  { "_t_a/b[1]", LATCH_RSRC_INVALID },
  { "_t_%S", LATCH_RSRC_INVALID },
  { "_RESOURCEX", LATCH_RSRC_INVALID },
  { "_resource", LATCH_RSRC_INVALID },
  { "_", LATCH_RSRC_INVALID },
  { "[1]", LATCH_RSRC_INVALID },
  { "a[]", LATCH_RSRC_INVALID },
  { "a[-1]", LATCH_RSRC_INVALID },
  { "a[+1]", LATCH_RSRC_INVALID },
  { "a[1", LATCH_RSRC_INVALID },
  { "a1]", LATCH_RSRC_INVALID },
  { "a[1][2]", LATCH_RSRC_INVALID },
  { "a[ 1]", LATCH_RSRC_INVALID },
  { "abc\t", LATCH_RSRC_INVALID },
  { "a\x7f", LATCH_RSRC_INVALID },
  { "\xc3\xa9", LATCH_RSRC_INVALID },
  { "abc ", LATCH_RSRC_INVALID },
};

static void
test_classify_table (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (name_cases); i++)
    {
      const NameCase *c = &name_cases[i];
      g_autoptr (GError) error = NULL;
      LatchRsrcType type = LATCH_RSRC_INVALID;
      g_autofree char *escaped = g_strescape (c->name, NULL);
      gboolean ok;

      g_test_message ("name '%s'", escaped);
      g_assert_cmpint (latch_rsrc_name_classify (c->name, strlen (c->name)),
                       ==, c->type);
      ok = latch_rsrc_name_check (c->name, &type, &error);
      if (c->type == LATCH_RSRC_INVALID)
        {
          g_assert_false (ok);
          g_assert_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_NAME);
          g_assert_null (strchr (error->message, '\n'));
        }
      else
        {
          g_assert_no_error (error);
          g_assert_true (ok);
          g_assert_cmpint (type, ==, c->type);
        }
    }
}

static char *
repeat (char c, gsize n)
{
  char *s = g_malloc (n + 1);

  memset (s, c, n);
  s[n] = '\0';
  return s;
}

static void
test_classify_length (void)
{
  g_autofree char *max = repeat ('a', 2048);
  g_autofree char *over = repeat ('a', 2049);
  g_autofree char *hier = repeat ('/', 2049);
  g_autoptr (GError) error = NULL;
  LatchRsrcType type;

  g_assert_cmpint (latch_rsrc_name_classify (max, 2048), ==,
                   LATCH_RSRC_SIMPLE);
  g_assert_cmpint (latch_rsrc_name_classify (over, 2049), ==,
                   LATCH_RSRC_INVALID);
  g_assert_true (latch_rsrc_name_check (max, &type, NULL));
  g_assert_false (latch_rsrc_name_check (over, &type, &error));
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_NAME);
  g_assert_nonnull (strstr (error->message, "2049"));
  g_assert_nonnull (strstr (error->message, "2048"));
  g_assert_null (strchr (error->message, '\n'));
  /* Not the whole name. */
  g_assert_cmpuint (strlen (error->message), <, 200);
  g_clear_error (&error);

  hier[0] = '/';
  memset (hier + 1, 'x', 2048);
  g_assert_cmpint (latch_rsrc_name_classify (hier, 2048), ==,
                   LATCH_RSRC_HIER);
  g_assert_cmpint (latch_rsrc_name_classify (hier, 2049), ==,
                   LATCH_RSRC_INVALID);

  /* A set member is granted as the element, which an answer carries in
   * at most 1024 bytes. */
  {
    g_autofree char *set = repeat ('a', 1027); /* b.aaa...: members of 1 and 1025 */

    set[0] = 'b';
    set[1] = '.';
    g_assert_cmpint (latch_rsrc_name_classify (set, 1026), ==, LATCH_RSRC_SET);
    g_assert_cmpint (latch_rsrc_name_classify (set, 1027), ==, LATCH_RSRC_INVALID);
    g_assert_false (latch_rsrc_name_check (set, &type, &error));
    g_assert_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_NAME);
    g_assert_nonnull (strstr (error->message, "a set member is 1025 bytes long, the limit "
                                              "is 1024 bytes"));
    g_clear_error (&error);
  }

  /* len, not NUL, ends the name. */
  g_assert_cmpint (latch_rsrc_name_classify ("abc.def", 3), ==,
                   LATCH_RSRC_SIMPLE);
  g_assert_cmpint (latch_rsrc_name_classify ("abc.def", 7), ==,
                   LATCH_RSRC_SET);
  g_assert_cmpint (latch_rsrc_name_classify ("ab\0c", 4), ==,
                   LATCH_RSRC_INVALID);
  g_assert_cmpint (latch_rsrc_name_classify ("/a\0b", 4), ==,
                   LATCH_RSRC_INVALID);
  g_assert_cmpint (latch_rsrc_name_classify (NULL, 0), ==,
                   LATCH_RSRC_INVALID);
}

static void
assert_check_message (const char *name, const char *expected)
{
  g_autoptr (GError) error = NULL;
  LatchRsrcType type = LATCH_RSRC_SIMPLE;

  g_assert_false (latch_rsrc_name_check (name, &type, &error));
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_NAME);
  g_assert_cmpstr (error->message, ==, expected);
  /* Nothing written on failure. */
  g_assert_cmpint (type, ==, LATCH_RSRC_SIMPLE);
}

static void
assert_check_contains (const char *name, const char *part)
{
  g_autoptr (GError) error = NULL;

  g_assert_false (latch_rsrc_name_check (name, NULL, &error));
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_NAME);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, part));
  g_assert_null (strchr (error->message, '\n'));
}

static void
test_check_messages (void)
{
  assert_check_message ("a b",
                        "invalid resource name 'a b': ' ' is not allowed: a "
                        "simple name is an ASCII letter followed by ASCII "
                        "letters and digits (A-Z, a-z, 0-9); a hierarchical "
                        "name such as '/a b' may hold it (other forms: "
                        "NAME[N], A.B.C, /a/b, _s_NAME[N], _t_FORMAT[N])");
  /* The characters people reach for: the message names the one refused
   * and those allowed for the form the name looks like. */
  assert_check_contains ("deploy-prod", "'-' is not allowed: a simple name");
  assert_check_contains ("deploy-prod", "(A-Z, a-z, 0-9)");
  assert_check_contains ("deploy-prod", "such as '/deploy-prod' may hold it");
  assert_check_contains ("db_main", "'_' is not allowed: a simple name");
  assert_check_contains ("host:5432", "':' is not allowed: a simple name");
  assert_check_contains ("deploy.prod-1", "'-' is not allowed: a set name");
  assert_check_contains ("deploy.prod-1", "(A-Z, a-z, 0-9, each starting");
  assert_check_contains ("gpu-x[2]", "'-' is not allowed: a numeric name");
  assert_check_contains ("_s_a-b[1]", "'-' is not allowed: a sequence name");
  assert_check_contains ("_t_a-b[1]", "'-' is not allowed: a timestamp name");
  assert_check_contains ("\xc3\xa9t\xc3\xa9", "byte 0xc3 (not ASCII) is not allowed");
  assert_check_message ("", "resource name is empty");
  assert_check_message ("abc\n!!",
                        "invalid resource name 'abc\\n!!': contains a control "
                        "character (accepted forms: NAME, NAME[N], A.B.C, "
                        "/a/b, _s_NAME[N], _t_FORMAT[N])");
  assert_check_contains ("big[99999999999]", "'big[99999999999]'");
  assert_check_contains ("big[99999999999]", "does not fit in an int");
  assert_check_contains ("a[1", "a numeric name is NAME[N]");
  assert_check_contains ("a[1", "(other forms: NAME, A.B.C,");
  assert_check_contains ("a..b", "a set name is");
  assert_check_contains ("/a\\b", "'/a\\b': '\\' is not allowed: a hierarchical name");
  assert_check_contains ("/a/", "a hierarchical name");
  assert_check_contains ("_s_1[1]", "a sequence name");
  assert_check_contains ("_t_1[1]", "a timestamp name");
  assert_check_contains ("_x_a[1]", "may start with '_'");
  assert_check_contains ("1abc", "a simple name");
  assert_check_contains ("\xc3\xa9t\xc3\xa9", "'\xc3\xa9t\xc3\xa9'");
  assert_check_contains ("a\x01\xff", "'a\\001\\377'");
  assert_check_contains ("a\x7f", "contains a control character");
}

static void
test_get_number (void)
{
  int n = -1;

  g_assert_true (latch_rsrc_name_get_number ("foo[2]", &n));
  g_assert_cmpint (n, ==, 2);
  g_assert_true (latch_rsrc_name_get_number ("_s_x[010]", &n));
  g_assert_cmpint (n, ==, 10);
  g_assert_true (latch_rsrc_name_get_number ("_t_foo.%D.%T[4]", &n));
  g_assert_cmpint (n, ==, 4);
  g_assert_true (latch_rsrc_name_get_number ("x[2147483647]", &n));
  g_assert_cmpint (n, ==, G_MAXINT);
  g_assert_true (latch_rsrc_name_get_number ("x[0]", &n));
  g_assert_cmpint (n, ==, 0);

  n = -1;
  g_assert_false (latch_rsrc_name_get_number ("abc", &n));
  g_assert_false (latch_rsrc_name_get_number ("a.b", &n));
  g_assert_false (latch_rsrc_name_get_number ("/a[1]", &n));
  g_assert_false (latch_rsrc_name_get_number ("big[99999999999]", &n));
  g_assert_false (latch_rsrc_name_get_number ("a b[1]", &n));
  g_assert_cmpint (n, ==, -1);
}

static void
test_type_to_string (void)
{
  g_assert_cmpstr (latch_rsrc_type_to_string (LATCH_RSRC_INVALID), ==,
                   "invalid");
  g_assert_cmpstr (latch_rsrc_type_to_string (LATCH_RSRC_SIMPLE), ==,
                   "simple");
  g_assert_cmpstr (latch_rsrc_type_to_string (LATCH_RSRC_NUMERIC), ==,
                   "numeric");
  g_assert_cmpstr (latch_rsrc_type_to_string (LATCH_RSRC_SET), ==, "set");
  g_assert_cmpstr (latch_rsrc_type_to_string (LATCH_RSRC_HIER), ==,
                   "hierarchical");
  g_assert_cmpstr (latch_rsrc_type_to_string (LATCH_RSRC_SEQUENCE), ==,
                   "sequence");
  g_assert_cmpstr (latch_rsrc_type_to_string (LATCH_RSRC_TIMESTAMP), ==,
                   "timestamp");
}

/* An independent oracle: spec/resources.md's EREs, anchored at the ends
 * of the whole string (no newline splitting), run by GRegex, plus the
 * limits that latch adds (length, control characters, int range). */
typedef struct
{
  GRegex *re[LATCH_RSRC_TIMESTAMP + 1];
  GRegex *control;
} Oracle;

static void
oracle_init (Oracle *oracle)
{
  static const char *const patterns[] = {
    [LATCH_RSRC_SIMPLE] = "\\A(?:_RESOURCE|[A-Za-z][A-Za-z0-9]*)\\z",
    [LATCH_RSRC_NUMERIC] = "\\A[A-Za-z][A-Za-z0-9]*\\[([0-9]+)\\]\\z",
    [LATCH_RSRC_SET]
    = "\\A[A-Za-z][A-Za-z0-9]*(?:\\.[A-Za-z][A-Za-z0-9]*)+\\z",
    [LATCH_RSRC_HIER] = "\\A/[^/\\\\\\n]+(?:/[^/\\\\\\n]+)*\\z",
    [LATCH_RSRC_SEQUENCE] = "\\A_[sS]_[A-Za-z][A-Za-z0-9]*\\[([0-9]+)\\]\\z",
    [LATCH_RSRC_TIMESTAMP]
    = "\\A_t_[%#A-Za-z][%#.:\\\\A-Za-z0-9]*\\[([0-9]+)\\]\\z",
  };

  for (int t = LATCH_RSRC_SIMPLE; t <= LATCH_RSRC_TIMESTAMP; t++)
    {
      g_autoptr (GError) error = NULL;

      oracle->re[t] = g_regex_new (patterns[t], G_REGEX_RAW, 0, &error);
      g_assert_no_error (error);
    }
  oracle->control = g_regex_new ("[\\x00-\\x1f\\x7f]", G_REGEX_RAW, 0, NULL);
  g_assert_nonnull (oracle->control);
}

static void
oracle_clear (Oracle *oracle)
{
  for (int t = LATCH_RSRC_SIMPLE; t <= LATCH_RSRC_TIMESTAMP; t++)
    g_regex_unref (oracle->re[t]);
  g_regex_unref (oracle->control);
}

static gboolean
fits_int (const char *digits)
{
  while (digits[0] == '0' && digits[1] != '\0')
    digits++;
  return strlen (digits) < 10
         || (strlen (digits) == 10 && strcmp (digits, "2147483647") <= 0);
}

static LatchRsrcType
oracle_classify (const Oracle *oracle, const char *name, gsize len)
{
  if (len == 0 || len > 2048
      || g_regex_match_full (oracle->control, name, len, 0, 0, NULL, NULL))
    return LATCH_RSRC_INVALID;
  for (int t = LATCH_RSRC_SIMPLE; t <= LATCH_RSRC_TIMESTAMP; t++)
    {
      g_autoptr (GMatchInfo) info = NULL;

      if (g_regex_match_full (oracle->re[t], name, len, 0, 0, &info, NULL))
        {
          g_autofree char *number = NULL;

          if (g_match_info_get_match_count (info) > 1)
            number = g_match_info_fetch (info, 1);
          if (number != NULL && !fits_int (number))
            return LATCH_RSRC_INVALID;
          return (LatchRsrcType) t;
        }
    }
  return LATCH_RSRC_INVALID;
}

/* Random strings, and random edits of the table's names, must classify
 * as the oracle says; check() must agree with classify(). */
static void
test_classify_random (void)
{
  static const char alphabet[] = "aZk09_sStR[]./\\%#:- \n\x01\x7f\xc3\xa9";
  Oracle oracle;
  int n_valid = 0;

  oracle_init (&oracle);
  for (int i = 0; i < 40000; i++)
    {
      GString *s;
      LatchRsrcType want;
      LatchRsrcType got;

      if (i % 2 == 0)
        {
          int len = g_test_rand_int_range (0, 12);

          s = g_string_new (NULL);
          for (int k = 0; k < len; k++)
            g_string_append_c (
                s, alphabet[g_test_rand_int_range (0, sizeof alphabet - 1)]);
        }
      else
        {
          int pick = g_test_rand_int_range (0, G_N_ELEMENTS (name_cases));
          const NameCase *c = &name_cases[pick];
          int n_edits = g_test_rand_int_range (0, 3);

          s = g_string_new (c->name);
          for (int k = 0; k < n_edits; k++)
            {
              gsize pos = g_test_rand_int_range (0, s->len + 1);
              int pos_a = g_test_rand_int_range (0, sizeof alphabet - 1);
              char ch = alphabet[pos_a];

              switch (g_test_rand_int_range (0, 3))
                {
                case 0:
                  g_string_insert_c (s, pos, ch);
                  break;
                case 1:
                  if (pos < s->len)
                    g_string_erase (s, pos, 1);
                  break;
                default:
                  if (pos < s->len)
                    s->str[pos] = ch;
                  break;
                }
            }
        }

      want = oracle_classify (&oracle, s->str, s->len);
      got = latch_rsrc_name_classify (s->str, s->len);
      if (want != got)
        {
          g_autofree char *esc = g_strescape (s->str, NULL);

          g_error ("'%s': classify %s, oracle %s", esc,
                   latch_rsrc_type_to_string (got),
                   latch_rsrc_type_to_string (want));
        }
      if (got != LATCH_RSRC_INVALID)
        n_valid++;

      {
        g_autoptr (GError) error = NULL;
        LatchRsrcType type = LATCH_RSRC_INVALID;
        gboolean ok = latch_rsrc_name_check (s->str, &type, &error);

        g_assert_cmpint (ok, ==, got != LATCH_RSRC_INVALID);
        if (ok)
          g_assert_cmpint (type, ==, got);
        else
          g_assert_null (strchr (error->message, '\n'));
      }
      g_string_free (s, TRUE);
    }
  /* The edits keep enough names valid for the test to mean something. */
  g_assert_cmpint (n_valid, >, 2000);
  oracle_clear (&oracle);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/rsrc-name/classify/table", test_classify_table);
  g_test_add_func ("/rsrc-name/classify/length", test_classify_length);
  g_test_add_func ("/rsrc-name/classify/random", test_classify_random);
  g_test_add_func ("/rsrc-name/check/messages", test_check_messages);
  g_test_add_func ("/rsrc-name/get-number", test_get_number);
  g_test_add_func ("/rsrc-name/type-to-string", test_type_to_string);
  return g_test_run ();
}
