#include "config.h"

#include "net/evsource.h"

#include "common/error.h"
#include "common/log.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

struct _LatchEvWatch
{
  int fd;
  guint32 gen;         /* this registration, in the events' data */
  GIOCondition cond;   /* what it waits for */
  gboolean inert;      /* the instance was shut down under it */
  LatchEvFunc func;
  gpointer user_data;
};

typedef struct
{
  GSource source;
} EvSource;

static int epfd = -1;
static GSource *ev_source;
/* The watch of each descriptor, indexed by fd: how a stale event (for a
 * watch removed earlier in the same batch) is recognised. */
static LatchEvWatch **slots;
static guint n_slots;
static guint n_watches;
static guint32 next_gen;
static guint64 n_dispatches;

static guint32
to_epoll (GIOCondition cond)
{
  guint32 ev = 0;

  if (cond & G_IO_IN)
    ev |= EPOLLIN;
  if (cond & G_IO_OUT)
    ev |= EPOLLOUT;
  return ev;
}

static GIOCondition
from_epoll (guint32 ev)
{
  GIOCondition cond = 0;

  if (ev & EPOLLIN)
    cond |= G_IO_IN;
  if (ev & EPOLLOUT)
    cond |= G_IO_OUT;
  if (ev & EPOLLHUP)
    cond |= G_IO_HUP;
  if (ev & EPOLLERR)
    cond |= G_IO_ERR;
  return cond;
}

static gboolean
ev_dispatch (GSource *source G_GNUC_UNUSED, GSourceFunc callback G_GNUC_UNUSED,
             gpointer user_data G_GNUC_UNUSED)
{
  struct epoll_event events[LATCH_EV_BATCH];
  int n;

  n_dispatches++;
  do
    n = epoll_wait (epfd, events, LATCH_EV_BATCH, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    {
      latch_log_warning ("epoll_wait: %s", g_strerror (errno));
      return G_SOURCE_CONTINUE;
    }
  for (int i = 0; i < n && epfd >= 0; i++)
    {
      int fd = (int)(events[i].data.u64 & 0xffffffffu);
      guint32 gen = (guint32)(events[i].data.u64 >> 32);
      LatchEvWatch *w = (guint)fd < n_slots ? slots[fd] : NULL;

      /* Removed by an earlier callback of this batch, or replaced by a
       * new watch on a reused descriptor. */
      if (w == NULL || w->gen != gen)
        continue;
      w->func (w, fd, from_epoll (events[i].events) & (w->cond | G_IO_HUP | G_IO_ERR),
               w->user_data);
    }
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs ev_funcs = {
  NULL, /* prepare: no timeout of its own */
  NULL, /* check: dispatched when the epoll fd is readable */
  ev_dispatch,
  NULL,
  NULL,
  NULL,
};

gboolean
latch_ev_init (GError **error)
{
  if (epfd >= 0)
    return TRUE;
  epfd = epoll_create1 (EPOLL_CLOEXEC);
  if (epfd < 0)
    {
      int saved = errno;
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_IO, "epoll_create1: %s", g_strerror (saved));
      return FALSE;
    }
  ev_source = g_source_new (&ev_funcs, sizeof (EvSource));
  g_source_set_name (ev_source, "latch connections");
  /* Not blocked during its own dispatch: blocking would take the epoll fd
   * out of the context's poll set and put it back, for nothing (the
   * callbacks never iterate the context). */
  g_source_set_can_recurse (ev_source, TRUE);
  g_source_add_unix_fd (ev_source, epfd, G_IO_IN);
  g_source_attach (ev_source, NULL);
  return TRUE;
}

void
latch_ev_shutdown (void)
{
  if (epfd < 0)
    return;
  for (guint i = 0; i < n_slots; i++)
    if (slots[i] != NULL)
      slots[i]->inert = TRUE;
  g_clear_pointer (&slots, g_free);
  n_slots = 0;
  n_watches = 0;
  g_source_destroy (ev_source);
  g_clear_pointer (&ev_source, g_source_unref);
  close (epfd);
  epfd = -1;
}

gboolean
latch_ev_is_initialised (void)
{
  return epfd >= 0;
}

static void
grow_slots (int fd)
{
  guint n = n_slots != 0 ? n_slots : 64;

  while (n <= (guint)fd)
    n *= 2;
  slots = g_renew (LatchEvWatch *, slots, n);
  for (guint i = n_slots; i < n; i++)
    slots[i] = NULL;
  n_slots = n;
}

LatchEvWatch *
latch_ev_watch_add (int fd, GIOCondition cond, LatchEvFunc func, gpointer user_data,
                    GError **error)
{
  struct epoll_event ev = { 0 };
  LatchEvWatch *w;

  g_return_val_if_fail (fd >= 0, NULL);
  if (!latch_ev_init (error))
    return NULL;
  if ((guint)fd >= n_slots)
    grow_slots (fd);
  g_return_val_if_fail (slots[fd] == NULL, NULL);
  w = g_new0 (LatchEvWatch, 1);
  w->fd = fd;
  w->gen = ++next_gen;
  w->cond = cond;
  w->func = func;
  w->user_data = user_data;
  ev.events = to_epoll (cond);
  ev.data.u64 = ((guint64)w->gen << 32) | (guint32)fd;
  if (epoll_ctl (epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
    {
      int saved = errno;
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_IO, "epoll_ctl add %d: %s", fd,
                   g_strerror (saved));
      g_free (w);
      return NULL;
    }
  slots[fd] = w;
  n_watches++;
  return w;
}

gboolean
latch_ev_watch_modify (LatchEvWatch *w, GIOCondition cond)
{
  struct epoll_event ev = { 0 };

  if (w->inert || w->cond == cond)
    return TRUE;
  ev.events = to_epoll (cond);
  ev.data.u64 = ((guint64)w->gen << 32) | (guint32)w->fd;
  if (epoll_ctl (epfd, EPOLL_CTL_MOD, w->fd, &ev) != 0)
    {
      latch_log_warning ("epoll_ctl mod %d: %s", w->fd, g_strerror (errno));
      return FALSE;
    }
  w->cond = cond;
  return TRUE;
}

GIOCondition
latch_ev_watch_get_cond (const LatchEvWatch *w)
{
  return w->cond;
}

void
latch_ev_watch_remove (LatchEvWatch *w)
{
  if (w == NULL)
    return;
  if (!w->inert)
    {
      /* Fails only if fd was closed first (the kernel dropped it then). */
      if (epoll_ctl (epfd, EPOLL_CTL_DEL, w->fd, NULL) != 0)
        latch_log_debug ("epoll_ctl del %d: %s", w->fd, g_strerror (errno));
      slots[w->fd] = NULL;
      n_watches--;
    }
  g_free (w);
}

guint
latch_ev_count (void)
{
  return n_watches;
}

guint64
latch_ev_dispatch_count (void)
{
  return n_dispatches;
}
