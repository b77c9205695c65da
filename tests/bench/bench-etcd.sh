#!/bin/bash
# bench-etcd.sh: the lock table on an etcd cluster (issue 15), against
# etcd itself measured in the same run.
#
# Run from the build directory, by `make bench` (after run.sh) or alone by
# `make bench-etcd`.  LATCH, LATCH_DAEMON and BENCH_DIR as for run.sh
# (default ./latch, ./latchd, tests/bench); LATCH_ETCD_MODULE defaults to
# .libs/latch-etcd.so here.  Needs etcd and etcdctl (ETCD, ETCDCTL; default
# /usr/bin/etcd, /usr/bin/etcdctl): without them, one line says it was
# skipped and the script exits 0.
#
# Members run on 127.0.0.1 at free ports, with their data in a private
# temp dir and etcd's default timing (heartbeat 100 ms, election 1000 ms).
# Every latchd is this script's own (its own XDG_RUNTIME_DIR); all are
# killed by pid at exit, every step runs under `timeout`.  Four parts:
#
# 1. One member.  (a) etcd round trips per lock+unlock: etcd's
#    grpc_server_msg_received_total by method (the JSON gateway forwards
#    each HTTP request to gRPC, so each request the daemon makes is one
#    message there), read from /metrics before and after N cycles of
#    liblatch lock+unlock (bench-etcd, one handle reused).  Lease renewals
#    run in the background on their own clock (every TTL/3): shown apart.
#    Then what those txns wrote, from etcd's history of the request keys
#    (puts of a waiting or held request, deletions), per lock+unlock.
#    Goal: at most 2.  (b) p50 latency of lock+unlock against a raw etcd
#    txn through latch-etcd.so (bench-etcd.c says why that is the
#    ceiling), alternating in rounds.  Goal: p50 <= 1.5x the raw txn.
# 2. Whole command with hyperfine -N, same member, same run:
#    `latch --etcd-endpoints=E -r R -- true` (its daemon already running)
#    against `etcdctl --endpoints=E lock R true`.  Goal: <= 0.5x.
# 3. A holder's host lost: daemon A holds R (a command under it), a
#    waiter queued on daemon B; A's latchd killed with SIGKILL; the time
#    from the kill to the waiter's command start, against LeaseTtl + 1 s
#    (ETCD_BENCH_TTLS, default "2 10"; ETCD_BENCH_TRIALS per TTL, default 3).
# 4. Three members; two daemons, one talking to the leader (its endpoint
#    first) and one to a follower, each running lock+unlock in a loop
#    (bench-etcd --loop) on a resource of its own; the leader is killed
#    with SIGKILL a few seconds in.  Grants must go on: the longest gap
#    between two grants per daemon, with a loop without any kill before it
#    for comparison.
# ETCD_BENCH_PARTS (default "1 2 3 4") picks parts; ETCD_BENCH_COUNT_CYCLES
# (500) and ETCD_BENCH_CYCLES (200 per round) size part 1.
# Lines starting with "RESULT" are the ones to paste.  Exits non-zero when
# a step fails; a goal missed is reported, not a failure.

set -u

# shellcheck source-path=SCRIPTDIR source=bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
bench_paths
export LATCH LATCH_DAEMON BENCH_DIR
if [ -z "${LATCH_ETCD_MODULE:-}" ] && [ -f .libs/latch-etcd.so ]; then
  LATCH_ETCD_MODULE=.libs/latch-etcd.so
fi
if [ -n "${LATCH_ETCD_MODULE:-}" ]; then
  LATCH_ETCD_MODULE=$(absolute "$LATCH_ETCD_MODULE")
  export LATCH_ETCD_MODULE
