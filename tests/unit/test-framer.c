/* test-framer.c: cutting a byte stream into messages. */
#include "config.h"

#include "proto/framer.h"

#include "common/error.h"
#include "proto/msg.h"

#include <string.h>

#define MSG_A                                                                 \
  "<?xml version=\"1.0\" encoding=\"UTF-8\" ?><msg level=\"3\" verb=\"1\" "   \
  "step=\"16\"><session peerid=\"3d1219c7c4c5404aaa1f6d2a48adfda4\"/>"        \
  "<answer rc=\"0\" element=\"red\"/></msg>"
#define MSG_B                                                                 \
  "<?xml version=\"1.0\" encoding=\"UTF-8\" ?><msg level=\"3\" verb=\"1\" "   \
  "step=\"24\"><answer rc=\"0\"/></msg>"
#define MSG_C "</msg>"

/* Pops everything complete; appends each message to out as one string. */
static void
pop_all (LatchFramer *framer, GPtrArray *out)
{
  for (;;)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GBytes) msg = NULL;
      gsize len;
      const char *data;

      g_assert_true (latch_framer_pop (framer, &msg, &error));
      g_assert_no_error (error);
      if (msg == NULL)
        return;
      data = g_bytes_get_data (msg, &len);
      g_ptr_array_add (out, g_strndup (data, len));
    }
}

static void
assert_messages (GPtrArray *got, const char *const *want, gsize n)
{
  g_assert_cmpuint (got->len, ==, n);
  for (gsize i = 0; i < n; i++)
    g_assert_cmpstr (g_ptr_array_index (got, i), ==, want[i]);
}

static void
test_single (void)
{
  g_autoptr (LatchFramer) framer = latch_framer_new (LATCH_MSG_MAX_SIZE);
  g_autoptr (GPtrArray) got = g_ptr_array_new_with_free_func (g_free);
  const char *const want[] = { MSG_A };

  g_assert_cmpuint (latch_framer_pending (framer), ==, 0);
  pop_all (framer, got);
  g_assert_cmpuint (got->len, ==, 0);
  latch_framer_push (framer, MSG_A, strlen (MSG_A));
  g_assert_cmpuint (latch_framer_pending (framer), ==, strlen (MSG_A));
  pop_all (framer, got);
  assert_messages (got, want, 1);
  g_assert_cmpuint (latch_framer_pending (framer), ==, 0);
}

static void
test_several_in_one_push (void)
{
  g_autoptr (LatchFramer) framer = latch_framer_new (LATCH_MSG_MAX_SIZE);
  g_autoptr (GPtrArray) got = g_ptr_array_new_with_free_func (g_free);
  const char *const want[] = { MSG_A, MSG_B, MSG_C, MSG_A };
  const char *stream = MSG_A MSG_B MSG_C MSG_A "<?xml";

  latch_framer_push (framer, stream, strlen (stream));
  pop_all (framer, got);
  assert_messages (got, want, G_N_ELEMENTS (want));
  g_assert_cmpuint (latch_framer_pending (framer), ==, 5);
}

/* The stream cut in two at every byte position. */
static void
test_split_everywhere (void)
{
  const char *stream = MSG_A MSG_B MSG_A;
  const char *const want[] = { MSG_A, MSG_B, MSG_A };
  gsize len = strlen (stream);

  for (gsize cut = 0; cut <= len; cut++)
    {
      g_autoptr (LatchFramer) framer = latch_framer_new (LATCH_MSG_MAX_SIZE);
      g_autoptr (GPtrArray) got = g_ptr_array_new_with_free_func (g_free);

      latch_framer_push (framer, stream, cut);
      pop_all (framer, got);
      latch_framer_push (framer, stream + cut, len - cut);
      pop_all (framer, got);
      assert_messages (got, want, G_N_ELEMENTS (want));
      g_assert_cmpuint (latch_framer_pending (framer), ==, 0);
    }
}

