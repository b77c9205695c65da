#!/bin/sh
# Sessions, the daemon's side (doc/protocol.md, the session extension):
# a connection whose first lock request offers ext="1" carries many lock
# ids, each its own lock-table owner: they exclude each other like two
# connections, requests are pipelined, an unlock releases or cancels one
# id, pings are answered, the negotiated timeout ends a silent session,
# MaxLocksPerConnection refuses one id, EOF releases everything.  A legacy
# (FLoM-style) client of the same daemon still gets today's bytes.
# session-peer speaks the raw protocol: what is checked is the daemon's
# bytes, not a client library's reading of them.
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"

SPEER="${LATCH_TESTS_BUILDDIR:-$(dirname "$LATCH")/tests}/integration/session-peer"

# script NAME < TEXT: session-peer's script NAME is TEXT.  (A file, not
# a pipe or a here-document: a background command's standard input would
# be /dev/null.)
script () { cat > "$T/$1.in"; }

# peer NAME ARGS...: runs session-peer on script NAME, its output in
# $T/NAME.out (shown on failure); its exit status.
peer () {
  local name=$1 st; shift
  "$SPEER" "$@" < "$T/$name.in" > "$T/$name.out" 2>&1; st=$?
  [ $st = 0 ] || sed "s/^/#   $name: /" "$T/$name.out"
  return $st
}

# unix_daemon SOCKET OPTIONS...: a daemon on SOCKET that stays, killed at
# cleanup.
unix_daemon () {
  local s=$1; shift
  "$LATCH" -s "$s" -d -1 "$@" -r init -- true
  head -n1 "$s.lock" > "$s.sockpid"
}

S="$T/s.sock"
unix_daemon "$S"
free_port
"$LATCH" -a 127.0.0.1 -p "$PORT" -d -1 -r init -- true
head -n1 "$SOCKDIR/tcp-127.0.0.1-$PORT.lock" > "$T/tcp.sockpid"

# The scenarios every transport runs.  $1: a word for the TAP lines, $2:
# session-peer's connection option, $3: latch's.
scenarios () {
  local t=$1 wp=$2 w=$3 a b

  # Two ids of one session exclude each other: the second queues (rc 1)
  # and is granted by a 1/24 with its own id when the first is unlocked.
  # The session stays open holding nothing (a ping is still answered).
  script "$t-excl" <<EOF
offer 1 ex 5 1 0
expect 16 1 0 ext=1
lock 2 ex 5 1
expect 16 2 1
unlock 1 ex
expect 24 2 0
unlock 2 ex
ping
expect-pong
EOF
  peer "$t-excl" $wp
  verdict "$t: two ids of one session exclude each other; the second is granted by id"

  # Three requests in one write, one queued behind another of the same
  # session; each answered under its id, in order.
  script "$t-pipe" <<EOF
offer 1 p0 5 1 0
expect 16 1 0 ext=1
lock 2 p 5 1
lock 3 p 5 1
lock 4 q 5 0
expect 16 2 0
expect 16 3 1
expect 16 4 0
unlock 2 p
expect 24 3 0
EOF
  peer "$t-pipe" $wp
  verdict "$t: three pipelined requests are answered each under its id"

  # Cancel: id 2 queues behind id 1, a latch command queues behind id 2;
  # id 2 is unlocked (cancelled), then id 1: the command gets the lock and
  # nothing comes for id 2 (the pong is the next message: a grant to id 2
  # would have been sent before the daemon read the ping).
  rm -f "$T/$t-aq" "$T/$t-bq"
  script "$t-cancel" <<EOF
offer 1 c 5 1 0
expect 16 1 0 ext=1
lock 2 c 5 1
expect 16 2 1
touch $T/$t-aq
wait-file $T/$t-bq
unlock 2 c
unlock 1 c
ping
expect-pong
EOF
  bg peer "$t-cancel" $wp
  a=$last_pid
  wait_for 10 file_exists "$T/$t-aq"
  # shellcheck disable=SC2086 # w is words
  bg "$LATCH" $w -V -o 10000 -r c -- true > /dev/null 2> "$T/$t-b.err"; b=$last_pid
  wait_for 10 file_has "$T/$t-b.err" "waiting for 'c'" && touch "$T/$t-bq"
  wait $a && wait $b
  verdict "$t: a cancelled id gets nothing; the next waiter (a latch command) gets the lock"

  # Unlock of an id that is not live: ignored.  Unlock under a live id
  # with another name: a protocol error, the session closed, its lock
  # released.
  script "$t-badunl" <<EOF
offer 1 u 5 1 0
expect 16 1 0 ext=1
unlock 99 u
ping
expect-pong
unlock 1 other
expect-eof
EOF
  peer "$t-badunl" $wp
  verdict "$t: an unlock of an unknown id is ignored; a name mismatch closes the session"
  # shellcheck disable=SC2086
  expect_status 0 "$t: ...and its lock is released" "$LATCH" $w -r u -o 0 -- true

  # The negotiated timeout: silent for longer than it, the session ends
  # and its lock goes to a latch command queued behind it; a pinging one
  # stays.
  rm -f "$T/$t-held"
  script "$t-silent" <<EOF
offer 1 t 5 1 1000
expect 16 1 0 ext=1
touch $T/$t-held
expect-eof
EOF
  bg peer "$t-silent" $wp
  a=$last_pid
  wait_for 10 file_exists "$T/$t-held"
  # shellcheck disable=SC2086
  bg "$LATCH" $w -V -o 10000 -r t -- true > /dev/null 2> "$T/$t-t.err"; b=$last_pid
  wait $a && wait $b && file_has "$T/$t-t.err" "waiting for 't'"
  verdict "$t: a session silent past its timeout (1000 ms) is closed; its waiter gets the lock"
  ms=$(sed -n 's/^eof after \([0-9]*\) ms$/\1/p' "$T/$t-silent.out")
  diag "$t: closed after ${ms:-?} ms of silence"
  # The daemon's clock counts whole milliseconds: it may end the session
  # up to 1 ms before 1000 ms after the offer arrived.
  [ -n "$ms" ] && [ "$ms" -ge 999 ] && [ "$ms" -lt 2500 ]
  verdict "$t: ...1000 ms after the last message sent at the earliest, 2.5 s at the latest (the deadline sweep runs every 250 ms)"
  script "$t-pinging" <<EOF
offer 1 t2 5 1 500
expect 16 1 0 ext=1
ping-for 1500 100
lock 2 t3 5 0
expect 16 2 0
EOF
  peer "$t-pinging" $wp
  verdict "$t: a session that pings every 100 ms outlives three times its timeout"
}

