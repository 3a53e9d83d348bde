// Backpropagation through time for @recurrent/wasm: the kernels of a backward, beside the forward's in
// index.ts (same layouts: gate columns interleaved by blocks of 8 units, weights packed in panels of 8
// output columns, rows sorted by descending length so the rows running at a step are a prefix).
//
// A backward runs, per layer, from the top down:
//
//     tapeLayer            after the forward's runLayer: what the cells need, for every step
//     backLayer            the time loop run backwards: per step, pointwise gate gradients, then
//                          dh_{t-1} = dgates · W_hh (one GEMM for all G gates), both directions in one pass
//     the layer's gradients dW_ih = Σ_t dgxᵀ·x_t, dW_hh = Σ_t dghᵀ·h_{t-1}, dW_hr = Σ_t dh_tᵀ·h_cell_t
//                          (gemmAtB), the biases' column sums (columnSums), and dx = dgx · W_ih
//                          (gemmRows): large GEMMs over every step (padded rows hold zero gradients)
//
// Each kernel is called as the forward's runLayer is, (thread, threads, canWait, sync, ..., from, to) →
// OK, for a range of its steps or rows, with everything it carries from one range to the next kept in
// linear memory: the host runs the whole range at once, or, with a signal, in blocks it can stop between
// (src/blocks.ts runPaced). They run on one thread, and the cuts never change the order of an addition,
// so the bits do not depend on them.
//
// The forward keeps, per layer: its input x, its output, the input projection proj (L·N, D·G·Hp), and
// the hidden part q = h_{t-1}·W_hhᵀ + b_hh' of every step (runLayer writes step s to its own slot of
// qSteps when the host runs it a step per call). tapeLayer adds q to proj, giving every gate's
// pre-activation (a GRU keeps q apart, as r⊙(h·W_hnᵀ + b_hn) needs), reads h_{t-1} back from the output
// and h0, and recomputes an LSTM's c_{t-1} by a pointwise pass over time. The backward then turns the
// pre-activations into their gradients in place: proj becomes dgx (∂L/∂ gate pre-activations), q a
// GRU's dgh.

// The GEMM, the vectorised σ and tanh and the small helpers are index.ts's, shared through @global.
import { GRU, LSTM, OK, RNN_TANH } from './index';

// @ts-ignore: decorator
@inline const GATE_BYTES: usize = NR << 2;

/** 1 − y (for σ′ = (1 − y)·y and tanh′ = 1 − y², written with the outputs as PyTorch's autograd does). */
// @ts-ignore: decorator
@inline function oneMinus(y: v128): v128 {
  return f32x4.sub(constant(ONE), y);
}

/**
 * After runLayer of a layer whose input projection is in `proj`, output in `out` and per-step hidden
 * parts in qSteps (L, D, N, G·Hp: step s, direction d), writes what its backward needs, for steps
 * [stepFrom, stepTo) of both directions (step s is t = s forward, t = L − 1 − s reverse; rows past an
 * element's length are zero, or left for backLayer to zero):
 *
 *     proj  += q          the pre-activations (the same float additions as the forward's cells);
 *                         a GRU copies q to q (L·N, D·G·Hp) instead, proj's layout
 *     hPrev (L·N, D·Pp)   h_{t-1}, the state each step read: the output of the previous step, or h0
 *     cPrev (L·N, D·Hp)   LSTM: c_{t-1}, recomputed from the pre-activations step by step (cRun: (D, N, Hp))
 *     hCell (L·N, D·Hp)   a projected LSTM's h before the projection
 *
 * The whole tape is (0, L); the host may cut it into blocks of steps it can stop between (cRun carries
 * c from one call to the next; the call with stepFrom = 0 sets it from c0). One thread: returns OK.
 */
