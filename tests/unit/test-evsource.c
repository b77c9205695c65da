/* test-evsource.c: many descriptors through one epoll source
 * (net/evsource.c).
 *
 * Real socketpairs in this thread's main loop: readiness reaches exactly
 * the watches whose descriptor is ready; one dispatch handles at most
 * LATCH_EV_BATCH events and every ready descriptor gets its turn; a
 * callback may remove (and close) other watches with events in the same
 * batch, even when a new watch reuses the descriptor; a modify is one
 * epoll_ctl and no dispatch; shutdown leaves the descriptors open and the
 * watches inert, and the source can be made again.  Nothing sleeps: each
 * wait runs the loop with a bound. */

#include "config.h"

#include "net/evsource.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 4000

static gboolean
bound_cb (gpointer data)
{
  *(gboolean *)data = TRUE;
  return G_SOURCE_REMOVE;
}

#define WAIT_FOR(cond)                                                         \
  G_STMT_START                                                                 \
  {                                                                            \
    gboolean expired_ = FALSE;                                                 \
    guint bound_ = g_timeout_add (WAIT_MS, bound_cb, &expired_);              \
                                                                               \
    while (!(cond) && !expired_)                                               \
      g_main_context_iteration (NULL, TRUE);                                   \
    if (!expired_)                                                             \
      g_source_remove (bound_);                                                \
    if (!(cond))                                                               \
      g_error ("%s:%d: still not (%s)", __FILE__, __LINE__, #cond);            \
  }                                                                            \
  G_STMT_END

typedef struct _Pair
{
  int fd;      /* watched */
  int peer;    /* the other end */
  LatchEvWatch *watch;
  guint calls;
  GIOCondition last;
  gboolean drain;     /* the callback reads what is there */
  /* remove-in-dispatch */
  GPtrArray *victims; /* Pair*: removed and closed by this callback */
  struct _Pair *reuse; /* re-opened on a victim's descriptor */
} Pair;

static void
pair_cb (LatchEvWatch *watch, int fd, GIOCondition cond, gpointer user_data)
{
  Pair *p = user_data;

  g_assert_true (watch == p->watch);
  g_assert_cmpint (fd, ==, p->fd);
  p->calls++;
  p->last = cond;
  if (p->drain)
    {
      char buf[256];

      while (recv (fd, buf, sizeof buf, 0) > 0)
        ;
    }
}

static void
pair_open (Pair *p, GIOCondition cond)
{
  int fds[2];
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), ==,
                   0);
  p->fd = fds[0];
  p->peer = fds[1];
  p->watch = latch_ev_watch_add (p->fd, cond, pair_cb, p, &error);
  g_assert_no_error (error);
  g_assert_nonnull (p->watch);
}

static void
pair_close (Pair *p)
{
  g_clear_pointer (&p->watch, latch_ev_watch_remove);
  if (p->fd >= 0)
    close (p->fd);
  if (p->peer >= 0)
    close (p->peer);
  p->fd = p->peer = -1;
}

static void
poke (Pair *p)
{
  g_assert_cmpint (send (p->peer, "x", 1, MSG_NOSIGNAL), ==, 1);
}

/* Runs the loop without blocking until nothing is left to dispatch. */
static void
settle (void)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

/* 500 watches; 10 become readable: exactly those are called. */
static void
test_many (void)
{
  enum { N = 500 };
  Pair *p = g_new0 (Pair, N);
  guint base = latch_ev_count ();
  guint total = 0;

  for (int i = 0; i < N; i++)
    {
      pair_open (&p[i], G_IO_IN);
      p[i].drain = TRUE;
    }
  g_assert_cmpuint (latch_ev_count (), ==, base + N);
  settle ();
  for (int i = 0; i < N; i++)
    g_assert_cmpuint (p[i].calls, ==, 0);
  for (int i = 7; i < N; i += 50)
    poke (&p[i]);
  WAIT_FOR (p[N - 43].calls == 1);
  settle ();
  for (int i = 0; i < N; i++)
    {
      g_assert_cmpuint (p[i].calls, ==, (i % 50) == 7 ? 1 : 0);
      if (p[i].calls != 0)
        g_assert_true (p[i].last & G_IO_IN);
      total += p[i].calls;
    }
  g_assert_cmpuint (total, ==, 10);
  for (int i = 0; i < N; i++)
    pair_close (&p[i]);
  g_assert_cmpuint (latch_ev_count (), ==, base);
  g_free (p);
}

/* 200 descriptors stay readable (nothing reads them): one dispatch
 * handles LATCH_EV_BATCH of them, and within ceil(200 / batch)
 * dispatches every one has had its turn. */
