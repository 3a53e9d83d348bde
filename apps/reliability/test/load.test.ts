import type { Backend } from '@recurrent/core';
import { describe, expect, it } from 'vitest';
import { engines } from '../src/engines.js';
import { concurrentStreams, spreadForwards } from '../src/load.js';

// 1,000 streams on every engine: 3 pushes each on the CPU and WASM engines, 1 on WebGPU, which runs on a
// software GPU here (SwiftShader: 1,000 × 1 took 11 s in all, 1,000 × 3 took 29 s, on a shared 2-core
// machine). `pnpm --filter @recurrent/reliability load [--pushes N]` prints the times.
const SIZES: Record<string, { streams: number; pushes: number }> = {
  cpu: { streams: 1000, pushes: 3 }, wasm: { streams: 1000, pushes: 3 }, 'wasm, 2 threads': { streams: 1000, pushes: 3 }, webgpu: { streams: 1000, pushes: 1 },
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
