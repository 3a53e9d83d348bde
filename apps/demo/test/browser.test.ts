// The built demo in headless Chromium (Debian's, WebGPU on SwiftShader), driven like a user would:
// every engine in the build is switched to, classifies words (checked against PyTorch's probabilities)
// and invents words (identical for one seed on every engine); agreement, speed, your-model and bad
// input are exercised; no console errors. Screenshots go to apps/demo/artifacts/.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '@recurrent/conformance/node';
import { chromium } from 'playwright-core';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-ignore -- a plain .mjs script, no types
import { serve } from '../scripts/serve.mjs';
import type { ModelInfo } from '../src/models.js';

const ARTIFACTS = new URL('../artifacts/', import.meta.url).pathname;
const TOLERANCE = 1e-4;
const classifierInfo = JSON.parse(readFileSync(new URL('../public/models/language-classifier.json', import.meta.url), 'utf8')) as ModelInfo;
// Every engine this build depends on must be available in Chromium, not only detected.
const dependencies = Object.keys(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).dependencies);
const EXPECTED_ENGINES = ['cpu', 'wasm', 'webgpu'].filter((id) => dependencies.includes(`@recurrent/${id}`));
const CHECK_WORDS = ['schmetterling', 'maison', 'mariposa', 'vlinder', 'épée', 'a'];

let server: { url: string; close(): Promise<void> };
let context: BrowserContext;
let page: Page;
let userDataDir: string;
const consoleErrors: string[] = [];

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

async function classify(engine: string, word: string): Promise<number[]> {
  await page.fill('#word', word);
  await page.waitForSelector(`#language-bars[data-engine="${engine}"][data-word="${word}"]`);
  return probabilities();
}

function maxAbsDiff(a: number[], b: number[]): number {
  expect(a.length).toBe(b.length);
  return Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  server = await serve({ port: 0 });
  userDataDir = mkdtempSync(join(tmpdir(), 'recurrent-demo-chromium-'));
  // A fresh profile every run, so nothing cached from an earlier build is used.
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    viewport: { width: 1200, height: 900 },
    args: CHROMIUM_ARGS,
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(120_000); // software WebGPU on a busy 2-core machine is slow, never wrong
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(`uncaught: ${error.message}`));
  await page.goto(server.url);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 120_000 });
});

afterAll(async () => {
  await context?.close();
  await server?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
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

  it('classifies and invents words on every engine, switching at run time', async () => {
    for (const engine of EXPECTED_ENGINES) {
      await tab('language');
      await page.check(`#engine-${engine}`);
      const probabilities: number[][] = [];
      for (const word of CHECK_WORDS) {
        const p = await classify(engine, word);
        const pytorch = classifierInfo.checks.find((c) => c.word === word)!.probabilities;
        expect(maxAbsDiff(p, pytorch), `${engine} “${word}” against PyTorch`).toBeLessThan(TOLERANCE);
        probabilities.push(p);
      }
      const backend = await page.textContent('#ran-backend');
      expect(backend, 'the page names the engine that ran').toContain(engine === 'cpu' ? 'cpu' : engine);
      await classify(engine, 'schmetterling');
      await page.click('#classify-many');
      await page.waitForSelector(`#many-results[data-engine="${engine}"]`);
      const batch = await page.$$eval('#many-results tbody tr', (rows) => rows.map((row) => row.textContent ?? ''));
      expect(batch.length).toBe(10);
      await screenshot(`02-language-${engine}`);

      await tab('invent');
      await page.selectOption('#gen-language', { label: 'French' });
      await page.fill('#gen-seed', '7');
      await page.fill('#gen-count', '8');
      await page.click('#generate');
      await page.waitForSelector(`#gen-words[data-engine="${engine}"]`);
      const words = (await page.getAttribute('#gen-words', 'data-words'))!;
      expect(words.split(' ').length).toBe(8);
      await screenshot(`03-invent-${engine}`);
      results.set(engine, { probabilities, words, batch });
    }
    const reference = results.get('cpu')!;
    for (const [engine, result] of results) {
      expect(result.words, `${engine}: same seed, same words`).toBe(reference.words);
      expect(result.batch, `${engine}: batched classification`).toEqual(reference.batch);
      result.probabilities.forEach((p, i) => expect(maxAbsDiff(p, reference.probabilities[i]!), `${engine} vs cpu`).toBeLessThan(TOLERANCE));
    }
  });

  it('agreement tab: every engine within 1e-4 of CPU-JS, same invented words', async () => {
    await tab('agreement');
    await page.click('#agree');
    await page.waitForSelector('#agree-summary[data-max-diff]');
    const rows = await page.$$eval('#agree-table tbody tr', (trs) => trs.map((tr) => ({ ...(tr as HTMLElement).dataset })));
    expect(rows.map((r) => r.engine)).toEqual(EXPECTED_ENGINES);
    for (const row of rows) {
      expect(Number(row.maxDiff)).toBeLessThan(TOLERANCE);
      expect(row.sameWords).toBe('true');
    }
    await screenshot('04-agreement');
  });

  it('conformance tab: the whole suite passes on every engine', async () => {
    await tab('conformance');
    await page.click('#conformance-run');
    await page.waitForSelector('#conformance-summary[data-done="true"]', { timeout: 900_000 });
    const rows = await page.$$eval('#conformance-summary tbody tr', (trs) => trs.map((tr) => ({ ...(tr as HTMLElement).dataset })));
    await screenshot('05-conformance');
    expect(rows.map((r) => r.engine)).toEqual(EXPECTED_ENGINES);
    for (const row of rows) {
      expect(Number(row.passed), row.engine).toBeGreaterThan(100);
      expect(row.failed, `${row.engine}: ${await page.textContent('#conformance-cases')}`).toBe('0');
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
    expect(consoleErrors).toEqual([]);
  });
});
