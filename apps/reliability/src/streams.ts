import { initStateDict, isRnnError, randomTensorData, type Backend, type ForwardOptions, type Mode, type Tensor } from '@recurrent/core';
import { createModel, sameResult, type AnyConfig, type AnyModel, type InitialState } from './cases.js';

type Result = Awaited<ReturnType<AnyModel['forward']>>;

/** A model whose long push takes ≥ ~50 ms on its engine, so that an abort can land in the middle of it. */
export interface StreamSize {
  hiddenSize: number;
  batch: number;
  /** Steps of the long push. */
  longSteps: number;
}

/**
 * Per engine, the long push of the 2-layer models below (RNN, LSTM, GRU) took, on the shared 2-core
 * machine under load (Node 20; WebGPU on SwiftShader): cpu 300 steps at H128 N4, 90–240 ms; wasm 500 steps
 * at H256 N8, 80–270 ms over its four variants (this size splits each step over 2 threads: N·G·H·H_out ≥
 * 131,072); webgpu 80 steps at H64 N4, 170–470 ms over its two kernels. The LSTM's push of half as many
 * steps (the stream lifecycle's) took ≥ 80 ms everywhere. Every engine runs a push with a signal in blocks
 * of ~10 ms or less, so an abort ABORT_AFTER_MS in lands in the middle.
 */
export function streamSize(engine: string): StreamSize {
  if (engine.startsWith('wasm')) return { hiddenSize: 256, batch: 8, longSteps: 500 };
  if (engine.startsWith('webgpu')) return { hiddenSize: 64, batch: 4, longSteps: 80 };
  return { hiddenSize: 128, batch: 4, longSteps: 300 };
}

/** The abort of a long push fires this long after the push was made: after the engine started, well before it ends. */
export const ABORT_AFTER_MS = 20;
export const INPUT = 32;

export const tensor = (shape: number[], seed: number, scale = 1): Tensor => ({ data: randomTensorData(shape.reduce((a, b) => a * b, 1), seed, scale), shape });

/** A 2-layer unidirectional model of `mode` (LSTM with projSize), and initial states for batch N. */
export function streamModel(mode: Mode, hiddenSize: number, N: number, seed: number): { config: AnyConfig; hx: InitialState } {
  const config: AnyConfig = { inputSize: INPUT, hiddenSize, numLayers: 2, ...(mode === 'lstm' ? { projSize: hiddenSize >> 1 } : {}) };
  const Hout = config.projSize || hiddenSize;
  const h0 = tensor([2, N, Hout], seed + 1);
  return { config, hx: mode === 'lstm' ? [h0, tensor([2, N, hiddenSize], seed + 2)] : h0 };
}

/** 'ok', the RnnError code a call ended in, or the name and message of anything else it threw. */
export async function outcome(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'ok';
  } catch (error) {
    return isRnnError(error) ? error.code : `${(error as Error)?.name}: ${(error as Error)?.message}`;
  }
}

function describeDifference(got: Result, expected: Result): string {
  let max = 0;
  for (const key of ['output', 'hN', 'cN'] as const) {
    const [a, b] = [got[key], expected[key]];
    if (a === undefined || b === undefined || a.data.length !== b.data.length) return `${key} missing or of another size`;
    for (let i = 0; i < a.data.length; i++) max = Math.max(max, Math.abs(a.data[i]! - b.data[i]!));
  }
  return `max |a − b| ${max.toExponential(2)}`;
}

export interface InterruptedPushes {
  /** Everything that was not as it must be, in words. */
  failures: string[];
  /** Per long push aborted mid-way: ms from the push to its rejection. */
  abortedAfterMs: number[];
}

/**
 * A stream whose pushes are aborted (before the call, mid-way through a long push, while queued) or
 * refused (wrong batch, features, lengths, options) must go on exactly (every bit) as a stream on the same
 * model that never saw those pushes: a failed push leaves the states as they were. Pushes queued behind
 * an aborted one run from the states it left, and another stream pushing meanwhile is untouched.
 * The first push of the stream (which opens it on the engine) is one of the aborted ones.
 */
