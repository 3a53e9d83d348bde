import {
  createGru, createLstm, createRnn, initStateDict, isRnnError, randomTensorData,
  type GruConfig, type LstmConfig, type RnnConfig, type Tensor,
} from '@recurrent/core';
import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { RUNTIME } from '../src/blocks.js';
import { createBackend, type WasmBackend } from '../src/index.js';
import type { Runtime } from '../src/model.js';
import { WATCHDOG_MS } from '../src/threads.js';

type Mode = 'rnn' | 'lstm' | 'gru';
type AnyModel = { forward(input: Tensor, hx?: unknown, options?: { signal?: AbortSignal; lengths?: number[] }): Promise<{ output: Tensor; hN: Tensor; cN?: Tensor }> };
const CREATE = { rnn: createRnn, lstm: createLstm, gru: createGru } as unknown as Record<Mode, (c: unknown, w: unknown, b: unknown) => Promise<AnyModel>>;

const runtimeOf = (backend: WasmBackend): Runtime => (backend as unknown as { [RUNTIME]: Runtime })[RUNTIME];
const workersOf = (backend: WasmBackend): { terminate(): unknown; postMessage(m: unknown): void }[] =>
  (runtimeOf(backend).pool as unknown as { workers: { terminate(): unknown; postMessage(m: unknown): void }[] }).workers;
const rejection = (promise: Promise<unknown>): Promise<unknown> => promise.then(() => null, (error: unknown) => error);

/** Counts the kernel calls of a backend's runtime (a block is one call on thread 0). */
function countCalls(backend: WasmBackend): { calls: number } {
  const runtime = runtimeOf(backend);
  const counter = { calls: 0 };
  const runLayer = runtime.kernels.runLayer;
  runtime.kernels = { ...runtime.kernels, runLayer: (...args: Parameters<typeof runLayer>) => (counter.calls++, runLayer(...args)) };
  return counter;
}

// Long enough for many blocks (≈ 2 GFLOP), and threaded (N·G·H·H_out ≥ THREADED_WORK).
const cases: { mode: Mode; config: RnnConfig & LstmConfig & GruConfig; L: number; N: number; lengths?: number[] }[] = [
  { mode: 'rnn', config: { inputSize: 64, hiddenSize: 256, numLayers: 2 }, L: 200, N: 32 },
  { mode: 'lstm', config: { inputSize: 48, hiddenSize: 160, projSize: 90, bidirectional: true }, L: 120, N: 24, lengths: Array.from({ length: 24 }, (_, b) => 120 - 4 * b) },
  { mode: 'gru', config: { inputSize: 40, hiddenSize: 200, bidirectional: true, batchFirst: true }, L: 100, N: 30 },
];

function inputs({ config, L, N, lengths }: (typeof cases)[number]) {
  const input = { data: randomTensorData(L * N * config.inputSize, 7, 2), shape: config.batchFirst ? [N, L, config.inputSize] : [L, N, config.inputSize] };
  return { input, options: lengths ? { lengths } : {} };
}

/** A result's arrays as one hex digest of their bytes: toEqual on millions of floats would take seconds. */
const bits = (r: { output: Tensor; hN: Tensor; cN?: Tensor }): string => {
  const hash = createHash('sha256');
  for (const a of [r.output.data, r.hN.data, r.cN?.data ?? new Float32Array(0)]) hash.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return hash.digest('hex');
};

