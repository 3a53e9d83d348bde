/** The comparisons and messages the runners share (gradients, trajectories, forward, fuzzing). Browser-safe. */

/** max |a − b|; NaN as soon as a difference is NaN (NaN compares false with everything: it would slip through a max). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (Number.isNaN(d)) return NaN;
    if (d > max) max = d;
  }
  return max;
}

export function maxAbs(values: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < values.length; i++) max = Math.max(max, Math.abs(values[i]!));
  return max;
}

/** An error as a result's reason: its name, its RnnError code if any, its message. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return `${error.name}${typeof code === 'string' ? `(${code})` : ''}: ${error.message}`;
  }
  return String(error);
}

/** A figure in a result table: two digits of exponent notation, or NaN / Infinity as they are. */
export const exp = (x: number): string => (Number.isFinite(x) ? x.toExponential(2) : String(x));

/**
 * Where a (L, N, width) or batch-first (N, L, width) tensor is not 0 past an element's length, as
 * PackedSequence semantics want of the output and of the input's gradient; null when it is 0 everywhere
 * there (or the case has no lengths). `what` names the tensor in the message.
 */
export function paddingProblem(c: { lengths: readonly number[] | null; config: { batchFirst: boolean } }, tensor: { data: ArrayLike<number>; shape: readonly number[] }, what: string): string | null {
  if (c.lengths === null) return null;
  const [d0, d1, width] = tensor.shape as [number, number, number];
  const batchFirst = c.config.batchFirst;
  const [N, L] = batchFirst ? [d0, d1] : [d1, d0];
  for (let b = 0; b < N; b++) {
    for (let t = c.lengths[b]!; t < L; t++) {
      const row = (batchFirst ? b * L + t : t * N + b) * width;
      for (let j = 0; j < width; j++) {
        if (tensor.data[row + j] !== 0) return `${what} at step ${t} of batch element ${b} (length ${c.lengths[b]}) is ${tensor.data[row + j]}, expected 0 past the length`;
      }
    }
  }
  return null;
}
