import { throwIfAborted, type Backend } from '@recurrent/core';
import { describe, expect, it } from 'vitest';
import { engineVariants } from '../src/engines.js';
import { ABORT_AFTER_MS, interruptedPushes, raggedStreams, streamSize } from '../src/streams.js';

const { variants } = engineVariants();
const MODES = ['rnn', 'lstm', 'gru'] as const;

describe.each(variants)('engine-held streams: $name', ({ name, createBackend }) => {
  it('a push aborted (before the call, mid-way through a long push, while queued) or refused leaves the stream exactly as it was (RNN, LSTM with projSize, GRU)', async () => {
    const backend = await createBackend();
    const failures: string[] = [];
    const latencies: number[] = [];
    for (const mode of MODES) {
      const result = await interruptedPushes(backend, mode, streamSize(name));
      failures.push(...result.failures.map((f) => `${mode}: ${f}`));
      latencies.push(...result.abortedAfterMs);
    }
    backend.dispose();
    console.log(`${name}: long pushes aborted ${latencies.map((ms) => ms.toFixed(0)).join(', ')} ms after they were made`);
    expect(failures).toEqual([]);
  }, 300_000);

  it('a batch with lengths (elements ending at different steps of a push, then going on) gives the same bits fed in finer pushes or with other padding, and the values of forward over each whole sequence', async () => {
    const backend = await createBackend();
    const failures: string[] = [];
    const differences: string[] = [];
    for (const mode of MODES) {
      const result = await raggedStreams(backend, mode);
      failures.push(...result.failures.map((f) => `${mode}: ${f}`));
      differences.push(`${mode} ${result.forwardDifference.toExponential(1)}`);
      expect(result.forwardDifference, `${mode}: stream against forward`).toBeLessThan(1e-5);
    }
    backend.dispose();
    console.log(`${name}: stream with lengths against forward over the whole sequences, max |a − b|: ${differences.join(', ')}`);
    expect(failures).toEqual([]);
  }, 300_000);
});

it('the checks catch an engine stream that commits a push whose signal fired', async () => {
  // The CPU engine, with a slow stream that keeps whatever its forward computed and only then reports the abort.
  const cpu = await variants[0]!.createBackend();
  const careless: Backend = {
    ...cpu,
    async createModel(plan) {
      const model = await cpu.createModel(plan);
      return {
        ...model,
        forward: (p) => model.forward(p),
        dispose: () => model.dispose(),
        openStream({ h0, c0 }) {
          return {
            async push(p) {
              await new Promise((resolve) => setTimeout(resolve, 2 * ABORT_AFTER_MS));
              const result = await model.forward({ ...p, signal: null, h0, c0 });
              [h0, c0] = [result.hN, result.cN ?? null];
              throwIfAborted(p.signal);
              return result;
            },
            dispose() {},
          };
        },
      };
    },
  };
  const { failures } = await interruptedPushes(careless, 'gru', { hiddenSize: 8, batch: 2, longSteps: 5 });
  cpu.dispose();
  expect(failures).toHaveLength(4);
  expect(failures.every((f) => /differs from the stream that never saw the failed pushes/.test(f))).toBe(true);
});
