import {
  createGru,
  createLstm,
  createRnn,
  initStateDict,
  randomTensorData,
  seededRandom,
  type Backend,
  type Mode,
  type RnnConfig,
  type StateDict,
  type Tensor,
} from '@recurrent/core';
import { createBackend as createCpuBackend } from '@recurrent/cpu';
import { naiveRnnForward } from '@recurrent/cpu/naive';
import { afterAll, describe, expect, it } from 'vitest';
import type { WebGpuBackend } from '../src/index.js';
import { backendOrReason, reportNotRun } from './gpu.js';

type Config = Required<Pick<RnnConfig, 'inputSize' | 'hiddenSize' | 'numLayers' | 'bias' | 'batchFirst' | 'bidirectional'>> & {
  nonlinearity?: 'tanh' | 'relu';
  projSize?: number;
};

interface Case {
  name: string;
  mode: Mode;
  config: Config;
  L: number;
  /** null: unbatched input. */
  N: number | null;
  withStates: boolean;
  lengths: number[] | null;
}

/** Any module behind one forward: h0 and c0 (LSTM only) given or not, c_n only from an LSTM. */
interface AnyModel {
  backend: string;
  forward(input: Tensor, h0: Tensor | undefined, c0: Tensor | undefined, options?: { lengths: number[] }): Promise<{ output: Tensor; hN: Tensor; cN?: Tensor }>;
  dispose(): void;
}

async function createModel(mode: Mode, config: Config, weights: StateDict, backend: Backend): Promise<AnyModel> {
  if (mode === 'lstm') {
    const lstm = await createLstm(config, weights, backend);
    return { backend: lstm.backend, forward: (input, h0, c0, options) => lstm.forward(input, h0 && c0 ? [h0, c0] : undefined, options), dispose: () => lstm.dispose() };
  }
  const model = mode === 'gru' ? await createGru(config, weights, backend) : await createRnn(config, weights, backend);
  return { backend: model.backend, forward: (input, h0, _c0, options) => model.forward(input, h0, options), dispose: () => model.dispose() };
}

/**
 * Seeded cases per module in which every option appears both ways (bits of the index) and sizes sit on
 * the kernels' edges: 1, just under and over the 64-wide GEMM tiles and recurrence workgroups, hidden
 * and projection sizes that are and are not multiples of 4 (the persistent kernel's vec4 paths).
 */
function cases(mode: Mode): Case[] {
  const random = seededRandom({ rnn: 2024, lstm: 2025, gru: 2026 }[mode]);
  const pick = <T,>(values: T[]): T => values[Math.floor(random() * values.length)]!;
  const list: Case[] = [];
  const count = mode === 'rnn' ? 16 : 12;
  for (let i = 0; i < count; i++) {
    const unbatched = i % 5 === 4;
    const N = unbatched ? null : pick([1, 3, 5, 9]);
    const L = pick([1, 2, 7, 13]);
    const hiddenSize = pick(mode === 'rnn' ? [1, 5, 32, 63, 65] : [1, 5, 8, 32, 63, 64]);
    const config: Config = {
      inputSize: pick([1, 3, 17, 64, 65]),
      hiddenSize,
      numLayers: 1 + (i % 3),
      bias: (i & 1) === 0,
      batchFirst: (i & 4) !== 0,
      bidirectional: (i & 2) !== 0,
    };
    if (mode === 'rnn') config.nonlinearity = i & 8 ? 'relu' : 'tanh';
    // Every other LSTM projects, to sizes that are and are not multiples of 4.
    if (mode === 'lstm' && i % 2 === 1 && hiddenSize > 1) config.projSize = Math.min(hiddenSize - 1, pick([1, 3, 4, 8, 31]));
    const lengths = N !== null && i % 4 === 2 ? Array.from({ length: N }, (_, b) => (b === 0 ? L : 1 + Math.floor(random() * L))) : null;
    list.push({ name: '', mode, config, L, N, withStates: i % 3 === 1, lengths });
  }
  // Several GEMM tiles in both dimensions (L·N = 100 rows, D·G·H ≥ 260 features) and K = 70.
  list.push({
    name: '',
    mode,
    config: { inputSize: 70, hiddenSize: 132, numLayers: 2, bias: true, batchFirst: false, bidirectional: true, ...(mode === 'lstm' ? { projSize: 36 } : {}) },
    L: 20, N: 5, withStates: true, lengths: [20, 3, 17, 1, 20],
  });
  for (const c of list) {
    const { inputSize: I, hiddenSize: H, numLayers, nonlinearity, projSize, bias, batchFirst, bidirectional } = c.config;
    c.name = `${mode.toUpperCase()} I${I} H${H}${projSize ? ` P${projSize}` : ''} layers${numLayers}${nonlinearity ? ` ${nonlinearity}` : ''}${bias ? '' : ' no-bias'}` +
      `${bidirectional ? ' bidirectional' : ''}${batchFirst ? ' batch_first' : ''} L${c.L} ${c.N === null ? 'unbatched' : `N${c.N}`}` +
      `${c.withStates ? (mode === 'lstm' ? ' h0 c0' : ' h0') : ''}${c.lengths ? ` lengths=${c.lengths.join(',')}` : ''}`;
  }
  return list;
}

