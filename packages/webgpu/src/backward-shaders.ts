/**
 * The WGSL kernels of backward (BPTT), mirroring the CPU engine's structure (packages/cpu/src/model.ts):
 *
 * - `tapeShader`: the forward time loop once more, one dispatch per step (both directions in it), that
 *   also writes the layer's *tape*: what differentiating each step needs (the cell's saved activations
 *   and h_{t-1}, and a projected LSTM's unprojected h).
 * - `stepBackwardShader`: one step backwards, two dispatches per step (both directions in each):
 *   `cell` turns ∂L/∂h_t (and ∂L/∂c_t) into the gate gradients and ∂L/∂c_{t-1}; `hidden` gives
 *   ∂L/∂h_{t-1} = dgates·W_hh (+ the GRU's direct z⊙dh_t), which needs every gate of the step.
 * - `gemmVariantShader`: the tiled GEMM of the projection with either operand transposed, strided and
 *   batched over directions, and rows past each element's length left out: the weight gradients
 *   (Aᵀ·B over every step at once) and the input gradients (A·B).
 * - `columnSumShader`: the bias gradients, the gate gradients summed over every running step.
 *
 * The GEMMs and column sums also run in pieces, for a backward that can be cancelled (backward.ts):
 * a dispatch covers the row tiles from `tile0` on and the rows k0 … k1−1 of K; a piece that does not
 * start at k = 0 continues from the partial sums the piece before left in C, in the same order of
 * operations, so the pieces give the one dispatch's result bit for bit.
 *
 * Per-row layouts: rows r = t·N + b of the time-major layout, directions side by side within a row.
 */
import {
  GEMM_TILES, activationsOf, constants, declarations, gemmTileCode, perStepEntry, stepForwardBindings, stepForwardCode, stepProjectCode,
  type Binding, type CellShape, type Kernel, type StepStates,
} from './shaders.js';

/** A backward kernel: a Kernel binding its buffers by the backward's names, and the bytes of its uniform struct. */
export interface TrainingKernel extends Kernel<string> {
  uniformBytes: number;
}

/** S: blocks of H values the tape keeps per (step, element, direction) for the cell's backward. */
export function savedBlocks(shape: CellShape): number {
  return shape.mode === 'lstm' ? 6 : shape.mode === 'gru' ? 4 : 1;
}

/**
 * Floats of the tape per (step, element, direction): the cell's saved blocks (S·H), then h_{t-1} (HO),
 * then, projected LSTM only, the unprojected h (H).
 */
export function tapeWidth(shape: CellShape): number {
  return savedBlocks(shape) * shape.hiddenSize + shape.outputSize + (shape.projSize > 0 ? shape.hiddenSize : 0);
}

/** The per-step uniform: the step, L, N, floats in one half of the state buffer, which half is read. */
const STEP_STRUCT = 'struct Step { step: u32, L: u32, N: u32, half: u32, parity: u32, pad0: u32, pad1: u32, pad2: u32 }';
export const STEP_UNIFORM_BYTES = 32;

/** A backward kernel: its uniform struct `name` (`struct`, `bytes` long) as `dims`, its bindings, then `code`. */
function trainingKernel(uniform: { name: string; struct: string; bytes: number }, bindings: Binding<string>[], code: string): TrainingKernel {
  return {
    bindings,
    uniformBytes: uniform.bytes,
    code: /* wgsl */ `
${uniform.struct}
${declarations(uniform.name, bindings)}
${code}`,
  };
}

/** A kernel on the per-step uniform (STEP_STRUCT) with the sizes and the tape's constants: the tape's, the step backward's. */
function stepKernel(shape: CellShape, bindings: Binding<string>[], code: string): TrainingKernel {
  return trainingKernel({ name: 'Step', struct: STEP_STRUCT, bytes: STEP_UNIFORM_BYTES }, bindings, /* wgsl */ `
${constants(shape)}
const S = ${savedBlocks(shape)}u;   // saved blocks of H per row of the tape
const TW = ${tapeWidth(shape)}u;  // tape floats per (step, element, direction)
${code}`);
}

