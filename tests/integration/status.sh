#!/bin/sh
# Who holds what, from the command's side (issue 16, item 2): `latch
# status` (text, --json, --names, --metrics, -r), no daemon, TCP, the
# agent, mutual TLS, a FLoM daemon; the waiting notice; the busy message
# naming the holder.
#
# Holders are real `latch` commands that hold until a file appears; every
# wait is bounded and on something observable (a file, a line).
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"

FAKE="${LATCH_TESTS_BUILDDIR:-$(dirname "$LATCH")/tests}/integration/fake-flom"
HAVE_JQ=0; command -v jq > /dev/null 2>&1 && HAVE_JQ=1

# hold NAME LATCH-OPTS...: a latch command holding NAME until $T/go.NAME
# exists; HPID is its pid (latch's, which the daemon names).
hold () {
  local name=$1; shift
  rm -f "$T/in.$name"
  bg "$LATCH" "$@" -r "$name" -- sh -c \
    'touch "$1"; i=0; while [ ! -e "$2" ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i+1)); done' \
    sh "$T/in.$name" "$T/go.$name"
  HPID=$last_pid
  wait_for 10 file_exists "$T/in.$name" || { echo "Bail out! the holder of $name did not start"; exit 1; }
}

# waiter FILE NAME LATCH-OPTS...: a latch command waiting for NAME, its
# stderr in $T/FILE.err; WPID is its pid.
waiter () {
  local file=$1 name=$2; shift 2
  : > "$T/$file.err"
  bg "$LATCH" "$@" -r "$name" -- true 2> "$T/$file.err"
  WPID=$last_pid
}

one_line_of () { [ "$(wc -l < "$1")" = 1 ]; }

# ---- the local daemon --------------------------------------------------------
"$LATCH" -d -1 -r start -- true
hold backup
H1=$HPID
hold other
H2=$HPID

waiter w1 backup --wait-notice=200
W1=$WPID
check "a waiter says after --wait-notice=200 what it waits for: the holder's pid, 0 ahead" \
  wait_for 10 file_has "$T/w1.err" "^latch: waiting for 'backup': held by pid $H1 .*, 0 ahead\$"
waiter w2 backup --wait-notice=200
W2=$WPID
check "...a second waiter: 1 ahead" \
  wait_for 10 file_has "$T/w2.err" "^latch: waiting for 'backup': held by pid $H1 .*, 1 ahead\$"
one_line_of "$T/w1.err" && one_line_of "$T/w2.err"
verdict "...one notice each (the next one comes 30 s later)"

# Silenced: --wait-notice=0 and --quiet.  Queued before w5, whose notice
# then shows that theirs would have been due too.
# queued PID: latch status shows PID waiting for backup (one at a time,
# so that the queue's order is the order of these lines).
queued () { "$LATCH" status -r backup | grep -q "^  queued .* pid $1 "; }
waiter w3 backup --wait-notice=0
W3=$WPID
check "(w3 is queued)" wait_for 10 queued $W3
waiter w4 backup --wait-notice=200 --quiet
W4=$WPID
check "(w4 is queued)" wait_for 10 queued $W4
waiter w5 backup --wait-notice=200
W5=$WPID
wait_for 10 file_has "$T/w5.err" "4 ahead\$" && [ ! -s "$T/w3.err" ] && [ ! -s "$T/w4.err" ]
verdict "--wait-notice=0 and --quiet: no notice (a later waiter's came)"

out=$("$LATCH" status); st=$?
printf '%s\n' "$out" | sed 's/^/# /'
[ $st = 0 ] && contains "$out" "backup" && contains "$out" "other" && contains "$out" "pid $H1\b" &&
  contains "$out" "pid $H2\b"
verdict "latch status: exit 0, both resources and their holders by pid"
order=$(printf '%s\n' "$out" | grep -oE "pid ($W1|$W2|$W3|$W4|$W5)\b" | tr '\n' ' ')
check "...the waiters in queue order ($order)" [ "$order" = "pid $W1 pid $W2 pid $W3 pid $W4 pid $W5 " ]
contains "$out" "sh -c"; verdict "...with their command lines"

out=$("$LATCH" status -r other); st=$?
[ $st = 0 ] && contains "$out" "other" && ! contains "$out" "backup"
verdict "-r other: that resource only"

out=$("$LATCH" status --names | sort | tr '\n' ' '); st=$?
# (start: the first command's resource, kept idle a moment.)
[ $st = 0 ] && { [ "$out" = "backup other start " ] || [ "$out" = "backup other " ]; }
verdict "--names: one name per line ($out)"

"$LATCH" status --metrics > "$T/metrics"; st=$?
check "--metrics: exit 0" [ $st = 0 ]
# The holders so far were granted EX locks; the waiters queued.
grep -qE '^latch_grants_total\{mode="EX"\} [1-9]' "$T/metrics" \
  && grep -qE '^latch_waits_total [1-9]' "$T/metrics" && grep -q '^# TYPE latch_wait_seconds histogram$' "$T/metrics"
