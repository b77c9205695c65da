#!/bin/sh
# latch-cert: a CA made with it signs node certificates that latch uses at
# the mutual level, on a UNIX socket and on TCP; the CSR path; revocation,
# expiry, machine IDs, key types, file modes and overwrites; `show` and
# `check`; certtool as an independent verifier.
#
# latch-cert's errors are one line on stderr ("latch-cert: ..."), exit 1
# for an operational failure, 2 for usage.  latch's refusals are exit 99
# and one line.  Only the certtool checks (the independent verifier, and
# certificates made by something other than latch-cert) need certtool;
# without it they are TAP skips.
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"

: "${LATCH_CERT:?LATCH_CERT must name the latch-cert program}"
umask 022

MID=$("$LATCH" --unique-id 2>/dev/null)
printf '%s\n' "$MID" | grep -qxE '[0-9a-f]{32}' ||
  { echo "Bail out! no machine ID (latch --unique-id: '$MID')"; exit 1; }
diag "machine ID $MID"
# Another valid machine ID, not this host's.
OTHER=00112233445566778899aabbccddeeff
[ "$OTHER" != "$MID" ] || OTHER=ffeeddccbbaa99887766554433221100

if command -v certtool >/dev/null 2>&1; then HAVE_CERTTOOL=1; else HAVE_CERTTOOL=; fi
skip_certtool () { # N: N TAP skips
  local i=0
  while [ $i -lt "$1" ]; do ok "# SKIP certtool (gnutls-bin) not found"; i=$((i + 1)); done
}

CA="$T/ca"          # the CA (ca init)
CA2="$T/ca2"        # another CA
TLS="$T/tls"        # node, node2, old, ed, rsa, ... (node's OUTDIR)
REQ="$T/req"        # the CSR path
CHECK=--tls-check-peer-id=yes

# ---- helpers -----------------------------------------------------------------

# COND; ok_if $? DESC: verdict, for a DESC with command substitutions.
# (Under bash they set $? before a function called with them runs, so
# `COND; verdict "$(...)"` would judge the substitution, not COND; $? as
# the first word is expanded before them.)
ok_if () { if [ "$1" = 0 ]; then ok "$2"; else not_ok "$2"; fi; }

# one_line TEXT: TEXT's lines joined with " | " (for a TAP description).
one_line () { printf '%s\n' "$1" | awk 'NR > 1 { printf " | " } { printf "%s", $0 }'; }

# has_all TEXT PATTERNS: TEXT matches every ERE of PATTERNS (separated by
# " && "), ignoring case.
has_all () {
  local text=$1 rest=$2 p
  while :; do
    p=${rest%% && *}
    printf '%s\n' "$text" | grep -qiE -- "$p" || return 1
    [ "$p" = "$rest" ] && return 0
    rest=${rest#* && }
  done
}

# run_cert ARGS...: latch-cert ARGS; sets CS (status), CO (stdout), CE
# (stderr).  RSA key generation under the sanitizers is the slow part.
run_cert () {
  timeout -k 2 120 "$LATCH_CERT" "$@" > "$T/cert.out" 2> "$T/cert.err"
  CS=$?
  CO=$(cat "$T/cert.out")
  CE=$(cat "$T/cert.err")
}

# cert_ok DESC ARGS...: latch-cert ARGS exits 0.
cert_ok () {
  local desc=$1; shift
  run_cert "$@"
  if [ $CS = 0 ]; then ok "$desc"; else not_ok "$desc (exit $CS: $(one_line "$CE"))"; fi
}

# is_one_error: CE is one line "latch-cert: ...".
is_one_error () {
  [ -n "$CE" ] && [ "$(printf '%s\n' "$CE" | wc -l)" = 1 ] && contains "$CE" '^latch-cert: '
}

# cert_refused DESC STATUSES PATTERNS ARGS...: latch-cert ARGS exits with
# one of STATUSES ("1", "1|2"), one line "latch-cert: ..." on stderr
# matching PATTERNS (as has_all).
cert_refused () {
  local desc=$1 want=$2 pats=$3 st_ok=; shift 3
  run_cert "$@"
  case "|$want|" in *"|$CS|"*) st_ok=1 ;; esac
  if [ -n "$st_ok" ] && is_one_error && has_all "$CE" "$pats"; then
    ok "$desc"
  else
    not_ok "$desc (exit $CS, want $want and one line 'latch-cert: ...' matching '$pats': $(one_line "$CE"))"
  fi
}

# cert_check DESC WANT PATTERNS ARGS...: latch-cert check ARGS.
#   WANT 0: exit 0, every line "ok: ...", at least one.
#   WANT 1: exit 1, and a "FAIL: ..." line matches PATTERNS (as has_all).
cert_check () {
  local desc=$1 want=$2 pats=$3 fails line hit=; shift 3
  run_cert check "$@"
  fails=$(printf '%s\n' "$CO" | grep '^FAIL: ')
  if [ "$want" = 0 ]; then
    if [ $CS = 0 ] && [ -n "$CO" ] && ! printf '%s\n' "$CO" | grep -qvE '^ok: '; then
      ok "$desc"
    else
      not_ok "$desc (exit $CS, want 0 and only 'ok:' lines: $(one_line "$CO") $(one_line "$CE"))"
    fi
    return
  fi
  while IFS= read -r line; do
    [ -n "$line" ] && has_all "$line" "$pats" && hit=1
  done <<EOF
$fails
EOF
  if [ $CS = 1 ] && [ -n "$hit" ]; then
    ok "$desc"
  else
    not_ok "$desc (exit $CS, want 1 and a FAIL line matching '$pats': $(one_line "$CO") $(one_line "$CE"))"
  fi
}

