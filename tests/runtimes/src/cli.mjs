#!/usr/bin/env node
// The conformance table per runtime.
//   pnpm conformance --runtime deno            one runtime (node20 node22 node24 deno bun chromium firefox)
//   pnpm conformance --runtime deno,bun --json
//   node tests/runtimes/src/cli.mjs --all      every runtime CI runs here (this package's test)
//   --full                                     every case everywhere (CI runs a few engines on a subset: SUBSETS)
// Exit status 1 when an engine fails a case, or cannot run in a runtime where it should: anything short of
// that is a failure unless KNOWN_GAPS (runtimes.mjs) names it with the reason.
import { parseArgs } from 'node:util';
import { KNOWN_GAPS, RUNTIMES, formatReport, isKnownGap, runConformance } from './runtimes.mjs';

const { values } = parseArgs({ options: { runtime: { type: 'string', multiple: true }, all: { type: 'boolean' }, full: { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
if (values.help || (!values.all && !values.runtime)) {
  console.log(`usage: pnpm conformance --runtime NAME[,NAME] [--json] [--full]   (${Object.keys(RUNTIMES).join(', ')})\n       node tests/runtimes/src/cli.mjs --all   (CI's set: ${Object.keys(RUNTIMES).filter((r) => RUNTIMES[r].ci).join(', ')})`);
  process.exit(values.help ? 0 : 2);
}
const runtimes = values.all ? Object.keys(RUNTIMES).filter((r) => RUNTIMES[r].ci) : values.runtime.flatMap((r) => r.split(','));
const unknown = runtimes.filter((r) => !(r in RUNTIMES));
if (unknown.length > 0) {
  console.error(`unknown runtime(s) ${unknown.join(', ')}: one of ${Object.keys(RUNTIMES).join(', ')}`);
  process.exit(2);
}

// Browsers run case by case: a progress line (every 25 cases when stderr is a log, not a terminal).
const progress = process.stderr.isTTY
  ? (text) => process.stderr.write(`\r${text.slice(0, 100).padEnd(100)}`)
  : (text, done) => done % 25 === 1 && process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${text}\n`);
let passed = 0;
let failed = 0;
const reports = [];
for (const runtime of runtimes) {
  const report = await runConformance(runtime, { onProgress: progress, full: values.full });
  if (process.stderr.isTTY) process.stderr.write(`\r${' '.repeat(100)}\r`);
  reports.push(report);
  if (report.unavailable && !isKnownGap(runtime)) failed++;
  for (const engine of report.engines) {
    passed += engine.passed;
    failed += engine.results.filter((r) => !r.passed && !isKnownGap(runtime, engine.package, r.id)).length;
    if (!engine.available && !isKnownGap(runtime, engine.package)) failed++;
  }
  if (!values.json) console.log(`${formatReport(report)}\n`);
}
if (values.json) console.log(JSON.stringify({ knownGaps: KNOWN_GAPS, runtimes: reports }, (_, v) => (v instanceof RegExp ? v.source : typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 1));
else {
  for (const gap of KNOWN_GAPS.filter((g) => runtimes.includes(g.runtime))) {
    console.log(`known gap (not counted as a failure): ${[gap.runtime, gap.engine, gap.case?.source].filter(Boolean).join(' ')}: ${gap.reason}`);
  }
  console.log(`runtimes: ${reports.map((r) => `${r.runtime} ${r.seconds.toFixed(0)} s`).join(', ')}`);
  // Cases passed and failed over every runtime and engine; a runtime or engine that could not run counts as one failure.
  console.log(`${passed} passed, ${failed} failed`);
}
process.exitCode = failed > 0 ? 1 : 0;
