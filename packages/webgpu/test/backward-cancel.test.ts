import {
  createLstm, initStateDict, isRnnError, planForward, planModel, randomTensorData, resolveConfig,
  type BackwardPlan, type EngineGradients, type EngineModel, type LstmConfig, type Mode, type Tensor,
} from '@recurrent/core';
import { describe, expect, it } from 'vitest';
import { createBackend, type WebGpuBackend } from '../src/index.js';
import { describeWithGpu, ignoringPipelineCache, rejection, watchSubmissions } from './gpu.js';

// The backward's cancellation (issue 16): with a signal it runs in blocks (runs of steps, GEMM pieces)
// and stops between them. Proof of the gradients themselves is the conformance suite.

/** Every part of the backward's structure: two layers, both directions, lengths; a projected LSTM. */
const base = { inputSize: 64, hiddenSize: 64, numLayers: 2, bidirectional: true };
const CONFIGS: Record<Mode, object> = { rnn: base, lstm: { ...base, projSize: 32 }, gru: base };
const [L, N] = [48, 8];
const lengths = [48, 40, 33, 48, 17, 48, 2, 30];
const input: Tensor = { data: randomTensorData(L * N * 64, 1), shape: [L, N, 64] };

/** An engine-level model (its backward's promise settles when the engine stops) and its backward plans. */
async function engineModel(gpu: WebGpuBackend, mode: Mode): Promise<{ model: EngineModel; plan: (signal?: AbortSignal) => BackwardPlan }> {
  const config = CONFIGS[mode] as LstmConfig;
  const resolved = resolveConfig(config, mode);
  const model = await gpu.createModel(planModel(resolved, initStateDict(config, 5, mode)));
  const HO = resolved.projSize || resolved.hiddenSize;
  const gradOutput = randomTensorData(L * N * 2 * HO, 2);
  const gradHN = randomTensorData(2 * 2 * N * HO, 3);
  const gradCN = mode === 'lstm' ? randomTensorData(2 * 2 * N * resolved.hiddenSize, 4) : null;
  const plan = (signal?: AbortSignal): BackwardPlan => ({ ...planForward(resolved, input, undefined, { lengths, signal }).plan, gradOutput, gradHN, gradCN });
  return { model, plan };
}

/** Every gradient's bits, in order: equal bits mean the same result, NaNs and signed zeros included. */
const bits = (g: EngineGradients): number[][] =>
  [g.input, g.h0, g.c0 ?? new Float32Array(0), ...g.layers.flat().flatMap((d) => [d.W_ih, d.W_hh, d.b_ih, d.b_hh, d.W_hr])]
    .filter((a): a is Float32Array => a !== null)
    .map((a) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length)));

