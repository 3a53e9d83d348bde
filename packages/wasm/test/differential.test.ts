import {
  createGru, createLstm, createRnn, initStateDict, randomTensorData, seededRandom,
  type Backend, type GruConfig, type LstmConfig, type RnnConfig, type StateDict, type Tensor,
} from '@recurrent/core';
import { createBackend as createCpuBackend } from '@recurrent/cpu';
import { naiveGruForward, naiveLstmForward, naiveRnnForward } from '@recurrent/cpu/naive';
import { describe, expect, it } from 'vitest';
import { createBackend, type WasmBackend } from '../src/index.js';

type Mode = 'rnn' | 'lstm' | 'gru';
type Config = RnnConfig & LstmConfig & GruConfig;

interface Case {
  mode: Mode;
  config: Config;
  L: number;
  /** undefined for unbatched input. */
  N: number | undefined;
  withH0: boolean;
  lengths: number[] | undefined;
}

/** Seeded random configurations: every option, sizes on and off the 4-row and 8-column blocks. */
function randomCases(mode: Mode, count: number, seed: number): Case[] {
  const random = seededRandom(seed);
  const pick = <T>(values: T[]): T => values[Math.floor(random() * values.length)]!;
  const cases: Case[] = [];
  for (let i = 0; i < count; i++) {
    const hiddenSize = pick([1, 2, 7, 8, 9, 16, 24, 33]);
    const config: Config = {
      inputSize: pick([1, 3, 8, 13, 32, 41]),
      hiddenSize,
      numLayers: pick([1, 1, 2, 3]),
      bias: pick([true, true, false]),
      batchFirst: pick([false, true]),
      bidirectional: pick([false, true]),
    };
    if (mode === 'rnn') config.nonlinearity = pick(['tanh', 'tanh', 'relu']);
    if (mode === 'lstm' && hiddenSize > 1 && random() < 0.4) config.projSize = 1 + Math.floor(random() * (hiddenSize - 1));
    const L = pick([1, 2, 5, 11]);
    const N = pick([undefined, 1, 3, 4, 5, 9]);
    const lengths = N !== undefined && random() < 0.4 ? Array.from({ length: N }, () => 1 + Math.floor(random() * L)) : undefined;
    cases.push({ mode, config, L, N, withH0: random() < 0.5, lengths });
  }
  return cases;
}

type Inputs = { input: Tensor; h0: Tensor | undefined; c0: Tensor | undefined };

function inputsFor({ mode, config, L, N, withH0 }: Case, seed: number): Inputs {
  const I = config.inputSize;
  const H = config.hiddenSize;
  const P = config.projSize || H;
  const rows = (config.bidirectional ? 2 : 1) * (config.numLayers ?? 1);
  const batch = N ?? 1;
  const shape = N === undefined ? [L, I] : config.batchFirst ? [N, L, I] : [L, N, I];
  const input = { data: randomTensorData(L * batch * I, seed, 2), shape };
  const state = (width: number, offset: number): Tensor => ({ data: randomTensorData(rows * batch * width, seed + offset), shape: N === undefined ? [rows, width] : [rows, N, width] });
  return { input, h0: withH0 ? state(P, 1) : undefined, c0: withH0 && mode === 'lstm' ? state(H, 2) : undefined };
}

interface Outputs {
  output: Tensor;
  hN: Tensor;
  cN?: Tensor;
}

