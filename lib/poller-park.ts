/**
 * The `Park` of a full `Runtime`: the native poller (epoll / kqueue) and the reactor that turns
 * its (token, bits) batches into wakes.
 *
 * - `blockOn` waits in `pollerWait` itself, with the poller also watching Node's loop (so a
 *   parked thread wakes when Node asks it to stop).
 * - Embedded, one `uv_poll_t` in Node's loop watches the poller's fd; the addon drains it and
 *   calls back once per batch.
 * - The one timer is the poller's kernel timer (timerfd / EVFILT_TIMER).
 */
import { IoError } from './errors';
import { native, type Handle } from './native';
import type { Park } from './park';
import type { Reactor } from './reactor';

export class PollerPark implements Park {
  constructor(
    private readonly poller: Handle,
    readonly reactor: Reactor,
    /** The wait's syscall, for its errors and the trace: epoll_wait, kevent or io_uring_enter. */
    readonly waitName: string,
  ) {}

  wait(timeoutMs: number): boolean {
    const n = native.pollerWait(this.poller, timeoutMs);
    if (n < 0) throw new IoError(-n, this.waitName);
    return this.reactor.dispatch(n);
  }

  canWake(): boolean {
    const r = this.reactor;
    return r.registrations > 0 || r.remote.size > 0 || r.notify.hasWaiters || r.nodeLoop.hasWaiters;
  }

  setBlocking(on: boolean): void {
    // Best effort: where the loop cannot be watched, blockOn still runs (deaf to stop requests).
    native.pollerWatchLoop(this.poller, on);
  }

  startDriver(onBatch: (count: number) => void): number {
    return native.driverStart(this.poller, onBatch);
  }

  dispatch(count: number): boolean {
    return this.reactor.dispatch(count);
  }

  stopDriver(): void {
    native.driverStop(this.poller);
  }

  ref(on: boolean): void {
    native.driverRef(this.poller, on);
  }

  armTimer(delayMs: number): void {
    native.pollerTimerArm(this.poller, delayMs);
  }

  disarmTimer(): void {
    native.pollerTimerDisarm(this.poller);
  }

  get registrations(): number {
    return this.reactor.registrations + this.reactor.remote.size;
  }

  close(): void {
    this.reactor.closeAll();
    native.close(this.poller);
  }
}
