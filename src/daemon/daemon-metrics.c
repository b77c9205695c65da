/* daemon-metrics.c: the daemon's counters and gauges, in the Prometheus
 * text exposition format. */
#include "config.h"

#include "daemon/daemon-private.h"

char *
latch_daemon_metrics_text (Daemon *d G_GNUC_UNUSED)
{
  return g_strdup ("");
}
