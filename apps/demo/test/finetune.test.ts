// The streamed language guess and the "Teach it" training step on @recurrent/cpu in Node, against
// PyTorch itself (test/torch_generator.py, Debian's /usr/bin/python3 with torch): the log-likelihoods
// the stream accumulates keystroke by keystroke, and one training step's loss and gradients.
import { readFileSync } from 'node:fs';
import { createBackend } from '@recurrent/cpu';
import { describe, expect, it } from 'vitest';
import { FineTuner, encodeBatch, parseWords } from '../src/finetune.js';
import { StreamingGuesser, WordGenerator, readModelWeightsFor } from '../src/models.js';
import { GENERATOR_WEIGHTS as WEIGHTS, askPyTorch, generatorInfo as info } from './pytorch.js';

const weights = () => readModelWeightsFor(info, readFileSync(WEIGHTS));

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
};

const WORDS = ['kalevala', 'sauna', 'järvi', 'metsä', 'kuusi', 'koivu', 'tähti', 'aurinko'];

describe('streamed guess and fine-tuning against PyTorch', async () => {
  const backend = await createBackend();
  const pytorch = askPyTorch(WEIGHTS, {
    logLikelihood: ['schmetterling', 'schmetter', 'maison', 'ma'],
    logits: [['', 0], ['sch', 1], ['ka', 3]],
    gradients: { words: WORDS, language: 0 },
  });

  it('the stream, pushed keystroke by keystroke (appends, an edit, a deletion), gives PyTorch\'s log P(letters | language) within 1e-4', async () => {
    const guesser = new StreamingGuesser(await WordGenerator.create(info, weights(), backend));
    const typed = ['s', 'sc', 'sch', 'schmetter', 'schmetterling'];
    let last;
    for (const word of typed) last = await guesser.update(word);
    expect(last!.pushed, 'the last keystrokes pushed only the new letters').toBe(4);
    expect(last!.restarted).toBe(false);
    expect(maxAbsDiff(last!.logLikelihood, pytorch.logLikelihood![0])).toBeLessThan(1e-4);
    // A deletion is not an append: the stream starts over with the boundary and the whole word.
    const shorter = await guesser.update('schmetter');
    expect(shorter).toMatchObject({ restarted: true, pushed: 10 });
    expect(maxAbsDiff(shorter.logLikelihood, pytorch.logLikelihood![1])).toBeLessThan(1e-4);
    const other = await guesser.update('ma');
    expect(maxAbsDiff(other.logLikelihood, pytorch.logLikelihood![3])).toBeLessThan(1e-4);
    expect(maxAbsDiff((await guesser.update('maison')).logLikelihood, pytorch.logLikelihood![2])).toBeLessThan(1e-4);
    const top = (p: ArrayLike<number>) => Array.from(p).indexOf(Math.max(...Array.from(p)));
    expect(info.labels[top(last!.probabilities)]).toBe(info.labels[top(pytorch.logLikelihood![0])]);
  });

  it('an aborted update leaves the stream where it was, and the next one catches up', async () => {
    const guesser = new StreamingGuesser(await WordGenerator.create(info, weights(), backend));
    await guesser.update('schm');
    const controller = new AbortController();
    controller.abort();
    await expect(guesser.update('schmetter', { signal: controller.signal })).rejects.toMatchObject({ name: 'RnnError', code: 'aborted' });
    const caughtUp = await guesser.update('schmetterling');
    expect(caughtUp).toMatchObject({ restarted: false, pushed: 9 });
    expect(maxAbsDiff(caughtUp.logLikelihood, pytorch.logLikelihood![0])).toBeLessThan(1e-4);
  });

  it('generator logits through a stream match PyTorch within 1e-5', async () => {
    const generator = await WordGenerator.create(info, weights(), backend);
    for (const [i, [prefix, language]] of [['', 0], ['sch', 1], ['ka', 3]].entries()) {
      expect(maxAbsDiff(await generator.logits(prefix as string, language as number), pytorch.logits![i])).toBeLessThan(1e-5);
    }
  });

  it("one training step's loss and every gradient (head in JS, RNN from backward) equal PyTorch autograd's", async () => {
    const tuner = await FineTuner.create(info, weights(), backend, WORDS, { language: 0, batchSize: 8, learningRate: 3e-3, clip: 1, seed: 1 });
    const { loss, grads } = await tuner.gradients(WORDS);
    expect(Math.abs(loss - pytorch.gradients!.loss)).toBeLessThan(1e-5);
    expect(Object.keys(grads).sort()).toEqual(Object.keys(pytorch.gradients!.grads).sort());
    for (const [name, expected] of Object.entries(pytorch.gradients!.grads as Record<string, number[]>)) {
      expect(maxAbsDiff(grads[name]!.data, expected), name).toBeLessThan(1e-5);
    }
  });

  it('training lowers the loss on the taught words; the batch encoding pads as PyTorch packs', async () => {
    const tuner = await FineTuner.create(info, weights(), backend, WORDS, { language: 0, batchSize: 4, learningRate: 3e-3, clip: 1, seed: 1 });
    const { lengths, targets, input } = encodeBatch(tuner.generator, ['ab', 'abcd'], 0);
    expect(lengths).toEqual([3, 5]);
    expect(input.shape).toEqual([5, 2, info.rnn.inputSize]);
    expect([...targets]).toEqual([1, 1, 2, 2, 0, 3, -1, 4, -1, 0]);
    const before = await tuner.loss();
    for (let i = 0; i < 10; i++) await tuner.step();
    expect(tuner.steps).toBe(10);
    expect(await tuner.loss()).toBeLessThan(before - 0.3);
  });

  it('words with unknown letters are refused, naming them', () => {
    expect(() => parseWords("o'brien jean-luc anna", info.vocab)).toThrow(/2 word\(s\) have letters this model does not know \(“'” “-”\): o'brien, jean-luc/);
    expect(() => parseWords('  ', info.vocab)).toThrow(/Paste some words first/);
    expect(parseWords('Järvi, SAUNA\nkoivu', info.vocab)).toEqual(['järvi', 'sauna', 'koivu']);
  });
});
