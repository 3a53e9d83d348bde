import { readdirSync, readFileSync } from 'node:fs';
import {
  initStateDict, isRnnError, randomTensorData, readTorchStateDict, seededRandom, type Backend, type RnnErrorCode, type Tensor,
} from '@recurrent/core';
import { badInputCase } from './bad-input.js';
import { cellWeights, createCell, createModel, forwardCall, int, pick, randomValidCall, sameResult, type AnyConfig, type ValidCall } from './cases.js';

/** What one soak call did: its kind, and 'ok' or the error code it ended in (as expected), or a failure. */
export interface SoakOutcome {
  kind: string;
  outcome: 'ok' | RnnErrorCode;
  /** Set when the call did something it must not: a wrong code, a non-RnnError, a wrong result. */
  failure?: string;
}

export const SOAK_KINDS = ['bad input', 'forward', 'cell', 'stream', 'backward', 'loadStateDict', 'abort', 'checkpoint'] as const;

const FIXTURES = new URL('../../../packages/core/test/fixtures/torch/', import.meta.url);
/** The torch.save fixtures of @recurrent/core (valid files, hostile ones, TorchScript…), read once. */
export const checkpoints: { name: string; bytes: Uint8Array }[] = readdirSync(FIXTURES)
  .filter((name) => name.endsWith('.pt'))
  .sort()
  .map((name) => ({ name, bytes: new Uint8Array(readFileSync(new URL(name, FIXTURES))) }));

const tensor = (shape: number[], seed: number): Tensor => ({ data: randomTensorData(shape.reduce((a, b) => a * b, 1), seed), shape });

/** The call's model made unidirectional (its first direction's weights), so that it can stream. */
function streamable(call: ValidCall): ValidCall {
  const config = { ...call.config, bidirectional: false };
  return { ...call, config, weights: initStateDict(config, 17, call.mode), hx: undefined };
}

/** Runs `act`, which must end in one of `allowed` (an RnnError code or 'ok'); anything else is a failure. */
async function expectOutcome(kind: string, allowed: ('ok' | RnnErrorCode)[], act: () => Promise<unknown>): Promise<SoakOutcome> {
  try {
    await act();
    return allowed.includes('ok') ? { kind, outcome: 'ok' } : { kind, outcome: 'ok', failure: `no error, expected ${allowed.join(' or ')}` };
  } catch (error) {
    if (!isRnnError(error)) return { kind, outcome: 'internal', failure: `${(error as Error)?.name}: ${(error as Error)?.message}` };
    return allowed.includes(error.code) ? { kind, outcome: error.code } : { kind, outcome: error.code, failure: `code ${error.code} (${error.message}), expected ${allowed.join(' or ')}` };
  }
}

/** A damaged copy of a checkpoint: truncated, a byte flipped, a range zeroed, garbage appended. */
function damaged(bytes: Uint8Array, seed: number): { bytes: Uint8Array; how: string } {
  const random = seededRandom(seed);
  const how = pick(random, ['truncated', 'byte flipped', 'range zeroed', 'garbage appended']);
  const copy = bytes.slice();
  if (how === 'truncated') return { bytes: copy.subarray(0, int(random, 0, bytes.length - 1)), how };
  if (how === 'byte flipped') copy[int(random, 0, bytes.length - 1)] ^= 1 << int(random, 0, 7);
  if (how === 'range zeroed') {
    const start = int(random, 0, bytes.length - 1);
    copy.fill(0, start, start + int(random, 1, 64));
  }
  if (how === 'garbage appended') {
    const out = new Uint8Array(bytes.length + 16);
    out.set(bytes);
    for (let i = bytes.length; i < out.length; i++) out[i] = int(random, 0, 255);
    return { bytes: out, how };
  }
  return { bytes: copy, how };
}

/**
 * One soak call for a seed, on one backend: the kind cycles with the seed (bad input, forward, cell,
 * stream, backward, loadStateDict, abort, checkpoint reading), the module cycles RNN, LSTM, GRU.
 * Every model, cell and stream it makes, it disposes.
 */
