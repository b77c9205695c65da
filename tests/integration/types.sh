#!/bin/sh
# FLoM's other resource types, each with concurrent commands that prove
# its limit.
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"

LATCH_TRACE=1 "$LATCH" -d -1 -t "$TRACE" -r init -- true
SOCK="$SOCKDIR/daemon.sock"
decl='<?xml version="1.0" encoding="UTF-8" ?>'

# usage_peak FILE: the log has "TIME +N" and "TIME -N" lines; prints the
# largest sum reached in time order.
usage_peak () {
  sort -n "$1" | awk '{ sum += $2; if (sum > max) max = sum } END { print max + 0 }'
}

# ---- numeric: gpu[4], each command takes 2 units ----
pids=""
for i in 1 2 3 4 5 6; do
  bg "$LATCH" -r 'gpu[4]' -q 2 -- sh -c 'echo "$(date +%s%N) +2" >> "$1"; sleep 0.05; echo "$(date +%s%N) -2" >> "$1"' sh "$T/gpu.log"
  pids="$pids $last_pid"
done
fails=0; for p in $pids; do wait $p || fails=$((fails + 1)); done
peak=$(usage_peak "$T/gpu.log")
[ $fails = 0 ] && [ "$peak" -le 4 ]; verdict "gpu[4] -q 2 x6: all ran, never more than 4 units in use (peak $peak)"
barrier='touch "$1"; i=0; while [ ! -e "$2" ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done; [ -e "$2" ]'
bg "$LATCH" -r 'gpu[4]' -q 2 -- sh -c "$barrier" sh "$T/g1" "$T/g2"; p1=$last_pid
bg "$LATCH" -r 'gpu[4]' -q 2 -- sh -c "$barrier" sh "$T/g2" "$T/g1"; p2=$last_pid
wait $p1; s1=$?; wait $p2; s2=$?
[ $s1 = 0 ] && [ $s2 = 0 ]; verdict "two holders of 2 units of gpu[4] run at the same time"
# The daemon refuses impossible quantities itself, whatever a peer sends.
for q in 0 -5 5; do
  printf '%s' "$decl<msg level=\"3\" verb=\"1\" step=\"8\"><session peerid=\"\"/><resource name=\"$(printf 'gpu[4]' | base64)\" wait=\"1\" quantity=\"$q\" create=\"1\" lifespan=\"0\"/></msg>" > "$T/q.in"
  out=$("$HELPER" raw "$SOCK" "$T/q.in")
  contains "$out" 'step="16".*rc="6"'; verdict "the daemon refuses quantity $q of gpu[4] with rc 6 (FLoM: grants negative ones)"
done
# ...also when the request waited for the resource's creation (FLoM then
# ran the command unlocked).
printf '%s' "$decl<msg level=\"3\" verb=\"1\" step=\"8\"><session peerid=\"\"/><resource name=\"$(printf 'late[2]' | base64)\" wait=\"1\" quantity=\"3\" create=\"0\" lifespan=\"0\"/></msg>" > "$T/late.in"
"$HELPER" raw "$SOCK" "$T/late.in" > "$T/late.out" &
rp=$!
wait_for 10 file_has "$T/late.out" 'step="16".*rc="2"'
"$LATCH" -r 'late[2]' -- true
wait $rp
contains "$(cat "$T/late.out")" 'step="24"><answer rc="6"/>'; verdict "an impossible request handed over at creation is refused at step 24"

# ---- set ----
out=""
for i in 1 2 3 4; do out="$out $("$LATCH" -r 'red.green.blue' -i 2000 -- sh -c 'echo $LATCH_ELEMENT')"; done
[ "$out" = " red green blue red" ]; verdict "set elements rotate as FLoM's: red green blue red ($out)"
e=$("$LATCH" -r 'a.b' -i 2000 -- echo)
[ "$e" = a ]; verdict "the element is also the command's last argument ($e)"
v=$("$LATCH" -V -r 'c.d' -- true | grep "Locked element")
[ "$v" = "Locked element is 'c'" ]; verdict "-V prints the locked element as FLoM does"
pids=""
for i in 1 2 3; do
  bg "$LATCH" -r 'x.y.z' -- sh -c 'echo "$LATCH_ELEMENT" >> "$1"; touch "$2.$LATCH_ELEMENT"; i=0; while [ $(ls "$2".* | wc -l) -lt 3 ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done; [ $(ls "$2".* | wc -l) -ge 3 ] || exit 1; i=0; while [ ! -e "$3" ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done' sh "$T/set.log" "$T/set.in" "$T/set.go"
  pids="$pids $last_pid"
