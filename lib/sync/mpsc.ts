/**
 * mpsc: a multi-producer, single-consumer queue of messages (tokio's `sync::mpsc`).
 *
 * ```ts
 * const [tx, rx] = mpsc.channel<string>(64);   // bounded: at most 64 queued
 * spawn(function* () {
 *   try { yield* tx.send('hello'); } finally { tx.close(); }
 * }());
 * for (let m; !(m = yield* rx.next()).done; ) console.log(m.value);
 * ```
 *
 * - **Bounded** (`channel(capacity)`): `send` waits while the queue is full (backpressure);
 *   waiting senders are served in FIFO order. `trySend` fails with `TrySendError('full')`
 *   instead of waiting. `reserve()` waits for a slot first and sends synchronously after, which is
 *   the cancel-safe way to send inside a `select`.
 * - **Unbounded** (`unboundedChannel()`): `send` is synchronous and never waits.
 * - Senders are cloned with `tx.clone()`. When every sender is closed (`close()`) or gone
 *   (garbage-collected), the receiver gets the messages still queued, then `recv` throws
 *   `RecvError('closed')` (and `next()` returns `{ done: true }`).
 * - When the receiver is closed or gone, every send throws `SendError` carrying the value back
 *   (`err.value`); nothing is lost silently. `rx.close()` still lets it drain what was queued.
 */
import { FutureBase, PENDING, type Context, type Poll } from '../future';
import { MessageRecv, SenderHandle, ChannelShared } from './channel';
import { AcquireError, RecvError, SendError, TryRecvError, TrySendError } from './errors';
import { Semaphore, type Acquire } from './semaphore';
import { checkCount } from '../validate';
import { Deque } from '../deque';
import { GoneRegistry } from './util';

/** (Internal to lib/sync.) The state both ends share. */
class Chan<T> extends ChannelShared<Recv<T, unknown>> {
  readonly queue = new Deque<T>();
  /** Free slots of a bounded channel (null: unbounded). */
  readonly slots: Semaphore | null;
  rxClosed = false;

  constructor(readonly capacity: number) {
    super();
    this.slots = capacity === Infinity ? null : new Semaphore(capacity);
  }

  /** Queue a message (its slot, if bounded, is already taken) and wake one waiting `recv`. */
  push(v: T): void {
    this.queue.push(v);
    this.wakeOneRx();
  }

  wakeOneRx(): void {
    const w = this.rxWaiters.shift();
    if (w === null) return;
    w.notified = true;
    w.wakeWaiter();
  }

  /** Take the oldest message and free its slot. */
  take(): T {
    const v = this.queue.shift();
    this.slots?.release(1);
    return v;
  }

  get ended(): boolean {
    return this.senders === 0 || this.rxClosed;
  }

  closeRx(): void {
    if (this.rxClosed) return;
    this.rxClosed = true;
    this.slots?.close(); // waiting senders fail with SendError
    this.txWaiters.wakeAll();
    this.rxWaiters.wakeAll();
  }
}

const rxGone = new GoneRegistry<Chan<unknown>>((chan) => {
  chan.closeRx();
  chan.queue.clear();
});

abstract class SenderBase<T> extends SenderHandle<Chan<T>> {
  /** True if `other` sends into the same channel. */
  sameChannel(other: SenderBase<unknown>): boolean {
    return other instanceof SenderBase && other.shared === (this.shared as Chan<unknown>);
  }

  /** @internal Throws SendError if this handle is closed or the receiver is. */
  protected checkSend(value: T): void {
    if (this.closedHandle) throw new SendError(value, 'mpsc: send() on a sender that was closed; the value is in err.value');
    if (this.shared.rxClosed) throw new SendError(value, 'mpsc: the receiver is closed; the value is in err.value');
  }

  /** @internal True once this handle was closed. */
  get handleClosed(): boolean {
    return this.closedHandle;
  }
}

/** The sending half of a bounded channel. */
export class Sender<T> extends SenderBase<T> {
  /**
   * Send `value`, waiting while the channel is full. Throws `SendError` (value in `err.value`)
   * if the receiver is closed or gone, or this sender was closed. See `Send` for cancel safety.
   */
  send(value: T): Send<T> {
    return new Send(this, value);
  }

  /** Send now, or throw `TrySendError` with kind `'full'` or `'closed'` (value in `err.value`). */
  trySend(value: T): void {
    if (this.closedHandle || this.shared.rxClosed) throw new TrySendError('closed', value);
    if (!this.shared.slots!.tryTake(1)) throw new TrySendError('full', value);
    this.shared.push(value);
  }

  /**
   * Wait for a free slot and hold it: the returned `SendPermit` then sends synchronously. The
   * cancel-safe way to send from a `select`: a cancelled `reserve()` holds nothing, and no value
   * was at stake.
   */
  reserve(): Reserve<T> {
    return new Reserve(this);
  }

