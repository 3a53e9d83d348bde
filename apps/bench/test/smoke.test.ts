import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { BenchRun } from '../src/environment.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const run = promisify(execFile);

// The bench itself at a tiny size, through the built CLI as `pnpm bench` runs it, so it cannot rot.
// Nothing here looks at times: only that every engine and peer ran and agreed with @recurrent/cpu.
describe('pnpm bench --config tiny --json', () => {
  it('runs every peer on the same weights and each one matches our output before it is timed', async () => {
    const { stdout } = await run(process.execPath, ['--expose-gc', cli, '--config', 'tiny', '--reps', '2', '--warmup', '1', '--json'], { maxBuffer: 1 << 24 });
    const [nodeRun] = JSON.parse(stdout) as BenchRun[];
    const [tiny] = nodeRun!.results;
    expect(tiny!.config.name).toBe('tiny');
    const byId = Object.fromEntries(tiny!.results.map((r) => [r.id, r]));
    for (const id of ['cpu', 'ort-node-1t', 'ort-node', 'ort-web-1t', 'ort-web-mt', 'tfjs-wasm', 'tfjs-cpu', 'naive']) {
      const r = byId[id]!;
      expect({ id, status: r.status, reason: r.reason }).toEqual({ id, status: 'ok', reason: undefined });
      expect(r.maxAbsDiff).toBeLessThanOrEqual(1e-4);
      expect(r.timesMs).toHaveLength(2);
      expect(r.gflops).toBeGreaterThan(0);
    }
    // Our other engines either ran and matched, or say why they could not run here.
    for (const id of ['wasm', 'webgpu']) {
      const r = byId[id]!;
      expect(['ok', 'unavailable']).toContain(r.status);
      if (r.status === 'ok') expect(r.maxAbsDiff).toBeLessThanOrEqual(1e-4);
      else expect(r.reason).toMatch(/\S/);
    }
    expect(nodeRun!.environment.versions['onnxruntime-web']).toMatch(/^\d+\.\d+\.\d+/);
  }, 120_000);

  it('prints a table with a row per engine', async () => {
    const { stdout } = await run(process.execPath, [cli, '-c', 'B1,T3,I5,H4,layers2,bi,bf', '-e', 'cpu,naive', '--reps', '1', '--warmup', '1'], { maxBuffer: 1 << 24 });
    expect(stdout).toContain('B1 T3 I5 H4, 2 layers, bidirectional, batch_first');
    expect(stdout).toMatch(/^@recurrent\/cpu\s+cpu\s+[\d.]+/m);
    expect(stdout).toMatch(/^naive JS loop\s+[\d.]+/m);
  }, 60_000);

  it('rejects an unknown engine with a message and exit code 2', async () => {
    const error = await run(process.execPath, [cli, '-e', 'nope']).catch((e: { code: number; stderr: string }) => e);
    expect(error).toMatchObject({ code: 2 });
    expect((error as { stderr: string }).stderr).toContain('unknown engine "nope"');
  });
});
