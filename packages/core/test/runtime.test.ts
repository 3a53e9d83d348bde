import { afterEach, describe, expect, it, vi } from 'vitest';
import { runtimeName } from '../src/index.js';

describe('runtimeName names the runtime in unavailable errors', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('Node by its version', () => {
    expect(runtimeName()).toBe(`Node ${process.versions.node}`);
  });

  it('Deno and Bun before Node (both also carry process.versions.node)', () => {
    vi.stubGlobal('Bun', { version: '1.4.5' });
    expect(runtimeName()).toBe('Bun 1.4.5');
    vi.stubGlobal('Deno', { version: { deno: '2.9.6' } });
    expect(runtimeName()).toBe('Deno 2.9.6');
  });

  it('a browser by its user agent', () => {
    vi.stubGlobal('process', undefined);
    vi.stubGlobal('navigator', { userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0' });
    expect(runtimeName()).toBe('Firefox 153');
    vi.stubGlobal('navigator', { userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/150.0.0.0 Safari/537.36' });
    expect(runtimeName()).toBe('Chromium 150');
    vi.stubGlobal('navigator', { userAgent: 'Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Safari/605.1.15' });
    expect(runtimeName()).toBe('Safari 18');
  });
});
