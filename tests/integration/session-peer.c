/* session-peer: a raw client of the session extension for the
 * integration tests (doc/protocol.md), on sockets and GnuTLS alone (no
 * latch code), so that what it checks is the daemon's bytes, not the
 * client library's reading of them.
 *
 *   session-peer [--unix PATH | --tcp HOST:PORT] [--peerid ID]
 *                [--ca F [--cert F --key F]] [--timeout MS] < SCRIPT
 *
 * --ca: TLS (the daemon's chain verified against F); --cert/--key: the
 * client certificate (mutual level); --peerid: the ID announced in
 * <session>; --timeout: the bound of every wait (default 5000 ms).
 *
 * SCRIPT has one command a line (blank lines and # comments skipped).
 * Messages are gathered and go out in ONE write just before the next
 * command that waits or closes, so that consecutive requests are
 * pipelined.  NAME is sent base64-encoded, as on the wire.
 *   offer ID NAME MODE WAIT TIMEOUT  the first request: ext="1", timeout
 *                                    (0: no timeout attribute)
 *   lock ID NAME MODE WAIT           a request with id ID
 *   legacy NAME MODE WAIT            a FLoM request (no ext, no id)
 *   unlock ID NAME [ROLLBACK]        unlock by id (ID 0: FLoM's, no id)
 *   ping                             3/8
 *   raw TEXT                         TEXT as it is
 *   expect STEP ID RC [ext=E]        the next message is a lock answer
 *                                    1/STEP with id ID (0: none; *: any)
 *                                    and rc RC
 *                                    (and ext E; without ext=, none)
 *   expect-pong                      the next message is 3/16
 *   expect-eof                       the daemon closes, nothing before;
 *                                    prints "eof after N ms" (since the
 *                                    last message went out: the daemon's
 *                                    timeout counts from its arrival)
 *   ping-for MS PERIOD               pings every PERIOD ms during MS ms,
 *                                    each answered before the next
 *   idle MS                          sends nothing for MS ms, and fails
 *                                    if anything arrives meanwhile
 *   ask WHAT [NAME [ID]]             a status query (verb 6) on a connection
 *                                    of its own from this process (as
 *                                    `latch` asks): <session peerid> with
 *                                    --peerid; over TCP port= is this
 *                                    connection's local port.  Prints
 *                                    "line: TEXT" per line (unescaped),
 *                                    then "end: RC REASON", and wants EOF
 *   touch FILE / wait-file FILE      signal to / wait for the test script
 *   close                            closes the connection (EOF)
 * Every message received is printed ("recv: TEXT"), each command too.
 * Exit: 0 the script ran through, 1 an expectation failed (it says
 * which), 2 usage, connect or TLS error. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <gnutls/gnutls.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define DECL "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>"

static char *opt_unix;
static char *opt_tcp;
static char *opt_peerid;
static char *opt_ca;
static char *opt_cert;
static char *opt_key;
static int opt_timeout = 5000;

static const GOptionEntry entries[] = {
  { "unix", 0, 0, G_OPTION_ARG_FILENAME, &opt_unix, "UNIX socket to connect to", "PATH" },
  { "tcp", 0, 0, G_OPTION_ARG_STRING, &opt_tcp, "TCP address to connect to", "HOST:PORT" },
  { "peerid", 0, 0, G_OPTION_ARG_STRING, &opt_peerid, "ID announced in <session>", "ID" },
  { "ca", 0, 0, G_OPTION_ARG_FILENAME, &opt_ca, "TLS: trusted CA certificates (PEM)", "F" },
  { "cert", 0, 0, G_OPTION_ARG_FILENAME, &opt_cert, "TLS: own certificate (PEM)", "F" },
  { "key", 0, 0, G_OPTION_ARG_FILENAME, &opt_key, "TLS: own private key (PEM)", "F" },
  { "timeout", 0, 0, G_OPTION_ARG_INT, &opt_timeout, "bound of every wait (ms)", "MS" },
  { NULL, 0, 0, 0, NULL, NULL, NULL }
};

typedef struct
{
  int fd;
  gnutls_session_t tls;   /* NULL: clear */
  gnutls_certificate_credentials_t cred; /* with tls */
  GString *out;           /* gathered, not sent yet */
  GString *in;            /* received, not a whole message yet */
  gboolean eof;
  gint64 last_sent_us;    /* when the last message went out */
} Peer;