fi
ETCD=${ETCD:-/usr/bin/etcd}
ETCDCTL=${ETCDCTL:-/usr/bin/etcdctl}
ETCD_BENCH_TTLS=${ETCD_BENCH_TTLS:-2 10}
ETCD_BENCH_TRIALS=${ETCD_BENCH_TRIALS:-3}
# The parts to run (1 and 2 need no more than the member 3 uses).
ETCD_BENCH_PARTS=${ETCD_BENCH_PARTS:-1 2 3 4}
BENCH=$BENCH_DIR/bench-etcd
STEP_TIMEOUT=120
CYCLES=${ETCD_BENCH_CYCLES:-200}
ROUNDS=5
COUNT_CYCLES=${ETCD_BENCH_COUNT_CYCLES:-500}
LOOP_SECONDS=12
KILL_AFTER=4

echo "== lock table on etcd"
if [ ! -x "$ETCD" ] || [ ! -x "$ETCDCTL" ]; then
  echo "bench-etcd: skipped: etcd is not installed ($ETCD, $ETCDCTL; apt-get install etcd-server etcd-client)"
  exit 0
fi
for prog in "$LATCH" "$LATCH_DAEMON" "$BENCH"; do
  if [ ! -x "$prog" ]; then
    echo "bench-etcd.sh: $prog is missing or not executable (build it first: make bench-etcd)" >&2
    exit 1
  fi
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/latch-bench-etcd.XXXXXX") || exit 1
TMP=$(absolute "$TMP")
ETCD_PIDS=()
SOCK=
status=0
# part N: whether part N is to run.
part () {
  case " $ETCD_BENCH_PARTS " in *" $1 "*) return 0 ;; esac
  return 1
}

# daemon_pids: the pids in the lock files of every latchd this script
# started (one runtime directory per daemon under $TMP/run-*).
daemon_pids () {
  local f pid
  for f in "$TMP"/run-*/latch/etcd-*.sock.lock; do
    [ -s "$f" ] || continue
    pid=$(head -n 1 "$f")
    case $pid in *[!0-9]* | '') continue ;; esac
    echo "$pid"
  done
}

# shellcheck disable=SC2317 # invoked through the trap
cleanup () {
  local pid
  for pid in $(daemon_pids); do kill -KILL "$pid" 2>/dev/null; done
  for pid in "${ETCD_PIDS[@]}"; do
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  rm -rf "$TMP"
}
bench_traps

fail () { # WHAT
  echo "bench-etcd.sh: $1" >&2
  status=1
}

# wait_until SECONDS COMMAND...: COMMAND until it succeeds, every 20 ms,
# for at most SECONDS; its status.
wait_until () {
  local end=$(($(date +%s%N) + $1 * 1000000000))
  shift
  while ! "$@"; do
    [ "$(date +%s%N)" -lt "$end" ] || return 1
    sleep 0.02
  done
}

# ratio A B: A / B with two decimals and an x (blank when either is missing).
ratio () {
  if [ -n "$1" ] && [ -n "$2" ]; then
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b }'
  fi
}

# field NAME FILE: the value of NAME=VALUE in FILE's first line that has it.
field () {
  sed -n "s/.* $1=\([0-9.]*\).*/\1/p" "$2" | head -n 1
}

# ---- etcd members --------------------------------------------------------

# unused_port BASE: a TCP port from BASE up that no socket uses in any state
# (free_port looks at listeners only; a member's bind also fails on a port
# that a connection holds).  BASE is below the usual ephemeral range.
unused_port () {
  local port=$1
  while port=$(free_port "$port"); do
    if [ -z "$(ss -Htan "( sport = :$port or dport = :$port )" 2>/dev/null)" ]; then
      echo "$port"
      return 0
    fi
    port=$((port + 1))
  done
  return 1
}

