'use strict';
// The UDP echo cell: datagrams/s and server CPU per datagram, polled (single calls and batched)
// against node:dgram and a C server with recvmmsg / sendmmsg.
//
//   node bench/udp.js [--quick] [--reps 5] [--duration S] [--warmup S] [--sizes 64,1200]
//                     [--servers polled,polled-batch,node-dgram,c-udp] [--flows 16] [--window 4]
//                     [--no-pin] [--out DIR]
//
// Load: bench/udpgen.c, closed loop: `flows` connected client sockets with `window` datagrams in
// flight each, every echoed byte checked (a wrong byte fails the run), losses counted and resent
// after 50 ms. Server CPU: utime + stime of the server process over the measured window (udpgen
// reads /proc/<pid>/stat at its edges), so "datagrams per server CPU-second" compares how much
// CPU each server spends per datagram whatever throughput the closed loop settles at.
// Other CPU: the machine's busy time over the run (/proc/stat) minus the server's and udpgen's,
// in % of one core: what other processes took (a shared machine's noise).
//
// Pinned like bench/run.js when taskset exists and there are 2+ CPUs: server on CPU 0, udpgen on
// CPU 1. Interleaved: for each rep, each size, each server (order rotated per rep), a fresh server.
// Only a full run (no option but --out) writes bench/results/udp.{json,md}; anything else writes
// bench/results/runs/udp-<stamp>-partial.* (git ignores runs/).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, execFileSync } = require('node:child_process');
const { HOST, RESULTS, BENCH, buildNative, startServer, stopServer, killLive, walkOptions, median } = require('./run.js');

const UDPGEN = path.join(BENCH, 'bin', 'udpgen');
const C_UDP = path.join(BENCH, 'bin', 'c-udp-echo');
const SRV = path.join(BENCH, 'servers');

const SERVERS = {
  polled: { label: 'polled (recvFrom/sendTo)', cmd: (p) => [process.execPath, path.join(SRV, 'polled-udp-echo.js'), '--host', HOST, '--port', String(p)] },
  'polled-batch': { label: 'polled batched (recvMany/sendMany, 64)', cmd: (p) => [process.execPath, path.join(SRV, 'polled-udp-echo.js'), '--host', HOST, '--port', String(p), '--batch', '64'] },
  'node-dgram': { label: 'node:dgram', cmd: (p) => [process.execPath, path.join(SRV, 'node-dgram-echo.js'), '--host', HOST, '--port', String(p)] },
  'c-udp': { label: 'C (recvmmsg/sendmmsg, epoll)', cmd: (p) => [C_UDP, '--host', HOST, '--port', String(p)] },
};

function parseArgs(argv) {
  const a = { quick: false, reps: 5, duration: 3, warmup: 1, sizes: [64, 1200], servers: Object.keys(SERVERS), flows: 16, window: 4, pin: true, out: null, partial: [] };
  walkOptions(argv, a, (k, val, num) => {
    switch (k) {
      case '--quick': a.quick = true; a.reps = 1; a.duration = 1; a.warmup = 0.5; return true;
      case '--reps': a.reps = num(); return true;
      case '--duration': a.duration = num(); return true;
      case '--warmup': a.warmup = num(); return true;
      case '--sizes': a.sizes = String(val()).split(',').map(Number); return true;
      case '--servers': a.servers = String(val()).split(','); return true;
      case '--flows': a.flows = num(); return true;
      case '--window': a.window = num(); return true;
      case '--no-pin': a.pin = false; return true;
      default: return false;
    }
  });
  for (const s of a.servers) if (!SERVERS[s]) throw new Error(`unknown server ${s} (known: ${Object.keys(SERVERS).join(', ')})`);
  return a;
}

function pinning(enabled) {
  if (!enabled) return { server: [], gen: [], note: 'not pinned (--no-pin)' };
  if (os.cpus().length < 2) return { server: [], gen: [], note: 'not pinned (1 CPU)' };
  try {
    execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
  } catch {
    return { server: [], gen: [], note: 'not pinned (no taskset)' };
  }
  return { server: ['taskset', '-c', '0'], gen: ['taskset', '-c', '1'], note: 'server on CPU 0, udpgen on CPU 1 (taskset -c)' };
}

