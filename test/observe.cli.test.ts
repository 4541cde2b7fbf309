// `polled echo --stats N` and SIGUSR2 (lib/cli.ts seeInside), and POLLED_TRACE=out.json writing a
// trace at exit, against the built CLI (dist/).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseEchoArgs } from '../lib/cli';
import type { TraceEvent } from '../lib/trace';
import { CLI, ROOT, killAll, nodeEcho, requireBuild, startServer, waitFor } from './fixtures/servers';

beforeAll(requireBuild);
afterAll(killAll);

test('--stats takes a positive number of seconds; not with --threads or --udp', () => {
  expect(parseEchoArgs(['--stats', '5']).stats).toBe(5);
  expect(parseEchoArgs(['--stats=0.5']).stats).toBe(0.5);
  expect(() => parseEchoArgs(['--stats', '0'])).toThrow(/--stats/);
  expect(() => parseEchoArgs(['--stats', 'x'])).toThrow(/--stats/);
  expect(() => parseEchoArgs(['--stats', '1', '--threads', '2'])).toThrow(/--threads/);
  expect(() => parseEchoArgs(['--stats', '1', '--udp'])).toThrow(/--udp/);
});

test('polled echo --stats prints metric lines to stderr, and SIGUSR2 the task dump', async () => {
  const srv = await startServer([process.execPath, CLI, 'echo', '--port', '0', '--stats', '0.2']);
  try {
    expect((await nodeEcho(srv, Buffer.from('hi'))).toString()).toBe('hi');
    expect(await waitFor(() => /polled stats: tasks \d+ alive .*polls \d+\/s.*wakes reactor \d+/.test(srv.stderr()), 10000)).toBe(true);
    srv.child.kill('SIGUSR2');
    expect(await waitFor(() => /runtime 1 \(main thread\): \d+ live task/.test(srv.stderr()), 10000)).toBe(true);
    expect(srv.stderr()).toMatch(/task \d+ \(echo server\), idle.*\n(.*\n)*\s+waiting on select of 2, 2 running: CancellationToken\.cancelled \| TcpListener\.accept fd \d+ 127\.0\.0\.1:\d+/);
  } finally {
    expect(await srv.stop('SIGINT')).toEqual({ code: 0, signal: null });
  }
});

test('POLLED_TRACE=out.json writes a Chrome trace of the run at exit, and trace:svg draws it', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'polled-trace-'));
  const file = path.join(dir, 'out.json');
  try {
    const srv = await startServer([process.execPath, CLI, 'echo', '--port', '0'], 20000, { ...process.env, POLLED_TRACE: file });
    expect((await nodeEcho(srv, Buffer.from('hello'))).toString()).toBe('hello');
    expect(await srv.stop('SIGINT')).toEqual({ code: 0, signal: null });
    const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as { traceEvents: TraceEvent[] };
    const names = new Set(doc.traceEvents.filter((e) => e.ph === 'B').map((e) => e.name));
    expect(names).toContain('echo server');
    expect(names).toContain('connection');
    expect(doc.traceEvents.some((e) => e.ph === 'i' && e.args?.source === 'reactor')).toBe(true);
    expect(doc.traceEvents.some((e) => e.ph === 'X' && e.name === 'node loop')).toBe(true);
    const r = await new Promise<number | null>((resolve) => {
      const c = spawn(process.execPath, [path.join(ROOT, 'scripts', 'trace-svg.js'), file], { stdio: 'ignore' });
      c.on('exit', resolve);
    });
    expect(r).toBe(0);
    const svg = fs.readFileSync(path.join(dir, 'out.svg'), 'utf8');
    expect(svg.startsWith('<svg ')).toBe(true);
    expect(svg).toContain('connection');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('POLLED_TRACE with --threads 2: one track per worker thread, merged into the one file', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'polled-trace-'));
  const file = path.join(dir, 'out.json');
  try {
    const srv = await startServer([process.execPath, CLI, 'echo', '--port', '0', '--threads', '2', '--quiet'], 20000, { ...process.env, POLLED_TRACE: file });
    for (let i = 0; i < 4; i++) expect((await nodeEcho(srv, Buffer.from(`m${i}`))).toString()).toBe(`m${i}`);
    expect(await srv.stop('SIGINT')).toEqual({ code: 0, signal: null });
    const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as { traceEvents: TraceEvent[] };
    const tracks = doc.traceEvents.filter((e) => e.ph === 'M').map((e) => String(e.args?.name));
    expect(tracks.sort()).toEqual(['runtime 1 (worker thread 1)', 'runtime 1 (worker thread 2)']);
    expect(fs.readdirSync(dir)).toEqual(['out.json']); // the workers' own files were folded in
    for (const tid of new Set(doc.traceEvents.map((e) => e.tid))) {
      const polls = doc.traceEvents.filter((e) => e.tid === tid && e.ph === 'B');
      expect(polls.length).toBeGreaterThan(0);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
