#!/bin/bash
# bench-agent.sh: the local agent (latchd --agent), which holds one
# persistent session per upstream daemon for the commands of its host.
#
# Called by run.sh (LATCH, LATCH_DAEMON, BENCH_DIR absolute;
# BENCH_SECONDS; LATCH_TLS_MODULE when built).  Two parts:
#
# (a) Whole command, with hyperfine, on 127.0.0.1 (no root needed), all in
#     one hyperfine run so that the machine's load is the same for each:
#       latch -s SOCK -r bench -- true               the local daemon
#       latch -a 127.0.0.1 -p P ... -r bench -- true through an agent already
#                                                    running (clear, channel,
#                                                    mutual)
#       latch --agent=no -a 127.0.0.1 -p P ...       a connection (and at TLS
#                                                    levels a handshake) each
#     with one upstream daemon per level (started with --agent=no, -d -1)
#     and the agents started beforehand by one command each (-d 600000, so
#     that they outlive the pauses).  Ratios: agent/local, agent/direct,
#     mutual/clear through the agent (the issue's goal: <= 130%).
# (b) Contention across hosts (as root; network namespaces, built with
#     tests/integration/netns-lib.sh): an upstream daemon on h1, N client
#     loops (N = 8 and 64) spread over h2, h3 and h4, each running
#     `latch -V -a 192.0.2.11 -p P -r R -- bash crit.sh` back to back for
#     BENCH_SECONDS, through each host's agent, then the same with
#     --agent=no, in the same run.  Per run: grants per second (grants
#     over first grant .. last release), double grants (critical sections
#     that overlap: must be 0), and FIFO exactness: a request counts as
#     queued from the moment its latch printed "waiting for" (-V), and a
#     grant overtakes it when that grant's request was made after that
#     moment yet served first.  The count is of such pairs (a lower bound:
#     only the overtakes that timestamps prove); 0 is exact FIFO.  The
#     client hosts run with net.ipv4.tcp_tw_reuse=1 (bench-netns.sh says
#     why: --agent=no leaves a TIME_WAIT socket per lock).
# FLoM is not installable on this machine (no package; its sources cannot
# be fetched here): no FLoM figures; the script says so.
# Every step is bounded by `timeout`; every daemon and agent is this
# script's own, in private directories, stopped or killed by pid at exit.
# Exits non-zero when a step fails.

set -u

BENCH_SECONDS=${BENCH_SECONDS:-3}
HYPERFINE_TIMEOUT=600
# shellcheck source-path=SCRIPTDIR source=bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
require_vars bench-agent.sh LATCH LATCH_DAEMON BENCH_DIR
export LATCH LATCH_DAEMON
SCRIPT_DIR=$(absolute "$(dirname "$0")")
TLS_CERTS_SH=$SCRIPT_DIR/../tls-certs.sh
NETNS_LIB=$SCRIPT_DIR/../integration/netns-lib.sh
# The levels of part (b) (each one costs two runs per client count), and
# the parts to run.
AGENT_BENCH_LEVELS=${AGENT_BENCH_LEVELS:-clear mutual}
AGENT_BENCH_PARTS=${AGENT_BENCH_PARTS:-a b}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/latch-bench-agent.XXXXXX") || exit 1
TMP=$(absolute "$TMP")
RUN_DIR=$TMP/run
mkdir -m 700 "$RUN_DIR" || exit 1
LOCAL_SOCK=$TMP/local.sock
PKI=$TMP/pki
LEVELS="clear channel mutual"
declare -A PORT OPTS

# agent_pids DIR: the pids in the agents' lock files under DIR (latch's
# private socket directory), for the processes that are agents.
agent_pids () {
  local f pid
  for f in "$1"/agent-*.lock; do
    [ -s "$f" ] || continue
    pid=$(head -n 1 "$f")
    case $pid in *[!0-9]* | '') continue ;; esac
    if tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- '--agent'; then
      echo "$pid"
    fi
  done
}

