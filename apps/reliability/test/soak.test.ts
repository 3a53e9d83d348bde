import { describe, expect, it } from 'vitest';
import { engines } from '../src/engines.js';
import { SOAK_KINDS, soakCall } from '../src/soak-ops.js';

// The soak's calls, a few of each kind, so that `pnpm soak` (10,000 per engine, with memory) keeps working.
// WebGPU on a software GPU takes about half a second a call here: 5 of each kind, the others 20.
describe.each(engines)('soak calls: $name', ({ name, createBackend }) => {
  const count = SOAK_KINDS.length * (name === 'webgpu' ? 5 : 20);
  it(`${count} mixed calls (bad input, forward, cell, stream, backward, loadStateDict, abort, checkpoint) end as allowed`, async () => {
    const backend = await createBackend();
    const failures: string[] = [];
    const kinds = new Set<string>();
    for (let seed = 0; seed < count; seed++) {
      const { kind, failure } = await soakCall(backend, seed);
      kinds.add(kind);
      if (failure) failures.push(`seed ${seed} (${kind}): ${failure}`);
    }
    backend.dispose();
    expect(failures).toEqual([]);
    expect([...kinds].sort()).toEqual([...SOAK_KINDS].sort());
  }, 300_000);
});
