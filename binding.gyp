{
  "variables": {
    # The reactor backend: epoll on Linux, kqueue on macOS/BSD. Override with
    #   npm run build:kqueue   (Linux + libkqueue, see README "Backends").
    "polled_backend%": "",
    "libkqueue_prefix%": "",
    # The io_uring backend (native/poller_uring.cc, chosen at run time): built when a static
    # liburing is installed (Debian: liburing-dev), linked in so that the addon needs no
    # liburing.so. Empty (no liburing, macOS/BSD, POLLED_NO_URING=1): left out, and io: 'uring'
    # is an IoError saying this build has none.
    "polled_uring%": "<!(node scripts/liburing.js)"
  },
  "targets": [
    {
      "target_name": "polled",
      "sources": [
        "native/addon.cc",
        "native/args.cc",
        "native/bind_channel.cc",
        "native/bind_io.cc",
        "native/bind_poller.cc",
        "native/bind_pool.cc",
        "native/bind_socket.cc",
        "native/bind_udp.cc",
        "native/channel.cc",
        "native/handles.cc",
        "native/mailbox.cc",
        "native/pool.cc",
        "native/socket.cc",
        "native/uv_driver.cc"
      ],
      # Raw node_api.h (NAPI_VERSION 8: async cleanup hooks), no node-addon-api; no C++ exceptions.
      # Hidden visibility (as CMakeLists.txt's CXX_VISIBILITY_PRESET): only the module's init is
      # exported, so calls between the native/*.cc files are direct, not through the PLT.
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": ["-std=c++17", "-O2", "-fno-exceptions", "-fvisibility=hidden", "-fvisibility-inlines-hidden",
                    "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc!": ["-fno-rtti", "-std=gnu++14", "-std=gnu++17"],
      "xcode_settings": {
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "MACOSX_DEPLOYMENT_TARGET": "11.0",
        "GCC_ENABLE_CPP_EXCEPTIONS": "NO",
        "GCC_SYMBOLS_PRIVATE_EXTERN": "YES"
      },
      "conditions": [
        ["polled_backend=='kqueue' or (polled_backend=='' and OS!='linux')", {
          "sources": ["native/poller_kqueue.cc"],
          "defines": ["POLLED_BACKEND_KQUEUE=1"]
        }, {
          "sources": ["native/poller_epoll.cc"],
          "defines": ["POLLED_BACKEND_EPOLL=1"]
        }],
        ["polled_uring!='' and polled_backend!='kqueue'", {
          "sources": ["native/poller_uring.cc"],
          "defines": ["POLLED_URING=1"],
          "libraries": ["<(polled_uring)"]
        }],
        ["libkqueue_prefix!=''", {
          "include_dirs": ["<(libkqueue_prefix)/include/kqueue"],
          "defines": ["POLLED_LIBKQUEUE=1"],
          # -z nodelete: libkqueue runs a thread of its own (close detection) that outlives the last
          # kqueue by a moment; Node dlcloses the addon with the last worker that loaded it, and
          # that thread must not be left running in unmapped code (SIGSEGV at process.exit()).
          "libraries": ["<(libkqueue_prefix)/lib/libkqueue.a", "-Wl,--exclude-libs,ALL", "-Wl,-z,nodelete", "-lpthread"]
        }]
      ]
    }
  ]
}
