// `import` from the installed packages, the way a Node (or Deno, Bun) user writes it.
import * as conformance from '@recurrent/conformance';
import * as conformanceNode from '@recurrent/conformance/node';
import { createBackend as cpu } from '@recurrent/cpu';
import { createBackend as wasm } from '@recurrent/wasm';
import { createBackend as webgpu } from '@recurrent/webgpu';
import { compute } from './compute.mjs';

if (typeof conformance.runCase !== 'function' || typeof conformanceNode.loadManifest !== 'function') throw new Error('@recurrent/conformance exports are missing');
console.log(JSON.stringify(await compute({ cpu, wasm, webgpu })));
globalThis.process?.exit?.(0);
