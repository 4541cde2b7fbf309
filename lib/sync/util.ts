/**
 * Small helpers shared by the sync primitives: "gone" detection for channel handles that are
 * garbage-collected without being closed. (Argument checks: `../validate`; the ring buffer: `../deque`.)
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
