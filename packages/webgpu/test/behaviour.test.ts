import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createGru, createLstm, createRnn, initStateDict, isRnnError, planForward, planModel, randomTensorData, resolveConfig, type Backend, type Mode, type RnnConfig, type Tensor } from '@recurrent/core';
import { createBackend as createCpuBackend } from '@recurrent/cpu';
import { describe, expect, it } from 'vitest';
import { checkForwardLimits, checkModelLimits, createBackend, persistentMisfit, type DeviceLimits, type ModelSizes, type WebGpuModel } from '../src/index.js';
import { describeWithGpu, ignoringPipelineCache, rejection } from './gpu.js';

const config: RnnConfig = { inputSize: 6, hiddenSize: 10, numLayers: 2, bidirectional: true };
const weights = initStateDict(config, 3);
const call = (L: number, N: number, seed: number) => ({
  input: { data: randomTensorData(L * N * 6, seed), shape: [L, N, 6] },
  h0: { data: randomTensorData(4 * N * 10, seed + 1), shape: [4, N, 10] },
});

const MODES = ['rnn', 'lstm', 'gru'] as const;
/** One small model per module (the LSTM projected), for the behaviours every module shares. */
const MODULE_CONFIGS = { rnn: config, lstm: { ...config, projSize: 4 }, gru: config };

async function createModule(mode: Mode, backend: Backend): Promise<{ forward(input: Tensor): Promise<unknown>; dispose(): void }> {
  const moduleConfig = MODULE_CONFIGS[mode];
  const moduleWeights = initStateDict(moduleConfig, 3, mode);
  if (mode === 'lstm') return createLstm(moduleConfig, moduleWeights, backend);
  return mode === 'gru' ? createGru(moduleConfig, moduleWeights, backend) : createRnn(moduleConfig, moduleWeights, backend);
}

const small: DeviceLimits = {
  maxStorageBufferBindingSize: 1024,
  maxBufferSize: 4096,
  maxComputeWorkgroupsPerDimension: 100,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupStorageSize: 16384,
};

/** The sizes of a model of `mode` (G gates), as a ModelPlan carries them. */
function sizes(mode: Mode, H: number, D: 1 | 2, inputSizes: number[], projSize = 0): ModelSizes {
  const gates = ({ rnn: 1, lstm: 4, gru: 3 } as const)[mode];
  const layers = inputSizes.map((inputSize) => ({ inputSize }));
  return { mode, gates, hiddenSize: H, outputSize: projSize || H, projSize, numDirections: D, numLayers: layers.length, nonlinearity: 'tanh', layers };
}

