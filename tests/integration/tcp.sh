#!/bin/sh
# TCP on loopback: the same guarantees as the local socket.
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"

free_port
NETLOCK="$SOCKDIR/tcp-127.0.0.1-$PORT.lock"
net_pid () { [ -s "$NETLOCK" ] && head -n1 "$NETLOCK"; }

# Start race over TCP: 15 first commands at once, one daemon.  Direct
# (--agent=no): this is the TCP daemon's start race, FLoM's table; agents
# starting at once are agent-multihost.sh's.
pids=""
for i in $(seq 1 15); do
  bg "$LATCH" --agent=no -a 127.0.0.1 -p $PORT -d 3000 -r race -- sh -c "head -n1 $NETLOCK >> $T/daemons"
  pids="$pids $last_pid"
done
fails=0; for p in $pids; do wait $p || fails=$((fails + 1)); done
[ $fails = 0 ] && [ "$(sort -u "$T/daemons" | wc -l)" = 1 ]
verdict "15 commands started at once over TCP all succeed, served by one daemon ($fails failed)"
contains "$(ss -Hltn "sport = :$PORT")" "127.0.0.1:$PORT"; verdict "the daemon listens on 127.0.0.1 only"
! contains "$(ss -Hltn "sport = :$PORT")" "0.0.0.0:$PORT|\*:$PORT"; verdict "...not on every interface"
# A burst of connects must not overflow a backlog of our own choosing
# (those clients would wait for the 1 s SYN retransmission).
somax=$(cat /proc/sys/net/core/somaxconn 2>/dev/null)
backlog=$(ss -Hltn "sport = :$PORT" | awk '{ print $3 }')
[ -n "$somax" ] && [ "$backlog" = "$somax" ]
verdict "...with the system's maximum listen backlog ($backlog; net.core.somaxconn $somax)"
"$LATCH" -d 3000 -r local -- true
backlog=$(ss -Hlx | awk -v p="$SOCKDIR/daemon.sock" '$5 == p { print $4 }')
[ -n "$somax" ] && [ "$backlog" = "$somax" ]
verdict "the local socket too ($backlog)"

# Serialization over TCP, IPv4 and IPv6 clients of one daemon each.
for addr in 127.0.0.1 ::1; do
  rm -f "$T/windows"
  pids=""
  for i in 1 2 3 4; do
    bg "$LATCH" -a $addr -p $PORT -d 3000 -r serial -- sh -c "echo \"\$(date +%s%N) S\" >> $T/windows; sleep 0.05; echo \"\$(date +%s%N) E\" >> $T/windows"
    pids="$pids $last_pid"
  done
  for p in $pids; do wait $p; done
  sh -c "sort -n $T/windows | awk '{ want = (NR % 2) ? \"S\" : \"E\"; if (\$2 != want) exit 1 } END { if (NR != 8) exit 1 }'"
  verdict "over TCP to $addr, four contending commands never overlap"
done

mkdir -m 700 "$T/fresh"
# No TIME_WAIT on a busy client host, so that it does not run out of
# ports.  Connecting directly (--agent=no): a latch daemon speaks
# sessions, and the client ends its session with a ping (every unlock
# acted on) and a reset, which leaves no TIME_WAIT on either side.
client_tw_at () { ss -Htan state time-wait "dport = :$PORT" | wc -l; }
# The agents of the contending commands above are this port's clients
# too, until they leave (idle for their lifespan): only these commands'
# connections are counted, so wait (bounded) until they have gone.
agents_gone () { ! pgrep -f -- "--agent .*--unicast-port=$PORT\$" > /dev/null; }
check "the agents of the commands above have left" wait_for 20 agents_gone
before=$(client_tw_at)
for i in 1 2 3 4 5 6 7 8; do "$LATCH" --agent=no -a 127.0.0.1 -p $PORT -d 3000 -r tw -- true; done
client_tw=$(($(client_tw_at) - before))
daemon_tw=$(ss -Htan state time-wait "sport = :$PORT" | wc -l)
[ "$client_tw" = 0 ]
verdict "after 8 direct locks over TCP, no TIME_WAIT on the client's side ($client_tw; daemon's: $daemon_tw)"
# Through the agent (the default), 8 commands make no TCP connection of
# their own: one session carries them all.
before=$(client_tw_at)
for i in 1 2 3 4 5 6 7 8; do "$LATCH" -a 127.0.0.1 -p $PORT -d 3000 -r tw -- true; done
client_tw=$(($(client_tw_at) - before))
[ "$client_tw" = 0 ]
verdict "after 8 locks through the agent, no TIME_WAIT on the client's side ($client_tw)"

# Quiesce over TCP: the holder finishes; a newcomer waits (the daemon
# closes new connections) and then runs on the next daemon.
"$LATCH" -a 127.0.0.1 -p $PORT -d -1 -r q -- true
old=$(net_pid)
bg "$LATCH" -a 127.0.0.1 -p $PORT -r q -- sh -c 'touch "$1"; i=0; while [ ! -e "$2" ] && [ $i -lt 2000 ]; do sleep 0.01; i=$((i+1)); done; echo holder >> "$3"' sh "$T/q.in" "$T/q.go" "$T/qorder"; holder=$last_pid
wait_for 10 file_exists "$T/q.in"
out=$(XDG_RUNTIME_DIR="$T/fresh" "$LATCH" -a 127.0.0.1 -p $PORT -x); st=$?
[ $st = 0 ] && contains "$out" "daemon at 127.0.0.1 port $PORT is quiescing"
verdict "-x over TCP, from a user who never ran latch here, exits 0 and names the daemon"
bg "$LATCH" -a 127.0.0.1 -p $PORT -d 2000 -r q -- sh -c 'echo newcomer >> "$1"' sh "$T/qorder"; newcomer=$last_pid
touch "$T/q.go"
wait $holder; hs=$?; wait $newcomer; ns=$?
[ $hs = 0 ] && [ $ns = 0 ] && [ "$(tr '\n' ' ' < "$T/qorder")" = "holder newcomer " ]
verdict "a command arriving during a TCP quiesce runs after the holder, on a new daemon"
check "the quiesced daemon is gone" wait_for 10 pid_gone "$old"
"$LATCH" -a 127.0.0.1 -p $PORT -X > /dev/null 2>&1

# A daemon address that never answers (SYNs dropped) costs the command
# the connect grace (2 s), not the kernel's minutes of SYN retries.
mainport=$PORT
free_port; BH=$PORT; PORT=$mainport
"$HELPER" blackhole $BH "$T/bh.go" > "$T/bh.out" &
bh=$!; bg_pids="$bg_pids $bh"
wait_for 10 file_has "$T/bh.out" listening
"$LATCH" -a 127.0.0.1 -p $BH -o 0 -d 0 -r x -- touch "$T/bh.ran" 2> "$T/bh.err" &
lp=$!; bg_pids="$bg_pids $lp"
check "a connect to a daemon that never answers gives up within the grace" wait_for 10 pid_gone $lp
wait $lp; st=$?
[ $st = 99 ] && grep -q "timed out" "$T/bh.err" && [ ! -e "$T/bh.ran" ]
verdict "...exits 99 saying it timed out, without running the command"
touch "$T/bh.go"

# -s with -a is refused.
err=$("$LATCH" -s "$T/s" -a 127.0.0.1 -r x -- true 2>&1); st=$?
[ $st = 99 ] && contains "$err" "cannot be combined"; verdict "-s with -a is refused (99)"

finish
