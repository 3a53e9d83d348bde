import { readFileSync } from 'node:fs';
import { createRnn, readSafetensors, type RnnConfig, type Tensor } from '@recurrent/core';
import { describe, expect, it } from 'vitest';
import { createBackend } from '../src/index.js';

const H = 2;
/** A 1-unit-input, 2-unit RNN whose numbers are easy to follow by hand. */
const config: RnnConfig = { inputSize: 1, hiddenSize: H, bidirectional: true, bias: false };
const weights = {
  weight_ih_l0: { data: Float32Array.from([0.5, -0.25]), shape: [H, 1] },
  weight_hh_l0: { data: Float32Array.from([0.1, 0.2, -0.3, 0.4]), shape: [H, H] },
  weight_ih_l0_reverse: { data: Float32Array.from([0.3, 0.7]), shape: [H, 1] },
  weight_hh_l0_reverse: { data: Float32Array.from([-0.2, 0.1, 0.5, 0.3]), shape: [H, H] },
};

async function run(input: Tensor, lengths?: number[]) {
  const rnn = await createRnn(config, weights, await createBackend());
  return rnn.forward(input, undefined, lengths ? { lengths } : undefined);
}

describe('variable lengths (pack_padded_sequence semantics)', () => {
  // Batch of 2, L = 4: element 0 runs all 4 steps, element 1 only its first 2.
  const x = [1, 2, 3, 4]; // element 0
  const y = [5, 6, 9, 9]; // element 1: two real steps, then padding that must be ignored
  const batch: Tensor = { data: Float32Array.from(x.flatMap((v, t) => [v, y[t]!])), shape: [4, 2, 1] };

  it('outputs past a length are zero, in both directions', async () => {
    const { output } = await run(batch, [4, 2]);
    for (const t of [2, 3]) expect([...output.data.subarray((t * 2 + 1) * 2 * H, (t * 2 + 2) * 2 * H)]).toEqual([0, 0, 0, 0]);
  });

  it("equals running each sequence alone, trimmed to its length (the reverse direction starts at each sequence's last valid step)", async () => {
    const packed = await run(batch, [4, 2]);
    const alone = await run({ data: Float32Array.from([5, 6]), shape: [2, 1, 1] });
    for (let t = 0; t < 2; t++) {
      expect([...packed.output.data.subarray((t * 2 + 1) * 2 * H, (t * 2 + 2) * 2 * H)]).toEqual([...alone.output.data.subarray(t * 2 * H, (t + 1) * 2 * H)]);
    }
    // Padding would change the reverse direction if it started at step L−1 instead of len−1.
    const unpacked = await run(batch);
    expect(unpacked.output.data.subarray((0 * 2 + 1) * 2 * H + H, (0 * 2 + 1) * 2 * H + 2 * H)).not.toEqual(alone.output.data.subarray(H, 2 * H));
  });

  it("h_n holds each sequence's last valid state: step len−1 forward, step 0 reverse", async () => {
    const { output, hN } = await run(batch, [4, 2]);
    const at = (t: number, b: number, d: number) => [...output.data.subarray((t * 2 + b) * 2 * H + d * H, (t * 2 + b) * 2 * H + (d + 1) * H)];
    expect([...hN.data.subarray(0, H)]).toEqual(at(3, 0, 0)); // forward, element 0
    expect([...hN.data.subarray(H, 2 * H)]).toEqual(at(1, 1, 0)); // forward, element 1: its step 1
    expect([...hN.data.subarray(2 * H, 3 * H)]).toEqual(at(0, 0, 1)); // reverse ends at step 0
    expect([...hN.data.subarray(3 * H, 4 * H)]).toEqual(at(0, 1, 1));
  });

  it('does not depend on the order of the batch (enforce_sorted=False)', async () => {
    const swapped: Tensor = { data: Float32Array.from(x.flatMap((v, t) => [y[t]!, v])), shape: [4, 2, 1] };
    const a = await run(batch, [4, 2]);
    const b = await run(swapped, [2, 4]);
    expect([...b.hN.data.subarray(0, H)]).toEqual([...a.hN.data.subarray(H, 2 * H)]);
  });
});

describe('a model trained in PyTorch', () => {
  it("loads its .safetensors state dict and reproduces PyTorch's output and h_n", async () => {
    const fixtures = new URL('../../core/test/fixtures/', import.meta.url);
    const expected = JSON.parse(readFileSync(new URL('rnn-expected.json', fixtures), 'utf8'));
    const weights = readSafetensors(readFileSync(new URL('rnn-f32.safetensors', fixtures)));
    const rnn = await createRnn(expected.config, weights, await createBackend());
    expect(rnn.backend).toBe('cpu');
    const { output, hN } = await rnn.forward({ data: Float32Array.from(expected.input.data), shape: expected.input.shape });
    expect(output.shape).toEqual(expected.output.shape);
    expect(hN.shape).toEqual(expected.hN.shape);
    output.data.forEach((v, i) => expect(Math.abs(v - expected.output.data[i])).toBeLessThan(2e-6));
    hN.data.forEach((v, i) => expect(Math.abs(v - expected.hN.data[i])).toBeLessThan(2e-6));
  });
});

describe('backend lifecycle', () => {
  it('a disposed backend refuses to build models', async () => {
    const backend = await createBackend();
    backend.dispose();
    await expect(createRnn(config, weights, backend)).rejects.toMatchObject({ code: 'disposed' });
  });
});
