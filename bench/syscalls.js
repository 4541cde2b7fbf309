'use strict';
// Syscalls per echoed message, per server: a counting run of its own (separate from run.js's
// CPU cells, since counting costs time). Each server is started, loaded by loadgen (closed loop,
// `--connections` × `--size` B, depth 1), and `perf stat -e raw_syscalls:sys_enter -p PID`
// counts the server's syscalls (all threads) over `--duration` s inside loadgen's measured
// window; divided by the messages loadgen completed in that window. Load-independent, unlike
// CPU figures: the syscalls a server makes per message do not depend on how busy the machine is.
//
//   node bench/syscalls.js [--servers c-epoll,c-uring,polled-embedded,polled-uring,...]
//                          [--connections 100] [--size 64] [--duration 3]
// Writes bench/results/runs/syscalls-<time>.json and prints a markdown table. Needs perf (or
// falls back to strace -c -f, which slows the server but counts the same calls).
const { execFileSync, spawn } = require('child_process');
const fs = require('fs');
const path = require('path');
const { SERVERS, LOADGEN, HOST, RESULTS, buildNative, startServer, stopServer, killLive } = require('./run.js');

function opt(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
}
const names = opt('servers', 'c-epoll,c-uring,polled-embedded,polled-uring,polled-block,polled-uring-block').split(',');
const conns = Number(opt('connections', '100'));
const size = Number(opt('size', '64'));
const duration = Number(opt('duration', '3'));
const warmup = 1;

function have(cmd) {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Counts pid's syscalls for `seconds`: perf stat, else strace -c. */
function countSyscalls(pid, seconds) {
  return new Promise((resolve) => {
    const usePerf = have('perf');
    const argv = usePerf
      ? ['perf', 'stat', '-x,', '-e', 'raw_syscalls:sys_enter', '-p', String(pid), '--', 'sleep', String(seconds)]
      : ['timeout', '-s', 'INT', String(seconds), 'strace', '-c', '-f', '-p', String(pid)];
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', () => {
      if (usePerf) {
        const line = err.split('\n').find((l) => l.includes('raw_syscalls:sys_enter'));
        resolve(line ? { tool: 'perf', count: Number(line.split(',')[0]) } : { tool: 'perf', count: NaN, error: err.trim().slice(-300) });
      } else {
        const total = /\n\s*100\.00\s+\S+\s+\S+\s+(\d+)/.exec(err);
        resolve({ tool: 'strace', count: total ? Number(total[1]) : NaN, error: total ? undefined : err.trim().slice(-300) });
      }
    });
  });
}

function loadgen(port) {
  return new Promise((resolve) => {
    const args = ['--host', HOST, '--port', String(port), '--connections', String(conns), '--size', String(size), '--pipeline', '1',
      '--duration', String(duration + 1), '--warmup', String(warmup), '--json'];
    const child = spawn(LOADGEN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', () => {
      const line = out.split('\n').filter((l) => l.startsWith('{')).pop();
      resolve(line ? JSON.parse(line) : null);
    });
  });
}

async function main() {
  buildNative();
  const rows = [];
  for (const name of names) {
    const entry = SERVERS.find((s) => s.name === name);
    if (!entry) {
      rows.push({ server: name, error: 'no such server in bench/run.js' });
      continue;
    }
    const avail = entry.available ? entry.available() : true;
    if (avail !== true) {
      rows.push({ server: name, error: avail });
      continue;
    }
    const srv = await startServer(entry, { pin: false });
    try {
      const lg = loadgen(srv.port);
      // Count inside loadgen's measured window: after the warm-up (and a little connect time).
      await new Promise((r) => setTimeout(r, (warmup + 0.5) * 1000));
      const counted = await countSyscalls(srv.pid, duration);
      const res = await lg;
      const msgs = res && res.msgs_per_s ? res.msgs_per_s * duration : NaN;
      rows.push({ server: name, syscalls: counted.count, tool: counted.tool, msgs, perMsg: counted.count / msgs, msgsPerS: res && res.msgs_per_s, error: counted.error });
    } finally {
      await stopServer(srv.child);
    }
  }
  const out = { when: new Date().toISOString(), connections: conns, size, pipeline: 1, duration, rows };
  fs.mkdirSync(path.join(RESULTS, 'runs'), { recursive: true });
  const file = path.join(RESULTS, 'runs', `syscalls-${out.when.replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
  console.log(`| server | syscalls / message | msgs/s (this run, not a CPU figure) |\n| --- | ---: | ---: |`);
  for (const r of rows) {
    console.log(r.error && !(r.perMsg >= 0) ? `| ${r.server} | – (${r.error}) | |` : `| ${r.server} | ${r.perMsg.toFixed(3)} | ${Math.round(r.msgsPerS)} |`);
  }
  console.log(`\n${conns} connections × ${size} B, depth 1, counted over ${duration} s (${rows[0] && rows[0].tool}); ${path.relative(process.cwd(), file)}`);
}

main().catch((e) => {
  console.error(`bench/syscalls.js: ${e.stack || e.message}`);
  killLive();
  process.exit(1);
});
