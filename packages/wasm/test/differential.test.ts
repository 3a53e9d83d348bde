import { createRnn, initStateDict, randomTensorData, seededRandom, type RnnConfig, type Tensor } from '@recurrent/core';
import { createBackend as createCpuBackend } from '@recurrent/cpu';
import { naiveRnnForward } from '@recurrent/cpu/naive';
import { describe, expect, it } from 'vitest';
import { createBackend, type WasmBackend } from '../src/index.js';

interface Case {
  config: RnnConfig;
  L: number;
  /** undefined for unbatched input. */
  N: number | undefined;
  withH0: boolean;
  lengths: number[] | undefined;
}

/** Seeded random configurations: every option, sizes on and off the 4-row and 8-column blocks. */
function randomCases(count: number, seed: number): Case[] {
  const random = seededRandom(seed);
  const pick = <T>(values: T[]): T => values[Math.floor(random() * values.length)]!;
  const cases: Case[] = [];
  for (let i = 0; i < count; i++) {
    const config: RnnConfig = {
      inputSize: pick([1, 3, 8, 13, 32, 41]),
      hiddenSize: pick([1, 2, 7, 8, 9, 16, 24, 33]),
      numLayers: pick([1, 1, 2, 3]),
      nonlinearity: pick(['tanh', 'tanh', 'relu']),
      bias: pick([true, true, false]),
      batchFirst: pick([false, true]),
      bidirectional: pick([false, true]),
    };
    const L = pick([1, 2, 5, 11]);
    const N = pick([undefined, 1, 3, 4, 5, 9]);
    const lengths = N !== undefined && random() < 0.4 ? Array.from({ length: N }, () => 1 + Math.floor(random() * L)) : undefined;
    cases.push({ config, L, N, withH0: random() < 0.5, lengths });
  }
  return cases;
}

function inputsFor({ config, L, N, withH0 }: Case, seed: number): { input: Tensor; h0: Tensor | undefined } {
  const I = config.inputSize;
  const H = config.hiddenSize;
  const rows = (config.bidirectional ? 2 : 1) * (config.numLayers ?? 1);
  const batch = N ?? 1;
  const shape = N === undefined ? [L, I] : config.batchFirst ? [N, L, I] : [L, N, I];
  const input = { data: randomTensorData(L * batch * I, seed, 2), shape };
  const h0 = withH0 ? { data: randomTensorData(rows * batch * H, seed + 1), shape: N === undefined ? [rows, H] : [rows, N, H] } : undefined;
  return { input, h0 };
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
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

  it.each(randomCases(60, variant.source.length).map((c, i) => ({ ...c, name: `#${i} ${JSON.stringify(c.config)} L=${c.L} N=${c.N} h0=${c.withH0} lengths=${c.lengths}` })))(
    'matches @recurrent/cpu: $name',
    async (c) => {
      const cpu = await createCpuBackend();
      const weights = initStateDict(c.config, c.L * 7 + (c.N ?? 0));
      const { input, h0 } = inputsFor(c, c.L + 100);
      const options = c.lengths ? { lengths: c.lengths } : undefined;
      const ours = await (await createRnn(c.config, weights, wasm)).forward(input, h0, options);
      const reference = await (await createRnn(c.config, weights, cpu)).forward(input, h0, options);
      expect(ours.output.shape).toEqual(reference.output.shape);
      expect(ours.hN.shape).toEqual(reference.hN.shape);
      expect(maxDifference(ours.output.data, reference.output.data)).toBeLessThan(TOLERANCE);
      expect(maxDifference(ours.hN.data, reference.hN.data)).toBeLessThan(TOLERANCE);
    },
  );

  it('matches the textbook loop on a bidirectional 2-layer model with lengths, sizes past one block', async () => {
    const config: RnnConfig = { inputSize: 70, hiddenSize: 45, numLayers: 2, bidirectional: true, batchFirst: true };
    const weights = initStateDict(config, 5);
    const c: Case = { config, L: 13, N: 7, withH0: true, lengths: [13, 1, 7, 13, 2, 9, 4] };
    const { input, h0 } = inputsFor(c, 9);
    const ours = await (await createRnn(config, weights, wasm)).forward(input, h0, { lengths: c.lengths! });
    const reference = naiveRnnForward(config, weights, input, h0, c.lengths);
    expect(maxDifference(ours.output.data, reference.output.data)).toBeLessThan(TOLERANCE);
    expect(maxDifference(ours.hN.data, reference.hN.data)).toBeLessThan(TOLERANCE);
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

  it('gives zeros past each length and h_n from each sequence\'s last valid step', async () => {
    const config: RnnConfig = { inputSize: 3, hiddenSize: 5, bidirectional: true };
    const weights = initStateDict(config, 2);
    const lengths = [2, 4, 1];
    const { input } = inputsFor({ config, L: 4, N: 3, withH0: false, lengths }, 4);
    const { output, hN } = await (await createRnn(config, weights, wasm)).forward(input, undefined, { lengths });
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
