/* fuzz-discovery.c: the daemon's discovery server on arbitrary datagrams
 * (src/net/discovery-server.c).
 *
 * Input: HEADER_LEN bytes, then the datagram.
 *   byte 0      bits 0-1 the way in: 0, 1 direct: the datagram and the
 *               source address below go to
 *               latch_discovery_server_handle_datagram(), and the server's
 *               socket is one end of an AF_UNIX socketpair, so that an
 *               answer can never leave the host (sending it fails);
 *               2 (IPv4), 3 (IPv6, or IPv4 without ::1): through real UDP
 *               sockets on the loopback interface and the main loop, so
 *               that answers are sent and checked;
 *               bit 2 debug logging; bits 3-4 the datagram arrives 1..4
 *               times (the per-source rate limit); bits 5-7 the answer's
 *               address (answer_addresses[])
 *   byte 1      the source's family (direct): even IPv4, odd IPv6
 *   bytes 2-17  its address (IPv4: bytes 2-5)
 *   bytes 18-19 its port
 *   byte 20     its IPv6 scope ID (0..3)
 * A fresh server handles each input, so the rate limits start afresh.
 *
 * Checked (abort on violation): every datagram is counted once, answered
 * or ignored; the direct way never answers (its socket cannot send); on
 * the loopback way the first copy of a datagram is answered exactly when
 * it decodes as a discover query of at most LATCH_MSG_MAX_SIZE bytes, and
 * every answer that arrives decodes as a 4/16 with the configured address
 * and port. */
#include "config.h"

#include "net/discovery-private.h"

#include "common/error.h"
#include "common/log.h"
#include "proto/msg.h"
#include "fuzz.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define HEADER_LEN 21
#define ANSWER_PORT 28015
/* Datagrams on the loopback way are cut to this: a little over the
 * server's limit, so that oversize ones are seen, and 4 of them fit in
 * the socket's receive buffer. */
#define LOOPBACK_MAX (LATCH_MSG_MAX_SIZE + 64)
/* Main loop iterations after sending: the server reads all queued
 * datagrams in one. */
#define MAX_ITERATIONS 16

static const char *const answer_addresses[] = {
  "", "127.0.0.1", "::1", "fe80::1%lo", "daemon.example.org",
  "192.0.2.7", "2001:db8::28", "\"<&>'",
};

/* Once per process: the log goes nowhere (it would swamp libFuzzer's
 * output), and GLib's criticals and warnings are crashes. */
static void
init_once (void)
{
  static gboolean done;

  if (done)
    return;
  done = TRUE;
  if (!latch_log_init ("fuzz-discovery", LATCH_LOG_TO_FILE, "/dev/null", TRUE,
                       FALSE, NULL))
    abort ();
  fuzz_make_warnings_fatal ();
}

/* Would the server answer buf (the harness decodes it itself)? */
static gboolean
is_discover (const char *buf, gsize len)
{
  g_autoptr (LatchMsg) msg = NULL;

  if (len > LATCH_MSG_MAX_SIZE || !latch_codec_decode (buf, len, &msg, NULL))
    return FALSE;
  return msg->kind == LATCH_MSG_DISCOVER;
}

/* The source address of the direct way, from the header. */
static socklen_t
source_from (const guint8 *hdr, struct sockaddr_storage *src)
{
  guint16 port = (guint16) ((hdr[18] << 8) | hdr[19]);

  memset (src, 0, sizeof *src);
  if ((hdr[1] & 1) == 0)
    {
      struct sockaddr_in *sin = (struct sockaddr_in *) src;

      sin->sin_family = AF_INET;
      memcpy (&sin->sin_addr, hdr + 2, 4);
      sin->sin_port = htons (port);
      return sizeof *sin;
    }
  else
    {
      struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) src;

      sin6->sin6_family = AF_INET6;
      memcpy (&sin6->sin6_addr, hdr + 2, 16);
      sin6->sin6_port = htons (port);
      sin6->sin6_scope_id = hdr[20] & 3;
      return sizeof *sin6;
    }
}

