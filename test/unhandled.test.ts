// Unobserved task failures (lib/unhandled.ts): a task that fails while nothing awaits its
// JoinHandle, and still nothing does at the end of the executor's run, is reported through the
// runtime's onUnhandledError; a later await still gets the error. Cancellation is not a failure.
// In-process with a callback on both runtimes and both drivers; the default ('warn') and 'exit'
// in child processes running the built package.
import { execFile } from 'node:child_process';
import { EchoServer } from '../lib/echo';
import type { SocketAddress } from '../lib/net';
import { CancelledError } from '../lib/errors';
import { type Async, type IntoFuture } from '../lib/future';
import { JoinSet } from '../lib/joinset';
import { Runtime } from '../lib/runtime';
import { RuntimeCore } from '../lib/runtime-core';
import { sleep, yieldNow } from '../lib/time';
import { TimerRuntime } from '../lib/timer-runtime';
import type { UnhandledTaskInfo } from '../lib/unhandled';
import { ROOT, requireBuild } from './fixtures/servers';
import { nodeEcho } from './helpers';

function* fail(msg: string): Async<never> {
  yield* yieldNow();
  throw new Error(msg);
}

/** Run `node -e script` with the built package; its exit code and stderr. */
function node(script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['-e', script], { cwd: ROOT, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
    });
  });
}

const makers: Array<[string, (o: ConstructorParameters<typeof TimerRuntime>[0]) => RuntimeCore]> = [
  ['TimerRuntime', (o) => new TimerRuntime(o)],
  ['Runtime', (o) => new Runtime(o)],
];

