// The kernels of @recurrent/wasm. Every buffer lives in linear memory that the TypeScript host owns and
// allocates; these functions only get byte offsets. The host calls `runLayer` once per layer (on every
// thread of a job): the whole time loop runs here, with no call back into JavaScript. nn.RNN, nn.LSTM
// and nn.GRU share that loop (runLayer); a module is its cell (updateCells):
//
//     RNN   h_t = act(x_t · W_ihᵀ + b_ih + h_{t-1} · W_hhᵀ + b_hh)
//     LSTM  i,f,g,o = split4(same);  c_t = σ(f)⊙c_{t-1} + σ(i)⊙tanh(g);  h_t = σ(o)⊙tanh(c_t) (· W_hrᵀ)
//     GRU   r,z = σ(same)[0:2];  n = tanh(x_t·W_inᵀ + b_in + r⊙(h_{t-1}·W_hnᵀ + b_hn));  h_t = (1−z)⊙n + z⊙h_{t-1}
//
// Weights are packed once per model into panels of NR = 8 output columns: panel p holds K rows of 8
// floats, panel[k][c] = W[8p + c][k] (zero past the last column). A GEMM micro-kernel then reads one
// panel row as two v128 and multiplies it by a broadcast value of each of four rows of A (or one).

// @ts-ignore: decorator
@global @inline const NR: i32 = 8;

/** a · b + c: one fused instruction where relaxed SIMD is enabled at build time, else mul then add. */
// @ts-ignore: decorator
@global @inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** Writes base + acc for columns [n, n + width) of one row, width < 8 (the last, partial panel). */
function storePartial(acc0: v128, acc1: v128, base: usize, c: usize, width: i32): void {
  store<f32>(c, f32x4.extract_lane(acc0, 0) + load<f32>(base));
  if (width > 1) store<f32>(c, f32x4.extract_lane(acc0, 1) + load<f32>(base, 4), 4);
  if (width > 2) store<f32>(c, f32x4.extract_lane(acc0, 2) + load<f32>(base, 8), 8);
  if (width > 3) store<f32>(c, f32x4.extract_lane(acc0, 3) + load<f32>(base, 12), 12);
  if (width > 4) store<f32>(c, f32x4.extract_lane(acc1, 0) + load<f32>(base, 16), 16);
  if (width > 5) store<f32>(c, f32x4.extract_lane(acc1, 1) + load<f32>(base, 20), 20);
  if (width > 6) store<f32>(c, f32x4.extract_lane(acc1, 2) + load<f32>(base, 24), 24);
}

// @ts-ignore: decorator
@inline function storeRow(acc0: v128, acc1: v128, base: usize, c: usize, width: i32): void {
  if (width == NR) {
    v128.store(c, f32x4.add(acc0, v128.load(base)));
    v128.store(c, f32x4.add(acc1, v128.load(base, 16)), 16);
  } else {
    storePartial(acc0, acc1, base, c, width);
  }
}

// @ts-ignore: decorator
@inline const ROW_BLOCK: i32 = 64;

/**
 * Interleaves `groups` groups of 4 rows of A (stride lda floats) for kernel4x8: pack[g][k][r] =
 * A[4g + r][k], so that the kernel reads the four rows' k-th values at one address (4×4 transposes).
 */
