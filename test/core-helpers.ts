// For the core's own tests (futures, tasks, the executor, timers, the toolkit): a fresh
// TimerRuntime per test, which needs no addon, so these suites exercise the core without any
// native code under it. (Suites that need sockets use helpers.ts's eachRuntime.)
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
