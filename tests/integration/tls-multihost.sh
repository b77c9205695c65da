#!/bin/sh
# TLS across hosts: a daemon on h1 at the mutual level, clients on h2 and
# h3 with certificates whose CN is their own machine ID.  Each host is a
# network namespace with its own machine ID (netns-lib.sh); the file
# system, and so the PKI in $T/pki, is shared.
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"
. "$LATCH_TESTS_SRCDIR/integration/netns-lib.sh"

ns_setup 3

ID1=$(ns_machine_id 1); ID2=$(ns_machine_id 2); ID3=$(ns_machine_id 3)
TLS_MACHINE_ID=$ID1
TLS_EXTRA_CERTS="host1=$ID1 host2=$ID2 host3=$ID3"
. "$LATCH_TESTS_SRCDIR/integration/tls-lib.sh"

A1=$(ns_addr4 1)
PORT=28015        # h1's mutual daemon, every host allowed
PORT2=28016       # h1's mutual daemon, h2 not allowed
CHECK=--tls-check-peer-id=yes
host_opts () { tls_opts "host$1" ca1; }   # I: host I's own certificate
quiet () { "$@" > /dev/null; }             # -V and -X print on stdout

diag "machine IDs: h1 $ID1 h2 $ID2 h3 $ID3"
id2=$(in_host 2 "$LATCH" --unique-id)
[ "$id2" = "$ID2" ] && [ "$ID1" != "$ID2" ] && [ "$ID2" != "$ID3" ]
verdict "each host has its own unique id"

# A shell command that marks its [start, end] window in the file $1.
window='echo "$(date +%s%N) S" >> "$1"; sleep 0.2; echo "$(date +%s%N) E" >> "$1"'
# Sorted by time, the marks of N windows alternate S E S E ... (2N lines).
windows_apart () { # FILE N
  sort -n "$1" | awk -v n="$2" '{ want = (NR % 2) ? "S" : "E"; if ($2 != want) exit 1 } END { if (NR != 2 * n) exit 1 }'
}

# refused_on HOST DESC PATTERNS ARGS...: like refused, run in host HOST.
refused_on () {
  local h=$1 desc=$2 pats=$3 err st; shift 3
  err=$(in_host "$h" "$LATCH" "$@" 2>&1 >/dev/null); st=$?
  if [ $st = 99 ] && [ -n "$err" ] && [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] &&
     has_all "$err" "$pats"; then
    ok "$desc"
  else
    not_ok "$desc (exit $st, want 99 and one line matching '$pats': $(one_line "$err"))"
    DTRACE=$T/h1.trace trace_tail
  fi
}

# --- a mutual-level daemon on h1, every host allowed ----------------------
printf '# all three hosts\n%s\n%s\n%s\n' "$ID1" "$ID2" "$ID3" > "$T/allowed-all"
expect_status 0 "h1 starts a daemon on $A1:$PORT at the mutual level with an allow-list" \
  quiet in_host 1 "$LATCH" -a "$A1" -p $PORT $(host_opts 1) --security-level=mutual \
    --tls-allowed-peers="$T/allowed-all" -V -t "$T/h1.trace" -d -1 -r start -- true
check "...it listens on $A1:$PORT" [ -n "$(ns_port_pid 1 tcp $PORT)" ]

pids=""; all=0
for h in 2 3 2 3 2 3; do
  bg in_host $h "$LATCH" -a "$A1" -p $PORT $(host_opts $h) $CHECK -r nightly -- sh -c "$window" sh "$T/W"
  pids="$pids $last_pid"
done
for p in $pids; do wait "$p" || all=1; done
[ $all = 0 ]; verdict "six commands from h2 and h3, each with its own certificate, all exit 0"
check "...and their time windows never intersect" windows_apart "$T/W" 6

refused_on 2 "h2 with h3's certificate (CN is not h2's machine ID) refuses itself" 'machine ID' \
  -a "$A1" -p $PORT $(host_opts 3) $CHECK -r wrong -- true
refused_on 2 "a clear client on h2 is told the daemon requires TLS" 'requires TLS' \
  -a "$A1" -p $PORT -d 0 -r clear -- true
decl='<?xml version="1.0" encoding="UTF-8" ?>'
out=$(in_host 2 "$TLS_PEER" --tcp "$A1:$PORT" --cert "$PKI/host3.pem" --key "$PKI/host3.key" --ca "$PKI/ca1.pem" \
  --send "$(lock_msg "$ID2" wrong)" --timeout 8000)
contains "$out" 'rc="-23"' && contains "$out" '^end: eof$'
peer_verdict "the daemon answers -23 and closes when h2 announces its ID with h3's certificate"
out=$(in_host 2 "$TLS_PEER" --tcp "$A1:$PORT" --cert "$PKI/host2.pem" --key "$PKI/host2.key" --ca "$PKI/ca1.pem" \
  --send "$(lock_msg "$ID2" right)" --until '</msg>' --timeout 8000)
contains "$out" "^peer-cn $ID1\$" && contains "$out" 'rc="0"' && contains "$out" "peerid=\"$ID1\""
peer_verdict "...and grants h2 with its own certificate (the daemon's CN and announced ID are h1's)"
dpid=$(ns_port_pid 1 tcp $PORT)
[ -n "$dpid" ] && pid_alive "$dpid"; verdict "h1's daemon survived every refusal"

# --- an allow-list without h2 -------------------------------------------------
printf '%s\n%s\n' "$ID1" "$ID3" > "$T/allowed-13"
expect_status 0 "h1 starts a daemon on $A1:$PORT2 that allows h1 and h3 only" \
  quiet in_host 1 "$LATCH" -a "$A1" -p $PORT2 $(host_opts 1) --security-level=mutual \
    --tls-allowed-peers="$T/allowed-13" -V -t "$T/h1b.trace" -d -1 -r start -- true
refused_on 2 "h2 with its own certificate is not allowed" 'not allowed' \
  -a "$A1" -p $PORT2 $(host_opts 2) $CHECK -r allow -- true
expect_status 0 "h3 locks" in_host 3 "$LATCH" -a "$A1" -p $PORT2 $(host_opts 3) $CHECK -r allow -- true

expect_status 0 "-X from h3 stops the second daemon" \
  quiet in_host 3 "$LATCH" -a "$A1" -p $PORT2 $(host_opts 3) $CHECK -X
expect_status 0 "-X from h2 stops the first" \
  quiet in_host 2 "$LATCH" -a "$A1" -p $PORT $(host_opts 2) $CHECK -X
[ -n "$dpid" ] && wait_for 10 pid_gone "$dpid"; verdict "...which is gone"

finish
