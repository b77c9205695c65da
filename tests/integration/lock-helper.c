/* lock-helper: a small liblatch client and raw-socket poker for the
 * integration tests.
 *
 *   lock-helper lock NAME MODE TIMEOUT HOLD_FILE
 *     locks NAME (mode 0..5, timeout ms) on the default socket or $SOCK,
 *     prints "granted fence=N", holds until HOLD_FILE exists, unlocks,
 *     prints "unlocked".  If the lock is lost meanwhile: "lost", exit 3.
 *   lock-helper blackhole PORT HOLD_FILE
 *     listens on 127.0.0.1:PORT with a full backlog and never accepts, so
 *     that connects there hang (SYNs dropped) until HOLD_FILE exists.
 *   lock-helper raw SOCKET FILE [HOLD_FILE]
 *     sends FILE's bytes to SOCKET; with HOLD_FILE keeps the connection
 *     open (stalled) until HOLD_FILE exists; else prints what comes back
 *     until EOF ("<EOF>") or 5 s ("<TIMEOUT>").
 * Every wait is bounded (30 s). */
#include "config.h"

#include "latch.h"

#include <glib.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#define WAIT_LIMIT_MS 30000

static gboolean
wait_file_or_fd (const char *path, int fd)
{
  for (int waited = 0; waited < WAIT_LIMIT_MS; waited += 5)
    {
      struct pollfd pfd = { .fd = fd, .events = POLLIN };

      if (g_file_test (path, G_FILE_TEST_EXISTS))
        return TRUE;
      if (fd >= 0 && poll (&pfd, 1, 5) > 0)
        return FALSE;
      if (fd < 0)
        g_usleep (5000);
    }
  return TRUE;
}

static int
do_lock (char **argv)
{
  LatchHandle *h = latch_handle_new ();
  const char *sock = g_getenv ("SOCK");
  int rc;

  if ((rc = latch_set_resource_name (h, argv[0])) != 0
      || (rc = latch_set_lock_mode (h, (LatchLockMode)atoi (argv[1]))) != 0
      || (rc = latch_set_resource_timeout (h, atoi (argv[2]))) != 0
      || (sock != NULL && (rc = latch_set_socket_name (h, sock)) != 0)
      || (rc = latch_lock (h)) != 0)
    {
      printf ("error rc=%d %s\n", rc, latch_get_error (h));
      latch_handle_free (h);
      return 2;
    }
  printf ("granted fence=%" G_GUINT64_FORMAT "\n", (guint64)latch_get_fence (h));
  fflush (stdout);
  if (!wait_file_or_fd (argv[3], latch_get_fd (h)))
    {
      printf ("lost\n");
      latch_handle_free (h);
      return 3;
    }
  rc = latch_unlock (h, 0);
  printf (rc == 0 ? "unlocked\n" : "unlock failed\n");
  latch_handle_free (h);
  return rc == 0 ? 0 : 2;
}

static int
do_raw (int argc, char **argv)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  g_autofree char *data = NULL;
  gsize len;
  int fd = socket (AF_UNIX, SOCK_STREAM, 0);

  if (!g_file_get_contents (argv[1], &data, &len, NULL))
    return 2;
  g_strlcpy (sun.sun_path, argv[0], sizeof sun.sun_path);
  if (connect (fd, (struct sockaddr *)&sun, sizeof sun) != 0)
    {
      perror ("connect");
      return 2;
    }
  if (len > 0 && send (fd, data, len, MSG_NOSIGNAL) < 0)
    printf ("<SEND FAILED>\n");
  if (argc > 2)
    {
      wait_file_or_fd (argv[2], -1);
      close (fd);
      return 0;
    }
  for (;;)
    {
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      char buf[4096];
      ssize_t n;

      if (poll (&pfd, 1, 5000) <= 0)
        {
          printf ("<TIMEOUT>\n");
          break;
        }
      n = recv (fd, buf, sizeof buf, 0);
      if (n <= 0)
        {
          printf ("<EOF>\n");
          break;
        }
      fwrite (buf, 1, (size_t)n, stdout);
      fflush (stdout); /* a test may wait for an answer in the file */
    }
  close (fd);
  return 0;
}

static int
do_blackhole (char **argv)
{
  struct sockaddr_in sin = { .sin_family = AF_INET };
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  int fillers[4];

  sin.sin_port = htons ((uint16_t)atoi (argv[0]));
  sin.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (bind (fd, (struct sockaddr *)&sin, sizeof sin) != 0 || listen (fd, 0) != 0)
    {
      perror ("blackhole");
      return 2;
    }
  /* Fill the accept queue: later SYNs are dropped. */
  for (gsize i = 0; i < G_N_ELEMENTS (fillers); i++)
    {
      fillers[i] = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      if (connect (fillers[i], (struct sockaddr *)&sin, sizeof sin) != 0)
        { /* EINPROGRESS for the ones that do not fit */ }
    }
  printf ("listening\n");
  fflush (stdout);
  wait_file_or_fd (argv[1], -1);
  return 0;
}

int
main (int argc, char **argv)
{
  if (argc == 4 && strcmp (argv[1], "blackhole") == 0)
    return do_blackhole (argv + 2);
  if (argc == 6 && strcmp (argv[1], "lock") == 0)
    return do_lock (argv + 2);
  if ((argc == 4 || argc == 5) && strcmp (argv[1], "raw") == 0)
    return do_raw (argc - 2, argv + 2);
  fprintf (stderr, "usage: lock-helper lock NAME MODE TIMEOUT HOLD_FILE | "
           "raw SOCKET FILE [HOLD_FILE]\n");
  return 2;
}
