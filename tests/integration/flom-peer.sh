#!/bin/sh
# latch against a FLoM 1.7 daemon, and a daemon's ways of saying no.
#
# No FLoM binary is available to the tests: tests/integration/fake-flom
# stands in for its daemon, doing what the spec notes (shared/spec
# protocol.md, tls.md) say it does where latch must cope: it closes,
# without an answer, a request it will not serve (over its 511 bytes;
# clear text at a TLS daemon; with TlsCheckPeerId=yes, an announced ID
# that is not the client certificate's CN), and never answers a shutdown
# request.  Then latch's own daemon: a quiesce turns newcomers away with
# an answer (rc 1000) instead of a silent close; a TLS refusal that comes
# with a warning about our own certificate is still one line.
#
# Every refusal: exit 99, exactly one line on stderr, within a bound.
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"

FAKE="${LATCH_TESTS_BUILDDIR:-$(dirname "$LATCH")/tests}/integration/fake-flom"
PEER="${LATCH_TESTS_BUILDDIR:-$(dirname "$LATCH")/tests}/integration/tls-peer"

n_fakes=0
FPID=""; FPORT=""; FLOG=""
# fake_start ARGS...: a fake FLoM daemon on 127.0.0.1 port FPORT, with
# its events in FLOG.
fake_start () {
  n_fakes=$((n_fakes + 1))
  FLOG="$T/fake$n_fakes.log"
  "$FAKE" --port-file "$T/fake$n_fakes.port" --log "$FLOG" "$@" 2> "$T/fake$n_fakes.err" &
  FPID=$!; bg_pids="$bg_pids $FPID"
  if ! wait_for 10 file_exists "$T/fake$n_fakes.port"; then
    echo "Bail out! fake-flom $* did not start: $(cat "$T/fake$n_fakes.err")"
    exit 1
  fi
  FPORT=$(cat "$T/fake$n_fakes.port")
}
fake_stop () { kill "$FPID" 2>/dev/null; wait "$FPID" 2>/dev/null; FPID=""; }
# How many connections the fake closed without an answer.
fake_closes () { grep -c 'closed without an answer' "$FLOG"; }

# timed ARGS...: latch ARGS, killed after 10 s; sets st, err (its stderr)
# and ms (how long it took).
timed () {
  local t0
  t0=$(now_ns)
  err=$(timeout -k 2 10 "$LATCH" "$@" 2>&1 >/dev/null); st=$?
  ms=$(( ($(now_ns) - t0) / 1000000 ))
}
err_is_one_line () { [ -n "$err" ] && [ "$(printf '%s\n' "$err" | wc -l)" = 1 ]; }
what () { echo "exit $st after $ms ms: $(printf '%s' "$err" | tr '\n' '|')"; }

# refusal DESC BOUND_MS ERE ARGS...: latch ARGS exits 99 within BOUND_MS
# with exactly one line on stderr, matching ERE.
refusal () {
  local desc=$1 bound=$2 pat=$3
  shift 3
  timed "$@"
  if [ $st = 99 ] && [ $ms -lt "$bound" ] && err_is_one_line && contains "$err" "$pat"; then
    ok "$desc"
  else
    not_ok "$desc ($(what); want 99 within $bound ms, one line matching '$pat')"
  fi
}

# ---- a close without any answer is a refusal (issue 11, item 4) -----------
# A lock request over FLoM's 511-byte limit: a 300-byte name.
fake_start
long=$(printf '%0300d' 0)
refusal "a FLoM daemon closing on a request over 511 bytes: 99 within 2 s, one line naming the limit" \
  2000 'closed the connection without answering.*511-byte limit' \
  -a 127.0.0.1 -p "$FPORT" -d 0 -r "n$long" -- true
n=$(fake_closes)
check "...after exactly one reconnect ($n connections closed)" [ "$n" = 2 ]
# A short name at the same daemon: granted; a clear request announces no
# ID (the bytes FLoM's daemon sees at the clear level do not change).
"$LATCH" -a 127.0.0.1 -p "$FPORT" -d 0 -r short -- true
clear_st=$?
grep -q "request verb 1 step 8 .* peerid ''$" "$FLOG" && grep -q "granted 'short'" "$FLOG"
clear_peerid=$?

# ---- -x at a FLoM daemon, which never answers it (item 6) ------------------
timed -a 127.0.0.1 -p "$FPORT" -x
x_st=$st; x_ms=$ms; x_what=$(what)
wait_for 5 file_has "$FLOG" 'the client closed after'
timed -a 127.0.0.1 -p "$FPORT" -X
desc="-x at a FLoM daemon, silent as FLoM's is: exit 0 within 1.5 s (-x: $x_what; -X: $(what))"
[ $x_st = 0 ] && [ $x_ms -lt 1500 ] && file_has "$FLOG" 'shutdown immediate=0; no answer' &&
  file_has "$FLOG" 'the client closed after' && [ $st = 0 ] && wait_for 5 pid_gone "$FPID"
verdict "$desc"
fake_stop

