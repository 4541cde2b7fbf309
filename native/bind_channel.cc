// The N-API functions of thread channels (channel.h; lib/thread-channel.ts is their one caller).
//
// Memory: channelSend copies the message's bytes into native memory in the call, after every
// other argument has been read (reading an array's elements can run a getter), and nothing runs
// between taking the pointer and the copy. channelRecv hands the bytes to JavaScript in a new
// Buffer (a copy). So the addon never keeps a pointer into JavaScript memory across calls.
#include <errno.h>
#include <string.h>

#include <new>
#include <vector>

#include "args.h"
#include "ring.h"
#include "bindings.h"
#include "channel.h"

namespace polled {

namespace {

// At most this many streams (and, apart, sender ends) travel in one message.
constexpr uint32_t kMaxTransfers = 1024;
constexpr double kMaxU32 = 4294967295.0;

napi_value Array(napi_env env, const napi_value* items, size_t n) {
  napi_value arr;
  if (napi_create_array_with_length(env, n, &arr) != napi_ok) return nullptr;
  for (size_t i = 0; i < n; i++) {
    if (napi_set_element(env, arr, static_cast<uint32_t>(i), items[i]) != napi_ok) return nullptr;
  }
  return arr;
}

// `v`: undefined / null (none) or an array of at most kMaxTransfers numbers, copied into `out`.
bool GetHandleList(napi_env env, napi_value v, const char* name, std::vector<double>* out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return false;
  if (t == napi_undefined || t == napi_null) return true;
  bool is_array = false;
  uint32_t n = 0;
  if (napi_is_array(env, v, &is_array) != napi_ok || !is_array || napi_get_array_length(env, v, &n) != napi_ok) {
    Throw(env, false, name, "an array of handles, or undefined");
    return false;
  }
  if (n > kMaxTransfers) {
    Throw(env, true, name, "an array of at most 1024 handles");
    return false;
  }
  out->reserve(n);
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    double h;
    if (napi_get_element(env, v, i, &e) != napi_ok) return false;
    if (!GetNumber(env, e, name, &h)) return false;
    out->push_back(h);
  }
  return true;
}

bool HasDuplicate(const std::vector<double>& v) {
  for (size_t i = 0; i < v.size(); i++) {
    for (size_t j = i + 1; j < v.size(); j++) {
      if (v[i] == v[j]) return true;
    }
  }
  return false;
}

// The end behind argv `v` if it is live and of the kind wanted; null with *err (-EBADF / -EINVAL).
ChannelTable::End* EndOf(Instance* inst, double h, bool want_sender, int* err) {
  ChannelTable::End* e = inst->channels.Get(h);
  if (e == nullptr) {
    *err = -EBADF;
    return nullptr;
  }
  if ((e->tx.get() != nullptr) != want_sender) {
    *err = -EINVAL;
    return nullptr;
  }
  *err = 0;
  return e;
}

int ToErrno(ChanResult r) {
  switch (r) {
    case ChanResult::kOk:
      return 0;
    case ChanResult::kFull:
    case ChanResult::kEmpty:
      return -EAGAIN;
    case ChanResult::kClosed:
      return -EPIPE;
  }
  return -EINVAL;
}

bool GetWaiter(napi_env env, const napi_value* argv, int64_t* mailbox, int64_t* key) {
  return GetInt(env, argv[0], "mailbox", 0, kMaxU32, mailbox) && GetInt(env, argv[1], "key", 0, kMaxU32, key);
}

}  // namespace

napi_value JsChannelCreate(napi_env env, napi_callback_info info) {
  Args<1> a(env, info);
  int64_t cap;
  if (!GetInt(env, a.argv[0], "capacity", 1, 1 << 30, &cap)) return nullptr;
  Channel* raw = new (std::nothrow) Channel(static_cast<size_t>(cap));
  if (raw == nullptr) return Int(env, -ENOMEM);
  std::shared_ptr<Channel> ch(raw);
  double tx = a.inst->channels.OpenSender(SenderRef(ch));
  if (tx < 0) return Number(env, tx);
  double rx = a.inst->channels.OpenReceiver(ReceiverRef(ch));
  if (rx < 0) {
    a.inst->channels.Close(tx);
    return Number(env, rx);
  }
  napi_value items[2] = {Number(env, tx), Number(env, rx)};
  napi_value r = Array(env, items, 2);
  if (r == nullptr) {
    a.inst->channels.Close(tx);
    a.inst->channels.Close(rx);
  }
  return r;
}

