/**
 * `blockOn` in slices, for a server process that must still hear signals (lib/cli.ts's block
 * driver, lib/udp-echo.ts). `blockOn` owns the thread, so Node's loop, where `process.on('SIGTERM')`
 * handlers run, does not turn while it is parked; serving in slices that end early when Node's
 * loop has work (`rt.nodeLoopReady()`) lets a signal handler run within one loop turn.
 */
import { FutureBase, PENDING, type Context, type Future, type Poll } from './future';
import type { JoinHandle } from './task';
import type { Sleep } from './time';

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
