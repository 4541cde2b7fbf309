#!/usr/bin/env node
'use strict';
// User-space instructions per echoed message, counted by callgrind: a figure that does not move
// with the machine's load (CPU time on this VM varies ±20–50 % from run to run; instruction
// counts by well under 1 %), so a before/after claim about the per-message work can be made
// from one run.
//
//   npm run bench:instructions [-- --servers polled-embedded,polled-block,polled-embedded-gen,polled-block-gen,c-epoll]
//                               [--conns 100] [--size 64] [--warmup 15] [--duration 8] [--top 25] [--cache] [--keep]
//   POLLED_BASELINE=<another built checkout> npm run bench:instructions   (adds base-* entries)
//
// For each server: start it under `valgrind --tool=callgrind`, run the load generator (not under
// valgrind) against it, zero the counters when the warm-up ends (`callgrind_control -z`) and dump
// them when the measured window ends (`callgrind_control -d`); instructions in the dump ÷
// messages echoed in the window = instructions per message. Every thread of the server is
// counted (V8's helper threads included), kernel work is not: callgrind sees user space only.
// The top functions (self cost) come from callgrind_annotate; code V8 compiled at run time has no
// symbol in the binary: node runs with --perf-basic-prof, and its perf map names that code
// ("JS ..." rows: the TypeScript itself, after JIT).
//
// Node servers get two full collections once every connection is open (bench/settle-gc.js, sent
// SIGWINCH at loadgen's '# connected'): the objects the connections made are then old, as in a
// server that has run a while, and not young or old by the timing of the last scavenge, which
// moved the write barrier's cost by up to 90 instructions per message between runs of one build.
//
// The window edges are taken by the server at its next check of callgrind's command file, a few
// milliseconds after loadgen's marker, at both ends alike; under valgrind the server echoes a few
// thousand messages a second, so that costs well under 1 % of the count.
//
// `--cache`: callgrind also simulates the caches (`--cache-sim=yes`, sized as this CPU's), and the
// table gains first-level data misses (D1: reads + writes) and last-level misses (LL: data and
// code) per message, with the top functions ranked by their D1 misses. Where instructions per
// message hardly move between 100 and 1000 connections but user time per message triples, the
// misses say why: every connection's objects are touched once per message, and 1000 of them do
// not fit in the first levels. The simulation sees user space only: the kernel's own traffic,
// which evicts these lines too, is not in it, so real misses are more.
//
// `--keep`: the callgrind dumps stay (their directory is printed), for a line-by-line look:
// `cd build && callgrind_annotate --auto=yes <dump>` (build the addon with CXXFLAGS=-g first).
//
// Results: printed, and written to bench/results/runs/instructions-<stamp>.{json,md}; `--save`
// (a full default run only) also writes bench/results/instructions.{json,md}, the committed figures.

const fs = require('node:fs');
const path = require('node:path');
const { spawn, execFileSync } = require('node:child_process');
const run = require('./run.js');

// The echo loop as a user's generator handler (bench/servers/polled-echo-gen.js), beside the
// EchoServer's hand-written future: what a generator handler costs per message.
const GEN = ['embedded', 'block'].map((driver) => ({
  name: `polled-${driver}-gen`,
  cmd: (port) => [process.execPath, path.join(run.ROOT, 'bench/servers/polled-echo-gen.js'), '--driver', driver, '--host', run.HOST, '--port', String(port)],
}));

// Warm-up 15 s: under valgrind V8's optimizing compiler (a thread valgrind runs in turn with the
// others) was still at work after 6 s, its phases among the window's top functions. After 15 s
// the hot functions' own counts agree within about 2 % between runs of one build; the total can
// still move by up to 20 % with a late recompilation in the window (its compiler rows show it),
// so compare the top functions, or take the lower of two runs.
const OPTS = { servers: 'polled-embedded,polled-block,polled-embedded-gen,polled-block-gen,c-epoll', conns: 100, size: 64, warmup: 15, duration: 8, top: 25, save: false, cache: false, keep: false };

