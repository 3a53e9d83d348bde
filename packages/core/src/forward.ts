import { MODULE_NAMES, numDirections, outputSize, type ResolvedConfig } from './config.js';
import { RnnError, describeValue, formatShape } from './errors.js';
import { checkSignal } from './abort.js';
import { swapLeadingAxes } from './layout.js';
import type { ForwardOptions, ForwardPlan, Tensor } from './types.js';

/** Checks that a value is a tensor whose data length matches its shape; `name` is how messages call it. */
export function checkTensor(value: unknown, name: string): Tensor {
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value) || !('shape' in value) || !('data' in value)) {
    throw new RnnError('type', `${name} must be a tensor { data: Float32Array, shape: number[] }, got ${describeValue(value)}`, { field: name });
  }
  const { data, shape } = value as Tensor;
  // Plain loops: this runs on every call, and a stream's one-step push is a few microseconds in all.
  let count = 1;
  let dimsOk = Array.isArray(shape);
  for (let i = 0; dimsOk && i < shape.length; i++) {
    const d = shape[i];
    dimsOk = typeof d === 'number' && Number.isSafeInteger(d) && d >= 0;
    count *= d as number;
  }
  if (!dimsOk) {
    throw new RnnError('shape', `${name}.shape must be an array of non-negative integers, got ${Array.isArray(shape) ? formatShape(shape) : describeValue(shape)}`, {
      field: `${name}.shape`,
      actual: shape,
    });
  }
  if (!(data instanceof Float32Array)) {
    throw new RnnError('type', `${name}.data must be a Float32Array, got ${describeValue(data)} (convert with Float32Array.from)`, {
      field: `${name}.data`,
      expected: 'Float32Array',
      actual: describeValue(data),
    });
  }
  if (data.length !== count) {
    throw new RnnError('shape', `${name}.data has ${data.length} values, but shape ${formatShape(shape)} needs ${count}`, {
      field: `${name}.data`,
      expected: count,
      actual: data.length,
    });
  }
  return value as Tensor;
}

/** What the caller's input looks like, so the result can be given back in the same layout. */
export interface CallLayout {
  batched: boolean;
  batchFirst: boolean;
}

/** The initial states a forward takes: h0 alone (RNN, GRU), or [h0, c0] (LSTM). */
export type InitialState = Tensor | readonly [Tensor, Tensor];

/**
 * Checks one initial state against its expected (D·layers, N, width) or, unbatched, (D·layers, width).
 * `name` is h0 or c0; `pytorchName` how PyTorch's message calls it (`hidden`, `hidden[0]`, `hidden[1]`).
 */
function checkState(value: unknown, name: string, pytorchName: string, batched: boolean, expected: number[]): Float32Array {
  const state = checkTensor(value, name);
  if (state.shape.length !== expected.length) {
    throw new RnnError('shape', batched
      ? `For batched 3-D input, ${name} should also be 3-D ${formatShape(expected)} but got ${state.shape.length}-D tensor of shape ${formatShape(state.shape)}`
      : `For unbatched 2-D input, ${name} should also be 2-D ${formatShape(expected)} but got ${state.shape.length}-D tensor of shape ${formatShape(state.shape)}`, {
      field: `${name}.shape`,
      expected,
      actual: state.shape,
    });
  }
  if (!state.shape.every((d, i) => d === expected[i])) {
    throw new RnnError('shape', `Expected ${pytorchName} size ${formatShape(expected)}, got ${formatShape(state.shape)} (${name})`, {
      field: `${name}.shape`,
      expected,
      actual: state.shape,
    });
  }
  return state.data;
}

/**
 * Validates input, initial states and lengths with PyTorch's rules and returns the time-major plan
 * engines run. batch_first only changes input/output; h0 is (D·layers, N, H_out) batched,
 * (D·layers, H_out) unbatched; an LSTM's c0 is the same with H.
 */