export function tapeLayer(
  thread: i32, threads: i32, canWait: bool, sync: usize,
  cell: i32, L: i32, N: i32, H: i32, P: i32, G: i32, D: i32,
  proj: usize, q: usize, qSteps: usize, out: usize, h0: usize, c0: usize, lengths: usize,
  hPrev: usize, cPrev: usize, hCell: usize, cRun: usize,
  stepFrom: i32, stepTo: i32,
): i32 {
  const Hp = roundUp(H), Pp = roundUp(P);
  const GH = G * Hp, DGH = D * GH, DP = D * P;
  const projected = P != H;
  const gBytes = <usize>GH << 2;
  const cBytes = <usize>N * Hp << 2;
  const blockBytes = <usize>G * GATE_BYTES;
  if (cell == LSTM && stepFrom == 0) {
    for (let d = 0; d < D; d++) {
      memory.fill(cRun + <usize>d * cBytes, 0, cBytes);
      if (c0 != 0) copyRows(cRun + <usize>d * cBytes, Hp, c0 + (<usize>d * N * H << 2), H, N, H);
    }
  }
  for (let step = stepFrom; step < stepTo; step++) {
    for (let d = 0; d < D; d++) {
      const t = d == 0 ? step : L - 1 - step;
      const active = activeAt(lengths, N, t);
      // h_{t-1}: the forward direction reads h_{t-1} (h0 at t = 0); the reverse one h_{t+1} where the
      // element ran step t + 1, else h0.
      const activeBefore = d == 0 ? (t > 0 ? N : 0) : t + 1 < L ? activeAt(lengths, N, t + 1) : 0;
      for (let i = 0; i < N; i++) {
        const to = hPrev + (((<usize>t * N + i) * D + d) * Pp << 2);
        memory.fill(to, 0, <usize>Pp << 2);
        if (i >= active) continue;
        let from: usize = 0;
        if (i < activeBefore) from = out + (((<usize>(d == 0 ? t - 1 : t + 1) * N + i) * DP + <usize>d * P) << 2);
        else if (h0 != 0) from = h0 + ((<usize>d * N + i) * P << 2);
        if (from != 0) memory.copy(to, from, <usize>P << 2);
      }
      const from = qSteps + ((<usize>step * D + d) * N * GH << 2);
      for (let i = 0; i < active; i++) {
        const q_i = from + <usize>i * gBytes;
        const at = ((<usize>t * N + i) * DGH + <usize>d * GH) << 2;
        if (cell == GRU) memory.copy(q + at, q_i, gBytes);
        else for (let k: usize = 0; k < gBytes; k += 16) v128.store(proj + at + k, f32x4.add(v128.load(proj + at + k), v128.load(q_i + k)));
      }
      if (cell != LSTM) continue;

      // c_t = σ(f)⊙c_{t-1} + σ(i)⊙tanh(g), exactly as updateCells evaluates it.
      for (let i = active; i < N; i++) {
        const saved = ((<usize>t * N + i) * D + d) * Hp << 2;
        memory.fill(cPrev + saved, 0, <usize>Hp << 2);
        if (projected) memory.fill(hCell + saved, 0, <usize>Hp << 2);
      }
      for (let i = 0; i < active; i++) {
        const r = <usize>t * N + i;
        const pi = proj + ((r * DGH + <usize>d * GH) << 2);
        const ci = cRun + <usize>d * cBytes + (<usize>i * Hp << 2);
        const saved = ((r * D + d) * Hp) << 2;
        for (let unit: usize = 0; unit < (<usize>Hp << 2); unit += 16) {
          const pj = pi + (unit / GATE_BYTES) * blockBytes + unit % GATE_BYTES;
          const c_prev = v128.load(ci + unit);
          v128.store(cPrev + saved + unit, c_prev);
          const c_t = madd(sigmoid4(v128.load(pj, GATE_BYTES)), c_prev, f32x4.mul(sigmoid4(v128.load(pj)), tanh4(v128.load(pj, 2 * GATE_BYTES))));
          v128.store(ci + unit, c_t);
          if (projected) v128.store(hCell + saved + unit, f32x4.mul(sigmoid4(v128.load(pj, 3 * GATE_BYTES)), tanh4(c_t)));
        }
      }
    }
  }
  return OK;
}