verdict "--metrics: the daemon's counters, in the Prometheus text format"

if [ $HAVE_JQ = 1 ]; then
  "$LATCH" status --json > "$T/status.json"; st=$?
  uid=$(id -u)
  jq -e --argjson h1 "$H1" --argjson uid "$uid" \
    '.resources[] | select(.name == "backup") | .holders[0]
     | .owner.uid == $uid and .owner.pid == $h1 and (.owner.command | test("^sh -c "))
       and (.fence | type == "number")' \
    "$T/status.json" > /dev/null
  verdict "--json: the holder's uid, pid, command and fencing token"
  got=$(jq -r '.resources[] | select(.name == "backup") | .waiters[] | "\(.position):\(.owner.pid)"' \
    "$T/status.json" | tr '\n' ' ')
  check "--json: the waiters' positions ($got)" [ "$got" = "1:$W1 2:$W2 3:$W3 4:$W4 5:$W5 " ]
  # A name longer than one line of the answer can carry (names go up to
  # 2048 bytes): the document still parses and holds it whole.
  long=$(head -c 1500 /dev/zero | tr '\0' n)
  "$LATCH" -r "$long" -i 60000 -- true
  "$LATCH" status --json > "$T/long.json"; st=$?
  [ $st = 0 ] && jq -e --arg n "$long" 'any(.resources[]; .name == $n)' "$T/long.json" > /dev/null
  verdict "--json: a 1500-byte resource name comes whole, and the document parses"
else
  ok "# SKIP jq not found: the --json checks"
fi

err=$("$LATCH" -r backup -o 0 -- true 2>&1); st=$?
check "busy (-o 0): exit 98" [ $st = 98 ]
check "...naming the holder in one line ($err)" contains "$err" \
  "^latch: resource 'backup' is busy: held by pid $H1 .* for [0-9]+ s\$"

touch "$T/go.backup" "$T/go.other"
fails=0
for p in $H1 $H2 $W1 $W2 $W3 $W4 $W5; do wait $p || fails=$((fails + 1)); done
check "every holder and waiter ran and exited 0 ($fails did not)" [ $fails = 0 ]
out=$("$LATCH" status); st=$?
[ $st = 0 ] && ! contains "$out" "pid $H1\b"
verdict "...and status no longer shows them"
err=$("$LATCH" -r backup -o 0 -- true 2>&1); st=$?
check "a free resource: no busy message, exit 0 ($err)" [ $st = 0 ] && [ -z "$err" ]
"$LATCH" -X > /dev/null

# ---- no daemon ---------------------------------------------------------------
out=$("$LATCH" -s "$T/none.sock" status 2>&1); st=$?
[ $st = 0 ] && [ "$out" = "latch: no daemon is running at $T/none.sock: nothing is locked" ]
verdict "no daemon: exit 0 and one line ($out)"
check "...and none was started" [ ! -e "$T/none.sock" ] && [ ! -e "$T/none.sock.lock" ]
mkdir -m 700 "$T/run2"
out=$(XDG_RUNTIME_DIR="$T/run2" "$LATCH" status 2>&1); st=$?
[ $st = 0 ] && contains "$out" "^latch: no daemon is running at $T/run2/latch/daemon.sock: nothing is locked\$"
verdict "...the same with no socket directory yet ($out)"
if [ $HAVE_JQ = 1 ]; then
  out=$("$LATCH" -s "$T/none.sock" status --json); st=$?
  [ $st = 0 ] && printf '%s' "$out" | jq -e '.resources == []' > /dev/null
  verdict "...--json: an empty document ($out)"
fi
out=$("$LATCH" -s "$T/none.sock" status --names 2>&1); st=$?
check "...--names: nothing at all" [ $st = 0 ] && [ -z "$out" ]

# ---- the command line --------------------------------------------------------
err=$("$LATCH" -r x --json -- true 2>&1); st=$?
[ $st = 99 ] && [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] && contains "$err" "status"
verdict "--json without status: 99, one line ($err)"
err=$("$LATCH" status --json --names 2>&1); st=$?
check "--json with --names: 99 ($err)" [ $st = 99 ]
err=$("$LATCH" status extra 2>&1); st=$?
check "status with an argument: 99 ($err)" [ $st = 99 ]
mkdir -p "$T/bin"
printf '#!/bin/sh\necho ran-status\n' > "$T/bin/status"; chmod +x "$T/bin/status"
out=$(PATH="$T/bin:$PATH" "$LATCH" -s "$T/cmd.sock" -d 1000 -- status 2>&1); st=$?
check "latch -- status runs a command named status ($out)" [ $st = 0 ] && [ "$out" = "ran-status" ]
"$LATCH" -s "$T/cmd.sock" -X > /dev/null 2>&1
out=$("$LATCH" --help); st=$?
[ $st = 0 ] && contains "$out" "status \[--json" && contains "$out" "--names"
verdict "latch --help shows the subcommand and its options"

