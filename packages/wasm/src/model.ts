import type { BackwardPlan, EngineGradients, EngineModel, EngineResult, EngineStream, ForwardPlan, ModelPlan, StreamPlan, StreamStart } from '@recurrent/core';
import { RnnError, resultArrays, throwIfAborted } from '@recurrent/core';
import { exclusive, exclusiveNow, runPaced, type Phase, type Turns } from './blocks.js';
import { gateRow, Trainer, type BackwardKernels } from './backward.js';
import { ScratchSpace, type Heap } from './heap.js';
import type { WorkerPool } from './threads.js';

/** Output columns per packed panel, and rows per GEMM row block: must match NR and ROW_BLOCK in assembly/index.ts. */
const NR = 8;
const ROW_BLOCK = 64;

/** The exports of assembly/index.ts (offsets are bytes into linear memory). */
export interface Kernels extends BackwardKernels {
  runLayer(
    thread: number, threads: number, canWait: number, sync: number,
    cell: number, L: number, N: number, H: number, P: number, G: number, D: number, I: number,
    x: number, packedW_ih: number, bias: number, proj: number, out: number,
    packedW_hh: number, hiddenBias: number, packedW_hr: number, zeros: number,
    q: number, h: number, c: number, hCell: number,
    h0: number, c0: number, lengths: number, hN: number, cN: number, packs: number, packBytes: number,
    rowFrom: number, rowTo: number, stepFrom: number, stepTo: number,
  ): number;
  heapBase(): number;
  RNN_TANH: WebAssembly.Global;
  RNN_RELU: WebAssembly.Global;
  LSTM: WebAssembly.Global;
  GRU: WebAssembly.Global;
}

/** What a backend shares with its models: one module instance, its memory and the allocator. */
export interface Runtime {
  kernels: Kernels;
  heap: Heap;
  /** The variant that runs now: a failed pool that cannot be restarted leaves one thread. */
  readonly variant: string;
  /** Worker threads 1…n−1 (null: single-threaded), and whether this thread may block. */
  pool: WorkerPool | null;
  canWait: boolean;
  /** The calls of this runtime, one at a time (blocks.ts). */
  turns: Turns;
}

/**
 * Steps smaller than this many multiply-adds (N·G·H·H_out, a few microseconds) run on one thread: a
 * barrier per step, and a worker that the OS may have parked, would cost more than they save.
 */
export const THREADED_WORK = 1 << 17;

const roundUp = (n: number): number => Math.ceil(n / NR) * NR;

/**
 * Packs `cols` output columns of a row-major (·, K) PyTorch weight into panels of 8 columns,
 * panel[k][c] = W[rowOf(8p + c)][k], zero where rowOf gives -1: the layout the GEMM micro-kernels read
 * (see assembly/index.ts). `cols` is a multiple of 8.
 */
function packPanels(W: Float32Array, K: number, cols: number, rowOf: (n: number) => number, dst: Float32Array, at: number): void {
  for (let p = 0; p < cols / NR; p++) {
    for (let c = 0; c < NR; c++) {
      const row = rowOf(p * NR + c);
      for (let k = 0; k < K; k++) dst[at + (p * K + k) * NR + c] = row < 0 ? 0 : W[row * K + k]!;
    }
  }
}

/** Byte offsets of one layer's packed weights in linear memory. */
interface LayerWeights {
  inputSize: number;
  packedW_ih: number;
  bias: number;
  packedW_hh: number;
  hiddenBias: number;
  packedW_hr: number;
}

/**
 * Copies `count` time-major (·, N, width) blocks of `from` into linear memory at byte `offset`, batch
 * rows in `order` (null: as they are).
 */
function copyIn(memory: Float32Array, offset: number, from: Float32Array, width: number, count: number, N: number, order: Int32Array | null): void {
  if (order === null) {
    memory.set(from, offset / F32);
    return;
  }
  for (let r = 0; r < count; r++) {
    for (let i = 0; i < N; i++) {
      const src = (r * N + order[i]!) * width;
      memory.set(from.subarray(src, src + width), offset / F32 + (r * N + i) * width);
    }
  }
}

