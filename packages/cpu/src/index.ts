import type { Backend, EngineModel, ModelPlan } from '@recurrent/core';
import { RnnError } from '@recurrent/core';
import { CpuModel } from './model.js';

export { gemmRowsBt } from './gemm.js';

/** The plain-JavaScript engine: runs anywhere, needs nothing. */
export async function createBackend(_options: Record<string, never> = {}): Promise<Backend> {
  let disposed = false;
  return {
    name: 'cpu',
    async createModel(plan: ModelPlan): Promise<EngineModel> {
      if (disposed) throw new RnnError('disposed', 'This CPU backend was disposed: create a new one with createBackend()');
      return new CpuModel(plan);
    },
    dispose(): void {
      disposed = true;
    },
  };
}