# mode FILE: its permission bits, octal.
mode () { stat -c %a "$1" 2>/dev/null; }

# conf_value FILE KEY: KEY's value in the [TLS] group FILE.
conf_value () { sed -n "s/^[[:space:]]*$2[[:space:]]*=[[:space:]]*//p" "$1" | head -n1; }

# conf_ok FILE NAME DIR: FILE is a [TLS] group naming DIR/NAME.pem,
# DIR/NAME.key and DIR/ca.pem by absolute paths.
conf_ok () {
  local f=$1 name=$2 dir=$3 c k a
  c=$(conf_value "$f" TlsCertificate); k=$(conf_value "$f" TlsPrivateKey); a=$(conf_value "$f" TlsCaCertificate)
  grep -q '^\[TLS\][[:space:]]*$' "$f" &&
    case "$c|$k|$a" in /*'|'/*'|'/*) true ;; *) false ;; esac &&
    [ "$c" -ef "$dir/$name.pem" ] && [ "$k" -ef "$dir/$name.key" ] && [ "$a" -ef "$dir/ca.pem" ]
}

# hexnorm: stdin lower-cased, without colons and blanks (serial numbers
# as one hex string, however a tool groups them).
hexnorm () { tr 'A-F' 'a-f' | tr -d ': \t'; }

# show_serial TEXT: the serial number on the "serial" line of TEXT
# (latch-cert show's output), lower-case hex without leading zeros.
show_serial () {
  printf '%s\n' "$1" | grep -i 'serial' | head -n1 |
    sed -E 's/^.*[Ss][Ee][Rr][Ii][Aa][Ll]([^:]*:|[[:space:]]+)[[:space:]]*//; s/^0[xX]//' |
    hexnorm | sed 's/^0*//'
}

# certtool_serial FILE: a certificate's serial as certtool reads it.
certtool_serial () {
  certtool -i --infile "$1" 2>/dev/null | sed -n 's/^[[:space:]]*Serial Number (hex):[[:space:]]*//p' |
    head -n1 | hexnorm | sed 's/^0*//'
}

# crl_serials FILE: the serials certtool finds in a CRL, one a line.
crl_serials () {
  certtool --crl-info --infile "$1" 2>/dev/null |
    sed -n 's/^[[:space:]]*Serial Number (hex):[[:space:]]*//p' | hexnorm | sed 's/^0*//'
}

# PEM <-> DER, for tampering with a CSR.
pem_label () { sed -n 's/^-----BEGIN \(.*\)-----[[:space:]]*$/\1/p' "$1" | head -n1; }
pem_der () { sed -n '/^-----BEGIN/,/^-----END/{/^-----/d;p}' "$1" | base64 -d; }
der_pem () { # LABEL: DER on stdin
  echo "-----BEGIN $1-----"; base64 -w 64; echo "-----END $1-----"
}

# Daemons.  Ports: lib.sh's free_port.

# at_sock NAME | at_tcp: where the next daemon lives; sets W (latch's
# options), WLOCK (the socket's lock file) or WPORT.
W=""; WLOCK=""; WPORT=""
at_sock () { W="-s $T/$1.sock"; WLOCK="$T/$1.sock.lock"; WPORT=""; }
at_tcp () { free_port; W="-a 127.0.0.1 -p $PORT"; WPORT=$PORT; WLOCK=""; }

# where_pid: the pid of the daemon at W, or nothing.
where_pid () {
  if [ -n "$WLOCK" ]; then
    [ -s "$WLOCK" ] && head -n1 "$WLOCK"
  else
    ss -Hltnp "sport = :$WPORT" 2>/dev/null | sed -n 's/.*pid=\([0-9][0-9]*\).*/\1/p' | head -n1
  fi
}

# remember_daemon TAG: the daemon at W (if any) becomes DPID, and lib.sh's
# cleanup kills it by pid at exit.
remember_daemon () {
  DPID=$(where_pid)
  if [ -n "$DPID" ]; then echo "$DPID" > "$T/$1.sockpid"; fi
}

# cert_daemon ARGS...: starts a daemon at W that stays (-d -1), with ARGS
# (TLS options), trace $DTRACE; sets DPID; returns latch's status.
n_daemons=0
DPID=""; DTRACE=""
cert_daemon () {
  local st
  n_daemons=$((n_daemons + 1))
  DTRACE="$T/d$n_daemons.trace"
  # shellcheck disable=SC2086 # W is words
  timeout -k 2 20 "$LATCH" $W "$@" -V -t "$DTRACE" -d -1 -r certstart -- true \
    > "$T/d$n_daemons.out" 2> "$T/d$n_daemons.err"
  st=$?
  remember_daemon "d$n_daemons"
  if [ $st != 0 ]; then diag "daemon start ($*) exit $st: $(one_line "$(cat "$T/d$n_daemons.err")")"; fi
  return $st
}
daemon_alive () { [ -n "$DPID" ] && pid_alive "$DPID"; }
daemon_stops () { [ -n "$DPID" ] && wait_for 10 pid_gone "$DPID"; }

trace_tail () {
  [ -n "$DTRACE" ] && [ -s "$DTRACE" ] || return 0
  tail -n 8 "$DTRACE" | sed 's/^/#   trace: /'
}

