/* discovery-server.c: the daemon side of discovery (see discovery.h).
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
#include "net/conn.h"
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

/* Answers: ANSWER_RATE a second on average, ANSWER_BURST at once, and at
 * most SOURCE_SHARE of that rate to one source address (one answer every
 * SOURCE_INTERVAL_US, 100 ms), so that a host that floods the group can
 * never use up the answers every other host needs.  A client asks at
 * most once per discovery timeout (-I, 500 ms by default). */
#define ANSWER_RATE 50.0
#define ANSWER_BURST 50.0
#define SOURCE_SHARE 0.2
#define SOURCE_INTERVAL_US ((gint64) (G_TIME_SPAN_SECOND / (ANSWER_RATE * SOURCE_SHARE)))
/* Sources remembered for the per-source limit; older entries (past
 * SOURCE_INTERVAL_US) are pruned when the table reaches this size.  The
 * token bucket bounds how many can be younger. */
#define SOURCE_TABLE_PRUNE 64
/* Ignored datagrams: at most one log line per interval. */
#define IGNORED_LOG_INTERVAL_US G_TIME_SPAN_SECOND
/* Datagrams read per wake-up: the socket is drained until EAGAIN, but a
 * flood must not starve the daemon's other sources; the fd stays readable
 * and the loop comes back to it. */
#define MAX_DATAGRAMS_PER_WAKEUP 256

struct _LatchDiscoveryServer
{
  int fd;
  guint watch_id;
  char *label;     /* "GROUP port P" */
  GString *answer; /* the encoded 4/16, built once */
  guint n_answered;
  guint n_ignored;

  /* Token bucket for answers. */
  double tokens;
  gint64 tokens_time;
  /* Numeric source address (char *) -> time of its last answer (gint64 *). */
  GHashTable *last_answer;

  /* Rate limit of the "ignored" log lines. */
  gint64 log_time;
  guint n_unlogged;
};

/* ---- daemon ----------------------------------------------------------- */

/* Logs at info level, at most one line per IGNORED_LOG_INTERVAL_US (a
 * flood of junk must not flood the log too); the next line that goes out
 * says how many were left out. */
static void G_GNUC_PRINTF (2, 3)
    log_limited (LatchDiscoveryServer *server, const char *format, ...)
{
  gint64 now = g_get_monotonic_time ();
  g_autofree char *line = NULL;
  va_list ap;

  if (server->log_time != 0 && now - server->log_time < IGNORED_LOG_INTERVAL_US)
    {
      server->n_unlogged++;
      return;
    }
  va_start (ap, format);
  line = g_strdup_vprintf (format, ap);
  va_end (ap);
  if (server->n_unlogged > 0)
    latch_log_info ("discovery on %s: %s (and %u similar lines not logged)",
                    server->label, line, server->n_unlogged);
  else
    latch_log_info ("discovery on %s: %s", server->label, line);
  server->log_time = now;
  server->n_unlogged = 0;
}

/* Counts a datagram left unanswered and logs why. */
static void G_GNUC_PRINTF (4, 5)
    ignore (LatchDiscoveryServer *server, const struct sockaddr_storage *src,
            socklen_t srclen, const char *format, ...)
{
  g_autofree char *why = NULL;
  g_autofree char *from = NULL;
  va_list ap;

  server->n_ignored++;
  if (server->log_time != 0
      && g_get_monotonic_time () - server->log_time < IGNORED_LOG_INTERVAL_US)
    {
      server->n_unlogged++; /* spare the formatting */
      return;
    }
  va_start (ap, format);
  why = g_strdup_vprintf (format, ap);
  va_end (ap);
  from = latch_discovery_sockaddr_label ((const struct sockaddr *) src, srclen);
  log_limited (server, "ignored a datagram from %s: %s", from, why);
}

static gboolean
source_is_old_cb (gpointer key, gpointer value, gpointer user_data)
{
  const gint64 *when = value;
  const gint64 *now = user_data;

  (void) key;
  return *now - *when >= SOURCE_INTERVAL_US;
}