static void
set_nonblocking (int fd)
{
  int flags = fcntl (fd, F_GETFL);

  if (flags >= 0)
    fcntl (fd, F_SETFL, flags | O_NONBLOCK);
}

static int
connect_unix (const char *path)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  int fd;

  if (strlen (path) >= sizeof sun.sun_path)
    return -1;
  strcpy (sun.sun_path, path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && connect (fd, (struct sockaddr *)&sun, sizeof sun) < 0)
    {
      printf ("connect %s: %s\n", path, g_strerror (errno));
      close (fd);
      return -1;
    }
  return fd;
}

/* HOST:PORT (the last colon separates; [V6]:PORT too). */
static int
connect_tcp (const char *spec)
{
  g_autofree char *host = NULL;
  const char *colon = strrchr (spec, ':');
  struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
  struct addrinfo *res = NULL;
  int fd;

  if (colon == NULL || colon == spec)
    return -1;
  if (spec[0] == '[' && colon[-1] == ']')
    host = g_strndup (spec + 1, (gsize)(colon - spec - 2));
  else
    host = g_strndup (spec, (gsize)(colon - spec));
  if (getaddrinfo (host, colon + 1, &hints, &res) != 0)
    {
      printf ("resolve %s: failed\n", spec);
      return -1;
    }
  fd = socket (res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && connect (fd, res->ai_addr, res->ai_addrlen) < 0)
    {
      printf ("connect %s: %s\n", spec, g_strerror (errno));
      close (fd);
      fd = -1;
    }
  freeaddrinfo (res);
  return fd;
}

/* Waits (at most until deadline_us) for fd to be ready; FALSE on timeout. */
static gboolean
wait_fd (int fd, short events, gint64 deadline_us)
{
  gint64 left = deadline_us - g_get_monotonic_time ();
  struct pollfd pfd = { .fd = fd, .events = events };
  int n;

  if (left < 0)
    left = 0;
  do
    n = poll (&pfd, 1, (int)((left + 999) / 1000));
  while (n < 0 && errno == EINTR);
  return n > 0;
}

static gboolean
tls_start (Peer *p)
{
  gnutls_certificate_credentials_t cred;
  gint64 deadline = g_get_monotonic_time () + (gint64)opt_timeout * 1000;
  unsigned int status = 0;
  int ret;

  gnutls_certificate_allocate_credentials (&cred);
  p->cred = cred;
  if (gnutls_certificate_set_x509_trust_file (cred, opt_ca, GNUTLS_X509_FMT_PEM) <= 0
      || (opt_cert != NULL
          && gnutls_certificate_set_x509_key_file (cred, opt_cert, opt_key,
                                                   GNUTLS_X509_FMT_PEM) < 0))
    {
      printf ("error: TLS files\n");
      return FALSE;
    }
  gnutls_init (&p->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK);
  gnutls_set_default_priority (p->tls);
  gnutls_credentials_set (p->tls, GNUTLS_CRD_CERTIFICATE, cred);
  gnutls_transport_set_int (p->tls, p->fd);
  while ((ret = gnutls_handshake (p->tls)) < 0)
    {
      if ((ret != GNUTLS_E_AGAIN && ret != GNUTLS_E_INTERRUPTED)
          || !wait_fd (p->fd, gnutls_record_get_direction (p->tls) ? POLLOUT : POLLIN,
                       deadline))
        {
          printf ("error: handshake: %s\n", gnutls_strerror (ret));
          return FALSE;
        }
    }
  if (gnutls_certificate_verify_peers2 (p->tls, &status) < 0 || status != 0)
    {
      printf ("error: the daemon's certificate is not trusted\n");
      return FALSE;
    }
  /* The credentials must outlive the session: kept until exit. */
  return TRUE;
}

/* Sends what was gathered, in one write as far as the socket takes it. */
static gboolean
flush_out (Peer *p)
{
  gint64 deadline = g_get_monotonic_time () + (gint64)opt_timeout * 1000;
  gsize done = 0;

  while (done < p->out->len)
    {
      ssize_t n;

      if (p->tls != NULL)
        n = gnutls_record_send (p->tls, p->out->str + done, p->out->len - done);
      else
        n = send (p->fd, p->out->str + done, p->out->len - done, MSG_NOSIGNAL);
      if (n > 0)
        {
          done += (gsize)n;
          continue;
        }
      if ((p->tls != NULL && (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED))
          || (p->tls == NULL && n < 0 && (errno == EAGAIN || errno == EINTR)))
        {
          if (!wait_fd (p->fd, POLLOUT, deadline))
            break;
          continue;
        }
      break;
    }
  if (done < p->out->len)
    {
      printf ("send failed\n");
      return FALSE;
    }
  if (p->out->len > 0)
    p->last_sent_us = g_get_monotonic_time ();
  g_string_truncate (p->out, 0);
  return TRUE;
}

