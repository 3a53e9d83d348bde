import { readFileSync } from 'node:fs';
import {
  createGru, createLstm, createRnn, initStateDict, randomTensorData, readSafetensors, type ForwardResult, type GruConfig, type LstmConfig, type RnnConfig, type Tensor,
} from '@recurrent/core';
import { describe, expect, it } from 'vitest';
import { createBackend } from '../src/index.js';

/** A 1-unit-input, 2-unit RNN whose numbers are easy to follow by hand. */
const config: RnnConfig = { inputSize: 1, hiddenSize: 2, bidirectional: true, bias: false };
const weights = {
  weight_ih_l0: { data: Float32Array.from([0.5, -0.25]), shape: [2, 1] },
  weight_hh_l0: { data: Float32Array.from([0.1, 0.2, -0.3, 0.4]), shape: [2, 2] },
  weight_ih_l0_reverse: { data: Float32Array.from([0.3, 0.7]), shape: [2, 1] },
  weight_hh_l0_reverse: { data: Float32Array.from([-0.2, 0.1, 0.5, 0.3]), shape: [2, 2] },
};

const lstmConfig: LstmConfig = { inputSize: 1, hiddenSize: 2, bidirectional: true };
const projectedConfig: LstmConfig = { inputSize: 1, hiddenSize: 3, projSize: 2, bidirectional: true };
const gruConfig: GruConfig = { inputSize: 1, hiddenSize: 2, bidirectional: true };
const lengthsOption = (lengths?: number[]) => (lengths ? { lengths } : undefined);

/** Every module behind one forward(input, lengths), each with h of width Hout = 2. */
const MODULES: { name: string; Hout: number; run: (input: Tensor, lengths?: number[]) => Promise<ForwardResult & { cN?: Tensor }> }[] = [
  { name: 'nn.RNN', Hout: 2, run: async (input, lengths) => (await createRnn(config, weights, await createBackend())).forward(input, undefined, lengthsOption(lengths)) },
  { name: 'nn.LSTM', Hout: 2, run: async (input, lengths) => (await createLstm(lstmConfig, initStateDict(lstmConfig, 5, 'lstm'), await createBackend())).forward(input, undefined, lengthsOption(lengths)) },
  { name: 'nn.LSTM with proj_size', Hout: 2, run: async (input, lengths) => (await createLstm(projectedConfig, initStateDict(projectedConfig, 6, 'lstm'), await createBackend())).forward(input, undefined, lengthsOption(lengths)) },
  { name: 'nn.GRU', Hout: 2, run: async (input, lengths) => (await createGru(gruConfig, initStateDict(gruConfig, 7, 'gru'), await createBackend())).forward(input, undefined, lengthsOption(lengths)) },
];

