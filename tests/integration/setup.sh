#!/bin/sh
# Setting latch up: a build tree that works before `make install`, latchd's
# own command line, environments that name another user's directories
# (sudo -E), and an install that keeps an edited latch.conf.
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"

LATCHD=${LATCHD_REAL:-$(dirname "$LATCH")/latchd}
builddir=$(dirname "$LATCH")

# --- The build tree: latch finds the latchd built beside it. ------------
if [ -e "$builddir/config.status" ]; then
  out=$(env -u LATCH_DAEMON "$LATCH" -d 1000 -r built -- echo ran 2>&1); st=$?
  [ $st = 0 ] && [ "$out" = ran ]; verdict "a build tree's latch runs a command without LATCH_DAEMON (exit $st: $out)"
  dpid=$(daemon_pid)
  exe=$(readlink "/proc/${dpid:-0}/exe" 2>/dev/null)
  check "...with the latchd of its own build tree ($exe)" [ "$exe" = "$(cd "$builddir" && pwd -P)/latchd" ]
  "$LATCH" -X > /dev/null 2>&1
  wait_for 10 pid_gone "${dpid:-0}"
  # A copy of latch outside any build tree looks for the installed latchd.
  mkdir "$T/elsewhere"
  cp "$LATCH" "$T/elsewhere/latch"
  out=$(env -u LATCH_DAEMON "$T/elsewhere/latch" -r x -- true 2>&1); st=$?
  if [ -x /usr/local/libexec/latch/latchd ]; then
    ok "...(skipped: latch is installed here, the copy would use it) # SKIP installed"
  else
    [ $st = 99 ] && contains "$out" "is latch installed\\?" && [ "$(printf '%s\n' "$out" | wc -l)" = 1 ]
    verdict "a latch outside the build tree without an installed latchd: one line, 99 ($out)"
  fi
else
  ok "build-tree lookup # SKIP $LATCH is not in a build tree"
  ok "build-tree lookup # SKIP"
  ok "build-tree lookup # SKIP"
fi

# --- latchd's own command line. ------------------------------------------
out=$("$LATCHD" --version 2>&1); st=$?
[ $st = 0 ] && contains "$out" '^latchd \(latch\) [0-9]'; verdict "latchd --version prints its version and exits 0 ($out)"
out=$("$LATCHD" -v 2>&1); st=$?
[ $st = 0 ] && contains "$out" '^latchd \(latch\) [0-9]'; verdict "latchd -v likewise"
check "...and neither started a daemon" [ ! -e "$SOCKDIR/daemon.sock" ]
help=$("$LATCHD" --help 2>&1); st=$?
[ $st = 0 ] && contains "$help" '--daemon-lifespan' && contains "$help" '--tls-certificate' \
  && contains "$help" '--ready-fd'; verdict "latchd --help lists the daemon settings"
! contains "$help" '--resource-name|--quiesce-exit|--unique-id|--lock-mode|--resource-timeout'
verdict "...and none of the command's options"
! contains "$help" 'system and user'; verdict "...and does not claim to read the configuration files"
out=$("$LATCHD" -d 100 -- sleep 1 2>&1); st=$?
[ $st = 1 ] && contains "$out" "unexpected argument 'sleep'"; verdict "latchd -- sleep 1 is refused, naming the argument (exit $st: $out)"
out=$("$LATCHD" -r x 2>&1); st=$?
[ $st = 1 ] && contains "$out" "Unknown option -r"; verdict "latchd -r (a command's option) is refused (exit $st)"
check "...and nothing started listening" [ ! -e "$SOCKDIR/daemon.sock" ]

# --- sudo -E: the environment names another user's directories. ---------
if [ "$(id -u)" != 0 ] || ! command -v setpriv > /dev/null; then
  for i in 1 2 3 4; do ok "other user's HOME / XDG_RUNTIME_DIR # SKIP needs root and setpriv"; done
