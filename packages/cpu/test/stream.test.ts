import {
  createGru, createLstm, createRnn, initStateDict, isRnnError, randomTensorData, type Backend, type EngineModel, type EngineResult, type Tensor,
} from '@recurrent/core';
import { describe, expect, it, vi } from 'vitest';
import { createBackend } from '../src/index.js';

vi.setConfig({ testTimeout: 60_000 });

// Engine-held streams (EngineModel.openStream): the stream keeps its h/c in arrays of its own and a push
// is the model's forward from them. Bit-for-bit against this engine's forward; the conformance suite
// proves the same pushes against PyTorch.

const tensor = (shape: number[], seed: number): Tensor => ({ data: randomTensorData(shape.reduce((a, b) => a * b, 1), seed), shape });
const bits = (arrays: (Float32Array | undefined)[]) => arrays.map((a) => (a === undefined ? [] : [...new Uint32Array(a.buffer, a.byteOffset, a.length)]));
const concat = (arrays: Float32Array[]) => {
  const all = new Float32Array(arrays.reduce((n, a) => n + a.length, 0));
  arrays.reduce((at, a) => (all.set(a, at), at + a.length), 0);
  return all;
};

/** A CPU backend that counts the forward and openStream calls reaching its models, and keeps the models. */
async function countingBackend() {
  const backend = await createBackend();
  const calls = { forward: 0, openStream: 0 };
  const engines: EngineModel[] = [];
  const counting: Backend = {
    ...backend,
    async createModel(plan) {
      const model = await backend.createModel(plan);
      const { forward, openStream } = model;
      model.forward = (p) => (calls.forward++, forward.call(model, p));
      model.openStream = (s) => (calls.openStream++, openStream!.call(model, s));
      engines.push(model);
      return model;
    },
  };
  return { backend: counting, calls, engines };
}

// Time-major, N = 3, two layers; the LSTM with proj_size.
const [L, N, I, H] = [13, 3, 5, 8];
const MODULES = [
  { name: 'nn.RNN', mode: 'rnn', config: { inputSize: I, hiddenSize: H, numLayers: 2 }, create: createRnn },
  { name: 'nn.LSTM (proj_size)', mode: 'lstm', config: { inputSize: I, hiddenSize: H, numLayers: 2, projSize: 4 }, create: createLstm },
  { name: 'nn.GRU', mode: 'gru', config: { inputSize: I, hiddenSize: H, numLayers: 2 }, create: createGru },
] as const;

interface Result { output: Tensor; hN: Tensor; cN?: Tensor }
interface AnyModel {
  forward(input: Tensor, hx?: unknown, options?: { lengths?: number[]; signal?: AbortSignal }): Promise<Result>;
  stream(hx?: unknown): { push(chunk: Tensor, options?: { lengths?: number[]; signal?: AbortSignal }): Promise<Result>; dispose(): void };
  dispose(): void;
}

async function make(module: (typeof MODULES)[number], backend: Backend): Promise<AnyModel> {
  const create = module.create as (config: object, weights: object, backend: Backend) => Promise<unknown>;
  return (await create(module.config, initStateDict(module.config, 3, module.mode), backend)) as AnyModel;
}

/** The time steps [from, from + count) of a (L, N, I) time-major tensor. */
const steps = (input: Tensor, from: number, count: number): Tensor => {
  const [, n, i] = input.shape as [number, number, number];
  return { data: input.data.slice(from * n * i, (from + count) * n * i), shape: [count, n, i] };
};

describe.each(MODULES)('$name: engine-held streams on the CPU engine', (module) => {
  const Hout = module.mode === 'lstm' ? module.config.projSize : H;
  const input = tensor([L, N, I], 1);
  const hx = module.mode === 'lstm' ? [tensor([2, N, Hout], 2), tensor([2, N, H], 3)] : tensor([2, N, Hout], 2);

  it.each([
    { chunking: 'one step per push', sizes: Array<number>(L).fill(1) },
    { chunking: 'uneven pushes (lengths change and repeat)', sizes: [3, 1, 5, 1, 3] },
    { chunking: 'one push', sizes: [L] },
  ])('$chunking give one forward over the whole sequence, bit for bit, through the engine stream (no forward)', async ({ sizes }) => {
    const { backend, calls } = await countingBackend();
    const model = await make(module, backend);
    for (const initial of [undefined, hx]) {
      const whole = await model.forward(input, initial);
      const stream = model.stream(initial);
      const results: Result[] = [];
      let at = 0;
      for (const size of sizes) {
        results.push(await stream.push(steps(input, at, size)));
        at += size;
      }
      stream.dispose();
      const last = results.at(-1)!;
      expect(bits([concat(results.map((r) => r.output.data)), last.hN.data, last.cN?.data])).toEqual(bits([whole.output.data, whole.hN.data, whole.cN?.data]));
    }
    expect(calls).toEqual({ forward: 2, openStream: 2 });
  });

  it('lengths carry over: each element goes on from the state after its own last step', async () => {
    const { backend, calls } = await countingBackend();
    const model = await make(module, backend);
    const pushes = [
      { chunk: tensor([6, N, I], 4), lengths: [6, 2, 4] },
      { chunk: tensor([5, N, I], 5), lengths: undefined },
      { chunk: tensor([3, N, I], 6), lengths: [1, 3, 2] },
    ];
    const stream = model.stream();
    const results: Result[] = [];
    for (const { chunk, lengths } of pushes) results.push(await stream.push(chunk, lengths ? { lengths } : undefined));
    expect(calls.forward).toBe(0);
    // Element b alone, unbatched, over the steps it consumed: the same sums, so the same bits.
    for (let b = 0; b < N; b++) {
      const consumed = pushes.map(({ chunk, lengths }) => (lengths ? lengths[b]! : chunk.shape[0]!));
      const own = concat(pushes.flatMap(({ chunk }, p) => Array.from({ length: consumed[p]! }, (_, t) => chunk.data.slice((t * N + b) * I, (t * N + b + 1) * I))));
      const alone = await model.forward({ data: own, shape: [own.length / I, I] });
      const streamed = concat(results.flatMap(({ output }, p) => Array.from({ length: consumed[p]! }, (_, t) => output.data.slice((t * N + b) * Hout, (t * N + b + 1) * Hout))));
      expect(bits([streamed])).toEqual(bits([alone.output.data]));
      // Past its length an element's output is zero.
      results.forEach(({ output }, p) => {
        for (let t = consumed[p]!; t < output.shape[0]!; t++) expect([...output.data.slice((t * N + b) * Hout, (t * N + b + 1) * Hout)]).toEqual(Array(Hout).fill(0));
      });
      const last = results.at(-1)!;
      const rowOf = (state: Tensor | undefined, width: number) => [0, 1].flatMap((layer) => [...state!.data.slice((layer * N + b) * width, (layer * N + b + 1) * width)]);
      expect(rowOf(last.hN, Hout)).toEqual([...alone.hN.data]);
      if (module.mode === 'lstm') expect(rowOf(last.cN, H)).toEqual([...alone.cN!.data]);
    }
  });
});

