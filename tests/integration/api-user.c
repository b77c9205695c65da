/* api-user: a program that knows only latch.h and liblatch.so, built by
 * liblatch.sh the way a user would build one.  Prints one line per check;
 * exit 0 when all hold.
 *
 *   api-user                     the API at large (its own daemon)
 *   api-user cycles SOCK N       N lock/unlock cycles on one handle
 *   api-user shared SOCK         shared handles on one connection
 *   api-user lost SOCK DIR       a lock the daemon's death takes away:
 *                                DIR/locked appears once it is held
 *   api-user reopen SOCK DIR N   a session the daemon closed while idle:
 *                                DIR/idle appears once idle, then it waits
 *                                for DIR/go; then N cycles
 *   api-user legacy PORT N       N cycles against a FLoM daemon (fake-flom)
 *                                on 127.0.0.1 PORT
 *   api-user script DIR          shared handles against a scripted session
 *                                daemon (a child process on DIR/script.sock):
 *                                answers for other ids while one handle
 *                                waits, a loss with its reason, a ping
 * The daemon of the modes is liblatch.sh's, which counts the connections
 * it accepted. */
#define _GNU_SOURCE /* memmem */
#include <latch.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
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

static LatchHandle *
mode_handle (const char *socket, const char *name)
{
  LatchHandle *h = latch_handle_new ();

  latch_set_socket_name (h, socket);
  latch_set_resource_name (h, name);
  latch_set_daemon_lifespan (h, 0); /* liblatch.sh's daemon, no other */
  return h;
}

/* Waits (10 s at most) for path to exist. */
static int
wait_file (const char *path)
{
  for (int i = 0; i < 1000; i++)
    {
      struct timespec ts = { 0, 10 * 1000 * 1000 };

      if (access (path, F_OK) == 0)
        return 1;
      nanosleep (&ts, NULL);
    }
  return 0;
}

static void
touch (const char *dir, const char *name)
{
  char path[4096];
  FILE *f;

  snprintf (path, sizeof path, "%s/%s", dir, name);
  f = fopen (path, "w");
  if (f != NULL)
    fclose (f);
}

/* n lock/unlock cycles; the first failure is reported. */
static void
cycles (LatchHandle *h, int n, const char *what)
{
  char line[256];
  int i, rc = LATCH_RC_OK;

  for (i = 0; i < n && rc == LATCH_RC_OK; i++)
    if ((rc = latch_lock (h)) == LATCH_RC_OK)
      rc = latch_unlock (h, 0);
  snprintf (line, sizeof line, "%s: %d lock/unlock cycles (rc %d after %d: %s)", what, n, rc,
            i, latch_get_error (h));
  expect (rc == LATCH_RC_OK, line);
}

static int
mode_cycles (const char *socket, int n)
{
  LatchHandle *h = mode_handle (socket, "cycles");
  uint64_t fence = 0;
  int fences_grow = 1;

  for (int i = 0; i < n; i++)
    {
      int rc = latch_lock (h);

      if (rc != LATCH_RC_OK)
        {
          printf ("FAILED lock %d: rc %d %s\n", i, rc, latch_get_error (h));
          return 1;
        }
      fences_grow &= latch_get_fence (h) > fence;
      fence = latch_get_fence (h);
      if ((rc = latch_unlock (h, 0)) != LATCH_RC_OK)
        {
          printf ("FAILED unlock %d: rc %d %s\n", i, rc, latch_get_error (h));
          return 1;
        }
    }
  expect (fences_grow, "each grant's fencing token is greater than the one before");
  /* A connection setting changed: the kept session is not used. */
  latch_set_socket_name (h, "/nonexistent/latch.sock");
  expect (latch_lock (h) == LATCH_RC_DAEMON_NOT_STARTED,
          "after a change of socket the next lock goes there, not to the kept session");
  latch_handle_free (h);
  return failures == 0 ? 0 : 1;
}

