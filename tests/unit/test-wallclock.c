/* test-wallclock.c: the daemon's clock never goes backwards. */
#include "config.h"

#include "common/wallclock.h"

#define S(s) ((gint64) (s) * G_USEC_PER_SEC)

static void
test_follows_system_clock (void)
{
  LatchWallclock c = LATCH_WALLCLOCK_INIT;

  g_assert_cmpint (latch_wallclock_now (&c, S (1000), S (5)), ==, S (1000));
  g_assert_cmpint (latch_wallclock_now (&c, S (1001), S (6)), ==, S (1001));
  /* A forward step is followed at once. */
  g_assert_cmpint (latch_wallclock_now (&c, S (2000), S (7)), ==, S (2000));
}

static void
test_step_back (void)
{
  LatchWallclock c = LATCH_WALLCLOCK_INIT;
  gint64 prev;

  g_assert_cmpint (latch_wallclock_now (&c, S (1000), S (10)), ==, S (1000));
  /* The system clock steps back an hour: time goes on at the monotonic
   * pace from 1000 s. */
  g_assert_cmpint (latch_wallclock_now (&c, S (1000 - 3600), S (11)), ==, S (1001));
  g_assert_cmpint (latch_wallclock_now (&c, S (1001 - 3600), S (12)), ==, S (1002));
  /* ...until the system clock catches up, which it then follows. */
  g_assert_cmpint (latch_wallclock_now (&c, S (1002), S (3612)), ==, S (4602));
  g_assert_cmpint (latch_wallclock_now (&c, S (4603), S (3613)), ==, S (4603));

  /* Any sequence of readings gives a non-decreasing result. */
  prev = G_MININT64;
  for (int i = 0; i < 10000; i++)
    {
      gint64 mono = S (4000) + i * 1000;
      gint64 real = S (4000) + S (g_test_rand_int_range (-3600, 3600));
      gint64 now = latch_wallclock_now (&c, real, mono);

      g_assert_cmpint (now, >=, prev);
      prev = now;
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/wallclock/follows-system-clock", test_follows_system_clock);
  g_test_add_func ("/wallclock/step-back", test_step_back);
  return g_test_run ();
}
