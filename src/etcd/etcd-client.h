/* etcd-client.h: an etcd v3 client, the module latch-etcd.so.
 *
 * latchd keeps its lock table in an etcd cluster when EtcdEndpoints is
 * set (table/table-etcd.c).  It reaches etcd through etcd's JSON gateway
 * (the v3 API over HTTP/1.1: POST /v3/kv/txn, /v3/lease/grant,
 * /v3/lease/keepalive, /v3/kv/lease/revoke (etcd 3.4's path), /v3/watch),
 * with libsoup 3 and json-glib.  Those bring a dozen shared objects that a daemon without
 * etcd must not load (doc/ARCHITECTURE.md, "cold start"), so this client
 * is a module: latchd dlopen()s latch-etcd.so when a table on etcd is
 * configured, and reaches it through the table LatchEtcdModule.  Nothing
 * of libsoup or json-glib crosses this header: keys and values are bytes,
 * revisions and lease ids numbers.
 *
 * Found as the other companions are (common/companion.h): $LATCH_ETCD_MODULE,
 * then .libs/latch-etcd.so in a build tree, then LATCH_ETCD_MODULE_PATH.
 *
 * Everything runs in the thread-default main context of the thread that
 * made the client (latchd's main loop); callbacks come from it, never from
 * inside the call that started the operation.
 *
 * Endpoints.  The client talks to one endpoint at a time, the first that
 * answers, in the order given.  When a request to it fails at the
 * transport (refused, reset, timed out, TLS failure), the client moves on
 * to the next endpoint (round robin) for later requests and says so in
 * the error; it does not resend the failed request itself (a txn may have
 * been applied before the connection broke): the caller decides.
 *
 * TLS.  With https:// endpoints, the etcd members' certificates are
 * verified against ca_file (and crl_file when set) inside the handshake,
 * host name or IP address included (the endpoint's host must be in the
 * member certificate's subjectAltName); cert_file/key_file are presented
 * when a member asks for a client certificate.  With TLS files configured
 * the client refuses a member that does not ask for one (etcd started
 * without --client-cert-auth would admit anybody).
 *
 * Errors are one line that names the endpoint and, where we can tell, the
 * fix, e.g.
 *   "etcd at https://127.0.0.1:2379: connection refused (is etcd running
 *    there? check EtcdEndpoints)"
 *   "etcd at https://127.0.0.1:2379: its certificate is not signed by the
 *    CA in /etc/latch/ca.pem (...)"
 *   "etcd at https://127.0.0.1:2379 does not ask for a client
 *    certificate: start it with --client-cert-auth and
 *    --trusted-ca-file=/etc/latch/ca.pem"
 * in LATCH_ETCD_ERROR with the codes below. */
#ifndef LATCH_ETCD_ETCD_CLIENT_H
#define LATCH_ETCD_ETCD_CLIENT_H

#include <glib.h>

G_BEGIN_DECLS

/* Changes whenever the table or a struct here does. */
#define LATCH_ETCD_MODULE_ABI 1

#define LATCH_ETCD_ERROR (latch_etcd_error_quark ())
GQuark latch_etcd_error_quark (void);

typedef enum
{
  LATCH_ETCD_ERROR_CONFIG,      /* a bad endpoint or TLS file (no request made) */
  LATCH_ETCD_ERROR_UNREACHABLE, /* refused, reset, timed out, name not resolved */
  LATCH_ETCD_ERROR_TLS,         /* handshake or verification failed either way */
  LATCH_ETCD_ERROR_PROTOCOL,    /* an answer that is not the gateway's JSON */
  LATCH_ETCD_ERROR_SERVER,      /* etcd answered with an error ("code", "message") */
  LATCH_ETCD_ERROR_LEASE_GONE,  /* keepalive: the lease does not exist (expired, revoked) */
  LATCH_ETCD_ERROR_COMPACTED,   /* watch: the start revision was compacted */
  LATCH_ETCD_ERROR_CANCELLED,   /* the client was freed or the watch stopped */
} LatchEtcdErrorCode;

typedef struct _LatchEtcd LatchEtcd;
typedef struct _LatchEtcdWatch LatchEtcdWatch;

typedef struct
{
  const char *const *endpoints; /* NULL-terminated "http(s)://HOST:PORT"; >= 1 */
  const char *cert_file;        /* PEM: own certificate (chain); NULL: none */
  const char *key_file;         /* PEM: its key; NULL: none */
  const char *ca_file;          /* PEM: trust anchors for https; NULL: none */
  const char *crl_file;         /* PEM CRL(s); NULL: none */
  const char *priority;         /* GnuTLS priority string for https; NULL: default */
  int timeout_ms;               /* per request (connect + answer); watches: connect only */
} LatchEtcdConfig;

/* A key-value pair as etcd gives it (a range, a watch event). */
typedef struct
{
  GBytes *key;
  GBytes *value;          /* NULL in a DELETE event's kv */
  gint64 create_revision;
  gint64 mod_revision;
  gint64 version;
  gint64 lease;           /* 0: none */
} LatchEtcdKv;

typedef enum
{
  LATCH_ETCD_OP_RANGE,
  LATCH_ETCD_OP_PUT,
  LATCH_ETCD_OP_DELETE,
} LatchEtcdOpType;

typedef struct
{
  LatchEtcdOpType type;
  GBytes *key;
  GBytes *range_end;      /* RANGE, DELETE: NULL for the one key */
  GBytes *value;          /* PUT */
  gint64 lease;           /* PUT: 0 for none */
  gboolean keys_only;     /* RANGE */
} LatchEtcdOp;

