/**
 * Bound buffers: the fast byte path (native readBound / writeBound through `native.ioArgs`) that
 * lib/io.ts switches to when a stream reads into, or writes from, the same buffer twice in a
 * row. It must behave exactly like the general path, and never touch a buffer that was detached
 * (transferred) after it was bound.
 */
import * as os from 'node:os';
import { pipe } from '../lib/io';
import {
  ARG_HANDLE,
  ARG_LENGTH,
  ARG_OFFSET,
  ARG_RESULT,
  ARG_STATUS,
  ARG_WRITE_BACK,
  ARG_WRITTEN,
  READ_BUFFER,
  STATUS_DONE,
  STATUS_NOT_BOUND,
  WRITE_BUFFER,
  native,
  type Handle,
} from '../lib/native';
import type { Async } from '../lib/future';
import { TcpListener, TcpStream } from '../lib/net/tcp';
import { Runtime } from '../lib/runtime';
import { sleep } from '../lib/time';

const E = os.constants.errno as Readonly<Record<string, number>>;
const args = native.ioArgs;

function rawPipe(): [Handle, Handle] {
  const ends = native.pipe();
  if (typeof ends === 'number') throw new Error(`pipe: ${ends}`);
  return ends;
}

/** "not bound": the status said so, and no result is claimed (NaN). */
const NOT_BOUND = 'not bound';

/** One bound call: its result when the status is STATUS_DONE, else NOT_BOUND. */
function bound(call: () => void, h: Handle, offset: number, length: number): number | typeof NOT_BOUND {
  args[ARG_HANDLE] = h;
  args[ARG_OFFSET] = offset;
  args[ARG_LENGTH] = length;
  args[ARG_RESULT] = 12345; // stale values must be overwritten
  args[ARG_STATUS] = 12345;
  call();
  const status = args[ARG_STATUS];
  if (status === STATUS_DONE) return args[ARG_RESULT];
  expect(status).toBe(STATUS_NOT_BOUND);
  expect(args[ARG_RESULT]).toBeNaN();
  return NOT_BOUND;
}

const readBound = (h: Handle, offset: number, length: number) => bound(() => native.readBound(), h, offset, length);
const writeBound = (h: Handle, offset: number, length: number) => bound(() => native.writeBound(), h, offset, length);

function detach(buf: Uint8Array): void {
  structuredClone(buf.buffer, { transfer: [buf.buffer as ArrayBuffer] });
}

