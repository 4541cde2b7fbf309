/**
 * `Barrier`: `n` tasks wait until all `n` have arrived, then all go on (tokio's `sync::Barrier`).
 * The task whose arrival completes the group is the leader (`isLeader`), exactly one per group.
 * The barrier is reusable: the next `n` arrivals form the next group.
 */
import { PENDING, type Context, type Poll } from '../future';
import { checkCount } from '../validate';
import { WaitList, Waiter } from './waitlist';

export interface BarrierWaitResult {
  /** True for exactly one task of each group: the one whose arrival released it. */
  readonly isLeader: boolean;
}

const LEADER: BarrierWaitResult = Object.freeze({ isLeader: true });
const FOLLOWER: BarrierWaitResult = Object.freeze({ isLeader: false });

export class Barrier {
  /** @internal Arrivals in the current group. */
  arrived = 0;
  /** @internal */
  readonly waiters = new WaitList<BarrierWait>();
  readonly n: number;

  constructor(n: number) {
    this.n = checkCount(n, 'new Barrier(n): n', 1);
  }

  /** Arrive (at the first poll) and wait for the rest of the group. See `BarrierWait` for cancel safety. */
  wait(): BarrierWait {
    return new BarrierWait(this);
  }

  /** @internal */
  release(): void {
    this.arrived = 0;
    this.waiters.wakeAll((w) => {
      w.released = true;
    });
  }
}

const enum BarrierState {
  Init,
  Waiting,
  Done,
}

/**
 * The future of `Barrier.wait()`. It counts as arrived from its first poll.
 *
 * Cancel-safe: a wait dropped before its group is released withdraws its arrival, so the group
 * still needs `n` live tasks (tokio's wait is not cancel-safe; this one is). Dropped after the
 * release, it changes nothing.
 */
export class BarrierWait extends Waiter<BarrierWaitResult> {
  private state = BarrierState.Init;
  /** @internal */
  released = false;

  constructor(private readonly barrier: Barrier) {
    super();
  }

  override waitingFor(): string {
    return `Barrier.wait, ${this.barrier.arrived} of ${this.barrier.n} arrived`;
  }

  poll(cx: Context): Poll<BarrierWaitResult> {
    const b = this.barrier;
    switch (this.state) {
      case BarrierState.Init:
        b.arrived++;
        if (b.arrived >= b.n) {
          this.state = BarrierState.Done;
          b.release();
          return LEADER;
        }
        this.state = BarrierState.Waiting;
        b.waiters.push(this);
        this.park(cx);
        return PENDING;
      case BarrierState.Waiting:
        if (this.released) {
          this.state = BarrierState.Done;
          this.waker = null;
          return FOLLOWER;
        }
        this.park(cx);
        return PENDING;
      default:
        throw new Error('polled: Barrier.wait() future polled after it completed');
    }
  }

  override drop(): void {
    if (this.state !== BarrierState.Waiting) return;
    this.state = BarrierState.Done;
    this.waker = null;
    if (!this.released && this.barrier.waiters.remove(this)) this.barrier.arrived--;
  }
}
