import type { Backend } from '@recurrent/core';
import { describe, expect, it } from 'vitest';
import { loadCase, loadManifest } from '../src/node.js';
import { runCase } from '../src/run.js';
import { TOLERANCE, toleranceFor } from '../src/tolerance.js';
import { conformanceSuite } from '../src/vitest.js';
import { createTextbookBackend } from './fixtures/engines/textbook/index.js';

// The whole suite through the same entry engines use, on the test-only textbook engine (float64).
conformanceSuite({ name: 'textbook', createBackend: async () => createTextbookBackend() });

const load = (id: string) => loadCase(loadManifest().cases.find((c) => c.id === id)!);

describe('the runner fails broken engines with the reason', () => {
  it('an engine that adds b_hh twice fails with the error against float64', async () => {
    const result = await runCase(createTextbookBackend('bias-twice'), load('product-uni-l1-tm-tanh-bias-zero-h0'));
    expect(result.passed).toBe(false);
    expect(result.reason).toMatch(/max \|engine − float64 reference\| = .* exceeds the tolerance/);
    expect(result.errorVsRef64).toBeGreaterThan(1e-3);
  });

  it('an engine that starts the reverse direction from zeros fails cases with h0', async () => {
    expect((await runCase(createTextbookBackend('skip-reverse-h0'), load('lengths-bi-h0'))).passed).toBe(false);
  });

  it('an engine that throws fails with its error', async () => {
    const result = await runCase(createTextbookBackend('throws'), load('edge-t1'));
    expect(result.passed).toBe(false);
    expect(result.reason).toBe('threw Error: this engine cannot build models');
  });

  it('NaN fails even though NaN compares false with everything', async () => {
    const result = await runCase(createTextbookBackend('nan'), load('edge-t1'));
    expect(result.passed).toBe(false);
    expect(result.reason).toBe("the result is NaN or ±Inf where PyTorch's is finite");
  });

  it('an engine that hides NaN (relu as max(x, 0) on a GPU, a clamped tanh) fails where PyTorch gives NaN', async () => {
    const textbook = createTextbookBackend();
    const hidesNaN: Backend = {
      ...textbook,
      async createModel(plan) {
        const model = await textbook.createModel(plan);
        return {
          ...model,
          async forward(forwardPlan) {
            const { output, hN } = await model.forward(forwardPlan);
            return { output: output.map((v) => (Number.isNaN(v) ? 0 : v)), hN: hN.map((v) => (Number.isNaN(v) ? 0 : v)) };
          },
        };
      },
    };
    const result = await runCase(hidesNaN, load('non-finite-nan-input'));
    expect(result.passed).toBe(false);
    expect(result.reason).toMatch(/^output\[\d+\] \(flat\) is 0, PyTorch's is NaN$/);
    expect((await runCase(textbook, load('non-finite-nan-input'))).passed).toBe(true);
  });

  it('output past an element’s length must be exactly zero', async () => {
    const result = await runCase(createTextbookBackend('padding'), load('lengths-uni'));
    expect(result.passed).toBe(false);
    expect(result.reason).toMatch(/expected 0 past the length/);
  });

  it('a correct engine reports its error against float64 and against PyTorch float32', async () => {
    const result = await runCase(createTextbookBackend(), load('saturating-weights'));
    expect(result.passed).toBe(true);
    expect(result.errorVsRef64).toBeLessThan(result.tolerance);
    expect(result.errorVsTorch32).toBeGreaterThan(0);
    expect(result.torchErrorVsRef64).toBeGreaterThan(0);
  });
});

describe('the tolerance policy', () => {
  const ref64 = (max: number) => ({ output: { data: Float64Array.of(max), shape: [1] }, hN: { data: Float64Array.of(0), shape: [1] } });
  it('is K times PyTorch float32’s own error', () => {
    expect(toleranceFor(1e-6, { ref64: ref64(1) })).toBe(TOLERANCE.K * 1e-6);
  });
  it('never drops below FLOOR_ULPS float32 ulps of the largest value', () => {
    expect(toleranceFor(0, { ref64: ref64(0.5) })).toBe(TOLERANCE.FLOOR_ULPS * 2 ** -23);
    expect(toleranceFor(0, { ref64: ref64(4) })).toBe(TOLERANCE.FLOOR_ULPS * 2 ** -23 * 4);
  });
});
