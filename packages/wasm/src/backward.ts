import type { BackwardPlan, DirectionWeights, EngineGradients, ModelPlan } from '@recurrent/core';
import { RnnError, runInSlices } from '@recurrent/core';
import { BLOCK_MS, callsOf, runPaced, type KernelName, type Phase } from './blocks.js';
import { ScratchSpace } from './heap.js';
import { THREADED_WORK, type Runtime } from './model.js';

// Backpropagation through time on the WASM engine (kernels in assembly/backward.ts). The host lays out
// the buffers, runs the layers' forward with runLayer (keeping every layer's input, projection and
// output) and tapeLayer, then, per layer from the top down: backLayer, the weight gradients (gemmAtB,
// columnSums) and the input gradient (gemmRows). Every time loop runs inside WebAssembly; nothing is
// allocated per step. Each kernel takes a range of steps or rows, so that with a signal it runs in
// blocks the call can stop between (blocks.ts runPaced), with the same bits.

/** Output columns per packed panel, and rows per GEMM row block: NR and ROW_BLOCK in assembly/index.ts. */
const NR = 8;
const ROW_BLOCK = 64;
/** gemmAtB's blocks (assembly/backward.ts): KC rows of the step axis, MC rows of C. */
const KC = 256;
const MC = 64;
const F32 = 4;

const roundUp = (n: number): number => Math.ceil(n / NR) * NR;

/**
 * The exports of assembly/backward.ts (offsets are bytes into linear memory). Each is a kernel of
 * blocks.ts: (thread, threads, canWait, sync, ...args, from, to) → OK, run on one thread.
 */
export interface BackwardKernels {
  tapeLayer(
    thread: number, threads: number, canWait: number, sync: number,
    cell: number, L: number, N: number, H: number, P: number, G: number, D: number,
    proj: number, q: number, qSteps: number, out: number, h0: number, c0: number, lengths: number,
    hPrev: number, cPrev: number, hCell: number, cRun: number,
    stepFrom: number, stepTo: number,
  ): number;
  backLayer(
    thread: number, threads: number, canWait: number, sync: number,
    cell: number, L: number, N: number, H: number, P: number, G: number, D: number,
    dOut: number, proj: number, q: number, packedW_hhT: number, packedW_hrT: number, zeros: number,
    hPrev: number, cPrev: number, dhTape: number, dh: number, dc: number, dhCell: number,
    gradHN: number, gradCN: number, dh0: number, dc0: number, lengths: number, pack: number,
    from: number, to: number,
  ): number;
  gemmAtB(
    thread: number, threads: number, canWait: number, sync: number,
    M: number, cols: number, K: number, A: number, lda: number, B: number, ldb: number, C: number, apack: number, bpack: number,
    from: number, to: number,
  ): number;
  columnSums(thread: number, threads: number, canWait: number, sync: number, width: number, A: number, lda: number, sums: number, from: number, to: number): number;
  gemmRows(
    thread: number, threads: number, canWait: number, sync: number,
    cols: number, K: number, A: number, lda: number, packed: number, zeros: number, C: number, ldc: number, pack: number,
    rowFrom: number, rowTo: number,
  ): number;
}

/** What the trainer reads of its model: sizes, the cell kernel, and the forward's packed weights (byte offsets). */
export interface TrainedModel {
  readonly cell: number;
  readonly G: number;
  readonly H: number;
  /** H_out */
  readonly P: number;
  readonly D: number;
  readonly lstm: boolean;
  readonly gru: boolean;
  readonly hasBias: boolean;
  readonly what: string;
  readonly layers: readonly {
    inputSize: number; packedW_ih: number; bias: number; packedW_hh: number; hiddenBias: number; packedW_hr: number;
  }[];
  readonly zeros: number;
}

/**
 * Column n of a direction's G·Hp gate columns (interleaved by blocks of 8 units: block j of gate g at
 * columns (j·G + g)·8 … +8) is this row of PyTorch's (G·H, ·) gate-stacked weight, or -1 for padding.
 */
export function gateRow(n: number, G: number, H: number): number {
  const block = Math.floor(n / (NR * G));
  const g = Math.floor(n / NR) % G;
  const unit = block * NR + (n % NR);
  return unit < H ? g * H + unit : -1;
}

