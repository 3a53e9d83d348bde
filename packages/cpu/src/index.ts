import type { Backend, EngineModel, ModelPlan } from '@recurrent/core';
import { RnnError } from '@recurrent/core';
import { CpuModel } from './model.js';

export { gemmRowsBt } from './gemm.js';

/** The plain-JavaScript engine: runs anywhere, needs nothing. */
export async function createBackend(_options: Record<string, never> = {}): Promise<Backend> {
  let disposed = false;
  const live = new Set<CpuModel>();
  return {
    name: 'cpu',
    async createModel(plan: ModelPlan): Promise<EngineModel> {
      if (disposed) throw new RnnError('disposed', 'This CPU backend was disposed: create a new one with createBackend()');
      const model: CpuModel = new CpuModel(plan, () => live.delete(model));
      live.add(model);
      return model;
    },
    dispose(): void {
      disposed = true;
    },
    /**
     * `models`: live models. `backwardBytes`: for each live model, the memory its latest backward held at
     * its peak (the activations the forward kept for it plus one layer's gradient buffers; the package
     * README gives the formula), summed. Both go back to where they were when a model is disposed.
     */
    stats(): Record<string, number> {
      let backwardBytes = 0;
      for (const model of live) backwardBytes += model.lastBackwardBytes;
      return { models: live.size, backwardBytes };
    },
  };
}
