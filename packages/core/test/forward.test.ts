import { describe, expect, it } from 'vitest';
import { createRnn, initStateDict, type Backend, type ForwardPlan, type RnnConfig, type Tensor } from '../src/index.js';
import { expectRnnError } from './helpers.js';

/** An engine that records what core hands it and answers with output[t][n][f] = 1000·t + 10·n + f. */
function recordingBackend() {
  const plans: ForwardPlan[] = [];
  let disposedModels = 0;
  const backend: Backend = {
    name: 'recording',
    async createModel(model) {
      const DH = model.numDirections * model.hiddenSize;
      return {
        async forward(plan) {
          plans.push(plan);
          const output = new Float32Array(plan.seqLen * plan.batch * DH);
          for (let t = 0; t < plan.seqLen; t++)
            for (let n = 0; n < plan.batch; n++)
              for (let f = 0; f < DH; f++) output[(t * plan.batch + n) * DH + f] = 1000 * t + 10 * n + f;
          return { output, hN: new Float32Array(model.numLayers * model.numDirections * plan.batch * model.hiddenSize) };
        },
        dispose() {
          disposedModels++;
        },
      };
    },
    dispose() {},
  };
  return { backend, plans, disposed: () => disposedModels };
}

const config: RnnConfig = { inputSize: 3, hiddenSize: 2, numLayers: 2, bidirectional: true };
const tensor = (shape: number[], fill = (i: number) => i): Tensor => ({ shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => fill(i)) });

async function model(overrides: Partial<RnnConfig> = {}) {
  const recording = recordingBackend();
  const rnn = await createRnn({ ...config, ...overrides }, initStateDict({ ...config, ...overrides }), recording.backend);
  return { rnn, ...recording };
}

describe('forward: layouts', () => {
  it('hands engines time-major input and gives batch_first callers (N, L, D·H) back', async () => {
    const { rnn, plans } = await model({ batchFirst: true });
    const input = tensor([2, 4, 3]); // (N=2, L=4, I=3)
    const { output, hN } = await rnn.forward(input);
    const plan = plans[0]!;
    expect([plan.seqLen, plan.batch]).toEqual([4, 2]);
    // time-major x[t=1][n=0] is the caller's x[n=0][t=1]
    expect([...plan.input.subarray((1 * 2 + 0) * 3, (1 * 2 + 0) * 3 + 3)]).toEqual([3, 4, 5]);
    expect(output.shape).toEqual([2, 4, 4]);
    expect(output.data[(1 * 4 + 3) * 4 + 2]).toBe(1000 * 3 + 10 * 1 + 2); // output[n=1][t=3][f=2]
    expect(hN.shape).toEqual([4, 2, 2]); // batch_first never changes h_n
  });

  it('treats 2-D input as unbatched (L, H_in), ignoring batch_first as PyTorch does', async () => {
    const { rnn, plans } = await model({ batchFirst: true });
    const h0 = tensor([4, 2]);
    const { output, hN } = await rnn.forward(tensor([5, 3]), h0);
    expect([plans[0]!.seqLen, plans[0]!.batch]).toEqual([5, 1]);
    expect(plans[0]!.h0).toBe(h0.data);
    expect(output.shape).toEqual([5, 4]);
    expect(hN.shape).toEqual([4, 2]);
  });

  it('passes lengths through as Int32Array, and drops them when every element runs the full length', async () => {
    const { rnn, plans } = await model();
    await rnn.forward(tensor([3, 2, 3]), undefined, { lengths: [1, 3] });
    expect(plans[0]!.lengths).toEqual(Int32Array.from([1, 3]));
    await rnn.forward(tensor([3, 2, 3]), undefined, { lengths: [3, 3] });
    expect(plans[1]!.lengths).toBeNull();
  });
});

