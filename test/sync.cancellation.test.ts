// CancellationToken (tree of tokens, cancelled() futures, runUntilCancelled) and "gone" handles:
// a channel end that is garbage-collected without close() counts as closed.
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { select } from '../lib/combinators';
import { PENDING, type Async } from '../lib/future';
import { TimerRuntime } from '../lib/timer-runtime';
import { eachTimerRuntime } from './core-helpers';
import { broadcast, CancellationToken, mpsc, oneshot, SendError, watch } from '../lib/sync';
import { now, pauseClock, sleep, yieldNow } from '../lib/time';
import { cx} from './helpers';

let rt: TimerRuntime;
eachTimerRuntime((r) => (rt = r));

describe('CancellationToken', () => {
  test('cancel wakes every cancelled() waiter; isCancelled; idempotent', () => {
    const token = new CancellationToken();
    const log: number[] = [];
    rt.blockOn(
      (function* (): Async<void> {
        const hs = [0, 1, 2].map((i) => rt.spawn((function* (): Async<void> { yield* token.cancelled(); log.push(i); })()));
        yield* yieldNow();
        expect(log).toEqual([]);
        expect(token.isCancelled()).toBe(false);
        token.cancel();
        token.cancel();
        for (const h of hs) yield* h;
      })(),
    );
    expect(log).toEqual([0, 1, 2]);
    expect(token.isCancelled()).toBe(true);
    expect(token.cancelled().poll(cx)).toBeUndefined(); // already cancelled: at once
  });

  test('children are cancelled with their parent, transitively; a child cancel does not touch the parent', () => {
    const root = new CancellationToken();
    const a = root.child();
    const b = root.child();
    const a1 = a.child();
    a.cancel();
    expect([root.isCancelled(), a.isCancelled(), a1.isCancelled(), b.isCancelled()]).toEqual([false, true, true, false]);
    expect(root.childCount).toBe(1); // a left the parent when it was cancelled
    root.cancel();
    expect(b.isCancelled()).toBe(true);
    expect(root.child().isCancelled()).toBe(true); // born cancelled
  });

  test('1,000 tasks on child tokens stop when the root is cancelled; finally blocks run', () => {
    const root = new CancellationToken();
    let cleaned = 0;
    const stoppedAt = rt.blockOn(
      (function* (): Async<number> {
        pauseClock();
        const start = now();
        const hs = [];
        for (let i = 0; i < 1000; i++) {
          const token = (i % 2 === 0 ? root : root.child()).child();
          hs.push(
            rt.spawn(
              (function* (): Async<void> {
                try {
                  for (;;) {
                    const r = yield* select({ stop: token.cancelled(), work: sleep(1 + (i % 10)) });
                    if (r.key === 'stop') return;
                  }
                } finally {
                  cleaned++;
                }
              })(),
            ),
          );
        }
        yield* sleep(100);
        root.cancel();
        for (const h of hs) yield* h;
        return now() - start;
      })(),
    );
    expect(cleaned).toBe(1000);
    expect(stoppedAt).toBe(100);
  });

  test('runUntilCancelled: the value, or cancelled (and the future dropped)', () => {
    const token = new CancellationToken();
    const log: string[] = [];
    const [r1, r2] = rt.blockOn(
      (function* (): Async<[unknown, unknown]> {
        pauseClock();
        const a = yield* token.runUntilCancelled((function* (): Async<number> { yield* sleep(5); return 5; })());
        rt.spawn((function* (): Async<void> { yield* sleep(10); token.cancel(); })());
        const b = yield* token.runUntilCancelled(
          (function* (): Async<number> {
            try {
              yield* sleep(1000);
              return 1;
            } finally {
              log.push('dropped');
            }
          })(),
        );
        return [a, b];
      })(),
    );
    expect(r1).toEqual({ cancelled: false, value: 5 });
    expect(r2).toEqual({ cancelled: true });
    expect(log).toEqual(['dropped']);
  });

  test('cancel-safe: a dropped cancelled() future leaves the token untouched', () => {
    const token = new CancellationToken();
    const w = token.cancelled();
    expect(w.poll(cx)).toBe(PENDING);
    w.drop();
    expect(token.waiters.length).toBe(0);
    expect(token.isCancelled()).toBe(false);
    const w2 = token.cancelled();
    expect(w2.poll(cx)).toBe(PENDING);
    token.cancel();
    expect(w2.poll(cx)).toBeUndefined();
  });
});

// ---- gone: handles collected without close() -------------------------------------------------

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Collect garbage and let FinalizationRegistry callbacks run (bounded). */
async function collect(until: () => boolean): Promise<boolean> {
  for (let i = 0; i < 20; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
    if (until()) return true;
  }
  return false;
}

describe('gone handles count as closed', () => {
  test('mpsc: when the last sender is collected, the receiver ends', async () => {
    const [tx, rx] = mpsc.channel<number>(4);
    (function scope() {
      const extra = tx.clone();
      extra.trySend(1);
    })();
    tx.trySend(2);
    tx.close();
    expect(await collect(() => rx.isClosed())).toBe(true);
    expect(rx.tryRecv()).toBe(1);
    expect(rx.tryRecv()).toBe(2);
  });

  test('mpsc: when the receiver is collected, sends fail with the value handed back', async () => {
    const tx = (function scope() {
      const [t] = mpsc.unboundedChannel<string>();
      return t;
    })();
    expect(await collect(() => tx.isClosed())).toBe(true);
    let e: unknown;
    try {
      tx.send('v');
    } catch (err) {
      e = err;
    }
    expect((e as SendError<string>).value).toBe('v');
  });

  test('a task waiting on recv is woken with RecvError when its senders are collected', async () => {
    const [tx, rx] = mpsc.channel<number>(1);
    const h = rt.spawn(
      (function* (): Async<string> {
        try {
          yield* rx.recv();
          return 'message';
        } catch (e) {
          return (e as Error).name;
        }
      })(),
    );
    (function scope() {
      tx.clone(); // collected
    })();
    tx.close();
    await collect(() => h.isFinished());
    expect(await h.promise()).toBe('RecvError');
  });

  test('oneshot, broadcast and watch senders collected: receivers end', async () => {
    const make = (): { o: () => boolean; b: () => boolean; w: () => boolean } => {
      const [, orx] = oneshot<number>();
      const [, brx] = broadcast.channel<number>(2);
      const [, wrx] = watch.channel(0);
      return { o: () => orx.isTerminated(), b: () => brx.isClosed(), w: () => wrx.isClosed() };
    };
    const checks = make();
    expect(await collect(() => checks.o() && checks.b() && checks.w())).toBe(true);
  });

  test('a child token nobody refers to is dropped from its parent', async () => {
    const root = new CancellationToken();
    (function scope() {
      for (let i = 0; i < 10; i++) root.child();
    })();
    const kept = root.child();
    expect(await collect(() => root.childCount === 1)).toBe(true);
    root.cancel();
    expect(kept.isCancelled()).toBe(true);
  });
});
