// How soon an aborted backward rejects, how long a paced backward holds the event loop, and what pacing
// costs, at M (B32 T128 I256 H256, 2 layers, bidirectional, batch_first) and L (B64 T256 I512 H512,
// 1 layer). Per size it prints:
//  - the backward's time without a signal (each kernel one synchronous call) and with a signal that
//    never fires (blocks of about 8 ms), interleaved, in wall and in this process's CPU time (a shared
//    machine distorts CPU time least), and their ratio; with --baseline=DIR (a copy of an older dist/
//    and package.json, with a node_modules link to this package's), that build's backward without a
//    signal too, interleaved; the gradients are checked bit for bit, the baseline's too;
//  - the longest stretch a paced backward held the event loop (a 1 ms interval timer records it, in
//    wall and in CPU time: the wall figure includes time the OS gave other processes; the CPU figure is
//    the main thread's where the runtime can tell (process.threadCpuUsage, Node ≥ 23.9), else the
//    process's, which adds V8's helper threads (GC));
//  - abort latency over --trials runs: abort() is scheduled at a random moment of the call, and the
//    latency is from that moment to the rejection (what a user waits for: the timer itself can only fire
//    when the engine yields), with the time from the abort() call itself beside it.
// After the aborts, the model's next backward gives the same bits and stats() is as before them.
// Run: node --experimental-wasm-relaxed-simd bench/abort-backward.mjs [lstm|gru|rnn] [--sizes=M,L] [--threads=1] [--trials=10] [--reps=3] [--baseline=DIR]
import { loadavg } from 'node:os';
import { createGru, createLstm, createRnn, initStateDict, isRnnError, randomTensorData } from '@recurrent/core';
import { createBackend } from '../dist/index.js';

const args = process.argv.slice(2);
const option = (name, fallback) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const mode = args.find((a) => ['rnn', 'lstm', 'gru'].includes(a)) ?? 'lstm';
const sizes = option('sizes', 'M,L').split(',');
const threads = Number(option('threads', '1'));
const trials = Number(option('trials', '10'));
const reps = Number(option('reps', '3'));
const baselineDir = option('baseline', null);
const baseline = baselineDir ? await import(`${baselineDir}/dist/index.js`) : null;

const CREATE = { rnn: createRnn, lstm: createLstm, gru: createGru };
const SIZES = {
  M: { config: { inputSize: 256, hiddenSize: 256, numLayers: 2, bidirectional: true, batchFirst: true }, N: 32, L: 128 },
  L: { config: { inputSize: 512, hiddenSize: 512 }, N: 64, L: 256 },
};

const quantiles = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const q = (p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))].toFixed(1);
  return `min ${q(0)}  median ${q(0.5)}  max ${q(1)} ms`;
};
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const sameBits = (a, b) => {
  const arrays = (g) => [g.input, g.h0, g.c0, ...Object.values(g.weights)].filter(Boolean).map((t) => t.data);
  const [x, y] = [arrays(a), arrays(b)];
  return x.length === y.length && x.every((v, i) => Buffer.from(v.buffer, v.byteOffset, v.byteLength).equals(Buffer.from(y[i].buffer, y[i].byteOffset, y[i].byteLength)));
};

const cpuUsage = process.threadCpuUsage ? () => process.threadCpuUsage() : () => process.cpuUsage();
const cpuOf = process.threadCpuUsage ? 'main thread CPU' : 'process CPU';

