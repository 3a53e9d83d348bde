import type { GruConfig, LstmConfig, Mode, StateDict, Tensor } from '@recurrent/core';

/**
 * nn.LSTM and nn.GRU straight from PyTorch's documentation, in float64, one time step, batch element
 * and unit at a time: an independent check for the differential tests (the proof is the PyTorch
 * conformance vectors). Handles every option: layers, bidirectional, batch_first, unbatched input,
 * projSize, initial states and lengths (pack_padded_sequence semantics). It trusts its arguments.
 */
export function textbookForward(
  mode: Exclude<Mode, 'rnn'>,
  config: LstmConfig | GruConfig,
  weights: StateDict,
  input: Tensor,
  h0?: Tensor,
  c0?: Tensor,
  lengths?: ArrayLike<number>,
): { output: Float32Array; hN: Float32Array; cN: Float32Array } {
  const H = config.hiddenSize;
  const P = mode === 'lstm' && (config as LstmConfig).projSize ? (config as LstmConfig).projSize! : H;
  const layers = config.numLayers ?? 1;
  const D = config.bidirectional ? 2 : 1;
  const batched = input.shape.length === 3;
  const batchFirst = batched && (config.batchFirst ?? false);
  const L = batchFirst ? input.shape[1]! : input.shape[0]!;
  const N = batched ? (batchFirst ? input.shape[0]! : input.shape[1]!) : 1;
  const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));
  const dot = (W: Float32Array, row: number, v: number[]): number => {
    let s = 0;
    for (let k = 0; k < v.length; k++) s += W[row * v.length + k]! * v[k]!;
    return s;
  };

  // x[t][b] is a plain array of features.
  let x: number[][][] = Array.from({ length: L }, (_, t) => Array.from({ length: N }, (_, b) => {
    const row = batchFirst ? b * L + t : t * N + b;
    return Array.from(input.data.subarray(row * config.inputSize, (row + 1) * config.inputSize));
  }));
  const hN: number[] = [];
  const cN: number[] = [];
  for (let layer = 0; layer < layers; layer++) {
    const y = Array.from({ length: L }, () => Array.from({ length: N }, () => new Array<number>(D * P).fill(0)));
    for (let d = 0; d < D; d++) {
      const suffix = `_l${layer}${d === 1 ? '_reverse' : ''}`;
      const W_ih = weights[`weight_ih${suffix}`]!.data;
      const W_hh = weights[`weight_hh${suffix}`]!.data;
      const b_ih = weights[`bias_ih${suffix}`]?.data;
      const b_hh = weights[`bias_hh${suffix}`]?.data;
      const W_hr = weights[`weight_hr${suffix}`]?.data;
      const stateRow = layer * D + d;
      for (let b = 0; b < N; b++) {
        const len = lengths ? lengths[b]! : L;
        let h = Array.from({ length: P }, (_, j) => (h0 ? h0.data[(stateRow * N + b) * P + j]! : 0));
        const c = Array.from({ length: H }, (_, j) => (c0 ? c0.data[(stateRow * N + b) * H + j]! : 0));
        for (let s = 0; s < len; s++) {
          const t = d === 0 ? s : len - 1 - s;
          const xt = x[t]![b]!;
          const gi = (g: number, j: number): number => dot(W_ih, g * H + j, xt) + (b_ih ? b_ih[g * H + j]! : 0);
          const gh = (g: number, j: number): number => dot(W_hh, g * H + j, h) + (b_hh ? b_hh[g * H + j]! : 0);
          if (mode === 'lstm') {
            const gate = (g: number, j: number): number => gi(g, j) + gh(g, j);
            const m = new Array<number>(H);
            for (let j = 0; j < H; j++) {
              c[j] = sigmoid(gate(1, j)) * c[j]! + sigmoid(gate(0, j)) * Math.tanh(gate(2, j));
              m[j] = sigmoid(gate(3, j)) * Math.tanh(c[j]!);
            }
            h = W_hr ? Array.from({ length: P }, (_, k) => dot(W_hr, k, m)) : m;
          } else {
            h = Array.from({ length: H }, (_, j) => {
              const r = sigmoid(gi(0, j) + gh(0, j));
              const z = sigmoid(gi(1, j) + gh(1, j));
              const n = Math.tanh(gi(2, j) + r * gh(2, j));
              return (1 - z) * n + z * h[j]!;
            });
          }
          for (let j = 0; j < P; j++) y[t]![b]![d * P + j] = h[j]!;
        }
        h.forEach((v, j) => (hN[(stateRow * N + b) * P + j] = v));
        c.forEach((v, j) => (cN[(stateRow * N + b) * H + j] = v));
      }
    }
    x = y;
  }
  const output = new Float32Array(L * N * D * P);
  for (let t = 0; t < L; t++) {
    for (let b = 0; b < N; b++) output.set(x[t]![b]!, (batchFirst ? b * L + t : t * N + b) * D * P);
  }
  return { output, hN: Float32Array.from(hN), cN: Float32Array.from(cN) };
}
