import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchOptions, ConfigResult } from './harness.js';

export interface Environment {
  /** `Node v20.20.2` or `Chromium 131.0…`. */
  runtime: string;
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  /** Versions of every package that was measured. */
  versions: Record<string, string>;
  /** The commit measured (`abc1234`, `+ changes` when the tree was dirty). */
  commit?: string;
}

function gitCommit(): string | undefined {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: BENCH_DIR, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', '../../packages', '.'], { cwd: BENCH_DIR, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${sha} + uncommitted changes` : sha;
  } catch {
    return undefined;
  }
}

export interface BenchRun {
  environment: Environment;
  started: string;
  options: BenchOptions;
  results: ConfigResult[];
  /** Peak RSS of the whole process (Node only). */
  peakRssBytes?: number;
  /** The machine's 1-minute load average when the run started and ended: how busy it was besides us. */
  loadAverage?: [start: number, end: number];
}

const require = createRequire(import.meta.url);
const PACKAGES = ['@recurrent/core', '@recurrent/cpu', '@recurrent/wasm', '@recurrent/webgpu', 'onnxruntime-node', 'onnxruntime-web', '@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', 'playwright-core', 'vite'];

const BENCH_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The version in a package's package.json: our own node_modules link first, else up from its resolved entry. */
async function packageVersion(name: string): Promise<string | undefined> {
  try {
    return (JSON.parse(await readFile(join(BENCH_DIR, 'node_modules', name, 'package.json'), 'utf8')) as { version?: string }).version;
  } catch {
    // not a direct dependency: find it from its entry point
  }
  let dir: string;
  try {
    dir = dirname(require.resolve(name));
  } catch {
    try {
      dir = dirname(require.resolve(`${name}/package.json`));
    } catch {
      return undefined;
    }
  }
  for (let i = 0; i < 5; i++, dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === name) return pkg.version;
    } catch {
      // not this folder: go up
    }
  }
  return undefined;
}

export async function environmentInfo(runtime: 'node' | string): Promise<Environment> {
  const versions: Record<string, string> = {};
  for (const name of PACKAGES) {
    const v = await packageVersion(name);
    if (v) versions[name] = v;
  }
  return {
    runtime: runtime === 'node' ? `Node ${process.version}` : runtime,
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown CPU',
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    versions,
    commit: gitCommit(),
  };
}