describe('forward: bad input gets an RnnError naming the field, expected and actual', () => {
  it.each([
    ['a 4-D input', tensor([1, 2, 3, 3]), 'shape', /Expected input to be 2D \(unbatched\) or 3D \(batched\), got 4D tensor of shape \[1, 2, 3, 3\]/],
    ['a 1-D input', tensor([3]), 'shape', /got 1D tensor/],
    ['the wrong feature size', tensor([4, 2, 5]), 'shape', 'input.size(-1) must be equal to input_size. Expected 3, got 5'],
    ['an empty sequence', tensor([0, 2, 3]), 'shape', /at least one time step and one batch element, got shape \[0, 2, 3\]/],
    ['data.length not matching shape', { data: new Float32Array(5), shape: [2, 1, 3] }, 'shape', 'input.data has 5 values, but shape [2, 1, 3] needs 6'],
    ['Float64Array data', { data: new Float64Array(6), shape: [2, 1, 3] }, 'type', /input\.data must be a Float32Array, got Float64Array/],
    ['a plain array', { data: [1, 2, 3], shape: [1, 1, 3] }, 'type', /input\.data must be a Float32Array, got array of length 3/],
    ['a fractional dimension', { data: new Float32Array(6), shape: [2, 1.5, 3] }, 'shape', /input\.shape must be an array of non-negative integers, got \[2, 1\.5, 3\]/],
    ['no input at all', undefined, 'type', /input must be a tensor/],
    ['a bare Float32Array', new Float32Array(6), 'type', /input must be a tensor \{ data: Float32Array, shape: number\[\] \}, got Float32Array/],
  ] as const)('rejects %s', async (_name, input, code, message) => {
    const { rnn } = await model();
    await expectRnnError(() => rnn.forward(input as unknown as Tensor), code, message);
  });

  it.each([
    ['h0 of the wrong rank for batched input', tensor([4, 2]), /For batched 3-D input, h0 should also be 3-D \[4, 2, 2\] but got 2-D tensor of shape \[4, 2\]/],
    ['h0 with the wrong batch', tensor([4, 3, 2]), 'Expected hidden size [4, 2, 2], got [4, 3, 2]'],
    ['h0 for one direction only', tensor([2, 2, 2]), 'Expected hidden size [4, 2, 2], got [2, 2, 2]'],
  ])('rejects %s', async (_name, h0, message) => {
    const { rnn } = await model();
    await expectRnnError(() => rnn.forward(tensor([3, 2, 3]), h0), 'shape', message);
  });

  it('rejects a 3-D h0 for unbatched input', async () => {
    const { rnn } = await model();
    await expectRnnError(() => rnn.forward(tensor([3, 3]), tensor([4, 1, 2])), 'shape', /For unbatched 2-D input, h0 should also be 2-D \[4, 2\] but got 3-D/);
  });

  it.each([
    ['the wrong count', [3], 'Expected len(lengths) to be equal to batch_size, but got 1 (batch_size=2)'],
    ['a zero length', [0, 3], 'lengths[0] must be an integer in 1..3 (the sequence length), got 0'],
    ['a length beyond L', [3, 4], 'lengths[1] must be an integer in 1..3 (the sequence length), got 4'],
    ['a fractional length', [2.5, 3], /lengths\[0\] .* got 2\.5/],
    ['a NaN length', [NaN, 3], /lengths\[0\] .* got NaN/],
    ['a negative length', [2, -1], /lengths\[1\] .* got -1/],
    ['a string', 'ab', /lengths must be an array of integers/],
  ])('rejects lengths with %s', async (_name, lengths, message) => {
    const { rnn } = await model();
    await expectRnnError(() => rnn.forward(tensor([3, 2, 3]), undefined, { lengths: lengths as number[] }), 'lengths', message);
  });

  it('rejects lengths for unbatched input and unknown options', async () => {
    const { rnn } = await model();
    await expectRnnError(() => rnn.forward(tensor([3, 3]), undefined, { lengths: [2] }), 'lengths', /batched 3-D input only/);
    await expectRnnError(() => rnn.forward(tensor([3, 2, 3]), undefined, { length: [2, 2] } as never), 'type', /unknown field\(s\) "length"/);
  });

  it('rejects calls after dispose() and disposes the engine model once', async () => {
    const { rnn, disposed } = await model();
    rnn.dispose();
    rnn.dispose();
    expect(disposed()).toBe(1);
    await expectRnnError(() => rnn.forward(tensor([3, 2, 3])), 'disposed', /disposed/);
  });

  it('rejects something that is not a backend', async () => {
    await expectRnnError(() => createRnn(config, initStateDict(config), {} as Backend), 'type', /backend must be an engine from createBackend\(\)/);
  });

  it("never writes into the caller's arrays", async () => {
    const { rnn } = await model({ batchFirst: true });
    const input = tensor([2, 3, 3], (i) => i * 0.5);
    const h0 = tensor([4, 2, 2], (i) => -i);
    const lengths = [3, 1];
    const copies = [input.data.slice(), h0.data.slice(), [...lengths]];
    await rnn.forward(input, h0, { lengths });
    expect([input.data, h0.data, lengths]).toEqual(copies);
  });
});