describe('native bound buffers', () => {
  test('readBound / writeBound move bytes through the bound views, at an offset', () => {
    const [r, w] = rawPipe();
    const src = Buffer.from('..hello..');
    const dst = new Uint8Array(16);
    expect(native.bindBuffer(w, WRITE_BUFFER, src)).toBe(0);
    expect(native.bindBuffer(r, READ_BUFFER, dst.subarray(4))).toBe(0);
    expect(writeBound(w, 2, 5)).toBe(5);
    expect(readBound(r, 1, 8)).toBe(5);
    expect(Buffer.from(dst.subarray(5, 10)).toString()).toBe('hello');
    expect(readBound(r, 0, 8)).toBe(-E.EAGAIN);
    native.close(r);
    native.close(w);
  });

  test('nothing bound, a range outside the view, a fraction: STATUS_NOT_BOUND, no syscall', () => {
    const [r, w] = rawPipe();
    expect(readBound(r, 0, 4)).toBe(NOT_BOUND);
    expect(writeBound(w, 0, 4)).toBe(NOT_BOUND);
    expect(native.bindBuffer(r, READ_BUFFER, new Uint8Array(8))).toBe(0);
    expect(writeBound(r, 0, 4)).toBe(NOT_BOUND); // the other slot is still empty
    expect(readBound(r, 4, 5)).toBe(NOT_BOUND);
    expect(readBound(r, 2, 0)).toBe(NOT_BOUND); // a 0-byte read would return 0 (end of stream): never made
    expect(readBound(r, -1, 2)).toBe(NOT_BOUND);
    expect(readBound(r, 0.5, 2)).toBe(NOT_BOUND);
    expect(readBound(r, 0, NaN)).toBe(NOT_BOUND);
    expect(readBound(r, 0, 8)).toBe(-E.EAGAIN); // in range: the syscall runs
    native.close(r);
    native.close(w);
  });

  test('a buffer detached after binding is never used: STATUS_NOT_BOUND', () => {
    const [r, w] = rawPipe();
    const dst = new Uint8Array(64);
    expect(native.bindBuffer(r, READ_BUFFER, dst)).toBe(0);
    expect(native.write(w, Buffer.from('abc'), 0, 3)).toBe(3);
    detach(dst);
    expect(readBound(r, 0, 64)).toBe(NOT_BOUND);
    expect(native.read(r, Buffer.alloc(8), 0, 8)).toBe(3); // the bytes are still there
    native.close(r);
    native.close(w);
  });

  test('stale handles get -EBADF (a result, STATUS_DONE); closing a handle drops its bindings', () => {
    const [r, w] = rawPipe();
    expect(native.bindBuffer(r, READ_BUFFER, new Uint8Array(8))).toBe(0);
    native.close(r);
    expect(readBound(r, 0, 8)).toBe(-E.EBADF);
    expect(native.bindBuffer(r, READ_BUFFER, new Uint8Array(8))).toBe(-E.EBADF);
    // The slot is reused by the next handle, which starts with nothing bound.
    const [r2, w2] = rawPipe();
    expect(readBound(r2, 0, 8)).toBe(NOT_BOUND);
    for (const h of [w, r2, w2]) native.close(h);
  });

  test('argument errors throw; an empty view is not bound', () => {
    const [r, w] = rawPipe();
    // (Errors made by the addon belong to the main realm, not jest's: match by message.)
    expect(() => native.bindBuffer(r, WRITE_BUFFER + 1, new Uint8Array(1))).toThrow(/"slot" must be an integer/);
    expect(() => native.bindBuffer(r, READ_BUFFER, new Uint16Array(1) as unknown as Uint8Array)).toThrow(/"buf" must be a Uint8Array/);
    expect(native.bindBuffer(r, READ_BUFFER, new Uint8Array(0))).toBe(-E.EINVAL);
    expect(native.bindBuffer(r, READ_BUFFER, new Uint8Array(new SharedArrayBuffer(8), 8))).toBe(-E.EINVAL);
    native.close(r);
    native.close(w);
  });

  test('a view on a SharedArrayBuffer binds (its pointer taken once): bytes move at an offset, it cannot be transferred away, a growable one keeps working as it grows', () => {
    const [r, w] = rawPipe();
    const shared = new SharedArrayBuffer(32);
    const src = new Uint8Array(shared, 4, 12);
    src.set(Buffer.from('..hello..'));
    const growable = new (SharedArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => SharedArrayBuffer & { grow(n: number): void })(16, {
      maxByteLength: 1 << 20,
    });
    const dst = new Uint8Array(growable, 2, 8);
    expect(native.bindBuffer(w, WRITE_BUFFER, src)).toBe(0);
    expect(native.bindBuffer(r, READ_BUFFER, dst)).toBe(0);
    // Shared memory is shared, never transferred: the attempt throws and changes nothing.
    expect(() => structuredClone(shared, { transfer: [shared as unknown as ArrayBuffer] })).toThrow();
    expect(writeBound(w, 2, 5)).toBe(5);
    growable.grow(1 << 20); // in place: the view and the pointer taken at bind stay valid
    expect(readBound(r, 1, 7)).toBe(5);
    expect(Buffer.from(dst.subarray(1, 6)).toString()).toBe('hello');
    expect(Buffer.from(new Uint8Array(growable, 3, 5)).toString()).toBe('hello');
    expect(readBound(r, 0, 9)).toBe(NOT_BOUND); // still only the bound view's range
    expect(readBound(r, 0, 8)).toBe(-E.EAGAIN);
    native.close(r);
    native.close(w);
  });
});

