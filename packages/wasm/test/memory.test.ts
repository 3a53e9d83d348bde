import {
  createGru, createLstm, createRnn, initStateDict, isRnnError, planModel, randomTensorData, resolveConfig,
  type Backend, type GruConfig, type LstmConfig, type RnnConfig, type Tensor,
} from '@recurrent/core';
import { describe, expect, it } from 'vitest';
import { createBackend } from '../src/index.js';

const config: RnnConfig = { inputSize: 16, hiddenSize: 24, numLayers: 2, bidirectional: true };
const input = { data: randomTensorData(6 * 3 * 16, 1), shape: [6, 3, 16] };

/** An LSTM with a projection and a GRU beside the RNN, the same shapes (4 state rows, batch 3). */
const state = (width: number, seed: number): Tensor => ({ data: randomTensorData(4 * 3 * width, seed), shape: [4, 3, width] });
type AnyForward = (input: Tensor, hx?: never, options?: { lengths: number[] }) => Promise<unknown>;
const modules = [
  {
    name: 'LSTM with projSize',
    config: { ...config, projSize: 7 } as LstmConfig,
    create: async (c: LstmConfig, backend: Backend) => createLstm(c, initStateDict(c, 1, 'lstm'), backend) as unknown as Promise<{ forward: AnyForward; dispose(): void }>,
    hx: [state(7, 2), state(24, 3)] as never,
  },
  {
    name: 'GRU',
    config: config as GruConfig,
    create: async (c: GruConfig, backend: Backend) => createGru(c, initStateDict(c, 1, 'gru'), backend) as unknown as Promise<{ forward: AnyForward; dispose(): void }>,
    hx: state(24, 2) as never,
  },
];

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('linear memory', () => {
  it('does not grow across 1,000 forwards of the same shapes, with and without lengths', async () => {
    const wasm = await createBackend();
    const rnn = await createRnn(config, initStateDict(config, 1), wasm);
    const first = await rnn.forward(input);
    const after = wasm.stats();
    for (let i = 0; i < 1000; i++) {
      const { output } = await rnn.forward(input, undefined, i % 2 ? { lengths: [6, 2, 4] } : undefined);
      if (i % 2 === 0) expect(output.data).toEqual(first.output.data);
    }
    expect(wasm.stats()).toEqual(after);
  });

  it.each(modules)('$name: memory stays flat across 300 forwards, and dispose() gives all of it back', async ({ create, config: moduleConfig, hx }) => {
    const wasm = await createBackend();
    const empty = wasm.stats().wasmAllocatedBytes;
    const model = await create(moduleConfig, wasm);
    const first = await model.forward(input, hx);
    const after = wasm.stats();
    for (let i = 0; i < 300; i++) {
      const result = await model.forward(input, i % 3 === 0 ? hx : undefined, i % 2 ? { lengths: [6, 2, 4] } : undefined);
      if (i % 6 === 0) expect(result).toEqual(first);
    }
    expect(wasm.stats()).toEqual(after);
    model.dispose();
    expect(wasm.stats()).toEqual({ wasmMemoryBytes: after.wasmMemoryBytes, wasmAllocatedBytes: empty, backwardBytes: 0 });
  });

  it('reuses the scratch of a larger input for a smaller one', async () => {
    const wasm = await createBackend();
    const rnn = await createRnn(config, initStateDict(config, 1), wasm);
    await rnn.forward({ data: randomTensorData(40 * 5 * 16, 2), shape: [40, 5, 16] });
    const after = wasm.stats();
    await rnn.forward(input);
    expect(wasm.stats()).toEqual(after);
  });

  it('dispose() releases the model\'s memory for the next model', async () => {
    const wasm = await createBackend();
    const weights = initStateDict(config, 1);
    const empty = wasm.stats().wasmAllocatedBytes;
    const rnn = await createRnn(config, weights, wasm);
    await rnn.forward(input);
    const peak = wasm.stats();
    expect(peak.wasmAllocatedBytes).toBeGreaterThan(empty);
    rnn.dispose();
    expect(wasm.stats()).toEqual({ wasmMemoryBytes: peak.wasmMemoryBytes, wasmAllocatedBytes: empty, backwardBytes: 0 });
    for (let i = 0; i < 50; i++) {
      const again = await createRnn(config, weights, wasm);
      await again.forward(input);
      again.dispose();
    }
    expect(wasm.stats()).toEqual({ wasmMemoryBytes: peak.wasmMemoryBytes, wasmAllocatedBytes: empty, backwardBytes: 0 });
  });

  it('keeps models apart: freeing one leaves the others\' results unchanged', async () => {
    const wasm = await createBackend();
    const a = await createRnn(config, initStateDict(config, 1), wasm);
    const b = await createRnn(config, initStateDict(config, 2), wasm);
    const before = await b.forward(input);
    a.dispose();
    const c = await createRnn(config, initStateDict(config, 3), wasm);
    await c.forward(input);
    expect((await b.forward(input)).output.data).toEqual(before.output.data);
  });

  it('a disposed model, or any model of a disposed backend, gives the disposed error', async () => {
    const wasm = await createBackend();
    const weights = initStateDict(config, 1);
    const model = await wasm.createModel(planModel(resolveConfig(config), weights));
    model.dispose();
    const plan = { seqLen: 6, batch: 3, input: input.data, h0: null, c0: null, lengths: null };
    const error = await rejection(model.forward(plan));
    expect(isRnnError(error, 'disposed')).toBe(true);

    const rnn = await createRnn(config, weights, wasm);
    wasm.dispose();
    expect(isRnnError(await rejection(rnn.forward(input)), 'disposed')).toBe(true);
    expect(isRnnError(await rejection(createRnn(config, weights, wasm)), 'disposed')).toBe(true);
  });
});

