#!/usr/bin/env bash
# Install test: polled as a real npm dependency.
#
# Packs the package (`npm pack`), checks what the tarball holds, then installs it *offline, from
# the file* into fresh temporary projects and, in each one: imports polled from ESM, requires it
# from CJS (and checks both see one and the same module), type-checks TypeScript consumers with
# `tsc --noEmit` (node16 CJS + ESM, bundler, node10 resolution), and runs an echo round trip.
#
#   mode "prebuild": the tarball as published (with prebuilds/), installed
#       (a) with --ignore-scripts and (b) with scripts, both with NO compiler reachable:
#       PATH holds only node, npm and sh (no cc, c++, gcc, g++, clang, make, python3; checked),
#       and CC/CXX point at /bin/false. The loader must pick prebuilds/, and no build/ may appear.
#   mode "source": the same tarball minus prebuilds/ (a platform we ship no prebuild for),
#       installed with scripts: node-gyp-build finds no prebuild and compiles with node-gyp. First
#       checks that, with no addon at all, requiring polled fails with the documented error.
#
# Usage: scripts/install-test.sh [prebuild|source]...   (default: both)
#   POLLED_INSTALL_TEST_NO_BUILD=1  reuse dist/ and prebuilds/ as they are (no `npm run prebuild`)
#   POLLED_INSTALL_TEST_KEEP=1      keep the temporary directory
# Exit status 0 when every mode passed. Needs only what `npm install` in the repo put in
# node_modules/: the dependencies are packed from there, typescript and @types/node are used in place.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODES=("$@")
[ ${#MODES[@]} -gt 0 ] || MODES=(prebuild source)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/polled-install-test.XXXXXX")
PACK=$WORK/pack
mkdir -p "$PACK"

# prebuilds/ made here only for the tarball goes again at the end: left in the checkout, the
# loader would prefer it to build/Release, and later native edits would be tested against it.
# prebuildify leaves build/Release without its .node, so the prebuild (the same sources, built
# just now) goes back there first: the checkout keeps a local build, as before the test.
MADE_PREBUILDS=0
restore_local_build() {
  local built
  built=$(ls "$ROOT"/prebuilds/*/*.node 2>/dev/null | head -1)
  if [ -n "$built" ] && ! ls "$ROOT"/build/Release/*.node >/dev/null 2>&1; then
    mkdir -p "$ROOT/build/Release" && cp "$built" "$ROOT/build/Release/polled.node"
  fi
  rm -rf "$ROOT/prebuilds"
}
cleanup() {
  local rc=$?
  [ $MADE_PREBUILDS = 1 ] && restore_local_build
  if [ "${POLLED_INSTALL_TEST_KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then
    echo "install-test: work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

T0=$(date +%s)
step() { printf '\n== install-test [%ss] %s\n' "$(($(date +%s) - T0))" "$*"; }
fail() { echo "install-test: FAIL: $*" >&2; exit 1; }

# The environment for everything that runs in a consumer project: no npm_* variables from an
# enclosing `npm run` (they would point npm at this repo), no node_modules/.bin on PATH.
CLEAN_PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -v -e 'node_modules/\.bin' -e 'node-gyp-bin' | paste -sd: -)
NODE=$(command -v node)
NPM_CLI=$(readlink -f "$(command -v npm)")
consumer_env() { # consumer_env PATH VAR=VALUE... -- command...
  local path=$1
  shift
  env -i HOME="$HOME" USER="${USER:-root}" LANG="${LANG:-C.UTF-8}" TMPDIR="${TMPDIR:-/tmp}" PATH="$path" "$@"
}

# ---- 1. Build and pack -------------------------------------------------------------------------
cd "$ROOT"
if [ "${POLLED_INSTALL_TEST_NO_BUILD:-0}" != 1 ]; then
  [ -d prebuilds ] || MADE_PREBUILDS=1
  step "npm run prebuild (prebuildify --napi --strip --tag-libc)"
  npm run --silent prebuild
fi
ls prebuilds/*/*.node >/dev/null 2>&1 || fail "no prebuilds/*/*.node: run \`npm run prebuild\` first"

step "npm pack (its prepare script rebuilds dist/)"
npm pack --pack-destination "$PACK" || fail "npm pack failed"
TARBALL=$(ls "$PACK"/polled-*.tgz 2>/dev/null | head -1)
[ -n "$TARBALL" ] || fail "npm pack wrote no polled-*.tgz"
echo "tarball: $(basename "$TARBALL") ($(du -k "$TARBALL" | cut -f1) KiB)"

step "tarball contents"
tar -tzf "$TARBALL" | sort > "$WORK/contents.txt"
sed 's/^/  /' "$WORK/contents.txt"
PLATFORM_ARCH=$("$NODE" -p 'process.platform + "-" + process.arch')
need=(package/package.json package/binding.gyp package/CMakeLists.txt
  package/dist/cjs/index.js package/dist/cjs/index.d.ts
  package/dist/esm/index.js package/dist/esm/index.d.ts package/dist/esm/package.json)
for src in $(grep -o 'native/[A-Za-z0-9_]*\.cc' binding.gyp | sort -u); do need+=("package/$src"); done
for f in "${need[@]}"; do grep -qx "$f" "$WORK/contents.txt" || fail "tarball lacks $f"; done
grep -q "^package/prebuilds/$PLATFORM_ARCH/.*\.node$" "$WORK/contents.txt" || fail "tarball lacks prebuilds/$PLATFORM_ARCH/*.node"
if grep -E '^package/(build|build-asan|node_modules|test|bench|examples|\.ci)/' "$WORK/contents.txt"; then
  fail "tarball holds build output or development files (listed above)"
fi

step "pack the dependencies from node_modules (offline install needs no registry)"
"$NODE" - "$ROOT" "$PACK" <<'EOF'
// Pack polled's runtime dependencies, and theirs, from the repo's node_modules.
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const [root, out] = process.argv.slice(2);
const seen = new Set();
const queue = Object.keys(require(path.join(root, 'package.json')).dependencies || {});
while (queue.length) {
  const name = queue.shift();
  if (seen.has(name)) continue;
  seen.add(name);
  const dir = path.join(root, 'node_modules', name);
  const pkg = require(path.join(dir, 'package.json'));
  execFileSync('npm', ['pack', dir, '--ignore-scripts', '--pack-destination', out, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] });
  console.log(`  ${name}@${pkg.version}`);
  queue.push(...Object.keys(pkg.dependencies || {}));
}
EOF
DEP_TARBALLS=()
for f in "$PACK"/*.tgz; do [ "$f" = "$TARBALL" ] || DEP_TARBALLS+=("$f"); done

# The source-mode tarball: the same package without prebuilds/.
mkdir -p "$WORK/unpacked" "$PACK/source"
tar -xzf "$TARBALL" -C "$WORK/unpacked"
rm -rf "$WORK/unpacked/package/prebuilds"
SRC_TARBALL=$PACK/source/$(basename "$TARBALL")
tar -czf "$SRC_TARBALL" -C "$WORK/unpacked" package

# ---- 2. The consumer project -------------------------------------------------------------------
TSC="$ROOT/node_modules/typescript/bin/tsc"
TYPE_ROOTS="$ROOT/node_modules/@types"

write_consumer() { # write_consumer DIR
  local dir=$1
  mkdir -p "$dir/ts"
  cat > "$dir/package.json" <<'EOF'
{ "name": "polled-consumer", "version": "1.0.0", "private": true, "license": "MIT" }
EOF

  # The echo round trip, shared by the ESM and CJS entry points.
  cat > "$dir/echo.cjs" <<'EOF'
'use strict';
// Echo round trip through the installed package: a server task echoes everything it reads back
// to the client until end of stream; the client sends MESSAGE and must read it back intact.
const MESSAGE = Buffer.alloc(256 * 1024, 'polled echo round trip. ');

// The round trip is over TCP (lib/net: TcpListener / TcpStream, exported from lib/index.ts).
// (Before lib/net existed it went through an OS pipe pair; TCP is the real thing a consumer uses.)
function transport(p) {
  if (typeof p.TcpListener !== 'function' || typeof p.TcpStream !== 'function') {
    throw new Error('polled does not export TcpListener / TcpStream: the echo round trip needs lib/net');
  }
  return 'tcp';
}

function* readToEnd(stream) {
  const chunks = [];
  const buf = Buffer.alloc(64 * 1024);
  for (;;) {
    const n = yield* stream.read(buf);
    if (n === 0) return Buffer.concat(chunks);
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
}

function* writeAll(stream, data) {
  for (let off = 0; off < data.length; ) off += yield* stream.write(data, off, data.length - off);
}

function* tcpEcho(p, rt) {
  const listener = yield* p.TcpListener.bind('127.0.0.1:0');
  const server = rt.spawn(
    (function* () {
      const [conn] = yield* listener.accept();
      const buf = Buffer.alloc(64 * 1024);
      for (;;) {
        const n = yield* conn.read(buf);
        if (n === 0) break;
        yield* writeAll(conn, buf.subarray(0, n));
      }
      conn.close();
    })(),
    'echo-server',
  );
  const client = yield* p.TcpStream.connect(listener.localAddr());
  const writer = rt.spawn(
    (function* () {
      yield* writeAll(client, MESSAGE);
      client.shutdown('write');
    })(),
    'echo-client-writer',
  );
  const reply = yield* readToEnd(client);
  yield* writer;
  yield* server;
  client.close();
  listener.close();
  return reply;
}

/** The generator to run on `rt`; resolves to the echoed bytes. */
function echo(p, rt) {
  const kind = transport(p);
  return { kind, gen: tcpEcho(p, rt) };
}

function check(kind, reply, how) {
  if (!Buffer.isBuffer(reply) || !reply.equals(MESSAGE)) {
    throw new Error(`echo (${kind}, ${how}): got ${reply && reply.length} bytes back, expected ${MESSAGE.length} identical bytes`);
  }
  console.log(`echo round trip OK: ${kind}, ${how}, ${reply.length} bytes`);
}

/** Where the addon came from: lib/native.ts records it (deep path: require bypasses "exports"). */
function addonPath() {
  const path = require('node:path');
  return require(path.join(path.dirname(require.resolve('polled')), 'native.js')).addonPath;
}

module.exports = { echo, check, addonPath };
EOF

  cat > "$dir/cjs.cjs" <<'EOF'
'use strict';
const assert = require('node:assert/strict');
const polled = require('polled');
const { echo, check, addonPath } = require('./echo.cjs');
for (const name of ['Runtime', 'spawn', 'blockOn', 'sleep', 'JoinHandle', 'IoError']) {
  assert.equal(typeof polled[name], 'function', `require('polled').${name}`);
}
console.log(`cjs: require('polled') OK (${Object.keys(polled).length} exports), addon ${addonPath()}`);
const rt = new polled.Runtime();
const { kind, gen } = echo(polled, rt);
check(kind, rt.blockOn(gen), 'CJS, blockOn driver');
rt.close();
EOF

  cat > "$dir/esm.mjs" <<'EOF'
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import polledDefault, * as polled from 'polled';
import { Runtime, sleep } from 'polled';
const require = createRequire(import.meta.url);
const { echo, check, addonPath } = require('./echo.cjs');
assert.equal(typeof Runtime, 'function');
assert.equal(typeof sleep, 'function');
// One copy of the code: ESM import and CJS require give the very same classes (one runtime per thread).
const cjs = require('polled');
assert.equal(polled.Runtime, cjs.Runtime, 'ESM and CJS must share one module instance');
assert.equal(polledDefault, cjs, 'the default export is the CJS module');
console.log(`esm: import from 'polled' OK (${Object.keys(polled).length} names), addon ${addonPath()}`);
const rt = new Runtime();
const { kind, gen } = echo(polled, rt);
// The embedded driver: the task runs inside Node's event loop; await its JoinHandle as a Promise.
check(kind, await rt.spawn(gen, 'echo').promise(), 'ESM, embedded driver');
rt.close();
// Worker runtimes from the installed package: its bootstrap (dist/cjs/worker-main.js) loads this app's module.
const exits = await polled.startWorkers(new URL('./worker.mjs', import.meta.url), { threads: 2, signals: false }).join();
assert.deepEqual(exits.map((e) => e.result), [0, 10], `worker results: ${JSON.stringify(exits)}`);
console.log('esm: startWorkers from the installed package OK (2 workers)');
EOF

  cat > "$dir/worker.mjs" <<'EOF'
export function* main(ctx) {
  return ctx.index * 10;
}
EOF

  # TypeScript consumers: strict, and skipLibCheck off so polled's .d.ts files are checked too.
  cat > "$dir/ts/app.ts" <<'EOF'
import { Runtime, sleep, JoinHandle, IoError, TcpListener, TcpStream, SocketAddress, type Async } from 'polled';

function* answer(): Async<number> {
  yield* sleep(1);
  return 42;
}
export function* echoOnce(): Async<number> {
  const listener: TcpListener = yield* TcpListener.bind('127.0.0.1:0');
  const addr: SocketAddress = listener.localAddr();
  const client: TcpStream = yield* TcpStream.connect(addr);
  const [conn, peer]: [TcpStream, SocketAddress] = yield* listener.accept();
  yield* client.writeAll(Buffer.from('hi'));
  const buf = Buffer.alloc(2);
  const n: number = yield* conn.read(buf);
  void peer;
  conn.close();
  client.close();
  listener.close();
  return n;
}
export function run(): number {
  const rt: Runtime = new Runtime();
  const handle: JoinHandle<number> = rt.spawn(answer());
  handle.abort();
  const n: number = rt.blockOn(answer());
  // @ts-expect-error blockOn(answer()) is a number: proves the types are real, not `any`
  const s: string = rt.blockOn(answer());
  void s;
  const e: Error = new IoError(9, 'read');
  void e;
  rt.close();
  return n;
}
// Type checks only (never called): a JoinHandle is a PromiseLike of the task's value, and
// passing the generator function instead of calling it is a type error.
export async function awaitable(rt: Runtime): Promise<number> {
  const p: PromiseLike<number> = rt.spawn(answer());
  const v: number = await rt.spawn(answer());
  // @ts-expect-error await handle gives the value (a number), not the handle
  const h: JoinHandle<number> = await rt.spawn(answer());
  void h;
  // @ts-expect-error spawn(answer) got the generator function; call it: spawn(answer())
  rt.spawn(answer);
  // @ts-expect-error blockOn(answer) likewise
  rt.blockOn(answer);
  return v + (await p);
}
EOF
  # The public surface: internals are not on the root (each line must be a type error), and they
  # are reachable through polled/internals.
  cat >> "$dir/ts/app.ts" <<'EOF'
import * as root from 'polled';
import { executorOf, reactorOf, timersOf, Executor } from 'polled/internals';
export function surface(rt: Runtime): number {
  // @ts-expect-error the executor is internal: polled/internals has executorOf(rt)
  void rt.executor;
  // @ts-expect-error the reactor is internal: reactorOf(rt)
  void rt.reactor;
  // @ts-expect-error the poller handle is internal
  void rt.poller;
  // @ts-expect-error the events batch is internal
  void rt.events;
  // @ts-expect-error the timer queue is internal: timersOf(rt)
  void rt.timers;
  // @ts-expect-error Executor is not a root export
  void root.Executor;
  // @ts-expect-error Reactor is not a root export
  void root.Reactor;
  // @ts-expect-error IoSource is not a root export
  void root.IoSource;
  // @ts-expect-error Task is not a root export (JoinHandle is)
  void root.Task;
  // @ts-expect-error the echo server is polled/echo, not the root
  void root.EchoServer;
  const ex: Executor = executorOf(rt);
  void reactorOf(rt);
  void timersOf(rt);
  return ex.tasks.size;
}
EOF
  cp "$dir/ts/app.ts" "$dir/ts/app-esm.mts"
  cp "$dir/ts/app.ts" "$dir/ts/app-cjs.cts"
  cat > "$dir/ts/cjs-require.cts" <<'EOF'
import polled = require('polled');
const rt: polled.Runtime = new polled.Runtime();
rt.close();
EOF
  local common='"strict": true, "noEmit": true, "skipLibCheck": false, "types": ["node"], "typeRoots": ["'"$TYPE_ROOTS"'"], "lib": ["ES2022"], "target": "ES2022"'
  cat > "$dir/ts/tsconfig.node16.json" <<EOF
{ "compilerOptions": { $common, "module": "node16", "moduleResolution": "node16" },
  "files": ["app-esm.mts", "app-cjs.cts", "cjs-require.cts"] }
EOF
  cat > "$dir/ts/tsconfig.bundler.json" <<EOF
{ "compilerOptions": { $common, "module": "esnext", "moduleResolution": "bundler" }, "files": ["app.ts"] }
EOF
  cat > "$dir/ts/tsconfig.node10.json" <<EOF
{ "compilerOptions": { $common, "module": "commonjs", "moduleResolution": "node10", "ignoreDeprecations": "6.0" }, "files": ["app.ts"] }
EOF
}

run_checks() { # run_checks DIR PATH EXPECTED-ADDON-REGEX [no-tsc]
  local dir=$1 path=$2 want=$3 skip_tsc=${4:-} got
  cd "$dir"
  got=$(consumer_env "$path" "$NODE" -e 'process.stdout.write(require("./echo.cjs").addonPath())')
  echo "addon loaded from: $got"
  [[ $got =~ $want ]] || fail "expected the addon from $want, got $got"
  consumer_env "$path" "$NODE" cjs.cjs
  consumer_env "$path" "$NODE" esm.mjs
  [ "$skip_tsc" != no-tsc ] || { echo "tsc: same tarball as the --ignore-scripts install, not repeated"; return 0; }
  local cfg
  for cfg in node16 bundler node10; do
    consumer_env "$path" "$NODE" "$TSC" --noEmit -p "ts/tsconfig.$cfg.json" || fail "tsc --noEmit ($cfg) failed"
    echo "tsc --noEmit -p ts/tsconfig.$cfg.json OK"
  done
}

npm_install() { # npm_install PATH [ENV=...] -- npm args...
  local path=$1
  shift
  local envs=()
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  consumer_env "$path" "${envs[@]}" "$NODE" "$NPM_CLI" install --offline --no-audit --no-fund --no-save "$@"
}

# ---- 3. Mode: prebuild, no compiler ------------------------------------------------------------
mode_prebuild() {
  local nocc=$WORK/nocc-bin variant dir
  mkdir -p "$nocc"
  ln -sf "$NODE" "$nocc/node"
  ln -sf "$NPM_CLI" "$nocc/npm"
  ln -sf "$(command -v sh)" "$nocc/sh"
  step "mode prebuild: no compiler on PATH=$nocc, CC=CXX=/bin/false"
  consumer_env "$nocc" "$NODE" -e '
    const fs = require("node:fs"), path = require("node:path");
    const tools = ["cc", "c++", "gcc", "g++", "clang", "clang++", "make", "gmake", "python", "python3", "node-gyp", "cmake"];
    const found = tools.filter((t) => process.env.PATH.split(":").some((d) => fs.existsSync(path.join(d, t))));
    if (found.length) { console.error("reachable: " + found.join(", ")); process.exit(1); }
    console.log("unreachable, as intended: " + tools.join(" "));' || fail "a compiler or build tool is reachable in the no-compiler environment"

  for variant in ignore-scripts with-scripts; do
    dir=$WORK/prebuild-$variant
    step "mode prebuild ($variant): install $(basename "$TARBALL") into $dir"
    write_consumer "$dir"
    cd "$dir"
    local flags=()
    [ $variant = ignore-scripts ] && flags+=(--ignore-scripts)
    npm_install "$nocc" CC=/bin/false CXX=/bin/false -- "${flags[@]}" "$TARBALL" "${DEP_TARBALLS[@]}" \
      || fail "npm install ($variant) without a compiler failed"
    [ ! -e node_modules/polled/build ] || fail "node_modules/polled/build exists: something compiled"
    run_checks "$dir" "$nocc" "/node_modules/polled/prebuilds/$PLATFORM_ARCH/[^/]+\.node$" "$([ $variant = with-scripts ] && echo no-tsc)"
  done
}

# ---- 4. Mode: source ---------------------------------------------------------------------------
mode_source() {
  local dir=$WORK/source
  step "mode source: no addon at all -> the documented error"
  write_consumer "$dir"
  cd "$dir"
  npm_install "$CLEAN_PATH" -- --ignore-scripts "$SRC_TARBALL" "${DEP_TARBALLS[@]}" || fail "npm install --ignore-scripts (source tarball) failed"
  local msg
  if msg=$(consumer_env "$CLEAN_PATH" "$NODE" -e 'require("polled")' 2>&1); then fail "require('polled') worked with no addon"; fi
  echo "$msg" | grep -m1 '^Error: polled: no native addon' || fail "unexpected error: $msg"
  echo "$msg" | grep -q "$PLATFORM_ARCH" || fail "the error does not name $PLATFORM_ARCH"
  echo "$msg" | grep -q 'npm rebuild polled' || fail "the error does not say how to build from source"

  step "mode source: install $(basename "$SRC_TARBALL") (no prebuilds/) with scripts: compiles with node-gyp"
  rm -rf "$dir/node_modules" "$dir/package-lock.json"
  npm_install "$CLEAN_PATH" -- --foreground-scripts "$SRC_TARBALL" "${DEP_TARBALLS[@]}" || fail "npm install (build from source) failed"
  [ -f node_modules/polled/build/Release/polled.node ] || fail "no node_modules/polled/build/Release/polled.node after the install"
  run_checks "$dir" "$CLEAN_PATH" "/node_modules/polled/build/Release/polled\.node$"
}

for m in "${MODES[@]}"; do
  case $m in
    prebuild) mode_prebuild ;;
    source) mode_source ;;
    *) fail "unknown mode $m (prebuild or source)" ;;
  esac
  echo "install-test: mode $m PASSED"
done
step "install test PASSED (${MODES[*]})"
