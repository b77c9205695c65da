#!/bin/bash
# run.sh: the `make bench` driver.
#
# Run from the build directory.  LATCH and LATCH_DAEMON name the latch
# command and latchd (default ./latch and ./latchd here); BENCH_DIR names
# the directory of bench-lock and bench-pingpong (default tests/bench).
# Every daemon lives on a socket in a private temp dir, or on 127.0.0.1 at
# a free port with its lock file in that dir, and is told to exit when
# this script ends; every step runs under `timeout`, so the whole run is
# bounded.  As root, bench-netns.sh (next to this script) then measures
# TCP and discovery between two network namespaces; otherwise one line
# says it was skipped.  Exits non-zero when a bench program fails.

set -u

absolute () {
  case $1 in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s\n' "$PWD/${1#./}" ;;
  esac
}

LATCH=$(absolute "${LATCH:-./latch}")
LATCH_DAEMON=$(absolute "${LATCH_DAEMON:-./latchd}")
BENCH_DIR=$(absolute "${BENCH_DIR:-tests/bench}")
SCRIPT_DIR=$(absolute "$(dirname "$0")")
export LATCH LATCH_DAEMON BENCH_DIR

BENCH_SECONDS=3
export BENCH_SECONDS
# Per step: the run time plus generous grace for start-up and shutdown.
STEP_TIMEOUT=$((BENCH_SECONDS + 30))
HYPERFINE_TIMEOUT=600
# bench-netns.sh bounds each of its steps by STEP_TIMEOUT; this bounds it all.
NETNS_TIMEOUT=$((8 * STEP_TIMEOUT))

for prog in "$LATCH" "$LATCH_DAEMON" "$BENCH_DIR/bench-lock" "$BENCH_DIR/bench-pingpong"; do
  if [ ! -x "$prog" ]; then
    echo "run.sh: $prog is missing or not executable (build it first: make bench)" >&2
    exit 1
  fi
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/latch-bench.XXXXXX") || exit 1
TMP=$(absolute "$TMP")
LOCK_SOCK=$TMP/lock.sock
HF_SOCK=$TMP/hyperfine.sock
# The TCP daemons' lock files go to $XDG_RUNTIME_DIR/latch: keep them here.
RUN_DIR=$TMP/run
mkdir -m 700 "$RUN_DIR" || exit 1

