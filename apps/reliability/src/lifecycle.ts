import { createLstm, initStateDict, seededRandom, type Backend } from '@recurrent/core';
import { createModel, forwardCall, randomValidCall } from './cases.js';
import { STREAM_MODEL } from './load.js';
import { ABORT_AFTER_MS, INPUT, outcome, streamModel, tensor, type StreamSize } from './streams.js';

const collect = () => (globalThis as { gc?: () => void }).gc?.();
const heapUsed = () => {
  collect();
  collect();
  return process.memoryUsage().heapUsed;
};

export interface LifecycleResult {
  heapBefore: number;
  heapAfter: number;
  /** Engine-reported memory (WASM linear memory bytes, live GPU buffers…) before and after. */
  engineBefore: Record<string, number>;
  engineAfter: Record<string, number>;
  flat: boolean;
  summary: string;
}

/** Allowed heap drift over the whole run: well below what one leaked model per cycle would cost. */
const HEAP_SLACK_BYTES = 4 * 1024 * 1024;

/**
 * create → forward → dispose, `cycles` times, on a few model shapes. Measures after a warm-up, so
 * one-time caches (compiled code, pipelines) count as baseline, not as a leak.
 */
export async function runLifecycles(backend: Backend, cycles: number): Promise<LifecycleResult> {
  // Six seeds: two of each module (seed % 3 picks RNN, LSTM, GRU).
  const calls = [1, 2, 3, 4, 5, 6].map((seed) => randomValidCall(seed));
  const cycle = async (i: number) => {
    const call = calls[i % calls.length]!;
    const model = await createModel(call.mode, call.config, call.weights, backend);
    await forwardCall(model, call);
    model.dispose();
  };
  for (let i = 0; i < 20; i++) await cycle(i);
  const heapBefore = heapUsed();
  const engineBefore = backend.stats?.() ?? {};
  for (let i = 0; i < cycles; i++) await cycle(i);
  const heapAfter = heapUsed();
  const engineAfter = backend.stats?.() ?? {};
  return measured(heapBefore, heapAfter, engineBefore, engineAfter);
}

