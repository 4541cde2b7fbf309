/**
 * broadcast: every receiver sees every message (tokio's `sync::broadcast`).
 *
 * ```ts
 * const [tx, rx1] = broadcast.channel<string>(16);
 * const rx2 = tx.subscribe();
 * tx.send('hi');                       // both rx1 and rx2 will receive 'hi'
 * ```
 *
 * The channel keeps the last `capacity` messages. Sending never waits: a receiver that falls
 * more than `capacity` messages behind *lags*: its next `recv` throws `RecvError` with
 * `kind: 'lagged'` and `missed` (how many messages it lost), and the `recv` after that returns
 * the oldest message still held. A lagging receiver never slows the sender or the others.
 *
 * - `tx.send(v)` returns how many receivers will see the message; with no receiver at all it
 *   throws `SendError` (value in `err.value`).
 * - `tx.subscribe()` makes a receiver that sees messages sent from now on; `rx.resubscribe()`
 *   the same.
 * - When every sender is closed or gone, receivers get what is left, then
 *   `RecvError('closed')`.
 */
import { type Context, type Poll } from '../future';
import { checkCount } from '../validate';
import { MessageRecv, SenderHandle, SubscribedShared, Subscription, subscriptionGone } from './channel';
import { RecvError, SendError, TryRecvError } from './errors';

/** The largest capacity accepted (the ring is allocated up front). */
export const MAX_CAPACITY = 1 << 24;

/** Internal to lib/sync. */
class Shared<T> extends SubscribedShared<Recv<T, unknown>> {
  readonly buf: Array<T | undefined>;
  /** Receivers that have yet to read each slot; the value is released when it reaches 0. */
  readonly rem: Float64Array;
  /** Sequence number of the next message. */
  tail = 0;

  constructor(readonly capacity: number) {
    super();
    this.buf = new Array(capacity);
    this.rem = new Float64Array(capacity);
  }

  /** Oldest sequence number still held. */
  get head(): number {
    return this.tail > this.capacity ? this.tail - this.capacity : 0;
  }

  read(seq: number): T {
    const i = seq % this.capacity;
    const v = this.buf[i] as T;
    if (--this.rem[i] <= 0) this.buf[i] = undefined;
    return v;
  }
}

/** A receiver's position. */
class Cursor<T> extends Subscription<Shared<T>> {
  constructor(
    shared: Shared<T>,
    public next: number,
  ) {
    super(shared);
  }

  /** Release this receiver's claim on the messages it will never read. */
  protected override release(): void {
    const sh = this.shared;
    for (let s = Math.max(this.next, sh.head); s < sh.tail; s++) sh.read(s);
  }
}

export class Sender<T> extends SenderHandle<Shared<T>> {

  /**
   * Send to every current receiver; returns how many. Throws `SendError` (value in `err.value`)
   * if there is no receiver, or this sender was closed.
   */
  send(value: T): number {
    const sh = this.shared;
    if (this.closedHandle) throw new SendError(value, 'broadcast: send() on a sender that was closed; the value is in err.value');
    if (sh.receivers === 0) throw new SendError(value, 'broadcast: no receiver; the value is in err.value');
    const i = sh.tail % sh.capacity;
    sh.buf[i] = value;
    sh.rem[i] = sh.receivers;
    sh.tail++;
    sh.rxWaiters.wakeAll();
    return sh.receivers;
  }

  /** A new receiver that sees messages sent from now on. */
  subscribe(): Receiver<T> {
    return new Receiver(new Cursor(this.shared, this.shared.tail));
  }

  /** Another sender for the same channel. */
  clone(): Sender<T> {
    this.cloneCheck('broadcast');
    return new Sender(this.shared);
  }

  get receiverCount(): number {
    return this.shared.receivers;
  }
}

export class Receiver<T> {
  /** @internal */
  readonly cursor: Cursor<T>;

  constructor(cursor: Cursor<T>) {
    this.cursor = cursor;
    subscriptionGone.watch(this, cursor);
  }

  /**
   * The next message. Throws `RecvError` with kind `'lagged'` (and `missed`) if messages were
   * overwritten before this receiver read them, or `'closed'` once every sender is gone and
   * nothing is left. Cancel-safe (see `Recv`).
   */
  recv(): Recv<T, T> {
    return new Recv<T, T>(this, false);
  }

