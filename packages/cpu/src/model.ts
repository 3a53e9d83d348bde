import type {
  BackwardPlan, DirectionWeights, EngineGradients, EngineModel, EngineResult, EngineStream, ForwardPlan, ModelPlan, StreamPlan, StreamStart,
} from '@recurrent/core';
import { RnnError, resultArrays, throwIfAborted } from '@recurrent/core';
import { cellOf, type Cell } from './cells.js';
import { gemmAtB, gemmPiece, gemmPieces, strided, sumRows, transposed } from './gemm.js';
import { paced, pieceEnds, type Pieces } from './pace.js';

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
 * Fills order (N) and activeAt (L).
 */
function lengthOrder(L: number, N: number, lengths: Int32Array | null, order: Int32Array, activeAt: Int32Array): void {
  for (let b = 0; b < N; b++) order[b] = b;
  activeAt.fill(N);
  if (lengths === null) return;
  order.sort((a, b) => lengths[b]! - lengths[a]! || a - b);
  for (let t = 0; t < L; t++) {
    let active = 0;
    while (active < N && lengths[order[active]!]! > t) active++;
    activeAt[t] = active;
  }
}

/** The rows r = t·N + b of the time-major layout that an element runs (t < len_b), in order. */
function validRows(L: number, N: number, lengths: Int32Array | null): Int32Array {
  const rows: number[] = [];
  for (let t = 0; t < L; t++) for (let b = 0; b < N; b++) if (lengths === null || t < lengths[b]!) rows.push(t * N + b);
  return Int32Array.from(rows);
}

