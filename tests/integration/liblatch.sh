#!/bin/sh
# liblatch as its users see it: a program built from latch.h alone and
# linked against the shared library, and the library's exported symbols.
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"

builddir=$(dirname "$LATCH")
lib="$builddir/.libs/liblatch.so"
cc=${CC:-cc}
if ! command -v "$cc" > /dev/null || [ ! -e "$lib" ]; then
  echo "1..0 # SKIP no C compiler or no shared liblatch"
  exit 0
fi

# A sanitizer build of the library needs its runtime in the program too.
san=""
ldd "$lib" 2>/dev/null | grep -q libasan && san="-fsanitize=address,undefined"

check "a program using only latch.h builds against liblatch.so" \
  "$cc" $san -o "$T/api-user" -I"$LATCH_TESTS_SRCDIR/../src" \
  "$LATCH_TESTS_SRCDIR/integration/api-user.c" "$lib" -Wl,-rpath,"$builddir/.libs"
# The TLS part runs with a PKI of its own (certtool needed).
if command -v certtool > /dev/null &&
   bash "$LATCH_TESTS_SRCDIR/tls-certs.sh" "$T/pki" "$("$LATCH" --unique-id)" 2> "$T/pki.err"; then
  LATCH_TEST_PKI=$T/pki LATCH_TEST_TLS_SOCKET=$T/tls.sock
  export LATCH_TEST_PKI LATCH_TEST_TLS_SOCKET
else
  diag "no TLS checks: $(cat "$T/pki.err" 2>/dev/null)"
fi
out=$("$T/api-user" 2> "$T/api-user.err"); st=$?
printf '%s\n' "$out" | sed 's/^/# /'
[ $st = 0 ] && ! contains "$out" FAILED; verdict "the public API behaves as latch.h says"
[ ! -s "$T/api-user.err" ]; verdict "liblatch prints nothing on stderr itself ($(head -c 300 "$T/api-user.err" | tr '\n' ' '))"

exported=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^_' | sort)
internal=$(printf '%s\n' "$exported" | grep -vE '^latch_(handle_new|handle_free|set_.*|get_.*|lock|unlock|is_locked|shutdown_daemon|strerror)$')
[ -z "$internal" ]; verdict "liblatch exports only the public API${internal:+ (also: $internal)}"

finish