/**
 * Writes rows [k0, k0 + count) of panels of 8 columns over K rows (panel[k][c] = column 8p + c of row k,
 * `cols` columns in all, a multiple of 8): row k0 + j is row rowOf(j) of `W`, a row-major (·, width)
 * matrix, zero past `width` and where rowOf gives -1. Row by row, so each row of W is read in order
 * (panel by panel, writing in order, measured slower: 5 against 3-4 ns per value at 4096 × 2048).
 */
function packRowsIntoPanels(W: Float32Array, width: number, rowOf: (j: number) => number, k0: number, count: number, K: number, cols: number, dst: Float32Array, at: number): void {
  for (let j = 0; j < count; j++) {
    const row = rowOf(j);
    const from = row * width;
    const to = at + (k0 + j) * NR;
    for (let n = 0; n < cols; n++) dst[to + (n >> 3) * K * NR + (n & 7)] = row >= 0 && n < width ? W[from + n]! : 0;
  }
}

/** Byte offsets of one layer's transposed weights. */
interface TransposedWeights {
  /** W_ih of both directions, transposed: panels over the I input columns, K = D·G·Hp. */
  packedW_ihT: number;
  /** Per direction, W_hh transposed: panels over Pp, K = G·Hp. */
  packedW_hhT: number;
  /** Per direction, W_hr transposed: panels over Hp, K = P (projected LSTM). */
  packedW_hrT: number;
}

/**
 * The backward of one WasmModel: its own block of transposed weights (packed at the first backward and
 * by loadWeights; the forward's panels multiply by Wᵀ, a backward multiplies by W) and one scratch
 * block for the activations and gradients, reused by every backward that fits in it.
 */
export class Trainer {
  private weightsBlock = -1;
  /** Whether the weights block holds the transposed weights (a stopped packing leaves it false). */
  private packed = false;
  private transposed: TransposedWeights[] = [];
  private zerosT = 0;
  private readonly scratch: ScratchSpace;
  /** Set by dispose(): a backward that yielded meanwhile must not touch the memory again. */
  private disposed = false;

  constructor(private readonly runtime: Runtime, private readonly model: TrainedModel) {
    this.scratch = new ScratchSpace(runtime.heap);
  }

  /** Bytes this trainer holds in linear memory: the transposed weights and the backward's buffers. */
  get bytes(): number {
    return (this.weightsBlock >= 0 ? this.weightsBytes() : 0) + this.scratch.bytes;
  }

  private weightsBytes(): number {
    const { G, H, P, D, layers } = this.model;
    const GH = G * roundUp(H);
    let floats = 0;
    for (const { inputSize } of layers) floats += roundUp(inputSize) * D * GH + D * roundUp(P) * GH + (P !== H ? D * roundUp(H) * P : 0);
    return (floats + this.zerosWidth()) * F32;
  }

  private zerosWidth(): number {
    const { H, P, layers } = this.model;
    return roundUp(Math.max(roundUp(H), roundUp(P), ...layers.map((layer) => roundUp(layer.inputSize))));
  }

  /** Packs the transposed weights of `plan` (allocating their block the first time; same sizes after). */
  pack(plan: ModelPlan): void {
    for (const _ of this.packing(plan));
  }

  /**
   * The packing, one matrix per step: a backward with a signal runs it in slices (core's runInSlices), so
   * that it can stop between matrices (the first backward of 2 layers of H = 1024 packs for a few hundred
   * milliseconds). A stopped packing leaves `packed` false: the next backward packs again.
   */
  private *packing(plan: ModelPlan): Generator<void, void, undefined> {
    this.packed = false;
    const { G, H, P, D, layers } = this.model;
    const Hp = roundUp(H), Pp = roundUp(P), GH = G * Hp;
    const { heap } = this.runtime;
    if (this.weightsBlock < 0) {
      this.weightsBlock = heap.alloc(this.weightsBytes(), `the transposed weights of ${this.model.what} for backward`);
    }
    const gates = (k: number): number => gateRow(k, G, H);
    let at = this.weightsBlock / F32;
    const transposed: TransposedWeights[] = [];
    for (const [index, { inputSize: I, directions }] of plan.layers.entries()) {
      if (layers[index]!.inputSize !== I) throw new RnnError('internal', 'loadWeights got a plan of other sizes');
      const offsets = { packedW_ihT: at * F32, packedW_hhT: 0, packedW_hrT: 0 };
      // One panel set over both directions' gate rows: direction d's are rows d·GH … (d + 1)·GH.
      // heap.floats is read again after every yield: a model created meanwhile may have grown the memory.
      for (const [d, { W_ih }] of directions.entries()) {
        packRowsIntoPanels(W_ih, I, gates, d * GH, GH, D * GH, roundUp(I), heap.floats, at);
        yield;
      }
      at += roundUp(I) * D * GH;
      offsets.packedW_hhT = at * F32;
      for (const { W_hh } of directions) {
        packRowsIntoPanels(W_hh, P, gates, 0, GH, GH, Pp, heap.floats, at);
        at += Pp * GH;
        yield;
      }
      offsets.packedW_hrT = at * F32;
      if (P !== H) {
        for (const { W_hr } of directions) {
          packRowsIntoPanels(W_hr!, H, (k) => k, 0, P, P, Hp, heap.floats, at);
          at += Hp * P;
        }
      }
      transposed.push(offsets);
    }
    this.transposed = transposed;
    // Every value of the panels above was written (padding too): only the zero row is left to clear.
    heap.floats.fill(0, at, at + this.zerosWidth());
    this.zerosT = at * F32;
    this.packed = true;
  }

