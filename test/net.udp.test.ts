// UDP: UdpSocket in-process under both drivers, and against clients no one here wrote (a Python
// socket client, socat, nc -u).
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { IoError } from '../lib/errors';
import type { Async, IntoFuture } from '../lib/future';
import { UDP_BATCH, native } from '../lib/native';
import { Datagram, MAX_UDP_PAYLOAD_V4, SocketAddress, UdpSocket } from '../lib/net';
import { Runtime } from '../lib/runtime';
import { sleep, timeout } from '../lib/time';
import type { JoinHandle } from '../lib/task';
import { UdpEchoServer, type UdpEchoStats } from '../lib/udp-echo';
import { catching, eachRuntime } from './helpers';

let rt: Runtime;
eachRuntime((r) => (rt = r), { checkHandles: true });

type Driver = 'block' | 'embedded';
const DRIVERS: Driver[] = ['block', 'embedded'];

/** Run `gen` under the given driver. */
function run<T>(driver: Driver, gen: IntoFuture<T>): Promise<T> {
  return driver === 'block' ? Promise.resolve(rt.blockOn(gen)) : rt.spawn(gen).promise();
}

function has(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A child process's exit code and output. */
function child(cmd: string, args: string[], input?: string): { done: Promise<{ code: number | null; out: string; err: string }> } {
  const c = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  c.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  c.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  if (input !== undefined) c.stdin.end(input);
  return { done: new Promise((resolve) => c.on('close', (code) => resolve({ code, out, err }))) };
}

function expectIoError(err: unknown, code: string): void {
  expect(err).toBeInstanceOf(IoError);
  expect((err as IoError).code).toBe(code);
}

function ipv6Available(): boolean {
  const h = native.udpBind('::1', 0, 0);
  if (h < 0) return false;
  native.close(h);
  return true;
}

/** The datagram `i` of a ping-pong: its length and bytes depend on i. */
function payload(i: number, size: number): Uint8Array {
  const b = new Uint8Array(size);
  for (let k = 0; k < size; k++) b[k] = (i * 31 + k * 7) & 255;
  return b;
}

describe('UdpSocket', () => {
  test.each(DRIVERS)('bind, sendTo / recvFrom between two sockets, addresses as numbers (%s)', async (driver) => {
    const r = await run(
      driver,
      (function* (): Async<unknown[]> {
        const a = yield* UdpSocket.bind('127.0.0.1:0');
        const b = yield* UdpSocket.bind({ host: '127.0.0.1', port: 0 });
        expect(a.localAddr()).toBeInstanceOf(SocketAddress);
        const got = new Datagram();
        const buf = new Uint8Array(64);
        const reply = rt.spawn(
          (function* (): Async<void> {
            const d = yield* a.recvFrom(buf, got);
            yield* a.sendTo(buf, d, 0, d.bytes);
          })(),
        );
        yield* b.sendTo(Buffer.from('hello'), a.localAddr());
        const back = new Uint8Array(64);
        const d2 = yield* b.recvFrom(back);
        yield* reply;
        const out = [got.bytes, got.length, got.truncated, got.family, got.host, got.port === b.localAddr().port, got.address()!.toString() === b.localAddr().toString()];
        out.push(Buffer.from(back.subarray(0, d2.bytes)).toString(), d2.port === a.localAddr().port);
        a.close();
        b.close();
        return out;
      })(),
    );
    expect(r).toEqual([5, 5, false, 4, '127.0.0.1', true, true, 'hello', true]);
  });

  test('IPv6: bind [::1], sendTo / recvFrom, the sender as an IPv6 SocketAddress', () => {
    if (!ipv6Available()) {
      console.log('skipped: no IPv6 loopback in this sandbox (bind [::1] failed)');
      return;
    }
    const r = rt.blockOn(
      (function* (): Async<unknown[]> {
        const a = yield* UdpSocket.bind('[::1]:0');
        const b = yield* UdpSocket.bind('[::1]:0', { ipv6Only: true });
        yield* b.sendTo(Buffer.from('six'), `[::1]:${a.localAddr().port}`);
        const d = yield* a.recvFrom(new Uint8Array(16));
        const addr = d.address()!;
        const out = [d.family, d.host, addr.family, addr.port === b.localAddr().port, a.localAddr().family];
        a.close();
        b.close();
        return out;
      })(),
    );
    expect(r).toEqual([6, '::1', 'IPv6', true, 'IPv6']);
  });

  test('Datagram.setAddress and host round-trip IPv4 and IPv6 text', () => {
    for (const h of ['0.0.0.0', '10.1.2.3', '255.255.255.255', '::', '::1', 'fe80::1', '2001:db8::8:800:200c:417a', '2001:db8:0:1:1:1:1:1', '1::', '::ffff:1.2.3.4', '1:0:0:2::3']) {
      const d = new Datagram(h.includes(':') ? `[${h}]:9` : `${h}:9`);
      expect(d.host).toBe(h);
      expect(d.port).toBe(9);
    }
  });

  test('a 65,507-byte datagram over IPv4 arrives whole', () => {
    const r = rt.blockOn(
      (function* (): Async<boolean> {
        const a = yield* UdpSocket.bind('127.0.0.1:0');
        const b = yield* UdpSocket.bind('127.0.0.1:0');
        const big = payload(7, MAX_UDP_PAYLOAD_V4);
        expect(yield* b.sendTo(big, a.localAddr())).toBe(MAX_UDP_PAYLOAD_V4);
        const buf = new Uint8Array(65536);
        const d = yield* a.recvFrom(buf);
        expect([d.bytes, d.length, d.truncated]).toEqual([MAX_UDP_PAYLOAD_V4, MAX_UDP_PAYLOAD_V4, false]);
        // One byte more is not a UDP datagram over IPv4.
        expectIoError(yield* catching(b.sendTo(new Uint8Array(MAX_UDP_PAYLOAD_V4 + 1), a.localAddr())), 'EMSGSIZE');
        a.close();
        b.close();
        return Buffer.compare(buf.subarray(0, d.bytes), big) === 0;
      })(),
    );
    expect(r).toBe(true);
  });

  test('truncation is reported: Datagram.truncated with the full length; recv fails with EMSGSIZE; recvMany per datagram', () => {
    rt.blockOn(
      (function* (): Async<void> {
        const a = yield* UdpSocket.bind('127.0.0.1:0');
        const b = yield* UdpSocket.bind('127.0.0.1:0');
        yield* b.connect(a.localAddr());
        yield* a.connect(b.localAddr());
        yield* b.send(payload(1, 100));
        const small = new Uint8Array(10);
        const d = yield* a.recvFrom(small);
        expect([d.bytes, d.truncated]).toEqual([10, true]);
        if (process.platform === 'linux') expect(d.length).toBe(100);
        expect(Buffer.compare(small, payload(1, 100).subarray(0, 10))).toBe(0);

        yield* b.send(payload(2, 50));
        const e = yield* catching(a.recv(small));
        expectIoError(e, 'EMSGSIZE');
        expect((e as IoError).message).toMatch(/truncated/);

        // The socket goes on: a datagram that fits, then an empty one (0 bytes is a datagram, not an end).
        yield* b.send(payload(3, 10));
        expect(yield* a.recv(small)).toBe(10);
        yield* b.send(new Uint8Array(0));
        expect(yield* a.recv(small)).toBe(0);

        yield* b.send(payload(4, 5));
        yield* b.send(payload(5, 30));
        const bufs = [new Uint8Array(20), new Uint8Array(20)];
        const ds: Datagram[] = [];
        const n = yield* a.recvMany(bufs, ds);
        if (n === 1) {
          const rest: Datagram[] = [];
          yield* a.recvMany([bufs[1]], rest);
          ds[1] = rest[0];
        }
        expect([ds[0].bytes, ds[0].truncated, ds[1].bytes, ds[1].truncated]).toEqual([5, false, 20, true]);
        a.close();
        b.close();
      })(),
    );
  });

  test.each(DRIVERS)('ECONNREFUSED on a connected socket to a closed port surfaces at the next operation (%s)', async (driver) => {
    const r = await run(
      driver,
      (function* (): Async<string[]> {
        const gone = yield* UdpSocket.bind('127.0.0.1:0');
        const port = gone.localAddr().port;
        gone.close();
        const c = yield* UdpSocket.bind('127.0.0.1:0');
        yield* c.connect({ host: '127.0.0.1', port });
        expect(c.peerAddr().port).toBe(port);
        yield* c.send(Buffer.from('anyone?'));
        const e = yield* catching(timeout(c.recv(new Uint8Array(16)), 2000));
        // The socket stays usable: the error was used up; a receive now just waits.
        const after = yield* catching(timeout(c.recv(new Uint8Array(16)), 50));
        c.close();
        return [(e as IoError).code, (after as Error).name];
      })(),
    );
    expect(r).toEqual(['ECONNREFUSED', 'TimeoutError']);
  });

  test('edge-triggered: a burst of small datagrams is received to the last, one recvFrom each (no "short read = drained")', () => {
    const r = rt.blockOn(
      (function* (): Async<number> {
        const a = yield* UdpSocket.bind('127.0.0.1:0');
        const b = yield* UdpSocket.bind('127.0.0.1:0');
        for (let i = 0; i < 50; i++) yield* b.sendTo(payload(i, 3), a.localAddr());
        const buf = new Uint8Array(1500);
        let got = 0;
        for (let i = 0; i < 50; i++) {
          const d = yield* timeout(a.recvFrom(buf), 2000);
          if (d.bytes === 3 && buf[0] === payload(i, 3)[0]) got++;
        }
        a.close();
        b.close();
        return got;
      })(),
    );
    expect(r).toBe(50);
  });

  test('recvMany returns several datagrams in one call under load; sendMany sends a batch back', () => {
    const r = rt.blockOn(
      (function* (): Async<number[]> {
        const a = yield* UdpSocket.bind('127.0.0.1:0');
        const b = yield* UdpSocket.bind('127.0.0.1:0');
        const total = 1000;
        const bufs = Array.from({ length: UDP_BATCH }, () => new Uint8Array(256));
        const ds: Datagram[] = [];
        const back = Array.from({ length: UDP_BATCH }, () => new Uint8Array(256));
        const bds: Datagram[] = [];
        let received = 0;
        let echoed = 0;
        let maxBatch = 0;
        let calls = 0;
        // The sender runs ahead in bursts of 100; the receiver takes them in batches and echoes each batch with sendMany.
        for (let sent = 0; sent < total; ) {
          for (let k = 0; k < 100; k++, sent++) yield* b.sendTo(payload(sent, 1 + (sent % 200)), a.localAddr());
          while (received < sent) {
            const n = yield* timeout(a.recvMany(bufs, ds), 2000);
            calls++;
            maxBatch = Math.max(maxBatch, n);
            for (let i = 0; i < n; i++) {
              const want = payload(received + i, 1 + ((received + i) % 200));
              if (Buffer.compare(bufs[i].subarray(0, ds[i].bytes), want) !== 0) throw new Error(`datagram ${received + i} differs`);
            }
            for (let s = 0; s < n; ) s += yield* a.sendMany(bufs, ds, s, n);
            received += n;
            while (echoed < received) {
              const m = yield* timeout(b.recvMany(back, bds), 2000);
              for (let i = 0; i < m; i++) {
                const want = payload(echoed + i, 1 + ((echoed + i) % 200));
                if (Buffer.compare(back[i].subarray(0, bds[i].bytes), want) !== 0) throw new Error(`echo ${echoed + i} differs`);
              }
              echoed += m;
            }
          }
        }
        a.close();
        b.close();
        return [received, echoed, maxBatch, calls];
      })(),
    );
    expect(r[0]).toBe(1000);
    expect(r[1]).toBe(1000);
    expect(r[2]).toBeGreaterThan(1);
    expect(r[3]).toBeLessThan(1000);
  });

  test('connected send without datagrams: sendMany sends whole buffers to the peer', () => {
    const r = rt.blockOn(
      (function* (): Async<string[]> {
        const a = yield* UdpSocket.bind('127.0.0.1:0');
        const b = yield* UdpSocket.bind('127.0.0.1:0');
        yield* b.connect(a.localAddr());
        expect(yield* b.sendMany([Buffer.from('one'), Buffer.from('two'), Buffer.from('three')])).toBe(3);
        const bufs = [new Uint8Array(8), new Uint8Array(8), new Uint8Array(8)];
        const ds: Datagram[] = [];
        const out: string[] = [];
        while (out.length < 3) {
          const rest = bufs.slice(out.length);
          const n = yield* a.recvMany(rest, ds);
          for (let i = 0; i < n; i++) out.push(Buffer.from(rest[i].subarray(0, ds[i].bytes)).toString());
        }
        a.close();
        b.close();
        return out;
      })(),
    );
    expect(r).toEqual(['one', 'two', 'three']);
  });

  test('options: broadcast, TTL, multicast loop and TTL; bad values are TypeError / RangeError', () => {
    rt.blockOn(
      (function* (): Async<void> {
        const a = yield* UdpSocket.bind('127.0.0.1:0');
        a.setBroadcast(true);
        a.setTtl(64);
        a.setMulticastLoop(true);
        a.setMulticastTtl(0);
        expect(() => a.setTtl(0)).toThrow(RangeError);
        expect(() => a.setTtl(256)).toThrow(RangeError);
        expect(() => a.setTtl('1' as unknown as number)).toThrow(TypeError);
        expect(() => a.setBroadcast(1 as unknown as boolean)).toThrow(TypeError);
        expect(() => a.joinMulticast('not-an-ip')).toThrow(TypeError);
        a.close();
        expectIoError(catchSync(() => a.setTtl(1)), 'EBADF');
        if (ipv6Available()) {
          const b = yield* UdpSocket.bind('[::1]:0');
          b.setTtl(5);
          b.setMulticastTtl(3);
          b.setMulticastLoop(false);
          b.close();
        }
      })(),
    );
  });

  test('multicast on loopback, IPv4 and IPv6 (skipped with the reason where the sandbox has no route)', () => {
    const r = rt.blockOn(
      (function* (): Async<string[]> {
        const out: string[] = [];
        const cases: [string, string, string][] = [
          ['0.0.0.0', '239.255.42.99', '127.0.0.1'],
          ['::', 'ff02::4242', 'lo'],
        ];
        for (const [any, group, iface] of cases) {
          if (any === '::' && !ipv6Available()) {
            out.push(`${group}: skipped (no IPv6)`);
            continue;
          }
          const rx = yield* UdpSocket.bind({ host: any, port: 0 }, { reuseAddress: true });
          const port = rx.localAddr().port;
          let reason = '';
          try {
            rx.joinMulticast(group, iface);
          } catch (e) {
            reason = `join: ${(e as Error).message}`;
          }
          const tx = yield* UdpSocket.bind(any === '::' ? '[::1]:0' : '127.0.0.1:0');
          tx.setMulticastLoop(true);
          tx.setMulticastTtl(1);
          if (reason === '') {
            const e = yield* catching(tx.sendTo(Buffer.from('multi'), any === '::' ? `[${group}]:${port}` : `${group}:${port}`));
            if (e !== undefined) reason = `send: ${(e as Error).message}`;
          }
          if (reason === '') {
            const d = yield* catching(timeout(rx.recvFrom(new Uint8Array(16)), 500));
            if (d instanceof Error) reason = `nothing arrived in 500 ms (${d.message})`;
            else out.push(`${group}: received`);
          }
          if (reason === '') rx.leaveMulticast(group, iface);
          else {
            console.log(`multicast ${group} skipped: ${reason}`);
            out.push(`${group}: skipped`);
          }
          rx.close();
          tx.close();
        }
        return out;
      })(),
    );
    expect(r).toHaveLength(2);
  });

  test('bad arguments: TypeError / RangeError from the API and from the addon', () => {
    expect(() => UdpSocket.bind('nonsense')).toThrow(TypeError);
    expect(() => UdpSocket.bind('127.0.0.1:70000')).toThrow(RangeError);
    expect(() => UdpSocket.bind('127.0.0.1:0', { backlog: 1 } as never)).toThrow(TypeError);
    expect(() => UdpSocket.bind('127.0.0.1:0', { reusePort: 'yes' } as never)).toThrow(TypeError);
    rt.blockOn(
      (function* (): Async<void> {
        const a = yield* UdpSocket.bind('127.0.0.1:0');
        const buf = new Uint8Array(8);
        expect(() => a.recv('x' as unknown as Uint8Array)).toThrow(TypeError);
        expect(() => a.recvFrom(buf, {} as Datagram)).toThrow(TypeError);
        expect(() => a.recvFrom(buf, undefined, 9)).toThrow(RangeError);
        expect(() => a.sendTo(buf, 'localhost:9')).toThrow(TypeError);
        expect(() => a.sendTo(buf, new Datagram())).toThrow(TypeError);
        expect(() => a.recvMany([], [])).toThrow(RangeError);
        expect(() => a.recvMany([buf], 'x' as unknown as Datagram[])).toThrow(TypeError);
        expect(() => a.sendMany([buf], [new Datagram()], 0, 2)).toThrow(RangeError);
        const big = new Datagram('127.0.0.1:9');
        big.bytes = 9;
        expect(() => a.sendMany([buf], [big])).toThrow(RangeError);
        // The addon's own checks (its errors are of the main realm: compared by name).
        const h = a.handle;
        expect(nameOf(() => native.udpRecvFrom(h, 'x' as unknown as Uint8Array, 0, 1))).toBe('TypeError');
        expect(nameOf(() => native.udpRecvFrom(h, buf, 0, 9))).toBe('RangeError');
        expect(nameOf(() => native.udpRecvMany(h, [buf], 0))).toBe('RangeError');
        expect(nameOf(() => native.udpRecvMany(h, [buf], UDP_BATCH + 1))).toBe('RangeError');
        expect(nameOf(() => native.udpRecvMany(h, [buf], 2))).toBe('RangeError');
        expect(nameOf(() => native.udpRecvMany(h, 'x' as unknown as Uint8Array[], 1))).toBe('TypeError');
        expect(nameOf(() => native.udpRecvMany(h, [buf, 'x' as unknown as Uint8Array], 2))).toBe('TypeError');
        expect(nameOf(() => native.udpSendMany(h, [buf], 1, 1))).toBe('RangeError');
        expect(nameOf(() => native.udpSetOption(h, 9, 1))).toBe('RangeError');
        expect(nameOf(() => native.udpSetOption(h, 0, 256))).toBe('RangeError');
        expect(nameOf(() => native.udpBind('127.0.0.1', 0, 99))).toBe('RangeError');
        expect(nameOf(() => native.udpMembership(h, 1 as unknown as boolean, '239.1.1.1', ''))).toBe('TypeError');
        expect(native.udpBind('localhost', 0, 0)).toBe(-22); // a name is -EINVAL: names are resolved in JS
        a.close();
        expect(native.udpRecvFrom(h, buf, 0, 8)).toBe(-9); // EBADF for a closed handle
        expect(native.udpRecvMany(h, [buf], 1)).toBe(-9);
      })(),
    );
  });

  test('a getter in the buffer array that closes the handle: the addon looks the handle up after reading the array', () => {
    const h = native.udpBind('127.0.0.1', 0, 0);
    expect(h).toBeGreaterThan(0);
    const buf = new Uint8Array(8);
    const arr: Uint8Array[] = [buf, buf];
    Object.defineProperty(arr, 1, {
      get() {
        native.close(h);
        return buf;
      },
    });
    expect(native.udpRecvMany(h, arr, 2)).toBe(-9);
  });

  test('the bound path: a buffer used twice is bound; detached later, the next recvFrom is a TypeError, nothing is written into it', () => {
    rt.blockOn(
      (function* (): Async<void> {
        const a = yield* UdpSocket.bind('127.0.0.1:0');
        const b = yield* UdpSocket.bind('127.0.0.1:0');
        const ab = new ArrayBuffer(64);
        const buf = new Uint8Array(ab);
        const d = new Datagram();
        for (let i = 0; i < 3; i++) {
          yield* b.sendTo(payload(i, 10 + i), a.localAddr());
          yield* a.recvFrom(buf, d); // the second and third use the bound path
          expect([d.bytes, Buffer.compare(buf.subarray(0, d.bytes), payload(i, 10 + i))]).toEqual([10 + i, 0]);
        }
        yield* b.sendTo(payload(9, 5), a.localAddr());
        const f = a.recvFrom(buf, d);
        structuredClone(ab, { transfer: [ab] }); // detach it between the call and its poll
        const e = yield* catching(f);
        expect((e as Error).name).toBe('TypeError');
        // The datagram is still queued: a fresh buffer gets it.
        const fresh = new Uint8Array(64);
        const g = yield* a.recvFrom(fresh, d);
        expect(Buffer.compare(fresh.subarray(0, g.bytes), payload(9, 5))).toBe(0);
        a.close();
        b.close();
      })(),
    );
  });

  test('no fd leak after 10,000 bind / close cycles', () => {
    const fds = (): number => (fs.existsSync('/proc/self/fd') ? fs.readdirSync('/proc/self/fd').length : 0);
    const before = fds();
    const handles = native.handleCount();
    rt.blockOn(
      (function* (): Async<void> {
        for (let i = 0; i < 10000; i++) {
          const s = yield* UdpSocket.bind('127.0.0.1:0');
          s.close();
        }
      })(),
    );
    expect(native.handleCount()).toBe(handles);
    expect(fds()).toBe(before);
  });
});

/** The name of the error `f` throws ('' if none). */
function nameOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return (e as Error).name;
  }
  return '';
}