describe.each(MODULES)('$name: variable lengths (pack_padded_sequence semantics)', ({ Hout: H, run }) => {
  // Batch of 2, L = 4: element 0 runs all 4 steps, element 1 only its first 2.
  const x = [1, 2, 3, 4]; // element 0
  const y = [5, 6, 9, 9]; // element 1: two real steps, then padding that must be ignored
  const batch: Tensor = { data: Float32Array.from(x.flatMap((v, t) => [v, y[t]!])), shape: [4, 2, 1] };
  const rows = (data: Float32Array, from: number, count: number) => [...data.subarray(from, from + count)];

  it('outputs past a length are zero, in both directions', async () => {
    const { output } = await run(batch, [4, 2]);
    for (const t of [2, 3]) expect(rows(output.data, (t * 2 + 1) * 2 * H, 2 * H)).toEqual([0, 0, 0, 0]);
  });

  it("equals running each sequence alone, trimmed to its length (the reverse direction starts at each sequence's last valid step)", async () => {
    const packed = await run(batch, [4, 2]);
    const alone = await run({ data: Float32Array.from([5, 6]), shape: [2, 1, 1] });
    for (let t = 0; t < 2; t++) expect(rows(packed.output.data, (t * 2 + 1) * 2 * H, 2 * H)).toEqual(rows(alone.output.data, t * 2 * H, 2 * H));
    // Padding would change the reverse direction if it started at step L−1 instead of len−1.
    const unpacked = await run(batch);
    expect(rows(unpacked.output.data, (0 * 2 + 1) * 2 * H + H, H)).not.toEqual(rows(alone.output.data, H, H));
  });

  it("h_n holds each sequence's last valid state: step len−1 forward, step 0 reverse", async () => {
    const { output, hN } = await run(batch, [4, 2]);
    const at = (t: number, b: number, d: number) => rows(output.data, (t * 2 + b) * 2 * H + d * H, H);
    expect(rows(hN.data, 0, H)).toEqual(at(3, 0, 0)); // forward, element 0
    expect(rows(hN.data, H, H)).toEqual(at(1, 1, 0)); // forward, element 1: its step 1
    expect(rows(hN.data, 2 * H, H)).toEqual(at(0, 0, 1)); // reverse ends at step 0
    expect(rows(hN.data, 3 * H, H)).toEqual(at(0, 1, 1));
  });

  it('does not depend on the order of the batch (enforce_sorted=False)', async () => {
    const swapped: Tensor = { data: Float32Array.from(x.flatMap((v, t) => [y[t]!, v])), shape: [4, 2, 1] };
    const a = await run(batch, [4, 2]);
    const b = await run(swapped, [2, 4]);
    expect(rows(b.hN.data, 0, H)).toEqual(rows(a.hN.data, H, H));
    expect(rows(b.hN.data, 3 * H, H)).toEqual(rows(a.hN.data, 2 * H, H));
  });
});

describe.each(MODULES.filter(({ name }) => name.startsWith('nn.LSTM')))('$name: c_n with variable lengths', ({ run }) => {
  it("c_n holds each sequence's last valid cell state, in both directions", async () => {
    const batch: Tensor = { data: Float32Array.from([1, 5, 2, 6, 3, 9, 4, 9]), shape: [4, 2, 1] };
    const packed = await run(batch, [4, 2]);
    const alone = await run({ data: Float32Array.from([5, 6]), shape: [2, 1, 1] });
    const width = packed.cN!.shape[2]!;
    const rows = (data: Float32Array, from: number) => [...data.subarray(from, from + width)];
    for (const d of [0, 1]) expect(rows(packed.cN!.data, (d * 2 + 1) * width)).toEqual(rows(alone.cN!.data, d * width));
  });
});