static int
mode_shared (const char *socket)
{
  LatchHandle *a = mode_handle (socket, "one");
  LatchHandle *b = latch_handle_new_shared (a);
  LatchHandle *c = latch_handle_new_shared (a);
  LatchHandle *other = mode_handle (socket, "one");

  expect (latch_handle_new_shared (NULL) == NULL, "latch_handle_new_shared (NULL) is NULL");
  expect (b != NULL && strcmp (latch_get_resource_name (b), "one") == 0,
          "a shared handle starts with the settings of its model");
  latch_set_resource_name (b, "two");
  expect (strcmp (latch_get_resource_name (a), "one") == 0,
          "...and its settings are its own");
  expect (latch_lock (a) == LATCH_RC_OK, "a locks 'one'");
  expect (latch_lock (b) == LATCH_RC_OK, "b, sharing a's connection, locks 'two' meanwhile");
  expect (latch_get_fd (a) >= 0 && latch_get_fd (a) == latch_get_fd (b),
          "...over the same connection");
  expect (latch_check (a) == LATCH_RC_OK && latch_check (b) == LATCH_RC_OK,
          "latch_check: both held");
  latch_set_resource_timeout (c, 0);
  expect (latch_lock (c) == LATCH_RC_LOCK_BUSY, "c, sharing it too, finds 'one' busy (timeout 0)");
  latch_set_resource_timeout (c, 200);
  expect (latch_lock (c) == LATCH_RC_NETWORK_TIMEOUT, "...and times out after 200 ms");
  latch_set_resource_timeout (other, 0);
  expect (latch_lock (other) == LATCH_RC_LOCK_BUSY,
          "a handle of its own finds 'one' busy too");
  expect (latch_unlock (a, 0) == LATCH_RC_OK, "a unlocks 'one'");
  expect (latch_check (a) == LATCH_RC_API_INVALID_SEQUENCE, "latch_check without a lock");
  latch_set_resource_timeout (c, 5000);
  expect (latch_lock (c) == LATCH_RC_OK, "c gets 'one' now (its timed-out request was withdrawn)");
  expect (latch_check (b) == LATCH_RC_OK, "b still holds 'two'");
  expect (latch_lock (other) == LATCH_RC_LOCK_BUSY, "the other handle finds 'one' busy (c)");
  latch_set_resource_name (other, "two");
  expect (latch_lock (other) == LATCH_RC_LOCK_BUSY, "...and 'two' busy (b)");
  latch_handle_free (a);
  expect (latch_check (b) == LATCH_RC_OK && latch_check (c) == LATCH_RC_OK,
          "freeing a leaves the connection to b and c");
  expect (latch_unlock (c, 0) == LATCH_RC_OK, "c unlocks 'one'");
  latch_handle_free (c);
  latch_handle_free (b); /* the last one: unlocks 'two', closes */
  latch_set_resource_timeout (other, 2000);
  latch_set_resource_name (other, "one");
  expect (latch_lock (other) == LATCH_RC_OK && latch_unlock (other, 0) == LATCH_RC_OK,
          "'one' is free once c unlocked it");
  latch_set_resource_timeout (other, 0);
  latch_set_resource_name (other, "two");
  expect (latch_lock (other) == LATCH_RC_OK,
          "'two' is free at once when the last sharing handle was freed");
  latch_handle_free (other);
  return failures == 0 ? 0 : 1;
}

static int
mode_lost (const char *socket, const char *dir)
{
  LatchHandle *h = mode_handle (socket, "lost");
  LatchHandle *s = latch_handle_new_shared (h);
  struct pollfd pfd;

  latch_set_resource_name (s, "lost2");
  expect (latch_lock (h) == LATCH_RC_OK && latch_lock (s) == LATCH_RC_OK,
          "two shared handles lock");
  expect (latch_check (h) == LATCH_RC_OK, "latch_check: held");
  touch (dir, "locked");
  pfd.fd = latch_get_fd (h);
  pfd.events = POLLIN;
  expect (pfd.fd >= 0 && poll (&pfd, 1, 10000) == 1, "the fd turns readable when the daemon dies");
  expect (latch_check (h) == LATCH_RC_CONNECTION_CLOSED, "latch_check then reports the loss");
  expect (strstr (latch_get_error (h), "lost") != NULL, "...in words");
  expect (latch_check (s) == LATCH_RC_CONNECTION_CLOSED, "...for the sharing handle too");
  expect (latch_unlock (h, 0) == LATCH_RC_CONNECTION_CLOSED, "the unlock says it was lost");
  expect (!latch_is_locked (h), "...and ends it");
  latch_handle_free (h);
  latch_handle_free (s);
  return failures == 0 ? 0 : 1;
}

static int
mode_reopen (const char *socket, const char *dir, int n)
{
  LatchHandle *h = mode_handle (socket, "reopen");
  char go[4096];

  snprintf (go, sizeof go, "%s/go", dir);
  /* The new daemon is started by this handle, with a trace of its own. */
  latch_set_daemon_lifespan (h, -1);
  cycles (h, 3, "before");
  touch (dir, "idle");
  expect (wait_file (go), "the daemon was replaced");
  cycles (h, n, "after the daemon closed the idle session");
  latch_handle_free (h);
  return failures == 0 ? 0 : 1;
}

