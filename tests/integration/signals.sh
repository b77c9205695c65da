#!/bin/sh
# Signals: forwarded to the command; the lock outlives the command, never
# the other way round.
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"

LATCH_TRACE=1 "$LATCH" -d -1 -t "$TRACE" -r init -- true

# A command that reports SIGTERM, exits 7 on it, and otherwise waits.
trapper='trap "echo term > $1; exit 7" TERM; echo $$ > $2; i=0; while [ $i -lt 3000 ]; do sleep 0.01; i=$((i+1)); done'

bg "$LATCH" -r sig -- sh -c "$trapper" sh "$T/term1" "$T/cmd1.pid"; lp=$last_pid
wait_for 10 file_exists "$T/cmd1.pid"
kill -TERM $lp
wait $lp; st=$?
[ $st = 7 ] && [ -e "$T/term1" ]; verdict "SIGTERM to latch reaches the command, whose status latch returns"

for sig in INT HUP QUIT; do
  rm -f "$T/cmd.pid"
  # A background job of a script starts with SIGINT and SIGQUIT ignored
  # (and latch then leaves them so): give them their default first.
  bg env --default-signal=$sig "$LATCH" -r sig -- sh -c "trap 'exit 9' $sig; echo \$\$ > $T/cmd.pid; i=0; while [ \$i -lt 3000 ]; do sleep 0.01; i=\$((i+1)); done"; lp=$last_pid
  wait_for 10 file_exists "$T/cmd.pid"
  kill -$sig $lp
  wait $lp; st=$?
  check "SIG$sig is forwarded to the command" [ $st = 9 ]
done

# The lock is released only once the command is gone: the command takes
# its time to end after SIGTERM; a waiter must start after that.
slow='trap "sleep 0.2; echo C-end >> $1; exit 0" TERM; echo $$ > $2; i=0; while [ $i -lt 3000 ]; do sleep 0.01; i=$((i+1)); done'
bg "$LATCH" -r sig2 -- sh -c "$slow" sh "$T/order" "$T/cmd2.pid"; lp=$last_pid
wait_for 10 file_exists "$T/cmd2.pid"
bg "$LATCH" -V -r sig2 -- sh -c "echo W >> $T/order" > /dev/null 2> "$T/w2.err"; wp=$last_pid
wait_for 10 file_has "$T/w2.err" "waiting for 'sig2'"
kill -TERM $lp
wait $lp; wait $wp
check "a waiter gets the lock only after the signalled command has ended" [ "$(tr '\n' ' ' < "$T/order")" = "C-end W " ]

# --ignore-signal: latch ignores it and does not forward it.
bg "$LATCH" -r sig3 --ignore-signal SIGTERM -- sh -c "$trapper" sh "$T/term3" "$T/cmd3.pid"; lp=$last_pid
wait_for 10 file_exists "$T/cmd3.pid"
kill -TERM $lp
# Observable: the signal is no longer pending (ignored, caught, or it
# killed latch, which then is a zombie until waited for).
sig_pending () { # PID SIGNO
  local m
  for m in $(sed -n 's/^\(SigPnd\|ShdPnd\):[[:space:]]*//p' "/proc/$1/status" 2>/dev/null); do
    [ $(( (0x$m >> ($2 - 1)) & 1 )) = 1 ] && return 0
  done
  return 1
}
running () { [ -e "/proc/$1" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]; }
wait_for 5 eval '! sig_pending $lp 15'
check "with --ignore-signal SIGTERM latch survives SIGTERM" running $lp
# End it: SIGHUP is forwarded (SIGINT is ignored in a background job, so
# it would leave the command to run its 30 s).  A forwarded SIGTERM would
# have reached the command before it: its trap writes the file.
kill -HUP $lp
wait $lp
check "...and the command did not get it" [ ! -e "$T/term3" ]

# kill -9 of a holder: its lock is released at once, and its command dies
# with it (it must not go on without the lock).
bg "$LATCH" -r held -- sh -c 'echo $$ > "$1"; exec sleep 30' sh "$T/cmd4.pid"; holder=$last_pid
wait_for 10 file_exists "$T/cmd4.pid"
bg "$LATCH" -V -r held -- sh -c "date +%s%N > $T/got" > /dev/null 2> "$T/w4.err"; wp=$last_pid
wait_for 10 file_has "$T/w4.err" "waiting for 'held'"
t0=$(now_ns)
kill -KILL $holder
wait $wp
t1=$(cat "$T/got")
ms=$(( (t1 - t0) / 1000000 ))
diag "kill -9 of the holder to the waiter's command start: $ms ms"
check "kill -9 of a holder hands the lock to the waiter within 100 ms ($ms ms)" [ $ms -lt 100 ]
check "the killed holder's command is gone too" wait_for 5 pid_gone "$(cat "$T/cmd4.pid")"

# The daemon dies while a command runs: the command is stopped, latch 99.
"$LATCH" -r lost -- sh -c "$trapper" sh "$T/term5" "$T/cmd5.pid" 2> "$T/lost.err" &
lp=$!; bg_pids="$bg_pids $lp"
wait_for 10 file_exists "$T/cmd5.pid"
bg "$LATCH" -V -r lost -- touch "$T/ran-unlocked" > /dev/null 2> "$T/w5.err"; wp=$last_pid
wait_for 10 file_has "$T/w5.err" "waiting for 'lost'"
dpid=$(daemon_pid)
kill -KILL "$dpid"
wait $lp; st=$?
check "losing the daemon while the command runs exits 99" [ $st = 99 ]
check "...after stopping the command with SIGTERM" [ -e "$T/term5" ]
check "...and says the lock is lost" grep -q "lock on 'lost' is lost" "$T/lost.err"
wait $wp; st=$?
check "a command waiting when the daemon dies exits 99" [ $st = 99 ]
check "...without running" [ ! -e "$T/ran-unlocked" ]

finish