# locks DESC ARGS...: latch ARGS exits 0 within 20 s.
locks () {
  local desc=$1 err st; shift
  err=$(timeout -k 2 20 "$LATCH" "$@" 2>&1 >/dev/null); st=$?
  if [ $st = 0 ]; then ok "$desc"; else not_ok "$desc (exit $st: $(one_line "$err"))"; trace_tail; fi
}

# refused DESC PATTERNS ARGS...: latch ARGS exits 99 within 20 s with one
# line on stderr matching PATTERNS.
refused () {
  local desc=$1 pats=$2 err st; shift 2
  err=$(timeout -k 2 20 "$LATCH" "$@" 2>&1 >/dev/null); st=$?
  if [ $st = 99 ] && [ -n "$err" ] && [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] &&
     has_all "$err" "$pats"; then
    ok "$desc"
  else
    not_ok "$desc (exit $st, want 99 and one line matching '$pats': $(one_line "$err"))"
    trace_tail
  fi
}

# stop DESC ARGS...: latch ARGS -X, and the daemon DPID is gone.
n_stops=0
stop () {
  local desc=$1; shift
  # Whatever runs at W now (a client may have started a daemon there if
  # the first one died) is the one to stop, and cleanup's to kill.
  n_stops=$((n_stops + 1))
  remember_daemon "stop$n_stops"
  timeout -k 2 20 "$LATCH" "$@" -X > /dev/null 2>&1
  check "$desc" daemon_stops
}

# ---- the CA --------------------------------------------------------------------
cert_ok "ca init --dir ca --name 'ACME lock CA'" ca init --dir "$CA" --name "ACME lock CA"
[ -s "$CA/ca.key" ] && [ "$(mode "$CA/ca.key")" = 600 ] && [ -s "$CA/ca.pem" ] && [ -r "$CA/ca.pem" ] &&
  [ -e "$CA/index" ] && [ -s "$CA/crl.pem" ]
ok_if $? "...makes ca.key (mode $(mode "$CA/ca.key"), want 600), ca.pem, index and crl.pem"
cp "$CA/ca.key" "$T/ca.key.saved" 2>/dev/null
cert_refused "ca init again without --force refuses: exists, --force" 1 'exists && --force' \
  ca init --dir "$CA" --name "ACME lock CA"
check "...and leaves ca.key as it was" cmp -s "$CA/ca.key" "$T/ca.key.saved"

cert_ok "ca init --dir ca2 (another CA)" ca init --dir "$CA2" --name "Other lock CA"
cp "$CA2/ca.key" "$T/ca2.key.saved" 2>/dev/null
cert_ok "ca init --force over ca2 succeeds" ca init --dir "$CA2" --name "Other lock CA" --force
[ -s "$CA2/ca.key" ] && ! cmp -s "$CA2/ca.key" "$T/ca2.key.saved" && [ "$(mode "$CA2/ca.key")" = 600 ]
verdict "...and replaces its key (still mode 600)"

if [ -n "$HAVE_CERTTOOL" ]; then
  info=$(certtool -i --infile "$CA/ca.pem" 2>&1)
  contains "$info" 'Subject: CN=ACME lock CA$' && contains "$info" 'Certificate Authority \(CA\): TRUE' &&
    contains "$info" 'Certificate signing\.' && contains "$info" 'CRL signing\.'
  verdict "certtool: ca.pem is CN=ACME lock CA, CA:TRUE, keyCertSign + cRLSign"
  info=$(certtool --crl-info --infile "$CA/crl.pem" 2>&1)
  [ -z "$(crl_serials "$CA/crl.pem")" ] && contains "$info" 'Issuer: CN=ACME lock CA'
  verdict "certtool: the new crl.pem is the CA's and revokes nothing"
else
  skip_certtool 2
fi

# ---- node certificates -------------------------------------------------------------
run_cert node --ca "$CA" --out "$TLS"
printf '%s\n' "$CO" > "$T/node.conf"
[ $CS = 0 ]; ok_if $? "node --ca ca --out tls (this host's ID) (exit $CS: $(one_line "$CE"))"
[ -s "$TLS/node.key" ] && [ "$(mode "$TLS/node.key")" = 600 ] && [ -s "$TLS/node.pem" ] && [ -s "$TLS/ca.pem" ]
ok_if $? "...makes node.key (mode $(mode "$TLS/node.key"), want 600), node.pem, ca.pem"
[ -r "$TLS/node.pem" ] && [ $(( 0$(mode "$TLS/node.pem") & 044 )) = 36 ] &&
  [ $(( 0$(mode "$TLS/ca.pem") & 044 )) = 36 ]
ok_if $? "...the certificates are readable by all (node.pem $(mode "$TLS/node.pem"), ca.pem $(mode "$TLS/ca.pem"))"
check "...tls/ca.pem is the CA's certificate" cmp -s "$TLS/ca.pem" "$CA/ca.pem"
conf_ok "$T/node.conf" node "$TLS"
ok_if $? "...prints a [TLS] group with the three absolute paths: $(one_line "$CO")"

run_cert node --ca "$CA" --out "$TLS" --name node2
printf '%s\n' "$CO" > "$T/node2.conf"
[ $CS = 0 ] && conf_ok "$T/node2.conf" node2 "$TLS"
ok_if $? "node --name node2 into the same directory (exit $CS: $(one_line "$CE"))"

