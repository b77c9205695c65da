/* etcd-client.c: the etcd v3 client of latch-etcd.so (etcd-client.h),
 * over etcd's JSON gateway with libsoup 3.
 *
 * Every request and watch is an Exchange: one SoupMessage to one
 * endpoint, with its own cancellable and timer.  Both outlive the client
 * when it is freed while they are in flight: libsoup still calls back
 * once to finish them, so free() only detaches them (exchange.etcd =
 * NULL) and cancels; the callback then frees them and calls nobody. */
#include "config.h"

#include "etcd/etcd-client.h"
#include "etcd/etcd-private.h"

#include <string.h>

#include <gnutls/gnutls.h>
#include <libsoup/soup.h>

struct _LatchEtcd
{
  char **endpoints;             /* "scheme://host:port" */
  guint n_endpoints;
  guint current;                /* where requests go now */
  int timeout_ms;
  char *ca_file;
  char *crl_file;
  char *cert_file;
  GTlsCertificate *certificate; /* NULL: none configured */
  SoupSession *session;
  GList *requests;              /* Request *, in flight */
  GList *watches;               /* LatchEtcdWatch *, alive */
};

/* What a request and a watch have in common: the message and what its
 * connection told us on the way (TLS). */
typedef struct
{
  LatchEtcd *etcd;              /* NULL once detached */
  guint endpoint;
  SoupMessage *msg;
  GCancellable *cancellable;
  guint timeout_id;
  gboolean timed_out;
  gboolean cert_asked;          /* the member asked for our certificate */
  gboolean cert_not_asked;      /* ... and did not, though we have one */
  GTlsCertificateFlags tls_flags; /* why its certificate was refused */
} Exchange;

typedef enum
{
  KIND_TXN,
  KIND_GRANT,
  KIND_KEEPALIVE,
  KIND_REVOKE,
} RequestKind;

typedef struct
{
  Exchange ex;                  /* first: the signal handlers take either */
  RequestKind kind;
  gint64 lease;
  LatchEtcdTxnCb txn_cb;
  LatchEtcdLeaseCb lease_cb;
  gpointer user_data;
} Request;

struct _LatchEtcdWatch
{
  Exchange ex;
  int refs;                     /* the client's list, each pending read */
  gboolean stopped;
  LatchEtcdWatchCallbacks callbacks;
  gpointer user_data;
  GDataInputStream *lines;
};

G_DEFINE_QUARK (latch-etcd-error-quark, latch_etcd_error)

static const char *
endpoint_of (Exchange *ex)
{
  return ex->etcd->endpoints[ex->endpoint];
}

/* ---------------------------------------------------------------------
 * Configuration */

static char *
endpoint_normalize (const char *text, gboolean *is_https, GError **error)
{
  g_autoptr(GUri) uri = NULL;
  const char *scheme, *path;

  uri = g_uri_parse (text, G_URI_FLAGS_NONE, NULL);
  if (uri == NULL || (scheme = g_uri_get_scheme (uri)) == NULL
      || (g_ascii_strcasecmp (scheme, "http") != 0 && g_ascii_strcasecmp (scheme, "https") != 0)
      || g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0'
      || g_uri_get_port (uri) <= 0 || g_uri_get_userinfo (uri) != NULL
      || g_uri_get_query (uri) != NULL || g_uri_get_fragment (uri) != NULL
      || ((path = g_uri_get_path (uri)) != NULL && *path != '\0' && strcmp (path, "/") != 0))
    {
      g_set_error (error, LATCH_ETCD_ERROR, LATCH_ETCD_ERROR_CONFIG,
                   "etcd endpoint \"%s\" is not http://HOST:PORT or https://HOST:PORT "
                   "(check EtcdEndpoints)", text);
      return NULL;
    }
  *is_https = g_ascii_strcasecmp (scheme, "https") == 0;
  return g_uri_join (G_URI_FLAGS_NONE, *is_https ? "https" : "http", NULL,
                     g_uri_get_host (uri), g_uri_get_port (uri), "", NULL, NULL);
}

static gboolean
file_readable (const char *what, const char *path, GError **error)
{
  g_autofree char *contents = NULL;
  g_autoptr(GError) local = NULL;

  if (!g_file_get_contents (path, &contents, NULL, &local))
    {
      g_set_error (error, LATCH_ETCD_ERROR, LATCH_ETCD_ERROR_CONFIG,
                   "etcd %s: %s", what, local->message);
      return FALSE;
    }
  return TRUE;
}

