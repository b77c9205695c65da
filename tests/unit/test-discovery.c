/* test-discovery.c: UDP multicast discovery, client and daemon side.
 *
 * The exchanges need multicast on a network nobody else uses: run this
 * program through test-discovery.sh, which re-executes it as root in a
 * fresh network namespace (unshare -n) set up with
 *   lo          up, MULTICAST on, route 224.0.0.0/4 dev lo src 127.0.0.1
 *   ltd0/ltd1   a veth pair, ltd0 with fe80::1 and 2001:db8:28::1 (IPv6
 *               multicast sent on lo is dropped by the kernel, so the IPv6
 *               cases use ltd0, where sent datagrams loop back locally)
 * and exports LATCH_TEST_NETNS=1, plus LATCH_TEST_IFACE6=ltd0 when the
 * veth pair exists.  Without them those cases are skipped; the argument
 * checks run everywhere.
 *
 * The server runs on this thread's default main context, driven by
 * g_main_context_iteration(); the blocking client runs in a thread. */
#include "config.h"

#include "net/discovery.h"

#include "common/error.h"
#include "common/log.h"
#include "proto/msg.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define GROUP4 "239.255.28.15"
#define GROUP6 "ff02::1:2815"
#define GROUP6_GLOBAL "ff05::2815"
#define XML_DECL "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>"
#define DISCOVER XML_DECL "<msg level=\"3\" verb=\"4\" step=\"8\"></msg>"

/* Upper bound for anything that should happen at once (ASan, valgrind). */
#define PATIENCE_MS 5000

/* ---- environment ------------------------------------------------------ */

static gboolean
need_netns (void)
{
  const char *why = g_getenv ("LATCH_TEST_NETNS_WHY");
  g_autofree char *message = NULL;

  if (g_strcmp0 (g_getenv ("LATCH_TEST_NETNS"), "1") == 0)
    return TRUE;
  message = g_strdup_printf (
      "needs multicast in a private network namespace, which "
      "tests/unit/test-discovery.sh sets up as root: %s",
      why != NULL ? why : "not run through it");
  g_test_skip (message);
  return FALSE;
}

static const char *
need_iface6 (void)
{
  const char *iface;

  if (!need_netns ())
    return NULL;
  iface = g_getenv ("LATCH_TEST_IFACE6");
  if (iface == NULL || iface[0] == '\0')
    g_test_skip (
        "no IPv6 test interface (test-discovery.sh could not "
        "create a veth pair); IPv6 multicast on lo does not loop back");
  return iface;
}

static LatchDiscoveryGroup
group_of (const char *address, int port, const char *iface)
{
  LatchDiscoveryGroup g
      = { .group = address, .port = port, .iface = iface, .ttl = 1 };
  return g;
}

/* ---- the main loop ---------------------------------------------------- */

/* Runs the default main context for ms milliseconds. */
static void
pump_ms (int ms)
{
  gint64 end = g_get_monotonic_time () + ms * G_TIME_SPAN_MILLISECOND;

  while (g_get_monotonic_time () < end)
    {
      while (g_main_context_iteration (NULL, FALSE))
        ;
      g_usleep (1000);
    }
}

/* Runs the main context until the server has seen `total` datagrams, or
 * its counters have not moved for 300 ms (datagrams may be dropped when a
 * burst overflows the socket buffer), or PATIENCE_MS. */
static void
pump_until_seen (LatchDiscoveryServer *server, guint total)
{
  gint64 start = g_get_monotonic_time ();
  gint64 last_change = start;
  guint last = 0;

  for (;;)
    {
      guint seen;
      gint64 now;

      while (g_main_context_iteration (NULL, FALSE))
        ;
      seen = latch_discovery_server_n_answered (server)
             + latch_discovery_server_n_ignored (server);
      now = g_get_monotonic_time ();
      if (seen >= total)
        return;
      if (seen != last)
        {
          last = seen;
          last_change = now;
        }
      if (now - last_change > 300 * G_TIME_SPAN_MILLISECOND
          || now - start > PATIENCE_MS * G_TIME_SPAN_MILLISECOND)
        return;
      g_usleep (1000);
    }
}

