// What each worker thread of threads-server.mjs runs, on a runtime of its own.
import { serve } from 'polled';

function* echo(stream) {
  const buf = new Uint8Array(16 * 1024);
  for (let n; (n = yield* stream.read(buf)) > 0; ) yield* stream.writeAll(buf, 0, n);
}

export function* main(ctx) {
  // Every worker binds the same port (SO_REUSEPORT; with port 0, the one worker 0 got).
  const listener = yield* ctx.listen({ host: '127.0.0.1', port: ctx.data.port });
  const server = serve(listener, echo, { shutdown: ctx.shutdown, graceMs: ctx.graceMs });
  ctx.send({ addr: listener.localAddr().toString() });
  yield* server; // until the group stops: stop accepting, drain, return
  return server.accepted;
}
