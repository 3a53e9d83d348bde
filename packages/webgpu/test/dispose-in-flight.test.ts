import {
  createLstm, initStateDict, isRnnError, planForward, planModel, randomTensorData, resolveConfig,
  type BackwardPlan, type LstmConfig, type Tensor,
} from '@recurrent/core';
import { describe, expect, it } from 'vitest';
import { createBackend, type WebGpuBackend } from '../src/index.js';
import { describeWithGpu, watchSubmissions } from './gpu.js';

// Disposing a model while one of its calls is on the GPU (found by the reliability suite): the call
// ends in 'disposed', nothing leaks, and the GPU reports no error (no command on a destroyed buffer:
// no mapAsync, no submission, no writeBuffer after the dispose).

/** Big enough that a call with a signal is cut into many blocks (row tiles, runs of steps). */
const config: LstmConfig = { inputSize: 64, hiddenSize: 64 };
const [L, N] = [48, 8];
const input: Tensor = { data: randomTensorData(L * N * 64, 1), shape: [L, N, 64] };
const chunk: Tensor = { data: input.data.slice(0, 24 * N * 64), shape: [24, N, 64] };

/** A backend that records every error the GPU reports outside an error scope. */
async function watchedBackend(): Promise<{ gpu: WebGpuBackend; gpuErrors: string[]; submissions: () => number; onSubmit: (call: ((count: number) => void) | null) => void }> {
  const gpu = await createBackend();
  const gpuErrors: string[] = [];
  gpu.device.addEventListener('uncapturederror', (event) => gpuErrors.push((event as GPUUncapturedErrorEvent).error.message));
  const watch = watchSubmissions(gpu);
  return { gpu, gpuErrors, submissions: watch.count, onSubmit: (call) => (watch.onSubmit = call) };
}

/** How a call ended: its result's kind or its error's code. */
async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return isRnnError(error) ? error.code : String(error);
  }
}

const liveBuffers = (gpu: WebGpuBackend): number => gpu.stats!().liveBuffers!;

/**
 * Runs `call` on a fresh model once per dispose point: the model is disposed a macrotask after its
 * k-th submission, for every k the call makes (the last ones land while the last blocks run and
 * their read-back is about to be mapped). Returns how each call ended.
 */
async function disposeAtEveryBlock(
  watched: Awaited<ReturnType<typeof watchedBackend>>,
  make: () => Promise<{ call: (signal: AbortSignal) => Promise<unknown>; dispose: () => void }>,
): Promise<string[]> {
  const { gpu, submissions, onSubmit } = watched;
  const empty = liveBuffers(gpu);
  // A first model: how many submissions one call makes (a fresh model's first call, as below).
  const probe = await make();
  const start = submissions();
  expect(await outcome(probe.call(new AbortController().signal))).toBe('resolved');
  const blocks = submissions() - start;
  probe.dispose();
  expect(blocks).toBeGreaterThan(4);
  const outcomes: string[] = [];
  for (let k = 1; k <= blocks + 1; k++) {
    const { call, dispose } = await make();
    const first = submissions();
    onSubmit((count) => {
      if (count === first + k) setTimeout(dispose, 0);
    });
    outcomes.push(await outcome(call(new AbortController().signal)));
    onSubmit(null);
    dispose();
    expect(liveBuffers(gpu)).toBe(empty);
  }
  return outcomes;
}

