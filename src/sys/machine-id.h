/* machine-id.h: this host's unique id, the D-Bus machine ID.
 *
 * libdbus is loaded with dlopen() on first use, so programs that never
 * need the id (the clear-text lock path of the `latch` command) do not pay
 * the 0.6 ms that linking it costs at every start; latch_machine_id_read()
 * reads the files itself and loads nothing. */
#ifndef LATCH_SYS_MACHINE_ID_H
#define LATCH_SYS_MACHINE_ID_H

#include <glib.h>

G_BEGIN_DECLS

/* The machine ID (32 lowercase hex digits), cached after the first call
 * (transfer none).  NULL with an error that says which files libdbus
 * looked at and how to create one; a failure is not cached, the next call
 * looks again.  Both functions may be called from several threads at
 * once. */
const char *latch_machine_id_get (GError **error);

/* The same ID, read from the files libdbus reads, in its order
 * (/var/lib/dbus/machine-id, then /etc/machine-id), without loading
 * libdbus: for a client whose peer may check the ID but need not (the
 * channel level), where a missing ID is not an error of its own.  Cached
 * with latch_machine_id_get()'s (transfer none).  NULL with an error
 * naming both files. */
const char *latch_machine_id_read (GError **error);

G_END_DECLS

#endif
