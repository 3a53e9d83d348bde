import { numDirections, resolveConfig } from './config.js';
import { RnnError, describeValue } from './errors.js';
import { planForward } from './forward.js';
import { swapLeadingAxes } from './layout.js';
import type { Backend, ForwardOptions, ForwardResult, Rnn, RnnConfig, StateDict, Tensor } from './types.js';
import { planModel } from './weights.js';

function checkBackend(backend: unknown): Backend {
  const candidate = backend as Backend | null;
  if (candidate === null || typeof candidate !== 'object' || typeof candidate.createModel !== 'function' || typeof candidate.name !== 'string') {
    throw new RnnError('type', `backend must be an engine from createBackend() (@recurrent/cpu, @recurrent/wasm or @recurrent/webgpu), got ${describeValue(backend)}`, {
      field: 'backend',
    });
  }
  return candidate;
}

/**
 * Builds an nn.RNN from its config and a PyTorch state dict on the given engine. Everything is
 * validated here, once; the engine only computes.
 */
export async function createRnn(config: RnnConfig, weights: StateDict, backend: Backend): Promise<Rnn> {
  const resolved = resolveConfig(config);
  const plan = planModel(resolved, weights);
  const engine = checkBackend(backend);
  const model = await engine.createModel(plan);
  const frozenConfig = Object.freeze({ ...resolved });
  const D = numDirections(resolved);
  const H = resolved.hiddenSize;
  let disposed = false;

  return {
    config: frozenConfig,
    backend: model.backend ?? engine.name,
    async forward(input: Tensor, h0?: Tensor, options?: ForwardOptions): Promise<ForwardResult> {
      if (disposed) throw new RnnError('disposed', 'This model was disposed: create a new one with createRnn()');
      const { plan: forwardPlan, layout } = planForward(resolved, input, h0, options);
      const { seqLen: L, batch: N } = forwardPlan;
      const result = await model.forward(forwardPlan);
      const stateShape = layout.batched ? [D * resolved.numLayers, N, H] : [D * resolved.numLayers, H];
      const output: Tensor = layout.batchFirst
        ? { data: swapLeadingAxes(result.output, L, N, D * H), shape: [N, L, D * H] }
        : { data: result.output, shape: layout.batched ? [L, N, D * H] : [L, D * H] };
      return { output, hN: { data: result.hN, shape: stateShape } };
    },
    dispose(): void {
      if (disposed) return;
      disposed = true;
      model.dispose();
    },
  };
}
