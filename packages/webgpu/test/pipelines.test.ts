import {
  createGru, createLstm, createRnn, initStateDict, isRnnError, planForward, planModel, randomTensorData, resolveConfig,
  type BackwardPlan, type EngineGradients, type EngineModel, type Mode, type Tensor,
} from '@recurrent/core';
import { describe, expect, it } from 'vitest';
import { createBackend, type WebGpuBackend } from '../src/index.js';
import { PipelineCache, sourceKey } from '../src/pipelines.js';
import { gemmShader, persistentRecurrenceShader } from '../src/shaders.js';
import { describeWithGpu, rejection, simulateOutOfMemory, watchSubmissions } from './gpu.js';

const config = { inputSize: 5, hiddenSize: 6, numLayers: 2, bidirectional: true };
const L = 4;
const N = 3;
const input: Tensor = { data: randomTensorData(L * N * 5, 1), shape: [L, N, 5] };

interface Model {
  forward(input: Tensor): Promise<{ output: Tensor; hN: Tensor }>;
  backward(input: Tensor, hx: undefined, upstream: { output: Tensor }): Promise<{ input: Tensor }>;
  dispose(): void;
}

async function createModel(mode: Mode, gpu: WebGpuBackend, cfg: typeof config = config): Promise<Model> {
  const weights = initStateDict(cfg, 7, mode);
  if (mode === 'lstm') return createLstm(cfg, weights, gpu) as Promise<Model>;
  return (mode === 'gru' ? createGru(cfg, weights, gpu) : createRnn(cfg, weights, gpu)) as Promise<Model>;
}

type Compile = GPUDevice['createComputePipelineAsync'];

/** Puts `wrap` around the device's compilations (it calls `compile` for a real one). Returns what puts the real one back. */
function wrapCompilations(device: GPUDevice, wrap: (compile: Compile, descriptor: GPUComputePipelineDescriptor) => Promise<GPUComputePipeline>): () => void {
  const compile: Compile = device.createComputePipelineAsync.bind(device);
  device.createComputePipelineAsync = (descriptor) => wrap(compile, descriptor);
  return () => {
    device.createComputePipelineAsync = compile;
  };
}

/** Counts the device's pipeline compilations. */
function countCompilations(gpu: WebGpuBackend): () => number {
  let count = 0;
  wrapCompilations(gpu.device, (compile, descriptor) => {
    count++;
    return compile(descriptor);
  });
  return () => count;
}

/** Makes the device's next compilation reject, as Dawn's does for a shader it cannot compile. Returns what puts the real one back. */
function failCompilation(device: GPUDevice): () => void {
  let failed = false;
  return wrapCompilations(device, (compile, descriptor) => {
    if (failed) return compile(descriptor);
    failed = true;
    return Promise.reject(new GPUPipelineError('simulated: the compiler failed', { reason: 'internal' }));
  });
}

/** A stand-in device that only counts what it makes: enough for the cache's bookkeeping. Its compilations reject while `reject` is set. */
function fakeDevice(): GPUDevice & { made: Record<string, number>; reject: boolean } {
  const made: Record<string, number> = {};
  const make = (kind: string) => (descriptor: object) => {
    made[kind] = (made[kind] ?? 0) + 1;
    return { kind, descriptor };
  };
  const device = {
    made,
    reject: false,
    createBindGroupLayout: make('bindGroupLayout'),
    createPipelineLayout: make('pipelineLayout'),
    createShaderModule: make('shaderModule'),
    createComputePipelineAsync: (descriptor: object) => {
      const pipeline = make('pipeline')(descriptor);
      return device.reject ? Promise.reject(new Error('simulated: the compiler failed')) : Promise.resolve(pipeline);
    },
  };
  return device as unknown as GPUDevice & { made: Record<string, number>; reject: boolean };
}

