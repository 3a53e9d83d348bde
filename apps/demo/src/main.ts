// The demo page: engine and cell-type pickers, tabs, and the PyTorch-trained models.
import { MODULE_NAMES, isRnnError } from '@recurrent/core';
import type { Mode } from '@recurrent/core';
import { ENGINES, describeError, startEngine } from './engines.js';
import type { EngineId, EngineState } from './engines.js';
import { LanguageClassifier, StreamingGuesser, WordGenerator, fetchModel, moduleName } from './models.js';
import type { Classification, Generation, GenerateOptions, ModelInfo, ModelWeights, RunInfo, StreamedGuess } from './models.js';
import { setupOwnModel } from './own.js';
import { setupSpeed } from './speed.js';
import { setupConformance } from './conformance.js';
import { setupTeach } from './teach.js';
import { $, drawBars, drawHeatmap, el, formatMs, guarded, showError } from './ui.js';

type LoadedModel = { info: ModelInfo; weights: ModelWeights };

/** The language classifier, trained once per cell type with the same data and time budget. */
const CELLS: { id: Mode; file: string }[] = [
  { id: 'rnn', file: 'language-classifier' },
  { id: 'gru', file: 'language-classifier-gru' },
  { id: 'lstm', file: 'language-classifier-lstm' },
];

// Uncaught problems still end up readable on the page.
window.addEventListener('error', (event) => showError('global-error', event.error ?? event.message));
window.addEventListener('unhandledrejection', (event) => showError('global-error', event.reason));

let engines: EngineState[] = [];
let selected: EngineId = 'cpu';
let selectedCell: Mode = 'rnn';
/** Each cell type's classifier as loaded, or why it could not be. */
const classifierModels = new Map<Mode, LoadedModel | { error: string }>();
let generatorModel: LoadedModel;
const classifiers = new Map<string, Promise<LanguageClassifier>>();
const generators = new Map<EngineId, Promise<WordGenerator>>();
const guessers = new Map<EngineId, Promise<StreamingGuesser>>();

export function availableEngines(): (EngineState & { backend: NonNullable<EngineState['backend']> })[] {
  return engines.filter((s): s is EngineState & { backend: NonNullable<EngineState['backend']> } => s.backend !== undefined);
}

export function currentEngine(): EngineState & { backend: NonNullable<EngineState['backend']> } {
  return availableEngines().find((s) => s.engine.id === selected)!;
}

/** Builds a model once per key; a failed build may be retried. */
function cached<K, T>(cache: Map<K, Promise<T>>, key: K, build: () => Promise<T>): Promise<T> {
  let model = cache.get(key);
  if (!model) {
    model = build();
    cache.set(key, model);
    model.catch(() => cache.delete(key));
  }
  return model;
}

function backendOf(id: EngineId) {
  return engines.find((s) => s.engine.id === id)!.backend!;
}

function classifierInfo(cell: Mode): LoadedModel {
  const model = classifierModels.get(cell)!;
  if ('error' in model) throw new Error(model.error);
  return model;
}

/** The language classifier of one cell type on one engine. */
function classifierOn(id: EngineId, cell: Mode): Promise<LanguageClassifier> {
  return cached(classifiers, `${id}/${cell}`, async () => {
    const { info, weights } = classifierInfo(cell);
    return LanguageClassifier.create(info, weights, backendOf(id));
  });
}

function generatorOn(id: EngineId): Promise<WordGenerator> {
  return cached(generators, id, () => WordGenerator.create(generatorModel.info, generatorModel.weights, backendOf(id)));
}

/** The streamed guess of one engine: the generator's RNN, one stream that follows the word being typed. */
function guesserOn(id: EngineId): Promise<StreamingGuesser> {
  return cached(guessers, id, async () => new StreamingGuesser(await generatorOn(id)));
}

function percent(p: number): string {
  return `${(p * 100).toFixed(1)}%`;
}

/** "Ran on: wasm-simd in 0.42 ms": what really ran, as the engine reports it. */
export function showRun(run: RunInfo, what = ''): void {
  $('ran-backend').textContent = run.backend;
  $('ran-ms').textContent = formatMs(run.ms) + (what ? ` (${what})` : '');
  $('run-status').dataset.backend = run.backend;
}

// ---- engine picker ----

