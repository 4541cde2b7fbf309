/**
 * Futures, the way Rust has them.
 *
 * A `Future<T>` is a value that may not be ready yet. Nothing happens until someone *polls* it:
 * `poll(cx)` either returns the value, or returns `PENDING` after arranging for `cx.waker` to
 * be woken when polling again could make progress. That is the whole contract, and everything
 * else in polled (tasks, the executor, the reactor, timers, sockets) exists to call `poll` at the
 * right moments and no more often.
 *
 * `async fn` and `.await` are spelled `function*` and `yield*`:
 *
 * ```ts
 * function* fetchTwice(): Async<number> {   // Rust: async fn fetch_twice() -> usize
 *   const a = yield* stream.read(buf);       // Rust: stream.read(&mut buf).await?
 *   const b = yield* stream.read(buf);
 *   return a + b;
 * }
 * ```
 *
 * A generator is the state machine that the Rust compiler would write for an `async fn`: each
 * `yield*` is a suspension point and the generator object holds the locals across it. Calling
 * `fetchTwice()` runs none of its body (futures are lazy). `yield* fut` asks `fut` for its
 * iterator; each step of that iterator polls `fut` with the task's current `Context`. When `fut`
 * is pending the step yields the `PENDING` marker, which travels up through every enclosing
 * `yield*` to the task, and the task returns `PENDING` to the executor. When the task is woken
 * and polled again, `gen.next()` resumes the innermost `yield*`, which polls `fut` again.
 *
 * Hand-written futures (leaves such as a socket read or a sleep) extend `FutureBase` and keep an
 * explicit state enum. A leaf is its own iterator, and its results are two shared objects, so
 * awaiting one allocates nothing.
 */

import { spawnCleanup } from './context';
import { describe } from './validate';

/** What `poll` returns while the value is not ready. */
export const PENDING: unique symbol = Symbol.for('polled.PENDING');
export type Pending = typeof PENDING;
/** Rust's `Poll<T>`: `Ready(T)` is the value itself, `Pending` is `PENDING`. */
export type Poll<T> = T | Pending;

/**
 * `v === PENDING`, for hot paths. Testing `typeof` first keeps the comparison monomorphic: a
 * ready value is often a number, and comparing a number with a symbol directly compiles to a
 * generic comparison call in optimized code.
 */
export function isPending(v: unknown): v is Pending {
  return typeof v === 'symbol' && v === PENDING;
}

/** The generator type of an "async fn": it yields only `PENDING` and returns `T`. */
export type Async<T> = Generator<Pending, T, unknown>;

/**
 * `new Waker(SELF_WAKE)`: a subclass that is its own wake target (see `Waker`). Not exported by
 * the package, but declared in its types, since `Waker`'s public constructor names it (tagged
 * internal, stripInternal would drop the declaration and leave the constructor's type dangling).
 */
export const SELF_WAKE: unique symbol = Symbol('polled.selfWake');

/** Something that can be woken: a task, or a combinator that fans a wake out. */
export interface Wake {
  wakeByRef(): void;
}

/**
 * A `Waker` tells an executor that a task is worth polling again. Futures store the waker of the
 * last `Context` they were polled with and call `wake()` when the thing they wait for happens
 * (readiness from the reactor, a timer, a channel send, another thread's `notify()`).
 */
export class Waker {
  /** What a wake reaches: the `Wake` given, or the waker itself for a subclass that is its own target (a `Task`). */
  private readonly target: Wake;

  /**
   * `target`: what waking this waker wakes. `SELF_WAKE` (internal) is for a subclass that
   * overrides `wakeByRef` and is its own target: a `Task` is its own waker, as a Rust waker is a
   * pointer to its task, so that a wake touches no object between the reactor and the task.
   */
  constructor(target: Wake | typeof SELF_WAKE) {
    if (target === SELF_WAKE) {
      // Its own target must wake something else than this very method, or a wake recurses forever.
      if (this.wakeByRef === Waker.prototype.wakeByRef) throw new TypeError('polled: new Waker(SELF_WAKE) is for a subclass that overrides wakeByRef');
      this.target = this;
    } else this.target = target;
  }
  /** Wake the task. (Rust's `wake(self)` consumes the waker; in JS it stays usable.) */
  wake(): void {
    this.target.wakeByRef();
  }
  wakeByRef(): void {
    this.target.wakeByRef();
  }
  /** Another waker for the same task. */
  clone(): Waker {
    return new Waker(this.target);
  }
  /** True when waking `other` would wake the same task: a future can then skip replacing its stored waker. */
  willWake(other: Waker): boolean {
    return other === this || other.target === this.target;
  }
}

