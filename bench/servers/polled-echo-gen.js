'use strict';
// polled echo with the per-connection loop written as an "async fn" (a generator), the way a
// user writes a handler for serve(): what every wake of a generator handler costs, beside the
// EchoServer (bench/servers/polled-echo.js), whose loop is a hand-written future (lib/echo.ts).
// The same shared read buffer, the same read / tryWrite / writeAll as that future.
//   node bench/servers/polled-echo-gen.js [--host 127.0.0.1] [--port 0] [--driver embedded|block]
// Needs the build (npm run build:all). Prints "listening <host> <port>"; exits 0 on SIGTERM/SIGINT.
const p = require('../../dist/cjs/index.js');
const { runUntilStopped } = require('../../dist/cjs/slice.js');
const { arg } = require('./args.js');

const host = arg('host', '127.0.0.1');
const port = Number(arg('port', '0'));
const driver = arg('driver', 'embedded');

function* echo(stream, scratch) {
  let own = null;
  for (;;) {
    const n = yield* stream.read(scratch);
    if (n === 0) return;
    const done = stream.tryWrite(scratch, 0, n);
    if (done < n) {
      own ??= new Uint8Array(scratch.length);
      own.set(scratch.subarray(done, n));
      yield* stream.writeAll(own, 0, n - done);
    }
  }
}

async function main() {
  const rt = p.Runtime.default();
  const bind = p.TcpListener.bind({ host, port }, { backlog: 4096 });
  const listener = driver === 'block' ? rt.blockOn(bind) : await rt.spawn(bind).promise();
  const scratch = new Uint8Array(new SharedArrayBuffer(16 * 1024));
  const server = p.serve(listener, (stream) => {
    stream.setNoDelay(true);
    return echo(stream, scratch);
  }, { graceMs: 500 });
  await runUntilStopped(rt, server, { driver, signals: true, sliceMs: 100, name: 'echo server' }, () => {
    const a = listener.localAddr();
    process.stdout.write(`listening ${a.host} ${a.port}\n`);
  });
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`polled-echo-gen: ${e && e.message}`);
    process.exit(1);
  },
);
