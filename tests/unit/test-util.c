/* test-util.c: the shared helpers of src/common: latch_file_read (), the
 * bounded reader of small files, and latch_text_quote (), the quoting of
 * untrusted text for one-line messages. */
#include "config.h"

#include "common/error.h"
#include "common/file.h"
#include "common/text.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The limit most reads here use. */
#define LIMIT 100
/* The error code the reads here ask for: not LATCH_ERROR_FAILED (0), so
 * that a reader ignoring it is caught. */
#define CODE LATCH_ERROR_CONFIG_FILE
/* No read may take this long: a blocked one ends the test (SIGALRM). */
#define HANG_SECONDS 10

typedef struct
{
  char *dir;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer user_data G_GNUC_UNUSED)
{
  g_autoptr (GError) error = NULL;

  f->dir = g_dir_make_tmp ("latch-test-util-XXXXXX", &error);
  g_assert_no_error (error);
  alarm (HANG_SECONDS);
}

static void
fixture_tear_down (Fixture *f, gconstpointer user_data G_GNUC_UNUSED)
{
  g_autoptr (GDir) dir = g_dir_open (f->dir, 0, NULL);
  const char *entry;

  alarm (0);
  while (dir != NULL && (entry = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (f->dir, entry, NULL);

      if (g_rmdir (path) != 0)
        g_unlink (path);
    }
  g_rmdir (f->dir);
  g_free (f->dir);
}

/* A file of len bytes (data, or 'x' repeated when data is NULL) in the
 * fixture's directory (transfer full: its path). */
static char *
make_file (Fixture *f, const char *name, const char *data, gsize len)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *fill = NULL;
  char *path = g_build_filename (f->dir, name, NULL);

  if (data == NULL)
    data = fill = g_strnfill (len, 'x');
  g_assert_true (g_file_set_contents (path, data, (gssize)len, &error));
  g_assert_no_error (error);
  return path;
}

/* latch_file_read () must fail with CODE and exactly this message, and
 * leave its outputs alone. */
static void
assert_read_fails (const char *path, const char *name, gsize max, LatchFileFlags flags,
                   const char *message)
{
  g_autoptr (GError) error = NULL;
  char *data = (char *)"untouched";
  gsize len = 12345;
  unsigned int mode = 54321;

  g_assert_false (latch_file_read (path, name, max, flags, CODE, &data, &len, &mode, &error));
  g_assert_error (error, LATCH_ERROR, CODE);
  g_assert_cmpstr (error->message, ==, message);
  g_assert_cmpstr (data, ==, "untouched");
  g_assert_cmpuint (len, ==, 12345);
  g_assert_cmpuint (mode, ==, 54321);
}

/* ---- latch_file_read ---------------------------------------------------- */

static void
test_read_regular (Fixture *f, gconstpointer user_data G_GNUC_UNUSED)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = make_file (f, "a", "ab\0cd\n", 6);
  g_autofree char *data = NULL;
  gsize len = 0;
  unsigned int mode = 0;

  g_assert_cmpint (chmod (path, 0640), ==, 0);
  g_assert_true (latch_file_read (path, "a file", LIMIT, LATCH_FILE_DEFAULT, CODE, &data, &len,
                                  &mode, &error));
  g_assert_no_error (error);
  /* Every byte, the NUL inside too, and a NUL after the last. */
  g_assert_cmpuint (len, ==, 6);
  g_assert_cmpmem (data, 7, "ab\0cd\n", 7);
  g_assert_true (S_ISREG (mode));
  g_assert_cmpuint (mode & 07777, ==, 0640);
  /* The mode is optional. */
  g_clear_pointer (&data, g_free);
  g_assert_true (latch_file_read (path, NULL, LIMIT, LATCH_FILE_DEFAULT, CODE, &data, &len,
                                  NULL, &error));
  g_assert_cmpuint (len, ==, 6);
}

