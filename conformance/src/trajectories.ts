import type { Backend, StateDict, Tensor } from '@recurrent/core';
import { Adam, AdamW, SGD, clipGradNorm, type AdamOptions, type Optimizer, type SgdOptions } from '@recurrent/optim';
import { unpack } from 'msgpackr';
import { describeError, exp, maxAbsDiff } from './compare.js';
import { isObject, moduleFamily, vectorFileReader, type ModuleFamily, type Tensor64 } from './format.js';
import { createBackwardModel, exclusionFor, type BackwardModel, type GradientCaseConfig, type GradientExclusion } from './gradients.js';
import { setTolerance } from './tolerance.js';

/**
 * Training-trajectory conformance: what generator/trajectories.py writes (a model trained `steps` steps by
 * torch.optim, weights recorded after every step) and the check every engine is held to: the same
 * training through model.backward, @recurrent/optim and model.loadStateDict. Browser-safe.
 */
export const TRAJECTORY_FORMAT = 'recurrent-trajectory-vectors';
export const TRAJECTORY_VERSION = 1;
export const TRAJECTORY_REGENERATE_COMMAND = 'pnpm --filter @recurrent/conformance generate:trajectories';

export type OptimizerName = 'sgd' | 'adam' | 'adamw';

export interface TrajectoryCase {
  id: string;
  why: string;
  features: string[];
  file: string;
  config: GradientCaseConfig;
  input: Tensor;
  h0: Tensor | null;
  c0: Tensor | null;
  lengths: number[] | null;
  /** The weights before the first step. */
  stateDict: StateDict;
  /** The fixed upstream gradients of every step; null ones are absent (zero). */
  upstream: { output: Tensor | null; hN: Tensor | null; cN: Tensor | null };
  optimizer: { name: OptimizerName; options: Record<string, unknown> };
  /** clip_grad_norm_ before each step, or none. */
  clip: { maxNorm: number; normType: number } | null;
  /** The weights after each step: PyTorch in float32, and the same start run in float64. */
  torch32: StateDict[];
  ref64: Record<string, Tensor64>[];
}

export interface TrajectoryManifestEntry {
  id: string;
  file: string;
  module: ModuleFamily;
  features: string[];
  bytes: number;
  steps: number;
  torch32MaxError: number;
  weightsMoved: number;
}

export interface TrajectoryManifest {
  format: string;
  version: number;
  specHash: string;
  torch: string;
  cases: TrajectoryManifestEntry[];
}

const { formatError, checkHeader, readTensor, decodeManifestRecord } = vectorFileReader('Trajectory vector', TRAJECTORY_FORMAT, TRAJECTORY_VERSION, TRAJECTORY_REGENERATE_COMMAND);

function readDict(file: string, where: string, value: unknown, dtype: 'float32' | 'float64'): Record<string, Tensor | Tensor64> {
  if (!isObject(value)) throw formatError(file, `${where} is not a map of tensors`);
  return Object.fromEntries(Object.entries(value).map(([name, t]) => [name, readTensor(file, `${where}.${name}`, t, dtype)]));
}

/** Decodes one trajectory vector file; anything malformed or of another version is an RnnError('format') naming `file`. */
export function decodeTrajectoryCase(bytes: Uint8Array, file: string): TrajectoryCase {
  let raw: unknown;
  try {
    raw = unpack(bytes);
  } catch (cause) {
    throw formatError(file, `not valid MessagePack (${(cause as Error).message})`);
  }
  const record = checkHeader(file, raw);
  const config = record.config as GradientCaseConfig;
  if (!isObject(config) || !['rnn', 'lstm', 'gru'].includes(config.mode as string)) throw formatError(file, 'field "config" is missing or has no mode');
  const optimizer = record.optimizer as TrajectoryCase['optimizer'];
  if (!isObject(optimizer) || !['sgd', 'adam', 'adamw'].includes(optimizer.name) || !isObject(optimizer.options)) throw formatError(file, 'field "optimizer" must be {name: sgd|adam|adamw, options}');
  if (!Array.isArray(record.torch32) || !Array.isArray(record.ref64) || record.torch32.length !== record.ref64.length || record.torch32.length === 0) {
    throw formatError(file, 'fields "torch32" and "ref64" must be lists of the same number of steps');
  }
  if (!isObject(record.upstream)) throw formatError(file, 'field "upstream" is required');
  const optional = (where: string, value: unknown): Tensor | null => (value === null || value === undefined ? null : (readTensor(file, where, value, 'float32') as Tensor));
  const up = record.upstream;
  return {
    id: String(record.id),
    why: String(record.why),
    features: record.features as string[],
    file,
    config,
    input: readTensor(file, 'input', record.input, 'float32') as Tensor,
    h0: optional('h0', record.h0),
    c0: optional('c0', record.c0),
    lengths: (record.lengths as number[] | null) ?? null,
    stateDict: readDict(file, 'stateDict', record.stateDict, 'float32') as StateDict,
    upstream: { output: optional('upstream.output', up.output), hN: optional('upstream.hN', up.hN), cN: optional('upstream.cN', up.cN) },
    optimizer,
    clip: (record.clip as TrajectoryCase['clip']) ?? null,
    torch32: record.torch32.map((step, s) => readDict(file, `torch32[${s}]`, step, 'float32') as StateDict),
    ref64: record.ref64.map((step, s) => readDict(file, `ref64[${s}]`, step, 'float64') as Record<string, Tensor64>),
  };
}

