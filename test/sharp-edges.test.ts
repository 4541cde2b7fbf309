// The API's sharp edges, each with a message that names the mistake: byte operations without a
// buffer, a read into nothing, operations after close(), a host name where an address is wanted,
// spawn(main) / blockOn(main) with the generator function, and what TypeScript says for those.
import * as path from 'node:path';
import * as ts from 'typescript';
import { IoError } from '../lib/errors';
import { pipe } from '../lib/io';
import { SocketAddress, TcpListener, TcpStream } from '../lib/net';
import { Runtime } from '../lib/runtime';
import { ROOT } from './fixtures/servers';
import { eachRuntime } from './helpers';

let rt: Runtime;
eachRuntime((r) => (rt = r), { checkHandles: true });

function* pair(): Generator<unknown, [TcpListener, TcpStream, TcpStream]> {
  const l = yield* TcpListener.bind('127.0.0.1:0');
  const c = yield* TcpStream.connect(l.localAddr());
  const [s] = yield* l.accept();
  return [l, c, s];
}

const noArg = (f: (...a: never[]) => unknown): unknown => (f as () => unknown)();

test('every byte operation without a buffer throws a TypeError naming the operation', () => {
  rt.blockOn(
    (function* () {
      const [l, c, s] = yield* pair();
      try {
        for (const [name, op] of [
          ['read', () => noArg(c.read.bind(c))],
          ['write', () => noArg(c.write.bind(c))],
          ['tryWrite', () => noArg(c.tryWrite.bind(c))],
          ['readExact', () => noArg(c.readExact.bind(c))],
          ['writeAll', () => noArg(c.writeAll.bind(c))],
        ] as const) {
          expect(op).toThrow(TypeError);
          expect(op).toThrow(`${name}(buf) must be a Uint8Array or Buffer, got undefined`);
        }
        expect(() => noArg(c.writev.bind(c))).toThrow(/writev\(bufs\) needs an array of Uint8Array, got undefined/);
        expect(() => noArg(c.writevAll.bind(c))).toThrow(/writevAll\(bufs\) needs an array of Uint8Array, got undefined/);
        expect(() => c.writeAll(42 as never)).toThrow(TypeError); // a string is text now (see bufio.test.ts)
      } finally {
        c.close();
        s.close();
        l.close();
      }
    })(),
  );
});

test('read(Buffer.alloc(0)) is refused: a read returns 0 only at end of stream', () => {
  rt.blockOn(
    (function* () {
      const [l, c, s] = yield* pair();
      expect(() => c.read(Buffer.alloc(0))).toThrow(RangeError);
      expect(() => c.read(Buffer.alloc(0))).toThrow('read(buf): nothing to read into (length 0); a read returns 0 only at end of stream');
      expect(() => c.read(Buffer.alloc(8), 8)).toThrow(/nothing to read into/);
      c.close();
      s.close();
      l.close();
    })(),
  );
});

test('an operation after close() says the stream (or listener, or pipe) was closed', () => {
  rt.blockOn(
    (function* () {
      const [l, c, s] = yield* pair();
      c.close();
      s.close();
      l.close();
      const buf = Buffer.alloc(4);
      const closed = /EBADF: bad file descriptor \(the stream was closed\)$/;
      let e: unknown;
      try {
        yield* c.read(buf);
      } catch (err) {
        e = err;
      }
      expect(e).toBeInstanceOf(IoError);
      expect((e as Error).message).toMatch(/^read EBADF: bad file descriptor \(the stream was closed\)$/);
      try {
        yield* c.write(buf);
      } catch (err) {
        e = err;
      }
      expect((e as Error).message).toMatch(/^write EBADF/);
      expect((e as Error).message).toMatch(closed);
      expect(() => c.tryWrite(buf)).toThrow(closed);
      expect(() => c.localAddr()).toThrow(closed);
      expect(() => c.peerAddr()).toThrow(closed);
      expect(() => c.shutdown('write')).toThrow(closed);
      expect(() => c.setNoDelay(true)).toThrow(closed);
      try {
        yield* l.accept();
      } catch (err) {
        e = err;
      }
      expect((e as Error).message).toBe('accept EBADF: bad file descriptor (the listener was closed)');
      expect(() => l.localAddr()).toThrow('getsockname EBADF: bad file descriptor (the listener was closed)');
      const [r, w] = pipe(rt);
      r.close();
      w.close();
      try {
        yield* r.read(buf);
      } catch (err) {
        e = err;
      }
      expect((e as Error).message).toBe('read EBADF: bad file descriptor (the pipe was closed)');
    })(),
  );
});

test('a host name where a numeric address is wanted names lookupHost and the calls that resolve names', () => {
  expect(() => new SocketAddress('localhost', 80)).toThrow(TypeError);
  expect(() => new SocketAddress('localhost', 80)).toThrow(/a name such as 'localhost' is resolved by lookupHost, TcpStream.connect and TcpListener.bind/);
});

test('spawn(main) and blockOn(main) with the generator function: a TypeError that says to call it', () => {
  function* main(): Generator<unknown, void> {}
  expect(() => rt.spawn(main as never)).toThrow(new TypeError('spawn(main) got the generator function; call it: spawn(main()) (spawn(future) must be a Future or a generator object)'));
  expect(() => rt.blockOn(main as never)).toThrow(/^blockOn\(main\) got the generator function; call it: blockOn\(main\(\)\)/);
  expect(() => rt.spawn((() => 1) as never)).toThrow(/^spawn\(main\) got a function; call it: spawn\(main\(\)\)/);
});

describe('what TypeScript says (the compiler run on a snippet against lib/)', () => {
  /** The diagnostics of `source`, compiled as a file in test/ with the test config's options. */
  function diagnostics(source: string): string[] {
    const file = path.join(ROOT, 'test', '__snippet__.ts');
    const config = ts.getParsedCommandLineOfConfigFile(path.join(ROOT, 'tsconfig.test.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined })!;
    const host = ts.createCompilerHost(config.options);
    const read = host.getSourceFile.bind(host);
    host.getSourceFile = (name, lang, ...rest) => (path.resolve(name) === file ? ts.createSourceFile(name, source, lang) : read(name, lang, ...rest));
    const program = ts.createProgram([file], { ...config.options, noEmit: true }, host);
    return ts
      .getPreEmitDiagnostics(program, program.getSourceFile(file))
      .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  }

  test('spawn(main) and blockOn(main): the error names the mistake and the fix; the right calls are clean', () => {
    const [spawnErr, rtSpawnErr, blockErr, ...rest] = diagnostics(`
      import { spawn, blockOn, Runtime, type Async } from '../lib';
      function* main(): Async<number> { return 1; }
      spawn(main);
      new Runtime().spawn(main, 'x');
      blockOn(main);
      export const ok: Promise<number> = (async () => (await spawn(main())) + blockOn(main()))();
    `);
    expect(rest).toEqual([]);
    for (const e of [spawnErr, rtSpawnErr]) expect(e).toContain('"spawn(main) got the generator function; call it: spawn(main())"');
    expect(blockErr).toContain('"blockOn(main) got the generator function; call it: blockOn(main())"');
  }, 60_000);

  test('`yield fut` is a type error (the run-time TypeError names the fix: TypeScript cannot word it)', () => {
    const errs = diagnostics(`
      import { sleep, type Async } from '../lib';
      export function* g(): Async<void> { yield sleep(1); }
    `);
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatch(/Type 'Sleep' is not assignable to type/);
  }, 60_000);
});
