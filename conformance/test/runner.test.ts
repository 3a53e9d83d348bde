import type { Backend } from '@recurrent/core';
import { describe, expect, it } from 'vitest';
import { loadCase, loadManifest } from '../src/node.js';
import { ONE_STEP_PUSHES, runCase, runStreamCase, streamChunkings, streamsCase } from '../src/run.js';
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

describe('cells and streams', () => {
  it('a cell case runs through createXCell and judges h′ and c′', async () => {
    const result = await runCase(createTextbookBackend(), load('lstm-cell-saturating-cell-state'));
    expect(result).toMatchObject({ passed: true, check: 'forward', module: 'lstm-cell' });
    const broken = await runCase(createTextbookBackend('bias-twice'), load('gru-cell-product-bias-hx'));
    expect(broken.passed).toBe(false);
    expect(broken.module).toBe('gru-cell');
  });

  it('every unidirectional module case gets a stream check, and no cell or bidirectional case', () => {
    const entries = loadManifest().cases;
    const streamed = entries.filter(streamsCase);
    expect(streamed.length).toBeGreaterThan(100);
    for (const module of ['rnn', 'lstm', 'lstm-proj', 'gru']) expect(streamed.some((e) => e.module === module)).toBe(true);
    expect(streamed.every((e) => !e.module.endsWith('-cell') && !e.features.includes('bidirectional'))).toBe(true);
    expect(entries.filter((e) => e.features.includes('unidirectional')).length).toBe(streamed.length);
  });

  it('chunkings: one step per push, 1, 2, 3 and the rest, and one push', () => {
    const sizes = (T: number, lengths: number[] | null) => streamChunkings(T, lengths).map((c) => c.sizes);
    expect(sizes(6, null)).toEqual([[1, 1, 1, 1, 1, 1], [1, 2, 3], [6]]);
    expect(sizes(4, null)).toEqual([[1, 1, 1, 1], [1, 2, 1], [4]]);
    expect(streamChunkings(1, null)).toEqual([{ name: 'one push', sizes: [1] }]);
    const long = streamChunkings(1000, null);
    expect(long[0]!.sizes).toEqual([...new Array<number>(ONE_STEP_PUSHES).fill(1), 1000 - ONE_STEP_PUSHES]);
    expect(long[1]!.sizes).toEqual([1, 2, 3, 994]);
  });

  it('with lengths, every chunk but the last lies within the shortest element, so no element is asked for 0 steps', () => {
    const sizes = (T: number, lengths: number[]) => streamChunkings(T, lengths).map((c) => c.sizes);
    expect(sizes(10, [10, 4, 7])).toEqual([[1, 1, 1, 7], [1, 2, 7], [10]]);
    expect(sizes(5, [1, 5])).toEqual([[5]]);
    for (const lengths of [[10, 4, 7], [3, 3], [10, 10], [2, 9, 5]]) {
      for (const { sizes: chunks } of streamChunkings(10, lengths)) {
        let s = 0;
        for (const k of chunks) {
          for (const len of lengths) expect(Math.min(Math.max(len - s, 0), k)).toBeGreaterThanOrEqual(1);
          s += k;
        }
        expect(s).toBe(10);
      }
    }
  });

  it('a stream check passes on a correct engine, with lengths, batch_first and unbatched input', async () => {
    for (const id of ['lengths-uni-l2-relu-h0', 'lstm-deep-l4-lengths-bf', 'product-uni-l1-bf-tanh-bias-h0', 'gru-unbatched-uni-h0', 'lstm-proj-uni-l1-tm-p3-bias-h0']) {
      const result = await runStreamCase(createTextbookBackend(), load(id));
      expect(result, `${id}: ${result.reason}`).toMatchObject({ passed: true, check: 'stream' });
    }
  });

  it('an engine that drops the states it is given passes a zero-h0 forward but fails its stream check, naming the chunking', async () => {
    const textbook = createTextbookBackend();
    const forgets: Backend = {
      ...textbook,
      async createModel(plan) {
        const model = await textbook.createModel(plan);
        return { ...model, forward: (forwardPlan) => model.forward({ ...forwardPlan, h0: null, c0: null }) };
      },
    };
    const c = load('gru-product-uni-l2-tm-bias-zero-h0');
    expect((await runCase(forgets, c)).passed).toBe(true);
    const result = await runStreamCase(forgets, c);
    expect(result.passed).toBe(false);
    expect(result.reason).toMatch(/^pushed one step per push \(1 \+ 1 \+ .*\): max \|engine − float64 reference\|/);
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
