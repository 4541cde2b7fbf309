'use strict';
// The mixed cell: is a server fair when one kind of client moves megabytes and another pings?
//
//   node bench/fairness.js [--quick] [--servers a,b] [--reps 3] [--duration S] [--warmup S]
//                          [--no-pin] [--out DIR]      (defaults: 3 reps, 3 s after 1 s warm-up)
//
// One server process; two load generator processes started together against it:
//   bulk   10 connections echoing 1 MiB messages, 4 in flight per connection
//   small 100 connections echoing 64 B, one in flight (ping-pong)
// Reported per run: the small connections' msgs/s and p99 (and how long their connect + prime
// took: accepts that wait behind a bulk connection show there), the bulk MB/s, and what the
// rest of the machine used meanwhile. The bulk load generator measures 2 s longer than the
// small one, so that the small one's window lies inside the bulk one's (recorded as `covered`;
// a run where it does not is flagged). Server pinned to CPU 0, both load generators to CPU 1.
//
// Then, on the same server process, the bulk load alone (the same 10 connections, the small
// window's length): its MB/s and the server's CPU per MB say what the bulk path itself costs, so
// that a mixed-run bulk figure below C's can be read as the CPU the small connections got (C's
// starve) rather than as a slower bulk path.
//
// Interleaved: for each rep, each server (order rotated per rep), a fresh server process. Three
// reps with min and max shown, because the failure this cell looks for is bimodal: most runs
// fair, and some where one bulk connection holds the thread for seconds.
//
// Targets (issue 23), every rep, every polled entry: small p99 <= 15 ms, small msgs/s >= 20,000,
// bulk MB/s >= 0.8x the C server's in the same rep.
//
// Only a full run (no option but --out, no POLLED_BASELINE) writes bench/results/fairness.{json,md};
// anything else writes bench/results/runs/fairness-<stamp>-partial.* (git ignores runs/).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, execFileSync } = require('node:child_process');
const { HOST, LOADGEN, RESULTS, ROOT, buildNative, selectServers, startServer, stopServer, killLive, live, fmtNum, walkOptions, median, machineBusy } = require('./run.js');

const BULK = { connections: 10, size: 1 << 20, pipeline: 4 };
const SMALL = { connections: 100, size: 64, pipeline: 1 };
const BULK_TAIL_S = 2; // the bulk window outlasts the small one by this much
const TARGET = { p99_ms: 15, msgs_per_s: 20000, bulk_vs_c: 0.8 };
// Every backend the build has (issue 23's targets hold for each): epoll / kqueue and io_uring,
// both drivers.
const DEFAULT_SERVERS = ['polled-embedded', 'polled-block', 'polled-uring', 'polled-uring-block', 'c-epoll', 'node-net-data', 'base-embedded', 'base-block'];

function parseArgs(argv) {
  const a = { quick: false, servers: null, reps: 3, duration: 3, warmup: 1, pin: true, out: null, partial: [] };
  walkOptions(argv, a, (k, val, num) => {
    switch (k) {
      case '--quick': a.quick = true; a.reps = 1; a.duration = 1.5; a.warmup = 0.5; return true;
      case '--servers': a.servers = String(val()).split(',').map((s) => s.trim()).filter(Boolean); return true;
      case '--reps': a.reps = num(); return true;
      case '--duration': a.duration = num(); return true;
      case '--warmup': a.warmup = Number(val()); return true;
      case '--no-pin': a.pin = false; return true;
      case '-h': case '--help':
        console.log('usage: node bench/fairness.js [--quick] [--servers a,b] [--reps 3] [--duration S] [--warmup S] [--no-pin] [--out DIR]');
        process.exit(0);
      // falls through
      default: return false;
    }
  });
  return a;
}

