// Everything one load of the addon owns: one Instance per env (the main thread, each worker), made
// by addon.cc's Init and handed to every exported function as its callback data, so no call looks
// it up. Its own header because every bind_*.cc reads it and nothing else there is shared by all.
#pragma once

#include <node_api.h>

#include "channel.h"
#include "handles.h"
#include "uv_driver.h"

namespace polled {

struct Instance {
  explicit Instance(napi_env env) : handles(env) {}
  HandleTable handles;
  DriverCounter drivers;
  // This thread's thread-channel ends (channel.h; bind_channel.cc).
  ChannelTable channels;
  // The argument block of readBound / writeBound (bind_io.cc; slots in contract.h). Shared
  // memory: another thread that was handed the buffer may write it at any time, so the addon
  // reads each argument once (volatile) and validates what it read.
  volatile double* io_args = nullptr;
  napi_ref io_args_ref = nullptr;
  // udpMeta, the datagram records of the UDP calls (bind_udp.cc; layout in contract.h). Shared
  // memory too: read once per field, validated.
  volatile uint32_t* udp_meta = nullptr;
  napi_ref udp_meta_ref = nullptr;
};

}  // namespace polled
