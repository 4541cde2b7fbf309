/**
 * The addon on its own: poller, handles, sockets, byte I/O and the uv driver, through the
 * NativeBinding surface of lib/native.ts. Timing assertions are "never early" only: the machine
 * may be loaded, so nothing here asserts that something happened quickly.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

import {
  ERROR,
  HANGUP,
  NOTIFY_TOKEN,
  READABLE,
  SHUT_WR,
  TIMER_TOKEN,
  WRITABLE,
  native,
  type Handle,
} from '../lib/native';

const E = os.constants.errno as Readonly<Record<string, number>>;
const SLOT = 2 ** 22;
const ROOT = path.resolve(__dirname, '..');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const ADDON: string = require('node-gyp-build').path(ROOT);
// The kqueue backend built on Linux against libkqueue (npm run build:kqueue).
const LIBKQUEUE = native.backend === 'kqueue' && process.platform === 'linux';
// libkqueue's kqueue fd cannot be watched by libuv: driverStart is -ENOTSUP there.
const driverIt = LIBKQUEUE ? it.skip : it;

// ---- helpers ---------------------------------------------------------------------------------

const opened: Handle[] = [];
function track(h: number): Handle {
  expect(h).toBeGreaterThanOrEqual(0);
  opened.push(h);
  return h;
}
afterEach(() => {
  for (const h of opened.splice(0)) native.close(h); // -EBADF for those a test closed itself
});

class TestPoller {
  readonly handle: Handle;
  readonly events: Uint32Array;
  constructor(capacity = 64) {
    this.handle = track(native.pollerCreate());
    const events = native.pollerEvents(this.handle, capacity);
    if (typeof events === 'number') throw new Error(`pollerEvents: ${events}`);
    this.events = events;
  }
  /** One pollerWait: token → OR of its bits. */
  wait(timeoutMs: number): Map<number, number> {
    const n = native.pollerWait(this.handle, timeoutMs);
    expect(n).toBeGreaterThanOrEqual(0);
    const got = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const token = this.events[2 * i];
      got.set(token, (got.get(token) ?? 0) | this.events[2 * i + 1]);
    }
    return got;
  }
  /** Waits (blockOn style) until `token` is reported; its bits. Fails after `ms`. */
  waitFor(token: number, ms = 10_000): number {
    const deadline = Date.now() + ms;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`token ${token} not reported within ${ms} ms`);
      const bits = this.wait(left).get(token);
      if (bits !== undefined) return bits;
    }
  }
  add(h: Handle, token: number, interest: number): void {
    expect(native.pollerAdd(this.handle, h, token, interest)).toBe(0);
  }
}

function pipe(): [Handle, Handle] {
  const ends = native.pipe();
  if (typeof ends === 'number') throw new Error(`pipe: ${ends}`);
  return [track(ends[0]), track(ends[1])];
}

/** A connect's [handle, inProgress], tracked; fails the test on -errno. */
function connected(r: [Handle, boolean] | number): [Handle, boolean] {
  if (typeof r === 'number') throw new Error(`connect: ${r}`);
  expect(typeof r[1]).toBe('boolean');
  track(r[0]);
  return r;
}

