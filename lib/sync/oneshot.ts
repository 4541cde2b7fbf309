/**
 * oneshot: a channel for exactly one value (tokio's `sync::oneshot`).
 *
 * ```ts
 * const [tx, rx] = oneshot<number>();
 * spawn(function* () { tx.send(42); }());
 * const v = yield* rx.recv();          // 42
 * ```
 *
 * - `tx.send(v)` is synchronous. If the receiver is closed or gone it throws `SendError`, with
 *   the value handed back in `err.value`. A sender sends once; a second `send` throws too.
 * - If the sender is closed (or garbage-collected) without sending, `rx.recv()` throws
 *   `RecvError` with `kind: 'closed'`.
 * - `tx.closed()` waits until the receiver is closed or gone (stop computing a value nobody wants).
 */
import { type Context, type Poll } from '../future';
import { RecvWaiter } from './channel';
import { RecvError, SendError, TryRecvError } from './errors';
import { GoneRegistry } from './util';
import { Closed } from './closed';
import { WaitList } from './waitlist';

export { Closed };

const enum Slot {
  Empty,
  Full,
  Taken,
}

class Inner<T> {
  slot = Slot.Empty;
  value: T | undefined = undefined;
  txClosed = false;
  rxClosed = false;
  readonly rxWaiters = new WaitList<Recv<T>>();
  readonly txWaiters = new WaitList<Closed>();

  closeTx(): void {
    if (this.txClosed) return;
    this.txClosed = true;
    this.rxWaiters.wakeAll();
  }

  closeRx(): void {
    if (this.rxClosed) return;
    this.rxClosed = true;
    this.txWaiters.wakeAll();
    this.rxWaiters.wakeAll(); // a recv waiting on a closed receiver ends
  }
}

const txGone = new GoneRegistry<Inner<unknown>>((inner) => inner.closeTx());
const rxGone = new GoneRegistry<Inner<unknown>>((inner) => {
  inner.closeRx();
  inner.value = undefined;
});

export class Sender<T> {
  private used = false;
  constructor(private readonly inner: Inner<T>) {
    txGone.watch(this, inner as Inner<unknown>);
  }

  /**
   * Send the value. Throws `SendError` (value in `err.value`) if the receiver is closed or gone,
   * or if this sender already sent or was closed.
   */
  send(value: T): void {
    const inner = this.inner;
    if (this.used) throw new SendError(value, 'oneshot: this sender was already used (sent or closed); the value is in err.value');
    this.used = true;
    txGone.forget(this);
    if (inner.rxClosed) {
      inner.txClosed = true;
      throw new SendError(value, 'oneshot: the receiver is closed; the value is in err.value');
    }
    inner.value = value;
    inner.slot = Slot.Full;
    inner.closeTx();
  }

  /** Close without sending: the receiver's `recv` throws `RecvError('closed')`. Idempotent. */
  close(): void {
    if (this.used) return;
    this.used = true;
    txGone.forget(this);
    this.inner.closeTx();
  }

  /** True once the receiver is closed or gone: a `send` would fail. */
  isClosed(): boolean {
    return this.inner.rxClosed;
  }

  /** A future that completes when the receiver is closed or gone. Cancel-safe. */
  closed(): Closed {
    return new Closed(this.inner as Inner<unknown>);
  }
}

export class Receiver<T> {
  private readonly inner: Inner<T>;
  constructor(inner: Inner<T>) {
    this.inner = inner;
    rxGone.watch(this, inner as Inner<unknown>);
  }

  /** Wait for the value. Throws `RecvError('closed')` if the sender closed without sending. See `Recv`. */
  recv(): Recv<T> {
    return new Recv(this.inner, this);
  }

  /** The value if it has been sent; else throws `TryRecvError` with kind `'empty'` or `'closed'`. */
  tryRecv(): T {
    const inner = this.inner;
    if (inner.slot === Slot.Full) return take(inner);
    if (inner.slot === Slot.Empty && !inner.txClosed) throw new TryRecvError('empty');
    throw new TryRecvError('closed');
  }

  /**
   * Refuse the value: a later `send` throws `SendError`, and a `recv` with nothing sent throws
   * `RecvError('closed')`. A value sent before the close can still be received.
   */
  close(): void {
    rxGone.forget(this);
    this.inner.closeRx();
  }

  /** True once the sender has sent or closed (a `recv` will not wait). */
  isTerminated(): boolean {
    return this.inner.txClosed;
  }
}

function take<T>(inner: Inner<T>): T {
  const v = inner.value as T;
  inner.value = undefined;
  inner.slot = Slot.Taken;
  return v;
}

/**
 * The future of `oneshot` `Receiver.recv()`. Cancel-safe: the value leaves the channel only in
 * the poll that returns it, so a cancelled `recv` leaves it there for the next one.
 */
export class Recv<T> extends RecvWaiter<T> {
  constructor(
    private readonly inner: Inner<T>,
    // Keeps the receiver alive (not "gone") while someone waits on it.
    readonly receiver: Receiver<T>,
  ) {
    super(inner.rxWaiters);
  }

  override waitingFor(): string {
    return `oneshot.recv, ${this.inner.slot === Slot.Full ? 'value sent, not yet polled' : 'nothing sent yet'}`;
  }

  poll(cx: Context): Poll<T> {
    const inner = this.inner;
    this.checkPollable('oneshot recv()');
    if (inner.slot === Slot.Full) {
      this.finish();
      return take(inner);
    }
    if (inner.txClosed || inner.rxClosed) {
      this.finish();
      throw new RecvError('closed');
    }
    return this.wait(cx);
  }
}

/** A oneshot channel: `[sender, receiver]`. */
export function channel<T>(): [Sender<T>, Receiver<T>] {
  const inner = new Inner<T>();
  return [new Sender(inner), new Receiver(inner)];
}

/** A oneshot channel: `[sender, receiver]` (the same as `channel()`). */
export function oneshot<T>(): [Sender<T>, Receiver<T>] {
  return channel<T>();
}
