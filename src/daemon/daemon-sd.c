/* daemon-sd.c: libsystemd, loaded on first use (see daemon-sd.h). */
#include "config.h"

#include "daemon/daemon-sd.h"

#include "common/error.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

#define SD_LIBRARY "libsystemd.so.0"

static LatchSd sd;
static gboolean sd_tried;
static char *sd_failure; /* why it could not be loaded, kept for later calls */

static gboolean
resolve (void *lib, const char *name, void **out)
{
  *out = dlsym (lib, name);
  if (*out != NULL)
    return TRUE;
  sd_failure = g_strdup_printf ("%s has no %s: install a newer libsystemd0",
                                SD_LIBRARY, name);
  return FALSE;
}

const LatchSd *
latch_sd_load (GError **error)
{
  void *lib;

  if (!sd_tried)
    {
      sd_tried = TRUE;
      /* RTLD_LOCAL: its symbols serve these pointers only, never a later
       * library's references. */
      lib = dlopen (SD_LIBRARY, RTLD_NOW | RTLD_LOCAL);
      if (lib == NULL)
        {
          const char *why = dlerror ();
          sd_failure = g_strdup_printf ("cannot load %s (%s): install libsystemd0",
                                        SD_LIBRARY, why != NULL ? why : "unknown error");
        }
      else if (!resolve (lib, "sd_notify", (void **)&sd.notify)
               || !resolve (lib, "sd_listen_fds", (void **)&sd.listen_fds)
               || !resolve (lib, "sd_is_socket_unix", (void **)&sd.is_socket_unix)
               || !resolve (lib, "sd_is_socket_inet", (void **)&sd.is_socket_inet)
               || !resolve (lib, "sd_journal_sendv", (void **)&sd.journal_sendv))
        {
          /* Half a table is no table: nothing is called through it. */
          dlclose (lib);
          sd = (LatchSd){ 0 };
        }
    }
  if (sd_failure != NULL)
    {
      g_set_error_literal (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START, sd_failure);
      return NULL;
    }
  return &sd;
}

gboolean
latch_sd_is_activated (void)
{
  const char *pid = g_getenv ("LISTEN_PID");
  char *end = NULL;
  unsigned long long value;

  if (pid == NULL || g_getenv ("LISTEN_FDS") == NULL)
    return FALSE;
  value = g_ascii_strtoull (pid, &end, 10);
  return end != pid && *end == '\0' && value == (unsigned long long)getpid ();
}

int
latch_sd_listen_fds (gboolean unset_environment, GError **error)
{
  const LatchSd *lib;

  if (!latch_sd_is_activated ())
    return 0;
  if ((lib = latch_sd_load (error)) == NULL)
    return -1;
  return lib->listen_fds (unset_environment);
}
