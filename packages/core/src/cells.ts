import { MODULE_NAMES, resolveConfig, type ResolvedConfig } from './config.js';
import { RnnError, describeValue, formatShape } from './errors.js';
import { abortable, checkSignal } from './abort.js';
import { checkTensor } from './forward.js';
import { checkBackend } from './modules.js';
import type { Backend, EngineModel, ForwardPlan, Mode, Nonlinearity, StateDict, Tensor } from './types.js';
import { planModel } from './weights.js';

/** The constructor arguments of `nn.RNNCell`, camelCased. */
export interface RnnCellConfig {
  inputSize: number;
  hiddenSize: number;
  /** Default true. */
  bias?: boolean;
  /** Default 'tanh'. */
  nonlinearity?: Nonlinearity;
}
/** The constructor arguments of `nn.LSTMCell` and `nn.GRUCell`, camelCased. */
export type LstmCellConfig = Omit<RnnCellConfig, 'nonlinearity'>;
export type GruCellConfig = LstmCellConfig;

/** A cell's options: a signal, as forward takes it (a cell has one step, so no lengths). */
export interface CellOptions {
  signal?: AbortSignal;
}

interface Cell<Config> {
  readonly config: Readonly<Required<Config>>;
  /** Which engine (and which variant of it) really runs this cell. */
  readonly backend: string;
  dispose(): void;
}
/** nn.RNNCell: h′ = act(x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh). */
export interface RnnCell extends Cell<RnnCellConfig> {
  /** input (N, inputSize) or unbatched (inputSize); h (N, hiddenSize) or (hiddenSize), zeros when absent. Returns h′. */
  forward(input: Tensor, hx?: Tensor, options?: CellOptions): Promise<Tensor>;
}
/** nn.GRUCell (gates r, z, n). */
export interface GruCell extends Cell<GruCellConfig> {
  forward(input: Tensor, hx?: Tensor, options?: CellOptions): Promise<Tensor>;
}
/** nn.LSTMCell (gates i, f, g, o). */
export interface LstmCell extends Cell<LstmCellConfig> {
  /** hx is [h, c], both or neither. Returns [h′, c′]. */
  forward(input: Tensor, hx?: [h: Tensor, c: Tensor], options?: CellOptions): Promise<[Tensor, Tensor]>;
}

/** A cell is a one-layer, one-direction module run for one step: the config says only what the cell has. */
function resolveCellConfig(config: RnnCellConfig | LstmCellConfig, mode: Mode): ResolvedConfig {
  const known = mode === 'rnn' ? ['inputSize', 'hiddenSize', 'bias', 'nonlinearity'] : ['inputSize', 'hiddenSize', 'bias'];
  if (config !== null && typeof config === 'object' && !Array.isArray(config)) {
    const unknown = Object.keys(config).filter((key) => !known.includes(key));
    if (unknown.length > 0) {
      throw new RnnError('config', `config has unknown option(s) ${unknown.map((k) => JSON.stringify(k)).join(', ')} for ${MODULE_NAMES[mode]}Cell. Known options: ${known.join(', ')}`, {
        unknown,
        known,
      });
    }
  }
  return resolveConfig(config, mode);
}

/** Checks one cell state: (N, H) for batched input, (H) for unbatched. `name` is h or c; PyTorch calls them hidden0/hidden1. */
function checkCellState(value: unknown, name: string, index: number, module: string, batched: boolean, N: number, H: number): Float32Array {
  const state = checkTensor(value, name);
  const expected = batched ? [N, H] : [H];
  if (state.shape.length !== expected.length) {
    throw new RnnError('shape', `${module}: Expected ${name} to be ${expected.length}-D ${formatShape(expected)} for ${batched ? 'batched 2-D' : 'unbatched 1-D'} input, got ${state.shape.length}-D tensor of shape ${formatShape(state.shape)}`, {
      field: `${name}.shape`,
      expected,
      actual: state.shape,
    });
  }
  if (batched && state.shape[0] !== N) {
    throw new RnnError('shape', `Input batch size ${N} doesn't match hidden${index} batch size ${state.shape[0]} (${name})`, {
      field: `${name}.shape`,
      expected,
      actual: state.shape,
    });
  }
  if (state.shape[state.shape.length - 1] !== H) {
    throw new RnnError('shape', `hidden${index} has inconsistent hidden_size: got ${state.shape[state.shape.length - 1]}, expected ${H} (${name})`, {
      field: `${name}.shape`,
      expected,
      actual: state.shape,
    });
  }
  return state.data;
}

/** The signal of a cell's options, checked: the only option a cell has. */
function cellSignal(options: CellOptions | undefined, module: string): AbortSignal | null {
  if (options === undefined || options === null) return null;
  if (typeof options !== 'object') throw new RnnError('type', `options must be an object like { signal }, got ${describeValue(options)}`, { field: 'options' });
  const unknown = Object.keys(options).filter((key) => key !== 'signal');
  if (unknown.length > 0) {
    throw new RnnError('type', `options has unknown field(s) ${unknown.map((k) => JSON.stringify(k)).join(', ')} for ${module}.forward. Known: signal (a cell runs one step: no lengths)`, { unknown });
  }
  return checkSignal(options.signal);
}

