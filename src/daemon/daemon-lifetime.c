/* daemon-lifetime.c: when the daemon ends: idle exit, quiesce, signals. */
#include "config.h"

#include "daemon/daemon-private.h"

#include "common/log.h"

#include <glib-unix.h>
#include <signal.h>

gint64
latch_daemon_now_ms (void)
{
  return g_get_monotonic_time () / 1000;
}

static gboolean
idle_exit_cb (gpointer user_data)
{
  Daemon *d = user_data;
  int lifespan = d->config->settings->daemon_lifespan;
  gint64 idle_for;

  d->idle_id = 0;
  if (d->idle_since < 0)
    return G_SOURCE_REMOVE; /* busy again: re-armed when it is idle */
  idle_for = latch_daemon_now_ms () - d->idle_since;
  if (idle_for < lifespan)
    {
      d->idle_id = g_timeout_add ((guint)(lifespan - idle_for), idle_exit_cb, d);
      return G_SOURCE_REMOVE;
    }
  latch_log_info ("idle for %d ms: exiting", lifespan);
  g_main_loop_quit (d->loop);
  return G_SOURCE_REMOVE;
}

/* Called after every change: decides whether the daemon should end.  The
 * idle timer is not removed when work arrives (that would cost a main
 * loop wake-up per connection): when it fires it looks at idle_since.
 * A resource kept for its idle lifespan (or the minimum) counts as work,
 * as in FLoM: its state (a sequence's counter, a set's rotation) is what
 * the user asked to keep, so the daemon's own idle time starts only once
 * the lock table has destroyed it (its changed_cb calls here then). */
void
latch_daemon_check_lifetime (Daemon *d)
{
  int lifespan;
  gboolean idle;

  if (d->exiting)
    return;
  if (d->quiescing)
    {
      if (latch_table_n_active (d->table) == 0)
        {
          latch_log_info ("quiesced: no holder or waiter left; exiting");
          g_main_loop_quit (d->loop);
        }
      return;
    }
  idle = g_hash_table_size (d->clients) == 0
         && latch_table_n_resources (d->table) == 0;
  if (!idle)
    {
      d->idle_since = -1;
      return;
    }
  if (d->idle_since < 0)
    d->idle_since = latch_daemon_now_ms ();
  lifespan = d->config->settings->daemon_lifespan;
  /* The host's daemon is started by the service manager, never by a
   * command: one that left when idle would not come back. */
  if (d->config->settings->system)
    return;
  if (lifespan > 0 && d->idle_id == 0)
    d->idle_id = g_timeout_add ((guint)lifespan, idle_exit_cb, d);
}

/* A shutdown request without "immediate": serve who holds or waits,
 * refuse newcomers, exit once nobody is left.  label names the connection
 * that asked. */
void
latch_daemon_quiesce (Daemon *d, const char *label)
{
  latch_log_info ("%s: quiesce requested: serving %u holders and waiters, "
                  "refusing new requests", label, latch_table_n_active (d->table));
  d->quiescing = TRUE;
  g_clear_handle_id (&d->idle_id, g_source_remove);
  /* The local socket goes at once so that new commands wait for the next
   * daemon.  A TCP listener stays: remote clients it closes before any
   * answer retry until this daemon is gone (they cannot start one). */
  if (!d->is_tcp)
    latch_daemon_stop_listening (d);
  latch_daemon_check_lifetime (d);
}

static gboolean
terminate_cb (gpointer user_data)
{
  Daemon *d = user_data;

  latch_log_info ("terminated by a signal: exiting");
  g_main_loop_quit (d->loop);
  return G_SOURCE_CONTINUE;
}

void
latch_daemon_signals_add (Daemon *d)
{
  d->sigterm_id = g_unix_signal_add (SIGTERM, terminate_cb, d);
  d->sigint_id = g_unix_signal_add (SIGINT, terminate_cb, d);
}

void
latch_daemon_signals_remove (Daemon *d)
{
  g_clear_handle_id (&d->sigterm_id, g_source_remove);
  g_clear_handle_id (&d->sigint_id, g_source_remove);
}
