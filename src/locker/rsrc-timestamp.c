/* rsrc-timestamp.c: STUB, being written.  Refuses every request. */
#include "config.h"

#include "locker/rsrc.h"

#include "common/error.h"

static gpointer
stub_create (const char *name, const LatchLockReq *req G_GNUC_UNUSED, GError **error)
{
  g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_NAME,
               "'%s': this resource type is not implemented yet", name);
  return NULL;
}

static gboolean
stub_is_grantable (gpointer state G_GNUC_UNUSED, const LatchLockReq *req G_GNUC_UNUSED,
                   gint64 now_us G_GNUC_UNUSED)
{
  return FALSE;
}

static char *
stub_grant (gpointer state G_GNUC_UNUSED, LatchRsrcHold *hold G_GNUC_UNUSED,
            gint64 now_us G_GNUC_UNUSED)
{
  return NULL;
}

static void
stub_release (gpointer state G_GNUC_UNUSED, LatchRsrcHold *hold G_GNUC_UNUSED,
              gboolean rollback G_GNUC_UNUSED)
{
}

const LatchRsrcClass latch_rsrc_timestamp_class = {
  .type = LATCH_RSRC_TIMESTAMP,
  .create = stub_create,
  .is_grantable = stub_is_grantable,
  .grant = stub_grant,
  .release = stub_release,
  .free = g_free,
};
