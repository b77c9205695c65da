#!/bin/bash
# The lock table on a 3-member etcd cluster, when members fail: two
# daemons' commands keep taking one EX lock while the leader is killed and
# restarted (locks keep being granted, never twice at once, fences
# increasing); every member frozen for longer than the lease (the holder's
# command is stopped before anybody else can be granted its lock, and its
# daemon recovers by itself); a daemon killed while holding (its lock goes
# with its lease).  The checker is etcd-checker.sh's.
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"
. "$LATCH_TESTS_SRCDIR/integration/etcd-lib.sh"
. "$LATCH_TESTS_SRCDIR/integration/etcd-checker.sh"
etcd_skip_unless_available

etcd_start 3
E=$ETCD_ENDPOINTS
TTL=2

mkdir -p "$T/runA" "$T/runB" "$T/homeA" "$T/homeB"
chmod 700 "$T/runA" "$T/runB"
la () { XDG_RUNTIME_DIR="$T/runA" HOME="$T/homeA" "$LATCH" --etcd-endpoints="$E" --lease-ttl=$TTL -d -1 "$@"; }
lb () { XDG_RUNTIME_DIR="$T/runB" HOME="$T/homeB" "$LATCH" --etcd-endpoints="$E" --lease-ttl=$TTL -d -1 "$@"; }
daemon_of () { # the pid of the etcd daemon in runtime dir $1
  local f
  for f in "$1"/latch/etcd-*.sock.lock; do [ -s "$f" ] && head -n1 "$f"; done
}
ha_cleanup () {
  local p
  for p in $bg_pids; do kill -KILL "$p" 2>/dev/null; done
  for p in $(daemon_of "$T/runA") $(daemon_of "$T/runB") $(daemon_of "$T/runC"); do
    kill -KILL "$p" 2>/dev/null
  done
  etcd_cleanup
}
trap ha_cleanup EXIT

# lines_after FILES T: how many "start" lines at or after time T (us).
starts_after () {
  local t=$1; shift
  cat "$@" 2>/dev/null | awk -v t="$t" '$1 == "start" && $2 >= t { n++ } END { print n + 0 }'
}
enough_starts () { [ "$(starts_after "$1" "$T"/loop-*.log)" -ge "$2" ]; }
now_us () { echo "${EPOCHREALTIME/./}"; }

# ---- 1. the leader killed while two daemons take turns -------------------
# loop WORKER FUNCTION: sections of ~60 ms one after the other until
# $T/loop.stop appears; each latch exit status goes to $T/loop-W.exits.
loop () {
  local w=$1 fn=$2
  while [ ! -e "$T/loop.stop" ]; do
    cs_run "$fn" "$w" "$T/loop-$w.log" "$T/loop.store" 3 -r ha -o 30000 2>>"$T/loop-$w.err"
    echo $? >> "$T/loop-$w.exits"
  done
}
bg loop A la
pA=$last_pid
bg loop B lb
pB=$last_pid
t0=$(now_us)
wait_for 30 enough_starts "$t0" 10
# The status is kept first: a command substitution in verdict's message
# would set $? itself (bash), and every such check would pass.
st_=$?; msg_="two daemons take turns on one EX lock on a 3-member cluster ($(starts_after "$t0" "$T"/loop-*.log) sections)"
[ $st_ = 0 ]; verdict "$msg_"

# The daemons that serve the loops: they must live through what follows.
pa0=$(daemon_of "$T/runA"); pb0=$(daemon_of "$T/runB")
wait_for 10 cluster_leader >/dev/null
leader=$(cluster_leader)
[ -n "$leader" ]; verdict "etcd has a leader (member ${leader:-none})"
leader=${leader:-1}
t_kill=$(now_us)
etcd_kill "$leader"
wait_for 30 enough_starts "$t_kill" 10
st_=$?; msg_="the leader (member $leader) killed with SIGKILL: locks keep being granted ($(starts_after "$t_kill" "$T"/loop-*.log) sections since)"
[ $st_ = 0 ]; verdict "$msg_"

etcd_restart "$leader"; st=$?
[ $st = 0 ]; verdict "member $leader restarted on its data dir answers again"
eval "ep=\$ETCD_ENDPOINT_$leader"
# Rejoined: it answers, knows a leader and has applied the log.
rejoined () {
  etcd_ctl --dial-timeout=1s --command-timeout=1s endpoint status -w json 2>/dev/null |
    jq -e --arg ep "$ep" '.[] | select(.Endpoint == $ep) | .Status.leader != 0 and .Status.raftAppliedIndex > 0' \
      >/dev/null 2>&1
}
wait_for 20 rejoined
verdict "member $leader rejoined the cluster (it knows the leader)"
t_back=$(now_us)
wait_for 30 enough_starts "$t_back" 10
st_=$?; msg_="locking goes on once it is back ($(starts_after "$t_back" "$T"/loop-*.log) sections since)"
[ $st_ = 0 ]; verdict "$msg_"
touch "$T/loop.stop"
wait "$pA" "$pB"

