'use strict';
// polled echo (lib/echo.ts over lib/serve.ts: one task per connection, read → write into one
// shared buffer), run as a process by lib/cli.ts's runEchoServer.
//   node bench/servers/polled-echo.js [--host 127.0.0.1] [--port 0] [--driver embedded|block]
//                                     [--io readiness|uring|auto]   (RuntimeOptions.io)
// Needs the build (npm run build:all). Prints exactly one line "listening <host> <port>" when
// ready; exits 0 on SIGTERM/SIGINT (after closing its connections).
const { runEchoServer } = require('../../dist/cjs/cli.js');
const { Runtime } = require('../../dist/cjs/index.js');

const { arg } = require('./args.js');
const host = arg('host', '127.0.0.1');
const port = Number(arg('port', '0'));
const driver = arg('driver', 'embedded');
const io = arg('io', 'readiness');
const runtime = io === 'readiness' ? undefined : new Runtime({ io });

runEchoServer({ host, port, driver, backlog: 4096, graceMs: 500, runtime }).then(
  () => process.exit(0),
  (e) => {
    console.error(`polled-echo: ${e && e.message}`);
    process.exit(1);
  },
);
