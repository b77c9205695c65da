#!/bin/sh
# The manual pages against the programs: every long option of
# `latch --help` is in latch.1 and every one of `latchd --help` in
# latchd.8; every [Group] Key the configuration knows is in latch.conf.5,
# with the default the program itself has; groff finds nothing to warn
# about in any page.  The lists come from the programs (their --help, the
# -V dump, the messages about unknown groups and keys), never from a copy.
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"

DOC="$LATCH_TESTS_SRCDIR/../doc"
LATCHD="${LATCHD_REAL:-$LATCH_DAEMON}"

skip () { n_tests=$((n_tests + 1)); echo "ok $n_tests - $1 # SKIP $2"; }

# A page's text with roff's escaped hyphens made plain.
plain () { sed 's/\\-/-/g' "$1"; }

# missing_options PROGRAM PAGE: the long options of PROGRAM --help that
# PAGE never mentions (an option is followed by neither a letter, a
# digit nor a hyphen: --system is not found in --system-group).
missing_options () {
  "$1" --help | grep -o -- '--[a-z][a-z0-9-]*' | sort -u | while read -r opt; do
    plain "$2" | grep -qE -- "$opt([^a-z0-9-]|\$)" || printf '%s ' "$opt"
  done
}

# --- groff -----------------------------------------------------------
for page in latch.1 latch-cert.1 latchd.8 latch.conf.5; do
  if ! command -v groff > /dev/null 2>&1; then
    skip "groff finds no problem in $page" "groff is not installed (Debian: groff-base)"
    continue
  fi
  warnings=$(groff -t -man -ww -z "$DOC/$page" 2>&1)
  [ -z "$warnings" ]; verdict "groff -t -man -ww -z: no warning in $page"
  [ -z "$warnings" ] || diag "$warnings"
done

# --- options ---------------------------------------------------------
missing=$(missing_options "$LATCH" "$DOC/latch.1")
[ -z "$missing" ]; verdict "every long option of latch --help is in latch.1"
[ -z "$missing" ] || diag "not in doc/latch.1: $missing"
n=$("$LATCH" --help | grep -c -- '^  *-')
[ "$n" -gt 40 ]; verdict "latch --help lists its options ($n)"

missing=$(missing_options "$LATCHD" "$DOC/latchd.8")
[ -z "$missing" ]; verdict "every long option of latchd --help is in latchd.8"
[ -z "$missing" ] || diag "not in doc/latchd.8: $missing"
n=$("$LATCHD" --help | grep -c -- '^  *-')
[ "$n" -gt 30 ]; verdict "latchd --help lists its options ($n)"

# --- configuration keys ----------------------------------------------
# conf_error TEXT: latch's message about a -c file holding TEXT.
conf_error () {
  printf '%s\n' "$1" > "$T/probe.conf"
  "$LATCH" -c "$T/probe.conf" -- true 2>&1 >/dev/null
}

groups=$(conf_error '[NoSuchGroup]' | sed -n 's/.*known groups: //p' | tr -d ',')
[ -n "$groups" ]; verdict "latch names its configuration groups ($groups)"
: > "$T/known"
for g in $groups; do
  conf_error "[$g]
NoSuchKey=1" | sed -n 's/.*known keys: //p' | tr -d ',' | tr ' ' '\n' |
    sed "/^\$/d; s/^/$g /" >> "$T/known"
done
n=$(wc -l < "$T/known")
[ "$n" -gt 40 ]; verdict "latch names the keys of every group ($n)"

# The defaults: the -V dump of a latch with no configuration file.  HOME
# is this test's; the system file is the one compiled in.
sysconf=$(grep -a -o '/[^[:space:][:cntrl:]]*/latch\.conf' "$LATCH" | head -n 1)
if [ -n "$sysconf" ] && [ -f "$sysconf" ] && grep -q '^[[:space:]]*[^#[:space:]]' "$sysconf"; then
  defaults_ok=false
  diag "$sysconf sets keys: the program's defaults cannot be read from its -V dump"
