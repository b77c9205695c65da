#!/bin/sh
# latch as shells and users see it: a command killed by a signal makes
# latch end by that signal (so a loop stops on Ctrl-C), signals meant for
# the command reach it, signals while waiting for the lock do no harm, and
# the lock is never left held.  Also --help, refused names and the notice
# for a name that is a set.
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"

command -v perl > /dev/null || { echo "1..0 # SKIP perl is needed to tell a death by signal from exit 128+N"; exit 77; }

LATCH_TRACE=1 "$LATCH" -d -1 -t "$TRACE" -r init -- true

# perl ended.pl PIDFILE COMMAND...: runs COMMAND, writes its pid to PIDFILE
# (unless "-"), prints how it ended: "exit N", "signal N" or "signal N
# core".  A shell's $? says 128 + N for both an exit with 128 + N and a
# death by signal N: a shell loop stops only on the second.
cat > "$T/ended.pl" <<'EOF'
my $pidfile = shift;
my $pid = fork () // die "fork: $!";
if ($pid == 0) { exec { $ARGV[0] } @ARGV or exit 127; }
if ($pidfile ne "-") {
  open (my $f, ">", "$pidfile.tmp") or die "$pidfile: $!";
  print $f "$pid\n";
  close $f;
  rename ("$pidfile.tmp", $pidfile) or die "$pidfile: $!";
}
waitpid ($pid, 0);
my $s = $?;
if ($s & 127) { printf "signal %d%s\n", $s & 127, ($s & 128) ? " core" : ""; }
else { printf "exit %d\n", $s >> 8; }
EOF
ended () { perl "$T/ended.pl" - "$@"; }

free_now () { "$LATCH" -r "$1" -o 0 -- true; }
held_now () { "$LATCH" -r "$1" -o 0 -- true 2> /dev/null; [ $? = 98 ]; }
# gone PID: PID (a child of this shell) has ended, reaped or not.
gone () { ! [ -e "/proc/$1" ] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2> /dev/null; }
# waiting FILE NAME: the latch -V whose stderr is FILE was queued for NAME.
waiting () { grep -q "waiting for '$2'" "$1" 2> /dev/null; }

