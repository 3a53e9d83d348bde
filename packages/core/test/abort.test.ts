import { describe, expect, it } from 'vitest';
import { createLstm, initStateDict, isRnnError, throwIfAborted, yieldToEventLoop, type Backend, type Tensor } from '../src/index.js';
import { expectRnnError } from './helpers.js';

/** An engine whose forward runs `steps` blocks, yielding and checking the signal between them, as engines do. */
function slowBackend(steps: number) {
  let running = 0;
  const backend: Backend = {
    name: 'slow',
    async createModel(model) {
      return {
        async forward(plan) {
          running++;
          try {
            for (let s = 0; s < steps; s++) {
              await yieldToEventLoop();
              throwIfAborted(plan.signal);
            }
          } finally {
            running--;
          }
          const rows = model.numLayers * plan.batch;
          return {
            output: new Float32Array(plan.seqLen * plan.batch * model.outputSize),
            hN: new Float32Array(rows * model.outputSize),
            cN: new Float32Array(rows * model.hiddenSize),
          };
        },
        dispose() {},
      };
    },
    dispose() {},
  };
  return { backend, running: () => running };
}

const config = { inputSize: 2, hiddenSize: 3 };
const input: Tensor = { data: new Float32Array(8), shape: [4, 1, 2] };

describe('cancellation with an AbortSignal', () => {
  it('rejects at once with aborted, keeping the reason as cause, when the signal has already fired', async () => {
    const { backend, running } = slowBackend(5);
    const lstm = await createLstm(config, initStateDict(config, 1, 'lstm'), backend);
    const controller = new AbortController();
    const reason = new Error('the user typed again');
    controller.abort(reason);
    const error = await expectRnnError(() => lstm.forward(input, undefined, { signal: controller.signal }), 'aborted', 'LSTM forward was aborted: the user typed again');
    expect(error.cause).toBe(reason);
    expect(running()).toBe(0);
  });

  it('rejects soon after abort() while the engine runs, and the model works afterwards', async () => {
    const { backend, running } = slowBackend(1000);
    const lstm = await createLstm(config, initStateDict(config, 1, 'lstm'), backend);
    const controller = new AbortController();
    const call = lstm.forward(input, undefined, { signal: controller.signal });
    await yieldToEventLoop();
    const abortedAt = performance.now();
    controller.abort();
    const error = await call.catch((e: unknown) => e);
    expect(isRnnError(error, 'aborted')).toBe(true);
    expect(performance.now() - abortedAt).toBeLessThan(1000); // a guard against never stopping, not a speed test
    await yieldToEventLoop();
    expect(running()).toBe(0); // the engine stopped at its next check
    const { hN } = await lstm.forward(input, undefined, { signal: new AbortController().signal });
    expect(hN.shape).toEqual([1, 1, 3]);
  });

  it('refuses a signal that is not an AbortSignal, and leaves a stream unchanged after an aborted push', async () => {
    const { backend } = slowBackend(3);
    const lstm = await createLstm(config, initStateDict(config, 1, 'lstm'), backend);
    await expectRnnError(() => lstm.forward(input, undefined, { signal: 'stop' as never }), 'type', /options\.signal must be an AbortSignal/);
    const stream = lstm.stream();
    const controller = new AbortController();
    controller.abort();
    await expectRnnError(() => stream.push(input, { signal: controller.signal }), 'aborted', /aborted/);
    expect((await stream.push(input)).hN.shape).toEqual([1, 1, 3]);
  });
});
