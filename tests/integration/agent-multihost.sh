#!/bin/sh
# Several hosts, one upstream daemon, an agent on each host: one latchd on
# h1 listening on TCP; the commands of h1, h2 and h3 name it with -a and
# so go through their host's agent (latchd --agent), which holds one
# session to it.  At each security level (clear, channel, mutual, with
# per-node certificates whose CN is the node's machine ID):
#   - commands from h1 (local, through h1's agent), h2 and h3 on one EX
#     resource never overlap; waiters on h2 and h3 are served in the order
#     they queued; each host's agent holds one connection upstream;
#   - a holder killed (-9) on h2: its lock is released upstream at once;
#   - h2's agent killed (-9): its lock is released upstream within the
#     session timeout (+ margin), and h2's command stops (99);
#   - agents mixed with direct (--agent=no) commands on one resource;
#   - a FLoM-protocol upstream (tests/integration/fake-flom, on h1's
#     loopback: it listens nowhere else): the agent falls back to one
#     connection per lock;
#   - the upstream killed (-9): the commands of h2 and h3 stop with 99 and
#     one line within 3 s;
#   - h2's link cut (both ways): h2's lock is released upstream within 3 s
#     and h2's command stops within 3 s.
# The session timeout is the default (2000 ms).  Each host is a network
# namespace with its own machine ID (netns-lib.sh); the file system, and
# so $T and the PKI, is shared.
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"
. "$LATCH_TESTS_SRCDIR/integration/netns-lib.sh"

ns_setup 3

ID1=$(ns_machine_id 1); ID2=$(ns_machine_id 2); ID3=$(ns_machine_id 3)
if command -v certtool >/dev/null 2>&1; then
  TLS_MACHINE_ID=$ID1
  TLS_EXTRA_CERTS="host1=$ID1 host2=$ID2 host3=$ID3"
  . "$LATCH_TESTS_SRCDIR/integration/tls-lib.sh"
  LEVELS="clear channel mutual"
else
  diag "certtool (gnutls-bin) not found: the clear level only"
  LEVELS=clear
fi
FAKE="${LATCH_TESTS_BUILDDIR:-$(dirname "$LATCH")/tests}/integration/fake-flom"

A1=$(ns_addr4 1); A2=$(ns_addr4 2); A3=$(ns_addr4 3)
diag "machine IDs: h1 $ID1 h2 $ID2 h3 $ID3"

# The bounds (ms).  The session timeout is 2000 by default: a silent peer
# is declared gone after it, so 3 s leaves a second of margin.
QUICK=1000        # "at once": well before the session timeout
BOUND=3000

# lopts LEVEL HOST: the security options of HOST's commands and daemons.
lopts () {
  case $1 in
    clear) ;;
    channel) tls_opts "host$2" ca1 ;;
    mutual) echo "$(tls_opts "host$2" ca1) --tls-check-peer-id=yes" ;;
  esac
}

# on HOST ARGS...: latch on HOST with the upstream of this level (L, P).
on () {
  local h=$1; shift
  # shellcheck disable=SC2046 # lopts gives words
  in_host "$h" "$LATCH" -a "$A1" -p "$P" $(lopts "$L" "$h") "$@"
}

# A shell command that marks its [start, end] window in the file $1.
window='echo "$(date +%s%N) S" >> "$1"; sleep 0.2; echo "$(date +%s%N) E" >> "$1"'
# Sorted by time, the marks of N windows alternate S E S E ... (2N lines).
windows_apart () { # FILE N
  sort -n "$1" | awk -v n="$2" '{ want = (NR % 2) ? "S" : "E"; if ($2 != want) exit 1 } END { if (NR != 2 * n) exit 1 }'
}
# A holder: writes its latch's pid (its parent) to $1, then sleeps 20 s
# as latch's own child (exec: no process of its own left behind holds
# the lock after latch is gone).
holder='echo $PPID > "$1.tmp" && mv "$1.tmp" "$1" && exec sleep 20'
# A waiter: writes the time it got the lock to $1.
got='date +%s%N > "$1"'

