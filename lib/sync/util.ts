/**
 * Small helpers shared by the sync primitives: "gone" detection for channel handles that are
 * garbage-collected without being closed, and a ring buffer. (Argument checks: `../validate`.)
 */

/**
 * Run `cleanup(held)` when `target` is garbage-collected without having been closed: a Sender
 * that goes out of scope counts as closed, as a dropped one does in Rust. Collection is up to
 * the garbage collector and the callback runs from Node's event loop, so this is a safety net;
 * closing a handle explicitly (`close()`, or a `finally` block) is immediate and deterministic.
 */
export class GoneRegistry<H> {
  private readonly registry: FinalizationRegistry<H>;
  constructor(cleanup: (held: H) => void) {
    this.registry = new FinalizationRegistry(cleanup);
  }
  /** `held` must not reference `target`, or it is never collected. */
  watch(target: object, held: H): void {
    this.registry.register(target, held, target);
  }
  /** The handle was closed explicitly: no callback any more. */
  forget(target: object): void {
    this.registry.unregister(target);
  }
}

/** A growable ring buffer: O(1) push and shift. */
export class Deque<T> {
  private buf: Array<T | undefined> = new Array(16);
  private head = 0;
  private mask = 15;
  length = 0;

  push(v: T): void {
    if (this.length === this.buf.length) this.grow();
    this.buf[(this.head + this.length) & this.mask] = v;
    this.length++;
  }

  /** The oldest element; call only when `length > 0`. */
  shift(): T {
    const v = this.buf[this.head] as T;
    this.buf[this.head] = undefined;
    this.head = (this.head + 1) & this.mask;
    this.length--;
    return v;
  }

  clear(): void {
    this.buf = new Array(16);
    this.head = 0;
    this.mask = 15;
    this.length = 0;
  }

  private grow(): void {
    const old = this.buf;
    const n = old.length;
    const next = new Array<T | undefined>(n * 2);
    for (let i = 0; i < n; i++) next[i] = old[(this.head + i) & this.mask];
    this.buf = next;
    this.head = 0;
    this.mask = n * 2 - 1;
  }
}
