#!/usr/bin/env node
// Run a TypeScript example straight from source: `npm run example examples/hello.ts`.
// Transpiles .ts files on require (typescript's transpileModule, no type check) and resolves
// `import ... from 'polled'` to this checkout's lib/, so examples read as a user would write them.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');
const ts = require('typescript');

const root = path.resolve(__dirname, '..');
const libIndex = path.join(root, 'lib', 'index.ts');

const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, parent, ...rest) {
  if (request === 'polled') return libIndex;
  return resolve.call(this, request, parent, ...rest);
};
require.extensions['.ts'] = function (module, filename) {
  const src = fs.readFileSync(filename, 'utf8');
  const out = ts.transpileModule(src, {
    fileName: filename,
    // As tsconfig.json compiles lib/ (useDefineForClassFields: false: a constructor's parameter
    // properties are assigned before the field initializers, which may use them), so that an
    // example runs the library exactly as the build does.
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, useDefineForClassFields: false, esModuleInterop: true, sourceMap: false },
  });
  module._compile(out.outputText, filename);
};

const file = process.argv[2];
if (!file) {
  console.error('usage: npm run example <file.ts> [args...]');
  process.exit(2);
}
process.argv.splice(1, 1); // the example sees itself as argv[1]
require(path.resolve(file));
