#include "config.h"

/* bench-idle: what idle connections cost a running daemon.
 *
 * Against a latchd that is already running (this program never starts
 * one; tests/bench/bench-idle.sh does), in one run:
 *
 *   1. M lock+unlock round trips, each timed on its own, with no other
 *      connection, by two clients in turn, each on a resource of its own:
 *        liblatch: latch_lock() then latch_unlock() of one handle, as the
 *          latch command does: a connection each (so an accept, and the
 *          daemon's close after the unlock), and at a TLS level a full
 *          handshake each;
 *        kept: one connection that holds a lock of its own (the anchor)
 *          throughout, so that the daemon keeps it after an unlock; each
 *          round sends the unlock of the previous round's lock and a new
 *          lock request in one write, and reads the answer: one wake-up
 *          of the daemon's event loop, without a connection's set-up,
 *          teardown or handshake;
 *      median, p99, max of each;
 *   2. the daemon's VmRSS (/proc/PID/status);
 *   3. N idle holders opened: N connections, each holding its own lock on
 *      a distinct resource, so that the daemon keeps them (a connection
 *      that holds nothing is closed after 30 s, one that sends nothing
 *      after 10 s);
 *   4. the daemon's VmRSS again, so the RSS per idle connection;
 *   5. the two series of step 1 again, with the N holders connected;
 *   6. a check that every holder is still connected and was sent
 *      nothing, and the ratios of step 5's medians and p99s to step 1's.
 *
 * The holders speak the protocol directly, to keep this process light:
 * the exact lock request that liblatch sends for a simple name (EX, wait,
 * create, no idle lifespan), and the first answer read back and checked
 * for rc="0".  At a TLS level each holder makes its handshake with
 * GnuTLS here (its certificate and CA from --tls-dir, latch's default
 * priority string, no session tickets), sends the request and reads the
 * answer inside TLS, then frees its session and keeps only the socket:
 * the daemon sends nothing more on a connection that holds a lock, so
 * none is needed until the end, when closing the socket is the holder's
 * end of file (the daemon then releases its lock).  At most --batch
 * holders are being opened at once, so that none runs into the daemon's
 * 5 s handshake or 10 s first-message deadline.
 *
 * The daemon is reached at --socket PATH or --tcp HOST:PORT; its pid is
 * read from --pid-file (default PATH.lock next to a socket; for TCP the
 * script names $XDG_RUNTIME_DIR/latch/tcp-ADDR-PORT.lock).  This
 * process raises its own descriptor limit to the hard one and reads the
 * daemon's from /proc/PID/limits; either too low for N is said plainly,
 * with exit status 77 (nothing measured).
 *
 * Prints five lines of KEY=VALUE fields that bench-idle.sh reads: one
 * per series (idle=0 or N, client=liblatch or kept), then client=ratios
 * with the ratios, the RSS per idle connection and the holders' check.
 * Exits 0 when everything was measured, 1 when a step failed, 2 on bad
 * options, 77 when a limit is too low for N. */

#include "bench-util.h"
#include "latch.h"
#include "tls/tls.h"

#include <glib.h>
#include <gnutls/gnutls.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define EXIT_LIMIT 77
/* Descriptors beyond the holders: the measured client's connection,
 * stdio, the libraries' own (GLib's wake-up eventfd, /dev/urandom...). */
#define FD_MARGIN 64
#define MAX_IDLE 1000000
#define MAX_ROUND_TRIPS 1000000
#define MAX_BATCH 4096
/* Untimed lock+unlocks before each timed series: the first connections
 * after a change pay for caches, allocations and page faults. */
#define WARM_UP 50
/* A holder not granted within this is a failure (the daemon itself gives
 * a handshake 5 s and a first message 10 s). */
#define HOLDER_TIMEOUT_US (15 * G_USEC_PER_SEC)
/* Between two rounds on the kept connection, untimed: long enough for
 * the daemon to be back waiting in its event loop when the next request
 * comes.  Without it, a request sent right after the answer can be read
 * while the daemon is still handling the previous one (over TLS it
 * often is), and the round then skips the loop's wait, which is what is
 * measured.  A connection that locks and unlocks for real pauses too. */
#define KEPT_PAUSE_US 1000
/* The first answer: a latch daemon's is under 200 bytes. */
#define ANSWER_MAX 1024

/* ---- options and where the daemon is ------------------------------------ */

/* The daemon's address, TLS files and the measured client's lock
 * (bench-util.h: socket, or tcp_host and tcp_port; tls_certificate NULL:
 * clear text), and what the holders need besides. */
typedef struct
{
  BenchTarget daemon;
  struct sockaddr_storage addr; /* tcp_host:tcp_port, resolved */
  socklen_t addr_len;
  const char *peer_id;      /* announced by the holders */
} Target;

/* HOST:PORT or [ADDR]:PORT, resolved to a numeric address (the holders
 * connect() it many times). */
static gboolean
resolve_tcp (const char *text, Target *t)
{
  g_autofree char *host = NULL;
  struct addrinfo hints = { 0 };
  struct addrinfo *res = NULL;
  int port;

  if (!bench_parse_host_port (text, FALSE, &host, NULL, &port))
    return FALSE;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  {
    char service[8];

    g_snprintf (service, sizeof service, "%u", (unsigned)port);
    if (getaddrinfo (host, service, &hints, &res) != 0 || res == NULL)
      return FALSE;
  }
  memcpy (&t->addr, res->ai_addr, res->ai_addrlen);
  t->addr_len = res->ai_addrlen;
  freeaddrinfo (res);
  t->daemon.tcp_host = g_steal_pointer (&host);
  t->daemon.tcp_port = port;
  return TRUE;
}

