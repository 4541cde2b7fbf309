/**
 * Errors of the channels and sync primitives. A value that could not be sent is never lost: it
 * rides back to the caller inside the error (`err.value`), as Rust's `SendError<T>(T)` does.
 */

/** `send` on a channel whose receivers are all closed or gone. `value` is the message, handed back. */
export class SendError<T = unknown> extends Error {
  override readonly name = 'SendError';
  readonly code = 'ECHANNELCLOSED';
  constructor(
    readonly value: T,
    message = 'channel closed: no receiver will ever see this value (it is in err.value)',
  ) {
    super(message);
  }
}

/** `trySend` failed: the channel is `'full'` (bounded, no free slot) or `'closed'`. `value` is the message, handed back. */
export class TrySendError<T = unknown> extends Error {
  override readonly name = 'TrySendError';
  readonly code: 'ECHANNELFULL' | 'ECHANNELCLOSED';
  constructor(
    readonly kind: 'full' | 'closed',
    readonly value: T,
  ) {
    super(
      kind === 'full'
        ? 'channel full: no free slot right now (the value is in err.value)'
        : 'channel closed: no receiver will ever see this value (it is in err.value)',
    );
    this.code = kind === 'full' ? 'ECHANNELFULL' : 'ECHANNELCLOSED';
  }
}

/**
 * `recv` failed: `'closed'` (every sender is closed or gone and nothing is left to receive), or,
 * for broadcast, `'lagged'`: this receiver fell more than the channel's capacity behind and
 * `missed` messages were overwritten; the next `recv` returns the oldest one still held.
 */
export class RecvError extends Error {
  override readonly name = 'RecvError';
  readonly code: 'ECHANNELCLOSED' | 'ELAGGED';
  constructor(
    readonly kind: 'closed' | 'lagged',
    readonly missed = 0,
  ) {
    super(kind === 'closed' ? 'channel closed: every sender is closed and no message is left' : `receiver lagged: ${missed} message(s) were missed`);
    this.code = kind === 'closed' ? 'ECHANNELCLOSED' : 'ELAGGED';
  }
}

/** `tryRecv` found nothing: `'empty'` (try again later), `'closed'`, or `'lagged'` (broadcast, with `missed`). */
export class TryRecvError extends Error {
  override readonly name = 'TryRecvError';
  readonly code: 'ECHANNELEMPTY' | 'ECHANNELCLOSED' | 'ELAGGED';
  constructor(
    readonly kind: 'empty' | 'closed' | 'lagged',
    readonly missed = 0,
  ) {
    super(
      kind === 'empty'
        ? 'channel empty'
        : kind === 'closed'
          ? 'channel closed: every sender is closed and no message is left'
          : `receiver lagged: ${missed} message(s) were missed`,
    );
    this.code = kind === 'empty' ? 'ECHANNELEMPTY' : kind === 'closed' ? 'ECHANNELCLOSED' : 'ELAGGED';
  }
}

/** `acquire` on a closed `Semaphore` (or a bounded channel whose receiver closed). */
export class AcquireError extends Error {
  override readonly name = 'AcquireError';
  readonly code = 'ESEMCLOSED';
  constructor(message = 'semaphore closed') {
    super(message);
  }
}
