/* api-user: a program that knows only latch.h and liblatch.so, built by
 * liblatch.sh the way a user would build one.  Prints one line per check;
 * exit 0 when all hold. */
#include <latch.h>

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures;

static void
expect (int cond, const char *what)
{
  printf ("%s %s\n", cond ? "ok" : "FAILED", what);
  failures += !cond;
}

int
main (void)
{
  LatchHandle *a = latch_handle_new ();
  LatchHandle *b = latch_handle_new ();
  uint64_t f1, f2;
  struct pollfd pfd;

  expect (latch_set_resource_name (a, "api") == LATCH_RC_OK, "set a name");
  expect (latch_set_resource_name (b, "a b") == LATCH_RC_INVALID_RESOURCE_NAME,
          "an invalid name is refused");
  expect (strstr (latch_get_error (b), "'a b'") != NULL, "...and named in the error");
  expect (latch_set_resource_name (b, "api") == LATCH_RC_OK, "b uses the same name");
  expect (latch_set_daemon_lifespan (a, -1) == LATCH_RC_OK, "daemon lifespan -1");
  expect (latch_lock (a) == LATCH_RC_OK, "a locks (starting a daemon)");
  f1 = latch_get_fence (a);
  expect (f1 > 0, "a got a fencing token");
  expect (latch_set_resource_name (a, "other") == LATCH_RC_API_IMMUTABLE_HANDLE,
          "options are fixed while locked");
  expect (latch_lock (a) == LATCH_RC_API_INVALID_SEQUENCE, "locking twice is refused");
  latch_set_resource_timeout (b, 0);
  expect (latch_lock (b) == LATCH_RC_LOCK_BUSY, "b with timeout 0 finds it busy");
  latch_set_resource_timeout (b, 200);
  expect (latch_lock (b) == LATCH_RC_NETWORK_TIMEOUT, "b with timeout 200 ms times out");
  expect (latch_unlock (a, 0) == LATCH_RC_OK, "a unlocks");
  expect (latch_unlock (a, 0) == LATCH_RC_API_INVALID_SEQUENCE, "unlocking twice is refused");
  expect (latch_lock (b) == LATCH_RC_OK, "b locks once a has unlocked");
  f2 = latch_get_fence (b);
  expect (f2 > f1, "b's token is greater than a's");

  /* The daemon goes away: the fd reports it. */
  expect (latch_shutdown_daemon (a, 1) == LATCH_RC_OK, "a stops the daemon at once");
  pfd.fd = latch_get_fd (b);
  pfd.events = POLLIN;
  expect (pfd.fd >= 0 && poll (&pfd, 1, 5000) == 1, "b's fd reports the lock lost");
  expect (latch_unlock (b, 0) == LATCH_RC_CONNECTION_CLOSED, "b's unlock says it was lost");
  expect (strcmp (latch_strerror (LATCH_RC_LOCK_BUSY), "resource busy") == 0, "latch_strerror");

  latch_handle_free (a);
  latch_handle_free (b);
  return failures == 0 ? 0 : 1;
}
