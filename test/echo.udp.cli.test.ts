// `polled echo --udp` (dist/cjs/cli.js): UDP echo on --host/--port under both drivers, single and
// batched, on worker threads, with node:dgram as the client; a graceful exit on SIGTERM / SIGINT; usage errors.
import { spawn, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'dist', 'cjs', 'cli.js');

interface Server {
  child: ChildProcess;
  host: string;
  port: number;
  stderr: () => string;
  exited: () => Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startServer(args: string[]): Promise<Server> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /^listening (\S+) (\d+)\n/.exec(out);
      if (m) resolve({ child, host: m[1], port: Number(m[2]), stderr: () => err, exited: () => exit });
    });
    void exit.then((r) => reject(new Error(`exited ${JSON.stringify(r)} before listening; stderr: ${err}`)));
  });
}

/** `count` datagrams to the server one after another, each answered before the next; all must come back unchanged. */
async function pingPong(port: number, count: number, size: number): Promise<number> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  let ok = 0;
  try {
    for (let i = 0; i < count; i++) {
      const p = Buffer.alloc(size, i & 255);
      const back = await new Promise<Buffer | null>((resolve) => {
        const t = setTimeout(() => resolve(null), 2000);
        sock.once('message', (m) => {
          clearTimeout(t);
          resolve(m);
        });
        sock.send(p, port, '127.0.0.1');
      });
      if (back !== null && back.equals(p)) ok++;
    }
  } finally {
    sock.close();
  }
  return ok;
}

function runCmd(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    c.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('polled echo --udp', () => {
  test.each([
    ['embedded', '1', 'SIGTERM'],
    ['block', '1', 'SIGINT'],
    ['embedded', '16', 'SIGINT'],
    ['block', '16', 'SIGTERM'],
  ])('--driver %s --batch %s: "listening" line, echoes 500 datagrams, exits 0 on %s', async (driver, batch, sig) => {
    const srv = await startServer(['echo', '--udp', '--port', '0', '--driver', driver, '--batch', batch]);
    try {
      expect(srv.host).toBe('127.0.0.1');
      expect(await pingPong(srv.port, 500, 200)).toBe(500);
      srv.child.kill(sig as NodeJS.Signals);
      expect(await srv.exited()).toEqual({ code: 0, signal: null });
      expect(srv.stderr()).toMatch(/stopped; 500 datagrams echoed/);
    } finally {
      srv.child.kill('SIGKILL');
    }
  }, 30000);

  test.each(['embedded', 'block'])('--threads 2 --driver %s: workers share the port (SO_REUSEPORT), 8 clients echoed, exits 0 on SIGTERM', async (driver) => {
    const srv = await startServer(['echo', '--udp', '--port', '0', '--threads', '2', '--driver', driver]);
    try {
      const counts = await Promise.all(Array.from({ length: 8 }, () => pingPong(srv.port, 100, 300)));
      expect(counts).toEqual(Array(8).fill(100));
      srv.child.kill('SIGTERM');
      expect(await srv.exited()).toEqual({ code: 0, signal: null });
      expect(srv.stderr()).toMatch(/datagrams echoed per worker: worker 0: \d+, worker 1: \d+/);
      expect(srv.stderr()).toMatch(/stopped; 800 datagrams echoed/);
    } finally {
      srv.child.kill('SIGKILL');
    }
  }, 30000);

  test('usage errors: --udp with --unix, --handoff or --backlog; --batch without --udp or out of range', async () => {
    for (const [args, msg] of [
      [['--udp', '--unix', '/tmp/x'], /not with --unix/],
      [['--udp', '--threads', '2', '--handoff'], /--handoff is for TCP/],
      [['--udp', '--backlog', '5'], /--backlog is for TCP/],
      [['--batch', '4'], /--batch needs --udp/],
      [['--udp', '--batch', '65'], /--batch must be in 1\.\.64/],
    ] as [string[], RegExp][]) {
      const r = await runCmd(['echo', ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(msg);
    }
  }, 30000);

  test('a taken port: exit status 1 with EADDRINUSE', async () => {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    try {
      const r = await runCmd(['echo', '--udp', '--port', String(sock.address().port)]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/bind EADDRINUSE/);
    } finally {
      sock.close();
    }
  }, 30000);
});