/** The offset table of rows r of a (L·N, stride) matrix, starting `start` into each row. */
function rowsOf(rows: Int32Array, stride: number, start = 0): Int32Array {
  return rows.map((r) => r * stride + start);
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

/**
 * Every buffer a forward of L steps over N elements uses besides its results. forward and backward make
 * one per call; a stream keeps one and reuses it for each push of the same length, so that a push
 * allocates only the arrays it returns.
 */
interface Scratch {
  L: number;
  /** (N): elements in length order; (L): how many of them run at step t (lengthOrder). */
  order: Int32Array;
  activeAt: Int32Array;
  /** One per direction. */
  states: State[];
  /** (L·N, D·G·H): x_t·W_ihᵀ + b_ih (+ b_hh) of one layer. */
  projected: Float32Array;
  /**
   * (L·N, D·H_out) per layer below the top: its output, the next layer's input (the top one's output is
   * a result). Rows past an element's length may hold an earlier push's values: the layer above projects
   * them too, but its time loop never reads those rows.
   */
  outputs: Float32Array[];
  /** Offset tables: each layer's input rows, the rows of `projected`, and 0 for every row (a bias added to each row). */
  inputRows: Int32Array[];
  projectedRows: Int32Array;
  zeroRows: Int32Array;
  /** (N, G·H): h_{t-1}·W_hhᵀ (+ b_hn) of one step, and the offset tables of one step's rows. */
  gates: Float32Array;
  gateRows: Int32Array;
  hRows: Int32Array;
  cellRows: Int32Array;
  xRow: Int32Array;
  savedRow: Int32Array;
  /** (P): the projection has no bias. */
  noBias: Float32Array;
}

/**
 * What a forward keeps of one layer for the backward. Rows r = t·N + b of the time-major layout, the D
 * directions side by side in each row; rows past an element's length are never written.
 */
interface LayerTape {
  /** (L·N, inputSize): the layer's input (the caller's input, or the output of the layer below). */
  x: Float32Array;
  /** (L·N, D·H_out): h_{t-1}, the state each step read. */
  h_prev: Float32Array;
  /** (L·N, D·S·H): what the cell saved to differentiate the step (Cell.saved blocks of H). */
  saved: Float32Array;
  /** (L·N, D·H): the LSTM's h before the projection, with proj_size only (else empty). */
  h_cell: Float32Array;
}

/** One direction's gradients running backwards through time, rows in length order like State. */
interface GradState {
  /** (N, H_out): ∂L/∂h_t, then ∂L/∂h_{t-1} after the step. */
  dh: Float32Array;
  /** (N, H), LSTM only: ∂L/∂c_t, then ∂L/∂c_{t-1}. */
  dc: Float32Array;
  /** (N, H): ∂L/∂(the cell's h), dh itself unless a projection follows. */
  dh_cell: Float32Array;
}

/** Copies `width` values from src[s…] to dst[d…] (a loop: no subarray views inside the time loops). */
function copyRow(src: Float32Array, s: number, dst: Float32Array, d: number, width: number): void {
  for (let j = 0; j < width; j++) dst[d + j] = src[s + j]!;
}

export class CpuModel implements EngineModel {
  readonly backend = 'cpu';
  private layers: Layer[] | null;
  private readonly cell: Cell;
  private readonly H: number;
  private readonly Hout: number;
  private readonly P: number;
  private readonly D: number;
  private readonly inputSize: number;
  private readonly numLayers: number;
  private readonly lstm: boolean;
  private readonly hasBias: boolean;
  /** Open streams: disposing the model disposes them. */
  private readonly streams = new Set<CpuStream>();
  /** Bytes the latest backward held at its peak: the forward's tapes plus one layer's gradient buffers (see backwardBytes). */
  lastBackwardBytes = 0;

  /** `onDispose` runs once, when the model is disposed (the backend's stats stop counting it). */
  constructor(plan: ModelPlan, private readonly onDispose: () => void = () => {}) {
    this.cell = cellOf(plan);
    this.layers = buildLayers(plan, this.cell);
    this.H = plan.hiddenSize;
    this.Hout = plan.outputSize;
    this.P = plan.projSize;
    this.D = plan.numDirections;
    this.inputSize = plan.inputSize;
    this.numLayers = plan.numLayers;
    this.lstm = plan.mode === 'lstm';
    this.hasBias = plan.hasBias;
  }

  /** With a signal, the work runs in slices an abort can stop (pace.ts); without one, at once. */
  async forward(plan: ForwardPlan): Promise<EngineResult> {
    return paced(plan.signal, this.run(this.live(), plan, plan.h0, plan.c0, this.scratch(plan.seqLen, plan.batch), null), 'forward');
  }

  /** A stream whose h and c stay in arrays it owns between pushes (CpuStream). */
  openStream({ batch, h0, c0 }: StreamStart): EngineStream {
    this.live();
    const rows = this.numLayers * this.D * batch;
    // Core hands over copies: the stream may keep them.
    const h = h0 ?? new Float32Array(rows * this.Hout);
    const c = this.lstm ? (c0 ?? new Float32Array(rows * this.H)) : null;
    const stream: CpuStream = new CpuStream(this, h, c, () => this.streams.delete(stream));
    this.streams.add(stream);
    return stream;
  }

  /**
   * Backpropagation through time: a forward that keeps what the cells need (LayerTape), then the layers
   * from the top down, each a time loop run backwards followed by its weight gradients as GEMMs over
   * every step at once.
   */
  async backward(plan: BackwardPlan): Promise<EngineGradients> {
    return paced(plan.signal, this.train(this.live(), plan), 'backward');
  }

  private *train(layers: Layer[], plan: BackwardPlan): Pieces<EngineGradients> {
    const tapes: LayerTape[] = [];
    const scratch = this.scratch(plan.seqLen, plan.batch);
    yield* this.run(layers, plan, plan.h0, plan.c0, scratch, tapes);
    return yield* this.backpropagate(layers, plan, scratch, tapes);
  }

  /** The plan has the same sizes (core checked the state dict against this model's config). */
  async loadWeights(plan: ModelPlan): Promise<void> {
    this.live();
    this.layers = buildLayers(plan, this.cell);
  }

  dispose(): void {
    if (this.layers === null) return;
    this.layers = null;
    this.lastBackwardBytes = 0;
    for (const stream of this.streams) stream.dispose();
    this.onDispose();
  }

  /** The model's layers; 'disposed' once the model is. */
  live(): Layer[] {
    if (this.layers === null) throw new RnnError('disposed', 'This CPU model was disposed');
    return this.layers;
  }

  /** A Scratch for L steps over N elements. */
  scratch(L: number, N: number): Scratch {
    const { H, Hout, P, D } = this;
    const GH = this.cell.gates * H;
    const rows = L * N;
    return {
      L,
      order: new Int32Array(N),
      activeAt: new Int32Array(L),
      states: Array.from({ length: D }, () => {
        const h = new Float32Array(N * Hout);
        return { h, c: new Float32Array(this.lstm ? N * H : 0), h_cell: P > 0 ? new Float32Array(N * H) : h };
      }),
      projected: new Float32Array(rows * D * GH),
      outputs: Array.from({ length: this.numLayers - 1 }, () => new Float32Array(rows * D * Hout)),
      inputRows: Array.from({ length: this.numLayers }, (_, index) => strided(rows, index === 0 ? this.inputSize : D * Hout)),
      projectedRows: strided(rows, D * GH),
      zeroRows: new Int32Array(rows),
      gates: new Float32Array(N * GH),
      gateRows: strided(N, GH),
      hRows: strided(N, Hout),
      cellRows: strided(N, H),
      xRow: new Int32Array(N),
      savedRow: new Int32Array(N),
      noBias: new Float32Array(P),
    };
  }

  /**
   * The forward, from h0/c0 (a call's, or a stream's held states, only read) into fresh output, hN and
   * cN, every other buffer in `scratch`: forward, backward and a stream's push all run it. Each layer
   * reads the previous layer's (L, N, D·H_out) output. With `tapes`, each layer also records its
   * LayerTape there.
   */
  *run(
    layers: Layer[], { seqLen: L, batch: N, input, lengths }: StreamPlan, h0: Float32Array | null, c0: Float32Array | null,
    scratch: Scratch, tapes: LayerTape[] | null,
  ): Pieces<EngineResult> {
    const { H, Hout, P, D } = this;
    const DGH = D * this.cell.gates * H;
    // Fresh arrays for what the caller gets (small ones share a slab: a one-step push returns a few hundred floats).
    const [top, hN, cN] = resultArrays(L * N * D * Hout, layers.length * D * N * Hout, this.lstm ? layers.length * D * N * H : 0) as [Float32Array, Float32Array, Float32Array];
    const { order, activeAt, states, projected } = scratch;
    lengthOrder(L, N, lengths, order, activeAt);
    const rows = L * N;
    let x = input;
    let output = input; // every model has a layer: the top one's output replaces it
    for (let index = 0; index < layers.length; index++) {
      const layer = layers[index]!;
      // x_t·W_ihᵀ + b_ih + b_hh for every step and both directions at once: it does not depend on h.
      yield* gemmPieces(rows, DGH, layer.inputSize, x, scratch.inputRows[index]!, layer.W_ih, layer.b_folded, scratch.zeroRows, projected, scratch.projectedRows);
      output = index === layers.length - 1 ? top : scratch.outputs[index]!;
      for (let d = 0; d < D; d++) {
        const state = states[d]!;
        gatherRows(h0, (index * D + d) * N * Hout, Hout, order, state.h);
        if (this.lstm) gatherRows(c0, (index * D + d) * N * H, H, order, state.c);
      }
      let tape: LayerTape | null = null;
      if (tapes !== null) {
        tape = {
          x,
          h_prev: new Float32Array(rows * D * Hout),
          saved: new Float32Array(rows * D * this.cell.saved * H),
          h_cell: new Float32Array(P > 0 ? rows * D * H : 0),
        };
        tapes.push(tape);
      }
      yield* this.recur(layer, output, L, N, scratch, tape);
      // The states now hold h_n (and c_n): forward after step len_b−1, reverse after step 0.
      for (let d = 0; d < D; d++) {
        const state = states[d]!;
        scatterRows(state.h, Hout, order, hN, (index * D + d) * N * Hout);
        if (this.lstm) scatterRows(state.c, H, order, cN, (index * D + d) * N * H);
      }
      x = output;
    }
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
   * last step. With a tape, the step also records h_{t-1}, what the cell saves and (projected) its h.
   */
  private *recur(layer: Layer, output: Float32Array, L: number, N: number, scratch: Scratch, tape: LayerTape | null): Pieces {
    const { cell, H, Hout, P, D } = this;
    const GH = cell.gates * H;
    const S = cell.saved;
    const { order, activeAt, states, projected, gates, gateRows, hRows, cellRows, zeroRows, noBias, xRow, savedRow } = scratch;
    for (let step = 0; step < L; step++) {
      for (let d = 0; d < D; d++) {
        const t = d === 0 ? step : L - 1 - step;
        const active = activeAt[t]!;
        const { W_hh, b_hh_inside, W_hr } = layer.directions[d]!;
        const { h, c, h_cell } = states[d]!;
        for (let i = 0; i < active; i++) {
          const r = t * N + order[i]!;
          xRow[i] = r * D * GH + d * GH;
          savedRow[i] = (r * D + d) * S * H;
          if (tape !== null) copyRow(h, i * Hout, tape.h_prev, (r * D + d) * Hout, Hout);
        }
        // In pieces: at L one step is 30–130 MFLOP, longer than a slice.
        for (let first = 0; first < active; ) {
          first = gemmPiece(active, GH, Hout, h, hRows, W_hh, b_hh_inside, zeroRows, gates, gateRows, first);
          if (pieceEnds()) yield;
        }
        cell.update(active, H, projected, xRow, gates, h_cell, c, tape?.saved ?? null, savedRow);
        if (W_hr !== null) {
          if (tape !== null) for (let i = 0; i < active; i++) copyRow(h_cell, i * H, tape.h_cell, ((t * N + order[i]!) * D + d) * H, H);
          for (let first = 0; first < active; ) {
            first = gemmPiece(active, P, H, h_cell, cellRows, W_hr, noBias, zeroRows, h, hRows, first);
            if (pieceEnds()) yield;
          }
        }
        // Rows not running stay 0 in the output, as pad_packed_sequence pads.
        for (let i = 0; i < active; i++) copyRow(h, i * Hout, output, (t * N + order[i]!) * D * Hout + d * Hout, Hout);
      }
    }
  }

  /**
   * The layers from the top down. Each layer's output gradient is ∂L/∂output for the top one and the
   * input gradient of the layer above for the others; each layer gives back its weight gradients,
   * ∂L/∂h0 (∂L/∂c0) and ∂L/∂x. Memory: see the package README ("Training").
   */
  private *backpropagate(layers: Layer[], plan: BackwardPlan, { order, activeAt }: Scratch, tapes: LayerTape[]): Pieces<EngineGradients> {
    const { seqLen: L, batch: N, lengths, gradOutput, gradHN, gradCN } = plan;
    const { cell, H, Hout, P, D } = this;
    const DGH = D * cell.gates * H;
    const valid = validRows(L, N, lengths);
    const dh0 = new Float32Array(layers.length * D * N * Hout);
    const dc0 = new Float32Array(this.lstm ? layers.length * D * N * H : 0);
    const gradients: DirectionWeights[][] = new Array(layers.length);
    const states: GradState[] = Array.from({ length: D }, () => {
      const dh = new Float32Array(N * Hout);
      return { dh, dc: new Float32Array(this.lstm ? N * H : 0), dh_cell: P > 0 ? new Float32Array(N * H) : dh };
    });
    let tapeBytes = 0;
    let layerBytes = 0;
    let dOut = gradOutput;
    for (let index = layers.length - 1; index >= 0; index--) {
      const layer = layers[index]!;
      const tape = tapes[index]!;
      const I = layer.inputSize;
      // ∂L/∂(gate pre-activations) of every step: input side, and hidden side where it differs (GRU's n).
      const dgx = new Float32Array(L * N * DGH);
      const dgh = cell.hiddenBiasInside.length > 0 ? new Float32Array(L * N * DGH) : dgx;
      // ∂L/∂h_t of every step (the projected h), for dW_hr: with proj_size only.
      const dh_tape = new Float32Array(P > 0 ? L * N * D * P : 0);
      states.forEach((state, d) => {
        gatherRows(gradHN, (index * D + d) * N * Hout, Hout, order, state.dh);
        if (this.lstm) gatherRows(gradCN, (index * D + d) * N * H, H, order, state.dc);
      });
      yield* this.recurBackward(layer, tape, dOut, dgx, dgh, dh_tape, L, N, order, activeAt, states);
      states.forEach((state, d) => {
        scatterRows(state.dh, Hout, order, dh0, (index * D + d) * N * Hout);
        if (this.lstm) scatterRows(state.dc, H, order, dc0, (index * D + d) * N * H);
      });
      gradients[index] = yield* this.weightGradients(layer, tape, dgx, dgh, dh_tape, valid);
      // ∂L/∂x_t = dgx_t·W_ih for every running step and both directions at once; zero past each length.
      const dx = new Float32Array(L * N * I);
      const W_ihT = yield* transposed(layer.W_ih, DGH, I);
      yield* gemmPieces(valid.length, I, DGH, dgx, rowsOf(valid, DGH), W_ihT, new Float32Array(I), new Int32Array(valid.length), dx, rowsOf(valid, I));
      dOut = dx;
      tapeBytes += tape.h_prev.byteLength + tape.saved.byteLength + tape.h_cell.byteLength + (index > 0 ? tape.x.byteLength : 0);
      layerBytes = Math.max(layerBytes, dgx.byteLength + (dgh === dgx ? 0 : dgh.byteLength) + dh_tape.byteLength + dx.byteLength);
    }
    this.lastBackwardBytes = tapeBytes + layerBytes;
    return this.lstm ? { input: dOut!, h0: dh0, c0: dc0, layers: gradients } : { input: dOut!, h0: dh0, layers: gradients };
  }

  /**
   * The time loop of one layer run backwards, shared by every cell: the forward direction over
   * t = len_b−1…0, the reverse one over t = 0…len_b−1, both in the same loop. At each step, for the
   * running rows (the same prefix of the length order as forward):
   *
   *     dh_t += ∂L/∂output_t
   *     dh_cell = dh_t·W_hr                                      LSTM with proj_size only
   *     dgx, dgh, dc_{t-1}, dh_{t-1} (direct) = cell.backward(…)  pointwise, in place
   *     dh_{t-1} += dgh·W_hh                                      one GEMM for all G gates
   *
   * A row not running keeps its dh and dc: the forward direction's rows start from ∂L/∂h_n (∂L/∂c_n) at
   * their own last step, and every row ends holding ∂L/∂h0 (∂L/∂c0).
   */
  private *recurBackward(
    layer: Layer, tape: LayerTape, dOut: Float32Array | null, dgx: Float32Array, dgh: Float32Array, dh_tape: Float32Array,
    L: number, N: number, order: Int32Array, activeAt: Int32Array, states: GradState[],
  ): Pieces {
    const { cell, H, Hout, P, D } = this;
    const GH = cell.gates * H;
    const S = cell.saved;
    // dh·W_hh and dh·W_hr as gemmRowsBt, which multiplies by a transpose.
    const W_hhT: Float32Array[] = [];
    const W_hrT: (Float32Array | null)[] = [];
    for (const { W_hh, W_hr } of layer.directions) {
      W_hhT.push(yield* transposed(W_hh, GH, Hout));
      W_hrT.push(W_hr === null ? null : yield* transposed(W_hr, P, H));
    }
    const hRows = strided(N, Hout);
    const cellRows = strided(N, H);
    const zeroRows = new Int32Array(N);
    const zeros = new Float32Array(Math.max(H, Hout));
    const gateRow = new Int32Array(N);
    const savedRow = new Int32Array(N);
    const hPrevRow = new Int32Array(N);
    for (let step = L - 1; step >= 0; step--) {
      for (let d = 0; d < D; d++) {
        const t = d === 0 ? step : L - 1 - step;
        const active = activeAt[t]!;
        const W_hr = W_hrT[d]!;
        const { dh, dc, dh_cell } = states[d]!;
        for (let i = 0; i < active; i++) {
          const r = t * N + order[i]!;
          gateRow[i] = r * D * GH + d * GH;
          savedRow[i] = (r * D + d) * S * H;
          // h_prev, output and its gradient share the (L·N, D·H_out) layout.
          hPrevRow[i] = (r * D + d) * Hout;
          if (dOut !== null) for (let j = 0; j < Hout; j++) dh[i * Hout + j] += dOut[hPrevRow[i]! + j]!;
        }
        if (W_hr !== null) {
          for (let i = 0; i < active; i++) copyRow(dh, i * P, dh_tape, hPrevRow[i]!, P);
          for (let first = 0; first < active; ) {
            first = gemmPiece(active, H, P, dh, hRows, W_hr, zeros, zeroRows, dh_cell, cellRows, first);
            if (pieceEnds()) yield;
          }
        }
        cell.backward(active, H, tape.saved, savedRow, tape.h_prev, hPrevRow, dh_cell, dc, dgx, dgh, gateRow);
        // dh_{t-1} = its direct part (left in dh_cell, which is dh unless projected: then it is 0) + dgh·W_hh.
        for (let first = 0; first < active; ) {
          first = gemmPiece(active, Hout, GH, dgh, gateRow, W_hhT[d]!, W_hr === null ? dh : zeros, W_hr === null ? hRows : zeroRows, dh, hRows, first);
          if (pieceEnds()) yield;
        }
      }
    }
  }

  /**
   * A layer's weight gradients, each one GEMM over every running step (R rows) at once:
   *
   *     dW_ih = Σ_t dgx_tᵀ·x_t  (both directions together)   dW_hh = Σ_t dgh_tᵀ·h_{t-1}   dW_hr = Σ_t dh_tᵀ·h_cell_t
   *     db_ih = Σ_t dgx_t                                       db_hh = Σ_t dgh_t
   */
  private *weightGradients(layer: Layer, tape: LayerTape, dgx: Float32Array, dgh: Float32Array, dh_tape: Float32Array, valid: Int32Array): Pieces<DirectionWeights[]> {
    const { cell, H, Hout, P, D } = this;
    const GH = cell.gates * H;
    const DGH = D * GH;
    const I = layer.inputSize;
    const R = valid.length;
    const dW_ih = new Float32Array(DGH * I);
    yield* gemmAtB(R, DGH, I, dgx, rowsOf(valid, DGH), tape.x, rowsOf(valid, I), dW_ih);
    const db_ih = this.hasBias ? yield* sumRows(R, DGH, dgx, rowsOf(valid, DGH)) : null;
    const gradients: DirectionWeights[] = [];
    for (let d = 0; d < D; d++) {
      const { W_hr } = layer.directions[d]!;
      const gateRows = rowsOf(valid, DGH, d * GH);
      const dW_hh = new Float32Array(GH * Hout);
      yield* gemmAtB(R, GH, Hout, dgh, gateRows, tape.h_prev, rowsOf(valid, D * Hout, d * Hout), dW_hh);
      let dW_hr: Float32Array | null = null;
      if (W_hr !== null) {
        dW_hr = new Float32Array(P * H);
        yield* gemmAtB(R, P, H, dh_tape, rowsOf(valid, D * P, d * P), tape.h_cell, rowsOf(valid, D * H, d * H), dW_hr);
      }
      gradients.push({
        W_ih: dW_ih.slice(d * GH * I, (d + 1) * GH * I),
        W_hh: dW_hh,
        b_ih: db_ih === null ? null : db_ih.slice(d * GH, (d + 1) * GH),
        b_hh: this.hasBias ? yield* sumRows(R, GH, dgh, gateRows) : null,
        W_hr: dW_hr,
      });
    }
    return gradients;
  }
}

/** rows[i] = states[order[i]] for a (N, width) block of a state tensor starting at `start`; zeros for null. */
function gatherRows(states: Float32Array | null, start: number, width: number, order: Int32Array, rows: Float32Array): void {
  if (states === null) {
    rows.fill(0);
    return;
  }
  for (let i = 0; i < order.length; i++) copyRow(states, start + order[i]! * width, rows, i * width, width);
}

/** states[order[i]] = rows[i]: the inverse of gatherRows. */
function scatterRows(rows: Float32Array, width: number, order: Int32Array, states: Float32Array, start: number): void {
  for (let i = 0; i < order.length; i++) copyRow(rows, i * width, states, start + order[i]! * width, width);
}

/**
 * An engine-held stream: the h and c of every layer stay in arrays it owns between pushes. A push is the
 * model's own forward (CpuModel.run) from those states, paced with the push's signal like forward; its
 * h_n/c_n are copied in only when it completed, its signal has not fired and neither the stream nor the
 * model was disposed meanwhile, so a failed or aborted push leaves the states exactly as they were. Core
 * calls push one at a time, which lets the pushes share one Scratch, kept while the chunk length stays.
 */
class CpuStream implements EngineStream {
  private scratch: Scratch | null = null;

  /**
   * h: (numLayers·N, H_out) and c: (numLayers·N, H) (LSTM only, else null), the states the stream starts
   * from, now its own; both null once disposed. `onDispose` runs once, when the stream is disposed.
   */
  constructor(private readonly model: CpuModel, private h: Float32Array | null, private c: Float32Array | null, private readonly onDispose: () => void) {}

  async push(plan: StreamPlan): Promise<EngineResult> {
    const layers = this.model.live();
    const { h, c } = this;
    if (h === null) throw disposedStream();
    throwIfAborted(plan.signal, 'stream push');
    if (this.scratch?.L !== plan.seqLen) this.scratch = this.model.scratch(plan.seqLen, plan.batch);
    const result = await paced(plan.signal, this.model.run(layers, plan, h, c, this.scratch, null), 'stream push');
    // The commit: only a push that completed, for a live model and stream, whose signal has not fired.
    this.model.live();
    if (this.h !== h) throw disposedStream();
    throwIfAborted(plan.signal, 'stream push');
    h.set(result.hN);
    c?.set(result.cN!);
    return result;
  }

  dispose(): void {
    if (this.h === null) return;
    this.h = this.c = this.scratch = null;
    this.onDispose();
  }
}

const disposedStream = (): RnnError => new RnnError('disposed', 'This CPU stream was disposed');
