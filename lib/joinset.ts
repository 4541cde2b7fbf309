/**
 * `JoinSet`: a set of spawned tasks, awaited in the order they finish (tokio's `task::JoinSet`).
 *
 * ```ts
 * const set = new JoinSet<number>();
 * for (const url of urls) set.spawn(fetchSize(url));
 * for (let r; (r = yield* set.joinNext()) !== undefined; ) {
 *   if (r.ok) total += r.value;
 *   else console.error(`task ${r.id} failed`, r.error);
 * }
 * ```
 *
 * `joinNext()` gives each task's outcome as a value (`{ ok: true, value }` or
 * `{ ok: false, error, cancelled }`), so one failure does not stop the loop, and `undefined` once
 * the set is empty. `abortAll()` cancels every task (their `finally` blocks run); their outcomes,
 * `cancelled: true`, still come out of `joinNext()`. `shutdown()` aborts all and waits for them.
 *
 * Tasks are spawned on the runtime given to the constructor, else on the current one.
 */
import { CancelledError } from './errors';
import { Context, FutureBase, PENDING, Waker, type Async, type IntoFuture, type Poll, type Wake } from './future';
import { runtimeOrDefault, type RuntimeContext } from './context';
import { RuntimeCore } from './runtime-core';
import type { JoinHandle } from './task';

/** One task's outcome. */
export type JoinResult<T> =
  | { readonly id: number; readonly ok: true; readonly value: T }
  | { readonly id: number; readonly ok: false; readonly error: unknown; readonly cancelled: boolean };

/** A handle to cancel one task of a set. */
export class AbortHandle {
  constructor(private readonly handle: JoinHandle<unknown>) {}
  /** Cancel the task; its outcome (cancelled) still comes out of `joinNext()`. */
  abort(): void {
    this.handle.abort();
  }
  isFinished(): boolean {
    return this.handle.isFinished();
  }
  get id(): number {
    return this.handle.id;
  }
}

/** One task in the set: its handle, and the waker it registered on the task (which marks it finished). */
class Entry<T> implements Wake {
  readonly cx: Context;
  queued = false;
  constructor(
    private readonly set: JoinSet<T>,
    readonly handle: JoinHandle<T>,
  ) {
    this.cx = new Context(new Waker(this));
  }
  wakeByRef(): void {
    this.set.entryWoken(this);
  }
}

export class JoinSet<T> {
  private readonly entries = new Set<Entry<T>>();
  /** Entries whose task finished, in the order they finished. */
  private readonly done: Array<Entry<T> | undefined> = [];
  private doneHead = 0;
  /** @internal The waker of a pending `joinNext()`. */
  waker: Waker | null = null;

  constructor(private readonly runtime?: RuntimeContext) {
    if (runtime !== undefined && !(runtime instanceof RuntimeCore)) throw new TypeError(`new JoinSet(runtime): runtime must be a Runtime, got ${typeof runtime}`);
  }

  /** Spawn `future` as a task in this set. */
  spawn(future: IntoFuture<T>, name?: string): AbortHandle {
    const rt = this.runtime ?? runtimeOrDefault();
    const handle = rt.spawn(future, name);
    const e = new Entry(this, handle);
    this.entries.add(e);
    // Register e's waker on the task: it is woken when the task finishes.
    if (handle.poll(e.cx) !== PENDING) this.entryWoken(e);
    return new AbortHandle(handle as JoinHandle<unknown>);
  }

  /** Tasks in the set (running, or finished and not yet joined). */
  get size(): number {
    return this.entries.size;
  }

  isEmpty(): boolean {
    return this.entries.size === 0;
  }

  /**
   * The outcome of the next task to finish, removed from the set; `undefined` when the set is
   * empty. Cancel-safe (see `JoinNext`).
   */
  joinNext(): JoinNext<T> {
    return new JoinNext(this);
  }

