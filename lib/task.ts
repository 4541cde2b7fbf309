/**
 * Tasks: a future the executor owns and polls until it completes.
 *
 * `spawn(fut)` wraps `fut` in a `Task`, gives it one `Waker` inside one `Context`, the same for
 * every poll, and schedules it. Both are the task object itself (a Rust waker is likewise a
 * pointer to its task's header): a `Task` is a `Waker` whose wake reaches the task, and a
 * `Context` whose `waker` is the task. The waker's only job is to put the task back on the
 * executor's run queue; the task's state machine makes that safe whatever the timing:
 *
 * ```text
 *            wake                 executor pops          poll → PENDING
 *   Idle ────────────▶ Scheduled ───────────────▶ Running ────────────────▶ Idle
 *                          ▲                      │   │ wake while running
 *                          │  poll → PENDING      │   ▼
 *                          └──────────────────── Notified
 *                                                 │
 *                          poll → value / throw   ▼
 *                                                Done        abort() → Cancelled
 * ```
 *
 * - A wake while `Scheduled` or `Notified` does nothing: a task is never queued twice.
 * - A wake while `Running` (the future woke its own waker, or something it polled did) marks it
 *   `Notified`; after this poll it is queued again and polled exactly once more. No wake is lost.
 * - A wake after `Done` or `Cancelled` does nothing.
 *
 * The `JoinHandle` is the other end: a future of the task's output (or of its error), with
 * `abort()`, `isFinished()` and a Promise view for ordinary Node code.
 */
import { CancelledError } from './errors';
import { CancelFuture, FutureBase, PENDING, SELF_WAKE, Waker, isPending, noopContext, type Context, type Future, type Poll } from './future';
import type { TaskStats } from './observe';
import { WakerSet } from './wakers';

export const TaskState = {
  Idle: 0,
  Scheduled: 1,
  Running: 2,
  Notified: 3,
  Done: 4,
  Cancelled: 5,
} as const;
export type TaskState = (typeof TaskState)[keyof typeof TaskState];

/** What a task needs from whoever runs it. */
export interface Scheduler {
  schedule(task: Task<unknown>): void;
  /** The task finished (done or cancelled): it no longer counts as live. */
  retire(task: Task<unknown>): void;
  /**
   * The task failed while nothing observed it (awaited its handle): report it at the end of this
   * run unless something observes it by then (lib/unhandled.ts).
   */
  failedUnobserved?(task: Task<unknown>): void;
  /** Run `f` as if inside this scheduler's poll (so timers and I/O made there use its runtime). */
  enter<R>(f: () => R): R;
}

const enum Outcome {
  Pending,
  Value,
  Error,
  Cancelled,
}

let nextId = 1;

export class Task<T> extends Waker implements Context {
  // A task is its own Waker and its own Context, as a Rust waker is a pointer to its
  // task: waking it, or storing its waker, touches this object and no other. With a thousand
  // connections every object between the reactor's token and the task is a cache miss per
  // message (`npm run bench:instructions -- --cache`); a separate Waker and Context were two.
  //
  // What every poll and wake touches comes first, so that it shares the object's first cache
  // line (V8 lays fields out in the order the constructor first stores them: Waker's `target`,
  // then these); the rest is for completion, joining and the task dump. Every field is assigned
  // in the constructor, in this order, and none by an initializer or a parameter property: the
  // order is then the same whether a compiler emits class fields as definitions or as
  // assignments (see IoResource).
  private future: Future<T>;
  private readonly scheduler: Scheduler;
  /** Context's one field: the waker of every poll of this task, which is the task itself. */
  readonly waker: Waker;
  state: TaskState;
  private abortRequested: boolean;
  /** Cancelled, but a `finally` block is still awaiting: keep polling until it ends. */
  private cleaning: boolean;
  readonly id: number;
  readonly name: string | undefined;
  private outcome: Outcome;
  private value: T | undefined;
  private error: unknown;
  /** The wakers of whoever awaits the JoinHandle (several tasks may). */
  private readonly joiners: WakerSet;
  /** Called once the task completes in any way (for the Promise view). */
  private listeners: Array<() => void> | null;
  /** Something awaits (or awaited) the JoinHandle: a failure is not reported as unobserved. */
  private observedFlag: boolean;
  /** @internal Counters of an observed runtime's task (lib/observe.ts); null while nothing observes. */
  stats: TaskStats | null;

