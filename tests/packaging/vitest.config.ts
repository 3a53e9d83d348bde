import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One project is installed once and shared by every test, in order.
    fileParallelism: false,
  },
});
