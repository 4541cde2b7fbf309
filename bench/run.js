'use strict';
// polled echo benchmark runner.  Plain Node (CommonJS), no build step.
//
//   node bench/run.js [--quick] [--servers a,b] [--conns 1,100,1000] [--sizes 64,4096]
//                     [--reps 3] [--duration S] [--warmup S] [--pipeline D] [--no-pin]
//
// See bench/README.md for what the columns mean and how CPU is measured.

const fs = require('node:fs');
const path = require('node:path');
const os = require('node:os');
const { spawn, execFileSync } = require('node:child_process');

const BENCH = __dirname;
const ROOT = path.resolve(BENCH, '..');
const BIN = path.join(BENCH, 'bin');
const RESULTS = path.join(BENCH, 'results');
const HOST = '127.0.0.1';
const LOADGEN = path.join(BIN, 'loadgen');
const C_ECHO = path.join(BIN, 'c-echo');
const C_URING_ECHO = path.join(BIN, 'c-uring-echo');
const rel = (p) => path.join(ROOT, p);

// ---------------------------------------------------------------------------
// Native tools: compiled into bench/bin/ (gitignored) when missing or stale.
// Never touches the addon build.
const NATIVE = [
  { src: path.join(BENCH, 'loadgen.c'), out: LOADGEN },
  { src: path.join(BENCH, 'servers', 'c-echo.c'), out: C_ECHO },
  // io_uring's reference: needs liburing-dev (static), skipped where it is not installed.
  { src: path.join(BENCH, 'servers', 'c-uring-echo.c'), out: C_URING_ECHO, libs: ['-l:liburing.a'], optional: true },
  // The UDP cell's (bench/udp.js): its load generator and its C server.
  { src: path.join(BENCH, 'udpgen.c'), out: path.join(BIN, 'udpgen') },
  { src: path.join(BENCH, 'servers', 'c-udp-echo.c'), out: path.join(BIN, 'c-udp-echo') },
];

function buildNative(log = console.error) {
  fs.mkdirSync(BIN, { recursive: true });
  for (const { src, out, libs = [], optional = false } of NATIVE) {
    let stale = true;
    try {
      stale = fs.statSync(out).mtimeMs < fs.statSync(src).mtimeMs;
    } catch {}
    if (!stale) continue;
    const tmp = `${out}.tmp${process.pid}`;
    log(`compiling ${path.relative(ROOT, src)} -> ${path.relative(ROOT, out)}`);
    try {
      execFileSync(process.env.CC || 'cc', ['-O2', '-Wall', '-Wextra', '-o', tmp, src, ...libs], { stdio: 'inherit' });
      fs.renameSync(tmp, out);
    } catch (e) {
      try { fs.unlinkSync(tmp); } catch {}
      if (optional) {
        log(`skipping ${path.relative(ROOT, src)}: ${e.message}`);
        continue;
      }
      throw new Error(`failed to compile ${src}: ${e.message}`);
    }
  }
}

function findBun() {
  const local = rel('node_modules/.bin/bun');
  if (fs.existsSync(local)) return local;
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, 'bun');
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {}
  }
  return null;
}

// ---------------------------------------------------------------------------
// THE SERVER TABLE.  One entry per server process to measure.
//   name   unique id of the entry (used by --servers and in the JSON)
//   group  the row it is reported under; entries sharing a group are variants,
//          and per cell the faster variant is reported (and recorded as such)
//   kind   'c' | 'node' | 'polled' | 'bun' (informational)
//   file   the source that must exist, else the entry is skipped with a note
//   cmd    (port) => argv; the process must print one line "listening <host> <port>"
//          on stdout when ready and exit on SIGTERM
//   available  optional () => true | 'reason it is skipped'
const SERVERS = [
  {
    name: 'c-epoll', group: 'c-epoll', kind: 'c', file: 'bench/servers/c-echo.c',
    cmd: (port) => [C_ECHO, '--host', HOST, '--port', String(port)],
  },
  {
    name: 'c-uring', group: 'c-uring', kind: 'c', file: 'bench/servers/c-uring-echo.c',
    cmd: (port) => [C_URING_ECHO, '--host', HOST, '--port', String(port)],
    available: () => (fs.existsSync(C_URING_ECHO) ? true : 'bench/bin/c-uring-echo not built (liburing-dev missing?)'),
  },
  {
    name: 'node-net-data', group: 'node:net', kind: 'node', file: 'bench/servers/node-net-data.js',
    cmd: (port) => [process.execPath, rel('bench/servers/node-net-data.js'), '--host', HOST, '--port', String(port)],
  },
  {
    name: 'node-net-pipe', group: 'node:net', kind: 'node', file: 'bench/servers/node-net-pipe.js',
    cmd: (port) => [process.execPath, rel('bench/servers/node-net-pipe.js'), '--host', HOST, '--port', String(port)],
  },

  // ---- polled ---------------------------------------------------------------
  // bench/servers/polled-echo.js is written by the lead; skipped until it exists.
  {
    name: 'polled-embedded', group: 'polled-embedded', kind: 'polled', file: 'bench/servers/polled-echo.js',
    cmd: (port) => [process.execPath, rel('bench/servers/polled-echo.js'), '--driver', 'embedded',
      '--host', HOST, '--port', String(port)],
  },
  {
    name: 'polled-block', group: 'polled-block', kind: 'polled', file: 'bench/servers/polled-echo.js',
    cmd: (port) => [process.execPath, rel('bench/servers/polled-echo.js'), '--driver', 'block',
      '--host', HOST, '--port', String(port)],
  },
  // The same server observed (lib/observe.ts): what metrics and the trace cost. Not in the default
  // selection (`optional`); `--servers polled-embedded,polled-metrics,polled-trace` compares them.
  {
    name: 'polled-metrics', group: 'polled-metrics', kind: 'polled', file: 'bench/servers/polled-echo.js', optional: true,
    cmd: (port) => [process.execPath, rel('bench/servers/polled-echo.js'), '--driver', 'embedded', '--observe', 'metrics',
      '--host', HOST, '--port', String(port)],
  },
  {
    name: 'polled-longpoll', group: 'polled-longpoll', kind: 'polled', file: 'bench/servers/polled-echo.js', optional: true,
    cmd: (port) => [process.execPath, rel('bench/servers/polled-echo.js'), '--driver', 'embedded', '--observe', 'longpoll',
      '--host', HOST, '--port', String(port)],
  },
  {
    name: 'polled-trace', group: 'polled-trace', kind: 'polled', file: 'bench/servers/polled-echo.js', optional: true,
    cmd: (port) => [process.execPath, rel('bench/servers/polled-echo.js'), '--driver', 'embedded', '--observe', 'trace',
      '--host', HOST, '--port', String(port)],
  },
  // The same server on io_uring (RuntimeOptions.io; native/poller_uring.h), both drivers.
  {
    name: 'polled-uring', group: 'polled-uring', kind: 'polled', file: 'bench/servers/polled-echo.js',
    cmd: (port) => [process.execPath, rel('bench/servers/polled-echo.js'), '--driver', 'embedded', '--io', 'uring',
      '--host', HOST, '--port', String(port)],
  },
  {
    name: 'polled-uring-block', group: 'polled-uring-block', kind: 'polled', file: 'bench/servers/polled-echo.js',
    cmd: (port) => [process.execPath, rel('bench/servers/polled-echo.js'), '--driver', 'block', '--io', 'uring',
      '--host', HOST, '--port', String(port)],
  },
  // ---------------------------------------------------------------------------

  {
    name: 'bun', group: 'bun', kind: 'bun', file: 'bench/servers/bun-echo.js',
    available: () => (findBun() ? true : 'bun is not on PATH nor in node_modules/.bin'),
    cmd: (port) => [findBun(), rel('bench/servers/bun-echo.js'), '--host', HOST, '--port', String(port)],
  },
];

