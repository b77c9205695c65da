#!/bin/bash
# run.sh: the `make bench` driver.
#
# Run from the build directory.  LATCH and LATCH_DAEMON name the latch
# command and latchd (default ./latch and ./latchd here); BENCH_DIR names
# the directory of bench-lock, bench-pingpong and bench-handshake (default
# tests/bench).
# Every daemon lives on a socket in a private temp dir, or on 127.0.0.1 at
# a free port with its lock file in that dir, and is told to exit when
# this script ends; every step runs under `timeout`, so the whole run is
# bounded.  As root, bench-netns.sh (next to this script) then measures
# TCP and discovery between two network namespaces; otherwise one line
# says it was skipped.
#
# The TLS section needs certtool (GnuTLS), the module latch-tls.so
# (LATCH_TLS_MODULE; default .libs/latch-tls.so here, built by `make`) and
# bench-handshake.  It makes a test PKI in the temp dir once, with
# tests/tls-certs.sh next to this directory and this host's machine ID as
# the nodes' CN, then compares over TCP on 127.0.0.1: lock+unlock in clear
# text, at the channel level and at the mutual level (each bench-lock with
# a daemon of its own); handshakes per second in one process by key type;
# and with hyperfine the whole `latch -a 127.0.0.1 -p PORT -r R -- true`,
# clear against mutual TLS, each against a daemon of its own started
# before and stopped at the end.  Exits non-zero when a bench program
# fails.

set -u

# shellcheck source-path=SCRIPTDIR source=bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
bench_paths
SCRIPT_DIR=$(absolute "$(dirname "$0")")
export LATCH LATCH_DAEMON BENCH_DIR
# liblatch dlopen()s the TLS module from its installed path unless told
# otherwise: from the build directory, use the one built here.
if [ -z "${LATCH_TLS_MODULE:-}" ] && [ -f .libs/latch-tls.so ]; then
  LATCH_TLS_MODULE=$(absolute .libs/latch-tls.so)
fi
if [ -n "${LATCH_TLS_MODULE:-}" ]; then
  LATCH_TLS_MODULE=$(absolute "$LATCH_TLS_MODULE")
  export LATCH_TLS_MODULE
fi
TLS_CERTS_SH=$SCRIPT_DIR/../tls-certs.sh

BENCH_SECONDS=3
export BENCH_SECONDS
# Per step: the run time plus generous grace for start-up and shutdown.
STEP_TIMEOUT=$((BENCH_SECONDS + 30))
HYPERFINE_TIMEOUT=600
# bench-netns.sh bounds each of its steps by STEP_TIMEOUT; this bounds it all.
NETNS_TIMEOUT=$((8 * STEP_TIMEOUT))

for prog in "$LATCH" "$LATCH_DAEMON" "$BENCH_DIR/bench-lock" "$BENCH_DIR/bench-pingpong"; do
  if [ ! -x "$prog" ]; then
    echo "run.sh: $prog is missing or not executable (build it first: make bench)" >&2
    exit 1
  fi
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/latch-bench.XXXXXX") || exit 1
TMP=$(absolute "$TMP")
LOCK_SOCK=$TMP/lock.sock
HF_SOCK=$TMP/hyperfine.sock
# The TCP daemons' lock files go to $XDG_RUNTIME_DIR/latch: keep them here.
RUN_DIR=$TMP/run
mkdir -m 700 "$RUN_DIR" || exit 1

TCP_PORT=$(free_port $((20000 + $$ % 20000))) || exit 1
PP_PORT=$(free_port $((TCP_PORT + 1))) || exit 1
# The TLS section: bench-lock's own daemons (clear, channel, mutual), then
# the two daemons that hyperfine's commands use (clear, mutual).
TLS_CLEAR_PORT=$(free_port $((PP_PORT + 1))) || exit 1
TLS_CHANNEL_PORT=$(free_port $((TLS_CLEAR_PORT + 1))) || exit 1
TLS_MUTUAL_PORT=$(free_port $((TLS_CHANNEL_PORT + 1))) || exit 1
HF_CLEAR_PORT=$(free_port $((TLS_MUTUAL_PORT + 1))) || exit 1
HF_MUTUAL_PORT=$(free_port $((HF_CLEAR_PORT + 1))) || exit 1
PKI=$TMP/pki
# The latch options of each level, as arrays (paths have no spaces, but
# TMPDIR might).
TLS_CHANNEL_OPTS=(--tls-certificate="$PKI/peer1_ca1.pem" --tls-private-key="$PKI/peer1_ca1.key"
                  --tls-ca-certificate="$PKI/ca1.pem")
