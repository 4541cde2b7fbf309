'use strict';
// node:dgram UDP echo: each 'message' sent straight back to its sender (the idiomatic server).
//   node bench/servers/node-dgram-echo.js [--host 127.0.0.1] [--port 0]
// Prints exactly one line "listening <host> <port>" when ready; exits 0 on SIGTERM/SIGINT.
const dgram = require('node:dgram');
const { arg } = require('./args.js');
const host = arg('host', '127.0.0.1');
const port = Number(arg('port', '0'));

const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
sock.on('message', (msg, rinfo) => sock.send(msg, rinfo.port, rinfo.address));
sock.on('error', (e) => console.error(`node-dgram-echo: ${e.message}`));
sock.bind(port, host, () => {
  const a = sock.address();
  process.stdout.write(`listening ${a.address} ${a.port}\n`);
});
const stop = () => sock.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
