import { MODULE_NAMES } from '@recurrent/core';
import { configTitle } from './configs.js';
import type { ConfigResult, CpuUse, Progress, RunnerResult } from './harness.js';

export const fmtMs = (ms: number | undefined): string => (ms === undefined ? '' : ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));
export const fmtGflops = (g: number | undefined): string => (g === undefined ? '' : g >= 10 ? g.toFixed(1) : g.toFixed(2));
export const fmtBytes = (b: number | undefined): string =>
  b === undefined ? '' : b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(1)} GiB` : b >= 2 ** 20 ? `${(b / 2 ** 20).toFixed(1)} MiB` : `${Math.round(b / 1024)} KiB`;
export const fmtRatio = (r: number | undefined): string => (r === undefined ? '' : r >= 10 ? `${r.toFixed(0)}×` : `${r.toFixed(2)}×`);

export const COLUMNS = ['engine', 'runs as', 'median ms', 'min ms', 'max ms', 'GFLOP/s', 'vs cpu', 'max |Δ|', 'RSS Δ', 'heap Δ', 'engine mem', 'runs'];

/**
 * The ratios issue 11 sets as goals, and the ones it asks to report: a speed ratio is the
 * denominator's median time over the numerator's, from the same interleaved session.
 */
export interface GoalRatio {
  label: string;
  numerator: string;
  denominator: string;
  /** The least ratio that meets the goal, where there is one. */
  goal?: number;
  /** The named configs the goal is set for (the ratio is shown for every LSTM/GRU config). */
  goalConfigs?: string[];
}

export const GOAL_RATIOS: GoalRatio[] = [
  { label: 'WASM relaxed SIMD, 1 thread ÷ onnxruntime-web wasm, 1 thread', numerator: 'wasm-relaxed-1t', denominator: 'ort-web-1t', goal: 2.5, goalConfigs: ['lstm-M', 'lstm-L', 'gru-M', 'gru-L'] },
  { label: 'WASM plain SIMD, 1 thread ÷ onnxruntime-web wasm, 1 thread', numerator: 'wasm-simd-1t', denominator: 'ort-web-1t' },
  { label: 'WASM all threads ÷ WASM relaxed SIMD, 1 thread', numerator: 'wasm', denominator: 'wasm-relaxed-1t', goal: 1.6, goalConfigs: ['lstm-L', 'gru-L'] },
  // The textbook loop is too slow to time at L (about a minute a run): the goal is read at M.
  { label: 'CPU-JS ÷ textbook loop', numerator: 'cpu', denominator: 'naive', goal: 2.5, goalConfigs: ['lstm-M', 'gru-M'] },
  { label: 'WASM relaxed SIMD, 1 thread ÷ onnxruntime-node, 1 thread', numerator: 'wasm-relaxed-1t', denominator: 'ort-node-1t' },
  { label: 'WASM relaxed SIMD, 1 thread ÷ PyTorch, 1 thread', numerator: 'wasm-relaxed-1t', denominator: 'torch-1t' },
  { label: 'WASM all threads ÷ onnxruntime-node, default threads', numerator: 'wasm', denominator: 'ort-node' },
];

/** A config's short column title: `LSTM M`, `GRU L`, `LSTM M proj 128`, or its description. */
export function shortName(c: ConfigResult): string {
  const m = /^(lstm|gru)(-proj)?-(\w+)$/.exec(c.config.name);
  if (!m) return c.description;
  return `${MODULE_NAMES[c.config.mode]} ${m[3]}${c.config.module.projSize ? ` proj ${c.config.module.projSize}` : ''}`;
}

/** One cell of the goals table: `3.10× ✓`, `1.20× ✗`, `2.00×` (no goal here), or `—` with the reason missing. */
export function ratioCell(ratio: GoalRatio, c: ConfigResult): { text: string; met?: boolean } {
  const num = c.results.find((r) => r.id === ratio.numerator);
  const den = c.results.find((r) => r.id === ratio.denominator);
  if (!num?.medianMs || !den?.medianMs) return { text: '—' };
  const value = den.medianMs / num.medianMs;
  if (ratio.goal === undefined || !ratio.goalConfigs?.includes(c.config.name)) return { text: fmtRatio(value) };
  const met = value >= ratio.goal;
  return { text: `${fmtRatio(value)} ${met ? '✓' : '✗'}`, met };
}

/** The configs the goal ratios are about: every LSTM and GRU config of a run. */
export const goalConfigs = (results: ConfigResult[]): ConfigResult[] => results.filter((c) => c.config.mode !== 'rnn');

/** The goal ratios as rows of cells: ratio, goal, then one per LSTM/GRU config. */
export function goalRows(results: ConfigResult[]): string[][] {
  const configs = goalConfigs(results);
  if (configs.length === 0) return [];
  const header = ['ratio (speed, same session)', 'goal', ...configs.map(shortName)];
  const rows = GOAL_RATIOS.map((ratio) => [
    ratio.label,
    ratio.goal === undefined ? '' : `≥ ${ratio.goal}× (${ratio.goalConfigs!.map((n) => n.replace(/^(lstm|gru)-/, (_, mode: 'lstm' | 'gru') => `${MODULE_NAMES[mode]} `)).join(', ')})`,
    ...configs.map((c) => ratioCell(ratio, c).text),
  ]).filter((row) => row.slice(2).some((cell) => cell !== '—')); // a ratio nothing could time is left out (e.g. --engines)
  return rows.length ? [header, ...rows] : [];
}

/** One row per timed engine. */
export function rowCells(r: RunnerResult): string[] {
  return [
    r.label,
    r.detail ?? '',
    fmtMs(r.medianMs),
    fmtMs(r.minMs),
    fmtMs(r.maxMs),
    fmtGflops(r.gflops),
    fmtRatio(r.speedupVsCpu),
    r.maxAbsDiff === undefined ? '' : r.maxAbsDiff === 0 ? '0' : r.maxAbsDiff.toExponential(1),
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

/** A plain-text table for the terminal; engines that were not timed are listed under it with the reason. */
export function formatTable(results: ConfigResult[], title = ''): string {
  const lines: string[] = [];
  for (const c of results) {
    lines.push('', `${title}${configTitle(c.config, c.description)} — ${(c.flops / 1e9).toFixed(3)} GFLOP per forward, checked against ${c.reference}`);
    if (c.cpu) lines.push(cpuText(c.cpu));
    const rows = [COLUMNS, ...c.results.filter((r) => r.status === 'ok').map(rowCells)];
    const widths = COLUMNS.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
    for (const row of rows) lines.push(row.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd());
    for (const r of c.results.filter((r) => r.status !== 'ok')) lines.push(`  ${r.label} — ${statusText(r)}`);
  }
  const goals = goalRows(results);
  if (goals.length) {
    lines.push('', `${title}Goal ratios (issue 11; ✓ met, ✗ not met, — not timed):`);
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
