'use strict';
// Memory per idle connection.
//
//   node bench/memory.js [--servers a,b] [--conns 10000] [--size 16]
//
// For each server of the table in bench/run.js whose file exists: start it, read its RSS,
// open --conns connections from a separate process (bench/bin/loadgen --idle; the fd
// limit is per process, so the client holds its 10,000 sockets and the server its own),
// echo one small message on every connection (so every connection is known to be
// accepted and served), let the server settle, read its RSS again, and report
// (after - before) / conns.  Writes bench/results/memory.json and memory.md.
// Bounded: each server gets at most ~25 s, the whole run stops starting servers after 50 s.

const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const bench = require('./run.js');

const { HOST, LOADGEN, RESULTS, ROOT } = bench;
const TOTAL_BUDGET_MS = 50000;

function parseArgs(argv) {
  const a = { servers: null, conns: 10000, size: 16, settleMs: 700, partial: [] };
  for (let i = 2; i < argv.length; i++) {
    let k = argv[i], v;
    const eq = k.indexOf('=');
    if (k.startsWith('--') && eq > 0) { v = k.slice(eq + 1); k = k.slice(0, eq); }
    const val = () => (v !== undefined ? v : argv[++i]);
    if (k !== '-h' && k !== '--help') a.partial.push(k);
    if (k === '--servers') a.servers = val().split(',').map((s) => s.trim()).filter(Boolean);
    else if (k === '--conns') a.conns = Number(val());
    else if (k === '--size') a.size = Number(val());
    else if (k === '--settle-ms') a.settleMs = Number(val());
    else if (k === '-h' || k === '--help') {
      console.log('usage: node bench/memory.js [--servers a,b] [--conns 10000] [--size 16] [--settle-ms 700]\n' +
        'Only the default run replaces bench/results/memory.*; any option writes to bench/results/runs/ instead.');
      process.exit(0);
    } else throw new Error(`unknown argument: ${k}`);
  }
  if (!(a.conns > 0) || !(a.size > 0)) throw new Error('--conns and --size must be positive');
  return a;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function status(pid) {
  return {
    rss_kb: bench.readStatusKb(pid, 'VmRSS'),
    hwm_kb: bench.readStatusKb(pid, 'VmHWM'),
  };
}
function countFds(pid) {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
}

/** Start loadgen --idle; resolve when it prints its ready JSON line. */
function startClients(port, conns, size, timeoutMs) {
  return new Promise((resolve, reject) => {
    const child = spawn(LOADGEN, ['--idle', '--json', '--host', HOST, '--port', String(port), '--connections', String(conns),
      '--size', String(size), '--connect-batch', '256', '--connect-timeout', String(timeoutMs / 1000),
      '--hold-timeout', '60'], { stdio: ['ignore', 'pipe', 'pipe'] });
    bench.live.add(child);
    let out = '', err = '', done = false;
    const finish = (e, v) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (e) { try { child.kill('SIGKILL'); } catch {} reject(e); } else resolve(v);
    };
    const timer = setTimeout(() => finish(new Error(`clients not ready within ${timeoutMs} ms`)), timeoutMs + 2000);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (!line || !out.includes('\n')) return;
      let j;
      try { j = JSON.parse(line); } catch { return; }
      if (j.ok) finish(null, { child, info: j });
      else finish(new Error(j.error || 'loadgen failed'));
    });
    child.stderr.on('data', (d) => { err += d; });
    child.on('exit', (code, sig) => {
      bench.live.delete(child);
      child.exited = true;
      finish(new Error(`loadgen exited (${sig || code}): ${err.trim()}`));
    });
  });
}

async function measure(entry, args) {
  const t0 = Date.now();
  const srv = await bench.startServer(entry, { pin: false });
  let clients = null;
  try {
    await sleep(300);
    const before = status(srv.pid);
    const fdsBefore = countFds(srv.pid);
    clients = await startClients(srv.port, args.conns, args.size, 20000);
    await sleep(args.settleMs);
    const after = status(srv.pid);
    const fdsAfter = countFds(srv.pid);
    const perConn = ((after.rss_kb - before.rss_kb) * 1024) / args.conns;
    return {
      server: entry.name, group: entry.group, conns: args.conns, ok: true,
      rss_before_kb: before.rss_kb, rss_after_kb: after.rss_kb, hwm_after_kb: after.hwm_kb,
      rss_per_conn_bytes: Math.round(perConn), fds_before: fdsBefore, fds_after: fdsAfter,
      client_connect_s: clients.info.connect_s, client_echo_s: clients.info.echo_s, wall_s: (Date.now() - t0) / 1000,
    };
  } finally {
    if (clients) {
      try { clients.child.kill('SIGTERM'); } catch {}
      await new Promise((r) => (clients.child.exited ? r() : clients.child.once('exit', r)));
    }
    await bench.stopServer(srv.child);
  }
}