describe.each(makers)('%s', (_name, make) => {
  let rt: RuntimeCore;
  let reports: Array<[unknown, UnhandledTaskInfo]>;
  beforeEach(() => {
    reports = [];
    rt = make({ onUnhandledError: (err, task) => reports.push([err, task]) });
  });
  afterEach(() => rt.close());

  /** Drive `g` to its end under the chosen driver. */
  const drive = {
    // In Node's loop a report is made from a setImmediate queued after the run in which the task
    // failed; one more setImmediate after the result comes after it (on a slow machine the result
    // can arrive first).
    embedded: async <T>(g: IntoFuture<T>): Promise<T> => {
      const v = await rt.spawn(g).promise();
      await new Promise((r) => setImmediate(r));
      return v;
    },
    blockOn: <T>(g: IntoFuture<T>): Promise<T> => Promise.resolve(rt.blockOn(g)),
  };

  describe.each(['embedded', 'blockOn'] as const)('%s driver', (driver) => {
    const run = <T>(g: IntoFuture<T>): Promise<T> => drive[driver](g);

    test('a failing task nobody awaits is reported once, with its error and name; a later await still gets the error', async () => {
      const boom = new Error('boom');
      const handle = await run(
        (function* () {
          const h = rt.spawn(
            (function* (): Async<never> {
              yield* yieldNow();
              throw boom;
            })(),
            'worker',
          );
          yield* sleep(5); // several executor runs go by
          return [h]; // (in an array: a handle itself would be awaited by the Promise it resolves)
        })(),
      );
      expect(reports).toHaveLength(1);
      expect(reports[0][0]).toBe(boom);
      expect(reports[0][1]).toEqual({ id: handle[0].id, name: 'worker' });
      await expect(handle[0].promise()).rejects.toBe(boom);
      expect(reports).toHaveLength(1);
    });

    test('a failure whose handle is awaited (yield*, promise(), await, a JoinSet) is not reported', async () => {
      const got = await run(
        (function* () {
          const out: string[] = [];
          // Awaited by a task spawned after it, in the same run: observed before the run ends.
          const a = rt.spawn(fail('a'));
          const waiter = rt.spawn(
            (function* () {
              try {
                yield* a;
              } catch (e) {
                out.push((e as Error).message);
              }
            })(),
          );
          yield* waiter;
          const b = rt.spawn(fail('b'));
          const bp = b.promise().catch((e: Error) => out.push(e.message));
          // Promise.resolve calls then() from a microtask: in time in Node's loop (the decision
          // waits for the microtasks), never under blockOn (no microtask runs inside it).
          const c = driver === 'embedded' ? rt.spawn(fail('c')) : null;
          const cp = c === null ? out.push('c') : Promise.resolve(c).catch((e: Error) => out.push(e.message));
          const set = new JoinSet<never>();
          set.spawn(fail('d'));
          const r = yield* set.joinNext();
          if (r !== undefined && !r.ok) out.push((r.error as Error).message);
          yield* sleep(5);
          return { out, wait: Promise.all([bp, cp]) };
        })(),
      );
      await got.wait;
      expect(got.out.sort()).toEqual(['a', 'b', 'c', 'd']);
      expect(reports).toEqual([]);
    });

    test('cancellation is not a failure: aborted tasks, a task rethrowing CancelledError, a failing async cleanup', async () => {
      await run(
        (function* () {
          const sleeper = rt.spawn(sleep(10_000));
          sleeper.abort();
          // Rethrows the CancelledError of the task it awaited.
          const a = rt.spawn(sleep(10_000));
          rt.spawn(
            (function* () {
              yield* a;
            })(),
          );
          yield* yieldNow();
          a.abort();
          // Cancelled while its finally block awaits, which then throws.
          const c = rt.spawn(
            (function* () {
              try {
                yield* sleep(10_000);
              } finally {
                yield* yieldNow();
                // eslint-disable-next-line no-unsafe-finally
                throw new Error('cleanup failed');
              }
            })(),
          );
          yield* yieldNow();
          c.abort();
          yield* sleep(5);
        })(),
      );
      expect(reports).toEqual([]);
    });

    test('a task forgotten by JoinSet.detachAll is reported when it fails', async () => {
      await run(
        (function* () {
          const set = new JoinSet<never>();
          set.spawn(
            (function* (): Async<never> {
              yield* sleep(2);
              throw new Error('detached');
            })(),
            'detached one',
          );
          set.detachAll();
          yield* sleep(10);
        })(),
      );
      expect(reports.map(([e, t]) => `${t.name}: ${(e as Error).message}`)).toEqual(['detached one: detached']);
    });

    test('an onUnhandledError that throws does not harm the executor: other tasks go on, both errors go to stderr', async () => {
      const own = make({
        onUnhandledError: () => {
          throw new Error('callback broke');
        },
      });
      const errors: string[] = [];
      const spy = jest.spyOn(console, 'error').mockImplementation((line: unknown) => void errors.push(String(line)));
      const exitCode = process.exitCode;
      try {
        const g = (function* () {
          own.spawn(fail('first'), 'one');
          yield* sleep(3);
          own.spawn(fail('second'), 'two');
          yield* sleep(3);
          return 'still running';
        })();
        const v = driver === 'embedded' ? await own.spawn(g).promise() : own.blockOn(g);
        expect(v).toBe('still running');
        // In Node's loop a report waits for a setImmediate after the run in which the task failed;
        // on a slow machine (the sanitizer run) the 3 ms sleep can end first and `g` resolve before
        // "two" is reported. Wait for it, bounded.
        for (let i = 0; i < 500 && !errors.some((e) => e.includes('"two"')); i++) await new Promise((r) => setTimeout(r, 10));
        expect(process.exitCode).toBe(1);
      } finally {
        process.exitCode = exitCode;
        spy.mockRestore();
        own.close();
      }
      const text = errors.join('\n');
      expect(text).toMatch(/task "one" \(id \d+\) failed and nothing awaits its JoinHandle:\nError: first/);
      expect(text).toMatch(/task "two" \(id \d+\) failed/);
      expect(text).toMatch(/onUnhandledError threw while handling that failure:\nError: callback broke/);
    });
  });

  test("blockOn's own future failing is thrown to the caller, not reported", () => {
    expect(() => rt.blockOn(fail('mine'))).toThrow('mine');
    expect(reports).toEqual([]);
  });

  test('onUnhandledError is checked', () => {
    expect(() => make({ onUnhandledError: 'ignore' as never })).toThrow(/onUnhandledError must be 'warn', 'exit' or a function \(error, task\) => void, got "ignore"/);
    expect(() => make({ onUnhandledError: 1 as never })).toThrow(TypeError);
    make({ onUnhandledError: 'warn' }).close();
    make({ onUnhandledError: 'exit' }).close();
  });
});

