// The package's types: dist/index.d.ts, plus the WebGPU types it names for projects that have none.
/// <reference path="./webgpu-types.d.ts" />
export * from './dist/index.js';
