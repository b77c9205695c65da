/* client.h: what the latch command uses of liblatch beyond latch.h.
 *
 * Internal to latch: not exported by liblatch (its symbols match no
 * pattern of liblatch's export list). */
#ifndef LATCH_CLIENT_CLIENT_H
#define LATCH_CLIENT_CLIENT_H

#include <glib.h>

#include "latch.h"
#include "settings/settings.h"

G_BEGIN_DECLS

/* The handle takes every setting of config (copied), as the setters
 * would one by one, also those liblatch has no setter for (the daemon's
 * limits): a daemon h starts gets every daemon setting that differs from
 * its default.  config has passed latch_config_validate ().  Fails like
 * the setters (LATCH_RC_API_IMMUTABLE_HANDLE while locked,
 * LATCH_RC_INVALID_RESOURCE_NAME), and then h is unchanged. */
int latch_client_set_config (LatchHandle *h, const LatchConfig *config);

G_END_DECLS

#endif
