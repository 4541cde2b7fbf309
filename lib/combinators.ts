/**
 * Combinators: run several futures at once inside one task.
 *
 * - `join(a, b, c)` waits for all and gives the typed tuple `[A, B, C]`. If some throw, the
 *   others still run to completion, then the first error (in time) is thrown.
 * - `tryJoin(a, b, c)`: the same tuple, but the first error cancels the rest and is thrown at once.
 * - `select({ a: futA, b: futB })` waits for the first to complete and says which, typed:
 *   `{ key: 'a', value: A } | { key: 'b', value: B }` (or `select([x, y])` gives `{ index, value }`).
 * - `race(a, b)` gives the first value.
 * - `joinAll(array)` / `tryJoinAll(array)`: `join` / `tryJoin` over a dynamic list (`T[]`).
 *
 * In `select`, `race` and `tryJoin` the losers are *cancelled*: dropped, so a generator's
 * `finally` blocks run (a `finally` that itself awaits finishes as a task of the runtime), timers
 * and wait-list places are released. An error thrown by a branch cancels the other branches too.
 *
 * All children run concurrently in the task that polls the combinator (no new task is spawned).
 * Each child is polled with its own waker, which records that *this* child was woken: a poll of
 * the combinator polls only the children woken since the last one (futures-rs's `JoinAll`
 * scheme), so a join of 10,000 futures costs O(woken) per wake, not O(10,000).
 *
 * Order: the first poll polls the children in argument order, so when several are ready at once
 * the first argument wins (tokio's `select! { biased; ... }`); later polls take woken children in
 * the order they were woken. Deterministic either way.
 *
 * Cancel safety: a combinator is cancel-safe when all its children are (dropping it drops every
 * child still running); `select` and `race` lose nothing *beyond* what dropping their losing
 * children loses, so pick cancel-safe branches (`recv`, `cancelled`, `sleep`...) when a loop
 * selects repeatedly.
 */
import { Context, FutureBase, GenFuture, PENDING, Waker, intoFuture, type Future, type IntoFuture, type Poll, type Wake } from './future';

/** The output type of a future or of a generator (an "async fn" body). */
export type Output<F> = F extends Future<infer T> ? T : F extends Generator<unknown, infer T, unknown> ? T : never;

/** `[Output<F0>, Output<F1>, ...]` for a tuple of futures. */
export type Outputs<T extends readonly unknown[]> = { -readonly [K in keyof T]: Output<T[K]> };

/** `select`'s result for a record of branches: which key won, and its value. */
export type SelectResult<R> = { [K in keyof R]: { key: K; value: Output<R[K]> } }[keyof R];

/** `select`'s result for a tuple (or array) of branches: which index won, and its value. */
export type SelectIndexResult<T extends readonly unknown[]> = {
  [K in keyof T]: { index: K extends `${infer N extends number}` ? N : number; value: Output<T[K]> };
}[number];

/** A child's waker target: records the child as woken, then wakes the task polling the combinator. */
class ChildWake implements Wake {
  constructor(
    private readonly parent: Multi<unknown>,
    private readonly index: number,
  ) {}
  wakeByRef(): void {
    this.parent.childWoken(this.index);
  }
}

const enum MultiState {
  Running,
  Done,
}

/** What `onReady` / `onError` tell the poll loop. */
const CONTINUE: unique symbol = Symbol('continue');

/**
 * The shared machinery: children, one Context per child, the queue of woken children.
 * Subclasses decide what a child's value or error means.
 */
abstract class Multi<T> extends FutureBase<T> {
  protected readonly children: Array<Future<unknown> | null>;
  private readonly cxs: Context[];
  private readonly woken: Uint8Array;
  private queue: number[];
  private spare: number[] = [];
  private waker: Waker | null = null;
  protected state = MultiState.Running;
  /** Children still running. */
  protected remaining: number;

  constructor(children: Array<Future<unknown>>) {
    super();
    const n = children.length;
    this.children = children;
    this.remaining = n;
    this.cxs = new Array<Context>(n);
    for (let i = 0; i < n; i++) this.cxs[i] = new Context(new Waker(new ChildWake(this as Multi<unknown>, i)));
    this.woken = new Uint8Array(n).fill(1);
    this.queue = Array.from({ length: n }, (_, i) => i);
  }

  /** @internal */
  childWoken(i: number): void {
    if (this.woken[i] === 0 && this.children[i] !== null) {
      this.woken[i] = 1;
      this.queue.push(i);
    }
    const w = this.waker;
    if (w !== null) w.wakeByRef();
  }

