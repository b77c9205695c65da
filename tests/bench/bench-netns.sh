#!/bin/bash
# bench-netns.sh: latch across two hosts, as two network namespaces.
#
# Called by run.sh as root (LATCH, LATCH_DAEMON, BENCH_DIR absolute;
# BENCH_SECONDS).  Builds a daemon host and a client host joined by a veth
# pair (192.0.2.1 and 192.0.2.2, TEST-NET-1; multicast group
# 239.255.28.15), starts a daemon on the daemon host the way a user would
# (`latch -a 192.0.2.1 -p 28015 -d -1 -- true`, XDG_RUNTIME_DIR and HOME in
# a temp dir of its own) and, from the client host:
#   - bench-pingpong over TCP to a bench-pingpong --tcp-server on the
#     daemon host: the ceiling;
#   - bench-lock --tcp, 1 and 8 clients;
#   - bench-lock --multicast, the time of a discovery, against a daemon
#     started with -A 239.255.28.15 -P 28115 -a 192.0.2.1;
#   - bench-lock --tcp, 1 client, once more with the kernel's default
#     net.ipv4.tcp_tw_reuse.
# Each lock is a TCP connection that the client closes first, so each one
# leaves a socket in TIME_WAIT (60 s) on the client host.  On loopback the
# kernel's default tcp_tw_reuse=2 lets connect() reuse those ports; across
# hosts it does not, and with thousands of them connect() slows down and
# the ports run out.  So the client host runs with tcp_tw_reuse=1, as
# loopback effectively does, except for the last run, which shows the
# default after the others left their sockets in TIME_WAIT.
# The namespaces' names carry this shell's pid; nothing is created in the
# initial namespace.  Every step runs under `timeout`; on exit every
# process left in the namespaces is killed by pid and the namespaces are
# deleted.  Prints one "skipped" line and exits 0 when it cannot run (not
# root, no ip(8)).  Exits non-zero when a step fails.

set -u

BENCH_SECONDS=${BENCH_SECONDS:-3}
STEP_TIMEOUT=$((BENCH_SECONDS + 30))
# shellcheck source-path=SCRIPTDIR source=bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
require_vars bench-netns.sh LATCH LATCH_DAEMON BENCH_DIR
export LATCH LATCH_DAEMON