/** copyIn's inverse: to.length floats from byte `offset` into `to`, batch rows back from `order`. */
function copyOut(memory: Float32Array, offset: number, to: Float32Array, width: number, N: number, order: Int32Array | null): Float32Array {
  const from = memory.subarray(offset / F32, offset / F32 + to.length);
  if (order === null) to.set(from);
  else for (let row = 0; row < to.length / width; row++) to.set(from.subarray(row * width, (row + 1) * width), (row - (row % N) + order[row % N]!) * width);
  return to;
}

/** Byte offsets of a stream's states in linear memory: read from h0/c0, written to hN/cN (c: LSTM only). */
interface HeldStates {
  h0: number;
  c0: number;
  hN: number;
  cN: number;
}

/** Byte offsets of one forward's buffers inside the model's scratch block. */
interface Scratch {
  x: number;
  outputs: [number, number];
  proj: number;
  q: number;
  h: number;
  c: number;
  hCell: number;
  h0: number;
  c0: number;
  hN: number;
  cN: number;
  lengths: number;
  packs: number;
  packBytes: number;
}

const F32 = 4;
/** The pace options of a call without a signal (it runs whole): one object for all of them. */
const UNPACED = { signal: null, what: 'forward' } as const;
const NO_PHASES: Phase[] = [];
const MODULE = { rnn: 'an RNN', lstm: 'an LSTM', gru: 'a GRU' } as const;

/**
 * A model in linear memory: packed weights uploaded once, and one scratch block reused by every
 * forward that fits in it (it is replaced, never grown in place, when a larger input comes). RNN, LSTM
 * and GRU differ only in G, the cell the kernel runs, and (LSTM) the cell state and projection.
 */
export class WasmModel implements EngineModel {
  readonly backend: string;
  private weightsBlock: number;
  private readonly layers: LayerWeights[];
  private readonly zeros: number;
  private readonly scratchSpace: ScratchSpace;
  private disposed = false;
  private readonly lstm: boolean;
  private readonly G: number;
  private readonly H: number;
  /** H_out, the width of h. */
  private readonly P: number;
  private readonly D: number;
  private readonly cell: number;
  private readonly what: string;
  /** The plan of the weights the model holds (core keeps it too): a backward packs its transposed weights from it. */
  private plan: ModelPlan;
  /** The backward's weights and buffers, made at the first backward. */
  private trainer: Trainer | null = null;
  /** The last forward's scratch layout, reused by the next one of the same (L, N): a stream's pushes. */
  private lastBuffers: { L: number; N: number; block: number; buffers: Scratch } | null = null;
  /** The kernel arguments of the last two forwards (a stream alternates between two), by what they depend on. */
  private argsCache: { key: readonly number[]; whole: number[][] }[] = [];
  /** Releases the linear memory of each open stream (model dispose closes them all). */
  private readonly streams = new Set<() => void>();

