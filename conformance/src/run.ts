import { createRnn, type Backend, type Tensor } from '@recurrent/core';
import type { ConformanceCase, Tensor64 } from './format.js';
import { toleranceFor } from './tolerance.js';

/** What one engine did on one case. Plain data (it crosses from the browser page to Node as JSON). */
export interface CaseResult {
  id: string;
  features: string[];
  passed: boolean;
  /** Why it failed: a thrown error, a wrong shape, NaN, non-zero padding, or an error above tolerance. */
  reason: string | null;
  /** max |engine − PyTorch float64| over output and h_n (NaN when it did not run). */
  errorVsRef64: number;
  /** max |engine − PyTorch float32| over output and h_n. */
  errorVsTorch32: number;
  /** max |PyTorch float32 − PyTorch float64|: how far PyTorch itself is from the reference. */
  torchErrorVsRef64: number;
  /** The bound errorVsRef64 had to stay under (see tolerance.ts). */
  tolerance: number;
  /** The engine variant that ran it (Rnn.backend), e.g. `cpu` or `wasm-simd`. */
  backend: string;
  /** Wall time of createRnn + forward, for reports only (never asserted). */
  ms: number;
}

/**
 * max |a − b| over the places where the expected `b` is finite. NaN when `a` is not finite at such a
 * place: NaN compares false with everything, so it would slip through a max.
 */
function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(b[i]!)) continue;
    const d = Math.abs(a[i]! - b[i]!);
    if (Number.isNaN(d)) return NaN;
    if (d > max) max = d;
  }
  return max;
}

/** Where PyTorch's result is NaN or ±Inf, the engine's must be the same value. Returns the first place that is not. */
function nonFiniteProblem(name: string, got: ArrayLike<number>, want: ArrayLike<number>): string | null {
  for (let i = 0; i < want.length; i++) {
    if (!Number.isFinite(want[i]!) && !Object.is(got[i], want[i])) return `${name}[${i}] (flat) is ${got[i]}, PyTorch's is ${want[i]}`;
  }
  return null;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Output positions past an element's length must be exactly zero (pad_packed_sequence pads with 0).
 * Returns the first non-zero one, or null.
 */
function paddingProblem(c: ConformanceCase, output: Tensor): string | null {
  if (c.lengths === null) return null;
  const [d0, d1, width] = output.shape as [number, number, number];
  const batchFirst = c.config.batchFirst;
  const [N, L] = batchFirst ? [d0, d1] : [d1, d0];
  for (let b = 0; b < N; b++) {
    for (let t = c.lengths[b]!; t < L; t++) {
      const row = (batchFirst ? b * L + t : t * N + b) * width;
      for (let j = 0; j < width; j++) {
        if (output.data[row + j] !== 0) {
          return `output at step ${t} of batch element ${b} (length ${c.lengths[b]}) is ${output.data[row + j]}, expected 0 past the length`;
        }
      }
    }
  }
  return null;
}

function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return `${error.name}${typeof code === 'string' ? `(${code})` : ''}: ${error.message}`;
  }
  return String(error);
}

/** Runs one case on a backend through createRnn, exactly as a user would, and judges it. Never throws. */
export async function runCase(backend: Backend, c: ConformanceCase, now: () => number = () => performance.now()): Promise<CaseResult> {
  const torchErrorVsRef64 = Math.max(maxAbsDiff(c.torch32.output.data, c.ref64.output.data), maxAbsDiff(c.torch32.hN.data, c.ref64.hN.data));
  const tolerance = toleranceFor(torchErrorVsRef64, c);
  const result: CaseResult = {
    id: c.id,
    features: c.features,
    passed: false,
    reason: null,
    errorVsRef64: NaN,
    errorVsTorch32: NaN,
    torchErrorVsRef64,
    tolerance,
    backend: backend?.name ?? 'unknown',
    ms: 0,
  };
  const start = now();
  let output: Tensor;
  let hN: Tensor;
  try {
    const rnn = await createRnn(c.config, c.stateDict, backend);
    result.backend = rnn.backend;
    try {
      ({ output, hN } = await rnn.forward(c.input, c.h0 ?? undefined, c.lengths === null ? undefined : { lengths: c.lengths }));
    } finally {
      rnn.dispose();
    }
  } catch (error) {
    result.ms = now() - start;
    result.reason = `threw ${describeError(error)}`;
    return result;
  }
  result.ms = now() - start;

  const expect = (name: string, got: Tensor, want: Tensor64): string | null =>
    sameShape(got.shape, want.shape) && got.data.length === want.data.length
      ? null
      : `${name} has shape [${got.shape.join(', ')}] (${got.data.length} values), PyTorch's is [${want.shape.join(', ')}]`;
  const shapeProblem = expect('output', output, c.ref64.output) ?? expect('h_n', hN, c.ref64.hN);
  if (shapeProblem !== null) {
    result.reason = shapeProblem;
    return result;
  }
  result.errorVsRef64 = Math.max(maxAbsDiff(output.data, c.ref64.output.data), maxAbsDiff(hN.data, c.ref64.hN.data));
  result.errorVsTorch32 = Math.max(maxAbsDiff(output.data, c.torch32.output.data), maxAbsDiff(hN.data, c.torch32.hN.data));
  const nonFinite = nonFiniteProblem('output', output.data, c.ref64.output.data) ?? nonFiniteProblem('h_n', hN.data, c.ref64.hN.data);
  if (nonFinite !== null) {
    result.reason = nonFinite;
    return result;
  }
  if (Number.isNaN(result.errorVsRef64)) {
    result.reason = 'the result is NaN or ±Inf where PyTorch\'s is finite';
    return result;
  }
  const padding = paddingProblem(c, output);
  if (padding !== null) {
    result.reason = padding;
    return result;
  }
  if (!(result.errorVsRef64 <= tolerance)) {
    result.reason = `max |engine − float64 reference| = ${result.errorVsRef64.toExponential(3)} exceeds the tolerance ${tolerance.toExponential(3)} (PyTorch float32 is ${torchErrorVsRef64.toExponential(3)} from it)`;
    return result;
  }
  result.passed = true;
  return result;
}