scenarios unix "--unix $S" "-s $S"
scenarios tcp "--tcp 127.0.0.1:$PORT" "-a 127.0.0.1 -p $PORT"

# --- A legacy (FLoM-style) client of the same daemon: today's bytes, no
# ext, no id even when its request carries one; a ping is a protocol error
# there.
script legacy <<EOF
legacy lg 5 0
expect 16 0 0
ping
expect-eof
EOF
peer legacy --unix "$S"
verdict "legacy: a request without ext is answered as FLoM's, and a ping closes it"
grep -qE '^recv: <\?xml version="1.0" encoding="UTF-8" \?><msg level="3" verb="1" step="16"><session peerid="[0-9a-f]*"/><answer rc="0" fence="[0-9]+"/></msg>$' "$T/legacy.out" ||
  { grep '^recv' "$T/legacy.out" | sed 's/^/#   /'; false; }
verdict "legacy: ...byte for byte: <session peerid=\"ID\"/><answer rc=\"0\" fence=\"N\"/>"
decl='<?xml version="1.0" encoding="UTF-8" ?>'
script legacy-id <<EOF
raw $decl<msg level="3" verb="1" step="8"><session peerid=""/><resource name="$(printf lg2 | base64)" mode="5" wait="0" create="1" lifespan="0" id="7"/></msg>
expect 16 0 0
unlock 0 lg2
expect-eof
EOF
peer legacy-id --unix "$S"
verdict "legacy: an id without ext is ignored: no id in the answer; the unlock closes as today"

# --- MaxLocksPerConnection counts a session's live ids, held or queued:
# past it, rc 1001 for that id only (with a reason); the session goes on.
S2="$T/s2.sock"
unix_daemon "$S2" --max-locks=2
script limit <<EOF
offer 1 m1 5 1 0
expect 16 1 0 ext=1
lock 2 m1 5 1
expect 16 2 1
lock 3 m3 5 0
expect 16 3 1001
unlock 2 m1
lock 4 m4 5 0
expect 16 4 0
ping
expect-pong
EOF
peer limit --unix "$S2"
verdict "limit: the third live id is refused rc 1001; after a cancel a new id is granted"
grep -q 'id="3" reason="MaxLocksPerConnection reached"' "$T/limit.out"
verdict "limit: ...the refusal says which limit"

# --- EOF of a session holding 3 locks releases all three: another
# session queued on the three gets three grants.
rm -f "$T/eof-held" "$T/eof-queued"
script eof-a <<EOF
offer 1 x 5 1 0
lock 2 y 5 1
lock 3 z 5 1
expect 16 1 0 ext=1
expect 16 2 0
expect 16 3 0
touch $T/eof-held
wait-file $T/eof-queued
close
EOF
bg peer eof-a --unix "$S"
a=$last_pid
script eof-b <<EOF
wait-file $T/eof-held
offer 1 x 5 1 0
expect 16 1 1 ext=1
lock 2 y 5 1
lock 3 z 5 1
expect 16 2 1
expect 16 3 1
touch $T/eof-queued
expect 24 * 0
expect 24 * 0
expect 24 * 0
EOF
bg peer eof-b --unix "$S"
b=$last_pid
wait $a && wait $b && [ "$(grep -c 'step="24"><answer rc="0" fence="[0-9]*" id="[123]"' "$T/eof-b.out")" = 3 ] &&
  grep -q 'id="1"/>' "$T/eof-b.out" && grep -q 'id="2"/>' "$T/eof-b.out" && grep -q 'id="3"/>' "$T/eof-b.out"
