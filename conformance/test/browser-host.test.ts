import { describe, expect, it } from 'vitest';
import { runInChromium, startBrowserSession } from '../src/browser-host.js';

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
