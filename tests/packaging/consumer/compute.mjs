// What every consumer computes: an RNN, an LSTM with a projection and a GRU (2 layers, bidirectional,
// variable lengths) on each engine, from seeded weights. Numbers go back as plain arrays to compare.
import { createGru, createLstm, createRnn, initStateDict } from '@recurrent/core';

const INPUT = { data: Float32Array.from({ length: 2 * 4 * 5 }, (_, i) => Math.sin(i)), shape: [2, 4, 5] };
const COMMON = { inputSize: 5, hiddenSize: 8, numLayers: 2, bidirectional: true, batchFirst: true };
const MODULES = [
  ['rnn', createRnn, COMMON],
  ['lstm', createLstm, { ...COMMON, projSize: 3 }],
  ['gru', createGru, COMMON],
];

/** engines: { name: createBackend } → { name: { backend, rnn: number[], lstm: number[], gru: number[] } } */
export async function compute(engines) {
  const results = {};
  for (const [name, createBackend] of Object.entries(engines)) {
    const backend = await createBackend();
    const result = {};
    for (const [mode, create, config] of MODULES) {
      const model = await create(config, initStateDict(config, 7, mode), backend);
      const { output, hN } = await model.forward(INPUT, undefined, { lengths: [4, 2] });
      result.backend = model.backend;
      result[mode] = [...output.data, ...hN.data];
      model.dispose();
    }
    backend.dispose();
    results[name] = result;
  }
  return results;
}
