/**
 * Small helpers shared by the sync primitives: argument checks that name the bad value, and
 * "gone" detection for channel handles that are garbage-collected without being closed.
 */

/** A short description of a value for error messages: `number -1`, `a Promise`, `undefined`. */
export function describe(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (v === null) return 'null';
  if (typeof v === 'object' || typeof v === 'function') {
    const name = (v as { constructor?: { name?: string } }).constructor?.name;
    return name ? `a ${name}` : 'an object';
  }
  if (typeof v === 'string') return `string ${JSON.stringify(v)}`;
  return `${typeof v} ${String(v)}`;
}

/** An integer in [min, Number.MAX_SAFE_INTEGER]: TypeError for a non-integer, RangeError below `min`. */
export function checkCount(v: unknown, what: string, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw new TypeError(`${what} must be an integer, got ${describe(v)}`);
  }
  if (v < min || v > Number.MAX_SAFE_INTEGER) {
    throw new RangeError(`${what} must be an integer ${min === 0 ? '>= 0' : `>= ${min}`} (at most 2^53 - 1), got ${v}`);
  }
  return v;
}

export function checkFunction(v: unknown, what: string): void {
  if (typeof v !== 'function') throw new TypeError(`${what} must be a function, got ${describe(v)}`);
}

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