describe('in a child process (the built package)', () => {
  beforeAll(requireBuild);

  test("the default: an unawaited task's failure is printed with its stack, and the process exits 1", async () => {
    const r = await node("require('.').spawn(function*(){throw new Error('boom')}())");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^polled: task \d+ failed and nothing awaits its JoinHandle:\nError: boom\n\s+at /);
  });

  test("the default keeps serving: a later timer still runs, and the exit code is 1 at the end; the task's name is printed", async () => {
    const r = await node(
      "const p = require('.'); p.spawn(function*(){ throw new TypeError('bad') }(), 'parser'); p.spawn(function*(){ yield* p.sleep(20); console.log('later') }())",
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('later\n');
    expect(r.stderr).toMatch(/task "parser" \(id \d+\) failed and nothing awaits its JoinHandle:\nTypeError: bad/);
  });

  test("'exit' prints the failure and exits 1 at once", async () => {
    const r = await node(
      "const p = require('.'); const rt = new p.Runtime({ onUnhandledError: 'exit' }); rt.spawn(function*(){ throw new Error('fatal') }()); rt.spawn(function*(){ yield* p.sleep(50); console.log('never') }())",
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/failed and nothing awaits its JoinHandle:\nError: fatal/);
  });

  test('under blockOn too: a spawned task that fails unawaited is reported', async () => {
    const r = await node("const p = require('.'); p.blockOn(function*(){ p.spawn(function*(){ throw new Error('inner') }()); yield* p.sleep(5); }())");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Error: inner/);
  });

  test('an awaited failure, and an aborted task, print nothing and exit 0', async () => {
    const r = await node(
      "const p = require('.'); const h = p.spawn(function*(){ throw new Error('seen') }()); h.then(undefined, (e) => console.log('caught', e.message)); p.spawn(p.sleep(10000)).abort();",
    );
    expect(r).toEqual({ code: 0, stdout: 'caught seen\n', stderr: '' });
  });

  test('`await spawn(failing())` at top level: the await observes it (its then() runs after the executor run), nothing printed', async () => {
    const r = await node("(async () => { try { await require('.').spawn(function*(){ throw new Error('awaited') }()); } catch (e) { console.log('caught', e.message); } })()");
    expect(r).toEqual({ code: 0, stdout: 'caught awaited\n', stderr: '' });
  });

  test("a worker whose main fails is reported once, by the group (not also as an unobserved task)", async () => {
    const r = await node(
      [
        "const fs = require('fs'), os = require('os'), path = require('path'), p = require('.');",
        "const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'polled-')), 'w.js');",
        "fs.writeFileSync(f, 'exports.main = function* () { throw new Error(\"main failed\") }');",
        "for (const driver of ['embedded', 'block']) p.startWorkers(f, { threads: 1, signals: false, driver }).join().then((x) => console.log(driver, x[0].error.message));",
      ].join('\n'),
    );
    expect(r.code).toBe(1);
    expect(r.stdout.split('\n').sort().join('\n')).toBe('\nblock main failed\nembedded main failed');
    expect(r.stderr).not.toMatch(/nothing awaits/);
    expect(r.stderr.match(/main failed/g)).toHaveLength(2);
  });
});

test('CancelledError is what an aborted task gives its awaiter (the reason aborts are not reported)', async () => {
  const rt = new TimerRuntime({ onUnhandledError: () => undefined });
  try {
    const h = rt.spawn(sleep(10_000));
    h.abort();
    await expect(h.promise()).rejects.toBeInstanceOf(CancelledError);
  } finally {
    rt.close();
  }
});

test('the echo server (polled/echo): clients that reset mid-reply are not reported, and it keeps serving', async () => {
  const reports: string[] = [];
  const rt = new Runtime({ onUnhandledError: (err) => reports.push(String(err)) });
  try {
    const server = rt.blockOn(EchoServer.bind('127.0.0.1:0'));
    const main = rt.spawn(server);
    const port = (server.localAddr() as SocketAddress).port;
    const echo = (msg: string, reset: boolean): Promise<string> => nodeEcho(port, msg, reset);
    for (let i = 0; i < 5; i++) await echo('x'.repeat(256 * 1024), true);
    expect(await echo('still serving', false)).toBe('still serving');
    server.stop(0);
    await main;
    expect(reports).toEqual([]);
  } finally {
    rt.close();
  }
});
