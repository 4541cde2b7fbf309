// Bun echo server (Bun.listen), optional row of the benchmark; run with `bun`.
//   bun bench/servers/bun-echo.js [--host 127.0.0.1] [--port 0]
// Prints exactly one line "listening <host> <port>" when ready; exits 0 on SIGTERM/SIGINT.
// Partial writes: socket.write returns the bytes taken; the rest is queued and
// flushed from drain(), in order.
const { arg } = require('./args.js');
const hostname = arg('host', '127.0.0.1');
const port = Number(arg('port', '0'));

function flush(socket) {
  const q = socket.data.queue;
  while (q.length > 0) {
    const chunk = q[0];
    const n = socket.write(chunk);
    if (n < chunk.length) {
      q[0] = chunk.subarray(Math.max(n, 0));
      return;
    }
    q.shift();
  }
}

const server = Bun.listen({
  hostname,
  port,
  socket: {
    open(socket) {
      socket.data = { queue: [] };
      socket.setNoDelay?.(true);
    },
    data(socket, data) {
      if (socket.data.queue.length > 0) {
        socket.data.queue.push(Buffer.from(data)); // copy: Bun may reuse the buffer
        return;
      }
      const n = socket.write(data);
      if (n < data.length) socket.data.queue.push(Buffer.from(data.subarray(Math.max(n, 0))));
    },
    drain(socket) {
      flush(socket);
    },
    error() {},
  },
});
process.stdout.write(`listening ${hostname} ${server.port}\n`);
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
