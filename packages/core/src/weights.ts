import { GATES, MODULE_NAMES, numDirections, outputSize, type ResolvedConfig } from './config.js';
import { RnnError, describeValue, formatShape } from './errors.js';
import type { DirectionWeights, Mode, ModelPlan, StateDict, Tensor } from './types.js';

/** `_l{layer}` or `_l{layer}_reverse`: PyTorch's suffix of one direction's parameters. */
export function parameterSuffix(layer: number, direction: number): string {
  return `_l${layer}${direction === 1 ? '_reverse' : ''}`;
}

/** The state_dict keys nn.RNN/nn.LSTM/nn.GRU(config) has, in PyTorch's order, with their shapes. */
export function parameterShapes(config: ResolvedConfig): Map<string, number[]> {
  const H = config.hiddenSize;
  const Hout = outputSize(config);
  const GH = GATES[config.mode] * H;
  const D = numDirections(config);
  const shapes = new Map<string, number[]>();
  for (let layer = 0; layer < config.numLayers; layer++) {
    const inputWidth = layer === 0 ? config.inputSize : D * Hout;
    for (let direction = 0; direction < D; direction++) {
      const suffix = parameterSuffix(layer, direction);
      shapes.set(`weight_ih${suffix}`, [GH, inputWidth]);
      shapes.set(`weight_hh${suffix}`, [GH, Hout]);
      if (config.bias) {
        shapes.set(`bias_ih${suffix}`, [GH]);
        shapes.set(`bias_hh${suffix}`, [GH]);
      }
      if (config.projSize > 0) shapes.set(`weight_hr${suffix}`, [config.projSize, H]);
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
 * When the keys fit but every gate-stacked row count is off by the same gate multiple, the state dict
 * most likely belongs to another module (a GRU's given to createLstm): say which.
 */
function otherModuleHint(config: ResolvedConfig, mismatched: { key: string; expected: number[]; actual: number[] }[], cell: boolean): string | null {
  const stacked = mismatched.filter(({ key }) => !key.startsWith('weight_hr'));
  if (stacked.length === 0) return null;
  const H = config.hiddenSize;
  const gateCounts = new Set(stacked.map(({ actual }) => (actual[0]! % H === 0 ? actual[0]! / H : NaN)));
  if (gateCounts.size !== 1) return null;
  const [gates] = [...gateCounts];
  const other = (Object.keys(GATES) as Mode[]).find((mode) => GATES[mode] === gates && mode !== config.mode);
  if (other === undefined) return null;
  const gateNames = { rnn: 'one gate', lstm: 'gates i, f, g, o', gru: 'gates r, z, n' };
  const article = other === 'gru' ? 'a' : 'an';
  const kind = cell ? 'Cell' : '';
  return `The weights stack ${gates}·hidden_size rows (${gateNames[other]}): this looks like ${article} ${MODULE_NAMES[other]}${kind}'s state dict, ` +
    `but it was given to ${MODULE_NAMES[config.mode]}${kind}, which stacks ${GATES[config.mode]}·hidden_size rows (${gateNames[config.mode]}). ` +
    `Use create${MODULE_NAMES[other][0]}${MODULE_NAMES[other].slice(1).toLowerCase()}${kind}() for it.`;
}

/** Hints for keys that only a projected LSTM has, or lacks. */
function projectionHint(config: ResolvedConfig, missing: string[], unexpected: string[]): string | null {
  if (unexpected.some((key) => key.startsWith('weight_hr_l'))) {
    return config.mode === 'lstm'
      ? `weight_hr_l* are the projection of an LSTM with proj_size > 0: pass projSize (the rows of weight_hr_l0) in the config`
      : `weight_hr_l* belong to an LSTM with proj_size > 0, not to ${MODULE_NAMES[config.mode]}`;
  }
  if (config.projSize > 0 && missing.some((key) => key.startsWith('weight_hr_l'))) {
    return `projSize is ${config.projSize}, so every layer and direction needs weight_hr_l* of shape [${config.projSize}, ${config.hiddenSize}]; ` +
      `a state dict without them comes from an LSTM with proj_size=0`;
  }
  return null;
}

/** A cell's parameters are layer 0's without the suffix: weight_ih, weight_hh, bias_ih, bias_hh. */
const cellKey = (key: string): string => key.replace(/_l0$/, '');

/** Layer-suffixed keys given to a cell, or suffix-less keys given to a module: say which is which. */
function cellHint(cell: boolean, unexpected: string[]): string | null {
  if (cell && unexpected.some((key) => /_l\d+(_reverse)?$/.test(key))) {
    return 'A cell\'s parameters have no layer suffix (weight_ih, weight_hh, bias_ih, bias_hh, as nn.RNNCell/nn.LSTMCell/nn.GRUCell name them); keys such as weight_ih_l0 belong to a full module (createRnn/createLstm/createGru)';
  }
  if (!cell && unexpected.some((key) => /^(weight|bias)_(ih|hh)$/.test(key))) {
    return 'Keys without a layer suffix (weight_ih, weight_hh, …) belong to a cell: use createRnnCell/createLstmCell/createGruCell, or rename them weight_ih_l0, …';
  }
  return null;
}

/**
 * Checks a state dict like `load_state_dict(strict=True)`: every missing, unexpected and mis-shaped key
 * is named in one error. Returns the plan engines build from, with the weights copied (the model owns
 * them; later changes to the caller's arrays do not reach it). A cell (`nn.LSTMCell`, …) is planned as a
 * one-layer, one-direction module whose parameters carry no `_l0` suffix.
 */
export function planModel(config: ResolvedConfig, weights: StateDict, { cell = false } = {}): ModelPlan {
  const module = MODULE_NAMES[config.mode] + (cell ? 'Cell' : '');
  if (weights === null || typeof weights !== 'object' || Array.isArray(weights)) {
    throw new RnnError('weights', `weights must be a state dict object (name → { data, shape }), got ${describeValue(weights)}`);
  }
  const expected = cell ? new Map([...parameterShapes(config)].map(([key, shape]) => [cellKey(key), shape])) : parameterShapes(config);
  const missing = [...expected.keys()].filter((key) => !(key in weights));
  const unexpected = Object.keys(weights).filter((key) => !expected.has(key));
  const problems: string[] = [];
  const mismatched: { key: string; expected: number[]; actual: number[] }[] = [];
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
    const lines = [`Error(s) in loading state_dict for ${module}:`];
    if (missing.length > 0) lines.push(`Missing key(s) in state_dict: ${missing.map((k) => `"${k}"`).join(', ')}.`);
    if (unexpected.length > 0) lines.push(`Unexpected key(s) in state_dict: ${unexpected.map((k) => `"${k}"`).join(', ')}.`);
    lines.push(...problems);
    const hint = cellHint(cell, unexpected) ?? otherModuleHint(config, mismatched, cell) ?? projectionHint(config, missing, unexpected);
    if (hint !== null) lines.push(hint);
    throw new RnnError('weights', lines.join('\n\t'), { missing, unexpected, mismatched, problems, ...(hint === null ? {} : { hint }) });
  }

  const copy = (key: string): Float32Array => new Float32Array(weights[cell ? cellKey(key) : key]!.data);
  const D = numDirections(config);
  const Hout = outputSize(config);
  const layers = [];
  for (let layer = 0; layer < config.numLayers; layer++) {
    const directions: DirectionWeights[] = [];
    for (let direction = 0; direction < D; direction++) {
      const suffix = parameterSuffix(layer, direction);
      directions.push({
        W_ih: copy(`weight_ih${suffix}`),
        W_hh: copy(`weight_hh${suffix}`),
        b_ih: config.bias ? copy(`bias_ih${suffix}`) : null,
        b_hh: config.bias ? copy(`bias_hh${suffix}`) : null,
        W_hr: config.projSize > 0 ? copy(`weight_hr${suffix}`) : null,
      });
    }
    layers.push({ inputSize: layer === 0 ? config.inputSize : D * Hout, directions });
  }
  return {
    mode: config.mode,
    gates: GATES[config.mode],
    inputSize: config.inputSize,
    hiddenSize: config.hiddenSize,
    projSize: config.projSize,
    outputSize: Hout,
    numLayers: config.numLayers,
    numDirections: D,
    nonlinearity: config.nonlinearity,
    hasBias: config.bias,
    layers,
  };
}

/**
 * Names per-layer, per-direction arrays (weights or their gradients, laid out like a ModelPlan's) under
 * PyTorch's state_dict keys, in PyTorch's order. `copy` gives the caller arrays the model does not share.
 */
export function namedParameters(config: ResolvedConfig, layers: DirectionWeights[][], copy: boolean): StateDict {
  const shapes = parameterShapes(config);
  const named: StateDict = {};
  layers.forEach((directions, layer) => directions.forEach((weights, direction) => {
    const suffix = parameterSuffix(layer, direction);
    const entries: [string, Float32Array | null][] = [
      ['weight_ih', weights.W_ih], ['weight_hh', weights.W_hh], ['bias_ih', weights.b_ih], ['bias_hh', weights.b_hh], ['weight_hr', weights.W_hr],
    ];
    for (const [name, data] of entries) {
      const key = name + suffix;
      const shape = shapes.get(key);
      if (shape === undefined || data === null) continue;
      named[key] = { data: copy ? data.slice() : data, shape: [...shape] };
    }
  }));
  // PyTorch's order: the order of parameterShapes.
  return Object.fromEntries([...shapes.keys()].filter((key) => key in named).map((key) => [key, named[key]!]));
}
