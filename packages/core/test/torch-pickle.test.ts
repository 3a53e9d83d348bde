import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readTorchStateDict, type StateDict } from '../src/index.js';
import { expectRnnError } from './helpers.js';
import { checkpointZip, fixture, op, statePickle, storedZip } from './torch-files.js';

// Every .pt here was written by torch.save: fixtures/torch/make_torch_fixtures.py, which also wrote the
// expected values (torch's own float32 conversion of each tensor).
type Expected = Record<string, { shape: number[]; data: number[] }>;
const expected = JSON.parse(readFileSync(new URL('./fixtures/torch/expected.json', import.meta.url), 'utf8')) as
  Record<string, Expected> & Record<`checkpoint-${string}`, { rnnKeys: string[]; modelKeys: string[]; rnn: Expected }>;

function expectValues(dict: StateDict, values: Expected): void {
  expect(Object.keys(dict)).toEqual(Object.keys(values));
  for (const [name, { shape, data }] of Object.entries(values)) {
    expect(dict[name]!.shape, name).toEqual(shape);
    expect(dict[name]!.data, name).toEqual(Float32Array.from(data));
  }
}

describe('readTorchStateDict: what torch.save writes', () => {
  it.each(['zip', 'legacy'])('reads a module state dict (OrderedDict with _metadata) in the %s format, value by value and in order', (format) => {
    expectValues(readTorchStateDict(fixture(`rnn-${format}.pt`)), expected.rnn!);
  });

  it.each([
    ['pickle protocol 4 (FRAME, MEMOIZE, STACK_GLOBAL)', 'rnn-protocol4.pt'],
    ['a dict of nn.Parameter (_rebuild_parameter)', 'rnn-parameters.pt'],
  ])('reads %s', (_case, name) => {
    expectValues(readTorchStateDict(fixture(name)), expected.rnn!);
  });

  it.each([
    ['f16', 'zip'], ['f16', 'legacy'], ['bf16', 'zip'], ['bf16', 'legacy'], ['f64', 'zip'], ['f64', 'legacy'],
  ])('converts %s storages (%s format) to float32 exactly as torch does', (dtype, format) => {
    expectValues(readTorchStateDict(fixture(`rnn-${dtype}-${format}.pt`)), expected[`rnn-${dtype}`]!);
  });

  it.each(['views-zip', 'views-legacy', 'views-big-endian-zip', 'views-big-endian-legacy'])(
    'resolves views in %s: offsets, strides, transposes, shared and expanded storages, scalars, empty tensors; int tensors are left out',
    (name) => {
      const dict = readTorchStateDict(fixture(`${name}.pt`));
      expectValues(dict, expected.views!); // expected.views has only the floating tensors: "steps" (int64) is not there
      expect(dict.steps).toBeUndefined();
    },
  );

  it('views the input bytes when a float32 storage is aligned little-endian, and shares storages as PyTorch does', () => {
    const bytes = fixture('views-zip.pt');
    const dict = readTorchStateDict(bytes);
    expect(dict.w!.data.buffer).toBe(bytes.buffer); // zero copy
    expect(dict.row!.data.buffer).toBe(bytes.buffer); // w[2]: a contiguous view of w's storage
    expect(dict.w_t!.data.buffer).not.toBe(bytes.buffer); // a transpose is gathered into a new array
    expect(dict.w_t!.data).toEqual(Float32Array.from(expected.views!.w_t!.data));
  });

  it('copies when the storage is not 4-byte aligned in the input, with the same values; an ArrayBuffer works too', () => {
    const bytes = fixture('rnn-zip.pt');
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const fromOdd = readTorchStateDict(shifted.subarray(1));
    expect(fromOdd.weight_ih_l0!.data.buffer).not.toBe(shifted.buffer);
    expectValues(fromOdd, expected.rnn!);
    expectValues(readTorchStateDict(bytes.slice().buffer), expected.rnn!);
  });

  it('does not modify the input', () => {
    const bytes = fixture('views-big-endian-zip.pt');
    const before = bytes.slice();
    readTorchStateDict(bytes);
    expect(bytes).toEqual(before);
  });
});