function machineTicks() {
  try {
    const v = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // busy: user, nice, system, steal; soft: irq + softirq (loopback delivery runs there, and the
    // kernel may not charge it to any process), apart, as run.js does.
    return { busy: v[0] + v[1] + v[2] + (v[7] || 0), soft: v[5] + v[6], all: v.slice(0, 8).reduce((x, y) => x + y, 0) };
  } catch {
    return null;
  }
}

function runGen(pin, args, timeoutMs) {
  const argv = [...pin.gen, UDPGEN, ...args];
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const line = out.split('\n').filter((l) => l.startsWith('{')).pop();
      let json = null;
      try { json = line ? JSON.parse(line) : null; } catch {}
      resolve({ code, json, err: err.trim() });
    });
  });
}

async function one(a, pin, name, size) {
  const def = SERVERS[name];
  const entry = { name, cmd: (p) => [...pin.server, ...def.cmd(p)] };
  const srv = await startServer(entry, { pin: false });
  try {
    const m0 = machineTicks();
    const lg = await runGen(pin, ['--host', HOST, '--port', String(srv.port), '--size', String(size), '--flows', String(a.flows), '--window', String(a.window),
      '--duration', String(a.duration), '--warmup', String(a.warmup), '--server-pid', String(srv.pid), '--json'], (a.duration + a.warmup) * 1000 + 30000);
    const m1 = machineTicks();
    const j = lg.json;
    if (!j || !j.ok || lg.code !== 0) throw new Error(`${name} ${size} B: udpgen failed (${lg.code}): ${lg.err || JSON.stringify(j)}`);
    const pct = (k) => (m0 && m1 && m1.all > m0.all ? ((m1[k] - m0[k]) / (m1.all - m0.all)) * 100 * os.cpus().length : null);
    const busyPct = pct('busy');
    return {
      server: name,
      size,
      dgrams_per_s: j.dgrams_per_s,
      server_cpu_pct: j.server.cpu_pct,
      cpu_us_per_dgram: j.server.cpu_us_per_dgram,
      dgrams_per_cpu_s: j.server.dgrams_per_cpu_s,
      udpgen_cpu_pct: j.loadgen_cpu_pct,
      lost: j.lost_in_window,
      other_cpu_pct: busyPct === null ? null : Math.max(0, busyPct - j.server.cpu_pct - j.loadgen_cpu_pct),
      softirq_pct: pct('soft'),
    };
  } finally {
    await stopServer(srv.child);
  }
}