function packRows(A: usize, lda: i32, groups: i32, K: i32, pack: usize): void {
  const aStride = <usize>lda << 2;
  const groupBytes = <usize>K << 4;
  for (let g = 0; g < groups; g++) {
    const a0 = A + <usize>(4 * g) * aStride, a1 = a0 + aStride, a2 = a1 + aStride, a3 = a2 + aStride;
    const out = pack + <usize>g * groupBytes;
    let k = 0;
    for (; k + 4 <= K; k += 4) {
      const at = <usize>k << 2;
      const r0 = v128.load(a0 + at), r1 = v128.load(a1 + at), r2 = v128.load(a2 + at), r3 = v128.load(a3 + at);
      const t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5), t1 = i32x4.shuffle(r2, r3, 0, 4, 1, 5);
      const t2 = i32x4.shuffle(r0, r1, 2, 6, 3, 7), t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
      const o = out + (at << 2);
      v128.store(o, i64x2.shuffle(t0, t1, 0, 2));
      v128.store(o, i64x2.shuffle(t0, t1, 1, 3), 16);
      v128.store(o, i64x2.shuffle(t2, t3, 0, 2), 32);
      v128.store(o, i64x2.shuffle(t2, t3, 1, 3), 48);
    }
    for (; k < K; k++) {
      const at = <usize>k << 2;
      const o = out + (at << 2);
      store<f32>(o, load<f32>(a0 + at));
      store<f32>(o, load<f32>(a1 + at), 4);
      store<f32>(o, load<f32>(a2 + at), 8);
      store<f32>(o, load<f32>(a3 + at), 12);
    }
  }
}

/**
 * C[i, n] = base[i, n] + Σ_k A[i, k] · W[n, k] for rows [0, rows) and the columns of panels [p0, p1).
 * Strides are in floats; baseStride 0 broadcasts one row (a bias). Rows are taken in blocks of 64:
 * each block's groups of four rows are interleaved into `pack` (ROW_BLOCK·K floats, the calling
 * thread's own) and stay in cache while every panel passes over them; the last rows of a block that
 * do not make a group of four (and B = 1) take the one-row kernel.
 */
// @ts-ignore: decorator
@global
function gemm(
  rows: i32, cols: i32, K: i32,
  A: usize, lda: i32,
  packed: usize,
  base: usize, baseStride: i32,
  C: usize, ldc: i32,
  p0: i32, p1: i32,
  pack: usize,
): void {
  if (p0 >= p1) return;
  const aStride = <usize>lda << 2;
  const bStride = <usize>baseStride << 2;
  const cStride = <usize>ldc << 2;
  const panelBytes = <usize>K * NR << 2;
  const groupBytes = <usize>K << 4;
  for (let r0 = 0; r0 < rows; r0 += ROW_BLOCK) {
    const r1 = min(rows, r0 + ROW_BLOCK);
    const groups = (r1 - r0) >> 2;
    packRows(A + <usize>r0 * aStride, lda, groups, K, pack);
    for (let p = p0; p < p1; p++) {
      beat();
      const panel = packed + <usize>p * panelBytes;
      const n = p * NR;
      const width = min(NR, cols - n);
      const colBytes = <usize>n << 2;
      for (let g = 0; g < groups; g++) {
        const i = r0 + 4 * g;
        kernel4x8(pack + <usize>g * groupBytes, panel, K, base + <usize>i * bStride + colBytes, bStride, C + <usize>i * cStride + colBytes, cStride, width);
      }
      for (let i = r0 + 4 * groups; i < r1; i++) {
        kernel1x8(A + <usize>i * aStride, panel, K, base + <usize>i * bStride + colBytes, C + <usize>i * cStride + colBytes, width);
      }
    }
  }
}

/** Four interleaved rows of A times one panel: 8 accumulators, each panel row loaded once for four rows. */
// @ts-ignore: decorator
@global @inline function kernel4x8(a: usize, panel: usize, K: i32, base: usize, bStride: usize, c: usize, cStride: usize, width: i32): void {
  let s00 = f32x4.splat(0), s01 = f32x4.splat(0);
  let s10 = f32x4.splat(0), s11 = f32x4.splat(0);
  let s20 = f32x4.splat(0), s21 = f32x4.splat(0);
  let s30 = f32x4.splat(0), s31 = f32x4.splat(0);
  let w = panel;
  const end = a + (<usize>K << 4);
  for (; a < end; a += 16) {
    const w0 = v128.load(w), w1 = v128.load(w, 16);
    w += NR << 2;
    let x = v128.load32_splat(a);
    s00 = madd(x, w0, s00); s01 = madd(x, w1, s01);
    x = v128.load32_splat(a, 4);
    s10 = madd(x, w0, s10); s11 = madd(x, w1, s11);
    x = v128.load32_splat(a, 8);
    s20 = madd(x, w0, s20); s21 = madd(x, w1, s21);
    x = v128.load32_splat(a, 12);
    s30 = madd(x, w0, s30); s31 = madd(x, w1, s31);
  }
  storeRow(s00, s01, base, c, width);
  storeRow(s10, s11, base + bStride, c + cStride, width);
  storeRow(s20, s21, base + 2 * bStride, c + 2 * cStride, width);
  storeRow(s30, s31, base + 3 * bStride, c + 3 * cStride, width);
}