  /**
   * `{ done: false, value }` per message, `{ done: true }` once the channel has ended. Lagging
   * still throws `RecvError('lagged')`. Cancel-safe.
   */
  next(): Recv<T, IteratorResult<T, undefined>> {
    return new Recv<T, IteratorResult<T, undefined>>(this, true);
  }

  /** A message now, or throws `TryRecvError` with kind `'empty'`, `'closed'` or `'lagged'` (with `missed`). */
  tryRecv(): T {
    const c = this.cursor;
    const r = step(c);
    if (r === STEP_EMPTY) throw new TryRecvError(c.shared.senders === 0 || c.closed ? 'closed' : 'empty');
    if (r === STEP_LAGGED) throw new TryRecvError('lagged', lastMissed);
    return r as T;
  }

  /** A new receiver for the same channel, seeing messages sent from now on. */
  resubscribe(): Receiver<T> {
    return new Receiver(new Cursor(this.cursor.shared, this.cursor.shared.tail));
  }

  /** Stop receiving: this receiver no longer counts, and messages it has not read are released. Idempotent. */
  close(): void {
    subscriptionGone.forget(this);
    this.cursor.close();
  }

  /** True once every sender is closed or gone (messages may still be left to receive). */
  isClosed(): boolean {
    return this.cursor.shared.senders === 0;
  }

  /** Messages this receiver has yet to read (including ones it will find overwritten). */
  get length(): number {
    const c = this.cursor;
    return c.closed ? 0 : c.shared.tail - c.next;
  }

  isEmpty(): boolean {
    return this.length === 0;
  }
}

const STEP_EMPTY: unique symbol = Symbol('empty');
const STEP_LAGGED: unique symbol = Symbol('lagged');
let lastMissed = 0;

/** Advance a cursor by one message: the value, STEP_LAGGED (with lastMissed), or STEP_EMPTY. */
function step<T>(c: Cursor<T>): T | typeof STEP_EMPTY | typeof STEP_LAGGED {
  if (c.closed) return STEP_EMPTY;
  const sh = c.shared;
  const head = sh.head;
  if (c.next < head) {
    lastMissed = head - c.next;
    c.next = head;
    return STEP_LAGGED;
  }
  if (c.next < sh.tail) return sh.read(c.next++);
  return STEP_EMPTY;
}

/**
 * The future of broadcast `Receiver.recv()` / `next()`.
 *
 * Cancel-safe: the receiver's position advances only in the poll that returns a message (or
 * reports the lag), so a cancelled `recv` loses nothing.
 */
export class Recv<T, R> extends MessageRecv<T, R> {
  constructor(
    private readonly rx: Receiver<T>,
    iter: boolean,
  ) {
    super(rx.cursor.shared.rxWaiters, iter);
  }

  override waitingFor(): string {
    const sh = this.rx.cursor.shared;
    return `broadcast.recv, 0 unread (capacity ${sh.capacity}), ${sh.senders} sender${sh.senders === 1 ? '' : 's'}`;
  }

  poll(cx: Context): Poll<R> {
    this.checkPollable('broadcast recv()');
    const c = this.rx.cursor;
    const r = step(c);
    if (r === STEP_LAGGED) {
      this.finish();
      throw new RecvError('lagged', lastMissed);
    }
    if (r !== STEP_EMPTY) return this.message(r);
    if (c.closed || c.shared.senders === 0) return this.ended();
    return this.wait(cx);
  }
}

/** A broadcast channel keeping the last `capacity` messages: `[sender, receiver]`. */
export function channel<T>(capacity: number): [Sender<T>, Receiver<T>] {
  checkCount(capacity, 'broadcast.channel(capacity): capacity', 1);
  if (capacity > MAX_CAPACITY) throw new RangeError(`broadcast.channel(capacity): capacity must be at most ${MAX_CAPACITY}, got ${capacity}`);
  const sh = new Shared<T>(capacity);
  const tx = new Sender(sh);
  return [tx, new Receiver(new Cursor(sh, 0))];
}