# shellcheck disable=SC2317 # invoked through the trap
cleanup () {
  local l pid
  if [ -S "$LOCAL_SOCK" ]; then
    timeout 10 "$LATCH" -s "$LOCAL_SOCK" -X >/dev/null 2>&1
  fi
  for l in $LEVELS; do
    [ -n "${PORT[$l]:-}" ] || continue
    # shellcheck disable=SC2086 # OPTS: words
    XDG_RUNTIME_DIR=$RUN_DIR timeout 10 "$LATCH" --agent=no -a 127.0.0.1 -p "${PORT[$l]}" \
      ${OPTS[$l]:-} -X >/dev/null 2>&1
  done
  for pid in $(agent_pids "$RUN_DIR/latch"); do kill -TERM "$pid" 2>/dev/null; done
  rm -rf "$TMP"
}
bench_traps

status=0
fail () { # WHAT
  echo "bench-agent: $1" >&2
  status=1
}

# field NAME FILE, ratio A B: as in run.sh.
ratio () {
  if [ -n "$1" ] && [ -n "$2" ]; then
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f%%", 100 * a / b }'
  fi
}

echo "== agent: load average at the start: $(cut -d ' ' -f 1-3 /proc/loadavg)"
echo
echo "== agent: FLoM"
echo "FLoM is not installable on this machine (no package of it in the registries"
echo "reached; its sources cannot be fetched): no FLoM figures below."
echo

# ---- (a) whole command through an agent --------------------------------------
tls_skip=$(tls_missing "build it: make latch-tls.la; or set LATCH_TLS_MODULE")
if [ -n "$tls_skip" ]; then
  echo "agent: TLS levels skipped: $tls_skip"
  LEVELS=clear
else
  machine_id=$(timeout 10 "$LATCH" --unique-id)
  if [ -z "$machine_id" ] || ! timeout 120 bash "$TLS_CERTS_SH" "$PKI" "$machine_id"; then
    fail "tls-certs.sh: could not make the test PKI in $PKI"
    LEVELS=clear
  fi
fi
OPTS[clear]=""
OPTS[channel]="--tls-certificate=$PKI/peer1_ca1.pem --tls-private-key=$PKI/peer1_ca1.key --tls-ca-certificate=$PKI/ca1.pem"
OPTS[mutual]="${OPTS[channel]} --tls-check-peer-id=yes"
port=$((20000 + $$ % 20000))
for l in $LEVELS; do
  PORT[$l]=$(free_port "$port") || exit 1
  port=$((PORT[$l] + 1))
done

echo "== agent: whole command, \`latch ... -- true\`, on 127.0.0.1"
ok=1
if [ "${AGENT_BENCH_PARTS#*a}" = "$AGENT_BENCH_PARTS" ]; then
  echo "skipped (AGENT_BENCH_PARTS=$AGENT_BENCH_PARTS)"
  ok=0
elif ! command -v hyperfine >/dev/null 2>&1; then
  echo "hyperfine is not installed: skipped (apt-get install hyperfine)"
  ok=0
elif ! XDG_RUNTIME_DIR=$RUN_DIR timeout 20 "$LATCH" -s "$LOCAL_SOCK" -d -1 -r warm -- true; then
  fail "could not start the local daemon at $LOCAL_SOCK"
  ok=0
fi
names=(); cmds=()
if [ $ok = 1 ]; then
  names+=("latch -s SOCK -r bench -- true"); cmds+=("$LATCH -s $LOCAL_SOCK -r bench -- true")
  for l in $LEVELS; do
    p=${PORT[$l]}
    # The upstream: started directly; then the agent, by one command.
    # shellcheck disable=SC2086 # OPTS: words
    if ! XDG_RUNTIME_DIR=$RUN_DIR timeout 20 "$LATCH" --agent=no -a 127.0.0.1 -p "$p" \
         ${OPTS[$l]} -d -1 -r warm -- true; then
      fail "$l: could not start the upstream daemon on 127.0.0.1:$p"
      ok=0
      continue
    fi
    before=$(agent_pids "$RUN_DIR/latch" | wc -l)
    # shellcheck disable=SC2086
    if ! XDG_RUNTIME_DIR=$RUN_DIR timeout 20 "$LATCH" -a 127.0.0.1 -p "$p" ${OPTS[$l]} \
         -d 600000 -r warm -- true; then
      fail "$l: the first command through the agent failed"
      ok=0
      continue
    fi
    after=$(agent_pids "$RUN_DIR/latch" | wc -l)
    echo "$l: upstream 127.0.0.1:$p; agents running: $after (was $before)"
    [ "$after" -gt "$before" ] || fail "$l: no agent appeared in $RUN_DIR/latch"
    names+=("latch -a 127.0.0.1 -p P ($l) -r bench -- true")
    cmds+=("$LATCH -a 127.0.0.1 -p $p ${OPTS[$l]} -r bench -- true")
  done
  for l in $LEVELS; do
    names+=("latch --agent=no -a 127.0.0.1 -p P ($l) -r bench -- true")
    cmds+=("$LATCH --agent=no -a 127.0.0.1 -p ${PORT[$l]} ${OPTS[$l]} -r bench -- true")
  done
