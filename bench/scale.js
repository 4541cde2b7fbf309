'use strict';
// The multi-core cell: does a second worker thread (lib/workers.ts) buy throughput?
//
//   node bench/scale.js [--quick] [--reps 5] [--duration S] [--rounds 100] [--conns 100]
//                       [--threads 1,2] [--driver embedded|block]   (defaults: 5 reps, 3 s, 150 rounds)
//
// The server (bench/servers/polled-work.js) is the echo server with a fixed CPU cost per message
// (`--rounds` chained SHA-256 digests of the payload), so that the server's own work, which a
// second core can share, dominates the kernel's and the load generator's. On a 2-core machine the
// load generator shares the cores with the server threads: it is not pinned here, and its CPU share
// is printed beside every figure. `rounds` is chosen so that it needs under 20 % of a core.
//
// Interleaved: for each rep, each thread count (order rotated per rep), a fresh server process.
// Per run: msgs/s, server CPU % (all threads, from /proc/<pid>/stat at the window's edges, by
// loadgen), msgs per server CPU-second, loadgen CPU %, and the CPU of each thread of the server
// process over the whole run (from /proc/<pid>/task/*/stat).
//
// Only a full run (no option but --out) writes bench/results/scale.{json,md}; anything else
// writes bench/results/runs/scale-<stamp>-partial.* (git ignores runs/).
const fs = require('node:fs');
const path = require('node:path');
const { HOST, LOADGEN, RESULTS, buildNative, startServer, stopServer, killLive, walkOptions, median } = require('./run.js');
const { spawn } = require('node:child_process');

function parseArgs(argv) {
  const a = { quick: false, reps: 5, duration: 3, warmup: 1, rounds: 150, conns: 100, threads: [1, 2], driver: 'embedded', out: null, partial: [] };
  walkOptions(argv, a, (k, val, num) => {
    switch (k) {
      case '--quick': a.quick = true; a.reps = 1; a.duration = 1; a.warmup = 0.5; return true;
      case '--reps': a.reps = num(); return true;
      case '--duration': a.duration = num(); return true;
      case '--rounds': a.rounds = num(); return true;
      case '--conns': a.conns = num(); return true;
      case '--threads': a.threads = String(val()).split(',').map(Number); return true;
      case '--driver': a.driver = val(); return true;
      default: return false;
    }
  });
  return a;
}

/** utime+stime ticks of every thread of `pid`: 'main' for the main thread, else name and tid. */
function threadTicks(pid) {
  const out = {};
  let tids = [];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const name = stat.slice(stat.indexOf('(') + 1, close);
      const f = stat.slice(close + 2).split(' ');
      out[String(tid) === String(pid) ? 'main' : `${name} ${tid}`] = Number(f[11]) + Number(f[12]);
    } catch {
      // the thread ended
    }
  }
  return out;
}

function runLoadgen(args) {
  return new Promise((resolve) => {
    const child = spawn(LOADGEN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => {
      const line = out.split('\n').filter((l) => l.startsWith('{')).pop();
      resolve({ code, json: line ? JSON.parse(line) : null, err });
    });
  });
}

async function one(a, threads) {
  const entry = {
    name: `polled-work-${threads}`,
    cmd: (port) => [process.execPath, path.join(__dirname, 'servers', 'polled-work.js'), '--host', HOST, '--port', String(port), '--threads', String(threads), '--rounds', String(a.rounds), '--driver', a.driver],
  };
  const srv = await startServer(entry, { pin: false });
  try {
    const t0 = threadTicks(srv.pid);
    const lg = await runLoadgen(['--host', HOST, '--port', String(srv.port), '--connections', String(a.conns), '--size', '64', '--duration', String(a.duration), '--warmup', String(a.warmup), '--server-pid', String(srv.pid), '--json']);
    const t1 = threadTicks(srv.pid);
    if (!lg.json || !lg.json.ok) throw new Error(`loadgen failed (${lg.code}): ${lg.err || JSON.stringify(lg.json)}`);
    const hz = lg.json.server.clk_tck;
    const span = a.duration + a.warmup;
    // Threads that used at least 2 % of a core over the run: the workers, and what else the process has.
    const perThread = Object.entries(t1)
      .map(([k, v]) => [k, ((v - (t0[k] ?? 0)) / hz / span) * 100])
      .filter(([, pct]) => pct >= 2)
      .sort((x, y) => y[1] - x[1])
      .map(([k, pct]) => ({ thread: k, cpu_pct: Math.round(pct) }));
    return {
      threads,
      msgs_per_s: lg.json.msgs_per_s,
      server_cpu_pct: lg.json.server.cpu_pct,
      msgs_per_cpu_s: lg.json.server.msgs_per_cpu_s,
      loadgen_cpu_pct: lg.json.loadgen_cpu_pct,
      p99_us: lg.json.lat_us.p99,
      per_thread: perThread,
    };
  } finally {
    await stopServer(srv.child);
  }
}


