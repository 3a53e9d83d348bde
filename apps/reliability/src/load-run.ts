// The load checks at full size, printed: 1,000 concurrent streams on one model per engine, and 100
// concurrent forwards spread over cpu, wasm and webgpu, each against the same work run one by one.
// Usage: pnpm --filter @recurrent/reliability load [--streams N] [--pushes N] [--engine NAME]
import './software-gpu.js';
import type { Backend } from '@recurrent/core';
import { engines } from './engines.js';
import { concurrentStreams, spreadForwards } from './load.js';

const arg = (name: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const streams = Number(arg('--streams') ?? 1000);
const pushes = Number(arg('--pushes') ?? 3);
const only = arg('--engine');
let failed = false;
for (const engine of engines.filter((e) => only === undefined || e.name === only)) {
  const backend = await engine.createBackend();
  const result = await concurrentStreams(backend, streams, pushes);
  backend.dispose();
  console.log(`${engine.name}: ${streams} streams × ${pushes} pushes: one by one ${(result.sequentialMs / 1000).toFixed(1)} s, concurrently ${(result.concurrentMs / 1000).toFixed(1)} s; pushes that differed in any bit: ${result.mismatches.length}`);
  failed ||= result.mismatches.length > 0;
}
if (only === undefined) {
  const backends: { name: string; backend: Backend }[] = [];
  for (const engine of engines.filter((e) => ['cpu', 'wasm', 'webgpu'].includes(e.name))) backends.push({ name: engine.name, backend: await engine.createBackend() });
  const result = await spreadForwards(backends, 100);
  backends.forEach(({ backend }) => backend.dispose());
  console.log(`${result.calls} concurrent forwards over ${JSON.stringify(result.perEngine)}: results that differed from one by one in any bit: ${result.mismatches.length}`);
  failed ||= result.mismatches.length > 0;
}
process.exit(failed ? 1 : 0);