async function main() {
  const a = parseArgs(process.argv);
  if (process.platform !== 'linux') throw new Error('bench/udp.js needs Linux (udpgen and the C server use recvmmsg / sendmmsg)');
  buildNative();
  const pin = pinning(a.pin);
  console.error(`UDP echo cell: ${a.reps} reps x ${a.sizes.length} sizes x ${a.servers.length} servers, ${a.duration} s each (+${a.warmup} s warm-up); ${pin.note}`);
  const runs = [];
  for (let rep = 0; rep < a.reps; rep++) {
    for (const size of a.sizes) {
      const k = rep % a.servers.length;
      const order = [...a.servers.slice(k), ...a.servers.slice(0, k)];
      for (const name of order) {
        const r = await one(a, pin, name, size);
        runs.push({ rep, ...r });
        console.error(`rep ${rep + 1}/${a.reps} ${size} B ${name}: ${Math.round(r.dgrams_per_s)} dgrams/s, server ${Math.round(r.server_cpu_pct)} % CPU, ` +
          `${r.cpu_us_per_dgram.toFixed(2)} us/dgram (${Math.round(r.dgrams_per_cpu_s)} per CPU-s), udpgen ${r.udpgen_cpu_pct.toFixed(0)} %, lost ${r.lost}, other CPU ${r.other_cpu_pct === null ? '?' : r.other_cpu_pct.toFixed(0)} %, softirq ${r.softirq_pct === null ? '?' : r.softirq_pct.toFixed(0)} %`);
      }
    }
  }
  const summary = [];
  for (const size of a.sizes) {
    for (const name of a.servers) {
      const rs = runs.filter((r) => r.server === name && r.size === size);
      const m = (k) => median(rs.map((r) => r[k]));
      summary.push({ server: name, size, dgrams_per_s: m('dgrams_per_s'), min: Math.min(...rs.map((r) => r.dgrams_per_s)), max: Math.max(...rs.map((r) => r.dgrams_per_s)),
        server_cpu_pct: m('server_cpu_pct'), cpu_us_per_dgram: m('cpu_us_per_dgram'), dgrams_per_cpu_s: m('dgrams_per_cpu_s'), udpgen_cpu_pct: m('udpgen_cpu_pct'),
        lost: rs.reduce((n, r) => n + r.lost, 0), other_cpu_pct: median(rs.map((r) => r.other_cpu_pct ?? 0)), other_cpu_max: Math.max(...rs.map((r) => r.other_cpu_pct ?? 0)),
        softirq_pct: median(rs.map((r) => r.softirq_pct ?? 0)) });
    }
  }
  const find = (name, size) => summary.find((s) => s.server === name && s.size === size);
  const lines = [
    `# UDP echo: ${a.flows} flows x ${a.window} datagrams in flight, closed loop`,
    '',
    `${new Date().toISOString()}, ${a.reps} interleaved reps of ${a.duration} s (medians; min–max datagrams/s), ${os.cpus().length} CPUs, ${pin.note}. ` +
      'Every echoed byte verified by udpgen. "Other CPU": the machine\'s user + system + steal time minus server and udpgen, % of one core (other processes: the noise); "softirq": irq + softirq time (packet delivery), apart.',
    '',
    '| size | server | datagrams/s | min–max | server CPU % | µs CPU per datagram | datagrams per server CPU-s | ÷ node:dgram | C ÷ this (CPU/dgram) | udpgen CPU % | lost | other CPU % (median / max) | softirq % |',
    '| --: | :-- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |',
    ...summary.map((s) => {
      const node = find('node-dgram', s.size);
      const c = find('c-udp', s.size);
      return `| ${s.size} B | ${SERVERS[s.server].label} | ${Math.round(s.dgrams_per_s)} | ${Math.round(s.min)}–${Math.round(s.max)} | ${Math.round(s.server_cpu_pct)} | ${s.cpu_us_per_dgram.toFixed(2)} | ${Math.round(s.dgrams_per_cpu_s)} | ` +
        `${node ? (s.dgrams_per_cpu_s / node.dgrams_per_cpu_s).toFixed(2) + '×' : '–'} | ${c ? (s.cpu_us_per_dgram / c.cpu_us_per_dgram).toFixed(2) + '×' : '–'} | ${Math.round(s.udpgen_cpu_pct)} | ${s.lost} | ${Math.round(s.other_cpu_pct)} / ${Math.round(s.other_cpu_max)} | ${Math.round(s.softirq_pct)} |`;
    }),
    '',
    'Targets (issue 26): datagrams per server CPU-second ≥ 1.5× node:dgram with single calls, ≥ 2× batched; CPU per datagram within 1.3× of the C server.',
    '',
  ];
  const md = lines.join('\n');
  process.stdout.write(md);
  const full = a.partial.length === 0;
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = full && a.out === null ? RESULTS : path.resolve(a.out ?? path.join(RESULTS, 'runs'));
  const name = full ? 'udp' : `udp-${stamp}-partial`;
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${name}.json`), JSON.stringify({ args: a, pinning: pin.note, summary, runs }, null, 2) + '\n');
  fs.writeFileSync(path.join(dir, `${name}.md`), md);
  console.error(`wrote ${path.relative(process.cwd(), path.join(dir, name))}.{json,md}${full ? '' : ' (a partial run: bench/results/udp.* left as they are)'}`);
}

if (require.main === module) {
  main().catch((e) => {
    console.error(`bench/udp.js: ${e.message}`);
    killLive();
    process.exit(1);
  });
}

module.exports = { SERVERS, parseArgs };
