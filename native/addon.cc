// The addon's entry point: makes the env's Instance, tears it down with the env, and exports the
// N-API surface of lib/native.ts (`NativeBinding`) as one property table. The functions themselves
// live by concern: bind_poller.cc (poller, embedded driver, loop watch), bind_socket.cc (handles,
// pipes, sockets), bind_io.cc (byte I/O and its hot path), with args.h / args.cc for what they
// share and contract.h for the numbers JavaScript must agree on.
//
// Each function gets its Instance as the callback's data pointer: no lookup per call.
#include <node_api.h>

#include "bindings.h"
#include "instance.h"

namespace polled {

thread_local Instance* t_sole_instance = nullptr;
thread_local int t_instances = 0;

namespace {

// Env teardown (process exit, worker exit): close every handle, which stops the uv drivers.
// An *async* cleanup hook, because a uv handle is only gone once its close callback has run:
// Node keeps turning the loop until the hook is removed, by DriverCounter::Closed() when the
// last driver's callback has run, so a worker's loop is never closed with our handle in it.
void Teardown(napi_async_cleanup_hook_handle hook, void* arg) {
  Instance* inst = static_cast<Instance*>(arg);
  inst->handles.CloseAll();
  inst->channels.CloseAll();  // the other ends see this thread's ends dropped
  if (inst->drivers.open == 0) {
    napi_remove_async_cleanup_hook(hook);
  } else {
    inst->drivers.teardown = hook;
  }
}

#if defined(POLLED_BACKEND_EPOLL)
constexpr char kBackend[] = "epoll";
#else
constexpr char kBackend[] = "kqueue";
#endif

napi_value Init(napi_env env, napi_value exports) {
  auto* inst = new Instance(env);
  // Set before anything can fail: the finalizer below undoes it whatever happens next.
  t_sole_instance = ++t_instances == 1 ? inst : nullptr;
  napi_set_instance_data(
      env, inst,
      [](napi_env env, void* data, void*) {
        auto* inst = static_cast<Instance*>(data);
        // Runs on the env's thread. Which Instance remains (if any) is not known here: none is
        // taken for the sole one again, and the data pointer decides from now on.
        --t_instances;
        t_sole_instance = nullptr;
        if (inst->io_args_ref != nullptr) napi_delete_reference(env, inst->io_args_ref);
        if (inst->udp_meta_ref != nullptr) napi_delete_reference(env, inst->udp_meta_ref);
        delete inst;
      },
      nullptr);
  napi_add_async_cleanup_hook(env, Teardown, inst, nullptr);

  napi_value backend, uring;
  napi_create_string_utf8(env, kBackend, NAPI_AUTO_LENGTH, &backend);
#if defined(POLLED_URING)
  napi_get_boolean(env, true, &uring);  // pollerCreate(kPollerUring) can work (the kernel decides)
#else
  napi_get_boolean(env, false, &uring);
#endif
  napi_value io_args = MakeIoArgs(env, inst);
  if (io_args == nullptr) return nullptr;
  napi_value udp_meta = MakeUdpMeta(env, inst);
  if (udp_meta == nullptr) return nullptr;
#define POLLED_VALUE(name, value) {name, nullptr, nullptr, nullptr, nullptr, value, napi_enumerable, nullptr}
#define POLLED_METHOD(name, fn) {name, nullptr, fn, nullptr, nullptr, nullptr, napi_enumerable, inst}
  const napi_property_descriptor props[] = {
      POLLED_VALUE("backend", backend),
      POLLED_VALUE("uring", uring),
      POLLED_VALUE("ioArgs", io_args),
      POLLED_VALUE("udpMeta", udp_meta),
      // bind_poller.cc
      POLLED_METHOD("pollerCreate", JsPollerCreate),
      POLLED_METHOD("pollerEvents", JsPollerEvents),
      POLLED_METHOD("pollerAdd", JsPollerAdd),
      POLLED_METHOD("pollerModify", JsPollerModify),
      POLLED_METHOD("pollerDelete", JsPollerDelete),
      POLLED_METHOD("pollerWait", JsPollerWait),
      POLLED_METHOD("pollerNotify", JsPollerNotify),
      POLLED_METHOD("pollerWatchLoop", JsPollerWatchLoop),
      POLLED_METHOD("pollerTimerArm", JsPollerTimerArm),
      POLLED_METHOD("pollerTimerDisarm", JsPollerTimerDisarm),
      POLLED_METHOD("pollerNotifyFromThread", JsPollerNotifyFromThread),
      POLLED_METHOD("pollerRingStats", JsPollerRingStats),
      POLLED_METHOD("pollerMailbox", JsPollerMailbox),
      POLLED_METHOD("mailboxDrain", JsMailboxDrain),
      POLLED_METHOD("mailboxPost", JsMailboxPost),
      POLLED_METHOD("driverStart", JsDriverStart),
      POLLED_METHOD("driverRef", JsDriverRef),
      POLLED_METHOD("driverStop", JsDriverStop),
      // bind_socket.cc
      POLLED_METHOD("close", JsClose),
      POLLED_METHOD("handleCount", JsHandleCount),
      POLLED_METHOD("fdOf", JsFdOf),
      POLLED_METHOD("pipe", JsPipe),
      POLLED_METHOD("tcpListen", JsTcpListen),
      POLLED_METHOD("tcpConnect", JsTcpConnect),
      POLLED_METHOD("unixListen", JsUnixListen),
      POLLED_METHOD("unixConnect", JsUnixConnect),
      POLLED_METHOD("accept", JsAccept),
      POLLED_METHOD("socketError", JsSocketError),
      POLLED_METHOD("acceptQueueLength", JsAcceptQueueLength),
      POLLED_METHOD("localAddr", JsLocalAddr),
      POLLED_METHOD("peerAddr", JsPeerAddr),
      POLLED_METHOD("setNoDelay", JsSetNoDelay),
      POLLED_METHOD("setKeepAlive", JsSetKeepAlive),
      POLLED_METHOD("shutdown", JsShutdown),
      // bind_io.cc
      POLLED_METHOD("read", JsRead),
      POLLED_METHOD("write", JsWrite),
      POLLED_METHOD("writev", JsWritev),
      POLLED_METHOD("bindBuffer", JsBindBuffer),
      POLLED_METHOD("readBound", JsReadBound),
      POLLED_METHOD("writeBound", JsWriteBound),
      POLLED_METHOD("echoBound", JsEchoBound),
      // bind_udp.cc
      POLLED_METHOD("udpBind", JsUdpBind),
      POLLED_METHOD("udpConnect", JsUdpConnect),
      POLLED_METHOD("udpSetOption", JsUdpSetOption),
      POLLED_METHOD("udpMembership", JsUdpMembership),
      POLLED_METHOD("udpRecvFrom", JsUdpRecvFrom),
      POLLED_METHOD("udpSendTo", JsUdpSendTo),
      POLLED_METHOD("udpRecvMany", JsUdpRecvMany),
      POLLED_METHOD("udpSendMany", JsUdpSendMany),
      POLLED_METHOD("udpRecvBound", JsUdpRecvBound),
      POLLED_METHOD("udpSendBound", JsUdpSendBound),
      // bind_pool.cc
      POLLED_METHOD("poolConfigure", JsPoolConfigure),
      POLLED_METHOD("poolLookup", JsPoolLookup),
      POLLED_METHOD("poolOpen", JsPoolOpen),
      POLLED_METHOD("poolReadFile", JsPoolReadFile),
      POLLED_METHOD("poolWriteFile", JsPoolWriteFile),
      POLLED_METHOD("poolRead", JsPoolRead),
      POLLED_METHOD("poolWrite", JsPoolWrite),
      POLLED_METHOD("poolSync", JsPoolSync),
      POLLED_METHOD("poolFstat", JsPoolFstat),
      POLLED_METHOD("poolStat", JsPoolStat),
      POLLED_METHOD("poolRemove", JsPoolRemove),
      POLLED_METHOD("poolRename", JsPoolRename),
      POLLED_METHOD("poolReadDir", JsPoolReadDir),
      POLLED_METHOD("poolTake", JsPoolTake),
      POLLED_METHOD("poolForget", JsPoolForget),
      POLLED_METHOD("poolStats", JsPoolStats),
      // bind_channel.cc
      POLLED_METHOD("channelCreate", JsChannelCreate),
      POLLED_METHOD("channelSend", JsChannelSend),
      POLLED_METHOD("channelRecv", JsChannelRecv),
      POLLED_METHOD("channelReserve", JsChannelReserve),
      POLLED_METHOD("channelRelease", JsChannelRelease),
      POLLED_METHOD("channelUnwait", JsChannelUnwait),
      POLLED_METHOD("channelClose", JsChannelClose),
      POLLED_METHOD("channelCloseRx", JsChannelCloseRx),
      POLLED_METHOD("channelClone", JsChannelClone),
      POLLED_METHOD("channelShare", JsChannelShare),
      POLLED_METHOD("channelClaim", JsChannelClaim),
      POLLED_METHOD("channelInfo", JsChannelInfo),
      POLLED_METHOD("channelCounts", JsChannelCounts),
  };
#undef POLLED_METHOD
#undef POLLED_VALUE
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

}  // namespace

}  // namespace polled

// Context-aware: Node calls this once per env that loads the addon (main thread, each worker).
NAPI_MODULE_INIT() { return polled::Init(env, exports); }
