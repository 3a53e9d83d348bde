// The conformance suite in each runtime a user may have. Node-like runtimes (Node 20/22/24, Deno, Bun) run
// conformance/dist/cli.js --json as they are; browsers (Firefox ESR, Chromium) run the same vectors through
// conformance's in-page runner on a cross-origin-isolated page, driven by puppeteer-core (WebDriver BiDi
// for Firefox: Playwright's Firefox needs its own patched build, which cannot be downloaded here).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BINARIES } from '@recurrent/test-binaries';
import { CHROMIUM_ARGS, CHROMIUM_PATH, VECTORS_DIR, loadManifest } from '@recurrent/conformance/node';
import { useSoftwareVulkanUnlessChosen } from '@recurrent/conformance/software-gpu';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const CLI = join(REPO, 'conformance', 'dist', 'cli.js');
const ENGINES = ['cpu', 'wasm', 'webgpu'];
export const FIREFOX_PATH = process.env.FIREFOX_PATH || '/usr/bin/firefox-esr';

/**
 * Every runtime `--runtime` knows. `ci`: run by this package's test (node20 and chromium are not: every
 * engine's own test suite already runs the conformance suite in them).
 */
export const RUNTIMES = {
  node20: { kind: 'node', ci: false },
  node22: { kind: 'node', ci: true },
  node24: { kind: 'node', ci: true },
  deno: { kind: 'node', ci: true },
  bun: { kind: 'node', ci: true },
  chromium: { kind: 'browser', ci: false },
  firefox: { kind: 'browser', ci: true },
};

/**
 * Engines that a runtime runs on a subset of the cases, and why; every report prints it. The subset is
 * chosen from the manifest, not by hand: see coveringSubset.
 */
const SAME_DAWN =
  "the same Dawn (the webgpu package) on the same SwiftShader as Node 20's full run in @recurrent/webgpu's own suite, where only the JS host differs; every case adds ~2 min to CI here; --full runs every case";
export const SUBSETS = [
  {
    runtime: 'firefox',
    engine: '@recurrent/webgpu',
    reason: "Gecko's WebGPU on the software Vulkan driver (SwiftShader) takes ~3 s a case here, so the whole suite would add ~20 min to CI; --full runs every case",
  },
  { runtime: 'node22', engine: '@recurrent/webgpu', reason: SAME_DAWN },
  { runtime: 'node24', engine: '@recurrent/webgpu', reason: SAME_DAWN },
  { runtime: 'bun', engine: '@recurrent/webgpu', reason: SAME_DAWN },
];

function subsetFor(runtime, engine, full) {
  const subset = full ? undefined : SUBSETS.find((s) => s.runtime === runtime && s.engine === engine);
  if (!subset) return null;
  const all = loadManifest().cases;
  const { ids, pairs } = coveringSubset(all);
  return { ids, note: `${engine}: ${ids.size} of ${all.length} cases (the smallest of each of the ${pairs} module × feature pairs): ${subset.reason}` };
}

/**
 * The smallest case (by vector bytes) of each module × feature pair in the manifest: every module meets
 * every feature it has in the suite (lengths, bidirectional, layers=N, non-finite, long, large, …).
 */
export function coveringSubset(entries) {
  const smallest = new Map();
  for (const entry of entries) {
    for (const feature of entry.features) {
      const key = `${entry.module} ${feature}`;
      if (!smallest.has(key) || entry.bytes < smallest.get(key).bytes) smallest.set(key, entry);
    }
  }
  return { ids: new Set([...smallest.values()].map((e) => e.id)), pairs: smallest.size };
}

/**
 * What cannot pass yet, with the reason, shown in every report: a runtime, an engine in it, or one case of
 * an engine (`case`, a pattern of case ids). Aim: empty.
 */
export const KNOWN_GAPS = [
  {
    runtime: 'deno',
    engine: '@recurrent/webgpu',
    case: /^gru(-cell)?-non-finite-inf-h/,
    reason:
      "wgpu on llvmpipe (OpenGL) gives ±1 where PyTorch gives NaN for an infinite GRU state (nn.GRU h0, nn.GRUCell h): WGSL lets an implementation assume no Inf/NaN, so the kernel must not rely on them propagating (for @recurrent/webgpu to fix; Dawn on SwiftShader passes these cases)",
  },
];

