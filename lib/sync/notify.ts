/**
 * `Notify`: wake one task, or all waiting tasks, without sending data (tokio's `sync::Notify`).
 *
 * - `notifyOne()` wakes the oldest waiter. If nobody waits, it stores a single permit, and the
 *   next `notified()` completes at once: a notification sent just before the receiver starts
 *   waiting is not lost. Permits do not add up: two `notifyOne()` with no waiter store one.
 * - `notifyWaiters()` wakes every waiter, and every `Notified` future *created* before the call,
 *   even one not yet polled. It stores no permit.
 *
 * ```ts
 * const notify = new Notify();
 * spawn(function* () { yield* notify.notified(); console.log('woken'); }());
 * notify.notifyOne();
 * ```
 */
import { PENDING, type Context, type Poll } from '../future';
import { WaitList, Waiter } from './waitlist';

const enum NotifiedState {
  /** Not polled yet. */
  Init,
  /** In the wait list, or handed a `notifyOne` it has not taken yet. */
  Waiting,
  Done,
}

const enum Received {
  None,
  /** From `notifyOne`: must be passed on if dropped before taken. */
  One,
  /** From `notifyWaiters`. */
  All,
}

export class Notify {
  private permit = false;
  /** @internal */
  readonly waiters = new WaitList<Notified>();
  /** @internal Counts `notifyWaiters` calls: a `Notified` made before a call completes. */
  generation = 0;

  /**
   * A future that completes at the next notification. Lazy: it starts waiting at its first poll,
   * except that a `notifyWaiters()` after its creation completes it too.
   */
  notified(): Notified {
    return new Notified(this);
  }

  /** Wake the oldest waiter, or store one permit for the next `notified()` if nobody waits. */
  notifyOne(): void {
    const w = this.waiters.shift();
    if (w === null) {
      this.permit = true;
      return;
    }
    w.received = Received.One;
    w.wakeWaiter();
  }

  /** Wake every waiter (and every `Notified` created before this call). Stores no permit. */
  notifyWaiters(): void {
    this.generation++;
    this.waiters.wakeAll((w) => {
      w.received = Received.All;
    });
  }

  /** @internal */
  takePermit(): boolean {
    if (!this.permit) return false;
    this.permit = false;
    return true;
  }

  /** How many futures are waiting right now (diagnostics, tests). */
  get waiterCount(): number {
    return this.waiters.length;
  }
}

/**
 * The future of `Notify.notified()`.
 *
 * Cancel-safe: dropping it unlinks it from the wait list; if it had already been handed a
 * `notifyOne()` that it had not yet returned, the notification is passed on to the next waiter
 * (or stored as the permit), so no notification is lost. It does lose its place in the queue.
 */
export class Notified extends Waiter<void> {
  private state = NotifiedState.Init;
  private readonly generation: number;
  /** @internal */
  received = Received.None;

  constructor(private readonly notify: Notify) {
    super();
    this.generation = notify.generation;
  }

  override waitingFor(): string {
    const ahead = this.notify.waiters.ahead(this);
    return `Notify.notified, ${ahead < 0 ? (this.received !== Received.None ? 'notified, not yet polled' : 'not queued') : `${ahead} ahead`}`;
  }

  poll(cx: Context): Poll<void> {
    const n = this.notify;
    switch (this.state) {
      case NotifiedState.Init:
        if (n.generation !== this.generation || n.takePermit()) {
          this.state = NotifiedState.Done;
          return undefined;
        }
        this.state = NotifiedState.Waiting;
        n.waiters.push(this);
        this.park(cx);
        return PENDING;
      case NotifiedState.Waiting:
        if (this.received !== Received.None) {
          this.state = NotifiedState.Done;
          this.waker = null;
          return undefined;
        }
        this.park(cx);
        return PENDING;
      default:
        return undefined;
    }
  }

  override drop(): void {
    if (this.state !== NotifiedState.Waiting) return;
    this.state = NotifiedState.Done;
    this.waker = null;
    if (!this.notify.waiters.remove(this) && this.received === Received.One) {
      // Handed a notifyOne that it will never return: pass it on.
      this.notify.notifyOne();
    }
  }
}
