// A model's first backward with a signal that never fires (it packs the transposed weights before its
// kernels), at 2 layers of H = I = 1024, bidirectional LSTM, L = 4, N = 1, on one thread. Per trial, on
// fresh models: the call's wall time, the longest the event loop was held meanwhile (a 1 ms interval
// timer's longest gap), and how long after an abort scheduled 5 ms into a first backward it rejected.
// With --baseline=DIR (a copy of an older dist/ and package.json) the same on that build, interleaved.
// Run: node bench/first-backward.mjs [--trials=3] [--baseline=node_modules/.baseline]
import { createLstm, initStateDict, isRnnError, randomTensorData } from '@recurrent/core';
import { resolve } from 'node:path';
import { createBackend } from '../dist/index.js';

const args = process.argv.slice(2);
const option = (name, fallback) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const trials = Number(option('trials', '3'));
const baselineDir = option('baseline', null);
const builds = [['this build', createBackend]];
if (baselineDir) builds.push(['baseline', (await import(resolve(baselineDir, 'dist/index.js'))).createBackend]);

const config = { inputSize: 1024, hiddenSize: 1024, numLayers: 2, bidirectional: true };
const weights = initStateDict(config, 1, 'lstm');
const input = { data: randomTensorData(4 * 1024, 2), shape: [4, 1, 1024] };
const upstream = { output: { data: randomTensorData(4 * 2048, 3), shape: [4, 1, 2048] } };
const code = (error) => (isRnnError(error) ? error.code : String(error));

for (let trial = 0; trial < trials; trial++) {
  for (const [name, create] of builds) {
    const backend = await create({ threads: 1 });
    const model = await createLstm(config, weights, backend);
    let last = performance.now();
    let longest = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
    }, 1);
    const start = performance.now();
    await model.backward(input, undefined, upstream, { signal: new AbortController().signal });
    const ms = performance.now() - start;
    clearInterval(timer);

    const stopped = await createLstm(config, weights, backend);
    const controller = new AbortController();
    const abortAt = performance.now() + 5;
    setTimeout(() => controller.abort(), 5);
    const outcome = await stopped.backward(input, undefined, upstream, { signal: controller.signal }).then(() => 'resolved', code);
    console.log(`${name.padEnd(10)} first backward ${ms.toFixed(0)} ms, event loop held at most ${longest.toFixed(0)} ms; aborted 5 ms in: ${outcome} ${(performance.now() - abortAt).toFixed(0)} ms after the abort`);
    backend.dispose();
  }
}
