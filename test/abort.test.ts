// Cancellation in Node's terms (lib/abort.ts, CancellationToken.fromSignal / toSignal) and
// process signals as futures (lib/signal.ts).
import { spawn as spawnChild } from 'node:child_process';
import { getEventListeners } from 'node:events';
import * as path from 'node:path';
import { AbortError, withSignal } from '../lib/abort';
import type { IntoFuture } from '../lib/future';
import { native } from '../lib/native';
import { TcpListener, TcpStream, UnixListener } from '../lib/net';
import { lookupHost } from '../lib/net/dns';
import { Runtime } from '../lib/runtime';
import { signal, signalStream } from '../lib/signal';
import { CancellationToken } from '../lib/sync/cancellation';
import { CancelledError } from '../lib/errors';
import { sleep } from '../lib/time';
import { catching, eachRuntime } from './helpers';
import { ROOT, requireBuild } from './fixtures/servers';

let rt: Runtime;
eachRuntime((r) => (rt = r), { checkHandles: true });

const drivers = ['embedded', 'block'] as const;
function run<T>(driver: (typeof drivers)[number], gen: IntoFuture<T>): Promise<T> {
  return driver === 'block' ? Promise.resolve(rt.blockOn(gen)) : rt.spawn(gen).promise();
}

describe('withSignal', () => {
  test.each(drivers)('an abort from another task drops the future (its finally runs) and fails with AbortError (%s)', async (driver) => {
    const c = new AbortController();
    let cleaned = false;
    const err = await run(
      driver,
      (function* () {
        rt.spawn(
          (function* () {
            yield* sleep(5);
            c.abort('enough');
          })(),
        );
        return yield* catching(
          withSignal(
            (function* () {
              try {
                yield* sleep(60_000);
              } finally {
                cleaned = true;
              }
            })(),
            c.signal,
          ),
        );
      })(),
    );
    expect(err).toBeInstanceOf(AbortError);
    expect((err as AbortError).code).toBe('ABORT_ERR');
    expect((err as AbortError).cause).toBe('enough');
    expect(cleaned).toBe(true);
    expect(getEventListeners(c.signal, 'abort')).toHaveLength(0);
  });

  test('an already aborted signal fails at once and the future is never polled', async () => {
    const c = new AbortController();
    c.abort();
    let polled = false;
    const err = await run(
      'embedded',
      catching(
        withSignal(
          (function* () {
            polled = true;
          })(),
          c.signal,
        ),
      ),
    );
    expect(err).toBeInstanceOf(AbortError);
    expect(polled).toBe(false);
  });

  test('a future that completes first gives its value and leaves no listener behind', async () => {
    const c = new AbortController();
    const v = await run(
      'embedded',
      withSignal(
        (function* () {
          yield* sleep(1);
          return 42;
        })(),
        c.signal,
      ),
    );
    expect(v).toBe(42);
    expect(getEventListeners(c.signal, 'abort')).toHaveLength(0);
    c.abort(); // nothing to do any more
  });

  test('accept() under a signal: aborting it loses no connection (accept is cancel-safe)', async () => {
    const c = new AbortController();
    const got = await run(
      'embedded',
      (function* () {
        const l = yield* TcpListener.bind('127.0.0.1:0');
        setTimeout(() => c.abort(), 5); // Node's own timer: the embedded driver sees it at once
        const err = yield* catching(withSignal(l.accept(), c.signal));
        const client = yield* TcpStream.connect(l.localAddr());
        const [s] = yield* l.accept();
        s.close();
        client.close();
        l.close();
        return err;
      })(),
    );
    expect(got).toBeInstanceOf(AbortError);
  });

  test.each(drivers)('an AbortSignal cancels a read; the bytes that come later are read by the next one (%s)', async (driver) => {
    const c = new AbortController();
    const got = await run(
      driver,
      (function* () {
        const l = yield* TcpListener.bind('127.0.0.1:0');
        const client = yield* TcpStream.connect(l.localAddr());
        const [s] = yield* l.accept();
        const buf = new Uint8Array(16);
        rt.spawn(
          (function* () {
            yield* sleep(5);
            c.abort();
          })(),
        );
        const err = yield* catching(withSignal(s.read(buf), c.signal)); // nothing sent yet: pends, then aborts
        yield* client.writeAll(new TextEncoder().encode('after'));
        const n = yield* s.read(buf);
        client.close();
        s.close();
        l.close();
        return [err, new TextDecoder().decode(buf.subarray(0, n))] as const;
      })(),
    );
    expect(got[0]).toBeInstanceOf(AbortError);
    expect(got[1]).toBe('after');
  });

  test('the { signal } option of connect, bind and lookupHost; bad signals are TypeErrors', async () => {
    const aborted = AbortSignal.abort();
    const before = native.handleCount();
    const errs = await run(
      'embedded',
      (function* () {
        const l = yield* TcpListener.bind('127.0.0.1:0');
        const out = [
          yield* catching(TcpStream.connect(l.localAddr(), { signal: aborted })),
          yield* catching(TcpListener.bind('127.0.0.1:0', { signal: aborted })),
          yield* catching(UnixListener.bind('/tmp/polled-abort-test.sock', { signal: aborted })),
          yield* catching(lookupHost('localhost', { signal: aborted })),
        ];
        l.close();
        return out;
      })(),
    );
    for (const e of errs) expect(e).toBeInstanceOf(AbortError);
    expect(native.handleCount()).toBe(before); // nothing was opened
    expect(() => TcpStream.connect('127.0.0.1:1', { signal: {} as AbortSignal })).toThrow(/TcpStream.connect: signal must be an AbortSignal/);
    expect(() => withSignal(sleep(1), undefined as unknown as AbortSignal)).toThrow(TypeError);
  });
});