TLS_MUTUAL_OPTS=("${TLS_CHANNEL_OPTS[@]}" --tls-check-peer-id=yes)

# stop_tcp PORT [OPTION...]: tells the daemon on 127.0.0.1:PORT to exit,
# if its lock file says one may be there.
stop_tcp () {
  local port=$1
  shift
  if [ -e "$RUN_DIR/latch/tcp-127.0.0.1-$port.lock" ]; then
    XDG_RUNTIME_DIR=$RUN_DIR timeout 10 "$LATCH" -a 127.0.0.1 -p "$port" "$@" -X \
      >/dev/null 2>&1 || true
  fi
}

# shellcheck disable=SC2317 # invoked through the trap
cleanup () {
  for sock in "$LOCK_SOCK" "$HF_SOCK"; do
    if [ -S "$sock" ]; then
      timeout 10 "$LATCH" -s "$sock" -X >/dev/null 2>&1 || true
    fi
  done
  stop_tcp "$TCP_PORT"
  stop_tcp "$TLS_CLEAR_PORT"
  stop_tcp "$HF_CLEAR_PORT"
  if [ -f "$PKI/ca1.pem" ]; then
    stop_tcp "$TLS_CHANNEL_PORT" "${TLS_CHANNEL_OPTS[@]}"
    stop_tcp "$TLS_MUTUAL_PORT" "${TLS_MUTUAL_OPTS[@]}"
    stop_tcp "$HF_MUTUAL_PORT" "${TLS_MUTUAL_OPTS[@]}"
  fi
  rm -rf "$TMP"
}
bench_traps

status=0

# note_failure NAME RC: says why step NAME failed (RC != 0) and marks it.
note_failure () {
  [ "$2" -eq 0 ] && return 0
  if [ "$2" -eq 124 ]; then
    echo "run.sh: $1: timed out after ${STEP_TIMEOUT}s" >&2
  else
    echo "run.sh: $1: failed (exit status $2)" >&2
  fi
  status=1
}

# run NAME COMMAND...: runs a step under the step timeout, noting failure.
run () {
  local name=$1 rc
  shift
  timeout "$STEP_TIMEOUT" "$@"
  rc=$?
  note_failure "$name" "$rc"
}

# run_to FILE NAME COMMAND...: run, with stdout also saved to FILE.
run_to () {
  local file=$1 name=$2 rc
  shift 2
  timeout "$STEP_TIMEOUT" "$@" >"$file"
  rc=$?
  cat "$file"
  note_failure "$name" "$rc"
}

# field NAME FILE: the value of NAME=VALUE in the bench line saved in FILE.
field () {
  sed -n "s/.* $1=\([0-9.]*\).*/\1/p" "$2" | head -n 1
}

# ratio A B: A / B as a percentage (blank when either is missing).
ratio () {
  if [ -n "$1" ] && [ -n "$2" ]; then
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f%%", 100 * a / b }'
  fi
}

cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n 1)
if [ -z "$cpu" ] && command -v lscpu >/dev/null 2>&1; then
  cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
fi

echo "== latch benchmarks"
echo "date:   $(date '+%Y-%m-%d %H:%M:%S %z')"
echo "nproc:  $(nproc)"
echo "cpu:    ${cpu:-unknown}"
echo "kernel: $(uname -r)"
echo "latch:  $LATCH"
echo "latchd: $LATCH_DAEMON"
echo

echo "== ceiling: UNIX socket ping-pong, 200 bytes each way"
run_to "$TMP/pp-unix" bench-pingpong "$BENCH_DIR/bench-pingpong" --seconds "$BENCH_SECONDS"
echo

# One handle reused: its session carries every lock (one connection);
# --fresh: a handle, hence a connection, per lock.
echo "== liblatch lock+unlock, one resource, EX"
run_to "$TMP/unix1" "bench-lock 1 client" "$BENCH_DIR/bench-lock" --socket "$LOCK_SOCK" \
  --clients 1 --seconds "$BENCH_SECONDS" --mode EX
