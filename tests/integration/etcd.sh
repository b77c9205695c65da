#!/bin/bash
# The lock table on etcd: two daemons (two users' auto-started latchd,
# each with its own lease) share one real etcd member: mutual exclusion,
# the mode matrix as the in-memory locker has it, numeric and
# hierarchical resources, FIFO across daemons, fences that are etcd
# revisions, a holder killed, a daemon killed (its lease expires), the
# types not kept on etcd refused, and bad endpoints refused in one line.
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"
. "$LATCH_TESTS_SRCDIR/integration/etcd-lib.sh"
etcd_skip_unless_available

etcd_start 1
E=$ETCD_ENDPOINTS
# Under valgrind the daemon is many times slower: a lease that short would
# be lost by its own slowness (which is what the lease is for).
TTL=${LATCH_VALGRIND_DIR:+10}; TTL=${TTL:-4}

# Two daemons: A and B, each a user's own (its own runtime directory), so
# each is started by its first command and keeps its own lease.
mkdir -p "$T/runA" "$T/runB" "$T/runC" "$T/runD" "$T/homeA" "$T/homeB" "$T/homeC" "$T/homeD"
chmod 700 "$T/runA" "$T/runB" "$T/runC" "$T/runD"
la () { XDG_RUNTIME_DIR="$T/runA" HOME="$T/homeA" "$LATCH" --etcd-endpoints="$E" --lease-ttl=$TTL -d -1 "$@"; }
lb () { XDG_RUNTIME_DIR="$T/runB" HOME="$T/homeB" "$LATCH" --etcd-endpoints="$E" --lease-ttl=$TTL -d -1 "$@"; }
daemon_of () { # the pid of the etcd daemon in runtime dir $1
  local f
  for f in "$1"/latch/etcd-*.sock.lock; do [ -s "$f" ] && head -n1 "$f"; done
}
kill_daemons () {
  local p
  for p in $(daemon_of "$T/runA") $(daemon_of "$T/runB"); do kill -KILL "$p" 2>/dev/null; done
}
trap 'kill_daemons; etcd_cleanup' EXIT

# hold CMD NAME [latch options]: a holder in the background that says so
# in $T/NAME.held (its fence, element and the latch command's pid beside
# it) and lets go when $T/NAME.go appears; $last_pid is its shell.
hold () {
  local cmd=$1 name=$2; shift 2
  rm -f "$T/$name.held" "$T/$name.go"
  bg $cmd "$@" -- sh -c 'echo "$LATCH_FENCE" > "$1.fence"; echo "${LATCH_ELEMENT-}" > "$1.element"; echo $PPID > "$1.pid"; touch "$1.held"; while [ ! -e "$1.go" ]; do sleep 0.02; done' sh "$T/$name"
}

out=$(la -r first -- sh -c 'echo "fence=$LATCH_FENCE"' 2>&1)
verdict_ok=$?
contains "$out" '^fence=[0-9]+$' && [ $verdict_ok = 0 ]
verdict "a command runs under a lock kept on etcd ($out)"
ls "$T/runA/latch/" | grep -q '^etcd-[0-9a-f]*\.sock$'
verdict "the daemon for a cluster has its own socket (etcd-DIGEST.sock), not the default one"
[ ! -e "$T/runA/latch/daemon.sock" ]
verdict "no in-memory daemon was started for it"
pa=$(daemon_of "$T/runA")
lsof_has=$(grep -c 'libsoup' /proc/"$pa"/maps 2>/dev/null)
[ "${lsof_has:-0}" -gt 0 ]
verdict "the daemon on etcd loaded latch-etcd.so (libsoup mapped)"

