import { initStateDict, randomTensorData, seededRandom, type Backend, type Tensor } from '@recurrent/core';
import { createModel, forwardCall, int, pick, sameResult, type AnyConfig, type ValidCall } from './cases.js';

/**
 * Calls big enough that the WASM engine splits each step over its threads (N·G·H·H_out ≥ THREADED_WORK
 * = 131,072) and that every engine runs long reductions; one per module, with states and lengths.
 */
export function wideCalls(): ValidCall[] {
  const make = (seed: number, mode: ValidCall['mode'], hiddenSize: number, extra: Partial<AnyConfig> = {}): ValidCall => {
    const config: AnyConfig = { inputSize: 40, hiddenSize, numLayers: 2, bidirectional: true, ...extra };
    const [L, N] = [10, 4];
    const D = 2;
    const Hout = config.projSize || hiddenSize;
    const state = (width: number, s: number): Tensor => ({ data: randomTensorData(D * 2 * N * width, s), shape: [D * 2, N, width] });
    return {
      mode, config, weights: initStateDict(config, seed, mode),
      input: { data: randomTensorData(L * N * 40, seed + 1, 2), shape: [L, N, 40] },
      hx: mode === 'lstm' ? [state(Hout, seed + 2), state(hiddenSize, seed + 3)] : state(hiddenSize, seed + 2),
      lengths: [10, 7, 10, 3],
    };
  };
  return [make(1, 'rnn', 256), make(2, 'lstm', 128, { projSize: 96 }), make(3, 'gru', 128)];
}

/** Runs each call `times` times on one backend (a fresh model each time, then one model again and again): any bit that moves is a mismatch. */
export async function repeatRuns(backend: Backend, calls: ValidCall[], times: number): Promise<string[]> {
  const mismatches: string[] = [];
  for (const [i, call] of calls.entries()) {
    const model = await createModel(call.mode, call.config, call.weights, backend);
    const first = await forwardCall(model, call);
    for (let run = 1; run < times; run++) {
      const again = run % 2 === 0 ? await forwardCall(model, call) : await (async () => {
        const fresh = await createModel(call.mode, call.config, call.weights, backend);
        try { return await forwardCall(fresh, call); } finally { fresh.dispose(); }
      })();
      if (!sameResult(first, again)) mismatches.push(`call ${i} (${call.mode}) run ${run}`);
    }
    model.dispose();
  }
  return mismatches;
}

/** A random model with long reductions (I and H up to 128), where last-bit differences between kernels show. */
export function randomWideCall(seed: number): ValidCall {
  const random = seededRandom(seed);
  const mode = (['rnn', 'lstm', 'gru'] as const)[seed % 3]!;
  const hiddenSize = pick(random, [16, 48, 64, 100, 128]);
  const config: AnyConfig = {
    inputSize: pick(random, [8, 33, 64, 128]), hiddenSize, numLayers: int(random, 1, 2), bidirectional: random() < 0.5,
    ...(mode === 'rnn' ? { nonlinearity: pick(random, ['tanh', 'relu'] as const) } : {}),
    ...(mode === 'lstm' && random() < 0.5 ? { projSize: Math.max(1, hiddenSize >> 1) } : {}),
  };
  const [L, N] = [int(random, 4, 16), int(random, 1, 8)];
  return {
    mode, config, weights: initStateDict(config, seed, mode),
    input: { data: randomTensorData(L * N * config.inputSize, seed + 1, 2), shape: [L, N, config.inputSize] },
  };
}

/** max |a − b| over output, h_n and c_n (NaN never occurs with these inputs). */
export function maxAbsDifference(a: { output: Tensor; hN: Tensor; cN?: Tensor }, b: { output: Tensor; hN: Tensor; cN?: Tensor }): number {
  let max = 0;
  const pairs: [Tensor | undefined, Tensor | undefined][] = [[a.output, b.output], [a.hN, b.hN], [a.cN, b.cN]];
  for (const [x, y] of pairs) {
    if (x === undefined || y === undefined) continue;
    for (let i = 0; i < x.data.length; i++) max = Math.max(max, Math.abs(x.data[i]! - y.data[i]!));
  }
  return max;
}
