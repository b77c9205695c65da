#include "config.h"

/* bench-lock: lock+unlock round trips through liblatch.
 *
 * Forks N client processes (a LatchHandle belongs to one process), each
 * locking and unlocking the same resource in a loop for a fixed time.
 * Each child sends its count back through a pipe; the parent prints one
 * summary line and then tells the daemon to exit at once.
 *
 * The daemon is reached through a UNIX socket (--socket PATH) or over TCP
 * (--tcp HOST:PORT, IPv6 as [ADDR]:PORT).  It is this benchmark's own:
 * liblatch starts the program named by $LATCH_DAEMON when none answers
 * there (daemon lifespan -1: it lives until told to exit; over TCP only
 * when HOST is an address of this host).  With --no-start the daemon is
 * someone else's: none is started and the one found is left running.
 *
 * --multicast GROUP:PORT times discovery instead of running the loop: the
 * first latch_lock() of a fresh handle that knows only the group (UDP
 * discovery, then a TCP connection to the address that answered, then the
 * grant), --discoveries times, one line with the mean, min and max.  With
 * --tcp as well, the first lock of a fresh handle given that address
 * directly is timed alternately, so that the difference is the discovery.
 *
 * --tls-dir DIR runs everything over TLS, with the certificates that
 * tests/tls-certs.sh makes: DIR/NAME.pem and DIR/NAME.key (NAME is
 * peer1_ca1 unless --tls-cert says otherwise) and the CA DIR/ca1.pem, set
 * on every handle through liblatch, which hands them to the daemon it
 * starts.  The level is channel, or mutual with --mutual (each side's
 * announced machine ID checked against its certificate: NAME's CN must be
 * this host's `latch --unique-id`).
 *
 * Each client reuses one handle for all its locks: against a latch daemon
 * that is one connection (a session) and, over TLS, one handshake for the
 * whole run.  With --fresh each lock+unlock takes a new handle, hence a
 * connection of its own and, over TLS, a full handshake (latch turns
 * session tickets off, so that every connection is verified and
 * CRL-checked): the cost before sessions, and a FLoM daemon's.  Handles
 * talk to the daemon directly; --agent sends them through the local agent
 * (latch_set_agent ()) instead.
 */

#include "bench-util.h"
#include "latch.h"

#include <glib.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Children get this long after --seconds before the parent gives up on
 * them; a waiter queued behind a lost daemon must not hang the bench. */
#define GRACE_SECONDS 5
#define MAX_CLIENTS 1024
#define MAX_DISCOVERIES 1000
/* Between two timed discoveries: the daemon answers one query per source
 * address every 10 ms and 50 a second in all. */
#define DISCOVERY_PAUSE_US (100 * G_TIME_SPAN_MILLISECOND)

/* One child's answer.  Smaller than PIPE_BUF, so each write is atomic and
 * the children can share one pipe. */
typedef struct
{
  int32_t index;
  int32_t rc;
  int64_t round_trips;
  int64_t elapsed_us;
  char error[256];
} Result;

G_STATIC_ASSERT (sizeof (Result) <= PIPE_BUF);

/* Where the daemon is (bench-util.h). */
typedef BenchTarget Target;

static gboolean
parse_mode (const char *text, LatchLockMode *mode)
{
  static const struct
  {
    const char *name;
    LatchLockMode mode;
  } modes[] = {
    { "NL", LATCH_LOCK_MODE_NL }, { "CR", LATCH_LOCK_MODE_CR },
    { "CW", LATCH_LOCK_MODE_CW }, { "PR", LATCH_LOCK_MODE_PR },
    { "PW", LATCH_LOCK_MODE_PW }, { "EX", LATCH_LOCK_MODE_EX },
  };

  for (size_t i = 0; i < G_N_ELEMENTS (modes); i++)
    if (g_ascii_strcasecmp (text, modes[i].name) == 0)
      {
        *mode = modes[i].mode;
        return TRUE;
      }
  return FALSE;
}

