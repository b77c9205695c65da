/* companion.h: where latch's other programs and modules are.
 *
 * latch runs latchd, latch-debug and loads latch-tls.so.  Each is found,
 * in this order:
 *   1. an environment variable (LATCH_DAEMON, LATCH_DEBUG_TOOL,
 *      LATCH_TLS_MODULE), read with secure_getenv(): a set-uid or
 *      set-gid program that links liblatch never takes it from its caller;
 *   2. the build tree, when the running program is one of its binaries
 *      (config.status beside it): so a freshly built _build/latch works
 *      before `make install`;
 *   3. the installed path. */
#ifndef LATCH_COMMON_COMPANION_H
#define LATCH_COMMON_COMPANION_H

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  LATCH_COMPANION_FROM_ENV,
  LATCH_COMPANION_FROM_BUILD_TREE,
  LATCH_COMPANION_INSTALLED,
} LatchCompanionSource;

typedef struct
{
  const char *env;       /* "LATCH_DAEMON" */
  const char *in_build;  /* relative to the build tree's top: "latchd" */
  const char *installed; /* absolute: LATCH_DAEMON_PATH */
} LatchCompanion;

/* The path to use (transfer full); *source (may be NULL) says where it
 * came from, for error messages. */
char *latch_companion_path (const LatchCompanion *companion,
                            LatchCompanionSource *source);

/* What a message says to fix a companion that would not run or load:
 * "$LATCH_DAEMON names it", "run make in the build tree", "reinstall
 * latch" (transfer full). */
char *latch_companion_fix (const LatchCompanion *companion,
                                 LatchCompanionSource source);

G_END_DECLS

#endif
