import type { ForwardResult, GruConfig, LstmConfig, LstmResult, RnnConfig, StateDict, Tensor } from '@recurrent/core';

/*
 * The textbook nn.RNN, nn.LSTM and nn.GRU, written straight from PyTorch's documentation with no tricks:
 * one timestep, one batch element, one hidden unit at a time. They share no code with the engines, so
 * tests can use them as an independent check, and benchmarks as the "naive loop" baseline. They trust
 * their arguments.
 */

/** The input as layerInput[t][b] = a plain array of features, and how to lay the output back out. */
function readSequence(config: RnnConfig | LstmConfig | GruConfig, input: Tensor) {
  const batched = input.shape.length === 3;
  const batchFirst = batched && (config.batchFirst ?? false);
  const L = batchFirst ? input.shape[1]! : input.shape[0]!;
  const N = batched ? (batchFirst ? input.shape[0]! : input.shape[1]!) : 1;
  const I = config.inputSize;
  const layerInput: number[][][] = [];
  for (let t = 0; t < L; t++) {
    layerInput.push([]);
    for (let b = 0; b < N; b++) {
      const at = (batchFirst ? b * L + t : t * N + b) * I;
      layerInput[t]!.push(Array.from(input.data.subarray(at, at + I)));
    }
  }
  const outputTensor = (layerOutput: number[][][], width: number): Tensor => {
    const data = new Float32Array(L * N * width);
    for (let t = 0; t < L; t++) {
      for (let b = 0; b < N; b++) data.set(layerOutput[t]![b]!, (batchFirst ? b * L + t : t * N + b) * width);
    }
    return { data, shape: batched ? (batchFirst ? [N, L, width] : [L, N, width]) : [L, width] };
  };
  const stateTensor = (states: number[][][], width: number): Tensor => ({
    data: Float32Array.from(states.flat(2)),
    shape: batched ? [states.length, N, width] : [states.length, width],
  });
  return { L, N, layerInput, outputTensor, stateTensor };
}

/** Row `row` of an initial state (D·layers, N, width), or zeros. */
function initialState(state: Tensor | undefined, row: number, width: number): number[] {
  return Array.from({ length: width }, (_, j) => (state ? state.data[row * width + j]! : 0));
}

/** Σ_k W[row, k] · v[k] for a row-major weight of `width` columns. */
function dot(W: Tensor, row: number, v: number[]): number {
  const width = W.shape[1]!;
  let sum = 0;
  for (let k = 0; k < width; k++) sum += W.data[row * width + k]! * v[k]!;
  return sum;
}

function sigmoid(v: number): number {
  return 1 / (1 + Math.exp(-v));
}

/** h_t = act(x_t · W_ihᵀ + b_ih + h_{t-1} · W_hhᵀ + b_hh) */
export function naiveRnnForward(config: RnnConfig, weights: StateDict, input: Tensor, h0?: Tensor, lengths?: ArrayLike<number>): ForwardResult {
  const H = config.hiddenSize;
  const layers = config.numLayers ?? 1;
  const D = config.bidirectional ? 2 : 1;
  const act = (config.nonlinearity ?? 'tanh') === 'tanh' ? Math.tanh : (v: number) => Math.max(0, v);
  const { L, N, outputTensor, stateTensor, ...sequence } = readSequence(config, input);
  let layerInput = sequence.layerInput;
  const hN: number[][][] = [];
  for (let layer = 0; layer < layers; layer++) {
    const layerOutput = Array.from({ length: L }, () => Array.from({ length: N }, () => new Array<number>(D * H).fill(0)));
    for (let d = 0; d < D; d++) {
      const suffix = `_l${layer}${d === 1 ? '_reverse' : ''}`;
      const W_ih = weights[`weight_ih${suffix}`]!;
      const W_hh = weights[`weight_hh${suffix}`]!;
      const b_ih = weights[`bias_ih${suffix}`];
      const b_hh = weights[`bias_hh${suffix}`];
      const inputWidth = W_ih.shape[1]!;
      const finals: number[][] = [];
      for (let b = 0; b < N; b++) {
        const len = lengths ? lengths[b]! : L;
        let h_prev = initialState(h0, (layer * D + d) * N + b, H);
        for (let s = 0; s < len; s++) {
          const t = d === 0 ? s : len - 1 - s;
          const x_t = layerInput[t]![b]!;
          const h_t = new Array<number>(H);
          for (let j = 0; j < H; j++) {
            let sum = (b_ih ? b_ih.data[j]! : 0) + (b_hh ? b_hh.data[j]! : 0);
            for (let i = 0; i < inputWidth; i++) sum += x_t[i]! * W_ih.data[j * inputWidth + i]!;
            for (let k = 0; k < H; k++) sum += h_prev[k]! * W_hh.data[j * H + k]!;
            h_t[j] = act(sum);
          }
          for (let j = 0; j < H; j++) layerOutput[t]![b]![d * H + j] = h_t[j]!;
          h_prev = h_t;
        }
        finals.push(h_prev);
      }
      hN.push(finals);
    }
    layerInput = layerOutput;
  }
  return { output: outputTensor(layerInput, D * H), hN: stateTensor(hN, H) };
}

