#!/bin/sh
# TLS on the local socket and on TCP: FLoM's tls.at scenarios (spec
# tls.md §8, adapted where latch refuses earlier or says more), then
# latch's own: dates, CRL, SAN, allow-list, partial configuration, clear
# text against TLS both ways, stalled handshakes, priorities, key types,
# certificate chains, the daemon-only certificate model, key permissions.
#
# Every refusal: exit 99, one line on stderr, within a bounded time (the
# helpers in tls-lib.sh run latch under `timeout`), never 141 (SIGPIPE).
# TLS_FORCE_PRIORITY=STRING reruns the file with that priority on every
# command (e.g. NORMAL:-VERS-ALL:+VERS-TLS1.2).
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"
. "$LATCH_TESTS_SRCDIR/integration/tls-lib.sh"

diag "machine ID $MID"
O1=$(tls_opts peer1_ca1 ca1)
O2=$(tls_opts peer2_ca1 ca1)
CHECK=--tls-check-peer-id=yes
NOCHECK=--tls-check-peer-id=no

# The FLoM test configuration: peer1 under CA1, peer id check on (conf)
# or off (conf-nocheck).
tls_conf_files "$T/conf" peer1_ca1 ca1 TlsCheckPeerId=yes
tls_conf_files "$T/conf-nocheck" peer1_ca1 ca1 TlsCheckPeerId=no

# ---- 1. certificates ------------------------------------------------------
for f in ca1 ca2 peer1_ca1 peer2_ca1 peer3_ca1 peer1_ca2 peer2_ca2 expired_ca1 notyet_ca1 \
         revoked_ca1 san_ca1 rsa1024_ca1 rsa3072_ca1 ed25519_ca1 clientonly_ca1 chained_ca1; do
  [ -s "$PKI/$f.pem" ] && [ -s "$PKI/$f.key" ] || break
done
[ -s "$PKI/$f.pem" ] && [ -s "$PKI/ca1.crl" ] && [ -s "$PKI/ca1-empty.crl" ] &&
  [ "$(stat -c %a "$PKI/peer1_ca1.key")" = 600 ]
verdict "1 the test PKI is made (keys mode 0600)"

# ---- 2-5. one command, daemon and client alike ----------------------------
at_sock s2
expect_status 0 "2 local socket, peer1/CA1: the first command starts a TLS daemon and runs" \
  tls_daemon $O1
out=$("$TLS_PEER" $WPEER --ca "$PKI/ca1.pem" --cert "$PKI/peer2_ca1.pem" --key "$PKI/peer2_ca1.key" \
  --send "$(lock_msg "$MID" r2)" --until '</msg>' --timeout 5000); st=$?
# (Under TLS_FORCE_PRIORITY the version and cipher are whatever it says.)
if [ -z "${TLS_FORCE_PRIORITY:-}" ]; then want_v='TLS1\.3'; want_c='AES-256-GCM'; else want_v='.*'; want_c='.*'; fi
[ $st = 0 ] && contains "$out" "^version $want_v\$" && contains "$out" "^cipher $want_c\$" &&
  contains "$out" "^peer-cn $MID\$" && contains "$out" 'rc="0"'
peer_verdict "...the daemon speaks TLS on the UNIX socket: TLS 1.3, AES-256-GCM by default, and grants"
out=$("$TLS_PEER" $WPEER --clear --send "$(lock_msg "" r2)" --timeout 5000); st=$?
[ $st = 0 ] && contains "$out" 'rc="-24"' && ! contains "$out" 'rc="0"' && contains "$out" '^end: eof$'
peer_verdict "...and answers a clear-text request with rc -24 (TLS required), then closes"
locks "...a second command with the same settings locks" $W $O1 -r r2 -- true
"$LATCH" $W $O1 -X > /dev/null 2>&1

at_sock s3
expect_status 0 "3 local socket with peer id check" tls_daemon $O1 $CHECK
locks "...and a second command locks" $W $O1 $CHECK -r r3 -- true
"$LATCH" $W $O1 $CHECK -X > /dev/null 2>&1

at_tcp localhost
expect_status 0 "4 TCP (-a localhost), peer1/CA1" tls_daemon $O1
locks "...and a second command locks" $W $O1 -r r4 -- true
"$LATCH" $W $O1 -X > /dev/null 2>&1

