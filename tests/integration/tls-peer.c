/* tls-peer: a raw TLS client for the integration tests, built on GnuTLS
 * alone (no latch code), so that it says what a latch client would not:
 * the negotiated version and cipher, how many certificates the daemon
 * sent, the alert a refusal carried, and how a daemon treats a client
 * that stalls in the handshake.
 *
 *   tls-peer [--unix PATH | --tcp HOST:PORT] [--cert F --key F] --ca F
 *            [--priority P] [--send TEXT] [--until TEXT] [--clear]
 *            [--stall-before-hello | --stall-after-hello] [--timeout MS]
 *
 * Default: TLS client handshake; the daemon's chain is verified against
 * --ca with key purpose "TLS WWW server" and no host name.  Prints
 *   version TLS1.3 / cipher AES-256-GCM / peer-certs N / peer-cn CN
 * then sends TEXT (if any) and prints everything received until end of
 * file, --until TEXT is seen, or --timeout (default 10000 ms) passes:
 *   recv: BYTES          (escaped by latch_text_quote (): \n, \r, other
 *                         control bytes as \ooo)
 *   end: eof | reset | until | timeout
 * --clear: the same without TLS.
 * --stall-before-hello: connect ("connected"), send nothing, wait for the
 *   peer to close.
 * --stall-after-hello: send a ClientHello ("hello sent"), then stop
 *   responding.
 *   Either prints "closed after N ms" when the peer closes (exit 0) or
 *   "timeout after N ms" (exit 3).
 *
 * Exit: 0 completed exchange, 1 TLS failure ("error: TEXT", and
 * "alert: NAME" when an alert was received), 2 usage or connect error,
 * 3 stall timeout. */
#include "config.h"

#include "common/text.h"
#include "x509/x509-util.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum
{
  EXIT_DONE = 0,
  EXIT_TLS = 1,
  EXIT_USAGE = 2,
  EXIT_STALL_TIMEOUT = 3,
};

static char *opt_unix;
static char *opt_tcp;
static char *opt_cert;
static char *opt_key;
static char *opt_ca;
static char *opt_priority;
static char *opt_send;
static char *opt_until;
static gboolean opt_clear;
static gboolean opt_stall_before;
static gboolean opt_stall_after;
static int opt_timeout = 10000;

static const GOptionEntry entries[] = {
  { "unix", 0, 0, G_OPTION_ARG_FILENAME, &opt_unix, "UNIX socket to connect to", "PATH" },
  { "tcp", 0, 0, G_OPTION_ARG_STRING, &opt_tcp, "TCP address to connect to", "HOST:PORT" },
  { "cert", 0, 0, G_OPTION_ARG_FILENAME, &opt_cert, "own certificate (PEM)", "F" },
  { "key", 0, 0, G_OPTION_ARG_FILENAME, &opt_key, "own private key (PEM)", "F" },
  { "ca", 0, 0, G_OPTION_ARG_FILENAME, &opt_ca, "trusted CA certificates (PEM)", "F" },
  { "priority", 0, 0, G_OPTION_ARG_STRING, &opt_priority, "GnuTLS priority string", "P" },
  { "send", 0, 0, G_OPTION_ARG_STRING, &opt_send, "text to send after the handshake", "TEXT" },
  { "until", 0, 0, G_OPTION_ARG_STRING, &opt_until, "stop reading once TEXT was received", "TEXT" },
  { "clear", 0, 0, G_OPTION_ARG_NONE, &opt_clear, "no TLS: send TEXT in clear", NULL },
  { "stall-before-hello", 0, 0, G_OPTION_ARG_NONE, &opt_stall_before, "connect, send nothing", NULL },
  { "stall-after-hello", 0, 0, G_OPTION_ARG_NONE, &opt_stall_after, "send a ClientHello, then nothing", NULL },
  { "timeout", 0, 0, G_OPTION_ARG_INT, &opt_timeout, "overall time limit (default 10000)", "MS" },
  { NULL, 0, 0, 0, NULL, NULL, NULL }
};

