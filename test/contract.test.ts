/**
 * One contract between TypeScript and C++. The numbers both sides must agree on (readiness bits,
 * reserved tokens, listen flags, shutdown values, the bound-buffer slots, the ioArgs slots and
 * status values) are defined once in native/contract.h and stated again in lib/native.ts, between
 * its `contract:begin` / `contract:end` markers. This file parses both and fails on any drift in
 * names or values, fails when another file defines one of them again, and then checks that the
 * built addon behaves by those numbers. Errors cross as negative errnos, named by Node: the last
 * part checks errors.ts, which builds IoError from Node's tables instead of the addon's.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import * as binding from '../lib/native';
import { native } from '../lib/native';
import { IoError, errno, errnoMessage, errnoName } from '../lib/errors';

const ROOT = path.resolve(__dirname, '..');
const HEADER = path.join(ROOT, 'native', 'contract.h');
const BINDING = path.join(ROOT, 'lib', 'native.ts');

/** `kV6Only` → `V6_ONLY`, `kIoArgCount` → `IO_ARG_COUNT`: the C++ name as lib/native.ts spells it. */
function tsName(cxx: string): string {
  return cxx
    .slice(1)
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toUpperCase();
}

/** Every `constexpr` of the header, which must each be `constexpr <type> k<Name> = <literal>;`. */
function headerConstants(): Map<string, number> {
  const out = new Map<string, number>();
  fs.readFileSync(HEADER, 'utf8')
    .split('\n')
    .forEach((text, i) => {
      const line = text.replace(/\/\/.*$/, ''); // comments may mention anything
      if (!/\bconstexpr\b/.test(line)) return;
      const m = /^\s*constexpr\s+\w+\s+(k[A-Z][A-Za-z0-9]*)\s*=\s*(0x[0-9a-fA-F]+|\d+)\s*;/.exec(line);
      if (m === null) throw new Error(`native/contract.h:${i + 1}: not of the form "constexpr <type> k<Name> = <literal>;": ${line.trim()}`);
      const name = tsName(m[1]);
      if (out.has(name)) throw new Error(`native/contract.h:${i + 1}: ${m[1]} defined twice`);
      out.set(name, Number(m[2]));
    });
  return out;
}

/** Every `export const` between lib/native.ts's contract markers, each `export const NAME = <literal>;`. */
function bindingConstants(): Map<string, number> {
  const lines = fs.readFileSync(BINDING, 'utf8').split('\n');
  const begin = lines.findIndex((l) => l.trim() === '// contract:begin');
  const end = lines.findIndex((l) => l.trim() === '// contract:end');
  if (begin < 0 || end < begin) throw new Error('lib/native.ts: no "// contract:begin" ... "// contract:end" block');
  const out = new Map<string, number>();
  for (let i = begin + 1; i < end; i++) {
    const line = lines[i];
    if (!/^\s*export\b/.test(line)) continue;
    const m = /^export const ([A-Z][A-Z0-9_]*) = (0x[0-9a-fA-F]+|\d+);$/.exec(line.trim());
    if (m === null) throw new Error(`lib/native.ts:${i + 1}: not of the form "export const NAME = <literal>;": ${line.trim()}`);
    if (out.has(m[1])) throw new Error(`lib/native.ts:${i + 1}: ${m[1]} defined twice`);
    out.set(m[1], Number(m[2]));
  }
  return out;
}

function filesUnder(dir: string, ext: RegExp): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) return d.name === 'node_modules' || d.name === 'fixtures' ? [] : filesUnder(p, ext);
    return ext.test(d.name) ? [p] : [];
  });
}

describe('native/contract.h and lib/native.ts', () => {
  // Parsed in beforeAll, so that a malformed line fails the tests with its message.
  let header: Map<string, number>;
  let ts: Map<string, number>;
  beforeAll(() => {
    header = headerConstants();
    ts = bindingConstants();
  });

  test('state the same constants, by the same names, with the same values', () => {
    expect(header.size).toBeGreaterThan(20);
    const drift: string[] = [];
    for (const [name, value] of header) {
      if (!ts.has(name)) drift.push(`${name} (= ${value}) is in native/contract.h, not in lib/native.ts`);
      else if (ts.get(name) !== value) drift.push(`${name}: ${value} in native/contract.h, ${ts.get(name)} in lib/native.ts`);
    }
    for (const [name, value] of ts) {
      if (!header.has(name)) drift.push(`${name} (= ${value}) is in lib/native.ts, not in native/contract.h`);
    }
    expect(drift).toEqual([]);
  });

  test('lib/native.ts exports each of them with that value', () => {
    const exported = binding as unknown as Record<string, unknown>;
    for (const [name, value] of ts) expect([name, exported[name]]).toEqual([name, value]);
  });

  test('no other file defines them again', () => {
    const cxxNames = new Map([...header.keys()].map((n) => [n, '']));
    for (const line of fs.readFileSync(HEADER, 'utf8').split('\n')) {
      const m = /^\s*constexpr\s+\w+\s+(k\w+)/.exec(line);
      if (m) cxxNames.set(tsName(m[1]), m[1]);
    }
    const found: string[] = [];
    for (const file of filesUnder(path.join(ROOT, 'native'), /\.(h|cc)$/)) {
      if (file === HEADER) continue;
      const text = fs.readFileSync(file, 'utf8');
      const enums = [...text.matchAll(/\benum\b[^{;]*\{([^}]*)\}/g)].map((m) => m[1]).join('\n');
      for (const cxx of cxxNames.values()) {
        // A definition (`kName = ...`, not `kName == ...`), or an enumerator named like one.
        if (new RegExp(`\\b${cxx}\\s*=(?!=)`).test(text) || new RegExp(`\\b${cxx}\\b`).test(enums)) {
          found.push(`${path.relative(ROOT, file)} defines ${cxx}`);
        }
      }
    }
    const tsFiles = [...filesUnder(path.join(ROOT, 'lib'), /\.ts$/), ...filesUnder(path.join(ROOT, 'test'), /\.ts$/)];
    for (const file of tsFiles) {
      if (file === BINDING || file === __filename) continue;
      const text = fs.readFileSync(file, 'utf8');
      for (const name of ts.keys()) {
        if (new RegExp(`\\b(const|let|var)\\s+${name}\\s*[=:]|^\\s*${name}\\s*=(?!=)`, 'm').test(text)) {
          found.push(`${path.relative(ROOT, file)} defines ${name} (import it from lib/native.ts)`);
        }
      }
    }
    expect(found).toEqual([]);
  });
});