function elapsedMs(since: bigint): number {
  return Number(process.hrtime.bigint() - since) / 1e6;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function fdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** The fd count once it stops moving: libkqueue frees a closed kqueue's fds from a thread. */
async function settledFdCount(): Promise<number> {
  let last = fdCount();
  for (let i = 0; i < 40; i++) {
    await sleep(50);
    const now = fdCount();
    if (now === last) return now;
    last = now;
  }
  return last;
}

/** A connected TCP pair over 127.0.0.1: [client, server side, listener]. */
function tcpPair(p: TestPoller): [Handle, Handle, Handle] {
  const l = track(native.tcpListen('127.0.0.1', 0, 16, 1));
  const port = (native.localAddr(l) as [string, number, number])[1];
  const [c, inProgress] = connected(native.tcpConnect('127.0.0.1', port));
  p.add(l, 1, READABLE);
  p.waitFor(1);
  const s = track(native.accept(l));
  if (inProgress) {
    p.add(c, 2, WRITABLE);
    p.waitFor(2);
    expect(native.pollerDelete(p.handle, c)).toBe(0);
  }
  expect(native.socketError(c)).toBe(0);
  return [c, s, l];
}

/**
 * What `call` throws. Jest runs tests in a vm realm of their own while the addon's errors come
 * from the main realm, so `toThrow(TypeError)` (instanceof) cannot be used: compare names.
 */
function thrown(call: () => unknown): Error & { code?: string } {
  try {
    call();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

/** A script run by a child `node`, with `addon` bound to this build. */
function runChild(body: string, timeout = 30_000) {
  const script = `const addon = require(${JSON.stringify(ADDON)});\n${body}`;
  return spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout });
}

// ---- poller ----------------------------------------------------------------------------------

describe('poller (blockOn style)', () => {
  it('reports a pipe as readable under its token once per write edge', () => {
    const p = new TestPoller();
    const [r, w] = pipe();
    p.add(r, 7, READABLE);
    expect(p.wait(0).size).toBe(0);

    expect(native.write(w, Buffer.from('a'), 0, 1)).toBe(1);
    expect(p.wait(0).get(7)! & READABLE).toBe(READABLE);
    // Edge-triggered: unread data is not reported again...
    expect(p.wait(0).size).toBe(0);
    // ...until the next write makes a new edge.
    expect(native.write(w, Buffer.from('b'), 0, 1)).toBe(1);
    expect(p.wait(0).get(7)! & READABLE).toBe(READABLE);
  });

  it('reports a pipe write end as writable', () => {
    const p = new TestPoller();
    const [, w] = pipe();
    p.add(w, 9, WRITABLE);
    expect(p.wait(0).get(9)! & WRITABLE).toBe(WRITABLE);
  });

  it('reports HANGUP on the read end when the write end closes', () => {
    const p = new TestPoller();
    const [r, w] = pipe();
    p.add(r, 3, READABLE);
    expect(native.close(w)).toBe(0);
    expect(p.waitFor(3) & HANGUP).toBe(HANGUP);
  });

  it('reports ERROR or HANGUP on the write end when the read end closes', () => {
    const p = new TestPoller();
    const [r, w] = pipe();
    p.add(w, 4, WRITABLE);
    p.wait(0);
    expect(native.close(r)).toBe(0);
    expect(p.waitFor(4) & (ERROR | HANGUP)).not.toBe(0);
  });

  it('moves a registration with pollerModify and ends it with pollerDelete', () => {
    const p = new TestPoller();
    const [r, w] = pipe();
    p.add(r, 1, READABLE);
    expect(native.pollerAdd(p.handle, r, 1, READABLE)).toBe(-E.EEXIST);
    expect(native.pollerModify(p.handle, r, 2, READABLE)).toBe(0);
    native.write(w, Buffer.from('x'), 0, 1);
    expect([...p.wait(0).keys()]).toEqual([2]);

    expect(native.pollerDelete(p.handle, r)).toBe(0);
    expect(native.pollerDelete(p.handle, r)).toBe(-E.ENOENT);
    expect(native.pollerModify(p.handle, r, 2, READABLE)).toBe(-E.ENOENT);
    native.write(w, Buffer.from('y'), 0, 1);
    expect(p.wait(0).size).toBe(0);
  });

  it('reports pollerNotify once as NOTIFY_TOKEN, however many notifies came first', () => {
    const p = new TestPoller();
    expect(native.pollerNotify(p.handle)).toBe(0);
    expect(native.pollerNotify(p.handle)).toBe(0);
    expect(p.wait(0).has(NOTIFY_TOKEN)).toBe(true);
    expect(p.wait(0).size).toBe(0);
  });

  it('wakes a blocking pollerWait(-1) from another thread', () => {
    const p = new TestPoller();
    const t0 = process.hrtime.bigint();
    expect(native.pollerNotifyFromThread(p.handle, 50)).toBe(0);
    expect(p.wait(-1).has(NOTIFY_TOKEN)).toBe(true);
    expect(elapsedMs(t0)).toBeGreaterThanOrEqual(50);
  });

  it('fires the timer no earlier than its delay', () => {
    const p = new TestPoller();
    const t0 = process.hrtime.bigint();
    expect(native.pollerTimerArm(p.handle, 30.5)).toBe(0);
    p.waitFor(TIMER_TOKEN);
    expect(elapsedMs(t0)).toBeGreaterThanOrEqual(30.5);
    expect(p.wait(0).size).toBe(0); // one-shot
  });

  it('does not fire a disarmed timer, and a re-arm replaces the earlier deadline', () => {
    const p = new TestPoller();
    expect(native.pollerTimerArm(p.handle, 20)).toBe(0);
    expect(native.pollerTimerDisarm(p.handle)).toBe(0);
    expect(p.wait(100).has(TIMER_TOKEN)).toBe(false);

    const t0 = process.hrtime.bigint();
    expect(native.pollerTimerArm(p.handle, 30_000)).toBe(0);
    expect(native.pollerTimerArm(p.handle, 10)).toBe(0);
    p.waitFor(TIMER_TOKEN, 20_000);
    const ms = elapsedMs(t0);
    expect(ms).toBeGreaterThanOrEqual(10);
    expect(ms).toBeLessThan(20_000);
  });

  it('rounds a fractional wait up, so that it never returns early', () => {
    const p = new TestPoller();
    const t0 = process.hrtime.bigint();
    expect(p.wait(10.3).size).toBe(0);
    expect(elapsedMs(t0)).toBeGreaterThanOrEqual(10.3);
  });

  it('refuses to wait without an event array, and poller calls on a non-poller', () => {
    const p = track(native.pollerCreate());
    expect(native.pollerWait(p, 0)).toBe(-E.EINVAL);
    const [r] = pipe();
    expect(native.pollerWait(r, 0)).toBe(-E.EINVAL);
    expect(native.pollerNotify(r)).toBe(-E.EINVAL);
    expect(native.pollerAdd(r, p, 1, READABLE)).toBe(-E.EINVAL);
  });

  it('returns at most a batch per wait and keeps the rest queued', () => {
    const p = new TestPoller(2);
    const ends = [pipe(), pipe(), pipe()];
    ends.forEach(([r, w], i) => {
      p.add(r, 10 + i, READABLE);
      native.write(w, Buffer.from('x'), 0, 1);
    });
    const first = p.wait(0);
    const second = p.wait(0);
    expect(first.size).toBe(2);
    expect(new Set([...first.keys(), ...second.keys()])).toEqual(new Set([10, 11, 12]));
  });
});

// ---- handles and byte I/O --------------------------------------------------------------------

describe('handles and byte I/O', () => {
  it('reads the bytes, then -EAGAIN once drained, then 0 at end of stream', () => {
    const [r, w] = pipe();
    expect(native.write(w, Buffer.from('hello'), 0, 5)).toBe(5);
    const buf = Buffer.alloc(16);
    expect(native.read(r, buf, 0, 16)).toBe(5);
    expect(buf.toString('utf8', 0, 5)).toBe('hello');
    expect(native.read(r, buf, 0, 16)).toBe(-E.EAGAIN);
    native.close(w);
    expect(native.read(r, buf, 0, 16)).toBe(0);
  });

  it('reads and writes at an offset inside a Buffer slice or a plain Uint8Array', () => {
    const [r, w] = pipe();
    const src = new Uint8Array([0, 0, 1, 2, 3, 0]);
    expect(native.write(w, src, 2, 3)).toBe(3);
    const backing = Buffer.alloc(12, 0xff);
    const slice = backing.subarray(4, 10);
    expect(native.read(r, slice, 1, 5)).toBe(3);
    expect([...backing]).toEqual([255, 255, 255, 255, 255, 1, 2, 3, 255, 255, 255, 255]);
  });

  it('writes whole buffers in order with writev', () => {
    const [r, w] = pipe();
    expect(native.writev(w, [Buffer.from('ab'), new Uint8Array([99]), Buffer.alloc(0)])).toBe(3);
    const buf = Buffer.alloc(8);
    expect(native.read(r, buf, 0, 8)).toBe(3);
    expect(buf.toString('utf8', 0, 3)).toBe('abc');
  });

  it('gives a stale handle EBADF even after its slot is reused, and the new handle works', () => {
    const p = new TestPoller();
    const [r, w] = pipe();
    expect(native.close(r)).toBe(0);
    const [r2, w2] = pipe();
    expect(r2 % SLOT).toBe(r % SLOT); // same slot, new generation
    expect(r2).not.toBe(r);

    const buf = Buffer.alloc(4);
    expect(native.read(r, buf, 0, 4)).toBe(-E.EBADF);
    expect(native.write(r, buf, 0, 4)).toBe(-E.EBADF);
    expect(native.writev(r, [buf])).toBe(-E.EBADF);
    expect(native.pollerAdd(p.handle, r, 1, READABLE)).toBe(-E.EBADF);
    expect(native.fdOf(r)).toBe(-E.EBADF);
    expect(native.close(r)).toBe(-E.EBADF);
    for (const bogus of [r + 0.5, -1, 2 ** 60, NaN, 0]) expect(native.close(bogus)).toBe(-E.EBADF);

    p.add(r2, 5, READABLE);
    expect(native.write(w2, Buffer.from('ok'), 0, 2)).toBe(2);
    expect(p.waitFor(5) & READABLE).toBe(READABLE);
    expect(native.read(r2, buf, 0, 4)).toBe(2);
    expect(native.fdOf(r2)).toBeGreaterThanOrEqual(0);
    expect(native.write(w, Buffer.from('x'), 0, 1)).toBe(-E.EPIPE); // w's reader is gone
  });

  it('returns handleCount and the fd count to where they started after closing everything', async () => {
    const handles0 = native.handleCount();
    const fds0 = process.platform === 'linux' ? await settledFdCount() : 0;
    const p = new TestPoller();
    const [r, w] = pipe();
    p.add(r, 1, READABLE);
    const [c] = tcpPair(p);
    p.add(c, 2, READABLE | WRITABLE);
    native.pollerNotifyFromThread(p.handle, 60_000); // a thread the close must cut short
    expect(native.handleCount()).toBe(handles0 + 6);
    expect(native.fdOf(r)).toBeGreaterThanOrEqual(0);
    expect(native.fdOf(w)).toBeGreaterThanOrEqual(0);

    for (const h of opened.splice(0)) expect(native.close(h)).toBe(0);
    expect(native.handleCount()).toBe(handles0);
    if (process.platform === 'linux') expect(await settledFdCount()).toBe(fds0);
  });

  it('exports no errno table of its own: errors cross as negative numbers, and Node names them', () => {
    const surface = native as unknown as Record<string, unknown>;
    for (const gone of ['errno', 'errnoName', 'errorMessage']) expect(surface[gone]).toBeUndefined();
    expect(['epoll', 'kqueue']).toContain(native.backend);
  });
});

// ---- argument validation ---------------------------------------------------------------------

describe('argument validation', () => {
  const n = native as unknown as Record<string, (...args: unknown[]) => unknown>;

  it('throws a TypeError naming the argument for a wrong type', () => {
    const p = new TestPoller();
    const [r] = pipe();
    const buf = Buffer.alloc(4);
    const cases: [() => unknown, RegExp][] = [
      [() => n.read('1', buf, 0, 1), /"handle"/],
      [() => n.read(r, 'abc', 0, 1), /"buf"/],
      [() => n.read(r, [1, 2], 0, 1), /"buf"/],
      [() => n.read(r, new Uint16Array(2), 0, 1), /"buf"/],
      [() => n.write(r, buf, '0', 1), /"offset"/],
      [() => n.write(r, buf, 0, undefined), /"length"/],
      [() => n.writev(r, 'abc'), /"bufs"/],
      [() => n.writev(r, [buf, 'x']), /"bufs\[1\]"/],
      [() => n.pollerEvents(p.handle, '4'), /"capacity"/],
      [() => n.pollerAdd(p.handle, r, 'x', READABLE), /"token"/],
      [() => n.pollerWait({}, 0), /"poller"/],
      [() => n.driverStart(p.handle, 42), /"onEvents"/],
      [() => n.driverRef(p.handle, 1), /"ref"/],
      [() => n.setNoDelay(r, 'yes'), /"on"/],
      [() => n.tcpListen(127001, 0, 1, 0), /"host"/],
      [() => n.tcpConnect('127.0.0.1', '1'), /"port"/],
      [() => n.unixConnect(42), /"path"/],
      [() => n.close(undefined), /"handle"/],
    ];
    for (const [call, name] of cases) {
      const err = thrown(call);
      expect([err.name, err.code]).toEqual(['TypeError', 'ERR_INVALID_ARG_TYPE']);
      expect(err.message).toMatch(name);
    }
  });

  it('throws a RangeError naming the argument for a value out of range', () => {
    const p = new TestPoller();
    const [r] = pipe();
    const buf = Buffer.alloc(4);
    const cases: [() => unknown, RegExp][] = [
      [() => n.read(r, buf, 2, 3), /"length"/],
      [() => n.read(r, buf, 5, 0), /"offset"/],
      [() => n.read(r, buf, -1, 1), /"offset"/],
      [() => n.write(r, buf, 0.5, 1), /"offset"/],
      [() => n.pollerAdd(p.handle, r, 0xfffffff0, READABLE), /"token"/],
      [() => n.pollerAdd(p.handle, r, 1, HANGUP), /"interest"/],
      [() => n.pollerWait(p.handle, NaN), /"timeoutMs"/],
      [() => n.pollerTimerArm(p.handle, NaN), /"delayMs"/],
      [() => n.pollerEvents(p.handle, 0), /"capacity"/],
      [() => n.shutdown(r, 3), /"how"/],
      [() => n.tcpListen('127.0.0.1', 70_000, 1, 0), /"port"/],
      [() => n.tcpListen('127.0.0.1', 0, 1, 8), /"flags"/],
      [() => n.tcpConnect('127.0.0.1', -1), /"port"/],
    ];
    for (const [call, name] of cases) {
      const err = thrown(call);
      expect([err.name, err.code]).toEqual(['RangeError', 'ERR_OUT_OF_RANGE']);
      expect(err.message).toMatch(name);
    }
  });

  it('checks types before handles: a stale handle with a bad buffer still throws', () => {
    expect(thrown(() => n.read(2 ** 40, 'x', 0, 1)).name).toBe('TypeError');
    expect(native.read(2 ** 40, Buffer.alloc(1), 0, 1)).toBe(-E.EBADF);
  });
});

// ---- sockets ---------------------------------------------------------------------------------

describe('TCP', () => {
  it('listens, connects, accepts, exchanges bytes, reports addresses and shuts down', () => {
    const p = new TestPoller();
    const [c, s, l] = tcpPair(p);
    const port = (native.localAddr(l) as [string, number, number])[1];
    expect(port).toBeGreaterThan(0);
    expect(native.localAddr(l)).toEqual(['127.0.0.1', port, 4]);
    expect(native.peerAddr(c)).toEqual(['127.0.0.1', port, 4]);
    expect(native.peerAddr(s)).toEqual(native.localAddr(c));
    expect(native.peerAddr(l)).toBe(-E.ENOTCONN);
    expect(native.accept(l)).toBe(-E.EAGAIN);
    expect(native.setNoDelay(c, true)).toBe(0);
    expect(native.setKeepAlive(c, true, 30)).toBe(0);

    const buf = Buffer.alloc(16);
    p.add(s, 10, READABLE);
    p.add(c, 11, READABLE);
    expect(native.write(c, Buffer.from('ping'), 0, 4)).toBe(4);
    p.waitFor(10);
    expect(native.read(s, buf, 0, 16)).toBe(4);
    expect(buf.toString('utf8', 0, 4)).toBe('ping');
    expect(native.writev(s, [Buffer.from('po'), Buffer.from('ng')])).toBe(4);
    p.waitFor(11);
    expect(native.read(c, buf, 0, 16)).toBe(4);
    expect(buf.toString('utf8', 0, 4)).toBe('pong');

    expect(native.shutdown(c, SHUT_WR)).toBe(0);
    expect(p.waitFor(10) & READABLE).toBe(READABLE);
    expect(native.read(s, buf, 0, 16)).toBe(0);
  });

  // The runtime takes a short read as "drained" and waits for the next event, so a FIN that came
  // with the last bytes must be in the event that reports them (HANGUP), whatever the interest
  // and after a pollerModify too. libkqueue dropped EPOLLRDHUP when a second filter joined the
  // fd, so READABLE | WRITABLE lost it, and the echo server kept such connections forever.
  it.each([
    ['READABLE', READABLE, 0],
    ['READABLE | WRITABLE', READABLE | WRITABLE, 0],
    ['READABLE | WRITABLE, then pollerModify to READABLE', READABLE | WRITABLE, READABLE],
    ['READABLE, then pollerModify to READABLE | WRITABLE', READABLE, READABLE | WRITABLE],
  ])('reports HANGUP in the same event as the last bytes when the FIN came with them (%s)', (_name, interest, modifyTo) => {
    const p = new TestPoller();
    const [c, s] = tcpPair(p);
    p.add(s, 20, interest);
    if (modifyTo !== 0) {
      p.wait(0); // the registration's first edge (WRITABLE) is gone before the modify
      expect(native.pollerModify(p.handle, s, 20, modifyTo)).toBe(0);
    }
    p.wait(0);
    expect(native.write(c, Buffer.from('last'), 0, 4)).toBe(4);
    expect(native.shutdown(c, SHUT_WR)).toBe(0);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20); // loopback: both are queued now
    expect(p.waitFor(20) & (READABLE | HANGUP)).toBe(READABLE | HANGUP);
    const buf = Buffer.alloc(16);
    expect(native.read(s, buf, 0, 16)).toBe(4);
    expect(native.read(s, buf, 0, 16)).toBe(0);
  });

  // libkqueue asks epoll for as many events as its event list has slots (at most 512), and one
  // epoll event for a socket with both filters becomes two kevents: what did not fit was dropped,
  // and under EV_CLEAR for good, so 1,000 echo connections stalled. Every socket must be heard.
  it('reports each of 300 sockets that became readable at once, over as many waits as it takes', () => {
    const N = 300;
    const p = new TestPoller(1024);
    const l = track(native.tcpListen('127.0.0.1', 0, 512, 1));
    const port = (native.localAddr(l) as [string, number, number])[1];
    const clients = Array.from({ length: N }, () => connected(native.tcpConnect('127.0.0.1', port))[0]);
    p.add(l, 1, READABLE);
    const servers: Handle[] = [];
    while (servers.length < N) {
      const s = native.accept(l);
      if (s === -E.EAGAIN) p.waitFor(1);
      else servers.push(track(s));
    }
    servers.forEach((s, i) => p.add(s, 100 + i, READABLE | WRITABLE));
    while (p.wait(0).size > 0) {
      // the registrations' first edges (WRITABLE)
    }
    for (const c of clients) expect(native.write(c, Buffer.from('x'), 0, 1)).toBe(1);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50); // loopback: all arrived
    const heard = new Set<number>();
    for (let i = 0; i < 20 && heard.size < N; i++) {
      for (const [token, bits] of p.wait(100)) if (token >= 100 && (bits & READABLE) !== 0) heard.add(token);
    }
    expect(heard.size).toBe(N);
  });

  it('reports ECONNREFUSED through socketError after WRITABLE for a closed port', () => {
    const l = native.tcpListen('127.0.0.1', 0, 1, 0);
    const port = (native.localAddr(l) as [string, number, number])[1];
    native.close(l);

    const p = new TestPoller();
    const r = native.tcpConnect('127.0.0.1', port);
    if (r === -E.ECONNREFUSED) return; // refused on the spot: also right
    const [c, inProgress] = connected(r);
    expect(inProgress).toBe(true);
    p.add(c, 1, WRITABLE);
    const bits = p.waitFor(1);
    if (LIBKQUEUE) {
      // libkqueue reads SO_ERROR itself to fill in the event, which clears it: ERROR is left.
      expect(bits & ERROR).toBe(ERROR);
    } else {
      expect(native.socketError(c)).toBe(-E.ECONNREFUSED);
    }
  });

  it('gives EPIPE or ECONNRESET, and no SIGPIPE, when writing to a peer that has gone', async () => {
    const sigpipe = jest.fn();
    process.on('SIGPIPE', sigpipe);
    try {
      const p = new TestPoller();
      const [c, s] = tcpPair(p);
      native.close(s);
      const chunk = Buffer.alloc(1024, 1);
      let rc = 0;
      for (let i = 0; i < 500 && rc >= 0; i++) {
        rc = native.write(c, chunk, 0, chunk.length);
        if (rc >= 0) await sleep(5);
      }
      expect([-E.EPIPE, -E.ECONNRESET]).toContain(rc);
      await sleep(50); // a signal would be delivered through the loop by now
      expect(sigpipe).not.toHaveBeenCalled();
    } finally {
      process.off('SIGPIPE', sigpipe);
    }
  });

  it('returns EINVAL for a host that is not a numeric address, EADDRINUSE for a taken port', () => {
    expect(native.tcpListen('localhost', 0, 1, 0)).toBe(-E.EINVAL);
    expect(native.tcpListen('127.0.0.1\0junk', 0, 1, 0)).toBe(-E.EINVAL);
    const l = track(native.tcpListen('127.0.0.1', 0, 1, 0));
    const port = (native.localAddr(l) as [string, number, number])[1];
    expect(native.tcpListen('127.0.0.1', port, 1, 0)).toBe(-E.EADDRINUSE);
  });

  it('listens on IPv6 loopback when the host has it', () => {
    const l = native.tcpListen('::1', 0, 1, 4);
    if (l === -E.EADDRNOTAVAIL || l === -E.EAFNOSUPPORT) return; // no IPv6 here
    track(l);
    const [host, port, family] = native.localAddr(l) as [string, number, number];
    expect([host, family]).toEqual(['::1', 6]);
    expect(port).toBeGreaterThan(0);
  });
});

