// Loads an nn.RNN that PyTorch saved as .safetensors, runs it on @recurrent/cpu and prints the result
// beside PyTorch's own (both written by packages/core/test/fixtures/make_fixtures.py).
import { readFileSync } from 'node:fs';
import { createRnn, readSafetensors } from '@recurrent/core';
import { createBackend } from '@recurrent/cpu';

const fixtures = new URL('../../core/test/fixtures/', import.meta.url);
const pytorch = JSON.parse(readFileSync(new URL('rnn-expected.json', fixtures), 'utf8'));
const weights = readSafetensors(readFileSync(new URL('rnn-f32.safetensors', fixtures)));

const rnn = await createRnn(pytorch.config, weights, await createBackend());
const input = { data: Float32Array.from(pytorch.input.data), shape: pytorch.input.shape };
const { output, hN } = await rnn.forward(input);

console.log(`nn.RNN(${JSON.stringify(pytorch.config)}) on engine "${rnn.backend}"`);
console.log(`input ${JSON.stringify(input.shape)} → output ${JSON.stringify(output.shape)}, h_n ${JSON.stringify(hN.shape)}`);
const row = (data, from) => Array.from(data.subarray(from, from + 5), (v) => v.toFixed(6).padStart(10)).join(' ');
console.log(`output[0, 0, :5]  ours    ${row(output.data, 0)}`);
console.log(`                  PyTorch ${row(Float32Array.from(pytorch.output.data), 0)}`);
let maxDiff = 0;
output.data.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - pytorch.output.data[i]))));
hN.data.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - pytorch.hN.data[i]))));
console.log(`max |ours − PyTorch| over output and h_n: ${maxDiff.toExponential(2)}`);
rnn.dispose();
