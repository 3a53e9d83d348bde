import {
  RnnError, createGru, createLstm, createRnn, initStateDict, randomTensorData, type Gradients, type GruConfig, type LstmConfig, type RnnConfig, type StateDict, type Tensor,
} from '@recurrent/core';
import { describe, expect, it } from 'vitest';
import { createBackend } from '../src/index.js';

// Gradients equal PyTorch's: that is proved by the conformance suite (gradients/ vectors). These tests
// prove the contract around them.

const L = 5, N = 3, I = 4;
const tensor = (shape: number[], seed: number): Tensor => ({ data: randomTensorData(shape.reduce((a, b) => a * b, 1), seed), shape });
const zerosLike = (t: Tensor): Tensor => ({ data: new Float32Array(t.data.length), shape: [...t.shape] });
const copy = (t: Tensor): Tensor => ({ data: t.data.slice(), shape: [...t.shape] });
const values = (g: Gradients) => [g.input, g.h0, ...(g.c0 ? [g.c0] : []), ...Object.values(g.weights)].map((t) => [...t.data]);

const rnnConfig: RnnConfig = { inputSize: I, hiddenSize: 6, numLayers: 2, bidirectional: true, batchFirst: true };
const lstmConfig: LstmConfig = { inputSize: I, hiddenSize: 6, projSize: 3, numLayers: 2, bidirectional: true, batchFirst: true };
const gruConfig: GruConfig = { inputSize: I, hiddenSize: 6, numLayers: 2, bidirectional: true, batchFirst: true };

/** Every module behind one shape: forward, backward, and what its upstream gradients look like. */
const MODULES = [
  { name: 'nn.RNN', make: async (w?: StateDict) => createRnn(rnnConfig, w ?? initStateDict(rnnConfig, 1, 'rnn'), await createBackend()), Hout: 6, lstm: false },
  { name: 'nn.LSTM with proj_size', make: async (w?: StateDict) => createLstm(lstmConfig, w ?? initStateDict(lstmConfig, 2, 'lstm'), await createBackend()), Hout: 3, lstm: true },
  { name: 'nn.GRU', make: async (w?: StateDict) => createGru(gruConfig, w ?? initStateDict(gruConfig, 3, 'gru'), await createBackend()), Hout: 6, lstm: false },
] as const;

type AnyModel = Awaited<ReturnType<(typeof MODULES)[number]['make']>>;
const backward = (model: AnyModel, input: Tensor, upstream: { output?: Tensor; hN?: Tensor; cN?: Tensor }, lengths?: number[]) =>
  (model.backward as (i: Tensor, hx: undefined, u: typeof upstream, o?: { lengths: number[] }) => Promise<Gradients>)(input, undefined, upstream, lengths ? { lengths } : undefined);

