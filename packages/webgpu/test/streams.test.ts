import {
  createGru,
  createLstm,
  createRnn,
  initStateDict,
  isRnnError,
  planModel,
  randomTensorData,
  resolveConfig,
  type Backend,
  type EngineModel,
  type ForwardOptions,
  type Mode,
  type Tensor,
} from '@recurrent/core';
import { describe, expect, it } from 'vitest';
import { createBackend, type RecurrenceKernel, type WebGpuBackend } from '../src/index.js';
import { describeWithGpu, rejection } from './gpu.js';

/** Two layers, a batch of 3, sizes off the kernels' multiples of 4; the LSTM projected. */
const I = 5;
const H = 7;
const N = 3;
const L = 9;
const CONFIGS = { rnn: { inputSize: I, hiddenSize: H, numLayers: 2 }, lstm: { inputSize: I, hiddenSize: H, numLayers: 2, projSize: 3 }, gru: { inputSize: I, hiddenSize: H, numLayers: 2 } };
const MODES = ['rnn', 'lstm', 'gru'] as const;
const KERNELS = ['persistent', 'per-step'] as const;
const CASES = MODES.flatMap((mode) => KERNELS.map((kernel) => [mode, kernel] as const));

type Result = { output: Tensor; hN: Tensor; cN?: Tensor };
type Hx = { h0: Tensor; c0?: Tensor };

/** Any module with forward and stream, h0 (and an LSTM's c0) given. */
interface Model {
  forward(input: Tensor, hx?: Hx, options?: ForwardOptions): Promise<Result>;
  stream(hx?: Hx): { push(chunk: Tensor, options?: ForwardOptions): Promise<Result>; dispose(): void };
  dispose(): void;
}

async function createModel(mode: Mode, backend: Backend): Promise<Model> {
  const config = CONFIGS[mode];
  const weights = initStateDict(config, 11, mode);
  if (mode === 'lstm') {
    const lstm = await createLstm(config, weights, backend);
    const pair = (hx?: Hx): [Tensor, Tensor] | undefined => (hx ? [hx.h0, hx.c0!] : undefined);
    return { forward: (input, hx, options) => lstm.forward(input, pair(hx), options), stream: (hx) => lstm.stream(pair(hx)), dispose: () => lstm.dispose() };
  }
  const model = mode === 'gru' ? await createGru(config, weights, backend) : await createRnn(config, weights, backend);
  return { forward: (input, hx, options) => model.forward(input, hx?.h0, options), stream: (hx) => model.stream(hx?.h0), dispose: () => model.dispose() };
}

const hx = (mode: Mode, seed: number): Hx => {
  const Hout = mode === 'lstm' ? 3 : H;
  const h0 = { data: randomTensorData(2 * N * Hout, seed), shape: [2, N, Hout] };
  return mode === 'lstm' ? { h0, c0: { data: randomTensorData(2 * N * H, seed + 1), shape: [2, N, H] } } : { h0 };
};
const input: Tensor = { data: randomTensorData(L * N * I, 3), shape: [L, N, I] };
/** Steps t0 … t1−1 of a time-major (·, N, I) input. */
const steps = (x: Tensor, t0: number, t1: number): Tensor => ({ data: x.data.slice(t0 * N * I, t1 * N * I), shape: [t1 - t0, N, I] });

/** Pushes `x` in chunks of these lengths; the outputs joined along time, and the last states. */
async function pushAll(stream: ReturnType<Model['stream']>, x: Tensor, chunks: number[], options?: (i: number) => ForwardOptions): Promise<Result> {
  const outputs: Float32Array[] = [];
  let last: Result | undefined;
  let t = 0;
  for (const [i, length] of chunks.entries()) {
    last = await stream.push(steps(x, t, t + length), options?.(i));
    outputs.push(last.output.data);
    t += length;
  }
  const output = new Float32Array(outputs.reduce((n, o) => n + o.length, 0));
  outputs.reduce((at, o) => (output.set(o, at), at + o.length), 0);
  return { ...last!, output: { data: output, shape: [t, ...last!.output.shape.slice(1)] } };
}