/**
 * The LSTM of PyTorch's documentation, gates i, f, g, o stacked in the rows of W_ih and W_hh:
 *
 *     i = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)      f = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
 *     g = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)   o = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
 *     c_t = f ⊙ c_{t-1} + i ⊙ g        h_t = o ⊙ tanh(c_t)        h_t = W_hr h_t  (proj_size > 0)
 */
export function naiveLstmForward(config: LstmConfig, weights: StateDict, input: Tensor, hx?: [h0: Tensor, c0: Tensor], lengths?: ArrayLike<number>): LstmResult {
  const H = config.hiddenSize;
  const P = config.projSize ?? 0;
  const Hout = P > 0 ? P : H;
  const layers = config.numLayers ?? 1;
  const D = config.bidirectional ? 2 : 1;
  const { L, N, outputTensor, stateTensor, ...sequence } = readSequence(config, input);
  let layerInput = sequence.layerInput;
  const hN: number[][][] = [];
  const cN: number[][][] = [];
  for (let layer = 0; layer < layers; layer++) {
    const layerOutput = Array.from({ length: L }, () => Array.from({ length: N }, () => new Array<number>(D * Hout).fill(0)));
    for (let d = 0; d < D; d++) {
      const suffix = `_l${layer}${d === 1 ? '_reverse' : ''}`;
      const W_ih = weights[`weight_ih${suffix}`]!;
      const W_hh = weights[`weight_hh${suffix}`]!;
      const b_ih = weights[`bias_ih${suffix}`];
      const b_hh = weights[`bias_hh${suffix}`];
      const W_hr = weights[`weight_hr${suffix}`];
      // Gate `gate` of unit j is row gate·H + j of W_ih, W_hh, b_ih and b_hh.
      const gate = (row: number, x_t: number[], h_prev: number[]): number =>
        (b_ih ? b_ih.data[row]! : 0) + dot(W_ih, row, x_t) + (b_hh ? b_hh.data[row]! : 0) + dot(W_hh, row, h_prev);
      const hFinals: number[][] = [];
      const cFinals: number[][] = [];
      for (let b = 0; b < N; b++) {
        const len = lengths ? lengths[b]! : L;
        let h_prev = initialState(hx?.[0], (layer * D + d) * N + b, Hout);
        let c_prev = initialState(hx?.[1], (layer * D + d) * N + b, H);
        for (let s = 0; s < len; s++) {
          const t = d === 0 ? s : len - 1 - s;
          const x_t = layerInput[t]![b]!;
          const c_t = new Array<number>(H);
          let h_t = new Array<number>(H);
          for (let j = 0; j < H; j++) {
            const i = sigmoid(gate(j, x_t, h_prev));
            const f = sigmoid(gate(H + j, x_t, h_prev));
            const g = Math.tanh(gate(2 * H + j, x_t, h_prev));
            const o = sigmoid(gate(3 * H + j, x_t, h_prev));
            c_t[j] = f * c_prev[j]! + i * g;
            h_t[j] = o * Math.tanh(c_t[j]!);
          }
          if (W_hr) {
            const unprojected = h_t;
            h_t = Array.from({ length: P }, (_, p) => dot(W_hr, p, unprojected));
          }
          for (let k = 0; k < Hout; k++) layerOutput[t]![b]![d * Hout + k] = h_t[k]!;
          h_prev = h_t;
          c_prev = c_t;
        }
        hFinals.push(h_prev);
        cFinals.push(c_prev);
      }
      hN.push(hFinals);
      cN.push(cFinals);
    }
    layerInput = layerOutput;
  }
  return { output: outputTensor(layerInput, D * Hout), hN: stateTensor(hN, Hout), cN: stateTensor(cN, H) };
}