await describeWithGpu('WebGPU backward cancellation', () => {
  describe('WebGPU backward cancellation', () => {
    it.each(['rnn', 'lstm', 'gru'] as const)('%s: a backward with a signal runs in many submissions and gives bit for bit what one submission gives', async (mode) => {
      const gpu = await createBackend();
      const watch = watchSubmissions(gpu);
      const { model, plan } = await engineModel(gpu, mode);
      let before = watch.count();
      const expected = bits(await model.backward!(plan()));
      expect(watch.count() - before).toBe(1);
      // The model's first signalled call: its blocks start small (1 MFLOP) and grow, so GEMMs are cut.
      before = watch.count();
      expect(bits(await model.backward!(plan(new AbortController().signal)))).toEqual(expected);
      expect(watch.count() - before).toBeGreaterThan(20);
      expect(bits(await model.backward!(plan(new AbortController().signal)))).toEqual(expected);
      model.dispose();
      gpu.dispose();
    });

    it('abort() at a random time mid-backward rejects with aborted within a block or two, submits nothing more, and leaves the model exact with stats as before', async () => {
      const gpu = await createBackend();
      const empty = gpu.stats!();
      const watch = watchSubmissions(gpu);
      const { model, plan } = await engineModel(gpu, 'lstm');
      const expected = bits(await model.backward!(plan())); // this shape's buffers exist: the baseline
      const baseline = gpu.stats!();
      let start = watch.count();
      const began = performance.now();
      await model.backward!(plan(new AbortController().signal)); // teaches the model its pace
      const blocks = watch.count() - start;
      console.log(`backward (LSTM, projSize 32, I64 H64, 2 layers, bidirectional, L${L} N${N}): ${(performance.now() - began).toFixed(0)} ms in ${blocks} blocks with a signal`);
      const latencies: number[] = [];
      for (let i = 0; i < 3; i++) {
        const controller = new AbortController();
        start = watch.count();
        let aborted = 0;
        let submittedAtAbort = -1;
        // A random time within the first half of the call: after a random block, a random 0–20 ms later.
        const after = 2 + Math.floor(Math.random() * (blocks / 2 - 2));
        watch.onSubmit = (count) => {
          if (count !== start + after) return;
          setTimeout(() => {
            submittedAtAbort = watch.count();
            aborted = performance.now();
            controller.abort(new Error('the user moved on'));
          }, Math.random() * 20);
        };
        const error = await rejection(model.backward!(plan(controller.signal)));
        const latency = performance.now() - aborted;
        watch.onSubmit = null;
        expect(isRnnError(error, 'aborted')).toBe(true);
        expect((error as Error).cause).toEqual(new Error('the user moved on'));
        expect(watch.count()).toBe(submittedAtAbort);
        expect(gpu.stats!()).toEqual(baseline);
        latencies.push(latency);
      }
      console.log(`abort → the engine's backward rejected: ${latencies.map((ms) => ms.toFixed(1)).join(', ')} ms (SwiftShader: bounded by the smallest block, not by BLOCK_SECONDS)`);
      // A loose guard only: speed is measured by bench/backward-abort.mjs, not by tests.
      for (const ms of latencies) expect(ms).toBeLessThan(1000);
      expect(bits(await model.backward!(plan()))).toEqual(expected);
      expect(bits(await model.backward!(plan(new AbortController().signal)))).toEqual(expected);
      expect(gpu.stats!()).toEqual(baseline);
      // A signal aborted before the call: nothing submitted.
      const submitted = watch.count();
      expect(isRnnError(await rejection(model.backward!(plan(AbortSignal.abort()))), 'aborted')).toBe(true);
      expect(watch.count()).toBe(submitted);
      model.dispose();
      // No buffer left; the compiled pipelines stay cached in the backend for its next models.
      expect(gpu.stats!()).toEqual(ignoringPipelineCache(empty));
      gpu.dispose();
    });

    it('through the module: an aborted backward rejects with aborted and the next one is exact', async () => {
      const gpu = await createBackend();
      const watch = watchSubmissions(gpu);
      const config = CONFIGS.lstm as LstmConfig;
      const lstm = await createLstm(config, initStateDict(config, 6, 'lstm'), gpu);
      const upstream = { output: { data: randomTensorData(L * N * 64, 7), shape: [L, N, 64] } };
      const expected = await lstm.backward(input, undefined, upstream, { lengths });
      const controller = new AbortController();
      const start = watch.count();
      watch.onSubmit = (count) => {
        if (count === start + 3) controller.abort();
      };
      const error = await rejection(lstm.backward(input, undefined, upstream, { lengths, signal: controller.signal }));
      watch.onSubmit = null;
      expect(isRnnError(error, 'aborted')).toBe(true);
      expect(await lstm.backward(input, undefined, upstream, { lengths })).toEqual(expected);
      lstm.dispose();
      gpu.dispose();
    });
  });

  describe('WebGPU device loss during a backward', () => {
    it('a device destroyed between the blocks of a backward rejects it with device-lost; later calls too', async () => {
      const gpu = await createBackend();
      const watch = watchSubmissions(gpu);
      const { model, plan } = await engineModel(gpu, 'gru');
      await model.backward!(plan());
      const start = watch.count();
      watch.onSubmit = (count) => {
        if (count === start + 3) gpu.device.destroy();
      };
      const error = await rejection(model.backward!(plan(new AbortController().signal)));
      watch.onSubmit = null;
      expect(isRnnError(error, 'device-lost')).toBe(true);
      expect((error as Error).message).toMatch(/device was lost \(destroyed/);
      expect(isRnnError(await rejection(model.backward!(plan())), 'device-lost')).toBe(true);
      model.dispose();
      gpu.dispose();
    });

    it('a device destroyed during a backward without a signal (one submission) rejects it with device-lost', async () => {
      const gpu = await createBackend();
      const { model, plan } = await engineModel(gpu, 'rnn');
      await model.backward!(plan());
      const pending = model.backward!(plan());
      await new Promise((resolve) => setTimeout(resolve, 0));
      gpu.device.destroy();
      expect(isRnnError(await rejection(pending), 'device-lost')).toBe(true);
      expect(isRnnError(await rejection(model.backward!(plan(new AbortController().signal))), 'device-lost')).toBe(true);
      model.dispose();
      gpu.dispose();
    });
  });
});
