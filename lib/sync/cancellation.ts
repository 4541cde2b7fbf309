/**
 * `CancellationToken`: a signal that work should stop, shared by many tasks and organised as a
 * tree (tokio-util's `sync::CancellationToken`).
 *
 * - `cancel()` cancels this token and, transitively, every child token; it is idempotent.
 * - `child()` makes a token that is cancelled when this one is, but whose own `cancel()` does not
 *   touch its parent or siblings (cancel one request without stopping the server).
 * - `cancelled()` is a future that completes once the token is cancelled; `isCancelled()` asks now.
 *
 * ```ts
 * const shutdown = new CancellationToken();
 * spawn(function* () {
 *   const r = yield* select({ conn: listener.accept(), stop: shutdown.cancelled() });
 *   if (r.key === 'stop') return;
 *   ...
 * }());
 * shutdown.cancel();
 * ```
 *
 * A parent holds its children weakly: a child token nobody refers to any more is collected
 * without being cancelled.
 *
 * Node says "stop" with an `AbortSignal`: `CancellationToken.fromSignal(signal)` and
 * `token.toSignal()` convert (lib/abort.ts has `withSignal(fut, signal)`).
 */
import { PENDING, intoFuture, type Async, type Context, type IntoFuture, type Poll } from '../future';
import { select } from '../combinators';
import { WaitList, Waiter } from './waitlist';
import { isAbortSignal } from '../abort';
import { CancelledError } from '../errors';
import { describe } from '../validate';

const childRegistry = new FinalizationRegistry<{ parent: WeakRef<CancellationToken>; ref: WeakRef<CancellationToken> }>((held) => {
  held.parent.deref()?.forgetChild(held.ref);
});

export class CancellationToken {
  private cancelledFlag = false;
  /** @internal */
  readonly waiters = new WaitList<WaitForCancellation>();
  private children: Set<WeakRef<CancellationToken>> | null = null;
  private parent: CancellationToken | null = null;
  private selfRef: WeakRef<CancellationToken> | null = null;
  /** `toSignal()`'s signal, and what aborts it. */
  private signal: AbortSignal | null = null;
  private onCancel: (() => void) | null = null;

  /** Cancel this token and all its descendants; wakes every `cancelled()` waiter. Idempotent. */
  cancel(): void {
    if (this.cancelledFlag) return;
    this.cancelledFlag = true;
    if (this.parent !== null && this.selfRef !== null) {
      this.parent.forgetChild(this.selfRef);
      childRegistry.unregister(this);
    }
    this.parent = null;
    const onCancel = this.onCancel;
    this.onCancel = null;
    onCancel?.();
    this.waiters.wakeAll();
    const kids = this.children;
    this.children = null;
    if (kids !== null) for (const ref of kids) ref.deref()?.cancel();
  }

  isCancelled(): boolean {
    return this.cancelledFlag;
  }

  /** A future that completes once this token is cancelled (at once if it already is). Cancel-safe. */
  cancelled(): WaitForCancellation {
    return new WaitForCancellation(this);
  }

  /** A child token: cancelled with this one (or on its own), never cancelling this one. */
  child(): CancellationToken {
    const c = new CancellationToken();
    if (this.cancelledFlag) {
      c.cancelledFlag = true;
      return c;
    }
    const ref = new WeakRef(c);
    c.parent = this;
    c.selfRef = ref;
    (this.children ??= new Set()).add(ref);
    childRegistry.register(c, { parent: new WeakRef(this), ref }, c);
    return c;
  }

  /**
   * A token cancelled when `signal` aborts (at once if it already has), for code that is handed
   * an `AbortSignal` (Node's way of saying stop) and runs polled futures.
   */
  static fromSignal(signal: AbortSignal): CancellationToken {
    if (!isAbortSignal(signal)) throw new TypeError(`CancellationToken.fromSignal(signal): signal must be an AbortSignal, got ${describe(signal)}`);
    const t = new CancellationToken();
    if (signal.aborted) t.cancel();
    else signal.addEventListener('abort', () => t.cancel(), { once: true });
    return t;
  }

  /**
   * An `AbortSignal` that aborts when this token is cancelled (already aborted if it is), to hand
   * to Node APIs (`fetch`, `events.once`, `stream.pipeline`). The same signal for every call.
   */
  toSignal(): AbortSignal {
    if (this.signal === null) {
      const c = new AbortController();
      this.signal = c.signal;
      if (this.cancelledFlag) c.abort(new CancelledError('the token'));
      else this.onCancel = () => c.abort(new CancelledError('the token'));
    }
    return this.signal;
  }

  /** Alias of `child()` (tokio-util's name). */
  childToken(): CancellationToken {
    return this.child();
  }

  /**
   * Run `future` until it completes or this token is cancelled, whichever is first. When the
   * token wins, the future is dropped (its `finally` blocks run).
   *
   * Cancel-safe if `future` is (dropping this drops it).
   */
  *runUntilCancelled<T>(future: IntoFuture<T>): Async<{ cancelled: false; value: T } | { cancelled: true }> {
    const fut = intoFuture(future, 'runUntilCancelled(future)');
    const r = yield* select({ stop: this.cancelled(), value: fut });
    return r.key === 'stop' ? { cancelled: true } : { cancelled: false, value: r.value as T };
  }

  /** @internal */
  forgetChild(ref: WeakRef<CancellationToken>): void {
    this.children?.delete(ref);
  }

  /** @internal Live (uncollected, uncancelled) children, for tests. */
  get childCount(): number {
    return this.children?.size ?? 0;
  }
}

const enum WaitState {
  Init,
  Waiting,
  Done,
}

/**
 * The future of `CancellationToken.cancelled()`. Cancel-safe: dropping it only unlinks it; the
 * token's state does not change.
 */
export class WaitForCancellation extends Waiter<void> {
  private state = WaitState.Init;

  constructor(private readonly token: CancellationToken) {
    super();
  }

  override waitingFor(): string {
    return `CancellationToken.cancelled${this.token.isCancelled() ? ' (cancelled, not yet polled)' : ''}`;
  }

  poll(cx: Context): Poll<void> {
    if (this.state === WaitState.Done || this.token.isCancelled()) {
      if (this.state === WaitState.Waiting) this.token.waiters.remove(this);
      this.state = WaitState.Done;
      this.waker = null;
      return undefined;
    }
    if (this.state === WaitState.Init) {
      this.state = WaitState.Waiting;
      this.token.waiters.push(this);
    }
    this.park(cx);
    return PENDING;
  }

  override drop(): void {
    if (this.state === WaitState.Waiting) this.token.waiters.remove(this);
    this.state = WaitState.Done;
    this.waker = null;
  }
}
