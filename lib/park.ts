/**
 * What a driver needs from the thing it waits on: the kernel poller (`PollerPark` in
 * `runtime.ts`) or, for the core without the addon, plain JavaScript timers (`TimerPark` in
 * `timer-runtime.ts`). The two drivers (`driver-block.ts`, `driver-embedded.ts`) are written
 * against this interface only, so each exists once, whatever the runtime waits on.
 */
import type { Reactor } from './reactor';

export interface Park {
  // ---- blockOn: the thread waits here ---------------------------------------------------------
  /**
   * Wait up to `timeoutMs` (-1: until something arrives; 0: just look) and dispatch what came.
   * True if the timer was among it. Either driver looks (0) between runs of the executor.
   */
  wait(timeoutMs: number): boolean;
  /** Anything besides timers and queued tasks that can still wake a wait (I/O, notify waiters). */
  canWake(): boolean;
  /** `blockOn` takes (`true`) or gives back (`false`) the thread. */
  setBlocking(on: boolean): void;

  // ---- embedded: Node's loop waits, and calls back ----------------------------------------------
  /**
   * Start delivering from Node's loop: `onBatch(count)` once something arrived; the driver then
   * calls `dispatch(count)` (true if the timer was among it). 0, or -errno where this park cannot
   * be watched by Node's loop (libkqueue on Linux: only `blockOn` can drive it).
   */
  startDriver(onBatch: (count: number) => void): number;
  dispatch(count: number): boolean;
  stopDriver(): void;
  /** Whether the embedded driver keeps the process alive. */
  ref(on: boolean): void;
  /** The one timer: report (as a batch with the timer in it) `delayMs` from now; replaces the last arming. */
  armTimer(delayMs: number): void;
  disarmTimer(): void;
  /** What should keep Node's process alive: open sockets, keys other threads may still post (remote.ts). */
  readonly registrations: number;

  /** The reactor the park dispatches into, if it has one (metrics count its batches: lib/observe.ts). */
  readonly reactor?: Reactor;
  /** What a wait is called in a trace: 'epoll_wait', 'kevent'; default 'wait'. */
  readonly waitName?: string;

  /** Close whatever the park owns (the poller and every handle registered in it). */
  close(): void;
}