describe('cancellation', () => {
  const backends: WasmBackend[] = [];
  afterAll(() => backends.forEach((b) => b.dispose()));

  it.each(cases.flatMap((c) => [1, 2].map((threads) => ({ ...c, threads, name: `${c.mode} ${threads} thread(s)` }))))(
    'an abort in the middle stops the engine at a block boundary; the model stays exact and holds no more memory: $name',
    async (c) => {
      const backend = await createBackend({ threads: c.threads });
      backends.push(backend);
      const weights = initStateDict(c.config, 3, c.mode);
      const model = await CREATE[c.mode](c.config, weights, backend);
      const { input, options } = inputs(c);
      const reference = await model.forward(input, undefined, options);
      const counter = countCalls(backend);
      // With a signal that never fires, the call runs in many blocks and gives the same bits.
      const blocked = await model.forward(input, undefined, { ...options, signal: new AbortController().signal });
      expect(bits(blocked)).toEqual(bits(reference));
      const blocks = counter.calls;
      expect(blocks).toBeGreaterThan(4);
      const stats = backend.stats();

      counter.calls = 0;
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error('the user typed again')), 0);
      const error = await rejection(model.forward(input, undefined, { ...options, signal: controller.signal }));
      expect(isRnnError(error, 'aborted')).toBe(true);
      expect((error as Error).cause).toBeInstanceOf(Error);
      // The next call waits for the aborted one to stop: it did, after a block or two, not at the end.
      const after = await model.forward(input, undefined, options);
      expect(counter.calls - (c.config.numLayers ?? 1)).toBeLessThan(blocks / 2);
      expect(bits(after)).toEqual(bits(reference));
      expect(backend.stats()).toEqual(stats);
      const fresh = await CREATE[c.mode](c.config, weights, backend);
      expect(bits(await fresh.forward(input, undefined, options))).toEqual(bits(reference));
    },
  );

  it('a signal that already fired rejects at once and runs nothing', async () => {
    const backend = await createBackend({ threads: 1 });
    backends.push(backend);
    const c = cases[0]!;
    const model = await CREATE[c.mode](c.config, initStateDict(c.config, 1, c.mode), backend);
    const counter = countCalls(backend);
    const error = await rejection(model.forward(inputs(c).input, undefined, { signal: AbortSignal.abort() }));
    expect(isRnnError(error, 'aborted')).toBe(true);
    expect(counter.calls).toBe(0);
  });

  it('calls of several models of one backend, aborted or not, each give their own exact result', async () => {
    const backend = await createBackend({ threads: 2 });
    backends.push(backend);
    const models = await Promise.all(cases.map((c) => CREATE[c.mode](c.config, initStateDict(c.config, 5, c.mode), backend)));
    const references = await Promise.all(cases.map(async (c, i) => bits(await models[i]!.forward(inputs(c).input, undefined, inputs(c).options))));
    const controller = new AbortController();
    const calls = cases.flatMap((c, i) => [
      models[i]!.forward(inputs(c).input, undefined, { ...inputs(c).options, signal: new AbortController().signal }).then(bits),
      rejection(models[i]!.forward(inputs(c).input, undefined, { ...inputs(c).options, signal: controller.signal })),
      models[i]!.forward(inputs(c).input, undefined, inputs(c).options).then(bits),
    ]);
    setTimeout(() => controller.abort(), 5);
    const results = await Promise.all(calls);
    cases.forEach((_, i) => {
      expect(results[3 * i]).toEqual(references[i]);
      expect(results[3 * i + 2]).toEqual(references[i]);
    });
  });

  it('a stream push aborted mid-call leaves the stream as it was', async () => {
    const backend = await createBackend({ threads: 2 });
    backends.push(backend);
    const config: LstmConfig = { inputSize: 64, hiddenSize: 256 };
    const lstm = await createLstm(config, initStateDict(config, 2, 'lstm'), backend);
    const chunk = (seed: number) => ({ data: randomTensorData(150 * 16 * 64, seed), shape: [150, 16, 64] });
    const reference = lstm.stream();
    await reference.push(chunk(1));
    const expected = await reference.push(chunk(2));
    const stream = lstm.stream();
    await stream.push(chunk(1));
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 0);
    expect(isRnnError(await rejection(stream.push(chunk(2), { signal: controller.signal })), 'aborted')).toBe(true);
    expect(bits(await stream.push(chunk(2)))).toEqual(bits(expected));
  });
});

describe('worker faults', () => {
  const backends: WasmBackend[] = [];
  afterAll(() => backends.forEach((b) => b.dispose()));
  const c = cases[0]!;

  async function setup() {
    const backend = await createBackend({ threads: 3 });
    backends.push(backend);
    const model = await CREATE[c.mode](c.config, initStateDict(c.config, 9, c.mode), backend);
    const { input } = inputs(c);
    const reference = bits(await model.forward(input));
    return { backend, model, input, reference };
  }

  it('a worker terminated in the middle of a long threaded forward: that call fails with internal, the pool restarts, the next call is exact', async () => {
    const { backend, model, input, reference } = await setup();
    const stats = backend.stats();
    setTimeout(() => void workersOf(backend)[1]!.terminate(), 0);
    const start = performance.now();
    const error = await rejection(model.forward(input, undefined, { signal: new AbortController().signal }));
    expect(isRnnError(error, 'internal')).toBe(true);
    // A bound, not a speed: the barrier's watchdog (or the worker's exit event) ends the wait.
    expect(performance.now() - start).toBeLessThan(WATCHDOG_MS + 5_000);
    expect(bits(await model.forward(input))).toEqual(reference);
    expect(backend.variant).toMatch(/-threads-3$/);
    expect(backend.stats()).toEqual(stats);
  });

  it('a worker that died unnoticed makes a synchronous forward fail through the watchdog, not hang', async () => {
    const { backend, model, input, reference } = await setup();
    runtimeOf(backend).pool!.watchdogMs = 300;
    // The job is posted before the worker's exit event can arrive: thread 0 waits for it at a barrier.
    void workersOf(backend)[0]!.terminate();
    const error = await rejection(model.forward(input));
    expect(isRnnError(error, 'internal')).toBe(true);
    expect((error as Error).message).toMatch(/failed during the call|has failed/);
    expect(bits(await model.forward(input))).toEqual(reference);
  });

  it('a worker that traps raises the fault flag; the pool restarts for the next call', async () => {
    const { backend, model, input, reference } = await setup();
    const pool = runtimeOf(backend).pool!;
    // A job whose buffers lie far outside linear memory: the worker traps on its first load.
    const far = 0x7ff00000;
    const sizes = [1, 4, 8, 16, 16, 1, 1, 16]; // an RNN: cell, L, N, H, P, G, D, I
    const buffers = Array.from({ length: 19 }, () => far); // x … packs
    const ranges = [1024, 0, 32, 0, 4]; // packBytes, rows [0, 32), steps [0, 4)
    workersOf(backend)[0]!.postMessage({ type: 'job', kernel: 'runLayer', thread: 1, threads: 1, sync: pool.sync, calls: [[...sizes, ...buffers, ...ranges]] });
    await expect.poll(() => pool.failed, { timeout: 5_000 }).not.toBeNull();
    expect(String((pool.failed as Error).message)).toMatch(/trapped/);
    expect(bits(await model.forward(input))).toEqual(reference);
    expect(runtimeOf(backend).pool).not.toBe(pool);
  });

  it('when no new pool starts, the engine falls back to one thread and says so in the variant', async () => {
    const { backend, model, input, reference } = await setup();
    const pool = runtimeOf(backend).pool!;
    pool.restart = () => Promise.reject(new Error('no workers here'));
    pool.fail(new Error('a test failure'));
    expect(bits(await model.forward(input))).toEqual(reference);
    expect(backend.variant).toMatch(/^wasm-(relaxed-)?simd$/);
  });
});

