#!/usr/bin/env node
// Micro-benchmarks of the runtime's own costs, printed as ns/op. Run after `npm run build:all`:
//   node bench/micro.js [--json]
// Each figure is the median of 5 rounds; a round runs the operation many times in a tight loop.
'use strict';
const path = require('node:path');
const fs = require('node:fs');
const p = require(path.join(__dirname, '..', 'dist', 'cjs', 'index.js'));
const { native } = require(path.join(__dirname, '..', 'dist', 'cjs', 'native.js'));
const io = require(path.join(__dirname, '..', 'dist', 'cjs', 'io.js'));

const ROUNDS = 5;
const hr = () => Number(process.hrtime.bigint());
const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];
const results = [];
function report(name, nsPerOp, extra = '') {
  results.push({ name, nsPerOp: Math.round(nsPerOp * 10) / 10, extra });
  console.log(`${name.padEnd(44)} ${nsPerOp.toFixed(1).padStart(10)} ns/op ${extra}`);
}
function bench(name, ops, fn, extra) {
  const xs = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = hr();
    fn();
    xs.push((hr() - t0) / ops);
  }
  report(name, median(xs), extra);
}

const rt = new p.Runtime();

// spawn + complete: a task that returns at once, spawned and driven to completion.
{
  const N = 100_000;
  // One generator function, defined once, as real code does (a function* expression evaluated
  // per call makes a new prototype each time and measures V8's megamorphic lookups instead).
  function* leaf(i) {
    return i;
  }
  bench('spawn + complete (per task)', N, () => {
    rt.blockOn(
      (function* () {
        const hs = new Array(N);
        for (let i = 0; i < N; i++) hs[i] = rt.spawn(leaf(i));
        for (let i = 0; i < N; i++) yield* hs[i];
      })(),
    );
  });
}

// wake → poll: one task yields (wakes itself) N times; each round trip is a wake and a poll.
{
  const N = 1_000_000;
  bench('wake → poll (yieldNow round trip)', N, () => {
    rt.blockOn(
      (function* () {
        for (let i = 0; i < N; i++) yield* p.yieldNow();
      })(),
    );
  });
}

// Timers: 100k inserted, 50k cancelled, the rest fired, straight on the heap.
{
  const N = 100_000;
  const w = new p.Waker({ wakeByRef() {} });
  const entries = new Array(N);
  const xs = { insert: [], cancel: [], fire: [] };
  for (let r = 0; r < ROUNDS; r++) {
    const t = rt.timers;
    let t0 = hr();
    for (let i = 0; i < N; i++) entries[i] = t.insert((i * 7919) % 10_000, w);
    xs.insert.push((hr() - t0) / N);
    t0 = hr();
    for (let i = 0; i < N; i += 2) t.cancel(entries[i]);
    xs.cancel.push((hr() - t0) / (N / 2));
    t0 = hr();
    t.fire(Infinity);
    xs.fire.push((hr() - t0) / (N / 2));
  }
  report('timer insert (100k pending)', median(xs.insert));
  report('timer cancel (of 100k)', median(xs.cancel));
  report('timer fire (50k due)', median(xs.fire));
}

// 100k sleeping tasks end to end under a paused clock: spawn, park, auto-advance, fire, finish.
{
  const N = 100_000;
  function* sleeper(ms) {
    yield* p.sleep(ms);
  }
  bench('100k sleep tasks, paused clock (per task)', N, () => {
    const r2 = new p.Runtime();
    r2.blockOn(
      (function* () {
        p.pauseClock();
        const hs = new Array(N);
        for (let i = 0; i < N; i++) hs[i] = r2.spawn(sleeper(1 + (i % 1000)));
        for (let i = 0; i < N; i++) yield* hs[i];
      })(),
    );
    r2.close();
  });
}

// JS → native crossing: a read on an empty pipe (returns -EAGAIN at once: the crossing plus one syscall),
// and a read of 1 byte that is there.
{
  const [rh, wh] = native.pipe();
  const buf = Buffer.alloc(64);
  const N = 500_000;
  bench('native.read, empty pipe (crossing + EAGAIN)', N, () => {
    for (let i = 0; i < N; i++) native.read(rh, buf, 0, 64);
  });
  const one = Buffer.from('x');
  bench('native.write 1 B + native.read 1 B (pipe)', N, () => {
    for (let i = 0; i < N; i++) {
      native.write(wh, one, 0, 1);
      native.read(rh, buf, 0, 64);
    }
  }, '(2 crossings, 2 syscalls)');
  bench('native.fdOf (an empty crossing)', N * 4, () => {
    for (let i = 0; i < N * 4; i++) native.fdOf(rh);
  });
  native.close(rh);
  native.close(wh);
}

// Events per wait batch: 256 pipes made readable, then one pollerWait + dispatch reports them all.
// Only the wait + dispatch is timed (per event); the writes and reads that re-arm the edges are not.
{
  const K = 256;
  const ends = [];
  for (let i = 0; i < K; i++) ends.push(io.pipe(rt));
  const one = Buffer.from('y');
  const scratch = Buffer.alloc(8);
  const N = 2_000;
  const xs = [];
  let events = 0;
  let waits = 0;
  for (let r = 0; r < ROUNDS; r++) {
    let ns = 0;
    for (let n = 0; n < N; n++) {
      for (const [, w] of ends) native.write(w.handle, one, 0, 1);
      const t0 = hr();
      const c = native.pollerWait(rt.poller, 0);
      rt.reactor.dispatch(c);
      ns += hr() - t0;
      events += c;
      waits++;
      for (const [rd] of ends) native.read(rd.handle, scratch, 0, 8);
    }
    xs.push(ns / (N * K));
  }
  report(`pollerWait + dispatch, batch of ${K} (per event)`, median(xs), `(${(events / waits).toFixed(1)} events per wait)`);
  for (const [rd, w] of ends) {
    rd.close();
    w.close();
  }
}

rt.close();
const outDir = path.join(__dirname, 'results');
fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, 'micro.json'), JSON.stringify({ date: new Date().toISOString(), node: process.version, results }, null, 2) + '\n');