# etcd_cluster N: N members on 127.0.0.1 (etcd's default timing), their
# client URLs in EP[1..N], pids in ETCD_PIDS[1..N], all in ENDPOINTS;
# waits until they are healthy.
declare -a EP
etcd_cluster () {
  local n=$1 k port cluster="" cport pport
  local -a cports pports
  port=$((20000 + ($$ * 7 + n * 100) % 12000))
  for k in $(seq 1 "$n"); do
    cport=$(unused_port "$port") || return 1
    pport=$(unused_port $((cport + 1))) || return 1
    port=$((pport + 1))
    cports[k]=$cport
    pports[k]=$pport
    cluster="$cluster${cluster:+,}m$k=http://127.0.0.1:$pport"
  done
  ENDPOINTS=""
  for k in $(seq 1 "$n"); do
    EP[k]=http://127.0.0.1:${cports[k]}
    ENDPOINTS="$ENDPOINTS${ENDPOINTS:+,}${EP[k]}"
    "$ETCD" --name "m$k" --data-dir "$TMP/etcd$n-$k.data" \
      --listen-client-urls "${EP[k]}" --advertise-client-urls "${EP[k]}" \
      --listen-peer-urls "http://127.0.0.1:${pports[k]}" \
      --initial-advertise-peer-urls "http://127.0.0.1:${pports[k]}" \
      --initial-cluster "$cluster" --initial-cluster-state new \
      --initial-cluster-token "latch-bench-$$-$n" \
      >"$TMP/etcd$n-$k.log" 2>&1 &
    ETCD_PIDS[k]=$!
  done
  if ! wait_until 30 "$ETCDCTL" --endpoints="$ENDPOINTS" --dial-timeout=1s \
         --command-timeout=2s endpoint health >/dev/null 2>&1; then
    fail "etcd ($n members) not healthy in 30 s; see the logs:"
    tail -n 5 "$TMP"/etcd"$n"-*.log >&2
    return 1
  fi
}

etcd_cluster_stop () {
  local pid
  for pid in "${ETCD_PIDS[@]}"; do
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  ETCD_PIDS=()
}

# etcd_leader: K of the leader (the member whose status says it leads).
# etcdctl prints [] for a member that does not answer: null == null must
# not make it the leader.
etcd_leader () {
  local k
  for k in "${!EP[@]}"; do
    if "$ETCDCTL" --endpoints="${EP[k]}" --dial-timeout=1s --command-timeout=1s \
         endpoint status -w json 2>/dev/null |
       jq -e '.[0].Status | .leader != null and .header.member_id == .leader' \
         >/dev/null 2>&1; then
      echo "$k"
      return 0
    fi
  done
  return 1
}

# metric_sum FILE METHOD: the sum over FILE (a /metrics page) of
# grpc_server_msg_received_total for that gRPC method.
metric_sum () {
  awk -v m="grpc_method=\"$2\"" '
    /^grpc_server_msg_received_total/ && index($0, m) { s += $NF }
    END { printf "%d\n", s }' "$1"
}

# ---- latch daemons -------------------------------------------------------

# lx NAME [latch options]: the latch command as user NAME (its own runtime
# directory, $TMP/run-NAME, hence its own latchd).
lx () {
  local name=$1
  shift
  mkdir -p "$TMP/run-$name" "$TMP/home-$name" && chmod 700 "$TMP/run-$name"
  XDG_RUNTIME_DIR=$TMP/run-$name HOME=$TMP/home-$name timeout "$STEP_TIMEOUT" "$LATCH" "$@"
}

# sock_of NAME / pid_of NAME: the etcd daemon's socket / pid of user NAME.
sock_of () {
  local f
  for f in "$TMP/run-$1"/latch/etcd-*.sock; do [ -S "$f" ] && echo "$f"; done | head -n 1
}
pid_of () {
  local f
  for f in "$TMP/run-$1"/latch/etcd-*.sock.lock; do [ -s "$f" ] && head -n 1 "$f"; done |
    head -n 1
}