else
  nobody=65534
  # What nobody runs must be reachable by nobody.
  if setpriv --reuid=$nobody --regid=$nobody --clear-groups "$LATCH" --version > /dev/null 2>&1; then
    mkdir -m 700 "$T/roothome" "$T/rootrun"
    printf '[Resource]\nTimeout=abc\n' > "$T/roothome/.latch"
    # nobody's socket directory: outside $T, which is root's and 0700.
    nb=$(mktemp -d "${TMPDIR:-/tmp}/latch-nobody.XXXXXX"); chown $nobody "$nb"
    # Another user (nobody) whose environment still names root's HOME, as
    # `sudo -E -u nobody` leaves it: root's ~/.latch is not read.
    out=$(setpriv --reuid=$nobody --regid=$nobody --clear-groups \
            env HOME="$T/roothome" "$LATCH" -s "$nb/sock" -d 200 -r x -- echo ran 2>&1); st=$?
    [ $st = 0 ] && [ "$out" = ran ]; verdict "a user whose HOME is root's runs the command (exit $st: $out)"
    pid=$(head -n1 "$nb/sock.lock" 2>/dev/null)
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    rm -rf "$nb"
    # ...and whose XDG_RUNTIME_DIR is root's: not used for the socket.
    out=$(setpriv --reuid=$nobody --regid=$nobody --clear-groups \
            env HOME="$T/roothome" XDG_RUNTIME_DIR="$T/rootrun" "$LATCH" -d 0 -r x -- true 2>&1)
    ! contains "$out" "$T/rootrun" && contains "$out" "/tmp/latch-$nobody"
    verdict "...a root XDG_RUNTIME_DIR is not used, /tmp/latch-$nobody is ($out)"
  else
    ok "other user's HOME # SKIP nobody cannot run $LATCH"
    ok "other user's XDG_RUNTIME_DIR # SKIP nobody cannot run $LATCH"
  fi
  # root whose HOME is a user's (sudo -E): that user's ~/.latch is not
  # root's configuration (a DaemonTraceFile there would be written by root).
  mkdir "$T/userhome"
  printf '[Resource]\nTimeout=abc\n' > "$T/userhome/.latch"
  chown -R $nobody "$T/userhome"
  out=$(HOME="$T/userhome" "$LATCH" -r x -- echo ran 2>&1); st=$?
  [ $st = 0 ] && [ "$out" = ran ]; verdict "root with another user's HOME ignores that user's ~/.latch (exit $st: $out)"
  # ...but its own HOME's ~/.latch is read (the check above can fail).
  out=$(HOME="$T/roothome" "$LATCH" -r x -- echo ran 2>&1); st=$?
  [ $st = 99 ] && contains "$out" "roothome/.latch:2"; verdict "...while its own ~/.latch is read (exit $st: $out)"
  "$LATCH" -X > /dev/null 2>&1
fi

# --- make install keeps an edited latch.conf. ----------------------------
if [ -f "$builddir/Makefile" ] && command -v make > /dev/null; then
  dest="$T/dest"
  make -s -C "$builddir" install-data-local DESTDIR="$dest" > "$T/install.out" 2>&1
  conf=$(find "$dest" -name latch.conf | head -n1)
  check "make install puts latch.conf in place when there is none" [ -n "$conf" ]
  echo "# edited by hand" >> "$conf"
  make -s -C "$builddir" install-data-local DESTDIR="$dest" > "$T/install.out" 2>&1
  check "...and keeps an edited one" grep -q "edited by hand" "$conf"
  check "...saying so" grep -q "exists: kept" "$T/install.out"
  make -s -C "$builddir" uninstall-local DESTDIR="$dest" > /dev/null 2>&1
  check "make uninstall keeps an edited latch.conf" [ -e "$conf" ]
else
  for i in 1 2 3 4; do ok "install # SKIP no build tree"; done
fi

finish
