#include "config.h"

#include "common/wallclock.h"

gint64
latch_wallclock_now (LatchWallclock *clock, gint64 real_us, gint64 mono_us)
{
  gint64 guarded = clock->last + (mono_us - clock->mono);

  if (!clock->started || real_us > guarded)
    guarded = real_us;
  clock->started = TRUE;
  clock->last = guarded;
  clock->mono = mono_us;
  return guarded;
}