static void
test_read_limit (Fixture *f, gconstpointer user_data G_GNUC_UNUSED)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *at = make_file (f, "at", NULL, LIMIT);
  g_autofree char *over = make_file (f, "over", NULL, LIMIT + 1);
  g_autofree char *big = make_file (f, "big", NULL, 3 * 8192 + 5);
  g_autofree char *data = NULL;
  g_autofree char *expected = NULL;
  gsize len = 0;

  /* Exactly at the limit: read whole. */
  g_assert_true (latch_file_read (at, NULL, LIMIT, LATCH_FILE_DEFAULT, CODE, &data, &len, NULL,
                                  &error));
  g_assert_no_error (error);
  g_assert_cmpuint (len, ==, LIMIT);
  g_assert_cmpuint (strspn (data, "x"), ==, LIMIT);
  g_assert_cmpint (data[LIMIT], ==, '\0');

  /* One byte over: refused, named as the caller names it. */
  assert_read_fails (over, "the over file", LIMIT, LATCH_FILE_DEFAULT,
                     "the over file: larger than 100 bytes");
  /* Over by more than one read's worth, and at a limit of 0. */
  assert_read_fails (big, "big", 8192, LATCH_FILE_DEFAULT, "big: larger than 8192 bytes");
  expected = g_strdup_printf ("%s: larger than 0 bytes", at);
  assert_read_fails (at, NULL, 0, LATCH_FILE_DEFAULT, expected);
  /* Several reads' worth under the limit. */
  g_clear_pointer (&data, g_free);
  g_assert_true (latch_file_read (big, NULL, 3 * 8192 + 5, LATCH_FILE_DEFAULT, CODE, &data,
                                  &len, NULL, &error));
  g_assert_cmpuint (len, ==, 3 * 8192 + 5);
}

static void
test_read_empty (Fixture *f, gconstpointer user_data G_GNUC_UNUSED)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = make_file (f, "empty", "", 0);
  g_autofree char *data = NULL;
  gsize len = 99;

  /* An empty file is a file: "" (not NULL), also at a limit of 0. */
  g_assert_true (latch_file_read (path, NULL, 0, LATCH_FILE_DEFAULT, CODE, &data, &len, NULL,
                                  &error));
  g_assert_no_error (error);
  g_assert_nonnull (data);
  g_assert_cmpstr (data, ==, "");
  g_assert_cmpuint (len, ==, 0);
}

static void
test_read_missing (Fixture *f, gconstpointer user_data G_GNUC_UNUSED)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *missing = g_build_filename (f->dir, "missing", NULL);
  g_autofree char *plain = make_file (f, "plain", "x", 1);
  g_autofree char *below = g_build_filename (plain, "x", NULL);
  g_autofree char *expected = NULL;
  char *data = (char *)"untouched";
  gsize len = 99;
  unsigned int mode = 99;

  /* Must exist: an error naming the file and errno's text. */
  assert_read_fails (missing, "the thing", LIMIT, LATCH_FILE_DEFAULT,
                     "the thing: cannot open: No such file or directory");
  expected = g_strdup_printf ("%s: cannot open: %s", below, g_strerror (ENOTDIR));
  assert_read_fails (below, NULL, LIMIT, LATCH_FILE_ALLOW_STREAM, expected);

  /* May be missing: success with no contents, for both. */
  g_assert_true (latch_file_read (missing, NULL, LIMIT, LATCH_FILE_MAY_BE_MISSING, CODE, &data,
                                  &len, &mode, &error));
  g_assert_no_error (error);
  g_assert_null (data);
  g_assert_cmpuint (len, ==, 0);
  g_assert_cmpuint (mode, ==, 0);
  data = (char *)"untouched";
  g_assert_true (latch_file_read (below, NULL, LIMIT,
                                  LATCH_FILE_MAY_BE_MISSING | LATCH_FILE_ALLOW_STREAM, CODE,
                                  &data, &len, NULL, &error));
  g_assert_no_error (error);
  g_assert_null (data);
}

static void
test_read_loop (Fixture *f, gconstpointer user_data G_GNUC_UNUSED)
{
  g_autofree char *path = g_build_filename (f->dir, "loop", NULL);
  g_autofree char *expected = g_strdup_printf ("%s: cannot open: %s", path, g_strerror (ELOOP));

  /* Only a missing file may be missing: one that cannot be opened for
   * another reason is an error (here a symlink to itself, which root
   * cannot open either). */
  g_assert_cmpint (symlink ("loop", path), ==, 0);
  assert_read_fails (path, NULL, LIMIT, LATCH_FILE_MAY_BE_MISSING, expected);
}

