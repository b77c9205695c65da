#!/bin/bash
# The lock table on etcd under chaos: three hosts (network namespaces),
# each running one etcd member on its own address and one latchd, whose
# commands take one EX lock in turn, with fencing-token-checked critical
# sections (etcd-checker.sh), while members are killed with SIGKILL (the
# leader included) and restarted, a host is cut from the network and
# brought back, and a latchd is killed.  Afterwards: no two sections
# overlapped (a command whose lock was lost was stopped before anybody
# else was granted it), fences strictly increased, and nothing leaked: a
# fresh command on every host gets the lock, and no request key is left.
# Before the chaos, two of the hosts go through the 6x6 mode matrix and
# every resource type (numeric, hierarchical, set, sequence, timestamp).
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"
. "$LATCH_TESTS_SRCDIR/integration/etcd-lib.sh"
. "$LATCH_TESTS_SRCDIR/integration/netns-lib.sh"
. "$LATCH_TESTS_SRCDIR/integration/etcd-checker.sh"
etcd_skip_unless_available
# A skip is a skip for the TAP driver (netns-lib.sh's own exits 0).
ns_skip () {
  echo "1..0 # SKIP $*"
  exit 77
}
command -v jq >/dev/null 2>&1 || ns_skip "no jq"

TTL=2
# Every latch command is bounded (in_host's timeout) well beyond its wait.
NS_TIMEOUT=40
ns_setup 3

ETCD_N=3
E=""
CLUSTER=""
for k in 1 2 3; do
  eval "ETCD_ENDPOINT_$k=http://$(ns_addr4 $k):2379"
  E="$E${E:+,}http://$(ns_addr4 $k):2379"
  CLUSTER="$CLUSTER${CLUSTER:+,}m$k=http://$(ns_addr4 $k):2380"
done
# etcdctl from host 1, which is never cut.
etcd_ctl () { ns_exec 1 "$ETCDCTL" --endpoints="$E" "$@"; }

# member_run K: member K in host K, on the host's address.
member_run () {
  local k=$1 a
  a=$(ns_addr4 "$k")
  ns_exec "$k" "$ETCD" --name "m$k" --data-dir "$T/etcd-$k.data" \
    --listen-client-urls "http://$a:2379" --advertise-client-urls "http://$a:2379" \
    --listen-peer-urls "http://$a:2380" --initial-advertise-peer-urls "http://$a:2380" \
    --initial-cluster "$CLUSTER" --initial-cluster-state new \
    --initial-cluster-token "latch-chaos-$$" \
    --heartbeat-interval 50 --election-timeout 500 --snapshot-count 10000 \
    >> "$T/etcd-$k.log" 2>&1 &
  eval "ETCD_PID_$k=\$!"
}
member_kill () {
  local pid
  eval "pid=\${ETCD_PID_$1:-}"
  [ -n "$pid" ] || return 0
  { kill -KILL "$pid"; wait "$pid"; } 2>/dev/null
  return 0
}
member_healthy () {
  ns_exec 1 "$ETCDCTL" --endpoints="http://$(ns_addr4 "$1"):2379" --dial-timeout=1s \
    --command-timeout=1s endpoint health >/dev/null 2>&1
}
cluster_healthy () { etcd_ctl --dial-timeout=1s --command-timeout=1s endpoint health >/dev/null 2>&1; }
daemon_of () { # the pid of host I's etcd daemon
  local f
  for f in "$T/h$1"/run/latch/etcd-*.sock.lock; do [ -s "$f" ] && head -n1 "$f"; done
}
chaos_cleanup () {
  local k p
  for k in 1 2 3; do
    member_kill "$k"
    for p in $(daemon_of "$k"); do kill -KILL "$p" 2>/dev/null; done
  done
  ns_cleanup
  cleanup
}
trap chaos_cleanup EXIT

for k in 1 2 3; do member_run "$k"; done
if ! wait_for 20 cluster_healthy; then
  echo "Bail out! the 3 etcd members in namespaces did not become healthy in 20 s"
  for k in 1 2 3; do tail -n 5 "$T/etcd-$k.log" | sed 's/^/# /'; done
  exit 1
fi

lh () { local i=$1; shift; in_host "$i" "$LATCH" --etcd-endpoints="$E" --lease-ttl=$TTL -d -1 "$@"; }
lh1 () { lh 1 "$@"; }
lh2 () { lh 2 "$@"; }
lh3 () { lh 3 "$@"; }
now_us () { echo "${EPOCHREALTIME/./}"; }
starts_after () {
  cat "$T"/chaos-h*.log 2>/dev/null | awk -v t="$1" '$1 == "start" && $2 >= t { n++ } END { print n + 0 }'
}
enough_starts () { [ "$(starts_after "$1")" -ge "$2" ]; }
# progress N: N sections more than when it was called (30 s at most).
progress () {
  local t
  t=$(now_us)
  wait_for 30 enough_starts "$t" "$1"
}