function renderEngines(): void {
  const fieldset = $('engines');
  fieldset.replaceChildren(
    el('legend', {}, 'Engine'),
    ...engines.map(({ engine, backend, error }) => {
      const input = el('input', { type: 'radio', name: 'engine', value: engine.id, id: `engine-${engine.id}`, disabled: !backend, checked: engine.id === selected });
      input.addEventListener('change', () => void selectEngine(engine.id));
      const label = el('label', { htmlFor: input.id, className: backend ? 'engine' : 'engine disabled' }, input, ` ${engine.label}`);
      if (error) {
        const reason = el('span', { className: 'reason', id: `engine-${engine.id}-reason` }, error === 'detecting…' ? error : `unavailable: ${error}`);
        input.setAttribute('aria-describedby', reason.id);
        label.append(' ', reason);
      }
      return label;
    }),
  );
}

async function selectEngine(id: EngineId): Promise<void> {
  selected = id;
  document.body.dataset.engine = id;
  await classifyWord();
  if (!$('many-results').hidden) await classifyMany();
  if ($('gen-words').childElementCount > 0) await generateWords();
}

// ---- cell-type picker ----

function renderCells(): void {
  const fieldset = $('cells');
  fieldset.replaceChildren(
    el('legend', {}, 'Cell type (held-out accuracy)'),
    ...CELLS.map(({ id }) => {
      const model = classifierModels.get(id)!;
      const input = el('input', { type: 'radio', name: 'cell', value: id, id: `cell-${id}`, disabled: 'error' in model, checked: id === selectedCell });
      input.addEventListener('change', () => void selectCell(id));
      const label = el('label', { htmlFor: input.id, className: 'error' in model ? 'engine disabled' : 'engine' }, input, ` ${MODULE_NAMES[id]}`);
      if ('error' in model) {
        const reason = el('span', { className: 'reason', id: `cell-${id}-reason` }, `unavailable: ${model.error}`);
        input.setAttribute('aria-describedby', reason.id);
        label.append(' ', reason);
      } else {
        label.append(' ', el('span', { className: 'accuracy', id: `cell-${id}-accuracy` }, percent(model.info.validationAccuracy ?? 0)));
      }
      return label;
    }),
  );
}

/** "Now: a bidirectional 2-layer nn.GRU, H = 128, 93.1% right on 7000 held-out words. Trained for …" */
function describeClassifier(info: ModelInfo): string {
  const { hiddenSize, numLayers } = info.rnn;
  const training = info.training?.cpuSeconds
    ? ` Trained for ${Math.round(info.training.cpuSeconds / 60)} CPU minutes on ${info.training.threads} thread(s): ${info.training.steps} steps of 128 words.`
    : '';
  return `Now: a bidirectional ${numLayers}-layer ${moduleName(info)}, H = ${hiddenSize}, ${percent(info.validationAccuracy ?? 0)} right on ${info.heldOutWords ?? 7000} held-out words.${training} Classes: ${info.labels.join(', ')}.`;
}

async function selectCell(cell: Mode): Promise<void> {
  selectedCell = cell;
  document.body.dataset.cell = cell;
  $('classifier-facts').textContent = describeClassifier(classifierInfo(cell).info);
  await classifyWord();
  if (!$('many-results').hidden) await classifyMany();
}

// ---- which language? ----

/** The keystroke whose runs are current; a newer keystroke aborts its signal. */
let classifyController: AbortController | null = null;
let abortedRuns = 0;

const isAborted = (error: unknown): boolean => isRnnError(error) && error.code === 'aborted';

/** Counts runs a newer keystroke cancelled: they end quietly, only this count shows them. */
function countAborted(n: number): void {
  if (n === 0) return;
  abortedRuns += n;
  const note = $('aborted-runs');
  note.dataset.count = String(abortedRuns);
  note.textContent = ` · ${abortedRuns} earlier run${abortedRuns === 1 ? '' : 's'} cancelled by newer keystrokes`;
}

/**
 * Every keystroke: the bidirectional classifier over the whole word, and the generator's stream fed
 * the new letters. Each keystroke aborts the previous one's runs (forward and push take its signal),
 * so a slow engine never works through a queue of stale words.
 */