/** Builds the case's module on an engine and runs one forward. */
async function run(c: Case, weights: StateDict, backend: Backend, { input, h0, c0 }: Inputs): Promise<Outputs> {
  const options = c.lengths ? { lengths: c.lengths } : undefined;
  if (c.mode === 'lstm') return (await createLstm(c.config, weights, backend)).forward(input, h0 && c0 ? [h0, c0] : undefined, options);
  if (c.mode === 'gru') return (await createGru(c.config, weights, backend)).forward(input, h0, options);
  return (await createRnn(c.config, weights, backend)).forward(input, h0, options);
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

function expectClose(ours: Outputs, reference: Outputs, tolerance: number): void {
  expect(ours.output.shape).toEqual(reference.output.shape);
  expect(ours.hN.shape).toEqual(reference.hN.shape);
  expect(maxDifference(ours.output.data, reference.output.data)).toBeLessThan(tolerance);
  expect(maxDifference(ours.hN.data, reference.hN.data)).toBeLessThan(tolerance);
  expect(ours.cN?.shape).toEqual(reference.cN?.shape);
  if (ours.cN && reference.cN) expect(maxDifference(ours.cN.data, reference.cN.data)).toBeLessThan(tolerance);
}

// The sums run in float32 here and in float64 on the CPU engine; 64 terms or fewer per sum in these cases.
const TOLERANCE = 2e-5;

// Both builds of the kernels: plain SIMD single-threaded, and what 'auto' picks in this vitest run
// (relaxed SIMD, the flag being on, with threads; steps this small run on one thread).
describe.each([
  { options: { relaxedSimd: false, threads: 1 }, variant: /^wasm-simd$/ },
  { options: {}, variant: /^wasm-relaxed-simd-threads-\d+$/ },
] as const)('$variant', ({ options, variant }) => {
  let wasm: WasmBackend;

  it(`runs as ${variant}`, async () => {
    wasm = await createBackend(options);
    expect(wasm.variant).toMatch(variant);
  });

  const cases = (['rnn', 'lstm', 'gru'] as const).flatMap((mode, m) => randomCases(mode, mode === 'rnn' ? 60 : 40, variant.source.length + 1000 * m));
  it.each(cases.map((c, i) => ({ ...c, name: `#${i} ${c.mode} ${JSON.stringify(c.config)} L=${c.L} N=${c.N} h0=${c.withH0} lengths=${c.lengths}` })))(
    'matches @recurrent/cpu: $name',
    async (c) => {
      const weights = initStateDict(c.config, c.L * 7 + (c.N ?? 0), c.mode);
      const inputs = inputsFor(c, c.L + 100);
      expectClose(await run(c, weights, wasm, inputs), await run(c, weights, await createCpuBackend(), inputs), TOLERANCE);
    },
  );

  it.each(['rnn', 'lstm', 'gru'] as const)('%s matches the textbook loop on a bidirectional 2-layer model with lengths, sizes past one block', async (mode) => {
    const config: Config = { inputSize: 70, hiddenSize: 45, numLayers: 2, bidirectional: true, batchFirst: true, ...(mode === 'lstm' ? { projSize: 19 } : {}) };
    const weights = initStateDict(config, 5, mode);
    const c: Case = { mode, config, L: 13, N: 7, withH0: true, lengths: [13, 1, 7, 13, 2, 9, 4] };
    const inputs = inputsFor(c, 9);
    const { input, h0, c0 } = inputs;
    const reference = mode === 'lstm'
      ? naiveLstmForward(config, weights, input, [h0!, c0!], c.lengths)
      : (mode === 'gru' ? naiveGruForward : naiveRnnForward)(config, weights, input, h0, c.lengths);
    expectClose(await run(c, weights, wasm, inputs), reference, TOLERANCE);
  });

  it('computes σ within 2.5e-7 of the exact value, exactly 0 and 1 past ±15.9, and keeps NaN', async () => {
    // A GRU with W_hh = 0, no bias, W_in = 0 and h0 = 1 gives n = 0 and h_1 = z = σ(W_iz · x).
    const values = [...Array.from({ length: 121 }, (_, i) => -30 + i / 2), -15.9, -15.8, -7.9, -1e-3, 1e-3, 7.9, 15.8, 15.9, 1e30, -1e30];
    const H = values.length;
    const config: GruConfig = { inputSize: 1, hiddenSize: H, bias: false };
    const weights = initStateDict(config, 1, 'gru');
    weights.weight_ih_l0!.data.fill(0).set(values, H);
    weights.weight_hh_l0!.data.fill(0);
    const gru = await createGru(config, weights, wasm);
    const h0 = { data: new Float32Array(H).fill(1), shape: [1, H] };
    const { output } = await gru.forward({ data: new Float32Array([1]), shape: [1, 1] }, h0);
    values.forEach((v, j) => {
      const exact = 1 / (1 + Math.exp(-Math.fround(v)));
      if (Math.abs(v) >= 15.9) expect(output.data[j]).toBe(v > 0 ? 1 : 0);
      else expect(Math.abs(output.data[j]! - exact)).toBeLessThan(2.5e-7);
    });
    const nan = await gru.forward({ data: new Float32Array([NaN]), shape: [1, 1] }, h0);
    expect(nan.output.data.every(Number.isNaN)).toBe(true);
  });

  it('LSTM: a saturated forget gate keeps c, and c_n is the cell state after each sequence\'s last step', async () => {
    // i = f = o = σ(40), exactly 1, and g = tanh(x_t): the cell state adds up tanh(x_t).
    const config: LstmConfig = { inputSize: 1, hiddenSize: 1 };
    const weights = initStateDict(config, 1, 'lstm');
    weights.weight_ih_l0!.data.set([0, 0, 1, 0]);
    weights.bias_ih_l0!.data.set([40, 40, 0, 40]);
    weights.bias_hh_l0!.data.fill(0);
    weights.weight_hh_l0!.data.fill(0);
    const lstm = await createLstm(config, weights, wasm);
    const x = [0.5, -0.25, 1, 2];
    const { cN, hN } = await lstm.forward({ data: Float32Array.from(x.flatMap((v) => [v, v])), shape: [4, 2, 1] }, [
      { data: new Float32Array(2), shape: [1, 2, 1] }, { data: Float32Array.from([0.125, -3]), shape: [1, 2, 1] },
    ], { lengths: [4, 2] });
    const sum = (n: number, c0: number): number => x.slice(0, n).reduce((c, v) => Math.fround(c + Math.fround(Math.tanh(v))), c0);
    expect(cN.data[0]).toBeCloseTo(sum(4, 0.125), 6);
    expect(cN.data[1]).toBeCloseTo(sum(2, -3), 6);
    expect(hN.data[1]).toBeCloseTo(Math.tanh(sum(2, -3)), 6);
  });

  it('saturates tanh to exactly ±1 and keeps relu at zero for negative sums', async () => {
    const config: RnnConfig = { inputSize: 1, hiddenSize: 4, bias: false };
    const weights = initStateDict(config, 1);
    weights.weight_ih_l0!.data.set([50, -50, 9, -9]);
    weights.weight_hh_l0!.data.fill(0);
    const out = await (await createRnn(config, weights, wasm)).forward({ data: new Float32Array([1]), shape: [1, 1] });
    expect(Array.from(out.output.data.subarray(0, 2))).toEqual([1, -1]);
    expect(Math.abs(out.output.data[2]! - Math.tanh(9))).toBeLessThan(1e-7);
    expect(Math.abs(out.output.data[3]! - Math.tanh(-9))).toBeLessThan(1e-7);
    const relu = await (await createRnn({ ...config, nonlinearity: 'relu' }, weights, wasm)).forward({ data: new Float32Array([1]), shape: [1, 1] });
    expect(Array.from(relu.output.data)).toEqual([50, 0, 9, 0]);
  });

  it.each(['rnn', 'lstm', 'gru'] as const)('%s gives zeros past each length and h_n from each sequence\'s last valid step', async (mode) => {
    const config: Config = { inputSize: 3, hiddenSize: 5, bidirectional: true };
    const weights = initStateDict(config, 2, mode);
    const lengths = [2, 4, 1];
    const c: Case = { mode, config, L: 4, N: 3, withH0: false, lengths };
    const { output, hN } = await run(c, weights, wasm, inputsFor(c, 4));
    for (let b = 0; b < 3; b++) {
      for (let t = lengths[b]!; t < 4; t++) {
        expect(Array.from(output.data.subarray((t * 3 + b) * 10, (t * 3 + b + 1) * 10))).toEqual(new Array(10).fill(0));
      }
      const last = (lengths[b]! - 1) * 3 + b;
      expect(Array.from(hN.data.subarray(b * 5, b * 5 + 5))).toEqual(Array.from(output.data.subarray(last * 10, last * 10 + 5)));
      // The reverse direction ends at step 0.
      expect(Array.from(hN.data.subarray((3 + b) * 5, (3 + b) * 5 + 5))).toEqual(Array.from(output.data.subarray(b * 10 + 5, b * 10 + 10)));
    }
  });
});