run_to "$TMP/unix1-fresh" "bench-lock 1 client --fresh" "$BENCH_DIR/bench-lock" \
  --socket "$LOCK_SOCK" --clients 1 --seconds "$BENCH_SECONDS" --mode EX --fresh
echo "one handle reused / ping-pong ceiling:" \
  "$(ratio "$(field per_second "$TMP/unix1")" "$(field per_second "$TMP/pp-unix")")" \
  "(goal >= 50%); a handle per lock: $(ratio "$(field per_second "$TMP/unix1-fresh")" \
  "$(field per_second "$TMP/pp-unix")")"
run "bench-lock 8 clients" "$BENCH_DIR/bench-lock" --socket "$LOCK_SOCK" \
  --clients 8 --seconds "$BENCH_SECONDS" --mode EX
echo
timeout 900 bash "$SCRIPT_DIR/bench-cold.sh" || { echo "run.sh: bench-cold.sh: failed (exit status $?)" >&2; status=1; }

echo "== ceiling: TCP ping-pong on 127.0.0.1, 200 bytes each way"
timeout "$STEP_TIMEOUT" "$BENCH_DIR/bench-pingpong" --tcp-server "127.0.0.1:$PP_PORT" \
  --seconds "$BENCH_SECONDS" &
pp_server=$!
run_to "$TMP/pp-tcp" "bench-pingpong --tcp" "$BENCH_DIR/bench-pingpong" \
  --tcp "127.0.0.1:$PP_PORT" --seconds "$BENCH_SECONDS"
if ! wait "$pp_server"; then
  echo "run.sh: bench-pingpong --tcp-server: failed" >&2
  status=1
fi
echo

echo "== liblatch lock+unlock over TCP on 127.0.0.1:$TCP_PORT, one resource, EX"
run_to "$TMP/tcp1" "bench-lock --tcp 1 client" env XDG_RUNTIME_DIR="$RUN_DIR" \
  "$BENCH_DIR/bench-lock" --tcp "127.0.0.1:$TCP_PORT" --clients 1 --seconds "$BENCH_SECONDS" \
  --mode EX
echo "one handle reused / TCP ping-pong ceiling:" \
  "$(ratio "$(field per_second "$TMP/tcp1")" "$(field per_second "$TMP/pp-tcp")")"
run "bench-lock --tcp 8 clients" env XDG_RUNTIME_DIR="$RUN_DIR" "$BENCH_DIR/bench-lock" \
  --tcp "127.0.0.1:$TCP_PORT" --clients 8 --seconds "$BENCH_SECONDS" --mode EX
echo

timeout 2400 bash "$SCRIPT_DIR/bench-idle.sh" || { echo "run.sh: bench-idle.sh: failed (exit status $?)" >&2; status=1; }
echo "== across hosts: two network namespaces"
if [ ! -f "$SCRIPT_DIR/bench-netns.sh" ]; then
  echo "bench-netns: skipped: $SCRIPT_DIR/bench-netns.sh is missing"
elif [ "$(id -u)" = 0 ]; then
  timeout "$NETNS_TIMEOUT" bash "$SCRIPT_DIR/bench-netns.sh"
  rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "run.sh: bench-netns.sh: failed (exit status $rc)" >&2
    status=1
  fi
else
  echo "bench-netns: skipped: needs root for network namespaces"
fi
echo

echo "== whole command: latch vs flock(1)"
if command -v hyperfine >/dev/null 2>&1; then
  # Keep one daemon alive for every run, so that each measures a lock
  # against a running daemon rather than a daemon start.
  if timeout 20 "$LATCH" -s "$HF_SOCK" -d -1 -r bench -- true; then
    : >"$TMP/f"
    timeout "$HYPERFINE_TIMEOUT" hyperfine -N --style basic --warmup 20 --runs 300 \
      --export-markdown "$TMP/hyperfine.md" \
      --command-name "latch -s SOCK -r bench -- true" --command-name "flock FILE true" \
      "$LATCH -s $HF_SOCK -r bench -- true" "flock $TMP/f true"
    rc=$?
    if [ "$rc" -eq 0 ] && [ -s "$TMP/hyperfine.md" ]; then
      echo
      cat "$TMP/hyperfine.md"
    else
      echo "run.sh: hyperfine: failed (exit status $rc)" >&2
      status=1
    fi
  else
    echo "run.sh: could not start the daemon for hyperfine at $HF_SOCK" >&2
    status=1
  fi
