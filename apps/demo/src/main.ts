// The demo page: engine picker, tabs, and the two PyTorch-trained models.
import { ENGINES, describeError, startEngine } from './engines.js';
import type { EngineId, EngineState } from './engines.js';
import { LanguageClassifier, WordGenerator, fetchModel } from './models.js';
import type { Classification, Generation, GenerateOptions, ModelInfo, ModelWeights, RunInfo } from './models.js';
import { setupOwnModel } from './own.js';
import { setupSpeed } from './speed.js';
import { setupConformance } from './conformance.js';
import { $, drawBars, drawHeatmap, el, formatMs, guarded, showError } from './ui.js';

interface Models {
  classifier: LanguageClassifier;
  generator: WordGenerator;
}

// Uncaught problems still end up readable on the page.
window.addEventListener('error', (event) => showError('global-error', event.error ?? event.message));
window.addEventListener('unhandledrejection', (event) => showError('global-error', event.reason));

let engines: EngineState[] = [];
let selected: EngineId = 'cpu';
const modelsByEngine = new Map<EngineId, Promise<Models>>();
let classifierModel: { info: ModelInfo; weights: ModelWeights };
let generatorModel: { info: ModelInfo; weights: ModelWeights };

export function availableEngines(): (EngineState & { backend: NonNullable<EngineState['backend']> })[] {
  return engines.filter((s): s is EngineState & { backend: NonNullable<EngineState['backend']> } => s.backend !== undefined);
}

export function currentEngine(): EngineState & { backend: NonNullable<EngineState['backend']> } {
  return availableEngines().find((s) => s.engine.id === selected)!;
}

/** The demo models on one engine, built once per engine. */
function modelsOn(id: EngineId): Promise<Models> {
  let models = modelsByEngine.get(id);
  if (!models) {
    const backend = engines.find((s) => s.engine.id === id)!.backend!;
    models = (async () => ({
      classifier: await LanguageClassifier.create(classifierModel.info, classifierModel.weights, backend),
      generator: await WordGenerator.create(generatorModel.info, generatorModel.weights, backend),
    }))();
    modelsByEngine.set(id, models);
    models.catch(() => modelsByEngine.delete(id)); // a failed build may be retried
  }
  return models;
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
  if ($('gen-words').childElementCount > 0) await generateWords();
}

// ---- which language? ----

let classifyRequest = 0;

async function classifyWord(): Promise<void> {
  const request = ++classifyRequest;
  const engine = selected;
  const word = ($('word') as HTMLInputElement).value;
  let result: Classification | null = null;
  let failure: unknown = null;
  try {
    result = await (await modelsOn(engine)).classifier.classify(word);
  } catch (error) {
    failure = error;
  }
  if (request !== classifyRequest) return; // a newer keystroke or engine switch already asked
  if (result === null) {
    clearLanguageResult();
    showError('word-error', failure);
    return;
  }
  showError('word-error', null);
  renderClassification(result, engine);
}

function clearLanguageResult(): void {
  const bars = $('language-bars');
  bars.replaceChildren();
  delete bars.dataset.word;
  $('language-verdict').textContent = '';
  const canvas = $('language-heatmap') as HTMLCanvasElement;
  canvas.getContext('2d')?.clearRect(0, 0, canvas.width, canvas.height);
}

function renderClassification(result: Classification, engine: EngineId): void {
  const bars = $('language-bars');
  drawBars(bars, classifierModel.info.labels, result.probabilities);
  const labels = classifierModel.info.labels;
  const best = result.probabilities.indexOf(Math.max(...result.probabilities));
  $('language-verdict').textContent = `“${result.word}” looks ${labels[best]} (${(result.probabilities[best]! * 100).toFixed(1)}%).`;
  bars.dataset.word = result.word;
  bars.dataset.engine = engine;
  bars.dataset.backend = result.backend;
  const [L, width] = result.hidden.shape as [number, number];
  const H = width / 2;
  // (L, 2H) is one row per character: H forward units, then H reverse units.
  drawHeatmap($('language-heatmap') as HTMLCanvasElement, result.hidden.data, L, width, [...result.word], H);
  ($('language-heatmap') as HTMLCanvasElement).setAttribute(
    'aria-label',
    `Hidden states of the top layer for “${result.word}”: ${L} characters × ${width} units`,
  );
  showRun(result, 'one forward');
}

