import { randomTensorData, type Tensor } from '@recurrent/core';
import { describe, expect, it } from 'vitest';
import { createModel, forwardCall, randomValidCall, sameResult, type InitialState, type ValidCall } from '../src/cases.js';
import { engines } from '../src/engines.js';

const vary = (t: Tensor, seed: number, scale = 1): Tensor => ({ data: randomTensorData(t.data.length, seed, scale), shape: t.shape });

describe.each(engines)('concurrency: $name', ({ createBackend }) => {
  // 77 is an RNN, 79 an LSTM, 80 a GRU (seed % 3), each with initial states.
  it.each([77, 79, 80])('100 concurrent forward() calls on one model (seed %i), with different inputs, give exactly the sequential results', async (seed) => {
    const backend = await createBackend();
    const model = randomValidCall(seed);
    const module = await createModel(model.mode, model.config, model.weights, backend);
    // One model, 100 different inputs and states (the shapes are the model's; the values differ).
    const calls: ValidCall[] = Array.from({ length: 100 }, (_, i) => {
      const hx: InitialState | undefined = model.hx === undefined ? undefined
        : Array.isArray(model.hx) ? [vary(model.hx[0], 2000 + i), vary(model.hx[1], 3000 + i)] : vary(model.hx, 2000 + i);
      return { ...model, input: vary(model.input, 1000 + i, 3), hx };
    });
    const sequential: Awaited<ReturnType<typeof forwardCall>>[] = [];
    for (const c of calls) sequential.push(await forwardCall(module, c));
    const concurrent = await Promise.all(calls.map((c) => forwardCall(module, c)));
    concurrent.forEach((result, i) => expect(sameResult(result, sequential[i]!), `call ${i}`).toBe(true));
    // The inputs really differ, so equal results are not an accident.
    expect(sequential[1]!.output.data).not.toEqual(sequential[2]!.output.data);
    module.dispose();
    backend.dispose();
  }, 300_000);
});
