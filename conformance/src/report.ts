import { FAMILY_LABELS, MODULE_FAMILIES } from './format.js';
import type { CaseResult } from './run.js';

const exp = (x: number) => (Number.isFinite(x) ? x.toExponential(2) : String(x));

/** A per-case table, grouped by module (RNN, …, GRUCell) and then the stream checks per module, with a count per group, failures first in each. */
export function formatResultTable(engine: string, results: readonly CaseResult[]): string {
  const failed = results.filter((r) => !r.passed);
  const worst = results.reduce((m, r) => (r.errorVsRef64 > m || Number.isNaN(r.errorVsRef64) ? r.errorVsRef64 : m), 0);
  const lines = [`conformance ${engine}: ${results.length - failed.length} passed, ${failed.length} failed; worst max|engine − float64| ${exp(worst)}`];
  const groups = (['forward', 'stream'] as const).flatMap((check) =>
    MODULE_FAMILIES.map((m) => [`${FAMILY_LABELS[m]}${check === 'stream' ? ' stream' : ''}`, results.filter((r) => r.check === check && r.module === m)] as const),
  ).filter(([, group]) => group.length > 0);
  lines.push(`per module: ${groups.map(([label, group]) => `${label} ${group.filter((r) => r.passed).length}/${group.length}`).join(', ')}`);
  for (const [label, group] of groups) {
    lines.push(
      '',
      `${`${label}: ${group.filter((r) => r.passed).length}/${group.length} passed`.padEnd(44)} ${'backend'.padEnd(14)} ${'vs f64'.padStart(9)} ${'vs torch32'.padStart(10)} ${'torch32'.padStart(9)} ${'tolerance'.padStart(9)} ${'ms'.padStart(8)}  result`,
    );
    for (const r of [...group.filter((r) => !r.passed), ...group.filter((r) => r.passed)]) {
      lines.push(
        `${r.id.padEnd(44)} ${r.backend.padEnd(14)} ${exp(r.errorVsRef64).padStart(9)} ${exp(r.errorVsTorch32).padStart(10)} ${exp(r.torchErrorVsRef64).padStart(9)} ${exp(r.tolerance).padStart(9)} ${r.ms.toFixed(0).padStart(8)}  ${r.passed ? 'pass' : `FAIL: ${r.reason}`}`,
      );
    }
    lines.push(`${label} total time ${(group.reduce((sum, r) => sum + r.ms, 0) / 1000).toFixed(2)} s`);
  }
  return lines.join('\n');
}
