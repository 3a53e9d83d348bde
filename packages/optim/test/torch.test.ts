// Every optimiser option and clip_grad_norm_'s norms against torch.optim itself (test/fixtures/optim.msgpack,
// written by test/fixtures/generate.py with PyTorch): bit for bit after every step, NaN and ±Inf included.
import { readFileSync } from 'node:fs';
import type { StateDict } from '@recurrent/core';
import { unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { Adam, AdamW, SGD, clipGradNorm, type Optimizer } from '../src/index.js';

type Raw = { shape: number[]; data: Uint8Array };
interface Step {
  grads: Record<string, Raw>;
  params: Record<string, Raw>;
  totalNorm?: Raw;
  clipped?: Record<string, Raw>;
}
interface Case {
  id: string;
  optimizer: 'sgd' | 'adam' | 'adamw';
  options: Record<string, unknown>;
  clip?: { maxNorm: number; normType: number };
  params0: Record<string, Raw>;
  steps: Step[];
}

const fixtures = unpack(readFileSync(new URL('./fixtures/optim.msgpack', import.meta.url))) as { torch: string; cases: Case[] };

const floats = (t: Raw) => new Float32Array(new Uint8Array(t.data).buffer); // copy: aligned, ours
const stateDict = (raw: Record<string, Raw>): StateDict => Object.fromEntries(Object.entries(raw).map(([name, t]) => [name, { data: floats(t), shape: [...t.shape] }]));

/** Values that differ from PyTorch's, bit for bit (Object.is: −0 ≠ +0, NaN = NaN). */
function mismatches(got: Float32Array, want: Float32Array): number {
  let n = 0;
  for (let i = 0; i < want.length; i++) if (!Object.is(got[i], want[i])) n++;
  return n;
}

function optimizer(c: Case, params: StateDict): Optimizer {
  if (c.optimizer === 'sgd') return new SGD(params, c.options as never);
  return c.optimizer === 'adam' ? new Adam(params, c.options) : new AdamW(params, c.options);
}

describe(`torch.optim ${fixtures.torch}: the parameters after every step equal PyTorch's bit for bit (${fixtures.cases.length} cases)`, () => {
  for (const c of fixtures.cases) {
    it(c.id, () => {
      const params = stateDict(c.params0);
      const opt = optimizer(c, params);
      c.steps.forEach((step, s) => {
        const grads = stateDict(step.grads);
        if (c.clip !== undefined) {
          const total = clipGradNorm(grads, c.clip.maxNorm, { normType: c.clip.normType });
          expect(Object.is(total, floats(step.totalNorm!)[0]), `step ${s + 1}: total norm ${total} vs torch ${floats(step.totalNorm!)[0]}`).toBe(true);
          for (const [name, want] of Object.entries(step.clipped!)) {
            expect(mismatches(grads[name]!.data, floats(want)), `step ${s + 1}: clipped ${name}`).toBe(0);
          }
        }
        opt.step(grads);
        for (const [name, want] of Object.entries(step.params)) {
          const n = mismatches(params[name]!.data, floats(want));
          expect(n, `step ${s + 1}: ${name}: ${n} of ${want.shape.join('×')} values differ from PyTorch's\n got  ${params[name]!.data.slice(0, 6).join(', ')}\n want ${floats(want).slice(0, 6).join(', ')}`).toBe(0);
        }
      });
      expect(opt.steps).toBe(c.steps.length);
    });
  }
});
