/* discovery.c: finding a daemon by UDP multicast (see discovery.h).
 *
 * Wire format (doc/protocol.md §4, §5): the client sends the discover
 * query 4/8 (empty body) to GROUP:PORT; a daemon answers 4/16
 * <network address="A" port="P"/> by unicast to the query's source.  One
 * datagram is one message, at most LATCH_MSG_MAX_SIZE bytes.
 *
 * FLoM's daemon closes its discovery socket on the first datagram with
 * another level, and exits on junk (protocol.md §7, §9).  Here nothing
 * that arrives ever closes the socket: it is counted, logged (at most one
 * line a second) and dropped.  Answers are rate-limited, globally by a
 * token bucket and per source address, so that a forged source cannot
 * turn the daemon into a traffic amplifier. */
#include "config.h"

#include "net/discovery-private.h"

#include "common/autocleanup.h"
#include "common/error.h"
#include "common/log.h"
#include "proto/msg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#endif

/* How long the kernel may take to answer a route query. */
#define ROUTE_QUERY_MS 1000

/* ---- helpers ---------------------------------------------------------- */

char *
latch_discovery_group_label (const LatchDiscoveryGroup *group)
{
  if (group->iface != NULL && group->iface[0] != '\0')
    return g_strdup_printf ("%s port %d (interface %s)", group->group,
                            group->port, group->iface);
  return g_strdup_printf ("%s port %d", group->group, group->port);
}

gboolean
latch_discovery_is_multicast (const struct sockaddr *sa)
{
  if (sa->sa_family == AF_INET)
    {
      const struct sockaddr_in *sin = (const struct sockaddr_in *) sa;
      return IN_MULTICAST (ntohl (sin->sin_addr.s_addr));
    }
  if (sa->sa_family == AF_INET6)
    {
      const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) sa;
      return IN6_IS_ADDR_MULTICAST (&sin6->sin6_addr);
    }
  return FALSE;
}

/* Resolves group->group (numeric or a name, optionally "ADDR%IFACE"),
 * checks that it is a multicast address, and finds the interface. */
gboolean
latch_discovery_resolve_group (const LatchDiscoveryGroup *group, GroupAddr *out, GError **error)
{
  struct addrinfo hints = { 0 };
  struct addrinfo *res = NULL;
  const struct addrinfo *found = NULL;
  GroupAddr g = { 0 };
  int rc;

  if (group->group == NULL || group->group[0] == '\0')
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                   "no discovery group (multicast address) given");
      return FALSE;
    }
  if (group->port <= 0 || group->port > 65535)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                   "discovery group %s: port %d is not in 1..65535",
                   group->group, group->port);
      return FALSE;
    }

  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  rc = getaddrinfo (group->group, NULL, &hints, &res);
  if (rc != 0)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                   "discovery group %s: %s", group->group,
                   rc == EAI_SYSTEM ? g_strerror (errno) : gai_strerror (rc));
      return FALSE;
    }
  for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next)
    if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
        && ai->ai_addrlen <= sizeof g.addr && latch_discovery_is_multicast (ai->ai_addr))
      {
        found = ai;
        break;
      }
  if (found == NULL)
    {
      freeaddrinfo (res);
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                   "discovery group %s is not a multicast address "
                   "(IPv4 224.0.0.0/4 or IPv6 ff00::/8)",
                   group->group);
      return FALSE;
    }
  memcpy (&g.addr, found->ai_addr, found->ai_addrlen);
  g.len = found->ai_addrlen;
  g.family = found->ai_family;
  freeaddrinfo (res);

  if (group->iface != NULL && group->iface[0] != '\0')
    {
      g.ifindex = if_nametoindex (group->iface);
      if (g.ifindex == 0)
        {
          g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                       "discovery group %s: no network interface named %s",
                       group->group, group->iface);
          return FALSE;
        }
    }

  if (g.family == AF_INET)
    ((struct sockaddr_in *) &g.addr)->sin_port = htons (group->port);
  else
    {
      struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &g.addr;

      sin6->sin6_port = htons (group->port);
      /* A scope written in the group ("ff02::1%eth0") stands for -n. */
      if (g.ifindex == 0)
        g.ifindex = sin6->sin6_scope_id;
      g.is_scoped = IN6_IS_ADDR_MC_NODELOCAL (&sin6->sin6_addr)
                    || IN6_IS_ADDR_MC_LINKLOCAL (&sin6->sin6_addr);
      /* Without an interface, an interface- or link-local group goes
       * where the kernel routes it (its default multicast interface), as
       * in FLoM; when it cannot, sending and joining fail and
       * latch_discovery_explain_errno() says why. */
      sin6->sin6_scope_id = g.is_scoped ? g.ifindex : 0;
    }
  if (g.ifindex != 0 && if_indextoname (g.ifindex, g.ifname) == NULL)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                   "discovery group %s: no network interface with index %u",
                   group->group, g.ifindex);
      return FALSE;
    }
  *out = g;
  return TRUE;
}

