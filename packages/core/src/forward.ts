import { numDirections, type ResolvedConfig } from './config.js';
import { RnnError, describeValue, formatShape } from './errors.js';
import { swapLeadingAxes } from './layout.js';
import type { ForwardOptions, ForwardPlan, Tensor } from './types.js';

/** Checks that a value is a tensor whose data length matches its shape; `name` is how messages call it. */
export function checkTensor(value: unknown, name: string): Tensor {
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value) || !('shape' in value) || !('data' in value)) {
    throw new RnnError('type', `${name} must be a tensor { data: Float32Array, shape: number[] }, got ${describeValue(value)}`, { field: name });
  }
  const { data, shape } = value as Tensor;
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
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
  const count = shape.reduce((a, b) => a * b, 1);
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

/**
 * Validates input, h0 and lengths with PyTorch's rules and returns the time-major plan engines run.
 * batch_first only changes input/output; h0 is (D·layers, N, H) batched, (D·layers, H) unbatched.
 */
export function planForward(
  config: ResolvedConfig,
  input: Tensor,
  h0?: Tensor,
  options?: ForwardOptions,
): { plan: ForwardPlan; layout: CallLayout } {
  checkTensor(input, 'input');
  const { shape } = input;
  if (shape.length !== 2 && shape.length !== 3) {
    throw new RnnError('shape', `RNN: Expected input to be 2D (unbatched) or 3D (batched), got ${shape.length}D tensor of shape ${formatShape(shape)} instead`, {
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

  const D = numDirections(config);
  const stateRows = D * config.numLayers;
  let h0Data: Float32Array | null = null;
  if (h0 !== undefined && h0 !== null) {
    checkTensor(h0, 'h0');
    const expected = batched ? [stateRows, batch, config.hiddenSize] : [stateRows, config.hiddenSize];
    if (h0.shape.length !== expected.length) {
      throw new RnnError('shape', batched
        ? `For batched 3-D input, h0 should also be 3-D ${formatShape(expected)} but got ${h0.shape.length}-D tensor of shape ${formatShape(h0.shape)}`
        : `For unbatched 2-D input, h0 should also be 2-D ${formatShape(expected)} but got ${h0.shape.length}-D tensor of shape ${formatShape(h0.shape)}`, {
        field: 'h0.shape',
        expected,
        actual: h0.shape,
      });
    }
    if (!h0.shape.every((d, i) => d === expected[i])) {
      throw new RnnError('shape', `Expected hidden size ${formatShape(expected)}, got ${formatShape(h0.shape)}`, {
        field: 'h0.shape',
        expected,
        actual: h0.shape,
      });
    }
    h0Data = h0.data;
  }

  const lengths = planLengths(options, batched, batch, seqLen);
  const timeMajor = batchFirst ? swapLeadingAxes(input.data, batch, seqLen, features) : input.data;
  return {
    plan: { seqLen, batch, input: timeMajor, h0: h0Data, lengths },
    layout: { batched, batchFirst },
  };
}

function planLengths(options: ForwardOptions | undefined, batched: boolean, batch: number, seqLen: number): Int32Array | null {
  if (options === undefined || options === null) return null;
  if (typeof options !== 'object') {
    throw new RnnError('type', `options must be an object like { lengths }, got ${describeValue(options)}`, { field: 'options' });
  }
  const unknown = Object.keys(options).filter((key) => key !== 'lengths');
  if (unknown.length > 0) {
    throw new RnnError('type', `options has unknown field(s) ${unknown.map((k) => JSON.stringify(k)).join(', ')}. Known: lengths`, { unknown });
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
