/* fake-flom: a stand-in for a FLoM 1.7 daemon, for the integration tests
 * (a real FLoM is not available to them).  Plain sockets, GLib, and
 * GnuTLS for the TLS case; no latch code.  It does what the spec notes
 * (shared/spec/protocol.md, tls.md) say FLoM's daemon does where latch
 * must cope with it:
 *
 *   - it reads a connection's first message, at most 511 bytes: a longer
 *     one closes the connection without an answer;
 *   - with --tls, TLS starts at once (the three files; the client must
 *     present a certificate, whose chain is checked after the handshake);
 *     a clear-text client fails the handshake: closed, nothing sent;
 *   - with --check-peer-id (TlsCheckPeerId=yes), the peerid of the first
 *     message must be non-empty and equal the client certificate's last
 *     CN, else the connection is closed without an answer;
 *   - a lock request (1/8) is granted: 1/16 with the daemon's peerid and
 *     rc="0" (no fence); then it waits for the unlock and the client's end
 *     of file;
 *   - a management request (5/8) gets no answer: the connection stays
 *     open until the client closes it (-X: the daemon exits at once).
 *
 *   fake-flom --port-file FILE --log FILE
 *             [--tls --cert F --key F --ca F [--check-peer-id]] [--id ID]
 *
 * Listens on 127.0.0.1, a port the kernel picks, written to FILE once
 * listening.  Serves one connection at a time, as FLoM's daemon reads
 * first messages in its one thread.  Appends one line per event to the
 * log, e.g.
 *   conn 1: request verb 1 step 8 (212 bytes) peerid '3d12...'
 *   conn 1: closed without an answer: message over 511 bytes
 *   conn 2: granted 'r'
 *   conn 3: shutdown immediate=0; no answer
 *   conn 3: the client closed after 1003 ms
 * Exits after 120 s in any case (a safety net for an interrupted test). */
#include "config.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* FLoM's daemon buffer is 512 bytes: a message is at most 511. */
#define FLOM_MSG_MAX 511
#define IO_TIMEOUT_MS 10000

static char *opt_port_file;
static char *opt_log;
static gboolean opt_tls;
static char *opt_cert;
static char *opt_key;
static char *opt_ca;
static gboolean opt_check_peer_id;
static char *opt_id;

static const GOptionEntry entries[] = {
  { "port-file", 0, 0, G_OPTION_ARG_FILENAME, &opt_port_file, "write the port here", "FILE" },
  { "log", 0, 0, G_OPTION_ARG_FILENAME, &opt_log, "append events here", "FILE" },
  { "tls", 0, 0, G_OPTION_ARG_NONE, &opt_tls, "TLS on every connection", NULL },
  { "cert", 0, 0, G_OPTION_ARG_FILENAME, &opt_cert, "own certificate (PEM)", "F" },
  { "key", 0, 0, G_OPTION_ARG_FILENAME, &opt_key, "own private key (PEM)", "F" },
  { "ca", 0, 0, G_OPTION_ARG_FILENAME, &opt_ca, "trusted CA certificates (PEM)", "F" },
  { "check-peer-id", 0, 0, G_OPTION_ARG_NONE, &opt_check_peer_id,
    "TlsCheckPeerId=yes: the announced peerid must be the client certificate's CN", NULL },
  { "id", 0, 0, G_OPTION_ARG_STRING, &opt_id,
    "the daemon's own peerid (default: its certificate's CN, or 32 zeros)", "ID" },
  { NULL, 0, 0, 0, NULL, NULL, NULL }
};

static FILE *log_file;
static gnutls_certificate_credentials_t creds;

static void G_GNUC_PRINTF (2, 3)
log_event (unsigned n, const char *format, ...)
{
  va_list ap;

  fprintf (log_file, "conn %u: ", n);
  va_start (ap, format);
  vfprintf (log_file, format, ap);
  va_end (ap);
  fputc ('\n', log_file);
  fflush (log_file);
}

/* One connection: the fd, and the TLS session when there is one. */
typedef struct
{
  unsigned n;
  int fd;
  gnutls_session_t session;
} Conn;

