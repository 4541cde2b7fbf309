// Name resolution on the blocking pool: lookupHost against this machine's own resolver (Node's
// dns.promises.lookup, which calls the same getaddrinfo, is the oracle), connect and bind by
// name, and the errors. Loopback only: the names are 'localhost' and one under '.invalid', which
// RFC 6761 guarantees never to exist (a machine without DNS answers EAI_AGAIN instead).
import * as dns from 'node:dns';
import { IoError, errno } from '../lib/errors';
import type { Async, Future, IntoFuture } from '../lib/future';
import { native } from '../lib/native';
import { SocketAddress, TcpListener, TcpStream, connectFirst, lookupHost, parseHostPort } from '../lib/net';
import { Runtime } from '../lib/runtime';
import { TimerRuntime } from '../lib/timer-runtime';
import { catching, eachRuntime } from './helpers';

let rt: Runtime;
eachRuntime((r) => (rt = r), { checkHandles: true });

/** On the embedded driver (Node's loop runs). */
function run<T>(gen: IntoFuture<T>): Promise<T> {
  return rt.spawn(gen).promise();
}

/** The name of the error `f` throws. */
function nameOf(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    return (err as Error).name;
  }
  return 'nothing thrown';
}

type Answer = { addresses: string[] } | { code: string };

/** What Node's dns (getaddrinfo via libuv) says about `host`, in the same shape. */
async function oracle(host: string, family: 0 | 4 | 6): Promise<Answer> {
  try {
    const all = await dns.promises.lookup(host, { family, all: true, verbatim: true });
    return { addresses: [...new Set(all.map((a) => a.address))] };
  } catch (err) {
    return { code: (err as NodeJS.ErrnoException).code! };
  }
}

function* ours(host: string, family: 0 | 4 | 6): Async<Answer> {
  try {
    const addrs = yield* lookupHost(host, { family });
    for (const a of addrs) {
      expect(a).toBeInstanceOf(SocketAddress);
      expect(a.port).toBe(0);
      if (family !== 0) expect(a.family).toBe(family === 4 ? 'IPv4' : 'IPv6');
    }
    return { addresses: addrs.map((a) => a.host) };
  } catch (err) {
    expect(err).toBeInstanceOf(IoError);
    const e = err as IoError;
    expect(e.syscall).toBe('getaddrinfo');
    expect(e.hostname).toBe(host);
    return { code: e.code };
  }
}

describe('lookupHost', () => {
  test.each([4, 6, 0] as const)("'localhost' for family %d gives what the system resolver gives (blockOn)", async (family) => {
    const expected = await oracle('localhost', family);
    const got = rt.blockOn(ours('localhost', family));
    // Logged, so that the run says which case this machine is (::1 is not listed everywhere).
    console.log(`lookupHost('localhost', { family: ${family} }) →`, JSON.stringify(got));
    expect(got).toEqual(expected);
    if (family === 4) expect(got).toEqual({ addresses: ['127.0.0.1'] });
    if (family === 6 && 'addresses' in got) expect(got.addresses).toContain('::1');
  });

  test("'localhost' on the embedded driver, with a port", async () => {
    const addrs = await run(lookupHost('localhost', { family: 4, port: 8080 }));
    expect(addrs.map(String)).toEqual(['127.0.0.1:8080']);
  });

  test('an unknown name fails with ENOTFOUND (or EAI_AGAIN where no DNS server answers), as Node says', async () => {
    const name = 'no-such-host.invalid';
    const expected = await oracle(name, 0);
    const err = rt.blockOn(catching(lookupHost(name)));
    expect(err).toBeInstanceOf(IoError);
    const e = err as IoError;
    console.log(`lookupHost('${name}') →`, e.code, e.message);
    expect(['ENOTFOUND', 'EAI_AGAIN']).toContain(e.code);
    expect(e.code).toBe((expected as { code: string }).code);
    expect(e.message).toContain(name);
    expect(e.hostname).toBe(name);
    expect(e.syscall).toBe('getaddrinfo');
  });

  test('a numeric host is its own answer, without the pool', () => {
    const before = native.poolStats(rt.poller) as [number, number];
    expect(before).toEqual([0, 0]);
    const addrs = rt.blockOn(
      (function* (): Async<string[]> {
        const a = yield* lookupHost('127.0.0.1', { port: 1 });
        const b = yield* lookupHost('[::1]');
        return [...a, ...b].map(String);
      })(),
    );
    expect(addrs).toEqual(['127.0.0.1:1', '[::1]:0']);
    expect(native.poolStats(rt.poller)).toEqual([0, 0]); // no job, no thread
  });

  test('is lazy: nothing runs before the first poll', () => {
    const f = lookupHost('localhost');
    expect(native.poolStats(rt.poller)).toEqual([0, 0]);
    f.drop?.();
  });

  test('bad arguments are TypeErrors', () => {
    expect(() => lookupHost(5 as unknown as string)).toThrow(TypeError);
    expect(() => lookupHost('')).toThrow(TypeError);
    expect(() => lookupHost('a b')).toThrow(TypeError);
    expect(() => lookupHost('localhost', { family: 5 as 4 })).toThrow(TypeError);
    expect(() => lookupHost('localhost', { bogus: 1 } as never)).toThrow(TypeError);
    expect(() => lookupHost('localhost', null as never)).toThrow(TypeError);
    expect(() => lookupHost('x'.repeat(300))).toThrow(TypeError);
    // The addon's own checks (its errors come from the main realm, not jest's: compare names).
    expect(nameOf(() => native.poolLookup(rt.poller, 'localhost', 5, 1))).toBe('RangeError');
    expect(nameOf(() => native.poolLookup(rt.poller, 7 as unknown as string, 0, 1))).toBe('TypeError');
    expect(nameOf(() => native.poolLookup(rt.poller, 'localhost', 0, 0))).toBe('RangeError');
  });

  test('needs a full Runtime: a clear error on a TimerRuntime', () => {
    const trt = new TimerRuntime();
    try {
      expect(() => trt.blockOn(lookupHost('localhost'))).toThrow(/blocking pool.*TimerRuntime/);
    } finally {
      trt.close();
    }
  });

  test('IoError.resolver: Node’s codes for getaddrinfo failures, errnos kept as they were', () => {
    expect(IoError.resolver(-3008, 'h').code).toBe('ENOTFOUND'); // EAI_NONAME
    expect(IoError.resolver(-3007, 'h').code).toBe('ENOTFOUND'); // EAI_NODATA
    expect(IoError.resolver(-3001, 'h').code).toBe('EAI_AGAIN');
    expect(IoError.resolver(-3004, 'h').code).toBe('EAI_FAIL');
    const sys = IoError.resolver(-errno.EMFILE, 'h');
    expect([sys.code, sys.errno, sys.hostname]).toEqual(['EMFILE', errno.EMFILE, 'h']);
    expect(new IoError(errno.ECONNRESET, 'read').code).toBe('ECONNRESET');
  });

  test('runtime option blockingThreads is validated', () => {
    expect(() => new Runtime({ blockingThreads: 0 })).toThrow(RangeError);
    expect(() => new Runtime({ blockingThreads: 257 })).toThrow(RangeError);
    expect(() => new Runtime({ blockingThreads: 1.5 })).toThrow(TypeError);
    expect(() => new Runtime({ blockingThreads: '4' as unknown as number })).toThrow(TypeError);
  });
});