res=$(cs_check "$T"/loop-A.log "$T"/loop-B.log)
printf '%s\n' "$res" | sed -n '2,$p'
diag "leader kill: $(head -n1 <<<"$res")"
sed 's/(.*)/(...)/; s/[0-9][0-9]* s,/N s,/' "$T"/loop-*.err | sort | uniq -c | sort -rn | head -n 4 | sed 's/^ */# /'
diag "exit statuses: A $(sort "$T/loop-A.exits" | uniq -c | tr -s ' \n' ' '), B $(sort "$T/loop-B.exits" | uniq -c | tr -s ' \n' ' ')"
[ "$(cs_field "$res" overlaps)" = 0 ] && [ "$(cs_field "$res" sections)" -ge 30 ]
st_=$?; msg_="no two sections overlapped ($(cs_field "$res" sections) sections)"
[ $st_ = 0 ]; verdict "$msg_"
[ "$(cs_field "$res" fence_bad)" = 0 ] && [ "$(cs_field "$res" stale)" = 0 ]
verdict "fences strictly increasing in grant order (the storage never saw a stale one)"
gap=$(cs_field "$res" maxgap_ms)
diag "longest gap between two sections (leader killed and restarted): $gap ms"
[ "$gap" -lt 10000 ]
verdict "no gap between grants longer than 10 s ($gap ms)"
# A daemon that loses its etcd member fails over to another one; it must
# not die of it (a crash costs every lock of its commands at once).
pa1=$(daemon_of "$T/runA"); pb1=$(daemon_of "$T/runB")
[ -n "$pa0" ] && [ "$pa1" = "$pa0" ] && [ -n "$pb0" ] && [ "$pb1" = "$pb0" ]
verdict "both daemons lived through the leader's death (A: ${pa0:-none} -> ${pa1:-none}, B: ${pb0:-none} -> ${pb1:-none})"
# Whatever stopped a command (its lock lost during the election) said so
# in one line; nothing else went wrong.
bad=$(grep -hv '^\(0\|99\)$' "$T"/loop-*.exits | sort -u | tr '\n' ' ')
[ -z "$bad" ]; verdict "every command exited 0 or 99 (lock lost) (others: ${bad:-none})"