/**
 * The GRU of PyTorch's documentation, gates r, z, n stacked in the rows of W_ih and W_hh:
 *
 *     r = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)      z = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
 *     n = tanh(W_in x_t + b_in + r ⊙ (W_hn h_{t-1} + b_hn))
 *     h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}
 */
export function naiveGruForward(config: GruConfig, weights: StateDict, input: Tensor, h0?: Tensor, lengths?: ArrayLike<number>): ForwardResult {
  const H = config.hiddenSize;
  const layers = config.numLayers ?? 1;
  const D = config.bidirectional ? 2 : 1;
  const { L, N, outputTensor, stateTensor, ...sequence } = readSequence(config, input);
  let layerInput = sequence.layerInput;
  const hN: number[][][] = [];
  for (let layer = 0; layer < layers; layer++) {
    const layerOutput = Array.from({ length: L }, () => Array.from({ length: N }, () => new Array<number>(D * H).fill(0)));
    for (let d = 0; d < D; d++) {
      const suffix = `_l${layer}${d === 1 ? '_reverse' : ''}`;
      const W_ih = weights[`weight_ih${suffix}`]!;
      const W_hh = weights[`weight_hh${suffix}`]!;
      const b_ih = weights[`bias_ih${suffix}`];
      const b_hh = weights[`bias_hh${suffix}`];
      // Gate `gate` of unit j is row gate·H + j; its input part and its hidden part.
      const fromInput = (row: number, x_t: number[]): number => (b_ih ? b_ih.data[row]! : 0) + dot(W_ih, row, x_t);
      const fromHidden = (row: number, h_prev: number[]): number => (b_hh ? b_hh.data[row]! : 0) + dot(W_hh, row, h_prev);
      const finals: number[][] = [];
      for (let b = 0; b < N; b++) {
        const len = lengths ? lengths[b]! : L;
        let h_prev = initialState(h0, (layer * D + d) * N + b, H);
        for (let s = 0; s < len; s++) {
          const t = d === 0 ? s : len - 1 - s;
          const x_t = layerInput[t]![b]!;
          const h_t = new Array<number>(H);
          for (let j = 0; j < H; j++) {
            const r = sigmoid(fromInput(j, x_t) + fromHidden(j, h_prev));
            const z = sigmoid(fromInput(H + j, x_t) + fromHidden(H + j, h_prev));
            const n = Math.tanh(fromInput(2 * H + j, x_t) + r * fromHidden(2 * H + j, h_prev));
            h_t[j] = (1 - z) * n + z * h_prev[j]!;
          }
          for (let j = 0; j < H; j++) layerOutput[t]![b]![d * H + j] = h_t[j]!;
          h_prev = h_t;
        }
        finals.push(h_prev);
      }
      hN.push(finals);
    }
    layerInput = layerOutput;
  }
  return { output: outputTensor(layerInput, D * H), hN: stateTensor(hN, H) };
}