export async function interruptedPushes(backend: Backend, mode: Mode, size: StreamSize, seed = 1): Promise<InterruptedPushes> {
  const N = size.batch;
  const { config, hx } = streamModel(mode, size.hiddenSize, N, seed);
  const model = await createModel(mode, config, initStateDict(config, seed, mode), backend);
  const chunk = (L: number, s: number): Tensor => tensor([L, N, INPUT], seed * 100 + s, 2);
  const long = chunk(size.longSteps, 0);
  const ragged = Array.from({ length: N }, (_, b) => Math.max(1, size.longSteps - 7 * b));
  // The pushes both streams make, with their options: lengths where elements end at different steps.
  const pushes: [Tensor, ForwardOptions | undefined][] = [
    [chunk(3, 1), undefined],
    [chunk(2, 2), { lengths: Array.from({ length: N }, (_, b) => 1 + (b % 2)) }],
    [chunk(1, 3), undefined],
    [chunk(4, 4), { lengths: Array.from({ length: N }, (_, b) => 4 - (b % 4)) }],
  ];
  // Last (LSTM only, to save time), the long push again, left to finish: the engine's buffers for its
  // length saw an aborted push.
  if (mode === 'lstm') pushes.push([long, { lengths: ragged }]);
  const reference = model.stream(hx);
  const expected: Result[] = [];
  for (const [input, options] of pushes) expected.push(await reference.push(input, options));
  reference.dispose();

  const failures: string[] = [];
  const abortedAfterMs: number[] = [];
  const stream = model.stream(hx);
  const expectCode = async (what: string, call: Promise<unknown>, code: string) => {
    const got = await outcome(call);
    if (got !== code) failures.push(`${what}: ${got}, expected ${code}`);
  };
  const expectSame = async (what: string, k: number, call: Promise<Result>) => {
    try {
      const got = await call;
      if (!sameResult(got, expected[k]!)) failures.push(`${what}: push ${k + 1} differs from the stream that never saw the failed pushes (${describeDifference(got, expected[k]!)})`);
    } catch (error) {
      failures.push(`${what}: push ${k + 1} threw ${(error as Error)?.message}`);
    }
  };
  /** A long push with a signal that fires ABORT_AFTER_MS later; `also` fire with it. */
  const abortedMidway = (what: string, options: ForwardOptions, also: AbortController[] = []) => {
    const controller = new AbortController();
    const start = performance.now();
    const timer = new Promise<void>((resolve) => setTimeout(() => {
      controller.abort();
      also.forEach((c) => c.abort());
      resolve();
    }, ABORT_AFTER_MS));
    const pushed = stream.push(long, { ...options, signal: controller.signal });
    return Promise.all([expectCode(what, pushed.finally(() => abortedAfterMs.push(performance.now() - start)), 'aborted'), timer]);
  };

  // The very first push (it opens the stream on the engine) is aborted mid-way, then one before the call.
  await abortedMidway('first push, aborted mid-way', {});
  await expectCode('push with a signal aborted before the call', stream.push(pushes[0]![0], { signal: AbortSignal.abort() }), 'aborted');
  const [I, L] = [INPUT, 3];
  const refused: [string, Tensor, unknown, string][] = [
    ['another batch', tensor([L, N + 1, I], 7), undefined, 'shape'],
    ['other features', tensor([L, N, I + 1], 8), undefined, 'shape'],
    ['unbatched', tensor([L, I], 9), undefined, 'shape'],
    ['a length past the chunk', tensor([L, N, I], 10), { lengths: Array.from({ length: N }, (_, b) => (b === N - 1 ? L + 1 : L)) }, 'lengths'],
    ['a length of 0', tensor([L, N, I], 11), { lengths: Array.from({ length: N }, (_, b) => (b === 0 ? 0 : L)) }, 'lengths'],
    ['one length too few', tensor([L, N, I], 12), { lengths: Array.from({ length: N - 1 }, () => L) }, 'lengths'],
    ['a signal that is not one', tensor([L, N, I], 13), { signal: {} }, 'type'],
  ];
  for (const [what, input, options, code] of refused) await expectCode(`push of ${what}`, stream.push(input, options as ForwardOptions), code);
  await expectSame('after aborted and refused pushes', 0, stream.push(...pushes[0]!));

  // A long push with lengths aborted mid-way, with pushes queued behind it: one that must run from the
  // states it left, one whose own signal fires while it waits, then another. Another stream of the model
  // pushes while it runs: the abort must not touch that one either.
  const waiting = new AbortController();
  const aborted = abortedMidway('long push with lengths, aborted mid-way', { lengths: ragged }, [waiting]);
  const bystander = model.stream(hx);
  const queued = [
    expectSame('another stream of the model, pushing while the long push runs', 0, bystander.push(...pushes[0]!)),
    expectSame('queued behind an aborted push', 1, stream.push(...pushes[1]!)),
    expectCode('queued push whose signal fired while it waited', stream.push(pushes[2]![0], { signal: waiting.signal }), 'aborted'),
    expectSame('queued behind an aborted push and an aborted queued one', 2, stream.push(...pushes[2]!)),
  ];
  await Promise.all([aborted, ...queued]);
  await expectSame('after the aborted pushes', 3, stream.push(...pushes[3]!));
  if (pushes.length > 4) await expectSame('the long push, not aborted this time', 4, stream.push(...pushes[4]!));
  bystander.dispose();
  stream.dispose();
  model.dispose();
  return { failures, abortedAfterMs };
}