/* Waits for input, at most IO_TIMEOUT_MS.  FALSE on timeout. */
static gboolean
wait_input (const Conn *c)
{
  struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
  int n;

  if (c->session != NULL && gnutls_record_check_pending (c->session) > 0)
    return TRUE;
  do
    n = poll (&pfd, 1, IO_TIMEOUT_MS);
  while (n < 0 && errno == EINTR);
  return n > 0;
}

/* Reads what is there: > 0 bytes, 0 end of stream (or reset), < 0 error
 * or timeout. */
static gssize
conn_recv (const Conn *c, char *buf, gsize len)
{
  gssize n;

  if (!wait_input (c))
    return -1;
  if (c->session != NULL)
    {
      do
        n = gnutls_record_recv (c->session, buf, len);
      while (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED);
      if (n == GNUTLS_E_PREMATURE_TERMINATION)
        return 0;
      return n < 0 ? -1 : n;
    }
  do
    n = recv (c->fd, buf, len, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0 && errno == ECONNRESET)
    return 0;
  return n;
}

static gboolean
conn_send (const Conn *c, const char *data, gsize len)
{
  while (len > 0)
    {
      gssize n;

      if (c->session != NULL)
        {
          do
            n = gnutls_record_send (c->session, data, len);
          while (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED);
        }
      else
        {
          do
            n = send (c->fd, data, len, MSG_NOSIGNAL);
          while (n < 0 && errno == EINTR);
        }
      if (n <= 0)
        return FALSE;
      data += n;
      len -= (gsize)n;
    }
  return TRUE;
}

/* Reads one message (up to and including "</msg>") into msg.  FALSE with
 * *why set: end of stream, error, or over FLOM_MSG_MAX bytes. */
static gboolean
read_message (const Conn *c, GString *msg, const char **why)
{
  g_string_truncate (msg, 0);
  while (strstr (msg->str, "</msg>") == NULL)
    {
      char buf[FLOM_MSG_MAX + 1];
      gssize n;

      if (msg->len >= FLOM_MSG_MAX)
        {
          *why = "message over 511 bytes";
          return FALSE;
        }
      n = conn_recv (c, buf, FLOM_MSG_MAX + 1 - msg->len);
      if (n <= 0)
        {
          *why = n == 0 ? "end of stream" : "read error or timeout";
          return FALSE;
        }
      g_string_append_len (msg, buf, n);
    }
  return TRUE;
}

/* The value of attribute NAME (first occurrence), or NULL. */
static char *
attr (const char *msg, const char *name)
{
  g_autofree char *key = g_strdup_printf (" %s=\"", name);
  const char *p = strstr (msg, key);
  const char *end;

  if (p == NULL)
    return NULL;
  p += strlen (key);
  end = strchr (p, '"');
  return end != NULL ? g_strndup (p, (gsize)(end - p)) : NULL;
}

/* The last CN of a certificate's subject (FLoM's rule), or NULL. */
static char *
last_cn (gnutls_x509_crt_t crt)
{
  char *cn = NULL;

  for (unsigned i = 0;; i++)
    {
      char buf[256];
      size_t size = sizeof buf;

      if (gnutls_x509_crt_get_dn_by_oid (crt, GNUTLS_OID_X520_COMMON_NAME, i, 0, buf, &size)
          < 0)
        break;
      g_free (cn);
      cn = g_strndup (buf, size);
    }
  return cn;
}

/* The client's certificate CN after the handshake, or NULL when there is
 * no certificate or its chain does not verify (FLoM closes then). */
static char *
client_cn (const Conn *c, const char **why)
{
  const gnutls_datum_t *list;
  unsigned int n = 0, status = 0;
  gnutls_x509_crt_t crt;
  char *cn;

  list = gnutls_certificate_get_peers (c->session, &n);
  if (list == NULL || n == 0)
    {
      *why = "no client certificate";
      return NULL;
    }
  if (gnutls_certificate_verify_peers3 (c->session, NULL, &status) < 0 || status != 0)
    {
      *why = "the client's chain does not verify";
      return NULL;
    }
  if (gnutls_x509_crt_init (&crt) < 0)
    return NULL;
  if (gnutls_x509_crt_import (crt, &list[0], GNUTLS_X509_FMT_DER) < 0)
    {
      gnutls_x509_crt_deinit (crt);
      *why = "the client's certificate does not parse";
      return NULL;
    }
  cn = last_cn (crt);
  gnutls_x509_crt_deinit (crt);
  if (cn == NULL)
    *why = "the client's certificate has no CN";
  return cn;
}

