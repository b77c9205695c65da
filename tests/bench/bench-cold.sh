#!/bin/bash
# bench-cold.sh: what a daemon start costs, and what the daemon spends per
# lock+unlock.  Called by run.sh (`make bench`), or by hand from the build
# directory: bash ../tests/bench/bench-cold.sh
#
# LATCH and LATCH_DAEMON name the latch command and latchd (default
# ./latch and ./latchd here); BENCH_DIR names the directory of bench-lock
# (default tests/bench).  Everything lives in a private temp dir; every
# daemon started here is told to exit, and every step is bounded by
# `timeout` or a bounded wait.
#
#  1. Libraries: the shared objects a clear-text latchd has mapped once it
#     is ready (/proc/PID/maps), and those it names to the linker (ldd).
#  2. Whole command, cold against warm (hyperfine): the cold command must
#     start the daemon itself, since --prepare waits (flock on the lock
#     file, bounded) until the previous one, started with -d 1 and
#     --idle-lifespan-min=0, has exited; the warm one finds a daemon that
#     stays (-d -1), with the same command line.  Goals: cold <= 2x warm
#     and <= 6.3 ms (FLoM's cold command in issue 13's run).
#  3. Instructions per lock+unlock in the daemon: latchd under
#     valgrind --tool=callgrind, driven by bench-lock (one client, each
#     lock+unlock a connection of its own), minus the same daemon started
#     and stopped with no round trip, divided by the round trips.
#     Goal: <= 60k.
# Exits non-zero when a step fails; skips a step whose tool is missing.

set -u

# shellcheck source-path=SCRIPTDIR source=bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
bench_paths
export LATCH_DAEMON
CALLGRIND_SECONDS=${CALLGRIND_SECONDS:-4}
HF_RUNS=${HF_RUNS:-200}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/latch-bench-cold.XXXXXX") || exit 1
TMP=$(absolute "$TMP")
COLD_SOCK=$TMP/cold.sock
WARM_SOCK=$TMP/warm.sock
CG_SOCK=$TMP/cg.sock

# stop SOCK: tells the daemon at SOCK, if any, to exit, and waits (at most
# 10 s) until it has released its lock file.
stop () {
  if [ -S "$1" ]; then
    timeout 10 "$LATCH" -s "$1" -X >/dev/null 2>&1 || true
  fi
  if [ -e "$1.lock" ]; then
    timeout 10 flock "$1.lock" true >/dev/null 2>&1 || true
  fi
}

# shellcheck disable=SC2317 # invoked through the trap
cleanup () {
  stop "$WARM_SOCK"
  stop "$COLD_SOCK"
  stop "$CG_SOCK"
  rm -rf "$TMP"
}
bench_traps

status=0

# ---- 1. libraries --------------------------------------------------------
echo "== cold start: shared objects of a clear-text latchd"
echo "ldd latchd: $(ldd "$LATCH_DAEMON" 2>/dev/null | grep -c '=>') libraries"
if timeout 20 "$LATCH" -s "$WARM_SOCK" -d -1 -r bench -- true; then
  pid=$(cat "$WARM_SOCK.lock" 2>/dev/null)
  if [ -n "$pid" ] && [ -r "/proc/$pid/maps" ]; then
    maps=$(awk '$6 ~ /\.so/ { print $6 }' "/proc/$pid/maps" | sort -u)
    echo "mapped by the running daemon (pid $pid): $(echo "$maps" | grep -c .) shared objects:"
    echo "$maps" | sed 's/^/  /'
  else
    echo "run.sh: bench-cold: no pid in $WARM_SOCK.lock" >&2
    status=1
  fi
else
  echo "bench-cold: could not start the daemon at $WARM_SOCK" >&2
  status=1
fi
echo

# ---- 2. cold vs warm -------------------------------------------------------
echo "== cold start: whole command, the daemon started by it (cold) or running (warm)"
if ! command -v hyperfine >/dev/null 2>&1; then
  echo "hyperfine is not installed: skipped (apt-get install hyperfine)"
elif ! command -v flock >/dev/null 2>&1; then
  echo "flock(1) is not installed: skipped"
