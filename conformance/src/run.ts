import {
  createGru, createGruCell, createLstm, createLstmCell, createRnn, createRnnCell,
  type Backend, type ForwardOptions, type GruConfig, type LstmConfig, type RnnConfig, type StateDict, type Tensor,
} from '@recurrent/core';
import { describeError, paddingProblem } from './compare.js';
import { moduleFamily, type CaseConfig, type ConformanceCase, type ModuleFamily, type Tensor64 } from './format.js';
import { toleranceFor } from './tolerance.js';

/** The options the case's module constructor knows (createRnn refuses projSize, createLstm nonlinearity). */
export function moduleConfig(config: CaseConfig): RnnConfig | LstmConfig | GruConfig {
  const { mode, cell: _cell, nonlinearity, projSize, ...common } = config;
  return mode === 'rnn' ? { ...common, nonlinearity } : mode === 'lstm' ? { ...common, projSize } : common;
}

type ModuleResult = { output: Tensor; hN: Tensor; cN: Tensor | null };

/** A stream of any module behind one push (see model.stream in @recurrent/core). */
export interface CaseStream {
  push(chunk: Tensor, options?: ForwardOptions): Promise<ModuleResult>;
  dispose(): void;
}

/** A model of any module behind one forward: h0 and c0 (LSTM only) given or null, c_n only from an LSTM. */
export interface CaseModel {
  backend: string;
  forward(input: Tensor, h0: Tensor | null, c0: Tensor | null, options?: ForwardOptions): Promise<ModuleResult>;
  /** model.stream(hx) (unidirectional models only). */
  stream(h0: Tensor | null, c0: Tensor | null): CaseStream;
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
      stream(h0, c0) {
        const stream = lstm.stream(h0 === null || c0 === null ? undefined : [h0, c0]);
        return { push: (chunk, options) => stream.push(chunk, options), dispose: () => stream.dispose() };
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
    stream(h0) {
      const stream = model.stream(h0 ?? undefined);
      return { push: async (chunk, options) => ({ ...(await stream.push(chunk, options)), cN: null }), dispose: () => stream.dispose() };
    },
    dispose: () => model.dispose(),
  };
}

/** What an engine gave: a module's output, h_n and c_n, or a cell's h′ and c′ (as hN, cN; output null). */
type Got = { output: Tensor | null; hN: Tensor; cN: Tensor | null };

/**
 * Builds the case's cell through createRnnCell, createLstmCell or createGruCell, exactly as a user
 * would, and runs its forward once: h′ (and c′) come back as hN (and cN).
 */
async function runCell(c: ConformanceCase, backend: Backend): Promise<{ backend: string; got: Got }> {
  const { mode, inputSize, hiddenSize, bias, nonlinearity } = c.config;
  const config = { inputSize, hiddenSize, bias };
  if (mode === 'lstm') {
    const cell = await createLstmCell(config, c.stateDict, backend);
    try {
      const [h, cState] = await cell.forward(c.input, c.h0 === null || c.c0 === null ? undefined : [c.h0, c.c0]);
      return { backend: cell.backend, got: { output: null, hN: h, cN: cState } };
    } finally {
      cell.dispose();
    }
  }
  const cell = mode === 'gru' ? await createGruCell(config, c.stateDict, backend) : await createRnnCell({ ...config, nonlinearity }, c.stateDict, backend);
  try {
    return { backend: cell.backend, got: { output: null, hN: await cell.forward(c.input, c.h0 ?? undefined), cN: null } };
  } finally {
    cell.dispose();
  }
}

/**
 * What a result checked: `forward` runs the case once (a module's forward, or a cell's); `stream` pushes
 * the same input through model.stream() in chunks (see streamChunkings).
 */
export type Check = 'forward' | 'stream';

