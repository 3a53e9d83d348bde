import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { BenchRun } from '../src/environment.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const run = promisify(execFile);

// The browser half of the bench at a tiny size: the built page in headless Chromium (Debian's),
// served cross-origin isolated. Checks that every engine ran and matched @recurrent/cpu; no timings.
describe('pnpm bench --browser --config tiny,gru-tiny,stream-lstm-tiny,train-lstm-tiny', () => {
  it('runs our engines and the browser peers in a cross-origin isolated page, each matching our output', async () => {
    const { stdout } = await run(process.execPath, [cli, '--browser', '--config', 'tiny,gru-tiny,stream-lstm-tiny,train-lstm-tiny', '--reps', '2', '--warmup', '1', '--json'], { maxBuffer: 1 << 24 });
    const [browserRun] = JSON.parse(stdout) as BenchRun[];
    expect(browserRun!.environment.runtime).toMatch(/^Chromium [\d.]+ \(headless, cross-origin isolated/);
    expect(browserRun!.results.map((c) => c.config.name)).toEqual(['tiny', 'gru-tiny', 'stream-lstm-tiny', 'train-lstm-tiny']);
    for (const c of browserRun!.results) {
      const byId = Object.fromEntries(c.results.map((r) => [r.id, r]));
      expect(Object.keys(byId).sort()).toEqual(['cpu', 'naive', 'ort-web-1t', 'ort-web-mt', 'tfjs-cpu', 'tfjs-wasm', 'wasm', 'wasm-relaxed-1t', 'wasm-simd-1t', 'webgpu']);
      // A stream: no tfjs, no textbook loop; training: no ORT, no textbook loop (each says why, as in Node).
      const task = c.config.task ?? 'forward';
      const tfjs = c.config.mode === 'gru' || task === 'stream' ? [] : ['tfjs-wasm', 'tfjs-cpu'];
      const ortWeb = task === 'train' ? [] : ['ort-web-1t', 'ort-web-mt'];
      const naive = task === 'forward' ? ['naive'] : [];
      for (const id of ['cpu', 'wasm-simd-1t', 'wasm-relaxed-1t', 'wasm', ...ortWeb, ...tfjs, ...naive]) {
        const r = byId[id]!;
        expect({ config: c.config.name, id, status: r.status, reason: r.reason }).toEqual({ config: c.config.name, id, status: 'ok', reason: undefined });
        expect(r.maxAbsDiff).toBeLessThanOrEqual(1e-4);
        if (task !== 'forward' && r.group === 'ours') expect(r.vsBaseline).toBeGreaterThan(0);
      }
      // PyTorch's output from the Node side where it runs there; else @recurrent/cpu's, saying why.
      expect(c.reference).toMatch(/^(PyTorch |@recurrent\/cpu \()/);
      // WebGPU runs on Chromium's software adapter; where there is none it must say so, never mismatch.
      expect(['ok', 'unavailable']).toContain(byId.webgpu!.status);
      if (byId.webgpu!.status === 'ok') expect(byId.webgpu!.maxAbsDiff).toBeLessThanOrEqual(1e-4);
    }
  }, 180_000);
});