function pinning(enabled) {
  if (!enabled) return { server: [], loadgen: [], note: 'disabled (--no-pin)' };
  const ncpu = os.availableParallelism ? os.availableParallelism() : os.cpus().length;
  if (ncpu < 2) return { server: [], loadgen: [], note: `not pinned (${ncpu} CPU)` };
  try {
    execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
  } catch {
    return { server: [], loadgen: [], note: 'not pinned (taskset not available)' };
  }
  return { server: ['taskset', '-c', '0'], loadgen: ['taskset', '-c', '1'], note: 'server on CPU 0, both load generators on CPU 1 (taskset -c)' };
}

function runLoadgen(prefix, args, timeoutMs) {
  const argv = [...prefix, LOADGEN, ...args];
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err = (err + d).slice(-4096)));
    const timer = setTimeout(() => {
      err += `\nloadgen killed after ${timeoutMs} ms`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('exit', (code, sig) => {
      clearTimeout(timer);
      live.delete(child);
      let json = null;
      const line = out.split('\n').filter((l) => l.startsWith('{')).pop();
      if (line) {
        try {
          json = JSON.parse(line);
        } catch {}
      }
      resolve({ code: code === null ? `signal ${sig}` : code, json, stderr: err.trim() });
    });
  });
}


async function one(entry, rep, a, pin) {
  const base = { server: entry.name, group: entry.group, rep, ok: false };
  const busyBefore = await machineBusy(250);
  const pinned = { ...entry, cmd: (port) => [...pin.server, ...entry.cmd(port)] };
  let srv;
  try {
    srv = await startServer(pinned, { pin: false });
  } catch (e) {
    return { ...base, error: e.message, busy_before_pct: busyBefore };
  }
  try {
    const common = ['--host', srv.host === '0.0.0.0' || srv.host === '::' ? HOST : srv.host, '--port', String(srv.port), '--json', '--server-pid', String(srv.pid), '--warmup', String(a.warmup)];
    const limit = (a.warmup + a.duration + BULK_TAIL_S) * 1000 + 60000;
    const args = (c, duration) => [...common, '--connections', String(c.connections), '--size', String(c.size), '--pipeline', String(c.pipeline), '--duration', String(duration)];
    const t0 = Date.now();
    const [bulk, small] = await Promise.all([
      runLoadgen(pin.loadgen, args(BULK, a.duration + BULK_TAIL_S), limit),
      runLoadgen(pin.loadgen, args(SMALL, a.duration), limit),
    ]);
    const wall = (Date.now() - t0) / 1000;
    const bad = [['bulk', bulk], ['small', small]].filter(([, r]) => r.code !== 0 || !r.json || !r.json.ok);
    if (bad.length) {
      return { ...base, busy_before_pct: busyBefore, error: bad.map(([w, r]) => `${w}: ${(r.json && r.json.error) || r.stderr || `exit ${r.code}`}`).join('; ') };
    }
    const b = bulk.json;
    const s = small.json;
    const alone = await runLoadgen(pin.loadgen, args(BULK, a.duration), limit);
    const al = alone.code === 0 && alone.json && alone.json.ok ? alone.json : null;
    const aloneCpuS = al && al.server && al.server.cpu_s != null ? al.server.cpu_s : null;
    // Both processes start together; each loads the server from the end of its connect + prime
    // (the warm-up is load too) and measures after its warm-up. Covered: the bulk load was on
    // for the whole of the small window.
    const bLoad = b.connect_s + b.prime_s;
    const sStart = s.connect_s + s.prime_s + a.warmup;
    const covered = sStart >= bLoad && sStart + s.window_s <= bLoad + a.warmup + b.window_s;
    const srvCpu = s.server && s.server.cpu_pct != null ? s.server.cpu_pct : null;
    const other = s.machine && srvCpu != null ? Math.max(0, s.machine.busy_pct - s.machine.softirq_pct - srvCpu - s.loadgen_cpu_pct - b.loadgen_cpu_pct) : null;
    return {
      ...base, ok: true, wall_s: wall, covered, busy_before_pct: busyBefore,
      small_msgs_per_s: s.msgs_per_s, small_p50_us: s.lat_us.p50, small_p99_us: s.lat_us.p99, small_max_us: s.lat_us.max,
      small_conn_msgs: s.conn_msgs, small_setup_s: s.connect_s + s.prime_s,
      bulk_mb_per_s: b.mb_per_s, bulk_p99_us: b.lat_us.p99, bulk_conn_msgs: b.conn_msgs, bulk_setup_s: b.connect_s + b.prime_s,
      server_cpu_pct: srvCpu, loadgen_cpu_pct: { small: s.loadgen_cpu_pct, bulk: b.loadgen_cpu_pct },
      bulk_alone_mb_per_s: al ? al.mb_per_s : null,
      // Server CPU ms per MB echoed (one direction), bulk alone.
      bulk_alone_cpu_ms_per_mb: al && aloneCpuS !== null && al.mb_per_s > 0 ? (1000 * aloneCpuS) / (al.mb_per_s * al.window_s) : null,
      bulk_alone_error: al ? null : (alone.json && alone.json.error) || alone.stderr || `exit ${alone.code}`,
      machine: s.machine || null, other_cpu_pct: other,
      small: s, bulk: b,
    };
  } finally {
    await stopServer(srv.child);
  }
}

