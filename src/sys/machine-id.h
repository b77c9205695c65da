/* machine-id.h: this host's unique id, the D-Bus machine ID.
 *
 * libdbus is loaded with dlopen() on first use, so programs that never
 * need the id (the clear-text lock path of the `latch` command) do not pay
 * the 0.6 ms that linking it costs at every start. */
#ifndef LATCH_SYS_MACHINE_ID_H
#define LATCH_SYS_MACHINE_ID_H

#include <glib.h>

G_BEGIN_DECLS

/* The machine ID (32 lowercase hex digits), cached after the first call
 * (transfer none).  NULL with an error that says which files libdbus
 * looked at and how to create one. */
const char *latch_machine_id_get (GError **error);

G_END_DECLS

#endif
