import { createRnn, isRnnError, type Backend, type ForwardResult } from '@recurrent/core';
import { badInputCase } from './bad-input.js';
import { randomValidCall } from './cases.js';

export interface BadInputTally {
  cases: number;
  byCode: Record<string, number>;
  /** Cases that did not end in the expected RnnError: each names its seed. */
  failures: string[];
}

function sameResult(a: ForwardResult, b: ForwardResult): boolean {
  const equal = (x: Float32Array, y: Float32Array) => x.length === y.length && x.every((v, i) => Object.is(v, y[i]));
  return equal(a.output.data, b.output.data) && equal(a.hN.data, b.hN.data);
}

/**
 * Runs seeds [first, first + count) through one engine. After every case, the engine must still answer
 * a valid call with exactly the result it gave before any bad input.
 */
export async function runBadInput(backend: Backend, first: number, count: number, checkEvery = 1): Promise<BadInputTally> {
  const tally: BadInputTally = { cases: 0, byCode: {}, failures: [] };
  const probe = randomValidCall(4242);
  const model = await createRnn(probe.config, probe.weights, backend);
  const forwardProbe = () => model.forward(probe.input, probe.h0, probe.lengths ? { lengths: probe.lengths } : undefined);
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
