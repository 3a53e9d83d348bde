import { numDirections, type ResolvedConfig } from './config.js';
import { RnnError, describeValue, formatShape } from './errors.js';
import type { DirectionWeights, ModelPlan, StateDict, Tensor } from './types.js';

/** The state_dict keys nn.RNN(config) has, in PyTorch's order, with their shapes. */
export function parameterShapes(config: ResolvedConfig): Map<string, number[]> {
  const H = config.hiddenSize;
  const D = numDirections(config);
  const shapes = new Map<string, number[]>();
  for (let layer = 0; layer < config.numLayers; layer++) {
    const inputWidth = layer === 0 ? config.inputSize : D * H;
    for (let direction = 0; direction < D; direction++) {
      const suffix = `_l${layer}${direction === 1 ? '_reverse' : ''}`;
      shapes.set(`weight_ih${suffix}`, [H, inputWidth]);
      shapes.set(`weight_hh${suffix}`, [H, H]);
      if (config.bias) {
        shapes.set(`bias_ih${suffix}`, [H]);
        shapes.set(`bias_hh${suffix}`, [H]);
      }
    }
  }
  return shapes;
}

function shapeOf(tensor: unknown): number[] | null {
  if (tensor === null || typeof tensor !== 'object') return null;
  const shape = (tensor as Tensor).shape;
  return Array.isArray(shape) && shape.every((d) => Number.isSafeInteger(d) && d >= 0) ? shape : null;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Checks a state dict like `load_state_dict(strict=True)`: every missing, unexpected and mis-shaped key
 * is named in one error. Returns the plan engines build from, with the weights copied (the model owns
 * them; later changes to the caller's arrays do not reach it).
 */
export function planModel(config: ResolvedConfig, weights: StateDict): ModelPlan {
  if (weights === null || typeof weights !== 'object' || Array.isArray(weights)) {
    throw new RnnError('weights', `weights must be a state dict object (name → { data, shape }), got ${describeValue(weights)}`);
  }
  const expected = parameterShapes(config);
  const missing = [...expected.keys()].filter((key) => !(key in weights));
  const unexpected = Object.keys(weights).filter((key) => !expected.has(key));
  const problems: string[] = [];
  const mismatched: { key: string; expected: number[]; actual: unknown }[] = [];
  for (const [key, shape] of expected) {
    if (!(key in weights)) continue;
    const tensor = weights[key] as unknown;
    const actualShape = shapeOf(tensor);
    if (actualShape === null) {
      problems.push(`${key}: expected a tensor { data: Float32Array, shape: ${formatShape(shape)} }, got ${describeValue(tensor)}`);
      continue;
    }
    if (!sameShape(actualShape, shape)) {
      mismatched.push({ key, expected: shape, actual: actualShape });
      problems.push(
        `size mismatch for ${key}: copying a param with shape ${formatShape(actualShape)} from checkpoint, the shape in current model is ${formatShape(shape)}`,
      );
      continue;
    }
    const data = (tensor as Tensor).data as unknown;
    if (!(data instanceof Float32Array)) {
      problems.push(`${key}: expected data to be a Float32Array, got ${describeValue(data)} (convert with Float32Array.from)`);
      continue;
    }
    const count = shape.reduce((a, b) => a * b, 1);
    if (data.length !== count) {
      problems.push(`${key}: shape ${formatShape(shape)} needs ${count} values, but data has ${data.length}`);
    }
  }
  if (missing.length > 0 || unexpected.length > 0 || problems.length > 0) {
    const lines = ['Error(s) in loading state_dict for RNN:'];
    if (missing.length > 0) lines.push(`Missing key(s) in state_dict: ${missing.map((k) => `"${k}"`).join(', ')}.`);
    if (unexpected.length > 0) lines.push(`Unexpected key(s) in state_dict: ${unexpected.map((k) => `"${k}"`).join(', ')}.`);
    lines.push(...problems);
    throw new RnnError('weights', lines.join('\n\t'), { missing, unexpected, mismatched, problems });
  }

  const copy = (key: string): Float32Array => new Float32Array(weights[key]!.data);
  const D = numDirections(config);
  const layers = [];
  for (let layer = 0; layer < config.numLayers; layer++) {
    const directions: DirectionWeights[] = [];
    for (let direction = 0; direction < D; direction++) {
      const suffix = `_l${layer}${direction === 1 ? '_reverse' : ''}`;
      directions.push({
        W_ih: copy(`weight_ih${suffix}`),
        W_hh: copy(`weight_hh${suffix}`),
        b_ih: config.bias ? copy(`bias_ih${suffix}`) : null,
        b_hh: config.bias ? copy(`bias_hh${suffix}`) : null,
      });
    }
    layers.push({ inputSize: layer === 0 ? config.inputSize : D * config.hiddenSize, directions });
  }
  return {
    inputSize: config.inputSize,
    hiddenSize: config.hiddenSize,
    numLayers: config.numLayers,
    numDirections: D,
    nonlinearity: config.nonlinearity,
    hasBias: config.bias,
    layers,
  };
}