  constructor(private readonly runtime: Runtime, plan: ModelPlan, private readonly onDispose: () => void = () => {}) {
    this.backend = runtime.variant;
    this.scratchSpace = new ScratchSpace(runtime.heap);
    this.plan = plan;
    const { mode, gates: G, hiddenSize: H, outputSize: P, numDirections: D } = plan;
    this.lstm = mode === 'lstm';
    this.G = G;
    this.H = H;
    this.P = P;
    this.D = D;
    const { kernels } = runtime;
    const cellKernel = mode === 'lstm' ? kernels.LSTM : mode === 'gru' ? kernels.GRU : plan.nonlinearity === 'tanh' ? kernels.RNN_TANH : kernels.RNN_RELU;
    this.cell = cellKernel.value as number;
    this.what = `${MODULE[mode]} with hidden size ${H}${plan.projSize > 0 ? `, projection size ${P}` : ''}, ${plan.numLayers} layer(s), ${D} direction(s)`;
    const GH = G * roundUp(H);
    const projected = plan.projSize > 0;

    // One block: per layer, W_ih of both directions as one (D·G·Hp, I) matrix and its bias, then each
    // direction's W_hh, hidden bias and (projected LSTM) W_hr; last, a row of zeros for bias-free GEMMs.
    let floats = 0;
    const take = (count: number): number => {
      const at = floats;
      floats += roundUp(count);
      return at;
    };
    const offsets = plan.layers.map(({ inputSize }) => ({
      packedW_ih: take(D * GH * inputSize),
      bias: take(D * GH),
      packedW_hh: take(D * GH * P),
      hiddenBias: take(D * GH),
      packedW_hr: projected ? take(D * roundUp(P) * H) : 0,
    }));
    const zeros = take(Math.max(GH, roundUp(P)));
    const { heap } = runtime;
    // The allocation is the only step that can fail (RnnError 'limit'): nothing exists before it.
    this.weightsBlock = heap.alloc(floats * F32, `the weights of ${this.what}`);
    new Float32Array(heap.memory.buffer, this.weightsBlock, floats).fill(0);
    this.zeros = this.weightsBlock + zeros * F32;
    const bytes = (offset: number): number => this.weightsBlock + offset * F32;
    this.layers = plan.layers.map(({ inputSize }, index) => {
      const at = offsets[index]!;
      return {
        inputSize,
        packedW_ih: bytes(at.packedW_ih),
        bias: bytes(at.bias),
        packedW_hh: bytes(at.packedW_hh),
        hiddenBias: bytes(at.hiddenBias),
        packedW_hr: projected ? bytes(at.packedW_hr) : 0,
      };
    });
    this.pack(plan);
  }

  /** Packs the weights of `plan` into the weights block (at the model's creation, and in place by loadWeights). */
  private pack(plan: ModelPlan): void {
    const { G, H, P } = this;
    const GH = G * roundUp(H);
    const memory = this.runtime.heap.floats;
    const gates = (n: number): number => gateRow(n, G, H);
    plan.layers.forEach(({ inputSize, directions }, index) => {
      const layer = this.layers[index]!;
      const [W_ihAt, biasAt, W_hhAt, hiddenBiasAt, W_hrAt] = [layer.packedW_ih, layer.bias, layer.packedW_hh, layer.hiddenBias, layer.packedW_hr].map((bytes) => bytes / F32) as [number, number, number, number, number];
      directions.forEach(({ W_ih, W_hh, b_ih, b_hh, W_hr }, d) => {
        packPanels(W_ih, inputSize, GH, gates, memory, W_ihAt + d * GH * inputSize);
        packPanels(W_hh, P, GH, gates, memory, W_hhAt + d * GH * P);
        if (W_hr !== null) packPanels(W_hr, H, roundUp(P), (n) => (n < P ? n : -1), memory, W_hrAt + d * roundUp(P) * H);
        if (b_ih === null || b_hh === null) return;
        for (let n = 0; n < GH; n++) {
          const row = gates(n);
          if (row < 0) continue;
          // A GRU's b_hn stays in the hidden part: n = tanh(W_in·x + b_in + r⊙(W_hn·h + b_hn)).
          const inside = plan.mode === 'gru' && row >= 2 * H;
          memory[biasAt + d * GH + n] = inside ? b_ih[row]! : b_ih[row]! + b_hh[row]!;
          if (inside) memory[hiddenBiasAt + d * GH + n] = b_hh[row]!;
        }
      });
    });
  }

  /**
   * Backpropagation through time (src/backward.ts): a forward that keeps each layer's activations, then
   * the layers from the top down, in the runtime's turn like a forward. The forward part runs on the
   * worker threads where a forward would; the backward's own kernels run on one thread.
   */
  async backward(plan: BackwardPlan): Promise<EngineGradients> {
    this.checkLive();
    return exclusive(this.runtime, plan.signal, 'backward', () => {
      this.checkLive();
      this.trainer ??= new Trainer(this.runtime, {
        cell: this.cell, G: this.G, H: this.H, P: this.P, D: this.D, lstm: this.lstm, gru: this.plan.mode === 'gru',
        hasBias: this.plan.hasBias, what: this.what, layers: this.layers, zeros: this.zeros,
      });
      return this.trainer.run(plan, () => this.plan);
    });
  }