/** Runs `work` with a 1 ms interval timer that records the longest gap between its ticks (wall, CPU). */
async function watched(work) {
  const cpu0 = cpuUsage();
  const start = performance.now();
  let [lastWall, lastCpu, heldWall, heldCpu] = [start, cpu0, 0, 0];
  const tick = () => {
    const [wall, cpu] = [performance.now(), cpuUsage()];
    heldWall = Math.max(heldWall, wall - lastWall);
    heldCpu = Math.max(heldCpu, (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000);
    [lastWall, lastCpu] = [wall, cpu];
  };
  const ticker = setInterval(tick, 1);
  const result = await work().finally(() => clearInterval(ticker));
  tick();
  const cpu = cpuUsage();
  cpu.user -= cpu0.user;
  cpu.system -= cpu0.system;
  return { result, ms: performance.now() - start, cpuMs: (cpu.user + cpu.system) / 1000, heldWall, heldCpu };
}

const backend = await createBackend({ threads, relaxedSimd: false });
const oldBackend = baseline ? await baseline.createBackend({ threads, relaxedSimd: false }) : null;
console.log(`${mode.toUpperCase()} backward on ${backend.variant}, Node ${process.versions.node}; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
for (const size of sizes) {
  const { config, N, L } = SIZES[size];
  const model = await CREATE[mode](config, initStateDict(config, 1, mode), backend);
  const input = { data: randomTensorData(N * L * config.inputSize, 2), shape: config.batchFirst ? [N, L, config.inputSize] : [L, N, config.inputSize] };
  const forward = await model.forward(input);
  const upstream = { output: { data: randomTensorData(forward.output.data.length, 3), shape: forward.output.shape } };
  const backward = (signal) => model.backward(input, undefined, upstream, signal ? { signal } : undefined);
  const reference = await backward();
  const old = oldBackend ? await CREATE[mode](config, initStateDict(config, 1, mode), oldBackend) : null;
  const oldBackward = () => old.backward(input, undefined, upstream);
  if (old && !sameBits(await oldBackward(), reference)) throw new Error('the baseline build gives other bits');

  // Pacing's cost: without a signal and with one that never fires (and the baseline), interleaved.
  const whole = [];
  const paced = [];
  const before = [];
  for (let rep = 0; rep < reps; rep++) {
    whole.push(await watched(() => backward()));
    if (old) before.push(await watched(oldBackward));
    const run = await watched(() => backward(new AbortController().signal));
    if (!sameBits(run.result, reference)) throw new Error('a backward with a signal gives other bits');
    paced.push(run);
  }
  const ratio = (key) => (median(paced.map((r) => r[key])) / median(whole.map((r) => r[key]))).toFixed(3);
  console.log(`\n${size}: B${N} T${L} I${config.inputSize} H${config.hiddenSize}, ${config.numLayers ?? 1} layer(s)${config.bidirectional ? ', bidirectional' : ''}; backward keeps ${(backend.stats().backwardBytes / 2 ** 20).toFixed(0)} MiB`);
  console.log(`  no signal          wall ${quantiles(whole.map((r) => r.ms))}; CPU median ${median(whole.map((r) => r.cpuMs)).toFixed(0)} ms; event loop held up to ${median(whole.map((r) => r.heldWall)).toFixed(0)} ms (median)`);
  if (old) {
    const vs = (key) => (median(whole.map((r) => r[key])) / median(before.map((r) => r[key]))).toFixed(3);
    console.log(`  baseline build     wall ${quantiles(before.map((r) => r.ms))}; CPU median ${median(before.map((r) => r.cpuMs)).toFixed(0)} ms; this/baseline without a signal: wall ${vs('ms')}, CPU ${vs('cpuMs')}`);
  }
  console.log(`  signal, no abort   wall ${quantiles(paced.map((r) => r.ms))}; CPU median ${median(paced.map((r) => r.cpuMs)).toFixed(0)} ms; paced/whole: wall ${ratio('ms')}, CPU ${ratio('cpuMs')}`);
  console.log(`  longest event-loop hold of a paced backward: wall ${quantiles(paced.map((r) => r.heldWall))}; ${cpuOf} ${quantiles(paced.map((r) => r.heldCpu))}`);

  // Aborts at random moments of the call (a call that finished first is counted apart).
  const stats = JSON.stringify(backend.stats());
  const fastest = Math.min(...whole.map((r) => r.ms));
  const fromSchedule = [];
  const fromCall = [];
  const held = [];
  let finished = 0;
  for (let trial = 0; trial < trials; trial++) {
    const controller = new AbortController();
    const delay = 5 + Math.random() * 0.9 * fastest;
    let calledAt = 0;
    const start = performance.now();
    setTimeout(() => {
      calledAt = performance.now();
      controller.abort();
    }, delay);
    const run = await watched(() => backward(controller.signal).then(() => null, (error) => error));
    const end = performance.now();
    if (run.result === null) {
      finished++;
      continue;
    }
    if (!isRnnError(run.result, 'aborted')) throw new Error(`expected the aborted error, got ${run.result}`);
    fromSchedule.push(end - (start + delay));
    fromCall.push(end - calledAt);
    held.push(run.heldWall);
  }
  if (!sameBits(await backward(), reference)) throw new Error('a backward after the aborts gives other bits');
  if (JSON.stringify(backend.stats()) !== stats) throw new Error('memory changed across aborted backwards');
  console.log(`  abort latency from the scheduled moment (${fromSchedule.length} aborted, ${finished} finished first): ${quantiles(fromSchedule)}`);
  console.log(`  abort latency from the abort() call:               ${quantiles(fromCall)}`);
  console.log(`  longest event-loop hold per aborted call (wall):  ${quantiles(held)}`);
  model.dispose();
  old?.dispose();
}
backend.dispose();
oldBackend?.dispose();