describe('nn.LSTM', () => {
  const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
  const tensor = (values: number[], shape: number[]): Tensor => ({ data: Float32Array.from(values), shape });

  it('one step is c = σ(f)⊙c0 + σ(i)⊙tanh(g), h = σ(o)⊙tanh(c), gates in the order i, f, g, o', async () => {
    const W_ih = [0.5, -1, 2, 0.25];
    const W_hh = [0.1, 0.2, 0.3, 0.4];
    const lstm = await createLstm({ inputSize: 1, hiddenSize: 1, bias: false }, {
      weight_ih_l0: tensor(W_ih, [4, 1]),
      weight_hh_l0: tensor(W_hh, [4, 1]),
    }, await createBackend());
    const [x, h0, c0] = [0.8, 0.5, -0.3];
    const { hN, cN } = await lstm.forward(tensor([x], [1, 1, 1]), [tensor([h0], [1, 1, 1]), tensor([c0], [1, 1, 1])]);
    const [i, f, g, o] = W_ih.map((w, k) => w * x + W_hh[k]! * h0);
    const c = sigmoid(f!) * c0 + sigmoid(i!) * Math.tanh(g!);
    expect(cN.data[0]).toBeCloseTo(c, 6);
    expect(hN.data[0]).toBeCloseTo(sigmoid(o!) * Math.tanh(c), 6);
  });

  it('with proj_size, h is W_hr·(σ(o)⊙tanh(c)) while c_n stays the unprojected cell state', async () => {
    const config: LstmConfig = { inputSize: 1, hiddenSize: 2, projSize: 1, bias: false };
    const weights = initStateDict(config, 11, 'lstm');
    const lstm = await createLstm(config, weights, await createBackend());
    const { hN, cN } = await lstm.forward(tensor([0.7], [1, 1, 1]));
    const W_io = weights.weight_ih_l0!.data.subarray(6, 8); // gate o of both units (h0 = 0)
    const W_hr = weights.weight_hr_l0!.data;
    const h = W_hr[0]! * sigmoid(W_io[0]! * 0.7) * Math.tanh(cN.data[0]!) + W_hr[1]! * sigmoid(W_io[1]! * 0.7) * Math.tanh(cN.data[1]!);
    expect(cN.shape).toEqual([1, 1, 2]);
    expect(hN.shape).toEqual([1, 1, 1]);
    expect(hN.data[0]).toBeCloseTo(h, 6);
  });

  it.each([
    { batchFirst: false, batched: true },
    { batchFirst: true, batched: true },
    { batchFirst: false, batched: false },
  ])('proj_size shapes (batchFirst $batchFirst, batched $batched): output D·P wide, h_n P wide, c_n H wide, layer 1 reads D·P', async ({ batchFirst, batched }) => {
    const config: LstmConfig = { inputSize: 3, hiddenSize: 5, projSize: 2, numLayers: 2, bidirectional: true, batchFirst };
    const weights = initStateDict(config, 12, 'lstm');
    expect(weights.weight_ih_l1!.shape).toEqual([20, 4]);
    const lstm = await createLstm(config, weights, await createBackend());
    const [L, N] = [4, 3];
    const shape = !batched ? [L, 3] : batchFirst ? [N, L, 3] : [L, N, 3];
    const { output, hN, cN } = await lstm.forward({ data: new Float32Array(shape.reduce((a, b) => a * b)).fill(0.5), shape });
    expect(output.shape).toEqual(!batched ? [L, 4] : batchFirst ? [N, L, 4] : [L, N, 4]);
    expect(hN.shape).toEqual(batched ? [4, N, 2] : [4, 2]);
    expect(cN.shape).toEqual(batched ? [4, N, 5] : [4, 5]);
  });
});

describe('nn.GRU', () => {
  it('b_hn sits inside r⊙(…): a closed reset gate removes it, where folding it into the projection would not', async () => {
    // H = I = 1, x = 0, h0 = 0: r = σ(b_ir + b_hr) = σ(−100) = 0, z = σ(0) = ½, n = tanh(b_in + r·b_hn) = tanh(0.3).
    const tensor = (values: number[], shape: number[]): Tensor => ({ data: Float32Array.from(values), shape });
    const gru = await createGru({ inputSize: 1, hiddenSize: 1 }, {
      weight_ih_l0: tensor([0, 0, 0], [3, 1]),
      weight_hh_l0: tensor([0, 0, 0], [3, 1]),
      bias_ih_l0: tensor([-100, 0, 0.3], [3]),
      bias_hh_l0: tensor([0, 0, 5], [3]),
    }, await createBackend());
    const { hN } = await gru.forward(tensor([0], [1, 1]));
    expect(hN.data[0]).toBeCloseTo(0.5 * Math.tanh(0.3), 7);
  });
});

describe.each([
  { name: 'nn.LSTM', create: createLstm, mode: 'lstm' as const },
  { name: 'nn.GRU', create: createGru, mode: 'gru' as const },
])('$name: streaming', ({ create, mode }) => {
  it('pushing the sequence in chunks carries h (and c) and equals one forward over it', async () => {
    const config = { inputSize: 3, hiddenSize: 4, numLayers: 2 };
    const model = await create(config, initStateDict(config, 21, mode), await createBackend());
    const [L, N] = [6, 2];
    const input: Tensor = { data: randomTensorData(L * N * 3, 22), shape: [L, N, 3] };
    const whole: ForwardResult & { cN?: Tensor } = await model.forward(input);
    const stream = model.stream();
    const outputs: number[] = [];
    let last: (ForwardResult & { cN?: Tensor }) | undefined;
    for (const [from, to] of [[0, 2], [2, 3], [3, 6]] as const) {
      last = await stream.push({ data: input.data.slice(from * N * 3, to * N * 3), shape: [to - from, N, 3] });
      outputs.push(...last.output.data);
    }
    stream.dispose();
    expect(outputs).toEqual([...whole.output.data]);
    expect([...last!.hN.data]).toEqual([...whole.hN.data]);
    if (mode === 'lstm') expect([...last!.cN!.data]).toEqual([...whole.cN!.data]);
  });
});