# free_port BASE: a TCP port from BASE up that nothing listens on.
free_port () {
  local port=$1
  while [ "$port" -lt 65000 ]; do
    if ! command -v ss >/dev/null 2>&1 || [ -z "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]; then
      echo "$port"
      return 0
    fi
    port=$((port + 1))
  done
  return 1
}
TCP_PORT=$(free_port $((20000 + $$ % 20000))) || exit 1
PP_PORT=$(free_port $((TCP_PORT + 1))) || exit 1

# shellcheck disable=SC2317 # invoked through the trap
cleanup () {
  for sock in "$LOCK_SOCK" "$HF_SOCK"; do
    if [ -S "$sock" ]; then
      timeout 10 "$LATCH" -s "$sock" -X >/dev/null 2>&1 || true
    fi
  done
  if [ -e "$RUN_DIR/latch/tcp-127.0.0.1-$TCP_PORT.lock" ]; then
    XDG_RUNTIME_DIR=$RUN_DIR timeout 10 "$LATCH" -a 127.0.0.1 -p "$TCP_PORT" -X \
      >/dev/null 2>&1 || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

status=0

# run NAME COMMAND...: runs a step under the step timeout, noting failure.
run () {
  local name=$1 rc
  shift
  timeout "$STEP_TIMEOUT" "$@"
  rc=$?
  if [ "$rc" -ne 0 ]; then
    if [ "$rc" -eq 124 ]; then
      echo "run.sh: $name: timed out after ${STEP_TIMEOUT}s" >&2
    else
      echo "run.sh: $name: failed (exit status $rc)" >&2
    fi
    status=1
  fi
}

cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n 1)
if [ -z "$cpu" ] && command -v lscpu >/dev/null 2>&1; then
  cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
fi

echo "== latch benchmarks"
echo "date:   $(date '+%Y-%m-%d %H:%M:%S %z')"
echo "nproc:  $(nproc)"
echo "cpu:    ${cpu:-unknown}"
echo "kernel: $(uname -r)"
echo "latch:  $LATCH"
echo "latchd: $LATCH_DAEMON"
echo

echo "== ceiling: UNIX socket ping-pong, 200 bytes each way"
run bench-pingpong "$BENCH_DIR/bench-pingpong" --seconds "$BENCH_SECONDS"
echo

echo "== liblatch lock+unlock, one resource, EX"
run "bench-lock 1 client" "$BENCH_DIR/bench-lock" --socket "$LOCK_SOCK" \
  --clients 1 --seconds "$BENCH_SECONDS" --mode EX
run "bench-lock 8 clients" "$BENCH_DIR/bench-lock" --socket "$LOCK_SOCK" \
  --clients 8 --seconds "$BENCH_SECONDS" --mode EX
echo

echo "== ceiling: TCP ping-pong on 127.0.0.1, 200 bytes each way"
timeout "$STEP_TIMEOUT" "$BENCH_DIR/bench-pingpong" --tcp-server "127.0.0.1:$PP_PORT" \
  --seconds "$BENCH_SECONDS" &
pp_server=$!
run "bench-pingpong --tcp" "$BENCH_DIR/bench-pingpong" --tcp "127.0.0.1:$PP_PORT" \
  --seconds "$BENCH_SECONDS"
if ! wait "$pp_server"; then
  echo "run.sh: bench-pingpong --tcp-server: failed" >&2
  status=1
fi
echo

echo "== liblatch lock+unlock over TCP on 127.0.0.1:$TCP_PORT, one resource, EX"
run "bench-lock --tcp 1 client" env XDG_RUNTIME_DIR="$RUN_DIR" "$BENCH_DIR/bench-lock" \
  --tcp "127.0.0.1:$TCP_PORT" --clients 1 --seconds "$BENCH_SECONDS" --mode EX
run "bench-lock --tcp 8 clients" env XDG_RUNTIME_DIR="$RUN_DIR" "$BENCH_DIR/bench-lock" \
  --tcp "127.0.0.1:$TCP_PORT" --clients 8 --seconds "$BENCH_SECONDS" --mode EX
echo

echo "== across hosts: two network namespaces"
if [ ! -f "$SCRIPT_DIR/bench-netns.sh" ]; then
  echo "bench-netns: skipped: $SCRIPT_DIR/bench-netns.sh is missing"
elif [ "$(id -u)" = 0 ]; then
  timeout "$NETNS_TIMEOUT" bash "$SCRIPT_DIR/bench-netns.sh"
  rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "run.sh: bench-netns.sh: failed (exit status $rc)" >&2
    status=1
  fi
else
  echo "bench-netns: skipped: needs root for network namespaces"
fi
echo

echo "== whole command: latch vs flock(1)"
if command -v hyperfine >/dev/null 2>&1; then
  # Keep one daemon alive for every run, so that each measures a lock
  # against a running daemon rather than a daemon start.
  if timeout 20 "$LATCH" -s "$HF_SOCK" -d -1 -r bench -- true; then
    : >"$TMP/f"
    timeout "$HYPERFINE_TIMEOUT" hyperfine -N --style basic --warmup 20 --runs 300 \
      --export-markdown "$TMP/hyperfine.md" \
      --command-name "latch -s SOCK -r bench -- true" --command-name "flock FILE true" \
      "$LATCH -s $HF_SOCK -r bench -- true" "flock $TMP/f true"
    rc=$?
    if [ "$rc" -eq 0 ] && [ -s "$TMP/hyperfine.md" ]; then
      echo
      cat "$TMP/hyperfine.md"
    else
      echo "run.sh: hyperfine: failed (exit status $rc)" >&2
      status=1
    fi
  else
    echo "run.sh: could not start the daemon for hyperfine at $HF_SOCK" >&2
    status=1
  fi
else
  echo "hyperfine is not installed: skipping the whole-command comparison" \
    "(apt-get install hyperfine)"
fi

exit "$status"
