import { describe, expect, it } from 'vitest';
import { MUTATION_COUNT } from '../src/bad-input.js';
import { engines } from '../src/engines.js';
import { runBadInput } from '../src/run-bad-input.js';

const CASES = 1000;

describe.each(engines)('bad input through the public API: $name', ({ createBackend }) => {
  it(`${CASES} seeded wrong calls each end in RnnError with the expected code, and valid calls still work`, async () => {
    const backend = await createBackend();
    const tally = await runBadInput(backend, 1, CASES);
    backend.dispose();
    expect(tally.failures).toEqual([]);
    expect(tally.cases).toBe(CASES);
    // Every kind of mistake was made at least once.
    expect(CASES).toBeGreaterThan(MUTATION_COUNT * 10);
    // 'unavailable': an engine without backward yet (accepted only where the case allows it).
    console.log(`bad input: ${JSON.stringify(tally.byCode)}`);
    expect(Object.keys(tally.byCode).filter((code) => code !== 'unavailable').sort()).toEqual(['aborted', 'config', 'disposed', 'format', 'lengths', 'shape', 'type', 'weights']);
  }, 300_000);
});