describe('connect and bind by name', () => {
  test('parseHostPort: numeric addresses stay numeric, names are left to resolve', () => {
    expect(parseHostPort('127.0.0.1:80')).toBeInstanceOf(SocketAddress);
    expect(parseHostPort('[::1]:80')).toBeInstanceOf(SocketAddress);
    expect(parseHostPort({ host: '::1', port: 1 })).toBeInstanceOf(SocketAddress);
    expect(parseHostPort('localhost:80')).toEqual({ name: 'localhost', port: 80 });
    expect(parseHostPort({ host: 'example.com', port: 443 })).toEqual({ name: 'example.com', port: 443 });
    expect(() => parseHostPort('localhost:99999')).toThrow(RangeError);
    expect(() => parseHostPort('bad host:1')).toThrow(TypeError);
    expect(() => parseHostPort('localhost')).toThrow(TypeError);
    expect(() => TcpStream.connect('a b:1')).toThrow(TypeError);
    expect(() => TcpListener.bind({ host: 'x/y', port: 1 })).toThrow(TypeError);
  });

  test.each(['blockOn', 'embedded'])("bind 'localhost:0' and connect to 'localhost:<port>' (%s)", async (driver) => {
    const body = function* (): Async<string[]> {
      const l = yield* TcpListener.bind('localhost:0');
      const port = l.localAddr().port;
      const acc = rt.spawn(l.accept());
      const c = yield* TcpStream.connect(`localhost:${port}`);
      const [s] = yield* acc;
      const out = [l.localAddr().host, c.peerAddr().toString()];
      c.close();
      s.close();
      l.close();
      return out;
    };
    const [host, peer] = driver === 'blockOn' ? rt.blockOn(body()) : await run(body());
    // The first address getaddrinfo gives for localhost is the one bound (127.0.0.1 here; ::1 where listed first).
    const first = (await dns.promises.lookup('localhost', { all: true, verbatim: true }))[0].address;
    expect(host).toBe(first);
    expect(peer.startsWith(host === '::1' ? '[::1]:' : `${host}:`)).toBe(true);
  });

  test('connect by name: an unknown name fails with the resolver’s error', () => {
    const err = rt.blockOn(catching(TcpStream.connect('no-such-host.invalid:80')));
    expect(err).toBeInstanceOf(IoError);
    expect(['ENOTFOUND', 'EAI_AGAIN']).toContain((err as IoError).code);
  });

  test('connectFirst: tries addresses in order, moves on after ECONNREFUSED, throws the last error', () => {
    const [ok, refused] = rt.blockOn(
      (function* (): Async<[string, unknown]> {
        // A port nobody listens on: bind one and close it.
        const gone = yield* TcpListener.bind('127.0.0.1:0');
        const deadPort = gone.localAddr().port;
        gone.close();
        const l = yield* TcpListener.bind('127.0.0.1:0');
        const acc = rt.spawn(l.accept());
        const dead = new SocketAddress('127.0.0.1', deadPort);
        const tried: string[] = [];
        const connect = (a: SocketAddress): Future<TcpStream> => {
          tried.push(a.toString());
          return TcpStream.connect(a);
        };
        const c = yield* connectFirst([dead, l.localAddr()], connect);
        const [s] = yield* acc;
        expect(tried).toEqual([dead.toString(), l.localAddr().toString()]);
        c.close();
        s.close();
        l.close();
        const err = yield* catching(connectFirst([dead, dead], (a) => TcpStream.connect(a)));
        return [c.isOpen ? 'open' : 'closed', err];
      })(),
    );
    expect(ok).toBe('closed');
    expect(refused).toBeInstanceOf(IoError);
    expect((refused as IoError).code).toBe('ECONNREFUSED');
  });
});
