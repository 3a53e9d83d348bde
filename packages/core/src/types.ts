/** A dense row-major float32 tensor. */
export interface Tensor {
  data: Float32Array;
  shape: number[];
}

export type Nonlinearity = 'tanh' | 'relu';

/** Which recurrent module: `nn.RNN`, `nn.LSTM` or `nn.GRU`. */
export type Mode = 'rnn' | 'lstm' | 'gru';

/** The constructor arguments of `torch.nn.RNN`, camelCased. */
export interface RnnConfig {
  inputSize: number;
  hiddenSize: number;
  /** Default 1. */
  numLayers?: number;
  /** Default 'tanh'. */
  nonlinearity?: Nonlinearity;
  /** Default true. */
  bias?: boolean;
  /** Default false. Changes input/output layout to (N, L, ·); never the states. */
  batchFirst?: boolean;
  /** Default 0. Applies only in training, so inference ignores it (as PyTorch's eval mode does). */
  dropout?: number;
  /** Default false. */
  bidirectional?: boolean;
}

/** The constructor arguments of `torch.nn.LSTM`, camelCased. */
export interface LstmConfig extends Omit<RnnConfig, 'nonlinearity'> {
  /** Default 0 (no projection). When > 0, h_t = (o ⊙ tanh(c_t)) · W_hrᵀ and H_out = projSize < hiddenSize. */
  projSize?: number;
}

/** The constructor arguments of `torch.nn.GRU`, camelCased. */
export type GruConfig = Omit<RnnConfig, 'nonlinearity'>;

/**
 * PyTorch `state_dict()` names: weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k} (and
 * weight_hr_l{k} for a projected LSTM), each with `_reverse` for the backward direction.
 */
export type StateDict = Record<string, Tensor>;

export interface ForwardOptions {
  /**
   * One length per batch element, each in 1..L: element b runs over its first lengths[b] steps only,
   * exactly like pack_padded_sequence(enforce_sorted=False) + pad_packed_sequence(total_length=L).
   */
  lengths?: ArrayLike<number>;
  /**
   * Cancels the call: it rejects with RnnError('aborted') (the signal's reason as `cause`) at once if the
   * signal has already fired, else soon after it fires; the model stays usable.
   */
  signal?: AbortSignal;
}

export interface ForwardResult {
  /** (L, N, D·H_out), or (N, L, D·H_out) with batchFirst, or (L, D·H_out) for unbatched input. */
  output: Tensor;
  /** (D·numLayers, N, H_out), or (D·numLayers, H_out) for unbatched input. */
  hN: Tensor;
}

export interface LstmResult extends ForwardResult {
  /** The cell states: (D·numLayers, N, H), or (D·numLayers, H) for unbatched input. */
  cN: Tensor;
}

/**
 * A sequence fed a chunk at a time: each push is exactly `forward(chunk, carried states)`, and its final
 * states are carried into the next push. Pushing a sequence in chunks of any sizes gives the
 * whole-sequence output and final states. Pushes run one after another in call order (a push made while
 * another is pending waits for it); a rejected push leaves the carried states as they were.
 */
export interface Stream<Result> {
  /** chunk (L, N, H_in), (N, L, H_in) with batchFirst, or unbatched (L, H_in); N is the stream's batch. */
  push(chunk: Tensor, options?: ForwardOptions): Promise<Result>;
  dispose(): void;
}

/**
 * The gradients a backward starts from: ∂loss/∂output, ∂loss/∂h_n and (LSTM) ∂loss/∂c_n, each shaped like
 * what forward returned for the same input. An absent one is zero.
 */
export interface UpstreamGradients {
  output?: Tensor;
  hN?: Tensor;
  cN?: Tensor;
}

/**
 * What `loss.backward()` leaves in `.grad` for loss = Σ output·gradOutput + Σ h_n·gradHN + Σ c_n·gradCN:
 * the gradients with respect to the input, the initial states (the zero state when none was given) and
 * every parameter under PyTorch's names. Gradients are of the inference function: dropout is not applied.
 */
export interface Gradients {
  /** Shaped like the input; zero at padded positions (past an element's length). */
  input: Tensor;
  /** Shaped like h0. */
  h0: Tensor;
  /** LSTM only: shaped like c0. */
  c0?: Tensor;
  /** One gradient per parameter, same names and shapes as the state dict. */
  weights: StateDict;
}