/* The GnuTLS priority of our TLS connections.  GIO's GnuTLS backend
 * (glib-networking) takes it from $G_TLS_GNUTLS_PRIORITY, read once, when
 * it makes its first TLS connection; nothing else in latchd uses GIO's
 * TLS, so setting it here concerns this module alone.  %NO_TICKETS: a
 * resumed session skips the member's CertificateRequest, and whether the
 * member asks for one is how we tell an etcd with --client-cert-auth from
 * one that admits anybody (network_event_cb); GIO does not say whether a
 * session was resumed, so none is. */
static gboolean
tls_priority_setup (const char *priority, GError **error)
{
  g_autofree char *value = g_strconcat (priority != NULL ? priority : "NORMAL",
                                        ":%NO_TICKETS", NULL);
  gnutls_priority_t cache;
  const char *where = NULL;
  int r;

  r = gnutls_priority_init (&cache, value, &where);
  if (r < 0)
    {
      g_set_error (error, LATCH_ETCD_ERROR, LATCH_ETCD_ERROR_CONFIG,
                   "etcd TLS priority \"%s\": %s (at \"%s\")",
                   priority != NULL ? priority : "NORMAL", gnutls_strerror (r),
                   where != NULL ? where : "");
      return FALSE;
    }
  gnutls_priority_deinit (cache);
  if (g_strcmp0 (g_getenv ("G_TLS_GNUTLS_PRIORITY"), value) != 0)
    g_setenv ("G_TLS_GNUTLS_PRIORITY", value, TRUE);
  return TRUE;
}

static void etcd_free (LatchEtcd *etcd);

static LatchEtcd *
etcd_new (const LatchEtcdConfig *config, GError **error)
{
  g_autoptr(GPtrArray) endpoints = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GTlsDatabase) database = NULL;
  gboolean any_https = FALSE;
  LatchEtcd *etcd;

  if (config->endpoints == NULL || config->endpoints[0] == NULL)
    {
      g_set_error_literal (error, LATCH_ETCD_ERROR, LATCH_ETCD_ERROR_CONFIG,
                           "no etcd endpoint (set EtcdEndpoints)");
      return NULL;
    }
  for (guint i = 0; config->endpoints[i] != NULL; i++)
    {
      gboolean is_https = FALSE;
      char *e = endpoint_normalize (config->endpoints[i], &is_https, error);

      if (e == NULL)
        return NULL;
      any_https |= is_https;
      g_ptr_array_add (endpoints, e);
    }
  if ((config->cert_file == NULL) != (config->key_file == NULL))
    {
      g_set_error (error, LATCH_ETCD_ERROR, LATCH_ETCD_ERROR_CONFIG,
                   "etcd client certificate: %s given without %s",
                   config->cert_file != NULL ? "a certificate" : "a key",
                   config->cert_file != NULL ? "its key" : "its certificate");
      return NULL;
    }

  etcd = g_new0 (LatchEtcd, 1);
  etcd->timeout_ms = config->timeout_ms;
  etcd->ca_file = g_strdup (config->ca_file);
  etcd->crl_file = g_strdup (config->crl_file);
  etcd->cert_file = g_strdup (config->cert_file);

  if (any_https)
    {
      if (config->ca_file == NULL)
        {
          g_set_error_literal (error, LATCH_ETCD_ERROR, LATCH_ETCD_ERROR_CONFIG,
                               "https etcd endpoints need a CA file to verify the members "
                               "against (set TlsCaCertificate)");
          goto fail;
        }
      if (!g_tls_backend_supports_tls (g_tls_backend_get_default ()))
        {
          g_set_error_literal (error, LATCH_ETCD_ERROR, LATCH_ETCD_ERROR_CONFIG,
                               "https etcd endpoints need GIO's TLS support, which is "
                               "missing (install glib-networking)");
          goto fail;
        }
      if (!tls_priority_setup (config->priority, error))
        goto fail;
      if (!file_readable ("CA file", config->ca_file, error)
          || (config->crl_file != NULL && !file_readable ("CRL file", config->crl_file, error)))
        goto fail;
      if ((database = latch_etcd_tlsdb_new (config->ca_file, config->crl_file, error)) == NULL)
        goto fail;
      if (config->cert_file != NULL)
        {
          g_autoptr(GError) local = NULL;

          if (!file_readable ("certificate file", config->cert_file, error)
              || !file_readable ("key file", config->key_file, error))
            goto fail;
          etcd->certificate = g_tls_certificate_new_from_files (config->cert_file,
                                                                config->key_file, &local);
          if (etcd->certificate == NULL)
            {
              g_set_error (error, LATCH_ETCD_ERROR, LATCH_ETCD_ERROR_CONFIG,
                           "etcd client certificate %s, key %s: %s",
                           config->cert_file, config->key_file, local->message);
              goto fail;
            }
        }
    }

  etcd->n_endpoints = endpoints->len;
  g_ptr_array_add (endpoints, NULL);
  etcd->endpoints = (char **) g_ptr_array_free (g_steal_pointer (&endpoints), FALSE);
  /* Watches hold a connection each for as long as they run, so the
   * default of two connections per host would starve the requests. */
  etcd->session = soup_session_new_with_options ("max-conns", 256,
                                                 "max-conns-per-host", 128,
                                                 "tls-database", database,
                                                 "user-agent", "latch-etcd",
                                                 NULL);
  /* Straight to the members: an http_proxy meant for the web is not for
   * the cluster (and libproxy would be loaded for each connection). */
  soup_session_set_proxy_resolver (etcd->session, NULL);
  return etcd;

