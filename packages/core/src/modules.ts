import { MODULE_NAMES, numDirections, outputSize, publicConfig, resolveConfig, type ResolvedConfig } from './config.js';
import { RnnError, describeValue } from './errors.js';
import { planForward, type InitialState } from './forward.js';
import { swapLeadingAxes } from './layout.js';
import type {
  Backend, EngineModel, ForwardOptions, ForwardResult, Gru, GruConfig, Lstm, LstmConfig, LstmResult, Mode, Rnn, RnnConfig, StateDict, Tensor,
} from './types.js';
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

/** What every module shares: a validated config, an engine model, and forward in PyTorch's layouts. */
interface BuiltModule {
  config: ResolvedConfig;
  engineModel: EngineModel;
  backend: string;
  forward(input: Tensor, hx: InitialState | undefined, options: ForwardOptions | undefined): Promise<LstmResult | ForwardResult>;
  dispose(): void;
}

/**
 * Builds any module from its config and a PyTorch state dict on the given engine. Everything is
 * validated here, once; the engine only computes.
 */
async function buildModule(mode: Mode, config: RnnConfig | LstmConfig | GruConfig, weights: StateDict, backend: Backend): Promise<BuiltModule> {
  const resolved = resolveConfig(config, mode);
  const plan = planModel(resolved, weights);
  const engine = checkBackend(backend);
  const engineModel = await engine.createModel(plan);
  const D = numDirections(resolved);
  const Hout = outputSize(resolved);
  const create = `create${MODULE_NAMES[mode][0]}${MODULE_NAMES[mode].slice(1).toLowerCase()}()`;
  let disposed = false;
  return {
    config: resolved,
    engineModel,
    backend: engineModel.backend ?? engine.name,
    async forward(input, hx, options) {
      if (disposed) throw new RnnError('disposed', `This model was disposed: create a new one with ${create}`);
      const { plan: forwardPlan, layout } = planForward(resolved, input, hx, options);
      const { seqLen: L, batch: N } = forwardPlan;
      const result = await engineModel.forward(forwardPlan);
      const stateShape = (width: number): number[] => (layout.batched ? [D * resolved.numLayers, N, width] : [D * resolved.numLayers, width]);
      const output: Tensor = layout.batchFirst
        ? { data: swapLeadingAxes(result.output, L, N, D * Hout), shape: [N, L, D * Hout] }
        : { data: result.output, shape: layout.batched ? [L, N, D * Hout] : [L, D * Hout] };
      const hN = { data: result.hN, shape: stateShape(Hout) };
      if (mode !== 'lstm') return { output, hN };
      if (result.cN === undefined) throw new RnnError('internal', `The ${engine.name} engine returned no c_n for an LSTM`);
      return { output, hN, cN: { data: result.cN, shape: stateShape(resolved.hiddenSize) } };
    },
    dispose(): void {
      if (disposed) return;
      disposed = true;
      engineModel.dispose();
    },
  };
}

/** Builds an nn.RNN from its config and a PyTorch state dict on the given engine. */
export async function createRnn(config: RnnConfig, weights: StateDict, backend: Backend): Promise<Rnn> {
  const built = await buildModule('rnn', config, weights, backend);
  return {
    config: publicConfig(built.config) as Required<RnnConfig>,
    backend: built.backend,
    forward: (input, h0, options) => built.forward(input, h0, options),
    dispose: () => built.dispose(),
  };
}

/** Builds an nn.GRU (gates r, z, n) from its config and a PyTorch state dict on the given engine. */
export async function createGru(config: GruConfig, weights: StateDict, backend: Backend): Promise<Gru> {
  const built = await buildModule('gru', config, weights, backend);
  return {
    config: publicConfig(built.config) as Required<GruConfig>,
    backend: built.backend,
    forward: (input, h0, options) => built.forward(input, h0, options),
    dispose: () => built.dispose(),
  };
}

/**
 * Builds an nn.LSTM (gates i, f, g, o; with projSize, h is projected by weight_hr) from its config and
 * a PyTorch state dict on the given engine.
 */
export async function createLstm(config: LstmConfig, weights: StateDict, backend: Backend): Promise<Lstm> {
  const built = await buildModule('lstm', config, weights, backend);
  return {
    config: publicConfig(built.config) as Required<LstmConfig>,
    backend: built.backend,
    forward: (input, hx, options) => built.forward(input, hx, options) as Promise<LstmResult>,
    dispose: () => built.dispose(),
  };
}