/**
 * One step backwards for the first `rows` rows: from the gate pre-activations (p, and a GRU's q) and
 * ∂L/∂h_t (dhc, the cell's own h), ∂L/∂c_t (dc, LSTM), writes the gradients of the pre-activations over
 * them (p ← dgx; a GRU's q ← dgh), dc ← ∂L/∂c_{t-1}, and a GRU's dh ← z⊙∂L/∂h_t (the part of ∂L/∂h_{t-1}
 * that does not pass through W_hh). Strides in floats. The CPU engine's cells.ts derives each formula.
 */
function backCells(
  cell: i32, rows: i32, G: i32, blocks: i32,
  p: usize, q: usize, pStride: i32, hPrev: usize, cPrev: usize, savedStride: i32,
  dhc: usize, dhcStride: i32, dc: usize, dcStride: i32, dh: usize, dhStride: i32,
): void {
  const blockBytes = <usize>G * GATE_BYTES;
  for (let i = 0; i < rows; i++) {
    const pi = p + (<usize>i * pStride << 2), qi = q + (<usize>i * pStride << 2);
    const si = <usize>i * savedStride << 2;
    const dhci = dhc + (<usize>i * dhcStride << 2), dci = dc + (<usize>i * dcStride << 2), dhi = dh + (<usize>i * dhStride << 2);
    for (let j = 0; j < blocks; j++) {
      for (let lane: usize = 0; lane < GATE_BYTES; lane += 16) {
        const pj = pi + <usize>j * blockBytes + lane, qj = qi + <usize>j * blockBytes + lane;
        const unit = (<usize>j * GATE_BYTES) + lane;
        const dh_t = v128.load(dhci + unit);
        if (cell == LSTM) {
          const i_ = sigmoid4(v128.load(pj)), f = sigmoid4(v128.load(pj, GATE_BYTES));
          const g = tanh4(v128.load(pj, 2 * GATE_BYTES)), o = sigmoid4(v128.load(pj, 3 * GATE_BYTES));
          const c_prev = v128.load(cPrev + si + unit);
          const tanh_c = tanh4(madd(f, c_prev, f32x4.mul(i_, g)));
          // dc_t = dc + dh⊙o⊙(1 − tanh²c_t)
          const dc_t = madd(f32x4.mul(dh_t, o), oneMinus(f32x4.mul(tanh_c, tanh_c)), v128.load(dci + unit));
          v128.store(pj, f32x4.mul(f32x4.mul(dc_t, g), f32x4.mul(oneMinus(i_), i_)));
          v128.store(pj, f32x4.mul(f32x4.mul(dc_t, c_prev), f32x4.mul(oneMinus(f), f)), GATE_BYTES);
          v128.store(pj, f32x4.mul(f32x4.mul(dc_t, i_), oneMinus(f32x4.mul(g, g))), 2 * GATE_BYTES);
          v128.store(pj, f32x4.mul(f32x4.mul(dh_t, tanh_c), f32x4.mul(oneMinus(o), o)), 3 * GATE_BYTES);
          v128.store(dci + unit, f32x4.mul(dc_t, f));
        } else if (cell == GRU) {
          const r = sigmoid4(f32x4.add(v128.load(pj), v128.load(qj)));
          const z = sigmoid4(f32x4.add(v128.load(pj, GATE_BYTES), v128.load(qj, GATE_BYTES)));
          const hn = v128.load(qj, 2 * GATE_BYTES);
          const n = tanh4(madd(r, hn, v128.load(pj, 2 * GATE_BYTES)));
          // dn_pre = dh⊙(1−z)⊙(1 − n²);  dr = dn_pre⊙hn⊙σ′(r);  dz = dh⊙(h_{t-1} − n)⊙σ′(z)
          const dn = f32x4.mul(f32x4.mul(dh_t, oneMinus(z)), oneMinus(f32x4.mul(n, n)));
          const dr = f32x4.mul(f32x4.mul(dn, hn), f32x4.mul(oneMinus(r), r));
          const dz = f32x4.mul(f32x4.mul(dh_t, f32x4.sub(v128.load(hPrev + si + unit), n)), f32x4.mul(oneMinus(z), z));
          v128.store(pj, dr);
          v128.store(qj, dr);
          v128.store(pj, dz, GATE_BYTES);
          v128.store(qj, dz, GATE_BYTES);
          v128.store(pj, dn, 2 * GATE_BYTES);
          v128.store(qj, f32x4.mul(dn, r), 2 * GATE_BYTES);
          v128.store(dhi + unit, f32x4.mul(dh_t, z));
        } else if (cell == RNN_TANH) {
          const y = tanh4(v128.load(pj));
          v128.store(pj, f32x4.mul(dh_t, oneMinus(f32x4.mul(y, y))));
        } else {
          // PyTorch's threshold_backward: 0 where y ≤ 0, so a NaN result passes its gradient on.
          const y = f32x4.max(v128.load(pj), constant(ZERO));
          v128.store(pj, v128.bitselect(constant(ZERO), dh_t, f32x4.le(y, constant(ZERO))));
        }
      }
    }
  }
}