# start_daemon NAME ENDPOINTS [latch options]: starts user NAME's daemon
# (lifespan -1: it stays) with one command; its socket in SOCK.
start_daemon () {
  local name=$1 eps=$2
  shift 2
  SOCK=
  if ! lx "$name" --etcd-endpoints="$eps" "$@" -d -1 -r warm -- true; then
    fail "could not start the daemon $name on $eps"
    return 1
  fi
  SOCK=$(sock_of "$name")
  [ -n "$SOCK" ] || { fail "daemon $name: no socket in $TMP/run-$name/latch"; return 1; }
}

echo "date:   $(date '+%Y-%m-%d %H:%M:%S %z')"
echo "nproc:  $(nproc)"
echo "load:   $(cut -d ' ' -f 1-3 /proc/loadavg) (load average at the start)"
echo "etcd:   $("$ETCD" --version 2>/dev/null | head -n 1) (data on $(df -T "$TMP" | awk 'NR == 2 { print $2 }'))"
echo "module: ${LATCH_ETCD_MODULE:-the installed one}"
echo

# ---- 1. one member: round trips and latency --------------------------------

if { part 1 || part 2 || part 3; } && etcd_cluster 1 && start_daemon one "$ENDPOINTS"; then
  E=$ENDPOINTS
fi
if part 1 && [ -n "${SOCK:-}" ]; then
  echo "== etcd 1: one member, lock+unlock through latchd (one handle reused)"
  echo "-- etcd requests per lock+unlock ($COUNT_CYCLES cycles + 1 warm-up," \
    "grpc_server_msg_received_total from $E/metrics)"
  # (The revision first: that read is not one of the cycles'.)
  rev0=$("$ETCDCTL" --endpoints="$E" get /none -w json 2>/dev/null | jq '.header.revision')
  curl -s --max-time 10 "$E/metrics" >"$TMP/m0"
  t0=$(date +%s%N)
  timeout "$STEP_TIMEOUT" "$BENCH" --socket "$SOCK" --resource count --cycles "$COUNT_CYCLES" \
    --rounds 1 >"$TMP/count.out"
  rc=$?
  t1=$(date +%s%N)
  curl -s --max-time 10 "$E/metrics" >"$TMP/m1"
  if [ $rc -ne 0 ] || [ ! -s "$TMP/m0" ] || [ ! -s "$TMP/m1" ]; then
    fail "counting round trips: bench-etcd exit $rc, or /metrics unreadable"
  else
    cat "$TMP/count.out"
    n=$((COUNT_CYCLES + 1))
    per_cycle_total=0
    for method in Txn Range Put DeleteRange LeaseGrant LeaseRevoke LeaseKeepAlive Watch; do
      d=$(($(metric_sum "$TMP/m1" "$method") - $(metric_sum "$TMP/m0" "$method")))
      [ "$d" -eq 0 ] && continue
      printf '  %-15s %6d requests  %s per lock+unlock\n' "$method" "$d" \
        "$(awk -v d="$d" -v n="$n" 'BEGIN { printf "%.3f", d / n }')"
      case $method in LeaseKeepAlive | Watch) ;; *) per_cycle_total=$((per_cycle_total + d)) ;; esac
    done
    echo "  (LeaseKeepAlive: the daemon's renewals, every TTL/3 whatever the load;" \
      "Watch: requests on the daemon's watch stream; both left out of the count;" \
      "run time $(((t1 - t0) / 1000000)) ms)"
    rt=$(awk -v d="$per_cycle_total" -v n="$n" 'BEGIN { printf "%.2f", d / n }')
    echo "RESULT etcd round trips per lock+unlock (Txn+Range+Put+DeleteRange+Lease*):" \
      "$rt (goal <= 2)"
    # What those txns wrote: etcd's history of the request keys since rev0
    # (a watch from a past revision replays it at once; the timeout ends
    # the watch, which never ends by itself).  A request key's value
    # starts "1 H" (held) or "1 W" (waiting).
    if [ -n "$rev0" ] && [ "$rev0" != null ]; then
      timeout 5 "$ETCDCTL" --endpoints="$E" watch --prefix /latch/q/ --rev $((rev0 + 1)) \
        -w json >"$TMP/history.json" 2>/dev/null
      echo "  writes to request keys per lock+unlock, from etcd's history:" \
        "$(jq -r -s --argjson n "$n" '
            [.[] | .Events[]? | if .type == 1 then "delete"
              else "put " + ((.kv.value | @base64d | split(" "))[1]) end]
            | group_by(.) | map("\(.[0]) \(length / $n * 1000 | round / 1000)") | join(", ")' \
            "$TMP/history.json")"
    fi
  fi

  echo "-- p50 latency: lock+unlock vs a raw txn (compare mod_revision + put) through" \
    "latch-etcd.so, $ROUNDS alternating rounds of $CYCLES each"
  if timeout "$STEP_TIMEOUT" "$BENCH" --socket "$SOCK" --endpoint "$E" --cycles "$CYCLES" \
       --rounds "$ROUNDS" --resource latency >"$TMP/lat.out"; then
    cat "$TMP/lat.out"
    lock_p50=$(sed -n 's/.*what=lock_unlock .*p50_us=\([0-9]*\).*/\1/p' "$TMP/lat.out")
    txn_p50=$(sed -n 's/.*what=raw_txn .*p50_us=\([0-9]*\).*/\1/p' "$TMP/lat.out")
    echo "RESULT p50 lock+unlock ${lock_p50} us / p50 raw etcd txn ${txn_p50} us:" \
      "$(ratio "$lock_p50" "$txn_p50") (goal <= 1.50x)"
  else
    cat "$TMP/lat.out"
    fail "bench-etcd latency: failed"
  fi
  echo
