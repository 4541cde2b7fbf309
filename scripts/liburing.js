#!/usr/bin/env node
// Prints the path of a static liburing (liburing.a) with its header, or nothing: binding.gyp and
// CMakeLists.txt build the io_uring backend (native/poller_uring.cc) only when it prints a path.
// Linux only. POLLED_NO_URING=1 leaves the backend out whatever is installed (to test such a build).
'use strict';
const fs = require('fs');
const path = require('path');

function find() {
  if (process.platform !== 'linux' || process.env.POLLED_NO_URING === '1') return '';
  const incs = ['/usr/include', '/usr/local/include'];
  if (!incs.some((d) => fs.existsSync(path.join(d, 'liburing.h')))) return '';
  const libs = [`/usr/lib/${process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : process.arch}-linux-gnu`, '/usr/lib64', '/usr/lib', '/usr/local/lib', '/usr/local/lib64'];
  for (const d of libs) {
    const a = path.join(d, 'liburing.a');
    if (fs.existsSync(a)) return a;
  }
  return '';
}

process.stdout.write(find());