  /** Another sender for the same channel. */
  clone(): Sender<T> {
    this.cloneCheck('mpsc');
    return new Sender(this.shared);
  }

  /** Free slots right now. */
  capacity(): number {
    return this.shared.slots!.availablePermits();
  }

  /** The capacity the channel was made with. */
  get maxCapacity(): number {
    return this.shared.capacity;
  }

  /** @internal */
  beginSend(value: T): void {
    this.checkSend(value);
  }
}

/** The sending half of an unbounded channel: `send` never waits. */
export class UnboundedSender<T> extends SenderBase<T> {
  /** Queue `value`. Throws `SendError` (value in `err.value`) if the receiver is closed or gone, or this sender was closed. */
  send(value: T): void {
    this.checkSend(value);
    this.shared.push(value);
  }

  clone(): UnboundedSender<T> {
    this.cloneCheck('mpsc');
    return new UnboundedSender(this.shared);
  }
}

const enum SendState {
  Init,
  Waiting,
  Done,
}

/**
 * The future of bounded `Sender.send(value)`.
 *
 * Cancel-safe in tokio's sense: if it is cancelled (a `select` took another branch), the value
 * was *not* sent, and the channel holds nothing for it (no slot leaks); you still hold the value
 * and may send it again. It loses its place among the waiting senders. To keep your place across
 * a `select`, use `reserve()`.
 */
export class Send<T> extends FutureBase<void> {
  private state = SendState.Init;
  private acquire: Acquire | null = null;
  private value: T | undefined;

  constructor(
    private readonly sender: Sender<T>,
    value: T,
  ) {
    super();
    this.value = value;
  }

  override waitingFor(): string {
    const chan = this.sender.shared;
    return `mpsc.send, channel full (${chan.queue.length} of ${chan.capacity} queued), ${this.acquire?.queuePosition ?? 'not queued'}`;
  }

  poll(cx: Context): Poll<void> {
    const chan = this.sender.shared;
    if (this.state === SendState.Init) {
      const v = this.value as T;
      try {
        this.sender.beginSend(v);
      } catch (err) {
        this.finish();
        throw err;
      }
      if (chan.slots!.tryTake(1)) {
        this.finish();
        chan.push(v);
        return undefined;
      }
      this.acquire = chan.slots!.acquire(1);
      this.state = SendState.Waiting;
    } else if (this.state === SendState.Done) {
      throw new Error('polled: mpsc send() future polled after it completed');
    }
    let p;
    try {
      p = this.acquire!.poll(cx);
    } catch (err) {
      const v = this.value as T;
      this.finish();
      if (err instanceof AcquireError) throw new SendError(v, 'mpsc: the receiver is closed; the value is in err.value');
      throw err;
    }
    if (p === PENDING) return PENDING;
    const v = this.value as T;
    this.finish();
    if (chan.rxClosed) {
      // Granted a slot just before the receiver closed: the message would never be received.
      p.release();
      throw new SendError(v, 'mpsc: the receiver is closed; the value is in err.value');
    }
    p.forget(); // the slot now belongs to the message; recv frees it
    chan.push(v);
    return undefined;
  }

  private finish(): void {
    this.state = SendState.Done;
    this.acquire = null;
    this.value = undefined;
  }

  override drop(): void {
    if (this.state === SendState.Waiting) this.acquire!.drop();
    this.finish();
  }
}

/**
 * The future of `Sender.reserve()`: resolves to a `SendPermit` holding one slot.
 * Cancel-safe: a cancelled reserve holds no slot (a slot granted to it goes back).
 */
export class Reserve<T> extends FutureBase<SendPermit<T>> {
  private acquire: Acquire | null = null;
  private done = false;

  constructor(private readonly sender: Sender<T>) {
    super();
  }

  override waitingFor(): string {
    const chan = this.sender.shared;
    return `mpsc.reserve, channel full (${chan.queue.length} of ${chan.capacity} queued), ${this.acquire?.queuePosition ?? 'not queued'}`;
  }

  poll(cx: Context): Poll<SendPermit<T>> {
    if (this.done) throw new Error('polled: mpsc reserve() future polled after it completed');
    const chan = this.sender.shared;
    if (this.acquire === null) {
      if (this.sender.handleClosed || chan.rxClosed) {
        this.done = true;
        throw new SendError(undefined, 'mpsc: reserve() on a closed channel or sender');
      }
      this.acquire = chan.slots!.acquire(1);
    }
    let p;
    try {
      p = this.acquire.poll(cx);
    } catch (err) {
      this.done = true;
      if (err instanceof AcquireError) throw new SendError(undefined, 'mpsc: the receiver is closed');
      throw err;
    }
    if (p === PENDING) return PENDING;
    this.done = true;
    if (chan.rxClosed) {
      p.release();
      throw new SendError(undefined, 'mpsc: the receiver is closed');
    }
    p.forget();
    return new SendPermit(chan);
  }