static void
test_read_directory (Fixture *f, gconstpointer user_data G_GNUC_UNUSED)
{
  g_autofree char *expected = g_strdup_printf ("%s: cannot read: %s", f->dir,
                                               g_strerror (EISDIR));

  /* A directory is never read, stream or not, missing-allowed or not. */
  assert_read_fails (f->dir, NULL, LIMIT, LATCH_FILE_DEFAULT, expected);
  assert_read_fails (f->dir, NULL, LIMIT, LATCH_FILE_ALLOW_STREAM | LATCH_FILE_MAY_BE_MISSING,
                     expected);
}

static void
test_read_fifo (Fixture *f, gconstpointer user_data G_GNUC_UNUSED)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (f->dir, "fifo", NULL);
  g_autofree char *data = NULL;
  gsize len = 99;

  g_assert_cmpint (mkfifo (path, 0600), ==, 0);
  /* No writer: a plain open () would wait for one forever (the alarm
   * ends the test).  Refused before any read... */
  assert_read_fails (path, "fifo", LIMIT, LATCH_FILE_DEFAULT, "fifo: not a regular file");
  /* ...or, as a stream, read as empty at once. */
  g_assert_true (latch_file_read (path, NULL, LIMIT, LATCH_FILE_ALLOW_STREAM, CODE, &data, &len,
                                  NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (data, ==, "");
  g_assert_cmpuint (len, ==, 0);
}

typedef struct
{
  int fd;
  const char *text;
} Writer;

static gpointer
slow_writer_thread (gpointer user_data)
{
  Writer *w = user_data;

  /* In two parts, the second after the reader has had time to find the
   * pipe empty: it must wait, not stop. */
  g_assert_cmpint (write (w->fd, w->text, 3), ==, 3);
  g_usleep (200 * 1000);
  g_assert_cmpint (write (w->fd, w->text + 3, strlen (w->text) - 3), ==,
                   (gssize)strlen (w->text) - 3);
  close (w->fd);
  return NULL;
}

static void
test_read_pipe (Fixture *f G_GNUC_UNUSED, gconstpointer user_data G_GNUC_UNUSED)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *data = NULL;
  g_autoptr (GThread) thread = NULL;
  Writer w = { -1, "[Trace]\nVerbose=yes\n" };
  int fds[2];
  gsize len = 0;

  /* What -c <(generate-config) gives: /dev/fd/N of a pipe. */
  g_assert_cmpint (pipe (fds), ==, 0);
  path = g_strdup_printf ("/dev/fd/%d", fds[0]);
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      close (fds[0]);
      close (fds[1]);
      g_test_skip ("no /dev/fd");
      return;
    }
  w.fd = fds[1];
  thread = g_thread_new ("writer", slow_writer_thread, &w);
  g_assert_true (latch_file_read (path, NULL, LIMIT, LATCH_FILE_ALLOW_STREAM, CODE, &data, &len,
                                  NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (data, ==, w.text);
  g_assert_cmpuint (len, ==, strlen (w.text));
  g_thread_join (g_steal_pointer (&thread));
  close (fds[0]);

  /* Not a regular file, so refused without the flag. */
  g_assert_cmpint (pipe (fds), ==, 0);
  g_free (path);
  path = g_strdup_printf ("/dev/fd/%d", fds[0]);
  assert_read_fails (path, "pipe", LIMIT, LATCH_FILE_DEFAULT, "pipe: not a regular file");
  close (fds[0]);
  close (fds[1]);
}

static void
test_read_endless (Fixture *f G_GNUC_UNUSED, gconstpointer user_data G_GNUC_UNUSED)
{
  if (!g_file_test ("/dev/zero", G_FILE_TEST_EXISTS))
    {
      g_test_skip ("no /dev/zero");
      return;
    }
  /* The bound ends an endless stream... */
  assert_read_fails ("/dev/zero", "zero", 1024 * 1024, LATCH_FILE_ALLOW_STREAM,
                     "zero: larger than 1048576 bytes");
  /* ...which a reader of regular files does not even start. */
  assert_read_fails ("/dev/zero", "zero", LIMIT, LATCH_FILE_DEFAULT,
                     "zero: not a regular file");
}

static void
test_read_stops_at_bound (Fixture *f G_GNUC_UNUSED, gconstpointer user_data G_GNUC_UNUSED)
{
  g_autofree char *path = NULL;
  g_autofree char *fill = g_strnfill (LIMIT + 50, 'x');
  char rest[100];
  int fds[2];

  /* A stream longer than the limit: no more than limit + 1 bytes are
   * taken from it, the rest stays in the pipe. */
  g_assert_cmpint (pipe (fds), ==, 0);
  path = g_strdup_printf ("/dev/fd/%d", fds[0]);
  g_assert_cmpint (write (fds[1], fill, LIMIT + 50), ==, LIMIT + 50);
  close (fds[1]);
  assert_read_fails (path, "pipe", LIMIT, LATCH_FILE_ALLOW_STREAM,
                     "pipe: larger than 100 bytes");
  g_assert_cmpint (read (fds[0], rest, sizeof rest), ==, 49);
  close (fds[0]);
}

static void
test_read_unreadable (Fixture *f, gconstpointer user_data G_GNUC_UNUSED)
{
  g_autofree char *path = make_file (f, "secret", "x", 1);
  g_autofree char *expected = g_strdup_printf ("%s: cannot open: %s", path, g_strerror (EACCES));

  if (geteuid () == 0)
    {
      g_test_skip ("root reads any file");
      return;
    }
  g_assert_cmpint (chmod (path, 0), ==, 0);
  /* Only a missing file may be missing: unreadable is an error. */
  assert_read_fails (path, NULL, LIMIT, LATCH_FILE_MAY_BE_MISSING, expected);
}

/* ---- latch_text_quote --------------------------------------------------- */

/* latch_text_quote (text, len, max, flags) must give want. */
static void
assert_quote (const char *text, gssize len, gsize max, LatchQuoteFlags flags, const char *want)
{
  g_autofree char *got = latch_text_quote (text, len, max, flags);

  g_assert_cmpstr (got, ==, want);
}

static void
test_quote_plain (void)
{
  assert_quote ("abc", -1, 80, LATCH_QUOTE_DEFAULT, "'abc'");
  assert_quote ("abc", -1, 80, LATCH_QUOTE_BARE, "abc");
  assert_quote ("", -1, 80, LATCH_QUOTE_DEFAULT, "''");
  assert_quote (NULL, -1, 80, LATCH_QUOTE_DEFAULT, "''");
  assert_quote (NULL, 0, 80, LATCH_QUOTE_BARE, "");
  /* Quotes, backslashes and spaces are shown as typed: a configuration
   * value's own backslash sequences must read as the user wrote them. */
  assert_quote ("it's a\\x \"b\"", -1, 80, LATCH_QUOTE_DEFAULT, "'it's a\\x \"b\"'");
  assert_quote ("a\\b", -1, 80, LATCH_QUOTE_C_ESCAPES, "'a\\b'");
  /* Printable UTF-8 too. */
  assert_quote ("\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92", -1, 80, LATCH_QUOTE_DEFAULT,
                "'\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92'");
}

static void
test_quote_control (void)
{
  /* A terminal escape cannot reach the terminal; nor can a newline split
   * the message. */
  assert_quote ("a\nb\x1b[2J\x7f", -1, 80, LATCH_QUOTE_DEFAULT, "'a\\x0ab\\x1b[2J\\x7f'");
  assert_quote ("\t\r\x01\x1f", -1, 80, LATCH_QUOTE_BARE, "\\x09\\x0d\\x01\\x1f");
  /* C's spelling. */
  assert_quote ("a\nb\x1b[2J\x7f", -1, 80, LATCH_QUOTE_C_ESCAPES, "'a\\nb\\033[2J\\177'");
  assert_quote ("\b\f\n\r\t\v\x01", -1, 80, LATCH_QUOTE_C_ESCAPES | LATCH_QUOTE_BARE,
                "\\b\\f\\n\\r\\t\\v\\001");
  /* The spellings existing messages (and their tests) rely on. */
  assert_quote ("eth\x01", -1, 120, LATCH_QUOTE_DEFAULT, "'eth\\x01'");
  assert_quote ("\x0b", -1, 120, LATCH_QUOTE_DEFAULT, "'\\x0b'");
  assert_quote ("abc\n!!", -1, 40, LATCH_QUOTE_C_ESCAPES, "'abc\\n!!'");
  assert_quote ("a\x01\xff", -1, 40, LATCH_QUOTE_C_ESCAPES, "'a\\001\\377'");
  assert_quote ("a\nb", -1, 80, LATCH_QUOTE_C_ESCAPES | LATCH_QUOTE_BARE, "a\\nb");
}

static void
test_quote_not_utf8 (void)
{
  /* Each byte that is not part of valid UTF-8 alone; valid characters
   * around it stay. */
  assert_quote ("caf\xe9", -1, 80, LATCH_QUOTE_DEFAULT, "'caf\\xe9'");
  assert_quote ("1\xff", -1, 80, LATCH_QUOTE_DEFAULT, "'1\\xff'");
  assert_quote ("\xc3\xa9\xff\xc3\xa9", -1, 80, LATCH_QUOTE_DEFAULT,
                "'\xc3\xa9\\xff\xc3\xa9'");
  assert_quote ("\xff", -1, 80, LATCH_QUOTE_C_ESCAPES, "'\\377'");
  /* A sequence cut short, by the end or by the length given. */
  assert_quote ("ab\xc3", -1, 80, LATCH_QUOTE_DEFAULT, "'ab\\xc3'");
  assert_quote ("ab\xc3\xa9", 3, 80, LATCH_QUOTE_DEFAULT, "'ab\\xc3'");
  assert_quote ("\xe2\x82x", -1, 80, LATCH_QUOTE_DEFAULT, "'\\xe2\\x82x'");
  /* An overlong '/' and a UTF-16 surrogate are not UTF-8. */
  assert_quote ("\xc0\xaf", -1, 80, LATCH_QUOTE_DEFAULT, "'\\xc0\\xaf'");
  assert_quote ("\xed\xa0\x80", -1, 80, LATCH_QUOTE_DEFAULT, "'\\xed\\xa0\\x80'");
}

static void
test_quote_unprintable (void)
{
  /* Valid UTF-8 that a terminal may act on (a C1 control, NEL), that
   * breaks the line (U+2028, U+2029) or that reorders the text on screen
   * (the bidi controls: RLO, LRM, RLI, ALM).  Escaped byte by byte. */
  assert_quote ("a\xc2\x85z", -1, 80, LATCH_QUOTE_DEFAULT, "'a\\xc2\\x85z'");
  assert_quote ("a\xc2\x9bz", -1, 80, LATCH_QUOTE_DEFAULT, "'a\\xc2\\x9bz'");
  assert_quote ("a\xe2\x80\xa8z", -1, 80, LATCH_QUOTE_DEFAULT, "'a\\xe2\\x80\\xa8z'");
  assert_quote ("a\xe2\x80\xa9z", -1, 80, LATCH_QUOTE_DEFAULT, "'a\\xe2\\x80\\xa9z'");
  assert_quote ("a\xe2\x80\xaez", -1, 80, LATCH_QUOTE_DEFAULT, "'a\\xe2\\x80\\xaez'");
  assert_quote ("a\xe2\x80\x8ez", -1, 80, LATCH_QUOTE_DEFAULT, "'a\\xe2\\x80\\x8ez'");
  assert_quote ("a\xe2\x81\xa7z", -1, 80, LATCH_QUOTE_DEFAULT, "'a\\xe2\\x81\\xa7z'");
  assert_quote ("a\xd8\x9cz", -1, 80, LATCH_QUOTE_DEFAULT, "'a\\xd8\\x9cz'");
  assert_quote ("a\xe2\x80\xaez", -1, 80, LATCH_QUOTE_C_ESCAPES, "'a\\342\\200\\256z'");
  /* Harmless invisible characters are shown as they are: a zero width
   * space, and the BOM an editor may put before a [Group] line (whose
   * message a configuration test checks). */
  assert_quote ("a\xe2\x80\x8bz", -1, 80, LATCH_QUOTE_DEFAULT, "'a\xe2\x80\x8bz'");
  assert_quote ("\xef\xbb\xbf[Resource]", -1, 120, LATCH_QUOTE_DEFAULT,
                "'\xef\xbb\xbf[Resource]'");
  /* So are code points GLib may not know yet: messages must not change
   * with its version. */
  assert_quote ("a\xf3\xa0\x80\x80z", -1, 80, LATCH_QUOTE_DEFAULT, "'a\xf3\xa0\x80\x80z'");
}

static void
test_quote_nul (void)
{
  /* With an explicit length, a NUL is a byte like any other. */
  assert_quote ("a\0b", 3, 80, LATCH_QUOTE_DEFAULT, "'a\\x00b'");
  assert_quote ("a\0" "1", 3, 80, LATCH_QUOTE_C_ESCAPES, "'a\\0001'");
  assert_quote ("\0\0", 2, 80, LATCH_QUOTE_BARE, "\\x00\\x00");
  /* With -1 the text ends there. */
  assert_quote ("a\0b", -1, 80, LATCH_QUOTE_DEFAULT, "'a'");
  /* A length shorter than the text is obeyed. */
  assert_quote ("abcdef", 2, 80, LATCH_QUOTE_DEFAULT, "'ab'");
}

static void
test_quote_truncate (void)
{
  g_autofree char *ten = g_strnfill (10, 'x');
  g_autofree char *long_text = g_strnfill (100000, 'y');
  g_autofree char *long_got = latch_text_quote (long_text, -1, 120, LATCH_QUOTE_DEFAULT);

  /* Exactly max bytes: whole, no "...". */
  assert_quote (ten, -1, 10, LATCH_QUOTE_DEFAULT, "'xxxxxxxxxx'");
  /* One more: cut, "..." inside the quotes. */
  assert_quote ("xxxxxxxxxxz", -1, 10, LATCH_QUOTE_DEFAULT, "'xxxxxxxxxx...'");
  assert_quote ("xxxxxxxxxxz", -1, 10, LATCH_QUOTE_BARE, "xxxxxxxxxx...");
  assert_quote ("ab", -1, 0, LATCH_QUOTE_DEFAULT, "'...'");
  assert_quote ("", -1, 0, LATCH_QUOTE_DEFAULT, "''");
  /* The bound counts the text's bytes, not the escapes': an escaped byte
   * is one. */
  assert_quote ("\n\n\n", -1, 2, LATCH_QUOTE_DEFAULT, "'\\x0a\\x0a...'");
  /* A character is never cut in two. */
  assert_quote ("ab\xc3\xa9", -1, 3, LATCH_QUOTE_DEFAULT, "'ab...'");
  assert_quote ("ab\xc3\xa9", -1, 4, LATCH_QUOTE_DEFAULT, "'ab\xc3\xa9'");
  assert_quote ("a\xe2\x80\xae", -1, 3, LATCH_QUOTE_DEFAULT, "'a...'");
  /* Long text gives a short message. */
  g_assert_cmpuint (strlen (long_got), ==, 120 + 5);
  g_assert_true (g_str_has_suffix (long_got, "y...'"));
}

static void
test_lines_add (void)
{
  g_autoptr (GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);

  latch_text_lines_add (lines, "one %d", 1);
  latch_text_lines_add (lines, "%s", "two");
  /* No array: the caller wants no lines, and nothing happens. */
  latch_text_lines_add (NULL, "dropped %s", "line");
  g_assert_cmpuint (lines->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (lines, 0), ==, "one 1");
  g_assert_cmpstr (g_ptr_array_index (lines, 1), ==, "two");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* A read that blocks is a failure, not a hang (see HANG_SECONDS). */
  signal (SIGALRM, SIG_DFL);

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/file/read/regular", test_read_regular);
  ADD ("/file/read/limit", test_read_limit);
  ADD ("/file/read/empty", test_read_empty);
  ADD ("/file/read/missing", test_read_missing);
  ADD ("/file/read/loop", test_read_loop);
  ADD ("/file/read/directory", test_read_directory);
  ADD ("/file/read/fifo", test_read_fifo);
  ADD ("/file/read/pipe", test_read_pipe);
  ADD ("/file/read/endless", test_read_endless);
  ADD ("/file/read/stops-at-bound", test_read_stops_at_bound);
  ADD ("/file/read/unreadable", test_read_unreadable);
#undef ADD
  g_test_add_func ("/text/quote/plain", test_quote_plain);
  g_test_add_func ("/text/quote/control", test_quote_control);
  g_test_add_func ("/text/quote/not-utf8", test_quote_not_utf8);
  g_test_add_func ("/text/quote/unprintable", test_quote_unprintable);
  g_test_add_func ("/text/quote/nul", test_quote_nul);
  g_test_add_func ("/text/quote/truncate", test_quote_truncate);
  g_test_add_func ("/text/lines-add", test_lines_add);
  return g_test_run ();
}
