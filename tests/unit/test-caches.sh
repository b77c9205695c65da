#!/bin/sh
# test-caches.sh: test-caches (threads filling the machine-ID and TLS
# module caches at once, test-caches.c), run plainly, then under helgrind.
# TAP.
#
# Helgrind reports every pair of accesses to the same memory, one of them
# a write, that no pthread lock, barrier or thread start/join orders,
# whether or not the threads collided in this run: a cache filled without
# a lock fails this test every time, on any number of cores.  The
# suppressions file (caches-helgrind.supp; a test-* name would be
# ignored by git as a built program) says why each entry is there.
# Without valgrind, or on a sanitizer build (valgrind cannot run those),
# that check is skipped.

prog=${LATCH_TESTS_BUILDDIR:-tests}/unit/test-caches
supp=${LATCH_TESTS_SRCDIR:-$(dirname "$0")/..}/unit/caches-helgrind.supp

echo "1..2"

out=$("$prog" 2>&1)
status=$?
[ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/# /'
if [ $status -eq 0 ]; then
  echo "ok 1 - threads filling the caches at once agree"
else
  echo "not ok 1 - threads filling the caches at once agree (exit $status)"
fi

if ! command -v valgrind >/dev/null 2>&1; then
  echo "ok 2 # SKIP valgrind is not installed"
  exit 0
fi
if "$prog" --sanitized; then
  echo "ok 2 # SKIP a sanitizer build (valgrind cannot run it)"
  exit 0
fi
log=$(mktemp "${TMPDIR:-/tmp}/test-caches-helgrind.XXXXXX") || exit 1
# Exit 99: helgrind found something; 1: the program failed (or valgrind
# could not run it).
valgrind --tool=helgrind --error-exitcode=99 --suppressions="$supp" \
  --log-file="$log" "$prog" >/dev/null 2>&1
status=$?
if [ $status -eq 0 ]; then
  echo "ok 2 - helgrind: every access to the caches is ordered by a lock"
else
  sed 's/^/# /' "$log"
  echo "not ok 2 - helgrind: every access to the caches is ordered by a lock (exit $status)"
fi
rm -f "$log"
exit 0