at_tcp localhost
expect_status 0 "5 TCP with peer id check" tls_daemon $O1 $CHECK
locks "...and a second command locks" $W $O1 $CHECK -r r5 -- true
"$LATCH" $W $O1 $CHECK -X > /dev/null 2>&1

# ---- 6-11. daemon from conf, clients with other files ---------------------
at_tcp
expect_status 0 "6 daemon from conf (peer1/CA1, check)" tls_daemon -c "$T/conf"
locks "6 client conf + peer2_CA1 certificate and key" \
  $W -c "$T/conf" --tls-certificate="$PKI/peer2_ca1.pem" --tls-private-key="$PKI/peer2_ca1.key" -r r6 -- true
refused "7 client with peer1_CA2 and CA2 refuses the CA1 daemon" 'daemon && not signed by' \
  $W -c "$T/conf" --tls-certificate="$PKI/peer1_ca2.pem" --tls-private-key="$PKI/peer1_ca2.key" \
  --tls-ca-certificate="$PKI/ca2.pem" -r r7 -- true
refused "9 client with peer1 certificate and peer2 key" 'key' \
  $W -c "$T/conf" --tls-private-key="$PKI/peer2_ca1.key" -r r9 -- true
refused "11 client trusting CA2 only refuses the CA1 daemon" 'daemon && not signed by' \
  $W -c "$T/conf" --tls-ca-certificate="$PKI/ca2.pem" -r r11 -- true
refused "...a client with a CA2 certificate, trusting CA1: the daemon refuses it" 'refused our certificate && trust' \
  $W -c "$T/conf" --tls-certificate="$PKI/peer1_ca2.pem" --tls-private-key="$PKI/peer1_ca2.key" -r r7b -- true
check "...the daemon survived every refusal" daemon_alive
locks "...and still serves" $W -c "$T/conf" -r r6b -- true
"$LATCH" $W -c "$T/conf" -X > /dev/null 2>&1

at_tcp
refused "8 launching command with a key that does not match its certificate" 'key' \
  $W -c "$T/conf" --tls-private-key="$PKI/peer2_ca1.key" -d -1 -r r8 -- true
at_tcp
refused "10 launching command trusting CA2 refuses its own CA1 daemon" 'daemon && not signed by' \
  $W -c "$T/conf" --tls-ca-certificate="$PKI/ca2.pem" -d -1 -r r10 -- true
DPID=$(where_pid); [ -n "$DPID" ] && echo "$DPID" > "$T/t10.sockpid"

# ---- 12-15. wrong ids -----------------------------------------------------
at_tcp
expect_status 0 "12 daemon from conf without check" tls_daemon -c "$T/conf-nocheck"
locks "12 client with peer3's certificate (wrong id), no check anywhere" \
  $W $(tls_opts peer3_ca1 ca1) -r r12 -- true
"$LATCH" $W -c "$T/conf-nocheck" -X > /dev/null 2>&1

at_tcp
expect_status 0 "13 daemon from conf with check" tls_daemon -c "$T/conf"
refused "13 client with peer3's certificate and check=yes refuses itself at start" 'machine ID' \
  $W -c "$T/conf" --tls-certificate="$PKI/peer3_ca1.pem" --tls-private-key="$PKI/peer3_ca1.key" -r r13 -- true
P3="--cert $PKI/peer3_ca1.pem --key $PKI/peer3_ca1.key --ca $PKI/ca1.pem"
out=$("$TLS_PEER" $WPEER $P3 --send "$(lock_msg "$MID" r13)" --timeout 8000); st=$?
[ $st = 0 ] && contains "$out" 'rc="-23"' && contains "$out" '^end: eof$'
peer_verdict "13 the daemon's own check: peer3's certificate announcing this host's ID gets rc -23 and is closed"
out=$("$TLS_PEER" $WPEER --cert "$PKI/peer2_ca1.pem" --key "$PKI/peer2_ca1.key" --ca "$PKI/ca1.pem" \
  --send "$(lock_msg "$MID" r13)" --until '</msg>' --timeout 8000)
contains "$out" 'rc="0"'; peer_verdict "...while peer2's certificate announcing the same ID is granted"
"$LATCH" $W -c "$T/conf" -X > /dev/null 2>&1

at_tcp
expect_status 0 "14 daemon with peer3 (wrong id), no check" tls_daemon $(tls_opts peer3_ca1 ca1) $NOCHECK
locks "14 client peer2 without check locks" $W $O2 $NOCHECK -r r14 -- true
refused "15 client peer2 with check: the daemon's certificate does not match its ID" 'does not match|announced' \
  $W $O2 $CHECK -r r15 -- true
