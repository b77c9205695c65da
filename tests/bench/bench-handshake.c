#include "config.h"

/* bench-handshake: TLS handshakes per second, both sides in one process.
 *
 * Each handshake is a fresh connection: a socketpair(AF_UNIX,
 * SOCK_STREAM | SOCK_NONBLOCK), a client and a server session over its two
 * ends, their handshake steps called in turn until both are done, then one
 * application byte from the server to the client (as a latch connection
 * always carries data; in TLS 1.3 it also delivers any session ticket),
 * then both sessions freed and both ends closed.  One thread does both
 * sides, so the time per handshake is the CPU of the client and the
 * server together (process CPU time is printed next to the wall time).
 *
 * The certificates are those of tests/tls-certs.sh: DIR/NAME.pem and
 * DIR/NAME.key (NAME: peer1_ca1, ECDSA P-256, unless --tls-cert says
 * otherwise, e.g. rsa3072_ca1 or ed25519_ca1) on both sides, DIR/ca1.pem
 * as the CA; the server requires the client's certificate, as latchd
 * does by default.
 *
 * By default the sessions are latch's own, from latch_tls_module(): the
 * very creds and sessions latchd and liblatch use, channel level (or
 * mutual with --mutual, where each side then checks the other's machine
 * ID as the daemon and the client do; that check is timed on its own).
 * latch turns session tickets off, so every one of these handshakes is a
 * full one.
 *
 * --direct does the same with GnuTLS called here directly (same files,
 * same priority string, the peer's chain and key purpose verified in a
 * callback as latch does): a baseline, to tell GnuTLS's own cost from
 * what latch's sessions add.  --resume (implies --direct) turns TLS 1.3 session
 * tickets on: the first handshake is full, every later one resumes with
 * the ticket the client got last, so no certificate is sent, signed or
 * verified (and so no CRL is looked at) after the first.  This is what
 * latch would gain, and give up, with tickets.  By default a resumption
 * still makes a fresh ECDHE exchange (psk_dhe_ke, forward secrecy); with
 * --no-dhe, "+PSK" is added to the priority string and it does not
 * (psk_ke: the ticket key alone protects the session).
 *
 * With latch's sessions, the time a client's creds_new() takes (loading
 * and checking certificate, key and CA, once per `latch` command) is
 * printed too, as client_creds_us.
 *
 * --records N (latch's sessions) also times, on one connection after its
 * handshake, N round trips of RECORD_SIZE bytes each way through the TLS
 * sessions, and as many through a plain socketpair: what a message costs
 * over TLS once the handshake is paid, as it would be on a connection
 * kept for many locks.
 *
 * Prints one line (two with --records); exits 1 when a handshake fails,
 * 2 on bad options. */

#include "bench-util.h"
#include "tls/tls.h"

#include "common/autocleanup.h"
#include "common/error.h"
#include "sys/machine-id.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Handshake steps of one connection before we call it stuck: a TLS 1.3
 * handshake needs a handful, a TLS 1.2 one a few more. */
#define MAX_STEPS 64
/* --records: about a lock request or answer. */
#define RECORD_SIZE 200
#define MAX_RECORDS 10000000
/* Client credentials loaded this many times to time it. */
#define CREDS_RUNS 20

static gint64
cpu_time_us (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (gint64)ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

/* ---- latch's sessions (latch_tls_module()) ----------------------------- */

typedef struct
{
  const LatchTlsModule *tls;
  LatchTlsCreds *client;
  LatchTlsCreds *server;
  const char *own_id;   /* announced by both sides at the mutual level */
  gint64 check_ns;      /* spent in check_peer_id(), both sides */
  int records;          /* > 0: time that many round trips on the next connection */
  gint64 records_us;
  double creds_us;      /* one client creds_new() + creds_free(), as `latch` does once */
} Module;

static void
module_clear (Module *m)
{
  if (m->tls != NULL)
    {
      g_clear_pointer (&m->client, m->tls->creds_free);
      g_clear_pointer (&m->server, m->tls->creds_free);
    }
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Module, module_clear)

static gboolean
module_init (Module *m, const LatchTlsSettings *settings, LatchSecurityLevel level,
             GError **error)
{
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);

  m->tls = latch_tls_module ();
  m->own_id = latch_machine_id_get (error);
  if (m->own_id == NULL)
    return FALSE;
  m->server = m->tls->creds_new (settings, LATCH_TLS_SERVER, level, m->own_id, warnings,
                                 error);
  if (m->server == NULL)
    return FALSE;
  m->client = m->tls->creds_new (settings, LATCH_TLS_CLIENT, level, m->own_id, warnings,
                                 error);
  if (m->client == NULL)
    return FALSE;

  /* What loading the files and checking them costs a client, which is
   * once per `latch` command. */
  {
    gint64 t0 = g_get_monotonic_time ();

    for (int i = 0; i < CREDS_RUNS; i++)
      {
        LatchTlsCreds *c = m->tls->creds_new (settings, LATCH_TLS_CLIENT, level, m->own_id,
                                              NULL, error);

        if (c == NULL)
          return FALSE;
        m->tls->creds_free (c);
      }
    m->creds_us = (double)(g_get_monotonic_time () - t0) / CREDS_RUNS;
  }
  for (guint i = 0; i < warnings->len; i++)
    fprintf (stderr, "bench-handshake: warning: %s\n", (const char *)warnings->pdata[i]);
  return TRUE;
}

