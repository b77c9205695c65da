/* tls-loader.c: dlopen() of latch-tls.so (see tls-loader.h), through
 * common/module.c, which also keeps it loaded once per process, under a
 * lock: several threads may connect at once (latch.h: one handle per
 * thread). */
#include "config.h"

#include "tls/tls-loader.h"

#include "common/error.h"
#include "common/module.h"

#ifndef LATCH_TLS_MODULE_PATH
#define LATCH_TLS_MODULE_PATH "latch-tls.so"
#endif

static LatchModule tls_module = {
  .companion = { "LATCH_TLS_MODULE", ".libs/latch-tls.so", LATCH_TLS_MODULE_PATH },
  .symbol = "latch_tls_module",
  .abi = LATCH_TLS_MODULE_ABI,
  .domain = latch_error_quark,
  .code = LATCH_ERROR_TLS,
  .unloadable = "TLS is configured but latch's TLS module cannot be loaded",
  .foreign_lead = "",
  .foreign = " is not the TLS module of this latch version (reinstall latch)",
};

const LatchTlsModule *
latch_tls_module_load (GError **error)
{
  return latch_module_load (&tls_module, error);
}
