// The kernels of @recurrent/wasm. Every buffer lives in linear memory that the TypeScript host owns and
// allocates; these functions only get byte offsets. The host calls `runLayer` once per layer (on every
// thread of a job): the whole time loop runs here, with no call back into JavaScript.
//
//     h_t = act(x_t · W_ihᵀ + b_ih + h_{t-1} · W_hhᵀ + b_hh)
//
// Weights are packed once per model into panels of NR = 8 output columns: panel p holds K rows of 8
// floats, panel[k][c] = W[8p + c][k] (zero past the last column). A GEMM micro-kernel then reads one
// panel row as two v128 and multiplies it by a broadcast value of each of four rows of A (or one).

// @ts-ignore: decorator
@inline const NR: i32 = 8;

/** a · b + c: one fused instruction where relaxed SIMD is enabled at build time, else mul then add. */
// @ts-ignore: decorator
@inline function madd(a: v128, b: v128, c: v128): v128 {
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

/**
 * C[i, n] = base[i, n] + Σ_k A[i, k] · W[n, k] for rows [0, rows) and the columns of panels [p0, p1).
 * Strides are in floats; baseStride 0 broadcasts one row (a bias). Rows are taken in blocks of 48 so
 * that a block of A stays in cache while every panel passes over it.
 */
function gemm(
  rows: i32, cols: i32, K: i32,
  A: usize, lda: i32,
  packed: usize,
  base: usize, baseStride: i32,
  C: usize, ldc: i32,
  p0: i32, p1: i32,
): void {
  const aStride = <usize>lda << 2;
  const bStride = <usize>baseStride << 2;
  const cStride = <usize>ldc << 2;
  const panelBytes = <usize>K * NR << 2;
  for (let r0 = 0; r0 < rows; r0 += 48) {
    const r1 = min(rows, r0 + 48);
    for (let p = p0; p < p1; p++) {
      const panel = packed + <usize>p * panelBytes;
      const n = p * NR;
      const width = min(NR, cols - n);
      const colBytes = <usize>n << 2;
      let i = r0;
      for (; i + 4 <= r1; i += 4) {
        const a = A + <usize>i * aStride;
        kernel4x8(a, aStride, panel, K, base + <usize>i * bStride + colBytes, bStride, C + <usize>i * cStride + colBytes, cStride, width);
      }
      for (; i < r1; i++) {
        kernel1x8(A + <usize>i * aStride, panel, K, base + <usize>i * bStride + colBytes, C + <usize>i * cStride + colBytes, width);
      }
    }
  }
}

/** Four rows of A times one panel: 8 accumulators, each panel row loaded once for four rows. */
// @ts-ignore: decorator
@inline function kernel4x8(a0: usize, aStride: usize, panel: usize, K: i32, base: usize, bStride: usize, c: usize, cStride: usize, width: i32): void {
  const a1 = a0 + aStride, a2 = a1 + aStride, a3 = a2 + aStride;
  let s00 = f32x4.splat(0), s01 = f32x4.splat(0);
  let s10 = f32x4.splat(0), s11 = f32x4.splat(0);
  let s20 = f32x4.splat(0), s21 = f32x4.splat(0);
  let s30 = f32x4.splat(0), s31 = f32x4.splat(0);
  let w = panel;
  const end = <usize>K << 2;
  for (let k: usize = 0; k < end; k += 4) {
    const w0 = v128.load(w), w1 = v128.load(w, 16);
    w += NR << 2;
    let x = v128.load32_splat(a0 + k);
    s00 = madd(x, w0, s00); s01 = madd(x, w1, s01);
    x = v128.load32_splat(a1 + k);
    s10 = madd(x, w0, s10); s11 = madd(x, w1, s11);
    x = v128.load32_splat(a2 + k);
    s20 = madd(x, w0, s20); s21 = madd(x, w1, s21);
    x = v128.load32_splat(a3 + k);
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

// tanh(x) ≈ x · P(x²) / Q(x²) on [-7.905, 7.905] (Eigen's rational approximation: within 4e-7 of the
// exact value), and exactly ±1 beyond, where float32 tanh is within 3e-7 of ±1 anyway.
// @ts-ignore: decorator
@inline function tanh4(v: v128): v128 {
  const clamp = f32x4.splat(7.90531110763549805);
  const x = f32x4.min(f32x4.max(v, f32x4.neg(clamp)), clamp);
  const x2 = f32x4.mul(x, x);
  let p = f32x4.splat(-2.76076847742355e-16);
  p = madd(p, x2, f32x4.splat(2.00018790482477e-13));
  p = madd(p, x2, f32x4.splat(-8.60467152213735e-11));
  p = madd(p, x2, f32x4.splat(5.12229709037114e-8));
  p = madd(p, x2, f32x4.splat(1.48572235717979e-5));
  p = madd(p, x2, f32x4.splat(6.37261928875436e-4));
  p = madd(p, x2, f32x4.splat(4.89352455891786e-3));
  p = f32x4.mul(p, x);
  let q = f32x4.splat(1.19825839466702e-6);
  q = madd(q, x2, f32x4.splat(1.18534705686654e-4));
  q = madd(q, x2, f32x4.splat(2.268434632439e-3));
  q = madd(q, x2, f32x4.splat(4.89352518554385e-3));
  const saturated = f32x4.ge(f32x4.abs(v), clamp);
  const signedOne = v128.or(v128.and(v, f32x4.splat(-0.0)), f32x4.splat(1));
  return v128.bitselect(signedOne, f32x4.div(p, q), saturated);
}

export const TANH = 1;
export const RELU = 2;

/** Applies the nonlinearity in place to `count` floats at `ptr`. */
function activate(ptr: usize, count: i32, act: i32): void {
  const end = ptr + (<usize>count << 2);
  let p = ptr;
  if (act == TANH) {
    for (; p + 16 <= end; p += 16) v128.store(p, tanh4(v128.load(p)));
    for (; p < end; p += 4) store<f32>(p, f32x4.extract_lane(tanh4(f32x4.splat(load<f32>(p))), 0));
  } else {
    const zero = f32x4.splat(0);
    for (; p + 16 <= end; p += 16) v128.store(p, f32x4.max(v128.load(p), zero));
    for (; p < end; p += 4) store<f32>(p, max(load<f32>(p), 0));
  }
}

/** How many rows run at step t: lengths are sorted in descending order, so they are a prefix. */
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

/**
 * Waits until all `threads` threads reach this point. `sync` holds two shared words: arrivals and a
 * generation count. The last to arrive resets arrivals and advances the generation; the others spin on
 * the generation, then sleep in short waits where the thread may block (not a browser's main thread).
 */
function barrier(sync: usize, threads: i32, canWait: bool): void {
  if (threads == 1) return;
  if (ASC_FEATURE_THREADS) {
    const generation = atomic.load<i32>(sync, 4);
    if (atomic.add<i32>(sync, 1) == threads - 1) {
      atomic.store<i32>(sync, 0);
      atomic.add<i32>(sync, 1, 4);
      atomic.notify(sync + 4);
    } else {
      let spins = 0;
      while (atomic.load<i32>(sync, 4) == generation) {
        if (canWait && ++spins > 20000) memory.atomic.wait32(sync + 4, generation, 1_000_000);
      }
    }
  }
}

/**
 * One layer, both directions advancing in the same loop:
 *
 *     proj = x · W_ihᵀ + (b_ih + b_hh)      all L·N rows at once: it does not depend on h
 *     h_t  = act(proj_t + h_{t-1} · W_hhᵀ)  forward over t = 0…len_b−1, reverse over t = len_b−1…0
 *
 * Batch rows are sorted by descending length, so the rows running at any step are a prefix. Each
 * direction keeps two state buffers (previous, next) of (N, H); a row not yet running holds h0 in both,
 * so the reverse direction starts from h0 at each row's own last step. `out` is (L, N, D·H) and must be
 * zero where rows do not run; hN gets (D, N, H).
 *
 * Every thread of a job calls this with the same arguments and its own `thread` index: each computes
 * its share of the output columns (whole 8-column panels), with a barrier after the projection and after
 * every step, since each step reads all of h_{t-1}. With one thread there is no barrier at all.
 */
export function runLayer(
  thread: i32, threads: i32, canWait: bool, sync: usize,
  L: i32, N: i32, H: i32, D: i32, I: i32, act: i32,
  x: usize, packedW_ih: usize, bias: usize, proj: usize, out: usize, packedW_hh: usize,
  states: usize, h0: usize, lengths: usize, hN: usize,
): void {
  const DH = D * H;
  const rowBytes = <usize>H << 2;
  const outRowBytes = <usize>DH << 2;
  const stateBytes = <usize>N * rowBytes;
  const panels = (H + NR - 1) / NR;
  const packedBytes = <usize>panels * NR * <usize>H << 2;

  if (thread == 0) {
    for (let d = 0; d < D; d++) {
      const first = states + <usize>(2 * d) * stateBytes;
      if (h0 != 0) memory.copy(first, h0 + <usize>d * stateBytes, stateBytes);
      else memory.fill(first, 0, stateBytes);
      memory.copy(first + stateBytes, first, stateBytes);
    }
  }
  const projPanels = (DH + NR - 1) / NR;
  gemm(L * N, DH, I, x, I, packedW_ih, bias, 0, proj, DH, share(projPanels, thread, threads), share(projPanels, thread + 1, threads));
  barrier(sync, threads, canWait);

  // This thread's columns of h: panels [p0, p1), floats [c0, c1).
  const p0 = share(panels, thread, threads), p1 = share(panels, thread + 1, threads);
  const c0 = p0 * NR, c1 = min(p1 * NR, H);
  const columnBytes = <usize>c0 << 2;
  const segmentBytes = <usize>max(c1 - c0, 0) << 2;
  for (let step = 0; step < L; step++) {
    for (let d = 0; d < D; d++) {
      const t = d == 0 ? step : L - 1 - step;
      const active = activeAt(lengths, N, t);
      const h_prev = states + <usize>(2 * d + (step & 1)) * stateBytes;
      const h_next = states + <usize>(2 * d + 1 - (step & 1)) * stateBytes;
      const rowOffset = (<usize>t * <usize>N * <usize>DH + <usize>d * <usize>H) << 2;
      gemm(active, H, H, h_prev, H, packedW_hh + <usize>d * packedBytes, proj + rowOffset, DH, h_next, H, p0, p1);
      if (segmentBytes == 0) continue;
      for (let i = 0; i < active; i++) {
        const h = h_next + <usize>i * rowBytes + columnBytes;
        activate(h, c1 - c0, act);
        memory.copy(out + rowOffset + <usize>i * outRowBytes + columnBytes, h, segmentBytes);
      }
    }
    barrier(sync, threads, canWait);
  }

  // h_n: the state after each row's last step, t = len_b − 1 forward and t = 0 reverse.
  if (thread == 0) {
    for (let d = 0; d < D; d++) {
      for (let b = 0; b < N; b++) {
        const t = d == 0 ? (lengths == 0 ? L : load<i32>(lengths + (<usize>b << 2))) - 1 : 0;
        const from = out + (<usize>t * <usize>N + <usize>b) * outRowBytes + (<usize>d * rowBytes);
        memory.copy(hN + (<usize>d * <usize>N + <usize>b) * rowBytes, from, rowBytes);
      }
    }
  }
}

/** Where the host may start allocating: the end of this module's static data. */
export function heapBase(): usize {
  return __heap_base;
}