else
  echo "hyperfine is not installed: skipping the whole-command comparison" \
    "(apt-get install hyperfine)"
fi

# ---- TLS ------------------------------------------------------------------

tls_skip=$(tls_missing "build it: make latch-tls.la; or set LATCH_TLS_MODULE")
if [ -z "$tls_skip" ] && [ ! -x "$BENCH_DIR/bench-handshake" ]; then
  tls_skip="$BENCH_DIR/bench-handshake is missing"
fi

echo
echo "== TLS"
if [ -n "$tls_skip" ]; then
  echo "tls: skipped: $tls_skip"
  exit "$status"
fi
machine_id=$(timeout 10 "$LATCH" --unique-id)
if [ -z "$machine_id" ] || ! timeout 120 bash "$TLS_CERTS_SH" "$PKI" "$machine_id"; then
  echo "run.sh: tls-certs.sh: could not make the test PKI in $PKI" >&2
  exit 1
fi
echo "module:     $LATCH_TLS_MODULE"
echo "certs:      tests/tls-certs.sh, node CN = $machine_id (latch --unique-id)"
echo

# Does the clear-text command stay free of GnuTLS, and does a TLS one
# load it (dlopen() of the module)?  Counted by the dynamic linker.  The
# two TCP daemons started here serve hyperfine below, and are stopped at
# the end.
echo "== TLS: the latch command and GnuTLS"
echo "ldd latch, lines naming gnutls: $(ldd "$LATCH" 2>/dev/null | grep -c gnutls)"
echo "LD_DEBUG=libs latch ..., lines naming gnutls:"
# ld_gnutls DESCRIPTION COMMAND...: counts them for one command.
ld_gnutls () {
  local what=$1 n
  shift
  n=$(LD_DEBUG=libs XDG_RUNTIME_DIR=$RUN_DIR timeout 20 "$@" 2>&1 | grep -c gnutls)
  printf '  %-28s %s\n' "$what:" "$n"
}
if timeout 20 "$LATCH" -s "$HF_SOCK" -d -1 -r bench -- true; then
  ld_gnutls "clear, UNIX socket" "$LATCH" -s "$HF_SOCK" -r ldd -- true
else
  echo "run.sh: could not start the daemon at $HF_SOCK" >&2
  status=1
fi
hf_daemons=1
if XDG_RUNTIME_DIR=$RUN_DIR timeout 20 "$LATCH" -a 127.0.0.1 -p "$HF_CLEAR_PORT" -d -1 \
     -- true; then
  ld_gnutls "clear, TCP" "$LATCH" -a 127.0.0.1 -p "$HF_CLEAR_PORT" -r ldd -- true
else
  echo "run.sh: could not start the clear daemon on 127.0.0.1:$HF_CLEAR_PORT" >&2
  hf_daemons=0
  status=1
fi
if XDG_RUNTIME_DIR=$RUN_DIR timeout 20 "$LATCH" -a 127.0.0.1 -p "$HF_MUTUAL_PORT" -d -1 \
     "${TLS_MUTUAL_OPTS[@]}" -- true; then
  ld_gnutls "mutual TLS, TCP" "$LATCH" -a 127.0.0.1 -p "$HF_MUTUAL_PORT" \
    "${TLS_MUTUAL_OPTS[@]}" -r ldd -- true
else
  echo "run.sh: could not start the mutual TLS daemon on 127.0.0.1:$HF_MUTUAL_PORT" >&2
  hf_daemons=0
  status=1
fi
echo

echo "== TLS: liblatch lock+unlock over TCP on 127.0.0.1, one resource, EX"
echo "(one handle per client, reused: one connection and one handshake for the whole run;"
echo " --fresh: a connection per lock, so over TLS each includes a full handshake:"
echo " session tickets are off, every connection is verified and CRL-checked)"
run_to "$TMP/mutual1-fresh" "bench-lock --tcp mutual 1 --fresh" env XDG_RUNTIME_DIR="$RUN_DIR" \
  "$BENCH_DIR/bench-lock" --tcp "127.0.0.1:$TLS_MUTUAL_PORT" --clients 1 \
  --seconds "$BENCH_SECONDS" --mode EX --tls-dir "$PKI" --mutual --fresh
