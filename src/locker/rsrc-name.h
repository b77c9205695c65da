/* rsrc-name.h: resource name grammar and type detection.
 *
 * The grammars and their order are FLoM 1.7's (doc/protocol.md, and
 * spec/resources.md §1), so one string is the same type in FLoM and latch.
 * Tested in this order, the first that matches wins:
 *   simple     "_RESOURCE" | IDENT
 *   numeric    IDENT "[" NUMBER "]"
 *   set        IDENT ("." IDENT)+
 *   hier       ("/" SEG)+           SEG = 1* bytes other than "/", "\", newline
 *   sequence   "_" ("s"|"S") "_" IDENT "[" NUMBER "]"
 *   timestamp  "_t_" TFIRST TCHAR* "[" NUMBER "]"
 * IDENT = ALPHA (ALPHA|DIGIT)*, NUMBER = DIGIT+ (ASCII only).
 *
 * Unlike FLoM, a name is matched as a whole: a newline never splits it
 * into lines that match separately; NUMBER must fit in an int (FLoM wraps);
 * control characters are refused everywhere. */
#ifndef LATCH_LOCKER_RSRC_NAME_H
#define LATCH_LOCKER_RSRC_NAME_H

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  LATCH_RSRC_INVALID = 0,
  LATCH_RSRC_SIMPLE,
  LATCH_RSRC_NUMERIC,
  LATCH_RSRC_SET,
  LATCH_RSRC_HIER,
  LATCH_RSRC_SEQUENCE,
  LATCH_RSRC_TIMESTAMP,
} LatchRsrcType;

/* The type of name (len bytes), LATCH_RSRC_INVALID when it matches none. */
LatchRsrcType latch_rsrc_name_classify (const char *name, gsize len);

/* "simple", "numeric", "set", "hierarchical", "sequence", "timestamp",
 * "invalid". */
const char *latch_rsrc_type_to_string (LatchRsrcType type);

/* Checks a NUL-terminated name and sets *type_out.  On failure the
 * LATCH_ERROR_INVALID_NAME error shows the name (escaped if it holds odd
 * bytes) and says what is wrong and what the grammar is, in one line. */
gboolean latch_rsrc_name_check (const char *name, LatchRsrcType *type_out,
                                GError **error);

/* For numeric, sequence and timestamp names: the NUMBER in brackets. */
gboolean latch_rsrc_name_get_number (const char *name, int *number_out);

G_END_DECLS

#endif