/**
 * One row of A times one panel (the matrix-vector case, B = 1): k is unrolled by two into separate
 * accumulators so consecutive multiply-adds do not wait on each other.
 */
// @ts-ignore: decorator
@inline function kernel1x8(a: usize, panel: usize, K: i32, base: usize, c: usize, width: i32): void {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), t0 = f32x4.splat(0), t1 = f32x4.splat(0);
  let w = panel;
  let k = 0;
  for (; k + 2 <= K; k += 2) {
    const x = v128.load32_splat(a + (<usize>k << 2));
    const y = v128.load32_splat(a + (<usize>k << 2), 4);
    s0 = madd(x, v128.load(w), s0); s1 = madd(x, v128.load(w, 16), s1);
    t0 = madd(y, v128.load(w, 32), t0); t1 = madd(y, v128.load(w, 48), t1);
    w += 2 * NR << 2;
  }
  if (k < K) {
    const x = v128.load32_splat(a + (<usize>k << 2));
    s0 = madd(x, v128.load(w), s0); s1 = madd(x, v128.load(w, 16), s1);
  }
  storeRow(f32x4.add(s0, t0), f32x4.add(s1, t1), base, c, width);
}

// Constants of the pointwise functions, each splatted into a 16-byte row of static memory: a v128.load
// from a constant address is one instruction, where V8 builds a v128 constant in three.
const CONSTANTS = memory.data<f32>([
  7.90531110763549805, 7.90531110763549805, 7.90531110763549805, 7.90531110763549805,
  -7.90531110763549805, -7.90531110763549805, -7.90531110763549805, -7.90531110763549805,
  -2.76076847742355e-16, -2.76076847742355e-16, -2.76076847742355e-16, -2.76076847742355e-16,
  2.00018790482477e-13, 2.00018790482477e-13, 2.00018790482477e-13, 2.00018790482477e-13,
  -8.60467152213735e-11, -8.60467152213735e-11, -8.60467152213735e-11, -8.60467152213735e-11,
  5.12229709037114e-8, 5.12229709037114e-8, 5.12229709037114e-8, 5.12229709037114e-8,
  1.48572235717979e-5, 1.48572235717979e-5, 1.48572235717979e-5, 1.48572235717979e-5,
  6.37261928875436e-4, 6.37261928875436e-4, 6.37261928875436e-4, 6.37261928875436e-4,
  4.89352455891786e-3, 4.89352455891786e-3, 4.89352455891786e-3, 4.89352455891786e-3,
  1.19825839466702e-6, 1.19825839466702e-6, 1.19825839466702e-6, 1.19825839466702e-6,
  1.18534705686654e-4, 1.18534705686654e-4, 1.18534705686654e-4, 1.18534705686654e-4,
  2.268434632439e-3, 2.268434632439e-3, 2.268434632439e-3, 2.268434632439e-3,
  4.89352518554385e-3, 4.89352518554385e-3, 4.89352518554385e-3, 4.89352518554385e-3,
  -0.0, -0.0, -0.0, -0.0,
  1, 1, 1, 1,
  0.5, 0.5, 0.5, 0.5,
  0, 0, 0, 0,
], 16);
// Rows of CONSTANTS.
// @ts-ignore: decorator
@inline const CLAMP = 0;
// @ts-ignore: decorator
@inline const NEG_CLAMP = 1;
/** P's 7 coefficients, highest power first, then Q's 4. */
// @ts-ignore: decorator
@inline const P0 = 2;
// @ts-ignore: decorator
@inline const Q0 = 9;
// @ts-ignore: decorator
@inline const SIGN = 13;
// @ts-ignore: decorator
@global @inline const ONE = 14;
// @ts-ignore: decorator
@inline const HALF = 15;
// @ts-ignore: decorator
@global @inline const ZERO = 16;

