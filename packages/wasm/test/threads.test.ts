import { createGru, createLstm, createRnn, initStateDict, isRnnError, randomTensorData, type Backend, type LstmConfig, type RnnConfig, type Tensor } from '@recurrent/core';
import { createBackend as createCpuBackend } from '@recurrent/cpu';
import { afterAll, describe, expect, it } from 'vitest';
import { THREADED_WORK, createBackend, detectFeatures, type WasmBackend } from '../src/index.js';

// Node always has SharedArrayBuffer and worker_threads: the threaded variant must be there.
describe('worker threads', () => {
  const backends: WasmBackend[] = [];
  afterAll(() => backends.forEach((b) => b.dispose()));

  it('are detected in Node and reported in the variant', async () => {
    expect(detectFeatures().threads).toBe(true);
    const wasm = await createBackend({ threads: 2, relaxedSimd: false });
    backends.push(wasm);
    expect(wasm.variant).toBe('wasm-simd-threads-2');
    const rnn = await createRnn({ inputSize: 2, hiddenSize: 3 }, initStateDict({ inputSize: 2, hiddenSize: 3 }, 1), wasm);
    expect(rnn.backend).toBe('wasm-simd-threads-2');
  });

  // N·G·H·H_out ≥ THREADED_WORK so that every step really is split between threads; hidden sizes off the
  // 8-unit blocks, and 3 threads, give threads unequal shares of blocks.
  type Mode = 'rnn' | 'lstm' | 'gru';
  const cases: { mode: Mode; config: RnnConfig & LstmConfig; L: number; N: number; lengths?: number[]; h0?: boolean }[] = [
    { mode: 'rnn', config: { inputSize: 50, hiddenSize: 128 }, L: 9, N: 8 },
    { mode: 'rnn', config: { inputSize: 33, hiddenSize: 130, numLayers: 2, bidirectional: true, batchFirst: true }, L: 7, N: 9, lengths: [7, 2, 5, 1, 7, 7, 3, 3, 6], h0: true },
    { mode: 'rnn', config: { inputSize: 17, hiddenSize: 90, numLayers: 3, nonlinearity: 'relu', bias: false }, L: 6, N: 17, h0: true },
    { mode: 'lstm', config: { inputSize: 40, hiddenSize: 100, numLayers: 2, bidirectional: true }, L: 6, N: 5, lengths: [6, 1, 4, 6, 2], h0: true },
    { mode: 'lstm', config: { inputSize: 24, hiddenSize: 130, projSize: 70, bidirectional: true, batchFirst: true }, L: 5, N: 4, lengths: [3, 5, 1, 4], h0: true },
    { mode: 'lstm', config: { inputSize: 16, hiddenSize: 68, projSize: 67, bias: false }, L: 7, N: 9 },
    { mode: 'gru', config: { inputSize: 30, hiddenSize: 97, numLayers: 2, bidirectional: true }, L: 6, N: 5, lengths: [2, 6, 6, 1, 5], h0: true },
    { mode: 'gru', config: { inputSize: 20, hiddenSize: 128, bias: false }, L: 5, N: 3 },
  ];
  const GATES = { rnn: 1, lstm: 4, gru: 3 };
  it('cases are large enough to be threaded', () => {
    for (const { mode, config, N } of cases) {
      expect(N * GATES[mode] * config.hiddenSize * (config.projSize || config.hiddenSize)).toBeGreaterThanOrEqual(THREADED_WORK);
    }
  });
  it.each(cases.flatMap((c) => [2, 3].map((threads) => ({ ...c, threads, name: `${threads} threads, ${c.mode} ${JSON.stringify(c.config)} N=${c.N} lengths=${c.lengths}` }))))(
    'give the single-thread results and match @recurrent/cpu: $name',
    async ({ mode, config, L, N, lengths, h0: withH0, threads }) => {
      const wasm = await createBackend({ threads });
      const single = await createBackend({ threads: 1 });
      backends.push(wasm, single);
      expect(wasm.variant).toMatch(new RegExp(`-threads-${threads}$`));
      const weights = initStateDict(config, 3, mode);
      const I = config.inputSize;
      const H = config.hiddenSize;
      const P = config.projSize || H;
      const input = { data: randomTensorData(L * N * I, 4, 2), shape: config.batchFirst ? [N, L, I] : [L, N, I] };
      const rows = (config.bidirectional ? 2 : 1) * (config.numLayers ?? 1);
      const h0 = withH0 ? { data: randomTensorData(rows * N * P, 5), shape: [rows, N, P] } : undefined;
      const c0 = withH0 ? { data: randomTensorData(rows * N * H, 6), shape: [rows, N, H] } : undefined;
      const options = lengths ? { lengths } : undefined;
      const forward = async (backend: Backend): Promise<{ output: Tensor; hN: Tensor; cN?: Tensor }> => {
        if (mode === 'lstm') return (await createLstm(config, weights, backend)).forward(input, h0 && c0 ? [h0, c0] : undefined, options);
        if (mode === 'gru') return (await createGru(config, weights, backend)).forward(input, h0, options);
        return (await createRnn(config, weights, backend)).forward(input, h0, options);
      };
      const threaded = await forward(wasm);
      const one = await forward(single);
      const cpu = await forward(await createCpuBackend());
      // Each output column is computed by exactly one thread, with the same instructions: equal bits.
      expect(threaded.output.data).toEqual(one.output.data);
      expect(threaded.hN.data).toEqual(one.hN.data);
      expect(threaded.cN?.data).toEqual(one.cN?.data);
      let worst = 0;
      cpu.output.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - threaded.output.data[i]!))));
      cpu.cN?.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - threaded.cN!.data[i]!))));
      expect(worst).toBeLessThan(2e-5);
    },
  );

  it('keep working across many forwards, and memory stays flat', async () => {
    const wasm = await createBackend({ threads: 2 });
    backends.push(wasm);
    const config: RnnConfig = { inputSize: 16, hiddenSize: 128, bidirectional: true };
    const rnn = await createRnn(config, initStateDict(config, 1), wasm);
    const input = { data: randomTensorData(5 * 8 * 16, 1), shape: [5, 8, 16] };
    const first = await rnn.forward(input);
    const stats = wasm.stats();
    for (let i = 0; i < 300; i++) expect((await rnn.forward(input)).output.data).toEqual(first.output.data);
    expect(wasm.stats()).toEqual(stats);
  });

  it('reject a bad thread count with the type error', async () => {
    for (const threads of [0, 1.5, 'many', 100]) {
      await expect(createBackend({ threads: threads as never })).rejects.toSatisfy((e) => isRnnError(e, 'type'));
    }
  });
});