/** What one engine did on one case. Plain data (it crosses from the browser page to Node as JSON). */
export interface CaseResult {
  id: string;
  check: Check;
  /** rnn, lstm, lstm-proj, gru, rnn-cell, lstm-cell or gru-cell: what tables group by. */
  module: ModuleFamily;
  features: string[];
  passed: boolean;
  /** Why it failed: a thrown error, a wrong shape, NaN, non-zero padding, or an error above tolerance. */
  reason: string | null;
  /** max |engine − PyTorch float64| over output, h_n and (LSTM) c_n (NaN when it did not run); for a stream, the worst chunking. */
  errorVsRef64: number;
  /** max |engine − PyTorch float32| over output, h_n and c_n. */
  errorVsTorch32: number;
  /** max |PyTorch float32 − PyTorch float64|: how far PyTorch itself is from the reference. */
  torchErrorVsRef64: number;
  /** The bound errorVsRef64 had to stay under (see tolerance.ts). */
  tolerance: number;
  /** The engine variant that ran it (Rnn.backend), e.g. `cpu` or `wasm-simd`. */
  backend: string;
  /** Wall time of building the model or cell and running it (a stream: every chunking), for reports only (never asserted). */
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

/** The engine's results and PyTorch's, as [name, got, want] for every tensor compared (c_n for an LSTM). */
type Compared<T> = [name: string, got: ArrayLike<number>, want: T][];

/** A module's output, h_n and c_n; a cell's h′ and c′ (PyTorch has no output for a cell). */
function pairs<W>(got: Got, want: { output: W | null; hN: W; cN: W | null }): Compared<W> {
  const cell = want.output === null;
  const list: Compared<W> = cell ? [] : [['output', got.output?.data ?? [], want.output!]];
  list.push([cell ? 'h′' : 'h_n', got.hN.data, want.hN]);
  if (want.cN !== null) list.push([cell ? 'c′' : 'c_n', got.cN?.data ?? [], want.cN]);
  return list;
}

const shapeOf = (got: Got, name: string): number[] | undefined =>
  (name === 'output' ? got.output : name === 'h_n' || name === 'h′' ? got.hN : got.cN)?.shape;

const maxError = (list: Compared<{ data: ArrayLike<number> }>): number => Math.max(...list.map(([, got, want]) => maxAbsDiff(got, want.data)));

function emptyResult(backend: Backend, c: ConformanceCase, check: Check): CaseResult {
  const torchErrorVsRef64 = maxError(pairs(c.torch32, c.ref64));
  return {
    id: c.id,
    check,
    module: moduleFamily(c.config),
    features: c.features,
    passed: false,
    reason: null,
    errorVsRef64: NaN,
    errorVsTorch32: NaN,
    torchErrorVsRef64,
    tolerance: toleranceFor(torchErrorVsRef64, c),
    backend: backend?.name ?? 'unknown',
    ms: 0,
  };
}

/**
 * Judges what an engine gave against PyTorch: shapes, non-finite values where PyTorch has them (and
 * nowhere else), zeros past each length, and the error against ref64 within the tolerance. Fills in
 * the errors; returns why it fails, or null.
 */
function judge(c: ConformanceCase, got: Got, result: CaseResult): string | null {
  if (c.ref64.cN !== null && got.cN === null) return `no ${c.config.cell ? 'c′' : 'c_n'} came back for an LSTM${c.config.cell ? 'Cell' : ''}`;
  const vsRef64 = pairs(got, c.ref64);
  for (const [name, values, want] of vsRef64) {
    const shape = shapeOf(got, name) ?? [];
    if (!sameShape(shape, want.shape) || values.length !== want.data.length) {
      return `${name} has shape [${shape.join(', ')}] (${values.length} values), PyTorch's is [${want.shape.join(', ')}]`;
    }
  }
  result.errorVsRef64 = maxError(vsRef64);
  result.errorVsTorch32 = maxError(pairs(got, c.torch32));
  for (const [name, values, want] of vsRef64) {
    const problem = nonFiniteProblem(name, values, want.data);
    if (problem !== null) return problem;
  }
  if (Number.isNaN(result.errorVsRef64)) return 'the result is NaN or ±Inf where PyTorch\'s is finite';
  const padding = got.output === null ? null : paddingProblem(c, got.output, 'output');
  if (padding !== null) return padding;
  if (!(result.errorVsRef64 <= result.tolerance)) {
    return `max |engine − float64 reference| = ${result.errorVsRef64.toExponential(3)} exceeds the tolerance ${result.tolerance.toExponential(3)} (PyTorch float32 is ${result.torchErrorVsRef64.toExponential(3)} from it)`;
  }
  return null;
}

/**
 * Runs one case on a backend exactly as a user would — a module through createRnn, createLstm or
 * createGru and its forward, a cell through createRnnCell, createLstmCell or createGruCell and its
 * forward — and judges output, h_n and (LSTM) c_n, or the cell's h′ and c′. Never throws.
 */
export async function runCase(backend: Backend, c: ConformanceCase, now: () => number = () => performance.now()): Promise<CaseResult> {
  const result = emptyResult(backend, c, 'forward');
  return runAndJudge(result, now, () => (c.config.cell ? runCell(c, backend) : runModule(c, backend)), (got) => judge(c, got, result));
}

/** A module case's forward, on the model built as a user would. */
async function runModule(c: ConformanceCase, backend: Backend): Promise<{ backend: string; got: Got }> {
  const model = await createCaseModel(c.config, c.stateDict, backend);
  try {
    return { backend: model.backend, got: await model.forward(c.input, c.h0, c.c0, c.lengths === null ? undefined : { lengths: c.lengths }) };
  } finally {
    model.dispose();
  }
}

/**
 * Times `ran` (building the model and running the case), records the backend that ran it, and judges what
 * came back; a throw becomes the reason. Fills in `result` and returns it (forward and gradient cases).
 */
export async function runAndJudge<R extends { backend: string; ms: number; reason: string | null; passed: boolean }, Got>(
  result: R,
  now: () => number,
  ran: () => Promise<{ backend: string; got: Got }>,
  judgeGot: (got: Got) => string | null,
): Promise<R> {
  const start = now();
  let got: Got;
  try {
    const done = await ran();
    result.backend = done.backend;
    got = done.got;
  } catch (error) {
    result.ms = now() - start;
    result.reason = `threw ${describeError(error)}`;
    return result;
  }
  result.ms = now() - start;
  result.reason = judgeGot(got);
  result.passed = result.reason === null;
  return result;
}

/** Whether a case gets a stream check: every unidirectional module case (a bidirectional model cannot stream; a cell has no sequence). */
export function streamsCase(entry: { features: readonly string[] }): boolean {
  return entry.features.includes('unidirectional');
}

/** Chunk sizes (steps per push) that together cover a sequence, and how to say them. */
export interface Chunking {
  name: string;
  sizes: number[];
}

/**
 * One-step pushes a stream check makes before pushing the rest at once. Each push costs an engine a
 * round trip (on the WebGPU software adapter about 20–35 ms, measured): 1,000 one-step pushes would make
 * a long case cost 20 s there and the stream checks three times the forward checks; the long cases still
 * carry their states through 32 pushes and then one push of the other 468–968 steps.
 */
export const ONE_STEP_PUSHES = 32;

/**
 * How a stream check cuts a sequence of T steps: one step per push (for the first ONE_STEP_PUSHES
 * steps, then the rest), uneven pushes (1, 2, 3, then the rest), and the whole sequence in one push
 * (duplicates dropped).
 *
 * With lengths, element b gets clamp(len_b − s, 0, k) steps of a chunk covering [s, s + k), but forward
 * (and so push) requires lengths in 1..k: a chunk in which some element has already ended cannot be
 * pushed. So every chunk but the last lies within the shortest element (it ends at or before
 * min(lengths) − 1), and the last chunk, which starts while every element still runs, covers all the ends.
 */
export function streamChunkings(T: number, lengths: readonly number[] | null): Chunking[] {
  const lastStart = lengths === null ? T - 1 : Math.min(...lengths) - 1;
  const within = (sizes: number[]): number[] => {
    const out: number[] = [];
    let s = 0;
    for (const k of sizes) {
      if (s + k > lastStart) break;
      out.push(k);
      s += k;
    }
    out.push(T - s);
    return out;
  };
  const chunkings = [
    { name: `one step per push${T > ONE_STEP_PUSHES + 1 ? ` for ${ONE_STEP_PUSHES} steps, then the rest` : ''}`, sizes: within(new Array<number>(Math.min(T, ONE_STEP_PUSHES)).fill(1)) },
    { name: 'pushes of 1, 2, 3 and the rest', sizes: within([1, 2, 3]) },
    { name: 'one push', sizes: [T] },
  ];
  // Where two coincide (T = 1, or a length of 1 that forces a single push), the later, plainer name stays.
  return chunkings.filter((a, i) => !chunkings.slice(i + 1).some((b) => b.sizes.join() === a.sizes.join()));
}

/** Steps [s, s + k) of a tensor along its time axis (0, or 1 for batch_first input). */
function sliceTime(t: Tensor, axis: number, s: number, k: number): Tensor {
  const outer = t.shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const L = t.shape[axis]!;
  const inner = t.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const data = new Float32Array(outer * k * inner);
  for (let o = 0; o < outer; o++) data.set(t.data.subarray((o * L + s) * inner, (o * L + s + k) * inner), o * k * inner);
  const shape = [...t.shape];
  shape[axis] = k;
  return { data, shape };
}

/** Tensors joined along their time axis: what the chunks' outputs are of the whole sequence. */
function concatTime(parts: Tensor[], axis: number): Tensor {
  const shape = [...parts[0]!.shape];
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const L = parts.reduce((sum, p) => sum + p.shape[axis]!, 0);
  const data = new Float32Array(outer * L * inner);
  let s = 0;
  for (const part of parts) {
    const k = part.shape[axis]!;
    for (let o = 0; o < outer; o++) data.set(part.data.subarray(o * k * inner, (o + 1) * k * inner), (o * L + s) * inner);
    s += k;
  }
  shape[axis] = L;
  return { data, shape };
}

/** One stream over the case's input, pushed in the given chunks: the outputs joined, the last push's states. */
async function pushChunks(model: CaseModel, c: ConformanceCase, sizes: number[]): Promise<Got> {
  const axis = c.config.batchFirst && c.input.shape.length === 3 ? 1 : 0;
  const stream = model.stream(c.h0, c.c0);
  try {
    const outputs: Tensor[] = [];
    let last: ModuleResult | null = null;
    let s = 0;
    for (const k of sizes) {
      // PyTorch's packed semantics per chunk: element b runs clamp(len_b − s, 0, k) steps of it (≥ 1 here, see streamChunkings).
      const lengths = c.lengths?.map((len) => Math.min(Math.max(len - s, 0), k));
      last = await stream.push(sliceTime(c.input, axis, s, k), lengths === undefined ? undefined : { lengths });
      outputs.push(last.output);
      s += k;
    }
    return { output: concatTime(outputs, axis), hN: last!.hN, cN: last!.cN };
  } finally {
    stream.dispose();
  }
}

/**
 * The stream check of a unidirectional module case: the case's input pushed through model.stream(hx)
 * in every chunking of streamChunkings, the outputs joined along the time axis and the last push's
 * h_n (and c_n) judged against the same ref64 under the same tolerance as the forward. Never throws;
 * the result is the worst chunking, and a failure names the chunking.
 */
export async function runStreamCase(backend: Backend, c: ConformanceCase, now: () => number = () => performance.now()): Promise<CaseResult> {
  const result = emptyResult(backend, c, 'stream');
  const start = now();
  const T = c.input.shape[c.config.batchFirst && c.input.shape.length === 3 ? 1 : 0]!;
  let model: CaseModel | null = null;
  try {
    model = await createCaseModel(c.config, c.stateDict, backend);
    result.backend = model.backend;
    let worstVsRef64 = 0;
    let worstVsTorch32 = 0;
    for (const { name, sizes } of streamChunkings(T, c.lengths)) {
      const where = `pushed ${name} (${sizes.length <= 6 ? sizes.join(' + ') : `${sizes.length} pushes`})`;
      let got: Got;
      try {
        got = await pushChunks(model, c, sizes);
      } catch (error) {
        result.reason = `${where}: threw ${describeError(error)}`;
        return result;
      }
      const problem = judge(c, got, result);
      if (!(result.errorVsRef64 <= worstVsRef64)) worstVsRef64 = result.errorVsRef64;
      if (!(result.errorVsTorch32 <= worstVsTorch32)) worstVsTorch32 = result.errorVsTorch32;
      result.errorVsRef64 = worstVsRef64;
      result.errorVsTorch32 = worstVsTorch32;
      if (problem !== null) {
        result.reason = `${where}: ${problem}`;
        return result;
      }
    }
    result.passed = true;
    return result;
  } catch (error) {
    result.reason = `threw ${describeError(error)}`;
    return result;
  } finally {
    model?.dispose();
    result.ms = now() - start;
  }
}
