import { describe, expect, it } from 'vitest';
import { RnnError, readTorchStateDict, seededRandom, type StateDict } from '../src/index.js';
import { readZip } from '../src/zip.js';
import { fixture } from './torch-files.js';

// Damaged and mutated torch.save files must give a StateDict or RnnError('format'): never another
// exception, never a hang (the test's timeout), never a tensor whose data does not match its shape.

const FIXTURES = ['rnn-zip.pt', 'rnn-legacy.pt', 'views-zip.pt', 'views-legacy.pt', 'views-big-endian-zip.pt', 'views-big-endian-legacy.pt',
  'checkpoint-rnn-zip.pt', 'checkpoint-rnn-legacy.pt', 'nested.pt', 'rnn-f16-zip.pt', 'rnn-bf16-legacy.pt'];
const files = new Map(FIXTURES.map((name) => [name, fixture(name)]));
const OPTIONS = [{}, { key: 'model' }, { key: 'model', prefix: 'encoder.rnn.' }, { key: 'state.model' }, { prefix: 'weight_' }];

/** Where the pickle lies: mutations there exercise the unpickler rather than tensor values. */
function pickleRange(bytes: Uint8Array): [number, number] {
  if (bytes[0] !== 0x50) return [0, Math.min(bytes.length, 1200)];
  const pickle = [...readZip(bytes).values()].find((entry) => entry.name.endsWith('/data.pkl'))!.bytes;
  return [pickle.byteOffset - bytes.byteOffset, pickle.byteOffset - bytes.byteOffset + pickle.byteLength];
}

function outcome(read: () => StateDict): 'read' | 'refused' {
  try {
    const dict = read();
    for (const [name, { data, shape }] of Object.entries(dict)) {
      expect(data, name).toBeInstanceOf(Float32Array);
      expect(data.length, name).toBe(shape.reduce((a, b) => a * b, 1));
    }
    return 'read';
  } catch (error) {
    if (!(error instanceof RnnError) || error.code !== 'format') throw new Error(`expected RnnError(format), got ${String(error)}`, { cause: error });
    return 'refused';
  }
}

describe('readTorchStateDict fuzz', () => {
  it('refuses every file cut at every 64th byte with a format error', () => {
    let cuts = 0;
    for (const name of FIXTURES) {
      const bytes = files.get(name)!;
      for (let length = 0; length < bytes.length; length += 64) {
        expect(outcome(() => readTorchStateDict(bytes.subarray(0, length))), `${name} cut at ${length}`).toBe('refused');
        cuts++;
      }
    }
    console.log(`truncations: ${cuts}, all refused`);
  });

  it('reads or refuses 4000 mutated checkpoints, with no other exception', () => {
    const random = seededRandom(14);
    const pick = (n: number) => Math.floor(random() * n);
    const counts = { read: 0, refused: 0 };
    for (let trial = 0; trial < 4000; trial++) {
      const original = files.get(FIXTURES[trial % FIXTURES.length]!)!;
      const bytes = original.slice();
      const [start, end] = pickleRange(bytes);
      const view = new DataView(bytes.buffer);
      for (let m = 0, mutations = 1 + pick(4); m < mutations; m++) {
        const at = random() < 0.7 ? start + pick(end - start) : pick(bytes.length);
        switch (pick(4)) {
          case 0: bytes[at] = pick(256); break;
          case 1: bytes[at]! ^= 1 << pick(8); break;
          case 2: if (at + 4 <= bytes.length) view.setUint32(at, [0xffffffff, 0x7fffffff, 0x80000000, 0][pick(4)]!, true); break;
          case 3: bytes.copyWithin(at, pick(bytes.length), pick(bytes.length)); break; // splice in another part of the file
        }
      }
      counts[outcome(() => readTorchStateDict(bytes, OPTIONS[pick(OPTIONS.length)]))]++;
    }
    console.log(`mutations: 4000 (${counts.read} still read, ${counts.refused} refused with format)`);
    expect(counts.read + counts.refused).toBe(4000);
  }, 120_000);
});
