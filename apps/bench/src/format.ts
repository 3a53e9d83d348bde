import { MODULE_NAMES } from '@recurrent/core';
import { configTitle, taskOf, type Task } from './configs.js';
import type { ConfigResult, CpuUse, Progress, RunnerResult } from './harness.js';

export const fmtMs = (ms: number | undefined): string => (ms === undefined ? '' : ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));
export const fmtGflops = (g: number | undefined): string => (g === undefined ? '' : g >= 10 ? g.toFixed(1) : g.toFixed(2));
export const fmtBytes = (b: number | undefined): string =>
  b === undefined ? '' : b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(1)} GiB` : b >= 2 ** 20 ? `${(b / 2 ** 20).toFixed(1)} MiB` : `${Math.round(b / 1024)} KiB`;
export const fmtRatio = (r: number | undefined): string => (r === undefined ? '' : r >= 10 ? `${r.toFixed(0)}×` : `${r.toFixed(2)}×`);

export const COLUMNS = ['engine', 'runs as', 'median ms', 'min ms', 'max ms', 'GFLOP/s', 'vs cpu', 'max |Δ|', 'RSS Δ', 'heap Δ', 'engine mem', 'runs'];
/** A stream's row: time per step (a run is seqLen pushes), beside one forward over the same steps. */
export const STREAM_COLUMNS = ['engine', 'runs as', 'µs/step', 'min µs', 'max µs', 'forward µs/step', 'stream ÷ forward', 'vs cpu', 'max |Δ|', 'runs'];
/** A training row: forward + backward, beside the same engine's forward alone. */
export const TRAIN_COLUMNS = ['engine', 'runs as', 'fwd+bwd ms', 'min ms', 'max ms', 'GFLOP/s', 'forward ms', 'fwd+bwd ÷ forward', 'vs cpu', 'max |Δ|', 'RSS Δ', 'heap Δ', 'engine mem', 'runs'];

export const columnsOf = (c: ConfigResult): string[] => ({ forward: COLUMNS, stream: STREAM_COLUMNS, train: TRAIN_COLUMNS })[taskOf(c.config)];

/** The other engine a ratio is taken to: an id, `tfjs-fastest` (the faster of tfjs's timed backends) or `forward` (the engine's own forward). */
export const TFJS_FASTEST = 'tfjs-fastest';
export const OWN_FORWARD = 'forward';

/**
 * The ratios issues 11, 12 and 13 set as goals, and the ones they ask to report. A speed ratio is the
 * denominator's median time over the numerator's, from the same interleaved session (> 1: the
 * numerator is faster); against OWN_FORWARD it is the numerator's time over its own forward's, a cost
 * (lower is better, goal `atMost`).
 */
export interface GoalRatio {
  label: string;
  numerator: string;
  denominator: string;
  /** The least ratio that meets the goal, where there is one. */
  goal?: number;
  /** The greatest cost ratio that meets the goal (OWN_FORWARD ratios). */
  atMost?: number;
  /** The named configs the goal is set for (the ratio is shown for every config of its task). */
  goalConfigs?: string[];
  /** The task whose configs it is read on: forward (LSTM and GRU only) when absent. */
  task?: Task;
}

const STREAM_GOAL = ['stream-lstm', 'stream-gru'];
const TRAIN_GOAL = ['train-lstm-M', 'train-gru-M'];

export const GOAL_RATIOS: GoalRatio[] = [
  { label: 'WASM relaxed SIMD, 1 thread ÷ onnxruntime-web wasm, 1 thread', numerator: 'wasm-relaxed-1t', denominator: 'ort-web-1t', goal: 2.5, goalConfigs: ['lstm-M', 'lstm-L', 'gru-M', 'gru-L'] },
  { label: 'WASM plain SIMD, 1 thread ÷ onnxruntime-web wasm, 1 thread', numerator: 'wasm-simd-1t', denominator: 'ort-web-1t' },
  { label: 'WASM all threads ÷ WASM relaxed SIMD, 1 thread', numerator: 'wasm', denominator: 'wasm-relaxed-1t', goal: 1.6, goalConfigs: ['lstm-L', 'gru-L'] },
  // The textbook loop is too slow to time at L (about a minute a run): the goal is read at M.
  { label: 'CPU-JS ÷ textbook loop', numerator: 'cpu', denominator: 'naive', goal: 2.5, goalConfigs: ['lstm-M', 'gru-M'] },
  { label: 'WASM relaxed SIMD, 1 thread ÷ onnxruntime-node, 1 thread', numerator: 'wasm-relaxed-1t', denominator: 'ort-node-1t' },
  { label: 'WASM relaxed SIMD, 1 thread ÷ PyTorch, 1 thread', numerator: 'wasm-relaxed-1t', denominator: 'torch-1t' },
  { label: 'WASM all threads ÷ onnxruntime-node, default threads', numerator: 'wasm', denominator: 'ort-node' },
  // Issue 12: per-step latency of a stream, one step per push.
  { task: 'stream', label: 'WASM relaxed SIMD, 1 thread ÷ onnxruntime-web wasm, 1 thread', numerator: 'wasm-relaxed-1t', denominator: 'ort-web-1t', goal: 5, goalConfigs: STREAM_GOAL },
  { task: 'stream', label: 'WASM plain SIMD, 1 thread ÷ onnxruntime-web wasm, 1 thread', numerator: 'wasm-simd-1t', denominator: 'ort-web-1t' },
  { task: 'stream', label: 'WASM relaxed SIMD, 1 thread ÷ onnxruntime-node, 1 thread', numerator: 'wasm-relaxed-1t', denominator: 'ort-node-1t', goal: 2, goalConfigs: STREAM_GOAL },
  { task: 'stream', label: 'WASM relaxed SIMD, 1 thread ÷ PyTorch, 1 thread', numerator: 'wasm-relaxed-1t', denominator: 'torch-1t' },
  ...[['cpu', 'CPU-JS'], ['wasm-simd-1t', 'WASM plain SIMD, 1 thread'], ['wasm-relaxed-1t', 'WASM relaxed SIMD, 1 thread'], ['wasm', 'WASM all threads'], ['webgpu', 'WebGPU']].map(
    ([id, name]): GoalRatio => ({ task: 'stream', label: `${name}: stream ÷ one forward over the same steps`, numerator: id!, denominator: OWN_FORWARD, atMost: 1.3, goalConfigs: STREAM_GOAL }),
  ),
  // Issue 13: one forward + backward.
  ...[['wasm-simd-1t', 'WASM plain SIMD, 1 thread'], ['wasm-relaxed-1t', 'WASM relaxed SIMD, 1 thread'], ['wasm', 'WASM all threads']].map(
    ([id, name]): GoalRatio => ({ task: 'train', label: `${name}: forward + backward ÷ its forward`, numerator: id!, denominator: OWN_FORWARD, atMost: 3.5, goalConfigs: TRAIN_GOAL }),
  ),
  { task: 'train', label: 'CPU-JS: forward + backward ÷ its forward', numerator: 'cpu', denominator: OWN_FORWARD },
  { task: 'train', label: 'WebGPU: forward + backward ÷ its forward', numerator: 'webgpu', denominator: OWN_FORWARD },
  { task: 'train', label: 'WASM relaxed SIMD, 1 thread ÷ TF.js (its faster backend)', numerator: 'wasm-relaxed-1t', denominator: TFJS_FASTEST, goal: 5, goalConfigs: TRAIN_GOAL },
  { task: 'train', label: 'WASM all threads ÷ TF.js (its faster backend)', numerator: 'wasm', denominator: TFJS_FASTEST },
  { task: 'train', label: 'WASM relaxed SIMD, 1 thread ÷ PyTorch, 1 thread', numerator: 'wasm-relaxed-1t', denominator: 'torch-1t' },
  { task: 'train', label: 'WASM all threads ÷ PyTorch, 1 thread', numerator: 'wasm', denominator: 'torch-1t' },
];

/** What each task's goal table is called. */
export const GOAL_TITLES: Record<Task, string> = {
  forward: 'Goal ratios (issue 11)',
  stream: 'Streaming goal ratios (issue 12: per-step latency, one step per push)',
  train: 'Training goal ratios (issue 13: one forward + backward)',
};

/** A config's short column title: `LSTM M`, `GRU L`, `LSTM M proj 128`, `LSTM stream`, `GRU M train`, or its description. */
export function shortName(c: ConfigResult): string {
  const task = /^(stream|train)-(lstm|gru)(?:-(\w+))?$/.exec(c.config.name);
  if (task) return `${MODULE_NAMES[c.config.mode]}${task[3] ? ` ${task[3]}` : ''} ${task[1]}`;
  const m = /^(lstm|gru)(-proj)?-(\w+)$/.exec(c.config.name);
  if (!m) return c.description;
  return `${MODULE_NAMES[c.config.mode]} ${m[3]}${c.config.module.projSize ? ` proj ${c.config.module.projSize}` : ''}`;
}

/** The faster of tfjs's timed backends, or the engine with that id. */
function findEngine(c: ConfigResult, id: string): RunnerResult | undefined {
  if (id !== TFJS_FASTEST) return c.results.find((r) => r.id === id);
  const timed = c.results.filter((r) => r.id.startsWith('tfjs-') && r.medianMs);
  return timed.sort((a, b) => a.medianMs! - b.medianMs!)[0];
}

/** One cell of the goals table: `3.10× ✓`, `1.20× ✗`, `2.00×` (no goal here), or `—` with the reason missing. */
export function ratioCell(ratio: GoalRatio, c: ConfigResult): { text: string; met?: boolean } {
  const num = c.results.find((r) => r.id === ratio.numerator);
  let value: number;
  if (ratio.denominator === OWN_FORWARD) {
    if (num?.vsBaseline === undefined) return { text: '—' };
    value = num.vsBaseline;
  } else {
    const den = findEngine(c, ratio.denominator);
    if (!num?.medianMs || !den?.medianMs) return { text: '—' };
    value = den.medianMs / num.medianMs;
  }
  const goal = ratio.goal ?? ratio.atMost;
  if (goal === undefined || !ratio.goalConfigs?.includes(c.config.name)) return { text: fmtRatio(value) };
  const met = ratio.atMost !== undefined ? value <= ratio.atMost : value >= goal;
  return { text: `${fmtRatio(value)} ${met ? '✓' : '✗'}`, met };
}

/** The configs a task's goal ratios are about: LSTM and GRU forward configs, every stream or training config. */
export const goalConfigs = (results: ConfigResult[], task: Task = 'forward'): ConfigResult[] =>
  results.filter((c) => taskOf(c.config) === task && (task !== 'forward' || c.config.mode !== 'rnn'));

/** `LSTM M, GRU M` from config names, for the goal column. */
const configNames = (names: string[]): string => names.map((n) => n.replace(/^(?:(stream|train)-)?(lstm|gru)(?:-(\w+))?$/, (_, task: string | undefined, mode: 'lstm' | 'gru', size: string | undefined) => [MODULE_NAMES[mode], size].filter(Boolean).join(' '))).join(', ');

/** The goal ratios of a task as rows of cells: ratio, goal, then one per config of that task. */
export function goalRows(results: ConfigResult[], task: Task = 'forward'): string[][] {
  const configs = goalConfigs(results, task);
  if (configs.length === 0) return [];
  const header = [task === 'forward' ? 'ratio (speed, same session)' : 'ratio (same session)', 'goal', ...configs.map(shortName)];
  const rows = GOAL_RATIOS.filter((ratio) => (ratio.task ?? 'forward') === task).map((ratio) => [
    ratio.label,
    ratio.goal !== undefined ? `≥ ${ratio.goal}× (${configNames(ratio.goalConfigs!)})` : ratio.atMost !== undefined && ratio.goalConfigs ? `≤ ${ratio.atMost}× (${configNames(ratio.goalConfigs)})` : '',
    ...configs.map((c) => ratioCell(ratio, c).text),
  ]).filter((row) => row.slice(2).some((cell) => cell !== '—')); // a ratio nothing could time is left out (e.g. --engines)
  return rows.length ? [header, ...rows] : [];
}

const fmtUs = (ms: number | undefined, steps: number): string => (ms === undefined ? '' : fmtMs((ms * 1000) / steps));
const fmtDiff = (d: number | undefined): string => (d === undefined ? '' : d === 0 ? '0' : d.toExponential(1));

/** One row per timed engine, in the columns of its config's task (columnsOf). */
export function rowCells(r: RunnerResult, c?: ConfigResult): string[] {
  const task = c ? taskOf(c.config) : 'forward';
  if (task === 'stream') {
    const steps = c!.config.seqLen;
    return [r.label, r.detail ?? '', fmtUs(r.medianMs, steps), fmtUs(r.minMs, steps), fmtUs(r.maxMs, steps), fmtUs(r.baseline?.medianMs, steps), fmtRatio(r.vsBaseline), fmtRatio(r.speedupVsCpu), fmtDiff(r.maxAbsDiff), String(r.timesMs.length)];
  }
  if (task === 'train') {
    return [
      r.label, r.detail ?? '', fmtMs(r.medianMs), fmtMs(r.minMs), fmtMs(r.maxMs), fmtGflops(r.gflops), fmtMs(r.baseline?.medianMs), fmtRatio(r.vsBaseline), fmtRatio(r.speedupVsCpu), fmtDiff(r.maxAbsDiff),
      fmtBytes(r.memory.rssBytes), fmtBytes(r.memory.heapBytes), fmtBytes(r.memory.engineBytes), String(r.timesMs.length),
    ];
  }
  return [
    r.label,
    r.detail ?? '',
    fmtMs(r.medianMs),
    fmtMs(r.minMs),
    fmtMs(r.maxMs),
    fmtGflops(r.gflops),
    fmtRatio(r.speedupVsCpu),
    fmtDiff(r.maxAbsDiff),
    fmtBytes(r.memory.rssBytes),
    fmtBytes(r.memory.heapBytes),
    fmtBytes(r.memory.engineBytes),
    String(r.timesMs.length),
  ];
}

/** Why an engine has no timings: `unavailable: …`, `mismatch: …`, `too-slow: …`. */
export const statusText = (r: RunnerResult): string => `${r.status}: ${r.reason ?? ''}`;

/**
 * `2.0 of 2 cores busy during the timed runs (ours 1.6, other processes 0.4)`: whether the engines had
 * the machine to themselves.
 */
export function cpuText(cpu: CpuUse | undefined): string {
  if (!cpu) return '';
  const others = cpu.ownCores !== undefined ? Math.max(0, cpu.busyCores - cpu.ownCores) : undefined;
  const busy = others !== undefined && others > 0.25;
  return `${cpu.busyCores.toFixed(1)} of ${cpu.cores} cores busy during the timed runs` +
    (others !== undefined ? ` (this process ${cpu.ownCores!.toFixed(1)}, other processes ${others.toFixed(1)})` : ' (all processes, ours included)') +
    (busy ? ': the machine was shared, read absolute figures with care' : '');
}

/** `8.590 GFLOP per forward`, `… per 1000 steps`, `… per forward + backward (3× the forward's)`. */
export function flopsText(c: ConfigResult): string {
  const gflop = (c.flops / 1e9).toFixed(3);
  const task = taskOf(c.config);
  return task === 'stream' ? `${gflop} GFLOP per ${c.config.seqLen} steps` : task === 'train' ? `${gflop} GFLOP per forward + backward (counted as 3 forwards)` : `${gflop} GFLOP per forward`;
}

/** A plain-text table for the terminal; engines that were not timed are listed under it with the reason. */
export function formatTable(results: ConfigResult[], title = ''): string {
  const lines: string[] = [];
  for (const c of results) {
    lines.push('', `${title}${configTitle(c.config, c.description)} — ${flopsText(c)}, checked against ${c.reference}`);
    if (c.cpu) lines.push(cpuText(c.cpu));
    const columns = columnsOf(c);
    const rows = [columns, ...c.results.filter((r) => r.status === 'ok').map((r) => rowCells(r, c))];
    const widths = columns.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
    for (const row of rows) lines.push(row.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd());
    for (const r of c.results.filter((r) => r.status !== 'ok')) lines.push(`  ${r.label} — ${statusText(r)}`);
  }
  for (const task of ['forward', 'stream', 'train'] as const) {
    const goals = goalRows(results, task);
    if (goals.length === 0) continue;
    lines.push('', `${title}${GOAL_TITLES[task]} (✓ met, ✗ not met, — not timed):`);
    const widths = goals[0]!.map((_, i) => Math.max(...goals.map((row) => row[i]!.length)));
    for (const row of goals) lines.push(row.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd());
  }
  return lines.join('\n');
}

/** A one-line progress bar on stderr; on a non-terminal it prints a line every few percent instead. */
export function progressBar(stream: { isTTY?: boolean; write(s: string): boolean }): { update(p: Progress): void; done(): void } {
  let lastLine = -1;
  return {
    update(p) {
      const fraction = Math.min(1, p.done / Math.max(1, p.total));
      const width = 24;
      const filled = Math.round(fraction * width);
      const text = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round(fraction * 100)).padStart(3)}%  ${p.config}  ${p.runner} (${p.phase})`;
      if (stream.isTTY) stream.write(`\r\x1b[2K${text}`);
      else if (Math.floor(fraction * 10) !== lastLine || p.done === 1) {
        lastLine = Math.floor(fraction * 10);
        stream.write(text + '\n');
      }
    },
    done() {
      if (stream.isTTY) stream.write('\r\x1b[2K');
    },
  };
}
