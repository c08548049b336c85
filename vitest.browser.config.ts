import { defineConfig } from 'vitest/config';

// `npm run test:browser`: the report in a real Chromium (Debian's package), outside `npm test`.
export default defineConfig({
  test: {
    include: ['test/browser/**/*.test.ts'],
    testTimeout: 120_000,
  },
});