static void
run_direct (const guint8 *hdr, const char *dgram, gsize len, int copies,
            const char *answer_address)
{
  g_autoptr (LatchDiscoveryServer) server = NULL;
  struct sockaddr_storage src;
  socklen_t srclen = source_from (hdr, &src);
  int sv[2];

  if (socketpair (AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
    return;
  server = latch_discovery_server_new_for_fd (sv[0], "fuzz group",
                                              answer_address, ANSWER_PORT);
  require (server != NULL);
  for (int i = 0; i < copies; i++)
    latch_discovery_server_handle_datagram (server, dgram, len, &src, srclen);
  require (latch_discovery_server_n_answered (server) == 0);
  require (latch_discovery_server_n_ignored (server) == (guint) copies);
  close (sv[1]);
}

/* A non-blocking UDP socket bound to the loopback address of family,
 * port 0; its address in *addr.  -1 when there is none. */
static int
loopback_socket (int family, struct sockaddr_storage *addr, socklen_t *len)
{
  int fd = socket (family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

  if (fd < 0)
    return -1;
  memset (addr, 0, sizeof *addr);
  if (family == AF_INET)
    {
      struct sockaddr_in *sin = (struct sockaddr_in *) addr;

      sin->sin_family = AF_INET;
      sin->sin_addr.s_addr = htonl (INADDR_LOOPBACK);
      *len = sizeof *sin;
    }
  else
    {
      struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) addr;
      int on = 1;

      sin6->sin6_family = AF_INET6;
      sin6->sin6_addr = in6addr_loopback;
      *len = sizeof *sin6;
      (void) setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    }
  if (bind (fd, (struct sockaddr *) addr, *len) < 0
      || getsockname (fd, (struct sockaddr *) addr, len) < 0)
    {
      close (fd);
      return -1;
    }
  return fd;
}

/* Reads the answers that reached the client: each must be the 4/16 the
 * server was configured with.  Returns how many there were. */
static guint
check_answers (int fd, const char *answer_address)
{
  char buf[LATCH_MSG_MAX_SIZE + 1];
  guint n = 0;
  ssize_t got;

  while ((got = recv (fd, buf, sizeof buf, 0)) >= 0)
    {
      g_autoptr (LatchMsg) msg = NULL;

      require (latch_codec_decode (buf, (gsize) got, &msg, NULL));
      require (msg->kind == LATCH_MSG_DISCOVER_ANSWER);
      require (g_strcmp0 (msg->address, answer_address) == 0);
      require (msg->port == ANSWER_PORT);
      n++;
    }
  return n;
}

static void
run_loopback (int family, const char *dgram, gsize len, int copies,
              const char *answer_address)
{
  g_autoptr (LatchDiscoveryServer) server = NULL;
  struct sockaddr_storage saddr;
  struct sockaddr_storage caddr;
  socklen_t slen;
  socklen_t clen;
  int sfd = loopback_socket (family, &saddr, &slen);
  int cfd;
  int sent = 0;
  guint answered;

  if (sfd < 0 && family == AF_INET6)
    {
      family = AF_INET;
      sfd = loopback_socket (family, &saddr, &slen);
    }
  if (sfd < 0)
    return;
  cfd = loopback_socket (family, &caddr, &clen);
  if (cfd < 0)
    {
      close (sfd);
      return;
    }
  server = latch_discovery_server_new_for_fd (sfd, "fuzz group",
                                              answer_address, ANSWER_PORT);
  require (server != NULL);

  len = MIN (len, (gsize) LOOPBACK_MAX);
  for (int i = 0; i < copies; i++)
    if (sendto (cfd, dgram, len, 0, (struct sockaddr *) &saddr, slen)
        == (ssize_t) len)
      sent++;
  for (int i = 0; i < MAX_ITERATIONS; i++)
    if (!g_main_context_iteration (NULL, FALSE))
      break;

  answered = latch_discovery_server_n_answered (server);
  require (answered + latch_discovery_server_n_ignored (server)
           == (guint) sent);
  /* Copies after the first come within the per-source interval (100 ms):
   * at most the first is answered. */
  if (sent > 0)
    require (answered == (is_discover (dgram, len) ? 1u : 0u));
  require (check_answers (cfd, answer_address) == answered);
  close (cfd);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  guint8 hdr[HEADER_LEN] = { 0 };
  const char *dgram;
  gsize len;
  int copies;
  const char *answer_address;

  init_once ();
  memcpy (hdr, data, MIN (size, (gsize) HEADER_LEN));
  dgram = size > HEADER_LEN ? (const char *) data + HEADER_LEN : "";
  len = size > HEADER_LEN ? size - HEADER_LEN : 0;
  copies = 1 + ((hdr[0] >> 3) & 3);
  answer_address = answer_addresses[hdr[0] >> 5];
  latch_log_set_debug ((hdr[0] & 4) != 0);

  switch (hdr[0] & 3)
    {
    case 0:
    case 1:
      run_direct (hdr, dgram, len, copies, answer_address);
      break;
    case 2:
      run_loopback (AF_INET, dgram, len, copies, answer_address);
      break;
    case 3:
    default:
      run_loopback (AF_INET6, dgram, len, copies, answer_address);
      break;
    }
  return 0;
}
