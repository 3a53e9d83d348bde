import { runInSlices } from '@recurrent/core';

/**
 * Long work written as a generator that yields between pieces of bounded size: a step of the time loop,
 * a block of GEMM rows. The same generator runs both ways, so the result is the same bits either way:
 * without a signal, all at once and synchronously; with one, in slices that let the event loop run
 * between them, so that an abort can fire at all (`paced`).
 */
export type Pieces<T = void> = Generator<void, T, void>;

/**
 * About 1 MFLOP: a quarter to one millisecond on this engine (≈ 4 GFLOP/s on one core, less on a
 * loaded machine). GEMMs are cut into pieces of rows this big (at least 4 rows, the kernel's block).
 */
export const PIECE_FLOPS = 2 ** 20;

/**
 * How long a slice runs before yielding to the event loop. Measured in time, not FLOPs: a busy machine
 * runs the same FLOPs several times slower, and the slice bounds how late an abort is noticed.
 */
export const SLICE_MS = 10;

/** With a signal, in slices that an abort can stop; without one, at once (core's runInSlices). */
export function paced<T>(signal: AbortSignal | null | undefined, work: Pieces<T>, what: string): Promise<T> {
  return runInSlices(work, signal, what, SLICE_MS);
}

let sinceLastPiece = 0;

/** Counts work done since the last piece ended (see pieceEnds). */
export function countWork(flops: number): void {
  sinceLastPiece += flops;
}

/**
 * Whether about PIECE_FLOPS have been done since the last piece ended: then the caller yields, so small
 * steps yield once per PIECE_FLOPS, not once each. One count for every call: interleaved calls only make
 * a piece end a little early or late, which changes no result.
 */
export function pieceEnds(): boolean {
  if (sinceLastPiece < PIECE_FLOPS) return false;
  sinceLastPiece = 0;
  return true;
}

/** Rows of a GEMM piece: about PIECE_FLOPS of (2·cols·K per row), a multiple of the kernel's 4 rows. */
export function rowsPerPiece(cols: number, K: number): number {
  return Math.max(4, Math.floor(PIECE_FLOPS / (2 * cols * K) / 4) * 4);
}