export const isKnownGap = (runtime, engine, id) =>
  KNOWN_GAPS.some((g) => g.runtime === runtime && (g.engine === undefined || g.engine === engine) && (g.case === undefined || (id !== undefined && g.case.test(id))));

/** The command line that runs `script args` in a node-like runtime, or why this machine cannot. */
function commandFor(runtime, script, args) {
  const bin = BINARIES[runtime];
  if (!bin) {
    return { reason: runtime === 'node20' ? `this process is Node ${process.versions.node}, not Node 20` : `no ${runtime} binary for ${process.platform}-${process.arch} (tests/binaries pins linux-x64's)` };
  }
  // Deno's permissions: the suite reads the vectors, spawns nothing, and Dawn is not used (Deno has WebGPU).
  if (runtime === 'deno') return { bin, args: ['run', '--allow-all', script, ...args] };
  return { bin, args: [script, ...args] };
}

/**
 * The environment of a runtime's process. Dawn (Node, Bun) and Firefox get the software Vulkan driver
 * unless the caller chose one; Deno's wgpu picks its own adapter (here llvmpipe through OpenGL, which runs
 * the suite ~10x faster than SwiftShader's Vulkan), so it gets the caller's environment as it is.
 */
function envFor(runtime) {
  const env = { ...process.env };
  if (runtime !== 'deno') useSoftwareVulkanUnlessChosen(env);
  if (!env.XDG_RUNTIME_DIR) env.XDG_RUNTIME_DIR = tmpdir(); // Dawn complains on every adapter request without one
  return env;
}

function run(bin, args, env) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(bin, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => resolvePromise({ code, signal, stdout, stderr }));
  });
}

/** The last line of `stdout` that parses as JSON (runtimes may print warnings before it). */
function lastJson(stdout) {
  const start = stdout.indexOf('{');
  if (start >= 0) {
    try {
      return JSON.parse(stdout.slice(start));
    } catch {}
  }
  for (const line of stdout.trim().split('\n').reverse()) {
    try {
      return JSON.parse(line);
    } catch {}
  }
  return null;
}

async function runNodeLike(runtime, { full = false } = {}) {
  const env = envFor(runtime);
  const probeCommand = commandFor(runtime, fileURLToPath(new URL('./probe.mjs', import.meta.url)), [
    new URL('../../../packages/wasm/dist/index.js', import.meta.url).href,
  ]);
  if ('reason' in probeCommand) return { runtime, version: null, unavailable: probeCommand.reason, notes: [], engines: [] };
  const probe = await run(probeCommand.bin, probeCommand.args, env);
  const probed = lastJson(probe.stdout) ?? { runtime, notes: [`probe failed: ${probe.stderr.trim().split('\n').slice(-3).join(' | ')}`] };
  // One CLI run for the engines that run every case, one per engine that runs a subset.
  const notes = [...probed.notes];
  const whole = [];
  const runs = [];
  for (const engine of ENGINES) {
    const dir = join(REPO, 'packages', engine);
    const subset = subsetFor(runtime, `@recurrent/${engine}`, full);
    if (subset) {
      notes.push(subset.note);
      runs.push([`--cases=${[...subset.ids].join(',')}`, dir]);
    } else {
      whole.push(dir);
    }
  }
  if (whole.length > 0) runs.unshift(whole);
  const engines = [];
  let cases = 0;
  for (const cliArgs of runs) {
    const { bin, args } = commandFor(runtime, CLI, ['--json', ...cliArgs]);
    const result = await run(bin, args, env);
    const report = lastJson(result.stdout);
    if (report === null) {
      return { runtime, version: probed.runtime, unavailable: `the conformance CLI printed no report (exit ${result.code ?? result.signal}): ${result.stderr.trim().split('\n').slice(-5).join(' | ')}`, notes, engines };
    }
    cases = Math.max(cases, report.cases);
    engines.push(...report.engines);
  }
  return { runtime, version: probed.runtime, unavailable: null, notes, cases, engines };
}