/* The next whole message (transfer full), NULL at EOF or when nothing
 * came before deadline_us. */
static char *
next_msg (Peer *p, gint64 deadline_us)
{
  for (;;)
    {
      const char *end = strstr (p->in->str, "</msg>");
      char chunk[4096];
      ssize_t n;

      if (end != NULL)
        {
          gsize len = (gsize)(end - p->in->str) + strlen ("</msg>");
          char *msg = g_strndup (p->in->str, len);

          g_string_erase (p->in, 0, (gssize)len);
          printf ("recv: %s\n", msg);
          return msg;
        }
      if (p->eof)
        return NULL;
      if (p->tls != NULL)
        {
          n = gnutls_record_recv (p->tls, chunk, sizeof chunk);
          if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            {
              if (gnutls_record_check_pending (p->tls) == 0
                  && !wait_fd (p->fd, POLLIN, deadline_us))
                return NULL;
              continue;
            }
        }
      else
        {
          n = recv (p->fd, chunk, sizeof chunk, 0);
          if (n < 0 && (errno == EAGAIN || errno == EINTR))
            {
              if (!wait_fd (p->fd, POLLIN, deadline_us))
                return NULL;
              continue;
            }
        }
      if (n <= 0)
        {
          p->eof = TRUE;
          continue;
        }
      g_string_append_len (p->in, chunk, n);
    }
}

/* The value of attribute NAME in msg ("" when absent); NAME must be
 * preceded by a space, so that "id" does not match "peerid". */
static char *
attr (const char *msg, const char *name)
{
  g_autofree char *key = g_strdup_printf (" %s=\"", name);
  const char *at = strstr (msg, key);
  const char *end;

  if (at == NULL)
    return g_strdup ("");
  at += strlen (key);
  end = strchr (at, '"');
  return end != NULL ? g_strndup (at, (gsize)(end - at)) : g_strdup ("");
}

static char *
b64 (const char *name)
{
  return g_base64_encode ((const guchar *)name, strlen (name));
}

static const char *
peerid (void)
{
  return opt_peerid != NULL ? opt_peerid : "";
}

static void
add_lock (Peer *p, const char *id, const char *name, const char *mode, const char *wait,
          const char *timeout, gboolean offer)
{
  g_autofree char *enc = b64 (name);
  g_autofree char *session = NULL;

  if (offer)
    session = atoi (timeout) > 0
                  ? g_strdup_printf ("<session peerid=\"%s\" ext=\"1\" timeout=\"%s\"/>",
                                     peerid (), timeout)
                  : g_strdup_printf ("<session peerid=\"%s\" ext=\"1\"/>", peerid ());
  else
    session = g_strdup_printf ("<session peerid=\"%s\"/>", peerid ());
  g_string_append_printf (p->out,
                          DECL "<msg level=\"3\" verb=\"1\" step=\"8\">%s<resource name=\"%s\" "
                          "mode=\"%s\" wait=\"%s\" create=\"1\" lifespan=\"0\"%s%s%s/></msg>",
                          session, enc, mode, wait, id != NULL ? " id=\"" : "",
                          id != NULL ? id : "", id != NULL ? "\"" : "");
}

static gboolean
expect_answer (Peer *p, char **args)
{
  gint64 deadline = g_get_monotonic_time () + (gint64)opt_timeout * 1000;
  g_autofree char *msg = next_msg (p, deadline);
  g_autofree char *want_step = g_strdup_printf (" step=\"%s\"", args[1]);
  g_autofree char *got_id = NULL;
  g_autofree char *got_rc = NULL;
  g_autofree char *got_ext = NULL;
  const char *want_ext = "";

  if (msg == NULL)
    {
      printf ("FAIL: no answer (%s)\n", p->eof ? "EOF" : "timeout");
      return FALSE;
    }
  if (args[4] != NULL && g_str_has_prefix (args[4], "ext="))
    want_ext = args[4] + strlen ("ext=");
  got_id = attr (msg, "id");
  got_rc = attr (msg, "rc");
  got_ext = attr (msg, "ext");
  if (strstr (msg, " verb=\"1\"") == NULL || strstr (msg, want_step) == NULL
      || (strcmp (args[2], "*") == 0 ? got_id[0] == '\0'
                                     : strcmp (got_id, strcmp (args[2], "0") == 0 ? "" : args[2]) != 0)
      || strcmp (got_rc, args[3]) != 0 || strcmp (got_ext, want_ext) != 0)
    {
      printf ("FAIL: want a lock answer step %s id %s rc %s ext '%s'\n", args[1], args[2],
              args[3], want_ext);
      return FALSE;
    }
  return TRUE;
}

