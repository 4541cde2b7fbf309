// The two drivers: embedded in Node's loop, and blockOn owning the thread.
import { IoError } from '../lib/errors';
import { never, type Async } from '../lib/future';
import { pipe } from '../lib/io';
import { native } from '../lib/native';
import { fromPromise } from '../lib/promise';
import { Runtime, spawn } from '../lib/runtime';
import { sleep, yieldNow } from '../lib/time';
import { eachRuntime } from './helpers';

let rt: Runtime;
eachRuntime((r) => (rt = r));

describe('blockOn', () => {
  test('returns the future value', () => {
    expect(rt.blockOn((function* (): Async<number> { yield* sleep(1); return 42; })())).toBe(42);
  });

  test('rethrows the future error', () => {
    expect(() =>
      rt.blockOn(
        (function* (): Async<number> {
          yield* yieldNow();
          throw new RangeError('nope');
        })(),
      ),
    ).toThrow(RangeError);
  });

  test('a pending future that nothing can wake is reported, not a hang', () => {
    const forever = rt.spawn((function* (): Async<void> { yield* never<void>(); })());
    expect(() => rt.blockOn((function* (): Async<void> { yield* forever; })())).toThrow(/deadlocked/);
  });

  test('blockOn inside a task is refused', () => {
    expect(() => rt.blockOn((function* (): Async<void> { rt.blockOn((function* (): Async<void> {})()); })())).toThrow(/inside a task/);
  });

  test('fromPromise under blockOn fails clearly instead of hanging', () => {
    expect(() => rt.blockOn(fromPromise(Promise.resolve(1)))).toThrow(/blockOn/);
  });

  test('the poller reports a pipe becoming readable (blockOn driver)', () => {
    const [r, w] = pipe(rt);
    const got = rt.blockOn(
      (function* (): Async<string> {
        const buf = Buffer.alloc(16);
        const reader = rt.spawn((function* (): Async<number> { return yield* r.read(buf); })());
        yield* sleep(5); // the reader is parked in the reactor by now
        yield* w.write(Buffer.from('hello'));
        const n = yield* reader;
        return buf.toString('utf8', 0, n);
      })(),
    );
    expect(got).toBe('hello');
    r.close();
    w.close();
  });

  test('a wake from another thread through notify()', () => {
    const t0 = Date.now();
    rt.blockOn(
      (function* (): Async<void> {
        const n = rt.notified();
        native.pollerNotifyFromThread(rt.poller, 20);
        yield* n;
      })(),
    );
    expect(Date.now() - t0).toBeGreaterThanOrEqual(15);
  });

  test('blockOn then embedded: tasks left behind finish in Node\'s loop', async () => {
    let h: ReturnType<typeof rt.spawn<number>> | null = null;
    rt.blockOn(
      (function* (): Async<void> {
        h = rt.spawn((function* (): Async<number> { yield* sleep(10); return 5; })());
      })(),
    );
    expect(await h!.promise()).toBe(5);
  });
});

describe('embedded driver', () => {
  test('coexists with setTimeout and Promise code', async () => {
    const log: string[] = [];
    const h = rt.spawn(
      (function* (): Async<number> {
        log.push('task start');
        yield* sleep(20);
        log.push('task after sleep');
        const v = yield* fromPromise(new Promise<number>((res) => setTimeout(() => res(7), 5)));
        log.push('task got promise');
        return v * 2;
      })(),
    );
    const timer = new Promise<void>((res) => setTimeout(() => { log.push('setTimeout 5'); res(); }, 5));
    await Promise.resolve();
    log.push('microtask');
    await timer;
    expect(await h.promise()).toBe(14);
    // Node's timer (due at +5 ms) fires before the one the task starts after its 20 ms sleep,
    // whose Promise the task awaits: deterministic however the machine stalls.
    expect(log.indexOf('setTimeout 5')).toBeGreaterThanOrEqual(0);
    expect(log.indexOf('setTimeout 5')).toBeLessThan(log.indexOf('task got promise'));
    expect(log.indexOf('task start')).toBeLessThan(log.indexOf('task after sleep'));
  });

  test('a busy task does not starve Node\'s timers (the slice gives the loop back)', async () => {
    let spins = 0;
    let stop = false;
    const busy = rt.spawn(
      (function* (): Async<void> {
        while (!stop) {
          spins++;
          yield* yieldNow();
        }
      })(),
    );
    await new Promise<void>((res) => setTimeout(res, 20));
    stop = true;
    await busy.promise();
    expect(spins).toBeGreaterThan(0);
  });

  test('promise continuations run right after a batch (MakeCallback semantics)', async () => {
    const [r, w] = pipe(rt);
    const buf = Buffer.alloc(8);
    const reader = rt.spawn((function* (): Async<number> { return yield* r.read(buf); })());
    await new Promise<void>((res) => setTimeout(res, 5));
    native.write(w.handle, Buffer.from('x'), 0, 1); // outside the runtime: the kernel reports it
    expect(await reader.promise()).toBe(1);
    r.close();
    w.close();
  });

  test('the poller reports a pipe becoming readable (embedded driver)', async () => {
    const [r, w] = pipe(rt);
    const h = rt.spawn(
      (function* (): Async<string> {
        const buf = Buffer.alloc(64);
        let s = '';
        for (;;) {
          const n = yield* r.read(buf);
          if (n === 0) return s;
          s += buf.toString('utf8', 0, n);
        }
      })(),
    );
    for (const part of ['a', 'bc', 'def']) {
      await new Promise<void>((res) => setTimeout(res, 2));
      native.write(w.handle, Buffer.from(part), 0, part.length);
    }
    w.close();
    expect(await h.promise()).toBe('abcdef');
    r.close();
  });

  test('a wake from another thread through notify() (embedded)', async () => {
    const h = rt.spawn((function* (): Async<string> { yield* rt.notified(); return 'woken'; })());
    await new Promise<void>((res) => setImmediate(res));
    native.pollerNotifyFromThread(rt.poller, 10);
    expect(await h.promise()).toBe('woken');
  });

  test('the global spawn() uses the default runtime', async () => {
    const h = spawn((function* (): Async<number> { yield* sleep(1); return 9; })());
    expect(await h.promise()).toBe(9);
    Runtime.default().close();
  });

  test('closing a handle wakes its reader, which gets EBADF', async () => {
    const [r, w] = pipe(rt);
    const h = rt.spawn((function* (): Async<number> { return yield* r.read(Buffer.alloc(4)); })());
    await new Promise<void>((res) => setTimeout(res, 2));
    r.close();
    await expect(h.promise()).rejects.toMatchObject({ code: 'EBADF' });
    await expect(h.promise()).rejects.toBeInstanceOf(IoError);
    w.close();
  });

  test('two readers of one pipe: cancelling one does not strand the other', async () => {
    const [r, w] = pipe(rt);
    const read = (): Async<number> => (function* (): Async<number> { return yield* r.read(Buffer.alloc(4)); })();
    const a = rt.spawn(read());
    const b = rt.spawn(read());
    await new Promise<void>((res) => setTimeout(res, 5)); // both parked on the same source
    a.abort();
    native.write(w.handle, Buffer.from('z'), 0, 1);
    expect(await b.promise()).toBe(1);
    r.close();
    w.close();
  });

  test('a closed runtime refuses new work', () => {
    const other = new Runtime();
    other.close();
    expect(() => other.spawn((function* (): Async<void> {})())).toThrow(/closed/);
  });
});