await describeWithGpu('WebGPU dispose during a call', () => {
  describe('WebGPU dispose during a call', () => {
    it('disposing a model mid-forward (with a signal) rejects the forward with disposed, no GPU error, buffers back to baseline', async () => {
      const watched = await watchedBackend();
      const outcomes = await disposeAtEveryBlock(watched, async () => {
        const model = await createLstm(config, initStateDict(config, 5, 'lstm'), watched.gpu);
        return { call: (signal) => model.forward(input, undefined, { signal }), dispose: () => model.dispose() };
      });
      expect(outcomes.filter((o) => o !== 'resolved').every((o) => o === 'disposed')).toBe(true);
      expect(outcomes.filter((o) => o === 'disposed').length).toBeGreaterThan(outcomes.length / 2);
      expect(watched.gpuErrors).toEqual([]);
      watched.gpu.dispose();
    });

    it('disposing a model mid-push of its stream (with a signal) rejects the push with disposed, no GPU error, buffers back to baseline', async () => {
      const watched = await watchedBackend();
      const outcomes = await disposeAtEveryBlock(watched, async () => {
        const model = await createLstm(config, initStateDict(config, 5, 'lstm'), watched.gpu);
        const stream = model.stream();
        await stream.push(chunk); // the stream's states are on the GPU: the next push reads and writes them
        return { call: (signal) => stream.push(chunk, { signal }), dispose: () => model.dispose() };
      });
      expect(outcomes.filter((o) => o !== 'resolved').every((o) => o === 'disposed')).toBe(true);
      expect(outcomes.filter((o) => o === 'disposed').length).toBeGreaterThan(outcomes.length / 2);
      expect(watched.gpuErrors).toEqual([]);
      watched.gpu.dispose();
    });

    it('disposing a model mid-backward (with a signal) rejects the backward with disposed, no GPU error, buffers back to baseline', async () => {
      const watched = await watchedBackend();
      const resolved = resolveConfig(config, 'lstm');
      const { plan } = planForward(resolved, input);
      const backwardPlan = (signal: AbortSignal): BackwardPlan => ({
        ...plan,
        signal,
        gradOutput: randomTensorData(L * N * 64, 2),
        gradHN: randomTensorData(N * 64, 3),
        gradCN: randomTensorData(N * 64, 4),
      });
      const outcomes = await disposeAtEveryBlock(watched, async () => {
        const model = await watched.gpu.createModel(planModel(resolved, initStateDict(config, 5, 'lstm')));
        return { call: (signal) => model.backward!(backwardPlan(signal)), dispose: () => model.dispose() };
      });
      expect(outcomes.filter((o) => o !== 'resolved').every((o) => o === 'disposed')).toBe(true);
      expect(outcomes.filter((o) => o === 'disposed').length).toBeGreaterThan(outcomes.length / 2);
      expect(watched.gpuErrors).toEqual([]);
      expect(watched.gpu.stats!().backwardBytes).toBe(0);
      watched.gpu.dispose();
    });

    it('disposing a stream mid-push lets that push finish, rejects the one queued behind it, frees its buffers after; no GPU error', async () => {
      const watched = await watchedBackend();
      const { gpu, gpuErrors, submissions, onSubmit } = watched;
      const model = await createLstm(config, initStateDict(config, 5, 'lstm'), gpu);
      const expected = await model.forward(chunk);
      const baseline = liveBuffers(gpu);
      // Disposed right after the push's first or second submission (a push makes at least two: the
      // projection, the recurrence).
      for (const k of [1, 2]) {
        const stream = model.stream();
        const first = submissions();
        onSubmit((count) => {
          if (count === first + k) stream.dispose();
        });
        const running = stream.push(chunk, { signal: new AbortController().signal });
        const queued = stream.push(chunk);
        expect(await running).toEqual(expected);
        expect(await outcome(queued)).toBe('disposed');
        onSubmit(null);
        await new Promise((resolve) => setTimeout(resolve, 0)); // the stream frees its buffers once its pushes settled
        expect(liveBuffers(gpu)).toBe(baseline);
      }
      // Then the stream goes with its model mid-push (the reliability suite's order: model, then stream).
      const stream = model.stream();
      await stream.push(chunk);
      const first = submissions();
      onSubmit((count) => {
        if (count === first + 1) {
          setTimeout(() => {
            model.dispose();
            stream.dispose();
          }, 0);
        }
      });
      expect(await outcome(stream.push(chunk, { signal: new AbortController().signal }))).toBe('disposed');
      onSubmit(null);
      await new Promise((resolve) => setTimeout(resolve, 0));
      expect(liveBuffers(gpu)).toBe(0);
      expect(gpuErrors).toEqual([]);
      gpu.dispose();
    });
  });
});
