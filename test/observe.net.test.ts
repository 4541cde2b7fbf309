// The task dump and the metrics on a full Runtime: every socket leaf (TCP, Unix, UDP), pool jobs,
// thread channels and signals name themselves, and the reactor's batches and wakes are counted.
import * as os from 'node:os';
import * as path from 'node:path';
import { echo } from '../lib/echo';
import type { Async } from '../lib/future';
import { native } from '../lib/native';
import { lookupHost, TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream, Datagram } from '../lib/net';
import type { TaskInfo } from '../lib/observe';
import { Runtime } from '../lib/runtime';
import { signal } from '../lib/signal';
import { threadChannel } from '../lib/thread-channel';
import { sleep, yieldNow } from '../lib/time';
import type { JoinHandle } from '../lib/task';

let rt: Runtime;
beforeEach(() => {
  rt = new Runtime({ metrics: true });
});
afterEach(() => rt.close());

test('the dump names every socket, pool, thread-channel and signal leaf a task waits on', async () => {
  const sock = path.join(os.tmpdir(), `polled-observe-${process.pid}.sock`);
  let infos: TaskInfo[] = [];
  const fds: Record<string, number> = {};
  let ports: Record<string, number> = {};
  await rt
    .spawn(
      (function* (): Async<void> {
        const handles: JoinHandle<unknown>[] = [];
        const l = yield* TcpListener.bind({ host: '127.0.0.1', port: 0 });
        const acc = rt.spawn(l.accept());
        const c = yield* TcpStream.connect(l.localAddr());
        const [s] = yield* acc;
        // The client's send buffer, filled: its next write waits for WRITABLE.
        const big = new Uint8Array(1 << 20);
        while (c.tryWrite(big) > 0);
        const full = yield* TcpListener.bind({ host: '127.0.0.1', port: 0 }, { backlog: 0 });
        const ul = yield* UnixListener.bind(sock);
        const uacc = rt.spawn(ul.accept());
        const uc = yield* UnixStream.connect(sock);
        const [us] = yield* uacc;
        const udp = yield* UdpSocket.bind({ host: '127.0.0.1', port: 0 });
        const udp2 = yield* UdpSocket.bind({ host: '127.0.0.1', port: 0 });
        const [, trx] = threadChannel<number>(4);
        fds.client = native.fdOf(c.handle);
        fds.unixClient = native.fdOf(uc.handle);
        fds.listener = native.fdOf(l.handle);
        fds.unix = native.fdOf(us.handle);
        fds.udp = native.fdOf(udp.handle);
        ports = { listener: l.localAddr().port, client: c.localAddr().port, full: full.localAddr().port, udp: udp.localAddr().port, udp2: udp2.localAddr().port };
        const named: Array<[string, () => Async<unknown>]> = [
          ['read', function* () { yield* c.read(new Uint8Array(16)); }], // the server sends nothing
          ['write', function* () { yield* c.write(big); }],
          ['accept', function* () { yield* l.accept(); }],
          ['unix-read', function* () { yield* us.read(new Uint8Array(16)); }],
          ['recvfrom', function* () { yield* udp.recvFrom(new Uint8Array(64)); }],
          ['recvmany', function* () { yield* udp2.recvMany([new Uint8Array(64), new Uint8Array(64)], [new Datagram(), new Datagram()]); }],
          ['thread-recv', function* () { yield* trx.recv(); }],
          ['lookup', function* () { yield* lookupHost('localhost'); }],
          ['signal', function* () { yield* signal('SIGUSR2'); }],
          ['readExact', function* () { yield* us.readExact(new Uint8Array(8)); }],
          ['writeAll', function* () { yield* c.writeAll(big); }],
        ];
        // A hand-written future as the task's own (the echo loop): asked directly.
        handles.push(rt.spawn(echo(uc, new Uint8Array(64)), 'echo')); // its peer sends nothing
        for (const [name, f] of named) handles.push(rt.spawn(f(), name));
        // Connects beyond a backlog of 0: the kernel drops their SYNs, so some stay in progress.
        for (let i = 0; i < 4; i++) handles.push(rt.spawn(TcpStream.connect(full.localAddr()), `connect${i}`));
        yield* yieldNow();
        infos = rt.dumpTasks({ format: 'json' });
        for (const h of handles) h.abort();
        yield* sleep(1);
        for (const x of [c, s, l, full, ul, uc, us, udp, udp2]) x.close();
        trx.close();
      })(),
    )
    .promise();
  const by = new Map(infos.map((t) => [t.name, t.waitingOn?.join(' & ')]));
  const lp = ports.listener;
  expect(by.get('read')).toBe(`TcpStream.read fd ${fds.client} 127.0.0.1:${ports.client} ← 127.0.0.1:${lp}`);
  expect(by.get('write')).toBe(`TcpStream.write fd ${fds.client} 127.0.0.1:${ports.client} ← 127.0.0.1:${lp}, ${1 << 20} bytes (send buffer full)`);
  expect(by.get('accept')).toBe(`TcpListener.accept fd ${fds.listener} 127.0.0.1:${lp}`);
  expect(by.get('unix-read')).toBe(`UnixStream.read fd ${fds.unix} ${sock} ← (unnamed)`);
  expect(by.get('recvfrom')).toBe(`UdpSocket.recvfrom fd ${fds.udp} 127.0.0.1:${ports.udp}`);
  expect(by.get('recvmany')).toMatch(new RegExp(`^UdpSocket\\.recvmmsg fd \\d+ 127\\.0\\.0\\.1:${ports.udp2}, 2 datagrams$`));
  expect(by.get('thread-recv')).toBe('threadChannel.recv, 0 queued');
  expect(by.get('lookup')).toMatch(/^lookupHost localhost, job \d+ on the blocking pool$/);
  expect(by.get('signal')).toBe('signal SIGUSR2');
  expect(by.get('readExact')).toBe(`UnixStream.readExact fd ${fds.unix} ${sock} ← (unnamed), 0 of 8 bytes`);
  expect(by.get('writeAll')).toBe(`TcpStream.writeAll fd ${fds.client} 127.0.0.1:${ports.client} ← 127.0.0.1:${lp}, 0 of ${1 << 20} bytes (send buffer full)`);
  expect(by.get('echo')).toMatch(new RegExp(`^echo, UnixStream\\.read fd ${fds.unixClient} .*, 0 bytes echoed$`));
  const connecting = [0, 1, 2, 3].map((i) => by.get(`connect${i}`)).filter((w) => w !== undefined && w.startsWith('connect '));
  expect(connecting.length).toBeGreaterThan(0);
  for (const w of connecting) expect(w).toMatch(new RegExp(`^connect fd \\d+ to 127\\.0\\.0\\.1:${ports.full}$`));
});

test('reactor wakes, batches and registrations are counted', async () => {
  await rt
    .spawn(
      (function* (): Async<void> {
        const l = yield* TcpListener.bind({ host: '127.0.0.1', port: 0 });
        const acc = rt.spawn(l.accept());
        const c = yield* TcpStream.connect(l.localAddr());
        const [s] = yield* acc;
        const reader = rt.spawn(s.read(new Uint8Array(8)), 'reader');
        yield* sleep(5); // the reader parks on READABLE
        yield* c.write(new Uint8Array([1, 2, 3]));
        expect(yield* reader).toBe(3);
        for (const x of [c, s, l]) x.close();
      })(),
    )
    .promise();
  const m = rt.metrics();
  expect(m.reactor.registered).toBe(3);
  expect(m.reactor.registrations).toBe(0);
  expect(m.wakes.reactor).toBeGreaterThanOrEqual(2); // the accept, the read
  expect(m.reactor.batches).toBeGreaterThanOrEqual(1);
  expect(m.reactor.events).toBeGreaterThanOrEqual(m.reactor.batches);
  expect(m.reactor.eventsPerBatch.counts.reduce((a, b) => a + b, 0)).toBe(m.reactor.batches);
  expect(m.tasks.completed).toBe(3);
});
