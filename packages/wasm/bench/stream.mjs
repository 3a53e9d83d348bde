// What a one-step stream push costs beside one forward over the same steps (issue 12's streaming size:
// 1 layer, I = 64, H = 128, N = 1, 1,000 pushes), and where the difference goes. Per module it prints,
// as the minimum and median over --reps interleaved runs of CPU time (process.cpuUsage, so that other
// processes on a shared machine count less than in wall time):
//  - forward: one forward over the 1,000 steps, per step;
//  - stream: 1,000 pushes of one step through model.stream(), per step, and stream ÷ forward;
//  - kernel: the WebAssembly kernel of a push alone (the last push's runLayer call replayed 1,000 times),
//    and the rest of a push (JavaScript: core's checks, the engine's call, the result's allocation and
//    promises), the difference;
//  - floor: what no promise-returning push with fresh results can avoid, written out by hand: the input
//    copied in, that same kernel call, three result arrays from core's slab filled by set(), the result
//    objects, and one await;
//  - with --baseline=DIR (a copy of an older dist/ and package.json), the same stream on that build.
// Run: node bench/stream.mjs [--threads=1] [--reps=15] [--baseline=node_modules/.baseline]
import { createGru, createLstm, initStateDict, randomTensorData, resultArrays } from '@recurrent/core';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { RUNTIME } from '../dist/blocks.js';
import { createBackend } from '../dist/index.js';

const args = process.argv.slice(2);
const option = (name, fallback) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const threads = Number(option('threads', '1'));
const reps = Number(option('reps', '15'));
const baselineDir = option('baseline', null);
const baseline = baselineDir ? await import(resolve(baselineDir, 'dist/index.js')) : null;

const config = { inputSize: 64, hiddenSize: 128 };
const T = 1000;
const input = { data: randomTensorData(T * config.inputSize, 2), shape: [T, 1, config.inputSize] };
const steps = Array.from({ length: T }, (_, t) => ({ data: input.data.slice(t * 64, (t + 1) * 64), shape: [1, 1, 64] }));

const cpuMicros = async (work) => {
  const start = process.cpuUsage();
  await work();
  const used = process.cpuUsage(start);
  return used.user + used.system;
};
const stats = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return { min: sorted[0], median: sorted[Math.floor(sorted.length / 2)] };
};
const fmt = ({ min, median }) => `${min.toFixed(2).padStart(6)} ${median.toFixed(2).padStart(6)}`;

/**
 * Records the runtime's last runLayer arguments, and replays them: the CPU time of that call alone, which
 * is a push's kernel (a push of one step is one call on one thread).
 */
function kernelProbe(backend) {
  const runtime = backend[RUNTIME];
  const runLayer = runtime.kernels.runLayer;
  let last = null;
  runtime.kernels = { ...runtime.kernels, runLayer: (...a) => ((last = a), runLayer(...a)) };
  return {
    calls: () => last,
    replay: (times) => cpuMicros(async () => {
      for (let i = 0; i < times; i++) runLayer(...last);
    }),
    /** The floor of a push of `steps[i]` (see the top): the kernel's buffers are the last call's. */
    floor: (steps, lstm) => cpuMicros(async () => {
      const args = last;
      const [x, out, hN, cN] = [args[12], args[16], args[28], args[29]].map((bytes) => bytes / 4);
      const H = args[7];
      const memory = runtime.heap.floats;
      const shape = [1, 1, H];
      for (const step of steps) {
        memory.set(step.data, x);
        runLayer(...args);
        const [o, h, c] = resultArrays(H, H, lstm ? H : 0);
        o.set(memory.subarray(out, out + H));
        h.set(memory.subarray(hN, hN + H));
        if (lstm) c.set(memory.subarray(cN, cN + H));
        await Promise.resolve({ output: { data: o, shape: [...shape] }, hN: { data: h, shape: [...shape] }, ...(lstm ? { cN: { data: c, shape: [...shape] } } : {}) });
      }
    }),
  };
}

console.log(`Node ${process.version}, ${threads} thread(s), load average ${loadavg()[0].toFixed(1)}; µs per step, min and median of ${reps} runs (CPU time)`);
console.log(`module  ${'forward'.padStart(13)}  ${'stream'.padStart(13)}  ÷ forward  ${'kernel/push'.padStart(13)}  ${'rest/push'.padStart(13)}  ${'floor'.padStart(13)}  ÷ forward${baseline ? `  ${'baseline stream'.padStart(15)}  ÷ forward` : ''}`);
for (const mode of ['lstm', 'gru']) {
  const create = mode === 'lstm' ? createLstm : createGru;
  const weights = initStateDict(config, 1, mode);
  const backend = await createBackend({ threads });
  const kernel = kernelProbe(backend);
  const model = await create(config, weights, backend);
  const old = baseline ? await create(config, weights, await baseline.createBackend({ threads })) : null;
  const reference = await model.forward(input);
  const samples = { forward: [], stream: [], kernel: [], rest: [], floor: [], baseline: [] };
  const runStream = async (m, check) => {
    const stream = m.stream();
    let last;
    for (const step of steps) last = await stream.push(step);
    stream.dispose();
    if (check && Math.max(...last.hN.data.map((v, i) => Math.abs(v - reference.hN.data[i]))) > 1e-5) throw new Error(`${mode}: the stream's h_n differs from forward's`);
  };
  await runStream(model, true);
  if (old) await runStream(old, true);
  for (let rep = 0; rep < reps; rep++) {
    samples.forward.push((await cpuMicros(() => model.forward(input))) / T);
    const push = (await cpuMicros(() => runStream(model, false))) / T;
    const kernelMicros = (await kernel.replay(T)) / T;
    samples.stream.push(push);
    samples.kernel.push(kernelMicros);
    samples.rest.push(push - kernelMicros);
    samples.floor.push((await kernel.floor(steps, mode === 'lstm')) / T);
    if (old) samples.baseline.push((await cpuMicros(() => runStream(old, false))) / T);
  }
  const forward = stats(samples.forward);
  const stream = stats(samples.stream);
  const ratio = (s) => `${(s.min / forward.min).toFixed(2)}×`.padStart(9);
  console.log(
    `${mode.padEnd(6)}  ${fmt(forward)}  ${fmt(stream)}  ${ratio(stream)}  ${fmt(stats(samples.kernel))}  ${fmt(stats(samples.rest))}  ${fmt(stats(samples.floor))}  ${ratio(stats(samples.floor))}` +
      (old ? `  ${fmt(stats(samples.baseline)).padStart(15)}  ${ratio(stats(samples.baseline))}` : ''),
  );
  model.dispose();
  old?.dispose();
  backend.dispose();
}