describe.each(MODULES)('$name backward', ({ make, Hout, lstm }) => {
  const input = tensor([N, L, I], 11);
  const upstreamOf = (seed: number) => ({
    output: tensor([N, L, 2 * Hout], seed),
    hN: tensor([4, N, Hout], seed + 1),
    ...(lstm ? { cN: tensor([4, N, 6], seed + 2) } : {}),
  });

  it('padded positions take no gradient: the input gradient is 0 there and the output gradient there is ignored', async () => {
    const model = await make();
    const lengths = [5, 2, 3];
    const upstream = upstreamOf(20);
    const grads = await backward(model, input, upstream, lengths);
    for (let b = 0; b < N; b++) {
      for (let t = lengths[b]!; t < L; t++) expect([...grads.input.data.subarray((b * L + t) * I, (b * L + t + 1) * I)]).toEqual([0, 0, 0, 0]);
    }
    // Other values past the lengths (in the output gradient and in the input) change nothing.
    const noisy = copy(upstream.output);
    const noisyInput = copy(input);
    for (let b = 0; b < N; b++) {
      for (let t = lengths[b]!; t < L; t++) {
        noisy.data.fill(1e6, (b * L + t) * 2 * Hout, (b * L + t + 1) * 2 * Hout);
        noisyInput.data.fill(-7, (b * L + t) * I, (b * L + t + 1) * I);
      }
    }
    expect(values(await backward(model, noisyInput, { ...upstream, output: noisy }, lengths))).toEqual(values(grads));
  });

  it('an absent upstream gradient is zero', async () => {
    const model = await make();
    const { output, hN } = upstreamOf(30);
    const zeros = upstreamOf(30);
    const onlyHN = await backward(model, input, { hN });
    expect(values(onlyHN)).toEqual(values(await backward(model, input, { output: zerosLike(output), hN, ...(lstm ? { cN: zerosLike(zeros.cN!) } : {}) })));
    const none = await backward(model, input, {});
    for (const v of values(none)) expect(v.every((x) => x === 0)).toBe(true);
    expect(Object.keys(none.weights)).toEqual(Object.keys(model.stateDict()));
  });

  it('leaves every tensor it was given as it was', async () => {
    const model = await make();
    const upstream = upstreamOf(40);
    const before = [input, ...Object.values(upstream)].map((t) => [...t.data]);
    await backward(model, input, upstream, [5, 1, 4]);
    expect([input, ...Object.values(upstream)].map((t) => [...t.data])).toEqual(before);
  });

  it('a rejected call leaves the model as it was', async () => {
    const model = await make();
    const weights = model.stateDict();
    const want = await model.forward(input);
    const upstream = upstreamOf(50);
    await expect(backward(model, input, { ...upstream, hN: tensor([4, N, Hout + 1], 1) })).rejects.toMatchObject({ code: 'shape' });
    await expect(backward(model, input, { ...upstream, output: tensor([L, N, 2 * Hout], 1) })).rejects.toBeInstanceOf(RnnError);
    await expect(backward(model, input, upstream, [0, 1, 2])).rejects.toMatchObject({ code: 'lengths' });
    expect(await model.forward(input)).toEqual(want);
    expect(model.stateDict()).toEqual(weights);
    model.dispose();
    await expect(backward(model, input, upstream)).rejects.toMatchObject({ code: 'disposed' });
  });

  it('loadStateDict replaces the weights in place: forward and backward then equal a model built with them', async () => {
    const model = await make();
    const other = await make(Object.fromEntries(Object.entries(model.stateDict()).map(([k, t]) => [k, { data: t.data.map((v) => v * 0.5 + 0.01), shape: t.shape }])));
    const next = other.stateDict();
    await model.loadStateDict(next);
    const upstream = upstreamOf(60);
    expect(await model.forward(input)).toEqual(await other.forward(input));
    expect(values(await backward(model, input, upstream))).toEqual(values(await backward(other, input, upstream)));
    expect(model.stateDict()).toEqual(next);
    // The model copied them: changing the caller's tensors afterwards changes nothing.
    for (const t of Object.values(next)) t.data.fill(3);
    expect(await model.forward(input)).toEqual(await other.forward(input));
  });
});

describe('stats(): the memory a backward keeps', () => {
  it('backwardBytes follows the README formula, per live model, and goes back to 0 when the model is disposed', async () => {
    const backend = await createBackend();
    // LSTM, proj_size: G = 4, S = 5; 2 layers, bidirectional; L·N rows = 15.
    const config: LstmConfig = { inputSize: I, hiddenSize: 6, projSize: 3, numLayers: 2, bidirectional: true };
    const lstm = await createLstm(config, initStateDict(config, 4, 'lstm'), backend);
    expect(backend.stats!()).toEqual({ models: 1, backwardBytes: 0 });
    await lstm.backward(tensor([L, N, I], 1), undefined, { output: tensor([L, N, 6], 2) });
    const rows = L * N, D = 2, H = 6, P = 3, G = 4, S = 5;
    const perLayer = rows * D * (P + S * H + H); // h_{t-1}, the cell's saved values, h before the projection
    const kept = 2 * perLayer + rows * D * P; // and the layer-0 output (layer 1's input)
    const layerScratch = (inputSize: number) => rows * D * G * H + rows * D * P + rows * inputSize; // dgates, dh_t, dx
    expect(backend.stats!()).toEqual({ models: 1, backwardBytes: 4 * (kept + Math.max(layerScratch(I), layerScratch(D * P))) });
    lstm.dispose();
    expect(backend.stats!()).toEqual({ models: 0, backwardBytes: 0 });
  });
});
