/**
 * `blockOn` in slices, for a server process that must still hear signals (lib/cli.ts's block
 * driver, lib/udp-echo.ts). `blockOn` owns the thread, so Node's loop, where `process.on('SIGTERM')`
 * handlers run, does not turn while it is parked; serving in slices that end early when Node's
 * loop has work (`rt.nodeLoopReady()`) lets a signal handler run within one loop turn.
 */
import { FutureBase, PENDING, type Async, type Context, type Future, type Poll } from './future';
import type { Runtime } from './runtime';
import type { JoinHandle } from './task';
import { Sleep } from './time';

/** A server future that `stop()` ends gracefully (an `EchoServer`, a `UdpEchoServer`). */
export interface Stoppable<T> extends Future<T> {
  stop(): void;
}

/**
 * The process around a server: run `server` on `rt` under `driver` until it ends, stopping it on
 * SIGINT / SIGTERM when `signals` (a second signal exits at once with status 1). `announce` runs
 * once the handlers are installed (the `listening` line). Resolves with the server's result;
 * rejects if it failed. Under the block driver the server is served in `sliceMs` slices that
 * also end when Node's loop has work, so that the signal handlers get to run.
 */
export async function runUntilStopped<T>(
  rt: Runtime,
  server: Stoppable<T>,
  opts: { driver: 'embedded' | 'block'; signals: boolean; sliceMs: number; name: string },
  announce: () => void,
): Promise<T> {
  let signalCount = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (++signalCount > 1) {
      process.stderr.write(`${sig} again: exiting now\n`);
      process.exit(1);
    }
    server.stop();
  };
  if (opts.signals) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  try {
    announce();
    if (opts.driver === 'embedded') return await rt.spawn(server, opts.name).promise();
    // The block driver spawns from inside a blockOn: the task then needs no embedded driver
    // (libkqueue on Linux has none, and spawn() outside blockOn throws there); the slices run it.
    const main = rt.blockOn((function* (): Async<JoinHandle<T>> {
      return rt.spawn(server, opts.name);
    })());
    while (!main.isFinished()) {
      // One turn of Node's loop before each slice: libuv runs pending signal handlers (and
      // anything else queued), and first of all starts watching the signals just installed
      // (libuv adds a new watch to its epoll set only when its loop next turns, and until then
      // a signal would not end the slice early).
      await new Promise<void>((resolve) => setImmediate(resolve));
      rt.blockOn(new SliceFuture(main, new Sleep(opts.sliceMs, true), rt.nodeLoopReady()));
    }
    return await main.promise(); // rethrows if the server task failed
  } finally {
    if (opts.signals) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}

/**
 * One slice of the block driver: ready when the server task ends, when its timer fires, or as
 * soon as Node's loop has work (a signal to deliver), whichever is first.
 */
export class SliceFuture extends FutureBase<void> {
  constructor(
    private readonly main: JoinHandle<unknown>,
    private readonly timer: Sleep,
    private readonly nodeLoop: Future<void>,
  ) {
    super();
  }
  override waitingFor(): string {
    return `blockOn slice: ${this.timer.waitingFor()}, or Node's loop to have work, or ${this.main.waitingFor()} to end`;
  }

  poll(cx: Context): Poll<void> {
    if (this.main.isFinished() || this.timer.poll(cx) !== PENDING || this.nodeLoop.poll(cx) !== PENDING) return this.end();
    // Also wake when the server ends; JoinHandle.poll stores the waker without consuming the outcome.
    try {
      if (this.main.poll(cx) !== PENDING) return this.end();
    } catch {
      return this.end(); // the error is read again by the caller through main.promise()
    }
    return PENDING;
  }
  private end(): void {
    this.timer.drop();
    this.nodeLoop.drop?.();
  }
  override drop(): void {
    this.end();
    this.main.drop();
  }
}