export function decodeTrajectoryManifest(text: string, file: string): TrajectoryManifest {
  return decodeManifestRecord(text, file) as unknown as TrajectoryManifest;
}

/** What one engine did on one trajectory case. Plain data (it crosses from the page to Node as JSON). */
export interface TrajectoryResult {
  id: string;
  module: ModuleFamily;
  features: string[];
  engine: string;
  backend: string;
  passed: boolean;
  reason: string | null;
  /** Steps the engine completed within the tolerance (all of them when it passed). */
  stepsPassed: number;
  steps: number;
  /** Steps after which every weight equals PyTorch's float32 weights bit for bit. */
  stepsEqualTorch32: number;
  /** max over steps and weights of |engine − PyTorch float64| (NaN when it did not run). */
  errorVsRef64: number;
  errorVsTorch32: number;
  /** max over steps of max |PyTorch float32 − float64|. */
  torchErrorVsRef64: number;
  /** max over steps of (engine error / that step's tolerance): under 1 passes. */
  worstRatio: number;
  ms: number;
}

/**
 * The forward tolerance policy (tolerance.ts) applied to the weights after step `s`, both maxima over
 * every weight: max(K · max|torch32 − ref64|, FLOOR_ULPS · ε₃₂ · max(1, max|ref64|)).
 */
export function trajectoryTolerance(c: Pick<TrajectoryCase, 'torch32' | 'ref64'>, s: number): { torchError: number; tolerance: number } {
  const torch = c.torch32[s]!;
  return setTolerance(Object.entries(c.ref64[s]!).map(([name, t]) => [torch[name]!.data, t.data]));
}

function createOptimizer(c: TrajectoryCase, params: StateDict): Optimizer {
  const { name, options } = c.optimizer;
  if (name === 'sgd') return new SGD(params, options as unknown as SgdOptions);
  return name === 'adam' ? new Adam(params, options as AdamOptions) : new AdamW(params, options as AdamOptions);
}

/**
 * Trains the case's model as a user would — model.backward, clipGradNorm (cases with clipping),
 * optimiser.step on the model's state dict, model.loadStateDict — once per recorded step, and judges the
 * weights after every step against PyTorch's float64 trajectory under the tolerance policy. Never throws.
 */