"$LATCH" $W $O2 -X > /dev/null 2>&1

# ---- 16-19. shutdown ------------------------------------------------------
O2CA2=$(tls_opts peer2_ca2 ca2)
at_tcp
expect_status 0 "16 daemon from conf without check" tls_daemon -c "$T/conf-nocheck"
locks "16 -X from conf + peer2" \
  $W -c "$T/conf-nocheck" --tls-certificate="$PKI/peer2_ca1.pem" --tls-private-key="$PKI/peer2_ca1.key" -X
check "...the daemon is gone" daemon_stops

at_tcp
tls_daemon -c "$T/conf-nocheck"
refused "17 -X with peer2_CA2 and CA2: refused (FLoM: 0)" 'daemon && not signed by' \
  $W -c "$T/conf-nocheck" $O2CA2 -X
check "...the daemon is alive" daemon_alive
locks "17 then -X with peer2_CA1 exits 0" $W -c "$T/conf-nocheck" $O2 -X
check "...and the daemon is gone" daemon_stops

at_tcp
tls_daemon -c "$T/conf-nocheck"
refused "18 -X with peer2's certificate and peer3's key: refused" 'key' \
  $W -c "$T/conf-nocheck" --tls-certificate="$PKI/peer2_ca1.pem" --tls-private-key="$PKI/peer3_ca1.key" -X
check "...the daemon is alive" daemon_alive
locks "18 then -X with peer2 exits 0" $W -c "$T/conf-nocheck" $O2 -X
check "...and the daemon is gone" daemon_stops

at_tcp
tls_daemon -c "$T/conf"
refused "19 -X with peer3's certificate and check: refused at start (FLoM: 0)" 'machine ID' \
  $W -c "$T/conf" --tls-certificate="$PKI/peer3_ca1.pem" --tls-private-key="$PKI/peer3_ca1.key" -X
out=$("$TLS_PEER" $WPEER $P3 --send "$(mgmt_msg "$MID" 1)" --timeout 8000)
! contains "$out" 'rc="0"' && contains "$out" '^end: eof$'
peer_verdict "19 a raw shutdown with peer3's certificate announcing this host's ID is refused and closed"
check "...the daemon is alive" daemon_alive
locks "19 then -X with peer2 exits 0" $W -c "$T/conf" $O2 -X
check "...and the daemon is gone" daemon_stops

# ---- certificate dates and revocation --------------------------------------
# A latch command refuses its own expired or not yet valid certificate, so
# a daemon cannot run with one: gnutls-serv plays that daemon.
serve () { # NAME: gnutls-serv with NAME's certificate on a new port
  tls_port
  gnutls-serv -p "$TLS_PORT" --x509certfile "$PKI/$1.pem" --x509keyfile "$PKI/$1.key" \
    --x509cafile "$PKI/ca1.pem" --require-client-cert > "$T/serv-$1.log" 2>&1 &
  echo $! > "$T/serv-$1.sockpid"
  wait_for 10 sh -c '[ -n "$(ss -Hltn "sport = :$1")" ]' sh "$TLS_PORT"
}
unserve () { # NAME
  kill "$(cat "$T/serv-$1.sockpid")" 2>/dev/null
  wait "$(cat "$T/serv-$1.sockpid")" 2>/dev/null
  rm -f "$T/serv-$1.sockpid"
}
if command -v gnutls-serv >/dev/null 2>&1; then
  serve expired_ca1
  refused "the client refuses an expired daemon certificate" 'daemon && expired' \
    -a 127.0.0.1 -p "$TLS_PORT" -d 0 $O1 -r dates -- true
  unserve expired_ca1
  serve notyet_ca1
  refused "the client refuses a daemon certificate not yet valid" 'daemon && not valid before' \
    -a 127.0.0.1 -p "$TLS_PORT" -d 0 $O1 -r dates -- true
  unserve notyet_ca1
  serve clientonly_ca1
  refused "the client refuses a daemon certificate meant for TLS clients only" \
    'daemon && server use' -a 127.0.0.1 -p "$TLS_PORT" -d 0 $O1 -r dates -- true
  unserve clientonly_ca1
else
  ok "# SKIP no gnutls-serv"; ok "# SKIP no gnutls-serv"; ok "# SKIP no gnutls-serv"