/**
 * The time loop of one layer run backwards: the forward direction over t = len_b−1…0, the reverse one
 * over t = 0…len_b−1, both in the same loop. Per step and direction, for the running rows:
 *
 *     dh_t += ∂L/∂output_t
 *     dh_cell = dh_t · W_hr                              projected LSTM (dh_t kept in dhTape for dW_hr)
 *     dgx, dgh, dc_{t-1}, z⊙dh_t (GRU) = backCells(…)    pointwise, in place over the pre-activations
 *     dh_{t-1} = (z⊙dh_t, GRU; else 0) + dgh · W_hh       one GEMM for all G gates
 *
 * A row not yet running keeps its dh and dc, so the forward direction's rows start from ∂L/∂h_n at their
 * own last step; every row ends holding ∂L/∂h0 (∂L/∂c0), written to dh0 (D, N, P) and dc0 (D, N, H).
 * Rows past an element's length get zero gate gradients (they take no gradient). dh (D, N, Pp) and dc
 * (D, N, Hp) start from gradHN and gradCN (0: zeros); dhCell is (N, Hp), dhTape (L·N, D·Pp).
 *
 * A call runs the loop's iterations [from, to), iteration u being step L − 1 − u: the whole loop is
 * (0, L), and the host may cut it into blocks it can stop between (dh and dc carry the running
 * gradients from one call to the next; the call with from = 0 sets them, the one with to = L writes
 * dh0 and dc0). One thread: returns OK.
 */