fail:
  etcd_free (etcd);
  return NULL;
}

/* ---------------------------------------------------------------------
 * Exchanges: sending, TLS signals, timeouts, transport errors */

static gboolean
accept_certificate_cb (SoupMessage *msg, GTlsCertificate *cert,
                       GTlsCertificateFlags errors, gpointer data)
{
  Exchange *ex = data;

  (void) msg;
  (void) cert;
  ex->tls_flags = errors;
  return FALSE;
}

static gboolean
request_certificate_cb (SoupMessage *msg, GTlsClientConnection *conn, gpointer data)
{
  Exchange *ex = data;

  (void) conn;
  ex->cert_asked = TRUE;
  if (ex->etcd == NULL || ex->etcd->certificate == NULL)
    return FALSE;
  soup_message_set_tls_client_certificate (msg, ex->etcd->certificate);
  return TRUE;
}

/* After the handshake: a member that did not ask for our certificate
 * admits any client (etcd without --client-cert-auth); with a
 * certificate configured we are expected to be the only ones admitted,
 * so we refuse it rather than send it the lock table. */
static void
network_event_cb (SoupMessage *msg, GSocketClientEvent event, GIOStream *conn, gpointer data)
{
  Exchange *ex = data;

  (void) msg;
  /* HTTP/1.1 only, as over http: libsoup 3.2's HTTP/2 hangs a request
   * whose connection the member closes right after the handshake (TLS
   * 1.3 with a client certificate it refuses), and etcd's gateway needs
   * nothing HTTP/2 has. */
  if (event == G_SOCKET_CLIENT_TLS_HANDSHAKING && G_IS_TLS_CONNECTION (conn))
    {
      static const char *const http1[] = { "http/1.1", NULL };

      g_tls_connection_set_advertised_protocols (G_TLS_CONNECTION (conn), http1);
    }
  if (event == G_SOCKET_CLIENT_TLS_HANDSHAKED && ex->etcd != NULL
      && ex->etcd->certificate != NULL && !ex->cert_asked)
    {
      ex->cert_not_asked = TRUE;
      g_cancellable_cancel (ex->cancellable);
    }
}

static gboolean
exchange_timeout_cb (gpointer data)
{
  Exchange *ex = data;

  ex->timeout_id = 0;
  ex->timed_out = TRUE;
  g_cancellable_cancel (ex->cancellable);
  return G_SOURCE_REMOVE;
}

static void
exchange_start (LatchEtcd *etcd, Exchange *ex, const char *path, JsonNode *body)
{
  g_autofree char *url = NULL;
  g_autofree char *json = NULL;
  g_autoptr(GBytes) bytes = NULL;

  ex->etcd = etcd;
  ex->endpoint = etcd->current;
  url = g_strconcat (etcd->endpoints[ex->endpoint], path, NULL);
  ex->msg = soup_message_new ("POST", url);
  json = json_to_string (body, FALSE);
  bytes = g_bytes_new_take (g_steal_pointer (&json), strlen (json));
  soup_message_set_request_body_from_bytes (ex->msg, "application/json", bytes);
  g_signal_connect (ex->msg, "accept-certificate", G_CALLBACK (accept_certificate_cb), ex);
  g_signal_connect (ex->msg, "request-certificate", G_CALLBACK (request_certificate_cb), ex);
  g_signal_connect (ex->msg, "network-event", G_CALLBACK (network_event_cb), ex);
  ex->cancellable = g_cancellable_new ();
  if (etcd->timeout_ms > 0)
    ex->timeout_id = g_timeout_add (etcd->timeout_ms, exchange_timeout_cb, ex);
}

static void
exchange_clear (Exchange *ex)
{
  g_clear_handle_id (&ex->timeout_id, g_source_remove);
  if (ex->msg != NULL)
    g_signal_handlers_disconnect_by_data (ex->msg, ex);
  g_clear_object (&ex->msg);
  g_clear_object (&ex->cancellable);
}

