import { describe, expect, it } from 'vitest';
import {
  createGru, createLstm, createRnn, forwardFlops, initStateDict, parameterShapes, resolveConfig,
  type Backend, type ForwardPlan, type LstmConfig, type ModelPlan, type Tensor,
} from '../src/index.js';
import { expectRnnError } from './helpers.js';

/** An engine that records the plans core hands it and answers with zeros of the right sizes. */
function recordingBackend() {
  const models: ModelPlan[] = [];
  const plans: ForwardPlan[] = [];
  const backend: Backend = {
    name: 'recording',
    async createModel(model) {
      models.push(model);
      const D = model.numDirections;
      return {
        async forward(plan) {
          plans.push(plan);
          const states = model.numLayers * D * plan.batch;
          return {
            output: new Float32Array(plan.seqLen * plan.batch * D * model.outputSize),
            hN: new Float32Array(states * model.outputSize),
            ...(model.mode === 'lstm' ? { cN: new Float32Array(states * model.hiddenSize) } : {}),
          };
        },
        dispose() {},
      };
    },
    dispose() {},
  };
  return { backend, models, plans };
}

const tensor = (shape: number[]): Tensor => ({ shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
const lstmConfig: LstmConfig = { inputSize: 3, hiddenSize: 5, numLayers: 2, bidirectional: true, projSize: 2 };

describe('LSTM and GRU share the module shape', () => {
  it("expects nn.LSTM's parameters with proj_size: (4H, in), (4H, H_out), weight_hr (proj, H), layer 1 reads D·H_out", () => {
    const shapes = parameterShapes(resolveConfig(lstmConfig, 'lstm'));
    expect(Object.fromEntries([...shapes].filter(([k]) => k.endsWith('_l0') || k.endsWith('_l1_reverse')))).toEqual({
      weight_ih_l0: [20, 3], weight_hh_l0: [20, 2], bias_ih_l0: [20], bias_hh_l0: [20], weight_hr_l0: [2, 5],
      weight_ih_l1_reverse: [20, 4], weight_hh_l1_reverse: [20, 2], bias_ih_l1_reverse: [20], bias_hh_l1_reverse: [20], weight_hr_l1_reverse: [2, 5],
    });
    expect(shapes.size).toBe(20);
  });

  it("expects nn.GRU's parameters: three gates stacked (r, z, n)", () => {
    const shapes = parameterShapes(resolveConfig({ inputSize: 3, hiddenSize: 4, bias: false }, 'gru'));
    expect([...shapes]).toEqual([['weight_ih_l0', [12, 3]], ['weight_hh_l0', [12, 4]]]);
  });

  it('hands the engine mode, gates, projSize and H_out, and the LSTM states h0 and c0', async () => {
    const { backend, models, plans } = recordingBackend();
    const lstm = await createLstm(lstmConfig, initStateDict(lstmConfig, 1, 'lstm'), backend);
    expect(models[0]).toMatchObject({ mode: 'lstm', gates: 4, hiddenSize: 5, projSize: 2, outputSize: 2, numLayers: 2, numDirections: 2 });
    expect(models[0]!.layers[1]!.inputSize).toBe(4);
    expect(models[0]!.layers[0]!.directions[1]!.W_hr).toHaveLength(10);
    const h0 = tensor([4, 3, 2]);
    const c0 = tensor([4, 3, 5]);
    const { output, hN, cN } = await lstm.forward(tensor([6, 3, 3]), [h0, c0]);
    expect(plans[0]!.h0).toBe(h0.data);
    expect(plans[0]!.c0).toBe(c0.data);
    expect([output.shape, hN.shape, cN.shape]).toEqual([[6, 3, 4], [4, 3, 2], [4, 3, 5]]);
    expect(lstm.config).toEqual({ inputSize: 3, hiddenSize: 5, numLayers: 2, bias: true, batchFirst: false, dropout: 0, bidirectional: true, projSize: 2 });
  });

  it('gives unbatched LSTM states without the N axis', async () => {
    const { backend } = recordingBackend();
    const lstm = await createLstm(lstmConfig, initStateDict(lstmConfig, 1, 'lstm'), backend);
    const { output, hN, cN } = await lstm.forward(tensor([6, 3]), [tensor([4, 2]), tensor([4, 5])]);
    expect([output.shape, hN.shape, cN.shape]).toEqual([[6, 4], [4, 2], [4, 5]]);
  });

  it('runs a GRU with h0 alone and reports its config without nonlinearity', async () => {
    const { backend, models, plans } = recordingBackend();
    const config = { inputSize: 2, hiddenSize: 3, batchFirst: true };
    const gru = await createGru(config, initStateDict(config, 2, 'gru'), backend);
    const { output, hN } = await gru.forward(tensor([4, 5, 2]), tensor([1, 4, 3]));
    expect(models[0]).toMatchObject({ mode: 'gru', gates: 3, projSize: 0, outputSize: 3 });
    expect(plans[0]!.c0).toBeNull();
    expect([output.shape, hN.shape]).toEqual([[4, 5, 3], [1, 4, 3]]);
    expect(gru.config).not.toHaveProperty('nonlinearity');
  });

  it('counts FLOPs as 2·B·T·D·Σ G·H·(I_l + H_out), plus the projection', () => {
    const M = { inputSize: 256, hiddenSize: 256, numLayers: 2, bidirectional: true };
    expect(forwardFlops(M, 32, 128, 'gru')).toBe(3 * forwardFlops(M, 32, 128, 'rnn'));
    expect(forwardFlops(M, 32, 128, 'lstm')).toBe(4 * forwardFlops(M, 32, 128, 'rnn'));
    // one layer, uni: G·H·(I + P) + P·H per step
    expect(forwardFlops({ inputSize: 3, hiddenSize: 5, projSize: 2 }, 1, 1, 'lstm')).toBe(2 * (20 * (3 + 2) + 2 * 5));
  });
});

describe('LSTM and GRU misuse gets an RnnError saying what was expected', () => {
  it('refuses options the module does not have', async () => {
    await expectRnnError(() => resolveConfig({ inputSize: 1, hiddenSize: 2, nonlinearity: 'relu' } as LstmConfig, 'lstm'), 'config',
      /unknown option\(s\) "nonlinearity" for LSTM/);
    await expectRnnError(() => resolveConfig({ inputSize: 1, hiddenSize: 2, projSize: 1 } as LstmConfig, 'gru'), 'config', /unknown option\(s\) "projSize" for GRU/);
  });

  it.each([
    [4, 'config.projSize has to be smaller than hiddenSize. Expected projSize < 4, got 4'],
    [9, /Expected projSize < 4, got 9/],
    [-1, /config\.projSize must be a non-negative integer\. Expected an integer ≥ 0, got -1/],
    [1.5, /got 1\.5/],
  ])('refuses projSize = %s', async (projSize, message) => {
    await expectRnnError(() => resolveConfig({ inputSize: 1, hiddenSize: 4, projSize }, 'lstm'), 'config', message);
  });

  it("says so when a GRU's state dict is given to createLstm, and the other way round", async () => {
    const config = { inputSize: 3, hiddenSize: 4, numLayers: 2 };
    const { backend } = recordingBackend();
    const error = await expectRnnError(() => createLstm(config, initStateDict(config, 1, 'gru'), backend), 'weights',
      'Error(s) in loading state_dict for LSTM:',
      'size mismatch for weight_ih_l0: copying a param with shape [12, 3] from checkpoint, the shape in current model is [16, 3]',
      /this looks like a GRU's state dict, .* Use createGru\(\) for it/);
    expect(error.details.mismatched).toHaveLength(8);
    await expectRnnError(() => createGru(config, initStateDict(config, 1, 'lstm'), backend), 'weights', /looks like an LSTM's state dict, .* Use createLstm\(\)/);
    await expectRnnError(() => createRnn(config, initStateDict(config, 1, 'lstm'), backend), 'weights', /Use createLstm\(\)/);
  });

  it('explains weight_hr without projSize, and projSize without weight_hr', async () => {
    const { backend } = recordingBackend();
    const projected = initStateDict({ inputSize: 3, hiddenSize: 4, projSize: 2 }, 1, 'lstm');
    await expectRnnError(() => createLstm({ inputSize: 3, hiddenSize: 4 }, projected, backend), 'weights',
      'Unexpected key(s) in state_dict: "weight_hr_l0".', /pass projSize \(the rows of weight_hr_l0\)/);
    await expectRnnError(() => createLstm({ inputSize: 3, hiddenSize: 4, projSize: 2 }, initStateDict({ inputSize: 3, hiddenSize: 4 }, 1, 'lstm'), backend), 'weights',
      'Missing key(s) in state_dict: "weight_hr_l0".', /needs weight_hr_l\* of shape \[2, 4\]/);
  });

  it('asks an LSTM for both states as a pair, with their own shapes', async () => {
    const { backend } = recordingBackend();
    const lstm = await createLstm(lstmConfig, initStateDict(lstmConfig, 1, 'lstm'), backend);
    const input = tensor([6, 3, 3]);
    await expectRnnError(() => lstm.forward(input, tensor([4, 3, 2]) as never), 'type', /LSTM: hx must be a pair \[h0, c0\]/);
    await expectRnnError(() => lstm.forward(input, [tensor([4, 3, 2])] as never), 'type', /hx must be a pair/);
    await expectRnnError(() => lstm.forward(input, [tensor([4, 3, 5]), tensor([4, 3, 5])]), 'shape', 'Expected hidden[0] size [4, 3, 2], got [4, 3, 5] (h0)');
    await expectRnnError(() => lstm.forward(input, [tensor([4, 3, 2]), tensor([4, 3, 2])]), 'shape', 'Expected hidden[1] size [4, 3, 5], got [4, 3, 2] (c0)');
    await expectRnnError(() => lstm.forward(input, [tensor([4, 3, 2]), tensor([4, 5])]), 'shape', /For batched 3-D input, c0 should also be 3-D \[4, 3, 5\]/);
  });

  it('refuses a pair of states for a GRU', async () => {
    const { backend } = recordingBackend();
    const config = { inputSize: 2, hiddenSize: 3 };
    const gru = await createGru(config, initStateDict(config, 1, 'gru'), backend);
    await expectRnnError(() => gru.forward(tensor([4, 1, 2]), [tensor([1, 1, 3]), tensor([1, 1, 3])] as never), 'type', /GRU: h0 must be one tensor \[1, 1, 3\]/);
  });
});
