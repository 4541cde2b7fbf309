/**
 * The UDP echo server as a worker module: what `polled echo --udp --threads N` runs in each
 * worker thread (see workers.ts, udp-echo.ts's `runUdpEchoWorkers`). Every worker binds the same
 * port with SO_REUSEPORT (the kernel spreads datagrams over the group by their 4-tuple), serves
 * UDP echo on its own runtime until the group stops, and returns its counts.
 */
import type { Async } from './future';
import { UdpEchoServer, type UdpEchoStats } from './udp-echo';
import type { WorkerContext } from './workers';

/** What the main thread sends each UDP echo worker (ctx.data). */
export interface UdpEchoWorkerData {
  host: string;
  port: number;
  batch?: number;
  bufferSize?: number;
  quiet: boolean;
}

export function* main(ctx: WorkerContext<UdpEchoWorkerData>): Async<UdpEchoStats> {
  const d = ctx.data;
  const log = d.quiet ? undefined : (line: string): void => void process.stderr.write(`polled echo --udp [worker ${ctx.index}]: ${line}\n`);
  const server = yield* UdpEchoServer.bind({ host: d.host, port: d.port }, { reusePort: true, batch: d.batch, bufferSize: d.bufferSize, log });
  const a = server.localAddr();
  ctx.send({ type: 'listening', line: `listening ${a.host} ${a.port}` });
  const stopper = ctx.runtime.spawn(
    (function* (): Async<void> {
      yield* ctx.shutdown.cancelled();
      server.stop();
    })(),
  );
  const stats = yield* server;
  stopper.abort();
  return stats;
}
