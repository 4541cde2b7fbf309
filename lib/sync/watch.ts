/**
 * watch: a single value that changes, observed by many receivers (tokio's `sync::watch`).
 * Receivers see the *latest* value, not every value: intermediate values may be skipped.
 *
 * ```ts
 * const [tx, rx] = watch.channel('starting');
 * tx.send('ready');
 * yield* rx.changed();                 // a value this receiver has not seen
 * rx.borrowAndUpdate();                // 'ready'
 * ```
 *
 * - `tx.send(v)` stores and announces `v`; it throws `SendError` (value in `err.value`) when no
 *   receiver is left (the value is not stored). `tx.sendReplace(v)` stores even then and returns
 *   the old value; `tx.sendModify(f)` changes the value in place.
 * - `rx.changed()` waits for a value newer than the last one this receiver marked seen, and marks
 *   it seen. When every sender is closed or gone and the newest value has been seen, it throws
 *   `RecvError('closed')`. `rx.borrow()` reads the latest value at any time.
 */
import { type Context, type Poll } from '../future';
import { checkFunction } from '../validate';
import { RecvWaiter, SenderHandle, SubscribedShared, Subscription, subscriptionGone } from './channel';
import { RecvError, SendError } from './errors';

/** Internal to lib/sync. */
class Shared<T> extends SubscribedShared<Changed<unknown>> {
  version = 0;

  constructor(public value: T) {
    super();
  }

  announce(): void {
    this.version++;
    this.rxWaiters.wakeAll();
  }
}

/** A receiver's state: the version it last marked seen. */
class Seen<T> extends Subscription<Shared<T>> {
  constructor(
    shared: Shared<T>,
    public version: number,
  ) {
    super(shared);
  }
}

export class Sender<T> extends SenderHandle<Shared<T>> {

  /** Store and announce `value`. Throws `SendError` (value in `err.value`) if no receiver is left or this sender was closed. */
  send(value: T): void {
    this.checkOpen(value);
    if (this.shared.receivers === 0) throw new SendError(value, 'watch: no receiver; the value was not stored (it is in err.value)');
    this.shared.value = value;
    this.shared.announce();
  }

  /** Store and announce `value` even with no receiver; returns the previous value. */
  sendReplace(value: T): T {
    this.checkOpen(value);
    const old = this.shared.value;
    this.shared.value = value;
    this.shared.announce();
    return old;
  }

  /** Change the value in place with `f(value)` and announce it, with or without receivers. */
  sendModify(f: (value: T) => void): void {
    checkFunction(f, 'watch Sender.sendModify(f): f');
    this.checkOpen(undefined);
    f(this.shared.value);
    this.shared.announce();
  }

  /** The current value. */
  borrow(): T {
    return this.shared.value;
  }

  /** A new receiver; the current value counts as seen by it. */
  subscribe(): Receiver<T> {
    return new Receiver(new Seen(this.shared, this.shared.version));
  }

  clone(): Sender<T> {
    this.cloneCheck('watch');
    return new Sender(this.shared);
  }

  get receiverCount(): number {
    return this.shared.receivers;
  }

  private checkOpen(value: unknown): void {
    if (this.closedHandle) throw new SendError(value, 'watch: send on a sender that was closed; the value is in err.value');
  }
}

export class Receiver<T> {
  /** @internal */
  readonly seen: Seen<T>;

  constructor(seen: Seen<T>) {
    this.seen = seen;
    subscriptionGone.watch(this, seen);
  }

  /** The latest value (does not mark it seen). */
  borrow(): T {
    return this.seen.shared.value;
  }

  /** The latest value, marked seen. */
  borrowAndUpdate(): T {
    this.seen.version = this.seen.shared.version;
    return this.seen.shared.value;
  }

  /** True if a value newer than the last one marked seen has been sent. */
  hasChanged(): boolean {
    return this.seen.version !== this.seen.shared.version;
  }

  /** Make the current value count as unseen, so `changed()` completes at once. */
  markChanged(): void {
    this.seen.version = this.seen.shared.version - 1;
  }

  /** Make the current value count as seen. */
  markUnchanged(): void {
    this.seen.version = this.seen.shared.version;
  }

  /**
   * Wait for a value this receiver has not seen, and mark it seen. Throws `RecvError('closed')`
   * when every sender is gone and the newest value was seen. Cancel-safe (see `Changed`).
   */
  changed(): Changed<T> {
    return new Changed(this, null);
  }

  /**
   * Wait until the value satisfies `predicate` (checking the current value first); resolves to
   * that value, marked seen. Throws `RecvError('closed')` if the senders go first. Cancel-safe.
   */
  waitFor(predicate: (value: T) => boolean): Changed<T> {
    checkFunction(predicate, 'watch Receiver.waitFor(predicate): predicate');
    return new Changed(this, predicate);
  }

  /** Another receiver, with this one's seen-state. */
  clone(): Receiver<T> {
    if (this.seen.closed) throw new Error('polled: watch: cannot clone a receiver that was closed');
    return new Receiver(new Seen(this.seen.shared, this.seen.version));
  }

  /** Stop receiving: this receiver no longer counts. Idempotent. */
  close(): void {
    subscriptionGone.forget(this);
    this.seen.close();
  }

  /** True once every sender is closed or gone. */
  isClosed(): boolean {
    return this.seen.shared.senders === 0;
  }
}

/**
 * The future of `Receiver.changed()` (resolves to the new value) and `Receiver.waitFor(pred)`.
 *
 * Cancel-safe: a value is marked seen only in the poll that returns it, so a cancelled
 * `changed()` leaves the change for the next call.
 */
export class Changed<T> extends RecvWaiter<T> {
  constructor(
    private readonly rx: Receiver<T>,
    private readonly predicate: ((value: T) => boolean) | null,
  ) {
    super(rx.seen.shared.rxWaiters);
  }

  override waitingFor(): string {
    const seen = this.rx.seen;
    return `watch.${this.predicate !== null ? 'waitFor' : 'changed'}, seen version ${seen.version} of ${seen.shared.version}`;
  }

  poll(cx: Context): Poll<T> {
    this.checkPollable('watch changed()');
    const seen = this.rx.seen;
    const sh = seen.shared;
    if (seen.closed) {
      this.finish();
      throw new RecvError('closed');
    }
    if (this.predicate !== null) {
      // waitFor: the current value counts on the first poll; later, only new versions.
      if (this.isInit || seen.version !== sh.version) {
        seen.version = sh.version;
        let ok: boolean;
        try {
          ok = this.predicate(sh.value);
        } catch (err) {
          this.finish();
          throw err;
        }
        if (ok) {
          this.finish();
          return sh.value;
        }
      }
    } else if (seen.version !== sh.version) {
      seen.version = sh.version;
      this.finish();
      return sh.value;
    }
    if (sh.senders === 0) {
      this.finish();
      throw new RecvError('closed');
    }
    return this.wait(cx);
  }
}

/** A watch channel holding `initial`: `[sender, receiver]`. The initial value counts as seen. */
export function channel<T>(initial: T): [Sender<T>, Receiver<T>] {
  const sh = new Shared<T>(initial);
  return [new Sender(sh), new Receiver(new Seen(sh, 0))];
}
