/**
 * Bound buffers: the fast byte path (native readBound / writeBound through `native.ioArgs`) that
 * lib/io.ts switches to when a stream reads into, or writes from, the same buffer twice in a
 * row. It must behave exactly like the general path, and never touch a buffer that was detached
 * (transferred) after it was bound.
 */
import { pipe } from '../lib/io';
import { native, type Handle } from '../lib/native';
import { Runtime } from '../lib/runtime';

const E = native.errno;
const args = native.ioArgs;

function rawPipe(): [Handle, Handle] {
  const out = new Float64Array(2);
  expect(native.pipe(out)).toBe(0);
  return [out[0], out[1]];
}

function readBound(h: Handle, offset: number, length: number): number {
  args[0] = h;
  args[1] = offset;
  args[2] = length;
  native.readBound();
  return args[3];
}

function writeBound(h: Handle, offset: number, length: number): number {
  args[0] = h;
  args[1] = offset;
  args[2] = length;
  native.writeBound();
  return args[3];
}

function detach(buf: Uint8Array): void {
  structuredClone(buf.buffer, { transfer: [buf.buffer as ArrayBuffer] });
}

describe('native bound buffers', () => {
  test('readBound / writeBound move bytes through the bound views, at an offset', () => {
    const [r, w] = rawPipe();
    const src = Buffer.from('..hello..');
    const dst = new Uint8Array(16);
    expect(native.bindBuffer(w, 1, src)).toBe(0);
    expect(native.bindBuffer(r, 0, dst.subarray(4))).toBe(0);
    expect(writeBound(w, 2, 5)).toBe(5);
    expect(readBound(r, 1, 8)).toBe(5);
    expect(Buffer.from(dst.subarray(5, 10)).toString()).toBe('hello');
    expect(readBound(r, 0, 8)).toBe(-E.EAGAIN);
    native.close(r);
    native.close(w);
  });

  test('nothing bound, a range outside the view, a fraction: -EFAULT, no syscall', () => {
    const [r, w] = rawPipe();
    expect(readBound(r, 0, 4)).toBe(-E.EFAULT);
    expect(writeBound(w, 0, 4)).toBe(-E.EFAULT);
    expect(native.bindBuffer(r, 0, new Uint8Array(8))).toBe(0);
    expect(readBound(r, 4, 5)).toBe(-E.EFAULT);
    expect(readBound(r, -1, 2)).toBe(-E.EFAULT);
    expect(readBound(r, 0.5, 2)).toBe(-E.EFAULT);
    expect(readBound(r, 0, NaN)).toBe(-E.EFAULT);
    expect(readBound(r, 0, 8)).toBe(-E.EAGAIN); // in range: the syscall runs
    native.close(r);
    native.close(w);
  });

  test('a buffer detached after binding is never used: -EFAULT', () => {
    const [r, w] = rawPipe();
    const dst = new Uint8Array(64);
    expect(native.bindBuffer(r, 0, dst)).toBe(0);
    expect(native.write(w, Buffer.from('abc'), 0, 3)).toBe(3);
    detach(dst);
    expect(readBound(r, 0, 64)).toBe(-E.EFAULT);
    native.close(r);
    native.close(w);
  });

  test('stale handles get -EBADF; closing a handle drops its bindings', () => {
    const [r, w] = rawPipe();
    expect(native.bindBuffer(r, 0, new Uint8Array(8))).toBe(0);
    native.close(r);
    expect(readBound(r, 0, 8)).toBe(-E.EBADF);
    expect(native.bindBuffer(r, 0, new Uint8Array(8))).toBe(-E.EBADF);
    // The slot is reused by the next handle, which starts with nothing bound.
    const [r2, w2] = rawPipe();
    expect(readBound(r2, 0, 8)).toBe(-E.EFAULT);
    for (const h of [w, r2, w2]) native.close(h);
  });

  test('argument errors throw; a SharedArrayBuffer view cannot be bound', () => {
    const [r, w] = rawPipe();
    // (Errors made by the addon belong to the main realm, not jest's: match by message.)
    expect(() => native.bindBuffer(r, 2, new Uint8Array(1))).toThrow(/"slot" must be an integer/);
    expect(() => native.bindBuffer(r, 0, new Uint16Array(1) as unknown as Uint8Array)).toThrow(/"buf" must be a Uint8Array/);
    expect(native.bindBuffer(r, 0, new Uint8Array(new SharedArrayBuffer(8)))).toBe(-E.EINVAL);
    native.close(r);
    native.close(w);
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
