/**
 * Graceful shutdown of a runtime (`RuntimeCore.shutdown`), kept apart from runtime-core.ts.
 *
 * 1. *Grace*: wait until every task has finished on its own, or `timeout` ms have passed
 *    (default 0: no grace, cancel at once, as dropping a tokio runtime does).
 * 2. *Cancel*: abort every task still alive. Their `finally` blocks run; a `finally` that itself
 *    awaits (async cleanup: a goodbye message, a flush) keeps running as the task's cleanup for up
 *    to `cleanupTimeout` ms (default 1000). Tasks spawned meanwhile are cancelled too.
 * 3. *Close*: stop the driver, close every handle still registered and the poller itself.
 *
 * Deadlines are on the runtime's clock, so under a paused clock they are virtual time (and
 * auto-advance reaches them as soon as every task is idle).
 */
import { Waker } from './future';
import type { RuntimeCore } from './runtime-core';
import type { Task } from './task';
import { optionalMs } from './validate';

export interface ShutdownOptions {
  /** Grace period in ms for tasks to finish on their own before they are cancelled. Default 0. */
  timeout?: number;
  /** How long cancelled tasks' async cleanup (awaiting `finally` blocks) may run, in ms. Default 1000. */
  cleanupTimeout?: number;
}

export interface ShutdownReport {
  /** Tasks alive when `shutdown` was called that finished on their own during the grace period. */
  readonly completed: number;
  /** Tasks cancelled at the deadline (their cleanup ran). */
  readonly cancelled: number;
  /** Cancelled tasks whose async cleanup did not finish within `cleanupTimeout`: dropped unfinished. */
  readonly abandoned: number;
  /** True if the grace period ran out with tasks still alive. */
  readonly timedOut: boolean;
}

const inProgress = new WeakMap<RuntimeCore, Promise<ShutdownReport>>();

export function shutdownRuntime(rt: RuntimeCore, options: ShutdownOptions = {}): Promise<ShutdownReport> {
  if (options === null || typeof options !== 'object') throw new TypeError(`shutdown(options): options must be an object, got ${options === null ? 'null' : typeof options}`);
  const timeout = optionalMs(options.timeout, 'shutdown(options): timeout', 0, true);
  const cleanupTimeout = optionalMs(options.cleanupTimeout, 'shutdown(options): cleanupTimeout', 1000, true);
  const running = inProgress.get(rt);
  if (running !== undefined) return running;
  const p = run(rt, timeout, cleanupTimeout, new Set(rt.executor.tasks));
  inProgress.set(rt, p);
  return p;
}

async function run(rt: RuntimeCore, timeout: number, cleanupTimeout: number, alive: Set<Task<unknown>>): Promise<ShutdownReport> {
  // Start from Node's loop, outside any poll or blockOn (shutdown may be requested by a task).
  await new Promise<void>((resolve) => setImmediate(resolve));
  if (rt.isClosed) return { completed: 0, cancelled: 0, abandoned: 0, timedOut: false };
  const ex = rt.executor;
  const idle = await waitIdle(rt, timeout);
  let completed = 0;
  for (const t of alive) if (!ex.tasks.has(t)) completed++;
  let cancelled = 0;
  if (!idle) {
    const clock = rt.timers.clock;
    const deadline = clock.now() + cleanupTimeout;
    const seen = new Set<Task<unknown>>();
    // Abort everything alive; cleanup tasks spawned by dropped futures, and anything spawned by a
    // finally block, are aborted in the next round. Bounded: each round needs a new task.
    for (let round = 0; round < 1000 && ex.tasks.size > 0; round++) {
      const fresh = [...ex.tasks].filter((t) => !seen.has(t));
      if (fresh.length === 0) break;
      ex.enter(() => {
        for (const t of fresh) {
          seen.add(t);
          t.abort();
        }
      });
      cancelled += fresh.length;
      const left = deadline - clock.now();
      if (ex.tasks.size === 0 || left <= 0) break;
      if (await waitIdle(rt, left)) break;
    }
  }
  const abandoned = ex.tasks.size;
  rt.close();
  return { completed, cancelled, abandoned, timedOut: !idle };
}

/** Resolves true when the runtime has no live task, or false after `ms` (runtime clock). */
function waitIdle(rt: RuntimeCore, ms: number): Promise<boolean> {
  const ex = rt.executor;
  if (ex.tasks.size === 0) return Promise.resolve(true);
  if (ms <= 0) return Promise.resolve(false);
  // Without an embedded driver (libkqueue on Linux) nothing polls the tasks or fires the timer
  // below outside blockOn: waiting would never end, and the tasks cannot finish anyway.
  if (!rt.isClosed && !rt.canDriveOutsideBlockOn()) return Promise.resolve(false);
  return new Promise<boolean>((resolve) => {
    const timers = rt.timers;
    let entry: ReturnType<typeof timers.insert> | null = null;
    let settled = false;
    const done = (isIdle: boolean): void => {
      if (settled) return;
      settled = true;
      ex.onIdle = null;
      if (entry !== null) timers.cancel(entry);
      resolve(isIdle);
    };
    ex.onIdle = () => done(true);
    if (ms !== Infinity) entry = timers.insert(timers.clock.now() + ms, new Waker({ wakeByRef: () => done(false) }));
    // Make sure the embedded driver runs (it arms the kernel timer for the deadline).
    ex.requestRun();
  });
}
