/**
 * Which runtime is running on this thread, as the runtime-independent core sees it.
 *
 * Timers (`time.ts`), `JoinSet`, `fromPromise` and cancelled futures whose cleanup awaits all
 * need "the runtime that is polling me": its timer queue, its `spawn`, whether `blockOn` owns the
 * thread. They ask here, and so depend on this small interface rather than on `Runtime`, which
 * brings the native poller with it. That is what lets the core (futures, tasks, the executor,
 * timers, the toolkit) load and run without the addon, on a `TimerRuntime`.
 *
 * A runtime makes itself current for the length of each poll (`enter`). Outside of any poll,
 * the *default* runtime serves: made on first use by the factory that `runtime.ts` registers
 * (a full `Runtime` per thread); where nothing registered one (the core alone), there is no
 * default, and the error says to make a runtime.
 */
import type { BlockOnGotTheGeneratorFunction, Future, IntoFuture, SpawnGotTheGeneratorFunction } from './future';
import type { JoinHandle } from './task';
import type { Timers } from './timers';

/** What futures and the toolkit need from the runtime that polls them. */
export interface RuntimeContext {
  /** @internal The timer queue and clock (`polled/internals`: `timersOf`). */
  readonly timers: Timers;
  /** True while `blockOn` owns the thread (no Promise continuation can run). */
  readonly isBlocking: boolean;
  readonly isClosed: boolean;
  spawn<T>(future: IntoFuture<T>, name?: string): JoinHandle<T>;
  blockOn<T>(future: IntoFuture<T>): T;
  /** A timer was woken a hair early (the kernel and the JS clock round differently): arm again. */
  rearmTimer(): void;
}

let current: RuntimeContext | null = null;
let fallback: RuntimeContext | null = null;
let makeDefault: (() => RuntimeContext) | null = null;

/** Run `f` with `rt` as the current runtime (restored afterwards, also on a throw). */
export function enter<R>(rt: RuntimeContext, f: () => R): R {
  const prev = current;
  current = rt;
  try {
    return f();
  } finally {
    current = prev;
  }
}

/** Make `rt` current and return the one it replaces (a driver's hot path: no closure). */
export function swapCurrent(rt: RuntimeContext | null): RuntimeContext | null {
  const prev = current;
  current = rt;
  return prev;
}

/** The runtime polling the caller, if any (null outside of a poll). */
export function currentRuntime(): RuntimeContext | null {
  return current;
}

/** The runtime polling the caller, else this thread's default runtime. */
export function runtimeOrDefault(): RuntimeContext {
  return current ?? defaultRuntime();
}

/** This thread's default runtime, made on first use (again after it was closed). */
export function defaultRuntime(): RuntimeContext {
  if (fallback === null || fallback.isClosed) {
    if (makeDefault === null) {
      throw new Error('polled: no runtime is running and none is the default here; make one (new TimerRuntime(), or new Runtime() from the package root) and spawn or blockOn on it');
    }
    fallback = makeDefault();
  }
  return fallback;
}

/** The factory of the default runtime (`runtime.ts` registers a full `Runtime`). */
export function setDefaultRuntime(make: () => RuntimeContext): void {
  makeDefault = make;
}

/** A closed runtime stops being the default, so the next use makes a fresh one. */
export function forgetDefault(rt: RuntimeContext): void {
  if (fallback === rt) fallback = null;
}

/** A mistake: `spawn(main)` passed the generator function. Call it: `spawn(main())`. Throws a TypeError. */
export function spawn(mistake: SpawnGotTheGeneratorFunction, name?: string): never;
/** Spawn on the current runtime (the one polling the caller, else the default one). */
export function spawn<T>(future: IntoFuture<T>, name?: string): JoinHandle<T>;
export function spawn<T>(future: IntoFuture<T> | SpawnGotTheGeneratorFunction, name?: string): JoinHandle<T> {
  return runtimeOrDefault().spawn(future as IntoFuture<T>, name);
}

/** A mistake: `blockOn(main)` passed the generator function. Call it: `blockOn(main())`. Throws a TypeError. */
export function blockOn(mistake: BlockOnGotTheGeneratorFunction): never;
/** Run `future` to completion on the default runtime, owning the thread (see `Runtime.blockOn`). */
export function blockOn<T>(future: IntoFuture<T>): T;
export function blockOn<T>(future: IntoFuture<T> | BlockOnGotTheGeneratorFunction): T {
  return runtimeOrDefault().blockOn(future as IntoFuture<T>);
}

/**
 * A dropped future whose `finally` block awaits (async cleanup) cannot finish inside `drop()`:
 * it finishes as a task of the runtime that dropped it (else of the default runtime, if there is
 * one), named 'cleanup'. Without any runtime there is nowhere to run it, and it is left.
 */
export function spawnCleanup(fut: Future<unknown>): void {
  const rt = current ?? (fallback !== null && !fallback.isClosed ? fallback : null);
  // Cancellation is not a failure: an error from a cancelled future's cleanup is not reported,
  // as it is not when the cleanup finishes inside drop() (GenFuture.cancel).
  if (rt !== null && !rt.isClosed) rt.spawn(fut, 'cleanup').observe();
}
