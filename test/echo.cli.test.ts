// The `polled echo` CLI (dist/cjs/cli.js, what `npm start` runs), the bench server script, and
// the examples: startup line, graceful shutdown on SIGINT / SIGTERM under both drivers, errors.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as ts from 'typescript';
import { CLI, ROOT, killAll, nodeEcho, refused, requireBuild, runCmd, sleepMs, startServer, waitFor } from './fixtures/servers';

beforeAll(requireBuild);
afterAll(killAll);

describe('polled echo (CLI)', () => {
  test('the package bin has a shebang and is executable', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string>; scripts: Record<string, string> };
    expect(pkg.bin.polled).toBe('dist/cjs/cli.js');
    expect(fs.readFileSync(CLI, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    expect(fs.statSync(CLI).mode & 0o111).not.toBe(0);
  });

  test('prints "listening 127.0.0.1 <port>" as its first line and echoes', async () => {
    const srv = await startServer([CLI, 'echo', '--port', '0']); // run through the shebang
    try {
      expect(srv.stdout()).toMatch(/^listening 127\.0\.0\.1 \d+\n$/);
      expect((await nodeEcho(srv, Buffer.from('hi'))).toString()).toBe('hi');
    } finally {
      expect(await srv.stop('SIGINT')).toEqual({ code: 0, signal: null });
    }
  });

  describe.each(['embedded', 'block'])('graceful shutdown (%s driver)', (driver) => {
    test('SIGTERM: stops accepting, lets open connections work until the grace deadline, closes them, exits 0', async () => {
      const grace = 1500;
      const srv = await startServer([process.execPath, CLI, 'echo', '--port', '0', '--driver', driver, '--grace-ms', String(grace)]);
      const sock = net.connect(srv.port, srv.host);
      let received = '';
      let closedAt = 0;
      sock.setEncoding('utf8');
      sock.on('data', (d: string) => (received += d));
      sock.on('close', () => (closedAt = performance.now()));
      sock.on('error', () => {});
      sock.write('before;');
      expect(await waitFor(() => received === 'before;', 10000)).toBe(true);

      const t0 = performance.now();
      srv.child.kill('SIGTERM');
      // The listener closes at once (within one 100 ms slice under the block driver).
      let isRefused = false;
      for (let i = 0; i < 50 && !isRefused; i++) {
        isRefused = await refused(srv.port);
        if (!isRefused) await sleepMs(50);
      }
      expect(isRefused).toBe(true);
      // The open connection is still served during the grace period.
      sock.write('during;');
      expect(await waitFor(() => received === 'before;during;', 5000)).toBe(true);
      // Then the server closes it, not before the deadline, and exits 0.
      const r = await srv.exited();
      expect(r).toEqual({ code: 0, signal: null });
      expect(await waitFor(() => closedAt > 0, 5000)).toBe(true);
      expect(closedAt - t0).toBeGreaterThanOrEqual(grace - 20);
      expect(srv.stderr()).toMatch(/\d+ open connections get 1500 ms/);
      sock.destroy();
    });

    test('a connection that finishes within the grace period lets the server exit early', async () => {
      const srv = await startServer([process.execPath, CLI, 'echo', '--port', '0', '--driver', driver, '--grace-ms', '20000']);
      const sock = net.connect(srv.port, srv.host);
      let received = '';
      sock.setEncoding('utf8');
      sock.on('data', (d: string) => (received += d));
      sock.on('error', () => {});
      sock.write('x');
      expect(await waitFor(() => received === 'x', 10000)).toBe(true);
      const t0 = performance.now();
      srv.child.kill(driver === 'block' ? 'SIGINT' : 'SIGTERM');
      await sleepMs(100);
      sock.end(); // the client finishes: the server echoes nothing more and closes
      const r = await srv.exited();
      expect(r).toEqual({ code: 0, signal: null });
      expect(performance.now() - t0).toBeLessThan(10000);
      sock.destroy();
    });
  });

  test('bad arguments: exit status 2 with a message naming the value', async () => {
    const r1 = await runCmd(process.execPath, [CLI, 'echo', '--port', '99999']);
    expect(r1.code).toBe(2);
    expect(r1.stderr).toMatch(/--port must be in 0\.\.65535, got 99999/);
    const r2 = await runCmd(process.execPath, [CLI, 'echo', '--driver', 'fast']);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/"fast"/);
    const r3 = await runCmd(process.execPath, [CLI, 'echo', '--bogus']);
    expect(r3.code).toBe(2);
    expect(r3.stderr).toMatch(/--bogus/);
    const r4 = await runCmd(process.execPath, [CLI, 'frobnicate']);
    expect(r4.code).toBe(2);
    const r5 = await runCmd(process.execPath, [CLI, 'echo', '--help']);
    expect(r5.code).toBe(0);
    expect(r5.stdout.toString()).toMatch(/--grace-ms/);
  });

  test('a bad host or a taken port: exit status 1 with the reason', async () => {
    // Host names are resolved now: one that can never exist (RFC 6761) fails with the resolver's
    // error (ENOTFOUND, or EAI_AGAIN without a DNS server), naming it.
    const r1 = await runCmd(process.execPath, [CLI, 'echo', '--host', 'no-such-host.invalid', '--port', '0']);
    expect(r1.code).toBe(1);
    expect(r1.stderr).toMatch(/(ENOTFOUND|EAI_AGAIN).*no-such-host\.invalid/);
    const r0 = await runCmd(process.execPath, [CLI, 'echo', '--host', 'not a host', '--port', '0']);
    expect(r0.code).toBe(1);
    expect(r0.stderr).toMatch(/"not a host"/);
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as net.AddressInfo).port;
      const r2 = await runCmd(process.execPath, [CLI, 'echo', '--port', String(port)]);
      expect(r2.code).toBe(1);
      expect(r2.stderr).toMatch(/bind EADDRINUSE/);
      expect(r2.stderr).toMatch(new RegExp(`127\\.0\\.0\\.1:${port}`));
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe('bench/servers/polled-echo.js', () => {
  test.each(['embedded', 'block'])('--driver %s: one "listening" line, echoes, exits 0 on SIGTERM', async (driver) => {
    const srv = await startServer([process.execPath, path.join(ROOT, 'bench', 'servers', 'polled-echo.js'), '--port', '0', '--host', '127.0.0.1', '--driver', driver]);
    try {
      expect((await nodeEcho(srv, Buffer.from('bench'))).toString()).toBe('bench');
    } finally {
      expect(await srv.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    }
    expect(srv.stdout()).toMatch(/^listening 127\.0\.0\.1 \d+\n$/);
  });
});

describe('examples', () => {
  const examples = ['echo-server.ts', 'echo-client.ts'].map((f) => path.join(ROOT, 'examples', f));
  const tsRun = path.join(ROOT, 'scripts', 'ts-run.js'); // `npm run example <file>`

  test('they type-check as a user sees them (import ... from \'polled\')', () => {
    const options: ts.CompilerOptions = {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.CommonJS,
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: ['node'],
      paths: { polled: [path.join(ROOT, 'lib', 'index.ts')] },
    };
    const program = ts.createProgram(examples, options);
    const diags = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(diags).toEqual([]);
  });

  test('echo-server and echo-client talk to each other (and to netcat)', async () => {
    const server = spawn(process.execPath, [tsRun, examples[0], '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT });
    try {
      let out = '';
      let err = '';
      server.stdout.setEncoding('utf8');
      server.stdout.on('data', (d: string) => (out += d));
      server.stderr.on('data', (d: Buffer) => (err += d.toString()));
      if (!(await waitFor(() => /listening on 127\.0\.0\.1:\d+/.test(out), 30000))) throw new Error(`no listening line; stderr: ${err}`);
      const addr = /listening on (\S+)/.exec(out)![1];
      const r = await runCmd(process.execPath, [tsRun, examples[1], addr, 'round trip']);
      expect(r.stderr).toBe('');
      expect(r.stdout.toString()).toBe('round trip\n');
      const big = randomBytes(1 << 20);
      const port = Number(addr.split(':')[1]);
      expect((await nodeEcho({ host: '127.0.0.1', port }, big)).equals(big)).toBe(true);
      const n = await runCmd('nc', ['-N', '127.0.0.1', String(port)], 'hi').catch(() => null);
      if (n !== null) expect(n.stdout.toString()).toBe('hi');
    } finally {
      server.kill('SIGKILL');
    }
  });
});

describe('npm start under a process manager', () => {
  /** The pids of `pid`'s children (from /proc). */
  const childrenOf = (pid: number): number[] =>
    fs
      .readdirSync(`/proc/${pid}/task`)
      .flatMap((tid) => fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/))
      .filter(Boolean)
      .map(Number);
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  test.each(['SIGTERM', 'SIGINT'] as const)('%s to npm\'s own pid (as `timeout`, systemd and docker send it) stops the server: no process left, the port free', async (signal) => {
    const srv = await startServer(['npm', 'start', '--silent', '--', '--port', '0']);
    // `exec` in the start script: npm's child is the server itself, not a shell around it.
    const kids = childrenOf(srv.pid);
    expect(kids).toHaveLength(1);
    const server = kids[0];
    expect(fs.readFileSync(`/proc/${server}/cmdline`, 'utf8').split('\0')).toContain(path.join('dist', 'cjs', 'cli.js'));
    expect((await nodeEcho(srv, Buffer.from('hi'))).toString()).toBe('hi');
    srv.child.kill(signal); // to npm only, not to its process group
    await srv.exited();
    expect(await waitFor(() => !alive(server), 10000)).toBe(true);
    expect(await refused(srv.port)).toBe(true);
  });
});