gboolean
latch_discovery_set_opt (int fd, int level, int name, const void *value, socklen_t len,
         const char *what, GError **error)
{
  if (setsockopt (fd, level, name, value, len) < 0)
    {
      int saved = errno;
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_FAILED, "setsockopt %s: %s",
                   what, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

int
latch_discovery_open_udp_socket (int family, GError **error)
{
  int fd = socket (family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_FAILED, "socket: %s",
                   g_strerror (saved));
    }
  return fd;
}

/* Numeric host of sa; link-local IPv6 addresses carry "%iface" when sa has
 * a scope.  NULL when getnameinfo fails. */
char *
latch_discovery_numeric_host (const struct sockaddr *sa, socklen_t len)
{
  char host[NI_MAXHOST];

  if (getnameinfo (sa, len, host, sizeof host, NULL, 0, NI_NUMERICHOST) != 0)
    return NULL;
  return g_strdup (host);
}

/* "host:port" or "[host]:port", for log lines. */
char *
latch_discovery_sockaddr_label (const struct sockaddr *sa, socklen_t len)
{
  char host[NI_MAXHOST];
  char serv[NI_MAXSERV];

  if (getnameinfo (sa, len, host, sizeof host, serv, sizeof serv,
                   NI_NUMERICHOST | NI_NUMERICSERV)
      != 0)
    return g_strdup ("?");
  if (sa->sa_family == AF_INET6)
    return g_strdup_printf ("[%s]:%s", host, serv);
  return g_strdup_printf ("%s:%s", host, serv);
}

gboolean
latch_discovery_is_unspecified (const struct sockaddr *sa)
{
  if (sa->sa_family == AF_INET)
    return ((const struct sockaddr_in *) sa)->sin_addr.s_addr
           == htonl (INADDR_ANY);
  if (sa->sa_family == AF_INET6)
    return IN6_IS_ADDR_UNSPECIFIED (
        &((const struct sockaddr_in6 *) sa)->sin6_addr);
  return TRUE;
}

/* "IPv4", "IPv6 interface-local", "IPv6 link-local" or "IPv6", for
 * messages. */
static const char *
group_kind (const GroupAddr *g)
{
  const struct in6_addr *a6 = &((const struct sockaddr_in6 *) &g->addr)->sin6_addr;

  if (g->family == AF_INET)
    return "IPv4";
  if (IN6_IS_ADDR_MC_NODELOCAL (a6))
    return "IPv6 interface-local";
  if (IN6_IS_ADDR_MC_LINKLOCAL (a6))
    return "IPv6 link-local";
  return "IPv6";
}

/* The interface the kernel sends g by when none is given: its default
 * multicast interface for g, the one `ip route get GROUP` names (the
 * route lookup of sendto() and of a join on interface 0).  0 when there
 * is none, with *err_out set to the kernel's errno (ENETUNREACH: no
 * route). */
static unsigned
route_interface (const GroupAddr *g, int *err_out)
{
#ifdef __linux__
  struct
  {
    struct nlmsghdr nh;
    struct rtmsg rt;
    char attrs[RTA_SPACE (sizeof (struct in6_addr))];
  } req;
  union
  {
    struct nlmsghdr nh; /* aligns the buffer */
    char bytes[8192];
  } reply;
  struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
  g_auto (LatchFd) fd = -1;
  struct rtattr *rta;
  const void *dst;
  size_t dst_len;
  gint64 deadline;

  if (g->family == AF_INET)
    {
      dst = &((const struct sockaddr_in *) &g->addr)->sin_addr;
      dst_len = sizeof (struct in_addr);
    }
  else
    {
      dst = &((const struct sockaddr_in6 *) &g->addr)->sin6_addr;
      dst_len = sizeof (struct in6_addr);
    }
  memset (&req, 0, sizeof req);
  req.nh.nlmsg_len = NLMSG_LENGTH (sizeof req.rt);
  req.nh.nlmsg_type = RTM_GETROUTE;
  req.nh.nlmsg_flags = NLM_F_REQUEST;
  req.nh.nlmsg_seq = 1;
  req.rt.rtm_family = (unsigned char) g->family;
  req.rt.rtm_dst_len = (unsigned char) (dst_len * 8);
  rta = (struct rtattr *) ((char *) &req + NLMSG_ALIGN (req.nh.nlmsg_len));
  rta->rta_type = RTA_DST;
  rta->rta_len = RTA_LENGTH (dst_len);
  memcpy (RTA_DATA (rta), dst, dst_len);
  req.nh.nlmsg_len = NLMSG_ALIGN (req.nh.nlmsg_len) + RTA_ALIGN (rta->rta_len);

  fd = socket (AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0 || sendto (fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *) &kernel,
                        sizeof kernel) < 0)
    {
      *err_out = errno;
      return 0;
    }
  deadline = g_get_monotonic_time () + ROUTE_QUERY_MS * G_TIME_SPAN_MILLISECOND;
  for (;;)
    {
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      gint64 left = (deadline - g_get_monotonic_time ()) / G_TIME_SPAN_MILLISECOND;
      ssize_t n;
      int len;

      if (left <= 0 || poll (&pfd, 1, (int) left + 1) == 0)
        {
          *err_out = ETIMEDOUT;
          return 0;
        }
      n = recv (fd, &reply, sizeof reply, MSG_DONTWAIT);
      if (n < 0)
        {
          if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
            continue;
          *err_out = errno;
          return 0;
        }
      len = (int) n;
      /* NLMSG_OK (nh, len), without its signed/unsigned comparison. */
      for (struct nlmsghdr *nh = &reply.nh;
           len >= (int) sizeof *nh && nh->nlmsg_len >= sizeof *nh
           && nh->nlmsg_len <= (unsigned) len;
           nh = NLMSG_NEXT (nh, len))
        {
          const struct rtmsg *rt = NLMSG_DATA (nh);
          int attrs_len;

          if (nh->nlmsg_seq != req.nh.nlmsg_seq)
            continue;
          if (nh->nlmsg_type == NLMSG_ERROR)
            {
              const struct nlmsgerr *e = NLMSG_DATA (nh);

              *err_out = e->error < 0 ? -e->error : EPROTO;
              return 0;
            }
          if (nh->nlmsg_type != RTM_NEWROUTE)
            continue;
          attrs_len = (int) RTM_PAYLOAD (nh);
          for (const struct rtattr *a = RTM_RTA (rt); RTA_OK (a, attrs_len);
               a = RTA_NEXT (a, attrs_len))
            if (a->rta_type == RTA_OIF && RTA_PAYLOAD (a) >= sizeof (int))
              {
                int oif;

                memcpy (&oif, RTA_DATA (a), sizeof oif);
                if (oif > 0)
                  return (unsigned) oif;
              }
          *err_out = ENODEV;
          return 0;
        }
    }
#else
  (void) g;
  *err_out = ENOSYS;
  return 0;
#endif
}

