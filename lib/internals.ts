/**
 * `polled/internals`: the machinery under the public API, for learning how the runtime works
 * and for building runtimes of your own. UNSTABLE: any of it may change in any release, without
 * a major version. Programs should need only the package root.
 *
 * A runtime's parts are fields marked internal (stripped from the public typings), so they are
 * reached through the accessor functions here: `executorOf(rt)`, `timersOf(rt)`, `reactorOf(rt)`.
 */
import type { Executor } from './executor';
import type { Handle } from './native';
import type { Reactor } from './reactor';
import type { Runtime } from './runtime';
import type { RuntimeCore } from './runtime-core';
import type { Timers } from './timers';

export { Executor } from './executor';
export type { ExecutorHooks } from './executor';
export { Task, TaskState } from './task';
export type { Scheduler } from './task';
export { Reactor, IoSource, Occurrences } from './reactor';
export { Timers, TimerEntry, Clock } from './timers';
export { WakerSet } from './wakers';
export { WaitList, Waiter } from './sync/waitlist';
export { Deque } from './deque';
export type { Park } from './park';
export { EmbeddedDriver } from './driver-embedded';
export type { EmbeddedHost } from './driver-embedded';
export { driveBlocking } from './driver-block';
export { PollerPark } from './poller-park';
export { enter, swapCurrent, runtimeOrDefault, defaultRuntime, setDefaultRuntime } from './context';
export { BUDGET, BYTE_BUDGET, consume, pollProceed, resetBudget, yielded } from './coop';
export { IoResource, pipe, PipeEnd } from './io';
export * from './native';

/** The run queue and live tasks of `rt`. */
export function executorOf(rt: RuntimeCore): Executor {
  return rt.executor;
}

/** The timer queue and clock of `rt`. */
export function timersOf(rt: RuntimeCore): Timers {
  return rt.timers;
}

/** token → IoSource: the TypeScript half of `rt`'s reactor. */
export function reactorOf(rt: Runtime): Reactor {
  return rt.reactor;
}

/** The native poller handle of `rt`, and the events batch it writes into. */
export function pollerOf(rt: Runtime): { poller: Handle; events: Uint32Array } {
  return { poller: rt.poller, events: rt.events };
}