/** What every module has, whatever its cell. */
interface Module<Config> {
  readonly config: Readonly<Required<Config>>;
  /** Which engine (and which variant of it) really runs this model, e.g. `cpu`, `wasm-simd`. */
  readonly backend: string;
  /** A copy of the weights the model holds, under PyTorch's names and in PyTorch's order. */
  stateDict(): StateDict;
  /**
   * Replaces the weights, checked strictly like `load_state_dict(strict=True)`; the engine replaces its
   * weights in place. A state dict that does not fit is refused and the model keeps its weights.
   */
  loadStateDict(weights: StateDict): Promise<void>;
  dispose(): void;
}

export interface Rnn extends Module<RnnConfig> {
  forward(input: Tensor, h0?: Tensor, options?: ForwardOptions): Promise<ForwardResult>;
  /** Backpropagation through time for the same call as forward(input, h0, options). */
  backward(input: Tensor, h0: Tensor | undefined, upstream: UpstreamGradients, options?: ForwardOptions): Promise<Gradients>;
  /** A stream starting from h0 (zeros when absent); unidirectional models only. */
  stream(h0?: Tensor): Stream<ForwardResult>;
}

export interface Gru extends Module<GruConfig> {
  forward(input: Tensor, h0?: Tensor, options?: ForwardOptions): Promise<ForwardResult>;
  /** Backpropagation through time for the same call as forward(input, h0, options). */
  backward(input: Tensor, h0: Tensor | undefined, upstream: UpstreamGradients, options?: ForwardOptions): Promise<Gradients>;
  /** A stream starting from h0 (zeros when absent); unidirectional models only. */
  stream(h0?: Tensor): Stream<ForwardResult>;
}

export interface Lstm extends Module<LstmConfig> {
  /** `hx` is `[h0, c0]`, both or neither, as in PyTorch. */
  forward(input: Tensor, hx?: [h0: Tensor, c0: Tensor], options?: ForwardOptions): Promise<LstmResult>;
  /** Backpropagation through time for the same call as forward(input, hx, options); the result has c0. */
  backward(input: Tensor, hx: [h0: Tensor, c0: Tensor] | undefined, upstream: UpstreamGradients, options?: ForwardOptions): Promise<Gradients & { c0: Tensor }>;
  /** A stream starting from [h0, c0] (zeros when absent); unidirectional models only. */
  stream(hx?: [h0: Tensor, c0: Tensor]): Stream<LstmResult>;
}

/**
 * One direction of one layer, weights copied out of the state dict (the model owns them). G is the
 * number of gates stacked in the rows: 1 (RNN), 4 (LSTM: i, f, g, o), 3 (GRU: r, z, n).
 */
export interface DirectionWeights {
  /** (G·H, inputSize of this layer), row-major. */
  W_ih: Float32Array;
  /** (G·H, H_out), row-major. */
  W_hh: Float32Array;
  /** (G·H), or null when the model has no bias. */
  b_ih: Float32Array | null;
  b_hh: Float32Array | null;
  /** (projSize, H) for a projected LSTM, else null. */
  W_hr: Float32Array | null;
}

export interface LayerPlan {
  /** Width of this layer's input: inputSize for layer 0, D·H_out above it. */
  inputSize: number;
  /** [forward] or [forward, reverse]. */
  directions: DirectionWeights[];
}

/** Everything an engine needs to build a model: validated numbers and owned Float32Arrays. */
export interface ModelPlan {
  mode: Mode;
  /** G: gates per hidden unit, 1 (RNN), 4 (LSTM) or 3 (GRU). */
  gates: 1 | 3 | 4;
  inputSize: number;
  /** H: the width of the cell (and of c for an LSTM). */
  hiddenSize: number;
  /** LSTM proj_size, 0 when there is no projection (always 0 for RNN and GRU). */
  projSize: number;
  /** H_out: the width of h and of each direction's output (projSize if > 0, else hiddenSize). */
  outputSize: number;
  numLayers: number;
  /** D: 1, or 2 when bidirectional. */
  numDirections: 1 | 2;
  /** The RNN's activation; 'tanh' for LSTM and GRU (their cells fix their own). */
  nonlinearity: Nonlinearity;
  hasBias: boolean;
  layers: LayerPlan[];
}

/**
 * One validated forward call, always time-major: engines never see batch_first or unbatched input.
 * Engines must not write into any array of the plan (they may belong to the caller).
 */
