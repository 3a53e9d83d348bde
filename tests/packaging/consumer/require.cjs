// require() of the installed (ES module) packages: Node ≥ 20.19 loads them when the exports map has a
// `default` condition.
const core = require('@recurrent/core');
const { createBackend: cpu } = require('@recurrent/cpu');
const { createBackend: wasm } = require('@recurrent/wasm');
const { createBackend: webgpu } = require('@recurrent/webgpu');
const conformance = require('@recurrent/conformance');

if (typeof core.createRnn !== 'function' || typeof conformance.runCase !== 'function') throw new Error('require() gave no exports');
import('./compute.mjs')
  .then(({ compute }) => compute({ cpu, wasm, webgpu }))
  .then((results) => {
    console.log(JSON.stringify(results));
    process.exit(0);
  });
