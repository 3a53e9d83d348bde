import { isRnnError, type Backend } from '@recurrent/core';
import { badInputCase } from './bad-input.js';
import { createModel, forwardCall, randomValidCall, sameResult } from './cases.js';

export interface BadInputTally {
  cases: number;
  /** Cases per error code; `unavailable` counts the calls an engine could not make yet (no backward…). */
  byCode: Record<string, number>;
  /** Cases that did not end in the expected RnnError: each names its seed. */
  failures: string[];
}

/**
 * Runs seeds [first, first + count) through one engine. After every case, the engine must still answer
 * a valid call with exactly the result it gave before any bad input.
 */
export async function runBadInput(backend: Backend, first: number, count: number, checkEvery = 1): Promise<BadInputTally> {
  const tally: BadInputTally = { cases: 0, byCode: {}, failures: [] };
  // 4243 % 3 = 1: the probe is an LSTM, whose two states make it the module with the most to disturb.
  const probe = randomValidCall(4243);
  const model = await createModel(probe.mode, probe.config, probe.weights, backend);
  const forwardProbe = () => forwardCall(model, probe);
  const before = await forwardProbe();
  for (let seed = first; seed < first + count; seed++) {
    const testCase = badInputCase(seed);
    tally.cases++;
    try {
      await testCase.act(backend);
      tally.failures.push(`seed ${seed} (${testCase.name}): no error, expected code "${testCase.code}"`);
    } catch (error) {
      if (!isRnnError(error)) {
        tally.failures.push(`seed ${seed} (${testCase.name}): ${(error as Error)?.name}: ${(error as Error)?.message}, expected RnnError "${testCase.code}"`);
      } else if (error.code === 'unavailable' && testCase.mayBeUnavailable) {
        tally.byCode.unavailable = (tally.byCode.unavailable ?? 0) + 1;
      } else if (error.code !== testCase.code) {
        tally.failures.push(`seed ${seed} (${testCase.name}): code "${error.code}" (${error.message}), expected "${testCase.code}"`);
      } else {
        tally.byCode[error.code] = (tally.byCode[error.code] ?? 0) + 1;
      }
    }
    if ((seed - first) % checkEvery === 0 && !sameResult(before, await forwardProbe())) {
      tally.failures.push(`seed ${seed} (${testCase.name}): afterwards a valid call gave a different result`);
    }
  }
  model.dispose();
  return tally;
}
