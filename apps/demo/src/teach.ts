// The "Teach it" tab: the word generator fine-tunes on pasted words on the picked engine (src/finetune.ts),
// with a live loss curve and steps per second, then invents words in that style; the weights download
// as .safetensors.
import { RnnError, createRnn, initStateDict, isRnnError } from '@recurrent/core';
import type { Backend } from '@recurrent/core';
import { describeError } from './engines.js';
import type { EngineState } from './engines.js';
import { FineTuner, parseWords } from './finetune.js';
import { WordGenerator, softmax } from './models.js';
import type { ModelInfo, ModelWeights, RunInfo } from './models.js';
import { $, el, formatMs, guarded } from './ui.js';

type Engine = EngineState & { backend: Backend };

/** Whether an engine trains: a one-step backward of a tiny RNN, or the reason it cannot. */
async function canTrain(backend: Backend): Promise<string | null> {
  const config = { inputSize: 1, hiddenSize: 1 };
  const rnn = await createRnn(config, initStateDict(config, 0), backend);
  try {
    await rnn.backward({ data: Float32Array.of(1), shape: [1, 1] }, undefined, { output: { data: Float32Array.of(1), shape: [1, 1] } });
    await rnn.loadStateDict(rnn.stateDict());
    return null;
  } catch (error) {
    return describeError(error);
  } finally {
    rnn.dispose();
  }
}

const SVG = 'http://www.w3.org/2000/svg';

/** The loss per step as a polyline; the y axis runs from 0 to the largest loss seen. */
function drawCurve(svg: SVGSVGElement, losses: number[], totalSteps: number): void {
  const width = 640;
  const height = 200;
  const left = 44;
  const bottom = 22;
  const top = 10;
  const max = Math.max(...losses, 1e-9);
  const x = (step: number) => left + ((width - left - 8) * step) / Math.max(1, totalSteps);
  const y = (loss: number) => top + (height - top - bottom) * (1 - loss / max);
  const node = <K extends keyof SVGElementTagNameMap>(tag: K, attributes: Record<string, string | number>, text?: string) => {
    const element = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
    if (text !== undefined) element.textContent = text;
    return element;
  };
  svg.replaceChildren(
    node('line', { x1: left, y1: y(0), x2: width - 8, y2: y(0), stroke: '#888' }),
    node('line', { x1: left, y1: top, x2: left, y2: y(0), stroke: '#888' }),
    node('text', { x: left - 4, y: top + 10, 'text-anchor': 'end', 'font-size': 11 }, max.toFixed(2)),
    node('text', { x: left - 4, y: y(0), 'text-anchor': 'end', 'font-size': 11 }, '0'),
    node('text', { x: width - 8, y: height - 6, 'text-anchor': 'end', 'font-size': 11 }, `step ${totalSteps}`),
    node('text', { x: left, y: height - 6, 'font-size': 11 }, 'step 1'),
    node('polyline', { points: losses.map((loss, i) => `${x(i + 1).toFixed(1)},${y(loss).toFixed(1)}`).join(' '), fill: 'none', stroke: '#c44e52', 'stroke-width': 2 }),
  );
  svg.dataset.steps = String(losses.length);
  svg.dataset.first = String(losses[0] ?? '');
  svg.dataset.last = String(losses.at(-1) ?? '');
  svg.setAttribute('aria-label', losses.length === 0 ? 'Loss curve: no training yet' : `Loss curve: ${losses.length} steps, from ${losses[0]!.toFixed(3)} to ${losses.at(-1)!.toFixed(3)} nats`);
}

/** "k 31%, a 12%, j 9%": the three likeliest next tokens (⏎ = end of word). */
function topLetters(vocab: string, logits: Float32Array): string {
  const p = softmax(logits);
  return [...p.keys()]
    .sort((a, b) => p[b]! - p[a]!)
    .slice(0, 3)
    .map((i) => `${i === 0 ? '⏎' : vocab[i - 1]} ${(p[i]! * 100).toFixed(0)}%`)
    .join(', ');
}

