import {
  createGru, createLstm, createRnn, type Backend, type ForwardOptions, type GruConfig, type LstmConfig, type RnnConfig, type StateDict, type Tensor,
} from '@recurrent/core';
import { moduleFamily, type CaseConfig, type ConformanceCase, type ModuleFamily, type Tensor64 } from './format.js';
import { toleranceFor } from './tolerance.js';

/** The options the case's module constructor knows (createRnn refuses projSize, createLstm nonlinearity). */
export function moduleConfig(config: CaseConfig): RnnConfig | LstmConfig | GruConfig {
  const { mode, nonlinearity, projSize, ...common } = config;
  return mode === 'rnn' ? { ...common, nonlinearity } : mode === 'lstm' ? { ...common, projSize } : common;
}

/** A model of any module behind one forward: h0 and c0 (LSTM only) given or null, c_n only from an LSTM. */
export interface CaseModel {
  backend: string;
  forward(input: Tensor, h0: Tensor | null, c0: Tensor | null, options?: ForwardOptions): Promise<{ output: Tensor; hN: Tensor; cN: Tensor | null }>;
  dispose(): void;
}

/** Builds the case's module through createRnn, createLstm or createGru, exactly as a user would. */
export async function createCaseModel(config: CaseConfig, weights: StateDict, backend: Backend): Promise<CaseModel> {
  if (config.mode === 'lstm') {
    const lstm = await createLstm(moduleConfig(config), weights, backend);
    return {
      backend: lstm.backend,
      async forward(input, h0, c0, options) {
        return lstm.forward(input, h0 === null || c0 === null ? undefined : [h0, c0], options);
      },
      dispose: () => lstm.dispose(),
    };
  }
  const model = config.mode === 'gru' ? await createGru(moduleConfig(config), weights, backend) : await createRnn(moduleConfig(config), weights, backend);
  return {
    backend: model.backend,
    async forward(input, h0, _c0, options) {
      return { ...(await model.forward(input, h0 ?? undefined, options)), cN: null };
    },
    dispose: () => model.dispose(),
  };
}

/** What one engine did on one case. Plain data (it crosses from the browser page to Node as JSON). */
export interface CaseResult {
  id: string;
  /** rnn, lstm, lstm-proj or gru: what tables group by. */
  module: ModuleFamily;
  features: string[];
  passed: boolean;
  /** Why it failed: a thrown error, a wrong shape, NaN, non-zero padding, or an error above tolerance. */
  reason: string | null;
  /** max |engine − PyTorch float64| over output, h_n and (LSTM) c_n (NaN when it did not run). */
  errorVsRef64: number;
  /** max |engine − PyTorch float32| over output, h_n and c_n. */
  errorVsTorch32: number;
  /** max |PyTorch float32 − PyTorch float64|: how far PyTorch itself is from the reference. */
  torchErrorVsRef64: number;
  /** The bound errorVsRef64 had to stay under (see tolerance.ts). */
  tolerance: number;
  /** The engine variant that ran it (Rnn.backend), e.g. `cpu` or `wasm-simd`. */
  backend: string;
  /** Wall time of createRnn/createLstm/createGru + forward, for reports only (never asserted). */
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

/** The engine's results and PyTorch's, as [name, got, want] for every tensor compared (c_n for an LSTM). */
type Compared<T> = [name: string, got: ArrayLike<number>, want: T][];

function pairs<W>(got: { output: Tensor; hN: Tensor; cN: Tensor | null }, want: { output: W; hN: W; cN: W | null }): Compared<W> {
  const list: Compared<W> = [['output', got.output.data, want.output], ['h_n', got.hN.data, want.hN]];
  if (want.cN !== null) list.push(['c_n', got.cN?.data ?? [], want.cN]);
  return list;
}

const maxError = (list: Compared<{ data: ArrayLike<number> }>): number => Math.max(...list.map(([, got, want]) => maxAbsDiff(got, want.data)));

/**
 * Runs one case on a backend through createRnn, createLstm or createGru, exactly as a user would, and
 * judges output, h_n and (LSTM) c_n. Never throws.
 */
export async function runCase(backend: Backend, c: ConformanceCase, now: () => number = () => performance.now()): Promise<CaseResult> {
  const torchErrorVsRef64 = maxError(pairs(c.torch32, c.ref64));
  const tolerance = toleranceFor(torchErrorVsRef64, c);
  const result: CaseResult = {
    id: c.id,
    module: moduleFamily(c.config),
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
  let got: Awaited<ReturnType<CaseModel['forward']>>;
  try {
    const model = await createCaseModel(c.config, c.stateDict, backend);
    result.backend = model.backend;
    try {
      got = await model.forward(c.input, c.h0, c.c0, c.lengths === null ? undefined : { lengths: c.lengths });
    } finally {
      model.dispose();
    }
  } catch (error) {
    result.ms = now() - start;
    result.reason = `threw ${describeError(error)}`;
    return result;
  }
  result.ms = now() - start;

  if (c.ref64.cN !== null && got.cN === null) {
    result.reason = 'no c_n came back for an LSTM';
    return result;
  }
  const vsRef64 = pairs(got, c.ref64);
  for (const [name, values, want] of vsRef64) {
    const shape = name === 'output' ? got.output.shape : name === 'h_n' ? got.hN.shape : got.cN!.shape;
    if (!sameShape(shape, want.shape) || values.length !== want.data.length) {
      result.reason = `${name} has shape [${shape.join(', ')}] (${values.length} values), PyTorch's is [${want.shape.join(', ')}]`;
      return result;
    }
  }
  result.errorVsRef64 = maxError(vsRef64);
  result.errorVsTorch32 = maxError(pairs(got, c.torch32));
  for (const [name, values, want] of vsRef64) {
    const problem = nonFiniteProblem(name, values, want.data);
    if (problem !== null) {
      result.reason = problem;
      return result;
    }
  }
  if (Number.isNaN(result.errorVsRef64)) {
    result.reason = 'the result is NaN or ±Inf where PyTorch\'s is finite';
    return result;
  }
  const padding = paddingProblem(c, got.output);
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
