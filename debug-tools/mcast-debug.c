/* mcast-debug.c: --debug-feature=ipv6.multicast.server and .client.
 *
 * FLoM's multicast check, on MulticastAddress:MulticastPort (-A, -P; -n
 * for the interface; IPv4 groups work too, despite the name): the client
 * sends the datagram "HELLO" to the group, the server, a member of the
 * group, answers "WELCOME" to the datagram's source.  Each side prints
 * FLoM's lines, which scripts compare:
 *   Sent datagram is 'HELLO'        Arrived datagram is 'HELLO'
 *   Arrived datagram is 'WELCOME'   Sent datagram is 'WELCOME'
 * The group is resolved and checked by the discovery code latch uses
 * (net/discovery.c).  Exit 0 when the exchange completed, else 1 with a
 * FAIL / FIX pair.  Waits are bounded by LATCH_DEBUG_DATAGRAM_MS. */
#include "config.h"

#include "debug-tools.h"

#include "common/error.h"
#include "common/text.h"
#include "net/discovery-private.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HELLO "HELLO"
#define WELCOME "WELCOME"
#define MAX_DATAGRAM 1024

static int
fail (const char *reason, const char *fix)
{
  printf ("FAIL: %s\n", reason);
  printf ("FIX: %s\n", fix);
  fflush (stdout);
  return 1;
}

/* Waits (bounded) for one datagram; its text escaped (transfer full). */
static char *
wait_datagram (int fd, struct sockaddr_storage *from, socklen_t *from_len, GError **error)
{
  gint64 deadline = g_get_monotonic_time () + (gint64)LATCH_DEBUG_DATAGRAM_MS * 1000;

  for (;;)
    {
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      gint64 left = (deadline - g_get_monotonic_time ()) / 1000;
      char buf[MAX_DATAGRAM + 1];
      ssize_t n;
      int ret;

      if (left <= 0)
        {
          g_set_error (error, LATCH_ERROR, LATCH_ERROR_TIMEOUT,
                       "no datagram arrived within %d s", LATCH_DEBUG_DATAGRAM_MS / 1000);
          return NULL;
        }
      ret = poll (&pfd, 1, (int)left + 1);
      if (ret < 0 && errno != EINTR)
        {
          int e = errno;

          g_set_error (error, LATCH_ERROR, LATCH_ERROR_IO, "poll: %s", g_strerror (e));
          return NULL;
        }
      if (ret <= 0)
        continue;
      *from_len = sizeof *from;
      n = recvfrom (fd, buf, MAX_DATAGRAM, 0, (struct sockaddr *)from, from_len);
      if (n < 0)
        {
          int e = errno;

          if (e == EINTR || e == EAGAIN || e == EWOULDBLOCK)
            continue;
          g_set_error (error, LATCH_ERROR, LATCH_ERROR_IO, "recvfrom: %s", g_strerror (e));
          return NULL;
        }
      /* The one quoting rule for untrusted text: a NUL or a control byte
       * shows as an escape, valid UTF-8 as itself. */
      return latch_text_quote (buf, n, MAX_DATAGRAM, LATCH_QUOTE_BARE | LATCH_QUOTE_C_ESCAPES);
    }
}

/* To the group g, or (g NULL) to a peer. */
static gboolean
send_datagram (int fd, const char *text, const GroupAddr *g, const struct sockaddr *to,
               socklen_t to_len, GError **error)
{
  ssize_t n;

  do
    n = sendto (fd, text, strlen (text), 0, to, to_len);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    {
      int e = errno;
      g_autofree char *label = latch_discovery_sockaddr_label (to, to_len);
      g_autofree char *why = g != NULL ? latch_discovery_explain_errno (g, e) : g_strdup ("");

      g_set_error (error, LATCH_ERROR, LATCH_ERROR_IO, "sending to %s: %s%s", label,
                   g_strerror (e), why);
      return FALSE;
    }
  return TRUE;
}

/* The kernel's own words plus latch's explanation (what discovery says). */
static gboolean
join_failed (const GroupAddr *g, const char *what, GError **error)
{
  int e = errno;
  g_autofree char *why = latch_discovery_explain_errno (g, e);

  g_set_error (error, LATCH_ERROR, LATCH_ERROR_FAILED, "setsockopt %s: %s%s", what,
               g_strerror (e), why);
  return FALSE;
}

static gboolean
join_group (int fd, const GroupAddr *g, GError **error)
{
  if (g->family == AF_INET)
    {
      struct ip_mreqn mreqn = { 0 };

      mreqn.imr_multiaddr = ((const struct sockaddr_in *)&g->addr)->sin_addr;
      mreqn.imr_ifindex = (int)g->ifindex;
      if (setsockopt (fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreqn, sizeof mreqn) < 0)
        return join_failed (g, "IP_ADD_MEMBERSHIP", error);
    }
  else
    {
      struct ipv6_mreq mreq = { 0 };

      mreq.ipv6mr_multiaddr = ((const struct sockaddr_in6 *)&g->addr)->sin6_addr;
      mreq.ipv6mr_interface = g->ifindex;
      if (setsockopt (fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &mreq, sizeof mreq) < 0)
        return join_failed (g, "IPV6_JOIN_GROUP", error);
    }
  return TRUE;
}

