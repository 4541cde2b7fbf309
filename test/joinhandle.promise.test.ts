// JoinHandle is a PromiseLike: `await handle` in Promise code gives the task's value (or its
// error); Promise.resolve(handle) and `async () => spawn(x)` wait for the task; fromPromise(handle)
// is refused (a handle is a future already: `yield* handle`). `yield* handle` and `.promise()` stay.
import { CancelledError } from '../lib/errors';
import type { Async } from '../lib/future';
import { fromPromise } from '../lib/promise';
import type { JoinHandle } from '../lib/task';
import { sleep } from '../lib/time';
import { TimerRuntime } from '../lib/timer-runtime';
import { eachTimerRuntime } from './core-helpers';

let rt: TimerRuntime;
eachTimerRuntime((r) => (rt = r));

function* answer(ms = 2): Async<number> {
  yield* sleep(ms);
  return 42;
}

test('`await handle` gives the task value (typed: the handle is a PromiseLike<T>)', async () => {
  const handle: PromiseLike<number> = rt.spawn(answer());
  const v: number = await handle;
  expect(v).toBe(42);
});

test('`await handle` rethrows the task error, and CancelledError for an aborted task', async () => {
  const failing = rt.spawn(
    (function* (): Async<never> {
      yield* sleep(1);
      throw new RangeError('nope');
    })(),
  );
  await expect(Promise.resolve(failing)).rejects.toThrow(RangeError);
  const aborted = rt.spawn(answer(10_000));
  aborted.abort();
  await expect(Promise.resolve(aborted)).rejects.toBeInstanceOf(CancelledError);
});

test('Promise.resolve(handle) waits for the task rather than resolving to the handle', async () => {
  const p = Promise.resolve(rt.spawn(answer()));
  expect(await p).toBe(42);
});

test('an async function returning spawn(x) resolves to the task value', async () => {
  const start = async (): Promise<number> => rt.spawn(answer());
  expect(await start()).toBe(42);
});

test('then() chains as a Promise does; yield* handle and promise() still work', async () => {
  const h = rt.spawn(answer());
  expect(await h.then((v) => v + 1)).toBe(43);
  expect(await h.promise()).toBe(42);
  const outer = rt.spawn(
    (function* (): Async<number> {
      return (yield* h) * 2;
    })(),
  );
  expect(await outer).toBe(84);
});

test('fromPromise(handle) is refused with a message naming `yield* handle`', () => {
  const h: JoinHandle<number> = rt.spawn(answer());
  expect(() => fromPromise(h)).toThrow(TypeError);
  expect(() => fromPromise(h)).toThrow(/fromPromise\(p\): p is a JoinHandle.*await it with `yield\* handle`/);
  h.abort();
});
