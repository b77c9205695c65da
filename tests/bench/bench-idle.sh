#!/bin/bash
# bench-idle.sh: lock+unlock with many idle connections (issue 13, §3).
#
# Called by run.sh (LATCH, LATCH_DAEMON, BENCH_DIR absolute; optional
# LATCH_TLS_MODULE).  For each case it starts a daemon of its own, the way
# a user would (`latch ... -d -1 -- true`: it lives until stopped), runs
# bench-idle against it, then stops that daemon by the pid in its lock
# file:
#   clear, UNIX socket in a temp dir;
#   clear, TCP on 127.0.0.1 at a free port;
#   channel TLS, and mutual TLS, TCP on 127.0.0.1, with a test PKI made
#   in the temp dir by tests/tls-certs.sh (node CN: `latch --unique-id`),
#   as run.sh's TLS section does; skipped, with a line, without certtool
#   or the TLS module.
# bench-idle times M lock+unlocks with no other connection, by a liblatch
# client (a connection each) and on one kept connection (the event loop
# alone), opens N idle connections that each hold a lock on a resource of
# their own, reads the daemon's RSS before and after, and times the M
# lock+unlocks of both again.  The goals (issue 13) are then checked:
# with N idle connections the median within 1.5x and the p99 within 3x
# of the figures without; RSS per idle connection at most 3 KiB in clear,
# 16 KiB over TLS.  A goal not met is reported, not a failure.
#
# Knobs: BENCH_IDLE (N, default 10000), BENCH_IDLE_ROUND_TRIPS (M in
# clear, default 2000), BENCH_IDLE_TLS_ROUND_TRIPS (M over TLS, where each
# lock+unlock includes a full handshake, default 1000),
# BENCH_IDLE_MAX_SECONDS (a timed series stops after this, default 60),
# BENCH_IDLE_CASES (default "clear-unix clear-tcp channel-tcp mutual-tcp").
#
# Every step runs under `timeout`; the daemons are this script's own and
# are stopped by pid (SIGTERM, then SIGKILL after 10 s) when it ends.
# Exits non-zero when a bench-idle run fails; a descriptor limit too low
# for N is said and skipped (exit 0).

set -u

# shellcheck source-path=SCRIPTDIR source=bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
require_vars bench-idle.sh LATCH LATCH_DAEMON BENCH_DIR
export LATCH LATCH_DAEMON

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
TLS_CERTS_SH=$SCRIPT_DIR/../tls-certs.sh
BENCH_IDLE_PROG=$BENCH_DIR/bench-idle
IDLE=${BENCH_IDLE:-10000}
ROUND_TRIPS=${BENCH_IDLE_ROUND_TRIPS:-2000}
TLS_ROUND_TRIPS=${BENCH_IDLE_TLS_ROUND_TRIPS:-1000}
MAX_SECONDS=${BENCH_IDLE_MAX_SECONDS:-60}
CASES=" ${BENCH_IDLE_CASES:-clear-unix clear-tcp channel-tcp mutual-tcp} "
# bench-idle: two timed series and the opening of N connections (bounded
# by 15 s per connection, but in practice well under a minute), plus
# grace.
RUN_TIMEOUT=$((2 * MAX_SECONDS + 600))
START_TIMEOUT=60

# Goals of issue 13, §3.
GOAL_MEDIAN=1.5
GOAL_P99=3
GOAL_RSS_CLEAR=3072    # bytes per idle connection
GOAL_RSS_TLS=16384

echo "== idle connections: lock+unlock with $IDLE idle connected clients (issue 13)"
if [ ! -x "$BENCH_IDLE_PROG" ]; then
  echo "run.sh: $BENCH_IDLE_PROG is missing (build it first: make bench)" >&2
  exit 1
fi

# This shell's descriptor limit, and so the daemons' (they raise their
# soft limit to the hard one themselves; bench-idle does too).
ulimit -n "$(ulimit -Hn)" 2>/dev/null

TMP=$(mktemp -d "${TMPDIR:-/tmp}/latch-bench-idle.XXXXXX") || exit 1
RUN_DIR=$TMP/run
mkdir -m 700 "$RUN_DIR" || exit 1
PKI=$TMP/pki
DAEMON_PIDS=""

# stop_daemon PID: SIGTERM to one of our daemons, SIGKILL if it is still
# there after 10 s.
stop_daemon () {
  local pid=$1 _
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  echo "bench-idle.sh: daemon $pid did not exit after SIGTERM: killing it" >&2
  kill -KILL "$pid" 2>/dev/null
}