// channelSend(tx, bytes, streams, senders, mailbox, key, permit?)
napi_value JsChannelSend(napi_env env, napi_callback_info info) {
  Args<7> a(env, info);
  double tx;
  std::vector<double> streams, senders;
  int64_t mailbox, key;
  bool permit = false;
  napi_valuetype pt;
  if (!GetNumber(env, a.argv[0], "tx", &tx) || !GetHandleList(env, a.argv[2], "streams", &streams) ||
      !GetHandleList(env, a.argv[3], "senders", &senders) || !GetWaiter(env, a.argv + 4, &mailbox, &key) ||
      napi_typeof(env, a.argv[6], &pt) != napi_ok || (pt != napi_undefined && !GetBool(env, a.argv[6], "permit", &permit))) {
    return nullptr;
  }
  // The bytes last: from here to the copy no JavaScript can run.
  uint8_t* data;
  size_t len;
  if (!GetTyped(env, a.argv[1], "bytes", napi_uint8_array, "a Uint8Array", &data, &len) ||
      !CheckAttached(env, a.argv[1], "bytes", len)) {
    return nullptr;
  }
  Message msg;
  msg.bytes.reset(new (std::nothrow) uint8_t[len > 0 ? len : 1]);
  if (msg.bytes == nullptr) return Int(env, -ENOMEM);
  if (len > 0) memcpy(msg.bytes.get(), data, len);
  msg.len = len;

  int err;
  ChannelTable::End* end = EndOf(a.inst, tx, true, &err);
  if (end == nullptr) return Int(env, err);
  if (permit && end->permits == 0) return Int(env, -EINVAL);  // no reserved slot to use
  for (double h : streams) {
    Entry* e = a.inst->handles.Get(h);
    if (e == nullptr) return Int(env, -EBADF);
    if (!e->is_socket()) return Int(env, -EINVAL);
    if (e->ring_io != nullptr && RingBusy(e->ring_io)) return Int(env, -EBUSY);  // HandleTable::Take
  }
  for (double h : senders) {
    if (h == tx) return Int(env, -EINVAL);  // a sender cannot travel in its own send
    ChannelTable::End* moving = EndOf(a.inst, h, true, &err);
    if (moving == nullptr) return Int(env, err);
    if (moving->permits > 0) return Int(env, -EBUSY);  // its reserved slots stay with this thread's permits
    // Not waiting (lib refuses to move a sender with a send in progress): forgotten here, outside
    // the channel lock TrySend takes, so the move below needs no lock of its own.
    moving->channel()->Unwait(moving->id);
  }
  if (HasDuplicate(streams) || HasDuplicate(senders)) return Int(env, -EINVAL);
  msg.fds.reserve(streams.size());
  msg.senders.reserve(senders.size());

  Instance* inst = a.inst;
  Waiter w{end->id, static_cast<uint32_t>(mailbox), static_cast<uint32_t>(key)};
  if (permit) end->permits--;  // used up whatever the result (TrySend gives the channel's back)
  ChanResult r = end->tx.get()->TrySend(&msg, w, permit, [&](Message* m) {
    for (double h : streams) {
      Fd fd;
      inst->handles.Take(h, &fd);  // validated above: cannot fail
      m->fds.push_back(std::move(fd));
    }
    for (double h : senders) {
      SenderRef s;
      ReceiverRef unused;
      inst->channels.Take(h, &s, &unused, false);
      m->senders.push_back(std::move(s));
    }
  });
  // A refused message is destroyed here with nothing of the caller's in it.
  return Int(env, ToErrno(r));
}