export function planForward(
  config: ResolvedConfig,
  input: Tensor,
  hx?: InitialState | null,
  options?: ForwardOptions,
): { plan: ForwardPlan; layout: CallLayout } {
  const module = MODULE_NAMES[config.mode];
  checkTensor(input, 'input');
  const { shape } = input;
  if (shape.length !== 2 && shape.length !== 3) {
    throw new RnnError('shape', `${module}: Expected input to be 2D (unbatched) or 3D (batched), got ${shape.length}D tensor of shape ${formatShape(shape)} instead`, {
      field: 'input.shape',
      expected: '2 or 3 dimensions',
      actual: shape,
    });
  }
  const batched = shape.length === 3;
  // PyTorch ignores batch_first for unbatched (L, H_in) input.
  const batchFirst = batched && config.batchFirst;
  const seqLen = batchFirst ? shape[1]! : shape[0]!;
  const batch = batched ? (batchFirst ? shape[0]! : shape[1]!) : 1;
  const features = shape[shape.length - 1]!;
  if (features !== config.inputSize) {
    throw new RnnError('shape', `input.size(-1) must be equal to input_size. Expected ${config.inputSize}, got ${features}`, {
      field: 'input.shape',
      expected: config.inputSize,
      actual: features,
    });
  }
  if (seqLen < 1 || batch < 1) {
    throw new RnnError('shape', `input must have at least one time step and one batch element, got shape ${formatShape(shape)}${batched ? ` (${batchFirst ? 'N, L, H_in' : 'L, N, H_in'})` : ' (L, H_in)'}`, {
      field: 'input.shape',
      actual: shape,
    });
  }

  const stateRows = numDirections(config) * config.numLayers;
  const stateShape = (width: number): number[] => (batched ? [stateRows, batch, width] : [stateRows, width]);
  let h0: Float32Array | null = null;
  let c0: Float32Array | null = null;
  if (hx !== undefined && hx !== null) {
    if (config.mode === 'lstm') {
      if (!Array.isArray(hx) || hx.length !== 2) {
        throw new RnnError('type', `LSTM: hx must be a pair [h0, c0] (both initial states, as PyTorch's (h_0, c_0) tuple), got ${describeValue(hx)}`, {
          field: 'hx',
          expected: '[h0, c0]',
          actual: describeValue(hx),
        });
      }
      h0 = checkState(hx[0], 'h0', 'hidden[0]', batched, stateShape(outputSize(config)));
      c0 = checkState(hx[1], 'c0', 'hidden[1]', batched, stateShape(config.hiddenSize));
    } else {
      if (Array.isArray(hx)) {
        throw new RnnError('type', `${module}: h0 must be one tensor ${formatShape(stateShape(config.hiddenSize))}, got an array (only an LSTM takes a pair [h0, c0])`, {
          field: 'h0',
        });
      }
      h0 = checkState(hx, 'h0', 'hidden', batched, stateShape(config.hiddenSize));
    }
  }

  const lengths = planLengths(options, batched, batch, seqLen);
  const signal = checkSignal(options?.signal);
  const timeMajor = batchFirst ? swapLeadingAxes(input.data, batch, seqLen, features) : input.data;
  return {
    plan: { seqLen, batch, input: timeMajor, h0, c0, lengths, signal },
    layout: { batched, batchFirst },
  };
}

function planLengths(options: ForwardOptions | undefined, batched: boolean, batch: number, seqLen: number): Int32Array | null {
  if (options === undefined || options === null) return null;
  if (typeof options !== 'object') {
    throw new RnnError('type', `options must be an object like { lengths }, got ${describeValue(options)}`, { field: 'options' });
  }
  const unknown = Object.keys(options).filter((key) => key !== 'lengths' && key !== 'signal');
  if (unknown.length > 0) {
    throw new RnnError('type', `options has unknown field(s) ${unknown.map((k) => JSON.stringify(k)).join(', ')}. Known: lengths, signal`, { unknown });
  }
  const raw = options.lengths;
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'object' || typeof (raw as ArrayLike<number>).length !== 'number') {
    throw new RnnError('lengths', `lengths must be an array of integers (one per batch element), got ${describeValue(raw)}`, { field: 'lengths' });
  }
  if (!batched) {
    throw new RnnError('lengths', 'lengths apply to batched 3-D input only (as with pack_padded_sequence); got unbatched 2-D input', {
      field: 'lengths',
    });
  }
  if (raw.length !== batch) {
    throw new RnnError('lengths', `Expected len(lengths) to be equal to batch_size, but got ${raw.length} (batch_size=${batch})`, {
      field: 'lengths',
      expected: batch,
      actual: raw.length,
    });
  }
  const lengths = new Int32Array(batch);
  for (let b = 0; b < batch; b++) {
    const value = raw[b] as unknown;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > seqLen) {
      throw new RnnError('lengths', `lengths[${b}] must be an integer in 1..${seqLen} (the sequence length), got ${describeValue(value)}`, {
        field: `lengths[${b}]`,
        expected: `integer in 1..${seqLen}`,
        actual: value,
      });
    }
    lengths[b] = value;
  }
  return lengths.every((l) => l === seqLen) ? null : lengths;
}
