#!/bin/sh
# The local agent (latchd --agent): a command given -a talks to this
# host's agent over a private UNIX socket; the agent holds one session to
# the upstream daemon for every command.  Real daemons on loopback.
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"

FAKE="${LATCH_TESTS_BUILDDIR:-$(dirname "$LATCH")/tests}/integration/fake-flom"

# Agents live in the private directory, one lock file each (with the
# pid); lib.sh's cleanup does not know them.
agent_pids () { for f in "$SOCKDIR"/agent-*.lock; do [ -s "$f" ] && head -n1 "$f"; done; }
kill_agents () { for p in $(agent_pids); do kill -KILL "$p" 2>/dev/null; done; }
n_agents () { agent_pids | wc -l; }
agent_count_is () { [ "$(n_agents)" = "$1" ]; }
trap 'kill_agents; cleanup' EXIT

# COND; todo_verdict DESC WHY: a check whose code lands in another branch
# of this issue (TAP's TODO: shown, not counted, until it passes).
todo_verdict () {
  if [ $? = 0 ]; then ok "$1"; else n_tests=$((n_tests + 1)); echo "not ok $n_tests - $1 # TODO $2"; fi
}

free_port
UP=$PORT
NETLOCK="$SOCKDIR/tcp-127.0.0.1-$UP.lock"
net_pid () { [ -s "$NETLOCK" ] && head -n1 "$NETLOCK"; }
# Connections to the upstream port, by state: the upstream's accepted
# ones are those whose local port is UP.
n_conns () { ss -Htan state "$1" "sport = :$UP" | wc -l; }

# ---- the first command: the TCP daemon (today's autostart) and the agent ----
out=$("$LATCH" -a 127.0.0.1 -p $UP -d 3000 -r a -- echo ran 2>&1); st=$?
[ $st = 0 ] && [ "$out" = ran ]
verdict "latch -a 127.0.0.1 -p PORT -- echo ran: exit 0 through the agent ($st: $out)"
[ -n "$(net_pid)" ] && pid_alive "$(net_pid)"
verdict "...the TCP daemon was started there, as without the agent"
sock=$(ls "$SOCKDIR"/agent-*.sock 2>/dev/null | head -n1)
[ -S "$sock" ] && [ "$(stat -c %a "$sock")" = 600 ] && agent_count_is 1
verdict "...one agent listens on a private socket ($sock)"
[ "$(n_conns established)" = 1 ]
verdict "...and holds one connection to the upstream"

# ---- twenty commands, one upstream connection ---------------------------------
tw0=$(n_conns time-wait)
fails=0
for i in $(seq 1 20); do "$LATCH" -a 127.0.0.1 -p $UP -d 3000 -r twenty -- true || fails=$((fails + 1)); done
est=$(n_conns established); tw=$(n_conns time-wait)
[ $fails = 0 ] && [ "$est" = 1 ] && [ "$tw" = "$tw0" ]
verdict "20 commands: the upstream sees one connection ($fails failed, $est established, time-wait $tw0 -> $tw)"

# The same with --agent=no: a connection per command, as before.
# (The agent's idle session is the other one.)
"$LATCH" --agent=no -a 127.0.0.1 -p $UP -d 3000 -r direct -- sh -c "ss -Htan state established 'sport = :$UP' | wc -l > $T/direct.n"
n=$(cat "$T/direct.n")
[ "$n" = 2 ] && agent_count_is 1
verdict "--agent=no connects directly: a second connection while it runs ($n)"
"$LATCH" --agent=no -a 127.0.0.1 -p $UP -d 3000 -r direct -- sh -c "ls $SOCKDIR > $T/direct.ls"
[ "$(grep -c '^agent-.*sock$' "$T/direct.ls")" = 1 ] && agent_count_is 1
verdict "...and starts no agent of its own"