// @ts-ignore: decorator
@global @inline function constant(row: i32): v128 {
  return v128.load(CONSTANTS + (<usize>row << 4));
}

// tanh(x) ≈ x · P(x²) / Q(x²) on [-7.905, 7.905] (Eigen's rational approximation: within 4e-7 of the
// exact value), and exactly ±1 beyond, where float32 tanh is within 3e-7 of ±1 anyway. The clamp uses
// pmin/pmax (one instruction each, where min/max cost several in V8), ordered so that NaN passes through.
// @ts-ignore: decorator
@global @inline function tanh4(v: v128): v128 {
  const x = f32x4.pmax(f32x4.pmin(v, constant(CLAMP)), constant(NEG_CLAMP));
  const x2 = f32x4.mul(x, x);
  let p = madd(constant(P0), x2, constant(P0 + 1));
  p = madd(p, x2, constant(P0 + 2));
  p = madd(p, x2, constant(P0 + 3));
  p = madd(p, x2, constant(P0 + 4));
  p = madd(p, x2, constant(P0 + 5));
  p = madd(p, x2, constant(P0 + 6));
  p = f32x4.mul(p, x);
  let q = madd(constant(Q0), x2, constant(Q0 + 1));
  q = madd(q, x2, constant(Q0 + 2));
  q = madd(q, x2, constant(Q0 + 3));
  const sign = constant(SIGN);
  const saturated = f32x4.ge(v128.andnot(v, sign), constant(CLAMP));
  const signedOne = v128.or(v128.and(v, sign), constant(ONE));
  return v128.bitselect(signedOne, f32x4.div(p, q), saturated);
}

// σ(x) = ½·tanh(½x) + ½: exact algebra, so the error is half of tanh4's (within 2e-7 absolute), σ is
// exactly 0 or 1 beyond |x| ≥ 15.8 (the true value is then within 1.4e-7 of it), and NaN stays NaN.
// @ts-ignore: decorator
@global @inline function sigmoid4(v: v128): v128 {
  const half = constant(HALF);
  return madd(tanh4(f32x4.mul(v, half)), half, half);
}

// The cells. Each is the pointwise update of one module; the time loop below is shared by all.
export const RNN_TANH = 1;
export const RNN_RELU = 2;
export const LSTM = 3;
export const GRU = 4;

// Gate columns are interleaved by blocks of NR hidden units: block j of gate g sits at columns
// (j·G + g)·NR … +NR of a direction's G·Hp gate row (Hp = H rounded up to NR). One block of units is then
// NR contiguous floats per gate, and a thread that owns whole blocks owns all their gates.
// @ts-ignore: decorator
@inline const GATE_BYTES: usize = NR << 2;

/** Pre-activation of gate `k` for four units: input projection (with folded biases) + h·W_hhᵀ part. */
// @ts-ignore: decorator
@inline function gate(p: usize, q: usize, k: usize): v128 {
  return f32x4.add(v128.load(p + k * GATE_BYTES), v128.load(q + k * GATE_BYTES));
}

/**
 * Updates the units of blocks [j0, j1) of rows [0, rows). Per row, `p` is the input projection
 * x_t·W_ihᵀ + b (stride pStride floats), `q` is h_{t-1}·W_hhᵀ + b_hh' (stride qStride), `hPrev` and `c`
 * the previous h and the cell state (stride hStride, c updated in place), and `hOut` receives h_t (or,
 * for a projected LSTM, σ(o)⊙tanh(c_t) before the projection). Padding units past H compute harmless
 * values that no GEMM reads and no copy writes out.
 */