static gboolean
expect_pong (Peer *p)
{
  g_autofree char *msg = next_msg (p, g_get_monotonic_time () + (gint64)opt_timeout * 1000);

  if (msg == NULL || strstr (msg, " verb=\"3\"") == NULL
      || strstr (msg, " step=\"16\"") == NULL)
    {
      printf ("FAIL: want 3/16\n");
      return FALSE;
    }
  return TRUE;
}

static gboolean
expect_eof (Peer *p)
{
  g_autofree char *msg = next_msg (p, g_get_monotonic_time () + (gint64)opt_timeout * 1000);

  if (msg != NULL || !p->eof)
    {
      printf ("FAIL: want EOF\n");
      return FALSE;
    }
  printf ("eof after %" G_GINT64_FORMAT " ms\n",
          (g_get_monotonic_time () - p->last_sent_us) / 1000);
  return TRUE;
}

static gboolean
idle (Peer *p, int ms)
{
  g_autofree char *msg = next_msg (p, g_get_monotonic_time () + (gint64)ms * 1000);

  if (msg != NULL || p->eof)
    {
      printf ("FAIL: want nothing for %d ms\n", ms);
      return FALSE;
    }
  return TRUE;
}

static gboolean
ping_for (Peer *p, int ms, int period)
{
  gint64 end = g_get_monotonic_time () + (gint64)ms * 1000;
  int n = 0;

  while (g_get_monotonic_time () < end)
    {
      g_string_append (p->out, DECL "<msg level=\"3\" verb=\"3\" step=\"8\"></msg>");
      if (!flush_out (p) || !expect_pong (p))
        return FALSE;
      n++;
      /* Nothing but the pong may come meanwhile. */
      if (!idle (p, period))
        return FALSE;
    }
  printf ("%d pings answered\n", n);
  return TRUE;
}

static gboolean
wait_file (const char *path)
{
  gint64 deadline = g_get_monotonic_time () + (gint64)opt_timeout * 1000;

  while (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      if (g_get_monotonic_time () > deadline)
        {
          printf ("FAIL: %s did not appear\n", path);
          return FALSE;
        }
      g_usleep (5000);
    }
  return TRUE;
}

/* Runs one script line; FALSE: failed (said why), or usage (*usage set). */
static gboolean ask (Peer *main_peer, char **a, guint n);

