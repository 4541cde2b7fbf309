// Graceful shutdown: a grace period, then cancellation with cleanups run, then every handle and
// the poller closed; no fd left open (counted in /proc/self/fd), no handle left in the addon.
import * as fs from 'node:fs';
import { never, type Async } from '../lib/future';
import { pipe } from '../lib/io';
import { native } from '../lib/native';
import { TcpListener, TcpStream } from '../lib/net';
import { Runtime } from '../lib/runtime';
import { CancellationToken } from '../lib/sync';
import { pauseClock, sleep } from '../lib/time';

const hasProcFd = fs.existsSync('/proc/self/fd');

/** The process's open fds as "fd -> what" (sockets, pipes, epoll, eventfd, timerfd...). */
function openFds(): Set<string> {
  const out = new Set<string>();
  for (const f of fs.readdirSync('/proc/self/fd')) {
    try {
      out.add(`${f}->${fs.readlinkSync(`/proc/self/fd/${f}`)}`);
    } catch {
      // the fd readdir itself used, gone already
    }
  }
  return out;
}

/** Open fds once the count has been steady for a while (jest opens and closes a few sockets as a test starts). */
async function steadyFds(): Promise<Set<string>> {
  let last = openFds();
  let steady = 0;
  for (let i = 0; i < 100 && steady < 3; i++) {
    await new Promise((r) => setTimeout(r, 10));
    const now = openFds();
    steady = now.size === last.size ? steady + 1 : 0;
    last = now;
  }
  return last;
}

const runtimes: Runtime[] = [];
function newRuntime(): Runtime {
  const rt = new Runtime();
  runtimes.push(rt);
  return rt;
}
afterEach(() => {
  for (const rt of runtimes.splice(0)) rt.close();
});