verdict "eof: a session holding 3 locks closes: another session is granted all three"

# --- Quiescing: a new id is refused rc 1000; the session is closed once
# it holds nothing, while the daemon still serves another holder (so the
# close is the session's, not the daemon's exit); then the daemon exits.
S3="$T/s3.sock"
unix_daemon "$S3"
rm -f "$T/q-held" "$T/q-h-held" "$T/q-asked" "$T/q-done"
script quiesce-h <<EOF
offer 1 q3 5 1 0
expect 16 1 0 ext=1
touch $T/q-h-held
wait-file $T/q-done
close
EOF
bg peer quiesce-h --unix "$S3"; h=$last_pid
script quiesce <<EOF
offer 1 q 5 1 0
expect 16 1 0 ext=1
touch $T/q-held
wait-file $T/q-asked
lock 2 q2 5 0
expect 16 2 1000
unlock 1 q
expect-eof
touch $T/q-done
EOF
bg peer quiesce --unix "$S3"; a=$last_pid
wait_for 10 file_exists "$T/q-held" && wait_for 10 file_exists "$T/q-h-held" &&
  "$LATCH" -s "$S3" -x > /dev/null 2>&1 && touch "$T/q-asked"
qpid=$(cat "$S3.sockpid")
wait $a && wait $h && wait_for 10 pid_gone "$qpid"
verdict "quiesce: a new id is refused rc 1000, the session closed once it holds nothing; the daemon exits after the last holder"

# --- TLS: the same session over a mutual-level daemon.
if command -v certtool > /dev/null 2>&1; then
  . "$LATCH_TESTS_SRCDIR/integration/tls-lib.sh"
  at_sock tls
  tls_daemon $(tls_opts peer1_ca1 ca1)
  verdict "tls: a TLS daemon on a UNIX socket"
  script tls <<EOF
offer 1 tl 5 1 2000
expect 16 1 0 ext=1
lock 2 tl 5 1
expect 16 2 1
ping
expect-pong
unlock 1 tl
expect 24 2 0
EOF
  # shellcheck disable=SC2086 # WPEER is words
  peer tls $WPEER --ca "$PKI/ca1.pem" --cert "$PKI/peer2_ca1.pem" --key "$PKI/peer2_ca1.key" \
    --peerid "$MID"
  verdict "tls: two ids exclude each other, pings answered, over TLS"

  # A certificate revoked while its session is established: the daemon
  # notices the new CRL file at the session's next lock request, closes
  # that session before serving it (the request is never answered, what
  # the session held is released), and keeps the others.
  at_sock crl
  cp "$PKI/ca1-empty.crl" "$T/live.crl"
  tls_daemon $(tls_opts peer1_ca1 ca1) --tls-crl="$T/live.crl"
  verdict "crl: a TLS daemon with an empty CRL file"
  script crl-revoked <<EOF
offer 1 rv 5 1 0
expect 16 1 0 ext=1
touch $T/crl-up1
wait-file $T/crl-replaced
lock 2 other 5 1
expect-eof
EOF
  script crl-kept <<EOF
offer 1 kept 5 1 0
expect 16 1 0 ext=1
touch $T/crl-up2
wait-file $T/crl-closed
lock 2 rv 5 1
expect 16 2 0
EOF
  # shellcheck disable=SC2086 # WPEER is words
  bg peer crl-revoked $WPEER --ca "$PKI/ca1.pem" --cert "$PKI/revoked_ca1.pem" \
    --key "$PKI/revoked_ca1.key" --peerid "$MID" --timeout 8000
  a=$last_pid
  # shellcheck disable=SC2086 # WPEER is words
  bg peer crl-kept $WPEER --ca "$PKI/ca1.pem" --cert "$PKI/peer2_ca1.pem" \
    --key "$PKI/peer2_ca1.key" --peerid "$MID" --timeout 8000
  b=$last_pid
  wait_for 10 file_exists "$T/crl-up1" && wait_for 10 file_exists "$T/crl-up2" &&
    cp "$PKI/ca1.crl" "$T/live.crl.new" && mv "$T/live.crl.new" "$T/live.crl" &&
    touch "$T/crl-replaced" && wait $a
  st=$?
  touch "$T/crl-closed"
  [ $st = 0 ]
  verdict "crl: the revoked session is closed at its next request, which is not answered"
  wait $b
  verdict "crl: ...another session goes on, and gets what the closed one held"
  file_has "$DTRACE" "was revoked (CRL $T/live.crl): closing"
  verdict "crl: ...and the daemon's log says why"
  # shellcheck disable=SC2046 # tls_opts gives words
  "$LATCH" $W $(tls_opts peer1_ca1 ca1) --tls-crl="$T/live.crl" -X > /dev/null 2>&1
fi

for s in "$S" "$S2"; do "$LATCH" -s "$s" -X > /dev/null 2>&1; done
"$LATCH" -a 127.0.0.1 -p "$PORT" -X > /dev/null 2>&1
finish
