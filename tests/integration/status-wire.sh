#!/bin/sh
# Status, the daemon's side (doc/protocol.md "Status", doc/status.md),
# on the wire: session-peer speaks the raw protocol (a status request on
# a connection of its own, `ask`), so what is checked is the daemon's
# bytes.  Over a UNIX socket, TCP and mutual TLS: the holder and the
# waiters in queue order, who they are (a local holder's uid, pid and
# command line; a network peer's address, and its machine ID at the
# mutual level), the JSON document (parsed by jq) with the fields of the
# schema, a waiter's "2 ahead", the holder answer, and the refusals.
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"

command -v jq > /dev/null 2>&1 || { echo "1..0 # SKIP jq not found"; exit 0; }

SPEER="${LATCH_TESTS_BUILDDIR:-$(dirname "$LATCH")/tests}/integration/session-peer"

# script NAME < TEXT: session-peer's script NAME is TEXT.
script () { cat > "$T/$1.in"; }

# peer NAME ARGS...: session-peer on script NAME, output in $T/NAME.out
# (shown on failure); its exit status.
peer () {
  local name=$1 st; shift
  "$SPEER" "$@" < "$T/$name.in" > "$T/$name.out" 2>&1; st=$?
  [ $st = 0 ] || sed "s/^/#   $name: /" "$T/$name.out"
  return $st
}

# bgpeer NAME ARGS...: session-peer on script NAME in the background;
# last_pid is its pid (the one the daemon sees), killed at cleanup.
bgpeer () {
  local name=$1; shift
  # Holders and waiters wait for the test's end: a bound far beyond the
  # whole scenario's time, even with the daemon under valgrind.
  "$SPEER" --timeout 60000 "$@" < "$T/$name.in" > "$T/$name.out" 2>&1 &
  last_pid=$!; bg_pids="$bg_pids $last_pid"
}

