#!/usr/bin/env node
// `npm run prebuild`: compile the addon and store it as prebuilds/<platform>-<arch>/polled.<tags>.node
// with prebuildify (N-API build, stripped, tagged with the libc on Linux), which the npm package
// ships and lib/native.ts loads before any local build.
//
// (The build script is `build:all`, not `build`: npm would run a script named `prebuild` as the
// pre-hook of `npm run build`, compiling twice and leaving prebuilds/ in the checkout.)
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const bin = require.resolve('prebuildify/bin.js', { paths: [root] });
const args = [bin, '--napi', '--strip', '--tag-libc', ...process.argv.slice(2)];
console.log(`prebuild: prebuildify ${args.slice(1).join(' ')}`);
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status === null ? 1 : r.status);
for (const dir of fs.readdirSync(path.join(root, 'prebuilds'))) {
  for (const f of fs.readdirSync(path.join(root, 'prebuilds', dir))) console.log(`prebuild: prebuilds/${dir}/${f}`);
}
