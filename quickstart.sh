#!/bin/sh
# quickstart.sh: the two commands of the README.
#
#   ./quickstart.sh         install what the build needs (Debian), build,
#                           and show the main job: two commands contending
#                           for one lock run one after the other, on this
#                           host, then over TCP with TLS and mutual
#                           authentication (certificates made here by
#                           latch-cert).
#   ./quickstart.sh check   build, then run the whole test suite twice:
#                           normal build, then AddressSanitizer +
#                           UndefinedBehaviorSanitizer; the daemon under
#                           valgrind (make check-valgrind), a clang
#                           -Werror build, and the Debian packages built,
#                           linted, installed, tried and purged (each of
#                           the last three counted as one test).
#                           Ends with "N passed, N failed".
set -eu
cd "$(dirname "$0")"
top=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)

DEPS="build-essential autoconf automake libtool pkg-config \
libglib2.0-dev libxml2-dev libgnutls28-dev libdbus-1-dev libdbus-1-3 \
libsystemd-dev systemd gnutls-bin iproute2 procps clang valgrind jq groff-base bash-completion \
debhelper lintian adduser fakeroot dpkg-dev \
libsoup-3.0-dev libjson-glib-dev etcd-server etcd-client glib-networking"

install_deps () {
  missing=""
  for p in $DEPS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  [ -z "$missing" ] && return 0
  echo "== installing:$missing"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing > /dev/null
}

# build DIR CONFIGURE-ARGS...
build () {
  dir=$1; shift
  [ -x configure ] || autoreconf -fi > /dev/null
  mkdir -p "$dir"
  (cd "$dir" && { [ -f Makefile ] || "$top/configure" -q --enable-werror "$@"; } && make -s -j"$jobs")
}

demo () {
  run=$(mktemp -d)
  trap 'XDG_RUNTIME_DIR="$run" _build/latch -X >/dev/null 2>&1; rm -rf "$run"' EXIT
  # A private daemon directory for the demo; _build/latch finds the
  # latchd (and TLS module) built beside it.
  export XDG_RUNTIME_DIR="$run"
  echo
  echo "== demo: two commands contend for the lock 'deploy' and run one after the other"
  for job in A B; do
    _build/latch -r deploy -- sh -c "echo \"[\$(date +%T.%N | cut -c1-12)] job $job: has the lock (fence \$LATCH_FENCE), working 1 s\"; sleep 1; echo \"[\$(date +%T.%N | cut -c1-12)] job $job: done, releasing\"" &
  done
  wait
  echo "== a third command with -o 0 while the lock is held: busy, exit 98"
  _build/latch -r deploy -- sh -c 'touch "$1"; sleep 1' sh "$run/held" &
  i=0
  while [ ! -e "$run/held" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done
  set +e
  _build/latch -r deploy -o 0 -- echo "never printed"
  echo "exit status: $?"
  set -e
  wait
}

# The same job across TLS with mutual authentication: latch-cert makes a
# CA and this node's certificate (CN = its machine ID), then the daemon
# is reached over TCP on loopback.
tls_demo () {
  pki="$run/pki"
  _build/latch-cert ca init --dir "$pki/ca" --name "demo lock CA" > /dev/null
  _build/latch-cert node --ca "$pki/ca" --out "$pki/tls" > "$pki/tls.conf"
  id=$(_build/latch --unique-id)
  port=$((20000 + $$ % 20000))
  tls="-c $pki/tls.conf --tls-check-peer-id=yes"
  net="-a 127.0.0.1 -p $port"
  echo
  echo "== the same over TCP with TLS and mutual authentication (certificate CN = machine ID $id)"
  for job in A B; do
    _build/latch $tls $net -r deploy -- sh -c "echo \"[\$(date +%T.%N | cut -c1-12)] job $job: has the lock over TLS, working 1 s\"; sleep 1; echo \"[\$(date +%T.%N | cut -c1-12)] job $job: done, releasing\"" &
  done
  wait
  echo "== a command without certificates is refused by that daemon:"
  set +e
  _build/latch $net -r deploy -- echo "never printed"
  echo "exit status: $?"
  set -e
  _build/latch $tls $net -X > /dev/null
}

# check_one DIR CONFIGURE-ARGS...: runs make check, adds up the counts.
passed=0
failed=0
check_one () {
  dir=$1; shift
  build "$dir" "$@"
  set +e
  (cd "$dir" && make -s -j"$jobs" check) > "$dir/check.out" 2>&1
  set -e
  grep -E '^(PASS|FAIL|ERROR|XPASS|SKIP):|^# (TOTAL|PASS|FAIL|ERROR|SKIP)' "$dir/check.out" | grep -vE '^(PASS|SKIP):' || true
  p=$(sed -n 's/^# PASS: *//p' "$dir/check.out" | tail -n1)
  f=$(sed -n 's/^# FAIL: *//p' "$dir/check.out" | tail -n1)
  e=$(sed -n 's/^# ERROR: *//p' "$dir/check.out" | tail -n1)
  x=$(sed -n 's/^# XPASS: *//p' "$dir/check.out" | tail -n1)
  if [ -z "$p" ]; then
    echo "== $dir: make check did not finish:"; tail -n 30 "$dir/check.out"
    failed=$((failed + 1)); return
  fi
  passed=$((passed + p))
  failed=$((failed + ${f:-0} + ${e:-0} + ${x:-0}))
  for log in $(grep -lE '^(not ok|ERROR)' "$dir"/tests/*/*.log 2>/dev/null); do
    echo "== $log"; grep -E '^(not ok|#)' "$log" | head -n 20
  done
}

install_deps
case "${1:-demo}" in
  demo)
    build _build
    demo
    tls_demo
    echo
    echo "== built: _build/latch works as it is (it uses the latchd built beside it);"
    echo "   to install: (cd _build && sudo make install)   # see README.md, Building by hand"
    ;;
  check)
    check_one _build
    check_one _build-san --enable-sanitizers CFLAGS="-O1 -g"
    # The daemon under valgrind over most integration tests: no memory
    # error, no definite leak (counted as one test).
    if (cd _build && make -s check-valgrind) > _build/check-valgrind.out 2>&1; then
      passed=$((passed + 1))
      tail -n 1 _build/check-valgrind.out
    else
      echo "== make check-valgrind failed:"; tail -n 30 _build/check-valgrind.out
      failed=$((failed + 1))
    fi
    # clang's warnings differ from gcc's: the build alone must be clean.
    if build _build-clang CC=clang > _build-clang.log 2>&1; then
      passed=$((passed + 1))
    else
      echo "== clang -Werror build failed:"; tail -n 30 _build-clang.log
      failed=$((failed + 1))
    fi
    # The Debian packages: built from a copy of the tree (the unit tests
    # run in the build), lintian, installed, tried, purged (one test).
    if sh tests/package/build-deb.sh > _build/deb.out 2>&1; then
      passed=$((passed + 1))
      tail -n 1 _build/deb.out
    else
      echo "== Debian package failed:"; tail -n 40 _build/deb.out
      failed=$((failed + 1))
    fi
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    ;;
  *)
    echo "usage: $0 [check]" >&2
    exit 2
    ;;
esac
