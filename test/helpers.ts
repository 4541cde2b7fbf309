// What the test files share: a fresh Runtime per test (with an optional socket-leak check), a
// no-op Context for polling by hand, and small utilities.
import { createHash } from 'node:crypto';
import * as net from 'node:net';
import { noopContext, type Async, type Pending } from '../lib/future';
import { native } from '../lib/native';
import type { Stream } from '../lib/net/stream';
import { Runtime } from '../lib/runtime';

/**
 * A fresh Runtime for every test, closed after it: `let rt: Runtime; eachRuntime((r) => (rt = r));`.
 * With `checkHandles`, every socket a test opened must be closed again by its end: the addon's
 * handle count is back where it was (`set` also gets that count, taken before the runtime).
 */
export function eachRuntime(set: (rt: Runtime, baseHandles: number) => void, options: { checkHandles?: boolean } = {}): void {
  let rt: Runtime;
  let baseHandles = 0;
  beforeEach(() => {
    if (options.checkHandles) baseHandles = native.handleCount();
    rt = new Runtime();
    set(rt, baseHandles);
  });
  afterEach(() => {
    rt.close();
    if (options.checkHandles) expect(native.handleCount()).toBe(baseHandles);
  });
}

/** A Context whose waker does nothing: for polling a future by hand. */
export const cx = noopContext;

/** The error `f` throws (fails the test if it throws none). */
export function catchErr(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}

export type Awaitable<T> = { [Symbol.iterator](): Iterator<Pending, T, unknown> };

/** The error `g` throws, or undefined if it completes. */
export function* catching<T>(g: Awaitable<T>): Async<unknown> {
  try {
    yield* g;
  } catch (err) {
    return err;
  }
  return undefined;
}

export { rng } from './core-helpers';

export function sha(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Read `s` to end of stream, `chunk` bytes at most per read. */
export function* readToEnd(s: Stream, chunk = 64 * 1024): Async<Buffer> {
  const parts: Buffer[] = [];
  const buf = Buffer.alloc(chunk);
  for (;;) {
    const n = yield* s.read(buf);
    if (n === 0) return Buffer.concat(parts);
    parts.push(Buffer.from(buf.subarray(0, n)));
  }
}

/**
 * A node:net client of an echo server on 127.0.0.1:`port`: sends `msg`, and once it has all come
 * back ends the connection (or, with `reset`, resets it: SO_LINGER 0) and resolves with what came.
 */
export function nodeEcho(port: number, msg: string, reset: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const s = net.connect(port, '127.0.0.1', () => s.write(msg));
    s.on('data', (d) => {
      got += d.toString();
      if (got.length < msg.length) return;
      if (reset) s.resetAndDestroy();
      else s.end();
    });
    s.on('close', () => resolve(got));
    s.on('error', reject);
  });
}
