/* etcd-json.c: etcd's JSON gateway format (etcd-private.h).
 *
 * The gateway is grpc-gateway over etcd's protobuf messages: bytes
 * (keys, values) are base64, int64 are JSON strings, enums are their
 * names, and a field equal to its zero value is left out, so every
 * reader here takes an absent member as zero. */
#include "config.h"

#include "etcd/etcd-private.h"

#include <string.h>

static void
add_bytes (JsonBuilder *b, const char *member, GBytes *bytes)
{
  gsize len;
  const guint8 *data;
  g_autofree char *b64 = NULL;

  if (bytes == NULL)
    return;
  data = g_bytes_get_data (bytes, &len);
  b64 = g_base64_encode (data, len);
  json_builder_set_member_name (b, member);
  json_builder_add_string_value (b, b64);
}

static void
add_int (JsonBuilder *b, const char *member, gint64 number)
{
  char buf[32];

  g_snprintf (buf, sizeof buf, "%" G_GINT64_FORMAT, number);
  json_builder_set_member_name (b, member);
  json_builder_add_string_value (b, buf);
}

static void
add_ops (JsonBuilder *b, const char *member, const LatchEtcdOp *ops, guint n_ops)
{
  json_builder_set_member_name (b, member);
  json_builder_begin_array (b);
  for (guint i = 0; i < n_ops; i++)
    {
      const LatchEtcdOp *op = &ops[i];

      json_builder_begin_object (b);
      switch (op->type)
        {
        case LATCH_ETCD_OP_RANGE:
          json_builder_set_member_name (b, "request_range");
          json_builder_begin_object (b);
          add_bytes (b, "key", op->key);
          add_bytes (b, "range_end", op->range_end);
          if (op->keys_only)
            {
              json_builder_set_member_name (b, "keys_only");
              json_builder_add_boolean_value (b, TRUE);
            }
          json_builder_end_object (b);
          break;
        case LATCH_ETCD_OP_PUT:
          json_builder_set_member_name (b, "request_put");
          json_builder_begin_object (b);
          add_bytes (b, "key", op->key);
          add_bytes (b, "value", op->value);
          if (op->lease != 0)
            add_int (b, "lease", op->lease);
          json_builder_end_object (b);
          break;
        case LATCH_ETCD_OP_DELETE:
          json_builder_set_member_name (b, "request_delete_range");
          json_builder_begin_object (b);
          add_bytes (b, "key", op->key);
          add_bytes (b, "range_end", op->range_end);
          json_builder_end_object (b);
          break;
        }
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
}

JsonNode *
latch_etcd_json_txn (const LatchEtcdCompare *compares, guint n_compares,
                     const LatchEtcdOp *success, guint n_success,
                     const LatchEtcdOp *failure, guint n_failure)
{
  static const char *const targets[] = { "CREATE", "MOD", "VERSION", "VALUE" };
  static const char *const results[] = { "EQUAL", "GREATER", "LESS", "NOT_EQUAL" };
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "compare");
  json_builder_begin_array (b);
  for (guint i = 0; i < n_compares; i++)
    {
      const LatchEtcdCompare *c = &compares[i];

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "target");
      json_builder_add_string_value (b, targets[c->target]);
      json_builder_set_member_name (b, "result");
      json_builder_add_string_value (b, results[c->result]);
      add_bytes (b, "key", c->key);
      add_bytes (b, "range_end", c->range_end);
      switch (c->target)
        {
        case LATCH_ETCD_TARGET_CREATE:
          add_int (b, "create_revision", c->number);
          break;
        case LATCH_ETCD_TARGET_MOD:
          add_int (b, "mod_revision", c->number);
          break;
        case LATCH_ETCD_TARGET_VERSION:
          add_int (b, "version", c->number);
          break;
        case LATCH_ETCD_TARGET_VALUE:
          {
            /* An empty value is still a value to compare with. */
            g_autoptr(GBytes) empty = g_bytes_new_static ("", 0);

            add_bytes (b, "value", c->value != NULL ? c->value : empty);
          }
          break;
        }
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  add_ops (b, "success", success, n_success);
  add_ops (b, "failure", failure, n_failure);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

JsonNode *
latch_etcd_json_watch (GBytes *key, GBytes *range_end, gint64 start_revision)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "create_request");
  json_builder_begin_object (b);
  add_bytes (b, "key", key);
  add_bytes (b, "range_end", range_end);
  add_int (b, "start_revision", start_revision);
  json_builder_set_member_name (b, "prev_kv");
  json_builder_add_boolean_value (b, TRUE);
  json_builder_end_object (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

JsonNode *
latch_etcd_json_id (const char *member, gint64 number)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  add_int (b, member, number);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

gint64
latch_etcd_json_int (JsonObject *object, const char *member)
{
  JsonNode *node;

  if (object == NULL || (node = json_object_get_member (object, member)) == NULL
      || !JSON_NODE_HOLDS_VALUE (node))
    return 0;
  if (json_node_get_value_type (node) == G_TYPE_STRING)
    return g_ascii_strtoll (json_node_get_string (node), NULL, 10);
  if (json_node_get_value_type (node) == G_TYPE_INT64)
    return json_node_get_int (node);
  return 0;
}

static JsonObject *
get_object (JsonObject *object, const char *member)
{
  JsonNode *node;

  if (object == NULL || (node = json_object_get_member (object, member)) == NULL
      || !JSON_NODE_HOLDS_OBJECT (node))
    return NULL;
  return json_node_get_object (node);
}

static JsonArray *
get_array (JsonObject *object, const char *member)
{
  JsonNode *node;

  if (object == NULL || (node = json_object_get_member (object, member)) == NULL
      || !JSON_NODE_HOLDS_ARRAY (node))
    return NULL;
  return json_node_get_array (node);
}

gint64
latch_etcd_json_header_revision (JsonObject *object)
{
  return latch_etcd_json_int (get_object (object, "header"), "revision");
}

/* NULL when absent; an empty GBytes when present but empty.  Bad base64
 * decodes to whatever g_base64_decode makes of it: the gateway never
 * sends any. */
static GBytes *
get_bytes (JsonObject *object, const char *member, gboolean empty_if_absent)
{
  JsonNode *node;
  const char *b64;
  gsize len = 0;
  guchar *data;

  if (object == NULL || (node = json_object_get_member (object, member)) == NULL
      || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return empty_if_absent ? g_bytes_new (NULL, 0) : NULL;
  b64 = json_node_get_string (node);
  data = g_base64_decode (b64, &len);
  return g_bytes_new_take (data, len);
}

static void
kv_fill (JsonObject *o, LatchEtcdKv *kv, gboolean with_value)
{
  kv->key = get_bytes (o, "key", TRUE);
  kv->value = with_value ? get_bytes (o, "value", TRUE) : NULL;
  kv->create_revision = latch_etcd_json_int (o, "create_revision");
  kv->mod_revision = latch_etcd_json_int (o, "mod_revision");
  kv->version = latch_etcd_json_int (o, "version");
  kv->lease = latch_etcd_json_int (o, "lease");
}

static void
kv_clear (LatchEtcdKv *kv)
{
  g_clear_pointer (&kv->key, g_bytes_unref);
  g_clear_pointer (&kv->value, g_bytes_unref);
}

static void
kv_free (gpointer data)
{
  kv_clear (data);
  g_free (data);
}

/* ranges holds NULL for the ops that are not a RANGE. */
static void
range_free (gpointer data)
{
  if (data != NULL)
    g_ptr_array_unref (data);
}

void
latch_etcd_json_txn_result (JsonObject *object, LatchEtcdTxnResult *result)
{
  JsonArray *responses = get_array (object, "responses");
  guint n = responses != NULL ? json_array_get_length (responses) : 0;
  JsonNode *succeeded = json_object_get_member (object, "succeeded");

  result->succeeded = succeeded != NULL && JSON_NODE_HOLDS_VALUE (succeeded)
                      && json_node_get_boolean (succeeded);
  result->revision = latch_etcd_json_header_revision (object);
  result->ranges = g_ptr_array_new_full (n, range_free);
  result->deleted = g_new0 (gint64, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    {
      JsonNode *node = json_array_get_element (responses, i);
      JsonObject *r = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
      JsonObject *range = get_object (r, "response_range");
      JsonObject *del = get_object (r, "response_delete_range");
      GPtrArray *kvs = NULL;

      if (range != NULL || (r != NULL && json_object_has_member (r, "response_range")))
        {
          JsonArray *a = get_array (range, "kvs");
          guint n_kvs = a != NULL ? json_array_get_length (a) : 0;

          kvs = g_ptr_array_new_full (n_kvs, kv_free);
          for (guint k = 0; k < n_kvs; k++)
            {
              JsonNode *kn = json_array_get_element (a, k);
              LatchEtcdKv *kv = g_new0 (LatchEtcdKv, 1);

              kv_fill (JSON_NODE_HOLDS_OBJECT (kn) ? json_node_get_object (kn) : NULL, kv, TRUE);
              g_ptr_array_add (kvs, kv);
            }
        }
      g_ptr_array_add (result->ranges, kvs);
      result->deleted[i] = latch_etcd_json_int (del, "deleted");
    }
}

void
latch_etcd_txn_result_clear (LatchEtcdTxnResult *result)
{
  g_clear_pointer (&result->ranges, g_ptr_array_unref);
  g_clear_pointer (&result->deleted, g_free);
}

LatchEtcdEvent *
latch_etcd_json_events (JsonObject *result, guint *n_events)
{
  JsonArray *a = get_array (result, "events");
  guint n = a != NULL ? json_array_get_length (a) : 0;
  LatchEtcdEvent *events = g_new0 (LatchEtcdEvent, MAX (n, 1));

  for (guint i = 0; i < n; i++)
    {
      JsonNode *node = json_array_get_element (a, i);
      JsonObject *e = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
      JsonNode *type = e != NULL ? json_object_get_member (e, "type") : NULL;
      JsonObject *prev = get_object (e, "prev_kv");

      /* PUT is the enum's zero, so a PUT event has no "type". */
      events[i].type = type != NULL && JSON_NODE_HOLDS_VALUE (type)
                       && g_strcmp0 (json_node_get_string (type), "DELETE") == 0
                     ? LATCH_ETCD_EVENT_DELETE : LATCH_ETCD_EVENT_PUT;
      kv_fill (get_object (e, "kv"), &events[i].kv,
               events[i].type == LATCH_ETCD_EVENT_PUT);
      if (prev != NULL)
        kv_fill (prev, &events[i].prev_kv, TRUE);
    }
  *n_events = n;
  return events;
}

void
latch_etcd_events_free (LatchEtcdEvent *events, guint n_events)
{
  for (guint i = 0; i < n_events; i++)
    {
      kv_clear (&events[i].kv);
      kv_clear (&events[i].prev_kv);
    }
  g_free (events);
}
