/* framer.h: cuts a byte stream into messages.
 *
 * A message ends at the first "</msg>" (FLoM framing: no length prefix).
 * Bytes are appended as they arrive; complete messages are popped one at a
 * time.  More than max_size bytes without a complete message is an error
 * (LATCH_PROTO_ERROR_TOO_LONG): the connection should then be closed. */
#ifndef LATCH_PROTO_FRAMER_H
#define LATCH_PROTO_FRAMER_H

#include <glib.h>

G_BEGIN_DECLS

typedef struct _LatchFramer LatchFramer;

LatchFramer *latch_framer_new (gsize max_size);
void latch_framer_free (LatchFramer *framer);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LatchFramer, latch_framer_free)

void latch_framer_push (LatchFramer *framer, const void *data, gsize len);

/* TRUE with *msg_out = the next complete message (transfer full, including
 * its "</msg>"), or TRUE with *msg_out = NULL when none is complete yet.
 * FALSE when the pending bytes exceed max_size without "</msg>", or when a
 * complete message is longer than max_size. */
gboolean latch_framer_pop (LatchFramer *framer, GBytes **msg_out,
                           GError **error);

/* Bytes buffered and not yet popped. */
gsize latch_framer_pending (const LatchFramer *framer);

G_END_DECLS

#endif