# Mutual exclusion across the two daemons.
hold la x1 -r shared1
wait_for 10 file_exists "$T/x1.held" || diag "holder on A never ran"
lb -r shared1 -o 0 -- true 2>"$T/busy.err"
lb -r shared1 -o 0 -- true 2>/dev/null; st=$?
[ $st = 98 ]; verdict "a lock held through daemon A is busy through daemon B (exit $st)"
grep -q "busy" "$T/busy.err"; vst=$?; verdict_status "$vst" "the busy command says so ($(head -c 200 "$T/busy.err"))"
f1=$(cat "$T/x1.fence")
touch "$T/x1.go"; wait "$last_pid"
out=$(lb -r shared1 -o 2000 -- sh -c 'echo $LATCH_FENCE'); st=$?
[ $st = 0 ] && [ "$out" -gt "$f1" ]
verdict "released on A, granted on B with a larger fence ($f1 -> $out)"
rev=$(etcd_ctl get /nonexistent -w json 2>/dev/null | sed -n 's/.*"revision":\([0-9]*\).*/\1/p')
[ -n "$rev" ] && [ "$out" -le "$rev" ] && [ "$out" -gt 1 ]
verdict "the fence is an etcd revision ($out <= store revision $rev)"

# The mode matrix, across daemons, as the in-memory locker answers it.
modes="NL CR CW PR PW EX"
bad=""
for held in $modes; do
  hold la m$held -r "mx$held" -l $held
  hp=$last_pid
  wait_for 10 file_exists "$T/m$held.held" || diag "holder $held never ran"
  for req in $modes; do
    lb -r "mx$held" -l $req -o 0 -- true 2>/dev/null; got=$?
    # The in-memory daemon's answer for the same pair (the reference).
    "$LATCH" -s "$T/mem.sock" -d -1 -r "mem$held" -l $held -- sh -c \
      '"$LATCH" -s "$1" -r "$2" -l "$3" -o 0 -- true 2>/dev/null; echo $? > "$4"' \
      sh "$T/mem.sock" "mem$held" "$req" "$T/ref" 2>/dev/null
    want=$(cat "$T/ref")
    [ "$got" = "$want" ] || bad="$bad $held/$req:$got!=$want"
  done
  touch "$T/m$held.go"; wait $hp
done
[ -z "$bad" ]; verdict "6x6 modes across two daemons on etcd answer as the in-memory locker${bad:+:$bad}"
[ -s "$T/mem.sock.lock" ] && kill -KILL "$(head -n1 "$T/mem.sock.lock")" 2>/dev/null

# Numeric: capacity 3 shared by both daemons.
hold la n1 -r 'pool[3]' -q 2
wait_for 10 file_exists "$T/n1.held"
lb -r 'pool[3]' -q 2 -o 0 -- true 2>/dev/null; a=$?
lb -r 'pool[3]' -q 1 -o 0 -- true 2>/dev/null; b=$?
[ $a = 98 ] && [ $b = 0 ]
verdict "numeric pool[3]: 2 held on A; 2 more busy on B ($a), 1 more granted ($b)"
touch "$T/n1.go"; wait $last_pid

# Hierarchical: /a/b held exclusively on A.
hold la h1 -r /tree/b
wait_for 10 file_exists "$T/h1.held"
lb -r /tree/c -o 0 -- true 2>/dev/null; a=$?
lb -r /tree -o 0 -- true 2>/dev/null; b=$?
lb -r /tree/b/deeper -o 0 -- true 2>/dev/null; c=$?
[ $a = 0 ] && [ $b = 98 ] && [ $c = 98 ]
verdict "hierarchical: /tree/b held on A; /tree/c granted ($a), /tree ($b) and /tree/b/deeper ($c) busy on B"
touch "$T/h1.go"; wait $last_pid

# FIFO across daemons: waiters alternate between A and B; each records
# its turn; they are granted in the order they asked.
hold la f0 -r fifo
wait_for 10 file_exists "$T/f0.held"
: > "$T/order"
# Daemon A's status shows the whole table, B's waiters included.
queued () { [ "$(la status --json -r fifo 2>/dev/null | jq '.resources[0].waiters | length')" -ge "$1" ] 2>/dev/null; }
for i in 1 2 3 4; do
  if [ $((i % 2)) = 1 ]; then c=lb; else c=la; fi
  bg $c -r fifo -- sh -c 'echo '$i' >> "$1"' sh "$T/order"
  wait_for 10 queued $i || diag "waiter $i not seen queued"
done
touch "$T/f0.go"
wait_for 20 sh -c "[ \$(wc -l < '$T/order') -ge 4 ]"
[ "$(tr '\n' ' ' < "$T/order")" = "1 2 3 4 " ]
vst=$?; verdict_status "$vst" "four waiters on two daemons granted in the order they asked ($(tr '\n' ' ' < "$T/order"))"

