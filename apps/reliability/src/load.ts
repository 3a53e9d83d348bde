import { createLstm, initStateDict, randomTensorData, seededRandom, type Backend, type LstmConfig, type LstmResult, type Tensor } from '@recurrent/core';
import { createModel, forwardCall, int, randomValidCall, sameResult, type ValidCall } from './cases.js';

/** One stream's work: its initial states (or none) and its chunks, each of its own length. */
interface StreamPlan {
  hx?: [Tensor, Tensor];
  chunks: Tensor[];
}

/** The model every stream of the load test shares: an LSTM, the module with two carried states. */
export const STREAM_MODEL: LstmConfig = { inputSize: 3, hiddenSize: 6, projSize: 4, numLayers: 1 };
const N = 2;

function streamPlan(seed: number, pushes: number): StreamPlan {
  const random = seededRandom(seed);
  const { inputSize: I, hiddenSize: H, projSize: P, numLayers } = STREAM_MODEL;
  const state = (width: number, s: number): Tensor => ({ data: randomTensorData(numLayers! * N * width, s), shape: [numLayers!, N, width] });
  return {
    hx: random() < 0.5 ? [state(P!, seed * 7 + 1), state(H, seed * 7 + 2)] : undefined,
    chunks: Array.from({ length: pushes }, (_, k) => {
      const L = int(random, 1, 4);
      return { data: randomTensorData(L * N * I, seed * 7 + 3 + k, 2), shape: [L, N, I] };
    }),
  };
}

export interface StreamLoadResult {
  streams: number;
  pushes: number;
  /** Pushes whose concurrent result differed in any bit from the one-by-one result, as "stream i push k". */
  mismatches: string[];
  sequentialMs: number;
  concurrentMs: number;
}

/**
 * `streams` streams on one model, each pushing its `pushes` chunks: first one stream at a time, then all
 * at once (half of them awaiting each push, half queueing all their pushes without waiting). Every
 * concurrent push must give exactly the bits of the same push run alone.
 */
export async function concurrentStreams(backend: Backend, streams: number, pushes: number): Promise<StreamLoadResult> {
  const model = await createLstm(STREAM_MODEL, initStateDict(STREAM_MODEL, 31, 'lstm'), backend);
  const plans = Array.from({ length: streams }, (_, i) => streamPlan(1000 + i, pushes));
  let start = performance.now();
  const sequential: LstmResult[][] = [];
  for (const plan of plans) {
    const stream = model.stream(plan.hx);
    const results: LstmResult[] = [];
    for (const chunk of plan.chunks) results.push(await stream.push(chunk));
    stream.dispose();
    sequential.push(results);
  }
  const sequentialMs = performance.now() - start;
  start = performance.now();
  const concurrent = await Promise.all(plans.map(async (plan, i) => {
    const stream = model.stream(plan.hx);
    const results = i % 2 === 0
      ? await Promise.all(plan.chunks.map((chunk) => stream.push(chunk)))
      : await (async () => {
        const out: LstmResult[] = [];
        for (const chunk of plan.chunks) out.push(await stream.push(chunk));
        return out;
      })();
    stream.dispose();
    return results;
  }));
  const concurrentMs = performance.now() - start;
  model.dispose();
  const mismatches: string[] = [];
  concurrent.forEach((results, i) => results.forEach((result, k) => {
    if (!sameResult(result, sequential[i]![k]!)) mismatches.push(`stream ${i} push ${k}`);
  }));
  return { streams, pushes, mismatches, sequentialMs, concurrentMs };
}

export interface SpreadResult {
  calls: number;
  /** Calls per engine name. */
  perEngine: Record<string, number>;
  mismatches: string[];
}

/** The same shapes as `call`, other values. */
function varied(call: ValidCall, seed: number): ValidCall {
  const vary = (t: Tensor, s: number, scale = 1): Tensor => ({ data: randomTensorData(t.data.length, s, scale), shape: t.shape });
  const hx = call.hx === undefined ? undefined : Array.isArray(call.hx) ? [vary(call.hx[0], seed + 1), vary(call.hx[1], seed + 2)] as [Tensor, Tensor] : vary(call.hx, seed + 1);
  return { ...call, input: vary(call.input, seed, 3), hx };
}

/**
 * `calls` forwards spread over the engines in this one process: call i runs on engine i mod E, on one
 * of that engine's three models (an RNN, an LSTM and a GRU, with states and lengths), each call with its
 * own input and states. Run one by one, then all at once: every result must be the same bits.
 */
export async function spreadForwards(backends: { name: string; backend: Backend }[], calls: number): Promise<SpreadResult> {
  // 77 is an RNN, 79 an LSTM, 80 a GRU (seed % 3), each with initial states.
  const shapes = [77, 79, 80].map((seed) => randomValidCall(seed));
  const models = await Promise.all(backends.map(({ backend }) => Promise.all(shapes.map((c) => createModel(c.mode, c.config, c.weights, backend)))));
  const work = Array.from({ length: calls }, (_, i) => {
    const engine = i % backends.length;
    const which = Math.floor(i / backends.length) % shapes.length;
    return { engine, model: models[engine]![which]!, call: varied(shapes[which]!, 9000 + 10 * i) };
  });
  const sequential: Awaited<ReturnType<typeof forwardCall>>[] = [];
  for (const { model, call } of work) sequential.push(await forwardCall(model, call));
  const concurrent = await Promise.all(work.map(({ model, call }) => forwardCall(model, call)));
  models.flat().forEach((model) => model.dispose());
  const perEngine: Record<string, number> = {};
  for (const { engine } of work) perEngine[backends[engine]!.name] = (perEngine[backends[engine]!.name] ?? 0) + 1;
  const mismatches = concurrent.flatMap((result, i) => (sameResult(result, sequential[i]!) ? [] : [`call ${i} on ${backends[work[i]!.engine]!.name}`]));
  return { calls, perEngine, mismatches };
}
