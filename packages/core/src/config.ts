import { RnnError, describeValue } from './errors.js';
import type { RnnConfig } from './types.js';

export type ResolvedConfig = Required<RnnConfig>;

const DEFAULTS = { numLayers: 1, nonlinearity: 'tanh', bias: true, batchFirst: false, dropout: 0, bidirectional: false } as const;
const KNOWN_KEYS = new Set(['inputSize', 'hiddenSize', ...Object.keys(DEFAULTS)]);

function positiveInteger(config: Record<string, unknown>, field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new RnnError('config', `config.${field} must be a positive integer. Expected an integer ≥ 1, got ${describeValue(value)}`, {
      field,
      expected: 'integer >= 1',
      actual: value,
    });
  }
  return value;
}

function boolean(field: string, value: unknown): boolean {
  if (typeof value !== 'boolean') {
    throw new RnnError('config', `config.${field} must be a boolean. Expected true or false, got ${describeValue(value)}`, {
      field,
      expected: 'boolean',
      actual: value,
    });
  }
  return value;
}

/** Validates a config the way nn.RNN's constructor does and fills in PyTorch's defaults. */
export function resolveConfig(config: RnnConfig): ResolvedConfig {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new RnnError('config', `config must be an object like { inputSize, hiddenSize }, got ${describeValue(config)}`, {
      expected: 'object',
      actual: describeValue(config),
    });
  }
  const raw = config as unknown as Record<string, unknown>;
  const unknown = Object.keys(raw).filter((key) => !KNOWN_KEYS.has(key));
  if (unknown.length > 0) {
    throw new RnnError('config', `config has unknown option(s) ${unknown.map((k) => JSON.stringify(k)).join(', ')}. Known options: ${[...KNOWN_KEYS].join(', ')}`, {
      unknown,
    });
  }
  const pick = <K extends keyof typeof DEFAULTS>(key: K): unknown => (raw[key] === undefined ? DEFAULTS[key] : raw[key]);

  const inputSize = positiveInteger(raw, 'inputSize', raw.inputSize);
  const hiddenSize = positiveInteger(raw, 'hiddenSize', raw.hiddenSize);
  const numLayers = positiveInteger(raw, 'numLayers', pick('numLayers'));
  const nonlinearity = pick('nonlinearity');
  if (nonlinearity !== 'tanh' && nonlinearity !== 'relu') {
    throw new RnnError('config', `config.nonlinearity must be 'tanh' or 'relu'. Unknown nonlinearity ${describeValue(nonlinearity)}`, {
      field: 'nonlinearity',
      expected: ['tanh', 'relu'],
      actual: nonlinearity,
    });
  }
  const dropout = pick('dropout');
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout <= 1)) {
    throw new RnnError('config', `config.dropout must be a number in [0, 1], got ${describeValue(dropout)}`, {
      field: 'dropout',
      expected: '0 <= dropout <= 1',
      actual: dropout,
    });
  }
  return {
    inputSize,
    hiddenSize,
    numLayers,
    nonlinearity,
    bias: boolean('bias', pick('bias')),
    batchFirst: boolean('batchFirst', pick('batchFirst')),
    dropout,
    bidirectional: boolean('bidirectional', pick('bidirectional')),
  };
}

export function numDirections(config: Pick<ResolvedConfig, 'bidirectional'>): 1 | 2 {
  return config.bidirectional ? 2 : 1;
}

/** FLOPs of one forward: 2·N·L·D·Σ_layers(I_l·H + H·H), the figure every benchmark divides by. */
export function forwardFlops(config: RnnConfig, batch: number, seqLen: number): number {
  const c = resolveConfig(config);
  const D = numDirections(c);
  let perStep = 0;
  for (let layer = 0; layer < c.numLayers; layer++) {
    const inputWidth = layer === 0 ? c.inputSize : D * c.hiddenSize;
    perStep += inputWidth * c.hiddenSize + c.hiddenSize * c.hiddenSize;
  }
  return 2 * batch * seqLen * D * perStep;
}