// A before/after comparison in one interleaved run: POLLED_BASELINE=<another checkout of polled,
// built> adds its echo server as more entries: base-embedded and base-block, and, on io_uring
// (a baseline that has --io), base-uring and base-uring-block. Such a run is partial (see
// resultPaths): the committed latest.* show this tree only.
const BASELINE = process.env.POLLED_BASELINE ? path.resolve(process.env.POLLED_BASELINE) : null;
if (BASELINE !== null) {
  const script = path.join(BASELINE, 'bench', 'servers', 'polled-echo.js');
  const hasIo = () => fs.readFileSync(script, 'utf8').includes("arg('io'");
  for (const [name, driver, io] of [['base-embedded', 'embedded'], ['base-block', 'block'],
    ['base-uring', 'embedded', 'uring'], ['base-uring-block', 'block', 'uring']]) {
    SERVERS.push({
      name, group: name, kind: 'polled',
      available: () => (!fs.existsSync(script) ? `POLLED_BASELINE: no ${script}`
        : io && !hasIo() ? 'POLLED_BASELINE: its polled-echo.js has no --io' : true),
      cmd: (port) => [process.execPath, script, '--driver', driver, ...(io ? ['--io', io] : []),
        '--host', HOST, '--port', String(port)],
    });
  }
}

// Order of rows in tables and bars in the chart.
const GROUP_ORDER = ['c-epoll', 'node:net', 'polled-embedded', 'base-embedded', 'polled-block', 'base-block', 'bun'];
const COLORS = {
  'c-epoll': '#6b7280', 'node:net': '#3c873a', 'polled-embedded': '#2563eb', 'polled-block': '#f59e0b',
  'base-embedded': '#93c5fd', 'base-block': '#fcd34d', bun: '#db2777',
};
const EXTRA_COLORS = ['#7c3aed', '#0891b2', '#dc2626', '#65a30d'];
function groupOrder(groups) {
  return [...new Set(groups)].sort((a, b) => {
    const ia = GROUP_ORDER.indexOf(a), ib = GROUP_ORDER.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
}
function colorOf(group, groups) {
  if (COLORS[group]) return COLORS[group];
  const extra = groups.filter((g) => !COLORS[g]);
  return EXTRA_COLORS[extra.indexOf(group) % EXTRA_COLORS.length];
}

/** Entries to run: [{...entry}], and skipped: [{name, reason}] */
function selectServers(filter) {
  // Entries marked `optional` (the observed polled servers) run only when asked for by name or group.
  let list = SERVERS.filter((s) => !s.optional);
  if (filter && filter.length) {
    const want = new Set(filter);
    const known = new Set(SERVERS.flatMap((s) => [s.name, s.group, s.group.replace(':', '-')]));
    const unknown = filter.filter((f) => !known.has(f));
    if (unknown.length) {
      throw new Error(`unknown server(s): ${unknown.join(', ')}; known: ${SERVERS.map((s) => s.name).join(', ')} ` +
        `(or a group: ${[...new Set(SERVERS.map((s) => s.group))].join(', ')})`);
    }
    list = SERVERS.filter((s) => want.has(s.name) || want.has(s.group) || want.has(s.group.replace(':', '-')));
  }
  const run = [], skipped = [];
  for (const s of list) {
    if (s.file && !fs.existsSync(rel(s.file))) {
      skipped.push({ name: s.name, reason: `${s.file} does not exist yet` });
      continue;
    }
    const a = s.available ? s.available() : true;
    if (a !== true) {
      skipped.push({ name: s.name, reason: a });
      continue;
    }
    run.push(s);
  }
  return { run, skipped };
}

// ---------------------------------------------------------------------------
// Processes

const live = new Set();
function killLive() {
  for (const c of live) {
    try { c.kill('SIGKILL'); } catch {}
  }
}
process.on('exit', killLive);

const PIN = { server: null, loadgen: null };
function setupPinning(enabled) {
  if (!enabled) return 'disabled (--no-pin)';
  const ncpu = os.availableParallelism ? os.availableParallelism() : os.cpus().length;
  if (ncpu < 2) return `not pinned (${ncpu} CPU)`;
  try {
    execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
  } catch {
    return 'not pinned (taskset not available)';
  }
  PIN.server = ['taskset', '-c', '0'];
  PIN.loadgen = ['taskset', '-c', '1'];
  return 'server on CPU 0, loadgen on CPU 1 (taskset -c)';
}

/** Spawn argv (optionally under a prefix), wait for "listening <host> <port>". */
function startServer(entry, { pin = true, timeoutMs = 20000 } = {}) {
  const argv = [...(pin && PIN.server ? PIN.server : []), ...entry.cmd(0)];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT });
    live.add(child);
    let out = '', err = '', done = false;
    const finish = (e, v) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (e) {
        stopServer(child);
        reject(e);
      } else resolve(v);
    };
    const timer = setTimeout(() => finish(new Error(`${entry.name}: no "listening" line within ${timeoutMs} ms` +
      (err ? `; stderr: ${errSummary(err)}` : ''))), timeoutMs);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      if (done) return;
      out += d;
      const m = /^listening (\S+) (\d+)\s*$/m.exec(out);
      if (m) finish(null, { child, pid: child.pid, host: m[1], port: Number(m[2]), stderr: () => err });
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => { err = (err + d).slice(-8192); });
    child.on('error', (e) => finish(new Error(`${entry.name}: ${e.message}`)));
    child.on('exit', (code, sig) => {
      live.delete(child);
      child.exited = true;
      finish(new Error(`${entry.name}: exited (${sig || code}) before listening` + (err ? `; stderr: ${errSummary(err)}` : '')));
    });
  });
}

