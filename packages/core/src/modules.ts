import { MODULE_NAMES, numDirections, outputSize, publicConfig, resolveConfig, type ResolvedConfig } from './config.js';
import { RnnError, describeValue, formatShape } from './errors.js';
import { abortable } from './abort.js';
import { checkTensor, planForward, type InitialState } from './forward.js';
import { swapLeadingAxes } from './layout.js';
import type {
  Backend, ForwardOptions, ForwardResult, Gradients, Gru, GruConfig, Lstm, LstmConfig, LstmResult, Mode, Rnn, RnnConfig, StateDict, Stream, Tensor,
  UpstreamGradients,
} from './types.js';
import { namedParameters, planModel } from './weights.js';

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

/** Every module behind one face: Rnn, Gru and Lstm are this with their own state and result types. */
interface AnyModule {
  config: Readonly<Record<string, unknown>>;
  backend: string;
  forward(input: Tensor, hx: InitialState | undefined, options: ForwardOptions | undefined): Promise<AnyResult>;
  stream(hx: InitialState | undefined): Stream<AnyResult>;
  backward(input: Tensor, hx: InitialState | undefined, upstream: UpstreamGradients, options: ForwardOptions | undefined): Promise<Gradients>;
  stateDict(): StateDict;
  loadStateDict(weights: StateDict): Promise<void>;
  dispose(): void;
}

const copyTensor = (t: Tensor): Tensor => ({ data: t.data.slice(), shape: [...t.shape] });
const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * Builds any module from its config and a PyTorch state dict on the given engine. Everything is
 * validated here, once; the engine only computes.
 */
async function buildModule(mode: Mode, config: RnnConfig | LstmConfig | GruConfig, weights: StateDict, backend: Backend): Promise<AnyModule> {
  const resolved = resolveConfig(config, mode);
  let plan = planModel(resolved, weights);
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
    const result = await abortable(forwardPlan.signal, () => engineModel.forward(forwardPlan), `${module} forward`);
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

  /**
   * Checks the upstream gradients against the shapes forward gives for this call and makes them
   * time-major, like everything an engine receives.
   */
  function planUpstream(upstream: UpstreamGradients, L: number, N: number, batched: boolean, batchFirst: boolean) {
    if (upstream === null || typeof upstream !== 'object' || Array.isArray(upstream)) {
      throw new RnnError('type', `upstream gradients must be an object like { output?, hN?${mode === 'lstm' ? ', cN?' : ''} }, got ${describeValue(upstream)}`, { field: 'upstream' });
    }
    const known = mode === 'lstm' ? ['output', 'hN', 'cN'] : ['output', 'hN'];
    const unknown = Object.keys(upstream).filter((key) => !known.includes(key));
    if (unknown.length > 0) {
      throw new RnnError('type', `upstream gradients have unknown field(s) ${unknown.map((k) => JSON.stringify(k)).join(', ')}. Known for ${module}: ${known.join(', ')}`, { unknown });
    }
    const stateShape = (width: number): number[] => (batched ? [stateRows, N, width] : [stateRows, width]);
    const expected: Record<string, number[]> = {
      output: batchFirst ? [N, L, D * Hout] : batched ? [L, N, D * Hout] : [L, D * Hout],
      hN: stateShape(Hout),
      cN: stateShape(resolved.hiddenSize),
    };
    const checked = (key: 'output' | 'hN' | 'cN'): Float32Array | null => {
      const value = upstream[key];
      if (value === undefined || value === null) return null;
      const tensor = checkTensor(value, `upstream.${key}`);
      if (!sameShape(tensor.shape, expected[key]!)) {
        throw new RnnError('shape', `upstream.${key} must have the shape forward gives ${key} for this input, ${formatShape(expected[key]!)}, got ${formatShape(tensor.shape)}`, {
          field: `upstream.${key}`,
          expected: expected[key],
          actual: tensor.shape,
        });
      }
      return tensor.data;
    };
    const output = checked('output');
    return {
      gradOutput: output !== null && batchFirst ? swapLeadingAxes(output, N, L, D * Hout) : output,
      gradHN: checked('hN'),
      gradCN: mode === 'lstm' ? checked('cN') : null,
    };
  }

  async function backward(input: Tensor, hx: InitialState | undefined, upstream: UpstreamGradients, options: ForwardOptions | undefined): Promise<Gradients> {
    checkLive();
    const { plan: forwardPlan, layout } = planForward(resolved, input, hx, options);
    const { seqLen: L, batch: N } = forwardPlan;
    const gradients = planUpstream(upstream, L, N, layout.batched, layout.batchFirst);
    if (engineModel.backward === undefined) {
      throw new RnnError('unavailable', `The ${engineModel.backend ?? engine.name} engine cannot compute gradients (it has no backward)`, { backend: engine.name });
    }
    const engineBackward = engineModel.backward.bind(engineModel);
    const result = await abortable(forwardPlan.signal, () => engineBackward({ ...forwardPlan, ...gradients }), `${module} backward`);
    const I = resolved.inputSize;
    const stateShape = (width: number): number[] => (layout.batched ? [stateRows, N, width] : [stateRows, width]);
    const grads: Gradients = {
      input: layout.batchFirst
        ? { data: swapLeadingAxes(result.input, L, N, I), shape: [N, L, I] }
        : { data: result.input, shape: layout.batched ? [L, N, I] : [L, I] },
      h0: { data: result.h0, shape: stateShape(Hout) },
      weights: namedParameters(resolved, result.layers, false),
    };
    if (mode === 'lstm') {
      if (result.c0 === undefined) throw new RnnError('internal', `The ${engine.name} engine returned no gradient for c0`);
      grads.c0 = { data: result.c0, shape: stateShape(resolved.hiddenSize) };
    }
    return grads;
  }

  function stateDict(): StateDict {
    checkLive();
    return namedParameters(resolved, plan.layers.map((layer) => layer.directions), true);
  }

  async function loadStateDict(weights: StateDict): Promise<void> {
    checkLive();
    const next = planModel(resolved, weights);
    if (engineModel.loadWeights === undefined) {
      throw new RnnError('unavailable', `The ${engineModel.backend ?? engine.name} engine cannot replace weights in place: create a new model with ${create}`, { backend: engine.name });
    }
    await engineModel.loadWeights(next);
    plan = next;
  }

  return {
    config: publicConfig(resolved),
    backend: engineModel.backend ?? engine.name,
    forward,
    stream,
    backward,
    stateDict,
    loadStateDict,
    dispose(): void {
      if (disposed) return;
      disposed = true;
      engineModel.dispose();
    },
  };
}

/** Builds an nn.RNN from its config and a PyTorch state dict on the given engine. */
export function createRnn(config: RnnConfig, weights: StateDict, backend: Backend): Promise<Rnn> {
  return buildModule('rnn', config, weights, backend) as Promise<Rnn>;
}

/** Builds an nn.GRU (gates r, z, n) from its config and a PyTorch state dict on the given engine. */
export function createGru(config: GruConfig, weights: StateDict, backend: Backend): Promise<Gru> {
  return buildModule('gru', config, weights, backend) as Promise<Gru>;
}

/**
 * Builds an nn.LSTM (gates i, f, g, o; with projSize, h is projected by weight_hr) from its config and
 * a PyTorch state dict on the given engine.
 */
export function createLstm(config: LstmConfig, weights: StateDict, backend: Backend): Promise<Lstm> {
  return buildModule('lstm', config, weights, backend) as Promise<Lstm>;
}
