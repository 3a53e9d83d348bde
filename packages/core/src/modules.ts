import { MODULE_NAMES, numDirections, outputSize, publicConfig, resolveConfig, type ResolvedConfig } from './config.js';
import { RnnError, describeValue, formatShape } from './errors.js';
import { checkTensor, planForward, type InitialState } from './forward.js';
import { swapLeadingAxes } from './layout.js';
import type {
  Backend, ForwardOptions, ForwardResult, Gru, GruConfig, Lstm, LstmConfig, LstmResult, Mode, Rnn, RnnConfig, StateDict, Stream, Tensor,
} from './types.js';
import { planModel } from './weights.js';

export function checkBackend(backend: unknown): Backend {
  const candidate = backend as Backend | null;
  if (candidate === null || typeof candidate !== 'object' || typeof candidate.createModel !== 'function' || typeof candidate.name !== 'string') {
    throw new RnnError('type', `backend must be an engine from createBackend() (@recurrent/cpu, @recurrent/wasm or @recurrent/webgpu), got ${describeValue(backend)}`, {
      field: 'backend',
    });
  }
  return candidate;
}

type AnyResult = ForwardResult & { cN?: Tensor };

/** The states a stream carries between pushes, in the layout forward takes them. */
interface Carried {
  batched: boolean;
  /** N, or 1 unbatched. */
  batch: number;
  hx: InitialState;
}

/** What every module shares: a validated config, an engine model, forward and stream in PyTorch's layouts. */
interface BuiltModule {
  config: ResolvedConfig;
  backend: string;
  forward(input: Tensor, hx: InitialState | undefined, options: ForwardOptions | undefined): Promise<AnyResult>;
  stream(hx: InitialState | undefined): Stream<AnyResult>;
  dispose(): void;
}

const copyTensor = (t: Tensor): Tensor => ({ data: t.data.slice(), shape: [...t.shape] });

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
  const stateRows = D * resolved.numLayers;
  const module = MODULE_NAMES[mode];
  const create = `create${module[0]}${module.slice(1).toLowerCase()}()`;
  let disposed = false;
  const checkLive = (): void => {
    if (disposed) throw new RnnError('disposed', `This model was disposed: create a new one with ${create}`);
  };

  async function forward(input: Tensor, hx: InitialState | undefined, options: ForwardOptions | undefined): Promise<AnyResult> {
    checkLive();
    const { plan: forwardPlan, layout } = planForward(resolved, input, hx, options);
    const { seqLen: L, batch: N } = forwardPlan;
    const result = await engineModel.forward(forwardPlan);
    const stateShape = (width: number): number[] => (layout.batched ? [stateRows, N, width] : [stateRows, width]);
    const output: Tensor = layout.batchFirst
      ? { data: swapLeadingAxes(result.output, L, N, D * Hout), shape: [N, L, D * Hout] }
      : { data: result.output, shape: layout.batched ? [L, N, D * Hout] : [L, D * Hout] };
    const hN = { data: result.hN, shape: stateShape(Hout) };
    if (mode !== 'lstm') return { output, hN };
    if (result.cN === undefined) throw new RnnError('internal', `The ${engine.name} engine returned no c_n for an LSTM`);
    return { output, hN, cN: { data: result.cN, shape: stateShape(resolved.hiddenSize) } };
  }

  /** The stream's initial states, checked now (their rank says batched or not), copied so the caller may reuse theirs. */
  function initialCarried(hx: InitialState | undefined): Carried | null {
    if (hx === undefined || hx === null) return null;
    const first = (Array.isArray(hx) ? hx[0] : hx) as Partial<Tensor> | undefined;
    const batched = first?.shape?.length === 3;
    const batch = batched ? first!.shape![1]! : 1;
    // A forward over a one-step dummy input validates the states exactly as forward would.
    const features = resolved.inputSize;
    const probe = { data: new Float32Array(batch * features), shape: batched ? (resolved.batchFirst ? [batch, 1, features] : [1, batch, features]) : [1, features] };
    planForward(resolved, probe, hx);
    return { batched, batch, hx: Array.isArray(hx) ? [copyTensor(hx[0]!), copyTensor(hx[1]!)] : copyTensor(hx as Tensor) };
  }

  function stream(hx: InitialState | undefined): Stream<AnyResult> {
    checkLive();
    if (D === 2) {
      throw new RnnError('config', `A bidirectional ${module} cannot stream: its reverse direction needs the whole sequence. Use forward() on the whole sequence, or a unidirectional model`, {
        field: 'bidirectional',
      });
    }
    let carried = initialCarried(hx);
    let closed = false;
    let queue: Promise<unknown> = Promise.resolve();

    async function push(chunk: Tensor, options?: ForwardOptions): Promise<AnyResult> {
      if (closed) throw new RnnError('disposed', 'This stream was disposed: start a new one with model.stream()');
      checkTensor(chunk, 'chunk');
      if (carried !== null) {
        const batched = chunk.shape.length === 3;
        const batch = batched ? chunk.shape[resolved.batchFirst ? 0 : 1]! : 1;
        if (batched !== carried.batched || batch !== carried.batch) {
          const describe = (b: boolean, n: number) => (b ? `batched with N = ${n}` : 'unbatched');
          throw new RnnError('shape', `stream: the chunk is ${describe(batched, batch)} (shape ${formatShape(chunk.shape)}), but the stream's states are ${describe(carried.batched, carried.batch)}: every push of a stream keeps the batch of its first push (or of stream(hx))`, {
            field: 'chunk.shape',
            expected: carried.batched ? carried.batch : 'unbatched',
            actual: chunk.shape,
          });
        }
      }
      const result = await forward(chunk, carried?.hx, options);
      const batched = result.hN.shape.length === 3;
      carried = {
        batched,
        batch: batched ? result.hN.shape[1]! : 1,
        hx: result.cN === undefined ? copyTensor(result.hN) : [copyTensor(result.hN), copyTensor(result.cN)],
      };
      return result;
    }

    return {
      push(chunk, options) {
        const run = queue.then(() => push(chunk, options));
        queue = run.catch(() => {});
        return run;
      },
      dispose() {
        closed = true;
        carried = null;
      },
    };
  }

  return {
    config: resolved,
    backend: engineModel.backend ?? engine.name,
    forward,
    stream,
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
    stream: (h0) => built.stream(h0),
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
    stream: (h0) => built.stream(h0),
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
    stream: (hx) => built.stream(hx) as Stream<LstmResult>,
    dispose: () => built.dispose(),
  };
}
