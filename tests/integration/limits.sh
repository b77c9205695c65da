#!/bin/sh
# The daemon's limits: past one a request is refused with its own reason
# code, the client says which limit in one line and exits 99, and the
# daemon goes on serving.  Each limit is set on the `latch` that starts
# the daemon (so this also checks that daemon settings reach it).
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"

decl='<?xml version="1.0" encoding="UTF-8" ?>'

# one_line_99 NAME PATTERN COMMAND...: COMMAND exits 99 with exactly one
# line on stderr, matching PATTERN.
one_line_99 () {
  local name=$1 pattern=$2 st err
  shift 2
  "$@" > /dev/null 2> "$T/$name.err"; st=$?
  err=$(cat "$T/$name.err")
  [ $st = 99 ] && [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] && contains "$err" "$pattern" ||
    { diag "$name: exit $st, stderr: $err"; return 1; }
}

# --- locks per connection: a peer that pipelines lock requests on one
# connection (FLoM's protocol allows it) gets 3, then rc 1001; the
# refusal leaves its locks held, and it can still release them.
# start_daemon SOCKET OPTIONS...: a daemon on SOCKET, killed at cleanup.
start_daemon () {
  local s=$1; shift
  "$LATCH" -s "$s" -d -1 "$@" -- true
  head -n1 "$s.lock" > "$s.sockpid"
}
S1="$T/s1"
start_daemon "$S1" --max-locks=3 -r init
req () { printf '%s<msg level="3" verb="1" step="8"><session peerid=""/><resource name="%s" mode="5" wait="0" create="1" lifespan="0"/></msg>' "$decl" "$1"; }
unl () { printf '%s<msg level="3" verb="2" step="8"><resource name="%s" rollback="0"/></msg>' "$decl" "$1"; }
# r1 r2 r3 granted, r4 refused; then r1 is released and r5 granted on the
# same connection, which proves that the refusal neither closed it nor
# took the locks it held.
{ req cjE=; req cjI=; req cjM=; req cjQ=; unl cjE=; req cjU=; unl cjI=; unl cjM=; unl cjU=; } > "$T/many.in"
out=$("$HELPER" raw "$S1" "$T/many.in")
rcs=$(printf '%s\n' "$out" | grep -o 'rc="[-0-9]*"' | tr -dc '0-9 \n' | tr '\n' ' ')
diag "answers: $rcs"
check "one connection gets MaxLocksPerConnection locks (3), the next is refused with rc 1001" \
  contains "$rcs" '^0 0 0 1001 '
check "...the connection stays, with its locks: after an unlock it gets one more" \
  [ "$rcs" = "0 0 0 1001 0 " ]
check "...and the daemon closes it once it holds nothing" \
  contains "$(printf '%s' "$out" | tail -n1)" '<EOF>$'

# --- resources per daemon (idle ones kept by -i count).
S2="$T/s2"
start_daemon "$S2" --max-resources=3 -i 60000 -r res1
# The daemon's command line names each setting once.
args=$(tr '\0' '\n' < "/proc/$(cat "$S2.sockpid")/cmdline" 2> /dev/null)
[ "$(printf '%s\n' "$args" | grep -c '^--max-resources=3$')" = 1 ] &&
  [ "$(printf '%s\n' "$args" | grep -c '^--socket-name=')" = 1 ] &&
  [ "$(printf '%s\n' "$args" | grep -c '^--daemon-lifespan=')" = 1 ]
verdict "the daemon latch starts gets --max-resources, and each option once"
"$LATCH" -s "$S2" -i 60000 -r res2 -- true
"$LATCH" -s "$S2" -i 60000 -r res3 -- true
check "MaxResources: creating one more exits 99 with one line naming the limit" \
  one_line_99 res4 "MaxResources" "$LATCH" -s "$S2" -r res4 -- true
check "...existing resources still serve" "$LATCH" -s "$S2" -r res2 -o 1000 -- true

# --- waiters per resource: two may queue, a third is refused at once.
S3="$T/s3"
start_daemon "$S3" --max-waiters=2 -r init
bg "$LATCH" -s "$S3" -r w -- sh -c 'while [ ! -e "$1" ]; do sleep 0.01; done' sh "$T/go"; hp=$last_pid
wait_for 10 eval '"$LATCH" -s "$S3" -r w -o 0 -- true 2>/dev/null; [ $? = 98 ]'
bg "$LATCH" -V -s "$S3" -r w -- true > /dev/null 2> "$T/w1.err"; w1=$last_pid
bg "$LATCH" -V -s "$S3" -r w -- true > /dev/null 2> "$T/w2.err"; w2=$last_pid
wait_for 10 file_has "$T/w1.err" "waiting for 'w'"
wait_for 10 file_has "$T/w2.err" "waiting for 'w'"
check "MaxWaitersPerResource: a third waiter exits 99 with one line naming the limit" \
  one_line_99 w3 "MaxWaitersPerResource" "$LATCH" -s "$S3" -r w -- true
expect_status 98 "...a request that does not wait is busy as before (98)" \
  "$LATCH" -s "$S3" -r w -o 0 -- true 2> /dev/null
touch "$T/go"
wait $hp; wait $w1; s1=$?; wait $w2; s2=$?
check "...the two queued waiters get the lock in turn" [ "$s1$s2" = 00 ]

# --- idle lifespan ceiling.
S4="$T/s4"
start_daemon "$S4" --idle-lifespan-max=60000 -r init
check "IdleLifespanMax: -i above it exits 99 with one line naming the limit" \
  one_line_99 life "IdleLifespanMax" "$LATCH" -s "$S4" -i 60001 -r life -- true
check "...-i at the ceiling is granted" "$LATCH" -s "$S4" -i 60000 -r life -- true

# The default ceiling (one day) applies to a daemon started without options.
check "the default IdleLifespanMax refuses -i 2147483647 (24.8 days)" \
  one_line_99 life2 "IdleLifespanMax" "$LATCH" -i 2147483647 -r big -- true

for s in "$S1" "$S2" "$S3" "$S4"; do
  check "the daemon on $(basename "$s") is still serving" "$LATCH" -s "$s" -r res1 -o 1000 -- true
  "$LATCH" -s "$s" -X > /dev/null
done
"$LATCH" -X > /dev/null 2>&1
finish
