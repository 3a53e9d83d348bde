import type { Backend, EngineModel, ModelPlan } from '@recurrent/core';
import { RnnError } from '@recurrent/core';
import { acquireDevice, checkDevice, gpuFailure, scoped, type DeviceState } from './gpu.js';
import { WebGpuModel, type RecurrenceKernel } from './model.js';
import { PipelineCache } from './pipelines.js';

export { WebGpuModel, type RecurrenceKernel, type Timings } from './model.js';
export { checkForwardLimits, checkModelLimits, persistentMisfit, type DeviceLimits, type ModelSizes } from './limits.js';

export interface WebGpuBackendOptions {
  /** A device of your own (e.g. shared with your renderer). The backend never destroys it. */
  device?: GPUDevice;
  /**
   * Which recurrence kernel models use. Default: 'persistent' (one dispatch per layer, each workgroup
   * looping over all steps of one sequence) when a sequence's states fit in workgroup memory (2·H
   * floats for RNN and GRU, 3·H for an LSTM, 2·(P + H) for a projected one), else 'per-step'.
   */
  recurrence?: RecurrenceKernel;
}

export interface WebGpuBackend extends Backend {
  /** The device models run on. */
  readonly device: GPUDevice;
  /** The adapter's name, as shown in each model's `backend` field. */
  readonly adapter: string;
}

/**
 * The WebGPU engine: `navigator.gpu` in browsers, the `webgpu` package (Dawn) in Node. Rejects with
 * RnnError('unavailable') and the reason when there is no adapter; it never falls back to another engine.
 */
export async function createBackend(options: WebGpuBackendOptions = {}): Promise<WebGpuBackend> {
  if (options === null || typeof options !== 'object') {
    throw new RnnError('type', 'createBackend(options): options must be an object like { device }');
  }
  const { recurrence } = options;
  if (recurrence !== undefined && recurrence !== 'persistent' && recurrence !== 'per-step') {
    throw new RnnError('type', `createBackend({ recurrence }): expected 'persistent' or 'per-step', got ${JSON.stringify(recurrence)}`);
  }
  const acquired = await acquireDevice(options.device);
  const state: DeviceState = {
    device: acquired.device,
    lost: null,
    disposed: false,
    liveBuffers: 0,
    liveBufferBytes: 0,
    backwardBytes: 0,
    pipelines: new PipelineCache(acquired.device),
  };
  acquired.device.lost.then((info) => {
    state.lost = info;
  });
  return {
    name: 'webgpu',
    device: acquired.device,
    adapter: acquired.description,
    async createModel(plan: ModelPlan): Promise<EngineModel> {
      checkDevice(state);
      // Sizes are checked before the first upload; a device that still runs out of memory for the
      // weights (or is lost meanwhile) leaves nothing behind: the half-built model is destroyed.
      const held = state.liveBufferBytes;
      const compiled = state.pipelines.mark();
      const built = scoped(acquired.device, () => new WebGpuModel(state, plan, acquired.description, recurrence));
      // A rejected compilation fails the model as an error the GPU reported does.
      const compiling = built.value.compiled.then(() => null, (error: unknown) => error ?? new Error('the compilation failed'));
      const error = (await built.error) ?? (await compiling);
      if (error || state.lost || state.disposed) {
        const failure = gpuFailure(state, error, `the model's weights and pipelines`, state.liveBufferBytes - held);
        built.value.dispose();
        state.pipelines.forgetSince(compiled);
        checkDevice(state); // the backend disposed while compiling: 'disposed'
        throw failure;
      }
      return built.value;
    },
    stats(): Record<string, number> {
      return { liveBuffers: state.liveBuffers, liveBufferBytes: state.liveBufferBytes, backwardBytes: state.backwardBytes, ...state.pipelines.stats() };
    },
    dispose(): void {
      if (state.disposed) return;
      state.disposed = true;
      state.pipelines.clear();
      if (acquired.owned) acquired.device.destroy();
    },
  };
}