/* The machine ID as the latch command reads it at the channel level
 * (libdbus's files, in libdbus's order); "" when there is none. */
static char *
read_machine_id (void)
{
  static const char *const files[] = { "/var/lib/dbus/machine-id", "/etc/machine-id" };

  for (size_t i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *text = NULL;

      if (g_file_get_contents (files[i], &text, NULL, NULL))
        {
          g_strstrip (text);
          if (text[0] != '\0')
            return g_steal_pointer (&text);
        }
    }
  return g_strdup ("");
}

/* ---- the daemon's process ----------------------------------------------- */

static long
read_pid_file (const char *path)
{
  g_autofree char *text = NULL;
  guint64 pid;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return -1;
  g_strstrip (text);
  if (!g_ascii_string_to_unsigned (text, 10, 1, G_MAXINT, &pid, NULL))
    return -1;
  return (long)pid;
}

/* A "Name:   VALUE kB" line of /proc/PID/status, in KiB; -1 if absent. */
static long
read_status_kib (long pid, const char *name)
{
  g_autofree char *path = g_strdup_printf ("/proc/%ld/status", pid);
  g_autofree char *text = NULL;
  size_t len = strlen (name);

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return -1;
  for (char *line = text; line != NULL && *line != '\0';)
    {
      char *next = strchr (line, '\n');

      if (strncmp (line, name, len) == 0 && line[len] == ':')
        return strtol (line + len + 1, NULL, 10);
      line = next != NULL ? next + 1 : NULL;
    }
  return -1;
}

/* The soft "Max open files" of /proc/PID/limits; -1 if unknown, 0 for
 * unlimited. */
static long long
read_fd_limit (long pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%ld/limits", pid);
  g_autofree char *text = NULL;
  const char *line;

  if (!g_file_get_contents (path, &text, NULL, NULL)
      || (line = strstr (text, "Max open files")) == NULL)
    return -1;
  line += strlen ("Max open files");
  while (*line == ' ')
    line++;
  if (g_str_has_prefix (line, "unlimited"))
    return 0;
  return g_ascii_strtoll (line, NULL, 10);
}

/* ---- the measured client ------------------------------------------------ */

typedef struct
{
  int n;           /* round trips timed */
  double median_us, p99_us, max_us, mean_us;
  double seconds;  /* the whole series */
} Series;

static int
compare_double (const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;

  return x < y ? -1 : x > y;
}

/* The value below which a fraction q of the sorted samples lie (nearest
 * rank). */
static double
quantile (const double *sorted, int n, double q)
{
  int rank = (int)(q * n + 0.999999);

  return sorted[CLAMP (rank, 1, n) - 1];
}

/* One timed lock+unlock; FALSE (with the failure printed) when it
 * failed.  `i` counts from 1. */
typedef gboolean (*RoundTripFunc) (gpointer data, int i);

/* latch_lock() then latch_unlock() of a liblatch handle: a connection
 * each, and at a TLS level a full handshake each. */
static gboolean
liblatch_round_trip (gpointer data, int i)
{
  LatchHandle *h = data;
  int rc = latch_lock (h);

  if (rc == LATCH_RC_OK)
    rc = latch_unlock (h, 0);
  if (rc != LATCH_RC_OK)
    {
      fprintf (stderr, "bench-idle: lock+unlock %d: %s (%s)\n", i, latch_get_error (h),
               latch_strerror (rc));
      return FALSE;
    }
  return TRUE;
}

/* warm_up untimed round trips, then `count` timed, or fewer if
 * max_seconds run out first (at least one is timed), each after a pause
 * of pause_us (untimed).  FALSE on a failed lock or unlock. */
static gboolean
measure (RoundTripFunc one, gpointer data, gulong pause_us, int warm_up, int count,
         double max_seconds, Series *s)
{
  g_autofree double *us = g_new (double, count);
  gint64 start = 0, deadline = 0;
  int n = 0;

  for (int i = 0; i < warm_up + count; i++)
    {
      gint64 t0, t1;

      if (pause_us > 0)
        g_usleep (pause_us);
      t0 = bench_monotonic_ns ();
      if (!one (data, i + 1))
        return FALSE;
      t1 = bench_monotonic_ns ();
      if (i < warm_up)
        continue;
      if (n == 0)
        {
          start = t0;
          deadline = start + (gint64)(max_seconds * 1e9);
        }
      us[n++] = (double)(t1 - t0) / 1000.0;
      if (t1 >= deadline)
        break;
    }
  qsort (us, (size_t)n, sizeof *us, compare_double);
  s->n = n;
  s->median_us = n % 2 == 1 ? us[n / 2] : (us[n / 2 - 1] + us[n / 2]) / 2.0;
  s->p99_us = quantile (us, n, 0.99);
  s->max_us = us[n - 1];
  s->mean_us = 0.0;
  for (int i = 0; i < n; i++)
    s->mean_us += us[i];
  s->mean_us /= n;
  s->seconds = (double)(bench_monotonic_ns () - start) / 1e9;
  return TRUE;
}

/* ---- the idle holders --------------------------------------------------- */

typedef enum
{
  HOLDER_FREE,        /* slot unused */
  HOLDER_CONNECTING,  /* non-blocking connect() in progress */
  HOLDER_HANDSHAKING, /* TLS */
  HOLDER_SENDING,
  HOLDER_READING,
  HOLDER_GRANTED,     /* --keep slot only: granted, socket and session kept */
} HolderState;