async function main() {
  const t0 = Date.now();
  const args = parseArgs(process.argv);
  bench.buildNative();
  const { run, skipped } = bench.selectServers(args.servers);
  for (const s of skipped) console.error(`skip ${s.name}: ${s.reason}`);
  const results = [];
  for (const entry of run) {
    if (Date.now() - t0 > TOTAL_BUDGET_MS) {
      skipped.push({ name: entry.name, reason: 'time budget exhausted' });
      continue;
    }
    process.stderr.write(`${entry.name}: ${args.conns} idle connections … `);
    try {
      const r = await measure(entry, args);
      results.push(r);
      console.error(`${r.rss_per_conn_bytes} B/conn (RSS ${(r.rss_before_kb / 1024).toFixed(1)} → ` +
        `${(r.rss_after_kb / 1024).toFixed(1)} MB, ${r.wall_s.toFixed(1)} s)`);
    } catch (e) {
      results.push({ server: entry.name, group: entry.group, conns: args.conns, ok: false, error: e.message });
      console.error(`FAILED: ${e.message}`);
    }
  }

  // node:net reference: the leaner of its variants
  const nodeRows = results.filter((r) => r.ok && r.group === 'node:net');
  const nodeRef = nodeRows.length ? Math.min(...nodeRows.map((r) => r.rss_per_conn_bytes)) : null;
  const cRow = results.find((r) => r.ok && r.group === 'c-epoll');
  for (const r of results) {
    if (!r.ok) continue;
    r.vs_node = nodeRef ? r.rss_per_conn_bytes / nodeRef : null;
    r.vs_c = cRow && cRow.rss_per_conn_bytes > 0 ? r.rss_per_conn_bytes / cRow.rss_per_conn_bytes : null;
  }

  const order = bench.groupOrder(results.map((r) => r.group));
  results.sort((a, b) => order.indexOf(a.group) - order.indexOf(b.group) || a.server.localeCompare(b.server));
  const wall = (Date.now() - t0) / 1000;
  const meta = {
    date: new Date().toISOString(), node: process.versions.node, conns: args.conns, message_size: args.size,
    settle_ms: args.settleMs, wall_s: Number(wall.toFixed(1)), skipped,
    method: 'server VmRSS after all connections echoed one message, minus VmRSS before any connection, / conns; ' +
      'clients in a separate process (bench/bin/loadgen --idle). Kernel socket memory is not in RSS.',
  };
  const f = bench.fmtNum;
  const L = [];
  L.push(`# Memory per idle connection`, '');
  L.push(`${meta.date} · Node ${meta.node} · ${args.conns.toLocaleString('en-US')} connections, one ${args.size}-byte echo each · ` +
    `wall time ${meta.wall_s} s`, '');
  L.push('| server | RSS before MB | RSS after MB | RSS per conn (bytes) | ÷ node:net | peak RSS MB | server fds |');
  L.push('|---|--:|--:|--:|--:|--:|--:|');
  for (const r of results) {
    if (!r.ok) { L.push(`| ${r.server} | failed: ${r.error} | | | | | |`); continue; }
    L.push(`| ${r.server} | ${f(r.rss_before_kb / 1024, 1)} | ${f(r.rss_after_kb / 1024, 1)} | ${f(r.rss_per_conn_bytes)} | ` +
      `${r.vs_node == null ? '–' : r.vs_node.toFixed(2) + '×'} | ${f(r.hwm_after_kb / 1024, 1)} | ${f(r.fds_after)} |`);
  }
  if (skipped.length) {
    L.push('', 'Skipped:', '');
    for (const s of skipped) L.push(`- ${s.name}: ${s.reason}`);
  }
  L.push('', 'RSS per conn = (VmRSS after − VmRSS before) / connections: user-space memory only (kernel socket ' +
    'buffers are not counted). ÷ node:net is relative to the leaner node:net variant.');
  const md = L.join('\n') + '\n';
  // Only the default run replaces the committed memory.{json,md}; a narrowed one goes to runs/.
  const stamp = new Date().toISOString().replace(/[:]/g, '-').replace(/\..*$/, '');
  const dir = args.partial.length === 0 ? RESULTS : path.join(RESULTS, 'runs');
  const base = args.partial.length === 0 ? 'memory' : `memory-${stamp}-partial`;
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${base}.json`), JSON.stringify({ meta, results }, null, 1) + '\n');
  fs.writeFileSync(path.join(dir, `${base}.md`), md);
  process.stdout.write('\n' + md);
  console.error(`\nwrote ${path.relative(ROOT, path.join(dir, base))}.{json,md}; wall time ${wall.toFixed(1)} s`);
  if (results.some((r) => !r.ok)) process.exitCode = 1;
}

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { bench.killLive(); process.exit(130); });
main().catch((e) => {
  console.error(`bench/memory.js: ${e.message}`);
  bench.killLive();
  process.exit(1);
});
