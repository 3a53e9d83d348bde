import { readdirSync } from 'node:fs';
import type { Backend, EngineModel } from '@recurrent/core';
import { describe, expect, it } from 'vitest';
import { exclusionFor } from '../src/gradients.js';
import { TRAJECTORY_REGENERATE_COMMAND, decodeTrajectoryCase, formatTrajectoryTable, runTrajectoryCase, trajectoryTolerance } from '../src/trajectories.js';
import { TRAJECTORY_VECTORS_DIR, loadTrajectoryCase, loadTrajectoryManifest, trajectorySpecHash } from '../src/trajectories-node.js';

const manifest = loadTrajectoryManifest();
const cases = manifest.cases.map((entry) => loadTrajectoryCase(entry));

describe('the trajectory vectors match their spec', () => {
  it('manifest.json records the hash of trajectories/spec/ (regenerate after editing the spec)', () => {
    if (manifest.specHash !== trajectorySpecHash()) expect.fail(`trajectories/spec/ changed since the vectors were generated: ${TRAJECTORY_REGENERATE_COMMAND}`);
  });

  it('every vector file is in the manifest and every entry has its file', () => {
    expect(readdirSync(TRAJECTORY_VECTORS_DIR).filter((n) => n !== 'manifest.json').sort()).toEqual(manifest.cases.map((c) => c.file).sort());
  });

  it('stay small: under 30 cases and 2 MB', () => {
    expect(cases.length).toBeLessThanOrEqual(30);
    expect(manifest.cases.reduce((sum, c) => sum + c.bytes, 0)).toBeLessThan(2e6);
  });

  it('every case records 10 steps of weights under every parameter name, in float32 and float64', () => {
    for (const c of cases) {
      expect(c.torch32.length, c.id).toBe(10);
      for (let s = 0; s < 10; s++) {
        expect(Object.keys(c.torch32[s]!), c.id).toEqual(Object.keys(c.stateDict));
        expect(Object.keys(c.ref64[s]!), c.id).toEqual(Object.keys(c.stateDict));
      }
    }
  });
});

describe('the trajectory spec covers issue 13: every optimiser on RNN, LSTM with proj_size and GRU, clipping in some', () => {
  const key = (c: (typeof cases)[number]) => `${c.optimizer.name}${c.optimizer.options.amsgrad ? '-amsgrad' : ''}${c.optimizer.options.nesterov ? '-nesterov' : ''}`;
  for (const family of ['rnn', 'lstm-proj', 'gru'] as const) {
    it(`${family}: SGD, SGD with momentum, nesterov and weight decay, Adam, Adam with amsgrad, AdamW`, () => {
      const mine = cases.filter((c) => manifest.cases.find((e) => e.id === c.id)!.module === family);
      expect(new Set(mine.map(key))).toEqual(new Set(['sgd', 'sgd-nesterov', 'adam', 'adam-amsgrad', 'adamw']));
      expect(mine.some((c) => c.clip !== null)).toBe(true);
    });
  }

  it('clipping with the 2-norm, the ∞-norm and the 1-norm', () => {
    expect(new Set(cases.filter((c) => c.clip !== null).map((c) => c.clip!.normType))).toEqual(new Set([2, Infinity, 1]));
  });

  it('the weights move: training changes them by more than the tolerance many times over', () => {
    for (const entry of manifest.cases) expect(entry.weightsMoved, entry.id).toBeGreaterThan(0.05);
    for (const c of cases) expect(trajectoryTolerance(c, 9).tolerance, c.id).toBeLessThan(1e-3);
  });
});

/** A backend whose models compute no gradients, as an engine without backward. */
const noBackward: Backend = {
  name: 'fake',
  async createModel(): Promise<EngineModel> {
    return { forward: () => Promise.reject(new Error('unused')), dispose() {} };
  },
  dispose() {},
};

describe('the trajectory runner', () => {
  it('an engine without backward fails with RnnError(unavailable) at step 1, and the gradient exclusions excuse it', async () => {
    const result = await runTrajectoryCase(noBackward, cases[0]!);
    expect(result.passed).toBe(false);
    expect(result.reason).toMatch(/step 1.*unavailable/);
    const exclusions = [{ engine: 'fake', family: result.module, reason: 'no backward yet' }];
    expect(exclusionFor(exclusions, result)).toBeDefined();
    expect(formatTrajectoryTable('fake', [result], exclusions)).toMatch(/1 excluded[\s\S]*no backward yet/);
  });

  it('refuses a vector file of another format, naming the file', () => {
    expect(() => decodeTrajectoryCase(new Uint8Array([0x80]), 'x.msgpack')).toThrow(/x\.msgpack/);
  });
});
