/* module.c: loading one of latch's modules (see module.h). */
#include "config.h"

#include "common/module.h"

#include <dlfcn.h>
#include <pthread.h>

/* A module's export.  The module's own function returns a pointer to its
 * table type, which has the representation of const void * (as dlsym()'s
 * result has that of a function pointer: POSIX). */
typedef const void *(*TableFunc) (void);

/* Guards every LatchModule.table: set under it, then never changed (a
 * module is never unloaded).  Several threads may connect at once
 * (latch.h: one handle per thread), and the first to need TLS loads it.
 *
 * A pthread mutex rather than a GMutex: on Linux a GMutex is a bare futex,
 * invisible to helgrind and DRD, with which tests/unit/test-caches.sh
 * checks this locking. */
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

/* latch_module_load(), load_lock held. */
static const void *
load_locked (LatchModule *module, GError **error)
{
  LatchCompanionSource source;
  g_autofree char *path = NULL;
  const void *table;
  void *lib;
  TableFunc get;

  if (module->table != NULL)
    return module->table;
  path = latch_companion_path (&module->companion, &source);
  lib = dlopen (path, RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL)
    {
      g_autofree char *fix = latch_companion_fix (&module->companion, source);

      g_set_error (error, module->domain (), module->code, "%s: %s (%s)",
                   module->unloadable, dlerror (), fix);
      return NULL;
    }
  get = (TableFunc)dlsym (lib, module->symbol);
  table = get != NULL ? get () : NULL;
  /* The ABI number is the table's first member (module.h). */
  if (table == NULL || *(const int *)table != module->abi
      || (module->check != NULL && !module->check (table)))
    {
      g_set_error (error, module->domain (), module->code, "%s%s%s",
                   module->foreign_lead, path, module->foreign);
      dlclose (lib);
      return NULL;
    }
  module->table = table;
  return table;
}

const void *
latch_module_load (LatchModule *module, GError **error)
{
  const void *table;

  g_return_val_if_fail (module != NULL, NULL);

  pthread_mutex_lock (&load_lock);
  table = load_locked (module, error);
  pthread_mutex_unlock (&load_lock);
  return table;
}
