// For the fault pages of the engines' browser tests: calls aborted a few ms after they start, reported
// as plain data (a page's report crosses into Node as JSON).
import { isRnnError, type Gradients, type Tensor } from '@recurrent/core';

/** The code of an RnnError, or what else was thrown. */
export const errorCode = (error: unknown): string => (isRnnError(error) ? error.code : `not an RnnError: ${String(error)}`);

const tensors = (g: Gradients): Tensor[] => [g.input, g.h0, ...(g.c0 ? [g.c0] : []), ...Object.keys(g.weights).sort().map((name) => g.weights[name]!)];

/** Equal bit for bit (Object.is per value: NaNs and signed zeros count). */
export const sameBits = (a: Float32Array, b: Float32Array): boolean => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

/** Every gradient equal bit for bit. */
export function sameGradients(a: Gradients, b: Gradients): boolean {
  const [x, y] = [tensors(a), tensors(b)];
  return x.length === y.length && x.every((t, i) => sameBits(t.data, y[i]!.data));
}

/**
 * Six calls, aborted 2, 5, … 17 ms after each starts, and `exact()` after each: the distinct codes they
 * rejected with, whether the model stayed exact, and how long after its abort each call settled (ms).
 */
export async function abortTrials(call: (signal: AbortSignal) => Promise<unknown>, exact: () => Promise<boolean>) {
  const codes: string[] = [];
  const latencies: number[] = [];
  let exactAfterAbort = true;
  for (let trial = 0; trial < 6; trial++) {
    const controller = new AbortController();
    const delay = 2 + 3 * trial;
    const start = performance.now();
    setTimeout(() => controller.abort(), delay);
    codes.push(await call(controller.signal).then(() => 'resolved', errorCode));
    latencies.push(Math.round((performance.now() - start - delay) * 10) / 10);
    exactAfterAbort &&= await exact();
  }
  return { codes: [...new Set(codes)], exactAfterAbort, latencies };
}

/**
 * A model's backward (`backward(signal?)`, the same input and upstream gradients each call) aborted as
 * in abortTrials, each followed by one without a signal that must give the bits of the first; then
 * whether `forwardExact()` and `stats()` (any plain description of the engine's memory) are as before,
 * and what a signal that already fired gives. Timings in ms: a backward without a signal and with one
 * (both after a first that compiles and allocates), and how soon the fired signal rejected.
 */
export async function backwardAborts(backward: (signal?: AbortSignal) => Promise<Gradients>, stats: () => unknown, forwardExact: () => Promise<boolean>) {
  const round = (ms: number): number => Math.round(ms * 10) / 10;
  const gradients = await backward();
  let start = performance.now();
  await backward();
  const backwardMs = round(performance.now() - start);
  start = performance.now();
  await backward(new AbortController().signal);
  const signalledMs = round(performance.now() - start);
  const baseline = JSON.stringify(stats());
  const trials = await abortTrials(backward, async () => sameGradients(await backward(), gradients));
  start = performance.now();
  const alreadyAborted = await backward(AbortSignal.abort()).then(() => 'resolved', errorCode);
  const alreadyAbortedMs = round(performance.now() - start);
  return {
    ...trials,
    forwardExactAfterAbort: await forwardExact(),
    statsAfterAbort: JSON.stringify(stats()) === baseline,
    alreadyAborted,
    backwardMs,
    signalledMs,
    alreadyAbortedMs,
  };
}