function parse(argv) {
  const a = { ...OPTS, partial: [] };
  run.walkOptions(argv, a, (k, val, num) => {
    if (k === '--servers') a.servers = val();
    else if (k === '--conns') a.conns = num();
    else if (k === '--size') a.size = num();
    else if (k === '--warmup') a.warmup = num();
    else if (k === '--duration') a.duration = num();
    else if (k === '--top') a.top = num();
    else if (k === '--save') a.save = true;
    else if (k === '--cache') a.cache = true;
    else if (k === '--keep') a.keep = true;
    else return false;
    return true;
  });
  return a;
}

function need(cmd) {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
  } catch {
    throw new Error(`${cmd} is not installed (apt-get install valgrind)`);
  }
}

/**
 * The events a callgrind dump counts ("events:" line: Ir alone, or with --cache-sim Ir Dr Dw
 * I1mr D1mr D1mw ILmr DLmr DLmw), and their totals ("summary:" or "totals:" line), by name.
 */
function totals(file) {
  const text = fs.readFileSync(file, 'utf8');
  const ev = /^events:\s+(.*)$/m.exec(text);
  const m = /^(?:totals|summary):\s+([\d ]+)$/m.exec(text);
  if (!ev || !m) throw new Error(`no totals in ${file}`);
  const names = ev[1].trim().split(/\s+/);
  const vals = m[1].trim().split(/\s+/).map(Number);
  return Object.fromEntries(names.map((n, i) => [n, vals[i] ?? 0]));
}

/** First-level data misses and last-level misses (data and code) of an event vector (0 without --cache-sim). */
function misses(ev) {
  return { d1: (ev.D1mr ?? 0) + (ev.D1mw ?? 0), ll: (ev.ILmr ?? 0) + (ev.DLmr ?? 0) + (ev.DLmw ?? 0) };
}

/**
 * Self cost per function, read from the dump itself (callgrind_annotate would count the frames
 * on the stack when the counters were zeroed as if they had run the whole window). A cost line
 * after `calls=` is the call's inclusive cost and belongs to the callee: skipped. Each function's
 * cost: { ir, d1 } (d1: first-level data misses, 0 without --cache-sim).
 */
function selfCosts(file) {
  const names = new Map();
  const byFn = new Map();
  const name = (v) => {
    const m = /^\((\d+)\)(?:\s+(.*))?$/.exec(v);
    if (!m) return v;
    if (m[2] !== undefined) names.set(m[1], m[2]);
    return names.get(m[1]) ?? v;
  };
  // A cost line is the position (one column: the line) and then the events in the order of the
  // "events:" line; trailing zeros may be left off.
  let col = { Ir: 1 };
  let fn = '?';
  let skipNext = false;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('events:')) col = Object.fromEntries(line.slice(7).trim().split(/\s+/).map((n, i) => [n, i + 1]));
    else if (line.startsWith('fn=')) fn = name(line.slice(3));
    else if (line.startsWith('cfn=')) name(line.slice(4));
    else if (line.startsWith('calls=')) skipNext = true;
    else if (/^[\d+*-]/.test(line)) {
      if (skipNext) skipNext = false;
      else {
        const parts = line.trim().split(/\s+/);
        const at = (k) => (col[k] !== undefined && parts.length > col[k] ? Number(parts[col[k]]) : 0);
        const ir = at('Ir');
        const d1 = at('D1mr') + at('D1mw');
        if (ir > 0 || d1 > 0) {
          const c = byFn.get(fn) ?? { ir: 0, d1: 0 };
          c.ir += ir;
          c.d1 += d1;
          byFn.set(fn, c);
        }
      }
    }
  }
  return byFn;
}

/** V8's perf map (node --perf-basic-prof): [start, end, name] of the code it compiled. */
function perfMap(pid) {
  const file = `/tmp/perf-${pid}.map`;
  if (!fs.existsSync(file)) return [];
  const rows = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line);
    if (m) rows.push([parseInt(m[1], 16), parseInt(m[1], 16) + parseInt(m[2], 16), m[3]]);
  }
  rows.sort((x, y) => x[0] - y[0]);
  return rows;
}

/**
 * Top functions by self cost (`by`: 'ir' instructions, 'd1' first-level data misses): [{ ir, d1,
 * fn }]; JIT code named through the perf map when there is one.
 */