async function classifyWord(): Promise<void> {
  classifyController?.abort(new Error('a newer keystroke'));
  const controller = new AbortController();
  classifyController = controller;
  const { signal } = controller;
  const engine = selected;
  const cell = selectedCell;
  const word = ($('word') as HTMLInputElement).value;
  const [classified, streamed] = await Promise.allSettled([
    classifierOn(engine, cell).then((classifier) => classifier.classify(word, { signal })),
    guesserOn(engine).then((guesser) => guesser.update(word, { signal })),
  ]);
  countAborted([classified, streamed].filter((r) => r.status === 'rejected' && isAborted(r.reason)).length);
  if (controller !== classifyController) return; // a newer keystroke or engine switch already asked
  if (classified.status === 'rejected') {
    clearLanguageResult();
    showError('word-error', classified.reason);
  } else {
    showError('word-error', null);
    renderClassification(classified.value, engine, cell);
  }
  // The same bad word fails both: say it once, above.
  if (streamed.status === 'rejected') {
    clearStreamResult();
    const sameProblem = classified.status === 'rejected' && describeError(classified.reason) === describeError(streamed.reason);
    showError('stream-error', sameProblem ? null : streamed.reason);
  } else {
    showError('stream-error', null);
    renderStreamed(streamed.value, engine);
  }
}

function clearStreamResult(): void {
  const bars = $('stream-bars');
  bars.replaceChildren();
  delete bars.dataset.word;
  $('stream-verdict').textContent = '';
  $('stream-status').textContent = '';
}

function renderStreamed(guess: StreamedGuess, engine: EngineId): void {
  const labels = generatorModel.info.labels;
  const bars = $('stream-bars');
  drawBars(bars, labels, guess.probabilities);
  const best = guess.probabilities.indexOf(Math.max(...guess.probabilities));
  $('stream-verdict').textContent = `The word generator, reading “${guess.word}” left to right: ${labels[best]} (${percent(guess.probabilities[best]!)}).`;
  const letters = [...guess.word].length;
  $('stream-status').textContent = guess.restarted
    ? `New stream: pushed the word boundary and ${letters} letter${letters === 1 ? '' : 's'} in one chunk (batch of ${labels.length} languages) in ${formatMs(guess.ms)} on ${guess.backend}.`
    : guess.pushed === 0
      ? `Nothing new to push: the stream has read “${guess.word}”.`
      : `Pushed ${guess.pushed} new letter${guess.pushed === 1 ? '' : 's'} into the stream (it has read ${letters} letters and the boundary) in ${formatMs(guess.ms)} on ${guess.backend}.`;
  Object.assign(bars.dataset, {
    word: guess.word,
    engine,
    pushed: String(guess.pushed),
    restarted: String(guess.restarted),
    logLikelihood: JSON.stringify(Array.from(guess.logLikelihood)),
  });
}

function clearLanguageResult(): void {
  const bars = $('language-bars');
  bars.replaceChildren();
  delete bars.dataset.word;
  $('language-verdict').textContent = '';
  const canvas = $('language-heatmap') as HTMLCanvasElement;
  canvas.getContext('2d')?.clearRect(0, 0, canvas.width, canvas.height);
}

function renderClassification(result: Classification, engine: EngineId, cell: Mode): void {
  const bars = $('language-bars');
  const labels = classifierInfo(cell).info.labels;
  drawBars(bars, labels, result.probabilities);
  const best = result.probabilities.indexOf(Math.max(...result.probabilities));
  $('language-verdict').textContent = `“${result.word}” looks ${labels[best]} (${percent(result.probabilities[best]!)}) to the ${MODULE_NAMES[cell]}.`;
  bars.dataset.word = result.word;
  bars.dataset.engine = engine;
  bars.dataset.cell = cell;
  bars.dataset.backend = result.backend;
  const [L, width] = result.hidden.shape as [number, number];
  const H = width / 2;
  // (L, 2H) is one row per character: H forward units, then H reverse units.
  drawHeatmap($('language-heatmap') as HTMLCanvasElement, result.hidden.data, L, width, [...result.word], H);
  ($('language-heatmap') as HTMLCanvasElement).setAttribute(
    'aria-label',
    `Hidden states of the ${MODULE_NAMES[cell]}'s top layer for “${result.word}”: ${L} characters × ${width} units`,
  );
  showRun(result, 'one forward');
}