cp "$TLS/node.key" "$T/node.key.saved"; cp "$TLS/node.pem" "$T/node.pem.saved"
cert_refused "a second node into tls without --force refuses: exists" 1 'exists' \
  node --ca "$CA" --out "$TLS"
cmp -s "$TLS/node.key" "$T/node.key.saved" && cmp -s "$TLS/node.pem" "$T/node.pem.saved"
verdict "...and leaves node.key and node.pem byte-identical"
run_cert node --ca "$CA" --out "$TLS" --force
printf '%s\n' "$CO" > "$T/node.conf"
[ $CS = 0 ] && conf_ok "$T/node.conf" node "$TLS"
ok_if $? "...with --force it succeeds (exit $CS: $(one_line "$CE"))"
! cmp -s "$TLS/node.key" "$T/node.key.saved" && ! cmp -s "$TLS/node.pem" "$T/node.pem.saved" &&
  [ "$(mode "$TLS/node.key")" = 600 ]
ok_if $? "...and replaces node.key and node.pem (key mode $(mode "$TLS/node.key"))"

# ---- machine IDs -------------------------------------------------------------------
UPPER=$(printf '%s' "$MID" | tr 'a-f' 'A-F')
[ "$UPPER" != "$MID" ] || UPPER="A${MID#?}"
SHORT=${MID%?}
NONHEX="g${MID#?}"
LONG="${MID}0"
mkdir -p "$T/ids"
for id in "$UPPER" "$SHORT" "$NONHEX" "$LONG"; do
  run_cert node --ca "$CA" --id "$id" --out "$T/ids" --name bad
  [ "$CS" = 1 ] || [ "$CS" = 2 ]
  st=$?
  [ $st = 0 ] && is_one_error && printf '%s\n' "$CE" | grep -qF -- "$id" && [ ! -e "$T/ids/bad.key" ]
  ok_if $? "node --id $id refused, one line naming it, no key written (exit $CS: $(one_line "$CE"))"
done
run_cert request --id "$UPPER" --out "$T/ids" --name badreq
{ [ "$CS" = 1 ] || [ "$CS" = 2 ]; } && is_one_error && printf '%s\n' "$CE" | grep -qF -- "$UPPER" &&
  [ ! -e "$T/ids/badreq.key" ]
ok_if $? "request --id $UPPER refused the same way (exit $CS: $(one_line "$CE"))"

printf '%s\n' "$OTHER" > "$T/machine-id"
run_cert node --ca "$CA" --id-from "$T/machine-id" --out "$T/other" --name other
printf '%s\n' "$CO" > "$T/other.conf"
[ $CS = 0 ] && conf_ok "$T/other.conf" other "$T/other"
ok_if $? "node --id-from a machine-id file ($OTHER) (exit $CS: $(one_line "$CE"))"
run_cert show "$T/other/other.pem"
[ $CS = 0 ] && contains "$CO" "(^|[^[:alpha:]])(CN|[Cc]ommon [Nn]ame)([^[:alpha:]]|$).*$OTHER"
verdict "...its CN is the file's ID"
printf 'not-a-machine-id\n' > "$T/machine-id-bad"
cert_refused "node --id-from a file without a valid ID refuses" '1|2' 'not-a-machine-id|machine-id-bad' \
  node --ca "$CA" --id-from "$T/machine-id-bad" --out "$T/ids" --name badfrom

# ---- the CSR path ------------------------------------------------------------------
cert_ok "request --id (this host) --out req --name r1" request --id "$MID" --out "$REQ" --name r1
[ -s "$REQ/r1.key" ] && [ "$(mode "$REQ/r1.key")" = 600 ] && [ -s "$REQ/r1.csr" ] && [ ! -e "$REQ/r1.pem" ]
ok_if $? "...makes r1.key (mode $(mode "$REQ/r1.key")) and r1.csr, no certificate"
if [ -n "$HAVE_CERTTOOL" ]; then
  info=$(certtool --crq-info --infile "$REQ/r1.csr" 2>&1)
  contains "$info" "Subject: CN=$MID\$" && contains "$info" 'Self signature: verified'
  verdict "certtool: the CSR is CN=$MID and its self-signature verifies"
else
  skip_certtool 1
fi
cert_ok "sign --ca ca --csr r1.csr --out r1.pem" sign --ca "$CA" --csr "$REQ/r1.csr" --out "$REQ/r1.pem"
run_cert show "$REQ/r1.pem"
[ $CS = 0 ] && contains "$CO" "(^|[^[:alpha:]])(CN|[Cc]ommon [Nn]ame)([^[:alpha:]]|$).*$MID" &&
  contains "$CO" '[Ii]ssuer.*ACME lock CA'
verdict "...the signed certificate's CN is the ID and its issuer the CA"
cert_refused "signing again onto r1.pem without --force refuses: exists" 1 'exists' \
  sign --ca "$CA" --csr "$REQ/r1.csr" --out "$REQ/r1.pem"