static gint64 deadline_us;

static int
remaining_ms (void)
{
  gint64 left = deadline_us - g_get_monotonic_time ();

  if (left <= 0)
    return 0;
  return (int)((left + 999) / 1000);
}

static void
set_nonblocking (int fd)
{
  int flags = fcntl (fd, F_GETFL);

  if (flags >= 0)
    fcntl (fd, F_SETFL, flags | O_NONBLOCK);
}

/* Waits for a non-blocking connect() on FD; TRUE once connected. */
static gboolean
finish_connect (int fd, const char *what)
{
  struct pollfd pfd = { .fd = fd, .events = POLLOUT };
  int err = 0;
  socklen_t len = sizeof err;
  int n;

  do
    n = poll (&pfd, 1, remaining_ms ());
  while (n < 0 && errno == EINTR);
  if (n == 0)
    {
      printf ("connect %s: timed out\n", what);
      return FALSE;
    }
  if (n < 0 || getsockopt (fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
    err = errno;
  if (err != 0)
    {
      printf ("connect %s: %s\n", what, g_strerror (err));
      return FALSE;
    }
  return TRUE;
}

static int
connect_unix (const char *path)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  int fd;

  if (strlen (path) >= sizeof sun.sun_path)
    {
      printf ("connect %s: path too long\n", path);
      return -1;
    }
  strcpy (sun.sun_path, path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  set_nonblocking (fd);
  if (connect (fd, (struct sockaddr *)&sun, sizeof sun) < 0
      && (errno != EINPROGRESS && errno != EAGAIN))
    {
      printf ("connect %s: %s\n", path, g_strerror (errno));
      close (fd);
      return -1;
    }
  if (!finish_connect (fd, path))
    {
      close (fd);
      return -1;
    }
  return fd;
}

/* HOST:PORT, [V6]:PORT or V6:PORT (the last colon separates). */
static int
connect_tcp (const char *spec)
{
  g_autofree char *host = NULL;
  const char *colon = strrchr (spec, ':');
  struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
  struct addrinfo *res = NULL;
  int fd = -1;
  int rc;

  if (colon == NULL || colon == spec || colon[1] == '\0')
    {
      printf ("bad --tcp %s: want HOST:PORT\n", spec);
      return -1;
    }
  if (spec[0] == '[' && colon[-1] == ']')
    host = g_strndup (spec + 1, (gsize)(colon - spec - 2));
  else
    host = g_strndup (spec, (gsize)(colon - spec));
  rc = getaddrinfo (host, colon + 1, &hints, &res);
  if (rc != 0)
    {
      printf ("resolve %s: %s\n", spec, gai_strerror (rc));
      return -1;
    }
  fd = socket (res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0)
    {
      set_nonblocking (fd);
      if (connect (fd, res->ai_addr, res->ai_addrlen) < 0
          && errno != EINPROGRESS)
        {
          printf ("connect %s: %s\n", spec, g_strerror (errno));
          close (fd);
          fd = -1;
        }
      else if (!finish_connect (fd, spec))
        {
          close (fd);
          fd = -1;
        }
    }
  freeaddrinfo (res);
  return fd;
}

/* Prints "recv: " and BUF, escaped as latch escapes peer text. */
static void
print_received (const GString *buf)
{
  g_autofree char *text
      = latch_text_quote (buf->str, (gssize)buf->len, G_MAXSIZE,
                          LATCH_QUOTE_BARE | LATCH_QUOTE_C_ESCAPES);

  printf ("recv: %s\n", text);
}

static gboolean
has_until (const GString *buf)
{
  return opt_until != NULL && strstr (buf->str, opt_until) != NULL;
}

/* Blocks (bounded) until FD is ready for EVENTS; FALSE on timeout. */
static gboolean
wait_fd (int fd, short events)
{
  struct pollfd pfd = { .fd = fd, .events = events };
  int n;

  do
    n = poll (&pfd, 1, remaining_ms ());
  while (n < 0 && errno == EINTR);
  return n > 0;
}

static gboolean
write_all_clear (int fd, const char *text, gsize len)
{
  while (len > 0)
    {
      ssize_t n = send (fd, text, len, MSG_NOSIGNAL);

      if (n < 0 && (errno == EAGAIN || errno == EINTR))
        {
          if (!wait_fd (fd, POLLOUT))
            {
              printf ("send: timed out\n");
              return FALSE;
            }
          continue;
        }
      if (n < 0)
        {
          printf ("send: %s\n", g_strerror (errno));
          return FALSE;
        }
      text += n;
      len -= (gsize)n;
    }
  return TRUE;
}

static int
run_clear (int fd)
{
  g_autoptr (GString) buf = g_string_new (NULL);
  const char *end = "timeout";
  char chunk[4096];

  if (opt_send != NULL && !write_all_clear (fd, opt_send, strlen (opt_send)))
    {
      print_received (buf);
      printf ("end: reset\n");
      return EXIT_DONE;
    }
  while (!has_until (buf))
    {
      ssize_t n = recv (fd, chunk, sizeof chunk, 0);

      if (n > 0)
        {
          g_string_append_len (buf, chunk, n);
          continue;
        }
      if (n == 0)
        {
          end = "eof";
          break;
        }
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN)
        {
          end = "reset";
          break;
        }
      if (!wait_fd (fd, POLLIN))
        break;
    }
  if (has_until (buf))
    end = "until";
  print_received (buf);
  printf ("end: %s\n", end);
  return EXIT_DONE;
}

/* Waits for the peer to close FD, discarding what it sends. */
static int
wait_for_close (int fd, gint64 since_us)
{
  char chunk[4096];

  for (;;)
    {
      ssize_t n = recv (fd, chunk, sizeof chunk, 0);

      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        {
          printf ("closed after %" G_GINT64_FORMAT " ms\n",
                  (g_get_monotonic_time () - since_us) / 1000);
          return EXIT_DONE;
        }
      if (n > 0 || errno == EINTR)
        continue;
      if (!wait_fd (fd, POLLIN))
        {
          printf ("timeout after %" G_GINT64_FORMAT " ms\n",
                  (g_get_monotonic_time () - since_us) / 1000);
          return EXIT_STALL_TIMEOUT;
        }
    }
}

/* Reports a GnuTLS failure, with the alert if one came. */
static int
tls_failure (gnutls_session_t session, const char *what, int ret)
{
  printf ("error: %s: %s\n", what, gnutls_strerror (ret));
  if (ret == GNUTLS_E_FATAL_ALERT_RECEIVED || ret == GNUTLS_E_WARNING_ALERT_RECEIVED)
    {
      const char *name = gnutls_alert_get_name (gnutls_alert_get (session));

      printf ("alert: %s\n", name != NULL ? name : "unknown");
    }
  return EXIT_TLS;
}

/* Transport pull for --stall-after-hello: nothing ever arrives, so the
 * handshake stops right after the ClientHello went out. */
static ssize_t
pull_nothing (gnutls_transport_ptr_t ptr, void *data, size_t len)
{
  errno = EAGAIN;
  return -1;
}

/* Waits for the direction GnuTLS wants; FALSE on timeout. */
static gboolean
tls_wait (gnutls_session_t session, int fd)
{
  return wait_fd (fd, gnutls_record_get_direction (session) ? POLLOUT : POLLIN);
}

static void
print_peer (gnutls_session_t session)
{
  const gnutls_datum_t *certs;
  unsigned int n = 0;

  printf ("version %s\n", gnutls_protocol_get_name (gnutls_protocol_get_version (session)));
  printf ("cipher %s\n", gnutls_cipher_get_name (gnutls_cipher_get (session)));
  certs = gnutls_certificate_get_peers (session, &n);
  printf ("peer-certs %u\n", n);
  if (certs != NULL && n > 0)
    {
      gnutls_x509_crt_t crt;

      if (gnutls_x509_crt_init (&crt) == 0)
        {
          /* The identity as latch reads it: the last CN. */
          g_autofree char *cn = NULL;

          if (gnutls_x509_crt_import (crt, &certs[0], GNUTLS_X509_FMT_DER) == 0)
            cn = latch_x509_crt_last_cn (crt);
          printf ("peer-cn %s\n", cn != NULL ? cn : "");
          gnutls_x509_crt_deinit (crt);
        }
    }
  fflush (stdout);
}

static int
verify_peer (gnutls_session_t session)
{
  gnutls_typed_vdata_st data = {
    .type = GNUTLS_DT_KEY_PURPOSE_OID,
    .data = (unsigned char *)GNUTLS_KP_TLS_WWW_SERVER,
  };
  unsigned int status = 0;
  gnutls_datum_t text = { NULL, 0 };
  int ret;

  ret = gnutls_certificate_verify_peers (session, &data, 1, &status);
  if (ret < 0)
    return tls_failure (session, "verify", ret);
  if (status == 0)
    return EXIT_DONE;
  gnutls_certificate_verification_status_print (status, GNUTLS_CRT_X509, &text, 0);
  printf ("error: verify: %s\n", text.data != NULL ? (char *)text.data : "not trusted");
  gnutls_free (text.data);
  return EXIT_TLS;
}

static int
run_tls (int fd)
{
  gnutls_certificate_credentials_t cred = NULL;
  gnutls_session_t session = NULL;
  g_autoptr (GString) buf = g_string_new (NULL);
  const char *end = "timeout";
  const char *err_pos = NULL;
  int result = EXIT_DONE;
  int ret;

  if ((ret = gnutls_certificate_allocate_credentials (&cred)) < 0)
    {
      printf ("error: credentials: %s\n", gnutls_strerror (ret));
      return EXIT_USAGE;
    }
  ret = gnutls_certificate_set_x509_trust_file (cred, opt_ca, GNUTLS_X509_FMT_PEM);
  if (ret <= 0)
    {
      printf ("error: CA file %s: %s\n", opt_ca, ret < 0 ? gnutls_strerror (ret) : "no certificate");
      result = EXIT_USAGE;
      goto out;
    }
  if (opt_cert != NULL)
    {
      ret = gnutls_certificate_set_x509_key_file (cred, opt_cert, opt_key, GNUTLS_X509_FMT_PEM);
      if (ret < 0)
        {
          printf ("error: certificate %s / key %s: %s\n", opt_cert, opt_key, gnutls_strerror (ret));
          result = EXIT_USAGE;
          goto out;
        }
    }
  gnutls_init (&session, GNUTLS_CLIENT | GNUTLS_NONBLOCK);
  if (opt_priority != NULL)
    ret = gnutls_priority_set_direct (session, opt_priority, &err_pos);
  else
    ret = gnutls_set_default_priority (session);
  if (ret < 0)
    {
      printf ("error: priority %s: %s\n", err_pos != NULL ? err_pos : "", gnutls_strerror (ret));
      result = EXIT_USAGE;
      goto out;
    }
  gnutls_credentials_set (session, GNUTLS_CRD_CERTIFICATE, cred);
  gnutls_transport_set_int (session, fd);

  if (opt_stall_after)
    {
      gint64 since = g_get_monotonic_time ();

      /* One step: the ClientHello goes out, then we never answer. */
      gnutls_transport_set_pull_function (session, pull_nothing);
      ret = gnutls_handshake (session);
      if (ret < 0 && ret != GNUTLS_E_AGAIN && ret != GNUTLS_E_INTERRUPTED)
        {
          result = tls_failure (session, "handshake", ret);
          goto out;
        }
      printf ("hello sent\n");
      fflush (stdout);
      result = wait_for_close (fd, since);
      goto out;
    }

  for (;;)
    {
      ret = gnutls_handshake (session);
      if (ret == 0)
        break;
      if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED)
        {
          if (!tls_wait (session, fd))
            {
              printf ("error: handshake: timed out\n");
              result = EXIT_TLS;
              goto out;
            }
          continue;
        }
      if (!gnutls_error_is_fatal (ret) && ret != GNUTLS_E_WARNING_ALERT_RECEIVED)
        continue;
      result = tls_failure (session, "handshake", ret);
      goto out;
    }
  print_peer (session);
  if ((result = verify_peer (session)) != EXIT_DONE)
    goto out;

  if (opt_send != NULL)
    {
      const char *p = opt_send;
      gsize left = strlen (opt_send);

      while (left > 0)
        {
          ssize_t n = gnutls_record_send (session, p, left);

          if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            {
              if (!tls_wait (session, fd))
                {
                  printf ("error: send: timed out\n");
                  result = EXIT_TLS;
                  goto out;
                }
              /* GnuTLS wants the same call again after E_AGAIN. */
              continue;
            }
          if (n < 0)
            {
              /* The daemon may have refused us and closed: show what it
               * said before that. */
              result = tls_failure (session, "send", (int)n);
              goto out;
            }
          p += n;
          left -= (gsize)n;
        }
    }

  while (!has_until (buf))
    {
      char chunk[4096];
      ssize_t n = gnutls_record_recv (session, chunk, sizeof chunk);

      if (n > 0)
        {
          g_string_append_len (buf, chunk, n);
          continue;
        }
      if (n == 0 || n == GNUTLS_E_PREMATURE_TERMINATION)
        {
          end = "eof";
          break;
        }
      if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
        {
          if (gnutls_record_check_pending (session) > 0)
            continue;
          if (!tls_wait (session, fd))
            break;
          continue;
        }
      if (n == GNUTLS_E_PULL_ERROR || n == GNUTLS_E_PUSH_ERROR)
        {
          end = "reset";
          break;
        }
      if (n == GNUTLS_E_REHANDSHAKE || n == GNUTLS_E_WARNING_ALERT_RECEIVED
          || !gnutls_error_is_fatal ((int)n))
        continue;
      print_received (buf);
      result = tls_failure (session, "recv", (int)n);
      goto out;
    }
  if (has_until (buf))
    end = "until";
  print_received (buf);
  printf ("end: %s\n", end);

out:
  if (session != NULL)
    gnutls_deinit (session);
  gnutls_certificate_free_credentials (cred);
  return result;
}

