import type { ModelPlan } from '@recurrent/core';

/**
 * A cell is everything that differs between nn.RNN, nn.LSTM and nn.GRU: the pointwise math of one step.
 * The layer loop (model.ts) computes, for the rows running at step t, G blocks of H sums each:
 *
 *     x      x_t·W_ihᵀ + b_ih + b_hh   (the input projection; row i starts at x[xRow[i]])
 *     gates  h_{t-1}·W_hhᵀ             (row i starts at i·G·H)
 *
 * with b_hh in `x`, except for the gates listed in `hiddenBiasInside`, whose b_hh is in `gates`. The cell
 * then updates the first `active` rows of h (row i at i·H) and, for the LSTM, of c, in place: an element
 * reads only its own h_{t-1} and c_{t-1}, so no second buffer is needed.
 */
export interface Cell {
  /** G: gate blocks stacked in the rows of W_ih and W_hh, in PyTorch's order. */
  readonly gates: 1 | 3 | 4;
  /** Gate blocks whose b_hh cannot be folded into the input projection. */
  readonly hiddenBiasInside: readonly number[];
  update(active: number, H: number, x: Float32Array, xRow: Int32Array, gates: Float32Array, h: Float32Array, c: Float32Array): void;
}

/** σ(v). For v < −709 exp(−v) is Infinity and σ is 0, not NaN; NaN stays NaN. */
function sigmoid(v: number): number {
  return 1 / (1 + Math.exp(-v));
}

/** Keeps NaN (`v < 0` is false for it), as PyTorch's relu does. */
function relu(v: number): number {
  return v < 0 ? 0 : v;
}

/** nn.RNN:  h_t = act(x_t·W_ihᵀ + b_ih + h_{t-1}·W_hhᵀ + b_hh) */
function rnnCell(act: (v: number) => number): Cell {
  return {
    gates: 1,
    hiddenBiasInside: [],
    update(active, H, x, xRow, gates, h) {
      for (let row = 0; row < active; row++) {
        const xr = xRow[row]!, hr = row * H;
        for (let j = 0; j < H; j++) h[hr + j] = act(x[xr + j]! + gates[hr + j]!);
      }
    },
  };
}

/**
 * nn.LSTM, gates i, f, g, o:
 *
 *     c_t = σ(f)⊙c_{t-1} + σ(i)⊙tanh(g);   h_t = σ(o)⊙tanh(c_t)
 *
 * (with proj_size the layer then multiplies this h_t by W_hrᵀ).
 */
const lstmCell: Cell = {
  gates: 4,
  hiddenBiasInside: [],
  update(active, H, x, xRow, gates, h, c) {
    const GH = 4 * H;
    for (let row = 0; row < active; row++) {
      const xr = xRow[row]!, gr = row * GH, hr = row * H;
      for (let j = 0; j < H; j++) {
        const i = sigmoid(x[xr + j]! + gates[gr + j]!);
        const f = sigmoid(x[xr + H + j]! + gates[gr + H + j]!);
        const g = Math.tanh(x[xr + 2 * H + j]! + gates[gr + 2 * H + j]!);
        const o = sigmoid(x[xr + 3 * H + j]! + gates[gr + 3 * H + j]!);
        const c_t = f * c[hr + j]! + i * g;
        c[hr + j] = c_t;
        h[hr + j] = o * Math.tanh(c_t);
      }
    }
  },
};

/**
 * nn.GRU, gates r, z, n:
 *
 *     r = σ(x_r + h·W_hrᵀ + b_hr);   z = σ(x_z + h·W_hzᵀ + b_hz)
 *     n = tanh(x_n + r⊙(h·W_hnᵀ + b_hn));   h_t = (1−z)⊙n + z⊙h_{t-1}
 *
 * b_hn sits inside r⊙(…), so it stays in `gates`. h_t is evaluated as n + z⊙(h_{t-1} − n), the form
 * PyTorch computes, so rounding and non-finite values come out as PyTorch's do.
 */
const gruCell: Cell = {
  gates: 3,
  hiddenBiasInside: [2],
  update(active, H, x, xRow, gates, h) {
    const GH = 3 * H;
    for (let row = 0; row < active; row++) {
      const xr = xRow[row]!, gr = row * GH, hr = row * H;
      for (let j = 0; j < H; j++) {
        const r = sigmoid(x[xr + j]! + gates[gr + j]!);
        const z = sigmoid(x[xr + H + j]! + gates[gr + H + j]!);
        const n = Math.tanh(x[xr + 2 * H + j]! + r * gates[gr + 2 * H + j]!);
        const h_prev = h[hr + j]!;
        h[hr + j] = n + z * (h_prev - n);
      }
    }
  },
};

const rnnTanhCell = rnnCell(Math.tanh);
const rnnReluCell = rnnCell(relu);

/** The cell of a module. */
export function cellOf(plan: Pick<ModelPlan, 'mode' | 'nonlinearity'>): Cell {
  if (plan.mode === 'lstm') return lstmCell;
  if (plan.mode === 'gru') return gruCell;
  return plan.nonlinearity === 'tanh' ? rnnTanhCell : rnnReluCell;
}
