/**
 * Wakes from other threads: a runtime's *mailbox* (native/mailbox.h).
 *
 * A waker is a JavaScript object of one thread; another thread (a worker, a native pool thread)
 * cannot call it. What crosses instead is a pair of numbers: the runtime's process-wide mailbox
 * id and a *key* this runtime chose for one waiting future. The other side posts the key
 * (`native.mailboxPost(id, key)`, or the addon's own `PostToMailbox`); the poller reports its
 * NOTIFY_TOKEN; the reactor calls `drain()`, which wakes the waker the key stands for.
 *
 * A key is one-shot: posting it consumes it, like a `Waker` consumed by `wake()`. A future still
 * pending after its next poll registers again. A key posted after its future was dropped finds
 * nothing and is ignored, and a post to a runtime that has closed (or whose thread is gone) is a
 * no-op in the addon: neither side can reach the other's freed state.
 *
 * While keys are outstanding the runtime counts as able to wake (blockOn parks instead of
 * reporting a deadlock) and the embedded driver keeps the process alive, as an open socket does.
 */
import { check } from './errors';
import type { Waker } from './future';
import { native, type Handle } from './native';

/** Keys fetched per drain; more wait for the next one (the addon re-notifies). */
const DRAIN_CAPACITY = 1024;

export class RemoteWakers {
  /** This runtime's mailbox id, valid in every thread of the process. */
  readonly mailbox: number;
  private readonly keys: Uint32Array;
  private readonly wakers = new Map<number, Waker>();
  private next = 1;

  constructor(private readonly poller: Handle) {
    const r = native.pollerMailbox(poller, DRAIN_CAPACITY);
    if (typeof r === 'number') check(r, 'pollerMailbox');
    const [id, keys] = r as [number, Uint32Array];
    this.mailbox = id;
    this.keys = keys;
  }

  /** Outstanding keys. */
  get size(): number {
    return this.wakers.size;
  }

  /** A fresh key that will wake `w` once when posted. */
  add(w: Waker): number {
    let key = this.next;
    while (key === 0 || this.wakers.has(key)) key = (key + 1) >>> 0;
    this.next = (key + 1) >>> 0;
    this.wakers.set(key, w);
    return key;
  }

  /** Point an outstanding `key` at a newer waker of the same future (no new key, so nothing to re-send). */
  update(key: number, w: Waker): boolean {
    if (!this.wakers.has(key)) return false;
    this.wakers.set(key, w);
    return true;
  }

  /** Forget `key` (its future was dropped or no longer waits): a later post of it is ignored. */
  remove(key: number): void {
    this.wakers.delete(key);
  }

  /** NOTIFY_TOKEN came: wake the waker of every key posted since the last drain. */
  drain(): void {
    for (;;) {
      const n = native.mailboxDrain(this.poller);
      if (n <= 0) return;
      const keys = this.keys;
      for (let i = 0; i < n; i++) {
        const w = this.wakers.get(keys[i]);
        if (w === undefined) continue;
        this.wakers.delete(keys[i]);
        w.wake();
      }
      if (n < keys.length) return;
    }
  }

  /** Runtime close: forget every key (their futures are being dropped with the runtime). */
  clear(): void {
    this.wakers.clear();
  }
}