/* Sends all of buf through a session (the socketpair has room for it). */
static gboolean
module_send_all (Module *m, LatchTlsSession *t, const char *buf, gsize len, GError **error)
{
  for (int steps = 0; len > 0; steps++)
    {
      gsize n = 0;
      LatchTlsStatus st = m->tls->send (t, buf, len, &n, error);

      if (st == LATCH_TLS_FAILED)
        return FALSE;
      if (st == LATCH_TLS_OK)
        {
          buf += n;
          len -= n;
        }
      if (len > 0 && steps >= MAX_STEPS)
        {
          g_set_error (error, LATCH_ERROR, LATCH_ERROR_TLS, "send stuck");
          return FALSE;
        }
    }
  return TRUE;
}

/* Receives exactly len bytes that the other end has already sent. */
static gboolean
module_recv_all (Module *m, LatchTlsSession *t, char *buf, gsize len, GError **error)
{
  for (int steps = 0; len > 0; steps++)
    {
      gsize n = 0;
      LatchTlsStatus st = m->tls->recv (t, buf, len, &n, error);

      if (st == LATCH_TLS_FAILED)
        return FALSE;
      if (st == LATCH_TLS_OK && n == 0)
        {
          g_set_error (error, LATCH_ERROR, LATCH_ERROR_TLS, "the peer closed the connection");
          return FALSE;
        }
      if (st == LATCH_TLS_OK)
        {
          buf += n;
          len -= n;
        }
      if (len > 0 && steps >= MAX_STEPS)
        {
          g_set_error (error, LATCH_ERROR, LATCH_ERROR_TLS, "recv stuck");
          return FALSE;
        }
    }
  return TRUE;
}

/* --records: request and answer, m->records times, on sessions c and s. */
static gboolean
module_records (Module *m, LatchTlsSession *c, LatchTlsSession *s, GError **error)
{
  char out[RECORD_SIZE], in[RECORD_SIZE];
  gint64 t0 = g_get_monotonic_time ();

  memset (out, 'r', sizeof out);
  for (int i = 0; i < m->records; i++)
    if (!module_send_all (m, c, out, sizeof out, error)
        || !module_recv_all (m, s, in, sizeof in, error)
        || !module_send_all (m, s, out, sizeof out, error)
        || !module_recv_all (m, c, in, sizeof in, error))
      return FALSE;
  m->records_us = g_get_monotonic_time () - t0;
  return TRUE;
}

/* The same through a plain socketpair: µs for n round trips, or -1. */
static gint64
plain_records (int n)
{
  char out[RECORD_SIZE], in[RECORD_SIZE];
  g_auto (LatchFd) a = -1;
  g_auto (LatchFd) b = -1;
  int sv[2];
  gint64 t0;

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
    return -1;
  a = sv[0];
  b = sv[1];
  memset (out, 'r', sizeof out);
  t0 = g_get_monotonic_time ();
  for (int i = 0; i < n; i++)
    if (send (a, out, sizeof out, 0) != (ssize_t)sizeof out
        || recv (b, in, sizeof in, 0) != (ssize_t)sizeof in
        || send (b, out, sizeof out, 0) != (ssize_t)sizeof out
        || recv (a, in, sizeof in, 0) != (ssize_t)sizeof in)
      return -1;
  return g_get_monotonic_time () - t0;
}

/* latch's sessions are freed through the table (the same one latchd
 * uses: bench-handshake links the TLS code in). */
static void
session_free (LatchTlsSession *session)
{
  if (session != NULL)
    latch_tls_module ()->session_free (session);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LatchTlsSession, session_free)