function stopServer(child, graceMs = 3000) {
  return new Promise((resolve) => {
    if (child.exited || child.exitCode !== null || child.signalCode !== null) {
      live.delete(child);
      return resolve();
    }
    const t = setTimeout(() => { try { child.kill('SIGKILL'); } catch {} }, graceMs);
    child.once('exit', () => { clearTimeout(t); live.delete(child); resolve(); });
    try { child.kill('SIGTERM'); } catch { clearTimeout(t); resolve(); }
  });
}

/** First informative line of an error text (for the markdown; the JSON keeps it all). */
function oneLine(s) {
  const lines = String(s).split('\n').map((l) => l.trim()).filter(Boolean);
  const pick = lines.find((l) => /\b(Error|error|FAILED|failed|Cannot|code:)/.test(l) && !/^at /.test(l)) || lines[0] || '';
  const head = lines[0] && lines[0] !== pick ? `${lines[0].slice(0, 120)} … ` : '';
  return (head + pick).slice(0, 300);
}

/** Stack-free summary of a child's stderr. */
function errSummary(s, n = 400) {
  const lines = String(s).split('\n').map((l) => l.trim()).filter((l) => l && !/^at /.test(l) && l !== '^');
  const err = lines.find((l) => /^\w*Error\b|^error:|FAILED/.test(l));
  return (err ? [err, ...lines.filter((l) => l !== err)] : lines).slice(0, 4).join(' | ').slice(0, n);
}

function tail(s, n = 600) {
  s = String(s).trim();
  return s.length > n ? '…' + s.slice(-n) : s;
}

/** Run loadgen to completion; resolves {code, json, stderr}. */
function runLoadgen(args, timeoutMs) {
  const argv = [...(PIN.loadgen || []), LOADGEN, ...args];
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let out = '', err = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err = (err + d).slice(-8192); });
    const timer = setTimeout(() => { err += `\nloadgen killed after ${timeoutMs} ms`; child.kill('SIGKILL'); }, timeoutMs);
    child.on('exit', (code, sig) => {
      clearTimeout(timer);
      live.delete(child);
      let json = null;
      const lines = out.split('\n').filter((l) => l.startsWith('{'));
      if (lines.length) {
        try { json = JSON.parse(lines[lines.length - 1]); } catch {}
      }
      resolve({ code: code === null ? `signal ${sig}` : code, json, stderr: err.trim() });
    });
  });
}

/** Wait (at most maxS seconds) until the machine is idle for 200 ms; returns seconds waited. */
async function waitQuiet(maxS, onBusy) {
  const t0 = Date.now();
  while ((Date.now() - t0) / 1000 < maxS) {
    const b = await machineBusy(200);
    if (b === null || b <= OTHER_CPU_WARN) break;
    onBusy(b);
  }
  return (Date.now() - t0) / 1000;
}

/** % of one CPU busy on the whole machine over ms milliseconds (from /proc/stat). */
async function machineBusy(ms) {
  const read = () => {
    try {
      const v = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
      return { busy: v[0] + v[1] + v[2] + v[5] + v[6], all: v.slice(0, 8).reduce((a, b) => a + b, 0) };
    } catch {
      return null;
    }
  };
  const a = read();
  await new Promise((r) => setTimeout(r, ms));
  const b = read();
  if (!a || !b || b.all === a.all) return null;
  return ((b.busy - a.busy) / (b.all - a.all)) * 100 * os.cpus().length;
}