/* TRUE when an answer to host may go now (and accounts for it). */
static gboolean
may_answer (LatchDiscoveryServer *server, const char *host)
{
  gint64 now = g_get_monotonic_time ();
  gint64 *last = g_hash_table_lookup (server->last_answer, host);

  if (last != NULL && now - *last < SOURCE_INTERVAL_US)
    return FALSE;

  server->tokens += (double) (now - server->tokens_time) * ANSWER_RATE
                    / (double) G_TIME_SPAN_SECOND;
  server->tokens = MIN (server->tokens, ANSWER_BURST);
  server->tokens_time = now;
  if (server->tokens < 1.0)
    return FALSE;
  server->tokens -= 1.0;

  if (last == NULL)
    {
      if (g_hash_table_size (server->last_answer) >= SOURCE_TABLE_PRUNE)
        g_hash_table_foreach_remove (server->last_answer, source_is_old_cb,
                                     &now);
      last = g_new (gint64, 1);
      g_hash_table_insert (server->last_answer, g_strdup (host), last);
    }
  *last = now;
  return TRUE;
}

static void
handle_datagram (LatchDiscoveryServer *server, const char *buf, gsize len,
                 const struct sockaddr_storage *src, socklen_t srclen)
{
  g_autoptr (LatchMsg) msg = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *host = NULL;
  ssize_t n;

  if (len > LATCH_MSG_MAX_SIZE)
    {
      ignore (server, src, srclen,
              "oversize datagram (%" G_GSIZE_FORMAT " bytes, at most %d)", len,
              LATCH_MSG_MAX_SIZE);
      return;
    }
  if (!latch_codec_decode (buf, len, &msg, &error))
    {
      ignore (server, src, srclen, "%s", error->message);
      return;
    }
  if (msg->kind != LATCH_MSG_DISCOVER)
    {
      ignore (server, src, srclen, "not a discover query (verb %d step %d)",
              msg->verb, msg->step);
      return;
    }
  /* Never answer to a group or to nowhere: a forged source must not make
   * the answer a multicast. */
  if (latch_discovery_is_multicast ((const struct sockaddr *) src)
      || latch_discovery_is_unspecified ((const struct sockaddr *) src))
    {
      ignore (server, src, srclen, "bogus source address");
      return;
    }
  host = latch_discovery_numeric_host ((const struct sockaddr *) src, srclen);
  if (host == NULL)
    {
      ignore (server, src, srclen, "unprintable source address");
      return;
    }
  if (!may_answer (server, host))
    {
      ignore (server, src, srclen, "answer rate limit reached");
      return;
    }
  do
    n = sendto (server->fd, server->answer->str, server->answer->len, 0,
                (const struct sockaddr *) src, srclen);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    {
      int saved = errno;
      ignore (server, src, srclen, "answer not sent: %s", g_strerror (saved));
      return;
    }
  server->n_answered++;
  if (latch_log_is_debug ())
    {
      g_autofree char *from
          = latch_discovery_sockaddr_label ((const struct sockaddr *) src, srclen);
      latch_log_debug ("discovery on %s: answered %s", server->label, from);
    }
}