function updateCells(
  cell: i32, rows: i32, G: i32, j0: i32, j1: i32,
  p: usize, pStride: i32, q: usize, qStride: i32,
  hPrev: usize, c: usize, hOut: usize, hStride: i32,
): void {
  const pRow = <usize>pStride << 2, qRow = <usize>qStride << 2, hRow = <usize>hStride << 2;
  const blockBytes = <usize>G * GATE_BYTES;
  for (let i = 0; i < rows; i++) {
    const pi = p + <usize>i * pRow, qi = q + <usize>i * qRow, hi = <usize>i * hRow;
    for (let j = j0; j < j1; j++) {
      for (let lane: usize = 0; lane < GATE_BYTES; lane += 16) {
        const pj = pi + <usize>j * blockBytes + lane, qj = qi + <usize>j * blockBytes + lane;
        const unit = hi + (<usize>j * GATE_BYTES) + lane;
        if (cell == LSTM) {
          // c_t = σ(f)⊙c_{t-1} + σ(i)⊙tanh(g);  h_t = σ(o)⊙tanh(c_t)   (gates i, f, g, o)
          const c_t = madd(sigmoid4(gate(pj, qj, 1)), v128.load(c + unit), f32x4.mul(sigmoid4(gate(pj, qj, 0)), tanh4(gate(pj, qj, 2))));
          v128.store(c + unit, c_t);
          v128.store(hOut + unit, f32x4.mul(sigmoid4(gate(pj, qj, 3)), tanh4(c_t)));
        } else if (cell == GRU) {
          // n = tanh(x·W_inᵀ + b_in + r⊙(h·W_hnᵀ + b_hn));  h_t = n + z⊙(h_{t-1} − n), as PyTorch writes it
          const r = sigmoid4(gate(pj, qj, 0));
          const z = sigmoid4(gate(pj, qj, 1));
          const n = tanh4(madd(r, v128.load(qj, 2 * GATE_BYTES), v128.load(pj, 2 * GATE_BYTES)));
          v128.store(hOut + unit, madd(z, f32x4.sub(v128.load(hPrev + unit), n), n));
        } else if (cell == RNN_TANH) {
          v128.store(hOut + unit, tanh4(gate(pj, qj, 0)));
        } else {
          v128.store(hOut + unit, f32x4.max(gate(pj, qj, 0), constant(ZERO)));
        }
      }
    }
  }
}

/** How many rows run at step t: lengths are sorted in descending order, so they are a prefix. */
// @ts-ignore: decorator
@global
function activeAt(lengths: usize, N: i32, t: i32): i32 {
  if (lengths == 0) return N;
  let active = 0;
  while (active < N && load<i32>(lengths + (<usize>active << 2)) > t) active++;
  return active;
}

/** The share [start, end) of `total` items that thread `thread` of `threads` takes. */
// @ts-ignore: decorator
@inline function share(total: i32, thread: i32, threads: i32): i32 {
  return <i32>(<i64>total * thread / threads);
}

// The words of a job's `sync` block (bytes): barrier arrivals and generation, the fault flag (set by a
// barrier's watchdog, or by the host when a thread traps or dies: every thread then leaves its barrier
// and the call returns FAULT), the watchdog's limit in ms (the host's), and from byte 64 on, one
// heartbeat word per thread, 64 bytes apart, that the thread bumps as it works.
// @ts-ignore: decorator
@inline const SYNC_ARRIVALS = 0;
// @ts-ignore: decorator
@inline const SYNC_GENERATION = 4;
// @ts-ignore: decorator
@inline const SYNC_FAULT = 8;
// @ts-ignore: decorator
@inline const SYNC_WATCHDOG_MS = 12;
// @ts-ignore: decorator
@inline const SYNC_BEATS = 64;
/** What runLayer returns: done, or stopped because a thread of the job failed or stalled. */
export const OK = 0;
export const FAULT = 1;

