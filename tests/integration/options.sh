#!/bin/sh
# The command line and configuration files, end to end.
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"

out=$("$LATCH" -v); st=$?
[ $st = 0 ] && contains "$out" "package version"; verdict "-v prints the version and exits 0"
out=$("$LATCH" --signal-list); st=$?
[ $st = 0 ] && contains "$out" "31\) SIGSYS"; verdict "--signal-list prints 31 signals"
# libdbus reads /var/lib/dbus/machine-id first, then /etc/machine-id.
idfile=""
for f in /var/lib/dbus/machine-id /etc/machine-id; do
  [ -s "$f" ] && { idfile=$f; break; }
done
if [ -n "$idfile" ]; then
  check "--unique-id prints the D-Bus machine ID" [ "$("$LATCH" --unique-id)" = "$(cat "$idfile")" ]
else
  ok "# SKIP no /etc/machine-id"
fi
# No machine ID at all (a private mount namespace hides both files).
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
  : > "$T/empty-id"
  err=$(unshare -m sh -c '
    for f in /etc/machine-id /var/lib/dbus/machine-id; do
      [ -e "$f" ] && mount --bind "$1" "$f"
    done
    "$LATCH" --unique-id' sh "$T/empty-id" 2>&1); st=$?
  [ $st = 99 ] && contains "$err" "machine ID" && contains "$err" "dbus-uuidgen --ensure"
  verdict "--unique-id without a machine ID exits 99 and says how to make one"
else
  ok "# SKIP needs root and unshare for a private mount namespace"
fi

out=$("$LATCH" --help); st=$?
[ $st = 0 ] && contains "$out" "--resource-name"; verdict "--help exits 0 and lists --resource-name"

bad () { # DESCRIPTION PATTERN ARGS...: exit 99 with one line matching PATTERN
  local desc=$1 pattern=$2; shift 2
  err=$("$LATCH" "$@" 2>&1); st=$?
  if [ $st = 99 ] && [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] && printf '%s\n' "$err" | grep -qF -- "$pattern"; then
    ok "$desc"
  else
    not_ok "$desc (exit $st: $err)"
  fi
}
bad "an unknown option is refused" "ZZZ" --ZZZ-ZZZ=BAR -- true
bad "a non-integer timeout is refused" "resource-timeout" -o abc -- true
bad "'maybe' is not a boolean (FLoM: yes)" "maybe" -e maybe -r a -- true
bad "'only' is not a lock mode (FLoM: NL)" "only" -l only -r a -- true
bad "an invalid resource name is refused, naming it" "'a b'" -r "a b" -- true
bad "the reserved name _RESOURCE is refused" "_RESOURCE" -r _RESOURCE -- true
bad "an unknown signal is refused" "SIGFOO" --ignore-signal SIGFOO -r a -- true
bad "more units than the capacity are refused before asking the daemon" "capacity is 2" -r "gpu[2]" -q 3 -- true
bad "a quantity below 1 is refused" "quantity" -r "gpu[2]" -q 0 -- true
bad "a missing -c file is refused" "nonexistent" -c "$T/nonexistent.conf" -r a -- true

printf '[Resource]\nTimeout=abc\n' > "$T/bad-value.conf"
bad "a bad value in a file names the file and line" "bad-value.conf:2" -c "$T/bad-value.conf" -r a -- true
printf '[Resource]\nName=x\nthis is not a key\n' > "$T/bad-syntax.conf"
bad "a malformed file names the file and line" "bad-syntax.conf:3" -c "$T/bad-syntax.conf" -- true
printf '[Resource]\nTimout=5\n' > "$T/typo.conf"
bad "an unknown key names the file and line" "typo.conf:2" -c "$T/typo.conf" -r a -- true
printf '[Daemon]\nMountPointVFS=/mnt\n' > "$T/vfs.conf"
bad "an unsupported FLoM key is an error, not a silent fallback" "not supported" -c "$T/vfs.conf" -r a -- true
printf '[TLS]\nTlsCertificate=/nonexistent.pem\n' > "$T/tls.conf"
bad "a missing TLS file is an error when read" "nonexistent.pem': No such file" -c "$T/tls.conf" -r a -- true

# Precedence: user file < -c file < command line (even at the default).
printf '[Daemon]\nLifespan=231\n[Resource]\nName=fromuser\n' > "$HOME/.latch"
printf '[Resource]\nName=fromc\nLockMode=PR\n' > "$T/c.conf"
out=$("$LATCH" -V -c "$T/c.conf" -d 500 -- true)
check "-V dumps the configuration in FLoM's format" contains "$out" "^\[Daemon\]/Lifespan=500$"
check "the -c file beats the user file" contains "$out" "^\[Resource\]/Name='fromc'$"
check "the -c file's lock mode shows as its number" contains "$out" "^\[Resource\]/LockMode=3$"
out=$("$LATCH" -V -d 5000 -- true)
check "a command-line value equal to the default still beats the file" contains "$out" "^\[Daemon\]/Lifespan=5000$"
out=$("$LATCH" -V -- true)
check "the user file applies when nothing overrides it" contains "$out" "^\[Daemon\]/Lifespan=231$"
printf '# only comments\n' > "$HOME/.latch"
expect_status 0 "a file without groups is fine (FLoM: fatal)" "$LATCH" -r nogroups -d 300 -- true

# Trace files.
"$LATCH" -r traced -T "$T/cmd.trace" -d 300 -- true
check "-T writes the command's trace file" [ -e "$T/cmd.trace" ]

finish