  /** Replaces the weights in place: a plan of this model's sizes (core checked the state dict). */
  async loadWeights(plan: ModelPlan): Promise<void> {
    this.checkLive();
    return exclusive(this.runtime, null, 'loadWeights', () => {
      this.checkLive();
      this.pack(plan);
      this.trainer?.pack(plan);
      this.plan = plan;
    });
  }

  /** Bytes the backward holds in linear memory (transposed weights and buffers, kept for the next one). */
  get backwardBytes(): number {
    return this.trainer?.bytes ?? 0;
  }

  async forward(plan: ForwardPlan): Promise<EngineResult> {
    this.checkLive();
    return exclusive(this.runtime, plan.signal, 'forward', () => this.run(plan));
  }

  private checkLive(): void {
    if (this.disposed) throw new RnnError('disposed', 'This WASM model was disposed: create a new one with createRnn(), createLstm() or createGru()');
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.runtime.heap.release(this.weightsBlock);
    this.scratchSpace.release();
    this.trainer?.dispose();
    this.trainer = null;
    for (const release of [...this.streams]) release();
    this.onDispose();
  }

  /** Lays out the buffers of an (L, N) forward, reusing the scratch block when they fit in it. */
  private scratch(L: number, N: number): Scratch {
    const { G, H, P, D, layers, lstm } = this;
    const Hp = roundUp(H);
    const DP = D * P;
    const I = layers[0]!.inputSize;
    const states = layers.length * D * N;
    // Each thread's GEMM packs a block of rows of its widest A: x, h or the unprojected h.
    const packFloats = ROW_BLOCK * Math.max(H, P, ...layers.map((layer) => layer.inputSize));
    const sizes = {
      x: L * N * I,
      output0: L * N * DP,
      output1: layers.length > 1 ? L * N * DP : 0,
      proj: L * N * D * G * Hp,
      q: D * N * G * Hp,
      h: 2 * D * N * roundUp(P),
      c: lstm ? D * N * Hp : 0,
      hCell: P !== H ? D * N * Hp : 0,
      h0: states * P,
      c0: lstm ? states * H : 0,
      hN: states * P,
      cN: lstm ? states * H : 0,
      lengths: N,
      packs: (this.runtime.pool?.threads ?? 1) * packFloats,
    };
    const { output0, output1, ...at } = this.scratchSpace.layout(sizes, L, N, 'an input', this.what);
    return {
      ...at,
      outputs: [output0, layers.length > 1 ? output1 : output0],
      packBytes: packFloats * F32,
    };
  }

