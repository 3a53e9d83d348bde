import { maxAbs, maxAbsDiff } from './compare.js';
import type { ConformanceCase } from './format.js';

/**
 * The one tolerance policy every engine is held to (justified in conformance/README.md).
 *
 * An engine passes a case when   max |engine − ref64|  ≤  max(K · max |torch32 − ref64|,  FLOOR_ULPS · ε₃₂ · max(1, max |ref64|))
 *
 * - ref64 is PyTorch in float64 on the very same float32 weights and inputs: the exact answer, up to
 *   float64 rounding, to the question every engine is asked.
 * - max |torch32 − ref64| is what float32 arithmetic costs PyTorch itself on this case. A float32 engine
 *   that sums in another order (blocked GEMM, SIMD lanes, GPU tiles) or uses another accurate tanh has
 *   errors of the same size but not the same values: K allows for that spread.
 * - The floor keeps cases where PyTorch is lucky (a few roundings, H = 1) from demanding bit-exactness:
 *   FLOOR_ULPS float32 ulps of the largest value in the case.
 */
export const TOLERANCE = {
  K: 16,
  FLOOR_ULPS: 16,
} as const;

/** float32 machine epsilon, 2^-23. */
export const EPSILON_F32 = 2 ** -23;

function maxAbsFinite(values: ArrayLike<number>): number {
  let max = 0;
  // NaN and ±Inf that PyTorch itself produces (the non-finite cases) say nothing about magnitude.
  for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i]!)) max = Math.max(max, Math.abs(values[i]!));
  return max;
}

export function toleranceFor(torchErrorVsRef64: number, c: { ref64: Pick<ConformanceCase['ref64'], 'hN'> & { output: ConformanceCase['ref64']['output']; cN?: ConformanceCase['ref64']['cN'] } }): number {
  // An LSTM's c_n is not squashed by tanh and can exceed the outputs: it counts in the magnitude too.
  const magnitude = Math.max(c.ref64.output ? maxAbsFinite(c.ref64.output.data) : 0, maxAbsFinite(c.ref64.hN.data), c.ref64.cN ? maxAbsFinite(c.ref64.cN.data) : 0);
  return policyTolerance(torchErrorVsRef64, magnitude);
}

/** The policy's bound, given max |torch32 − ref64| and the largest |ref64|. */
function policyTolerance(torchErrorVsRef64: number, magnitude: number): number {
  return Math.max(TOLERANCE.K * torchErrorVsRef64, TOLERANCE.FLOOR_ULPS * EPSILON_F32 * Math.max(1, magnitude));
}

/**
 * The policy over a set of tensors judged at once (every gradient; every weight after a training step):
 * both maxima run over the whole set. Pairs are [PyTorch float32, float64 reference].
 */
export function setTolerance(pairs: readonly [torch32: ArrayLike<number>, ref64: ArrayLike<number>][]): { torchError: number; tolerance: number } {
  const torchError = Math.max(...pairs.map(([torch, want]) => maxAbsDiff(torch, want)));
  return { torchError, tolerance: policyTolerance(torchError, Math.max(0, ...pairs.map(([, want]) => maxAbs(want)))) };
}
