#!/usr/bin/env bash
# The sanitizer run: the whole jest suite against an AddressSanitizer + UndefinedBehaviorSanitizer
# build of the addon. Linux (glibc); needs cmake and a C++17 compiler (g++ or clang++).
#
# 1. `npm run build:asan`: cmake-js builds the addon from CMakeLists.txt with POLLED_SANITIZE=ON
#    into build-asan/Release/polled.node (its own folder: build/ keeps the normal build).
# 2. Jest runs with
#    - POLLED_ADDON_PATH=build-asan/Release/polled.node: lib/native.ts loads exactly that file
#      (no prebuild, no build/Release);
#    - LD_PRELOAD of the sanitizer runtimes the addon links (libasan, libubsan; found with ldd):
#      node is not built with ASan, and ASan must be the first library in the process to intercept
#      malloc/free before anything allocates; dlopen()ing it later with the addon is refused;
#    - ASAN_OPTIONS=detect_leaks=0: LeakSanitizer would report, at exit, every allocation node
#      itself keeps for the life of the process and never frees (V8 isolate and heap, ICU, OpenSSL,
#      libuv loop, static caches) - hundreds of reports from code that is not instrumented and not
#      ours, which LSan cannot tell apart from the addon's. Everything else stays on: heap/stack/
#      global overflows, use-after-free, double free, use-after-return/scope, and every UBSan check
#      (-fno-sanitize-recover=all: the first finding aborts the process). Handle leaks are what the
#      suite's handleCount() checks are for.
#    - ASan reports go to files under $LOGDIR (log_path), jest workers and child processes
#      included; UBSan's (GCC's libubsan ignores log_path) to stderr, so the jest output is kept
#      and searched as well. The run passes only if jest passes AND no sanitizer reported anything.
#
# 3. The fuzz harness (scripts/fuzz.js: random calls over every export of the addon) runs under the
#    same sanitizers for POLLED_FUZZ_SECONDS (default 60; 0 skips it), with a seed printed first.
#
# Usage: scripts/sanitize.sh [jest args...]   e.g. scripts/sanitize.sh test/runtime.test.ts
#   POLLED_ASAN_NO_BUILD=1   reuse build-asan/ as it is
#   POLLED_FUZZ_SECONDS=N    fuzz for N seconds after jest (default 60, 0: no fuzzing)
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
T0=$(date +%s)
step() { printf '\n== sanitize [%ss] %s\n' "$(($(date +%s) - T0))" "$*"; }
fail() { echo "sanitize: FAIL: $*" >&2; exit 1; }

[ "$(uname -s)" = Linux ] || fail "the sanitizer run is Linux-only (LD_PRELOAD of libasan)"

ADDON=$ROOT/build-asan/Release/polled.node
if [ "${POLLED_ASAN_NO_BUILD:-0}" != 1 ] || [ ! -f "$ADDON" ]; then
  step "npm run build:asan (cmake-js, POLLED_SANITIZE=ON -> build-asan/)"
  npm run build:asan || fail "the ASan+UBSan build failed"
fi
[ -f "$ADDON" ] || fail "no $ADDON"

# The runtimes the addon was linked with (gcc: libasan.so.N + libubsan.so.N; clang with
# -shared-libasan: libclang_rt.asan-<arch>.so, which holds UBSan too).
# ASan's runtime must come first.
PRELOAD=$(ldd "$ADDON" | awk '/lib(asan|clang_rt\.asan)[^ ]*\.so/ { print $3 }' | head -1)
UBSAN_RT=$(ldd "$ADDON" | awk '/libubsan[^ ]*\.so/ { print $3 }' | head -1)
[ -z "$UBSAN_RT" ] || PRELOAD="$PRELOAD $UBSAN_RT"
case $PRELOAD in
  *asan*) ;;
  *) fail "$ADDON does not link a shared ASan runtime (ldd: $(ldd "$ADDON" | tr '\n' ' '))" ;;
esac

step "npm run build:ts (the sanity check below loads dist/cjs/native.js)"
npm run --silent build:ts || fail "build:ts failed"

LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/polled-sanitize.XXXXXX")
# Only node (and what it spawns) runs with these, not this script's own helpers.
SAN_ENV=(
  POLLED_ADDON_PATH="$ADDON"
  LD_PRELOAD="$PRELOAD"
  ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:detect_stack_use_after_return=1:strict_init_order=1:check_initialization_order=1:log_path=$LOGDIR/asan"
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$LOGDIR/ubsan"
)
printf '  %s\n' "${SAN_ENV[@]}"

step "sanity: node runs with ASan in the process and loads the sanitized addon"
env "${SAN_ENV[@]}" node -e '
  const maps = require("node:fs").readFileSync("/proc/self/maps", "utf8");
  if (!/libasan|clang_rt\.asan/.test(maps)) { console.error("the ASan runtime is not mapped into node"); process.exit(1); }
  const { native, addonPath } = require("./dist/cjs/native.js");
  if (addonPath !== process.env.POLLED_ADDON_PATH) { console.error("loaded " + addonPath + " instead"); process.exit(1); }
  console.log("ASan runtime mapped; addon " + addonPath + " (" + native.backend + ")");
' || fail "node did not load the sanitized addon with ASan preloaded"

step "jest under ASan + UBSan"
# One worker unless told otherwise: node under ASan runs 2-3x slower, and with two workers on a
# 2-core machine the suite's timing-sensitive tests (timer order, setTimeout vs sleep) saw stalls
# of 15+ ms and failed now and then; with one worker they pass, at ~80 s instead of ~65 s.
jest_args=(--ci)
case " $* " in *" --maxWorkers"* | *" -w "* | *" -i "* | *" --runInBand "*) ;; *) jest_args+=(--maxWorkers=1) ;; esac
env "${SAN_ENV[@]}" npx jest "${jest_args[@]}" "$@" 2>&1 | tee "$LOGDIR/jest.out"
status=${PIPESTATUS[0]}

FUZZ_SECONDS=${POLLED_FUZZ_SECONDS:-60}
fuzz_status=0
if [ "$FUZZ_SECONDS" != 0 ]; then
  step "fuzz harness under ASan + UBSan for $FUZZ_SECONDS s (scripts/fuzz.js)"
  env "${SAN_ENV[@]}" node scripts/fuzz.js --seconds "$FUZZ_SECONDS" 2>&1 | tee "$LOGDIR/fuzz.out"
  fuzz_status=${PIPESTATUS[0]}
  cat "$LOGDIR/fuzz.out" >> "$LOGDIR/jest.out" # searched for sanitizer reports below too
fi

step "sanitizer reports"
# ASan writes its reports to $LOGDIR/asan.<pid>. GCC's libubsan ignores log_path and always
# writes to stderr, so the jest output is searched too (a report from a child process whose
# stderr a test captures only shows as that test failing: -fno-sanitize-recover exits with 1).
reports=$(find "$LOGDIR" -type f -name 'asan.*' -size +0 | sort)
found=0
for f in $reports; do
  echo "---- $f"
  cat "$f"
  found=$((found + 1))
done
pattern='runtime error:|ERROR: (AddressSanitizer|LeakSanitizer)|SUMMARY: (AddressSanitizer|UndefinedBehaviorSanitizer)|Sanitizer:DEADLYSIGNAL'
if grep -Eq "$pattern" "$LOGDIR/jest.out"; then
  echo "---- in the jest output:"
  grep -En -A12 "$pattern" "$LOGDIR/jest.out" | head -200
  found=$((found + $(grep -Ec "$pattern" "$LOGDIR/jest.out")))
fi
[ $found -eq 0 ] || fail "$found sanitizer report(s), above"
echo "none"
rm -rf "$LOGDIR"
[ $status -eq 0 ] || fail "jest failed under the sanitizers (exit $status), with no sanitizer report"
[ $fuzz_status -eq 0 ] || fail "the fuzz harness failed under the sanitizers (exit $fuzz_status): its seed and call are above"
step "sanitize PASSED: jest and the fuzz harness passed, no ASan/UBSan report"
