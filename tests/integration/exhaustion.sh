#!/bin/sh
# Out of file descriptors: the daemon neither spins nor floods its log;
# it keeps serving the connections it has and accepts again once one
# closes.
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"

# The soft limit goes up to the hard one when the daemon starts.
(ulimit -Sn 64 && exec "$LATCH" -s "$T/raise.sock" -d -1 -r x -- true)
rpid=$(head -n1 "$T/raise.sock.lock" 2>/dev/null)
awk '/^Max open files/ { exit !($4 == $5 && $4 != 64) }' "/proc/${rpid:-0}/limits"
vst=$?; verdict_status "$vst" "a daemon started with a soft limit of 64 raises it to the hard one ($(grep '^Max open files' "/proc/${rpid:-0}/limits" 2>/dev/null | tr -s ' '))"
"$LATCH" -s "$T/raise.sock" -X > /dev/null 2>&1
wait_for 10 pid_gone "${rpid:-0}"

# A daemon whose soft and hard limits are both 40 descriptors (so that
# raising the soft limit to the hard one cannot help).
(ulimit -n 40 && exec "$LATCH" -d -1 -t "$TRACE" -r init -- true)
dpid=$(daemon_pid)
check "a daemon with 40 descriptors starts" pid_alive "${dpid:-0}"
check "...with a soft limit of 40" grep -q '^Max open files *40 *40 ' "/proc/${dpid:-0}/limits"

bg "$LATCH" -r busy -- sh -c 'touch "$1"; while [ ! -e "$2" ]; do sleep 0.05; done' sh "$T/held" "$T/go"
holder=$last_pid
wait_for 10 file_exists "$T/held"
waiters=""
for i in $(seq 1 50); do
  bg "$LATCH" -r busy -- true
  waiters="$waiters $last_pid"
done

# Connections the daemon cannot accept wait in the listen backlog.
backlog () { ss -Hlx | awk -v p="$SOCKDIR/daemon.sock" '$5 == p { print $3 }'; }
pending () { [ "$(backlog)" -gt 0 ] 2>/dev/null; }
check "with 50 waiters, connections wait unaccepted in the backlog" wait_for 20 pending

# No busy loop: CPU time (clock ticks) over one second, and log lines.
ticks () { awk '{ print $14 + $15 }' "/proc/$dpid/stat"; }
t0=$(ticks); sleep 1; t1=$(ticks)
check "...and the daemon does not spin ($((t1 - t0)) ticks of CPU in 1 s)" [ $((t1 - t0)) -lt 50 ]
# One line per time the descriptors run out; under a loaded machine a
# waiter's connection may end and another take its place, so a few such
# times fit in the test.  A loop that polled the full listener would log
# hundreds of lines a second.
n=$(grep -c 'Too many open files' "$TRACE")
check "...nor floods its log ($n lines about it)" [ "$n" -le 5 ]
check "...and still answers on the connections it has: the holder is alive" pid_alive $holder

touch "$T/go"
wait $holder; hs=$?
check "the holder ends normally ($hs)" [ $hs = 0 ]
all_done () { for p in $waiters; do pid_alive $p && return 1; done; return 0; }
check "every waiter, accepted late, gets the lock in turn" wait_for 60 all_done
fails=0; for p in $waiters; do wait $p || fails=$((fails + 1)); done
check "...and succeeds ($fails failed)" [ $fails = 0 ]
expect_status 0 "a new command is served afterwards" "$LATCH" -o 3000 -r other -- true
check "the daemon logged when it accepted again" grep -q 'accepting connections again' "$TRACE"

"$LATCH" -X > /dev/null 2>&1
check "the daemon exits on -X" wait_for 10 pid_gone "$dpid"

finish
