#!/usr/bin/env node
// The blocking pool against Node's own threadpool, in one run: lookupHost('localhost') vs
// dns.promises.lookup('localhost'), and a 4 KiB fs.readFile vs fs.promises.readFile, as
// operations per second. Run after `npm run build:all` (`npm run bench:pool` does both):
//   node bench/pool.js [--json] [--reps N]
//
// Each cell is measured one call at a time (latency: one hop to a pool thread and back per call)
// and with 64 calls in flight (throughput of the pool). polled runs under blockOn with its default
// 4 pool threads; Node on its event loop with libuv's default 4 threadpool threads. The reps are
// interleaved (every cell once per rep, in turn), so that a machine that speeds up or slows down
// during the run affects all cells alike; each figure is the median of the reps.
//
// Prints to stdout only: it never writes bench/results/ (whose latest.* files are bench/run.js's).
'use strict';
const path = require('node:path');
const os = require('node:os');
const nodeFs = require('node:fs');
const dns = require('node:dns');
const p = require(path.join(__dirname, '..', 'dist', 'cjs', 'index.js'));

const args = process.argv.slice(2);
const JSON_OUT = args.includes('--json');
const repsAt = args.indexOf('--reps');
const REPS = repsAt >= 0 ? Number(args[repsAt + 1]) : 7;
const SEQ_OPS = 2000;
const CONC_OPS = 20000;
const WINDOW = 64;

const dir = nodeFs.mkdtempSync(path.join(os.tmpdir(), 'polled-bench-pool-'));
const file = path.join(dir, '4k');
nodeFs.writeFileSync(file, Buffer.alloc(4096, 7));

const rt = new p.Runtime();
const hr = () => Number(process.hrtime.bigint());
const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];

// ---- polled: under blockOn -----------------------------------------------------------------
function polledSeq(op, n) {
  rt.blockOn(
    (function* () {
      for (let i = 0; i < n; i++) yield* op();
    })(),
  );
}
function polledConc(op, n) {
  function* worker(k) {
    for (let i = 0; i < k; i++) yield* op();
  }
  rt.blockOn(p.joinAll(Array.from({ length: WINDOW }, () => worker(n / WINDOW))));
}

// ---- Node: on its event loop ---------------------------------------------------------------
async function nodeSeq(op, n) {
  for (let i = 0; i < n; i++) await op();
}
async function nodeConc(op, n) {
  const worker = async (k) => {
    for (let i = 0; i < k; i++) await op();
  };
  await Promise.all(Array.from({ length: WINDOW }, () => worker(n / WINDOW)));
}

const polledLookup = () => p.lookupHost('localhost');
const nodeLookup = () => dns.promises.lookup('localhost');
const polledRead = () => p.fs.readFile(file);
const nodeRead = () => nodeFs.promises.readFile(file);

const cells = [
  ['lookup localhost, 1 in flight', 'polled lookupHost', () => polledSeq(polledLookup, SEQ_OPS), SEQ_OPS],
  ['lookup localhost, 1 in flight', 'node dns.promises.lookup', () => nodeSeq(nodeLookup, SEQ_OPS), SEQ_OPS],
  [`lookup localhost, ${WINDOW} in flight`, 'polled lookupHost', () => polledConc(polledLookup, CONC_OPS), CONC_OPS],
  [`lookup localhost, ${WINDOW} in flight`, 'node dns.promises.lookup', () => nodeConc(nodeLookup, CONC_OPS), CONC_OPS],
  ['readFile 4 KiB, 1 in flight', 'polled fs.readFile', () => polledSeq(polledRead, SEQ_OPS), SEQ_OPS],
  ['readFile 4 KiB, 1 in flight', 'node fs.promises.readFile', () => nodeSeq(nodeRead, SEQ_OPS), SEQ_OPS],
  [`readFile 4 KiB, ${WINDOW} in flight`, 'polled fs.readFile', () => polledConc(polledRead, CONC_OPS), CONC_OPS],
  [`readFile 4 KiB, ${WINDOW} in flight`, 'node fs.promises.readFile', () => nodeConc(nodeRead, CONC_OPS), CONC_OPS],
];

async function main() {
  // Warm-up: JIT, the pool's threads, libuv's threadpool, the page cache.
  for (const [, , fn] of cells) await fn();
  const samples = cells.map(() => []);
  for (let r = 0; r < REPS; r++) {
    for (let i = 0; i < cells.length; i++) {
      const [, , fn, ops] = cells[i];
      const t0 = hr();
      await fn();
      samples[i].push((ops * 1e9) / (hr() - t0));
    }
  }
  const results = cells.map(([what, who], i) => ({ what, who, opsPerSec: Math.round(median(samples[i])) }));
  if (JSON_OUT) {
    console.log(JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, reps: REPS, results }, null, 2));
  } else {
    console.log(`blocking pool vs Node's threadpool (${os.cpus().length} CPUs, ${os.cpus()[0]?.model ?? '?'}, Node ${process.version}; median of ${REPS} interleaved reps)`);
    for (let i = 0; i < results.length; i += 2) {
      const a = results[i];
      const b = results[i + 1];
      console.log(`${a.what}`);
      console.log(`  ${a.who.padEnd(28)} ${String(a.opsPerSec).padStart(9)} ops/s`);
      console.log(`  ${b.who.padEnd(28)} ${String(b.opsPerSec).padStart(9)} ops/s   polled/node = ${(a.opsPerSec / b.opsPerSec).toFixed(2)}`);
    }
  }
}

main()
  .finally(() => {
    rt.close();
    nodeFs.rmSync(dir, { recursive: true, force: true });
  })
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
