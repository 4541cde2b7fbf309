// WakerSet: the one waiter list of the reactor, JoinHandle and the poller's reports.
import { Waker } from '../lib/future';
import { WakerSet } from '../lib/wakers';

function counter(): { w: Waker; n: () => number } {
  let n = 0;
  return { w: new Waker({ wakeByRef: () => n++ }), n: () => n };
}

describe('WakerSet', () => {
  test('wakes every task it holds, once, and is empty afterwards', () => {
    const set = new WakerSet();
    const ts = [counter(), counter(), counter()];
    for (const t of ts) set.add(t.w);
    expect(set.isEmpty).toBe(false);
    set.wakeAll();
    set.wakeAll();
    expect(ts.map((t) => t.n())).toEqual([1, 1, 1]);
    expect(set.isEmpty).toBe(true);
  });

  test('a second waker of the same task replaces the first instead of waking it twice', () => {
    const set = new WakerSet();
    const a = counter();
    const b = counter();
    set.add(a.w);
    set.add(b.w);
    set.add(a.w.clone());
    set.add(b.w.clone());
    set.wakeAll();
    expect([a.n(), b.n()]).toEqual([1, 1]);
  });

  test('remove takes out that waker only, wherever it is held', () => {
    const set = new WakerSet();
    const ts = [counter(), counter(), counter()];
    for (const t of ts) set.add(t.w);
    set.remove(ts[0].w); // the first slot: the next one moves up
    set.remove(ts[2].w);
    set.remove(counter().w); // never held: nothing happens
    set.remove(null);
    set.wakeAll();
    expect(ts.map((t) => t.n())).toEqual([0, 1, 0]);
  });

  test('take hands out the oldest waker held and forgets it', () => {
    const set = new WakerSet();
    const ts = [counter(), counter()];
    expect(set.take()).toBeNull();
    for (const t of ts) set.add(t.w);
    expect(set.take()).toBe(ts[0].w);
    expect(set.take()).toBe(ts[1].w);
    expect([set.take(), set.isEmpty]).toEqual([null, true]);
  });

  test('a task that waits again from inside its wake is held for the next wakeAll', () => {
    const set = new WakerSet();
    let n = 0;
    const w: Waker = new Waker({
      wakeByRef: () => {
        n++;
        if (n === 1) set.add(w);
      },
    });
    set.add(w);
    set.wakeAll();
    expect([n, set.isEmpty]).toEqual([1, false]);
    set.wakeAll();
    expect([n, set.isEmpty]).toEqual([2, true]);
  });
});