/** A waker that does nothing: for polling a future by hand, outside any task. */
export const noopWaker = new Waker({ wakeByRef() {} });

/**
 * What a future is polled with. Rust passes `&mut Context` holding a `&Waker`; so do we. A task
 * builds its `Context` once and reuses it for every poll.
 */
export class Context {
  constructor(readonly waker: Waker) {}
}

/** The interface: anything that can be polled and awaited with `yield*`. */
export interface Future<T> {
  poll(cx: Context): Poll<T>;
  /** Cancel: release whatever the future holds (registrations, timers, permits). */
  drop?(): void;
  /**
   * What this future waits for, in words, for the task dump (`runtime.dumpTasks()`):
   * "TcpStream.read fd 12 127.0.0.1:7007 ← 127.0.0.1:51234", "sleep until +120 ms". Called only
   * when a dump is asked for, never while polling.
   */
  waitingFor?(): string;
  [Symbol.iterator](): Iterator<Pending, T, unknown>;
}

// The Context of the poll in progress: the executor's thread-local, in Rust terms. A generator
// future sets it around `gen.next()` so that the leaves awaited inside see their task's waker.
let currentCx: Context | null = null;

/** The Context of the poll in progress, for leaves awaited with `yield*`. */
export function currentContext(): Context {
  if (currentCx === null) {
    throw new Error(
      'polled: a future was awaited with `yield*` outside of a poll. Run the generator as a task: spawn(gen) or runtime.blockOn(gen).',
    );
  }
  return currentCx;
}

// The two results a leaf's iterator ever returns. `yield*` reads `done` and `value` at once and
// keeps neither object, so sharing them is safe and makes awaiting a leaf allocation-free.
const YIELD_PENDING: IteratorYieldResult<Pending> = Object.freeze({ done: false, value: PENDING });
const DONE: { done: true; value: unknown } = { done: true, value: undefined };

/** A poll's result as the step of a leaf's iterator (see `FutureBase.next`). */
export function step<T>(v: Poll<T>): IteratorResult<Pending, T> {
  if (isPending(v)) return YIELD_PENDING;
  DONE.value = v;
  return DONE as IteratorReturnResult<T>;
}

/**
 * The base of hand-written futures: subclasses implement `poll` (and `drop` when they hold
 * something). It is its own single-shot iterator, which is what makes `yield* fut` work.
 */
export abstract class FutureBase<T> implements Future<T>, Iterator<Pending, T, unknown> {
  abstract poll(cx: Context): Poll<T>;
  drop(): void {}

  /** What this future waits for, for the task dump. Leaves say more (see `Future.waitingFor`). */
  waitingFor(): string {
    return this.constructor.name;
  }

  [Symbol.iterator](): Iterator<Pending, T, unknown> {
    return this;
  }

  /**
   * One step of `yield* this`: poll with the current task's context. The hottest leaves (a
   * socket's read and write) define their own `next()` as `return step(this.poll(currentContext()))`:
   * this one's `this.poll` call site sees every kind of future and is megamorphic, theirs sees one.
   */
  next(): IteratorResult<Pending, T> {
    return step(this.poll(currentContext()));
  }

  /** Called by `yield*` when the awaiting generator is cancelled (`gen.return()`): drop. */
  return(value?: unknown): IteratorResult<Pending, T> {
    this.drop();
    DONE.value = value;
    return DONE as IteratorReturnResult<T>;
  }
}