  /** The outcome of a task that already finished, or `undefined` (none has, or the set is empty). */
  tryJoinNext(): JoinResult<T> | undefined {
    const e = this.takeDone();
    return e === undefined ? undefined : this.outcome(e);
  }

  /** Cancel every task in the set. Their outcomes stay in the set for `joinNext()`. */
  abortAll(): void {
    for (const e of [...this.entries]) e.handle.abort();
  }

  /** Forget every task: they go on running, no longer in the set. */
  detachAll(): void {
    // Nothing awaits them now: a detached task that fails is reported (lib/unhandled.ts).
    for (const e of this.entries) e.handle.unobserve();
    this.entries.clear();
    this.done.length = 0;
    this.doneHead = 0;
  }

  /**
   * Abort every task and wait until all have finished (their cleanup included); the set is then
   * empty. Cancel-safe: the tasks are aborted at the first poll; outcomes not yet drained stay in
   * the set.
   */
  *shutdown(): Async<void> {
    this.abortAll();
    while ((yield* this.joinNext()) !== undefined) {
      // drain
    }
  }

  /**
   * Wait for every task; their values in the order they finished. The first failure aborts the
   * rest (and waits for them) and is thrown.
   *
   * Not cancel-safe: if it is cancelled, the values it had already joined are lost (their tasks
   * are out of the set). Loop over `joinNext()` to keep each outcome as it comes.
   */
  *joinAll(): Async<T[]> {
    const out: T[] = [];
    for (let r; (r = yield* this.joinNext()) !== undefined; ) {
      if (r.ok) {
        out.push(r.value);
        continue;
      }
      yield* this.shutdown();
      throw r.error;
    }
    return out;
  }

  /** @internal */
  entryWoken(e: Entry<T>): void {
    if (e.queued || !this.entries.has(e)) return;
    if (!e.handle.isFinished()) return;
    e.queued = true;
    this.done.push(e);
    const w = this.waker;
    this.waker = null;
    if (w !== null) w.wakeByRef();
  }

  /** @internal */
  takeDone(): Entry<T> | undefined {
    while (this.doneHead < this.done.length) {
      const e = this.done[this.doneHead];
      this.done[this.doneHead++] = undefined;
      if (this.doneHead === this.done.length) {
        this.done.length = 0;
        this.doneHead = 0;
      }
      if (e !== undefined && this.entries.delete(e)) return e;
    }
    return undefined;
  }

  /** @internal */
  outcome(e: Entry<T>): JoinResult<T> {
    const id = e.handle.id;
    try {
      const v = e.handle.poll(e.cx);
      return { id, ok: true, value: v as T };
    } catch (error) {
      return { id, ok: false, error, cancelled: error instanceof CancelledError };
    }
  }
}

const enum JoinNextState {
  Pending,
  Done,
}

/**
 * The future of `JoinSet.joinNext()`. Cancel-safe: an outcome leaves the set only in the poll
 * that returns it; a cancelled `joinNext` loses none.
 */
export class JoinNext<T> extends FutureBase<JoinResult<T> | undefined> {
  private state = JoinNextState.Pending;
  constructor(private readonly set: JoinSet<T>) {
    super();
  }

  override waitingFor(): string {
    return `JoinSet.joinNext, ${this.set.size} task${this.set.size === 1 ? '' : 's'} running`;
  }

  poll(cx: Context): Poll<JoinResult<T> | undefined> {
    if (this.state === JoinNextState.Done) throw new Error('polled: JoinSet.joinNext() future polled after it completed');
    const set = this.set;
    const e = set.takeDone();
    if (e !== undefined) {
      this.state = JoinNextState.Done;
      return set.outcome(e);
    }
    if (set.isEmpty()) {
      this.state = JoinNextState.Done;
      return undefined;
    }
    if (set.waker === null || !set.waker.willWake(cx.waker)) set.waker = cx.waker;
    return PENDING;
  }

  override drop(): void {
    this.state = JoinNextState.Done;
  }
}