async function main() {
  const a = parseArgs(process.argv);
  buildNative();
  const runs = [];
  for (let rep = 0; rep < a.reps; rep++) {
    const order = rep % 2 === 0 ? a.threads : [...a.threads].reverse();
    for (const t of order) {
      const r = await one(a, t);
      runs.push({ rep, ...r });
      console.error(`rep ${rep + 1}/${a.reps} threads ${t}: ${Math.round(r.msgs_per_s)} msgs/s, server ${Math.round(r.server_cpu_pct)} % CPU, ` +
        `${Math.round(r.msgs_per_cpu_s)} msgs/CPU-s, loadgen ${r.loadgen_cpu_pct.toFixed(1)} %; threads: ${r.per_thread.map((x) => `${x.thread} ${x.cpu_pct}%`).join(', ')}`);
    }
  }
  const summary = a.threads.map((t) => {
    const rs = runs.filter((r) => r.threads === t);
    const m = (k) => median(rs.map((r) => r[k]));
    return { threads: t, msgs_per_s: m('msgs_per_s'), min: Math.min(...rs.map((r) => r.msgs_per_s)), max: Math.max(...rs.map((r) => r.msgs_per_s)), server_cpu_pct: m('server_cpu_pct'), msgs_per_cpu_s: m('msgs_per_cpu_s'), loadgen_cpu_pct: m('loadgen_cpu_pct'), p99_us: m('p99_us') };
  });
  const base = summary[0];
  const lines = [
    `# Multi-core scaling: echo with ${a.rounds} SHA-256 rounds per 64 B message, ${a.conns} connections, ${a.driver} driver`,
    '',
    `${new Date().toISOString()}, ${a.reps} interleaved reps of ${a.duration} s (medians; min–max msgs/s), load generator unpinned on the same ${require('node:os').cpus().length} cores.`,
    '',
    '| threads | msgs/s | min–max | ÷ 1 thread | server CPU % | msgs per server CPU-s | ÷ 1 thread | loadgen CPU % | p99 ms |',
    '| --: | --: | --: | --: | --: | --: | --: | --: | --: |',
    ...summary.map((s) => `| ${s.threads} | ${Math.round(s.msgs_per_s)} | ${Math.round(s.min)}–${Math.round(s.max)} | ${(s.msgs_per_s / base.msgs_per_s).toFixed(2)}× | ${Math.round(s.server_cpu_pct)} | ${Math.round(s.msgs_per_cpu_s)} | ${(s.msgs_per_cpu_s / base.msgs_per_cpu_s).toFixed(2)}× | ${s.loadgen_cpu_pct.toFixed(1)} | ${(s.p99_us / 1000).toFixed(1)} |`),
    '',
    'Per-thread CPU of the server process in the last rep of each (over warm-up + window, threads above 2 %):',
    '',
    ...a.threads.map((t) => `- ${t} thread(s): ${runs.filter((r) => r.threads === t).pop().per_thread.map((x) => `${x.thread} ${x.cpu_pct} %`).join(', ')}`),
    '',
  ];
  const md = lines.join('\n');
  process.stdout.write(md);
  const full = a.partial.length === 0;
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = full && a.out === null ? RESULTS : path.resolve(a.out ?? path.join(RESULTS, 'runs'));
  const name = full ? 'scale' : `scale-${stamp}-partial`;
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${name}.json`), JSON.stringify({ args: a, summary, runs }, null, 2) + '\n');
  fs.writeFileSync(path.join(dir, `${name}.md`), md);
  console.error(`wrote ${path.relative(process.cwd(), path.join(dir, name))}.{json,md}${full ? '' : ' (a partial run: bench/results/scale.* left as they are)'}`);
}

if (require.main === module) {
  main().catch((e) => {
    console.error(`bench/scale.js: ${e.message}`);
    killLive();
    process.exit(1);
  });
}
