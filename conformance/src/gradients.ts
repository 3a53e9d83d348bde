import {
  createGru, createLstm, createRnn, type Backend, type Gradients, type Gru, type Lstm, type ResolvedConfig, type Rnn, type StateDict, type Tensor,
} from '@recurrent/core';
import { unpack } from 'msgpackr';
import { describeError, exp, maxAbsDiff, paddingProblem } from './compare.js';
import { isObject, moduleFamily, vectorFileReader, type ModuleFamily, type Tensor64 } from './format.js';
import { moduleConfig, runAndJudge } from './run.js';
import { setTolerance } from './tolerance.js';

/**
 * Gradient conformance: what generator/gradients.py writes (PyTorch autograd on nn.RNN, nn.LSTM, nn.GRU)
 * and the check every engine's backward is held to. Browser-safe (no Node imports): the page runs it too.
 */
export const GRADIENT_FORMAT = 'recurrent-gradient-vectors';
export const GRADIENT_VERSION = 1;
export const GRADIENT_REGENERATE_COMMAND = 'pnpm --filter @recurrent/conformance generate:gradients';

/** A module's config as core resolves it (ResolvedConfig), less dropout (always 0 here). */
export type GradientCaseConfig = Omit<ResolvedConfig, 'dropout'>;

/** What loss.backward() left in .grad: for the input, h0, c0 (LSTM) and every parameter under its name. */
export interface GradientSet<T> {
  input: T;
  h0: T;
  c0: T | null;
  weights: Record<string, T>;
}

/** One gradient case: a forward call, the upstream gradients, and PyTorch's gradients in float32 and float64. */
export interface GradientCase {
  id: string;
  why: string;
  features: string[];
  file: string;
  config: GradientCaseConfig;
  input: Tensor;
  /** Null when the case gives no initial state (its gradient is then the one with respect to zeros). */
  h0: Tensor | null;
  c0: Tensor | null;
  lengths: number[] | null;
  stateDict: StateDict;
  /** ∂loss/∂output, ∂loss/∂h_n, ∂loss/∂c_n; null ones are absent (zero). */
  upstream: { output: Tensor | null; hN: Tensor | null; cN: Tensor | null };
  torch32: GradientSet<Tensor>;
  ref64: GradientSet<Tensor64>;
}

export interface GradientManifestEntry {
  id: string;
  file: string;
  module: ModuleFamily;
  features: string[];
  bytes: number;
  torch32MaxError: number;
  ref64MaxAbs: number;
}

export interface GradientManifest {
  format: string;
  version: number;
  specHash: string;
  torch: string;
  cases: GradientManifestEntry[];
}

const { formatError, checkHeader, readTensor, decodeManifestRecord } = vectorFileReader('Gradient vector', GRADIENT_FORMAT, GRADIENT_VERSION, GRADIENT_REGENERATE_COMMAND);

function readSet(file: string, key: string, value: unknown, dtype: 'float32' | 'float64', lstm: boolean): GradientSet<Tensor | Tensor64> {
  if (!isObject(value) || !isObject(value.weights)) throw formatError(file, `field "${key}" is missing or has no weights`);
  if (lstm !== (value.c0 !== null && value.c0 !== undefined)) throw formatError(file, `${key}.c0 must be present for an LSTM and null otherwise`);
  const weights: Record<string, Tensor | Tensor64> = {};
  for (const [name, t] of Object.entries(value.weights)) weights[name] = readTensor(file, `${key}.weights.${name}`, t, dtype as 'float32');
  return {
    input: readTensor(file, `${key}.input`, value.input, dtype as 'float32'),
    h0: readTensor(file, `${key}.h0`, value.h0, dtype as 'float32'),
    c0: lstm ? readTensor(file, `${key}.c0`, value.c0, dtype as 'float32') : null,
    weights,
  };
}

/** Decodes one gradient vector file; anything malformed or of another version is an RnnError('format') naming `file`. */
export function decodeGradientCase(bytes: Uint8Array, file: string): GradientCase {
  let raw: unknown;
  try {
    raw = unpack(bytes);
  } catch (cause) {
    throw formatError(file, `not valid MessagePack (${(cause as Error).message})`);
  }
  const record = checkHeader(file, raw);
  const config = record.config as GradientCaseConfig;
  if (!isObject(config) || !['rnn', 'lstm', 'gru'].includes(config.mode as string)) throw formatError(file, 'field "config" is missing or has no mode');
  const lstm = config.mode === 'lstm';
  if (!isObject(record.stateDict) || !isObject(record.upstream)) throw formatError(file, 'fields "stateDict" and "upstream" are required');
  const stateDict: StateDict = {};
  for (const [name, value] of Object.entries(record.stateDict)) stateDict[name] = readTensor(file, `stateDict.${name}`, value, 'float32');
  const optional = (where: string, value: unknown): Tensor | null => (value === null || value === undefined ? null : readTensor(file, where, value, 'float32'));
  const up = record.upstream;
  return {
    id: String(record.id),
    why: String(record.why),
    features: record.features as string[],
    file,
    config,
    input: readTensor(file, 'input', record.input, 'float32'),
    h0: optional('h0', record.h0),
    c0: optional('c0', record.c0),
    lengths: (record.lengths as number[] | null) ?? null,
    stateDict,
    upstream: { output: optional('upstream.output', up.output), hN: optional('upstream.hN', up.hN), cN: optional('upstream.cN', up.cN) },
    torch32: readSet(file, 'torch32', record.torch32, 'float32', lstm) as GradientSet<Tensor>,
    ref64: readSet(file, 'ref64', record.ref64, 'float64', lstm) as GradientSet<Tensor64>,
  };
}

