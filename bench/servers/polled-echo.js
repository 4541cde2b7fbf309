'use strict';
// polled echo (lib/echo.ts: one task per connection, read → write into one buffer).
//   node bench/servers/polled-echo.js [--host 127.0.0.1] [--port 0] [--driver embedded|block]
// Needs the build (npm run build:all). Prints exactly one line "listening <host> <port>" when
// ready; exits 0 on SIGTERM/SIGINT (after closing its connections).
const { runEchoServer } = require('../../dist/cjs/index.js');

function arg(name, def) {
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${name}`) return argv[i + 1];
    if (argv[i].startsWith(`--${name}=`)) return argv[i].slice(name.length + 3);
  }
  return def;
}
const host = arg('host', '127.0.0.1');
const port = Number(arg('port', '0'));
const driver = arg('driver', 'embedded');

runEchoServer({ host, port, driver, backlog: 4096, graceMs: 500 }).then(
  () => process.exit(0),
  (e) => {
    console.error(`polled-echo: ${e && e.message}`);
    process.exit(1);
  },
);
