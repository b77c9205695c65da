#!/bin/sh
# Replays every fuzz target over its seed corpus and crash reproducers
# (the libFuzzer-free build of the targets).  TAP.
set -u
src=${LATCH_TESTS_SRCDIR:?}/fuzz
bld=${LATCH_TESTS_BUILDDIR:?}/fuzz
n=0
fail=0
for target in fuzz-codec fuzz-framer; do
  for dir in "$src/$target.in" "$src/$target.repro"; do
    [ -d "$dir" ] || continue
    n=$((n + 1))
    count=$(find "$dir" -type f ! -name .gitkeep | wc -l)
    if "$bld/$target-replay" "$dir" > /dev/null; then
      echo "ok $n - $target replays $(basename "$dir") ($count inputs)"
    else
      echo "not ok $n - $target replays $(basename "$dir")"
      fail=1
    fi
  done
done
echo "1..$n"
exit $fail
