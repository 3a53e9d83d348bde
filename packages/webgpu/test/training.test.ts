import { createGru, createLstm, initStateDict, randomTensorData, type LstmConfig } from '@recurrent/core';
import { createBackend as createCpuBackend } from '@recurrent/cpu';
import { describe, expect, it } from 'vitest';
import { backendOrReason, reportNotRun } from './gpu.js';

// Proof of the gradients is the conformance suite (PyTorch autograd); these are the engine's own behaviours.
const backend = await backendOrReason();
const config: LstmConfig = { inputSize: 5, hiddenSize: 8, numLayers: 2, bidirectional: true, projSize: 3 };
const [L, N] = [6, 3];
const input = { data: randomTensorData(L * N * 5, 1), shape: [L, N, 5] };
const upstream = { output: { data: randomTensorData(L * N * 6, 2), shape: [L, N, 6] } };
const lengths = [6, 2, 4];

const maxDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

if (typeof backend === 'string') {
  reportNotRun(backend);
} else {
  describe('webgpu training', () => {
    it('padded positions take no gradient, and the gradients agree with the CPU engine', async () => {
      const weights = initStateDict(config, 4, 'lstm');
      const gpu = await createLstm(config, weights, backend);
      const cpu = await createLstm(config, weights, await createCpuBackend());
      const [g, c] = [await gpu.backward(input, undefined, upstream, { lengths }), await cpu.backward(input, undefined, upstream, { lengths })];
      for (let t = 0; t < L; t++) for (let b = 0; b < N; b++) if (t >= lengths[b]!) expect(g.input.data.subarray((t * N + b) * 5, (t * N + b + 1) * 5).every((v) => v === 0)).toBe(true);
      expect(maxDiff(g.input.data, c.input.data)).toBeLessThan(1e-5);
      expect(maxDiff(g.c0.data, c.c0.data)).toBeLessThan(1e-5);
      for (const [name, tensor] of Object.entries(c.weights)) expect(maxDiff(g.weights[name]!.data, tensor.data), name).toBeLessThan(1e-4);
      gpu.dispose();
    });

    it('loadStateDict replaces the weights in place: same buffers, the new weights\' outputs', async () => {
      const { projSize: _, ...gruConfig } = config;
      const gru = await createGru(gruConfig, initStateDict(gruConfig, 5, 'gru'), backend);
      const other = initStateDict(gruConfig, 6, 'gru');
      await gru.forward(input);
      const held = backend.stats!();
      await gru.loadStateDict(other);
      expect(backend.stats!().liveBuffers).toBe(held.liveBuffers);
      const fresh = await createGru(gruConfig, other, backend);
      expect(Array.from((await gru.forward(input)).output.data)).toEqual(Array.from((await fresh.forward(input)).output.data));
      gru.dispose();
      fresh.dispose();
    });

    it('stats().backwardBytes reports what a backward held, and dispose gives it back', async () => {
      const before = backend.stats!().backwardBytes!;
      const lstm = await createLstm(config, initStateDict(config, 7, 'lstm'), backend);
      await lstm.backward(input, undefined, upstream);
      // At least the tapes: per layer and direction, (6·H + H_out + H + H_out) floats per (step, element).
      expect(backend.stats!().backwardBytes! - before).toBeGreaterThan(2 * 2 * L * N * (6 * 8 + 3 + 8 + 3) * 4);
      lstm.dispose();
      expect(backend.stats!().backwardBytes).toBe(before);
    });
  });
}
