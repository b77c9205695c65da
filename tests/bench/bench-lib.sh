# bench-lib.sh: shell functions shared by the bench scripts (run.sh,
# bench-cold.sh, bench-idle.sh, bench-netns.sh), which source it from
# their own directory.  It defines functions and nothing else.
# shellcheck shell=bash

# absolute PATH: PATH made absolute against the current directory.
absolute () {
  case $1 in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s\n' "$PWD/${1#./}" ;;
  esac
}

# bench_paths: LATCH, LATCH_DAEMON and BENCH_DIR made absolute, by default
# ./latch, ./latchd and tests/bench (the build directory's).
bench_paths () {
  LATCH=$(absolute "${LATCH:-./latch}")
  LATCH_DAEMON=$(absolute "${LATCH_DAEMON:-./latchd}")
  BENCH_DIR=$(absolute "${BENCH_DIR:-tests/bench}")
}

# require_vars SCRIPT VAR...: exits 1, naming SCRIPT, when a VAR is unset
# or empty (the scripts that run.sh calls get LATCH... from it).
require_vars () {
  local script=$1 var
  shift
  for var in "$@"; do
    if [ -z "${!var:-}" ]; then
      echo "$script: $var is not set (run through run.sh)" >&2
      exit 1
    fi
  done
}

# free_port BASE: a TCP port from BASE up that nothing listens on.
free_port () {
  local port=$1
  while [ "$port" -lt 65000 ]; do
    if ! command -v ss >/dev/null 2>&1 || [ -z "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]; then
      echo "$port"
      return 0
    fi
    port=$((port + 1))
  done
  return 1
}

# bench_traps: cleanup (the script's own function) when the script exits;
# a hangup, interrupt or termination makes it exit (129, 130, 143).
bench_traps () {
  trap cleanup EXIT
  trap 'exit 129' HUP
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# tls_missing HINT: why the TLS benches cannot run (no certtool, no
# $TLS_CERTS_SH, no TLS module at $LATCH_TLS_MODULE: HINT says where to
# get one), or nothing when they can.
tls_missing () {
  if ! command -v certtool >/dev/null 2>&1; then
    echo "certtool is not installed (apt-get install gnutls-bin)"
  elif [ ! -f "$TLS_CERTS_SH" ]; then
    echo "$TLS_CERTS_SH is missing"
  elif [ -z "${LATCH_TLS_MODULE:-}" ] || [ ! -f "$LATCH_TLS_MODULE" ]; then
    echo "the TLS module latch-tls.so was not found ($1)"
  fi
}
