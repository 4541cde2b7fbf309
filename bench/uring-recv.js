'use strict';
// io_uring stream reads, single-shot against multishot (issue 22), measured interleaved: for each
// rep, each cell (driver × connections) runs the polled-uring echo server once with
// POLLED_URING_RECV=single (a single-shot recv per read into the stream's own buffer) and once with
// it unset (the default: one multishot recv per stream into the ring's provided buffers),
// in alternating order, against the same loadgen (server on CPU 0, loadgen on CPU 1). Prints the
// server's CPU µs per message (median, min–max) per cell and mode.
//
//   node bench/uring-recv.js [--conns 100,1000] [--size 64] [--reps 5] [--duration 4]
//                            [--drivers embedded,block] [--servers c-uring,c-epoll]
// Needs the build (npm run build:all) and bench/bin/loadgen (node bench/run.js builds it).
const { spawn } = require('child_process');
const path = require('path');
const { SERVERS, LOADGEN, HOST, buildNative } = require('./run.js');

function opt(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
}
const conns = opt('conns', '100,1000').split(',').map(Number);
const size = Number(opt('size', '64'));
const reps = Number(opt('reps', '5'));
const duration = Number(opt('duration', '4'));
const drivers = opt('drivers', 'embedded,block').split(',');
const refs = opt('servers', 'c-uring,c-epoll').split(',').filter(Boolean);
const ROOT = path.join(__dirname, '..');

function start(argv, env) {
  return new Promise((resolve, reject) => {
    const child = spawn('taskset', ['-c', '0', ...argv], { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT, env });
    let out = '', err = '';
    const timer = setTimeout(() => reject(new Error(`no listening line; ${err}`)), 20000);
    child.stderr.on('data', (d) => (err += d));
    child.stdout.on('data', (d) => {
      out += d;
      const m = /^listening (\S+) (\d+)\s*$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[2]) });
      }
    });
    child.on('exit', (c) => reject(new Error(`exited ${c}: ${err}`)));
  });
}

function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function loadgen(port, pid, n) {
  return new Promise((resolve) => {
    const args = ['-c', '1', LOADGEN, '--host', HOST, '--port', String(port), '--connections', String(n), '--size',
      String(size), '--duration', String(duration), '--warmup', '1', '--json', '--server-pid', String(pid)];
    const child = spawn('taskset', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', () => {
      const line = out.split('\n').filter((l) => l.startsWith('{')).pop();
      try {
        resolve(JSON.parse(line));
      } catch {
        resolve(null);
      }
    });
  });
}

function polledArgv(driver) {
  return [process.execPath, 'bench/servers/polled-echo.js', '--driver', driver, '--io', 'uring', '--host', HOST, '--port', '0'];
}

async function once(argv, env, n) {
  const s = await start(argv, env);
  const r = await loadgen(s.port, s.child.pid, n);
  await stop(s.child);
  return r && r.ok && r.server ? r.server.cpu_us_per_msg : NaN;
}

function summary(xs) {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return 'n/a';
  const med = v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  return `${med.toFixed(2)} (${v[0].toFixed(2)}–${v[v.length - 1].toFixed(2)})`;
}

async function main() {
  buildNative();
  const base = { ...process.env };
  delete base.POLLED_URING_RECV;
  const modes = { single: { ...base, POLLED_URING_RECV: 'single' }, multishot: base };
  const cells = [];
  for (const n of conns) {
    for (const d of drivers) cells.push({ name: `polled-uring-${d}`, n, polled: d });
    for (const r of refs) cells.push({ name: r, n, ref: SERVERS.find((s) => s.name === r) });
  }
  const res = new Map();
  const put = (k, v) => (res.has(k) ? res.get(k) : res.set(k, []).get(k)).push(v);
  for (let rep = 0; rep < reps; rep++) {
    for (const c of cells) {
      if (c.ref) {
        put(`${c.name} ${c.n}`, await once(c.ref.cmd(0), base, c.n));
        continue;
      }
      const order = rep % 2 ? ['multishot', 'single'] : ['single', 'multishot'];
      for (const m of order) put(`${c.name} ${c.n} ${m}`, await once(polledArgv(c.polled), modes[m], c.n));
    }
    process.stderr.write(`rep ${rep + 1}/${reps} done\n`);
  }
  console.log(`server CPU µs/msg, ${size} B, depth 1, ${reps} reps × ${duration} s, median (min–max)`);
  console.log('| server | conns | single-shot | multishot |');
  console.log('|---|---|---|---|');
  for (const c of cells) {
    if (c.ref) console.log(`| ${c.name} | ${c.n} | ${summary(res.get(`${c.name} ${c.n}`))} | |`);
    else console.log(`| ${c.name} | ${c.n} | ${summary(res.get(`${c.name} ${c.n} single`))} | ${summary(res.get(`${c.name} ${c.n} multishot`))} |`);
  }
  console.log(JSON.stringify(Object.fromEntries(res)));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
