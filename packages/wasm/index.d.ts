// The package's types: dist/index.d.ts, plus the WebAssembly types it names for projects that have none.
/// <reference path="./webassembly-types.d.ts" />
export * from './dist/index.js';