# Tampering, in the DER so the request still parses: (a) the last byte,
# inside the signature; (b) the ID in the subject (and SAN), changed to
# another valid ID.  Either way the signature no longer matches.
label=$(pem_label "$REQ/r1.csr")
pem_der "$REQ/r1.csr" > "$T/r1.der" 2>/dev/null
n=$(stat -c %s "$T/r1.der" 2>/dev/null || echo 0)
if [ "$n" -gt 100 ]; then
  last=$(tail -c 1 "$T/r1.der" | od -An -tu1 | tr -d ' ')
  { head -c $((n - 1)) "$T/r1.der"; printf "$(printf '\\%03o' $((last ^ 1)))"; } |
    der_pem "$label" > "$REQ/badsig.csr"
  cp "$T/r1.der" "$T/badcn.der"
  case $MID in 0*) c=1 ;; *) c=0 ;; esac
  for off in $(LC_ALL=C grep -obUa -- "$MID" "$T/r1.der" | cut -d: -f1); do
    printf '%s' "$c" | dd of="$T/badcn.der" bs=1 seek="$off" conv=notrunc status=none
  done
  der_pem "$label" < "$T/badcn.der" > "$REQ/badcn.csr"
  ! cmp -s "$T/r1.der" "$T/badcn.der"
  verdict "the tampered copies of r1.csr are made (signature byte flipped; ID in the subject changed)"
else
  not_ok "the tampered copies of r1.csr are made (r1.csr holds no DER: $n bytes)"
fi
cert_refused "sign refuses a CSR whose signature byte was flipped: invalid signature" 1 'invalid signature' \
  sign --ca "$CA" --csr "$REQ/badsig.csr" --out "$REQ/badsig.pem"
check "...and writes no certificate" [ ! -e "$REQ/badsig.pem" ]
cert_refused "sign refuses a CSR whose subject ID was changed: invalid signature" 1 'invalid signature' \
  sign --ca "$CA" --csr "$REQ/badcn.csr" --out "$REQ/badcn.pem"
check "...and writes no certificate" [ ! -e "$REQ/badcn.pem" ]

# A well-signed CSR for a malformed ID: only another tool makes one.
if [ -n "$HAVE_CERTTOOL" ]; then
  printf 'cn = "not-a-machine-id"\n' > "$T/badid.tmpl"
  printf 'cn = "%s"\n' "$UPPER" > "$T/upper.tmpl"
  certtool --no-text --generate-request --load-privkey "$REQ/r1.key" --template "$T/badid.tmpl" \
    --outfile "$REQ/badid.csr" > /dev/null 2>&1
  certtool --no-text --generate-request --load-privkey "$REQ/r1.key" --template "$T/upper.tmpl" \
    --outfile "$REQ/upper.csr" > /dev/null 2>&1
  cert_refused "sign refuses a (certtool) CSR with CN not-a-machine-id" 1 'not-a-machine-id' \
    sign --ca "$CA" --csr "$REQ/badid.csr" --out "$REQ/badid.pem"
  cert_refused "sign refuses a (certtool) CSR with an upper-case ID" 1 "$UPPER" \
    sign --ca "$CA" --csr "$REQ/upper.csr" --out "$REQ/upper.pem"
  [ ! -e "$REQ/badid.pem" ] && [ ! -e "$REQ/upper.pem" ]
  verdict "...and writes no certificate"
else
  skip_certtool 3
fi

# ---- key types ---------------------------------------------------------------------
cert_ok "node --key-type ed25519 --name ed" node --ca "$CA" --out "$TLS" --name ed --key-type ed25519
run_cert show "$TLS/ed.pem"
[ $CS = 0 ] && has_all "$CO" 'key.*(ed25519|eddsa)'
verdict "...show says its key is Ed25519"
cert_ok "node --key-type rsa --name rsa (default bits)" node --ca "$CA" --out "$TLS" --name rsa --key-type rsa
run_cert show "$TLS/rsa.pem"
[ $CS = 0 ] && has_all "$CO" 'key.*rsa'
verdict "...show says its key is RSA"
if [ -n "$HAVE_CERTTOOL" ]; then
  bits=$(certtool -i --infile "$TLS/rsa.pem" 2>/dev/null | sed -n 's/.*Modulus (bits \([0-9]*\)).*/\1/p')
  [ "${bits:-0}" -ge 2048 ]; verdict "certtool: the default RSA key has ${bits:-?} bits (>= 2048)"
else
  skip_certtool 1
fi
cert_refused "node --key-type rsa --bits 1024 refused, naming the size" '1|2' '1024|2048' \
  node --ca "$CA" --out "$TLS" --name rsa1024 --key-type rsa --bits 1024
check "...and writes no key" [ ! -e "$TLS/rsa1024.key" ]
run_cert show "$TLS/node.pem"
[ $CS = 0 ] && has_all "$CO" 'key.*(ecdsa|secp|p-?256|p-?384)'
verdict "the default key type is ECDSA (show)"

# ---- the independent verifier ----------------------------------------------------
if [ -n "$HAVE_CERTTOOL" ]; then
  for f in node node2 ed rsa; do
    out=$(certtool --verify --load-ca-certificate "$CA/ca.pem" --infile "$TLS/$f.pem" 2>&1); st=$?
    ok_if $st "certtool --verify: tls/$f.pem is signed by ca/ca.pem $([ $st = 0 ] || one_line "$out")"
  done
  out=$(certtool --verify --load-ca-certificate "$CA/ca.pem" --infile "$REQ/r1.pem" 2>&1); st=$?
  ok_if $st "certtool --verify: req/r1.pem (from the CSR) too $([ $st = 0 ] || one_line "$out")"
  ! certtool --verify --load-ca-certificate "$CA2/ca.pem" --infile "$TLS/node.pem" > /dev/null 2>&1
  verdict "...and tls/node.pem does not verify against ca2 (the verifier can fail)"
  out=$(certtool --verify-crl --load-ca-certificate "$CA/ca.pem" --infile "$CA/crl.pem" 2>&1); st=$?
  ok_if $st "certtool --verify-crl: ca/crl.pem is signed by ca/ca.pem $([ $st = 0 ] || one_line "$out")"
  info=$(certtool -i --infile "$TLS/node.pem" 2>&1)
  contains "$info" "Subject: CN=$MID\$" && contains "$info" "DNSname: $MID\$" &&
    contains "$info" 'Issuer: CN=ACME lock CA$' &&
    contains "$info" 'TLS WWW Server\.' && contains "$info" 'TLS WWW Client\.'
  verdict "certtool: node.pem is CN = dNSName SAN = $MID, issued by ACME lock CA, TLS server and client"
  [ "$(certtool_serial "$TLS/node.pem")" != "$(certtool_serial "$TLS/node2.pem")" ]
  verdict "certtool: node and node2 have different serials"
