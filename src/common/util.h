/* util.h: small helpers shared by the command, the library and the daemon. */
#ifndef LATCH_COMMON_UTIL_H
#define LATCH_COMMON_UTIL_H

#include <glib.h>

G_BEGIN_DECLS

/* TRUE when path is a directory owned by the effective user.  A
 * directory named by the environment ($HOME, $XDG_RUNTIME_DIR) is used
 * only when it is: under `sudo -E` or `su` without -l the environment
 * still names the other user's, which is not ours to read or write. */
gboolean latch_dir_is_own (const char *path);

/* The effective user's home directory from the password database
 * (transfer full); NULL when there is none. */
char *latch_own_home_dir (void);

G_END_DECLS

#endif