elif [ "$status" -eq 0 ]; then
  opts="-d 1 --idle-lifespan-min=0 -r bench"
  timeout 600 hyperfine -N --style basic --warmup 10 --runs "$HF_RUNS" \
    --export-markdown "$TMP/cold.md" --export-json "$TMP/cold.json" \
    --prepare "timeout 10 flock $COLD_SOCK.lock true" \
    --command-name "cold: latch -s SOCK $opts -- true" \
    "$LATCH -s $COLD_SOCK $opts -- true" \
    --prepare "true" \
    --command-name "warm: latch -s SOCK $opts -- true" \
    "$LATCH -s $WARM_SOCK $opts -- true"
  rc=$?
  if [ "$rc" -eq 0 ] && [ -s "$TMP/cold.json" ]; then
    echo
    cat "$TMP/cold.md"
    means=$(sed -n 's/^ *"mean": *\([0-9.e+-]*\),*$/\1/p' "$TMP/cold.json")
    cold=$(echo "$means" | sed -n 1p)
    warm=$(echo "$means" | sed -n 2p)
    echo
    awk -v c="$cold" -v w="$warm" 'BEGIN {
      printf "cold %.2f ms, warm %.2f ms: cold/warm %.2f (goal <= 2); cold %s 6.3 ms (FLoM, issue 13)\n",
             1000 * c, 1000 * w, c / w, (1000 * c <= 6.3 ? "<=" : ">") }'
  else
    echo "bench-cold: hyperfine: failed (exit status $rc)" >&2
    status=1
  fi
fi
stop "$WARM_SOCK"
stop "$COLD_SOCK"
echo

# ---- 3. instructions per lock+unlock ----------------------------------------
echo "== daemon instructions per lock+unlock (callgrind, bench-lock, 1 client, EX)"
# callgrind_ir N FILE: runs latchd under callgrind on $CG_SOCK, N seconds
# of bench-lock against it (none when N is 0), then stops it; prints the
# total instructions and the round trips, and leaves bench-lock's line in
# FILE.
callgrind_ir () {
  local seconds=$1 file=$2 vg i
  rm -f "$TMP/cg.out" "$file"
  : >"$file"
  valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.out" \
    "$LATCH_DAEMON" --socket-name="$CG_SOCK" --daemon-lifespan=-1 \
    2>"$TMP/cg.log" &
  vg=$!
  # Ready when a command that never starts a daemon (-d 0) gets a lock.
  for i in $(seq 1 300); do
    if "$LATCH" -s "$CG_SOCK" -d 0 -r probe -- true >/dev/null 2>&1; then
      break
    fi
    if ! kill -0 "$vg" 2>/dev/null || [ "$i" = 300 ]; then
      echo "bench-cold: latchd under callgrind did not start" >&2
      cat "$TMP/cg.log" >&2
      kill "$vg" 2>/dev/null
      wait "$vg" 2>/dev/null
      return 1
    fi
    sleep 0.1
  done
  if [ "$seconds" != 0 ]; then
    timeout $((seconds + 60)) "$BENCH_DIR/bench-lock" --socket "$CG_SOCK" --no-start \
      --clients 1 --seconds "$seconds" --mode EX >"$file" || {
      echo "bench-cold: bench-lock under callgrind failed" >&2
      stop "$CG_SOCK"
      wait "$vg"
      return 1
    }
  fi
  stop "$CG_SOCK"
  if ! timeout 60 tail --pid="$vg" -f /dev/null; then
    kill "$vg" 2>/dev/null
  fi
  wait "$vg"
  sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$TMP/cg.out"
}
if ! command -v valgrind >/dev/null 2>&1; then
  echo "valgrind is not installed: skipped (apt-get install valgrind)"
elif [ ! -x "$BENCH_DIR/bench-lock" ]; then
  echo "bench-cold: $BENCH_DIR/bench-lock is missing" >&2
  status=1
else
  idle_ir=$(callgrind_ir 0 "$TMP/cg0.txt")
  busy_ir=$(callgrind_ir "$CALLGRIND_SECONDS" "$TMP/cg1.txt")
  trips=$(sed -n 's/.* round_trips=\([0-9]*\).*/\1/p' "$TMP/cg1.txt")
  cat "$TMP/cg1.txt"
  if [ -n "$idle_ir" ] && [ -n "$busy_ir" ] && [ -n "$trips" ] && [ "$trips" -gt 0 ]; then
    awk -v i="$idle_ir" -v b="$busy_ir" -v n="$trips" 'BEGIN {
      per = (b - i) / n
      printf "latchd Ir: %d started and stopped, %d with %d round trips: %.0f per lock+unlock (goal <= 60000)\n",
             i, b, n, per }'
  else
    echo "bench-cold: no callgrind figures (idle=${idle_ir:-?} busy=${busy_ir:-?} round trips=${trips:-?})" >&2
    status=1
  fi
fi

exit "$status"