describe('limits', () => {
  it('an input too large for 4 GiB gives the limit error with the sizes, before touching memory', async () => {
    const wasm = await createBackend();
    const big: RnnConfig = { inputSize: 1, hiddenSize: 2048, bidirectional: true };
    const rnn = await createRnn(big, initStateDict(big, 1), wasm);
    const before = wasm.stats();
    // 300,000 steps × 4,096 outputs × 4 bytes is 4.9 GB for the projection alone.
    const error = await rejection(rnn.forward({ data: new Float32Array(300_000), shape: [300_000, 1, 1] }));
    expect(isRnnError(error, 'limit')).toBe(true);
    expect((error as Error).message).toMatch(/300000 step\(s\) × 1 batch element/);
    expect((error as { details: Record<string, unknown> }).details).toMatchObject({ seqLen: 300_000, batch: 1 });
    expect(wasm.stats()).toEqual(before);
    // The model still works after the refusal.
    const { output } = await rnn.forward({ data: new Float32Array(3), shape: [3, 1, 1] });
    expect(output.shape).toEqual([3, 1, 4096]);
  });

  it('a model or input beyond maximumMemoryBytes gives the limit error, and smaller ones still fit', async () => {
    const wasm = await createBackend({ maximumMemoryBytes: 4 * 2 ** 20 });
    const large: RnnConfig = { inputSize: 800, hiddenSize: 800 };
    const error = await rejection(createRnn(large, initStateDict(large, 1), wasm));
    expect(isRnnError(error, 'limit')).toBe(true);
    expect((error as { details: Record<string, unknown> }).details).toMatchObject({ maxBytes: 4 * 2 ** 20 });
    expect((error as Error).message).toMatch(/weights of an RNN with hidden size 800/);

    const small: RnnConfig = { inputSize: 8, hiddenSize: 8 };
    const rnn = await createRnn(small, initStateDict(small, 1), wasm);
    expect(isRnnError(await rejection(rnn.forward({ data: new Float32Array(8 * 100_000), shape: [100_000, 1, 8] })), 'limit')).toBe(true);
    const { output } = await rnn.forward({ data: new Float32Array(8 * 4), shape: [4, 1, 8] });
    expect(output.data.length).toBe(4 * 8);
  });

  it('LSTM and GRU: limit errors name the module and come before anything is allocated', async () => {
    const wasm = await createBackend({ maximumMemoryBytes: 4 * 2 ** 20 });
    const before = wasm.stats();
    const lstm: LstmConfig = { inputSize: 300, hiddenSize: 400, projSize: 100, bidirectional: true };
    const error = await rejection(createLstm(lstm, initStateDict(lstm, 1, 'lstm'), wasm));
    expect(isRnnError(error, 'limit')).toBe(true);
    expect((error as Error).message).toMatch(/weights of an LSTM with hidden size 400, projection size 100, 1 layer\(s\), 2 direction\(s\)/);
    expect(wasm.stats()).toEqual(before);

    const small: GruConfig = { inputSize: 8, hiddenSize: 16 };
    const gru = await createGru(small, initStateDict(small, 1, 'gru'), wasm);
    const allocated = wasm.stats();
    const tooLong = await rejection(gru.forward({ data: new Float32Array(8 * 50_000), shape: [50_000, 1, 8] }));
    expect(isRnnError(tooLong, 'limit')).toBe(true);
    expect((tooLong as Error).message).toMatch(/50000 step\(s\) × 1 batch element\(s\)/);
    expect(wasm.stats()).toEqual(allocated);
    const { output } = await gru.forward({ data: new Float32Array(8 * 4), shape: [4, 1, 8] });
    expect(output.shape).toEqual([4, 1, 16]);
  });

  it('rejects bad options with the type error', async () => {
    for (const options of [{ relaxedSimd: 'yes' }, { maximumMemoryBytes: 10 }, { turbo: true }, null]) {
      expect(isRnnError(await rejection(createBackend(options as never)), 'type')).toBe(true);
    }
  });
});