export function decodeGradientManifest(text: string, file: string): GradientManifest {
  return decodeManifestRecord(text, file) as unknown as GradientManifest;
}

/** What one engine did on one gradient case. Plain data (it crosses from the page to Node as JSON). */
export interface GradientResult {
  id: string;
  module: ModuleFamily;
  features: string[];
  /** The engine (Backend.name: cpu, wasm, webgpu), what exclusions name. */
  engine: string;
  /** The variant that ran it (model.backend). */
  backend: string;
  passed: boolean;
  reason: string | null;
  /** max |engine − PyTorch float64| over every gradient tensor (NaN when it did not run). */
  errorVsRef64: number;
  errorVsTorch32: number;
  /** max |PyTorch float32 − float64| over every gradient tensor. */
  torchErrorVsRef64: number;
  tolerance: number;
  /** Wall time of building the model and its backward (reports only, never asserted). */
  ms: number;
}

/** [name, tensor] for every gradient of a set, in a fixed order: input, h0, c0, then the parameters. */
function named<T>(set: GradientSet<T>): [string, T][] {
  const list: [string, T][] = [['input', set.input], ['h0', set.h0]];
  if (set.c0 !== null) list.push(['c0', set.c0]);
  for (const [name, t] of Object.entries(set.weights)) list.push([`weights.${name}`, t]);
  return list;
}

/**
 * The forward tolerance policy (tolerance.ts) over every gradient tensor at once:
 * max(K · max|torch32 − ref64|, FLOOR_ULPS · ε₃₂ · max(1, max|ref64|)), both maxima over all gradients.
 */
export function gradientTolerance(c: Pick<GradientCase, 'torch32' | 'ref64'>): { torchError: number; tolerance: number } {
  const torch = new Map(named(c.torch32));
  return setTolerance(named(c.ref64).map(([name, t]) => [torch.get(name)!.data, t.data]));
}

/** A model of any module with the case's backward call bound to it, and its weights in and out (trajectories train it). */
export interface BackwardModel {
  backend: string;
  backward(): Promise<Gradients>;
  stateDict(): StateDict;
  loadStateDict(weights: StateDict): Promise<void>;
  dispose(): void;
}

/** The case's model built as a user would (createRnn / createLstm / createGru); backward() is model.backward(input, hx, upstream, { lengths }). */
export async function createBackwardModel(
  backend: Backend,
  c: Pick<GradientCase, 'config' | 'stateDict' | 'input' | 'h0' | 'c0' | 'lengths' | 'upstream'>,
): Promise<BackwardModel> {
  const config = moduleConfig({ ...c.config, cell: false });
  const options = c.lengths === null ? undefined : { lengths: c.lengths };
  const upstream = Object.fromEntries(Object.entries(c.upstream).filter(([, t]) => t !== null));
  const wrap = (model: Rnn | Gru | Lstm, backward: () => Promise<Gradients>): BackwardModel => ({
    backend: model.backend,
    backward,
    stateDict: () => model.stateDict(),
    loadStateDict: (weights) => model.loadStateDict(weights),
    dispose: () => model.dispose(),
  });
  if (c.config.mode === 'lstm') {
    const lstm = await createLstm(config, c.stateDict, backend);
    const hx: [Tensor, Tensor] | undefined = c.h0 === null || c.c0 === null ? undefined : [c.h0, c.c0];
    return wrap(lstm, () => lstm.backward(c.input, hx, upstream, options));
  }
  const model = c.config.mode === 'gru' ? await createGru(config, c.stateDict, backend) : await createRnn(config, c.stateDict, backend);
  return wrap(model, () => model.backward(c.input, c.h0 ?? undefined, upstream, options));
}

/** The case's model built, its backward run once. */
async function runBackward(backend: Backend, c: GradientCase): Promise<{ backend: string; got: Gradients }> {
  const model = await createBackwardModel(backend, c);
  try {
    return { backend: model.backend, got: await model.backward() };
  } finally {
    model.dispose();
  }
}

/**
 * Runs one gradient case as a user would — the module through createRnn, createLstm or createGru, then
 * model.backward(input, hx, upstream, { lengths }) — and judges every gradient (input, h0, c0, each
 * parameter) against PyTorch's float64 autograd under one tolerance. Never throws.
 */