describe('determinism', () => {
  it.each([1, 2, 3].flatMap((threads) => cases.map((c) => ({ ...c, threads, name: `${c.mode} ${threads} thread(s)` }))))(
    'the same call on the same variant gives the same bits every time: $name',
    async (c) => {
      const backend = await createBackend({ threads: c.threads });
      const model = await CREATE[c.mode](c.config, initStateDict(c.config, 11, c.mode), backend);
      const { input, options } = inputs(c);
      const first = bits(await model.forward(input, undefined, options));
      for (let i = 0; i < 5; i++) {
        expect(bits(await model.forward(input, undefined, options))).toEqual(first);
        expect(bits(await model.forward(input, undefined, { ...options, signal: new AbortController().signal }))).toEqual(first);
      }
      backend.dispose();
    },
  );
});

describe('memory limits on the threaded variant', () => {
  it('a model or an input beyond 4 GiB gets limit with the sizes before anything is built; the engine then works, with or without a signal', async () => {
    const backend = await createBackend({ threads: 2 });
    const c = cases[1]!;
    const model = await CREATE[c.mode](c.config, initStateDict(c.config, 4, c.mode), backend);
    const { input, options } = inputs(c);
    const reference = bits(await model.forward(input, undefined, options));
    const stats = backend.stats();
    // 1,000,000 steps × 2 directions × 4 gates × 160 units × 4 bytes: 5.1 GB of input projection alone.
    const long = await rejection(model.forward({ data: new Float32Array(1_000_000 * 48), shape: [1_000_000, 1, 48] }, undefined, { signal: new AbortController().signal }));
    expect(isRnnError(long, 'limit')).toBe(true);
    expect((long as Error).message).toMatch(/1000000 step\(s\) × 1 batch element\(s\) needs \d+\.\d MiB/);
    expect((long as { details: Record<string, unknown> }).details).toMatchObject({ seqLen: 1_000_000, batch: 1, maxBytes: 2 ** 32 });
    expect(backend.stats()).toEqual(stats);
    // A model whose packed weights do not fit in what is left of the memory.
    const small = await createBackend({ threads: 2, maximumMemoryBytes: 64 * 2 ** 20 });
    const big: LstmConfig = { inputSize: 1024, hiddenSize: 1024, numLayers: 2 };
    const refused = await rejection(createLstm(big, initStateDict(big, 1, 'lstm'), small));
    expect(isRnnError(refused, 'limit')).toBe(true);
    expect((refused as Error).message).toMatch(/weights of an LSTM with hidden size 1024, 2 layer\(s\), 1 direction\(s\)/);
    expect((refused as { details: Record<string, unknown> }).details).toMatchObject({ maxBytes: 64 * 2 ** 20 });
    expect(small.stats().wasmAllocatedBytes).toBe(192); // the pool's sync block only
    expect(bits(await model.forward(input, undefined, options))).toEqual(reference);
    expect(bits(await model.forward(input, undefined, { ...options, signal: new AbortController().signal }))).toEqual(reference);
    backend.dispose();
    small.dispose();
  });
});
