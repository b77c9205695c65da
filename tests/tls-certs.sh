#!/bin/bash
# tls-certs.sh OUTDIR [MACHINE_ID] [NAME=ID ...]
#
# Makes the test PKI for latch's TLS tests with certtool(1), from template
# files written to OUTDIR.  MACHINE_ID defaults to /etc/machine-id.
#
#   ca1.pem ca1.key            CA "latch test CA1"
#   ca2.pem ca2.key            CA "latch test CA2"
#   peer1_ca1 peer2_ca1        CN=MACHINE_ID, under CA1
#   peer3_ca1                  CN=00112233445566778899aabbccddeeff (a wrong id)
#   peer1_ca2 peer2_ca2        CN=MACHINE_ID, under CA2
#   expired_ca1                valid 2020-01-01 .. 2021-01-01
#   notyet_ca1                 valid 2099-01-01 .. 2100-01-01
#   revoked_ca1                revoked in ca1.crl (ca1-empty.crl revokes nothing)
#   san_ca1                    CN "node-with-san", DNS SAN = MACHINE_ID
#   rsa1024_ca1 rsa3072_ca1    RSA keys of that size
#   ed25519_ca1                Ed25519 key
#   clientonly_ca1             key purpose TLS client only
#   inter_ca1                  an intermediate CA under CA1
#   chained_ca1                leaf under inter_ca1; the .pem holds leaf + inter
#   NAME (per NAME=ID)         CN=ID, under CA1
#
# Every NAME.pem has its NAME.key (mode 0600).  Keys are ECDSA P-256 unless
# the name says otherwise.  The CAs are valid 2019..2101, so a leaf's own
# dates are the only date problem a verifier can find.  Prints nothing on
# success.

set -eu

if [ $# -lt 1 ]; then
  echo "usage: $0 OUTDIR [MACHINE_ID] [NAME=ID ...]" >&2
  exit 2
fi
out=$1; shift
mid=
if [ $# -gt 0 ] && [ "${1#*=}" = "$1" ]; then
  mid=$1; shift
fi
if [ -z "$mid" ]; then
  mid=$(cat /etc/machine-id)
fi
[ -n "$mid" ] || { echo "$0: no machine ID" >&2; exit 1; }

command -v certtool >/dev/null 2>&1 || { echo "$0: certtool not found" >&2; exit 1; }

mkdir -p "$out"
cd "$out"
tmpl=templates
mkdir -p "$tmpl"

# certtool is chatty on stderr even when it succeeds: keep its output and
# show it only when it fails.
run () {
  local log
  if ! log=$("$@" 2>&1); then
    printf '%s\n' "$log" >&2
    echo "$0: failed: $*" >&2
    exit 1
  fi
}

# Dates certtool templates accept ("YYYY-MM-DD hh:mm:ss", UTC).
day_ago=$(date -u -d '1 day ago' '+%Y-%m-%d %H:%M:%S')
year_on=$(date -u -d '365 days' '+%Y-%m-%d %H:%M:%S')

# --- keys (in parallel: RSA 3072 is the slow one) ---------------------------
# genkey NAME TYPE [BITS]
genkey () {
  local name=$1 type=$2
  case $type in
    ecdsa) run certtool --no-text --generate-privkey --key-type ecdsa --curve secp256r1 --outfile "$name.key" ;;
    ed25519) run certtool --no-text --generate-privkey --key-type ed25519 --outfile "$name.key" ;;
    rsa) run certtool --no-text --generate-privkey --key-type rsa --bits "$3" --outfile "$name.key" ;;
  esac
  chmod 600 "$name.key"
}

umask 022
extra_names=
for arg in "$@"; do
  case $arg in
    *=*) extra_names="$extra_names ${arg%%=*}" ;;
    *) echo "$0: not NAME=ID: $arg" >&2; exit 2 ;;
  esac
done

pids=
for k in ca1 ca2 inter_ca1 peer1_ca1 peer2_ca1 peer3_ca1 peer1_ca2 peer2_ca2 \
         expired_ca1 notyet_ca1 revoked_ca1 san_ca1 clientonly_ca1 chained_ca1 \
         $extra_names; do
  genkey "$k" ecdsa & pids="$pids $!"
done
genkey rsa1024_ca1 rsa 1024 & pids="$pids $!"
genkey rsa3072_ca1 rsa 3072 & pids="$pids $!"
genkey ed25519_ca1 ed25519 & pids="$pids $!"
failed=0
for p in $pids; do wait "$p" || failed=1; done
[ "$failed" = 0 ] || { echo "$0: key generation failed" >&2; exit 1; }

# --- templates ---------------------------------------------------------------
# ca_tmpl FILE CN
ca_tmpl () {
  cat > "$1" <<EOF
organization = "latch tests"
cn = "$2"
ca
cert_signing_key
crl_signing_key
activation_date = "2019-01-01 00:00:00"
expiration_date = "2101-01-01 00:00:00"
EOF
}

