import type { ForwardResult, RnnConfig, StateDict, Tensor } from '@recurrent/core';

/**
 * The textbook Elman RNN, written straight from PyTorch's documentation with no tricks: one timestep,
 * one batch element, one hidden unit at a time. It shares no code with the engines, so tests can use it
 * as an independent check, and benchmarks as the "naive loop" baseline. It trusts its arguments.
 *
 *     h_t = act(x_t · W_ihᵀ + b_ih + h_{t-1} · W_hhᵀ + b_hh)
 */
export function naiveRnnForward(config: RnnConfig, weights: StateDict, input: Tensor, h0?: Tensor, lengths?: ArrayLike<number>): ForwardResult {
  const H = config.hiddenSize;
  const layers = config.numLayers ?? 1;
  const D = config.bidirectional ? 2 : 1;
  const act = (config.nonlinearity ?? 'tanh') === 'tanh' ? Math.tanh : (v: number) => Math.max(0, v);
  const batched = input.shape.length === 3;
  const batchFirst = batched && (config.batchFirst ?? false);
  const L = batchFirst ? input.shape[1]! : input.shape[0]!;
  const N = batched ? (batchFirst ? input.shape[0]! : input.shape[1]!) : 1;
  const inputAt = (t: number, b: number, i: number): number => {
    const I = config.inputSize;
    return input.data[(batchFirst ? b * L + t : t * N + b) * I + i]!;
  };

  // layerInput[t][b] is a plain array of features.
  let layerInput: number[][][] = [];
  for (let t = 0; t < L; t++) {
    layerInput.push([]);
    for (let b = 0; b < N; b++) layerInput[t]!.push(Array.from({ length: config.inputSize }, (_, i) => inputAt(t, b, i)));
  }
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
        let h_prev = Array.from({ length: H }, (_, j) => (h0 ? h0.data[((layer * D + d) * N + b) * H + j]! : 0));
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

  const output = new Float32Array(L * N * D * H);
  for (let t = 0; t < L; t++) {
    for (let b = 0; b < N; b++) {
      output.set(layerInput[t]![b]!, (batchFirst ? b * L + t : t * N + b) * D * H);
    }
  }
  return {
    output: { data: output, shape: batched ? (batchFirst ? [N, L, D * H] : [L, N, D * H]) : [L, D * H] },
    hN: { data: Float32Array.from(hN.flat(2)), shape: batched ? [layers * D, N, H] : [layers * D, H] },
  };
}
