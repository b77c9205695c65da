#!/bin/sh
# The main job: a command runs only while it holds the lock.
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"

expect_status 0 "runs the command and returns its status 0" "$LATCH" -r basic -- true
expect_status 3 "passes the command's exit status through" "$LATCH" -r basic -- sh -c 'exit 3'
expect_status 143 "a command killed by SIGTERM gives 128+15" "$LATCH" -r basic -- sh -c 'kill -TERM $$'

out=$("$LATCH" -r envtest -- sh -c 'echo "$LATCH_RESOURCE $LATCH_FENCE ${LATCH_ELEMENT-unset}"')
set -- $out
check "the command gets LATCH_RESOURCE" [ "$1" = envtest ]
check "a simple resource sets no LATCH_ELEMENT" [ "$3" = unset ]
f1=$2
f2=$("$LATCH" -r envtest -- sh -c 'echo $LATCH_FENCE')
f3=$("$LATCH" -r other -- sh -c 'echo $LATCH_FENCE')
[ "$f1" -gt 0 ] && [ "$f2" -gt "$f1" ] && [ "$f3" -gt "$f2" ]; verdict "LATCH_FENCE strictly increases with every grant ($f1 < $f2 < $f3)"

check "the private socket directory is mode 700" [ "$(stat -c %a "$SOCKDIR")" = 700 ]
check "the socket is mode 600" [ "$(stat -c %a "$SOCKDIR/daemon.sock")" = 600 ]
check "the lock file names the daemon's pid" pid_alive "$(daemon_pid)"

# Serialization: commands on one resource record their [start, end]
# windows; no two windows may intersect.
pids=""
for i in 1 2 3 4 5 6; do
  bg "$LATCH" -r serial -- sh -c "echo \"\$(date +%s%N) S\" >> $T/windows; sleep 0.05; echo \"\$(date +%s%N) E\" >> $T/windows"
  pids="$pids $last_pid"
done
all_ok=true
for p in $pids; do wait "$p" || all_ok=false; done
check "six contending commands all succeed" $all_ok
# Sorted by time the marks must alternate S E S E ...
check "their time windows never intersect" sh -c "sort -n $T/windows | awk '{ want = (NR % 2) ? \"S\" : \"E\"; if (\$2 != want) exit 1 } END { if (NR != 12) exit 1 }'"

# Two resources are independent: each command waits (bounded) until the
# other is inside; serialized, they would both time out.
barrier='touch "$1"; i=0; while [ ! -e "$2" ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done; [ -e "$2" ]'
bg "$LATCH" -r indepA -- sh -c "$barrier" sh "$T/a.in" "$T/b.in"; pa=$last_pid
bg "$LATCH" -r indepB -- sh -c "$barrier" sh "$T/b.in" "$T/a.in"; pb=$last_pid
wait $pa; sa=$?; wait $pb; sb=$?
[ $sa = 0 ] && [ $sb = 0 ]; verdict "two different resources are held at the same time"

err=$("$LATCH" -r basic -- /nonexistent/command 2>&1); st=$?
check "a command that cannot be executed gives 97" [ $st = 97 ]
check "...with a message naming it" contains "$err" "cannot execute '/nonexistent/command'"
err=$("$LATCH" -r basic 2>&1); st=$?
[ $st = 97 ] && contains "$err" "after '--'"; verdict "no command gives 97 and says how to give one"

# The library: lock, then the fd reports nothing while the daemon lives.
touch "$T/release"
out=$("$HELPER" lock libres 5 -1 "$T/release")
check "liblatch locks and unlocks" [ "$(echo "$out" | tail -n1)" = unlocked ]

finish