/** Counts what the backend's device makes, submits and maps, and lets a test act at a submission or a map. */
function watch(gpu: WebGpuBackend) {
  const counts = { buffers: 0, bindGroups: 0, submits: 0, maps: 0 };
  const hooks = { onSubmit: null as ((count: number) => void) | null, onMap: null as (() => void) | null };
  const { device } = gpu;
  const { queue } = device;
  const submit = queue.submit.bind(queue);
  queue.submit = (buffers: Iterable<GPUCommandBuffer>) => {
    submit(buffers);
    counts.submits++;
    hooks.onSubmit?.(counts.submits);
  };
  const createBindGroup = device.createBindGroup.bind(device);
  device.createBindGroup = (descriptor: GPUBindGroupDescriptor) => {
    counts.bindGroups++;
    return createBindGroup(descriptor);
  };
  const createBuffer = device.createBuffer.bind(device);
  device.createBuffer = (descriptor: GPUBufferDescriptor) => {
    counts.buffers++;
    const buffer = createBuffer(descriptor);
    const mapAsync = buffer.mapAsync.bind(buffer);
    buffer.mapAsync = (...args: Parameters<GPUBuffer['mapAsync']>) => {
      counts.maps++;
      hooks.onMap?.();
      return mapAsync(...args);
    };
    return buffer;
  };
  return { counts, hooks };
}

/** A backend whose models count their engine forwards and streams opened. */
function counting(gpu: Backend): { backend: Backend; forwards: () => number; opened: () => number } {
  let forwards = 0;
  let opened = 0;
  const backend: Backend = {
    name: gpu.name,
    async createModel(plan) {
      const model = await gpu.createModel(plan);
      const wrapped: EngineModel = {
        forward: (forwardPlan) => (forwards++, model.forward(forwardPlan)),
        openStream: (start) => (opened++, model.openStream!(start)),
        dispose: () => model.dispose(),
      };
      return wrapped;
    },
    dispose: () => gpu.dispose(),
  };
  return { backend, forwards: () => forwards, opened: () => opened };
}

/** The GPU memory a backend holds (its stats have more, e.g. compiled pipelines it keeps for later models). */
const buffersOf = (gpu: Backend) => {
  const { liveBuffers, liveBufferBytes } = gpu.stats!();
  return { liveBuffers, liveBufferBytes };
};

