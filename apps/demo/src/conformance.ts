// The Conformance tab: PyTorch's golden vectors (served under conformance/ by vite.config.ts) run on
// every available engine through @recurrent/conformance's runCase, as a result table. The module
// families (RNN, LSTM, LSTM with proj_size, GRU, …) are whatever the manifest lists.
import { decodeCase, decodeManifest, runCase } from '@recurrent/conformance';
import type { CaseResult, Manifest, ManifestEntry } from '@recurrent/conformance';
import type { EngineState } from './engines.js';
import { $, el, guarded } from './ui.js';

async function fetchBytes(file: string): Promise<Uint8Array> {
  const response = await fetch(new URL(`conformance/${file}`, document.baseURI));
  if (!response.ok) throw new Error(`Could not load conformance/${file}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

const format = (x: number) => (Number.isNaN(x) ? '—' : x.toExponential(1));

/** The entry's module family; vectors from before LSTM/GRU carry none and are all nn.RNN. */
const familyOf = (entry: ManifestEntry): string => entry.module ?? 'rnn';

/** rnn → RNN, lstm-proj → LSTM-proj. */
const familyLabel = (family: string): string => family.replace(/^[a-z]+/, (name) => name.toUpperCase());

/** The slow cases the quick run leaves out, by the features the manifest gives them (ids vary: `large-…`, `lstm-large-…`, `gru-long-…`). */
export const isSlowCase = (entry: ManifestEntry): boolean => entry.features.includes('large') || entry.features.includes('long');

/** Modules in the order the page names them elsewhere (RNN, GRU, LSTM), each before its variants. */
const MODULE_ORDER = ['rnn', 'gru', 'lstm'];
const byModule = (a: string, b: string): number => {
  const rank = (family: string) => MODULE_ORDER.indexOf(family.split('-')[0]!) >>> 0; // unknown modules last
  return rank(a) - rank(b) || a.localeCompare(b);
};

export async function setupConformance({ availableEngines }: { availableEngines: () => EngineState[] }): Promise<void> {
  $('tab-conformance').hidden = false;
  const panel = $('panel-conformance');
  const button = el('button', { type: 'button', id: 'conformance-run' }, 'Run the conformance suite');
  const quick = el('input', { type: 'checkbox', id: 'conformance-quick', checked: false });
  const counts = el('span', { id: 'conformance-families' }, 'loading the manifest…');
  const familyBoxes = el('fieldset', { id: 'conformance-family-picker' }, el('legend', {}, 'Modules'));
  panel.append(
    el('p', { className: 'hint' },
      'Runs the cases of the conformance suite (vectors PyTorch generated: uni/bidirectional, 1–8 layers, tanh/relu, bias on/off, h0 and c0, batch_first, lengths, edge and large sizes; ',
      counts,
      ') on each available engine, and compares with PyTorch’s float64 reference.'),
    familyBoxes,
    el('div', { className: 'controls' }, el('label', { htmlFor: quick.id }, quick, ' Skip the large and long cases (quicker)'), button),
    el('p', { id: 'conformance-error', className: 'error', role: 'alert', hidden: true }),
    el('p', { id: 'conformance-progress', ariaLive: 'polite' }),
    el('table', { id: 'conformance-summary', hidden: true },
      el('caption', {}, 'Summary per engine, with passed/run per module'),
      el('thead'),
      el('tbody')),
    el('table', { id: 'conformance-cases', hidden: true },
      el('caption', {}, 'Per case: max |engine − PyTorch float64| over output and h_n (✓ within tolerance)'),
      el('thead'),
      el('tbody')),
  );

  let manifest: Manifest | null = null;
  const loadManifest = async (): Promise<Manifest> =>
    (manifest ??= decodeManifest(new TextDecoder().decode(await fetchBytes('manifest.json')), 'conformance/manifest.json'));
  // One checkbox per family the manifest has, each with its number of cases.
  const families = new Map<string, number>();
  await guarded('conformance-error', async () => {
    const all = (await loadManifest()).cases.map(familyOf);
    for (const family of [...new Set(all)].sort(byModule)) families.set(family, all.filter((f) => f === family).length);
    counts.textContent = [...families].map(([family, n]) => `${n} ${familyLabel(family)}`).join(', ') + ' cases';
    familyBoxes.append(
      ...[...families.keys()].map((family) => {
        const box = el('input', { type: 'checkbox', id: `conformance-family-${family}`, value: family, checked: true });
        return el('label', { htmlFor: box.id }, box, ` ${familyLabel(family)} (${families.get(family)})`);
      }),
    );
  });

  button.addEventListener('click', () => {
    button.disabled = true;
    void guarded('conformance-error', async () => {
      const picked = new Set([...familyBoxes.querySelectorAll('input:checked')].map((box) => (box as HTMLInputElement).value));
      const entries = (await loadManifest()).cases.filter((c) => picked.has(familyOf(c)) && (!quick.checked || !isSlowCase(c)));
      if (entries.length === 0) throw new Error('Tick at least one module family to run.');
      const runFamilies = [...new Set(entries.map(familyOf))].sort(byModule);
      const engines = availableEngines();
      const summary = $('conformance-summary') as HTMLTableElement;
      const cases = $('conformance-cases') as HTMLTableElement;
      summary.hidden = true;
      delete summary.dataset.done;
      cases.tHead!.replaceChildren(
        el('tr', {}, el('th', { scope: 'col' }, 'Case'), el('th', { scope: 'col' }, 'Module'), ...engines.map(({ engine }) => el('th', { scope: 'col' }, engine.label))),
      );
      const rows = new Map(entries.map((entry) => [entry.id, el('tr', {}, el('th', { scope: 'row' }, entry.id), el('td', {}, familyLabel(familyOf(entry))))]));
      cases.tBodies[0]!.replaceChildren(...rows.values());
      cases.hidden = false;
      const results = new Map<string, CaseResult[]>(engines.map(({ engine }) => [engine.id, []]));
      for (const [i, entry] of entries.entries()) {
        $('conformance-progress').textContent = `Case ${i + 1} of ${entries.length}: ${entry.id}`;
        const c = decodeCase(await fetchBytes(entry.file), `conformance/${entry.file}`);
        for (const { engine, backend } of engines) {
          const result = await runCase(backend!, c);
          results.get(engine.id)!.push(result);
          const cell = el('td', { className: result.passed ? 'pass' : 'fail', title: result.reason ?? `tolerance ${result.tolerance.toExponential(1)}` },
            `${result.passed ? '✓' : '✗'} ${format(result.errorVsRef64)}${result.reason ? `: ${result.reason}` : ''}`);
          rows.get(entry.id)!.append(cell);
        }
      }
      summary.tHead!.replaceChildren(
        el('tr', {}, ...['Engine', 'Ran as', 'Passed', 'Failed', ...runFamilies.map(familyLabel), 'max error vs float64', 'Worst case'].map((h) => el('th', { scope: 'col' }, h))),
      );
      summary.tBodies[0]!.replaceChildren(
        ...engines.map(({ engine }) => {
          const list = results.get(engine.id)!;
          const failed = list.filter((r) => !r.passed).length;
          const worst = list.reduce((a, r) => (!(r.errorVsRef64 <= a.errorVsRef64) ? r : a), list[0]!);
          const byFamily = Object.fromEntries(
            runFamilies.map((family) => {
              const of = list.filter((_, i) => familyOf(entries[i]!) === family);
              return [family, { passed: of.filter((r) => r.passed).length, failed: of.filter((r) => !r.passed).length }];
            }),
          );
          const tr = el('tr', { className: failed === 0 ? 'pass' : 'fail' },
            el('th', { scope: 'row' }, engine.label),
            el('td', {}, el('code', {}, [...new Set(list.map((r) => r.backend))].join(', '))),
            el('td', {}, String(list.length - failed)),
            el('td', {}, String(failed)),
            ...runFamilies.map((family) => {
              const { passed, failed: bad } = byFamily[family]!;
              return el('td', { className: bad === 0 ? 'pass' : 'fail' }, `${passed}/${passed + bad}`);
            }),
            el('td', {}, format(worst.errorVsRef64)),
            el('td', {}, worst.id));
          tr.dataset.engine = engine.id;
          tr.dataset.passed = String(list.length - failed);
          tr.dataset.failed = String(failed);
          tr.dataset.families = JSON.stringify(byFamily);
          return tr;
        }),
      );
      summary.hidden = false;
      summary.dataset.done = 'true';
      const allPassed = [...results.values()].every((list) => list.every((r) => r.passed));
      $('conformance-progress').textContent = `${entries.length} cases on ${engines.length} engine(s): ${allPassed ? 'all passed' : 'some failed (see the table)'}.`;
    }).finally(() => (button.disabled = false));
  });
}
