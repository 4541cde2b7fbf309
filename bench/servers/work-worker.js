'use strict';
// The worker module of bench/servers/polled-work.js: an echo server whose handler spends a fixed
// CPU cost per message (`rounds` SHA-256 digests chained over the payload) before echoing it, so
// that the server, not the kernel or the load generator, is what a second core can speed up.
const crypto = require('node:crypto');
const { serve } = require('../../dist/cjs/index.js');

exports.main = function* main(ctx) {
  const { host, port, rounds } = ctx.data;
  const listener = yield* ctx.listen({ host, port }, { backlog: 4096 });
  let digest = 0;
  const server = serve(
    listener,
    function* work(stream) {
      const buf = new Uint8Array(16384);
      for (;;) {
        const n = yield* stream.read(buf);
        if (n === 0) return;
        let h = buf.subarray(0, n);
        for (let i = 0; i < rounds; i++) h = crypto.createHash('sha256').update(h).digest();
        digest ^= h[0];
        yield* stream.writeAll(buf, 0, n);
      }
    },
    { shutdown: ctx.shutdown, graceMs: 500 },
  );
  const a = listener.localAddr();
  ctx.send({ type: 'listening', line: `listening ${a.host} ${a.port}` });
  yield* server;
  return { accepted: server.accepted, digest };
};
