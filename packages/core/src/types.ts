/** A dense row-major float32 tensor. */
export interface Tensor {
  data: Float32Array;
  shape: number[];
}

export type Nonlinearity = 'tanh' | 'relu';

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
  /** Default false. Changes input/output layout to (N, L, ·); never h0/hN. */
  batchFirst?: boolean;
  /** Default 0. Applies only in training, so inference ignores it (as PyTorch's eval mode does). */
  dropout?: number;
  /** Default false. */
  bidirectional?: boolean;
}

/** PyTorch `state_dict()` names: weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}, each with `_reverse`. */
export type StateDict = Record<string, Tensor>;

export interface ForwardOptions {
  /**
   * One length per batch element, each in 1..L: element b runs over its first lengths[b] steps only,
   * exactly like pack_padded_sequence(enforce_sorted=False) + pad_packed_sequence(total_length=L).
   */
  lengths?: ArrayLike<number>;
}

export interface ForwardResult {
  /** (L, N, D·H), or (N, L, D·H) with batchFirst, or (L, D·H) for unbatched input. */
  output: Tensor;
  /** (D·numLayers, N, H), or (D·numLayers, H) for unbatched input. */
  hN: Tensor;
}

export interface Rnn {
  readonly config: Required<RnnConfig>;
  /** Which engine (and which variant of it) really runs this model, e.g. `cpu`, `wasm-simd`. */
  readonly backend: string;
  forward(input: Tensor, h0?: Tensor, options?: ForwardOptions): Promise<ForwardResult>;
  dispose(): void;
}

/** One direction of one layer, weights copied out of the state dict (the model owns them). */
export interface DirectionWeights {
  /** (H, inputSize of this layer), row-major. */
  W_ih: Float32Array;
  /** (H, H), row-major. */
  W_hh: Float32Array;
  /** (H), or null when the model has no bias. */
  b_ih: Float32Array | null;
  b_hh: Float32Array | null;
}

export interface LayerPlan {
  /** Width of this layer's input: inputSize for layer 0, D·H above it. */
  inputSize: number;
  /** [forward] or [forward, reverse]. */
  directions: DirectionWeights[];
}

/** Everything an engine needs to build a model: validated numbers and owned Float32Arrays. */
export interface ModelPlan {
  inputSize: number;
  hiddenSize: number;
  numLayers: number;
  /** D: 1, or 2 when bidirectional. */
  numDirections: 1 | 2;
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
  /** (D·numLayers, N, H), or null for zeros. */
  h0: Float32Array | null;
  /** One per batch element, each in 1..L; null when every element runs all L steps. */
  lengths: Int32Array | null;
}

/** What an engine returns: fresh arrays the caller may keep. */
export interface EngineResult {
  /** (L, N, D·H), zero past each element's length. */
  output: Float32Array;
  /** (D·numLayers, N, H) */
  hN: Float32Array;
}

/** A model prepared by one engine (weights uploaded, pipelines built). */
export interface EngineModel {
  /** Which variant runs it, e.g. `wasm-relaxed-simd-threads`; defaults to the backend's name. */
  readonly backend?: string;
  forward(plan: ForwardPlan): Promise<EngineResult>;
  dispose(): void;
}

/** An engine. Packages @recurrent/cpu, @recurrent/wasm and @recurrent/webgpu each export `createBackend()`. */
export interface Backend {
  readonly name: string;
  /** Builds a model from a validated plan. Core calls it once per `createRnn`. */
  createModel(plan: ModelPlan): Promise<EngineModel>;
  dispose(): void;
  /**
   * Memory the engine holds right now (e.g. `wasmMemoryBytes`, `liveBuffers`), for leak checks. A
   * disposed model must bring these back to where they were before it was created.
   */
  stats?(): Record<string, number>;
}
