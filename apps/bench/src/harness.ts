import { isRnnError, swapLeadingAxes } from '@recurrent/core';
import { createBackend as createCpuBackend } from '@recurrent/cpu';
import { describeConfig, outputWidth, taskOf, type BenchConfig } from './configs.js';
import { createModule, flattenGradients, makeWorkload, type Prepared, type Runner, type Workload } from './runner.js';

export interface BenchOptions {
  /** Runs before timing; the first one is also the correctness check. */
  warmup: number;
  /** Timed runs per engine (fewer when the budget says so, never fewer than minReps). */
  reps: number;
  minReps: number;
  /** Time budget per engine and config for the timed runs, in ms. */
  budgetMs: number;
  /** An engine whose check run takes longer is reported as too slow and not timed. */
  maxRunMs: number;
  /** Largest max-abs difference from @recurrent/cpu's output that counts as the same result. */
  tolerance: number;
}

export const DEFAULT_OPTIONS: BenchOptions = { warmup: 2, reps: 7, minReps: 3, budgetMs: 20_000, maxRunMs: 30_000, tolerance: 1e-4 };

/**
 * What the platform can say about memory (Node's process.memoryUsage(), Chromium's performance.memory)
 * and about the CPU time spent while the engines were timed.
 */
export interface MemoryProbe {
  /** Collects garbage when the runtime allows it (node --expose-gc), so deltas mean something. */
  gc(): void;
  sample(): { rss?: number; heap?: number };
  /** CPU time (ms) the whole machine has spent busy so far, and this process with its children (Node only). */
  cpu?(): Promise<CpuSample | undefined>;
}

export interface CpuSample {
  cores: number;
  machineBusyMs: number;
  ownMs?: number;
}

/** How many cores were busy during a config's timed rounds: all of them, and ours (Node, PyTorch's process included). */
export interface CpuUse {
  cores: number;
  busyCores: number;
  ownCores?: number;
}

export interface RunnerResult {
  id: string;
  label: string;
  group: 'ours' | 'peer';
  detail?: string;
  status: 'ok' | 'unavailable' | 'mismatch' | 'too-slow' | 'error';
  reason?: string;
  /** Max abs difference from the reference output (PyTorch's where it ran) on the check run. */
  maxAbsDiff?: number;
  timesMs: number[];
  medianMs?: number;
  minMs?: number;
  maxMs?: number;
  gflops?: number;
  /** Median time of @recurrent/cpu divided by this one's, from the same interleaved session. */
  speedupVsCpu?: number;
  /**
   * The same engine's plain forward over the same input, timed in the same rounds (stream and train
   * tasks), and this run's median over it: a stream against one forward, forward + backward against forward.
   */
  baseline?: { timesMs: number[]; medianMs?: number };
  vsBaseline?: number;
  /** Growth of RSS and JS heap over building the model and its first runs, and the engine's own figure. */
  memory: { rssBytes?: number; heapBytes?: number; engineBytes?: number };
}

export interface ConfigResult {
  config: BenchConfig;
  description: string;
  flops: number;
  /** Who computed the output every engine was checked against, e.g. `PyTorch 1.13.0a0`. */
  reference: string;
  results: RunnerResult[];
  /** CPU use during the timed rounds, where the platform tells. */
  cpu?: CpuUse;
}

export interface Progress {
  done: number;
  total: number;
  config: string;
  runner: string;
  phase: 'check' | 'warm-up' | 'timed';
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Max |a − b|, Infinity when the lengths differ or a value is not finite. */
export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= max)) max = Number.isNaN(d) ? Infinity : d;
  }
  return max;
}

const now = (): number => performance.now();

/** A hung engine must not hang the whole benchmark: give up on it (its promise is left behind). */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${Math.round(ms / 1000)} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
const message = (error: unknown): string => String((error as Error)?.message ?? error).split('\n')[0]!;

/** The output every engine and peer of a workload must reproduce (train: flattenGradients), and who computed it. */
export interface Reference {
  output: Float32Array;
  source: string;
}

/**
 * The largest max |Δ| that passes the check. Gradients sum over B·T positions and grow with them, so a
 * training run's tolerance is relative to the largest reference value (when that exceeds 1), as the
 * conformance suite's is.
 */
export function allowedDiff(config: BenchConfig, reference: Float32Array, tolerance: number): number {
  if (taskOf(config) !== 'train') return tolerance;
  let max = 1;
  for (let i = 0; i < reference.length; i++) max = Math.max(max, Math.abs(reference[i]!));
  return tolerance * max;
}
export type ReferenceProvider = (w: Workload) => Promise<Reference>;

