import { createRnn, randomTensorData, type ForwardResult } from '@recurrent/core';
import { describe, expect, it } from 'vitest';
import { randomValidCall } from '../src/cases.js';
import { engines } from '../src/engines.js';

describe.each(engines)('concurrency: $name', ({ createBackend }) => {
  it('100 concurrent forward() calls on one model, with different inputs, give exactly the sequential results', async () => {
    const backend = await createBackend();
    const model = randomValidCall(77);
    const rnn = await createRnn(model.config, model.weights, backend);
    // One model, 100 different inputs and h0 (the shapes are the model's; the values differ).
    const calls = Array.from({ length: 100 }, (_, i) => ({
      input: { data: randomTensorData(model.input.data.length, 1000 + i, 3), shape: model.input.shape },
      h0: model.h0 ? { data: randomTensorData(model.h0.data.length, 2000 + i), shape: model.h0.shape } : undefined,
      lengths: model.lengths,
    }));
    const run = (c: (typeof calls)[number]) => rnn.forward(c.input, c.h0, c.lengths ? { lengths: c.lengths } : undefined);
    const sequential: ForwardResult[] = [];
    for (const c of calls) sequential.push(await run(c));
    const concurrent = await Promise.all(calls.map(run));
    concurrent.forEach((result, i) => {
      expect(result.output.data, `call ${i}`).toEqual(sequential[i]!.output.data);
      expect(result.hN.data, `call ${i}`).toEqual(sequential[i]!.hN.data);
    });
    // The inputs really differ, so equal results are not an accident.
    expect(sequential[1]!.output.data).not.toEqual(sequential[2]!.output.data);
    rnn.dispose();
    backend.dispose();
  }, 300_000);
});
