import { RnnError, type StateDict, type Tensor } from '@recurrent/core';

const shapeText = (shape: readonly number[]) => `[${shape.join(', ')}]`;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (ArrayBuffer.isView(value)) return value.constructor.name;
  if (Array.isArray(value)) return `array of length ${value.length}`;
  return typeof value;
}

/** A state dict entry: Float32Array data whose length is what its shape holds. */
function checkTensor(what: string, name: string, t: Tensor | undefined): void {
  if (t === null || typeof t !== 'object' || !Array.isArray(t.shape)) {
    throw new RnnError('type', `${what} ${name} must be a tensor {data: Float32Array, shape: number[]}, got ${describe(t)}`, { name });
  }
  if (!(t.data instanceof Float32Array)) {
    throw new RnnError('type', `${what} ${name}: data must be a Float32Array, got ${describe(t.data)}`, { name, actual: describe(t.data) });
  }
  const size = t.shape.reduce((a, b) => a * b, 1);
  if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0) || size !== t.data.length) {
    throw new RnnError('shape', `${what} ${name} has shape ${shapeText(t.shape)} but ${t.data.length} values`, { name, shape: [...t.shape], length: t.data.length });
  }
}

/** The parameters an optimiser (or clipping) works on: every entry a well-formed float32 tensor. */
export function checkParams(params: StateDict, what = 'parameter'): string[] {
  if (params === null || typeof params !== 'object') throw new RnnError('type', `params must be a state dict {name: {data, shape}}, got ${describe(params)}`);
  const names = Object.keys(params);
  for (const name of names) checkTensor(what, name, params[name]);
  return names;
}

/**
 * Gradients for exactly the parameters' keys, each of its parameter's shape, as
 * `load_state_dict(strict=True)` matches keys: a missing or unknown key is a `weights` error naming them
 * all, a mis-shaped one a `shape` error. Checked before anything changes.
 */
export function checkGrads(names: readonly string[], params: StateDict, grads: StateDict): void {
  if (grads === null || typeof grads !== 'object') throw new RnnError('type', `grads must be a state dict {name: {data, shape}}, got ${describe(grads)}`);
  const missing = names.filter((name) => !(name in grads));
  const unexpected = Object.keys(grads).filter((name) => !(name in params));
  if (missing.length > 0 || unexpected.length > 0) {
    const parts = [];
    if (missing.length > 0) parts.push(`Missing key(s) in grads: ${missing.map((n) => `"${n}"`).join(', ')}`);
    if (unexpected.length > 0) parts.push(`Unexpected key(s) in grads: ${unexpected.map((n) => `"${n}"`).join(', ')}`);
    throw new RnnError('weights', `Error(s) in the gradients for the optimiser's parameters: ${parts.join('. ')}. Expected one gradient per parameter: ${names.join(', ')}`, { missing, unexpected, expected: [...names] });
  }
  for (const name of names) {
    const g = grads[name]!;
    checkTensor('gradient', name, g);
    const p = params[name]!;
    if (g.shape.length !== p.shape.length || g.shape.some((d, i) => d !== p.shape[i])) {
      throw new RnnError('shape', `the gradient for ${name} has shape ${shapeText(g.shape)}, the parameter's shape is ${shapeText(p.shape)}`, { name, expected: [...p.shape], actual: [...g.shape] });
    }
  }
}

/** A hyper-parameter check in torch.optim's words (`Invalid learning rate: -1`). */
export function checkNumber(name: string, value: unknown, valid: (v: number) => boolean, message: string): number {
  if (typeof value !== 'number') throw new RnnError('config', `${name} must be a number, got ${describe(value)}`, { field: name, actual: describe(value) });
  if (!valid(value)) throw new RnnError('config', `${message}: ${value}`, { field: name, actual: value });
  return value;
}

export function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new RnnError('config', `${name} must be true or false, got ${describe(value)}`, { field: name, actual: describe(value) });
  return value;
}