# shellcheck disable=SC2317 # invoked through the trap
cleanup () {
  local pid
  for pid in $DAEMON_PIDS; do
    stop_daemon "$pid"
  done
  rm -rf "$TMP"
}
bench_traps

status=0

# daemon_pid LOCKFILE: the pid in a daemon's lock file, if it is a live
# latchd (so that a stale file never names another process).
daemon_pid () {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  case $pid in ''|*[!0-9]*) return 1 ;; esac
  case $(cat "/proc/$pid/comm" 2>/dev/null) in
    *latchd*) echo "$pid" ;;
    *) return 1 ;;
  esac
}

# field NAME FILE IDLE CLIENT: the value of NAME=VALUE on bench-idle's
# line for IDLE connections and CLIENT (liblatch, kept, ratios) in FILE.
field () {
  grep "^bench-idle: transport=.* idle=$3 client=$4 " "$2" | head -n 1 |
    sed -n "s/.* $1=\([0-9.]*\).*/\1/p"
}

# verdict VALUE GOAL: "met" when VALUE <= GOAL.
verdict () {
  awk -v v="$1" -v g="$2" 'BEGIN { print (v != "" && v + 0 <= g + 0) ? "met" : "not met" }'
}

SUMMARY=$TMP/summary
RSS_SUMMARY=$TMP/rss-summary
printf '%-20s %12s %12s %9s %12s %12s %9s %11s\n' "case, client" "median 0" "median N" \
  "ratio" "p99 0" "p99 N" "ratio" "max N" >"$SUMMARY"
: >"$RSS_SUMMARY"

# one_case NAME RSS_GOAL LOCKFILE ROUND_TRIPS BENCH-IDLE-OPTION...: runs
# bench-idle against the daemon whose lock file is LOCKFILE, reports, and
# stops that daemon.
one_case () {
  local name=$1 rss_goal=$2 lockfile=$3 trips=$4 pid rc out
  shift 4
  out=$TMP/$name.out
  if ! pid=$(daemon_pid "$lockfile"); then
    echo "run.sh: bench-idle $name: no daemon found through $lockfile" >&2
    status=1
    return
  fi
  DAEMON_PIDS="$DAEMON_PIDS $pid"
  echo "-- $name (daemon pid $pid)"
  XDG_RUNTIME_DIR=$RUN_DIR timeout "$RUN_TIMEOUT" "$BENCH_IDLE_PROG" --idle "$IDLE" \
    --round-trips "$trips" --max-seconds "$MAX_SECONDS" --pid-file "$lockfile" "$@" >"$out"
  rc=$?
  cat "$out"
  stop_daemon "$pid"
  if [ "$rc" -eq 77 ]; then
    echo "bench-idle $name: skipped (a descriptor limit, above)"
    return
  elif [ "$rc" -eq 124 ]; then
    echo "run.sh: bench-idle $name: timed out after ${RUN_TIMEOUT}s" >&2
    status=1
    return
  elif [ "$rc" -ne 0 ]; then
    echo "run.sh: bench-idle $name: failed (exit status $rc)" >&2
    status=1
    return
  fi
  local client ratio_prefix med0 medn mr p990 p99n pr maxn rss
  rss=$(field rss_per_idle_bytes "$out" "$IDLE" ratios)
  for client in liblatch kept; do
    ratio_prefix=
    [ "$client" = kept ] && ratio_prefix=kept_
    med0=$(field median_us "$out" 0 "$client")
    medn=$(field median_us "$out" "$IDLE" "$client")
    p990=$(field p99_us "$out" 0 "$client")
    p99n=$(field p99_us "$out" "$IDLE" "$client")
    maxn=$(field max_us "$out" "$IDLE" "$client")
    mr=$(field "${ratio_prefix}median_ratio" "$out" "$IDLE" ratios)
    pr=$(field "${ratio_prefix}p99_ratio" "$out" "$IDLE" ratios)
    echo "$name, $client: median ${mr}x (goal <= ${GOAL_MEDIAN}x:" \
      "$(verdict "$mr" "$GOAL_MEDIAN")), p99 ${pr}x (goal <= ${GOAL_P99}x:" \
      "$(verdict "$pr" "$GOAL_P99"))"
    awk -v n="$name $client" -v a="$med0" -v b="$medn" -v r="$mr" -v c="$p990" -v d="$p99n" \
      -v s="$pr" -v m="$maxn" 'BEGIN {
        printf "%-20s %9.3f ms %9.3f ms %8.2fx %9.3f ms %9.3f ms %8.2fx %8.1f ms\n",
          n, a / 1000, b / 1000, r, c / 1000, d / 1000, s, m / 1000 }' >>"$SUMMARY"
  done
  echo "$name: RSS per idle connection $rss bytes (goal <= $rss_goal:" \
    "$(verdict "$rss" "$rss_goal"))"
  printf '%-20s %s bytes (goal <= %s: %s)\n' "$name" "$rss" "$rss_goal" \
    "$(verdict "$rss" "$rss_goal")" >>"$RSS_SUMMARY"
}