function topFunctions(file, n, map, by = 'ir') {
  const lookup = (addr) => {
    let lo = 0, hi = map.length - 1, found = null;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (map[mid][0] <= addr) {
        found = map[mid];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found && addr < found[1] ? found[2] : null;
  };
  const merged = new Map();
  for (const [fn, c] of selfCosts(file)) {
    const m = /^0x([0-9a-f]+)$/.exec(fn);
    const label = m ? `JS ${lookup(parseInt(m[1], 16)) ?? `(unnamed JIT code ${fn})`}` : fn;
    const sum = merged.get(label) ?? { ir: 0, d1: 0 };
    sum.ir += c.ir;
    sum.d1 += c.d1;
    merged.set(label, sum);
  }
  return [...merged].map(([fn, c]) => ({ ir: c.ir, d1: c.d1, fn })).sort((x, y) => y[by] - x[by]).slice(0, n);
}

function control(flag, pid) {
  execFileSync('callgrind_control', [flag, String(pid)], { stdio: 'ignore', timeout: 60_000 });
}

async function measure(entry, a, dir) {
  const outFile = path.join(dir, `${entry.name}.out`);
  const isNode = entry.cmd(0)[0] === process.execPath;
  const wrapped = {
    name: entry.name,
    cmd: (port) => {
      const argv = entry.cmd(port);
      // Node: name its JIT code (a perf map, read below), and settle its heap once connected
      // (bench/settle-gc.js: the write barrier's cost depends on the generations).
      if (isNode) argv.splice(1, 0, '--perf-basic-prof', '--expose-gc', '-r', path.join(__dirname, 'settle-gc.js'));
      const sim = a.cache ? ['--cache-sim=yes'] : [];
      return ['valgrind', '--tool=callgrind', '--quiet', ...sim, `--callgrind-out-file=${outFile}`, ...argv];
    },
  };
  const srv = await run.startServer(wrapped, { pin: false, timeoutMs: 180_000 });
  try {
    const args = ['--host', run.HOST, '--port', String(srv.port), '--connections', String(a.conns), '--size', String(a.size),
      '--warmup', String(a.warmup), '--duration', String(a.duration), '--json', '--markers', '--connect-timeout', '120'];
    const lg = spawn(run.LOADGEN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '', json = null, err = '';
    lg.stderr.on('data', (d) => (err += d));
    const done = new Promise((resolve) => lg.on('exit', resolve));
    lg.stdout.setEncoding('utf8');
    lg.stdout.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        // Synchronous on purpose: loadgen keeps the load on while the server takes the command.
        if (line === '# connected') {
          // Two full collections, while the warm-up (15 s) runs: then the window (see settle-gc.js).
          if (isNode) process.kill(srv.pid, 'SIGWINCH');
        } else if (line === '# warmup_end') control('-z', srv.pid);
        else if (line === '# measure_end') control('-d', srv.pid);
        else if (line.startsWith('{')) json = JSON.parse(line);
      }
    });
    const code = await done;
    if (code !== 0 || json === null || !json.ok) throw new Error(`${entry.name}: loadgen exit ${code}: ${err.trim() || JSON.stringify(json)}`);
    const dumps = fs.readdirSync(dir).filter((f) => f.startsWith(`${entry.name}.out.`)).sort();
    if (dumps.length === 0) throw new Error(`${entry.name}: callgrind wrote no dump`);
    const dump = path.join(dir, dumps[dumps.length - 1]);
    const ev = totals(dump);
    const ir = ev.Ir;
    const map = perfMap(srv.pid);
    const top = topFunctions(dump, a.top, map);
    const row = { name: entry.name, msgs: json.msgs, window_s: json.window_s, ir, ir_per_msg: ir / json.msgs, top };
    if (a.cache) {
      const { d1, ll } = misses(ev);
      Object.assign(row, { d1_per_msg: d1 / json.msgs, ll_per_msg: ll / json.msgs, topMisses: topFunctions(dump, a.top, map, 'd1') });
    }
    try { fs.unlinkSync(`/tmp/perf-${srv.pid}.map`); } catch {}
    return row;
  } finally {
    await run.stopServer(srv.child, 30_000);
  }
}