describe('Runtime.shutdown', () => {
  (hasProcFd ? test : test.skip)('cancels what is left after the deadline, runs the cleanups, and leaves no fd open', async () => {
    const fds0 = await steadyFds();
    const handles0 = native.handleCount();
    const rt = newRuntime();
    const log: string[] = [];
    const setup = rt.spawn(
      (function* (): Async<void> {
        const listener = yield* TcpListener.bind('127.0.0.1:0');
        const addr = listener.localAddr();
        // A server that never finishes, holding every connection it accepted (and closing none).
        rt.spawn(
          (function* (): Async<void> {
            try {
              for (;;) {
                const [conn] = yield* listener.accept();
                rt.spawn(
                  (function* (): Async<void> {
                    const buf = Buffer.alloc(64);
                    for (;;) if ((yield* conn.read(buf)) === 0) break;
                  })(),
                  'conn',
                );
              }
            } finally {
              log.push('server finally');
            }
          })(),
          'server',
        );
        // Clients that connect and wait for ever; one closes its socket in a finally that awaits.
        for (let i = 0; i < 5; i++) {
          const s = yield* TcpStream.connect(addr);
          rt.spawn(
            (function* (): Async<void> {
              try {
                yield* s.write(Buffer.from('hi'));
                yield* never<void>();
              } finally {
                if (i === 0) {
                  yield* sleep(5); // async cleanup
                  s.close();
                  log.push('client 0 closed its socket');
                }
              }
            })(),
            `client${i}`,
          );
        }
        // A pipe reader that waits for ever and never closes its pipe.
        const [r, w] = pipe();
        rt.spawn((function* (): Async<void> { yield* r.read(Buffer.alloc(8)); void w; })(), 'pipe');
      })(),
    );
    await setup.promise();
    // A task that finishes on its own within the grace period.
    const quick = rt.spawn((function* (): Async<string> { yield* sleep(10); return 'done'; })());
    await new Promise((r) => setTimeout(r, 20));
    // The poller (epoll + eventfd + timerfd), a listener, 5 + 5 connections, a pipe.
    expect(native.handleCount()).toBe(handles0 + 14);
    expect(openFds().size).toBeGreaterThanOrEqual(fds0.size + 16);

    const report = await rt.shutdown({ timeout: 500, cleanupTimeout: 5000 });
    expect(await quick.promise()).toBe('done');
    expect(report.timedOut).toBe(true);
    expect(report.cancelled).toBeGreaterThanOrEqual(12); // server, 5 conns, 5 clients, pipe
    expect(report.abandoned).toBe(0);
    expect(log).toContain('server finally');
    expect(log).toContain('client 0 closed its socket');
    expect(rt.isClosed).toBe(true);
    expect(rt.executor.tasks.size).toBe(0);
    expect(native.handleCount()).toBe(handles0);
    const fds1 = openFds();
    expect([...fds1].filter((f) => !fds0.has(f))).toEqual([]); // nothing opened since is still open
    expect(fds1.size).toBe(fds0.size);
  });

  test('tasks that finish within the grace period are not cancelled', async () => {
    const rt = newRuntime();
    const token = new CancellationToken();
    const hs = [1, 2, 3].map((i) =>
      rt.spawn(
        (function* (): Async<number> {
          yield* token.cancelled(); // a worker that stops when told to
          yield* sleep(i);
          return i;
        })(),
      ),
    );
    setTimeout(() => token.cancel(), 5);
    const report = await rt.shutdown({ timeout: 10_000 });
    expect(report).toEqual({ completed: 3, cancelled: 0, abandoned: 0, timedOut: false });
    expect(await Promise.all(hs.map((h) => h.promise()))).toEqual([1, 2, 3]);
  });

  test('with no timeout, every task is cancelled at once and awaits in its finally still run', async () => {
    const rt = newRuntime();
    const log: string[] = [];
    const h = rt.spawn(
      (function* (): Async<void> {
        try {
          yield* sleep(60_000);
        } finally {
          yield* sleep(1);
          log.push('cleanup finished');
        }
      })(),
    );
    await new Promise((r) => setImmediate(r));
    const report = await rt.shutdown();
    expect(report).toEqual({ completed: 0, cancelled: 1, abandoned: 0, timedOut: true });
    expect(log).toEqual(['cleanup finished']);
    await expect(h.promise()).rejects.toThrow(/cancelled/);
  });

  test('a cleanup that never finishes is abandoned after cleanupTimeout, and the runtime closes anyway', async () => {
    const rt = newRuntime();
    rt.spawn(
      (function* (): Async<void> {
        try {
          yield* never<void>();
        } finally {
          yield* never<void>(); // stuck cleanup
        }
      })(),
    );
    await new Promise((r) => setImmediate(r));
    const report = await rt.shutdown({ timeout: 0, cleanupTimeout: 20 });
    expect(report.abandoned).toBe(1);
    expect(rt.isClosed).toBe(true);
  });

  test('under a paused clock the grace period is virtual time', async () => {
    const rt = newRuntime();
    const h = rt.spawn(
      (function* (): Async<string> {
        pauseClock();
        yield* sleep(30_000);
        return 'slept';
      })(),
    );
    const t0 = Date.now();
    const report = await rt.shutdown({ timeout: 60_000 });
    expect(report.completed).toBe(1);
    expect(await h.promise()).toBe('slept');
    expect(Date.now() - t0).toBeLessThan(20_000); // not 30 real seconds
  });

  test('can be requested from inside a task; repeated calls share one shutdown; spawn afterwards fails', async () => {
    const rt = newRuntime();
    let p: Promise<unknown> | null = null;
    rt.spawn(
      (function* (): Async<void> {
        p = rt.shutdown({ timeout: 1000 });
        yield* sleep(2);
      })(),
    );
    await new Promise((r) => setImmediate(r));
    expect(p).not.toBeNull();
    expect(rt.shutdown()).toBe(p);
    expect(await p).toEqual({ completed: 1, cancelled: 0, abandoned: 0, timedOut: false });
    expect(() => rt.spawn((function* (): Async<void> {})())).toThrow(/closed/);
  });

  test('tasks left behind by blockOn are shut down too', async () => {
    const rt = newRuntime();
    const log: string[] = [];
    rt.blockOn(
      (function* (): Async<void> {
        rt.spawn((function* (): Async<void> { try { yield* sleep(60_000); } finally { log.push('left-behind finally'); } })());
        yield* sleep(1);
      })(),
    );
    const report = await rt.shutdown({ timeout: 5 });
    expect(report.cancelled).toBe(1);
    expect(log).toEqual(['left-behind finally']);
  });

  test('bad options are TypeError / RangeError naming the value', () => {
    const rt = newRuntime();
    expect(() => rt.shutdown(5 as never)).toThrow(TypeError);
    expect(() => rt.shutdown({ timeout: -1 })).toThrow(RangeError);
    expect(() => rt.shutdown({ timeout: -1 })).toThrow(/timeout.*-1/);
    expect(() => rt.shutdown({ timeout: '5' as never })).toThrow(TypeError);
    expect(() => rt.shutdown({ cleanupTimeout: NaN })).toThrow(TypeError);
  });
});
