#include "config.h"

#include "sys/machine-id.h"

#include "common/error.h"
#include "common/file.h"

#include <dbus/dbus.h>
#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

/* A machine-id file's size limit: 32 digits and a newline, with room for
 * stray white space. */
#define MACHINE_ID_FILE_MAX 4096

/* The soname of libdbus 1.x: stable since 2006. */
#define LIBDBUS_SONAME "libdbus-1.so.3"

typedef void (*ErrorInitFunc) (DBusError *);
typedef void (*ErrorFreeFunc) (DBusError *);
typedef void (*FreeFunc) (void *);
/* dbus-misc.h, libdbus >= 1.12 */
typedef char *(*TryGetIdPublicFunc) (DBusError *);

/* The ID, shared by both functions: set once, under cache_lock, then
 * never changed or freed, so that the pointer handed out stays valid.
 * Several threads may ask at once (latch.h: one handle per thread).
 *
 * A failure is not cached: each caller gets its own GError (one cannot be
 * shared), and the next call looks again, for the ID may have been
 * created meanwhile ('systemd-machine-id-setup'); a failing lookup costs
 * two file reads or one dlopen(), on a path that fails anyway.
 *
 * A pthread mutex rather than a GMutex: on Linux a GMutex is a bare futex,
 * invisible to helgrind and DRD, with which tests/unit/test-caches.sh
 * checks this locking. */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static char *cached_id;

static gboolean
is_machine_id (const char *id)
{
  if (strlen (id) != 32)
    return FALSE;
  for (const char *p = id; *p != '\0'; p++)
    if (!g_ascii_isxdigit (*p) || g_ascii_isupper (*p))
      return FALSE;
  return TRUE;
}

/* libdbus's reading of one file (_dbus_read_uuid_file_without_creating):
 * white space around the ID is dropped, 32 hex digits must remain, and
 * the ID is handed out in lowercase (libdbus decodes and re-encodes it). */
static char *
read_id_file (const char *path, GError **error)
{
  g_autofree char *contents = NULL;
  gsize len;
  char *id;

  /* 32 digits, a newline, maybe some white space: a few bytes do. */
  if (!latch_file_read (path, NULL, MACHINE_ID_FILE_MAX, LATCH_FILE_DEFAULT,
                        LATCH_ERROR_MACHINE_ID, &contents, &len, NULL, error))
    return NULL;
  id = g_ascii_strdown (g_strstrip (contents), -1);
  if (!is_machine_id (id))
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_MACHINE_ID,
                   "%s does not hold 32 hex digits", path);
      g_free (id);
      return NULL;
    }
  return id;
}

/* latch_machine_id_read(), cache_lock held. */
static const char *
read_locked (GError **error)
{
  static const char *const paths[] = { "/var/lib/dbus/machine-id", "/etc/machine-id" };
  g_autoptr (GError) first = NULL;
  g_autoptr (GError) second = NULL;

  if (cached_id != NULL)
    return cached_id;
  cached_id = read_id_file (paths[0], &first);
  if (cached_id == NULL)
    cached_id = read_id_file (paths[1], &second);
  if (cached_id == NULL)
    g_set_error (error, LATCH_ERROR, LATCH_ERROR_MACHINE_ID,
                 "no machine ID: %s; %s (create one with 'systemd-machine-id-setup' "
                 "or 'dbus-uuidgen --ensure')", first->message, second->message);
  return cached_id;
}

const char *
latch_machine_id_read (GError **error)
{
  const char *id;

  pthread_mutex_lock (&cache_lock);
  id = read_locked (error);
  pthread_mutex_unlock (&cache_lock);
  return id;
}

/* latch_machine_id_get(), cache_lock held. */
static const char *
get_locked (GError **error)
{
  void *lib;
  TryGetIdPublicFunc try_get;
  ErrorInitFunc error_init;
  ErrorFreeFunc error_free;
  FreeFunc dbus_free_fn;
  DBusError derr;
  char *id;

  if (cached_id != NULL)
    return cached_id;

  lib = dlopen (LIBDBUS_SONAME, RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_MACHINE_ID,
                   "cannot load %s to read the machine ID: %s (install libdbus-1-3)",
                   LIBDBUS_SONAME, dlerror ());
      return NULL;
    }
  try_get = (TryGetIdPublicFunc)dlsym (lib, "dbus_try_get_local_machine_id");
  error_init = (ErrorInitFunc)dlsym (lib, "dbus_error_init");
  error_free = (ErrorFreeFunc)dlsym (lib, "dbus_error_free");
  dbus_free_fn = (FreeFunc)dlsym (lib, "dbus_free");
  if (try_get == NULL || error_init == NULL || error_free == NULL || dbus_free_fn == NULL)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_MACHINE_ID,
                   "%s is older than 1.12: it has no dbus_try_get_local_machine_id()",
                   LIBDBUS_SONAME);
      dlclose (lib);
      return NULL;
    }

  error_init (&derr);
  id = try_get (&derr);
  if (id == NULL)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_MACHINE_ID,
                   "no D-Bus machine ID: %s (create one with "
                   "'dbus-uuidgen --ensure' or 'systemd-machine-id-setup')",
                   derr.message != NULL ? derr.message : "unknown error");
      error_free (&derr);
      return NULL; /* libdbus stays loaded: it does not support unloading */
    }
  if (!is_machine_id (id))
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_MACHINE_ID,
                   "the D-Bus machine ID '%s' is not 32 lowercase hex digits; "
                   "fix /etc/machine-id", id);
      dbus_free_fn (id);
      return NULL;
    }
  cached_id = g_strdup (id);
  dbus_free_fn (id);
  /* libdbus stays loaded: unloading it is not supported by libdbus. */
  return cached_id;
}

const char *
latch_machine_id_get (GError **error)
{
  const char *id;

  pthread_mutex_lock (&cache_lock);
  id = get_locked (error);
  pthread_mutex_unlock (&cache_lock);
  return id;
}
