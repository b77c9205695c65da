#!/bin/sh
# latch --debug-feature: tls.server / tls.client explain each fault and
# give a verdict on both sides (OK exit 0, FAIL + FIX exit 1), and
# ipv6.multicast.server / .client exchange HELLO / WELCOME (FLoM's lines).
# The debug server runs in the background; the test waits for its
# "listening on" line (or its exit), never for a fixed time.
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"
. "$LATCH_TESTS_SRCDIR/integration/tls-lib.sh"

: "${LATCH_DEBUG_TOOL:?LATCH_DEBUG_TOOL must name the latch-debug program}"
export LATCH_DEBUG_TOOL

O1=$(tls_opts peer1_ca1 ca1)
O2=$(tls_opts peer2_ca1 ca1)
CHECK=--tls-check-peer-id=yes

# dserver ARGS...: the debug server on a new port ($SPORT), in the
# background ($SPID, output in $SOUT); returns once it listens or exited.
n_srv=0
dserver () {
  n_srv=$((n_srv + 1))
  tls_port
  SPORT=$TLS_PORT
  SOUT="$T/server$n_srv.out"
  : > "$SOUT"
  # shellcheck disable=SC2086 # options are words
  bg timeout -k 2 40 "$LATCH" --debug-feature=tls.server -a 127.0.0.1 -p "$SPORT" "$@" \
    > "$SOUT" 2>&1
  SPID=$last_pid
  wait_for 20 server_up
}
server_up () { file_has "$SOUT" '^listening on ' || pid_gone "$SPID"; }

# server_end: waits (bounded by the timeout above) for the server; $SST, $SO.
server_end () { wait "$SPID"; SST=$?; SO=$(cat "$SOUT"); }

# dclient ARGS...: the debug client against $SPORT; $CST, $CO.
dclient () {
  CO=$(timeout -k 2 30 "$LATCH" --debug-feature=tls.client -a 127.0.0.1 -p "$SPORT" "$@" 2>&1)
  CST=$?
}


# passes DESC STATUS OUTPUT: exit 0 and the OK line last.
passes () {
  local desc=$1 st=$2 out=$3
  if [ "$st" = 0 ] && [ "$(printf '%s\n' "$out" | tail -n 1 | cut -c1-4)" = "OK: " ]; then
    ok "$desc"
  else
    not_ok "$desc (exit $st: $(printf '%s\n' "$out" | grep -E '^(OK|FAIL|FIX|server verdict): ' | tr '\n' '|'))"
  fi
}

# fails DESC STATUS OUTPUT PATTERN: exit 1, a "FAIL:" line matching the
# ERE PATTERN (case-insensitive), followed by a "FIX:" line, at the end.
fails () {
  local desc=$1 st=$2 out=$3 pat=$4
  if [ "$st" = 1 ] &&
     printf '%s\n' "$out" | tail -n 2 | head -n 1 | grep -E '^FAIL: ' | grep -qiE -- "$pat" &&
     printf '%s\n' "$out" | tail -n 1 | grep -qE '^FIX: .'; then
    ok "$desc"
  else
    not_ok "$desc (exit $st, want 1 and FAIL matching '$pat': $(printf '%s\n' "$out" | grep -E '^(OK|FAIL|FIX|server verdict): ' | tr '\n' '|'))"
  fi
}

# ---- the tool itself ---------------------------------------------------------
err=$("$LATCH" --debug-feature=tls.nothing 2>&1); st=$?
[ $st = 1 ] && [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] &&
  contains "$err" 'tls\.server, tls\.client, ipv6\.multicast\.server, ipv6\.multicast\.client'
verdict "an unknown feature: exit 1, one line listing the four ($err)"

# ---- good configurations -------------------------------------------------
# shellcheck disable=SC2086
dserver $O1
# shellcheck disable=SC2086
dclient $O2
server_end
passes "channel level: the client accepts the server" "$CST" "$CO"
passes "channel level: the server accepts the client" "$SST" "$SO"
contains "$SO" '^OK: a daemon with this configuration accepts the peer at level channel$' &&
  contains "$CO" '^OK: a client with this configuration accepts the peer at level channel$' &&
  contains "$CO" '^server verdict: OK: a daemon ' &&
  contains "$CO" '^  version: TLS1\.[23]$' && contains "$CO" "^    CN: $MID\$" &&
  contains "$SO" '^listening on 127\.0\.0\.1 port ' && contains "$SO" 'announced machine ID'
