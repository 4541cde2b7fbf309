'use strict';
// An echo server with a fixed CPU cost per message on N polled worker threads (lib/workers.ts),
// for bench/scale.js:
//   node bench/servers/polled-work.js [--host 127.0.0.1] [--port 0] [--threads 1] [--rounds 50]
//                                     [--driver embedded|block]
// Prints one line "listening <host> <port>" once every worker listens; exits 0 on SIGTERM.
const path = require('node:path');
const { startWorkers } = require('../../dist/cjs/index.js');
const { arg } = require('./args.js');

const host = arg('host', '127.0.0.1');
const port = Number(arg('port', '0'));
const threads = Number(arg('threads', '1'));
const rounds = Number(arg('rounds', '50'));
const driver = arg('driver', 'embedded');

let listening = 0;
const group = startWorkers(path.join(__dirname, 'work-worker.js'), {
  threads,
  driver,
  data: { host, port, rounds },
  graceMs: 500,
  onMessage: (_i, m) => {
    if (m && m.type === 'listening' && ++listening === threads) process.stdout.write(`${m.line}\n`);
  },
});
group.join().then((exits) => process.exit(exits.some((e) => e.error) ? 1 : 0));
