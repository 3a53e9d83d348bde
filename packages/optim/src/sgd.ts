import { RnnError, type StateDict } from '@recurrent/core';
import { f32, fma32 } from './float32.js';
import { Optimizer } from './optimizer.js';
import { checkBoolean, checkNumber } from './params.js';

export interface SgdOptions {
  /** Learning rate (required, as in torch.optim.SGD). */
  lr: number;
  /** Momentum factor. Default 0. */
  momentum?: number;
  /** Dampening for momentum. Default 0. */
  dampening?: number;
  /** L2 penalty added to the gradient. Default 0. */
  weightDecay?: number;
  /** Nesterov momentum (needs momentum > 0 and dampening 0). Default false. */
  nesterov?: boolean;
  /** Maximise the objective instead of minimising it. Default false. */
  maximize?: boolean;
}

/**
 * `torch.optim.SGD` (torch 1.13, the single-tensor loop `_single_tensor_sgd`), step for step in float32:
 *
 *     d_p = −g if maximize else g
 *     d_p = d_p + weight_decay·p                                 (weight_decay ≠ 0)
 *     buf = d_p at the first step, else momentum·buf + (1 − dampening)·d_p    (momentum ≠ 0)
 *     d_p = d_p + momentum·buf if nesterov else buf
 *     p   = p − lr·d_p
 *
 * Each `x + α·y` is one fused multiply-add with α rounded to float32, as PyTorch's CPU kernels do.
 */
export class SGD extends Optimizer {
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  readonly maximize: boolean;
  /** Momentum buffers per parameter, created at the first step (momentum ≠ 0 only). */
  readonly momentumBuffers = new Map<string, Float32Array>();

  constructor(params: StateDict, options: SgdOptions) {
    if (options === null || typeof options !== 'object' || options.lr === undefined) {
      throw new RnnError('config', 'SGD needs a learning rate: new SGD(params, { lr })', { field: 'lr' });
    }
    super(params, options.lr);
    this.momentum = checkNumber('momentum', options.momentum ?? 0, (v) => v >= 0, 'Invalid momentum value');
    this.dampening = checkNumber('dampening', options.dampening ?? 0, Number.isFinite, 'Invalid dampening value');
    this.weightDecay = checkNumber('weightDecay', options.weightDecay ?? 0, (v) => v >= 0, 'Invalid weight_decay value');
    this.nesterov = checkBoolean('nesterov', options.nesterov ?? false);
    this.maximize = checkBoolean('maximize', options.maximize ?? false);
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new RnnError('config', 'Nesterov momentum requires a momentum and zero dampening', { field: 'nesterov', momentum: this.momentum, dampening: this.dampening });
    }
  }

  protected update(name: string, p: Float32Array, g: Float32Array): void {
    const { momentum, nesterov, maximize } = this;
    const decay = this.weightDecay !== 0;
    const weightDecay = f32(this.weightDecay);
    const momentum32 = f32(momentum);
    const keep = f32(1 - this.dampening);
    const negLr = f32(-this.lr);
    let buf = this.momentumBuffers.get(name);
    const first = buf === undefined;
    if (momentum !== 0 && buf === undefined) this.momentumBuffers.set(name, (buf = new Float32Array(p.length)));
    for (let i = 0; i < p.length; i++) {
      let d = maximize ? -g[i]! : g[i]!;
      if (decay) d = fma32(p[i]!, weightDecay, d);
      if (buf !== undefined) {
        const b = first ? d : fma32(d, keep, f32(buf[i]! * momentum32));
        buf[i] = b;
        d = nesterov ? fma32(b, momentum32, d) : b;
      }
      p[i] = fma32(d, negLr, p[i]!);
    }
  }
}
