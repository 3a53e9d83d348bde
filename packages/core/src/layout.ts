/**
 * Swaps the first two axes of a (A, B, F) row-major array into a new (B, A, F) array. Core uses it to
 * hand engines time-major input and to give batch_first callers their (N, L, ·) output.
 */
export function swapLeadingAxes(src: Float32Array, A: number, B: number, F: number): Float32Array {
  const dst = new Float32Array(src.length);
  for (let a = 0; a < A; a++) {
    for (let b = 0; b < B; b++) {
      dst.set(src.subarray((a * B + b) * F, (a * B + b + 1) * F), (b * A + a) * F);
    }
  }
  return dst;
}