skip () {
  echo "bench-netns: skipped: $*"
  exit 0
}
[ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
command -v ip >/dev/null 2>&1 || skip "no ip(8)"

ID=$$
NS_D="latchbench${ID}d"   # the daemon host
NS_C="latchbench${ID}c"   # the client host
IF_D="lbv${ID}d"          # at most 15 characters: pids have at most 7 digits
IF_C="lbv${ID}c"
ADDR_D=192.0.2.1
ADDR_C=192.0.2.2
GROUP=239.255.28.15
PORT=28015                # the daemon, TCP
MPORT=28115               # discovery, UDP
PP_PORT=28016             # bench-pingpong --tcp-server

CREATED=""
TMP=$(mktemp -d "${TMPDIR:-/tmp}/latch-bench-netns.XXXXXX") || exit 1

# shellcheck disable=SC2317 # invoked through the trap
cleanup () {
  local ns pid
  for ns in $CREATED; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      kill -KILL "$pid" 2>/dev/null
    done
  done
  for ns in $CREATED; do
    ip netns del "$ns" 2>/dev/null
  done
  rm -rf "$TMP"
}
bench_traps

add_ns () {
  ip netns add "$1" || skip "ip netns add $1 failed"
  CREATED="$CREATED $1"
}

# on d|c CMD...: runs CMD on the daemon or client host, bounded, with that
# host's own XDG_RUNTIME_DIR and HOME.
on () {
  local side=$1 ns=$NS_C
  shift
  [ "$side" = d ] && ns=$NS_D
  XDG_RUNTIME_DIR="$TMP/$side/run" HOME="$TMP/$side/home" \
    timeout -k 2 "$STEP_TIMEOUT" ip netns exec "$ns" "$@"
}

status=0
# step NAME d|c CMD...: runs CMD on a host, noting failure.
step () {
  local name=$1 rc
  shift
  on "$@"
  rc=$?
  if [ "$rc" -ne 0 ]; then
    if [ "$rc" -eq 124 ]; then
      echo "bench-netns: $name: timed out after ${STEP_TIMEOUT}s" >&2
    else
      echo "bench-netns: $name: failed (exit status $rc)" >&2
    fi
    status=1
  fi
  return "$rc"
}

add_ns "$NS_D"
add_ns "$NS_C"
ip -n "$NS_D" link add "$IF_D" type veth peer name "$IF_C" netns "$NS_C" ||
  skip "cannot create a veth pair"
for side in d c; do
  if [ $side = d ]; then ns=$NS_D if=$IF_D addr=$ADDR_D; else ns=$NS_C if=$IF_C addr=$ADDR_C; fi
  mkdir -p "$TMP/$side/run" "$TMP/$side/home"
  chmod 700 "$TMP/$side/run"
  if ! { ip -n "$ns" link set lo up &&
    ip -n "$ns" link set "$if" multicast on &&
    ip -n "$ns" addr add "$addr/24" dev "$if" &&
    ip -n "$ns" link set "$if" up &&
    ip -n "$ns" route add 239.0.0.0/8 dev "$if"; }; then
    skip "cannot configure $if in $ns"
  fi
done

# Bounded wait until the client host reaches the daemon host: a TCP
# connection to a closed port is refused by the peer, which proves the
# round trip.
deadline=$(($(date +%s) + 10))
# shellcheck disable=SC2016 # $0 is expanded by the inner bash
until ip netns exec "$NS_C" env LC_ALL=C timeout 2 \
  bash -c 'exec 3<>"/dev/tcp/$0/9"' "$ADDR_D" 2>&1 | grep -qi refused; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "bench-netns: the namespace network does not work" >&2
    exit 1
  fi
  sleep 0.1
done

# time_wait: sockets in TIME_WAIT on the client host.
time_wait () { ip netns exec "$NS_C" ss -Htan state time-wait | wc -l; }
set_tw_reuse () {
  # shellcheck disable=SC2016 # $0 is expanded by the inner sh
  ip netns exec "$NS_C" sh -c 'echo "$0" > /proc/sys/net/ipv4/tcp_tw_reuse' "$1"
}
set_tw_reuse 1 || skip "cannot set net.ipv4.tcp_tw_reuse in $NS_C"

echo "daemon host: $NS_D ($ADDR_D), client host: $NS_C ($ADDR_C), veth $IF_D-$IF_C"
echo "client host: net.ipv4.tcp_tw_reuse=1 (the last run: the default, 2)"
echo

echo "== ceiling: TCP ping-pong between the namespaces, 200 bytes each way"
on d "$BENCH_DIR/bench-pingpong" --tcp-server "$ADDR_D:$PP_PORT" --seconds "$BENCH_SECONDS" &
server=$!
step "bench-pingpong --tcp" c "$BENCH_DIR/bench-pingpong" --tcp "$ADDR_D:$PP_PORT" \
  --seconds "$BENCH_SECONDS"
if ! wait "$server"; then
  echo "bench-netns: bench-pingpong --tcp-server failed" >&2
  status=1
fi
echo

echo "== liblatch lock+unlock over TCP between the namespaces, one resource, EX"
if step "daemon start" d "$LATCH" -a "$ADDR_D" -p "$PORT" -d -1 -- true; then
  step "bench-lock --tcp 1 client" c "$BENCH_DIR/bench-lock" --tcp "$ADDR_D:$PORT" \
    --no-start --clients 1 --seconds "$BENCH_SECONDS" --mode EX
  step "bench-lock --tcp 8 clients" c "$BENCH_DIR/bench-lock" --tcp "$ADDR_D:$PORT" \
    --no-start --clients 8 --seconds "$BENCH_SECONDS" --mode EX
  step "daemon shutdown" d "$LATCH" -a "$ADDR_D" -p "$PORT" -X >/dev/null
fi
echo

echo "== discovery: first lock of a fresh handle, by $GROUP:$MPORT vs direct TCP"
if step "discovery daemon start" d "$LATCH" -A "$GROUP" -P "$MPORT" -a "$ADDR_D" -p "$PORT" \
  -d -1 -- true; then
  step "bench-lock --multicast" c "$BENCH_DIR/bench-lock" --multicast "$GROUP:$MPORT" \
    --tcp "$ADDR_D:$PORT" --no-start --discoveries 20
  echo
  echo "== lock+unlock over TCP, 1 client, default tcp_tw_reuse=2, $(time_wait) sockets" \
    "already in TIME_WAIT on the client host"
  set_tw_reuse 2
  step "bench-lock --tcp 1 client, tcp_tw_reuse=2" c "$BENCH_DIR/bench-lock" \
    --tcp "$ADDR_D:$PORT" --no-start --clients 1 --seconds "$BENCH_SECONDS" --mode EX
  step "discovery daemon shutdown" d "$LATCH" -a "$ADDR_D" -p "$PORT" -X >/dev/null
fi

exit "$status"
