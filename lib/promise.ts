/**
 * Bridges between futures and Promises.
 *
 * `fromPromise(p)` awaits a Promise inside a task: its first poll attaches `then` handlers that
 * store the outcome and wake the task. It needs Node's event loop to run Promise continuations,
 * so it works under the embedded driver; under `blockOn` (which owns the thread, so no microtask
 * can run) it fails with a clear error instead of hanging.
 *
 * The other direction is `await handle` (a `JoinHandle` is a `PromiseLike`) or `handle.promise()`.
 */
import { FutureBase, PENDING, type Context, type Poll, type Waker } from './future';
import { currentRuntime } from './context';
import { JoinHandle } from './task';

const enum PromiseState {
  Init,
  Waiting,
  Resolved,
  Rejected,
  Taken,
}

export class FromPromise<T> extends FutureBase<T> {
  private state = PromiseState.Init;
  private value: T | undefined;
  private error: unknown;
  private waker: Waker | null = null;

  constructor(private readonly promise: PromiseLike<T>) {
    super();
  }

  override waitingFor(): string {
    const s = this.state;
    return `fromPromise, ${s === PromiseState.Init ? 'not polled yet' : s === PromiseState.Waiting ? 'pending' : 'settled, not yet polled'}`;
  }

  poll(cx: Context): Poll<T> {
    switch (this.state) {
      case PromiseState.Init: {
        if (currentRuntime()?.isBlocking) {
          throw new Error('polled: fromPromise() cannot complete under blockOn(), which owns the thread so Promise continuations never run; use the embedded driver (spawn) instead');
        }
        this.state = PromiseState.Waiting;
        this.waker = cx.waker;
        this.promise.then(
          (v) => this.settle(PromiseState.Resolved, v, undefined),
          (e: unknown) => this.settle(PromiseState.Rejected, undefined, e),
        );
        return PENDING;
      }
      case PromiseState.Waiting:
        if (this.waker === null || !this.waker.willWake(cx.waker)) this.waker = cx.waker;
        return PENDING;
      case PromiseState.Resolved:
        this.state = PromiseState.Taken;
        return this.value as T;
      case PromiseState.Rejected:
        this.state = PromiseState.Taken;
        throw this.error;
      default:
        throw new Error('polled: fromPromise future polled after completion');
    }
  }

  private settle(state: PromiseState, value: T | undefined, error: unknown): void {
    if (this.state !== PromiseState.Waiting) return; // dropped meanwhile
    this.state = state;
    this.value = value;
    this.error = error;
    const w = this.waker;
    this.waker = null;
    w?.wake();
  }

  override drop(): void {
    // A Promise cannot be cancelled; forget the waker so a late settle wakes nobody.
    if (this.state === PromiseState.Waiting) this.state = PromiseState.Taken;
    this.waker = null;
  }
}

export function fromPromise<T>(p: PromiseLike<T>): FromPromise<T> {
  if (p === null || typeof p !== 'object' || typeof (p as PromiseLike<T>).then !== 'function') {
    throw new TypeError(`fromPromise(p): p must be a Promise or thenable, got ${p === null ? 'null' : typeof p}`);
  }
  if (p instanceof JoinHandle) {
    // It is a thenable, but a future already: a detour through Promises would need Node's loop.
    throw new TypeError('fromPromise(p): p is a JoinHandle, which is a future already; await it with `yield* handle` (no fromPromise needed)');
  }
  return new FromPromise(p);
}
