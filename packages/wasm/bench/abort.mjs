// How soon an aborted forward rejects, and what a signal costs, at L (B64 T256 I512 H512, 1 layer) on
// each thread count. Per variant it prints:
//  - forward time without a signal, this build beside another build of the package (--baseline=DIR, a
//    copy of an older dist/ and package.json), interleaved in the same run, and their ratio;
//  - forward time with a signal that never fires (the call runs in blocks);
//  - abort latency over --trials runs: abort() is scheduled at a random moment of the call, and the
//    latency is from that moment to the rejection (what a user waits for: the timer itself can only fire
//    when the engine yields), with the time from the abort() call itself beside it.
// Outputs are checked bit for bit: with a signal, after an abort, and on a fresh model.
// Run: node --experimental-wasm-relaxed-simd bench/abort.mjs [rnn|lstm|gru] [--threads=1,2] [--trials=20] [--reps=7] [--baseline=/tmp/wasm-baseline]
import { loadavg } from 'node:os';
import { createGru, createLstm, createRnn, forwardFlops, initStateDict, isRnnError, randomTensorData } from '@recurrent/core';
import { createBackend } from '../dist/index.js';

const args = process.argv.slice(2);
const option = (name, fallback) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const mode = args.find((a) => ['rnn', 'lstm', 'gru'].includes(a)) ?? 'rnn';
const threadCounts = option('threads', '1,2').split(',').map(Number);
const trials = Number(option('trials', '20'));
const reps = Number(option('reps', '7'));
const baselineDir = option('baseline', null);
const baseline = baselineDir ? await import(`${baselineDir}/dist/index.js`) : null;

const CREATE = { rnn: createRnn, lstm: createLstm, gru: createGru };
const config = { inputSize: 512, hiddenSize: 512 };
const N = 64;
const L = 256;
const weights = initStateDict(config, 1, mode);
const input = { data: randomTensorData(L * N * config.inputSize, 2), shape: [L, N, config.inputSize] };
const flops = forwardFlops(config, N, L, mode);

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
const summary = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return `min ${sorted[0].toFixed(1)}  median ${percentile(sorted, 0.5).toFixed(1)}  p90 ${percentile(sorted, 0.9).toFixed(1)}  max ${sorted.at(-1).toFixed(1)} ms`;
};
const equal = (a, b) => a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
const timed = async (work) => {
  const start = performance.now();
  const result = await work();
  return { ms: performance.now() - start, result };
};

console.log(`${mode.toUpperCase()} L: B${N} T${L} I${config.inputSize} H${config.hiddenSize}, ${(flops / 1e9).toFixed(2)} GFLOP per forward; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
for (const threads of threadCounts) {
  const backend = await createBackend({ threads, relaxedSimd: false });
  const model = await CREATE[mode](config, weights, backend);
  const old = baseline ? await CREATE[mode](config, weights, await baseline.createBackend({ threads, relaxedSimd: false })) : null;
  const reference = await model.forward(input);
  if (old && !equal((await old.forward(input)).output.data, reference.output.data)) throw new Error('the baseline build gives other bits');

  // Without a signal, this build and the baseline interleaved; then with a signal that never fires.
  const plain = [];
  const before = [];
  const withSignal = [];
  for (let rep = 0; rep < reps; rep++) {
    plain.push((await timed(() => model.forward(input))).ms);
    if (old) before.push((await timed(() => old.forward(input))).ms);
    const run = await timed(() => model.forward(input, undefined, { signal: new AbortController().signal }));
    if (!equal(run.result.output.data, reference.output.data)) throw new Error('a forward with a signal gives other bits');
    withSignal.push(run.ms);
  }
  const med = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
  console.log(`\n${backend.variant}`);
  console.log(`  no signal      ${summary(plain)}  (${(flops / med(plain) / 1e6).toFixed(1)} GFLOP/s)`);
  if (old) console.log(`  baseline       ${summary(before)}  this/baseline time: median ${(med(plain) / med(before)).toFixed(3)}, best ${(Math.min(...plain) / Math.min(...before)).toFixed(3)}`);
  console.log(`  signal, no abort ${summary(withSignal)}  with/without time: median ${(med(withSignal) / med(plain)).toFixed(3)}, best ${(Math.min(...withSignal) / Math.min(...plain)).toFixed(3)}`);

  // Abort at a random moment in the first half of the fastest call (a call that finished first is counted apart).
  const fromSchedule = [];
  const fromCall = [];
  const stats = backend.stats();
  let finished = 0;
  for (let trial = 0; trial < trials; trial++) {
    const controller = new AbortController();
    const delay = 5 + Math.random() * 0.5 * Math.min(...plain);
    const start = performance.now();
    let calledAt = 0;
    setTimeout(() => {
      calledAt = performance.now();
      controller.abort();
    }, delay);
    const error = await model.forward(input, undefined, { signal: controller.signal }).then(() => null, (e) => e);
    const end = performance.now();
    if (error === null) {
      finished++;
      continue;
    }
    if (!isRnnError(error, 'aborted')) throw new Error(`expected the aborted error, got ${error}`);
    fromSchedule.push(end - (start + delay));
    fromCall.push(end - calledAt);
    // The engine is usable at once and exact: the same bits as before.
    const again = await model.forward(input);
    if (!equal(again.output.data, reference.output.data)) throw new Error('a forward after an abort gives other bits');
  }
  if (JSON.stringify(backend.stats()) !== JSON.stringify(stats)) throw new Error('memory grew across aborted calls');
  const fresh = await CREATE[mode](config, weights, backend);
  if (!equal((await fresh.forward(input)).output.data, reference.output.data)) throw new Error('a fresh model gives other bits');
  console.log(`  abort latency from the scheduled moment (${fromSchedule.length} aborted, ${finished} finished first): ${summary(fromSchedule)}`);
  console.log(`  abort latency from the abort() call:                ${summary(fromCall)}`);
  backend.dispose();
}
