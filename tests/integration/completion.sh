#!/bin/sh
# The bash completion scripts (completion/latch, completion/latch-cert):
# sourced into bash as bash-completion would load them, each completion
# function is called with COMP_WORDS as bash sets them and COMPREPLY is
# compared.  Everything runs twice: in a plain bash (the scripts must not
# need the bash-completion package) and, when it is installed, after
# /usr/share/bash-completion/bash_completion.  The option lists are
# checked against the programs' --help, so that they cannot drift.
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"

COMPLETION="$LATCH_TESTS_SRCDIR/../completion"
BASH_COMPLETION_MAIN=/usr/share/bash-completion/bash_completion

skip () { n_tests=$((n_tests + 1)); echo "ok $n_tests - $1 # SKIP $2"; }

if ! command -v bash > /dev/null 2>&1; then
  echo "1..0 # SKIP bash is not installed"
  exit 0
fi

# The harness: comp WORD... completes the last word (COMP_WORDS split at
# '=' as bash does by default: pass "--opt" "=" "VALUE").  The program
# words are the built ones; the function is chosen by the base name.
cat > "$T/harness.bash" <<'EOF'
[ -n "${WITH_BC:-}" ] && . "$BASH_COMPLETION_MAIN"
. "$COMPLETION/latch"
. "$COMPLETION/latch-cert"
comp () {
  COMP_WORDS=("$@")
  COMP_CWORD=$(($# - 1))
  COMP_LINE="$*"
  COMP_POINT=${#COMP_LINE}
  COMPREPLY=()
  case ${1##*/} in
    latch) _latch ;;
    latch-cert) _latch_cert ;;
  esac 2> /dev/null  # compopt outside a real completion says so
  [ ${#COMPREPLY[@]} -eq 0 ] || printf '%s\n' "${COMPREPLY[@]}"
}
# --script FILE: run FILE (bash) with comp defined, for many cases at once.
if [ "$1" = --script ]; then . "$2"; else comp "$@"; fi
EOF
export COMPLETION BASH_COMPLETION_MAIN

# comp WORD...: the completions, one a line, sorted and unique.
comp () { bash "$T/harness.bash" "$@" | sort -u; }

# words LIST: the words of LIST one a line, sorted.
words () { printf '%s\n' $1 | sort -u; }

# has REPLY WORDS: every word of WORDS is a line of REPLY.
has () {
  local w
  for w in $2; do
    printf '%s\n' "$1" | grep -qxF -- "$w" || { diag "missing: $w"; return 1; }
  done
}

# long_options HELP-TEXT: its --options, one a line.
long_options () { printf '%s\n' "$1" | grep -o -- '--[a-z][a-z0-9-]*' | sort -u; }

run_cases () {
  local mode=$1 r want opts help c

  r=$(comp "$LATCH" --sec)
  [ "$r" = "--security-level" ]; verdict "$mode: latch --sec<TAB> gives --security-level"

  r=$(comp "$LATCH" -l "")
  [ "$r" = "$(words 'NL CR CW PR PW EX')" ]; verdict "$mode: latch -l <TAB> gives the six lock modes"
  r=$(comp "$LATCH" --lock-mode = "")
  [ "$r" = "$(words 'NL CR CW PR PW EX')" ]; verdict "$mode: latch --lock-mode=<TAB> too"
  r=$(comp "$LATCH" --log-target = jo)
  [ "$r" = journal ]; verdict "$mode: latch --log-target=jo<TAB> gives journal"
  r=$(comp "$LATCH" --security-level "")
  [ "$r" = "$(words 'clear channel mutual')" ]; verdict "$mode: latch --security-level <TAB> gives the levels"
  r=$(comp "$LATCH" -e "")
  [ "$r" = "$(words 'yes no')" ]; verdict "$mode: latch -e <TAB> gives yes and no"
  mkdir -p "$T/files" && : > "$T/files/node.pem" && : > "$T/files/node.key"
  r=$(comp "$LATCH" --tls-certificate "$T/files/node.")
  [ "$r" = "$(words "$T/files/node.key $T/files/node.pem")" ]; verdict "$mode: latch --tls-certificate <TAB> gives files"

  r=$(comp "$LATCH" status --)
  has "$r" "--json --names --metrics --resource-name"; verdict "$mode: latch status --<TAB> gives status's options"
  r=$(comp "$LATCH" -s "$T/x.sock" status --)
  has "$r" "--json --names --metrics"; verdict "$mode: latch -s PATH status --<TAB> too (an option's value skipped)"
  r=$(comp "$LATCH" -r status --)
  ! printf '%s\n' "$r" | grep -qx -- --json; verdict "$mode: latch -r status --<TAB>: 'status' there is a resource name"
  r=$(comp "$LATCH" "")
  has "$r" "status --"; verdict "$mode: latch <TAB> offers status and --"

  # The command after --: a command name first, whatever latch knows.
  r=$(comp "$LATCH" -r x -- ech)
  has "$r" "echo"; verdict "$mode: latch -r x -- ech<TAB> completes a command"
  r=$(comp "$LATCH" -r x -- --sec)
  ! printf '%s\n' "$r" | grep -qx -- --security-level; verdict "$mode: after --, latch's options are not offered"

  # Every long option of latch --help, and no other (status's aside).
  # (status's own options are offered after status, wherever --help
  # mentions them.)
  help=$("$LATCH" --help)
  want=$(long_options "$help" | grep -v -x -e --json -e --names -e --metrics)
  r=$(comp "$LATCH" -- | grep -v -x -e -- -e --json -e --names -e --metrics)
  if [ "$want" = "$r" ]; then
    ok "$mode: latch --<TAB> offers exactly the long options of latch --help"
  else
    not_ok "$mode: latch --<TAB> offers exactly the long options of latch --help"
    diag "help: $(echo $want)" "offered: $(echo $r)"
  fi
  # An option with a value takes the next word: no 'status' offered
  # there; an option without one does not.
  # (One bash for them all: bash-completion takes a while to load.)
  printf '%s\n' "$help" | grep -o -- '--[a-z][a-z0-9-]*[= ]' | sort -u > "$T/opts"
  cat > "$T/classify.bash" <<'EOF'
while read -r opt; do
  o=${opt%?}
  r=$(comp "$LATCH" "$o" "")
  case $opt in
    *=) [[ $'\n'$r$'\n' == *$'\n'status$'\n'* ]] && printf ' %s(value?)' "$o" ;;
    *) [[ $'\n'$r$'\n' == *$'\n'status$'\n'* ]] || printf ' %s(flag?)' "$o" ;;
  esac
done < "$T/opts"
EOF
  bad=$(T=$T LATCH=$LATCH bash "$T/harness.bash" --script "$T/classify.bash")
  [ -z "$bad" ]; verdict "$mode: the completion knows which options take a value"
  [ -z "$bad" ] || diag "wrong:$bad"

  r=$(comp "$LATCH_CERT" "")
  has "$r" "ca node request sign revoke crl show check"; verdict "$mode: latch-cert <TAB> gives its commands"
  r=$(comp "$LATCH_CERT" ca "")
  [ "$r" = init ]; verdict "$mode: latch-cert ca <TAB> gives init"
  r=$(comp "$LATCH_CERT" node --)
  has "$r" "--ca --out --id --id-from --name --days --key-type --bits --force"
  verdict "$mode: latch-cert node --<TAB> gives node's options"
  r=$(comp "$LATCH_CERT" node --key-type "")
  [ "$r" = "$(words 'ecdsa ed25519 rsa')" ]; verdict "$mode: latch-cert node --key-type <TAB> gives the key types"
  # Every command's options as its --help lists them.
  bad=""
  for c in "ca init" node request sign revoke crl show check; do
    help=$("$LATCH_CERT" $c --help)
    opts=$(long_options "$help")
    r=$(comp "$LATCH_CERT" $c --)
    [ "$opts" = "$r" ] || bad="$bad [$c: help $(echo $opts), offered $(echo $r)]"
  done
  [ -z "$bad" ]; verdict "$mode: latch-cert COMMAND --<TAB> offers exactly COMMAND --help's options"
  [ -z "$bad" ] || diag "differ:$bad"
}

run_cases "plain bash"
if [ -r "$BASH_COMPLETION_MAIN" ]; then
  export WITH_BC=1
  run_cases "with bash-completion"
  # bash-completion completes the command's own arguments.
  r=$(comp "$LATCH" -r x -- ls --al)
  has "$r" "--all"; verdict "with bash-completion: latch -- ls --al<TAB> completes ls's options"
  unset WITH_BC
else
  skip "with bash-completion" "$BASH_COMPLETION_MAIN is not installed (Debian: bash-completion)"
fi

# Resource names: what the completion does with `latch status --names`,
# through a stand-in latch that records its arguments.
mkdir -p "$T/bin"
cat > "$T/bin/latch" <<EOF
#!/bin/sh
echo "\$*" >> "$T/stub.args"
case "\$*" in
  *"status --names") echo alpha; echo beta-res; echo 'x\$(touch $T/expanded)'; echo "a message" >&2 ;;
esac
[ -e "$T/stub.hang" ] && sleep 10
exit 0
EOF
chmod +x "$T/bin/latch"
r=$(comp "$T/bin/latch" --system -r "")
[ "$r" = "$(printf '%s\n' alpha beta-res 'x\$\(touch\ '"$T"'/expanded\)' | sort -u)" ]
verdict "latch -r <TAB> offers the names latch status --names prints, quoted"
[ ! -e "$T/expanded" ]; verdict "a name is never expanded by the shell"
grep -qx -- "--system status --names" "$T/stub.args"; verdict "latch --system -r <TAB> asks the host's daemon"
r=$(comp "$T/bin/latch" -s "$T/x.sock" --lock-mode = PR -r be)
[ "$r" = beta-res ] && grep -qx -- "-s $T/x.sock status --names" "$T/stub.args"
verdict "latch -s PATH -r be<TAB> asks the daemon at PATH (other options left out)"
r=$(comp "$T/bin/latch" --etcd-endpoints = http://h:2379 --etcd-prefix /p/ --lease-ttl 5 -r al)
[ "$r" = alpha ] &&
  grep -qx -- "--etcd-endpoints=http://h:2379 --etcd-prefix /p/ --lease-ttl 5 status --names" "$T/stub.args"
verdict "latch --etcd-endpoints=URL --etcd-prefix P --lease-ttl S -r al<TAB> asks that cluster setting's daemon"
touch "$T/stub.hang"
start=$(now_ns)
comp "$T/bin/latch" -r "" > /dev/null
elapsed=$(( ($(now_ns) - start) / 1000000 ))
[ "$elapsed" -lt 3000 ]; verdict "a daemon that does not answer holds the completion 1 s at most ($elapsed ms)"
rm -f "$T/stub.hang"

# Resource names from a real daemon.
export LATCH
r=$(comp "$LATCH" -r "")
[ -z "$r" ] && [ -z "$(daemon_pid)" ]
verdict "latch -r <TAB> with no daemon: nothing offered, no daemon started"
bg "$LATCH" -r heldForCompletion -- sh -c "touch '$T/held'; while [ ! -e '$T/release' ]; do sleep 0.01; done"
holder=$last_pid
wait_for 10 file_exists "$T/held"; verdict "a command holds heldForCompletion"
r=$(comp "$LATCH" -r "")
has "$r" "heldForCompletion"; verdict "latch -r <TAB> offers the held resource"
r=$(comp "$LATCH" -r heldFor)
[ "$r" = heldForCompletion ]; verdict "latch -r heldFor<TAB> completes it"
r=$(comp "$LATCH" status -r "")
has "$r" "heldForCompletion"; verdict "latch status -r <TAB> offers it too"
touch "$T/release"
wait "$holder"; verdict "the holder ends"

finish