fi

# ---- 2. whole command --------------------------------------------------------
if part 2 && [ -n "${SOCK:-}" ]; then
  echo "== etcd 2: whole command, same member, latch's daemon already running"
  if ! command -v hyperfine >/dev/null 2>&1; then
    echo "hyperfine is not installed: skipped (apt-get install hyperfine)"
  else
    latch_cmd="$LATCH --etcd-endpoints=$E -r hf -- true"
    etcdctl_cmd="$ETCDCTL --endpoints=$E lock hf true"
    XDG_RUNTIME_DIR=$TMP/run-one HOME=$TMP/home-one timeout 600 \
      hyperfine -N --style basic --warmup 10 --runs 200 \
      --export-json "$TMP/hf.json" --export-markdown "$TMP/hf.md" \
      --command-name "latch --etcd-endpoints=E -r hf -- true" \
      --command-name "etcdctl --endpoints=E lock hf true" \
      "$latch_cmd" "$etcdctl_cmd"
    rc=$?
    # One daemon in that runtime directory: the commands used the one
    # started above, none of their own (same cluster setting, same socket).
    nsock=$(find "$TMP/run-one/latch" -name 'etcd-*.sock' | wc -l)
    [ "$nsock" = 1 ] || fail "hyperfine's latch commands did not all use the running daemon ($nsock sockets)"
    if [ $rc -eq 0 ] && [ -s "$TMP/hf.json" ]; then
      echo
      cat "$TMP/hf.md"
      lm=$(jq '.results[0].mean * 1000' "$TMP/hf.json")
      em=$(jq '.results[1].mean * 1000' "$TMP/hf.json")
      lmed=$(jq '.results[0].median * 1000' "$TMP/hf.json")
      emed=$(jq '.results[1].median * 1000' "$TMP/hf.json")
      echo "RESULT latch -- true mean $(printf '%.2f' "$lm") ms / etcdctl lock mean" \
        "$(printf '%.2f' "$em") ms: $(ratio "$lm" "$em") (goal <= 0.50x);" \
        "medians $(ratio "$lmed" "$emed")"
    else
      fail "hyperfine: failed (exit status $rc)"
    fi
  fi
  echo
fi