# start_failed WHAT RC: a daemon did not start.
start_failed () {
  echo "run.sh: bench-idle: could not start the daemon $1 (latch exit status $2)" >&2
  status=1
}

# -- clear, UNIX socket
SOCK=$TMP/idle.sock
if [[ $CASES == *" clear-unix "* ]]; then
  if timeout "$START_TIMEOUT" "$LATCH" -s "$SOCK" -d -1 -- true; then
    one_case clear-unix "$GOAL_RSS_CLEAR" "$SOCK.lock" "$ROUND_TRIPS" --socket "$SOCK"
  else
    start_failed "at $SOCK" $?
  fi
fi

# -- clear, TCP
PORT=$(free_port $((30000 + $$ % 20000))) || exit 1
if [[ $CASES == *" clear-tcp "* ]]; then
  if XDG_RUNTIME_DIR=$RUN_DIR timeout "$START_TIMEOUT" "$LATCH" -a 127.0.0.1 -p "$PORT" \
       -d -1 -- true; then
    one_case clear-tcp "$GOAL_RSS_CLEAR" "$RUN_DIR/latch/tcp-127.0.0.1-$PORT.lock" \
      "$ROUND_TRIPS" --tcp "127.0.0.1:$PORT"
  else
    start_failed "on 127.0.0.1:$PORT" $?
  fi
fi

# -- TLS, channel and mutual
tls_skip=$(tls_missing "set LATCH_TLS_MODULE")
if [ -n "$tls_skip" ]; then
  echo "bench-idle TLS: skipped: $tls_skip"
else
  export LATCH_TLS_MODULE
  machine_id=$(timeout 10 "$LATCH" --unique-id)
  if [ -z "$machine_id" ] || ! timeout 120 bash "$TLS_CERTS_SH" "$PKI" "$machine_id"; then
    echo "run.sh: bench-idle: could not make the test PKI in $PKI" >&2
    status=1
  else
    channel_opts=(--tls-certificate="$PKI/peer1_ca1.pem" --tls-private-key="$PKI/peer1_ca1.key"
                  --tls-ca-certificate="$PKI/ca1.pem")
    for level in channel mutual; do
      [[ $CASES == *" $level-tcp "* ]] || continue
      opts=("${channel_opts[@]}")
      idle_opts=(--tls-dir "$PKI" --peer-id "$machine_id")
      if [ "$level" = mutual ]; then
        opts+=(--tls-check-peer-id=yes)
        idle_opts+=(--mutual)
      fi
      PORT=$(free_port $((PORT + 1))) || exit 1
      if XDG_RUNTIME_DIR=$RUN_DIR timeout "$START_TIMEOUT" "$LATCH" -a 127.0.0.1 -p "$PORT" \
           -d -1 "${opts[@]}" -- true; then
        one_case "$level-tcp" "$GOAL_RSS_TLS" "$RUN_DIR/latch/tcp-127.0.0.1-$PORT.lock" \
          "$TLS_ROUND_TRIPS" --tcp "127.0.0.1:$PORT" "${idle_opts[@]}"
      else
        start_failed "at the $level level on 127.0.0.1:$PORT" $?
      fi
    done
  fi
fi

echo "-- summary: lock+unlock with 0 and with N=$IDLE idle connections; goals: median"
echo "   <= ${GOAL_MEDIAN}x and p99 <= ${GOAL_P99}x the figure with 0.  liblatch: a connection"
echo "   per lock+unlock (over TLS a full handshake each); kept: lock+unlock on one connection"
echo "   that holds another lock throughout"
cat "$SUMMARY"
echo "-- RSS per idle connection (daemon VmRSS with N, minus with 0, over N)"
cat "$RSS_SUMMARY"
echo
exit "$status"