# ---- TCP, directly and through the agent -------------------------------------
free_port
TCP="-a 127.0.0.1 -p $PORT"
"$LATCH" --agent=no $TCP -d -1 -r start -- true
NETLOCK="$SOCKDIR/tcp-127.0.0.1-$PORT.lock"
[ -s "$NETLOCK" ] && head -n1 "$NETLOCK" > "$T/tcp.sockpid"
# shellcheck disable=SC2086 # TCP is words
hold tcpres --agent=no $TCP
H3=$HPID
waiter t1 tcpres --agent=no $TCP --wait-notice=200
T1=$WPID
# A network peer is named by its address (no pid travels over TCP).
check "TCP: the notice finds the waiter by its connection's port: held by the address, 0 ahead" \
  wait_for 10 file_has "$T/t1.err" "^latch: waiting for 'tcpres': held by 127\.0\.0\.1 .*, 0 ahead\$"
waiter t2 tcpres $TCP --wait-notice=200
T2=$WPID
check "through the agent: the holder, without a position (the daemon cannot tell which request is ours)" \
  wait_for 10 file_has "$T/t2.err" "^latch: waiting for 'tcpres': held by 127\.0\.0\.1 .* for [0-9][0-9]* s\$"
out=$("$LATCH" $TCP status); st=$?
printf '%s\n' "$out" | sed 's/^/# /'
[ $st = 0 ] && contains "$out" "^tcpres " && contains "$out" "^  held .* 127\.0\.0\.1 " &&
  [ "$(printf '%s\n' "$out" | grep -c '^  queued ')" = 2 ]
verdict "TCP: latch -a ADDR status (the agent's settings, straight to the daemon): the holder and two waiters"
err=$("$LATCH" $TCP --agent=no -r tcpres -o 0 -- true 2>&1); st=$?
[ $st = 98 ] && contains "$err" "^latch: resource 'tcpres' is busy: held by 127\.0\.0\.1 .* for [0-9]+ s\$"
verdict "TCP busy names the holder ($err)"
touch "$T/go.tcpres"
wait $H3; wait $T1; wait $T2
"$LATCH" --agent=no $TCP -X > /dev/null 2>&1

# ---- a FLoM daemon -----------------------------------------------------------
"$FAKE" --port-file "$T/fake.port" --log "$T/fake.log" 2> "$T/fake.err" &
FPID=$!; bg_pids="$bg_pids $FPID"
if wait_for 10 file_exists "$T/fake.port"; then
  FPORT=$(cat "$T/fake.port")
  err=$(timeout -k 2 10 "$LATCH" -a 127.0.0.1 -p "$FPORT" status 2>&1); st=$?
  [ $st = 99 ] && [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] &&
    contains "$err" "does not answer status requests \(a FLoM daemon\?\)"
  verdict "a FLoM daemon: status says it does not answer status, 99, one line ($err)"
else
  not_ok "fake-flom did not start: $(cat "$T/fake.err")"
fi
kill "$FPID" 2>/dev/null

# ---- mutual TLS ----------------------------------------------------------------
if ! command -v certtool > /dev/null 2>&1; then
  ok "# SKIP certtool (gnutls-bin) not found: the TLS checks"
  finish
fi
. "$LATCH_TESTS_SRCDIR/integration/tls-lib.sh"
O1="$(tls_opts peer1_ca1 ca1) --tls-check-peer-id=yes"
at_tcp
# shellcheck disable=SC2086 # words
expect_status 0 "TLS (mutual): a daemon" tls_daemon $O1
# shellcheck disable=SC2086
hold tlsres $W $O1 --agent=no
H4=$HPID
# shellcheck disable=SC2086
waiter s1 tlsres $W $O1 --agent=no --wait-notice=200
S1=$WPID
MID8=$(printf '%.8s' "$MID")
check "TLS: the notice names the holder (its address and machine ID), 0 ahead" \
  wait_for 10 file_has "$T/s1.err" "^latch: waiting for 'tlsres': held by 127\.0\.0\.1 (machine $MID8.*, 0 ahead\$"
# shellcheck disable=SC2086
out=$("$LATCH" $W $O1 status 2>&1); st=$?
printf '%s\n' "$out" | sed 's/^/# /'
[ $st = 0 ] && contains "$out" "^tlsres " && contains "$out" "^  held .* 127\.0\.0\.1 \(machine $MID8"
verdict "TLS: latch status over mutual TLS ($st)"
# shellcheck disable=SC2086
err=$(timeout -k 2 10 "$LATCH" $W status 2>&1); st=$?
check "...a clear status request at the TLS daemon: 99, one line ($err)" \
  [ $st = 99 ] && [ "$(printf '%s\n' "$err" | wc -l)" = 1 ]
touch "$T/go.tlsres"
wait $H4; wait $S1
# shellcheck disable=SC2086
"$LATCH" $W $O1 -X > /dev/null 2>&1

finish
