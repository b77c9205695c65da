/* json-writer.h: a small compact JSON writer into a GString.
 *
 * GLib only and pure (no I/O).  The daemon's status document is its one
 * user: linking json-glib for it pulled gobject, gio and their libraries
 * into latchd, which every command that starts a daemon pays for.
 *
 * The caller makes the calls in document order; the writer puts the
 * commas and colons in.  Strings are always written as valid JSON:
 * invalid UTF-8 becomes U+FFFD and every control character is escaped.
 * Output is compact (no whitespace), as json-glib's was. */
#ifndef LATCH_COMMON_JSON_WRITER_H
#define LATCH_COMMON_JSON_WRITER_H

#include <glib.h>

G_BEGIN_DECLS

typedef struct _LatchJsonWriter LatchJsonWriter;

/* A new, empty writer (transfer full). */
LatchJsonWriter *latch_json_writer_new (void);
/* Frees w; NULL is accepted. */
void latch_json_writer_free (LatchJsonWriter *w);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LatchJsonWriter, latch_json_writer_free)

void latch_json_writer_begin_object (LatchJsonWriter *w);
void latch_json_writer_end_object (LatchJsonWriter *w);
void latch_json_writer_begin_array (LatchJsonWriter *w);
void latch_json_writer_end_array (LatchJsonWriter *w);
/* The name of the next member of the open object (escaped as a string). */
void latch_json_writer_member (LatchJsonWriter *w, const char *name);
/* A string value; s must not be NULL (use latch_json_writer_null). */
void latch_json_writer_string (LatchJsonWriter *w, const char *s);
void latch_json_writer_int (LatchJsonWriter *w, gint64 v);
void latch_json_writer_boolean (LatchJsonWriter *w, gboolean v);
void latch_json_writer_null (LatchJsonWriter *w);

/* The text written so far (transfer none: valid until the next call on
 * w or its free). */
const char *latch_json_writer_get_text (const LatchJsonWriter *w);

/* Appends s to out as a JSON string, quotes included. */
void latch_json_append_string (GString *out, const char *s);

G_END_DECLS

#endif /* LATCH_COMMON_JSON_WRITER_H */
