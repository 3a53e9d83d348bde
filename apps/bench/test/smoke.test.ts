import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { BenchRun } from '../src/environment.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const run = promisify(execFile);

// The bench itself at a tiny size, through the built CLI as `pnpm bench` runs it, so it cannot rot.
// Nothing here looks at times: only that every engine and peer ran and agreed with @recurrent/cpu.
describe('pnpm bench --config tiny,lstm-tiny,gru-tiny,lstm-proj-tiny --json', () => {
  it('runs every engine and peer on the same weights, each matching the reference before it is timed, or saying why it cannot run', async () => {
    const configs = 'tiny,lstm-tiny,gru-tiny,lstm-proj-tiny';
    const { stdout } = await run(process.execPath, ['--expose-gc', '--experimental-wasm-relaxed-simd', cli, '--config', configs, '--reps', '2', '--warmup', '1', '--json'], { maxBuffer: 1 << 24 });
    const [nodeRun] = JSON.parse(stdout) as BenchRun[];
    expect(nodeRun!.results.map((c) => c.config.name)).toEqual(configs.split(','));
    // What must run where, and what must say why not (with the reason that is the point of the row).
    const mustRun: Record<string, string[]> = {
      tiny: ['cpu', 'wasm-simd-1t', 'wasm-relaxed-1t', 'ort-node-1t', 'ort-node', 'ort-web-1t', 'ort-web-mt', 'tfjs-wasm', 'tfjs-cpu', 'naive'],
      'lstm-tiny': ['cpu', 'wasm-simd-1t', 'wasm-relaxed-1t', 'ort-node-1t', 'ort-node', 'ort-web-1t', 'ort-web-mt', 'tfjs-wasm', 'tfjs-cpu', 'naive'],
      'gru-tiny': ['cpu', 'wasm-simd-1t', 'wasm-relaxed-1t', 'ort-node-1t', 'ort-node', 'ort-web-1t', 'ort-web-mt', 'naive'],
      'lstm-proj-tiny': ['cpu', 'wasm-simd-1t', 'wasm-relaxed-1t', 'naive'],
    };
    const mustRefuse: Record<string, [string[], RegExp]> = {
      'gru-tiny': [['tfjs-wasm', 'tfjs-cpu'], /cannot express PyTorch's GRU/],
      'lstm-proj-tiny': [['ort-node-1t', 'ort-node', 'ort-web-1t', 'ort-web-mt'], /torch\.onnx\.export .* failed: .*LSTMs with projections/],
    };
    for (const c of nodeRun!.results) {
      const byId = Object.fromEntries(c.results.map((r) => [r.id, r]));
      for (const id of mustRun[c.config.name]!) {
        const r = byId[id]!;
        expect({ config: c.config.name, id, status: r.status, reason: r.reason }).toEqual({ config: c.config.name, id, status: 'ok', reason: undefined });
        expect(r.maxAbsDiff).toBeLessThanOrEqual(1e-4);
        expect(r.timesMs).toHaveLength(2);
        expect(r.gflops).toBeGreaterThan(0);
      }
      const [refused, reason] = mustRefuse[c.config.name] ?? [[], /./];
      for (const id of refused) expect({ id, status: byId[id]!.status, reason: byId[id]!.reason }).toMatchObject({ id, status: 'unavailable', reason: expect.stringMatching(reason) });
      if (c.config.name === 'lstm-proj-tiny') expect(byId['tfjs-wasm']!.reason).toMatch(/no projection/);
      // Threads, WebGPU and PyTorch depend on the machine: they run and match, or say why not.
      for (const id of ['wasm', 'webgpu', 'torch-1t']) {
        const r = byId[id]!;
        expect(['ok', 'unavailable']).toContain(r.status);
        if (r.status === 'ok') expect(r.maxAbsDiff).toBeLessThanOrEqual(1e-4);
        else expect(r.reason).toMatch(/\S/);
      }
      // PyTorch's own output where it runs here; else @recurrent/cpu's, saying why.
      expect(c.reference).toMatch(byId['torch-1t']!.status === 'ok' ? /^PyTorch / : /^@recurrent\/cpu \(PyTorch did not run/);
    }
    expect(nodeRun!.environment.versions['onnxruntime-web']).toMatch(/^\d+\.\d+\.\d+/);
  }, 180_000);

  it('streams (one step per push) and trains (forward + backward) on every engine beside the peers that can, each checked against PyTorch, timed with the engine\'s own forward', async () => {
    const configs = 'stream-lstm-tiny,stream-gru-tiny,train-lstm-tiny,train-gru-tiny';
    const out = join(mkdtempSync(join(tmpdir(), 'bench-smoke-')), 'run.json');
    const { stdout } = await run(process.execPath, ['--expose-gc', '--experimental-wasm-relaxed-simd', cli, '--config', configs, '--reps', '2', '--warmup', '1', '--out', out], { maxBuffer: 1 << 24 });
    const [nodeRun] = JSON.parse(readFileSync(out, 'utf8')) as BenchRun[];
    const ours = ['cpu', 'wasm-simd-1t', 'wasm-relaxed-1t'];
    const ort = ['ort-node-1t', 'ort-node', 'ort-web-1t', 'ort-web-mt'];
    const mustRun: Record<string, string[]> = {
      'stream-lstm-tiny': [...ours, ...ort],
      'stream-gru-tiny': [...ours, ...ort],
      'train-lstm-tiny': [...ours, 'tfjs-wasm', 'tfjs-cpu'],
      'train-gru-tiny': ours,
    };
    const mustRefuse: Record<string, [string[], RegExp][]> = {
      'stream-lstm-tiny': [[['tfjs-wasm', 'tfjs-cpu'], /stateful layers/], [['naive'], /forward speed only/]],
      'stream-gru-tiny': [[['tfjs-wasm', 'tfjs-cpu'], /stateful layers/]],
      'train-lstm-tiny': [[ort, /no training in ONNX Runtime/], [['naive'], /forward speed only/]],
      'train-gru-tiny': [[ort, /no training/], [['tfjs-wasm', 'tfjs-cpu'], /cannot express PyTorch's GRU/]],
    };
    expect(nodeRun!.results.map((c) => c.config.name)).toEqual(configs.split(','));
    for (const c of nodeRun!.results) {
      const byId = Object.fromEntries(c.results.map((r) => [r.id, r]));
      for (const id of mustRun[c.config.name]!) {
        const r = byId[id]!;
        expect({ config: c.config.name, id, status: r.status, reason: r.reason }).toEqual({ config: c.config.name, id, status: 'ok', reason: undefined });
        expect(r.timesMs).toHaveLength(2);
        // Ours are timed beside their own forward, in the same rounds.
        if (ours.includes(id)) expect({ id, baseline: r.baseline!.timesMs.length, ratio: r.vsBaseline! > 0 }).toEqual({ id, baseline: 2, ratio: true });
      }
      for (const [ids, reason] of mustRefuse[c.config.name]!) {
        for (const id of ids) expect({ id, status: byId[id]!.status, reason: byId[id]!.reason }).toMatchObject({ id, status: 'unavailable', reason: expect.stringMatching(reason) });
      }
      for (const id of ['wasm', 'webgpu', 'torch-1t']) expect(['ok', 'unavailable']).toContain(byId[id]!.status);
      if (byId['torch-1t']!.status === 'ok') expect(c.reference).toBe(c.config.task === 'train' ? 'PyTorch 1.13.0a0 autograd' : 'PyTorch 1.13.0a0');
    }
    expect(stdout).toMatch(/^engine\s+runs as\s+µs\/step\s+min µs\s+max µs\s+forward µs\/step\s+stream ÷ forward/m);
    expect(stdout).toMatch(/^engine\s+runs as\s+fwd\+bwd ms\s+min ms\s+max ms\s+GFLOP\/s\s+forward ms\s+fwd\+bwd ÷ forward/m);
    expect(stdout).toMatch(/^Streaming goal ratios \(issue 12/m);
    expect(stdout).toMatch(/^WASM relaxed SIMD, 1 thread ÷ onnxruntime-web wasm, 1 thread\s+≥ 5× \(LSTM, GRU\)\s+[\d.]+×\s+[\d.]+×$/m);
    expect(stdout).toMatch(/^Training goal ratios \(issue 13/m);
    expect(stdout).toMatch(/^WASM relaxed SIMD, 1 thread ÷ TF\.js \(its faster backend\)\s+≥ 5× \(LSTM M, GRU M\)\s+[\d.]+×\s+—$/m);
  }, 180_000);

  it('prints a table with a row per engine', async () => {
    const { stdout } = await run(process.execPath, [cli, '-c', 'B1,T3,I5,H4,layers2,bi,bf', '-e', 'cpu,naive', '--reps', '1', '--warmup', '1'], { maxBuffer: 1 << 24 });
    expect(stdout).toContain('RNN B1 T3 I5 H4, 2 layers, bidirectional, batch_first');
    expect(stdout).toMatch(/^@recurrent\/cpu\s+cpu\s+[\d.]+/m);
    expect(stdout).toMatch(/^naive JS loop\s+[\d.]+/m);
  }, 60_000);

  it('rejects an unknown engine with a message and exit code 2', async () => {
    const error = await run(process.execPath, [cli, '-e', 'nope']).catch((e: { code: number; stderr: string }) => e);
    expect(error).toMatchObject({ code: 2 });
    expect((error as { stderr: string }).stderr).toContain('unknown engine "nope"');
  });
});
