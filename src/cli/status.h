/* status.h: `latch status`, the waiting notice, and the holder named in a
 * busy message: the command's uses of the daemon's status answers
 * (doc/protocol.md, "Status"; liblatch's latch_client_status ()).
 *
 * Every query is a fresh connection straight to the daemon that holds
 * the lock table (never through the agent), and never starts a daemon. */
#ifndef LATCH_CLI_STATUS_H
#define LATCH_CLI_STATUS_H

#include <glib.h>

#include "latch.h"
#include "settings/settings.h"

G_BEGIN_DECLS

typedef enum
{
  LATCH_CLI_STATUS_TEXT,    /* the daemon's table */
  LATCH_CLI_STATUS_JSON,    /* --json */
  LATCH_CLI_STATUS_NAMES,   /* --names: one resource name per line */
  LATCH_CLI_STATUS_METRICS, /* --metrics: the Prometheus text */
} LatchStatusFormat;

/* `latch status`: prints what the daemon answers on stdout and returns
 * the exit status (0, or 99 after one line on stderr).  resource: -r's
 * name, NULL for every resource.  No daemon running: says so (text),
 * prints an empty document (--json) or nothing, and returns 0. */
int latch_cli_status (const LatchConfig *config, LatchStatusFormat format,
                      const char *resource);

/* "held by ..." for resource, from a holder query bounded by timeout_ms
 * (transfer full); NULL when nobody holds it, or no answer came. */
char *latch_cli_status_holder (const LatchConfig *config, const char *resource,
                               int timeout_ms);

/* The waiting notice: a thread that, first_ms after it starts and then
 * every LATCH_NOTICE_REPEAT_MS until latch_notice_stop (), asks the
 * daemon what lock_handle's request waits for and prints "latch: waiting
 * for 'R': ..." on stderr.  Started from latch_lock ()'s wait callback,
 * while the request is queued (NULL when first_ms <= 0).
 * latch_notice_stop () returns at once, and nothing is printed after it:
 * a query under way (bounded) finishes in the background, so that the
 * command starts without waiting for it; latch_notice_free () joins the
 * thread.  Both take NULL. */
#define LATCH_NOTICE_REPEAT_MS 30000

typedef struct LatchNotice LatchNotice;

LatchNotice *latch_notice_start (LatchHandle *lock_handle, const LatchConfig *config,
                                 int first_ms);
void latch_notice_stop (LatchNotice *notice);
void latch_notice_free (LatchNotice *notice);

G_END_DECLS

#endif
