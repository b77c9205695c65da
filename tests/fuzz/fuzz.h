/* fuzz.h: what every fuzz target shares. */
#ifndef LATCH_TESTS_FUZZ_FUZZ_H
#define LATCH_TESTS_FUZZ_FUZZ_H

#include <glib.h>

#include <stdlib.h>

/* A property the target checks: its violation is a crash, which libFuzzer
 * (and the replay program) reports with the input. */
static inline void
require (gboolean condition)
{
  if (!condition)
    abort ();
}

/* GLib's criticals and warnings are crashes too: a g_return_if_fail()
 * that input can trip is a bug. */
static inline void
fuzz_make_warnings_fatal (void)
{
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
}

#endif
