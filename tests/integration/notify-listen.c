/* notify-listen: receives datagrams on a UNIX socket as systemd does,
 * for systemd.sh.
 *
 *   notify-listen [-c SOCKET] PATH [SECONDS]
 *
 * Binds a datagram socket at PATH (sd_notify's NOTIFY_SOCKET, or
 * /run/systemd/journal/socket for native journal entries) and writes
 * each datagram received to stdout, then a line "--", flushed at once so
 * that the test can wait on the file.  With -c, a datagram holding
 * READY=1 is answered by connecting to the stream socket SOCKET right
 * away, before anything else is read: "connect: ok" says that the
 * daemon accepted connections by the time it said it was ready (a
 * connection queued in the backlog is accepted by the kernel).  Exits
 * on SIGTERM or after SECONDS (default 60): it never outlives a test
 * that forgot it. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void
try_connect (const char *path)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  if (fd < 0 || strlen (path) >= sizeof sun.sun_path)
    {
      printf ("connect: failed: %s\n", fd < 0 ? strerror (errno) : "path too long");
      if (fd >= 0)
        close (fd);
      return;
    }
  memcpy (sun.sun_path, path, strlen (path) + 1);
  if (connect (fd, (struct sockaddr *)&sun, sizeof sun) == 0)
    printf ("connect: ok\n");
  else
    printf ("connect: failed: %s\n", strerror (errno));
  close (fd);
}

static int
has_line (const char *buf, size_t len, const char *line)
{
  size_t n = strlen (line);

  for (size_t i = 0; i + n <= len; i++)
    if ((i == 0 || buf[i - 1] == '\n') && memcmp (buf + i, line, n) == 0
        && (i + n == len || buf[i + n] == '\n'))
      return 1;
  return 0;
}

int
main (int argc, char **argv)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  const char *check = NULL;
  const char *path;
  unsigned seconds = 60;
  int fd;
  int opt;

  while ((opt = getopt (argc, argv, "c:")) != -1)
    {
      if (opt != 'c')
        return 2;
      check = optarg;
    }
  if (optind >= argc)
    {
      fprintf (stderr, "usage: notify-listen [-c SOCKET] PATH [SECONDS]\n");
      return 2;
    }
  path = argv[optind];
  if (optind + 1 < argc)
    seconds = (unsigned)strtoul (argv[optind + 1], NULL, 10);
  if (strlen (path) >= sizeof sun.sun_path)
    {
      fprintf (stderr, "notify-listen: %s: path too long\n", path);
      return 1;
    }
  memcpy (sun.sun_path, path, strlen (path) + 1);
  fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || (unlink (path) != 0 && errno != ENOENT)
      || bind (fd, (struct sockaddr *)&sun, sizeof sun) != 0)
    {
      fprintf (stderr, "notify-listen: %s: %s\n", path, strerror (errno));
      return 1;
    }
  signal (SIGALRM, SIG_DFL);
  alarm (seconds);
  /* The test waits for this line before it starts the daemon. */
  printf ("listening\n");
  fflush (stdout);
  for (;;)
    {
      char buf[65536];
      ssize_t n = recv (fd, buf, sizeof buf, 0);

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          fprintf (stderr, "notify-listen: recv: %s\n", strerror (errno));
          return 1;
        }
      if (check != NULL && has_line (buf, (size_t)n, "READY=1"))
        try_connect (check);
      fwrite (buf, 1, (size_t)n, stdout);
      if (n > 0 && buf[n - 1] != '\n')
        putchar ('\n');
      printf ("--\n");
      fflush (stdout);
    }
}
