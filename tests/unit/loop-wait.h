/* loop-wait.h: waiting in the main loop for observable state, with a
 * bound (the tests that run real connections in the default context). */
#ifndef LATCH_TESTS_LOOP_WAIT_H
#define LATCH_TESTS_LOOP_WAIT_H

#include <glib.h>

static G_GNUC_UNUSED gboolean
bound_cb (gpointer data)
{
  *(gboolean *)data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the main loop until cond holds; fails after ms. */
#define WAIT_FOR_MS(cond, ms)                                                  \
  G_STMT_START                                                                 \
  {                                                                            \
    gboolean expired_ = FALSE;                                                 \
    guint bound_ = g_timeout_add ((ms), bound_cb, &expired_);                 \
                                                                               \
    while (!(cond) && !expired_)                                               \
      g_main_context_iteration (NULL, TRUE);                                   \
    if (!expired_)                                                             \
      g_source_remove (bound_);                                                \
    if (!(cond))                                                               \
      g_error ("%s:%d: still not (%s) after %d ms", __FILE__, __LINE__, #cond, \
               (int)(ms));                                                     \
  }                                                                            \
  G_STMT_END
#define WAIT_FOR(cond) WAIT_FOR_MS (cond, WAIT_MS)

#endif