static void
test_batch (void)
{
  enum { N = 200 };
  Pair *p = g_new0 (Pair, N);
  guint64 before;
  guint called = 0, sum = 0;
  guint rounds = (N + LATCH_EV_BATCH - 1) / LATCH_EV_BATCH;

  for (int i = 0; i < N; i++)
    {
      pair_open (&p[i], G_IO_IN);
      poke (&p[i]);
    }
  before = latch_ev_dispatch_count ();
  while (latch_ev_dispatch_count () == before)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (latch_ev_dispatch_count (), ==, before + 1);
  for (int i = 0; i < N; i++)
    sum += p[i].calls;
  g_assert_cmpuint (sum, ==, LATCH_EV_BATCH);
  while (latch_ev_dispatch_count () < before + rounds)
    g_main_context_iteration (NULL, TRUE);
  for (int i = 0; i < N; i++)
    {
      g_assert_cmpuint (p[i].calls, >=, 1);
      called++;
    }
  g_assert_cmpuint (called, ==, N);
  for (int i = 0; i < N; i++)
    pair_close (&p[i]);
  g_free (p);
}

static void
killer_cb (LatchEvWatch *watch, int fd, GIOCondition cond, gpointer user_data)
{
  Pair *p = user_data;

  pair_cb (watch, fd, cond, user_data);
  for (guint i = 0; i < p->victims->len; i++)
    {
      Pair *v = p->victims->pdata[i];
      int old_fd = v->fd;

      if (v->watch == NULL)
        continue; /* already gone */
      pair_close (v);
      /* A new watch on the same descriptor number: the old one's event in
       * this batch must not reach it. */
      if (p->reuse != NULL && p->reuse->watch == NULL)
        {
          pair_open (p->reuse, G_IO_IN);
          g_assert_cmpint (p->reuse->fd, ==, old_fd);
        }
    }
}

/* Two ready watches, each of whose callback removes and closes the
 * other: only the first called runs; the second's event, in the same
 * batch, reaches neither it nor the watch that took over its descriptor. */
static void
test_remove_in_dispatch (void)
{
  Pair a = { 0 }, b = { 0 }, reuse = { 0 };
  g_autoptr (GError) error = NULL;
  guint64 before;

  pair_open (&a, G_IO_IN);
  pair_open (&b, G_IO_IN);
  /* Re-registered with the killer callback. */
  latch_ev_watch_remove (a.watch);
  latch_ev_watch_remove (b.watch);
  a.watch = latch_ev_watch_add (a.fd, G_IO_IN, killer_cb, &a, &error);
  g_assert_no_error (error);
  b.watch = latch_ev_watch_add (b.fd, G_IO_IN, killer_cb, &b, &error);
  g_assert_no_error (error);
  a.victims = g_ptr_array_new ();
  b.victims = g_ptr_array_new ();
  g_ptr_array_add (a.victims, &b);
  g_ptr_array_add (b.victims, &a);
  a.reuse = b.reuse = &reuse;
  a.drain = b.drain = TRUE;
  poke (&a);
  poke (&b);
  before = latch_ev_dispatch_count ();
  WAIT_FOR (a.calls + b.calls > 0);
  /* Both events came in one batch. */
  g_assert_cmpuint (latch_ev_dispatch_count (), ==, before + 1);
  settle ();
  g_assert_cmpuint (a.calls + b.calls, ==, 1);
  g_assert_nonnull (reuse.watch);
  g_assert_cmpuint (reuse.calls, ==, 0);
  /* The new watch works. */
  reuse.drain = TRUE;
  poke (&reuse);
  WAIT_FOR (reuse.calls == 1);
  pair_close (&a);
  pair_close (&b);
  pair_close (&reuse);
  g_ptr_array_unref (a.victims);
  g_ptr_array_unref (b.victims);
}

/* A callback removing its own watch. */
static void
self_remove_cb (LatchEvWatch *watch, int fd G_GNUC_UNUSED, GIOCondition cond G_GNUC_UNUSED,
                gpointer user_data)
{
  Pair *p = user_data;

  p->calls++;
  g_assert_true (watch == p->watch);
  g_clear_pointer (&p->watch, latch_ev_watch_remove);
}

static void
test_remove_self (void)
{
  Pair p = { 0 };
  g_autoptr (GError) error = NULL;
  guint base;

  pair_open (&p, G_IO_IN);
  latch_ev_watch_remove (p.watch);
  base = latch_ev_count ();
  p.watch = latch_ev_watch_add (p.fd, G_IO_IN, self_remove_cb, &p, &error);
  g_assert_no_error (error);
  poke (&p);
  WAIT_FOR (p.calls == 1);
  settle ();
  g_assert_cmpuint (p.calls, ==, 1); /* still readable, but not watched */
  g_assert_null (p.watch);
  g_assert_cmpuint (latch_ev_count (), ==, base);
  pair_close (&p);
}

