# netns-lib.sh: a small private network of hosts for the multi-host tests.
# Sourced after lib.sh.
#
#   ns_setup N      a switch namespace with a bridge, and N host namespaces
#                   h1..hN, each with a veth to the bridge, lo up,
#                   192.0.2.(10+i)/24 and 2001:db8::(10+i)/64, multicast
#                   (239.0.0.0/8 routed to the veth; ff02:: is link-local
#                   on it).  Returns once the network works.  Prints
#                   "1..0 # SKIP reason" and exits 0 where it cannot be
#                   built (not root, no `ip netns`, no `unshare -m`, ...).
#   in_host I CMD...  runs CMD in host I: its network namespace, its own
#                   machine ID (/etc/machine-id and /var/lib/dbus/machine-id
#                   bind-mounted in a private mount namespace), its own
#                   XDG_RUNTIME_DIR and HOME in $T/hI.  Bounded by
#                   `timeout $NS_TIMEOUT` (seconds, default 20; empty: none).
#   ns_exec I CMD...  runs CMD in host I's network namespace only.
#   cut_link I      sets host I's veth down on the switch side: the host
#                   vanishes without a word.
#   ns_name I, ns_if I, ns_addr4 I, ns_addr6 I, ns_machine_id I
#   ns_port_pid I tcp|udp PORT   pid of the process listening there, or "".
#
# Only TEST-NET-1 (192.0.2.0/24), 2001:db8::/32, link-local and the groups
# 239.255.28.15 / ff02::1:2815 are used, all inside namespaces of this run,
# whose names carry the pid of this shell.  Nothing is created in the
# initial namespace.  On exit every process still in these namespaces is
# killed by pid and the namespaces are deleted.

NS_ID=$$
NS_PREFIX="latch$NS_ID"
NS_SW="${NS_PREFIX}sw"
NS_BR="lbr$NS_ID"
NS_N=0
NS_CREATED=""
NS_TIMEOUT=${NS_TIMEOUT-20}

ns_name () { echo "${NS_PREFIX}h$1"; }
ns_if () { echo "lh$1p$NS_ID"; }           # host side of host I's veth
ns_swif () { echo "ls$1p$NS_ID"; }         # switch side
ns_addr4 () { echo "192.0.2.$((10 + $1))"; }
ns_addr6 () { echo "2001:db8::$((10 + $1))"; }
ns_machine_id () { cat "$T/h$1/machine-id"; }

ns_skip () {
  echo "1..0 # SKIP $*"
  exit 0
}

ns_cleanup () {
  local ns pid
  for ns in $NS_CREATED; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      kill -KILL "$pid" 2>/dev/null
    done
  done
  for ns in $NS_CREATED; do
    ip netns del "$ns" 2>/dev/null
  done
  NS_CREATED=""
}
trap 'ns_cleanup; cleanup' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

ns_add () {
  ip netns add "$1" 2>/dev/null || return 1
  NS_CREATED="$NS_CREATED $1"
}

ns_sysctl () { # NS KEY VALUE (KEY as a path below /proc/sys)
  ip netns exec "$1" sh -c 'echo "$1" > "/proc/sys/$0"' "$2" "$3"
}

ns_exec () {
  local i=$1; shift
  ip netns exec "$(ns_name "$i")" "$@"
}

in_host () {
  local i=$1; shift
  local d="$T/h$i"
  set -- ip netns exec "$(ns_name "$i")" unshare -m sh -c '
    for f in /etc/machine-id /var/lib/dbus/machine-id; do
      [ -e "$f" ] || continue
      mount --bind "$0" "$f" || { echo "in_host: cannot bind-mount $f" >&2; exit 125; }
    done
    exec "$@"' "$d/machine-id" "$@"
  if [ -n "$NS_TIMEOUT" ]; then set -- timeout -k 2 "$NS_TIMEOUT" "$@"; fi
  XDG_RUNTIME_DIR="$d/run" HOME="$d/home" "$@"
}

cut_link () { ip -n "$NS_SW" link set "$(ns_swif "$1")" down; }

# ns_port_pid I tcp|udp PORT: the pid owning the socket bound to PORT.
ns_port_pid () {
  local flag=-t
  [ "$2" = udp ] && flag=-u
  ns_exec "$1" ss -Hlnp $flag "sport = :$3" 2>/dev/null |
    sed -n 's/.*pid=\([0-9][0-9]*\).*/\1/p' | head -n1
}

# ns_reach I ADDR: a packet from host I to ADDR got an answer.
ns_reach () {
  if command -v ping >/dev/null 2>&1; then
    ns_exec "$1" ping -c1 -W1 "$2" >/dev/null 2>&1
  else
    # A TCP connection to a closed port is refused by the peer: the RST
    # proves the round trip.
    ns_exec "$1" env LC_ALL=C timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/9"' "$2" 2>&1 |
      grep -qi refused
  fi
}

