/* upstream.h: the agent's transport to one upstream daemon.
 *
 * One upstream daemon as the agent sees it: a session (or, with a FLoM
 * upstream, one connection per lock), connected on demand, kept alive
 * with pings, re-established in the background with backoff after a
 * loss.  Main-loop driven, never blocks (but for getaddrinfo on a name).
 *
 * Session negotiation (doc/protocol.md, the session extension): the first
 * lock request on a new connection offers ext="1" and the session timeout;
 * every other request waits until its answer says ext="1" (a session: the
 * waiting requests go at once, pipelined, each with its id) or not (a FLoM
 * daemon: legacy mode, one connection per lock from then on).  At the
 * mutual level, or with check_peer_id, the upstream's announced ID is
 * checked against its certificate on that first answer.
 *
 * Liveness in a session: with session_timeout T > 0 a ping goes after T/4
 * ms without anything sent, and the upstream is declared dead after T ms
 * without any message from it.  Before the first answer, the connect, the
 * TLS handshake and the first answer each have LATCH_TLS_HANDSHAKE_MS.
 *
 * After a failure (a session lost, a connect or handshake that failed)
 * the transport is tried again in the background, 100 ms later, doubling
 * up to 5 s while it keeps failing; a request meanwhile connects at once.
 * A connection made in the background waits, connected and idle, for the
 * next request to carry the offer.
 *
 * Nothing is reported as granted that the upstream did not grant: an id is
 * answered only from the upstream's answers for it, and once down_cb ran
 * or the id was unlocked, nothing more comes for it.
 *
 * Callbacks: they may run from inside latch_upstream_lock() (down_cb
 * when the name does not resolve or the connect is refused at once;
 * answer_cb rc 7 for a FLoM upstream's lock in the same case); up_cb runs
 * when a session is up, and once when the upstream turned out to be a
 * FLoM daemon (latch_upstream_is_legacy()); a FLoM upstream's failures
 * are per lock (answer_cb rc 7 before its first answer, rc 8 after it),
 * never down_cb.
 *
 * Single-threaded: everything runs in the main loop's thread.  The
 * callbacks may call latch_upstream_lock() and latch_upstream_unlock(),
 * not latch_upstream_free(). */
#ifndef LATCH_AGENT_UPSTREAM_H
#define LATCH_AGENT_UPSTREAM_H

#include <glib.h>

#include "latch.h"
#include "locker/locker.h"
#include "tls/tls.h"

G_BEGIN_DECLS

/* One upstream daemon as the agent sees it: a session (or, with a FLoM
 * upstream, one connection per lock), connected on demand, kept alive
 * with pings, re-established in the background with backoff after a
 * loss.  Main-loop driven, never blocks. */
typedef struct _LatchUpstream LatchUpstream;

typedef struct
{
  const char *address;            /* host name or address (resolved with getaddrinfo, may block briefly) */
  int port;
  LatchSecurityLevel level;       /* CLEAR, CHANNEL or MUTUAL (resolved) */
  const LatchTlsModule *tls;      /* NULL at CLEAR */
  LatchTlsCreds *creds;           /* client role; NULL at CLEAR; borrowed */
  const char *own_id;             /* peerid to announce ("" at CLEAR) */
  gboolean check_peer_id;         /* compare the upstream's announced id with its certificate */
  int session_timeout;            /* ms, offered upstream; 0: no pings */
  int tcp_keepalive_time, tcp_keepalive_intvl, tcp_keepalive_probes;
} LatchUpstreamConfig;            /* strings copied by latch_upstream_new */

typedef struct
{
  /* An answer to lock request id: first (step 16) or later (24).  rc is
   * the wire rc (0 granted, 1 queued, 2 waiting for creation, refusals;
   * 8 after a grant: the lock was lost).  element/reason may be NULL. */
  void (*answer_cb) (LatchUpstream *up, guint64 id, gboolean first, int rc,
                     const char *element, gboolean has_fence, guint64 fence,
                     const char *reason, gpointer user_data);
  /* Every request and lock in flight or held is gone at once (session
   * lost, connect or handshake failed, peer id mismatch, timeout): reason
   * says why in one line ("the daemon at HOST port P: ...").  No
   * answer_cb follows for those ids. */
  void (*down_cb) (LatchUpstream *up, const GError *reason, gpointer user_data);
  /* A session is up (may be NULL). */
  void (*up_cb) (LatchUpstream *up, gpointer user_data);
} LatchUpstreamCallbacks;

LatchUpstream *latch_upstream_new (const LatchUpstreamConfig *config,
                                   const LatchUpstreamCallbacks *callbacks,
                                   gpointer user_data);
void latch_upstream_free (LatchUpstream *up);   /* closes: upstream releases everything */
/* Sends (or queues until the session is up, connecting if needed) a lock
 * request under id (caller-chosen, > 0, never reused). */
void latch_upstream_lock (LatchUpstream *up, guint64 id, const LatchLockReq *req);
/* Releases (held) or cancels (pending) id; nothing comes for id after. */
void latch_upstream_unlock (LatchUpstream *up, guint64 id, const char *name,
                            gboolean rollback);
gboolean latch_upstream_is_up (const LatchUpstream *up);
gboolean latch_upstream_is_legacy (const LatchUpstream *up); /* a FLoM upstream */
const char *latch_upstream_label (const LatchUpstream *up); /* "the daemon at HOST port P" */

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LatchUpstream, latch_upstream_free)

G_END_DECLS

#endif
