import type { EngineModel, EngineResult, ForwardPlan, ModelPlan } from '@recurrent/core';
import { RnnError } from '@recurrent/core';
import { cellOf, type Cell } from './cells.js';
import { gemmRowsBt, strided } from './gemm.js';

/** One direction's recurrent weights. */
interface Direction {
  /** (G·H, H_out) */
  W_hh: Float32Array;
  /** (G·H): b_hh of the gates the cell keeps inside (GRU's b_hn), zeros elsewhere. */
  b_hh_inside: Float32Array;
  /** (P, H) for a projected LSTM, else null. */
  W_hr: Float32Array | null;
}

/** One layer with both directions' input weights side by side, so one GEMM projects the input for both. */
interface Layer {
  inputSize: number;
  /** (D·G·H, inputSize): W_ih of the forward direction, then of the reverse one. */
  W_ih: Float32Array;
  /** (D·G·H): b_ih + b_hh, with b_hh left out where the cell keeps it inside; zeros without bias. */
  b_folded: Float32Array;
  directions: Direction[];
}

function buildLayers(plan: ModelPlan, cell: Cell): Layer[] {
  const H = plan.hiddenSize;
  const GH = cell.gates * H;
  return plan.layers.map(({ inputSize, directions }) => {
    const W_ih = new Float32Array(directions.length * GH * inputSize);
    const b_folded = new Float32Array(directions.length * GH);
    return {
      inputSize,
      W_ih,
      b_folded,
      directions: directions.map(({ W_ih: w, W_hh, b_ih, b_hh, W_hr }, d) => {
        W_ih.set(w, d * GH * inputSize);
        const b_hh_inside = new Float32Array(GH);
        if (b_ih && b_hh) {
          for (let gate = 0; gate < cell.gates; gate++) {
            const inside = cell.hiddenBiasInside.includes(gate);
            for (let k = gate * H; k < (gate + 1) * H; k++) {
              b_folded[d * GH + k] = inside ? b_ih[k]! : b_ih[k]! + b_hh[k]!;
              if (inside) b_hh_inside[k] = b_hh[k]!;
            }
          }
        }
        return { W_hh, b_hh_inside, W_hr };
      }),
    };
  });
}

/**
 * Batch elements in descending length order, as pack_padded_sequence sorts them: at any step t the
 * elements still running (len_b > t) are then the first activeAt[t] of this order, for both directions.
 */
function lengthOrder(L: number, N: number, lengths: Int32Array | null): { order: Int32Array; activeAt: Int32Array } {
  const order = Int32Array.from({ length: N }, (_, b) => b);
  const activeAt = new Int32Array(L).fill(N);
  if (lengths === null) return { order, activeAt };
  order.sort((a, b) => lengths[b]! - lengths[a]! || a - b);
  for (let t = 0; t < L; t++) {
    let active = 0;
    while (active < N && lengths[order[active]!]! > t) active++;
    activeAt[t] = active;
  }
  return { order, activeAt };
}

/** One direction's running state, rows in length order: a row not yet running keeps its h0/c0. */
interface State {
  /** (N, H_out) */
  h: Float32Array;
  /** (N, H), LSTM only (empty otherwise). */
  c: Float32Array;
  /** (N, H): what the cell writes, h itself unless a projection follows. */
  h_cell: Float32Array;
}

export class CpuModel implements EngineModel {
  readonly backend = 'cpu';
  private layers: Layer[] | null;
  private readonly cell: Cell;
  private readonly H: number;
  private readonly Hout: number;
  private readonly P: number;
  private readonly D: number;
  private readonly lstm: boolean;

  constructor(plan: ModelPlan) {
    this.cell = cellOf(plan);
    this.layers = buildLayers(plan, this.cell);
    this.H = plan.hiddenSize;
    this.Hout = plan.outputSize;
    this.P = plan.projSize;
    this.D = plan.numDirections;
    this.lstm = plan.mode === 'lstm';
  }

  async forward(plan: ForwardPlan): Promise<EngineResult> {
    if (this.layers === null) throw new RnnError('disposed', 'This CPU model was disposed');
    return this.run(this.layers, plan);
  }

  dispose(): void {
    this.layers = null;
  }