else
  skip_certtool 9
fi

# ---- show ------------------------------------------------------------------------
run_cert show "$TLS/node.pem"
[ $CS = 0 ] &&
  contains "$CO" "(^|[^[:alpha:]])(CN|[Cc]ommon [Nn]ame)([^[:alpha:]]|$).*$MID" &&
  contains "$CO" "(SAN|[Ss]ubject [Aa]lt|DNS).*$MID" &&
  contains "$CO" '[Ii]ssuer.*ACME lock CA'
verdict "show tls/node.pem: CN and SAN are $MID, the issuer ACME lock CA"
has_all "$CO" 'subject && issuer && serial && (valid|not before|not after|expire) && key && fingerprint'
verdict "...and it names subject, issuer, serial, validity, key, fingerprint"
SERIAL_NODE=$(show_serial "$CO")
run_cert show "$TLS/node2.pem"
SERIAL_NODE2=$(show_serial "$CO")
printf '%s' "$SERIAL_NODE$SERIAL_NODE2" | grep -qE '^[0-9a-f]{8,}$' && [ "$SERIAL_NODE" != "$SERIAL_NODE2" ]
verdict "...the serials show prints (node $SERIAL_NODE, node2 $SERIAL_NODE2) are hex and differ"
if [ -n "$HAVE_CERTTOOL" ]; then
  [ -n "$SERIAL_NODE2" ] && [ "$SERIAL_NODE2" = "$(certtool_serial "$TLS/node2.pem")" ]
  ok_if $? "...and node2's is certtool's ($(certtool_serial "$TLS/node2.pem"))"
else
  skip_certtool 1
fi
run_cert show "$TLS/node.pem" "$CA/ca.pem"
[ $CS = 0 ] && contains "$CO" "$MID" &&
  [ "$(printf '%s\n' "$CO" | grep -ci 'fingerprint')" -ge 2 ]
verdict "show FILE FILE shows both"
cert_refused "show of a missing file: exit 1, one line" 1 'nonexistent' show "$T/nonexistent.pem"

if [ -n "$HAVE_CERTTOOL" ]; then
  mkdir -p "$T/ct"
  certtool --no-text --generate-privkey --key-type ecdsa --outfile "$T/ct/ct.key" > /dev/null 2>&1
  printf 'cn = "made by certtool"\nexpiration_days = 30\n' > "$T/ct/ct.tmpl"
  certtool --no-text --generate-self-signed --load-privkey "$T/ct/ct.key" --template "$T/ct/ct.tmpl" \
    --outfile "$T/ct/ct.pem" > /dev/null 2>&1
  run_cert show "$T/ct/ct.pem"
  [ $CS = 0 ] && contains "$CO" 'made by certtool'
  ok_if $? "show on a certtool-made certificate prints its CN (exit $CS: $(one_line "$CE"))"
else
  skip_certtool 1
fi

# ---- round trip: the mutual level on a UNIX socket, then TCP -----------------------
at_sock rt
expect_status 0 "latch -c node.conf $CHECK on its own socket: a mutual-level daemon, the command runs" \
  cert_daemon -c "$T/node.conf" $CHECK
locks "...node2 (same directory, its own key) locks at the mutual level" \
  $W -c "$T/node2.conf" $CHECK -r rt -- true
locks "...so does --security-level=mutual with node" $W -c "$T/node.conf" --security-level=mutual -r rt -- true
locks "...and the certificate signed from the CSR" \
  $W --tls-certificate="$REQ/r1.pem" --tls-private-key="$REQ/r1.key" --tls-ca-certificate="$CA/ca.pem" $CHECK \
  -r rt -- true
refused "...a clear-text client is told it requires TLS (the daemon speaks TLS)" 'requires TLS' $W -r rt -- true
stop "...-X stops it" $W -c "$T/node.conf" $CHECK

at_tcp
expect_status 0 "the same on TCP 127.0.0.1:$PORT: the daemon starts" cert_daemon -c "$T/node.conf" $CHECK
locks "...node2 locks" $W -c "$T/node2.conf" $CHECK -r rt -- true
locks "...the CSR-signed certificate locks" \
  $W --tls-certificate="$REQ/r1.pem" --tls-private-key="$REQ/r1.key" --tls-ca-certificate="$CA/ca.pem" $CHECK \
  -r rt -- true
refused "...a client trusting ca2 only refuses it: not signed by" 'not signed by' \
  $W -c "$T/node2.conf" --tls-ca-certificate="$CA2/ca.pem" $CHECK -r rt -- true
stop "...-X stops it" $W -c "$T/node2.conf" $CHECK

