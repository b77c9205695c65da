/* client-private.h: what the parts of liblatch share (not installed,
 * not exported): the handle and the calls one part makes into another.
 * client.c says which part does what. */
#ifndef LATCH_CLIENT_CLIENT_PRIVATE_H
#define LATCH_CLIENT_CLIENT_PRIVATE_H

#include <glib.h>

#include "latch.h"
#include "locker/rsrc-name.h"
#include "net/sockdir.h"
#include "proto/framer.h"
#include "proto/msg.h"
#include "settings/settings.h"
#include "tls/tls.h"

#include <stdarg.h>
#include <sys/types.h>

G_BEGIN_DECLS

/* The connection that a handle and the handles made from it with
 * latch_handle_new_shared () share (client-lock.c).  Once the daemon has
 * accepted the session extension (ext="1" in its first answer) the
 * connection outlives locks: every lock of every sharing handle is one id
 * on it.  A connection the daemon answered without ext (a FLoM daemon)
 * carries one lock only: it is not kept here but in the handle whose lock
 * it carries (LatchHandle.fd), and closed at the unlock as always. */
typedef struct
{
  GPtrArray *handles;           /* the sharing handles (transfer none) */
  int fd;                       /* -1: no session open */
  LatchTlsSession *tls_session; /* at TLS levels */
  const LatchTlsModule *tls;
  /* Answers to pipelined requests may arrive back to back: bytes past
   * one message belong to the next, so the framer lives as long as the
   * connection. */
  LatchFramer *framer;
  guint64 last_id;              /* ids are never reused on a connection */
  char *key;                    /* where and how it was opened (client-lock.c) */
  pid_t pid;                    /* the process that opened it (fork rules, latch.h) */
} LatchClientSession;

struct LatchHandle
{
  /* The settings: the same struct the latch command, latchd and the
   * configuration files fill in (settings/settings.h); the setters
   * write into it.  TLS paths are absolute. */
  LatchConfig *config;
  LatchRsrcType resource_type;  /* of config->resource_name */
  LatchWaitFunc wait_func;
  void *wait_data;
  gint64 connect_deadline;  /* of the latch_client_connect_daemon () under way; -1: none */

  /* state */
  LatchSockPath path;
  LatchSecurityLevel level;   /* resolved by latch_client_prepare_security () */
  const LatchTlsModule *tls;  /* loaded when a TLS level is first used */
  LatchTlsCreds *creds;       /* loaded once; dropped when a TLS setting changes */
  LatchTlsSession *session;   /* of the connection, at TLS levels */
  const char *own_id;         /* the machine ID announced at TLS levels; NULL: none */
  GPtrArray *warnings;        /* from loading the credentials, not yet reported */
  char *warning_text;         /* latch_get_warnings (): of the last lock or shutdown */
  guint n_bare_closes;        /* closes before any answer, without a word, in a row */
  gsize request_len;          /* bytes of the last lock request */
  /* The handle's own connection: the one being opened and negotiated,
   * a legacy connection carrying its lock, a shutdown request's.  While
   * the handle talks over the shared session, fd and session are that
   * session's, for the duration of the call only (client-lock.c). */
  int fd;
  pid_t conn_pid;             /* the process that opened fd */
  gboolean locked;            /* held, or lost and not yet unlocked */
  char *element;
  guint64 fence;
  char *error;

  /* Sessions (client-lock.c) */
  LatchClientSession *shared; /* never NULL */
  guint64 id;                 /* of the request under way or the lock held on the session; 0: none */
  gboolean on_session;        /* the lock (or request) is on shared, not on fd */
  gboolean lost;              /* the held lock is gone; error says why */
  GQueue inbox;               /* answers to id read during another handle's call */
};

/* ---- the error text of the last call -------------------------------- */

/* Sets the handle's error text and returns rc.  (Small: a copy in each
 * part rather than a name in the library's symbol table.) */
static inline int G_GNUC_PRINTF (3, 4)
fail (LatchHandle *h, int rc, const char *format, ...)
{
  va_list ap;

  g_free (h->error);
  va_start (ap, format);
  h->error = g_strdup_vprintf (format, ap);
  va_end (ap);
  return rc;
}

static inline int
fail_gerror (LatchHandle *h, int rc, const GError *error)
{
  return fail (h, rc, "%s", error->message);
}

/* Clears the error text; returns LATCH_RC_OK. */
static inline int
succeed (LatchHandle *h)
{
  h->error[0] = '\0';
  return LATCH_RC_OK;
}

/* ---- client-lock.c: the shared connection ------------------------- */

LatchClientSession *latch_client_session_new (void);
/* h shares s from now on. */
void latch_client_session_attach (LatchClientSession *s, LatchHandle *h);
/* h no longer shares its session; the last handle out closes it (in a
 * forked child, without a word to the daemon) and frees it. */
void latch_client_session_detach (LatchHandle *h);
/* Is the connection (own or shared) that h's lock is on one this process
 * opened?  FALSE in a forked child. */
gboolean latch_client_is_own_process (const LatchHandle *h);

/* ---- client-tls.c --------------------------------------------------- */

/* Resolves the level; at a TLS level, loads the module and the
 * credentials (once).  LATCH_RC_OK or the failure (error text set). */
int latch_client_prepare_security (LatchHandle *h);
/* The credentials' warnings, with the outcome rc of an operation; returns rc. */
int latch_client_report_warnings (LatchHandle *h, int rc);
/* The TLS handshake on the connected h->fd; *retry: closed without an
 * alert, try again. */
int latch_client_start_tls (LatchHandle *h, const char *label, gboolean *retry);
gboolean latch_client_is_tls_refusal (const GError *error);
/* At the mutual level: does the daemon's announced ID match its certificate? */
gboolean latch_client_daemon_id_matches (LatchHandle *h, const LatchMsg *answer,
                                         GError **error);

/* ---- client-connect.c ----------------------------------------------- */

gint64 latch_client_now_ms (void);
/* Milliseconds left until deadline (-1: none) for poll(). */
int latch_client_ms_left (gint64 deadline);
/* Where the daemon is, in words (transfer full). */
char *latch_client_endpoint_label (const LatchHandle *h);
/* The daemon closed twice in a row before any answer, without a word:
 * the likely reasons, as the handle's error. */
int latch_client_bare_close_failure (LatchHandle *h, gboolean in_handshake);
/* Waits until fd is ready as want says; LATCH_ERROR_TIMEOUT at deadline. */
gboolean latch_client_wait_ready (int fd, LatchTlsStatus want, gint64 deadline,
                                  GError **error);
void latch_client_pause_before_retry (guint attempt, gint64 deadline);
/* Connects to the daemon (TLS included), starting one when none answers
 * and may_start; keeps trying until deadline (-1: forever). */
int latch_client_connect_daemon (LatchHandle *h, gint64 deadline, gboolean may_start);
/* Closes the connection (and its TLS session), if any. */
void latch_client_disconnect (LatchHandle *h);
gboolean latch_client_send_all (LatchHandle *h, const char *data, gsize len, GError **error);
gboolean latch_client_send_msg (LatchHandle *h, const LatchMsg *msg, GError **error);
/* The next message, waiting until deadline (-1: forever). */
LatchMsg *latch_client_read_msg (LatchHandle *h, LatchFramer *framer, gint64 deadline,
                                 GError **error);
/* Waits (bounded) for the daemon's end of the connection, then closes it. */
void latch_client_close_and_drain (LatchHandle *h, gboolean daemon_closes_first);

G_END_DECLS

#endif
