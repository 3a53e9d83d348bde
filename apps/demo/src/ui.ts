// Small DOM helpers shared by the tabs.
import { describeError } from './engines.js';

export function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from index.html`);
  return element as T;
}

/** Shows a readable message in an alert paragraph (or hides it with null). */
export function showError(id: string, error: unknown): void {
  const element = $(id);
  element.hidden = error === null;
  element.textContent = error === null ? '' : describeError(error);
}

/** Runs a UI action; whatever it throws becomes a message on the page, never an uncaught error. */
export async function guarded(errorId: string, action: () => Promise<void>): Promise<boolean> {
  try {
    await action();
    showError(errorId, null);
    return true;
  } catch (error) {
    showError(errorId, error);
    return false;
  }
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const element = Object.assign(document.createElement(tag), props);
  element.append(...children);
  return element;
}

export function formatMs(ms: number): string {
  return ms < 10 ? `${ms.toFixed(2)} ms` : ms < 1000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** Horizontal probability bars, highest first marked. */
export function drawBars(container: HTMLElement, labels: string[], probabilities: ArrayLike<number>): void {
  let best = 0;
  for (let i = 1; i < labels.length; i++) if (probabilities[i]! > probabilities[best]!) best = i;
  container.replaceChildren(
    ...labels.map((label, i) => {
      const p = probabilities[i]!;
      const bar = el('span', { className: 'bar' });
      bar.style.width = `${(p * 100).toFixed(1)}%`;
      const row = el('div', { className: i === best ? 'bar-row best' : 'bar-row' },
        el('span', { className: 'bar-label' }, label),
        el('span', { className: 'bar-track' }, bar),
        el('span', { className: 'bar-value' }, `${(p * 100).toFixed(1)}%`));
      row.dataset.label = label;
      row.dataset.probability = String(p);
      return row;
    }),
  );
}

/**
 * A heatmap of states (steps, units) in [-1, 1]: one column per step, one row per unit; blue −1, white
 * 0, red +1. `columnLabels` go above the columns; `split` draws a line after that many rows.
 */
export function drawHeatmap(canvas: HTMLCanvasElement, states: Float32Array, steps: number, units: number, columnLabels: string[], split = 0): void {
  const cell = Math.max(8, Math.min(28, Math.floor(560 / Math.max(1, steps))));
  const rowHeight = units > 96 ? 2 : 3;
  const top = 18;
  canvas.width = Math.max(120, steps * cell);
  canvas.height = top + units * rowHeight;
  const context = canvas.getContext('2d');
  if (!context) return;
  context.fillStyle = '#fff';
  context.fillRect(0, 0, canvas.width, canvas.height);
  for (let t = 0; t < steps; t++) {
    for (let u = 0; u < units; u++) {
      const v = Math.max(-1, Math.min(1, states[t * units + u]!));
      const fade = Math.round(255 * (1 - Math.abs(v)));
      context.fillStyle = v >= 0 ? `rgb(255,${fade},${fade})` : `rgb(${fade},${fade},255)`;
      context.fillRect(t * cell, top + u * rowHeight, cell, rowHeight);
    }
  }
  context.fillStyle = '#222';
  context.font = '13px system-ui, sans-serif';
  context.textAlign = 'center';
  columnLabels.forEach((label, t) => context.fillText(label, t * cell + cell / 2, 13));
  if (split > 0) {
    context.fillStyle = '#222';
    context.fillRect(0, top + split * rowHeight - 1, canvas.width, 2);
  }
}