fi
refused "a command refuses its own expired certificate" 'expired' $(tls_opts expired_ca1 ca1) -s "$T/x.sock" -r dates -- true
refused "a command refuses its own certificate not yet valid" 'not valid before|not yet' $(tls_opts notyet_ca1 ca1) -s "$T/x.sock" -r dates -- true

at_sock dates
tls_daemon $O1
out=$("$TLS_PEER" $WPEER --cert "$PKI/expired_ca1.pem" --key "$PKI/expired_ca1.key" --ca "$PKI/ca1.pem" \
  --send "$(lock_msg "" dates)" --timeout 8000)
contains "$out" '^alert: .*expired' && ! contains "$out" 'rc="0"'
peer_verdict "the daemon refuses an expired client certificate with a 'certificate expired' alert"
"$LATCH" $W $O1 -X > /dev/null 2>&1

at_tcp
expect_status 0 "a daemon with revoked_ca1's certificate, no CRL" tls_daemon $(tls_opts revoked_ca1 ca1)
refused "a client with the CRL refuses it (--tls-crl)" 'daemon && revoked' \
  $W $O2 --tls-crl="$PKI/ca1.crl" -r crl -- true
locks "...a client with the empty CRL accepts it" $W $O2 --tls-crl="$PKI/ca1-empty.crl" -r crl -- true
"$LATCH" $W $O2 -X > /dev/null 2>&1
at_tcp
expect_status 0 "a daemon with the CRL" tls_daemon $O1 --tls-crl="$PKI/ca1.crl"
refused "...refuses the revoked client certificate" 'refused our certificate && revoked' \
  $W $(tls_opts revoked_ca1 ca1) -r crl -- true
locks "...and accepts another" $W $O2 -r crl -- true
"$LATCH" $W $O1 --tls-crl="$PKI/ca1.crl" -X > /dev/null 2>&1

# A new CRL takes effect at the next connection, without a restart.
at_tcp
cp "$PKI/ca1-empty.crl" "$T/live.crl"
expect_status 0 "a daemon with an empty CRL file" tls_daemon $O1 --tls-crl="$T/live.crl"
locks "...accepts revoked_ca1's certificate" $W $(tls_opts revoked_ca1 ca1) -r crl -- true
cp "$PKI/ca1.crl" "$T/live.crl.new" && mv "$T/live.crl.new" "$T/live.crl"
refused "...and refuses it once the CA's CRL replaces the file" 'refused our certificate && revoked' \
  $W $(tls_opts revoked_ca1 ca1) -r crl -- true
locks "...while others still lock" $W $O2 -r crl -- true
echo garbage > "$T/live.crl.new" && mv "$T/live.crl.new" "$T/live.crl"
refused "...a broken CRL file leaves the last good one in place" 'refused our certificate && revoked' \
  $W $(tls_opts revoked_ca1 ca1) -r crl -- true
check "...and says so in the daemon's log" file_has "$DTRACE" "cannot be used, keeping the previous one"
"$LATCH" $W $O1 -X > /dev/null 2>&1

# ---- identity: SAN, allow-list ---------------------------------------------
at_sock san
OSAN=$(tls_opts san_ca1 ca1)
expect_status 0 "mutual level with the ID in a DNS SAN (CN node-with-san): daemon" \
  tls_daemon $OSAN --security-level=mutual
locks "...and a client with that certificate locks" $W $OSAN --security-level=mutual -r san -- true
locks "...and a client with peer2 (ID in the CN) locks" $W $O2 --security-level=mutual -r san -- true
"$LATCH" $W $OSAN --security-level=mutual -X > /dev/null 2>&1

printf '# this host\n%s\n' "$MID" > "$T/allowed-me"
printf '# another host only\n00112233445566778899aabbccddeeff\n' > "$T/allowed-other"
at_tcp
expect_status 0 "allow-list with this host's ID: the daemon starts" \
  tls_daemon $O1 $CHECK --tls-allowed-peers="$T/allowed-me"
locks "...and a client locks" $W $O2 $CHECK -r allow -- true
"$LATCH" $W $O1 $CHECK -X > /dev/null 2>&1
at_tcp
refused "allow-list without this host's ID: the launching command is not allowed" 'not allowed' \
  $W $O1 $CHECK --tls-allowed-peers="$T/allowed-other" -d -1 -r allow -- true