export async function runTrajectoryCase(backend: Backend, c: TrajectoryCase, now: () => number = () => performance.now()): Promise<TrajectoryResult> {
  const result: TrajectoryResult = {
    id: c.id,
    module: moduleFamily(c.config),
    features: c.features,
    engine: backend?.name ?? 'unknown',
    backend: backend?.name ?? 'unknown',
    passed: false,
    reason: null,
    stepsPassed: 0,
    steps: c.ref64.length,
    stepsEqualTorch32: 0,
    errorVsRef64: NaN,
    errorVsTorch32: NaN,
    torchErrorVsRef64: Math.max(...c.ref64.map((_, s) => trajectoryTolerance(c, s).torchError)),
    worstRatio: NaN,
    ms: 0,
  };
  const start = now();
  let model: BackwardModel | null = null;
  try {
    model = await createBackwardModel(backend, c);
    result.backend = model.backend;
    const params = model.stateDict();
    const optimizer = createOptimizer(c, params);
    let vsRef64 = 0;
    let vsTorch32 = 0;
    let worst = 0;
    for (let s = 0; s < c.ref64.length; s++) {
      const { weights } = await model.backward();
      if (c.clip !== null) clipGradNorm(weights, c.clip.maxNorm, { normType: c.clip.normType });
      optimizer.step(weights);
      await model.loadStateDict(params);
      const { torchError, tolerance } = trajectoryTolerance(c, s);
      let equal = true;
      for (const [name, want] of Object.entries(c.ref64[s]!)) {
        const got = params[name]!.data;
        const error = maxAbsDiff(got, want.data);
        const torch = c.torch32[s]![name]!.data;
        if (equal) for (let i = 0; i < torch.length && equal; i++) equal = Object.is(got[i], torch[i]);
        if (!(error <= tolerance)) {
          result.errorVsRef64 = error;
          result.worstRatio = error / tolerance;
          result.reason = `after step ${s + 1} of ${c.ref64.length}, max |engine − float64 reference| for ${name} = ${Number.isNaN(error) ? 'NaN' : error.toExponential(3)} exceeds the tolerance ${tolerance.toExponential(3)} (PyTorch float32 is ${torchError.toExponential(3)} from it)`;
          return result;
        }
        vsRef64 = Math.max(vsRef64, error);
        vsTorch32 = Math.max(vsTorch32, maxAbsDiff(got, torch));
        worst = Math.max(worst, error / tolerance);
      }
      if (equal) result.stepsEqualTorch32++;
      result.stepsPassed = s + 1;
    }
    Object.assign(result, { passed: true, errorVsRef64: vsRef64, errorVsTorch32: vsTorch32, worstRatio: worst });
  } catch (error) {
    result.reason = `threw at step ${result.stepsPassed + 1}: ${describeError(error)}`;
  } finally {
    result.ms = now() - start;
    model?.dispose();
  }
  return result;
}

/** The trajectory table of one engine: counts per module, excluded cases with their reason, failures first. */
export function formatTrajectoryTable(engine: string, results: readonly TrajectoryResult[], exclusions: readonly GradientExclusion[]): string {
  const excluded = (r: TrajectoryResult) => !r.passed && exclusionFor(exclusions, r) !== undefined;
  const failed = results.filter((r) => !r.passed && !excluded(r));
  const passed = results.filter((r) => r.passed);
  const worst = passed.reduce((m, r) => Math.max(m, r.worstRatio), 0);
  const families = [...new Set(results.map((r) => r.module))];
  const lines = [
    `trajectories ${engine}: ${passed.length} passed, ${failed.length} failed, ${results.length - passed.length - failed.length} excluded (gradients/exclusions.json); worst error / tolerance ${worst.toFixed(2)}`,
    `per module: ${families.map((m) => `${m} ${results.filter((r) => r.module === m && r.passed).length}/${results.filter((r) => r.module === m).length}`).join(', ')}`,
  ];
  for (const e of exclusions.filter((e) => results.some((r) => exclusionFor([e], r) !== undefined && !r.passed))) lines.push(`excluded: ${e.engine} ${e.family}: ${e.reason}`);
  lines.push(`${'case'.padEnd(44)} ${'backend'.padEnd(14)} ${'vs f64'.padStart(9)} ${'vs torch32'.padStart(10)} ${'torch32'.padStart(9)} ${'err/tol'.padStart(7)} ${'=torch32'.padStart(8)} ${'ms'.padStart(6)}  result`);
  for (const r of [...failed, ...results.filter(excluded), ...passed]) {
    const verdict = r.passed ? 'pass' : excluded(r) ? `excluded (${r.reason})` : `FAIL: ${r.reason}`;
    lines.push(`${r.id.padEnd(44)} ${r.backend.padEnd(14)} ${exp(r.errorVsRef64).padStart(9)} ${exp(r.errorVsTorch32).padStart(10)} ${exp(r.torchErrorVsRef64).padStart(9)} ${(Number.isFinite(r.worstRatio) ? r.worstRatio.toFixed(2) : '-').padStart(7)} ${`${r.stepsEqualTorch32}/${r.steps}`.padStart(8)} ${r.ms.toFixed(0).padStart(6)}  ${verdict}`);
  }
  return lines.join('\n');
}