# ---- a quiescing latch daemon says so --------------------------------------
free_port
NETLOCK="$SOCKDIR/tcp-127.0.0.1-$PORT.lock"
"$LATCH" -a 127.0.0.1 -p $PORT -d -1 -r q -- true
old=$([ -s "$NETLOCK" ] && head -n1 "$NETLOCK")
[ -n "$old" ] && echo "$old" > "$T/quiesce.sockpid"
bg "$LATCH" -a 127.0.0.1 -p $PORT -r q -- sh -c 'touch "$1"; i=0; while [ ! -e "$2" ] && [ $i -lt 2000 ]; do sleep 0.01; i=$((i+1)); done; echo holder >> "$3"' sh "$T/q.in" "$T/q.go" "$T/qorder"
holder=$last_pid
wait_for 10 file_exists "$T/q.in"
"$LATCH" -a 127.0.0.1 -p $PORT -x > /dev/null
req='<?xml version="1.0" encoding="UTF-8" ?><msg level="3" verb="1" step="8"><session peerid=""/><resource name="cQ==" mode="5" wait="1" create="1" lifespan="0"/></msg>'
out=$("$PEER" --clear --tcp 127.0.0.1:$PORT --send "$req" --timeout 5000)
bg "$LATCH" -a 127.0.0.1 -p $PORT -d 2000 -r q -- sh -c 'echo newcomer >> "$1"' sh "$T/qorder"
newcomer=$last_pid
touch "$T/q.go"
wait $holder; hs=$?; wait $newcomer; ns=$?
desc="a quiescing TCP daemon answers a new request rc=1000 and closes; a latch newcomer runs after the holder, on the next daemon (holder $hs, newcomer $ns)"
contains "$out" 'step="16"><session peerid="[^"]*"/><answer rc="1000"/>' && contains "$out" '^end: eof$' &&
  [ $hs = 0 ] && [ $ns = 0 ] && [ "$(tr '\n' ' ' < "$T/qorder")" = "holder newcomer " ]
verdict "$desc"
"$LATCH" -a 127.0.0.1 -p $PORT -X > /dev/null 2>&1

# ---- TLS: the peer-id check (item 5), and refusals ------------------------
if ! command -v certtool > /dev/null 2>&1; then
  ok "# SKIP certtool (gnutls-bin) not found: the TLS checks"
  finish
fi
. "$LATCH_TESTS_SRCDIR/integration/tls-lib.sh"
diag "machine ID $MID"
FCERTS="--cert $PKI/peer1_ca1.pem --key $PKI/peer1_ca1.key --ca $PKI/ca1.pem"

# shellcheck disable=SC2086 # FCERTS is words
fake_start --tls $FCERTS --check-peer-id
refusal "a clear command at a FLoM daemon that requires TLS: 99 within 2 s, one line saying so" \
  2000 'closed the connection without answering.*requires TLS' \
  -a 127.0.0.1 -p "$FPORT" -d 0 -r clear -- true
n=$(fake_closes)
check "...after exactly one reconnect ($n connections closed)" [ "$n" = 2 ]

# The channel level (certificates, no check of our own) at a FLoM daemon
# with TlsCheckPeerId=yes: FLoM's client announces its machine ID; so
# must latch, or that daemon closes the connection.
# shellcheck disable=SC2086 # tls_opts gives words
timed $(tls_opts peer2_ca1 ca1) -a 127.0.0.1 -p "$FPORT" -d 0 -r r5 -- true
desc="the channel level announces the machine ID to a FLoM daemon that checks it, and locks (clear text still announces none) ($(what); clear: exit $clear_st)"
[ $st = 0 ] && grep -q "peerid '$MID'$" "$FLOG" && file_has "$FLOG" "granted 'r5'" &&
  [ $clear_st = 0 ] && [ $clear_peerid = 0 ]
verdict "$desc"
# shellcheck disable=SC2086
timed $(tls_opts peer2_ca1 ca1) -a 127.0.0.1 -p "$FPORT" -x
desc="...and so does -x: exit 0 within 1.5 s ($(what))"
[ $st = 0 ] && [ $ms -lt 1500 ] && grep -q "request verb 5 step 8 .* peerid '$MID'$" "$FLOG" &&
  wait_for 5 file_has "$FLOG" 'shutdown immediate=0; no answer'
verdict "$desc"
# A certificate that does not name this node's machine ID: that daemon
# refuses it without a word, twice; latch says what it announced.
# shellcheck disable=SC2086
refusal "a channel-level certificate whose CN is not the machine ID: 99 within 2 s, one line naming the check and the ID" \
  2000 "closed the connection without answering.*TlsCheckPeerId=yes.*$MID" \
  $(tls_opts peer3_ca1 ca1) -a 127.0.0.1 -p "$FPORT" -d 0 -r r5 -- true
fake_stop

# ---- a refusal with a warning about our own certificate: one line ---------
at_tcp
# shellcheck disable=SC2086
tls_daemon $(tls_opts peer1_ca1 ca1) || echo "Bail out! no TLS daemon"
# shellcheck disable=SC2086
refusal "our certificate from another CA (not in our own CA file either): one line, the warning folded in" \
  20000 'refused our certificate.*warning: .*not signed by a CA in' \
  $W $(tls_opts peer1_ca2 ca1) -r ca -- true
# shellcheck disable=SC2086
refusal "trusting another CA than the one of our certificate and the daemon's: one line" \
  20000 'daemon.*not signed by.*warning: .*not signed by a CA in' \
  $W $(tls_opts peer1_ca1 ca2) -r ca -- true
# shellcheck disable=SC2086
"$LATCH" $W $(tls_opts peer1_ca1 ca1) -X > /dev/null 2>&1

finish