static gboolean
run_line (Peer *p, char **a, guint n, gboolean *usage)
{
  const char *cmd = a[0];

  if (strcmp (cmd, "offer") == 0 && n == 6)
    add_lock (p, a[1], a[2], a[3], a[4], a[5], TRUE);
  else if (strcmp (cmd, "lock") == 0 && n == 5)
    add_lock (p, a[1], a[2], a[3], a[4], NULL, FALSE);
  else if (strcmp (cmd, "legacy") == 0 && n == 4)
    add_lock (p, NULL, a[1], a[2], a[3], NULL, FALSE);
  else if (strcmp (cmd, "unlock") == 0 && (n == 3 || n == 4))
    {
      g_autofree char *enc = b64 (a[2]);
      g_autofree char *id = strcmp (a[1], "0") != 0 ? g_strdup_printf (" id=\"%s\"", a[1])
                                                     : g_strdup ("");

      g_string_append_printf (p->out,
                              DECL "<msg level=\"3\" verb=\"2\" step=\"8\"><resource "
                              "name=\"%s\" rollback=\"%s\"%s /></msg>",
                              enc, n == 4 ? a[3] : "0", id);
    }
  else if (strcmp (cmd, "ping") == 0 && n == 1)
    g_string_append (p->out, DECL "<msg level=\"3\" verb=\"3\" step=\"8\"></msg>");
  else if (strcmp (cmd, "raw") == 0 && n >= 2)
    {
      for (guint i = 1; i < n; i++)
        g_string_append_printf (p->out, "%s%s", i > 1 ? " " : "", a[i]);
    }
  else if (strcmp (cmd, "expect") == 0 && (n == 4 || n == 5))
    return flush_out (p) && expect_answer (p, a);
  else if (strcmp (cmd, "expect-pong") == 0 && n == 1)
    return flush_out (p) && expect_pong (p);
  else if (strcmp (cmd, "expect-eof") == 0 && n == 1)
    return flush_out (p) && expect_eof (p);
  else if (strcmp (cmd, "ping-for") == 0 && n == 3)
    return flush_out (p) && ping_for (p, atoi (a[1]), atoi (a[2]));
  else if (strcmp (cmd, "idle") == 0 && n == 2)
    return flush_out (p) && idle (p, atoi (a[1]));
  else if (strcmp (cmd, "ask") == 0 && n >= 2 && n <= 4)
    return flush_out (p) && ask (p, a, n);
  else if (strcmp (cmd, "touch") == 0 && n == 2)
    return flush_out (p) && g_file_set_contents (a[1], "", 0, NULL);
  else if (strcmp (cmd, "wait-file") == 0 && n == 2)
    return flush_out (p) && wait_file (a[1]);
  else if (strcmp (cmd, "close") == 0 && n == 1)
    {
      if (!flush_out (p))
        return FALSE;
      if (p->tls != NULL)
        gnutls_bye (p->tls, GNUTLS_SHUT_WR);
      shutdown (p->fd, SHUT_WR);
      close (p->fd);
      p->fd = -1;
    }
  else
    {
      *usage = TRUE;
      printf ("usage: bad script line: %s\n", cmd);
      return FALSE;
    }
  return TRUE;
}

static int run_script (Peer *p);
static void peer_clear (Peer *p);

/* A connection like the script's (transport, TLS). */
static gboolean
peer_open (Peer *p)
{
  p->fd = opt_unix != NULL ? connect_unix (opt_unix) : connect_tcp (opt_tcp);
  if (p->fd < 0)
    return FALSE;
  set_nonblocking (p->fd);
  if (opt_ca != NULL && !tls_start (p))
    return FALSE;
  p->out = g_string_new (NULL);
  p->in = g_string_new (NULL);
  p->last_sent_us = g_get_monotonic_time ();
  return TRUE;
}