  constructor(future: Future<T>, scheduler: Scheduler, name?: string) {
    super(SELF_WAKE);
    this.future = future;
    this.scheduler = scheduler;
    this.waker = this;
    this.state = TaskState.Idle;
    this.abortRequested = false;
    this.cleaning = false;
    this.id = nextId++;
    this.name = name;
    this.outcome = Outcome.Pending;
    this.value = undefined;
    this.error = undefined;
    this.joiners = new WakerSet();
    this.listeners = null;
    this.observedFlag = false;
    this.stats = null;
  }

  /** Wake the task (it is its own waker): back on the run queue, if that is what its state calls for. */
  override wake(): void {
    this.wakeByRef();
  }

  /** Put this task back on the run queue, if that is what its state calls for. */
  override wakeByRef(): void {
    switch (this.state) {
      case TaskState.Idle:
        this.state = TaskState.Scheduled;
        this.scheduler.schedule(this as Task<unknown>);
        return;
      case TaskState.Running:
        this.state = TaskState.Notified;
        return;
      default:
        // Scheduled / Notified: already going to be polled. Done / Cancelled: nothing to do.
        return;
    }
  }

  /** Executor only: poll the future once. */
  run(): void {
    if (this.state !== TaskState.Scheduled) return; // cancelled while queued
    this.state = TaskState.Running;
    let v: Poll<T>;
    try {
      v = this.future.poll(this);
    } catch (err) {
      if (this.cleaning) this.finish(Outcome.Cancelled, undefined, undefined);
      else this.finish(Outcome.Error, undefined, err);
      return;
    }
    if (!isPending(v)) {
      if (this.cleaning) this.finish(Outcome.Cancelled, undefined, undefined);
      else this.finish(Outcome.Value, v, undefined);
      return;
    }
    if (this.abortRequested) {
      this.abortRequested = false;
      this.state = TaskState.Idle;
      this.cancelNow();
      return;
    }
    if ((this.state as TaskState) === TaskState.Notified) {
      this.state = TaskState.Scheduled;
      this.scheduler.schedule(this as Task<unknown>);
    } else {
      this.state = TaskState.Idle;
    }
  }

  /** Cancel the task: its future is dropped, so a generator's `finally` blocks run. */
  abort(): void {
    if (this.state === TaskState.Done || this.state === TaskState.Cancelled || this.cleaning) return;
    if (this.state === TaskState.Running || this.state === TaskState.Notified) {
      // Aborting itself (or from something it polls): finish this poll first.
      this.abortRequested = true;
      return;
    }
    this.cancelNow();
  }

  private cancelNow(): void {
    this.scheduler.enter(() => this.dropFuture());
  }

  private dropFuture(): void {
    const f = this.future;
    if (f instanceof CancelFuture) {
      if (!f.cancel(this)) {
        // A finally block awaits something: keep the task alive until cleanup finishes.
        this.cleaning = true;
        if (this.state === TaskState.Idle) this.wakeByRef();
        return;
      }
    } else {
      try {
        f.drop?.();
      } catch {
        // Nobody to report a failing drop to; the task is cancelled either way.
      }
    }
    this.finish(Outcome.Cancelled, undefined, undefined);
  }

  private finish(outcome: Outcome, value: T | undefined, error: unknown): void {
    this.outcome = outcome;
    this.value = value;
    this.error = error;
    this.state = outcome === Outcome.Cancelled ? TaskState.Cancelled : TaskState.Done;
    this.future = DONE_FUTURE as Future<T>; // let the generator and what it holds be collected
    this.scheduler.retire(this as Task<unknown>);
    if (outcome === Outcome.Error && !this.observedFlag && !(error instanceof CancelledError)) this.scheduler.failedUnobserved?.(this as Task<unknown>);
    this.joiners.wakeAll();
    const ls = this.listeners;
    this.listeners = null;
    if (ls !== null) for (const l of ls) l();
  }

  get isFinished(): boolean {
    return this.state === TaskState.Done || this.state === TaskState.Cancelled;
  }

  /** @internal The future the task polls (the task dump asks a leaf what it waits for). */
  get root(): Future<T> {
    return this.future;
  }

  /** "task 17 (echo-conn)", or "task 17": how the dump and the warnings name it. */
  get label(): string {
    return this.name ? `task ${this.id} (${this.name})` : `task ${this.id}`;
  }

