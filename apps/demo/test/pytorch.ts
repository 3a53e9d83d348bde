// Asks PyTorch about the word generator (test/torch_generator.py under Debian's /usr/bin/python3 with torch).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { ModelInfo } from '../src/models.js';

export const GENERATOR_WEIGHTS = new URL('../public/models/word-generator.safetensors', import.meta.url).pathname;
export const generatorInfo = JSON.parse(readFileSync(new URL('../public/models/word-generator.json', import.meta.url), 'utf8')) as ModelInfo;

export interface PyTorchAnswer {
  torch: string;
  logits?: number[][];
  logLikelihood?: number[][];
  gradients?: { loss: number; grads: Record<string, number[]> };
}

/** `questions`: any of { logits: [[prefix, language]], logLikelihood: [word], gradients: { words, language } }. */
export function askPyTorch(weightsFile: string, questions: object): PyTorchAnswer {
  const info = generatorInfo;
  const query = { weights: weightsFile, config: info.rnn, vocab: info.vocab, languages: info.labels.length, ...questions };
  const script = new URL('./torch_generator.py', import.meta.url).pathname;
  return JSON.parse(execFileSync('/usr/bin/python3', [script], { input: JSON.stringify(query), maxBuffer: 64 << 20 }).toString()) as PyTorchAnswer;
}
