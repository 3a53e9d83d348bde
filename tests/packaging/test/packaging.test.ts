// The packages as a user gets them: every published package packed (`pnpm pack`), the tarballs installed
// with npm into a blank project outside the workspace, then used from Node (import and require), Deno,
// Bun, TypeScript (nodenext and bundler, skipLibCheck false), and a Vite and a webpack build of a page
// loaded in headless Chromium. Every runtime must compute the numbers Node's CPU engine computes.
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '@recurrent/conformance/node';
import { useSoftwareVulkanUnlessChosen } from '@recurrent/conformance/software-gpu';
import { BINARIES } from '@recurrent/test-binaries';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../consumer/', import.meta.url));
/** Every package published to npm (the private apps and tests are not). */
const PUBLISHED = ['packages/core', 'packages/cpu', 'packages/wasm', 'packages/webgpu', 'packages/optim', 'conformance'];
const ENGINES = ['cpu', 'wasm', 'webgpu'] as const;
const MODULES = ['rnn', 'lstm', 'gru'] as const;
type Results = Record<string, { backend: string } & Record<(typeof MODULES)[number], number[]>>;

const run = promisify(execFile);
const env = { ...process.env, NODE_NO_WARNINGS: '1' };
useSoftwareVulkanUnlessChosen(env);
env.XDG_RUNTIME_DIR ||= tmpdir();

let dir = '';
let project = '';
/** The CPU engine's numbers in this Node: what every other engine and runtime must match. */
let reference: Results[string] | null = null;
const timings: string[] = [];

async function timed<T>(label: string, work: () => Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    return await work();
  } finally {
    timings.push(`${label} ${((performance.now() - start) / 1000).toFixed(1)} s`);
  }
}

async function runJson(bin: string, args: string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<Results> {
  const { stdout } = await run(bin, args, { cwd: project, env: options.env ?? env, maxBuffer: 64 << 20, timeout: 240_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Results;
}

/** Same numbers as the CPU engine in Node: float32 engines differ by rounding only. */
function expectSameNumbers(results: Results, where: string): void {
  expect(Object.keys(results).sort(), where).toEqual([...ENGINES].sort());
  for (const engine of ENGINES) {
    for (const module of MODULES) {
      const got = results[engine]![module];
      const want = reference![module];
      expect(got.length, `${where} ${engine} ${module} length`).toBe(want.length);
      const worst = Math.max(...got.map((x, i) => Math.abs(x - want[i]!)));
      expect(worst, `${where} ${engine} (${results[engine]!.backend}) ${module}: max |Δ| vs Node's cpu`).toBeLessThan(1e-5);
    }
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'recurrent-packaging-'));
  const tarballs = join(dir, 'tarballs');
  await timed(`pnpm pack ×${PUBLISHED.length}`, async () => {
    for (const pkg of PUBLISHED) await run('pnpm', ['pack', '--pack-destination', tarballs], { cwd: join(REPO, pkg), env });
  });
  project = join(dir, 'consumer');
  await cp(FIXTURE, project, { recursive: true });
  const dependencies: Record<string, string> = {};
  for (const file of await readdir(tarballs)) {
    const manifest = JSON.parse((await run('tar', ['-xOzf', join(tarballs, file), 'package/package.json'])).stdout) as { name: string };
    dependencies[manifest.name] = `file:../tarballs/${file}`;
  }
  expect(Object.keys(dependencies).length).toBe(PUBLISHED.length);
  // A blank project of a user: the tarballs, @types/node (a Node project too) and @webgpu/types for the
  // check that our WebGPU types merge with the real ones.
  const devDependencies = { '@types/node': '^20.19.0', '@webgpu/types': '0.1.74' };
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies, devDependencies }, null, 2));
  // The npm cache makes this offline after the first run; the registry is only asked for what it lacks.
  await timed('npm install', () => run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: project, env }));
  reference = (await runJson(process.execPath, ['esm.mjs'])).cpu!;
}, 600_000);