char *
latch_discovery_explain_errno (const GroupAddr *g, int err)
{
  const char *family = g->family == AF_INET ? "IPv4" : "IPv6";
  char name[IF_NAMESIZE];
  unsigned oif;
  int why = 0;

  if (g->ifindex != 0)
    {
      if (err == EADDRNOTAVAIL)
        return g_strdup_printf (": interface %s has no %s address", g->ifname, family);
      if (err == ENETDOWN)
        return g_strdup_printf (": interface %s is down", g->ifname);
      return g_strdup ("");
    }
  switch (err)
    {
    case ENETUNREACH:
    case EHOSTUNREACH:
    case ENODEV:
      /* The kernel found no route for the group: no default interface. */
      return g_strdup_printf (": no multicast route for this %s group, so the kernel "
                              "has no default interface for it: give the interface "
                              "with -n IFACE, or add a multicast route",
                              group_kind (g));
    case EADDRNOTAVAIL:
      /* It has one, but no source address there. */
      oif = route_interface (g, &why);
      if (oif != 0 && if_indextoname (oif, name) != NULL)
        return g_strdup_printf (": the kernel's default interface for this %s group, %s, "
                                "has no %s address: give the interface with -n IFACE",
                                group_kind (g), name, family);
      return g_strdup_printf (": the kernel's default interface for this %s group has "
                              "no %s address: give the interface with -n IFACE",
                              group_kind (g), family);
    default:
      return g_strdup ("");
    }
}