static gboolean
module_connection (Module *m, int cfd, int sfd, char **version, GError **error)
{
  g_autoptr (LatchTlsSession) c = NULL;
  g_autoptr (LatchTlsSession) s = NULL;
  gboolean c_done = FALSE, s_done = FALSE;
  char byte = 'x';
  int steps;

  c = m->tls->session_new (m->client, cfd, "bench server", error);
  if (c == NULL)
    return FALSE;
  s = m->tls->session_new (m->server, sfd, "bench client", error);
  if (s == NULL)
    return FALSE;

  for (steps = 0; !(c_done && s_done) && steps < MAX_STEPS; steps++)
    {
      LatchTlsStatus st;

      if (!c_done)
        {
          st = m->tls->handshake (c, error);
          if (st == LATCH_TLS_FAILED)
            return FALSE;
          c_done = st == LATCH_TLS_OK;
        }
      if (!s_done)
        {
          st = m->tls->handshake (s, error);
          if (st == LATCH_TLS_FAILED)
            return FALSE;
          s_done = st == LATCH_TLS_OK;
        }
    }
  if (!(c_done && s_done))
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_TLS, "handshake stuck after %d steps",
                   steps);
      return FALSE;
    }

  if (m->tls->creds_get_level (m->client) == LATCH_SECURITY_MUTUAL)
    {
      /* As the daemon checks the ID in the lock request, and the client
       * the ID in the answer. */
      gint64 t0 = bench_monotonic_ns ();
      gboolean ids_ok = m->tls->check_peer_id (s, m->own_id, error)
                        && m->tls->check_peer_id (c, m->own_id, error);

      m->check_ns += bench_monotonic_ns () - t0;
      if (!ids_ok)
        return FALSE;
    }

  if (!module_send_all (m, s, &byte, 1, error) || !module_recv_all (m, c, &byte, 1, error))
    return FALSE;
  if (m->records > 0 && !module_records (m, c, s, error))
    return FALSE;
  if (version != NULL && *version == NULL)
    *version = m->tls->describe (c);
  return TRUE;
}

/* ---- GnuTLS directly (--direct, --resume) ------------------------------ */

typedef struct
{
  gnutls_certificate_credentials_t cred;
  gnutls_priority_t priority;
  gboolean resume;
  gnutls_datum_t ticket_key; /* the server's, --resume */
  gnutls_datum_t ticket;     /* the client's last session data, --resume */
  int resumed;               /* handshakes the client saw resumed */
  char group[64];            /* (EC)DH group of the last handshake, or "none" */
} Direct;

/* A gnutls_session_t under a name of this file's own, for g_auto(). */
typedef gnutls_session_t BenchSession;
G_DEFINE_AUTO_CLEANUP_FREE_FUNC (BenchSession, gnutls_deinit, NULL)

static void
direct_clear (Direct *d)
{
  if (d->cred != NULL)
    gnutls_certificate_free_credentials (d->cred);
  if (d->priority != NULL)
    gnutls_priority_deinit (d->priority);
  if (d->ticket_key.data != NULL)
    gnutls_free (d->ticket_key.data);
  if (d->ticket.data != NULL)
    gnutls_free (d->ticket.data);
  memset (d, 0, sizeof *d);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Direct, direct_clear)

static gboolean
gnutls_failed (int ret, const char *what, GError **error)
{
  g_set_error (error, LATCH_ERROR, LATCH_ERROR_TLS, "%s: %s", what, gnutls_strerror (ret));
  return FALSE;
}

/* The peer's chain against the CA, dates and key purpose, inside the
 * handshake, as latch's verify callback does (without its messages). */
static int
direct_verify_cb (gnutls_session_t session)
{
  gboolean is_client = GPOINTER_TO_INT (gnutls_session_get_ptr (session));
  gnutls_typed_vdata_st purpose = { 0 };
  unsigned int status = 0;

  purpose.type = GNUTLS_DT_KEY_PURPOSE_OID;
  purpose.data = (unsigned char *)(is_client ? GNUTLS_KP_TLS_WWW_SERVER
                                             : GNUTLS_KP_TLS_WWW_CLIENT);
  if (gnutls_certificate_verify_peers (session, &purpose, 1, &status) < 0 || status != 0)
    return GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR;
  return 0;
}

