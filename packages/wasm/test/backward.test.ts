import { createGru, createLstm, initStateDict, randomTensorData, type LstmConfig, type Tensor } from '@recurrent/core';
import { describe, expect, it } from 'vitest';
import { createBackend, THREADED_WORK } from '../src/index.js';

// The gradients themselves are proved against PyTorch by the conformance suite (gradients and
// trajectories, every build); these tests cover what it does not: threads, memory, weights in place.

const tensor = (shape: number[], seed: number): Tensor => ({ data: randomTensorData(shape.reduce((a, b) => a * b, 1), seed), shape });

describe('backward', () => {
  // N·G·H·H_out = 8·4·64·64 = THREADED_WORK: the forward part runs on the worker threads.
  const config: LstmConfig = { inputSize: 24, hiddenSize: 64, numLayers: 2, bidirectional: true, projSize: 0 };
  const [L, N] = [9, 8];
  const input = tensor([L, N, 24], 1);
  const upstream = { output: tensor([L, N, 128], 2), hN: tensor([4, N, 64], 3), cN: tensor([4, N, 64], 4) };
  const lengths = [9, 3, 7, 9, 1, 5, 8, 2];

  it('gives the same gradients with worker threads as on one thread', async () => {
    expect(N * 4 * 64 * 64).toBeGreaterThanOrEqual(THREADED_WORK);
    const weights = initStateDict(config, 5, 'lstm');
    const one = await createLstm(config, weights, await createBackend({ relaxedSimd: false, threads: 1 }));
    const two = await createLstm(config, weights, await createBackend({ relaxedSimd: false, threads: 2 }));
    expect(two.backend).toBe('wasm-simd-threads-2');
    for (const options of [undefined, { lengths }]) {
      expect(await two.backward(input, undefined, upstream, options)).toEqual(await one.backward(input, undefined, upstream, options));
    }
  });

  it('padded positions take no gradient, whatever the input holds there', async () => {
    const model = await createGru({ inputSize: 24, hiddenSize: 20 }, initStateDict({ inputSize: 24, hiddenSize: 20 }, 2, 'gru'), await createBackend({ threads: 1 }));
    const padded = { data: input.data.slice(), shape: input.shape };
    for (let t = 0; t < L; t++) for (let b = 0; b < N; b++) if (t >= lengths[b]!) padded.data.fill(Number.NaN, (t * N + b) * 24, (t * N + b + 1) * 24);
    const grads = await model.backward(padded, undefined, { output: tensor([L, N, 20], 6) }, { lengths });
    for (let t = 0; t < L; t++) {
      for (let b = 0; b < N; b++) {
        const row = grads.input.data.subarray((t * N + b) * 24, (t * N + b + 1) * 24);
        if (t >= lengths[b]!) expect(Array.from(row).every((v) => v === 0)).toBe(true);
        else expect(Array.from(row).every(Number.isFinite)).toBe(true);
      }
    }
    for (const [name, g] of Object.entries(grads.weights)) expect(Array.from(g.data).every(Number.isFinite), name).toBe(true);
  });

  it('keeps its memory across calls, reports it in stats().backwardBytes, and dispose() gives it back', async () => {
    const wasm = await createBackend({ threads: 1 });
    const empty = wasm.stats();
    const model = await createLstm(config, initStateDict(config, 5, 'lstm'), wasm);
    expect(wasm.stats().backwardBytes).toBe(0);
    const first = await model.backward(input, undefined, upstream, { lengths });
    const after = wasm.stats();
    expect(after.backwardBytes).toBeGreaterThan(0);
    for (let i = 0; i < 6; i++) {
      const grads = await model.backward(input, undefined, upstream, i % 2 ? { lengths } : undefined);
      if (i % 2) expect(grads).toEqual(first);
      // Forwards between backwards use their own scratch and leave the backward's as it was.
      await model.forward(input);
    }
    await model.backward(input, undefined, upstream, { lengths });
    expect(wasm.stats().backwardBytes).toBe(after.backwardBytes);
    model.dispose();
    expect(wasm.stats()).toEqual({ ...empty, wasmMemoryBytes: wasm.stats().wasmMemoryBytes });
  });

  it('loadStateDict replaces the weights in place: outputs and gradients are a new model’s, memory unchanged', async () => {
    const wasm = await createBackend({ threads: 1 });
    const projected: LstmConfig = { ...config, projSize: 16 };
    const model = await createLstm(projected, initStateDict(projected, 5, 'lstm'), wasm);
    const up = { output: tensor([L, N, 32], 2) };
    await model.backward(input, undefined, up);
    const before = wasm.stats();
    const next = initStateDict(projected, 9, 'lstm');
    await model.loadStateDict(next);
    expect(wasm.stats()).toEqual(before);
    const fresh = await createLstm(projected, next, await createBackend({ threads: 1 }));
    expect(await model.forward(input)).toEqual(await fresh.forward(input));
    expect(await model.backward(input, undefined, up)).toEqual(await fresh.backward(input, undefined, up));
    expect(model.stateDict()).toEqual(next);
  });
});
