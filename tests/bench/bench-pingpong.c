#include "config.h"

/* bench-pingpong: the ceiling for bench-lock.
 *
 * Two processes on one machine bounce a fixed-size message over a UNIX
 * stream socketpair, each way, for a fixed time: about what one lock
 * request and its answer cost on the wire, with no daemon work at all.
 */

#include <glib.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* About the size of a lock request or answer on the wire. */
#define DEFAULT_SIZE 200
#define MAX_SIZE 65536
#define GRACE_SECONDS 5

/* Returns len, 0 at end of file, -1 on error. */
static ssize_t
read_full (int fd, char *buf, size_t len)
{
  size_t got = 0;

  while (got < len)
    {
      ssize_t n = read (fd, buf + got, len - got);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -1;
      if (n == 0)
        return got == 0 ? 0 : -1;
      got += (size_t) n;
    }
  return (ssize_t) got;
}

static gboolean
write_full (int fd, const char *buf, size_t len)
{
  while (len > 0)
    {
      ssize_t n = send (fd, buf, len, MSG_NOSIGNAL);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      buf += n;
      len -= (size_t) n;
    }
  return TRUE;
}

/* In the child: echo every message until the parent closes its end. */
static void G_GNUC_NORETURN
run_echo (int fd, size_t size, double seconds)
{
  g_autofree char *buf = g_malloc (size);

  alarm ((unsigned) seconds + 2 * GRACE_SECONDS);
  for (;;)
    {
      ssize_t n = read_full (fd, buf, size);

      if (n == 0)
        _exit (0);
      if (n < 0 || !write_full (fd, buf, size))
        _exit (1);
    }
}

int
main (int argc, char **argv)
{
  double seconds = 3.0;
  int size = DEFAULT_SIZE;
  GOptionEntry entries[] = {
    { "seconds", 0, 0, G_OPTION_ARG_DOUBLE, &seconds, "Run time (default 3)", "S" },
    { "size", 0, 0, G_OPTION_ARG_INT, &size, "Message size each way (default 200)",
      "BYTES" },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *buf = NULL;
  int sv[2];
  pid_t pid;
  int status = 0, ws;
  gint64 start, deadline, now, round_trips = 0;
  double wall, per_second, mean_us;

  context = g_option_context_new ("- UNIX socket ping-pong between two processes");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "bench-pingpong: %s\n", error->message);
      return 2;
    }
  if (!(seconds > 0.0 && seconds <= 3600.0))
    {
      fprintf (stderr, "bench-pingpong: --seconds must be above 0 and at most 3600\n");
      return 2;
    }
  if (size < 1 || size > MAX_SIZE)
    {
      fprintf (stderr, "bench-pingpong: --size must be 1 to %d\n", MAX_SIZE);
      return 2;
    }

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    {
      fprintf (stderr, "bench-pingpong: socketpair: %s\n", g_strerror (errno));
      return 1;
    }
  fflush (NULL);
  pid = fork ();
  if (pid < 0)
    {
      fprintf (stderr, "bench-pingpong: fork: %s\n", g_strerror (errno));
      return 1;
    }
  if (pid == 0)
    {
      close (sv[0]);
      run_echo (sv[1], (size_t) size, seconds);
    }
  close (sv[1]);

  buf = g_malloc (size);
  memset (buf, 'x', size);
  /* A child stuck for good must not keep us here: the alarm ends us. */
  alarm ((unsigned) seconds + GRACE_SECONDS);

  start = g_get_monotonic_time ();
  deadline = start + (gint64) (seconds * G_USEC_PER_SEC);
  now = start;
  while (now < deadline)
    {
      if (!write_full (sv[0], buf, size) || read_full (sv[0], buf, size) != size)
        {
          fprintf (stderr, "bench-pingpong: the echo process went away: %s\n",
                   g_strerror (errno));
          status = 1;
          break;
        }
      round_trips++;
      now = g_get_monotonic_time ();
    }
  alarm (0);
  close (sv[0]);

  while (waitpid (pid, &ws, 0) < 0)
    if (errno != EINTR)
      {
        ws = 1;
        break;
      }
  if (!WIFEXITED (ws) || WEXITSTATUS (ws) != 0)
    {
      fprintf (stderr, "bench-pingpong: the echo process failed\n");
      status = 1;
    }

  wall = (double) (now - start) / G_USEC_PER_SEC;
  per_second = wall > 0.0 ? (double) round_trips / wall : 0.0;
  mean_us = round_trips > 0 ? (double) (now - start) / (double) round_trips : 0.0;
  printf ("bench-pingpong: seconds=%.2f round_trips=%" G_GINT64_FORMAT
          " per_second=%.0f mean_us=%.2f\n",
          wall, round_trips, per_second, mean_us);
  return status;
}
