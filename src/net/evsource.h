/* evsource.h: many descriptors watched through one epoll instance.
 *
 * GLib's main loop polls every descriptor of every source on each
 * iteration: with one GSource per connection an event costs O(number of
 * connections) (measured, issue 13: 0.09 ms per lock+unlock alone, 22 ms
 * beside 10,000 idle connections).  Here the loop watches a single
 * descriptor, the epoll instance's (g_source_add_unix_fd), and dispatch
 * asks epoll which registered descriptors are ready, so that an event
 * costs the same beside 10 or 10,000 idle ones.
 *
 *   GMainContext ──poll──▶ epoll fd (one GSource, can recurse)
 *                              │ dispatch: epoll_wait (…, LATCH_EV_BATCH, 0)
 *                              ▼
 *                 slots[fd] ─▶ LatchEvWatch {fd, gen, cond, func}
 *
 * Level-triggered: a descriptor that is still ready after its callback
 * is reported again next time, so a callback may read only part of what
 * is there.  At most LATCH_EV_BATCH events are handled per dispatch; the
 * kernel queues a level-triggered descriptor that stays ready behind the
 * others, so one busy peer cannot starve the rest (the loop also gets to
 * its other sources between batches).
 *
 * Changing what a watch waits for is one epoll_ctl (EPOLL_CTL_MOD), and
 * none when nothing changes: no GSource is added or removed, which would
 * wake the loop.
 *
 * Removal during dispatch: a callback may remove any watch, its own or
 * one whose event waits in the same batch, and may free what owns it.
 * Each event carries the descriptor and the watch's generation; the
 * dispatcher finds the watch through slots[fd] and skips the event when
 * the slot is empty or holds a newer watch (the descriptor was closed and
 * reused meanwhile).  So a removed watch is freed at once and never
 * reached again.
 *
 * Life: latch_ev_init() creates the instance and attaches its source to
 * the default main context; latch_ev_watch_add() calls it when needed.
 * latch_ev_shutdown() destroys both; watches still registered become
 * inert (they are never called again, modify does nothing), and their
 * owners still remove them, which then only frees them.  Descriptors are
 * never closed here: they belong to the owner.  One thread (the loop's). */
#ifndef LATCH_NET_EVSOURCE_H
#define LATCH_NET_EVSOURCE_H

#include <glib.h>

G_BEGIN_DECLS

/* Events handled per dispatch at most. */
#define LATCH_EV_BATCH 64

typedef struct _LatchEvWatch LatchEvWatch;

/* cond: what is ready, within what the watch waits for, plus G_IO_HUP and
 * G_IO_ERR, which are always reported.  The callback may modify or remove
 * any watch, including its own. */
typedef void (*LatchEvFunc) (LatchEvWatch *watch, int fd, GIOCondition cond,
                             gpointer user_data);

/* Creates the epoll instance and its source (in the default main
 * context).  TRUE if it exists afterwards; calling it again is a no-op. */
gboolean latch_ev_init (GError **error);
/* Destroys them (see above).  A no-op when not initialised. */
void latch_ev_shutdown (void);
gboolean latch_ev_is_initialised (void);

/* Watches fd (not owned) for cond (G_IO_IN and/or G_IO_OUT).  Initialises
 * the instance if needed.  NULL with error if epoll refuses (the
 * descriptor is invalid, or the instance cannot be created). */
LatchEvWatch *latch_ev_watch_add (int fd, GIOCondition cond, LatchEvFunc func,
                                  gpointer user_data, GError **error);
/* What the watch waits for from now on; nothing is done when it does not
 * change.  FALSE if epoll refused (then the watch keeps its old set). */
gboolean latch_ev_watch_modify (LatchEvWatch *watch, GIOCondition cond);
GIOCondition latch_ev_watch_get_cond (const LatchEvWatch *watch);
/* Unregisters and frees (NULL is accepted).  The descriptor must still be
 * open: remove before close. */
void latch_ev_watch_remove (LatchEvWatch *watch);

/* Watches registered (for tests and statistics). */
guint latch_ev_count (void);
/* Dispatches so far (for tests: a modify must not cost a wake-up). */
guint64 latch_ev_dispatch_count (void);

G_END_DECLS

#endif