describe('Unix sockets', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'polled-native-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('connects, accepts and exchanges bytes over a path', () => {
    const file = path.join(dir, 'a.sock');
    const l = track(native.unixListen(file, 8));
    expect(native.localAddr(l)).toEqual([file, 0, 0]);
    expect(native.unixListen(file, 8)).toBe(-E.EADDRINUSE);

    const p = new TestPoller();
    const [c] = connected(native.unixConnect(file));
    p.add(l, 1, READABLE);
    p.waitFor(1);
    const s = track(native.accept(l));
    expect(native.peerAddr(c)).toEqual([file, 0, 0]);

    const buf = Buffer.alloc(8);
    p.add(s, 2, READABLE);
    expect(native.write(c, Buffer.from('unix'), 0, 4)).toBe(4);
    p.waitFor(2);
    expect(native.read(s, buf, 0, 8)).toBe(4);
    expect(buf.toString('utf8', 0, 4)).toBe('unix');
  });

  it('returns ENAMETOOLONG for a path longer than sun_path, ENOENT for no listener', () => {
    expect(native.unixListen(path.join(dir, 'x'.repeat(200)), 1)).toBe(-E.ENAMETOOLONG);
    expect(native.unixConnect(path.join(dir, 'y'.repeat(200)))).toBe(-E.ENAMETOOLONG);
    expect(native.unixConnect(path.join(dir, 'missing.sock'))).toBe(-E.ENOENT);
  });
});

