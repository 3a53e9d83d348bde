import {
  createGru, createLstm, createRnn, initStateDict, isRnnError, randomTensorData,
  type GruConfig, type LstmConfig, type RnnConfig, type Tensor,
} from '@recurrent/core';
import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { RUNTIME, type KernelName } from '../src/blocks.js';
import { createBackend, THREADED_WORK, type WasmBackend } from '../src/index.js';
import type { Runtime } from '../src/model.js';

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

type Mode = 'rnn' | 'lstm' | 'gru';
type Gradients = { input: Tensor; h0: Tensor; c0?: Tensor; weights: Record<string, Tensor> };
type Upstream = { output?: Tensor; hN?: Tensor; cN?: Tensor };
type AnyModel = {
  backward(input: Tensor, hx: undefined, upstream: Upstream, options?: { signal?: AbortSignal; lengths?: number[] }): Promise<Gradients>;
  dispose(): void;
};
const CREATE = { rnn: createRnn, lstm: createLstm, gru: createGru } as unknown as Record<Mode, (c: unknown, w: unknown, b: unknown) => Promise<AnyModel>>;
const KERNELS: KernelName[] = ['runLayer', 'tapeLayer', 'backLayer', 'gemmAtB', 'columnSums', 'gemmRows'];
const rejection = (promise: Promise<unknown>): Promise<unknown> => promise.then(() => null, (error: unknown) => error);

/**
 * Counts each kernel's calls on a backend's runtime (a block is one call on thread 0), and calls
 * `onCall`, if set, after each.
 */
function watchCalls(backend: WasmBackend): { counts: Record<KernelName, number>; onCall?: (name: KernelName) => void } {
  const runtime = (backend as unknown as { [RUNTIME]: Runtime })[RUNTIME];
  const watch: { counts: Record<KernelName, number>; onCall?: (name: KernelName) => void } = {
    counts: Object.fromEntries(KERNELS.map((name) => [name, 0])) as Record<KernelName, number>,
  };
  const kernels = { ...runtime.kernels } as unknown as Record<string, unknown>;
  for (const name of KERNELS) {
    const kernel = runtime.kernels[name] as (...args: number[]) => number;
    kernels[name] = (...args: number[]) => {
      const status = kernel(...args);
      watch.counts[name]++;
      watch.onCall?.(name);
      return status;
    };
  }
  runtime.kernels = kernels as unknown as Runtime['kernels'];
  return watch;
}