/* The five entities the daemon writes, decoded. */
static char *
unescape (const char *s, gsize len)
{
  static const struct
  {
    const char *ref;
    char c;
  } ents[] = { { "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
               { "&quot;", '"' }, { "&apos;", '\'' } };
  GString *out = g_string_new (NULL);

  for (gsize i = 0; i < len;)
    {
      gsize k;

      for (k = 0; k < G_N_ELEMENTS (ents); k++)
        if (strncmp (s + i, ents[k].ref, strlen (ents[k].ref)) == 0)
          break;
      if (k < G_N_ELEMENTS (ents))
        {
          g_string_append_c (out, ents[k].c);
          i += strlen (ents[k].ref);
        }
      else
        g_string_append_c (out, s[i++]);
    }
  return g_string_free (out, FALSE);
}

static gboolean
ask (Peer *main_peer, char **a, guint n)
{
  Peer q = { .fd = -1 };
  GString *req = g_string_new (NULL);
  gint64 deadline = g_get_monotonic_time () + (gint64)opt_timeout * 1000;
  gboolean ok = FALSE;

  g_string_append (req, DECL "<msg level=\"3\" verb=\"6\" step=\"8\">");
  if (opt_peerid != NULL)
    g_string_append_printf (req, "<session peerid=\"%s\"/>", opt_peerid);
  g_string_append_printf (req, "<status what=\"%s\"", a[1]);
  if (n >= 3)
    {
      g_autofree char *enc = b64 (a[2]);

      g_string_append_printf (req, " resource=\"%s\"", enc);
    }
  if (opt_tcp != NULL && main_peer->fd >= 0)
    {
      struct sockaddr_storage sa;
      socklen_t sa_len = sizeof sa;

      if (getsockname (main_peer->fd, (struct sockaddr *)&sa, &sa_len) == 0)
        g_string_append_printf (req, " port=\"%d\"",
                                ntohs (sa.ss_family == AF_INET6
                                           ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                           : ((struct sockaddr_in *)&sa)->sin_port));
    }
  if (n >= 4)
    g_string_append_printf (req, " id=\"%s\"", a[3]);
  g_string_append (req, "/></msg>");
  if (!peer_open (&q))
    goto out;
  g_string_append (q.out, req->str);
  if (!flush_out (&q))
    goto out;
  for (;;)
    {
      g_autofree char *msg = next_msg (&q, deadline);
      const char *p;

      if (msg == NULL)
        {
          printf (q.eof ? "FAIL: EOF before the final answer\n" : "FAIL: no answer in time\n");
          goto out;
        }
      if (strstr (msg, "verb=\"6\" step=\"24\"") != NULL)
        {
          for (p = strstr (msg, "<line text=\""); p != NULL; p = strstr (p, "<line text=\""))
            {
              const char *start = p + strlen ("<line text=\"");
              const char *end = strchr (start, '"');
              g_autofree char *text = unescape (start, (gsize)(end - start));

              printf ("line: %s\n", text);
              p = end;
            }
          continue;
        }
      if (strstr (msg, "verb=\"6\" step=\"32\"") != NULL)
        {
          g_autofree char *rc = attr (msg, "rc");
          g_autofree char *reason = attr (msg, "reason");
          g_autofree char *shown = unescape (reason, strlen (reason));

          printf ("end: %s %s\n", rc, shown);
          break;
        }
      printf ("FAIL: not a status answer\n");
      goto out;
    }
  {
    g_autofree char *more = next_msg (&q, deadline);

    if (more != NULL || !q.eof)
      {
        printf ("FAIL: want EOF after the final answer\n");
        goto out;
      }
  }
  ok = TRUE;
out:
  g_string_free (req, TRUE);
  peer_clear (&q);
  return ok;
}

/* What a peer holds, freed (sanitizer builds check the test programs
 * too). */
static void
peer_clear (Peer *p)
{
  if (p->tls != NULL)
    gnutls_deinit (p->tls);
  if (p->cred != NULL)
    gnutls_certificate_free_credentials (p->cred);
  if (p->fd >= 0)
    close (p->fd);
  if (p->out != NULL)
    g_string_free (p->out, TRUE);
  if (p->in != NULL)
    g_string_free (p->in, TRUE);
  *p = (Peer){ .fd = -1 };
}

int
main (int argc, char **argv)
{
  g_autoptr (GOptionContext) ctx = g_option_context_new ("< SCRIPT - a raw session client");
  g_autoptr (GError) error = NULL;
  Peer peer = { .fd = -1 };
  int status;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error)
      || (opt_unix == NULL) == (opt_tcp == NULL) || (opt_cert == NULL) != (opt_key == NULL)
      || (opt_cert != NULL && opt_ca == NULL) || opt_timeout <= 0)
    {
      printf ("usage: exactly one of --unix and --tcp; --cert and --key together, "
              "with --ca\n");
      return 2;
    }
  signal (SIGPIPE, SIG_IGN);
  setvbuf (stdout, NULL, _IOLBF, 0);
  peer.fd = opt_unix != NULL ? connect_unix (opt_unix) : connect_tcp (opt_tcp);
  if (peer.fd < 0)
    return 2;
  set_nonblocking (peer.fd);
  if (opt_ca != NULL && !tls_start (&peer))
    {
      peer_clear (&peer);
      return 2;
    }
  peer.out = g_string_new (NULL);
  peer.in = g_string_new (NULL);
  peer.last_sent_us = g_get_monotonic_time ();
  status = run_script (&peer);
  peer_clear (&peer);
  return status;
}

/* Runs the script on stdin: 0 done, 1 an expectation failed, 2 usage. */
static int
run_script (Peer *p)
{
  char line[4096];
  gboolean usage = FALSE;

  while (fgets (line, sizeof line, stdin) != NULL)
    {
      g_auto (GStrv) args = NULL;
      g_autofree char *trimmed = g_strstrip (g_strdup (line));

      if (trimmed[0] == '\0' || trimmed[0] == '#')
        continue;
      args = g_strsplit_set (trimmed, " \t", -1);
      printf ("> %s\n", trimmed);
      if (p->fd < 0)
        {
          printf ("usage: a command after close\n");
          return 2;
        }
      if (!run_line (p, args, g_strv_length (args), &usage))
        return usage ? 2 : 1;
    }
  if (p->fd >= 0 && !flush_out (p))
    return 1;
  return 0;
}
