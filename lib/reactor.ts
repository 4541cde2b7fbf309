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
 * Reader and writer wakers are separate, so one task can read a socket while another writes it
 * (as async-io's `Source` keeps them). Nearly always one task waits per direction, so its waker
 * is a field of the source itself (`reader`, `writer`), and only a second task waiting for the
 * same direction (two readers of one pipe) makes a `WakerSet` for the others: an event touches
 * every object between the token and the task, and with a thousand connections each of them is
 * a cache miss per message (`npm run bench:instructions -- --cache`). Fields, not a pair in an
 * array, for the same reason.
 */
import { check } from './errors';
import { PENDING, type Context, type Poll, type Waker } from './future';
import * as binding from './native';
import { native, type Handle } from './native';
import { RemoteWakers } from './remote';
import { WakerSet } from './wakers';

// The addon's numbers as constants of this module, folded by V8 into `dispatch` (see lib/io.ts).
const { ERROR, HANGUP, LOOP_TOKEN, NOTIFY_TOKEN, READABLE, RESERVED_TOKENS, TIMER_TOKEN, WRITABLE } = binding;

export { READABLE, WRITABLE, HANGUP, ERROR };

/** Token layout: 20 bits of slot, 11 bits of generation (so tokens stay clear of the reserved ones). */
const SLOT_BITS = 20;
const SLOT_MASK = (1 << SLOT_BITS) - 1;
const GEN_MASK = 0x7ff;

/**
 * What the reactor knows of one registered handle: its token, the readiness the kernel reported,
 * and who waits for each direction. `lib/io.ts`'s `IoResource` is an `IoSource` (it extends
 * it), so that an event and the operation it wakes touch one object where they would touch two:
 * with a thousand connections, each object between the token and the task is a cache miss per
 * message (`npm run bench:instructions -- --cache`).
 */
export class IoSource {
  // Assigned in the constructor, in this order (V8 lays fields out in the order of their first
  // store; a subclass's fields follow): what dispatch touches first.
  /** Bits the kernel has reported and no future has used up yet. Starts "ready", so the first operation is simply tried. */
  readiness: number;
  /** Counts readiness events, to guard `clearReadiness`. */
  tick: number;
  /** The task waiting to read (READABLE): its waker, the first to wait and nearly always the only one. */
  reader: Waker | null;
  /** The task waiting to write (WRITABLE). */
  writer: Waker | null;
  /** Other tasks waiting to read, while `reader` is held (made on demand: rare). */
  moreReaders: WakerSet | null;
  /** Other tasks waiting to write, while `writer` is held. */
  moreWriters: WakerSet | null;
  /** The token the poller reports this source under: slot and generation (set by `Reactor.register`). */
  token: number;
  readonly handle: Handle;
  /** Registered with a reactor (between `register` and `deregister`). */
  registered: boolean;

  constructor(handle: Handle) {
    this.readiness = READABLE | WRITABLE;
    this.tick = 0;
    this.reader = null;
    this.writer = null;
    this.moreReaders = null;
    this.moreWriters = null;
    this.token = 0;
    this.handle = handle;
    this.registered = false;
  }
}

// Who waits for which direction of a source: the rules of `WakerSet` (a waker of a task already
// held replaces it; a dropped future takes back only its own waker, by identity; a wake takes
// every waker out first), with the first waker in the source's own field.

/** Hold `w` as waiting for `dir` (READABLE or WRITABLE) on `src`. */
function addWaiter(src: IoSource, dir: number, w: Waker): void {
  if (dir === READABLE) {
    const f = src.reader;
    // `f === w` first: a task that pends again stores the same waker (its own: lib/task.ts).
    if (f === null || f === w || f.willWake(w)) src.reader = w;
    else (src.moreReaders ??= new WakerSet()).add(w);
  } else {
    const f = src.writer;
    if (f === null || f === w || f.willWake(w)) src.writer = w;
    else (src.moreWriters ??= new WakerSet()).add(w);
  }
}

/** Forget `w` (this very waker) as waiting for `dir`; the oldest other waiter, if any, moves up. */
function removeWaiter(src: IoSource, dir: number, w: Waker | null): void {
  if (w === null) return;
  if (dir === READABLE) {
    const more = src.moreReaders;
    if (src.reader === w) src.reader = more === null ? null : more.take();
    else if (more !== null) more.remove(w);
  } else {
    const more = src.moreWriters;
    if (src.writer === w) src.writer = more === null ? null : more.take();
    else if (more !== null) more.remove(w);
  }
}

/** Wake and forget every task waiting to read `src`. */
function wakeReaders(src: IoSource): void {
  const f = src.reader;
  if (f === null) return; // `moreReaders` holds wakers only while `reader` does
  src.reader = null;
  const more = src.moreReaders;
  f.wakeByRef();
  if (more !== null) more.wakeAll();
}

/** Wake and forget every task waiting to write `src`. */
function wakeWriters(src: IoSource): void {
  const f = src.writer;
  if (f === null) return;
  src.writer = null;
  const more = src.moreWriters;
  f.wakeByRef();
  if (more !== null) more.wakeAll();
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
  /** Keys other threads post to wake this runtime's futures (`remote.ts`); drained at NOTIFY_TOKEN. */
  readonly remote: RemoteWakers;

  constructor(
    private readonly poller: Handle,
    private readonly events: Uint32Array,
  ) {
    this.remote = new RemoteWakers(poller);
  }

  /** Register `src`'s handle for edge-triggered read and write readiness, under a fresh token. Throws IoError. */
  register<S extends IoSource>(src: S): S {
    if (src.registered) throw new Error('polled: an IoSource was registered twice');
    const slot = this.freeSlots.length > 0 ? this.freeSlots.pop()! : this.sources.length;
    if (slot > SLOT_MASK) throw new RangeError(`polled: more than ${SLOT_MASK + 1} registered sources`);
    const gen = (this.generations[slot] ?? 0) & GEN_MASK;
    const token = ((gen << SLOT_BITS) | slot) >>> 0;
    const r = native.pollerAdd(this.poller, src.handle, token, READABLE | WRITABLE);
    if (r < 0) {
      this.freeSlots.push(slot);
      check(r, 'epoll_ctl');
    }
    src.token = token;
    src.registered = true;
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
    addWaiter(src, dir, cx.waker);
    return PENDING;
  }

  /**
   * `pollReady` for the leaf futures' hot path: true when ready, else the waker is stored. A
   * boolean, because comparing a result that is sometimes a number and sometimes `PENDING` is
   * a generic (slow) comparison in optimized code.
   */
  isReady(src: IoSource, dir: number, cx: Context): boolean {
    if ((src.readiness & (dir | HANGUP | ERROR)) !== 0) return true;
    addWaiter(src, dir, cx.waker);
    return false;
  }

  /**
   * The syscall said EAGAIN (or a short read said "drained"): clear `dir`, unless an event
   * arrived since `tick` was read, and store the waker (if `cx` is given: a future that is about
   * to return PENDING) so that the next event wakes this task.
   */
  clearReadiness(src: IoSource, dir: number, tick: number, cx: Context | null): void {
    if (src.tick === tick) src.readiness &= ~dir;
    if (cx !== null) addWaiter(src, dir, cx.waker);
  }

  /** Forget the waker a cancelled future stored for `dir` (and only that one). */
  clearWaker(src: IoSource, dir: number, w: Waker | null): void {
    removeWaiter(src, dir, w);
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
        else this.reserved(token);
        continue;
      }
      const src = this.sources[token & SLOT_MASK];
      if (src === undefined || src.token !== token) continue; // stale: the source is gone
      src.readiness |= bits;
      // Wrapped to stay a small integer (only equality is ever asked of it): past 2^30 a plain
      // ++ would make it a heap number, allocated anew at every event.
      src.tick = (src.tick + 1) & 0x3fffffff;
      if ((bits & (READABLE | HANGUP | ERROR)) !== 0) wakeReaders(src);
      if ((bits & (WRITABLE | HANGUP | ERROR)) !== 0) wakeWriters(src);
    }
    return timer;
  }

  /**
   * A notify or Node-loop token. Out of `dispatch`'s loop on purpose: V8 inlines a bounded amount
   * of bytecode into one function, and what the per-socket path inlines (the wake down to the run
   * queue's push) is worth more there than these rare branches.
   */
  private reserved(token: number): void {
    if (token === NOTIFY_TOKEN) {
      this.remote.drain();
      this.notify.occur();
    } else if (token === LOOP_TOKEN) this.nodeLoop.occur();
  }

  /** Runtime close: deregister and close every handle still registered. */
  closeAll(): void {
    this.remote.clear();
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
  private readonly waiters = new WakerSet();

  get hasWaiters(): boolean {
    return !this.waiters.isEmpty;
  }

  addWaiter(w: Waker): void {
    this.waiters.add(w);
  }

  removeWaiter(w: Waker): void {
    this.waiters.remove(w);
  }

  occur(): void {
    this.count++;
    this.waiters.wakeAll();
  }
}
