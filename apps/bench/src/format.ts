import type { ConfigResult, Progress, RunnerResult } from './harness.js';

export const fmtMs = (ms: number | undefined): string => (ms === undefined ? '' : ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));
export const fmtGflops = (g: number | undefined): string => (g === undefined ? '' : g >= 10 ? g.toFixed(1) : g.toFixed(2));
export const fmtBytes = (b: number | undefined): string =>
  b === undefined ? '' : b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(1)} GiB` : b >= 2 ** 20 ? `${(b / 2 ** 20).toFixed(1)} MiB` : `${Math.round(b / 1024)} KiB`;
export const fmtRatio = (r: number | undefined): string => (r === undefined ? '' : r >= 10 ? `${r.toFixed(0)}×` : `${r.toFixed(2)}×`);

export const COLUMNS = ['engine', 'runs as', 'median ms', 'min ms', 'max ms', 'GFLOP/s', 'vs cpu', 'max |Δ|', 'RSS Δ', 'heap Δ', 'engine mem', 'runs'];

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

/** A plain-text table for the terminal; engines that were not timed are listed under it with the reason. */
export function formatTable(results: ConfigResult[], title = ''): string {
  const lines: string[] = [];
  for (const c of results) {
    lines.push('', `${title}${c.config.name === c.description ? c.description : `${c.config.name}: ${c.description}`} — ${(c.flops / 1e9).toFixed(3)} GFLOP per forward`);
    const rows = [COLUMNS, ...c.results.filter((r) => r.status === 'ok').map(rowCells)];
    const widths = COLUMNS.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
    for (const row of rows) lines.push(row.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd());
    for (const r of c.results.filter((r) => r.status !== 'ok')) lines.push(`  ${r.label} — ${statusText(r)}`);
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