static int
mode_legacy (int port, int n)
{
  LatchHandle *h = latch_handle_new ();

  latch_set_unicast_address (h, "127.0.0.1");
  latch_set_unicast_port (h, port);
  latch_set_daemon_lifespan (h, 0);
  latch_set_agent (h, 0);
  latch_set_resource_name (h, "legacy");
  for (int i = 0; i < n; i++)
    {
      int fd;

      if (latch_lock (h) != LATCH_RC_OK)
        {
          printf ("FAILED lock %d: %s\n", i, latch_get_error (h));
          return 1;
        }
      fd = latch_get_fd (h);
      expect (latch_check (h) == LATCH_RC_OK, "latch_check on a legacy connection: held");
      if (latch_unlock (h, 0) != LATCH_RC_OK)
        {
          printf ("FAILED unlock %d: %s\n", i, latch_get_error (h));
          return 1;
        }
      /* Closed by the unlock, as before: the descriptor is gone. */
      expect (fcntl (fd, F_GETFD) == -1 && errno == EBADF,
              "the unlock closed the legacy connection");
    }
  latch_handle_free (h);
  return failures == 0 ? 0 : 1;
}

/* ---- script: the scripted daemon ---------------------------------- */

static char script_buf[65536];
static size_t script_len;

/* The next message from the client into msg (NUL-terminated); 0 at end
 * of file or after 10 s. */
static int
script_next (int fd, char *msg, size_t size)
{
  for (;;)
    {
      char *end = memmem (script_buf, script_len, "</msg>", 6);
      struct pollfd pfd = { fd, POLLIN, 0 };
      ssize_t n;

      if (end != NULL)
        {
          size_t len = (size_t)(end + 6 - script_buf);

          snprintf (msg, size, "%.*s", (int)len, script_buf);
          memmove (script_buf, script_buf + len, script_len - len);
          script_len -= len;
          return 1;
        }
      if (poll (&pfd, 1, 10000) != 1)
        return 0;
      n = read (fd, script_buf + script_len, sizeof script_buf - script_len);
      if (n <= 0)
        return 0;
      script_len += (size_t)n;
    }
}

static void
script_send (int fd, const char *verb_step, const char *body)
{
  char msg[2048];
  int len = snprintf (msg, sizeof msg,
                      "<?xml version=\"1.0\" encoding=\"UTF-8\" ?><msg level=\"3\" %s>%s</msg>",
                      verb_step, body);

  if (write (fd, msg, (size_t)len) != len)
    _exit (3);
}

/* The client's next message must contain want and want2 (if not NULL)
 * and not unwanted (if not NULL). */
static void
script_expect (int fd, const char *want, const char *want2, const char *unwanted,
               const char *what)
{
  char msg[4096];
  int got = script_next (fd, msg, sizeof msg);

  if (!got || strstr (msg, want) == NULL || (want2 != NULL && strstr (msg, want2) == NULL)
      || (unwanted != NULL && strstr (msg, unwanted) != NULL))
    {
      printf ("FAILED the scripted daemon: %s: got %s\n", what, got ? msg : "nothing");
      fflush (stdout);
      _exit (1);
    }
}

static void __attribute__ ((noreturn))
script_daemon (int listener)
{
  int fd = accept (listener, NULL, NULL);
  char msg[4096];

  if (fd < 0)
    _exit (2);
  script_expect (fd, "verb=\"1\" step=\"8\"", "ext=\"1\"", NULL,
                 "b's request offers the session");
  script_send (fd, "verb=\"1\" step=\"16\"",
               "<session peerid=\"\" ext=\"1\"/><answer rc=\"0\" fence=\"1\" id=\"1\"/>");
  script_expect (fd, "verb=\"1\" step=\"8\"", "id=\"2\"", "ext=",
                 "a's request: id 2, no offer");
  script_send (fd, "verb=\"1\" step=\"16\"",
               "<session peerid=\"\"/><answer rc=\"1\" id=\"2\"/>");
  /* While a waits: b's lock is lost, and the daemon pings. */
  script_send (fd, "verb=\"1\" step=\"24\"",
               "<answer rc=\"8\" id=\"1\" reason=\"the daemon at 192.0.2.11 port 28015: "
               "gone\"/>");
  script_send (fd, "verb=\"3\" step=\"8\"", "");
  script_expect (fd, "verb=\"3\" step=\"16\"", NULL, NULL,
                 "the ping is answered while a waits");
  script_send (fd, "verb=\"1\" step=\"24\"", "<answer rc=\"0\" fence=\"2\" id=\"2\"/>");
  script_send (fd, "verb=\"1\" step=\"24\"", "<answer rc=\"0\" fence=\"3\" id=\"99\"/>");
  script_expect (fd, "verb=\"2\" step=\"8\"><resource name=\"cmE=\"", "id=\"2\"", NULL,
                 "a's unlock names id 2");
  script_expect (fd, "verb=\"1\" step=\"8\"", "id=\"3\"", "ext=",
                 "a's next request: id 3");
  script_send (fd, "verb=\"1\" step=\"16\"",
               "<session peerid=\"\"/><answer rc=\"0\" fence=\"4\" id=\"3\"/>");
  script_expect (fd, "verb=\"2\" step=\"8\"", "id=\"3\"", NULL,
                 "a's second unlock names id 3");
  /* The session ends under the next request (the daemon's idle deadline
   * crossing it): the client opens a new one and sends it again. */
  script_expect (fd, "verb=\"1\" step=\"8\"", "id=\"4\"", NULL, "a's third request: id 4");
  close (fd);
  script_len = 0;
  fd = accept (listener, NULL, NULL);
  if (fd < 0)
    _exit (2);
  script_expect (fd, "ext=\"1\"", "id=\"1\"", NULL,
                 "the request again on a new connection, offering the session, id 1");
  script_send (fd, "verb=\"1\" step=\"16\"",
               "<session peerid=\"\" ext=\"1\"/><answer rc=\"0\" fence=\"5\" id=\"1\"/>");
  script_expect (fd, "verb=\"2\" step=\"8\"", "id=\"1\"", NULL, "a's third unlock: id 1");
  /* b's lock was lost: its unlock sends nothing; then the end. */
  if (script_next (fd, msg, sizeof msg))
    {
      printf ("FAILED the scripted daemon: more than expected: %s\n", msg);
      fflush (stdout);
      _exit (1);
    }
  _exit (0);
}