# A holder killed: its key goes at once; the waiter on the other daemon
# is granted without waiting for any lease.
hold la k1 -r killed
hp=$last_pid
wait_for 10 file_exists "$T/k1.held"
bg lb -r killed -o 10000 -- touch "$T/k1.next"
wp=$last_pid
kill -KILL "$(cat "$T/k1.pid")"
wait_for 5 file_exists "$T/k1.next"
verdict "a holder killed with SIGKILL: the waiter on daemon B is granted"
[ "$(etcd_ctl lease list 2>/dev/null | grep -c '^[0-9a-f]*$')" -ge 2 ]
verdict "... by its key's deletion, not by daemon A's lease expiring (both leases alive)"

# A daemon killed: its lease expires after the TTL and what it held goes.
hold la d1 -r daemonkill
wait_for 10 file_exists "$T/d1.held"
bg lb -r daemonkill -o 20000 -- touch "$T/d1.next"
pa=$(daemon_of "$T/runA")
kill -KILL "$pa"
t0=$(now_ns)
wait_for $((TTL + 5)) file_exists "$T/d1.next"
verdict "daemon A killed with SIGKILL: B's waiter is granted once A's lease expires"
# How long it took is a figure (tests/bench/bench-etcd.sh measures it);
# the bound above is the check: not before, and not much after, the TTL.
diag "daemon killed -> waiter granted in $(( ($(now_ns) - t0) / 1000000 )) ms (LeaseTtl $TTL s)"

# Sets: each daemon's holder gets a member of its own, and a third asker
# finds none free.
hold la s1 -r px.py --quiet
wait_for 10 file_exists "$T/s1.held"
hold lb s2 -r px.py --quiet
wait_for 10 file_exists "$T/s2.held"
e1=$(cat "$T/s1.element"); e2=$(cat "$T/s2.element")
la -r px.py --quiet -o 0 -- true 2>/dev/null; st=$?
[ -n "$e1" ] && [ -n "$e2" ] && [ "$e1" != "$e2" ] && [ $st = 98 ]
verdict "set px.py: A holds '$e1', B holds '$e2', a third is busy ($st)"
touch "$T/s1.go" "$T/s2.go"

# Sequences: one counter for both daemons, a rolled-back value handed out
# again (_S_), and the counter kept in etcd across daemon restarts.
seqv () { "$@" -i 60000 -r '_S_ctr[1]' --quiet -- sh -c 'echo "$LATCH_ELEMENT"'; }
v1=$(seqv la); v2=$(seqv lb)
lb -i 60000 -r '_S_ctr[1]' --quiet -- sh -c 'echo "$LATCH_ELEMENT" > "$1"; exit 3' sh "$T/rolled"
v3=$(seqv la); v4=$(seqv lb)
[ "$v1 $v2 $(cat "$T/rolled") $v3 $v4" = "1 2 3 3 4" ]
vst=$?; verdict_status "$vst" "sequence _S_ctr[1] across daemons: $v1 $v2, $(cat "$T/rolled") rolled back, then $v3 $v4 (want 1 2 3 3 4)"
for d in $(daemon_of "$T/runA") $(daemon_of "$T/runB"); do kill -TERM "$d" 2>/dev/null; done
for d in $(daemon_of "$T/runA") $(daemon_of "$T/runB"); do wait_for 10 pid_gone "$d"; done
v5=$(seqv lb)
[ "$v5" = 5 ]
verdict "the sequence's counter outlives both daemons (after a restart: $v5, want 5)"

# Timestamps: unique across daemons; a second asker in the same second
# waits for the next one (time alone grants it).
t1=$(la -r '_t_%s[1]' -- sh -c 'echo "$LATCH_ELEMENT"')
t2=$(lb -r '_t_%s[1]' -- sh -c 'echo "$LATCH_ELEMENT"')
[ -n "$t1" ] && [ -n "$t2" ] && [ "$t2" -gt "$t1" ]
verdict "timestamps _t_%s[1] from two daemons are distinct and increasing ($t1, $t2)"

