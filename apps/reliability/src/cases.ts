import { initStateDict, randomTensorData, seededRandom, type RnnConfig, type StateDict, type Tensor } from '@recurrent/core';

export type Random = ReturnType<typeof seededRandom>;

export const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
export const int = (random: Random, lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));

/** A small valid call: config, weights, input, h0, lengths, all consistent. */
export interface ValidCall {
  config: RnnConfig;
  weights: StateDict;
  input: Tensor;
  h0?: Tensor;
  lengths?: number[];
}

export function randomValidCall(seed: number): ValidCall {
  const random = seededRandom(seed);
  const config: RnnConfig = {
    inputSize: int(random, 1, 6),
    hiddenSize: int(random, 1, 8),
    numLayers: int(random, 1, 3),
    nonlinearity: pick(random, ['tanh', 'relu'] as const),
    bias: random() < 0.7,
    batchFirst: random() < 0.5,
    bidirectional: random() < 0.5,
  };
  const D = config.bidirectional ? 2 : 1;
  const L = int(random, 1, 6);
  const N = int(random, 1, 4);
  const I = config.inputSize;
  const H = config.hiddenSize;
  const stateRows = D * config.numLayers!;
  return {
    config,
    weights: initStateDict(config, seed),
    input: { data: randomTensorData(L * N * I, seed + 1), shape: config.batchFirst ? [N, L, I] : [L, N, I] },
    h0: random() < 0.5 ? { data: randomTensorData(stateRows * N * H, seed + 2), shape: [stateRows, N, H] } : undefined,
    lengths: random() < 0.5 ? Array.from({ length: N }, () => int(random, 1, L)) : undefined,
  };
}
