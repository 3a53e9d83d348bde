import { createRnn, initStateDict, isRnnError, randomTensorData, type RnnConfig } from '@recurrent/core';
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

  // N·H·H ≥ THREADED_WORK so that every step really is split between threads.
  const cases: { config: RnnConfig; L: number; N: number; lengths?: number[]; h0?: boolean }[] = [
    { config: { inputSize: 50, hiddenSize: 128 }, L: 9, N: 8 },
    { config: { inputSize: 33, hiddenSize: 130, numLayers: 2, bidirectional: true, batchFirst: true }, L: 7, N: 9, lengths: [7, 2, 5, 1, 7, 7, 3, 3, 6], h0: true },
    { config: { inputSize: 17, hiddenSize: 90, numLayers: 3, nonlinearity: 'relu', bias: false }, L: 6, N: 17, h0: true },
  ];
  it('cases are large enough to be threaded', () => {
    for (const { config, N } of cases) expect(N * config.hiddenSize * config.hiddenSize).toBeGreaterThanOrEqual(THREADED_WORK);
  });
  it.each(cases.flatMap((c) => [2, 3].map((threads) => ({ ...c, threads, name: `${threads} threads, ${JSON.stringify(c.config)} N=${c.N} lengths=${c.lengths}` }))))(
    'give the single-thread results and match @recurrent/cpu: $name',
    async ({ config, L, N, lengths, h0: withH0, threads }) => {
      const wasm = await createBackend({ threads });
      const single = await createBackend({ threads: 1 });
      backends.push(wasm, single);
      expect(wasm.variant).toMatch(new RegExp(`-threads-${threads}$`));
      const weights = initStateDict(config, 3);
      const I = config.inputSize;
      const H = config.hiddenSize;
      const input = { data: randomTensorData(L * N * I, 4, 2), shape: config.batchFirst ? [N, L, I] : [L, N, I] };
      const rows = (config.bidirectional ? 2 : 1) * (config.numLayers ?? 1);
      const h0 = withH0 ? { data: randomTensorData(rows * N * H, 5), shape: [rows, N, H] } : undefined;
      const options = lengths ? { lengths } : undefined;
      const threaded = await (await createRnn(config, weights, wasm)).forward(input, h0, options);
      const one = await (await createRnn(config, weights, single)).forward(input, h0, options);
      const cpu = await (await createRnn(config, weights, await createCpuBackend())).forward(input, h0, options);
      // Each output column is computed by exactly one thread, with the same instructions: equal bits.
      expect(threaded.output.data).toEqual(one.output.data);
      expect(threaded.hN.data).toEqual(one.hN.data);
      let worst = 0;
      cpu.output.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - threaded.output.data[i]!))));
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
