#!/usr/bin/env node
import { readFile, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { CONFIGS, DEFAULT_CONFIGS, parseConfig, type BenchConfig } from './configs.js';
import { formatTable, progressBar } from './format.js';
import { DEFAULT_OPTIONS, runBench, type BenchOptions, type ConfigResult } from './harness.js';
import { environmentInfo, type BenchRun } from './environment.js';
import { nodeMemory, nodeReference, nodeRunners } from './node-runners.js';

const HELP = `recurrent bench: every engine beside ONNX Runtime, TensorFlow.js, PyTorch and a naive loop.

  pnpm bench [options]

  -c, --config C    a name (${Object.keys(CONFIGS).join(', ')})
                    or a custom size like lstm,B8,T50,I32,H48,layers2,bi,bf,nobias,proj16
                    (rnn|lstm|gru, default rnn; relu: RNN only; proj<n>: LSTM only)
                    (repeatable; names may be comma-separated: S,M,L). Default: ${DEFAULT_CONFIGS.join(',')}
  -e, --engines E   only these (comma-separated ids: ${nodeRunners().map((r) => r.id).join(',')})
  --reps N          timed runs per engine (default ${DEFAULT_OPTIONS.reps}; fewer when --budget says so, at least ${DEFAULT_OPTIONS.minReps})
  --warmup N        runs before timing, the first being the correctness check (default ${DEFAULT_OPTIONS.warmup})
  --budget S        seconds of timed runs per engine and config (default ${DEFAULT_OPTIONS.budgetMs / 1000})
  --max-run S       an engine whose check run takes longer is not timed (default ${DEFAULT_OPTIONS.maxRunMs / 1000})
  --tolerance X     max abs difference from the reference (PyTorch's output, else @recurrent/cpu's)
                    that passes the check (default ${DEFAULT_OPTIONS.tolerance})
  --browser         run in headless Chromium instead of Node
  --json            print the results as JSON on stdout instead of the table
  --out FILE        also write the JSON to FILE
  --report          run in Node and in Chromium, then write docs/benchmarks.md and docs/benchmarks.svg
  --from FILE       with --report: rewrite the report from a JSON file of --out instead of running
`;

function fail(text: string): never {
  process.stderr.write(`bench: ${text}\n`);
  process.exit(2);
}

function numberOption(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!(n >= 0) || !Number.isFinite(n)) fail(`--${name} must be a non-negative number, got ${JSON.stringify(value)}`);
  return n;
}

export interface CliOptions {
  configs: BenchConfig[];
  engines?: string[];
  options: BenchOptions;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string', short: 'c', multiple: true },
      engines: { type: 'string', short: 'e' },
      reps: { type: 'string' },
      warmup: { type: 'string' },
      budget: { type: 'string' },
      'max-run': { type: 'string' },
      tolerance: { type: 'string' },
      browser: { type: 'boolean' },
      json: { type: 'boolean' },
      out: { type: 'string' },
      report: { type: 'boolean' },
      from: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  let configs: BenchConfig[];
  try {
    configs = (values.config ?? [DEFAULT_CONFIGS.join(',')]).flatMap((text) => (text.split(',').every((part) => CONFIGS[part]) ? text.split(',').map((n) => CONFIGS[n]!) : [parseConfig(text)]));
  } catch (error) {
    fail((error as Error).message);
  }
  const options: BenchOptions = {
    ...DEFAULT_OPTIONS,
    reps: Math.max(1, Math.round(numberOption(values.reps, 'reps', DEFAULT_OPTIONS.reps))),
    warmup: Math.max(1, Math.round(numberOption(values.warmup, 'warmup', DEFAULT_OPTIONS.warmup))),
    budgetMs: numberOption(values.budget, 'budget', DEFAULT_OPTIONS.budgetMs / 1000) * 1000,
    maxRunMs: numberOption(values['max-run'], 'max-run', DEFAULT_OPTIONS.maxRunMs / 1000) * 1000,
    tolerance: numberOption(values.tolerance, 'tolerance', DEFAULT_OPTIONS.tolerance),
  };
  options.minReps = Math.min(options.minReps, options.reps);
  const engines = values.engines?.split(',').filter(Boolean);
  const known = nodeRunners().map((r) => r.id);
  for (const id of engines ?? []) if (!known.includes(id)) fail(`unknown engine ${JSON.stringify(id)}; known: ${known.join(', ')}`);
  const cli: CliOptions = { configs, engines, options };

  const runs: BenchRun[] = values.from ? (JSON.parse(await readFile(values.from, 'utf8')) as BenchRun[]) : [];
  if (!values.from && (values.report || !values.browser)) runs.push(await runNode(cli));
  if (!values.from && (values.report || values.browser)) {
    const { runInChromium } = await import('./browser-run.js');
    runs.push(await runInChromium(cli));
  }
  if (values.out) await writeFile(values.out, JSON.stringify(runs, null, 1) + '\n');
  if (values.json) process.stdout.write(JSON.stringify(runs, null, 1) + '\n');
  else for (const run of runs) process.stdout.write(`\n${run.environment.runtime} — ${run.environment.cpu}, ${run.environment.cores} cores${loadText(run)}${formatTable(run.results)}\n`);
  if (values.report) {
    const { writeReport } = await import('./report.js');
    const files = await writeReport(runs);
    process.stderr.write(`bench: wrote ${files.join(', ')}\n`);
  }
}

const loadText = (run: BenchRun): string => (run.loadAverage ? `, load average ${run.loadAverage.map((l) => l.toFixed(1)).join(' → ')}` : '');

async function runNode(cli: CliOptions): Promise<BenchRun> {
  const runners = nodeRunners().filter((r) => !cli.engines || cli.engines.includes(r.id));
  const bar = progressBar(process.stderr);
  const started = new Date();
  const loadAtStart = loadavg()[0]!;
  let results: ConfigResult[];
  try {
    results = await runBench(cli.configs, runners, cli.options, nodeMemory, (p) => bar.update(p), nodeReference);
  } finally {
    bar.done();
  }
  return {
    environment: await environmentInfo('node'),
    started: started.toISOString(),
    options: cli.options,
    results,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    loadAverage: [loadAtStart, loadavg()[0]!],
  };
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`bench: ${(error as Error).stack ?? error}\n`);
    process.exit(1);
  },
);
