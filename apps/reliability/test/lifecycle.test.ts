import { describe, expect, it } from 'vitest';
import { engines } from '../src/engines.js';
import { runLifecycles, runStreamLifecycles } from '../src/lifecycle.js';
import { streamSize } from '../src/streams.js';

describe.each(engines)('no leaks: $name', ({ name, createBackend }) => {
  it('500 create → forward → dispose cycles leave the Node heap and the engine memory at their baseline', async () => {
    expect(typeof (globalThis as { gc?: unknown }).gc, 'tests run with --expose-gc (vitest.config.ts)').toBe('function');
    const backend = await createBackend();
    const result = await runLifecycles(backend, 500);
    backend.dispose();
    console.log(`lifecycles: ${result.summary}`);
    expect(result.engineAfter).toEqual(result.engineBefore);
    expect(result.heapAfter - result.heapBefore).toBeLessThan(4 * 1024 * 1024);
  }, 300_000);

  it('streams disposed mid-push, models disposed with open streams (some mid-push) and 200 streams opened, pushed and disposed in random order leave the engine memory at its baseline; later pushes end in disposed', async () => {
    const backend = await createBackend();
    const result = await runStreamLifecycles(backend, 200, streamSize(name));
    backend.dispose();
    console.log(`stream lifecycles: ${result.summary}; with the 200 streams open: ${JSON.stringify(result.engineOpen)}; pushes running at the dispose ended: ${JSON.stringify(result.midPush)}`);
    expect(result.failures).toEqual([]);
    // Both long pushes were still running when the dispose came.
    expect(Object.values(result.midPush).reduce((a, b) => a + b, 0)).toBe(2);
    expect(result.engineAfter).toEqual(result.engineBefore);
    expect(result.heapAfter - result.heapBefore).toBeLessThan(4 * 1024 * 1024);
  }, 300_000);
});