# ---- the command killed by a signal: latch ends by it, lock released ----
# (Linux signal numbers: dash's kill -l does not map names.)
for pair in TERM:15 INT:2 HUP:1 USR1:10 PIPE:13 KILL:9; do
  sig=${pair%:*} n=${pair#*:}
  got=$(env --default-signal=INT,QUIT perl "$T/ended.pl" - "$LATCH" -r dies -- sh -c "kill -$sig \$\$")
  [ "$got" = "signal $n" ] && free_now dies
  verdict "command killed by SIG$sig: latch ends by SIG$sig too ($got), after releasing the lock"
done
# Signals that dump core: latch dies by them without a core file of its own
# (the command's own core, if any, is the command's business).
mkdir "$T/cores"
for pair in SEGV:11 QUIT:3 ABRT:6; do
  sig=${pair%:*} n=${pair#*:}
  got=$(cd "$T/cores" && ulimit -c unlimited 2> /dev/null;
        env --default-signal=INT,QUIT perl "$T/ended.pl" - "$LATCH" -r dies -- sh -c "ulimit -c 0; kill -$sig \$\$")
  [ "$got" = "signal $n" ] && [ -z "$(ls "$T/cores")" ] && free_now dies
  verdict "command killed by SIG$sig: latch ends by SIG$sig, no core file ($got)"
done
got=$(ended "$LATCH" -r dies -- sh -c 'exit 130')
check "a command that exits 130 makes latch exit 130, not die ($got)" [ "$got" = "exit 130" ]

# latch itself interrupted while the command runs: it forwards SIGINT, the
# command dies of it, and so does latch.
bg env --default-signal=INT perl "$T/ended.pl" "$T/int.pid" "$LATCH" -r dies -- sh -c 'touch "$1"; exec sleep 30' sh "$T/int.run" > "$T/int.how"; ep=$last_pid
wait_for 10 file_exists "$T/int.run"
kill -INT "$(cat "$T/int.pid")"
wait $ep
got=$(cat "$T/int.how")
[ "$got" = "signal 2" ] && free_now dies
verdict "SIGINT to latch while the command runs: latch ends by SIGINT ($got), lock released"

# ---- Ctrl-C in a loop at an interactive bash, on a terminal ----
# script(1) gives bash a terminal; bash -i has job control, as at a prompt.
# latch hands the terminal to the command, so Ctrl-C kills the command;
# bash breaks the loop only if latch then dies of SIGINT too.
cat > "$T/loop.sh" <<'EOF'
for i in 1 2 3; do
  "$LATCH" -r loop -- sh -c 'echo $PPID > "$1.tmp"; mv "$1.tmp" "$1"; exec sleep 5' sh "$T/loop.latch"
  echo next >> "$T/loop.out"
done
echo done >> "$T/loop.out"
EOF
# The command catches SIGINT and exits 0: the loop goes on.
cat > "$T/loop2.sh" <<'EOF'
for i in 1; do
  "$LATCH" -r loop -- sh -c 'sleep 5 & p=$!; trap "kill $p; exit 0" INT; echo $PPID > "$1.tmp"; mv "$1.tmp" "$1"; wait' sh "$T/loop.latch"
  echo next >> "$T/loop.out"
done
echo done >> "$T/loop.out"
EOF
settled () { [ -s "$T/loop.out" ] || gone "$1"; }
if command -v bash > /dev/null && command -v script > /dev/null && mkfifo "$T/tty.in"; then
  # Not through bg: an asynchronous command's own redirection is what
  # keeps its standard input from being /dev/null.
  exec 7<> "$T/tty.in"
  env --default-signal=INT,QUIT T="$T" script -qfec "bash --norc --noprofile -i $T/loop.sh" /dev/null < "$T/tty.in" > "$T/tty.out" 2>&1 &
  sp=$!; bg_pids="$bg_pids $sp"
  wait_for 10 file_exists "$T/loop.latch"
  printf '\003' >&7
  wait_for 10 settled $sp
  # Before the fix the loop goes on: do not sit through it.
  if [ -s "$T/loop.out" ]; then kill -KILL $sp; fi
  wait $sp
  [ ! -e "$T/loop.out" ] && free_now loop
  verdict "Ctrl-C in a loop of an interactive bash stops the loop ('next' never printed), the lock is free"

  rm -f "$T/loop.out" "$T/loop.latch"
  env --default-signal=INT,QUIT T="$T" script -qfec "bash --norc --noprofile -i $T/loop2.sh" /dev/null < "$T/tty.in" > "$T/tty2.out" 2>&1 &
  sp=$!; bg_pids="$bg_pids $sp"
  wait_for 10 file_exists "$T/loop.latch"
  printf '\003' >&7
  wait $sp
  [ "$(tr '\n' ' ' < "$T/loop.out" 2> /dev/null)" = "next done " ] && free_now loop
  verdict "...but when the command catches SIGINT and exits 0, bash carries on"
  exec 7>&-
else
  ok "# SKIP needs bash, script(1) and a FIFO"
  ok "# SKIP needs bash, script(1) and a FIFO"
fi

# ---- signals forwarded while the command runs ----
cat > "$T/fwd.sh" <<'EOF'
for s in USR1 USR2 WINCH CONT ALRM HUP; do trap "echo $s >> '$1'" $s; done
echo $$ > "$2"
while [ ! -e "$3" ]; do sleep 0.01; done
exit 5
EOF
# (the command's stderr is quiet: sh reports its sleep killed by a signal)
bg "$LATCH" -r fwd -- sh "$T/fwd.sh" "$T/fwd.log" "$T/fwd.pid" "$T/fwd.stop" 2> /dev/null; lp=$last_pid
wait_for 10 file_exists "$T/fwd.pid"
for sig in USR1 USR2 WINCH CONT ALRM HUP; do
  kill -$sig $lp 2> /dev/null
  wait_for 5 file_has "$T/fwd.log" "^$sig\$" && pid_alive $lp && held_now fwd
  verdict "SIG$sig to latch reaches the command; latch goes on holding the lock"
done
touch "$T/fwd.stop"
wait $lp; st=$?
[ $st = 5 ] && free_now fwd; verdict "...then latch returns the command's status (5, got $st) and the lock is free"

# ---- signals while waiting for the lock ----
bg "$LATCH" -r wq -- sh -c 'touch "$1"; while [ ! -e "$2" ]; do sleep 0.01; done' sh "$T/wq.held" "$T/wq.go"; hp=$last_pid
wait_for 10 file_exists "$T/wq.held"
bg "$LATCH" -V -r wq -- touch "$T/wq.ran" > /dev/null 2> "$T/wq1.err"; w1=$last_pid
wait_for 10 waiting "$T/wq1.err" wq
# Meant for a command that does not run yet: dropped.
for sig in USR1 USR2 WINCH CONT; do kill -$sig $w1 2> /dev/null; done
# SIGQUIT and SIGINT end a waiting latch (cleanly: no core file, nothing
# held); background jobs start with them ignored, hence env.
mkdir "$T/cores2"
for pair in QUIT:3 INT:2; do
  sig=${pair%:*} n=${pair#*:}
  # (latch -V's own output to a file, so that the wrapper's is alone on stdout)
  bg sh -c 'cd "$1" && ulimit -c unlimited 2> /dev/null; exec env --default-signal=INT,QUIT perl "$2" "$3" sh -c "exec \"\$0\" \"\$@\" > /dev/null 2> \"$7\"" "$4" -V -r wq -- touch "$5" > "$6"' \
    sh "$T/cores2" "$T/ended.pl" "$T/w$sig.pid" "$LATCH" "$T/w$sig.ran" "$T/w$sig.how" "$T/w$sig.err"; wp=$last_pid
  wait_for 10 file_exists "$T/w$sig.pid"
  wait_for 10 waiting "$T/w$sig.err" wq
  kill -$sig "$(cat "$T/w$sig.pid")"
  wait $wp
  got=$(cat "$T/w$sig.how")
  [ "$got" = "signal $n" ] && [ -z "$(ls "$T/cores2")" ] && [ ! -e "$T/w$sig.ran" ]
  verdict "SIG$sig while waiting: latch ends by SIG$sig ($got), no core file, the command never runs"
done
touch "$T/wq.go"
wait $hp
wait $w1; st=$?
[ $st = 0 ] && [ -e "$T/wq.ran" ] && free_now wq
verdict "USR1, USR2, WINCH, CONT while waiting are dropped: latch still gets the lock and runs the command (exit $st)"

# ---- --help ----
out=$(LC_ALL=C.UTF-8 "$LATCH" --help); st=$?
summary=$(printf '%s\n' "$out" | sed -n 4p)
[ $st = 0 ] && contains "$out" '^  latch \[OPTION…\]' && [ -n "$summary" ] && [ "$summary" != "Help Options:" ] \
  && contains "$out" 'Exit status' && contains "$out" '128\+N' && contains "$out" '96' \
  && contains "$out" '97' && contains "$out" '98' && contains "$out" '99' && contains "$out" 'latch\(1\)'
verdict "latch --help (UTF-8 locale): [OPTION…], a summary, the exit statuses, latch(1)"

# ---- names ----
err=$("$LATCH" -r deploy-prod -- true 2>&1); st=$?
[ $st = 99 ] && contains "$err" "'-' is not allowed" && contains "$err" 'A-Z, a-z, 0-9' \
  && contains "$err" "'/deploy-prod'"
verdict "a refused name says which character is refused and which are allowed ($err)"
out=$("$LATCH" -r deploy.prod -- echo deploying 2> "$T/set.err"); st=$?
[ $st = 0 ] && [ "$out" = "deploying deploy" ] \
  && grep -q "^latch: 'deploy.prod' is a set of 2 members (deploy, prod): .*LATCH_ELEMENT.*--quiet" "$T/set.err" \
  && [ "$(wc -l < "$T/set.err")" = 1 ]
vst=$?; verdict_status "$vst" "a name taken as a set says so in one line on stderr ($(cat "$T/set.err"))"
"$LATCH" --quiet -r deploy.prod -- true 2> "$T/quiet.err"; st=$?
printf '[Trace]\nQuiet=yes\n' > "$T/quiet.conf"
"$LATCH" -c "$T/quiet.conf" -r deploy.prod -- true 2>> "$T/quiet.err"; st2=$?
[ $st = 0 ] && [ $st2 = 0 ] && [ ! -s "$T/quiet.err" ]
verdict "--quiet and [Trace] Quiet=yes silence the set notice"
"$LATCH" -r deploy -- true 2> "$T/simple.err"
check "a simple name gets no notice" [ ! -s "$T/simple.err" ]

"$LATCH" -X > /dev/null
finish