function readStatusKb(pid, key) {
  try {
    const m = new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------
// Stats & formatting

function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

function fmtNum(x, digits = 0) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
function fmtSig(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  if (x >= 100) return fmtNum(x, 0);
  if (x >= 10) return fmtNum(x, 1);
  return fmtNum(x, 2);
}
function fmtShort(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '';
  if (x >= 1e6) return `${(x / 1e6).toFixed(x >= 1e7 ? 1 : 2)}M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(x >= 1e5 ? 0 : 1)}k`;
  return x.toFixed(0);
}
function fmtRatio(x) {
  return x === null || x === undefined || !Number.isFinite(x) ? '–' : `${x.toFixed(2)}×`;
}
const OTHER_CPU_WARN = 10; // % of one CPU used by other processes during a window
const cellKey = (c) => `${c.conns}x${c.size}`;
const cellLabel = (c) => `${c.conns} conn${c.conns === 1 ? '' : 's'} × ${c.size} B`;

/** Per entry and cell: medians over the repetitions that succeeded. */
function summarizeEntries(runs) {
  const by = new Map();
  for (const r of runs) {
    const k = `${r.server}|${cellKey(r.cell)}`;
    if (!by.has(k)) by.set(k, { server: r.server, group: r.group, cell: r.cell, runs: [] });
    by.get(k).runs.push(r);
  }
  const out = [];
  for (const e of by.values()) {
    const ok = e.runs.filter((r) => r.ok);
    const pick = (f) => median(ok.map(f));
    const mps = ok.map((r) => r.msgs_per_s);
    out.push({
      server: e.server, group: e.group, cell: e.cell, reps_ok: ok.length, reps: e.runs.length,
      errors: e.runs.filter((r) => !r.ok).map((r) => r.error),
      msgs_per_s: pick((r) => r.msgs_per_s),
      msgs_per_s_min: ok.length ? Math.min(...mps) : null,
      msgs_per_s_max: ok.length ? Math.max(...mps) : null,
      mb_per_s: pick((r) => r.mb_per_s),
      p50_us: pick((r) => r.lat_us.p50),
      p99_us: pick((r) => r.lat_us.p99),
      p999_us: pick((r) => r.lat_us.p999),
      cpu_us_per_msg: pick((r) => r.server_cpu_us_per_msg),
      user_us_per_msg: pick((r) => r.server_user_us_per_msg),
      msgs_per_cpu_s: pick((r) => r.server_msgs_per_cpu_s),
      server_cpu_pct: pick((r) => r.server_cpu_pct),
      loadgen_cpu_pct: pick((r) => r.loadgen_cpu_pct),
      other_cpu_pct: pick((r) => r.other_cpu_pct),
      other_cpu_pct_max: ok.length ? Math.max(...ok.map((r) => r.other_cpu_pct ?? 0)) : null,
      peak_rss_mb: pick((r) => (r.server_vmhwm_kb == null ? null : r.server_vmhwm_kb / 1024)),
    });
  }
  return out;
}

/** Per group and cell: the fastest variant's medians, plus ratios. */
function summarizeGroups(entrySummaries, cells) {
  const rows = [];
  for (const cell of cells) {
    const inCell = entrySummaries.filter((e) => cellKey(e.cell) === cellKey(cell));
    const groups = groupOrder(inCell.map((e) => e.group));
    const best = {};
    for (const g of groups) {
      const variants = inCell.filter((e) => e.group === g);
      const ok = variants.filter((v) => v.msgs_per_s !== null);
      const chosen = ok.length ? ok.reduce((a, b) => (b.msgs_per_s > a.msgs_per_s ? b : a)) : variants[0];
      best[g] = { ...chosen, variant: chosen.server, variants: variants.map((v) => ({ server: v.server, msgs_per_s: v.msgs_per_s })) };
    }
    for (const g of groups) {
      const r = best[g];
      const node = best['node:net'], c = best['c-epoll'];
      r.thr_vs_node = node && node.msgs_per_s && r.msgs_per_s !== null ? r.msgs_per_s / node.msgs_per_s : null;
      r.thr_vs_c = c && c.msgs_per_s && r.msgs_per_s !== null ? r.msgs_per_s / c.msgs_per_s : null;
      r.cpu_vs_c = c && c.cpu_us_per_msg && r.cpu_us_per_msg !== null ? r.cpu_us_per_msg / c.cpu_us_per_msg : null;
      rows.push({ ...r, group: g });
    }
  }
  return rows;
}

function markdown(meta, rows, entrySummaries, cells, skipped, failures) {
  const L = [];
  L.push(`# polled echo benchmark`, '');
  L.push(`${meta.date} · ${meta.cpu_model} · ${meta.cpus} CPU · Linux ${meta.kernel} · Node ${meta.node}`);
  L.push(`pinning: ${meta.pinning} · ${meta.reps} rep(s), median · ${meta.duration_s} s measured after ${meta.warmup_s} s ` +
    `warm-up · pipeline ${meta.pipeline} · wall time ${meta.wall_s} s`, '');
  L.push('| cell | server | msgs/s | MB/s | p50 µs | p99 µs | p99.9 µs | server CPU µs/msg | of it user µs/msg | msgs per CPU-s | ' +
    'peak RSS MB | thr ÷ node:net | thr ÷ c-epoll | CPU/msg ÷ c-epoll | srv CPU % | loadgen CPU % | other CPU % | spread |');
  L.push('|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
  for (const cell of cells) {
    for (const r of rows.filter((x) => cellKey(x.cell) === cellKey(cell))) {
      const name = r.variants.length > 1 ? `${r.group} (${r.variant.replace(/^node-net-/, '')})` : r.group;
      const spread = r.msgs_per_s && r.reps_ok > 1 ? `±${(((r.msgs_per_s_max - r.msgs_per_s_min) / 2 / r.msgs_per_s) * 100).toFixed(1)}%` : '–';
      const failed = r.reps_ok < r.reps ? ` ⚠${r.reps - r.reps_ok} failed` : '';
      L.push(`| ${cellLabel(cell)} | ${name}${failed} | ${fmtNum(r.msgs_per_s)} | ${fmtSig(r.mb_per_s)} | ${fmtSig(r.p50_us)} | ` +
        `${fmtSig(r.p99_us)} | ${fmtSig(r.p999_us)} | ${fmtNum(r.cpu_us_per_msg, 2)} | ${fmtNum(r.user_us_per_msg, 2)} | ${fmtNum(r.msgs_per_cpu_s)} | ` +
        `${fmtNum(r.peak_rss_mb, 1)} | ${fmtRatio(r.thr_vs_node)} | ${fmtRatio(r.thr_vs_c)} | ${fmtRatio(r.cpu_vs_c)} | ` +
        `${fmtNum(r.server_cpu_pct)} | ${fmtNum(r.loadgen_cpu_pct)} | ${fmtNum(r.other_cpu_pct_max)}` +
        `${r.other_cpu_pct_max > OTHER_CPU_WARN ? ' ⚠' : ''} | ${spread} |`);
    }
  }
  const variantGroups = [...new Set(entrySummaries.map((e) => e.group))].filter(
    (g) => new Set(entrySummaries.filter((e) => e.group === g).map((e) => e.server)).size > 1);
  if (variantGroups.length) {
    L.push('', 'Variants (median msgs/s; the faster one is reported above):', '');
    const servers = [...new Set(entrySummaries.filter((e) => variantGroups.includes(e.group)).map((e) => e.server))];
    L.push(`| cell | ${servers.join(' | ')} |`);
    L.push(`|---|${servers.map(() => '--:').join('|')}|`);
    for (const cell of cells) {
      const vals = servers.map((s) => {
        const e = entrySummaries.find((x) => x.server === s && cellKey(x.cell) === cellKey(cell));
        return e ? `${fmtNum(e.msgs_per_s)} (${fmtNum(e.cpu_us_per_msg, 2)} µs/msg)` : '–';
      });
      L.push(`| ${cellLabel(cell)} | ${vals.join(' | ')} |`);
    }
  }
  if (rows.some((r) => r.other_cpu_pct_max > OTHER_CPU_WARN)) {
    L.push('', `⚠ Other processes used more than ${OTHER_CPU_WARN} % of a CPU during some runs (other CPU % is the ` +
      'worst repetition): the machine was not quiet, these numbers are noisy. Re-run on an idle machine.');
  }
  if (skipped.length) {
    L.push('', 'Skipped:', '');
    for (const s of skipped) L.push(`- ${s.name}: ${s.reason}`);
  }
  if (failures.length) {
    L.push('', 'Failed runs:', '');
    for (const f of failures) L.push(`- ${f.server} ${cellLabel(f.cell)} rep ${f.rep + 1}: ${oneLine(f.error)}`);
  }
  L.push('', 'msgs/s: echoes completed and verified per second. MB/s: payload of one direction (10^6 B). ' +
    'Latency: send → last echoed byte. Server CPU: utime+stime of the server process (all threads) over the ' +
    'measured window, from /proc/<pid>/stat; "of it user": utime alone (the server\'s own code; the rest is the kernel\'s ' +
    'work for it), at 10 ms clock-tick resolution. Peak RSS: VmHWM. spread: ±half the min–max range of msgs/s over the ' +
    'reps. A loadgen CPU near 100 % means the load generator, not the server, limited the throughput. other CPU %: CPU ' +
    'used by other processes during the window (worst rep). See bench/README.md.');
  return L.join('\n') + '\n';
}

// ---------------------------------------------------------------------------
// SVG chart (hand-written)

function esc(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function svgChart(meta, rows, cells) {
  const groups = groupOrder(rows.map((r) => r.group));
  const W = 1200, panelH = 330, top = 84, gap = 70, left = 84, right = 20;
  const H = top + 2 * panelH + gap + 40;
  const plotW = W - left - right;
  const panels = [
    { title: 'Throughput', axis: 'messages / s', key: 'msgs_per_s' },
    { title: 'Efficiency', axis: 'messages per server CPU-second', key: 'msgs_per_cpu_s' },
  ];
  const o = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ` +
    `font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif">`);
  o.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  o.push(`<text x="${W / 2}" y="28" text-anchor="middle" font-size="19" font-weight="600" fill="#111">` +
    `polled echo benchmark — loopback TCP, ${esc(meta.pipeline)} msg in flight per connection</text>`);
  o.push(`<text x="${W / 2}" y="48" text-anchor="middle" font-size="12" fill="#555">` +
    esc(`${meta.date.slice(0, 16).replace('T', ' ')} · ${meta.cpus} vCPU · Node ${meta.node} · ${meta.pinning} · ` +
      `median of ${meta.reps} · ${meta.duration_s} s windows`) + '</text>');
  if (rows.some((r) => r.other_cpu_pct_max > OTHER_CPU_WARN)) {
    o.push(`<text x="${W - right}" y="${top + 14}" text-anchor="end" font-size="12" fill="#b91c1c">` +
      '⚠ other processes were busy during some runs: noisy</text>');
  }
  // legend
  const legendW = groups.length * 150;
  let lx = (W - legendW) / 2;
  for (const g of groups) {
    const variant = rows.find((r) => r.group === g && r.variants.length > 1);
    const label = variant ? `${g} (faster of ${variant.variants.map((v) => v.server.replace(/^node-net-/, '')).join('/')})` : g;
    o.push(`<rect x="${lx}" y="60" width="14" height="14" rx="2" fill="${colorOf(g, groups)}"/>`);
    o.push(`<text x="${lx + 20}" y="72" font-size="13" fill="#222">${esc(label)}</text>`);
    lx += Math.max(150, 28 + label.length * 7);
  }

  panels.forEach((p, pi) => {
    const y0 = top + pi * (panelH + gap); // panel top
    const plotTop = y0 + 28, plotBottom = y0 + panelH - 40, plotH = plotBottom - plotTop;
    const vals = rows.map((r) => r[p.key]).filter((v) => Number.isFinite(v));
    const slot = plotW / cells.length;
    const pad = Math.min(28, slot * 0.15);
    const barW = Math.min(70, (slot - 2 * pad) / Math.max(1, groups.length));
    // value labels: horizontal when every label fits its bar, else all vertical
    const horizontal = vals.every((v) => fmtShort(v).length * 6.6 <= barW - 2);
    const max = niceMax(Math.max(0, ...vals) * (horizontal ? 1.1 : 1.2));
    o.push(`<text x="${left}" y="${y0 + 14}" font-size="15" font-weight="600" fill="#111">${esc(p.title)}</text>`);
    // grid + y ticks
    const ticks = 5;
    for (let i = 0; i <= ticks; i++) {
      const v = (max * i) / ticks, y = plotBottom - (plotH * i) / ticks;
      o.push(`<line x1="${left}" y1="${y.toFixed(1)}" x2="${W - right}" y2="${y.toFixed(1)}" stroke="${i ? '#e5e7eb' : '#9ca3af'}"/>`);
      o.push(`<text x="${left - 8}" y="${(y + 4).toFixed(1)}" text-anchor="end" font-size="11" fill="#444">${fmtShort(v).replace(/\.0+(?=[kM])/, '') || '0'}</text>`);
    }
    const ay = (plotTop + plotBottom) / 2;
    o.push(`<text x="22" y="${ay}" transform="rotate(-90 22 ${ay})" text-anchor="middle" font-size="12" fill="#333">${esc(p.axis)}</text>`);
    // bars
    cells.forEach((cell, ci) => {
      const gx = left + ci * slot + (slot - barW * groups.length) / 2;
      groups.forEach((g, gi) => {
        const r = rows.find((x) => x.group === g && cellKey(x.cell) === cellKey(cell));
        const x = gx + gi * barW;
        const v = r ? r[p.key] : null;
        if (!Number.isFinite(v)) {
          o.push(`<text x="${(x + barW / 2).toFixed(1)}" y="${plotBottom - 4}" text-anchor="middle" font-size="10" fill="#999">n/a</text>`);
          return;
        }
        const h = (plotH * v) / max;
        o.push(`<rect x="${(x + 1).toFixed(1)}" y="${(plotBottom - h).toFixed(1)}" width="${(barW - 2).toFixed(1)}" ` +
          `height="${h.toFixed(1)}" fill="${colorOf(g, groups)}"><title>${esc(`${g} ${r.variant !== g ? `(${r.variant}) ` : ''}` +
          `${cellLabel(cell)}: ${fmtNum(v)}`)}</title></rect>`);
        const label = fmtShort(v);
        const cx = x + barW / 2;
        if (horizontal) {
          o.push(`<text x="${cx.toFixed(1)}" y="${(plotBottom - h - 4).toFixed(1)}" text-anchor="middle" font-size="11" fill="#111">${label}</text>`);
        } else {
          const ty = plotBottom - h - 4;
          o.push(`<text x="${(cx + 4).toFixed(1)}" y="${ty.toFixed(1)}" transform="rotate(-90 ${(cx + 4).toFixed(1)} ${ty.toFixed(1)})" ` +
            `font-size="10" fill="#111">${label}</text>`);
        }
      });
      o.push(`<text x="${(left + ci * slot + slot / 2).toFixed(1)}" y="${plotBottom + 18}" text-anchor="middle" font-size="12" fill="#222">` +
        `${esc(cellLabel(cell))}</text>`);
    });
    o.push(`<text x="${left + plotW / 2}" y="${plotBottom + 34}" text-anchor="middle" font-size="11" fill="#666">connections × message size</text>`);
  });
  o.push('</svg>');
  return o.join('\n') + '\n';
}

// ---------------------------------------------------------------------------
// CLI

/**
 * The option walk the cell runners share (scale.js, fairness.js, udp.js): `--k v` or `--k=v`;
 * every option but `--out` makes the run partial (`a.partial`); `on(k, val, num)` handles one
 * option and returns false for one it does not know (then: an error naming it). `val()` takes
 * the value; `num()` takes it as a positive number.
 */
function walkOptions(argv, a, on) {
  for (let i = 2; i < argv.length; i++) {
    let k = argv[i];
    let v;
    const eq = k.indexOf('=');
    if (k.startsWith('--') && eq > 0) {
      v = k.slice(eq + 1);
      k = k.slice(0, eq);
    }
    const val = () => (v !== undefined ? v : argv[++i]);
    const num = () => {
      const n = Number(val());
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${k} needs a positive number`);
      return n;
    };
    if (k !== '--out') a.partial.push(k);
    if (k === '--out') a.out = val();
    else if (!on(k, val, num)) throw new Error(`unknown option ${k}`);
  }
  return a;
}


function parseArgs(argv) {
  const a = {
    quick: false, servers: null, conns: null, sizes: null, reps: null, duration: null, warmup: null, pipeline: 1, pin: true,
    out: null, partial: [],
  };
  const list = (v) => String(v).split(',').map((s) => s.trim()).filter(Boolean);
  const nums = (v) => list(v).map((s) => {
    const n = Number(s);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`not a positive number: ${s}`);
    return n;
  });
  for (let i = 2; i < argv.length; i++) {
    let k = argv[i], v;
    const eq = k.indexOf('=');
    if (k.startsWith('--') && eq > 0) { v = k.slice(eq + 1); k = k.slice(0, eq); }
    const val = () => (v !== undefined ? v : argv[++i]);
    if (k !== '--out' && k !== '-h' && k !== '--help') a.partial.push(k);
    switch (k) {
      case '--out': a.out = val(); break;
      case '--quick': a.quick = true; break;
      case '--no-pin': a.pin = false; break;
      case '--servers': a.servers = list(val()); break;
      case '--conns': a.conns = nums(val()); break;
      case '--sizes': a.sizes = nums(val()); break;
      case '--reps': a.reps = nums(val())[0]; break;
      case '--duration': a.duration = nums(val())[0]; break;
      case '--warmup': a.warmup = Number(val()); break;
      case '--pipeline': a.pipeline = nums(val())[0]; break;
      case '-h': case '--help':
        console.log('usage: node bench/run.js [--quick] [--servers a,b] [--conns 1,100,1000] [--sizes 64,4096] ' +
          '[--reps 3] [--duration S] [--warmup S] [--pipeline D] [--no-pin] [--out DIR]\n' +
          'Only a full run (no option but --out) replaces bench/results/latest.*; any other run writes to\n' +
          '--out DIR, default bench/results/runs/ (not committed).\nservers: ' +
          SERVERS.map((s) => s.name).join(', '));
        process.exit(0);
      // falls through
      default: throw new Error(`unknown argument: ${k}`);
    }
  }
  // defaults: full run ≈ 6 cells × 5 entries × 3 reps × ~2 s ≈ 3 min; quick ≈ 4 cells × 5 entries × ~1.1 s
  a.conns = a.conns || (a.quick ? [100, 1000] : [1, 100, 1000]);
  a.sizes = a.sizes || [64, 4096];
  a.reps = a.reps || (a.quick ? 1 : 3);
  a.duration = a.duration || (a.quick ? 0.6 : 1.25);
  a.warmup = a.warmup ?? (a.quick ? 0.25 : 0.5);
  return a;
}

/**
 * Where a run's results go. Only a full run (the default matrix: no option but --out) replaces
 * the committed bench/results/latest.* that the README cites, plus a <stamp>.json beside them;
 * a quick or narrowed run writes <stamp>-partial.* into --out (default bench/results/runs/, which
 * git ignores), so that a smoke run can never overwrite the published figures.
 */
function resultPaths(args, stamp) {
  const full = args.partial.length === 0 && BASELINE === null;
  if (full && args.out === null) {
    return { full, dir: RESULTS, stamped: path.join(RESULTS, `${stamp}.json`), json: path.join(RESULTS, 'latest.json'), md: path.join(RESULTS, 'latest.md'), svg: path.join(RESULTS, 'latest.svg') };
  }
  const dir = path.resolve(args.out ?? path.join(RESULTS, 'runs'));
  const base = path.join(dir, full ? stamp : `${stamp}-partial`);
  return { full, dir, stamped: null, json: `${base}.json`, md: `${base}.md`, svg: `${base}.svg` };
}

async function main() {
  const t0 = Date.now();
  const args = parseArgs(process.argv);
  buildNative();
  const { run: servers, skipped } = selectServers(args.servers);
  for (const s of skipped) console.error(`skip ${s.name}: ${s.reason}`);
  if (!servers.length) throw new Error('no server to run');
  const pinning = setupPinning(args.pin);
  const cells = [];
  for (const conns of args.conns) for (const size of args.sizes) cells.push({ conns, size });

  const busy = await machineBusy(500);
  if (busy !== null && busy > OTHER_CPU_WARN) {
    console.error(`warning: the machine is not idle (${busy.toFixed(0)} % of a CPU busy before starting); ` +
      'results will be noisy');
  }
  const total = args.reps * cells.length * servers.length;
  const est = total * (args.duration + args.warmup + 0.25);
  console.error(`${servers.length} server(s) [${servers.map((s) => s.name).join(', ')}] × ${cells.length} cell(s) × ` +
    `${args.reps} rep(s) = ${total} runs, ~${Math.round(est)} s; ${pinning}`);

  const tty = process.stderr.isTTY;
  const progress = (s) => {
    if (tty) process.stderr.write(`\r\x1b[K${s}`);
    else process.stderr.write(`${s}\n`);
  };

  const runs = [];
  let n = 0;
  let retriesLeft = Math.ceil(total * 0.25);
  let lastNoisy = false, waitedS = 0;
  const waitBudgetS = 60;
  for (let rep = 0; rep < args.reps; rep++) {
    for (let ci = 0; ci < cells.length; ci++) {
      const cell = cells[ci];
      // rotate the server order per (rep, cell) so drift hits every server alike
      const k = (rep + ci) % servers.length;
      const order = [...servers.slice(k), ...servers.slice(0, k)];
      for (const s of order) {
        n++;
        const tag = `[${n}/${total}] rep ${rep + 1}/${args.reps} ${cellLabel(cell)} ${s.name}`;
        progress(`${tag} …`);
        if (lastNoisy) waitedS += await waitQuiet(Math.min(5, waitBudgetS - waitedS), (b) =>
          progress(`${tag}: waiting for a quiet machine (${fmtNum(b)} % CPU busy) …`));
        let r = await runOne(s, cell, rep, args);
        // another process took CPU during the window: run it again (bounded), keep the quietest
        for (let t = 0; r.ok && r.other_cpu_pct > OTHER_CPU_WARN && t < 2 && retriesLeft > 0; t++) {
          retriesLeft--;
          progress(`${tag}: other processes used ${fmtNum(r.other_cpu_pct)} % CPU, again …`);
          waitedS += await waitQuiet(Math.min(5, waitBudgetS - waitedS), (b) =>
            progress(`${tag}: waiting for a quiet machine (${fmtNum(b)} % CPU busy) …`));
          const again = await runOne(s, cell, rep, args);
          again.noisy_retries = (r.noisy_retries || 0) + 1;
          if (!again.ok || again.other_cpu_pct < r.other_cpu_pct) r = again;
          else r.noisy_retries = again.noisy_retries;
        }
        lastNoisy = r.ok && r.other_cpu_pct > OTHER_CPU_WARN;
        runs.push(r);
        progress(r.ok
          ? `${tag}: ${fmtNum(r.msgs_per_s)} msgs/s, p99 ${fmtSig(r.lat_us.p99)} µs, ${fmtNum(r.server_cpu_us_per_msg, 2)} µs CPU/msg`
          : `${tag}: FAILED ${r.error}`);
        if (!r.ok && tty) process.stderr.write('\n');
      }
    }
  }
  if (tty) process.stderr.write('\n');

  const wall = (Date.now() - t0) / 1000;
  const meta = {
    date: new Date().toISOString(), wall_s: Number(wall.toFixed(1)), node: process.versions.node,
    kernel: os.release(), cpus: os.cpus().length, cpu_model: (os.cpus()[0] || {}).model || '?', pinning,
    machine_busy_before_pct: busy, waited_for_quiet_s: Number(waitedS.toFixed(1)), reps: args.reps, duration_s: args.duration, warmup_s: args.warmup, pipeline: args.pipeline,
    conns: args.conns, sizes: args.sizes, servers: servers.map((s) => s.name), skipped,
    mb_per_s: 'payload bytes of one direction per second / 1e6',
    cpu: 'server utime+stime (all threads) from /proc/<pid>/stat, sampled by loadgen at the start and end of the measured window',
  };
  const entrySummaries = summarizeEntries(runs);
  const rows = summarizeGroups(entrySummaries, cells);
  const failures = runs.filter((r) => !r.ok).map((r) => ({ server: r.server, cell: r.cell, rep: r.rep, error: r.error }));
  const md = markdown(meta, rows, entrySummaries, cells, skipped, failures);
  const result = { meta, summary: rows, entries: entrySummaries, runs };

  const stamp = meta.date.replace(/[:]/g, '-').replace(/\..*$/, '');
  const json = JSON.stringify(result, null, 1) + '\n';
  const out = resultPaths(args, stamp);
  fs.mkdirSync(out.dir, { recursive: true });
  fs.writeFileSync(out.json, json);
  fs.writeFileSync(out.md, md);
  fs.writeFileSync(out.svg, svgChart(meta, rows, cells));
  if (out.stamped) fs.writeFileSync(out.stamped, json);
  process.stdout.write('\n' + md);
  console.error(`\nwrote ${[out.stamped, out.json, out.md, out.svg].filter(Boolean).map((f) => path.relative(ROOT, f)).join(', ')}; wall time ${wall.toFixed(1)} s`);
  if (!out.full) console.error(`a partial run (${args.partial.join(' ')}): bench/results/latest.* left as they are`);

  // The multi-core cell (bench/scale.js), the mixed bulk + small cell (bench/fairness.js) and the
  // UDP echo cell (bench/udp.js), each with its own results file: after a full run, in full; after
  // a bare --quick, quick; not after a narrowed matrix, which asked for something else.
  for (const script of out.full || (args.quick && args.partial.length === 1) ? ['scale.js', 'fairness.js', 'udp.js'] : []) {
    const code = await new Promise((resolve) => {
      const child = spawn(process.execPath, [path.join(BENCH, script), ...(args.quick ? ['--quick'] : [])], { stdio: 'inherit' });
      child.on('exit', (c) => resolve(c));
    });
    if (code !== 0) {
      console.error(`bench/${script} failed (exit ${code})`);
      process.exitCode = 1;
    }
  }

  const verify = runs.filter((r) => !r.ok && (r.error_kind === 'verify' || r.error_kind === 'closed'));
  if (verify.length) {
    console.error(`${verify.length} run(s) FAILED verification (wrong or missing echo bytes)`);
    process.exitCode = 2;
  } else if (failures.length) {
    console.error(`${failures.length} run(s) failed`);
    process.exitCode = 1;
  }
}

async function runOne(entry, cell, rep, args) {
  const base = { server: entry.name, group: entry.group, kind: entry.kind, cell, rep, ok: false };
  let srv;
  try {
    srv = await startServer(entry);
  } catch (e) {
    return { ...base, error_kind: 'server', error: e.message };
  }
  try {
    const lg = await runLoadgen([
      '--host', srv.host === '0.0.0.0' || srv.host === '::' ? HOST : srv.host, '--port', String(srv.port),
      '--connections', String(cell.conns), '--size', String(cell.size), '--pipeline', String(args.pipeline),
      '--duration', String(args.duration), '--warmup', String(args.warmup), '--json', '--server-pid', String(srv.pid),
    ], (args.duration + args.warmup) * 1000 + 60000);
    const j = lg.json;
    if (lg.code !== 0 || !j || !j.ok) {
      const stderr = srv.stderr();
      return {
        ...base, error_kind: (j && j.error_kind) || 'loadgen',
        error: ((j && j.error) || lg.stderr || `loadgen exit ${lg.code}`) + (stderr ? ` [server stderr: ${errSummary(stderr, 300)}]` : ''),
      };
    }
    const sv = j.server || {};
    const hwm = sv.vmhwm_kb > 0 ? sv.vmhwm_kb : readStatusKb(srv.pid, 'VmHWM');
    return {
      ...base, ok: true, port: srv.port, pid: srv.pid,
      msgs: j.msgs, window_s: j.window_s, msgs_per_s: j.msgs_per_s, mb_per_s: j.mb_per_s, lat_us: j.lat_us,
      loadgen_cpu_pct: j.loadgen_cpu_pct, connect_s: j.connect_s, prime_s: j.prime_s, conn_msgs: j.conn_msgs,
      server_cpu_s: sv.cpu_s ?? null, server_cpu_ticks: sv.cpu_ticks ?? null, server_cpu_pct: sv.cpu_pct ?? null,
      server_cpu_us_per_msg: sv.cpu_us_per_msg ?? null, server_msgs_per_cpu_s: sv.msgs_per_cpu_s ?? null,
      server_user_us_per_msg: sv.user_us_per_msg ?? null,
      server_vmhwm_kb: hwm, server_vmrss_kb: sv.vmrss_kb ?? null,
      machine: j.machine || null,
      // CPU used during the window by anything but the server, loadgen and softirq: other processes
      other_cpu_pct: j.machine && sv.cpu_pct != null
        ? Math.max(0, j.machine.busy_pct - j.machine.softirq_pct - sv.cpu_pct - j.loadgen_cpu_pct) : null,
    };
  } finally {
    await stopServer(srv.child);
  }
}

module.exports = {
  SERVERS, HOST, LOADGEN, C_ECHO, BENCH, ROOT, RESULTS, buildNative, parseArgs, resultPaths, selectServers, startServer, stopServer,
  readStatusKb, groupOrder, findBun, fmtNum, killLive, live, main, svgChart, markdown, walkOptions, median, machineBusy,
};

if (require.main === module) {
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killLive(); process.exit(130); });
  main().catch((e) => {
    console.error(`bench/run.js: ${e.message}`);
    killLive();
    process.exit(1);
  });
}
