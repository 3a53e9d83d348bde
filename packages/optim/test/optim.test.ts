import { isRnnError, type StateDict } from '@recurrent/core';
import { describe, expect, it } from 'vitest';
import { Adam, AdamW, SGD, clipGradNorm, fma32 } from '../src/index.js';

const tensor = (values: number[], shape = [values.length]) => ({ data: Float32Array.from(values), shape });
const params = (): StateDict => ({ weight: tensor([1, 2, 3, 4], [2, 2]), bias: tensor([0.5, -0.5]) });
const grads = (): StateDict => ({ weight: tensor([0.1, -0.2, 0.3, -0.4], [2, 2]), bias: tensor([1, -1]) });

function rejects(work: () => unknown, code: string, message: RegExp): void {
  try {
    work();
  } catch (error) {
    expect(isRnnError(error), String(error)).toBe(true);
    expect((error as { code: string }).code).toBe(code);
    expect((error as Error).message).toMatch(message);
    return;
  }
  expect.fail(`expected an RnnError(${code})`);
}

describe('hyper-parameters are validated as torch.optim validates them', () => {
  it('SGD: learning rate, momentum, weight decay, nesterov', () => {
    rejects(() => new SGD(params(), { lr: -1 }), 'config', /^Invalid learning rate: -1$/);
    rejects(() => new SGD(params(), {} as never), 'config', /needs a learning rate/);
    rejects(() => new SGD(params(), { lr: 0.1, momentum: -0.5 }), 'config', /^Invalid momentum value: -0.5$/);
    rejects(() => new SGD(params(), { lr: 0.1, weightDecay: -1 }), 'config', /^Invalid weight_decay value: -1$/);
    rejects(() => new SGD(params(), { lr: 0.1, nesterov: true }), 'config', /^Nesterov momentum requires a momentum and zero dampening$/);
    rejects(() => new SGD(params(), { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true }), 'config', /Nesterov/);
    rejects(() => new SGD(params(), { lr: '0.1' as never }), 'config', /lr must be a number, got string/);
  });

  it('Adam and AdamW: learning rate, epsilon, betas, weight decay', () => {
    for (const Optimizer of [Adam, AdamW]) {
      rejects(() => new Optimizer(params(), { lr: -1 }), 'config', /^Invalid learning rate: -1$/);
      rejects(() => new Optimizer(params(), { lr: NaN }), 'config', /^Invalid learning rate: NaN$/);
      rejects(() => new Optimizer(params(), { eps: -1e-8 }), 'config', /^Invalid epsilon value: -1e-8$/);
      rejects(() => new Optimizer(params(), { betas: [1, 0.999] }), 'config', /^Invalid beta parameter at index 0: 1$/);
      rejects(() => new Optimizer(params(), { betas: [0.9, -0.1] }), 'config', /^Invalid beta parameter at index 1: -0.1$/);
      rejects(() => new Optimizer(params(), { weightDecay: -0.1 }), 'config', /^Invalid weight_decay value: -0.1$/);
    }
  });

  it('defaults are torch.optim\'s', () => {
    const adam = new Adam(params());
    expect([adam.lr, adam.beta1, adam.beta2, adam.eps, adam.weightDecay, adam.amsgrad, adam.maximize]).toEqual([1e-3, 0.9, 0.999, 1e-8, 0, false, false]);
    expect(new AdamW(params()).weightDecay).toBe(1e-2);
    const sgd = new SGD(params(), { lr: 0.1 });
    expect([sgd.momentum, sgd.dampening, sgd.weightDecay, sgd.nesterov, sgd.maximize]).toEqual([0, 0, 0, false, false]);
  });

  it('the learning rate may change between steps, and is checked', () => {
    const sgd = new SGD(params(), { lr: 0.1 });
    sgd.lr = 0.5;
    sgd.step(grads());
    expect(sgd.params.bias!.data[0]).toBe(Math.fround(0.5 - 0.5 * 1));
    rejects(() => (sgd.lr = -2), 'config', /^Invalid learning rate: -2$/);
  });
});