const CONTENT_TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.json': 'application/json', '.msgpack': 'application/octet-stream' };

/** Serves the page and the vectors on 127.0.0.1, cross-origin isolated (COOP + COEP) so WASM threads may run. */
function serve(roots) {
  const server = createServer(async (request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://127.0.0.1').pathname);
    const [prefix, dir] = roots.find(([p]) => path.startsWith(p));
    const root = resolve(dir);
    const file = resolve(root, path.slice(prefix.length) || 'index.html');
    const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp', 'Cache-Control': 'no-store' };
    if (!file.startsWith(root + sep)) return void response.writeHead(403, headers).end();
    try {
      const body = await readFile(file);
      response.writeHead(200, { ...headers, 'Content-Type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
    } catch {
      response.writeHead(404, headers).end();
    }
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok(server));
  });
}

/** One page that can install conformance's in-page runner on any engine (`?engine=wasm`). */
async function buildPage(dir) {
  const entry = (specifier) => JSON.stringify(fileURLToPath(import.meta.resolve(specifier)));
  await writeFile(join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><script type="module" src="./main.js"></script>\n');
  await writeFile(
    join(dir, 'main.js'),
    [
      ...ENGINES.map((e) => `import * as ${e} from ${entry(`@recurrent/${e}`)};`),
      `import { installBrowserRunner } from ${entry('@recurrent/conformance/browser')};`,
      `const engine = { ${ENGINES.join(', ')} }[new URLSearchParams(location.search).get('engine')];`,
      `installBrowserRunner(engine, new URL('/vectors/', location.href).href);`,
    ].join('\n'),
  );
  const { build } = await import('vite');
  // `webgpu` (Dawn) is Node's; engines import it only in Node, behind a runtime check.
  await build({ configFile: false, root: dir, logLevel: 'error', build: { outDir: join(dir, 'dist'), target: 'esnext', minify: false, rollupOptions: { external: ['webgpu'] } } });
  return join(dir, 'dist');
}

async function launch(runtime) {
  const puppeteer = (await import('puppeteer-core')).default;
  if (runtime === 'firefox') {
    if (!existsSync(FIREFOX_PATH)) throw new Error(`Firefox is not at ${FIREFOX_PATH}: install Debian's firefox-esr (scripts/setup.sh does) or set FIREFOX_PATH`);
    return puppeteer.launch({
      browser: 'firefox',
      executablePath: FIREFOX_PATH,
      headless: true,
      env: envFor(runtime),
      // WebGPU on a software adapter (SwiftShader through VK_ICD_FILENAMES); Gecko blocks it by default.
      extraPrefsFirefox: {
        'dom.webgpu.enabled': true,
        'gfx.webgpu.ignore-blocklist': true,
        'gfx.webgpu.force-enabled': true,
        'dom.webgpu.allow-software-adapter': true,
      },
    });
  }
  if (!existsSync(CHROMIUM_PATH)) throw new Error(`Chromium is not at ${CHROMIUM_PATH}: install Debian's chromium or set CHROMIUM_PATH`);
  return puppeteer.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
}

async function runBrowser(runtime, { onProgress, full = false } = {}) {
  const dir = await mkdtemp(join(tmpdir(), `recurrent-${runtime}-`));
  let server = null;
  let browser = null;
  try {
    server = await serve([['/vectors/', VECTORS_DIR], ['/', await buildPage(dir)]]);
    browser = await launch(runtime);
    const version = await browser.version();
    const engines = [];
    const notes = [];
    for (const name of ENGINES) {
      const page = await browser.newPage();
      const errors = [];
      page.on('pageerror', (error) => errors.push(error.message));
      await page.goto(`http://127.0.0.1:${server.address().port}/?engine=${name}`);
      await page.waitForFunction(() => globalThis.__recurrentConformance !== undefined, { timeout: 60_000 }).catch((error) => {
        throw new Error(`the ${name} page did not start (${error.message}); the page said: ${errors.join(' | ') || '(nothing)'}`);
      });
      if (name === 'wasm') {
        const isolated = await page.evaluate(() => globalThis.crossOriginIsolated);
        if (!isolated) notes.push('the page is not crossOriginIsolated: no WASM threads');
      }
      const report = { package: `@recurrent/${name}`, available: true, reason: null, backend: null, passed: 0, failed: 0, worstErrorVsRef64: 0, ms: 0, results: [] };
      const failure = await page.evaluate(() => globalThis.__recurrentConformance.init());
      if (failure !== null) {
        Object.assign(report, { available: false, reason: `createBackend() failed: ${failure}` });
      } else {
        let ids = await page.evaluate(() => globalThis.__recurrentConformance.caseIds());
        const subset = subsetFor(runtime, report.package, full);
        if (subset) {
          notes.push(subset.note);
          ids = ids.filter((id) => subset.ids.has(id));
        }
        for (const [i, id] of ids.entries()) {
          onProgress?.(`${runtime} ${name} ${i + 1}/${ids.length} ${id}`, i + 1);
          const result = await page.evaluate((caseId) => globalThis.__recurrentConformance.runCase(caseId), id);
          report.results.push(result);
          report.backend ??= result.backend;
          report.ms += result.ms;
          report[result.passed ? 'passed' : 'failed']++;
          if (!(result.errorVsRef64 <= report.worstErrorVsRef64)) report.worstErrorVsRef64 = result.errorVsRef64;
        }
      }
      engines.push(report);
      await page.close();
    }
    return { runtime, version, unavailable: null, notes, cases: engines[0]?.results.length ?? 0, engines };
  } catch (error) {
    return { runtime, version: null, unavailable: error.message, notes: [], engines: [] };
  } finally {
    await browser?.close().catch(() => {});
    await new Promise((done) => (server ? server.close(() => done()) : done()));
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The suite in one runtime: { runtime, version, unavailable (why the runtime itself could not run, or
 * null), notes (features the runtime lacks, with the reason), engines (conformance CLI's engine reports) }.
 */
export async function runConformance(runtime, options = {}) {
  const spec = RUNTIMES[runtime];
  if (spec === undefined) throw new Error(`unknown runtime ${JSON.stringify(runtime)}: one of ${Object.keys(RUNTIMES).join(', ')}`);
  const started = performance.now();
  const report = spec.kind === 'node' ? await runNodeLike(runtime, options) : await runBrowser(runtime, options);
  return { ...report, seconds: (performance.now() - started) / 1000 };
}

const exp = (x) => (typeof x === 'number' && Number.isFinite(x) ? x.toExponential(2) : String(x));

/** One runtime's table: an engine per row, then engines that could not run and features the runtime lacks, with reasons, then failures. */
export function formatReport(report) {
  const out = [`${report.runtime}: ${report.version ?? 'not run'}${report.cases ? `, ${report.cases} cases` : ''} (${report.seconds.toFixed(1)} s)`];
  if (report.unavailable) return [...out, `  not available: ${report.unavailable}`].join('\n');
  const header = ['engine', 'backend', 'passed', 'failed', 'worst vs f64', 'time'];
  const rows = report.engines.filter((e) => e.available).map((e) => [e.package, e.backend ?? '', String(e.passed), String(e.failed), exp(e.worstErrorVsRef64), `${(e.ms / 1000).toFixed(1)} s`]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells) => `  ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')}`;
  out.push(line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line));
  for (const e of report.engines.filter((e) => !e.available)) out.push(`  ${e.package}: not available: ${e.reason}`);
  for (const note of report.notes) out.push(`  ${note}`);
  const failures = report.engines.flatMap((e) =>
    e.results.filter((r) => !r.passed).map((r) => `    ${e.package} ${r.id}: ${r.reason}${isKnownGap(report.runtime, e.package, r.id) ? ' (known gap)' : ''}`),
  );
  if (failures.length > 0) out.push('  failures:', ...failures);
  return out.join('\n');
}
