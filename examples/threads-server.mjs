// An echo server on every core: one polled runtime per worker thread, the kernel spreading the
// connections between their SO_REUSEPORT listeners. Plain ES modules: workers load JavaScript.
//   node examples/threads-server.mjs [port] [threads]      (Ctrl-C stops every worker gracefully)
import { startWorkers } from 'polled';

const port = Number(process.argv[2] ?? 7007);
const threads = process.argv[3] === undefined ? 'auto' : Number(process.argv[3]);
let listening = 0;
const group = startWorkers(new URL('./threads-worker.mjs', import.meta.url), {
  threads,
  data: { port },
  onMessage: (index, msg) => {
    if (++listening === group.threads) console.log(`listening on ${msg.addr} with ${group.threads} workers`);
  },
});
const exits = await group.join(); // after SIGINT / SIGTERM: every worker has drained and returned
for (const e of exits) console.log(`worker ${e.index}: ${e.error ? `failed: ${e.error.message}` : `${e.result} connections`}`);
