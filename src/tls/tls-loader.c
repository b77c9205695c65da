/* tls-loader.c: dlopen() of latch-tls.so (see tls-loader.h). */
#include "config.h"

#include "tls/tls-loader.h"

#include "common/companion.h"
#include "common/error.h"

#include <dlfcn.h>
#include <pthread.h>

#ifndef LATCH_TLS_MODULE_PATH
#define LATCH_TLS_MODULE_PATH "latch-tls.so"
#endif

typedef const LatchTlsModule *(*ModuleFunc) (void);

/* The module's table once loaded: set under load_lock, then never
 * changed (the module is never unloaded).  Several threads may connect
 * at once (latch.h: one handle per thread).
 *
 * A failed load is not remembered: each caller gets its own GError (one
 * cannot be shared), and the next call tries again, for the module may
 * have been installed or rebuilt meanwhile; a retry costs one failed
 * dlopen(), on a path that fails anyway.
 *
 * A pthread mutex rather than a GMutex: on Linux a GMutex is a bare futex,
 * invisible to helgrind and DRD, with which tests/unit/test-caches.sh
 * checks this locking. */
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static const LatchTlsModule *module;

/* latch_tls_module_load(), load_lock held. */
static const LatchTlsModule *
load_locked (GError **error)
{
  static const LatchCompanion tls_module = { "LATCH_TLS_MODULE", ".libs/latch-tls.so",
                                              LATCH_TLS_MODULE_PATH };
  LatchCompanionSource source;
  g_autofree char *path = NULL;
  void *lib;
  ModuleFunc get;

  if (module != NULL)
    return module;
  path = latch_companion_path (&tls_module, &source);
  lib = dlopen (path, RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL)
    {
      g_autofree char *fix = latch_companion_fix (&tls_module, source);

      g_set_error (error, LATCH_ERROR, LATCH_ERROR_TLS,
                   "TLS is configured but latch's TLS module cannot be loaded: %s (%s)",
                   dlerror (), fix);
      return NULL;
    }
  get = (ModuleFunc)dlsym (lib, "latch_tls_module");
  if (get == NULL || get () == NULL || get ()->abi != LATCH_TLS_MODULE_ABI)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_TLS,
                   "%s is not the TLS module of this latch version (reinstall latch)",
                   path);
      dlclose (lib);
      return NULL;
    }
  module = get ();
  return module;
}

const LatchTlsModule *
latch_tls_module_load (GError **error)
{
  const LatchTlsModule *loaded;

  pthread_mutex_lock (&load_lock);
  loaded = load_locked (error);
  pthread_mutex_unlock (&load_lock);
  return loaded;
}