  /** Runs the stack: each layer reads the previous layer's (L, N, D·H_out) output. */
  private run(layers: Layer[], { seqLen: L, batch: N, input, h0, c0, lengths }: ForwardPlan): EngineResult {
    const { H, Hout, P, D } = this;
    const DGH = D * this.cell.gates * H;
    const hN = new Float32Array(layers.length * D * N * Hout);
    const cN = new Float32Array(this.lstm ? layers.length * D * N * H : 0);
    const { order, activeAt } = lengthOrder(L, N, lengths);
    const states: State[] = Array.from({ length: D }, () => {
      const h = new Float32Array(N * Hout);
      return { h, c: new Float32Array(this.lstm ? N * H : 0), h_cell: P > 0 ? new Float32Array(N * H) : h };
    });
    const rows = L * N;
    const projected = new Float32Array(rows * DGH);
    let x = input;
    let output = new Float32Array(0);
    layers.forEach((layer, index) => {
      // x_t·W_ihᵀ + b_ih + b_hh for every step and both directions at once: it does not depend on h.
      gemmRowsBt(rows, DGH, layer.inputSize, x, strided(rows, layer.inputSize), layer.W_ih, layer.b_folded, new Int32Array(rows), projected, strided(rows, DGH));
      output = new Float32Array(rows * D * Hout);
      states.forEach((state, d) => {
        gatherRows(h0, (index * D + d) * N * Hout, Hout, order, state.h);
        if (this.lstm) gatherRows(c0, (index * D + d) * N * H, H, order, state.c);
      });
      this.recur(layer, projected, output, L, N, order, activeAt, states);
      // The states now hold h_n (and c_n): forward after step len_b−1, reverse after step 0.
      states.forEach((state, d) => {
        scatterRows(state.h, Hout, order, hN, (index * D + d) * N * Hout);
        if (this.lstm) scatterRows(state.c, H, order, cN, (index * D + d) * N * H);
      });
      x = output;
    });
    return this.lstm ? { output, hN, cN } : { output, hN };
  }

  /**
   * The time loop of one layer, shared by every cell: forward over t = 0…len_b−1 and reverse over
   * t = len_b−1…0, both directions advancing in the same loop. At each step, for the running rows:
   *
   *     gates = h_{t-1}·W_hhᵀ (+ b_hn)                          one GEMM for all G gates
   *     h_t, c_t = cell(projected_t, gates, h_{t-1}, c_{t-1})   in place
   *     h_t = h_t·W_hrᵀ                                         LSTM with proj_size only
   *
   * A row not yet running keeps h0/c0, so the reverse direction starts from them at each element's own
   * last step.
   */
  private recur(layer: Layer, projected: Float32Array, output: Float32Array, L: number, N: number, order: Int32Array, activeAt: Int32Array, states: State[]): void {
    const { cell, H, Hout, P, D } = this;
    const GH = cell.gates * H;
    const gates = new Float32Array(N * GH);
    const gateRows = strided(N, GH);
    const hRows = strided(N, Hout);
    const cellRows = strided(N, H);
    const biasRows = new Int32Array(N);
    const noBias = new Float32Array(P);
    const xRow = new Int32Array(N);
    for (let step = 0; step < L; step++) {
      for (let d = 0; d < D; d++) {
        const t = d === 0 ? step : L - 1 - step;
        const active = activeAt[t]!;
        const { W_hh, b_hh_inside, W_hr } = layer.directions[d]!;
        const { h, c, h_cell } = states[d]!;
        gemmRowsBt(active, GH, Hout, h, hRows, W_hh, b_hh_inside, biasRows, gates, gateRows);
        for (let i = 0; i < active; i++) xRow[i] = (t * N + order[i]!) * D * GH + d * GH;
        cell.update(active, H, projected, xRow, gates, h_cell, c);
        if (W_hr !== null) gemmRowsBt(active, P, H, h_cell, cellRows, W_hr, noBias, biasRows, h, hRows);
        // Rows not running stay 0 in the output, as pad_packed_sequence pads.
        for (let i = 0; i < active; i++) {
          const to = (t * N + order[i]!) * D * Hout + d * Hout;
          for (let j = 0; j < Hout; j++) output[to + j] = h[i * Hout + j]!;
        }
      }
    }
  }
}

/** rows[i] = states[order[i]] for a (N, width) block of a state tensor starting at `start`; zeros for null. */
function gatherRows(states: Float32Array | null, start: number, width: number, order: Int32Array, rows: Float32Array): void {
  if (states === null) {
    rows.fill(0);
    return;
  }
  order.forEach((b, i) => rows.set(states.subarray(start + b * width, start + (b + 1) * width), i * width));
}

/** states[order[i]] = rows[i]: the inverse of gatherRows. */
function scatterRows(rows: Float32Array, width: number, order: Int32Array, states: Float32Array, start: number): void {
  order.forEach((b, i) => states.set(rows.subarray(i * width, (i + 1) * width), start + b * width));
}
