/**
 * A growable ring buffer: O(1) push and shift without re-indexing an array. The executor's run
 * queue and the mpsc channel's message queue are both one of these.
 */
export class Deque<T> {
  private buf: Array<T | undefined>;
  private head = 0;
  private mask: number;
  length = 0;

  /** `capacity`: the first size, a power of two; it doubles as needed and never shrinks. */
  constructor(private readonly capacity = 16) {
    this.buf = new Array(capacity);
    this.mask = capacity - 1;
  }

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
    this.buf = new Array(this.capacity);
    this.head = 0;
    this.mask = this.capacity - 1;
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