/* What a watch waits for changes with a modify; an idle watch's modify
 * costs no dispatch. */
static void
test_modify (void)
{
  Pair p = { 0 };
  guint64 before;

  pair_open (&p, G_IO_IN);
  p.drain = TRUE;
  settle ();
  before = latch_ev_dispatch_count ();
  /* Idle (nothing to read): changing back and forth wakes nothing. */
  g_assert_true (latch_ev_watch_modify (p.watch, G_IO_IN));
  g_assert_true (latch_ev_watch_modify (p.watch, 0));
  g_assert_true (latch_ev_watch_modify (p.watch, G_IO_IN));
  g_assert_false (g_main_context_pending (NULL));
  g_assert_cmpuint (latch_ev_dispatch_count (), ==, before);
  g_assert_cmpuint (p.calls, ==, 0);
  /* A socket is writable at once: OUT is reported. */
  g_assert_true (latch_ev_watch_modify (p.watch, G_IO_IN | G_IO_OUT));
  g_assert_cmpint (latch_ev_watch_get_cond (p.watch), ==, G_IO_IN | G_IO_OUT);
  WAIT_FOR (p.calls >= 1);
  g_assert_true (p.last & G_IO_OUT);
  g_assert_false (p.last & G_IO_IN);
  /* Back to IN: no more calls until input comes, and then IN only. */
  g_assert_true (latch_ev_watch_modify (p.watch, G_IO_IN));
  settle ();
  p.calls = 0;
  settle ();
  g_assert_cmpuint (p.calls, ==, 0);
  poke (&p);
  WAIT_FOR (p.calls == 1);
  g_assert_cmpint (p.last, ==, G_IO_IN);
  pair_close (&p);
}

/* The peer goes: HUP is reported even to a watch waiting for nothing. */
static void
test_hup (void)
{
  Pair p = { 0 };

  pair_open (&p, 0);
  close (p.peer);
  p.peer = -1;
  WAIT_FOR (p.calls >= 1);
  g_assert_true (p.last & G_IO_HUP);
  g_assert_false (p.last & G_IO_IN);
  pair_close (&p);
}

/* Shutdown: descriptors stay open and the watches inert (no calls,
 * modify ignored, remove frees); the source can be made again. */
static void
test_shutdown (void)
{
  Pair p = { 0 }, q = { 0 };

  pair_open (&p, G_IO_IN);
  g_assert_true (latch_ev_is_initialised ());
  latch_ev_shutdown ();
  g_assert_false (latch_ev_is_initialised ());
  g_assert_cmpuint (latch_ev_count (), ==, 0);
  g_assert_cmpint (fcntl (p.fd, F_GETFD), >=, 0);
  poke (&p);
  settle ();
  g_assert_cmpuint (p.calls, ==, 0);
  g_assert_true (latch_ev_watch_modify (p.watch, G_IO_OUT));
  settle ();
  g_assert_cmpuint (p.calls, ==, 0);
  latch_ev_shutdown (); /* again: nothing */
  /* Made again on the next add. */
  pair_open (&q, G_IO_IN);
  g_assert_true (latch_ev_is_initialised ());
  q.drain = TRUE;
  poke (&q);
  WAIT_FOR (q.calls == 1);
  g_assert_cmpuint (p.calls, ==, 0);
  pair_close (&p); /* the inert watch: freed, its fd closed by us */
  pair_close (&q);
  g_assert_cmpuint (latch_ev_count (), ==, 0);
  latch_ev_shutdown ();
  g_assert_true (latch_ev_init (NULL));
  g_assert_true (latch_ev_init (NULL));
  latch_ev_shutdown ();
}

/* A descriptor that is not open is refused with an error. */
static void
test_bad_fd (void)
{
  g_autoptr (GError) error = NULL;
  int fds[2];
  LatchEvWatch *w;

  g_assert_cmpint (pipe (fds), ==, 0);
  close (fds[1]);
  close (fds[0]);
  w = latch_ev_watch_add (fds[0], G_IO_IN, pair_cb, NULL, &error);
  g_assert_null (w);
  g_assert_nonnull (error);
  g_assert_cmpuint (latch_ev_count (), ==, 0);
}

int
main (int argc, char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/evsource/many", test_many);
  g_test_add_func ("/evsource/batch", test_batch);
  g_test_add_func ("/evsource/remove-in-dispatch", test_remove_in_dispatch);
  g_test_add_func ("/evsource/remove-self", test_remove_self);
  g_test_add_func ("/evsource/modify", test_modify);
  g_test_add_func ("/evsource/hup", test_hup);
  g_test_add_func ("/evsource/bad-fd", test_bad_fd);
  g_test_add_func ("/evsource/shutdown", test_shutdown);
  ret = g_test_run ();
  latch_ev_shutdown ();
  return ret;
}