/**
 * The forward of one layer, one step per dispatch, writing the tape. `state` holds two halves of
 * h (D, N, HO) then an LSTM's c (D, N, H): the step reads half `parity` and writes the other. The tape
 * (L, N, D, TW): saved blocks (RNN h_t; LSTM i, f, g, o, c_{t-1}, tanh(c_t); GRU r, z, n,
 * h·W_hnᵀ + b_hn), then h_{t-1}, then (projected) u = o ⊙ tanh(c_t), which `project` turns into h_t.
 */
export function tapeShader(shape: CellShape): TrainingKernel {
  const { mode, projSize: P } = shape;
  const bindings = stepForwardBindings<string>(
    shape,
    [{ name: 'state', type: 'f32', writable: true, doc: 'two halves of h (D, N, HO), c (D, N, H)' }],
    [{ name: 'tape', type: 'f32', writable: true, doc: '(L, N, D, TW)' }],
  );
  const saved =
    mode === 'rnn'
      ? ['h']
      : mode === 'lstm'
        ? ['i', 'f', 'g', 'o', 'c_prev', 'tanhF(c)']
        : ['r', 'z', 'n', '(a2 + b_hn[d * H + j])'];
  // The step reads half `parity` of `state` and writes the other.
  const states: StepStates = {
    prelude: 'let rd = dims.parity * dims.half;\n  let wr = (1u - dims.parity) * dims.half;',
    prev: { array: 'state', offset: 'rd' },
    next: { array: 'state', offset: 'wr' },
    cOffset: 'D * N * HO',
  };
  const save = `let tp = ((t * N + b) * D + d) * TW;
  ${saved.map((v, q) => `tape[tp + ${q}u * H + j] = ${v};`).join('\n  ')}
  if (j < HO) { tape[tp + S * H + j] = state[rd + hs + j]; }`;
  return stepKernel(shape, bindings, /* wgsl */ `${activationsOf('f32')}
${stepForwardCode(shape, states, { save, unprojected: 'tape[tp + S * H + HO + j]' })}
${P > 0 ? stepProjectCode(states, { array: 'tape', offset: '((t * N + b) * D + d) * TW + S * H + HO' }) : ''}`);
}

/**
 * The cell's backward on unit j, from dh_t (the cell's own h) and, for the LSTM, dc (∂L/∂c_t, updated
 * to ∂L/∂c_{t-1} in place). Writes dgx (and the GRU's dgh) at gate row `gr`. The CPU engine's
 * cells.ts, in its order of operations; σ′, tanh′ and relu′ from the outputs, as autograd does.
 */
function cellBackwardCode(shape: CellShape): string {
  switch (shape.mode) {
    case 'rnn':
      return shape.nonlinearity === 'tanh'
        ? 'let y = tape[tp + j];\n  dgx[gr + j] = dh_t * (1.0 - y * y);'
        : // threshold_backward: 0 where y ≤ 0, so NaN passes its gradient on.
          'let y = tape[tp + j];\n  dgx[gr + j] = dh_t * select(1.0, 0.0, y <= 0.0);';
    case 'lstm':
      return `let i = tape[tp + j];
  let f = tape[tp + H + j];
  let g = tape[tp + 2u * H + j];
  let o = tape[tp + 3u * H + j];
  let c_prev = tape[tp + 4u * H + j];
  let tanh_c = tape[tp + 5u * H + j];
  let dc_t = dstate[cs + j] + dh_t * o * (1.0 - tanh_c * tanh_c);
  dgx[gr + j] = dc_t * g * ((1.0 - i) * i);
  dgx[gr + H + j] = dc_t * c_prev * ((1.0 - f) * f);
  dgx[gr + 2u * H + j] = dc_t * i * (1.0 - g * g);
  dgx[gr + 3u * H + j] = dh_t * tanh_c * ((1.0 - o) * o);
  dstate[cs + j] = dc_t * f;`;
    case 'gru':
      return `let r = tape[tp + j];
  let z = tape[tp + H + j];
  let n = tape[tp + 2u * H + j];
  let hn = tape[tp + 3u * H + j];
  let h_prev = tape[tp + S * H + j];
  let dn_pre = dh_t * (1.0 - z) * (1.0 - n * n);
  let dr_pre = dn_pre * hn * ((1.0 - r) * r);
  let dz_pre = dh_t * (h_prev - n) * ((1.0 - z) * z);
  dgx[gr + j] = dr_pre;
  dgx[gr + H + j] = dz_pre;
  dgx[gr + 2u * H + j] = dn_pre;
  dgh[gr + j] = dr_pre;
  dgh[gr + H + j] = dz_pre;
  dgh[gr + 2u * H + j] = dn_pre * r;`;
  }
}

