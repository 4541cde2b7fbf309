/**
 * The reactor, TypeScript side: which task waits for which file descriptor.
 *
 * The kernel half lives in the addon: a poller (epoll or kqueue) that knows each registered
 * handle by a 32-bit *token*. When it reports readiness it hands over (token, bits) pairs in a
 * `Uint32Array`, a whole batch at once. This half maps each token to an `IoSource`, records the
 * readiness and wakes the waker stored by the future that was waiting for it.
 *
 * Registration is edge-triggered and happens once per handle: the kernel reports a *change* to
 * readable or writable, never "still readable". So the source remembers readiness itself, and a
 * leaf future keeps doing its syscall until the kernel says EAGAIN (or a short read says the
 * buffer is drained); only then does it clear the bit and return `PENDING` with its waker
 * stored. Clearing is guarded by a *tick* that counts events: if an event arrived after the
 * future looked at the readiness, the clear is skipped, and the wake-up that event carried is
 * not lost (tokio's ScheduledIo, async-io's Source).
 *
 * Reader and writer wakers are separate, so one task can read a socket while another writes it.
 * Each direction keeps one waker in a field (the common case: one task per direction) and, only
 * when a second task waits on the same direction, a small list beside it, so no waiter is lost.
 */
import { check } from './errors';
import { PENDING, type Context, type Poll, type Waker } from './future';
import { ERROR, HANGUP, LOOP_TOKEN, NOTIFY_TOKEN, READABLE, RESERVED_TOKENS, TIMER_TOKEN, WRITABLE, native, type Handle } from './native';

export { READABLE, WRITABLE, HANGUP, ERROR };

/** Token layout: 20 bits of slot, 11 bits of generation (so tokens stay clear of the reserved ones). */
const SLOT_BITS = 20;
const SLOT_MASK = (1 << SLOT_BITS) - 1;
const GEN_MASK = 0x7ff;

export class IoSource {
  /** Bits the kernel has reported and no future has used up yet. Starts "ready", so the first operation is simply tried. */
  readiness = READABLE | WRITABLE;
  /** Counts readiness events, to guard `clearReadiness`. */
  tick = 0;
  reader: Waker | null = null;
  writer: Waker | null = null;
  /** Further waiters on the same direction: rare, so null until needed. */
  moreReaders: Waker[] | null = null;
  moreWriters: Waker[] | null = null;
  registered = true;

  constructor(
    readonly token: number,
    readonly handle: Handle,
  ) {}
}

export class Reactor {
  private readonly sources: Array<IoSource | undefined> = [];
  private readonly generations: number[] = [];
  private readonly freeSlots: number[] = [];
  /** Registered sources: while there are any, the embedded driver keeps Node's loop alive. */
  registrations = 0;
  /** The poller's notify (`Runtime.notified()`): wakes from other threads. */
  readonly notify = new Occurrences();
  /** Node's own loop got work while blockOn held the thread (LOOP_TOKEN; `Runtime.nodeLoopReady()`). */
  readonly nodeLoop = new Occurrences();

  constructor(
    private readonly poller: Handle,
    private readonly events: Uint32Array,
  ) {}

  /** Register `handle` for edge-triggered read and write readiness. Throws IoError. */
  register(handle: Handle): IoSource {
    const slot = this.freeSlots.length > 0 ? this.freeSlots.pop()! : this.sources.length;
    if (slot > SLOT_MASK) throw new RangeError(`polled: more than ${SLOT_MASK + 1} registered sources`);
    const gen = (this.generations[slot] ?? 0) & GEN_MASK;
    const token = ((gen << SLOT_BITS) | slot) >>> 0;
    const r = native.pollerAdd(this.poller, handle, token, READABLE | WRITABLE);
    if (r < 0) {
      this.freeSlots.push(slot);
      check(r, 'epoll_ctl');
    }
    const src = new IoSource(token, handle);
    this.sources[slot] = src;
    this.registrations++;
    return src;
  }

  /**
   * Forget `src`: its waiters are woken (so nobody sleeps on a dead source) and its slot's
   * generation moves on, so an event still in flight for the old token is ignored.
   * `closing` skips the syscall when the handle is about to be closed (close deregisters).
   */
  deregister(src: IoSource, closing = false): void {
    if (!src.registered) return;
    src.registered = false;
    const slot = src.token & SLOT_MASK;
    this.sources[slot] = undefined;
    this.generations[slot] = (((src.token >>> SLOT_BITS) + 1) & GEN_MASK) >>> 0;
    this.freeSlots.push(slot);
    this.registrations--;
    if (!closing) native.pollerDelete(this.poller, src.handle);
    src.readiness = READABLE | WRITABLE | HANGUP;
    wakeReaders(src);
    wakeWriters(src);
  }

  /**
   * Is `src` ready for `dir` (READABLE or WRITABLE)? If not, store the waker and return PENDING.
   * Returns the readiness bits; an error or hang-up counts as ready so the syscall can report it.
   */
  pollReady(src: IoSource, dir: number, cx: Context): Poll<number> {
    const bits = src.readiness;
    if ((bits & (dir | HANGUP | ERROR)) !== 0) return bits;
    storeWaker(src, dir, cx.waker);
    return PENDING;
  }

