// For the core's own tests (futures, tasks, the executor, timers, the toolkit): a fresh
// TimerRuntime per test and small utilities, all without the addon: which needs no addon, so these suites exercise the core without any
// native code under it. (Suites that need sockets use helpers.ts's eachRuntime.)
import type { Async } from '../lib/future';
import { sleep } from '../lib/time';
import { TimerRuntime } from '../lib/timer-runtime';

/** A fresh TimerRuntime for every test, closed after it: `let rt: TimerRuntime; eachTimerRuntime((r) => (rt = r));`. */
export function eachTimerRuntime(set: (rt: TimerRuntime) => void): void {
  let rt: TimerRuntime;
  beforeEach(() => {
    rt = new TimerRuntime();
    set(rt);
  });
  afterEach(() => rt.close());
}

/** mulberry32: a seeded PRNG, so that a "random" workload is the same on every run. */
export function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Sleep `ms` then return `v`, logging start / end / finally. */
export function* after<T>(ms: number, v: T, log: string[], name: string): Async<T> {
  try {
    log.push(`${name} start`);
    yield* sleep(ms);
    log.push(`${name} end`);
    return v;
  } finally {
    log.push(`${name} finally`);
  }
}

/** Sleep `ms`, then fail with `msg`. */
export function* failAfter(ms: number, msg: string): Async<never> {
  yield* sleep(ms);
  throw new Error(msg);
}