/* One holder being opened. */
typedef struct
{
  HolderState state;
  int index;                /* which resource */
  int fd;
  gnutls_session_t session; /* TLS only */
  gint64 started_us;
  char *request;
  size_t request_len, sent;
  char answer[ANSWER_MAX];
  size_t answer_len;
  short events;             /* what to poll for */
  gboolean keep;            /* the kept connection: keep it whole once granted */
} Slot;

typedef struct
{
  const Target *t;
  gnutls_certificate_credentials_t creds;
  gnutls_priority_t priority;
  char *prefix;             /* resource names: PREFIXnINDEX (a simple name) */
  int *fds;                 /* the holders' sockets, once granted */
  int n_held;
  char error[512];          /* the first failure */
} Holders;

static void
holders_fail (Holders *hs, int index, const char *fmt, ...) G_GNUC_PRINTF (3, 4);

static void
holders_fail (Holders *hs, int index, const char *fmt, ...)
{
  va_list ap;
  int n;

  if (hs->error[0] != '\0')
    return;
  /* index -1: the kept connection, or none in particular. */
  n = index < 0 ? 0 : g_snprintf (hs->error, sizeof hs->error, "holder %d: ", index + 1);
  va_start (ap, fmt);
  g_vsnprintf (hs->error + n, sizeof hs->error - (size_t)n, fmt, ap);
  va_end (ap);
}

/* The lock request liblatch sends for a simple name, EX, waiting,
 * creating, no idle lifespan (src/proto/msg.c, latch_msg_encode()). */
static char *
lock_request (const char *peer_id, const char *name, size_t *len)
{
  g_autofree char *b64 = g_base64_encode ((const guchar *)name, strlen (name));
  char *text = g_strdup_printf ("<?xml version=\"1.0\" encoding=\"UTF-8\" ?>"
                                "<msg level=\"3\" verb=\"1\" step=\"8\">"
                                "<session peerid=\"%s\"/>"
                                "<resource name=\"%s\" mode=\"5\" wait=\"1\" create=\"1\" "
                                "lifespan=\"0\"/></msg>",
                                peer_id, b64);

  *len = strlen (text);
  return text;
}

static void
slot_clear (Slot *s)
{
  if (s->session != NULL)
    gnutls_deinit (s->session);
  s->session = NULL;
  if (s->fd >= 0)
    close (s->fd);
  s->fd = -1;
  g_clear_pointer (&s->request, g_free);
  s->state = HOLDER_FREE;
}

/* Starts holder `index` in a free slot.  FALSE (and hs->error) on a
 * failure. */
