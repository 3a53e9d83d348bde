import { createRnn, initStateDict, randomTensorData, seededRandom, type RnnConfig, type Tensor } from '@recurrent/core';
import { describe, expect, it } from 'vitest';
import { createBackend } from '../src/index.js';
import { naiveRnnForward } from '../src/naive.js';

/** One seeded random case covering every option: the seed alone reproduces it. */
function randomCase(seed: number) {
  const random = seededRandom(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const config: RnnConfig = {
    inputSize: int(1, 9),
    hiddenSize: int(1, 13),
    numLayers: int(1, 3),
    nonlinearity: random() < 0.5 ? 'tanh' : 'relu',
    bias: random() < 0.75,
    batchFirst: random() < 0.5,
    bidirectional: random() < 0.5,
  };
  const D = config.bidirectional ? 2 : 1;
  const L = int(1, 9);
  const unbatched = random() < 0.15;
  const N = unbatched ? 1 : int(1, 6);
  const shape = unbatched ? [L, config.inputSize] : config.batchFirst ? [N, L, config.inputSize] : [L, N, config.inputSize];
  const input: Tensor = { data: randomTensorData(N * L * config.inputSize, seed + 1, 2), shape };
  const h0: Tensor | undefined = random() < 0.5
    ? { data: randomTensorData(D * config.numLayers! * N * config.hiddenSize, seed + 2), shape: unbatched ? [D * config.numLayers!, config.hiddenSize] : [D * config.numLayers!, N, config.hiddenSize] }
    : undefined;
  const lengths = !unbatched && random() < 0.4 ? Array.from({ length: N }, () => int(1, L)) : undefined;
  return { config, weights: initStateDict(config, seed + 3), input, h0, lengths };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

describe('@recurrent/cpu against the textbook loop', () => {
  const CASES = 240;
  it(`agrees with naiveRnnForward on ${CASES} seeded random configurations covering every option`, async () => {
    const backend = await createBackend();
    const covered = new Set<string>();
    for (let seed = 1; seed <= CASES; seed++) {
      const { config, weights, input, h0, lengths } = randomCase(seed);
      const rnn = await createRnn(config, weights, backend);
      const actual = await rnn.forward(input, h0, lengths ? { lengths } : undefined);
      const expected = naiveRnnForward(config, weights, input, h0, lengths);
      const context = `seed ${seed}: ${JSON.stringify({ config, shape: input.shape, h0: !!h0, lengths })}`;
      expect(actual.output.shape, context).toEqual(expected.output.shape);
      expect(actual.hN.shape, context).toEqual(expected.hN.shape);
      // Both sum in float64; they differ only by float32 rounding of intermediate states.
      expect(maxAbsDiff(actual.output.data, expected.output.data), context).toBeLessThan(1e-5);
      expect(maxAbsDiff(actual.hN.data, expected.hN.data), context).toBeLessThan(1e-5);
      rnn.dispose();
      for (const [key, value] of Object.entries(config)) covered.add(`${key}=${value}`);
      covered.add(input.shape.length === 2 ? 'unbatched' : 'batched');
      covered.add(h0 ? 'h0' : 'no h0');
      covered.add(lengths ? 'lengths' : 'full length');
    }
    for (const option of ['numLayers=3', 'nonlinearity=relu', 'nonlinearity=tanh', 'bias=false', 'bias=true', 'batchFirst=true', 'bidirectional=true', 'unbatched', 'h0', 'no h0', 'lengths']) {
      expect(covered, `no case covered ${option}`).toContain(option);
    }
  });
});
