// bench/run.js: only a full run replaces the committed bench/results/latest.*; a quick or
// narrowed run writes elsewhere, so a smoke run never overwrites the figures the README cites.
import * as path from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const bench = require('../bench/run.js') as {
  RESULTS: string;
  parseArgs(argv: string[]): { partial: string[]; out: string | null };
  resultPaths(args: unknown, stamp: string): { full: boolean; json: string; md: string; svg: string; stamped: string | null };
};

const paths = (...opts: string[]) => bench.resultPaths(bench.parseArgs(['node', 'run.js', ...opts]), 'STAMP');
const latest = ['latest.json', 'latest.md', 'latest.svg'].map((f) => path.join(bench.RESULTS, f));

describe('bench result files', () => {
  test('a full run (no options) writes latest.* and a stamped copy', () => {
    const p = paths();
    expect(p.full).toBe(true);
    expect([p.json, p.md, p.svg]).toEqual(latest);
    expect(p.stamped).toBe(path.join(bench.RESULTS, 'STAMP.json'));
  });

  test.each([['--quick'], ['--servers', 'c-epoll'], ['--conns=100'], ['--sizes', '64'], ['--reps', '1'], ['--duration', '0.5'], ['--warmup', '0'], ['--pipeline', '4'], ['--no-pin']])(
    '%s never touches latest.*',
    (...opts) => {
      const p = paths(...opts);
      expect(p.full).toBe(false);
      for (const f of [p.json, p.md, p.svg, p.stamped]) expect(latest).not.toContain(f);
      expect(p.json).toBe(path.join(bench.RESULTS, 'runs', 'STAMP-partial.json'));
    },
  );

  test('--out puts any run where it says', () => {
    const p = paths('--quick', '--out', '/tmp/somewhere');
    expect(p.json).toBe('/tmp/somewhere/STAMP-partial.json');
    expect(paths('--out=/tmp/full').json).toBe('/tmp/full/STAMP.json');
  });
});