/* The stream cut into three at every pair of positions. */
static void
test_split_twice (void)
{
  const char *stream = MSG_B MSG_C MSG_B;
  const char *const want[] = { MSG_B, MSG_C, MSG_B };
  gsize len = strlen (stream);

  for (gsize a = 0; a <= len; a++)
    for (gsize b = a; b <= len; b++)
      {
        g_autoptr (LatchFramer) framer = latch_framer_new (LATCH_MSG_MAX_SIZE);
        g_autoptr (GPtrArray) got = g_ptr_array_new_with_free_func (g_free);

        latch_framer_push (framer, stream, a);
        pop_all (framer, got);
        latch_framer_push (framer, stream + a, b - a);
        pop_all (framer, got);
        latch_framer_push (framer, stream + b, len - b);
        pop_all (framer, got);
        assert_messages (got, want, G_N_ELEMENTS (want));
      }
}

static void
test_byte_by_byte (void)
{
  g_autoptr (LatchFramer) framer = latch_framer_new (LATCH_MSG_MAX_SIZE);
  g_autoptr (GPtrArray) got = g_ptr_array_new_with_free_func (g_free);
  const char *stream = MSG_A MSG_B;
  const char *const want[] = { MSG_A, MSG_B };
  gsize len = strlen (stream);

  for (gsize i = 0; i < len; i++)
    {
      guint before = got->len;

      latch_framer_push (framer, stream + i, 1);
      pop_all (framer, got);
      /* A message comes out exactly when its last byte arrives. */
      if (i + 1 == strlen (MSG_A) || i + 1 == len)
        g_assert_cmpuint (got->len, ==, before + 1);
      else
        g_assert_cmpuint (got->len, ==, before);
    }
  assert_messages (got, want, G_N_ELEMENTS (want));
}

/* "</msg>" split across pushes, with near misses before it. */
static void
test_split_end_tag (void)
{
  const char *stream = "<</</m</ms</msg</msg </MSG></msg>";
  gsize len = strlen (stream);

  for (gsize cut = len - 6; cut <= len; cut++)
    {
      g_autoptr (LatchFramer) framer = latch_framer_new (64);
      g_autoptr (GPtrArray) got = g_ptr_array_new_with_free_func (g_free);
      const char *const want[] = { stream };

      latch_framer_push (framer, stream, cut);
      pop_all (framer, got);
      g_assert_cmpuint (got->len, ==, cut == len ? 1 : 0);
      latch_framer_push (framer, stream + cut, len - cut);
      pop_all (framer, got);
      assert_messages (got, want, 1);
    }

  /* Each byte of the end tag in its own push. */
  g_autoptr (LatchFramer) framer = latch_framer_new (64);
  g_autoptr (GPtrArray) got = g_ptr_array_new_with_free_func (g_free);
  const char *const want[] = { "x</msg>" };

  latch_framer_push (framer, "x", 1);
  for (const char *p = "</msg>"; *p != '\0'; p++)
    {
      pop_all (framer, got);
      g_assert_cmpuint (got->len, ==, 0);
      latch_framer_push (framer, p, 1);
    }
  pop_all (framer, got);
  assert_messages (got, want, 1);
}

static void
test_overflow (void)
{
  g_autoptr (LatchFramer) framer = latch_framer_new (100);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) msg = NULL;
  char junk[100];

  memset (junk, 'j', sizeof junk);
  /* Exactly max_size pending bytes without an end: still waiting. */
  latch_framer_push (framer, junk, sizeof junk);
  g_assert_true (latch_framer_pop (framer, &msg, &error));
  g_assert_no_error (error);
  g_assert_null (msg);
  /* One more: too long, even though the end tag follows. */
  latch_framer_push (framer, "</msg>", 6);
  g_assert_false (latch_framer_pop (framer, &msg, &error));
  g_assert_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_TOO_LONG);
  g_assert_null (msg);
}

