/**
 * The future of every channel sender's `closed()`: completes once the receiving side is closed or
 * gone, so that a producer can stop computing values nobody will receive.
 */
import { PENDING, type Context, type Poll } from '../future';
import { WaitList, Waiter } from './waitlist';

/** What `Closed` watches: a flag and the list to wait in. */
export interface ClosedSource {
  readonly rxClosed: boolean;
  readonly txWaiters: WaitList<Closed>;
}

const enum ClosedState {
  Init,
  Waiting,
  Done,
}

/**
 * The future of `Sender.closed()` (oneshot, and the other channels' senders): completes once the
 * receivers are closed or gone. Cancel-safe.
 */
export class Closed extends Waiter<void> {
  private state = ClosedState.Init;

  constructor(private readonly inner: ClosedSource) {
    super();
  }

  override waitingFor(): string {
    return 'Sender.closed (the receivers to close)';
  }

  poll(cx: Context): Poll<void> {
    if (this.inner.rxClosed || this.state === ClosedState.Done) {
      this.drop();
      return undefined;
    }
    if (!this.isQueued) this.inner.txWaiters.push(this);
    this.state = ClosedState.Waiting;
    this.park(cx);
    return PENDING;
  }

  override drop(): void {
    this.inner.txWaiters.remove(this);
    this.state = ClosedState.Done;
    this.waker = null;
  }
}