function catchSync(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

// ---- against foreign clients ---------------------------------------------------------------------

/** A Python UDP client: `count` ping-pongs of varying sizes, every byte checked; prints "ok <count>". */
const PY_PINGPONG = `
import socket, sys
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fam = socket.AF_INET6 if ':' in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.settimeout(5)
s.connect((host, port))
for i in range(count):
    size = 1 + (i * 37) % 1200
    p = bytes(((i * 31 + k * 7) & 255) for k in range(size)) if size < 64 else (bytes([(i * 31) & 255]) + bytes(range(256)) * 5)[:size]
    for attempt in range(5):
        s.send(p)
        try:
            r = s.recv(2048)
            break
        except socket.timeout:
            continue
    else:
        print('timeout at', i); sys.exit(2)
    if r != p:
        print('mismatch at', i, len(r), len(p)); sys.exit(1)
print('ok', count)
`;

/** A Python UDP echo server on an OS-chosen port: prints the port, echoes until it gets b'quit'. */
const PY_ECHO = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', 0))
print(s.getsockname()[1], flush=True)
while True:
    d, a = s.recvfrom(65536)
    if d == b'quit': break
    s.sendto(d, a)
`;

describe('UDP against foreign clients', () => {
  const python = has('python3');
  const socat = has('socat');
  const nc = has('nc');

  test.each(DRIVERS)('100,000 datagrams ping-pong with a Python client, every byte verified (UdpEchoServer, %s)', async (driver) => {
    if (!python) return console.log('skipped: no python3');
    const server = await run(driver, UdpEchoServer.bind('127.0.0.1:0'));
    const port = server.localAddr().port;
    const client = child('python3', ['-c', PY_PINGPONG, '127.0.0.1', String(port), '100000']);
    let res: { code: number | null; out: string; err: string };
    if (driver === 'embedded') {
      const task = rt.spawn(server);
      res = await client.done;
      server.stop();
      const stats = await task.promise();
      expect(stats.datagrams).toBeGreaterThanOrEqual(100000);
    } else {
      // blockOn owns the thread: serve until the client has had all its answers, in slices.
      const task = rt.blockOn((function* (): Async<JoinHandle<UdpEchoStats>> {
        return rt.spawn(server);
      })());
      let finished: typeof res | null = null;
      void client.done.then((r) => (finished = r));
      while (finished === null) {
        rt.blockOn(sleep(50));
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      res = finished;
      server.stop();
      rt.blockOn(task);
    }
    expect(res.err).toBe('');
    expect(res.out.trim()).toBe('ok 100000');
    expect(res.code).toBe(0);
  }, 120000);

  test('polled as the client of a Python echo server: 10,000 datagrams, every byte verified', async () => {
    if (!python) return console.log('skipped: no python3');
    const py = spawn('python3', ['-c', PY_ECHO], { stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise<number>((resolve) => py.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
    const exited = new Promise<number | null>((resolve) => py.on('close', resolve));
    const ok = await rt.spawn(
      (function* (): Async<number> {
        const s = yield* UdpSocket.bind('127.0.0.1:0');
        yield* s.connect({ host: '127.0.0.1', port });
        const back = new Uint8Array(2048);
        let ok = 0;
        for (let i = 0; i < 10000; i++) {
          const p = payload(i, 1 + (i % 1400));
          for (let attempt = 0; attempt < 5; attempt++) {
            yield* s.send(p);
            let n: number;
            try {
              n = yield* timeout(s.recv(back), 2000);
            } catch {
              continue; // lost on loopback (a full receive buffer): send it again
            }
            if (n === p.length && Buffer.compare(back.subarray(0, n), p) === 0) ok++;
            break;
          }
        }
        yield* s.send(Buffer.from('quit'));
        s.close();
        return ok;
      })(),
    ).promise();
    expect(ok).toBe(10000);
    expect(await exited).toBe(0);
  }, 60000);

  test('socat and nc -u as clients of UdpEchoServer', async () => {
    if (!socat && !nc) return console.log('skipped: neither socat nor nc');
    const server = await run('embedded', UdpEchoServer.bind('127.0.0.1:0'));
    const port = server.localAddr().port;
    const task = rt.spawn(server);
    if (socat) {
      const r = await child('socat', ['-t', '1', '-', `UDP4:127.0.0.1:${port}`], 'hello from socat\n').done;
      expect(r.out).toBe('hello from socat\n');
    } else console.log('socat part skipped: no socat');
    if (nc) {
      const r = await child('nc', ['-u', '-w', '1', '127.0.0.1', String(port)], 'hello from nc\n').done;
      expect(r.out).toBe('hello from nc\n');
    } else console.log('nc part skipped: no nc');
    server.stop();
    const stats = await task.promise();
    expect(stats.datagrams).toBe((socat ? 1 : 0) + (nc ? 1 : 0));
  }, 30000);

  test('socat sends datagrams to a polled receiver; recvFrom reports socat as the sender', async () => {
    if (!socat) return console.log('skipped: no socat');
    const got = await rt.spawn(
      (function* (): Async<string[]> {
        const s = yield* UdpSocket.bind('127.0.0.1:0');
        const c = child('socat', ['-u', '-', `UDP4-SENDTO:127.0.0.1:${s.localAddr().port}`], 'datagram one');
        const buf = new Uint8Array(100);
        const d = yield* timeout(s.recvFrom(buf), 5000);
        s.close();
        yield* sleep(0);
        void c;
        return [Buffer.from(buf.subarray(0, d.bytes)).toString(), d.host];
      })(),
    ).promise();
    expect(got).toEqual(['datagram one', '127.0.0.1']);
  }, 30000);

  test('batched UdpEchoServer (batch 32) against a Python client: 20,000 ping-pongs verified', async () => {
    if (!python) return console.log('skipped: no python3');
    const server = await run('embedded', UdpEchoServer.bind('127.0.0.1:0', { batch: 32, bufferSize: 2048 }));
    const task = rt.spawn(server);
    const r = await child('python3', ['-c', PY_PINGPONG, '127.0.0.1', String(server.localAddr().port), '20000']).done;
    server.stop();
    const stats = await task.promise();
    expect(r.out.trim()).toBe('ok 20000');
    expect(stats.datagrams).toBeGreaterThanOrEqual(20000);
    expect(stats.batches).toBeGreaterThan(0);
  }, 60000);
});