export interface ForwardPlan {
  /** L */
  seqLen: number;
  /** N (1 for unbatched input). */
  batch: number;
  /** (L, N, inputSize) */
  input: Float32Array;
  /** (D·numLayers, N, H_out), or null for zeros. */
  h0: Float32Array | null;
  /** LSTM only: (D·numLayers, N, H), or null for zeros (always null for RNN and GRU). */
  c0: Float32Array | null;
  /** One per batch element, each in 1..L; null when every element runs all L steps. */
  lengths: Int32Array | null;
  /** The caller's signal: long-running engines check it between steps or step blocks (throwIfAborted). */
  signal?: AbortSignal | null;
}

/**
 * What an engine returns: fresh arrays the caller may keep. Small ones may share an ArrayBuffer with
 * other results (see resultArrays), never with memory the engine reuses.
 */
export interface EngineResult {
  /** (L, N, D·H_out), zero past each element's length. */
  output: Float32Array;
  /** (D·numLayers, N, H_out) */
  hN: Float32Array;
  /** LSTM only: (D·numLayers, N, H). */
  cN?: Float32Array;
}

/** One validated backward call: the forward's plan plus the upstream gradients, time-major like it. */
export interface BackwardPlan extends ForwardPlan {
  /** (L, N, D·H_out), or null for zeros. Values at padded positions are to be ignored (they take no gradient). */
  gradOutput: Float32Array | null;
  /** (D·numLayers, N, H_out), or null for zeros. */
  gradHN: Float32Array | null;
  /** LSTM only: (D·numLayers, N, H), or null for zeros. */
  gradCN: Float32Array | null;
}

/** What an engine's backward returns: fresh arrays, in the plan's layouts. */
export interface EngineGradients {
  /** (L, N, inputSize), zero past each element's length. */
  input: Float32Array;
  /** (D·numLayers, N, H_out) */
  h0: Float32Array;
  /** LSTM only: (D·numLayers, N, H) */
  c0?: Float32Array;
  /** Per layer, per direction, shaped like the ModelPlan's weights (b_ih/b_hh null without bias, W_hr null without projection). */
  layers: DirectionWeights[][];
}

/** One push of an engine-held stream: a forward plan whose initial states are the ones the stream holds. */
export type StreamPlan = Omit<ForwardPlan, 'h0' | 'c0'>;

/** The states an engine-held stream starts from: its batch N, and h0/c0 as a ForwardPlan takes them. */
export interface StreamStart {
  batch: number;
  h0: Float32Array | null;
  c0: Float32Array | null;
}

/**
 * A stream whose states stay on the engine between pushes (WASM linear memory, GPU buffers), so that a
 * push of one step costs about the step's arithmetic. `push` is exactly forward({ ...plan, h0, c0 }) from
 * the held states (plan.batch is always the stream's); when it succeeds the held states become its hN/cN,
 * and when it fails (an abort, a fault) they stay as they were. Core calls push one at a time, and
 * checks `plan.signal` only through the engine: an engine must not commit a push whose signal has fired.
 * A push that could run at once may return its result itself rather than a promise (throwing is then
 * its rejection): a one-step push costs a few microseconds, and every promise hop shows in that.
 */
export interface EngineStream {
  push(plan: StreamPlan): EngineResult | PromiseLike<EngineResult>;
  dispose(): void;
}

/** A model prepared by one engine (weights uploaded, pipelines built). */
export interface EngineModel {
  /** Which variant runs it, e.g. `wasm-relaxed-simd-threads`; defaults to the backend's name. */
  readonly backend?: string;
  forward(plan: ForwardPlan): Promise<EngineResult>;
  /** BPTT for the plan; engines without it make `model.backward` reject with `unavailable`. */
  backward?(plan: BackwardPlan): Promise<EngineGradients>;
  /**
   * A stream holding its states on the engine (unidirectional models only). Engines without it stream
   * through `forward`, the states carried in JavaScript between pushes.
   */
  openStream?(start: StreamStart): EngineStream;
  /** Replaces the weights in place with a validated plan of the same model (same sizes). */
  loadWeights?(plan: ModelPlan): Promise<void>;
  dispose(): void;
}

/** An engine. Packages @recurrent/cpu, @recurrent/wasm and @recurrent/webgpu each export `createBackend()`. */
export interface Backend {
  readonly name: string;
  /** Builds a model from a validated plan. Core calls it once per `createRnn`/`createLstm`/`createGru`. */
  createModel(plan: ModelPlan): Promise<EngineModel>;
  dispose(): void;
  /**
   * Memory the engine holds right now (e.g. `wasmMemoryBytes`, `liveBuffers`), for leak checks. A
   * disposed model must bring these back to where they were before it was created.
   */
  stats?(): Record<string, number>;
}
