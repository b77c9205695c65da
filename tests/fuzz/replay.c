/* replay.c: runs a fuzz target's LLVMFuzzerTestOneInput over files, for
 * builds without libFuzzer (every `make check` replays the seed corpus
 * and the crash reproducers).
 *
 * Usage: replay PATH...   Each PATH is a file or a directory, whose
 * regular files are replayed (not recursively; names starting with '.'
 * are skipped).  Exits 0 when every input ran; a violated invariant
 * aborts. */
#include "config.h"

#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static gboolean
replay_file (const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize len = 0;

  if (!g_file_get_contents (path, &contents, &len, &error))
    {
      fprintf (stderr, "replay: %s\n", error->message);
      return FALSE;
    }
  /* A copy of exactly len bytes, so that sanitizers see any overread. */
  g_autofree guint8 *copy = g_memdup2 (contents, len);
  LLVMFuzzerTestOneInput (copy, len);
  return TRUE;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static gboolean
replay_path (const char *path, int *count)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GDir) dir = NULL;
  g_autoptr (GPtrArray) names = NULL;
  const char *name;
  gboolean ok = TRUE;

  if (!g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      (*count)++;
      return replay_file (path);
    }
  dir = g_dir_open (path, 0, &error);
  if (dir == NULL)
    {
      fprintf (stderr, "replay: %s\n", error->message);
      return FALSE;
    }
  names = g_ptr_array_new_with_free_func (g_free);
  while ((name = g_dir_read_name (dir)) != NULL)
    if (name[0] != '.')
      g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_names);
  for (guint i = 0; i < names->len; i++)
    {
      g_autofree char *file
          = g_build_filename (path, g_ptr_array_index (names, i), NULL);

      if (!g_file_test (file, G_FILE_TEST_IS_REGULAR))
        continue;
      (*count)++;
      if (!replay_file (file))
        ok = FALSE;
    }
  return ok;
}

int
main (int argc, char **argv)
{
  gboolean ok = TRUE;
  int count = 0;

  for (int i = 1; i < argc; i++)
    if (!replay_path (argv[i], &count))
      ok = FALSE;
  printf ("replay: %d inputs\n", count);
  return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
