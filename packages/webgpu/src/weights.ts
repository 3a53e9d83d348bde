import type { ModelPlan } from '@recurrent/core';

/** One layer's weights as the kernels read them (G gates, H hidden units, HO = H_out, P = projSize): arrays, or the GPU buffers they go into. */
export interface LayerWeights<T> {
  /** (D·G·H, inputSize): W_ih of the forward direction, then the reverse one. */
  W_ih: T;
  /** (D·G·H): b_ih + b_hh per direction (GRU's gate n: b_in only), zeros without bias. */
  bias: T;
  /** (D, HO, G·H): each direction's W_hh transposed, so that invocations read consecutive units. */
  W_hhT: T;
  /** GRU: (D, H), b_hn, which sits inside r ⊙ (…) and cannot join the projection. */
  b_hn: T | null;
  /** Projected LSTM: (D, H, P), each direction's W_hr transposed. */
  W_hrT: T | null;
}

/** A layer's weights before upload. */
export type LayerArrays = LayerWeights<Float32Array>;

/** A layer's weights on the GPU, as the model holds them and lends them to its backward. */
export interface LayerBuffers extends LayerWeights<GPUBuffer> {
  inputSize: number;
}

/**
 * States of every layer as the kernels keep them: h (layers, one layer's `hBytes`) then an LSTM's c
 * (layers, `cBytes` each, 0 otherwise), zeros where not given.
 */
export function layeredStates(numLayers: number, hBytes: number, cBytes: number, h: Float32Array | null | undefined, c: Float32Array | null | undefined): Float32Array<ArrayBuffer> {
  const states = new Float32Array((numLayers * (hBytes + cBytes)) / 4);
  if (h) states.set(h);
  if (c && cBytes > 0) states.set(c, (numLayers * hBytes) / 4);
  return states;
}

/** Each direction's (rows, cols) matrix transposed to (cols, rows), directions one after another. */
function transposed(matrices: Float32Array[], rows: number, cols: number): Float32Array {
  const out = new Float32Array(matrices.length * rows * cols);
  matrices.forEach((m, d) => {
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[d * rows * cols + c * rows + r] = m[r * cols + c]!;
  });
  return out;
}

/** Per direction: b_ih + b_hh for every gate row, but b_ih alone for GRU's gate n (its b_hn stays in the cell). */
function foldedBias(plan: ModelPlan, layer: number): Float32Array {
  const GH = plan.gates * plan.hiddenSize;
  const gateN = plan.mode === 'gru' ? 2 * plan.hiddenSize : GH;
  const bias = new Float32Array(plan.numDirections * GH);
  plan.layers[layer]!.directions.forEach(({ b_ih, b_hh }, d) => {
    if (b_ih && b_hh) for (let r = 0; r < GH; r++) bias[d * GH + r] = r < gateN ? b_ih[r]! + b_hh[r]! : b_ih[r]!;
  });
  return bias;
}

function gruHiddenBias(plan: ModelPlan, layer: number): Float32Array {
  const H = plan.hiddenSize;
  const b_hn = new Float32Array(plan.numDirections * H);
  plan.layers[layer]!.directions.forEach(({ b_hh }, d) => {
    if (b_hh) b_hn.set(b_hh.subarray(2 * H, 3 * H), d * H);
  });
  return b_hn;
}

/** What layer `index` of the plan uploads: the same sizes for every plan of one model (loadWeights relies on it). */
export function layerArrays(plan: ModelPlan, index: number): LayerArrays {
  const { gates: G, hiddenSize: H, outputSize: Hout, projSize: P, numDirections: D } = plan;
  const { inputSize, directions } = plan.layers[index]!;
  const W_ih = new Float32Array(D * G * H * inputSize);
  directions.forEach(({ W_ih: w }, d) => W_ih.set(w, d * G * H * inputSize));
  return {
    W_ih,
    bias: foldedBias(plan, index),
    W_hhT: transposed(directions.map((w) => w.W_hh), G * H, Hout),
    b_hn: plan.mode === 'gru' ? gruHiddenBias(plan, index) : null,
    W_hrT: P > 0 ? transposed(directions.map((w) => w.W_hr!), P, H) : null,
  };
}
