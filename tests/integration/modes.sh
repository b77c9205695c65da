#!/bin/sh
# Lock modes: the VMS compatibility matrix, readers together, writers
# never starved (strict FIFO).
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"

# A daemon that traces its decisions, kept for the whole test.
LATCH_TRACE=1 "$LATCH" -d -1 -t "$TRACE" -r init -- true

modes="NL CR CW PR PW EX"
# Row = held, column = requested (1 = may coexist).
matrix="111111 111110 111000 110100 110000 100000"

held_i=0
for held in $modes; do
  row=$(echo $matrix | cut -d' ' -f$((held_i + 1)))
  rm -f "$T/go"
  "$HELPER" lock "m$held" $held_i -1 "$T/go" > "$T/holder.out" &
  hp=$!
  wait_for 10 file_has "$T/holder.out" granted
  req_i=0
  for req in $modes; do
    want=$(echo "$row" | cut -c$((req_i + 1)))
    "$LATCH" -r "m$held" -l $req -o 0 -- true 2>/dev/null
    got=$?
    if [ "$want" = 1 ]; then exp=0; else exp=98; fi
    if [ $got = $exp ]; then ok "held $held, asked $req: exit $got"
    else not_ok "held $held, asked $req: exit $got, want $exp"; fi
    req_i=$((req_i + 1))
  done
  touch "$T/go"
  wait $hp
  held_i=$((held_i + 1))
done

check "long mode names are accepted" "$LATCH" -r longnames -l ProtectedRead -- true

# Two readers hold the resource together: each waits for the other.
barrier='touch "$1"; i=0; while [ ! -e "$2" ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done; [ -e "$2" ]'
bg "$LATCH" -r db -l PR -- sh -c "$barrier" sh "$T/r1.in" "$T/r2.in"; p1=$last_pid
bg "$LATCH" -r db -l PR -- sh -c "$barrier" sh "$T/r2.in" "$T/r1.in"; p2=$last_pid
wait $p1; s1=$?; wait $p2; s2=$?
[ $s1 = 0 ] && [ $s2 = 0 ]; verdict "two PR readers run at the same time"

# Writer starvation: reader holds, writer queues, a later reader must
# queue behind the writer (FLoM lets it overtake).
rm -f "$T/go"
"$HELPER" lock fifo 3 -1 "$T/go" > "$T/r1.out" &
r1=$!
wait_for 10 file_has "$T/r1.out" granted
bg "$LATCH" -V -r fifo -l EX -- sh -c "echo W-start >> $T/order; sleep 0.05; echo W-end >> $T/order" > /dev/null 2> "$T/w.err"; w=$last_pid
check "the writer is queued behind the reader" wait_for 10 file_has "$T/w.err" "waiting for 'fifo'"
expect_status 98 "a new reader does not overtake the queued writer (-o 0: busy)" "$LATCH" -r fifo -l PR -o 0 -- true
bg "$LATCH" -V -r fifo -l PR -- sh -c "echo R2 >> $T/order" > /dev/null 2> "$T/r2.err"; r2=$last_pid
check "the later reader is queued too" wait_for 10 file_has "$T/r2.err" "waiting for 'fifo'"
touch "$T/go"
wait $r1; wait $w; wait $r2
check "the writer ran before the later reader" [ "$(cat "$T/order" | tr '\n' ' ')" = "W-start W-end R2 " ]

"$LATCH" -X > /dev/null
finish
