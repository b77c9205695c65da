/* module.h: loading one of latch's modules (latch-tls.so, latch-xml.so)
 * with dlopen().
 *
 * A module exports one function, named by LatchModule.symbol, that
 * returns its table (transfer none); the table's first member is an int,
 * the ABI number, which must equal LatchModule.abi.  The module is found
 * as a companion (companion.h), loaded the first time it is asked for,
 * and never unloaded: every later call returns the same table.  A failed
 * load is not remembered: each caller gets its own GError, and the next
 * call tries again (the module may have been installed or rebuilt
 * meanwhile).  Any thread may call latch_module_load(). */
#ifndef LATCH_COMMON_MODULE_H
#define LATCH_COMMON_MODULE_H

#include <glib.h>

#include "common/companion.h"

G_BEGIN_DECLS

typedef struct
{
  LatchCompanion companion; /* where the file is */
  const char *symbol;       /* its export: "latch_tls_module" */
  int abi;                  /* what the table's first member must hold */
  /* Further checks that the table is this version's (NULL: none). */
  gboolean (*check) (const void *table);

  /* The error, in (*domain) () with code, when the file cannot be
   * loaded:  "<unloadable>: <dlerror()> (<companion fix>)"; when it is
   * not this version's module:  "<foreign_lead><path><foreign>". */
  GQuark (*domain) (void);
  int code;
  const char *unloadable;
  const char *foreign_lead;
  const char *foreign;

  /* latch_module_load()'s: the table once loaded. */
  const void *table;
} LatchModule;

/* The module's table, loaded on first use (transfer none); NULL with
 * error set when it cannot be loaded or is not this version's. */
const void *latch_module_load (LatchModule *module, GError **error);

G_END_DECLS

#endif
