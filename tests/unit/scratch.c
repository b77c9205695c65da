/* scratch.c: see scratch.h. */
#include "config.h"

#include "scratch.h"

#include <glib/gstdio.h>

gboolean
latch_test_rm_rf (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  gboolean ok = TRUE;
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        ok = latch_test_rm_rf (child) && ok;
      else if (g_remove (child) != 0)
        ok = FALSE;
    }
  return g_rmdir (path) == 0 && ok;
}

char *
latch_test_make_certs (const char *prefix, const char *machine_id)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *script = NULL;
  g_autofree char *err_text = NULL;
  g_autofree char *certtool = g_find_program_in_path ("certtool");
  g_autofree char *template = g_strdup_printf ("%s-certs-XXXXXX", prefix);
  int status = 0;

  if (certtool == NULL)
    return NULL;
  script = g_build_filename (g_test_get_dir (G_TEST_DIST), "..", "tls-certs.sh", NULL);
  if (!g_file_test (script, G_FILE_TEST_IS_REGULAR))
    {
      g_printerr ("# %s not found (set G_TEST_SRCDIR=SRCDIR/tests/unit): TLS tests "
                  "skipped\n", script);
      return NULL;
    }
  dir = g_dir_make_tmp (template, &error);
  g_assert_no_error (error);
  {
    const char *argv[] = { "/bin/bash", script, dir, machine_id, NULL };

    g_spawn_sync (NULL, (char **)argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                  &err_text, &status, &error);
  }
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("%s failed: %s", script, err_text);
  return g_steal_pointer (&dir);
}