# ---- before the chaos: every type and the mode matrix across two hosts ----
# hold2 I NAME ARGS...: host I holds with latch ARGS until $T/NAME.go;
# its element in $T/NAME.element, $T/NAME.held once it runs.
hold2 () {
  local i=$1 name=$2; shift 2
  rm -f "$T/$name.held" "$T/$name.go"
  bg lh "$i" "$@" -- sh -c 'echo "${LATCH_ELEMENT-}" > "$1.element"; touch "$1.held"; while [ ! -e "$1.go" ]; do sleep 0.02; done' sh "$T/$name"
}
modes="NL CR CW PR PW EX"
matrix="111111 111110 111000 110100 110000 100000"  # row held, column asked: 1 may coexist
bad=""; hi=0
for held in $modes; do
  hi=$((hi + 1)); row=$(echo $matrix | cut -d' ' -f$hi)
  hold2 1 "mx$held" -r "mx$held" -l "$held"
  hp=$last_pid
  wait_for 20 file_exists "$T/mx$held.held" || diag "host 1 never held $held"
  ri=0
  for req in $modes; do
    ri=$((ri + 1)); want=$(echo "$row" | cut -c$ri)
    lh2 -r "mx$held" -l "$req" -o 0 -- true 2>/dev/null; got=$?
    if [ "$want" = 1 ]; then w=0; else w=98; fi
    [ "$got" = "$w" ] || bad="$bad $held/$req:$got"
  done
  touch "$T/mx$held.go"; wait "$hp"
done
[ -z "$bad" ]; verdict "the 6x6 mode matrix across two hosts through etcd${bad:+: wrong:$bad}"

hold2 1 num -r 'cap[3]' -q 2
wait_for 20 file_exists "$T/num.held"
lh2 -r 'cap[3]' -q 2 -o 0 -- true 2>/dev/null; a=$?
lh2 -r 'cap[3]' -q 1 -o 0 -- true 2>/dev/null; b=$?
touch "$T/num.go"; wait "$last_pid"
[ $a = 98 ] && [ $b = 0 ]; verdict "numeric across hosts: 2 of 3 held on host 1, 2 more busy ($a), 1 more granted ($b) on host 2"

hold2 1 hier -r /h/a
wait_for 20 file_exists "$T/hier.held"
lh2 -r /h/b -o 0 -- true 2>/dev/null; a=$?
lh2 -r /h -o 0 -- true 2>/dev/null; b=$?
touch "$T/hier.go"; wait "$last_pid"
[ $a = 0 ] && [ $b = 98 ]; verdict "hierarchical across hosts: /h/a held on host 1; /h/b granted ($a), /h busy ($b) on host 2"

hold2 1 set1 -r ma.mb --quiet
wait_for 20 file_exists "$T/set1.held"
e2=$(lh2 -r ma.mb --quiet -o 0 -- sh -c 'echo "$LATCH_ELEMENT"' 2>/dev/null)
e1=$(cat "$T/set1.element")
touch "$T/set1.go"; wait "$last_pid"
[ -n "$e1" ] && [ -n "$e2" ] && [ "$e1" != "$e2" ]; verdict "set across hosts: host 1 holds '$e1', host 2 gets '$e2'"

s1=$(lh1 -i 60000 -r '_s_n[1]' -- sh -c 'echo "$LATCH_ELEMENT"')
s2=$(lh2 -i 60000 -r '_s_n[1]' -- sh -c 'echo "$LATCH_ELEMENT"')
s3=$(lh1 -i 60000 -r '_s_n[1]' -- sh -c 'echo "$LATCH_ELEMENT"')
[ "$s1 $s2 $s3" = "1 2 3" ]; verdict "a sequence across hosts: $s1 $s2 $s3 (want 1 2 3)"

t1=$(lh1 -r '_t_%s#ffffff[1]' -- sh -c 'echo "$LATCH_ELEMENT"')
t2=$(lh2 -r '_t_%s#ffffff[1]' -- sh -c 'echo "$LATCH_ELEMENT"')
[ -n "$t1" ] && [ -n "$t2" ] && [ "$t1" != "$t2" ]; verdict "timestamps across hosts are distinct ($t1, $t2)"

