/**
 * The echo server as a worker module: what `polled echo --threads N` runs in each worker thread
 * (see workers.ts). Each worker listens as one of the group (`ctx.listen`: SO_REUSEPORT, or the
 * handoff), serves echo on its own runtime until the group stops, and returns how many
 * connections it served, which the main thread prints per worker.
 */
import { EchoServer } from './echo';
import { listeningLine } from './cli';
import type { Async } from './future';
import type { WorkerContext } from './workers';

/** What the main thread sends each echo worker (ctx.data). */
export interface EchoWorkerData {
  host: string;
  port: number;
  backlog?: number;
  bufferSize?: number;
  noDelay?: boolean;
  quiet: boolean;
}

/** What each echo worker returns. */
export interface EchoWorkerResult {
  accepted: number;
}

export function* main(ctx: WorkerContext<EchoWorkerData>): Async<EchoWorkerResult> {
  const d = ctx.data;
  const listener = yield* ctx.listen({ host: d.host, port: d.port }, d.backlog === undefined ? {} : { backlog: d.backlog });
  const log = d.quiet ? undefined : (line: string): void => void process.stderr.write(`polled echo [worker ${ctx.index}]: ${line}\n`);
  const server = new EchoServer(listener, { bufferSize: d.bufferSize, noDelay: d.noDelay, graceMs: ctx.graceMs, shutdown: ctx.shutdown, log });
  ctx.send({ type: 'listening', line: listeningLine(server) });
  yield* server;
  return { accepted: server.accepted };
}