export async function runGradientCase(backend: Backend, c: GradientCase, now: () => number = () => performance.now()): Promise<GradientResult> {
  const { torchError, tolerance } = gradientTolerance(c);
  const result: GradientResult = {
    id: c.id,
    module: moduleFamily(c.config),
    features: c.features,
    engine: backend?.name ?? 'unknown',
    backend: backend?.name ?? 'unknown',
    passed: false,
    reason: null,
    errorVsRef64: NaN,
    errorVsTorch32: NaN,
    torchErrorVsRef64: torchError,
    tolerance,
    ms: 0,
  };
  return runAndJudge(result, now, () => runBackward(backend, c), (got) => judge(c, got, result));
}

function judge(c: GradientCase, got: Gradients, result: GradientResult): string | null {
  const gotSet: GradientSet<Tensor | undefined> = { input: got.input, h0: got.h0, c0: got.c0 ?? null, weights: got.weights };
  if (c.ref64.c0 !== null && got.c0 === undefined) return 'no c0 gradient came back for an LSTM';
  const extra = Object.keys(got.weights).filter((name) => !(name in c.ref64.weights));
  if (extra.length > 0) return `gradients for parameters PyTorch does not have: ${extra.join(', ')}`;
  const gotByName = new Map(named(gotSet));
  const want64 = named(c.ref64);
  const want32 = new Map(named(c.torch32));
  let vsRef64 = 0;
  let vsTorch32 = 0;
  for (const [name, want] of want64) {
    const t = gotByName.get(name);
    if (t === undefined) return `no gradient came back for ${name}`;
    if (t.shape.length !== want.shape.length || t.shape.some((d, i) => d !== want.shape[i]) || t.data.length !== want.data.length) {
      return `the gradient for ${name} has shape [${t.shape.join(', ')}], PyTorch's is [${want.shape.join(', ')}]`;
    }
    const error = maxAbsDiff(t.data, want.data);
    if (Number.isNaN(error)) return `the gradient for ${name} is NaN or ±Inf where PyTorch's is finite`;
    vsRef64 = Math.max(vsRef64, error);
    vsTorch32 = Math.max(vsTorch32, maxAbsDiff(t.data, want32.get(name)!.data));
    if (error > result.tolerance) {
      result.errorVsRef64 = error;
      return `max |engine − float64 reference| for ${name} = ${error.toExponential(3)} exceeds the tolerance ${result.tolerance.toExponential(3)} (PyTorch float32 is ${result.torchErrorVsRef64.toExponential(3)} from it over all gradients)`;
    }
  }
  result.errorVsRef64 = vsRef64;
  result.errorVsTorch32 = vsTorch32;
  return got.input.shape.length === 3 ? paddingProblem(c, got.input, 'the input gradient') : null;
}

/** One entry of gradients/exclusions.json: an engine that cannot compute a module family's gradients yet, and why. */
export interface GradientExclusion {
  engine: string;
  family: ModuleFamily;
  reason: string;
}

/** The exclusion that covers a result, if any. */
export function exclusionFor(exclusions: readonly GradientExclusion[], result: Pick<GradientResult, 'engine' | 'module'>): GradientExclusion | undefined {
  return exclusions.find((e) => e.engine === result.engine && e.family === result.module);
}

/** The gradient table of one engine: counts per module, excluded cases with their reason, failures first. */
export function formatGradientTable(engine: string, results: readonly GradientResult[], exclusions: readonly GradientExclusion[]): string {
  const excluded = (r: GradientResult) => !r.passed && exclusionFor(exclusions, r) !== undefined;
  const failed = results.filter((r) => !r.passed && !excluded(r));
  const passed = results.filter((r) => r.passed);
  const worst = passed.reduce((m, r) => Math.max(m, r.errorVsRef64 / r.tolerance), 0);
  const families = [...new Set(results.map((r) => r.module))];
  const lines = [
    `gradients ${engine}: ${passed.length} passed, ${failed.length} failed, ${results.length - passed.length - failed.length} excluded (gradients/exclusions.json); worst error / tolerance ${worst.toFixed(2)}`,
    `per module: ${families.map((m) => `${m} ${results.filter((r) => r.module === m && r.passed).length}/${results.filter((r) => r.module === m).length}`).join(', ')}`,
  ];
  for (const e of exclusions.filter((e) => results.some((r) => exclusionFor([e], r) !== undefined && !r.passed))) lines.push(`excluded: ${e.engine} ${e.family}: ${e.reason}`);
  lines.push(`${'case'.padEnd(36)} ${'backend'.padEnd(14)} ${'vs f64'.padStart(9)} ${'vs torch32'.padStart(10)} ${'torch32'.padStart(9)} ${'tolerance'.padStart(9)} ${'ms'.padStart(7)}  result`);
  for (const r of [...failed, ...results.filter(excluded), ...passed]) {
    const verdict = r.passed ? 'pass' : excluded(r) ? `excluded (${r.reason})` : `FAIL: ${r.reason}`;
    lines.push(`${r.id.padEnd(36)} ${r.backend.padEnd(14)} ${exp(r.errorVsRef64).padStart(9)} ${exp(r.errorVsTorch32).padStart(10)} ${exp(r.torchErrorVsRef64).padStart(9)} ${exp(r.tolerance).padStart(9)} ${r.ms.toFixed(0).padStart(7)}  ${verdict}`);
  }
  return lines.join('\n');
}