static gboolean
direct_init (Direct *d, const LatchTlsSettings *settings, gboolean resume, gboolean no_dhe,
             GError **error)
{
  g_autofree char *priority = g_strconcat (settings->priority != NULL
                                               ? settings->priority
                                               : LATCH_TLS_DEFAULT_PRIORITY,
                                           no_dhe ? ":+PSK" : "", NULL);
  int ret;

  d->resume = resume;
  if ((ret = gnutls_certificate_allocate_credentials (&d->cred)) < 0)
    return gnutls_failed (ret, "credentials", error);
  ret = gnutls_certificate_set_x509_key_file2 (d->cred, settings->certificate,
                                               settings->private_key, GNUTLS_X509_FMT_PEM,
                                               NULL, 0);
  if (ret < 0)
    return gnutls_failed (ret, settings->certificate, error);
  ret = gnutls_certificate_set_x509_trust_file (d->cred, settings->ca_certificate,
                                                GNUTLS_X509_FMT_PEM);
  if (ret <= 0)
    return gnutls_failed (ret, settings->ca_certificate, error);
  ret = gnutls_priority_init2 (&d->priority, priority, NULL, 0);
  if (ret < 0)
    return gnutls_failed (ret, "priority string", error);
  if (resume && (ret = gnutls_session_ticket_key_generate (&d->ticket_key)) < 0)
    return gnutls_failed (ret, "ticket key", error);
  return TRUE;
}

static gboolean
direct_session (Direct *d, gboolean is_client, int fd, gnutls_session_t *out, GError **error)
{
  unsigned int flags = is_client ? GNUTLS_CLIENT : GNUTLS_SERVER;
  gnutls_session_t s;
  int ret;

  if (!d->resume)
    flags |= GNUTLS_NO_TICKETS;
  if ((ret = gnutls_init (&s, flags)) < 0)
    return gnutls_failed (ret, "gnutls_init", error);
  if ((ret = gnutls_credentials_set (s, GNUTLS_CRD_CERTIFICATE, d->cred)) < 0
      || (ret = gnutls_priority_set (s, d->priority)) < 0
      || (!is_client && d->resume
          && (ret = gnutls_session_ticket_enable_server (s, &d->ticket_key)) < 0)
      || (is_client && d->ticket.data != NULL
          && (ret = gnutls_session_set_data (s, d->ticket.data, d->ticket.size)) < 0))
    {
      gnutls_deinit (s);
      return gnutls_failed (ret, "session set-up", error);
    }
  if (!is_client)
    gnutls_certificate_server_set_request (s, GNUTLS_CERT_REQUIRE);
  gnutls_session_set_ptr (s, GINT_TO_POINTER (is_client));
  gnutls_session_set_verify_function (s, direct_verify_cb);
  gnutls_transport_set_int (s, fd);
  *out = s;
  return TRUE;
}

static gboolean
direct_connection (Direct *d, int cfd, int sfd, char **version, GError **error)
{
  g_auto (BenchSession) c = NULL;
  g_auto (BenchSession) s = NULL;
  gboolean c_done = FALSE, s_done = FALSE;
  char byte = 'x';
  ssize_t n = 0;
  int steps, ret;

  if (!direct_session (d, TRUE, cfd, &c, error) || !direct_session (d, FALSE, sfd, &s, error))
    return FALSE;
  for (steps = 0; !(c_done && s_done) && steps < MAX_STEPS; steps++)
    {
      if (!c_done)
        {
          ret = gnutls_handshake (c);
          if (ret < 0 && ret != GNUTLS_E_AGAIN && ret != GNUTLS_E_INTERRUPTED)
            return gnutls_failed (ret, "client handshake", error);
          c_done = ret == 0;
        }
      if (!s_done)
        {
          ret = gnutls_handshake (s);
          if (ret < 0 && ret != GNUTLS_E_AGAIN && ret != GNUTLS_E_INTERRUPTED)
            return gnutls_failed (ret, "server handshake", error);
          s_done = ret == 0;
        }
    }
  if (!(c_done && s_done))
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_TLS, "handshake stuck after %d steps",
                   steps);
      return FALSE;
    }
  if (gnutls_record_send (s, &byte, 1) != 1)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_TLS, "server: could not send a byte");
      return FALSE;
    }
  /* The ticket (TLS 1.3: a post-handshake message) comes before the byte. */
  for (steps = 0; steps < MAX_STEPS; steps++)
    {
      n = gnutls_record_recv (c, &byte, 1);
      if (n != GNUTLS_E_AGAIN && n != GNUTLS_E_INTERRUPTED)
        break;
    }
  if (n != 1)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_TLS, "client: the byte did not arrive%s%s",
                   n < 0 ? ": " : "", n < 0 ? gnutls_strerror ((int)n) : "");
      return FALSE;
    }
  if (gnutls_session_is_resumed (c))
    d->resumed++;
  /* A resumption has a group with psk_dhe_ke, none with psk_ke. */
  {
    const char *group = gnutls_group_get_name (gnutls_group_get (c));

    g_strlcpy (d->group, group != NULL ? group : "none", sizeof d->group);
  }
  if (d->resume)
    {
      gnutls_datum_t data = { NULL, 0 };

      if ((ret = gnutls_session_get_data2 (c, &data)) < 0)
        return gnutls_failed (ret, "session data", error);
      if (d->ticket.data != NULL)
        gnutls_free (d->ticket.data);
      d->ticket = data;
    }
  if (version != NULL && *version == NULL)
    *version = g_strdup_printf ("%s %s (GnuTLS directly)",
                                gnutls_protocol_get_name (gnutls_protocol_get_version (c)),
                                gnutls_cipher_get_name (gnutls_cipher_get (c)));
  return TRUE;
}

