// Wakes from other threads (lib/remote.ts, native/mailbox.h): a key posted to a runtime's
// mailbox id wakes the one future it stands for, from any thread; a post to a runtime that is
// gone is a harmless no-op.
import { Worker } from 'node:worker_threads';
import { Runtime, Waker, pollFn, PENDING } from '../lib';
import { addonPath, native } from '../lib/native';

/** A thread that loads the addon by itself and posts `key` to `mailbox` after `delayMs`. */
function postFromThread(mailbox: number, key: number, delayMs: number): Worker {
  return new Worker(`const n = require(${JSON.stringify(addonPath)}); setTimeout(() => require('worker_threads').parentPort.postMessage(n.mailboxPost(${mailbox}, ${key})), ${delayMs});`, { eval: true });
}

describe('mailbox', () => {
  test('a key posted from another thread wakes its future under blockOn (parked in epoll_wait)', async () => {
    const rt = new Runtime();
    let polls = 0;
    let worker: Worker | null = null;
    const result = rt.blockOn(
      pollFn((cx) => {
        polls++;
        if (worker === null) {
          const key = rt.reactor.remote.add(cx.waker);
          worker = postFromThread(rt.reactor.remote.mailbox, key, 30);
          return PENDING;
        }
        return 'woken';
      }),
    );
    expect(result).toBe('woken');
    expect(polls).toBe(2);
    expect(rt.reactor.remote.size).toBe(0); // one-shot: the post consumed the key
    const posted = await new Promise((r) => worker!.once('message', r));
    expect(posted).toBe(0);
    await worker!.terminate();
    rt.close();
  });

  test('under the embedded driver too, and an outstanding key keeps the runtime awake', async () => {
    const rt = new Runtime();
    let key = 0;
    const h = rt.spawn(
      pollFn((cx) => {
        if (key === 0) {
          key = rt.reactor.remote.add(cx.waker);
          return PENDING;
        }
        return 'done';
      }),
    );
    await new Promise((r) => setTimeout(r, 10));
    expect(rt.reactor.remote.size).toBe(1);
    const w = postFromThread(rt.reactor.remote.mailbox, key, 0);
    expect(await h.promise()).toBe('done');
    await w.terminate();
    rt.close();
  });

  test('a key whose future was dropped is ignored; unknown keys too', () => {
    const rt = new Runtime();
    let woken = 0;
    let task: { wake(): void } | null = null;
    const w = {
      wakeByRef: () => {
        woken++;
        task?.wake();
      },
    };
    const dropped = rt.reactor.remote.add(new Waker(w));
    const live = rt.reactor.remote.add(new Waker(w));
    rt.reactor.remote.remove(dropped);
    expect(native.mailboxPost(rt.reactor.remote.mailbox, dropped)).toBe(0);
    expect(native.mailboxPost(rt.reactor.remote.mailbox, 987654)).toBe(0);
    expect(native.mailboxPost(rt.reactor.remote.mailbox, live)).toBe(0);
    // Three posts, one notify: the wait reports NOTIFY_TOKEN once and the drain takes all three.
    rt.blockOn(
      pollFn((cx) => {
        task = cx.waker;
        return woken > 0 ? 'ok' : PENDING;
      }),
    );
    expect(woken).toBe(1);
    rt.close();
  });

  test('every runtime has its own id; a post to one that has closed is -ESRCH and touches nothing', () => {
    const a = new Runtime();
    const b = new Runtime();
    expect(a.reactor.remote.mailbox).not.toBe(b.reactor.remote.mailbox);
    const id = a.reactor.remote.mailbox;
    a.close();
    expect(native.mailboxPost(id, 1)).toBe(-3); // ESRCH
    expect(native.mailboxPost(0, 1)).toBe(-3);
    b.close();
  });

  test('a runtime whose thread is gone: the post is a no-op', async () => {
    const w = new Worker(`const n = require(${JSON.stringify(addonPath)}); const p = n.pollerCreate(); const [id] = n.pollerMailbox(p, 16); require('worker_threads').parentPort.postMessage(id);`, { eval: true });
    // Both listeners first: the thread may exit before a listener added after the message would be.
    const message = new Promise((r) => w.once('message', r));
    const exited = new Promise((r) => w.once('exit', r));
    const id = (await message) as number;
    await exited;
    expect(native.mailboxPost(id, 1)).toBe(-3);
  });

  test('bad arguments throw', () => {
    // Thrown by the addon, in Node's own realm (not jest's): matched by message.
    expect(() => native.mailboxPost('1' as unknown as number, 1)).toThrow(/"mailbox" must be a number/);
    expect(() => native.mailboxPost(-1, 1)).toThrow(/"mailbox" must be an integer in/);
    expect(() => native.mailboxPost(1, 2 ** 32)).toThrow(/"key" must be an integer in/);
    expect(() => native.pollerMailbox(1, 0)).toThrow(/"capacity" must be an integer in/);
  });

  test("a thread's default runtime has a mailbox too", () => {
    expect(Runtime.default().reactor.remote.mailbox).toBeGreaterThan(0);
  });
});
