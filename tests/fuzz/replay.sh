#!/bin/sh
# Replays every fuzz target over its seed corpus and crash reproducers
# (the libFuzzer-free build of the targets).  TAP.
#
# A reproducer of a bug not fixed yet is named open-*: it is replayed on
# its own as a TODO test, so that it does not fail `make check`; once the
# bug is fixed it passes, the TAP driver reports an unexpected pass, and
# the file is renamed without "open-" to become a regression test.
set -u
src=${LATCH_TESTS_SRCDIR:?}/fuzz
bld=${LATCH_TESTS_BUILDDIR:?}/fuzz
n=0
fail=0
for target in fuzz-codec fuzz-framer fuzz-rsrc fuzz-discovery fuzz-sniff; do
  for dir in "$src/$target.in" "$src/$target.repro"; do
    [ -d "$dir" ] || continue
    n=$((n + 1))
    count=0
    set --
    for f in "$dir"/*; do
      [ -f "$f" ] || continue
      case $(basename "$f") in open-*) continue ;; esac
      count=$((count + 1))
      set -- "$@" "$f"
    done
    if [ $count -eq 0 ] || "$bld/$target-replay" "$@" > /dev/null; then
      echo "ok $n - $target replays $(basename "$dir") ($count inputs)"
    else
      echo "not ok $n - $target replays $(basename "$dir")"
      fail=1
    fi
    for f in "$dir"/open-*; do
      [ -f "$f" ] || continue
      n=$((n + 1))
      if "$bld/$target-replay" "$f" > /dev/null 2>&1; then
        echo "ok $n - $target replays $(basename "$f") # TODO open bug, passes now: rename it"
      else
        echo "not ok $n - $target replays $(basename "$f") # TODO open bug (doc/fuzzing.md)"
      fi
    done
  done
done
echo "1..$n"
exit $fail
