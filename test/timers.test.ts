// The timer queue (lib/timers.ts) on its own: a min-heap of deadlines driven with explicit times,
// no runtime and no real clock. Deadline order, insertion order on ties, cancel, nextDeadline, size,
// firing never early, and a seeded random workload checked against a sorted-list model; then the
// Clock the queue is read on (paused, advanced, resumed).
//
// Nothing here loads the native addon (./core-helpers is core only), so this file also runs where
// the addon cannot load.
import { Waker } from '../lib/future';
import { Clock, Timers, type TimerEntry } from '../lib/timers';
import { rng } from './core-helpers';

/** A queue whose entries log their label when woken: `add(deadline, label)` inserts one. */
function recorder() {
  const timers = new Timers();
  const fired: (string | number)[] = [];
  const add = (deadline: number, label: string | number = deadline): TimerEntry =>
    timers.insert(deadline, new Waker({ wakeByRef: () => fired.push(label) }));
  return { timers, fired, add };
}

describe('Timers', () => {
  test('an empty queue has no deadline, no entries, and fires nothing', () => {
    const { timers, fired } = recorder();
    expect(timers.nextDeadline()).toBe(Infinity);
    expect(timers.size).toBe(0);
    expect(timers.fire(Infinity)).toBe(0);
    expect(fired).toEqual([]);
  });

  test('entries fire in deadline order, whatever order they were inserted in', () => {
    const { timers, fired, add } = recorder();
    for (const d of [50, 10, 40, 20, 30]) add(d);
    expect(timers.fire(100)).toBe(5);
    expect(fired).toEqual([10, 20, 30, 40, 50]);
  });

  test('entries with equal deadlines fire in the order they were inserted', () => {
    const { timers, fired, add } = recorder();
    // Ties interleaved with other deadlines, so the heap has to move the tied entries around.
    add(20, 'a');
    add(10, 'x');
    add(20, 'b');
    add(5, 'y');
    add(20, 'c');
    add(20, 'd');
    add(15, 'z');
    timers.fire(100);
    expect(fired).toEqual(['y', 'x', 'z', 'a', 'b', 'c', 'd']);
  });

  test('1,000 entries with one deadline fire in insertion order', () => {
    const { timers, fired, add } = recorder();
    for (let i = 0; i < 1000; i++) add(7, i);
    timers.fire(7);
    expect(fired).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  test('firing at time t fires exactly the entries due at or before t, never one early', () => {
    const { timers, fired, add } = recorder();
    for (const d of [10, 20, 30]) add(d);
    expect(timers.fire(9.999)).toBe(0); // nothing is due yet
    expect(fired).toEqual([]);
    expect(timers.fire(10)).toBe(1); // a deadline equal to now is due
    expect(fired).toEqual([10]);
    expect(timers.fire(29.999)).toBe(1);
    expect(fired).toEqual([10, 20]);
    expect(timers.size).toBe(1);
    expect(timers.nextDeadline()).toBe(30);
    expect(timers.fire(1000)).toBe(1);
    expect(fired).toEqual([10, 20, 30]);
  });

  test('an entry whose deadline has already passed fires at the next fire', () => {
    const { timers, fired, add } = recorder();
    timers.fire(100);
    add(50, 'past');
    add(150, 'future');
    expect(timers.nextDeadline()).toBe(50);
    expect(timers.fire(100)).toBe(1);
    expect(fired).toEqual(['past']);
  });

  test('an entry fires at most once', () => {
    const { timers, fired, add } = recorder();
    add(10);
    expect(timers.fire(10)).toBe(1);
    expect(timers.fire(10)).toBe(0);
    expect(timers.fire(Infinity)).toBe(0);
    expect(fired).toEqual([10]);
  });

  test('a cancelled entry never fires and is removed from the queue', () => {
    const { timers, fired, add } = recorder();
    add(10, 'a');
    const b = add(20, 'b');
    add(30, 'c');
    timers.cancel(b);
    expect(timers.size).toBe(2);
    expect(timers.fire(Infinity)).toBe(2);
    expect(fired).toEqual(['a', 'c']);
  });

  test('cancelling the earliest entry moves nextDeadline to the next live one', () => {
    const { timers, fired, add } = recorder();
    const first = add(10);
    add(30);
    add(20);
    timers.cancel(first);
    expect(timers.nextDeadline()).toBe(20);
    expect(timers.fire(10)).toBe(0);
    expect(fired).toEqual([]);
  });

  test('cancelling an entry that already fired or was already cancelled does nothing', () => {
    const { timers, fired, add } = recorder();
    const early = add(1, 'early');
    const gone = add(2, 'gone');
    add(3, 'kept1');
    add(4, 'kept2');
    timers.fire(1);
    timers.cancel(gone);
    expect(timers.size).toBe(2);
    timers.cancel(early); // fired
    timers.cancel(gone); // cancelled twice
    expect(timers.size).toBe(2);
    expect(timers.nextDeadline()).toBe(3);
    timers.fire(Infinity);
    expect(fired).toEqual(['early', 'kept1', 'kept2']);
  });

  test('cancelling entries from the middle of the queue keeps the rest in order', () => {
    const { timers, fired, add } = recorder();
    const rand = rng(3);
    const entries = Array.from({ length: 200 }, (_, i) => ({ i, d: Math.floor(rand() * 50), e: null as TimerEntry | null }));
    for (const x of entries) x.e = add(x.d, x.i);
    for (const x of entries) if (x.i % 3 === 1) timers.cancel(x.e!);
    const live = entries.filter((x) => x.i % 3 !== 1);
    expect(timers.size).toBe(live.length);
    timers.fire(Infinity);
    expect(fired).toEqual(live.sort((a, b) => a.d - b.d || a.i - b.i).map((x) => x.i));
  });

  test('nextDeadline reports the earliest live deadline, Infinity once the queue is empty', () => {
    const { timers, add } = recorder();
    add(30);
    expect(timers.nextDeadline()).toBe(30);
    add(40);
    expect(timers.nextDeadline()).toBe(30);
    const e = add(5);
    expect(timers.nextDeadline()).toBe(5);
    timers.cancel(e);
    expect(timers.nextDeadline()).toBe(30);
    timers.fire(30);
    expect(timers.nextDeadline()).toBe(40);
    timers.fire(40);
    expect(timers.nextDeadline()).toBe(Infinity);
  });

  test('size counts live entries: inserted ones, less those fired or cancelled', () => {
    const { timers, add } = recorder();
    const a = add(1);
    add(2);
    add(3);
    expect(timers.size).toBe(3);
    timers.cancel(a);
    expect(timers.size).toBe(2);
    timers.fire(2);
    expect(timers.size).toBe(1);
    timers.fire(3);
    expect(timers.size).toBe(0);
  });

  test('an entry reports whether it is still queued: `fired` once it fired or was cancelled', () => {
    const { timers, add } = recorder();
    const a = add(10);
    const b = add(20);
    expect([a.fired, b.fired]).toEqual([false, false]);
    expect(a.deadline).toBe(10);
    timers.fire(10);
    expect([a.fired, b.fired]).toEqual([true, false]);
    timers.cancel(b);
    expect(b.fired).toBe(true);
  });

  test('the waker of a queued entry can be replaced; the new one is woken', () => {
    const { timers, fired, add } = recorder();
    const e = add(10, 'old');
    e.waker = new Waker({ wakeByRef: () => fired.push('new') });
    timers.fire(10);
    expect(fired).toEqual(['new']);
  });

  test('a waker may cancel and insert entries while fire() runs: the cancelled one never fires, a later one waits', () => {
    const { timers, fired, add } = recorder();
    let victim: TimerEntry | null = null;
    timers.insert(
      10,
      new Waker({
        wakeByRef: () => {
          fired.push('first');
          timers.cancel(victim!); // due at this same fire, but cancelled before its turn
          add(50, 'inserted later');
        },
      }),
    );
    victim = add(10, 'victim');
    add(10, 'after');
    expect(timers.fire(10)).toBe(2);
    expect(fired).toEqual(['first', 'after']);
    expect(timers.size).toBe(1);
    expect(timers.nextDeadline()).toBe(50);
    timers.fire(50);
    expect(fired).toEqual(['first', 'after', 'inserted later']);
  });

  test('10,000 random deadlines come out sorted, ties in insertion order', () => {
    const { timers, fired, add } = recorder();
    const rand = rng(19);
    const deadlines: number[] = [];
    for (let i = 0; i < 10_000; i++) {
      const d = Math.floor(rand() * 2_000); // many ties
      deadlines.push(d);
      add(d, i);
    }
    // Fire in uneven steps, so that each fire stops part-way through the heap.
    for (let t = 0; timers.size > 0; t += 1 + Math.floor(rand() * 40)) {
      const before = fired.length;
      const n = timers.fire(t);
      if (fired.length - before !== n) expect({ t, woken: fired.length - before }).toEqual({ t, woken: n });
      for (let k = before; k < fired.length; k++) if (deadlines[fired[k] as number] > t) expect({ t, early: fired[k] }).toBeNull();
      if (timers.nextDeadline() <= t) expect({ t, left: timers.nextDeadline() }).toBeNull(); // something due was left behind
    }
    const expected = deadlines.map((d, i) => ({ d, i })).sort((a, b) => a.d - b.d || a.i - b.i).map((x) => x.i);
    expect(fired).toEqual(expected);
  });

  test('a random mix of inserts, cancels and fires matches a sorted-list model', () => {
    const { timers, fired, add } = recorder();
    const rand = rng(2024);
    type Live = { id: number; deadline: number; entry: TimerEntry };
    let live: Live[] = [];
    const dead: TimerEntry[] = [];
    let now = 0;
    let nextId = 0;
    for (let step = 0; step < 10_000; step++) {
      const r = rand();
      if (r < 0.5) {
        // Deadlines a little behind or ahead of now, on a coarse grid so that ties are common.
        const deadline = now + Math.floor(rand() * 60) - 10;
        const id = nextId++;
        live.push({ id, deadline, entry: add(deadline, id) });
      } else if (r < 0.7) {
        if (live.length > 0) {
          const k = Math.floor(rand() * live.length);
          timers.cancel(live[k].entry);
          dead.push(live[k].entry);
          live.splice(k, 1);
        }
      } else if (r < 0.75) {
        if (dead.length > 0) timers.cancel(dead[Math.floor(rand() * dead.length)]); // a no-op
      } else {
        now += Math.floor(rand() * 15);
        const due = live.filter((x) => x.deadline <= now).sort((a, b) => a.deadline - b.deadline || a.id - b.id);
        const before = fired.length;
        const n = timers.fire(now);
        const got = fired.slice(before);
        const want = due.map((x) => x.id);
        if (n !== due.length || got.join() !== want.join()) expect({ step, now, n, got }).toEqual({ step, now, n: due.length, got: want });
        for (const x of due) dead.push(x.entry);
        live = live.filter((x) => x.deadline > now);
      }
      // Checked on every step, but expect() is only reached on a mismatch (10,000 steps).
      const size = timers.size;
      const next = timers.nextDeadline();
      const wantNext = live.reduce((m, x) => Math.min(m, x.deadline), Infinity);
      if (size !== live.length || next !== wantNext) expect({ step, size, next }).toEqual({ step, size: live.length, next: wantNext });
    }
    expect(nextId).toBeGreaterThan(4000); // the workload did what it says
  });
});

describe('Clock', () => {
  test('a paused clock stands still until advanced, on whole milliseconds', () => {
    const clock = new Clock();
    expect(clock.paused).toBe(false);
    clock.pause();
    expect(clock.paused).toBe(true);
    const t = clock.now();
    expect(Number.isInteger(t)).toBe(true);
    expect(clock.now()).toBe(t);
    clock.advance(300);
    expect(clock.now()).toBe(t + 300);
  });

  test('pausing a paused clock keeps its time', () => {
    const clock = new Clock();
    clock.pause();
    const t = clock.now();
    clock.advance(5);
    clock.pause();
    expect(clock.now()).toBe(t + 5);
  });

  test('advanceTo moves a paused clock forward to a deadline, never backwards and never to Infinity', () => {
    const clock = new Clock();
    clock.pause();
    const t = clock.now();
    clock.advanceTo(t + 42);
    expect(clock.now()).toBe(t + 42);
    clock.advanceTo(t + 10);
    expect(clock.now()).toBe(t + 42);
    clock.advanceTo(Infinity);
    expect(clock.now()).toBe(t + 42);
  });

  test('advancing a running clock is an error that says to pause first', () => {
    const clock = new Clock();
    expect(() => clock.advance(1)).toThrow(/paused clock.*pauseClock\(\)/);
    expect(() => clock.advanceTo(1)).toThrow(/paused clock.*pauseClock\(\)/);
  });

  test('a resumed clock runs on from the paused time, not from the real clock', () => {
    const clock = new Clock();
    clock.pause();
    const t = clock.now();
    clock.advance(1_000_000);
    clock.resume();
    expect(clock.paused).toBe(false);
    expect(clock.now()).toBeGreaterThanOrEqual(t + 1_000_000);
    clock.resume(); // resuming a running clock does nothing
    expect(clock.now()).toBeGreaterThanOrEqual(t + 1_000_000);
  });

  test('advanceIfIdle jumps a paused clock to the next deadline, and does nothing otherwise', () => {
    const { timers, fired, add } = recorder();
    const clock = timers.clock;
    expect(timers.advanceIfIdle()).toBe(false); // running clock
    clock.pause();
    const t0 = clock.now();
    expect(timers.advanceIfIdle()).toBe(false); // no timer pending
    expect(clock.now()).toBe(t0);
    add(t0 + 25, 'a');
    add(t0 + 40, 'b');
    clock.autoAdvance = false;
    expect(timers.advanceIfIdle()).toBe(false); // auto-advance off
    expect(clock.now()).toBe(t0);
    clock.autoAdvance = true;
    expect(timers.advanceIfIdle()).toBe(true);
    expect(clock.now()).toBe(t0 + 25); // exactly the deadline: not past it
    expect(fired).toEqual([]); // moving the clock fires nothing by itself
    timers.fire(clock.now());
    expect(fired).toEqual(['a']);
  });

  test('a paused clock drives the queue: entries fire only as time is advanced to them', () => {
    const { timers, fired, add } = recorder();
    const clock = timers.clock;
    clock.pause();
    const t0 = clock.now();
    add(t0 + 10, 'a');
    add(t0 + 20, 'b');
    timers.fire(clock.now());
    expect(fired).toEqual([]);
    clock.advanceTo(timers.nextDeadline());
    timers.fire(clock.now());
    expect(fired).toEqual(['a']);
    clock.advance(9);
    timers.fire(clock.now());
    expect(fired).toEqual(['a']);
    clock.advance(1);
    timers.fire(clock.now());
    expect(fired).toEqual(['a', 'b']);
  });
});