/**
 * One step backwards of one layer, both directions in each dispatch (global id z = direction); the
 * forward direction at t = step, the reverse one at t = L−1−step, step running L−1…0. `dstate` holds
 * two halves of dh (D, N, HO), ∂L/∂h of the step's outputs, read from half `parity`, and then dc
 * (D, N, H) at 2·half. An element whose length does not reach t keeps its dh and dc, so each
 * direction starts from ∂L/∂h_n (∂L/∂c_n) at its own last step and ends holding ∂L/∂h0 (∂L/∂c0).
 *
 * `cell` (one invocation per hidden unit j): dh_t = dh + ∂L/∂output_t (projected: dh_cell = dh_t·W_hr,
 * and dh_t kept for dW_hr), then the cell's pointwise backward. `hidden` (one per unit k of h_{t-1}):
 * dh_{t-1} = dgh_t·W_hh (+ z⊙dh_t for the GRU) into the other half.
 */
export function stepBackwardShader(shape: CellShape): { cell: TrainingKernel; hidden: TrainingKernel } {
  const { mode, gates: G, projSize: P } = shape;
  const gru = mode === 'gru';
  // What both kernels bind first.
  const step: Binding<string>[] = [
    { name: 'tape', type: 'f32', writable: false, doc: '(L, N, D, TW)' },
    { name: 'lengths', type: 'u32', writable: false, doc: '(N)' },
    { name: 'dstate', type: 'f32', writable: true, doc: 'two halves of dh (D, N, HO), then dc (D, N, H)' },
    { name: 'grad_out', type: 'f32', writable: false, doc: '(L, N, D·HO): ∂L/∂output' },
  ];
  const cellBindings: Binding<string>[] = [
    ...step,
    { name: 'dgx', type: 'f32', writable: true, doc: '(L, N, D·G·H): ∂L/∂(x·W_ihᵀ + b_ih)' },
  ];
  if (gru) cellBindings.push({ name: 'dgh', type: 'f32', writable: true, doc: '(L, N, D·G·H): ∂L/∂(h·W_hhᵀ + b_hh)' });
  if (P > 0) {
    cellBindings.push(
      { name: 'W_hrT', type: 'f32', writable: false, doc: '(D, H, P)' },
      { name: 'dh_tape', type: 'f32', writable: true, doc: '(L, N, D·P): dh_t of every step, for dW_hr' },
    );
  }
  const dhCell = P > 0
    ? `var dh_t = 0.0;
  for (var p = 0u; p < P; p++) { dh_t = fma(dstate[hs + p] + grad_out[out + p], W_hrT[d * H * P + j * P + p], dh_t); }
  if (j < P) { dh_tape[(t * N + b) * D * P + d * P + j] = dstate[hs + j] + grad_out[out + j]; }`
    : 'let dh_t = dstate[hs + j] + grad_out[out + j];';
  // Where the step's dh (half `parity`), output gradient, tape and gate gradients are.
  const offsets = `let hs = dims.parity * dims.half + (d * N + b) * HO;
  let out = (t * N + b) * D * HO + d * HO;
  let tp = ((t * N + b) * D + d) * TW;
  let gr = ((t * N + b) * D + d) * G * H;`;
  const cell = stepKernel(shape, cellBindings, perStepEntry('main', 'j', 'H', `${offsets}
  if (t >= lengths[b]) { return; }
  let cs = 2u * dims.half + (d * N + b) * H;
  ${dhCell}
  ${cellBackwardCode(shape)}`));
  const hiddenBindings: Binding<string>[] = [
    ...step,
    { name: 'dgh', type: 'f32', writable: false, doc: '(L, N, D·G·H): the gate gradients W_hh sees' },
    { name: 'W_hhT', type: 'f32', writable: false, doc: '(D, HO, G·H)' },
  ];
  const hidden = stepKernel(shape, hiddenBindings, perStepEntry('main', 'k', 'HO', `${offsets}
  let next = (1u - dims.parity) * dims.half + (d * N + b) * HO + k;
  if (t >= lengths[b]) {
    dstate[next] = dstate[hs + k];
    return;
  }
  let w = d * HO * G * H + k * G * H;
  var s = vec4f(0.0);
  var r = 0u;
  for (; r + 4u <= G * H; r += 4u) {
    s = fma(vec4f(dgh[gr + r], dgh[gr + r + 1u], dgh[gr + r + 2u], dgh[gr + r + 3u]), vec4f(W_hhT[w + r], W_hhT[w + r + 1u], W_hhT[w + r + 2u], W_hhT[w + r + 3u]), s);
  }
  var sum = (s.x + s.y) + (s.z + s.w);
  for (; r < G * H; r++) { sum = fma(dgh[gr + r], W_hhT[w + r], sum); }
  ${gru ? '// The GRU\'s h_t = n + z⊙(h_{t-1} − n) also reads h_{t-1} directly.\n  sum += (dstate[hs + k] + grad_out[out + k]) * tape[tp + H + k];' : ''}
  dstate[next] = sum;`));
  return { cell, hidden };
}