/* ---- the client, in a thread ------------------------------------------ */

typedef struct
{
  LatchDiscoveryGroup group;
  int attempts;
  int timeout_ms;

  gboolean ok;
  char *address;
  int port;
  GError *error;
  gint64 elapsed_us;
  int done;
} FindJob;

static gpointer
find_thread (gpointer data)
{
  FindJob *job = data;
  gint64 start = g_get_monotonic_time ();

  job->ok = latch_discovery_find (&job->group, job->attempts, job->timeout_ms,
                                  &job->address, &job->port, &job->error);
  job->elapsed_us = g_get_monotonic_time () - start;
  g_atomic_int_set (&job->done, 1);
  g_main_context_wakeup (NULL);
  return NULL;
}

static GThread *
find_start (FindJob *job)
{
  return g_thread_new ("discovery-client", find_thread, job);
}

/* Drives the main loop (the server) until the client thread is done.
 * latch_discovery_find() is bounded by attempts x timeout. */
static void
find_finish (FindJob *job, GThread *thread)
{
  while (!g_atomic_int_get (&job->done))
    g_main_context_iteration (NULL, TRUE);
  g_thread_join (thread);
}

static void
find_run (FindJob *job)
{
  find_finish (job, find_start (job));
}

static void
find_clear (FindJob *job)
{
  g_clear_pointer (&job->address, g_free);
  g_clear_error (&job->error);
}

/* A find that must succeed: returns the address (transfer full). */
static char *
find_ok (const LatchDiscoveryGroup *group, int *port_out)
{
  FindJob job = { .group = *group, .attempts = 5, .timeout_ms = 500 };

  find_run (&job);
  g_assert_no_error (job.error);
  g_assert_true (job.ok);
  *port_out = job.port;
  return job.address;
}

/* ---- raw sockets ------------------------------------------------------ */

static void
fill_sockaddr (const char *address, int port, const char *iface,
               struct sockaddr_storage *ss, socklen_t *len)
{
  struct addrinfo hints
      = { .ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_DGRAM };
  struct addrinfo *res = NULL;

  g_assert_cmpint (getaddrinfo (address, NULL, &hints, &res), ==, 0);
  memcpy (ss, res->ai_addr, res->ai_addrlen);
  *len = res->ai_addrlen;
  freeaddrinfo (res);
  if (ss->ss_family == AF_INET)
    ((struct sockaddr_in *) ss)->sin_port = htons (port);
  else
    {
      struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) ss;
      sin6->sin6_port = htons (port);
      if (iface != NULL)
        sin6->sin6_scope_id = if_nametoindex (iface);
    }
}

/* A UDP socket, bound to bind_address (port 0) when not NULL. */
static int
udp_socket (int family, const char *bind_address)
{
  int fd = socket (family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  if (bind_address != NULL)
    {
      struct sockaddr_storage ss;
      socklen_t len;

      fill_sockaddr (bind_address, 0, NULL, &ss, &len);
      g_assert_cmpint (bind (fd, (struct sockaddr *) &ss, len), ==, 0);
    }
  return fd;
}

static void
send_to (int fd, const char *address, int port, const char *iface,
         const void *buf, gsize len)
{
  struct sockaddr_storage ss;
  socklen_t sslen;

  fill_sockaddr (address, port, iface, &ss, &sslen);
  g_assert_cmpint (sendto (fd, buf, len, 0, (struct sockaddr *) &ss, sslen), ==,
                   (gssize) len);
}

static void
send_str (int fd, const char *address, int port, const char *s)
{
  send_to (fd, address, port, NULL, s, strlen (s));
}

/* Datagrams waiting on fd (read and dropped), waiting at most ms for the
 * first. */
static guint
drain (int fd, int ms)
{
  guint n = 0;
  char buf[LATCH_MSG_MAX_SIZE + 1];
  struct pollfd pfd = { .fd = fd, .events = POLLIN };

  while (poll (&pfd, 1, n == 0 ? ms : 50) > 0)
    {
      if (recv (fd, buf, sizeof buf, MSG_DONTWAIT) < 0)
        break;
      n++;
    }
  return n;
}

/* ---- argument checks (no network needed) ------------------------------ */

static void
assert_option_error (GError *error, const char *needle)
{
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION);
  g_test_message ("error: %s", error->message);
  g_assert_nonnull (strstr (error->message, needle));
}