static gboolean
write_all (int fd, const void *buf, size_t len)
{
  const char *p = buf;

  while (len > 0)
    {
      ssize_t n = write (fd, p, len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      p += n;
      len -= (size_t) n;
    }
  return TRUE;
}

/* Directly to the daemon unless agent (see the header comment). */
static gboolean opt_agent;
/* A new handle for each lock+unlock. */
static gboolean opt_fresh;

static LatchHandle *
open_handle (const Target *t, char *error, size_t error_size)
{
  LatchHandle *h = bench_open_handle (t, error, error_size);

  if (h != NULL && latch_set_agent (h, opt_agent) != LATCH_RC_OK)
    {
      g_strlcpy (error, latch_get_error (h), error_size);
      latch_handle_free (h);
      return NULL;
    }
  return h;
}

/* In the child: wait for the start signal, loop, report, exit. */
static void G_GNUC_NORETURN
run_client (const Target *t, int index, double seconds, int go_fd, int result_fd)
{
  Result r;
  LatchHandle *h;
  char byte;
  ssize_t n;

  memset (&r, 0, sizeof r);
  r.index = index;

  /* A safety net should the parent die: the default action ends us. */
  alarm ((unsigned) seconds + 2 * GRACE_SECONDS);

  h = open_handle (t, r.error, sizeof r.error);
  if (h == NULL)
    r.rc = LATCH_RC_INTERNAL_ERROR;

  /* The parent closes its end of go_fd once every child exists. */
  do
    n = read (go_fd, &byte, 1);
  while (n < 0 && errno == EINTR);
  close (go_fd);

  if (h != NULL)
    {
      gint64 start = g_get_monotonic_time ();
      gint64 deadline = start + (gint64) (seconds * G_USEC_PER_SEC);
      gint64 now = start;

      while (now < deadline)
        {
          int rc = latch_lock (h);

          if (rc == LATCH_RC_OK)
            rc = latch_unlock (h, 0);
          if (rc != LATCH_RC_OK)
            {
              r.rc = rc;
              g_snprintf (r.error, sizeof r.error, "%s (%s)", latch_get_error (h),
                          latch_strerror (rc));
              break;
            }
          r.round_trips++;
          if (opt_fresh)
            {
              latch_handle_free (h);
              if ((h = open_handle (t, r.error, sizeof r.error)) == NULL)
                {
                  r.rc = LATCH_RC_INTERNAL_ERROR;
                  break;
                }
            }
          now = g_get_monotonic_time ();
        }
      r.elapsed_us = now - start;
      latch_handle_free (h);
    }

  _exit (write_all (result_fd, &r, sizeof r) && r.rc == LATCH_RC_OK ? 0 : 1);
}

/* Reads one Result from fd, waiting until deadline (monotonic µs).
 * Returns 1 on a result, 0 on end of file, -1 on timeout or error. */
static int
read_result (int fd, gint64 deadline, Result *r)
{
  size_t got = 0;

  while (got < sizeof *r)
    {
      gint64 left = deadline - g_get_monotonic_time ();
      struct pollfd pfd = { fd, POLLIN, 0 };
      ssize_t n;
      int p;

      if (left <= 0)
        return -1;
      p = poll (&pfd, 1, (int) MIN (left / 1000 + 1, G_MAXINT));
      if (p < 0 && errno == EINTR)
        continue;
      if (p < 0)
        return -1;
      if (p == 0)
        continue;
      n = read (fd, (char *) r + got, sizeof *r - got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -1;
      if (n == 0)
        return got == 0 ? 0 : -1;
      got += (size_t) n;
    }
  return 1;
}

/* The first latch_lock() of a fresh handle for t, in µs, or -1 with the
 * failure in error.  The unlock is not timed. */
static gint64
time_first_lock (const Target *t, char *error, size_t error_size)
{
  LatchHandle *h = open_handle (t, error, error_size);
  gint64 start, us;
  int rc;

  if (h == NULL)
    return -1;
  start = g_get_monotonic_time ();
  rc = latch_lock (h);
  us = g_get_monotonic_time () - start;
  if (rc == LATCH_RC_OK)
    rc = latch_unlock (h, 0);
  if (rc != LATCH_RC_OK)
    {
      g_snprintf (error, error_size, "%s (%s)", latch_get_error (h), latch_strerror (rc));
      us = -1;
    }
  latch_handle_free (h);
  return us;
}

typedef struct
{
  gint64 sum, min, max;
  int n;
} Stats;

static void
stats_add (Stats *s, gint64 us)
{
  s->min = s->n == 0 ? us : MIN (s->min, us);
  s->max = s->n == 0 ? us : MAX (s->max, us);
  s->sum += us;
  s->n++;
}

static double
stats_mean_ms (const Stats *s)
{
  return s->n > 0 ? (double) s->sum / s->n / 1000.0 : 0.0;
}

/* --multicast: times `runs` discoveries (and, with a TCP address too, as
 * many direct first locks, alternately) and prints one line. */
static int
run_discoveries (const Target *target, int runs)
{
  Target by_group = *target, direct = *target;
  Stats found = { 0 }, straight = { 0 };
  char message[256];

  /* Fresh handles never start a daemon: a failed discovery must fail,
   * not time the start of a local one. */
  by_group.tcp_host = NULL;
  by_group.lifespan = 0;
  direct.mcast_group = NULL;
  direct.lifespan = 0;

  for (int i = 0; i < runs; i++)
    {
      gint64 us;

      g_usleep (DISCOVERY_PAUSE_US);
      if ((us = time_first_lock (&by_group, message, sizeof message)) < 0)
        {
          fprintf (stderr, "bench-lock: discovery %d: %s\n", i + 1, message);
          return 1;
        }
      stats_add (&found, us);
      if (direct.tcp_host == NULL)
        continue;
      g_usleep (DISCOVERY_PAUSE_US);
      if ((us = time_first_lock (&direct, message, sizeof message)) < 0)
        {
          fprintf (stderr, "bench-lock: direct lock %d: %s\n", i + 1, message);
          return 1;
        }
      stats_add (&straight, us);
    }

  printf ("bench-lock: transport=multicast group=%s%s%s:%d runs=%d mean_ms=%.2f min_ms=%.2f "
          "max_ms=%.2f",
          strchr (target->mcast_group, ':') != NULL ? "[" : "", target->mcast_group,
          strchr (target->mcast_group, ':') != NULL ? "]" : "", target->mcast_port, found.n,
          stats_mean_ms (&found), (double) found.min / 1000.0, (double) found.max / 1000.0);
  if (straight.n > 0)
    printf (" tcp_mean_ms=%.2f tcp_min_ms=%.2f discovery_ms=%.2f", stats_mean_ms (&straight),
            (double) straight.min / 1000.0, stats_mean_ms (&found) - stats_mean_ms (&straight));
  printf ("\n");
  return 0;
}

int
main (int argc, char **argv)
{
  g_autofree char *socket_arg = NULL;
  g_autofree char *socket_path = NULL;
  g_autofree char *tcp_arg = NULL;
  g_autofree char *tcp_host = NULL;
  g_autofree char *mcast_arg = NULL;
  g_autofree char *mcast_group = NULL;
  g_autofree char *interface = NULL;
  g_autofree char *resource = NULL;
  g_autofree char *mode_arg = NULL;
  g_autofree char *tls_dir = NULL;
  g_autofree char *tls_cert = NULL;
  g_autofree char *tls_priority = NULL;
  g_autofree char *tls_certificate = NULL;
  g_autofree char *tls_private_key = NULL;
  g_autofree char *tls_ca_certificate = NULL;
  gboolean mutual = FALSE;
  int clients = 1, discoveries = 10;
  gboolean no_start = FALSE;
  double seconds = 3.0;
  GOptionEntry entries[] = {
    { "socket", 0, 0, G_OPTION_ARG_FILENAME, &socket_arg,
      "UNIX socket of the bench's own daemon", "PATH" },
    { "tcp", 0, 0, G_OPTION_ARG_STRING, &tcp_arg,
      "Reach the daemon over TCP (IPv6: [ADDR]:PORT)", "HOST:PORT" },
    { "multicast", 0, 0, G_OPTION_ARG_STRING, &mcast_arg,
      "Time discovery on this group instead of the loop", "GROUP:PORT" },
    { "interface", 0, 0, G_OPTION_ARG_STRING, &interface,
      "Network interface for discovery", "IFACE" },
    { "discoveries", 0, 0, G_OPTION_ARG_INT, &discoveries,
      "Discoveries timed with --multicast (default 10)", "N" },
    { "no-start", 0, 0, G_OPTION_ARG_NONE, &no_start,
      "Use a running daemon: never start one, leave it running", NULL },
    { "clients", 0, 0, G_OPTION_ARG_INT, &clients, "Client processes (default 1)", "N" },
    { "seconds", 0, 0, G_OPTION_ARG_DOUBLE, &seconds, "Run time (default 3)", "S" },
    { "resource", 0, 0, G_OPTION_ARG_STRING, &resource,
      "Resource name (default \"bench\")", "NAME" },
    { "mode", 0, 0, G_OPTION_ARG_STRING, &mode_arg, "Lock mode, EX or PR (default EX)",
      "MODE" },
    { "tls-dir", 0, 0, G_OPTION_ARG_FILENAME, &tls_dir,
      "TLS with the certificates of tests/tls-certs.sh in DIR (CA: DIR/ca1.pem)", "DIR" },
    { "tls-cert", 0, 0, G_OPTION_ARG_STRING, &tls_cert,
      "With --tls-dir: this node's DIR/NAME.pem and DIR/NAME.key (default peer1_ca1)",
      "NAME" },
    { "mutual", 0, 0, G_OPTION_ARG_NONE, &mutual,
      "With --tls-dir: mutual level (check the peers' machine IDs), not channel", NULL },
    { "tls-priority", 0, 0, G_OPTION_ARG_STRING, &tls_priority,
      "With --tls-dir: GnuTLS priority string (default: latch's)", "STRING" },
    { "fresh", 0, 0, G_OPTION_ARG_NONE, &opt_fresh,
      "A new handle (connection) for each lock+unlock, not one reused", NULL },
    { "agent", 0, 0, G_OPTION_ARG_NONE, &opt_agent,
      "Through the local agent, not directly to the daemon", NULL },
    G_OPTION_ENTRY_NULL
  };
  g_autofree pid_t *pids = NULL;
  Target target = { 0 };
  const char *transport;
  LatchHandle *h;
  char message[256];
  int go_pipe[2], result_pipe[2];
  int status = 0, received = 0, rc;
  gint64 start, deadline, total = 0, wall_us = 0;
  double wall, per_second, mean_us;

  if (!bench_parse_options ("bench-lock", "- lock+unlock round trips through liblatch", entries,
                            &argc, &argv))
    return 2;
  if (socket_arg != NULL && socket_arg[0] == '\0')
    g_clear_pointer (&socket_arg, g_free);
  if ((socket_arg != NULL) + (tcp_arg != NULL || mcast_arg != NULL) != 1)
    {
      fprintf (stderr, "bench-lock: give --socket PATH, or --tcp HOST:PORT and/or "
                       "--multicast GROUP:PORT\n");
      return 2;
    }
  if (tcp_arg != NULL
      && !bench_parse_host_port (tcp_arg, FALSE, &tcp_host, NULL, &target.tcp_port))
    {
      fprintf (stderr, "bench-lock: --tcp \"%s\": give HOST:PORT or [ADDR]:PORT\n", tcp_arg);
      return 2;
    }
  if (mcast_arg != NULL && !bench_parse_host_port (mcast_arg, FALSE, &mcast_group, NULL,
                                                     &target.mcast_port))
    {
      fprintf (stderr, "bench-lock: --multicast \"%s\": give GROUP:PORT or [GROUP]:PORT\n",
               mcast_arg);
      return 2;
    }
  if (clients < 1 || clients > MAX_CLIENTS)
    {
      fprintf (stderr, "bench-lock: --clients must be 1 to %d\n", MAX_CLIENTS);
      return 2;
    }
  if (discoveries < 1 || discoveries > MAX_DISCOVERIES)
    {
      fprintf (stderr, "bench-lock: --discoveries must be 1 to %d\n", MAX_DISCOVERIES);
      return 2;
    }
  if (!(seconds > 0.0 && seconds <= 3600.0))
    {
      fprintf (stderr, "bench-lock: --seconds must be above 0 and at most 3600\n");
      return 2;
    }
  if (tls_dir == NULL && (tls_cert != NULL || mutual || tls_priority != NULL))
    {
      fprintf (stderr, "bench-lock: --tls-cert, --mutual and --tls-priority need --tls-dir\n");
      return 2;
    }
  bench_target_tls (&target, tls_dir, tls_cert, tls_priority, mutual, &tls_certificate,
                    &tls_private_key, &tls_ca_certificate);
  if (resource == NULL)
    resource = g_strdup ("bench");
  if (mode_arg == NULL)
    mode_arg = g_strdup ("EX");

  if (socket_arg != NULL)
    {
      /* The daemon changes to / when it starts: the path must be absolute. */
      socket_path = g_canonicalize_filename (socket_arg, NULL);
      target.socket = socket_path;
      transport = "unix";
    }
  else
    transport = mcast_group != NULL ? "multicast" : "tcp";
  target.tcp_host = tcp_host;
  target.mcast_group = mcast_group;
  target.interface = interface;
  target.resource = resource;
  target.lifespan = no_start ? 0 : -1;
  if (!parse_mode (mode_arg, &target.mode))
    {
      fprintf (stderr, "bench-lock: unknown lock mode \"%s\" (EX or PR)\n", mode_arg);
      return 2;
    }
  {
    char *upper = g_ascii_strup (mode_arg, -1);

    g_free (mode_arg);
    mode_arg = upper;
  }

  /* One round trip first: it starts the daemon, so that the clients do
   * not race to start one each, and it checks the options.  With both a
   * TCP address and a group, the daemon started answers discovery too. */
  h = open_handle (&target, message, sizeof message);
  if (h == NULL)
    {
      fprintf (stderr, "bench-lock: %s\n", message);
      return 1;
    }
  if ((rc = latch_lock (h)) != LATCH_RC_OK || (rc = latch_unlock (h, 0)) != LATCH_RC_OK)
    {
      fprintf (stderr, "bench-lock: warm-up: %s\n", latch_get_error (h));
      if (!no_start)
        latch_shutdown_daemon (h, 1);
      latch_handle_free (h);
      return 1;
    }

  if (mcast_group != NULL)
    {
      status = run_discoveries (&target, discoveries);
      goto shutdown;
    }

  if (pipe (go_pipe) != 0 || pipe (result_pipe) != 0)
    {
      fprintf (stderr, "bench-lock: pipe: %s\n", g_strerror (errno));
      if (!no_start)
        latch_shutdown_daemon (h, 1);
      latch_handle_free (h);
      return 1;
    }
  fflush (NULL);
  pids = g_new0 (pid_t, clients);
  for (int i = 0; i < clients; i++)
    {
      pids[i] = fork ();
      if (pids[i] < 0)
        {
          fprintf (stderr, "bench-lock: fork: %s\n", g_strerror (errno));
          status = 1;
          clients = i;
          break;
        }
      if (pids[i] == 0)
        {
          close (go_pipe[1]);
          close (result_pipe[0]);
          run_client (&target, i, seconds, go_pipe[0], result_pipe[1]);
        }
    }
  close (go_pipe[0]);
  close (result_pipe[1]);

  /* Start them all at once. */
  start = g_get_monotonic_time ();
  close (go_pipe[1]);

  deadline = start + (gint64) ((seconds + GRACE_SECONDS) * G_USEC_PER_SEC);
  while (received < clients)
    {
      Result r;
      int got = read_result (result_pipe[0], deadline, &r);

      if (got <= 0)
        {
          fprintf (stderr, "bench-lock: %d of %d clients did not report%s\n",
                   clients - received, clients,
                   got < 0 ? " in time" : " (they died)");
          status = 1;
          break;
        }
      received++;
      if (r.rc != LATCH_RC_OK)
        {
          r.error[sizeof r.error - 1] = '\0';
          fprintf (stderr, "bench-lock: client %d: %s\n", r.index, r.error);
          status = 1;
        }
      total += r.round_trips;
      wall_us = MAX (wall_us, r.elapsed_us);
    }
  close (result_pipe[0]);

  /* Whatever is left is stuck: end it. */
  if (received < clients)
    for (int i = 0; i < clients; i++)
      kill (pids[i], SIGKILL);
  for (int i = 0; i < clients; i++)
    {
      int ws;

      while (waitpid (pids[i], &ws, 0) < 0 && errno == EINTR)
        ;
    }

  wall = (double) wall_us / G_USEC_PER_SEC;
  per_second = wall > 0.0 ? (double) total / wall : 0.0;
  /* A client's view: its share of the round trips took the whole time. */
  mean_us = total > 0 ? (double) wall_us * clients / (double) total : 0.0;
  printf ("bench-lock: transport=%s security=%s%s%s handle=%s%s clients=%d mode=%s "
          "seconds=%.2f round_trips=%" G_GINT64_FORMAT " per_second=%.0f mean_us=%.1f\n",
          transport, bench_security_name (target.level), tls_dir != NULL ? " cert=" : "",
          tls_dir != NULL ? (tls_cert != NULL ? tls_cert : "peer1_ca1") : "",
          opt_fresh ? "fresh" : "reused", opt_agent ? " agent=yes" : "", clients, mode_arg,
          wall, total, per_second, mean_us);

shutdown:
  if (!no_start && (rc = latch_shutdown_daemon (h, 1)) != LATCH_RC_OK)
    {
      fprintf (stderr, "bench-lock: shutting the daemon down: %s\n", latch_get_error (h));
      status = 1;
    }
  latch_handle_free (h);
  return status;
}
