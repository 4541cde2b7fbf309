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
