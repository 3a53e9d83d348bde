import {
  createGru, createLstm, createRnn, initStateDict, isRnnError, randomTensorData, type Backend, type Gradients, type LstmConfig, type Tensor,
} from '@recurrent/core';
import { describe, expect, it, vi } from 'vitest';

vi.setConfig({ testTimeout: 120_000 });
import { createBackend } from '../src/index.js';

// Cancellation on the CPU engine: with a signal, the work runs in slices of about 10 ms that let the event
// loop run (src/pace.ts), so an abort can fire and the call stops at the next slice. How soon, on L-size
// calls, is measured by bench/abort.mjs; here a generous guard only proves that it stops.

const tensor = (shape: number[], seed: number): Tensor => ({ data: randomTensorData(shape.reduce((a, b) => a * b, 1), seed), shape });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const bits = (tensors: Tensor[]) => tensors.map((t) => [...new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length)]);
const gradientTensors = (g: Gradients) => [g.input, g.h0, ...(g.c0 ? [g.c0] : []), ...Object.keys(g.weights).sort().map((k) => g.weights[k]!)];

// Calls long enough to be aborted in the middle: about 0.3 GFLOP a forward (G·H kept near 512), a
// few hundred ms on a busy machine, many slices.
const [N, L, I] = [16, 64, 64];
const config = (hiddenSize: number) => ({ inputSize: I, hiddenSize, numLayers: 2, bidirectional: true, batchFirst: true }) satisfies LstmConfig;
const input = tensor([N, L, I], 1);
const upstreamOf = (H: number) => ({ output: tensor([N, L, 2 * H], 2), hN: tensor([4, N, H], 3), cN: tensor([4, N, H], 4) });

const MODULES = [
  { name: 'nn.RNN', H: 256, make: async (backend?: Backend) => createRnn(config(256), initStateDict(config(256), 1, 'rnn'), backend ?? await createBackend()), lstm: false },
  { name: 'nn.LSTM', H: 128, make: async (backend?: Backend) => createLstm(config(128), initStateDict(config(128), 1, 'lstm'), backend ?? await createBackend()), lstm: true },
  { name: 'nn.GRU', H: 160, make: async (backend?: Backend) => createGru(config(160), initStateDict(config(160), 1, 'gru'), backend ?? await createBackend()), lstm: false },
] as const;

/** A CPU backend whose models count the forward and backward calls that reach them. */
async function countingBackend(): Promise<{ backend: Backend; engineCalls: () => number }> {
  const backend = await createBackend();
  let calls = 0;
  return {
    backend: {
      ...backend,
      async createModel(plan) {
        const model = await backend.createModel(plan);
        const { forward, backward } = model;
        model.forward = (p) => (calls++, forward.call(model, p));
        model.backward = (p) => (calls++, backward!.call(model, p));
        return model;
      },
    },
    engineCalls: () => calls,
  };
}

type AnyModel = Awaited<ReturnType<(typeof MODULES)[number]['make']>>;
type Options = { signal?: AbortSignal };
const forward = (model: AnyModel, options?: Options) => (model.forward as (i: Tensor, hx: undefined, o?: Options) => Promise<{ output: Tensor; hN: Tensor; cN?: Tensor }>)(input, undefined, options);
const backward = (model: AnyModel, options?: Options) => {
  const upstream = upstreamOf(model.config.hiddenSize);
  const lstm = 'projSize' in model.config;
  return (model.backward as (i: Tensor, hx: undefined, u: object, o?: Options) => Promise<Gradients>)(input, undefined, lstm ? upstream : { output: upstream.output, hN: upstream.hN }, options);
};
const forwardBits = async (model: AnyModel, options?: Options) => {
  const { output, hN, cN } = await forward(model, options);
  return bits([output, hN, ...(cN ? [cN] : [])]);
};

