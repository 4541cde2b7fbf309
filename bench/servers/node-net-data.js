'use strict';
// node:net echo, 'data' event variant: socket.on('data', d => socket.write(d)).
//   node bench/servers/node-net-data.js [--host 127.0.0.1] [--port 0]
// Prints exactly one line "listening <host> <port>" when ready; exits 0 on SIGTERM/SIGINT.
const net = require('node:net');

const { arg } = require('./args.js');
const host = arg('host', '127.0.0.1');
const port = Number(arg('port', '0'));

const server = net.createServer({ noDelay: true }, (socket) => {
  socket.on('data', (d) => socket.write(d));
  socket.on('error', () => {}); // ECONNRESET when the load generator goes away
});
server.on('error', (e) => { console.error(`node-net-data: ${e.message}`); process.exit(1); });
server.listen({ host, port, backlog: 4096 }, () => {
  process.stdout.write(`listening ${host} ${server.address().port}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