/* An interface- or link-local group without -n goes where the kernel
 * routes it (its default multicast interface), as in FLoM: never refused
 * as an option.  Where the kernel has no usable interface for it, the
 * error says why and asks for -n.  (Which of the two happens depends on
 * the host's routes; tests/integration/ipv6.sh sets up both.) */
static void
test_args_scoped_group_without_iface (void)
{
  static const char *const groups[] = { "ff01::1", GROUP6 };

  for (gsize i = 0; i < G_N_ELEMENTS (groups); i++)
    {
      LatchDiscoveryGroup group = group_of (groups[i], 28190, NULL);
      g_autoptr (GError) e1 = NULL;
      g_autoptr (GError) e2 = NULL;
      g_autoptr (LatchDiscoveryServer) server = NULL;
      g_autofree char *local = latch_discovery_local_address (&group, &e1);

      if (local != NULL)
        g_test_message ("%s: local address %s", groups[i], local);
      else
        {
          g_test_message ("%s: %s", groups[i], e1->message);
          g_assert_error (e1, LATCH_ERROR, LATCH_ERROR_FAILED);
          g_assert_nonnull (strstr (e1->message, "-n IFACE"));
        }
      server = latch_discovery_server_new (&group, "", 4242, &e2);
      if (server == NULL)
        {
          g_test_message ("%s: %s", groups[i], e2->message);
          g_assert_false (g_error_matches (e2, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION));
        }
    }
}

static void
test_args_not_multicast (void)
{
  LatchDiscoveryGroup group = group_of ("192.0.2.1", 28015, NULL);
  g_autoptr (GError) e1 = NULL;
  g_autoptr (GError) e2 = NULL;
  char *address = NULL;
  int port = 0;

  g_assert_false (latch_discovery_find (&group, 1, 10, &address, &port, &e1));
  assert_option_error (e1, "not a multicast address");
  g_assert_null (latch_discovery_server_new (&group, "", 4242, &e2));
  assert_option_error (e2, "not a multicast address");
}

static void
test_args_no_such_iface (void)
{
  LatchDiscoveryGroup group = group_of (GROUP4, 28015, "nosuchif0");
  g_autoptr (GError) e1 = NULL;
  g_autoptr (GError) e2 = NULL;

  g_assert_null (latch_discovery_local_address (&group, &e1));
  assert_option_error (e1, "no network interface named nosuchif0");
  g_assert_null (latch_discovery_server_new (&group, "", 4242, &e2));
  assert_option_error (e2, "nosuchif0");
}

/* ---- exchanges -------------------------------------------------------- */

static void
test_ipv4_find (void)
{
  LatchDiscoveryGroup group = group_of (GROUP4, 28101, NULL);
  g_autoptr (LatchDiscoveryServer) server = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *address = NULL;
  int port = 0;

  if (!need_netns ())
    return;
  server = latch_discovery_server_new (&group, "192.0.2.7", 4242, &error);
  g_assert_no_error (error);
  g_assert_nonnull (server);
  address = find_ok (&group, &port);
  g_assert_cmpstr (address, ==, "192.0.2.7");
  g_assert_cmpint (port, ==, 4242);
  g_assert_cmpuint (latch_discovery_server_n_answered (server), >=, 1);
  g_assert_cmpuint (latch_discovery_server_n_ignored (server), ==, 0);
}