fi
if [ $ok = 1 ]; then
  hf=()
  for i in "${!cmds[@]}"; do hf+=(--command-name "${names[$i]}" "${cmds[$i]}"); done
  XDG_RUNTIME_DIR=$RUN_DIR timeout "$HYPERFINE_TIMEOUT" hyperfine -N --style basic \
    --warmup 20 --runs 300 --export-markdown "$TMP/hf.md" --export-json "$TMP/hf.json" "${hf[@]}"
  rc=$?
  if [ "$rc" -eq 0 ] && [ -s "$TMP/hf.json" ]; then
    echo
    cat "$TMP/hf.md"
    mapfile -t means < <(sed -n 's/^ *"mean": *\([0-9.e+-]*\),*$/\1/p' "$TMP/hf.json")
    declare -A via direct
    i=1
    for l in $LEVELS; do via[$l]=${means[$i]}; i=$((i + 1)); done
    for l in $LEVELS; do direct[$l]=${means[$i]}; i=$((i + 1)); done
    echo
    for l in $LEVELS; do
      echo "$l: through the agent / local socket $(ratio "${via[$l]}" "${means[0]}")," \
        "through the agent / --agent=no $(ratio "${via[$l]}" "${direct[$l]}")"
    done
    if [ -n "${via[mutual]:-}" ]; then
      echo "mutual / clear through the agent: $(ratio "${via[mutual]}" "${via[clear]}")" \
        "(goal <= 130%); mutual through the agent / local socket:" \
        "$(ratio "${via[mutual]}" "${means[0]}") (goal <= 130%)"
    fi
  else
    fail "hyperfine: failed (exit status $rc)"
  fi
fi
echo

# ---- (b) contention through agents on three hosts -----------------------------
echo "== agent: contention, one EX resource, clients on 3 hosts (network namespaces)"
if [ "${AGENT_BENCH_PARTS#*b}" = "$AGENT_BENCH_PARTS" ]; then
  echo "agent contention: skipped (AGENT_BENCH_PARTS=$AGENT_BENCH_PARTS)"
  exit "$status"
fi
if [ "$(id -u)" != 0 ]; then
  echo "agent contention: skipped: needs root for network namespaces"
  exit "$status"
fi
if ! command -v ip >/dev/null 2>&1 || ! command -v unshare >/dev/null 2>&1; then
  echo "agent contention: skipped: needs ip(8) and unshare(1)"
  exit "$status"
fi

# The critical section: the grant (with the time the client asked) and
# the release, as two lines.
cat > "$TMP/crit.sh" <<'EOF'
# crit.sh ID Q FILE
printf '%s %s S %s\n' "${EPOCHREALTIME/./}" "$1" "$2" >> "$3"
printf '%s %s E\n' "${EPOCHREALTIME/./}" "$1" >> "$3"
EOF
# One client: says it is ready (DIR/ready.ID), waits for DIR/go, which
# holds the end of the run (us), and locks back to back until then.  latch -V says
# "waiting for" on stderr when the daemon queued the request; a reader
# stamps that line with the time it saw it (never earlier than the
# queueing).
cat > "$TMP/client.sh" <<'EOF'
# client.sh ID DIR RESOURCE FILE CRIT LATCH-ARGS...
id=$1 dir=$2 res=$3 out=$4 crit=$5
shift 5
: > "$dir/ready.$id"
until [ -s "$dir/go" ]; do sleep 0.01; done
read -r end < "$dir/go"
exec 3> >(while IFS= read -r line; do
            case $line in
              *"waiting for"*) printf '%s %s W\n' "${EPOCHREALTIME/./}" "$id" ;;
              "latch: "*) printf '%s %s X %s\n' "${EPOCHREALTIME/./}" "$id" "$line" ;;
            esac
          done >> "$out")
