/* api-user: a program that knows only latch.h and liblatch.so, built by
 * liblatch.sh the way a user would build one.  Prints one line per check;
 * exit 0 when all hold. */
#include <latch.h>

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures;

static void
expect (int cond, const char *what)
{
  printf ("%s %s\n", cond ? "ok" : "FAILED", what);
  failures += !cond;
}

/* With LATCH_TEST_PKI (tests/tls-certs.sh's directory): the TLS setters,
 * a mutual-level lock and a partial configuration. */
static void
tls_checks (const char *pki, const char *socket)
{
  LatchHandle *h = latch_handle_new ();
  LatchHandle *p = latch_handle_new ();
  char cert[4096], key[4096], ca[4096];

  snprintf (cert, sizeof cert, "%s/peer1_ca1.pem", pki);
  snprintf (key, sizeof key, "%s/peer1_ca1.key", pki);
  snprintf (ca, sizeof ca, "%s/ca1.pem", pki);
  latch_set_socket_name (h, socket);
  latch_set_resource_name (h, "tls");
  latch_set_daemon_lifespan (h, -1);
  expect (latch_set_tls_certificate (h, cert) == LATCH_RC_OK
              && latch_set_tls_private_key (h, key) == LATCH_RC_OK
              && latch_set_tls_ca_certificate (h, ca) == LATCH_RC_OK
              && latch_set_tls_check_peer_id (h, 1) == LATCH_RC_OK,
          "TLS setters");
  expect (latch_set_security_level (h, (LatchSecurityLevel)7) == LATCH_RC_INVALID_OPTION,
          "an unknown security level is refused");
  expect (latch_lock (h) == LATCH_RC_OK, "a mutual-level lock (starting a TLS daemon)");
  expect (latch_get_fence (h) > 0, "...with a fencing token");
  expect (latch_get_warnings (h) == NULL, "...without warnings");
  expect (latch_unlock (h, 0) == LATCH_RC_OK, "...and its unlock");
  {
    /* A key others can read: a warning, for the program to say (the
     * library prints nothing; liblatch.sh checks stderr). */
    LatchHandle *w = latch_handle_new ();
    char loose[4200];
    FILE *in = fopen (key, "r");
    FILE *out;

    snprintf (loose, sizeof loose, "%s.loose", key);
    out = fopen (loose, "w");
    if (in != NULL && out != NULL)
      {
        char buf[4096];
        size_t n;

        while ((n = fread (buf, 1, sizeof buf, in)) > 0)
          fwrite (buf, 1, n, out);
      }
    if (in != NULL)
      fclose (in);
    if (out != NULL)
      fclose (out);
    chmod (loose, 0644);
    latch_set_socket_name (w, socket);
    latch_set_resource_name (w, "tls");
    latch_set_tls_certificate (w, cert);
    latch_set_tls_private_key (w, loose);
    latch_set_tls_ca_certificate (w, ca);
    latch_set_tls_check_peer_id (w, 1);
    expect (latch_lock (w) == LATCH_RC_OK, "a lock with a private key readable by others");
    expect (latch_get_warnings (w) != NULL && strstr (latch_get_warnings (w), "readable") != NULL,
            "...gives a warning through latch_get_warnings ()");
    expect (latch_unlock (w, 0) == LATCH_RC_OK, "...and unlocks");
    latch_handle_free (w);
  }

  latch_set_socket_name (p, socket);
  latch_set_resource_name (p, "tls");
  latch_set_tls_certificate (p, cert);
  expect (latch_lock (p) == LATCH_RC_INVALID_OPTION
              && strstr (latch_get_error (p), "incomplete TLS configuration") != NULL,
          "a partial TLS configuration is refused, not clear text");
  latch_set_tls_certificate (p, NULL);
  expect (latch_lock (p) == LATCH_RC_NO_TLS_CONNECTION
              && strstr (latch_get_error (p), "requires TLS") != NULL,
          "a clear handle is told that the daemon requires TLS");
  expect (latch_shutdown_daemon (h, 1) == LATCH_RC_OK, "the TLS daemon is stopped");
  latch_handle_free (h);
  latch_handle_free (p);
}

int
main (void)
{
  LatchHandle *a = latch_handle_new ();
  LatchHandle *b = latch_handle_new ();
  uint64_t f1, f2;
  struct pollfd pfd;

  expect (latch_set_resource_name (a, "api") == LATCH_RC_OK, "set a name");
  expect (latch_set_resource_name (b, "a b") == LATCH_RC_INVALID_RESOURCE_NAME,
          "an invalid name is refused");
  expect (strstr (latch_get_error (b), "'a b'") != NULL, "...and named in the error");
  expect (latch_set_resource_name (b, "api") == LATCH_RC_OK, "b uses the same name");
  expect (latch_set_daemon_lifespan (a, -1) == LATCH_RC_OK, "daemon lifespan -1");
  expect (latch_lock (a) == LATCH_RC_OK, "a locks (starting a daemon)");
  f1 = latch_get_fence (a);
  expect (f1 > 0, "a got a fencing token");
  expect (latch_set_resource_name (a, "other") == LATCH_RC_API_IMMUTABLE_HANDLE,
          "options are fixed while locked");
  expect (latch_lock (a) == LATCH_RC_API_INVALID_SEQUENCE, "locking twice is refused");
  latch_set_resource_timeout (b, 0);
  expect (latch_lock (b) == LATCH_RC_LOCK_BUSY, "b with timeout 0 finds it busy");
  latch_set_resource_timeout (b, 200);
  expect (latch_lock (b) == LATCH_RC_NETWORK_TIMEOUT, "b with timeout 200 ms times out");
  expect (latch_unlock (a, 0) == LATCH_RC_OK, "a unlocks");
  expect (latch_unlock (a, 0) == LATCH_RC_API_INVALID_SEQUENCE, "unlocking twice is refused");
  expect (latch_lock (b) == LATCH_RC_OK, "b locks once a has unlocked");
  f2 = latch_get_fence (b);
  expect (f2 > f1, "b's token is greater than a's");

  /* The daemon goes away: the fd reports it. */
  expect (latch_shutdown_daemon (a, 1) == LATCH_RC_OK, "a stops the daemon at once");
  pfd.fd = latch_get_fd (b);
  pfd.events = POLLIN;
  expect (pfd.fd >= 0 && poll (&pfd, 1, 5000) == 1, "b's fd reports the lock lost");
  expect (latch_unlock (b, 0) == LATCH_RC_CONNECTION_CLOSED, "b's unlock says it was lost");
  expect (strcmp (latch_strerror (LATCH_RC_LOCK_BUSY), "resource busy") == 0, "latch_strerror");

  if (getenv ("LATCH_TEST_PKI") != NULL && getenv ("LATCH_TEST_TLS_SOCKET") != NULL)
    tls_checks (getenv ("LATCH_TEST_PKI"), getenv ("LATCH_TEST_TLS_SOCKET"));

  latch_handle_free (a);
  latch_handle_free (b);
  return failures == 0 ? 0 : 1;
}
