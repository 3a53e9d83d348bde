import { RnnError, describeValue } from './errors.js';
import type { StateDict } from './types.js';

const BYTES_PER_ELEMENT: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };
/** A header larger than this is corrupt, not a model (the reference implementation caps it at 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

function formatError(message: string, details: Record<string, unknown> = {}): RnnError {
  return new RnnError('format', `Invalid .safetensors file: ${message}`, details);
}

function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

function decode(dtype: string, bytes: Uint8Array, count: number): Float32Array {
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32':
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
      break;
    case 'F64':
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
      break;
    case 'F16':
      for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
      break;
    case 'BF16': {
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) bits[i] = view.getUint16(i * 2, true) << 16;
      break;
    }
  }
  return out;
}

/**
 * Reads a `.safetensors` file (what `safetensors.torch.save_file(model.state_dict(), path)` writes) into
 * a StateDict. F32 is read as is; F16, BF16 and F64 are converted to float32. Any other dtype, and any
 * damage (truncation, bad JSON, offsets out of range or overlapping), is a `format` error.
 */
export function readSafetensors(file: Uint8Array | ArrayBuffer): StateDict {
  if (!(file instanceof Uint8Array) && !(file instanceof ArrayBuffer)) {
    throw new RnnError('type', `readSafetensors expects a Uint8Array or ArrayBuffer, got ${describeValue(file)}`);
  }
  const bytes = file instanceof Uint8Array ? file : new Uint8Array(file);
  if (bytes.byteLength < 8) throw formatError(`file is ${bytes.byteLength} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > MAX_HEADER_BYTES || 8 + headerLength > bytes.byteLength) {
    throw formatError(`header length ${headerLength} does not fit in a file of ${bytes.byteLength} bytes`, { headerLength, fileBytes: bytes.byteLength });
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength)));
  } catch (cause) {
    throw formatError(`the header is not valid UTF-8 JSON (${(cause as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw formatError(`the header must be a JSON object, got ${describeValue(header)}`);
  }
  const data = bytes.subarray(8 + headerLength);
  const entries: { name: string; dtype: string; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') continue;
    const { dtype, shape, data_offsets: offsets } = (entry ?? {}) as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof dtype !== 'string' || !Array.isArray(shape) || !Array.isArray(offsets)) {
      throw formatError(`tensor "${name}" needs dtype, shape and data_offsets`, { tensor: name });
    }
    if (!(dtype in BYTES_PER_ELEMENT)) {
      throw formatError(`tensor "${name}" has dtype ${dtype}; supported dtypes are F32, F16, BF16 and F64`, { tensor: name, dtype });
    }
    if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw formatError(`tensor "${name}" has shape ${JSON.stringify(shape)}; expected non-negative integers`, { tensor: name });
    }
    const [begin, end] = offsets as unknown[];
    if (offsets.length !== 2 || !Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || (begin as number) < 0 || (begin as number) > (end as number)) {
      throw formatError(`tensor "${name}" has data_offsets ${JSON.stringify(offsets)}; expected [begin, end] with 0 ≤ begin ≤ end`, { tensor: name });
    }
    if ((end as number) > data.byteLength) {
      throw formatError(`tensor "${name}" ends at byte ${end as number} but the data section has ${data.byteLength} bytes (is the file truncated?)`, { tensor: name });
    }
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if ((end as number) - (begin as number) !== count * BYTES_PER_ELEMENT[dtype]!) {
      throw formatError(`tensor "${name}" (${dtype}, shape ${JSON.stringify(shape)}) needs ${count * BYTES_PER_ELEMENT[dtype]!} bytes, data_offsets span ${(end as number) - (begin as number)}`, { tensor: name });
    }
    entries.push({ name, dtype, shape: shape as number[], begin: begin as number, end: end as number });
  }
  entries.sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < entries.length; i++) {
    if (entries[i]!.begin < entries[i - 1]!.end) {
      throw formatError(`tensors "${entries[i - 1]!.name}" and "${entries[i]!.name}" overlap`, { tensors: [entries[i - 1]!.name, entries[i]!.name] });
    }
  }
  const dict: StateDict = {};
  for (const { name, dtype, shape, begin, end } of entries) {
    dict[name] = { data: decode(dtype, data.subarray(begin, end), shape.reduce((a, b) => a * b, 1)), shape: [...shape] };
  }
  return dict;
}

/** Writes a StateDict as a float32 `.safetensors` file that `safetensors.torch.load_file` reads back. */
export function writeSafetensors(weights: StateDict, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  const names = Object.keys(weights);
  for (const name of names) {
    const { data, shape } = weights[name]!;
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8); // keep the data section 8-byte aligned
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let position = 8 + headerBytes.byteLength;
  for (const name of names) {
    const { data } = weights[name]!;
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), position);
    position += data.byteLength;
  }
  return out;
}