# ask NAME WPEER... -- QUERY: a one-off status query; its lines in
# $T/NAME.lines, the final "end: RC REASON" line in $T/NAME.end.
ask () {
  local name=$1 q; shift
  q=$(shift_to_query "$@")
  printf 'ask %s\n' "$q" | script "$name"
  "$SPEER" $(opts_before "$@") < "$T/$name.in" > "$T/$name.out" 2>&1
  sed -n 's/^line: //p' "$T/$name.out" > "$T/$name.lines"
  # A JSON answer's lines are pieces of one document (doc/status.md).
  tr -d '\n' < "$T/$name.lines" > "$T/$name.joined"
  grep '^end: ' "$T/$name.out" > "$T/$name.end"
}
shift_to_query () { while [ $# -gt 0 ] && [ "$1" != "--" ]; do shift; done; shift; echo "$*"; }
opts_before () { while [ $# -gt 0 ] && [ "$1" != "--" ]; do printf '%s ' "$1"; shift; done; }

holder_known () { # PEEROPTS... : the holder answer names someone
  ask hq "$@" -- holder backup
  grep -q '^end: 0' "$T/hq.end"
}

# scenario T KIND PEEROPTS...: KIND is local (UNIX socket: the holder is
# a real `latch -- sleep`) or net (TCP: the holder is a session-peer).
scenario () {
  local t=$1 kind=$2 hpid w1 w2 w3 i json
  shift 2
  rm -f "$T/stop"
  if [ "$kind" = local ]; then
    bg "$LATCH" $LW -r backup -- sleep 60
    hpid=$last_pid
  else
    script "$t-h" <<EOF
legacy backup 5 1
expect 16 0 0
wait-file $T/stop
close
EOF
    bgpeer "$t-h" "$@"
    hpid=$last_pid
  fi
  wait_for 10 holder_known "$@"; verdict "$t: the holder is known"

  # Three waiters, queued one after the other; the third asks what it
  # waits for from its own process.
  for i in 1 2 3; do
    script "$t-w$i" <<EOF
legacy backup 5 1
expect 16 0 1
touch $T/$t-w$i.queued
$( [ $i = 3 ] && echo "ask wait backup" )
$( [ $i = 3 ] && echo "ask holder backup" )
wait-file $T/stop
close
EOF
    bgpeer "$t-w$i" "$@"
    eval "w$i=\$last_pid"
    wait_for 10 file_exists "$T/$t-w$i.queued"
  done
  wait_for 10 file_has "$T/$t-w3.out" '^line: held by .*, 2 ahead$'
  vst=$?; verdict_status "$vst" "$t: the third waiter waits with 2 ahead ($(grep '^line:' "$T/$t-w3.out" | head -n1))"
  if [ "$kind" = local ]; then
    grep -q "^line: held by pid $hpid ([^:]*: sleep 60) for [0-9]* s, 2 ahead$" "$T/$t-w3.out"
    verdict "$t: ... held by the holder's pid, with its command (after latch's --)"
  else
    grep -q "^line: held by 127\.0\.0\.1${MACHINE_RE:-} for [0-9]* s, 2 ahead$" "$T/$t-w3.out"
    verdict "$t: ... held by the holder's address${MACHINE_RE:+ and machine ID}"
  fi
  wait_for 10 file_has "$T/$t-w3.out" '^line: held by .* for [0-9]* s$'
  verdict "$t: the holder answer names the holder, without 'ahead'"

  # The table: the holder, then the waiters in queue order.
  ask "$t-text" "$@" -- text
  grep -q '^end: 0' "$T/$t-text.end" &&
    awk '/^backup /{f=1; next} f && /^$/{exit} f' "$T/$t-text.lines" > "$T/$t-text.backup" &&
    [ "$(wc -l < "$T/$t-text.backup")" = 4 ] &&
    sed -n 1p "$T/$t-text.backup" | grep -q '^  held  *1  EX  .*fence [0-9]' &&
    sed -n 2p "$T/$t-text.backup" | grep -q '^  queued  *1  EX' &&
    sed -n 4p "$T/$t-text.backup" | grep -q '^  queued  *3  EX'
  verdict "$t: text: one holder line, then three waiter lines in order"
  if [ "$kind" = local ]; then
    sed -n 1p "$T/$t-text.backup" | grep -q "pid $hpid (.*: sleep 60) uid $(id -u)" &&
      sed -n 2p "$T/$t-text.backup" | grep -q "pid $w1 " &&
      sed -n 3p "$T/$t-text.backup" | grep -q "pid $w2 " &&
      sed -n 4p "$T/$t-text.backup" | grep -q "pid $w3 "
    verdict "$t: text: the waiters' pids in the order they queued"
  fi

  # JSON: parses, version 1, the fields of doc/status.md.
  ask "$t-json" "$@" -- json
  json="$T/$t-json.joined"
  grep -q '^end: 0' "$T/$t-json.end" && jq -e '.version == 1' "$json" > /dev/null
  verdict "$t: json: parses, version 1"
  jq -e '.resources[] | select(.name == "backup")
         | .type == "simple" and .exists == true and (.holders | length) == 1
           and ([.waiters[].position] == [1,2,3])
           and ([.waiters[].state] | unique) == ["queued"]
           and .holders[0].state == "holding" and .holders[0].mode == "EX"
           and (.holders[0].fence | type) == "number"
           and (.holders[0].since_us | type) == "number"
           and (.holders[0].for_s | type) == "number"
           and .holders[0].owner.ours == true' "$json" > /dev/null
  verdict "$t: json: backup has one holder and three waiters, positions 1..3"
  if [ "$kind" = local ]; then
    jq -e --argjson h "$hpid" --argjson u "$(id -u)" --argjson a "$w1" --argjson c "$w3" \
      '.resources[] | select(.name == "backup")
       | .holders[0].owner.local == true and .holders[0].owner.pid == $h
         and .holders[0].owner.uid == $u and .holders[0].owner.command == "sleep 60"
         and (.holders[0].owner.user | type) == "string"
         and .waiters[0].owner.pid == $a and .waiters[2].owner.pid == $c' "$json" > /dev/null
    verdict "$t: json: the holder's uid, pid and command; the waiters' pids in order"
  else
    jq -e --arg m "${MID_WANT:-}" '.resources[] | select(.name == "backup")
       | .holders[0].owner.local == false
         and (.holders[0].owner.address | startswith("127.0.0.1:"))
         and (if $m == "" then .holders[0].owner.machine_id == null
              else .holders[0].owner.machine_id == $m end)' "$json" > /dev/null
    verdict "$t: json: the holder's address${MID_WANT:+ and machine ID}"
  fi

  # Names; one resource; refusals; nothing to say.
  ask "$t-names" "$@" -- names
  grep -qx backup "$T/$t-names.lines" && grep -q '^end: 0' "$T/$t-names.end"
  verdict "$t: names lists backup"
  ask "$t-one" "$@" -- json backup
  jq -e '[.resources[].name] == ["backup"]' "$T/$t-one.joined" > /dev/null
  verdict "$t: json for one resource"
  ask "$t-bad" "$@" -- bogus
  grep -q "^end: 2 unknown status request 'bogus'" "$T/$t-bad.end"
  verdict "$t: an unknown 'what' is refused with rc 2 and a reason"
  ask "$t-noname" "$@" -- wait
  grep -q "^end: 2 .*needs a resource" "$T/$t-noname.end"
  verdict "$t: wait without a resource is refused"
  ask "$t-nowait" "$@" -- wait backup
  grep -q '^end: 1' "$T/$t-nowait.end" && [ ! -s "$T/$t-nowait.lines" ]
  verdict "$t: wait from a process that does not wait: rc 1, no line"
  ask "$t-badname" "$@" -- holder bad-name
  grep -q "^end: 2 invalid resource name 'bad-name'" "$T/$t-badname.end"
  verdict "$t: a bad resource name is refused with rc 2 and the reason"
  ask "$t-nohold" "$@" -- holder nobodyhasit
  grep -q '^end: 1' "$T/$t-nohold.end"
  verdict "$t: holder of a resource nobody holds: rc 1"
  ask "$t-metrics" "$@" -- metrics
  grep -q '^end: 0' "$T/$t-metrics.end"
  verdict "$t: metrics answered"

  touch "$T/stop"
  [ "$kind" = local ] && kill "$hpid" 2>/dev/null
  if wait "$w1" && wait "$w2" && wait "$w3"; then
    ok "$t: the waiters' scripts ran through"
  else
    not_ok "$t: the waiters' scripts ran through"
    for i in 1 2 3; do sed "s/^/#   $t-w$i: /" "$T/$t-w$i.out" | tail -n 3; done
  fi
}

# --- UNIX socket
S="$T/s.sock"
"$LATCH" -s "$S" -d -1 -r init -- true
head -n1 "$S.lock" > "$T/unix.sockpid"
LW="-s $S"
scenario unix local --unix "$S"

# A status request on a lock connection is refused (rc 2); the lock
# connection stays as it is: it still unlocks, and the daemon closes it
# once it holds nothing.
script onlock <<EOF
legacy mine 5 0
expect 16 0 0
raw <?xml version="1.0" encoding="UTF-8" ?><msg level="3" verb="6" step="8"><status what="text"/></msg>
recv
unlock 0 mine
expect-eof
EOF
peer onlock --unix "$S" &&
  grep -q 'recv: .*verb="6" step="32"><answer rc="2" reason="a status request on a connection that holds' "$T/onlock.out"
verdict "unix: a status request on a lock connection is answered rc 2"

# --- TCP, clear
free_port
"$LATCH" -a 127.0.0.1 -p "$PORT" -d -1 -r init -- true
ss -Hltnp "sport = :$PORT" 2>/dev/null | sed -n 's/.*pid=\([0-9][0-9]*\).*/\1/p' | head -n1 \
  > "$T/tcp.sockpid"
scenario tcp net --tcp "127.0.0.1:$PORT"

# --- TCP, mutual TLS: the holder's machine ID is the one its
# certificate proved.
if command -v certtool > /dev/null 2>&1; then
  . "$LATCH_TESTS_SRCDIR/integration/tls-lib.sh"
  at_tcp
  tls_daemon $(tls_opts peer1_ca1 ca1) --tls-check-peer-id=yes
  verdict "tls: a mutual-level TLS daemon"
  MID_WANT=$MID
  MACHINE_RE=" (machine $(printf '%.8s' "$MID")…)"
  # shellcheck disable=SC2086 # WPEER is words
  scenario tls net $WPEER --ca "$PKI/ca1.pem" --cert "$PKI/peer2_ca1.pem" \
    --key "$PKI/peer2_ca1.key" --peerid "$MID"
  # Without the announced ID, the mutual level refuses the query.
  ask tls-anon $WPEER --ca "$PKI/ca1.pem" --cert "$PKI/peer2_ca1.pem" \
    --key "$PKI/peer2_ca1.key" -- text
  grep -q '^end: 2 refused' "$T/tls-anon.end"
  verdict "tls: a status request without a machine ID is refused at the mutual level"
fi

finish
