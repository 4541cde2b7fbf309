#!/usr/bin/env node
'use strict';
// Draw a polled trace (Chrome trace-event JSON: POLLED_TRACE=out.json, runtime.trace.writeFile)
// as an SVG timeline: per runtime track, one row for the reactor's waits and one row per task;
// a bar per poll, a tick per wake (coloured by its source), the run queue's depth as a line.
//
//   npm run trace:svg out.json [-- --out out.svg] [--width 1100] [--from MS] [--to MS] [--max-tasks 24]
//
// --from / --to cut a window (ms from the trace's first event); by default the whole trace. The
// SVG goes to --out (default: the input with .svg), and has no script or external reference.

const fs = require('node:fs');

const SOURCE_COLORS = { reactor: '#d62728', timer: '#9467bd', task: '#2ca02c', thread: '#ff7f0e', spawn: '#7f7f7f', external: '#17becf' };
const POLL_COLOR = '#1f77b4';
const WAIT_COLOR = '#c7c7c7';

function usage(msg) {
  if (msg) process.stderr.write(`trace-svg: ${msg}\n`);
  process.stderr.write('usage: npm run trace:svg <trace.json> [-- --out out.svg] [--width N] [--from MS] [--to MS] [--max-tasks N]\n');
  process.exit(msg ? 64 : 0);
}

function parseArgs(argv) {
  const a = { input: null, out: null, width: 1100, from: null, to: null, maxTasks: 24 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v)) usage(`${k} needs a number`);
      return v;
    };
    if (k === '-h' || k === '--help') usage();
    else if (k === '--out' || k === '-o') a.out = argv[++i];
    else if (k === '--width') a.width = num();
    else if (k === '--from') a.from = num();
    else if (k === '--to') a.to = num();
    else if (k === '--max-tasks') a.maxTasks = num();
    else if (k.startsWith('-')) usage(`unknown option ${k}`);
    else if (a.input === null) a.input = k;
    else usage(`one trace file, got also ${k}`);
  }
  if (a.input === null) usage('no trace file');
  if (a.width < 300 || a.width > 10000) usage('--width must be in 300..10000');
  return a;
}

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
const f1 = (x) => Math.round(x * 10) / 10;

/** Polls, wakes, waits and queue samples per track, in ms from the trace's start. */
function model(events) {
  const t0 = Math.min(...events.filter((e) => e.ph !== 'M').map((e) => e.ts));
  const tracks = new Map();
  const track = (tid) => {
    let t = tracks.get(tid);
    if (t === undefined) {
      t = { tid, name: `track ${tid}`, tasks: new Map(), waits: [], queue: [], open: null };
      tracks.set(tid, t);
    }
    return t;
  };
  const task = (t, id, name) => {
    let k = t.tasks.get(id);
    if (k === undefined) {
      k = { id, name: name || `task ${id}`, polls: [], wakes: [] };
      t.tasks.set(id, k);
    } else if (name && k.name === `task ${id}`) k.name = name;
    return k;
  };
  for (const e of events) {
    const t = track(e.tid);
    const ms = (e.ts - t0) / 1000;
    if (e.ph === 'M' && e.name === 'thread_name') t.name = e.args.name;
    else if (e.ph === 'B') t.open = { id: e.args.task, name: e.name, start: ms };
    else if (e.ph === 'E' && t.open !== null) {
      task(t, t.open.id, t.open.name).polls.push([t.open.start, ms]);
      t.open = null;
    } else if (e.ph === 'i') task(t, e.args.task).wakes.push([ms, e.args.source]);
    else if (e.ph === 'X') t.waits.push([ms, ms + e.dur / 1000, e.name]);
    else if (e.ph === 'C') t.queue.push([ms, e.args.depth]);
  }
  return [...tracks.values()];
}