describe('CancellationToken and AbortSignal', () => {
  test('fromSignal: the token is cancelled when the signal aborts (at once if it has)', () => {
    const c = new AbortController();
    const t = CancellationToken.fromSignal(c.signal);
    expect(t.isCancelled()).toBe(false);
    c.abort();
    expect(t.isCancelled()).toBe(true);
    expect(CancellationToken.fromSignal(AbortSignal.abort()).isCancelled()).toBe(true);
    expect(() => CancellationToken.fromSignal('stop' as unknown as AbortSignal)).toThrow(TypeError);
  });

  test('toSignal: aborts when the token (or its parent) is cancelled; one signal per token', () => {
    const parent = new CancellationToken();
    const child = parent.child();
    const s = child.toSignal();
    expect(child.toSignal()).toBe(s);
    expect(s.aborted).toBe(false);
    parent.cancel();
    expect(s.aborted).toBe(true);
    expect(s.reason).toBeInstanceOf(CancelledError);
    const done = new CancellationToken();
    done.cancel();
    expect(done.toSignal().aborted).toBe(true);
  });
});

describe('process signals', () => {
  beforeAll(requireBuild);

  test('signal(name) completes at the next delivery, then removes its listener; signalStream loses none', async () => {
    // A child process: signals to the jest worker itself would be rude.
    const script = `
      const { Runtime, signal, signalStream } = require(${JSON.stringify(path.join(ROOT, 'dist', 'cjs', 'index.js'))});
      const rt = new Runtime();
      rt.spawn(function* () {
        const stream = signalStream('SIGUSR1');
        const one = signal('SIGUSR2');
        const pending = rt.spawn(one);
        yield* require(${JSON.stringify(path.join(ROOT, 'dist', 'cjs', 'time.js'))}).sleep(1);
        console.log('ready', process.listenerCount('SIGUSR2'));
        const got = yield* pending;
        console.log('got', got, process.listenerCount('SIGUSR2'));
        for (let i = 0; i < 3; i++) console.log('stream', yield* stream.recv());
        stream.close();
        console.log('closed', process.listenerCount('SIGUSR1'));

      }());
    `;
    const child = spawnChild(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.setEncoding('utf8');
    const exited = new Promise<number | null>((r) => child.on('exit', r));
    await new Promise<void>((resolve) =>
      child.stdout!.on('data', (d: string) => {
        out += d;
        if (out.includes('ready')) resolve();
      }),
    );
    child.kill('SIGUSR2');
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (out.includes('got')) {
          clearInterval(t);
          resolve();
        }
      }, 10);
    });
    // Three deliveries before anyone receives: none is lost.
    for (let i = 0; i < 3; i++) {
      child.kill('SIGUSR1');
      await new Promise((r) => setTimeout(r, 30));
    }
    expect(await exited).toBe(0);
    const lines = out.trim().split('\n');
    expect(lines[0]).toBe('ready 1');
    expect(lines[1]).toBe('got SIGUSR2 0');
    expect(lines.slice(2, 5)).toEqual(['stream SIGUSR1', 'stream SIGUSR1', 'stream SIGUSR1']);
    expect(lines[5]).toBe('closed 0');
  });

  test('a task waiting for a signal keeps the process alive (Node\'s signal watchers alone do not)', async () => {
    const script = `
      const { Runtime, signal } = require(${JSON.stringify(path.join(ROOT, 'dist', 'cjs', 'index.js'))});
      new Runtime().spawn(function* () {
        console.log('waiting');
        console.log('got', yield* signal('SIGUSR2'));
      }());
    `;
    const child = spawnChild(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => (out += d));
    let exitedEarly = false;
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    void exited.then(() => (exitedEarly = !out.includes('got')));
    for (let i = 0; i < 500 && !out.includes('waiting'); i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 300)); // it used to exit here, the task still waiting
    expect(exitedEarly).toBe(false);
    child.kill('SIGUSR2');
    expect(await exited).toBe(0);
    expect(out).toBe('waiting\ngot SIGUSR2\n');
  });

  test('bad names are refused', () => {
    expect(() => signal('TERM' as NodeJS.Signals)).toThrow(TypeError);
    expect(() => signal('SIGKILL')).toThrow(/cannot be caught/);
    expect(() => signalStream('SIGNOPE' as NodeJS.Signals)).toThrow(RangeError);
  });

});

describe('closing from outside a turn', () => {
  beforeAll(requireBuild);

  test('a listener closed from Promise code lets the process exit (the embedded driver hears of it)', async () => {
    const script = `
      const { Runtime, TcpListener } = require(${JSON.stringify(path.join(ROOT, 'dist', 'cjs', 'index.js'))});
      new Runtime().spawn(TcpListener.bind('127.0.0.1:0')).promise().then((l) => { l.close(); console.log('closed'); });
    `;
    const child = spawnChild(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => (out += d));
    const code = await new Promise<number | null>((resolve) => {
      const t = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(-1); // still alive after 20 s: the bug
      }, 20_000);
      child.on('exit', (c) => {
        clearTimeout(t);
        resolve(c);
      });
    });
    expect(out).toBe('closed\n');
    expect(code).toBe(0);
  });
});
