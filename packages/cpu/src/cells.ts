import type { ModelPlan } from '@recurrent/core';

/**
 * A cell is everything that differs between nn.RNN, nn.LSTM and nn.GRU: the pointwise math of one step,
 * forward and backward. The layer loop (model.ts) computes, for the rows running at step t, G blocks of
 * H sums each:
 *
 *     x      x_t·W_ihᵀ + b_ih + b_hh   (the input projection; row i starts at x[xRow[i]])
 *     gates  h_{t-1}·W_hhᵀ             (row i starts at i·G·H)
 *
 * with b_hh in `x`, except for the gates listed in `hiddenBiasInside`, whose b_hh is in `gates`. The cell
 * then updates the first `active` rows of h (row i at i·H) and, for the LSTM, of c, in place: an element
 * reads only its own h_{t-1} and c_{t-1}, so no second buffer is needed.
 *
 * For a backward, `update` also writes `saved` blocks of H values per row (row i at savedRow[i]): what
 * `backward` needs to differentiate the step without running it again.
 */
export interface Cell {
  /** G: gate blocks stacked in the rows of W_ih and W_hh, in PyTorch's order. */
  readonly gates: 1 | 3 | 4;
  /** Gate blocks whose b_hh cannot be folded into the input projection. */
  readonly hiddenBiasInside: readonly number[];
  /** S: blocks of H values `update` saves per row for `backward` (RNN 1, LSTM 5, GRU 4). */
  readonly saved: number;
  update(
    active: number, H: number, x: Float32Array, xRow: Int32Array, gates: Float32Array, h: Float32Array, c: Float32Array,
    saved: Float32Array | null, savedRow: Int32Array,
  ): void;
  /**
   * One step backwards, for the first `active` rows. In: dh = ∂L/∂h_t (row i at i·H, the cell's own h,
   * before any projection) and, for the LSTM, dc = ∂L/∂c_t. Out:
   *
   *     dgx   ∂L/∂(x_t·W_ihᵀ + b_ih), the gates' pre-activations (row i at gateRow[i], G·H wide)
   *     dgh   ∂L/∂(h_{t-1}·W_hhᵀ + b_hh): the same as dgx but for the gates in hiddenBiasInside
   *           (the layer passes dgx itself when there are none, and then dgh is not written)
   *     dh    ← the part of ∂L/∂h_{t-1} that does not pass through W_hh (GRU: z⊙dh_t; else 0)
   *     dc    ← ∂L/∂c_{t-1} (LSTM)
   *
   * h_prev (row i at hPrevRow[i]) is the state the step read.
   */
  backward(
    active: number, H: number, saved: Float32Array, savedRow: Int32Array, h_prev: Float32Array, hPrevRow: Int32Array,
    dh: Float32Array, dc: Float32Array, dgx: Float32Array, dgh: Float32Array, gateRow: Int32Array,
  ): void;
}

/** σ(v). For v < −709 exp(−v) is Infinity and σ is 0, not NaN; NaN stays NaN. */
function sigmoid(v: number): number {
  return 1 / (1 + Math.exp(-v));
}

/** Keeps NaN (`v < 0` is false for it), as PyTorch's relu does. */
function relu(v: number): number {
  return v < 0 ? 0 : v;
}

/** The derivatives of σ, tanh and relu written with their outputs y, as PyTorch's autograd computes them. */
const dSigmoid = (y: number): number => (1 - y) * y;
const dTanh = (y: number): number => 1 - y * y;
/** PyTorch's threshold_backward: 0 where y ≤ 0, so a NaN result passes its gradient on. */
const dRelu = (y: number): number => (y <= 0 ? 0 : 1);

/**
 * nn.RNN:  h_t = act(x_t·W_ihᵀ + b_ih + h_{t-1}·W_hhᵀ + b_hh).  Saves h_t; backward: dpre = dh ⊙ act′(h_t).
 */
function rnnCell(act: (v: number) => number, dAct: (y: number) => number): Cell {
  return {
    gates: 1,
    hiddenBiasInside: [],
    saved: 1,
    update(active, H, x, xRow, gates, h, _c, saved, savedRow) {
      for (let row = 0; row < active; row++) {
        const xr = xRow[row]!, hr = row * H;
        const sr = saved === null ? 0 : savedRow[row]!;
        for (let j = 0; j < H; j++) {
          const h_t = act(x[xr + j]! + gates[hr + j]!);
          h[hr + j] = h_t;
          if (saved !== null) saved[sr + j] = h_t;
        }
      }
    },
    backward(active, H, saved, savedRow, _h_prev, _hPrevRow, dh, _dc, dgx, _dgh, gateRow) {
      for (let row = 0; row < active; row++) {
        const sr = savedRow[row]!, gr = gateRow[row]!, hr = row * H;
        for (let j = 0; j < H; j++) {
          dgx[gr + j] = dh[hr + j]! * dAct(saved[sr + j]!);
          dh[hr + j] = 0;
        }
      }
    },
  };
}

/**
 * nn.LSTM, gates i, f, g, o:
 *
 *     c_t = σ(f)⊙c_{t-1} + σ(i)⊙tanh(g);   h_t = σ(o)⊙tanh(c_t)
 *
 * (with proj_size the layer then multiplies this h_t by W_hrᵀ). Saves i, f, g, o (activated) and
 * c_{t-1}; backward recomputes c_t from them (the same float64 sum, so the same value). With
 * dc_t = dc + dh⊙o⊙(1 − tanh²c_t):
 *
 *     di = dc_t⊙g   df = dc_t⊙c_{t-1}   dg = dc_t⊙i   do = dh⊙tanh(c_t)   dc_{t-1} = dc_t⊙f
 */
