// The exported models, run through @recurrent/core on the CPU engine in Node, against the
// probabilities PyTorch itself computed when it trained them (stored in each model's JSON).
import { readFileSync } from 'node:fs';
import { createBackend } from '@recurrent/cpu';
import { describe, expect, it } from 'vitest';
import { LanguageClassifier, WordGenerator, readModelWeightsFor, sampleIndex, softmax } from '../src/models.js';
import type { ModelInfo } from '../src/models.js';

const load = (name: string) => {
  const info = JSON.parse(readFileSync(new URL(`../public/models/${name}.json`, import.meta.url), 'utf8')) as ModelInfo;
  return { info, weights: readModelWeightsFor(info, readFileSync(new URL(`../public/models/${name}.safetensors`, import.meta.url))) };
};

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
};

// The language classifier, once per cell type (same data and time budget).
const CLASSIFIERS = [
  { module: 'rnn', file: 'language-classifier' },
  { module: 'gru', file: 'language-classifier-gru' },
  { module: 'lstm', file: 'language-classifier-lstm' },
];

describe('demo models', () => {
  it('are small: under 1.2 MB each (the classifiers are stored as float16)', () => {
    for (const name of [...CLASSIFIERS.map((c) => c.file), 'word-generator']) {
      expect(readFileSync(new URL(`../public/models/${name}.safetensors`, import.meta.url)).byteLength, name).toBeLessThan(1_200_000);
    }
  });

  it('the three classifiers were trained alike and say which module they are', () => {
    const infos = CLASSIFIERS.map(({ file }) => load(file).info);
    CLASSIFIERS.forEach(({ module }, i) => expect(infos[i]!.module ?? 'rnn').toBe(module));
    for (const info of infos) {
      expect(info.training, 'training facts').toMatchObject({ ...infos[0]!.training, steps: expect.any(Number), epochs: expect.any(Number), wallSeconds: expect.any(Number) });
      expect(info.rnn).toMatchObject({ inputSize: 51, hiddenSize: infos[0]!.rnn.hiddenSize, numLayers: 2, bidirectional: true });
      expect(info.validationAccuracy).toBeGreaterThan(0.5);
    }
  });
});

describe.each(CLASSIFIERS)('classifier $module on @recurrent/cpu matches PyTorch', async ({ file }) => {
  const backend = await createBackend();
  const classifierModel = load(file);

  it('one word at a time gives PyTorch probabilities within 1e-5', async () => {
    const classifier = await LanguageClassifier.create(classifierModel.info, classifierModel.weights, backend);
    expect(classifierModel.info.checks.length).toBeGreaterThan(5);
    for (const check of classifierModel.info.checks) {
      const { probabilities } = await classifier.classify(check.word!);
      expect(maxAbsDiff(probabilities, check.probabilities), check.word).toBeLessThan(1e-5);
    }
  });

  it('all words in one batched forward with lengths give the same probabilities', async () => {
    const classifier = await LanguageClassifier.create(classifierModel.info, classifierModel.weights, backend);
    const checks = classifierModel.info.checks;
    const { probabilities } = await classifier.classifyMany(checks.map((c) => c.word!));
    checks.forEach((check, b) => expect(maxAbsDiff(probabilities[b]!, check.probabilities), check.word).toBeLessThan(1e-5));
  });

  it('empty words and unknown characters are RnnErrors with readable messages', async () => {
    const classifier = await LanguageClassifier.create(classifierModel.info, classifierModel.weights, backend);
    await expect(classifier.classify('  ')).rejects.toMatchObject({ name: 'RnnError', code: 'shape', message: expect.stringContaining('empty word') });
    await expect(classifier.classify('a1')).rejects.toMatchObject({ name: 'RnnError', code: 'type', message: expect.stringContaining('“1”') });
    await expect(classifier.classifyMany([])).rejects.toMatchObject({ name: 'RnnError', code: 'shape' });
  });
});

describe('word generator on @recurrent/cpu matches PyTorch', async () => {
  const backend = await createBackend();
  const generatorModel = load('word-generator');

  it('generator: next-character probabilities, stepping with the hidden state carried, match PyTorch within 1e-5', async () => {
    const generator = await WordGenerator.create(generatorModel.info, generatorModel.weights, backend);
    for (const check of generatorModel.info.checks) {
      const probabilities = await generator.nextProbabilities(check.prefix!, check.language!);
      expect(maxAbsDiff(probabilities, check.probabilities), `${check.prefix}/${check.language}`).toBeLessThan(1e-5);
    }
  });

  it('generator: the same seed gives the same words, another seed other words', async () => {
    const generator = await WordGenerator.create(generatorModel.info, generatorModel.weights, backend);
    const options = { language: 2, temperature: 0.8, seed: 42, count: 8 };
    const a = await generator.generate(options);
    const b = await generator.generate(options);
    const c = await generator.generate({ ...options, seed: 43 });
    expect(a.words).toEqual(b.words);
    expect(a.words).not.toEqual(c.words);
    expect(a.words.every((w) => [...w].every((ch) => generatorModel.info.vocab.includes(ch)))).toBe(true);
    await expect(generator.generate({ ...options, temperature: 0 })).rejects.toMatchObject({ code: 'config' });
    await expect(generator.generate({ ...options, seed: NaN })).rejects.toMatchObject({ code: 'config' });
  });

  it('sampling picks the index whose cumulative probability first exceeds u', () => {
    expect(sampleIndex([0.25, 0, 0.5, 0.25], 0)).toBe(0);
    expect(sampleIndex([0.25, 0, 0.5, 0.25], 0.25)).toBe(2);
    expect(sampleIndex([0.25, 0, 0.5, 0.25], 0.999999)).toBe(3);
    const p = softmax([1, 2, 3], 0.5);
    expect(p[2]).toBeCloseTo(Math.exp(6) / (Math.exp(2) + Math.exp(4) + Math.exp(6)), 12);
  });
});
