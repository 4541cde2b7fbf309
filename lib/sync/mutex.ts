/**
 * `Mutex<T>`: an async lock around a value (tokio's `sync::Mutex`), fair (FIFO).
 *
 * A task that waits for the lock returns PENDING and lets other tasks run; nothing blocks the
 * thread. Hold it across `yield*` points only as long as needed, and always release it in a
 * `finally`, or use `withLock`, which does:
 *
 * ```ts
 * const counter = new Mutex({ n: 0 });
 * const guard = yield* counter.lock();
 * try {
 *   guard.value.n += 1;
 *   yield* flush(guard.value);
 * } finally {
 *   guard.release();
 * }
 * // or
 * yield* counter.withLock(function* (g) { g.value.n += 1; });
 * ```
 *
 * Unlike Rust, nothing stops code from keeping a reference to `guard.value` after releasing;
 * the guard itself refuses (`value` and `release()` throw once released).
 */
import { FutureBase, PENDING, intoFuture, type Async, type Context, type IntoFuture, type Poll } from '../future';
import { Semaphore, type Acquire, type Permit } from './semaphore';
import { checkFunction } from '../validate';

export class Mutex<T> {
  private readonly sem = new Semaphore(1);
  /** @internal */
  data: T;

  constructor(value: T) {
    this.data = value;
  }

  /** Wait for the lock (FIFO); resolves to a guard. See `Lock` for cancel safety. */
  lock(): Lock<T> {
    return new Lock(this, this.sem.acquire(1));
  }

  /** The lock now if it is free and nobody is queued for it, else null. */
  tryLock(): MutexGuard<T> | null {
    const p = this.sem.tryAcquire(1);
    return p === null ? null : new MutexGuard(this, p);
  }

  /**
   * Run `f(guard)` holding the lock, and release it when `f` returns, throws or is cancelled.
   * `f` may return a value, a generator (an "async fn" body) or a future.
   *
   * Cancel-safe as to the lock: cancelled while waiting it holds nothing; cancelled inside `f` it
   * releases the lock (its `finally`). The work `f` was doing is cancelled with it.
   */
  *withLock<R>(f: (guard: MutexGuard<T>) => R | IntoFuture<R>): Async<R> {
    checkFunction(f, 'Mutex.withLock(f): f');
    const guard = yield* this.lock();
    try {
      const r = f(guard);
      if (isFutureLike(r)) return yield* intoFuture(r as IntoFuture<R>);
      return r as R;
    } finally {
      if (guard.isHeld) guard.release();
    }
  }

  isLocked(): boolean {
    return this.sem.availablePermits() === 0;
  }

  /** Tasks waiting for the lock right now. */
  get waiterCount(): number {
    return this.sem.waiterCount;
  }
}

function isFutureLike(v: unknown): boolean {
  if (v === null || typeof v !== 'object') return false;
  const o = v as { poll?: unknown; next?: unknown; throw?: unknown };
  return typeof o.poll === 'function' || (typeof o.next === 'function' && typeof o.throw === 'function');
}

/**
 * The future of `Mutex.lock()`.
 *
 * Cancel-safe as to the lock: a cancelled `lock()` that was already handed the lock gives it
 * back, so the mutex is never left locked by nobody. It loses its place in the queue.
 */
export class Lock<T> extends FutureBase<MutexGuard<T>> {
  constructor(
    private readonly mutex: Mutex<T>,
    private readonly acquire: Acquire,
  ) {
    super();
  }

  override waitingFor(): string {
    return `Mutex.lock, ${this.acquire.queuePosition}`;
  }

  poll(cx: Context): Poll<MutexGuard<T>> {
    const p = this.acquire.poll(cx);
    if (p === PENDING) return PENDING;
    return new MutexGuard(this.mutex, p);
  }

  override drop(): void {
    this.acquire.drop();
  }
}

/** The lock, held. `value` reads and writes the protected value; `release()` unlocks, once. */
export class MutexGuard<T> {
  constructor(
    private readonly mutex: Mutex<T>,
    private readonly permit: Permit,
  ) {}

  get isHeld(): boolean {
    return this.permit.isHeld;
  }

  get value(): T {
    this.check('read guard.value');
    return this.mutex.data;
  }

  set value(v: T) {
    this.check('write guard.value');
    this.mutex.data = v;
  }

  /** Unlock; the next waiter (FIFO) gets the lock. Throws if this guard was already released. */
  release(): void {
    this.check('release()');
    this.permit.release();
  }

  private check(what: string): void {
    if (!this.permit.isHeld) throw new Error(`polled: cannot ${what}: this MutexGuard was already released, so the lock is not held`);
  }
}