verdict "...both name the level; the client prints the server's verdict, the version, the peer's CN"
contains "$CO" '^  matches the certificate: yes$' && contains "$CO" 'SHA-256 fingerprint: ' &&
  contains "$CO" '^  versions allowed: TLS1\.3, TLS1\.2$' && contains "$CO" 'not after: '
verdict "...the local section: key matches, fingerprint, dates, the versions the priority allows"

# shellcheck disable=SC2086
dserver $O1 $CHECK
# shellcheck disable=SC2086
dclient $O2 $CHECK
server_end
passes "mutual level: the client accepts the server" "$CST" "$CO"
passes "mutual level: the server accepts the client" "$SST" "$SO"
contains "$SO" 'at level mutual$' && contains "$CO" 'at level mutual$' &&
  contains "$CO" '^  matches its certificate$'
verdict "...at level mutual, the IDs match the certificates"

# FLoM's debug-features.at, with the same wait for the server as the rest.
# ---- wrong CA ------------------------------------------------------------
# The client's certificate comes from CA2; it trusts CA1 (the server's).
# shellcheck disable=SC2086
dserver $O1 $CHECK
dclient $CHECK --tls-certificate="$PKI/peer1_ca2.pem" --tls-private-key="$PKI/peer1_ca2.key" \
  --tls-ca-certificate="$PKI/ca1.pem"
server_end
fails "client certificate from another CA: the server says it is not signed by its CA" \
  "$SST" "$SO" 'not signed by a CA in'
fails "...and the client that the server does not trust its CA" "$CST" "$CO" 'does not trust'
contains "$SO" 'verification of the peer.s certificate: REFUSED' && contains "$SO" 'OU=peer1_ca2'
verdict "...the server shows the refused chain and the refusal"

# Both from CA2 (FLoM: "peers with different cert. auth."): the client refuses first.
# shellcheck disable=SC2086
dserver $O1 $CHECK
# shellcheck disable=SC2086
dclient $(tls_opts peer2_ca2 ca2) $CHECK
server_end
fails "peers of different CAs: the client says the server is not signed by its CA" \
  "$CST" "$CO" 'not signed by a CA in'
fails "...and the server that the client does not trust its CA" "$SST" "$SO" 'does not trust'

# ---- expired, not yet valid: latch refuses its own such certificate --------
# shellcheck disable=SC2086
CO=$("$LATCH" --debug-feature=tls.client -a 127.0.0.1 -p 1 $(tls_opts expired_ca1 ca1) 2>&1); CST=$?
fails "an expired certificate: the local check names it" "$CST" "$CO" 'expired'
contains "$CO" 'EXPIRED by this machine.s clock' && ! contains "$CO" '^connected to'
verdict "...the local section marks it EXPIRED, and nothing is connected"
# shellcheck disable=SC2086
CO=$("$LATCH" --debug-feature=tls.server -a 127.0.0.1 -p 1 $(tls_opts notyet_ca1 ca1) 2>&1); CST=$?
fails "a server certificate not yet valid: the local check names it" "$CST" "$CO" 'not valid before'

# ---- revoked ---------------------------------------------------------------
# shellcheck disable=SC2086
dserver $O1 --tls-crl="$PKI/ca1.crl"
# shellcheck disable=SC2086
dclient $(tls_opts revoked_ca1 ca1)
server_end
fails "a revoked client certificate: the server names the revocation" "$SST" "$SO" 'revoked'
fails "...and the client learns its certificate was revoked" "$CST" "$CO" 'revoked'
contains "$SO" '^    next update: ' && contains "$SO" '^    revoked certificates: [1-9]'
verdict "...the server's local section shows the CRL's next update and its entries"

# ---- CN != machine ID -------------------------------------------------------
# At the mutual level a node refuses its own such certificate.
# shellcheck disable=SC2086
CO=$("$LATCH" --debug-feature=tls.client -a 127.0.0.1 -p 1 $(tls_opts peer3_ca1 ca1) $CHECK 2>&1); CST=$?
fails "a client certificate whose CN is not the machine ID, at mutual: refused locally" \
  "$CST" "$CO" 'machine ID'
