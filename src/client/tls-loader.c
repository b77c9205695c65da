/* tls-loader.c: dlopen() of latch-tls.so (see tls-loader.h). */
#include "config.h"

#include "client/tls-loader.h"

#include "common/error.h"

#include <dlfcn.h>

#ifndef LATCH_TLS_MODULE_PATH
#define LATCH_TLS_MODULE_PATH "latch-tls.so"
#endif

typedef const LatchTlsModule *(*ModuleFunc) (void);

const LatchTlsModule *
latch_tls_module_load (GError **error)
{
  static const LatchTlsModule *module;
  const char *path = g_getenv ("LATCH_TLS_MODULE");
  gboolean from_env = path != NULL && *path != '\0';
  void *lib;
  ModuleFunc get;

  if (module != NULL)
    return module;
  if (!from_env)
    path = LATCH_TLS_MODULE_PATH;
  lib = dlopen (path, RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_TLS,
                   "TLS is configured but latch's TLS module cannot be loaded: %s (%s)",
                   dlerror (), from_env ? "LATCH_TLS_MODULE names it" : "reinstall latch");
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