const range = (xs, f) => {
  const v = xs.filter((x) => Number.isFinite(x));
  return v.length ? `${f(Math.min(...v))} – ${f(Math.max(...v))}` : '–';
};
const ms = (us) => (us >= 100000 ? fmtNum(us / 1000, 0) : fmtNum(us / 1000, 1));

/** The issue's targets for one run, against the C server's run of the same rep. */
function verdict(r, runs) {
  if (!r.ok) return { pass: false, why: ['failed'] };
  const c = runs.find((x) => x.ok && x.group === 'c-epoll' && x.rep === r.rep);
  const why = [];
  if (r.small_p99_us > TARGET.p99_ms * 1000) why.push(`p99 ${ms(r.small_p99_us)} ms`);
  if (r.small_msgs_per_s < TARGET.msgs_per_s) why.push(`${fmtNum(r.small_msgs_per_s)} msgs/s`);
  const vsC = c ? r.bulk_mb_per_s / c.bulk_mb_per_s : null;
  if (vsC !== null && vsC < TARGET.bulk_vs_c) why.push(`bulk ${vsC.toFixed(2)}× C`);
  return { pass: why.length === 0, why, bulk_vs_c: vsC };
}

function markdown(meta, runs, groups) {
  const L = [];
  L.push('# Fairness: 100 small connections beside 10 bulk ones', '');
  L.push(`${meta.date} · ${meta.cpu_model} · ${meta.cpus} CPU · Linux ${meta.kernel} · Node ${meta.node} · ${meta.pinning}`);
  L.push(`${meta.reps} interleaved rep(s) · small window ${meta.duration_s} s (bulk ${meta.duration_s + BULK_TAIL_S} s) after ${meta.warmup_s} s warm-up · ` +
    `bulk: ${BULK.connections} × ${BULK.size / 1048576} MiB, pipeline ${BULK.pipeline} · small: ${SMALL.connections} × ${SMALL.size} B ping-pong · wall ${meta.wall_s} s`, '');
  L.push(`Targets (issue 23), every rep: small p99 ≤ ${TARGET.p99_ms} ms, small msgs/s ≥ ${fmtNum(TARGET.msgs_per_s)}, bulk MB/s ≥ ${TARGET.bulk_vs_c}× C's in the same rep.`, '');
  L.push('| server | small msgs/s median | min – max | small p99 ms median | min – max | bulk MB/s median | min – max | bulk ÷ C | bulk alone MB/s median | bulk alone ÷ C | bulk alone CPU ms/MB | small setup s max | other CPU % max | targets |');
  L.push('|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|');
  for (const g of groups) {
    const rs = runs.filter((r) => r.group === g && r.ok);
    const all = runs.filter((r) => r.group === g);
    const v = all.map((r) => verdict(r, runs));
    const target = g === 'c-epoll' || g === 'node:net' ? '(reference)' : v.every((x) => x.pass) ? 'met' : `missed in ${v.filter((x) => !x.pass).length}/${v.length}`;
    const vsC = median(v.map((x) => x.bulk_vs_c));
    const aloneVsC = median(rs.map((r) => {
      const c = runs.find((x) => x.ok && x.group === 'c-epoll' && x.rep === r.rep);
      return c && c.bulk_alone_mb_per_s && r.bulk_alone_mb_per_s ? r.bulk_alone_mb_per_s / c.bulk_alone_mb_per_s : null;
    }).filter((x) => x !== null));
    const aloneMb = median(rs.map((r) => r.bulk_alone_mb_per_s).filter((x) => x !== null));
    const aloneCpu = median(rs.map((r) => r.bulk_alone_cpu_ms_per_mb).filter((x) => x !== null));
    L.push(`| ${g} | ${fmtNum(median(rs.map((r) => r.small_msgs_per_s)))} | ${range(rs.map((r) => r.small_msgs_per_s), fmtNum)} | ` +
      `${rs.length ? ms(median(rs.map((r) => r.small_p99_us))) : '–'} | ${range(rs.map((r) => r.small_p99_us), ms)} | ` +
      `${fmtNum(median(rs.map((r) => r.bulk_mb_per_s)))} | ${range(rs.map((r) => r.bulk_mb_per_s), fmtNum)} | ${vsC === null ? '–' : `${vsC.toFixed(2)}×`} | ` +
      `${aloneMb == null ? '–' : fmtNum(aloneMb)} | ${aloneVsC == null ? '–' : `${aloneVsC.toFixed(2)}×`} | ${aloneCpu == null ? '–' : aloneCpu.toFixed(3)} | ` +
      `${rs.length ? Math.max(...rs.map((r) => r.small_setup_s)).toFixed(2) : '–'} | ${rs.length ? fmtNum(Math.max(...rs.map((r) => r.other_cpu_pct ?? 0))) : '–'} | ${target} |`);
  }
  L.push('', 'Every run:', '');
  L.push('| rep | server | small msgs/s | small p50 ms | small p99 ms | small max ms | small conns starved | bulk MB/s | bulk alone MB/s | server CPU % | other CPU % | machine busy % | covered | targets |');
  L.push('|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|');
  for (const r of runs) {
    if (!r.ok) {
      L.push(`| ${r.rep + 1} | ${r.group} | FAILED: ${String(r.error).slice(0, 200).replace(/\|/g, '/')} |||||||||||||`);
      continue;
    }
    const v = verdict(r, runs);
    const ref = r.group === 'c-epoll' || r.group === 'node:net';
    L.push(`| ${r.rep + 1} | ${r.group} | ${fmtNum(r.small_msgs_per_s)} | ${ms(r.small_p50_us)} | ${ms(r.small_p99_us)} | ${ms(r.small_max_us)} | ${r.small_conn_msgs.starved} | ` +
      `${fmtNum(r.bulk_mb_per_s)} | ${r.bulk_alone_mb_per_s == null ? '–' : fmtNum(r.bulk_alone_mb_per_s)} | ${fmtNum(r.server_cpu_pct)} | ${fmtNum(r.other_cpu_pct)}${r.other_cpu_pct > 10 ? ' ⚠' : ''} | ${r.machine ? fmtNum(r.machine.busy_pct) : '–'}${r.machine && r.machine.busy_pct > meta.cpus * 100 - 10 ? ' ⚠' : ''} | ${r.covered ? 'yes' : 'no ⚠'} | ` +
      `${ref ? '' : v.pass ? 'met' : v.why.join(', ')} |`);
  }
  L.push('', '`other CPU %`: machine busy − softirq − server − both load generators, over the small window (% of one CPU); above 10 the run shared the machine. ' +
    'It misses other processes\' own loopback traffic, which the kernel counts as softirq: `machine busy %` near 100 × CPUs means no slack was left (⚠ within 10 of all CPUs). ' +
    '`bulk alone`: the same bulk load on the same server right after, with no small connections (MB/s; server CPU ms per MB echoed): what the bulk path costs by itself, ' +
    'so that a mixed bulk figure below C\'s is read against it (C starves the small connections, so its bulk keeps the whole CPU). ' +
    '`covered`: the bulk load ran for the whole small window. `small setup s`: connect + one verified echo per small connection, under the bulk load already running (accepts that wait show here).', '');
  return L.join('\n');
}

