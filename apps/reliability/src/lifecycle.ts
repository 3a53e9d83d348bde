import type { Backend } from '@recurrent/core';
import { createModel, forwardCall, randomValidCall } from './cases.js';

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
  const engineFlat = Object.keys(engineBefore).every((key) => engineAfter[key] === engineBefore[key]);
  const flat = heapAfter - heapBefore < HEAP_SLACK_BYTES && engineFlat;
  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MB`;
  const engine = Object.keys(engineBefore).map((key) => `${key} ${engineBefore[key]} → ${engineAfter[key]}`).join(', ');
  return {
    heapBefore, heapAfter, engineBefore, engineAfter, flat,
    summary: `Node heap ${mb(heapBefore)} → ${mb(heapAfter)} (${heapAfter >= heapBefore ? '+' : ''}${mb(heapAfter - heapBefore)})${engine ? `; ${engine}` : ''}; ${flat ? 'flat' : 'GROWING'}`,
  };
}
