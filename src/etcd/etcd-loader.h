/* etcd-loader.h: the etcd client module, latch-etcd.so, loaded when
 * latchd keeps its lock table on etcd (EtcdEndpoints), so that a daemon
 * without etcd never maps libsoup, json-glib and what they bring.
 *
 * $LATCH_ETCD_MODULE if set (the build tree's tests), else .libs/latch-etcd.so
 * in a build tree, else the installed one (LATCH_ETCD_MODULE_PATH).  Loaded
 * once per process, never unloaded; a failed load is tried again at the
 * next call (common/module.h). */
#ifndef LATCH_ETCD_ETCD_LOADER_H
#define LATCH_ETCD_ETCD_LOADER_H

#include <glib.h>

#include "etcd/etcd-client.h"

G_BEGIN_DECLS

/* The module's table (transfer none); NULL and a LATCH_ERROR when it
 * cannot be loaded or is not this version's. */
const LatchEtcdModule *latch_etcd_module_load (GError **error);

G_END_DECLS

#endif