/* An empty answer address: the daemon is where the answer came from. */
static void
test_ipv4_source_address (void)
{
  LatchDiscoveryGroup group = group_of (GROUP4, 28102, NULL);
  g_autoptr (LatchDiscoveryServer) server = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *address = NULL;
  int port = 0;

  if (!need_netns ())
    return;
  server = latch_discovery_server_new (&group, "", 39999, &error);
  g_assert_no_error (error);
  g_assert_nonnull (server);
  address = find_ok (&group, &port);
  g_assert_cmpstr (address, ==, "127.0.0.1");
  g_assert_cmpint (port, ==, 39999);
}

/* -n lo: IP_MULTICAST_IF and the membership by interface index. */
static void
test_ipv4_iface (void)
{
  LatchDiscoveryGroup group = group_of (GROUP4, 28103, "lo");
  g_autoptr (LatchDiscoveryServer) server = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *address = NULL;
  int port = 0;

  if (!need_netns ())
    return;
  group.ttl = 3;
  server = latch_discovery_server_new (&group, "", 4243, &error);
  g_assert_no_error (error);
  g_assert_nonnull (server);
  address = find_ok (&group, &port);
  g_assert_cmpstr (address, ==, "127.0.0.1");
  g_assert_cmpint (port, ==, 4243);
}

static void
test_ipv6_find (void)
{
  const char *iface = need_iface6 ();
  LatchDiscoveryGroup group = group_of (GROUP6, 28104, iface);
  g_autoptr (LatchDiscoveryServer) server = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *address = NULL;
  g_autofree char *expected = NULL;
  int port = 0;

  if (iface == NULL)
    return;
  server = latch_discovery_server_new (&group, "", 4244, &error);
  g_assert_no_error (error);
  g_assert_nonnull (server);
  address = find_ok (&group, &port);
  expected = g_strdup_printf ("fe80::1%%%s", iface);
  g_assert_cmpstr (address, ==, expected);
  g_assert_cmpint (port, ==, 4244);
}

/* A link-local answer address gets the interface it came in on. */
static void
test_ipv6_answer_address (void)
{
  const char *iface = need_iface6 ();
  LatchDiscoveryGroup group = group_of (GROUP6, 28105, iface);
  g_autoptr (LatchDiscoveryServer) server = NULL;
  g_autoptr (LatchDiscoveryServer) server2 = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *address = NULL;
  g_autofree char *address2 = NULL;
  g_autofree char *expected = NULL;
  int port = 0;

  if (iface == NULL)
    return;
  server = latch_discovery_server_new (&group, "fe80::1", 4245, &error);
  g_assert_no_error (error);
  g_assert_nonnull (server);
  address = find_ok (&group, &port);
  expected = g_strdup_printf ("fe80::1%%%s", iface);
  g_assert_cmpstr (address, ==, expected);
  g_clear_pointer (&server, latch_discovery_server_free);

  server2 = latch_discovery_server_new (&group, "2001:db8:28::1", 4246, &error);
  g_assert_no_error (error);
  g_assert_nonnull (server2);
  address2 = find_ok (&group, &port);
  g_assert_cmpstr (address2, ==, "2001:db8:28::1");
  g_assert_cmpint (port, ==, 4246);
}

/* ---- the daemon side under fire --------------------------------------- */