async function classifyMany(): Promise<void> {
  const engine = selected;
  const cell = selectedCell;
  await guarded('many-error', async () => {
    const words = ($('many-words') as HTMLTextAreaElement).value.split(/[\s,;]+/).filter((w) => w.length > 0);
    const classifier = await classifierOn(engine, cell);
    const result = await classifier.classifyMany(words);
    const labels = classifier.info.labels;
    const table = $('many-results') as HTMLTableElement;
    table.tBodies[0]!.replaceChildren(
      ...result.words.map((word, b) => {
        const p = result.probabilities[b]!;
        const best = p.indexOf(Math.max(...p));
        return el('tr', {}, el('td', {}, word), el('td', {}, labels[best]!), el('td', {}, percent(p[best]!)));
      }),
    );
    $('many-caption').textContent = `${result.words.length} words in one forward of the ${MODULE_NAMES[cell]}, batch ${result.words.length} with lengths, on ${result.backend}`;
    table.hidden = false;
    table.dataset.engine = engine;
    table.dataset.cell = cell;
    showRun(result, `batch of ${result.words.length}`);
  });
}

// ---- invent a word ----

export function generateOptions(): GenerateOptions {
  return {
    language: Number(($('gen-language') as HTMLSelectElement).value),
    temperature: ($('gen-temperature') as HTMLInputElement).valueAsNumber,
    seed: ($('gen-seed') as HTMLInputElement).valueAsNumber,
    count: ($('gen-count') as HTMLInputElement).valueAsNumber,
  };
}

async function generateWords(): Promise<void> {
  const engine = selected;
  await guarded('gen-error', async () => {
    const generator = await generatorOn(engine);
    const result: Generation = await generator.generate(generateOptions());
    const list = $('gen-words');
    list.replaceChildren(...result.words.map((w) => el('li', {}, w || '(empty)')));
    list.dataset.words = result.words.join(' ');
    list.dataset.engine = engine;
    const [steps, H] = result.hidden.shape as [number, number];
    const firstWord = [...result.words[0]!];
    drawHeatmap($('gen-heatmap') as HTMLCanvasElement, result.hidden.data, steps, H, [...firstWord, '⏎'].slice(0, steps));
    showRun(result, `${result.steps} steps of batch ${result.words.length}`);
  });
}

// ---- agreement ----

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** One engine running one cell type's classifier, or the reason it could not. */
interface AgreementRun {
  cell: Mode;
  classification: Classification | null;
  error: string | null;
}

/**
 * The current word through every cell type's classifier, and the current seed through the generator,
 * on every available engine; each compared with the same model on CPU-JS.
 */
async function compareEngines(): Promise<void> {
  await guarded('agree-error', async () => {
    const word = ($('word') as HTMLInputElement).value;
    const options = generateOptions();
    const cells = CELLS.filter(({ id }) => !('error' in classifierModels.get(id)!)).map(({ id }) => id);
    const engineRows: { id: EngineId; label: string; runs: AgreementRun[]; words: string }[] = [];
    for (const { engine } of availableEngines()) {
      const runs: AgreementRun[] = [];
      for (const cell of cells) {
        try {
          runs.push({ cell, classification: await (await classifierOn(engine.id, cell)).classify(word), error: null });
        } catch (error) {
          runs.push({ cell, classification: null, error: describeError(error) });
        }
      }
      const words = (await (await generatorOn(engine.id)).generate(options)).words.join(' ');
      engineRows.push({ id: engine.id, label: engine.label, runs, words });
    }
    const reference = engineRows.find((r) => r.id === 'cpu')!;
    let worst = 0;
    const problems: string[] = [];
    const table = $('agree-table') as HTMLTableElement;
    table.tBodies[0]!.replaceChildren(
      ...engineRows.flatMap((row) =>
        row.runs.map((run, i) => {
          const want = reference.runs[i]!.classification;
          const got = run.classification;
          const dp = got && want ? maxAbsDiff(got.probabilities, want.probabilities) : NaN;
          const dh = got && want ? maxAbsDiff(got.hidden.data, want.hidden.data) : NaN;
          const diff = Math.max(dp, dh);
          worst = Math.max(worst, diff); // NaN (a run that failed) sticks
          if (run.error) problems.push(`${row.label} ${MODULE_NAMES[run.cell]}: ${run.error}`);
          const tr = el('tr', { className: i === 0 ? 'group-start' : '' });
          if (i === 0) tr.append(el('th', { scope: 'rowgroup', rowSpan: row.runs.length }, row.label));
          tr.append(
            el('th', { scope: 'row' }, MODULE_NAMES[run.cell]),
            ...(got
              ? [el('td', {}, el('code', {}, got.backend)), el('td', {}, formatMs(got.ms)), el('td', {}, dp.toExponential(2)), el('td', {}, dh.toExponential(2))]
              : [el('td', { className: 'fail', colSpan: 4 }, run.error ?? 'the CPU-JS reference did not run')]),
          );
          if (i === 0) tr.append(el('td', { rowSpan: row.runs.length }, row.words === reference.words ? 'yes' : `no: ${row.words}`));
          tr.dataset.engine = row.id;
          tr.dataset.cell = run.cell;
          tr.dataset.maxDiff = String(diff);
          tr.dataset.top = got ? String(got.probabilities.indexOf(Math.max(...got.probabilities))) : '';
          tr.dataset.sameWords = String(row.words === reference.words);
          return tr;
        }),
      ),
    );
    table.hidden = false;
    const summary = $('agree-summary');
    const cellNames = cells.map((c) => MODULE_NAMES[c]).join(', ');
    summary.textContent =
      `“${reference.runs[0]?.classification?.word ?? word}” through the ${cellNames} on ${engineRows.length} engine(s): ` +
      (problems.length > 0 ? `${problems.length} run(s) failed (${problems.join('; ')})` : `max |Δ| against the same model on CPU-JS is ${worst.toExponential(2)}`) +
      `; invented words (seed ${options.seed}) ${engineRows.every((r) => r.words === reference.words) ? 'identical on every engine' : 'differ'}.`;
    summary.dataset.maxDiff = String(worst);
  });
}