/** The uniform of gemmVariantShader and columnSumShader: 16 u32s. */
export interface GemmDims {
  M: number;
  N: number;
  K: number;
  lda: number;
  ldb: number;
  ldc: number;
  aOff?: number;
  bOff?: number;
  cOff?: number;
  /** Offsets between the batches (workgroup z: the directions). */
  aZ?: number;
  bZ?: number;
  cZ?: number;
  /** N of the time-major rows, for the lengths mask (row r = t·batch + b runs when t < lengths[b]). */
  batch?: number;
  /** Rows along K past each element's length count as zero (weight gradients: Σ over running steps). */
  maskK?: boolean;
  /** Rows along M past each element's length are written as zero (input gradients). */
  maskM?: boolean;
  hasBias?: boolean;
  /** A piece of the GEMM: its first row tile (workgroup y counts from there; default 0)… */
  tile0?: number;
  /** …and its rows of K, k0 … k1−1 (default all; a GEMM's k0 and k1 are multiples of GEMM_DEPTH). */
  k0?: number;
  k1?: number;
}

export const GEMM_UNIFORM_BYTES = 80;

export function gemmUniform(g: GemmDims): Uint32Array<ArrayBuffer> {
  return Uint32Array.from([
    g.M, g.N, g.K, g.lda, g.ldb, g.ldc, g.aOff ?? 0, g.bOff ?? 0, g.cOff ?? 0, g.aZ ?? 0, g.bZ ?? 0, g.cZ ?? 0,
    g.batch ?? 1, g.maskK ? 1 : 0, g.maskM ? 1 : 0, g.hasBias ? 1 : 0, g.tile0 ?? 0, g.k0 ?? 0, g.k1 ?? g.K, 0,
  ]);
}

const GEMM_STRUCT = `struct Gemm {
  M: u32, N: u32, K: u32, lda: u32, ldb: u32, ldc: u32, aOff: u32, bOff: u32,
  cOff: u32, aZ: u32, bZ: u32, cZ: u32, batch: u32, maskK: u32, maskM: u32, hasBias: u32,
  tile0: u32, k0: u32, k1: u32, pad: u32,
}`;

/** A kernel on the Gemm uniform (gemmUniform), with runs(r): whether row r of the time-major layout runs. */
function gemmFamilyKernel(bindings: Binding<string>[], code: string): TrainingKernel {
  return trainingKernel({ name: 'Gemm', struct: GEMM_STRUCT, bytes: GEMM_UNIFORM_BYTES }, bindings, /* wgsl */ `
// Row r = t·batch + b of the time-major layout runs when t < lengths[b].
fn runs(r: u32) -> bool { return r / dims.batch < lengths[r % dims.batch]; }
${code}`);
}

/**
 * C[z] (M, N) = op(A[z]) · op(B[z]) (+ bias), z = workgroup z. With `transposeA`, A is stored (K, M)
 * (row k at k·lda), else (M, K); with `transposeB`, B is stored (N, K) like a PyTorch weight, else
 * (K, N). The projection GEMM's tiling (shaders.ts gemmShader): 64×64 tiles of C, 16×16 invocations
 * each computing 4×4, k-major tiles in workgroup memory. A piece (row tiles from tile0, rows k0 … k1−1
 * of K) after the first run of K starts from C; bias and the zeroed rows come with the last one.
 */
