/* file.c: a whole small file read into memory (see file.h). */
#include "config.h"

#include "common/file.h"

#include "common/autocleanup.h"
#include "common/error.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* Puts fd back in blocking mode: a stream is read until its writer is
 * done, as a pipe from `-c <(generate-config)` needs. */
static gboolean
set_blocking (int fd)
{
  int fl = fcntl (fd, F_GETFL);

  return fl >= 0 && fcntl (fd, F_SETFL, fl & ~O_NONBLOCK) >= 0;
}

gboolean
latch_file_read (const char *path, const char *name, gsize max_size, LatchFileFlags flags,
                 int code, char **contents, gsize *len, unsigned int *mode, GError **error)
{
  g_auto (LatchFd) fd = -1;
  g_autoptr (GString) buf = NULL;
  struct stat st;
  char chunk[8192];

  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (max_size < G_MAXSIZE, FALSE);
  g_return_val_if_fail (contents != NULL && len != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (name == NULL)
    name = path;
  /* O_NONBLOCK: opening a FIFO would otherwise wait for a writer,
   * before fstat () could tell it is not a regular file. */
  fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0)
    {
      int e = errno;

      if ((flags & LATCH_FILE_MAY_BE_MISSING) != 0 && (e == ENOENT || e == ENOTDIR))
        {
          *contents = NULL;
          *len = 0;
          if (mode != NULL)
            *mode = 0;
          return TRUE;
        }
      return latch_error_set (error, code, "%s: cannot open: %s", name, g_strerror (e));
    }
  if (fstat (fd, &st) < 0)
    {
      int e = errno;

      return latch_error_set (error, code, "%s: cannot read: %s", name, g_strerror (e));
    }
  if (S_ISDIR (st.st_mode))
    return latch_error_set (error, code, "%s: cannot read: %s", name, g_strerror (EISDIR));
  if (!S_ISREG (st.st_mode))
    {
      if ((flags & LATCH_FILE_ALLOW_STREAM) == 0)
        return latch_error_set (error, code, "%s: not a regular file", name);
      if (!set_blocking (fd))
        {
          int e = errno;

          return latch_error_set (error, code, "%s: cannot read: %s", name, g_strerror (e));
        }
    }

  /* The size fstat () gives is a hint only: the file may grow, and a
   * stream has none.  The loop reads at most max_size + 1 bytes, so an
   * endless file (/dev/zero) is refused as too large. */
  buf = g_string_sized_new (S_ISREG (st.st_mode) && st.st_size > 0
                                    && (guint64)st.st_size <= max_size
                                ? (gsize)st.st_size + 1
                                : MIN (max_size + 1, sizeof chunk));
  for (;;)
    {
      gsize want = MIN (sizeof chunk, max_size + 1 - buf->len);
      ssize_t n = read (fd, chunk, want);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int e = errno;

          return latch_error_set (error, code, "%s: cannot read: %s", name, g_strerror (e));
        }
      if (n == 0)
        break;
      g_string_append_len (buf, chunk, n);
      if (buf->len > max_size)
        return latch_error_set (error, code, "%s: larger than %" G_GSIZE_FORMAT " bytes", name,
                                max_size);
    }
  if (mode != NULL)
    *mode = (unsigned int)st.st_mode;
  *len = buf->len;
  *contents = g_string_free (g_steal_pointer (&buf), FALSE);
  return TRUE;
}