stamper=$!
while [ "${EPOCHREALTIME/./}" -lt "$end" ]; do
  q=${EPOCHREALTIME/./}
  "$@" -V -r "$res" -- bash "$crit" "$id" "$q" "$out" > /dev/null 2>&3
  st=$?
  [ $st = 0 ] || printf '%s %s F %s\n' "${EPOCHREALTIME/./}" "$id" "$st" >> "$out"
done
exec 3>&-
wait "$stamper"
EOF

# analyse FILE: one line of figures from a run's events (time-sorted).
analyse () {
  sort -n -k1,1 "$1" | awk '
    $3 == "W" { lastw[$2] = $1 }
    $3 == "F" { failed++; status[$4]++ }
    $3 == "X" && msg == "" { msg = $0; sub(/^[^ ]* [^ ]* X /, "", msg) }
    $3 == "S" {
      if (holder != "") double++
      holder = $2
      n++; s[n] = $1; q[n] = $4
      w[n] = ($2 in lastw && lastw[$2] > $4) ? lastw[$2] : -1
      if (w[n] >= 0) queued++
      if (first == "") first = $1
    }
    $3 == "E" { if (holder == $2) holder = ""; last = $1 }
    END {
      # Grant j (queued since w[j]) is overtaken by every earlier grant i
      # whose request came after w[j]; such an i was granted after w[j].
      for (j = 1; j <= n; j++) {
        if (w[j] < 0) continue
        hit = 0
        for (i = j - 1; i >= 1 && s[i] > w[j]; i--)
          if (q[i] > w[j]) { pairs++; hit = 1 }
        overtaken += hit
      }
      secs = (last - first) / 1e6
      printf "grants=%d seconds=%.2f grants_per_s=%.0f queued=%d fifo_overtakes=%d " \
             "overtaken_requests=%d double_grants=%d failed=%d\n",
             n, secs, (secs > 0 ? n / secs : 0), queued, pairs + 0, overtaken + 0,
             double + 0, failed + 0
      for (st in status) printf "  exit status %s: %d times\n", st, status[st]
      if (msg != "") printf "  first error: %s\n", msg
    }'
}