/* ---- client ----------------------------------------------------------- */

/* Multicast options of the client socket: TTL / hop limit, loopback (a
 * daemon on this host must hear us), and the interface. */
static gboolean
setup_client_socket (int fd, const GroupAddr *g, int ttl, GError **error)
{
  int hops = CLAMP (ttl, 1, 255);

  if (g->family == AF_INET)
    {
      int loop = 1;

      if (!latch_discovery_set_opt (fd, IPPROTO_IP, IP_MULTICAST_TTL, &hops, sizeof hops,
                    "IP_MULTICAST_TTL", error)
          || !latch_discovery_set_opt (fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop,
                       "IP_MULTICAST_LOOP", error))
        return FALSE;
      if (g->ifindex != 0)
        {
          struct ip_mreqn mreqn = { 0 };

          mreqn.imr_ifindex = (int) g->ifindex;
          if (!latch_discovery_set_opt (fd, IPPROTO_IP, IP_MULTICAST_IF, &mreqn, sizeof mreqn,
                        "IP_MULTICAST_IF", error))
            return FALSE;
        }
    }
  else
    {
      unsigned loop = 1;

      if (!latch_discovery_set_opt (fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops,
                    "IPV6_MULTICAST_HOPS", error)
          || !latch_discovery_set_opt (fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &loop,
                       sizeof loop, "IPV6_MULTICAST_LOOP", error))
        return FALSE;
      if (g->ifindex != 0)
        {
          unsigned idx = g->ifindex;

          if (!latch_discovery_set_opt (fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx, sizeof idx,
                        "IPV6_MULTICAST_IF", error))
            return FALSE;
        }
    }
  return TRUE;
}

static gboolean
send_query (int fd, const GroupAddr *g, const GString *query, GError **error)
{
  g_autofree char *why = NULL;
  int saved;

  for (;;)
    {
      ssize_t n = sendto (fd, query->str, query->len, 0,
                          (const struct sockaddr *) &g->addr, g->len);

      saved = errno;
      if (n >= 0)
        return TRUE;
      if (saved == EINTR)
        continue;
      if (saved == EAGAIN || saved == EWOULDBLOCK || saved == ENOBUFS)
        return TRUE; /* lost like any datagram; the next attempt resends */
      break;
    }
  why = latch_discovery_explain_errno (g, saved);
  g_set_error (error, LATCH_ERROR, LATCH_ERROR_FAILED, "send: %s%s",
               g_strerror (saved), why);
  return FALSE;
}