/* ---- main -------------------------------------------------------------- */

typedef struct
{
  Module module;
  Direct direct;
  gboolean is_direct;
} Bench;

static void
bench_clear (Bench *b)
{
  module_clear (&b->module);
  direct_clear (&b->direct);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Bench, bench_clear)

/* One connection: a fresh socketpair, both handshakes, one byte. */
static gboolean
one_connection (Bench *b, char **version, GError **error)
{
  g_auto (LatchFd) cfd = -1;
  g_auto (LatchFd) sfd = -1;
  int sv[2];

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_TLS, "socketpair: %s",
                   g_strerror (errno));
      return FALSE;
    }
  cfd = sv[0];
  sfd = sv[1];
  return b->is_direct ? direct_connection (&b->direct, cfd, sfd, version, error)
                      : module_connection (&b->module, cfd, sfd, version, error);
}

int
main (int argc, char **argv)
{
  g_autofree char *tls_dir = NULL;
  g_autofree char *tls_cert = NULL;
  g_autofree char *priority = NULL;
  g_autofree char *certificate = NULL;
  g_autofree char *private_key = NULL;
  g_autofree char *ca_certificate = NULL;
  g_autofree char *version = NULL;
  gboolean mutual = FALSE, direct = FALSE, resume = FALSE, no_dhe = FALSE;
  int records = 0;
  double seconds = 2.0;
  GOptionEntry entries[] = {
    { "tls-dir", 0, 0, G_OPTION_ARG_FILENAME, &tls_dir,
      "Certificates made by tests/tls-certs.sh (CA: DIR/ca1.pem)", "DIR" },
    { "tls-cert", 0, 0, G_OPTION_ARG_STRING, &tls_cert,
      "Both sides' DIR/NAME.pem and DIR/NAME.key (default peer1_ca1)", "NAME" },
    { "mutual", 0, 0, G_OPTION_ARG_NONE, &mutual,
      "Mutual level: both sides check the peer's machine ID", NULL },
    { "direct", 0, 0, G_OPTION_ARG_NONE, &direct,
      "GnuTLS called directly, not latch's TLS module (tickets off)", NULL },
    { "resume", 0, 0, G_OPTION_ARG_NONE, &resume,
      "GnuTLS directly with TLS 1.3 session tickets: resume after the first", NULL },
    { "no-dhe", 0, 0, G_OPTION_ARG_NONE, &no_dhe,
      "With --resume: resume without ECDHE (psk_ke; adds +PSK to the priority)", NULL },
    { "tls-priority", 0, 0, G_OPTION_ARG_STRING, &priority,
      "GnuTLS priority string (default: latch's)", "STRING" },
    { "records", 0, 0, G_OPTION_ARG_INT, &records,
      "Also time N request/answer round trips on one TLS connection, and plain", "N" },
    { "seconds", 0, 0, G_OPTION_ARG_DOUBLE, &seconds, "Run time (default 2)", "S" },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr (GError) error = NULL;
  g_auto (Bench) bench = { 0 };
  LatchTlsSettings settings = { 0 };
  LatchSecurityLevel level;
  Bench *b = &bench;
  const char *name;
  gint64 start, deadline, now, cpu0, wall_us, cpu_us;
  long count = 0;

  if (!bench_parse_options ("bench-handshake",
                            "- TLS handshakes per second, client and server in one process",
                            entries, &argc, &argv))
    return 2;
  if (tls_dir == NULL)
    {
      fprintf (stderr, "bench-handshake: give --tls-dir DIR (made by tests/tls-certs.sh)\n");
      return 2;
    }
  if (!(seconds > 0.0 && seconds <= 3600.0))
    {
      fprintf (stderr, "bench-handshake: --seconds must be above 0 and at most 3600\n");
      return 2;
    }
  if (no_dhe && !resume)
    {
      fprintf (stderr, "bench-handshake: --no-dhe goes with --resume\n");
      return 2;
    }
  if (resume)
    direct = TRUE;
  if (records < 0 || records > MAX_RECORDS || (records > 0 && direct))
    {
      fprintf (stderr, "bench-handshake: --records must be 0 to %d, with latch's sessions "
                       "(not --direct or --resume)\n", MAX_RECORDS);
      return 2;
    }
  if (mutual && direct)
    {
      fprintf (stderr, "bench-handshake: --mutual is latch's check: not with --direct or "
                       "--resume\n");
      return 2;
    }

  name = tls_cert != NULL ? tls_cert : "peer1_ca1";
  {
    g_autofree char *dir = g_canonicalize_filename (tls_dir, NULL);
    g_autofree char *pem = g_strconcat (name, ".pem", NULL);
    g_autofree char *key = g_strconcat (name, ".key", NULL);

    certificate = g_build_filename (dir, pem, NULL);
    private_key = g_build_filename (dir, key, NULL);
    ca_certificate = g_build_filename (dir, "ca1.pem", NULL);
  }
  level = mutual ? LATCH_SECURITY_MUTUAL : LATCH_SECURITY_CHANNEL;
  settings.level = level;
  settings.certificate = certificate;
  settings.private_key = private_key;
  settings.ca_certificate = ca_certificate;
  settings.priority = priority;
  settings.check_peer_id = mutual;
  settings.require_client_cert = TRUE;

  b->is_direct = direct;
  if (!(direct ? direct_init (&b->direct, &settings, resume, no_dhe, &error)
               : module_init (&b->module, &settings, level, &error)))
    {
      fprintf (stderr, "bench-handshake: %s\n", error->message);
      return 1;
    }

  /* One untimed, to load and warm everything up (and, with --resume, to
   * get the first ticket: every timed handshake may then resume); the
   * --records loop runs on it. */
  b->module.records = records;
  if (!one_connection (b, &version, &error))
    {
      fprintf (stderr, "bench-handshake: %s\n", error->message);
      return 1;
    }
  b->module.records = 0;
  b->direct.resumed = 0;
  b->module.check_ns = 0;

  start = g_get_monotonic_time ();
  cpu0 = cpu_time_us ();
  deadline = start + (gint64)(seconds * G_USEC_PER_SEC);
  do
    {
      if (!one_connection (b, NULL, &error))
        {
          fprintf (stderr, "bench-handshake: handshake %ld: %s\n", count + 1,
                   error->message);
          return 1;
        }
      count++;
      now = g_get_monotonic_time ();
    }
  while (now < deadline);
  wall_us = now - start;
  cpu_us = cpu_time_us () - cpu0;

  printf ("bench-handshake: engine=%s security=%s cert=%s handshakes=%ld seconds=%.2f "
          "per_second=%.0f us_each=%.1f cpu_us_each=%.1f",
          resume ? "gnutls-resume" : direct ? "gnutls" : "module",
          latch_security_level_name (level), name, count, (double)wall_us / G_USEC_PER_SEC,
          (double)count * G_USEC_PER_SEC / (double)wall_us, (double)wall_us / (double)count,
          (double)cpu_us / (double)count);
  if (!direct)
    printf (" client_creds_us=%.0f", b->module.creds_us);
  if (mutual)
    printf (" peer_id_check_us_each=%.2f", (double)b->module.check_ns / 1000.0 / (double)count);
  if (resume)
    printf (" resumed=%d", b->direct.resumed);
  if (direct)
    printf (" group=%s", b->direct.group);
  printf (" (client+server CPU together) [%s]\n", version);
  if (records > 0)
    {
      gint64 plain_us = plain_records (records);

      if (plain_us < 0)
        {
          fprintf (stderr, "bench-handshake: plain socketpair round trips failed\n");
          return 1;
        }
      printf ("bench-handshake: records=%d bytes=%d each way: tls_us_each=%.2f "
              "plain_us_each=%.2f (one connection, both ends in this thread)\n",
              records, RECORD_SIZE, (double)b->module.records_us / records,
              (double)plain_us / records);
    }
  return 0;
}