/**
 * A future whose cancellation may itself take polls: a generator's `finally` block can await
 * (close a connection politely, flush a log). `cancel(cx)` starts the cancellation and returns
 * true when it is over, false when cleanup is still running; then the owner keeps polling the
 * future until it completes (its value is meaningless). A task aborting its future does exactly
 * that (lib/task.ts); anyone else who drops one (`drop()`) hands the rest of the cleanup to a task
 * of its own (`spawnCleanup`), so it still runs to its end.
 */
export abstract class CancelFuture<T> extends FutureBase<T> {
  /** Begin cancelling; true when done, false while cleanup still needs polls. `cx`: what its first poll sees. */
  abstract cancel(cx?: Context): boolean;

  override drop(): void {
    if (!this.cancel()) spawnCleanup(this);
  }
}

// ---- recording what a task waits on (the task dump, lib/observe.ts) ---------------------------
//
// A generator does not say which `yield*` it is suspended in, but every leaf awaited with
// `yield*` takes its steps through `FutureBase.next`. While some runtime records what its tasks
// wait on, `next` is swapped for a copy that also notes each leaf that returned PENDING in the
// list of the task being polled. Swapped, not tested: with recording off the hot path is the
// plain `next` above, unchanged.

const plainNext = FutureBase.prototype.next;
/** The polled task's list (`TaskStats`-like: a count and the slots), or null. */
export interface PendingSink {
  /** Leaves recorded in this poll. */
  nWaits: number;
  /** Slots; entries at `nWaits` and beyond are left from earlier polls (overwritten, not truncated: no resize per poll). */
  readonly waits: unknown[];
}
let pendingSink: PendingSink | null = null;
let recorders = 0;

function recordingNext<T>(this: FutureBase<T>): IteratorResult<Pending, T> {
  const v = this.poll(currentContext());
  if (isPending(v)) {
    const s = pendingSink;
    if (s !== null) s.waits[s.nWaits++] = this;
    return YIELD_PENDING;
  }
  DONE.value = v;
  return DONE as IteratorReturnResult<T>;
}

/**
 * Leaf classes with a `next` of their own (the socket read and write futures: a call site for
 * `this.poll` that sees one class): their prototypes and own `next`, swapped with the base's.
 */
const ownSteps: Array<[{ next: unknown }, unknown]> = [];

/** @internal A leaf class whose prototype defines its own `next` (see `FutureBase.next`): recorded too. */
export function ownStep(proto: { next: unknown }): void {
  ownSteps.push([proto, proto.next]);
  if (recorders > 0) proto.next = recordingNext;
}

/**
 * @internal Start (`true`) or stop recording the leaves that return PENDING (counted: each
 * observing runtime starts once and stops once).
 */
export function recordPendingLeaves(on: boolean): void {
  recorders += on ? 1 : -1;
  if (recorders < 0) recorders = 0;
  FutureBase.prototype.next = recorders > 0 ? recordingNext : plainNext;
  for (const [proto, own] of ownSteps) proto.next = recorders > 0 ? recordingNext : own;
}

/** @internal The list that leaves returning PENDING are added to now (the polled task's), or null. */
export function setPendingSink(sink: PendingSink | null): PendingSink | null {
  const prev = pendingSink;
  pendingSink = sink;
  return prev;
}

/** States of a generator future. */
const enum GenState {
  /** Created, body not started, or suspended at a `yield*`. */
  Suspended,
  /** Returned or threw: polling again is a bug. */
  Done,
  /** `drop()` ran `return()` and a `finally` block is itself awaiting: drive it to its end. */
  Cleaning,
}

/**
 * A generator (an "async fn" body) as a Future. Its poll resumes the generator once; the
 * generator runs until it returns (ready) or until a leaf it awaits is pending.
 */
export class GenFuture<T> extends CancelFuture<T> {
  private state = GenState.Suspended;

  constructor(private readonly gen: Generator<unknown, T, unknown>) {
    super();
  }

