#!/bin/sh
# test-discovery.sh: runs unit/test-discovery in a private network
# namespace, where multicast can be set up without touching the host:
#   lo         up, MULTICAST on, route 224.0.0.0/4 dev lo src 127.0.0.1
#   ltd0/ltd1  a veth pair for IPv6 (the kernel drops IPv6 multicast sent
#              on lo); ltd0 has fe80::1 and 2001:db8:28::1, no DAD
# That needs root and unshare(1).  Without them the program runs as it is:
# the cases needing the namespace skip themselves, saying why
# (LATCH_TEST_NETNS_WHY), and the others still run.
# Speaks TAP (the GTest program's).  Arguments go to the program;
# LATCH_TEST_WRAPPER (e.g. "valgrind -q --error-exitcode=1") prefixes it.
set -u

bin=${LATCH_TESTS_BUILDDIR:-$(dirname "$0")/..}/unit/test-discovery

if [ ! -x "$bin" ]; then
  echo "Bail out! $bin is missing (build it first)"
  exit 1
fi

run_without_netns () {
  LATCH_TEST_NETNS_WHY=$1
  shift
  export LATCH_TEST_NETNS_WHY
  exec ${LATCH_TEST_WRAPPER:-} "$bin" "$@"
}

if [ "$(id -u)" != 0 ]; then
  run_without_netns "not root (a private network namespace needs unshare -n)" "$@"
elif ! command -v unshare > /dev/null 2>&1; then
  run_without_netns "unshare(1) not found" "$@"
elif ! command -v ip > /dev/null 2>&1; then
  run_without_netns "ip(8) (iproute2) not found" "$@"
elif ! unshare -n true > /dev/null 2>&1; then
  run_without_netns "unshare -n failed: no network namespaces here" "$@"
fi

# In the namespace.  IPv6 is optional: its cases skip themselves without
# LATCH_TEST_IFACE6.
exec unshare -n sh -c '
  bin=$1; shift
  if ip link set lo up multicast on > /dev/null 2>&1 &&
     ip route add 224.0.0.0/4 dev lo src 127.0.0.1 > /dev/null 2>&1; then
    LATCH_TEST_NETNS=1; export LATCH_TEST_NETNS
  else
    LATCH_TEST_NETNS_WHY="could not enable IPv4 multicast on lo in the namespace"
    export LATCH_TEST_NETNS_WHY
  fi
  if ip link add ltd0 type veth peer name ltd1 > /dev/null 2>&1; then
    ip link set ltd0 addrgenmode none > /dev/null 2>&1
    ip link set ltd1 addrgenmode none > /dev/null 2>&1
    if ip link set ltd0 up && ip link set ltd1 up &&
       ip -6 addr add fe80::1/64 dev ltd0 nodad &&
       ip -6 addr add 2001:db8:28::1/64 dev ltd0 nodad; then
      LATCH_TEST_IFACE6=ltd0; export LATCH_TEST_IFACE6
    fi > /dev/null 2>&1
  fi
  exec ${LATCH_TEST_WRAPPER:-} "$bin" "$@"
' test-discovery.sh "$bin" "$@"
