import { describe, expect, it } from 'vitest';
import { engines } from '../src/engines.js';
import { runLifecycles } from '../src/lifecycle.js';

describe.each(engines)('no leaks: $name', ({ createBackend }) => {
  it('500 create → forward → dispose cycles leave the Node heap and the engine memory at their baseline', async () => {
    expect(typeof (globalThis as { gc?: unknown }).gc, 'tests run with --expose-gc (vitest.config.ts)').toBe('function');
    const backend = await createBackend();
    const result = await runLifecycles(backend, 500);
    backend.dispose();
    console.log(`lifecycles: ${result.summary}`);
    expect(result.engineAfter).toEqual(result.engineBefore);
    expect(result.heapAfter - result.heapBefore).toBeLessThan(4 * 1024 * 1024);
  }, 300_000);
});