export function setupTeach({ model, currentEngine, availableEngines, showRun }: {
  model: { info: ModelInfo; weights: ModelWeights };
  currentEngine: () => Engine;
  availableEngines: () => Engine[];
  showRun: (run: RunInfo, what?: string) => void;
}): void {
  const { info } = model;
  const language = $('teach-language') as HTMLSelectElement;
  language.replaceChildren(...info.labels.map((label, i) => el('option', { value: String(i) }, label)));
  const start = $('teach-start') as HTMLButtonElement;
  const stop = $('teach-stop') as HTMLButtonElement;
  const invent = $('teach-invent') as HTMLButtonElement;
  const download = $('teach-download') as HTMLAnchorElement;
  const status = $('teach-status');
  const curve = $('teach-curve') as unknown as SVGSVGElement;
  const number = (id: string) => ($(id) as HTMLInputElement).valueAsNumber;
  let tuner: FineTuner | null = null;
  /** The engine the current fine-tuned copy lives on: "before" words come from the same engine. */
  let trainedOn: Backend | null = null;
  let controller: AbortController | null = null;

  // Which engines can train, said once the tab is first opened (a tiny backward on each).
  let probed = false;
  const probe = (): void => {
    if (probed) return;
    probed = true;
    void (async () => {
      const lines = await Promise.all(availableEngines().map(async ({ engine, backend }) => {
        const reason = await canTrain(backend);
        return { id: engine.id, text: reason === null ? `${engine.label}: trains` : `${engine.label}: cannot train yet (${reason})`, ok: reason === null };
      }));
      const note = $('teach-engines');
      note.textContent = `Engines here: ${lines.map((l) => l.text).join('; ')}.`;
      note.dataset.trains = lines.filter((l) => l.ok).map((l) => l.id).join(' ');
    })();
  };
  $('tab-teach').addEventListener('click', probe);
  $('tab-teach').addEventListener('focus', probe); // reached with the arrow keys

  /** The next-letter table: a few prefixes of the first word, before and after teaching. */
  async function showNextLetters(words: string[], before: WordGenerator, after: WordGenerator, languageIndex: number): Promise<void> {
    const first = [...words[0]!];
    const prefixes = [...new Set(['', first.slice(0, 1).join(''), first.slice(0, 2).join('')])];
    const rows = [];
    for (const prefix of prefixes) {
      const logitsBefore = await before.logits(prefix, languageIndex);
      const logitsAfter = await after.logits(prefix, languageIndex);
      const row = el('tr', {}, el('th', { scope: 'row' }, prefix === '' ? '(start)' : `“${prefix}”`), el('td', {}, topLetters(info.vocab, logitsBefore)), el('td', {}, topLetters(info.vocab, logitsAfter)));
      row.dataset.prefix = prefix;
      row.dataset.language = String(languageIndex);
      row.dataset.logits = JSON.stringify(Array.from(logitsAfter));
      rows.push(row);
    }
    const table = $('teach-next') as HTMLTableElement;
    table.tBodies[0]!.replaceChildren(...rows);
    table.hidden = false;
  }

  start.addEventListener('click', () => {
    void guarded('teach-error', async () => {
      const engine = currentEngine();
      const words = parseWords(($('teach-words') as HTMLTextAreaElement).value, info.vocab);
      const steps = number('teach-steps');
      if (!Number.isInteger(steps) || steps < 1 || steps > 5000) throw new RnnError('config', `Steps must be 1..5000, got ${Number.isNaN(steps) ? 'nothing' : steps}`);
      const settings = { language: Number(language.value), batchSize: number('teach-batch'), learningRate: number('teach-lr'), clip: number('teach-clip'), seed: number('teach-seed') };
      tuner?.dispose();
      tuner = null;
      invent.disabled = true;
      download.hidden = true;
      if (download.href) URL.revokeObjectURL(download.href);
      const next = await FineTuner.create(info, model.weights, engine.backend, words, settings);
      controller = new AbortController();
      const { signal } = controller;
      start.disabled = true;
      stop.disabled = false;
      const losses: number[] = [];
      drawCurve(curve, losses, steps);
      status.dataset.state = 'training';
      try {
        const before = await next.loss(signal);
        const began = performance.now();
        let stopped = false;
        for (let step = 1; step <= steps; step++) {
          try {
            losses.push((await next.step(signal)).loss);
          } catch (error) {
            if (isRnnError(error) && error.code === 'aborted') {
              stopped = true;
              break;
            }
            if (isRnnError(error) && error.code === 'unavailable') {
              throw new RnnError('unavailable', `${engine.engine.label} cannot train yet: ${error.message}. Pick an engine that trains above (CPU-JS does).`, error.details);
            }
            throw error;
          }
          const seconds = (performance.now() - began) / 1000;
          drawCurve(curve, losses, steps);
          status.textContent = `Step ${step} of ${steps} on ${next.backend}: loss ${losses.at(-1)!.toFixed(3)} nats, ${(step / seconds).toFixed(1)} steps per second.`;
        }
        const seconds = (performance.now() - began) / 1000;
        const after = await next.loss();
        tuner = next;
        trainedOn = engine.backend;
        const stepsPerSecond = next.steps / Math.max(seconds, 1e-9);
        status.textContent =
          `${stopped ? 'Stopped after' : 'Done:'} ${next.steps} step${next.steps === 1 ? '' : 's'} of ${Math.min(settings.batchSize, words.length)} words in ${formatMs(seconds * 1000)} ` +
          `(${stepsPerSecond.toFixed(1)} steps per second) on ${next.backend}. Loss on your ${words.length} words: ${before.toFixed(3)} → ${after.toFixed(3)} nats per letter.`;
        Object.assign(status.dataset, { state: 'done', steps: String(next.steps), before: String(before), after: String(after), stepsPerSecond: String(stepsPerSecond), backend: next.backend, engine: engine.engine.id });
        showRun({ backend: next.backend, ms: seconds * 1000 }, `${next.steps} training steps`);
        download.href = URL.createObjectURL(new Blob([next.toSafetensors() as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
        download.hidden = false;
        invent.disabled = false;
        const original = await WordGenerator.create(info, model.weights, engine.backend);
        try {
          await showNextLetters(words, original, next.generator, settings.language);
        } finally {
          original.dispose();
        }
      } catch (error) {
        if (tuner !== next) next.dispose();
        status.dataset.state = 'failed';
        status.textContent = '';
        throw error;
      } finally {
        start.disabled = false;
        stop.disabled = true;
        controller = null;
      }
    });
  });

  stop.addEventListener('click', () => controller?.abort(new Error('stopped by the user')));

  invent.addEventListener('click', () => {
    void guarded('teach-error', async () => {
      if (!tuner || !trainedOn) throw new RnnError('config', 'Teach it first.');
      const options = { language: tuner.settings.language, temperature: 0.8, seed: tuner.settings.seed, count: 10 };
      const original = await WordGenerator.create(info, model.weights, trainedOn);
      try {
        const [before, after] = [await original.generate(options), await tuner.generator.generate(options)];
        const table = $('teach-invented') as HTMLTableElement;
        table.tBodies[0]!.replaceChildren(...after.words.map((word, i) => el('tr', {}, el('td', {}, before.words[i] || '(empty)'), el('td', {}, word || '(empty)'))));
        table.dataset.words = after.words.join(' ');
        table.hidden = false;
        showRun(after, `${after.steps} steps of batch ${after.words.length}, fine-tuned`);
      } finally {
        original.dispose();
      }
    });
  });
}