describe('engine-held streams: aborts and dispose', () => {
  it('an abort in the middle of a long push rejects with aborted and commits nothing: the next pushes give what they would without it', async () => {
    const { backend, calls } = await countingBackend();
    // About 0.3 GFLOP a push of 64 steps: hundreds of milliseconds, many slices.
    const config = { inputSize: 64, hiddenSize: 128, numLayers: 2 };
    const model = await createGru(config, initStateDict(config, 5, 'gru'), backend);
    const chunks = [1, 2, 3, 4].map((seed) => tensor([64, 16, 64], 20 + seed));
    const aborted = model.stream();
    const reference = model.stream();
    await aborted.push(chunks[0]!);
    await reference.push(chunks[0]!);
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('the user typed again')), 20);
    const error = await aborted.push(chunks[1]!, { signal: controller.signal }).then(() => null, (e: unknown) => e);
    expect(isRnnError(error, 'aborted'), String(error)).toBe(true);
    expect((error as Error).message).toBe('stream push was aborted: the user typed again');
    for (const chunk of chunks.slice(2)) {
      const [a, b] = [await aborted.push(chunk), await reference.push(chunk)];
      expect(bits([a.output.data, a.hN.data])).toEqual(bits([b.output.data, b.hN.data]));
    }
    expect(calls).toEqual({ forward: 0, openStream: 2 });
  });

  it('a push whose signal fires after its last slice, before it commits, rejects and commits nothing', async () => {
    const { backend, engines } = await countingBackend();
    const config = { inputSize: I, hiddenSize: H };
    await createLstm(config, initStateDict(config, 6, 'lstm'), backend);
    const engine = engines[0]!;
    const plan = (seed: number, signal?: AbortSignal) => ({ seqLen: 4, batch: N, input: randomTensorData(4 * N * I, seed), lengths: null, signal: signal ?? null });
    const stream = engine.openStream!({ batch: N, h0: null, c0: null });
    const controller = new AbortController();
    // A push this small runs in one slice: the work is done when push returns, the commit comes after an await.
    const pending = stream.push(plan(1, controller.signal));
    controller.abort();
    expect(isRnnError(await Promise.resolve(pending).then(() => null, (e: unknown) => e), 'aborted')).toBe(true);
    const fresh = engine.openStream!({ batch: N, h0: null, c0: null });
    const [a, b]: EngineResult[] = [await stream.push(plan(2)), await fresh.push(plan(2))];
    expect(bits([a.output, a.hN, a.cN])).toEqual(bits([b.output, b.hN, b.cN]));
  });

  it('a disposed stream, and every stream of a disposed model, rejects its pushes with disposed', async () => {
    const { backend, engines } = await countingBackend();
    const config = { inputSize: I, hiddenSize: H };
    const model = await createGru(config, initStateDict(config, 7, 'gru'), backend);
    const engine = engines[0]!;
    const plan = { seqLen: 2, batch: 1, input: randomTensorData(2 * I, 8), lengths: null };
    const disposed = engine.openStream!({ batch: 1, h0: null, c0: null });
    const open = engine.openStream!({ batch: 1, h0: null, c0: null });
    await disposed.push(plan);
    disposed.dispose();
    await expect(disposed.push(plan)).rejects.toMatchObject({ code: 'disposed', message: 'This CPU stream was disposed' });
    await open.push(plan);
    const userStream = model.stream();
    await userStream.push(tensor([2, I], 9));
    model.dispose();
    await expect(open.push(plan)).rejects.toMatchObject({ code: 'disposed', message: 'This CPU model was disposed' });
    await expect(userStream.push(tensor([2, I], 9))).rejects.toMatchObject({ code: 'disposed' });
    expect(() => engine.openStream!({ batch: 1, h0: null, c0: null })).toThrow(expect.objectContaining({ code: 'disposed' }));
  });
});
