import { describe, expect, it } from 'vitest';
import { initStateDict, parameterShapes, planModel, resolveConfig, type StateDict } from '../src/index.js';
import { expectRnnError } from './helpers.js';

const rawConfig = { inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true };
const config = resolveConfig(rawConfig);

describe('state dict validation (like load_state_dict(strict=True))', () => {
  it("expects PyTorch's parameter names and shapes, in PyTorch's order", () => {
    expect([...parameterShapes(config)]).toEqual([
      ['weight_ih_l0', [4, 3]], ['weight_hh_l0', [4, 4]], ['bias_ih_l0', [4]], ['bias_hh_l0', [4]],
      ['weight_ih_l0_reverse', [4, 3]], ['weight_hh_l0_reverse', [4, 4]], ['bias_ih_l0_reverse', [4]], ['bias_hh_l0_reverse', [4]],
      ['weight_ih_l1', [4, 8]], ['weight_hh_l1', [4, 4]], ['bias_ih_l1', [4]], ['bias_hh_l1', [4]],
      ['weight_ih_l1_reverse', [4, 8]], ['weight_hh_l1_reverse', [4, 4]], ['bias_ih_l1_reverse', [4]], ['bias_hh_l1_reverse', [4]],
    ]);
    expect([...parameterShapes(resolveConfig({ inputSize: 2, hiddenSize: 2, bias: false })).keys()]).toEqual(['weight_ih_l0', 'weight_hh_l0']);
  });

  it('names every missing, unexpected and mis-shaped key in one error', async () => {
    const weights = initStateDict(rawConfig, 1);
    delete weights.bias_hh_l1;
    delete weights.weight_hh_l0_reverse;
    weights.weight_ih_l2 = { data: new Float32Array(4), shape: [4] };
    weights.weight_ih_l1 = { data: new Float32Array(4 * 6), shape: [4, 6] };
    const error = await expectRnnError(() => planModel(config, weights), 'weights',
      'Error(s) in loading state_dict for RNN:',
      'Missing key(s) in state_dict: "weight_hh_l0_reverse", "bias_hh_l1".',
      'Unexpected key(s) in state_dict: "weight_ih_l2".',
      'size mismatch for weight_ih_l1: copying a param with shape [4, 6] from checkpoint, the shape in current model is [4, 8]');
    expect(error.details.missing).toEqual(['weight_hh_l0_reverse', 'bias_hh_l1']);
    expect(error.details.unexpected).toEqual(['weight_ih_l2']);
  });

  it('rejects bias tensors when bias=false (they are unexpected keys)', async () => {
    const noBias = resolveConfig({ inputSize: 3, hiddenSize: 4, bias: false });
    await expectRnnError(() => planModel(noBias, initStateDict({ inputSize: 3, hiddenSize: 4 })), 'weights', 'Unexpected key(s) in state_dict: "bias_ih_l0", "bias_hh_l0".');
  });

  it('rejects non-float32 data and data whose length does not match the shape', async () => {
    const weights = initStateDict(rawConfig, 2) as Record<string, unknown>;
    weights.weight_hh_l0 = { data: new Float64Array(16), shape: [4, 4] };
    weights.bias_ih_l0 = { data: new Float32Array(3), shape: [4] };
    weights.bias_hh_l0 = 'not a tensor';
    await expectRnnError(() => planModel(config, weights as StateDict), 'weights',
      'weight_hh_l0: expected data to be a Float32Array, got Float64Array',
      'bias_ih_l0: shape [4] needs 4 values, but data has 3',
      'bias_hh_l0: expected a tensor { data: Float32Array, shape: [4] }, got "not a tensor"');
  });

  it('rejects something that is not a state dict', async () => {
    await expectRnnError(() => planModel(config, null as unknown as StateDict), 'weights', /weights must be a state dict object/);
    await expectRnnError(() => planModel(config, [] as unknown as StateDict), 'weights', /got array of length 0/);
  });

  it("copies the weights: the model never shares or changes the caller's arrays", () => {
    const weights = initStateDict(rawConfig, 3);
    const before = weights.weight_ih_l0!.data.slice();
    const plan = planModel(config, weights);
    expect(plan.layers[0]!.directions[0]!.W_ih).toEqual(before);
    expect(plan.layers[0]!.directions[0]!.W_ih).not.toBe(weights.weight_ih_l0!.data);
    weights.weight_ih_l0!.data[0] = 42;
    expect(plan.layers[0]!.directions[0]!.W_ih[0]).toBe(before[0]);
    expect(plan.layers[1]!.inputSize).toBe(8);
    expect(plan.numDirections).toBe(2);
  });
});

describe('initStateDict', () => {
  it('is seeded and draws from U(−1/√H, 1/√H)', () => {
    const a = initStateDict({ inputSize: 5, hiddenSize: 16 }, 9);
    const b = initStateDict({ inputSize: 5, hiddenSize: 16 }, 9);
    const c = initStateDict({ inputSize: 5, hiddenSize: 16 }, 10);
    expect(a.weight_ih_l0!.data).toEqual(b.weight_ih_l0!.data);
    expect(a.weight_ih_l0!.data).not.toEqual(c.weight_ih_l0!.data);
    const values = Object.values(a).flatMap((t) => [...t.data]);
    expect(Math.max(...values.map(Math.abs))).toBeLessThanOrEqual(0.25);
    expect(Math.max(...values.map(Math.abs))).toBeGreaterThan(0.2);
  });
});
