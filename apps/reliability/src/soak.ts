// The long reliability run: 10,000 bad-input cases and 10,000 create → forward → dispose cycles per
// engine, printing the tally per error code and the Node heap before and after.
// Usage: pnpm --filter @recurrent/reliability soak [--cases N] [--cycles N]
import './software-gpu.js';
import { engines } from './engines.js';
import { runBadInput } from './run-bad-input.js';
import { runLifecycles } from './lifecycle.js';

const arg = (name: string, fallback: number) => {
  const index = process.argv.indexOf(name);
  return index > 0 ? Number(process.argv[index + 1]) : fallback;
};
const cases = arg('--cases', 10_000);
const cycles = arg('--cycles', 10_000);
let failed = false;
for (const engine of engines) {
  let backend;
  try {
    backend = await engine.createBackend();
  } catch (error) {
    console.log(`${engine.name}: not available: ${(error as Error).message}`);
    failed = true;
    continue;
  }
  const start = performance.now();
  const tally = await runBadInput(backend, 1, cases, 10);
  const seconds = ((performance.now() - start) / 1000).toFixed(1);
  console.log(`${engine.name}: ${tally.cases} bad-input cases in ${seconds} s, failures ${tally.failures.length}; by code: ${JSON.stringify(tally.byCode)}`);
  for (const failure of tally.failures.slice(0, 20)) console.log(`  ${failure}`);
  const life = await runLifecycles(backend, cycles);
  console.log(`${engine.name}: ${cycles} create → forward → dispose cycles: ${life.summary}`);
  failed ||= tally.failures.length > 0 || !life.flat;
  backend.dispose();
}
process.exit(failed ? 1 : 0);
