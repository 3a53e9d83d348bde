// Forward throughput of @recurrent/wasm beside @recurrent/cpu and onnxruntime-web's wasm backend (Node,
// numThreads = 1), interleaved in one run so that machine noise hits every engine alike. Outputs are
// checked equal before anything is timed. Run: pnpm --filter @recurrent/wasm bench [S|M|L ...]
// (the script runs Node with --experimental-wasm-relaxed-simd, so that Node 20 has the relaxed-SIMD rows too).
import { loadavg } from 'node:os';
import * as ort from 'onnxruntime-web';
import { createRnn, forwardFlops, initStateDict, randomTensorData } from '@recurrent/core';
import { createBackend as createCpuBackend } from '@recurrent/cpu';
import { createBackend, detectFeatures } from '../dist/index.js';
import { buildOnnxRnn } from './onnx.mjs';

const SIZES = {
  S: { config: { inputSize: 64, hiddenSize: 64 }, N: 1, L: 100, reps: 300 },
  M: { config: { inputSize: 256, hiddenSize: 256, numLayers: 2, bidirectional: true, batchFirst: true }, N: 32, L: 128, reps: 7 },
  L: { config: { inputSize: 512, hiddenSize: 512 }, N: 64, L: 256, reps: 5 },
};
const wanted = process.argv.slice(2).filter((a) => a in SIZES);
const sizes = wanted.length > 0 ? wanted : Object.keys(SIZES);

ort.env.wasm.numThreads = 1;
const features = detectFeatures();
const engines = [];
for (const relaxedSimd of features.relaxedSimd ? [false, true] : [false]) {
  for (const threads of features.threads ? [1, 2] : [1]) {
    const backend = await createBackend({ relaxedSimd, threads });
    engines.push({ name: `${relaxedSimd ? 'wasm-relaxed-simd' : 'wasm-simd'} ${threads} thread${threads > 1 ? 's' : ''}`, backend, threads });
  }
}
const cpu = await createCpuBackend();

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function time(run, reps) {
  await run();
  const samples = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await run();
    samples.push(performance.now() - t0);
  }
  return median(samples);
}

console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; "cores got" = this process's CPU time / wall time during the runs (2 threads can only be 2× faster when it nears 2)`);
console.log(`node ${process.version}, ${features.relaxedSimd ? 'relaxed SIMD available' : 'no relaxed SIMD (Node 20: --experimental-wasm-relaxed-simd)'}; median of interleaved runs; GFLOP/s = 2·B·T·D·Σ(I·H + H·H) / time`);
for (const size of sizes) {
  const { config, N, L, reps } = SIZES[size];
  const weights = initStateDict(config, 1);
  const shape = config.batchFirst ? [N, L, config.inputSize] : [L, N, config.inputSize];
  const input = { data: randomTensorData(N * L * config.inputSize, 2), shape };
  const flops = forwardFlops(config, N, L);

  const runners = [];
  for (const { name, backend } of engines) {
    const rnn = await createRnn(config, weights, backend);
    runners.push({ name, run: () => rnn.forward(input), rnn });
  }
  const cpuRnn = await createRnn(config, weights, cpu);
  runners.push({ name: '@recurrent/cpu', run: () => cpuRnn.forward(input), reps: Math.min(reps, size === 'S' ? reps : 2) });
  const session = await ort.InferenceSession.create(buildOnnxRnn(config, weights), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const feed = { input: new ort.Tensor('float32', input.data, shape) };
  runners.push({ name: 'onnxruntime-web wasm 1 thread', run: () => session.run(feed), ort: true });

  // Same numbers first: ORT and the CPU engine against our output.
  const reference = (await runners[0].run()).output.data;
  for (const runner of runners.slice(1)) {
    const result = await runner.run();
    const data = runner.ort ? result.output.data : result.output.data;
    let worst = 0;
    for (let i = 0; i < reference.length; i++) worst = Math.max(worst, Math.abs(data[i] - reference[i]));
    if (data.length !== reference.length || !(worst < 1e-4)) throw new Error(`${size}: ${runner.name} differs from ${runners[0].name} by ${worst}`);
  }

  const samples = new Map(runners.map((r) => [r.name, []]));
  // CPU time / wall time of this process during a run: the cores it really got (the machine is shared).
  const cores = new Map(runners.map((r) => [r.name, []]));
  for (let round = 0; round < reps; round++) {
    for (const runner of runners) {
      if (round >= (runner.reps ?? reps)) continue;
      if (round === 0) await runner.run(); // warm-up
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      await runner.run();
      const ms = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      samples.get(runner.name).push(ms);
      cores.get(runner.name).push((cpu.user + cpu.system) / 1000 / ms);
    }
  }
  const ortMs = median(samples.get('onnxruntime-web wasm 1 thread'));
  const best = (name) => Math.min(...samples.get(name));
  console.log(`\n${size}: B${N} T${L} I${config.inputSize} H${config.hiddenSize}, ${config.numLayers ?? 1} layer(s)${config.bidirectional ? ', bidirectional' : ''}${config.batchFirst ? ', batch_first' : ''} — ${(flops / 1e9).toFixed(3)} GFLOP per forward, outputs equal (max |Δ| < 1e-4)`);
  console.log(`  ${'engine'.padEnd(32)} ${'median ms'.padStart(10)}  GFLOP/s (median, best)  cores got  ratios on medians`);
  for (const runner of runners) {
    const ms = median(samples.get(runner.name));
    let ratio = runner.ort ? '' : `${(ortMs / ms).toFixed(2)}× ORT-web throughput, ${(ms / ortMs).toFixed(2)}× its latency`;
    if (runner.name.endsWith('2 threads')) {
      const single = runner.name.replace('2 threads', '1 thread');
      ratio += `; ${(median(samples.get(single)) / ms).toFixed(2)}× our 1 thread (best: ${(best(single) / best(runner.name)).toFixed(2)}×)`;
    }
    const gflops = (t) => (flops / t / 1e6).toFixed(2).padStart(7);
    console.log(`  ${runner.name.padEnd(32)} ${ms.toFixed(3).padStart(10)}  ${gflops(ms)} ${gflops(best(runner.name))}        ${median(cores.get(runner.name)).toFixed(2).padStart(5)}     ${ratio}`);
  }
  for (const runner of runners) runner.rnn?.dispose();
  await session.release();
}
for (const { backend } of engines) backend.dispose();
