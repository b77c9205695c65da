/* text.h: untrusted text made safe for a one-line message.
 *
 * GLib only: src/tls/tls.c uses it, and the latch-tls module compiles
 * its own copy of text.c. */
#ifndef LATCH_COMMON_TEXT_H
#define LATCH_COMMON_TEXT_H

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  LATCH_QUOTE_DEFAULT = 0,
  /* Leave out the surrounding single quotes: for a caller that prints
   * the text after a label ("peer CN x") or adds its own quotes. */
  LATCH_QUOTE_BARE = 1 << 0,
  /* Spell escapes as C does (\n, \t, \b, \f, \r, \v; other bytes as
   * three octal digits, \001 \377) instead of \xNN.  Resource-name and
   * TLS peer messages have always been spelt so. */
  LATCH_QUOTE_C_ESCAPES = 1 << 1,
} LatchQuoteFlags;

/* text (len bytes; len < 0: up to its NUL) as an error message may show
 * it, by default in single quotes: 'text' (transfer full).
 *
 * - Bytes below 0x20 and 0x7f, bytes that are not part of valid UTF-8,
 *   and valid characters that a terminal may act on or that break the
 *   line or reorder the text on screen (C1 controls, U+2028, U+2029, the
 *   bidi controls such as U+202E) are escaped byte by byte as \xNN
 *   (\ooo with LATCH_QUOTE_C_ESCAPES).  Embedded NULs of an explicit len
 *   are escaped like any control byte.
 * - Other UTF-8 is kept as it is, and so are ' and \ (the text of a
 *   configuration value is shown as the user typed it).
 * - At most max bytes of text are shown, never cutting a character; when
 *   some are left out, "..." follows them (inside the quotes).
 *
 * text NULL reads as "". */
char *latch_text_quote (const char *text, gssize len, gsize max, LatchQuoteFlags flags);

/* Appends a line made from format to lines, an array that frees its
 * items with g_free (warnings, report lines).  lines NULL: the caller
 * does not want them, nothing happens. */
void latch_text_lines_add (GPtrArray *lines, const char *format, ...) G_GNUC_PRINTF (2, 3);
void latch_text_lines_add_valist (GPtrArray *lines, const char *format, va_list ap)
    G_GNUC_PRINTF (2, 0);

G_END_DECLS

#endif