export function backLayer(
  thread: i32, threads: i32, canWait: bool, sync: usize,
  cell: i32, L: i32, N: i32, H: i32, P: i32, G: i32, D: i32,
  dOut: usize, proj: usize, q: usize, packedW_hhT: usize, packedW_hrT: usize, zeros: usize,
  hPrev: usize, cPrev: usize, dhTape: usize, dh: usize, dc: usize, dhCell: usize,
  gradHN: usize, gradCN: usize, dh0: usize, dc0: usize, lengths: usize, pack: usize,
  from: i32, to: i32,
): i32 {
  const Hp = roundUp(H), Pp = roundUp(P);
  const GH = G * Hp, DGH = D * GH, DP = D * P;
  const projected = P != H;
  const gru = cell == GRU;
  const hBytes = <usize>N * Pp << 2, cBytes = <usize>N * Hp << 2;
  if (from == 0) {
    memory.fill(dh, 0, <usize>D * hBytes);
    memory.fill(dc, 0, <usize>D * cBytes);
    memory.fill(dhCell, 0, cBytes);
    for (let d = 0; d < D; d++) {
      if (gradHN != 0) copyRows(dh + <usize>d * hBytes, Pp, gradHN + (<usize>d * N * P << 2), P, N, P);
      if (gradCN != 0) copyRows(dc + <usize>d * cBytes, Hp, gradCN + (<usize>d * N * H << 2), H, N, H);
    }
  }
  for (let step = L - 1 - from; step >= L - to; step--) {
    for (let d = 0; d < D; d++) {
      const t = d == 0 ? step : L - 1 - step;
      const active = activeAt(lengths, N, t);
      const row = <usize>t * N;
      const p_t = proj + ((row * DGH + <usize>d * GH) << 2);
      const q_t = q + ((row * DGH + <usize>d * GH) << 2);
      for (let i = active; i < N; i++) {
        memory.fill(p_t + (<usize>i * DGH << 2), 0, <usize>GH << 2);
        if (gru) memory.fill(q_t + (<usize>i * DGH << 2), 0, <usize>GH << 2);
      }
      const dh_d = dh + <usize>d * hBytes;
      if (dOut != 0) {
        for (let i = 0; i < active; i++) {
          const to = dh_d + (<usize>i * Pp << 2), from = dOut + (((row + i) * DP + <usize>d * P) << 2);
          let k = 0;
          for (; k + 4 <= P; k += 4) v128.store(to + (<usize>k << 2), f32x4.add(v128.load(to + (<usize>k << 2)), v128.load(from + (<usize>k << 2))));
          for (; k < P; k++) store<f32>(to + (<usize>k << 2), load<f32>(to + (<usize>k << 2)) + load<f32>(from + (<usize>k << 2)));
        }
      }
      let dhc = dh_d, dhcStride = Pp;
      if (projected) {
        copyRows(dhTape + ((row * D + d) * Pp << 2), D * Pp, dh_d, Pp, active, Pp);
        for (let i = active; i < N; i++) memory.fill(dhTape + (((row + i) * D + d) * Pp << 2), 0, <usize>Pp << 2);
        gemm(active, Hp, P, dh_d, Pp, packedW_hrT + (<usize>d * Hp * P << 2), zeros, 0, dhCell, Hp, 0, Hp / NR, pack);
        dhc = dhCell;
        dhcStride = Hp;
      }
      const saved = (row * D + d) * Hp << 2;
      backCells(cell, active, G, Hp / NR, p_t, q_t, DGH, hPrev + ((row * D + d) * Pp << 2), cPrev + saved, D * Hp, dhc, dhcStride, dc + <usize>d * cBytes, Hp, dh_d, Pp);
      gemm(active, Pp, GH, gru ? q_t : p_t, DGH, packedW_hhT + (<usize>d * Pp * GH << 2), gru ? dh_d : zeros, gru ? Pp : 0, dh_d, Pp, 0, Pp / NR, pack);
    }
  }
  if (to == L) {
    for (let d = 0; d < D; d++) {
      copyRows(dh0 + (<usize>d * N * P << 2), P, dh + <usize>d * hBytes, Pp, N, P);
      if (cell == LSTM) copyRows(dc0 + (<usize>d * N * H << 2), H, dc + <usize>d * cBytes, Hp, N, H);
    }
  }
  return OK;
}

// @ts-ignore: decorator
@inline const KC: i32 = 256;
// @ts-ignore: decorator
@inline const MC: i32 = 64;

/**
 * C = Aᵀ·B: C[m][n] = Σ_k A[k][m]·B[k][n] for an (M, cols) C (ldc = cols), A (K, M) and B (K, cols),
 * strides in floats; M a multiple of 4. The k axis (every step of a sequence: thousands of rows) is
 * taken KC rows at a time: B's rows are packed into panels of 8 columns (bpack: KC × cols rounded up to
 * 8 floats), then for each block of MC rows of C, A's columns are interleaved by four (apack: MC × KC
 * floats, four consecutive values of A's row k per group) and the forward's 4×8 micro-kernel adds each
 * block's product to C.
 *
 * Unit u of the work is k block u / mBlocks and row block u % mBlocks of C (mBlocks = ⌈M / MC⌉), in the
 * order the whole product runs them; a call does units [from, to). Unit 0 zeroes C, and each k block's
 * first unit packs B into bpack, where the next call finds it: cut between any two units, every value
 * of C takes the same additions in the same order. One thread: returns OK.
 */