describe('saturation and non-finite values', () => {
  const big: Tensor = { data: Float32Array.from([1e30, -1e30, 1e30, -1e30]), shape: [4, 1, 1] };
  it.each(MODULES)('$name: huge pre-activations saturate σ and tanh to 0 or ±1, never NaN', async ({ run }) => {
    const { output, hN } = await run(big);
    expect([...output.data, ...hN.data].every(Number.isFinite)).toBe(true);
  });

  it.each(MODULES)('$name: NaN in one element propagates through its steps, not into other batch elements', async ({ run, Hout: H }) => {
    const input: Tensor = { data: Float32Array.from([NaN, 1, 2, 3, 4, 5, 6, 7]), shape: [4, 2, 1] };
    const { output } = await run(input);
    for (let t = 0; t < 4; t++) {
      const forwardOf = (b: number) => [...output.data.subarray((t * 2 + b) * 2 * H, (t * 2 + b) * 2 * H + H)];
      expect(forwardOf(0).every(Number.isNaN)).toBe(true);
      expect(forwardOf(1).every(Number.isFinite)).toBe(true);
    }
  });
});

describe('a model trained in PyTorch', () => {
  it("loads its .safetensors state dict and reproduces PyTorch's output and h_n", async () => {
    const fixtures = new URL('../../core/test/fixtures/', import.meta.url);
    const expected = JSON.parse(readFileSync(new URL('rnn-expected.json', fixtures), 'utf8'));
    const weights = readSafetensors(readFileSync(new URL('rnn-f32.safetensors', fixtures)));
    const rnn = await createRnn(expected.config, weights, await createBackend());
    expect(rnn.backend).toBe('cpu');
    const { output, hN } = await rnn.forward({ data: Float32Array.from(expected.input.data), shape: expected.input.shape });
    expect(output.shape).toEqual(expected.output.shape);
    expect(hN.shape).toEqual(expected.hN.shape);
    output.data.forEach((v, i) => expect(Math.abs(v - expected.output.data[i])).toBeLessThan(2e-6));
    hN.data.forEach((v, i) => expect(Math.abs(v - expected.hN.data[i])).toBeLessThan(2e-6));
  });
});

describe.each([
  { name: 'nn.LSTM with proj_size', file: 'lstm', create: createLstm },
  { name: 'nn.GRU', file: 'gru', create: createGru },
])('$name trained in PyTorch', ({ file, create }) => {
  it("loads its .safetensors state dict and reproduces PyTorch's results over a padded batch with lengths", async () => {
    const fixtures = new URL('../examples/fixtures/', import.meta.url);
    const expected = JSON.parse(readFileSync(new URL(`${file}-expected.json`, fixtures), 'utf8'));
    const weights = readSafetensors(readFileSync(new URL(`${file}.safetensors`, fixtures)));
    const model = await create(expected.config, weights, await createBackend());
    const result: ForwardResult & { cN?: Tensor } = await model.forward({ data: Float32Array.from(expected.input.data), shape: expected.input.shape }, undefined, { lengths: expected.lengths });
    for (const key of ['output', 'hN', 'cN'] as const) {
      if (!(key in expected)) continue;
      expect(result[key]!.shape, key).toEqual(expected[key].shape);
      result[key]!.data.forEach((v, i) => expect(Math.abs(v - expected[key].data[i]), `${key}[${i}]`).toBeLessThan(2e-6));
    }
  });
});

describe('backend lifecycle', () => {
  it('a disposed backend refuses to build models', async () => {
    const backend = await createBackend();
    backend.dispose();
    await expect(createRnn(config, weights, backend)).rejects.toMatchObject({ code: 'disposed' });
  });
});