static gboolean
slot_start (Holders *hs, Slot *s, int index)
{
  const Target *t = hs->t;
  g_autofree char *name = g_strdup_printf ("%sn%d", hs->prefix, index);
  int fd, rc;

  memset (s, 0, sizeof *s);
  s->fd = -1;
  s->index = index;
  s->started_us = g_get_monotonic_time ();
  s->request = lock_request (t->daemon.level != LATCH_SECURITY_CLEAR ? t->peer_id : "", name,
                             &s->request_len);

  fd = socket (t->daemon.socket != NULL ? AF_UNIX : t->addr.ss_family,
               SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    {
      holders_fail (hs, index, "socket: %s", g_strerror (errno));
      return FALSE;
    }
  s->fd = fd;
  if (t->daemon.socket != NULL)
    {
      struct sockaddr_un sun = { .sun_family = AF_UNIX };

      g_strlcpy (sun.sun_path, t->daemon.socket, sizeof sun.sun_path);
      rc = connect (fd, (struct sockaddr *)&sun, sizeof sun);
    }
  else
    {
      int on = 1;

      /* As liblatch: else the kept connection's lock request, written
       * right after its unlock (which has no answer), waits for the
       * daemon's delayed ACK of the unlock (Nagle), 40 ms. */
      setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
      rc = connect (fd, (struct sockaddr *)&t->addr, t->addr_len);
    }
  if (rc != 0 && errno != EINPROGRESS)
    {
      /* A full backlog (EAGAIN on a UNIX socket) is not expected with at
       * most --batch holders unaccepted: say so rather than spin. */
      holders_fail (hs, index, "connect: %s", g_strerror (errno));
      return FALSE;
    }
  s->state = HOLDER_CONNECTING;
  s->events = POLLOUT;
  return TRUE;
}

/* Moves a slot on as far as it goes without waiting.  Returns 1 when the
 * holder was granted (its fd is moved to hs->fds), 0 when it waits, -1
 * on a failure. */
static int
slot_step (Holders *hs, Slot *s)
{
  const Target *t = hs->t;
  int ret;

  switch (s->state)
    {
    case HOLDER_CONNECTING:
      {
        int err = 0;
        socklen_t len = sizeof err;
        struct pollfd pfd = { s->fd, POLLOUT, 0 };

        if (poll (&pfd, 1, 0) <= 0)
          return 0;
        if (getsockopt (s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
          err = errno;
        if (err != 0)
          {
            holders_fail (hs, s->index, "connect: %s", g_strerror (err));
            return -1;
          }
        if (t->daemon.level == LATCH_SECURITY_CLEAR)
          {
            s->state = HOLDER_SENDING;
            return slot_step (hs, s);
          }
        if ((ret = gnutls_init (&s->session, GNUTLS_CLIENT | GNUTLS_NONBLOCK
                                                 | GNUTLS_NO_TICKETS)) < 0
            || (ret = gnutls_priority_set (s->session, hs->priority)) < 0
            || (ret = gnutls_credentials_set (s->session, GNUTLS_CRD_CERTIFICATE,
                                              hs->creds)) < 0)
          {
            holders_fail (hs, s->index, "TLS session: %s", gnutls_strerror (ret));
            return -1;
          }
        /* The daemon's chain against the CA, no host name: as latch. */
        gnutls_session_set_verify_cert (s->session, NULL, 0);
        gnutls_transport_set_int (s->session, s->fd);
        s->state = HOLDER_HANDSHAKING;
      }
      /* fall through */
    case HOLDER_HANDSHAKING:
      ret = gnutls_handshake (s->session);
      if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED)
        {
          s->events = gnutls_record_get_direction (s->session) ? POLLOUT : POLLIN;
          return 0;
        }
      if (ret < 0)
        {
          holders_fail (hs, s->index, "TLS handshake: %s", gnutls_strerror (ret));
          return -1;
        }
      s->state = HOLDER_SENDING;
      /* fall through */
    case HOLDER_SENDING:
      while (s->sent < s->request_len)
        {
          ssize_t n;

          if (s->session != NULL)
            n = gnutls_record_send (s->session, s->request + s->sent,
                                    s->request_len - s->sent);
          else
            n = send (s->fd, s->request + s->sent, s->request_len - s->sent, MSG_NOSIGNAL);
          if (n < 0 && (s->session != NULL
                          ? n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED
                          : errno == EAGAIN || errno == EINTR))
            {
              s->events = POLLOUT;
              return 0;
            }
          if (n < 0)
            {
              holders_fail (hs, s->index, "send: %s",
                            s->session != NULL ? gnutls_strerror ((int)n)
                                               : g_strerror (errno));
              return -1;
            }
          s->sent += (size_t)n;
        }
      s->state = HOLDER_READING;
      s->events = POLLIN;
      /* fall through */
    case HOLDER_READING:
      for (;;)
        {
          size_t room = sizeof s->answer - 1 - s->answer_len;
          ssize_t n;

          if (s->session != NULL)
            n = gnutls_record_recv (s->session, s->answer + s->answer_len, room);
          else
            n = recv (s->fd, s->answer + s->answer_len, room, 0);
          if (n < 0 && (s->session != NULL
                          ? n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED
                          : errno == EAGAIN || errno == EINTR))
            return 0;
          if (n <= 0)
            {
              holders_fail (hs, s->index, "the daemon closed the connection before "
                            "answering%s%s", n < 0 ? ": " : "",
                            n < 0 ? (s->session != NULL ? gnutls_strerror ((int)n)
                                                        : g_strerror (errno))
                                  : "");
              return -1;
            }
          s->answer_len += (size_t)n;
          s->answer[s->answer_len] = '\0';
          if (strstr (s->answer, "</msg>") != NULL)
            break;
          if (s->answer_len >= sizeof s->answer - 1)
            {
              holders_fail (hs, s->index, "an answer of more than %d bytes", ANSWER_MAX);
              return -1;
            }
        }
      /* Granted at once: a resource of its own. */
      if (strstr (s->answer, "step=\"16\"") == NULL || strstr (s->answer, " rc=\"0\"") == NULL)
        {
          holders_fail (hs, s->index, "not granted: %s", s->answer);
          return -1;
        }
      if (s->keep)
        {
          s->state = HOLDER_GRANTED;
          return 1;
        }
      /* Keep the socket alone: nothing more is read or sent on it, and
       * closing it at the end is its end of file. */
      if (s->session != NULL)
        gnutls_deinit (s->session);
      s->session = NULL;
      hs->fds[hs->n_held++] = s->fd;
      s->fd = -1;
      slot_clear (s);
      return 1;
    case HOLDER_GRANTED:
    case HOLDER_FREE:
    default:
      return 0;
    }
}

/* ---- the kept connection ------------------------------------------------ */

/* One connection, clear or TLS as the holders, that holds a lock of its
 * own (the anchor) for the whole run, so that the daemon keeps it after
 * an unlock; each round trip on it locks the probe resource, reads the
 * answer, and unlocks it (an unlock has no answer; the daemon handles it
 * before the next request on the same connection).  This times the
 * daemon's event loop without a connection's set-up and teardown, and
 * without a handshake at the TLS levels. */
typedef struct
{
  Holders *hs;
  Slot slot;
  char *cycle;     /* the probe's lock request, then unlock + lock request */
  size_t lock_len, cycle_len;
  gboolean holding; /* the probe is locked (by the previous round) */
} Kept;

/* Waits for fd to be ready for events until deadline (monotonic µs). */
static gboolean
kept_wait (int fd, short events, gint64 deadline)
{
  for (;;)
    {
      struct pollfd pfd = { fd, events, 0 };
      gint64 left = deadline - g_get_monotonic_time ();
      int r;

      if (left <= 0)
        return FALSE;
      r = poll (&pfd, 1, (int)MIN (left / 1000 + 1, G_MAXINT));
      if (r > 0)
        return TRUE;
      if (r < 0 && errno != EINTR)
        return FALSE;
    }
}

static gboolean
kept_send (Kept *k, const char *buf, size_t len, gint64 deadline)
{
  Slot *s = &k->slot;

  while (len > 0)
    {
      ssize_t n = s->session != NULL ? gnutls_record_send (s->session, buf, len)
                                     : send (s->fd, buf, len, MSG_NOSIGNAL);

      if (n < 0 && (s->session != NULL ? n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED
                                       : errno == EAGAIN || errno == EINTR))
        {
          if (!kept_wait (s->fd, POLLOUT, deadline))
            {
              fprintf (stderr, "bench-idle: kept connection: send timed out\n");
              return FALSE;
            }
          continue;
        }
      if (n < 0)
        {
          fprintf (stderr, "bench-idle: kept connection: send: %s\n",
                   s->session != NULL ? gnutls_strerror ((int)n) : g_strerror (errno));
          return FALSE;
        }
      buf += n;
      len -= (size_t)n;
    }
  return TRUE;
}

/* Reads one message (up to and including </msg>) into slot.answer. */
static gboolean
kept_recv (Kept *k, gint64 deadline)
{
  Slot *s = &k->slot;

  s->answer_len = 0;
  s->answer[0] = '\0';
  while (strstr (s->answer, "</msg>") == NULL)
    {
      size_t room = sizeof s->answer - 1 - s->answer_len;
      ssize_t n;

      if (room == 0)
        {
          fprintf (stderr, "bench-idle: kept connection: an answer of more than %d bytes\n",
                   ANSWER_MAX);
          return FALSE;
        }
      n = s->session != NULL ? gnutls_record_recv (s->session, s->answer + s->answer_len, room)
                             : recv (s->fd, s->answer + s->answer_len, room, 0);
      if (n < 0 && (s->session != NULL ? n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED
                                       : errno == EAGAIN || errno == EINTR))
        {
          if (!kept_wait (s->fd, POLLIN, deadline))
            {
              fprintf (stderr, "bench-idle: kept connection: no answer in time\n");
              return FALSE;
            }
          continue;
        }
      if (n <= 0)
        {
          fprintf (stderr, "bench-idle: kept connection: closed by the daemon%s%s\n",
                   n < 0 ? ": " : "",
                   n < 0 ? (s->session != NULL ? gnutls_strerror ((int)n) : g_strerror (errno))
                         : "");
          return FALSE;
        }
      s->answer_len += (size_t)n;
      s->answer[s->answer_len] = '\0';
    }
  return TRUE;
}

static gboolean
kept_round_trip (gpointer data, int i)
{
  Kept *k = data;
  gint64 deadline = g_get_monotonic_time () + HOLDER_TIMEOUT_US;

  /* The unlock of the previous round and this lock go in one write, so
   * that the daemon handles both in one wake-up and the answer ends the
   * round: an unlock has no answer, and sent on its own it would wake
   * the daemon out of the timed window, then let the lock that follows
   * it be read in the same wake-up without waiting for a poll. */
  if (!(k->holding ? kept_send (k, k->cycle, k->cycle_len, deadline)
                   : kept_send (k, k->cycle + k->cycle_len - k->lock_len, k->lock_len,
                                deadline))
      || !kept_recv (k, deadline))
    return FALSE;
  if (strstr (k->slot.answer, "step=\"16\"") == NULL
      || strstr (k->slot.answer, " rc=\"0\"") == NULL)
    {
      fprintf (stderr, "bench-idle: kept connection: lock %d not granted: %s\n", i,
               k->slot.answer);
      return FALSE;
    }
  k->holding = TRUE;
  return TRUE;
}

/* Opens the kept connection with its anchor lock, as a holder is opened. */
static gboolean
kept_open (Kept *k, Holders *hs, const char *probe)
{
  g_autofree char *anchor = g_strdup_printf ("%sanchor", hs->prefix);
  g_autofree char *b64 = g_base64_encode ((const guchar *)probe, strlen (probe));
  const char *peer_id = hs->t->daemon.level != LATCH_SECURITY_CLEAR ? hs->t->peer_id : "";
  gint64 deadline = g_get_monotonic_time () + HOLDER_TIMEOUT_US;
  Slot *s = &k->slot;
  int r;

  k->hs = hs;
  {
    g_autofree char *lock = lock_request (peer_id, probe, &k->lock_len);

    /* The unlock, then the lock request: the first round sends the
     * lock request alone, its last lock_len bytes. */
    k->cycle = g_strdup_printf ("<?xml version=\"1.0\" encoding=\"UTF-8\" ?>"
                                "<msg level=\"3\" verb=\"2\" step=\"8\">"
                                "<resource name=\"%s\" rollback=\"0\" /></msg>%s",
                                b64, lock);
    k->cycle_len = strlen (k->cycle);
  }
  if (!slot_start (hs, s, -1))
    return FALSE;
  g_free (s->request);
  s->request = lock_request (peer_id, anchor, &s->request_len);
  s->keep = TRUE;
  while ((r = slot_step (hs, s)) == 0)
    if (!kept_wait (s->fd, s->events, deadline))
      {
        holders_fail (hs, -1, "no answer within %d s", (int)(HOLDER_TIMEOUT_US / G_USEC_PER_SEC));
        return FALSE;
      }
  return r > 0;
}

static void
kept_clear (Kept *k)
{
  slot_clear (&k->slot);
  g_clear_pointer (&k->cycle, g_free);
}

static void
holders_close (Holders *hs)
{
  for (int i = 0; i < hs->n_held; i++)
    close (hs->fds[i]);
  hs->n_held = 0;
}

/* Opens n holders, at most batch at a time.  FALSE (hs->error) when one
 * fails or is not granted in time. */
static gboolean
holders_open (Holders *hs, int n, int batch)
{
  g_autofree Slot *slots = g_new0 (Slot, batch);
  g_autofree struct pollfd *pfds = g_new0 (struct pollfd, batch);
  g_autofree int *which = g_new0 (int, batch);
  int next = 0, busy = 0;
  gboolean ok = TRUE;

  for (int i = 0; i < batch; i++)
    slots[i].fd = -1;
  while (ok && (next < n || busy > 0))
    {
      int np = 0;
      gint64 now;

      /* Fill the free slots, and step each (a connect() on loopback may
       * complete at once). */
      for (int i = 0; i < batch && ok; i++)
        {
          int r;

          if (slots[i].state == HOLDER_FREE)
            {
              if (next >= n)
                continue;
              if (!slot_start (hs, &slots[i], next++))
                {
                  ok = FALSE;
                  break;
                }
              busy++;
            }
          r = slot_step (hs, &slots[i]);
          if (r < 0)
            ok = FALSE;
          else if (r > 0)
            busy--;
        }
      if (!ok)
        break;
      now = g_get_monotonic_time ();
      for (int i = 0; i < batch; i++)
        if (slots[i].state != HOLDER_FREE)
          {
            if (now - slots[i].started_us > HOLDER_TIMEOUT_US)
              {
                holders_fail (hs, slots[i].index, "no answer within %d s",
                              (int)(HOLDER_TIMEOUT_US / G_USEC_PER_SEC));
                ok = FALSE;
                break;
              }
            pfds[np].fd = slots[i].fd;
            pfds[np].events = slots[i].events;
            pfds[np].revents = 0;
            which[np++] = i;
          }
      if (!ok || np == 0)
        continue;
      if (poll (pfds, (nfds_t)np, 100) < 0 && errno != EINTR)
        {
          holders_fail (hs, -1, "poll: %s", g_strerror (errno));
          ok = FALSE;
        }
      /* The slots are stepped at the top of the loop. */
    }
  for (int i = 0; i < batch; i++)
    if (slots[i].state != HOLDER_FREE)
      slot_clear (&slots[i]);
  return ok;
}

/* Holders that the daemon closed or wrote to since they were granted:
 * neither should happen to a connection that holds a lock. */
static int
holders_dropped (const Holders *hs)
{
  g_autofree struct pollfd *pfds = g_new0 (struct pollfd, hs->n_held);
  int dropped = 0;

  for (int i = 0; i < hs->n_held; i++)
    {
      pfds[i].fd = hs->fds[i];
      pfds[i].events = POLLIN;
    }
  if (poll (pfds, (nfds_t)hs->n_held, 0) < 0)
    return hs->n_held;
  for (int i = 0; i < hs->n_held; i++)
    if (pfds[i].revents != 0)
      dropped++;
  return dropped;
}

static gboolean
holders_tls_init (Holders *hs, GError **error)
{
  const BenchTarget *d = &hs->t->daemon;
  int ret;

  if ((ret = gnutls_certificate_allocate_credentials (&hs->creds)) < 0
      || (ret = gnutls_certificate_set_x509_key_file (hs->creds, d->tls_certificate,
                                                      d->tls_private_key,
                                                      GNUTLS_X509_FMT_PEM)) < 0)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s: %s", d->tls_certificate,
                   gnutls_strerror (ret));
      return FALSE;
    }
  if ((ret = gnutls_certificate_set_x509_trust_file (hs->creds, d->tls_ca_certificate,
                                                     GNUTLS_X509_FMT_PEM)) <= 0)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s: %s", d->tls_ca_certificate,
                   ret < 0 ? gnutls_strerror (ret) : "no certificate");
      return FALSE;
    }
  if ((ret = gnutls_priority_init (&hs->priority,
                                   d->tls_priority != NULL ? d->tls_priority
                                                           : LATCH_TLS_DEFAULT_PRIORITY,
                                   NULL)) < 0)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "priority string: %s",
                   gnutls_strerror (ret));
      return FALSE;
    }
  return TRUE;
}

