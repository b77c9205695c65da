#!/bin/sh
# Busy, timeouts, and resources that may not be created.
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"

LATCH_TRACE=1 "$LATCH" -d -1 -t "$TRACE" -r init -- true

"$HELPER" lock busy 5 -1 "$T/go" > "$T/holder.out" &
hp=$!
wait_for 10 file_has "$T/holder.out" granted

err=$("$LATCH" -r busy -o 0 -- touch "$T/ran0" 2>&1); st=$?
check "-o 0 on a busy resource exits 98" [ $st = 98 ]
check "...without running the command" [ ! -e "$T/ran0" ]
[ "$(printf "%s\n" "$err" | wc -l)" = 1 ] && contains "$err" busy; verdict "...saying so in one line"

err=$("$LATCH" -r busy -o 300 -- touch "$T/ran1" 2>&1); st=$?
check "an expired timeout exits 98" [ $st = 98 ]
check "...with FLoM's exact message first" [ "$(printf '%s\n' "$err" | head -n 1)" = "The lock was not obtained because timeout (300 milliseconds) expired" ]
check "...then who holds it, on a second line ($err)" \
  [ "$(printf '%s\n' "$err" | wc -l)" = 2 ] \
  && contains "$(printf '%s\n' "$err" | sed -n 2p)" "^latch: resource 'busy' is held by pid $hp .* for [0-9]+ s\$"
check "...without running the command" [ ! -e "$T/ran1" ]

bg "$LATCH" -r busy -o 10000 -- touch "$T/ran2"; waiter=$last_pid
wait_for 10 file_has "$TRACE" "lock 'busy' mode 5 wait 1 create 1: rc 1"
touch "$T/go"
wait $hp
wait $waiter; st=$?
[ $st = 0 ] && [ -e "$T/ran2" ]; verdict "a waiter within its timeout gets the lock when the holder leaves"

err=$("$LATCH" -r absent -e no -o 0 -- touch "$T/ran3" 2>&1); st=$?
check "-e no on an absent resource with -o 0 exits 96" [ $st = 96 ]
check "...without running the command" [ ! -e "$T/ran3" ]

err=$("$LATCH" -r absent -e no -o 200 -- true 2>&1); st=$?
check "-e no waits for creation and times out with 98" [ $st = 98 ]

bg "$LATCH" -r later -e no -o 10000 -- touch "$T/ran4"; w=$last_pid
check "-e no with a timeout waits for the resource to be created" wait_for 10 file_has "$TRACE" "lock 'later' mode 5 wait 1 create 0: rc 2"
expect_status 0 "another command creates the resource" "$LATCH" -r later -- true
wait $w; st=$?
[ $st = 0 ] && [ -e "$T/ran4" ]; verdict "the waiting command then gets it"

# Idle lifespan (-i): the resource outlives its last holder that long, so
# a -e no request finds it; afterwards it is gone again.  A daemon of its
# own without the minimum idle lifespan (idle.sh tests the minimum).
mkdir "$T/idle"
idled () { "$LATCH" -s "$T/idle/sock" --idle-lifespan-min=0 "$@"; }
expect_status 0 "a resource created with -i 1500 is released" idled -r idle -i 1500 -- true
expect_status 0 "...and still exists right after (-e no -o 0 gets it)" idled -r idle -e no -o 0 -- true
# Each probe that finds it uses it and restarts its idle time, so probes
# are spaced wider than the lifespan.
gone () { sleep 2; idled -r idle -e no -o 0 -- true 2>/dev/null; [ $? = 96 ]; }
check "...and is destroyed once idle for its lifespan" wait_for 10 gone
expect_status 96 "with --idle-lifespan-min=0 a resource created without -i is gone as soon as it is idle" \
  sh -c '"$LATCH" -s "$1" --idle-lifespan-min=0 -r noidle -- true && "$LATCH" -s "$1" -r noidle -e no -o 0 -- true 2>/dev/null' sh "$T/idle/sock"
pid=$(head -n1 "$T/idle/sock.lock" 2>/dev/null)
idled -X > /dev/null 2>&1
[ -n "$pid" ] && wait_for 10 pid_gone "$pid"

"$LATCH" -X > /dev/null
finish
