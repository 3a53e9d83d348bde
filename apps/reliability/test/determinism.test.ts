import { describe, expect, it } from 'vitest';
import { randomValidCall } from '../src/cases.js';
import { repeatRuns, wideCalls } from '../src/determinism.js';
import { engineVariants } from '../src/engines.js';

// Which variants may differ from one another, and by how much, is measured by `pnpm variants`
// (src/variants.ts) and written down in the README; here each variant must agree with itself.
const { variants, missing } = engineVariants();

describe.each(variants)('determinism: $name', ({ createBackend }) => {
  it('the same call gives bit-identical results every time (fresh models and one model again), threaded steps included', async () => {
    const backend = await createBackend();
    // Three wide calls and three small random ones (RNN, LSTM, GRU), three runs each.
    const calls = [...wideCalls(), ...[1, 2, 3].map((seed) => randomValidCall(seed))];
    const mismatches = await repeatRuns(backend, calls, 3);
    backend.dispose();
    expect(mismatches).toEqual([]);
  }, 300_000);
});

it('every variant is tested here (relaxed SIMD needs Node ≥ 22 or --experimental-wasm-relaxed-simd, which vitest.config.ts passes)', () => {
  expect(missing).toEqual([]);
});