// channelRecv(rx, mailbox, key): Buffer | [Buffer, streamHandles, senderHandles] | -errno
napi_value JsChannelRecv(napi_env env, napi_callback_info info) {
  Args<3> a(env, info);
  double rx;
  int64_t mailbox, key;
  if (!GetNumber(env, a.argv[0], "rx", &rx) || !GetWaiter(env, a.argv + 1, &mailbox, &key)) return nullptr;
  int err;
  ChannelTable::End* end = EndOf(a.inst, rx, false, &err);
  if (end == nullptr) return Int(env, err);
  Message msg;
  ChanResult r = end->rx.get()->TryRecv(&msg, Waiter{end->id, static_cast<uint32_t>(mailbox), static_cast<uint32_t>(key)});
  if (r != ChanResult::kOk) return Int(env, ToErrno(r));
  // A Uint8Array on a fresh ArrayBuffer holding a copy (cheaper to make than a node Buffer).
  napi_value ab, buf;
  void* dst;
  if (napi_create_arraybuffer(env, msg.len, &dst, &ab) != napi_ok ||
      napi_create_typedarray(env, napi_uint8_array, msg.len, ab, 0, &buf) != napi_ok) {
    return nullptr;
  }
  if (msg.len > 0) memcpy(dst, msg.bytes.get(), msg.len);
  if (msg.fds.empty() && msg.senders.empty()) return buf;

  // Streams and senders become handles of this thread; if the result cannot be made they are
  // closed again, so that no handle exists that JavaScript was never given.
  std::vector<double> hs, ss;
  for (Fd& fd : msg.fds) hs.push_back(a.inst->handles.Open(Kind::kSocket, std::move(fd)));
  for (SenderRef& s : msg.senders) ss.push_back(a.inst->channels.OpenSender(std::move(s)));
  std::vector<napi_value> hv, sv;
  for (double h : hs) hv.push_back(Number(env, h));
  for (double h : ss) sv.push_back(Number(env, h));
  napi_value items[3] = {buf, Array(env, hv.data(), hv.size()), Array(env, sv.data(), sv.size())};
  napi_value result = items[1] != nullptr && items[2] != nullptr ? Array(env, items, 3) : nullptr;
  if (result == nullptr) {
    for (double h : hs) a.inst->handles.Close(h);
    for (double h : ss) a.inst->channels.Close(h);
  }
  return result;
}

// channelReserve(tx, mailbox, key): 0 (a slot is reserved for this end's next permit send),
// -EAGAIN (full; the waiter is recorded with a key), -EPIPE.
napi_value JsChannelReserve(napi_env env, napi_callback_info info) {
  Args<3> a(env, info);
  double tx;
  int64_t mailbox, key;
  if (!GetNumber(env, a.argv[0], "tx", &tx) || !GetWaiter(env, a.argv + 1, &mailbox, &key)) return nullptr;
  int err;
  ChannelTable::End* e = EndOf(a.inst, tx, true, &err);
  if (e == nullptr) return Int(env, err);
  ChanResult r = e->tx.get()->TryReserve(Waiter{e->id, static_cast<uint32_t>(mailbox), static_cast<uint32_t>(key)});
  if (r == ChanResult::kOk) e->permits++;
  return Int(env, ToErrno(r));
}

// channelRelease(tx): give one reserved slot back unused. 0, -EBADF, -EINVAL (none reserved).
napi_value JsChannelRelease(napi_env env, napi_callback_info info) {
  Args<1> a(env, info);
  double tx;
  if (!GetNumber(env, a.argv[0], "tx", &tx)) return nullptr;
  int err;
  ChannelTable::End* e = EndOf(a.inst, tx, true, &err);
  if (e == nullptr) return Int(env, err);
  if (e->permits == 0) return Int(env, -EINVAL);
  e->permits--;
  e->tx.get()->ReleasePermits(1);
  return Int(env, 0);
}

