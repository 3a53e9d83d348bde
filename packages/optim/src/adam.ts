import { RnnError, type StateDict } from '@recurrent/core';
import { f32, fma32 } from './float32.js';
import { Optimizer } from './optimizer.js';
import { checkBoolean, checkNumber } from './params.js';

export interface AdamOptions {
  /** Learning rate. Default 1e-3. */
  lr?: number;
  /** Coefficients of the running averages of the gradient and its square. Default [0.9, 0.999]. */
  betas?: readonly [number, number];
  /** Added to the denominator. Default 1e-8. */
  eps?: number;
  /** Adam: L2 penalty added to the gradient (default 0). AdamW: decoupled decay of the weights (default 1e-2). */
  weightDecay?: number;
  /** The AMSGrad variant: normalise by the largest second moment so far. Default false. */
  amsgrad?: boolean;
  /** Maximise the objective instead of minimising it. Default false. */
  maximize?: boolean;
}

/** One parameter's state, as torch.optim keeps it in `optimizer.state[p]`. */
export interface AdamState {
  expAvg: Float32Array;
  expAvgSq: Float32Array;
  /** AMSGrad only. */
  maxExpAvgSq: Float32Array | null;
}

/**
 * `torch.optim.Adam` and (decoupled) `AdamW` of torch 1.13, the single-tensor loops `_single_tensor_adam`
 * and `_single_tensor_adamw`, step for step in float32:
 *
 *     g   = −g if maximize
 *     p   = p·(1 − lr·weight_decay)                          (AdamW)
 *     g   = g + weight_decay·p                               (Adam, weight_decay ≠ 0)
 *     m   = m·β1 + (1 − β1)·g
 *     v   = v·β2 + ((1 − β2)·g)·g
 *     v̂   = max(v̂, v) if amsgrad else v
 *     p   = p + (−lr / (1 − β1^t))·m / (√v̂ / √(1 − β2^t) + eps)
 *
 * The bias corrections, the step size and √(1 − β2^t) are python floats (doubles) that reach the float32
 * kernels rounded; `x + α·y` and `x + α·y·z` are fused multiply-adds, as PyTorch's CPU kernels compute
 * `add_(y, alpha=α)` and `addcmul_`.
 */
class AdamBase extends Optimizer {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly amsgrad: boolean;
  readonly maximize: boolean;
  /** Per-parameter state, created at the first step. */
  readonly state = new Map<string, AdamState>();
  readonly #decoupled: boolean;

  protected constructor(params: StateDict, options: AdamOptions, decoupled: boolean) {
    if (options === null || typeof options !== 'object') throw new RnnError('config', `options must be an object, got ${options === null ? 'null' : typeof options}`);
    super(params, options.lr ?? 1e-3);
    this.#decoupled = decoupled;
    this.eps = checkNumber('eps', options.eps ?? 1e-8, (v) => v >= 0, 'Invalid epsilon value');
    const betas = options.betas ?? [0.9, 0.999];
    if (!Array.isArray(betas) || betas.length !== 2) throw new RnnError('config', `betas must be [beta1, beta2], got ${JSON.stringify(betas)}`, { field: 'betas' });
    this.beta1 = checkNumber('betas[0]', betas[0], (v) => v >= 0 && v < 1, 'Invalid beta parameter at index 0');
    this.beta2 = checkNumber('betas[1]', betas[1], (v) => v >= 0 && v < 1, 'Invalid beta parameter at index 1');
    this.weightDecay = checkNumber('weightDecay', options.weightDecay ?? (decoupled ? 1e-2 : 0), (v) => v >= 0, 'Invalid weight_decay value');
    this.amsgrad = checkBoolean('amsgrad', options.amsgrad ?? false);
    this.maximize = checkBoolean('maximize', options.maximize ?? false);
  }

  protected update(name: string, p: Float32Array, g: Float32Array, step: number): void {
    let state = this.state.get(name);
    if (state === undefined) {
      const n = p.length;
      this.state.set(name, (state = { expAvg: new Float32Array(n), expAvgSq: new Float32Array(n), maxExpAvgSq: this.amsgrad ? new Float32Array(n) : null }));
    }
    const { expAvg: m, expAvgSq: v, maxExpAvgSq: vMax } = state;
    const { lr, beta1, beta2, maximize } = this;
    // python floats: exactly what torch computes before handing them to the kernels
    const biasCorrection1 = 1 - beta1 ** step;
    const biasCorrection2 = 1 - beta2 ** step;
    const negStepSize = f32(-(lr / biasCorrection1));
    const biasCorrection2Sqrt = f32(Math.sqrt(biasCorrection2));
    const beta1_32 = f32(beta1);
    const beta2_32 = f32(beta2);
    const oneMinusBeta1 = f32(1 - beta1);
    const oneMinusBeta2 = f32(1 - beta2);
    const eps = f32(this.eps);
    const l2 = !this.#decoupled && this.weightDecay !== 0;
    const weightDecay = f32(this.weightDecay);
    const decay = f32(1 - lr * this.weightDecay); // AdamW multiplies even by 1, as torch does
    for (let i = 0; i < p.length; i++) {
      let grad = maximize ? -g[i]! : g[i]!;
      if (this.#decoupled) p[i] = f32(p[i]! * decay);
      else if (l2) grad = fma32(p[i]!, weightDecay, grad);
      const m_i = fma32(grad, oneMinusBeta1, f32(m[i]! * beta1_32));
      const v_i = fma32(f32(oneMinusBeta2 * grad), grad, f32(v[i]! * beta2_32));
      m[i] = m_i;
      v[i] = v_i;
      let second = v_i;
      if (vMax !== null) second = vMax[i] = Math.max(vMax[i]!, v_i); // NaN wins, as in torch.maximum
      const denom = f32(f32(f32(Math.sqrt(second)) / biasCorrection2Sqrt) + eps);
      p[i] = f32(p[i]! + f32(f32(negStepSize * m_i) / denom));
    }
  }
}

/** `torch.optim.Adam(params, lr, betas, eps, weight_decay, amsgrad, maximize=…)`: see AdamBase for the arithmetic. */
export class Adam extends AdamBase {
  constructor(params: StateDict, options: AdamOptions = {}) {
    super(params, options, false);
  }
}

/** `torch.optim.AdamW`: Adam with the weight decay applied to the weights (p·(1 − lr·wd)) before the step; weightDecay defaults to 1e-2. */
export class AdamW extends AdamBase {
  constructor(params: StateDict, options: AdamOptions = {}) {
    super(params, options, true);
  }
}
