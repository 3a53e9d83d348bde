import type { StateDict } from '@recurrent/core';
import { checkGrads, checkNumber, checkParams } from './params.js';

/**
 * What SGD, Adam and AdamW share: the parameters they own and the strict gradient check.
 *
 * An optimiser updates the Float32Arrays of `params` in place, as `optimizer.step()` updates a module's
 * parameters in PyTorch: keep no other copy you expect to stay put, and hand the same state dict to
 * `model.loadStateDict(params)` after each step to push the new weights to the engine.
 */
export abstract class Optimizer {
  /** The parameters this optimiser updates in place (the very object passed to the constructor). */
  readonly params: StateDict;
  /** Parameter names in the order they were given: the order steps visit them. */
  readonly names: readonly string[];
  #lr: number;
  #steps = 0;

  protected constructor(params: StateDict, lr: number) {
    this.names = checkParams(params);
    this.params = params;
    this.#lr = checkNumber('lr', lr, (v) => v >= 0, 'Invalid learning rate');
  }

  /** The learning rate of the next step; may be changed between steps (a schedule), as `param_groups[0]['lr']`. */
  get lr(): number {
    return this.#lr;
  }

  set lr(value: number) {
    this.#lr = checkNumber('lr', value, (v) => v >= 0, 'Invalid learning rate');
  }

  /** How many steps have been taken. */
  get steps(): number {
    return this.#steps;
  }

  /**
   * One update of every parameter from its gradient (`grads` must have exactly the parameters' keys and
   * shapes; it is read, never changed). A rejected call changes nothing.
   */
  step(grads: StateDict): void {
    checkGrads(this.names, this.params, grads);
    this.#steps++;
    for (const name of this.names) this.update(name, this.params[name]!.data, grads[name]!.data, this.#steps);
  }

  /** The update of one parameter at step `step` (1 for the first), in PyTorch's order of operations. */
  protected abstract update(name: string, param: Float32Array, grad: Float32Array, step: number): void;
}
