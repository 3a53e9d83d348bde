// What the abort benches share: the benchmark's sizes (apps/bench/src/configs.ts S, M and L), the choice
// of sizes and modules from their options, a backend whose queue counts submissions, and one model with
// its input per size.
import { initStateDict, planModel, randomTensorData, resolveConfig } from '@recurrent/core';
import { createBackend } from '../dist/index.js';

export const SIZES = {
  S: { batch: 1, seqLen: 100, config: { inputSize: 64, hiddenSize: 64 } },
  M: { batch: 32, seqLen: 128, config: { inputSize: 256, hiddenSize: 256, numLayers: 2, bidirectional: true, batchFirst: true } },
  L: { batch: 64, seqLen: 256, config: { inputSize: 512, hiddenSize: 512 } },
};

/** The sizes and modules of `--sizes S,M --modules rnn,gru`, checked. */
export function chosen(values) {
  const names = values.sizes.split(',').map((s) => s.trim().toUpperCase());
  for (const name of names) if (!(name in SIZES)) throw new Error(`unknown size ${name}: pick from ${Object.keys(SIZES).join(', ')}`);
  return { names, modes: values.modules.split(',').map((s) => s.trim().toLowerCase()) };
}

/** A backend on the software GPU (unless one is chosen), and the count of its queue's submissions so far. */
export async function countingBackend() {
  const backend = await createBackend();
  const { queue } = backend.device;
  let submissions = 0;
  const submit = queue.submit.bind(queue);
  queue.submit = (buffers) => {
    submissions++;
    return submit(buffers);
  };
  return { backend, submissions: () => submissions };
}

/** An engine model of a size and module, its resolved config and its input (seeded). */
export async function sizedModel(backend, name, mode) {
  const { batch, seqLen, config } = SIZES[name];
  const resolved = resolveConfig(config, mode);
  const model = await backend.createModel(planModel(resolved, initStateDict(config, 1, mode)));
  const shape = config.batchFirst ? [batch, seqLen, config.inputSize] : [seqLen, batch, config.inputSize];
  const input = { data: randomTensorData(batch * seqLen * config.inputSize, 2), shape };
  return { model, resolved, input, batch, seqLen, config };
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
