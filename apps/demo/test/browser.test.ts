// The built demo in headless Chromium (Debian's, WebGPU on SwiftShader), driven like a user would:
// every engine in the build × every cell type (RNN, GRU, LSTM) is switched to and classifies words
// (checked against PyTorch's probabilities and top language), one at a time and batched; the streamed
// guess, typed letter by letter, against PyTorch's log-likelihoods; a newer keystroke aborts the runs
// of the one before; the word generator invents words (identical for one seed on every engine); "Teach
// it" fine-tunes on every engine that trains (and says why for the others), and its download, loaded
// by PyTorch, gives the page's logits; agreement, conformance (the quick run: every module family in
// the manifest), speed, your-model (.safetensors and torch.save checkpoints) and bad input are
// exercised; no console errors. Screenshots go to apps/demo/artifacts/.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openPage, type OpenPage } from '@recurrent/conformance/browser-host';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelInfo } from '../src/models.js';
import { askPyTorch, GENERATOR_WEIGHTS } from './pytorch.js';

const ARTIFACTS = new URL('../artifacts/', import.meta.url).pathname;
const DIST = new URL('../dist/', import.meta.url).pathname;
const TOLERANCE = 1e-4;
const readInfo = (name: string) => JSON.parse(readFileSync(new URL(`../public/models/${name}.json`, import.meta.url), 'utf8')) as ModelInfo;
const CELLS = [
  { id: 'rnn', label: 'RNN', info: readInfo('language-classifier') },
  { id: 'gru', label: 'GRU', info: readInfo('language-classifier-gru') },
  { id: 'lstm', label: 'LSTM', info: readInfo('language-classifier-lstm') },
];
const classifierInfo = CELLS[0]!.info;
const argmax = (p: number[]) => p.indexOf(Math.max(...p));
// Every engine this build depends on must be available in Chromium, not only detected.
const dependencies = Object.keys(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).dependencies);
const EXPECTED_ENGINES = ['cpu', 'wasm', 'webgpu'].filter((id) => dependencies.includes(`@recurrent/${id}`));
const CHECK_WORDS = ['schmetterling', 'maison', 'mariposa', 'vlinder', 'épée', 'a'];
// PyTorch's log P(letters | language) under the word generator, for the streamed guess.
const STREAMED = askPyTorch(GENERATOR_WEIGHTS, { logLikelihood: ['schmetterling'] }).logLikelihood![0]!;
const TORCH_FIXTURES = new URL('../../../packages/core/test/fixtures/torch/', import.meta.url).pathname;

let opened: OpenPage;
let page: Page;

async function screenshot(name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

async function tab(name: string): Promise<void> {
  await page.click(`#tab-${name}`);
  await page.waitForSelector(`#panel-${name}:not([hidden])`);
}

async function probabilities(): Promise<number[]> {
  return page.$$eval('#language-bars .bar-row', (rows) => rows.map((row) => Number((row as HTMLElement).dataset.probability)));
}

async function classify(engine: string, cell: string, word: string): Promise<number[]> {
  await page.fill('#word', word);
  await page.waitForSelector(`#language-bars[data-engine="${engine}"][data-cell="${cell}"][data-word="${word}"]`);
  return probabilities();
}

function maxAbsDiff(a: number[], b: number[]): number {
  expect(a.length).toBe(b.length);
  return Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  // A fresh profile every run, so nothing cached from an earlier build is used.
  opened = await openPage({
    routes: [['/', DIST]],
    viewport: { width: 1200, height: 900 },
    beforeLoad: (page) => page.setDefaultTimeout(120_000), // software WebGPU on a busy 2-core machine is slow, never wrong
    ready: (page) => page.waitForSelector('body[data-ready="true"]', { timeout: 120_000 }),
  });
  page = opened.page;
});

afterAll(async () => {
  await opened?.close();
});