# ---- 3. a holder's host lost ---------------------------------------------------
if part 3 && [ -n "${SOCK:-}" ]; then
  echo "== etcd 3: a holder's latchd killed (SIGKILL); a waiter on another daemon"
  # queued USER TTL R: one waiter on R, as USER's daemon's status shows it
  # (the table is shared: another daemon's waiter counts).
  # shellcheck disable=SC2317 # invoked through wait_until
  queued () {
    [ "$(lx "$1" --etcd-endpoints="$E" --lease-ttl="$2" status --json -r "$3" 2>/dev/null |
         jq '.resources[0].waiters | length' 2>/dev/null)" = 1 ]
  }
  for ttl in $ETCD_BENCH_TTLS; do
    times=""
    for trial in $(seq 1 "$ETCD_BENCH_TRIALS"); do
      a=lostA$ttl b=lostB$ttl r=lost${ttl}t$trial
      rm -f "$TMP/held" "$TMP/started" "$TMP/go"
      # The holder: says so, then stays until told to go (or its lock is lost).
      # shellcheck disable=SC2016 # $1: the inner shell's
      lx "$a" --etcd-endpoints="$E" --lease-ttl="$ttl" -d -1 -r "$r" -- \
        sh -c 'touch "$1/held"; while [ ! -e "$1/go" ]; do sleep 0.05; done' sh "$TMP" \
        >/dev/null 2>&1 &
      holder=$!
      if ! wait_until 20 test -e "$TMP/held"; then
        fail "ttl $ttl trial $trial: the holder never ran"
        touch "$TMP/go"; wait "$holder"
        continue
      fi
      # shellcheck disable=SC2016 # $1: the inner shell's
      lx "$b" --etcd-endpoints="$E" --lease-ttl="$ttl" -d -1 -r "$r" -- \
        sh -c 'date +%s%N > "$1/started"' sh "$TMP" >/dev/null 2>&1 &
      waiter=$!
      if ! wait_until 20 queued "$a" "$ttl" "$r"; then
        fail "ttl $ttl trial $trial: the waiter on daemon B was never seen queued"
      fi
      pa=$(pid_of "$a")
      k0=$(date +%s%N)
      kill -KILL "$pa"
      if wait_until $((ttl + 20)) test -s "$TMP/started"; then
        ms=$((($(cat "$TMP/started") - k0) / 1000000))
        times="$times $ms"
      else
        fail "ttl $ttl trial $trial: the waiter did not start within $((ttl + 20)) s"
      fi
      touch "$TMP/go"
      wait "$holder" "$waiter" 2>/dev/null
    done
    [ -n "$times" ] || continue
    # shellcheck disable=SC2086 # times: numbers
    summary=$(printf '%s\n' $times | sort -n |
      awk '{ v[NR] = $1 } END { printf "min %d, median %d, max %d ms", v[1], v[int((NR + 1) / 2)], v[NR] }')
    # shellcheck disable=SC2086 # times: numbers
    max=$(printf '%s\n' $times | sort -n | tail -n 1)
    echo "  --lease-ttl=$ttl, $ETCD_BENCH_TRIALS trials, kill -> waiter's command started (ms):$times"
    echo "RESULT host lost, LeaseTtl $ttl s: $summary; worst / (LeaseTtl + 1 s)" \
      "$(ratio "$max" $(((ttl + 1) * 1000))) (goal <= 1.00x)"
  done
  echo
fi
for pid in $(daemon_pids); do kill -KILL "$pid" 2>/dev/null; done
etcd_cluster_stop

# ---- 4. the leader killed in a 3-member cluster --------------------------------

if part 4; then
  echo "== etcd 4: three members, the leader killed (SIGKILL) while two daemons lock in a loop"
