// The page of bench/paced-chromium.mjs: in Chromium, the wall time of a forward with a signal that never
// fires (the work runs in slices, yielding to the event loop between them) against one without.
import { createLstm, initStateDict, randomTensorData } from '@recurrent/core';
import { createBackend } from '../dist/index.js';
export async function run(): Promise<string> {
  const config = { inputSize: 256, hiddenSize: 256, numLayers: 2, bidirectional: true };
  const [N, L] = [8, 64];
  const input = { data: randomTensorData(N * L * 256, 2), shape: [L, N, 256] };
  const model = await createLstm(config, initStateDict(config, 1, 'lstm'), await createBackend());
  await model.forward(input);
  const plain: number[] = [], paced: number[] = [];
  for (let r = 0; r < 7; r++) {
    let t = performance.now(); await model.forward(input); plain.push(performance.now() - t);
    t = performance.now(); await model.forward(input, undefined, { signal: new AbortController().signal }); paced.push(performance.now() - t);
  }
  const med = (x: number[]) => [...x].sort((a, b) => a - b)[x.length >> 1]!;
  return `Chromium cpu: forward wall ms, median of 7: no signal ${med(plain).toFixed(1)}, signal that never fires ${med(paced).toFixed(1)} = ${(med(paced) / med(plain)).toFixed(3)}x`;
}