static gboolean
bind_port (int fd, const GroupAddr *g, GError **error)
{
  struct sockaddr_storage ss = { 0 };
  socklen_t len;
  int on = 1;

  if (!latch_discovery_set_opt (fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on,
                                "SO_REUSEADDR", error))
    return FALSE;
  if (g->family == AF_INET)
    {
      struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

      sin->sin_family = AF_INET;
      sin->sin_addr.s_addr = htonl (INADDR_ANY);
      sin->sin_port = ((const struct sockaddr_in *)&g->addr)->sin_port;
      len = sizeof *sin;
    }
  else
    {
      struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

      if (!latch_discovery_set_opt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on,
                                    "IPV6_V6ONLY", error))
        return FALSE;
      sin6->sin6_family = AF_INET6;
      sin6->sin6_addr = in6addr_any;
      sin6->sin6_port = ((const struct sockaddr_in6 *)&g->addr)->sin6_port;
      len = sizeof *sin6;
    }
  if (bind (fd, (struct sockaddr *)&ss, len) < 0)
    {
      int e = errno;

      g_set_error (error, LATCH_ERROR, LATCH_ERROR_FAILED, "bind: %s", g_strerror (e));
      return FALSE;
    }
  return TRUE;
}

/* Loopback on (a peer on this host must hear us), hop limit, interface. */
static gboolean
setup_sender (int fd, const GroupAddr *g, int ttl, GError **error)
{
  int hops = CLAMP (ttl, 1, 255);
  int loop = 1;

  if (g->family == AF_INET)
    {
      struct ip_mreqn mreqn = { 0 };

      mreqn.imr_ifindex = (int)g->ifindex;
      return latch_discovery_set_opt (fd, IPPROTO_IP, IP_MULTICAST_TTL, &hops, sizeof hops,
                                      "IP_MULTICAST_TTL", error)
             && latch_discovery_set_opt (fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop,
                                         sizeof loop, "IP_MULTICAST_LOOP", error)
             && (g->ifindex == 0
                 || latch_discovery_set_opt (fd, IPPROTO_IP, IP_MULTICAST_IF, &mreqn,
                                             sizeof mreqn, "IP_MULTICAST_IF", error));
    }
  else
    {
      unsigned int idx = g->ifindex;

      return latch_discovery_set_opt (fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops,
                                      sizeof hops, "IPV6_MULTICAST_HOPS", error)
             && latch_discovery_set_opt (fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &loop,
                                         sizeof loop, "IPV6_MULTICAST_LOOP", error)
             && (idx == 0
                 || latch_discovery_set_opt (fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx,
                                             sizeof idx, "IPV6_MULTICAST_IF", error));
    }
}

int
latch_debug_mcast_run (const LatchConfig *config, gboolean server)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *label = NULL;
  g_autofree char *arrived = NULL;
  LatchDiscoveryGroup group = {
    .group = config->multicast_address,
    .port = config->multicast_port,
    .iface = config->network_interface,
    .ttl = config->discovery_ttl,
  };
  GroupAddr g;
  struct sockaddr_storage from;
  socklen_t from_len = 0;
  int fd;
  int status = 1;

  if (config->multicast_address == NULL)
    return fail ("no multicast group: this feature uses MulticastAddress:MulticastPort",
                 "give -A GROUP (e.g. ff02::1:2815 or 239.255.28.15; -n IFACE to "
                 "choose the interface) and -P PORT");
  if (!latch_discovery_resolve_group (&group, &g, &error))
    return fail (error->message, "give -A a multicast group (IPv4 224.0.0.0/4 or IPv6 "
                                 "ff00::/8) and, with -n, an interface of this host");
  label = latch_discovery_group_label (&group);
  fd = latch_discovery_open_udp_socket (g.family, &error);
  if (fd < 0)
    return fail (error->message, "check the system's network configuration");

  if (server)
    {
      if (!bind_port (fd, &g, &error) || !join_group (fd, &g, &error))
        {
          g_autofree char *reason = g_strdup_printf ("cannot join group %s: %s", label,
                                                     error->message);

          close (fd);
          return fail (reason, "check the interface (-n) and that it has multicast on and "
                               "a route to the group; free the port (-P)");
        }
      printf ("waiting for a datagram on %s\n", label);
      fflush (stdout);
      arrived = wait_datagram (fd, &from, &from_len, &error);
      if (arrived == NULL)
        status = fail (error->message,
                       "run latch --debug-feature=ipv6.multicast.client with the same -A, "
                       "-P (and -n) on the client; check that multicast reaches this host");
      else
        {
          printf ("Arrived datagram is '%s'\n", arrived);
          if (!send_datagram (fd, WELCOME, NULL, (struct sockaddr *)&from, from_len, &error))
            status = fail (error->message, "check the route back to the client");
          else
            {
              printf ("Sent datagram is '%s'\n", WELCOME);
              status = 0;
            }
        }
    }
  else
    {
      if (!setup_sender (fd, &g, config->discovery_ttl, &error)
          || !send_datagram (fd, HELLO, &g, (struct sockaddr *)&g.addr, g.len, &error))
        status = fail (error->message, "check the interface (-n), its multicast flag and "
                                       "a route to the group");
      else
        {
          printf ("Sent datagram is '%s'\n", HELLO);
          fflush (stdout);
          arrived = wait_datagram (fd, &from, &from_len, &error);
          if (arrived == NULL)
            status = fail (error->message,
                           "start latch --debug-feature=ipv6.multicast.server with the same "
                           "-A, -P (and -n) first; check that multicast crosses the network "
                           "(--discovery-ttl) and that no firewall drops it");
          else
            {
              printf ("Arrived datagram is '%s'\n", arrived);
              status = 0;
            }
        }
    }
  fflush (stdout);
  close (fd);
  return status;
}
