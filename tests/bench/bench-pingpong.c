#include "config.h"

/* bench-pingpong: the ceiling for bench-lock.
 *
 * Two processes on one machine bounce a fixed-size message over a UNIX
 * stream socketpair, each way, for a fixed time: about what one lock
 * request and its answer cost on the wire, with no daemon work at all.
 *
 * Over TCP, the echo side is a process of its own, possibly on another
 * host: `bench-pingpong --tcp-server [ADDR:]PORT` accepts one connection,
 * echoes until it closes and exits; `bench-pingpong --tcp HOST:PORT`
 * (IPv6 as [ADDR]:PORT) bounces the messages, with TCP_NODELAY on both
 * sides, retrying the connection for GRACE_SECONDS while the server
 * starts.  The server gives up GRACE_SECONDS * 3 past --seconds.
 */

#include "bench-util.h"

#include <glib.h>

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

/* Echoes every message until the other end closes; the exit status. */
static int
echo_loop (int fd, size_t size)
{
  g_autofree char *buf = g_malloc (size);

  for (;;)
    {
      ssize_t n = read_full (fd, buf, size);

      if (n == 0)
        return 0;
      if (n < 0 || !write_full (fd, buf, size))
        return 1;
    }
}

/* In the child: echo every message until the parent closes its end. */
static void G_GNUC_NORETURN
run_echo (int fd, size_t size, double seconds)
{
  alarm ((unsigned) seconds + 2 * GRACE_SECONDS);
  _exit (echo_loop (fd, size));
}

static void
set_nodelay (int fd)
{
  int one = 1;

  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* --tcp-server: one connection, echoed; the exit status. */
static int
run_tcp_server (const char *host, const char *port, size_t size, double seconds)
{
  struct addrinfo hints = { 0 }, *ai = NULL;
  int fd, conn, one = 1, gai, status;

  hints.ai_family = host == NULL ? AF_INET6 : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  if ((gai = getaddrinfo (host, port, &hints, &ai)) != 0)
    {
      fprintf (stderr, "bench-pingpong: %s: %s\n", host != NULL ? host : "*", gai_strerror (gai));
      return 1;
    }
  fd = socket (ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
  if (fd >= 0 && host == NULL)
    {
      int zero = 0;

      /* Any address, IPv4 as well. */
      setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    }
  if (fd < 0 || setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0
      || bind (fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen (fd, 1) != 0)
    {
      fprintf (stderr, "bench-pingpong: listening on port %s: %s\n", port, g_strerror (errno));
      freeaddrinfo (ai);
      return 1;
    }
  freeaddrinfo (ai);

  /* No client, or one stuck for good, must not keep us here. */
  alarm ((unsigned) seconds + 3 * GRACE_SECONDS);
  do
    conn = accept4 (fd, NULL, NULL, SOCK_CLOEXEC);
  while (conn < 0 && errno == EINTR);
  if (conn < 0)
    {
      fprintf (stderr, "bench-pingpong: accept: %s\n", g_strerror (errno));
      close (fd);
      return 1;
    }
  close (fd);
  set_nodelay (conn);
  status = echo_loop (conn, size);
  close (conn);
  if (status != 0)
    fprintf (stderr, "bench-pingpong: echo failed: %s\n", g_strerror (errno));
  return status;
}

/* --tcp: a connection to the server, retried while it is refused. */
static int
connect_tcp (const char *host, const char *port)
{
  struct addrinfo hints = { 0 }, *ai = NULL;
  gint64 deadline = g_get_monotonic_time () + GRACE_SECONDS * G_USEC_PER_SEC;
  int gai;

  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  if ((gai = getaddrinfo (host, port, &hints, &ai)) != 0)
    {
      fprintf (stderr, "bench-pingpong: %s: %s\n", host, gai_strerror (gai));
      return -1;
    }
  for (;;)
    {
      int fd = socket (ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
      int saved;

      if (fd >= 0 && connect (fd, ai->ai_addr, ai->ai_addrlen) == 0)
        {
          freeaddrinfo (ai);
          set_nodelay (fd);
          return fd;
        }
      saved = errno;
      if (fd >= 0)
        close (fd);
      if (saved != ECONNREFUSED || g_get_monotonic_time () >= deadline)
        {
          fprintf (stderr, "bench-pingpong: connecting to %s port %s: %s\n", host, port,
                   g_strerror (saved));
          freeaddrinfo (ai);
          return -1;
        }
      g_usleep (20 * G_TIME_SPAN_MILLISECOND);
    }
}

int
main (int argc, char **argv)
{
  double seconds = 3.0;
  int size = DEFAULT_SIZE;
  g_autofree char *tcp_arg = NULL;
  g_autofree char *server_arg = NULL;
  g_autofree char *host = NULL;
  const char *port = NULL; /* in server_arg or tcp_arg */
  GOptionEntry entries[] = {
    { "tcp", 0, 0, G_OPTION_ARG_STRING, &tcp_arg,
      "Bounce over TCP to a --tcp-server (IPv6: [ADDR]:PORT)", "HOST:PORT" },
    { "tcp-server", 0, 0, G_OPTION_ARG_STRING, &server_arg,
      "Echo one TCP connection on this port and exit", "[ADDR:]PORT" },
    { "seconds", 0, 0, G_OPTION_ARG_DOUBLE, &seconds, "Run time (default 3)", "S" },
    { "size", 0, 0, G_OPTION_ARG_INT, &size, "Message size each way (default 200)",
      "BYTES" },
    G_OPTION_ENTRY_NULL
  };
  g_autofree char *buf = NULL;
  int sv[2];
  pid_t pid = -1;
  int status = 0, ws;
  gint64 start, deadline, now, round_trips = 0;
  double wall, per_second, mean_us;

  if (!bench_parse_options ("bench-pingpong",
                            "- UNIX socket or TCP ping-pong between two processes", entries,
                            &argc, &argv))
    return 2;
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

  if (tcp_arg != NULL && server_arg != NULL)
    {
      fprintf (stderr, "bench-pingpong: --tcp and --tcp-server exclude each other\n");
      return 2;
    }
  if (server_arg != NULL)
    {
      if (!bench_parse_host_port (server_arg, TRUE, &host, &port, NULL))
        {
          fprintf (stderr, "bench-pingpong: --tcp-server \"%s\": give [ADDR:]PORT\n",
                   server_arg);
          return 2;
        }
      return run_tcp_server (host, port, (size_t) size, seconds);
    }
  if (tcp_arg != NULL)
    {
      if (!bench_parse_host_port (tcp_arg, FALSE, &host, &port, NULL))
        {
          fprintf (stderr, "bench-pingpong: --tcp \"%s\": give HOST:PORT or [ADDR]:PORT\n",
                   tcp_arg);
          return 2;
        }
      if ((sv[0] = connect_tcp (host, port)) < 0)
        return 1;
    }
  else
    {
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
    }

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

  ws = 0;
  while (pid > 0 && waitpid (pid, &ws, 0) < 0)
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
  printf ("bench-pingpong: transport=%s seconds=%.2f round_trips=%" G_GINT64_FORMAT
          " per_second=%.0f mean_us=%.2f\n",
          tcp_arg != NULL ? "tcp" : "unix", wall, round_trips, per_second, mean_us);
  return status;
}