typedef enum
{
  LATCH_ETCD_TARGET_CREATE,
  LATCH_ETCD_TARGET_MOD,
  LATCH_ETCD_TARGET_VERSION,
  LATCH_ETCD_TARGET_VALUE,
} LatchEtcdTarget;

typedef enum
{
  LATCH_ETCD_EQUAL,
  LATCH_ETCD_GREATER,
  LATCH_ETCD_LESS,
  LATCH_ETCD_NOT_EQUAL,
} LatchEtcdResult;

typedef struct
{
  LatchEtcdTarget target;
  LatchEtcdResult result;
  GBytes *key;
  GBytes *range_end;      /* NULL: the one key */
  gint64 number;          /* CREATE, MOD, VERSION */
  GBytes *value;          /* VALUE */
} LatchEtcdCompare;

/* A txn's outcome. */
typedef struct
{
  gboolean succeeded;     /* the compares held: the success ops ran */
  gint64 revision;        /* the header's: the store's revision after the txn */
  /* One entry per op that ran (success or failure list): for a RANGE, a
   * GPtrArray of LatchEtcdKv (sorted by key, as etcd gives them); for
   * PUT and DELETE, NULL. */
  GPtrArray *ranges;
  gint64 *deleted;        /* per op: DELETE's count; others 0 */
} LatchEtcdTxnResult;

typedef enum
{
  LATCH_ETCD_EVENT_PUT,
  LATCH_ETCD_EVENT_DELETE,
} LatchEtcdEventType;

typedef struct
{
  LatchEtcdEventType type;
  LatchEtcdKv kv;         /* DELETE: key and mod_revision (the deletion's) */
  LatchEtcdKv prev_kv;    /* DELETE: the key's last value (prev_kv asked for);
                             key NULL when etcd gave none */
} LatchEtcdEvent;

/* Callbacks.  error is NULL on success; results are valid during the call. */
typedef void (*LatchEtcdTxnCb) (LatchEtcd *etcd, const LatchEtcdTxnResult *result,
                                const GError *error, gpointer user_data);
/* lease_grant: id and granted ttl (s); keepalive: id and the ttl left (s). */
typedef void (*LatchEtcdLeaseCb) (LatchEtcd *etcd, gint64 lease, gint64 ttl,
                                  const GError *error, gpointer user_data);
/* A watch delivers the events of each revision in order, one call per
 * response (events of one txn come together; revision is the header's),
 * then, once, an error when it ends (the stream broke, the start was
 * compacted): no call after that, and the watch is freed when ended_cb
 * returns (watch_stop() inside ended_cb is allowed and does nothing; after
 * it, the watch must not be used).  watch_stop() and free() end a watch
 * without ended_cb.  created_cb (may be NULL) is called when etcd has
 * accepted the watch. */
typedef struct
{
  void (*created_cb) (LatchEtcdWatch *watch, gint64 revision, gpointer user_data);
  void (*events_cb) (LatchEtcdWatch *watch, const LatchEtcdEvent *events, guint n_events,
                     gint64 revision, gpointer user_data);
  void (*ended_cb) (LatchEtcdWatch *watch, const GError *error, gpointer user_data);
} LatchEtcdWatchCallbacks;

typedef struct
{
  int abi;                /* LATCH_ETCD_MODULE_ABI */
  gsize kv_size;          /* sizeof (LatchEtcdKv) where the module was built */

  /* A client (no request is made yet); NULL and LATCH_ETCD_ERROR_CONFIG
   * when an endpoint is malformed (not http(s)://HOST:PORT) or a TLS file
   * cannot be read. */
  LatchEtcd *(*new) (const LatchEtcdConfig *config, GError **error);
  /* Cancels everything in flight: no callback runs after this returns
   * (pending ones are dropped, watches end without ended_cb). */
  void (*free) (LatchEtcd *etcd);
  /* The endpoint requests go to now (transfer none). */
  const char *(*endpoint) (LatchEtcd *etcd);

  void (*txn) (LatchEtcd *etcd, const LatchEtcdCompare *compares, guint n_compares,
               const LatchEtcdOp *success, guint n_success,
               const LatchEtcdOp *failure, guint n_failure,
               LatchEtcdTxnCb cb, gpointer user_data);
  void (*lease_grant) (LatchEtcd *etcd, gint64 ttl, LatchEtcdLeaseCb cb, gpointer user_data);
  void (*lease_keepalive) (LatchEtcd *etcd, gint64 lease, LatchEtcdLeaseCb cb,
                           gpointer user_data);
  /* cb may be NULL (fire and forget, at exit). */
  void (*lease_revoke) (LatchEtcd *etcd, gint64 lease, LatchEtcdLeaseCb cb,
                        gpointer user_data);

  /* Watches [key, range_end) from start_revision (> 0), with prev_kv on
   * deletions.  The watch holds its own connection. */
  LatchEtcdWatch *(*watch) (LatchEtcd *etcd, GBytes *key, GBytes *range_end,
                            gint64 start_revision, const LatchEtcdWatchCallbacks *callbacks,
                            gpointer user_data);
  /* Stops and frees it; no callback after this. */
  void (*watch_stop) (LatchEtcdWatch *watch);
} LatchEtcdModule;

/* The module's one export (transfer none). */
const LatchEtcdModule *latch_etcd_module (void);

G_END_DECLS

#endif
