import { MODULE_NAMES, numDirections, outputSize, publicConfig, resolveConfig, type ResolvedConfig } from './config.js';
import { RnnError, describeValue, formatShape } from './errors.js';
import { abortable, throwIfAborted } from './abort.js';
import { checkTensor, planForward, type CallLayout, type InitialState } from './forward.js';
import { swapLeadingAxes } from './layout.js';
import type {
  Backend, EngineModel, EngineResult, EngineStream, ForwardOptions, ForwardResult, Gradients, Gru, GruConfig, Lstm, LstmConfig, LstmResult, Mode, Rnn, RnnConfig, StateDict, Stream, Tensor,
  StreamStart, UpstreamGradients,
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

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/** A promise (of any realm) rather than a value an engine gave back at once. */
const isThenable = <T>(value: T | PromiseLike<T>): value is PromiseLike<T> => typeof (value as { then?: unknown } | null)?.then === 'function';

/**
 * A stream for an engine without `openStream`: its states are carried in JavaScript from one forward
 * to the next. A push aborted while the engine still runs is dropped (abortable), states untouched.
 */
function carriedStream(engineModel: EngineModel, start: StreamStart, what: string): EngineStream {
  let { h0, c0 } = start;
  return {
    async push(plan) {
      const result = await abortable(plan.signal, () => engineModel.forward({ ...plan, h0, c0 }), what);
      h0 = result.hN.slice();
      c0 = result.cN?.slice() ?? null;
      return result;
    },
    dispose() {},
  };
}

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

  /** What forward and stream.push give back: the engine's time-major arrays in the caller's layout. */
  function shapeResult(result: EngineResult, { batched, batchFirst }: CallLayout, L: number, N: number): AnyResult {
    const stateShape = (width: number): number[] => (batched ? [stateRows, N, width] : [stateRows, width]);
    const output: Tensor = batchFirst
      ? { data: swapLeadingAxes(result.output, L, N, D * Hout), shape: [N, L, D * Hout] }
      : { data: result.output, shape: batched ? [L, N, D * Hout] : [L, D * Hout] };
    const hN = { data: result.hN, shape: stateShape(Hout) };
    if (mode !== 'lstm') return { output, hN };
    if (result.cN === undefined) throw new RnnError('internal', `The ${engine.name} engine returned no c_n for an LSTM`);
    return { output, hN, cN: { data: result.cN, shape: stateShape(resolved.hiddenSize) } };
  }

  async function forward(input: Tensor, hx: InitialState | undefined, options: ForwardOptions | undefined): Promise<AnyResult> {
    checkLive();
    const { plan: forwardPlan, layout } = planForward(resolved, input, hx, options);
    const result = await abortable(forwardPlan.signal, () => engineModel.forward(forwardPlan), `${module} forward`);
    return shapeResult(result, layout, forwardPlan.seqLen, forwardPlan.batch);
  }

  /**
   * A stream's states live on the engine (EngineModel.openStream) from its first push, whose batch they
   * take unless stream(hx) set it; each push is checked here and then runs in call order.
   */
  function stream(hx: InitialState | undefined): Stream<AnyResult> {
    checkLive();
    if (D === 2) {
      throw new RnnError('config', `A bidirectional ${module} cannot stream: its reverse direction needs the whole sequence. Use forward() on the whole sequence, or a unidirectional model`, {
        field: 'bidirectional',
      });
    }
    /** batched/batch: the layout every push must have, known from hx or else from the first push. */
    let layout: { batched: boolean; batch: number } | null = null;
    let start: StreamStart | null = null;
    if (hx !== undefined && hx !== null) {
      const first = (Array.isArray(hx) ? hx[0] : hx) as Partial<Tensor> | undefined;
      const batched = first?.shape?.length === 3;
      const batch = batched ? first!.shape![1]! : 1;
      // A forward plan over a one-step dummy input checks the states exactly as forward would.
      const features = resolved.inputSize;
      const probe = { data: new Float32Array(batch * features), shape: batched ? (resolved.batchFirst ? [batch, 1, features] : [1, batch, features]) : [1, features] };
      const { h0, c0 } = planForward(resolved, probe, hx).plan;
      // Copied: the caller may reuse theirs, and the engine may keep what it is given.
      start = { batch, h0: h0!.slice(), c0: c0?.slice() ?? null };
      layout = { batched, batch };
    }
    let held: EngineStream | null = null;
    let closed = false;
    let queue: Promise<unknown> = Promise.resolve();
    /** Pushes made and not yet settled: with none, a push starts at once instead of a promise hop later. */
    let pending = 0;
    const settled = (): void => {
      pending--;
    };
    const what = `${module} stream push`;

    const checkOpen = (): void => {
      if (closed) throw new RnnError('disposed', 'This stream was disposed: start a new one with model.stream()');
      checkLive();
    };

    function planPush(chunk: Tensor, options: ForwardOptions | undefined) {
      checkOpen();
      const planned = planForward(resolved, chunk, undefined, options);
      const { batched } = planned.layout;
      const { batch } = planned.plan;
      if (layout === null) layout = { batched, batch };
      else if (batched !== layout.batched || batch !== layout.batch) {
        const describe = (b: boolean, n: number) => (b ? `batched with N = ${n}` : 'unbatched');
        throw new RnnError('shape', `stream: the chunk is ${describe(batched, batch)} (shape ${formatShape(chunk.shape)}), but the stream's states are ${describe(layout.batched, layout.batch)}: every push of a stream keeps the batch of its first push (or of stream(hx))`, {
          field: 'chunk.shape',
          expected: layout.batched ? layout.batch : 'unbatched',
          actual: chunk.shape,
        });
      }
      return planned;
    }

    /** The push itself: its result at once when the engine ran it synchronously, else its promise. */
    function run({ plan, layout: callLayout }: ReturnType<typeof planPush>): AnyResult | PromiseLike<AnyResult> {
      checkOpen();
      throwIfAborted(plan.signal, what);
      if (held === null) {
        const from = start ?? { batch: plan.batch, h0: null, c0: null };
        held = engineModel.openStream?.(from) ?? carriedStream(engineModel, from, what);
        start = null;
      }
      // The plan's h0/c0 are null (planPush passes none): the engine reads the states it holds.
      const result = held.push(plan);
      const shape = (done: EngineResult): AnyResult => shapeResult(done, callLayout, plan.seqLen, plan.batch);
      return isThenable(result) ? result.then(shape) : shape(result);
    }

    return {
      push(chunk, options) {
        let pushed: Promise<AnyResult>;
        try {
          const planned = planPush(chunk, options);
          if (pending === 0) {
            const ran = run(planned);
            // Done already (the engine ran it at once): nothing is left pending for a later push to wait on.
            if (!isThenable(ran)) return Promise.resolve(ran);
            pushed = Promise.resolve(ran);
          } else pushed = queue.then(() => run(planned));
        } catch (error) {
          // Refused before it ran (bad chunk, closed stream, fired signal): nothing to wait for.
          return Promise.reject(error);
        }
        pending++;
        queue = pushed.then(settled, settled);
        return pushed;
      },
      dispose() {
        if (closed) return;
        closed = true;
        start = null;
        // After the pushes already queued have settled (they reject: the stream is closed).
        void queue.then(() => {
          held?.dispose();
          held = null;
        });
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