# node_tmpl FILE CN [ACTIVATION EXPIRATION [PURPOSES]]
node_tmpl () {
  local file=$1 cn=$2
  local act=${3:-$day_ago} exp=${4:-$year_on} purposes=${5:-server client}
  {
    echo 'organization = "latch tests"'
    echo "unit = \"${file##*/}\""
    echo "cn = \"$cn\""
    echo "signing_key"
    case " $purposes " in *" server "*) echo "tls_www_server" ;; esac
    case " $purposes " in *" client "*) echo "tls_www_client" ;; esac
    echo "activation_date = \"$act\""
    echo "expiration_date = \"$exp\""
  } > "$file"
}

# selfsign NAME CN
selfsign () {
  ca_tmpl "$tmpl/$1" "$2"
  run certtool --no-text --generate-self-signed --load-privkey "$1.key" \
    --template "$tmpl/$1" --outfile "$1.pem"
}

# sign NAME CA TEMPLATE
sign () {
  run certtool --no-text --generate-certificate --load-privkey "$1.key" \
    --load-ca-certificate "$2.pem" --load-ca-privkey "$2.key" \
    --template "$3" --outfile "$1.pem"
}

# node NAME CA CN [ACTIVATION EXPIRATION [PURPOSES]]
node () {
  local name=$1 ca=$2; shift 2
  node_tmpl "$tmpl/$name" "$@"
  sign "$name" "$ca" "$tmpl/$name"
}

# --- CAs ---------------------------------------------------------------------
selfsign ca1 "latch test CA1" & p1=$!
selfsign ca2 "latch test CA2" & p2=$!
wait "$p1" && wait "$p2"

# --- node certificates (independent: signed in parallel) --------------------
pids=
node peer1_ca1 ca1 "$mid" & pids="$pids $!"
node peer2_ca1 ca1 "$mid" & pids="$pids $!"
node peer3_ca1 ca1 00112233445566778899aabbccddeeff & pids="$pids $!"
node peer1_ca2 ca2 "$mid" & pids="$pids $!"
node peer2_ca2 ca2 "$mid" & pids="$pids $!"
node expired_ca1 ca1 "$mid" "2020-01-01 00:00:00" "2021-01-01 00:00:00" & pids="$pids $!"
node notyet_ca1 ca1 "$mid" "2099-01-01 00:00:00" "2100-01-01 00:00:00" & pids="$pids $!"
node revoked_ca1 ca1 "$mid" & pids="$pids $!"
node rsa1024_ca1 ca1 "$mid" & pids="$pids $!"
node rsa3072_ca1 ca1 "$mid" & pids="$pids $!"
node ed25519_ca1 ca1 "$mid" & pids="$pids $!"
node clientonly_ca1 ca1 "$mid" "$day_ago" "$year_on" client & pids="$pids $!"
(
  node_tmpl "$tmpl/san_ca1" "node-with-san"
  echo "dns_name = \"$mid\"" >> "$tmpl/san_ca1"
  sign san_ca1 ca1 "$tmpl/san_ca1"
) & pids="$pids $!"
(
  cat > "$tmpl/inter_ca1" <<EOF
organization = "latch tests"
cn = "latch test intermediate CA1"
ca
cert_signing_key
crl_signing_key
activation_date = "2019-01-01 00:00:00"
expiration_date = "2100-12-31 00:00:00"
EOF
  sign inter_ca1 ca1 "$tmpl/inter_ca1"
  # The leaf, then the intermediate: the whole chain a peer must send.
  node_tmpl "$tmpl/chained_ca1" "$mid"
  run certtool --no-text --generate-certificate --load-privkey chained_ca1.key \
    --load-ca-certificate inter_ca1.pem --load-ca-privkey inter_ca1.key \
    --template "$tmpl/chained_ca1" --outfile chained_ca1.leaf
  cat chained_ca1.leaf inter_ca1.pem > chained_ca1.pem
  rm -f chained_ca1.leaf
) & pids="$pids $!"
for arg in "$@"; do
  node "${arg%%=*}" ca1 "${arg#*=}" & pids="$pids $!"
done
failed=0
for p in $pids; do wait "$p" || failed=1; done
[ "$failed" = 0 ] || { echo "$0: certificate generation failed" >&2; exit 1; }

# --- CRLs from CA1: one revoking revoked_ca1, one revoking nothing -----------
cat > "$tmpl/crl" <<EOF
crl_next_update = 365
crl_number = 1
EOF
run certtool --no-text --generate-crl --load-ca-privkey ca1.key --load-ca-certificate ca1.pem \
  --load-certificate revoked_ca1.pem --template "$tmpl/crl" --outfile ca1.crl
run certtool --no-text --generate-crl --load-ca-privkey ca1.key --load-ca-certificate ca1.pem \
  --template "$tmpl/crl" --outfile ca1-empty.crl
