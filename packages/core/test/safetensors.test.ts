import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readSafetensors, writeSafetensors } from '../src/index.js';
import { expectRnnError } from './helpers.js';

// Written by PyTorch: fixtures/make_fixtures.py (the expected values are torch's own float32 conversion).
const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`./fixtures/${name}`, import.meta.url)));
const expected = JSON.parse(readFileSync(new URL('./fixtures/rnn-expected.json', import.meta.url), 'utf8')) as {
  shapes: Record<string, number[]>;
  values: Record<string, Record<string, number[]>>;
};

/** A small valid file: u64 header length, JSON header, data. */
function file(header: unknown, dataBytes = 16, headerLengthOverride?: number): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLengthOverride ?? json.length), true);
  out.set(json, 8);
  return out;
}

describe('readSafetensors', () => {
  it.each(['F32', 'F16', 'BF16', 'F64'])('reads a PyTorch state dict stored as %s into float32 exactly as torch converts it', (dtype) => {
    const dict = readSafetensors(fixture(`rnn-${dtype.toLowerCase()}.safetensors`));
    expect(Object.keys(dict).sort()).toEqual(Object.keys(expected.shapes).sort());
    for (const [name, shape] of Object.entries(expected.shapes)) {
      expect(dict[name]!.shape).toEqual(shape);
      expect(dict[name]!.data).toEqual(Float32Array.from(expected.values[dtype]![name]!));
    }
  });

  it('accepts an ArrayBuffer and a Uint8Array at an odd byte offset', () => {
    const bytes = fixture('rnn-f32.safetensors');
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const fromView = readSafetensors(shifted.subarray(1));
    const fromBuffer = readSafetensors(bytes.slice().buffer);
    expect(fromView.weight_hh_l1_reverse!.data).toEqual(Float32Array.from(expected.values.F32!.weight_hh_l1_reverse!));
    expect(fromBuffer.weight_hh_l1_reverse!.data).toEqual(fromView.weight_hh_l1_reverse!.data);
  });

  it('round-trips what writeSafetensors writes', () => {
    const dict = { a: { data: Float32Array.from([1, -2.5, 3e-8]), shape: [3] }, b: { data: new Float32Array(6).fill(7), shape: [2, 3] } };
    const back = readSafetensors(writeSafetensors(dict, { note: 'x' }));
    expect(back).toEqual(dict);
  });

  it.each([
    ['a file shorter than 8 bytes', new Uint8Array(5), /file is 5 bytes, shorter than the 8-byte header length/],
    ['a header length beyond the file', file({}, 0, 1000), /header length 1000 does not fit in a file of 10 bytes/],
    ['a header that is not JSON', file('{"a": ', 0), /the header is not valid UTF-8 JSON/],
    ['a header that is a JSON array', file('[1,2]', 0), /the header must be a JSON object/],
    ['an unsupported dtype', file({ a: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }), /tensor "a" has dtype I64; supported dtypes are F32, F16, BF16 and F64/],
    ['offsets beyond the data (truncated file)', file({ a: { dtype: 'F32', shape: [8], data_offsets: [0, 32] } }), /tensor "a" ends at byte 32 but the data section has 16 bytes \(is the file truncated\?\)/],
    ['offsets that do not match the shape', file({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 16] } }), /needs 12 bytes, data_offsets span 16/],
    ['reversed offsets', file({ a: { dtype: 'F32', shape: [0], data_offsets: [8, 4] } }), /data_offsets \[8,4\]/],
    ['overlapping tensors', file({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }), /tensors "a" and "b" overlap/],
    ['a tensor entry without a shape', file({ a: { dtype: 'F32', data_offsets: [0, 8] } }), /tensor "a" needs dtype, shape and data_offsets/],
    ['a negative dimension', file({ a: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }), /tensor "a" has shape \[-2\]/],
  ])('rejects %s with a format error', async (_name, bytes, message) => {
    await expectRnnError(() => readSafetensors(bytes), 'format', /^Invalid \.safetensors file: /, message);
  });

  it('rejects something that is not bytes', async () => {
    await expectRnnError(() => readSafetensors('model.safetensors' as never), 'type', /expects a Uint8Array or ArrayBuffer, got "model\.safetensors"/);
  });

  it('never writes into the bytes it reads', () => {
    const bytes = fixture('rnn-bf16.safetensors');
    const copy = bytes.slice();
    readSafetensors(bytes);
    expect(bytes).toEqual(copy);
  });
});