/** A chunk (L, N, I), time-major, and the lengths of its push (undefined: every element runs all L steps). */
interface Piece {
  input: Tensor;
  lengths?: number[];
}

const steps = (piece: Piece, b: number): number => piece.lengths?.[b] ?? piece.input.shape[0]!;

/** Steps [from, to) of a time-major (L, N, W) array. */
const stepRange = (t: Tensor, from: number, to: number): Tensor => {
  const row = t.shape[1]! * t.shape[2]!;
  return { data: t.data.slice(from * row, to * row), shape: [to - from, t.shape[1]!, t.shape[2]!] };
};

/**
 * The same push fed in smaller chunks: one-step pushes while every element still runs (before its
 * shortest length), then the rest with the lengths that remain.
 */
function finer(piece: Piece): Piece[] {
  const [L, N] = piece.input.shape as [number, number];
  const shortest = Math.min(...Array.from({ length: N }, (_, b) => steps(piece, b)));
  const cuts = Array.from({ length: shortest - 1 }, (_, t): Piece => ({ input: stepRange(piece.input, t, t + 1) }));
  const rest = stepRange(piece.input, shortest - 1, L);
  return [...cuts, { input: rest, ...(piece.lengths ? { lengths: piece.lengths.map((l) => l - (shortest - 1)) } : {}) }];
}

/** The same pieces with other values past each element's length (padding a push must ignore). */
function repadded(pieces: Piece[], seed: number): Piece[] {
  return pieces.map((piece, k) => {
    const [L, N, I] = piece.input.shape as [number, number, number];
    const noise = randomTensorData(L * N * I, seed + k, 5);
    const data = piece.input.data.slice();
    for (let t = 0; t < L; t++) for (let b = 0; b < N; b++) if (t >= steps(piece, b)) data.set(noise.subarray((t * N + b) * I, (t * N + b + 1) * I), (t * N + b) * I);
    return { ...piece, input: { data, shape: piece.input.shape } };
  });
}

async function pushAll(model: AnyModel, hx: InitialState, pieces: Piece[]): Promise<Result[]> {
  const stream = model.stream(hx);
  const results: Result[] = [];
  for (const { input, lengths } of pieces) results.push(await stream.push(input, lengths ? { lengths } : undefined));
  stream.dispose();
  return results;
}

/** Results of consecutive pushes as one: outputs joined along time, the last push's states. */
function joined(results: Result[]): Result {
  const last = results[results.length - 1]!;
  const [, N, W] = last.output.shape as [number, number, number];
  const L = results.reduce((sum, r) => sum + r.output.shape[0]!, 0);
  const data = new Float32Array(L * N * W);
  let at = 0;
  for (const r of results) {
    data.set(r.output.data, at);
    at += r.output.data.length;
  }
  return { output: { data, shape: [L, N, W] }, hN: last.hN, ...(last.cN ? { cN: last.cN } : {}) };
}

export interface RaggedStreams {
  failures: string[];
  /** max |a − b| between the stream and forward over each element's whole sequence (0: the same bits). */
  forwardDifference: number;
}

/**
 * A batch streamed with lengths, its elements ending at different steps of a push and going on in the next
 * one, must give the same bits whether the pushes are cut finer or the padding holds other values, and
 * (PyTorch's semantics: each element's sequence is what it ran, push after push) the values of forward over
 * each element's whole sequence with its total length, zeros past each push's lengths. No later call
 * changes a result already returned.
 */
