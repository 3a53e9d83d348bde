// Determinism and the differences between engine variants, printed:
//  1. each variant runs the same calls several times (fresh models and one model again): bit-identical or not;
//  2. over random models, max |a − b| between every pair of variants (output, h_n, c_n), and how many
//     models gave bit-identical results.
// Usage: pnpm --filter @recurrent/reliability variants [--models N] [--times N]
import './software-gpu.js';
import { createModel, forwardCall, sameResult } from './cases.js';
import { maxAbsDifference, randomWideCall, repeatRuns, wideCalls } from './determinism.js';
import { engineVariants } from './engines.js';

const arg = (name: string, fallback: number) => {
  const index = process.argv.indexOf(name);
  return index > 0 ? Number(process.argv[index + 1]) : fallback;
};
const modelCount = arg('--models', 30);
const times = arg('--times', 5);
const { variants, missing } = engineVariants();
for (const reason of missing) console.log(`left out: ${reason}`);

const backends = [];
for (const variant of variants) {
  const backend = await variant.createBackend();
  const mismatches = await repeatRuns(backend, wideCalls(), times);
  const probe = wideCalls()[0]!;
  const probeModel = await createModel(probe.mode, probe.config, probe.weights, backend);
  const runs = probeModel.backend;
  probeModel.dispose();
  console.log(`${variant.name.padEnd(28)} (model.backend: ${runs}): ${wideCalls().length} calls × ${times} runs: ${mismatches.length === 0 ? 'bit-identical every time' : `DIFFERED: ${mismatches.join(', ')}`}`);
  backends.push({ name: variant.name, backend });
}

const calls = Array.from({ length: modelCount }, (_, i) => randomWideCall(100 + i));
const results: Awaited<ReturnType<typeof forwardCall>>[][] = [];
for (const { backend } of backends) {
  const row = [];
  for (const call of calls) {
    const model = await createModel(call.mode, call.config, call.weights, backend);
    row.push(await forwardCall(model, call));
    model.dispose();
  }
  results.push(row);
}
console.log(`\nmax |a − b| over ${modelCount} random models (RNN/LSTM/GRU, I and H up to 128, up to 2 layers, uni/bi; inputs U(−2, 2)); [identical models]`);
const width = Math.max(...backends.map((b) => b.name.length)) + 2;
console.log(''.padEnd(width) + backends.map((b) => b.name.padStart(width)).join(''));
for (const [i, a] of backends.entries()) {
  const cells = backends.map((_, j) => {
    let max = 0, identical = 0;
    calls.forEach((_, k) => {
      max = Math.max(max, maxAbsDifference(results[i]![k]!, results[j]![k]!));
      if (sameResult(results[i]![k]!, results[j]![k]!)) identical++;
    });
    return `${max === 0 ? '0' : max.toExponential(1)} [${identical}]`.padStart(width);
  });
  console.log(a.name.padEnd(width) + cells.join(''));
}
for (const { backend } of backends) backend.dispose();
process.exit(0);
