// The functions addon.cc's property table exports, declared by the file that defines them. Each is
// a napi_callback whose data pointer is the env's Instance. lib/native.ts (`NativeBinding`) types
// them and says what each returns.
#pragma once

#include <node_api.h>

#include "instance.h"

namespace polled {

// ---- bind_poller.cc: the poller, the embedded (libuv) driver, blockOn's watch on the loop -------
napi_value JsPollerCreate(napi_env env, napi_callback_info info);
napi_value JsPollerEvents(napi_env env, napi_callback_info info);
napi_value JsPollerAdd(napi_env env, napi_callback_info info);
napi_value JsPollerModify(napi_env env, napi_callback_info info);
napi_value JsPollerDelete(napi_env env, napi_callback_info info);
napi_value JsPollerWait(napi_env env, napi_callback_info info);
napi_value JsPollerNotify(napi_env env, napi_callback_info info);
napi_value JsPollerTimerArm(napi_env env, napi_callback_info info);
napi_value JsPollerTimerDisarm(napi_env env, napi_callback_info info);
napi_value JsPollerNotifyFromThread(napi_env env, napi_callback_info info);
napi_value JsPollerRingStats(napi_env env, napi_callback_info info);
napi_value JsPollerWatchLoop(napi_env env, napi_callback_info info);
napi_value JsPollerMailbox(napi_env env, napi_callback_info info);
napi_value JsMailboxDrain(napi_env env, napi_callback_info info);
napi_value JsMailboxPost(napi_env env, napi_callback_info info);
napi_value JsDriverStart(napi_env env, napi_callback_info info);
napi_value JsDriverRef(napi_env env, napi_callback_info info);
napi_value JsDriverStop(napi_env env, napi_callback_info info);

// ---- bind_socket.cc: handles, pipes, sockets and their options ------------------------------------
napi_value JsClose(napi_env env, napi_callback_info info);
napi_value JsHandleCount(napi_env env, napi_callback_info info);
napi_value JsFdOf(napi_env env, napi_callback_info info);
napi_value JsPipe(napi_env env, napi_callback_info info);
napi_value JsTcpListen(napi_env env, napi_callback_info info);
napi_value JsTcpConnect(napi_env env, napi_callback_info info);
napi_value JsUnixListen(napi_env env, napi_callback_info info);
napi_value JsUnixConnect(napi_env env, napi_callback_info info);
napi_value JsAccept(napi_env env, napi_callback_info info);
napi_value JsSocketError(napi_env env, napi_callback_info info);
napi_value JsAcceptQueueLength(napi_env env, napi_callback_info info);
napi_value JsLocalAddr(napi_env env, napi_callback_info info);
napi_value JsPeerAddr(napi_env env, napi_callback_info info);
napi_value JsSetNoDelay(napi_env env, napi_callback_info info);
napi_value JsSetKeepAlive(napi_env env, napi_callback_info info);
napi_value JsShutdown(napi_env env, napi_callback_info info);

// ---- bind_io.cc: byte I/O, the general path and the bound-buffer hot path -------------------------
napi_value JsRead(napi_env env, napi_callback_info info);
napi_value JsWrite(napi_env env, napi_callback_info info);
napi_value JsWritev(napi_env env, napi_callback_info info);
napi_value JsBindBuffer(napi_env env, napi_callback_info info);
napi_value JsReadBound(napi_env env, napi_callback_info info);
napi_value JsWriteBound(napi_env env, napi_callback_info info);
napi_value JsEchoBound(napi_env env, napi_callback_info info);
// The ioArgs Float64Array (contract.h's kIoArgCount slots) on shared memory; sets inst->io_args and
// inst->io_args_ref. Null with an exception pending when it cannot be made.
napi_value MakeIoArgs(napi_env env, Instance* inst);

// ---- bind_udp.cc: datagram sockets, options, single and batched datagram I/O ------------------------
napi_value JsUdpBind(napi_env env, napi_callback_info info);
napi_value JsUdpConnect(napi_env env, napi_callback_info info);
napi_value JsUdpSetOption(napi_env env, napi_callback_info info);
napi_value JsUdpMembership(napi_env env, napi_callback_info info);
napi_value JsUdpRecvFrom(napi_env env, napi_callback_info info);
napi_value JsUdpSendTo(napi_env env, napi_callback_info info);
napi_value JsUdpRecvMany(napi_env env, napi_callback_info info);
napi_value JsUdpSendMany(napi_env env, napi_callback_info info);
napi_value JsUdpRecvBound(napi_env env, napi_callback_info info);
napi_value JsUdpSendBound(napi_env env, napi_callback_info info);
// The udpMeta Uint32Array (contract.h's kUdpBatch records) on shared memory; sets inst->udp_meta and
// inst->udp_meta_ref. Null with an exception pending when it cannot be made.
napi_value MakeUdpMeta(napi_env env, Instance* inst);

// ---- bind_pool.cc: the blocking pool (DNS, files), see pool.h ------------------------------------
napi_value JsPoolConfigure(napi_env env, napi_callback_info info);
napi_value JsPoolLookup(napi_env env, napi_callback_info info);
napi_value JsPoolOpen(napi_env env, napi_callback_info info);
napi_value JsPoolReadFile(napi_env env, napi_callback_info info);
napi_value JsPoolWriteFile(napi_env env, napi_callback_info info);
napi_value JsPoolRead(napi_env env, napi_callback_info info);
napi_value JsPoolWrite(napi_env env, napi_callback_info info);
napi_value JsPoolSync(napi_env env, napi_callback_info info);
napi_value JsPoolFstat(napi_env env, napi_callback_info info);
napi_value JsPoolStat(napi_env env, napi_callback_info info);
napi_value JsPoolRemove(napi_env env, napi_callback_info info);
napi_value JsPoolRename(napi_env env, napi_callback_info info);
napi_value JsPoolReadDir(napi_env env, napi_callback_info info);
napi_value JsPoolTake(napi_env env, napi_callback_info info);
napi_value JsPoolForget(napi_env env, napi_callback_info info);
napi_value JsPoolStats(napi_env env, napi_callback_info info);
// ---- bind_channel.cc: thread channels (ends, send / recv with transferred streams, sharing) ------
napi_value JsChannelCreate(napi_env env, napi_callback_info info);
napi_value JsChannelSend(napi_env env, napi_callback_info info);
napi_value JsChannelRecv(napi_env env, napi_callback_info info);
napi_value JsChannelReserve(napi_env env, napi_callback_info info);
napi_value JsChannelRelease(napi_env env, napi_callback_info info);
napi_value JsChannelUnwait(napi_env env, napi_callback_info info);
napi_value JsChannelClose(napi_env env, napi_callback_info info);
napi_value JsChannelCloseRx(napi_env env, napi_callback_info info);
napi_value JsChannelClone(napi_env env, napi_callback_info info);
napi_value JsChannelShare(napi_env env, napi_callback_info info);
napi_value JsChannelClaim(napi_env env, napi_callback_info info);
napi_value JsChannelInfo(napi_env env, napi_callback_info info);
napi_value JsChannelCounts(napi_env env, napi_callback_info info);

}  // namespace polled
