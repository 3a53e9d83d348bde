// One training step's cost on the WASM engine: forward + backward against forward alone, per module, at
// M = B32 T128 I256 H256, 2 layers, bidirectional, batch_first, relaxed SIMD (plain SIMD where the
// runtime has none) on one thread. Runs are interleaved (forward, forward + backward, …) because this
// machine is shared and noisy; the ratio that counts is of this process's CPU time, which a loaded
// machine distorts least, and each line says how many cores the process really got (CPU time / wall).
// Usage: node --experimental-wasm-relaxed-simd bench/train.mjs [--reps N] [--mode lstm|gru|rnn]
// (default: lstm and gru, 5 reps). Build first (pnpm --filter @recurrent/wasm build).
// It also prints what a fine-tuning step costs beyond those: loadStateDict (new weights after each
// optimiser step), and the first backward's extra over a later one (packing the transposed weights,
// growing the memory for its buffers).
import { createGru, createLstm, createRnn, forwardFlops, initStateDict, randomTensorData } from '@recurrent/core';
import { createBackend, detectFeatures } from '../dist/index.js';

const option = (name) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const reps = Number(option('--reps')) || 5;
const modes = option('--mode') ? [option('--mode')] : ['lstm', 'gru'];
const create = { rnn: createRnn, lstm: createLstm, gru: createGru };

const config = { inputSize: 256, hiddenSize: 256, numLayers: 2, bidirectional: true, batchFirst: true };
const [N, L] = [32, 128];
const input = { data: randomTensorData(N * L * config.inputSize, 2), shape: [N, L, config.inputSize] };
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Wall time and this process's CPU time. */
async function timed(run) {
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  await run();
  const ms = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000 };
}

const backend = await createBackend({ relaxedSimd: detectFeatures().relaxedSimd, threads: 1 });
for (const mode of modes) {
  const model = await create[mode](config, initStateDict(config, 1, mode), backend);
  const forward = await model.forward(input);
  const upstream = { output: { data: randomTensorData(forward.output.data.length, 3), shape: forward.output.shape } };
  // Warm up: compile tiers and the backward's buffers at full size.
  const first = await timed(() => model.backward(input, undefined, upstream));
  await model.forward(input);
  const next = initStateDict(config, 2, mode);
  const fw = [], fb = [], load = [];
  for (let r = 0; r < reps; r++) {
    fw.push(await timed(() => model.forward(input)));
    fb.push(await timed(() => model.backward(input, undefined, upstream)));
    load.push(await timed(() => model.loadStateDict(next)));
  }
  const flops = forwardFlops(config, N, L, mode);
  const f = median(fw.map((x) => x.ms)), b = median(fb.map((x) => x.ms));
  const fc = median(fw.map((x) => x.cpuMs)), bc = median(fb.map((x) => x.cpuMs));
  const cores = (xs) => median(xs.map((x) => x.cpuMs / x.ms)).toFixed(2);
  console.log(
    `${backend.variant} ${mode.padEnd(4)} M: CPU time: forward ${fc.toFixed(0)} ms (${(flops / fc / 1e6).toFixed(1)} GFLOP per CPU-second), ` +
      `forward+backward ${bc.toFixed(0)} ms = ${(bc / fc).toFixed(2)}× forward; wall: forward ${f.toFixed(0)} ms, forward+backward ${b.toFixed(0)} ms = ${(b / f).toFixed(2)}×; ` +
      `cores got ${cores(fw)} (forward), ${cores(fb)} (forward+backward); backward keeps ${(backend.stats().backwardBytes / 2 ** 20).toFixed(0)} MiB; median of ${reps}`,
  );
  console.log(`${backend.variant} ${mode.padEnd(4)} M: loadStateDict ${median(load.map((x) => x.cpuMs)).toFixed(1)} ms CPU time (median of ${reps}); the first backward took ${(first.cpuMs - bc).toFixed(0)} ms more than the median one`);
  model.dispose();
}
