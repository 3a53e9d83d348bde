#!/usr/bin/env node
/**
 * `pnpm conformance`: every engine available in Node over every golden vector (and every unidirectional
 * module case once more as a stream check: the input pushed through model.stream() in chunks), as a table.
 *
 *     node conformance/dist/cli.js [--json] [--cases=ID,ID,...] [ENGINE_DIR ...]
 *
 * Engines are package directories (default: packages/cpu, packages/wasm, packages/webgpu next to
 * conformance/). Each is imported by file URL from its package.json exports: conformance depends on no
 * engine. An engine whose dist is missing or whose createBackend() rejects is "not available", with why.
 * Exit status: 0 when every available engine passes every case, 1 on any failure, 2 on bad usage or
 * when no engine is available at all.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Backend } from '@recurrent/core';
import { FAMILY_LABELS, MODULE_FAMILIES, type Manifest, type ModuleFamily } from './format.js';
import { countFeatures, loadCase, loadManifest } from './node.js';
import { runCase, runStreamCase, streamsCase, type CaseResult } from './run.js';
import { TOLERANCE } from './tolerance.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEFAULT_ENGINES = ['packages/cpu', 'packages/wasm', 'packages/webgpu'];

interface EngineReport {
  dir: string;
  package: string;
  available: boolean;
  reason: string | null;
  backend: string | null;
  /** Checks passed and failed: every case's forward check plus the stream checks. */
  passed: number;
  failed: number;
  /** Forward checks passed and failed per module (RNN, LSTM, LSTM with proj_size, GRU, and the cells). */
  modules: Record<ModuleFamily, { passed: number; failed: number }>;
  /** Stream checks passed and failed per module (unidirectional RNN, LSTM, LSTM-proj, GRU cases). */
  streams: Record<ModuleFamily, { passed: number; failed: number }>;
  worstErrorVsRef64: number;
  worstErrorVsTorch32: number;
  ms: number;
  results: CaseResult[];
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}${'code' in error ? `(${String(error.code)})` : ''}: ${error.message}` : String(error);
}

/** The file an exports entry points Node at: conditions node, import, default, in that order. */
function entryOf(exportsField: unknown): string | null {
  let value = exportsField;
  if (value !== null && typeof value === 'object' && '.' in value) value = (value as Record<string, unknown>)['.'];
  while (value !== null && typeof value === 'object') {
    const conditions = value as Record<string, unknown>;
    value = conditions.node ?? conditions.import ?? conditions.default ?? null;
  }
  return typeof value === 'string' ? value : null;
}

/** Loads an engine package's built entry and creates its backend, or says why it cannot. */
async function openEngine(dir: string): Promise<{ name: string; backend: Backend } | { name: string; reason: string }> {
  const packageFile = join(dir, 'package.json');
  if (!existsSync(packageFile)) return { name: dir, reason: `no package.json in ${dir}` };
  const pkg = JSON.parse(readFileSync(packageFile, 'utf8')) as { name?: string; exports?: unknown; main?: string };
  const name = pkg.name ?? dir;
  const entry = entryOf(pkg.exports) ?? pkg.main ?? null;
  if (entry === null) return { name, reason: 'package.json names no entry (exports["."] or main)' };
  const file = join(dir, entry);
  if (!existsSync(file)) return { name, reason: `not built: ${file} is missing (run pnpm build)` };
  let module: { createBackend?: unknown };
  try {
    module = (await import(pathToFileURL(file).href)) as { createBackend?: unknown };
  } catch (error) {
    return { name, reason: `importing ${file} failed: ${describeError(error)}` };
  }
  if (typeof module.createBackend !== 'function') return { name, reason: `${file} exports no createBackend()` };
  try {
    return { name, backend: (await (module.createBackend as () => Promise<Backend>)()) };
  } catch (error) {
    return { name, reason: `createBackend() failed: ${describeError(error)}` };
  }
}

class Progress {
  private readonly tty = process.stderr.isTTY === true;
  private lastTenth = -1;
  constructor(private readonly total: number) {}
  update(engine: string, done: number, current: string): void {
    const width = 30;
    const filled = Math.round((done / this.total) * width);
    const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(done).padStart(String(this.total).length)}/${this.total} ${engine}`;
    if (this.tty) {
      process.stderr.write(`\r${`${bar} ${current}`.slice(0, (process.stderr.columns || 100) - 1).padEnd((process.stderr.columns || 100) - 1)}`);
    } else {
      const tenth = Math.floor((done / this.total) * 10);
      if (tenth !== this.lastTenth) process.stderr.write(`${bar}\n`);
      this.lastTenth = tenth;
    }
  }
  end(): void {
    if (this.tty) process.stderr.write(`\r${' '.repeat((process.stderr.columns || 100) - 1)}\r`);
  }
}