# Idle resources go by the same lifespan rules: the resource key of one
# asked with -i 1500 is there after its command, and gone once it has
# been idle that long.
la -r idler -i 1500 -- true
rkey_there () { [ -n "$(etcd_ctl get --prefix /latch/r/ --keys-only 2>/dev/null | grep "$(printf idler | od -An -tx1 | tr -d ' \n')")" ]; }
rkey_there; verdict "an idle resource's key stays for its idle lifespan"
rkey_gone () { ! rkey_there; }
wait_for 10 rkey_gone
verdict "... and is removed once it has been idle that long"

# A FLoM client (the legacy protocol, no session extension) of a TCP
# daemon whose table is on etcd: it is refused while daemon B holds the
# lock, and granted once B let go.
SPEER="${LATCH_TESTS_BUILDDIR:-$(dirname "$LATCH")/tests}/integration/session-peer"
free_port; TPORT=$PORT
la -a 127.0.0.1 -p $TPORT -r init -- true
head -n1 "$T/runA/latch/tcp-127.0.0.1-$TPORT.lock" > "$T/tcp.sockpid" 2>/dev/null
hold lb fl -r flomres
wait_for 10 file_exists "$T/fl.held"
printf 'legacy flomres 5 0\nexpect 16 0 4\n' > "$T/flom-busy.in"
"$SPEER" --tcp 127.0.0.1:$TPORT < "$T/flom-busy.in" > "$T/flom-busy.out" 2>&1
verdict "a FLoM client of a TCP daemon on etcd: busy (rc 4) while another daemon holds it"
touch "$T/fl.go"; wait $last_pid
# The release reaches the TCP daemon through its watch: wait until it
# sees the lock free (slow under valgrind) before the no-wait request.
flom_free () { la -a 127.0.0.1 -p $TPORT -r flomres -o 0 -- true 2>/dev/null; }
wait_for 20 flom_free
printf 'legacy flomres 5 0\nexpect 16 0 0\nunlock 0 flomres\nexpect-eof\n' > "$T/flom-ok.in"
"$SPEER" --tcp 127.0.0.1:$TPORT < "$T/flom-ok.in" > "$T/flom-ok.out" 2>&1
verdict "... and granted (rc 0) once it is free"

# Bad endpoints: one line naming it, exit 99, no daemon left behind.
free_port; dead=$PORT
err=$(XDG_RUNTIME_DIR="$T/runC" HOME="$T/homeC" "$LATCH" --etcd-endpoints=http://127.0.0.1:$dead -r x -- true 2>&1); st=$?
[ $st = 99 ] && [ "$(printf '%s\n' "$err" | grep -c .)" = 1 ] && contains "$err" "127.0.0.1:$dead"
verdict "nothing at the endpoint: one line naming it, exit 99 ($st: $err)"
XDG_RUNTIME_DIR="$T/runD" HOME="$T/homeD" "$LATCH" --etcd-endpoints=http://127.0.0.1:$dead,$E \
  -r x -- true 2>"$T/passover.err"
st=$?; [ $st = 0 ]
verdict "a first endpoint nobody answers on is passed over at the start (exit $st)"
err=$(la --etcd-endpoints=127.0.0.1:2379 -r x -- true 2>&1); st=$?
[ $st = 99 ] && contains "$err" 'not http://HOST:PORT'
verdict "an endpoint without a scheme: refused naming the form ($err)"
etcd_make_pki
err=$(la --etcd-endpoints="$E" --tls-certificate="$ETCD_PKI/client.pem" \
         --tls-private-key="$ETCD_PKI/client.key" --tls-ca-certificate="$ETCD_CA" -r x -- true 2>&1); st=$?
[ $st = 99 ] && contains "$err" 'https://'
vst=$?; verdict_status "$vst" "TLS configured with a plain http endpoint: refused, naming https ($(printf '%s' "$err" | head -c 200))"

# Nothing leaked: once every command is done, no request key is left.
wait_for 10 sh -c "[ -z \"\$(ETCDCTL_API=3 '$ETCDCTL' --endpoints='$E' get --prefix /latch/q/ --keys-only 2>/dev/null)\" ]"
verdict "no request key left in etcd once all commands ended"

finish