describe('readTorchStateDict: key and prefix', () => {
  it.each(['checkpoint-rnn-zip', 'checkpoint-rnn-legacy', 'checkpoint-lstm'])(
    'takes the RNN out of a training checkpoint (%s) with key "model" and prefix "encoder.rnn."; epoch, optimizer and lists are ignored',
    (name) => {
      const bytes = fixture(`${name}.pt`);
      const facts = expected[name.replace(/-(zip|legacy)$/, '') as `checkpoint-${string}`]!;
      expect(Object.keys(readTorchStateDict(bytes, { key: 'model' }))).toEqual(facts.modelKeys);
      const rnn = readTorchStateDict(bytes, { key: 'model', prefix: 'encoder.rnn.' });
      expect(Object.keys(rnn).sort()).toEqual(facts.rnnKeys);
      for (const [key, { shape, data }] of Object.entries(facts.rnn)) {
        expect(rnn[key]!.shape).toEqual(shape);
        expect(rnn[key]!.data).toEqual(Float32Array.from(data));
      }
    },
  );

  it('without a key, a checkpoint whose top level holds no tensors names the keys that do', async () => {
    const error = await expectRnnError(() => readTorchStateDict(fixture('checkpoint-lstm.pt')), 'format',
      /the file holds no tensors at its top level: pass \{ key \}/, /"model" \(11 tensors\)/, /"optimizer\.state\.0" \(3 tensors\)/);
    expect(error.details.keysWithTensors).toContain('model');
  });

  it('follows a dotted key into nested dicts, and int keys by their decimal form', () => {
    expect(Object.keys(readTorchStateDict(fixture('nested.pt'), { key: 'state.model' }))).toEqual(['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0']);
    const adam = readTorchStateDict(fixture('checkpoint-lstm.pt'), { key: 'optimizer.state.0' });
    expect(Object.keys(adam).sort()).toEqual(['exp_avg', 'exp_avg_sq', 'step']);
  });

  it.each([
    ['a missing key', 'checkpoint-lstm.pt', { key: 'modle' }, [/key "modle": the top-level object has no key "modle" \(its keys: "epoch", "model", "optimizer"/, /"model" \(11 tensors\)/]],
    ['a key that is not a dict', 'checkpoint-lstm.pt', { key: 'epoch' }, [/key "epoch" holds 3, not a state dict/]],
    ['a key into a non-dict', 'checkpoint-lstm.pt', { key: 'epoch.x' }, [/"epoch" has no key "x"/]],
    ['a prefix nothing starts with', 'checkpoint-lstm.pt', { key: 'model', prefix: 'decoder.' }, [/no tensor name in key "model" starts with "decoder\."; the prefixes there are "embedding\.", "encoder\.", "encoder\.rnn\.", "head\."/]],
    ['a file that holds one tensor', 'bare-tensor.pt', {}, [/the file holds a single tensor of size \[2\], not a state dict/]],
  ])('refuses %s, saying what is there', async (_case, name, options, messages) => {
    await expectRnnError(() => readTorchStateDict(fixture(name), options), 'format', ...messages);
  });

  it('type-checks its arguments', async () => {
    await expectRnnError(() => readTorchStateDict([1, 2] as unknown as Uint8Array), 'type', /expects a Uint8Array or ArrayBuffer, got array of length 2/);
    await expectRnnError(() => readTorchStateDict(fixture('rnn-zip.pt'), { key: 3 as unknown as string }), 'type', /option key must be a string, got 3/);
  });
});

describe('readTorchStateDict: refuses without executing', () => {
  it.each([
    ['os.system (zip)', 'hostile-system.pt', /refused global posix\.system\. Only tensors and plain containers are read.*nothing in the file is executed/],
    ['os.system (legacy)', 'hostile-system-legacy.pt', /the main pickle, byte \d+: refused global posix\.system/],
    ['eval', 'hostile-eval.pt', /refused global __builtin__\.eval/],
    ['an unknown class with __reduce__', 'hostile-class.pt', /refused global __main__\.Sneaky/],
    ['a TorchScript archive', 'torchscript.pt', /refused global __torch__\.torch\.nn\.modules\.rnn\.RNN\. This is a TorchScript archive \(torch\.jit\.save\)/],
    ['a deflate-compressed archive', 'deflate.pt', /entry "rnn-zip\/data\.pkl" is deflate-compressed; torch\.save stores entries uncompressed/],
  ])('%s', async (_case, name, message) => {
    await expectRnnError(() => readTorchStateDict(fixture(name)), 'format', message);
  });

  const tensor = { storageNumel: 6, shape: [2, 3], stride: [3, 1] };
  const withStorage = (pickle: number[]) => checkpointZip(pickle, [24]);
  const prefix = [...op.proto, ...op.emptyDict, ...op.str('x')];
  it.each([
    ['the NEWOBJ opcode', [...prefix, ...op.global('collections', 'OrderedDict'), ...op.emptyTuple, 0x81, ...op.setitem, ...op.stop], /pickle opcode NEWOBJ is refused/],
    ['the INST opcode', [...op.proto, 0x28, 0x69, ...new TextEncoder().encode('os\nsystem\n'), ...op.stop], /pickle opcode INST is refused/],
    ['the EXT1 opcode', [...op.proto, 0x82, 1, ...op.stop], /pickle opcode EXT1 is refused/],
    ['an unknown opcode', [...op.proto, 0xff, ...op.stop], /unsupported pickle opcode 0xff/],
    ['protocol 6', [0x80, 6, ...op.none, ...op.stop], /pickle protocol 6; supported are 2 to 5/],
    ['REDUCE of something that is not a global', [...op.proto, ...op.emptyList, ...op.emptyTuple, ...op.reduce, ...op.stop], /REDUCE calls a list or tuple of 0, which is not an allowed global/],
    ['a storage type outside the list', statePickle({ w: { ...tensor, storageType: 'ComplexFloatStorage' } }), /refused global torch\.ComplexFloatStorage/],
    ['BUILD on a list', [...op.proto, ...op.emptyList, ...op.emptyDict, ...op.build, ...op.stop], /BUILD on a list or tuple of 0 is refused/],
    ['a memo entry never stored', [...op.proto, 0x68, 7, ...op.stop], /memo entry 7 was never stored/],
    ['an empty stack', [...op.proto, ...op.stop], /the pickle stack is empty/],
    ['a pickle without STOP', [...op.proto, ...op.emptyDict], /the pickle is cut short \(is the file truncated\?\)/],
    ['a string longer than the file', [...op.proto, 0x58, 0xff, 0xff, 0xff, 0x7f], /the pickle is cut short/],
    ['an integer of a megabyte', [...op.proto, 0x8b, 0, 0, 0x10, 0, ...op.stop], /an integer of 1048576 bytes/],
    ['a view past the end of its storage', statePickle({ w: { ...tensor, offset: 1 } }), /tensor "w" \(size \[2, 3\], stride \[3, 1\], offset 1\) reaches element 7 of a storage of 6 elements/],
    ['a storage shorter than it claims', statePickle({ w: { ...tensor, storageNumel: 1e12, shape: [2], stride: [1] } }), /storage "0" \(1000000000000 × torch\.FloatStorage\) needs 4000000000000 bytes, its entry has 24/],
    ['a size and stride of different ranks', statePickle({ w: { ...tensor, stride: [1] } }), /a tensor of size \[2, 3\] with stride \[1\]/],
    ['an expanded view of absurd size', statePickle({ w: { storageNumel: 1, shape: [1e6, 1e6], stride: [0, 0] } }), /tensor "w" would need 1000000000000 more float32 values than a file of this size can justify/],
  ])('refuses %s', async (_case, pickle, message) => {
    await expectRnnError(() => readTorchStateDict(withStorage(pickle as number[])), 'format', message);
  });

  it('refuses a storage its pickle names but the archive lacks', async () => {
    await expectRnnError(() => readTorchStateDict(checkpointZip(statePickle({ w: tensor }))), 'format', /storage "0" has no entry archive\/data\/0/);
  });
});

describe('readTorchStateDict: damaged files', () => {
  it.each([
    ['an empty file', new Uint8Array(0), /neither a zip archive .* nor the legacy torch\.save format/],
    ['garbage', new TextEncoder().encode('not a checkpoint at all'), /neither a zip archive/],
    ['a zip without data.pkl', storedZip({ 'archive/other': [1] }), /a zip archive without <archive>\/data\.pkl/],
    ['a zip with two data.pkl', storedZip({ 'a/data.pkl': [0x2e], 'b/data.pkl': [0x2e] }), /the archive holds 2 data\.pkl files/],
    ['a byteorder that is neither little nor big', checkpointZip(statePickle({}), [], { 'archive/byteorder': new TextEncoder().encode('middle') }), /archive\/byteorder says "middle"/],
  ])('refuses %s', async (_case, bytes, message) => {
    await expectRnnError(() => readTorchStateDict(bytes), 'format', message);
  });

  it('refuses a zip whose central directory claims more than the file holds, before allocating', async () => {
    const bytes = fixture('rnn-zip.pt').slice();
    const view = new DataView(bytes.buffer);
    // The ZIP64 end record torch writes: patch its entry count and directory size.
    const record = Number(view.getBigUint64(bytes.length - 22 - 20 + 8, true));
    view.setBigUint64(record + 32, 1n << 50n, true);
    await expectRnnError(() => readTorchStateDict(bytes), 'format', /the central directory claims 1125899906842624 entries but has room for at most/);
    view.setBigUint64(record + 40, 1n << 60n, true);
    await expectRnnError(() => readTorchStateDict(bytes), 'format', /a size or offset of 1152921504606846976 bytes is beyond any file/);
  });

  it('refuses a legacy storage whose element count is absurd, before allocating', async () => {
    const bytes = fixture('rnn-legacy.pt').slice();
    // The first storage's int64 count follows the pickles; find it from the end: 2 layers × 2 directions.
    const total = Object.values(expected.rnn!).reduce((sum, { data }) => sum + data.length * 4, 0);
    const storages = Object.keys(expected.rnn!).length;
    const first = bytes.length - total - 8 * storages;
    new DataView(bytes.buffer).setBigInt64(first, 1n << 61n, true);
    await expectRnnError(() => readTorchStateDict(bytes), 'format', /claims 2305843009213693952 × torch\.FloatStorage \(\d+ bytes\) but \d+ bytes remain/);
  });

  it('refuses a legacy file with the wrong magic number', async () => {
    const bytes = fixture('rnn-legacy.pt').slice();
    bytes[5] ^= 0xff;
    await expectRnnError(() => readTorchStateDict(bytes), 'format', /the legacy magic number is \d+, expected 119547037146038801333356/);
  });

  it.each(['rnn-zip.pt', 'rnn-legacy.pt'])('refuses %s cut short anywhere', async (name) => {
    const bytes = fixture(name);
    for (const length of [1, 8, 100, bytes.length - 100, bytes.length - 1]) {
      await expectRnnError(() => readTorchStateDict(bytes.subarray(0, length)), 'format');
    }
  });
});