static void
test_server_hostile (void)
{
  LatchDiscoveryGroup group = group_of (GROUP4, 28110, NULL);
  g_autoptr (LatchDiscoveryServer) server = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *address = NULL;
  g_autofree char *oversize = NULL;
  int port = 0;
  int fd;
  static const char *const hostile[] = {
    "",
    "junk \x01\x02\xff bytes",
    "<msg level=\"3\" verb=\"4\" step=\"8\">",
    /* FLoM disables its discovery for good on this one. */
    XML_DECL "<msg level=\"2\" verb=\"4\" step=\"8\"></msg>",
    XML_DECL "<msg level=\"3\" verb=\"1\" step=\"8\"><session peerid=\"x\"/>"
             "<resource name=\"QQ==\" mode=\"5\" wait=\"0\" create=\"1\" "
             "lifespan=\"0\"/></msg>",
    XML_DECL "<msg level=\"3\" verb=\"4\" step=\"16\"><network "
             "address=\"192.0.2.66\" port=\"1\"/></msg>",
    XML_DECL "<msg level=\"3\" verb=\"4\" step=\"24\"></msg>",
    XML_DECL "<msg level=\"3\" verb=\"5\" step=\"8\"><session peerid=\"x\"/>"
             "<shutdown immediate=\"1\"/></msg>",
    XML_DECL "<!DOCTYPE msg [<!ENTITY e \"x\">]><msg level=\"3\" verb=\"4\" "
             "step=\"8\"></msg>",
  };
  guint n_hostile = G_N_ELEMENTS (hostile) + 1;

  if (!need_netns ())
    return;
  server = latch_discovery_server_new (&group, "192.0.2.7", 4242, &error);
  g_assert_no_error (error);
  g_assert_nonnull (server);

  fd = udp_socket (AF_INET, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (hostile); i++)
    send_str (fd, GROUP4, group.port, hostile[i]);
  /* A valid query padded past the size limit. */
  oversize = g_strdup_printf ("%s%*s", DISCOVER, LATCH_MSG_MAX_SIZE, "");
  send_to (fd, GROUP4, group.port, NULL, oversize, strlen (oversize));

  pump_until_seen (server, n_hostile);
  g_assert_cmpuint (latch_discovery_server_n_ignored (server), ==, n_hostile);
  g_assert_cmpuint (latch_discovery_server_n_answered (server), ==, 0);
  g_assert_cmpuint (drain (fd, 50), ==, 0);

  /* Still answering, to queries sent straight to the port as well. */
  send_str (fd, "127.0.0.1", group.port, DISCOVER);
  g_assert_cmpuint (drain (fd, 0), ==, 0); /* not before the loop runs */
  pump_until_seen (server, n_hostile + 1);
  g_assert_cmpuint (latch_discovery_server_n_answered (server), ==, 1);
  g_assert_cmpuint (drain (fd, PATIENCE_MS), ==, 1);
  close (fd);

  pump_ms (150); /* past the per-source interval (100 ms) */
  address = find_ok (&group, &port);
  g_assert_cmpstr (address, ==, "192.0.2.7");
  g_assert_cmpuint (latch_discovery_server_n_answered (server), >=, 2);
  g_assert_cmpuint (latch_discovery_server_n_ignored (server), ==, n_hostile);
}

/* One source: at most one answer per 100 ms. */
static void
test_server_rate_limit_source (void)
{
  LatchDiscoveryGroup group = group_of (GROUP4, 28111, NULL);
  g_autoptr (LatchDiscoveryServer) server = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *address = NULL;
  guint answered;
  guint ignored;
  guint received;
  int port = 0;
  int fd;

  if (!need_netns ())
    return;
  server = latch_discovery_server_new (&group, "", 4242, &error);
  g_assert_no_error (error);
  g_assert_nonnull (server);

  fd = udp_socket (AF_INET, NULL);
  for (int i = 0; i < 200; i++)
    send_str (fd, GROUP4, group.port, DISCOVER);
  pump_until_seen (server, 200);
  answered = latch_discovery_server_n_answered (server);
  ignored = latch_discovery_server_n_ignored (server);
  received = drain (fd, 200);
  g_test_message ("200 queries from one source: %u answered, %u ignored, "
                  "%u answers received",
                  answered, ignored, received);
  g_assert_cmpuint (answered, >=, 1);
  g_assert_cmpuint (answered, <=, 50 + 10);
  g_assert_cmpuint (answered + ignored, <=, 200);
  g_assert_cmpuint (received, <=, answered);
  close (fd);

  address = find_ok (&group, &port);
  g_assert_cmpstr (address, ==, "127.0.0.1");
}