describe('PipelineCache (bookkeeping)', () => {
  const entries: GPUBindGroupLayoutEntry[] = [{ binding: 0, visibility: 4, buffer: { type: 'storage' } }];

  it('compiles a source, entry point and layout once; another entry point of the same module is a second pipeline', () => {
    const device = fakeDevice();
    const cache = new PipelineCache(device);
    const layout = cache.bindGroupLayout(entries);
    expect(cache.bindGroupLayout(JSON.parse(JSON.stringify(entries)))).toBe(layout);
    const main = cache.pipeline('code A', layout);
    expect(cache.pipeline('code A', layout, 'main')).toBe(main);
    expect(cache.pipeline('code A', layout, 'project')).not.toBe(main);
    expect(device.made).toEqual({ bindGroupLayout: 1, pipelineLayout: 1, shaderModule: 1, pipeline: 2 });
    expect(cache.stats()).toEqual({ shaderModules: 1, pipelines: 2 });
  });

  it('keys a source by its tokens: comments and indentation do not count, every token does', () => {
    expect(sourceKey('let a = b;  // a = b·Wᵀ\n\n  let c = a ⊙ 2;')).toBe('let a = b; let c = a ⊙ 2;');
    expect(sourceKey('let a = b;\rlet c = a;')).toBe('let a = b; let c = a;');
    expect(sourceKey('let a = b; // x\rlet c = a;')).toBe('let a = b; let c = a;');
    expect(sourceKey('/* // */ let a = b;')).toBe('/* // */ let a = b;');
    expect(sourceKey('let a=b;')).not.toBe(sourceKey('let a = b;'));
    const shape = { mode: 'lstm', nonlinearity: 'tanh', gates: 4, hiddenSize: 6, outputSize: 6, projSize: 0, numDirections: 2 } as const;
    for (const code of [gemmShader(), persistentRecurrenceShader(shape).code]) expect(/[^\x00-\xff]/.test(sourceKey(code))).toBe(false);
    expect(sourceKey(persistentRecurrenceShader(shape).code)).not.toBe(sourceKey(persistentRecurrenceShader({ ...shape, hiddenSize: 7, outputSize: 7 }).code));
  });

  it('holds at most its capacity of modules, dropping the least recently used with their pipelines', () => {
    const device = fakeDevice();
    const cache = new PipelineCache(device, 2);
    const layout = cache.bindGroupLayout(entries);
    const a = cache.pipeline('code A', layout);
    cache.pipeline('code A', layout, 'project');
    cache.pipeline('code B', layout);
    expect(cache.pipeline('code A', layout)).toBe(a); // A is now the most recently used
    cache.pipeline('code C', layout); // evicts B
    expect(cache.stats()).toEqual({ shaderModules: 2, pipelines: 3 });
    expect(cache.pipeline('code A', layout)).toBe(a);
    cache.pipeline('code B', layout); // compiled again, evicting C
    expect(device.made.shaderModule).toBe(4);
    expect(cache.stats()).toEqual({ shaderModules: 2, pipelines: 3 });
  });

  it('forgetSince takes back what was made after the mark, and nothing before it', () => {
    const device = fakeDevice();
    const cache = new PipelineCache(device);
    const layout = cache.bindGroupLayout(entries);
    const a = cache.pipeline('code A', layout);
    const mark = cache.mark();
    cache.pipeline('code A', layout, 'project');
    cache.pipeline('code B', cache.bindGroupLayout([...entries, { binding: 1, visibility: 4, buffer: { type: 'uniform' } }]));
    cache.forgetSince(mark);
    expect(cache.stats()).toEqual({ shaderModules: 1, pipelines: 1 });
    expect(cache.pipeline('code A', layout)).toBe(a);
    cache.clear();
    expect(cache.stats()).toEqual({ shaderModules: 0, pipelines: 0 });
  });

  it('requests made while a pipeline compiles share its one compilation, which resolves to the pipeline', async () => {
    const device = fakeDevice();
    const cache = new PipelineCache(device);
    const layout = cache.bindGroupLayout(entries);
    const first = cache.pipeline('code A', layout);
    const second = cache.pipeline('code A', layout);
    expect(second).toBe(first);
    expect(device.made.pipeline).toBe(1);
    expect(await second).toMatchObject({ kind: 'pipeline', descriptor: { compute: { entryPoint: 'main' } } });
  });

  it('a compilation that rejects is not kept: the next request compiles afresh; a late rejection leaves newer entries alone', async () => {
    const device = fakeDevice();
    const cache = new PipelineCache(device);
    const layout = cache.bindGroupLayout(entries);
    const kept = cache.pipeline('code B', layout);
    device.reject = true;
    const failing = cache.pipeline('code A', layout);
    expect(cache.stats()).toEqual({ shaderModules: 2, pipelines: 2 });
    await expect(failing).rejects.toThrow('simulated: the compiler failed');
    expect(cache.stats()).toEqual({ shaderModules: 1, pipelines: 1 });
    device.reject = false;
    const again = cache.pipeline('code A', layout);
    expect(again).not.toBe(failing);
    await again;
    expect(device.made).toMatchObject({ shaderModule: 3, pipeline: 3 });
    expect(cache.pipeline('code B', layout)).toBe(kept);

    // One that fails after its module was forgotten (and made again) takes nothing of the new one.
    device.reject = true;
    const late = cache.pipeline('code C', layout);
    cache.clear();
    device.reject = false;
    const layoutAgain = cache.bindGroupLayout(entries);
    const fresh = cache.pipeline('code C', layoutAgain);
    await expect(late).rejects.toThrow('simulated: the compiler failed');
    expect(cache.stats()).toEqual({ shaderModules: 1, pipelines: 1 });
    expect(cache.pipeline('code C', layoutAgain)).toBe(fresh);
  });
});

