/**
 * The plumbing the channels share:
 *
 * - `ChannelShared`: the state a multi-sender channel's handles share (the sender count, the
 *   receivers' and the senders' wait lists); `SubscribedShared` adds a receiver count (broadcast,
 *   watch), and `Subscription` is one receiver's claim on it.
 * - `SenderHandle`: a sender's `close()`, `clone()` check, `isClosed()`, `closed()`, and "gone"
 *   detection (a sender garbage-collected without `close()` counts as closed).
 * - `RecvWaiter`: the leaf future that waits in the receivers' list until it completes or is
 *   dropped; `MessageRecv` adds the `recv()` / `next()` forms of a message.
 */
import { PENDING, type Context, type Poll } from '../future';
import { Closed } from './closed';
import { RecvError } from './errors';
import { GoneRegistry } from './util';
import { WaitList, Waiter } from './waitlist';

/** (Internal to lib/sync.) What every multi-sender channel's handles share. */
export abstract class ChannelShared<W extends Waiter<unknown>> {
  senders = 1;
  readonly rxWaiters = new WaitList<W>();
  readonly txWaiters = new WaitList<Closed>();

  /** No receiver is left: sends fail and `Sender.closed()` completes. */
  abstract readonly rxClosed: boolean;

  dropSender(): void {
    if (--this.senders === 0) this.rxWaiters.wakeAll();
  }
}

/** (Internal to lib/sync.) A channel with any number of receivers, each a `Subscription`. */
export abstract class SubscribedShared<W extends Waiter<unknown>> extends ChannelShared<W> {
  receivers = 0;

  get rxClosed(): boolean {
    return this.receivers === 0;
  }
}

/**
 * (Internal to lib/sync.) One receiver's claim on a `SubscribedShared`, kept apart from the Receiver object so
 * that "gone" can close it.
 */
export class Subscription<S extends SubscribedShared<Waiter<unknown>>> {
  closed = false;

  constructor(readonly shared: S) {
    shared.receivers++;
  }

  /** Stop counting as a receiver; wakes the senders' `closed()` if it was the last. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.release();
    if (--this.shared.receivers === 0) this.shared.txWaiters.wakeAll();
    if (!this.shared.rxWaiters.isEmpty) this.shared.rxWaiters.wakeAll(); // this receiver's waiting future ends (the others wait again)
  }

  /** What a subclass lets go of on close, before it stops counting. */
  protected release(): void {}
}

/** A Receiver garbage-collected without `close()` closes its subscription. */
export const subscriptionGone = new GoneRegistry<Subscription<SubscribedShared<Waiter<unknown>>>>((sub) => sub.close());

const senderGone = new GoneRegistry<ChannelShared<Waiter<unknown>>>((sh) => sh.dropSender());

/** The sending handle of a multi-sender channel. */
export abstract class SenderHandle<S extends ChannelShared<Waiter<unknown>>> {
  protected closedHandle = false;

  constructor(
    /** @internal */
    readonly shared: S,
  ) {
    senderGone.watch(this, shared);
  }

  /** Close this sender. When every sender is closed or gone the receivers end. Idempotent. */
  close(): void {
    if (this.closedHandle) return;
    this.closedHandle = true;
    senderGone.forget(this);
    this.shared.dropSender();
  }

  /** True when no receiver is left: every send will fail. */
  isClosed(): boolean {
    return this.shared.rxClosed;
  }

  /** A future that completes when no receiver is left. Cancel-safe. */
  closed(): Closed {
    return new Closed(this.shared);
  }

  /** @internal For `clone()`: throws if this handle was closed, else counts one more sender. */
  protected cloneCheck(channel: string): void {
    if (this.closedHandle) throw new Error(`polled: ${channel}: cannot clone a sender that was closed`);
    this.shared.senders++;
  }
}

const enum RecvState {
  Init,
  Waiting,
  Done,
}

/**
 * A channel's receiving leaf future: it waits in `list` (the receivers' wait list), and leaves it
 * when it completes (`finish`) or is dropped.
 */
export abstract class RecvWaiter<R> extends Waiter<R> {
  private state = RecvState.Init;

  constructor(private readonly list: WaitList<Waiter<unknown>>) {
    super();
  }

  /** Not polled yet. */
  protected get isInit(): boolean {
    return this.state === RecvState.Init;
  }

  /** Waiting in the list (polled, not completed, not dropped). */
  protected get isWaiting(): boolean {
    return this.state === RecvState.Waiting;
  }

  /** Throws if this future already completed: `polled: <what> future polled after it completed`. */
  protected checkPollable(what: string): void {
    if (this.state === RecvState.Done) throw new Error(`polled: ${what} future polled after it completed`);
  }

  /** Completed, with a value or an error: leave the list. */
  protected finish(): void {
    this.list.remove(this);
    this.state = RecvState.Done;
    this.waker = null;
  }

  /** Nothing yet: wait in the list (once) for the next wake. */
  protected wait(cx: Context): typeof PENDING {
    this.state = RecvState.Waiting;
    if (!this.isQueued) this.list.push(this);
    this.park(cx);
    return PENDING;
  }

  override drop(): void {
    if (this.state === RecvState.Waiting) this.finish();
    this.state = RecvState.Done;
  }
}

const ITER_DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined }) as IteratorReturnResult<undefined>;

/**
 * The future of a queue-like channel's `recv()` (resolves to the message `T`; `iter` false) and
 * `next()` (resolves to an `IteratorResult<T>`; `iter` true).
 */
export abstract class MessageRecv<T, R> extends RecvWaiter<R> {
  constructor(
    list: WaitList<Waiter<unknown>>,
    private readonly iter: boolean,
  ) {
    super(list);
  }

  /** Completes with message `v`. */
  protected message(v: T): Poll<R> {
    this.finish();
    return (this.iter ? { done: false, value: v } : v) as R;
  }

  /** Completes at the end of the channel: `{ done: true }` from `next()`, `RecvError('closed')` from `recv()`. */
  protected ended(): Poll<R> {
    this.finish();
    if (this.iter) return ITER_DONE as R;
    throw new RecvError('closed');
  }
}