for k in ed rsa; do
  at_sock "k$k"
  expect_status 0 "$k: a mutual-level daemon starts with it" \
    cert_daemon --tls-certificate="$TLS/$k.pem" --tls-private-key="$TLS/$k.key" --tls-ca-certificate="$CA/ca.pem" $CHECK
  locks "$k: ...a client with it locks" \
    $W --tls-certificate="$TLS/$k.pem" --tls-private-key="$TLS/$k.key" --tls-ca-certificate="$CA/ca.pem" $CHECK \
    -r keys -- true
  locks "$k: ...and so does node (ECDSA)" $W -c "$T/node.conf" $CHECK -r keys -- true
  stop "$k: ...-X stops it" $W -c "$T/node.conf" $CHECK
done

# ---- another host's ID at the mutual level -----------------------------------------
at_sock wid
refused "a certificate for another ID ($OTHER) at the mutual level on this host: machine ID" 'machine ID' \
  $W -c "$T/other.conf" $CHECK -d -1 -r wid -- true
remember_daemon wid
at_sock wid2
expect_status 0 "...without the peer ID check the same certificate runs a daemon" \
  cert_daemon -c "$T/other.conf" --tls-check-peer-id=no
stop "...-X stops it" $W -c "$T/other.conf" --tls-check-peer-id=no

# ---- expired -------------------------------------------------------------------
cert_ok "node --days -1 --name old (expired)" node --ca "$CA" --out "$TLS" --name old --days -1
printf '%s\n' "$CO" > "$T/old.conf"
at_sock exp
refused "latch refuses to use the expired certificate: expired" 'expired' \
  $W -c "$T/old.conf" -d -1 -r exp -- true
remember_daemon exp
cert_check "check FAILs the expired certificate on its dates" 1 'expired|date|valid|not after' \
  --cert "$TLS/old.pem" --key "$TLS/old.key" --ca "$CA/ca.pem" --id "$MID"

# ---- revocation ----------------------------------------------------------------
cp "$CA/crl.pem" "$T/crl.before"
lines_before=$(wc -l < "$CA/index" 2>/dev/null || echo 0)
cert_ok "revoke --ca ca tls/node2.pem" revoke --ca "$CA" "$TLS/node2.pem"
lines_after=$(wc -l < "$CA/index" 2>/dev/null || echo 0)
[ "$lines_after" -gt "$lines_before" ] && [ -n "$SERIAL_NODE2" ] && hexnorm < "$CA/index" | grep -q -- "$SERIAL_NODE2"
verdict "...appends node2's serial to ca/index ($lines_before -> $lines_after lines)"
! cmp -s "$CA/crl.pem" "$T/crl.before"; verdict "...and rewrites ca/crl.pem"
run_cert show "$CA/crl.pem"
norm=$(printf '%s\n' "$CO" | hexnorm)
[ $CS = 0 ] && [ -n "$SERIAL_NODE2" ] && contains "$norm" "$SERIAL_NODE2" &&
  [ -n "$SERIAL_NODE" ] && ! contains "$norm" "$SERIAL_NODE"
ok_if $? "show ca/crl.pem lists node2's serial, not node's (exit $CS: $(one_line "$CO") $(one_line "$CE"))"
if [ -n "$HAVE_CERTTOOL" ]; then
  serials=$(crl_serials "$CA/crl.pem")
  s2=$(certtool_serial "$TLS/node2.pem"); s1=$(certtool_serial "$TLS/node.pem")
  [ -n "$s2" ] && [ "$serials" = "$s2" ] && [ "$s1" != "$s2" ]
  ok_if $? "certtool --crl-info: ca/crl.pem revokes node2 ($s2) and nothing else (lists: $(one_line "$serials"))"
  out=$(certtool --verify-crl --load-ca-certificate "$CA/ca.pem" --infile "$CA/crl.pem" 2>&1); st=$?
  ok_if $st "certtool --verify-crl: the new crl.pem is signed by the CA $([ $st = 0 ] || one_line "$out")"
else
  skip_certtool 2
fi

at_tcp
expect_status 0 "a mutual-level daemon with --tls-crl=ca/crl.pem (node's certificate)" \
  cert_daemon -c "$T/node.conf" $CHECK --tls-crl="$CA/crl.pem"
refused "...refuses node2: revoked" 'revoked' $W -c "$T/node2.conf" $CHECK -r crl -- true
check "...and is alive after it" daemon_alive
locks "...accepts node" $W -c "$T/node.conf" $CHECK --tls-crl="$CA/crl.pem" -r crl -- true
locks "...and the CSR-signed certificate" \
  $W --tls-certificate="$REQ/r1.pem" --tls-private-key="$REQ/r1.key" --tls-ca-certificate="$CA/ca.pem" $CHECK \
  -r crl -- true
stop "...-X stops it" $W -c "$T/node.conf" $CHECK --tls-crl="$CA/crl.pem"

cp "$CA/crl.pem" "$T/crl.revoked"
cert_ok "crl --ca ca --crl-days 7 rewrites the CRL" crl --ca "$CA" --crl-days 7
if [ -n "$HAVE_CERTTOOL" ]; then
  [ "$(crl_serials "$CA/crl.pem")" = "$(certtool_serial "$TLS/node2.pem")" ] &&
    certtool --verify-crl --load-ca-certificate "$CA/ca.pem" --infile "$CA/crl.pem" > /dev/null 2>&1
  verdict "certtool: the rewritten CRL still revokes node2 only, and verifies"
