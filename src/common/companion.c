/* companion.c: where latch's other programs and modules are (see
 * companion.h). */
#include "config.h"

#include "common/companion.h"

#include <stdlib.h>
#include <unistd.h>

/* The directory of the running program when it is a binary of a build
 * tree (configure leaves config.status at the tree's top, where make
 * puts latch and latchd); NULL otherwise. */
static char *
build_tree_dir (void)
{
  g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *dir = NULL;
  g_autofree char *marker = NULL;

  if (exe == NULL)
    return NULL;
  dir = g_path_get_dirname (exe);
  marker = g_build_filename (dir, "config.status", NULL);
  if (access (marker, F_OK) != 0)
    return NULL;
  return g_steal_pointer (&dir);
}

char *
latch_companion_path (const LatchCompanion *companion,
                      LatchCompanionSource *source)
{
  const char *env = secure_getenv (companion->env);
  g_autofree char *dir = NULL;
  LatchCompanionSource where = LATCH_COMPANION_INSTALLED;
  char *path = NULL;

  if (env != NULL && env[0] != '\0')
    {
      where = LATCH_COMPANION_FROM_ENV;
      path = g_strdup (env);
    }
  else if ((dir = build_tree_dir ()) != NULL)
    {
      path = g_build_filename (dir, companion->in_build, NULL);
      if (access (path, F_OK) == 0)
        where = LATCH_COMPANION_FROM_BUILD_TREE;
      else
        g_clear_pointer (&path, g_free);
    }
  if (path == NULL)
    path = g_strdup (companion->installed);
  if (source != NULL)
    *source = where;
  return path;
}

char *
latch_companion_fix (const LatchCompanion *companion,
                     LatchCompanionSource source)
{
  switch (source)
    {
    case LATCH_COMPANION_FROM_ENV:
      return g_strdup_printf ("$%s names it", companion->env);
    case LATCH_COMPANION_FROM_BUILD_TREE:
      return g_strdup ("run make in the build tree");
    case LATCH_COMPANION_INSTALLED:
    default:
      return g_strdup_printf ("is latch installed? make install puts it there; "
                              "$%s names another", companion->env);
    }
}