/** The host's clock (performance.now), read only while a barrier has waited a long time. */
// @ts-ignore: decorator
@external("env", "now") declare function now(): f64;

/** This thread's heartbeat word in the job's sync block (0: single-threaded). Globals are per thread. */
let heartbeat: usize = 0;

// @ts-ignore: decorator
@inline function beat(): void {
  if (ASC_FEATURE_THREADS) {
    if (heartbeat != 0) atomic.add<i32>(heartbeat, 1);
  }
}

/** The sum of every thread's heartbeat: it changes while any thread is working. */
function progress(sync: usize, threads: i32): i32 {
  let sum = 0;
  if (ASC_FEATURE_THREADS) {
    for (let i = 0; i < threads; i++) sum += atomic.load<i32>(sync + SYNC_BEATS + (<usize>i << 6));
  }
  return sum;
}

/**
 * Waits until all `threads` threads reach this point; false if the job has failed. The last to arrive
 * resets the arrivals and advances the generation; the others spin on the generation, then sleep in
 * short waits where the thread may block (not a browser's main thread). A watchdog ends the wait when
 * no thread's heartbeat has moved for the host's limit (a worker that died or hangs): it sets the fault
 * flag, which makes every other thread leave its barrier too. The limit holds only across many checks,
 * so that a machine that slept (the clock jumped) does not look like a dead thread.
 */
function barrier(sync: usize, threads: i32, canWait: bool): bool {
  if (threads == 1) return true;
  if (ASC_FEATURE_THREADS) {
    const generation = atomic.load<i32>(sync, SYNC_GENERATION);
    beat();
    if (atomic.add<i32>(sync, 1, SYNC_ARRIVALS) == threads - 1) {
      atomic.store<i32>(sync, 0, SYNC_ARRIVALS);
      atomic.add<i32>(sync, 1, SYNC_GENERATION);
      atomic.notify(sync + SYNC_GENERATION);
      return true;
    }
    let spins = 0;
    let seen = -1, stale = 0;
    let since: f64 = 0;
    while (atomic.load<i32>(sync, SYNC_GENERATION) == generation) {
      if (++spins < 20000) continue;
      if (canWait) memory.atomic.wait32(sync + SYNC_GENERATION, generation, 1_000_000);
      else if ((spins & 0xffff) != 0) continue;
      if (atomic.load<i32>(sync, SYNC_FAULT) != 0) return false;
      const beats = progress(sync, threads);
      if (beats != seen) {
        seen = beats;
        stale = 0;
        since = now();
      } else if (++stale > 50 && now() - since > <f64>atomic.load<i32>(sync, SYNC_WATCHDOG_MS)) {
        atomic.store<i32>(sync, 1, SYNC_FAULT);
        atomic.notify(sync + SYNC_GENERATION);
        return false;
      }
    }
  }
  return true;
}

/** Copies `rows` rows of `width` floats from stride `fromStride` to stride `toStride` (floats). */
// @ts-ignore: decorator
@global
function copyRows(to: usize, toStride: i32, from: usize, fromStride: i32, rows: i32, width: i32): void {
  if (width <= 0) return;
  for (let i = 0; i < rows; i++) {
    memory.copy(to + (<usize>i * toStride << 2), from + (<usize>i * fromStride << 2), <usize>width << 2);
  }
}

// @ts-ignore: decorator
@global @inline function roundUp(n: i32): i32 {
  return (n + NR - 1) / NR * NR;
}