describe('demo in headless Chromium', () => {
  const results = new Map<string, { probabilities: number[][]; words: string; batch: string[] }>();

  it(`offers ${EXPECTED_ENGINES.join(', ')}, each available`, async () => {
    await screenshot('01-start');
    const engines = await page.$$eval('input[name=engine]', (inputs) =>
      inputs.map((input) => ({ id: (input as HTMLInputElement).value, disabled: (input as HTMLInputElement).disabled, reason: document.getElementById(`engine-${(input as HTMLInputElement).value}-reason`)?.textContent ?? '' })),
    );
    expect(engines.map((e) => e.id)).toEqual(['cpu', 'wasm', 'webgpu']);
    for (const id of EXPECTED_ENGINES) expect(engines.find((e) => e.id === id), JSON.stringify(engines)).toMatchObject({ disabled: false });
    // An engine left out of this build is disabled and says why.
    for (const engine of engines.filter((e) => !EXPECTED_ENGINES.includes(e.id))) expect(engine.reason).toMatch(/unavailable: .+/);
  });

  it('offers the three cell types, each with its held-out accuracy from the model file', async () => {
    const cells = await page.$$eval('input[name=cell]', (inputs) =>
      inputs.map((input) => ({
        id: (input as HTMLInputElement).value,
        disabled: (input as HTMLInputElement).disabled,
        accuracy: document.getElementById(`cell-${(input as HTMLInputElement).value}-accuracy`)?.textContent ?? '',
      })),
    );
    expect(cells).toEqual(CELLS.map(({ id, info }) => ({ id, disabled: false, accuracy: `${(info.validationAccuracy! * 100).toFixed(1)}%` })));
    expect(await page.isChecked('#cell-rnn')).toBe(true);
  });

  it('classifies on every engine × cell type as PyTorch did, one word at a time and batched; invents words on every engine', async () => {
    for (const engine of EXPECTED_ENGINES) {
      await tab('language');
      await page.check(`#engine-${engine}`);
      for (const { id: cell, label, info } of CELLS) {
        await page.check(`#cell-${cell}`);
        const probabilities: number[][] = [];
        for (const word of CHECK_WORDS) {
          const p = await classify(engine, cell, word);
          const pytorch = info.checks.find((c) => c.word === word)!.probabilities;
          expect(maxAbsDiff(p, pytorch), `${engine} ${label} “${word}” against PyTorch`).toBeLessThan(TOLERANCE);
          expect(argmax(p), `${engine} ${label} “${word}”: PyTorch's top language`).toBe(argmax(pytorch));
          // The page's verdict names PyTorch's top language.
          expect(await page.textContent('#language-verdict')).toContain(`looks ${info.labels[argmax(pytorch)]} `);
          probabilities.push(p);
        }
        const backend = await page.textContent('#ran-backend');
        expect(backend, 'the page names the engine that ran').toContain(engine);
        expect(await page.textContent('#classifier-facts')).toContain(`nn.${label}, H = ${info.rnn.hiddenSize}, ${(info.validationAccuracy! * 100).toFixed(1)}% right`);
        // The heatmap: one column per character, the top layer's 2·H units in rows.
        expect(await page.getAttribute('#language-heatmap', 'aria-label')).toContain(`${label}'s top layer for “${CHECK_WORDS.at(-1)}”: ${[...CHECK_WORDS.at(-1)!].length} characters × ${2 * info.rnn.hiddenSize} units`);
        await classify(engine, cell, 'schmetterling');

        // Batched with lengths: the check words in one forward, each row's language PyTorch's top one.
        await page.fill('#many-words', info.checks.map((c) => c.word).join(' '));
        await page.click('#classify-many');
        await page.waitForSelector(`#many-results[data-engine="${engine}"][data-cell="${cell}"]`);
        const batch = await page.$$eval('#many-results tbody tr', (rows) => rows.map((row) => [...row.children].map((td) => td.textContent ?? '')));
        expect(batch.map(([word, language]) => [word, language])).toEqual(info.checks.map((c) => [c.word, info.labels[argmax(c.probabilities)]]));
        batch.forEach(([word, , shown], i) => expect(shown, `${engine} ${label} batched “${word}”`).toBe(`${(Math.max(...info.checks[i]!.probabilities) * 100).toFixed(1)}%`));
        await screenshot(`02-language-${engine}-${cell}`);
        results.set(`${engine}/${cell}`, { probabilities, words: '', batch: batch.map((row) => row.join(' ')) });
      }
      await page.check('#cell-rnn');

      // Typed letter by letter: the stream reads only new letters (no restart), and its log P(letters | language)
      // per language is PyTorch's, however many keystrokes were cancelled along the way.
      await page.fill('#word', 's');
      await page.waitForSelector(`#stream-bars[data-engine="${engine}"][data-word="s"]`);
      await page.press('#word', 'End');
      await page.keyboard.type('chmetterling');
      await page.waitForSelector(`#stream-bars[data-engine="${engine}"][data-word="schmetterling"]`);
      const streamed = await page.$eval('#stream-bars', (bars) => ({ ...(bars as HTMLElement).dataset }));
      expect(streamed.restarted, `${engine}: appending never restarts the stream`).toBe('false');
      expect(Number(streamed.pushed)).toBeGreaterThanOrEqual(1);
      expect(maxAbsDiff(JSON.parse(streamed.logLikelihood!), STREAMED), `${engine}: streamed log-likelihoods against PyTorch`).toBeLessThan(TOLERANCE);
      expect(await page.textContent('#stream-verdict')).toContain(`: ${classifierInfo.labels[argmax(STREAMED)]} (`);
      await page.waitForSelector(`#language-bars[data-engine="${engine}"][data-word="schmetterling"]`);
      expect(maxAbsDiff(await probabilities(), classifierInfo.checks.find((c) => c.word === 'schmetterling')!.probabilities)).toBeLessThan(TOLERANCE);
      if (engine === 'cpu') await screenshot('02-language-streamed');

      await tab('invent');
      await page.selectOption('#gen-language', { label: 'French' });
      await page.fill('#gen-seed', '7');
      await page.fill('#gen-count', '8');
      await page.click('#generate');
      await page.waitForSelector(`#gen-words[data-engine="${engine}"]`);
      const words = (await page.getAttribute('#gen-words', 'data-words'))!;
      expect(words.split(' ').length).toBe(8);
      await screenshot(`03-invent-${engine}`);
      results.get(`${engine}/rnn`)!.words = words;
    }
    for (const [key, result] of results) {
      const [engine, cell] = key.split('/');
      const reference = results.get(`cpu/${cell}`)!;
      expect(result.words, `${engine}: same seed, same words`).toBe(reference.words);
      expect(result.batch, `${key}: batched classification`).toEqual(reference.batch);
      result.probabilities.forEach((p, i) => expect(maxAbsDiff(p, reference.probabilities[i]!), `${key} vs cpu`).toBeLessThan(TOLERANCE));
    }
  });

  it("agreement tab: every engine × cell type within 1e-4 of CPU-JS with PyTorch's top language, same invented words", async () => {
    await tab('language');
    await page.check('#engine-cpu');
    await classify('cpu', 'rnn', 'schmetterling');
    await tab('agreement');
    await page.click('#agree');
    await page.waitForSelector('#agree-summary[data-max-diff]');
    const rows = await page.$$eval('#agree-table tbody tr', (trs) => trs.map((tr) => ({ ...(tr as HTMLElement).dataset })));
    expect(rows.map((r) => `${r.engine}/${r.cell}`)).toEqual(EXPECTED_ENGINES.flatMap((engine) => CELLS.map(({ id }) => `${engine}/${id}`)));
    for (const row of rows) {
      const { info } = CELLS.find((c) => c.id === row.cell)!;
      expect(Number(row.maxDiff), `${row.engine}/${row.cell}`).toBeLessThan(TOLERANCE);
      expect(Number(row.top), `${row.engine}/${row.cell}`).toBe(argmax(info.checks.find((c) => c.word === 'schmetterling')!.probabilities));
      expect(row.sameWords).toBe('true');
    }
    expect(await page.textContent('#agree-summary')).toContain('RNN, GRU, LSTM');
    await screenshot('04-agreement');
  });

  // The whole suite runs in Chromium in every engine's own tests; here the tab's quick run (everything
  // but the cases the manifest marks large or long, e.g. `lstm-large-…`, `gru-long-…`) keeps CI short.
  it('conformance tab: the quick run, every module family in the manifest, passes on every engine', async () => {
    const manifest = JSON.parse(readFileSync(new URL('../../../conformance/vectors/manifest.json', import.meta.url), 'utf8')) as { cases: { id: string; module?: string; features: string[] }[] };
    const quick = manifest.cases.filter((c) => !c.features.includes('large') && !c.features.includes('long'));
    expect(manifest.cases.length - quick.length, 'large and long cases of every module').toBeGreaterThan(20);
    expect(quick.some((c) => /large|long-t/.test(c.id)), 'no lstm-large-…/gru-long-… left in the quick run').toBe(false);
    const families = new Map<string, number>();
    for (const entry of quick) families.set(entry.module ?? 'rnn', (families.get(entry.module ?? 'rnn') ?? 0) + 1);
    await tab('conformance');
    const offered = await page.$$eval('#conformance-family-picker input:checked', (boxes) => boxes.map((b) => (b as HTMLInputElement).value));
    expect([...offered].sort()).toEqual([...families.keys()].sort());
    await page.check('#conformance-quick');
    await page.click('#conformance-run');
    await page.waitForSelector('#conformance-summary[data-done="true"]', { timeout: 900_000 });
    const rows = await page.$$eval('#conformance-summary tbody tr', (trs) => trs.map((tr) => ({ ...(tr as HTMLElement).dataset })));
    await screenshot('05-conformance');
    expect(rows.map((r) => r.engine)).toEqual(EXPECTED_ENGINES);
    for (const row of rows) {
      expect(Number(row.passed), row.engine).toBe(quick.length);
      expect(row.failed, `${row.engine}: ${await page.textContent('#conformance-cases')}`).toBe('0');
      const byFamily = JSON.parse(row.families!) as Record<string, { passed: number; failed: number }>;
      expect(Object.fromEntries(Object.entries(byFamily).map(([f, r]) => [f, r.passed]))).toEqual(Object.fromEntries(families));
    }
  });

  it('speed tab: times the small size on every engine and draws the chart', async () => {
    await tab('speed');
    await page.uncheck('#speed-size-M');
    await page.check('#speed-size-S');
    await page.click('#speed-run');
    await page.waitForSelector(`#speed-chart[data-results="${EXPECTED_ENGINES.length}"]`);
    expect(await page.$$eval('#speed-chart svg rect', (rects) => rects.length)).toBeGreaterThanOrEqual(EXPECTED_ENGINES.length);
    await screenshot('06-speed');
  });

  it("your model: runs the picked cell type's classifier", async () => {
    for (const { id, label, info } of CELLS) {
      await tab('language');
      await page.check(`#cell-${id}`);
      await tab('own');
      await page.click('#own-example');
      await page.waitForFunction((name) => document.getElementById('own-output')!.textContent!.includes(`Loaded ${name}.safetensors`), id === 'rnn' ? 'language-classifier' : `language-classifier-${id}`);
      expect(JSON.parse(await page.inputValue('#own-config'))).toMatchObject({ module: id, rnn: info.rnn });
      await page.click('#own-run');
      await page.waitForFunction((w) => document.getElementById('own-output')!.textContent!.includes(`output  [10, 2, ${w}]`), 2 * info.rnn.hiddenSize);
      const output = (await page.textContent('#own-output'))!;
      expect(output).toContain(`module  nn.${label}`);
      expect(output.includes('c_n'), `${label}: c_n shown only for an LSTM`).toBe(id === 'lstm');
    }
    await page.fill('#own-config', '{"module": "transformer", "inputSize": 51, "hiddenSize": 8}');
    await page.click('#own-run');
    await page.waitForFunction(() => /"module" must be "rnn", "gru" or "lstm"/.test(document.getElementById('own-error')!.textContent ?? ''));
    await tab('language');
    await page.check('#cell-rnn');
  });

  it('your model: runs the example, and bad weights, configs and inputs give readable messages', async () => {
    await tab('own');
    await page.click('#own-example');
    await page.waitForFunction(() => document.getElementById('own-output')!.textContent!.includes('Loaded'));
    await page.click('#own-run');
    const width = 2 * classifierInfo.rnn.hiddenSize;
    await page.waitForFunction((w) => document.getElementById('own-output')!.textContent!.includes(`output  [10, 2, ${w}]`), width);
    await screenshot('07-own-model');

    const expectError = async (pattern: RegExp) => {
      await page.click('#own-run');
      await page.waitForFunction(
        ([source, flags]) => {
          const error = document.getElementById('own-error')!;
          return !error.hidden && new RegExp(source!, flags).test(error.textContent ?? '');
        },
        [pattern.source, pattern.flags],
      );
    };

    // Pasted input: two steps of the classifier's 51 one-hot inputs, as one unbatched sequence.
    await page.fill('#own-input', Array.from({ length: 102 }, (_, i) => (i % 17 === 0 ? 1 : 0)).join(' '));
    await page.click('#own-run');
    await page.waitForFunction((w) => document.getElementById('own-output')!.textContent!.includes(`output  [2, ${w}]`), width);
    await page.fill('#own-input', '1 2 x');
    await expectError(/Input value 3 \(“x”\) is not a number/);
    await page.fill('#own-input', '');

    await page.fill('#own-config', '{"rnn": {"inputSize": 51, "hiddenSize": 32, "numLayers": 2, "bidirectional": true}}');
    await expectError(/size mismatch for weight_ih_l0: .*the shape in current model is \[32, 51\]/);
    await page.fill('#own-config', '{"inputSize": 51, "hiddenSize": 0}');
    await expectError(/hiddenSize must be a positive integer/);
    await page.fill('#own-config', '{"inputSize": 51,');
    await expectError(/not valid JSON/);
    await page.fill('#own-config', '{"inputSize": 4, "hiddenSize": 3}');
    await page.setInputFiles('#own-weights', { name: 'broken.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from([200, 0, 0, 0, 0, 0, 0, 0, 123]) });
    await expectError(/Invalid \.safetensors file/);
    await screenshot('08-own-model-error');
  });

  it('a newer keystroke aborts the runs of the one before: they end quietly, counted, and the newer word shows', async () => {
    await tab('language');
    await page.check('#engine-cpu');
    await classify('cpu', 'rnn', 'casa');
    const before = Number(await page.getAttribute('#aborted-runs', 'data-count'));
    // Two keystrokes in one task: the first one's classification and push are aborted before they run.
    await page.$eval('#word', (input) => {
      for (const value of ['maiso', 'maison']) {
        (input as HTMLInputElement).value = value;
        input.dispatchEvent(new Event('input'));
      }
    });
    await page.waitForSelector('#language-bars[data-engine="cpu"][data-word="maison"]');
    await page.waitForSelector('#stream-bars[data-word="maison"]');
    expect(Number(await page.getAttribute('#aborted-runs', 'data-count')) - before, 'the classifier run and the stream push of “maiso”').toBe(2);
    expect(await page.textContent('#aborted-runs')).toMatch(/\d+ earlier runs cancelled by newer keystrokes/);
    expect(await page.isHidden('#word-error')).toBe(true);
    expect(await page.isHidden('#stream-error')).toBe(true);
  });

  it('teach it: fine-tunes on every engine that trains (the others say why), invents in the new style; PyTorch loads the download and gives the page\'s logits', async () => {
    await tab('teach');
    await page.waitForSelector('#teach-engines[data-trains]');
    const trains = (await page.getAttribute('#teach-engines', 'data-trains'))!.split(' ');
    expect(trains, 'the CPU engine has backward').toContain('cpu');
    const note = (await page.textContent('#teach-engines'))!;
    for (const engine of EXPECTED_ENGINES.filter((e) => !trains.includes(e))) expect(note).toMatch(new RegExp(`${engine === 'wasm' ? 'WASM' : 'WebGPU'}: cannot train yet \\(.+\\)`));
    await page.fill('#teach-batch', '16');
    // Every engine but CPU-JS first (briefly), then CPU-JS, whose result is checked against PyTorch.
    const runs = new Map<string, { before: number; first: number }>();
    for (const engine of [...EXPECTED_ENGINES.filter((e) => e !== 'cpu'), 'cpu']) {
      await tab('language');
      await page.check(`#engine-${engine}`);
      await tab('teach');
      await page.fill('#teach-steps', engine === 'cpu' ? '30' : '5');
      await page.click('#teach-start');
      if (!trains.includes(engine)) {
        await page.waitForFunction(() => /cannot train yet: .*Pick an engine that trains above/.test(document.getElementById('teach-error')!.textContent ?? ''));
        await screenshot(`10-teach-${engine}-unavailable`);
        continue;
      }
      await page.waitForSelector(`#teach-status[data-state="done"][data-engine="${engine}"]`);
      const status = await page.$eval('#teach-status', (p) => ({ ...(p as HTMLElement).dataset }));
      expect(Number(status.steps)).toBe(engine === 'cpu' ? 30 : 5);
      expect(Number(status.stepsPerSecond)).toBeGreaterThan(0);
      expect(Number(await page.getAttribute('#teach-curve', 'data-steps'))).toBe(Number(status.steps));
      if (engine === 'cpu') expect(Number(status.after), 'loss on the taught words, before → after').toBeLessThan(Number(status.before) - 0.3);
      runs.set(engine, { before: Number(status.before), first: Number(await page.getAttribute('#teach-curve', 'data-first')) });
    }
    // Same weights, same seeded batch: every engine's loss before teaching and at step 1 is CPU-JS's.
    for (const [engine, run] of runs) {
      expect(Math.abs(run.before - runs.get('cpu')!.before), `${engine}: loss before teaching`).toBeLessThan(TOLERANCE);
      expect(Math.abs(run.first - runs.get('cpu')!.first), `${engine}: loss at step 1`).toBeLessThan(TOLERANCE);
    }
    expect(await page.isHidden('#teach-error')).toBe(true);
    await page.click('#teach-invent');
    await page.waitForSelector('#teach-invented[data-words]');
    expect((await page.getAttribute('#teach-invented', 'data-words'))!.split(' ').length).toBe(10);
    await screenshot('10-teach');

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#teach-download')]);
    const file = join(ARTIFACTS, 'word-generator-finetuned.safetensors');
    await download.saveAs(file);
    const rows = await page.$$eval('#teach-next tbody tr', (trs) => trs.map((tr) => ({ ...(tr as HTMLElement).dataset })));
    expect(rows.length).toBeGreaterThanOrEqual(3);
    const pytorch = askPyTorch(file, { logits: rows.map((r) => [r.prefix, Number(r.language)]) });
    rows.forEach((row, i) => expect(maxAbsDiff(JSON.parse(row.logits!), pytorch.logits![i]!), `logits after “${row.prefix}”: page vs PyTorch on the download`).toBeLessThan(TOLERANCE));
  });

  it('your model: a torch.save training checkpoint, its dict and module picked from what the file holds, gives PyTorch\'s output', async () => {
    const expected = JSON.parse(readFileSync(join(TORCH_FIXTURES, 'expected.json'), 'utf8'))['checkpoint-lstm'];
    await tab('language');
    await page.check('#engine-cpu');
    await tab('own');
    await page.fill('#own-config', '{"module": "lstm", "inputSize": 4, "hiddenSize": 6, "numLayers": 2}');
    await page.setInputFiles('#own-weights', join(TORCH_FIXTURES, 'checkpoint-lstm.pt'));
    await page.waitForSelector('#own-pick:not([hidden])');
    const keys = await page.$$eval('#own-key option', (options) => options.map((o) => (o as HTMLOptionElement).value));
    expect(keys, 'the dicts that hold tensors, from the format error').toContain('model');
    expect(await page.inputValue('#own-key')).toBe('model');
    const prefixes = await page.$$eval('#own-prefix option', (options) => options.map((o) => (o as HTMLOptionElement).value));
    expect(prefixes.sort()).toEqual(['embedding.', 'encoder.rnn.', 'head.']);
    expect(await page.inputValue('#own-prefix'), 'the recurrent module is picked').toBe('encoder.rnn.');
    // The fixture's input is (5, 2, 4); element 0 alone, unbatched, gives element 0's output and states.
    const [L, N, I] = expected.input.shape as number[];
    const x0 = Array.from({ length: L! * I! }, (_, k) => expected.input.data[(Math.floor(k / I!) * N! + 0) * I! + (k % I!)]);
    await page.fill('#own-input', x0.join(' '));
    await page.click('#own-run');
    await page.waitForFunction(() => document.getElementById('own-output')!.textContent!.includes('output  [5, 6]'));
    const text = (await page.textContent('#own-output'))!;
    await screenshot('11-own-model-checkpoint');
    const shown = (label: string) => text.match(new RegExp(`${label}\\s+\\[[\\d, ]+\\] \\[([^\\]]+)\\]`))![1]!.split(', ').filter((v) => v !== '…').map(Number);
    expect(maxAbsDiff(shown('output'), expected.output.data.slice(0, 6))).toBeLessThan(1e-5);
    expect(maxAbsDiff(shown('h_n'), expected.states[0].data.slice(0, 6))).toBeLessThan(1e-5);
    expect(maxAbsDiff(shown('c_n'), expected.states[1].data.slice(0, 6))).toBeLessThan(1e-5);
    // Another module of the same file: the embedding is no LSTM, and the page says so in PyTorch's words.
    await page.selectOption('#own-prefix', 'embedding.');
    await page.click('#own-run');
    await page.waitForFunction(() => /Missing key|missing/i.test(document.getElementById('own-error')!.textContent ?? ''));
    // A hostile checkpoint is refused, never run.
    await page.setInputFiles('#own-weights', join(TORCH_FIXTURES, 'hostile-system.pt'));
    await page.waitForFunction(() => /system/.test(document.getElementById('own-error')!.textContent ?? ''));
    expect(await page.isHidden('#own-pick'), "the previous file's choices are gone").toBe(true);
    expect(await page.textContent('#own-file')).toBe('');
    await screenshot('12-own-model-hostile');
    await page.fill('#own-input', '');
  });

  it('an empty word or an unknown character gives a readable message', async () => {
    await tab('language');
    await page.fill('#word', '');
    await page.waitForSelector('#word-error:not([hidden])');
    expect(await page.textContent('#word-error')).toContain('Type a word first');
    await page.fill('#word', 'abc1');
    await page.waitForFunction(() => document.getElementById('word-error')!.textContent!.includes('“1”'));
    await screenshot('09-bad-word');
    await page.fill('#word', 'casa');
    await page.waitForSelector('#language-bars[data-word="casa"]');
    expect(await page.isHidden('#word-error')).toBe(true);
  });

  it('every control has a label and the tabs work from the keyboard', async () => {
    const unlabelled = await page.$$eval('input, select, textarea, button', (controls) =>
      controls
        .filter((c) => {
          const labels = (c as HTMLInputElement).labels;
          const text = c.tagName === 'BUTTON' ? (c.textContent ?? '').trim() : '';
          return !(labels && labels.length > 0) && !c.getAttribute('aria-label') && text === '';
        })
        .map((c) => c.outerHTML.slice(0, 80)),
    );
    expect(unlabelled).toEqual([]);
    // The engine radios: arrow keys move between the available engines and rerun the word.
    await page.click('#tab-language');
    await page.focus('#engine-cpu');
    await page.keyboard.press('ArrowRight');
    expect(await page.isChecked(`#engine-${EXPECTED_ENGINES[1] ?? 'cpu'}`)).toBe(true);
    await page.waitForSelector(`#language-bars[data-engine="${EXPECTED_ENGINES[1] ?? 'cpu'}"][data-word="casa"]`);
    await page.focus('#tab-language');
    await page.keyboard.press('ArrowRight');
    expect(await page.getAttribute('#tab-invent', 'aria-selected')).toBe('true');
    await page.focus('#generate');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#gen-words li');
  });

  it('logged no console errors', () => {
    expect(opened.errors).toEqual([]);
  });
});
