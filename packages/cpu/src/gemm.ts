import { PIECE_FLOPS, countWork, pieceEnds, rowsPerPiece, type Pieces } from './pace.js';

/**
 * The one matrix kernel of the CPU engine, for rows reached through offset tables:
 *
 *     C[cRow[i] + n] = base[baseRow[i] + n] + Σ_k A[aRow[i] + k] · B[n·K + k]   for first ≤ i < rows, n < cols
 *
 * B is row-major (cols, K), i.e. a PyTorch weight, so both operands are read along K; base is a bias
 * (every baseRow 0) or any matrix to add. Blocked 4 rows × 4 columns: each loaded value feeds four
 * multiply-adds, and sums stay in registers (float64).
 */
export function gemmRowsBt(
  rows: number,
  cols: number,
  K: number,
  A: Float32Array,
  aRow: Int32Array,
  B: Float32Array,
  base: Float32Array,
  baseRow: Int32Array,
  C: Float32Array,
  cRow: Int32Array,
  first = 0,
): void {
  let i = first;
  for (; i + 4 <= rows; i += 4) {
    const a0 = aRow[i]!, a1 = aRow[i + 1]!, a2 = aRow[i + 2]!, a3 = aRow[i + 3]!;
    let n = 0;
    for (; n + 4 <= cols; n += 4) {
      const b0 = n * K, b1 = b0 + K, b2 = b1 + K, b3 = b2 + K;
      let s00 = 0, s01 = 0, s02 = 0, s03 = 0;
      let s10 = 0, s11 = 0, s12 = 0, s13 = 0;
      let s20 = 0, s21 = 0, s22 = 0, s23 = 0;
      let s30 = 0, s31 = 0, s32 = 0, s33 = 0;
      for (let k = 0; k < K; k++) {
        const w0 = B[b0 + k]!, w1 = B[b1 + k]!, w2 = B[b2 + k]!, w3 = B[b3 + k]!;
        const x0 = A[a0 + k]!, x1 = A[a1 + k]!, x2 = A[a2 + k]!, x3 = A[a3 + k]!;
        s00 += x0 * w0; s01 += x0 * w1; s02 += x0 * w2; s03 += x0 * w3;
        s10 += x1 * w0; s11 += x1 * w1; s12 += x1 * w2; s13 += x1 * w3;
        s20 += x2 * w0; s21 += x2 * w1; s22 += x2 * w2; s23 += x2 * w3;
        s30 += x3 * w0; s31 += x3 * w1; s32 += x3 * w2; s33 += x3 * w3;
      }
      store4(C, cRow[i]! + n, base, baseRow[i]! + n, s00, s01, s02, s03);
      store4(C, cRow[i + 1]! + n, base, baseRow[i + 1]! + n, s10, s11, s12, s13);
      store4(C, cRow[i + 2]! + n, base, baseRow[i + 2]! + n, s20, s21, s22, s23);
      store4(C, cRow[i + 3]! + n, base, baseRow[i + 3]! + n, s30, s31, s32, s33);
    }
    for (; n < cols; n++) {
      for (let r = i; r < i + 4; r++) singleDot(r, n, K, A, aRow, B, base, baseRow, C, cRow);
    }
  }
  for (; i < rows; i++) {
    const a0 = aRow[i]!;
    let n = 0;
    for (; n + 4 <= cols; n += 4) {
      const b0 = n * K, b1 = b0 + K, b2 = b1 + K, b3 = b2 + K;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let k = 0; k < K; k++) {
        const x = A[a0 + k]!;
        s0 += x * B[b0 + k]!; s1 += x * B[b1 + k]!; s2 += x * B[b2 + k]!; s3 += x * B[b3 + k]!;
      }
      store4(C, cRow[i]! + n, base, baseRow[i]! + n, s0, s1, s2, s3);
    }
    for (; n < cols; n++) singleDot(i, n, K, A, aRow, B, base, baseRow, C, cRow);
  }
}

function store4(C: Float32Array, c: number, base: Float32Array, b: number, s0: number, s1: number, s2: number, s3: number): void {
  C[c] = base[b]! + s0;
  C[c + 1] = base[b + 1]! + s1;
  C[c + 2] = base[b + 2]! + s2;
  C[c + 3] = base[b + 3]! + s3;
}

function singleDot(
  i: number, n: number, K: number, A: Float32Array, aRow: Int32Array, B: Float32Array,
  base: Float32Array, baseRow: Int32Array, C: Float32Array, cRow: Int32Array,
): void {
  const a = aRow[i]!, b = n * K;
  let s = 0;
  for (let k = 0; k < K; k++) s += A[a + k]! * B[b + k]!;
  C[cRow[i]! + n] = base[baseRow[i]! + n]! + s;
}