function inputsOf(c: Case, seed: number): { input: Tensor; h0: Tensor | undefined; c0: Tensor | undefined } {
  const { inputSize: I, hiddenSize: H, numLayers, batchFirst, bidirectional, projSize } = c.config;
  const D = bidirectional ? 2 : 1;
  const shape = c.N === null ? [c.L, I] : batchFirst ? [c.N, c.L, I] : [c.L, c.N, I];
  const tensor = (dims: number[], s: number): Tensor => ({ data: randomTensorData(dims.reduce((a, b) => a * b, 1), s), shape: dims });
  const stateShape = (width: number) => (c.N === null ? [D * numLayers, width] : [D * numLayers, c.N, width]);
  const input = tensor(shape, seed);
  if (!c.withStates) return { input, h0: undefined, c0: undefined };
  return { input, h0: tensor(stateShape(projSize || H), seed + 1), c0: c.mode === 'lstm' ? tensor(stateShape(H), seed + 2) : undefined };
}

/** float32 kernels against float32 kernels that sum in another order: a few ulps of the values, which are O(1). */
function expectClose(actual: Tensor | undefined, expected: Tensor | undefined): void {
  expect(actual?.shape).toEqual(expected?.shape);
  if (actual === undefined || expected === undefined) return;
  let worst = 0;
  for (let i = 0; i < expected.data.length; i++) {
    const e = expected.data[i]!;
    worst = Math.max(worst, Math.abs(actual.data[i]! - e) / (1 + Math.abs(e)));
  }
  expect(worst).toBeLessThan(2e-5);
}

for (const kernel of ['persistent', 'per-step'] as const) {
  const backend = await backendOrReason({ recurrence: kernel });
  if (typeof backend === 'string') {
    describe(`WebGPU engine (${kernel} recurrence) against the CPU engine`, () => reportNotRun(backend));
    continue;
  }
  describe(`WebGPU engine (${kernel} recurrence, ${backend.adapter}) against the CPU engine`, async () => {
    const gpu: WebGpuBackend = backend;
    const cpu = await createCpuBackend();
    afterAll(() => gpu.dispose());

    for (const mode of ['rnn', 'lstm', 'gru'] as const) {
      cases(mode).forEach((c, index) => {
        it(c.name, async () => {
          const weights = initStateDict(c.config, 100 + index, mode);
          const onGpu = await createModel(mode, c.config, weights, gpu);
          const onCpu = await createModel(mode, c.config, weights, cpu);
          expect(onGpu.backend).toMatch(kernel === 'persistent' ? /^webgpu \(.+\)$/ : /^webgpu-per-step \(.+\)$/);
          // Two different inputs through the same model: the second reuses the pooled buffers.
          for (const seed of [1, 2]) {
            const { input, h0, c0 } = inputsOf(c, 10 * index + seed);
            const options = c.lengths ? { lengths: c.lengths } : undefined;
            const got = await onGpu.forward(input, h0, c0, options);
            const want = await onCpu.forward(input, h0, c0, options);
            expectClose(got.output, want.output);
            expectClose(got.hN, want.hN);
            expectClose(got.cN, want.cN);
          }
          onGpu.dispose();
          onCpu.dispose();
        });
      });
    }

    it('reverse direction starts at each sequence\'s last valid step (checked against the naive loop)', async () => {
      const config = { inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true, batchFirst: true } as const;
      const weights = initStateDict(config, 7);
      const rnn = await createRnn(config, weights, gpu);
      const input = { data: randomTensorData(3 * 6 * 3, 8), shape: [3, 6, 3] };
      const h0 = { data: randomTensorData(4 * 3 * 4, 9), shape: [4, 3, 4] };
      const lengths = [2, 6, 4];
      const got = await rnn.forward(input, h0, { lengths });
      const want = naiveRnnForward(config, weights, input, h0, lengths);
      expectClose(got.output, want.output);
      expectClose(got.hN, want.hN);
      // Outputs past each length are exactly zero.
      for (let b = 0; b < 3; b++) {
        for (let t = lengths[b]!; t < 6; t++) {
          expect(Array.from(got.output.data.subarray((b * 6 + t) * 8, (b * 6 + t + 1) * 8))).toEqual(new Array(8).fill(0));
        }
      }
      rnn.dispose();
    });
  });
}
