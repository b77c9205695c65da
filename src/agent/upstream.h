/* upstream.h: one upstream daemon as the local agent sees it (the issue
 * 14 contract, section 4; implemented in upstream.c).
 *
 * A session (or, with a FLoM upstream, one connection per lock),
 * connected on demand, kept alive with pings, re-established in the
 * background with backoff after a loss.  Main-loop driven, never
 * blocks. */
#ifndef LATCH_AGENT_UPSTREAM_H
#define LATCH_AGENT_UPSTREAM_H

#include <glib.h>

#include "locker/locker.h"
#include "tls/tls.h"

G_BEGIN_DECLS

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

G_END_DECLS

#endif
