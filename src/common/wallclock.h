/* wallclock.h: wall-clock time that never goes backwards.
 *
 * Pure: the caller passes both readings (g_get_real_time () and
 * g_get_monotonic_time ()).  While the system clock moves forward the
 * result is the system clock.  When it steps back, the result goes on
 * from where it was at the monotonic clock's pace until the system clock
 * catches up.  Timestamp resources need this to stay unique and
 * increasing for the daemon's life. */
#ifndef LATCH_COMMON_WALLCLOCK_H
#define LATCH_COMMON_WALLCLOCK_H

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  gboolean started;
  gint64 last;  /* the last value returned, µs since the epoch */
  gint64 mono;  /* the monotonic reading then, µs */
} LatchWallclock;

#define LATCH_WALLCLOCK_INIT { FALSE, 0, 0 }

gint64 latch_wallclock_now (LatchWallclock *clock, gint64 real_us, gint64 mono_us);

G_END_DECLS

#endif
