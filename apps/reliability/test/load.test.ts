import type { Backend } from '@recurrent/core';
import { describe, expect, it } from 'vitest';
import { engines } from '../src/engines.js';
import { concurrentStreams, spreadForwards } from '../src/load.js';

// 1,000 streams × 3 pushes on the CPU and WASM engines. WebGPU runs on a software GPU here (SwiftShader:
// 10–40 ms a push on a busy 2-core machine), so its test runs 250 streams × 1 push to stay near 30 s;
// `pnpm --filter @recurrent/reliability load` runs the full 1,000 on every engine and prints the times.
const SIZES: Record<string, { streams: number; pushes: number }> = {
  cpu: { streams: 1000, pushes: 3 }, wasm: { streams: 1000, pushes: 3 }, 'wasm, 2 threads': { streams: 1000, pushes: 3 }, webgpu: { streams: 250, pushes: 1 },
};

describe.each(engines)('load: $name', ({ name, createBackend }) => {
  it(`${SIZES[name]!.streams} concurrent streams on one model give exactly the results of running them one by one`, async () => {
    const backend = await createBackend();
    const result = await concurrentStreams(backend, SIZES[name]!.streams, SIZES[name]!.pushes);
    backend.dispose();
    console.log(`${name}: ${result.streams} streams × ${result.pushes} pushes: one by one ${(result.sequentialMs / 1000).toFixed(1)} s, concurrently ${(result.concurrentMs / 1000).toFixed(1)} s`);
    expect(result.mismatches).toEqual([]);
  }, 300_000);
});

describe('load across engines', () => {
  it('100 concurrent forwards spread over cpu, wasm and webgpu in one process give exactly the results of running them one by one', async () => {
    const backends: { name: string; backend: Backend }[] = [];
    for (const engine of engines.filter((e) => ['cpu', 'wasm', 'webgpu'].includes(e.name))) backends.push({ name: engine.name, backend: await engine.createBackend() });
    const result = await spreadForwards(backends, 100);
    backends.forEach(({ backend }) => backend.dispose());
    expect(result.perEngine).toEqual({ cpu: 34, wasm: 33, webgpu: 33 });
    expect(result.mismatches).toEqual([]);
  }, 300_000);
});