export async function raggedStreams(backend: Backend, mode: Mode, seed = 2): Promise<RaggedStreams> {
  const N = 4;
  const { config, hx } = streamModel(mode, 8, N, seed);
  const model = await createModel(mode, config, initStateDict(config, seed, mode), backend);
  const piece = (L: number, s: number, lengths?: number[]): Piece => ({ input: tensor([L, N, INPUT], seed * 100 + s, 2), ...(lengths ? { lengths } : {}) });
  // Two pushes of 3 steps, the second with lengths: its padding must be zeros, whatever the first left.
  const pieces = [piece(6, 1, [6, 3, 5, 4]), piece(4, 2, [1, 4, 2, 4]), piece(3, 3), piece(3, 5, [1, 3, 2, 3]), piece(5, 4, [2, 5, 5, 3])];
  const failures: string[] = [];
  const streamed = await pushAll(model, hx, pieces);
  // Copies, to prove at the end that no later call changed a result already returned.
  const copies = streamed.map((r) => ({ output: { ...r.output, data: r.output.data.slice() }, hN: { ...r.hN, data: r.hN.data.slice() }, ...(r.cN ? { cN: { ...r.cN, data: r.cN.data.slice() } } : {}) }));

  const fine = pieces.map(finer);
  const fineResults = await pushAll(model, hx, fine.flat());
  let next = 0;
  fine.forEach(({ length: count }, k) => {
    const together = joined(fineResults.slice(next, next + count));
    if (!sameResult(together, streamed[k]!)) failures.push(`push ${k + 1} fed in ${count} pushes differs (${describeDifference(together, streamed[k]!)})`);
    next += count;
  });
  const repaddedResults = await pushAll(model, hx, repadded(pieces, seed * 1000));
  repaddedResults.forEach((r, k) => {
    if (!sameResult(r, streamed[k]!)) failures.push(`push ${k + 1} with other padding differs (${describeDifference(r, streamed[k]!)})`);
  });

  // Each element's whole sequence: what it ran in every push, one after the other.
  const totals = Array.from({ length: N }, (_, b) => pieces.reduce((sum, p) => sum + steps(p, b), 0));
  const T = Math.max(...totals);
  const whole = new Float32Array(T * N * INPUT);
  const at = new Array<number>(N).fill(0);
  const offsets = pieces.map(() => new Array<number>(N).fill(0));
  pieces.forEach((p, k) => {
    for (let b = 0; b < N; b++) {
      offsets[k]![b] = at[b]!;
      for (let t = 0; t < steps(p, b); t++) whole.set(p.input.data.subarray((t * N + b) * INPUT, (t * N + b + 1) * INPUT), ((at[b]! + t) * N + b) * INPUT);
      at[b]! += steps(p, b);
    }
  });
  const forward = await model.forward({ data: whole, shape: [T, N, INPUT] }, hx, { lengths: totals });
  model.dispose();
  // What the pushes must have given, from forward: its outputs cut at each push's steps, zeros past each length.
  const W = forward.output.shape[2]!;
  let forwardDifference = 0;
  pieces.forEach((p, k) => {
    const L = p.input.shape[0]!;
    const got = streamed[k]!.output.data;
    for (let t = 0; t < L; t++) {
      for (let b = 0; b < N; b++) {
        for (let w = 0; w < W; w++) {
          const want = t < steps(p, b) ? forward.output.data[((offsets[k]![b]! + t) * N + b) * W + w]! : 0;
          forwardDifference = Math.max(forwardDifference, Math.abs(got[(t * N + b) * W + w]! - want));
        }
      }
    }
  });
  const last = streamed[streamed.length - 1]!;
  for (const key of ['hN', 'cN'] as const) {
    const [a, b] = [last[key]?.data, forward[key]?.data];
    if (a === undefined || b === undefined) continue;
    for (let i = 0; i < a.length; i++) forwardDifference = Math.max(forwardDifference, Math.abs(a[i]! - b[i]!));
  }
  streamed.forEach((r, k) => {
    if (!sameResult(r, copies[k]!)) failures.push(`push ${k + 1}: its result changed after later calls (${describeDifference(r, copies[k]!)})`);
  });
  return { failures, forwardDifference };
}
