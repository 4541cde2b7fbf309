'use strict';
// polled echo (lib/echo.ts over lib/serve.ts: one task per connection, read → write into one
// shared buffer), run as a process by lib/cli.ts's runEchoServer.
//   node bench/servers/polled-echo.js [--host 127.0.0.1] [--port 0] [--driver embedded|block]
//                                     [--observe off|metrics|trace|longpoll]
// --observe: the runtime observed (lib/observe.ts): `metrics` counts (metrics, task dump, long-poll
// warnings), `trace` also records the trace ring (65,536 events, never written), `longpoll` is the
// long-poll warning alone (`longPoll: true`): what each costs.
//                                     [--io readiness|uring|auto]   (RuntimeOptions.io)
// Needs the build (npm run build:all). Prints exactly one line "listening <host> <port>" when
// ready; exits 0 on SIGTERM/SIGINT (after closing its connections).
const { runEchoServer } = require('../../dist/cjs/cli.js');
const { Runtime } = require('../../dist/cjs/index.js');

const { arg } = require('./args.js');
const host = arg('host', '127.0.0.1');
const port = Number(arg('port', '0'));
const driver = arg('driver', 'embedded');
const observe = arg('observe', 'off');
if (!['off', 'metrics', 'trace', 'longpoll'].includes(observe)) throw new TypeError(`--observe must be off, metrics, trace or longpoll, got ${observe}`);
const io = arg('io', 'readiness');
const observing = observe === 'off' ? {} : observe === 'longpoll' ? { longPoll: true } : { metrics: { trace: observe === 'trace' } };
const runtime = observe === 'off' && io === 'readiness' ? undefined : new Runtime({ ...observing, io });

runEchoServer({ host, port, driver, backlog: 4096, graceMs: 500, runtime }).then(
  () => process.exit(0),
  (e) => {
    console.error(`polled-echo: ${e && e.message}`);
    process.exit(1);
  },
);
