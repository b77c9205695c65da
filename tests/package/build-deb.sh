#!/bin/sh
# build-deb.sh: the Debian packages, built and tried the way a user gets
# them.
#
#   tests/package/build-deb.sh [--keep]
#   tests/package/build-deb.sh --tried-only DIR   steps 3 and 4 only, with
#                         the packages of an earlier run kept in DIR
#
# 1. copies this tree (the files git knows, edits and new files included,
#    nothing a build left) to a temporary directory and builds there:
#    dpkg-source -b (for lintian's source checks), then
#    dpkg-buildpackage -b -us -uc, which runs the unit tests;
# 2. lintian over the source and the binary packages: an error fails;
# 3. installs latch, liblatch0 and liblatch-dev on this machine and tries
#    them: `latch -r ... -- true` starts the installed latchd, TLS loads
#    the installed module, a program built with pkg-config against
#    liblatch locks, the group `latch` exists, the systemd units (once
#    the tree has them) are there and not enabled;
# 4. purges the packages (and the group when it made it), so that the
#    machine is left as it was.
#
# Needs root (or sudo) for 3 and 4, and debian/control's build
# dependencies (dpkg-checkbuilddeps names the missing ones).  The last
# line is "deb: ok ..." or "deb: FAIL: WHY" (with the log's end above it);
# exit status 0 or 1.  The work directory is removed unless it failed or
# --keep was given.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
keep=no
built_in=""
case "${1:-}" in
  --keep) keep=yes ;;
  --tried-only) built_in=${2:?--tried-only needs the directory of a kept run}; keep=yes ;;
  "") ;;
  *) echo "usage: $0 [--keep | --tried-only DIR]" >&2; exit 2 ;;
esac
jobs=$(nproc 2>/dev/null || echo 2)
start=$(date +%s)

sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo -n"

work=$(mktemp -d "${TMPDIR:-/tmp}/latch-deb.XXXXXX")
log="$work/log"
: > "$log"

installed=no       # the packages are ours to purge
made_group=no      # the group is ours to remove
run=""             # the smoke test's XDG_RUNTIME_DIR
port_claim=""      # a port claimed as tests/integration/lib.sh does
failed=no

# Each package this script installs and purges.
packages="latch liblatch0 liblatch-dev"

# daemon_alive PID: PID is a latchd of the packages, not yet exited (a
# zombie has exited: in a container nobody may reap it).
daemon_alive () {
  [ "$(readlink "/proc/$1/exe" 2>/dev/null)" = /usr/libexec/latch/latchd ] \
    && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null
}