# One worker per host: sections of ~40 ms until $T/chaos.stop appears.
worker () {
  local i=$1
  while [ ! -e "$T/chaos.stop" ]; do
    cs_run "lh$i" "h$i" "$T/chaos-h$i.log" "$T/chaos.store" 2 -r chaos -o 20000 \
      2>>"$T/chaos-h$i.err"
    echo $? >> "$T/chaos-h$i.exits"
    # A refused or failed command (its daemon getting a new lease, or
    # restarting) asks again a little later rather than spinning.
    [ "$(tail -n1 "$T/chaos-h$i.exits")" = 0 ] || sleep 0.2
  done
}
t_begin=$(now_us)
wpids=""
for i in 1 2 3; do bg worker "$i"; wpids="$wpids $last_pid"; done
progress 6
verdict "three hosts take turns on one EX lock kept on a 3-member cluster"
for i in 1 2 3; do eval "d0_$i=\$(daemon_of $i)"; done

# 1. the leader killed, then restarted.
wait_for 10 cluster_leader >/dev/null || diag "no leader found: member 1 taken for it"
leader=$(cluster_leader); leader=${leader:-1}
member_kill "$leader"
diag "killed the leader, member $leader"
progress 4; verdict "the leader (member $leader) killed: locks keep being granted"
member_run "$leader"
wait_for 20 member_healthy "$leader"; verdict "member $leader restarted and healthy"
progress 4

# 2. host 3 (its member and its latchd) cut from the network for longer
# than the lease, then brought back.
cut_link 3
t_cut=$(now_us)
diag "cut host 3 from the network"
progress 4; verdict "host 3 cut off: the two other hosts keep being granted the lock"
left_ms=$(( (TTL + 3) * 1000 - ($(now_us) - t_cut) / 1000 ))
[ "$left_ms" -gt 0 ] && sleep "$(printf '%d.%03d' $((left_ms / 1000)) $((left_ms % 1000)))"
mend_link 3; verdict "host 3 reachable again"
wait_for 20 member_healthy 3 || diag "member 3 not healthy after the link came back"
progress 4

# 3. host 2's latchd killed (its commands go with it; its lease expires).
p2=$(daemon_of 2)
[ -n "$p2" ] && kill -KILL "$p2"
diag "killed host 2's latchd (pid ${p2:-none})"
progress 4; verdict "host 2's latchd killed: locks keep being granted"
# Its next command starts a new one: that one must live to the end.
new_daemon_2 () { local p; p=$(daemon_of 2); [ -n "$p" ] && [ "$p" != "$p2" ] && pid_alive "$p"; }
wait_for 10 new_daemon_2 || diag "no new latchd on host 2"
d0_2=$(daemon_of 2)

# 4. a follower killed and restarted, then the leader again.
wait_for 10 cluster_leader >/dev/null || diag "no leader found: member 1 taken for it"
leader=$(cluster_leader); leader=${leader:-1}
f=$(( leader % 3 + 1 ))
member_kill "$f"
diag "killed a follower, member $f"
progress 4
member_run "$f"
wait_for 20 member_healthy "$f" || diag "member $f not healthy after its restart"
wait_for 10 cluster_leader >/dev/null || diag "no leader found: member 1 taken for it"
leader=$(cluster_leader); leader=${leader:-1}
member_kill "$leader"
diag "killed the leader, member $leader"
progress 4
member_run "$leader"
wait_for 20 member_healthy "$leader" || diag "member $leader not healthy after its restart"
progress 4
verdict "after every failure, locking goes on"

touch "$T/chaos.stop"
# shellcheck disable=SC2086 # a list of pids
wait $wpids
diag "chaos ran $(( ($(now_us) - t_begin) / 1000000 )) s"