/* The daemon's address from an answer and its datagram's source, or NULL
 * when the datagram is not a usable answer (logged at debug level). */
static char *
answer_address (const char *buf, gsize len, const struct sockaddr *src,
                socklen_t srclen, int *port_out)
{
  g_autoptr (LatchMsg) msg = NULL;
  g_autoptr (GError) error = NULL;
  char *address;

  if (len > LATCH_MSG_MAX_SIZE)
    {
      latch_log_debug (
          "discovery: ignoring an oversize datagram (%" G_GSIZE_FORMAT
          " bytes)",
          len);
      return NULL;
    }
  if (!latch_codec_lite_decode (buf, len, &msg, &error))
    {
      if (latch_log_is_debug ())
        {
          g_autofree char *from = latch_discovery_sockaddr_label (src, srclen);
          latch_log_debug ("discovery: ignoring a datagram from %s: %s", from,
                           error->message);
        }
      return NULL;
    }
  if (msg->kind != LATCH_MSG_DISCOVER_ANSWER || msg->port <= 0)
    {
      if (latch_log_is_debug ())
        {
          g_autofree char *from = latch_discovery_sockaddr_label (src, srclen);
          latch_log_debug ("discovery: ignoring a message from %s: verb %d "
                           "step %d%s",
                           from, msg->verb, msg->step,
                           msg->kind == LATCH_MSG_DISCOVER_ANSWER
                               ? ", port 0"
                               : ", not a discover answer");
        }
      return NULL;
    }

  if (msg->address[0] == '\0')
    address = latch_discovery_numeric_host (src, srclen);
  else
    {
      struct in6_addr a6;
      const struct sockaddr_in6 *src6 = (const struct sockaddr_in6 *) src;
      char ifname[IF_NAMESIZE];

      /* A link-local address means nothing without its interface: the
       * one the answer came in on. */
      if (src->sa_family == AF_INET6 && src6->sin6_scope_id != 0
          && inet_pton (AF_INET6, msg->address, &a6) == 1
          && IN6_IS_ADDR_LINKLOCAL (&a6)
          && if_indextoname (src6->sin6_scope_id, ifname) != NULL)
        address = g_strdup_printf ("%s%%%s", msg->address, ifname);
      else
        address = g_strdup (msg->address);
    }
  if (address != NULL)
    *port_out = msg->port;
  return address;
}

typedef enum
{
  WAIT_ANSWERED,
  WAIT_TIMED_OUT,
  WAIT_FAILED,
} WaitResult;

/* Reads datagrams until an answer or the deadline (monotonic, µs). */
static WaitResult
wait_answer (int fd, gint64 deadline, char **address_out, int *port_out,
             GError **error)
{
  char buf[LATCH_MSG_MAX_SIZE + 1];

  for (;;)
    {
      gint64 left = deadline - g_get_monotonic_time ();
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      int rc;

      if (left <= 0)
        return WAIT_TIMED_OUT;
      rc = poll (&pfd, 1, (int) ((left + 999) / 1000));
      if (rc < 0)
        {
          int saved = errno;
          if (saved == EINTR)
            continue;
          g_set_error (error, LATCH_ERROR, LATCH_ERROR_FAILED, "poll: %s",
                       g_strerror (saved));
          return WAIT_FAILED;
        }
      if (rc == 0)
        return WAIT_TIMED_OUT;

      for (;;)
        {
          struct sockaddr_storage src = { 0 };
          socklen_t srclen = sizeof src;
          ssize_t n = recvfrom (fd, buf, sizeof buf, 0,
                                (struct sockaddr *) &src, &srclen);
          char *address;

          if (n < 0)
            {
              int saved = errno;
              if (saved == EINTR)
                continue;
              if (saved == EAGAIN || saved == EWOULDBLOCK)
                break;
              g_set_error (error, LATCH_ERROR, LATCH_ERROR_FAILED,
                           "receive: %s", g_strerror (saved));
              return WAIT_FAILED;
            }
          address = answer_address (buf, (gsize) n, (struct sockaddr *) &src,
                                    srclen, port_out);
          if (address != NULL)
            {
              *address_out = address;
              return WAIT_ANSWERED;
            }
        }
    }
}