describe('the addon goes by the contract', () => {
  const pipe = (): [number, number] => {
    const ends = native.pipe();
    if (typeof ends === 'number') throw new Error(`pipe: ${ends}`);
    return ends;
  };

  test('ioArgs has IO_ARG_COUNT slots; readBound / writeBound write status and result', () => {
    const args = native.ioArgs;
    expect(args.length).toBe(binding.IO_ARG_COUNT);
    const [r, w] = pipe();
    try {
      const run = (call: () => void, h: number, off: number, len: number): [number, number] => {
        args[binding.ARG_HANDLE] = h;
        args[binding.ARG_OFFSET] = off;
        args[binding.ARG_LENGTH] = len;
        args[binding.ARG_STATUS] = -1;
        call();
        return [args[binding.ARG_STATUS], args[binding.ARG_RESULT]];
      };
      const readBound = () => native.readBound();
      const writeBound = () => native.writeBound();
      // Nothing bound yet: not bound, and no result claimed.
      const [s0, r0] = run(readBound, r, 0, 1);
      expect(s0).toBe(binding.STATUS_NOT_BOUND);
      expect(r0).toBeNaN();
      expect(native.bindBuffer(w, binding.WRITE_BUFFER, Buffer.from('hi'))).toBe(0);
      expect(native.bindBuffer(r, binding.READ_BUFFER, new Uint8Array(4))).toBe(0);
      expect(run(writeBound, w, 0, 2)).toEqual([binding.STATUS_DONE, 2]);
      expect(run(readBound, r, 0, 4)).toEqual([binding.STATUS_DONE, 2]);
      expect(run(readBound, r, 0, 4)).toEqual([binding.STATUS_DONE, -errno.EAGAIN]);
      // The slots are exactly READ_BUFFER and WRITE_BUFFER.
      expect(() => native.bindBuffer(r, binding.WRITE_BUFFER + 1, new Uint8Array(1))).toThrow(/"slot"/);
    } finally {
      native.close(r);
      native.close(w);
    }
  });

  test('tokens below RESERVED_TOKENS are the user\'s, interest is READABLE | WRITABLE, the poller reports NOTIFY_TOKEN and TIMER_TOKEN', () => {
    const p = native.pollerCreate();
    const [r, w] = pipe();
    try {
      const events = native.pollerEvents(p, 8) as Uint32Array;
      expect(() => native.pollerAdd(p, r, binding.RESERVED_TOKENS, binding.READABLE)).toThrow(/"token"/);
      expect(() => native.pollerAdd(p, r, 1, binding.HANGUP)).toThrow(/"interest"/);
      expect(native.pollerAdd(p, r, binding.RESERVED_TOKENS - 1, binding.READABLE | binding.WRITABLE)).toBe(0);
      native.write(w, Buffer.from('x'), 0, 1);
      expect(native.pollerNotify(p)).toBe(0);
      expect(native.pollerTimerArm(p, 0)).toBe(0);
      const seen = new Map<number, number>();
      const deadline = Date.now() + 10_000;
      while (seen.size < 3 && Date.now() < deadline) {
        const n = native.pollerWait(p, 100);
        for (let i = 0; i < n; i++) seen.set(events[2 * i], (seen.get(events[2 * i]) ?? 0) | events[2 * i + 1]);
      }
      expect(seen.get(binding.RESERVED_TOKENS - 1)! & binding.READABLE).toBe(binding.READABLE);
      expect(seen.has(binding.NOTIFY_TOKEN)).toBe(true);
      expect(seen.has(binding.TIMER_TOKEN)).toBe(true);
    } finally {
      native.close(r);
      native.close(w);
      native.close(p);
    }
  });

  test('tcpListen takes REUSE_ADDR | REUSE_PORT | V6_ONLY and nothing more; shutdown takes SHUT_RD..SHUT_RDWR', () => {
    const all = binding.REUSE_ADDR | binding.REUSE_PORT | binding.V6_ONLY;
    expect(() => native.tcpListen('127.0.0.1', 0, 1, all + 1)).toThrow(/"flags"/);
    const l = native.tcpListen('127.0.0.1', 0, 1, binding.REUSE_ADDR);
    expect(l).toBeGreaterThan(0);
    native.close(l);
    // Each value the contract has is taken (a pipe is no socket: the kernel says so), one more is not.
    // What each one does is test/native.test.ts's (SHUT_WR: the peer reads end of stream).
    const [r, w] = pipe();
    try {
      expect(() => native.shutdown(w, binding.SHUT_RDWR + 1)).toThrow(/"how"/);
      for (const how of [binding.SHUT_RD, binding.SHUT_WR, binding.SHUT_RDWR]) expect(native.shutdown(w, how)).toBe(-errno.ENOTSOCK);
    } finally {
      native.close(r);
      native.close(w);
    }
  });

  test('results of more than one value are returned arrays; failures are negative numbers', () => {
    const [r, w] = pipe();
    native.close(r);
    native.close(w);
    const l = native.tcpListen('127.0.0.1', 0, 4, binding.REUSE_ADDR);
    try {
      const addr = native.localAddr(l);
      expect(addr).toEqual(['127.0.0.1', expect.any(Number), 4]);
      const port = (addr as [string, number, number])[1];
      const c = native.tcpConnect('127.0.0.1', port);
      expect(c).toEqual([expect.any(Number), expect.any(Boolean)]);
      native.close((c as [number, boolean])[0]);
      expect(native.peerAddr(l)).toBe(-errno.ENOTCONN);
      expect(native.localAddr(2 ** 40)).toBe(-errno.EBADF);
    } finally {
      native.close(l);
    }
  });
});