  /**
   * `pollReady` for the leaf futures' hot path: true when ready, else the waker is stored. A
   * boolean, because comparing a result that is sometimes a number and sometimes `PENDING` is
   * a generic (slow) comparison in optimized code.
   */
  isReady(src: IoSource, dir: number, cx: Context): boolean {
    if ((src.readiness & (dir | HANGUP | ERROR)) !== 0) return true;
    storeWaker(src, dir, cx.waker);
    return false;
  }

  /**
   * The syscall said EAGAIN (or a short read said "drained"): clear `dir`, unless an event
   * arrived since `tick` was read, and store the waker (if `cx` is given: a future that is about
   * to return PENDING) so that the next event wakes this task.
   */
  clearReadiness(src: IoSource, dir: number, tick: number, cx: Context | null): void {
    if (src.tick === tick) src.readiness &= ~dir;
    if (cx !== null) storeWaker(src, dir, cx.waker);
  }

  /** Forget the waker a cancelled future stored for `dir` (and only that one). */
  clearWaker(src: IoSource, dir: number, w: Waker | null): void {
    if (w === null) return;
    if (dir === READABLE) {
      if (src.reader === w) src.reader = src.moreReaders?.shift() ?? null;
      else if (src.moreReaders !== null) src.moreReaders = src.moreReaders.filter((x) => x !== w);
    } else if (src.writer === w) {
      src.writer = src.moreWriters?.shift() ?? null;
    } else if (src.moreWriters !== null) {
      src.moreWriters = src.moreWriters.filter((x) => x !== w);
    }
  }

  /**
   * A batch of `count` (token, bits) pairs from the poller. Returns true if the timer fired.
   * The hot path: no allocation, one pass, a wake per waiting future.
   */
  dispatch(count: number): boolean {
    const ev = this.events;
    let timer = false;
    for (let i = 0; i < count; i++) {
      const token = ev[2 * i];
      const bits = ev[2 * i + 1];
      if (token >= RESERVED_TOKENS) {
        if (token === TIMER_TOKEN) timer = true;
        else if (token === NOTIFY_TOKEN) this.notify.occur();
        else if (token === LOOP_TOKEN) this.nodeLoop.occur();
        continue;
      }
      const src = this.sources[token & SLOT_MASK];
      if (src === undefined || src.token !== token) continue; // stale: the source is gone
      src.readiness |= bits;
      src.tick++;
      if ((bits & (READABLE | HANGUP | ERROR)) !== 0 && src.reader !== null) wakeReaders(src);
      if ((bits & (WRITABLE | HANGUP | ERROR)) !== 0 && src.writer !== null) wakeWriters(src);
    }
    return timer;
  }

  /** Runtime close: deregister and close every handle still registered. */
  closeAll(): void {
    for (const src of this.sources) {
      if (src === undefined) continue;
      this.deregister(src, true);
      native.close(src.handle);
    }
  }

}

/**
 * Something the poller reports under a reserved token (a notify, Node's loop having work): a
 * count of occurrences, and the wakers waiting for the next one. A future remembers the count
 * when first polled and is done once it has moved, so an occurrence between two polls is kept.
 */
export class Occurrences {
  count = 0;
  private waiters: Waker[] = [];

  get hasWaiters(): boolean {
    return this.waiters.length > 0;
  }

  addWaiter(w: Waker): void {
    if (!this.waiters.some((x) => x.willWake(w))) this.waiters.push(w);
  }

  removeWaiter(w: Waker): void {
    this.waiters = this.waiters.filter((x) => x !== w);
  }

  occur(): void {
    this.count++;
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w.wake();
  }
}

/** Keep `w` as a waiter for `dir`; a waker that would wake the same task replaces its twin. */
function storeWaker(src: IoSource, dir: number, w: Waker): void {
  if (dir === READABLE) {
    const r = src.reader;
    if (r === null || r.willWake(w)) src.reader = w;
    else src.moreReaders = addWaiter(src.moreReaders, w);
  } else {
    const r = src.writer;
    if (r === null || r.willWake(w)) src.writer = w;
    else src.moreWriters = addWaiter(src.moreWriters, w);
  }
}

function addWaiter(list: Waker[] | null, w: Waker): Waker[] {
  if (list === null) return [w];
  for (let i = 0; i < list.length; i++) {
    if (list[i].willWake(w)) {
      list[i] = w;
      return list;
    }
  }
  list.push(w);
  return list;
}

function wakeReaders(src: IoSource): void {
  const w = src.reader;
  const more = src.moreReaders;
  src.reader = null;
  src.moreReaders = null;
  w?.wakeByRef();
  if (more !== null) for (const x of more) x.wakeByRef();
}

function wakeWriters(src: IoSource): void {
  const w = src.writer;
  const more = src.moreWriters;
  src.writer = null;
  src.moreWriters = null;
  w?.wakeByRef();
  if (more !== null) for (const x of more) x.wakeByRef();
}
