// The console's build (npm run console:build → build/console/) and its unit tests (npm run console:test), both
// run from the repository's root: `root` and `outDir` are relative to it and to `root`.
import { defineConfig } from "vitest/config";

export default defineConfig({
  root: "console",
  // Relative asset URLs: the same files work under any path, from CloudFront or the local stage's server.
  base: "./",
  build: { outDir: "../build/console", emptyOutDir: true },
  test: { include: ["test/**/*.test.ts"], environment: "node" },
});