/** Builds a cell on the engine; its forward is one step of a one-layer module. */
async function buildCell(mode: Mode, config: RnnCellConfig | LstmCellConfig, weights: StateDict, backend: Backend) {
  const resolved = resolveCellConfig(config, mode);
  const plan = planModel(resolved, weights, { cell: true });
  const engine = checkBackend(backend);
  const engineModel: EngineModel = await engine.createModel(plan);
  const module = `${MODULE_NAMES[mode]}Cell`;
  const { inputSize: I, hiddenSize: H } = resolved;
  let disposed = false;
  const publicConfig = Object.freeze({
    inputSize: I, hiddenSize: H, bias: resolved.bias, ...(mode === 'rnn' ? { nonlinearity: resolved.nonlinearity } : {}),
  });

  async function step(input: Tensor, hx: unknown, options: CellOptions | undefined): Promise<Tensor[]> {
    if (disposed) throw new RnnError('disposed', `This ${module} was disposed: create a new one with create${MODULE_NAMES[mode][0]}${MODULE_NAMES[mode].slice(1).toLowerCase()}Cell()`);
    checkTensor(input, 'input');
    const { shape } = input;
    if (shape.length !== 1 && shape.length !== 2) {
      throw new RnnError('shape', `${module}: Expected input to be 1D or 2D, got ${shape.length}D tensor of shape ${formatShape(shape)} instead`, {
        field: 'input.shape',
        expected: '1 or 2 dimensions',
        actual: shape,
      });
    }
    const batched = shape.length === 2;
    const N = batched ? shape[0]! : 1;
    if (shape[shape.length - 1] !== I) {
      throw new RnnError('shape', `input has inconsistent input_size: got ${shape[shape.length - 1]} expected ${I}`, {
        field: 'input.shape',
        expected: I,
        actual: shape[shape.length - 1],
      });
    }
    if (N < 1) throw new RnnError('shape', `input must have at least one batch element, got shape ${formatShape(shape)}`, { field: 'input.shape', actual: shape });
    let h0: Float32Array | null = null;
    let c0: Float32Array | null = null;
    if (hx !== undefined && hx !== null) {
      if (mode === 'lstm') {
        if (!Array.isArray(hx) || hx.length !== 2) {
          throw new RnnError('type', `LSTMCell: hx must be a pair [h, c] (both states, as PyTorch's (h_0, c_0) tuple), got ${describeValue(hx)}`, { field: 'hx' });
        }
        h0 = checkCellState(hx[0], 'h', 0, module, batched, N, H);
        c0 = checkCellState(hx[1], 'c', 1, module, batched, N, H);
      } else {
        if (Array.isArray(hx)) throw new RnnError('type', `${module}: hx must be one tensor ${formatShape(batched ? [N, H] : [H])}, got an array (only an LSTMCell takes a pair [h, c])`, { field: 'hx' });
        h0 = checkCellState(hx, 'h', 0, module, batched, N, H);
      }
    }
    // (N, I) is a one-step time-major sequence (1, N, I); (N, H) states are (1, N, H): no copies needed.
    const signal = cellSignal(options, module);
    const forwardPlan: ForwardPlan = { seqLen: 1, batch: N, input: input.data, h0, c0, lengths: null, signal };
    const result = await abortable(signal, () => engineModel.forward(forwardPlan), `${module} forward`);
    const stateShape = batched ? [N, H] : [H];
    const states = [{ data: result.hN, shape: stateShape }];
    if (mode === 'lstm') {
      if (result.cN === undefined) throw new RnnError('internal', `The ${engine.name} engine returned no c′ for an LSTMCell`);
      states.push({ data: result.cN, shape: [...stateShape] });
    }
    return states;
  }

  return {
    config: publicConfig,
    backend: engineModel.backend ?? engine.name,
    step,
    dispose(): void {
      if (disposed) return;
      disposed = true;
      engineModel.dispose();
    },
  };
}

/** Builds an nn.RNNCell from its config and a PyTorch state dict (weight_ih, weight_hh, bias_ih, bias_hh). */
export async function createRnnCell(config: RnnCellConfig, weights: StateDict, backend: Backend): Promise<RnnCell> {
  const cell = await buildCell('rnn', config, weights, backend);
  return {
    config: cell.config as Required<RnnCellConfig>,
    backend: cell.backend,
    forward: async (input, hx, options) => (await cell.step(input, hx, options))[0]!,
    dispose: () => cell.dispose(),
  };
}

/** Builds an nn.GRUCell (gates r, z, n) from its config and a PyTorch state dict. */
export async function createGruCell(config: GruCellConfig, weights: StateDict, backend: Backend): Promise<GruCell> {
  const cell = await buildCell('gru', config, weights, backend);
  return {
    config: cell.config as Required<GruCellConfig>,
    backend: cell.backend,
    forward: async (input, hx, options) => (await cell.step(input, hx, options))[0]!,
    dispose: () => cell.dispose(),
  };
}

/** Builds an nn.LSTMCell (gates i, f, g, o) from its config and a PyTorch state dict. */
export async function createLstmCell(config: LstmCellConfig, weights: StateDict, backend: Backend): Promise<LstmCell> {
  const cell = await buildCell('lstm', config, weights, backend);
  return {
    config: cell.config as Required<LstmCellConfig>,
    backend: cell.backend,
    forward: async (input, hx, options) => (await cell.step(input, hx, options)) as [Tensor, Tensor],
    dispose: () => cell.dispose(),
  };
}