export function gemmVariantShader(transposeA: boolean, transposeB: boolean): TrainingKernel {
  const bindings: Binding<string>[] = [
    { name: 'A', type: 'f32', writable: false, doc: transposeA ? '(K, M), row stride lda' : '(M, K), row stride lda' },
    { name: 'B', type: 'f32', writable: false, doc: transposeB ? '(N, K), row stride ldb' : '(K, N), row stride ldb' },
    { name: 'bias', type: 'f32', writable: false, doc: '(N), added when hasBias' },
    { name: 'lengths', type: 'u32', writable: false, doc: '(batch)' },
    { name: 'C', type: 'f32', writable: true, doc: '(M, N), row stride ldc' },
  ];
  const a = transposeA ? 'k * dims.lda + m' : 'm * dims.lda + k';
  const b = transposeB ? 'n * dims.ldb + k' : 'k * dims.ldb + n';
  return gemmFamilyKernel(bindings, /* wgsl */ `
${GEMM_TILES}

fn loadA(m: u32, k: u32, z: u32) -> f32 {
  if (m >= dims.M || k >= dims.K) { return 0.0; }
  if (dims.maskK == 1u && !runs(k)) { return 0.0; }
  return A[dims.aOff + z * dims.aZ + ${a}];
}

fn loadB(k: u32, n: u32, z: u32) -> f32 {
  if (n >= dims.N || k >= dims.K) { return 0.0; }
  if (dims.maskK == 1u && !runs(k)) { return 0.0; }
  return B[dims.bOff + z * dims.bZ + ${b}];
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let z = wg.z;
  let row0 = (dims.tile0 + wg.y) * TILE;
  let col0 = wg.x * TILE;
  ${gemmTileCode({ k0: 'dims.k0', k1: 'dims.k1', start: (m, n0) => `partial(${m}, ${n0}, z)`, args: ', z' })}
}

// The sums so far: zero for the first run of K, else what the piece before stored.
fn partial(m: u32, n0: u32, z: u32) -> vec4f {
  var values = vec4f(0.0);
  if (dims.k0 == 0u || m >= dims.M) { return values; }
  for (var j = 0u; j < 4u; j++) {
    let n = n0 + 16u * j;
    if (n < dims.N) { values[j] = C[dims.cOff + z * dims.cZ + m * dims.ldc + n]; }
  }
  return values;
}

fn store(m: u32, n0: u32, z: u32, values: vec4f) {
  if (m >= dims.M) { return; }
  let last = dims.k1 == dims.K;
  let zero = last && dims.maskM == 1u && !runs(m);
  for (var j = 0u; j < 4u; j++) {
    let n = n0 + 16u * j;
    if (n < dims.N) {
      var v = values[j];
      if (last && dims.hasBias == 1u) { v += bias[n]; }
      if (zero) { v = 0.0; }
      C[dims.cOff + z * dims.cZ + m * dims.ldc + n] = v;
    }
  }
}
`);
}

/**
 * C[cOff + m] = Σ over running rows r < K of A[aOff + r·lda + m], for m < M: a bias gradient. A piece
 * (rows k0 … k1−1) after the first adds on to what C holds.
 */
export function columnSumShader(): TrainingKernel {
  const bindings: Binding<string>[] = [
    { name: 'A', type: 'f32', writable: false, doc: '(K, M), row stride lda' },
    { name: 'lengths', type: 'u32', writable: false, doc: '(batch)' },
    { name: 'C', type: 'f32', writable: true, doc: '(M) at cOff' },
  ];
  return gemmFamilyKernel(bindings, /* wgsl */ `
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) {
  let m = id.x;
  if (m >= dims.M) { return; }
  var sum = select(0.0, C[dims.cOff + m], dims.k0 > 0u);
  for (var r = dims.k0; r < dims.k1; r++) {
    if (dims.maskK == 0u || runs(r)) { sum += A[dims.aOff + r * dims.lda + m]; }
  }
  C[dims.cOff + m] = sum;
}
`);
}
