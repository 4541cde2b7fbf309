'use strict';
// polled UDP echo (lib/udp-echo.ts: recvFrom → sendTo, or with --batch N recvMany → sendMany over
// recvmmsg / sendmmsg), run as a process by runUdpEchoServer, as `polled echo --udp` does.
//   node bench/servers/polled-udp-echo.js [--host 127.0.0.1] [--port 0] [--driver embedded|block] [--batch N]
// Needs the build (npm run build:all). Prints exactly one line "listening <host> <port>" when
// ready; exits 0 on SIGTERM/SIGINT.
const { runUdpEchoServer } = require('../../dist/cjs/udp-echo.js');

const { arg } = require('./args.js');
const host = arg('host', '127.0.0.1');
const port = Number(arg('port', '0'));
const driver = arg('driver', 'embedded');
const batch = Number(arg('batch', '1'));

runUdpEchoServer({ host, port, driver, batch, bufferSize: batch > 1 ? 2048 : 65536 }).then(
  () => process.exit(0),
  (e) => {
    console.error(`polled-udp-echo: ${e && e.message}`);
    process.exit(1);
  },
);