await describeWithGpu('WebGPU streams', () => {
  describe('WebGPU streams (states held in GPU buffers)', () => {
    it.each(CASES)('%s (%s): pushes in any chunks equal one forward bit for bit, outputs and final states', async (mode, kernel) => {
      const gpu = await createBackend({ recurrence: kernel });
      const model = await createModel(mode, gpu);
      const start = hx(mode, 5);
      const expected = await model.forward(input, start);
      for (const chunks of [[L], [1, 1, 1, 1, 1, 1, 1, 1, 1], [1, 2, 3, 3], [4, 1, 4]]) {
        const stream = model.stream(start);
        expect(await pushAll(stream, input, chunks)).toEqual(expected);
        stream.dispose();
      }
      // Zero initial states when the stream is given none, as forward without them.
      const zeros = model.stream();
      expect(await pushAll(zeros, input, [2, 7])).toEqual(await model.forward(input));
      zeros.dispose();
      model.dispose();
      gpu.dispose();
    });

    it.each(CASES)('%s (%s): lengths: an element stops at its length and carries that state into the next push', async (mode, kernel) => {
      const gpu = await createBackend({ recurrence: kernel });
      const model = await createModel(mode, gpu);
      const start = hx(mode, 6);
      const first = steps(input, 0, 4);
      const second = steps(input, 4, L);
      const lengths = [4, 1, 3];
      const expectedFirst = await model.forward(first, start, { lengths });
      const carried = { h0: expectedFirst.hN, ...(expectedFirst.cN ? { c0: expectedFirst.cN } : {}) };
      const expectedSecond = await model.forward(second, carried, { lengths: [5, 2, 5] });
      const stream = model.stream(start);
      expect(await stream.push(first, { lengths })).toEqual(expectedFirst);
      expect(await stream.push(second, { lengths: [5, 2, 5] })).toEqual(expectedSecond);
      // Without lengths again: every element runs the whole chunk (the lengths buffer is rewritten).
      const third = await model.forward(second, { h0: expectedSecond.hN, ...(expectedSecond.cN ? { c0: expectedSecond.cN } : {}) });
      expect(await stream.push(second)).toEqual(third);
      stream.dispose();
      model.dispose();
      gpu.dispose();
    });

    it('the projection of a few rows (a push) sums exactly as the tiled one: the same bits, special values and edge sizes included', async () => {
      const gpu = await createBackend();
      // Inputs and hidden sizes on and off the 16-wide k steps and the 64-wide column tiles.
      for (const [inputSize, hiddenSize] of [[1, 1], [16, 16], [17, 5], [64, 65], [65, 33]] as const) {
        const config = { inputSize, hiddenSize, bias: inputSize !== 16 };
        const model = await createGru(config, initStateDict(config, inputSize, 'gru'), gpu);
        const steps = 40; // 40·N rows: the tiled projection
        const data = randomTensorData(steps * 2 * inputSize, hiddenSize);
        data.set([0, -0, Infinity, -Infinity, NaN, 3e38, -3e38, 1e-40].slice(0, data.length));
        const whole = await model.forward({ data, shape: [steps, 2, inputSize] });
        // Step 0 alone (2 rows): the few-rows projection, then the same recurrence step.
        const first = await model.forward({ data: data.slice(0, 2 * inputSize), shape: [1, 2, inputSize] });
        expect(first.output.data).toEqual(whole.output.data.slice(0, 2 * hiddenSize));
        model.dispose();
      }
      gpu.dispose();
    });

    it('the states stay on the engine: no forward is called, and a one-step push makes no buffer or bind group and maps once', async () => {
      const gpu = await createBackend();
      const { backend: wrapped, forwards, opened } = counting(gpu);
      const { counts } = watch(gpu);
      const model = await createModel('lstm', wrapped);
      const stream = model.stream(hx('lstm', 7));
      await stream.push(steps(input, 0, 1)); // the first push of a length builds its work
      const before = { ...counts };
      for (let t = 1; t < L; t++) await stream.push(steps(input, t, t + 1));
      expect(counts.buffers - before.buffers).toBe(0);
      expect(counts.bindGroups - before.bindGroups).toBe(0);
      expect(counts.maps - before.maps).toBe(L - 1);
      expect(counts.submits - before.submits).toBe(L - 1);
      expect(forwards()).toBe(0);
      expect(opened()).toBe(1);
      stream.dispose();
      model.dispose();
      gpu.dispose();
    });

    it.each(KERNELS)('abort mid-push (%s) rejects with aborted, submits nothing more, and leaves the states as they were', async (kernel) => {
      const gpu = await createBackend({ recurrence: kernel });
      const model = await createModel('lstm', gpu);
      const start = hx('lstm', 8);
      const expected = await model.forward(input, start);
      const { counts, hooks } = watch(gpu);
      const stream = model.stream(start);
      const first = await stream.push(steps(input, 0, 3));
      // With a signal a push is paced: several submissions; abort after the second.
      const controller = new AbortController();
      const at = counts.submits;
      hooks.onSubmit = (count) => {
        if (count === at + 2) controller.abort(new Error('next keystroke'));
      };
      const error = await rejection(stream.push(steps(input, 3, L), { signal: controller.signal }));
      expect(isRnnError(error, 'aborted')).toBe(true);
      expect((error as Error).cause).toEqual(new Error('next keystroke'));
      hooks.onSubmit = null;
      const rest = await stream.push(steps(input, 3, L), { signal: new AbortController().signal });
      expect(counts.submits - at).toBeGreaterThan(2 + 1);
      expect(new Float32Array([...first.output.data, ...rest.output.data])).toEqual(expected.output.data);
      expect(rest.hN).toEqual(expected.hN);
      expect(rest.cN).toEqual(expected.cN);
      stream.dispose();
      model.dispose();
      gpu.dispose();
    });

    it('a signal that fires while the results come back (every block submitted) commits nothing', async () => {
      const gpu = await createBackend();
      const model = await createModel('gru', gpu);
      const expected = await model.forward(input);
      const { hooks } = watch(gpu);
      const stream = model.stream();
      const first = await stream.push(steps(input, 0, 4));
      const controller = new AbortController();
      hooks.onMap = () => controller.abort();
      const error = await rejection(stream.push(steps(input, 4, L), { signal: controller.signal }));
      expect(isRnnError(error, 'aborted')).toBe(true);
      hooks.onMap = null;
      const rest = await stream.push(steps(input, 4, L));
      expect(new Float32Array([...first.output.data, ...rest.output.data])).toEqual(expected.output.data);
      expect(rest.hN).toEqual(expected.hN);
      model.dispose();
      gpu.dispose();
    });

    it.each(KERNELS)('stats come back: a disposed stream frees its buffers, a disposed model its streams\' (%s)', async (kernel) => {
      const gpu = await createBackend({ recurrence: kernel });
      const empty = buffersOf(gpu);
      const model = await createModel('lstm', gpu);
      await model.forward(input);
      const baseline = buffersOf(gpu);
      const stream = model.stream(hx('lstm', 9));
      for (const length of [1, 1, 3, 5]) await stream.push(steps(input, 0, length));
      expect(gpu.stats!().liveBuffers).toBeGreaterThan(baseline.liveBuffers);
      stream.dispose();
      await new Promise((resolve) => setTimeout(resolve, 0)); // core disposes the engine stream after its queue
      expect(buffersOf(gpu)).toEqual(baseline);
      // Streams still open when their model goes: the model's dispose frees them; theirs later is harmless.
      const open = [model.stream(), model.stream(hx('lstm', 10))];
      for (const s of open) await s.push(steps(input, 0, 2));
      model.dispose();
      expect(buffersOf(gpu)).toEqual(empty);
      for (const s of open) s.dispose();
      await new Promise((resolve) => setTimeout(resolve, 0));
      expect(buffersOf(gpu)).toEqual(empty);
      gpu.dispose();
    });

    it('a push after its model is disposed is disposed; a push on a lost device is device-lost', async () => {
      const gpu = await createBackend();
      const model = await createModel('rnn', gpu);
      const stream = model.stream();
      await stream.push(steps(input, 0, 1));
      model.dispose();
      expect(isRnnError(await rejection(stream.push(steps(input, 1, 2))), 'disposed')).toBe(true);

      // Engine level (core checks its own model first): the stream's model disposed under it.
      const engine = await gpu.createModel(planModel(resolveConfig(CONFIGS.rnn, 'rnn'), initStateDict(CONFIGS.rnn, 11, 'rnn')));
      const held = engine.openStream!({ batch: N, h0: null, c0: null });
      const push = { seqLen: 1, batch: N, input: steps(input, 0, 1).data, lengths: null };
      await held.push(push);
      engine.dispose();
      expect(isRnnError(await rejection((async () => held.push(push))()), 'disposed')).toBe(true);
      held.dispose();

      const again = await createModel('rnn', gpu);
      const live = again.stream();
      await live.push(steps(input, 0, 1));
      const { hooks } = watch(gpu);
      hooks.onSubmit = () => gpu.device.destroy();
      expect(isRnnError(await rejection(live.push(input, { signal: new AbortController().signal })), 'device-lost')).toBe(true);
      expect(isRnnError(await rejection(live.push(input)), 'device-lost')).toBe(true);
      again.dispose();
      gpu.dispose();
    });
  });
});