/* Detached: the client is gone; the pending callback frees it. */
static void
exchange_detach (Exchange *ex)
{
  ex->etcd = NULL;
  g_clear_handle_id (&ex->timeout_id, g_source_remove);
  g_cancellable_cancel (ex->cancellable);
}

static void
move_on (Exchange *ex)
{
  LatchEtcd *etcd = ex->etcd;

  if (etcd->current == ex->endpoint)
    etcd->current = (etcd->current + 1) % etcd->n_endpoints;
}

static char *
host_of (const char *endpoint)
{
  g_autoptr(GUri) uri = g_uri_parse (endpoint, G_URI_FLAGS_NONE, NULL);

  return g_strdup (uri != NULL ? g_uri_get_host (uri) : endpoint);
}

static gboolean
is_https (const char *endpoint)
{
  return g_str_has_prefix (endpoint, "https:");
}

static char *
describe_cert_flags (Exchange *ex)
{
  LatchEtcd *etcd = ex->etcd;
  GTlsCertificateFlags f = ex->tls_flags;
  g_autofree char *host = host_of (endpoint_of (ex));

  if (f & G_TLS_CERTIFICATE_REVOKED)
    return g_strdup_printf ("its certificate is revoked (by the CRL in %s): "
                            "give the member a new certificate", etcd->crl_file);
  if (f & G_TLS_CERTIFICATE_UNKNOWN_CA)
    return g_strdup_printf ("its certificate is not signed by the CA in %s "
                            "(check TlsCaCertificate and the member's --cert-file)", etcd->ca_file);
  if (f & G_TLS_CERTIFICATE_EXPIRED)
    return g_strdup ("its certificate has expired: give the member a new certificate");
  if (f & G_TLS_CERTIFICATE_NOT_ACTIVATED)
    return g_strdup ("its certificate is not valid yet (check the clocks)");
  if (f & G_TLS_CERTIFICATE_BAD_IDENTITY)
    return g_strdup_printf ("its certificate does not name %s (put it in the member "
                            "certificate's subjectAltName, or use a name the "
                            "certificate has in EtcdEndpoints)", host);
  if (f & G_TLS_CERTIFICATE_INSECURE)
    return g_strdup ("its certificate uses an insecure algorithm");
  return g_strdup ("its certificate cannot be verified");
}

/* One line for a request that got no answer: which endpoint, what
 * happened, what to do about it.  Moves requests on to the next
 * endpoint. */
static GError *
transport_error (Exchange *ex, const GError *e)
{
  LatchEtcd *etcd = ex->etcd;
  const char *ep = endpoint_of (ex);
  g_autofree char *what = NULL;
  g_autofree char *next = NULL;
  int code = LATCH_ETCD_ERROR_UNREACHABLE;
  GError *error;

  if (ex->cert_not_asked)
    {
      code = LATCH_ETCD_ERROR_TLS;
      what = g_strdup_printf ("does not ask for a client certificate: start it with "
                              "--client-cert-auth and a --trusted-ca-file holding the CA "
                              "that signed %s", etcd->cert_file);
    }
  else if (ex->tls_flags != 0)
    {
      code = LATCH_ETCD_ERROR_TLS;
      what = describe_cert_flags (ex);
    }
  else if (ex->timed_out)
    what = g_strdup_printf ("no answer within %d ms (is etcd running and reachable "
                            "there? check EtcdEndpoints)", etcd->timeout_ms);
  else if (g_error_matches (e, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED))
    what = g_strdup ("connection refused (is etcd running there? check EtcdEndpoints)");
  else if (e->domain == G_RESOLVER_ERROR)
    {
      g_autofree char *host = host_of (ep);

      what = g_strdup_printf ("cannot resolve %s (check EtcdEndpoints)", host);
    }
  else if (ex->cert_asked && etcd->certificate == NULL
           && (e->domain == G_TLS_ERROR || e->domain == G_IO_ERROR))
    {
      code = LATCH_ETCD_ERROR_TLS;
      what = g_strdup ("the member asks for a client certificate and none is configured "
                       "(set TlsCertificate and TlsPrivateKey)");
    }
  /* TLS 1.3: the handshake is over on our side before the member has
   * looked at our certificate; its refusal arrives as an alert, or as
   * the connection closing (which GIO may call "not TLS"), at the end of
   * the handshake or on the first read.  A member that asked for a
   * certificate does speak TLS. */
  else if (ex->cert_asked && (e->domain == G_TLS_ERROR || e->domain == G_IO_ERROR))
    {
      code = LATCH_ETCD_ERROR_TLS;
      what = g_strdup_printf ("the member refused our client certificate %s: is it signed "
                              "by the CA of the member's --trusted-ca-file?", etcd->cert_file);
    }
  else if (g_error_matches (e, G_TLS_ERROR, G_TLS_ERROR_NOT_TLS))
    {
      code = LATCH_ETCD_ERROR_TLS;
      what = g_strdup ("the member does not speak TLS (use http:// for it in "
                       "EtcdEndpoints, or start it with --cert-file and --key-file)");
    }
  else if (e->domain == G_TLS_ERROR)
    {
      code = LATCH_ETCD_ERROR_TLS;
      what = g_strdup_printf ("TLS handshake failed: %s", e->message);
    }
  /* etcd serving TLS closes (or resets) a connection that starts in
   * clear text, without a word. */
  else if ((g_error_matches (e, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT)
            || g_error_matches (e, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED))
           && !is_https (ep))
    what = g_strdup ("the connection closed without an answer (if the member serves "
                     "https, use https:// for it in EtcdEndpoints; or it stopped)");
  else
    what = g_strdup_printf ("%s (is etcd running there? check EtcdEndpoints)", e->message);

  move_on (ex);
  if (etcd->n_endpoints > 1)
    next = g_strdup_printf ("; next: %s", etcd->endpoints[etcd->current]);
  error = g_error_new (LATCH_ETCD_ERROR, code, "etcd at %s%s%s%s", ep,
                       ex->cert_not_asked ? " " : ": ", what, next != NULL ? next : "");
  return error;
}