async function main() {
  const a = parseArgs(process.argv);
  buildNative();
  const want = a.servers ?? DEFAULT_SERVERS.filter((n) => !n.startsWith('base-') || process.env.POLLED_BASELINE);
  const { run: servers, skipped } = selectServers(want);
  for (const s of skipped) console.error(`skip ${s.name}: ${s.reason}`);
  if (!servers.length) throw new Error('no server to run');
  const pin = pinning(a.pin);
  const busy = await machineBusy(500);
  if (busy !== null && busy > 10) console.error(`warning: the machine is not idle (${busy.toFixed(0)} % of a CPU busy before starting); results will be noisy`);
  console.error(`fairness: ${servers.map((s) => s.name).join(', ')} × ${a.reps} rep(s); ${pin.note}`);
  const t0 = Date.now();
  const runs = [];
  for (let rep = 0; rep < a.reps; rep++) {
    const k = rep % servers.length;
    for (const s of [...servers.slice(k), ...servers.slice(0, k)]) {
      const r = await one(s, rep, a, pin);
      runs.push(r);
      console.error(r.ok
        ? `rep ${rep + 1}/${a.reps} ${s.name}: small ${fmtNum(r.small_msgs_per_s)} msgs/s p99 ${ms(r.small_p99_us)} ms (setup ${r.small_setup_s.toFixed(2)} s), ` +
          `bulk ${fmtNum(r.bulk_mb_per_s)} MB/s (alone ${r.bulk_alone_mb_per_s == null ? `failed: ${r.bulk_alone_error}` : fmtNum(r.bulk_alone_mb_per_s)}), server ${fmtNum(r.server_cpu_pct)} %, other ${fmtNum(r.other_cpu_pct)} %${r.covered ? '' : ', NOT covered'}`
        : `rep ${rep + 1}/${a.reps} ${s.name}: FAILED ${r.error}`);
    }
  }
  const groups = [...new Set(servers.map((s) => s.group))];
  const meta = {
    date: new Date().toISOString(), wall_s: Number(((Date.now() - t0) / 1000).toFixed(1)), node: process.versions.node, kernel: os.release(),
    cpus: os.cpus().length, cpu_model: (os.cpus()[0] || {}).model || '?', pinning: pin.note, machine_busy_before_pct: busy,
    reps: a.reps, duration_s: a.duration, warmup_s: a.warmup, bulk: BULK, small: SMALL, bulk_tail_s: BULK_TAIL_S, targets: TARGET,
    servers: servers.map((s) => s.name), skipped, baseline: process.env.POLLED_BASELINE || null,
  };
  const md = markdown(meta, runs, groups);
  process.stdout.write(md);
  const full = a.partial.length === 0 && !process.env.POLLED_BASELINE;
  const stamp = meta.date.replace(/[:.]/g, '-');
  const dir = full && a.out === null ? RESULTS : path.resolve(a.out ?? path.join(RESULTS, 'runs'));
  const name = full ? 'fairness' : `fairness-${stamp}-partial`;
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${name}.json`), JSON.stringify({ meta, runs: runs.map((r) => ({ ...r, verdict: verdict(r, runs) })) }, null, 1) + '\n');
  fs.writeFileSync(path.join(dir, `${name}.md`), md);
  console.error(`wrote ${path.relative(ROOT, path.join(dir, name))}.{json,md}${full ? '' : ' (a partial run: bench/results/fairness.* left as they are)'}`);
  if (runs.some((r) => !r.ok)) process.exitCode = 1;
}

if (require.main === module) {
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killLive(); process.exit(130); });
  main().catch((e) => {
    console.error(`bench/fairness.js: ${e.message}`);
    killLive();
    process.exit(1);
  });
}