// ---- embedded driver -------------------------------------------------------------------------

describe('embedded driver (libuv)', () => {
  driverIt('delivers a batch through the uv loop, with promise continuations right after', async () => {
    const p = new TestPoller();
    const [r, w] = pipe();
    p.add(r, 21, READABLE);
    const order: string[] = [];
    const batch = new Promise<[number, number, number]>((resolve) => {
      expect(
        native.driverStart(p.handle, (count) => {
          order.push('callback');
          Promise.resolve().then(() => order.push('microtask'));
          setImmediate(() => order.push('immediate'));
          resolve([count, p.events[0], p.events[1]]);
        }),
      ).toBe(0);
    });
    expect(native.driverStart(p.handle, () => {})).toBe(-E.EALREADY);
    native.write(w, Buffer.from('x'), 0, 1);
    const [count, token, bits] = await batch;
    expect(count).toBe(1);
    expect(token).toBe(21);
    expect(bits & READABLE).toBe(READABLE);
    await new Promise((resolve) => setImmediate(resolve));
    expect(order.slice(0, 3)).toEqual(['callback', 'microtask', 'immediate']);
    expect(native.driverStop(p.handle)).toBe(0);
    expect(native.driverStop(p.handle)).toBe(0); // idempotent
    expect(native.driverRef(p.handle, false)).toBe(-E.EINVAL); // no driver any more
  });

  (LIBKQUEUE ? it : it.skip)('is ENOTSUP where libuv cannot watch the poller (libkqueue)', () => {
    const p = new TestPoller();
    expect(native.driverStart(p.handle, () => {})).toBe(-E.ENOTSUP);
  });

  driverIt('needs an event array first', () => {
    const p = track(native.pollerCreate());
    expect(native.driverStart(p, () => {})).toBe(-E.EINVAL);
  });

  driverIt('survives its poller being closed from inside the callback', async () => {
    const p = new TestPoller();
    const before = native.handleCount();
    const closed = new Promise<number>((resolve) => {
      native.driverStart(p.handle, () => resolve(native.close(p.handle)));
    });
    native.pollerNotify(p.handle);
    expect(await closed).toBe(0);
    await sleep(10); // the uv handle's close callback runs on a later turn
    expect(native.handleCount()).toBe(before - 1);
  });

  driverIt('lets the process exit when unreferenced, and keeps it alive when referenced', () => {
    const setup = `
      const p = addon.pollerCreate();
      addon.pollerEvents(p, 4);`;
    const unref = runChild(`${setup}
      addon.driverStart(p, () => {});
      addon.driverRef(p, false);
      console.log('unref');`);
    expect(unref.signal).toBeNull();
    expect(unref.status).toBe(0);
    expect(unref.stdout).toBe('unref\n');

    // Nothing but the driver keeps this loop alive until a native thread notifies.
    const ref = runChild(`${setup}
      addon.driverStart(p, () => { console.log('woken'); addon.driverStop(p); });
      addon.pollerNotifyFromThread(p, 200);`);
    expect(ref.signal).toBeNull();
    expect(ref.status).toBe(0);
    expect(ref.stdout).toBe('woken\n');
  });

  driverIt('turns a throwing callback into an uncaughtException and keeps delivering', () => {
    const child = runChild(`
      const p = addon.pollerCreate();
      addon.pollerEvents(p, 4);
      let calls = 0;
      process.on('uncaughtException', (e) => {
        console.log('caught ' + e.message);
        addon.pollerNotify(p);
      });
      addon.driverStart(p, () => {
        if (++calls === 1) throw new Error('boom');
        console.log('second batch');
        addon.close(p);
      });
      addon.pollerNotify(p);`);
    expect(child.signal).toBeNull();
    expect(child.status).toBe(0);
    expect(child.stdout).toBe('caught boom\nsecond batch\n');
  });
});