describe('errors cross as negative errnos, named by Node', () => {
  test('errors.ts needs no addon: it loads with lib/native.ts unloadable', () => {
    jest.isolateModules(() => {
      jest.doMock('../lib/native', () => {
        throw new Error('no addon');
      });
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const errors = require('../lib/errors') as typeof import('../lib/errors');
      expect(new errors.IoError(errno.EPIPE, 'write').code).toBe('EPIPE');
      jest.dontMock('../lib/native');
    });
  });

  test('errno holds what lib/ uses, with the platform\'s values', () => {
    const used = new Set<string>(['EAGAIN', 'EINTR', 'EBADF', 'EINPROGRESS', 'ENOTCONN', 'ETIMEDOUT', 'ECONNRESET', 'EPIPE']);
    for (const file of filesUnder(path.join(ROOT, 'lib'), /\.ts$/)) {
      for (const m of fs.readFileSync(file, 'utf8').matchAll(/\berrno\.([A-Z][A-Z0-9]+)\b/g)) used.add(m[1]);
    }
    const platform = os.constants.errno as Record<string, number>;
    for (const name of used) {
      expect([name, errno[name]]).toEqual([name, expect.any(Number)]);
      if (name in platform) expect([name, errno[name]]).toEqual([name, platform[name]]);
    }
    expect(Object.isFrozen(errno)).toBe(true);
  });

  test('IoError keeps its shape: code, positive errno, syscall, "<syscall> <code>: <message> (<detail>)"', () => {
    const e = new IoError(errno.ECONNRESET, 'read', 'peer 127.0.0.1:1');
    expect([e.name, e.code, e.errno, e.syscall]).toEqual(['IoError', 'ECONNRESET', errno.ECONNRESET, 'read']);
    expect(e.message).toBe(`read ECONNRESET: ${errnoMessage(errno.ECONNRESET)} (peer 127.0.0.1:1)`);
    expect(errnoMessage(errno.EPIPE)).toMatch(/pipe/i);
    expect(new IoError(errno.EBADF, 'close').message).toMatch(/^close EBADF: \S/);
  });

  test('names are Node\'s (util.getSystemErrorName), by number, negative or not; unknown is UNKNOWN', () => {
    const util = jest.requireActual<typeof import('node:util')>('node:util');
    for (const name of ['EBADF', 'ECONNRESET', 'EADDRINUSE', 'ECONNREFUSED', 'EMFILE', 'ENOENT']) {
      expect(errnoName(errno[name])).toBe(name);
      expect(errnoName(-errno[name])).toBe(util.getSystemErrorName(-errno[name]));
    }
    // Two names for one value (Linux): Node's choice.
    expect(errnoName(errno.EWOULDBLOCK)).toBe(util.getSystemErrorName(-errno.EAGAIN));
    // Node's error table has no EINPROGRESS; the platform's constants name it.
    expect(errnoName(errno.EINPROGRESS)).toBe('EINPROGRESS');
    expect(errnoName(100_000)).toBe('UNKNOWN');
    expect(new IoError(100_000, 'read').code).toBe('UNKNOWN');
  });
});