  /**
   * For the task dump: the children still running, each in its own words. A generator child is
   * "a generator": the leaves it waits on are recorded themselves.
   */
  override waitingFor(): string {
    const parts: string[] = [];
    for (const c of this.children) {
      if (c === null) continue;
      const w = (c as { waitingFor?: () => string }).waitingFor;
      parts.push(c instanceof GenFuture ? 'a generator' : typeof w === 'function' ? w.call(c) : c.constructor.name);
    }
    return `${this.constructor.name.toLowerCase()} of ${this.children.length}, ${parts.length} running: ${parts.join(' | ')}`;
  }

  /** A child completed with `value`: return CONTINUE, or the combinator's result. */
  protected abstract onReady(i: number, value: unknown): T | typeof CONTINUE;
  /** A child threw: return CONTINUE, or throw (the default: the error ends the combinator). */
  protected onError(_i: number, err: unknown): typeof CONTINUE {
    throw err;
  }
  /** Every child has completed (and no onReady returned a result). */
  protected abstract onAllDone(): T;

  poll(cx: Context): Poll<T> {
    if (this.state === MultiState.Done) throw new Error(`polled: a ${this.constructor.name} future was polled after it completed`);
    if (this.waker === null || !this.waker.willWake(cx.waker)) this.waker = cx.waker;
    if (this.remaining === 0) return this.complete();
    const q = this.queue;
    this.queue = this.spare;
    try {
      for (let k = 0; k < q.length; k++) {
        const i = q[k];
        this.woken[i] = 0;
        const child = this.children[i];
        if (child === null) continue;
        let v: unknown;
        try {
          v = child.poll(this.cxs[i]);
        } catch (err) {
          this.children[i] = null;
          this.remaining--;
          this.onError(i, err); // throws to end the combinator, or records and goes on
          continue;
        }
        if (v === PENDING) continue;
        this.children[i] = null;
        this.remaining--;
        const r = this.onReady(i, v);
        if (r !== CONTINUE) return this.finish(r);
      }
    } catch (err) {
      this.state = MultiState.Done;
      this.dropChildren();
      throw err;
    } finally {
      q.length = 0;
      this.spare = q;
    }
    if (this.remaining === 0) return this.complete();
    return PENDING;
  }

  private finish(r: T): T {
    this.state = MultiState.Done;
    this.dropChildren();
    return r;
  }

  private complete(): T {
    this.state = MultiState.Done;
    this.waker = null;
    return this.onAllDone();
  }

  /** Cancel every child still running (in argument order), running their `finally` blocks. */
  protected dropChildren(): void {
    this.waker = null;
    const cs = this.children;
    for (let i = 0; i < cs.length; i++) {
      const c = cs[i];
      if (c === null) continue;
      cs[i] = null;
      try {
        c.drop?.();
      } catch {
        // A failing drop has nobody to report to; the other children are dropped all the same.
      }
    }
    this.remaining = 0;
    this.queue.length = 0;
  }

  /** Dropping the combinator cancels the children still running. */
  override drop(): void {
    if (this.state === MultiState.Done) return;
    this.state = MultiState.Done;
    this.dropChildren();
  }
}

/** What `Join` and `TryJoin` share: each child's value kept in argument order. */
abstract class Collect<T> extends Multi<T> {
  protected readonly values: unknown[];
  constructor(children: Array<Future<unknown>>) {
    super(children);
    this.values = new Array(children.length);
  }
  protected onReady(i: number, value: unknown): typeof CONTINUE {
    this.values[i] = value;
    return CONTINUE;
  }
  protected onAllDone(): T {
    return this.values as T;
  }
}

/**
 * The future of `join` / `joinAll`: every child runs to completion; then the values in argument
 * order, or the first error (in time) if any child threw.
 *
 * Cancel-safe if every child is: dropping it drops the children still running.
 */
export class Join<T> extends Collect<T> {
  private failed = false;
  private error: unknown = undefined;

  protected override onError(_i: number, err: unknown): typeof CONTINUE {
    if (!this.failed) {
      this.failed = true;
      this.error = err;
    }
    return CONTINUE;
  }
  protected override onAllDone(): T {
    if (this.failed) throw this.error;
    return super.onAllDone();
  }
}

/**
 * The future of `tryJoin` / `tryJoinAll`: the values in argument order, or the first error, at
 * which point the children still running are cancelled.
 *
 * Cancel-safe if every child is.
 */
export class TryJoin<T> extends Collect<T> {}