/**
 * One layer of any module, both directions advancing in the same loop:
 *
 *     proj = x · W_ihᵀ + b              all L·N rows at once: it does not depend on h
 *     q    = h_{t-1} · W_hhᵀ + b_hh'    per step, all G gates in one GEMM
 *     h_t  = cell(proj_t, q, h_{t-1}, c)  (then h_t · W_hrᵀ for a projected LSTM)
 *
 * forward over t = 0…len_b−1, reverse over t = len_b−1…0. b is b_ih + b_hh, except that a GRU's b_hn
 * stays in b_hh' (zero elsewhere): it sits inside r⊙(…). H is the cell width, P = H_out the width of h
 * (the projection size, else H); gate columns are interleaved by blocks of 8 units (see GATE_BYTES).
 *
 * Buffers (floats; Hp, Pp: H, P rounded up to 8): proj (L·N, D·G·Hp); q (D, N, G·Hp); h (D, 2, N, Pp)
 * for h_{t-1} and h_t; c and the unprojected h (D, N, Hp); out (L, N, D·P), zero where rows do not run;
 * h0, hN (D, N, P); c0, cN (D, N, H). Batch rows are sorted by descending length, so the rows running
 * at any step are a prefix; a row not yet running holds h0 and c0, so the reverse direction starts from
 * them at each row's own last step.
 *
 * Every thread of a job calls this with the same arguments and its own `thread` index. Each owns whole
 * blocks of 8 hidden units: the columns of all their gates in the step GEMM, and their pointwise update,
 * so no barrier sits between the two; one barrier ends each step, since the next reads all of h_t. A
 * projected LSTM adds one barrier before h·W_hrᵀ, whose output panels are split between the threads.
 * With one thread there is no barrier at all. `packs` holds each thread's GEMM row-packing buffer,
 * packBytes apiece.
 *
 * A call does rows [rowFrom, rowTo) of the input projection, then steps [stepFrom, stepTo): the whole
 * layer is (0, L·N, 0, L), and the host may cut it into blocks it can stop between (rows in multiples
 * of 64, the GEMM's row block, so the bits do not depend on the cut). The states stay in h and c between
 * calls; they are set from h0/c0 by the call with rowFrom = 0, and h_n/c_n are written by the one with
 * stepTo = L. Returns OK, or FAULT when a thread of the job failed (see barrier).
 */