/** Process CPU time (ms) spent while waiting `ms`: near 0 when nothing runs in the background. */
async function cpuWhileIdle(ms: number): Promise<number> {
  const start = process.cpuUsage();
  await sleep(ms);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

/** Starts `call` with a signal, aborts it after `after` ms, and returns the rejection and how long after abort() it came. */
async function abortDuring(call: (options: Options) => Promise<unknown>, after = 30) {
  const controller = new AbortController();
  const reason = new Error('the user typed again');
  let abortedAt = 0;
  setTimeout(() => {
    abortedAt = performance.now();
    controller.abort(reason);
  }, after);
  const error = await call({ signal: controller.signal }).then(() => null, (e: unknown) => e);
  return { error, latency: performance.now() - abortedAt, reason };
}

describe.each(MODULES)('$name: cancellation on the CPU engine', ({ make, lstm }) => {
  it('a signal aborted before the call rejects at once, for forward, backward and stream.push: the engine is not even called', async () => {
    const { backend, engineCalls } = await countingBackend();
    const model = await make(backend);
    const controller = new AbortController();
    controller.abort(new Error('too late'));
    const signal = controller.signal;
    const chunk = tensor([N, 1, I], 5);
    const unidirectional = { ...config(8), bidirectional: false };
    const streaming = await (lstm ? createLstm : createGru)(unidirectional, initStateDict(unidirectional, 1, lstm ? 'lstm' : 'gru'), backend);
    for (const call of [() => forward(model, { signal }), () => backward(model, { signal }), () => streaming.stream().push(chunk, { signal })]) {
      const error = await call().then(() => null, (e: unknown) => e);
      expect(isRnnError(error, 'aborted')).toBe(true);
      expect((error as Error).cause).toBe(signal.reason);
    }
    expect(engineCalls()).toBe(0);
  });

  it('an abort during a long forward rejects soon after abort(), the call stops, and the model then gives exactly a fresh model\'s result', async () => {
    const model = await make();
    const { error, latency, reason } = await abortDuring((options) => forward(model, options));
    expect(isRnnError(error, 'aborted'), String(error)).toBe(true);
    expect((error as Error).cause).toBe(reason);
    expect(latency).toBeLessThan(1000); // a guard against not stopping: the latency itself is measured by bench/abort.mjs
    // The abandoned call stopped at its next slice: nothing keeps computing in the background.
    expect(await cpuWhileIdle(300)).toBeLessThan(150);
    expect(await forwardBits(model)).toEqual(await forwardBits(await make()));
  });

  it('an abort during a long backward rejects soon after abort(), and the model then gives exactly a fresh model\'s gradients', async () => {
    const model = await make();
    const { error, latency } = await abortDuring((options) => backward(model, options), 60);
    expect(isRnnError(error, 'aborted'), String(error)).toBe(true);
    expect(latency).toBeLessThan(1000);
    expect(await cpuWhileIdle(300)).toBeLessThan(150);
    expect(bits(gradientTensors(await backward(model)))).toEqual(bits(gradientTensors(await backward(await make()))));
  });

  it('with a signal that never fires, forward and backward give the same bits as without one (slicing changes no sum)', async () => {
    const model = await make();
    const signal = new AbortController().signal;
    expect(await forwardBits(model, { signal })).toEqual(await forwardBits(model));
    expect(bits(gradientTensors(await backward(model, { signal })))).toEqual(bits(gradientTensors(await backward(model))));
  });
});

describe('streams and concurrency under cancellation', () => {
  it('an aborted push leaves the stream where it was: it goes on exactly as a stream never aborted', async () => {
    const streamed = { inputSize: 64, hiddenSize: 128 } satisfies LstmConfig;
    const model = await createLstm(streamed, initStateDict(streamed, 9, 'lstm'), await createBackend());
    const chunks = [1, 2, 3].map((seed) => tensor([100, 8, 64], 10 + seed));
    const aborted = model.stream();
    const reference = model.stream();
    await aborted.push(chunks[0]!);
    await reference.push(chunks[0]!);
    const { error } = await abortDuring((options) => aborted.push(chunks[1]!, options), 20);
    expect(isRnnError(error, 'aborted'), String(error)).toBe(true);
    for (const chunk of chunks.slice(1)) {
      const [a, b] = [await aborted.push(chunk), await reference.push(chunk)];
      expect(bits([a.output, a.hN, a.cN])).toEqual(bits([b.output, b.hN, b.cN]));
    }
  });

  it('calls with signals interleave their slices on one model and each gives its own exact result; aborting one leaves the others', async () => {
    const model = await MODULES[2].make();
    const controllers = [0, 1, 2].map(() => new AbortController());
    const calls = controllers.map((c) => forwardBits(model, { signal: c.signal }).then((b) => b, (e: unknown) => e));
    setTimeout(() => controllers[1]!.abort(), 20);
    const [first, second, third] = await Promise.all(calls);
    expect(isRnnError(second, 'aborted')).toBe(true);
    const alone = await forwardBits(model);
    expect(first).toEqual(alone);
    expect(third).toEqual(alone);
  });
});