# 5. the partition, deterministic: host 3 holds 'cut' with a command
# that beats every 20 ms, host 1 waits for it, host 3 is cut off.  Host 3's
# daemon cannot renew its lease: its command must be stopped before etcd
# expires that lease and host 1 is granted (the safety property: host 1's
# section starts after host 3's last beat and after its latch exited).
(
  cs_run lh3 h3 "$T/cut-h3.log" "$T/cut.store" 100000 -r cut 2>"$T/cut-h3.err"
  echo $? > "$T/cut-h3.status"
  now_us > "$T/cut-h3.died"
) &
pH=$!; bg_pids="$bg_pids $pH"
wait_for 10 file_has "$T/cut-h3.log" '^beat' || diag "host 3's holder never ran"
(
  deadline=$(( $(date +%s) + 30 ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    cs_run lh1 h1 "$T/cut-h1.log" "$T/cut.store" 1 -r cut -o 20000 2>>"$T/cut-h1.err" && break
    sleep 0.2
  done
) &
pW=$!; bg_pids="$bg_pids $pW"
cut_queued () { [ "$(lh 1 status --json -r cut 2>/dev/null | jq '.resources[0].waiters | length')" -ge 1 ] 2>/dev/null; }
wait_for 10 cut_queued || diag "host 1's waiter not seen queued"
cut_link 3
t_cut=$(now_us)
wait_for $((TTL + 8)) file_has "$T/cut-h1.log" '^start'
verdict "host 3 cut off while holding: host 1's waiter is granted"
wait_for 5 file_exists "$T/cut-h3.died"
st=$(cat "$T/cut-h3.status" 2>/dev/null)
[ "$st" = 99 ] && grep -q "the lock on 'cut' is lost" "$T/cut-h3.err"
# The status is kept first: a command substitution in verdict's message
# would set $? itself (bash), and every such check would pass.
st_=$?; msg_="host 3's command was stopped, exit 99, naming the lost lock (exit ${st:-none}: $(head -c 200 "$T/cut-h3.err"))"
[ $st_ = 0 ]; verdict "$msg_"
h3_last=$(awk '{ t = $2 } END { print t }' "$T/cut-h3.log")
h3_died=$(cat "$T/cut-h3.died" 2>/dev/null || echo 0)
h1_start=$(awk '$1 == "start" { print $2; exit }' "$T/cut-h1.log" 2>/dev/null)
diag "after the cut: host 3's last beat +$(( (h3_last - t_cut) / 1000 )) ms, its latch exited +$(( (h3_died - t_cut) / 1000 )) ms, host 1 granted +$(( (${h1_start:-0} - t_cut) / 1000 )) ms (TTL $TTL s)"
[ -n "$h1_start" ] && [ "$h1_start" -gt "$h3_last" ] && [ "$h1_start" -gt "$h3_died" ]
verdict "safety: host 3's command was stopped before host 1 was granted its lock"
wait "$pW"
mend_link 3 || diag "host 3 not reachable again"
wait_for 20 member_healthy 3 || diag "member 3 not healthy after the link came back"
recovered3 () { lh 3 -r cut2 -o 2000 -- true 2>/dev/null; }
wait_for 20 recovered3
verdict "host 3's daemon grants again once its link is back"

res=$(cs_check "$T"/chaos-h1.log "$T"/chaos-h2.log "$T"/chaos-h3.log "$T"/cut-h1.log "$T"/cut-h3.log)
printf '%s\n' "$res" | sed -n '2,$p'
diag "$(head -n1 <<<"$res")"
for i in 1 2 3; do
  diag "host $i exit statuses: $(sort "$T/chaos-h$i.exits" | uniq -c | tr -s ' \n' ' ')"
done
[ "$(cs_field "$res" overlaps)" = 0 ] && [ "$(cs_field "$res" sections)" -ge 40 ]
st_=$?; msg_="no double grant: no two of $(cs_field "$res" sections) sections overlapped"
[ $st_ = 0 ]; verdict "$msg_"
[ "$(cs_field "$res" fence_bad)" = 0 ] && [ "$(cs_field "$res" stale)" = 0 ]
verdict "fences strictly increasing in grant order; the storage never saw a stale one"
diag "longest gap between two sections: $(cs_field "$res" maxgap_ms) ms"
# What the commands said, by kind (waits' progress lines left out).
cat "$T"/chaos-h*.err 2>/dev/null | grep -v "^latch: waiting for '" |
  sed 's/(.*)/(...)/; s/https*:[^ ;]*/URL/g' | sort | uniq -c | sort -rn | head -n 6 | sed 's/^ */# /'
# A command either ran (0) or was stopped or refused by latch (99): none
# hung until in_host's timeout, none was killed by anything else.
bad=$(grep -hv '^\(0\|99\)$' "$T"/chaos-h*.exits | sort -u | tr '\n' ' ')
[ -z "$bad" ]; verdict "every command exited 0 or 99 (others: ${bad:-none})"
# No latchd died but the one killed on purpose.
survived=""
for i in 1 2 3; do
  eval "p0=\$d0_$i"
  p1=$(daemon_of "$i")
  [ -n "$p0" ] && [ "$p1" = "$p0" ] && pid_alive "$p0" || survived="$survived h$i:${p0:-none}->${p1:-none}"
done
[ -z "$survived" ]; verdict "no latchd died that the test did not kill (changed:${survived:- none})"

# The dust settled: a fresh command on every host gets the lock within
# LeaseTtl + a few s, and then no request key is left.
wait_for 20 cluster_healthy
fresh_ok=""
for i in 1 2 3; do
  t=$(now_us)
  fresh () { lh "$1" -r chaos -o 1000 -- true 2>/dev/null; }
  if wait_for $((TTL + 5)) fresh "$i"; then
    fresh_ok="$fresh_ok h$i:$(( ($(now_us) - t) / 1000 ))ms"
  else
    fresh_ok="$fresh_ok h$i:no"
  fi
done
! contains "$fresh_ok" ':no'
verdict "a fresh command on every host gets the lock within LeaseTtl + 5 s ($fresh_ok)"
no_req_keys () { [ -z "$(etcd_ctl get --prefix /latch/q/ --keys-only 2>/dev/null)" ]; }
wait_for $((TTL + 5)) no_req_keys
verdict "no request key left in etcd once every command ended"

finish