  dispose(): void {
    this.disposed = true;
    const { heap } = this.runtime;
    if (this.weightsBlock >= 0) heap.release(this.weightsBlock);
    this.scratch.release();
    this.weightsBlock = -1;
    this.packed = false;
  }

  private checkLive(): void {
    if (this.disposed) throw new RnnError('disposed', `This WASM model was disposed during its backward: create a new one with createRnn(), createLstm() or createGru()`);
  }

  /** Lays out a backward's buffers in the scratch block (replaced, never grown in place, when they do not fit). */
  private layout(L: number, N: number): Record<string, number> {
    const { G, H, P, D, layers, lstm, gru } = this.model;
    const Hp = roundUp(H), Pp = roundUp(P), DGH = D * G * Hp, DP = D * P;
    const rows = L * N;
    const states = layers.length * D * N;
    const Imax = Math.max(...layers.map((layer) => layer.inputSize));
    const projected = P !== H;
    const sizes: Record<string, number> = {};
    layers.forEach(({ inputSize }, k) => {
      // What layer k keeps for its backward: its input (layer 0's; the others read the output below), its
      // pre-activations (the GRU's hidden n part apart), h_{t-1}, and an LSTM's c_{t-1} (h before the projection).
      if (k === 0) sizes.x0 = rows * inputSize;
      sizes[`out${k}`] = rows * DP;
      sizes[`proj${k}`] = rows * DGH;
      sizes[`q${k}`] = gru ? rows * DGH : 0;
      sizes[`hPrev${k}`] = rows * D * Pp;
      sizes[`cPrev${k}`] = lstm ? rows * D * Hp : 0;
      sizes[`hCell${k}`] = projected ? rows * D * Hp : 0;
    });
    Object.assign(sizes, {
      // The forward's per-step buffers (runLayer; qSteps: h·W_hhᵀ + b_hh' of every step) and states.
      qSteps: L * D * N * G * Hp, fh: 2 * D * N * Pp, fc: D * N * Hp, fhCell: D * N * Hp,
      h0: states * P, c0: lstm ? states * H : 0, hN: states * P, cN: lstm ? states * H : 0, lengths: N,
      // The backward's: running gradients, ∂L/∂output of the layer being run and of the one below it.
      cRun: D * N * Hp, dh: D * N * Pp, dc: D * N * Hp, dhCell: N * Hp, dhTape: projected ? rows * D * Pp : 0,
      dOut0: rows * Math.max(Imax, DP), dOut1: rows * Math.max(Imax, DP),
      gradHN: states * P, gradCN: lstm ? states * H : 0, dh0: states * P, dc0: lstm ? states * H : 0,
      dW_ih: DGH * Imax, dW_hh: D * G * Hp * P, dW_hr: projected ? D * Pp * H : 0, db_ih: DGH, db_hh: DGH,
      // GEMM packing: rows of A up to D·G·Hp wide (the forward: one pack per thread); gemmAtB's blocks.
      pack: ROW_BLOCK * Math.max(DGH, Imax, Hp, Pp, (this.runtime.pool?.threads ?? 1) * Math.max(H, P, Imax)), apack: MC * KC, bpack: KC * roundUp(Math.max(Imax, P, H)),
    });
    return this.scratch.layout(sizes, L, N, 'a backward', this.model.what);
  }

