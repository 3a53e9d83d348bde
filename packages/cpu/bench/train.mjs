// One training step's cost on the CPU engine: forward + backward against forward alone, per module, at
// M = B32 T128 I256 H256, 2 layers, bidirectional, batch_first. Runs are interleaved (forward, forward +
// backward, …) because this machine is shared and noisy; each line says how busy the machine's cores
// were (all processes, from /proc/stat) while it ran.
// Usage: node bench/train.mjs [--reps N] [--mode lstm|gru|rnn] (default: lstm and gru, 1 rep). Build first.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createGru, createLstm, createRnn, forwardFlops, initStateDict, randomTensorData } from '@recurrent/core';
import { createBackend } from '@recurrent/cpu';

const option = (name) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const reps = Number(option('--reps')) || 1;
const modes = option('--mode') ? [option('--mode')] : ['lstm', 'gru'];
const create = { rnn: createRnn, lstm: createLstm, gru: createGru };

const config = { inputSize: 256, hiddenSize: 256, numLayers: 2, bidirectional: true, batchFirst: true };
const [N, L] = [32, 128];
const input = { data: randomTensorData(N * L * config.inputSize, 2), shape: [N, L, config.inputSize] };
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** [busy, total] jiffies over all cores since boot. */
function cpuTimes() {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  const idle = fields[3] + fields[4];
  const total = fields.reduce((a, b) => a + b, 0);
  return [total - idle, total];
}

/** Wall time, this process's CPU time (what a contended machine distorts least) and how busy the cores were. */
async function timed(run) {
  const [busy0, total0] = cpuTimes();
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  await run();
  const ms = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  const [busy1, total1] = cpuTimes();
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000, busyCores: ((busy1 - busy0) / (total1 - total0)) * availableParallelism() };
}

for (const mode of modes) {
  const backend = await createBackend();
  const model = await create[mode](config, initStateDict(config, 1, mode), backend);
  const forward = await model.forward(input);
  const upstream = { output: { data: randomTensorData(forward.output.data.length, 3), shape: forward.output.shape } };
  // Warm the kernels up on a short sequence.
  const short = { data: input.data.subarray(0, N * 4 * config.inputSize).slice(), shape: [N, 4, config.inputSize] };
  await model.backward(short, undefined, { output: { data: new Float32Array(N * 4 * 2 * 256), shape: [N, 4, 512] } });
  const fw = [], fb = [];
  for (let r = 0; r < reps; r++) {
    fw.push(await timed(() => model.forward(input)));
    fb.push(await timed(() => model.backward(input, undefined, upstream)));
  }
  const flops = forwardFlops(config, N, L, mode);
  const f = median(fw.map((x) => x.ms)), b = median(fb.map((x) => x.ms));
  const fc = median(fw.map((x) => x.cpuMs)), bc = median(fb.map((x) => x.cpuMs));
  const busy = (xs) => xs.map((x) => x.busyCores.toFixed(1)).join('/');
  console.log(
    `${mode.padEnd(5)} M: forward ${(f / 1000).toFixed(2)} s (${(flops / f / 1e6).toFixed(2)} GFLOP/s), forward+backward ${(b / 1000).toFixed(2)} s = ${(b / f).toFixed(2)}× forward; ` +
      `CPU time: forward ${(fc / 1000).toFixed(2)} s (${(flops / fc / 1e6).toFixed(2)} GFLOP/s), forward+backward ${(bc / 1000).toFixed(2)} s = ${(bc / fc).toFixed(2)}×; ` +
      `backward kept ${(backend.stats().backwardBytes / 2 ** 20).toFixed(0)} MiB; busy cores during runs ${busy(fw)} (forward), ${busy(fb)} (forward+backward) of ${availableParallelism()}`,
  );
  model.dispose();
}
