import { describe, expect, it } from 'vitest';
import { compareWithReference, fuzzCase } from '../src/fuzz.js';
import { createCaseModel } from '../src/run.js';
import { fuzzSeed, fuzzSuite } from '../src/vitest.js';
import { createTextbookBackend } from './fixtures/engines/textbook/index.js';

describe('fuzz cases', () => {
  const cases = Array.from({ length: 300 }, (_, i) => fuzzCase(fuzzSeed() + i));

  it('are reproducible from their seed', () => {
    const again = fuzzCase(cases[7]!.seed);
    expect(again.summary).toBe(cases[7]!.summary);
    expect(again.input.data).toEqual(cases[7]!.input.data);
    expect(again.weights).toEqual(cases[7]!.weights);
  });

  it('300 of them cover every option', () => {
    const has = (p: (c: (typeof cases)[number]) => boolean) => cases.filter(p).length;
    for (const count of [
      has((c) => c.config.bidirectional),
      has((c) => !c.config.bidirectional),
      has((c) => c.config.numLayers === 1),
      has((c) => c.config.numLayers === 3),
      has((c) => c.config.batchFirst && c.input.shape.length === 3),
      has((c) => c.config.nonlinearity === 'relu'),
      has((c) => c.config.mode === 'rnn' && c.config.nonlinearity === 'tanh'),
      has((c) => !c.config.bias),
      has((c) => c.h0 !== undefined),
      has((c) => c.input.shape.length === 2),
      has((c) => c.input.shape.length === 2 && c.config.batchFirst),
      has((c) => c.lengths !== undefined),
      has((c) => c.lengths !== undefined && c.config.bidirectional && c.h0 !== undefined),
      has((c) => c.config.hiddenSize === 1),
      has((c) => c.config.mode === 'lstm' && c.config.projSize === 0),
      has((c) => c.config.mode === 'lstm' && c.config.projSize > 0),
      has((c) => c.config.projSize > 0 && c.lengths !== undefined),
      has((c) => c.config.projSize > 0 && c.config.bidirectional && c.c0 !== undefined),
      has((c) => c.config.mode === 'gru'),
      has((c) => c.config.mode === 'gru' && c.lengths !== undefined && c.config.bidirectional),
    ]) {
      expect(count).toBeGreaterThan(3);
    }
  });

  it('compareWithReference flags a difference above tolerance, a wrong shape and NaN', () => {
    const want = { output: { data: Float32Array.of(0.5, -0.25), shape: [2] }, hN: { data: Float32Array.of(0.1), shape: [1] } };
    expect(compareWithReference(want, want).problem).toBeNull();
    const off = { ...want, hN: { data: Float32Array.of(0.1 + 1e-4), shape: [1] } };
    expect(compareWithReference(off, want).problem).toMatch(/exceeds/);
    const wrongShape = { ...want, output: { data: Float32Array.of(0.5, -0.25), shape: [1, 2] } };
    expect(compareWithReference(wrongShape, want).problem).toMatch(/shape \[1, 2\]/);
    const nan = { ...want, output: { data: Float32Array.of(NaN, -0.25), shape: [2] } };
    expect(compareWithReference(nan, want).problem).toBe("output[0] is NaN, the reference's is 0.5");
  });

  it('compareWithReference checks c_n when the reference has one (an LSTM)', () => {
    const want = { output: { data: Float32Array.of(0.5), shape: [1] }, hN: { data: Float32Array.of(0.1), shape: [1] }, cN: { data: Float32Array.of(2), shape: [1] } };
    expect(compareWithReference(want, want).problem).toBeNull();
    expect(compareWithReference({ ...want, cN: { data: Float32Array.of(2.01), shape: [1] } }, want).problem).toMatch(/exceeds/);
    expect(compareWithReference({ ...want, cN: null }, want).problem).toBe('cN is missing');
  });
});

// The suite engines call, on valid inputs for every option (createRnn validates each generated call);
// a textbook engine with b_hh counted twice must disagree with the textbook reference.
fuzzSuite({ name: 'textbook', createBackend: async () => createTextbookBackend(), reference: async () => createTextbookBackend(), count: 300 });

describe('fuzzing catches a broken engine', () => {
  it('b_hh counted twice differs from the reference on a case with bias', async () => {
    const c = Array.from({ length: 20 }, (_, i) => fuzzCase(1000 + i)).find((f) => f.config.bias)!;
    const run = async (flaw: 'none' | 'bias-twice') =>
      (await createCaseModel(c.config, c.weights, createTextbookBackend(flaw))).forward(c.input, c.h0 ?? null, c.c0 ?? null, c.lengths ? { lengths: c.lengths } : undefined);
    expect(compareWithReference(await run('bias-twice'), await run('none')).problem).toMatch(/exceeds/);
  });
});