  /**
   * The whole backward, in the runtime's turn (blocks.ts `exclusive`). Every kernel is a job of
   * runPaced: without a signal (or when smaller than a block) one synchronous call, as fast as it gets;
   * with one, blocks of about 8 ms of steps or rows, yielding between them and stopping with
   * RnnError('aborted') once the signal has fired. The cuts do not change the bits (assembly/backward.ts).
   * The forward part runs on the worker threads where a forward would; the backward's own kernels on one.
   */
  async run(plan: BackwardPlan, modelPlan: () => ModelPlan): Promise<EngineGradients> {
    const { seqLen: L, batch: N, input, h0, c0, lengths, gradOutput, gradHN, gradCN, signal } = plan;
    /** Runs a JavaScript part (packing, unpacking) step by step, stopping between steps once the signal fired. */
    const inSteps = <T>(part: Generator<void, T>): Promise<T> => runInSlices(part, signal, 'backward', BLOCK_MS, () => this.checkLive());
    if (!this.packed) await inSteps(this.packing(modelPlan()));
    const { cell, G, H, P, D, layers, lstm, hasBias } = this.model;
    const { heap, pool } = this.runtime;
    const Hp = roundUp(H), Pp = roundUp(P), GH = G * Hp, DGH = D * GH, DP = D * P;
    const projected = P !== H;
    const rows = L * N;
    const at = this.layout(L, N);
    /** Runs one kernel's phases: their whole range at once, or in blocks (blocks.ts runPaced). */
    const job = (kernel: KernelName, threads: number, ...phases: Phase[]): void | Promise<void> =>
      runPaced(this.runtime, kernel, threads, { whole: phases.flatMap((phase) => callsOf(phase, 0, phase.units)), phases }, {
        signal, what: 'backward', check: () => this.checkLive(),
      });

    // Rows in descending length order, as pack_padded_sequence sorts them (runLayer's layout).
    const order = Int32Array.from({ length: N }, (_, b) => b);
    if (lengths !== null) order.sort((a, b) => lengths[b]! - lengths[a]! || a - b);
    const valid = (t: number, i: number): boolean => lengths === null || t < lengths[order[i]!]!;
    /** Copies count·N rows of `width` into linear memory in length order; rows past a length become 0 when `padded`. */
    const put = (offset: number, from: Float32Array | null, width: number, count: number, padded = false): void => {
      // heap.floats, read after every yield: a model created meanwhile may have grown the memory.
      const memory = heap.floats;
      const to = offset / F32;
      if (from === null) {
        memory.fill(0, to, to + count * N * width);
        return;
      }
      // Without lengths the order is the identity and no row is padded: one copy.
      if (lengths === null) {
        memory.set(from.subarray(0, count * N * width), to);
        return;
      }
      for (let r = 0; r < count; r++) {
        for (let i = 0; i < N; i++) {
          const dst = to + (r * N + i) * width;
          if (padded && !valid(r, i)) memory.fill(0, dst, dst + width);
          else memory.set(from.subarray((r * N + order[i]!) * width, (r * N + order[i]! + 1) * width), dst);
        }
      }
    };
    const take = (offset: number, width: number, count: number): Float32Array => {
      const from = heap.floats.subarray(offset / F32, offset / F32 + count * N * width);
      if (lengths === null) return from.slice();
      const result = new Float32Array(count * N * width);
      for (let r = 0; r < count; r++) {
        for (let i = 0; i < N; i++) result.set(from.subarray((r * N + i) * width, (r * N + i + 1) * width), (r * N + order[i]!) * width);
      }
      return result;
    };
    const I0 = layers[0]!.inputSize;
    // Padded input rows take part in no product: zero, so that whatever they hold cannot reach a gradient.
    put(at.x0!, input, I0, L, true);
    put(at.h0!, h0, P, layers.length * D);
    if (lstm) put(at.c0!, c0, H, layers.length * D);
    put(at.gradHN!, gradHN, P, layers.length * D);
    if (lstm) put(at.gradCN!, gradCN, H, layers.length * D);
    const sortedLengths = new Int32Array(heap.memory.buffer, at.lengths!, N);
    if (lengths !== null) for (let i = 0; i < N; i++) sortedLengths[i] = lengths[order[i]!]!;
    const lengthsAt = lengths === null ? 0 : at.lengths!;

    // The forward, keeping each layer's input, projection and output (zero where rows do not run).
    const threads = pool !== null && N * G * H * P >= THREADED_WORK ? pool.threads : 1;
    const packFloats = ROW_BLOCK * Math.max(H, P, ...layers.map((layer) => layer.inputSize));
    const x = (k: number): number => (k === 0 ? at.x0! : at[`out${k - 1}`]!);
    const steps = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, s) => from + s);
    // A step's multiply-adds, and a rough count of its pointwise work, per row and direction.
    const stepFlops = 2 * G * Hp * P + (projected ? 2 * Pp * H : 0) + 10 * G * Hp;
    const pointwise = 4 * (Pp + G * Hp) + (lstm ? 100 * Hp : 0);
    for (let k = 0; k < layers.length; k++) {
      const layer = layers[k]!;
      const state = k * D * N;
      if (lengths !== null) heap.floats.fill(0, at[`out${k}`]! / F32, at[`out${k}`]! / F32 + rows * DP);
      const h0At = h0 === null ? 0 : at.h0! + state * P * F32, c0At = lstm && c0 !== null ? at.c0! + state * H * F32 : 0;
      const args = (q: number): number[] => [
        cell, L, N, H, P, G, D, layer.inputSize,
        x(k), layer.packedW_ih, layer.bias, at[`proj${k}`]!, at[`out${k}`]!,
        layer.packedW_hh, layer.hiddenBias, layer.packedW_hr, this.model.zeros,
        q, at.fh!, at.fc!, at.fhCell!, h0At, c0At,
        lengthsAt, at.hN! + state * P * F32, at.cN! + state * H * F32,
        at.pack!, packFloats * F32,
      ];
      // The input projection (rows in multiples of the GEMM's 64-row block), then one call per step, each
      // writing its h·W_hhᵀ + b_hh' to its own slot of qSteps (runLayer keeps its state in linear memory
      // between calls: blocks.ts).
      const qStep = (step: number): number => at.qSteps! + step * D * N * GH * F32;
      await job('runLayer', threads,
        { units: rows, flopsPerUnit: 2 * DGH * layer.inputSize, granularity: ROW_BLOCK, call: (r0, r1) => [...args(at.qSteps!), r0, r1, 0, 0] },
        { units: L, flopsPerUnit: D * N * stepFlops, granularity: 1, call: (s0, s1) => steps(s0, s1).map((step) => [...args(qStep(step)), rows, rows, step, step + 1]) },
      );
      await job('tapeLayer', 1, {
        units: L, flopsPerUnit: D * N * pointwise, granularity: 1,
        call: (s0, s1) => [
          cell, L, N, H, P, G, D, at[`proj${k}`]!, at[`q${k}`]!, at.qSteps!, at[`out${k}`]!, h0At, c0At, lengthsAt,
          at[`hPrev${k}`]!, at[`cPrev${k}`]!, at[`hCell${k}`]!, at.cRun!, s0, s1,
        ],
      });
    }

    // The layers from the top down: ∂L/∂output of the top one is gradOutput, of the others the input
    // gradient of the layer above.
    let dOut = gradOutput === null ? 0 : at.dOut0!;
    if (gradOutput !== null) put(at.dOut0!, gradOutput, DP, L);
    const gradients: DirectionWeights[][] = new Array(layers.length);
    for (let k = layers.length - 1; k >= 0; k--) {
      const I = layers[k]!.inputSize;
      const state = k * D * N;
      const proj = at[`proj${k}`]!, q = this.model.gru ? at[`q${k}`]! : proj;
      const { packedW_ihT, packedW_hhT, packedW_hrT } = this.transposed[k]!;
      // The time loop backwards: iteration u is step L − 1 − u.
      await job('backLayer', 1, {
        units: L, flopsPerUnit: D * N * (2 * GH * Pp + (projected ? 2 * Hp * Pp : 0) + 30 * GH), granularity: 1,
        call: (u0, u1) => [
          cell, L, N, H, P, G, D, dOut, proj, q, packedW_hhT, packedW_hrT, this.zerosT,
          at[`hPrev${k}`]!, at[`cPrev${k}`]!, at.dhTape!, at.dh!, at.dc!, at.dhCell!,
          gradHN === null ? 0 : at.gradHN! + state * P * F32, lstm && gradCN !== null ? at.gradCN! + state * H * F32 : 0,
          at.dh0! + state * P * F32, at.dc0! + state * H * F32, lengthsAt, at.pack!, u0, u1,
        ],
      });
      // The weight gradients over every step at once (padded rows hold zero gradients, so they add nothing):
      //     dW_ih (D·G·Hp, I) = dgxᵀ·x    dW_hh (D, G·Hp, P) = dghᵀ·h_{t-1}    dW_hr (D, Pp, H) = dh_tᵀ·h_cell
      //     db_ih = Σ dgx   db_hh = Σ dgh   dx (L·N, I) = dgx · W_ih
      // in the kernels' interleaved gate rows (unpack maps them back to PyTorch's).
      const atB = (M: number, cols: number, A: number, lda: number, B: number, ldb: number, C: number): Phase => {
        const units = Math.ceil(rows / KC) * Math.ceil(M / MC);
        return {
          units, flopsPerUnit: (2 * M * cols * rows) / units, granularity: 1,
          call: (u0, u1) => [M, cols, rows, A, lda, B, ldb, C, at.apack!, at.bpack!, u0, u1],
        };
      };
      const dgh = this.model.gru ? q : proj;
      await job('gemmAtB', 1, atB(DGH, I, proj, DGH, x(k), I, at.dW_ih!));
      for (let d = 0; d < D; d++) {
        await job('gemmAtB', 1, atB(GH, P, dgh + d * GH * F32, DGH, at[`hPrev${k}`]! + d * Pp * F32, D * Pp, at.dW_hh! + d * GH * P * F32));
        if (projected) await job('gemmAtB', 1, atB(Pp, H, at.dhTape! + d * Pp * F32, D * Pp, at[`hCell${k}`]! + d * Hp * F32, D * Hp, at.dW_hr! + d * Pp * H * F32));
      }
      if (hasBias) {
        for (const [A, sums] of [[proj, at.db_ih!], [dgh, at.db_hh!]] as const) {
          await job('columnSums', 1, { units: rows, flopsPerUnit: DGH, granularity: 1, call: (r0, r1) => [DGH, A, DGH, sums, r0, r1] });
        }
      }
      const dx = dOut === at.dOut0! ? at.dOut1! : at.dOut0!;
      await job('gemmRows', 1, {
        units: rows, flopsPerUnit: 2 * I * DGH, granularity: ROW_BLOCK,
        call: (r0, r1) => [I, DGH, proj, DGH, packedW_ihT, this.zerosT, dx, I, at.pack!, r0, r1],
      });
      gradients[k] = await inSteps(this.unpacking(at, I));
      dOut = dx;
    }
    const result: EngineGradients = { input: take(dOut, I0, L), h0: take(at.dh0!, P, layers.length * D), layers: gradients };
    if (lstm) result.c0 = take(at.dc0!, H, layers.length * D);
    return result;
  }

  /**
   * One layer's weight gradients, from the kernels' interleaved gate rows back to PyTorch's layouts: one
   * direction per step (at H = 1024 a layer's take 50–80 ms).
   */
  private *unpacking(at: Record<string, number>, I: number): Generator<void, DirectionWeights[]> {
    const { G, H, P, D, hasBias } = this.model;
    const Hp = roundUp(H), Pp = roundUp(P), GH = G * Hp;
    const directions: DirectionWeights[] = [];
    for (let d = 0; d < D; d++) {
      // Read again at every step: a model created while a paced backward yields may grow the memory.
      const memory = this.runtime.heap.floats;
      const read = (offset: number, count: number): Float32Array => memory.subarray(offset / F32, offset / F32 + count);
      const dW_ih = read(at.dW_ih!, D * GH * I), dW_hh = read(at.dW_hh!, D * GH * P);
      const db_ih = read(at.db_ih!, D * GH), db_hh = read(at.db_hh!, D * GH);
      const dW_hr = read(at.dW_hr!, D * Pp * H);
      const weights: DirectionWeights = {
        W_ih: new Float32Array(G * H * I),
        W_hh: new Float32Array(G * H * P),
        b_ih: hasBias ? new Float32Array(G * H) : null,
        b_hh: hasBias ? new Float32Array(G * H) : null,
        W_hr: P !== H ? dW_hr.slice(d * Pp * H, d * Pp * H + P * H) : null,
      };
      for (let n = 0; n < GH; n++) {
        const row = gateRow(n, G, H);
        if (row < 0) continue;
        weights.W_ih.set(dW_ih.subarray((d * GH + n) * I, (d * GH + n + 1) * I), row * I);
        weights.W_hh.set(dW_hh.subarray((d * GH + n) * P, (d * GH + n + 1) * P), row * P);
        if (weights.b_ih !== null) weights.b_ih[row] = db_ih[d * GH + n]!;
        if (weights.b_hh !== null) weights.b_hh[row] = db_hh[d * GH + n]!;
      }
      directions.push(weights);
      yield;
    }
    return directions;
  }
}