/* After a grant or a shutdown: read until the client closes. */
static void
drain_until_close (const Conn *c, gboolean log_unlock)
{
  gint64 start = g_get_monotonic_time ();
  g_autoptr (GString) msg = g_string_new (NULL);

  for (;;)
    {
      const char *why = NULL;

      if (!read_message (c, msg, &why))
        {
          log_event (c->n, "the client closed after %" G_GINT64_FORMAT " ms (%s)",
                     (g_get_monotonic_time () - start) / 1000, why);
          return;
        }
      if (log_unlock)
        {
          g_autofree char *verb = attr (msg->str, "verb");
          log_event (c->n, "message verb %s", verb != NULL ? verb : "?");
        }
    }
}

/* Serves one connection; FALSE when the daemon must exit (-X). */
static gboolean
serve (Conn *c, const char *own_id)
{
  g_autoptr (GString) msg = g_string_new (NULL);
  g_autofree char *cn = NULL;
  g_autofree char *verb = NULL;
  g_autofree char *step = NULL;
  g_autofree char *peerid = NULL;
  const char *why = NULL;

  if (opt_tls)
    {
      int rc;

      gnutls_init (&c->session, GNUTLS_SERVER);
      gnutls_set_default_priority (c->session);
      gnutls_credentials_set (c->session, GNUTLS_CRD_CERTIFICATE, creds);
      gnutls_certificate_server_set_request (c->session, GNUTLS_CERT_REQUIRE);
      gnutls_transport_set_int (c->session, c->fd);
      gnutls_handshake_set_timeout (c->session, IO_TIMEOUT_MS);
      do
        rc = gnutls_handshake (c->session);
      while (rc < 0 && !gnutls_error_is_fatal (rc));
      if (rc < 0)
        {
          /* As FLoM's: no alert, the connection is just closed. */
          log_event (c->n, "closed without an answer: TLS handshake failed: %s",
                     gnutls_strerror (rc));
          return TRUE;
        }
      cn = client_cn (c, &why);
      if (cn == NULL)
        {
          log_event (c->n, "closed without an answer: %s", why);
          return TRUE;
        }
    }
  if (!read_message (c, msg, &why))
    {
      log_event (c->n, "closed without an answer: %s", why);
      return TRUE;
    }
  verb = attr (msg->str, "verb");
  step = attr (msg->str, "step");
  peerid = attr (msg->str, "peerid");
  log_event (c->n, "request verb %s step %s (%" G_GSIZE_FORMAT " bytes) peerid '%s'",
             verb != NULL ? verb : "?", step != NULL ? step : "?", msg->len,
             peerid != NULL ? peerid : "");
  if (opt_check_peer_id
      && (peerid == NULL || *peerid == '\0' || g_strcmp0 (peerid, cn) != 0))
    {
      log_event (c->n, "closed without an answer: peer id '%s' is not the certificate's "
                 "CN '%s'", peerid != NULL ? peerid : "", cn);
      return TRUE;
    }
  if (g_strcmp0 (verb, "1") == 0 && g_strcmp0 (step, "8") == 0)
    {
      g_autofree char *b64 = attr (msg->str, "name");
      g_autofree char *answer = g_strdup_printf (
          "<?xml version=\"1.0\" encoding=\"UTF-8\" ?><msg level=\"3\" verb=\"1\" "
          "step=\"16\"><session peerid=\"%s\"/><answer rc=\"0\"/></msg>", own_id);
      gsize len = 0;
      g_autofree guchar *name = g_base64_decode (b64 != NULL ? b64 : "", &len);

      if (!conn_send (c, answer, strlen (answer)))
        {
          log_event (c->n, "sending the grant failed");
          return TRUE;
        }
      log_event (c->n, "granted '%.*s'", (int)len, (const char *)name);
      drain_until_close (c, TRUE);
      return TRUE;
    }
  if (g_strcmp0 (verb, "5") == 0 && g_strcmp0 (step, "8") == 0)
    {
      g_autofree char *immediate = attr (msg->str, "immediate");

      log_event (c->n, "shutdown immediate=%s; no answer", immediate != NULL ? immediate : "?");
      if (g_strcmp0 (immediate, "0") != 0)
        return FALSE; /* -X: FLoM's daemon exits at once */
      drain_until_close (c, FALSE);
      return TRUE;
    }
  log_event (c->n, "closed without an answer: unexpected first message");
  return TRUE;
}

