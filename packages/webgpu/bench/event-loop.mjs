// How long compiling holds the event loop: the longest gap of a 1 ms setInterval during
// `await createLstm(...)` of a size not compiled yet, and during that model's first backward (which
// compiles the backward's kernels), with how many times the timer ticked. A fresh backend per run.
// Usage: node bench/event-loop.mjs [--hidden 256] [--layers 2] [--runs 3]. Build first.
import { useSoftwareVulkanUnlessChosen } from '@recurrent/conformance/software-gpu';

useSoftwareVulkanUnlessChosen();
const { createLstm, initStateDict, randomTensorData } = await import('@recurrent/core');
const { createBackend } = await import('../dist/index.js');

const option = (name, fallback) => (process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : fallback);
const H = option('--hidden', 256);
const numLayers = option('--layers', 2);
const runs = option('--runs', 3);
const [N, L] = [2, 4];

/** The longest gap between ticks of a 1 ms interval while `work` runs, and the ticks. */
async function held(work) {
  let last = performance.now();
  let longest = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    ticks++;
  }, 1);
  const start = performance.now();
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  const end = performance.now();
  return { wall: end - start, longest: Math.max(longest, end - last), ticks };
}

const show = ({ wall, longest, ticks }) => `longest hold ${longest.toFixed(0)} ms of ${wall.toFixed(0)} ms (${ticks} ticks)`;
for (let run = 0; run < runs; run++) {
  const backend = await createBackend();
  // A size of its own per run, so that Dawn has nothing of it compiled.
  const config = { inputSize: 64 + run, hiddenSize: H + run, numLayers, bidirectional: true };
  if (run === 0) console.log(`WebGPU adapter: ${backend.adapter}; LSTM H=${H}(+run) I=64(+run), ${numLayers} layers, bidirectional, N=${N} L=${L}`);
  const weights = initStateDict(config, 1, 'lstm');
  let model;
  const creating = await held(async () => {
    model = await createLstm(config, weights, backend);
  });
  const input = { data: randomTensorData(L * N * config.inputSize, 2), shape: [L, N, config.inputSize] };
  const upstream = { output: { data: randomTensorData(L * N * 2 * config.hiddenSize, 3), shape: [L, N, 2 * config.hiddenSize] } };
  const backward = await held(() => model.backward(input, undefined, upstream));
  console.log(`run ${run + 1}: createLstm ${show(creating)}; first backward ${show(backward)}`);
  model.dispose();
  backend.dispose();
}