/**
 * The future of `select` and `race`: the first child to complete wins and the others are
 * cancelled (dropped, their `finally` blocks run). A child that throws ends it the same way, with
 * that error.
 *
 * Cancel-safe if every branch is: then a dropped select loses nothing, and a completed one loses
 * only what its dropped losers lose.
 */
export class Select<T> extends Multi<T> {
  constructor(
    children: Array<Future<unknown>>,
    private readonly wrap: (i: number, value: unknown) => T,
  ) {
    super(children);
  }
  protected onReady(i: number, value: unknown): T {
    return this.wrap(i, value);
  }
  protected onAllDone(): T {
    throw new Error('polled: internal error: select finished without a winner');
  }
}

function toFutures(fs: readonly unknown[], what: string): Array<Future<unknown>> {
  const out = new Array<Future<unknown>>(fs.length);
  for (let i = 0; i < fs.length; i++) out[i] = intoFuture(fs[i] as IntoFuture<unknown>, `${what}: argument ${i}`);
  return out;
}

function toArray(it: unknown, what: string): unknown[] {
  if (Array.isArray(it)) return it;
  if (it !== null && typeof it === 'object' && typeof (it as Iterable<unknown>)[Symbol.iterator] === 'function' && typeof (it as { poll?: unknown }).poll !== 'function' && typeof (it as { next?: unknown }).next !== 'function') {
    return Array.from(it as Iterable<unknown>);
  }
  throw new TypeError(`${what} takes an array (or iterable) of futures, got ${it === null ? 'null' : typeof it}`);
}

/** Wait for all; the typed tuple of their values. If any throws, the rest still finish, then the first error is thrown. */
export function join<const T extends readonly IntoFuture<unknown>[]>(...futures: T): Join<Outputs<T>> {
  return new Join(toFutures(futures, 'join()'));
}

/** Wait for all, in argument order; the first error cancels the others and is thrown. */
export function tryJoin<const T extends readonly IntoFuture<unknown>[]>(...futures: T): TryJoin<Outputs<T>> {
  return new TryJoin(toFutures(futures, 'tryJoin()'));
}

/** `join` over a list: every value, in list order. */
export function joinAll<T>(futures: Iterable<IntoFuture<T>>): Join<T[]> {
  return new Join(toFutures(toArray(futures, 'joinAll(futures)'), 'joinAll()'));
}

/** `tryJoin` over a list: every value, in list order, or the first error (the rest are cancelled). */
export function tryJoinAll<T>(futures: Iterable<IntoFuture<T>>): TryJoin<T[]> {
  return new TryJoin(toFutures(toArray(futures, 'tryJoinAll(futures)'), 'tryJoinAll()'));
}

/**
 * Wait for the first of several futures; the losers are cancelled.
 * - `select({ a: futA, b: futB })` → `{ key: 'a', value: A } | { key: 'b', value: B }`
 * - `select([futA, futB])` → `{ index: 0, value: A } | { index: 1, value: B }`
 */
export function select<const T extends readonly IntoFuture<unknown>[]>(branches: T): Select<SelectIndexResult<T>>;
export function select<R extends Record<string, IntoFuture<unknown>>>(branches: R): Select<SelectResult<R>>;
export function select(branches: unknown): Select<unknown> {
  if (Array.isArray(branches)) {
    if (branches.length === 0) throw new RangeError('select([]) needs at least one future');
    return new Select(toFutures(branches, 'select()'), (index, value) => ({ index, value }));
  }
  if (branches === null || typeof branches !== 'object' || typeof (branches as { poll?: unknown }).poll === 'function' || typeof (branches as { next?: unknown }).next === 'function') {
    throw new TypeError(
      `select() takes an object of named futures ({ a: futA, b: futB }) or an array of futures, got ${branches === null ? 'null' : typeof (branches as { poll?: unknown }).poll === 'function' || typeof (branches as { next?: unknown }).next === 'function' ? 'a single future' : typeof branches}`,
    );
  }
  const keys = Object.keys(branches);
  if (keys.length === 0) throw new RangeError('select({}) needs at least one future');
  const futs = keys.map((k) => intoFuture((branches as Record<string, IntoFuture<unknown>>)[k], `select({ ${k} })`));
  return new Select(futs, (i, value) => ({ key: keys[i], value }));
}

/** The value of the first future to complete; the others are cancelled. */
export function race<const T extends readonly IntoFuture<unknown>[]>(...futures: T): Select<Output<T[number]>> {
  if (futures.length === 0) throw new RangeError('race() needs at least one future');
  return new Select(toFutures(futures, 'race()'), (_i, value) => value as Output<T[number]>);
}