afterAll(async () => {
  console.log(`packaging test timings: ${timings.join(', ')}`);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('installed from the packed tarballs with npm', () => {
  it('exports maps name only files that are in the tarballs, with a default condition for require()', async () => {
    for (const pkg of PUBLISHED) {
      const manifest = JSON.parse(await readFile(join(REPO, pkg, 'package.json'), 'utf8')) as { name: string; exports: Record<string, Record<string, string>> };
      const installed = join(project, 'node_modules', manifest.name);
      for (const [subpath, conditions] of Object.entries(manifest.exports)) {
        expect(conditions.default, `${manifest.name} ${subpath}: a default condition`).toBeDefined();
        for (const target of Object.values(conditions)) await expect(readFile(join(installed, target)), `${manifest.name} ${subpath} → ${target}`).resolves.toBeDefined();
      }
    }
  });

  it('each README starts with an example that runs as it is written', async () => {
    for (const pkg of PUBLISHED) {
      const { name } = JSON.parse(await readFile(join(REPO, pkg, 'package.json'), 'utf8')) as { name: string };
      const readme = await readFile(join(project, 'node_modules', name, 'README.md'), 'utf8');
      const example = /^```(?:js|ts)\n([\s\S]*?)^```/m.exec(readme)?.[1];
      expect(example, `${name}: README.md has a js/ts example`).toBeDefined();
      const file = `readme-${name.split('/')[1]}.mjs`;
      await writeFile(join(project, file), example!);
      await timed(`README ${name}`, () => run(process.execPath, [file], { cwd: project, env, timeout: 120_000 })).catch((error: Error & { stderr?: string }) => {
        throw new Error(`${name}'s README example failed: ${error.stderr || error.message}`);
      });
    }
  }, 300_000);

  for (const node of ['node20', 'node22', 'node24'] as const) {
    it(`${node}: import and require() of every package, the same numbers on every engine`, async () => {
      const bin = BINARIES[node];
      expect(bin, `${node} binary (tests/binaries)`).not.toBeNull();
      await timed(node, async () => {
        expectSameNumbers(await runJson(bin!, ['esm.mjs']), `${node} import`);
        expectSameNumbers(await runJson(bin!, ['require.cjs']), `${node} require()`);
      });
    }, 300_000);
  }

  it("an engine that cannot run rejects with RnnError('unavailable') naming the runtime and what is missing", async () => {
    // Node 20 has no relaxed SIMD without a flag; a Vulkan driver list that names no driver leaves Dawn without an adapter.
    const { stdout } = await run(process.execPath, ['unavailable.mjs'], { cwd: project, env: { ...env, VK_ICD_FILENAMES: '/nonexistent/icd.json' } });
    const got = JSON.parse(stdout) as Record<string, { code: string; message: string } | null>;
    if (process.versions.node.startsWith('20.')) {
      expect(got.relaxedSimd?.code).toBe('unavailable');
      expect(got.relaxedSimd?.message).toContain(`Node ${process.versions.node} has no WebAssembly relaxed SIMD`);
    }
    expect(got.webgpu?.code).toBe('unavailable');
    expect(got.webgpu?.message).toContain(`returned no adapter in Node ${process.versions.node}`);
  }, 120_000);

  it('Deno imports the installed packages (WebGPU on its own implementation, wgpu)', async () => {
    expect(BINARIES.deno).not.toBeNull();
    // Deno's wgpu chooses its adapter itself (llvmpipe here): the caller's environment as it is.
    const results = await timed('deno', () => runJson(BINARIES.deno!, ['run', '--allow-all', 'esm.mjs'], { env: { ...process.env } }));
    expectSameNumbers(results, 'deno');
  }, 300_000);

  it('Bun imports the installed packages', async () => {
    expect(BINARIES.bun).not.toBeNull();
    expectSameNumbers(await timed('bun', () => runJson(BINARIES.bun!, ['esm.mjs'])), 'bun');
  }, 300_000);

  // nodenext: lib ES2022 and @types/node 20, no DOM; bundler: lib DOM, no other types; webgpu-types:
  // bundler with @webgpu/types, which our own minimal GPU types must merge with.
  for (const config of ['nodenext', 'bundler', 'webgpu-types']) {
    it(`TypeScript type-checks a consumer (tsconfig.${config}.json) with skipLibCheck false`, async () => {
      const tsc = fileURLToPath(import.meta.resolve('typescript/bin/tsc'));
      const result = await timed(`tsc ${config}`, () => run(process.execPath, [tsc, '-p', `tsconfig.${config}.json`], { cwd: project, env }).catch((error: { stdout: string }) => error));
      expect((result as { stdout: string }).stdout).toBe('');
    }, 120_000);
  }
});

/** Serves `root` cross-origin isolated (so WASM threads run), as a user's server would for them. */
function serve(root: string): Promise<Server> {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };
  const server = createServer(async (request, response) => {
    const file = resolve(root, `.${decodeURIComponent(new URL(request.url ?? '/', 'http://127.0.0.1').pathname)}`.replace(/\/$/, '/index.html'));
    const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
    if (!file.startsWith(resolve(root) + sep)) return void response.writeHead(403, headers).end();
    try {
      const body = await readFile(file);
      response.writeHead(200, { ...headers, 'Content-Type': types[extname(file)] ?? 'application/octet-stream' }).end(body);
    } catch {
      response.writeHead(404, headers).end();
    }
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}

async function resultsInChromium(root: string): Promise<Results> {
  const server = await serve(root);
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    const handle = await page.waitForFunction(() => (window as { __results?: unknown }).__results, null, { timeout: 120_000 });
    const results = (await handle.jsonValue()) as Results & { error?: string };
    if ('error' in results) throw new Error(`the page failed: ${results.error}; ${errors.join(' | ')}`);
    return results;
  } finally {
    await browser.close();
    server.close();
  }
}

describe('bundled into a web page, loaded in headless Chromium', () => {
  it('Vite production build (no config)', async () => {
    const { build } = await import('vite');
    const outDir = join(project, 'dist-vite');
    await timed('vite build', () => build({ root: join(project, 'page'), logLevel: 'error', build: { outDir, emptyOutDir: true } }));
    expectSameNumbers(await timed('chromium (vite)', () => resultsInChromium(outDir)), 'vite page');
  }, 300_000);

  it('webpack 5 production build (no loaders, no plugins)', async () => {
    const { default: webpack } = await import('webpack');
    const outDir = join(project, 'dist-webpack');
    await mkdir(outDir, { recursive: true });
    const stats = await timed('webpack build', () =>
      new Promise<import('webpack').Stats>((ok, fail) =>
        webpack({ mode: 'production', context: project, entry: './page/main.js', output: { path: outDir, filename: 'main.js' } }, (error, result) => (error ? fail(error) : ok(result!))),
      ),
    );
    expect(stats.toJson({ all: false, errors: true }).errors ?? []).toEqual([]);
    await writeFile(join(outDir, 'index.html'), '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><script src="./main.js"></script>\n');
    expectSameNumbers(await timed('chromium (webpack)', () => resultsInChromium(outDir)), 'webpack page');
  }, 300_000);
});
