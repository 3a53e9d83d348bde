import { resolveConfig } from './config.js';
import type { GruConfig, LstmConfig, Mode, RnnConfig, StateDict } from './types.js';
import { parameterShapes } from './weights.js';

/** mulberry32: a small, fast, well-mixed 32-bit generator. Same seed, same numbers, everywhere. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A state dict initialised the way nn.RNN, nn.LSTM and nn.GRU initialise themselves, U(−1/√H, 1/√H)
 * for every parameter, from a seed (the numbers are not torch.manual_seed's: this is for demos and
 * benchmarks).
 */
export function initStateDict(config: RnnConfig | LstmConfig | GruConfig, seed = 0, mode: Mode = 'rnn'): StateDict {
  const resolved = resolveConfig(config, mode);
  const bound = 1 / Math.sqrt(resolved.hiddenSize);
  const random = seededRandom(seed);
  const weights: StateDict = {};
  for (const [name, shape] of parameterShapes(resolved)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = (random() * 2 - 1) * bound;
    weights[name] = { data, shape };
  }
  return weights;
}

/** Seeded uniform values in [-scale, scale), for inputs in tests, demos and benchmarks. */
export function randomTensorData(count: number, seed: number, scale = 1): Float32Array {
  const random = seededRandom(seed);
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = (random() * 2 - 1) * scale;
  return data;
}