static int
mode_script (const char *dir)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  int listener = socket (AF_UNIX, SOCK_STREAM, 0);
  LatchHandle *a, *b;
  pid_t pid;
  int status;

  snprintf (sun.sun_path, sizeof sun.sun_path, "%s/script.sock", dir);
  unlink (sun.sun_path);
  if (listener < 0 || bind (listener, (struct sockaddr *)&sun, sizeof sun) != 0
      || listen (listener, 4) != 0)
    {
      printf ("FAILED listen on %s\n", sun.sun_path);
      return 1;
    }
  fflush (stdout);
  if ((pid = fork ()) == 0)
    script_daemon (listener);
  close (listener);
  a = mode_handle (sun.sun_path, "ra");
  b = latch_handle_new_shared (a);
  latch_set_resource_name (b, "rb");
  latch_set_resource_timeout (a, 5000);
  expect (latch_lock (b) == LATCH_RC_OK, "b locks 'rb' (the session is accepted)");
  expect (latch_lock (a) == LATCH_RC_OK && latch_get_fence (a) == 2,
          "a, sharing it, is queued, then granted");
  expect (latch_check (b) == LATCH_RC_CONNECTION_CLOSED,
          "the loss the daemon sent for b while a waited is b's");
  expect (strstr (latch_get_error (b), "192.0.2.11 port 28015: gone") != NULL,
          "...with the daemon's reason in b's error");
  expect (latch_check (a) == LATCH_RC_OK, "a holds its lock (the stray grant for id 99 ignored)");
  expect (latch_unlock (a, 0) == LATCH_RC_OK, "a unlocks");
  expect (latch_lock (a) == LATCH_RC_OK && latch_get_fence (a) == 4, "a locks again (id 3)");
  expect (latch_unlock (a, 0) == LATCH_RC_OK, "...and unlocks");
  expect (latch_lock (a) == LATCH_RC_OK && latch_get_fence (a) == 5,
          "the session closed under a's next request: reopened, the request sent again");
  expect (latch_unlock (a, 0) == LATCH_RC_OK, "...and unlocked on the new session");
  expect (latch_unlock (b, 0) == LATCH_RC_CONNECTION_CLOSED, "b's unlock says it was lost");
  latch_handle_free (a);
  latch_handle_free (b);
  expect (waitpid (pid, &status, 0) == pid && WIFEXITED (status) && WEXITSTATUS (status) == 0,
          "the scripted daemon saw what it expected");
  return failures == 0 ? 0 : 1;
}

int
main (int argc, char **argv)
{
  LatchHandle *a, *b;
  uint64_t f1, f2;
  struct pollfd pfd;

  if (argc >= 4 && strcmp (argv[1], "cycles") == 0)
    return mode_cycles (argv[2], atoi (argv[3]));
  if (argc >= 3 && strcmp (argv[1], "shared") == 0)
    return mode_shared (argv[2]);
  if (argc >= 4 && strcmp (argv[1], "lost") == 0)
    return mode_lost (argv[2], argv[3]);
  if (argc >= 5 && strcmp (argv[1], "reopen") == 0)
    return mode_reopen (argv[2], argv[3], atoi (argv[4]));
  if (argc >= 3 && strcmp (argv[1], "script") == 0)
    return mode_script (argv[2]);
  if (argc >= 4 && strcmp (argv[1], "legacy") == 0)
    return mode_legacy (atoi (argv[2]), atoi (argv[3]));

  a = latch_handle_new ();
  b = latch_handle_new ();

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