/* One host floods the group (thousands of queries a second) while another
 * discovers the daemon eight times: the flooder's share of the answers is
 * bounded below the global budget, so every legitimate query is
 * answered. */
static void
test_server_flood_one_source (void)
{
  LatchDiscoveryGroup group = group_of (GROUP4, 28113, NULL);
  g_autoptr (LatchDiscoveryServer) server = NULL;
  g_autoptr (GError) error = NULL;
  guint flood_answers;
  guint answers = 0;
  gint64 start;
  gint64 elapsed_ms;
  int flooder;
  int host;

  if (!need_netns ())
    return;
  server = latch_discovery_server_new (&group, "", 4242, &error);
  g_assert_no_error (error);
  g_assert_nonnull (server);
  flooder = udp_socket (AF_INET, "127.0.0.1");
  host = udp_socket (AF_INET, "127.0.0.2");
  start = g_get_monotonic_time ();
  for (int ms = 0; ms < 1200; ms++)
    {
      for (int i = 0; i < 4; i++)
        send_str (flooder, GROUP4, group.port, DISCOVER);
      if (ms % 150 == 0)
        send_str (host, GROUP4, group.port, DISCOVER);
      while (g_main_context_iteration (NULL, FALSE))
        ;
      g_usleep (1000);
      answers += drain (host, 0);
    }
  pump_ms (100);
  elapsed_ms = (g_get_monotonic_time () - start) / G_TIME_SPAN_MILLISECOND;
  answers += drain (host, 200);
  flood_answers = drain (flooder, 200);
  g_test_message ("flooder: %u answers in %" G_GINT64_FORMAT " ms; the other host: "
                  "%u of 8 queries answered", flood_answers, elapsed_ms, answers);
  g_assert_cmpuint (answers, ==, 8);
  /* One answer per 100 ms at most. */
  g_assert_cmpint (flood_answers, <=, elapsed_ms / 100 + 1);
  close (flooder);
  close (host);
}

/* Many sources (127.0.0.2 ... 127.0.0.201): the token bucket, 50 at once. */
static void
test_server_rate_limit_global (void)
{
  LatchDiscoveryGroup group = group_of (GROUP4, 28112, NULL);
  g_autoptr (LatchDiscoveryServer) server = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *address = NULL;
  int fds[200];
  guint answered;
  guint ignored;
  guint received = 0;
  int port = 0;

  if (!need_netns ())
    return;
  server = latch_discovery_server_new (&group, "", 4242, &error);
  g_assert_no_error (error);
  g_assert_nonnull (server);

  for (int i = 0; i < 200; i++)
    {
      g_autofree char *source
          = g_strdup_printf ("127.0.%d.%d", (i + 2) / 256, (i + 2) % 256);
      fds[i] = udp_socket (AF_INET, source);
      send_str (fds[i], GROUP4, group.port, DISCOVER);
    }
  pump_until_seen (server, 200);
  answered = latch_discovery_server_n_answered (server);
  ignored = latch_discovery_server_n_ignored (server);
  for (int i = 0; i < 200; i++)
    {
      received += drain (fds[i], 0);
      close (fds[i]);
    }
  g_test_message ("200 queries from 200 sources: %u answered, %u ignored, "
                  "%u answers received",
                  answered, ignored, received);
  g_assert_cmpuint (answered, >=, 1);
  g_assert_cmpuint (answered, <=, 50 + 10);
  g_assert_cmpuint (answered + ignored, <=, 200);
  g_assert_cmpuint (received, <=, answered);

  /* The bucket refills: the server answers again. */
  address = find_ok (&group, &port);
  g_assert_cmpstr (address, ==, "127.0.0.1");
}

/* ---- the client side -------------------------------------------------- */