# ---- serialization through the agent -------------------------------------------
rm -f "$T/windows"
pids=""
for i in 1 2 3 4; do
  bg "$LATCH" -a 127.0.0.1 -p $UP -d 3000 -r serial -- sh -c "echo \"\$(date +%s%N) S\" >> $T/windows; sleep 0.05; echo \"\$(date +%s%N) E\" >> $T/windows"
  pids="$pids $last_pid"
done
# And one direct client of the upstream, contending with them.
bg "$LATCH" --agent=no -a 127.0.0.1 -p $UP -d 3000 -r serial -- sh -c "echo \"\$(date +%s%N) S\" >> $T/windows; sleep 0.05; echo \"\$(date +%s%N) E\" >> $T/windows"
pids="$pids $last_pid"
fails=0; for p in $pids; do wait $p || fails=$((fails + 1)); done
[ $fails = 0 ] && sh -c "sort -n $T/windows | awk '{ want = (NR % 2) ? \"S\" : \"E\"; if (\$2 != want) exit 1 } END { if (NR != 10) exit 1 }'"
verdict "four commands through the agent and one direct never overlap ($fails failed)"

# holder_start NAME ARGS...: a command holding lock NAME until $T/NAME.go
# appears (at most 20 s); it writes $T/NAME.in once it holds it.
holder_start () {
  local name=$1; shift
  bg "$LATCH" "$@" -r "$name" -- sh -c 'touch "$1"; i=0; while [ ! -e "$2" ] && [ $i -lt 2000 ]; do sleep 0.01; i=$((i+1)); done' sh "$T/$name.in" "$T/$name.go"
  holder=$last_pid
  wait_for 10 file_exists "$T/$name.in"
}
# waiter_start NAME ARGS...: a command waiting for lock NAME; writes
# $T/NAME.got once it holds it.
waiter_start () {
  local name=$1; shift
  bg "$LATCH" "$@" -r "$name" -- touch "$T/$name.got"
  waiter=$last_pid
}
ms_since () { echo $(( ($(now_ns) - $1) / 1000000 )); }

# ---- a holder killed: released upstream at once ----------------------------------
conns_at_least () { [ "$(n_conns established)" -ge "$1" ]; }
holder_start h1 -a 127.0.0.1 -p $UP -d 3000
waiter_start h1 --agent=no -a 127.0.0.1 -p $UP -d 3000
# The waiter is connected (the agent's connection and its own), so its
# request is in: it must not have the lock.
wait_for 5 conns_at_least 2 && [ ! -e "$T/h1.got" ]
verdict "a direct waiter waits while a command holds the lock through the agent"
t0=$(now_ns)
kill -KILL $holder
wait_for 5 file_exists "$T/h1.got"; st=$?; ms=$(ms_since $t0)
[ $st = 0 ] && [ "$ms" -lt 1000 ]
verdict "holder killed with -9: the direct waiter gets the lock at once ($ms ms)"
wait $waiter 2>/dev/null; touch "$T/h1.go"

# ---- the agent killed: released upstream within the session timeout ----------
holder_start h2 -a 127.0.0.1 -p $UP -d 3000 2> "$T/h2.err"
waiter_start h2 --agent=no -a 127.0.0.1 -p $UP -d 3000
t0=$(now_ns)
kill_agents
wait_for 5 file_exists "$T/h2.got"; st=$?; ms=$(ms_since $t0)
[ $st = 0 ] && [ "$ms" -lt 2500 ]
verdict "agent killed with -9: the lock is released upstream within the session timeout ($ms ms)"
wait $holder; st=$?
[ $st = 99 ]; verdict "...and the command that held it through the agent stops with 99 ($st)"
wait $waiter 2>/dev/null; touch "$T/h2.go"

