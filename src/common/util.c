/* util.c: small helpers (see util.h). */
#include "config.h"

#include "common/util.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

gboolean
latch_dir_is_own (const char *path)
{
  struct stat st;

  return path != NULL && stat (path, &st) == 0 && S_ISDIR (st.st_mode)
         && st.st_uid == geteuid ();
}

char *
latch_own_home_dir (void)
{
  struct passwd pw;
  struct passwd *found = NULL;
  long size = sysconf (_SC_GETPW_R_SIZE_MAX);
  g_autofree char *buf = NULL;

  if (size <= 0)
    size = 16384;
  buf = g_malloc ((gsize) size);
  if (getpwuid_r (geteuid (), &pw, buf, (size_t) size, &found) != 0 || found == NULL
      || pw.pw_dir == NULL || pw.pw_dir[0] == '\0')
    return NULL;
  return g_strdup (pw.pw_dir);
}
