import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "pg",
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/prismaGenerate.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000
  }
})