static gboolean
write_port_file (int port)
{
  g_autofree char *tmp = g_strdup_printf ("%s.tmp", opt_port_file);
  g_autofree char *text = g_strdup_printf ("%d\n", port);

  return g_file_set_contents (tmp, text, -1, NULL) && g_rename (tmp, opt_port_file) == 0;
}

int
main (int argc, char **argv)
{
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- a FLoM daemon stand-in");
  g_autoptr (GError) error = NULL;
  g_autofree char *own_id = NULL;
  struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t sin_len = sizeof sin;
  int lfd;
  int one = 1;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || opt_port_file == NULL
      || opt_log == NULL
      || (opt_tls && (opt_cert == NULL || opt_key == NULL || opt_ca == NULL))
      || (opt_check_peer_id && !opt_tls))
    {
      fprintf (stderr, "fake-flom: %s\n",
               error != NULL ? error->message
                             : "give --port-file and --log, and with --tls the three files "
                               "(--check-peer-id needs --tls)");
      return 2;
    }
  signal (SIGPIPE, SIG_IGN);
  alarm (120);
  log_file = fopen (opt_log, "a");
  if (log_file == NULL)
    {
      fprintf (stderr, "fake-flom: %s: %s\n", opt_log, g_strerror (errno));
      return 2;
    }
  if (opt_tls)
    {
      gnutls_x509_crt_t *list = NULL;
      unsigned int n = 0;
      gnutls_datum_t pem = { NULL, 0 };
      int rc;

      gnutls_global_init ();
      gnutls_certificate_allocate_credentials (&creds);
      rc = gnutls_certificate_set_x509_key_file (creds, opt_cert, opt_key, GNUTLS_X509_FMT_PEM);
      if (rc >= 0)
        rc = gnutls_certificate_set_x509_trust_file (creds, opt_ca, GNUTLS_X509_FMT_PEM);
      if (rc < 0)
        {
          fprintf (stderr, "fake-flom: credentials: %s\n", gnutls_strerror (rc));
          return 2;
        }
      if (opt_id == NULL && gnutls_load_file (opt_cert, &pem) >= 0)
        {
          if (gnutls_x509_crt_list_import2 (&list, &n, &pem, GNUTLS_X509_FMT_PEM, 0) >= 0)
            {
              if (n > 0)
                own_id = last_cn (list[0]);
              for (unsigned i = 0; i < n; i++)
                gnutls_x509_crt_deinit (list[i]);
              gnutls_free (list);
            }
          gnutls_free (pem.data);
        }
    }
  if (own_id == NULL)
    own_id = g_strdup (opt_id != NULL ? opt_id : "00000000000000000000000000000000");

  lfd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lfd < 0 || setsockopt (lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0
      || bind (lfd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen (lfd, 100) < 0
      || getsockname (lfd, (struct sockaddr *)&sin, &sin_len) < 0
      || !write_port_file (ntohs (sin.sin_port)))
    {
      fprintf (stderr, "fake-flom: cannot listen: %s\n", g_strerror (errno));
      return 2;
    }

  for (unsigned n = 1;; n++)
    {
      Conn c = { n, -1, NULL };
      gboolean go_on;

      do
        c.fd = accept4 (lfd, NULL, NULL, SOCK_CLOEXEC);
      while (c.fd < 0 && errno == EINTR);
      if (c.fd < 0)
        {
          fprintf (stderr, "fake-flom: accept: %s\n", g_strerror (errno));
          return 1;
        }
      go_on = serve (&c, own_id);
      /* FLoM sends no close_notify. */
      if (c.session != NULL)
        gnutls_deinit (c.session);
      close (c.fd);
      if (!go_on)
        break;
    }
  close (lfd);
  if (creds != NULL)
    gnutls_certificate_free_credentials (creds);
  fclose (log_file);
  return 0;
}
