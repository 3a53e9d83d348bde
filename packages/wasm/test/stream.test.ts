import {
  createGru, createLstm, initStateDict, isRnnError, randomTensorData,
  type Backend, type EngineModel, type LstmConfig, type Tensor,
} from '@recurrent/core';
import { afterAll, describe, expect, it } from 'vitest';
import { createBackend, type WasmBackend } from '../src/index.js';

// Engine-held streams (issue 12): the states stay in linear memory between pushes.

type Result = { output: Tensor; hN: Tensor; cN?: Tensor };
const words = (r: Result): number[][] => [r.output.data, r.hN.data, r.cN?.data ?? new Float32Array(0)].map((a) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length)));
const sliceSteps = (input: Tensor, from: number, to: number): Tensor => {
  const [, N, I] = input.shape as [number, number, number];
  return { data: input.data.slice(from * N * I, to * N * I), shape: [to - from, N, I] };
};
const joinOutputs = (results: Result[]): Float32Array => {
  const joined = new Float32Array(results.reduce((n, r) => n + r.output.data.length, 0));
  let at = 0;
  for (const r of results) joined.set(r.output.data, (at += r.output.data.length) - r.output.data.length);
  return joined;
};

/** A backend whose models count forward calls and stream pushes, to see which one ran. */
function counting(backend: Backend): { backend: Backend; forwards: number; pushes: number } {
  const counts = { backend, forwards: 0, pushes: 0 };
  counts.backend = {
    name: backend.name,
    stats: backend.stats?.bind(backend),
    dispose: () => backend.dispose(),
    async createModel(plan) {
      const model = await backend.createModel(plan);
      const wrapped: EngineModel = {
        backend: model.backend,
        forward: (p) => (counts.forwards++, model.forward(p)),
        openStream(start) {
          const stream = model.openStream!(start);
          return { push: (p) => (counts.pushes++, stream.push(p)), dispose: () => stream.dispose() };
        },
        dispose: () => model.dispose(),
      };
      return wrapped;
    },
  };
  return counts;
}

const config: LstmConfig = { inputSize: 12, hiddenSize: 20, numLayers: 2, projSize: 9 };
const weights = initStateDict(config, 5, 'lstm');
const T = 24;
const N = 4;
const input: Tensor = { data: randomTensorData(T * N * 12, 3), shape: [T, N, 12] };
const hx: [Tensor, Tensor] = [{ data: randomTensorData(2 * N * 9, 4), shape: [2, N, 9] }, { data: randomTensorData(2 * N * 20, 5), shape: [2, N, 20] }];

describe('engine-held streams', () => {
  const backends: WasmBackend[] = [];
  afterAll(() => backends.forEach((b) => b.dispose()));

  it.each([1, 2])('runs every push on the engine stream, and equals one forward bit for bit (%i thread(s))', async (threads) => {
    const wasm = await createBackend({ threads });
    backends.push(wasm);
    const counts = counting(wasm);
    const lstm = await createLstm(config, weights, counts.backend);
    const whole = await lstm.forward(input, hx);
    expect(counts.forwards).toBe(1);
    // Each push has L·N a multiple of 4 rows, as the whole forward's input projection has: the GEMM then
    // takes the rows four at a time in both, and the bits are the same.
    for (const sizes of [[1, 1, 2, 20], [5, 7, 12], [24]]) {
      const stream = lstm.stream(hx);
      const results: Result[] = [];
      let at = 0;
      for (const k of sizes) results.push(await stream.push(sliceSteps(input, at, (at += k))));
      stream.dispose();
      const last = results.at(-1)!;
      expect(words({ output: { data: joinOutputs(results), shape: [] }, hN: last.hN, cN: last.cN })).toEqual(words(whole));
    }
    expect(counts.forwards).toBe(1);
    expect(counts.pushes).toBe(4 + 3 + 1);
  });

  it('one-step pushes of one batch element agree with forward to the last bits (a one-row projection sums in another order)', async () => {
    const wasm = await createBackend({ threads: 1 });
    backends.push(wasm);
    const gru = await createGru({ inputSize: 12, hiddenSize: 20 }, initStateDict({ inputSize: 12, hiddenSize: 20 }, 2, 'gru'), wasm);
    const single: Tensor = { data: randomTensorData(T * 12, 6), shape: [T, 1, 12] };
    const whole = await gru.forward(single);
    const stream = gru.stream();
    const results: Result[] = [];
    for (let t = 0; t < T; t++) results.push(await stream.push(sliceSteps(single, t, t + 1)));
    const joined = joinOutputs(results);
    expect(Math.max(...joined.map((v, i) => Math.abs(v - whole.output.data[i]!)))).toBeLessThan(1e-6);
    // The same pushes again give the same bits: a stream is deterministic.
    const again = gru.stream();
    const second: Result[] = [];
    for (let t = 0; t < T; t++) second.push(await again.push(sliceSteps(single, t, t + 1)));
    expect(Array.from(joinOutputs(second))).toEqual(Array.from(joined));
  });

  it('with lengths, each element carries its state from its last step, as forward from the carried states does', async () => {
    const wasm = await createBackend({ threads: 1 });
    backends.push(wasm);
    const lstm = await createLstm(config, weights, wasm);
    const stream = lstm.stream(hx);
    let carried: [Tensor, Tensor] = hx;
    const chunks = [[6, [6, 2, 5, 1]], [4, [1, 4, 4, 3]], [8, [8, 8, 2, 7]]] as const;
    let at = 0;
    for (const [k, lengths] of chunks) {
      const chunk = sliceSteps(input, at, (at += k));
      const pushed = await stream.push(chunk, { lengths: [...lengths] });
      const reference = await lstm.forward(chunk, carried, { lengths: [...lengths] });
      expect(words(pushed)).toEqual(words(reference));
      carried = [reference.hN, reference.cN];
    }
  });

  it('gives its linear memory back when the stream or the model is disposed; a disposed stream or model refuses pushes', async () => {
    const wasm = await createBackend({ threads: 1 });
    backends.push(wasm);
    const empty = wasm.stats().wasmAllocatedBytes;
    const lstm = await createLstm(config, weights, wasm);
    await lstm.forward(input, hx); // the scratch block a push of this size uses
    const base = wasm.stats().wasmAllocatedBytes;
    const streams = Array.from({ length: 20 }, () => lstm.stream(hx));
    await Promise.all(streams.map((s) => s.push(input)));
    const perStream = (wasm.stats().wasmAllocatedBytes - base) / 20;
    expect(perStream).toBeGreaterThan(0);
    streams.slice(0, 10).forEach((s) => s.dispose());
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(wasm.stats().wasmAllocatedBytes - base).toBe(10 * perStream);
    await expect(streams[0]!.push(input)).rejects.toSatisfy((e: unknown) => isRnnError(e, 'disposed'));
    const open = streams[10]!;
    const pending = open.push(input);
    lstm.dispose();
    await pending.catch(() => undefined);
    expect(wasm.stats().wasmAllocatedBytes).toBe(empty);
    await expect(open.push(input)).rejects.toSatisfy((e: unknown) => isRnnError(e, 'disposed'));
  });
});
