#!/bin/sh
# IPv6 addresses FLoM accepts: an IPv4-mapped unicast address
# (::ffff:127.0.0.1), and interface-local (ff01::/16) and link-local
# (ff02::/16) discovery groups without -n, which go to the kernel's
# default multicast interface; where the kernel has none, or it has no
# address, the command says why in one line and exits 99.
#
# The multicast cases run in a private network namespace of this run
# (ip netns, named after this shell's pid), where the routes decide which
# interface is the default:
#   lo          up, no multicast route: nothing can work
#   ltd0/ltd1   a veth pair; ltd0 has fe80::1, ltd1 no address; the
#               multicast route ff00::/8 (table local) is moved between
#               them.  IPv6 multicast sent on lo does not loop back, on a
#               veth it does.
# They are skipped, saying why, without root or network namespaces.
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"

free_port

NS="latch$$v6"
NS_MADE=""
nsx () { ip netns exec "$NS" "$@"; }
# Every daemon of this run: by the pids in its lock files, and every
# process left in the namespace.
net_cleanup () {
  local f pid
  for f in "$SOCKDIR"/tcp-*.lock "$SOCKDIR"/mcast-*.lock; do
    [ -s "$f" ] || continue
    pid=$(head -n1 "$f")
    pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null
  done
  if [ -n "$NS_MADE" ]; then
    for pid in $(ip netns pids "$NS" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    ip netns del "$NS" 2>/dev/null
  fi
}
trap 'net_cleanup; cleanup' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# A command holding its lock until $2 appears (bounded: 10 s); $1 says it
# runs.
holder='touch "$1"; i=0; while [ ! -e "$2" ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done'
# ready_or_gone PID FILE: FILE exists, or the process PID that should
# make it is gone (so a failure costs no wait).
ready_or_gone () { file_exists "$2" || pid_gone "$1"; }
one_line () { [ "$(printf '%s\n' "$1" | wc -l)" = 1 ] && [ -n "$1" ]; }

# --- 1. IPv4-mapped IPv6 address -------------------------------------------
MAPPED=::ffff:127.0.0.1
expect_status 0 "-a $MAPPED -d -1 starts a daemon there and runs the command" \
  "$LATCH" -a $MAPPED -p $PORT -d -1 -- touch "$T/mapped.ran"
check "...the command ran" file_exists "$T/mapped.ran"
listen=$(ss -Hltn "sport = :$PORT" 2>/dev/null)
contains "$listen" "127\.0\.0\.1\]?:$PORT" && ! contains "$listen" "(0\.0\.0\.0|\*|\[::\]):$PORT"
vst=$?; verdict_status "$vst" "...listening on $MAPPED:$PORT only ($(echo $listen | awk '{ print $4 }'))"
bg "$LATCH" -a $MAPPED -p $PORT -d 0 -r m -- sh -c "$holder" sh "$T/m.in" "$T/m.go"
hp=$last_pid
wait_for 10 ready_or_gone $hp "$T/m.in"
check "a client of $MAPPED holds 'm' (-d 0: the daemon started above)" file_exists "$T/m.in"
expect_status 98 "...a second client of $MAPPED finds 'm' busy (-o 0)" \
  "$LATCH" -a $MAPPED -p $PORT -d 0 -r m -o 0 -- true
expect_status 98 "...a client of 127.0.0.1 reaches the same daemon and finds 'm' busy" \
  "$LATCH" -a 127.0.0.1 -p $PORT -d 0 -r m -o 0 -- true
touch "$T/m.go"
expect_status 0 "...and the holder exits 0" wait $hp

# --- 2. Discovery groups without -n, in a namespace ----------------------
why=""
if [ "$(id -u)" != 0 ]; then why="not root (a private network namespace needs it)"
elif ! command -v ip > /dev/null 2>&1; then why="ip(8) (iproute2) not found"
elif ! command -v ss > /dev/null 2>&1; then why="ss(8) not found"
elif ! ip netns add "$NS" > /dev/null 2>&1; then why="ip netns add failed: no network namespaces here"
else
  NS_MADE=1
  nsx ip link set lo up || why="cannot set lo up in the namespace"
fi
if [ -n "$why" ]; then
  for c in "no route" "default without address" "ff01::1" "ff02::1:2815"; do
    n_tests=$((n_tests + 1)); echo "ok $n_tests # SKIP multicast ($c): $why"
  done
  finish
fi

# The daemons in the namespace, agents left out (a command with -A
# also starts this host's agent, which holds no lock table).
ns_daemon_pids () {
  local p
  for p in $(ip netns pids "$NS" 2>/dev/null); do
    tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q -- ' --agent' || echo "$p"
  done
}
ns_procs () { ns_daemon_pids | wc -l; }
mroute () { nsx ip -6 route show table local type multicast 2>/dev/null; }

# cannot GROUP PORT WHAT PATTERN...: the command with -A GROUP, no -n,
# exits 99 with one line matching every PATTERN, runs nothing and leaves
# no daemon.
cannot () {
  local g=$1 p=$2 what=$3 err st pat ok=0; shift 3
  rm -f "$T/cannot.ran"
  err=$(nsx "$LATCH" -A "$g" -P "$p" -D 1 -I 200 -d -1 -- touch "$T/cannot.ran" 2>&1); st=$?
  for pat in "$@"; do contains "$err" "$pat" || ok=1; done
  [ $st = 99 ] && [ $ok = 0 ] && one_line "$err" && [ ! -e "$T/cannot.ran" ] && [ "$(ns_procs)" = 0 ]
  verdict "-A $g without -n, $what: exit 99, one line saying why ($st: $err)"
}

# Nothing routes multicast: lo only, without a multicast route.
cannot ff01::1 28201 "no multicast route" "no multicast route" "interface-local group" "-n IFACE"
cannot ff02::1:2815 28201 "no multicast route" "no multicast route" "link-local group" "-n IFACE"

# The veth pair: ltd0 with fe80::1, ltd1 without an address.
{ nsx ip link add ltd0 type veth peer name ltd1 &&
  nsx ip link set ltd0 addrgenmode none && nsx ip link set ltd1 addrgenmode none &&
  nsx ip link set ltd0 up && nsx ip link set ltd1 up &&
  nsx ip -6 addr add fe80::1/64 dev ltd0 nodad; } > /dev/null 2>&1
both_routes () { contains "$(mroute)" "dev ltd0" && contains "$(mroute)" "dev ltd1"; }
if ! wait_for 10 both_routes; then
  diag "multicast routes: $(mroute)"
  for c in "default without address" "ff01::1" "ff02::1:2815"; do
    n_tests=$((n_tests + 1)); echo "ok $n_tests # SKIP multicast ($c): no veth pair with IPv6 multicast routes"
  done
  finish
fi

# The kernel's default multicast interface is ltd1, which has no address.
nsx ip -6 route del multicast ff00::/8 dev ltd0 table local
cannot ff02::1:2815 28202 "default interface without an address" "ltd1" "no IPv6 address" "-n IFACE"

# The default is ltd0: both groups work as in FLoM.
nsx ip -6 route del multicast ff00::/8 dev ltd1 table local
nsx ip -6 route add multicast ff00::/8 dev ltd0 table local
diag "multicast routes: $(mroute)"

# works GROUP PORT: a daemon started with -A GROUP (no -n) is found by
# discovery by every later command.
works () {
  local g=$1 p=$2 dpid hp
  rm -f "$T/w.ran" "$T/w.in" "$T/w.go"
  expect_status 0 "-A $g without -n: starts a daemon (-d -1) and runs the command" \
    nsx "$LATCH" -A "$g" -P "$p" -d -1 -- touch "$T/w.ran"
  check "...the command ran" file_exists "$T/w.ran"
  dpid=$(nsx ss -Hlnup "sport = :$p" 2>/dev/null | sed -n 's/.*pid=\([0-9][0-9]*\).*/\1/p' | head -n1)
  diag "daemon ${dpid:-none} listens on: $(nsx ss -Hltnp 2>/dev/null | grep "pid=${dpid:-x}," | awk '{ print $4 }')"
  [ -n "$dpid" ] && [ "$(ns_procs)" = 1 ] && [ "$(head -n1 "$SOCKDIR"/mcast-*-"$p".lock)" = "$dpid" ]
  verdict "...one daemon stays, answering discovery on port $p, the one of its lock file"
  bg nsx "$LATCH" -A "$g" -P "$p" -d 0 -r x -- sh -c "$holder" sh "$T/w.in" "$T/w.go"
  hp=$last_pid
  wait_for 10 ready_or_gone $hp "$T/w.in"
  check "...a command with -d 0 finds it by discovery and holds 'x'" file_exists "$T/w.in"
  expect_status 98 "...another finds 'x' busy (-o 0): the same daemon" \
    nsx "$LATCH" -A "$g" -P "$p" -d 0 -r x -o 0 -- true
  touch "$T/w.go"
  expect_status 0 "...the holder exits 0" wait $hp
  expect_status 0 "...latch -A $g -P $p -r x -- true runs" nsx "$LATCH" -A "$g" -P "$p" -r x -- true
  [ -n "$dpid" ] && [ "$(ns_daemon_pids)" = "$dpid" ]
  verdict "...and the daemon is still the only one ($dpid)"
  [ -n "$dpid" ] && kill "$dpid" 2>/dev/null && wait_for 10 pid_gone "$dpid"
}
works ff01::1 28203
works ff02::1:2815 28204

finish
