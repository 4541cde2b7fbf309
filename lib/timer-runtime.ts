/**
 * `TimerRuntime`: a runtime with no kernel poller. Timers and wakes only, in plain JavaScript:
 * embedded, its one timer is a `setTimeout`; under `blockOn` the thread sleeps until the next
 * deadline (`Atomics.wait`). No sockets (they need `Runtime`'s poller), no wakes from other
 * threads; everything else works: tasks, the executor, timers and the paused clock, combinators,
 * JoinSet, channels and the sync primitives.
 *
 * It is what the core's own tests run on, and what proves that the core (`future`, `task`,
 * `executor`, `coop`, `timers`, `time`, `combinators`, `joinset`, `sync/`) stands without the
 * native addon: none of those modules, nor this one, loads it.
 */
import type { Park } from './park';
import { RuntimeCore, type RuntimeCoreOptions } from './runtime-core';

/** The `Park` of a TimerRuntime: JavaScript timers instead of a poller. */
class TimerPark implements Park {
  private onBatch: ((count: number) => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private refd = true;
  private timerDue = false;
  private readonly sleeper = new Int32Array(new SharedArrayBuffer(4));
  readonly registrations = 0;

  wait(timeoutMs: number): boolean {
    // Nothing but a timer can wake this thread (canWake is false), so blockOn never waits forever.
    if (timeoutMs > 0) Atomics.wait(this.sleeper, 0, 0, timeoutMs);
    // The embedded timer reports through onBatch; blockOn fires the timers after every wait.
    return false;
  }

  canWake(): boolean {
    return false;
  }

  setBlocking(): void {}

  startDriver(onBatch: (count: number) => void): number {
    this.onBatch = onBatch;
    return 0;
  }

  dispatch(): boolean {
    const due = this.timerDue;
    this.timerDue = false;
    return due;
  }

  stopDriver(): void {
    this.disarmTimer();
    this.onBatch = null;
  }

  ref(on: boolean): void {
    this.refd = on;
    if (on) this.timer?.ref();
    else this.timer?.unref();
  }

  armTimer(delayMs: number): void {
    this.disarmTimer();
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerDue = true;
      this.onBatch?.(0);
    }, delayMs);
    if (!this.refd) this.timer.unref();
  }

  disarmTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  close(): void {
    this.stopDriver();
  }
}

export class TimerRuntime extends RuntimeCore {
  constructor(options: RuntimeCoreOptions = {}) {
    if (options === null || typeof options !== 'object') throw new TypeError(`TimerRuntime options must be an object, got ${String(options)}`);
    super(new TimerPark(), options);
  }

  protected cannotEmbed(): Error {
    return new Error('polled: internal error: a TimerRuntime always has its embedded driver');
  }
}