static void
test_client_no_daemon (void)
{
  FindJob job = { .group = group_of (GROUP4, 28120, NULL),
                  .attempts = 3,
                  .timeout_ms = 100 };

  if (!need_netns ())
    return;
  find_run (&job);
  g_assert_false (job.ok);
  g_assert_null (job.address);
  g_assert_error (job.error, LATCH_ERROR, LATCH_ERROR_NO_DAEMON);
  g_assert_cmpstr (job.error->message, ==,
                   "no daemon answered on " GROUP4 " port 28120 after 3 "
                   "attempts of 100 ms");
  /* Bounded: 3 x 100 ms, plus a generous margin for slow runs. */
  g_assert_cmpint (job.elapsed_us, <, (300 + 2000) * G_TIME_SPAN_MILLISECOND);
  find_clear (&job);
}

/* A fake daemon answering with junk first: the client waits on for a
 * valid answer. */
static void
test_client_ignores_bad_answers (void)
{
  FindJob job = { .group = group_of (GROUP4, 28121, NULL),
                  .attempts = 1,
                  .timeout_ms = PATIENCE_MS };
  static const char *const bad[] = {
    "",
    "junk",
    XML_DECL "<msg level=\"2\" verb=\"4\" step=\"16\"><network "
             "address=\"192.0.2.66\" port=\"1\"/></msg>",
    XML_DECL "<msg level=\"3\" verb=\"4\" step=\"8\"></msg>",
    XML_DECL "<msg level=\"3\" verb=\"1\" step=\"24\"><answer rc=\"0\"/></msg>",
    XML_DECL "<msg level=\"3\" verb=\"4\" step=\"16\"><network "
             "address=\"192.0.2.66\" port=\"0\"/></msg>",
    XML_DECL "<msg level=\"3\" verb=\"4\" step=\"16\"><network "
             "address=\"192.0.2.66\" port=\"99999\"/></msg>",
  };
  static const char good[]
      = XML_DECL "<msg level=\"3\" verb=\"4\" step=\"16\"><network "
                 "address=\"192.0.2.9\" port=\"4711\"/></msg>";
  struct sockaddr_in any = { .sin_family = AF_INET, .sin_port = htons (28121) };
  struct ip_mreqn mreqn = { .imr_ifindex = 0 };
  struct sockaddr_storage src;
  socklen_t srclen = sizeof src;
  char buf[LATCH_MSG_MAX_SIZE + 1];
  g_autoptr (LatchMsg) query = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *oversize = NULL;
  struct pollfd pfd;
  GThread *thread;
  ssize_t n;
  int on = 1;
  int fd;

  if (!need_netns ())
    return;
  fd = udp_socket (AF_INET, NULL);
  g_assert_cmpint (setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on),
                   ==, 0);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &any, sizeof any), ==, 0);
  g_assert_cmpint (inet_pton (AF_INET, GROUP4, &mreqn.imr_multiaddr), ==, 1);
  g_assert_cmpint (
      setsockopt (fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreqn, sizeof mreqn), ==,
      0);

  thread = find_start (&job);
  pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
  g_assert_cmpint (poll (&pfd, 1, PATIENCE_MS), ==, 1);
  n = recvfrom (fd, buf, sizeof buf, 0, (struct sockaddr *) &src, &srclen);
  g_assert_cmpint (n, >, 0);
  g_assert_true (latch_codec_decode (buf, (gsize) n, &query, &error));
  g_assert_no_error (error);
  g_assert_cmpint (query->kind, ==, LATCH_MSG_DISCOVER);

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    g_assert_cmpint (sendto (fd, bad[i], strlen (bad[i]), 0,
                             (struct sockaddr *) &src, srclen),
                     ==, (gssize) strlen (bad[i]));
  oversize = g_strdup_printf ("%s%*s", good, LATCH_MSG_MAX_SIZE, "");
  g_assert_cmpint (sendto (fd, oversize, strlen (oversize), 0,
                           (struct sockaddr *) &src, srclen),
                   ==, (gssize) strlen (oversize));
  g_assert_cmpint (
      sendto (fd, good, strlen (good), 0, (struct sockaddr *) &src, srclen), ==,
      (gssize) strlen (good));

  find_finish (&job, thread);
  g_assert_no_error (job.error);
  g_assert_true (job.ok);
  g_assert_cmpstr (job.address, ==, "192.0.2.9");
  g_assert_cmpint (job.port, ==, 4711);
  find_clear (&job);
  close (fd);
}

