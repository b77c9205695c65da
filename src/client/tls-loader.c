/* tls-loader.c: dlopen() of latch-tls.so (see tls-loader.h). */
#include "config.h"

#include "client/tls-loader.h"

#include "common/companion.h"
#include "common/error.h"

#include <dlfcn.h>

#ifndef LATCH_TLS_MODULE_PATH
#define LATCH_TLS_MODULE_PATH "latch-tls.so"
#endif

typedef const LatchTlsModule *(*ModuleFunc) (void);

const LatchTlsModule *
latch_tls_module_load (GError **error)
{
  static const LatchCompanion tls_module = { "LATCH_TLS_MODULE", ".libs/latch-tls.so",
                                              LATCH_TLS_MODULE_PATH };
  static const LatchTlsModule *module;
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
