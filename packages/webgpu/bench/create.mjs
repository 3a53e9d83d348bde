// What building a model costs: `--models N` models per size (default 50), the sizes taken in turn, each
// model created, run once (forward, and with --backward a backward too) and disposed, on one backend.
// Prints per size the median and first wall time of each phase, the total, and backend.stats() at the
// end (the pipeline cache: shader modules and pipelines held). Sizes are small (N=2, L=4): there the
// compile, not the math, is what a model's first call costs on a software GPU.
// Run with node --expose-gc to collect garbage after each model, as a long-running page eventually does:
// Dawn reuses a pipeline only while an identical one is alive, so without it the figures depend on when
// V8 happens to collect the previous models.
// Usage: node --expose-gc bench/create.mjs [--models N] [--backward]. Build first.
import { useSoftwareVulkanUnlessChosen } from '@recurrent/conformance/software-gpu';

useSoftwareVulkanUnlessChosen();
const { createGru, createLstm, createRnn, initStateDict, randomTensorData } = await import('@recurrent/core');
const { createBackend } = await import('../dist/index.js');

const option = (name) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const count = Number(option('--models')) || 50;
const backward = process.argv.includes('--backward');
const create = { rnn: createRnn, lstm: createLstm, gru: createGru };
const sizes = [
  { mode: 'rnn', config: { inputSize: 8, hiddenSize: 16 } },
  { mode: 'lstm', config: { inputSize: 16, hiddenSize: 32, numLayers: 2, bidirectional: true } },
  { mode: 'lstm', config: { inputSize: 16, hiddenSize: 32, projSize: 8 } },
  { mode: 'gru', config: { inputSize: 32, hiddenSize: 64, numLayers: 2 } },
];
const [N, L] = [2, 4];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x) => `${x.toFixed(1)} ms`;

const backend = await createBackend();
console.log(`WebGPU adapter: ${backend.adapter}; ${count} models per size, sizes in turn, N=${N} L=${L}${backward ? ', forward + backward' : ''}${globalThis.gc ? ', gc after each' : ''}`);
const started = performance.now();
const runs = sizes.map(({ mode, config }) => ({
  mode,
  config,
  weights: initStateDict(config, 1, mode),
  input: { data: randomTensorData(L * N * config.inputSize, 2), shape: [L, N, config.inputSize] },
  creating: [],
  running: [],
}));
for (let m = 0; m < count; m++) {
  for (const { mode, config, weights, input, creating, running } of runs) {
    let start = performance.now();
    const model = await create[mode](config, weights, backend);
    creating.push(performance.now() - start);
    start = performance.now();
    const { output } = await model.forward(input);
    if (backward) await model.backward(input, undefined, { output: { data: randomTensorData(output.data.length, 3), shape: output.shape } });
    running.push(performance.now() - start);
    model.dispose();
    globalThis.gc?.();
  }
}
for (const { mode, config, creating, running } of runs) {
  const total = creating.reduce((a, b) => a + b, 0) + running.reduce((a, b) => a + b, 0);
  console.log(
    `${mode.padEnd(5)} ${JSON.stringify(config)}: create ${ms(median(creating))} (first ${ms(creating[0])}), ` +
      `${backward ? 'forward+backward' : 'forward'} ${ms(median(running))} (first ${ms(running[0])}); ${count} models in ${(total / 1000).toFixed(2)} s`,
  );
}
console.log(`all: ${((performance.now() - started) / 1000).toFixed(2)} s; stats ${JSON.stringify(backend.stats())}`);
backend.dispose();