DPID=$(where_pid); [ -n "$DPID" ] && echo "$DPID" > "$T/allow.sockpid"
check "...its daemon runs" daemon_alive
refused "...another client of this host is not allowed either" 'not allowed' $W $O2 $CHECK -r allow -- true
out=$("$TLS_PEER" $WPEER $P3 --send "$(lock_msg 00112233445566778899aabbccddeeff allow)" --until '</msg>' --timeout 8000)
contains "$out" 'rc="0"'; peer_verdict "...while peer3, whose ID is listed and matches its certificate, is granted"
[ -n "$DPID" ] && kill "$DPID"

# ---- partial configuration ------------------------------------------------
refused "certificate only: incomplete, naming TlsPrivateKey" 'incomplete TLS configuration && TlsPrivateKey' \
  -s "$T/p.sock" --tls-certificate="$PKI/peer1_ca1.pem" -r p -- true
refused "certificate and key: incomplete, naming TlsCaCertificate" 'incomplete TLS configuration && TlsCaCertificate' \
  -s "$T/p.sock" --tls-certificate="$PKI/peer1_ca1.pem" --tls-private-key="$PKI/peer1_ca1.key" -r p -- true
refused "CA only: incomplete, naming TlsCertificate" 'incomplete TLS configuration && TlsCertificate' \
  -s "$T/p.sock" --tls-ca-certificate="$PKI/ca1.pem" -r p -- true
tls_conf "$T/partial.conf" "TlsCertificate=$PKI/peer1_ca1.pem" "TlsCaCertificate=$PKI/ca1.pem"
refused "...the same from a configuration file" 'incomplete TLS configuration && TlsPrivateKey' \
  -s "$T/p.sock" -c "$T/partial.conf" -r p -- true
check "...and no daemon was started" [ ! -e "$T/p.sock" ]

# ---- clear text against TLS, both ways ------------------------------------
for where in sock tcp; do
  if [ $where = sock ]; then at_sock "ctls"; else at_tcp; fi
  tls_daemon $O1
  refused "$where: a clear client of a TLS daemon is told it requires TLS" 'requires TLS' $W -r clear -- true
  refused "$where: -x from a clear client: 99 (FLoM: 0)" 'requires TLS' $W -x
  check "$where: ...the TLS daemon is alive" daemon_alive
  locks "$where: ...and serves TLS clients" $W $O1 -r clear -- true
  "$LATCH" $W $O1 -X > /dev/null 2>&1

  if [ $where = sock ]; then at_sock "cclear"; else at_tcp; fi
  tls_daemon
  refused "$where: a TLS client of a clear daemon is told it does not speak TLS" 'does not speak TLS' \
    $W $O1 -r clear -- true
  check "$where: ...the clear daemon is alive" daemon_alive
  locks "$where: ...and serves clear clients" $W -r clear -- true
  "$LATCH" $W -X > /dev/null 2>&1
done

# ---- stalled handshakes -----------------------------------------------------
at_tcp
tls_daemon $O1
bg "$TLS_PEER" $WPEER --stall-before-hello --timeout 15000 > "$T/stall-before.out"
sb=$last_pid
bg "$TLS_PEER" $WPEER --ca "$PKI/ca1.pem" --stall-after-hello --timeout 15000 > "$T/stall-after.out"
sa=$last_pid
wait_for 10 file_has "$T/stall-before.out" '^connected'
wait_for 10 file_has "$T/stall-after.out" 'hello sent'
t0=$(now_ns)
err=$(timeout -k 2 20 "$LATCH" $W $O1 -r stall -- true 2>&1); st=$?
ms=$(( ($(now_ns) - t0) / 1000000 ))
desc="while two TLS clients stall (before and after the ClientHello), another locks at once (exit $st, ${ms} ms; the handshake limit is 5 s) $(one_line "$err")"
[ $st = 0 ] && [ $ms -lt 3000 ]
verdict "$desc"
check "the client that never sent a ClientHello is dropped within ~5 s" wait_for 12 pid_gone $sb
wait $sb; st_b=$?
check "the client stalled after its ClientHello is dropped within ~5 s" wait_for 12 pid_gone $sa
wait $sa; st_a=$?
how="$(tail -n1 "$T/stall-before.out"); $(tail -n1 "$T/stall-after.out")"
[ $st_b = 0 ] && [ $st_a = 0 ]
verdict "...both were closed by the daemon, not timed out ($how)"
nb=$(sed -n 's/^closed after \([0-9]*\) ms$/\1/p' "$T/stall-before.out")
na=$(sed -n 's/^closed after \([0-9]*\) ms$/\1/p' "$T/stall-after.out")
[ -n "$nb" ] && [ -n "$na" ] && [ "$nb" -ge 3000 ] && [ "$nb" -le 8000 ] && [ "$na" -ge 3000 ] && [ "$na" -le 8000 ]
verdict "...after about 5 s (${nb:-?} ms, ${na:-?} ms)"
"$LATCH" $W $O1 -X > /dev/null 2>&1