await describeWithGpu('WebGPU pipeline cache', () => {
  describe('WebGPU pipeline cache', () => {
    it.each(['rnn', 'lstm', 'gru'] as const)('%s: two models of the same sizes share their pipelines, forward and backward, with the same results', async (mode) => {
      const gpu = await createBackend();
      const compilations = countCompilations(gpu);
      const first = await createModel(mode, gpu);
      const expected = await first.forward(input);
      const upstream = { output: { data: randomTensorData(expected.output.data.length, 2), shape: expected.output.shape } };
      const gradients = await first.backward(input, undefined, upstream);
      first.dispose();
      const compiled = compilations();
      const held = gpu.stats!();
      expect(held.pipelines).toBe(compiled);
      expect(held.shaderModules).toBeGreaterThan(0);

      const second = await createModel(mode, gpu);
      expect(await second.forward(input)).toEqual(expected);
      expect(await second.backward(input, undefined, upstream)).toEqual(gradients);
      second.dispose();
      expect(compilations()).toBe(compiled);
      expect(gpu.stats!()).toEqual(held);

      // Other sizes compile their own recurrence kernel only: the GEMM is everyone's.
      const other = await createModel(mode, gpu, { ...config, hiddenSize: 7 });
      await other.forward(input);
      other.dispose();
      expect(compilations()).toBe(compiled + 1);
      gpu.dispose();
      expect(gpu.stats!()).toMatchObject({ shaderModules: 0, pipelines: 0 });
    });

    it('a backend after a lost device compiles afresh on its own device and gives the same results', async () => {
      const gpu = await createBackend();
      const model = await createModel('lstm', gpu);
      const expected = await model.forward(input);
      gpu.device.destroy();
      expect(isRnnError(await rejection(model.forward(input)), 'device-lost')).toBe(true);
      expect(isRnnError(await rejection(createModel('lstm', gpu)), 'device-lost')).toBe(true);
      model.dispose();
      gpu.dispose();

      const fresh = await createBackend();
      const compilations = countCompilations(fresh);
      const again = await createModel('lstm', fresh);
      expect(await again.forward(input)).toEqual(expected);
      expect(compilations()).toBeGreaterThan(0);
      expect(fresh.stats!().pipelines).toBe(compilations());
      again.dispose();
      fresh.dispose();
    });

    it("backends sharing a caller's device each keep their own cache; disposing one leaves the others' models running", async () => {
      const owner = await createBackend();
      const first = await createBackend({ device: owner.device });
      const second = await createBackend({ device: owner.device });
      const a = await createModel('gru', first);
      const expected = await a.forward(input);
      a.dispose();
      first.dispose();
      expect(first.stats!()).toMatchObject({ shaderModules: 0, pipelines: 0 });
      const b = await createModel('gru', second);
      expect(await b.forward(input)).toEqual(expected);
      expect(second.stats!().pipelines).toBeGreaterThan(0);
      b.dispose();
      second.dispose();
      owner.dispose();
    });

    it('a model whose creation the GPU failed leaves no pipeline behind; the next one compiles afresh and works', async () => {
      const gpu = await createBackend();
      const empty = gpu.stats!();
      const { device } = gpu;
      const restore = simulateOutOfMemory(device, 'simulated: out of memory while compiling');
      expect(isRnnError(await rejection(createModel('rnn', gpu)), 'limit')).toBe(true);
      expect(gpu.stats!()).toEqual(empty);
      restore();
      const compilations = countCompilations(gpu);
      const model = await createModel('rnn', gpu);
      expect((await model.forward(input)).output.shape).toEqual([L, N, 12]);
      expect(compilations()).toBe(3); // the GEMM's two entry points (tiled, few rows) and the recurrence
      model.dispose();
      gpu.dispose();
    });

    it('a compilation that fails rejects the model with internal and leaves no pipeline behind; the next one compiles afresh and works', async () => {
      const gpu = await createBackend();
      const empty = gpu.stats!();
      const restore = failCompilation(gpu.device);
      const error = await rejection(createModel('rnn', gpu));
      expect(isRnnError(error, 'internal')).toBe(true);
      expect((error as Error).message).toMatch(/simulated: the compiler failed/);
      expect(gpu.stats!()).toEqual(empty);
      restore();
      const compilations = countCompilations(gpu);
      const model = await createModel('rnn', gpu);
      expect((await model.forward(input)).output.shape).toEqual([L, N, 12]);
      expect(compilations()).toBe(3);
      model.dispose();
      gpu.dispose();
    });

    it.each([
      ['the backend disposed', 'disposed', (gpu: WebGpuBackend): void => gpu.dispose()],
      ['the device lost', 'device-lost', (gpu: WebGpuBackend): void => gpu.device.destroy()],
    ] as const)('%s while a model compiles: creating it rejects with %s and leaves nothing behind', async (_, code, end) => {
      const gpu = await createBackend();
      const empty = gpu.stats!();
      wrapCompilations(gpu.device, (compile, descriptor) => {
        queueMicrotask(() => end(gpu));
        return compile(descriptor);
      });
      expect(isRnnError(await rejection(createModel('lstm', gpu)), code)).toBe(true);
      expect(gpu.stats!()).toEqual(code === 'disposed' ? { ...empty, shaderModules: 0, pipelines: 0 } : empty);
      gpu.dispose();
    });

    it('creating a model whose pipelines are not compiled yet leaves the event loop running', async () => {
      const gpu = await createBackend();
      let ticks = 0;
      const timer = setInterval(() => ticks++, 1);
      const compilations = countCompilations(gpu);
      try {
        const cfg = { inputSize: 48, hiddenSize: 128, numLayers: 2, bidirectional: true };
        const model = await createLstm(cfg, initStateDict(cfg, 3, 'lstm'), gpu);
        model.dispose();
      } finally {
        clearInterval(timer);
      }
      expect(compilations()).toBe(3);
      expect(ticks).toBeGreaterThanOrEqual(3);
      gpu.dispose();
    });
  });
});

