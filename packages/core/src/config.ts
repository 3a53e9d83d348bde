import { RnnError, describeValue } from './errors.js';
import type { GruConfig, LstmConfig, Mode, Nonlinearity, RnnConfig } from './types.js';

/** A validated config of any module, with PyTorch's defaults filled in. */
export interface ResolvedConfig {
  mode: Mode;
  inputSize: number;
  hiddenSize: number;
  numLayers: number;
  /** The RNN's activation; 'tanh' (unused) for LSTM and GRU. */
  nonlinearity: Nonlinearity;
  bias: boolean;
  batchFirst: boolean;
  dropout: number;
  bidirectional: boolean;
  /** LSTM only; 0 elsewhere. */
  projSize: number;
}

/** What PyTorch calls each module in its messages. */
export const MODULE_NAMES: Record<Mode, string> = { rnn: 'RNN', lstm: 'LSTM', gru: 'GRU' };

/** G: the gates stacked in W_ih/W_hh rows. LSTM: i, f, g, o. GRU: r, z, n. */
export const GATES = { rnn: 1, lstm: 4, gru: 3 } as const satisfies Record<Mode, number>;

const COMMON_DEFAULTS = { numLayers: 1, bias: true, batchFirst: false, dropout: 0, bidirectional: false } as const;
/** The options each module's constructor knows, beyond inputSize and hiddenSize. */
const MODE_DEFAULTS = {
  rnn: { ...COMMON_DEFAULTS, nonlinearity: 'tanh' },
  lstm: { ...COMMON_DEFAULTS, projSize: 0 },
  gru: COMMON_DEFAULTS,
} as const;

function positiveInteger(field: string, value: unknown, min = 1): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new RnnError('config', `config.${field} must be ${min === 0 ? 'a non-negative' : 'a positive'} integer. Expected an integer ≥ ${min}, got ${describeValue(value)}`, {
      field,
      expected: `integer >= ${min}`,
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

/**
 * Validates a config the way nn.RNN's, nn.LSTM's or nn.GRU's constructor does and fills in PyTorch's
 * defaults. An option the module does not have (nonlinearity for an LSTM, projSize for a GRU) is refused.
 */
export function resolveConfig(config: RnnConfig | LstmConfig | GruConfig, mode: Mode = 'rnn'): ResolvedConfig {
  const module = MODULE_NAMES[mode];
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new RnnError('config', `config must be an object like { inputSize, hiddenSize }, got ${describeValue(config)}`, {
      expected: 'object',
      actual: describeValue(config),
    });
  }
  const defaults: Record<string, unknown> = MODE_DEFAULTS[mode];
  const known = ['inputSize', 'hiddenSize', ...Object.keys(defaults)];
  const raw = config as unknown as Record<string, unknown>;
  const unknown = Object.keys(raw).filter((key) => !known.includes(key));
  if (unknown.length > 0) {
    throw new RnnError('config', `config has unknown option(s) ${unknown.map((k) => JSON.stringify(k)).join(', ')} for ${module}. Known options: ${known.join(', ')}`, {
      unknown,
      known,
    });
  }
  const pick = (key: string): unknown => (raw[key] === undefined ? defaults[key] : raw[key]);

  const inputSize = positiveInteger('inputSize', raw.inputSize);
  const hiddenSize = positiveInteger('hiddenSize', raw.hiddenSize);
  const numLayers = positiveInteger('numLayers', pick('numLayers'));
  const nonlinearity = mode === 'rnn' ? pick('nonlinearity') : 'tanh';
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
  const projSize = mode === 'lstm' ? positiveInteger('projSize', pick('projSize'), 0) : 0;
  if (projSize >= hiddenSize) {
    throw new RnnError('config', `config.projSize has to be smaller than hiddenSize. Expected projSize < ${hiddenSize}, got ${projSize}`, {
      field: 'projSize',
      expected: `integer in 0..${hiddenSize - 1}`,
      actual: projSize,
    });
  }
  return {
    mode,
    inputSize,
    hiddenSize,
    numLayers,
    nonlinearity,
    bias: boolean('bias', pick('bias')),
    batchFirst: boolean('batchFirst', pick('batchFirst')),
    dropout,
    bidirectional: boolean('bidirectional', pick('bidirectional')),
    projSize,
  };
}

/** The config a model reports: the options its PyTorch module has, and no others. */
export function publicConfig(config: ResolvedConfig): Readonly<Record<string, unknown>> {
  const { mode, nonlinearity, projSize, ...common } = config;
  const extra = mode === 'rnn' ? { nonlinearity } : mode === 'lstm' ? { projSize } : {};
  return Object.freeze({ ...common, ...extra });
}

export function numDirections(config: Pick<ResolvedConfig, 'bidirectional'>): 1 | 2 {
  return config.bidirectional ? 2 : 1;
}

/** H_out: the width of h (projSize for a projected LSTM, else hiddenSize). */
export function outputSize(config: Pick<ResolvedConfig, 'hiddenSize' | 'projSize'>): number {
  return config.projSize > 0 ? config.projSize : config.hiddenSize;
}

/**
 * FLOPs of one forward, the figure every benchmark divides by:
 * 2·N·L·D·Σ_layers G·H·(I_l + H_out), plus 2·N·L·D·layers·P·H for a projected LSTM.
 */
export function forwardFlops(config: RnnConfig | LstmConfig | GruConfig, batch: number, seqLen: number, mode: Mode = 'rnn'): number {
  const c = resolveConfig(config, mode);
  const D = numDirections(c);
  const H = c.hiddenSize;
  const Hout = outputSize(c);
  let perStep = 0;
  for (let layer = 0; layer < c.numLayers; layer++) {
    const inputWidth = layer === 0 ? c.inputSize : D * Hout;
    perStep += GATES[mode] * H * (inputWidth + Hout) + c.projSize * H;
  }
  return 2 * batch * seqLen * D * perStep;
}
