#include "config.h"

#include "common/error.h"

G_DEFINE_QUARK (latch-error-quark, latch_error)
G_DEFINE_QUARK (latch-proto-error-quark, latch_proto_error)

gboolean
latch_error_set (GError **error, int code, const char *format, ...)
{
  va_list ap;

  va_start (ap, format);
  if (error != NULL)
    g_propagate_error (error, g_error_new_valist (LATCH_ERROR, code, format, ap));
  va_end (ap);
  return FALSE;
}