await describeWithGpu('WebGPU backward compilation', () => {
  describe('WebGPU backward compilation', () => {
    /** An engine-level model (core would race its backward with the signal) and a backward plan. */
    async function engineModel(gpu: WebGpuBackend): Promise<{ model: EngineModel; plan: (signal?: AbortSignal) => BackwardPlan }> {
      const resolved = resolveConfig(config, 'gru');
      const model = await gpu.createModel(planModel(resolved, initStateDict(config, 7, 'gru')));
      const gradOutput = randomTensorData(L * N * 12, 2);
      const plan = (signal?: AbortSignal): BackwardPlan => ({ ...planForward(resolved, input, undefined, { signal }).plan, gradOutput, gradHN: null, gradCN: null });
      return { model, plan };
    }

    /** The gradients of a backward on a backend of its own, untouched by the tests' wrappers. */
    async function expectedGradients(): Promise<EngineGradients> {
      const reference = await createBackend();
      const { model, plan } = await engineModel(reference);
      const gradients = await model.backward!(plan());
      reference.dispose();
      return gradients;
    }

    it('an abort while the first backward compiles rejects it with aborted; the model stays usable and the next backward uses those compilations', async () => {
      const expected = await expectedGradients();
      const gpu = await createBackend();
      const { model, plan } = await engineModel(gpu);
      const watch = watchSubmissions(gpu);
      const compilations = countCompilations(gpu);
      const controller = new AbortController();
      wrapCompilations(gpu.device, (compile, descriptor) => {
        controller.abort();
        return compile(descriptor);
      });
      expect(isRnnError(await rejection(model.backward!(plan(controller.signal))), 'aborted')).toBe(true);
      expect(watch.count()).toBe(0);
      const compiled = compilations();
      expect(compiled).toBeGreaterThan(0);
      expect(await model.backward!(plan())).toEqual(expected);
      expect(compilations()).toBe(compiled);
      model.dispose();
      gpu.dispose();
    });

    it('a compilation of the first backward that fails rejects it with internal; the next backward compiles afresh and is exact', async () => {
      const expected = await expectedGradients();
      const gpu = await createBackend();
      const { model, plan } = await engineModel(gpu);
      const restore = failCompilation(gpu.device);
      const error = await rejection(model.backward!(plan()));
      expect(isRnnError(error, 'internal')).toBe(true);
      expect((error as Error).message).toMatch(/simulated: the compiler failed/);
      restore();
      expect(await model.backward!(plan())).toEqual(expected);
      model.dispose();
      gpu.dispose();
    });
  });
});