ns_setup () {
  local n=$1 i h hif sif mid
  [ "$(id -u)" = 0 ] || ns_skip "needs root for network namespaces"
  command -v ip >/dev/null 2>&1 || ns_skip "no ip(8)"
  command -v unshare >/dev/null 2>&1 || ns_skip "no unshare(1)"
  command -v ping >/dev/null 2>&1 || command -v bash >/dev/null 2>&1 ||
    ns_skip "neither ping nor bash to probe the network"
  [ -e /etc/machine-id ] || [ -e /var/lib/dbus/machine-id ] ||
    ns_skip "no machine-id file to give each host its own"
  ns_add "$NS_SW" || ns_skip "ip netns add failed"
  echo 00000000000000000000000000000000 > "$T/probe-id"
  ip netns exec "$NS_SW" unshare -m sh -c '
    for f in /etc/machine-id /var/lib/dbus/machine-id; do
      [ -e "$f" ] || continue
      mount --bind "$0" "$f" && [ "$(cat "$f")" = 00000000000000000000000000000000 ] || exit 1
    done' "$T/probe-id" >/dev/null 2>&1 ||
    ns_skip "unshare -m with a bind-mounted machine-id unavailable"

  # The switch: a bridge that floods multicast, with no address of its own.
  ns_sysctl "$NS_SW" net/ipv6/conf/all/disable_ipv6 1
  ns_sysctl "$NS_SW" net/ipv6/conf/default/disable_ipv6 1
  ip -n "$NS_SW" link add "$NS_BR" type bridge stp_state 0 mcast_snooping 0 ||
    ns_skip "cannot create a bridge"
  ip -n "$NS_SW" link set "$NS_BR" up

  i=1
  while [ "$i" -le "$n" ]; do
    h=$(ns_name "$i"); hif=$(ns_if "$i"); sif=$(ns_swif "$i")
    ns_add "$h" || ns_skip "ip netns add failed"
    ns_sysctl "$h" net/ipv6/conf/all/accept_dad 0
    ns_sysctl "$h" net/ipv6/conf/default/accept_dad 0
    ip -n "$NS_SW" link add "$sif" type veth peer name "$hif" netns "$h" ||
      ns_skip "cannot create a veth pair"
    ns_sysctl "$h" "net/ipv6/conf/$hif/accept_dad" 0
    ns_sysctl "$h" "net/ipv6/conf/$hif/disable_ipv6" 0
    ip -n "$NS_SW" link set "$sif" master "$NS_BR"
    ip -n "$NS_SW" link set "$sif" up
    ip -n "$h" link set lo up
    ip -n "$h" link set "$hif" multicast on
    ip -n "$h" addr add "$(ns_addr4 "$i")/24" dev "$hif"
    ip -n "$h" -6 addr add "$(ns_addr6 "$i")/64" dev "$hif" nodad
    ip -n "$h" link set "$hif" up
    ip -n "$h" route add 239.0.0.0/8 dev "$hif"

    mkdir -p "$T/h$i/run" "$T/h$i/home"
    chmod 700 "$T/h$i/run"
    mid=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
    echo "$mid" > "$T/h$i/machine-id"
    i=$((i + 1))
  done
  NS_N=$n

  # Bounded wait until every host answers h1, over IPv4 and IPv6.
  local deadline=$(( $(date +%s) + 10 ))
  i=2
  while [ "$i" -le "$n" ]; do
    until ns_reach 1 "$(ns_addr4 "$i")" && ns_reach 1 "$(ns_addr6 "$i")"; do
      if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "Bail out! the namespace network does not work (h1 cannot reach h$i)"
        exit 1
      fi
      sleep 0.1
    done
    i=$((i + 1))
  done
  return 0
}

# mend_link I: sets host I's veth up again on the switch side and waits
# (10 s at most) until h1 and host I reach each other; false otherwise.
mend_link () {
  local deadline=$(( $(date +%s) + 10 ))
  ip -n "$NS_SW" link set "$(ns_swif "$1")" up || return 1
  until ns_reach 1 "$(ns_addr4 "$1")"; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

# ns_conn_pid I PORT: the pid of a process of host I that has an
# established TCP connection to remote port PORT, or "".
ns_conn_pid () {
  ns_exec "$1" ss -Htnp state established "dport = :$2" 2>/dev/null |
    sed -n 's/.*pid=\([0-9][0-9]*\).*/\1/p' | head -n1
}

# ns_conns_from I PORT ADDR: how many established TCP connections host I
# has on its local port PORT from the address ADDR (IPv4).
ns_conns_from () {
  ns_exec "$1" ss -Htn state established "sport = :$2" 2>/dev/null |
    awk -v a="$3" '{ split($NF, p, ":"); if (p[1] == a) n++ } END { print n + 0 }'
}