/** Gradients as one hex digest of their bytes: toEqual on millions of floats would take seconds. */
const bits = (g: Gradients): string => {
  const hash = createHash('sha256');
  for (const t of [g.input, g.h0, g.c0, ...Object.entries(g.weights).sort(([a], [b]) => a.localeCompare(b)).map(([, w]) => w)]) {
    if (t) hash.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return hash.digest('hex');
};

describe('backward cancellation', () => {
  // Each a backward of about 10–20 GFLOP (≥ 0.5 s on one core), every kernel in many blocks with a
  // signal; the abort is scheduled in the middle of a part of it: after the `at[1]`-th call of kernel `at[0]`.
  const cases: { mode: Mode; config: RnnConfig & LstmConfig & GruConfig; L: number; N: number; threads: number; at: [KernelName, number]; lengths?: number[] }[] = [
    { mode: 'lstm', config: { inputSize: 64, hiddenSize: 256, projSize: 128, bidirectional: true }, L: 150, N: 32, threads: 1, at: ['backLayer', 3], lengths: Array.from({ length: 32 }, (_, b) => 150 - 3 * b) },
    { mode: 'gru', config: { inputSize: 64, hiddenSize: 256, numLayers: 2, bidirectional: true, batchFirst: true }, L: 128, N: 32, threads: 1, at: ['gemmAtB', 3] },
    { mode: 'rnn', config: { inputSize: 128, hiddenSize: 384, numLayers: 2 }, L: 200, N: 32, threads: 2, at: ['runLayer', 100] },
  ];
  const backends: WasmBackend[] = [];
  afterAll(() => backends.forEach((backend) => backend.dispose()));

  async function setUp(c: (typeof cases)[number]) {
    const backend = await createBackend({ threads: c.threads });
    backends.push(backend);
    const empty = backend.stats();
    const model = await CREATE[c.mode](c.config, initStateDict(c.config, 3, c.mode), backend);
    const { inputSize: I, hiddenSize: H, projSize, bidirectional, numLayers = 1, batchFirst } = c.config;
    const D = bidirectional ? 2 : 1, P = projSize || H;
    const seqShape = (width: number): number[] => (batchFirst ? [c.N, c.L, width] : [c.L, c.N, width]);
    const input = tensor(seqShape(I), 7);
    const upstream: Upstream = { output: tensor(seqShape(D * P), 8), hN: tensor([numLayers * D, c.N, P], 9) };
    if (c.mode === 'lstm') upstream.cN = tensor([numLayers * D, c.N, H], 10);
    const options = c.lengths ? { lengths: c.lengths } : {};
    const backward = (signal?: AbortSignal) => model.backward(input, undefined, upstream, { ...options, signal });
    return { backend, empty, model, backward };
  }

  it.each(cases.map((c) => ({ ...c, name: `${c.mode} ${c.threads} thread(s)` })))(
    'with a signal every part runs in blocks with the same bits; an abort stops it soon, and the model stays exact with the same memory: $name',
    async (c) => {
      const { backend, backward } = await setUp(c);
      const reference = bits(await backward());
      const watch = watchCalls(backend);
      const { counts } = watch;
      let start = performance.now();
      await backward();
      const unpaced = performance.now() - start;
      const whole = { ...counts };
      for (const name of KERNELS) counts[name] = 0;
      expect(bits(await backward(new AbortController().signal))).toBe(reference);
      for (const name of ['runLayer', 'backLayer', 'gemmAtB', 'gemmRows'] as const) expect(counts[name], name).toBeGreaterThan(whole[name]);
      const stats = backend.stats();

      const controller = new AbortController();
      for (const name of KERNELS) counts[name] = 0;
      let abortAt = 0;
      watch.onCall = (name) => {
        if (name !== c.at[0] || counts[name] !== c.at[1]) return;
        abortAt = performance.now();
        setTimeout(() => controller.abort(new Error('the user stopped training')), 0);
      };
      start = performance.now();
      const error = await rejection(backward(controller.signal));
      const latency = performance.now() - abortAt;
      delete watch.onCall;
      console.log(`${c.mode} backward (${unpaced.toFixed(0)} ms without a signal) aborted in ${c.at[0]} at ${(abortAt - start).toFixed(0)} ms: rejected ${latency.toFixed(1)} ms later`);
      expect(abortAt).toBeGreaterThan(0);
      expect(isRnnError(error, 'aborted')).toBe(true);
      expect((error as Error).cause).toBeInstanceOf(Error);
      // A guard only: speed is measured by bench/abort-backward.mjs.
      expect(latency).toBeLessThan(1000);
      expect(backend.stats()).toEqual(stats);
      expect(bits(await backward())).toBe(reference);
      expect(backend.stats()).toEqual(stats);
    },
  );

  it('a signal that already fired rejects at once and runs nothing', async () => {
    const { backend, backward } = await setUp(cases[0]!);
    const { counts } = watchCalls(backend);
    expect(isRnnError(await rejection(backward(AbortSignal.abort())), 'aborted')).toBe(true);
    expect(Object.values(counts).every((n) => n === 0)).toBe(true);
  });

  it('a signal stops the first backward while it packs the transposed weights; the next backward packs them again, exactly', async () => {
    // Packing 2 layers of H = 512 (10 M floats) takes tens of ms: long enough to yield between matrices.
    const config = { inputSize: 512, hiddenSize: 512, numLayers: 2, bidirectional: true };
    const backend = await createBackend({ threads: 1 });
    backends.push(backend);
    const weights = initStateDict(config, 4, 'lstm');
    const [stopped, paced, plain] = await Promise.all([1, 2, 3].map(() => createLstm(config, weights, backend)));
    const input = tensor([2, 1, 512], 5);
    const upstream = { output: tensor([2, 1, 1024], 6) };
    const reference = bits(await plain!.backward(input, undefined, upstream));
    // With a signal that does not fire, the paced packing gives the same bits.
    expect(bits(await paced!.backward(input, undefined, upstream, { signal: new AbortController().signal }))).toBe(reference);

    const { counts } = watchCalls(backend);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 0);
    const error = await rejection(stopped!.backward(input, undefined, upstream, { signal: controller.signal }));
    expect(isRnnError(error, 'aborted')).toBe(true);
    // Stopped before its forward part: no kernel ran.
    expect(Object.values(counts).every((n) => n === 0)).toBe(true);
    expect(bits(await stopped!.backward(input, undefined, upstream))).toBe(reference);
  });

  it('a model disposed during a paced backward stops it with disposed and leaves no memory behind', async () => {
    const { backend, empty, model, backward } = await setUp(cases[1]!);
    const pending = rejection(backward(new AbortController().signal));
    setTimeout(() => model.dispose(), 50);
    expect(isRnnError(await pending, 'disposed')).toBe(true);
    expect(backend.stats()).toEqual({ ...empty, wasmMemoryBytes: backend.stats().wasmMemoryBytes });
  });
});
