import { createHash } from 'node:crypto';
import { readSafetensors, writeSafetensors } from '@recurrent/core';
import { describe, expect, it } from 'vitest';
import { createModel, forwardCall, randomValidCall } from '../src/cases.js';
import { engines } from '../src/engines.js';

/** A hash of everything a caller hands over: bytes, shapes and lengths. */
function hash(...values: unknown[]): string {
  const h = createHash('sha256');
  const visit = (v: unknown): void => {
    if (ArrayBuffer.isView(v)) h.update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    else if (v && typeof v === 'object') for (const key of Object.keys(v).sort()) { h.update(key); visit((v as Record<string, unknown>)[key]); }
    else h.update(String(v));
  };
  values.forEach(visit);
  return h.digest('hex');
}

describe.each(engines)('input immutability: $name', ({ createBackend }) => {
  it("no call changes the caller's input, states, lengths, weights or safetensors bytes (RNN, LSTM, GRU)", async () => {
    const backend = await createBackend();
    for (let seed = 1; seed <= 50; seed++) {
      const call = randomValidCall(seed);
      const file = writeSafetensors(call.weights);
      const before = hash(call, file);
      const rnn = await createModel(call.mode, call.config, readSafetensors(file), backend);
      const again = await createModel(call.mode, call.config, call.weights, backend);
      await forwardCall(rnn, call);
      await again.forward(call.input, call.hx);
      expect(hash(call, file), `seed ${seed}`).toBe(before);
      rnn.dispose();
      again.dispose();
    }
    backend.dispose();
  }, 300_000);
});
