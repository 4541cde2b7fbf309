// The README's examples run as written.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { nodeEcho } from './helpers';

const root = path.resolve(__dirname, '..');

test('examples/hello.ts (the README first program) prints both results, b first', () => {
  const out = execFileSync(process.execPath, [path.join(root, 'scripts', 'ts-run.js'), path.join(root, 'examples', 'hello.ts')], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  expect(out).toBe('b slept 10 ms\na slept 30 ms\n');
});

test('examples/echo-server.ts and examples/echo-client.ts talk to each other', async () => {
  const { spawn, execFile } = await import('node:child_process');
  const run = path.join(root, 'scripts', 'ts-run.js');
  const server = spawn(process.execPath, [run, path.join(root, 'examples', 'echo-server.ts'), '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const addr = await new Promise<string>((resolve, reject) => {
      let out = '';
      server.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening on (\S+)/.exec(out);
        if (m) resolve(m[1]);
      });
      server.on('exit', (code) => reject(new Error(`echo-server exited early (${code}): ${out}`)));
    });
    const reply = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [run, path.join(root, 'examples', 'echo-client.ts'), addr, 'hello, echo'], { timeout: 30_000 }, (err, stdout) =>
        err ? reject(err) : resolve(stdout),
      ),
    );
    expect(reply).toBe('hello, echo\n');
  } finally {
    server.kill('SIGKILL');
  }
});

test('examples/threads-server.mjs (the README threads example) serves from 2 workers and stops them on SIGINT', async () => {
  const { spawn } = await import('node:child_process');
  const net = await import('node:net');
  // Plain ES modules: `import 'polled'` resolves to this package's built dist/ (self-reference).
  const server = spawn(process.execPath, [path.join(root, 'examples', 'threads-server.mjs'), '0', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  server.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => server.on('exit', (code) => resolve(code)));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const t = setInterval(() => {
        const m = /listening on 127\.0\.0\.1:(\d+) with 2 workers/.exec(out);
        if (m) {
          clearInterval(t);
          resolve(Number(m[1]));
        }
      }, 20);
      void exited.then((code) => reject(new Error(`exited early (${code}): ${out}`)));
    });
    for (let i = 0; i < 20; i++) {
      const reply = await new Promise<string>((resolve, reject) => {
        let got = '';
        const s = net.connect(port, '127.0.0.1', () => s.end(`hello ${i}`));
        s.on('data', (d) => (got += d.toString()));
        s.on('close', () => resolve(got));
        s.on('error', reject);
      });
      expect(reply).toBe(`hello ${i}`);
    }
    server.kill('SIGINT');
    expect(await exited).toBe(0);
    const counts = [...out.matchAll(/worker \d: (\d+) connections/g)].map((m) => Number(m[1]));
    expect(counts).toHaveLength(2);
    expect(counts[0] + counts[1]).toBe(20);
  } finally {
    server.kill('SIGKILL');
  }
});

describe('examples/echo-server.ts handles its own errors', () => {
  const run = path.join(root, 'scripts', 'ts-run.js');
  const file = path.join(root, 'examples', 'echo-server.ts');

  test('a client that resets its connection is not reported: stderr stays empty, the server keeps serving', async () => {
    const { spawn } = await import('node:child_process');
    const server = spawn(process.execPath, [run, file, '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    server.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        server.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
          if (m) resolve(Number(m[1]));
        });
        server.on('exit', (code) => reject(new Error(`echo-server exited early (${code}): ${out}${stderr}`)));
      });
      const echo = (msg: string, reset: boolean): Promise<string> => nodeEcho(port, msg, reset);
      // The server is writing a large reply when the client resets: its write fails (ECONNRESET / EPIPE).
      for (let i = 0; i < 5; i++) await echo('x'.repeat(64 * 1024), true);
      expect(await echo('still there', false)).toBe('still there');
      await new Promise((r) => setTimeout(r, 100)); // give a report the time it would need to show
      expect(stderr).toBe('');
    } finally {
      server.kill('SIGKILL');
    }
  });

  test('on a port already in use it says so and exits 1 (the failure of main, which nothing awaits)', async () => {
    const net = await import('node:net');
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const { execFile } = await import('node:child_process');
      const r = await new Promise<{ code: number | null; stderr: string }>((resolve) =>
        execFile(process.execPath, [run, file, `127.0.0.1:${port}`], { timeout: 30_000 }, (err, _out, stderr) =>
          resolve({ code: err === null ? 0 : (err.code as number), stderr }),
        ),
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/failed and nothing awaits its JoinHandle:\nIoError: bind EADDRINUSE/);
    } finally {
      taken.close();
    }
  });
});

test('examples/line-server.ts (BufReader line protocol) answers PING, ECHO, an unknown command, a too-long line and QUIT', async () => {
  const { spawn } = await import('node:child_process');
  const net = await import('node:net');
  const server = spawn(process.execPath, [path.join(root, 'scripts', 'ts-run.js'), path.join(root, 'examples', 'line-server.ts'), '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      server.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      server.on('exit', (code) => reject(new Error(`line-server exited early (${code}): ${out}`)));
    });
    const talk = (text: string): Promise<string> =>
      new Promise<string>((resolve, reject) => {
        let got = '';
        const s = net.connect(port, '127.0.0.1', () => s.end(text));
        s.on('data', (d) => (got += d.toString()));
        s.on('close', () => resolve(got));
        s.on('error', reject);
      });
    expect(await talk('PING\r\nECHO hello there\nfoo\n' + 'x'.repeat(5000) + '\nQUIT\nPING\n')).toBe(
      'PONG\nhello there\nERR unknown command "foo"\nERR line too long\nBYE\n',
    );
    // Commands split anywhere across packets, and a last line without its newline.
    expect(await talk('PI')).toBe('ERR unknown command "PI"\n');
  } finally {
    server.kill('SIGKILL');
  }
});

test('examples/pipeline.ts (pipeline over toDuplex) upper-cases what a node:net client sends, and exits', () => {
  const out = execFileSync(process.execPath, [path.join(root, 'scripts', 'ts-run.js'), path.join(root, 'examples', 'pipeline.ts'), 'shout, please'], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  expect(out).toBe('SHOUT, PLEASE\n');
});