  poll(cx: Context): Poll<T> {
    if (this.state === GenState.Done) throw new Error('polled: a generator future was polled after it completed');
    const prev = currentCx;
    currentCx = cx;
    try {
      let r = this.gen.next();
      // `yield x` without the star hands x to us instead of awaiting it. Say so inside the
      // generator, where a try/catch or finally can see it.
      while (!r.done && r.value !== PENDING) {
        r = this.gen.throw(
          new TypeError(
            `a generator future yielded ${describe(r.value)}; to await a future write \`yield* fut\` (with the star), not \`yield fut\``,
          ),
        );
      }
      if (!r.done) return PENDING;
      this.state = GenState.Done;
      return r.value;
    } catch (err) {
      this.state = GenState.Done;
      throw err;
    } finally {
      currentCx = prev;
    }
  }

  /**
   * Cancel: `gen.return()` runs the generator's `finally` blocks, and through `yield*` the
   * `return()` of whatever leaf it was suspended in, so registrations and timers are released.
   * Returns false when a `finally` block is itself awaiting something; then keep polling this
   * future until it completes (its value is meaningless) to finish the cleanup. `cx` is the
   * context that cleanup's first poll sees (the owning task's, when a task is aborted).
   */
  cancel(cx: Context = noopContext): boolean {
    if (this.state !== GenState.Suspended) return this.state === GenState.Done;
    const prev = currentCx;
    currentCx = cx;
    try {
      const r = this.gen.return(undefined as T);
      if (r.done) {
        this.state = GenState.Done;
        return true;
      }
      this.state = GenState.Cleaning;
      return false;
    } catch {
      // An error thrown while cleaning up has no one to go to: the future was cancelled.
      this.state = GenState.Done;
      return true;
    } finally {
      currentCx = prev;
    }
  }

}

/** A context whose waker does nothing: for polling by hand, or reading an outcome that is ready. */
export const noopContext = new Context(noopWaker);

/** A future, or a generator (an "async fn" body already called) that becomes one. */
export type IntoFuture<T> = Future<T> | Generator<unknown, T, unknown>;

/**
 * The type of a mistake: `spawn(main)` passes the generator function itself, where a future is
 * wanted. Its only use is the overload of `spawn` / `blockOn` that the compiler reports when
 * neither matches, so the error names the fix. Nothing has this type (the call throws a TypeError).
 */
export type SpawnGotTheGeneratorFunction = 'spawn(main) got the generator function; call it: spawn(main())';
/** As `SpawnGotTheGeneratorFunction`, for `blockOn(main)`. */
export type BlockOnGotTheGeneratorFunction = 'blockOn(main) got the generator function; call it: blockOn(main())';

/** True for a generator object (an "async fn" body already called), false for a Future or anything else. */
export function isGenerator(v: unknown): v is Generator<unknown, unknown, unknown> {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as Generator).next === 'function' &&
    typeof (v as Generator).throw === 'function' &&
    typeof (v as Generator).return === 'function' &&
    typeof (v as { poll?: unknown }).poll !== 'function'
  );
}