describe('limit checks (pure, before any GPU call)', () => {
  it('an input larger than one storage binding is a limit error naming the buffer and both sizes', () => {
    const error = rejectionSync(() => checkForwardLimits(sizes('rnn', 2, 1, [8]), 10, 4, small));
    expect(isRnnError(error, 'limit')).toBe(true);
    expect((error as Error).message).toMatch(/the input \(L=10 × N=4 × 8 floats\) needs 1280 bytes .* maxStorageBufferBindingSize of 1024 bytes/);
  });
  it('a batch beyond the workgroup count limit is a limit error', () => {
    const error = rejectionSync(() => checkForwardLimits(sizes('rnn', 1, 1, [1]), 1, 101, small));
    expect(isRnnError(error, 'limit')).toBe(true);
    expect((error as Error).message).toMatch(/N = 101 .* maxComputeWorkgroupsPerDimension of 100/);
  });
  it('weights larger than one binding are a limit error at model creation', () => {
    const error = rejectionSync(() => checkModelLimits(sizes('rnn', 20, 2, [4]), small));
    expect(isRnnError(error, 'limit')).toBe(true);
    expect((error as Error).message).toMatch(/weight_hh .* needs 3200 bytes/);
  });
  it("an LSTM's gate-stacked weights count all four gates", () => {
    // W_hh of (2 × 4·10 × 10) floats: 3200 bytes, where an RNN of the same H needs 800.
    const error = rejectionSync(() => checkModelLimits(sizes('lstm', 10, 2, [2]), small));
    expect((error as Error).message).toBe("weight_hh of each layer (2 × 4·10 × 10 floats) needs 3200 bytes (0.0 MiB), more than this GPU's maxStorageBufferBindingSize of 1024 bytes (0.0 MiB)");
  });
  it("a GRU's input projection (three gates per step) is checked, not only its output", () => {
    // Output (L=8 × N=1 × 10 floats) = 320 bytes fits; the projection (8 × 1 × 30 floats) = 960 fits; L=9 does not.
    expect(() => checkForwardLimits(sizes('gru', 10, 1, [1]), 8, 1, small)).not.toThrow();
    const error = rejectionSync(() => checkForwardLimits(sizes('gru', 10, 1, [1]), 9, 1, small));
    expect((error as Error).message).toMatch(/^each layer's input projection \(L=9 × N=1 × 30 floats\) needs 1080 bytes/);
  });
  it('the persistent kernel fits when its states do: h twice, plus c for an LSTM, plus o ⊙ tanh(c) when projected', () => {
    const limits = { ...small, maxComputeWorkgroupStorageSize: 16384 };
    expect(persistentMisfit(sizes('rnn', 2048, 1, [1]), limits)).toBeNull();
    expect(persistentMisfit(sizes('lstm', 1365, 1, [1]), limits)).toBeNull();
    const lstm = persistentMisfit(sizes('lstm', 1366, 1, [1]), limits);
    expect(lstm?.message).toBe("the persistent recurrence kernel keeps 4098 floats of state (h twice: 2·1366, c: 1366) in workgroup memory, more than this GPU's maxComputeWorkgroupStorageSize of 16384 bytes");
    expect(persistentMisfit(sizes('lstm', 1500, 1, [1], 548), limits)).toBeNull();
    expect(persistentMisfit(sizes('lstm', 1500, 1, [1], 549), limits)?.message).toMatch(/4098 floats of state \(h twice: 2·549, c: 1500, o ⊙ tanh\(c\): 1500\)/);
  });
  it('sizes within the limits pass', () => {
    expect(() => checkForwardLimits(sizes('rnn', 4, 2, [8, 8]), 4, 2, small)).not.toThrow();
  });
});

function rejectionSync(fn: () => void): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('no adapter', () => {
  it('createBackend rejects with RnnError("unavailable") and the reason when Vulkan has no driver', () => {
    const entry = fileURLToPath(new URL('../dist/index.js', import.meta.url));
    const script = `import(${JSON.stringify(entry)}).then(m => m.createBackend()).then(
      () => console.log('RESOLVED'), (e) => console.log('CODE=' + e.code + ' ' + e.message))`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, VK_ICD_FILENAMES: '/nonexistent/no-driver.json' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.stdout).toMatch(/CODE=unavailable WebGPU is not available: requestAdapter\(\) returned no adapter/);
  });
  it('a device that is not a GPUDevice is a type error', async () => {
    const error = await rejection(createBackend({ device: 42 as unknown as GPUDevice }));
    expect(isRnnError(error, 'type')).toBe(true);
  });
});

/** A device with WebGPU's default limits (128 MiB bindings, 16 KiB workgroup memory), as a caller might pass. */
let dawnInstance: GPU | null = null; // kept for the whole file: Dawn must not collect it under live devices
async function defaultLimitsDevice(): Promise<GPUDevice> {
  const { create } = await import('webgpu');
  dawnInstance ??= create([]);
  return (await dawnInstance.requestAdapter())!.requestDevice();
}