  /**
   * A stream whose h (and c) for every layer stay in linear memory between pushes: two slots, the
   * push reading one and writing the other, which becomes the held state only when the push succeeded.
   */
  openStream({ batch: N, h0, c0 }: StreamStart): EngineStream {
    this.checkLive();
    const states = this.layers.length * this.D * N;
    const hFloats = states * this.P;
    const cFloats = this.lstm ? states * this.H : 0;
    const slotBytes = Math.ceil(((hFloats + cFloats) * F32) / 64) * 64;
    const block = this.runtime.heap.alloc(2 * slotBytes, `the states of a stream of ${N} batch element(s)`);
    const memory = this.runtime.heap.floats;
    memory.fill(0, block / F32, block / F32 + hFloats + cFloats);
    if (h0 !== null) memory.set(h0, block / F32);
    if (c0 !== null) memory.set(c0, block / F32 + hFloats);
    // heldFrom[i]: read slot i, write the other.
    const slot = (i: number) => ({ h: block + i * slotBytes, c: block + i * slotBytes + hFloats * F32 });
    const heldFrom = [0, 1].map((i): HeldStates => ({ h0: slot(i).h, c0: slot(i).c, hN: slot(1 - i).h, cN: slot(1 - i).c }));
    let current = 0;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.streams.delete(release);
      this.runtime.heap.release(block);
    };
    this.streams.add(release);
    const commit = (result: EngineResult, signal: AbortSignal | null | undefined): EngineResult => {
      // Nothing between the kernel's last check and here yields: a push whose signal fired is not committed.
      throwIfAborted(signal, 'stream push');
      current = 1 - current;
      return result;
    };
    const push = (plan: StreamPlan): EngineResult | Promise<EngineResult> => {
      this.checkLive();
      if (released) throw new RnnError('disposed', 'This stream was disposed: start a new one with model.stream()');
      const result = this.run(plan, heldFrom[current]!);
      return result instanceof Promise ? result.then((done) => commit(done, plan.signal)) : commit(result, plan.signal);
    };
    return {
      // Run at once when the runtime is idle (no promise: core makes the one the caller awaits).
      push: (plan) => exclusiveNow(this.runtime, plan.signal, 'stream push', () => push(plan)),
      dispose: release,
    };
  }

  /** The byte offsets of the scratch buffers for an (L, N) forward, laid out again only when L or N changes. */
  private buffersFor(L: number, N: number): Scratch {
    const cached = this.lastBuffers;
    if (cached !== null && cached.L === L && cached.N === N && cached.block === this.scratchSpace.block) return cached.buffers;
    const buffers = this.scratch(L, N);
    this.lastBuffers = { L, N, block: this.scratchSpace.block, buffers };
    return buffers;
  }

  /**
   * One forward. Its initial states come from the plan (copied in), or from `held` (a stream's states in
   * linear memory: read in place, and its final states written to held.hN/cN).
   */
  private run(plan: StreamPlan & Partial<ForwardPlan>, held: HeldStates | null = null): EngineResult | Promise<EngineResult> {
    const { seqLen: L, batch: N, input, lengths, signal } = plan;
    this.checkLive();
    const { G, H, P, D, layers, lstm, cell } = this;
    const { kernels, heap } = this.runtime;
    const DP = D * P;
    const I = layers[0]!.inputSize;
    const states = layers.length * D;
    const buffers = this.buffersFor(L, N);
    // Rows in descending length order, as pack_padded_sequence sorts them: the rows still running at
    // any step are then a prefix. Without lengths the order is the identity and nothing is permuted.
    let order: Int32Array | null = null;
    if (lengths !== null) {
      order = Int32Array.from({ length: N }, (_, b) => b);
      order.sort((a, b) => lengths[b]! - lengths[a]! || a - b);
    }

    const memory = heap.floats;
    copyIn(memory, buffers.x, input, I, L, N, order);
    // Where the kernel reads the initial states (0: zeros) and writes the final ones. A stream's states
    // are read and written in place unless lengths permute its rows.
    let h0At = 0;
    let c0At = 0;
    let hNAt = buffers.hN;
    let cNAt = buffers.cN;
    if (held !== null && order === null) {
      h0At = held.h0;
      c0At = lstm ? held.c0 : 0;
      hNAt = held.hN;
      cNAt = held.cN;
    } else {
      const h0From = held !== null ? memory.subarray(held.h0 / F32, held.h0 / F32 + states * N * P) : plan.h0 ?? null;
      const c0From = held !== null && lstm ? memory.subarray(held.c0 / F32, held.c0 / F32 + states * N * H) : plan.c0 ?? null;
      if (h0From !== null) copyIn(memory, (h0At = buffers.h0), h0From, P, states, N, order);
      if (lstm && c0From !== null) copyIn(memory, (c0At = buffers.c0), c0From, H, states, N, order);
    }
    if (order !== null) {
      const sorted = new Int32Array(heap.memory.buffer, buffers.lengths, N);
      for (let i = 0; i < N; i++) sorted[i] = lengths![order[i]!]!;
    }

    // Rows that do not run stay zero in both output buffers, for every layer.
    if (order !== null) for (const out of new Set(buffers.outputs)) new Float32Array(heap.memory.buffer, out, L * N * DP).fill(0);
    const { pool } = this.runtime;
    const threads = pool !== null && N * G * H * P >= THREADED_WORK ? pool.threads : 1;
    const Hp = roundUp(H);
    const LN = L * N;
    // The kernel's arguments depend only on these: a stream's pushes reuse the last two lists (its two state slots).
    const permuted = order === null ? 0 : 1;
    let layerArgs: number[][] | undefined;
    for (const { key: k, whole } of this.argsCache) {
      if (k[0] === L && k[1] === N && k[2] === h0At && k[3] === c0At && k[4] === hNAt && k[5] === cNAt && k[6] === permuted && k[7] === buffers.x) layerArgs = whole;
    }
    if (layerArgs === undefined) {
      let x = buffers.x;
      layerArgs = layers.map((layer, index) => {
        const out = buffers.outputs[index % 2]!;
        const state = index * D * N;
        const args = [
          cell, L, N, H, P, G, D, layer.inputSize,
          x, layer.packedW_ih, layer.bias, buffers.proj, out,
          layer.packedW_hh, layer.hiddenBias, layer.packedW_hr, this.zeros,
          buffers.q, buffers.h, buffers.c, buffers.hCell,
          h0At === 0 ? 0 : h0At + state * P * F32, c0At === 0 ? 0 : c0At + state * H * F32,
          order === null ? 0 : buffers.lengths, hNAt + state * P * F32, cNAt + state * H * F32,
          buffers.packs, buffers.packBytes,
        ];
        x = out;
        return [...args, 0, LN, 0, L];
      });
      this.argsCache = [{ key: [L, N, h0At, c0At, hNAt, cNAt, permuted, buffers.x], whole: layerArgs }, ...this.argsCache.slice(0, 1)];
    }
    // With a signal: per layer, the input projection in blocks of its L·N rows (multiples of the GEMM's 64-row
    // block, so the bits are those of one call), then the time loop in blocks of steps.
    // A step: the GEMM h·W_hhᵀ, the projection h·W_hrᵀ if any, and about 10 operations per gate value.
    const stepFlops = D * N * (2 * G * Hp * P + (P !== H ? 2 * roundUp(P) * H : 0) + 10 * G * Hp);
    const phases: Phase[] = signal
      ? layerArgs.flatMap((whole, index): Phase[] => {
        const args = whole.slice(0, -4);
        return [
          { units: LN, flopsPerUnit: 2 * D * G * Hp * layers[index]!.inputSize, granularity: ROW_BLOCK, call: (r0, r1) => [...args, r0, r1, 0, 0] },
          { units: L, flopsPerUnit: stepFlops, granularity: 1, call: (s0, s1) => [...args, LN, LN, s0, s1] },
        ];
      })
      : NO_PHASES;
    const out = buffers.outputs[(layers.length - 1) % 2]!;
    const ran = runPaced(this.runtime, 'runLayer', threads, { whole: layerArgs, phases }, signal ? { signal, what: 'forward', check: () => this.checkLive() } : UNPACED);
    // Called directly when the kernel ran at once: no closure for a one-step push to allocate.
    return ran === undefined
      ? this.collect(L, N, out, hNAt, cNAt, order, held)
      : ran.then(() => this.collect(L, N, out, hNAt, cNAt, order, held));
  }

  /**
   * A forward's results, copied out of linear memory (its output at `out`, final states at hNAt/cNAt)
   * into fresh arrays (core's resultArrays), back in the caller's batch order.
   */
  private collect(L: number, N: number, out: number, hNAt: number, cNAt: number, order: Int32Array | null, held: HeldStates | null): EngineResult {
    const { H, P, D, lstm } = this;
    const DP = D * P;
    const states = this.layers.length * D;
    const memory = this.runtime.heap.floats;
    const [output, hN, cN] = resultArrays(L * N * DP, states * N * P, lstm ? states * N * H : 0) as [Float32Array, Float32Array, Float32Array];
    const result: EngineResult = { output: copyOut(memory, out, output, DP, N, order), hN: copyOut(memory, hNAt, hN, P, N, order) };
    if (lstm) result.cN = copyOut(memory, cNAt, cN, H, N, order);
    // A stream with lengths: its next states, back in its batch order.
    if (held !== null && order !== null) {
      memory.set(result.hN, held.hN / F32);
      if (lstm) memory.set(result.cN!, held.cN / F32);
    }
    return result;
  }
}
