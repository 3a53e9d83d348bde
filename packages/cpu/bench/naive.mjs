// How much faster @recurrent/cpu is than the textbook loop, on the same weights and input, per module.
// Runs are interleaved (cpu, naive, cpu, naive, …) because this machine is shared and noisy.
// Usage: pnpm --filter @recurrent/cpu bench [--reps N] [--mode rnn|lstm|gru] (default: all three)
import { createGru, createLstm, createRnn, forwardFlops, initStateDict, randomTensorData } from '@recurrent/core';
import { createBackend } from '@recurrent/cpu';
import { naiveGruForward, naiveLstmForward, naiveRnnForward } from '@recurrent/cpu/naive';

const option = (name) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const reps = Number(option('--reps')) || 3;
const modes = option('--mode') ? [option('--mode')] : ['rnn', 'lstm', 'gru'];
const MODULES = {
  rnn: { name: 'nn.RNN', create: createRnn, naive: naiveRnnForward },
  lstm: { name: 'nn.LSTM', create: createLstm, naive: naiveLstmForward },
  gru: { name: 'nn.GRU', create: createGru, naive: naiveGruForward },
};

// M = B32 T128 I256 H256, 2 layers, bidirectional, batch_first
const config = { inputSize: 256, hiddenSize: 256, numLayers: 2, bidirectional: true, batchFirst: true };
const [N, L] = [32, 128];
const input = { data: randomTensorData(N * L * config.inputSize, 2), shape: [N, L, config.inputSize] };
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

for (const mode of modes) {
  const { name, create, naive } = MODULES[mode];
  const weights = initStateDict(config, 1, mode);
  const model = await create(config, weights, await createBackend());
  const flops = forwardFlops(config, N, L, mode);
  const engines = {
    '@recurrent/cpu': async () => (await model.forward(input)).output.data,
    'naive loop': async () => naive(config, weights, input).output.data,
  };
  const outputs = await Promise.all(Object.values(engines).map((run) => run())); // also the warm-up
  let maxDiff = 0;
  outputs[0].forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - outputs[1][i]))));
  if (!(maxDiff < 1e-4)) throw new Error(`${name}: outputs differ by ${maxDiff}: refusing to time unequal work`);

  const times = Object.fromEntries(Object.keys(engines).map((engine) => [engine, []]));
  for (let rep = 0; rep < reps; rep++) {
    for (const [engine, run] of Object.entries(engines)) {
      const start = performance.now();
      await run();
      times[engine].push(performance.now() - start);
    }
  }
  console.log(`${name} at M = B${N} T${L} I256 H256, 2 layers, bidirectional, batch_first: ${(flops / 1e9).toFixed(2)} GFLOP per forward; outputs agree to ${maxDiff.toExponential(1)}`);
  for (const [engine, xs] of Object.entries(times)) {
    const ms = median(xs);
    console.log(`  ${engine.padEnd(16)} median ${ms.toFixed(0).padStart(6)} ms  (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})  ${(flops / ms / 1e6).toFixed(2)} GFLOP/s`);
  }
  console.log(`  speed-up of @recurrent/cpu over the naive loop: ${(median(times['naive loop']) / median(times['@recurrent/cpu'])).toFixed(2)}×  (${reps} interleaved runs each)`);
  model.dispose();
}