// ---- tabs ----

function setupTabs(): void {
  const tabs = [...document.querySelectorAll<HTMLButtonElement>('[role=tab]')];
  const show = (tab: HTMLButtonElement) => {
    for (const other of tabs) {
      const on = other === tab;
      other.setAttribute('aria-selected', String(on));
      other.tabIndex = on ? 0 : -1;
      $(other.getAttribute('aria-controls')!).hidden = !on;
    }
  };
  tabs.forEach((tab, i) => {
    tab.addEventListener('click', () => show(tab));
    tab.addEventListener('keydown', (event) => {
      const step = event.key === 'ArrowRight' ? 1 : event.key === 'ArrowLeft' ? -1 : 0;
      if (step === 0) return;
      const visible = tabs.filter((t) => !t.hidden);
      const next = visible[(visible.indexOf(tabs[i]!) + step + visible.length) % visible.length]!;
      next.focus();
      show(next);
    });
  });
  show(tabs[0]!);
}

// ---- start ----

async function main(): Promise<void> {
  setupTabs();
  const loading = CELLS.map(async ({ id, file }) => {
    try {
      classifierModels.set(id, await fetchModel(file));
    } catch (error) {
      classifierModels.set(id, { error: describeError(error) });
    }
  });
  [generatorModel] = await Promise.all([fetchModel('word-generator'), ...loading]);
  renderCells();
  $('classifier-facts').textContent = describeClassifier(classifierInfo(selectedCell).info);
  $('generator-facts').textContent = `Held-out loss ${generatorModel.info.validationLoss?.toFixed(2)} nats per character.`;
  ($('gen-language') as HTMLSelectElement).replaceChildren(...generatorModel.info.labels.map((label, i) => el('option', { value: String(i) }, label)));

  // Each engine appears as soon as its createBackend() settles: a slow GPU adapter never holds up the page.
  engines = ENGINES.map((engine) => ({ engine, error: 'detecting…' }));
  renderEngines();
  const started = ENGINES.map(async (engine, i) => {
    engines[i] = await startEngine(engine);
    renderEngines();
  });
  await started[0];

  $('word').addEventListener('input', () => void classifyWord());
  $('classify-many').addEventListener('click', () => void classifyMany());
  $('generate').addEventListener('click', () => void generateWords());
  $('agree').addEventListener('click', () => void compareEngines());
  setupSpeed({ availableEngines });
  setupOwnModel({ currentEngine, currentClassifier: () => CELLS.find((c) => c.id === selectedCell)!.file, showRun });
  setupTeach({ model: generatorModel, currentEngine, availableEngines, showRun });
  await setupConformance({ availableEngines });
  await selectEngine('cpu');
  await Promise.all(started);
  document.body.dataset.ready = 'true';
}

main().catch((error) => {
  showError('global-error', `The demo could not start: ${describeError(error)}`);
});
