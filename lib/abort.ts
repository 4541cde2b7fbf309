/**
 * Cancellation in Node's terms: an `AbortSignal` (what `fetch`, `events.once`, `stream.pipeline`
 * and `timers/promises` take) cancelling a polled future, and back.
 *
 * - `withSignal(fut, signal)`: `fut`, unless `signal` aborts first; then `fut` is dropped (its
 *   `finally` blocks run, a connect in progress closes its socket) and the future fails with an
 *   `AbortError` (code `ABORT_ERR`, `cause` = the signal's reason), as Node's own APIs do. Already
 *   aborted when first polled: it fails at once and `fut` is never polled.
 * - The `{ signal }` option of `TcpStream.connect`, `UnixStream.connect`, `TcpListener.bind`,
 *   `UnixListener.bind` and `lookupHost` is this wrapper.
 * - `CancellationToken.fromSignal(signal)` / `token.toSignal()` (sync/cancellation.ts) convert
 *   between the two ways of saying "stop".
 *
 * Under `blockOn`: an abort that polled code triggers (`controller.abort()` in another task, a
 * cancelled token's `toSignal()`) is seen at once, because 'abort' listeners run synchronously.
 * An abort from Node's own loop (a Node timer, `AbortSignal.timeout(ms)`, an HTTP request
 * ending) is only seen once `blockOn` returns and Node's loop turns: use polled's `timeout()`
 * there, or the embedded driver.
 */
import { FutureBase, PENDING, intoFuture, type Context, type Future, type IntoFuture, type Poll, type Waker } from './future';
import { describe } from './validate';

/** A future (or a connect, bind, lookup) gave up because its `AbortSignal` aborted. */
export class AbortError extends Error {
  override readonly name = 'AbortError';
  readonly code = 'ABORT_ERR';
  constructor(reason?: unknown) {
    super('The operation was aborted', reason === undefined ? undefined : { cause: reason });
  }
}

/** True for an `AbortSignal` (by shape: one from another realm or a polyfill is one too). */
export function isAbortSignal(v: unknown): v is AbortSignal {
  if (v === null || typeof v !== 'object') return false;
  const s = v as Partial<AbortSignal>;
  return typeof s.aborted === 'boolean' && typeof s.addEventListener === 'function' && typeof s.removeEventListener === 'function';
}

/** `options.signal` checked: undefined, or an AbortSignal (TypeError naming `what` otherwise). */
export function checkSignal(v: unknown, what: string): AbortSignal | undefined {
  if (v === undefined) return undefined;
  if (!isAbortSignal(v)) throw new TypeError(`${what} must be an AbortSignal, got ${describe(v)}`);
  return v;
}

/** `fut`, or `fut` under `signal` when one is given. */
export function underSignal<T>(fut: Future<T>, signal: AbortSignal | undefined): Future<T> {
  return signal === undefined ? fut : new WithSignal(fut, signal);
}

/**
 * `future` until `signal` aborts; then it is dropped and this fails with `AbortError`.
 * Cancel-safe if `future` is: dropping this drops it and removes the listener.
 */
export function withSignal<T>(future: IntoFuture<T>, signal: AbortSignal): Future<T> {
  const fut = intoFuture(future, 'withSignal(future)');
  const s = checkSignal(signal, 'withSignal(future, signal): signal');
  if (s === undefined) throw new TypeError('withSignal(future, signal): signal must be an AbortSignal, got undefined');
  return new WithSignal(fut, s);
}

/** States of `WithSignal`. */
const enum SignalState {
  Init,
  Running,
  Done,
}

export class WithSignal<T> extends FutureBase<T> {
  private state = SignalState.Init;
  private waker: Waker | null = null;
  private readonly onAbort = (): void => {
    this.waker?.wake();
  };

  constructor(
    private readonly inner: Future<T>,
    private readonly signal: AbortSignal,
  ) {
    super();
  }

  override waitingFor(): string {
    const inner = this.inner as { waitingFor?: () => string };
    return `withSignal (or an abort) of ${typeof inner.waitingFor === 'function' ? inner.waitingFor() : this.inner.constructor.name}`;
  }

  poll(cx: Context): Poll<T> {
    if (this.state === SignalState.Done) throw new Error('polled: withSignal future polled after completion');
    if (this.signal.aborted) this.abort();
    if (this.state === SignalState.Init) {
      this.state = SignalState.Running;
      this.signal.addEventListener('abort', this.onAbort, { once: true });
    }
    this.waker = cx.waker;
    let r: Poll<T>;
    try {
      r = this.inner.poll(cx);
    } catch (err) {
      this.finish();
      throw err;
    }
    if (r === PENDING) return PENDING;
    this.finish();
    return r;
  }

  private abort(): never {
    this.inner.drop?.();
    this.finish();
    throw new AbortError(this.signal.reason);
  }

  private finish(): void {
    if (this.state === SignalState.Running) this.signal.removeEventListener('abort', this.onAbort);
    this.state = SignalState.Done;
    this.waker = null;
  }

  override drop(): void {
    if (this.state === SignalState.Done) return;
    this.inner.drop?.();
    this.finish();
  }
}