done
wait_for 10 sh -c "[ \$(ls $T/set.in.* 2>/dev/null | wc -l) -ge 3 ]"
expect_status 98 "a fourth command finds the three-element set full (-o 0)" "$LATCH" -r 'x.y.z' -o 0 -- true
touch "$T/set.go"
fails=0; for p in $pids; do wait $p || fails=$((fails + 1)); done
[ $fails = 0 ] && [ "$(sort -u "$T/set.log" | tr '\n' ' ')" = "x y z " ]
verdict "three commands hold the three elements at once, never one element twice"

# ---- hierarchical ----
"$HELPER" lock /data/2026/nov 5 -1 "$T/h.go" > "$T/h.out" &
hp=$!
wait_for 10 file_has "$T/h.out" granted
expect_status 98 "/data/2026/nov held: /data is busy" "$LATCH" -r /data -o 0 -- true
expect_status 98 "...and so is /data/2026/nov/x below it" "$LATCH" -r /data/2026/nov/x -o 0 -- true
expect_status 0 "...but the sibling /data/2025 is free" "$LATCH" -r /data/2025 -o 0 -- true
expect_status 0 "...and /other is another resource" "$LATCH" -r /other -o 0 -- true
touch "$T/h.go"; wait $hp
"$HELPER" lock /a/b 5 -1 "$T/hb.go" > "$T/hb.out" &
hb=$!
wait_for 10 file_has "$T/hb.out" granted
bg "$LATCH" -r /a/c -- sh -c 'touch "$1"; exec sleep 30' sh "$T/hc.in"; hc=$last_pid
wait_for 10 file_exists "$T/hc.in"
kill -KILL $hc
wait_for 5 sh -c "\"$LATCH\" -r /a/c -o 0 -- true"; verdict "a holder of /a/c killed while /a/b is held releases /a/c (FLoM leaks it)"
expect_status 98 "...and /a/b stays locked" "$LATCH" -r /a/b -o 0 -- true
touch "$T/hb.go"; wait $hb

# ---- sequences (FLoM's use case 18) ----
run_case () { # RESOURCE: prints the values the echo commands got
  for cmd in true true true echo true true echo false echo false echo true echo; do
    "$LATCH" -r "$1" -i 2000 -- $cmd
  done | tr '\n' ' '
}
out=$(run_case '_S_a[1]')
[ "$out" = "4 7 8 9 11 " ]; verdict "transactional sequence reuses failed values: 4 7 8 9 11 ($out)"
out=$(run_case '_s_b[1]')
[ "$out" = "4 7 9 11 13 " ]; verdict "non-transactional sequence never reuses: 4 7 9 11 13 ($out)"
out=$(for i in 1 2 3; do "$LATCH" -r '_s_ticket[1]' -i 2000 -- sh -c 'echo $LATCH_ELEMENT'; done | tr '\n' ' ')
[ "$out" = "1 2 3 " ]; verdict "LATCH_ELEMENT counts 1 2 3 ($out)"

# ---- timestamps ----
pids=""
for i in 1 2 3 4 5 6; do
  bg "$LATCH" -r '_t_stamp.%Y%m%d.%H%M%S#fff[1]' -- sh -c 'echo "$LATCH_ELEMENT" >> "$1"' sh "$T/ts.log"
  pids="$pids $last_pid"
done
fails=0; for p in $pids; do wait $p || fails=$((fails + 1)); done
[ $fails = 0 ] && [ "$(sort -u "$T/ts.log" | wc -l)" = 6 ]; verdict "six concurrent timestamps are unique"
first=$(head -n1 "$T/ts.log")
contains "$first" '^stamp\.[0-9]{8}\.[0-9]{6}\.[0-9]{3}$'; verdict "the timestamp has the requested format ($first)"
out=$(for i in 1 2 3 4 5; do "$LATCH" -r '_t_u%S#f[1]' -- echo; done | sort -u | wc -l)
[ "$out" = 5 ]; verdict "quick commands one after the other (lifespan 0) get distinct timestamps"
err=$("$LATCH" -r '_t_%D[1]' -- true 2>&1); st=$?
[ $st = 99 ] && contains "$err" "needs a time field"; verdict "a timestamp format without a time field exits 99 and says why"

"$LATCH" -X > /dev/null
finish