await describeWithGpu('WebGPU engine behaviour', () => {
  describe('WebGPU engine behaviour', () => {
    it('concurrent forward() calls on one model give the same results as sequential ones', async () => {
      const gpu = await createBackend();
      const rnn = await createRnn(config, weights, gpu);
      // Different shapes interleaved, so the pooled buffers would be shared if calls overlapped.
      const calls = [call(5, 3, 1), call(2, 7, 2), call(5, 3, 3), call(9, 1, 4), call(2, 7, 5)];
      const sequential: Awaited<ReturnType<typeof rnn.forward>>[] = [];
      for (const c of calls) sequential.push(await rnn.forward(c.input, c.h0));
      const concurrent = await Promise.all(calls.map((c) => rnn.forward(c.input, c.h0)));
      concurrent.forEach((result, i) => {
        expect(result.output.data).toEqual(sequential[i]!.output.data);
        expect(result.hN.data).toEqual(sequential[i]!.hN.data);
      });
      expect(new Set(concurrent.map((r) => r.output.data[0])).size).toBeGreaterThan(1);
      rnn.dispose();
      gpu.dispose();
    });

    it('device loss rejects pending and later calls with device-lost; a new backend works', async () => {
      const gpu = await createBackend();
      const rnn = await createRnn(config, weights, gpu);
      const { input, h0 } = call(30, 4, 6);
      const before = await rnn.forward(input, h0);
      const pending = rnn.forward(input, h0);
      // Let the forward reach the GPU (submitted, read-back waiting) before the device goes.
      await new Promise((resolve) => setTimeout(resolve, 0));
      gpu.device.destroy();
      const pendingError = await rejection(pending);
      expect(isRnnError(pendingError, 'device-lost')).toBe(true);
      expect((pendingError as Error).message).toMatch(/device was lost/);
      const laterError = await rejection(rnn.forward(input, h0));
      expect(isRnnError(laterError, 'device-lost')).toBe(true);
      const createError = await rejection(createRnn(config, weights, gpu));
      expect(isRnnError(createError, 'device-lost')).toBe(true);
      rnn.dispose();
      gpu.dispose();

      const fresh = await createBackend();
      const again = await createRnn(config, weights, fresh);
      const after = await again.forward(input, h0);
      expect(after.output.data).toEqual(before.output.data);
      again.dispose();
      fresh.dispose();
    });

    it.each(MODES)('%s: dispose() destroys every GPU buffer the model owns, and later calls are disposed errors', async (mode) => {
      const gpu = await createBackend();
      const created: GPUBuffer[] = [];
      const destroyed = new Set<GPUBuffer>();
      const { createBuffer } = gpu.device;
      gpu.device.createBuffer = function (descriptor: GPUBufferDescriptor) {
        const buffer = createBuffer.call(this, descriptor);
        created.push(buffer);
        const destroy = buffer.destroy.bind(buffer);
        buffer.destroy = () => {
          destroyed.add(buffer);
          destroy();
        };
        return buffer;
      };
      const baseline = gpu.stats!();
      const model = await createModule(mode, gpu);
      await model.forward(call(4, 2, 7).input);
      await model.forward(call(6, 3, 8).input); // a second shape: more pooled buffers
      expect(created.length).toBeGreaterThan(0);
      expect(gpu.stats!().liveBuffers).toBe(baseline.liveBuffers + created.length - destroyed.size);
      model.dispose();
      expect(created.filter((b) => !destroyed.has(b))).toEqual([]);
      // The compiled pipelines stay cached in the backend for its next models.
      expect(gpu.stats!()).toEqual(ignoringPipelineCache(baseline));
      const error = await rejection(model.forward(call(4, 2, 7).input));
      expect(isRnnError(error, 'disposed')).toBe(true);
      gpu.dispose();
    });

    it.each(MODES)('%s: buffers are pooled: changing input shapes never grows the buffers a model holds (both kernels)', async (mode) => {
      for (const recurrence of ['persistent', 'per-step'] as const) {
        const gpu = await createBackend({ recurrence });
        const model = await createModule(mode, gpu);
        await model.forward(call(1, 1, 11).input);
        const held = gpu.stats!().liveBuffers;
        for (const [L, N] of [[2, 1], [3, 2], [5, 3], [8, 5], [3, 2], [13, 8]] as const) {
          await model.forward(call(L, N, 12).input);
          expect(gpu.stats!().liveBuffers).toBe(held);
        }
        model.dispose();
        expect(gpu.stats!().liveBuffers).toBe(0);
        gpu.dispose();
      }
    });

    it.each(MODES)('%s: profile() gives the same result as forward() and splits the time by phase (both kernels)', async (mode) => {
      for (const recurrence of ['persistent', 'per-step'] as const) {
        const gpu = await createBackend({ recurrence });
        const resolved = resolveConfig(MODULE_CONFIGS[mode], mode);
        const model = (await gpu.createModel(planModel(resolved, initStateDict(MODULE_CONFIGS[mode], 3, mode)))) as WebGpuModel;
        const { input } = call(7, 3, 13);
        const { plan } = planForward(resolved, input);
        const expected = await model.forward(plan);
        const { result, timings } = await model.profile(plan);
        expect(result).toEqual(expected);
        expect(result.cN === undefined).toBe(mode !== 'lstm');
        expect(timings.method).toBe(gpu.device.features.has('timestamp-query') ? 'timestamp-query' : 'separate submissions');
        for (const phase of ['projection', 'recurrence', 'readBack'] as const) expect(timings[phase]).toBeGreaterThanOrEqual(0);
        expect(timings.projection + timings.recurrence).toBeGreaterThan(0);
        model.dispose();
        gpu.dispose();
      }
    });

    it('a forward pending when its model is disposed rejects with disposed, not a GPU error', async () => {
      const gpu = await createBackend();
      const rnn = await createRnn(config, weights, gpu);
      const pending = rnn.forward(call(40, 4, 9).input);
      await new Promise((resolve) => setTimeout(resolve, 0));
      rnn.dispose();
      const error = await rejection(pending);
      expect(isRnnError(error, 'disposed')).toBe(true);
      gpu.dispose();
    });

    it("a caller's device is used and never destroyed by the backend", async () => {
      const owner = await createBackend();
      const gpu = await createBackend({ device: owner.device });
      const rnn = await createRnn(config, weights, gpu);
      expect(rnn.backend).toMatch(/^webgpu \(/);
      const { input, h0 } = call(3, 2, 10);
      await rnn.forward(input, h0);
      rnn.dispose();
      gpu.dispose();
      // Still alive: another model on it works.
      const other = await createRnn(config, weights, await createBackend({ device: owner.device }));
      const result = await other.forward(input, h0);
      expect(result.output.shape).toEqual([3, 2, 20]);
      other.dispose();
      owner.dispose();
    });

    it('an input larger than the device allows is RnnError("limit") with the sizes, never a GPU validation error', async () => {
      const device = await defaultLimitsDevice();
      const limit = device.limits.maxStorageBufferBindingSize;
      const gpu = await createBackend({ device });
      const cfg = { inputSize: 1, hiddenSize: 1024, bidirectional: true };
      const rnn = await createRnn(cfg, initStateDict(cfg, 1), gpu);
      // The input is small; each layer's output (L, 1, 2·1024) is just over one binding.
      const L = Math.floor(limit / (2 * 1024 * 4)) + 1;
      const uncaptured: unknown[] = [];
      device.addEventListener('uncapturederror', (e) => uncaptured.push(e));
      const error = await rejection(rnn.forward({ data: new Float32Array(L), shape: [L, 1] }));
      expect(isRnnError(error, 'limit')).toBe(true);
      expect((error as Error).message).toBe(
        `each layer's output (L=${L} × N=1 × 2048 floats) needs ${L * 2048 * 4} bytes (${((L * 2048 * 4) / 2 ** 20).toFixed(1)} MiB), ` +
          `more than this GPU's maxStorageBufferBindingSize of ${limit} bytes (${(limit / 2 ** 20).toFixed(1)} MiB)`,
      );
      // The model still works for inputs that fit, and nothing reached the device as an error.
      const ok = await rnn.forward({ data: new Float32Array([1, 2]), shape: [2, 1] });
      expect(ok.output.shape).toEqual([2, 2048]);
      expect(uncaptured).toEqual([]);
      rnn.dispose();
      gpu.dispose();
      device.destroy();
    });

    it('a hidden size whose state does not fit in workgroup memory runs the per-step kernel (same numbers)', async () => {
      const device = await defaultLimitsDevice();
      const H = device.limits.maxComputeWorkgroupStorageSize / 8 + 1;
      const cfg = { inputSize: 2, hiddenSize: H };
      const weights = initStateDict(cfg, 4);
      const input = { data: randomTensorData(2 * 2, 5), shape: [2, 2] };
      const gpu = await createBackend({ device });
      const rnn = await createRnn(cfg, weights, gpu);
      expect(rnn.backend).toMatch(/^webgpu-per-step \(/);
      const got = await rnn.forward(input);
      const want = await (await createRnn(cfg, weights, await createCpuBackend())).forward(input);
      let worst = 0;
      want.output.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - got.output.data[i]!))));
      expect(worst).toBeLessThan(2e-5);
      const forcedBackend = await createBackend({ device, recurrence: 'persistent' });
      const forced = await rejection(createRnn(cfg, weights, forcedBackend));
      expect(isRnnError(forced, 'limit')).toBe(true);
      expect((forced as Error).message).toMatch(/maxComputeWorkgroupStorageSize of 16384 bytes/);
      expect(forcedBackend.stats!().liveBuffers).toBe(0); // rejected before any upload
      rnn.dispose();
      device.destroy();
    });

    it("an LSTM whose states (h twice, c) do not fit in workgroup memory runs the per-step kernel (same numbers, c_n too)", async () => {
      const device = await defaultLimitsDevice();
      const H = Math.floor(device.limits.maxComputeWorkgroupStorageSize / 12) + 1; // 3·H floats: just over
      const cfg = { inputSize: 2, hiddenSize: H };
      const weights = initStateDict(cfg, 4, 'lstm');
      const input = { data: randomTensorData(2 * 2, 5), shape: [2, 2] };
      const gpu = await createBackend({ device });
      const lstm = await createLstm(cfg, weights, gpu);
      expect(lstm.backend).toMatch(/^webgpu-per-step \(/);
      const got = await lstm.forward(input);
      const want = await (await createLstm(cfg, weights, await createCpuBackend())).forward(input);
      let worst = 0;
      for (const key of ['output', 'hN', 'cN'] as const) want[key].data.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - got[key].data[i]!))));
      expect(worst).toBeLessThan(2e-5);
      const forced = await rejection(createLstm(cfg, weights, await createBackend({ device, recurrence: 'persistent' })));
      expect((forced as Error).message).toMatch(/keeps 4098 floats of state \(h twice: 2·1366, c: 1366\) .* maxComputeWorkgroupStorageSize of 16384 bytes/);
      lstm.dispose();
      device.destroy();
    });
  });
});