fi
if part 4 && etcd_cluster 3; then
  if ! leader=$(etcd_leader); then
    fail "no leader found among ${EP[*]}"
  else
    # Daemon L talks to the leader (its endpoint first: the client uses the
    # first that answers); daemon F to a follower.
    follower=$((leader % 3 + 1))
    other=$((follower % 3 + 1))
    eps_l="${EP[leader]},${EP[follower]},${EP[other]}"
    eps_f="${EP[follower]},${EP[other]},${EP[leader]}"
    # Their traces are shown when a daemon does not survive the kill.
    if start_daemon onleader "$eps_l" -t "$TMP/onleader.trace" && sock_l=$SOCK &&
       start_daemon onfollower "$eps_f" -t "$TMP/onfollower.trace" && sock_f=$SOCK; then
      echo "-- no kill, $((LOOP_SECONDS / 2)) s each, one after the other:"
      for d in l f; do
        if [ $d = l ]; then sock=$sock_l; else sock=$sock_f; fi
        timeout "$STEP_TIMEOUT" "$BENCH" --socket "$sock" --resource "base$d" \
          --loop $((LOOP_SECONDS / 2)) >"$TMP/base-$d.out" || fail "loop (no kill, $d): failed"
        sed "s/^/  daemon on the $([ $d = l ] && echo leader || echo follower): /" "$TMP/base-$d.out"
      done
      echo "-- both at once for $LOOP_SECONDS s; member m$leader (the leader) killed after $KILL_AFTER s:"
      timeout "$STEP_TIMEOUT" "$BENCH" --socket "$sock_l" --resource killl --loop "$LOOP_SECONDS" \
        >"$TMP/kill-l.out" &
      loop_l=$!
      timeout "$STEP_TIMEOUT" "$BENCH" --socket "$sock_f" --resource killf --loop "$LOOP_SECONDS" \
        >"$TMP/kill-f.out" &
      loop_f=$!
      sleep "$KILL_AFTER" # the loops' time line, not a wait for state
      k0_us=$(($(date +%s%N) / 1000))
      kill -KILL "${ETCD_PIDS[leader]}"
      wait "${ETCD_PIDS[leader]}" 2>/dev/null
      ETCD_PIDS[leader]=""
      wait "$loop_l" || fail "loop on the leader's daemon: failed (exit $?)"
      wait "$loop_f" || fail "loop on the follower's daemon: failed (exit $?)"
      new_leader=$(etcd_leader) || new_leader="none"
      echo "  new leader: m$new_leader"
      for d in l f; do
        what=$([ $d = l ] && echo "leader's endpoint" || echo "follower's endpoint")
        sed "s/^/  daemon on the $what: /" "$TMP/kill-$d.out"
        gap=$(field max_gap_ms "$TMP/kill-$d.out")
        base=$(field max_gap_ms "$TMP/base-$d.out")
        start=$(field gap_start_us "$TMP/kill-$d.out")
        grants=$(field grants "$TMP/kill-$d.out")
        [ -n "$gap" ] || continue
        rel=$(awk -v s="$start" -v k="$k0_us" 'BEGIN { printf "%+.0f", (s - k) / 1000 }')
        echo "RESULT leader killed, daemon on the $what: longest gap between grants" \
          "$gap ms (began ${rel} ms from the kill; without a kill $base ms; $grants grants" \
          "in $LOOP_SECONDS s)"
        dname=on$([ $d = l ] && echo leader || echo follower)
        dpid=$(pid_of "$dname")
        if [ -z "$dpid" ] || ! kill -0 "$dpid" 2>/dev/null; then
          fail "the daemon on the $what is gone after the leader was killed; its trace ends:"
          tail -n 12 "$TMP/$dname.trace" | sed 's/^/    /' >&2
        fi
      done
    fi
  fi
fi
for pid in $(daemon_pids); do kill -KILL "$pid" 2>/dev/null; done
etcd_cluster_stop
echo
echo "load:   $(cut -d ' ' -f 1-3 /proc/loadavg) (load average at the end)"
exit "$status"
