import * as path from "node:path"
import { defineProject } from "vitest/config"

export default defineProject({
  resolve: {
    // The test harness depends on this package; an alias keeps the workspace graph acyclic.
    alias: { "@pgfleet/testing": path.join(__dirname, "../testing/src/index.ts") }
  },
  test: {
    name: "postgres",
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000
  }
})