  /** True once something awaited the JoinHandle (lib/unhandled.ts). */
  get observed(): boolean {
    return this.observedFlag;
  }

  /** Count the task as observed: its failure goes to whoever awaits it, not to `onUnhandledError`. */
  observe(): void {
    this.observedFlag = true;
  }

  /** Nothing awaits it any more (a JoinSet forgot it): a later failure is reported again. */
  unobserve(): void {
    if (!this.isFinished) this.observedFlag = false;
  }

  /** The error the task failed with, or undefined. */
  get failure(): unknown {
    return this.outcome === Outcome.Error ? this.error : undefined;
  }

  /** JoinHandle only. Polling the handle observes the task. */
  pollJoin(cx: Context): Poll<T> {
    this.observedFlag = true;
    switch (this.outcome) {
      case Outcome.Value:
        return this.value as T;
      case Outcome.Error:
        throw this.error;
      case Outcome.Cancelled:
        throw new CancelledError(this.name ? `task "${this.name}"` : `task ${this.id}`);
      default:
        this.joiners.add(cx.waker);
        return PENDING;
    }
  }

  onFinish(f: () => void): void {
    if (this.isFinished) f();
    else (this.listeners ??= []).push(f);
  }
}

const DONE_FUTURE: Future<unknown> = {
  poll() {
    throw new Error('polled: a finished task was polled');
  },
  [Symbol.iterator]() {
    throw new Error('polled: a finished task was awaited');
  },
};

/**
 * The handle `spawn` returns. Awaiting it (`yield* handle` in a task, `await handle` in Promise
 * code: it is a `PromiseLike<T>`) gives the task's value, rethrows its error, or throws
 * `CancelledError` if it was aborted. Dropping a JoinHandle does not cancel the task (as in
 * tokio): call `abort()` for that.
 *
 * Being a thenable, a handle is awaited wherever Promise code meets it: `await handle`,
 * `Promise.resolve(handle)`, returning it from an `async` function or a `.then` callback all wait
 * for the task and give its value (or its error). A failure nothing awaits is reported (see
 * lib/unhandled.ts and the runtime's `onUnhandledError`).
 */
export class JoinHandle<T> extends FutureBase<T> implements PromiseLike<T> {
  private promiseView: Promise<T> | null = null;

  constructor(private readonly task: Task<T>) {
    super();
  }

  poll(cx: Context): Poll<T> {
    return this.task.pollJoin(cx);
  }

  // drop() keeps the default (nothing): several tasks may await one handle, and the one that is
  // cancelled cannot tell its waker from the others'. A stale waker costs at most one spurious
  // poll, which every future tolerates; waking a finished task does nothing.

  /** Cancel the task. Its generator's `finally` blocks run; awaiting this handle then throws `CancelledError`. */
  abort(): void {
    this.task.abort();
  }

  isFinished(): boolean {
    return this.task.isFinished;
  }

  get id(): number {
    return this.task.id;
  }

  override waitingFor(): string {
    return `JoinHandle of ${this.task.label}`;
  }

  /** @internal Count the task as observed (blockOn's own task, a dropped future's cleanup, a JoinSet's task). */
  observe(): void {
    this.task.observe();
  }

  /** @internal Nothing awaits the task any more (`JoinSet.detachAll`): an unawaited failure is reported again. */
  unobserve(): void {
    this.task.unobserve();
  }

  /**
   * The task's outcome as a Promise, for code outside polled (`await handle.promise()`, the same
   * as `await handle`). Like any Promise, it reports an unhandled rejection if the task fails and
   * nothing handles it.
   */
  promise(): Promise<T> {
    if (this.promiseView === null) {
      this.task.observe();
      this.promiseView = new Promise<T>((resolve, reject) => {
        this.task.onFinish(() => {
          try {
            const v = this.task.pollJoin(noopContext);
            resolve(v as T);
          } catch (err) {
            reject(err);
          }
        });
      });
    }
    return this.promiseView;
  }

  /**
   * `await handle` from Promise code: the task's value, or its error (`CancelledError` if it was
   * aborted). The same as `handle.promise().then(...)`. Inside a task, await with `yield* handle`
   * instead (Promise continuations need Node's loop, and `yield*` does not).
   */
  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.promise().then(onfulfilled, onrejected);
  }
}
