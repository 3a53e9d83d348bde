import { createRnn, initStateDict, randomTensorData, seededRandom, type Rnn, type RnnConfig, type Tensor } from '@recurrent/core';
import { createBackend as createCpuBackend } from '@recurrent/cpu';
import { naiveRnnForward } from '@recurrent/cpu/naive';
import { afterAll, describe, expect, it } from 'vitest';
import type { WebGpuBackend } from '../src/index.js';
import { backendOrReason, reportNotRun } from './gpu.js';

interface Case {
  name: string;
  config: Required<Pick<RnnConfig, 'inputSize' | 'hiddenSize' | 'numLayers' | 'nonlinearity' | 'bias' | 'batchFirst' | 'bidirectional'>>;
  L: number;
  /** null: unbatched input. */
  N: number | null;
  withH0: boolean;
  lengths: number[] | null;
}

/**
 * Seeded cases in which every option appears both ways (bits of the index) and sizes sit on the
 * kernels' edges: 1, just under and over the 64-wide GEMM tiles and recurrence workgroups.
 */
function cases(): Case[] {
  const random = seededRandom(2024);
  const pick = <T,>(values: T[]): T => values[Math.floor(random() * values.length)]!;
  const list: Case[] = [];
  for (let i = 0; i < 16; i++) {
    const unbatched = i % 5 === 4;
    const N = unbatched ? null : pick([1, 3, 5, 9]);
    const L = pick([1, 2, 7, 13]);
    const config = {
      inputSize: pick([1, 3, 17, 64, 65]),
      hiddenSize: pick([1, 5, 32, 63, 65]),
      numLayers: 1 + (i % 3),
      nonlinearity: i & 8 ? 'relu' : 'tanh',
      bias: (i & 1) === 0,
      batchFirst: (i & 4) !== 0,
      bidirectional: (i & 2) !== 0,
    } as const;
    const lengths = N !== null && i % 4 === 2 ? Array.from({ length: N }, (_, b) => (b === 0 ? L : 1 + Math.floor(random() * L))) : null;
    list.push({ name: '', config, L, N, withH0: i % 3 === 1, lengths });
  }
  // Several GEMM tiles in both dimensions (L·N = 100 rows, D·H = 260 features) and K = 70.
  list.push({
    name: '',
    config: { inputSize: 70, hiddenSize: 130, numLayers: 2, nonlinearity: 'tanh', bias: true, batchFirst: false, bidirectional: true },
    L: 20, N: 5, withH0: true, lengths: [20, 3, 17, 1, 20],
  });
  for (const c of list) {
    const { inputSize: I, hiddenSize: H, numLayers, nonlinearity, bias, batchFirst, bidirectional } = c.config;
    c.name = `I${I} H${H} layers${numLayers} ${nonlinearity}${bias ? '' : ' no-bias'}${bidirectional ? ' bidirectional' : ''}` +
      `${batchFirst ? ' batch_first' : ''} L${c.L} ${c.N === null ? 'unbatched' : `N${c.N}`}${c.withH0 ? ' h0' : ''}${c.lengths ? ` lengths=${c.lengths.join(',')}` : ''}`;
  }
  return list;
}

function inputsOf(c: Case, seed: number): { input: Tensor; h0: Tensor | undefined } {
  const { inputSize: I, hiddenSize: H, numLayers, batchFirst, bidirectional } = c.config;
  const D = bidirectional ? 2 : 1;
  const shape = c.N === null ? [c.L, I] : batchFirst ? [c.N, c.L, I] : [c.L, c.N, I];
  const input = { data: randomTensorData(shape.reduce((a, b) => a * b, 1), seed), shape };
  const stateShape = c.N === null ? [D * numLayers, H] : [D * numLayers, c.N, H];
  const h0 = c.withH0 ? { data: randomTensorData(stateShape.reduce((a, b) => a * b, 1), seed + 1), shape: stateShape } : undefined;
  return { input, h0 };
}

/** float32 kernels against float64-accumulating ones: a few ulps of the values, which are O(1). */
function expectClose(actual: Tensor, expected: Tensor): void {
  expect(actual.shape).toEqual(expected.shape);
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

    cases().forEach((c, index) => {
      it(c.name, async () => {
        const weights = initStateDict(c.config, 100 + index);
        const onGpu: Rnn = await createRnn(c.config, weights, gpu);
        const onCpu = await createRnn(c.config, weights, cpu);
        expect(onGpu.backend).toMatch(kernel === 'persistent' ? /^webgpu \(.+\)$/ : /^webgpu-per-step \(.+\)$/);
        // Two different inputs through the same model: the second reuses the pooled buffers.
        for (const seed of [1, 2]) {
          const { input, h0 } = inputsOf(c, 10 * index + seed);
          const options = c.lengths ? { lengths: c.lengths } : undefined;
          const got = await onGpu.forward(input, h0, options);
          const want = await onCpu.forward(input, h0, options);
          expectClose(got.output, want.output);
          expectClose(got.hN, want.hN);
        }
        onGpu.dispose();
      });
    });

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
