import { fileURLToPath } from 'node:url'
import vue from '@vitejs/plugin-vue'
import { defineConfig } from 'vitest/config'

// The service serves the build from chalicelib/ (so that `chalice package` ships it)
// at <base path>/ ; relative asset URLs keep the page working under any path prefix.
export default defineConfig({
  base: './',
  plugins: [vue()],
  build: {
    outDir: fileURLToPath(new URL('../chalicelib/webui_dist', import.meta.url)),
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  test: {
    environment: 'happy-dom',
    include: ['tests/**/*.test.ts'],
    // One page for all the test files, each starting afresh on it (tests/freshPage.ts):
    // a page and the modules made again for each file cost half the run's CPU.
    isolate: false,
    setupFiles: ['tests/freshPage.ts'],
  },
})