/* An answer that is not 200 with the gateway's JSON.  Go's TLS server
 * answers plain HTTP with a 400 that says so. */
static GError *
answer_error (Exchange *ex, guint status, const char *body, gsize len)
{
  const char *ep = endpoint_of (ex);
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonNode *root;
  JsonObject *o = NULL;

  if (status == 400 && g_strstr_len (body, len, "HTTPS") != NULL)
    {
      move_on (ex);
      return g_error_new (LATCH_ETCD_ERROR, LATCH_ETCD_ERROR_TLS,
                          "etcd at %s: the member speaks TLS (use https:// for it in "
                          "EtcdEndpoints, with TlsCaCertificate)", ep);
    }
  if (json_parser_load_from_data (parser, body, len, NULL)
      && (root = json_parser_get_root (parser)) != NULL && JSON_NODE_HOLDS_OBJECT (root))
    o = json_node_get_object (root);
  if (o != NULL && JSON_NODE_HOLDS_OBJECT (json_object_get_member (o, "error")))
    o = json_object_get_object_member (o, "error");
  if (o != NULL && (json_object_has_member (o, "message") || json_object_has_member (o, "error")))
    {
      const char *m = json_object_has_member (o, "message")
                      ? json_object_get_string_member_with_default (o, "message", "")
                      : json_object_get_string_member_with_default (o, "error", "");
      gint64 code = json_object_has_member (o, "code") ? latch_etcd_json_int (o, "code")
                                                       : latch_etcd_json_int (o, "grpc_code");
      /* gRPC's NotFound, for a lease: the one error a caller acts on. */
      gboolean lease_gone = code == 5 && strstr (m, "lease") != NULL;

      return g_error_new (LATCH_ETCD_ERROR,
                          lease_gone ? LATCH_ETCD_ERROR_LEASE_GONE : LATCH_ETCD_ERROR_SERVER,
                          "etcd at %s: %s (code %" G_GINT64_FORMAT ")", ep, m, code);
    }
  return g_error_new (LATCH_ETCD_ERROR, LATCH_ETCD_ERROR_PROTOCOL,
                      "etcd at %s: HTTP %u with an answer that is not etcd's JSON "
                      "(is it etcd's client URL? check EtcdEndpoints)", ep, status);
}

/* The answer's JSON object (transfer full), or NULL and the error. */
static JsonNode *
answer_parse (Exchange *ex, GBytes *body, GError **error)
{
  gsize len;
  const char *data = g_bytes_get_data (body, &len);
  guint status = soup_message_get_status (ex->msg);
  g_autoptr(JsonParser) parser = NULL;
  JsonNode *root;

  if (status != SOUP_STATUS_OK)
    {
      *error = answer_error (ex, status, data != NULL ? data : "", len);
      return NULL;
    }
  parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, data != NULL ? data : "", len, NULL)
      || (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      *error = g_error_new (LATCH_ETCD_ERROR, LATCH_ETCD_ERROR_PROTOCOL,
                            "etcd at %s: an answer that is not etcd's JSON (is it etcd's "
                            "client URL? check EtcdEndpoints)", endpoint_of (ex));
      return NULL;
    }
  if (json_object_has_member (json_node_get_object (root), "error"))
    {
      *error = answer_error (ex, 500, data, len);
      return NULL;
    }
  return json_node_copy (root);
}

