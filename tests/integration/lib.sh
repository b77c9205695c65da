# lib.sh: shared by the integration tests.  Sourced; speaks TAP.
#
# Each test gets its own directory (T), its own XDG_RUNTIME_DIR and HOME
# inside it, so its daemon and socket are its alone and tests run in
# parallel.  Daemons are stopped by pid (read from the lock file), never
# by name.  Waits are bounded polls on a condition, never a bare sleep.

set -u

: "${LATCH:?LATCH must name the latch program}"
: "${LATCH_DAEMON:?LATCH_DAEMON must name the latchd program}"
export LATCH LATCH_DAEMON
HELPER="${LATCH_TESTS_BUILDDIR:-$(dirname "$LATCH")/tests}/integration/lock-helper"

T=$(mktemp -d "${TMPDIR:-/tmp}/latch-test.XXXXXX")
chmod 700 "$T"
export XDG_RUNTIME_DIR="$T/run"
export HOME="$T/home"
mkdir -p "$XDG_RUNTIME_DIR" "$HOME"
chmod 700 "$XDG_RUNTIME_DIR"
SOCKDIR="$XDG_RUNTIME_DIR/latch"
LOCKFILE="$SOCKDIR/daemon.lock"

n_tests=0
n_failed=0
bg_pids=""

ok () { n_tests=$((n_tests + 1)); echo "ok $n_tests - $*"; }
not_ok () { n_tests=$((n_tests + 1)); n_failed=$((n_failed + 1)); echo "not ok $n_tests - $*"; }
diag () { printf '# %s\n' "$@"; }

# check DESCRIPTION COMMAND...: ok when COMMAND succeeds.
check () {
  local desc=$1; shift
  if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# COND; verdict DESCRIPTION: ok when COND (any list, e.g. A && B) succeeded.
verdict () {
  if [ $? = 0 ]; then ok "$1"; else not_ok "$1"; fi
}

# COND; vst=$?; verdict_status "$vst" DESCRIPTION: the same, for a
# DESCRIPTION with a command substitution, which would set $? before
# verdict could read COND's.
verdict_status () {
  if [ "$1" = 0 ]; then ok "$2"; else not_ok "$2"; fi
}

# expect_status WANT DESCRIPTION COMMAND...: runs COMMAND, compares $?.
expect_status () {
  local want=$1 desc=$2; shift 2
  "$@"
  local got=$?
  if [ "$got" = "$want" ]; then ok "$desc"; else not_ok "$desc (exit $got, want $want)"; fi
}

# wait_for SECONDS COMMAND...: polls COMMAND every 10 ms until it succeeds.
wait_for () {
  local limit=$1; shift
  local deadline=$(( $(date +%s%N) + limit * 1000000000 ))
  while ! "$@"; do
    [ "$(date +%s%N)" -lt "$deadline" ] || return 1
    sleep 0.01
  done
}

daemon_pid () { [ -s "$LOCKFILE" ] && head -n1 "$LOCKFILE"; }
pid_alive () { kill -0 "$1" 2>/dev/null; }
pid_gone () { ! kill -0 "$1" 2>/dev/null; }

# contains TEXT PATTERN: TEXT has a line matching PATTERN (grep -E).
contains () { printf '%s\n' "$1" | grep -qE -- "$2"; }

# A file whose appearance a test waits for.
file_exists () { [ -e "$1" ]; }
file_has () { grep -q -- "$2" "$1" 2>/dev/null; }

# bg COMMAND...: runs COMMAND in the background, remembering its pid in
# $last_pid for cleanup and wait.
bg () { "$@" & last_pid=$!; bg_pids="$bg_pids $last_pid"; }

now_ns () { date +%s%N; }

# free_port: sets PORT to a port (TCP and UDP) that no other test on this
# machine holds and nothing uses, and holds it until this test ends.  The
# claim is a directory made with mkdir (atomic: one test wins) holding the
# claimant's pid, so a claim of a test that died is taken back.  Every
# test file takes its ports here: none can collide.
PORT_DIR=${TMPDIR:-/tmp}/latch-test-ports
held_ports=""
free_port () {
  local p tries=0 owner
  mkdir -p "$PORT_DIR" 2>/dev/null
  p=$(( 10000 + ($$ * 37 + $(date +%N | sed 's/^0*//;s/^$/0/') ) % 50000 ))
  while [ $tries -lt 5000 ]; do
    if mkdir "$PORT_DIR/$p" 2>/dev/null; then
      echo $$ > "$PORT_DIR/$p/pid"
      # Nothing bound to it, and no connection to it lingering either
      # (a TIME_WAIT of another test's clients would be counted as ours).
      if [ -z "$(ss -Htuan "( sport = :$p or dport = :$p )" 2>/dev/null)" ]; then
        held_ports="$held_ports $p"
        PORT=$p
        return 0
      fi
      rm -rf "$PORT_DIR/$p"
    else
      owner=$(cat "$PORT_DIR/$p/pid" 2>/dev/null)
      if [ -n "$owner" ] && ! kill -0 "$owner" 2>/dev/null; then
        rm -rf "$PORT_DIR/$p"
        continue
      fi
    fi
    p=$((p + 1)); [ $p -lt 60000 ] || p=10000
    tries=$((tries + 1))
  done
  echo "Bail out! no free port in 10000..59999"
  exit 1
}

cleanup () {
  local pid
  for pid in $bg_pids; do kill -KILL "$pid" 2>/dev/null; done
  pid=$(daemon_pid 2>/dev/null)
  if [ -n "${pid:-}" ] && pid_alive "$pid"; then kill -KILL "$pid" 2>/dev/null; fi
  for f in "$T"/*.sockpid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f"); pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null
  done
  for pid in $held_ports; do rm -rf "$PORT_DIR/$pid"; done
  rm -rf "$T"
}
trap cleanup EXIT

# Daemon trace file for tests that read what the daemon did.
TRACE="$T/daemon.trace"


finish () {
  echo "1..$n_tests"
  [ "$n_failed" -eq 0 ]
  exit $?
}