export function gemmAtB(
  thread: i32, threads: i32, canWait: bool, sync: usize,
  M: i32, cols: i32, K: i32, A: usize, lda: i32, B: usize, ldb: i32, C: usize, apack: usize, bpack: usize,
  from: i32, to: i32,
): i32 {
  if (from == 0) memory.fill(C, 0, <usize>M * cols << 2);
  const panels = (cols + NR - 1) / NR;
  const cStride = <usize>cols << 2;
  const mBlocks = (M + MC - 1) / MC;
  for (let unit = from; unit < to; unit++) {
    const k0 = (unit / mBlocks) * KC, m0 = (unit % mBlocks) * MC;
    const kc = min(KC, K - k0);
    const panelBytes = <usize>kc * NR << 2;
    if (m0 == 0) {
      for (let k = 0; k < kc; k++) {
        const b = B + (<usize>(k0 + k) * ldb << 2);
        for (let p = 0; p < panels; p++) {
          const to = bpack + <usize>p * panelBytes + (<usize>k * NR << 2);
          const n = p * NR;
          if (n + NR <= cols) {
            v128.store(to, v128.load(b + (<usize>n << 2)));
            v128.store(to, v128.load(b + (<usize>n << 2), 16), 16);
          } else {
            for (let c = 0; c < NR; c++) store<f32>(to + (<usize>c << 2), n + c < cols ? load<f32>(b + (<usize>(n + c) << 2)) : 0);
          }
        }
      }
    }
    const groupBytes = <usize>kc << 4;
    const groups = (min(MC, M - m0)) >> 2;
    for (let k = 0; k < kc; k++) {
      const a = A + ((<usize>(k0 + k) * lda + m0) << 2);
      for (let g = 0; g < groups; g++) v128.store(apack + <usize>g * groupBytes + (<usize>k << 4), v128.load(a + (<usize>g << 4)));
    }
    for (let p = 0; p < panels; p++) {
      const width = min(NR, cols - p * NR);
      for (let g = 0; g < groups; g++) {
        const c = C + <usize>(m0 + 4 * g) * cStride + (<usize>(p * NR) << 2);
        kernel4x8(apack + <usize>g * groupBytes, bpack + <usize>p * panelBytes, kc, c, cStride, c, cStride, width);
      }
    }
  }
  return OK;
}

/**
 * sums[n] = Σ_r A[r][n] for `width` columns (a multiple of 4), stride lda floats: a call adds rows
 * [from, to), in order (the one with from = 0 zeroes sums first). One thread: returns OK.
 */
export function columnSums(
  thread: i32, threads: i32, canWait: bool, sync: usize,
  width: i32, A: usize, lda: i32, sums: usize,
  from: i32, to: i32,
): i32 {
  if (from == 0) memory.fill(sums, 0, <usize>width << 2);
  for (let r = from; r < to; r++) {
    const a = A + (<usize>r * lda << 2);
    for (let n: usize = 0; n < (<usize>width << 2); n += 16) v128.store(sums + n, f32x4.add(v128.load(sums + n), v128.load(a + n)));
  }
  return OK;
}

/**
 * The forward's GEMM (index.ts `gemm`, every panel, no base) for rows [rowFrom, rowTo) of C = A·Wᵀ:
 * cut at multiples of its 64-row block, the blocks are the whole product's. One thread: returns OK.
 */
export function gemmRows(
  thread: i32, threads: i32, canWait: bool, sync: usize,
  cols: i32, K: i32, A: usize, lda: i32, packed: usize, zeros: usize, C: usize, ldc: i32, pack: usize,
  rowFrom: i32, rowTo: i32,
): i32 {
  gemm(rowTo - rowFrom, cols, K, A + (<usize>rowFrom * lda << 2), lda, packed, zeros, 0, C + (<usize>rowFrom * ldc << 2), ldc, 0, (cols + NR - 1) / NR, pack);
  return OK;
}