describe('native echoBound: the read and the write of the bytes read back, in one call', () => {
  let rt: Runtime;
  beforeEach(() => {
    rt = new Runtime();
  });
  afterEach(() => rt.close());

  /** A connected loopback pair: [client, server side]. */
  function pair(): [TcpStream, TcpStream] {
    return rt.blockOn(
      (function* (): Async<[TcpStream, TcpStream]> {
        const l = yield* TcpListener.bind('127.0.0.1:0');
        const acc = rt.spawn(l.accept());
        const c = yield* TcpStream.connect(l.localAddr());
        const [s] = yield* acc;
        l.close();
        return [c, s];
      })(),
    );
  }

  /** A millisecond in the runtime's wait, so that its poller runs (on io_uring, completions land then). */
  function settle(): void {
    rt.blockOn(sleep(1));
  }

  /** Until `n` bytes came (bounded): what the client reads back. */
  function readBack(c: TcpStream, n: number): string {
    const got = Buffer.alloc(n);
    let have = 0;
    for (let i = 0; i < 2000 && have < n; i++) {
      const r = native.read(c.io.handle, got, have, n - have);
      if (r > 0) have += r;
      else settle();
    }
    return got.toString('latin1', 0, have);
  }

  /** One echoBound call: [read's result or NOT_BOUND, the write's answer (NaN: none made)]. */
  function echoBound(h: Handle, offset: number, length: number, writeBack: boolean): [number | typeof NOT_BOUND, number] {
    args[ARG_WRITE_BACK] = writeBack ? 1 : 0;
    args[ARG_WRITTEN] = 12345; // stale values must be overwritten
    const r = bound(() => native.echoBound(), h, offset, length);
    return [r, args[ARG_WRITTEN]];
  }

  test('the bytes read go straight back; without write-back, or with nothing read, no write is made', () => {
    const [c, s] = pair();
    const dst = new Uint8Array(32);
    expect(native.bindBuffer(s.io.handle, READ_BUFFER, dst.subarray(8))).toBe(0);
    expect(native.write(c.io.handle, Buffer.from('hello'), 0, 5)).toBe(5);
    let r: [number | typeof NOT_BOUND, number] = [-E.EAGAIN, NaN];
    // Loopback delivers at once, but bounded: wait for the bytes to be readable.
    for (let i = 0; i < 2000 && r[0] === -E.EAGAIN; i++) {
      r = echoBound(s.io.handle, 2, 16, true);
      if (r[0] === -E.EAGAIN) {
        expect(r[1]).toBeNaN();
        settle();
      }
    }
    expect(r).toEqual([5, 5]);
    expect(Buffer.from(dst.subarray(10, 15)).toString()).toBe('hello');
    expect(readBack(c, 5)).toBe('hello');
    // Write-back off: the read alone.
    expect(native.write(c.io.handle, Buffer.from('abc'), 0, 3)).toBe(3);
    for (let i = 0; i < 2000; i++) {
      r = echoBound(s.io.handle, 0, 16, false);
      if (r[0] !== -E.EAGAIN) break;
      settle();
    }
    expect(r[0]).toBe(3);
    expect(r[1]).toBeNaN();
    settle();
    expect(native.read(c.io.handle, Buffer.alloc(8), 0, 8)).toBe(-E.EAGAIN); // nothing came back
    // Nothing to read: -EAGAIN, and no write.
    r = echoBound(s.io.handle, 0, 16, true);
    expect(r[0]).toBe(-E.EAGAIN);
    expect(r[1]).toBeNaN();
    c.close();
    s.close();
  });

  test('not bound, out of the view, detached, or a stale handle: no syscall at all, and no write', () => {
    const [c, s] = pair();
    const h = s.io.handle;
    expect(native.write(c.io.handle, Buffer.from('xyz'), 0, 3)).toBe(3);
    settle();
    let [r, w] = echoBound(h, 0, 8, true);
    expect(r).toBe(NOT_BOUND);
    expect(w).toBeNaN();
    const dst = new Uint8Array(8);
    expect(native.bindBuffer(h, READ_BUFFER, dst)).toBe(0);
    [r, w] = echoBound(h, 4, 5, true);
    expect(r).toBe(NOT_BOUND);
    expect(w).toBeNaN();
    [r, w] = echoBound(h, 0, 0, true); // a 0-byte read would say end of stream: never made
    expect(r).toBe(NOT_BOUND);
    expect(w).toBeNaN();
    detach(dst);
    [r, w] = echoBound(h, 0, 8, true);
    expect(r).toBe(NOT_BOUND);
    expect(w).toBeNaN();
    expect(readBack(s, 3)).toBe('xyz'); // the bytes were never taken
    s.close();
    [r, w] = echoBound(h, 0, 8, true);
    expect(r).toBe(-E.EBADF);
    expect(w).toBeNaN();
    c.close();
  });
});

describe('streams use bound buffers transparently', () => {
  let rt: Runtime;
  beforeEach(() => {
    rt = new Runtime();
  });
  afterEach(() => rt.close());

  test('reads and writes with the same buffer, then with others, all land right', () => {
    const [r, w] = pipe(rt);
    const out = Buffer.alloc(8);
    const inBuf = new Uint8Array(8);
    const seen: string[] = [];
    rt.blockOn(
      (function* () {
        for (let i = 0; i < 5; i++) {
          out.write(`msg${i}`, 0);
          expect(yield* w.write(out, 0, 4)).toBe(4);
          const n = yield* r.read(inBuf, i % 2, 4);
          seen.push(Buffer.from(inBuf.subarray(i % 2, (i % 2) + n)).toString());
        }
        // A different buffer each time (never bound), then the first again.
        for (const s of ['x', 'yy', 'zzz']) {
          expect(yield* w.write(Buffer.from(s))).toBe(s.length);
          const b = new Uint8Array(4);
          const n = yield* r.read(b);
          seen.push(Buffer.from(b.subarray(0, n)).toString());
        }
        expect(yield* w.write(out, 0, 4)).toBe(4);
        const n = yield* r.read(inBuf);
        seen.push(Buffer.from(inBuf.subarray(0, n)).toString());
      })(),
    );
    expect(seen).toEqual(['msg0', 'msg1', 'msg2', 'msg3', 'msg4', 'x', 'yy', 'zzz', 'msg4']);
    r.close();
    w.close();
  });

  test('a bound buffer detached between reads is a TypeError that says so, not a 0 (end of stream)', () => {
    const [r, w] = pipe(rt);
    const buf = new Uint8Array(16);
    let err: unknown = null;
    rt.blockOn(
      (function* () {
        for (let i = 0; i < 2; i++) {
          yield* w.write(Buffer.from('ab'));
          expect(yield* r.read(buf)).toBe(2);
        }
        yield* w.write(Buffer.from('cd'));
        const fut = r.read(buf);
        detach(buf);
        try {
          yield* fut;
        } catch (e) {
          err = e;
        }
      })(),
    );
    expect((err as Error).name).toBe('TypeError');
    expect((err as Error).message).toMatch(/detached/);
    r.close();
    w.close();
  });
});
