#include "config.h"

/* bench-lock: lock+unlock round trips through liblatch.
 *
 * Forks N client processes (a LatchHandle belongs to one process), each
 * locking and unlocking the same resource in a loop for a fixed time.
 * Each child sends its count back through a pipe; the parent prints one
 * summary line and then tells the daemon to exit at once.
 *
 * The daemon is this benchmark's own: --socket names a private path, and
 * liblatch starts the program named by $LATCH_DAEMON when none answers
 * there (daemon lifespan -1: it lives until told to exit).
 */

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

typedef struct
{
  const char *socket;
  const char *resource;
  LatchLockMode mode;
} Target;

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

/* A handle set up for the target; on failure the message goes to error. */
static LatchHandle *
open_handle (const Target *t, char *error, size_t error_size)
{
  LatchHandle *h = latch_handle_new ();
  int rc;

  if (h == NULL)
    {
      g_strlcpy (error, "latch_handle_new failed", error_size);
      return NULL;
    }
  if ((rc = latch_set_socket_name (h, t->socket)) != LATCH_RC_OK
      || (rc = latch_set_resource_name (h, t->resource)) != LATCH_RC_OK
      || (rc = latch_set_lock_mode (h, t->mode)) != LATCH_RC_OK
      || (rc = latch_set_daemon_lifespan (h, -1)) != LATCH_RC_OK)
    {
      g_strlcpy (error, latch_get_error (h), error_size);
      latch_handle_free (h);
      return NULL;
    }
  return h;
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

int
main (int argc, char **argv)
{
  g_autofree char *socket_arg = NULL;
  g_autofree char *socket_path = NULL;
  g_autofree char *resource = NULL;
  g_autofree char *mode_arg = NULL;
  int clients = 1;
  double seconds = 3.0;
  GOptionEntry entries[] = {
    { "socket", 0, 0, G_OPTION_ARG_FILENAME, &socket_arg,
      "UNIX socket of the bench's own daemon (required)", "PATH" },
    { "clients", 0, 0, G_OPTION_ARG_INT, &clients, "Client processes (default 1)", "N" },
    { "seconds", 0, 0, G_OPTION_ARG_DOUBLE, &seconds, "Run time (default 3)", "S" },
    { "resource", 0, 0, G_OPTION_ARG_STRING, &resource,
      "Resource name (default \"bench\")", "NAME" },
    { "mode", 0, 0, G_OPTION_ARG_STRING, &mode_arg, "Lock mode, EX or PR (default EX)",
      "MODE" },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree pid_t *pids = NULL;
  Target target;
  LatchHandle *h;
  char message[256];
  int go_pipe[2], result_pipe[2];
  int status = 0, received = 0, rc;
  gint64 start, deadline, total = 0, wall_us = 0;
  double wall, per_second, mean_us;

  context = g_option_context_new ("- lock+unlock round trips through liblatch");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "bench-lock: %s\n", error->message);
      return 2;
    }
  if (socket_arg == NULL || socket_arg[0] == '\0')
    {
      fprintf (stderr, "bench-lock: --socket PATH is required\n");
      return 2;
    }
  if (clients < 1 || clients > MAX_CLIENTS)
    {
      fprintf (stderr, "bench-lock: --clients must be 1 to %d\n", MAX_CLIENTS);
      return 2;
    }
  if (!(seconds > 0.0 && seconds <= 3600.0))
    {
      fprintf (stderr, "bench-lock: --seconds must be above 0 and at most 3600\n");
      return 2;
    }
  if (resource == NULL)
    resource = g_strdup ("bench");
  if (mode_arg == NULL)
    mode_arg = g_strdup ("EX");

  /* The daemon changes to / when it starts: the path must be absolute. */
  socket_path = g_canonicalize_filename (socket_arg, NULL);
  target.socket = socket_path;
  target.resource = resource;
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
   * not race to start one each, and it checks the options. */
  h = open_handle (&target, message, sizeof message);
  if (h == NULL)
    {
      fprintf (stderr, "bench-lock: %s\n", message);
      return 1;
    }
  if ((rc = latch_lock (h)) != LATCH_RC_OK || (rc = latch_unlock (h, 0)) != LATCH_RC_OK)
    {
      fprintf (stderr, "bench-lock: warm-up: %s\n", latch_get_error (h));
      latch_shutdown_daemon (h, 1);
      latch_handle_free (h);
      return 1;
    }

  if (pipe (go_pipe) != 0 || pipe (result_pipe) != 0)
    {
      fprintf (stderr, "bench-lock: pipe: %s\n", g_strerror (errno));
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

  if ((rc = latch_shutdown_daemon (h, 1)) != LATCH_RC_OK)
    {
      fprintf (stderr, "bench-lock: shutting the daemon down: %s\n", latch_get_error (h));
      status = 1;
    }
  latch_handle_free (h);

  wall = (double) wall_us / G_USEC_PER_SEC;
  per_second = wall > 0.0 ? (double) total / wall : 0.0;
  /* A client's view: its share of the round trips took the whole time. */
  mean_us = total > 0 ? (double) wall_us * clients / (double) total : 0.0;
  printf ("bench-lock: clients=%d mode=%s seconds=%.2f round_trips=%" G_GINT64_FORMAT
          " per_second=%.0f mean_us=%.1f\n",
          clients, mode_arg, wall, total, per_second, mean_us);
  return status;
}
