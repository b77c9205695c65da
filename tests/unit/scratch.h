/* scratch.h: scratch directories and test certificates for the unit
 * tests (and fuzz-sniff), one copy for all of them. */
#ifndef LATCH_TESTS_UNIT_SCRATCH_H
#define LATCH_TESTS_UNIT_SCRATCH_H

#include <glib.h>

G_BEGIN_DECLS

/* Removes path and everything below it.  FALSE if anything could not be
 * removed (the rest is removed all the same). */
gboolean latch_test_rm_rf (const char *path);

/* Runs tests/tls-certs.sh (found through G_TEST_SRCDIR) into a new
 * directory named from prefix ("test-tls" -> /tmp/test-tls-certs-XXXXXX),
 * with machine_id as the node certificates' ID, and returns the directory
 * (transfer full).  NULL, having said why on stderr, when certtool or the
 * script is missing: the caller skips its TLS tests.  A failing script
 * aborts the test. */
char *latch_test_make_certs (const char *prefix, const char *machine_id);

/* In a GTest function: skip it when dir (from latch_test_make_certs) is
 * NULL. */
#define LATCH_TEST_REQUIRE_CERTS(dir)                                            \
  G_STMT_START                                                                   \
  {                                                                              \
    if ((dir) == NULL)                                                           \
      {                                                                          \
        g_test_skip ("no test certificates (certtool or tls-certs.sh missing)"); \
        return;                                                                  \
      }                                                                          \
  }                                                                              \
  G_STMT_END

G_END_DECLS

#endif