else
  skip_certtool 1
fi

# ---- check ---------------------------------------------------------------------
cert_check "check: a good set is all ok" 0 '' \
  --cert "$TLS/node.pem" --key "$TLS/node.key" --ca "$CA/ca.pem"
has_all "$CO" '^ok:.*key && ^ok:.*(chain|signed|verif) && ^ok:.*(date|valid|expir) && ^ok:.*(purpose|usage) && ^ok:.*(mode|permission|readable) && ^ok:.*(CN|ID)'
ok_if $? "...its ok lines name key, chain, dates, purposes, key file mode, CN/ID: $(one_line "$CO")"
cert_check "check with --crl and --id $MID: all ok" 0 '' \
  --cert "$TLS/node.pem" --key "$TLS/node.key" --ca "$CA/ca.pem" --crl "$CA/crl.pem" --id "$MID"
has_all "$CO" '^ok:.*(revoked|CRL)'; verdict "...with a line for the CRL"
cert_check "check: the CSR-signed certificate is all ok" 0 '' \
  --cert "$REQ/r1.pem" --key "$REQ/r1.key" --ca "$CA/ca.pem" --crl "$CA/crl.pem"

cert_check "check FAILs the key of another node" 1 'key && (match|belong|pair|certificate)' \
  --cert "$TLS/node.pem" --key "$TLS/node2.key" --ca "$CA/ca.pem"
cert_check "check FAILs the CA file of another CA" 1 'chain|signed|issuer|verif|trust' \
  --cert "$TLS/node.pem" --key "$TLS/node.key" --ca "$CA2/ca.pem"
cert_check "check FAILs an expired certificate" 1 'expired|date|valid|not after' \
  --cert "$TLS/old.pem" --key "$TLS/old.key" --ca "$CA/ca.pem"
cert_check "check --crl FAILs the revoked node2" 1 'revoked' \
  --cert "$TLS/node2.pem" --key "$TLS/node2.key" --ca "$CA/ca.pem" --crl "$CA/crl.pem"
cert_check "check without --crl passes node2 (revocation needs the CRL)" 0 '' \
  --cert "$TLS/node2.pem" --key "$TLS/node2.key" --ca "$CA/ca.pem"
cert_check "check FAILs --id $OTHER (not the CN)" 1 "CN|ID" \
  --cert "$TLS/node.pem" --key "$TLS/node.key" --ca "$CA/ca.pem" --id "$OTHER"
cert_check "check FAILs another host's certificate against this host's ID (the default)" 1 "CN|ID" \
  --cert "$T/other/other.pem" --key "$T/other/other.key" --ca "$CA/ca.pem"
cp "$TLS/node.key" "$T/loose.key"; chmod 644 "$T/loose.key"
cert_check "check FAILs a key file with mode 644" 1 'mode|permission|readable|644' \
  --cert "$TLS/node.pem" --key "$T/loose.key" --ca "$CA/ca.pem"

# Faults only another tool can make: an RSA 1024 key and a client-only
# certificate, both signed by our CA with certtool.
if [ -n "$HAVE_CERTTOOL" ]; then
  mkdir -p "$T/ct"
  certtool --no-text --generate-privkey --key-type rsa --bits 1024 --outfile "$T/ct/rsa1024.key" > /dev/null 2>&1
  certtool --no-text --generate-privkey --key-type ecdsa --outfile "$T/ct/conly.key" > /dev/null 2>&1
  chmod 600 "$T/ct/rsa1024.key" "$T/ct/conly.key"
  printf 'cn = "%s"\ndns_name = "%s"\ntls_www_server\ntls_www_client\nexpiration_days = 30\n' "$MID" "$MID" \
    > "$T/ct/leaf.tmpl"
  printf 'cn = "%s"\ndns_name = "%s"\ntls_www_client\nexpiration_days = 30\n' "$MID" "$MID" > "$T/ct/conly.tmpl"
  certtool --no-text --generate-certificate --load-privkey "$T/ct/rsa1024.key" --load-ca-certificate "$CA/ca.pem" \
    --load-ca-privkey "$CA/ca.key" --template "$T/ct/leaf.tmpl" --outfile "$T/ct/rsa1024.pem" > /dev/null 2>&1
  certtool --no-text --generate-certificate --load-privkey "$T/ct/conly.key" --load-ca-certificate "$CA/ca.pem" \
    --load-ca-privkey "$CA/ca.key" --template "$T/ct/conly.tmpl" --outfile "$T/ct/conly.pem" > /dev/null 2>&1
  cert_check "check FAILs an RSA 1024 key (certtool-made, signed by our CA)" 1 '1024|2048' \
    --cert "$T/ct/rsa1024.pem" --key "$T/ct/rsa1024.key" --ca "$CA/ca.pem"
  cert_check "check FAILs a client-only certificate on key purposes" 1 'purpose|server|usage' \
    --cert "$T/ct/conly.pem" --key "$T/ct/conly.key" --ca "$CA/ca.pem"
else
  skip_certtool 2
fi
cert_refused "check without --cert: usage, exit 2" 2 'cert' check --key "$TLS/node.key" --ca "$CA/ca.pem"

# No daemon hit one of its own assertions (GLib criticals) on the way.
bad=$(grep -l CRITICAL "$T"/d*.trace 2>/dev/null)
[ -z "$bad" ]; verdict "no daemon trace has a CRITICAL line ${bad:+($bad)}"

finish