ready_or_gone () { # PID FILE [PATTERN]
  if [ $# -ge 3 ]; then file_has "$2" "$3"; else file_exists "$2"; fi || pid_gone "$1"
}
# ms_since T0 [FILE]: ms from T0 (ns) to now, or to the time in FILE.
ms_since () {
  local t1
  if [ $# -ge 2 ]; then t1=$(cat "$2"); else t1=$(now_ns); fi
  echo $(( (t1 - $1) / 1000000 ))
}
# run_end FILE CMD...: runs CMD with its stderr in FILE.err, then writes
# "STATUS TIME_NS" to FILE (for a background command whose end is timed).
run_end () {
  local f=$1 st; shift
  "$@" > /dev/null 2> "$f.err"; st=$?
  echo "$st $(now_ns)" > "$f.tmp" && mv "$f.tmp" "$f"
}
# ended_99_within FILE T0 BOUND: the command run_end watched ended with 99
# within BOUND ms of T0, having written exactly one line; says so in $why.
ended_99_within () {
  local st t ms lines
  why="did not end"
  [ -s "$1" ] && read -r st t < "$1" || return 1
  ms=$(( (t - $2) / 1000000 )); lines=$(wc -l < "$1.err")
  why="exit $st after $ms ms, $lines lines: $(one_line "$(cat "$1.err")")"
  [ "$st" = 99 ] && [ "$ms" -lt "$3" ] && [ "$lines" = 1 ]
}
# is_agent PID: PID is a latchd in agent mode (its command line has
# --agent), not a latch command connected on its own.
is_agent () {
  [ -n "$1" ] && tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null | grep -qE -- ' --agent( |$)'
}
# COND; fake_verdict DESC LOG: verdict, showing the fake's LOG on failure.
fake_verdict () {
  if [ $? = 0 ]; then ok "$1"; else not_ok "$1"; sed 's/^/#   fake-flom: /' "$2"; fi
}
one_line () { printf '%s\n' "$1" | awk 'NR > 1 { printf " | " } { printf "%s", $0 }'; }

# start_upstream: the upstream latchd on h1 at this level, staying (-d -1),
# started directly (--agent=no); sets UPID.
start_upstream () {
  # shellcheck disable=SC2046
  in_host 1 "$LATCH" --agent=no -a "$A1" -p "$P" $(lopts "$L" 1) -V -t "$T/up-$L.trace" \
    -d -1 -r start -- true > /dev/null
  UPID=$(ns_port_pid 1 tcp "$P")
  [ -n "$UPID" ]
}

# hold HOST RES NAME: a holder of RES on HOST through its agent, in the
# background; waits until it holds (its pid file $T/NAME.pid) or is gone.
# Sets HPID (the background job) and LPID (its latch, "" if none).
hold () {
  bg run_end "$T/$3.end" on "$1" -r "$2" -- sh -c "$holder" sh "$T/$3.pid"
  HPID=$last_pid
  wait_for 15 ready_or_gone "$HPID" "$T/$3.pid" '[0-9]'
  LPID=$(cat "$T/$3.pid" 2>/dev/null)
}
# waiter HOST RES NAME: a command on HOST that waits for RES and writes
# when it got it to $T/NAME.got; returns once it says it is queued (or
# is gone).  Sets WPID.
waiter () {
  bg run_end "$T/$3.end" on "$1" -V -r "$2" -- sh -c "$got" sh "$T/$3.got"
  WPID=$last_pid
  wait_for 15 ready_or_gone "$WPID" "$T/$3.end.err" "waiting for '$2'"
}
# wait_end NAME SECONDS: the command run_end watches as NAME has ended.
wait_end () { wait_for "$2" file_exists "$T/$1.end"; }

test_level () {
  diag "---- level $L: upstream on $A1:$P"
  start_upstream
  verdict "$L: h1 starts the upstream daemon on $A1:$P (--agent=no)"

  # --- serialization through the agents, h1 (local) h2 h3 -------------
  local pids="" p all=0 h
  for h in 2 3 1 2 3 1; do
    bg on $h -r "ser" -- sh -c "$window" sh "$T/$L.ser"
    pids="$pids $last_pid"
  done
  for p in $pids; do wait "$p" || all=1; done
  [ $all = 0 ]; verdict "$L: six commands from h1, h2 and h3 through their agents all exit 0"
  check "$L: ...and their time windows never intersect" windows_apart "$T/$L.ser" 6
  for h in 1 2 3; do
    is_agent "$(ns_conn_pid $h "$P")"
    verdict "$L: h$h's agent keeps its session to the upstream after its commands ended"
  done

  # --- FIFO across agents, one connection per host ---------------------
  hold 2 fifo "$L.f0"
  local hp=$HPID wa wb wc
  waiter 3 fifo "$L.fa"; wa=$WPID
  waiter 2 fifo "$L.fb"; wb=$WPID
  waiter 3 fifo "$L.fc"; wc=$WPID
  file_has "$T/$L.fa.end.err" "waiting for" && file_has "$T/$L.fb.end.err" "waiting for" &&
    file_has "$T/$L.fc.end.err" "waiting for"
  verdict "$L: behind h2's holder, waiters from h3, h2, h3 are queued in turn"
  n2=$(ns_conns_from 1 "$P" "$A2"); n3=$(ns_conns_from 1 "$P" "$A3")
  [ "$n2" = 1 ] && [ "$n3" = 1 ]
  verdict "$L: ...over one upstream connection per host (h2: $n2, h3: $n3)"
  [ -n "$LPID" ] && kill -TERM "$LPID"
  wait_for 15 file_exists "$T/$L.fc.got"
  local ta tb tc
  ta=$(cat "$T/$L.fa.got" 2>/dev/null); tb=$(cat "$T/$L.fb.got" 2>/dev/null)
  tc=$(cat "$T/$L.fc.got" 2>/dev/null)
  [ -n "$ta" ] && [ -n "$tb" ] && [ -n "$tc" ] && [ "$ta" -lt "$tb" ] && [ "$tb" -lt "$tc" ]
  verdict "$L: ...and granted in that order once the holder ends"
  for p in $wa $wb $wc; do wait "$p"; done
  wait "$hp"

  # --- a holder killed on h2 --------------------------------------------
  hold 2 hk "$L.hk"
  local lp=$LPID t0 ms
  waiter 3 hk "$L.hkw"
  if [ -n "$lp" ] && file_has "$T/$L.hkw.end.err" "waiting for"; then
    t0=$(now_ns); kill -KILL "$lp"
    wait_for 5 file_has "$T/$L.hkw.got" '[0-9]'
    if file_has "$T/$L.hkw.got" '[0-9]'; then
      ms=$(ms_since "$t0" "$T/$L.hkw.got")
      [ "$ms" -lt $QUICK ]
      verdict "$L: h2's holder killed (-9): h3's waiter gets the lock at once ($ms ms, bound $QUICK)"
    else
      not_ok "$L: h2's holder killed (-9): h3's waiter gets the lock within 5 s"
    fi
  else
    not_ok "$L: a holder on h2 and a waiter on h3 (no holder pid, or the waiter is not queued)"
  fi
  wait_end "$L.hkw" 10
  read -r st _ < "$T/$L.hkw.end" 2>/dev/null
  check "$L: ...and exits 0" [ "${st:-}" = 0 ]

  # --- h2's agent killed ------------------------------------------------
  hold 2 ak "$L.ak"
  waiter 3 ak "$L.akw"
  local apid
  apid=$(ns_conn_pid 2 "$P")
  if is_agent "$apid" && file_has "$T/$L.akw.end.err" "waiting for"; then
    t0=$(now_ns); kill -KILL "$apid"
    wait_for 6 file_has "$T/$L.akw.got" '[0-9]'
    if file_has "$T/$L.akw.got" '[0-9]'; then
      ms=$(ms_since "$t0" "$T/$L.akw.got")
      [ "$ms" -lt $BOUND ]
      verdict "$L: h2's agent killed (-9): its lock is released upstream ($ms ms, bound $BOUND)"
    else
      not_ok "$L: h2's agent killed (-9): its lock is released upstream within 6 s"
    fi
    wait_end "$L.ak" 6
    ended_99_within "$T/$L.ak.end" "$t0" $BOUND
    verdict "$L: ...and h2's command stops with 99 and one line ($why)"
  else
    not_ok "$L: h2's agent (${apid:-none}, holder ${LPID:-none}) and a waiter on h3"
  fi
  wait_end "$L.akw" 10

  # --- direct and agent commands on one resource -------------------------
  pids=""; all=0
  for h in "2 --agent=no" "3" "1 --agent=no" "2" "3 --agent=no" "1"; do
    # shellcheck disable=SC2086 # host and option
    bg on $h -r "mix" -- sh -c "$window" sh "$T/$L.mix"
    pids="$pids $last_pid"
  done
  for p in $pids; do wait "$p" || all=1; done
  [ $all = 0 ]; verdict "$L: three direct (--agent=no) and three agent commands all exit 0"
  check "$L: ...and their time windows never intersect" windows_apart "$T/$L.mix" 6

  # --- a FLoM-protocol upstream ------------------------------------------
  test_flom

  # --- the upstream killed ------------------------------------------------
  hold 2 u2 "$L.u2"; local l2=$LPID
  hold 3 u3 "$L.u3"; local l3=$LPID
  if [ -n "$l2" ] && [ -n "$l3" ] && [ -n "$UPID" ]; then
    t0=$(now_ns); kill -KILL "$UPID"
    wait_end "$L.u2" 6; wait_end "$L.u3" 6
    ended_99_within "$T/$L.u2.end" "$t0" $BOUND
    verdict "$L: upstream killed (-9): h2's command stops with 99 and one line ($why)"
    ended_99_within "$T/$L.u3.end" "$t0" $BOUND
    verdict "$L: ...and so does h3's ($why)"
  else
    not_ok "$L: holders on h2 and h3 (${l2:-none}, ${l3:-none}) and the upstream (${UPID:-none})"
  fi
  start_upstream
  verdict "$L: the upstream daemon starts again"
  expect_status 0 "$L: ...and h2's agent serves a command through it" \
    on 2 -r again -- true

  # --- h2's link cut --------------------------------------------------------
  hold 2 cut "$L.cut"; lp=$LPID
  waiter 3 cut "$L.cutw"
  if [ -n "$lp" ] && file_has "$T/$L.cutw.end.err" "waiting for"; then
    t0=$(now_ns); cut_link 2
    wait_for 6 file_has "$T/$L.cutw.got" '[0-9]'
    if file_has "$T/$L.cutw.got" '[0-9]'; then
      ms=$(ms_since "$t0" "$T/$L.cutw.got")
      [ "$ms" -lt $BOUND ]
      verdict "$L: h2 cut off: its lock is released upstream ($ms ms, bound $BOUND)"
    else
      not_ok "$L: h2 cut off: its lock is released upstream within 6 s"
    fi
    wait_end "$L.cut" 6
    ended_99_within "$T/$L.cut.end" "$t0" $BOUND
    verdict "$L: ...and h2's command stops with 99 and one line ($why)"
  else
    not_ok "$L: a holder on h2 and a waiter on h3 (no holder pid, or the waiter is not queued)"
    cut_link 2
  fi
  mend_link 2 || echo "Bail out! h2's link does not come back"
}

# test_flom: fake-flom on h1's loopback (it listens nowhere else) at this
# level; two commands on h1 through h1's agent at once, then a third.
test_flom () {
  local fargs="" pids="" p all=0 fp fpid n
  case $L in
    channel) fargs="--tls --cert $PKI/host1.pem --key $PKI/host1.key --ca $PKI/ca1.pem" ;;
    mutual) fargs="--tls --cert $PKI/host1.pem --key $PKI/host1.key --ca $PKI/ca1.pem --check-peer-id" ;;
  esac
  # shellcheck disable=SC2086 # fargs is words
  ns_exec 1 "$FAKE" --port-file "$T/$L.fake.port" --log "$T/$L.fake.log" $fargs \
    2> "$T/$L.fake.err" &
  fpid=$!; bg_pids="$bg_pids $fpid"
  if ! wait_for 10 file_exists "$T/$L.fake.port"; then
    not_ok "$L: fake-flom starts on h1 ($(cat "$T/$L.fake.err"))"
    return
  fi
  fp=$(cat "$T/$L.fake.port")
  for p in 1 2; do
    # shellcheck disable=SC2046
    bg in_host 1 "$LATCH" -a 127.0.0.1 -p "$fp" $(lopts "$L" 1) -r flom -- \
      sh -c "$window" sh "$T/$L.flom"
    pids="$pids $last_pid"
  done
  for p in $pids; do wait "$p" || all=1; done
  [ $all = 0 ]; verdict "$L: FLoM upstream: two commands on h1 through h1's agent at once exit 0"
  check "$L: ...their time windows never intersect" windows_apart "$T/$L.flom" 2
  # The third looks, while it holds, at who is connected to the fake.
  # shellcheck disable=SC2046
  in_host 1 "$LATCH" -a 127.0.0.1 -p "$fp" $(lopts "$L" 1) -r flom3 -- \
    sh -c 'ss -Htnp state established "dport = :$0" > "$1"' "$fp" "$T/$L.flom.ss"
  verdict "$L: ...and a third after them exits 0"
  p=$(sed -n 's/.*pid=\([0-9][0-9]*\).*/\1/p' "$T/$L.flom.ss" 2>/dev/null | head -n1)
  is_agent "$p"
  verdict "$L: ...its lock held by h1's agent's connection (pid ${p:-none})"
  # One connection per lock: each granted once, then the unlock (verb 2)
  # and the agent's close; nothing else on it (no second request, no ping).
  # A starting agent tries the upstream once (a connect, at a TLS level a
  # handshake, then a close without a message: daemon.c, probe_upstream),
  # before it listens: two commands started at once may each start one
  # (one then finds the other listening).  Those connections carry no
  # request, and there are at most as many as commands (3).
  local probes=3 c probe_ok=0
  for c in $(sed -n 's/^conn \([0-9]*\): closed without an answer: end of stream$/\1/p' \
               "$T/$L.fake.log"); do
    grep -q "^conn $c: request" "$T/$L.fake.log" && probe_ok=1
  done
  n=$(grep -c "granted '" "$T/$L.fake.log")
  [ "$n" = 3 ] && [ "$(grep -c 'message verb 2$' "$T/$L.fake.log")" = 3 ] &&
    [ "$(grep -c 'the client closed after' "$T/$L.fake.log")" = 3 ] &&
    ! grep -q 'message verb [^2]' "$T/$L.fake.log" &&
    [ "$(grep -c 'closed without an answer' "$T/$L.fake.log")" -le $probes ] &&
    [ $probe_ok = 0 ] &&
    ! grep 'closed without an answer' "$T/$L.fake.log" | grep -qv ': end of stream$'
  fake_verdict "$L: ...one connection per lock, closed after its unlock ($n grants)" \
    "$T/$L.fake.log"
  # ns_exec's background shell may not be the fake itself: stop it by its
  # port's pid too.
  p=$(ns_port_pid 1 tcp "$fp")
  [ -n "$p" ] && kill "$p" 2>/dev/null
  kill "$fpid" 2>/dev/null; wait "$fpid" 2>/dev/null
}

P=28015
for L in $LEVELS; do
  test_level
  P=$((P + 1))
done

finish