else
  defaults_ok=true
fi
"$LATCH" -V > "$T/dump" 2>/dev/null
grep -q '^\[Resource\]/Timeout=' "$T/dump"; verdict "latch -V prints the configuration"

# The page's entries: "Group Key first-word-of-Default:" per key (see
# the convention at the top of latch.conf.5), and the group "-" for the
# keys of the NOT SUPPORTED section with whether their text says so.
awk '
  function flush() {
    if (key != "") {
      if (group == "-") print "-", key, (text ~ /refuses/ && text ~ /not supported/) ? "refused" : "?"
      else print group, key, (def == "" ? "?" : def)
    }
    key = ""; def = ""; text = ""
  }
  /^\.SH/ { flush(); group = ($0 ~ /NOT SUPPORTED/) ? "-" : ""; next }
  /^\.SS/ { flush(); g = $0; sub(/^\.SS */, "", g); gsub(/["\[\]]/, "", g); group = g; next }
  /^\.TP/ { flush(); tp = 1; next }
  tp && /^\.B / { key = $2; tp = 0; next }
  { tp = 0 }
  key != "" && /^Default:/ {
    d = $0; sub(/^Default: */, "", d); gsub(/\\f[BIRP]/, "", d); gsub(/\\-/, "-", d)
    sub(/[ .,;(].*$/, "", d); def = d
  }
  key != "" { text = text " " $0 }
  END { flush() }
' "$DOC/latch.conf.5" | grep -v '^ ' > "$T/page"

# A key known to the program but absent from the dump is unsupported
# (the dump prints every supported setting).
bad=""
while read -r g k; do
  if ! grep -q "^\[$g\]/$k=" "$T/dump"; then
    grep -qx -- "- $k refused" "$T/page" || bad="$bad [$g]$k(unsupported:not-said-refused)"
    continue
  fi
  entry=$(awk -v g="$g" -v k="$k" '$1 == g && $2 == k { print $3 }' "$T/page")
  if [ -z "$entry" ]; then
    bad="$bad [$g]$k(missing)"
    continue
  fi
  $defaults_ok || continue
  v=$(sed -n "s/^\[$g\]\/$k=//p" "$T/dump")
  # What kind of value: the program's own message about a bad one.
  kind=$(conf_error "[$g]
$k=not-a-value!")
  case $kind in
    *"is not yes or no"*) case $v in 1) want=yes ;; *) want=no ;; esac ;;
    *"is not a lock mode"*) want=$(echo NL CR CW PR PW EX | cut -d' ' -f$((v + 1))) ;;
    *) case $v in "''") want=none ;; \'*) want=$(echo "$v" | tr -d "'") ;; *) want=$v ;; esac ;;
  esac
  # The dump exists only when verbose: it cannot show Verbose's default,
  # which is the flag's off (FLAG rows default to off: config.c).
  [ "$g $k" = "Trace Verbose" ] && want=no
  [ "$entry" = "$want" ] || bad="$bad [$g]$k(page:$entry,program:$want)"
done < "$T/known"
[ -z "$bad" ]; verdict "every key of the program is in latch.conf.5 with the program's default"
[ -z "$bad" ] || diag "latch.conf.5 disagrees:$bad"
$defaults_ok || skip "the defaults in latch.conf.5 are the program's" "$sysconf sets keys"

# And the page documents no key the program does not know.
extra=""
while read -r g k d; do
  [ "$g" = - ] && g=$(awk -v k="$k" '$2 == k { print $1 }' "$T/known")
  grep -qx -- "$g $k" "$T/known" || extra="$extra [$g]$k"
done < "$T/page"
[ -z "$extra" ]; verdict "latch.conf.5 documents no key the program does not know"
[ -z "$extra" ] || diag "unknown to latch:$extra"

finish