static gboolean
server_readable_cb (int fd, GIOCondition condition, gpointer user_data)
{
  LatchDiscoveryServer *server = user_data;
  char buf[LATCH_MSG_MAX_SIZE + 1];

  if (condition & G_IO_ERR)
    {
      /* A pending socket error (e.g. from an ICMP message) would keep the
       * fd signalled: fetch it, which clears it. */
      int soerr = 0;
      socklen_t len = sizeof soerr;

      if (getsockopt (fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0
          && soerr != 0)
        latch_log_debug ("discovery on %s: socket error: %s", server->label,
                         g_strerror (soerr));
    }

  for (int i = 0; i < MAX_DATAGRAMS_PER_WAKEUP; i++)
    {
      struct sockaddr_storage src = { 0 };
      socklen_t srclen = sizeof src;
      ssize_t n;

      /* MSG_TRUNC: the datagram's real length, so an oversize one is
       * reported as such (Linux; elsewhere n is at most sizeof buf, which
       * is still over the limit). */
      n = recvfrom (fd, buf, sizeof buf, MSG_TRUNC, (struct sockaddr *) &src,
                    &srclen);
      if (n < 0)
        {
          int saved = errno;

          if (saved == EINTR)
            continue;
          if (saved != EAGAIN && saved != EWOULDBLOCK)
            {
              int soerr = 0;
              socklen_t len = sizeof soerr;

              /* Never fatal: log (rate-limited like ignored datagrams),
               * clear the error, and wait for the next datagram. */
              log_limited (server, "receive: %s", g_strerror (saved));
              getsockopt (fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
            }
          break;
        }
      handle_datagram (server, buf, (gsize) n, &src, srclen);
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
join_failed (const GroupAddr *g, GError **error)
{
  int saved = errno;
  /* Without an interface the kernel picks one by routing to the group:
   * ENODEV means no route. */
  g_autofree char *why = latch_discovery_explain_errno (g, saved);

  g_set_error (error, LATCH_ERROR, LATCH_ERROR_FAILED, "join the group: %s%s",
               g_strerror (saved), why);
  return FALSE;
}

static gboolean
join_group (int fd, const GroupAddr *g, GError **error)
{
  if (g->family == AF_INET)
    {
      struct ip_mreqn mreqn = { 0 };
      int loop = 1;
#ifdef IP_MULTICAST_ALL
      int all = 0;
#endif

      mreqn.imr_multiaddr = ((const struct sockaddr_in *) &g->addr)->sin_addr;
      mreqn.imr_address.s_addr = htonl (INADDR_ANY);
      mreqn.imr_ifindex = (int) g->ifindex;
      if (setsockopt (fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreqn, sizeof mreqn)
          < 0)
        return join_failed (g, error);
      if (!latch_discovery_set_opt (fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop,
                    "IP_MULTICAST_LOOP", error))
        return FALSE;
#ifdef IP_MULTICAST_ALL
      /* Only this group: by default Linux also delivers datagrams sent to
       * this port for groups other sockets joined. */
      (void) setsockopt (fd, IPPROTO_IP, IP_MULTICAST_ALL, &all, sizeof all);
#endif
    }
  else
    {
      struct ipv6_mreq mreq = { 0 };
      unsigned loop = 1;
#ifdef IPV6_MULTICAST_ALL
      int all = 0;
#endif

      mreq.ipv6mr_multiaddr
          = ((const struct sockaddr_in6 *) &g->addr)->sin6_addr;
      mreq.ipv6mr_interface = g->ifindex;
      if (setsockopt (fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &mreq, sizeof mreq)
          < 0)
        return join_failed (g, error);
      if (!latch_discovery_set_opt (fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &loop, sizeof loop,
                    "IPV6_MULTICAST_LOOP", error))
        return FALSE;
#ifdef IPV6_MULTICAST_ALL
      (void) setsockopt (fd, IPPROTO_IPV6, IPV6_MULTICAST_ALL, &all,
                         sizeof all);
#endif
    }
  return TRUE;
}

static gboolean
bind_wildcard (int fd, const GroupAddr *g, int port, GError **error)
{
  struct sockaddr_storage ss = { 0 };
  socklen_t len;
  int on = 1;

  if (!latch_discovery_set_opt (fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on, "SO_REUSEADDR",
                error))
    return FALSE;
  if (g->family == AF_INET)
    {
      struct sockaddr_in *sin = (struct sockaddr_in *) &ss;

      sin->sin_family = AF_INET;
      sin->sin_addr.s_addr = htonl (INADDR_ANY);
      sin->sin_port = htons (port);
      len = sizeof *sin;
    }
  else
    {
      struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &ss;

      /* IPv6 only: IPv4 discovery is another server's business. */
      if (!latch_discovery_set_opt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on,
                    "IPV6_V6ONLY", error))
        return FALSE;
      sin6->sin6_family = AF_INET6;
      sin6->sin6_addr = in6addr_any;
      sin6->sin6_port = htons (port);
      len = sizeof *sin6;
    }
  if (bind (fd, (struct sockaddr *) &ss, len) < 0)
    {
      int saved = errno;
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_FAILED, "bind port %d: %s",
                   port, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

LatchDiscoveryServer *
latch_discovery_server_new (const LatchDiscoveryGroup *group,
                            const char *answer_address, int answer_port,
                            GError **error)
{
  g_autofree char *label = NULL;
  g_auto (LatchFd) fd = -1;
  GroupAddr g;

  g_return_val_if_fail (group != NULL, NULL);
  g_return_val_if_fail (answer_port > 0 && answer_port <= 65535, NULL);

  if (!latch_discovery_resolve_group (group, &g, error))
    return NULL;
  label = latch_discovery_group_label (group);
  fd = latch_discovery_open_udp_socket (g.family, error);
  if (fd < 0 || !bind_wildcard (fd, &g, group->port, error)
      || !join_group (fd, &g, error))
    {
      g_prefix_error (error, "discovery on %s: ", label);
      return NULL;
    }

  return latch_discovery_server_new_for_fd (latch_steal_fd (&fd), label,
                                            answer_address, answer_port);
}

/* The part of latch_discovery_server_new() after the socket is ready; the
 * fuzz target (tests/fuzz/fuzz-discovery.c) gives it a socket of its
 * own. */
LatchDiscoveryServer *
latch_discovery_server_new_for_fd (int fd, const char *label,
                                   const char *answer_address, int answer_port)
{
  g_autoptr (LatchMsg) answer = NULL;
  LatchDiscoveryServer *server;

  g_return_val_if_fail (fd >= 0 && label != NULL, NULL);
  g_return_val_if_fail (answer_port > 0 && answer_port <= 65535, NULL);

  answer = latch_msg_new (LATCH_MSG_DISCOVER_ANSWER, LATCH_STEP_FIRST_ANSWER);
  answer->address = g_strdup (answer_address != NULL ? answer_address : "");
  answer->port = answer_port;

  server = g_new0 (LatchDiscoveryServer, 1);
  server->fd = fd;
  server->label = g_strdup (label);
  server->answer = g_string_new (NULL);
  latch_msg_encode (answer, server->answer);
  server->tokens = ANSWER_BURST;
  server->tokens_time = g_get_monotonic_time ();
  server->last_answer
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  server->watch_id
      = latch_fd_watch_add (server->fd, G_IO_IN, server_readable_cb, server);
  latch_log_info ("discovery on %s: answering with address \"%s\" port %d",
                  server->label, answer->address, answer_port);
  return server;
}

/* handle_datagram() from outside: the fuzz target's way in, with a
 * source address of its choosing. */
void
latch_discovery_server_handle_datagram (LatchDiscoveryServer *server,
                                        const char *buf, gsize len,
                                        const struct sockaddr_storage *src,
                                        socklen_t srclen)
{
  g_return_if_fail (server != NULL && (buf != NULL || len == 0));
  g_return_if_fail (src != NULL && srclen <= sizeof *src);

  handle_datagram (server, buf, len, src, srclen);
}

void
latch_discovery_server_free (LatchDiscoveryServer *server)
{
  if (server == NULL)
    return;
  latch_log_debug ("discovery on %s: stopped (%u answered, %u ignored)",
                   server->label, server->n_answered, server->n_ignored);
  g_clear_handle_id (&server->watch_id, g_source_remove);
  if (server->fd >= 0)
    close (server->fd);
  g_string_free (server->answer, TRUE);
  g_hash_table_unref (server->last_answer);
  g_free (server->label);
  g_free (server);
}

guint
latch_discovery_server_n_answered (const LatchDiscoveryServer *server)
{
  g_return_val_if_fail (server != NULL, 0);
  return server->n_answered;
}

guint
latch_discovery_server_n_ignored (const LatchDiscoveryServer *server)
{
  g_return_val_if_fail (server != NULL, 0);
  return server->n_ignored;
}

