// The Speed tab: times forwards of randomly initialised RNNs on each engine, draws GFLOP/s as SVG bars.
import { createRnn, forwardFlops, initStateDict, randomTensorData } from '@recurrent/core';
import type { RnnConfig } from '@recurrent/core';
import type { EngineState } from './engines.js';
import { $, el, formatMs, guarded } from './ui.js';

interface Size {
  name: string;
  config: RnnConfig;
  batch: number;
  seqLen: number;
  checked: boolean;
}

export const SIZES: Size[] = [
  { name: 'S', config: { inputSize: 32, hiddenSize: 64 }, batch: 4, seqLen: 32, checked: true },
  { name: 'M', config: { inputSize: 128, hiddenSize: 128, numLayers: 2, bidirectional: true }, batch: 16, seqLen: 64, checked: true },
  { name: 'L', config: { inputSize: 256, hiddenSize: 256, numLayers: 2, bidirectional: true }, batch: 32, seqLen: 128, checked: false },
];

const COLORS: Record<string, string> = { cpu: '#4c72b0', wasm: '#dd8452', webgpu: '#55a868' };

function describe(size: Size): string {
  const c = size.config;
  return `${size.name}: N ${size.batch}, L ${size.seqLen}, I ${c.inputSize}, H ${c.hiddenSize}, ${c.numLayers ?? 1} layer(s)${c.bidirectional ? ', bidirectional' : ''}`;
}

interface Result {
  size: string;
  engine: string;
  engineId: string;
  backend: string;
  ms: number;
  gflops: number;
}

function drawChart(results: Result[]): void {
  const sizes = [...new Set(results.map((r) => r.size))];
  const engineIds = [...new Set(results.map((r) => r.engineId))];
  const max = Math.max(...results.map((r) => r.gflops), 1e-9);
  const barWidth = 36;
  const groupWidth = engineIds.length * barWidth + 30;
  const height = 220;
  const left = 50;
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  const width = left + sizes.length * groupWidth + 140;
  svg.setAttribute('viewBox', `0 0 ${width} ${height + 40}`);
  svg.setAttribute('width', String(width));
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `GFLOP/s: ${results.map((r) => `${r.size} ${r.engine} ${r.gflops.toFixed(2)}`).join('; ')}`);
  const add = (tag: string, attrs: Record<string, string | number>, text?: string) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    svg.append(node);
  };
  add('line', { x1: left, y1: 10, x2: left, y2: height, stroke: '#333' });
  add('line', { x1: left, y1: height, x2: width - 140, y2: height, stroke: '#333' });
  add('text', { x: left - 6, y: 16, 'text-anchor': 'end', 'font-size': 11 }, max.toPrecision(3));
  add('text', { x: left - 6, y: height, 'text-anchor': 'end', 'font-size': 11 }, '0');
  sizes.forEach((size, g) => {
    const x0 = left + 15 + g * groupWidth;
    engineIds.forEach((id, e) => {
      const r = results.find((x) => x.size === size && x.engineId === id);
      if (!r) return;
      const h = ((height - 20) * r.gflops) / max;
      add('rect', { x: x0 + e * barWidth, y: height - h, width: barWidth - 6, height: h, fill: COLORS[id] ?? '#888' });
      add('text', { x: x0 + e * barWidth + (barWidth - 6) / 2, y: height - h - 4, 'text-anchor': 'middle', 'font-size': 10 }, r.gflops.toPrecision(3));
    });
    add('text', { x: x0 + (engineIds.length * barWidth) / 2, y: height + 18, 'text-anchor': 'middle', 'font-size': 13 }, size);
  });
  engineIds.forEach((id, e) => {
    const r = results.find((x) => x.engineId === id)!;
    add('rect', { x: width - 130, y: 14 + e * 20, width: 12, height: 12, fill: COLORS[id] ?? '#888' });
    add('text', { x: width - 112, y: 24 + e * 20, 'font-size': 12 }, r.engine);
  });
  $('speed-chart').replaceChildren(svg);
}

export function setupSpeed({ availableEngines }: { availableEngines: () => EngineState[] }): void {
  const fieldset = $('speed-sizes');
  for (const size of SIZES) {
    const input = el('input', { type: 'checkbox', id: `speed-size-${size.name}`, value: size.name, checked: size.checked });
    fieldset.append(el('label', { htmlFor: input.id }, input, ` ${describe(size)}`));
  }
  const button = $('speed-run') as HTMLButtonElement;
  button.addEventListener('click', () => {
    button.disabled = true;
    void guarded('speed-error', async () => {
      const chosen = SIZES.filter((s) => ($(`speed-size-${s.name}`) as HTMLInputElement).checked);
      if (chosen.length === 0) throw new Error('Tick at least one size.');
      const results: Result[] = [];
      const table = $('speed-table') as HTMLTableElement;
      table.tBodies[0]!.replaceChildren();
      for (const size of chosen) {
        const weights = initStateDict(size.config, 1);
        const input = { data: randomTensorData(size.seqLen * size.batch * size.config.inputSize, 2), shape: [size.seqLen, size.batch, size.config.inputSize] };
        for (const { engine, backend } of availableEngines()) {
          $('speed-progress').textContent = `Timing ${size.name} on ${engine.label}…`;
          const rnn = await createRnn(size.config, weights, backend!);
          try {
            await rnn.forward(input); // warm-up: pipelines, memory, JIT
            let runs = 0;
            const start = performance.now();
            do {
              await rnn.forward(input);
              runs++;
            } while (performance.now() - start < 300 && runs < 20);
            const ms = (performance.now() - start) / runs;
            const result = { size: size.name, engine: engine.label, engineId: engine.id, backend: rnn.backend, ms, gflops: forwardFlops(size.config, size.batch, size.seqLen) / (ms * 1e6) };
            results.push(result);
            table.tBodies[0]!.append(el('tr', {}, el('td', {}, size.name), el('td', {}, engine.label), el('td', {}, el('code', {}, result.backend)), el('td', {}, formatMs(ms)), el('td', {}, result.gflops.toFixed(3))));
            table.hidden = false;
            drawChart(results);
          } finally {
            rnn.dispose();
          }
        }
      }
      $('speed-progress').textContent = `Done: ${results.length} measurement(s).`;
      $('speed-chart').dataset.results = String(results.length);
    }).finally(() => (button.disabled = false));
  });
}