# stop_daemons: the daemons the smoke test started (the user's daemon,
# the TCP daemon and the agent in front of it), found by the pids in
# their lock files: asked to exit, killed if still there after 5 s.
stop_daemons () {
  [ -n "$run" ] && [ -d "$run/latch" ] || return 0
  for lockfile in "$run"/latch/*.lock; do
    [ -f "$lockfile" ] || continue
    pid=$(head -n1 "$lockfile" 2>/dev/null)
    case $pid in ''|*[!0-9]*) continue ;; esac
    i=0
    while daemon_alive "$pid" && [ $i -lt 500 ]; do
      [ $i = 0 ] && kill -TERM "$pid" 2>/dev/null
      sleep 0.01
      i=$((i + 1))
    done
    daemon_alive "$pid" && kill -KILL "$pid" 2>/dev/null
  done
  return 0
}

cleanup () {
  stop_daemons
  if [ $installed = yes ]; then
    $sudo dpkg -P $packages >> "$log" 2>&1 || echo "build-deb.sh: dpkg -P $packages failed (see $log)" >&2
  fi
  if [ $made_group = yes ] && getent group latch > /dev/null; then
    $sudo groupdel latch >> "$log" 2>&1
  fi
  [ -n "$port_claim" ] && rm -rf "$port_claim"
  if [ $failed = no ] && [ $keep = no ]; then
    rm -rf "$work"
  else
    echo "build-deb.sh: the work directory is kept: $work" >&2
  fi
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# fail WHY: the log's end, then the verdict line.
fail () {
  failed=yes
  tail -n 40 "$log"
  echo "deb: FAIL: $*"
  exit 1
}

# step DESCRIPTION COMMAND...: runs COMMAND with its output in the log.
step () {
  desc=$1; shift
  echo "== $desc: $*" >> "$log"
  "$@" >> "$log" 2>&1 || fail "$desc"
}

# ---------------------------------------------------------------------
# 1. Build from a copy.

version=$(cd "$top" && dpkg-parsechangelog -S Version) || fail "debian/changelog unreadable"
arch=$(dpkg --print-architecture)

# build: steps 1 and 2, in $work.
build () {
  src="$work/latch-$version"
  mkdir "$src"
  if [ -e "$top/.git" ]; then
    # Deleted files are still in the index: only those that exist are
    # copied.
    (cd "$top" && git ls-files -z --cached --others --exclude-standard \
       | xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh \
       | tar --null -T - -cf -) | tar -xf - -C "$src" || fail "copying the tree"
  else
    (cd "$top" && tar --exclude='./_build*' --exclude='./_b' -cf - .) | tar -xf - -C "$src" \
      || fail "copying the tree"
  fi

  missing=$(cd "$src" && dpkg-checkbuilddeps 2>&1) \
    || fail "build dependencies: $(printf '%s' "$missing" | sed 's/.*Unmet build dependencies: //')"

  step "dpkg-source" sh -c "cd '$work' && dpkg-source -b 'latch-$version'"
  step "dpkg-buildpackage" sh -c "cd '$src' && dpkg-buildpackage -b -us -uc -j$jobs"

  # 2. lintian: errors fail; the other tags are listed in the log.
  echo "== lintian" >> "$log"
  lintian --fail-on error --display-info --pedantic "$work/latch_$version.dsc" \
    "$work/latch_${version}_$arch.changes" > "$work/lintian.out" 2>&1
  lintian_rc=$?
  # lintian warns about running as root, which CI does: not a finding.
  grep -v 'running with root privileges is not recommended' "$work/lintian.out" >> "$log"
  [ $lintian_rc = 0 ] || fail "lintian reports errors (exit $lintian_rc)"
  n_warn=$(grep -c '^W: ' "$work/lintian.out")
  n_info=$(grep -c '^[IP]: ' "$work/lintian.out")
}

if [ -n "$built_in" ]; then
  debs_dir=$built_in
  n_warn="?"; n_info="?"
else
  debs_dir=$work
  build
fi
built=$(date +%s)
debs=""
for p in $packages; do
  f="$debs_dir/${p}_${version}_$arch.deb"
  [ -f "$f" ] || fail "$f was not built"
  debs="$debs $f"
done

# ---------------------------------------------------------------------
# 3. Install and try.

for p in $packages; do
  st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)
  [ -z "$st" ] || [ "$st" = not-installed ] \
    || fail "$p is on this machine already ($st): this script purges what it installs, so it installs nothing over it"
done
getent group latch > /dev/null || made_group=yes

installed=yes
step "apt-get install" $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
  -o DPkg::Lock::Timeout=300 --no-install-recommends $debs

# check DESCRIPTION COMMAND...: COMMAND must succeed.
check () {
  desc=$1; shift
  echo "== check: $desc" >> "$log"
  "$@" >> "$log" 2>&1 || fail "$desc"
}

check "the group latch exists after postinst" getent group latch
check "/etc/latch.conf is a conffile" \
  sh -c "dpkg-query -W -f='\${Conffiles}' latch | grep -q '^ /etc/latch.conf '"

# The commands run with a clean environment: no LATCH_DAEMON or
# LATCH_TLS_MODULE from a build tree, so that the installed latch finds
# its daemon and module at the paths it was configured with.
run="$work/run"
mkdir -m 700 "$run" "$work/home"
clean_env="env -i PATH=/usr/bin:/bin HOME=$work/home XDG_RUNTIME_DIR=$run"

# The command runs while the daemon holds its lock: the daemon's pid is
# in its lock file, and its program is /proc/PID/exe.
check "latch -r deb -- true, served by the installed latchd" \
  $clean_env sh -c 'latch -r deb -- sh -c "readlink /proc/\$(head -n1 \"\$XDG_RUNTIME_DIR/latch/daemon.lock\")/exe" > "$HOME/daemon-exe"'
check "the daemon was /usr/libexec/latch/latchd ($(cat "$work/home/daemon-exe" 2>/dev/null))" \
  test "$(cat "$work/home/daemon-exe")" = /usr/libexec/latch/latchd
check "latch -r deb -o 0 -- false gives the command's status 1" \
  sh -c "$clean_env latch -r deb -o 0 -- false; test \$? = 1"

# liblatch as a user builds against it: the header, pkg-config, the link.
cat > "$work/home/api.c" <<'EOF'
#include <latch.h>
#include <stdio.h>

int
main (void)
{
  LatchHandle *h = latch_handle_new ();
  int rc;

  if (h == NULL)
    return 2;
  if ((rc = latch_set_resource_name (h, "debapi")) != LATCH_RC_OK
      || (rc = latch_lock (h)) != LATCH_RC_OK)
    {
      fprintf (stderr, "lock: %d %s\n", rc, latch_get_error (h));
      return 1;
    }
  printf ("locked, fence %llu\n", (unsigned long long) latch_get_fence (h));
  rc = latch_unlock (h, 0);
  latch_handle_free (h);
  return rc == LATCH_RC_OK ? 0 : 1;
}
EOF
check "a program built with pkg-config latch" \
  sh -c "cc -o '$work/home/api' '$work/home/api.c' \$(pkg-config --cflags --libs latch)"
check "that program locks through liblatch.so.0" $clean_env "$work/home/api"

# TLS: the command (connecting directly, not through an agent) loads
# latch-tls.so from its configured directory; latchd links GnuTLS.
# The port is claimed as the integration tests claim theirs
# (tests/integration/lib.sh), so that none of them takes it meanwhile.
port_dir=${TMPDIR:-/tmp}/latch-test-ports
mkdir -p "$port_dir"
p=$((20000 + $$ % 30000))
tries=0
while [ $tries -lt 1000 ]; do
  if mkdir "$port_dir/$p" 2>/dev/null; then
    echo $$ > "$port_dir/$p/pid"
    if [ -z "$(ss -Htuan "sport = :$p" 2>/dev/null)" ]; then
      port_claim="$port_dir/$p"
      break
    fi
    rm -rf "$port_dir/$p"
  fi
  p=$((p + 1)); [ $p -lt 60000 ] || p=20000
  tries=$((tries + 1))
done
[ -n "$port_claim" ] || fail "no free TCP port for the TLS check"
pki="$work/home/pki"
check "latch-cert makes a CA" $clean_env latch-cert ca init --dir "$pki/ca" --name "deb test CA"
check "latch-cert makes this node's certificate" \
  sh -c "$clean_env latch-cert node --ca '$pki/ca' --out '$pki/tls' > '$pki/tls.conf'"
tls="-c $pki/tls.conf -a 127.0.0.1 -p $p --agent=no"
check "latch over TLS (the installed latch-tls.so and latchd)" $clean_env latch $tls -r deb -- true
check "latch over TLS: -X stops that daemon" $clean_env latch $tls -X

# The units, once the tree has them: installed, neither enabled nor
# started (dh_installsystemd --no-enable --no-start).
if ls "$top"/etc/systemd/latchd.service* > /dev/null 2>&1; then
  for u in latchd.service latchd.socket; do
    check "$u is in the package" sh -c "dpkg -L latch | grep -q '/systemd/system/$u\$'"
    check "$u is not enabled" sh -c "! systemctl --root=/ is-enabled $u | grep -qx enabled"
  done
  check "no symlink enables a latchd unit" sh -c "test -z \"\$(find /etc/systemd -name 'latchd.*')\""
fi

# ---------------------------------------------------------------------
# 4. Purge: what the packages put there goes.

stop_daemons
step "dpkg -P" $sudo dpkg -P $packages
installed=no
check "purged: no latch file left" sh -c '! ls /usr/bin/latch /usr/libexec/latch /etc/latch.conf 2>/dev/null | grep -q .'
if [ $made_group = yes ]; then
  step "groupdel latch (made by the postinst)" $sudo groupdel latch
  made_group=no
fi

end=$(date +%s)
echo "deb: ok (built in $((built - start)) s, tried in $((end - built)) s; lintian: 0 errors, $n_warn warnings, $n_info info/pedantic)"