# ---- priorities -----------------------------------------------------------
TLS12='NORMAL:-VERS-ALL:+VERS-TLS1.2'
at_tcp
expect_status 0 "a daemon with TLS 1.2 forced by --tls-priority" tls_daemon $O1 --tls-priority="$TLS12"
out=$("$TLS_PEER" $WPEER --ca "$PKI/ca1.pem" --cert "$PKI/peer2_ca1.pem" --key "$PKI/peer2_ca1.key" \
  --send "$(lock_msg "" prio)" --until '</msg>' --timeout 5000)
contains "$out" '^version TLS1\.2$' && contains "$out" 'rc="0"'
peer_verdict "...negotiates TLS 1.2 (tls-peer prints version TLS1.2) and grants"
locks "...and a latch client with the default priority locks" $W $O2 -r prio -- true
"$LATCH" $W $O1 -X > /dev/null 2>&1
# The patterns must not match the priority string the message quotes:
# the token on its own, and 3DES as the reason.
refused "an unknown priority token is named" '(^|[^:+])[+]?BOGUSTOKEN' \
  -s "$T/p.sock" $O1 --tls-priority='NORMAL:+BOGUSTOKEN' -r p -- true
refused "3DES is refused, by name" "3DES[^']*(refus|weak|insecure)" \
  -s "$T/p.sock" $O1 --tls-priority='NORMAL:-VERS-ALL:+VERS-TLS1.2:+3DES-CBC' -r p -- true
refused "TLS 1.1 is refused" "TLS ?1\.1[^']*(refus|weak|insecure)" \
  -s "$T/p.sock" $O1 --tls-priority='NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.1' -r p -- true

# ---- key types, chains ----------------------------------------------------
refused "an RSA 1024 certificate is refused (needs 2048)" '2048' \
  -s "$T/p.sock" $(tls_opts rsa1024_ca1 ca1) -r p -- true
for k in ed25519_ca1 rsa3072_ca1; do
  if [ $k = ed25519_ca1 ] && [ -n "${TLS_FORCE_PRIORITY:-}" ]; then
    # GnuTLS cannot use an Ed25519 client certificate in TLS 1.2 (the
    # server answers "decode error"), whatever latch does.
    ok "# SKIP $k under TLS_FORCE_PRIORITY"
    continue
  fi
  at_sock "$k"
  expect_status 0 "$k: a daemon starts with it" tls_daemon $(tls_opts "$k" ca1) $CHECK
  locks "$k: ...and a client with it locks (mutual level)" $W $(tls_opts "$k" ca1) $CHECK -r keys -- true
  locks "$k: ...and so does an ECDSA client" $W $O2 $CHECK -r keys -- true
  "$LATCH" $W $O2 $CHECK -X > /dev/null 2>&1
done
at_sock rsa1024
tls_daemon $O1
out=$("$TLS_PEER" $WPEER --cert "$PKI/rsa1024_ca1.pem" --key "$PKI/rsa1024_ca1.key" --ca "$PKI/ca1.pem" \
  --send "$(lock_msg "" keys)" --timeout 8000)
! contains "$out" 'rc="0"' && contains "$out" '^alert:|^end: eof'
peer_verdict "the daemon refuses a peer with an RSA 1024 certificate"
"$LATCH" $W $O1 -X > /dev/null 2>&1

at_tcp
OCH=$(tls_opts chained_ca1 ca1)
expect_status 0 "a daemon whose certificate is under an intermediate CA" tls_daemon $OCH $CHECK
out=$("$TLS_PEER" $WPEER --ca "$PKI/ca1.pem" --cert "$PKI/peer2_ca1.pem" --key "$PKI/peer2_ca1.key" \
  --send "$(lock_msg "$MID" chain)" --until '</msg>' --timeout 5000)
