#include "config.h"

#include "net/tcp.h"

#include "common/autocleanup.h"
#include "common/error.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

static struct addrinfo *
resolve (const char *host, int port, const char *iface, gboolean passive,
         GError **error)
{
  struct addrinfo hints = { 0 };
  struct addrinfo *res = NULL;
  char service[16];
  unsigned scope = 0;
  int rc;

  if (iface != NULL)
    {
      scope = if_nametoindex (iface);
      if (scope == 0)
        {
          g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                       "network interface '%s' does not exist", iface);
          return NULL;
        }
    }
  hints.ai_family = iface != NULL ? AF_INET6 : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : AI_ADDRCONFIG;
  g_snprintf (service, sizeof service, "%d", port);
  rc = getaddrinfo (host, service, &hints, &res);
  if (rc != 0)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_CONNECT, "cannot resolve '%s': %s",
                   host, gai_strerror (rc));
      return NULL;
    }
  for (struct addrinfo *ai = res; ai != NULL && scope != 0; ai = ai->ai_next)
    {
      struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ai->ai_addr;

      if (ai->ai_family == AF_INET6 && IN6_IS_ADDR_LINKLOCAL (&sin6->sin6_addr)
          && sin6->sin6_scope_id == 0)
        sin6->sin6_scope_id = scope;
    }
  return res;
}

static gboolean
is_v4mapped (const struct addrinfo *ai)
{
  return ai->ai_family == AF_INET6
         && IN6_IS_ADDR_V4MAPPED (&((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr);
}

/* An IPv6 socket is IPv6-only, except for an IPv4-mapped address
 * (::ffff:192.0.2.1), which is IPv4 traffic through an IPv6 socket: bound
 * there with IPV6_V6ONLY set, bind() fails with EINVAL.  FLoM listens and
 * connects there (Linux's default, net.ipv6.bindv6only=0); so do we,
 * whatever that default. */
static void
set_v6only (int fd, const struct addrinfo *ai)
{
  int v6only = !is_v4mapped (ai);

  if (ai->ai_family == AF_INET6)
    setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
}

void
latch_tcp_set_keepalive (int fd, const LatchKeepalive *ka)
{
  int on = 1;

  setsockopt (fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  setsockopt (fd, IPPROTO_TCP, TCP_KEEPIDLE, &ka->time_s, sizeof ka->time_s);
  setsockopt (fd, IPPROTO_TCP, TCP_KEEPINTVL, &ka->intvl_s, sizeof ka->intvl_s);
  setsockopt (fd, IPPROTO_TCP, TCP_KEEPCNT, &ka->probes, sizeof ka->probes);
}

char *
latch_sockaddr_to_string (const struct sockaddr *sa, socklen_t len)
{
  char host[NI_MAXHOST], serv[NI_MAXSERV];

  if (getnameinfo (sa, len, host, sizeof host, serv, sizeof serv,
                   NI_NUMERICHOST | NI_NUMERICSERV) != 0)
    return g_strdup ("?");
  if (sa->sa_family == AF_INET6)
    return g_strdup_printf ("[%s]:%s", host, serv);
  return g_strdup_printf ("%s:%s", host, serv);
}

/* connect() bounded by timeout_ms (-1: unbounded).  0 or an errno. */
static int
connect_within (int fd, const struct sockaddr *addr, socklen_t len, int timeout_ms)
{
  int flags = fcntl (fd, F_GETFL);
  int err = 0;
  socklen_t err_len = sizeof err;
  int rc;

  fcntl (fd, F_SETFL, flags | O_NONBLOCK);
  rc = connect (fd, addr, len);
  if (rc != 0 && errno != EINPROGRESS && errno != EINTR)
    return errno;
  if (rc != 0)
    {
      struct pollfd pfd = { .fd = fd, .events = POLLOUT };

      do
        rc = poll (&pfd, 1, timeout_ms);
      while (rc < 0 && errno == EINTR);
      if (rc == 0)
        return ETIMEDOUT;
      if (rc < 0)
        return errno;
      if (getsockopt (fd, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0)
        return errno;
      if (err != 0)
        return err;
    }
  fcntl (fd, F_SETFL, flags);
  return 0;
}

LatchTcpResult
latch_tcp_connect (const char *host, int port, const char *iface,
                   const LatchKeepalive *keepalive, int timeout_ms, int *fd_out,
                   GError **error)
{
  struct addrinfo *res = resolve (host, port, iface, FALSE, error);
  int last_errno = ECONNREFUSED;
  gboolean all_refused = TRUE;

  if (res == NULL)
    return LATCH_TCP_FAILED;
  for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next)
    {
      g_auto (LatchFd) fd = socket (ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
      int on = 1;
      int err;

      if (fd < 0)
        {
          last_errno = errno;
          all_refused = FALSE;
          continue;
        }
      if (is_v4mapped (ai))
        set_v6only (fd, ai);
      err = connect_within (fd, ai->ai_addr, ai->ai_addrlen, timeout_ms);
      if (err != 0)
        {
          last_errno = err;
          if (last_errno != ECONNREFUSED)
            all_refused = FALSE;
          continue;
        }
      setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
      if (keepalive != NULL)
        latch_tcp_set_keepalive (fd, keepalive);
      *fd_out = latch_steal_fd (&fd);
      freeaddrinfo (res);
      return LATCH_TCP_OK;
    }
  freeaddrinfo (res);
  if (all_refused)
    return LATCH_TCP_REFUSED;
  g_set_error (error, LATCH_ERROR, LATCH_ERROR_CONNECT, "cannot connect to %s port %d: %s",
               host, port, g_strerror (last_errno));
  return LATCH_TCP_FAILED;
}

LatchTcpResult
latch_tcp_listen (const char *host, int port, const char *iface, int *fd_out,
                  int *port_out, GError **error)
{
  struct addrinfo *res = resolve (host, port, iface, TRUE, error);
  LatchTcpResult result = LATCH_TCP_FAILED;
  int last_errno = EADDRNOTAVAIL;

  if (res == NULL)
    return LATCH_TCP_FAILED;
  for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next)
    {
      g_auto (LatchFd) fd = socket (ai->ai_family,
                                    SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      struct sockaddr_storage bound;
      socklen_t bound_len = sizeof bound;
      int on = 1;

      if (fd < 0)
        {
          last_errno = errno;
          continue;
        }
      setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
      set_v6only (fd, ai);
      if (bind (fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen (fd, LATCH_LISTEN_BACKLOG) != 0)
        {
          last_errno = errno;
          continue;
        }
      if (getsockname (fd, (struct sockaddr *)&bound, &bound_len) == 0)
        *port_out = ntohs (bound.ss_family == AF_INET6
                               ? ((struct sockaddr_in6 *)&bound)->sin6_port
                               : ((struct sockaddr_in *)&bound)->sin_port);
      else
        *port_out = port;
      *fd_out = latch_steal_fd (&fd);
      freeaddrinfo (res);
      return LATCH_TCP_OK;
    }
  freeaddrinfo (res);
  if (last_errno == EADDRINUSE)
    result = LATCH_TCP_REFUSED;
  else if (last_errno == EADDRNOTAVAIL)
    result = LATCH_TCP_NOT_LOCAL;
  if (result == LATCH_TCP_NOT_LOCAL)
    g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                 "%s is not a local address: no daemon can be started here for it "
                 "(start one on that host: latch -a %s -p %d -d -1 -- true)",
                 host, host, port);
  else
    g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START,
                 "cannot listen on %s port %d: %s", host, port, g_strerror (last_errno));
  return result;
}
