/* file.h: a whole small file read into memory, with a size limit.
 *
 * GLib only: src/tls/tls.c uses it, and the latch-tls module compiles
 * its own copy of file.c. */
#ifndef LATCH_COMMON_FILE_H
#define LATCH_COMMON_FILE_H

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  /* A regular file that must exist. */
  LATCH_FILE_DEFAULT = 0,
  /* A missing file (ENOENT, or ENOTDIR: a leading component is a file)
   * is no error: TRUE with *contents NULL.  The caller decides whether
   * and how to complain. */
  LATCH_FILE_MAY_BE_MISSING = 1 << 0,
  /* Read pipes, FIFOs and character devices too (-c <(generate-config),
   * /dev/stdin), until end of file or the limit.  Without it they are
   * refused before any read, and opening a FIFO never waits for a
   * writer. */
  LATCH_FILE_ALLOW_STREAM = 1 << 1,
} LatchFileFlags;

/* Reads the whole file at path, at most max_size bytes (< G_MAXSIZE).
 * *contents gets them with a NUL after the last (transfer full; the data
 * itself may hold NULs: use *len), *mode, if not NULL, the file's
 * st_mode.
 *
 * A failure sets a LATCH_ERROR with the given code, and a message that
 * starts with name, which says what the file is and where ("CA
 * certificate /etc/latch/ca.pem (TlsCaCertificate)"; NULL: the path):
 *   NAME: cannot open: ERRNO TEXT
 *   NAME: cannot read: ERRNO TEXT      (also "Is a directory")
 *   NAME: not a regular file
 *   NAME: larger than MAX_SIZE bytes
 * The file is opened O_NONBLOCK and checked with fstat () before any
 * read; a stream (LATCH_FILE_ALLOW_STREAM) is then read blocking, so a
 * FIFO with no writer reads as empty. */
gboolean latch_file_read (const char *path, const char *name, gsize max_size,
                          LatchFileFlags flags, int code, char **contents, gsize *len,
                          unsigned int *mode, GError **error);

G_END_DECLS

#endif