contains "$out" '^peer-certs 2$' && contains "$out" 'rc="0"'
peer_verdict "...sends the whole chain (tls-peer: peer-certs 2) and grants"
locks "...a client trusting CA1 only locks" $W $O2 $CHECK -r chain -- true
locks "...and a client with a chained certificate too" $W $OCH $CHECK -r chain -- true
"$LATCH" $W $O2 $CHECK -X > /dev/null 2>&1

at_tcp
refused "a daemon with a client-only certificate is refused" 'purpose' \
  $W $(tls_opts clientonly_ca1 ca1) -d -1 -r p -- true
DPID=$(where_pid); [ -n "$DPID" ] && echo "$DPID" > "$T/clientonly.sockpid"

# ---- the daemon-only certificate model --------------------------------------
at_tcp
expect_status 0 "a daemon started by hand with --tls-require-client-cert=no" \
  tls_daemon --tls-require-client-cert=no $O1
CHAN="--security-level=channel --tls-ca-certificate=$PKI/ca1.pem"
locks "...a client with only the CA (--security-level=channel) locks" $W $CHAN -r dmodel -- true
locks "...and so does a client with a certificate" $W $O2 -r dmodel -- true
out=$("$TLS_PEER" $WPEER --ca "$PKI/ca1.pem" --send "$(lock_msg "" dmodel)" --until '</msg>' --timeout 5000)
contains "$out" 'rc="0"'; peer_verdict "...and a raw TLS client without a certificate is granted"
locks "...-X from a CA-only client" $W $CHAN -X
check "...stops it" daemon_stops
at_tcp
tls_daemon $O1
refused "a CA-only client of a daemon that requires certificates" 'requires a client certificate' \
  $W $CHAN -r dmodel -- true
"$LATCH" $W $O1 -X > /dev/null 2>&1

# ---- private key permissions ----------------------------------------------
cp "$PKI/peer1_ca1.key" "$T/loose.key"; chmod 644 "$T/loose.key"
OLOOSE="--tls-certificate=$PKI/peer1_ca1.pem --tls-private-key=$T/loose.key --tls-ca-certificate=$PKI/ca1.pem"
at_sock loose
warns "a private key readable by others: a warning, the command runs" 'readable' $W $OLOOSE -r k -- true
DPID=$(where_pid); [ -n "$DPID" ] && echo "$DPID" > "$T/loose.sockpid"
refused "...refused with an explicit --security-level=channel" 'readable' \
  -s "$T/loose2.sock" $OLOOSE --security-level=channel -r k -- true

# ---- quiesce over TLS ----------------------------------------------------
# The holder finishes; a newcomer is told that the daemon quiesces (reason
# code 1000), or its handshake is cut when the daemon exits, so it retries
# and runs on the next daemon.
at_tcp
tls_daemon $O1 $CHECK
old=$DPID
bg "$LATCH" $W $O1 $CHECK -r q -- sh -c 'touch "$1"; i=0; while [ ! -e "$2" ] && [ $i -lt 2000 ]; do sleep 0.01; i=$((i+1)); done; echo holder >> "$3"' sh "$T/q.in" "$T/q.go" "$T/qorder"; holder=$last_pid
wait_for 10 file_exists "$T/q.in"
expect_status 0 "-x over TLS quiesces the daemon" "$LATCH" $W $O1 $CHECK -x
bg sh -c '"$@" 2> "$0"' "$T/newcomer.err" "$LATCH" $W $O2 $CHECK -d 2000 -r q -- sh -c 'echo newcomer >> "$1"' sh "$T/qorder"; newcomer=$last_pid
touch "$T/q.go"
wait $holder; hs=$?; wait $newcomer; ns=$?
desc="a TLS command arriving during a quiesce runs after the holder, on a new daemon (exits $hs $ns$(cat "$T/newcomer.err" | tr '\n' ' '))"
[ $hs = 0 ] && [ $ns = 0 ] && [ "$(tr '\n' ' ' < "$T/qorder")" = "holder newcomer " ]
verdict "$desc"
check "...and the quiesced daemon is gone" wait_for 10 pid_gone "$old"
"$LATCH" $W $O1 -X > /dev/null 2>&1

# No daemon hit one of its own assertions (GLib criticals) on the way.
bad=$(grep -l CRITICAL "$T"/d*.trace 2>/dev/null)
[ -z "$bad" ]; verdict "no daemon trace has a CRITICAL line ${bad:+($bad)}"

finish