gboolean
latch_discovery_find (const LatchDiscoveryGroup *group, int attempts,
                      int timeout_ms, char **address_out, int *port_out,
                      GError **error)
{
  g_autofree char *label = NULL;
  g_autoptr (LatchMsg) query = NULL;
  g_autoptr (GString) bytes = NULL;
  g_auto (LatchFd) fd = -1;
  GroupAddr g;

  g_return_val_if_fail (group != NULL, FALSE);
  g_return_val_if_fail (attempts > 0, FALSE);
  g_return_val_if_fail (timeout_ms >= 0, FALSE);
  g_return_val_if_fail (address_out != NULL && port_out != NULL, FALSE);

  if (!latch_discovery_resolve_group (group, &g, error))
    return FALSE;
  label = latch_discovery_group_label (group);
  fd = latch_discovery_open_udp_socket (g.family, error);
  if (fd < 0 || !setup_client_socket (fd, &g, group->ttl, error))
    {
      g_prefix_error (error, "discovery on %s: ", label);
      return FALSE;
    }

  query = latch_msg_new (LATCH_MSG_DISCOVER, LATCH_STEP_REQUEST);
  bytes = g_string_new (NULL);
  latch_msg_encode (query, bytes);

  for (int i = 1; i <= attempts; i++)
    {
      gint64 deadline;
      char *address = NULL;
      int port = 0;

      latch_log_debug ("discovery: query %d/%d to %s", i, attempts, label);
      if (!send_query (fd, &g, bytes, error))
        {
          g_prefix_error (error, "discovery on %s: ", label);
          return FALSE;
        }
      deadline = g_get_monotonic_time ()
                 + (gint64) timeout_ms * G_TIME_SPAN_MILLISECOND;
      switch (wait_answer (fd, deadline, &address, &port, error))
        {
        case WAIT_ANSWERED:
          latch_log_debug ("discovery: daemon at %s port %d", address, port);
          *address_out = address;
          *port_out = port;
          return TRUE;
        case WAIT_FAILED:
          g_prefix_error (error, "discovery on %s: ", label);
          return FALSE;
        case WAIT_TIMED_OUT:
        default:
          break;
        }
    }
  g_set_error (error, LATCH_ERROR, LATCH_ERROR_NO_DAEMON,
               "no daemon answered on %s port %d after %d attempt%s of %d ms",
               group->group, group->port, attempts, attempts == 1 ? "" : "s",
               timeout_ms);
  return FALSE;
}

/* ---- local address ---------------------------------------------------- */

/* An address of interface g->ifname in g's family: for IPv6, link-local
 * for an interface- or link-local group, otherwise not link-local. */