const lstmCell: Cell = {
  gates: 4,
  hiddenBiasInside: [],
  saved: 5,
  update(active, H, x, xRow, gates, h, c, saved, savedRow) {
    const GH = 4 * H;
    for (let row = 0; row < active; row++) {
      const xr = xRow[row]!, gr = row * GH, hr = row * H;
      const sr = saved === null ? 0 : savedRow[row]!;
      for (let j = 0; j < H; j++) {
        const i = sigmoid(x[xr + j]! + gates[gr + j]!);
        const f = sigmoid(x[xr + H + j]! + gates[gr + H + j]!);
        const g = Math.tanh(x[xr + 2 * H + j]! + gates[gr + 2 * H + j]!);
        const o = sigmoid(x[xr + 3 * H + j]! + gates[gr + 3 * H + j]!);
        const c_prev = c[hr + j]!;
        const c_t = f * c_prev + i * g;
        c[hr + j] = c_t;
        h[hr + j] = o * Math.tanh(c_t);
        if (saved !== null) {
          saved[sr + j] = i;
          saved[sr + H + j] = f;
          saved[sr + 2 * H + j] = g;
          saved[sr + 3 * H + j] = o;
          saved[sr + 4 * H + j] = c_prev;
        }
      }
    }
  },
  backward(active, H, saved, savedRow, _h_prev, _hPrevRow, dh, dc, dgx, _dgh, gateRow) {
    for (let row = 0; row < active; row++) {
      const sr = savedRow[row]!, gr = gateRow[row]!, hr = row * H;
      for (let j = 0; j < H; j++) {
        const i = saved[sr + j]!, f = saved[sr + H + j]!, g = saved[sr + 2 * H + j]!, o = saved[sr + 3 * H + j]!;
        const c_prev = saved[sr + 4 * H + j]!;
        const tanh_c = Math.tanh(f * c_prev + i * g);
        const dh_t = dh[hr + j]!;
        const dc_t = dc[hr + j]! + dh_t * o * dTanh(tanh_c);
        dgx[gr + j] = dc_t * g * dSigmoid(i);
        dgx[gr + H + j] = dc_t * c_prev * dSigmoid(f);
        dgx[gr + 2 * H + j] = dc_t * i * dTanh(g);
        dgx[gr + 3 * H + j] = dh_t * tanh_c * dSigmoid(o);
        dc[hr + j] = dc_t * f;
        dh[hr + j] = 0;
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
 *
 * Saves r, z, n and hn = h·W_hnᵀ + b_hn. Backward, with dn_pre = dh⊙(1−z)⊙(1 − n²):
 *
 *     dr = dn_pre⊙hn   dz = dh⊙(h_{t-1} − n)   dh_{t-1} (direct) = dh⊙z
 *
 * and the n gate's two sides differ: x_n gets dn_pre, hn (so W_hn and b_hn) gets dn_pre⊙r.
 */
const gruCell: Cell = {
  gates: 3,
  hiddenBiasInside: [2],
  saved: 4,
  update(active, H, x, xRow, gates, h, _c, saved, savedRow) {
    const GH = 3 * H;
    for (let row = 0; row < active; row++) {
      const xr = xRow[row]!, gr = row * GH, hr = row * H;
      const sr = saved === null ? 0 : savedRow[row]!;
      for (let j = 0; j < H; j++) {
        const r = sigmoid(x[xr + j]! + gates[gr + j]!);
        const z = sigmoid(x[xr + H + j]! + gates[gr + H + j]!);
        const hn = gates[gr + 2 * H + j]!;
        const n = Math.tanh(x[xr + 2 * H + j]! + r * hn);
        const h_prev = h[hr + j]!;
        h[hr + j] = n + z * (h_prev - n);
        if (saved !== null) {
          saved[sr + j] = r;
          saved[sr + H + j] = z;
          saved[sr + 2 * H + j] = n;
          saved[sr + 3 * H + j] = hn;
        }
      }
    }
  },
  backward(active, H, saved, savedRow, h_prev, hPrevRow, dh, _dc, dgx, dgh, gateRow) {
    for (let row = 0; row < active; row++) {
      const sr = savedRow[row]!, pr = hPrevRow[row]!, gr = gateRow[row]!, hr = row * H;
      for (let j = 0; j < H; j++) {
        const r = saved[sr + j]!, z = saved[sr + H + j]!, n = saved[sr + 2 * H + j]!, hn = saved[sr + 3 * H + j]!;
        const dh_t = dh[hr + j]!;
        const dn_pre = dh_t * (1 - z) * dTanh(n);
        const dr_pre = dn_pre * hn * dSigmoid(r);
        const dz_pre = dh_t * (h_prev[pr + j]! - n) * dSigmoid(z);
        dgx[gr + j] = dgh[gr + j] = dr_pre;
        dgx[gr + H + j] = dgh[gr + H + j] = dz_pre;
        dgx[gr + 2 * H + j] = dn_pre;
        dgh[gr + 2 * H + j] = dn_pre * r;
        dh[hr + j] = dh_t * z;
      }
    }
  },
};

const rnnTanhCell = rnnCell(Math.tanh, dTanh);
const rnnReluCell = rnnCell(relu, dRelu);

/** The cell of a module. */
export function cellOf(plan: Pick<ModelPlan, 'mode' | 'nonlinearity'>): Cell {
  if (plan.mode === 'lstm') return lstmCell;
  if (plan.mode === 'gru') return gruCell;
  return plan.nonlinearity === 'tanh' ? rnnTanhCell : rnnReluCell;
}
