import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isRnnError } from '@recurrent/core';
import { pack, unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { decodeCase, decodeManifest } from '../src/format.js';
import { VECTORS_DIR, loadCase, loadManifest } from '../src/node.js';

const file = 'edge-h1.msgpack';
const bytes = readFileSync(join(VECTORS_DIR, file));

function formatErrorOf(run: () => unknown): Error & { code: string } {
  try {
    run();
  } catch (error) {
    if (isRnnError(error, 'format')) return error as Error & { code: string };
    throw error;
  }
  throw new Error('expected an RnnError(format)');
}

describe('bad vector files end in RnnError(format) naming the file', () => {
  it('decodes a good file into float32 tensors and a float64 reference', () => {
    const c = decodeCase(bytes, file);
    expect(c.id).toBe('edge-h1');
    expect(c.input.data).toBeInstanceOf(Float32Array);
    expect(c.ref64.output?.data).toBeInstanceOf(Float64Array);
    expect(Object.keys(c.stateDict)).toContain('weight_hh_l1_reverse');
  });

  it('a truncated file', () => {
    const error = formatErrorOf(() => decodeCase(bytes.subarray(0, bytes.length - 100), 'vectors/edge-h1.msgpack'));
    expect(error.message).toContain('vectors/edge-h1.msgpack');
    expect(error.message).toMatch(/truncated|corrupt|bytes/);
  });

  it('random bytes', () => {
    const error = formatErrorOf(() => decodeCase(new Uint8Array([0xc1, 0xff, 0x00, 0x13]), 'junk.msgpack'));
    expect(error.message).toContain('junk.msgpack');
  });

  it('a file of another format version', () => {
    const record = unpack(bytes) as Record<string, unknown>;
    const error = formatErrorOf(() => decodeCase(pack({ ...record, version: 1 }), 'v1.msgpack'));
    expect(error.message).toMatch(/v1\.msgpack: format version 1 is not the version 3/);
  });

  it('a file of another format', () => {
    const error = formatErrorOf(() => decodeCase(pack({ format: 'something-else', version: 1 }), 'other.msgpack'));
    expect(error.message).toContain('other.msgpack: format is "something-else"');
  });

  it('a tensor whose bytes do not match its shape', () => {
    const record = unpack(bytes) as Record<string, any>;
    record.input = { ...record.input, data: record.input.data.subarray(0, 8) };
    const error = formatErrorOf(() => decodeCase(pack(record), 'short.msgpack'));
    expect(error.message).toMatch(/short\.msgpack: input has 8 bytes, but shape/);
  });

  it('a missing field', () => {
    const record = unpack(bytes) as Record<string, unknown>;
    delete record.ref64;
    expect(formatErrorOf(() => decodeCase(pack(record), 'noref.msgpack')).message).toContain('noref.msgpack: field "ref64" is missing');
  });

  it('an LSTM file without c_n, or with c0 but no h0, and an unknown module', () => {
    const lstm = unpack(readFileSync(join(VECTORS_DIR, 'lstm-lengths-bi-h0.msgpack'))) as Record<string, any>;
    expect(decodeCase(pack(lstm), 'lstm.msgpack').c0?.shape).toEqual([2, 5, 6]);
    expect(formatErrorOf(() => decodeCase(pack({ ...lstm, ref64: { ...lstm.ref64, cN: null } }), 'nocn.msgpack')).message)
      .toContain('nocn.msgpack: ref64.cN must be present for an LSTM');
    expect(formatErrorOf(() => decodeCase(pack({ ...lstm, h0: null }), 'noh0.msgpack')).message).toContain('c0 must be given exactly when h0 is');
    expect(formatErrorOf(() => decodeCase(pack({ ...lstm, config: { ...lstm.config, mode: 'transformer' } }), 'mode.msgpack')).message)
      .toContain('config.mode is "transformer"');
    const gru = unpack(readFileSync(join(VECTORS_DIR, 'gru-lengths-uni.msgpack'))) as Record<string, any>;
    expect(formatErrorOf(() => decodeCase(pack({ ...gru, config: { ...gru.config, projSize: 2 } }), 'proj.msgpack')).message).toContain('config.projSize is 2');
  });

  it('a cell file: no output, h′ and c′ as hN and cN; a cell with a sequence option or an output is refused', () => {
    const cell = unpack(readFileSync(join(VECTORS_DIR, 'lstm-cell-product-bias-hx.msgpack'))) as Record<string, any>;
    const c = decodeCase(pack(cell), 'cell.msgpack');
    expect(c.config.cell).toBe(true);
    expect(c.ref64.output).toBeNull();
    expect(c.ref64.hN.shape).toEqual([3, 7]);
    expect(c.ref64.cN?.shape).toEqual([3, 7]);
    expect(formatErrorOf(() => decodeCase(pack({ ...cell, config: { ...cell.config, numLayers: 2 } }), 'layers.msgpack')).message).toContain('a cell has numLayers 1');
    expect(formatErrorOf(() => decodeCase(pack({ ...cell, ref64: { ...cell.ref64, output: cell.ref64.hN } }), 'out.msgpack')).message)
      .toContain('ref64.output must be null for a cell');
    const { cell: _cell, ...noCell } = cell.config;
    expect(formatErrorOf(() => decodeCase(pack({ ...cell, config: noCell }), 'nocell.msgpack')).message).toContain('config.cell');
  });

  it('a manifest that is not JSON, or of another version', () => {
    expect(formatErrorOf(() => decodeManifest('{"format":', 'm.json')).message).toContain('m.json: not valid JSON');
    expect(formatErrorOf(() => decodeManifest('{"format":"recurrent-conformance-vectors","version":7}', 'm.json')).message).toContain('format version 7');
  });

  it('a file that does not exist', () => {
    expect(formatErrorOf(() => loadCase({ file: 'nope.msgpack' })).message).toContain('nope.msgpack');
    expect(formatErrorOf(() => loadManifest('/nonexistent-dir')).message).toContain('/nonexistent-dir/manifest.json');
  });
});