/* ---------------------------------------------------------------------
 * Requests */

static void
request_free (Request *req)
{
  exchange_clear (&req->ex);
  g_free (req);
}

static void
request_deliver (Request *req, JsonObject *o, const GError *error)
{
  LatchEtcd *etcd = req->ex.etcd;

  switch (req->kind)
    {
    case KIND_TXN:
      {
        LatchEtcdTxnResult result = { 0 };

        if (error == NULL)
          latch_etcd_json_txn_result (o, &result);
        req->txn_cb (etcd, error == NULL ? &result : NULL, error, req->user_data);
        latch_etcd_txn_result_clear (&result);
      }
      break;
    case KIND_GRANT:
      req->lease_cb (etcd, error == NULL ? latch_etcd_json_int (o, "ID") : 0,
                     error == NULL ? latch_etcd_json_int (o, "TTL") : 0, error, req->user_data);
      break;
    case KIND_KEEPALIVE:
      {
        JsonObject *result = NULL;
        gint64 ttl = 0;
        g_autoptr(GError) gone = NULL;

        if (error == NULL && json_object_has_member (o, "result")
            && JSON_NODE_HOLDS_OBJECT (json_object_get_member (o, "result")))
          result = json_object_get_object_member (o, "result");
        ttl = latch_etcd_json_int (result, "TTL");
        /* A lease that is gone answers with no TTL (zero). */
        if (error == NULL && ttl <= 0)
          error = gone = g_error_new (LATCH_ETCD_ERROR, LATCH_ETCD_ERROR_LEASE_GONE,
                                      "etcd at %s: lease %" G_GINT64_FORMAT " is gone "
                                      "(expired or revoked)", endpoint_of (&req->ex), req->lease);
        req->lease_cb (etcd, req->lease, error == NULL ? ttl : 0, error, req->user_data);
      }
      break;
    case KIND_REVOKE:
      if (req->lease_cb != NULL)
        req->lease_cb (etcd, req->lease, 0, error, req->user_data);
      break;
    }
}

static void
request_done_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  Request *req = data;
  LatchEtcd *etcd = req->ex.etcd;
  g_autoptr(GError) local = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(JsonNode) root = NULL;

  body = soup_session_send_and_read_finish (SOUP_SESSION (source), res, &local);
  if (etcd == NULL)
    {
      request_free (req);
      return;
    }
  g_clear_handle_id (&req->ex.timeout_id, g_source_remove);
  etcd->requests = g_list_remove (etcd->requests, req);
  if (body == NULL)
    error = transport_error (&req->ex, local);
  else
    root = answer_parse (&req->ex, body, &error);
  request_deliver (req, root != NULL ? json_node_get_object (root) : NULL, error);
  request_free (req);
}

static Request *
request_new (LatchEtcd *etcd, RequestKind kind, const char *path, JsonNode *body)
{
  Request *req = g_new0 (Request, 1);

  req->kind = kind;
  exchange_start (etcd, &req->ex, path, body);
  etcd->requests = g_list_prepend (etcd->requests, req);
  return req;
}

static void
request_send (Request *req)
{
  soup_session_send_and_read_async (req->ex.etcd->session, req->ex.msg, G_PRIORITY_DEFAULT,
                                    req->ex.cancellable, request_done_cb, req);
}

static void
etcd_txn (LatchEtcd *etcd, const LatchEtcdCompare *compares, guint n_compares,
          const LatchEtcdOp *success, guint n_success,
          const LatchEtcdOp *failure, guint n_failure,
          LatchEtcdTxnCb cb, gpointer user_data)
{
  g_autoptr(JsonNode) body = latch_etcd_json_txn (compares, n_compares, success, n_success,
                                                  failure, n_failure);
  Request *req = request_new (etcd, KIND_TXN, "/v3/kv/txn", body);

  req->txn_cb = cb;
  req->user_data = user_data;
  request_send (req);
}

static void
etcd_lease_grant (LatchEtcd *etcd, gint64 ttl, LatchEtcdLeaseCb cb, gpointer user_data)
{
  g_autoptr(JsonNode) body = latch_etcd_json_id ("TTL", ttl);
  Request *req = request_new (etcd, KIND_GRANT, "/v3/lease/grant", body);

  req->lease_cb = cb;
  req->user_data = user_data;
  request_send (req);
}

