import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { openPage, runInChromium, startBrowserSession } from '../src/browser-host.js';

const entry = (name: string) => new URL(`./fixtures/engines/${name}/index.js`, import.meta.url);
const page = (name: string) => new URL(`./fixtures/pages/${name}.js`, import.meta.url);

describe('the browser run reports what goes wrong in the page', () => {
  it('an engine entry that throws while loading stops the run with the page’s error', async () => {
    await expect(startBrowserSession({ entry: entry('crashes') })).rejects.toThrow(/did not start[\s\S]*boom while loading the engine/);
  }, 120_000);

  it('a console error during a case is collected for that case, even when the numbers are right', async () => {
    const session = await startBrowserSession({ entry: entry('noisy') });
    try {
      expect(await session.init()).toBeNull();
      expect((await session.runCase('edge-t1')).passed).toBe(true);
      expect(session.takeConsoleErrors()).toEqual([expect.stringContaining('noisy engine: something went wrong quietly')]);
      expect(session.takeConsoleErrors()).toEqual([]);
    } finally {
      await session.close();
    }
  }, 120_000);

  it('a missing engine entry is an RnnError(unavailable) that says to build first', async () => {
    await expect(startBrowserSession({ entry: entry('unbuilt') })).rejects.toMatchObject({ code: 'unavailable', message: expect.stringMatching(/build the package first/) });
  });
});

describe('runInChromium: a test page run in Chromium', () => {
  it('gives back what run() resolved with, in a cross-origin isolated page with a WebGPU adapter', async () => {
    expect(await runInChromium(page('reports'))).toEqual({ crossOriginIsolated: true, webgpu: true });
  }, 120_000);

  it('a run() that rejects rejects with the page’s error', async () => {
    await expect(runInChromium(page('rejects'))).rejects.toThrow(/run\(\) failed in the page: Error: boom in run\(\)/);
  }, 120_000);
});

describe('openPage: a prebuilt page', () => {
  it('serves a directory and a function route, cross-origin isolated, with the viewport and what beforeLoad exposed', async () => {
    const opened = await openPage({
      routes: [
        ['/answer/', (rest, response) => response.writeHead(200, { 'Content-Type': 'text/plain' }).end(`answer ${rest}`)],
        ['/', fileURLToPath(new URL('./fixtures/served/', import.meta.url))],
      ],
      viewport: { width: 640, height: 480 },
      beforeLoad: (page) => page.exposeFunction('hostSays', (text: string) => `host heard ${text}`),
      ready: (page) => page.waitForFunction(() => (globalThis as { servedReady?: unknown }).servedReady !== undefined),
    });
    try {
      expect(await opened.page.evaluate(() => (globalThis as { servedReady?: unknown }).servedReady)).toEqual({
        answer: 'answer forty-two',
        exposed: 'host heard hi',
        crossOriginIsolated: true,
        width: 640,
      });
      expect(opened.errors).toEqual([]);
    } finally {
      await opened.close();
    }
  }, 120_000);

  it('a directory without index.html is an RnnError(unavailable) that says to build first', async () => {
    await expect(openPage({ routes: [['/', fileURLToPath(new URL('./fixtures/pages/', import.meta.url))]], ready: async () => {} })).rejects.toMatchObject({
      code: 'unavailable',
      message: expect.stringMatching(/index\.html does not exist: build it first/),
    });
  });
});
