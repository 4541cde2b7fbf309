/**
 * `Semaphore`: a count of permits that tasks acquire and release (tokio's `sync::Semaphore`).
 *
 * Fair: waiters are served strictly first in, first out. A waiter that asks for more permits
 * than are free blocks the ones behind it, even those that would fit, so a large request is never
 * starved by a stream of small ones. `tryAcquire` does not jump the queue either.
 *
 * ```ts
 * const sem = new Semaphore(10);               // at most 10 concurrent downloads
 * const permit = yield* sem.acquire();
 * try { yield* download(url); } finally { permit.release(); }
 * ```
 *
 * A permit is given back with `permit.release()` (exactly once), or kept for good with
 * `permit.forget()`. A cancelled `acquire` leaks nothing: permits it was already granted go back.
 */
import { PENDING, type Context, type Poll } from '../future';
import { AcquireError } from './errors';
import { checkCount } from '../validate';
import { WaitList, Waiter } from './waitlist';

/** The most permits a semaphore can hold. */
export const MAX_PERMITS = Number.MAX_SAFE_INTEGER;

/** "3 ahead" (in the wait list), "first in line", or "granted" once it has left the list. */
function aheadOf(list: WaitList<Acquire>, w: Acquire): string {
  if (w.granted) return 'granted, not yet polled';
  const n = list.ahead(w);
  return n < 0 ? 'not queued' : `${n} ahead`;
}

export class Semaphore {
  private permits: number;
  private closed = false;
  /** @internal */
  readonly waiters = new WaitList<Acquire>();

  constructor(permits: number) {
    this.permits = checkCount(permits, 'new Semaphore(permits): permits', 0);
  }

  /** Permits free right now. */
  availablePermits(): number {
    return this.permits;
  }

  /** Tasks waiting in `acquire` right now. */
  get waiterCount(): number {
    return this.waiters.length;
  }

  /**
   * Wait for `n` permits (default 1), in FIFO order. Throws `AcquireError` if the semaphore is
   * (or gets) closed while waiting. See `Acquire` for cancel safety.
   */
  acquire(n = 1): Acquire {
    checkCount(n, 'Semaphore.acquire(n): n', 0);
    return new Acquire(this, n);
  }

  /**
   * Take `n` permits now if they are free and nobody is queued ahead; else null. Throws
   * `AcquireError` if the semaphore is closed.
   */
  tryAcquire(n = 1): Permit | null {
    checkCount(n, 'Semaphore.tryAcquire(n): n', 0);
    if (this.closed) throw new AcquireError();
    if (!this.waiters.isEmpty || this.permits < n) return null;
    this.permits -= n;
    return new Permit(this, n);
  }

  /** Add `n` permits (a semaphore can grow), waking waiters that now fit. */
  addPermits(n: number): void {
    checkCount(n, 'Semaphore.addPermits(n): n', 0);
    if (n > MAX_PERMITS - this.permits) throw new RangeError(`Semaphore.addPermits(${n}) would exceed ${MAX_PERMITS} permits`);
    this.permits += n;
    this.assign();
  }

  /** Remove up to `n` free permits for good; returns how many were removed. */
  forgetPermits(n: number): number {
    checkCount(n, 'Semaphore.forgetPermits(n): n', 0);
    const k = Math.min(n, this.permits);
    this.permits -= k;
    return k;
  }

  /**
   * Close: every waiting and future `acquire` throws `AcquireError`. Permits already held stay
   * valid and can still be released.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.waiters.wakeAll();
  }

  isClosed(): boolean {
    return this.closed;
  }

  /** @internal Take `n` permits for an `Acquire` that polls for the first time. */
  tryTake(n: number): boolean {
    if (!this.waiters.isEmpty || this.permits < n) return false;
    this.permits -= n;
    return true;
  }

  /** @internal Give free permits to the waiters at the head of the queue, in order, while they fit. */
  assign(): void {
    for (;;) {
      const w = this.waiters.peek();
      if (w === null || this.closed || this.permits < w.n) return;
      this.permits -= w.n;
      this.waiters.shift();
      w.granted = true;
      w.wakeWaiter();
    }
  }

  /** @internal Give permits back (a released `Permit`, a dropped `Acquire`). */
  release(n: number): void {
    this.permits += n;
    this.assign();
  }
}

const enum AcquireState {
  Init,
  Waiting,
  Done,
}

/**
 * The future of `Semaphore.acquire(n)`: resolves to a `Permit` for `n` permits.
 *
 * Cancel-safe as to permits: dropping it removes it from the queue, and permits already granted
 * to it (woken but not yet polled) go back to the semaphore, so nothing leaks. It loses its
 * place in the queue (as in tokio); the waiters behind it are served at once if they now fit.
 */
export class Acquire extends Waiter<Permit> {
  private state = AcquireState.Init;
  /** @internal Set by the semaphore when it hands this waiter its permits. */
  granted = false;

  constructor(
    private readonly sem: Semaphore,
    /** @internal */
    readonly n: number,
  ) {
    super();
  }

  override waitingFor(): string {
    return `Semaphore.acquire(${this.n}), ${aheadOf(this.sem.waiters, this)}, ${this.sem.availablePermits()} free`;
  }

  /** @internal "3 ahead", for the descriptions of the futures built on this one (mutex, mpsc send). */
  get queuePosition(): string {
    return aheadOf(this.sem.waiters, this);
  }

  poll(cx: Context): Poll<Permit> {
    const sem = this.sem;
    switch (this.state) {
      case AcquireState.Init:
        if (sem.isClosed()) {
          this.state = AcquireState.Done;
          throw new AcquireError();
        }
        if (sem.tryTake(this.n)) {
          this.state = AcquireState.Done;
          return new Permit(sem, this.n);
        }
        this.state = AcquireState.Waiting;
        sem.waiters.push(this);
        this.park(cx);
        return PENDING;
      case AcquireState.Waiting:
        if (this.granted) {
          this.state = AcquireState.Done;
          this.waker = null;
          return new Permit(sem, this.n);
        }
        if (sem.isClosed()) {
          sem.waiters.remove(this);
          this.state = AcquireState.Done;
          this.waker = null;
          throw new AcquireError();
        }
        this.park(cx);
        return PENDING;
      default:
        throw new Error('polled: Semaphore.acquire() future polled after it completed');
    }
  }

  override drop(): void {
    if (this.state !== AcquireState.Waiting) return;
    this.state = AcquireState.Done;
    this.waker = null;
    if (this.granted) {
      this.sem.release(this.n);
    } else {
      const wasHead = this.sem.waiters.peek() === this;
      this.sem.waiters.remove(this);
      if (wasHead) this.sem.assign(); // the next waiter may fit now
    }
  }
}

/**
 * Permits held. Give them back with `release()`, exactly once (a second release throws: the
 * permits are not held any more), or keep them for good with `forget()`.
 */
export class Permit {
  private held: boolean;

  constructor(
    private readonly sem: Semaphore,
    /** How many permits this holds. */
    readonly count: number,
  ) {
    this.held = true;
  }

  get isHeld(): boolean {
    return this.held;
  }

  /** Give the permits back to the semaphore. Throws if they were already released or forgotten. */
  release(): void {
    if (!this.held) throw new Error(`polled: this Permit (${this.count} permit(s)) was already released or forgotten; it holds nothing`);
    this.held = false;
    this.sem.release(this.count);
  }

  /** Keep the permits for good: the semaphore has that many fewer. */
  forget(): void {
    if (!this.held) throw new Error(`polled: this Permit (${this.count} permit(s)) was already released or forgotten; it holds nothing`);
    this.held = false;
  }
}
