import { describe, expect, it } from 'vitest';
import { paddingProblem } from '../src/compare.js';

describe('paddingProblem: values past an element’s length must be exactly 0', () => {
  // Lengths 3 and 1 over L = 3 steps, N = 2, width 2: element 1 pads steps 1 and 2.
  const lengths = [3, 1];
  const filled = (batchFirst: boolean, at: [number, number] | null) => {
    const data = new Float32Array(3 * 2 * 2);
    for (let b = 0; b < 2; b++) {
      for (let t = 0; t < lengths[b]!; t++) data.fill(1, ((batchFirst ? b * 3 + t : t * 2 + b) * 2), ((batchFirst ? b * 3 + t : t * 2 + b) * 2) + 2);
    }
    if (at !== null) data[((batchFirst ? at[0] * 3 + at[1] : at[1] * 2 + at[0]) * 2) + 1] = -0.5;
    return { data, shape: batchFirst ? [2, 3, 2] : [3, 2, 2] };
  };

  it.each([false, true])('finds the first non-zero padding, time-major and batch-first (batchFirst %s)', (batchFirst) => {
    const c = { lengths, config: { batchFirst } };
    expect(paddingProblem(c, filled(batchFirst, null), 'output')).toBeNull();
    expect(paddingProblem(c, filled(batchFirst, [1, 2]), 'the input gradient')).toBe(
      'the input gradient at step 2 of batch element 1 (length 1) is -0.5, expected 0 past the length',
    );
    // −0 is a zero: padding written as −0 passes.
    const negativeZero = filled(batchFirst, null);
    negativeZero.data[((batchFirst ? 1 * 3 + 1 : 1 * 2 + 1) * 2)] = -0;
    expect(paddingProblem(c, negativeZero, 'output')).toBeNull();
  });

  it('a case without lengths has no padding to check', () => {
    expect(paddingProblem({ lengths: null, config: { batchFirst: false } }, { data: Float32Array.of(1, 2, 3, 4), shape: [2, 1, 2] }, 'output')).toBeNull();
  });
});