static void
test_overflow_in_one_push (void)
{
  g_autoptr (LatchFramer) framer = latch_framer_new (LATCH_MSG_MAX_SIZE);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) msg = NULL;
  gsize big = 4 * LATCH_MSG_MAX_SIZE;
  g_autofree char *junk = g_malloc (big);

  memset (junk, '<', big);
  memcpy (junk + big - 6, "</msg>", 6);
  latch_framer_push (framer, junk, big);
  g_assert_false (latch_framer_pop (framer, &msg, &error));
  g_assert_error (error, LATCH_PROTO_ERROR, LATCH_PROTO_ERROR_TOO_LONG);
  g_assert_null (msg);
}

/* A message of exactly max_size bytes passes; one byte more does not,
 * even when it arrives complete in one push. */
static void
test_exactly_max (void)
{
  for (gsize extra = 0; extra <= 1; extra++)
    {
      gsize max = 64;
      gsize len = max + extra;
      g_autoptr (LatchFramer) framer = latch_framer_new (max);
      g_autoptr (GError) error = NULL;
      g_autoptr (GBytes) msg = NULL;
      g_autofree char *text = g_malloc (len);

      memset (text, 'm', len);
      memcpy (text + len - 6, "</msg>", 6);
      latch_framer_push (framer, text, len);
      if (extra == 0)
        {
          g_assert_true (latch_framer_pop (framer, &msg, &error));
          g_assert_no_error (error);
          g_assert_nonnull (msg);
          g_assert_cmpuint (g_bytes_get_size (msg), ==, max);
          g_assert_cmpmem (g_bytes_get_data (msg, NULL), max, text, max);
        }
      else
        {
          g_assert_false (latch_framer_pop (framer, &msg, &error));
          g_assert_error (error, LATCH_PROTO_ERROR,
                          LATCH_PROTO_ERROR_TOO_LONG);
        }
    }
}

/* A long stream in random chunks, popped as it comes. */
static void
test_stream (void)
{
  g_autoptr (LatchFramer) framer = latch_framer_new (LATCH_MSG_MAX_SIZE);
  g_autoptr (GPtrArray) got = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GString) stream = g_string_new (NULL);
  const char *const kinds[] = { MSG_A, MSG_B, MSG_C };
  g_autoptr (GPtrArray) want = g_ptr_array_new ();
  gsize pos = 0;

  for (int i = 0; i < 3000; i++)
    {
      const char *m = kinds[g_test_rand_int_range (0, 3)];

      g_string_append (stream, m);
      g_ptr_array_add (want, (gpointer) m);
    }
  while (pos < stream->len)
    {
      gsize chunk = (gsize) g_test_rand_int_range (1, 700);

      chunk = MIN (chunk, stream->len - pos);
      latch_framer_push (framer, stream->str + pos, chunk);
      pos += chunk;
      if (g_test_rand_int_range (0, 4) != 0)
        pop_all (framer, got);
      g_assert_cmpuint (latch_framer_pending (framer), <=, pos);
    }
  pop_all (framer, got);
  assert_messages (got, (const char *const *) want->pdata, want->len);
  g_assert_cmpuint (latch_framer_pending (framer), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/proto/framer/single", test_single);
  g_test_add_func ("/proto/framer/several-in-one-push",
                   test_several_in_one_push);
  g_test_add_func ("/proto/framer/split-everywhere", test_split_everywhere);
  g_test_add_func ("/proto/framer/split-twice", test_split_twice);
  g_test_add_func ("/proto/framer/byte-by-byte", test_byte_by_byte);
  g_test_add_func ("/proto/framer/split-end-tag", test_split_end_tag);
  g_test_add_func ("/proto/framer/overflow", test_overflow);
  g_test_add_func ("/proto/framer/overflow-in-one-push",
                   test_overflow_in_one_push);
  g_test_add_func ("/proto/framer/exactly-max", test_exactly_max);
  g_test_add_func ("/proto/framer/stream", test_stream);

  return g_test_run ();
}
