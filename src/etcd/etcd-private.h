/* etcd-private.h: what the parts of latch-etcd.so share.
 *
 * etcd-client.c speaks to etcd's JSON gateway through libsoup;
 * etcd-json.c turns our structs into the gateway's JSON and back;
 * etcd-tlsdb.c verifies the members' certificates with GnuTLS (GIO's
 * own file database ignores CRLs). */
#ifndef LATCH_ETCD_ETCD_PRIVATE_H
#define LATCH_ETCD_ETCD_PRIVATE_H

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "etcd/etcd-client.h"

G_BEGIN_DECLS

/* JSON (etcd-json.c).  Builders return a whole request body; parsers
 * take the "result" or top-level object of an answer and fill the
 * struct, which the caller clears with the matching _clear(). */
JsonNode *latch_etcd_json_txn (const LatchEtcdCompare *compares, guint n_compares,
                               const LatchEtcdOp *success, guint n_success,
                               const LatchEtcdOp *failure, guint n_failure);
JsonNode *latch_etcd_json_watch (GBytes *key, GBytes *range_end, gint64 start_revision);
JsonNode *latch_etcd_json_id (const char *member, gint64 number);
gint64 latch_etcd_json_int (JsonObject *object, const char *member);
gint64 latch_etcd_json_header_revision (JsonObject *object);
void latch_etcd_json_txn_result (JsonObject *object, LatchEtcdTxnResult *result);
void latch_etcd_txn_result_clear (LatchEtcdTxnResult *result);
/* The events of a watch response (transfer full; free with
 * latch_etcd_events_free). */
LatchEtcdEvent *latch_etcd_json_events (JsonObject *result, guint *n_events);
void latch_etcd_events_free (LatchEtcdEvent *events, guint n_events);

/* TLS (etcd-tlsdb.c).  A database that verifies a member's chain
 * against ca_file (and the CRLs of crl_file) and its name or address
 * against the endpoint's host.  NULL and LATCH_ETCD_ERROR_CONFIG when
 * a file cannot be read. */
GTlsDatabase *latch_etcd_tlsdb_new (const char *ca_file, const char *crl_file,
                                    GError **error);

G_END_DECLS

#endif