function render(tracks, a) {
  let end = 0;
  for (const t of tracks) {
    for (const k of t.tasks.values()) for (const [, e] of k.polls) end = Math.max(end, e);
    for (const [, e] of t.waits) end = Math.max(end, e);
  }
  const from = a.from ?? 0;
  const to = a.to ?? (end || 1);
  if (!(to > from)) usage('--to must be after --from');
  const LEFT = 170, RIGHT = 16, ROW = 16, TOP = 34;
  const W = a.width;
  const x = (ms) => LEFT + ((ms - from) / (to - from)) * (W - LEFT - RIGHT);
  const inWin = (s, e) => e >= from && s <= to;
  const out = [];
  let y = TOP;
  for (const t of tracks) {
    out.push(`<text x="6" y="${y + 11}" font-weight="bold">${esc(t.name)}</text>`);
    y += ROW;
    // The run queue: a step line over the reactor row.
    const maxQ = Math.max(1, ...t.queue.map(([, d]) => d));
    out.push(`<text x="14" y="${y + 11}" fill="#555">reactor waits · run queue (max ${maxQ})</text>`);
    for (const [s, e, name] of t.waits) {
      if (!inWin(s, e)) continue;
      out.push(`<rect x="${f1(x(Math.max(s, from)))}" y="${y + 3}" width="${f1(Math.max(0.5, x(Math.min(e, to)) - x(Math.max(s, from))))}" height="${ROW - 6}" fill="${WAIT_COLOR}"><title>${esc(name)} ${f1(e - s)} ms</title></rect>`);
    }
    const pts = [];
    let last = 0;
    for (const [ms, d] of t.queue) {
      if (ms < from || ms > to) continue;
      const yy = y + ROW - 2 - (d / maxQ) * (ROW - 4);
      pts.push(`${f1(x(ms))},${f1(y + ROW - 2 - (last / maxQ) * (ROW - 4))}`, `${f1(x(ms))},${f1(yy)}`);
      last = d;
    }
    if (pts.length) out.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="#333" stroke-width="0.8"/>`);
    y += ROW;
    const tasks = [...t.tasks.values()].filter((k) => k.polls.some(([s, e]) => inWin(s, e)) || k.wakes.some(([ms]) => ms >= from && ms <= to));
    tasks.sort((p, q) => p.id - q.id);
    const shown = tasks.slice(0, a.maxTasks);
    for (const k of shown) {
      out.push(`<text x="14" y="${y + 11}">${esc(`${k.id} ${k.name}`.slice(0, 26))}</text>`);
      out.push(`<line x1="${LEFT}" x2="${W - RIGHT}" y1="${y + ROW / 2}" y2="${y + ROW / 2}" stroke="#eee"/>`);
      for (const [s, e] of k.polls) {
        if (!inWin(s, e)) continue;
        out.push(`<rect x="${f1(x(s))}" y="${y + 2}" width="${f1(Math.max(0.8, x(e) - x(s)))}" height="${ROW - 4}" fill="${POLL_COLOR}"><title>poll of ${esc(k.name)}: ${f1((e - s) * 1000)} µs at ${f1(s)} ms</title></rect>`);
      }
      for (const [ms, src] of k.wakes) {
        if (ms < from || ms > to) continue;
        out.push(`<line x1="${f1(x(ms))}" x2="${f1(x(ms))}" y1="${y}" y2="${y + ROW}" stroke="${SOURCE_COLORS[src] || '#000'}" stroke-width="1"><title>wake (${esc(src)}) at ${f1(ms)} ms</title></line>`);
      }
      y += ROW;
    }
    if (tasks.length > shown.length) {
      out.push(`<text x="14" y="${y + 11}" fill="#555">… ${tasks.length - shown.length} more tasks (--max-tasks)</text>`);
      y += ROW;
    }
    y += 6;
  }
  // Time axis and legend.
  const axis = [];
  const span = to - from;
  const step = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000].find((s) => span / s <= 10) || span / 10;
  for (let v = Math.ceil(from / step) * step; v <= to + 1e-9; v += step) {
    axis.push(`<line x1="${f1(x(v))}" x2="${f1(x(v))}" y1="${TOP - 6}" y2="${y}" stroke="#f3f3f3"/>`);
    axis.push(`<text x="${f1(x(v))}" y="${TOP - 9}" text-anchor="middle" fill="#555">${f1(v)} ms</text>`);
  }
  const legend = [['poll', POLL_COLOR], ['wait', WAIT_COLOR], ...Object.entries(SOURCE_COLORS).map(([k, c]) => [`wake: ${k}`, c])];
  const lg = legend.map(([name, c], i) => `<rect x="${6 + i * 100}" y="${y + 6}" width="10" height="10" fill="${c}"/><text x="${20 + i * 100}" y="${y + 15}">${esc(name)}</text>`);
  const H = y + 26;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">\n` +
    `<rect width="${W}" height="${H}" fill="#fff"/>\n${axis.join('\n')}\n${out.join('\n')}\n${lg.join('\n')}\n</svg>\n`
  );
}

function main() {
  const a = parseArgs(process.argv.slice(2));
  let doc;
  try {
    doc = JSON.parse(fs.readFileSync(a.input, 'utf8'));
  } catch (e) {
    usage(`cannot read ${a.input}: ${e.message}`);
  }
  const events = Array.isArray(doc) ? doc : doc.traceEvents;
  if (!Array.isArray(events) || events.length === 0) usage(`${a.input} has no trace events`);
  const svg = render(model(events), a);
  const out = a.out ?? a.input.replace(/\.json$/, '') + '.svg';
  fs.writeFileSync(out, svg);
  process.stderr.write(`trace-svg: wrote ${out} (${(svg.length / 1024).toFixed(1)} KiB)\n`);
}

if (require.main === module) main();
module.exports = { model, render };
