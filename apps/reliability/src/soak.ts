// The long reliability run: per engine, 10,000 mixed valid and invalid calls (bad input, forward, cells,
// streams, backward, loadStateDict, abort, torch checkpoint reading, intact and damaged), then the Node
// heap and the engine's own memory (backend.stats(): WASM linear memory, live GPU buffers, live models)
// after a warm-up, half-way and at the end. Flat means: the heap grew less than HEAP_SLACK_BYTES, every
// engine figure is back where it started, except the high-water marks: a WebAssembly memory's size (a
// memory never shrinks) must not grow in the second half; WebGPU's cached shader modules and pipelines
// (compiled once per distinct kernel, at most a fixed number kept) grow while calls still bring kernels
// never compiled before, ever fewer of them, so the second half must add less than half of what came
// before it (from the backend's creation): a cache that kept an entry per call would grow as fast in
// both halves. Prints the count per kind and outcome ('unavailable': a
// call the engine cannot make yet, counted apart), the failures, and the memory; exits 1 on any failure
// or growth.
// Usage: pnpm --filter @recurrent/reliability soak [--calls N] [--engine NAME] [--webgpu-calls N]
import './software-gpu.js';
import { createModel, forwardCall, randomValidCall, sameResult } from './cases.js';
import { engines } from './engines.js';
import { SOAK_KINDS, checkpoints, soakCall } from './soak-ops.js';

const arg = (name: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const calls = Number(arg('--calls') ?? 10_000);
const webgpuCalls = Number(arg('--webgpu-calls') ?? calls);
const only = arg('--engine');
const WARM_UP = 400;
/** Allowed heap drift over the whole run: well below what one leaked model per hundred calls would cost. */
const HEAP_SLACK_BYTES = 4 * 1024 * 1024;

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (pnpm soak does)');
const heapUsed = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MB`;

console.log(`${checkpoints.length} torch.save fixtures from packages/core/test/fixtures/torch, read intact and damaged`);
let failed = false;
for (const engine of engines.filter((e) => only === undefined || e.name === only)) {
  const count = engine.name === 'webgpu' ? webgpuCalls : calls;
  const backend = await engine.createBackend();
  const statsFresh = backend.stats?.() ?? {};
  // A probe model whose result must never change, whatever the other calls do.
  const probe = randomValidCall(4243);
  const probeModel = await createModel(probe.mode, probe.config, probe.weights, backend);
  const expected = await forwardCall(probeModel, probe);
  for (let seed = 0; seed < WARM_UP; seed++) await soakCall(backend, 1_000_000 + seed);
  const heapBefore = heapUsed();
  const statsBefore = backend.stats?.() ?? {};
  const tally: Record<string, Record<string, number>> = Object.fromEntries(SOAK_KINDS.map((k) => [k, {}]));
  const failures: string[] = [];
  let statsHalf: Record<string, number> = {};
  const start = performance.now();
  for (let seed = 0; seed < count; seed++) {
    if (seed === count >> 1) statsHalf = backend.stats?.() ?? {};
    const { kind, outcome, failure } = await soakCall(backend, seed);
    tally[kind]![outcome] = (tally[kind]![outcome] ?? 0) + 1;
    if (failure) failures.push(`seed ${seed} (${kind}): ${failure}`);
    if (seed % 100 === 0 && !sameResult(expected, await forwardCall(probeModel, probe))) failures.push(`seed ${seed}: afterwards the probe model gave a different result`);
  }
  const seconds = (performance.now() - start) / 1000;
  const heapAfter = heapUsed();
  const statsAfter = backend.stats?.() ?? {};
  probeModel.dispose();
  backend.dispose();
  // High-water marks (see the top): a WebAssembly memory never shrinks; WebGPU's compiled kernels stay
  // cached until the backend is disposed, and the cache saturates.
  const saturating = (key: string) => key === 'shaderModules' || key === 'pipelines';
  const keyFlat = (key: string) => {
    if (saturating(key)) return statsAfter[key]! - statsHalf[key]! <= (statsHalf[key]! - statsFresh[key]!) / 2;
    return statsAfter[key] === (key === 'wasmMemoryBytes' ? statsHalf : statsBefore)[key];
  };
  const engineFlat = Object.keys(statsBefore).every(keyFlat);
  const flat = heapAfter - heapBefore < HEAP_SLACK_BYTES && engineFlat;
  const unavailable = Object.values(tally).reduce((sum, byOutcome) => sum + (byOutcome.unavailable ?? 0), 0);
  console.log(`\n${engine.name}: ${count} calls in ${seconds.toFixed(1)} s; failures ${failures.length}; unavailable ${unavailable}`);
  for (const kind of SOAK_KINDS) {
    const byOutcome = Object.entries(tally[kind]!).sort(([a], [b]) => a.localeCompare(b)).map(([outcome, n]) => `${outcome} ${n}`).join(', ');
    console.log(`  ${kind.padEnd(14)} ${byOutcome}`);
  }
  for (const failure of failures.slice(0, 20)) console.log(`  FAILED ${failure}`);
  const engineMemory = Object.keys(statsBefore)
    .map((key) => `${key} ${saturating(key) ? `${statsFresh[key]} → ` : ''}${statsBefore[key]} → ${statsHalf[key]} → ${statsAfter[key]}`)
    .join(', ');
  console.log(`  memory: Node heap ${mb(heapBefore)} → ${mb(heapAfter)} (${heapAfter >= heapBefore ? '+' : ''}${mb(heapAfter - heapBefore)}); engine (start → half → end; the cache's from the backend's creation): ${engineMemory || 'no stats'}: ${flat ? 'flat' : 'GROWING'}`);
  failed ||= failures.length > 0 || !flat;
}
process.exit(failed ? 1 : 0);