/** @recurrent/cpu's output (itself checked against PyTorch by the conformance suite): where PyTorch cannot run. */
export async function cpuReference(w: Workload, why = ''): Promise<Reference> {
  const backend = await createCpuBackend();
  const model = await createModule(w.config, w.weights, backend);
  let output: Float32Array;
  if (taskOf(w.config) === 'train') {
    const grads = await model.backward(w.input, undefined, { output: w.upstream! });
    output = flattenGradients(grads.input.data, grads.weights, Object.keys(w.weights));
  } else {
    output = (await model.forward(w.input)).output.data;
  }
  model.dispose();
  backend.dispose();
  return { output, source: `@recurrent/cpu${why ? ` (${why})` : ''}` };
}

interface Live {
  runner: Runner;
  prepared: Prepared;
  result: RunnerResult;
  repsLeft: number;
}

/**
 * Runs every runner on one config: each is built, checked against the reference and warmed up in
 * turn; then the timed runs go round-robin (one run of each engine per round, the starting engine
 * rotating) so that the machine's noise falls on all of them alike and ratios are fair.
 */
/** What one engine's check run on an earlier config said about its speed: flops per ms, and where. */
export type Rates = Map<string, { flopsPerMs: number; flops: number; config: string }>;

export async function benchConfig(
  config: BenchConfig,
  runners: Runner[],
  options: BenchOptions,
  memory: MemoryProbe,
  onProgress: (p: Progress) => void,
  rates: Rates = new Map(),
  referenceFor: ReferenceProvider = cpuReference,
): Promise<ConfigResult> {
  const workload = makeWorkload(config);
  let reference: Reference;
  try {
    reference = await referenceFor(workload);
  } catch (error) {
    // Nothing can be checked without it, so nothing is timed.
    const reason = `no reference output to check against: ${message(error)}`;
    const results = runners.map((r): RunnerResult => ({ id: r.id, label: r.label, group: r.group, status: 'error', reason, timesMs: [], memory: {} }));
    return { config, description: describeConfig(config), flops: workload.flops, reference: 'none', results };
  }
  const allowed = allowedDiff(config, reference.output, options.tolerance);
  const results: RunnerResult[] = [];
  const live: Live[] = [];
  // Progress counts runs; the total is an estimate until each engine's rep count is known.
  let done = 0;
  let total = runners.length * (options.warmup + options.reps);
  const planned = options.warmup + options.reps;
  const tick = (runner: Runner, phase: Progress['phase']): void => onProgress({ done: ++done, total, config: config.name, runner: runner.label, phase });

  for (const runner of runners) {
    const result: RunnerResult = { id: runner.id, label: runner.label, group: runner.group, status: 'ok', timesMs: [], memory: {} };
    results.push(result);
    memory.gc();
    const before = memory.sample();
    const doneBefore = done;
    let prepared: Prepared | undefined;
    // An engine too slow for this size on a comparable earlier one (≥ 1% of these FLOPs, so that fixed
    // overheads do not distort the rate) is not run: its check run would be thrown away, and a run we
    // cannot stop would skew the others. The margin allows for the rate differing between modules.
    // A stream's time is per-step overhead more than arithmetic: it neither uses nor sets a rate (its probe run says instead).
    const streaming = taskOf(config) === 'stream';
    const rate = streaming ? undefined : rates.get(runner.id);
    const predictedMs = rate && rate.flops >= workload.flops / 100 ? workload.flops / rate.flopsPerMs : 0;
    if (predictedMs > 1.25 * options.maxRunMs) {
      result.status = 'too-slow';
      result.reason = `not run: at the speed of its check run on ${rate!.config} (${(rate!.flopsPerMs / 1e6).toFixed(2)} GFLOP/s) one run would take ~${Math.round(predictedMs / 1000)} s (> ${options.maxRunMs / 1000} s)`;
      total -= planned;
      continue;
    }
    try {
      const patience = options.maxRunMs + 60_000;
      prepared = await withTimeout(runner.prepare(workload), patience, 'building the model');
      result.detail = prepared.detail;
      const estimate = await withTimeout(prepared.estimate?.() ?? Promise.resolve(undefined), patience, 'the probe run');
      if (estimate && estimate.ms > options.maxRunMs) {
        result.status = 'too-slow';
        result.reason = `not run: ${estimate.seen}, so one run would take ~${(estimate.ms / 1000).toFixed(1)} s (> ${options.maxRunMs / 1000} s)`;
        total -= planned;
        await prepared.dispose();
        continue;
      }
      const start = now();
      let output = await withTimeout(prepared.run(), patience, 'the check run');
      const checkMs = now() - start;
      if (!streaming) rates.set(runner.id, { flopsPerMs: workload.flops / checkMs, flops: workload.flops, config: config.name });
      tick(runner, 'check');
      if (prepared.batchFirstOutput && !config.module.batchFirst) {
        const DH = (config.module.bidirectional ? 2 : 1) * outputWidth(config);
        output = swapLeadingAxes(output, config.batch, config.seqLen, DH);
      }
      result.maxAbsDiff = maxAbsDiff(output, reference.output);
      if (!(result.maxAbsDiff <= allowed)) {
        result.status = 'mismatch';
        result.reason = `${taskOf(config) === 'train' ? 'gradients differ' : 'output differs'} from ${reference.source} by ${result.maxAbsDiff.toExponential(2)} (> ${allowed.toPrecision(2)}): not timed`;
      } else if (checkMs > options.maxRunMs) {
        result.status = 'too-slow';
        result.reason = `one run took ${(checkMs / 1000).toFixed(1)} s (> ${options.maxRunMs / 1000} s): not timed`;
      } else {
        const warmups = checkMs * options.warmup > options.budgetMs ? 0 : options.warmup - 1;
        for (let i = 0; i < warmups; i++) {
          await prepared.run();
          tick(runner, 'warm-up');
        }
        if (prepared.baseline) {
          result.baseline = { timesMs: [] };
          await prepared.baseline();
        }
        const after = memory.sample();
        result.memory = {
          rssBytes: before.rss !== undefined && after.rss !== undefined ? Math.max(0, after.rss - before.rss) : undefined,
          heapBytes: before.heap !== undefined && after.heap !== undefined ? Math.max(0, after.heap - before.heap) : undefined,
          engineBytes: prepared.engineBytes?.(),
        };
        const reps = Math.max(options.minReps, Math.min(options.reps, Math.floor(options.budgetMs / Math.max(checkMs, 1e-3))));
        total += done - doneBefore + reps - planned;
        live.push({ runner, prepared, result, repsLeft: reps });
        continue;
      }
    } catch (error) {
      result.status = isRnnError(error, 'unavailable') ? 'unavailable' : 'error';
      result.reason = message(error);
    }
    total += done - doneBefore - planned;
    await prepared?.dispose();
  }

  const cpuBefore = await memory.cpu?.();
  const timedStart = now();
  for (let round = 0; live.some((l) => l.repsLeft > 0); round++) {
    for (let k = 0; k < live.length; k++) {
      const l = live[(round + k) % live.length]!;
      if (l.repsLeft === 0) continue;
      l.repsLeft--;
      const start = now();
      await l.prepared.run();
      l.result.timesMs.push(now() - start);
      if (l.prepared.baseline) {
        const baselineStart = now();
        await l.prepared.baseline();
        l.result.baseline!.timesMs.push(now() - baselineStart);
      }
      tick(l.runner, 'timed');
    }
  }
  const timedMs = now() - timedStart;
  const cpuAfter = await memory.cpu?.();
  for (const l of live) await l.prepared.dispose();
  // /proc/stat counts in 10 ms ticks: a window under 2 s says nothing.
  const cpu: CpuUse | undefined = cpuBefore && cpuAfter && timedMs >= 2000
    ? {
        cores: cpuAfter.cores,
        busyCores: (cpuAfter.machineBusyMs - cpuBefore.machineBusyMs) / timedMs,
        ownCores: cpuAfter.ownMs !== undefined && cpuBefore.ownMs !== undefined ? (cpuAfter.ownMs - cpuBefore.ownMs) / timedMs : undefined,
      }
    : undefined;

  const flops = workload.flops;
  for (const r of results) {
    if (r.timesMs.length === 0) continue;
    r.medianMs = median(r.timesMs);
    r.minMs = Math.min(...r.timesMs);
    r.maxMs = Math.max(...r.timesMs);
    r.gflops = flops / (r.medianMs * 1e6);
    if (r.baseline?.timesMs.length) {
      r.baseline.medianMs = median(r.baseline.timesMs);
      r.vsBaseline = r.medianMs / r.baseline.medianMs;
    }
  }
  const ours = results.find((r) => r.id === 'cpu' && r.medianMs !== undefined);
  for (const r of results) if (ours && r.medianMs) r.speedupVsCpu = ours.medianMs! / r.medianMs;
  return { config, description: describeConfig(config), flops, reference: reference.source, results, cpu };
}

export async function runBench(
  configs: BenchConfig[],
  runners: Runner[],
  options: BenchOptions,
  memory: MemoryProbe,
  onProgress: (p: Progress) => void = () => {},
  referenceFor: ReferenceProvider = cpuReference,
): Promise<ConfigResult[]> {
  const out: ConfigResult[] = [];
  const rates: Rates = new Map();
  for (const config of configs) out.push(await benchConfig(config, runners, options, memory, onProgress, rates, referenceFor));
  return out;
}