for n in 1 8; do
  run_to "$TMP/clear$n" "bench-lock --tcp clear $n" env XDG_RUNTIME_DIR="$RUN_DIR" \
    "$BENCH_DIR/bench-lock" --tcp "127.0.0.1:$TLS_CLEAR_PORT" --clients "$n" \
    --seconds "$BENCH_SECONDS" --mode EX
  run_to "$TMP/channel$n" "bench-lock --tcp channel $n" env XDG_RUNTIME_DIR="$RUN_DIR" \
    "$BENCH_DIR/bench-lock" --tcp "127.0.0.1:$TLS_CHANNEL_PORT" --clients "$n" \
    --seconds "$BENCH_SECONDS" --mode EX --tls-dir "$PKI"
  run_to "$TMP/mutual$n" "bench-lock --tcp mutual $n" env XDG_RUNTIME_DIR="$RUN_DIR" \
    "$BENCH_DIR/bench-lock" --tcp "127.0.0.1:$TLS_MUTUAL_PORT" --clients "$n" \
    --seconds "$BENCH_SECONDS" --mode EX --tls-dir "$PKI" --mutual
  clear=$(field per_second "$TMP/clear$n")
  echo "clients=$n: channel/clear $(ratio "$(field per_second "$TMP/channel$n")" "$clear")," \
    "mutual/clear $(ratio "$(field per_second "$TMP/mutual$n")" "$clear") (goal >= 80%)"
done
echo
echo "== one handle reused, lock+unlock per second, next to the ping-pong ceilings"
printf '  %-24s %8s/s  %s\n' \
  "clear, UNIX socket" "$(field per_second "$TMP/unix1")" \
  "$(ratio "$(field per_second "$TMP/unix1")" "$(field per_second "$TMP/pp-unix")") of UNIX ping-pong (goal >= 50%)" \
  "clear, TCP" "$(field per_second "$TMP/clear1")" \
  "$(ratio "$(field per_second "$TMP/clear1")" "$(field per_second "$TMP/pp-tcp")") of TCP ping-pong" \
  "TLS channel, TCP" "$(field per_second "$TMP/channel1")" \
  "$(ratio "$(field per_second "$TMP/channel1")" "$(field per_second "$TMP/clear1")") of clear TCP (goal >= 80%)" \
  "TLS mutual, TCP" "$(field per_second "$TMP/mutual1")" \
  "$(ratio "$(field per_second "$TMP/mutual1")" "$(field per_second "$TMP/clear1")") of clear TCP (goal >= 80%)" \
  "TLS mutual, TCP, --fresh" "$(field per_second "$TMP/mutual1-fresh")" \
  "$(ratio "$(field per_second "$TMP/mutual1-fresh")" "$(field per_second "$TMP/clear1")") of clear TCP (a connection per lock)"
echo "  ceilings: UNIX ping-pong $(field per_second "$TMP/pp-unix")/s," \
  "TCP ping-pong $(field per_second "$TMP/pp-tcp")/s"
echo

echo "== TLS: full handshakes in one process (client+server CPU together), channel level"
HS_SECONDS=2
for cert in peer1_ca1 rsa3072_ca1 ed25519_ca1; do
  # With ECDSA, also the cost of a request and its answer once the
  # handshake is paid (a connection kept for many locks).
  records=
  [ "$cert" = peer1_ca1 ] && records="--records 20000"
  # shellcheck disable=SC2086 # records: empty or two words
  run_to "$TMP/hs-$cert" "bench-handshake $cert" "$BENCH_DIR/bench-handshake" \
    --tls-dir "$PKI" --tls-cert "$cert" --seconds "$HS_SECONDS" $records
done
tls_rt=$(field tls_us_each "$TMP/hs-peer1_ca1")
plain_rt=$(field plain_us_each "$TMP/hs-peer1_ca1")
if [ -n "$tls_rt" ] && [ -n "$plain_rt" ]; then
  echo "once connected: a 200-byte request and answer cost" \
    "$(awk -v t="$tls_rt" -v p="$plain_rt" 'BEGIN { printf "%.1f", t - p }') us more over TLS"