static char *
interface_address (const GroupAddr *g, GError **error)
{
  struct ifaddrs *ifas = NULL;
  char *address = NULL;
  const char *what;

  if (getifaddrs (&ifas) < 0)
    {
      int saved = errno;
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_FAILED, "getifaddrs: %s",
                   g_strerror (saved));
      return NULL;
    }
  for (const struct ifaddrs *ifa = ifas; ifa != NULL && address == NULL;
       ifa = ifa->ifa_next)
    {
      struct sockaddr_in6 sin6;

      if (ifa->ifa_addr == NULL || ifa->ifa_addr->sa_family != g->family
          || strcmp (ifa->ifa_name, g->ifname) != 0)
        continue;
      if (g->family == AF_INET)
        {
          address = latch_discovery_numeric_host (ifa->ifa_addr, sizeof (struct sockaddr_in));
          continue;
        }
      memcpy (&sin6, ifa->ifa_addr, sizeof sin6);
      if (!IN6_IS_ADDR_LINKLOCAL (&sin6.sin6_addr) != !g->is_scoped)
        continue;
      if (IN6_IS_ADDR_LINKLOCAL (&sin6.sin6_addr))
        sin6.sin6_scope_id = g->ifindex;
      else
        sin6.sin6_scope_id = 0;
      address = latch_discovery_numeric_host ((struct sockaddr *) &sin6, sizeof sin6);
    }
  freeifaddrs (ifas);
  if (address != NULL)
    return address;

  if (g->family == AF_INET)
    what = "IPv4 address";
  else if (g->is_scoped)
    what = "IPv6 link-local address";
  else
    what = "IPv6 address other than a link-local one";
  g_set_error (error, LATCH_ERROR, LATCH_ERROR_FAILED, "interface %s has no %s",
               g->ifname, what);
  return NULL;
}

/* The source address the kernel picks for traffic to the group: connect()
 * on a UDP socket routes without sending anything.  An interface- or
 * link-local group cannot be connected to without an interface: it gets
 * the one the kernel sends it by (route_interface()), and the address
 * then carries that interface as its scope. */
static char *
route_address (const GroupAddr *g, GError **error)
{
  g_auto (LatchFd) fd = latch_discovery_open_udp_socket (g->family, error);
  struct sockaddr_storage to = g->addr;
  struct sockaddr_storage ss = { 0 };
  socklen_t len = sizeof ss;
  char *address;

  if (fd < 0)
    return NULL;
  if (g->is_scoped)
    {
      int saved = 0;
      unsigned oif = route_interface (g, &saved);

      if (oif == 0)
        {
          g_autofree char *why = latch_discovery_explain_errno (g, saved);

          g_set_error (error, LATCH_ERROR, LATCH_ERROR_FAILED,
                       "no interface for the group (%s)%s", g_strerror (saved),
                       why[0] != '\0' ? why : ": give -n IFACE");
          return NULL;
        }
      ((struct sockaddr_in6 *) &to)->sin6_scope_id = oif;
    }
  if (connect (fd, (const struct sockaddr *) &to, g->len) < 0)
    {
      int saved = errno;
      g_autofree char *why = latch_discovery_explain_errno (g, saved);

      g_set_error (error, LATCH_ERROR, LATCH_ERROR_FAILED, "cannot route to the group (%s)%s",
                   g_strerror (saved),
                   why[0] != '\0' ? why : ": add a multicast route or give -n IFACE");
      return NULL;
    }
  if (getsockname (fd, (struct sockaddr *) &ss, &len) < 0)
    {
      int saved = errno;
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_FAILED, "getsockname: %s",
                   g_strerror (saved));
      return NULL;
    }
  if (latch_discovery_is_unspecified ((struct sockaddr *) &ss))
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_FAILED,
                   "the route to the group gives no source address: give "
                   "-n IFACE, or an address to the route's interface");
      return NULL;
    }
  address = latch_discovery_numeric_host ((struct sockaddr *) &ss, len);
  if (address == NULL)
    g_set_error (error, LATCH_ERROR, LATCH_ERROR_FAILED,
                 "unprintable source address");
  return address;
}

char *
latch_discovery_local_address (const LatchDiscoveryGroup *group, GError **error)
{
  GroupAddr g;
  char *address;

  g_return_val_if_fail (group != NULL, NULL);

  if (!latch_discovery_resolve_group (group, &g, error))
    return NULL;
  if (g.ifindex != 0)
    address = interface_address (&g, error);
  else
    address = route_address (&g, error);
  if (address == NULL)
    {
      g_autofree char *label = latch_discovery_group_label (group);
      g_prefix_error (error, "local address for discovery on %s: ", label);
    }
  return address;
}
