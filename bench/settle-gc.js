'use strict';
// Preloaded into a Node server by bench/instructions.js (`node --expose-gc -r bench/settle-gc.js
// <server>`): on SIGWINCH, two full collections, so that what the connections allocated when
// they opened is in the old generation before the measured window starts.
//
// Why: an echo server that allocates nothing per message may never run a scavenge after its
// connections open, and whether a connection's objects (its task, future, reactor source) are
// still young then depends on where the last collection fell: a matter of timing. A store of a
// young object into an old one (the run queue's ring, a waker slot) takes the write barrier's
// slow path (`Builtins_RecordWriteSaveFP`), about 35 instructions per store, 3 stores per
// message; measured: 13 to 103 instructions per message between two runs of one build. A server
// that has run a while has promoted them; two collections put every run in that state.
// SIGWINCH: ignored by default (a C server sent it is unaffected), and Node's signal watchers do
// not keep the process alive.
process.on('SIGWINCH', () => {
  if (typeof globalThis.gc !== 'function') throw new Error('bench/settle-gc.js needs node --expose-gc');
  globalThis.gc();
  globalThis.gc();
});
