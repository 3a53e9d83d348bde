// One training step's cost on the WebGPU engine: forward + backward against forward alone, per module.
// Default size S = B8 T32 I64 H64, 2 layers, bidirectional, batch_first (SwiftShader runs WGSL on the CPU:
// M = B32 T128 I256 H256 takes minutes there); --size M for the size on a real GPU. Runs are
// interleaved (forward, forward + backward, …); each prints its median wall time and the bytes of GPU
// buffers the backward held (stats().backwardBytes).
// Usage: node bench/train.mjs [--reps N] [--mode lstm|gru|rnn] [--size S|M] (default: lstm and gru, 3 reps). Build first.
import { useSoftwareVulkanUnlessChosen } from '@recurrent/conformance/software-gpu';

useSoftwareVulkanUnlessChosen();
const { createGru, createLstm, createRnn, forwardFlops, initStateDict, randomTensorData } = await import('@recurrent/core');
const { createBackend } = await import('../dist/index.js');

const option = (name) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const reps = Number(option('--reps')) || 3;
const modes = option('--mode') ? [option('--mode')] : ['lstm', 'gru'];
const size = option('--size') ?? 'S';
const create = { rnn: createRnn, lstm: createLstm, gru: createGru };
const [N, L, width] = size === 'M' ? [32, 128, 256] : [8, 32, 64];
const config = { inputSize: width, hiddenSize: width, numLayers: 2, bidirectional: true, batchFirst: true };
const input = { data: randomTensorData(N * L * width, 2), shape: [N, L, width] };
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const backend = await createBackend();
console.log(`WebGPU adapter: ${backend.adapter}; ${size} = B${N} T${L} I${width} H${width}, 2 layers, bidirectional, batch_first`);
for (const mode of modes) {
  const model = await create[mode](config, initStateDict(config, 1, mode), backend);
  const forward = await model.forward(input);
  const upstream = { output: { data: randomTensorData(forward.output.data.length, 3), shape: forward.output.shape } };
  await model.backward(input, undefined, upstream); // compiles the backward kernels
  const fw = [], fb = [];
  for (let r = 0; r < reps; r++) {
    let start = performance.now();
    await model.forward(input);
    fw.push(performance.now() - start);
    start = performance.now();
    await model.backward(input, undefined, upstream);
    fb.push(performance.now() - start);
  }
  const flops = forwardFlops(config, N, L, mode);
  const f = median(fw), b = median(fb);
  console.log(
    `${mode.padEnd(5)} ${model.backend}: forward ${(f / 1000).toFixed(3)} s (${(flops / f / 1e6).toFixed(2)} GFLOP/s), forward+backward ${(b / 1000).toFixed(3)} s = ${(b / f).toFixed(2)}× forward; ` +
      `backward held ${(backend.stats().backwardBytes / 2 ** 20).toFixed(1)} MiB of GPU buffers`,
  );
  model.dispose();
}
backend.dispose();