(
  # netns-lib.sh's traps end the namespaces with this subshell; its
  # cleanup is the integration tests' (lib.sh): nothing to do here.
  # shellcheck disable=SC2317 # invoked through netns-lib.sh's trap
  cleanup () { :; }
  T=$TMP/ns
  mkdir -p "$T"
  # shellcheck disable=SC2034 # in_host's bound, read by netns-lib.sh
  NS_TIMEOUT=$((BENCH_SECONDS + 40))
  # shellcheck source=/dev/null # tests/integration/netns-lib.sh
  . "$NETNS_LIB"
  # shellcheck disable=SC2317 # called by ns_setup
  ns_skip () {
    echo "agent contention: skipped: $*"
    exit 0
  }
  ns_setup 4
  A1=$(ns_addr4 1)
  for i in 2 3 4; do ns_sysctl "$(ns_name $i)" net/ipv4/tcp_tw_reuse 1; done
  echo "upstream host h1 ($A1), client hosts h2 h3 h4 ($(ns_addr4 2) ..);" \
    "client hosts: net.ipv4.tcp_tw_reuse=1"
  st=0
  hpki=$T/pki
  case " $AGENT_BENCH_LEVELS " in
    *" channel "* | *" mutual "*)
      tls_skip=$(tls_missing "build it: make latch-tls.la; or set LATCH_TLS_MODULE")
      if [ -z "$tls_skip" ] && ! timeout 120 bash "$TLS_CERTS_SH" "$hpki" "$(ns_machine_id 1)" \
           "host1=$(ns_machine_id 1)" "host2=$(ns_machine_id 2)" \
           "host3=$(ns_machine_id 3)" "host4=$(ns_machine_id 4)"; then
        tls_skip="tls-certs.sh failed"
        st=1
      fi
      ;;
  esac
  # hopts LEVEL HOST: the security options of HOST at LEVEL (node
  # certificates whose CN is the host's machine ID).
  hopts () {
    local files="--tls-certificate=$hpki/host$2.pem --tls-private-key=$hpki/host$2.key"
    files="$files --tls-ca-certificate=$hpki/ca1.pem"
    case $1 in
      channel) echo "$files" ;;
      mutual) echo "$files --tls-check-peer-id=yes" ;;
    esac
  }
  port=28015
  for l in $AGENT_BENCH_LEVELS; do
    port=$((port + 1))
    if [ "$l" != clear ] && [ -n "${tls_skip:-}" ]; then
      echo "$l: skipped: $tls_skip"
      continue
    fi
    # shellcheck disable=SC2046 # hopts: words
    if ! in_host 1 "$LATCH" --agent=no -a "$A1" -p "$port" $(hopts "$l" 1) -d -1 -r warm \
         -- true; then
      echo "bench-agent: $l: the upstream daemon did not start on $A1:$port" >&2
      st=1
      continue
    fi
    for h in 2 3 4; do
      # shellcheck disable=SC2046
      in_host "$h" "$LATCH" -a "$A1" -p "$port" $(hopts "$l" "$h") -d 600000 -r warm -- true ||
        { echo "bench-agent: $l: h$h's first command through its agent failed" >&2; st=1; }
    done
    for n in 8 64; do
      for mode in agent direct; do
        ev=$T/events.$l.$n.$mode
        : > "$ev"
        agentopt=
        [ $mode = direct ] && agentopt=--agent=no
        run=$T/run.$l.$n.$mode
        mkdir -p "$run"
        pids=""
        for k in $(seq 1 "$n"); do
          h=$((2 + k % 3))
          # shellcheck disable=SC2046,SC2086 # hopts: words; agentopt: 0 or 1 word
          in_host "$h" bash "$TMP/client.sh" "$k" "$run" "r$l$n$mode" "$ev" "$TMP/crit.sh" \
            "$LATCH" $agentopt -a "$A1" -p "$port" $(hopts "$l" "$h") &
          pids="$pids $!"
        done
        # All start together, once every one is ready (30 s at most).
        all_ready () { [ "$(find "$run" -name 'ready.*' | wc -l)" -ge "$n" ]; }
        deadline=$(( ${EPOCHREALTIME/./} + 30000000 ))
        until all_ready || [ "${EPOCHREALTIME/./}" -ge "$deadline" ]; do sleep 0.05; done
        all_ready || { echo "bench-agent: $l: not all $n clients started" >&2; st=1; }
        echo $(( ${EPOCHREALTIME/./} + BENCH_SECONDS * 1000000 )) > "$run/go.tmp"
        mv "$run/go.tmp" "$run/go"
        # The upstream connections from each client host, once half of
        # the clients had a grant (or after 10 s).
        half_granted () { [ "$(grep -c ' S ' "$ev")" -ge $((n / 2)) ]; }
        deadline=$(( ${EPOCHREALTIME/./} + 10000000 ))
        until half_granted || [ "${EPOCHREALTIME/./}" -ge "$deadline" ]; do sleep 0.05; done
        sessions="h2=$(ns_conns_from 1 "$port" "$(ns_addr4 2)"),"
        sessions="$sessions h3=$(ns_conns_from 1 "$port" "$(ns_addr4 3)"),"
        sessions="$sessions h4=$(ns_conns_from 1 "$port" "$(ns_addr4 4)")"
        for p in $pids; do wait "$p" || st=1; done
        figures=$(analyse "$ev")
        printf 'level=%s clients=%s agent=%s %s\n' "$l" "$n" \
          "$([ $mode = agent ] && echo yes || echo no)" "$figures"
        if ! printf '%s\n' "$figures" | grep -q ' double_grants=0 failed=0$' ||
           printf '%s\n' "$figures" | grep -q '^grants=0 '; then
          echo "bench-agent: $l, $n clients, agent=$mode: failures, double grants or no grant" >&2
          st=1
        fi
        [ $mode = agent ] && echo "  (upstream connections from the client hosts: $sessions)"
      done
    done
  done
  exit $st
) || status=1

exit "$status"