/** Accept a Future or a generator object; throw a TypeError naming the fix for anything else. */
export function intoFuture<T>(f: IntoFuture<T>, what = 'argument'): Future<T> {
  if (f !== null && typeof f === 'object' && typeof (f as Future<T>).poll === 'function') {
    if (typeof (f as Future<T>)[Symbol.iterator] !== 'function') return new PollFn((cx) => (f as Future<T>).poll(cx), f as Future<T>);
    return f as Future<T>;
  }
  if (isGenerator(f)) return new GenFuture(f as Generator<unknown, T, unknown>);
  if (typeof f === 'function') {
    const fname = (f as { name?: unknown }).name;
    const name = typeof fname === 'string' && /^[A-Za-z_$][\w$]*$/.test(fname) ? fname : 'main';
    const call = /^[\w.]+(?=\()/.exec(what)?.[0] ?? 'spawn';
    const kind = Object.prototype.toString.call(f) === '[object GeneratorFunction]' ? 'the generator function' : 'a function';
    throw new TypeError(
      `${call}(${name}) got ${kind}; call it: ${call}(${name}()) (${what} must be a Future or a generator object)`,
    );
  }
  if (f !== null && typeof (f as { then?: unknown }).then === 'function') {
    throw new TypeError(`${what} must be a Future or a generator object, got a Promise; wrap it with fromPromise(p)`);
  }
  throw new TypeError(`${what} must be a Future or a generator object, got ${describe(f)}`);
}

/** A future from a poll function (Rust's `std::future::poll_fn`). */
export class PollFn<T> extends FutureBase<T> {
  constructor(
    private readonly f: (cx: Context) => Poll<T>,
    private readonly inner?: { drop?(): void },
  ) {
    super();
  }
  poll(cx: Context): Poll<T> {
    return this.f(cx);
  }
  override waitingFor(): string {
    const inner = this.inner as { waitingFor?: () => string } | undefined;
    if (inner !== undefined && typeof inner.waitingFor === 'function') return inner.waitingFor();
    return `pollFn(${this.f.name || 'anonymous'})`;
  }
  override drop(): void {
    this.inner?.drop?.();
  }
}

export function pollFn<T>(f: (cx: Context) => Poll<T>): Future<T> {
  if (typeof f !== 'function') throw new TypeError(`pollFn(f): f must be a function, got ${describe(f)}`);
  return new PollFn(f);
}

const enum MapState {
  Running,
  Done,
}

/**
 * `inner`, with `f` applied to its value (Rust's `FutureExt::map`): ready when `inner` is, with
 * `f(value)`. A leaf, so awaiting it adds no generator. `f` runs once, inside the poll that sees
 * `inner` ready; if it throws, the poll throws. Dropped before that, it drops `inner`. As
 * cancel-safe as `inner` is.
 */
export class MapFuture<A, B> extends FutureBase<B> {
  private state = MapState.Running;
  constructor(
    private readonly inner: Future<A>,
    private readonly f: (a: A) => B,
  ) {
    super();
  }
  override waitingFor(): string {
    const inner = this.inner as { waitingFor?: () => string };
    return typeof inner.waitingFor === 'function' ? inner.waitingFor() : this.inner.constructor.name;
  }

  poll(cx: Context): Poll<B> {
    if (this.state === MapState.Done) throw new Error('polled: a map future was polled after it completed');
    const v = this.inner.poll(cx);
    if (isPending(v)) return PENDING;
    this.state = MapState.Done;
    return this.f(v);
  }
  override drop(): void {
    if (this.state === MapState.Running) this.inner.drop?.();
    this.state = MapState.Done;
  }
}

/**
 * A future that runs `f` at its first poll and is ready with its result (or throws its error):
 * a synchronous operation made lazy, such as `TcpListener.bind`, which must not make its socket
 * before a task awaits it (and so knows the runtime to register it with). Polled again
 * afterwards, it throws. Cancel-safe: dropped before its poll, `f` never runs.
 */
export class LazyFuture<T> extends FutureBase<T> {
  private done = false;
  constructor(private readonly f: () => T) {
    super();
  }
  poll(_cx: Context): Poll<T> {
    if (this.done) throw new Error('polled: a lazy future was polled after it completed');
    this.done = true;
    return this.f();
  }
  override drop(): void {
    this.done = true;
  }
}

/**
 * Turn a generator function into a function returning futures: `asyncFn(function* (x) {...})`
 * is Rust's `async fn`. (Calling the generator function directly and spawning the generator
 * works as well; this only names the intent and gives the result the `Future` type.)
 */
export function asyncFn<A extends unknown[], T>(f: (...args: A) => Generator<unknown, T, unknown>): (...args: A) => Future<T> {
  if (typeof f !== 'function') throw new TypeError(`asyncFn(f): f must be a generator function, got ${describe(f)}`);
  return (...args: A) => new GenFuture(f(...args));
}

/** A future that is ready at once with `value` (Rust's `std::future::ready`). */
export function ready<T>(value: T): Future<T> {
  return new PollFn(() => value);
}

/** A future that is never ready (Rust's `std::future::pending`). */
export function never<T = never>(): Future<T> {
  return new PollFn<T>(() => PENDING);
}