async function runEngine(dir: string, manifest: Manifest, quiet: boolean): Promise<EngineReport> {
  const opened = await openEngine(dir);
  const report: EngineReport = {
    dir,
    package: opened.name,
    available: 'backend' in opened,
    reason: 'reason' in opened ? opened.reason : null,
    backend: null,
    passed: 0,
    failed: 0,
    modules: Object.fromEntries(MODULE_FAMILIES.map((m) => [m, { passed: 0, failed: 0 }])) as EngineReport['modules'],
    streams: Object.fromEntries(MODULE_FAMILIES.map((m) => [m, { passed: 0, failed: 0 }])) as EngineReport['streams'],
    worstErrorVsRef64: 0,
    worstErrorVsTorch32: 0,
    ms: 0,
    results: [],
  };
  if (!('backend' in opened)) return report;
  const checks = [
    ...manifest.cases.map((entry) => ({ entry, run: runCase, label: entry.id })),
    ...manifest.cases.filter(streamsCase).map((entry) => ({ entry, run: runStreamCase, label: `stream ${entry.id}` })),
  ];
  const progress = quiet ? null : new Progress(checks.length);
  for (const [i, { entry, run, label }] of checks.entries()) {
    progress?.update(opened.name, i, label);
    const result = await run(opened.backend, loadCase(entry));
    report.results.push(result);
    report.backend ??= result.backend;
    report.ms += result.ms;
    if (result.passed) report.passed++;
    else report.failed++;
    report[result.check === 'stream' ? 'streams' : 'modules'][result.module][result.passed ? 'passed' : 'failed']++;
    if (!(result.errorVsRef64 <= report.worstErrorVsRef64)) report.worstErrorVsRef64 = result.errorVsRef64;
    if (!(result.errorVsTorch32 <= report.worstErrorVsTorch32)) report.worstErrorVsTorch32 = result.errorVsTorch32;
  }
  progress?.update(opened.name, checks.length, 'done');
  progress?.end();
  opened.backend.dispose();
  return report;
}

const exp = (x: number) => (Number.isFinite(x) ? x.toExponential(2) : String(x));

