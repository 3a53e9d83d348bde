import { createRnn, initStateDict } from '@recurrent/core';
import { createBackend } from './dist/index.js';
const wasm = await createBackend();
const config = { inputSize: 1, hiddenSize: 4, bias: false };
const weights = initStateDict(config, 1);
weights.weight_ih_l0.data.set([50, -50, 9, -9]);
weights.weight_hh_l0.data.fill(0);
const out = await (await createRnn(config, weights, wasm)).forward({ data: new Float32Array([1]), shape: [1, 1] });
console.log(out.output.data);