int
main (int argc, char **argv)
{
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- raw TLS peer for the latch tests");
  g_autoptr (GError) error = NULL;
  int fd;
  int result;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      printf ("usage: %s\n", error->message);
      return EXIT_USAGE;
    }
  if ((opt_unix == NULL) == (opt_tcp == NULL))
    {
      printf ("usage: exactly one of --unix and --tcp\n");
      return EXIT_USAGE;
    }
  if ((opt_cert == NULL) != (opt_key == NULL))
    {
      printf ("usage: --cert and --key go together\n");
      return EXIT_USAGE;
    }
  if (opt_stall_before + opt_stall_after + opt_clear > 1)
    {
      printf ("usage: --clear, --stall-before-hello and --stall-after-hello exclude each other\n");
      return EXIT_USAGE;
    }
  if (!opt_clear && !opt_stall_before && opt_ca == NULL)
    {
      printf ("usage: --ca is required for TLS\n");
      return EXIT_USAGE;
    }
  if (opt_timeout <= 0)
    {
      printf ("usage: --timeout must be positive\n");
      return EXIT_USAGE;
    }

  signal (SIGPIPE, SIG_IGN);
  setvbuf (stdout, NULL, _IOLBF, 0);
  deadline_us = g_get_monotonic_time () + (gint64)opt_timeout * 1000;

  fd = opt_unix != NULL ? connect_unix (opt_unix) : connect_tcp (opt_tcp);
  if (fd < 0)
    return EXIT_USAGE;

  if (opt_stall_before)
    {
      printf ("connected\n");
      result = wait_for_close (fd, g_get_monotonic_time ());
    }
  else if (opt_clear)
    result = run_clear (fd);
  else
    result = run_tls (fd);
  close (fd);
  return result;
}
