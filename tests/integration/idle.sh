#!/bin/sh
# Idle resources: the daemon keeps a released resource, and with it a
# sequence's counter and a set's rotation, for its minimum idle lifespan
# (--idle-lifespan-min, 2000 ms by default) even when -i is 0, as FLoM
# keeps one for about 1-2 s; and a daemon keeping one does not exit.
# Also: timestamp results are bounded as FLoM bounds them (999 bytes).
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"

# ms since an earlier now_ns.
ms_since () { echo $(( ($(now_ns) - $1) / 1000000 )); }

# ---- the default minimum (2000 ms), -i 0 ----
"$LATCH" -d -1 -r init -- true
dpid=$(daemon_pid)

out=$(for i in 1 2 3; do "$LATCH" -r '_s_seq[1]' -- echo; done | tr '\n' ' ')
[ "$out" = "1 2 3 " ]; verdict "back-to-back commands on _s_seq[1] print 1 2 3, as FLoM's ($out)"

out=$(for i in 1 2 3; do "$LATCH" -r 'red.green.blue' -- echo; done | tr '\n' ' ')
[ "$out" = "red green blue " ]; verdict "back-to-back commands on red.green.blue rotate red green blue ($out)"

"$LATCH" -r kept -- true
"$LATCH" -r kept -e no -o 0 -- true; st=$?
[ $st = 0 ]; verdict "right after an unlock, -r kept -e no -o 0 finds the resource (exit $st, FLoM: 0)"

"$LATCH" -X > /dev/null
wait_for 10 pid_gone "$dpid"

# ---- the daemon stays while it keeps a resource ----
# -d 300 and -i 0: the daemon's own idle time starts only once the kept
# resource is gone, so 1 s later the counter is still there.
first=$("$LATCH" -d 300 -r '_s_life[1]' -- echo)
dpid=$(daemon_pid)
t0=$(now_ns)
while [ "$(ms_since "$t0")" -lt 1000 ]; do sleep 0.05; done
second=$("$LATCH" -d 300 -r '_s_life[1]' -- echo)
t1=$(now_ns)
[ "$first" = 1 ] && [ "$second" = 2 ] && [ "$(daemon_pid)" = "$dpid" ]
verdict "a -d 300 daemon keeping _s_life[1] is still there 1 s later, which gets 2 ($first, $second)"
wait_for 10 pid_gone "$dpid"; gone=$?
ms=$(ms_since "$t1")
[ $gone = 0 ] && [ "$ms" -ge 2000 ]; verdict "...and exits once the resource is gone, not before (${ms} ms after the last command; minimum 2000 + 300)"

# ---- a configured minimum: kept that long, then gone ----
# 500 ms leaves room for a slow daemon (valgrind) between two commands.
"$LATCH" -d -1 --idle-lifespan-min=500 -r init -- true
dpid=$(daemon_pid)
"$LATCH" -r short -- true
"$LATCH" -r short -e no -o 0 -- true; st1=$?
t0=$(now_ns)
# What is tested is time: wait past the deadline (500 ms after the last
# use; the probe above was one), then look once.
while [ "$(ms_since "$t0")" -lt 1000 ]; do sleep 0.05; done
"$LATCH" -r short -e no -o 0 -- true 2>/dev/null; st2=$?
[ $st1 = 0 ] && [ $st2 = 96 ]
verdict "--idle-lifespan-min=500: kept right after the unlock ($st1), gone 1 s after its last use ($st2; want 0, then 96)"

# ---- timestamps: the result is bounded by FLoM's 999 bytes ----
# element_length NAME: runs a command on NAME that prints the length of
# its element; latch's own messages go to $T/err.
element_length () {
  "$LATCH" -r "$1" -- sh -c 'printf %s "$LATCH_ELEMENT" | wc -c' 2> "$T/err"
}
f92=$(printf '%%S%.0s' $(seq 1 46))
len=$(element_length "_t_$f92[1]"); st=$?
[ $st = 0 ] && [ "$len" = 92 ]; verdict "a _t_ format whose result is 92 bytes (46 x %S) works (exit $st, ${len:-no} bytes)"
[ $st = 0 ] || diag "$(cat "$T/err")"
pad=$(printf 'a%.0s' $(seq 1 997))
len=$(element_length "_t_$pad%S[1]"); st=$?
[ $st = 0 ] || diag "$(cat "$T/err")"
err=$("$LATCH" -r "_t_a$pad%S[1]" -- true 2>&1); st2=$?
[ $st = 0 ] && [ "$len" = 999 ] && [ $st2 = 99 ] && contains "$err" "at most 999 bytes"
verdict "a 999-byte timestamp works (exit $st, ${len:-no} bytes); a 1000-byte one is refused (exit $st2) naming the limit"

"$LATCH" -X > /dev/null
wait_for 10 pid_gone "$dpid"
finish
