/* rsrc-sequence.h: test hooks of rsrc-sequence.c (private to src/locker/
 * and its unit test; the locker itself needs only
 * latch_rsrc_sequence_class from rsrc.h). */
#ifndef LATCH_LOCKER_RSRC_SEQUENCE_H
#define LATCH_LOCKER_RSRC_SEQUENCE_H

#include <glib.h>

G_BEGIN_DECLS

/* Sets the next value the counter of state (as returned by
 * latch_rsrc_sequence_class.create) hands out, so that a test can reach
 * the wrap without 2^32 grants.  0 is never handed out: it means 1. */
void latch_rsrc_sequence_set_next (gpointer state, guint32 next);

G_END_DECLS

#endif
