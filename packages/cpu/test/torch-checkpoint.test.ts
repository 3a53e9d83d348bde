import { readFileSync } from 'node:fs';
import { createLstm, createRnn, readTorchStateDict, type Tensor } from '@recurrent/core';
import { describe, expect, it } from 'vitest';
import { createBackend } from '../src/index.js';

// Training checkpoints written by torch.save (core's fixtures/torch/make_torch_fixtures.py): an embedding,
// a 2-layer recurrent encoder at `encoder.rnn` and a linear head, with Adam state; the expected outputs
// are the saved module's own, run by PyTorch.
const fixtures = new URL('../../core/test/fixtures/torch/', import.meta.url);
const expected = JSON.parse(readFileSync(new URL('expected.json', fixtures), 'utf8')) as Record<string, {
  input: Tensor & { data: number[] };
  output: Tensor & { data: number[] };
  states: (Tensor & { data: number[] })[];
}>;

const tensor = ({ shape, data }: { shape: number[]; data: number[] }): Tensor => ({ shape, data: Float32Array.from(data) });

function expectClose(actual: Tensor, reference: { shape: number[]; data: number[] }) {
  expect(actual.shape).toEqual(reference.shape);
  const worst = reference.data.reduce((max, value, i) => Math.max(max, Math.abs(actual.data[i]! - value)), 0);
  expect(worst).toBeLessThan(1e-5);
}

describe('a torch.save training checkpoint runs as PyTorch ran it', () => {
  const config = { inputSize: 4, hiddenSize: 6, numLayers: 2 };

  it.each(['checkpoint-rnn-zip.pt', 'checkpoint-rnn-legacy.pt'])('nn.RNN from %s (key "model", prefix "encoder.rnn.")', async (name) => {
    const weights = readTorchStateDict(new Uint8Array(readFileSync(new URL(name, fixtures))), { key: 'model', prefix: 'encoder.rnn.' });
    const rnn = await createRnn(config, weights, await createBackend());
    const facts = expected['checkpoint-rnn']!;
    const { output, hN } = await rnn.forward(tensor(facts.input));
    expectClose(output, facts.output);
    expectClose(hN, facts.states[0]!);
  });

  it('nn.LSTM from checkpoint-lstm.pt (key "model", prefix "encoder.rnn.")', async () => {
    const weights = readTorchStateDict(new Uint8Array(readFileSync(new URL('checkpoint-lstm.pt', fixtures))), { key: 'model', prefix: 'encoder.rnn.' });
    const lstm = await createLstm(config, weights, await createBackend());
    const facts = expected['checkpoint-lstm']!;
    const { output, hN, cN } = await lstm.forward(tensor(facts.input));
    expectClose(output, facts.output);
    expectClose(hN, facts.states[0]!);
    expectClose(cN, facts.states[1]!);
  });
});
