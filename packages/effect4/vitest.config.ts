import * as path from "node:path"
import { defineProject } from "vitest/config"

export default defineProject({
  resolve: {
    // @pgfleet/testing's Promise API; its own effect 3 stays inside it.
    alias: { "@pgfleet/testing": path.join(__dirname, "../testing/src/index.ts") }
  },
  test: {
    name: "effect4",
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000
  }
})
