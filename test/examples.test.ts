// The README's examples run as written.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

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
