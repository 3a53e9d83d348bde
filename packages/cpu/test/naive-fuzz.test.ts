import {
  createGru, createLstm, createRnn, initStateDict, randomTensorData, seededRandom,
  type Backend, type ForwardResult, type LstmConfig, type LstmResult, type Mode, type RnnConfig, type StateDict, type Tensor,
} from '@recurrent/core';
import { describe, expect, it } from 'vitest';
import { createBackend } from '../src/index.js';
import { naiveGruForward, naiveLstmForward, naiveRnnForward } from '../src/naive.js';

type AnyConfig = RnnConfig & LstmConfig;
interface Case { config: AnyConfig; weights: StateDict; input: Tensor; h0?: Tensor; c0?: Tensor; lengths?: number[] }

/** One module's engine forward and textbook forward behind one signature. */
const MODULES: Record<Mode, {
  engine: (c: Case, backend: Backend) => Promise<ForwardResult | LstmResult>;
  textbook: (c: Case) => ForwardResult | LstmResult;
}> = {
  rnn: {
    engine: async (c, backend) => (await createRnn(c.config, c.weights, backend)).forward(c.input, c.h0, c.lengths && { lengths: c.lengths }),
    textbook: (c) => naiveRnnForward(c.config, c.weights, c.input, c.h0, c.lengths),
  },
  lstm: {
    engine: async (c, backend) => (await createLstm(c.config, c.weights, backend)).forward(c.input, c.h0 && [c.h0, c.c0!], c.lengths && { lengths: c.lengths }),
    textbook: (c) => naiveLstmForward(c.config, c.weights, c.input, c.h0 && [c.h0, c.c0!], c.lengths),
  },
  gru: {
    engine: async (c, backend) => (await createGru(c.config, c.weights, backend)).forward(c.input, c.h0, c.lengths && { lengths: c.lengths }),
    textbook: (c) => naiveGruForward(c.config, c.weights, c.input, c.h0, c.lengths),
  },
};

/** One seeded random case covering every option of the module: the seed alone reproduces it. */
function randomCase(mode: Mode, seed: number): Case {
  const random = seededRandom(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const hiddenSize = int(1, 13);
  const config: AnyConfig = {
    inputSize: int(1, 9),
    hiddenSize,
    numLayers: int(1, 3),
    bias: random() < 0.75,
    batchFirst: random() < 0.5,
    bidirectional: random() < 0.5,
    ...(mode === 'rnn' && { nonlinearity: random() < 0.5 ? 'tanh' : 'relu' }),
    ...(mode === 'lstm' && hiddenSize > 1 && random() < 0.4 && { projSize: int(1, hiddenSize - 1) }),
  };
  const D = config.bidirectional ? 2 : 1;
  const Hout = config.projSize || hiddenSize;
  const L = int(1, 9);
  const unbatched = random() < 0.15;
  const N = unbatched ? 1 : int(1, 6);
  const shape = unbatched ? [L, config.inputSize] : config.batchFirst ? [N, L, config.inputSize] : [L, N, config.inputSize];
  const state = (width: number, stateSeed: number): Tensor => ({
    data: randomTensorData(D * config.numLayers! * N * width, stateSeed),
    shape: unbatched ? [D * config.numLayers!, width] : [D * config.numLayers!, N, width],
  });
  const withState = random() < 0.5;
  return {
    config,
    weights: initStateDict(config, seed + 3, mode),
    input: { data: randomTensorData(N * L * config.inputSize, seed + 1, 2), shape },
    ...(withState && { h0: state(Hout, seed + 2) }),
    ...(withState && mode === 'lstm' && { c0: state(hiddenSize, seed + 4) }),
    ...(!unbatched && random() < 0.4 && { lengths: Array.from({ length: N }, () => int(1, L)) }),
  };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

describe('@recurrent/cpu against the textbook loops', () => {
  const CASES = 200;
  it.each(['rnn', 'lstm', 'gru'] as const)(`%s agrees with the textbook loop on ${CASES} seeded random configurations covering every option`, async (mode) => {
    const backend = await createBackend();
    const covered = new Set<string>();
    for (let seed = 1; seed <= CASES; seed++) {
      const c = randomCase(mode, seed);
      const actual = await MODULES[mode].engine(c, backend);
      const expected = MODULES[mode].textbook(c);
      const context = `${mode} seed ${seed}: ${JSON.stringify({ config: c.config, shape: c.input.shape, h0: !!c.h0, lengths: c.lengths })}`;
      const results: ('output' | 'hN' | 'cN')[] = mode === 'lstm' ? ['output', 'hN', 'cN'] : ['output', 'hN'];
      for (const name of results) {
        const [a, e] = [(actual as LstmResult)[name], (expected as LstmResult)[name]];
        expect(a.shape, `${name} ${context}`).toEqual(e.shape);
        // Both sum in float64; they differ only by float32 rounding of intermediate states.
        expect(maxAbsDiff(a.data, e.data), `${name} ${context}`).toBeLessThan(1e-5);
      }
      for (const [key, value] of Object.entries(c.config)) covered.add(`${key}=${value}`);
      covered.add(c.input.shape.length === 2 ? 'unbatched' : 'batched');
      covered.add(c.h0 ? 'h0' : 'no h0');
      covered.add(c.lengths ? 'lengths' : 'full length');
      if (c.config.projSize) covered.add('projSize');
    }
    const options = ['numLayers=3', 'bias=false', 'bias=true', 'batchFirst=true', 'bidirectional=true', 'unbatched', 'h0', 'no h0', 'lengths'];
    if (mode === 'rnn') options.push('nonlinearity=relu', 'nonlinearity=tanh');
    if (mode === 'lstm') options.push('projSize');
    for (const option of options) expect(covered, `no ${mode} case covered ${option}`).toContain(option);
  });
});