function markdown(a, rows, stamp) {
  const fmt = (x) => Math.round(x).toLocaleString('en-US');
  const cache = a.cache === true;
  const lines = [
    `# Instructions per echoed message (callgrind${cache ? ', cache simulation' : ''}), ${stamp}`,
    '',
    `${a.conns} connections × ${a.size} B, ping-pong; warm-up ${a.warmup} s, window ${a.duration} s (under valgrind). ` +
      'User-space instructions of every server thread ÷ messages echoed in the window. `npm run bench:instructions`' +
      (cache ? ' `-- --cache`: D1 = first-level data misses (reads + writes), LL = last-level misses (data and code), user space only.' : '.'),
    '',
    cache ? '| server | instructions / msg | D1 misses / msg | LL misses / msg | msgs in window |' : '| server | instructions / msg | msgs in window |',
    cache ? '| --- | --: | --: | --: | --: |' : '| --- | --: | --: |',
    ...rows.map((r) =>
      cache
        ? `| ${r.name} | ${fmt(r.ir_per_msg)} | ${r.d1_per_msg.toFixed(1)} | ${r.ll_per_msg.toFixed(2)} | ${fmt(r.msgs)} |`
        : `| ${r.name} | ${fmt(r.ir_per_msg)} | ${fmt(r.msgs)} |`,
    ),
    '',
  ];
  const name = (t) => `\`${t.fn.replace(/\|/g, '\\|')}\``;
  for (const r of rows) {
    lines.push(`## ${r.name}: top functions (self, per message)`, '', '| per msg | share | function |', '| --: | --: | --- |');
    for (const t of r.top) lines.push(`| ${(t.ir / r.msgs).toFixed(1)} | ${((100 * t.ir) / r.ir).toFixed(1)} % | ${name(t)} |`);
    lines.push('');
    if (!cache) continue;
    lines.push(`## ${r.name}: top functions by D1 misses (self, per message)`, '', '| D1 misses / msg | instructions / msg | function |', '| --: | --: | --- |');
    for (const t of r.topMisses) lines.push(`| ${(t.d1 / r.msgs).toFixed(2)} | ${(t.ir / r.msgs).toFixed(1)} | ${name(t)} |`);
    lines.push('');
  }
  return lines.join('\n');
}

async function main() {
  const a = parse(process.argv);
  need('valgrind');
  need('callgrind_control');
  run.buildNative();
  const names = a.servers.split(',').map((s) => s.trim()).filter(Boolean);
  const entries = names.map((n) => {
    const e = run.SERVERS.find((s) => s.name === n) ?? GEN.find((s) => s.name === n);
    if (!e) throw new Error(`no server entry "${n}" (have: ${[...run.SERVERS, ...GEN].map((s) => s.name).join(', ')})`);
    return e;
  });
  const stamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'polled-cg-'));
  const rows = [];
  for (const e of entries) {
    console.error(`instructions: ${e.name} under callgrind…`);
    const r = await measure(e, a, dir);
    console.error(`instructions: ${e.name}: ${Math.round(r.ir_per_msg)} per message (${r.msgs} msgs)`);
    rows.push(r);
  }
  const md = markdown(a, rows, stamp);
  console.log(md);
  const runs = path.join(run.RESULTS, 'runs');
  fs.mkdirSync(runs, { recursive: true });
  const base = path.join(runs, `instructions-${stamp.replace(/[:]/g, '')}`);
  const json = JSON.stringify({ stamp, options: a, rows }, null, 1);
  fs.writeFileSync(`${base}.json`, json);
  fs.writeFileSync(`${base}.md`, md);
  const isDefault = a.servers === OPTS.servers && a.conns === OPTS.conns && a.size === OPTS.size && !a.cache;
  if (a.save && isDefault && !process.env.POLLED_BASELINE) {
    fs.writeFileSync(path.join(run.RESULTS, 'instructions.json'), json);
    fs.writeFileSync(path.join(run.RESULTS, 'instructions.md'), md);
    console.error('instructions: saved bench/results/instructions.{json,md}');
  } else if (a.save) {
    console.error('instructions: --save ignored: only a default run (every default server, 100 × 64 B, no --cache, no POLLED_BASELINE) is committed');
  }
  if (a.keep) console.error(`instructions: callgrind dumps kept in ${dir}`);
  else fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(`bench/instructions.js: ${e.message}`);
  run.killLive();
  process.exit(1);
});