describe('gradients must match the parameters key for key, shape for shape', () => {
  it('a missing or unknown key is a weights error naming them; nothing changes', () => {
    const p = params();
    const opt = new Adam(p);
    const { bias: _, ...missing } = grads();
    rejects(() => opt.step(missing), 'weights', /Missing key\(s\) in grads: "bias"/);
    rejects(() => opt.step({ ...grads(), extra: tensor([1]) }), 'weights', /Unexpected key\(s\) in grads: "extra"/);
    expect(p).toEqual(params());
    expect(opt.steps).toBe(0);
    expect(opt.state.size).toBe(0);
  });

  it('a mis-shaped gradient is a shape error with expected and got; nothing changes', () => {
    const p = params();
    const opt = new SGD(p, { lr: 0.1, momentum: 0.9 });
    rejects(() => opt.step({ ...grads(), weight: tensor([1, 2, 3, 4], [4]) }), 'shape', /gradient for weight has shape \[4\], the parameter's shape is \[2, 2\]/);
    rejects(() => opt.step({ ...grads(), bias: { data: new Float64Array(2), shape: [2] } as never }), 'type', /data must be a Float32Array, got Float64Array/);
    rejects(() => opt.step({ ...grads(), bias: tensor([1, 2, 3], [2]) }), 'shape', /has shape \[2\] but 3 values/);
    expect(p).toEqual(params());
    expect(opt.momentumBuffers.size).toBe(0);
  });

  it('parameters are checked when the optimiser is built', () => {
    rejects(() => new SGD({ w: tensor([1, 2], [3]) }, { lr: 1 }), 'shape', /parameter w has shape \[3\] but 2 values/);
    rejects(() => new Adam({ w: { data: [1, 2], shape: [2] } as never }), 'type', /data must be a Float32Array, got array/);
  });
});

describe('in place, as torch.optim', () => {
  it('step() updates the very arrays passed in and leaves the gradients alone', () => {
    const p = params();
    const weight = p.weight!.data;
    const g = grads();
    const before = g.weight!.data.slice();
    new SGD(p, { lr: 0.1 }).step(g);
    expect(p.weight!.data).toBe(weight);
    expect(Array.from(weight)).toEqual([1 - 0.01, 2 + 0.02, 3 - 0.03, 4 + 0.04].map(Math.fround));
    expect(g.weight!.data).toEqual(before);
  });

  it('clipGradNorm scales the gradients in place and returns the total norm', () => {
    const g = { a: tensor([3, 0]), b: tensor([4]) };
    const total = clipGradNorm(g, 1);
    expect(total).toBe(5);
    expect(Array.from(g.a.data)).toEqual([Math.fround(3 * Math.fround(Math.fround(1 / Math.fround(5 + Math.fround(1e-6))))), 0]);
    expect(clipGradNorm({}, 1)).toBe(0);
  });

  it('clipGradNorm with a non-finite norm scales as error_if_nonfinite=False does: by 0 for ∞, by NaN for NaN', () => {
    const inf = { a: tensor([Infinity, 1]), b: tensor([2]) };
    expect(clipGradNorm(inf, 1)).toBe(Infinity);
    expect(Array.from(inf.a.data)).toEqual([NaN, 0]);
    expect(Array.from(inf.b.data)).toEqual([0]);
    const nan = { a: tensor([NaN, 1]) };
    expect(clipGradNorm(nan, 1, { normType: Infinity })).toBeNaN();
    expect(Array.from(nan.a.data)).toEqual([NaN, NaN]);
  });
});

describe('fma32', () => {
  it('rounds a·b + c once, also where rounding through a double would round twice', () => {
    // (1 + 2^-23)(1 − 2^-23) + 2^24 + 2 = 2^24 + 3 − 2^-46: a double holds 2^24 + 3, a float32 tie that rounds
    // to even (2^24 + 4); rounded once, the exact sum is below the tie: 2^24 + 2
    expect(Math.fround((1 + 2 ** -23) * (1 - 2 ** -23) + 2 ** 24 + 2)).toBe(2 ** 24 + 4);
    expect(fma32(1 + 2 ** -23, 1 - 2 ** -23, 2 ** 24 + 2)).toBe(2 ** 24 + 2);
    expect(fma32(2, 3, 1)).toBe(7);
    expect(fma32(Infinity, 0, 1)).toBeNaN();
  });
});
