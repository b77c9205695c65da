#!/bin/bash
# bench-tls-rounds.sh: lock+unlock per second through ONE liblatch handle
# over TCP on 127.0.0.1 (direct, no agent), clear vs channel vs mutual,
# in rounds that alternate the three, so that the machine's noise hits
# them alike; prints each round and the medians' ratios.  Called by
# run.sh with LATCH, LATCH_DAEMON, BENCH_DIR (and LATCH_TLS_MODULE)
# exported.  BENCH_TLS_ROUNDS (3), BENCH_SECONDS (3).
set -u
here=$(cd "$(dirname "$0")" && pwd)
rounds=${BENCH_TLS_ROUNDS:-3}
secs=${BENCH_SECONDS:-3}
dir=$(mktemp -d) || exit 1
export XDG_RUNTIME_DIR=$dir/run
mkdir -m 700 "$XDG_RUNTIME_DIR"
pids=
cleanup () {
  local p
  for p in $pids; do kill "$p" 2>/dev/null; done
  rm -rf "$dir"
}
trap cleanup EXIT
bash "$here/../tls-certs.sh" "$dir/pki" "$("$LATCH" --unique-id)" > /dev/null 2>&1 \
  || { echo "bench-tls-rounds: could not make certificates" >&2; exit 1; }
port=$((40000 + $$ % 10000))
ch=(--tls-certificate="$dir/pki/peer1_ca1.pem" --tls-private-key="$dir/pki/peer1_ca1.key"
    --tls-ca-certificate="$dir/pki/ca1.pem")
"$LATCH" --agent=no -a 127.0.0.1 -p $port -d -1 -- true || exit 1
"$LATCH" --agent=no -a 127.0.0.1 -p $((port + 1)) -d -1 "${ch[@]}" -- true || exit 1
"$LATCH" --agent=no -a 127.0.0.1 -p $((port + 2)) -d -1 "${ch[@]}" --tls-check-peer-id=yes \
  -- true || exit 1
for p in $port $((port + 1)) $((port + 2)); do
  pids="$pids $(ss -Hltnp "sport = :$p" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n1)"
done
rate () { "$BENCH_DIR/bench-lock" --clients 1 --seconds "$secs" --mode EX "$@" \
            | sed -n 's/.*per_second=\([0-9]*\).*/\1/p'; }
median () { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }
c_all=; h_all=; m_all=
for r in $(seq "$rounds"); do
  c=$(rate --tcp 127.0.0.1:$port)
  h=$(rate --tcp 127.0.0.1:$((port + 1)) --tls-dir "$dir/pki")
  m=$(rate --tcp 127.0.0.1:$((port + 2)) --tls-dir "$dir/pki" --mutual)
  [ -n "$c" ] && [ -n "$h" ] && [ -n "$m" ] || { echo "bench-tls-rounds: a run failed" >&2; exit 1; }
  echo "round $r: clear $c/s, channel $h/s, mutual $m/s"
  c_all="$c_all $c"; h_all="$h_all $h"; m_all="$m_all $m"
done
# shellcheck disable=SC2086 # lists of numbers
c=$(median $c_all); h=$(median $h_all); m=$(median $m_all)
echo "medians: clear $c/s, channel $h/s ($((100 * h / c))% of clear), mutual $m/s" \
  "($((100 * m / c))% of clear) (goal >= 80%)"