fi
echo "RSA 3072 / ECDSA P-256: $(ratio "$(field per_second "$TMP/hs-rsa3072_ca1")" \
  "$(field per_second "$TMP/hs-peer1_ca1")") of the handshakes per second;" \
  "Ed25519 / ECDSA P-256: $(ratio "$(field per_second "$TMP/hs-ed25519_ca1")" \
  "$(field per_second "$TMP/hs-peer1_ca1")")"
echo "-- the peer-id check (mutual level), ECDSA P-256:"
run_to "$TMP/hs-mutual" "bench-handshake --mutual" "$BENCH_DIR/bench-handshake" \
  --tls-dir "$PKI" --mutual --seconds "$HS_SECONDS"
echo "-- GnuTLS directly, ECDSA P-256: tickets off (full), on (TLS 1.3 resumption with"
echo "   ECDHE, psk_dhe_ke), on without ECDHE (psk_ke, no forward secrecy):"
run_to "$TMP/hs-direct" "bench-handshake --direct" "$BENCH_DIR/bench-handshake" \
  --tls-dir "$PKI" --direct --seconds "$HS_SECONDS"
run_to "$TMP/hs-resume" "bench-handshake --resume" "$BENCH_DIR/bench-handshake" \
  --tls-dir "$PKI" --resume --seconds "$HS_SECONDS"
run_to "$TMP/hs-resume-psk" "bench-handshake --resume --no-dhe" \
  "$BENCH_DIR/bench-handshake" --tls-dir "$PKI" --resume --no-dhe --seconds "$HS_SECONDS"
echo "time per handshake against the full one: resumed with ECDHE" \
  "$(ratio "$(field us_each "$TMP/hs-resume")" "$(field us_each "$TMP/hs-direct")")," \
  "without $(ratio "$(field us_each "$TMP/hs-resume-psk")" "$(field us_each "$TMP/hs-direct")")"
echo

echo "== TLS: whole command over TCP, clear vs mutual TLS"
if command -v hyperfine >/dev/null 2>&1; then
  # Both daemons were started above, and stay for every run.
  if [ "$hf_daemons" = 1 ]; then
    clear_cmd="$LATCH -a 127.0.0.1 -p $HF_CLEAR_PORT -r bench -- true"
    mutual_cmd="$LATCH -a 127.0.0.1 -p $HF_MUTUAL_PORT ${TLS_MUTUAL_OPTS[*]} -r bench -- true"
    XDG_RUNTIME_DIR=$RUN_DIR timeout 120 hyperfine -N --style basic --warmup 20 --runs 300 \
      --export-markdown "$TMP/hyperfine-tls.md" --export-json "$TMP/hyperfine-tls.json" \
      --command-name "latch -a 127.0.0.1 -p P -r bench -- true" \
      --command-name "latch -a 127.0.0.1 -p P --tls-... --tls-check-peer-id=yes -r bench -- true" \
      "$clear_cmd" "$mutual_cmd"
    rc=$?
    if [ "$rc" -eq 0 ] && [ -s "$TMP/hyperfine-tls.json" ]; then
      echo
      cat "$TMP/hyperfine-tls.md"
      means=$(sed -n 's/^ *"mean": *\([0-9.e+-]*\),*$/\1/p' "$TMP/hyperfine-tls.json")
      echo
      echo "mutual TLS / clear: $(ratio "$(echo "$means" | sed -n 2p)" \
        "$(echo "$means" | sed -n 1p)") (goal <= 200%)"
    else
      echo "run.sh: hyperfine (TLS): failed (exit status $rc)" >&2
      status=1
    fi
  else
    echo "run.sh: hyperfine (TLS): skipped: a daemon did not start (above)" >&2
  fi
else
  echo "hyperfine is not installed: skipping the whole-command comparison" \
    "(apt-get install hyperfine)"
fi
stop_tcp "$HF_CLEAR_PORT"
stop_tcp "$HF_MUTUAL_PORT" "${TLS_MUTUAL_OPTS[@]}"

exit "$status"
