/**
 * `WakerSet`: the wakers of everyone waiting for one thing. A task keeps one for the awaiters of
 * its `JoinHandle`, the poller's notify and Node-loop reports keep one each; an I/O source keeps
 * its first waiter per direction in a field of its own and one for the others (lib/reactor.ts),
 * by these same rules.
 *
 * Usually a single task waits, so the first waker lives in a field and a list exists only once a
 * second, different task waits too: nothing is allocated in the common case. A waker that would
 * wake the same task as one already held replaces it (`willWake`), so a task that polls again
 * is held once. A dropped future removes only the waker it added (`remove(w)`, by identity),
 * never another task's.
 *
 * (`sync/waitlist.ts` is the other queue of waiters in polled: there the waiters are the futures
 * themselves, in FIFO order, because a permit or a message is handed to the oldest one and must
 * pass on if it is dropped. Here nothing is handed over: every waiter is simply woken.)
 */
import type { Waker } from './future';

export class WakerSet {
  private first: Waker | null = null;
  private more: Waker[] | null = null;

  get isEmpty(): boolean {
    return this.first === null && (this.more === null || this.more.length === 0);
  }

  /** Hold `w` (replacing a waker of the same task). */
  add(w: Waker): void {
    const f = this.first;
    // `f === w` first: a task that pends again stores the same waker, and the identity test
    // reads neither waker (willWake looks inside both).
    if (f === null || f === w || f.willWake(w)) {
      this.first = w;
      return;
    }
    const more = this.more;
    if (more === null) {
      this.more = [w];
      return;
    }
    for (let i = 0; i < more.length; i++) {
      if (more[i].willWake(w)) {
        more[i] = w;
        return;
      }
    }
    more.push(w);
  }

  /** Take out the oldest waker held, and return it (null when none is). */
  take(): Waker | null {
    const f = this.first;
    if (f !== null) this.first = this.more !== null && this.more.length > 0 ? this.more.shift()! : null;
    return f;
  }

  /** Forget `w` (this very waker, not a twin): a dropped future takes back only its own. */
  remove(w: Waker | null): void {
    if (w === null) return;
    if (this.first === w) {
      this.take();
    } else if (this.more !== null) {
      const i = this.more.indexOf(w);
      if (i >= 0) this.more.splice(i, 1);
    }
  }

  /** Wake and forget every waker. Taken out first, so a task that waits again from its wake is held afresh. */
  wakeAll(): void {
    const f = this.first;
    if (f === null) return;
    const more = this.more;
    this.first = null;
    this.more = null;
    f.wakeByRef();
    if (more !== null) for (const w of more) w.wakeByRef();
  }
}