# ---- 2. every member frozen for longer than the lease --------------------
# A holds with a command that beats every 20 ms until stopped; B asks
# again and again (its own lease goes too while etcd is frozen, so its
# wait is refused and asked anew).  The safety property: B's section
# starts after A's command's last beat, and after A's latch has exited.
pa_before=$(daemon_of "$T/runA")
rm -f "$T/part.store"
(
  cs_run la A "$T/part-A.log" "$T/part.store" 100000 -r part 2>"$T/part-A.err"
  echo $? > "$T/part-A.status"
  now_us > "$T/part-A.died"
) &
pH=$!; bg_pids="$bg_pids $pH"
wait_for 10 file_has "$T/part-A.log" '^beat' || diag "A's holder never ran"
(
  deadline=$(( $(date +%s) + 40 ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    cs_run lb B "$T/part-B.log" "$T/part.store" 1 -r part -o 30000 2>>"$T/part-B.err" && break
    sleep 0.1 # the daemon is getting a new lease: ask again a little later
  done
) &
pW=$!; bg_pids="$bg_pids $pW"
queued () { [ "$(la status --json -r part 2>/dev/null | jq '.resources[0].waiters | length')" -ge 1 ] 2>/dev/null; }
wait_for 10 queued || diag "B's waiter not seen queued"

t_freeze=$(now_us)
for p in $ETCD_PIDS; do kill -STOP "$p"; done
wait_for $((TTL + 2)) file_exists "$T/part-A.died"
a_died_frozen=$?
# The partition lasts TTL + 2 s in all: long enough for etcd to expire
# A's lease as soon as it runs again.
left_ms=$(( (TTL + 2) * 1000 - ($(now_us) - t_freeze) / 1000 ))
[ "$left_ms" -gt 0 ] && sleep "$(printf '%d.%03d' $((left_ms / 1000)) $((left_ms % 1000)))"
for p in $ETCD_PIDS; do kill -CONT "$p"; done
t_thaw=$(now_us)
[ $a_died_frozen = 0 ]
verdict "etcd frozen: A's command is stopped while etcd is still unreachable"
wait_for 10 file_exists "$T/part-A.died"
st=$(cat "$T/part-A.status" 2>/dev/null)
err=$(cat "$T/part-A.err")
[ "$st" = 99 ] && [ "$(printf '%s\n' "$err" | grep -c .)" = 1 ] &&
  contains "$err" "the lock on 'part' is lost"
verdict "... with exit 99 and one line naming the lost lock (exit $st: $err)"
died_ms=$(( ($(cat "$T/part-A.died" 2>/dev/null || echo "$t_thaw") - t_freeze) / 1000 ))
diag "A's latch exited $died_ms ms after etcd froze (TTL $TTL s)"

wait "$pW"
wait_for 5 file_has "$T/part-B.log" '^end'
verdict "B's waiter is granted once etcd runs again"
res=$(cs_check "$T/part-A.log" "$T/part-B.log")
printf '%s\n' "$res" | sed -n '2,$p'
diag "partition: $(head -n1 <<<"$res")"
a_last=$(awk '{ t = $2 } END { print t }' "$T/part-A.log")
b_start=$(awk '$1 == "start" { print $2; exit }' "$T/part-B.log")
a_died=$(cat "$T/part-A.died" 2>/dev/null || echo 0)
[ "$(cs_field "$res" overlaps)" = 0 ] && [ -n "$b_start" ] && [ "$b_start" -gt "$a_last" ] &&
  [ "$b_start" -gt "$a_died" ]
verdict "safety: B started ${b_start:+$(( (b_start - a_died) / 1000 )) ms }after A's latch exited, A's last beat before that"
[ "$(cs_field "$res" fence_bad)" = 0 ] && [ "$(cs_field "$res" stale)" = 0 ]
verdict "B's fence is larger than A's"

# A's daemon recovers by itself: the same process gets a new lease and
# grants again.
recovered () { la -r part2 -o 2000 -- true 2>/dev/null; }
wait_for 15 recovered
verdict "A's daemon grants again after the partition (a new lease)"
[ -n "$pa_before" ] && [ "$(daemon_of "$T/runA")" = "$pa_before" ]
verdict "... the same daemon (pid $pa_before), not a new one"

# ---- 3. a daemon killed while holding -------------------------------------
rm -f "$T/kill-A.log" "$T/kill.store" "$T/kill-B.log"
bg cs_run la A "$T/kill-A.log" "$T/kill.store" 100000 -r dk 2>"$T/kill-A.err"
wait_for 10 file_has "$T/kill-A.log" '^beat' || diag "A's holder never ran"
bg cs_run lb B "$T/kill-B.log" "$T/kill.store" 1 -r dk -o 20000 2>"$T/kill-B.err"
pW=$last_pid
queued_dk () { [ "$(la status --json -r dk 2>/dev/null | jq '.resources[0].waiters | length')" -ge 1 ] 2>/dev/null; }
wait_for 10 queued_dk || diag "B's waiter not seen queued"
pa=$(daemon_of "$T/runA")
t_k=$(now_us)
kill -KILL "$pa"
wait_for $((TTL + 5)) file_has "$T/kill-B.log" '^start'
verdict "daemon A killed with SIGKILL while holding: B's waiter is granted"
b_start=$(awk '$1 == "start" { print $2; exit }' "$T/kill-B.log")
el=$(( (${b_start:-$(now_us)} - t_k) / 1000 ))
diag "B granted $el ms after daemon A was killed (TTL $TTL s)"
[ "$el" -le $(( (TTL + 1) * 1000 )) ]
verdict "within LeaseTtl + 1 s ($el ms)"
wait "$pW"
res=$(cs_check "$T/kill-A.log" "$T/kill-B.log")
[ "$(cs_field "$res" overlaps)" = 0 ] && [ "$(cs_field "$res" fence_bad)" = 0 ]
st_=$?; msg_="A's command (killed with its daemon) did not overlap B's ($(head -n1 <<<"$res"))"
[ $st_ = 0 ]; verdict "$msg_"

# ---- 4. a new daemon while the first endpoint's member is down ----------
# Its start must go on to the next endpoint, as a running daemon does.
mkdir -p "$T/runC" "$T/homeC"; chmod 700 "$T/runC"
lc () { XDG_RUNTIME_DIR="$T/runC" HOME="$T/homeC" "$LATCH" --etcd-endpoints="$E" --lease-ttl=$TTL -d -1 "$@"; }
etcd_kill 1
out=$(lc -r fresh -o 5000 -- echo granted 2>&1); st=$?
[ $st = 0 ] && [ "$out" = granted ]
verdict "member 1 (the first endpoint) down: a new daemon starts on the next one and grants (exit $st: $out)"
for p in $(daemon_of "$T/runC"); do kill -TERM "$p"; wait_for 10 pid_gone "$p"; done
etcd_restart 1 || diag "member 1 did not come back"

# Nothing leaked: once every command is done, no request key is left.
for p in $(daemon_of "$T/runB"); do kill -TERM "$p"; wait_for 10 pid_gone "$p"; done
no_req_keys () { [ -z "$(etcd_ctl get --prefix /latch/q/ --keys-only 2>/dev/null)" ]; }
wait_for $((TTL + 5)) no_req_keys
verdict "no request key left in etcd once all commands ended"

finish