static void
holders_free (Holders *hs)
{
  holders_close (hs);
  g_clear_pointer (&hs->fds, g_free);
  g_clear_pointer (&hs->prefix, g_free);
  if (hs->creds != NULL)
    gnutls_certificate_free_credentials (hs->creds);
  hs->creds = NULL;
  if (hs->priority != NULL)
    gnutls_priority_deinit (hs->priority);
  hs->priority = NULL;
}

/* ---- main --------------------------------------------------------------- */

/* Raises this process's soft descriptor limit to the hard one; FALSE
 * (with the message printed) when even that is too low for n holders. */
static gboolean
raise_own_fd_limit (int n)
{
  struct rlimit lim;

  if (getrlimit (RLIMIT_NOFILE, &lim) != 0)
    {
      fprintf (stderr, "bench-idle: getrlimit: %s\n", g_strerror (errno));
      return FALSE;
    }
  if (lim.rlim_cur < lim.rlim_max)
    {
      lim.rlim_cur = lim.rlim_max;
      if (setrlimit (RLIMIT_NOFILE, &lim) != 0)
        getrlimit (RLIMIT_NOFILE, &lim);
    }
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < (rlim_t)n + FD_MARGIN)
    {
      printf ("bench-idle: not run: this process may open %llu descriptors (RLIMIT_NOFILE, "
              "hard limit %llu), too few for --idle %d (needs %d): raise the hard limit "
              "(ulimit -Hn as root, LimitNOFILE=) or lower --idle\n",
              (unsigned long long)lim.rlim_cur, (unsigned long long)lim.rlim_max, n,
              n + FD_MARGIN);
      return FALSE;
    }
  return TRUE;
}