async function classifyMany(): Promise<void> {
  const engine = selected;
  await guarded('many-error', async () => {
    const words = ($('many-words') as HTMLTextAreaElement).value.split(/[\s,;]+/).filter((w) => w.length > 0);
    const { classifier } = await modelsOn(engine);
    const result = await classifier.classifyMany(words);
    const labels = classifierModel.info.labels;
    const table = $('many-results') as HTMLTableElement;
    table.tBodies[0]!.replaceChildren(
      ...result.words.map((word, b) => {
        const p = result.probabilities[b]!;
        const best = p.indexOf(Math.max(...p));
        return el('tr', {}, el('td', {}, word), el('td', {}, labels[best]!), el('td', {}, `${(p[best]! * 100).toFixed(1)}%`));
      }),
    );
    $('many-caption').textContent = `${result.words.length} words in one forward of batch ${result.words.length} with lengths, on ${result.backend}`;
    table.hidden = false;
    table.dataset.engine = engine;
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
    const { generator } = await modelsOn(engine);
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

async function compareEngines(): Promise<void> {
  await guarded('agree-error', async () => {
    const word = ($('word') as HTMLInputElement).value;
    const options = generateOptions();
    const rows: { id: EngineId; label: string; classification: Classification; words: string }[] = [];
    for (const { engine } of availableEngines()) {
      const { classifier, generator } = await modelsOn(engine.id);
      const classification = await classifier.classify(word);
      const words = (await generator.generate(options)).words.join(' ');
      rows.push({ id: engine.id, label: engine.label, classification, words });
    }
    const reference = rows.find((r) => r.id === 'cpu')!;
    let worst = 0;
    const table = $('agree-table') as HTMLTableElement;
    table.tBodies[0]!.replaceChildren(
      ...rows.map((row) => {
        const dp = maxAbsDiff(row.classification.probabilities, reference.classification.probabilities);
        const dh = maxAbsDiff(row.classification.hidden.data, reference.classification.hidden.data);
        worst = Math.max(worst, dp, dh);
        const tr = el('tr', {},
          el('th', { scope: 'row' }, row.label),
          el('td', {}, el('code', {}, row.classification.backend)),
          el('td', {}, formatMs(row.classification.ms)),
          el('td', {}, dp.toExponential(2)),
          el('td', {}, dh.toExponential(2)),
          el('td', {}, row.words === reference.words ? 'yes' : `no: ${row.words}`));
        tr.dataset.engine = row.id;
        tr.dataset.maxDiff = String(Math.max(dp, dh));
        tr.dataset.sameWords = String(row.words === reference.words);
        return tr;
      }),
    );
    table.hidden = false;
    const summary = $('agree-summary');
    summary.textContent = `“${reference.classification.word}” on ${rows.length} engine(s): max |Δ| against CPU-JS is ${worst.toExponential(2)}; invented words (seed ${options.seed}) ${rows.every((r) => r.words === reference.words) ? 'identical on every engine' : 'differ'}.`;
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
  [classifierModel, generatorModel] = await Promise.all([fetchModel('language-classifier'), fetchModel('word-generator')]);
  $('classifier-facts').textContent = `Classes: ${classifierModel.info.labels.join(', ')}. Held-out accuracy ${((classifierModel.info.validationAccuracy ?? 0) * 100).toFixed(1)}%.`;
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
  setupOwnModel({ currentEngine, showRun });
  await setupConformance({ availableEngines });
  await selectEngine('cpu');
  await Promise.all(started);
  document.body.dataset.ready = 'true';
}

main().catch((error) => {
  showError('global-error', `The demo could not start: ${describeError(error)}`);
});
