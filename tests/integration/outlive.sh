#!/bin/sh
# A command never runs on without its lock: when the lock is lost, its
# process group is stopped (SIGTERM, SIGKILL after --kill-grace); when
# latch itself is killed, the lock lasts as long as any process of the
# command's tree that inherited its connection.
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"

"$LATCH" -d -1 -r init -- true

# held NAME: a lock on NAME is held right now (a no-wait probe is busy).
held () { "$LATCH" -r "$1" -o 0 -- true 2> /dev/null; [ $? = 98 ]; }
free () { "$LATCH" -r "$1" -o 0 -- true 2> /dev/null; }
running () { [ -e "/proc/$1" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]; }

# --- latch killed with SIGKILL: the lock stays with the command's tree ---
# The command leaves a child of its own (a grandchild of latch, same
# process group) that goes on until told to stop.
tree='echo $$ > "$4"; (trap "" TERM; while [ ! -e "$1" ]; do sleep 0.01; done; echo late >> "$2") & echo $! > "$3"; wait'
bg "$LATCH" -r tree -- sh -c "$tree" sh "$T/go1" "$T/order1" "$T/gc1.pid" "$T/c1.pid"; lp=$last_pid
wait_for 10 file_exists "$T/gc1.pid"
gc=$(cat "$T/gc1.pid")
kill -KILL $lp
wait $lp 2> /dev/null
not_running () { ! running "$1"; }
check "kill -9 of latch: the command's own process dies (PDEATHSIG)" wait_for 5 not_running "$(cat "$T/c1.pid")"
check "...its child goes on" running "$gc"
check "...and the lock is still held: nobody else gets it" held tree
bg "$LATCH" -V -r tree -- sh -c 'echo next >> "$1"' sh "$T/order1" > /dev/null 2> "$T/w1.err"; wp=$last_pid
wait_for 10 file_has "$T/w1.err" "waiting for 'tree'"
touch "$T/go1"
wait $wp; st=$?
[ $st = 0 ] && [ "$(tr '\n' ' ' < "$T/order1")" = "late next " ]
verdict "once the last process of the tree ends, the waiter gets the lock after it"

# --- the command ends normally and leaves a process behind: the lock goes
# with latch (as with FLoM); the leftover's copy of the connection is shut.
bg "$LATCH" -r left -- sh -c '(while [ ! -e "$1" ]; do sleep 0.01; done) & echo $! > "$2"' sh "$T/go2" "$T/gc2.pid"
lp=$last_pid
wait $lp; st=$?
check "a command that leaves a background process: latch exits with its status" [ $st = 0 ]
check "...and the lock is free at once, though the leftover still runs" \
  sh -c '"$1" -r left -o 0 -- true && kill -0 "$(cat "$2")"' sh "$LATCH" "$T/gc2.pid"
touch "$T/go2"

# --- the connection never becomes the command's stdin, stdout or stderr:
# started with them closed, the command finds them closed too.
"$LATCH" -r closed -- sh -c 'if read x; then echo "read:$x"; else echo nothing; fi' \
  <&- > "$T/closed.out" 2> "$T/closed.err" &
lp=$!; bg_pids="$bg_pids $lp"
check "latch started with stdin closed: the command's stdin is not the lock's connection" \
  wait_for 10 pid_gone $lp
check "...(it read nothing)" file_has "$T/closed.out" '^nothing$'

# --- the lock is lost while a command ignores SIGTERM: its group gets
# SIGKILL after the grace (--kill-grace), and latch exits 99.
stubborn='trap "" TERM; echo $$ > "$1"; (trap "" TERM; while :; do sleep 0.01; done) & echo $! > "$2"; while :; do sleep 0.01; done'
"$LATCH" -r lost --kill-grace=200 -- sh -c "$stubborn" sh "$T/c3.pid" "$T/gc3.pid" 2> "$T/lost.err" &
lp=$!; bg_pids="$bg_pids $lp"
wait_for 10 file_exists "$T/gc3.pid"
kill -KILL "$(daemon_pid)"
check "daemon killed: latch stops a command that ignores SIGTERM" wait_for 10 pid_gone $lp
wait $lp; st=$?
check "...exits 99" [ $st = 99 ]
check "...and the whole process group is gone (SIGKILL after the grace)" \
  wait_for 5 eval 'not_running "$(cat "$T/c3.pid")" && not_running "$(cat "$T/gc3.pid")"'
check "...saying the lock is lost" grep -q "lock on 'lost' is lost" "$T/lost.err"

# --kill-grace=0: SIGKILL at once, no SIGTERM first.
"$LATCH" -d -1 -r init -- true
"$LATCH" -r lost0 --kill-grace=0 -- sh -c 'trap "echo term > $1" TERM; echo $$ > "$2"; while :; do sleep 0.01; done' \
  sh "$T/term4" "$T/c4.pid" 2> /dev/null &
lp=$!; bg_pids="$bg_pids $lp"
wait_for 10 file_exists "$T/c4.pid"
kill -KILL "$(daemon_pid)"
wait_for 10 pid_gone $lp
wait $lp; st=$?
[ $st = 99 ] && [ -e "$T/c4.pid" ] && [ ! -e "$T/term4" ]
verdict "--kill-grace=0: the command is killed without SIGTERM, latch exits 99"

finish