# ---- the upstream killed: the local command stopped, one line --------------------
"$LATCH" -a 127.0.0.1 -p $UP -d 3000 -r again -- true
verdict "a new agent starts for the next command"
upid=$(net_pid)
bg "$LATCH" -a 127.0.0.1 -p $UP -d 3000 -r h3 -- sh -c 'touch "$1"; sleep 20' sh "$T/h3.in" 2> "$T/h3.err"
holder=$last_pid
wait_for 10 file_exists "$T/h3.in"
t0=$(now_ns)
kill -KILL "$upid"
wait_for 5 pid_gone $holder; ms=$(ms_since $t0)
wait $holder; st=$?
err=$(grep -v '^$' "$T/h3.err")
lines=$(printf '%s\n' "$err" | wc -l)
[ $st = 99 ] && [ "$ms" -lt 3000 ] && [ "$lines" = 1 ] && contains "$err" "127.0.0.1 port $UP"
verdict "upstream killed with -9: the command is stopped within 3 s, exit 99, one line naming it ($st, $ms ms: $err)"
kill_agents

# ---- a FLoM upstream: one connection per lock, and it works --------------------------
"$FAKE" --port-file "$T/fake.port" --log "$T/fake.log" 2> "$T/fake.err" &
fpid=$!; bg_pids="$bg_pids $fpid"
wait_for 10 file_exists "$T/fake.port"
FPORT=$(cat "$T/fake.port")
out=$(timeout -k 2 20 "$LATCH" -a 127.0.0.1 -p "$FPORT" -d 3000 -r flom -- echo ran 2>&1); st=$?
[ $st = 0 ] && [ "$out" = ran ]
verdict "a FLoM upstream: the command runs through the agent ($st: $out)"
rm -f "$T/windows"
pids=""
for i in 1 2 3; do
  bg timeout -k 2 20 "$LATCH" -a 127.0.0.1 -p "$FPORT" -d 3000 -r fserial -- sh -c "echo \"\$(date +%s%N) S\" >> $T/windows; sleep 0.05; echo \"\$(date +%s%N) E\" >> $T/windows"
  pids="$pids $last_pid"
done
fails=0; for p in $pids; do wait $p || fails=$((fails + 1)); done
[ $fails = 0 ] && sh -c "sort -n $T/windows | awk '{ want = (NR % 2) ? \"S\" : \"E\"; if (\$2 != want) exit 1 } END { if (NR != 6) exit 1 }'"
verdict "...three contending commands through the agent never overlap ($fails failed)"
kill $fpid 2>/dev/null; wait $fpid 2>/dev/null
kill_agents

# ---- TLS: channel and mutual with generated certificates -------------------------
if command -v certtool >/dev/null 2>&1; then
  . "$LATCH_TESTS_SRCDIR/integration/tls-lib.sh"
  O1=$(tls_opts peer1_ca1 ca1)
  for level in channel mutual; do
    at_tcp
    # shellcheck disable=SC2086
    tls_daemon $O1 --security-level=$level
    verdict "a $level-level upstream daemon starts"
    # shellcheck disable=SC2086
    out=$(timeout -k 2 20 "$LATCH" $W $O1 --security-level=$level -d 3000 -r tls -- sh -c 'grep -c gnutls /proc/$PPID/maps' 2>&1); st=$?
    [ $st = 1 ] || [ $st = 0 ]
    verdict "...a command locks through the agent at $level ($st)"
    [ $st = 1 ] && [ "$out" = 0 ]
    todo_verdict "...without loading GnuTLS ($out mappings)" \
      "client-tls.c: latch_client_prepare_security() loads the module before the agent path is chosen"
    [ "$(ss -Htan state established "sport = :$TLS_PORT" | wc -l)" = 1 ]
    verdict "...over one upstream connection"
    kill_agents
  done
  # A certificate the agent cannot use: the command's one line says why.
  # shellcheck disable=SC2086
  refused "an expired certificate: the command's error line explains it" 'expired' \
    $W $(tls_opts expired_ca1 ca1) -d 3000 -r tls -- true
  kill_agents
else
  diag "certtool not found: TLS cases skipped"
fi

finish