function measured(heapBefore: number, heapAfter: number, engineBefore: Record<string, number>, engineAfter: Record<string, number>): LifecycleResult {
  const engineFlat = Object.keys(engineBefore).every((key) => engineAfter[key] === engineBefore[key]);
  const flat = heapAfter - heapBefore < HEAP_SLACK_BYTES && engineFlat;
  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MB`;
  const engine = Object.keys(engineBefore).map((key) => `${key} ${engineBefore[key]} → ${engineAfter[key]}`).join(', ');
  return {
    heapBefore, heapAfter, engineBefore, engineAfter, flat,
    summary: `Node heap ${mb(heapBefore)} → ${mb(heapAfter)} (${heapAfter >= heapBefore ? '+' : ''}${mb(heapAfter - heapBefore)})${engine ? `; ${engine}` : ''}; ${flat ? 'flat' : 'GROWING'}`,
  };
}

export interface StreamLifecycleResult extends LifecycleResult {
  /** Calls that did not end as they must, in words. */
  failures: string[];
  /** How the pushes still running when their stream or model was disposed ended, e.g. { ok: 1, disposed: 1 }. */
  midPush: Record<string, number>;
  /** backend.stats() while all the streams were open (each had pushed once). */
  engineOpen: Record<string, number>;
}

const shuffled = <T>(random: () => number, items: T[]): T[] => {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
};
const nextTask = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Streams opened, pushed and disposed: one pass is
 *  1. a model of `size` (its long push takes ≥ ~50 ms) with three open streams: one disposed in the middle
 *     of a long push, then the model disposed while another is in the middle of one and the third is idle;
 *     pushes on all three (and model.stream()) then end in 'disposed', and the streams are disposed after
 *     their model;
 *  2. `streams` streams of one small LSTM, all opened at once, then in random order disposed idle, disposed
 *     right after a push was queued, pushed again and disposed, or left open; then the model is disposed
 *     while those left open have a push in flight, and they are disposed after it.
 * After a warm-up pass (the same calls, a tenth of the streams), one pass must leave the Node heap and
 * `backend.stats()` exactly where they were: nothing a stream held on the engine outlives its stream or
 * its model.
 */
export async function runStreamLifecycles(backend: Backend, streams: number, size: StreamSize): Promise<StreamLifecycleResult> {
  const failures: string[] = [];
  const midPush: Record<string, number> = {};
  let engineOpen: Record<string, number> = {};
  const expectCode = async (what: string, call: Promise<unknown>, codes: string[]) => {
    const got = await outcome(call);
    if (!codes.includes(got)) failures.push(`${what}: ${got}, expected ${codes.join(' or ')}`);
    return got;
  };
  const expectThrows = (what: string, call: () => unknown, code: string) => expectCode(what, (async () => call())(), [code]);

  async function disposedMidPush(): Promise<void> {
    const N = size.batch;
    const { config, hx } = streamModel('lstm', size.hiddenSize, N, 5);
    const model = await createModel('lstm', config, initStateDict(config, 5, 'lstm'), backend);
    const short = tensor([1, N, INPUT], 6);
    const long = tensor([Math.ceil(size.longSteps / 2), N, INPUT], 7);
    const [a, b, c] = [model.stream(hx), model.stream(), model.stream(hx)];
    await Promise.all([a, b, c].map((s) => s.push(short)));
    /** A long push still running ABORT_AFTER_MS after it was made, when `dispose` comes; then its outcome. */
    const disposeDuring = async (what: string, stream: typeof a, dispose: () => void) => {
      // A signal that never fires: with one, the CPU and WASM engines run a long push in slices.
      const push = { settled: false, promise: stream.push(long, { signal: new AbortController().signal }) };
      push.promise.finally(() => (push.settled = true)).catch(() => {});
      await nextTask(ABORT_AFTER_MS);
      const running = !push.settled;
      dispose();
      const got = await expectCode(`long push running when its ${what}`, push.promise, ['ok', 'disposed']);
      if (running) midPush[`${what}: ${got}`] = (midPush[`${what}: ${got}`] ?? 0) + 1;
    };
    await disposeDuring('stream was disposed', a, () => a.dispose());
    await expectCode('push on a disposed stream', a.push(short), ['disposed']);
    await disposeDuring('model was disposed', b, () => model.dispose());
    await expectCode('push on a stream whose model was disposed mid-push', b.push(short), ['disposed']);
    await expectCode('push on an idle stream of a disposed model', c.push(short), ['disposed']);
    await expectThrows('stream() on a disposed model', () => model.stream(), 'disposed');
    // Streams disposed after their model (twice for one) give back nothing twice.
    [a, b, c, a].forEach((s) => s.dispose());
  }

  async function manyStreams(seed: number, count: number): Promise<void> {
    const random = seededRandom(seed);
    const model = await createLstm(STREAM_MODEL, initStateDict(STREAM_MODEL, 31, 'lstm'), backend);
    const chunk = (s: number) => tensor([1 + (s % 3), 2, STREAM_MODEL.inputSize], s);
    const all = Array.from({ length: count }, () => model.stream());
    await Promise.all(shuffled(random, all).map((s, i) => s.push(chunk(i))));
    engineOpen = backend.stats?.() ?? {};
    const settling: Promise<unknown>[] = [];
    const leftOpen: typeof all = [];
    for (const [i, s] of shuffled(random, all).entries()) {
      const fate = random();
      if (fate < 1 / 4) s.dispose();
      else if (fate < 2 / 4) {
        // Queued before the dispose: it may run or be dropped, never anything else.
        settling.push(expectCode('push queued just before its stream was disposed', s.push(chunk(i)), ['ok', 'disposed']));
        s.dispose();
      } else if (fate < 3 / 4) {
        settling.push(expectCode('push on an open stream', s.push(chunk(i)), ['ok']).then(() => s.dispose()));
      } else leftOpen.push(s);
    }
    await Promise.all(settling);
    // The model goes while the streams left open have a push in flight; they are disposed after it.
    const inFlight = leftOpen.map((s, i) => expectCode('push in flight when its model was disposed', s.push(chunk(i)), ['ok', 'disposed']));
    model.dispose();
    leftOpen.forEach((s) => s.dispose());
    await Promise.all(inFlight);
  }

  const pass = async (count: number) => {
    await disposedMidPush();
    await manyStreams(17, count);
    // Core disposes an engine stream once the pushes queued on it have settled.
    await nextTask();
  };
  // The warm-up builds what an engine keeps for a model's shapes (compiled pipelines), with fewer streams.
  await pass(Math.ceil(streams / 10));
  failures.length = 0;
  for (const key of Object.keys(midPush)) delete midPush[key];
  const heapBefore = heapUsed();
  const engineBefore = backend.stats?.() ?? {};
  await pass(streams);
  const heapAfter = heapUsed();
  const engineAfter = backend.stats?.() ?? {};
  return { ...measured(heapBefore, heapAfter, engineBefore, engineAfter), failures, midPush, engineOpen };
}