napi_value JsChannelUnwait(napi_env env, napi_callback_info info) {
  Args<1> a(env, info);
  double h;
  if (!GetNumber(env, a.argv[0], "end", &h)) return nullptr;
  ChannelTable::End* e = a.inst->channels.Get(h);
  if (e == nullptr) return Int(env, -EBADF);
  e->channel()->Unwait(e->id);
  return Int(env, 0);
}

napi_value JsChannelClose(napi_env env, napi_callback_info info) {
  Args<1> a(env, info);
  double h;
  if (!GetNumber(env, a.argv[0], "end", &h)) return nullptr;
  return Int(env, a.inst->channels.Close(h));
}

napi_value JsChannelCloseRx(napi_env env, napi_callback_info info) {
  Args<1> a(env, info);
  double h;
  if (!GetNumber(env, a.argv[0], "rx", &h)) return nullptr;
  int err;
  ChannelTable::End* e = EndOf(a.inst, h, false, &err);
  if (e == nullptr) return Int(env, err);
  e->rx.get()->CloseRx();
  return Int(env, 0);
}

napi_value JsChannelClone(napi_env env, napi_callback_info info) {
  Args<1> a(env, info);
  double h;
  if (!GetNumber(env, a.argv[0], "tx", &h)) return nullptr;
  int err;
  ChannelTable::End* e = EndOf(a.inst, h, true, &err);
  if (e == nullptr) return Int(env, err);
  return Number(env, a.inst->channels.OpenSender(SenderRef(e->tx.shared())));
}

napi_value JsChannelShare(napi_env env, napi_callback_info info) {
  Args<1> a(env, info);
  double h;
  if (!GetNumber(env, a.argv[0], "end", &h)) return nullptr;
  SenderRef tx;
  ReceiverRef rx;
  int rc = a.inst->channels.Take(h, &tx, &rx);
  if (rc < 0) return Int(env, rc);
  return Number(env, static_cast<double>(ParkEnd(std::move(tx), std::move(rx))));
}

// channelClaim(id, sender: boolean): a handle of this thread, or -ENOENT / -EINVAL.
napi_value JsChannelClaim(napi_env env, napi_callback_info info) {
  Args<2> a(env, info);
  int64_t id;
  bool sender;
  if (!GetInt(env, a.argv[0], "id", 0, 9007199254740991.0, &id) || !GetBool(env, a.argv[1], "sender", &sender)) {
    return nullptr;
  }
  SenderRef tx;
  ReceiverRef rx;
  int rc = ClaimEnd(static_cast<uint64_t>(id), sender, &tx, &rx);
  if (rc < 0) return Int(env, rc);
  return Number(env, sender ? a.inst->channels.OpenSender(std::move(tx)) : a.inst->channels.OpenReceiver(std::move(rx)));
}

// channelInfo(end): [queued, capacity, flags] (flags: 1 = the receiver is closed or gone,
// 2 = ended: nothing queued and nothing more can come), or -EBADF.
napi_value JsChannelInfo(napi_env env, napi_callback_info info) {
  Args<1> a(env, info);
  double h;
  if (!GetNumber(env, a.argv[0], "end", &h)) return nullptr;
  ChannelTable::End* e = a.inst->channels.Get(h);
  if (e == nullptr) return Int(env, -EBADF);
  size_t queued;
  uint32_t flags;
  e->channel()->Info(&queued, &flags);
  napi_value items[3] = {Number(env, static_cast<double>(queued)), Number(env, static_cast<double>(e->channel()->capacity())),
                         Int(env, flags)};
  return Array(env, items, 3);
}

// channelCounts(): [ends of this thread, channels alive in the process, ends parked in the process].
napi_value JsChannelCounts(napi_env env, napi_callback_info info) {
  Args<0> a(env, info);
  napi_value items[3] = {Number(env, static_cast<double>(a.inst->channels.live())), Number(env, static_cast<double>(LiveChannels())),
                         Number(env, static_cast<double>(ParkedEnds()))};
  return Array(env, items, 3);
}

}  // namespace polled