# A channel-level client with that certificate: a mutual server refuses it.
# shellcheck disable=SC2086
dserver $O1 $CHECK
# shellcheck disable=SC2086
dclient $(tls_opts peer3_ca1 ca1)
server_end
fails "a client announcing an ID its certificate does not name: the server says so" \
  "$SST" "$SO" 'announced ID'
fails "...the client too, from the server's verdict" "$CST" "$CO" 'refuses this client.*announced ID'
contains "$CO" '^server verdict: FAIL: .*announced ID' && contains "$CO" '^server verdict: FIX: '
verdict "...the client prints the server's FAIL and FIX"
# A channel-level server with that certificate: a mutual client refuses it
# (FLoM: "wrong unique id").
# shellcheck disable=SC2086
dserver $(tls_opts peer3_ca1 ca1)
# shellcheck disable=SC2086
dclient $O2 $CHECK
server_end
fails "a server announcing an ID its certificate does not name: the client says so" \
  "$CST" "$CO" 'announced ID'
passes "...while the channel-level server accepts the client" "$SST" "$SO"

# ---- wrong private key -----------------------------------------------------
CO=$("$LATCH" --debug-feature=tls.client -a 127.0.0.1 -p 1 $CHECK \
  --tls-certificate="$PKI/peer2_ca1.pem" --tls-private-key="$PKI/peer1_ca1.key" \
  --tls-ca-certificate="$PKI/ca1.pem" 2>&1); CST=$?
fails "a client key that does not match its certificate" "$CST" "$CO" 'does not match'
contains "$CO" '^  matches the certificate: NO'
verdict "...the local section says the key does not match"
CO=$("$LATCH" --debug-feature=tls.server -a 127.0.0.1 -p 1 \
  --tls-certificate="$PKI/peer1_ca1.pem" --tls-private-key="$PKI/peer2_ca1.key" \
  --tls-ca-certificate="$PKI/ca1.pem" 2>&1); CST=$?
fails "a server key that does not match its certificate" "$CST" "$CO" 'does not match'

# ---- partial and clear configurations -----------------------------------
CO=$("$LATCH" --debug-feature=tls.client -a 127.0.0.1 -p 1 \
  --tls-certificate="$PKI/peer2_ca1.pem" --tls-ca-certificate="$PKI/ca1.pem" 2>&1); CST=$?
fails "a partial TLS configuration (client)" "$CST" "$CO" 'incomplete TLS configuration'
CO=$("$LATCH" --debug-feature=tls.server -a 127.0.0.1 -p 1 \
  --tls-private-key="$PKI/peer1_ca1.key" 2>&1); CST=$?
fails "a partial TLS configuration (server)" "$CST" "$CO" 'incomplete TLS configuration'
CO=$("$LATCH" --debug-feature=tls.server -a 127.0.0.1 -p 1 2>&1); CST=$?
fails "no TLS at all" "$CST" "$CO" 'does not use TLS \(clear level\)'
contains "$CO" '^FIX: .*TlsCertificate'
verdict "...and the fix names the settings"

# ---- clear text against TLS, both ways ------------------------------------
# A clear client (tls-peer --clear, a latch lock request) of the debug server.
# shellcheck disable=SC2086
dserver $O1
out=$("$TLS_PEER" --tcp "127.0.0.1:$SPORT" --clear --send "$(lock_msg "$MID" r)" --timeout 8000 2>&1)
server_end
fails "a clear-text client: the server says the peer speaks clear text" "$SST" "$SO" 'clear text'

# The debug client against a clear latch daemon.
tls_port
CPORT=$TLS_PORT
"$LATCH" -a 127.0.0.1 -p "$CPORT" -d -1 -r clear -- true > /dev/null 2>&1
CPID=$(ss -Hltnp "sport = :$CPORT" 2>/dev/null | sed -n 's/.*pid=\([0-9][0-9]*\).*/\1/p' | head -n1)
[ -n "$CPID" ] && echo "$CPID" > "$T/clear.sockpid"
SPORT=$CPORT
# shellcheck disable=SC2086
dclient $O2
fails "a clear daemon: the client says the peer speaks clear text" "$CST" "$CO" 'clear text'
"$LATCH" -a 127.0.0.1 -p "$CPORT" -X > /dev/null 2>&1
[ -n "$CPID" ] && wait_for 10 pid_gone "$CPID"
verdict "...the clear daemon stops with -X"

