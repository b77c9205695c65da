/* autocleanup.h: g_auto* cleanups for foreign types, declared once. */
#ifndef LATCH_COMMON_AUTOCLEANUP_H
#define LATCH_COMMON_AUTOCLEANUP_H

#include <glib.h>
#include <unistd.h>

/* g_auto(LatchFd) fd = -1; closes it at scope exit unless stolen. */
typedef int LatchFd;
static inline void
latch_fd_close (LatchFd fd)
{
  if (fd >= 0)
    close (fd);
}
G_DEFINE_AUTO_CLEANUP_FREE_FUNC (LatchFd, latch_fd_close, -1)

static inline int
latch_steal_fd (int *fdp)
{
  int fd = *fdp;
  *fdp = -1;
  return fd;
}

#endif