  override drop(): void {
    if (!this.done) this.acquire?.drop();
    this.done = true;
  }
}

/** One reserved slot of a bounded channel: `send(value)` once, or `release()` to give the slot back. */
export class SendPermit<T> {
  private held = true;
  constructor(private readonly chan: Chan<T>) {}

  /** Queue `value` in the reserved slot. Synchronous; throws if the permit was already used. */
  send(value: T): void {
    if (!this.held) throw new SendError(value, 'mpsc: this SendPermit was already used or released; the value is in err.value');
    this.held = false;
    if (this.chan.rxClosed) {
      this.chan.slots!.release(1);
      throw new SendError(value, 'mpsc: the receiver is closed; the value is in err.value');
    }
    this.chan.push(value);
  }

  /** Give the slot back unused. Throws if the permit was already used. */
  release(): void {
    if (!this.held) throw new Error('polled: mpsc: this SendPermit was already used or released');
    this.held = false;
    this.chan.slots!.release(1);
  }
}

/** The receiving half (bounded or unbounded). */
export class Receiver<T> {
  /** @internal */
  readonly chan: Chan<T>;

  constructor(chan: Chan<T>) {
    this.chan = chan;
    rxGone.watch(this, chan as Chan<unknown>);
  }

  /**
   * The next message, waiting for one. Throws `RecvError('closed')` once every sender is closed
   * or gone and the queue is empty. Cancel-safe (see `Recv`).
   */
  recv(): Recv<T, T> {
    return new Recv<T, T>(this, false);
  }

  /**
   * The next message as an iterator result: `{ done: false, value }`, or `{ done: true }` once
   * the channel has ended. The loop form: `for (let m; !(m = yield* rx.next()).done; ) use(m.value);`
   * Cancel-safe.
   */
  next(): Recv<T, IteratorResult<T, undefined>> {
    return new Recv<T, IteratorResult<T, undefined>>(this, true);
  }

  /** A message now, or throws `TryRecvError` with kind `'empty'` or `'closed'`. */
  tryRecv(): T {
    const chan = this.chan;
    if (chan.queue.length > 0) return chan.take();
    throw new TryRecvError(chan.ended ? 'closed' : 'empty');
  }

  /**
   * Refuse further messages: every send (and waiting send) throws `SendError` with its value.
   * Messages already queued can still be received. Idempotent.
   */
  close(): void {
    this.chan.closeRx();
  }

  /** True once no more messages can arrive (every sender closed or gone, or this receiver closed). */
  isClosed(): boolean {
    return this.chan.ended;
  }

  /** Messages queued right now. */
  get length(): number {
    return this.chan.queue.length;
  }

  isEmpty(): boolean {
    return this.chan.queue.length === 0;
  }
}

/**
 * The future of `Receiver.recv()` and `Receiver.next()`.
 *
 * Cancel-safe: a message leaves the queue only in the poll that returns it, so a cancelled
 * `recv` (a `select` that took another branch, a `timeout`) loses no message; the next `recv`
 * gets it. A cancelled `recv` that had been woken for a message passes the wake-up on.
 */
export class Recv<T, R> extends MessageRecv<T, R> {
  /** @internal Woken for a message (by `push`); passes the wake on if dropped. */
  notified = false;

  constructor(
    private readonly rx: Receiver<T>,
    iter: boolean,
  ) {
    super(rx.chan.rxWaiters, iter);
  }

  override waitingFor(): string {
    const chan = this.rx.chan;
    const senders = chan.senders === 1 ? '1 sender' : `${chan.senders} senders`;
    return `mpsc.recv, ${chan.queue.length} queued, ${senders}`;
  }

  poll(cx: Context): Poll<R> {
    this.checkPollable('mpsc recv()');
    const chan = this.rx.chan;
    if (chan.queue.length > 0) return this.message(chan.take());
    if (chan.ended) return this.ended();
    this.notified = false;
    return this.wait(cx);
  }

  override drop(): void {
    if (!this.isWaiting) return;
    const chan = this.rx.chan;
    this.finish();
    // Woken for a message it will never take: wake the next receiver for it.
    if (this.notified && chan.queue.length > 0) chan.wakeOneRx();
  }
}

/** A bounded channel: `[sender, receiver]`; `send` waits while `capacity` messages are queued. */
export function channel<T>(capacity: number): [Sender<T>, Receiver<T>] {
  checkCount(capacity, 'mpsc.channel(capacity): capacity', 1);
  const chan = new Chan<T>(capacity);
  return [new Sender(chan), new Receiver(chan)];
}

/** An unbounded channel: `[sender, receiver]`; `send` never waits (memory is the limit). */
export function unboundedChannel<T>(): [UnboundedSender<T>, Receiver<T>] {
  const chan = new Chan<T>(Infinity);
  return [new UnboundedSender(chan), new Receiver(chan)];
}
