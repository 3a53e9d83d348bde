import { defineConfig } from 'vitest/config';

// Separate from vite.config.ts, whose root is the browser page.
export default defineConfig({
  test: { include: ['test/**/*.test.ts'], testTimeout: 60_000 },
});
