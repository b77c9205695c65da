#!/bin/bash
# etcd-client.sh: the etcd client module (latch-etcd.so) against real etcd
# members: txn, leases, watches, compaction, failover, free(), and over
# TLS the verdicts on each misconfiguration, one line each.  The checks
# are made by tests/integration/etcd-probe (it prints what differed).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/etcd-lib.sh"
etcd_skip_unless_available

PROBE="$LATCH_TESTS_BUILDDIR/integration/etcd-probe"

# probe DESCRIPTION ARGS...: ok when the probe finds all as expected.
probe () {
  local desc=$1 out; shift
  out=$("$PROBE" "$@" 2>&1)
  local rc=$?
  [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/# /'
  if [ $rc = 0 ]; then ok "$desc"; else not_ok "$desc (exit $rc)"; fi
}

# request ARGS...: OUT, the probe's one line for one range request.
request () { OUT=$("$PROBE" "$@" request 2>&1); RC=$?; diag "$OUT"; }

# --- one plain member ----------------------------------------------------
etcd_start 1
EP1=$ETCD_ENDPOINT_1

probe "txn: put if absent, compare value and revision, prefix range, delete" txn
probe "lease: grant, keepalive, revoke; keepalive after revoke: LEASE_GONE" lease
probe "watch: PUT then DELETE with prev_kv, in order; nothing after stop" watch
probe "free(): no callback after it, also from inside a callback" free

# Compaction: a watch from before the compacted revision ends COMPACTED.
for i in 1 2 3; do etcd_ctl put c/k "$i" >/dev/null; done
rev=$(etcd_ctl get c/k -w json | jq -r .header.revision)
etcd_ctl compact "$rev" >/dev/null
probe "watch from a compacted revision ends with COMPACTED" compacted 2

# etcd's own refusal: one line with its message and code.
OUT=$("$PROBE" server-error 2>&1)
contains "$OUT" "^etcd at $EP1: etcdserver: duplicate key given in txn request \\(code 3\\) \\[code 4\\]$"
verdict "etcd answering an error: $OUT"

# A proxy meant for the web is not used for the cluster.
OUT=$(http_proxy=http://127.0.0.1:1 HTTP_PROXY=http://127.0.0.1:1 "$PROBE" request 2>&1)
contains "$OUT" "^ok $EP1$"
verdict "http_proxy in the environment is ignored: $OUT"

# The module as latchd loads it: a wrong LATCH_ETCD_MODULE is one line.
OUT=$(LATCH_ETCD_MODULE=$T/nope.so "$PROBE" new 2>&1)
contains "$OUT" "^FAIL: the lock table is on etcd \\(EtcdEndpoints\\) but latch's etcd module cannot be loaded: .*nope.so"
verdict "an unloadable module: $OUT"
OUT=$(LATCH_ETCD_MODULE=$(dirname "$LATCH_ETCD_MODULE")/latch-xml.so "$PROBE" new 2>&1)
contains "$OUT" "^FAIL: .*latch-xml.so"
verdict "another module in its place: $OUT"

# Bad configuration is caught in new(), without a request.
for bad in "127.0.0.1:2379" "ftp://127.0.0.1:2379" "http://127.0.0.1" \
           "http://127.0.0.1:2379/v3" "http://user@127.0.0.1:2379"; do
  OUT=$(ETCD_ENDPOINTS=$bad "$PROBE" new 2>&1); RC=$?
  contains "$OUT" "not http://HOST:PORT.*\\[code 0\\]" && [ $RC = 3 ]
  verdict "endpoint \"$bad\" refused in new(): $OUT"
done
OUT=$(ETCD_ENDPOINTS=https://127.0.0.1:1 "$PROBE" new 2>&1)
contains "$OUT" "need a CA file.*TlsCaCertificate.*\\[code 0\\]"
verdict "https without a CA file refused in new(): $OUT"

# Unreachable endpoints: one line each, naming the endpoint and the fix.
free_port; dead="http://127.0.0.1:$PORT"
ETCD_ENDPOINTS=$dead request
contains "$OUT" "^etcd at $dead: connection refused \\(is etcd running there\\? check EtcdEndpoints\\) \\[code 1\\]$"
verdict "connection refused: one line with the endpoint and the fix"
ETCD_ENDPOINTS=http://no-such-host.invalid:2379 request
contains "$OUT" "^etcd at http://no-such-host.invalid:2379: cannot resolve no-such-host.invalid \\(check EtcdEndpoints\\) \\[code 1\\]$"
verdict "unresolvable host: one line"
# A listener that never answers: the request times out.
python3 -c 'import socket,sys,time
s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(8)
print(s.getsockname()[1], flush=True); time.sleep(60)' > "$T/silent.port" &
silent=$!; bg_pids="$bg_pids $silent"
wait_for 5 test -s "$T/silent.port"
ETCD_ENDPOINTS=http://127.0.0.1:$(cat "$T/silent.port") request --timeout 300
contains "$OUT" "^etcd at http://127.0.0.1:[0-9]+: no answer within 300 ms .*\\[code 1\\]$"
verdict "a silent endpoint: timed out, one line"
# Round robin: the dead endpoint first, then the live one.
ETCD_ENDPOINTS="$dead,$EP1" request
contains "$OUT" "^etcd at $dead: connection refused .*; next: $EP1 \\[code 1\\]$"
verdict "the error says where the next request goes"

# --- three members: failover, a watch losing its member -----------------
etcd_kill 1
etcd_start 3
OUT=$("$PROBE" --timeout 10000 failover "$ETCD_PID_1" 2>&1); RC=$?
printf '%s\n' "$OUT" | sed 's/^/# /'
[ $RC = 0 ] && contains "$OUT" "after the kill: etcd at $ETCD_ENDPOINT_1: connection refused" \
  && contains "$OUT" "then ok on ($ETCD_ENDPOINT_2|$ETCD_ENDPOINT_3)"
verdict "failover: the request after the kill names the member, the next succeeds elsewhere"
ETCD_ENDPOINTS="$ETCD_ENDPOINT_2,$ETCD_ENDPOINT_3" \
  probe "a watch whose member dies ends, naming it" watch-break "$ETCD_PID_2"

# --- TLS -----------------------------------------------------------------
for k in 1 2 3; do etcd_kill $k; done
etcd_start 1 tls
K=$ETCD_PKI
EP=$ETCD_ENDPOINT_1
PORT1=${EP##*:}
TLSARGS="--ca $K/ca1.pem --cert $K/client.pem --key $K/client.key"

# shellcheck disable=SC2086 # TLSARGS is a list of words
probe "https with a client certificate: txn" $TLSARGS txn
# shellcheck disable=SC2086
probe "https with a client certificate: lease" $TLSARGS lease
# shellcheck disable=SC2086
probe "https with a client certificate: watch" $TLSARGS watch

request --ca "$K/ca2.pem" --cert "$K/client.pem" --key "$K/client.key"
contains "$OUT" "^etcd at $EP: its certificate is not signed by the CA in $K/ca2.pem \\(check TlsCaCertificate and the member's --cert-file\\) \\[code 2\\]$"
verdict "a member not under our CA: refused, naming the endpoint and the CA file"

request --ca "$K/ca1.pem" --cert "$K/peer1_ca2.pem" --key "$K/peer1_ca2.key"
contains "$OUT" "^etcd at $EP: the member refused our client certificate $K/peer1_ca2.pem: is it signed by the CA of the member's --trusted-ca-file\\? \\[code 2\\]$"
verdict "our certificate from another CA: the member's refusal, in one line"

request --ca "$K/ca1.pem"
contains "$OUT" "^etcd at $EP: the member asks for a client certificate and none is configured .*\\[code 2\\]$"
verdict "no client certificate for a member that wants one: one line"

# The member's certificate revoked by our CRL (made here from CA1).
printf 'crl_next_update = 30\ncrl_number = 7\n' > "$T/crl.tmpl"
certtool --generate-crl --load-ca-privkey "$K/ca1.key" --load-ca-certificate "$K/ca1.pem" \
  --load-certificate "$K/member.pem" --template "$T/crl.tmpl" \
  --outfile "$T/member-revoked.crl" >/dev/null 2>&1
# shellcheck disable=SC2086
request $TLSARGS --crl "$T/member-revoked.crl"
contains "$OUT" "^etcd at $EP: its certificate is revoked \\(by the CRL in $T/member-revoked.crl\\).*\\[code 2\\]$"
verdict "a revoked member certificate: refused"
# shellcheck disable=SC2086
request $TLSARGS --crl "$K/ca1-empty.crl"
contains "$OUT" "^ok $EP$"
verdict "a CRL that does not list it: accepted"

# shellcheck disable=SC2086
ETCD_ENDPOINTS=https://localhost:$PORT1 request $TLSARGS
contains "$OUT" "^etcd at https://localhost:$PORT1: its certificate does not name localhost .*\\[code 2\\]$"
verdict "a name the member certificate does not have: refused"

ETCD_ENDPOINTS=http://127.0.0.1:$PORT1 request
contains "$OUT" "^etcd at http://127.0.0.1:$PORT1: the connection closed without an answer \\(if the member serves https, use https:// .*\\) \\[code 1\\]$"
verdict "http:// to a TLS member: one line that suggests https://"

# A member that admits any client (no --client-cert-auth).
etcd_kill 1
ETCD_CLIENT_CERT_AUTH=0 etcd_start 1 tls
OUT=$("$PROBE" $TLSARGS request 2 2>&1); diag "$OUT"
[ "$(printf '%s\n' "$OUT" | grep -c "^etcd at $ETCD_ENDPOINT_1 does not ask for a client certificate: start it with --client-cert-auth and a --trusted-ca-file holding the CA that signed $K/client.pem \\[code 2\\]$")" = 2 ]
verdict "a member without --client-cert-auth: refused, every time"
request --ca "$K/ca1.pem"
contains "$OUT" "^ok $ETCD_ENDPOINT_1$"
verdict "... though a client without a certificate may use it"

# https:// to a plain member.
etcd_kill 1
etcd_start 1
# shellcheck disable=SC2086
ETCD_ENDPOINTS=https://${ETCD_ENDPOINT_1#http://} request $TLSARGS
contains "$OUT" "^etcd at https://${ETCD_ENDPOINT_1#http://}: the member does not speak TLS \\(use http:// for it in EtcdEndpoints, .*\\) \\[code 2\\]$"
verdict "https:// to a plain member: one line that suggests http://"

# Unreadable or unusable TLS files: caught in new().
OUT=$(ETCD_ENDPOINTS=$EP "$PROBE" --ca "$T/nope.pem" new 2>&1)
contains "$OUT" "^etcd CA file: .*nope.pem.* \\[code 0\\]$"
verdict "an unreadable CA file: refused in new(): $OUT"
OUT=$(ETCD_ENDPOINTS=$EP "$PROBE" --ca "$K/ca1.pem" --cert "$K/client.pem" --key "$T/nope.key" new 2>&1)
contains "$OUT" "^etcd key file: .*nope.key.* \\[code 0\\]$"
verdict "an unreadable key file: refused in new(): $OUT"
OUT=$(ETCD_ENDPOINTS=$EP "$PROBE" --ca "$K/client.key" new 2>&1)
contains "$OUT" "^etcd CA file $K/client.key: .* \\[code 0\\]$"
verdict "a CA file with no certificate: refused in new(): $OUT"

finish
