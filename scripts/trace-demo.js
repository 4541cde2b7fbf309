#!/usr/bin/env node
'use strict';
// The picture in the README: a short echo run with three clients, traced and drawn.
//   npm run build:all && node scripts/trace-demo.js [out.svg]      (default docs/trace-echo.svg)
// Starts `polled echo` with POLLED_TRACE, connects three clients that each send four small
// messages a few ms apart (one after the other gets its reply), stops the server (the trace is
// written at exit), and draws the part of the trace where the clients talk.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { model, render } = require('./trace-svg.js');

const ROOT = path.resolve(__dirname, '..');
const out = process.argv[2] || path.join(ROOT, 'docs', 'trace-echo.svg');
const json = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'polled-trace-')), 'echo.json');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function client(port, id) {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  for (let i = 0; i < 4; i++) {
    const msg = `client ${id} message ${i}\n`;
    sock.write(msg);
    let got = '';
    await new Promise((r) => sock.on('data', function on(d) {
      got += d;
      if (got.length >= msg.length) {
        sock.off('data', on);
        r();
      }
    }));
    await sleep(2 + id);
  }
  sock.end();
  await new Promise((r) => sock.once('close', r));
}

async function main() {
  const srv = spawn(process.execPath, [path.join(ROOT, 'dist/cjs/cli.js'), 'echo', '--port', '0', '--quiet'], {
    env: { ...process.env, POLLED_TRACE: json },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise((resolve, reject) => {
    let buf = '';
    srv.stdout.on('data', (d) => {
      buf += d;
      const m = /listening \S+ (\d+)/.exec(buf);
      if (m) resolve(Number(m[1]));
    });
    srv.on('exit', () => reject(new Error('the server exited before listening')));
  });
  await sleep(20);
  await Promise.all([client(port, 1), client(port, 2), client(port, 3)]);
  await sleep(5);
  srv.kill('SIGINT');
  await new Promise((r) => srv.on('exit', r));
  const doc = JSON.parse(fs.readFileSync(json, 'utf8'));
  const tracks = model(doc.traceEvents);
  // The window: from the first connection's first poll to the last one's last.
  let from = Infinity, to = 0;
  for (const t of tracks) for (const k of t.tasks.values()) {
    if (k.name !== 'connection') continue;
    for (const [s, e] of k.polls) {
      from = Math.min(from, s);
      to = Math.max(to, e);
    }
  }
  const pad = (to - from) * 0.03;
  fs.writeFileSync(out, render(tracks, { width: 1000, from: Math.max(0, from - pad), to: to + pad, maxTasks: 12 }));
  process.stderr.write(`trace-demo: wrote ${out} from ${json}\n`);
}

main().catch((e) => {
  process.stderr.write(`trace-demo: ${e.stack || e}\n`);
  process.exit(1);
});