static void
etcd_lease_keepalive (LatchEtcd *etcd, gint64 lease, LatchEtcdLeaseCb cb, gpointer user_data)
{
  g_autoptr(JsonNode) body = latch_etcd_json_id ("ID", lease);
  Request *req = request_new (etcd, KIND_KEEPALIVE, "/v3/lease/keepalive", body);

  req->lease = lease;
  req->lease_cb = cb;
  req->user_data = user_data;
  request_send (req);
}

static void
etcd_lease_revoke (LatchEtcd *etcd, gint64 lease, LatchEtcdLeaseCb cb, gpointer user_data)
{
  /* etcd 3.4's gateway path; 3.5 also has /v3/lease/revoke. */
  g_autoptr(JsonNode) body = latch_etcd_json_id ("ID", lease);
  Request *req = request_new (etcd, KIND_REVOKE, "/v3/kv/lease/revoke", body);

  req->lease = lease;
  req->lease_cb = cb;
  req->user_data = user_data;
  request_send (req);
}

/* ---------------------------------------------------------------------
 * Watches: one streaming answer, a JSON object per line */

static void
watch_unref (LatchEtcdWatch *w)
{
  if (--w->refs > 0)
    return;
  g_clear_object (&w->lines);
  exchange_clear (&w->ex);
  g_free (w);
}

/* Ends the watch: ended_cb once, then nothing. */
static void
watch_end (LatchEtcdWatch *w, GError *error)
{
  LatchEtcd *etcd = w->ex.etcd;

  w->stopped = TRUE;
  etcd->watches = g_list_remove (etcd->watches, w);
  /* No longer the client's: ended_cb may free the client. */
  w->ex.etcd = NULL;
  g_cancellable_cancel (w->ex.cancellable);
  if (w->callbacks.ended_cb != NULL)
    w->callbacks.ended_cb (w, error, w->user_data);
  g_error_free (error);
  watch_unref (w); /* the client's reference */
}

static void watch_read_cb (GObject *source, GAsyncResult *res, gpointer data);

static void
watch_read_next (LatchEtcdWatch *w)
{
  w->refs++;
  g_data_input_stream_read_line_async (w->lines, G_PRIORITY_DEFAULT, w->ex.cancellable,
                                       watch_read_cb, w);
}

/* One line of the stream: TRUE to read on. */
static gboolean
watch_line (LatchEtcdWatch *w, const char *line, gsize len)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonNode *root;
  JsonObject *o, *result;
  gint64 revision, compacted;

  if (len == 0)
    return TRUE;
  if (soup_message_get_status (w->ex.msg) != SOUP_STATUS_OK
      || !json_parser_load_from_data (parser, line, len, NULL)
      || (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root)
      || json_object_has_member (o = json_node_get_object (root), "error")
      || !JSON_NODE_HOLDS_OBJECT (json_object_get_member (o, "result")))
    {
      watch_end (w, answer_error (&w->ex, soup_message_get_status (w->ex.msg), line, len));
      return FALSE;
    }
  result = json_object_get_object_member (o, "result");
  revision = latch_etcd_json_header_revision (result);
  compacted = latch_etcd_json_int (result, "compact_revision");
  if (compacted > 0)
    {
      watch_end (w, g_error_new (LATCH_ETCD_ERROR, LATCH_ETCD_ERROR_COMPACTED,
                                 "etcd at %s: the watch's start revision is compacted "
                                 "(history kept from %" G_GINT64_FORMAT ")",
                                 endpoint_of (&w->ex), compacted));
      return FALSE;
    }
  if (json_object_get_boolean_member_with_default (result, "canceled", FALSE))
    {
      const char *reason = json_object_get_string_member_with_default (result, "cancel_reason",
                                                                       "no reason given");

      watch_end (w, g_error_new (LATCH_ETCD_ERROR, LATCH_ETCD_ERROR_SERVER,
                                 "etcd at %s: the watch was cancelled: %s",
                                 endpoint_of (&w->ex), reason));
      return FALSE;
    }
  if (json_object_get_boolean_member_with_default (result, "created", FALSE))
    {
      if (w->callbacks.created_cb != NULL)
        w->callbacks.created_cb (w, revision, w->user_data);
      if (w->stopped)
        return FALSE;
    }
  if (json_object_has_member (result, "events"))
    {
      guint n = 0;
      LatchEtcdEvent *events = latch_etcd_json_events (result, &n);

      if (n > 0 && w->callbacks.events_cb != NULL)
        w->callbacks.events_cb (w, events, n, revision, w->user_data);
      latch_etcd_events_free (events, n);
      if (w->stopped)
        return FALSE;
    }
  return TRUE;
}

