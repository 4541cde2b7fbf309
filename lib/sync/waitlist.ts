/**
 * The one waiter queue behind every primitive in `lib/sync`: an intrusive, doubly linked FIFO
 * of futures that wait for something (a permit, a message, a notification, a cancellation).
 *
 * *Intrusive*: the links live in the waiting future itself (`Waiter`, the base class of every
 * waiting leaf future here), so queueing allocates nothing and a cancelled future unlinks itself
 * in O(1) from its `drop()`. This is the shape of tokio's `util::linked_list` under its
 * `batch_semaphore`, `Notify` and channels.
 *
 * Two ways to hand something to waiters:
 * - *one at a time* (a permit, a message, `notifyOne`): `shift()` the oldest, record on it what
 *   it was given, wake it. If it is dropped before it takes what it was given, its `drop()`
 *   hands the thing on, so nothing is lost.
 * - *everyone* (close, cancel, a new watch value, a barrier release): `wakeAll()`.
 */
import { FutureBase, type Context, type Waker } from '../future';

/**
 * A leaf future that can wait in a `WaitList`. Subclasses implement `poll` and `drop` with an
 * explicit state enum, call `park(cx)` to store their waker, and unlink themselves on drop.
 */
export abstract class Waiter<T> extends FutureBase<T> {
  /** @internal */
  wPrev: Waiter<unknown> | null = null;
  /** @internal */
  wNext: Waiter<unknown> | null = null;
  /** @internal The list this waiter is linked into, or null. */
  wList: WaitList<Waiter<unknown>> | null = null;
  /** @internal The waker of the last poll that returned PENDING. */
  waker: Waker | null = null;

  /** True while linked into a wait list. */
  get isQueued(): boolean {
    return this.wList !== null;
  }

  /** Store `cx`'s waker (keeping the old one if it wakes the same task). */
  protected park(cx: Context): void {
    if (this.waker === null || !this.waker.willWake(cx.waker)) this.waker = cx.waker;
  }

  /** @internal Wake the task that polled this waiter last. */
  wakeWaiter(): void {
    const w = this.waker;
    if (w !== null) w.wakeByRef();
  }
}

export class WaitList<W extends Waiter<unknown>> {
  private head: W | null = null;
  private tail: W | null = null;
  private count = 0;

  get length(): number {
    return this.count;
  }

  get isEmpty(): boolean {
    return this.count === 0;
  }

  /** How many waiters are ahead of `w` (0: it is first), or -1 if it is not in this list. O(n): for the task dump. */
  ahead(w: Waiter<unknown>): number {
    if (w.wList !== (this as unknown as WaitList<Waiter<unknown>>)) return -1;
    let n = 0;
    for (let p = w.wPrev; p !== null; p = p.wPrev) n++;
    return n;
  }

  /** The oldest waiter, or null. */
  peek(): W | null {
    return this.head;
  }

  /** Append `w` (FIFO). A waiter is in at most one list at a time. */
  push(w: W): void {
    if (w.wList !== null) throw new Error('polled: internal error: a waiter was queued twice');
    w.wList = this as unknown as WaitList<Waiter<unknown>>;
    w.wPrev = this.tail;
    w.wNext = null;
    if (this.tail === null) this.head = w;
    else this.tail.wNext = w;
    this.tail = w;
    this.count++;
  }

  /** Unlink `w` if it is in this list; O(1). Returns whether it was. */
  remove(w: W): boolean {
    if (w.wList !== (this as unknown as WaitList<Waiter<unknown>>)) return false;
    const p = w.wPrev as W | null;
    const n = w.wNext as W | null;
    if (p === null) this.head = n;
    else p.wNext = n;
    if (n === null) this.tail = p;
    else n.wPrev = p;
    w.wPrev = w.wNext = null;
    w.wList = null;
    this.count--;
    return true;
  }

  /** Unlink and return the oldest waiter, or null. The caller records what it gave it and wakes it. */
  shift(): W | null {
    const w = this.head;
    if (w !== null) this.remove(w);
    return w;
  }

  /**
   * Unlink every waiter, call `visit` on each (oldest first) and wake it. The list is detached
   * first, so a waiter that queues itself again from a wake lands in a fresh list.
   */
  wakeAll(visit?: (w: W) => void): void {
    let w = this.head;
    this.head = this.tail = null;
    this.count = 0;
    while (w !== null) {
      const next = w.wNext as W | null;
      w.wPrev = w.wNext = null;
      w.wList = null;
      if (visit !== undefined) visit(w);
      w.wakeWaiter();
      w = next;
    }
  }
}
