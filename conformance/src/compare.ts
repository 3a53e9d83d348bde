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
