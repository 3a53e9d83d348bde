import { createRnn, initStateDict, randomTensorData, forwardFlops } from '@recurrent/core';
import { createBackend } from './dist/index.js';
const wasm = await createBackend();
for (const [name, cfg, N, L] of [
  ['S', { inputSize: 64, hiddenSize: 64 }, 1, 100],
  ['M', { inputSize: 256, hiddenSize: 256, numLayers: 2, bidirectional: true, batchFirst: true }, 32, 128],
  ['L', { inputSize: 512, hiddenSize: 512 }, 64, 256],
]) {
  const rnn = await createRnn(cfg, initStateDict(cfg, 1), wasm);
  const input = { data: randomTensorData(L * N * cfg.inputSize, 2), shape: cfg.batchFirst ? [N, L, cfg.inputSize] : [L, N, cfg.inputSize] };
  await rnn.forward(input);
  const reps = name === 'S' ? 200 : 3;
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) await rnn.forward(input);
  const ms = (performance.now() - t0) / reps;
  console.log(name, ms.toFixed(3), 'ms', (forwardFlops(cfg, N, L) / ms / 1e6).toFixed(2), 'GFLOP/s');
}