export async function soakCall(backend: Backend, seed: number): Promise<SoakOutcome> {
  const kind = SOAK_KINDS[seed % SOAK_KINDS.length]!;
  const call = randomValidCall(Math.floor(seed / SOAK_KINDS.length));
  const random = seededRandom(seed ^ 0x2545f491);
  const options = call.lengths ? { lengths: call.lengths } : {};
  switch (kind) {
    case 'bad input': {
      const bad = badInputCase(seed);
      return expectOutcome(kind, bad.mayBeUnavailable ? [bad.code, 'unavailable'] : [bad.code], () => bad.act(backend));
    }
    case 'forward':
      return expectOutcome(kind, ['ok'], async () => {
        const model = await createModel(call.mode, call.config, call.weights, backend);
        await forwardCall(model, call);
        model.dispose();
      });
    case 'cell': {
      const { inputSize: I, hiddenSize: H } = call.config;
      const bias = call.config.bias !== false;
      const N = int(random, 1, 3);
      return expectOutcome(kind, ['ok'], async () => {
        const cell = await createCell(call.mode, { inputSize: I, hiddenSize: H, bias }, cellWeights(call.mode, I, H, bias, seed), backend);
        let state = await cell.forward(tensor([N, I], seed));
        state = await cell.forward(tensor([N, I], seed + 1), state);
        cell.dispose();
      });
    }
    case 'stream': {
      // Pushes (with the call's lengths, if any) between which some are aborted, before the call or just
      // after it starts: the stream must go on exactly as one on the same model that saw only the pushes
      // that completed.
      const uni = streamable(call);
      const chunk = (k: number): Tensor => tensor(uni.input.shape, seed * 10 + k);
      const pushOptions = call.lengths ? { lengths: call.lengths } : undefined;
      return expectOutcome(kind, ['ok'], async () => {
        const model = await createModel(uni.mode, uni.config, uni.weights, backend);
        const [stream, reference] = [model.stream(), model.stream()];
        try {
          for (let k = int(random, 1, 3); k > 0; k--) {
            if (random() < 0.5) {
              const before = random() < 0.5;
              const controller = new AbortController();
              if (before) controller.abort();
              const fired = before ? null : new Promise<void>((resolve) => setTimeout(() => resolve(controller.abort()), 0));
              const aborted = chunk(-k);
              try {
                await stream.push(aborted, { ...pushOptions, signal: controller.signal });
                if (before) throw new Error('a push whose signal had fired before the call completed');
                await reference.push(aborted, pushOptions);
              } catch (error) {
                if (!isRnnError(error) || error.code !== 'aborted') throw error;
              } finally {
                await fired;
              }
            }
            const [got, expected] = [await stream.push(chunk(k), pushOptions), await reference.push(chunk(k), pushOptions)];
            if (!sameResult(got, expected)) throw new Error('after an aborted push, the stream did not go on exactly as one that never saw it');
          }
        } finally {
          stream.dispose();
          reference.dispose();
          model.dispose();
        }
      });
    }
    case 'backward':
      return expectOutcome(kind, ['ok', 'unavailable'], async () => {
        const model = await createModel(call.mode, call.config, call.weights, backend);
        try {
          const { output, hN, cN } = await forwardCall(model, call);
          await model.backward(call.input, call.hx, { output: tensor(output.shape, seed), hN: tensor(hN.shape, seed + 1), ...(cN ? { cN: tensor(cN.shape, seed + 2) } : {}) }, options);
        } finally {
          model.dispose();
        }
      });
    case 'loadStateDict':
      return expectOutcome(kind, ['ok', 'unavailable'], async () => {
        const model = await createModel(call.mode, call.config, call.weights, backend);
        try {
          await model.loadStateDict(initStateDict(call.config as AnyConfig, seed, call.mode));
          await forwardCall(model, call);
        } finally {
          model.dispose();
        }
      });
    case 'abort': {
      // Aborted before the call (rejects at once), or just after it starts (either outcome is fine).
      const before = random() < 0.5;
      return expectOutcome(kind, before ? ['aborted'] : ['ok', 'aborted'], async () => {
        const model = await createModel(call.mode, call.config, call.weights, backend);
        const controller = new AbortController();
        if (before) controller.abort();
        // The timer is awaited too: calls that never yield to the event loop would otherwise pile
        // timers (and their controllers) up until the run ends, which looks like a leak.
        const fired = before ? null : new Promise<void>((resolve) => setTimeout(() => resolve(controller.abort()), 0));
        try {
          await model.forward(call.input, call.hx, { ...options, signal: controller.signal });
        } finally {
          model.dispose();
          await fired;
        }
      });
    }
    case 'checkpoint': {
      const file = checkpoints[seed % checkpoints.length]!;
      if (random() < 0.3) return expectOutcome(kind, ['ok', 'format'], async () => readTorchStateDict(file.bytes));
      const { bytes } = damaged(file.bytes, seed);
      return expectOutcome(kind, ['ok', 'format'], async () => readTorchStateDict(bytes, random() < 0.2 ? { key: pick(random, ['state_dict', 'model', 'rnn']) } : {}));
    }
  }
}
