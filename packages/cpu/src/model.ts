import type { EngineModel, EngineResult, ForwardPlan, ModelPlan } from '@recurrent/core';
import { RnnError } from '@recurrent/core';
import { Activation, gemmRowsBt, strided } from './gemm.js';

/** One layer with both directions' weights side by side, so one GEMM projects the input for both. */
interface Layer {
  inputSize: number;
  /** (D·H, inputSize): W_ih of the forward direction, then of the reverse one. */
  W_ih: Float32Array;
  /** b_ih + b_hh for each direction, (D·H); zeros without bias. */
  bias: Float32Array;
  /** Per direction, (H, H). */
  W_hh: Float32Array[];
}

function buildLayers(plan: ModelPlan): Layer[] {
  const H = plan.hiddenSize;
  return plan.layers.map(({ inputSize, directions }) => {
    const W_ih = new Float32Array(directions.length * H * inputSize);
    const bias = new Float32Array(directions.length * H);
    directions.forEach(({ W_ih: w, b_ih, b_hh }, d) => {
      W_ih.set(w, d * H * inputSize);
      if (b_ih && b_hh) for (let j = 0; j < H; j++) bias[d * H + j] = b_ih[j]! + b_hh[j]!;
    });
    return { inputSize, W_ih, bias, W_hh: directions.map((d) => d.W_hh) };
  });
}

/**
 * Batch elements in descending length order, as pack_padded_sequence sorts them: at any step t the
 * elements still running (len_b > t) are then a prefix of this order, for both directions.
 */
function lengthOrder(N: number, lengths: Int32Array | null): { order: Int32Array; activeAt: (t: number) => number } {
  const order = Int32Array.from({ length: N }, (_, b) => b);
  if (lengths === null) return { order, activeAt: () => N };
  order.sort((a, b) => lengths[b]! - lengths[a]! || a - b);
  const sorted = Array.from(order, (b) => lengths[b]!);
  return {
    order,
    activeAt: (t) => {
      let active = 0;
      while (active < N && sorted[active]! > t) active++;
      return active;
    },
  };
}

export class CpuModel implements EngineModel {
  readonly backend = 'cpu';
  private layers: Layer[] | null;
  private readonly H: number;
  private readonly D: number;
  private readonly activation: Activation;

  constructor(plan: ModelPlan) {
    this.layers = buildLayers(plan);
    this.H = plan.hiddenSize;
    this.D = plan.numDirections;
    this.activation = plan.nonlinearity === 'tanh' ? Activation.Tanh : Activation.Relu;
  }

  async forward(plan: ForwardPlan): Promise<EngineResult> {
    if (this.layers === null) throw new RnnError('disposed', 'This CPU model was disposed');
    return this.run(this.layers, plan);
  }

  dispose(): void {
    this.layers = null;
  }

  /** Runs the stack: each layer reads the previous layer's (L, N, D·H) output. */
  private run(layers: Layer[], { seqLen: L, batch: N, input, h0, lengths }: ForwardPlan): EngineResult {
    const { H, D } = this;
    const DH = D * H;
    const hN = new Float32Array(layers.length * D * N * H);
    const { order, activeAt } = lengthOrder(N, lengths);
    let x = input;
    let output = new Float32Array(0);
    layers.forEach((layer, index) => {
      output = new Float32Array(L * N * DH);
      // x_t · W_ihᵀ + b_ih + b_hh for every step and both directions at once: it does not depend on h.
      const projected = new Float32Array(L * N * DH);
      const rows = L * N;
      gemmRowsBt(rows, DH, layer.inputSize, x, strided(rows, layer.inputSize), layer.W_ih, layer.bias, new Int32Array(rows), projected, strided(rows, DH), Activation.None);
      this.recur(layer, index, projected, output, L, N, h0, order, activeAt);
      this.collectFinalStates(output, index, L, N, lengths, hN);
      x = output;
    });
    return { output, hN };
  }

  /**
   * h_t = act(projected_t + h_{t-1} · W_hhᵀ), forward over t = 0…len_b−1 and reverse over t = len_b−1…0,
   * both directions advancing in the same loop. States live in two buffers per direction (previous,
   * next), rows in length order; a row not yet running keeps h0 in both, so the reverse direction
   * starts from h0 at each element's own last step.
   */
  private recur(
    layer: Layer, index: number, projected: Float32Array, output: Float32Array, L: number, N: number,
    h0: Float32Array | null, order: Int32Array, activeAt: (t: number) => number,
  ): void {
    const { H, D, activation } = this;
    const DH = D * H;
    const states = Array.from({ length: D }, (_, d) => {
      const initial = new Float32Array(N * H);
      if (h0 !== null) {
        const start = (index * D + d) * N * H;
        for (let i = 0; i < N; i++) initial.set(h0.subarray(start + order[i]! * H, start + (order[i]! + 1) * H), i * H);
      }
      return { h_prev: initial, h_next: initial.slice() };
    });
    const stateRows = strided(N, H);
    const projectedRows = new Int32Array(N);
    const outputRows = new Int32Array(N);
    for (let step = 0; step < L; step++) {
      for (let d = 0; d < D; d++) {
        const t = d === 0 ? step : L - 1 - step;
        const active = activeAt(t);
        for (let i = 0; i < active; i++) {
          projectedRows[i] = (t * N + order[i]!) * DH + d * H;
          outputRows[i] = (t * N + order[i]!) * DH + d * H;
        }
        const state = states[d]!;
        gemmRowsBt(active, H, H, state.h_prev, stateRows, layer.W_hh[d]!, projected, projectedRows, state.h_next, stateRows, activation);
        for (let i = 0; i < active; i++) output.set(state.h_next.subarray(i * H, (i + 1) * H), outputRows[i]!);
        [state.h_prev, state.h_next] = [state.h_next, state.h_prev];
      }
    }
  }

  /** h_n is the state after each element's last step: t = len_b−1 forward, t = 0 reverse. */
  private collectFinalStates(output: Float32Array, index: number, L: number, N: number, lengths: Int32Array | null, hN: Float32Array): void {
    const { H, D } = this;
    for (let d = 0; d < D; d++) {
      for (let b = 0; b < N; b++) {
        const t = d === 0 ? (lengths === null ? L : lengths[b]!) - 1 : 0;
        const from = (t * N + b) * D * H + d * H;
        hN.set(output.subarray(from, from + H), ((index * D + d) * N + b) * H);
      }
    }
  }
}
