// The core stands without the native addon: futures, tasks, the executor, timers (with the
// paused clock), the combinators, JoinSet and the sync primitives, on a TimerRuntime, in both
// drivers. One test proves it with the addon made unloadable in a child process.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { join, select } from '../lib/combinators';
import { JoinSet } from '../lib/joinset';
import { channel } from '../lib/sync/mpsc';
import { Semaphore } from '../lib/sync/semaphore';
import { advanceClock, pauseClock, sleep, now, timeout } from '../lib/time';
import { TimerRuntime } from '../lib/timer-runtime';
import type { Async } from '../lib/future';
import { TimeoutError } from '../lib/errors';

const ROOT = path.resolve(__dirname, '..');

let rt: TimerRuntime;
beforeEach(() => (rt = new TimerRuntime()));
afterEach(() => rt.close());

describe('TimerRuntime', () => {
  test('blockOn runs tasks and timers, sleeping in between, never early', () => {
    const t0 = performance.now();
    const got = rt.blockOn(
      (function* (): Async<number[]> {
        const a = rt.spawn((function* () { yield* sleep(30); return 1; })());
        const b = rt.spawn((function* () { yield* sleep(10); return 2; })());
        return [yield* b, yield* a];
      })(),
    );
    expect(got).toEqual([2, 1]);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(30);
  });

  test('embedded: tasks run in Node\'s loop, timers through setTimeout', async () => {
    const order: string[] = [];
    const h = rt.spawn(
      (function* () {
        const t = now();
        yield* sleep(20);
        order.push('slept');
        return now() - t;
      })(),
    );
    setTimeout(() => order.push('node timer'), 1);
    const waited = await h.promise();
    expect(waited).toBeGreaterThanOrEqual(20);
    expect(order).toEqual(['node timer', 'slept']);
  });

  test('the toolkit works on it: channels, semaphore, join, select, timeout, JoinSet', () => {
    const out = rt.blockOn(
      (function* (): Async<unknown[]> {
        const [tx, rx] = channel<number>(2);
        const sem = new Semaphore(1);
        const producer = rt.spawn(
          (function* () {
            for (let i = 0; i < 5; i++) yield* tx.send(i);
            tx.close();
          })(),
        );
        const got: number[] = [];
        for (let i = 0; i < 5; i++) {
          const v = yield* rx.recv();
          const permit = yield* sem.acquire();
          got.push(v);
          permit.release();
        }
        yield* producer;
        const [x, y] = yield* join(sleep(5), (function* () { return 'y'; })());
        const first = yield* select({ slow: sleep(1000), fast: sleep(1) });
        let timedOut = false;
        try {
          yield* timeout(sleep(1000), 5);
        } catch (e) {
          timedOut = e instanceof TimeoutError;
        }
        const set = new JoinSet<number>(rt);
        for (let i = 0; i < 3; i++) set.spawn((function* () { yield* sleep(3 - i); return i; })());
        const done: number[] = [];
        for (;;) {
          const r = yield* set.joinNext();
          if (r === undefined) break;
          done.push((r as { value: number }).value);
        }
        return [got, x, y, first.key, timedOut, done.sort()];
      })(),
    );
    expect(out).toEqual([[0, 1, 2, 3, 4], undefined, 'y', 'fast', true, [0, 1, 2]]);
  });

  test('a paused clock auto-advances when every task is idle, in both drivers', async () => {
    const t0 = performance.now();
    const v = rt.blockOn(
      (function* () {
        pauseClock();
        const start = now();
        yield* sleep(60_000);
        yield* advanceClock(1000);
        return now() - start;
      })(),
    );
    expect(v).toBe(61_000);
    const h = rt.spawn(
      (function* () {
        const start = now();
        yield* sleep(3_600_000);
        return now() - start;
      })(),
    );
    expect(await h.promise()).toBe(3_600_000);
    expect(performance.now() - t0).toBeLessThan(30_000); // no real hour, no real minute
  });

  test('a future nothing can wake is a deadlock, not a thread parked forever', () => {
    const [, rx] = channel<number>(1);
    expect(() => rt.blockOn(rx.recv())).toThrow(/deadlocked/);
  });
});

describe('the core without the addon', () => {
  test('loads and runs with the native addon unloadable', () => {
    const script = `
      const assert = require('node:assert');
      const dist = ${JSON.stringify(path.join(ROOT, 'dist', 'cjs'))};
      assert.throws(() => require(dist + '/native.js'), /could not be loaded/);
      for (const k of Object.keys(require.cache)) delete require.cache[k];
      const { TimerRuntime } = require(dist + '/timer-runtime.js');
      const { sleep, pauseClock, now } = require(dist + '/time.js');
      const { join, select } = require(dist + '/combinators.js');
      const { JoinSet } = require(dist + '/joinset.js');
      const sync = require(dist + '/sync/index.js');
      require(dist + '/future.js'); require(dist + '/task.js'); require(dist + '/executor.js'); require(dist + '/coop.js'); require(dist + '/timers.js');
      const rt = new TimerRuntime();
      const v = rt.blockOn((function* () {
        const [tx, rx] = sync.mpsc.channel(1);
        const h = rt.spawn((function* () { yield* tx.send(41); })());
        const got = yield* rx.recv();
        yield* h;
        pauseClock();
        const t = now();
        yield* join(sleep(500), sleep(100));
        const elapsed = now() - t;
        const s = yield* select([sleep(10), sleep(20)]);
        const set = new JoinSet(rt);
        set.spawn((function* () { return 1; })());
        const r = yield* set.joinNext();
        return got + r.value + (elapsed === 500 ? 0 : 100) + s.index;
      })());
      const loaded = Object.keys(require.cache).filter((f) => /native\\.js$|\\.node$/.test(f));
      console.log(JSON.stringify({ v, loaded }));`;
    const r = spawnSync(process.execPath, ['-e', script], {
      env: { ...process.env, POLLED_ADDON_PATH: '/nonexistent/polled.node' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ v: 42, loaded: [] });
  });
});
