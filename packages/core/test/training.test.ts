import { describe, expect, it } from 'vitest';
import { createGru, createLstm, createRnn, initStateDict, type Backend, type BackwardPlan, type EngineModel, type ModelPlan, type Tensor } from '../src/index.js';
import { expectRnnError } from './helpers.js';

/** An engine whose backward returns recognisable values: input grad = gradOutput's first column, weight grads = plan weights + 1. */
function trainingBackend(withTraining = true) {
  const backwards: BackwardPlan[] = [];
  const loads: ModelPlan[] = [];
  const backend: Backend = {
    name: 'training',
    async createModel(model) {
      const D = model.numDirections;
      const engine: EngineModel = {
        async forward(plan) {
          const rows = model.numLayers * D * plan.batch;
          return {
            output: new Float32Array(plan.seqLen * plan.batch * D * model.outputSize),
            hN: new Float32Array(rows * model.outputSize),
            ...(model.mode === 'lstm' ? { cN: new Float32Array(rows * model.hiddenSize) } : {}),
          };
        },
        dispose() {},
      };
      if (withTraining) {
        engine.backward = async (plan) => {
          backwards.push(plan);
          const rows = model.numLayers * D * plan.batch;
          const plus1 = (a: Float32Array | null) => (a === null ? null : a.map((v) => v + 1));
          return {
            input: new Float32Array(plan.seqLen * plan.batch * model.inputSize).map((_, i) => i),
            h0: new Float32Array(rows * model.outputSize),
            ...(model.mode === 'lstm' ? { c0: new Float32Array(rows * model.hiddenSize) } : {}),
            layers: model.layers.map((layer) => layer.directions.map((w) => ({
              W_ih: plus1(w.W_ih)!, W_hh: plus1(w.W_hh)!, b_ih: plus1(w.b_ih), b_hh: plus1(w.b_hh), W_hr: plus1(w.W_hr),
            }))),
          };
        };
        engine.loadWeights = async (plan) => {
          loads.push(plan);
        };
      }
      return engine;
    },
    dispose() {},
  };
  return { backend, backwards, loads };
}

const ramp = (...shape: number[]): Tensor => ({ data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i), shape });

describe('backward, stateDict and loadStateDict: core plumbing', () => {
  it("hands engines time-major upstream gradients and gives batch_first callers their layout and PyTorch's names back", async () => {
    const config = { inputSize: 2, hiddenSize: 3, projSize: 1, batchFirst: true, bidirectional: true };
    const weights = initStateDict(config, 1, 'lstm');
    const { backend, backwards } = trainingBackend();
    const lstm = await createLstm(config, weights, backend);
    const grads = await lstm.backward(ramp(2, 4, 2), undefined, { output: ramp(2, 4, 2), cN: ramp(2, 2, 3) });
    const plan = backwards[0]!;
    // gradOutput[t=1][n=0] is the caller's output[n=0][t=1]
    expect([...plan.gradOutput!.subarray((1 * 2 + 0) * 2, (1 * 2 + 0) * 2 + 2)]).toEqual([2, 3]);
    expect(plan.gradHN).toBeNull();
    expect(plan.gradCN).toEqual(ramp(2, 2, 3).data);
    expect(grads.input.shape).toEqual([2, 4, 2]);
    expect(grads.input.data[(1 * 4 + 0) * 2]).toBe((0 * 2 + 1) * 2); // (n=1, t=0) came from time-major row t=0, n=1
    expect([grads.h0.shape, grads.c0.shape]).toEqual([[2, 2, 1], [2, 2, 3]]);
    expect(Object.keys(grads.weights)).toEqual(Object.keys(weights));
    expect(grads.weights.weight_hr_l0_reverse!.shape).toEqual([1, 3]);
    expect(grads.weights.bias_hh_l0!.data[0]).toBeCloseTo(weights.bias_hh_l0!.data[0]! + 1);
  });

  it('checks upstream gradients against the shapes forward gives', async () => {
    const config = { inputSize: 2, hiddenSize: 3 };
    const { backend } = trainingBackend();
    const gru = await createGru(config, initStateDict(config, 1, 'gru'), backend);
    await expectRnnError(() => gru.backward(ramp(4, 2, 2), undefined, { output: ramp(4, 2, 4) }), 'shape',
      'upstream.output must have the shape forward gives output for this input, [4, 2, 3], got [4, 2, 4]');
    await expectRnnError(() => gru.backward(ramp(4, 2), undefined, { hN: ramp(1, 1, 3) }), 'shape', /upstream\.hN .* \[1, 3\], got \[1, 1, 3\]/);
    await expectRnnError(() => gru.backward(ramp(4, 2, 2), undefined, { cN: ramp(1, 2, 3) } as never), 'type', /unknown field\(s\) "cN". Known for GRU: output, hN/);
    await expectRnnError(() => gru.backward(ramp(4, 2, 2), undefined, null as never), 'type', /upstream gradients must be an object/);
    await expectRnnError(() => gru.backward(ramp(4, 2, 2), undefined, { output: { data: new Float64Array(24), shape: [4, 2, 3] } } as never), 'type', /upstream\.output\.data must be a Float32Array/);
  });

  it('gives a copy of the weights it holds, and replaces them strictly, keeping them when refused', async () => {
    const config = { inputSize: 2, hiddenSize: 3, numLayers: 2 };
    const weights = initStateDict(config, 1);
    const { backend, loads } = trainingBackend();
    const rnn = await createRnn(config, weights, backend);
    const held = rnn.stateDict();
    expect(held).toEqual(weights);
    expect(held.weight_ih_l0!.data).not.toBe(weights.weight_ih_l0!.data);
    held.weight_ih_l0!.data[0] = 42;
    expect(rnn.stateDict().weight_ih_l0!.data[0]).toBe(weights.weight_ih_l0!.data[0]);
    const next = initStateDict(config, 2);
    await rnn.loadStateDict(next);
    expect(loads).toHaveLength(1);
    expect(rnn.stateDict()).toEqual(next);
    const { weight_hh_l1: _dropped, ...missing } = next;
    await expectRnnError(() => rnn.loadStateDict(missing), 'weights', 'Missing key(s) in state_dict: "weight_hh_l1".');
    expect(rnn.stateDict()).toEqual(next);
    expect(loads).toHaveLength(1);
  });

  it('says so when an engine has no backward or cannot replace weights', async () => {
    const config = { inputSize: 2, hiddenSize: 3 };
    const { backend } = trainingBackend(false);
    const rnn = await createRnn(config, initStateDict(config), backend);
    await expectRnnError(() => rnn.backward(ramp(1, 1, 2), undefined, {}), 'unavailable', /cannot compute gradients/);
    await expectRnnError(() => rnn.loadStateDict(initStateDict(config)), 'unavailable', /cannot replace weights in place/);
    rnn.dispose();
    await expectRnnError(() => rnn.backward(ramp(1, 1, 2), undefined, {}), 'disposed', /disposed/);
    expect(() => rnn.stateDict()).toThrowError(/disposed/);
  });
});
