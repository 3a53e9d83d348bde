import { initStateDict, randomTensorData, seededRandom, type Mode, type StateDict, type Tensor } from '@recurrent/core';
import { maxAbs } from './compare.js';
import type { CaseConfig } from './format.js';
import { moduleConfig } from './run.js';

/** One random configuration and its inputs, fully determined by `seed`. */
export interface FuzzCase {
  seed: number;
  config: CaseConfig;
  weights: StateDict;
  input: Tensor;
  h0: Tensor | undefined;
  /** LSTM only: given exactly when h0 is. */
  c0: Tensor | undefined;
  lengths: number[] | undefined;
  /** e.g. `lstm p3 bi l2 bf nobias h0 lengths=[…] I3 H7 L5 N4`. */
  summary: string;
}

/** What forward returned (c_n only from an LSTM). */
export interface FuzzResult {
  output: Tensor;
  hN: Tensor;
  cN?: Tensor | null;
}

/**
 * Differential check between two float32 engines: max |engine − reference| ≤ FUZZ_TOLERANCE · max(1, max |reference|).
 * Fuzz sizes are small (H ≤ 40, ≤ 3 layers, ≤ 9 steps): two correct float32 engines differ by a few ulps
 * (~1e-7); 1e-5 leaves a 100× margin and still catches any real bug (wrong weight, step or direction).
 */
export const FUZZ_TOLERANCE = 1e-5;

/**
 * A random nn.RNN, nn.LSTM (a third of them with proj_size) or nn.GRU call covering every option: 1–3
 * layers, uni/bi, batch_first, tanh/relu (RNN), bias, h0 (and c0), unbatched input, lengths (unsorted,
 * including 1 and the full length), sizes 1..40, some large inputs.
 */
export function fuzzCase(seed: number): FuzzCase {
  const random = seededRandom(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const chance = (p: number) => random() < p;
  const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)]!;

  const mode = pick<Mode>(['rnn', 'lstm', 'gru']);
  const inputSize = chance(0.1) ? pick([1, 17, 33]) : int(1, 9);
  const hiddenSize = chance(0.15) ? pick([1, 16, 17, 31, 40]) : int(1, 12);
  const config: CaseConfig = {
    mode,
    cell: false,
    inputSize,
    hiddenSize,
    numLayers: int(1, 3),
    nonlinearity: mode === 'rnn' && chance(0.5) ? 'relu' : 'tanh',
    bias: chance(0.75),
    batchFirst: chance(0.5),
    bidirectional: chance(0.5),
    projSize: mode === 'lstm' && hiddenSize > 1 && chance(0.35) ? int(1, hiddenSize - 1) : 0,
  };
  const unbatched = chance(0.2);
  const L = chance(0.1) ? 1 : int(1, 9);
  const N = unbatched ? 1 : int(1, 6);
  const D = config.bidirectional ? 2 : 1;
  const scale = chance(0.15) ? 8 : 1; // saturate tanh and σ now and then
  const I = config.inputSize;
  const H = config.hiddenSize;
  const H_out = config.projSize || H;
  const input: Tensor = {
    data: randomTensorData(L * N * I, seed ^ 0x5eed, scale),
    shape: unbatched ? [L, I] : config.batchFirst ? [N, L, I] : [L, N, I],
  };
  const withH0 = chance(0.5);
  const stateShape = (width: number) => (unbatched ? [D * config.numLayers, width] : [D * config.numLayers, N, width]);
  const h0 = withH0 ? { data: randomTensorData(D * config.numLayers * N * H_out, seed ^ 0xbeef, 0.8), shape: stateShape(H_out) } : undefined;
  const c0 = withH0 && mode === 'lstm' ? { data: randomTensorData(D * config.numLayers * N * H, seed ^ 0xce11, 1.5), shape: stateShape(H) } : undefined;
  let lengths: number[] | undefined;
  if (!unbatched && chance(0.4)) {
    lengths = Array.from({ length: N }, () => int(1, L));
    lengths[int(0, N - 1)] = chance(0.5) ? L : 1; // the extremes show up often
  }
  const summary = [
    mode,
    config.projSize > 0 ? `p${config.projSize}` : '',
    config.bidirectional ? 'bi' : 'uni',
    `l${config.numLayers}`,
    unbatched ? 'unbatched' : config.batchFirst ? 'bf' : 'tm',
    mode === 'rnn' ? config.nonlinearity : '',
    config.bias ? 'bias' : 'nobias',
    withH0 ? 'h0' : 'zero-h0',
    lengths ? `lengths=[${lengths.join(',')}]` : '',
    `I${I} H${H} L${L}${unbatched ? '' : ` N${N}`}${scale > 1 ? ` x${scale}` : ''}`,
  ].filter(Boolean).join(' ');
  return { seed, config, weights: initStateDict(moduleConfig(config), seed, mode), input, h0, c0, lengths, summary };
}

/** Compares an engine's result with the reference engine's (output, h_n, and c_n when the reference has one); returns what is wrong, or null. */
export function compareWithReference(got: FuzzResult, want: FuzzResult): { maxError: number; problem: string | null } {
  const keys = want.cN ? (['output', 'hN', 'cN'] as const) : (['output', 'hN'] as const);
  for (const key of keys) {
    if (!got[key]) return { maxError: NaN, problem: `${key} is missing` };
    const a = got[key].shape;
    const b = want[key]!.shape;
    if (a.length !== b.length || a.some((d, i) => d !== b[i])) {
      return { maxError: NaN, problem: `${key} has shape [${a.join(', ')}], the reference's is [${b.join(', ')}]` };
    }
  }
  let maxError = 0;
  for (const key of keys) {
    const a = got[key]!.data;
    const b = want[key]!.data;
    for (let i = 0; i < b.length; i++) {
      const d = Math.abs(a[i]! - b[i]!);
      if (Number.isNaN(d)) return { maxError: NaN, problem: `${key}[${i}] is ${a[i]}, the reference's is ${b[i]}` };
      if (d > maxError) maxError = d;
    }
  }
  const bound = FUZZ_TOLERANCE * Math.max(1, maxAbs(want.output.data), maxAbs(want.hN.data), want.cN ? maxAbs(want.cN.data) : 0);
  if (!(maxError <= bound)) {
    return { maxError, problem: `max |engine − reference| = ${maxError.toExponential(3)} exceeds ${bound.toExponential(3)}` };
  }
  return { maxError, problem: null };
}