// ---- worker threads --------------------------------------------------------------------------

describe('worker threads', () => {
  it('give each worker its own addon instance and poller', async () => {
    const mainCount = native.handleCount();
    const driver = !(native.backend === 'kqueue' && process.platform === 'linux');
    const worker = new Worker(
      `
      const { parentPort } = require('node:worker_threads');
      const addon = require(${JSON.stringify(ADDON)});
      const count0 = addon.handleCount();
      const p = addon.pollerCreate();
      const events = addon.pollerEvents(p, 4);
      const out = addon.pipe();
      addon.pollerAdd(p, out[0], 42, 1);
      addon.write(out[1], Buffer.from('w'), 0, 1);
      const n = addon.pollerWait(p, 10000);
      parentPort.postMessage({ count0, n, token: events[0], count: addon.handleCount() });
      if (${driver}) {
        // Exit with the driver still running: env teardown must close it cleanly.
        addon.driverStart(p, () => { parentPort.postMessage('driver'); process.exit(0); });
        addon.write(out[1], Buffer.from('w'), 0, 1);
      }`,
      { eval: true },
    );
    const messages: unknown[] = [];
    worker.on('message', (m) => messages.push(m));
    const code = await new Promise<number>((resolve, reject) => {
      worker.on('exit', resolve);
      worker.on('error', reject);
    });
    expect(code).toBe(0);
    expect(messages[0]).toEqual({ count0: 0, n: 1, token: 42, count: 3 });
    if (driver) expect(messages[1]).toBe('driver');
    expect(native.handleCount()).toBe(mainCount);
  });
});
