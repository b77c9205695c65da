/* etcd-loader.c: dlopen() of latch-etcd.so (etcd-loader.h), through
 * common/module.c. */
#include "config.h"

#include "etcd/etcd-loader.h"

#include "common/error.h"
#include "common/module.h"

#ifndef LATCH_ETCD_MODULE_PATH
#define LATCH_ETCD_MODULE_PATH "latch-etcd.so"
#endif

/* The module defines the same quark: both name the one domain. */
G_DEFINE_QUARK (latch-etcd-error-quark, latch_etcd_error)

/* A module built against another LatchEtcdKv is not this version's. */
static gboolean
etcd_module_check (const void *table)
{
  return ((const LatchEtcdModule *) table)->kv_size == sizeof (LatchEtcdKv);
}

static LatchModule etcd_module = {
  .companion = { "LATCH_ETCD_MODULE", ".libs/latch-etcd.so", LATCH_ETCD_MODULE_PATH },
  .symbol = "latch_etcd_module",
  .abi = LATCH_ETCD_MODULE_ABI,
  .check = etcd_module_check,
  .domain = latch_error_quark,
  .code = LATCH_ERROR_FAILED,
  .unloadable = "the lock table is on etcd (EtcdEndpoints) but latch's etcd module "
                "cannot be loaded",
  .foreign_lead = "",
  .foreign = " is not the etcd module of this latch version (reinstall latch)",
};

const LatchEtcdModule *
latch_etcd_module_load (GError **error)
{
  return latch_module_load (&etcd_module, error);
}