static void
print_series (const char *transport, const Target *t, int idle, const char *client,
              const Series *s, long rss_kib)
{
  printf ("bench-idle: transport=%s security=%s idle=%d client=%s round_trips=%d "
          "median_us=%.1f p99_us=%.1f max_us=%.1f mean_us=%.1f seconds=%.2f rss_kib=%ld\n",
          transport, bench_security_name (t->daemon.level), idle, client, s->n, s->median_us,
          s->p99_us, s->max_us, s->mean_us, s->seconds, rss_kib);
}

int
main (int argc, char **argv)
{
  g_autofree char *socket_arg = NULL;
  g_autofree char *socket_path = NULL;
  g_autofree char *tcp_arg = NULL;
  g_autofree char *pid_file = NULL;
  g_autofree char *tls_dir = NULL;
  g_autofree char *tls_cert = NULL;
  g_autofree char *tls_priority = NULL;
  g_autofree char *peer_id = NULL;
  g_autofree char *certificate = NULL;
  g_autofree char *private_key = NULL;
  g_autofree char *ca_certificate = NULL;
  g_autofree char *probe = NULL;
  g_autofree char *kept_probe = NULL;
  gboolean mutual = FALSE;
  int idle = 10000, round_trips = 2000, batch = 64;
  double max_seconds = 60.0;
  GOptionEntry entries[] = {
    { "socket", 0, 0, G_OPTION_ARG_FILENAME, &socket_arg, "The daemon's UNIX socket",
      "PATH" },
    { "tcp", 0, 0, G_OPTION_ARG_STRING, &tcp_arg,
      "The daemon's TCP address (IPv6: [ADDR]:PORT)", "HOST:PORT" },
    { "pid-file", 0, 0, G_OPTION_ARG_FILENAME, &pid_file,
      "The daemon's lock file, which holds its pid (default: PATH.lock with --socket)",
      "FILE" },
    { "idle", 0, 0, G_OPTION_ARG_INT, &idle, "Idle connections, each holding a lock "
      "(default 10000)", "N" },
    { "round-trips", 0, 0, G_OPTION_ARG_INT, &round_trips,
      "Lock+unlock round trips timed, with 0 and with N idle (default 2000)", "M" },
    { "max-seconds", 0, 0, G_OPTION_ARG_DOUBLE, &max_seconds,
      "Stop a timed series after this long, with fewer round trips (default 60)", "S" },
    { "batch", 0, 0, G_OPTION_ARG_INT, &batch,
      "Idle connections being opened at once (default 64)", "K" },
    { "tls-dir", 0, 0, G_OPTION_ARG_FILENAME, &tls_dir,
      "TLS with the certificates of tests/tls-certs.sh in DIR (CA: DIR/ca1.pem)", "DIR" },
    { "tls-cert", 0, 0, G_OPTION_ARG_STRING, &tls_cert,
      "With --tls-dir: DIR/NAME.pem and DIR/NAME.key (default peer1_ca1)", "NAME" },
    { "mutual", 0, 0, G_OPTION_ARG_NONE, &mutual,
      "With --tls-dir: the mutual level, not channel", NULL },
    { "tls-priority", 0, 0, G_OPTION_ARG_STRING, &tls_priority,
      "With --tls-dir: GnuTLS priority string (default: latch's)", "STRING" },
    { "peer-id", 0, 0, G_OPTION_ARG_STRING, &peer_id,
      "With --tls-dir: the machine ID the idle connections announce (default: this "
      "node's, as the latch command reads it)", "ID" },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr (GError) error = NULL;
  Target target = { 0 };
  Holders holders = { 0 };
  Series zero = { 0 }, loaded = { 0 }, kept_zero = { 0 }, kept_loaded = { 0 };
  Kept kept = { .slot = { .fd = -1 } };
  LatchHandle *h = NULL;
  const char *transport;
  long pid, rss0, rss1, hwm;
  long long daemon_fds;
  gint64 t0;
  double open_seconds;
  int status = 1, dropped;
  char message[512];

  if (!bench_parse_options ("bench-idle", "- lock+unlock round trips with N idle connections",
                            entries, &argc, &argv))
    return 2;
  if ((socket_arg != NULL) + (tcp_arg != NULL) != 1)
    {
      fprintf (stderr, "bench-idle: give --socket PATH or --tcp HOST:PORT\n");
      return 2;
    }
  if (tcp_arg != NULL && !resolve_tcp (tcp_arg, &target))
    {
      fprintf (stderr, "bench-idle: --tcp \"%s\": give HOST:PORT or [ADDR]:PORT, numeric\n",
               tcp_arg);
      return 2;
    }
  if (idle < 1 || idle > MAX_IDLE || round_trips < 1 || round_trips > MAX_ROUND_TRIPS
      || batch < 1 || batch > MAX_BATCH || !(max_seconds > 0.0 && max_seconds <= 3600.0))
    {
      fprintf (stderr, "bench-idle: --idle must be 1 to %d, --round-trips 1 to %d, --batch 1 "
                       "to %d, --max-seconds above 0 and at most 3600\n",
               MAX_IDLE, MAX_ROUND_TRIPS, MAX_BATCH);
      return 2;
    }
  if (tls_dir == NULL && (tls_cert != NULL || mutual || tls_priority != NULL || peer_id != NULL))
    {
      fprintf (stderr, "bench-idle: --tls-cert, --mutual, --tls-priority and --peer-id need "
                       "--tls-dir\n");
      return 2;
    }
  if (socket_arg != NULL)
    {
      socket_path = g_canonicalize_filename (socket_arg, NULL);
      if (strlen (socket_path) >= sizeof ((struct sockaddr_un *)NULL)->sun_path)
        {
          fprintf (stderr, "bench-idle: --socket: the path is too long\n");
          return 2;
        }
      target.daemon.socket = socket_path;
      transport = "unix";
      if (pid_file == NULL)
        pid_file = g_strconcat (socket_path, ".lock", NULL);
    }
  else
    transport = "tcp";
  if (pid_file == NULL)
    {
      fprintf (stderr, "bench-idle: with --tcp, give --pid-file (the daemon's lock file, "
                       "$XDG_RUNTIME_DIR/latch/tcp-ADDR-PORT.lock)\n");
      return 2;
    }
  bench_target_tls (&target.daemon, tls_dir, tls_cert, tls_priority, mutual, &certificate,
                    &private_key, &ca_certificate);
  if (tls_dir != NULL)
    {
      if (peer_id == NULL)
        peer_id = read_machine_id ();
      target.peer_id = peer_id;
    }

  /* Limits first: nothing is worth measuring with fewer holders than
   * asked, and the daemon would log an accept() failure per attempt. */
  if (!raise_own_fd_limit (idle))
    return EXIT_LIMIT;
  pid = read_pid_file (pid_file);
  if (pid < 0 || read_status_kib (pid, "VmRSS") < 0)
    {
      fprintf (stderr, "bench-idle: no running daemon's pid in %s\n", pid_file);
      return 1;
    }
  daemon_fds = read_fd_limit (pid);
  if (daemon_fds > 0 && daemon_fds < (long long)idle + FD_MARGIN)
    {
      printf ("bench-idle: not run: the daemon (pid %ld) may open %lld descriptors "
              "(/proc/%ld/limits), too few for --idle %d (needs %d): start it with a higher "
              "hard limit (ulimit -Hn, LimitNOFILE=; it raises its soft limit itself) or "
              "lower --idle\n",
              pid, daemon_fds, pid, idle, idle + FD_MARGIN);
      return EXIT_LIMIT;
    }

  holders.t = &target;
  holders.fds = g_new (int, idle);
  holders.prefix = g_strdup_printf ("benchidle%ld", (long)getpid ());
  probe = g_strdup_printf ("benchprobe%ld", (long)getpid ());
  /* Not the liblatch client's: the kept connection holds it between its
   * rounds. */
  kept_probe = g_strdup_printf ("benchkept%ld", (long)getpid ());
  if (target.daemon.level != LATCH_SECURITY_CLEAR && !holders_tls_init (&holders, &error))
    {
      fprintf (stderr, "bench-idle: %s\n", error->message);
      goto out;
    }
  /* The measured client: someone else's daemon, never start one. */
  target.daemon.resource = probe;
  target.daemon.mode = LATCH_LOCK_MODE_EX;
  target.daemon.lifespan = 0;
  h = bench_open_handle (&target.daemon, message, sizeof message);
  if (h == NULL)
    {
      fprintf (stderr, "bench-idle: %s\n", message);
      goto out;
    }

  /* The kept connection first: it is there in both series. */
  if (!kept_open (&kept, &holders, kept_probe))
    {
      fprintf (stderr, "bench-idle: kept connection: %s\n", holders.error);
      goto out;
    }

  /* 1. and 2.: the daemon with no other connection (but the kept one,
   * which is idle during the liblatch series). */
  if (!measure (liblatch_round_trip, h, 0, WARM_UP, round_trips, max_seconds, &zero)
      || !measure (kept_round_trip, &kept, KEPT_PAUSE_US, WARM_UP, round_trips, max_seconds,
                   &kept_zero))
    goto out;
  rss0 = read_status_kib (pid, "VmRSS");
  print_series (transport, &target, 0, "liblatch", &zero, rss0);
  print_series (transport, &target, 0, "kept", &kept_zero, rss0);
  fflush (stdout);

  /* 3. and 4. */
  t0 = g_get_monotonic_time ();
  if (!holders_open (&holders, idle, batch))
    {
      fprintf (stderr, "bench-idle: %d of %d idle connections open, then: %s\n",
               holders.n_held, idle, holders.error);
      goto out;
    }
  open_seconds = (double)(g_get_monotonic_time () - t0) / G_USEC_PER_SEC;
  rss1 = read_status_kib (pid, "VmRSS");

  /* 5. */
  if (!measure (liblatch_round_trip, h, 0, WARM_UP, round_trips, max_seconds, &loaded)
      || !measure (kept_round_trip, &kept, KEPT_PAUSE_US, WARM_UP, round_trips, max_seconds,
                   &kept_loaded))
    goto out;
  print_series (transport, &target, idle, "liblatch", &loaded, rss1);
  print_series (transport, &target, idle, "kept", &kept_loaded, rss1);

  /* 6. */
  dropped = holders_dropped (&holders);
  hwm = read_status_kib (pid, "VmHWM");
  printf ("bench-idle: transport=%s security=%s idle=%d client=ratios median_ratio=%.2f "
          "p99_ratio=%.2f kept_median_ratio=%.2f kept_p99_ratio=%.2f rss_per_idle_bytes=%.0f "
          "open_seconds=%.2f held=%d dropped=%d daemon_hwm_kib=%ld\n",
          transport, bench_security_name (target.daemon.level), idle,
          loaded.median_us / zero.median_us, loaded.p99_us / zero.p99_us,
          kept_loaded.median_us / kept_zero.median_us, kept_loaded.p99_us / kept_zero.p99_us,
          (double)(rss1 - rss0) * 1024.0 / idle, open_seconds, holders.n_held - dropped, dropped,
          hwm);
  if (dropped > 0)
    {
      fprintf (stderr, "bench-idle: the daemon closed or wrote to %d of the %d idle "
                       "connections while they held their locks\n", dropped, holders.n_held);
      goto out;
    }
  status = 0;

out:
  kept_clear (&kept);
  holders_free (&holders);
  if (h != NULL)
    latch_handle_free (h);
  g_free ((char *)target.daemon.tcp_host);
  return status;
}
