/* tls-loader.h: the TLS module, loaded when a client or the daemon first
 * needs it (a TLS level), so that neither loads GnuTLS for clear text.
 *
 * $LATCH_TLS_MODULE if set (the build tree's tests), else the installed
 * latch-tls.so (LATCH_TLS_MODULE_PATH).  Loaded once per process, never
 * unloaded; a failed load is tried again at the next call.  May be called
 * from several threads at once. */
#ifndef LATCH_TLS_TLS_LOADER_H
#define LATCH_TLS_TLS_LOADER_H

#include <glib.h>

#include "tls/tls.h"

G_BEGIN_DECLS

const LatchTlsModule *latch_tls_module_load (GError **error);

G_END_DECLS

#endif