static void
watch_read_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  LatchEtcdWatch *w = data;
  g_autoptr(GError) local = NULL;
  g_autofree char *line = NULL;
  gsize len = 0;

  line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source), res, &len, &local);
  if (w->stopped)
    {
      watch_unref (w);
      return;
    }
  if (line == NULL)
    {
      /* The member went away (or closed the stream): the next requests
       * should try another one. */
      if (local == NULL)
        {
          move_on (&w->ex);
          watch_end (w, g_error_new (LATCH_ETCD_ERROR, LATCH_ETCD_ERROR_UNREACHABLE,
                                     "etcd at %s: the watch stream ended (etcd stopped?)",
                                     endpoint_of (&w->ex)));
        }
      else
        watch_end (w, transport_error (&w->ex, local));
    }
  else if (watch_line (w, line, len))
    watch_read_next (w);
  watch_unref (w);
}

static void
watch_sent_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  LatchEtcdWatch *w = data;
  g_autoptr(GError) local = NULL;
  g_autoptr(GInputStream) stream = NULL;

  stream = soup_session_send_finish (SOUP_SESSION (source), res, &local);
  if (w->stopped)
    {
      watch_unref (w);
      return;
    }
  /* Established: a watch may stay quiet for as long as it likes. */
  g_clear_handle_id (&w->ex.timeout_id, g_source_remove);
  if (stream == NULL)
    watch_end (w, transport_error (&w->ex, local));
  else
    {
      w->lines = g_data_input_stream_new (stream);
      g_data_input_stream_set_newline_type (w->lines, G_DATA_STREAM_NEWLINE_TYPE_LF);
      watch_read_next (w);
    }
  watch_unref (w);
}

static LatchEtcdWatch *
etcd_watch (LatchEtcd *etcd, GBytes *key, GBytes *range_end, gint64 start_revision,
            const LatchEtcdWatchCallbacks *callbacks, gpointer user_data)
{
  g_autoptr(JsonNode) body = latch_etcd_json_watch (key, range_end, start_revision);
  LatchEtcdWatch *w = g_new0 (LatchEtcdWatch, 1);

  w->callbacks = *callbacks;
  w->user_data = user_data;
  exchange_start (etcd, &w->ex, "/v3/watch", body);
  /* Its own connection: the stream holds it for as long as it runs. */
  soup_message_add_flags (w->ex.msg, SOUP_MESSAGE_NEW_CONNECTION);
  w->refs = 2; /* the client's list, the send below */
  etcd->watches = g_list_prepend (etcd->watches, w);
  soup_session_send_async (etcd->session, w->ex.msg, G_PRIORITY_DEFAULT, w->ex.cancellable,
                           watch_sent_cb, w);
  return w;
}

static void
etcd_watch_stop (LatchEtcdWatch *w)
{
  if (w == NULL || w->stopped)
    return;
  w->stopped = TRUE;
  w->ex.etcd->watches = g_list_remove (w->ex.etcd->watches, w);
  exchange_detach (&w->ex);
  watch_unref (w);
}

/* ---------------------------------------------------------------------
 * The client */

static void
etcd_free (LatchEtcd *etcd)
{
  if (etcd == NULL)
    return;
  for (GList *l = etcd->requests; l != NULL; l = l->next)
    exchange_detach (l->data);
  g_clear_pointer (&etcd->requests, g_list_free);
  while (etcd->watches != NULL)
    etcd_watch_stop (etcd->watches->data);
  if (etcd->session != NULL)
    soup_session_abort (etcd->session);
  g_clear_object (&etcd->session);
  g_clear_object (&etcd->certificate);
  g_strfreev (etcd->endpoints);
  g_free (etcd->ca_file);
  g_free (etcd->crl_file);
  g_free (etcd->cert_file);
  g_free (etcd);
}

static const char *
etcd_endpoint (LatchEtcd *etcd)
{
  return etcd->endpoints[etcd->current];
}

const LatchEtcdModule *
latch_etcd_module (void)
{
  static const LatchEtcdModule module = {
    .abi = LATCH_ETCD_MODULE_ABI,
    .kv_size = sizeof (LatchEtcdKv),
    .new = etcd_new,
    .free = etcd_free,
    .endpoint = etcd_endpoint,
    .txn = etcd_txn,
    .lease_grant = etcd_lease_grant,
    .lease_keepalive = etcd_lease_keepalive,
    .lease_revoke = etcd_lease_revoke,
    .watch = etcd_watch,
    .watch_stop = etcd_watch_stop,
  };

  return &module;
}