/** Offsets 0, stride, 2·stride, … : the offset table of a plain row-major matrix. */
export function strided(count: number, stride: number): Int32Array {
  const offsets = new Int32Array(count);
  for (let i = 0; i < count; i++) offsets[i] = i * stride;
  return offsets;
}

/**
 * Mᵀ of a row-major (rows, cols) matrix, in pieces: a backward transposes its weights, and at H = 1024 one
 * W_ih takes about 100 ms in one go. A strided store costs about what a few multiply-adds do, so each value
 * counts as 4 FLOP toward a piece.
 */
export function* transposed(M: Float32Array, rows: number, cols: number): Pieces<Float32Array> {
  const T = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) T[c * rows + r] = M[r * cols + c]!;
    countWork(4 * cols);
    if (pieceEnds()) yield;
  }
  return T;
}

/**
 * One piece of gemmRowsBt: rows first ≤ i < min(rows, first + rowsPerPiece), its work counted for
 * pieceEnds. Returns the next piece's first row. Rows are computed independently, so any split gives the
 * same bits. Time loops call it in a plain loop (no generator per step):
 *
 *     for (let first = 0; first < rows; ) {
 *       first = gemmPiece(rows, …, first);
 *       if (pieceEnds()) yield;
 *     }
 */
export function gemmPiece(
  rows: number, cols: number, K: number, A: Float32Array, aRow: Int32Array, B: Float32Array,
  base: Float32Array, baseRow: Int32Array, C: Float32Array, cRow: Int32Array, first: number,
): number {
  const last = Math.min(rows, first + rowsPerPiece(cols, K));
  gemmRowsBt(last, cols, K, A, aRow, B, base, baseRow, C, cRow, first);
  countWork(2 * (last - first) * cols * K);
  return last;
}

/** gemmRowsBt as pieces (gemmPiece), for the big GEMMs outside the time loops. */
export function* gemmPieces(
  rows: number, cols: number, K: number, A: Float32Array, aRow: Int32Array, B: Float32Array,
  base: Float32Array, baseRow: Int32Array, C: Float32Array, cRow: Int32Array,
): Pieces {
  for (let first = 0; first < rows; ) {
    first = gemmPiece(rows, cols, K, A, aRow, B, base, baseRow, C, cRow, first);
    if (pieceEnds()) yield;
  }
}

/**
 * A sum of outer products over R rows, the shape of every weight gradient (dW = Σ_t dgatesᵀ·x_t):
 *
 *     C[m·cols + n] = Σ_r A[aRow[r] + m] · B[bRow[r] + n]     for m < M, n < cols
 *
 * Both operands are gathered transposed first, so that gemmRowsBt runs its sums along contiguous rows of
 * length R (all steps of all batch elements at once) instead of one outer product per step.
 */
export function* gemmAtB(R: number, M: number, cols: number, A: Float32Array, aRow: Int32Array, B: Float32Array, bRow: Int32Array, C: Float32Array): Pieces {
  const At = new Float32Array(M * R);
  const Bt = new Float32Array(cols * R);
  // The gather moves memory only: a piece is as many rows as a GEMM piece has multiply-adds.
  const gatherPerPiece = Math.max(1, Math.floor(PIECE_FLOPS / 2 / (M + cols)));
  for (let r = 0; r < R; r++) {
    const a = aRow[r]!, b = bRow[r]!;
    for (let m = 0; m < M; m++) At[m * R + r] = A[a + m]!;
    for (let n = 0; n < cols; n++) Bt[n * R + r] = B[b + n]!;
    if ((r + 1) % gatherPerPiece === 0) yield;
  }
  yield* gemmPieces(M, cols, R, At, strided(M, R), Bt, new Float32Array(cols), new Int32Array(M), C, strided(M, cols));
}

/** Σ_r A[aRow[r] + m] for m < M (a bias gradient: the gate gradients summed over every step), summed in float64. */
export function* sumRows(R: number, M: number, A: Float32Array, aRow: Int32Array): Pieces<Float32Array> {
  const sum = new Float64Array(M);
  const rowsPerPiece = Math.max(1, Math.floor(PIECE_FLOPS / M));
  for (let r = 0; r < R; r++) {
    const a = aRow[r]!;
    for (let m = 0; m < M; m++) sum[m] = sum[m]! + A[a + m]!;
    if ((r + 1) % rowsPerPiece === 0) yield;
  }
  return Float32Array.from(sum);
}
