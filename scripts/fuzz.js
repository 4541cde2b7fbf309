#!/usr/bin/env node
'use strict';
/**
 * A seeded, time-bounded fuzz harness of the addon's whole exported surface.
 *
 *   node scripts/fuzz.js [--seed N] [--seconds S] [--calls N] [--inline] [--trace]
 *
 *   --seed N     the PRNG seed (default: Date.now(), printed at start). Same seed, same calls.
 *   --seconds S  stop after S seconds (default 20; 600 as a safety bound when --calls is given).
 *   --calls N    stop after N calls: `--seed N --calls K` replays a failure reported at call K.
 *   --inline     run in this process (no supervisor; a crash then just kills it).
 *   --trace      print each call before making it (to stderr with --inline).
 *
 * The addon is loaded the way lib does (`require('../dist/cjs/native.js').native`), so
 * POLLED_ADDON_PATH selects another build (the ASan one: see scripts/sanitize.sh).
 *
 * Each call picks an exported function (every function in Object.keys(native): a new export is
 * fuzzed with random values until it gets a row in SPEC below) and calls it with right and wrong
 * arguments: wrong types of every kind, live / closed / wrong-kind handles, Uint8Arrays on plain,
 * shared, growable, resizable (later shrunk, also to 0) and detached buffers, other typed arrays,
 * writev arrays with holes, non-buffers, getters that detach or shrink an earlier element's buffer
 * (or close the handle) while the addon reads the array, and arrays longer than IOV_MAX; the
 * bound-buffer fast path with random numbers in native.ioArgs; the uv driver (callbacks that stop
 * it, close their poller, restart it, watch the loop) interleaved with pollerWatchLoop; transfer
 * attempts on the addon's shared memory (ioArgs, pollerEvents arrays), which must throw; and
 * pollerEvents with a patched global SharedArrayBuffer / Uint32Array.
 *
 * A call must return (a number, string, array, typed array or undefined, as its row says) or
 * throw a TypeError / RangeError (or an Error with code ERR_POLLED_SHARED_MEMORY). Besides that,
 * the oracles: handleCount() always equals the handles the harness knows of (no leak, no phantom
 * close); new handles are integers never seen live; closed or unknown handles give -EBADF, wrong
 * kinds -EINVAL; byte counts never exceed the range asked for (writev: the buffers' total);
 * readBound / writeBound always write ioArgs' status and result slots, STATUS_NOT_BOUND (with a
 * NaN result) exactly when the bound buffer does not cover the range, and otherwise the syscall's
 * answer; pipe / tcpConnect / unixConnect return their handles in an array; driverStart is
 * -EALREADY / -EINVAL / -EBUSY as documented; a driver callback never runs after driverStop / close; pollerWait never reports more than the batch; at the end
 * everything closes and handleCount() is back to its start value.
 *
 * By default the fuzzing runs in a child process watched by this one, so that a crash (a
 * sanitizer abort, a segfault, a libuv abort) or a hang (no progress for 60 s) is still reported
 * with its seed and the call it died in: the child reports progress on fd 3 and pwrite()s each
 * step into a flight-recorder file, which the supervisor prints after a crash (with the sanitizer
 * log, when ASAN_OPTIONS has a log_path); it then replays the seed to see whether it reproduces.
 * Replays are exact until the first timing-dependent event (a driver callback that closes its
 * poller fires when the kernel says), so a long run's replay may diverge: the flight record is
 * what counts.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');

const IOV_MAX = 1024; // what writev(2) takes at most (the addon caps the array there)
const TURN_EVERY = 64; // calls between two turns of the event loop (uv driver callbacks run there)
const MAX_LIVE = 200; // above this many live handles, random ones are closed down to TRIM_TO
const TRIM_TO = 150;
const MAX_POLLERS = 24;
const MAX_BATCH = 1024; // Poller::kMaxBatch
// The flight recorder: the child pwrite()s a description of each step into a ring of fixed-size
// records in its temp dir, which a crash cannot take back; the supervisor reads it afterwards.
const FLIGHT_SLOTS = 64;
const FLIGHT_RECORD = 1024;
// Calls per run at most (each spends fds, ports or threads).
const BUDGET = {
  pollerNotifyFromThread: 200,
  tcpConnect: 3000,
  tcpListen: 1000,
  unixListen: 2000,
  unixConnect: 4000,
  pollerCreate: 5000,
};

// ---- Options ------------------------------------------------------------------------------------

function usage(msg) {
  if (msg) console.error(`fuzz: ${msg}`);
  console.error('usage: node scripts/fuzz.js [--seed N] [--seconds S] [--calls N] [--inline] [--trace]');
  process.exit(msg ? 2 : 0);
}

function intOption(name, s) {
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < 0) usage(`${name} must be a non-negative integer, not ${s}`);
  return n;
}

function parseOptions(argv) {
  const o = { seed: null, seconds: null, calls: Infinity, child: false, inline: false, trace: false, traceFrom: Infinity, tmp: null };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let v;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) {
      v = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const value = () => {
      if (v === undefined) v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case '--seed':
        o.seed = intOption(a, value());
        break;
      case '--seconds':
        o.seconds = Number(value());
        if (!(o.seconds > 0 && o.seconds < 1e7)) usage(`--seconds must be a positive number, not ${v}`);
        break;
      case '--calls':
        o.calls = intOption(a, value());
        break;
      case '--inline':
        o.inline = true;
        break;
      case '--trace':
        o.trace = true;
        o.traceFrom = Math.min(o.traceFrom, 0);
        break;
      case '--child': // internal: the supervised process
        o.child = true;
        break;
      case '--tmp': // internal: the supervisor's temp dir
        o.tmp = value();
        break;
      case '-h':
      case '--help':
        usage();
        break;
      default:
        usage(`unknown argument: ${argv[i]}`);
    }
  }
  if (o.seed === null) o.seed = Date.now();
  if (o.seconds === null) o.seconds = Number.isFinite(o.calls) ? 600 : 20;
  return o;
}

// ---- PRNG ---------------------------------------------------------------------------------------

function mulberry32(a) {
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Rng {
  constructor(seed) {
    // Any seed up to 2^53 (Date.now()) folded into 32 bits.
    const lo = seed % 4294967296;
    const hi = Math.floor(seed / 4294967296);
    this.next = mulberry32((lo ^ Math.imul(hi, 0x9e3779b1)) >>> 0);
  }
  int(n) {
    return Math.floor(this.next() * n);
  }
  chance(p) {
    return this.next() < p;
  }
  pick(a) {
    return a[this.int(a.length)];
  }
}

// ---- Supervisor ---------------------------------------------------------------------------------

function sanitizerLogs(pid) {
  const out = [];
  for (const opt of [process.env.ASAN_OPTIONS, process.env.UBSAN_OPTIONS]) {
    const m = /(?:^|:)log_path=([^:]+)/.exec(opt || '');
    if (!m) continue;
    const file = `${m[1]}.${pid}`;
    try {
      const text = fs.readFileSync(file, 'utf8');
      if (text.length > 0) out.push({ file, text });
    } catch {
      // no report from this process
    }
  }
  return out;
}

function printSanitizerLogs(pid) {
  for (const { file, text } of sanitizerLogs(pid)) {
    const lines = text.split('\n');
    console.error(`---- sanitizer report ${file}${lines.length > 80 ? ' (first 80 lines)' : ''}:`);
    console.error(lines.slice(0, 80).join('\n'));
  }
}

function readFlight(tmp) {
  let bytes;
  try {
    bytes = fs.readFileSync(path.join(tmp, 'flight'));
  } catch {
    return [];
  }
  const records = [];
  for (let o = 0; o + FLIGHT_RECORD <= bytes.length; o += FLIGHT_RECORD) {
    const text = bytes.subarray(o, o + FLIGHT_RECORD).toString('utf8').replace(/\0+$/, '');
    const tab = text.indexOf('\t');
    if (tab > 0) records.push([Number(text.slice(0, tab)), text.slice(tab + 1)]);
  }
  return records.sort((a, b) => a[0] - b[0]).map((r) => r[1]);
}

function runChild(opts, { calls, trace, seconds, quiet = false }) {
  return new Promise((resolve) => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'polled-fuzz-'));
    const args = [...process.execArgv, '--expose-gc', __filename, '--child', '--seed', String(opts.seed)];
    args.push('--seconds', String(seconds), '--tmp', tmp);
    if (Number.isFinite(calls)) args.push('--calls', String(calls));
    if (trace) args.push('--trace');
    const child = spawn(process.execPath, args, { stdio: ['ignore', quiet ? 'ignore' : 'inherit', 'inherit', 'pipe'] });
    // Killed ourselves (Ctrl-C, timeout(1)): take the child and the temp dir along.
    const onSignal = (sig) => {
      child.kill('SIGKILL');
      fs.rmSync(tmp, { recursive: true, force: true });
      console.error(`fuzz: ${sig}: stopped`);
      process.exit(130);
    };
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, onSignal);
    const st = { pid: child.pid, lastCall: 0, phase: 'start', result: null, flight: [], code: null, signal: null, hung: null };
    let pending = '';
    let lastProgress = Date.now();
    const started = Date.now();
    child.stdio[3].setEncoding('utf8');
    child.stdio[3].on('data', (chunk) => {
      pending += chunk;
      lastProgress = Date.now();
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        const tag = line[0];
        const rest = line.slice(2);
        if (tag === 'c') {
          st.lastCall = Number(rest);
          st.phase = 'calls';
        } else if (tag === 'p') {
          st.phase = rest;
        } else if (tag === 't') {
          console.error(rest); // --trace
        } else if (tag === 'r') {
          st.result = rest;
        }
      }
    });
    // A hang: no progress for a minute (progress comes every TURN_EVERY calls), or far past the
    // deadline. The child's own deadline cannot fire while a native call blocks.
    const watchdog = setInterval(() => {
      const now = Date.now();
      if (now - lastProgress > 60_000) st.hung = 'no progress for 60 s';
      else if (now - started > (seconds + 120) * 1000) st.hung = `still running ${seconds + 120} s after its start`;
      if (st.hung) child.kill('SIGKILL');
    }, 1000);
    child.on('exit', (code, signal) => {
      st.code = code;
      st.signal = signal;
    });
    child.on('close', () => {
      clearInterval(watchdog);
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.off(sig, onSignal);
      st.flight = readFlight(tmp);
      fs.rmSync(tmp, { recursive: true, force: true });
      resolve(st);
    });
  });
}

function how(st) {
  if (st.hung) return `hung (${st.hung}; killed)`;
  if (sanitizerLogs(st.pid).length > 0) return `was stopped by a sanitizer report${st.signal ? ` (${st.signal})` : ` (exit code ${st.code})`}`;
  if (st.signal) return `was killed by ${st.signal}`;
  return `exited with code ${st.code} without reporting a result`;
}

const lastCallOf = (flight) => {
  for (let i = flight.length - 1; i >= 0; i--) {
    const m = /^#(\d+)/.exec(flight[i]);
    if (m) return Number(m[1]);
  }
  return 0;
};

async function supervise(opts) {
  const calls = Number.isFinite(opts.calls) ? `, at most ${opts.calls} calls` : '';
  const flags = '';
  console.log(`fuzz: seed ${opts.seed}, ${opts.seconds} s${calls}`);
  const first = await runChild(opts, { calls: opts.calls, trace: opts.trace, seconds: opts.seconds });
  if (first.result !== null && !first.hung) process.exit(first.code === null ? 1 : first.code);
  // No result: a crash or a hang. The child could print nothing about it: its flight recorder
  // says what it was doing; a replay of the seed then tells whether it is reproducible.
  const at = Math.max(first.lastCall, lastCallOf(first.flight));
  console.error(`fuzz: FAIL: the fuzzing process ${how(first)}; seed ${opts.seed}, at call ${at}` +
    `${first.phase === 'cleanup' ? ' (in the final cleanup)' : ''}. Its last steps, the one it died in last:`);
  for (const line of first.flight) console.error(`  ${line}`);
  printSanitizerLogs(first.pid);
  if (at === 0) process.exit(1); // it died loading: nothing to replay
  const limit = Number.isFinite(opts.calls) ? Math.min(opts.calls, at + TURN_EVERY) : at + TURN_EVERY;
  console.error(`fuzz: replaying: node scripts/fuzz.js --seed ${opts.seed} --calls ${limit}${flags}`);
  const again = await runChild(opts, { calls: limit, trace: false, seconds: Math.max(60, opts.seconds * 4), quiet: true });
  if (again.result === null || again.hung) {
    const k = lastCallOf(again.flight);
    console.error(`fuzz: reproduced: the replay ${how(again)} at call ${k}${k === at ? ', the same one' : ''}.`);
    if (k !== at) for (const line of again.flight.slice(-8)) console.error(`  ${line}`);
    if (sanitizerLogs(first.pid).length === 0) printSanitizerLogs(again.pid);
    console.error(`fuzz: replay it: node scripts/fuzz.js --seed ${opts.seed} --calls ${k}${flags} [--inline] [--trace]`);
  } else {
    console.error(`fuzz: the replay did not ${first.hung ? 'hang' : 'crash'} (it ended "${again.result}"): the calls ` +
      'diverged (driver callbacks and timers run when the kernel says), so the steps above are what is known.');
  }
  process.exit(1);
}

// ---- The fuzzer ---------------------------------------------------------------------------------

class Failure extends Error {}

async function fuzz(opts) {
  const progressFd = opts.child ? 3 : -1;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  // fd 3 may be non-blocking (libuv leaves the child's end of a socketpair so): retry EAGAIN
  // and partial writes, or trace lines would be lost exactly when there are many.
  const emit = (line) => {
    if (progressFd < 0) return;
    let buf = Buffer.from(`${line}\n`);
    while (buf.length > 0) {
      try {
        buf = buf.subarray(fs.writeSync(progressFd, buf));
      } catch (e) {
        if (e.code === 'EAGAIN') {
          Atomics.wait(pause, 0, 0, 1);
          continue;
        }
        // The supervisor is gone (killed): nobody to report to. Stop, and take its temp dir.
        fs.rmSync(opts.tmp, { recursive: true, force: true });
        process.exit(3);
      }
    }
  };
  const trace = (text) => (progressFd >= 0 ? emit(`t ${text}`) : process.stderr.write(`${text}\n`));

  let tmp = opts.tmp;
  const ownTmp = !tmp;
  if (ownTmp) tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'polled-fuzz-'));
  // The blocking pool's jobs (poolOpen, poolWriteFile, poolRemove, poolRename, ...) get random
  // strings as paths: relative ones, which must land in a scratch directory of ours, never in the
  // directory the fuzzer was started from (a checkout).
  const sandbox = path.join(tmp, 'cwd');
  fs.mkdirSync(sandbox);
  process.chdir(sandbox);
  const flightFd = opts.child ? fs.openSync(path.join(tmp, 'flight'), 'w') : -1;
  const flightBuf = Buffer.alloc(FLIGHT_RECORD);
  let flightSeq = 0;
  const record = (text) => {
    if (flightFd < 0) return;
    const seq = ++flightSeq;
    flightBuf.fill(0);
    flightBuf.write(`${seq}\t${text}`, 0, FLIGHT_RECORD - 1, 'utf8');
    try {
      fs.writeSync(flightFd, flightBuf, 0, FLIGHT_RECORD, (seq % FLIGHT_SLOTS) * FLIGHT_RECORD);
    } catch {
      // a full disk: the record is only for post-mortems
    }
  };
  // One step: into the flight recorder (supervised), and printed with --trace.
  const step = (iter, text) => {
    const line = `#${iter} ${text}`;
    record(line);
    if (iter >= opts.traceFrom) trace(line);
  };
  const removeTmp = () => {
    if (ownTmp) fs.rmSync(tmp, { recursive: true, force: true });
  };
  if (!opts.child) console.log(`fuzz: seed ${opts.seed}, ${opts.seconds} s${Number.isFinite(opts.calls) ? `, at most ${opts.calls} calls` : ''}`);

  let native;
  let contract;
  let errors;
  try {
    contract = require('../dist/cjs/native.js');
    ({ native } = contract);
    errors = require('../dist/cjs/errors.js');
  } catch (err) {
    console.error(`fuzz: cannot load the addon (npm run build:ts; npx node-gyp build): ${err && err.message}`);
    emit('r setup');
    removeTmp();
    process.exit(2);
  }
  // errno constants and names come from Node (errors.ts); the ioArgs slots from the contract.
  const E = errors.errno;
  const { ARG_HANDLE, ARG_OFFSET, ARG_LENGTH, ARG_RESULT, ARG_STATUS, ARG_WRITE_BACK, ARG_WRITTEN, IO_ARG_COUNT, STATUS_DONE, STATUS_NOT_BOUND, READ_BUFFER } = contract;
  const ioArgs = native.ioArgs instanceof Float64Array ? native.ioArgs : null;
  // The UDP calls' datagram records (bind_udp.cc): 64 records of 9 numbers, on shared memory.
  const udpMeta = native.udpMeta instanceof Uint32Array ? native.udpMeta : null;
  const UDP_META_LENGTH = 64 * 9;
  const FUNCS = Object.keys(native).filter((k) => typeof native[k] === 'function');
  const rng = new Rng(opts.seed);
  const cbRng = new Rng(opts.seed + 7919); // for driver callbacks, whose timing is the kernel's

  // ---- State ------------------------------------------------------------------------------------

  class HandleSet {
    constructor() {
      this.arr = [];
      this.idx = new Map();
    }
    get size() {
      return this.arr.length;
    }
    has(h) {
      return this.idx.has(h);
    }
    add(h) {
      if (this.idx.has(h)) return;
      this.idx.set(h, this.arr.length);
      this.arr.push(h);
    }
    delete(h) {
      const i = this.idx.get(h);
      if (i === undefined) return;
      const last = this.arr.pop();
      if (last !== h) {
        this.arr[i] = last;
        this.idx.set(last, i);
      }
      this.idx.delete(h);
    }
    pick(r) {
      return this.arr.length > 0 ? this.arr[r.int(this.arr.length)] : null;
    }
  }

  const KINDS = ['poller', 'pipeR', 'pipeW', 'tcpListener', 'unixListener', 'tcpSocket', 'unixSocket', 'accepted', 'udpSocket', 'unknown'];
  const READABLE = ['pipeR', 'tcpSocket', 'unixSocket', 'accepted'];
  const WRITABLE = ['pipeW', 'tcpSocket', 'unixSocket', 'accepted'];
  const SOCKETS = ['tcpSocket', 'unixSocket', 'accepted', 'tcpListener', 'unixListener', 'udpSocket'];
  const LISTENERS = ['tcpListener', 'unixListener'];
  const info = new Map(); // live handle -> { kind, host, port, path }
  const all = new HandleSet();
  const byKind = {};
  for (const k of KINDS) byKind[k] = new HandleSet();
  const stale = new HandleSet(); // closed handles (the most recent 256)
  const staleKind = new Map();
  const pollers = new Map(); // poller -> { events, batch, driver: callback state or null, watching }
  const bound = new Map(); // handle -> [read binding, write binding]: { view, ab, offset, length }
  const retained = []; // own ArrayBuffers kept to be resized or detached later: { ab, resizable }
  const ownABs = new WeakSet(); // made here (safe to detach; Buffer's pool is not)
  const detachedABs = new WeakSet();
  const addonEvents = []; // recent arrays from pollerEvents (shared memory: must not transfer)
  const tags = new WeakMap(); // object -> how it was made
  const abIds = new WeakMap();
  let abCounter = 0;
  let pathCounter = 0;
  const asyncFailures = [];
  const used = {}; // calls per function
  const stats = { threw: 0, driverCallbacks: 0, turns: 0, transfers: 0, patched: 0, peak: 0, boundCalls: 0, rings: 0 };
  let cur = { iter: 0, phase: 'start', name: null, args: [], pre: [] };

  const tag = (obj, text) => {
    tags.set(obj, text);
    return obj;
  };
  const abName = (ab) => {
    let id = abIds.get(ab);
    if (id === undefined) abIds.set(ab, (id = ++abCounter));
    return `AB#${id}`;
  };
  const own = (ab) => {
    ownABs.add(ab);
    return ab;
  };

  // ---- Descriptions -----------------------------------------------------------------------------

  const isShared = (ab) => Object.prototype.toString.call(ab) === '[object SharedArrayBuffer]';

  function describeBuffer(ab) {
    if (ioArgs && ab === ioArgs.buffer) return 'native.ioArgs.buffer';
    if (isShared(ab)) return `SharedArrayBuffer(${ab.byteLength}${ab.growable ? `, growable to ${ab.maxByteLength}` : ''})`;
    if (detachedABs.has(ab)) return `${abName(ab)} DETACHED`;
    return `${ownABs.has(ab) ? abName(ab) : 'ArrayBuffer'}(${ab.byteLength}${ab.resizable ? `, resizable to ${ab.maxByteLength}` : ''})`;
  }

  function describe(v, depth = 0) {
    try {
      switch (typeof v) {
        case 'number': {
          if (Object.is(v, -0)) return '-0';
          const i = info.get(v);
          if (i) return `${v}<${i.kind}>`;
          if (stale.has(v)) return `${v}<closed ${staleKind.get(v)}>`;
          return String(v);
        }
        case 'string':
          return v.length > 48 ? `${JSON.stringify(v.slice(0, 40))}...(${v.length} chars)` : JSON.stringify(v);
        case 'bigint':
          return `${v}n`;
        case 'symbol':
          return v.toString();
        case 'undefined':
        case 'boolean':
          return String(v);
        case 'function':
          return tags.get(v) || `function ${v.name || '(anonymous)'}`;
        default:
      }
      if (v === null) return 'null';
      const t = tags.get(v);
      if (ArrayBuffer.isView(v)) {
        const len = v instanceof DataView ? `byteLength ${v.byteLength}` : `length ${v.length}`;
        const what = `${v.constructor.name}(${len}, byteOffset ${v.byteOffset}) on ${describeBuffer(v.buffer)}`;
        return t && depth === 0 ? `${t} = ${what}` : what;
      }
      if (t) return t;
      if (v instanceof ArrayBuffer || isShared(v)) return describeBuffer(v);
      if (Array.isArray(v)) {
        if (depth > 0) return `[${v.length} items]`;
        const items = [];
        for (let i = 0; i < Math.min(v.length, 4); i++) items.push(i in v ? describe(v[i], 1) : '<hole>');
        return `[${items.join(', ')}${v.length > 4 ? `, ... ${v.length} items` : ''}]`;
      }
      const proto = Object.getPrototypeOf(v);
      return proto && proto.constructor ? `${proto.constructor.name} {}` : 'object';
    } catch {
      return '<undescribable>';
    }
  }

  const describeError = (e) =>
    e instanceof Error ? `${e.constructor.name}: ${e.message}${e.code ? ` (code ${e.code})` : ''}` : `a non-Error: ${describe(e)}`;
  const callText = () => `${cur.name}(${cur.args.map((a) => describe(a)).join(', ')})`;
  const fail = (msg) => {
    throw new Failure(msg);
  };
  const asyncFail = (msg) => asyncFailures.push(`${msg} (in the event-loop turn after call ${cur.iter})`);
  const checkAsync = () => {
    if (asyncFailures.length === 0) return;
    const f = new Failure(asyncFailures.join('; '));
    f.async = true;
    throw f;
  };
  process.on('uncaughtException', (e) => asyncFail(`uncaught exception: ${describeError(e)}`));

  // ---- Handle bookkeeping -----------------------------------------------------------------------

  function trackOpen(h, kind, extra, what) {
    if (!(Number.isSafeInteger(h) && h >= 0)) fail(`${what} returned ${describe(h)}: not a handle (a non-negative integer below 2^53)`);
    if (info.has(h)) fail(`${what} returned handle ${h}, which is already live (${info.get(h).kind})`);
    if (stale.has(h)) fail(`${what} returned handle ${h}, which was closed before (${staleKind.get(h)}): a generation was reused`);
    all.add(h);
    byKind[kind].add(h);
    info.set(h, { kind, ...extra });
    if (kind === 'poller') pollers.set(h, { events: null, batch: 0, driver: null, watching: false, ring: false });
    if (all.size > stats.peak) stats.peak = all.size;
  }

  function trackClosed(h) {
    const i = info.get(h);
    if (!i) return;
    all.delete(h);
    byKind[i.kind].delete(h);
    info.delete(h);
    bound.delete(h);
    const ps = pollers.get(h);
    if (ps) {
      if (ps.driver) ps.driver.active = false;
      pollers.delete(h);
    }
    stale.add(h);
    staleKind.set(h, i.kind);
    if (stale.size > 256) {
      const old = stale.arr[0];
      stale.delete(old);
      staleKind.delete(old);
    }
  }

  // A call the harness makes for its own bookkeeping, with arguments that are right: it must
  // not throw.
  let inCallback = null; // the driver callback running now, if any
  function hcall(name, ...args) {
    if (typeof native[name] !== 'function') return undefined;
    if (flightFd >= 0 || cur.iter >= opts.traceFrom) {
      step(cur.iter, `(${inCallback ? `in the driver callback (${inCallback}) of poller ${describe(args[0])}` : 'harness'}) ${name}(${args.map((a) => describe(a)).join(', ')})`);
    }
    try {
      return native[name](...args);
    } catch (e) {
      return fail(`harness call ${name}(${args.map((a) => describe(a)).join(', ')}) threw ${describeError(e)}`);
    }
  }

  function closeTracked(h) {
    const rc = hcall('close', h);
    if (rc !== 0) fail(`close(${describe(h)}) of a live handle returned ${describe(rc)}, not 0`);
    trackClosed(h);
  }

  function stopDriver(p) {
    const ps = pollers.get(p);
    const rc = hcall('driverStop', p);
    if (rc !== 0) fail(`driverStop(${describe(p)}) returned ${describe(rc)}, not 0`);
    if (ps && ps.driver) {
      ps.driver.active = false;
      ps.driver = null;
    }
  }

  // ---- Values -----------------------------------------------------------------------------------

  const WEIRD_NUMS = [NaN, Infinity, -Infinity, -1, -0, 0, 0.5, 1.5, -0.5, 2 ** 31, 2 ** 31 - 1, 2 ** 32, 2 ** 32 - 1,
    2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1e308, -1e308, Number.MIN_VALUE, Number.EPSILON, 65535, 65536, 1024, 1025, 4095, 4096];
  const STRINGS = ['', 'a', '0', '1', '-1', 'NaN', '127.0.0.1', '::1', 'localhost', 'x'.repeat(200), '\0', 'a\0b', '\u00e9\u20ac\ud83d\ude00', '\ud800'];
  const SIZES = [1, 2, 3, 7, 8, 15, 16, 64, 100, 255, 256, 1024, 4096, 16384, 65536, 65537, 200000];
  const SAFE_FUNCTIONS = [
    tag(() => {}, '() => {}'),
    tag(function named() {
      return 1;
    }, 'function named() { return 1 }'),
    tag(async () => {}, 'async () => {}'),
    tag(Math.max, 'Math.max'),
    tag((x) => native.fdOf(x), '(x) => native.fdOf(x)'),
  ];

  function randomValue() {
    switch (rng.int(26)) {
      case 0:
      case 1:
        return rng.pick(WEIRD_NUMS);
      case 2:
        return rng.int(1000) - 500;
      case 3:
        return rng.pick(STRINGS);
      case 4:
        return null;
      case 5:
        return undefined;
      case 6:
        return rng.chance(0.5);
      case 7:
        return tag({}, '{}');
      case 8:
        return tag([], '[]');
      case 9:
        return Symbol('fuzz');
      case 10:
        return rng.pick([0n, 1n, -1n, 2n ** 64n, 10n]);
      case 11:
        return rng.pick(SAFE_FUNCTIONS);
      case 12:
        return makeBuffer();
      case 13:
        return otherTyped();
      case 14:
        return tag({ valueOf: () => 1, toString: () => '1' }, '{ valueOf: () => 1 }');
      case 15:
        return tag(new Proxy([new Uint8Array(1)], {}), 'new Proxy([Uint8Array(1)], {})');
      case 16:
        return tag({ length: 1, 0: new Uint8Array(1) }, '{ length: 1, 0: Uint8Array(1) }');
      case 17:
        return ioArgs || 0;
      case 18:
        return addonEvents.length > 0 ? rng.pick(addonEvents) : new Uint32Array(2);
      case 19:
        return all.size > 0 ? all.pick(rng) : 1;
      case 20:
        return stale.size > 0 ? stale.pick(rng) : -1;
      case 21:
        return tag(Object.create(null), 'Object.create(null)');
      case 22:
        return new Date(0);
      case 23:
        return tag([1, 2, 3], '[1, 2, 3]');
      case 24:
        return rng.next() * 2 ** rng.int(60);
      default:
        return rng.next() - 0.5;
    }
  }

  function weird() {
    const r = rng.next();
    if (r < 0.5) return rng.pick(WEIRD_NUMS);
    if (r < 0.7 && all.size > 0) {
      const h = all.pick(rng);
      return rng.pick([h + 1, h - 1, h + 2 ** 22, h - 2 ** 22, h + 0.5, -h, h * 2]);
    }
    return randomValue();
  }

  function pickKinds(kinds) {
    let total = 0;
    for (const k of kinds) total += byKind[k].size;
    if (total === 0) return null;
    let i = rng.int(total);
    for (const k of kinds) {
      const s = byKind[k];
      if (i < s.size) return s.arr[i];
      i -= s.size;
    }
    return null;
  }

  function handleArg(kinds) {
    const r = rng.next();
    if (r < 0.72) {
      const h = pickKinds(kinds);
      if (h !== null) return h;
    }
    if (r < 0.84 && all.size > 0) return all.pick(rng);
    if (r < 0.93 && stale.size > 0) return stale.pick(rng);
    return weird();
  }
  const pollerArg = () => handleArg(['poller']);
  const anyHandle = () => handleArg(KINDS);
  const boolArg = () => (rng.chance(0.9) ? rng.chance(0.5) : randomValue());

  function intArg(good, bad) {
    const r = rng.next();
    if (r < 0.85) return good();
    if (r < 0.95) return rng.pick(bad);
    return weird();
  }
  const msArg = () => intArg(() => rng.pick([0, 0, 1, 2, 5, 0.25, 0.0001, 3.7]), [-1, -0, -Infinity, Infinity, NaN, 1e9, 2 ** 53, 1e300]);
  const clampMs = (v) => (typeof v === 'number' && !Number.isNaN(v) ? Math.min(5, Math.max(0, v)) : v);
  const capacityArg = () => intArg(() => rng.pick([1, 1, 2, 4, 8, 16, 64, 256, 1024, 1025, 4096, 65536]), [0, -1, 65537, 0.5, NaN, 2 ** 53, Infinity]);
  const capacity = () => rng.pick([1, 2, 4, 8, 16, 64, 1024, 2048]);

  // ---- Buffers ----------------------------------------------------------------------------------

  function retain(ab, resizable) {
    const e = { ab, resizable };
    if (retained.length < 48) retained.push(e);
    else retained[rng.int(retained.length)] = e;
  }

  function detach(ab) {
    try {
      structuredClone(ab, { transfer: [ab] });
      detachedABs.add(ab);
      return true;
    } catch {
      return false;
    }
  }

  // Resize or detach one of the retained buffers: views handed out (or bound) earlier now look
  // at less memory, or none.
  function perturb() {
    if (retained.length === 0) return 'perturb: nothing retained';
    const i = rng.int(retained.length);
    const { ab, resizable } = retained[i];
    if (detachedABs.has(ab)) {
      retained.splice(i, 1);
      return `perturb: ${abName(ab)} was already detached`;
    }
    if (resizable && rng.chance(0.8)) {
      const to = rng.pick([0, 0, ab.maxByteLength, rng.int(ab.maxByteLength + 1), ab.byteLength >> 1]);
      try {
        ab.resize(to);
      } catch (e) {
        return `perturb: ${abName(ab)}.resize(${to}) threw ${describeError(e)}`;
      }
      return `perturb: ${abName(ab)}.resize(${to})`;
    }
    retained.splice(i, 1);
    return `perturb: detach ${abName(ab)}(${ab.byteLength}): ${detach(ab) ? 'detached' : 'transfer refused'}`;
  }

  function otherTyped() {
    const ctors = [Uint16Array, Uint32Array, Float64Array, Int8Array, Uint8ClampedArray, Int32Array, Float32Array, BigUint64Array, Int16Array];
    const r = rng.int(ctors.length + 3);
    if (r < ctors.length) {
      const C = ctors[r];
      const n = rng.int(9);
      return tag(new C(n), `new ${C.name}(${n})`);
    }
    if (r === ctors.length) return tag(new DataView(own(new ArrayBuffer(8))), 'new DataView(new ArrayBuffer(8))');
    if (r === ctors.length + 1) return tag(own(new ArrayBuffer(8)), 'new ArrayBuffer(8)');
    return tag(new Uint16Array(new SharedArrayBuffer(8)), 'new Uint16Array(new SharedArrayBuffer(8))');
  }

  function makeBuffer() {
    const n = rng.pick(SIZES);
    switch (rng.int(22)) {
      case 0:
      case 1:
      case 2:
        return tag(new Uint8Array(own(new ArrayBuffer(n))), `new Uint8Array(${n})`);
      case 3:
        return tag(new Uint8Array(own(new ArrayBuffer(0))), 'new Uint8Array(0)');
      case 4: {
        const a = rng.int(n + 1);
        const b = a + rng.int(n - a + 1);
        return tag(new Uint8Array(own(new ArrayBuffer(n))).subarray(a, b), `new Uint8Array(${n}).subarray(${a}, ${b})`);
      }
      case 5: {
        const b = Buffer.alloc(n);
        own(b.buffer);
        return tag(b, `Buffer.alloc(${n})`);
      }
      case 6: {
        const k = rng.int(64) + 1;
        return tag(Buffer.allocUnsafe(k), `Buffer.allocUnsafe(${k}) (from the pool)`);
      }
      case 7:
        return tag(Buffer.from('polled fuzz'), 'Buffer.from("polled fuzz")');
      case 8: {
        const a = rng.int(n + 1);
        return tag(new Uint8Array(new SharedArrayBuffer(n), a), `new Uint8Array(new SharedArrayBuffer(${n}), ${a})`);
      }
      case 9:
        return tag(new Uint8Array(new SharedArrayBuffer(n, { maxByteLength: 2 * n })), `new Uint8Array(growable SharedArrayBuffer(${n}))`);
      case 10:
      case 11: {
        // a fixed-length view on a resizable buffer, which may shrink later
        const ab = own(new ArrayBuffer(n, { maxByteLength: 2 * n }));
        const off = rng.int(n + 1);
        const len = rng.int(n - off + 1);
        retain(ab, true);
        return tag(new Uint8Array(ab, off, len), `new Uint8Array(${abName(ab)} resizable, ${off}, ${len})`);
      }
      case 12: {
        // a length-tracking view on a resizable buffer
        const ab = own(new ArrayBuffer(n, { maxByteLength: 2 * n }));
        const off = rng.int(n + 1);
        retain(ab, true);
        return tag(new Uint8Array(ab, off), `new Uint8Array(${abName(ab)} resizable, ${off}) (length-tracking)`);
      }
      case 13: {
        // a view on a resizable buffer that has shrunk under it already
        const ab = own(new ArrayBuffer(n, { maxByteLength: 2 * n }));
        const off = rng.int(n + 1);
        const v = rng.chance(0.5) ? new Uint8Array(ab, off, n - off) : new Uint8Array(ab, off);
        const to = rng.int(n + 1);
        ab.resize(to);
        retain(ab, true);
        return tag(v, `a view at ${off} of ${abName(ab)}(${n}) resized to ${to}`);
      }
      case 14: {
        const ab = own(new ArrayBuffer(n));
        const v = new Uint8Array(ab, rng.int(n + 1));
        detach(ab);
        return tag(v, `a Uint8Array whose ${abName(ab)}(${n}) was detached`);
      }
      case 15:
      case 16: {
        // may be detached later (perturb)
        const ab = own(new ArrayBuffer(n));
        retain(ab, false);
        const off = rng.int(n + 1);
        return tag(new Uint8Array(ab, off), `new Uint8Array(${abName(ab)}, ${off}) (detachable)`);
      }
      case 17:
      case 18:
        return otherTyped();
      case 19:
        if (ioArgs) return tag(new Uint8Array(ioArgs.buffer), 'new Uint8Array(native.ioArgs.buffer)');
        return tag(new Uint8Array(own(new ArrayBuffer(n))), `new Uint8Array(${n})`);
      case 20:
        if (addonEvents.length > 0) return tag(new Uint8Array(rng.pick(addonEvents).buffer), 'new Uint8Array(events.buffer)');
        return tag(new Uint8Array(own(new ArrayBuffer(n))), `new Uint8Array(${n})`);
      default: {
        const ab = own(new ArrayBuffer(n));
        return tag(new Uint8Array(ab), `new Uint8Array(${abName(ab)}(${n}))`);
      }
    }
  }

  // Now and then an argument too many, which the addon must ignore.
  const extraArgs = () => (rng.chance(0.05) ? [randomValue()] : []);

  // ---- Network arguments (only loopback, only unix paths under tmp) ----------------------------

  const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);
  const hostArg = () =>
    intArg(() => rng.pick(['127.0.0.1', '127.0.0.1', '::1']), ['', 'localhost', '::ffff:127.0.0.1', '127.0.0.1\0', 'x'.repeat(70),
      '1.2.3.4', '0.0.0.0', '::', 'not an address', '127.1', '[::1]', '127.0.0.1 ']);
  // Anything inet_pton could take for an address that is not loopback becomes loopback.
  const safeHost = (v) => (typeof v === 'string' && /^[0-9a-fA-F:.]+$/.test(v) && !LOOPBACK.has(v) ? '127.0.0.1' : v);
  const freshPath = () => path.join(tmp, `s${++pathCounter}`);
  const regularFile = path.join(tmp, 'file');
  fs.writeFileSync(regularFile, 'not a socket');
  const longPath = (bytes) => `${tmp}/${'L'.repeat(Math.max(1, bytes - tmp.length - 1))}`;
  const oddPath = () => rng.pick([tmp, regularFile, longPath(107), longPath(108), longPath(300), '', 'a\0b', `${tmp}/no/such/dir`, `${tmp}/\u00e9\u20ac`]);
  function unixListenPath() {
    const r = rng.next();
    if (r < 0.75) return freshPath();
    if (r < 0.85) {
      const l = pickKinds(['unixListener']);
      if (l !== null) return info.get(l).path;
    }
    return rng.chance(0.8) ? oddPath() : randomValue();
  }
  function unixConnectPath() {
    const r = rng.next();
    if (r < 0.7) {
      const l = pickKinds(['unixListener']);
      if (l !== null) return info.get(l).path;
    }
    if (r < 0.8) return freshPath();
    return rng.chance(0.8) ? oddPath() : randomValue();
  }
  // A path the kernel would see (NUL-free, shorter than sun_path) must lie under tmp.
  function safePath(v) {
    if (typeof v !== 'string' || v === '' || v.includes('\0') || Buffer.byteLength(v) >= 108) return v;
    if ((v === tmp || v.startsWith(`${tmp}/`)) && !v.split('/').includes('..')) return v;
    return freshPath();
  }

  // ---- Results ----------------------------------------------------------------------------------

  function integer(r) {
    if (typeof r !== 'number' || !Number.isInteger(r)) fail(`returned ${describe(r)}, not an integer`);
    if (r < -4095) fail(`returned ${r}: negative but not an errno`);
    return r;
  }
  function errnoName(r) {
    return typeof r === 'number' && r < 0 ? errors.errnoName(r) : String(r);
  }
  function expectErr(r, errno, why) {
    if (r !== -errno) fail(`${why}: expected ${-errno} (${errnoName(-errno)}), got ${r} (${errnoName(r)})`);
  }
  // The first argument was meant as a handle: closed or never handed out is -EBADF.
  function handleOracle(h, r) {
    if (typeof h === 'number' && !info.has(h)) expectErr(r, E.EBADF, `${describe(h)} is not a live handle`);
  }
  // ... as a poller: not live is -EBADF, live but another kind -EINVAL.
  function pollerOracle(p, r) {
    if (typeof p !== 'number') return;
    const i = info.get(p);
    if (!i) expectErr(r, E.EBADF, `poller ${describe(p)} is not a live handle`);
    else if (i.kind !== 'poller') expectErr(r, E.EINVAL, `${describe(p)} is not a poller`);
  }
  const livePoller = (p) => (typeof p === 'number' && info.has(p) && info.get(p).kind === 'poller' ? pollers.get(p) : null);
  const validRange = (off, n, len) => Number.isInteger(off) && Number.isInteger(n) && off >= 0 && n >= 0 && off + n <= len;

  // ---- Driver callbacks -------------------------------------------------------------------------

  // What a driver calls; never throws. Its first call may act on the poller (stop the driver,
  // close the poller, restart, watch the loop, replace the events array) to reach the paths
  // where the addon is re-entered from inside its own callback.
  function makeDriverCallback(p, kind) {
    const k = kind || rng.pick(['record', 'record', 'record', 'record', 'stop', 'close', 'watch', 'events', 'wait', 'restart', 'notify']);
    const st = { active: true, kind: k, calls: 0, startedAt: cur.iter };
    const fn = function onEvents(count) {
      const outer = inCallback;
      inCallback = k;
      try {
        st.calls++;
        stats.driverCallbacks++;
        if (!st.active) {
          asyncFail(`the driver callback (${k}) of poller ${describe(p)}, started at call ${st.startedAt}, ran after its driver was stopped (or failed to start) or its poller closed`);
          return;
        }
        if (!(Number.isInteger(count) && count >= 1 && count <= MAX_BATCH)) {
          asyncFail(`the driver callback of poller ${describe(p)} got count ${describe(count)}`);
        }
        if (st.calls !== 1 || !info.has(p)) return;
        const ps = pollers.get(p);
        switch (k) {
          case 'stop':
            stopDriver(p);
            break;
          case 'close':
            closeTracked(p);
            break;
          case 'watch':
            if (typeof native.pollerWatchLoop === 'function' && hcall('pollerWatchLoop', p, true) === 0) ps.watching = true;
            break;
          case 'events':
            setEvents(p, 1 + cbRng.int(16));
            break;
          case 'wait':
            integer(hcall('pollerWait', p, 0));
            break;
          case 'notify':
            hcall('pollerNotify', p);
            break;
          case 'restart': {
            stopDriver(p);
            const next = makeDriverCallback(p, 'record');
            const rc = hcall('driverStart', p, next.fn);
            if (rc === 0) ps.driver = next.st;
            else next.st.active = false;
            break;
          }
          default:
        }
      } catch (e) {
        asyncFail(`in the driver callback (${k}) of poller ${describe(p)}: ${e instanceof Failure ? e.message : describeError(e)}`);
      } finally {
        inCallback = outer;
      }
    };
    tag(fn, `onEvents(${k})`);
    return { fn, st };
  }

  // Gives poller `p` an events array of `cap` pairs, with whichever call this addon has.
  function setEvents(p, cap) {
    const ps = pollers.get(p);
    if (!ps) return;
    if (typeof native.pollerEvents === 'function') {
      const ev = hcall('pollerEvents', p, cap);
      if (ev instanceof Uint32Array) {
        ps.events = ev;
        ps.batch = Math.min(cap, MAX_BATCH);
        rememberEvents(ev);
      }
    } else if (typeof native.pollerSetEvents === 'function') {
      const ev = new Uint32Array(2 * cap);
      if (hcall('pollerSetEvents', p, ev) === 0) {
        ps.events = ev;
        ps.batch = Math.min(cap, MAX_BATCH);
      }
    }
  }

  let eventsSlot = 0;
  function rememberEvents(ev) {
    // round-robin, not random: driver callbacks call this too, and they must not draw from rng
    if (addonEvents.length < 16) addonEvents.push(ev);
    else addonEvents[eventsSlot++ % 16] = ev;
  }

  // The addon's shared memory must refuse to be transferred (and so detached) or grown.
  function transferAttempts() {
    const targets = [];
    if (ioArgs) targets.push(['native.ioArgs.buffer', ioArgs.buffer]);
    if (udpMeta) targets.push(['native.udpMeta.buffer', udpMeta.buffer]);
    if (addonEvents.length > 0) targets.push(['the buffer of an array from pollerEvents', rng.pick(addonEvents).buffer]);
    for (const [name, buf] of targets) {
      stats.transfers++;
      let moved = false;
      try {
        structuredClone(buf, { transfer: [buf] });
        moved = true;
      } catch {
        // refused, as it must be
      }
      if (moved) fail(`structuredClone(${name}, { transfer: [it] }) succeeded: the addon's memory was detached`);
      if (rng.chance(0.2)) {
        const { port1, port2 } = new MessageChannel();
        try {
          port1.postMessage(buf, [buf]);
          moved = true;
        } catch {
          // refused
        } finally {
          port1.close();
          port2.close();
        }
        if (moved) fail(`postMessage(${name}, [it]) succeeded: the addon's memory was transferred`);
      }
      if (typeof ArrayBuffer.prototype.transfer === 'function') {
        try {
          ArrayBuffer.prototype.transfer.call(buf);
          moved = true;
        } catch {
          // not an ArrayBuffer
        }
        if (moved) fail(`ArrayBuffer.prototype.transfer.call(${name}) succeeded`);
      }
      // (A growable SharedArrayBuffer is accepted by the addon when a patched global makes one:
      // harmless, as it never shrinks, moves or detaches.)
    }
    if (ioArgs && (ioArgs.length !== IO_ARG_COUNT || ioArgs.buffer.byteLength !== 8 * IO_ARG_COUNT)) fail(`native.ioArgs changed: ${describe(ioArgs)}`);
    if (udpMeta && (udpMeta.length !== UDP_META_LENGTH || udpMeta.buffer.byteLength !== 4 * UDP_META_LENGTH)) fail(`native.udpMeta changed: ${describe(udpMeta)}`);
    cur.pre.push('transfer attempts on the addon\'s shared memory (all refused)');
  }

  // ---- writev arrays ----------------------------------------------------------------------------

  // An array of buffers for writev(target, ...): holes, non-buffers, getters that detach or shrink
  // an earlier element's buffer or close the target while the addon reads the array. `shadow`
  // holds what each of the first IOV_MAX elements was when the addon read it (a getter's result
  // once it ran), for the byte-count oracle.
  function bufArrayArg(target, ctx) {
    const r = rng.next();
    if (r < 0.04) return randomValue();
    if (r < 0.06) return tag(new Proxy([makeBuffer()], {}), 'new Proxy([Uint8Array], {})');
    if (r < 0.07) return tag({ length: 1, 0: new Uint8Array(4) }, '{ length: 1, 0: Uint8Array(4) }');
    if (r < 0.08) return tag(new Uint8Array(4), 'new Uint8Array(4) (not an array)');
    const len = rng.pick([0, 1, 1, 1, 2, 2, 2, 3, 3, 4, 5, 8, 8, 16, 32, 64, 1023, 1024, 1025, 2048, 5000]);
    const arr = new Array(len);
    const shadow = new Array(Math.min(len, IOV_MAX));
    const notes = [];
    const getters = new Set();
    const big = len > 64;
    const cheap = [new Uint8Array(1), new Uint8Array(3), Buffer.from('ab')];
    ctx.getterErrors = [];
    ctx.shadow = shadow;
    const set = (i, v) => {
      arr[i] = v;
      if (i < shadow.length) shadow[i] = v;
    };
    for (let i = 0; i < len; i++) {
      let k = rng.next();
      if (big) {
        if (k < 0.97) {
          set(i, cheap[i % 3]);
          continue;
        }
        k = 0.75 + 0.25 * rng.next(); // one of the specials below
      }
      if (k < 0.75) {
        set(i, makeBuffer());
      } else if (k < 0.82) {
        if (notes.length < 8) notes.push(`hole at ${i}`);
      } else if (k < 0.87) {
        set(i, randomValue());
        if (notes.length < 8) notes.push(`[${i}] = ${describe(arr[i], 1)}`);
      } else if (i > 0 && k < 0.96) {
        let j = rng.int(i);
        if (getters.has(j)) j = -1;
        const action = rng.pick(['detach', 'shrink to 0', 'shrink', 'grow', 'close the target', 'perturb']);
        let victim = null;
        if (j >= 0) {
          const n = 1 + rng.int(64);
          const resizable = rng.chance(0.5);
          const ab = own(resizable ? new ArrayBuffer(n, { maxByteLength: 2 * n }) : new ArrayBuffer(n));
          victim = ab;
          set(j, tag(rng.chance(0.5) ? new Uint8Array(ab, 0, n) : new Uint8Array(ab), `Uint8Array on ${abName(ab)}`));
        }
        const ret = rng.chance(0.9) ? (big ? cheap[0] : makeBuffer()) : randomValue();
        const idx = i;
        getters.add(i);
        Object.defineProperty(arr, i, {
          enumerable: true,
          configurable: true,
          get() {
            try {
              if (action === 'close the target') {
                if (info.has(target)) closeTracked(target);
              } else if (action === 'perturb') {
                perturb();
              } else if (victim && !detachedABs.has(victim)) {
                if (action === 'detach' || !victim.resizable) detach(victim);
                else if (action === 'shrink to 0') victim.resize(0);
                else if (action === 'shrink') victim.resize(victim.byteLength >> 1);
                else victim.resize(victim.maxByteLength);
              }
            } catch (e) {
              ctx.getterErrors.push(e);
            }
            if (idx < shadow.length) shadow[idx] = ret;
            return ret;
          },
        });
        if (notes.length < 8) notes.push(`getter at ${i}: ${action}${victim && action !== 'close the target' && action !== 'perturb' ? ` of [${j}]` : ''}`);
      } else {
        set(i, makeBuffer());
      }
    }
    if (len > 0 && rng.chance(0.1)) {
      // a getter on the prototype, reached through a hole
      const hole = rng.int(Math.min(len, IOV_MAX + 8));
      if (!getters.has(hole)) {
        delete arr[hole];
        if (hole < shadow.length) shadow[hole] = undefined;
        const proto = Object.create(Array.prototype);
        const ret = makeBuffer();
        Object.defineProperty(proto, hole, {
          get() {
            try {
              perturb();
            } catch (e) {
              ctx.getterErrors.push(e);
            }
            if (hole < shadow.length) shadow[hole] = ret;
            return ret;
          },
        });
        Object.setPrototypeOf(arr, proto);
        notes.push(`prototype getter for the hole at ${hole} (perturbs)`);
      }
    }
    const first = [];
    for (let i = 0; i < Math.min(len, 3); i++) if (!getters.has(i) && i in arr) first.push(describe(arr[i], 1));
    return tag(arr, `[${len} items${first.length ? `: ${first.join(', ')}, ...` : ''}${notes.length ? `; ${notes.join('; ')}` : ''}]`);
  }

  // ---- Patched globals for pollerEvents ---------------------------------------------------------

  const realSAB = globalThis.SharedArrayBuffer;
  const realU32 = globalThis.Uint32Array;
  function patchFor(p) {
    const v = rng.pick(['sab-plain', 'sab-resizable', 'sab-close', 'sab-throw', 'sab-growable', 'u32-plain', 'u32-short', 'u32-f64', 'u32-other-sab']);
    const install = () => {
      switch (v) {
        case 'sab-plain':
          globalThis.SharedArrayBuffer = function (n) {
            return new ArrayBuffer(n);
          };
          break;
        case 'sab-resizable':
          globalThis.SharedArrayBuffer = function (n) {
            return new ArrayBuffer(n, { maxByteLength: 2 * n + 8 });
          };
          break;
        case 'sab-close':
          globalThis.SharedArrayBuffer = function (n) {
            if (info.has(p)) closeTracked(p);
            return new realSAB(n);
          };
          break;
        case 'sab-throw':
          globalThis.SharedArrayBuffer = function () {
            throw new TypeError('patched SharedArrayBuffer refuses');
          };
          break;
        case 'sab-growable':
          globalThis.SharedArrayBuffer = function (n) {
            return new realSAB(n, { maxByteLength: 2 * n + 8 });
          };
          break;
        case 'u32-plain':
          globalThis.Uint32Array = function (sab) {
            return new realU32(new ArrayBuffer(sab.byteLength));
          };
          break;
        case 'u32-short':
          globalThis.Uint32Array = function (sab) {
            return new realU32(sab, 0, Math.max(0, sab.byteLength / 4 - 1));
          };
          break;
        case 'u32-f64':
          globalThis.Uint32Array = function (sab) {
            return new Float64Array(sab);
          };
          break;
        default:
          globalThis.Uint32Array = function (sab) {
            return new realU32(new realSAB(sab.byteLength));
          };
      }
    };
    const restore = () => {
      globalThis.SharedArrayBuffer = realSAB;
      globalThis.Uint32Array = realU32;
    };
    return { name: v, install, restore };
  }

  // ---- The table: arguments and oracles per function --------------------------------------------

  const registerGen = () => {
    // Pollers as the handle too: the addon must refuse to nest them (-EINVAL), or chains of
    // them, watched by libuv's epoll set, once made libuv abort the process (ELOOP).
    const h = rng.chance(0.15) ? pollerArg() : anyHandle();
    const token = intArg(() => (rng.chance(0.8) ? rng.int(1000) : rng.pick([0, 0xffffffef])), [0xfffffff0, 0xfffffffd, 0xffffffff, 2 ** 32, -1, 0.5]);
    const interest = intArg(() => rng.int(4), [4, 7, -1, 0.5, NaN, 3.0000001]);
    return [pollerArg(), h, token, interest];
  };
  const registerCheck = (out, args) => {
    const r = integer(out.result);
    pollerOracle(args[0], r);
    if (livePoller(args[0])) handleOracle(args[1], r);
    if (livePoller(args[0]) && livePoller(args[1]) && r >= 0) fail(`a poller was registered in a poller (${describe(args[1])} in ${describe(args[0])}): nesting must be refused`);
  };

  const rangeArgs = (buf, forRead) => {
    const len = ArrayBuffer.isView(buf) && !(buf instanceof DataView) ? buf.length : 8;
    if (rng.chance(0.85)) {
      const off = rng.int(len + 1);
      let n = rng.int(len - off + 1);
      if (forRead && n === 0 && off < len) n = 1;
      return [off, n];
    }
    const bad = () => rng.pick([len, len + 1, -1, -0, NaN, 0.5, 2 ** 53, Infinity, '0', undefined, 0, 1, null]);
    return [bad(), bad()];
  };
  const ioCheck = (out, args) => {
    const r = integer(out.result);
    handleOracle(args[0], r);
    if (r >= 0 && r > args[3]) fail(`returned ${r} bytes for a range of ${args[3]}`);
  };

  const SOCKET_ADDR = (out, args) => {
    const r = out.result;
    if (typeof r === 'number') return handleOracle(args[0], integer(r));
    if (!Array.isArray(r) || r.length !== 3 || typeof r[0] !== 'string' || !Number.isInteger(r[1]) || r[1] < 0 || r[1] > 65535 || ![0, 4, 6].includes(r[2])) {
      fail(`returned ${describe(r)}, not [host, port, family] or an errno`);
    }
    if (!info.has(args[0])) fail(`returned an address for ${describe(args[0])}, which is not a live handle`);
  };

  const opened = (kind, extra) => (out, args, ctx, was, what) => {
    const r = integer(out.result);
    if (r >= 0) trackOpen(r, kind, typeof extra === 'function' ? extra(r, args) : extra, what);
  };

  // A connect: [handle, inProgress (a boolean)] or -errno.
  const connected = (kind) => (out, args, ctx, was, what) => {
    const r = out.result;
    if (typeof r === 'number') {
      if (integer(r) >= 0) fail(`returned ${r}: a connect returns [handle, inProgress] or -errno`);
      return;
    }
    if (!Array.isArray(r) || r.length !== 2 || typeof r[1] !== 'boolean') fail(`returned ${describe(r)}, not [handle, inProgress] or an errno`);
    trackOpen(r[0], kind, {}, what);
  };

  // `udp`: udpRecvBound / udpSendBound (bind_udp.cc), on UDP sockets, where a range of 0 bytes is allowed.
  // `echo`: echoBound, readBound's twin that also writes the bytes read back (ARG_WRITE_BACK / ARG_WRITTEN).
  const boundSlot = (slot, udp = false, echo = false) => ({
    weight: 2,
    gen(ctx) {
      stats.boundCalls++;
      let h;
      const r = rng.next();
      if (r < 0.3) {
        h = handleArg(udp ? ['udpSocket'] : slot === 0 ? READABLE : WRITABLE);
        const buf = makeBuffer();
        const bindArgs = [h, slot, buf];
        const o = tryCall('bindBuffer', bindArgs);
        cur.pre.push(`bindBuffer(${bindArgs.map((a) => describe(a)).join(', ')}) -> ${o.threw ? describeError(o.error) : describe(o.result)}`);
        if (!o.threw) SPEC.bindBuffer.check(o, bindArgs);
      } else if (r < 0.8) {
        const withSlot = [];
        for (const [k, b] of bound) if (b[slot]) withSlot.push(k);
        h = withSlot.length > 0 ? rng.pick(withSlot) : anyHandle();
      } else {
        h = anyHandle();
      }
      const b = bound.has(h) ? bound.get(h)[slot] : null;
      if (b && rng.chance(0.15) && !detachedABs.has(b.ab)) {
        if (b.ab.resizable) {
          const to = rng.pick([0, rng.int(b.ab.byteLength + 1)]);
          b.ab.resize(to);
          cur.pre.push(`the bound buffer's ${abName(b.ab)}.resize(${to})`);
        } else if (ownABs.has(b.ab)) {
          detach(b.ab);
          cur.pre.push(`the bound buffer's ${abName(b.ab)} detached`);
        }
      }
      const blen = b ? b.length : 64;
      let off;
      let n;
      if (rng.chance(0.8)) {
        off = rng.int(blen + 1);
        n = rng.int(blen - off + 1);
        if (slot === 0 && n === 0 && off < blen && rng.chance(0.8)) n = 1;
      } else {
        const bad = () => rng.pick([NaN, -1, -0, 0.5, blen, blen + 1, 2 ** 53, Infinity, -Infinity, 2 ** 32, 1e300, 0]);
        off = rng.chance(0.5) ? bad() : 0;
        n = bad();
      }
      let hv = h;
      if (typeof hv !== 'number' || rng.chance(0.1)) {
        hv = rng.pick([NaN, -1, -0, 0, 2 ** 53, Infinity, stale.size > 0 ? stale.pick(rng) : 7, typeof h === 'number' ? h + 0.5 : 1.5, typeof h === 'number' ? h + 2 ** 22 : 3]);
      }
      if (udp && slot === 1) fillUdpMeta(1);
      ctx.io = [hv, off, n];
      ioArgs[ARG_HANDLE] = hv;
      ioArgs[ARG_OFFSET] = off;
      ioArgs[ARG_LENGTH] = n;
      ioArgs[ARG_RESULT] = 0.25; // values no call leaves: the call must replace both
      ioArgs[ARG_STATUS] = 0.25;
      if (echo) {
        ctx.writeBack = rng.pick([0, 1, 1, 1, NaN, 0.5, -1]);
        ioArgs[ARG_WRITE_BACK] = ctx.writeBack;
        ioArgs[ARG_WRITTEN] = 0.25; // replaced by every echoBound: NaN, or the write's answer
      }
      cur.pre.push(`ioArgs = [${describe(hv)}, ${describe(off)}, ${describe(n)}, 0.25, 0.25${echo ? `, ${describe(ctx.writeBack)}, 0.25` : ''}]`);
      return rng.chance(0.05) ? [randomValue()] : [];
    },
    check(out, args, ctx) {
      if (out.result !== undefined) fail(`returned ${describe(out.result)}, not undefined`);
      const [h, off, n] = ctx.io;
      const status = ioArgs[ARG_STATUS];
      const r = ioArgs[ARG_RESULT];
      if (echo) {
        // The write back is made exactly after a read that got bytes, when asked (nonzero, NaN
        // included: NaN != 0); its answer is bytes (at most those read) or -errno.
        const w = ioArgs[ARG_WRITTEN];
        const tried = status === STATUS_DONE && r > 0 && ctx.writeBack !== 0;
        if (tried) {
          integer(w);
          if (w > r) fail(`echoBound wrote back ${w} bytes of the ${r} read`);
        } else if (!Number.isNaN(w)) fail(`echoBound: ARG_WRITTEN ${describe(w)} without a write back (status ${status}, result ${describe(r)}, writeBack ${describe(ctx.writeBack)})`);
      }
      if (status === 0.25 || r === 0.25) fail('left ioArgs\' status or result as it was');
      if (status !== STATUS_DONE && status !== STATUS_NOT_BOUND) fail(`status ${describe(status)}: neither STATUS_DONE nor STATUS_NOT_BOUND`);
      const i = info.get(Object.is(h, -0) ? NaN : h);
      if (!i) {
        if (status !== STATUS_DONE) fail(`status ${status} for ioArgs[ARG_HANDLE] = ${describe(h)}, which is not a live handle: expected STATUS_DONE with -EBADF`);
        return expectErr(integer(r), E.EBADF, `ioArgs[ARG_HANDLE] = ${describe(h)} is not a live handle`);
      }
      const b = bound.has(h) ? bound.get(h)[slot] : null;
      // A bound read of 0 bytes is never made (0 would read as end of stream): the general path refuses it.
      const emptyRead = !udp && slot === READ_BUFFER && n === 0;
      const fault = !b || !validRange(off, n, b.length) || emptyRead || detachedABs.has(b.ab) || b.ab.byteLength < b.offset + b.length;
      if (fault) {
        const why = !b ? 'nothing is bound in that slot' : emptyRead ? 'a read of 0 bytes' : 'the bound buffer does not cover the range (or is detached)';
        if (status !== STATUS_NOT_BOUND) fail(`${why}, yet status ${status} with result ${describe(r)}`);
        if (!Number.isNaN(r)) fail(`STATUS_NOT_BOUND with result ${describe(r)}, not NaN`);
        return undefined;
      }
      if (status !== STATUS_DONE) fail(`STATUS_NOT_BOUND although the bound ${describe(b.view)} covers [${off}, ${off + n})`);
      integer(r);
      if (r > n) fail(`${udp ? (slot === 0 ? 'udpRecvBound' : 'udpSendBound') : slot === 0 ? (echo ? 'echoBound' : 'readBound') : 'writeBound'} did ${r} bytes for a range of ${n}`);
      return undefined;
    },
  });

  const SPEC = {
    pollerCreate: {
      weight: 0.6,
      // A third of the pollers are io_uring rings (where the build and kernel have them; else
      // -errno), so that handles registered with them go through the ring's read / write / close.
      gen: () => (rng.chance(0.05) ? [randomValue()] : rng.chance(0.33) ? [contract.POLLER_URING] : []),
      check(out, args, ctx, was, what) {
        opened('poller', {})(out, args, ctx, was, what);
        if (args[0] === contract.POLLER_URING && out.result >= 0) {
          stats.rings++;
          pollers.get(out.result).ring = true;
        }
      },
    },
    pollerEvents: {
      gen(ctx) {
        const p = pollerArg();
        if (rng.chance(0.05)) {
          ctx.patch = patchFor(p);
          cur.pre.push(`globalThis patched (${ctx.patch.name}) for this call`);
        }
        return [p, capacityArg()];
      },
      check(out, args) {
        const r = out.result;
        if (typeof r === 'number') return pollerOracle(args[0], integer(r));
        if (!(r instanceof realU32)) fail(`returned ${describe(r)}, neither a Uint32Array nor an errno`);
        if (!isShared(r.buffer)) fail(`returned ${describe(r)}, which is not on a SharedArrayBuffer`);
        if (r.length !== 2 * args[1]) fail(`returned ${r.length} elements for a capacity of ${args[1]}`);
        const ps = livePoller(args[0]);
        if (!ps) fail(`returned an events array for ${describe(args[0])}, which is not a live poller`);
        ps.events = r;
        ps.batch = Math.min(args[1], MAX_BATCH);
        rememberEvents(r);
        if (rng.chance(0.05)) transferAttempts();
        return undefined;
      },
    },
    pollerSetEvents: {
      // the older API: the caller's own array (which it may detach: that is a bug to find)
      gen() {
        const cap = capacity();
        let ev;
        switch (rng.int(10)) {
          case 0:
          case 1:
          case 2:
          case 3:
            ev = tag(new Uint32Array(2 * cap), `new Uint32Array(${2 * cap})`);
            break;
          case 4: {
            const ab = own(new ArrayBuffer(8 * cap));
            retain(ab, false);
            ev = tag(new Uint32Array(ab), `new Uint32Array(${abName(ab)}) (detachable)`);
            break;
          }
          case 5: {
            const ab = own(new ArrayBuffer(8 * cap, { maxByteLength: 16 * cap }));
            retain(ab, true);
            ev = tag(new Uint32Array(ab), `new Uint32Array(${abName(ab)} resizable)`);
            break;
          }
          case 6:
            ev = tag(new Uint32Array(new SharedArrayBuffer(8 * cap)), 'Uint32Array on a SharedArrayBuffer');
            break;
          case 7:
            ev = rng.pick([new Uint32Array(0), new Uint32Array(1), new Uint32Array(3)]);
            break;
          case 8:
            ev = otherTyped();
            break;
          default:
            ev = randomValue();
        }
        return [pollerArg(), ev];
      },
      check(out, args) {
        const r = integer(out.result);
        pollerOracle(args[0], r);
        const ps = livePoller(args[0]);
        if (r === 0 && ps) {
          ps.events = args[1];
          ps.batch = Math.min(Math.floor(args[1].length / 2), MAX_BATCH);
        }
      },
    },
    pollerAdd: { gen: registerGen, check: registerCheck },
    pollerModify: { gen: registerGen, check: registerCheck },
    pollerDelete: {
      gen: () => [pollerArg(), rng.chance(0.15) ? pollerArg() : anyHandle()],
      check: registerCheck,
    },
    pollerWait: {
      weight: 1.2,
      // mostly 0: a wait that blocks (up to 5 ms) costs a thousand other calls
      gen: () => [pollerArg(), rng.chance(0.85) ? rng.pick([0, 0, -0, 0.0000001]) : msArg()],
      safe: (a) => {
        a[1] = clampMs(a[1]);
      },
      check(out, args) {
        const r = integer(out.result);
        pollerOracle(args[0], r);
        const ps = livePoller(args[0]);
        if (!ps) return;
        if (!ps.events) return expectErr(r, E.EINVAL, 'no events array yet');
        if (r > ps.batch) fail(`reported ${r} events, more than the batch of ${ps.batch}`);
        const ev = ps.events;
        if (ev.length >= 2 * r) {
          for (let i = 0; i < r; i++) if (ev[2 * i + 1] > 15) fail(`event ${i} has readiness bits ${ev[2 * i + 1]}`);
        }
        return undefined;
      },
    },
    pollerNotify: { gen: () => [pollerArg()], check: (out, args) => pollerOracle(args[0], integer(out.result)) },
    pollerTimerArm: { gen: () => [pollerArg(), msArg()], check: (out, args) => pollerOracle(args[0], integer(out.result)) },
    pollerTimerDisarm: { gen: () => [pollerArg()], check: (out, args) => pollerOracle(args[0], integer(out.result)) },
    pollerRingStats: {
      weight: 0.3,
      gen: () => [pollerArg()],
      check(out, args) {
        if (typeof out.result === 'number') return pollerOracle(args[0], integer(out.result));
        const ps = livePoller(args[0]);
        if (!ps) fail(`pollerRingStats(${describe(args[0])}) returned ${JSON.stringify(out.result)} for no live poller`);
        const want = ps.ring ? 4 : 0;
        const r = out.result;
        if (!Array.isArray(r) || r.length !== want || !r.every((x) => Number.isInteger(x) && x >= 0)) {
          fail(`pollerRingStats returned ${JSON.stringify(r)}, not ${want} counters`);
        }
        return undefined;
      },
    },
    pollerNotifyFromThread: {
      weight: 0.3,
      gen: () => [pollerArg(), msArg()],
      safe: (a) => {
        a[1] = clampMs(a[1]);
      },
      check: (out, args) => pollerOracle(args[0], integer(out.result)),
    },
    pollerWatchLoop: {
      weight: 1.2,
      gen: () => [pollerArg(), boolArg()],
      check(out, args) {
        const r = integer(out.result);
        pollerOracle(args[0], r);
        const ps = livePoller(args[0]);
        if (ps && args[1] === true && r === 0) ps.watching = true;
        if (ps && args[1] === false) ps.watching = false;
      },
    },
    driverStart: {
      weight: 1.2,
      gen(ctx) {
        const p = pollerArg();
        if (rng.chance(0.9)) {
          ctx.cb = makeDriverCallback(p);
          return [p, ctx.cb.fn];
        }
        return [p, randomValue()];
      },
      before(args) {
        const ps = livePoller(args[0]);
        return ps ? { driver: ps.driver !== null, events: ps.events !== null, watching: ps.watching } : null;
      },
      check(out, args, ctx, was) {
        const r = integer(out.result);
        pollerOracle(args[0], r);
        const ps = livePoller(args[0]);
        if (ctx.cb && (r !== 0 || !ps)) ctx.cb.st.active = false;
        if (!ps || !was) return;
        if (was.driver) expectErr(r, E.EALREADY, 'a driver is running');
        else if (!was.events) expectErr(r, E.EINVAL, 'no events array yet');
        else if (was.watching) expectErr(r, E.EBUSY, 'the poller watches the loop (pollerWatchLoop on)');
        if (r === 0) ps.driver = ctx.cb ? ctx.cb.st : { active: true, kind: 'foreign function', calls: 0 };
      },
    },
    driverRef: {
      gen: () => [pollerArg(), boolArg()],
      check(out, args) {
        const r = integer(out.result);
        pollerOracle(args[0], r);
        const ps = livePoller(args[0]);
        if (ps) {
          if (ps.driver) expectErr(r, 0, 'a driver is running');
          else expectErr(r, E.EINVAL, 'no driver is running');
        }
      },
    },
    driverStop: {
      gen: () => [pollerArg()],
      check(out, args) {
        const r = integer(out.result);
        pollerOracle(args[0], r);
        const ps = livePoller(args[0]);
        if (ps) {
          expectErr(r, 0, 'driverStop of a live poller');
          if (ps.driver) ps.driver.active = false;
          ps.driver = null;
        }
      },
    },
    close: {
      weight: 0.7,
      gen: () => [anyHandle()],
      check(out, args) {
        const r = integer(out.result);
        handleOracle(args[0], r);
        if (info.has(args[0])) {
          expectErr(r, 0, 'close of a live handle');
          trackClosed(args[0]);
        }
      },
    },
    handleCount: {
      weight: 0.3,
      gen: () => (rng.chance(0.1) ? [randomValue()] : []),
      check: (out) => integer(out.result),
    },
    fdOf: {
      weight: 0.5,
      gen: () => [anyHandle()],
      check(out, args) {
        const r = integer(out.result);
        handleOracle(args[0], r);
        if (info.has(args[0]) && r < 0) fail(`fdOf a live handle returned ${r}`);
      },
    },
    pipe: {
      weight: 0.8,
      gen: extraArgs,
      check(out) {
        const r = out.result;
        if (typeof r === 'number') {
          if (integer(r) >= 0) fail(`returned ${r}: pipe returns [reader, writer] or -errno`);
          return;
        }
        if (!Array.isArray(r) || r.length !== 2) fail(`returned ${describe(r)}, not [reader, writer] or an errno`);
        trackOpen(r[0], 'pipeR', {}, 'pipe ([0])');
        trackOpen(r[1], 'pipeW', {}, 'pipe ([1])');
      },
    },
    tcpListen: {
      weight: 0.3,
      gen: () => [
        hostArg(),
        intArg(() => (rng.chance(0.85) ? 0 : 20000 + rng.int(12000)), [-1, 65536, 0.5, NaN, '80']),
        intArg(() => rng.pick([0, 1, 16, 128, 2 ** 31 - 1]), [-1, 2 ** 31, NaN, 0.5]),
        intArg(() => rng.int(8), [8, -1, 0.5, 16]),
      ],
      safe: (a) => {
        a[0] = safeHost(a[0]);
      },
      check: opened('tcpListener', (h) => {
        const a = hcall('localAddr', h);
        return Array.isArray(a) ? { host: a[2] === 6 ? '::1' : '127.0.0.1', port: a[1] } : {};
      }),
    },
    tcpConnect: {
      weight: 0.5,
      gen() {
        const l = rng.chance(0.7) ? pickKinds(['tcpListener']) : null;
        const li = l !== null ? info.get(l) : null;
        const host = li && li.port !== undefined && rng.chance(0.9) ? li.host : hostArg();
        const port = li && li.port !== undefined && rng.chance(0.9) ? li.port : intArg(() => 1 + rng.int(65535), [0, -1, 65536, NaN, 0.5]);
        return [host, port, ...extraArgs()];
      },
      safe: (a) => {
        a[0] = safeHost(a[0]);
      },
      check: connected('tcpSocket'),
    },
    unixListen: {
      weight: 0.3,
      gen: () => [unixListenPath(), intArg(() => rng.pick([0, 1, 16, 128]), [-1, 2 ** 31, NaN])],
      safe: (a) => {
        a[0] = safePath(a[0]);
      },
      check: opened('unixListener', (h, args) => ({ path: args[0] })),
    },
    unixConnect: {
      weight: 0.5,
      gen: () => [unixConnectPath(), ...extraArgs()],
      safe: (a) => {
        a[0] = safePath(a[0]);
      },
      check: connected('unixSocket'),
    },
    accept: {
      gen: () => [handleArg(LISTENERS)],
      check(out, args, ctx, was, what) {
        handleOracle(args[0], integer(out.result));
        opened('accepted', {})(out, args, ctx, was, what);
      },
    },
    socketError: {
      weight: 0.5,
      gen: () => [handleArg(SOCKETS)],
      check(out, args) {
        const r = integer(out.result);
        handleOracle(args[0], r);
        if (r > 0) fail(`returned ${r}, which is positive`);
      },
    },
    localAddr: { weight: 0.5, gen: () => [handleArg(SOCKETS)], check: SOCKET_ADDR },
    peerAddr: { weight: 0.5, gen: () => [handleArg(SOCKETS)], check: SOCKET_ADDR },
    setNoDelay: { weight: 0.5, gen: () => [handleArg(SOCKETS), boolArg()], check: (out, args) => handleOracle(args[0], integer(out.result)) },
    setKeepAlive: {
      weight: 0.5,
      gen: () => [handleArg(SOCKETS), boolArg(), intArg(() => rng.pick([0, 1, 60, 7200, 32767, 32768, 2 ** 31 - 1]), [-1, 2 ** 31, NaN, 0.5])],
      check: (out, args) => handleOracle(args[0], integer(out.result)),
    },
    shutdown: {
      weight: 0.5,
      gen: () => [handleArg(SOCKETS), intArg(() => rng.int(3), [3, -1, 0.5, NaN])],
      check: (out, args) => handleOracle(args[0], integer(out.result)),
    },
    read: {
      weight: 1.5,
      gen() {
        const buf = makeBuffer();
        return [handleArg(READABLE), buf, ...rangeArgs(buf, true)];
      },
      check: ioCheck,
    },
    write: {
      weight: 1.5,
      gen() {
        const buf = makeBuffer();
        return [handleArg(WRITABLE), buf, ...rangeArgs(buf, false)];
      },
      check: ioCheck,
    },
    writev: {
      weight: 1.5,
      gen(ctx) {
        const h = handleArg(WRITABLE);
        return [h, bufArrayArg(h, ctx)];
      },
      check(out, args, ctx) {
        const r = integer(out.result);
        handleOracle(args[0], r);
        if (!ctx.shadow) return;
        let total = 0;
        for (let i = 0; i < ctx.shadow.length; i++) {
          const e = ctx.shadow[i];
          if (!(e instanceof Uint8Array) || (e.byteLength === 0 && detachedABs.has(e.buffer))) {
            fail(`returned ${r} although bufs[${i}] is ${describe(e)}: expected a TypeError`);
          }
          total += e.byteLength;
        }
        if (r > total) fail(`wrote ${r} bytes from buffers holding ${total}`);
      },
    },
    bindBuffer: {
      weight: 1.2,
      gen: () => [anyHandle(), intArg(() => rng.int(2), [2, -1, 0.5, NaN]), makeBuffer()],
      check(out, args) {
        const r = integer(out.result);
        const [h, slot, buf] = args;
        if (!(buf instanceof Uint8Array)) fail(`returned ${r} for a buf that is not a Uint8Array`);
        // A view on a SharedArrayBuffer binds like any other (its pointer is taken once: shared
        // memory cannot be detached or shrunk).
        if (buf.byteLength === 0) return expectErr(r, E.EINVAL, 'an empty (or detached) view cannot be bound');
        if (!info.has(h)) return expectErr(r, E.EBADF, `${describe(h)} is not a live handle`);
        expectErr(r, 0, 'bindBuffer of a live handle');
        if (!bound.has(h)) bound.set(h, [null, null]);
        bound.get(h)[slot] = { view: buf, ab: buf.buffer, offset: buf.byteOffset, length: buf.byteLength };
        return undefined;
      },
    },
  };
  // ---- UDP (bind_udp.cc). Destinations come from udpMeta's records, which are filled here with
  // random values that only ever name loopback (family 4: 127.0.0.1, 6: ::1), a bad family or
  // port, or none (family 0: the connected peer, itself loopback through udpConnect's safeHost).
  const udpPort = () => {
    const h = pickKinds(['udpSocket']);
    const i = h !== null ? info.get(h) : null;
    return i && i.port !== undefined && rng.chance(0.8) ? i.port : rng.int(65536 + 2);
  };
  function fillUdpMeta(records) {
    if (!udpMeta) return;
    for (let k = 0; k < records; k++) {
      const r = k * 9;
      const fam = rng.pick([0, 4, 4, 4, 6, 6, 5, 2 ** 32 - 1]);
      udpMeta[r + 0] = rng.chance(0.9) ? rng.int(70) : rng.pick([2 ** 32 - 1, 65536, 1 << 20]);
      udpMeta[r + 1] = rng.int(4);
      udpMeta[r + 2] = fam;
      udpMeta[r + 3] = udpPort();
      udpMeta[r + 4] = fam === 4 ? 0x7f000001 : 0;
      udpMeta[r + 5] = 0;
      udpMeta[r + 6] = 0;
      udpMeta[r + 7] = fam === 6 ? 1 : fam === 4 ? rng.int(2 ** 32) : 0; // ignored for IPv4
      udpMeta[r + 8] = rng.chance(0.9) ? 0 : rng.int(2 ** 32);
    }
    cur.pre.push(`udpMeta: ${records} random loopback records`);
  }
  const udpHandle = () => handleArg(['udpSocket']);
  const udpCount = () => intArg(() => 1 + rng.int(64), [0, -1, 65, 0.5, NaN, 2 ** 32]);
  const udpResult = (out, args) => {
    const r = integer(out.result);
    handleOracle(args[0], r);
    return r;
  };
  const udpBatchCheck = (countIndex) => (out, args) => {
    const r = udpResult(out, args);
    if (r >= 0 && (r < 1 || r > args[countIndex])) fail(`returned ${r} datagrams for a count of ${describe(args[countIndex])}`);
  };
  Object.assign(SPEC, {
    udpBind: {
      weight: 0.3,
      gen: () => [hostArg(), intArg(() => (rng.chance(0.85) ? 0 : 20000 + rng.int(12000)), [-1, 65536, 0.5, NaN, '80']), intArg(() => rng.int(8), [8, -1, 0.5, 16])],
      safe: (a) => {
        a[0] = safeHost(a[0]);
      },
      check: opened('udpSocket', (h) => {
        const a = hcall('localAddr', h);
        return Array.isArray(a) ? { host: a[2] === 6 ? '::1' : '127.0.0.1', port: a[1] } : {};
      }),
    },
    udpConnect: {
      weight: 0.3,
      gen: () => [udpHandle(), hostArg(), intArg(udpPort, [-1, 65536, 0.5, NaN])],
      safe: (a) => {
        a[1] = safeHost(a[1]);
      },
      check: udpResult,
    },
    udpSetOption: {
      weight: 0.3,
      gen: () => [udpHandle(), intArg(() => rng.int(4), [4, -1, 0.5, NaN]), intArg(() => rng.int(256), [256, -1, 0.5, NaN])],
      check: udpResult,
    },
    udpMembership: {
      weight: 0.2,
      gen: () => [udpHandle(), boolArg(), rng.chance(0.9) ? rng.pick(['239.1.2.3', 'ff02::1:3', '127.0.0.1', 'x', '', 'a\0b', '::1']) : randomValue(),
        rng.chance(0.9) ? rng.pick(['', '127.0.0.1', 'lo', '1', '999999', 'no-such-if', 'x'.repeat(80)]) : randomValue()],
      check: udpResult,
    },
    udpRecvFrom: {
      weight: 0.8,
      gen() {
        const buf = makeBuffer();
        return [udpHandle(), buf, ...rangeArgs(buf, false)];
      },
      check: ioCheck,
    },
    udpSendTo: {
      weight: 0.8,
      gen() {
        fillUdpMeta(1);
        const buf = makeBuffer();
        return [udpHandle(), buf, ...rangeArgs(buf, false)];
      },
      check: ioCheck,
    },
    udpRecvMany: {
      weight: 0.6,
      gen(ctx) {
        const h = udpHandle();
        return [h, bufArrayArg(h, ctx), udpCount()];
      },
      check: udpBatchCheck(2),
    },
    udpSendMany: {
      weight: 0.6,
      gen(ctx) {
        fillUdpMeta(64);
        const h = udpHandle();
        return [h, bufArrayArg(h, ctx), intArg(() => rng.int(3), [-1, 0.5, NaN, 2 ** 32]), udpCount()];
      },
      check: udpBatchCheck(3),
    },
  });
  if (ioArgs) {
    SPEC.readBound = boundSlot(0);
    SPEC.echoBound = boundSlot(0, false, true);
    SPEC.writeBound = boundSlot(1);
    SPEC.udpRecvBound = boundSlot(0, true);
    SPEC.udpSendBound = boundSlot(1, true);
  }
  const UNKNOWN = {
    gen: () => Array.from({ length: rng.int(6) }, () => (rng.chance(0.3) ? anyHandle() : randomValue())),
    check(out) {
      const r = out.result;
      const ok = r === undefined || typeof r === 'number' || typeof r === 'string' || typeof r === 'boolean' || Array.isArray(r) || ArrayBuffer.isView(r);
      if (!ok) fail(`returned ${describe(r)}`);
    },
  };

  // The blocking pool's take: null while the job runs; a File handle when an open's result is taken.
  SPEC.poolTake = {
    gen: UNKNOWN.gen,
    check(out, args, ctx, was, name) {
      if (out.result === null) return;
      UNKNOWN.check(out);
      const r = out.result;
      if (typeof r === 'number' && r >= 0 && native.handleCount() === baseline + all.size + 1) trackOpen(r, 'unknown', {}, name);
    },
  };

  // ---- Calling ----------------------------------------------------------------------------------

  const expectedError = (e) =>
    e instanceof TypeError || e instanceof RangeError || (e instanceof Error && e.code === 'ERR_POLLED_SHARED_MEMORY');
  const RECEIVERS = [undefined, null, {}, 42];

  function tryCall(name, args, ctx) {
    const fn = native[name];
    if (!ctx && (flightFd >= 0 || cur.iter >= opts.traceFrom)) step(cur.iter, `(before the call) ${name}(${args.map((a) => describe(a)).join(', ')})`);
    const patch = ctx && ctx.patch;
    let out;
    try {
      if (patch) {
        stats.patched++;
        patch.install();
      }
      const recv = rng.chance(0.02) ? rng.pick(RECEIVERS) : native;
      out = { threw: false, result: Reflect.apply(fn, recv, args) };
    } catch (e) {
      out = { threw: true, error: e };
    } finally {
      if (patch) patch.restore();
    }
    if (out.threw) {
      if (out.error instanceof Failure) throw out.error; // from our own code inside the call
      if (!expectedError(out.error)) fail(`threw ${describeError(out.error)}: only TypeError, RangeError or ERR_POLLED_SHARED_MEMORY may be thrown`);
      stats.threw++;
    }
    return out;
  }

  let baseline = native.handleCount();
  function checkCount(name, out) {
    const hc = native.handleCount();
    const want = baseline + all.size;
    if (hc === want) return;
    if (!SPEC[name] && hc === want + 1 && !out.threw && Number.isSafeInteger(out.result) && out.result >= 0) {
      trackOpen(out.result, 'unknown', {}, name); // a new export that opens handles
      return;
    }
    fail(`handleCount() is ${hc} after this call, but ${want} handles are live (${hc > want ? 'a handle leaked or was opened behind the harness' : 'a handle was closed behind the harness'})`);
  }

  // ---- Main loop --------------------------------------------------------------------------------

  function pickName(names, cum, total) {
    for (let tries = 0; tries < 20; tries++) {
      const x = rng.next() * total;
      let i = 0;
      while (i < names.length - 1 && x >= cum[i]) i++;
      const name = names[i];
      if (BUDGET[name] !== undefined && (used[name] || 0) >= BUDGET[name]) continue;
      if (name === 'pollerCreate' && pollers.size >= MAX_POLLERS) continue;
      return name;
    }
    return FUNCS.includes('handleCount') ? 'handleCount' : names[0];
  }

  function prep() {
    if (all.size > MAX_LIVE) {
      let n = 0;
      while (all.size > TRIM_TO) {
        closeTracked(all.pick(rng));
        n++;
      }
      cur.pre.push(`closed ${n} random handles (over ${MAX_LIVE} live)`);
    }
    if (rng.chance(0.03)) cur.pre.push(perturb());
    if (rng.chance(0.005)) transferAttempts();
  }

  async function turn() {
    stats.turns++;
    if (stats.turns % 32 === 0) await new Promise((r) => setTimeout(r, 1));
    else await new Promise(setImmediate);
    if (typeof gc === 'function' && stats.turns % 128 === 0) gc(); // eslint-disable-line no-undef
    checkAsync();
  }

  function report(e) {
    const lines = [`fuzz: FAIL at call ${cur.iter}${cur.phase === 'cleanup' ? ' (in the final cleanup)' : ''}, seed ${opts.seed}`];
    if (e instanceof Failure && e.async) lines.push(`  found:    in the event-loop turn after call ${cur.iter}, whose last call was ${cur.name ? callText() : '-'}`);
    else lines.push(cur.name ? `  call:     ${callText()}` : '  call:     (none chosen yet: it failed in the harness\'s steps before the call)');
    for (const p of cur.pre) lines.push(`  before:   ${p}`);
    lines.push(`  problem:  ${e instanceof Failure ? e.message : `harness error: ${(e && e.stack) || e}`}`);
    lines.push(`  replay:   node scripts/fuzz.js --seed ${opts.seed} --calls ${cur.iter}`);
    console.error(lines.join('\n'));
    emit('r fail');
    removeTmp();
    process.exit(1);
  }

  const names = FUNCS.filter((n) => (SPEC[n] ? SPEC[n].weight !== 0 : true));
  const cum = [];
  let total = 0;
  for (const n of names) cum.push((total += SPEC[n] && SPEC[n].weight !== undefined ? SPEC[n].weight : 1));

  const started = Date.now();
  const deadline = started + opts.seconds * 1000;
  // Not expected to fire (the loop watches the deadline); a stuck promise would otherwise hang.
  const stuck = setTimeout(() => report(new Failure(`still running ${opts.seconds + 60} s after the start: stuck`)),
    Math.min(2 ** 31 - 1, (opts.seconds + 60) * 1000));
  stuck.unref();
  let calls = 0;
  try {
    cur.phase = 'calls';
    for (let iter = 1; iter <= opts.calls; iter++) {
      if (Date.now() >= deadline) break;
      cur = { iter, phase: 'calls', name: null, args: [], pre: [] };
      prep();
      const name = pickName(names, cum, total);
      const spec = SPEC[name] || UNKNOWN;
      const ctx = {};
      cur.name = name;
      used[name] = (used[name] || 0) + 1;
      const args = spec.gen(ctx);
      cur.args = args;
      if (rng.chance(0.03)) args.pop();
      else if (rng.chance(0.03)) args.push(randomValue());
      if (spec.safe) spec.safe(args);
      if (flightFd >= 0 || iter >= opts.traceFrom) step(iter, `${callText()}${cur.pre.length ? `  [before: ${cur.pre.join('; ')}]` : ''}`);
      const was = spec.before ? spec.before(args) : undefined;
      const out = tryCall(name, args, ctx);
      if (ctx.getterErrors && ctx.getterErrors.length > 0) {
        const e = ctx.getterErrors[0];
        fail(`a getter of the array failed: ${e instanceof Failure ? e.message : describeError(e)}`);
      }
      if (!out.threw) spec.check(out, args, ctx, was, name);
      checkCount(name, out);
      calls = iter;
      if (iter % TURN_EVERY === 0) {
        emit(`c ${iter}`);
        step(iter, '(event-loop turn: uv driver callbacks)');
        await turn();
      }
    }

    // ---- The end: everything off, closed, counted ---------------------------------------------
    cur = { iter: calls, phase: 'cleanup', name: null, args: [], pre: [] };
    emit(`c ${calls}`);
    emit('p cleanup');
    step(calls, '(cleanup: driverStop of every poller)');
    for (const p of [...byKind.poller.arr]) stopDriver(p);
    if (typeof native.pollerWatchLoop === 'function') {
      step(calls, '(cleanup: pollerWatchLoop(p, false) of every poller)');
      for (const p of [...byKind.poller.arr]) {
        const rc = hcall('pollerWatchLoop', p, false);
        if (rc !== 0) fail(`pollerWatchLoop(${describe(p)}, false) at the end returned ${describe(rc)}`);
        pollers.get(p).watching = false;
      }
    }
    step(calls, '(cleanup: event-loop turns)');
    await new Promise(setImmediate);
    await new Promise((r) => setTimeout(r, 5));
    checkAsync();
    for (const pass of [false, true]) {
      for (const h of [...all.arr]) {
        if ((info.get(h).kind === 'poller') !== pass) continue;
        closeTracked(h);
      }
    }
    await new Promise(setImmediate);
    await new Promise(setImmediate);
    checkAsync();
    const end = native.handleCount();
    if (end !== baseline) fail(`handle leak: handleCount() is ${end} after closing everything, ${baseline} at the start`);
  } catch (e) {
    report(e);
  }
  clearTimeout(stuck);
  const secs = (Date.now() - started) / 1000;
  console.log(`fuzz: ${calls} calls over ${secs.toFixed(1)} s, seed ${opts.seed}: ok`);
  const top = Object.entries(used).sort((a, b) => b[1] - a[1]).map(([n, c]) => `${n} ${c}`).join(', ');
  console.log(`fuzz: ${Math.round(calls / secs)} calls/s; ${stats.threw} threw TypeError/RangeError; ${stats.driverCallbacks} driver callbacks; ` +
    `${stats.turns} loop turns; ${stats.transfers} refused transfers; ${stats.patched} patched-global calls; ` +
    `${stats.boundCalls} bound-buffer calls; ${stats.rings} io_uring pollers; peak ${stats.peak} live handles`);
  console.log(`fuzz: calls: ${top}`);
  emit('r ok');
  removeTmp();
  process.exit(0);
}

const opts = parseOptions(process.argv.slice(2));
if (opts.child || opts.inline) {
  fuzz(opts).catch((e) => {
    console.error(`fuzz: internal error: ${(e && e.stack) || e}`);
    process.exit(1);
  });
} else {
  supervise(opts);
}