export function runLayer(
  thread: i32, threads: i32, canWait: bool, sync: usize,
  cell: i32, L: i32, N: i32, H: i32, P: i32, G: i32, D: i32, I: i32,
  x: usize, packedW_ih: usize, bias: usize, proj: usize, out: usize,
  packedW_hh: usize, hiddenBias: usize, packedW_hr: usize, zeros: usize,
  q: usize, h: usize, c: usize, hCell: usize,
  h0: usize, c0: usize, lengths: usize, hN: usize, cN: usize, packs: usize, packBytes: usize,
  rowFrom: i32, rowTo: i32, stepFrom: i32, stepTo: i32,
): i32 {
  if (ASC_FEATURE_THREADS) heartbeat = threads > 1 ? sync + SYNC_BEATS + (<usize>thread << 6) : 0;
  const pack = packs + <usize>thread * packBytes;
  const projected = P != H;
  const Hp = roundUp(H), Pp = roundUp(P);
  const GH = G * Hp;
  const DGH = D * GH;
  const DP = D * P;
  const hBytes = <usize>N * Pp << 2;
  const cBytes = <usize>N * Hp << 2;
  const qBytes = <usize>N * GH << 2;
  const packedHhBytes = <usize>GH * P << 2;
  const packedHrBytes = <usize>Pp * H << 2;

  if (rowFrom == 0 && thread == 0) {
    for (let d = 0; d < D; d++) {
      const first = h + <usize>(2 * d) * hBytes;
      memory.fill(first, 0, hBytes);
      if (h0 != 0) copyRows(first, Pp, h0 + <usize>d * N * P * 4, P, N, P);
      memory.copy(first + hBytes, first, hBytes);
      if (cell == LSTM) {
        memory.fill(c + <usize>d * cBytes, 0, cBytes);
        if (c0 != 0) copyRows(c + <usize>d * cBytes, Hp, c0 + <usize>d * N * H * 4, H, N, H);
      }
    }
  }
  if (rowFrom < rowTo) {
    const projPanels = DGH / NR;
    gemm(
      rowTo - rowFrom, DGH, I, x + (<usize>rowFrom * I << 2), I, packedW_ih, bias, 0, proj + (<usize>rowFrom * DGH << 2), DGH,
      share(projPanels, thread, threads), share(projPanels, thread + 1, threads), pack,
    );
    if (!barrier(sync, threads, canWait)) return FAULT;
  }

  // This thread's blocks of hidden units [j0, j1), their gate panels, and its units [u0, u1).
  const blocks = Hp / NR;
  const j0 = share(blocks, thread, threads), j1 = share(blocks, thread + 1, threads);
  const u0 = j0 * NR, u1 = min(j1 * NR, H);
  // Its output panels of the projection, and their columns [v0, v1).
  const k0 = share(Pp / NR, thread, threads), k1 = share(Pp / NR, thread + 1, threads);
  const v0 = k0 * NR, v1 = min(k1 * NR, P);
  for (let step = stepFrom; step < stepTo; step++) {
    for (let d = 0; d < D; d++) {
      const t = d == 0 ? step : L - 1 - step;
      const active = activeAt(lengths, N, t);
      const h_prev = h + <usize>(2 * d + (step & 1)) * hBytes;
      const h_next = h + <usize>(2 * d + 1 - (step & 1)) * hBytes;
      const q_d = q + <usize>d * qBytes;
      gemm(active, GH, P, h_prev, Pp, packedW_hh + <usize>d * packedHhBytes, hiddenBias + (<usize>d * GH << 2), 0, q_d, GH, j0 * G, j1 * G, pack);
      const proj_t = proj + ((<usize>t * N * DGH + <usize>d * GH) << 2);
      const cell_d = projected ? hCell + <usize>d * cBytes : h_next;
      updateCells(cell, active, G, j0, j1, proj_t, DGH, q_d, GH, h_prev, c + <usize>d * cBytes, cell_d, Hp);
      if (!projected) {
        copyRows(out + ((<usize>t * N * DP + <usize>d * P + u0) << 2), DP, h_next + (<usize>u0 << 2), Pp, active, u1 - u0);
      }
    }
    if (projected) {
      if (!barrier(sync, threads, canWait)) return FAULT;
      for (let d = 0; d < D; d++) {
        const t = d == 0 ? step : L - 1 - step;
        const active = activeAt(lengths, N, t);
        const h_next = h + <usize>(2 * d + 1 - (step & 1)) * hBytes;
        gemm(active, P, H, hCell + <usize>d * cBytes, Hp, packedW_hr + <usize>d * packedHrBytes, zeros, 0, h_next, Pp, k0, k1, pack);
        copyRows(out + ((<usize>t * N * DP + <usize>d * P + v0) << 2), DP, h_next + (<usize>v0 << 2), Pp, active, v1 - v0);
      }
    }
    if (!barrier(sync, threads, canWait)) return FAULT;
  }

  // h_n: the state after each row's last step, t = len_b − 1 forward and t = 0 reverse. c_n: a row's
  // cell state stops changing once its last step has run, so it is the final c.
  if (stepTo == L && thread == 0) {
    for (let d = 0; d < D; d++) {
      for (let b = 0; b < N; b++) {
        const t = d == 0 ? (lengths == 0 ? L : load<i32>(lengths + (<usize>b << 2))) - 1 : 0;
        const from = out + (((<usize>t * N + b) * DP + <usize>d * P) << 2);
        memory.copy(hN + ((<usize>d * N + b) * P << 2), from, <usize>P << 2);
      }
      if (cell == LSTM) copyRows(cN + (<usize>d * N * H << 2), H, c + <usize>d * cBytes, Hp, N, H);
    }
  }
  return OK;
}

/** Where the host may start allocating: the end of this module's static data. */
export function heapBase(): usize {
  return __heap_base;
}

// Backpropagation through time (assembly/backward.ts).
export { tapeLayer, backLayer, gemmAtB, columnSums, gemmRows } from './backward';