function printTable(manifest: Manifest, reports: EngineReport[]): void {
  const out: string[] = [];
  const features = countFeatures(manifest.cases);
  const streamed = manifest.cases.filter(streamsCase);
  out.push(`recurrent conformance: ${manifest.cases.length} cases and ${streamed.length} stream checks (PyTorch ${manifest.torch}, spec ${manifest.specHash.slice(0, 12)})`);
  const perModule = MODULE_FAMILIES.map((m) => [m, manifest.cases.filter((c) => c.module === m).length] as const);
  out.push(`cases per module: ${perModule.map(([m, n]) => `${FAMILY_LABELS[m]} ${n}`).join(', ')}`);
  out.push(`stream checks per module (every unidirectional case, pushed in chunks): ${MODULE_FAMILIES.map((m) => [m, streamed.filter((c) => c.module === m).length] as const)
    .filter(([, n]) => n > 0).map(([m, n]) => `${FAMILY_LABELS[m]} ${n}`).join(', ')}`);
  out.push(`cases per feature: ${[...features].map(([f, n]) => `${f} ${n}`).join(', ')}`);
  out.push(`tolerance: max|engine − float64| ≤ max(${TOLERANCE.K} × max|torch32 − float64|, ${TOLERANCE.FLOOR_ULPS} ulp × max(1, max|float64|)) per case`);
  out.push('');
  // One column per module, passed/total, so a reader sees at a glance which modules an engine runs; then the stream checks.
  const modules = perModule.filter(([, n]) => n > 0).map(([m]) => m);
  const header = ['engine', 'backend', ...modules.map((m) => FAMILY_LABELS[m]), 'streams', 'passed', 'failed', 'worst vs f64', 'worst vs torch32', 'time'];
  const count = (c: { passed: number; failed: number }) => `${c.passed}/${c.passed + c.failed}`;
  const rows = reports.filter((r) => r.available).map((r) => [
    r.package,
    r.backend ?? '',
    ...modules.map((m) => count(r.modules[m])),
    count(Object.values(r.streams).reduce((sum, c) => ({ passed: sum.passed + c.passed, failed: sum.failed + c.failed }), { passed: 0, failed: 0 })),
    String(r.passed),
    String(r.failed),
    exp(r.worstErrorVsRef64),
    exp(r.worstErrorVsTorch32),
    `${(r.ms / 1000).toFixed(2)} s`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  out.push(line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line));
  for (const r of reports.filter((r) => !r.available)) out.push(`${r.package}: not available: ${r.reason}`);
  const failures = reports.flatMap((r) => r.results.filter((c) => !c.passed).map((c) => `${r.package} ${c.check === 'stream' ? 'stream ' : ''}${c.id}: ${c.reason}`));
  if (failures.length > 0) out.push('', 'failures:', ...failures.map((f) => `  ${f}`));
  console.log(out.join('\n'));
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log('usage: pnpm conformance [--json] [--cases=ID,ID,...] [ENGINE_PACKAGE_DIR ...]   (default: packages/cpu packages/wasm packages/webgpu)');
    return 0;
  }
  const json = argv.includes('--json');
  // --cases: only these case ids (tests/runtimes runs slow software-GPU engines on a subset it names).
  const cases = argv.find((a) => a.startsWith('--cases='))?.slice('--cases='.length).split(',');
  const unknown = argv.filter((a) => a.startsWith('-') && a !== '--json' && !a.startsWith('--cases='));
  if (unknown.length > 0) {
    console.error(`unknown option(s): ${unknown.join(' ')} (try --help)`);
    return 2;
  }
  const dirs = argv.filter((a) => !a.startsWith('-')).map((d) => resolve(d));
  const all = loadManifest();
  const manifest = cases ? { ...all, cases: all.cases.filter((c) => cases.includes(c.id)) } : all;
  const reports: EngineReport[] = [];
  for (const dir of dirs.length > 0 ? dirs : DEFAULT_ENGINES.map((d) => join(REPO_ROOT, d))) reports.push(await runEngine(dir, manifest, json));
  if (json) {
    console.log(JSON.stringify({
      torch: manifest.torch,
      specHash: manifest.specHash,
      cases: manifest.cases.length,
      modules: Object.fromEntries(MODULE_FAMILIES.map((m) => [m, manifest.cases.filter((c) => c.module === m).length])),
      streams: Object.fromEntries(MODULE_FAMILIES.map((m) => [m, manifest.cases.filter((c) => c.module === m && streamsCase(c)).length])),
      features: Object.fromEntries(countFeatures(manifest.cases)),
      tolerance: TOLERANCE,
      engines: reports,
    }, (_, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 1));
  } else {
    printTable(manifest, reports);
  }
  if (reports.every((r) => !r.available)) {
    if (!json) console.error('no engine was available: nothing ran');
    return 2;
  }
  return reports.some((r) => r.failed > 0) ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(describeError(error));
    process.exitCode = 2;
  },
);
