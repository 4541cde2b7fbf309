// The reactor on its own: tokens, readiness and the tick guard, who is woken for what, stale
// tokens, reserved tokens. Batches are written into the events array by hand and dispatched, so
// every case is exact; the poller is real (registration is a real epoll_ctl / kevent).
import { Context, Waker } from '../lib/future';
import { ERROR, HANGUP, LOOP_TOKEN, NOTIFY_TOKEN, READABLE, TIMER_TOKEN, WRITABLE, native, type Handle } from '../lib/native';
import { IoSource, Reactor } from '../lib/reactor';

let poller: Handle;
let events: Uint32Array;
let reactor: Reactor;
const pipes: Handle[] = [];

beforeEach(() => {
  poller = native.pollerCreate();
  events = native.pollerEvents(poller, 16) as Uint32Array;
  reactor = new Reactor(poller, events);
});
afterEach(() => {
  reactor.closeAll();
  for (const h of pipes.splice(0)) native.close(h);
  native.close(poller);
});

function source(): IoSource {
  const ends = native.pipe();
  if (typeof ends === 'number') throw new Error(`pipe: ${ends}`);
  pipes.push(ends[1]);
  return reactor.register(new IoSource(ends[0]));
}

/** A task stand-in: counts its wakes. */
function task(): { cx: Context; wakes: () => number } {
  let n = 0;
  const w = new Waker({ wakeByRef: () => n++ });
  return { cx: new Context(w), wakes: () => n };
}

function batch(...pairs: [number, number][]): boolean {
  pairs.forEach(([token, bits], i) => {
    events[2 * i] = token;
    events[2 * i + 1] = bits;
  });
  return reactor.dispatch(pairs.length);
}

describe('Reactor', () => {
  test('a new source is ready both ways, so the first operation is simply tried', () => {
    const src = source();
    const t = task();
    expect(reactor.isReady(src, READABLE, t.cx)).toBe(true);
    expect(reactor.isReady(src, WRITABLE, t.cx)).toBe(true);
    expect(reactor.registrations).toBe(1);
  });

  test('readiness wakes the waiters of its direction only; hang-up and error wake both', () => {
    const src = source();
    const r = task();
    const w = task();
    reactor.clearReadiness(src, READABLE, src.tick, r.cx);
    reactor.clearReadiness(src, WRITABLE, src.tick, w.cx);
    batch([src.token, WRITABLE]);
    expect([r.wakes(), w.wakes()]).toEqual([0, 1]);
    reactor.clearReadiness(src, WRITABLE, src.tick, w.cx);
    batch([src.token, READABLE]);
    expect([r.wakes(), w.wakes()]).toEqual([1, 1]);
    reactor.clearReadiness(src, READABLE, src.tick, r.cx);
    batch([src.token, HANGUP]);
    expect([r.wakes(), w.wakes()]).toEqual([2, 2]);
    reactor.isReady(src, READABLE, r.cx); // ready (hang-up counts): nothing stored
    batch([src.token, ERROR]);
    expect([r.wakes(), w.wakes()]).toEqual([2, 2]); // woken once per wait, not per event
  });

  test('clearing readiness is skipped when an event arrived since the tick was read (no lost wake-up)', () => {
    const src = source();
    const t = task();
    const tick = src.tick;
    batch([src.token, READABLE]); // arrives between the check and the EAGAIN
    reactor.clearReadiness(src, READABLE, tick, t.cx);
    expect(reactor.isReady(src, READABLE, t.cx)).toBe(true);
    reactor.clearReadiness(src, READABLE, src.tick, t.cx);
    expect(reactor.isReady(src, READABLE, t.cx)).toBe(false);
  });

  test('several tasks waiting on one direction are all woken; a dropped one takes back only its own waker', () => {
    const src = source();
    const a = task();
    const b = task();
    const c = task();
    for (const t of [a, b, c]) reactor.clearReadiness(src, READABLE, src.tick, t.cx);
    reactor.clearWaker(src, READABLE, b.cx.waker);
    batch([src.token, READABLE]);
    expect([a.wakes(), b.wakes(), c.wakes()]).toEqual([1, 0, 1]);
  });

  test('when the first waiter of a direction is dropped, the others stay held and the next moves up', () => {
    const src = source();
    const [a, b, c] = [task(), task(), task()];
    for (const t of [a, b, c]) reactor.clearReadiness(src, READABLE, src.tick, t.cx);
    reactor.clearWaker(src, READABLE, a.cx.waker); // the one in the source's own field
    reactor.clearWaker(src, READABLE, b.cx.waker); // then the one that moved up into it
    reactor.clearReadiness(src, READABLE, src.tick, c.cx); // c again: still held once
    batch([src.token, READABLE]);
    expect([a.wakes(), b.wakes(), c.wakes()]).toEqual([0, 0, 1]);
    batch([src.token, READABLE]); // woken waiters are forgotten
    expect(c.wakes()).toBe(1);
  });

  test('a task that waits again from inside its wake is held for the next event', () => {
    const src = source();
    let n = 0;
    const cx: Context = new Context(
      new Waker({
        wakeByRef: () => {
          n++;
          reactor.clearReadiness(src, WRITABLE, src.tick, cx);
        },
      }),
    );
    reactor.clearReadiness(src, WRITABLE, src.tick, cx);
    batch([src.token, WRITABLE]);
    batch([src.token, WRITABLE]);
    expect(n).toBe(2);
  });

  test('a task that waits twice is held once', () => {
    const src = source();
    const t = task();
    reactor.clearReadiness(src, READABLE, src.tick, t.cx);
    reactor.clearReadiness(src, READABLE, src.tick, new Context(t.cx.waker.clone()));
    batch([src.token, READABLE]);
    expect(t.wakes()).toBe(1);
  });

  test('an event for a deregistered source is ignored, even once its slot is reused', () => {
    const old = source();
    const t = task();
    reactor.deregister(old);
    const fresh = source();
    expect(fresh.token).not.toBe(old.token); // same slot, next generation
    reactor.clearReadiness(fresh, READABLE, fresh.tick, t.cx);
    batch([old.token, READABLE]);
    expect(t.wakes()).toBe(0);
    expect(reactor.isReady(fresh, READABLE, t.cx)).toBe(false);
  });

  test('deregistering wakes every waiter, so nobody sleeps on a dead source', () => {
    const src = source();
    const r = task();
    const w = task();
    reactor.clearReadiness(src, READABLE, src.tick, r.cx);
    reactor.clearReadiness(src, WRITABLE, src.tick, w.cx);
    reactor.deregister(src);
    expect([r.wakes(), w.wakes(), reactor.registrations]).toEqual([1, 1, 0]);
    expect(src.readiness & HANGUP).toBe(HANGUP);
  });

  test('reserved tokens: the timer is reported, a notify and Node-loop work wake their waiters', () => {
    const n = task();
    const l = task();
    reactor.notify.addWaiter(n.cx.waker);
    reactor.nodeLoop.addWaiter(l.cx.waker);
    expect(batch([NOTIFY_TOKEN, READABLE])).toBe(false);
    expect([n.wakes(), l.wakes(), reactor.notify.count]).toEqual([1, 0, 1]);
    expect(batch([LOOP_TOKEN, READABLE], [TIMER_TOKEN, READABLE])).toBe(true);
    expect([n.wakes(), l.wakes(), reactor.nodeLoop.count]).toEqual([1, 1, 1]);
  });
});