# ---- bounded waits ------------------------------------------------------------
tls_port
SPORT=$TLS_PORT
# shellcheck disable=SC2086
dclient $O2
fails "nobody listening: the client says so" "$CST" "$CO" 'nobody listens'

# ---- ipv6.multicast.server / .client -----------------------------------------
# Multicast on one host needs a route (IPv4 on lo) or an interface (IPv6
# link-local on a veth pair): both in a private network namespace.
mcast_why=""
if [ "$(id -u)" != 0 ]; then mcast_why="not root (a private network namespace needs unshare -n)"
elif ! command -v unshare > /dev/null 2>&1; then mcast_why="unshare(1) not found"
elif ! command -v ip > /dev/null 2>&1; then mcast_why="ip(8) not found"
elif ! unshare -n true > /dev/null 2>&1; then mcast_why="unshare -n failed: no network namespaces"
fi
if [ -n "$mcast_why" ]; then
  n_tests=$((n_tests + 1)); echo "ok $n_tests # SKIP multicast: $mcast_why"
  n_tests=$((n_tests + 1)); echo "ok $n_tests # SKIP multicast IPv6: $mcast_why"
else
  # In the namespace: server in the background, wait for its line, client.
  # Prints the server's output, a line "--", the client's, and both statuses.
  mcast_pair () { # GROUP PORT [IFACE]
    unshare -n sh -c '
      T=$1 G=$2 P=$3 I=$4
      ip link set lo up multicast on || exit 3
      ip route add 224.0.0.0/4 dev lo src 127.0.0.1 || exit 3
      if [ -n "$I" ]; then
        ip link add ltd0 type veth peer name ltd1 || exit 3
        ip link set ltd0 addrgenmode none; ip link set ltd1 addrgenmode none
        ip link set ltd0 up && ip link set ltd1 up &&
          ip -6 addr add fe80::1/64 dev ltd0 nodad || exit 3
        set -- -n "$I"
      else
        set --
      fi
      timeout -k 2 20 "$LATCH" --debug-feature=ipv6.multicast.server -A "$G" -P "$P" "$@" \
        > "$T/ms.out" 2>&1 &
      spid=$!
      i=0
      while ! grep -q "^waiting for a datagram" "$T/ms.out" && kill -0 $spid 2>/dev/null &&
            [ $i -lt 1000 ]; do sleep 0.01; i=$((i + 1)); done
      timeout -k 2 20 "$LATCH" --debug-feature=ipv6.multicast.client -A "$G" -P "$P" "$@" \
        > "$T/mc.out" 2>&1
      cst=$?
      wait $spid; sst=$?
      cat "$T/ms.out"; echo "--"; cat "$T/mc.out"; echo "status $sst $cst"
    ' mcast "$T" "$@"
  }
  out=$(mcast_pair 239.255.28.15 28115)
  if [ $? = 3 ]; then
    n_tests=$((n_tests + 1)); echo "ok $n_tests # SKIP multicast: cannot set up lo in the namespace"
  else
    desc="multicast (IPv4 group on lo): HELLO / WELCOME, FLoM's lines, exit 0 both ($(one_line "$out"))"
    contains "$out" "^Arrived datagram is 'HELLO'\$" && contains "$out" "^Sent datagram is 'WELCOME'\$" &&
      contains "$out" "^Sent datagram is 'HELLO'\$" && contains "$out" "^Arrived datagram is 'WELCOME'\$" &&
      contains "$out" '^status 0 0$'
    verdict "$desc"
  fi
  out=$(mcast_pair ff02::1:2815 28116 ltd0)
  if [ $? = 3 ]; then
    n_tests=$((n_tests + 1)); echo "ok $n_tests # SKIP multicast IPv6: cannot set up a veth pair"
  else
    desc="multicast (IPv6 link-local group, -n): HELLO / WELCOME, exit 0 both ($(one_line "$out"))"
    contains "$out" "^Arrived datagram is 'HELLO'\$" && contains "$out" "^Arrived datagram is 'WELCOME'\$" &&
      contains "$out" '^status 0 0$'
    verdict "$desc"
  fi
fi
out=$("$LATCH" --debug-feature=ipv6.multicast.client 2>&1); st=$?
fails "multicast client without -A: says what is missing" "$st" "$out" 'no multicast group'

finish