/* ---- local address ---------------------------------------------------- */

static char *
local_ok (const char *address, const char *iface)
{
  LatchDiscoveryGroup group = group_of (address, 28015, iface);
  g_autoptr (GError) error = NULL;
  char *local = latch_discovery_local_address (&group, &error);

  g_assert_no_error (error);
  g_assert_nonnull (local);
  return local;
}

static void
test_local_ipv4 (void)
{
  g_autofree char *by_route = NULL;
  g_autofree char *by_iface = NULL;

  if (!need_netns ())
    return;
  by_route = local_ok (GROUP4, NULL);
  g_assert_cmpstr (by_route, ==, "127.0.0.1");
  by_iface = local_ok (GROUP4, "lo");
  g_assert_cmpstr (by_iface, ==, "127.0.0.1");
}

static void
test_local_ipv6 (void)
{
  const char *iface = need_iface6 ();
  g_autofree char *link_local = NULL;
  g_autofree char *global = NULL;
  g_autofree char *expected = NULL;

  if (iface == NULL)
    return;
  link_local = local_ok (GROUP6, iface);
  expected = g_strdup_printf ("fe80::1%%%s", iface);
  g_assert_cmpstr (link_local, ==, expected);
  global = local_ok (GROUP6_GLOBAL, iface);
  g_assert_cmpstr (global, ==, "2001:db8:28::1");
}

/* An interface without an address of the group's family. */
static void
test_local_no_address (void)
{
  const char *iface = need_iface6 ();
  LatchDiscoveryGroup group = group_of (GROUP4, 28015, iface);
  g_autoptr (GError) error = NULL;

  if (iface == NULL)
    return;
  g_assert_null (latch_discovery_local_address (&group, &error));
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_FAILED);
  g_test_message ("error: %s", error->message);
  g_assert_nonnull (strstr (error->message, "has no IPv4 address"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* LATCH_TRACE=1: the debug lines too (the client's reasons for skipping
   * a datagram, each answer). */
  if (g_strcmp0 (g_getenv ("LATCH_TRACE"), "1") == 0)
    latch_log_set_debug (TRUE);

  g_test_add_func ("/discovery/args/scoped-group-without-iface",
                   test_args_scoped_group_without_iface);
  g_test_add_func ("/discovery/args/not-multicast", test_args_not_multicast);
  g_test_add_func ("/discovery/args/no-such-iface", test_args_no_such_iface);
  g_test_add_func ("/discovery/ipv4/find", test_ipv4_find);
  g_test_add_func ("/discovery/ipv4/source-address", test_ipv4_source_address);
  g_test_add_func ("/discovery/ipv4/iface", test_ipv4_iface);
  g_test_add_func ("/discovery/ipv6/find", test_ipv6_find);
  g_test_add_func ("/discovery/ipv6/answer-address", test_ipv6_answer_address);
  g_test_add_func ("/discovery/server/hostile", test_server_hostile);
  g_test_add_func ("/discovery/server/rate-limit-source",
                   test_server_rate_limit_source);
  g_test_add_func ("/discovery/server/rate-limit-global",
                   test_server_rate_limit_global);
  g_test_add_func ("/discovery/server/flood-one-source", test_server_flood_one_source);
  g_test_add_func ("/discovery/client/no-daemon", test_client_no_daemon);
  g_test_add_func ("/discovery/client/ignores-bad-answers",
                   test_client_ignores_bad_answers);
  g_test_add_func ("/discovery/local-address/ipv4", test_local_ipv4);
  g_test_add_func ("/discovery/local-address/ipv6", test_local_ipv6);
  g_test_add_func ("/discovery/local-address/no-address",
                   test_local_no_address);

  return g_test_run ();
}
